/*
 * spool.h: durable append-only journal of alerts and their delivery
 * outcomes, and the dedup memory (DESIGN.md, "Alerts, spool, sinks").
 *
 * One file, <dir>/spool.journal (JSON lines, format at the top of spool.c),
 * held under an exclusive flock(2): a second daemon on the same state dir
 * gets -EBUSY. spool_open() replays it: pending jobs and the dedup set come
 * back; a torn last line (crash mid-append) is cut off and counted.
 *
 * Durability: spool_append() has written the alert when it returns, but it
 * is durable only once spool_sync() returns >= 0; only then may the SQS
 * message that produced it be deleted. Outcomes (spool_mark) ride along
 * with the next sync: losing one to a crash costs one duplicate delivery
 * attempt after the restart, never a lost alert. An outcome whose line
 * cannot be written (-ENOSPC, -EIO) is held in memory, in order, and
 * written by the next spool_sync() that can (spool_stats().unwritten
 * counts them): a restart after the disk recovers never resends what was
 * delivered. Compaction writes them too.
 *
 * Failed deliveries stay (in memory and in the journal, compaction
 * too) until spool_retry() makes them pending again or spool_purge()
 * drops them; neither touches the dedup set.
 *
 * Identity: (rule id, eventID); a record without eventID is identified by
 * the SHA-256 of its JSON text instead. An identity first seen less than
 * dedup_retention_s ago (wall clock: it must survive a reboot) is a
 * duplicate: -EEXIST, nothing written.
 *
 * Errors: -errno from write(2)/fdatasync(2) (-EIO, -ENOSPC) are returned as
 * is: stop receiving. After a failed sync, or a failed write that could not
 * be cut back off, every later call fails with that code: the journal is
 * no longer trusted in this process; a restart replays what is on disk.
 * -E2BIG from spool_append: max_pending alerts await delivery; stop
 * receiving until some complete.
 *
 * Ownership: the spool copies what it is given; strings it hands out are
 * borrowed until the next call that changes the spool. Loop thread only.
 * Disk I/O blocks: an append is one write(2), a sync one fdatasync(2),
 * and spool_compact() rewrites the live part of the journal. Never prints.
 */
#ifndef SMTRAIL_SPOOL_H
#define SMTRAIL_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct alert;
struct buf;
struct diag;
struct spool; /* opaque */

/* Longest accepted journal line: an alert with its record is under 9 MB. */
#define SPOOL_MAX_LINE (16u << 20)
/* At most this many destinations per alert, each name at most this long. */
#define SPOOL_MAX_DESTS 32
#define SPOOL_MAX_DEST 128
/* An alert's id (spool_alert_id), NUL included: 32 hex digits. */
#define SPOOL_ALERT_ID_SIZE 33
/* Rule ids are at most 128 bytes (rules.c); a longer eventID is hashed. */
#define SPOOL_MAX_RULE_ID 128
#define SPOOL_MAX_EVENT_ID 256

/* A failed delivery's error as recorded (longer: cut). */
#define SPOOL_MAX_ERROR 200

enum spool_outcome { SPOOL_DELIVERED, SPOOL_FAILED, SPOOL_OUTCOME_COUNT };

/* Where one (alert, destination) stands. */
enum spool_pair {
	SPOOL_PAIR_PENDING,   /* to be delivered (again) */
	SPOOL_PAIR_DELIVERED, /* done */
	SPOOL_PAIR_FAILED,    /* given up; kept until retried or purged */
	SPOOL_PAIR_PURGED,    /* failed, then purged: gone */
	SPOOL_PAIR_COUNT
};

struct spool_opts {
	uint64_t dedup_retention_s; /* 0: 7 days */
	size_t max_pending;         /* alerts awaiting delivery; 0: 100000 */
	/* Read the journal only, without its lock, while a daemon may hold
	 * it (smtrail spool list): every call that writes fails, -EROFS. */
	bool read_only;
	/* Tests: the wall clock in Unix seconds; NULL: time(2). */
	uint64_t (*clock_s)(void *arg);
	void *clock_arg;
};

struct spool_stats {
	uint64_t pending;       /* alerts with a destination still pending */
	uint64_t delivered;     /* (alert, destination) delivered, since open */
	uint64_t failed;        /* (alert, destination) failed now (not yet
				   retried or purged), in the journal */
	uint64_t deduplicated;  /* spool_append() -EEXIST, since open */
	uint64_t torn_tail;     /* torn last lines cut off at open (0 or 1) */
	uint64_t journal_bytes; /* current size of spool.journal */
	uint64_t dedup_keys;    /* identities held (some may be expired) */
	uint64_t unwritten;     /* outcomes held: their lines not yet written */
};

/* A negative return stops the iteration and is returned. */
typedef int spool_pending_cb(int64_t job, const char *dest,
    const char *alert_json, size_t len, void *arg);

/* What spool_foreach_alert() shows of one alert still kept (a
 * destination pending or failed); everything borrowed for the callback,
 * or until a spool_purge() of the job's last failed destination. */
struct spool_alert_info {
	int64_t job;
	char id[SPOOL_ALERT_ID_SIZE]; /* spool_alert_id() */
	uint64_t t;                   /* spooled, Unix seconds */
	size_t n_dests;
	const char *dest[SPOOL_MAX_DESTS];
	enum spool_pair state[SPOOL_MAX_DESTS];
	const char *error[SPOOL_MAX_DESTS]; /* failed: as recorded, or NULL */
	uint64_t def[SPOOL_MAX_DESTS];      /* failed: as recorded, or 0 */
};
typedef int spool_alert_cb(const struct spool_alert_info *a, void *arg);

const char *spool_outcome_str(enum spool_outcome o);
const char *spool_pair_str(enum spool_pair p); /* "pending", ... */

/*
 * o may be NULL. Creates dir/spool.journal (0600) if absent (read_only:
 * -ENOENT, nothing created); dir must exist. -EBUSY: another process
 * holds it (never with read_only); -EBADMSG: a malformed line
 * other than a torn last one (reterr: the journal, its line, and the byte
 * offset); -errno from the system otherwise.
 */
int spool_open(const char *dir, const struct spool_opts *o, struct spool **ret,
    struct diag *reterr) MUST_CHECK;
void spool_free(struct spool *sp); /* NULL ok; does not sync */

/*
 * Adds a (the record included, as alert_json() writes it; left out only
 * if it would not fit) for the named destinations (1 to SPOOL_MAX_DESTS
 * distinct names). Returns the job id (>= 1), -EEXIST for a duplicate,
 * -E2BIG when full, -EINVAL for bad arguments (no rule id, no eventID and
 * no record, bad destinations).
 */
int64_t spool_append(struct spool *sp, const struct alert *a,
    const char *const *dests, size_t n_dests) MUST_CHECK;
/* The same for an alert already rendered as JSON text (with "record"), as
 * incident.c hands them out; identity (rule_id, event_id), or a hash of the
 * text when event_id is NULL. */
int64_t spool_append_json(struct spool *sp, const char *rule_id,
    const char *event_id, const char *json, size_t len,
    const char *const *dests, size_t n_dests) MUST_CHECK;
/* Writes the held outcomes if it can (they stay held if not), then
 * fdatasync(2) if anything was written since the last sync; >= 0: the
 * number of journal entries (alerts and outcomes) made durable. */
int spool_sync(struct spool *sp) MUST_CHECK;

/*
 * Records the outcome of (job, dest). SPOOL_FAILED means given up: the
 * alert stays in the journal as failed, is counted, and is not resent
 * until spool_retry(). Synced with the next spool_sync(). 0: written; 1: held
 * (recorded in memory, its line not written: the write failed, or an
 * older outcome is still held; the next spool_sync() writes it). -ENOENT:
 * unknown job or destination (or the job is complete); -EALREADY: already
 * recorded; -ENOMEM, or the journal's broken code: not recorded at all.
 */
int spool_mark(struct spool *sp, int64_t job, const char *dest,
    enum spool_outcome outcome) MUST_CHECK;

/* The same, recording with a failure error (NULL: none; cut at
 * SPOOL_MAX_ERROR bytes), the sink's last answer for `smtrail spool
 * list`, and def (0: none), a fingerprint of the destination's
 * definition, so that a later start can tell it changed. */
int spool_mark_detail(struct spool *sp, int64_t job, const char *dest,
    enum spool_outcome outcome, const char *error, uint64_t def) MUST_CHECK;

/*
 * A failed (job, destination) becomes pending again ("retry" line): its
 * alert is read back from the journal, spool_foreach_pending() and
 * spool_alert_json() hand it out again, and its next spool_mark() is its
 * new outcome; synced with the next spool_sync(). 0: done; -ENOENT:
 * unknown job or destination; -EALREADY: not failed (pending, delivered);
 * -EIO: the alert's line is not where it was written; the journal's
 * write error (nothing changed) otherwise.
 */
int spool_retry(struct spool *sp, int64_t job, const char *dest) MUST_CHECK;
/*
 * A failed (job, destination) is dropped ("purge" line): never sent, no
 * longer counted as failed; the job is gone once none of it is pending or
 * failed. The dedup set keeps its identity. Errors as spool_retry().
 */
int spool_purge(struct spool *sp, int64_t job, const char *dest) MUST_CHECK;

/*
 * Calls cb for every alert still kept (a destination pending or failed),
 * in job order; a negative return stops and is returned. The callback
 * may call spool_retry() and spool_purge(); spool_append() and
 * spool_compact() there are -EBUSY.
 */
int spool_foreach_alert(struct spool *sp, spool_alert_cb *cb,
    void *arg) MUST_CHECK;
/* The same for one job; -ENOENT: not kept. */
int spool_alert_get(const struct spool *sp, int64_t job,
    struct spool_alert_info *ret) MUST_CHECK;
/* The job whose alert id (32 hex digits) is id, among those kept;
 * -ENOENT: none. O(jobs): for the command line, not the hot path. */
int spool_find_alert(const struct spool *sp, const char *id,
    int64_t *ret_job) MUST_CHECK;
/* Appends the alert's JSON text (as sinks get it) to out: from memory
 * while pending, else read back from the journal. -ENOENT: not kept. */
int spool_alert_text(const struct spool *sp, int64_t job,
    struct buf *out) MUST_CHECK;

/* Calls cb for every (job, destination) still pending, in job order; dest
 * and alert_json are borrowed until that job is marked. The callback may
 * call spool_mark(); spool_append() and spool_compact() there are -EBUSY. */
int spool_foreach_pending(struct spool *sp, spool_pending_cb *cb,
    void *arg) MUST_CHECK;
/* The same from job id first on, e.g. the jobs appended since a sync:
 * O(log jobs) to find the start. */
int spool_foreach_pending_from(struct spool *sp, int64_t first,
    spool_pending_cb *cb, void *arg) MUST_CHECK;
/* Whether the journal takes a write now: appends a line that changes
 * nothing. 0, or the write's error. */
int spool_probe(struct spool *sp) MUST_CHECK;

/*
 * The alert's id: the first 32 hex digits of the SHA-256 of its identity,
 * the same for the same alert in every process (what receivers dedupe
 * on, see X-Smtrail-Delivery-Id). -ENOENT: unknown or finished job.
 */
int spool_alert_id(const struct spool *sp, int64_t job,
    char out[SPOOL_ALERT_ID_SIZE]) MUST_CHECK;
/* The alert's JSON text (borrowed); NULL if unknown or nothing pending. */
const char *spool_alert_json(const struct spool *sp, int64_t job);
void spool_stats(const struct spool *sp, struct spool_stats *ret);

/*
 * When the journal is over 1 MiB and less than half of it is still needed,
 * rewrites it (new file, fsync, rename, fsync dir) keeping pending and
 * failed alerts and the identities still within the retention; this syncs
 * everything. 1: compacted, 0: nothing to do (cheap), < 0: error (the old
 * journal stays in use, unless the spool is then broken, see above).
 */
int spool_compact(struct spool *sp) MUST_CHECK;

/* Whether (rule id, eventID) was seen within the retention. */
bool spool_seen(const struct spool *sp, const char *rule_id,
    const char *event_id);

#endif
