/*
 * Unit tests for libspice.
 *
 *   test_spice [TAP-file]
 *
 * The sysfs parsing is tested on fake directories under a temporary
 * directory. The raw wrappers, spice_populate(), the capture and the
 * restore functions are tested in forked children under seccomp filters,
 * which prove whether the Spice system calls were issued and with which
 * arguments; spice_spawn()'s child is looked at, while it waits in
 * syscall 464, by a thread that a user-notification filter tells of it.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "spice.h"
#include "internal.h"
#include "tmpdir.h"

/*
 * The numbers as the Spice patches define them on x86_64, spelled out here
 * rather than taken from the library so that the tests check them.
 */
#define NR_CAPTURE	463
#define NR_RESTORE	464
#define NR_POPULATE	465

#define REAL_SYSFS	"/sys/kernel/snapshot"

/* Exit codes of the seccomp children. */
#define CHILD_OK		0
#define CHILD_WRONG_RESULT	1
#define CHILD_NO_SECCOMP	2
#define CHILD_RETURNED		3

/* Errno the pass-through filter returns when the arguments are not right. */
#define ERRNO_BAD_ARGS		4000

/*
 * The temporary directory of a test case: made and removed by unchecked
 * fixtures, in the runner's process, so it goes away even when a test
 * fails in its child.
 */
static void tmp_setup(void)
{
	tmp_setup_named("spice-test");
}

/* @out = @dir "/" @name, or fail the test if it does not fit. */
static void join(char *out, size_t size, const char *dir, const char *name)
{
	int n = snprintf(out, size, "%s/%s", dir, name);

	ck_assert_msg(n > 0 && (size_t)n < size, "path too long");
}

#define JOIN(out, dir, name)	join(out, sizeof(out), dir, name)

/* Make a new empty directory for one test (and loop iteration). */
static void make_dir(char *dir, size_t size, const char *test, int i)
{
	int n = snprintf(dir, size, "%s/%s.%d", tmp_dir, test, i);

	ck_assert_msg(n > 0 && (size_t)n < size, "path too long");
	ck_assert_msg(mkdir(dir, 0755) == 0, "mkdir %s: %s", dir,
		      strerror(errno));
}

#define FAKE_DIR(dir)	make_dir(dir, sizeof(dir), __func__, _i)

/* Write @len bytes of @data to the attribute @name of @dir. */
static void put_attr(const char *dir, const char *name, const char *data,
		     size_t len)
{
	char path[PATH_MAX];
	int fd;

	JOIN(path, dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	ck_assert_msg(write(fd, data, len) == (ssize_t)len, "write %s", path);
	ck_assert_int_eq(close(fd), 0);
}

#define PUT_ATTR(dir, name, lit)	put_attr(dir, name, lit, sizeof(lit) - 1)

/*
 * Write @len bytes at @s to @out as C string contents, so that test
 * messages stay on one line of TAP.
 */
static const char *escape(const char *s, size_t len, char *out, size_t size)
{
	size_t i, o = 0;

	for (i = 0; i < len && o + 5 < size; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\n')
			o += (size_t)snprintf(out + o, size - o, "\\n");
		else if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

/* Whether the kernel we run on advertises the interface. */
static int host_has_spice(void)
{
	if (access(REAL_SYSFS, F_OK) == 0) {
		printf("note: %s exists: skipping a test that needs a kernel "
		       "without the interface\n", REAL_SYSFS);
		return 1;
	}
	return 0;
}

/* ---- version ---------------------------------------------------------- */

struct version_case {
	const char *data;
	size_t len;
	int want;
};

#define VCASE(lit, want)	{ lit, sizeof(lit) - 1, want }

static const struct version_case version_cases[] = {
	VCASE("1\n", 1),
	VCASE("7", 7),
	VCASE("42\n", 42),
	VCASE("2147483647\n", INT_MAX),
	VCASE("", -EPROTO),
	VCASE("\n", -EPROTO),
	VCASE("abc", -EPROTO),
	VCASE("0\n", -EPROTO),
	VCASE("0", -EPROTO),
	VCASE("-1", -EPROTO),
	VCASE("+1", -EPROTO),
	VCASE(" 1", -EPROTO),
	VCASE("1 ", -EPROTO),
	VCASE("0x1", -EPROTO),
	VCASE("1\n\n", -EPROTO),
	VCASE("1\n2", -EPROTO),
	VCASE("1\0", -EPROTO),
	VCASE("2147483648", -EPROTO),
	VCASE("99999999999999999999", -EPROTO),
	VCASE("1111111111111111111111111111111111111111\n", -EPROTO),
};

START_TEST(test_version_contents)
{
	const struct version_case *c = &version_cases[_i];
	char dir[PATH_MAX], esc[256];
	int ret;

	FAKE_DIR(dir);
	put_attr(dir, "version", c->data, c->len);
	ret = spice__abi_version_at(dir);
	ck_assert_msg(ret == c->want, "version file \"%s\": got %d, want %d",
		      escape(c->data, c->len, esc, sizeof(esc)), ret, c->want);
}
END_TEST

START_TEST(test_version_missing_dir)
{
	char dir[PATH_MAX];

	JOIN(dir, tmp_dir, "does-not-exist");
	ck_assert_int_eq(spice__abi_version_at(dir), -ENOSYS);
}
END_TEST

START_TEST(test_version_missing_file)
{
	char dir[PATH_MAX];

	FAKE_DIR(dir);
	PUT_ATTR(dir, "capture_flags", "0x3\n");
	ck_assert_int_eq(spice__abi_version_at(dir), -ENOSYS);
}
END_TEST

START_TEST(test_version_read_error)
{
	char dir[PATH_MAX], path[PATH_MAX];

	/* A directory opens fine but read() fails with EISDIR. */
	FAKE_DIR(dir);
	JOIN(path, dir, "version");
	ck_assert_int_eq(mkdir(path, 0755), 0);
	ck_assert_int_eq(spice__abi_version_at(dir), -EISDIR);
}
END_TEST

START_TEST(test_version_keeps_errno)
{
	char dir[PATH_MAX];

	JOIN(dir, tmp_dir, "does-not-exist");
	errno = EL2HLT;
	ck_assert_int_eq(spice__abi_version_at(dir), -ENOSYS);
	ck_assert_int_eq(errno, EL2HLT);
}
END_TEST

START_TEST(test_supported_at)
{
	char dir[PATH_MAX], missing[PATH_MAX];

	FAKE_DIR(dir);
	JOIN(missing, tmp_dir, "does-not-exist");
	ck_assert_int_eq(spice__supported_at(missing), 0);

	PUT_ATTR(dir, "version", "1\n");
	ck_assert_int_eq(spice__supported_at(dir), 1);
	PUT_ATTR(dir, "version", "2\n");
	ck_assert_int_eq(spice__supported_at(dir), 1);
	PUT_ATTR(dir, "version", "garbage\n");
	ck_assert_int_eq(spice__supported_at(dir), -EPROTO);
}
END_TEST

/* ---- flags ------------------------------------------------------------ */

struct flags_case {
	const char *data;
	size_t len;
	int ret;
	uint64_t want;
};

#define FCASE(lit, ret, want)	{ lit, sizeof(lit) - 1, ret, want }

static const struct flags_case flags_cases[] = {
	FCASE("0x3\n", 0, 3),
	FCASE("0x0\n", 0, 0),
	FCASE("0x0", 0, 0),
	FCASE("0xf\n", 0, 15),
	FCASE("0XaB\n", 0, 0xab),
	FCASE("0x8000000000000001\n", 0, 0x8000000000000001ULL),
	FCASE("0xffffffffffffffff\n", 0, UINT64_MAX),
	FCASE("0x0000000000000000000000003\n", 0, 3),
	FCASE("0x10000000000000000\n", -EPROTO, 0),
	FCASE("", -EPROTO, 0),
	FCASE("\n", -EPROTO, 0),
	FCASE("garbage\n", -EPROTO, 0),
	FCASE("3\n", -EPROTO, 0),
	FCASE("0x\n", -EPROTO, 0),
	FCASE("x3\n", -EPROTO, 0),
	FCASE("003\n", -EPROTO, 0),
	FCASE("1x3\n", -EPROTO, 0),
	FCASE("0y3\n", -EPROTO, 0),
	FCASE("0x3g\n", -EPROTO, 0),
	FCASE("0x-3\n", -EPROTO, 0),
	FCASE(" 0x3\n", -EPROTO, 0),
	FCASE("0x3 \n", -EPROTO, 0),
	FCASE("0x3\n\n", -EPROTO, 0),
	FCASE("0x3\n0x4", -EPROTO, 0),
};

#define FLAGS_POISON	0x5a5a5a5a5a5a5a5aULL

START_TEST(test_flags_contents)
{
	const struct flags_case *c = &flags_cases[_i];
	uint64_t flags = FLAGS_POISON;
	char dir[PATH_MAX], esc[256];
	int ret;

	FAKE_DIR(dir);
	put_attr(dir, "restore_flags", c->data, c->len);
	ret = spice__kernel_flags_at(dir, SPICE_CALL_RESTORE, &flags);
	escape(c->data, c->len, esc, sizeof(esc));
	ck_assert_msg(ret == c->ret, "flags file \"%s\": got %d, want %d",
		      esc, ret, c->ret);
	if (ret == 0)
		ck_assert_msg(flags == c->want,
			      "flags file \"%s\": got %#llx, want %#llx", esc,
			      (unsigned long long)flags,
			      (unsigned long long)c->want);
	else
		ck_assert_msg(flags == FLAGS_POISON, "flags changed on error");
}
END_TEST

START_TEST(test_flags_files)
{
	uint64_t flags;
	char dir[PATH_MAX];

	/* Each call reads its own file. */
	FAKE_DIR(dir);
	PUT_ATTR(dir, "capture_flags", "0x3\n");
	PUT_ATTR(dir, "restore_flags", "0x5\n");
	PUT_ATTR(dir, "populate_flags", "0xf\n");

	ck_assert_int_eq(spice__kernel_flags_at(dir, SPICE_CALL_CAPTURE,
						&flags), 0);
	ck_assert_uint_eq(flags, 0x3);
	ck_assert_int_eq(spice__kernel_flags_at(dir, SPICE_CALL_RESTORE,
						&flags), 0);
	ck_assert_uint_eq(flags, 0x5);
	ck_assert_int_eq(spice__kernel_flags_at(dir, SPICE_CALL_POPULATE,
						&flags), 0);
	ck_assert_uint_eq(flags, 0xf);
}
END_TEST

START_TEST(test_flags_bad_args)
{
	uint64_t flags = FLAGS_POISON;
	char dir[PATH_MAX];

	FAKE_DIR(dir);
	PUT_ATTR(dir, "capture_flags", "0x3\n");

	ck_assert_int_eq(spice__kernel_flags_at(dir, (enum spice_call)3,
						&flags), -EINVAL);
	ck_assert_int_eq(spice__kernel_flags_at(dir, (enum spice_call)-1,
						&flags), -EINVAL);
	ck_assert_uint_eq(flags, FLAGS_POISON);
	ck_assert_int_eq(spice__kernel_flags_at(dir, SPICE_CALL_CAPTURE,
						NULL), -EINVAL);

	/* The public function checks its arguments before any I/O. */
	ck_assert_int_eq(spice_kernel_flags((enum spice_call)3, &flags),
			 -EINVAL);
	ck_assert_int_eq(spice_kernel_flags(SPICE_CALL_CAPTURE, NULL),
			 -EINVAL);
	ck_assert_uint_eq(flags, FLAGS_POISON);
}
END_TEST

START_TEST(test_flags_missing)
{
	uint64_t flags = FLAGS_POISON;
	char dir[PATH_MAX], missing[PATH_MAX];

	FAKE_DIR(dir);
	PUT_ATTR(dir, "version", "1\n");
	ck_assert_int_eq(spice__kernel_flags_at(dir, SPICE_CALL_POPULATE,
						&flags), -ENOSYS);
	JOIN(missing, tmp_dir, "does-not-exist");
	ck_assert_int_eq(spice__kernel_flags_at(missing, SPICE_CALL_CAPTURE,
						&flags), -ENOSYS);
	ck_assert_uint_eq(flags, FLAGS_POISON);
}
END_TEST

/* ---- seccomp ---------------------------------------------------------- */

#define LD_DATA(field) \
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, field))
#define LD_ARG(n, hi) \
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, \
		 offsetof(struct seccomp_data, args[n]) + ((hi) ? 4 : 0))
#define RET(val)	BPF_STMT(BPF_RET | BPF_K, (val))

static int load_filter(struct sock_filter *insns, unsigned short len)
{
	struct sock_fprog prog = { .len = len, .filter = insns };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

/* Kill the process on any of the three system calls. */
static int install_kill_filter(void)
{
	struct sock_filter insns[] = {
		/* 0 */ LD_DATA(arch),
		/* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 6),
		/* 2 */ LD_DATA(nr),
		/* 3 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x40000000, 4, 0),
		/* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_CAPTURE, 3, 0),
		/* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_RESTORE, 2, 0),
		/* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_POPULATE, 1, 0),
		/* 7 */ RET(SECCOMP_RET_ALLOW),
		/* 8 */ RET(SECCOMP_RET_KILL_PROCESS),
	};

	return load_filter(insns, sizeof(insns) / sizeof(insns[0]));
}

/*
 * Fail any of the three system calls with errno equal to its number if its
 * arguments are @args and @size, and with ERRNO_BAD_ARGS if not.
 */
static int install_errno_filter(const void *args, size_t size)
{
	uint64_t a = (uintptr_t)args, s = size;
	struct sock_filter insns[] = {
		/*  0 */ LD_DATA(arch),
		/*  1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 17),
		/*  2 */ LD_DATA(nr),
		/*  3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_CAPTURE, 2, 0),
		/*  4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_RESTORE, 1, 0),
		/*  5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_POPULATE, 0, 11),
		/*  6 */ LD_ARG(0, 0),
		/*  7 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)a, 0, 10),
		/*  8 */ LD_ARG(0, 1),
		/*  9 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(a >> 32), 0, 8),
		/* 10 */ LD_ARG(1, 0),
		/* 11 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)s, 0, 6),
		/* 12 */ LD_ARG(1, 1),
		/* 13 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(s >> 32), 0, 4),
		/* 14 */ LD_DATA(nr),
		/* 15 */ BPF_STMT(BPF_ALU | BPF_OR | BPF_K, SECCOMP_RET_ERRNO),
		/* 16 */ BPF_STMT(BPF_RET | BPF_A, 0),
		/* 17 */ RET(SECCOMP_RET_ALLOW),
		/* 18 */ RET(SECCOMP_RET_ERRNO | ERRNO_BAD_ARGS),
		/* 19 */ RET(SECCOMP_RET_KILL_PROCESS),
	};

	return load_filter(insns, sizeof(insns) / sizeof(insns[0]));
}

/* Run @fn in a child without core dumps; return its wait status. */
static int run_child(int (*fn)(void *), void *arg)
{
	struct rlimit no_core = { 0, 0 };
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		setrlimit(RLIMIT_CORE, &no_core);
		_exit(fn(arg));
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

static void assert_child_ok(int status)
{
	ck_assert_msg(!WIFSIGNALED(status),
		      "child killed by signal %d (a Spice system call was issued)",
		      WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	ck_assert_msg(WIFEXITED(status), "child did not exit");
	ck_assert_msg(WEXITSTATUS(status) != CHILD_NO_SECCOMP,
		      "could not install the seccomp filter");
	ck_assert_msg(WEXITSTATUS(status) == CHILD_OK,
		      "child exited with %d: a wrapper returned the wrong value",
		      WEXITSTATUS(status));
}

/* The control: the filter does kill a process that issues syscall 463. */
static int child_raw_syscall(void *arg)
{
	(void)arg;
	if (install_kill_filter() < 0)
		return CHILD_NO_SECCOMP;
	syscall(NR_CAPTURE, NULL, 0);
	return CHILD_RETURNED;
}

START_TEST(test_seccomp_control)
{
	int status = run_child(child_raw_syscall, NULL);

	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS,
		      "child was not killed by SIGSYS (status %#x%s)", status,
		      WIFEXITED(status) &&
		      WEXITSTATUS(status) == CHILD_NO_SECCOMP ?
		      ", seccomp unavailable" : "");
}
END_TEST

/* Every wrapper gives -ENOSYS on this kernel without issuing its call. */
static int child_public_wrappers(void *arg)
{
	struct snapshot_capture_args capture = { 0 };
	struct snapshot_restore_args restore = { 0 };
	struct mmap_populate_args populate = { 0 };

	(void)arg;
	if (install_kill_filter() < 0)
		return CHILD_NO_SECCOMP;
	if (spice_sys_snapshot_capture(&capture, sizeof(capture)) != -ENOSYS)
		return CHILD_WRONG_RESULT;
	if (spice_sys_snapshot_restore(&restore, sizeof(restore)) != -ENOSYS)
		return CHILD_WRONG_RESULT;
	if (spice_sys_mmap_populate_image(&populate, sizeof(populate)) != -ENOSYS)
		return CHILD_WRONG_RESULT;
	if (spice_sys_snapshot_capture(NULL, 24) != -ENOSYS)
		return CHILD_WRONG_RESULT;
	return CHILD_OK;
}

START_TEST(test_host_wrappers_enosys)
{
	if (host_has_spice())
		return;
	assert_child_ok(run_child(child_public_wrappers, NULL));
}
END_TEST

/* The same through the _at variants, on a fake directory without version. */
static int child_at_wrappers_absent(void *arg)
{
	const char *dir = arg;
	struct snapshot_capture_args capture = { 0 };
	struct snapshot_restore_args restore = { 0 };
	struct mmap_populate_args populate = { 0 };

	if (install_kill_filter() < 0)
		return CHILD_NO_SECCOMP;
	if (spice__sys_snapshot_capture_at(dir, &capture,
					   sizeof(capture)) != -ENOSYS)
		return CHILD_WRONG_RESULT;
	if (spice__sys_snapshot_restore_at(dir, &restore,
					   sizeof(restore)) != -ENOSYS)
		return CHILD_WRONG_RESULT;
	if (spice__sys_mmap_populate_image_at(dir, &populate,
					      sizeof(populate)) != -ENOSYS)
		return CHILD_WRONG_RESULT;
	return CHILD_OK;
}

START_TEST(test_wrappers_absent)
{
	char dir[PATH_MAX];

	FAKE_DIR(dir);
	assert_child_ok(run_child(child_at_wrappers_absent, dir));
}
END_TEST

/* A version file that does not parse also keeps the calls from being made. */
static int child_at_wrappers_garbled(void *arg)
{
	const char *dir = arg;
	struct snapshot_capture_args capture = { 0 };

	if (install_kill_filter() < 0)
		return CHILD_NO_SECCOMP;
	if (spice__sys_snapshot_capture_at(dir, &capture,
					   sizeof(capture)) != -EPROTO)
		return CHILD_WRONG_RESULT;
	return CHILD_OK;
}

START_TEST(test_wrappers_garbled)
{
	char dir[PATH_MAX];

	FAKE_DIR(dir);
	PUT_ATTR(dir, "version", "one\n");
	assert_child_ok(run_child(child_at_wrappers_garbled, dir));
}
END_TEST

/*
 * Where the version says the interface is there, each wrapper issues its
 * own system call with the caller's arguments, returns the failure as
 * -errno and leaves errno alone.
 */
struct pass_arg {
	const char *dir;
	void *args;
	size_t size;
};

static int child_at_wrappers_present(void *arg)
{
	const struct pass_arg *p = arg;

	if (install_errno_filter(p->args, p->size) < 0)
		return CHILD_NO_SECCOMP;
	errno = EL2HLT;
	if (spice__sys_snapshot_capture_at(p->dir, p->args,
					   p->size) != -NR_CAPTURE)
		return CHILD_WRONG_RESULT;
	if (spice__sys_snapshot_restore_at(p->dir, p->args,
					   p->size) != -NR_RESTORE)
		return CHILD_WRONG_RESULT;
	if (spice__sys_mmap_populate_image_at(p->dir, p->args,
					      p->size) != -NR_POPULATE)
		return CHILD_WRONG_RESULT;
	if (errno != EL2HLT)
		return CHILD_WRONG_RESULT;
	/* And the filter does tell other arguments apart. */
	if (spice__sys_snapshot_restore_at(p->dir, p->args,
					   p->size + 1) != -ERRNO_BAD_ARGS)
		return CHILD_WRONG_RESULT;
	return CHILD_OK;
}

START_TEST(test_wrappers_present)
{
	/* Large enough for all three argument structures. */
	union {
		struct snapshot_capture_args capture;
		struct snapshot_restore_args restore;
		struct mmap_populate_args populate;
	} args = { 0 };
	struct pass_arg p = { .args = &args, .size = sizeof(args) };
	char dir[PATH_MAX];

	FAKE_DIR(dir);
	PUT_ATTR(dir, "version", "1\n");
	p.dir = dir;
	assert_child_ok(run_child(child_at_wrappers_present, &p));
}
END_TEST

START_TEST(test_wrappers_present_null)
{
	struct pass_arg p = { .args = NULL, .size = 24 };
	char dir[PATH_MAX];

	/* NULL is passed on for the kernel to judge. */
	FAKE_DIR(dir);
	PUT_ATTR(dir, "version", "2\n");
	p.dir = dir;
	assert_child_ok(run_child(child_at_wrappers_present, &p));
}
END_TEST

/* ---- spice_populate --------------------------------------------------- */

/* The page size the cases below are written for; checked at run time. */
#define PG			4096ULL

/* Exit codes of the spice_populate() children, beside the ones above. */
#define CHILD_MAPPED_CHANGED	4
#define CHILD_ERRNO_CHANGED	5
#define CHILD_RETURNED_ZERO	6
#define CHILD_BAD_TRAP		7
/* ... and of the spice_capture_pid() ones. */
#define CHILD_BAD_PIDFD		8
#define CHILD_PIDFD_LEAKED	9
#define CHILD_BAD_REASON	10
/* ... and of the spice_spawn() ones. */
#define CHILD_MASK_CHANGED	11
#define CHILD_FD_LEAKED		12
#define CHILD_ZOMBIE		13
#define CHILD_NOT_RESTORED	14
/* The supervisor of test_spawn_child_state found fault: NOTIF_BAD_*. */
#define CHILD_NOTIF_BASE	15	/* to 18 */
/* spice_populate() returned -e: the child exits with CHILD_ERRNO_BASE + e. */
#define CHILD_ERRNO_BASE	64

/* si_code of a SIGSYS from SECCOMP_RET_TRAP (<asm/siginfo.h>). */
#define SI_SYS_SECCOMP		1

#define DATA_EXT(t, l, f)	{ .target_off = (t), .len = (l), .file_off = (f), \
				  .kind = MMAP_POPULATE_EXTENT_DATA }
#define ZERO_EXT(t, l)		{ .target_off = (t), .len = (l), \
				  .kind = MMAP_POPULATE_EXTENT_ZERO }
#define N_EXT(a)		((uint32_t)(sizeof(a) / sizeof((a)[0])))

/* Valid in a mapping of 8 pages: adjacent, the last ends at the end. */
static const struct mmap_populate_extent ext_good[] = {
	{ .target_off = 0, .len = 2 * PG, .file_off = 0,
	  .kind = MMAP_POPULATE_EXTENT_DATA,
	  .flags = MMAP_POPULATE_EXTENT_WRITTEN },
	ZERO_EXT(2 * PG, PG),
	DATA_EXT(4 * PG, 4 * PG, 8 * PG),
};
static const struct mmap_populate_extent ext_bad_kind[] = {
	{ .target_off = 0, .len = PG, .kind = 2 },
};
static const struct mmap_populate_extent ext_bad_flags[] = {
	{ .target_off = 0, .len = PG, .kind = MMAP_POPULATE_EXTENT_DATA,
	  .flags = MMAP_POPULATE_EXTENT_WRITTEN << 1 },
};
static const struct mmap_populate_extent ext_empty[] = {
	DATA_EXT(0, 0, 0),
};
static const struct mmap_populate_extent ext_target_unaligned[] = {
	DATA_EXT(PG / 2, PG, 0),
};
static const struct mmap_populate_extent ext_len_unaligned[] = {
	DATA_EXT(0, PG + PG / 2, 0),
};
static const struct mmap_populate_extent ext_file_unaligned[] = {
	DATA_EXT(0, PG, PG / 2),
};
/* The kernel checks file_off of zero extents too. */
static const struct mmap_populate_extent ext_zero_file_unaligned[] = {
	{ .target_off = 0, .len = PG, .file_off = 1,
	  .kind = MMAP_POPULATE_EXTENT_ZERO },
};
/* target_off + len wraps to 0, which would pass the other checks. */
static const struct mmap_populate_extent ext_overflow[] = {
	DATA_EXT(UINT64_MAX - PG + 1, PG, 0),
};
static const struct mmap_populate_extent ext_overflow_len[] = {
	DATA_EXT(PG, UINT64_MAX - PG + 1, 0),
};
static const struct mmap_populate_extent ext_beyond[] = {
	DATA_EXT(7 * PG, 2 * PG, 0),
};
static const struct mmap_populate_extent ext_unsorted[] = {
	DATA_EXT(4 * PG, PG, 0),
	DATA_EXT(0, PG, 0),
};
static const struct mmap_populate_extent ext_overlap[] = {
	DATA_EXT(0, 2 * PG, 0),
	ZERO_EXT(PG, PG),
};
/* Every extent is checked, not only the first. */
static const struct mmap_populate_extent ext_bad_last[] = {
	DATA_EXT(0, PG, 0),
	ZERO_EXT(PG, PG),
	{ .target_off = 2 * PG, .len = PG, .kind = 7 },
};

struct populate_case {
	const char *name;
	int fd;
	const struct mmap_populate_extent *extents;
	uint32_t nr_extents;
	uintptr_t addr;
	size_t len;
	int prot;
	uint64_t flags;
	int null_mapped;
	int want;		/* negative errno */
};

/*
 * Valid arguments, each case changing some of them: a later designated
 * initializer overrides an earlier one, which is what -Woverride-init
 * (in -Wextra) warns about, on purpose here.
 */
#if defined(__clang__)
# define OVERRIDE_INIT_BEGIN \
	_Pragma("GCC diagnostic push") \
	_Pragma("GCC diagnostic ignored \"-Winitializer-overrides\"")
#else
# define OVERRIDE_INIT_BEGIN \
	_Pragma("GCC diagnostic push") \
	_Pragma("GCC diagnostic ignored \"-Woverride-init\"")
#endif
#define OVERRIDE_INIT_END	_Pragma("GCC diagnostic pop")
#define PCASE(desc, err, ...)						\
	{ .name = desc, .fd = 3, .extents = ext_good,			\
	  .nr_extents = N_EXT(ext_good), .addr = 0, .len = 8 * PG,	\
	  .prot = PROT_READ | PROT_WRITE, .flags = 0, .want = err,	\
	  __VA_ARGS__ }
#define WITH_EXT(a)	.extents = a, .nr_extents = N_EXT(a)

#define FIXED		MMAP_POPULATE_FIXED
#define NOREPLACE	MMAP_POPULATE_FIXED_NOREPLACE
#define SHARE		MMAP_POPULATE_SHARE_CACHE
#define FILL		MMAP_POPULATE_FILL

OVERRIDE_INIT_BEGIN

/* Arguments the kernel would reject: no system call may be issued. */
static const struct populate_case reject_cases[] = {
	PCASE("mapped NULL", -EINVAL, .null_mapped = 1),
	PCASE("fd -1", -EBADF, .fd = -1),
	PCASE("fd INT_MIN", -EBADF, .fd = INT_MIN),
	PCASE("len 0", -EINVAL, .len = 0),
	PCASE("nr_extents MAX + 1", -E2BIG, .extents = NULL,
	      .nr_extents = MMAP_POPULATE_MAX_EXTENTS + 1),
	PCASE("nr_extents UINT32_MAX", -E2BIG, .nr_extents = UINT32_MAX),
	PCASE("extents NULL, nr_extents 1", -EFAULT, .extents = NULL,
	      .nr_extents = 1),
	PCASE("extents NULL, nr_extents MAX", -EFAULT, .extents = NULL,
	      .nr_extents = MMAP_POPULATE_MAX_EXTENTS),
	PCASE("unknown flag 1 << 4", -EINVAL, .flags = 1ULL << 4),
	PCASE("unknown flag 1 << 63", -EINVAL, .flags = 1ULL << 63),
	PCASE("FIXED | FIXED_NOREPLACE", -EINVAL, .flags = FIXED | NOREPLACE),
	PCASE("FILL | FIXED", -EINVAL, .flags = FILL | FIXED, .prot = 0),
	PCASE("FILL | FIXED_NOREPLACE", -EINVAL, .flags = FILL | NOREPLACE,
	      .prot = 0),
	PCASE("FILL | SHARE_CACHE", -EINVAL, .flags = FILL | SHARE, .prot = 0),
	PCASE("FILL with prot", -EINVAL, .flags = FILL, .prot = PROT_READ),
	/* PROT_SEM of <asm-generic/mman-common.h>, which glibc lacks. */
	PCASE("prot PROT_SEM", -EINVAL, .prot = PROT_READ | 0x8),
	PCASE("prot PROT_GROWSDOWN", -EINVAL, .prot = PROT_GROWSDOWN),
	PCASE("prot -1", -EINVAL, .prot = -1),
	PCASE("FIXED, addr off a page", -EINVAL, .flags = FIXED,
	      .addr = 0x10000000 + 8),
	PCASE("FIXED_NOREPLACE, addr off a page", -EINVAL, .flags = NOREPLACE,
	      .addr = 0x10000000 + PG / 2),
	PCASE("FILL, addr off a page", -EINVAL, .flags = FILL, .prot = 0,
	      .addr = 0x10000000 + 1),
	PCASE("extent kind unknown", -EINVAL, WITH_EXT(ext_bad_kind)),
	PCASE("extent flags unknown", -EINVAL, WITH_EXT(ext_bad_flags)),
	PCASE("extent len 0", -EINVAL, WITH_EXT(ext_empty)),
	PCASE("extent target_off off a page", -EINVAL,
	      WITH_EXT(ext_target_unaligned)),
	PCASE("extent len off a page", -EINVAL, WITH_EXT(ext_len_unaligned)),
	PCASE("extent file_off off a page", -EINVAL,
	      WITH_EXT(ext_file_unaligned)),
	PCASE("zero extent file_off off a page", -EINVAL,
	      WITH_EXT(ext_zero_file_unaligned)),
	PCASE("extent target_off + len overflows", -EINVAL,
	      WITH_EXT(ext_overflow)),
	PCASE("extent len overflows", -EINVAL, WITH_EXT(ext_overflow_len)),
	PCASE("extent beyond len", -EINVAL, WITH_EXT(ext_beyond)),
	PCASE("extent beyond a len off a page", -EINVAL, .len = 8 * PG - 1),
	PCASE("extents out of order", -EINVAL, WITH_EXT(ext_unsorted)),
	PCASE("extents overlap", -EINVAL, WITH_EXT(ext_overlap)),
	PCASE("last extent bad", -EINVAL, WITH_EXT(ext_bad_last)),
	/* Several errors: the one the kernel finds first. */
	PCASE("fd -1 and FIXED addr off a page", -EBADF, .fd = -1,
	      .flags = FIXED, .addr = 1),
	PCASE("fd -1 and a bad extent", -EBADF, .fd = -1,
	      WITH_EXT(ext_bad_kind)),
	PCASE("fd -1 and extents NULL", -EBADF, .fd = -1, .extents = NULL),
	PCASE("fd -1 and FILL addr off a page", -EINVAL, .fd = -1,
	      .flags = FILL, .prot = 0, .addr = 1),
	PCASE("fd -1 and too many extents", -E2BIG, .fd = -1,
	      .nr_extents = MMAP_POPULATE_MAX_EXTENTS + 1),
	PCASE("len 0 and fd -1", -EINVAL, .len = 0, .fd = -1),
};

/* Arguments that pass the checks: they reach the interface check. */
static const struct populate_case accept_cases[] = {
	PCASE("copy mode", 0),
	PCASE("no extents", 0, .extents = NULL, .nr_extents = 0),
	PCASE("extents, nr_extents 0", 0, .nr_extents = 0),
	PCASE("fd 0, prot 0", 0, .fd = 0, .prot = 0),
	PCASE("prot RWX", 0, .prot = PROT_READ | PROT_WRITE | PROT_EXEC),
	PCASE("hint off a page", 0, .addr = 0x10000000 + 1),
	PCASE("FIXED", 0, .flags = FIXED, .addr = 0x10000000),
	PCASE("FIXED_NOREPLACE", 0, .flags = NOREPLACE, .addr = 0x10000000),
	PCASE("SHARE_CACHE", 0, .flags = SHARE),
	PCASE("FIXED | SHARE_CACHE", 0, .flags = FIXED | SHARE,
	      .addr = 0x10000000),
	PCASE("FILL", 0, .flags = FILL, .prot = 0, .addr = 0x10000000),
	PCASE("len off a page", 0, .len = 8 * PG + 1),
	PCASE("len off a page, extent in it", 0, WITH_EXT(ext_beyond),
	      .len = 9 * PG + 1),
};

OVERRIDE_INIT_END

/* Where spice_populate() must leave *mapped alone. */
static char mapped_poison;

static int call_populate(const struct populate_case *c, const char *dir,
			 void **mapped)
{
	void **out = c->null_mapped ? NULL : mapped;

	if (dir)
		return spice__populate_at(dir, c->fd, c->extents,
					  c->nr_extents, (void *)c->addr,
					  c->len, c->prot, c->flags, out);
	return spice_populate(c->fd, c->extents, c->nr_extents,
			      (void *)c->addr, c->len, c->prot, c->flags, out);
}

static int populate_exit_code(int ret)
{
	if (ret == 0)
		return CHILD_RETURNED_ZERO;
	if (ret < 0 && -ret < 256 - CHILD_ERRNO_BASE)
		return CHILD_ERRNO_BASE - ret;
	return CHILD_WRONG_RESULT;
}

static const char *describe_exit(int code, char *buf, size_t size)
{
	switch (code) {
	case CHILD_OK:
		return "the expected result";
	case CHILD_WRONG_RESULT:
		return "a result out of the range tested";
	case CHILD_MAPPED_CHANGED:
		return "*mapped changed on failure";
	case CHILD_ERRNO_CHANGED:
		return "errno changed";
	case CHILD_RETURNED_ZERO:
		return "success";
	case CHILD_BAD_TRAP:
		return "the system call was issued with wrong arguments";
	case CHILD_BAD_PIDFD:
		return "the pidfd passed is not one of the process";
	case CHILD_PIDFD_LEAKED:
		return "the pidfd was left open";
	case CHILD_BAD_REASON:
		return "the reason did not reach the caller";
	case CHILD_MASK_CHANGED:
		return "the caller's signal mask changed";
	case CHILD_FD_LEAKED:
		return "a descriptor was left open, or one closed";
	case CHILD_ZOMBIE:
		return "a child was left behind";
	case CHILD_NOT_RESTORED:
		return "the child did not die in syscall 464";
	case CHILD_NOTIF_BASE:
		return "the child's restore arguments are wrong";
	case CHILD_NOTIF_BASE + 1:
		return "the child's fd map is not the caller's";
	case CHILD_NOTIF_BASE + 2:
		return "the child does not block every signal";
	case CHILD_NOTIF_BASE + 3:
		return "the child's descriptors 0-2 are not the caller's";
	}
	if (code >= CHILD_ERRNO_BASE)
		snprintf(buf, size, "-%d (%s)", code - CHILD_ERRNO_BASE,
			 strerror(code - CHILD_ERRNO_BASE));
	else
		snprintf(buf, size, "exit code %d", code);
	return buf;
}

/*
 * Assert that the child exited (was not killed for issuing a system call
 * its seccomp filter forbids: syscall 465, or 464, or fork)
 * with @want: CHILD_OK, or populate_exit_code() of the expected result.
 */
static void assert_populate_exit(int status, int want, const char *name,
				 const char *how)
{
	char got_buf[64], want_buf[64];
	int code;

	ck_assert_msg(!WIFSIGNALED(status),
		      "%s (%s): child killed by signal %d (a system call its filter forbids was issued)",
		      name, how, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	ck_assert_msg(WIFEXITED(status), "%s (%s): child did not exit", name,
		      how);
	code = WEXITSTATUS(status);
	ck_assert_msg(code != CHILD_NO_SECCOMP,
		      "could not install the seccomp filter");
	ck_assert_msg(code == want, "%s (%s): got %s, want %s", name, how,
		      describe_exit(code, got_buf, sizeof(got_buf)),
		      describe_exit(want, want_buf, sizeof(want_buf)));
}

struct populate_run {
	const struct populate_case *c;
	const char *dir;	/* NULL: the public spice_populate() */
};

/* Call spice_populate() where any Spice system call kills the process. */
static int child_populate(void *arg)
{
	const struct populate_run *r = arg;
	void *mapped = &mapped_poison;
	int ret;

	if (install_kill_filter() < 0)
		return CHILD_NO_SECCOMP;
	errno = EL2HLT;
	ret = call_populate(r->c, r->dir, &mapped);
	if (errno != EL2HLT)
		return CHILD_ERRNO_CHANGED;
	if (ret != 0 && mapped != &mapped_poison)
		return CHILD_MAPPED_CHANGED;
	return populate_exit_code(ret);
}

static void run_populate(const struct populate_case *c, const char *dir,
			 int want, const char *how)
{
	struct populate_run r = { .c = c, .dir = dir };

	assert_populate_exit(run_child(child_populate, &r),
			     populate_exit_code(want), c->name, how);
}

START_TEST(test_populate_reject)
{
	const struct populate_case *c = &reject_cases[_i];
	char dir[PATH_MAX];

	ck_assert_int_eq(sysconf(_SC_PAGESIZE), PG);
	/*
	 * Where the interface is advertised, so that a call that got past
	 * the checks would be issued and the child killed.
	 */
	FAKE_DIR(dir);
	PUT_ATTR(dir, "version", "1\n");
	run_populate(c, dir, c->want, "interface present");
	/* The public function on this host, whatever it runs. */
	run_populate(c, NULL, c->want, "spice_populate");
}
END_TEST

START_TEST(test_populate_accept)
{
	const struct populate_case *c = &accept_cases[_i];
	char dir[PATH_MAX];

	ck_assert_int_eq(sysconf(_SC_PAGESIZE), PG);
	/* Past the checks, the interface check: no version file. */
	FAKE_DIR(dir);
	run_populate(c, dir, -ENOSYS, "interface absent");
	if (!host_has_spice())
		run_populate(c, NULL, -ENOSYS, "spice_populate on this host");
}
END_TEST

/*
 * Pass-through: syscall 465 traps to a SIGSYS handler, which checks the
 * argument structure the call points to (it is still live while the call is
 * in progress) and makes the call return what the test says.
 */
static struct mmap_populate_args trap_want;
static long trap_ret;
static volatile sig_atomic_t trap_calls, trap_bad;

static void populate_trap(int sig, siginfo_t *si, void *ctx)
{
	greg_t *regs = ((ucontext_t *)ctx)->uc_mcontext.gregs;
	const struct mmap_populate_args *args =
		(const void *)(uintptr_t)regs[REG_RDI];

	(void)sig;
	trap_calls++;
	if (si->si_code != SI_SYS_SECCOMP || si->si_syscall != NR_POPULATE ||
	    si->si_arch != AUDIT_ARCH_X86_64 ||
	    (uint64_t)regs[REG_RSI] != MMAP_POPULATE_ARGS_SIZE_VER0 || !args ||
	    memcmp(args, &trap_want, sizeof(trap_want)) != 0)
		trap_bad = 1;
	regs[REG_RAX] = trap_ret;
}

/* Trap syscall 465 and kill the process on the other two. */
static int install_trap_filter(void)
{
	struct sigaction sa;
	struct sock_filter insns[] = {
		/* 0 */ LD_DATA(arch),
		/* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 5),
		/* 2 */ LD_DATA(nr),
		/* 3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_POPULATE, 4, 0),
		/* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_CAPTURE, 2, 0),
		/* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_RESTORE, 1, 0),
		/* 6 */ RET(SECCOMP_RET_ALLOW),
		/* 7 */ RET(SECCOMP_RET_KILL_PROCESS),
		/* 8 */ RET(SECCOMP_RET_TRAP),
	};

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = populate_trap;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return -1;
	return load_filter(insns, sizeof(insns) / sizeof(insns[0]));
}

struct trap_case {
	const char *name;
	struct populate_case call;
	long kernel_ret;	/* what syscall 465 returns */
	int want;		/* what spice_populate() returns */
};

#define MAP_ADDR	0x7f1234560000L

OVERRIDE_INIT_BEGIN
static const struct trap_case trap_cases[] = {
	{ "copy mode, mapped", PCASE("", 0, .fd = 5, .addr = 0x12345),
	  MAP_ADDR, 0 },
	{ "copy mode, ENOMEM", PCASE("", 0), -ENOMEM, -ENOMEM },
	{ "FILL, mapped", PCASE("", 0, .flags = FILL, .prot = 0,
				.addr = 0x7f0000000000, .extents = NULL,
				.nr_extents = 0), 0x7f0000000000, 0 },
	{ "FIXED_NOREPLACE | SHARE_CACHE, EEXIST",
	  PCASE("", 0, .flags = NOREPLACE | SHARE, .addr = 0x10000000,
		.prot = PROT_READ | PROT_WRITE | PROT_EXEC), -EEXIST, -EEXIST },
	{ "-1 is EPERM", PCASE("", 0), -1, -EPERM },
	{ "-4095 is an error", PCASE("", 0), -4095, -4095 },
	{ "-4096 is an address", PCASE("", 0), -4096, 0 },
	{ "address 0", PCASE("", 0, .flags = FIXED), 0, 0 },
};
OVERRIDE_INIT_END

struct trap_run {
	const char *dir;
	const struct trap_case *t;
};

static int child_populate_trap(void *arg)
{
	const struct trap_run *r = arg;
	const struct populate_case *c = &r->t->call;
	void *mapped = &mapped_poison;
	int ret;

	memset(&trap_want, 0, sizeof(trap_want));
	trap_want.flags = c->flags;
	trap_want.addr = c->addr;
	trap_want.len = c->len;
	trap_want.extents = (uintptr_t)c->extents;
	trap_want.nr_extents = c->nr_extents;
	trap_want.extent_size = MMAP_POPULATE_EXTENT_SIZE_VER0;
	trap_want.prot = (uint32_t)c->prot;
	trap_want.fd = c->fd;
	trap_ret = r->t->kernel_ret;

	if (install_trap_filter() < 0)
		return CHILD_NO_SECCOMP;
	errno = EL2HLT;
	ret = call_populate(c, r->dir, &mapped);
	if (trap_calls != 1 || trap_bad)
		return CHILD_BAD_TRAP;
	if (errno != EL2HLT)
		return CHILD_ERRNO_CHANGED;
	if (ret != 0 && mapped != &mapped_poison)
		return CHILD_MAPPED_CHANGED;
	if (ret == 0 && mapped != (void *)(uintptr_t)r->t->kernel_ret)
		return CHILD_WRONG_RESULT;
	return ret == r->t->want ? CHILD_OK : populate_exit_code(ret);
}

START_TEST(test_populate_pass_through)
{
	struct trap_run r = { .t = &trap_cases[_i] };
	char dir[PATH_MAX];

	FAKE_DIR(dir);
	PUT_ATTR(dir, "version", "1\n");
	r.dir = dir;
	assert_populate_exit(run_child(child_populate_trap, &r), CHILD_OK,
			     r.t->name, "trapped");
}
END_TEST

/* The control: without the interface, the trap is not reached either. */
START_TEST(test_populate_trap_absent)
{
	struct trap_run r = { .t = &trap_cases[0] };
	char dir[PATH_MAX];
	int status;

	FAKE_DIR(dir);
	r.dir = dir;
	status = run_child(child_populate_trap, &r);
	ck_assert_msg(WIFEXITED(status) &&
		      WEXITSTATUS(status) == CHILD_BAD_TRAP,
		      "the trap was reached without the interface (status %#x)",
		      status);
}
END_TEST

/*
 * A real seccomp errno from the kernel comes back as -errno: EL3HLT for
 * syscall 465 with the size of the version 0 structure, ERRNO_BAD_ARGS for
 * anything else.
 */
static int install_populate_errno_filter(void)
{
	struct sock_filter insns[] = {
		/*  0 */ LD_DATA(arch),
		/*  1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 11),
		/*  2 */ LD_DATA(nr),
		/*  3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_CAPTURE, 9, 0),
		/*  4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_RESTORE, 8, 0),
		/*  5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_POPULATE, 0, 5),
		/*  6 */ LD_ARG(1, 0),
		/*  7 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, MMAP_POPULATE_ARGS_SIZE_VER0, 0, 4),
		/*  8 */ LD_ARG(1, 1),
		/*  9 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 2),
		/* 10 */ RET(SECCOMP_RET_ERRNO | EL3HLT),
		/* 11 */ RET(SECCOMP_RET_ALLOW),
		/* 12 */ RET(SECCOMP_RET_ERRNO | ERRNO_BAD_ARGS),
		/* 13 */ RET(SECCOMP_RET_KILL_PROCESS),
	};

	return load_filter(insns, sizeof(insns) / sizeof(insns[0]));
}

static int child_populate_errno(void *arg)
{
	const char *dir = arg;
	const struct populate_case *c = &accept_cases[0];
	void *mapped = &mapped_poison;
	int ret;

	if (install_populate_errno_filter() < 0)
		return CHILD_NO_SECCOMP;
	errno = EL2HLT;
	ret = call_populate(c, dir, &mapped);
	if (errno != EL2HLT)
		return CHILD_ERRNO_CHANGED;
	if (ret != 0 && mapped != &mapped_poison)
		return CHILD_MAPPED_CHANGED;
	return ret == -EL3HLT ? CHILD_OK : populate_exit_code(ret);
}

START_TEST(test_populate_errno)
{
	char dir[PATH_MAX];

	FAKE_DIR(dir);
	PUT_ATTR(dir, "version", "1\n");
	assert_populate_exit(run_child(child_populate_errno, dir), CHILD_OK,
			     "seccomp errno", "interface present");
}
END_TEST

/* ---- spice_capture_self, spice_capture_pid ------------------------------- */

#define NR_PIDFD_OPEN	434

/* Kill the process on the three calls and on pidfd_open(). */
static int install_capture_kill_filter(void)
{
	struct sock_filter insns[] = {
		/* 0 */ LD_DATA(arch),
		/* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 7),
		/* 2 */ LD_DATA(nr),
		/* 3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_CAPTURE, 5, 0),
		/* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_RESTORE, 4, 0),
		/* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_POPULATE, 3, 0),
		/* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_PIDFD_OPEN, 2, 0),
		/* 7 */ RET(SECCOMP_RET_ALLOW),
		/* 8 */ RET(SECCOMP_RET_ALLOW),
		/* 9 */ RET(SECCOMP_RET_KILL_PROCESS),
	};

	return load_filter(insns, sizeof(insns) / sizeof(insns[0]));
}

struct capture_case {
	const char *name;
	int self;		/* spice_capture_self(), else _pid() */
	pid_t pid;
	int image_fd;
	uint64_t flags;
	int want;
};

/* Arguments rejected before anything is issued, pidfd_open() included. */
static const struct capture_case capture_reject[] = {
	{ "self: flag PIDFD", 1, 0, 3, SNAPSHOT_CAPTURE_PIDFD, -EINVAL },
	{ "self: flag 1 << 2", 1, 0, 3, 1ULL << 2, -EINVAL },
	{ "self: flag 1 << 63", 1, 0, 3, 1ULL << 63, -EINVAL },
	{ "self: WORKING_SET | 1 << 5", 1, 0, 3,
	  SNAPSHOT_CAPTURE_WORKING_SET | 1ULL << 5, -EINVAL },
	{ "self: image_fd -1", 1, 0, -1, 0, -EBADF },
	{ "self: image_fd INT_MIN", 1, 0, INT_MIN, 0, -EBADF },
	{ "self: bad flags and image_fd -1", 1, 0, -1, 1ULL << 2, -EINVAL },
	{ "pid: flag PIDFD", 0, 1, 3, SNAPSHOT_CAPTURE_PIDFD, -EINVAL },
	{ "pid: flag 1 << 2", 0, 1, 3, 1ULL << 2, -EINVAL },
	{ "pid: image_fd -1", 0, 1, -1, SNAPSHOT_CAPTURE_WORKING_SET, -EBADF },
	{ "pid: pid 0", 0, 0, 3, 0, -EINVAL },
	{ "pid: pid -1", 0, -1, 3, 0, -EINVAL },
	{ "pid: pid INT_MIN", 0, INT_MIN, 3, 0, -EINVAL },
};

static int call_capture(const struct capture_case *c, const char *dir,
			struct snapshot_reason *reason)
{
	if (c->self)
		return dir ? spice__capture_self_at(dir, c->image_fd, c->flags,
						    reason) :
			     spice_capture_self(c->image_fd, c->flags, reason);
	return dir ? spice__capture_pid_at(dir, c->pid, c->image_fd, c->flags,
					   reason) :
		     spice_capture_pid(c->pid, c->image_fd, c->flags, reason);
}

struct capture_run {
	const struct capture_case *c;
	const char *dir;
};

static int child_capture_reject(void *arg)
{
	const struct capture_run *r = arg;
	struct snapshot_reason reason = { .code = 77, .fd = 77, .addr = 77 };
	int ret;

	if (install_capture_kill_filter() < 0)
		return CHILD_NO_SECCOMP;
	errno = EL2HLT;
	ret = call_capture(r->c, r->dir, &reason);
	if (errno != EL2HLT)
		return CHILD_ERRNO_CHANGED;
	if (reason.code != 77 || reason.fd != 77 || reason.addr != 77)
		return CHILD_WRONG_RESULT;
	return ret == r->c->want ? CHILD_OK : populate_exit_code(ret);
}

START_TEST(test_capture_reject)
{
	const struct capture_case *c = &capture_reject[_i];
	struct capture_run r = { .c = c };
	char dir[PATH_MAX];

	/* With the interface advertised, a call past the checks would die. */
	FAKE_DIR(dir);
	PUT_ATTR(dir, "version", "1\n");
	r.dir = dir;
	assert_populate_exit(run_child(child_capture_reject, &r), CHILD_OK,
			     c->name, "interface present");
	r.dir = NULL;
	assert_populate_exit(run_child(child_capture_reject, &r), CHILD_OK,
			     c->name, "public function");
}
END_TEST

/* Valid arguments without the interface: -ENOSYS, no pidfd either. */
static const struct capture_case capture_absent[] = {
	{ "self", 1, 0, 3, 0, -ENOSYS },
	{ "self, WORKING_SET", 1, 0, 3, SNAPSHOT_CAPTURE_WORKING_SET, -ENOSYS },
	{ "pid", 0, 1, 3, SNAPSHOT_CAPTURE_WORKING_SET, -ENOSYS },
};

START_TEST(test_capture_absent)
{
	const struct capture_case *c = &capture_absent[_i];
	struct capture_run r = { .c = c };
	char dir[PATH_MAX];

	FAKE_DIR(dir);
	r.dir = dir;
	assert_populate_exit(run_child(child_capture_reject, &r), CHILD_OK,
			     c->name, "interface absent");
	PUT_ATTR(dir, "version", "garbage\n");
	r.c = &(struct capture_case){ c->name, c->self, c->pid, c->image_fd,
				      c->flags, -EPROTO };
	assert_populate_exit(run_child(child_capture_reject, &r), CHILD_OK,
			     c->name, "version garbled");
	if (!host_has_spice()) {
		r.dir = NULL;
		r.c = c;
		assert_populate_exit(run_child(child_capture_reject, &r),
				     CHILD_OK, c->name, "on this host");
	}
}
END_TEST

/*
 * Pass-through: syscall 463 traps to a handler that records the argument
 * structure, what the pidfd in it refers to, fills the reason in if asked,
 * and makes the call return what the case says.
 */
static struct snapshot_capture_args cap_seen;
static struct snapshot_reason cap_fill;
static long cap_ret;
static char cap_fdinfo[512];
static volatile sig_atomic_t cap_calls, cap_bad;

/* "/proc/self/fdinfo/N" without stdio, in the signal handler. */
static void read_fdinfo(int fd)
{
	char path[64] = "/proc/self/fdinfo/", digits[16];
	size_t len = strlen(path), n = 0;
	ssize_t got;
	int f;

	do
		digits[n++] = (char)('0' + fd % 10);
	while ((fd /= 10) && n < sizeof(digits));
	while (n)
		path[len++] = digits[--n];
	path[len] = '\0';
	f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return;
	got = read(f, cap_fdinfo, sizeof(cap_fdinfo) - 1);
	cap_fdinfo[got > 0 ? got : 0] = '\0';
	close(f);
}

static void capture_trap(int sig, siginfo_t *si, void *ctx)
{
	greg_t *regs = ((ucontext_t *)ctx)->uc_mcontext.gregs;
	struct snapshot_capture_args *args =
		(void *)(uintptr_t)regs[REG_RDI];

	(void)sig;
	cap_calls++;
	if (si->si_code != SI_SYS_SECCOMP || si->si_syscall != NR_CAPTURE ||
	    (uint64_t)regs[REG_RSI] != SNAPSHOT_CAPTURE_ARGS_SIZE_VER0 ||
	    !args) {
		cap_bad = 1;
	} else {
		cap_seen = *args;
		if (args->flags & SNAPSHOT_CAPTURE_PIDFD)
			read_fdinfo(args->pidfd);
		if (cap_fill.code && args->reason)
			*(struct snapshot_reason *)(uintptr_t)args->reason =
				cap_fill;
	}
	regs[REG_RAX] = cap_ret;
}

static int install_capture_trap_filter(void)
{
	struct sigaction sa;
	struct sock_filter insns[] = {
		/* 0 */ LD_DATA(arch),
		/* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 5),
		/* 2 */ LD_DATA(nr),
		/* 3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_CAPTURE, 4, 0),
		/* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_POPULATE, 2, 0),
		/* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_RESTORE, 1, 0),
		/* 6 */ RET(SECCOMP_RET_ALLOW),
		/* 7 */ RET(SECCOMP_RET_KILL_PROCESS),
		/* 8 */ RET(SECCOMP_RET_TRAP),
	};

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = capture_trap;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return -1;
	return load_filter(insns, sizeof(insns) / sizeof(insns[0]));
}

struct capture_trap_case {
	const char *name;
	int self;		/* self, else the child's own pid */
	uint64_t flags;
	long kernel_ret;	/* what syscall 463 returns */
	int fill_reason;	/* the "kernel" fills the reason in */
	int want;
};

static const struct capture_trap_case capture_trap_cases[] = {
	{ "self, written", 1, 0, 0, 0, 0 },
	{ "self, WORKING_SET, resumed", 1, SNAPSHOT_CAPTURE_WORKING_SET,
	  SNAPSHOT_RESUMED, 0, SPICE_RESUMED },
	{ "self, EOPNOTSUPP with a reason", 1, 0, -EOPNOTSUPP, 1, -EOPNOTSUPP },
	{ "self, EBADF", 1, 0, -EBADF, 0, -EBADF },
	{ "self, a value the call never returns", 1, 0, 2, 0, -EPROTO },
	{ "pid, written", 0, 0, 0, 0, 0 },
	{ "pid, WORKING_SET, EOPNOTSUPP with a reason", 0,
	  SNAPSHOT_CAPTURE_WORKING_SET, -EOPNOTSUPP, 1, -EOPNOTSUPP },
	{ "pid, ESRCH", 0, 0, -ESRCH, 0, -ESRCH },
	{ "pid, RESUMED is not for another process", 0, 0, SNAPSHOT_RESUMED,
	  0, -EPROTO },
};

struct capture_trap_run {
	const char *dir;
	const struct capture_trap_case *t;
};

static int child_capture_trap(void *arg)
{
	const struct capture_trap_run *r = arg;
	const struct capture_trap_case *t = r->t;
	struct snapshot_reason reason = { .code = 0, .fd = -1, .addr = 0 };
	pid_t pid = getpid();
	char want_pid[32];
	int ret, image_fd = 5;

	cap_ret = t->kernel_ret;
	if (t->fill_reason)
		cap_fill = (struct snapshot_reason){
			.code = SNAPSHOT_REASON_FD_PIPE, .fd = 7,
			.addr = 0x7f0000001000 };
	if (install_capture_trap_filter() < 0)
		return CHILD_NO_SECCOMP;
	errno = EL2HLT;
	if (t->self)
		ret = spice__capture_self_at(r->dir, image_fd, t->flags,
					     &reason);
	else
		ret = spice__capture_pid_at(r->dir, pid, image_fd, t->flags,
					    &reason);
	if (cap_calls != 1 || cap_bad)
		return CHILD_BAD_TRAP;
	if (errno != EL2HLT)
		return CHILD_ERRNO_CHANGED;
	/* The structure the kernel saw. */
	if (cap_seen.image_fd != image_fd ||
	    cap_seen.reason != (uintptr_t)&reason)
		return CHILD_BAD_TRAP;
	if (t->self) {
		if (cap_seen.flags != t->flags || cap_seen.pidfd != 0)
			return CHILD_BAD_TRAP;
	} else {
		if (cap_seen.flags != (t->flags | SNAPSHOT_CAPTURE_PIDFD))
			return CHILD_BAD_TRAP;
		/* A pidfd of this process, closed again. */
		snprintf(want_pid, sizeof(want_pid), "\nPid:\t%d\n", (int)pid);
		if (cap_seen.pidfd < 0 || !strstr(cap_fdinfo, want_pid))
			return CHILD_BAD_PIDFD;
		if (fcntl(cap_seen.pidfd, F_GETFD) != -1 || errno != EBADF)
			return CHILD_PIDFD_LEAKED;
	}
	if (t->fill_reason && (reason.code != SNAPSHOT_REASON_FD_PIPE ||
			       reason.fd != 7 || reason.addr != 0x7f0000001000))
		return CHILD_BAD_REASON;
	return ret == t->want ? CHILD_OK : populate_exit_code(ret);
}

START_TEST(test_capture_pass_through)
{
	struct capture_trap_run r = { .t = &capture_trap_cases[_i] };
	char dir[PATH_MAX];

	FAKE_DIR(dir);
	PUT_ATTR(dir, "version", "1\n");
	r.dir = dir;
	assert_populate_exit(run_child(child_capture_trap, &r), CHILD_OK,
			     r.t->name, "trapped");
}
END_TEST

/* The control: without the interface the trap is not reached. */
START_TEST(test_capture_trap_absent)
{
	struct capture_trap_run r = { .t = &capture_trap_cases[5] };
	char dir[PATH_MAX];
	int status;

	FAKE_DIR(dir);
	r.dir = dir;
	status = run_child(child_capture_trap, &r);
	ck_assert_msg(WIFEXITED(status) &&
		      WEXITSTATUS(status) == CHILD_BAD_TRAP,
		      "the trap was reached without the interface (status %#x)",
		      status);
}
END_TEST

/* pidfd_open() fails: its error, and no capture. */
static int child_capture_no_process(void *arg)
{
	const char *dir = arg;
	int ret;

	if (install_kill_filter() < 0)
		return CHILD_NO_SECCOMP;
	errno = EL2HLT;
	/* Above any pid_max (at most 4194304). */
	ret = spice__capture_pid_at(dir, INT_MAX, 3, 0, NULL);
	if (errno != EL2HLT)
		return CHILD_ERRNO_CHANGED;
	return ret == -ESRCH ? CHILD_OK : populate_exit_code(ret);
}

START_TEST(test_capture_no_process)
{
	char dir[PATH_MAX];

	FAKE_DIR(dir);
	PUT_ATTR(dir, "version", "1\n");
	assert_populate_exit(run_child(child_capture_no_process, dir),
			     CHILD_OK, "pid INT_MAX", "interface present");
}
END_TEST

/* ---- spice_restore, spice_spawn ------------------------------------------ */

#define NR_CLONE	56
#define NR_FORK		57
#define NR_VFORK	58
#define NR_CLONE3	435

/* Kill the process on the three calls and on every way to fork. */
static int install_nofork_kill_filter(void)
{
	struct sock_filter insns[] = {
		/*  0 */ LD_DATA(arch),
		/*  1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 9),
		/*  2 */ LD_DATA(nr),
		/*  3 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x40000000, 7, 0),
		/*  4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_CAPTURE, 6, 0),
		/*  5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_RESTORE, 5, 0),
		/*  6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_POPULATE, 4, 0),
		/*  7 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_CLONE, 3, 0),
		/*  8 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_FORK, 2, 0),
		/*  9 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_VFORK, 1, 0),
		/* 10 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_CLONE3, 0, 1),
		/* 11 */ RET(SECCOMP_RET_KILL_PROCESS),
		/* 12 */ RET(SECCOMP_RET_ALLOW),
	};

	return load_filter(insns, sizeof(insns) / sizeof(insns[0]));
}

/*
 * Syscall 464 with the size of the version 0 structure gets @action (an
 * errno, or the process killed), with any other size ERRNO_BAD_ARGS; 463
 * and 465 kill the process. Inherited by the children spice_spawn() forks.
 */
static int install_restore_filter(uint32_t action)
{
	struct sock_filter insns[] = {
		/*  0 */ LD_DATA(arch),
		/*  1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 10),
		/*  2 */ LD_DATA(nr),
		/*  3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_RESTORE, 2, 0),
		/*  4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_CAPTURE, 7, 0),
		/*  5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_POPULATE, 6, 7),
		/*  6 */ LD_ARG(1, 0),
		/*  7 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
				  SNAPSHOT_RESTORE_ARGS_SIZE_VER0, 0, 3),
		/*  8 */ LD_ARG(1, 1),
		/*  9 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
		/* 10 */ RET(action),
		/* 11 */ RET(SECCOMP_RET_ERRNO | ERRNO_BAD_ARGS),
		/* 12 */ RET(SECCOMP_RET_KILL_PROCESS),
		/* 13 */ RET(SECCOMP_RET_ALLOW),
	};

	return load_filter(insns, sizeof(insns) / sizeof(insns[0]));
}

/* The number of open descriptors below 1024. */
static int count_fds(void)
{
	int fd, n = 0;

	for (fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

/* Descriptors 0, 1 and 2 open, on /dev/null where they were not. */
static int open_stdio(void)
{
	int fd;

	for (fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 &&
		    open("/dev/null", O_RDWR) != fd)
			return -1;
	return 0;
}

/* Whether the process has a child, zombie or not. */
static int has_child(void)
{
	return waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD;
}

static const struct spice_fd_map map_good[] = {
	{ .image_fd = 3, .caller_fd = 0 },
	{ .image_fd = 0, .caller_fd = 1 },
	{ .image_fd = 1000, .caller_fd = 2 },
};
static const struct spice_fd_map map_neg_image[] = {
	{ .image_fd = 3, .caller_fd = 0 },
	{ .image_fd = -1, .caller_fd = 1 },
};
static const struct spice_fd_map map_min_image[] = {
	{ .image_fd = INT_MIN, .caller_fd = 0 },
};
static const struct spice_fd_map map_dup[] = {
	{ .image_fd = 3, .caller_fd = 0 },
	{ .image_fd = 4, .caller_fd = 1 },
	{ .image_fd = 3, .caller_fd = 2 },
};
static const struct spice_fd_map map_neg_caller[] = {
	{ .image_fd = 3, .caller_fd = 0 },
	{ .image_fd = 4, .caller_fd = -1 },
};
static const struct spice_fd_map map_min_caller[] = {
	{ .image_fd = 3, .caller_fd = INT_MIN },
};
/* The kernel checks every image fd before any caller fd. */
static const struct spice_fd_map map_neg_caller_then_dup[] = {
	{ .image_fd = 3, .caller_fd = -1 },
	{ .image_fd = 3, .caller_fd = 0 },
};
static const struct spice_fd_map map_neg_caller_then_neg_image[] = {
	{ .image_fd = 3, .caller_fd = -1 },
	{ .image_fd = -3, .caller_fd = 0 },
};

#define N_MAP(a)	((unsigned int)(sizeof(a) / sizeof((a)[0])))
#define WITH_MAP(a)	.map = a, .nr_map = N_MAP(a)
#define SC		SPICE_RESTORE_SHARE_CACHE
#define LAZY		SPICE_RESTORE_LAZY

struct restore_case {
	const char *name;
	int image_fd;
	uint64_t flags;
	const struct spice_fd_map *map;
	unsigned int nr_map;
	int want;		/* negative errno */
};

/*
 * Valid arguments, each case changing some: image fd 0, the caller fds of
 * map_good 0, 1 and 2 (the spice_spawn() children make sure that they are
 * open).
 */
#define RCASE(desc, err, ...)						\
	{ .name = desc, .image_fd = 0, .flags = 0, .map = map_good,	\
	  .nr_map = N_MAP(map_good), .want = err, __VA_ARGS__ }

OVERRIDE_INIT_BEGIN

/* Arguments the kernel would reject: no system call, no child. */
static const struct restore_case restore_reject[] = {
	RCASE("unknown flag 1 << 2", -EINVAL, .flags = 1ULL << 2),
	RCASE("unknown flag 1 << 63", -EINVAL, .flags = 1ULL << 63),
	RCASE("SHARE_CACHE | LAZY | 1 << 5", -EINVAL,
	      .flags = SC | LAZY | 1ULL << 5),
	RCASE("nr_map MAX + 1", -E2BIG, .map = NULL,
	      .nr_map = SPICE_RESTORE_MAX_FD_MAP + 1),
	RCASE("nr_map UINT_MAX", -E2BIG, .nr_map = UINT_MAX),
	RCASE("map NULL, nr_map 1", -EINVAL, .map = NULL, .nr_map = 1),
	RCASE("map NULL, nr_map MAX", -EINVAL, .map = NULL,
	      .nr_map = SPICE_RESTORE_MAX_FD_MAP),
	RCASE("map: image_fd -1", -EINVAL, WITH_MAP(map_neg_image)),
	RCASE("map: image_fd INT_MIN", -EINVAL, WITH_MAP(map_min_image)),
	RCASE("map: an image_fd twice", -EINVAL, WITH_MAP(map_dup)),
	RCASE("map: caller_fd -1", -EBADF, WITH_MAP(map_neg_caller)),
	RCASE("map: caller_fd INT_MIN", -EBADF, WITH_MAP(map_min_caller)),
	RCASE("image_fd -1", -EBADF, .image_fd = -1),
	RCASE("image_fd INT_MIN", -EBADF, .image_fd = INT_MIN, .map = NULL,
	      .nr_map = 0),
	/* Several errors: the one the kernel finds first. */
	RCASE("bad flags and too many entries", -EINVAL, .flags = 1ULL << 2,
	      .nr_map = SPICE_RESTORE_MAX_FD_MAP + 1),
	RCASE("too many entries and map NULL", -E2BIG, .map = NULL,
	      .nr_map = SPICE_RESTORE_MAX_FD_MAP + 1),
	RCASE("bad flags and image_fd -1", -EINVAL, .flags = 1ULL << 40,
	      .image_fd = -1),
	RCASE("map NULL and image_fd -1", -EINVAL, .map = NULL, .nr_map = 2,
	      .image_fd = -1),
	RCASE("map: caller_fd -1, then an image_fd twice", -EINVAL,
	      WITH_MAP(map_neg_caller_then_dup)),
	RCASE("map: caller_fd -1, then image_fd -3", -EINVAL,
	      WITH_MAP(map_neg_caller_then_neg_image)),
	RCASE("map: image_fd twice and image_fd -1", -EINVAL,
	      WITH_MAP(map_dup), .image_fd = -1),
};

/* Arguments that pass the checks: they reach the interface check. */
static const struct restore_case restore_accept[] = {
	RCASE("a map of 3", 0),
	RCASE("no map", 0, .map = NULL, .nr_map = 0),
	RCASE("a map, nr_map 0", 0, .nr_map = 0),
	RCASE("SHARE_CACHE", 0, .flags = SC),
	RCASE("LAZY", 0, .flags = LAZY, .image_fd = 2),
	RCASE("SHARE_CACHE | LAZY", 0, .flags = SC | LAZY, .nr_map = 1),
};

OVERRIDE_INIT_END

static int call_restore(const struct restore_case *c, const char *dir,
			int spawn)
{
	if (spawn)
		return dir ? spice__spawn_at(dir, c->image_fd, c->flags,
					     c->map, c->nr_map) :
			     spice_spawn(c->image_fd, c->flags, c->map,
					 c->nr_map);
	return dir ? spice__restore_at(dir, c->image_fd, c->flags, c->map,
				       c->nr_map) :
		     spice_restore(c->image_fd, c->flags, c->map, c->nr_map);
}

struct restore_run {
	const struct restore_case *c;
	const char *dir;	/* NULL: the public functions */
	int spawn;		/* spice_spawn(), else spice_restore() */
	int want;
};

/*
 * Call spice_restore() or spice_spawn() where the Spice system calls and
 * forking kill the process.
 */
static int child_restore_checked(void *arg)
{
	const struct restore_run *r = arg;
	int ret;

	if (open_stdio() < 0)
		return CHILD_WRONG_RESULT;
	if (install_nofork_kill_filter() < 0)
		return CHILD_NO_SECCOMP;
	errno = EL2HLT;
	ret = call_restore(r->c, r->dir, r->spawn);
	if (errno != EL2HLT)
		return CHILD_ERRNO_CHANGED;
	return ret == r->want ? CHILD_OK : populate_exit_code(ret);
}

static void run_restore_checked(const struct restore_case *c, const char *dir,
				int spawn, int want, const char *how)
{
	struct restore_run r = { .c = c, .dir = dir, .spawn = spawn,
				 .want = want };
	char what[256];

	snprintf(what, sizeof(what), "%s: %s", spawn ? "spawn" : "restore",
		 c->name);
	assert_populate_exit(run_child(child_restore_checked, &r), CHILD_OK,
			     what, how);
}

START_TEST(test_restore_reject)
{
	const struct restore_case *c = &restore_reject[_i];
	char dir[PATH_MAX];

	/* Advertised: a call past the checks would be issued, and die. */
	FAKE_DIR(dir);
	PUT_ATTR(dir, "version", "1\n");
	run_restore_checked(c, dir, 0, c->want, "interface present");
	run_restore_checked(c, dir, 1, c->want, "interface present");
	run_restore_checked(c, NULL, 0, c->want, "spice_restore");
	run_restore_checked(c, NULL, 1, c->want, "spice_spawn");
}
END_TEST

START_TEST(test_restore_accept)
{
	const struct restore_case *c = &restore_accept[_i];
	char dir[PATH_MAX];

	FAKE_DIR(dir);
	run_restore_checked(c, dir, 0, -ENOSYS, "interface absent");
	run_restore_checked(c, dir, 1, -ENOSYS, "interface absent");
	PUT_ATTR(dir, "version", "garbage\n");
	run_restore_checked(c, dir, 0, -EPROTO, "version garbled");
	run_restore_checked(c, dir, 1, -EPROTO, "version garbled");
	if (!host_has_spice()) {
		run_restore_checked(c, NULL, 0, -ENOSYS, "on this host");
		run_restore_checked(c, NULL, 1, -ENOSYS, "on this host");
	}
}
END_TEST

/* The largest map passes; one entry more, or a duplicate at its end, not. */
struct big_map_run {
	const char *dir;
	int spawn;
};

static int child_big_map(void *arg)
{
	const struct big_map_run *r = arg;
	struct spice_fd_map *map;
	struct restore_case c = { .name = "big", .image_fd = 0 };
	unsigned int i;
	int ret;

	map = calloc(SPICE_RESTORE_MAX_FD_MAP + 1, sizeof(*map));
	if (!map || open_stdio() < 0)
		return CHILD_WRONG_RESULT;
	for (i = 0; i <= SPICE_RESTORE_MAX_FD_MAP; i++) {
		map[i].image_fd = (int)(SPICE_RESTORE_MAX_FD_MAP - i);
		map[i].caller_fd = (int)(i % 3);
	}
	c.map = map;
	if (install_nofork_kill_filter() < 0)
		return CHILD_NO_SECCOMP;
	c.nr_map = SPICE_RESTORE_MAX_FD_MAP;
	ret = call_restore(&c, r->dir, r->spawn);
	if (ret != -ENOSYS)
		return populate_exit_code(ret);
	c.nr_map = SPICE_RESTORE_MAX_FD_MAP + 1;
	ret = call_restore(&c, r->dir, r->spawn);
	if (ret != -E2BIG)
		return populate_exit_code(ret);
	c.nr_map = SPICE_RESTORE_MAX_FD_MAP;
	map[SPICE_RESTORE_MAX_FD_MAP - 1].image_fd = 77;
	ret = call_restore(&c, r->dir, r->spawn);
	free(map);
	return ret == -EINVAL ? CHILD_OK : populate_exit_code(ret);
}

START_TEST(test_restore_big_map)
{
	struct big_map_run r;
	char dir[PATH_MAX];

	FAKE_DIR(dir);
	r.dir = dir;
	r.spawn = 0;
	assert_populate_exit(run_child(child_big_map, &r), CHILD_OK,
			     "restore: 1024 entries, 1025, a duplicate last",
			     "interface absent");
	r.spawn = 1;
	assert_populate_exit(run_child(child_big_map, &r), CHILD_OK,
			     "spawn: 1024 entries, 1025, a duplicate last",
			     "interface absent");
}
END_TEST

/*
 * Pass-through: syscall 464 traps to a handler that records the argument
 * structure and the map it points to, and makes the call return what the
 * case says.
 */
#define RST_MAP_MAX	4

static struct snapshot_restore_args rst_seen;
static struct snapshot_fd_map rst_map_seen[RST_MAP_MAX];
static long rst_ret;
static volatile sig_atomic_t rst_calls, rst_bad;

static void restore_trap(int sig, siginfo_t *si, void *ctx)
{
	greg_t *regs = ((ucontext_t *)ctx)->uc_mcontext.gregs;
	const struct snapshot_restore_args *args =
		(const void *)(uintptr_t)regs[REG_RDI];

	(void)sig;
	rst_calls++;
	if (si->si_code != SI_SYS_SECCOMP || si->si_syscall != NR_RESTORE ||
	    (uint64_t)regs[REG_RSI] != SNAPSHOT_RESTORE_ARGS_SIZE_VER0 ||
	    !args) {
		rst_bad = 1;
	} else {
		rst_seen = *args;
		if (args->fd_map && args->nr_fd_map <= RST_MAP_MAX)
			memcpy(rst_map_seen,
			       (const void *)(uintptr_t)args->fd_map,
			       args->nr_fd_map * sizeof(rst_map_seen[0]));
	}
	regs[REG_RAX] = rst_ret;
}

/* Trap syscall 464 and kill the process on the other two. */
static int install_restore_trap_filter(void)
{
	struct sigaction sa;
	struct sock_filter insns[] = {
		/* 0 */ LD_DATA(arch),
		/* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 5),
		/* 2 */ LD_DATA(nr),
		/* 3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_RESTORE, 4, 0),
		/* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_CAPTURE, 2, 0),
		/* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_POPULATE, 1, 0),
		/* 6 */ RET(SECCOMP_RET_ALLOW),
		/* 7 */ RET(SECCOMP_RET_KILL_PROCESS),
		/* 8 */ RET(SECCOMP_RET_TRAP),
	};

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = restore_trap;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return -1;
	return load_filter(insns, sizeof(insns) / sizeof(insns[0]));
}

struct restore_trap_case {
	const char *name;
	uint64_t flags;
	const struct spice_fd_map *map;
	unsigned int nr_map;
	long kernel_ret;	/* what syscall 464 returns */
	int want;
};

static const struct restore_trap_case restore_trap_cases[] = {
	{ "no map, ESTALE", 0, NULL, 0, -ESTALE, -ESTALE },
	{ "a map of 3, SHARE_CACHE | LAZY, EOPNOTSUPP", SC | LAZY, map_good,
	  3, -EOPNOTSUPP, -EOPNOTSUPP },
	{ "a map with nr_map 0 goes as no map, ENOEXEC", 0, map_good, 0,
	  -ENOEXEC, -ENOEXEC },
	{ "a map of 1, LAZY, EBUSY", LAZY, map_good, 1, -EBUSY, -EBUSY },
	{ "-1 is EPERM", 0, NULL, 0, -1, -EPERM },
	{ "-4095 is an error", 0, NULL, 0, -4095, -4095 },
	{ "0: the call returned", 0, NULL, 0, 0, -EPROTO },
	{ "SNAPSHOT_RESUMED: the call returned", 0, NULL, 0,
	  SNAPSHOT_RESUMED, -EPROTO },
	{ "-4096 is not an error", 0, NULL, 0, -4096, -EPROTO },
};

struct restore_trap_run {
	const char *dir;
	const struct restore_trap_case *t;
};

static int child_restore_trap(void *arg)
{
	const struct restore_trap_run *r = arg;
	const struct restore_trap_case *t = r->t;
	int ret, image_fd = 5;

	rst_ret = t->kernel_ret;
	if (install_restore_trap_filter() < 0)
		return CHILD_NO_SECCOMP;
	errno = EL2HLT;
	ret = spice__restore_at(r->dir, image_fd, t->flags, t->map, t->nr_map);
	if (rst_calls != 1 || rst_bad)
		return CHILD_BAD_TRAP;
	if (errno != EL2HLT)
		return CHILD_ERRNO_CHANGED;
	/* The structure the kernel saw, and the map: the caller's own. */
	if (rst_seen.flags != t->flags || rst_seen.image_fd != image_fd ||
	    rst_seen.nr_fd_map != t->nr_map ||
	    rst_seen.fd_map != (t->nr_map ? (uintptr_t)t->map : 0))
		return CHILD_BAD_TRAP;
	if (t->nr_map && memcmp(rst_map_seen, t->map,
				t->nr_map * sizeof(t->map[0])))
		return CHILD_BAD_TRAP;
	return ret == t->want ? CHILD_OK : populate_exit_code(ret);
}

START_TEST(test_restore_pass_through)
{
	struct restore_trap_run r = { .t = &restore_trap_cases[_i] };
	char dir[PATH_MAX];

	FAKE_DIR(dir);
	PUT_ATTR(dir, "version", "1\n");
	r.dir = dir;
	assert_populate_exit(run_child(child_restore_trap, &r), CHILD_OK,
			     r.t->name, "trapped");
}
END_TEST

/* The control: without the interface the trap is not reached. */
START_TEST(test_restore_trap_absent)
{
	struct restore_trap_run r = { .t = &restore_trap_cases[0] };
	char dir[PATH_MAX];
	int status;

	FAKE_DIR(dir);
	r.dir = dir;
	status = run_child(child_restore_trap, &r);
	ck_assert_msg(WIFEXITED(status) &&
		      WEXITSTATUS(status) == CHILD_BAD_TRAP,
		      "the trap was reached without the interface (status %#x)",
		      status);
}
END_TEST

/*
 * spice_spawn() past its checks, in a child under install_restore_filter():
 * the restore in the grandchild fails with the filter's errno, or the
 * grandchild dies in it as if it had become another process. The caller's
 * signal mask, errno and descriptors are as they were, and no child is left
 * behind but the "restored" one.
 */
struct spawn_run {
	const char *dir;
	uint32_t action;	/* of the filter, for syscall 464 */
	int stdio_closed;	/* descriptors 0-2 closed in the caller */
	int want;		/* -errno, or 0: a pid, killed by SIGSYS */
};

static int child_spawn(void *arg)
{
	const struct spawn_run *r = arg;
	const struct spice_fd_map *map = map_good;
	unsigned int nr_map = N_MAP(map_good);
	sigset_t mask, now;
	int image_fd = 0, nfds, status, fd;
	pid_t ret;

	if (open_stdio() < 0)
		return CHILD_WRONG_RESULT;
	if (r->stdio_closed) {
		/* The image fd above them, the report pipe could get 0-2. */
		fd = open("/dev/null", O_RDONLY);
		image_fd = fcntl(fd, F_DUPFD, 10);
		if (fd < 0 || image_fd < 0)
			return CHILD_WRONG_RESULT;
		close(fd);
		close(0);
		close(1);
		close(2);
		map = NULL;
		nr_map = 0;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR2);
	sigaddset(&mask, SIGWINCH);
	if (sigprocmask(SIG_SETMASK, &mask, NULL) < 0)
		return CHILD_WRONG_RESULT;
	if (install_restore_filter(r->action) < 0)
		return CHILD_NO_SECCOMP;
	nfds = count_fds();
	errno = EL2HLT;
	ret = spice__spawn_at(r->dir, image_fd, SPICE_RESTORE_LAZY, map,
			      nr_map);
	if (errno != EL2HLT)
		return CHILD_ERRNO_CHANGED;
	if (sigprocmask(SIG_SETMASK, NULL, &now) < 0 ||
	    memcmp(&now, &mask, sizeof(mask)))
		return CHILD_MASK_CHANGED;
	if (count_fds() != nfds)
		return CHILD_FD_LEAKED;
	if (r->stdio_closed && (fcntl(0, F_GETFD) >= 0 ||
				fcntl(1, F_GETFD) >= 0 ||
				fcntl(2, F_GETFD) >= 0))
		return CHILD_FD_LEAKED;
	if (r->want) {
		if (has_child())
			return CHILD_ZOMBIE;
		return ret == r->want ? CHILD_OK : populate_exit_code(ret);
	}
	if (ret <= 0)
		return populate_exit_code(ret);
	/* The "restored" child: it is the caller's, to reap. */
	if (waitpid(ret, &status, 0) != ret || !WIFSIGNALED(status) ||
	    WTERMSIG(status) != SIGSYS)
		return CHILD_NOT_RESTORED;
	return has_child() ? CHILD_ZOMBIE : CHILD_OK;
}

static void run_spawn(const char *dir, uint32_t action, int stdio_closed,
		      int want, const char *what)
{
	struct spawn_run r = { .dir = dir, .action = action,
			       .stdio_closed = stdio_closed, .want = want };

	assert_populate_exit(run_child(child_spawn, &r), CHILD_OK, what,
			     stdio_closed ? "descriptors 0-2 closed" :
			     "interface present");
}

/* The errors the child's restore gets come back; the child is reaped. */
static const int spawn_errors[] = {
	ESTALE, ENOSYS, EBUSY, ENOEXEC, EPERM, EOPNOTSUPP,
};

START_TEST(test_spawn_child_error)
{
	int err = spawn_errors[_i];
	char dir[PATH_MAX], what[64];

	FAKE_DIR(dir);
	PUT_ATTR(dir, "version", "1\n");
	snprintf(what, sizeof(what), "the child's -%s", strerror(err));
	run_spawn(dir, SECCOMP_RET_ERRNO | (uint32_t)err, 0, -err, what);
	run_spawn(dir, SECCOMP_RET_ERRNO | (uint32_t)err, 1, -err, what);
}
END_TEST

/* A restore that does not come back: the pid of the child. */
START_TEST(test_spawn_restored)
{
	char dir[PATH_MAX];

	FAKE_DIR(dir);
	PUT_ATTR(dir, "version", "1\n");
	run_spawn(dir, SECCOMP_RET_KILL_PROCESS, 0, 0,
		  "a restore that does not return gives the pid");
	run_spawn(dir, SECCOMP_RET_KILL_PROCESS, 1, 0,
		  "a restore that does not return gives the pid");
}
END_TEST

/*
 * What the child of spice_spawn() is at the moment it restores: syscall 464
 * goes to a supervisor thread (SECCOMP_RET_USER_NOTIF), which looks at the
 * child while it waits in the call -- its arguments and fd map, read from
 * its memory; its blocked signals; its descriptors 0-2 -- and makes the call
 * fail with ESTALE if all is right, with NOTIF_BAD_* if not.
 */
#define NOTIF_BAD_ARGS		4001	/* first */
#define NOTIF_BAD_MAP		4002
#define NOTIF_BAD_MASK		4003
#define NOTIF_BAD_STDIO		4004

struct notif_run {
	const char *dir;
	int stdio_closed;
	/* For the supervisor. */
	int listener;
	int image_fd;
	const struct spice_fd_map *map;
	unsigned int nr_map;
	char stdio[3][256];	/* the caller's 0-2, as fd_link() gives them */
};

static int install_restore_notif_filter(void)
{
	struct sock_filter insns[] = {
		/* 0 */ LD_DATA(arch),
		/* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 4),
		/* 2 */ LD_DATA(nr),
		/* 3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_RESTORE, 4, 0),
		/* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_CAPTURE, 1, 0),
		/* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_POPULATE, 0, 1),
		/* 6 */ RET(SECCOMP_RET_KILL_PROCESS),
		/* 7 */ RET(SECCOMP_RET_ALLOW),
		/* 8 */ RET(SECCOMP_RET_USER_NOTIF),
	};
	struct sock_fprog prog = { .len = sizeof(insns) / sizeof(insns[0]),
				   .filter = insns };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
			    SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
}

/* @len bytes at @addr in process @pid, through /proc/PID/mem. */
static int peek(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = pread(fd, buf, len, (off_t)addr);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

/* The SigBlk mask of /proc/PID/status, or 0 if it cannot be read. */
static uint64_t sig_blocked(pid_t pid)
{
	char path[64], buf[4096], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strstr(buf, "\nSigBlk:");
	return p ? strtoull(p + 8, NULL, 16) : 0;
}

/* What descriptor @fd of process @pid is ("pipe:[123]"), or "" if none. */
static void fd_link(pid_t pid, int fd, char *link, size_t size)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	n = readlink(path, link, size - 1);
	link[n > 0 ? n : 0] = '\0';
}

/*
 * The signals the child must block (SIGKILL and SIGSTOP cannot be; glibc
 * keeps 32 and 33 for itself), real-time ones (40, 64) too.
 */
static const int must_block[] = {
	SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM,
	SIGCHLD, SIGCONT, SIGTSTP, SIGWINCH, SIGSEGV, 40, 64,
};

static int notif_check(const struct notif_run *r, const struct seccomp_notif *n)
{
	struct snapshot_restore_args args;
	struct spice_fd_map map[4];
	uint64_t blocked;
	size_t i;

	if (n->data.nr != NR_RESTORE ||
	    n->data.args[1] != SNAPSHOT_RESTORE_ARGS_SIZE_VER0 ||
	    peek(n->pid, n->data.args[0], &args, sizeof(args)))
		return NOTIF_BAD_ARGS;
	if (args.flags != SPICE_RESTORE_LAZY || args.image_fd != r->image_fd ||
	    args.nr_fd_map != r->nr_map ||
	    args.fd_map != (r->nr_map ? (uintptr_t)r->map : 0))
		return NOTIF_BAD_ARGS;
	if (r->nr_map > 4 || (r->nr_map &&
			      (peek(n->pid, args.fd_map, map,
				    r->nr_map * sizeof(map[0])) ||
			       memcmp(map, r->map, r->nr_map * sizeof(map[0])))))
		return NOTIF_BAD_MAP;
	blocked = sig_blocked(n->pid);
	for (i = 0; i < sizeof(must_block) / sizeof(must_block[0]); i++)
		if (!(blocked & 1ULL << (must_block[i] - 1)))
			return NOTIF_BAD_MASK;
	/* The caller's 0-2, not the report pipe the restore would pass on. */
	for (i = 0; i < 3; i++) {
		char link[sizeof(r->stdio[i])];

		fd_link(n->pid, (int)i, link, sizeof(link));
		if (strcmp(link, r->stdio[i]))
			return NOTIF_BAD_STDIO;
	}
	return ESTALE;
}

static void *notif_supervisor(void *arg)
{
	struct notif_run *r = arg;
	struct pollfd pfd = { .fd = r->listener, .events = POLLIN };
	struct seccomp_notif_resp resp;
	struct seccomp_notif n;

	/* Not forever: the child may never issue the call. */
	memset(&n, 0, sizeof(n));
	if (poll(&pfd, 1, 20000) != 1 ||
	    ioctl(r->listener, SECCOMP_IOCTL_NOTIF_RECV, &n) < 0)
		return NULL;
	memset(&resp, 0, sizeof(resp));
	resp.id = n.id;
	resp.error = -notif_check(r, &n);
	ioctl(r->listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
	return NULL;
}

static int child_spawn_state(void *arg)
{
	struct notif_run *r = arg;
	pthread_t thread;
	int fd, ret;

	r->map = map_good;
	r->nr_map = N_MAP(map_good);
	r->image_fd = 0;
	if (open_stdio() < 0)
		return CHILD_WRONG_RESULT;
	if (r->stdio_closed) {
		fd = open("/dev/null", O_RDONLY);
		r->image_fd = fcntl(fd, F_DUPFD, 10);
		if (fd < 0 || r->image_fd < 0)
			return CHILD_WRONG_RESULT;
		close(fd);
		close(0);
		close(1);
		close(2);
		r->map = NULL;
		r->nr_map = 0;
	}
	r->listener = install_restore_notif_filter();
	if (r->listener < 0)
		return CHILD_NO_SECCOMP;
	/* The listener may take 0: a descriptor of the caller's like any. */
	for (fd = 0; fd < 3; fd++)
		fd_link(getpid(), fd, r->stdio[fd], sizeof(r->stdio[fd]));
	if (pthread_create(&thread, NULL, notif_supervisor, r))
		return CHILD_WRONG_RESULT;
	ret = spice__spawn_at(r->dir, r->image_fd, SPICE_RESTORE_LAZY, r->map,
			      r->nr_map);
	pthread_join(thread, NULL);
	if (has_child())
		return CHILD_ZOMBIE;
	if (ret <= -NOTIF_BAD_ARGS && ret >= -NOTIF_BAD_STDIO)
		return CHILD_NOTIF_BASE + (-ret - NOTIF_BAD_ARGS);
	return ret == -ESTALE ? CHILD_OK : populate_exit_code(ret);
}

START_TEST(test_spawn_child_state)
{
	struct notif_run r = { .stdio_closed = _i };
	char dir[PATH_MAX];

	FAKE_DIR(dir);
	PUT_ATTR(dir, "version", "1\n");
	r.dir = dir;
	assert_populate_exit(run_child(child_spawn_state, &r), CHILD_OK,
			     "the child at the restore: its arguments, map, "
			     "blocked signals, no pipe at 0-2",
			     _i ? "descriptors 0-2 closed" : "interface present");
}
END_TEST

/*
 * Descriptors that are not open: found before the child is forked (the
 * report pipe must not take their number).
 */
static int child_spawn_closed(void *arg)
{
	const char *dir = arg;
	struct spice_fd_map map[2] = {
		{ .image_fd = 3, .caller_fd = 0 },
		{ .image_fd = 4, .caller_fd = 0 },
	};
	int fd, ret;

	if (open_stdio() < 0)
		return CHILD_WRONG_RESULT;
	fd = open("/dev/null", O_RDONLY);
	if (fd < 0 || close(fd) < 0)
		return CHILD_WRONG_RESULT;
	if (install_nofork_kill_filter() < 0)
		return CHILD_NO_SECCOMP;
	errno = EL2HLT;
	/* A caller fd, the last of the map, closed. */
	map[1].caller_fd = fd;
	ret = spice__spawn_at(dir, 0, 0, map, 2);
	if (ret != -EBADF)
		return populate_exit_code(ret);
	/* The image fd closed. */
	ret = spice__spawn_at(dir, fd, 0, map, 1);
	if (ret != -EBADF)
		return populate_exit_code(ret);
	if (errno != EL2HLT)
		return CHILD_ERRNO_CHANGED;
	return CHILD_OK;
}

START_TEST(test_spawn_closed_fds)
{
	char dir[PATH_MAX];

	FAKE_DIR(dir);
	PUT_ATTR(dir, "version", "1\n");
	assert_populate_exit(run_child(child_spawn_closed, dir), CHILD_OK,
			     "spawn: a caller fd or the image fd not open",
			     "interface present");
}
END_TEST

/* Valid arguments on this kernel: -ENOSYS, no syscall 464, no child. */
START_TEST(test_host_restore_enosys)
{
	static const struct restore_case c = {
		.name = "no map", .image_fd = 0, .map = NULL, .nr_map = 0,
	};

	if (host_has_spice())
		return;
	run_restore_checked(&c, NULL, 0, -ENOSYS, "spice_restore");
	run_restore_checked(&c, NULL, 1, -ENOSYS, "spice_spawn");
}
END_TEST

/* ---- the public API on this host -------------------------------------- */

START_TEST(test_host_public)
{
	uint64_t flags = FLAGS_POISON;

	if (host_has_spice())
		return;
	ck_assert_int_eq(spice_abi_version(), -ENOSYS);
	ck_assert_int_eq(spice_supported(), 0);
	ck_assert_int_eq(spice_kernel_flags(SPICE_CALL_CAPTURE, &flags),
			 -ENOSYS);
	ck_assert_int_eq(spice_kernel_flags(SPICE_CALL_POPULATE, &flags),
			 -ENOSYS);
	ck_assert_uint_eq(flags, FLAGS_POISON);
}
END_TEST

/* Valid arguments on this kernel: -ENOSYS, and syscall 465 not issued. */
START_TEST(test_host_populate_enosys)
{
	if (host_has_spice())
		return;
	run_populate(&accept_cases[0], NULL, -ENOSYS, "spice_populate");
}
END_TEST

/* ---- runner ----------------------------------------------------------- */

#define N_CASES(a)	((int)(sizeof(a) / sizeof((a)[0])))

static TCase *tmp_tcase(const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_unchecked_fixture(tc, tmp_setup, tmp_teardown);
	return tc;
}

static Suite *spice_suite(void)
{
	Suite *s = suite_create("libspice");
	TCase *tc;

	tc = tmp_tcase("version");
	tcase_add_loop_test(tc, test_version_contents, 0,
			    N_CASES(version_cases));
	tcase_add_test(tc, test_version_missing_dir);
	tcase_add_test(tc, test_version_missing_file);
	tcase_add_test(tc, test_version_read_error);
	tcase_add_test(tc, test_version_keeps_errno);
	tcase_add_test(tc, test_supported_at);
	suite_add_tcase(s, tc);

	tc = tmp_tcase("flags");
	tcase_add_loop_test(tc, test_flags_contents, 0, N_CASES(flags_cases));
	tcase_add_test(tc, test_flags_files);
	tcase_add_test(tc, test_flags_bad_args);
	tcase_add_test(tc, test_flags_missing);
	suite_add_tcase(s, tc);

	tc = tmp_tcase("wrappers");
	tcase_add_test(tc, test_seccomp_control);
	tcase_add_test(tc, test_wrappers_absent);
	tcase_add_test(tc, test_wrappers_garbled);
	tcase_add_test(tc, test_wrappers_present);
	tcase_add_test(tc, test_wrappers_present_null);
	suite_add_tcase(s, tc);

	tc = tmp_tcase("populate");
	tcase_add_loop_test(tc, test_populate_reject, 0,
			    N_CASES(reject_cases));
	tcase_add_loop_test(tc, test_populate_accept, 0,
			    N_CASES(accept_cases));
	tcase_add_loop_test(tc, test_populate_pass_through, 0,
			    N_CASES(trap_cases));
	tcase_add_test(tc, test_populate_trap_absent);
	tcase_add_test(tc, test_populate_errno);
	suite_add_tcase(s, tc);

	tc = tmp_tcase("capture");
	tcase_add_loop_test(tc, test_capture_reject, 0,
			    N_CASES(capture_reject));
	tcase_add_loop_test(tc, test_capture_absent, 0,
			    N_CASES(capture_absent));
	tcase_add_loop_test(tc, test_capture_pass_through, 0,
			    N_CASES(capture_trap_cases));
	tcase_add_test(tc, test_capture_trap_absent);
	tcase_add_test(tc, test_capture_no_process);
	suite_add_tcase(s, tc);

	tc = tmp_tcase("restore");
	tcase_add_loop_test(tc, test_restore_reject, 0,
			    N_CASES(restore_reject));
	tcase_add_loop_test(tc, test_restore_accept, 0,
			    N_CASES(restore_accept));
	tcase_add_test(tc, test_restore_big_map);
	tcase_add_loop_test(tc, test_restore_pass_through, 0,
			    N_CASES(restore_trap_cases));
	tcase_add_test(tc, test_restore_trap_absent);
	tcase_add_loop_test(tc, test_spawn_child_error, 0,
			    N_CASES(spawn_errors));
	tcase_add_test(tc, test_spawn_restored);
	tcase_add_loop_test(tc, test_spawn_child_state, 0, 2);
	tcase_add_test(tc, test_spawn_closed_fds);
	suite_add_tcase(s, tc);

	tc = tmp_tcase("host");
	tcase_add_test(tc, test_host_public);
	tcase_add_test(tc, test_host_wrappers_enosys);
	tcase_add_test(tc, test_host_populate_enosys);
	tcase_add_test(tc, test_host_restore_enosys);
	suite_add_tcase(s, tc);

	return s;
}

int main(int argc, char **argv)
{
	SRunner *sr = srunner_create(spice_suite());
	int run, failed;

	if (argc > 2) {
		fprintf(stderr, "usage: %s [TAP-file]\n", argv[0]);
		return 2;
	}
	if (argc == 2)
		srunner_set_tap(sr, argv[1]);

	srunner_run_all(sr, CK_NORMAL);
	run = srunner_ntests_run(sr);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);

	printf("libspice: %d tests, %d passed, %d failed\n", run, run - failed,
	       failed);
	return failed == 0 && run > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
