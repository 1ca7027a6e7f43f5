// SPDX-License-Identifier: GPL-2.0
/*
 * coldstart: time to first response of a "serverless function" started
 * four ways, side by side in one run:
 *
 *   cold exec        page cache dropped, fork + exec of the function, which
 *                    initialises and then answers one request
 *   Spice cold       page cache dropped, fork + snapshot_restore() of an
 *                    image of the function captured once it had initialised
 *   Spice warm       the same with the image (and the files the process
 *                    maps) still in the page cache
 *   warm process     one request to a process that initialised long ago
 *
 * Each is timed with CLOCK_MONOTONIC from just before fork() (for the warm
 * process: just before the request is written) to the moment the first
 * response line has been read. Every response is checked against the cold
 * exec's response to the same request: a restored function must answer
 * exactly what a cold-started one answers.
 *
 * The functions (functions/hello.c and functions/hello.py) talk through
 * stdin and stdout only and stop themselves with SIGSTOP once initialised
 * when SPICE_CAPTURE is set; that is when the image is captured.
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
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <spice.h>

#include "bench_util.h"

#define MAX_REPS	BENCH_MAX_REPS
/* What a child writes on its stdout when exec or restore failed. */
#define CHILD_ERROR	"coldstart-child-error "
#define EXIT_USAGE	2
#define EXIT_NO_SPICE	3

const char bench_prog[] = "coldstart";

/* ---------------------------------------------------------------------- */
/* Options                                                                */

static unsigned int opt_reps = 5;
static const char *opt_dir = "/scratch";
static const char *opt_json;
static const char *opt_fndir;		/* default: next to this program */
static const char *opt_python = "/usr/bin/python3";
static double opt_timeout_ms = 600e3;
static bool opt_no_spice;
static bool opt_no_drop;
static bool opt_keep;
static uint64_t opt_capture_flags;
static uint64_t opt_restore_flags;

/* ---------------------------------------------------------------------- */
/* The functions                                                          */

struct fn {
	const char *name;	/* on the command line and in the JSON */
	const char *label;	/* in the table */
	const char *file;	/* in the function directory */
	bool python;
	void (*request)(unsigned int i, char *buf, size_t len);

	char path[PATH_MAX];
	char image[PATH_MAX];
	bool selected;

	/* results */
	double init_ms;		/* fork to SIGSTOP of the capture run */
	double capture_ms;	/* spice_capture_pid() + fsync */
	off_t image_bytes;
	off_t image_alloc;	/* allocated on disk */
	bool captured;		/* init_ms, capture_ms, image_* are valid */
	bool restore_ok;	/* restore columns measured */
	double cold[MAX_REPS], rcold[MAX_REPS], rwarm[MAX_REPS], warm[MAX_REPS];
	char first_response[512];
};

/* Request number @i: a different key each time, the same in every column. */
static void request_c(unsigned int i, char *buf, size_t len)
{
	snprintf(buf, len, "%u\n", 7919 * i + 13);
}

static void request_py(unsigned int i, char *buf, size_t len)
{
	snprintf(buf, len, "{\"id\": %u, \"user\": \"user%06u\"}\n", i,
		 (7919 * i + 13) % 100000);
}

static struct fn fns[] = {
	{ .name = "c", .label = "C (64 MiB hash table)", .file = "hello",
	  .request = request_c },
	{ .name = "python", .label = "Python (100k-entry dict)",
	  .file = "hello.py", .python = true, .request = request_py },
};
#define NR_FNS	(sizeof(fns) / sizeof(fns[0]))

/*
 * Whether Spice can be measured, and if not, why: SPICE_UNAVAILABLE when
 * the kernel lacks the interface (nothing is captured), restore_unavailable
 * when snapshot_restore() fails with ENOSYS or EOPNOTSUPP (the functions
 * are still captured, which shows that they can be).
 */
static enum { SPICE_ON, SPICE_OFF, SPICE_UNAVAILABLE } spice_state = SPICE_ON;
static bool restore_unavailable;
static char spice_why[256];

/* ---------------------------------------------------------------------- */
/* Helpers                                                                */

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static double minimum(const double *v, unsigned int n)
{
	double m = v[0];
	unsigned int i;

	for (i = 1; i < n; i++)
		if (v[i] < m)
			m = v[i];
	return m;
}

/*
 * Wait for @pid to change state (@flags: 0 or WUNTRACED) for at most
 * @timeout_ms. Returns its status, or -1 on timeout.
 */
static int wait_child(pid_t pid, int flags, double timeout_ms)
{
	double deadline = now_ms() + timeout_ms;
	int st;
	pid_t r;

	for (;;) {
		r = waitpid(pid, &st, flags | WNOHANG);
		if (r == pid)
			return st;
		if (r < 0 && errno != EINTR)
			die("waitpid %d: %s", (int)pid, strerror(errno));
		if (now_ms() > deadline)
			return -1;
		sleep_ms(2);
	}
}

/* ---------------------------------------------------------------------- */
/* Children                                                               */

struct child {
	pid_t pid;
	int req;		/* we write requests here: the child's stdin */
	int resp;		/* we read responses here: the child's stdout */
	char buf[4096];		/* what was read past the first line */
	size_t len;
};

enum how { EXEC, EXEC_CAPTURE, RESTORE };

/* In the child: report @err on stdout, where the driver reads, and leave. */
static void __attribute__((noreturn)) child_fail(const char *what, int err)
{
	dprintf(1, CHILD_ERROR "%d %s: %s\n", err, what, strerror(err));
	_exit(127);
}

static void exec_function(const struct fn *f, bool capture)
{
	char *envp[] = {
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=/",
		"LANG=C.UTF-8",
		/* Keep numeric libraries single-threaded: capture needs one thread. */
		"OMP_NUM_THREADS=1",
		"OPENBLAS_NUM_THREADS=1",
		capture ? "SPICE_CAPTURE=1" : NULL,
		NULL,
	};
	char *py[] = { (char *)opt_python, (char *)f->path, NULL };
	char *c[] = { (char *)f->path, NULL };

	if (f->python)
		execve(opt_python, py, envp);
	else
		execve(f->path, c, envp);
	child_fail(f->python ? opt_python : f->path, errno);
}

/*
 * Start @f the way @how says, with pipes on its stdin and stdout (stderr is
 * ours). No descriptor other than 0, 1 and 2 is left open in the child: a
 * process with another pipe cannot be captured, and a restore must not see
 * the driver's files.
 */
static void start(struct child *c, const struct fn *f, enum how how)
{
	int in[2], out[2], fd;
	long rc;

	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
		die("pipe: %s", strerror(errno));
	fflush(stdout);
	fflush(stderr);
	c->pid = fork();
	if (c->pid < 0)
		die("fork: %s", strerror(errno));
	if (c->pid == 0) {
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0)
			_exit(127);
		if (close_range(3, ~0U, 0))
			child_fail("close_range", errno);
		signal(SIGPIPE, SIG_DFL);
		if (how != RESTORE)
			exec_function(f, how == EXEC_CAPTURE);
		fd = open(f->image, O_RDONLY);
		if (fd < 0)
			child_fail(f->image, errno);
		rc = spice_restore(fd, opt_restore_flags, NULL, 0);
		child_fail("snapshot_restore", (int)-rc);
	}
	close(in[0]);
	close(out[1]);
	c->req = in[1];
	c->resp = out[0];
	c->len = 0;
}

/* Send one request; the pipe holds it whether or not the child reads yet. */
static void send_request(struct child *c, const char *req)
{
	size_t len = strlen(req);

	if (write(c->req, req, len) != (ssize_t)len)
		die("writing the request to pid %d: %s", (int)c->pid,
		    strerror(errno));
}

/*
 * Read one line into @line (without the newline). Returns 0, or -1 when
 * the child closed its stdout or did not answer within the timeout, with
 * the reason in @why.
 */
static int read_line(struct child *c, char *line, size_t size, char *why,
		     size_t wlen)
{
	double deadline = now_ms() + opt_timeout_ms;
	struct pollfd p = { .fd = c->resp, .events = POLLIN };
	char *nl;
	ssize_t n;
	size_t l;
	int left;

	for (;;) {
		nl = memchr(c->buf, '\n', c->len);
		if (nl) {
			l = nl - c->buf;
			if (l >= size)
				l = size - 1;
			memcpy(line, c->buf, l);
			line[l] = 0;
			c->len -= nl + 1 - c->buf;
			memmove(c->buf, nl + 1, c->len);
			return 0;
		}
		if (c->len == sizeof(c->buf)) {
			snprintf(why, wlen, "response line longer than %zu bytes",
				 sizeof(c->buf));
			return -1;
		}
		left = (int)(deadline - now_ms());
		if (left <= 0) {
			snprintf(why, wlen, "no response within %.0f s",
				 opt_timeout_ms / 1e3);
			return -1;
		}
		n = poll(&p, 1, left);
		if (n < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (n <= 0)
			continue;
		n = read(c->resp, c->buf + c->len, sizeof(c->buf) - c->len);
		if (n < 0 && errno != EINTR)
			die("read: %s", strerror(errno));
		if (n == 0) {
			snprintf(why, wlen, "it closed its stdout without answering");
			return -1;
		}
		if (n > 0)
			c->len += n;
	}
}

/* Kill the child and reap it. */
static void kill_child(struct child *c)
{
	kill(c->pid, SIGKILL);
	if (waitpid(c->pid, NULL, 0) < 0)
		die("waitpid %d: %s", (int)c->pid, strerror(errno));
	close(c->req);
	close(c->resp);
}

/* Close its stdin: it must exit 0 (end of input) within the timeout. */
static void finish(struct child *c, const struct fn *f, const char *what)
{
	char desc[128];
	int st;

	close(c->req);
	st = wait_child(c->pid, 0, opt_timeout_ms);
	close(c->resp);
	if (st == -1) {
		kill(c->pid, SIGKILL);
		waitpid(c->pid, NULL, 0);
		die("%s, %s: did not exit at end of input within %.0f s",
		    f->name, what, opt_timeout_ms / 1e3);
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		describe_status(st, desc, sizeof(desc));
		die("%s, %s: %s at end of input (expected status 0)", f->name,
		    what, desc);
	}
}

/* Reap a child that failed to answer and describe what happened. */
static void __attribute__((noreturn))
fail_child(struct child *c, const struct fn *f, const char *what,
	   const char *why)
{
	char desc[128];
	int st;

	close(c->req);
	st = wait_child(c->pid, 0, 5000);
	if (st == -1) {
		kill(c->pid, SIGKILL);
		waitpid(c->pid, &st, 0);
	}
	describe_status(st, desc, sizeof(desc));
	die("%s, %s: %s; the function %s", f->name, what, why, desc);
}

/* Both functions answer a request they cannot serve with an error. */
static void check_not_error(const struct fn *f, const char *what,
			    const char *resp)
{
	if (!strncmp(resp, "error", 5) || strstr(resp, "\"error\""))
		die("%s, %s: the function answered an error: %s", f->name,
		    what, resp);
}

/* The response must be the cold exec's response to the same request. */
static void check_response(const struct fn *f, const char *what,
			   const char *req, const char *got,
			   const char *expected)
{
	if (strcmp(got, expected)) {
		fflush(stdout);
		fprintf(stderr,
			"coldstart: error: %s, %s: wrong response\n"
			"  request:  %s"
			"  expected: %s   (cold exec)\n"
			"  got:      %s\n", f->name, what, req, expected, got);
		exit(1);
	}
	check_not_error(f, what, got);
}

/* ---------------------------------------------------------------------- */
/* The four ways                                                          */

/*
 * Cold exec of request @i: returns the time to the first response and
 * stores the response in @resp (the reference for the other columns).
 */
static double run_cold_exec(struct fn *f, unsigned int i, char *resp,
			    size_t len)
{
	char req[256], why[256];
	struct child c;
	double t0, t;

	f->request(i, req, sizeof(req));
	drop_caches(opt_no_drop, "run as root, or pass --no-drop-caches");
	fflush(NULL);
	t0 = now_ms();
	start(&c, f, EXEC);
	send_request(&c, req);
	if (read_line(&c, resp, len, why, sizeof(why)))
		fail_child(&c, f, "cold exec", why);
	t = now_ms() - t0;
	if (!strncmp(resp, CHILD_ERROR, strlen(CHILD_ERROR)))
		die("%s, cold exec: %s", f->name, resp + strlen(CHILD_ERROR));
	check_not_error(f, "cold exec", resp);
	finish(&c, f, "cold exec");
	return t;
}

/* Start with SPICE_CAPTURE=1, wait for the stop, capture, kill. */
static int capture(struct fn *f)
{
	struct snapshot_reason reason = { 0 };
	char desc[128];
	struct child c;
	struct stat st;
	double t0;
	int fd, s, rc;

	snprintf(f->image, sizeof(f->image), "%s/coldstart-%s.img", opt_dir,
		 f->name);
	fd = open(f->image, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die("%s: %s", f->image, strerror(errno));

	t0 = now_ms();
	start(&c, f, EXEC_CAPTURE);
	s = wait_child(c.pid, WUNTRACED, opt_timeout_ms);
	if (s == -1) {
		kill_child(&c);
		die("%s: did not stop itself within %.0f s of starting",
		    f->name, opt_timeout_ms / 1e3);
	}
	if (!WIFSTOPPED(s)) {
		describe_status(s, desc, sizeof(desc));
		die("%s: %s before its ready point (SIGSTOP)", f->name, desc);
	}
	f->init_ms = now_ms() - t0;

	t0 = now_ms();
	rc = spice_capture_pid(c.pid, fd, opt_capture_flags, &reason);
	if (!rc && fsync(fd))
		rc = -errno;
	f->capture_ms = now_ms() - t0;
	kill_child(&c);
	if (rc == -ENOSYS) {
		close(fd);
		unlink(f->image);
		return rc;
	}
	if (rc == -EOPNOTSUPP && reason.code)
		die("%s: capture: %s: reason %s (fd %d, address %#llx)",
		    f->name, strerror(-rc),
		    spice_image_reason_name(reason.code) ?: "?", reason.fd,
		    (unsigned long long)reason.addr);
	if (rc)
		die("%s: capture: %s", f->name, strerror(-rc));
	if (fstat(fd, &st))
		die("%s: %s", f->image, strerror(errno));
	f->image_bytes = st.st_size;
	f->image_alloc = (off_t)st.st_blocks * 512;
	f->captured = true;
	close(fd);
	return 0;
}

/*
 * Restore request @i from the image: returns the time to the first
 * response, or -1 if snapshot_restore() is not available (ENOSYS,
 * EOPNOTSUPP), with the reason in spice_why.
 */
static double run_restore(struct fn *f, unsigned int i, bool cold,
			  const char *expected)
{
	const char *what = cold ? "Spice restore (cold cache)" :
				  "Spice restore (warm cache)";
	char req[256], resp[4096], why[256];
	const char *msg;
	struct child c;
	double t0, t;
	int err;

	f->request(i, req, sizeof(req));
	if (cold)
		drop_caches(opt_no_drop,
			    "run as root, or pass --no-drop-caches");
	fflush(NULL);
	t0 = now_ms();
	start(&c, f, RESTORE);
	send_request(&c, req);
	if (read_line(&c, resp, sizeof(resp), why, sizeof(why)))
		fail_child(&c, f, what, why);
	t = now_ms() - t0;
	if (!strncmp(resp, CHILD_ERROR, strlen(CHILD_ERROR))) {
		err = atoi(resp + strlen(CHILD_ERROR));
		if (err != ENOSYS && err != EOPNOTSUPP)
			die("%s, %s: %s", f->name, what,
			    resp + strlen(CHILD_ERROR));
		/* "ERRNO what: message": keep "what: message" */
		msg = strchr(resp + strlen(CHILD_ERROR), ' ');
		copy_str(spice_why, sizeof(spice_why), msg ? msg + 1 : resp);
		close(c.req);
		close(c.resp);
		waitpid(c.pid, NULL, 0);
		return -1;
	}
	check_response(f, what, req, resp, expected);
	finish(&c, f, what);
	return t;
}

/*
 * The warm process: started once (without SPICE_CAPTURE), one request
 * answered untimed so that it has initialised, then one timed round trip
 * per repetition. It runs after the cold columns: a live process keeps its
 * files' pages mapped, and dropping the cache would not evict them.
 */
static void run_warm(struct fn *f, char expected[][4096])
{
	char req[256], resp[4096], why[256];
	struct child c;
	unsigned int i;
	double t0;

	start(&c, f, EXEC);
	f->request(0, req, sizeof(req));
	send_request(&c, req);
	if (read_line(&c, resp, sizeof(resp), why, sizeof(why)))
		fail_child(&c, f, "warm process (start)", why);
	if (!strncmp(resp, CHILD_ERROR, strlen(CHILD_ERROR)))
		die("%s, warm process: %s", f->name, resp + strlen(CHILD_ERROR));
	check_response(f, "warm process", req, resp, expected[0]);
	for (i = 0; i < opt_reps; i++) {
		f->request(i, req, sizeof(req));
		t0 = now_ms();
		send_request(&c, req);
		if (read_line(&c, resp, sizeof(resp), why, sizeof(why)))
			fail_child(&c, f, "warm process", why);
		f->warm[i] = now_ms() - t0;
		check_response(f, "warm process", req, resp, expected[i]);
	}
	finish(&c, f, "warm process");
}

static void run_function(struct fn *f)
{
	static char expected[MAX_REPS][4096];
	char t1[32], t2[32], t3[32], line[128];
	unsigned int i;
	double t;
	int rc;

	printf("%s: %s%s\n", f->name, f->python ? "python3 " : "", f->path);
	if (spice_state == SPICE_ON) {
		rc = capture(f);
		if (rc == -ENOSYS) {
			spice_state = SPICE_UNAVAILABLE;
			snprintf(spice_why, sizeof(spice_why),
				 "snapshot_capture: %s", strerror(-rc));
		} else {
			f->restore_ok = !restore_unavailable;
			printf("  captured once initialised: init %.0f ms, capture "
			       "%.0f ms (fsync included), image %.1f MiB\n",
			       f->init_ms, f->capture_ms,
			       f->image_bytes / 1048576.0);
		}
	}
	for (i = 0; i < opt_reps; i++) {
		f->cold[i] = run_cold_exec(f, i, expected[i], sizeof(expected[i]));
		if (i == 0)
			copy_str(f->first_response, sizeof(f->first_response),
				 expected[0]);
		fmt_ms(t1, sizeof(t1), f->cold[i], " ms");
		snprintf(line, sizeof(line), "  run %u/%u: cold exec %s", i + 1,
			 opt_reps, t1);
		if (f->restore_ok) {
			t = run_restore(f, i, true, expected[i]);
			if (t < 0) {
				restore_unavailable = true;
				f->restore_ok = false;
				printf("%s, Spice restore unavailable: %s\n", line,
				       spice_why);
				continue;
			}
			f->rcold[i] = t;
			t = run_restore(f, i, false, expected[i]);
			if (t < 0)
				die("%s: restore worked with a cold cache, then "
				    "failed with a warm one: %s", f->name,
				    spice_why);
			f->rwarm[i] = t;
			fmt_ms(t2, sizeof(t2), f->rcold[i], " ms");
			fmt_ms(t3, sizeof(t3), f->rwarm[i], " ms");
			printf("%s, Spice restore cold %s, warm %s\n", line, t2,
			       t3);
		} else {
			printf("%s\n", line);
		}
		fflush(stdout);
	}
	run_warm(f, expected);
	fmt_ms(t1, sizeof(t1), median(f->warm, opt_reps), " ms");
	printf("  warm process: %s (median); responses checked\n", t1);
	if (f->captured && !opt_keep)
		unlink(f->image);
}

/* ---------------------------------------------------------------------- */
/* Output                                                                 */

static void fmt_ratio(char *buf, size_t len, double x)
{
	snprintf(buf, len, x < 100 ? "%.1fx" : "%.0fx", x);
}

static void print_table(void)
{
	char a[32], b[32], c[32], d[32], r1[32], r2[32], img[32];
	double mc, mr, mw;
	unsigned int i;
	struct fn *f;

	printf("\n| function | cold exec | Spice restore (cold cache) | "
	       "Spice restore (warm cache) | warm process | "
	       "cold exec / Spice cold | Spice cold / warm | image |\n");
	printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
	for (i = 0; i < NR_FNS; i++) {
		f = &fns[i];
		if (!f->selected)
			continue;
		mc = median(f->cold, opt_reps);
		mw = median(f->warm, opt_reps);
		fmt_ms(a, sizeof(a), mc, " ms");
		fmt_ms(d, sizeof(d), mw, " ms");
		strcpy(b, "n/a");
		strcpy(c, "n/a");
		strcpy(r1, "n/a");
		strcpy(r2, "n/a");
		strcpy(img, "n/a");
		if (f->restore_ok) {
			mr = median(f->rcold, opt_reps);
			fmt_ms(b, sizeof(b), mr, " ms");
			fmt_ms(c, sizeof(c), median(f->rwarm, opt_reps), " ms");
			fmt_ratio(r1, sizeof(r1), mc / mr);
			fmt_ratio(r2, sizeof(r2), mr / mw);
		}
		if (f->captured)
			snprintf(img, sizeof(img), "%.1f MiB",
				 f->image_bytes / 1048576.0);
		printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", f->label,
		       a, b, c, d, r1, r2, img);
	}
	printf("\nMedians of %u runs: time from fork() (warm process: from "
	       "writing the request) to the first response line. Under TCG "
	       "only the ratios mean anything.\n", opt_reps);
	if (opt_no_drop)
		printf("The page cache was NOT dropped (--no-drop-caches): the "
		       "\"cold\" columns are warm.\n");
	if (spice_state == SPICE_OFF)
		printf("Spice restore not measured (--no-spice).\n");
	else if (spice_state == SPICE_UNAVAILABLE || restore_unavailable)
		printf("Spice restore unavailable: %s.\n", spice_why);
}

static void json_samples(FILE *j, const char *key, const double *v, bool ok,
			 bool last)
{
	unsigned int i;

	fprintf(j, "      \"%s\": ", key);
	if (!ok) {
		fprintf(j, "null%s\n", last ? "" : ",");
		return;
	}
	fprintf(j, "{\"median_ms\": %.3f, \"min_ms\": %.3f, \"samples_ms\": [",
		median(v, opt_reps), minimum(v, opt_reps));
	for (i = 0; i < opt_reps; i++)
		fprintf(j, "%s%.3f", i ? ", " : "", v[i]);
	fprintf(j, "]}%s\n", last ? "" : ",");
}

static void write_json(const char *path)
{
	struct utsname u;
	unsigned int i, n = 0;
	struct fn *f;
	FILE *j;

	j = fopen(path, "w");
	if (!j)
		die("%s: %s", path, strerror(errno));
	uname(&u);
	fprintf(j, "{\n  \"benchmark\": \"coldstart\",\n  \"kernel\": ");
	json_str(j, u.release);
	fprintf(j, ",\n  \"reps\": %u,\n  \"caches_dropped\": %s,\n"
		"  \"capture_flags\": %" PRIu64 ",\n"
		"  \"restore_flags\": %" PRIu64 ",\n  \"spice\": ",
		opt_reps, opt_no_drop ? "false" : "true", opt_capture_flags,
		opt_restore_flags);
	json_str(j, spice_state == SPICE_OFF ? "disabled" :
		    spice_state == SPICE_UNAVAILABLE ? "unavailable" :
		    restore_unavailable ? "restore unavailable" : "measured");
	fprintf(j, ",\n  \"spice_unavailable_reason\": ");
	if (spice_state == SPICE_UNAVAILABLE || restore_unavailable)
		json_str(j, spice_why);
	else
		fprintf(j, "null");
	fprintf(j, ",\n  \"functions\": [\n");
	for (i = 0; i < NR_FNS; i++) {
		f = &fns[i];
		if (!f->selected)
			continue;
		fprintf(j, "%s    {\n      \"name\": ", n++ ? ",\n" : "");
		json_str(j, f->name);
		fprintf(j, ",\n      \"path\": ");
		json_str(j, f->path);
		fprintf(j, ",\n      \"first_response\": ");
		json_str(j, f->first_response);
		fprintf(j, ",\n");
		if (f->captured)
			fprintf(j, "      \"init_ms\": %.3f,\n"
				"      \"capture_ms\": %.3f,\n"
				"      \"image_bytes\": %lld,\n"
				"      \"image_allocated_bytes\": %lld,\n",
				f->init_ms, f->capture_ms,
				(long long)f->image_bytes,
				(long long)f->image_alloc);
		if (f->restore_ok)
			fprintf(j, "      \"cold_exec_over_restore_cold\": %.3f,\n"
				"      \"restore_cold_over_warm\": %.3f,\n",
				median(f->cold, opt_reps) /
				median(f->rcold, opt_reps),
				median(f->rcold, opt_reps) /
				median(f->warm, opt_reps));
		json_samples(j, "cold_exec", f->cold, true, false);
		json_samples(j, "restore_cold", f->rcold, f->restore_ok, false);
		json_samples(j, "restore_warm", f->rwarm, f->restore_ok, false);
		json_samples(j, "warm", f->warm, true, true);
		fprintf(j, "    }");
	}
	fprintf(j, "\n  ]\n}\n");
	if (fclose(j))
		die("%s: %s", path, strerror(errno));
}

/* ---------------------------------------------------------------------- */
/* Main                                                                   */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: coldstart [options] [FUNCTION...]\n"
		"\n"
		"FUNCTION: c, python (default: both)\n"
		"\n"
		"  --reps N            runs per column (default 5, at most %d)\n"
		"  --dir DIR           where the images go (default /scratch)\n"
		"  --json FILE         also write the results as JSON\n"
		"  --functions DIR     where hello and hello.py are (default: this\n"
		"                      program's directory)\n"
		"  --python PATH       the interpreter (default /usr/bin/python3)\n"
		"  --timeout SEC       longest wait for a response (default 600)\n"
		"  --no-spice          cold exec and warm only, no capture/restore\n"
		"  --no-drop-caches    do not drop the page cache (cold is warm)\n"
		"  --working-set       capture with SNAPSHOT_CAPTURE_WORKING_SET\n"
		"  --share-cache       restore with SNAPSHOT_RESTORE_SHARE_CACHE\n"
		"  --lazy              restore with SNAPSHOT_RESTORE_LAZY\n"
		"  --keep              keep the images\n"
		"\n"
		"Exit status: 0 all measured, 1 error (a wrong response included),\n"
		"2 usage, 3 Spice restore unavailable (the rest was measured).\n",
		MAX_REPS);
}

static void set_paths(void)
{
	char self[PATH_MAX], *slash;
	unsigned int i;
	ssize_t n;

	if (!opt_fndir) {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n < 0)
			die("/proc/self/exe: %s", strerror(errno));
		self[n] = 0;
		slash = strrchr(self, '/');
		*slash = 0;
		opt_fndir = strdup(self);
	}
	for (i = 0; i < NR_FNS; i++) {
		snprintf(fns[i].path, sizeof(fns[i].path), "%s/%s", opt_fndir,
			 fns[i].file);
		if (fns[i].selected && access(fns[i].path, R_OK))
			die("%s: %s (--functions DIR)", fns[i].path,
			    strerror(errno));
		if (fns[i].selected && fns[i].python && access(opt_python, X_OK))
			die("%s: %s (--python PATH)", opt_python,
			    strerror(errno));
	}
}

int main(int argc, char **argv)
{
	enum { O_REPS = 256, O_DIR, O_JSON, O_FNDIR, O_PYTHON, O_TIMEOUT,
	       O_NO_SPICE, O_NO_DROP, O_WS, O_SHARE, O_LAZY, O_KEEP, O_HELP };
	static const struct option opts[] = {
		{ "reps", required_argument, NULL, O_REPS },
		{ "dir", required_argument, NULL, O_DIR },
		{ "json", required_argument, NULL, O_JSON },
		{ "functions", required_argument, NULL, O_FNDIR },
		{ "python", required_argument, NULL, O_PYTHON },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "no-spice", no_argument, NULL, O_NO_SPICE },
		{ "no-drop-caches", no_argument, NULL, O_NO_DROP },
		{ "working-set", no_argument, NULL, O_WS },
		{ "share-cache", no_argument, NULL, O_SHARE },
		{ "lazy", no_argument, NULL, O_LAZY },
		{ "keep", no_argument, NULL, O_KEEP },
		{ "help", no_argument, NULL, O_HELP },
		{ 0 }
	};
	unsigned int i, j, nsel = 0;
	struct utsname u;
	char *end;
	int o, s;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case O_REPS:
			opt_reps = strtoul(optarg, &end, 10);
			if (*end || !opt_reps || opt_reps > MAX_REPS) {
				fprintf(stderr, "coldstart: --reps: 1 to %d\n",
					MAX_REPS);
				return EXIT_USAGE;
			}
			break;
		case O_DIR: opt_dir = optarg; break;
		case O_JSON: opt_json = optarg; break;
		case O_FNDIR: opt_fndir = optarg; break;
		case O_PYTHON: opt_python = optarg; break;
		case O_TIMEOUT:
			opt_timeout_ms = strtod(optarg, &end) * 1e3;
			if (*end || !(opt_timeout_ms > 0)) {
				fprintf(stderr, "coldstart: bad --timeout\n");
				return EXIT_USAGE;
			}
			break;
		case O_NO_SPICE: opt_no_spice = true; break;
		case O_NO_DROP: opt_no_drop = true; break;
		case O_WS: opt_capture_flags |= SNAPSHOT_CAPTURE_WORKING_SET; break;
		case O_SHARE: opt_restore_flags |= SPICE_RESTORE_SHARE_CACHE; break;
		case O_LAZY: opt_restore_flags |= SPICE_RESTORE_LAZY; break;
		case O_KEEP: opt_keep = true; break;
		case O_HELP: usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	for (; optind < argc; optind++) {
		for (j = 0; j < NR_FNS; j++)
			if (!strcmp(argv[optind], fns[j].name))
				break;
		if (j == NR_FNS) {
			fprintf(stderr, "coldstart: unknown function '%s'\n",
				argv[optind]);
			usage(stderr);
			return EXIT_USAGE;
		}
		fns[j].selected = true;
		nsel++;
	}
	if (!nsel)
		for (j = 0; j < NR_FNS; j++)
			fns[j].selected = true;
	set_paths();
	/*
	 * The children's pipes must not land on fds 0 to 2 (dup2() onto
	 * themselves would keep them close-on-exec): keep those taken.
	 */
	for (o = 0; o < 3; o++)
		if (fcntl(o, F_GETFD) < 0 && open("/dev/null", O_RDWR) != o)
			die("/dev/null: cannot open as fd %d", o);
	/* A function that dies must not kill us through a write. */
	signal(SIGPIPE, SIG_IGN);

	if (opt_no_spice) {
		spice_state = SPICE_OFF;
	} else {
		s = spice_supported();
		if (s != 1) {
			spice_state = SPICE_UNAVAILABLE;
			snprintf(spice_why, sizeof(spice_why),
				 "the kernel does not implement the interface (%s)",
				 s < 0 ? strerror(-s) :
				 "no /sys/kernel/snapshot, or an older ABI");
		}
	}
	uname(&u);
	printf("coldstart: kernel %s, %u runs per column, images in %s%s\n",
	       u.release, opt_reps, opt_dir,
	       opt_no_drop ? ", page cache not dropped" : "");
	for (i = 0; i < NR_FNS; i++)
		if (fns[i].selected)
			run_function(&fns[i]);
	print_table();
	if (opt_json)
		write_json(opt_json);
	return spice_state == SPICE_UNAVAILABLE || restore_unavailable ?
	       EXIT_NO_SPICE : 0;
}
