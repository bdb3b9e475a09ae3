/*
 * bench/tm.c: run a command, report its wall time and peak RSS.
 *
 *   tm [-i IN] [-o OUT] COMMAND [ARG...]
 *
 * Prints one line, "wall=SECONDS maxrss_kb=KB status=N", on stdout; the
 * command's stdin is IN (default /dev/null), its stdout OUT (default
 * /dev/null), its stderr ours. The RSS is the child's own (wait4), so a
 * shell in between is not counted; the clock is CLOCK_MONOTONIC, to the
 * microsecond, where time(1) gives centiseconds. Exits 0 if it could run
 * the command, whatever the command's status.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double
now(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	const char *in = "/dev/null";
	const char *out = "/dev/null";
	struct rusage ru;
	double start;
	pid_t pid;
	int status;
	int opt;

	while ((opt = getopt(argc, argv, "+i:o:")) != -1) {
		switch (opt) {
		case 'i':
			in = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		default:
			fputs("usage: tm [-i IN] [-o OUT] COMMAND [ARG...]\n",
			    stderr);
			return 2;
		}
	}
	if (optind == argc) {
		fputs("usage: tm [-i IN] [-o OUT] COMMAND [ARG...]\n", stderr);
		return 2;
	}
	(void)fflush(stdout);
	start = now();
	pid = fork();
	if (pid < 0) {
		perror("tm: fork");
		return 1;
	}
	if (pid == 0) {
		int fi = open(in, O_RDONLY | O_CLOEXEC);
		int fo =
		    open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (fi < 0 || fo < 0 || dup2(fi, 0) < 0 || dup2(fo, 1) < 0) {
			perror("tm: redirect");
			_exit(127);
		}
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "tm: %s: %s\n", argv[optind], strerror(errno));
		_exit(127);
	}
	while (wait4(pid, &status, 0, &ru) < 0)
		if (errno != EINTR) {
			perror("tm: wait4");
			return 1;
		}
	printf("wall=%.6f maxrss_kb=%ld status=%d\n", now() - start,
	    ru.ru_maxrss,
	    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return 0;
}
