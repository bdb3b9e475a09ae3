/*
 * deliver.h: alerts from the spool to their destinations (DESIGN.md,
 * "Sinks": the one delivery path).
 *
 * One delivery per (spooled alert, destination), in spool order, at most
 * DELIVER_MAX_SENDS in flight per destination. A failed attempt is retried
 * with backoff (exponential from 1 s with jitter, capped at
 * DELIVER_BACKOFF_CAP_MS; a longer Retry-After is honoured) until the
 * destination's deadline, then given up: the alert stays in the spool as
 * failed (with the sink's last answer), counted and logged at err, until
 * retried (deliver_queue_job()) or purged. A permanent refusal (4xx, an alert
 * the sink cannot render) is given up at once. When a destination answers
 * 2xx again, its deliveries waiting out a backoff go at once, so a
 * recovered receiver drains its backlog in seconds, not after the longest
 * backoff.
 *
 * Every attempt of one alert to one destination carries the same delivery
 * id, "<alert id>:<destination>" (spool_alert_id()), in this process and
 * after a restart: a delivery in flight when the process died is sent
 * again, and the receiver can tell (webhooks: X-Smtrail-Delivery-Id).
 *
 * Outcomes go to the spool (spool_mark()); one the spool cannot write yet
 * is held there (spool.h) and never sent again by this process.
 *
 * Destinations: deliver_configure() builds a sink per configured
 * destination; a later call (a reload) builds a new set, and deliveries
 * already queued keep the sink they were queued for until they end. An
 * alert for a destination no longer configured is marked failed.
 *
 * Part of the daemon (it logs each outcome, with the rule and eventID);
 * also used by the command line. Loop thread only. Callbacks never run
 * from inside a deliver_*() call.
 */
#ifndef SMTRAIL_DELIVER_H
#define SMTRAIL_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct cfg;
struct cfg_dest;
struct diag;
struct event_base;
struct http;
struct metrics;
struct rule;
struct sink;
struct sink_outcome;
struct spool;
struct deliver; /* opaque */

/* In flight per destination: enough to hide a receiver's latency. */
#define DELIVER_MAX_SENDS 4
/* The longest wait between two attempts (unless Retry-After asks more). */
#define DELIVER_BACKOFF_CAP_MS 60000u

struct deliver_hooks {
	/*
	 * A delivery ended: delivered (final, o->result SINK_DELIVERED) or
	 * given up (final), or an attempt failed and will be retried (not
	 * final). NULL: nothing to tell.
	 */
	void (*outcome)(int64_t job, const char *dest,
	    const struct sink_outcome *o, bool final, void *arg);
	/* Something finished: a caller waiting for room or for idleness
	 * looks again. NULL: nothing. */
	void (*settled)(void *arg);
	void *arg;
};

/* metrics may be NULL. Borrowed until deliver_free(): base, http, spool,
 * metrics. */
int deliver_new(struct event_base *base, struct http *http, struct spool *sp,
    struct metrics *metrics, const struct deliver_hooks *hooks,
    struct deliver **ret) MUST_CHECK;
/* Cancels what is in flight (it stays pending in the spool). NULL ok. */
void deliver_free(struct deliver *dl);

/*
 * The destinations of c (borrowed only for the call). -EINVAL (reterr
 * says which destination and why) leaves the current set in place.
 */
int deliver_configure(struct deliver *dl, const struct cfg *c,
    struct diag *reterr) MUST_CHECK;

/* The sink for one configured destination (test-destination, replay). */
int deliver_sink_new(const struct cfg_dest *cd, struct event_base *base,
    struct http *http, struct sink **ret, struct diag *reterr) MUST_CHECK;

/*
 * Spools an alert (rule id, identity's eventID or NULL, its JSON text)
 * for its destinations: cfg's route for rule (NULL: a rule a reload
 * removed, default_destinations), or, when cfg is NULL or routes it
 * nowhere, the one destination fallback (NULL: none). Returns the job id
 * (delivered after the next spool_sync() and deliver_queue()), -EEXIST
 * for a duplicate, -ENOENT when it has nowhere to go, or the spool's
 * error. *ret_n (may be NULL): how many destinations.
 */
int64_t deliver_spool(struct spool *sp, const struct cfg *cfg,
    const struct rule *rule, const char *rule_id, const char *event_id,
    const char *json, size_t len, const char *fallback,
    size_t *ret_n) MUST_CHECK;

/* Queues every pending (alert, destination) from job id first on (1:
 * all, at startup; else the first job spooled since the last sync). */
int deliver_queue(struct deliver *dl, int64_t first) MUST_CHECK;

/*
 * Queues one (alert, destination) made pending again (spool_retry(): a
 * `smtrail spool retry`, or a reload that changed the destination); it
 * goes through the same path, with the same delivery id, a fresh
 * deadline and backoff. The caller queues only a pair it made pending
 * itself, so it is never queued twice. -ENOENT: the job is not pending.
 */
int deliver_queue_job(struct deliver *dl, int64_t job,
    const char *dest) MUST_CHECK;

/*
 * Failed deliveries whose destination's definition (deliver_configure())
 * is not the one they failed with, as the spool recorded it (a URL fixed
 * or a key changed while the daemon was stopped), become pending again
 * (spool_retry()); failures recorded without it stay. Returns how many;
 * deliver_queue() then sends them. For the start, before deliver_queue().
 */
int deliver_retry_changed(struct deliver *dl) MUST_CHECK;

/* Starts nothing new (shutdown): queued deliveries stay pending in the
 * spool for the next start. */
void deliver_stop(struct deliver *dl);

struct deliver_stats {
	size_t in_flight; /* attempts on the wire */
	size_t queued;    /* every delivery not yet ended, in_flight too */
	/* Monotonic µs since when every configured destination that has
	 * been tried in this process has seen only failures (its last
	 * success is older, or there was none); kept across a reload for a
	 * destination of the same name. 0: one of them works, or none was
	 * tried. */
	uint64_t failing_since_us;
};
void deliver_stats(const struct deliver *dl, struct deliver_stats *ret);

#endif
