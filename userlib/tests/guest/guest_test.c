/*
 * guest_test - libspice against the real kernel, in the test guest.
 *
 *   guest_test [--dir DIR] [--keep DIR]
 *
 * The host tests check libspice against images the tests build; this one
 * checks it against the images the kernel's snapshot_capture() writes. The
 * process sets up memory it knows, captures itself with spice_capture_self()
 * and opens the image with spice_image_open(): that the reader accepts the
 * image at all is the main check (the kernel's writer and libspice's reader
 * agree on every rule of the format); then what the image says is compared
 * with what the process is. A forked child serves as the target of
 * spice_capture_pid(), and the refusals (a child that is not stopped, one
 * holding a socket) and the reader's rejections of damaged copies of a real
 * image are checked too. Last, the restores: a child that maps a file
 * captures itself, and its image is restored by spice_spawn() and by
 * spice_restore() in a child, with an fd map; then the restores the kernel
 * refuses: another thread, bad descriptors, not an image, a checksum, and
 * the mapped file changed.
 *
 * Output: TAP (kselftest style) on stdout. Exit status 0 when every test
 * passed, 4 (KSFT_SKIP) when the kernel lacks the interface (every test is
 * skipped, and no snapshot system call is issued), 1 otherwise.
 *
 * --dir DIR: where the images and the mapped file go; by default /scratch
 * when it is a writable directory (the test guest's scratch disk), else
 * /tmp. --keep DIR: where to copy an image that spice_image_open() rejected
 * when it should have accepted it, for a look on the host.
 *
 * Pages: word w of page i of a pattern with seed s holds s << 40 | i << 12 |
 * w, so a page stored from the wrong address shows in its value.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <spice.h>

#define KSFT_SKIP	4
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* Pattern seeds. */
#define ANON_SEED	0xa11a11ULL
#define FILE_SEED	0xf11e00ULL
#define FILE_DIRTY_SEED	0xd1e7ddULL
#define SHM_SEED	0x5a4e01ULL
#define WS_SEED		0x3e75e7ULL
#define TARGET_SEED	0x7a76e7ULL

/* Offset of the descriptor left open on the mapped file. */
#define DATA_FD_POS	12345

/* The comm of the stopped child. */
#define TARGET_COMM	"gt-target"

/*
 * The regions the test maps, each between two PROT_NONE guard pages so that
 * its VMA is exactly the region (no merging with a neighbour).
 *
 * anon (private anonymous, 16 pages): pages 0-2, 6, 7 and 12 hold a
 * pattern, page 8 is zero but for its last byte; page 3 was written with
 * zeroes, page 5 only read (the zero page), page 9 written and zeroed
 * again, the others never touched. Only the first kind is stored.
 */
#define ANON_PAGES	16
static const bool anon_stored[ANON_PAGES] = {
	[0] = true, [1] = true, [2] = true, [6] = true, [7] = true,
	[8] = true, [12] = true,
};

/*
 * fmap (a private mapping of 6 pages of a file of 8, from file page 1):
 * pages 2 and 4 of the mapping written, page 5 written with zeroes, page 0
 * only read. The private copies are stored, the zeroed one too (without it
 * a restore would show the file's bytes there); the file's pages are not.
 */
#define FILE_PAGES	8
#define FMAP_PAGES	6
#define FMAP_PGOFF	1
static const bool fmap_stored[FMAP_PAGES] = {
	[2] = true, [4] = true, [5] = true,
};

/* shm (shared anonymous, 8 pages): pages 0, 3, 7 written, 5 zeroed. */
#define SHM_PAGES	8
static const bool shm_stored[SHM_PAGES] = {
	[0] = true, [3] = true, [7] = true,
};

/* ws (private anonymous, 16 pages, all written): the pages touched after
 * clear_refs. */
#define WS_PAGES	16
static const unsigned int ws_touch[] = { 0, 2, 4, 9 };

/* The stopped child's own region: written by the child after the fork. */
#define TARGET_PAGES	4

static size_t psz;

/* ---- TAP ------------------------------------------------------------------ */

static bool cur_bad;		/* the current test failed */
static char cur_diag[16384];	/* its diagnostics, "# " lines */
static size_t cur_len;
static char cur_skip[256];	/* why it was skipped, or "" */
static int nr_failed;

static void vdiag(const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = snprintf(cur_diag + cur_len, sizeof(cur_diag) - cur_len, "# %s\n",
		     line);
	if (n > 0 && (size_t)n < sizeof(cur_diag) - cur_len)
		cur_len += (size_t)n;
}

/* A diagnostic line for the current test. */
__attribute__((format(printf, 1, 2)))
static void diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(fmt, ap);
	va_end(ap);
}

/*
 * CHECK(cond, fmt, ...): unless @cond holds, the current test fails with
 * the message. Returns @cond. The arguments are evaluated either way.
 */
__attribute__((format(printf, 2, 3)))
static bool check(bool cond, const char *fmt, ...)
{
	va_list ap;

	if (cond)
		return true;
	cur_bad = true;
	va_start(ap, fmt);
	vdiag(fmt, ap);
	va_end(ap);
	return false;
}

#define CHECK(cond, ...)	check(!!(cond), __VA_ARGS__)

/*
 * The current test is skipped, for the reason given: what it tests is not
 * there yet. A failure of the test still counts.
 */
__attribute__((format(printf, 1, 2)))
static void skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cur_skip, sizeof(cur_skip), fmt, ap);
	va_end(ap);
}

static void report(int nr, const char *name)
{
	if (cur_skip[0] && !cur_bad)
		printf("ok %d - guest_test: %s # SKIP %s\n", nr, name,
		       cur_skip);
	else
		printf("%s %d - guest_test: %s\n", cur_bad ? "not ok" : "ok",
		       nr, name);
	fputs(cur_diag, stdout);
	fflush(stdout);
	nr_failed += cur_bad;
	cur_bad = false;
	cur_len = 0;
	cur_diag[0] = '\0';
	cur_skip[0] = '\0';
}

/* ---- helpers --------------------------------------------------------------- */

static uint64_t pattern(uint64_t seed, size_t page, size_t word)
{
	return seed << 40 | (uint64_t)page << 12 | word;
}

static void fill(void *p, uint64_t seed, size_t page)
{
	uint64_t *w = p;
	size_t i;

	for (i = 0; i < psz / sizeof(*w); i++)
		w[i] = pattern(seed, page, i);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * @nr pages mapped as asked between two PROT_NONE guard pages; @fd and @off
 * as for mmap(). NULL on failure, with a diagnostic.
 */
static unsigned char *map_isolated(size_t nr, int prot, int flags, int fd,
				   off_t off)
{
	unsigned char *guard, *p;

	guard = mmap(NULL, (nr + 2) * psz, PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (guard == MAP_FAILED) {
		diag("mmap of %zu guarded pages: %s", nr, strerror(errno));
		return NULL;
	}
	p = mmap(guard + psz, nr * psz, prot, flags | MAP_FIXED, fd, off);
	if (p == MAP_FAILED) {
		diag("mmap of %zu pages: %s", nr, strerror(errno));
		return NULL;
	}
	return p;
}

/* Copy the file @from to @to, its first @len bytes (all of it: -1). */
static int copy_file(const char *from, const char *to, off_t len)
{
	char buf[65536];
	int in, out, ret = 0;
	ssize_t n, m;
	size_t want;

	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0) {
		ret = -errno;
		close(in);
		return ret;
	}
	while (len != 0) {
		want = len < 0 || (size_t)len > sizeof(buf) ?
		       sizeof(buf) : (size_t)len;
		n = read(in, buf, want);
		if (n <= 0) {
			ret = n < 0 ? -errno : (len < 0 ? 0 : -EIO);
			break;
		}
		m = write(out, buf, (size_t)n);
		if (m != n) {
			ret = m < 0 ? -errno : -EIO;
			break;
		}
		if (len > 0)
			len -= n;
	}
	if (close(out) && !ret)
		ret = -errno;
	close(in);
	return ret;
}

/* Overwrite the byte at @off of @path with its complement. */
static int flip_byte(const char *path, off_t off)
{
	unsigned char b;
	int fd, ret = 0;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (pread(fd, &b, 1, off) != 1) {
		ret = -EIO;
	} else {
		b = (unsigned char)~b;
		if (pwrite(fd, &b, 1, off) != 1)
			ret = -EIO;
	}
	close(fd);
	return ret;
}

/* ---- the state the tests share ---------------------------------------------- */

struct ctx {
	char dir[1024];			/* images and files go here */
	const char *keep;		/* copies of rejected images, or NULL */

	unsigned char *anon, *fmap, *shm, *ws, *target;
	char data_path[PATH_MAX];	/* the mapped file, as realpath() */
	struct stat data_st;
	int data_fd;			/* left open at DATA_FD_POS */
	void (*usr1)(int);		/* SIGUSR1's handler */

	/* The image of the process. */
	char self_path[PATH_MAX];
	int self_ret, self_fd;
	uint64_t t0, t1;		/* the time around the capture */
	struct spice_image *self;

	/* With SNAPSHOT_CAPTURE_WORKING_SET. */
	char ws_path[PATH_MAX];
	int ws_ret;
	struct spice_image *wsimg;

	/* Of the stopped child. */
	char target_path[PATH_MAX];
	struct spice_image *timg;

	/* For the restores: the image of a child, the file it maps. */
	char rst_path[PATH_MAX];
	char rst_data[PATH_MAX];
	bool rst_ok;
};

/* Copy @path to the --keep directory, if there is one. */
static void keep_image(const struct ctx *c, const char *path,
		       const char *label)
{
	char to[PATH_MAX];
	int ret;

	if (!c->keep)
		return;
	mkdir(c->keep, 0755);
	snprintf(to, sizeof(to), "%s/%s.img", c->keep, label);
	ret = copy_file(path, to, -1);
	if (ret)
		diag("could not keep a copy of %s in %s: %s", path, to,
		     strerror(-ret));
	else
		diag("kept a copy of the image: %s", to);
}

/*
 * spice_image_open() of an image that must open; a failure is the test's,
 * with the reader's message, and the image is kept.
 */
static struct spice_image *open_good(const struct ctx *c, const char *path,
				     const char *label)
{
	struct spice_image_error err;
	struct spice_image *im = NULL;
	int ret;

	memset(&err, 0, sizeof(err));
	ret = spice_image_open(path, &im, &err);
	if (!CHECK(ret == 0, "spice_image_open(%s): %d (%s), code %d: %s",
		   path, ret, strerror(-ret), err.code, err.msg)) {
		keep_image(c, path, label);
		return NULL;
	}
	return im;
}

static bool img_vma_at(const struct spice_image *im, uint64_t addr,
		       struct snapshot_image_vma *v)
{
	size_t i;

	for (i = 0; spice_image_vma(im, i, v) == 0; i++)
		if (v->start <= addr && addr < v->end)
			return true;
	return false;
}

static bool img_extent_at(const struct spice_image *im, uint64_t addr,
			  struct snapshot_image_extent *e)
{
	size_t i;

	for (i = 0; spice_image_extent(im, i, e) == 0; i++)
		if (e->addr <= addr && addr < e->addr + e->len)
			return true;
	return false;
}

/*
 * The stored bytes of the page at @addr into @buf (psz bytes): 1 if the
 * page is stored, 0 if not, or a negative errno from the reader. @ext
 * receives the extent when the page is stored, if not NULL.
 */
static int img_page(const struct spice_image *im, uint64_t addr, void *buf,
		    struct snapshot_image_extent *ext)
{
	struct snapshot_image_extent e, one;
	ssize_t n;

	if (!img_extent_at(im, addr, &e))
		return 0;
	if (ext)
		*ext = e;
	one = e;
	one.addr = addr;
	one.len = psz;
	one.data_off = e.data_off + (addr - e.addr);
	n = spice_image_read_data(im, &one, buf, psz);
	if (n < 0)
		return (int)n;
	return n == (ssize_t)psz ? 1 : -EIO;
}

/*
 * The pages of [@p, @p + @nr pages) that @stored says are stored: stored,
 * with the bytes @want holds (@p itself if NULL).
 */
static void check_stored(const struct spice_image *im, const char *what,
			 const unsigned char *p, const unsigned char *want,
			 size_t nr, const bool *stored)
{
	unsigned char *buf = malloc(psz);
	uint64_t got_w, want_w;
	size_t i;
	int r;

	if (!CHECK(buf, "out of memory"))
		return;
	if (!want)
		want = p;
	for (i = 0; i < nr; i++) {
		if (!stored[i])
			continue;
		r = img_page(im, (uintptr_t)(p + i * psz), buf, NULL);
		if (!CHECK(r >= 0, "%s page %zu: spice_image_read_data: %s",
			   what, i, strerror(-r)) ||
		    !CHECK(r == 1, "%s page %zu (%p): not stored", what, i,
			   (void *)(p + i * psz)))
			continue;
		if (memcmp(buf, want + i * psz, psz)) {
			memcpy(&got_w, buf, sizeof(got_w));
			memcpy(&want_w, want + i * psz, sizeof(want_w));
			CHECK(false, "%s page %zu: the stored bytes differ from memory (first word %#llx, want %#llx)",
			      what, i, (unsigned long long)got_w,
			      (unsigned long long)want_w);
		}
	}
	free(buf);
}

/* The pages of the region that @stored says are not stored: not stored. */
static void check_absent(const struct spice_image *im, const char *what,
			 const unsigned char *p, size_t nr, const bool *stored,
			 const char *why)
{
	struct snapshot_image_extent e;
	size_t i;

	for (i = 0; i < nr; i++) {
		if (stored[i])
			continue;
		if (img_extent_at(im, (uintptr_t)(p + i * psz), &e))
			CHECK(false, "%s page %zu (%p) is stored (extent %#llx+%#llx), but %s",
			      what, i, (void *)(p + i * psz),
			      (unsigned long long)e.addr,
			      (unsigned long long)e.len, why);
	}
}

/* The VMA of the region: exactly [@p, @p + @nr pages), of @kind and @prot. */
static bool check_vma(const struct spice_image *im, const char *what,
		      const unsigned char *p, size_t nr, uint32_t kind,
		      uint32_t prot, struct snapshot_image_vma *v)
{
	uint64_t start = (uintptr_t)p, end = start + nr * psz;

	if (!CHECK(img_vma_at(im, start, v), "%s: no VMA holds %p", what,
		   (void *)p))
		return false;
	CHECK(v->start == start && v->end == end,
	      "%s: VMA [%#llx, %#llx), want [%#llx, %#llx)", what,
	      (unsigned long long)v->start, (unsigned long long)v->end,
	      (unsigned long long)start, (unsigned long long)end);
	CHECK(v->kind == kind, "%s: VMA kind %u, want %u", what, v->kind,
	      kind);
	CHECK(v->prot == prot, "%s: VMA prot %#x, want %#x", what, v->prot,
	      prot);
	return true;
}

/* The file record @i names the mapped file. */
static void check_data_file(const struct ctx *c, const struct spice_image *im,
			    uint32_t i, const char *what)
{
	struct snapshot_image_file f;
	const char *path;

	if (!CHECK(spice_image_file(im, i, &f) == 0,
		   "%s: file index %u, but the image has %zu files", what, i,
		   spice_image_nr_files(im)))
		return;
	path = spice_image_string(im, f.path);
	CHECK(path && !strcmp(path, c->data_path),
	      "%s: file path '%s', want '%s'", what, path ? path : "(none)",
	      c->data_path);
	CHECK(f.dev == (uint64_t)c->data_st.st_dev &&
	      f.ino == (uint64_t)c->data_st.st_ino,
	      "%s: file dev %#llx ino %llu, stat(2) says dev %#llx ino %llu",
	      what, (unsigned long long)f.dev, (unsigned long long)f.ino,
	      (unsigned long long)c->data_st.st_dev,
	      (unsigned long long)c->data_st.st_ino);
	CHECK(f.size == (uint64_t)c->data_st.st_size &&
	      f.mode == c->data_st.st_mode,
	      "%s: file size %llu mode %#o, stat(2) says %llu %#o", what,
	      (unsigned long long)f.size, f.mode,
	      (unsigned long long)c->data_st.st_size, c->data_st.st_mode);
}

/* ---- children --------------------------------------------------------------- */

enum child_mode {
	CHILD_TARGET,	/* write its region, name itself, stop */
	CHILD_STOP,	/* stop */
	CHILD_PAUSE,	/* sleep in pause(), not stopped */
};

/* A child that does what @mode says; -1 on failure, with a diagnostic. */
static pid_t spawn(const struct ctx *c, enum child_mode mode)
{
	int status;
	pid_t pid;
	size_t i;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		diag("fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		if (mode == CHILD_TARGET) {
			for (i = 0; i < TARGET_PAGES; i++)
				fill(c->target + i * psz, TARGET_SEED, i);
			prctl(PR_SET_NAME, TARGET_COMM, 0, 0, 0);
		}
		if (mode != CHILD_PAUSE)
			raise(SIGSTOP);
		for (;;)
			pause();
	}
	if (mode == CHILD_PAUSE)
		return pid;
	if (waitpid(pid, &status, WUNTRACED) != pid || !WIFSTOPPED(status)) {
		diag("child %d did not stop (status %#x)", (int)pid, status);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	return pid;
}

static void reap(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* The state letter of /proc/PID/stat, or 0. */
static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

/* A file for an image, created empty; the open descriptor or -1. */
static int new_image(const struct ctx *c, const char *name, char *path)
{
	int fd;

	snprintf(path, PATH_MAX, "%s/%s", c->dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		diag("%s: %s", path, strerror(errno));
	return fd;
}

/* ---- setup ------------------------------------------------------------------ */

static void on_usr1(int sig)
{
	(void)sig;
}

/* Everything the capture of the process is compared with. */
static bool setup(struct ctx *c)
{
	unsigned char *buf;
	char path[PATH_MAX];
	struct sigaction sa;
	volatile unsigned char sink;
	size_t i;
	int fd;

	/* anon */
	c->anon = map_isolated(ANON_PAGES, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!c->anon)
		return false;
	/* No huge page: each page is present, or not, on its own. */
	madvise(c->anon, ANON_PAGES * psz, MADV_NOHUGEPAGE);
	for (i = 0; i < ANON_PAGES; i++)
		if (anon_stored[i] && i != 8)
			fill(c->anon + i * psz, ANON_SEED, i);
	c->anon[9 * psz - 1] = 0x5a;			/* page 8 */
	memset(c->anon + 3 * psz, 0, psz);		/* page 3 */
	sink = c->anon[5 * psz + 100];			/* page 5 */
	(void)sink;
	fill(c->anon + 9 * psz, ANON_SEED, 9);		/* page 9 */
	memset(c->anon + 9 * psz, 0, psz);

	/* The file, mapped privately, and a descriptor left open on it. */
	snprintf(path, sizeof(path), "%s/guest_test.data", c->dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	buf = malloc(psz);
	if (fd < 0 || !buf) {
		diag("%s: %s", path, strerror(errno));
		free(buf);
		return false;
	}
	for (i = 0; i < FILE_PAGES; i++) {
		fill(buf, FILE_SEED, i);
		if (write(fd, buf, psz) != (ssize_t)psz) {
			diag("writing %s: %s", path, strerror(errno));
			free(buf);
			return false;
		}
	}
	free(buf);
	close(fd);
	if (!realpath(path, c->data_path)) {
		diag("realpath(%s): %s", path, strerror(errno));
		return false;
	}
	c->data_fd = open(c->data_path, O_RDONLY | O_CLOEXEC);
	if (c->data_fd < 0 || fstat(c->data_fd, &c->data_st) ||
	    lseek(c->data_fd, DATA_FD_POS, SEEK_SET) != DATA_FD_POS) {
		diag("%s: %s", c->data_path, strerror(errno));
		return false;
	}
	c->fmap = map_isolated(FMAP_PAGES, PROT_READ | PROT_WRITE, MAP_PRIVATE,
			       c->data_fd, (off_t)(FMAP_PGOFF * psz));
	if (!c->fmap)
		return false;
	sink = c->fmap[100];				/* page 0: read */
	fill(c->fmap + 2 * psz, FILE_DIRTY_SEED, 2);
	fill(c->fmap + 4 * psz, FILE_DIRTY_SEED, 4);
	memset(c->fmap + 5 * psz, 0, psz);

	/* shm */
	c->shm = map_isolated(SHM_PAGES, PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (!c->shm)
		return false;
	for (i = 0; i < SHM_PAGES; i++)
		if (shm_stored[i])
			fill(c->shm + i * psz, SHM_SEED, i);
	memset(c->shm + 5 * psz, 0, psz);

	/* ws: every page present; the touching comes later. */
	c->ws = map_isolated(WS_PAGES, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!c->ws)
		return false;
	madvise(c->ws, WS_PAGES * psz, MADV_NOHUGEPAGE);
	for (i = 0; i < WS_PAGES; i++)
		fill(c->ws + i * psz, WS_SEED, i);

	/* The stopped child's region: zero here, its pattern there. */
	c->target = map_isolated(TARGET_PAGES, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!c->target)
		return false;

	/* A signal handler and a resource limit to find in the image. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	if (sigaction(SIGUSR1, &sa, NULL)) {
		diag("sigaction: %s", strerror(errno));
		return false;
	}
	c->usr1 = on_usr1;

	umask(027);
	if (chdir(c->dir)) {
		diag("chdir(%s): %s", c->dir, strerror(errno));
		return false;
	}
	return true;
}

/* ---- the tests ------------------------------------------------------------- */

static void t_capture_self(struct ctx *c)
{
	struct snapshot_reason reason = { .code = 0, .fd = -1, .addr = 0 };
	bool ok;

	ok = setup(c);
	if (!CHECK(ok, "setting up the process failed"))
		return;
	c->self_fd = new_image(c, "self.img", c->self_path);
	if (c->self_fd < 0) {
		cur_bad = true;
		return;
	}
	c->t0 = now_ns();
	c->self_ret = spice_capture_self(c->self_fd, 0, &reason);
	c->t1 = now_ns();
	/* Closed after the tests: its number must not be in the image. */
	CHECK(c->self_ret == 0, "spice_capture_self: %d (%s), reason %u (%s) fd %d addr %#llx",
	      c->self_ret, c->self_ret < 0 ? strerror(-c->self_ret) :
	      c->self_ret == SPICE_RESUMED ? "SPICE_RESUMED" : "?",
	      reason.code, reason.code ?
	      spice_image_reason_name(reason.code) : "-", reason.fd,
	      (unsigned long long)reason.addr);
}

static void t_open_self(struct ctx *c)
{
	if (!CHECK(c->self_ret == 0, "no image: the capture failed"))
		return;
	c->self = open_good(c, c->self_path, "self");
}

/* The image of the process, or a failure of the current test. */
static bool need_self(const struct ctx *c)
{
	return CHECK(c->self, "the image of the process did not open");
}

static void t_header(struct ctx *c)
{
	const struct snapshot_image_header *h;
	struct snapshot_image_extent e;
	struct stat st;
	uint64_t sum = 0;
	size_t i;

	if (!need_self(c))
		return;
	h = spice_image_header(c->self);
	CHECK(h->magic == SNAPSHOT_IMAGE_MAGIC &&
	      h->version == SNAPSHOT_IMAGE_VERSION &&
	      h->header_size == SNAPSHOT_IMAGE_HEADER_SIZE_VER0,
	      "magic %#llx version %u header_size %u",
	      (unsigned long long)h->magic, h->version, h->header_size);
	CHECK(h->arch == SNAPSHOT_ARCH_X86_64, "arch %u", h->arch);
	CHECK(h->page_size == psz, "page_size %u, want %zu", h->page_size,
	      psz);
	CHECK(h->flags == SNAPSHOT_IMAGE_SELF,
	      "flags %#x, want SNAPSHOT_IMAGE_SELF only", h->flags);
	CHECK(h->ws_size == 0, "ws_size %llu without a working set",
	      (unsigned long long)h->ws_size);
	CHECK(stat(c->self_path, &st) == 0 &&
	      h->image_size == (uint64_t)st.st_size,
	      "image_size %llu, the file has %lld bytes",
	      (unsigned long long)h->image_size, (long long)st.st_size);
	CHECK(h->time_ns >= c->t0 && h->time_ns <= c->t1,
	      "time_ns %llu outside the capture [%llu, %llu]",
	      (unsigned long long)h->time_ns, (unsigned long long)c->t0,
	      (unsigned long long)c->t1);
	for (i = 0; spice_image_extent(c->self, i, &e) == 0; i++) {
		sum += e.len;
		CHECK(!(e.flags & SNAPSHOT_EXTENT_WORKING_SET),
		      "extent %zu flagged working set", i);
	}
	CHECK(sum == h->data_size, "the extents hold %llu bytes, data_size %llu",
	      (unsigned long long)sum, (unsigned long long)h->data_size);
	CHECK(spice_image_nr_sections(c->self) == h->nr_sections,
	      "%zu sections, header says %u", spice_image_nr_sections(c->self),
	      h->nr_sections);
}

static void t_all_extents(struct ctx *c)
{
	struct snapshot_image_extent e;
	unsigned char *buf;
	size_t i, n = 0;
	ssize_t r;

	if (!need_self(c))
		return;
	buf = malloc(1 << 20);
	if (!CHECK(buf, "out of memory"))
		return;
	CHECK(spice_image_nr_extents(c->self) > 0, "no extent at all");
	for (i = 0; spice_image_extent(c->self, i, &e) == 0; i++, n++) {
		struct snapshot_image_extent part = e;
		uint64_t done = 0, len;

		while (done < e.len) {
			len = e.len - done > (1 << 20) ? (1 << 20) : e.len - done;
			part.addr = e.addr + done;
			part.data_off = e.data_off + done;
			part.len = len;
			r = spice_image_read_data(c->self, &part, buf, len);
			if (!CHECK(r == (ssize_t)len,
				   "extent %zu [%#llx+%#llx): read_data at %llu: %zd (%s)",
				   i, (unsigned long long)e.addr,
				   (unsigned long long)e.len,
				   (unsigned long long)done, r,
				   r < 0 ? strerror((int)-r) : "short"))
				break;
			done += len;
		}
	}
	CHECK(n == spice_image_nr_extents(c->self), "%zu extents read of %zu",
	      n, spice_image_nr_extents(c->self));
	free(buf);
}

static void t_anon_vma(struct ctx *c)
{
	struct snapshot_image_vma v;

	if (!need_self(c) ||
	    !check_vma(c->self, "anon", c->anon, ANON_PAGES, SNAPSHOT_VMA_ANON,
		       PROT_READ | PROT_WRITE, &v))
		return;
	CHECK(!(v.flags & SNAPSHOT_VMA_SHARED), "anon: flagged shared");
	CHECK(v.flags & SNAPSHOT_VMA_NOHUGEPAGE,
	      "anon: MADV_NOHUGEPAGE not in flags %#llx",
	      (unsigned long long)v.flags);
	CHECK(v.flags & SNAPSHOT_VMA_MAYWRITE,
	      "anon: MAYWRITE not in flags %#llx", (unsigned long long)v.flags);
	CHECK(v.file == SNAPSHOT_IMAGE_NONE, "anon: file %u", v.file);
}

static void t_anon_data(struct ctx *c)
{
	if (need_self(c))
		check_stored(c->self, "anon", c->anon, NULL, ANON_PAGES,
			     anon_stored);
}

static void t_anon_zero(struct ctx *c)
{
	if (need_self(c))
		check_absent(c->self, "anon", c->anon, ANON_PAGES, anon_stored,
			     "it reads as zero");
}

static void t_file_vma(struct ctx *c)
{
	struct snapshot_image_vma v;

	if (!need_self(c) ||
	    !check_vma(c->self, "file mapping", c->fmap, FMAP_PAGES,
		       SNAPSHOT_VMA_FILE, PROT_READ | PROT_WRITE, &v))
		return;
	CHECK(!(v.flags & SNAPSHOT_VMA_SHARED), "file mapping: flagged shared");
	CHECK(v.pgoff == FMAP_PGOFF * psz, "file mapping: pgoff %llu, want %zu",
	      (unsigned long long)v.pgoff, FMAP_PGOFF * psz);
	check_data_file(c, c->self, v.file, "file mapping");
}

static void t_file_data(struct ctx *c)
{
	if (!need_self(c))
		return;
	check_stored(c->self, "file mapping", c->fmap, NULL, FMAP_PAGES,
		     fmap_stored);
	check_absent(c->self, "file mapping", c->fmap, FMAP_PAGES,
		     fmap_stored, "it is the file's page, not a private copy");
}

static void t_shm(struct ctx *c)
{
	struct snapshot_image_vma v;

	if (!need_self(c))
		return;
	if (check_vma(c->self, "shared anon", c->shm, SHM_PAGES,
		      SNAPSHOT_VMA_SHMEM, PROT_READ | PROT_WRITE, &v)) {
		CHECK(v.flags & SNAPSHOT_VMA_SHARED,
		      "shared anon: SHARED not in flags %#llx",
		      (unsigned long long)v.flags);
		CHECK(v.file == SNAPSHOT_IMAGE_NONE, "shared anon: file %u",
		      v.file);
	}
	check_stored(c->self, "shared anon", c->shm, NULL, SHM_PAGES,
		     shm_stored);
	check_absent(c->self, "shared anon", c->shm, SHM_PAGES, shm_stored,
		     "it reads as zero");
}

static void t_fds(struct ctx *c)
{
	struct snapshot_image_vma v;
	struct snapshot_image_fd fd;
	bool seen[3] = { false }, data = false;
	size_t i;

	if (!need_self(c))
		return;
	for (i = 0; spice_image_fd(c->self, i, &fd) == 0; i++) {
		if (fd.fd >= 0 && fd.fd <= 2) {
			seen[fd.fd] = true;
			CHECK(fd.kind == SNAPSHOT_FD_STDIO &&
			      fd.file == SNAPSHOT_IMAGE_NONE,
			      "fd %d: kind %u file %u, want STDIO and none",
			      fd.fd, fd.kind, fd.file);
		} else if (fd.fd == c->self_fd) {
			CHECK(false, "fd %d, the image being written, is in the image",
			      fd.fd);
		} else if (fd.fd == c->data_fd) {
			data = true;
			CHECK(fd.kind == SNAPSHOT_FD_FILE, "fd %d: kind %u",
			      fd.fd, fd.kind);
			CHECK((fd.flags & O_ACCMODE) == O_RDONLY,
			      "fd %d: flags %#o, want O_RDONLY", fd.fd,
			      fd.flags);
			CHECK(fd.pos == DATA_FD_POS, "fd %d: pos %lld, want %d",
			      fd.fd, (long long)fd.pos, DATA_FD_POS);
			CHECK(fd.fd_flags == FD_CLOEXEC,
			      "fd %d: fd_flags %#x, want FD_CLOEXEC", fd.fd,
			      fd.fd_flags);
			check_data_file(c, c->self, fd.file, "data fd");
			/* The mapping and the descriptor: one file record. */
			if (img_vma_at(c->self, (uintptr_t)c->fmap, &v))
				CHECK(v.file == fd.file,
				      "the mapping names file %u, the fd file %u",
				      v.file, fd.file);
		} else {
			CHECK(false, "fd %d (kind %u) is not one the process has open",
			      fd.fd, fd.kind);
		}
	}
	for (i = 0; i < 3; i++)
		CHECK(seen[i], "no record of fd %zu", i);
	CHECK(data, "no record of fd %d, open on %s", c->data_fd,
	      c->data_path);
}

static void t_task(struct ctx *c)
{
	struct snapshot_image_task t;
	char comm[17] = "", cwd[PATH_MAX] = "", exe[PATH_MAX];
	const char *s;
	ssize_t n;

	if (!need_self(c))
		return;
	if (!CHECK(spice_image_task(c->self, &t) == 0, "no task record"))
		return;
	prctl(PR_GET_NAME, comm, 0, 0, 0);
	CHECK(!strncmp(t.comm, comm, sizeof(t.comm)) &&
	      memchr(t.comm, '\0', sizeof(t.comm)),
	      "comm '%.16s', want '%s'", t.comm, comm);
	s = spice_image_string(c->self, t.cwd);
	CHECK(getcwd(cwd, sizeof(cwd)) && s && !strcmp(s, cwd),
	      "cwd '%s', want '%s'", s ? s : "(none)", cwd);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	s = spice_image_string(c->self, t.exe);
	CHECK(s && !strcmp(s, exe), "exe '%s', want '%s'", s ? s : "(none)",
	      exe);
	CHECK(t.umask == 027, "umask %04o, want 0027", t.umask);
}

static void t_regs(struct ctx *c)
{
	struct snapshot_image_regs r;
	struct snapshot_image_vma v;

	if (!need_self(c))
		return;
	if (!CHECK(spice_image_regs(c->self, &r) == 0, "no regs record"))
		return;
	CHECK(r.ax == SNAPSHOT_RESUMED, "ax %#llx, want SNAPSHOT_RESUMED",
	      (unsigned long long)r.ax);
	CHECK(r.orig_ax == (uint64_t)-1, "orig_ax %#llx, want -1",
	      (unsigned long long)r.orig_ax);
	CHECK(img_vma_at(c->self, r.sp, &v) &&
	      (v.flags & SNAPSHOT_VMA_GROWSDOWN),
	      "sp %#llx is not in the stack VMA", (unsigned long long)r.sp);
	CHECK(img_vma_at(c->self, r.ip, &v) && (v.prot & PROT_EXEC),
	      "ip %#llx is not in an executable VMA", (unsigned long long)r.ip);
}

static void t_mm(struct ctx *c)
{
	struct snapshot_image_mm mm;
	struct snapshot_image_vma v;
	uint64_t key, val, vdso = getauxval(AT_SYSINFO_EHDR);
	size_t i, n;
	bool pagesz = false, ehdr = false;

	if (!need_self(c))
		return;
	if (!CHECK(spice_image_mm(c->self, &mm) == 0, "no mm record"))
		return;
	CHECK(img_vma_at(c->self, mm.start_stack, &v) &&
	      v.kind == SNAPSHOT_VMA_ANON &&
	      (v.flags & SNAPSHOT_VMA_GROWSDOWN),
	      "start_stack %#llx is not in a growsdown anon VMA",
	      (unsigned long long)mm.start_stack);
	CHECK(mm.vdso == vdso, "vdso %#llx, AT_SYSINFO_EHDR %#llx",
	      (unsigned long long)mm.vdso, (unsigned long long)vdso);
	CHECK(img_vma_at(c->self, vdso, &v) && v.kind == SNAPSHOT_VMA_VDSO &&
	      v.start == vdso, "no VDSO VMA at %#llx",
	      (unsigned long long)vdso);
	n = spice_image_nr_auxv(c->self);
	for (i = 0; i + 1 < n; i += 2) {
		spice_image_auxv(c->self, i, &key);
		spice_image_auxv(c->self, i + 1, &val);
		if (key == AT_PAGESZ)
			pagesz = CHECK(val == psz, "AT_PAGESZ %llu",
				       (unsigned long long)val);
		if (key == AT_SYSINFO_EHDR)
			ehdr = CHECK(val == vdso, "AT_SYSINFO_EHDR %#llx",
				     (unsigned long long)val);
	}
	CHECK(pagesz && ehdr, "auxv of %zu values lacks AT_PAGESZ or AT_SYSINFO_EHDR",
	      n);
	CHECK(n >= 2 && spice_image_auxv(c->self, n - 2, &key) == 0 &&
	      key == AT_NULL, "auxv does not end with AT_NULL");
}

static void t_signals_rlimits(struct ctx *c)
{
	struct snapshot_image_sigaction sa;
	struct snapshot_image_rlimit rl;
	struct rlimit want;

	if (!need_self(c))
		return;
	CHECK(spice_image_nr_sigactions(c->self) == 64 &&
	      spice_image_nr_rlimits(c->self) == RLIM_NLIMITS,
	      "%zu sigactions, %zu rlimits",
	      spice_image_nr_sigactions(c->self),
	      spice_image_nr_rlimits(c->self));
	if (CHECK(spice_image_sigaction(c->self, SIGUSR1 - 1, &sa) == 0,
		  "no SIGUSR1 record")) {
		CHECK(sa.handler == (uintptr_t)c->usr1,
		      "SIGUSR1 handler %#llx, want %p",
		      (unsigned long long)sa.handler, (void *)(uintptr_t)c->usr1);
		CHECK(sa.flags & SA_RESTART, "SIGUSR1 flags %#llx lack SA_RESTART",
		      (unsigned long long)sa.flags);
		CHECK(sa.mask == 1ULL << (SIGUSR2 - 1),
		      "SIGUSR1 mask %#llx, want SIGUSR2's bit",
		      (unsigned long long)sa.mask);
	}
	getrlimit(RLIMIT_NOFILE, &want);
	if (CHECK(spice_image_rlimit(c->self, RLIMIT_NOFILE, &rl) == 0,
		  "no RLIMIT_NOFILE record"))
		CHECK(rl.cur == (uint64_t)want.rlim_cur &&
		      rl.max == (uint64_t)want.rlim_max,
		      "RLIMIT_NOFILE %llu/%llu, getrlimit says %llu/%llu",
		      (unsigned long long)rl.cur, (unsigned long long)rl.max,
		      (unsigned long long)want.rlim_cur,
		      (unsigned long long)want.rlim_max);
}

static int write_text(const char *path, const char *text)
{
	int fd, ret = 0;
	size_t len = strlen(text);

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len)
		ret = -errno;
	close(fd);
	return ret;
}

static void t_ws_capture(struct ctx *c)
{
	struct snapshot_reason reason = { .code = 0, .fd = -1, .addr = 0 };
	volatile uint64_t *w;
	size_t i;
	int fd, err;

	if (!CHECK(c->ws, "the process was not set up"))
		return;
	fd = new_image(c, "self-ws.img", c->ws_path);
	if (fd < 0) {
		cur_bad = true;
		return;
	}
	err = write_text("/proc/self/clear_refs", "1");
	if (!CHECK(err == 0, "writing 1 to /proc/self/clear_refs: %s",
		   strerror(-err))) {
		close(fd);
		return;
	}
	/*
	 * Clearing the accessed bits does not flush the TLB, and an access
	 * through a cached translation does not set the bit again: a
	 * protection change flushes it, as the context switches of a real
	 * warm-up would.
	 */
	if (!CHECK(!mprotect(c->ws, WS_PAGES * psz, PROT_READ) &&
		   !mprotect(c->ws, WS_PAGES * psz, PROT_READ | PROT_WRITE),
		   "mprotect: %s", strerror(errno))) {
		close(fd);
		return;
	}
	for (i = 0; i < ARRAY_SIZE(ws_touch); i++) {
		w = (volatile uint64_t *)(c->ws + ws_touch[i] * psz);
		*w = *w;
	}
	c->ws_ret = spice_capture_self(fd, SNAPSHOT_CAPTURE_WORKING_SET,
				       &reason);
	close(fd);
	if (!CHECK(c->ws_ret == 0, "spice_capture_self(WORKING_SET): %d (%s), reason %u",
		   c->ws_ret, c->ws_ret < 0 ? strerror(-c->ws_ret) : "?",
		   reason.code))
		return;
	c->wsimg = open_good(c, c->ws_path, "self-ws");
}

static void t_ws_extents(struct ctx *c)
{
	const struct snapshot_image_header *h;
	struct snapshot_image_extent e;
	bool stored[WS_PAGES], touched;
	unsigned char *buf;
	uint64_t ws_bytes = 0;
	size_t i, j, nr_ws = 0;
	int r;

	if (!CHECK(c->wsimg, "the working-set image did not open"))
		return;
	h = spice_image_header(c->wsimg);
	CHECK(h->flags == (SNAPSHOT_IMAGE_SELF | SNAPSHOT_IMAGE_WORKING_SET),
	      "flags %#x, want SELF | WORKING_SET", h->flags);
	for (i = 0; spice_image_extent(c->wsimg, i, &e) == 0; i++) {
		if (!(e.flags & SNAPSHOT_EXTENT_WORKING_SET))
			continue;
		nr_ws++;
		ws_bytes += e.len;
		CHECK(e.data_off >= h->data_off &&
		      e.data_off + e.len <= h->data_off + h->ws_size,
		      "working-set extent %zu: data [%llu, +%llu) outside the working set area",
		      i, (unsigned long long)e.data_off,
		      (unsigned long long)e.len);
	}
	CHECK(nr_ws > 0, "no extent in the working set");
	CHECK(ws_bytes == h->ws_size,
	      "the working-set extents hold %llu bytes, ws_size %llu",
	      (unsigned long long)ws_bytes, (unsigned long long)h->ws_size);

	buf = malloc(psz);
	if (!CHECK(buf, "out of memory"))
		return;
	for (i = 0; i < WS_PAGES; i++) {
		stored[i] = true;
		for (touched = false, j = 0; j < ARRAY_SIZE(ws_touch); j++)
			touched |= ws_touch[j] == i;
		r = img_page(c->wsimg, (uintptr_t)(c->ws + i * psz), buf, &e);
		if (!CHECK(r == 1, "ws page %zu: %s", i,
			   r < 0 ? strerror(-r) : "not stored"))
			continue;
		CHECK(!!(e.flags & SNAPSHOT_EXTENT_WORKING_SET) == touched,
		      "ws page %zu is %stouched, but its extent %#llx+%#llx is %sin the working set",
		      i, touched ? "" : "not ", (unsigned long long)e.addr,
		      (unsigned long long)e.len,
		      (e.flags & SNAPSHOT_EXTENT_WORKING_SET) ? "" : "not ");
	}
	free(buf);
	check_stored(c->wsimg, "ws", c->ws, NULL, WS_PAGES, stored);
}

static void t_pid_stopped(struct ctx *c)
{
	struct snapshot_reason reason = { .code = 0, .fd = -1, .addr = 0 };
	pid_t pid;
	int fd, ret;

	if (!CHECK(c->target, "the process was not set up"))
		return;
	pid = spawn(c, CHILD_TARGET);
	if (pid < 0) {
		cur_bad = true;
		return;
	}
	fd = new_image(c, "target.img", c->target_path);
	if (fd >= 0) {
		ret = spice_capture_pid(pid, fd, 0, &reason);
		close(fd);
		if (CHECK(ret == 0, "spice_capture_pid(%d): %d (%s), reason %u (%s) fd %d",
			  (int)pid, ret, strerror(-ret), reason.code,
			  reason.code ? spice_image_reason_name(reason.code) :
			  "-", reason.fd))
			c->timg = open_good(c, c->target_path, "target");
	} else {
		cur_bad = true;
	}
	reap(pid);
}

static void t_pid_image(struct ctx *c)
{
	static const bool all[TARGET_PAGES] = { true, true, true, true };
	const struct snapshot_image_header *h;
	struct snapshot_image_task t;
	struct snapshot_image_fd fd;
	unsigned char *want;
	size_t i;

	if (!CHECK(c->timg, "the child's image did not open"))
		return;
	h = spice_image_header(c->timg);
	CHECK(!(h->flags & SNAPSHOT_IMAGE_SELF), "flags %#x: SELF set",
	      h->flags);
	CHECK(h->flags == 0, "flags %#x, want 0", h->flags);
	if (CHECK(spice_image_task(c->timg, &t) == 0, "no task record"))
		CHECK(!strcmp(t.comm, TARGET_COMM), "comm '%.16s', want '%s'",
		      t.comm, TARGET_COMM);
	for (i = 0; i < 3; i++)
		CHECK(spice_image_fd(c->timg, i, &fd) == 0 && fd.fd == (int)i &&
		      fd.kind == SNAPSHOT_FD_STDIO,
		      "record %zu is not fd %zu, STDIO", i, i);
	want = malloc(TARGET_PAGES * psz);
	if (!CHECK(want, "out of memory"))
		return;
	for (i = 0; i < TARGET_PAGES; i++)
		fill(want + i * psz, TARGET_SEED, i);
	check_stored(c->timg, "child's region", c->target, want, TARGET_PAGES,
		     all);
	free(want);
}

static void t_pid_running(struct ctx *c)
{
	struct snapshot_reason reason = { .code = 0, .fd = -1, .addr = 0 };
	char path[PATH_MAX];
	struct stat st;
	pid_t pid;
	int fd, ret, i;
	char state = 0;

	pid = spawn(c, CHILD_PAUSE);
	if (pid < 0) {
		cur_bad = true;
		return;
	}
	/* Asleep in pause(): not running, but not stopped either. */
	for (i = 0; i < 500 && (state = proc_state(pid)) != 'S'; i++)
		usleep(10000);
	CHECK(state == 'S', "the child's state is '%c', not S", state);
	fd = new_image(c, "running.img", path);
	if (fd >= 0) {
		ret = spice_capture_pid(pid, fd, 0, &reason);
		CHECK(ret == -EBUSY, "spice_capture_pid: %d (%s), want -EBUSY",
		      ret, strerror(-ret));
		CHECK(fstat(fd, &st) == 0 && st.st_size == 0,
		      "the refused capture wrote %lld bytes",
		      (long long)st.st_size);
		close(fd);
	} else {
		cur_bad = true;
	}
	reap(pid);
}

static void t_pid_socket(struct ctx *c)
{
	struct snapshot_reason reason = { .code = 0, .fd = -2, .addr = 1 };
	char path[PATH_MAX];
	const char *name;
	int sv[2], fd, ret;
	pid_t pid;

	if (!CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0,
		   "socketpair: %s", strerror(errno)))
		return;
	pid = spawn(c, CHILD_STOP);
	close(sv[0]);
	close(sv[1]);
	if (pid < 0) {
		cur_bad = true;
		return;
	}
	fd = new_image(c, "socket.img", path);
	if (fd >= 0) {
		ret = spice_capture_pid(pid, fd, 0, &reason);
		close(fd);
		CHECK(ret == -EOPNOTSUPP,
		      "spice_capture_pid: %d (%s), want -EOPNOTSUPP", ret,
		      strerror(-ret));
		CHECK(reason.code == SNAPSHOT_REASON_FD_SOCKET,
		      "reason.code %u, want SNAPSHOT_REASON_FD_SOCKET (%u)",
		      reason.code, SNAPSHOT_REASON_FD_SOCKET);
		CHECK(reason.fd == (sv[0] < sv[1] ? sv[0] : sv[1]),
		      "reason.fd %d, want %d (the first socket)", reason.fd,
		      sv[0] < sv[1] ? sv[0] : sv[1]);
		CHECK(reason.addr == 0, "reason.addr %#llx, want 0",
		      (unsigned long long)reason.addr);
		name = spice_image_reason_name(reason.code);
		CHECK(name && *name, "spice_image_reason_name(%u) gives no name",
		      reason.code);
		if (name)
			diag("reason: %s, fd %d", name, reason.fd);
	} else {
		cur_bad = true;
	}
	reap(pid);
}

/*
 * A damaged copy of the image of the process -- its first half only if
 * @half, with the byte at @flip complemented if @flip is not negative --
 * must be refused with @want.
 */
static void damaged(struct ctx *c, const char *name, bool half, off_t flip,
		    int want, const char *want_name)
{
	struct spice_image_error err;
	struct spice_image *im = NULL;
	char path[PATH_MAX];
	struct stat st;
	int ret;

	if (!CHECK(c->self_ret == 0 && stat(c->self_path, &st) == 0,
		   "no image of the process"))
		return;
	snprintf(path, sizeof(path), "%s/%s", c->dir, name);
	ret = copy_file(c->self_path, path, half ? st.st_size / 2 : -1);
	if (!CHECK(ret == 0, "copying the image: %s", strerror(-ret)))
		return;
	if (flip >= 0) {
		ret = flip_byte(path, flip);
		if (!CHECK(ret == 0, "flipping byte %lld: %s", (long long)flip,
			   strerror(-ret)))
			return;
	}
	memset(&err, 0, sizeof(err));
	ret = spice_image_open(path, &im, &err);
	if (ret == 0)
		spice_image_close(im);
	CHECK(ret == want, "spice_image_open: %d (%s), want %s; code %d: %s",
	      ret, ret ? strerror(-ret) : "success", want_name, err.code,
	      err.msg);
	CHECK(ret == 0 || err.msg[0], "no error message");
	if (ret)
		diag("%s: %s", name, err.msg);
}

static void t_truncated(struct ctx *c)
{
	damaged(c, "truncated.img", true, -1, -EINVAL, "-EINVAL");
}

static void t_bad_magic(struct ctx *c)
{
	damaged(c, "bad-magic.img", false, 0, -ENOEXEC, "-ENOEXEC");
}

static void t_bad_header(struct ctx *c)
{
	damaged(c, "bad-header.img", false,
		offsetof(struct snapshot_image_header, time_ns), -EBADMSG,
		"-EBADMSG");
}

/* ---- restore ---------------------------------------------------------------- */

/*
 * A forked child maps a file of its own, captures itself and exits; the
 * image, restored, writes a line to descriptor RST_MARK_FD -- which the
 * image does not have, the fd map provides it -- and exits with
 * RST_RESUMED_EXIT. The line says what the restored process is: the word
 * it had in its heap, the second word of the page it maps, its pid and its
 * descriptors from 3 up, which must be RST_MARK_FD alone (the caller's
 * others, spice_spawn()'s report pipe included, are not inherited).
 */
#define RST_MARK_FD		7
#define RST_RESUMED_EXIT	200
#define RST_WORD		"spice-restored"
#define RST_SEED		0x2e5707eULL

/* Exit codes of restore_in_child()'s child that are not an errno. */
#define RST_CHILD_ODD		199	/* a result that is not an errno */
#define RST_CHILD_NO_THREAD	198	/* pthread_create() failed */

/* Close every descriptor from 3 up. */
static void close_from_3(void)
{
	int fd;

	if (close_range(3, ~0U, 0))
		for (fd = 3; fd < 1024; fd++)
			close(fd);
}

/* The capturing child: never returns. */
__attribute__((noreturn))
static void restore_capturer(const struct ctx *c)
{
	const volatile uint64_t *page;
	char line[512], *heap;
	int fd, ret;
	size_t len;
	ssize_t n;

	close_from_3();
	fd = open(c->rst_data, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		_exit(RST_CHILD_ODD);
	page = mmap(NULL, psz, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	heap = malloc(64);
	if (page == MAP_FAILED || !heap)
		_exit(RST_CHILD_ODD);
	snprintf(heap, 64, "%s", RST_WORD);
	fd = open(c->rst_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		_exit(RST_CHILD_ODD);

	ret = spice_capture_self(fd, 0, NULL);
	if (ret == 0)
		_exit(0);
	if (ret != SPICE_RESUMED)
		_exit(ret < 0 && -ret < RST_CHILD_NO_THREAD ? -ret : RST_CHILD_ODD);

	/* Restored: a process of its own now. */
	len = (size_t)snprintf(line, sizeof(line), "resumed %s %llx pid %d fds",
			       heap, (unsigned long long)page[1], (int)getpid());
	for (fd = 3; fd < 1024 && len < sizeof(line) - 16; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			len += (size_t)snprintf(line + len, sizeof(line) - len,
						" %d", fd);
	len += (size_t)snprintf(line + len, sizeof(line) - len, "\n");
	/* Without an fd map there is no RST_MARK_FD, and no line. */
	n = write(RST_MARK_FD, line, len);
	(void)n;
	_exit(RST_RESUMED_EXIT);
}

/* The line the restored process @pid must write. */
static void rst_want(pid_t pid, char *buf, size_t size)
{
	snprintf(buf, size, "resumed %s %llx pid %d fds %d\n", RST_WORD,
		 (unsigned long long)pattern(RST_SEED, 0, 1), (int)pid,
		 RST_MARK_FD);
}

static void t_restore_capture(struct ctx *c)
{
	unsigned char *buf;
	int fd, status;
	ssize_t n;
	pid_t pid;

	snprintf(c->rst_path, sizeof(c->rst_path), "%s/restore.img", c->dir);
	snprintf(c->rst_data, sizeof(c->rst_data), "%s/restore.data", c->dir);
	buf = malloc(2 * psz);
	if (!CHECK(buf, "out of memory"))
		return;
	fill(buf, RST_SEED, 0);
	fill(buf + psz, RST_SEED, 1);
	fd = open(c->rst_data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	n = fd >= 0 ? write(fd, buf, 2 * psz) : -1;
	free(buf);
	if (fd >= 0)
		close(fd);
	if (!CHECK(n == (ssize_t)(2 * psz), "writing %s: %s", c->rst_data,
		   strerror(errno)))
		return;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (!CHECK(pid >= 0, "fork: %s", strerror(errno)))
		return;
	if (pid == 0)
		restore_capturer(c);
	if (!CHECK(waitpid(pid, &status, 0) == pid, "waitpid: %s",
		   strerror(errno)))
		return;
	if (!CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		   "the capturing child: status %#x (exit %d: %s)", status,
		   WIFEXITED(status) ? WEXITSTATUS(status) : -1,
		   WIFEXITED(status) && WEXITSTATUS(status) < RST_CHILD_NO_THREAD ?
		   strerror(WEXITSTATUS(status)) : "-"))
		return;
	c->rst_ok = true;
}

/* The image the capturing child wrote, open for reading, or -1. */
static int rst_open(const struct ctx *c)
{
	int fd;

	if (!CHECK(c->rst_ok, "no image: the capture failed"))
		return -1;
	fd = open(c->rst_path, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0, "%s: %s", c->rst_path, strerror(errno));
	return fd;
}

/* Everything from @fd until end of file, NUL-terminated, into @buf. */
static void read_all(int fd, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;

	while (len < size - 1) {
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
}

/* The line of the restored process @pid is the one it must write. */
static void check_line(pid_t pid, const char *got)
{
	char want[512];

	rst_want(pid, want, sizeof(want));
	CHECK(!strcmp(got, want), "the restored process wrote '%.*s', want '%.*s'",
	      (int)strcspn(got, "\n"), got, (int)strcspn(want, "\n"), want);
}

/*
 * The restored process @pid: its line, read from @rfd to end of file (it
 * holds the only write end), and its exit status.
 */
static void check_restored(pid_t pid, int rfd)
{
	char got[512];
	int status;

	read_all(rfd, got, sizeof(got));
	check_line(pid, got);
	if (!CHECK(waitpid(pid, &status, 0) == pid, "waitpid(%d): %s",
		   (int)pid, strerror(errno)))
		return;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == RST_RESUMED_EXIT,
	      "the restored process: status %#x, want exit %d", status,
	      RST_RESUMED_EXIT);
}

/*
 * spice_spawn() of the image with @flags: a child that is the restored
 * process, or a skip if the kernel does not do @flags yet.
 */
static void spawn_restored(const struct ctx *c, uint64_t flags,
			   const char *flag_name)
{
	struct spice_fd_map map;
	int fd, p[2];
	pid_t pid;

	fd = rst_open(c);
	if (fd < 0)
		return;
	if (!CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno))) {
		close(fd);
		return;
	}
	map.image_fd = RST_MARK_FD;
	map.caller_fd = p[1];
	pid = spice_spawn(fd, flags, &map, 1);
	close(p[1]);
	close(fd);
	if (pid == -EOPNOTSUPP && flags) {
		skip("%s: not implemented by this kernel (EOPNOTSUPP)",
		     flag_name);
	} else if (CHECK(pid > 0, "spice_spawn(%s): %d (%s)", flag_name,
			 (int)pid, strerror(-pid))) {
		check_restored(pid, p[0]);
	}
	close(p[0]);
}

static void t_spawn(struct ctx *c)
{
	spawn_restored(c, 0, "no flags");
}

static void t_spawn_share_cache(struct ctx *c)
{
	spawn_restored(c, SPICE_RESTORE_SHARE_CACHE,
		       "SPICE_RESTORE_SHARE_CACHE");
}

static void t_spawn_lazy(struct ctx *c)
{
	spawn_restored(c, SPICE_RESTORE_LAZY, "SPICE_RESTORE_LAZY");
}

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

/*
 * spice_restore() in a forked child, with a second thread if @threaded.
 * Returns its result, or 1 if the child was restored; -EPROTO, with a
 * diagnostic, for anything else. If @rfd is not negative, the restored
 * process's line is read from it (after @wfd, the write end, is closed
 * here) and checked.
 */
static int restore_in_child(int image_fd, const struct spice_fd_map *map,
			    unsigned int nr_map, bool threaded, int rfd,
			    int wfd)
{
	char got[512] = "";
	pthread_t thread;
	int status, ret;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		diag("fork: %s", strerror(errno));
		return -EPROTO;
	}
	if (pid == 0) {
		if (threaded && pthread_create(&thread, NULL, sleeper, NULL))
			_exit(RST_CHILD_NO_THREAD);
		ret = spice_restore(image_fd, 0, map, nr_map);
		_exit(ret < 0 && -ret < RST_CHILD_NO_THREAD ? -ret :
		      RST_CHILD_ODD);
	}
	if (wfd >= 0)
		close(wfd);
	if (rfd >= 0)
		read_all(rfd, got, sizeof(got));
	if (waitpid(pid, &status, 0) != pid) {
		diag("waitpid: %s", strerror(errno));
		return -EPROTO;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == RST_RESUMED_EXIT) {
		if (rfd >= 0)
			check_line(pid, got);
		return 1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) > 0 &&
	    WEXITSTATUS(status) < RST_CHILD_NO_THREAD)
		return -WEXITSTATUS(status);
	diag("the restoring child: status %#x", status);
	return -EPROTO;
}

static void t_restore_exec(struct ctx *c)
{
	struct spice_fd_map map;
	int fd, p[2], ret;

	fd = rst_open(c);
	if (fd < 0)
		return;
	if (!CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno))) {
		close(fd);
		return;
	}
	map.image_fd = RST_MARK_FD;
	map.caller_fd = p[1];
	ret = restore_in_child(fd, &map, 1, false, p[0], p[1]);
	CHECK(ret == 1, "spice_restore: %d (%s)", ret, strerror(-ret));
	close(p[0]);
	close(fd);
}

static void t_restore_threads(struct ctx *c)
{
	int fd, ret;

	fd = rst_open(c);
	if (fd < 0)
		return;
	ret = restore_in_child(fd, NULL, 0, true, -1, -1);
	CHECK(ret == -EBUSY, "spice_restore with two threads: %d (%s), want -EBUSY",
	      ret, ret == 1 ? "restored" : strerror(-ret));
	close(fd);
}

/* A restore the kernel refuses, in a forked child: -@want. */
static void refused(int image_fd, const struct spice_fd_map *map,
		    unsigned int nr_map, int want, const char *what)
{
	int ret = restore_in_child(image_fd, map, nr_map, false, -1, -1);

	CHECK(ret == -want, "%s: spice_restore: %d (%s), want -%d (%s)", what,
	      ret, ret == 1 ? "restored" : strerror(-ret), want,
	      strerror(want));
}

static void t_restore_refused(struct ctx *c)
{
	struct spice_fd_map map = { .image_fd = 3, .caller_fd = -1 };
	char path[PATH_MAX];
	int fd, bad, ret;

	fd = rst_open(c);
	if (fd < 0)
		return;

	/* A caller fd the map names, not open: the kernel's -EBADF. */
	bad = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (CHECK(bad >= 0, "/dev/null: %s", strerror(errno))) {
		close(bad);
		map.caller_fd = bad;
		refused(fd, &map, 1, EBADF, "a caller fd not open");
	}

	/* The image open for writing only. */
	bad = open(c->rst_path, O_WRONLY | O_CLOEXEC);
	if (CHECK(bad >= 0, "%s: %s", c->rst_path, strerror(errno))) {
		refused(bad, NULL, 0, EBADF, "the image open for writing");
		close(bad);
	}

	/* Not a regular file. */
	bad = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (CHECK(bad >= 0, "%s: %s", c->dir, strerror(errno))) {
		refused(bad, NULL, 0, EINVAL, "a directory");
		close(bad);
	}

	/* Not an image. */
	bad = open(c->rst_data, O_RDONLY | O_CLOEXEC);
	if (CHECK(bad >= 0, "%s: %s", c->rst_data, strerror(errno))) {
		refused(bad, NULL, 0, ENOEXEC, "a file that is not an image");
		close(bad);
	}

	/* A copy whose header changed: only the checksum tells. */
	snprintf(path, sizeof(path), "%s/restore-bad.img", c->dir);
	ret = copy_file(c->rst_path, path, -1);
	if (CHECK(ret == 0, "copying the image: %s", strerror(-ret))) {
		ret = flip_byte(path, offsetof(struct snapshot_image_header,
					       time_ns));
		bad = ret ? -1 : open(path, O_RDONLY | O_CLOEXEC);
		if (CHECK(bad >= 0, "%s: %s", path,
			  strerror(ret ? -ret : errno))) {
			refused(bad, NULL, 0, EBADMSG,
				"an image with its header changed");
			close(bad);
		}
	}
	close(fd);
}

/*
 * The file the image maps changes (its modification time): the restore is
 * refused with -ESTALE, by spice_spawn() (reported by its child) and by
 * spice_restore(). Last: the image cannot be restored any more.
 */
static void t_restore_stale(struct ctx *c)
{
	const struct timespec when[2] = {
		{ .tv_sec = 1000000000, .tv_nsec = 0 },
		{ .tv_sec = 1000000000, .tv_nsec = 0 },
	};
	int fd, ret;
	pid_t pid;

	fd = rst_open(c);
	if (fd < 0)
		return;
	if (CHECK(utimensat(AT_FDCWD, c->rst_data, when, 0) == 0,
		  "utimensat(%s): %s", c->rst_data, strerror(errno))) {
		pid = spice_spawn(fd, 0, NULL, 0);
		CHECK(pid == -ESTALE, "spice_spawn: %d (%s), want -ESTALE",
		      (int)pid, pid > 0 ? "a child" : strerror(-pid));
		if (pid > 0)
			reap(pid);
		CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD,
		      "spice_spawn left a child behind");
		ret = restore_in_child(fd, NULL, 0, false, -1, -1);
		CHECK(ret == -ESTALE, "spice_restore: %d (%s), want -ESTALE",
		      ret, ret == 1 ? "restored" : strerror(-ret));
	}
	close(fd);
}

static const struct test {
	void (*fn)(struct ctx *c);
	const char *name;
} tests[] = {
	{ t_capture_self, "spice_capture_self() of the process returns 0" },
	{ t_open_self, "spice_image_open() accepts the kernel's image of the process" },
	{ t_header, "header: self image of this arch and page size, sizes agree" },
	{ t_all_extents, "spice_image_read_data() reads every extent in full" },
	{ t_anon_vma, "private anonymous mapping: its VMA, kind, prot and flags" },
	{ t_anon_data, "private anonymous mapping: written pages stored as in memory" },
	{ t_anon_zero, "private anonymous mapping: zero and untouched pages not stored" },
	{ t_file_vma, "private file mapping: its VMA names the file, offset" },
	{ t_file_data, "private file mapping: the private copies stored, zeroed one too" },
	{ t_shm, "shared anonymous mapping: SHMEM VMA, pages stored, zero pages not" },
	{ t_fds, "fds: 0-2 STDIO, the open file, not the image being written" },
	{ t_task, "task: comm, cwd, exe, umask" },
	{ t_regs, "regs: ax is SNAPSHOT_RESUMED, sp in the stack" },
	{ t_mm, "mm and auxv: stack, vDSO, AT_PAGESZ" },
	{ t_signals_rlimits, "signal dispositions and resource limits" },
	{ t_ws_capture, "SNAPSHOT_CAPTURE_WORKING_SET after clear_refs: captured, opens" },
	{ t_ws_extents, "working set: the touched pages, and only they, in ws extents" },
	{ t_pid_stopped, "spice_capture_pid() of a stopped child: 0, the image opens" },
	{ t_pid_image, "the child's image: not self, its comm, its memory" },
	{ t_pid_running, "spice_capture_pid() of a child not stopped: -EBUSY" },
	{ t_pid_socket, "spice_capture_pid() of a child holding a socket: -EOPNOTSUPP, fd_socket" },
	{ t_truncated, "a truncated copy of the image: -EINVAL" },
	{ t_bad_magic, "a copy with a byte of the magic flipped: -ENOEXEC" },
	{ t_bad_header, "a copy with a byte of the header flipped: -EBADMSG" },
	{ t_restore_capture, "restore: a child that maps a file captures itself" },
	{ t_spawn, "spice_spawn() of the image: the restored child writes to the mapped fd, exits" },
	{ t_spawn_share_cache, "spice_spawn() with SPICE_RESTORE_SHARE_CACHE: the same" },
	{ t_spawn_lazy, "spice_spawn() with SPICE_RESTORE_LAZY: the same" },
	{ t_restore_exec, "spice_restore() in a child: it becomes the image's process, same pid" },
	{ t_restore_threads, "spice_restore() with another thread: -EBUSY" },
	{ t_restore_refused, "spice_restore(): the kernel's -EBADF, -EINVAL, -ENOEXEC, -EBADMSG" },
	{ t_restore_stale, "a file the image maps changed: spice_spawn() and spice_restore() -ESTALE" },
};

static bool writable_dir(const char *dir)
{
	struct stat st;

	return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
	       access(dir, W_OK | X_OK) == 0;
}

int main(int argc, char **argv)
{
	struct ctx c;
	const char *dir = NULL;
	size_t i;
	int ret;

	memset(&c, 0, sizeof(c));
	c.self_ret = c.ws_ret = -1;
	c.data_fd = c.self_fd = -1;
	for (i = 1; i < (size_t)argc; i++) {
		if (!strcmp(argv[i], "--dir") && i + 1 < (size_t)argc) {
			dir = argv[++i];
		} else if (!strcmp(argv[i], "--keep") && i + 1 < (size_t)argc) {
			c.keep = argv[++i];
		} else {
			fprintf(stderr, "usage: guest_test [--dir DIR] [--keep DIR]\n");
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	psz = (size_t)sysconf(_SC_PAGESIZE);

	printf("TAP version 13\n1..%zu\n", ARRAY_SIZE(tests));
	ret = spice_supported();
	if (ret != 1) {
		for (i = 0; i < ARRAY_SIZE(tests); i++)
			printf("ok %zu - guest_test: %s # SKIP %s\n", i + 1,
			       tests[i].name, ret == 0 ?
			       "the kernel lacks the Spice snapshot interface" :
			       strerror(-ret));
		return KSFT_SKIP;
	}

	if (!dir)
		dir = writable_dir("/scratch") ? "/scratch" : "/tmp";
	if (strlen(dir) > sizeof(c.dir) - 32) {
		printf("Bail out! directory name too long: %s\n", dir);
		return 1;
	}
	snprintf(c.dir, sizeof(c.dir), "%s/guest_test.%d", dir, (int)getpid());
	if (mkdir(c.dir, 0755)) {
		printf("Bail out! mkdir %s: %s\n", c.dir, strerror(errno));
		return 1;
	}
	printf("# images in %s\n", c.dir);

	/*
	 * Only the descriptors the test opens: whatever the caller leaves
	 * open (a pipe, say) would make every capture fail.
	 */
	if (close_range(3, ~0U, 0))
		for (ret = 3; ret < 1024; ret++)
			close(ret);

	for (i = 0; i < ARRAY_SIZE(tests); i++) {
		tests[i].fn(&c);
		report((int)i + 1, tests[i].name);
	}

	spice_image_close(c.self);
	spice_image_close(c.wsimg);
	spice_image_close(c.timg);
	if (c.self_fd >= 0)
		close(c.self_fd);
	printf("# %d of %zu failed\n", nr_failed, ARRAY_SIZE(tests));
	return nr_failed ? 1 : 0;
}
