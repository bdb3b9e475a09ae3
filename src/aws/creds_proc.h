/*
 * creds_proc.h: run a credential_process command on the loop, for creds.c.
 *
 * The command line is split as botocore does (Python's shlex.split, POSIX
 * mode), never given to a shell: blanks (space, tab, CR, LF) separate words;
 * '...' is taken literally; in "..." a backslash escapes only '"' and '\';
 * outside quotes a backslash escapes any character; quotes join with the
 * text around them ("a'b c'd" is one word). Nothing is expanded. The first
 * word is looked up in $PATH as execvp(3) does. The process gets our
 * environment, /dev/null as stdin, pipes as stdout and stderr (read
 * without blocking), default signal handling and mask, and a process group
 * of its own, so that a timeout kills whatever it started too.
 *
 * A run ends exactly once, with cb from the loop (never inside
 * creds_proc_start): once the process has exited and both pipes are
 * closed; at the deadline (the group is killed with SIGKILL: -ETIMEDOUT);
 * or when stdout passes max_out (killed: -E2BIG). The child is always
 * reaped, by polling waitpid(WNOHANG) on a short timer, so nothing depends
 * on SIGCHLD. The handle is freed after the callback returns; do not use it
 * afterwards. The result's stdout is borrowed during the callback and wiped
 * after it (it holds secret keys). stderr is kept up to CREDS_PROC_MAX_ERR
 * bytes, the rest read and dropped.
 *
 * Errors: -EINVAL a command line that does not split (empty, an unclosed
 * quote, a trailing backslash; reterr says which), -E2BIG over
 * CREDS_PROC_MAX_ARGS words, -ENOENT no such program, -EACCES not an
 * executable file, an error from posix_spawn or pipe(2) (-EMFILE),
 * -ENOMEM. reterr names the program (the first word) but never quotes an
 * argument: they may carry secrets.
 * Loop thread only; no logging.
 */
#ifndef SMTRAIL_CREDS_PROC_H
#define SMTRAIL_CREDS_PROC_H

#include <stddef.h>

#include "common.h"

struct buf;
struct diag;
struct event_base;
struct creds_proc; /* opaque: one run */

/* What stderr we keep (enough for a first line), and words per command. */
#define CREDS_PROC_MAX_ERR 4096
#define CREDS_PROC_MAX_ARGS 256

struct creds_proc_result {
	int error;             /* 0: it exited; -ETIMEDOUT, -E2BIG: killed */
	int status;            /* exit status 0-255, -1: a signal or unknown */
	int signal;            /* the signal that ended it, else 0 */
	const struct buf *out; /* stdout; secret */
	const char *err;       /* stderr's start, NUL-terminated; untrusted */
};

typedef void creds_proc_cb(const struct creds_proc_result *res, void *arg);

/* Splits cmd into *ret_argv (NULL-terminated; creds_proc_argv_free). */
int creds_proc_split(const char *cmd, char ***ret_argv,
    struct diag *reterr) MUST_CHECK;
void creds_proc_argv_free(char **argv); /* NULL ok */

int creds_proc_start(struct event_base *base, const char *cmd, long timeout_ms,
    size_t max_out, creds_proc_cb *cb, void *arg, struct creds_proc **ret,
    struct diag *reterr) MUST_CHECK;
/* Kills the group, reaps the child (waitpid after SIGKILL), frees; no
 * callback. NULL ok. Not from within the run's own callback. */
void creds_proc_cancel(struct creds_proc *p);

/*
 * The start of err made safe for a diag: its first non-blank line, control
 * characters as '?', cut at size - 1 bytes, and every run of 16 or more
 * characters that could be a key, secret or token (letters, digits, + / =,
 * with at least one digit, '+' or '=') replaced by "[...]". "" if there is
 * nothing.
 */
const char *creds_proc_excerpt(const char *err, char *buf, size_t size);

#endif
