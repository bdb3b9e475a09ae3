/*
 * incident.h: the state between "a rule matched" and "an alert is
 * spooled": throttling, grouping and resolving (smtrail-rules(5),
 * "throttle", "group_wait", "resolve_on"; DESIGN.md, "Rules").
 *
 * State is per (rule id, group key), the key "<rule id>\t<group key>", and
 * durable in one file, <dir>/incidents.journal (JSON lines, format at the
 * top of incident.c), held under an exclusive flock(2): a second process
 * gets -EBUSY. incident_open() replays it, so a restart changes nothing: a
 * throttle window still holds, an open incident can still be resolved, a
 * held group is still emitted. A torn last line is cut off and counted.
 *
 * Verdicts for a trigger match (incident_trigger):
 *   SEND        spool ret->alert_json (the input with "suppressed": N
 *               and "suppressed_since" added when N matches were throttled
 *               since the last alert, the latter the time the first of them
 *               was counted, ISO 8601 UTC; NULL: spool the input as is).
 *   SUPPRESSED  inside the key's throttle window: counted, not sent.
 *   HELD        kept in the key's group until group_wait has passed since
 *               the group's first match; incident_flush_due() emits it.
 *   DUPLICATE   this eventID was already counted or held for this rule:
 *               an SQS redelivery. Nothing to do.
 * A rule with no throttle, group_wait or resolve_on costs nothing: SEND,
 * ret->alert_json NULL, no lookup, no journal.
 *
 * Durability: SUPPRESSED, HELD and a SEND that changed state wrote a
 * journal line that is durable once incident_sync() returns >= 0. Call it
 * in the same pass as spool_sync(), before deleting the SQS message the
 * match came from: a held match exists nowhere else.
 *
 * Never twice, never lost: call spool_seen() first and skip an event the
 * spool already holds; this module dedups only what it holds back. An
 * event it answered SEND for is answered SEND again (same text) if it
 * comes back, since a crash may have kept this journal's line and lost the
 * spool's: the spool drops it if it has it. The same goes for a resolve.
 * Group emission is ordered: the emit callback spools, the sync callback
 * makes that durable, and only then is the group closed in the journal;
 * after a crash in between, the group is emitted again (the spool drops
 * it as a duplicate; the callback must take -EEXIST as done).
 *
 * Limits (each with its why at its #define below): INCIDENT_MAX_KEYS keys;
 * beyond, keys holding only a throttle window are evicted, least recently
 * matched first (the next match for an evicted key pages early: an extra
 * page, not a lost one); keys with an open group or incident never are
 * (eviction writes a line per key: a restart keeps it). When nothing
 * can be evicted, or held alerts would pass INCIDENT_MAX_HELD_BYTES, a
 * match is not tracked: SEND as is, return 1 (log it; counted in stats).
 * A group lists at most INCIDENT_MAX_EVENTS eventIDs and is emitted at the
 * next incident_flush_due() once it has that many; later members are
 * counted in "count" only. At most INCIDENT_MAX_IDS eventIDs are
 * remembered for dedup, each for INCIDENT_REMEMBER_S (a held group's
 * members for its whole life). A key with no group or open incident is
 * forgotten once its window is over and it has not matched for
 * INCIDENT_REMEMBER_S; an open incident after INCIDENT_MAX_OPEN_S without a
 * trigger. Rules are known by id only: state for a removed rule ages out,
 * and its held groups are still emitted. A window's end, and what a
 * group's emission does, are fixed when they start: a reload that changes
 * a rule's options applies from the next ones (a match joins a group
 * already held even if group_wait was removed). The journal only grows
 * until incident_compact() rewrites it: call that from a timer.
 *
 * Errors: -EINVAL bad arguments or alert text (not one JSON object on one
 * line); -E2BIG alert text over INCIDENT_MAX_ALERT (pass alert_json()
 * without the record); -errno from write(2)/fdatasync(2): after a failed
 * sync, or a failed write that could not be cut back off, every call fails
 * with that code (restart: the journal on disk is replayed). -EBUSY from a
 * call made inside incident_flush_due()'s callbacks.
 *
 * Time is the wall clock in Unix seconds (it must survive a reboot);
 * durations are rounded up to whole seconds. Loop thread only; copies what
 * it is given; disk I/O blocks (one write(2) per state change, one
 * fdatasync(2) per sync; compaction rewrites the file). Never prints.
 */
#ifndef SMTRAIL_INCIDENT_H
#define SMTRAIL_INCIDENT_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct diag;
struct rule;
struct incident; /* opaque */

/* Keys tracked at once: about 300 bytes each, plus their eventIDs. */
#define INCIDENT_MAX_KEYS 100000
/* EventIDs remembered for dedup, all keys together (about 150 B each). */
#define INCIDENT_MAX_IDS 1000000
/* EventIDs listed in one emitted group; "count" goes on beyond. */
#define INCIDENT_MAX_EVENTS 1000
/* Alert text held in open groups, all together. */
#define INCIDENT_MAX_HELD_BYTES (256u << 20)
/* One alert's JSON text, its record included (spool lines are < 16 MiB). */
#define INCIDENT_MAX_ALERT (12u << 20)
/* Longest journal line: an alert plus its key, eventIDs and fields. */
#define INCIDENT_MAX_LINE (16u << 20)
/* How long eventIDs and idle keys are remembered: past any SQS
 * redelivery (visibility timeouts are at most 12 h). */
#define INCIDENT_REMEMBER_S (24 * 3600)
/* An incident never resolved is forgotten this long after its last
 * trigger. */
#define INCIDENT_MAX_OPEN_S (90 * 24 * 3600)

enum incident_verdict {
	INCIDENT_SEND,
	INCIDENT_SUPPRESSED,
	INCIDENT_HELD,
	INCIDENT_DUPLICATE,
	INCIDENT_VERDICT_COUNT
};

struct incident_opts {
	/* Tests: the wall clock in Unix seconds; NULL: time(2). */
	uint64_t (*clock_s)(void *arg);
	void *clock_arg;
	/* incident_compact() rewrites only a journal at least this big;
	 * 0: 1 MiB. */
	uint64_t compact_min_bytes;
};

struct incident_out {
	enum incident_verdict verdict;
	/* SEND: the JSON to spool (malloc'd), or NULL: the input as is.
	 * NULL for the other verdicts. */
	char *alert_json;
	size_t len;
};

struct incident_stats {
	uint64_t open_incidents; /* triggered, not yet resolved */
	uint64_t open_groups;
	uint64_t held_matches;     /* matches in open groups */
	uint64_t suppressed_total; /* SUPPRESSED verdicts, since open */
	uint64_t keys;
	uint64_t ids;       /* eventIDs remembered */
	uint64_t untracked; /* matches sent as is for lack of room */
	uint64_t evicted;   /* keys evicted for room */
	uint64_t torn_tail; /* torn last lines cut off at open (0 or 1) */
	uint64_t journal_bytes;
};

/*
 * Emits one alert of a group: rule id, group key, the eventID that is its
 * identity in the spool (the group's first match, or the resolving event;
 * "sha256:<hex>" for a record without one) and the alert JSON, all
 * borrowed for the call. Return 0 once it is spooled (an -EEXIST
 * duplicate counts as spooled); a negative return keeps the group, and
 * the later due ones, for the next call.
 */
typedef int incident_emit_cb(const char *rule_id, const char *group_key,
    const char *event_id, const char *alert_json, size_t len, void *arg);
/* Makes what emit spooled durable (spool_sync()); negative: it is not. */
typedef int incident_sync_cb(void *arg);

const char *incident_verdict_str(enum incident_verdict v);

/*
 * o may be NULL. Creates dir/incidents.journal (0600) if absent; dir must
 * exist. -EBUSY: another process holds it; -EBADMSG: a malformed line
 * other than a torn last one (reterr: the journal, its line, the byte
 * offset); -errno from the system otherwise.
 */
int incident_open(const char *dir, const struct incident_opts *o,
    struct incident **ret, struct diag *reterr) MUST_CHECK;
void incident_free(struct incident *inc); /* NULL ok; does not sync */

/*
 * A match of r's "match" for a record with this group key and eventID
 * (NULL or empty: the record has none; the SHA-256 of alert_json stands
 * in); alert_json is alert_json(a, true) text, len bytes. 0, or 1 when
 * the match could not be tracked (SEND as is, see above); ret is set on
 * success only; release it with incident_out_done().
 */
int incident_trigger(struct incident *inc, const struct rule *r,
    const char *group_key, const char *event_id, const char *alert_json,
    size_t len, struct incident_out *ret) MUST_CHECK;

/*
 * A match of r's "resolve_on" (alert_json: the resolving record's alert).
 * An open incident for the key: SEND the alert with "status":"resolved"
 * added (and "suppressed" fields for matches throttled since the last
 * alert); the incident is closed and its throttle window ended, so the
 * next trigger pages. A group still held for the key (of a rule with
 * resolve_on): HELD, the group made due now, and the resolve emitted right
 * after the group's alert (triggers arriving until then join the group).
 * Otherwise SUPPRESSED: nothing to do (not counted). A redelivered
 * resolving event: DUPLICATE, or SEND again if it was sent. 0 on success,
 * 1 if the resolve could not be held for lack of room (SEND now, out of
 * order); ret as for incident_trigger().
 */
int incident_resolve(struct incident *inc, const struct rule *r,
    const char *group_key, const char *event_id, const char *alert_json,
    size_t len, struct incident_out *ret) MUST_CHECK;

/*
 * Emits the groups due (group_wait passed, or full): for each, emit() with
 * the first match's alert JSON plus "count" (matches held) and "events"
 * (their eventIDs, in order), and "suppressed" fields as for SEND; then,
 * if a resolve was held with it, emit() with that ("status":"resolved").
 * Then sync() once (NULL: emit() made them durable itself), and only then
 * the groups are closed: throttle window started, incident opened for
 * rules with resolve_on. Neither callback may call incident_*(). A
 * negative return from emit() stops the pass: that group and the due ones
 * not yet emitted stay for the next call. Returns the number of groups
 * closed; or, when none was, emit()'s error; or a negative errno from
 * sync() or the journal (the groups stay: emitting them again is safe).
 */
int incident_flush_due(struct incident *inc, incident_emit_cb *emit,
    incident_sync_cb *sync, void *arg) MUST_CHECK;

/* Seconds until the next group is due (0: now), or -1 if none. */
long incident_next_due_s(const struct incident *inc);

/* fdatasync(2) if anything was written since the last sync; >= 0: the
 * number of journal lines made durable. */
int incident_sync(struct incident *inc) MUST_CHECK;

/*
 * Forgets what has expired (idle keys, old eventIDs, incidents past
 * INCIDENT_MAX_OPEN_S), in O(state); then, when the journal is at least
 * compact_min_bytes and at most half of it is still needed, rewrites it
 * (new file, fsync, rename, fsync dir), which syncs everything. 1:
 * rewritten, 0: not, < 0: error (the old journal stays in use unless the
 * journal is then broken, see above). Call it from a timer.
 */
int incident_compact(struct incident *inc) MUST_CHECK;

void incident_stats(const struct incident *inc, struct incident_stats *ret);
void incident_out_done(struct incident_out *o); /* NULL ok */

#endif
