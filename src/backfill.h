/*
 * backfill.h: `smtrail backfill`, the offline pipeline (replay.h) fed from a
 * trail's bucket instead of local files.
 *
 * Discovery: delimiter listings (ListObjectsV2, every page) of
 * [prefix/]AWSLogs/, then of each account (AWSLogs/<account>/, or
 * AWSLogs/o-<org>/<account>/ for organization trails), of its
 * CloudTrail/<region>/ folders, and of each day YYYY/MM/DD/ in the range
 * [since, until] (UTC days, both ends included; the records are not cut at
 * the range's ends). Other names at each level (CloudTrail-Digest/,
 * CloudTrail-Insight/, a stray key) are skipped. The keys ending .json.gz or
 * .json are the objects, scanned in the order of the time in their names
 * (then key), so that the engine's windows see event time roughly in order.
 *
 * Objects are fetched with at most `jobs` GetObject calls in flight, each
 * streamed into its own scanner (trail.h) whose records go to the engine as
 * they arrive. Each alert is spooled (the spool's dedup on rule id and
 * eventID drops repeats), printed, then marked printed in the spool.
 * Whenever objects finish, what was fed is made durable (replay_sync), and
 * then the finished objects ("bucket/key" lines) are appended to the
 * checkpoint file and fsync'd. After a crash or kill -9, the same command first
 * prints the alerts spooled but not marked printed (replay_resume), skips the
 * objects the checkpoint names and scans the others again; the spool drops the
 * alerts already spooled, so none repeats (except one printed in the
 * instant between its line and its mark). Delivering, a killed run's
 * undelivered alerts are delivered by the next run (or the daemon).
 *
 * The state (spool, windows) is the daemon's state_dir when delivering, so
 * the daemon's dedup applies both ways; the spool's flock makes that
 * -EBUSY while the daemon runs (the caller says so). A dry run keeps its own
 * state (opts.state_dir), so it never marks anything seen for the daemon.
 *
 * One loop of its own; not reentrant. Never prints: alert lines go to the
 * print hook, progress to the progress hook, errors to the caller and the
 * per-object failures to the log (warning) and the stats.
 */
#ifndef SMTRAIL_BACKFILL_H
#define SMTRAIL_BACKFILL_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"

struct cfg;
struct diag;
struct rules;
struct sink_outcome;

#define BACKFILL_DEFAULT_JOBS 8
#define BACKFILL_MAX_JOBS 64
#define BACKFILL_CHECKPOINT "backfill.checkpoint"

struct backfill_stats {
	uint64_t accounts; /* account folders found */
	uint64_t regions;  /* (account, region) folders found */
	uint64_t listings; /* ListObjectsV2 pages */
	uint64_t objects;  /* in the range */
	uint64_t resumed;  /* of those, skipped: in the checkpoint */
	uint64_t done;     /* scanned to the end (this run) */
	uint64_t failed;   /* not scanned to the end: retried next run */
	uint64_t bytes;    /* fetched (as stored: gzip) */
	uint64_t bytes_json;
	uint64_t records;
	uint64_t matched; /* Secrets Manager records */
	uint64_t alerts;  /* printed */
	uint64_t delivered;
	uint64_t delivery_failed;
	double elapsed_s;
};

struct backfill_opts {
	const struct cfg *cfg;     /* AWS, destinations; borrowed */
	const struct rules *rules; /* borrowed */
	const char *bucket;
	const char *prefix; /* NULL or "": none; slashes at its ends ignored */
	int64_t since_s;    /* Unix seconds; the UTC days from since's ... */
	int64_t until_s;    /* ... to until's */
	bool dry_run;       /* print only, with state_dir's own state */
	unsigned jobs;      /* 0: BACKFILL_DEFAULT_JOBS */
	/* Deliver: NULL is cfg's state_dir. Dry run: NULL is
	 * <cfg's state_dir>/backfill-dry-run. */
	const char *state_dir;
	const char *checkpoint; /* NULL: <state dir>/BACKFILL_CHECKPOINT */
	/* As replay_opts' print and delivered; a printed line must be out
	 * (flushed) when print returns: the checkpoint follows. */
	int (*print)(const char *line, size_t len, void *arg);
	void (*delivered)(const char *dest, const struct sink_outcome *o,
	    void *arg);
	/* About once a second while fetching, and once at the end (final). */
	void (
	    *progress)(const struct backfill_stats *st, bool final, void *arg);
	void *arg;
};

/*
 * Runs the backfill to its end; ret (may be NULL) gets the stats on every
 * path. 0: every object in the range is scanned (now or before); > 0: that
 * many objects failed (logged, not in the checkpoint: the next run tries
 * them again); < 0 with reterr: nothing or not all could be done: -EBUSY
 * the state is held (the daemon runs), -EINVAL a bad argument, the state
 * dir or checkpoint unusable, an AWS error listing the bucket (-EACCES,
 * -ENOENT: no such bucket, ...), -EIO printing failed.
 */
int backfill_run(const struct backfill_opts *o, struct backfill_stats *ret,
    struct diag *reterr) MUST_CHECK;

#endif
