/*
 * replay.h: the offline pipeline (DESIGN.md, "Sources: files"): CloudTrail
 * records from log files, or given one by one, through the same engine as
 * the daemon (engine.h), into a spool, printed and optionally delivered
 * through the daemon's delivery path (deliver.h). What it prints is what
 * `run` would have sent for the same events, had it read them as they
 * happened: windows and group_wait run in event time, held groups come out
 * at the end, resolves are printed, duplicates (rule id, eventID) are not.
 *
 * State (the spool and the incident journal) lives in state_dir, which
 * outlives the replay so a later one can continue it; NULL: a temporary
 * directory, removed by replay_free(). Stateless (no_state): every match is
 * printed as it is, nothing kept, nothing delivered: the raw matches.
 *
 * Printed alerts are one JSON object per line without "record", as
 * smtrail(8) OUTPUT says; deliveries carry the record. Deliveries use the
 * destinations' backoff, Retry-After and deadline, as in the daemon;
 * replay_finish() waits for them.
 *
 * One process, one loop; not reentrant. Never prints: alert lines go to
 * the print hook, errors back to the caller.
 */
#ifndef SMTRAIL_REPLAY_H
#define SMTRAIL_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct cfg;
struct diag;
struct json_object;
struct rules;
struct sink_outcome;
struct trail_stats;
struct replay; /* opaque */

struct replay_opts {
	const struct cfg *cfg;     /* routes and destinations; borrowed */
	const struct rules *rules; /* borrowed */
	const char *state_dir;     /* NULL: a temporary one */
	bool no_state;             /* raw matches, nothing kept */
	bool deliver;              /* also send, as the daemon would */
	/* Each alert as a line (no "record", no newline; borrowed): what
	 * `replay` prints. < 0 stops the replay. NULL: none. */
	int (*print)(const char *line, size_t len, void *arg);
	/* Each delivery that ended (delivered or given up); NULL: none. */
	void (*delivered)(const char *dest, const struct sink_outcome *o,
	    void *arg);
	/* Each record once the engine has taken it (its alerts printed);
	 * borrowed for the call; < 0 stops the replay. NULL: none. */
	int (*fed)(struct json_object *rec, void *arg);
	void *arg;
};

struct replay_stats {
	uint64_t alerts;    /* printed */
	uint64_t delivered; /* (alert, destination) delivered */
	uint64_t failed;    /* (alert, destination) given up */
};

/* -EINVAL (reterr): a state directory that cannot be made or used;
 * -EBUSY: another process (a daemon?) holds it. */
int replay_new(const struct replay_opts *o, struct replay **ret,
    struct diag *reterr) MUST_CHECK;
/* Removes the temporary state directory. NULL ok. */
void replay_free(struct replay *rp);

/* One log file (.json or .json.gz). < 0 with reterr naming the file and
 * the byte: the file is unreadable or malformed (the records before the
 * damage were taken), or the state failed. st (may be NULL): the scan's. */
int replay_file(struct replay *rp, const char *path, struct trail_stats *st,
    struct diag *reterr) MUST_CHECK;
/* One record (borrowed) as a scan takes it (backfill's objects): through
 * the engine, its alerts spooled and printed, but not yet durable nor
 * delivered: replay_sync() makes everything fed so far durable. */
int replay_feed(struct replay *rp, struct json_object *rec) MUST_CHECK;
/* What was fed is durable (spool and state synced) and its deliveries
 * queued; waits while too many are queued. */
int replay_sync(struct replay *rp) MUST_CHECK;
/* Finishes what a run killed mid-way left in the state: alerts spooled
 * but not printed are printed now (print only), pending deliveries are
 * queued (deliver). Call once, before feeding. */
int replay_resume(struct replay *rp) MUST_CHECK;
/* One record (borrowed), e.g. from a test case. */
int replay_record(struct replay *rp, struct json_object *rec) MUST_CHECK;
/* One alert already rendered (test-destination): spooled for dest and
 * delivered. */
int replay_send(struct replay *rp, const char *rule_id, const char *event_id,
    const char *json, size_t len, const char *dest) MUST_CHECK;
/* The input ended: held groups come out, the state is synced, deliveries
 * are waited for. */
int replay_finish(struct replay *rp) MUST_CHECK;

void replay_stats(const struct replay *rp, struct replay_stats *ret);

#endif
