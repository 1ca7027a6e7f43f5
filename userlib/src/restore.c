/*
 * spice_restore() and spice_spawn(): snapshot_restore() with its arguments
 * checked first, in the caller or in a child that shares its memory until
 * the restore gives it its own, as posix_spawn(3) does for execve(2).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

/* The flags snapshot_restore() knows, in ABI version 1. */
#define RESTORE_FLAGS	(SNAPSHOT_RESTORE_SHARE_CACHE | SNAPSHOT_RESTORE_LAZY)

/* The kernel returns errors as -4095..-1 (MAX_ERRNO). */
#define SPICE_MAX_ERRNO	4095

/* The exit status of a spice_spawn() child whose restore failed. */
#define SPAWN_FAILED	127

/*
 * The stack of a spice_spawn() child: it makes two system calls and
 * exits. Generous, since signal handlers cannot run there (every signal
 * is blocked) and the kernel does the work on its own stack.
 */
#define SPAWN_STACK	(64 * 1024)

/* The map goes to the kernel as it is: it must have the kernel's layout. */
_Static_assert(sizeof(struct spice_fd_map) == sizeof(struct snapshot_fd_map),
	       "struct spice_fd_map is not struct snapshot_fd_map");
_Static_assert(offsetof(struct spice_fd_map, image_fd) ==
	       offsetof(struct snapshot_fd_map, image_fd) &&
	       offsetof(struct spice_fd_map, caller_fd) ==
	       offsetof(struct snapshot_fd_map, caller_fd),
	       "struct spice_fd_map is not struct snapshot_fd_map");

/*
 * The checks of snapshot_restore() that need nothing but the arguments, in
 * the order the kernel makes them, so that the first error found is the one
 * it would return: restore_check_args(), then the fd map (after the checks
 * of the caller's threads, which are the kernel's), then the image fd.
 * Whether a descriptor is open is left to the kernel.
 */
static int check_args(int image_fd, uint64_t flags,
		      const struct spice_fd_map *map, unsigned int nr_map)
{
	unsigned int i, j;

	/* restore_check_args() */
	if (flags & ~(uint64_t)RESTORE_FLAGS)
		return -EINVAL;
	if (nr_map > SPICE_RESTORE_MAX_FD_MAP)
		return -E2BIG;
	if (nr_map && !map)
		return -EINVAL;

	/* restore_load_fd_map(): image fds first, then caller fds. */
	for (i = 0; i < nr_map; i++) {
		if (map[i].image_fd < 0)
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (map[j].image_fd == map[i].image_fd)
				return -EINVAL;
	}
	for (i = 0; i < nr_map; i++)
		if (map[i].caller_fd < 0)
			return -EBADF;

	/* fget() of the image */
	if (image_fd < 0)
		return -EBADF;
	return 0;
}

/* The argument structure; no map pointer without entries (-EINVAL). */
static void fill_args(struct snapshot_restore_args *args, int image_fd,
		      uint64_t flags, const struct spice_fd_map *map,
		      unsigned int nr_map)
{
	args->flags = flags;
	args->image_fd = image_fd;
	args->nr_fd_map = nr_map;
	args->fd_map = nr_map ? (uintptr_t)map : 0;
}

/* What a restore that came back returns: its error, or -EPROTO. */
static int restore_error(long ret)
{
	if (ret < 0 && ret >= -SPICE_MAX_ERRNO)
		return (int)ret;
	return -EPROTO;		/* it returned, and not with an error */
}

int spice__restore_at(const char *dir, int image_fd, uint64_t flags,
		      const struct spice_fd_map *map, unsigned int nr_map)
{
	struct snapshot_restore_args args = { 0 };
	int ret;

	ret = check_args(image_fd, flags, map, nr_map);
	if (ret)
		return ret;
	fill_args(&args, image_fd, flags, map, nr_map);
	return restore_error(spice__sys_snapshot_restore_at(dir, &args,
							    sizeof(args)));
}

/* -EBADF unless @fd is an open descriptor. Leaves errno alone. */
static int check_open(int fd)
{
	int saved_errno = errno, ret = 0;

	if (fcntl(fd, F_GETFD) < 0)
		ret = errno == EBADF ? -EBADF : -errno;
	errno = saved_errno;
	return ret;
}

/*
 * Move the descriptor @fd to 3 or above, close-on-exec, so that the child
 * does not hand it to the restored process as its standard input, output
 * or error. Returns the descriptor, or -errno with @fd closed.
 */
static int above_stdio(int fd)
{
	int moved;

	if (fd > 2)
		return fd;
	moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (moved < 0)
		moved = -errno;
	close(fd);
	return moved;
}

/* waitpid() for @pid, through EINTR; nothing if it is gone already. */
static void reap(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* What a spice_spawn() child needs, on the caller's stack. */
struct spawn_ctx {
	int report_fd;
	struct snapshot_restore_args *args;
};

/*
 * The child of spice_spawn(): restore, and report the error if it comes
 * back. It runs in the caller's memory, on a stack of its own, while the
 * caller waits (CLONE_VFORK): it touches nothing of the caller's but the
 * restore's arguments, and errno, which the caller saves and restores,
 * and it makes only async-signal-safe calls. The interface was checked
 * in the parent; every signal is blocked, and the restore sets the
 * image's mask.
 */
static int spawn_child(void *arg)
{
	const struct spawn_ctx *ctx = arg;
	int err;
	ssize_t n;

	err = restore_error(spice__sys_snapshot_restore_raw(ctx->args,
							    sizeof(*ctx->args)));
	do
		n = write(ctx->report_fd, &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	/*
	 * Returning makes clone() end the child with this status. Not
	 * _exit(): a sanitizer would take a noreturn call on this stack for
	 * the end of the caller's.
	 */
	return SPAWN_FAILED;
}

pid_t spice__spawn_at(const char *dir, int image_fd, uint64_t flags,
		      const struct spice_fd_map *map, unsigned int nr_map)
{
	struct snapshot_restore_args args = { 0 };
	struct spawn_ctx ctx;
	int saved_errno = errno;
	sigset_t all, old;
	int ret, err = 0, pipefd[2];
	void *stack;
	unsigned int i;
	ssize_t n;
	pid_t pid;

	ret = check_args(image_fd, flags, map, nr_map);
	if (ret)
		return ret;
	/*
	 * Every descriptor the child passes on must be open here: the report
	 * pipe, made next, must not take the number of one that is not.
	 */
	for (i = 0; i < nr_map; i++) {
		ret = check_open(map[i].caller_fd);
		if (ret)
			return ret;
	}
	ret = check_open(image_fd);
	if (ret)
		return ret;
	/* No child for nothing where the interface is missing. */
	ret = spice__supported_at(dir);
	if (ret < 0)
		return ret;
	if (ret == 0)
		return -ENOSYS;
	fill_args(&args, image_fd, flags, map, nr_map);

	/*
	 * The report pipe. The restore replaces the whole file table, so the
	 * write end is gone once the child is the restored process, and the
	 * parent reads end of file; a failed restore writes its error first.
	 * Close-on-exec keeps it from other children the caller's threads
	 * start meanwhile.
	 */
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		ret = -errno;
		errno = saved_errno;
		return ret;
	}
	pipefd[0] = above_stdio(pipefd[0]);
	pipefd[1] = above_stdio(pipefd[1]);
	if (pipefd[0] < 0 || pipefd[1] < 0) {
		ret = pipefd[0] < 0 ? pipefd[0] : pipefd[1];
		if (pipefd[0] >= 0)
			close(pipefd[0]);
		if (pipefd[1] >= 0)
			close(pipefd[1]);
		errno = saved_errno;
		return ret;
	}

	stack = mmap(NULL, SPAWN_STACK, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED) {
		ret = -errno;
		close(pipefd[0]);
		close(pipefd[1]);
		errno = saved_errno;
		return ret;
	}
	ctx.report_fd = pipefd[1];
	ctx.args = &args;

	/*
	 * The child shares this memory and this thread waits (CLONE_VM |
	 * CLONE_VFORK) until the restore has replaced the child's address
	 * space or the child has exited: no copy of the caller's page tables
	 * is made only to be thrown away, which is most of the cost of a
	 * fork() from a large process. No handler of the caller's may run in
	 * the child.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = clone(spawn_child, (char *)stack + SPAWN_STACK,
		    CLONE_VM | CLONE_VFORK | SIGCHLD, &ctx);
	ret = pid < 0 ? -errno : 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	munmap(stack, SPAWN_STACK);
	close(pipefd[1]);
	if (pid < 0) {
		close(pipefd[0]);
		errno = saved_errno;
		return ret;
	}

	do
		n = read(pipefd[0], &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		ret = -errno;
	close(pipefd[0]);

	if (n == 0) {
		/* Restored: the child is the image's process now. */
		errno = saved_errno;
		return pid;
	}
	if (n < 0) {
		/* Cannot tell what the child became: leave nothing behind. */
		kill(pid, SIGKILL);
	} else if (n == (ssize_t)sizeof(err) && err < 0 &&
		   err >= -SPICE_MAX_ERRNO) {
		ret = err;
	} else {
		ret = -EPROTO;
	}
	/* The child exits after its report; no zombie is left. */
	reap(pid);
	errno = saved_errno;
	return ret;
}

SPICE_EXPORT int spice_restore(int image_fd, uint64_t flags,
			       const struct spice_fd_map *map,
			       unsigned int nr_map)
{
	return spice__restore_at(SPICE_SYSFS_DIR, image_fd, flags, map, nr_map);
}

SPICE_EXPORT pid_t spice_spawn(int image_fd, uint64_t flags,
			       const struct spice_fd_map *map,
			       unsigned int nr_map)
{
	return spice__spawn_at(SPICE_SYSFS_DIR, image_fd, flags, map, nr_map);
}
