/*
 * creds_proc.c: see creds_proc.h.
 *
 * A run is: two non-blocking pipe reads (EV_PERSIST), a deadline timer,
 * and, once both pipes are closed, a reap timer polling waitpid(WNOHANG)
 * every 1, 2, 4 ... 64 ms. Polling rather than SIGCHLD: a signal handler
 * is process-wide state this module must not own, and a credential process
 * runs once an hour.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "buf.h"
#include "clock.h"
#include "creds_proc.h"
#include "diag.h"

extern char **environ;

#define CREDS_PROC_REAP_MAX_MS 64

struct creds_proc {
	struct event_base *base;
	pid_t pid;
	bool reaped;
	bool killed;
	int wstatus;
	int fd[2]; /* its stdout, its standard error; -1: closed */
	struct event *rd[2];
	struct event *deadline_ev;
	struct event *reap_ev;
	unsigned reap_ms;
	struct buf out;
	char err[CREDS_PROC_MAX_ERR + 1];
	size_t err_len;
	int error;
	creds_proc_cb *cb;
	void *arg;
};

void
creds_proc_argv_free(char **argv)
{
	size_t i;

	if (argv == NULL)
		return;
	for (i = 0; argv[i] != NULL; i++) {
		explicit_bzero(argv[i], strlen(argv[i]));
		free(argv[i]);
	}
	free(argv);
}

/* Appends the word in w (len bytes) to argv. */
static int
creds_proc_push(char **argv, size_t *n, const char *w, size_t len)
{
	if (*n == CREDS_PROC_MAX_ARGS)
		return -E2BIG;
	argv[*n] = strndup(w, len);
	if (argv[*n] == NULL)
		return -ENOMEM;
	(*n)++;
	return 0;
}

int
creds_proc_split(const char *cmd, char ***ret_argv, struct diag *reterr)
{
	size_t len = strlen(cmd);
	char **argv;
	char *w;
	size_t n = 0;
	size_t wl = 0;
	size_t i;
	char quote = '\0';
	bool in_word = false;
	int r = 0;

	argv = calloc(CREDS_PROC_MAX_ARGS + 1, sizeof(*argv));
	w = malloc(len + 1);
	if (argv == NULL || w == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < len && r == 0; i++) {
		char ch = cmd[i];

		if (quote == '\'') {
			if (ch == '\'')
				quote = '\0';
			else
				w[wl++] = ch;
		} else if (quote == '"') {
			if (ch == '"')
				quote = '\0';
			else if (ch == '\\' &&
			    (cmd[i + 1] == '"' || cmd[i + 1] == '\\'))
				w[wl++] = cmd[++i];
			else
				w[wl++] = ch;
		} else if (ch == ' ' || ch == '\t' || ch == '\r' ||
		    ch == '\n') {
			if (in_word)
				r = creds_proc_push(argv, &n, w, wl);
			in_word = false;
			wl = 0;
		} else if (ch == '\'' || ch == '"') {
			quote = ch;
			in_word = true;
		} else if (ch == '\\') {
			if (i + 1 == len) {
				r = diag_set(reterr, -EINVAL, NULL, 0, 0,
				    "credential_process: a backslash ends the "
				    "command line");
				goto out;
			}
			w[wl++] = cmd[++i];
			in_word = true;
		} else {
			w[wl++] = ch;
			in_word = true;
		}
	}
	if (r == 0 && quote != '\0') {
		r = diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "credential_process: no closing quotation (%c)", quote);
		goto out;
	}
	if (r == 0 && in_word)
		r = creds_proc_push(argv, &n, w, wl);
	if (r == -E2BIG)
		r = diag_set(reterr, r, NULL, 0, 0,
		    "credential_process: more than %d words",
		    CREDS_PROC_MAX_ARGS);
	if (r == 0 && n == 0)
		r = diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "credential_process: the command line is empty");
out:
	if (w != NULL) {
		explicit_bzero(w, len + 1);
		free(w);
	}
	if (r < 0) {
		creds_proc_argv_free(argv);
		return r;
	}
	*ret_argv = argv;
	return 0;
}

static void
creds_proc_close(struct creds_proc *p, int i)
{
	if (p->rd[i] != NULL) {
		event_free(p->rd[i]);
		p->rd[i] = NULL;
	}
	if (p->fd[i] >= 0) {
		(void)close(p->fd[i]);
		p->fd[i] = -1;
	}
}

static void
creds_proc_destroy(struct creds_proc *p)
{
	creds_proc_close(p, 0);
	creds_proc_close(p, 1);
	if (p->deadline_ev != NULL)
		event_free(p->deadline_ev);
	if (p->reap_ev != NULL)
		event_free(p->reap_ev);
	if (p->out.data != NULL)
		explicit_bzero(p->out.data, p->out.cap);
	buf_done(&p->out);
	explicit_bzero(p->err, sizeof(p->err));
	free(p);
}

static void
creds_proc_kill(struct creds_proc *p, int error)
{
	if (p->killed || p->reaped)
		return;
	p->killed = true;
	if (p->error == 0)
		p->error = error;
	/* Its group: what it started dies too. */
	(void)kill(-p->pid, SIGKILL);
	(void)kill(p->pid, SIGKILL);
}

static void
creds_proc_finish(struct creds_proc *p)
{
	struct creds_proc_result res;

	memset(&res, 0, sizeof(res));
	res.error = p->error;
	res.status = -1;
	if (WIFEXITED(p->wstatus))
		res.status = WEXITSTATUS(p->wstatus);
	else if (WIFSIGNALED(p->wstatus))
		res.signal = WTERMSIG(p->wstatus);
	res.out = &p->out;
	p->err[p->err_len] = '\0';
	res.err = p->err;
	p->cb(&res, p->arg);
	creds_proc_destroy(p);
}

/* Whether the child is gone (reaped now or before). */
static bool
creds_proc_reap(struct creds_proc *p)
{
	pid_t w;

	if (p->reaped)
		return true;
	do
		w = waitpid(p->pid, &p->wstatus, WNOHANG);
	while (w < 0 && errno == EINTR);
	if (w == 0)
		return false;
	/* ECHILD: SIGCHLD is ignored and the kernel reaped it; its status
	 * is lost: "unknown" (status -1, no signal). */
	if (w < 0)
		p->wstatus = -1;
	p->reaped = true;
	return true;
}

/* Both pipes closed: finish once the child is reaped. */
static void
creds_proc_check(struct creds_proc *p)
{
	struct timeval tv;

	if (p->fd[0] >= 0 || p->fd[1] >= 0)
		return;
	if (creds_proc_reap(p)) {
		creds_proc_finish(p);
		return;
	}
	tv = clock_tv_ms(p->reap_ms);
	if (p->reap_ms < CREDS_PROC_REAP_MAX_MS)
		p->reap_ms *= 2;
	(void)evtimer_add(p->reap_ev, &tv);
}

static void
creds_proc_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	UNUSED(fd);
	UNUSED(what);
	creds_proc_check(arg);
}

static void
creds_proc_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct creds_proc *p = arg;

	UNUSED(fd);
	UNUSED(what);
	creds_proc_kill(p, -ETIMEDOUT);
	/* Whatever still holds the pipes, we stop listening. */
	creds_proc_close(p, 0);
	creds_proc_close(p, 1);
	creds_proc_check(p);
}

static void
creds_proc_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct creds_proc *p = arg;
	int i = fd == p->fd[0] ? 0 : 1;
	char chunk[4096];
	ssize_t n;
	size_t k;
	int r;

	UNUSED(what);
	n = read(fd, chunk, sizeof(chunk));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		creds_proc_close(p, i);
		creds_proc_check(p);
		return;
	}
	if (i == 0) {
		r = buf_append(&p->out, chunk, (size_t)n);
		if (r < 0) {
			creds_proc_kill(p, r);
			creds_proc_close(p, 0);
			creds_proc_close(p, 1);
			creds_proc_check(p);
		}
	} else {
		k = CREDS_PROC_MAX_ERR - p->err_len;
		if (k > (size_t)n)
			k = (size_t)n;
		memcpy(p->err + p->err_len, chunk, k);
		p->err_len += k;
	}
	explicit_bzero(chunk, sizeof(chunk));
}

/*
 * The program to run, as execvp(3) finds it: argv0 itself if it has a
 * '/', else the first executable regular file of that name in $PATH
 * (default "/bin:/usr/bin"). Done here rather than by posix_spawnp, so that
 * "no such program" is -ENOENT everywhere (under valgrind, a spawned child
 * that fails to exec just exits 127).
 */
static int
creds_proc_which(const char *argv0, char **ret)
{
	const char *path = getenv("PATH");
	const char *dir;
	struct stat st;
	char *full;
	size_t n;
	int r = -ENOENT;

	if (strchr(argv0, '/') != NULL) {
		if (stat(argv0, &st) < 0)
			return -errno;
		if (!S_ISREG(st.st_mode))
			return -EACCES;
		if (access(argv0, X_OK) < 0)
			return -errno;
		*ret = strdup(argv0);
		return *ret != NULL ? 0 : -ENOMEM;
	}
	if (path == NULL || *path == '\0')
		path = "/bin:/usr/bin";
	for (dir = path;; dir += n + 1) {
		n = strcspn(dir, ":");
		if (asprintf(&full, "%.*s%s%s", (int)n, n == 0 ? "." : dir, "/",
			argv0) < 0)
			return -ENOMEM;
		if (stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
			if (access(full, X_OK) == 0) {
				*ret = full;
				return 0;
			}
			r = -EACCES; /* as execvp: keep looking, say so */
		}
		free(full);
		if (dir[n] == '\0')
			break;
	}
	return r;
}

static int
creds_proc_spawn(struct creds_proc *p, char **argv, int out_w, int err_w)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	char *prog = NULL;
	sigset_t none;
	sigset_t all;
	int r;

	r = posix_spawn_file_actions_init(&fa);
	if (r != 0)
		return -r;
	r = posix_spawnattr_init(&at);
	if (r != 0) {
		(void)posix_spawn_file_actions_destroy(&fa);
		return -r;
	}
	(void)sigemptyset(&none);
	(void)sigfillset(&all);
	/* Default handling of every signal (we ignore SIGPIPE; it must
	 * not), nothing blocked, and a group of its own. */
	r = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (r == 0)
		r = posix_spawn_file_actions_adddup2(&fa, out_w, 1);
	if (r == 0)
		r = posix_spawn_file_actions_adddup2(&fa, err_w, 2);
	if (r == 0)
		r = posix_spawnattr_setsigmask(&at, &none);
	if (r == 0)
		r = posix_spawnattr_setsigdefault(&at, &all);
	if (r == 0)
		r = posix_spawnattr_setpgroup(&at, 0);
	if (r == 0)
		r = posix_spawnattr_setflags(&at,
		    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
			POSIX_SPAWN_SETPGROUP);
	if (r == 0) {
		r = -creds_proc_which(argv[0], &prog);
		if (r == 0)
			r = posix_spawn(&p->pid, prog, &fa, &at, argv, environ);
	}
	free(prog);
	(void)posix_spawnattr_destroy(&at);
	(void)posix_spawn_file_actions_destroy(&fa);
	return -r;
}

int
creds_proc_start(struct event_base *base, const char *cmd, long timeout_ms,
    size_t max_out, creds_proc_cb *cb, void *arg, struct creds_proc **ret,
    struct diag *reterr)
{
	struct creds_proc *p;
	char **argv = NULL;
	struct timeval tv;
	int po[2] = {-1, -1};
	int pe[2] = {-1, -1};
	int i;
	int r;

	if (base == NULL || cmd == NULL || cb == NULL || ret == NULL ||
	    timeout_ms <= 0)
		return -EINVAL;
	r = creds_proc_split(cmd, &argv, reterr);
	if (r < 0)
		return r;
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		creds_proc_argv_free(argv);
		return -ENOMEM;
	}
	p->base = base;
	p->fd[0] = p->fd[1] = -1;
	p->reap_ms = 1;
	p->cb = cb;
	p->arg = arg;
	buf_init(&p->out, max_out);
	p->deadline_ev = evtimer_new(base, creds_proc_deadline_cb, p);
	p->reap_ev = evtimer_new(base, creds_proc_reap_cb, p);
	if (p->deadline_ev == NULL || p->reap_ev == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) {
		r = -errno;
		r = diag_set(reterr, r, NULL, 0, 0,
		    "credential_process: pipe: %s", strerror(-r));
		goto fail;
	}
	r = creds_proc_spawn(p, argv, po[1], pe[1]);
	if (r < 0) {
		r = diag_set(reterr, r, NULL, 0, 0,
		    "credential_process: cannot run '%.64s': %s", argv[0],
		    strerror(-r));
		goto fail;
	}
	(void)close(po[1]);
	(void)close(pe[1]);
	po[1] = pe[1] = -1;
	p->fd[0] = po[0];
	p->fd[1] = pe[0];
	for (i = 0; i < 2; i++) {
		int fl = fcntl(p->fd[i], F_GETFL);

		if (fl < 0 || fcntl(p->fd[i], F_SETFL, fl | O_NONBLOCK) < 0)
			r = -errno;
		p->rd[i] = event_new(base, p->fd[i], EV_READ | EV_PERSIST,
		    creds_proc_read_cb, p);
		if (p->rd[i] == NULL || event_add(p->rd[i], NULL) < 0)
			r = -ENOMEM;
	}
	tv = clock_tv_ms((uint64_t)timeout_ms);
	if (r == 0 && evtimer_add(p->deadline_ev, &tv) < 0)
		r = -ENOMEM;
	creds_proc_argv_free(argv);
	if (r < 0) {
		creds_proc_cancel(p);
		return r;
	}
	*ret = p;
	return 0;
fail:
	for (i = 0; i < 2; i++) {
		if (po[i] >= 0)
			(void)close(po[i]);
		if (pe[i] >= 0)
			(void)close(pe[i]);
	}
	creds_proc_argv_free(argv);
	creds_proc_destroy(p);
	return r;
}

void
creds_proc_cancel(struct creds_proc *p)
{
	pid_t w;

	if (p == NULL)
		return;
	creds_proc_kill(p, -ECANCELED);
	if (!p->reaped) {
		/* After SIGKILL the wait is short. */
		do
			w = waitpid(p->pid, &p->wstatus, 0);
		while (w < 0 && errno == EINTR);
	}
	creds_proc_destroy(p);
}

/* Could s[0..] start a run that looks like a key, secret or token? */
static bool
creds_proc_tokenish(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= '0' && ch <= '9') || ch == '+' || ch == '/' || ch == '=';
}

/*
 * Why an excerpt at all: the SDKs show a failing credential_process's
 * standard error whole, and it is usually the only hint ("profile not found",
 * "token expired, run login"). Why only a cut one: the process is
 * trusted but its standard error is not meant for logs; it may echo a key or a
 * token. So: one line, short, and anything long that looks random (a
 * run of 16+ base64 characters with a digit, '+' or '=') masked.
 */
const char *
creds_proc_excerpt(const char *err, char *buf, size_t size)
{
	const char *s = err;
	size_t len;
	size_t i;
	size_t o = 0;

	if (size == 0)
		return buf;
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	len = strcspn(s, "\r\n");
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	for (i = 0; i < len && o + 1 < size;) {
		size_t j = i;
		bool mixed = false;

		while (j < len && creds_proc_tokenish(s[j])) {
			if ((s[j] >= '0' && s[j] <= '9') || s[j] == '+' ||
			    s[j] == '=')
				mixed = true;
			j++;
		}
		if (j - i >= 16 && mixed) {
			const char *mask = "[...]";
			size_t k;

			for (k = 0; mask[k] != '\0' && o + 1 < size; k++)
				buf[o++] = mask[k];
			i = j;
			continue;
		}
		if (j == i)
			j = i + 1;
		for (; i < j && o + 1 < size; i++)
			buf[o++] = (unsigned char)s[i] < ' ' ||
				(unsigned char)s[i] >= 0x7f
			    ? '?'
			    : s[i];
	}
	buf[o] = '\0';
	return buf;
}
