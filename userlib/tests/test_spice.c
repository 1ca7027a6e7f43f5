/*
 * Unit tests for libspice.
 *
 *   test_spice [TAP-file]
 *
 * The sysfs parsing is tested on fake directories under a temporary
 * directory. The raw wrappers are tested in forked children under seccomp
 * filters, which prove whether the Spice system calls were issued and with
 * which arguments.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "spice.h"
#include "internal.h"

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
static char tmp_base[PATH_MAX];

static void tmp_setup(void)
{
	const char *tmpdir = getenv("TMPDIR");
	int n;

	if (!tmpdir || !*tmpdir)
		tmpdir = "/tmp";
	n = snprintf(tmp_base, sizeof(tmp_base), "%s/spice-test.XXXXXX",
		     tmpdir);
	if (n < 0 || (size_t)n >= sizeof(tmp_base) || !mkdtemp(tmp_base)) {
		perror("test_spice: mkdtemp");
		abort();
	}
}

static int remove_entry(const char *path, const struct stat *st, int type,
			struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		return rmdir(path);
	return unlink(path);
}

static void tmp_teardown(void)
{
	if (nftw(tmp_base, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
		perror("test_spice: removing the temporary directory");
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
	int n = snprintf(dir, size, "%s/%s.%d", tmp_base, test, i);

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

	JOIN(dir, tmp_base, "does-not-exist");
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

	JOIN(dir, tmp_base, "does-not-exist");
	errno = EL2HLT;
	ck_assert_int_eq(spice__abi_version_at(dir), -ENOSYS);
	ck_assert_int_eq(errno, EL2HLT);
}
END_TEST

START_TEST(test_supported_at)
{
	char dir[PATH_MAX], missing[PATH_MAX];

	FAKE_DIR(dir);
	JOIN(missing, tmp_base, "does-not-exist");
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
	JOIN(missing, tmp_base, "does-not-exist");
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

	tc = tmp_tcase("host");
	tcase_add_test(tc, test_host_public);
	tcase_add_test(tc, test_host_wrappers_enosys);
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
