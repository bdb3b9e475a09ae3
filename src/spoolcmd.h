/*
 * spoolcmd.h: `smtrail spool list|retry|purge` (smtrail(8), SPOOL), and
 * the daemon's side of their requests.
 *
 * list reads the journal without its lock (spool_opts.read_only): it
 * works with the daemon running or not and changes nothing.
 *
 * retry and purge act on failed (alert, destination) pairs only: retry
 * makes them pending again, purge drops them. Nothing pending or
 * delivered is touched, so neither races a delivery in flight. Who acts:
 *   - no daemon holds the spool: the command takes its lock and writes
 *     the "retry"/"purge" lines itself; a retried pair is then delivered
 *     by the next `smtrail run` (at its start, as every pending one);
 *   - a daemon holds it (-EBUSY): the command drops a request file into
 *     <state_dir>/spool.requests/ (written to a dot-file, then renamed to
 *     NAME.req: never seen half-written), which the daemon takes on its
 *     next tick (SPOOLCMD_TICK_MS: no PID, no signal rights needed across
 *     users or namespaces, nothing lost between two signals), applies the
 *     same way, queues each retried pair on its normal delivery path, and
 *     answers in NAME.done, which the command prints and removes. A
 *     request not taken within the wait is withdrawn (unlinked: it is the
 *     daemon's only once renamed to NAME.work).
 *
 * The answer's lines are the same either way. Return values map to the
 * exit codes of main.c: 0 done; 1 (SPOOLCMD_PARTLY) some named alert had
 * nothing to act on, or retry found nothing failed; -EINVAL (reterr)
 * unknown or malformed alert ids, nothing done (exit 2); other negative
 * errno (reterr): the state directory or the spool could not be read or
 * written, or the daemon did not answer (exit 1).
 *
 * Drivers layer: the command line's module; the daemon calls
 * spoolcmd_take() from its loop (blocking disk I/O of a few small files).
 * Never prints: lines go to the caller's callbacks.
 */
#ifndef SMTRAIL_SPOOLCMD_H
#define SMTRAIL_SPOOLCMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct diag;
struct spool;

/* Where the requests go, under the state directory. */
#define SPOOLCMD_DIR "spool.requests"
/* How often the daemon looks for requests. */
#define SPOOLCMD_TICK_MS 1000
/* How long the command waits for the daemon's answer by default. */
#define SPOOLCMD_WAIT_MS 30000
/* At most this many alert ids in one command. */
#define SPOOLCMD_MAX_IDS 1000
/* Some named alert had nothing failed. */
#define SPOOLCMD_PARTLY 1

enum spoolcmd_filter { SPOOLCMD_ALL, SPOOLCMD_FAILED, SPOOLCMD_PENDING };

struct spoolcmd_opts {
	const char *state_dir;
	enum spoolcmd_filter filter; /* list */
	bool json;                   /* list: JSON lines */
	bool all_failed;             /* retry */
	bool older_than_given;       /* purge */
	uint64_t older_than_s;
	char *const *ids; /* retry, purge: 32 hex digits each */
	size_t n_ids;
	unsigned wait_ms; /* for the daemon's answer; 0: SPOOLCMD_WAIT_MS */
	/* What the command says (standard output), and its per-alert
	 * complaints (standard error); one line each, no newline. */
	void (*out)(const char *line, void *arg);
	void (*err)(const char *line, void *arg);
	void *arg;
};

int spoolcmd_list(const struct spoolcmd_opts *o,
    struct diag *reterr) MUST_CHECK;
int spoolcmd_retry(const struct spoolcmd_opts *o,
    struct diag *reterr) MUST_CHECK;
int spoolcmd_purge(const struct spoolcmd_opts *o,
    struct diag *reterr) MUST_CHECK;

/* "90s", "15m", "36h", "7d", "2w", or a sum ("1d12h"); a bare number is
 * seconds. -EINVAL otherwise. */
int spoolcmd_duration(const char *s, uint64_t *ret_s) MUST_CHECK;

/* The daemon's side. A pair made pending again, to queue. */
typedef void spoolcmd_requeued_cb(int64_t job, const char *dest, void *arg);
/* Creates <state_dir>/spool.requests (0700) if absent. */
int spoolcmd_init(const char *state_dir) MUST_CHECK;
/*
 * Takes and applies every request waiting, calls cb for each pair it
 * made pending, syncs the spool, answers each; logs one notice per
 * request. Returns how many were taken, or the spool's error (the daemon
 * then treats the spool as it would after a failed write).
 */
int spoolcmd_take(const char *state_dir, struct spool *sp,
    spoolcmd_requeued_cb *cb, void *arg) MUST_CHECK;

#endif
