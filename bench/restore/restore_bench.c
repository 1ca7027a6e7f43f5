// SPDX-License-Identifier: GPL-2.0
/*
 * restore_bench: restore time of a process with a 64 MiB heap (heap64),
 * Spice next to CRIU, cold and warm page cache, in one run.
 *
 * heap64 is started once and stops itself at its ready point. That one
 * stopped process is captured by Spice (spice_capture_pid()) and then
 * dumped by `criu dump`, which kills it: both systems restore the very same
 * process. Then, for each repetition, every system restores it twice --
 * after dropping the page cache (cold), and again right away (warm) -- in
 * an order that rotates from one repetition to the next.
 *
 *   Spice            fork(); the child puts a pipe on its stdout and calls
 *                    spice_restore() on the image: it becomes heap64
 *   Spice share-cache  the same with SPICE_RESTORE_SHARE_CACHE
 *   CRIU             fork() + exec of `criu restore --restore-detached` on
 *                    the images; the restored heap64 writes to a pipe criu
 *                    passes on (--inherit-fd), and once criu has exited it
 *                    is our child (we are a subreaper)
 *
 * Two times per restore, both from just before fork(), CLOCK_MONOTONIC:
 * until heap64 runs again (the time it takes right after its raise(SIGSTOP)
 * returns, which it reports), and until its "ok" line, printed once it has
 * recomputed the checksum of its whole heap -- which touches every page --
 * and found the one it had before the capture.
 *
 * CRIU restores a process that was stopped when dumped as stopped: once
 * `criu restore` has exited, the driver waits for heap64's stop and sends
 * it SIGCONT; the time criu took and the time of the SIGCONT are reported
 * too. Waits are on SIGCHLD: nothing polls while a restore runs.
 *
 * See README.md.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <spice.h>

#include "bench_util.h"

#define MAX_REPS	BENCH_MAX_REPS
#define CHILD_ERROR	"restore-bench-child-error "
#define WORK_DIR	"/tmp/restore_bench"	/* criu's logs: off the measured disk */
#define EXIT_USAGE	2
#define EXIT_PARTIAL	3

const char bench_prog[] = "restore_bench";

/* ---------------------------------------------------------------------- */
/* Options                                                                */

static unsigned int opt_reps = 5;
static unsigned int opt_mib = 64;
static const char *opt_dir = "/scratch";
static const char *opt_json;
static const char *opt_heap64;		/* default: next to this program */
static const char *opt_criu = "/usr/sbin/criu";
static double opt_timeout_ms = 600e3;
static bool opt_no_spice, opt_no_share, opt_no_criu, opt_no_drop, opt_keep;

/* ---------------------------------------------------------------------- */
/* Systems                                                                */

enum sys_id { SPICE, SPICE_SHARE, CRIU, NR_SYS };

struct system {
	const char *name;	/* in the JSON */
	const char *label;	/* in the tables */
	bool on;		/* measured */
	char why[256];		/* if not: why */

	off_t image_bytes;	/* file(s) it restores from */
	double save_ms;		/* capture + fsync, or criu dump + sync */

	/* per repetition: [0] cold, [1] warm */
	double resumed[2][MAX_REPS];	/* fork to heap64 running again */
	double ok[2][MAX_REPS];		/* fork to heap64's "ok" line */
	double verify[2][MAX_REPS];	/* heap64's own checksum time */
	double exited[2][MAX_REPS];	/* CRIU: fork to criu restore's exit */
	double stopped[2][MAX_REPS];	/* CRIU: fork to heap64 seen stopped */
};

static struct system sys[NR_SYS] = {
	[SPICE] = { .name = "spice", .label = "Spice" },
	[SPICE_SHARE] = { .name = "spice_share_cache",
			  .label = "Spice share-cache" },
	[CRIU] = { .name = "criu", .label = "CRIU" },
};

static char heap64_path[PATH_MAX];
static char image_path[PATH_MAX];	/* Spice's image */
static char criu_dir[PATH_MAX];		/* CRIU's images */
static pid_t heap_pid;			/* heap64's pid, which criu restores */
static bool heap_alive;			/* started and not reaped yet */
static ino_t heap_pipe_ino;		/* its stdout pipe at the dump */
static uint64_t want;			/* heap64's checksum */
static double init_ms;			/* heap64: start to ready point */
static char criu_version[128] = "?";
static char criu_check[256] = "not run";
static unsigned int nr_done;		/* repetitions completed */
static sigset_t orig_mask;		/* before SIGCHLD was blocked */

/* ---------------------------------------------------------------------- */
/* Helpers                                                                */

/* snprintf() that may cut, on purpose (messages, bounded paths). */
__attribute__((format(printf, 3, 4)))
static void fmt(char *buf, size_t size, const char *f, ...)
{
	va_list ap;

	va_start(ap, f);
	vsnprintf(buf, size, f, ap);
	va_end(ap);
}

/* Nearest rank: the smallest sample that is >= 90% of them (n=5: the max). */
static double p90(const double *v, unsigned int n)
{
	double s[MAX_REPS];
	unsigned int k = (9 * n + 9) / 10;

	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_double);
	return s[k - 1];
}

static void fmt_mib(char *buf, size_t len, off_t bytes)
{
	snprintf(buf, len, "%.1f MiB", bytes / 1048576.0);
}

/*
 * Wait up to @timeout_ms for @pid to change state (@flags: 0 or WUNTRACED);
 * its status, or -1. SIGCHLD is blocked (main()) and waited for, so the
 * change is seen at once, without polling.
 */
static int wait_child(pid_t pid, int flags, double timeout_ms)
{
	double deadline = now_ms() + timeout_ms, left;
	struct timespec ts;
	sigset_t chld;
	int st;
	pid_t r;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	for (;;) {
		r = waitpid(pid, &st, flags | WNOHANG);
		if (r == pid)
			return st;
		if (r < 0 && errno != EINTR)
			die("waitpid %d: %s", (int)pid, strerror(errno));
		left = deadline - now_ms();
		if (left <= 0)
			return -1;
		ts.tv_sec = (time_t)(left / 1e3);
		ts.tv_nsec = (long)((left - ts.tv_sec * 1e3) * 1e6);
		sigtimedwait(&chld, NULL, &ts);
	}
}

static char proc_state(pid_t pid);

/*
 * Wait for our child @pid to stop or exit: its wait status, or -1. The stop
 * may have happened, and been reported to its parent, before the child was
 * ours (a process criu restored and left to us): /proc tells then.
 */
static int wait_stopped(pid_t pid, double timeout_ms)
{
	double deadline = now_ms() + timeout_ms;
	struct timespec ms = { 0, 1000000 };
	sigset_t chld;
	int st;
	pid_t r;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	for (;;) {
		r = waitpid(pid, &st, WUNTRACED | WNOHANG);
		if (r == pid)
			return st;
		if (r < 0 && errno != EINTR)
			die("waitpid %d: %s", (int)pid, strerror(errno));
		if (proc_state(pid) == 'T')
			return 0x7f | SIGSTOP << 8;	/* as WIFSTOPPED() */
		if (now_ms() > deadline)
			return -1;
		sigtimedwait(&chld, NULL, &ms);
	}
}

/* Reap whatever criu left to us, the subreaper (nothing, normally). */
static void reap_strays(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

static void kill_reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* The last line of a file, for error messages (criu's log). */
static void last_lines(const char *path, char *buf, size_t len)
{
	char line[512];
	FILE *f = fopen(path, "r");

	copy_str(buf, len, "(no log)");
	if (!f)
		return;
	buf[0] = 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "Error") || strstr(line, "error") || !buf[0])
			copy_str(buf, len, line);
	fclose(f);
	len = strlen(buf);
	if (len && buf[len - 1] == '\n')
		buf[len - 1] = 0;
}

/* Copy the last @n lines of @path (criu's log) to stderr. */
static void show_tail(const char *path, unsigned int n)
{
	static char lines[64][256];
	unsigned int i, count = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	if (n > 64)
		n = 64;
	while (fgets(lines[count % n], sizeof(lines[0]), f))
		count++;
	fclose(f);
	fflush(stdout);
	fprintf(stderr, "--- last lines of %s:\n", path);
	for (i = count > n ? count - n : 0; i < count; i++)
		fputs(lines[i % n], stderr);
	fprintf(stderr, "---\n");
}

/* State letter of @pid in /proc/PID/stat, or 0 if there is no such task. */
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
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

/* Sum of the sizes of the regular files in @dir (CRIU's images). */
static off_t dir_bytes(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	struct stat st;
	off_t sum = 0;
	DIR *d = opendir(dir);

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		fmt(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (!stat(path, &st) && S_ISREG(st.st_mode))
			sum += st.st_size;
	}
	closedir(d);
	return sum;
}

/* Remove the regular files of @dir (a previous run's CRIU images). */
static void empty_dir(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		fmt(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
}

/*
 * Run @argv with stdin /dev/null and stdout and stderr to @out; its exit
 * status, or -1 after @timeout_ms (it is killed).
 */
static int run(char *const argv[], const char *out, double timeout_ms)
{
	int st, fd;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		fd = open("/dev/null", O_RDONLY);
		if (fd < 0 || dup2(fd, 0) < 0)
			_exit(127);
		close_range(3, ~0U, 0);
		sigprocmask(SIG_SETMASK, &orig_mask, NULL);
		execv(argv[0], argv);
		dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	st = wait_child(pid, 0, timeout_ms);
	if (st == -1)
		kill_reap(pid);
	return st;
}

/* ---------------------------------------------------------------------- */
/* Reading heap64's lines                                                 */

struct reader {
	int fd;
	char buf[512];
	size_t len;
};

/*
 * Read one line from @r into @line. Returns 0, or -1 with the reason in
 * @why (end of file, timeout).
 */
static int read_line(struct reader *r, char *line, size_t size, char *why,
		     size_t wlen)
{
	double deadline = now_ms() + opt_timeout_ms;
	struct pollfd p = { .fd = r->fd, .events = POLLIN };
	struct timespec ts;
	double left;
	char *nl;
	ssize_t n;
	size_t l;

	for (;;) {
		nl = memchr(r->buf, '\n', r->len);
		if (nl) {
			l = nl - r->buf;
			if (l >= size)
				l = size - 1;
			memcpy(line, r->buf, l);
			line[l] = 0;
			r->len -= nl + 1 - r->buf;
			memmove(r->buf, nl + 1, r->len);
			return 0;
		}
		if (r->len == sizeof(r->buf)) {
			snprintf(why, wlen, "line longer than %zu bytes",
				 sizeof(r->buf));
			return -1;
		}
		left = deadline - now_ms();
		if (left <= 0) {
			snprintf(why, wlen, "nothing within %.0f s",
				 opt_timeout_ms / 1e3);
			return -1;
		}
		ts.tv_sec = (time_t)(left / 1e3);
		ts.tv_nsec = (long)((left - ts.tv_sec * 1e3) * 1e6);
		n = ppoll(&p, 1, &ts, NULL);
		if (n < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (n <= 0)
			continue;
		n = read(r->fd, r->buf + r->len, sizeof(r->buf) - r->len);
		if (n < 0 && errno != EINTR)
			die("read: %s", strerror(errno));
		if (n == 0) {
			snprintf(why, wlen, "end of file (nobody writes any more)");
			return -1;
		}
		if (n > 0)
			r->len += n;
	}
}

/* heap64 ran and said "ok SUM RESUMED VERIFIED": check it, fill in times. */
static void parse_ok(const char *what, const char *line, double t0,
		     double *resumed, double *verify)
{
	unsigned long long sum;
	long long r, v;

	if (!strncmp(line, CHILD_ERROR, strlen(CHILD_ERROR)))
		die("%s: %s", what, line + strlen(CHILD_ERROR));
	if (sscanf(line, "ok %llx %lld %lld", &sum, &r, &v) != 3)
		die("%s: heap64 said \"%s\", not \"ok CHECKSUM ...\"", what, line);
	if (sum != want)
		die("%s: heap64's checksum is %016llx, it was %016" PRIx64
		    " before the capture", what, sum, want);
	*resumed = r / 1e6 - t0;
	*verify = (v - r) / 1e6;
}

/* ---------------------------------------------------------------------- */
/* Capture and dump, once                                                 */

/*
 * Start heap64 with /dev/null on stdin and a pipe on stdout and stderr, in
 * /, with no other descriptor; wait for its ready point (SIGSTOP).
 */
static void start_heap64(struct reader *r)
{
	char mib[16], line[256], why[128], desc[128];
	int out[2], fd, st;
	struct stat sb;
	double t0;

	if (pipe2(out, O_CLOEXEC))
		die("pipe: %s", strerror(errno));
	snprintf(mib, sizeof(mib), "%u", opt_mib);
	fflush(NULL);
	t0 = now_ms();
	heap_pid = fork();
	if (heap_pid < 0)
		die("fork: %s", strerror(errno));
	if (heap_pid == 0) {
		fd = open("/dev/null", O_RDONLY);
		if (fd < 0 || dup2(fd, 0) < 0 || dup2(out[1], 1) < 0 ||
		    dup2(out[1], 2) < 0 || chdir("/"))
			_exit(127);
		close_range(3, ~0U, 0);
		sigprocmask(SIG_SETMASK, &orig_mask, NULL);
		execl(heap64_path, "heap64", mib, (char *)NULL);
		dprintf(1, CHILD_ERROR "exec %s: %s\n", heap64_path,
			strerror(errno));
		_exit(127);
	}
	heap_alive = true;
	close(out[1]);
	r->fd = out[0];
	r->len = 0;
	if (read_line(r, line, sizeof(line), why, sizeof(why)))
		die("heap64: %s", why);
	if (sscanf(line, "init %" SCNx64, &want) != 1)
		die("heap64 said \"%s\", not \"init CHECKSUM\"", line);
	st = wait_child(heap_pid, WUNTRACED, opt_timeout_ms);
	if (st == -1 || !WIFSTOPPED(st)) {
		if (st == -1)
			copy_str(desc, sizeof(desc), "did not stop");
		else
			describe_status(st, desc, sizeof(desc));
		kill_reap(heap_pid);
		die("heap64 %s at its ready point", desc);
	}
	init_ms = now_ms() - t0;
	if (fstat(r->fd, &sb))
		die("fstat: %s", strerror(errno));
	heap_pipe_ino = sb.st_ino;
	printf("heap64: pid %d, %u MiB, checksum %016" PRIx64 ", ready in %.0f ms\n",
	       (int)heap_pid, opt_mib, want, init_ms);
}

static void spice_capture(void)
{
	struct snapshot_reason reason = { 0 };
	struct stat st;
	double t0;
	int fd, rc;

	snprintf(image_path, sizeof(image_path), "%s/restore-heap64.img",
		 opt_dir);
	fd = open(image_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die("%s: %s", image_path, strerror(errno));
	t0 = now_ms();
	rc = spice_capture_pid(heap_pid, fd, 0, &reason);
	if (!rc && fsync(fd))
		rc = -errno;
	sys[SPICE].save_ms = now_ms() - t0;
	if (rc == -EOPNOTSUPP && reason.code)
		die("Spice capture: %s: reason %s (fd %d, address %#llx)",
		    strerror(-rc), spice_image_reason_name(reason.code) ?: "?",
		    reason.fd, (unsigned long long)reason.addr);
	if (rc)
		die("Spice capture: %s", strerror(-rc));
	if (fstat(fd, &st))
		die("%s: %s", image_path, strerror(errno));
	close(fd);
	sys[SPICE].image_bytes = sys[SPICE_SHARE].image_bytes = st.st_size;
	sys[SPICE_SHARE].save_ms = sys[SPICE].save_ms;
	printf("Spice: captured in %.0f ms (fsync included), image %.1f MiB\n",
	       sys[SPICE].save_ms, st.st_size / 1048576.0);
}

/* `criu dump` of the stopped heap64; it kills it. 0, or -1 with sys.why. */
static int criu_dump(void)
{
	char tree[16], log[PATH_MAX], out[PATH_MAX], last[256], desc[128];
	char *argv[] = { (char *)opt_criu, "dump", "-t", tree, "-D", criu_dir,
			 "--shell-job", "-o", log, NULL };
	struct system *s = &sys[CRIU];
	double t0;
	int st;

	snprintf(tree, sizeof(tree), "%d", (int)heap_pid);
	snprintf(criu_dir, sizeof(criu_dir), "%s/criu-img", opt_dir);
	snprintf(log, sizeof(log), WORK_DIR "/criu-dump.log");
	snprintf(out, sizeof(out), WORK_DIR "/criu-dump.out");
	if (mkdir(criu_dir, 0700) && errno != EEXIST)
		die("%s: %s", criu_dir, strerror(errno));
	empty_dir(criu_dir);
	t0 = now_ms();
	st = run(argv, out, opt_timeout_ms);
	sync();
	s->save_ms = now_ms() - t0;
	if (st != 0) {
		if (st == -1)
			copy_str(desc, sizeof(desc), "timed out");
		else
			describe_status(st, desc, sizeof(desc));
		last_lines(log, last, sizeof(last));
		fmt(s->why, sizeof(s->why), "criu dump %s: %s", desc, last);
		show_tail(out, 10);
		show_tail(log, 20);
		return -1;
	}
	/* criu dump kills the process: reap it, and free its pid for criu. */
	st = wait_child(heap_pid, 0, 10e3);
	if (st == -1) {
		snprintf(s->why, sizeof(s->why),
			 "criu dump succeeded but left heap64 alive");
		return -1;
	}
	heap_alive = false;
	s->image_bytes = dir_bytes(criu_dir);
	printf("CRIU: dumped in %.0f ms (sync included), images %.1f MiB in %s\n",
	       s->save_ms, s->image_bytes / 1048576.0, criu_dir);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Restores                                                               */

/* fork() + spice_restore(); the "ok" line. Returns -errno if unavailable. */
static int restore_spice(enum sys_id id, int cold, unsigned int rep)
{
	uint64_t flags = id == SPICE_SHARE ? SPICE_RESTORE_SHARE_CACHE : 0;
	char what[96], line[256], why[128], desc[128];
	struct system *s = &sys[id];
	struct reader r;
	int out[2], fd, st, err;
	long rc;
	pid_t pid;
	double t0;

	snprintf(what, sizeof(what), "%s, %s, run %u", s->label,
		 cold ? "cold" : "warm", rep + 1);
	if (pipe2(out, O_CLOEXEC))
		die("pipe: %s", strerror(errno));
	if (cold)
		drop_caches(opt_no_drop, "pass --no-drop-caches");
	fflush(NULL);
	t0 = now_ms();
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		fd = open("/dev/null", O_RDONLY);
		if (fd < 0 || dup2(fd, 0) < 0 || dup2(out[1], 1) < 0 ||
		    dup2(out[1], 2) < 0)
			_exit(127);
		close_range(3, ~0U, 0);
		sigprocmask(SIG_SETMASK, &orig_mask, NULL);
		fd = open(image_path, O_RDONLY);
		if (fd < 0) {
			dprintf(1, CHILD_ERROR "%d %s: %s\n", errno, image_path,
				strerror(errno));
			_exit(127);
		}
		rc = spice_restore(fd, flags, NULL, 0);
		dprintf(1, CHILD_ERROR "%d snapshot_restore: %s\n", (int)-rc,
			strerror((int)-rc));
		_exit(127);
	}
	close(out[1]);
	r.fd = out[0];
	r.len = 0;
	if (read_line(&r, line, sizeof(line), why, sizeof(why))) {
		close(r.fd);
		st = wait_child(pid, 0, 5e3);
		if (st == -1)
			kill_reap(pid);
		describe_status(st, desc, sizeof(desc));
		die("%s: %s; the process %s", what, why, desc);
	}
	s->ok[cold ? 0 : 1][rep] = now_ms() - t0;
	close(r.fd);
	if (!strncmp(line, CHILD_ERROR, strlen(CHILD_ERROR))) {
		err = atoi(line + strlen(CHILD_ERROR));
		waitpid(pid, NULL, 0);
		/* Unavailable, rather than broken, only the first time. */
		if (!rep && cold && (err == ENOSYS || err == EOPNOTSUPP ||
				     (id == SPICE_SHARE && err == EINVAL))) {
			copy_str(s->why, sizeof(s->why),
				 strchr(line + strlen(CHILD_ERROR), ' ') + 1);
			return -err;
		}
		die("%s: %s", what, line + strlen(CHILD_ERROR));
	}
	parse_ok(what, line, t0, &s->resumed[cold ? 0 : 1][rep],
		 &s->verify[cold ? 0 : 1][rep]);
	st = wait_child(pid, 0, opt_timeout_ms);
	if (st == -1) {
		kill_reap(pid);
		die("%s: heap64 did not exit after \"ok\"", what);
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		describe_status(st, desc, sizeof(desc));
		die("%s: heap64 %s after \"ok\"", what, desc);
	}
	return 0;
}

/* fork() + exec of `criu restore --restore-detached`; the "ok" line. */
static void restore_criu(int cold, unsigned int rep)
{
	char what[96], line[256], why[128], desc[128], last[256];
	char inherit[64], log[PATH_MAX], out[PATH_MAX];
	char *argv[] = { (char *)opt_criu, "restore", "-D", criu_dir,
			 "--shell-job", "--restore-detached", "--inherit-fd",
			 inherit, "-o", log, NULL };
	struct system *s = &sys[CRIU];
	int pipefd[2], fd, st, c = cold ? 0 : 1;
	struct reader r;
	pid_t criu;
	double t0;

	snprintf(what, sizeof(what), "%s, %s, run %u", s->label,
		 cold ? "cold" : "warm", rep + 1);
	snprintf(inherit, sizeof(inherit), "fd[3]:pipe:[%lu]",
		 (unsigned long)heap_pipe_ino);
	snprintf(log, sizeof(log), WORK_DIR "/criu-restore.log");
	snprintf(out, sizeof(out), WORK_DIR "/criu-restore.out");
	if (proc_state(heap_pid))
		die("%s: pid %d, which criu restores heap64 with, is taken",
		    what, (int)heap_pid);
	if (pipe2(pipefd, O_CLOEXEC))
		die("pipe: %s", strerror(errno));
	if (cold)
		drop_caches(opt_no_drop, "pass --no-drop-caches");
	fflush(NULL);
	t0 = now_ms();
	criu = fork();
	if (criu < 0)
		die("fork: %s", strerror(errno));
	if (criu == 0) {
		/* heap64's stdout and stderr: fd 3, inherited through criu */
		if (dup2(pipefd[1], 3) < 0 || fcntl(3, F_SETFD, 0))
			_exit(127);
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		fd = open("/dev/null", O_RDONLY);
		if (fd < 0 || dup2(fd, 0) < 0)
			_exit(127);
		close_range(4, ~0U, 0);
		sigprocmask(SIG_SETMASK, &orig_mask, NULL);
		execv(opt_criu, argv);
		dprintf(2, "exec %s: %s\n", opt_criu, strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);
	r.fd = pipefd[0];
	r.len = 0;

	/*
	 * criu restores heap64, stopped as it was dumped, detaches and exits;
	 * heap64, its orphan, becomes our child (we are a subreaper).
	 */
	st = wait_child(criu, 0, opt_timeout_ms);
	s->exited[c][rep] = now_ms() - t0;
	if (st != 0) {
		if (st == -1) {
			kill_reap(criu);
			copy_str(desc, sizeof(desc), "timed out");
		} else {
			describe_status(st, desc, sizeof(desc));
		}
		if (proc_state(heap_pid)) {
			kill(heap_pid, SIGKILL);
			waitpid(heap_pid, NULL, 0);
		}
		last_lines(log, last, sizeof(last));
		show_tail(out, 10);
		show_tail(log, 30);
		die("%s: criu restore %s; log %s: %s", what, desc, log, last);
	}
	/* Stopped (or, if criu did not stop it, already gone): resume it. */
	st = wait_stopped(heap_pid, opt_timeout_ms);
	if (st == -1) {
		kill(heap_pid, SIGKILL);
		waitpid(heap_pid, NULL, 0);
		die("%s: the restored heap64 (pid %d) neither stopped nor exited",
		    what, (int)heap_pid);
	}
	s->stopped[c][rep] = now_ms() - t0;
	if (WIFSTOPPED(st))
		kill(heap_pid, SIGCONT);
	if (read_line(&r, line, sizeof(line), why, sizeof(why))) {
		close(r.fd);
		if (WIFSTOPPED(st)) {
			kill(heap_pid, SIGKILL);
			waitpid(heap_pid, &st, 0);
		}
		describe_status(st, desc, sizeof(desc));
		show_tail(log, 30);
		die("%s: no \"ok\" from the restored heap64 (%s); it %s", what,
		    why, desc);
	}
	s->ok[c][rep] = now_ms() - t0;
	close(r.fd);
	parse_ok(what, line, t0, &s->resumed[c][rep], &s->verify[c][rep]);
	if (WIFSTOPPED(st)) {
		st = wait_child(heap_pid, 0, opt_timeout_ms);
		if (st == -1) {
			kill(heap_pid, SIGKILL);
			waitpid(heap_pid, NULL, 0);
			die("%s: heap64 did not exit after \"ok\"", what);
		}
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		describe_status(st, desc, sizeof(desc));
		die("%s: the restored heap64 %s after \"ok\"", what, desc);
	}
	reap_strays();
}

/* ---------------------------------------------------------------------- */
/* Output                                                                 */

static void cell(char *buf, size_t len, const double *v, bool on)
{
	char a[32], b[32];

	if (!on) {
		snprintf(buf, len, "n/a");
		return;
	}
	fmt_ms(a, sizeof(a), median(v, nr_done), "");
	fmt_ms(b, sizeof(b), p90(v, nr_done), "");
	fmt(buf, len, "%s / %s", a, b);
}

static void print_table(const char *title, int metric)
{
	char c[64], w[64], img[32];
	struct system *s;
	unsigned int i;

	printf("\n%s\n\n| system | cold cache: median / p90 (ms) | "
	       "warm cache: median / p90 (ms) | image |\n"
	       "|---|---:|---:|---:|\n", title);
	for (i = 0; i < NR_SYS; i++) {
		s = &sys[i];
		if (!s->on && !s->why[0])
			continue;	/* not asked for */
		cell(c, sizeof(c), metric ? s->resumed[0] : s->ok[0], s->on);
		cell(w, sizeof(w), metric ? s->resumed[1] : s->ok[1], s->on);
		if (s->image_bytes)
			fmt_mib(img, sizeof(img), s->image_bytes);
		else
			snprintf(img, sizeof(img), "n/a");
		printf("| %s | %s | %s | %s |\n", s->label, c, w, img);
	}
}

static void print_ratio(enum sys_id id, const char *label)
{
	struct system *c = &sys[CRIU], *s = &sys[id];

	if (!c->on || !s->on)
		return;
	printf("- CRIU / %s: until \"ok\" %.1fx cold, %.1fx warm; until "
	       "running %.1fx cold, %.1fx warm (medians)\n", label,
	       median(c->ok[0], nr_done) / median(s->ok[0], nr_done),
	       median(c->ok[1], nr_done) / median(s->ok[1], nr_done),
	       median(c->resumed[0], nr_done) / median(s->resumed[0], nr_done),
	       median(c->resumed[1], nr_done) / median(s->resumed[1], nr_done));
}

static void print_results(void)
{
	unsigned int i;

	if (!nr_done) {
		printf("\nNothing measured.\n");
		for (i = 0; i < NR_SYS; i++)
			if (sys[i].why[0])
				printf("%s not measured: %s\n", sys[i].label,
				       sys[i].why);
		return;
	}
	print_table("Restore until heap64 prints \"ok\" (it has read its whole "
		    "heap back and checked it)", 0);
	print_table("Restore until heap64 runs again (right after its "
		    "raise(SIGSTOP))", 1);
	printf("\nTimes from just before fork(), %u runs each, interleaved; p90 "
	       "is the nearest-rank 90th percentile (with fewer than 10 runs, "
	       "the slowest). Under TCG only the ratios mean anything.\n",
	       nr_done);
	print_ratio(SPICE, "Spice");
	print_ratio(SPICE_SHARE, "Spice share-cache");
	if (sys[CRIU].on)
		printf("- CRIU: `criu restore` exited after %.1f ms cold, %.1f ms "
		       "warm, leaving heap64 stopped (as it was dumped); the "
		       "driver resumed it (SIGCONT) at %.1f ms and %.1f ms "
		       "(medians)\n",
		       median(sys[CRIU].exited[0], nr_done),
		       median(sys[CRIU].exited[1], nr_done),
		       median(sys[CRIU].stopped[0], nr_done),
		       median(sys[CRIU].stopped[1], nr_done));
	for (i = 0; i < NR_SYS; i++)
		if (sys[i].on)
			printf("- %s: heap64's own check of its heap took %.1f ms "
			       "cold, %.1f ms warm (medians)\n", sys[i].label,
			       median(sys[i].verify[0], nr_done),
			       median(sys[i].verify[1], nr_done));
	if (opt_no_drop)
		printf("The page cache was NOT dropped (--no-drop-caches): the "
		       "cold columns are warm.\n");
	for (i = 0; i < NR_SYS; i++)
		if (!sys[i].on && sys[i].why[0])
			printf("%s not measured: %s\n", sys[i].label, sys[i].why);
}

static void json_samples(FILE *j, const char *key, const double *v, bool last)
{
	unsigned int i;

	fprintf(j, "        \"%s\": {\"median_ms\": %.3f, \"p90_ms\": %.3f, "
		"\"samples_ms\": [", key, median(v, nr_done), p90(v, nr_done));
	for (i = 0; i < nr_done; i++)
		fprintf(j, "%s%.3f", i ? ", " : "", v[i]);
	fprintf(j, "]}%s\n", last ? "" : ",");
}

static void write_json(const char *path)
{
	static const char *const cache[2] = { "cold", "warm" };
	struct system *s;
	struct utsname u;
	unsigned int i, c, n = 0;
	FILE *j;

	j = fopen(path, "w");
	if (!j)
		die("%s: %s", path, strerror(errno));
	uname(&u);
	fprintf(j, "{\n  \"benchmark\": \"restore\",\n  \"kernel\": ");
	json_str(j, u.release);
	fprintf(j, ",\n  \"reps\": %u,\n  \"heap_mib\": %u,\n"
		"  \"caches_dropped\": %s,\n  \"heap64_init_ms\": %.3f,\n"
		"  \"criu_version\": ", nr_done, opt_mib,
		opt_no_drop ? "false" : "true", init_ms);
	json_str(j, criu_version);
	fprintf(j, ",\n  \"criu_check\": ");
	json_str(j, criu_check);
	fprintf(j, ",\n  \"systems\": [\n");
	for (i = 0; i < NR_SYS; i++) {
		s = &sys[i];
		if (!s->on && !s->why[0])
			continue;
		fprintf(j, "%s    {\n      \"name\": ", n++ ? ",\n" : "");
		json_str(j, s->name);
		fprintf(j, ",\n      \"measured\": %s,\n      \"why_not\": ",
			s->on && nr_done ? "true" : "false");
		if (s->why[0])
			json_str(j, s->why);
		else
			fprintf(j, "null");
		fprintf(j, ",\n      \"image_bytes\": %lld,\n"
			"      \"capture_or_dump_ms\": %.3f",
			(long long)s->image_bytes, s->save_ms);
		if (s->on && nr_done) {
			for (c = 0; c < 2; c++) {
				fprintf(j, ",\n      \"%s\": {\n", cache[c]);
				if (i == CRIU) {
					json_samples(j, "criu_exited",
						     s->exited[c], false);
					json_samples(j, "sigcont",
						     s->stopped[c], false);
				}
				json_samples(j, "resumed", s->resumed[c], false);
				json_samples(j, "ok", s->ok[c], false);
				json_samples(j, "heap_check", s->verify[c], true);
				fprintf(j, "      }");
			}
		}
		fprintf(j, "\n    }");
	}
	fprintf(j, "\n  ]");
	if (sys[CRIU].on && nr_done) {
		fprintf(j, ",\n  \"criu_over\": {");
		n = 0;
		for (i = SPICE; i <= SPICE_SHARE; i++) {
			if (!sys[i].on)
				continue;
			fprintf(j, "%s\n    \"%s\": {\"ok_cold\": %.3f, "
				"\"ok_warm\": %.3f, \"resumed_cold\": %.3f, "
				"\"resumed_warm\": %.3f}", n++ ? "," : "",
				sys[i].name,
				median(sys[CRIU].ok[0], nr_done) /
				median(sys[i].ok[0], nr_done),
				median(sys[CRIU].ok[1], nr_done) /
				median(sys[i].ok[1], nr_done),
				median(sys[CRIU].resumed[0], nr_done) /
				median(sys[i].resumed[0], nr_done),
				median(sys[CRIU].resumed[1], nr_done) /
				median(sys[i].resumed[1], nr_done));
		}
		fprintf(j, "\n  }");
	}
	fprintf(j, "\n}\n");
	if (fclose(j))
		die("%s: %s", path, strerror(errno));
}

/* ---------------------------------------------------------------------- */
/* Set-up                                                                 */

/* criu connects to 127.0.0.1 when it starts: the guest's lo must be up. */
static void loopback_up(void)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return;
	copy_str(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (!ioctl(fd, SIOCGIFFLAGS, &ifr) && !(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr))
			fprintf(stderr, "restore_bench: cannot bring lo up: %s\n",
				strerror(errno));
	}
	close(fd);
}

/* criu --version and criu check, untimed (check also caches kerndat). */
static void criu_setup(void)
{
	char *ver[] = { (char *)opt_criu, "--version", NULL };
	char *chk[] = { (char *)opt_criu, "check", NULL };
	char out[PATH_MAX], line[256];
	FILE *f;
	int st;

	if (access(opt_criu, X_OK)) {
		snprintf(sys[CRIU].why, sizeof(sys[CRIU].why), "%s: %s",
			 opt_criu, strerror(errno));
		sys[CRIU].on = false;
		return;
	}
	loopback_up();
	snprintf(out, sizeof(out), WORK_DIR "/criu-version.out");
	if (run(ver, out, 30e3) == 0 && (f = fopen(out, "r"))) {
		while (fgets(line, sizeof(line), f))
			if (!strncmp(line, "Version: ", 9)) {
				line[strcspn(line, "\n")] = 0;
				copy_str(criu_version, sizeof(criu_version),
					 line + 9);
			}
		fclose(f);
	}
	snprintf(out, sizeof(out), WORK_DIR "/criu-check.out");
	st = run(chk, out, 120e3);
	last_lines(out, line, sizeof(line));
	if (st)
		show_tail(out, 20);
	fmt(criu_check, sizeof(criu_check), "%s%s",
		 st == 0 ? "" : "failed: ", line);
	printf("criu %s: criu check: %s\n", criu_version, criu_check);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: restore_bench [options]\n"
		"\n"
		"  --reps N            restores per system and cache state (default 5,\n"
		"                      at most %d)\n"
		"  --mib N             heap64's heap in MiB (default 64)\n"
		"  --dir DIR           where the images go (default /scratch)\n"
		"  --json FILE         also write the results as JSON\n"
		"  --heap64 PATH       the program (default: next to this one)\n"
		"  --criu PATH         criu (default /usr/sbin/criu)\n"
		"  --no-criu           leave CRIU out\n"
		"  --no-spice          leave Spice out\n"
		"  --no-share-cache    leave Spice's share-cache mode out\n"
		"  --no-drop-caches    do not drop the page cache (cold is warm)\n"
		"  --timeout SEC       longest wait for anything (default 600)\n"
		"  --keep              keep the images\n"
		"\n"
		"Exit status: 0 all measured, 1 error (a wrong checksum included),\n"
		"2 usage, 3 Spice or CRIU could not be measured (the rest was).\n",
		MAX_REPS);
}

int main(int argc, char **argv)
{
	enum { O_REPS = 256, O_MIB, O_DIR, O_JSON, O_HEAP64, O_CRIU, O_NO_CRIU,
	       O_NO_SPICE, O_NO_SHARE, O_NO_DROP, O_TIMEOUT, O_KEEP, O_HELP };
	static const struct option opts[] = {
		{ "reps", required_argument, NULL, O_REPS },
		{ "mib", required_argument, NULL, O_MIB },
		{ "dir", required_argument, NULL, O_DIR },
		{ "json", required_argument, NULL, O_JSON },
		{ "heap64", required_argument, NULL, O_HEAP64 },
		{ "criu", required_argument, NULL, O_CRIU },
		{ "no-criu", no_argument, NULL, O_NO_CRIU },
		{ "no-spice", no_argument, NULL, O_NO_SPICE },
		{ "no-share-cache", no_argument, NULL, O_NO_SHARE },
		{ "no-drop-caches", no_argument, NULL, O_NO_DROP },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "keep", no_argument, NULL, O_KEEP },
		{ "help", no_argument, NULL, O_HELP },
		{ 0 }
	};
	char self[PATH_MAX], *slash, *end;
	unsigned int rep, k, c;
	struct reader hr;
	struct utsname u;
	enum sys_id id;
	bool partial, any;
	sigset_t chld;
	ssize_t n;
	int o, s;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case O_REPS:
			opt_reps = strtoul(optarg, &end, 10);
			if (*end || !opt_reps || opt_reps > MAX_REPS) {
				fprintf(stderr, "restore_bench: --reps: 1 to %d\n",
					MAX_REPS);
				return EXIT_USAGE;
			}
			break;
		case O_MIB:
			opt_mib = strtoul(optarg, &end, 10);
			if (*end || !opt_mib || opt_mib > 4096) {
				fprintf(stderr, "restore_bench: --mib: 1 to 4096\n");
				return EXIT_USAGE;
			}
			break;
		case O_DIR: opt_dir = optarg; break;
		case O_JSON: opt_json = optarg; break;
		case O_HEAP64: opt_heap64 = optarg; break;
		case O_CRIU: opt_criu = optarg; break;
		case O_NO_CRIU: opt_no_criu = true; break;
		case O_NO_SPICE: opt_no_spice = true; break;
		case O_NO_SHARE: opt_no_share = true; break;
		case O_NO_DROP: opt_no_drop = true; break;
		case O_TIMEOUT:
			opt_timeout_ms = strtod(optarg, &end) * 1e3;
			if (*end || !(opt_timeout_ms > 0)) {
				fprintf(stderr, "restore_bench: bad --timeout\n");
				return EXIT_USAGE;
			}
			break;
		case O_KEEP: opt_keep = true; break;
		case O_HELP: usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (opt_heap64) {
		copy_str(heap64_path, sizeof(heap64_path), opt_heap64);
	} else {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n < 0)
			die("/proc/self/exe: %s", strerror(errno));
		self[n] = 0;
		slash = strrchr(self, '/');
		*slash = 0;
		fmt(heap64_path, sizeof(heap64_path), "%s/heap64", self);
	}
	if (access(heap64_path, X_OK))
		die("%s: %s (--heap64 PATH)", heap64_path, strerror(errno));
	/* No pipe of ours may land on fds 0 to 2 of a child by accident. */
	for (o = 0; o < 3; o++)
		if (fcntl(o, F_GETFD) < 0 && open("/dev/null", O_RDWR) != o)
			die("/dev/null: cannot open as fd %d", o);
	signal(SIGPIPE, SIG_IGN);
	/* Children's changes come as SIGCHLD, waited for (wait_child()). */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &orig_mask);
	/* criu restore --restore-detached leaves heap64 to us. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1))
		die("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
	if (mkdir(WORK_DIR, 0700) && errno != EEXIST)
		die(WORK_DIR ": %s", strerror(errno));

	sys[SPICE].on = !opt_no_spice;
	sys[SPICE_SHARE].on = !opt_no_spice && !opt_no_share;
	sys[CRIU].on = !opt_no_criu;
	if (sys[SPICE].on) {
		s = spice_supported();
		if (s != 1) {
			snprintf(sys[SPICE].why, sizeof(sys[SPICE].why),
				 "the kernel does not implement the interface (%s)",
				 s < 0 ? strerror(-s) :
				 "no /sys/kernel/snapshot, or an older ABI");
			sys[SPICE].on = sys[SPICE_SHARE].on = false;
			sys[SPICE_SHARE].why[0] = 0;
		}
	}
	uname(&u);
	printf("restore_bench: kernel %s, heap64 %u MiB, %u runs per system "
	       "and cache state, images in %s%s\n", u.release, opt_mib,
	       opt_reps, opt_dir, opt_no_drop ? ", page cache not dropped" : "");
	if (sys[CRIU].on)
		criu_setup();

	/* One process, captured by Spice, then dumped (and killed) by CRIU. */
	start_heap64(&hr);
	if (sys[SPICE].on)
		spice_capture();
	if (sys[CRIU].on && criu_dump())
		sys[CRIU].on = false;
	if (heap_alive) {		/* not dumped: still stopped */
		kill_reap(heap_pid);
		heap_alive = false;
	}
	close(hr.fd);
	fflush(stdout);

	for (rep = 0; rep < opt_reps; rep++) {
		for (k = 0; k < NR_SYS && !sys[k].on; k++)
			;
		if (k == NR_SYS)
			break;		/* nothing left to measure */
		printf("run %u/%u:", rep + 1, opt_reps);
		any = false;
		for (k = 0; k < NR_SYS; k++) {
			id = (rep + k) % NR_SYS;
			if (!sys[id].on)
				continue;
			for (c = 0; c < 2; c++) {
				if (id == CRIU) {
					restore_criu(c == 0, rep);
				} else if (restore_spice(id, c == 0, rep)) {
					sys[id].on = false;
					if (id == SPICE) {
						sys[SPICE_SHARE].on = false;
						copy_str(sys[SPICE_SHARE].why,
							 sizeof(sys[SPICE_SHARE].why),
							 sys[SPICE].why);
					}
					printf(" %s unavailable (%s);",
					       sys[id].label, sys[id].why);
					break;
				}
				printf(" %s %s %.0f ms;", sys[id].label,
				       c ? "warm" : "cold", sys[id].ok[c][rep]);
				fflush(stdout);
				any = true;
			}
		}
		printf("\n");
		fflush(stdout);
		if (!any)
			break;
		nr_done = rep + 1;
	}

	print_results();
	if (opt_json)
		write_json(opt_json);
	if (!opt_keep) {
		if (image_path[0])
			unlink(image_path);
		if (criu_dir[0]) {
			empty_dir(criu_dir);
			rmdir(criu_dir);
		}
	}
	partial = (!opt_no_spice && !sys[SPICE].on) ||
		  (!opt_no_criu && !sys[CRIU].on);
	return partial ? EXIT_PARTIAL : 0;
}
