/*
 * ready_prog - a program for spice run and spice restore, in the test guest.
 *
 *   ready_prog WORD [LOG]
 *
 * Writes "ready: WORD" to its standard output -- and, given LOG, opens LOG
 * for appending as descriptor 3 and writes the line there too -- then stops
 * itself with SIGSTOP: it is ready, and spice run captures it. When it goes
 * on, continued (spice run --keep) or restored (spice restore), it writes
 * "resumed: WORD" to its standard output and to descriptor 3 if it had LOG,
 * and exits with status READY_EXIT. The line is made before the ready
 * point, in the heap: what a restored process writes comes from its image.
 *
 * Exit status 2 on a usage error, 1 if something fails before the ready
 * point (with a message on standard error), 3 if writing fails after it.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READY_EXIT	42
#define LOG_FD		3

static int put(int fd, const char *s)
{
	size_t len = strlen(s);

	return write(fd, s, len) == (ssize_t)len ? 0 : -1;
}

int main(int argc, char **argv)
{
	char ready[256], *resumed;
	int log = -1, fd;

	if (argc < 2 || argc > 3 || strlen(argv[1]) > 200) {
		fprintf(stderr, "usage: ready_prog WORD [LOG]\n");
		return 2;
	}
	snprintf(ready, sizeof(ready), "ready: %s\n", argv[1]);
	resumed = malloc(strlen(argv[1]) + 16);
	if (!resumed) {
		perror("ready_prog: malloc");
		return 1;
	}
	sprintf(resumed, "resumed: %s\n", argv[1]);
	if (argc == 3) {
		fd = open(argv[2], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
			  0644);
		if (fd < 0 || (fd != LOG_FD && dup2(fd, LOG_FD) != LOG_FD)) {
			perror(argv[2]);
			return 1;
		}
		if (fd != LOG_FD)
			close(fd);
		log = LOG_FD;
	}
	if (put(1, ready) || (log >= 0 && put(log, ready))) {
		perror("ready_prog: write");
		return 1;
	}

	/* Ready. */
	raise(SIGSTOP);

	if (put(1, resumed) || (log >= 0 && put(log, resumed)))
		return 3;
	return READY_EXIT;
}
