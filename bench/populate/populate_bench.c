// SPDX-License-Identifier: GPL-2.0
/*
 * populate_bench: how fast mmap_populate_image() fills private memory from
 * an image file, next to the ways user space can do it today, and next to
 * the disk (O_DIRECT) and memory (memcpy) limits.
 *
 * Every method ends with the same result: a private mapping of SIZE bytes
 * whose contents follow the layout (the extents), with every page present.
 * The timed region is the mapping, the population and one touch of every
 * page (a read of one byte; a read and write-back with --touch write), so a
 * lazy method pays for its faults inside the timing. Dropping or warming
 * the page cache, munmap() and verification are outside it.
 *
 * See README.md for how to run it and how to read the table.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <linux/snapshot.h>
#include <linux/userfaultfd.h>
#include <liburing.h>

#ifndef __NR_mmap_populate_image
#if defined(__x86_64__)
#define __NR_mmap_populate_image 465
#else
#error "mmap_populate_image: system call number unknown on this architecture"
#endif
#endif

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define SPICE_VERSION_FILE	"/sys/kernel/snapshot/version"
#define DROP_CACHES_FILE	"/proc/sys/vm/drop_caches"
#define IMAGE_NAME		"populate_bench.img"

#define NR_PIECES	256		/* extents of the scattered layout */
#define IO_CHUNK	(1UL << 20)	/* largest read request */
#define URING_QD	64		/* io_uring requests kept in flight */
#define MAX_SIZE_MIB	(1UL << 20)

/* ---------------------------------------------------------------------- */
/* Options and global state                                               */

static const char *opt_dir = "/scratch";
static unsigned long opt_size_mib = 64;
static unsigned int opt_reps = 5;
static const char *opt_json;
static bool opt_no_spice;
static bool opt_touch_write;

static size_t pg;		/* page size */
static size_t size;		/* image size in bytes */
static char image_path[PATH_MAX];
static int img_fd = -1;
static bool image_created;

/* Two SIZE buffers, populated once: warm-up reads, O_DIRECT, memcpy. */
static unsigned char *buf_a, *buf_b;

static volatile unsigned long touch_sink;

static void remove_image(void)
{
	if (image_created)
		unlink(image_path);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("populate_bench: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts))
		die("clock_gettime: %s", strerror(errno));
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---------------------------------------------------------------------- */
/* The image and its layouts                                              */

/*
 * The 8-byte word at byte offset @off of the image: the 4 KiB page index
 * and the word index mixed together, never a run of zeros.
 */
static uint64_t pattern(uint64_t off)
{
	uint64_t page = off >> 12, word = (off & 4095) >> 3;

	return (page * 0x100000001b3ULL) ^ (word << 48) ^ 0xc3a5c85c97cb3127ULL;
}

struct layout {
	const char *name;
	struct mmap_populate_extent *ext;	/* sorted by target_off */
	unsigned int n;
};

static struct layout layouts[2];
#define NR_LAYOUTS 2

static void make_layouts(void)
{
	size_t piece = size / NR_PIECES;
	struct mmap_populate_extent *e;
	unsigned int slot, file_piece;

	e = calloc(1, sizeof(*e));
	if (!e)
		die("out of memory");
	e->target_off = 0;
	e->len = size;
	e->file_off = 0;
	e->kind = MMAP_POPULATE_EXTENT_DATA;
	layouts[0] = (struct layout){ "single", e, 1 };

	/*
	 * File piece i goes to target slot (97 * i + 31) mod 256: 97 is odd,
	 * so this is a permutation, and neighbours in the file land far
	 * apart. Listing the slots in order gives extents sorted by
	 * target_off whose file offsets jump around.
	 */
	e = calloc(NR_PIECES, sizeof(*e));
	if (!e)
		die("out of memory");
	for (file_piece = 0; file_piece < NR_PIECES; file_piece++) {
		slot = (97 * file_piece + 31) % NR_PIECES;
		e[slot].target_off = (uint64_t)slot * piece;
		e[slot].len = piece;
		e[slot].file_off = (uint64_t)file_piece * piece;
		e[slot].kind = MMAP_POPULATE_EXTENT_DATA;
	}
	layouts[1] = (struct layout){ "scattered", e, NR_PIECES };
}

/* The extent of @L holding target offset @off (the extents cover all). */
static const struct mmap_populate_extent *find_extent(const struct layout *L,
						      uint64_t off)
{
	unsigned int lo = 0, hi = L->n;

	while (hi - lo > 1) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (L->ext[mid].target_off <= off)
			lo = mid;
		else
			hi = mid;
	}
	return &L->ext[lo];
}

static void pwrite_full(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;
	ssize_t r;

	while (len) {
		r = pwrite(fd, p, len, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("write %s: %s", image_path,
			    r < 0 ? strerror(errno) : "short write");
		p += r;
		len -= r;
		off += r;
	}
}

/* Read exactly @len bytes at @off; a short file is an error. */
static void pread_full(int fd, void *buf, size_t len, off_t off)
{
	char *p = buf;
	ssize_t r;

	while (len) {
		r = pread(fd, p, len, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("read %s at %lld: %s", image_path, (long long)off,
			    r < 0 ? strerror(errno) : "unexpected end of file");
		p += r;
		len -= r;
		off += r;
	}
}

static void create_image(void)
{
	size_t chunk = IO_CHUNK, off, i;
	uint64_t *buf;

	if (snprintf(image_path, sizeof(image_path), "%s/%s", opt_dir,
		     IMAGE_NAME) >= (int)sizeof(image_path))
		die("--dir too long");
	img_fd = open(image_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (img_fd < 0)
		die("create %s: %s", image_path, strerror(errno));
	image_created = true;
	buf = malloc(chunk);
	if (!buf)
		die("out of memory");
	for (off = 0; off < size; off += chunk) {
		for (i = 0; i < chunk / 8; i++)
			buf[i] = pattern(off + i * 8);
		pwrite_full(img_fd, buf, chunk, off);
	}
	free(buf);
	if (fsync(img_fd))
		die("fsync %s: %s", image_path, strerror(errno));
}

/* ---------------------------------------------------------------------- */
/* Cache states, touching and verification                                */

enum cache { COLD, WARM };
#define NR_CACHES 2
static const char *const cache_names[NR_CACHES] = { "cold", "warm" };

static void drop_caches(void)
{
	int fd;

	if (fsync(img_fd))
		die("fsync %s: %s", image_path, strerror(errno));
	sync();
	fd = open(DROP_CACHES_FILE, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		die("open %s: %s (cold runs need root)", DROP_CACHES_FILE,
		    strerror(errno));
	if (write(fd, "3\n", 2) != 2)
		die("write %s: %s", DROP_CACHES_FILE, strerror(errno));
	close(fd);
}

static void set_cache_state(enum cache c)
{
	if (c == COLD)
		drop_caches();
	else
		pread_full(img_fd, buf_a, size, 0);	/* into the page cache */
}

/* Touch every page of [mem, mem + len): the end of every timed region. */
static void touch_pages(unsigned char *mem, size_t len)
{
	volatile unsigned char *p = mem;
	unsigned long sum = 0;
	size_t i;

	if (opt_touch_write) {
		for (i = 0; i < len; i += pg)
			p[i] = p[i];
	} else {
		for (i = 0; i < len; i += pg)
			sum += p[i];
		touch_sink = sum;
	}
}

static uint64_t load64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static void check_word(const char *what, const unsigned char *mem,
		       uint64_t target, uint64_t file)
{
	uint64_t got = load64(mem + target), want = pattern(file);

	if (got != want)
		die("%s: wrong contents at offset %#" PRIx64 " (file offset %#"
		    PRIx64 "): %#" PRIx64 ", expected %#" PRIx64,
		    what, target, file, got, want);
}

/*
 * Check the first word and one other word of every page of a mapping that
 * should hold layout @L (the other word moves around from page to page).
 */
static void verify_layout(const char *what, const unsigned char *mem,
			  const struct layout *L)
{
	uint64_t p, w, covered = 0;
	unsigned int i;

	for (i = 0; i < L->n; i++) {
		const struct mmap_populate_extent *e = &L->ext[i];

		for (p = 0; p < e->len; p += pg) {
			w = (((p / pg) * 131 + 7) % (pg / 8)) * 8;
			check_word(what, mem, e->target_off + p,
				   e->file_off + p);
			check_word(what, mem, e->target_off + p + w,
				   e->file_off + p + w);
		}
		covered += e->len;
	}
	if (covered != size)
		die("%s: layout covers %" PRIu64 " of %zu bytes", what,
		    covered, size);
}

/* The same for a buffer holding the whole file in file order. */
static void verify_file_order(const char *what, const unsigned char *mem)
{
	struct mmap_populate_extent whole = {
		.target_off = 0, .len = size, .file_off = 0,
	};
	struct layout L = { "file", &whole, 1 };

	verify_layout(what, mem, &L);
}

/* ---------------------------------------------------------------------- */
/* Methods                                                                */

/* What one run of a method leaves behind. */
struct outcome {
	unsigned char *mem;	/* the result, for verification */
	size_t unmap_len;	/* munmap(mem, unmap_len) afterwards, if set */
	double ms;		/* the timed region */
	const char *na;		/* set when the method is not available */
};

static unsigned char *map_anon(size_t len, int prot, int extra)
{
	void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | extra,
		       -1, 0);

	if (p == MAP_FAILED)
		die("mmap anonymous %zu bytes: %s", len, strerror(errno));
	return p;
}

static long populate_image(struct mmap_populate_args *args)
{
	return syscall(__NR_mmap_populate_image, args, sizeof(*args));
}

static void spice_args(struct mmap_populate_args *a, const struct layout *L,
		       uint64_t flags)
{
	memset(a, 0, sizeof(*a));
	a->flags = flags;
	a->len = size;
	a->extents = (uintptr_t)L->ext;
	a->nr_extents = L->n;
	a->extent_size = sizeof(struct mmap_populate_extent);
	a->prot = PROT_READ | PROT_WRITE;
	a->fd = img_fd;
}

/* Copy mode: one call creates the mapping and fills it. */
static void m_spice_copy(const struct layout *L, struct outcome *o)
{
	struct mmap_populate_args a;
	double t0;
	long r;

	spice_args(&a, L, 0);
	t0 = now_ms();
	r = populate_image(&a);
	if (r == -1)
		die("mmap_populate_image (copy): %s", strerror(errno));
	touch_pages((unsigned char *)r, size);
	o->ms = now_ms() - t0;
	o->mem = (unsigned char *)r;
	o->unmap_len = size;
}

/* Share-cache mode: page-cache pages mapped copy-on-write. */
static void m_spice_share(const struct layout *L, struct outcome *o)
{
	struct mmap_populate_args a;
	double t0;
	long r;

	spice_args(&a, L, MMAP_POPULATE_SHARE_CACHE);
	t0 = now_ms();
	r = populate_image(&a);
	if (r == -1 && errno == EOPNOTSUPP) {
		o->na = "n/a (EOPNOTSUPP)";
		return;
	}
	if (r == -1)
		die("mmap_populate_image (share cache): %s", strerror(errno));
	touch_pages((unsigned char *)r, size);
	o->ms = now_ms() - t0;
	o->mem = (unsigned char *)r;
	o->unmap_len = size;
}

/* Fill mode: an anonymous mapping first, then filled in place. */
static void m_spice_fill(const struct layout *L, struct outcome *o)
{
	struct mmap_populate_args a;
	unsigned char *mem;
	double t0;
	long r;

	spice_args(&a, L, MMAP_POPULATE_FILL);
	a.prot = 0;
	t0 = now_ms();
	mem = map_anon(size, PROT_READ | PROT_WRITE, 0);
	a.addr = (uintptr_t)mem;
	r = populate_image(&a);
	if (r == -1)
		die("mmap_populate_image (fill): %s", strerror(errno));
	touch_pages(mem, size);
	o->ms = now_ms() - t0;
	o->mem = mem;
	o->unmap_len = size;
}

/*
 * Private file mappings of every extent, at their target offsets inside a
 * reserved PROT_NONE region; @map_flags is MAP_POPULATE or 0, @advice a
 * MADV_POPULATE_* advice applied to each extent afterwards, or 0.
 */
static void file_mappings(const struct layout *L, struct outcome *o,
			  int map_flags, int advice)
{
	unsigned char *base;
	unsigned int i;
	double t0;

	t0 = now_ms();
	base = map_anon(size, PROT_NONE, MAP_NORESERVE);
	for (i = 0; i < L->n; i++) {
		const struct mmap_populate_extent *e = &L->ext[i];

		if (mmap(base + e->target_off, e->len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_FIXED | map_flags, img_fd,
			 e->file_off) == MAP_FAILED)
			die("mmap of the image: %s", strerror(errno));
	}
	if (advice) {
		for (i = 0; i < L->n; i++) {
			const struct mmap_populate_extent *e = &L->ext[i];

			if (madvise(base + e->target_off, e->len, advice))
				die("madvise(MADV_POPULATE_%s): %s",
				    advice == MADV_POPULATE_READ ? "READ" :
				    "WRITE", strerror(errno));
		}
	}
	touch_pages(base, size);
	o->ms = now_ms() - t0;
	o->mem = base;
	o->unmap_len = size;
}

static void m_map_populate(const struct layout *L, struct outcome *o)
{
	file_mappings(L, o, MAP_POPULATE, 0);
}

static void m_madv_read(const struct layout *L, struct outcome *o)
{
	file_mappings(L, o, 0, MADV_POPULATE_READ);
}

static void m_madv_write(const struct layout *L, struct outcome *o)
{
	file_mappings(L, o, 0, MADV_POPULATE_WRITE);
}

static void m_pread_anon(const struct layout *L, struct outcome *o)
{
	unsigned char *mem;
	unsigned int i;
	double t0;

	t0 = now_ms();
	mem = map_anon(size, PROT_READ | PROT_WRITE, 0);
	for (i = 0; i < L->n; i++)
		pread_full(img_fd, mem + L->ext[i].target_off, L->ext[i].len,
			   L->ext[i].file_off);
	touch_pages(mem, size);
	o->ms = now_ms() - t0;
	o->mem = mem;
	o->unmap_len = size;
}

/* io_uring: one ring for the whole run, set up outside the timing. */
static struct io_uring ring;
static int ring_state;		/* 0 not tried, 1 ready, -errno unavailable */

struct uring_req {
	uint64_t target_off, file_off;
	uint32_t len, done;
};

static void m_io_uring_anon(const struct layout *L, struct outcome *o)
{
	struct uring_req *req;
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	size_t nreq = 0, i, *queue, head = 0, tail = 0, queued;
	size_t completed = 0, inflight = 0;
	unsigned char *mem;
	uint64_t off;
	unsigned int e;
	double t0;
	int r;

	if (!ring_state) {
		r = io_uring_queue_init(URING_QD, &ring, 0);
		ring_state = r ? r : 1;
	}
	if (ring_state == -ENOSYS || ring_state == -EPERM) {
		o->na = ring_state == -ENOSYS ? "n/a (ENOSYS)" : "n/a (EPERM)";
		return;
	}
	if (ring_state < 0)
		die("io_uring_queue_init: %s", strerror(-ring_state));

	/* The requests: every extent in pieces of at most IO_CHUNK. */
	for (e = 0; e < L->n; e++)
		nreq += (L->ext[e].len + IO_CHUNK - 1) / IO_CHUNK;
	req = calloc(nreq, sizeof(*req));
	queue = calloc(nreq, sizeof(*queue));
	if (!req || !queue)
		die("out of memory");
	for (e = 0, i = 0; e < L->n; e++) {
		for (off = 0; off < L->ext[e].len; off += IO_CHUNK, i++) {
			req[i].target_off = L->ext[e].target_off + off;
			req[i].file_off = L->ext[e].file_off + off;
			req[i].len = L->ext[e].len - off < IO_CHUNK ?
				     L->ext[e].len - off : IO_CHUNK;
			queue[i] = i;
		}
	}
	tail = queued = nreq;	/* every request waits in the queue */

	t0 = now_ms();
	mem = map_anon(size, PROT_READ | PROT_WRITE, 0);
	while (completed < nreq) {
		/* Keep URING_QD requests in flight. */
		while (queued && inflight < URING_QD) {
			struct uring_req *q = &req[queue[head]];

			sqe = io_uring_get_sqe(&ring);
			if (!sqe)
				break;
			io_uring_prep_read(sqe, img_fd,
					   mem + q->target_off + q->done,
					   q->len - q->done,
					   q->file_off + q->done);
			io_uring_sqe_set_data64(sqe, queue[head]);
			head = (head + 1) % nreq;
			queued--;
			inflight++;
		}
		r = io_uring_submit_and_wait(&ring, 1);
		if (r < 0)
			die("io_uring_submit_and_wait: %s", strerror(-r));
		while (io_uring_peek_cqe(&ring, &cqe) == 0) {
			size_t idx = io_uring_cqe_get_data64(cqe);
			struct uring_req *q = &req[idx];
			int res = cqe->res;

			io_uring_cqe_seen(&ring, cqe);
			inflight--;
			if (res < 0)
				die("io_uring read at %" PRIu64 ": %s",
				    q->file_off + q->done, strerror(-res));
			if (res == 0)
				die("io_uring read at %" PRIu64
				    ": unexpected end of file",
				    q->file_off + q->done);
			q->done += res;
			if (q->done < q->len) {
				/* Short read: queue the rest again. */
				queue[tail] = idx;
				tail = (tail + 1) % nreq;
				queued++;
			} else {
				completed++;
			}
		}
	}
	touch_pages(mem, size);
	o->ms = now_ms() - t0;
	o->mem = mem;
	o->unmap_len = size;
	free(req);
	free(queue);
}

/*
 * userfaultfd: a handler thread answers each missing-page fault with
 * UFFDIO_COPY of that one page, read from the image with pread(). One page
 * per fault is what fault-driven restorers do (and what the kernel's own
 * fault path does); the main thread's touch of every page drives it.
 */
static int uffd = -1, uffd_stop = -1;
static int uffd_state;		/* 0 not tried, 1 ready, -errno unavailable */
static pthread_t uffd_thread;
static unsigned char *uffd_page;
static uintptr_t uffd_base;			/* atomic */
static const struct layout *uffd_layout;	/* atomic */

static void uffd_serve(const struct uffd_msg *msg)
{
	uintptr_t base = __atomic_load_n(&uffd_base, __ATOMIC_ACQUIRE);
	const struct layout *L = __atomic_load_n(&uffd_layout,
						 __ATOMIC_ACQUIRE);
	uint64_t addr = msg->arg.pagefault.address & ~(uint64_t)(pg - 1);
	const struct mmap_populate_extent *e;
	struct uffdio_copy copy;
	uint64_t off;

	if (msg->event != UFFD_EVENT_PAGEFAULT)
		die("userfaultfd: unexpected event %u", msg->event);
	if (!L || addr < base || addr >= base + size)
		die("userfaultfd: fault at %#" PRIx64 " outside the region",
		    addr);
	off = addr - base;
	e = find_extent(L, off);
	pread_full(img_fd, uffd_page, pg, e->file_off + (off - e->target_off));
	memset(&copy, 0, sizeof(copy));
	copy.dst = addr;
	copy.src = (uintptr_t)uffd_page;
	copy.len = pg;
	if (ioctl(uffd, UFFDIO_COPY, &copy) && errno != EEXIST)
		die("UFFDIO_COPY: %s", strerror(errno));
}

static void *uffd_main(void *arg)
{
	struct uffd_msg msg[16];
	struct pollfd pfd[2];
	ssize_t r, i;

	(void)arg;
	pfd[0] = (struct pollfd){ .fd = uffd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = uffd_stop, .events = POLLIN };
	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll userfaultfd: %s", strerror(errno));
		}
		if (pfd[1].revents)
			return NULL;
		if (!(pfd[0].revents & POLLIN))
			continue;
		r = read(uffd, msg, sizeof(msg));
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			die("read userfaultfd: %s", strerror(errno));
		}
		for (i = 0; i < r / (ssize_t)sizeof(msg[0]); i++)
			uffd_serve(&msg[i]);
	}
}

static int uffd_setup(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	int err;

	uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0)
		return -errno;
	if (ioctl(uffd, UFFDIO_API, &api))
		die("UFFDIO_API: %s", strerror(errno));
	uffd_stop = eventfd(0, EFD_CLOEXEC);
	if (uffd_stop < 0)
		die("eventfd: %s", strerror(errno));
	uffd_page = map_anon(pg, PROT_READ | PROT_WRITE, MAP_POPULATE);
	err = pthread_create(&uffd_thread, NULL, uffd_main, NULL);
	if (err)
		die("pthread_create: %s", strerror(err));
	return 1;
}

static void uffd_teardown(void)
{
	uint64_t one = 1;
	int err;

	if (uffd_state != 1)
		return;
	if (write(uffd_stop, &one, sizeof(one)) != sizeof(one))
		die("eventfd write: %s", strerror(errno));
	err = pthread_join(uffd_thread, NULL);
	if (err)
		die("pthread_join: %s", strerror(err));
	close(uffd);
	close(uffd_stop);
	munmap(uffd_page, pg);
	uffd_state = 0;
}

static void m_uffd_copy(const struct layout *L, struct outcome *o)
{
	struct uffdio_register reg;
	unsigned char *mem;
	double t0;

	if (!uffd_state)
		uffd_state = uffd_setup();
	if (uffd_state == -ENOSYS) {
		o->na = "n/a (no userfaultfd)";
		return;
	}
	if (uffd_state < 0)
		die("userfaultfd: %s", strerror(-uffd_state));

	__atomic_store_n(&uffd_layout, L, __ATOMIC_RELEASE);
	t0 = now_ms();
	mem = map_anon(size, PROT_READ | PROT_WRITE, 0);
	__atomic_store_n(&uffd_base, (uintptr_t)mem, __ATOMIC_RELEASE);
	memset(&reg, 0, sizeof(reg));
	reg.range.start = (uintptr_t)mem;
	reg.range.len = size;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		die("UFFDIO_REGISTER: %s", strerror(errno));
	if (!(reg.ioctls & (1ULL << _UFFDIO_COPY)))
		die("UFFDIO_REGISTER: UFFDIO_COPY not offered");
	touch_pages(mem, size);
	o->ms = now_ms() - t0;
	o->mem = mem;
	o->unmap_len = size;	/* munmap() unregisters the range */
}

/* The disk limit: sequential 1 MiB O_DIRECT reads of the whole image. */
static void m_odirect_limit(const struct layout *L, struct outcome *o)
{
	size_t off;
	double t0;
	ssize_t r;
	int fd;

	(void)L;
	fd = open(image_path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0 && errno == EINVAL) {
		o->na = "n/a (no O_DIRECT here)";
		return;
	}
	if (fd < 0)
		die("open %s O_DIRECT: %s", image_path, strerror(errno));
	t0 = now_ms();
	for (off = 0; off < size; off += r) {
		size_t len = size - off < IO_CHUNK ? size - off : IO_CHUNK;

		r = pread(fd, buf_a + off, len, off);
		if (r < 0 && errno == EINTR) {
			r = 0;
			continue;
		}
		if (r < 0 && errno == EINVAL && off == 0) {
			close(fd);
			o->na = "n/a (no O_DIRECT here)";
			return;
		}
		if (r <= 0)
			die("O_DIRECT read at %zu: %s", off,
			    r < 0 ? strerror(errno) : "unexpected end of file");
	}
	o->ms = now_ms() - t0;
	close(fd);
	o->mem = buf_a;		/* file order, no layout */
}

/* The memory limit: copy SIZE bytes between two populated buffers. */
static void m_memcpy_limit(const struct layout *L, struct outcome *o)
{
	double t0;

	(void)L;
	/* buf_a holds the image: the warm state read it there. */
	t0 = now_ms();
	memcpy(buf_b, buf_a, size);
	__asm__ __volatile__("" : : "r"(buf_b) : "memory");
	o->ms = now_ms() - t0;
	o->mem = buf_b;		/* file order, no layout */
}

enum kind { SPICE, ALT, LIMIT };
enum check { CHECK_LAYOUT, CHECK_FILE };

struct method {
	const char *name;
	void (*run)(const struct layout *L, struct outcome *o);
	enum kind kind;
	enum check check;
	bool warm_only;
};

static const struct method methods[] = {
	{ "spice_copy",		m_spice_copy,	 SPICE, CHECK_LAYOUT, false },
	{ "spice_share",	m_spice_share,	 SPICE, CHECK_LAYOUT, false },
	{ "spice_fill",		m_spice_fill,	 SPICE, CHECK_LAYOUT, false },
	{ "map_populate",	m_map_populate,	 ALT,	CHECK_LAYOUT, false },
	{ "madv_populate_read",	m_madv_read,	 ALT,	CHECK_LAYOUT, false },
	{ "madv_populate_write", m_madv_write,	 ALT,	CHECK_LAYOUT, false },
	{ "pread_anon",		m_pread_anon,	 ALT,	CHECK_LAYOUT, false },
	{ "io_uring_anon",	m_io_uring_anon, ALT,	CHECK_LAYOUT, false },
	{ "uffd_copy",		m_uffd_copy,	 ALT,	CHECK_LAYOUT, false },
	{ "odirect_limit",	m_odirect_limit, LIMIT, CHECK_FILE,   false },
	{ "memcpy_limit",	m_memcpy_limit,	 LIMIT, CHECK_FILE,   true },
};
#define NR_METHODS (sizeof(methods) / sizeof(methods[0]))

/* ---------------------------------------------------------------------- */
/* Results                                                                */

struct result {
	double *samples;
	unsigned int n;
	const char *status;	/* NULL: measured; else why not */
	bool skipped;		/* not run at all in this block */
	double median, min;
};

static struct result results[NR_LAYOUTS][NR_CACHES][NR_METHODS];

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void summarize(struct result *r)
{
	double *s;

	if (r->status || !r->n)
		return;
	s = malloc(r->n * sizeof(*s));
	if (!s)
		die("out of memory");
	memcpy(s, r->samples, r->n * sizeof(*s));
	qsort(s, r->n, sizeof(*s), cmp_double);
	r->min = s[0];
	r->median = r->n % 2 ? s[r->n / 2] :
		    (s[r->n / 2 - 1] + s[r->n / 2]) / 2;
	free(s);
}

static bool measured(const struct result *r)
{
	return !r->skipped && !r->status && r->n;
}

static int find_method(const char *name)
{
	unsigned int m;

	for (m = 0; m < NR_METHODS; m++)
		if (!strcmp(methods[m].name, name))
			return m;
	die("no method %s", name);
}

/*
 * The best (lowest median) user-space alternative of a block, or -1; with
 * @private_only, only those whose pages end up private copies (all but
 * madv_populate_read, which maps the page cache's own pages).
 */
static int best_alt(struct result *block, bool private_only)
{
	int best = -1;
	unsigned int m;

	for (m = 0; m < NR_METHODS; m++) {
		if (methods[m].kind != ALT || !measured(&block[m]))
			continue;
		if (private_only && !strcmp(methods[m].name,
					    "madv_populate_read"))
			continue;
		if (best < 0 || block[m].median < block[best].median)
			best = m;
	}
	return best;
}

static int limit_of(struct result *block, enum cache c)
{
	int m = find_method(c == COLD ? "odirect_limit" : "memcpy_limit");

	return measured(&block[m]) ? m : -1;
}

static void print_ratio(double x, int ref, struct result *block)
{
	if (ref < 0 || block[ref].median <= 0)
		printf(" %10s", "-");
	else
		printf(" %9.2fx", x / block[ref].median);
}

static void print_tables(void)
{
	unsigned int l, c, m;

	for (l = 0; l < NR_LAYOUTS; l++) {
		for (c = 0; c < NR_CACHES; c++) {
			struct result *block = results[l][c];
			int best = best_alt(block, false);
			int best_priv = best_alt(block, true);
			int lim = limit_of(block, c);

			printf("\n== layout %s (%u extent%s), cache %s, %lu MiB, "
			       "%u rep%s ==\n", layouts[l].name, layouts[l].n,
			       layouts[l].n == 1 ? "" : "s", cache_names[c],
			       opt_size_mib, opt_reps, opt_reps == 1 ? "" : "s");
			printf("%-22s %10s %10s %9s %10s %10s\n", "method",
			       "median ms", "min ms", "MiB/s", "vs alt",
			       "vs limit");
			for (m = 0; m < NR_METHODS; m++) {
				struct result *r = &block[m];
				char name[40];

				if (r->skipped && methods[m].warm_only)
					continue;
				snprintf(name, sizeof(name), "%s%s",
					 methods[m].name,
					 methods[m].kind == LIMIT ?
					 " [limit]" : "");
				if (!measured(r)) {
					printf("%-22s %s\n", name, r->status ?
					       r->status : "skipped");
					continue;
				}
				printf("%-22s %10.3f %10.3f %9.0f", name,
				       r->median, r->min,
				       opt_size_mib / (r->median / 1e3));
				print_ratio(r->median, best, block);
				print_ratio(r->median, lim, block);
				putchar('\n');
			}
			printf("vs alt = median / median of %s (best user-space "
			       "alternative); vs limit = median / median of %s\n",
			       best >= 0 ? methods[best].name : "-",
			       lim >= 0 ? methods[lim].name :
			       (c == COLD ? "odirect_limit (n/a)" :
				"memcpy_limit (n/a)"));
			if (best_priv >= 0 && best_priv != best)
				printf("(%s maps page-cache pages, not private "
				       "copies; the best alternative making "
				       "private copies is %s, %.3f ms)\n",
				       methods[best].name,
				       methods[best_priv].name,
				       block[best_priv].median);
		}
	}
}

static void json_num(FILE *f, double v)
{
	fprintf(f, "%.6f", v);
}

static void write_json(const char *path)
{
	unsigned int l, c, m, i;
	bool first = true;
	FILE *f;

	f = fopen(path, "w");
	if (!f)
		die("open %s: %s", path, strerror(errno));
	fprintf(f, "{\"size_mib\":%lu,\"reps\":%u,\"touch\":\"%s\","
		"\"results\":[", opt_size_mib, opt_reps,
		opt_touch_write ? "write" : "read");
	for (l = 0; l < NR_LAYOUTS; l++) {
		for (c = 0; c < NR_CACHES; c++) {
			for (m = 0; m < NR_METHODS; m++) {
				struct result *r = &results[l][c][m];

				if (r->skipped && methods[m].warm_only)
					continue;
				fprintf(f, "%s\n{\"layout\":\"%s\",\"cache\":"
					"\"%s\",\"method\":\"%s\",\"kind\":"
					"\"%s\",\"status\":\"%s\","
					"\"samples_ms\":[",
					first ? "" : ",", layouts[l].name,
					cache_names[c], methods[m].name,
					methods[m].kind == SPICE ? "spice" :
					methods[m].kind == ALT ? "alternative" :
					"limit",
					measured(r) ? "ok" :
					r->status ? r->status : "skipped");
				first = false;
				for (i = 0; measured(r) && i < r->n; i++) {
					if (i)
						fputc(',', f);
					json_num(f, r->samples[i]);
				}
				fputs("],\"median_ms\":", f);
				if (measured(r))
					json_num(f, r->median);
				else
					fputs("null", f);
				fputs(",\"min_ms\":", f);
				if (measured(r))
					json_num(f, r->min);
				else
					fputs("null", f);
				fputc('}', f);
			}
		}
	}
	fputs("\n]}\n", f);
	if (fflush(f) || ferror(f) || fclose(f))
		die("write %s: %s", path, strerror(errno));
}

/* ---------------------------------------------------------------------- */
/* Driver                                                                 */

static void run_block(unsigned int l, enum cache c)
{
	const struct layout *L = &layouts[l];
	struct result *block = results[l][c];
	unsigned int rep, m;

	for (m = 0; m < NR_METHODS; m++) {
		block[m].samples = calloc(opt_reps, sizeof(double));
		if (!block[m].samples)
			die("out of memory");
		if (methods[m].warm_only && c != WARM)
			block[m].skipped = true;
		if (methods[m].kind == SPICE && opt_no_spice)
			block[m].status = "skipped (--no-spice)";
	}
	fprintf(stderr, "populate_bench: layout %s, cache %s ...\n",
		L->name, cache_names[c]);
	/* Reps outermost, so slow drifts hit every method alike. */
	for (rep = 0; rep < opt_reps; rep++) {
		for (m = 0; m < NR_METHODS; m++) {
			struct result *r = &block[m];
			struct outcome o = { 0 };

			if (r->skipped || r->status)
				continue;
			set_cache_state(c);
			methods[m].run(L, &o);
			if (o.na) {
				r->status = o.na;
				continue;
			}
			if (rep == 0) {
				char what[80];

				snprintf(what, sizeof(what), "%s (%s, %s)",
					 methods[m].name, L->name,
					 cache_names[c]);
				if (methods[m].check == CHECK_LAYOUT)
					verify_layout(what, o.mem, L);
				else
					verify_file_order(what, o.mem);
			}
			if (o.unmap_len && munmap(o.mem, o.unmap_len))
				die("munmap: %s", strerror(errno));
			r->samples[r->n++] = o.ms;
		}
	}
	for (m = 0; m < NR_METHODS; m++)
		summarize(&block[m]);
}

static void check_spice(void)
{
	char buf[32] = "";
	ssize_t r;
	int fd;

	fd = open(SPICE_VERSION_FILE, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "populate_bench: %s: %s\n"
			"populate_bench: this kernel has no mmap_populate_image() "
			"(boot the Spice kernel, or pass --no-spice to skip the "
			"spice_* methods)\n", SPICE_VERSION_FILE,
			strerror(errno));
		exit(2);
	}
	r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (r <= 0 || atoi(buf) != SNAPSHOT_ABI_VERSION) {
		fprintf(stderr, "populate_bench: %s says '%.*s', this program "
			"was built for ABI version %d\n", SPICE_VERSION_FILE,
			r > 0 ? (int)strcspn(buf, "\n") : 0, buf,
			SNAPSHOT_ABI_VERSION);
		exit(2);
	}
}

static void print_header(void)
{
	char thp[128] = "unknown";
	struct utsname u;
	struct statfs sf;
	FILE *f;

	if (uname(&u))
		die("uname: %s", strerror(errno));
	f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	if (f) {
		if (fgets(thp, sizeof(thp), f))
			thp[strcspn(thp, "\n")] = 0;
		fclose(f);
	}
	if (fstatfs(img_fd, &sf))
		die("statfs %s: %s", image_path, strerror(errno));
	printf("populate_bench: kernel %s, page %zu, THP %s\n", u.release, pg,
	       thp);
	printf("image %s: %lu MiB, fs magic %#lx; %u reps, touch %s; "
	       "spice %s\n", image_path, opt_size_mib,
	       (unsigned long)sf.f_type, opt_reps,
	       opt_touch_write ? "write" : "read",
	       opt_no_spice ? "skipped (--no-spice)" : "on");
	if (sf.f_type == 0x01021994 /* TMPFS_MAGIC */ ||
	    sf.f_type == 0x858458f6 /* RAMFS_MAGIC */)
		printf("warning: %s is in memory: cold numbers mean nothing\n",
		       opt_dir);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: populate_bench [--dir DIR] [--size MiB] [--reps N] "
		"[--json FILE]\n"
		"                      [--quick] [--no-spice] "
		"[--touch read|write]\n"
		"  --dir DIR      where the image file goes (default /scratch)\n"
		"  --size MiB     image size (default 64)\n"
		"  --reps N       repetitions per method (default 5)\n"
		"  --json FILE    write every sample and median there\n"
		"  --quick        --size 8 --reps 2 unless given: a smoke test\n"
		"  --no-spice     skip the spice_* methods (kernels without "
		"Spice)\n"
		"  --touch MODE   final touch of each page: read one byte "
		"(default), or\n"
		"                 write it back, charging copy-on-write faults\n"
		"Needs root: cold runs write %s.\n", DROP_CACHES_FILE);
}

static unsigned long parse_num(const char *opt, const char *s,
			       unsigned long max)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > max) {
		fprintf(stderr, "populate_bench: bad %s '%s'\n", opt, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "size", required_argument, NULL, 's' },
		{ "reps", required_argument, NULL, 'r' },
		{ "json", required_argument, NULL, 'j' },
		{ "quick", no_argument, NULL, 'q' },
		{ "no-spice", no_argument, NULL, 'n' },
		{ "touch", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool quick = false, size_set = false, reps_set = false;
	unsigned int l, c;
	int opt;

	while ((opt = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			opt_dir = optarg;
			break;
		case 's':
			opt_size_mib = parse_num("--size", optarg,
						 MAX_SIZE_MIB);
			size_set = true;
			break;
		case 'r':
			opt_reps = parse_num("--reps", optarg, 1000);
			reps_set = true;
			break;
		case 'j':
			opt_json = optarg;
			break;
		case 'q':
			quick = true;
			break;
		case 'n':
			opt_no_spice = true;
			break;
		case 't':
			if (!strcmp(optarg, "read")) {
				opt_touch_write = false;
			} else if (!strcmp(optarg, "write")) {
				opt_touch_write = true;
			} else {
				fprintf(stderr, "populate_bench: bad --touch "
					"'%s'\n", optarg);
				exit(2);
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (quick && !size_set)
		opt_size_mib = 8;
	if (quick && !reps_set)
		opt_reps = 2;
	if (!opt_no_spice)
		check_spice();

	pg = sysconf(_SC_PAGESIZE);
	size = opt_size_mib << 20;
	if (size % (NR_PIECES * pg))
		die("--size must be a multiple of %zu KiB", NR_PIECES * pg / 1024);

	atexit(remove_image);
	buf_a = map_anon(size, PROT_READ | PROT_WRITE, MAP_POPULATE);
	buf_b = map_anon(size, PROT_READ | PROT_WRITE, MAP_POPULATE);
	memset(buf_a, 0x5a, size);
	memset(buf_b, 0xa5, size);
	create_image();
	make_layouts();
	print_header();
	fflush(stdout);

	for (l = 0; l < NR_LAYOUTS; l++)
		for (c = 0; c < NR_CACHES; c++)
			run_block(l, c);
	uffd_teardown();
	if (ring_state == 1)
		io_uring_queue_exit(&ring);

	print_tables();
	if (opt_json)
		write_json(opt_json);
	return 0;
}
