/*
 * lookup.h: the lookup source (DESIGN.md, "Sources"): CloudTrail's
 * LookupEvents polled for the Secrets Manager event source, per region of
 * lookup.regions, on the daemon's loop beside (or instead of) the intake.
 *
 * Each region polls a window [start, end] of event time: end is the wall
 * clock when the window begins; start is the region's checkpoint less
 * lookup.overlap (CloudTrail makes events visible minutes late), or, with
 * no checkpoint yet, now less lookup.since; never further back than
 * LookupEvents' 90 days. It follows NextToken through every page of the
 * window, collecting the events (at most LOOKUP_MAX_WINDOW: past that the
 * window is halved and read again), then hands the records to
 * hooks.record oldest first -- the order the SQS path sees them, so that
 * windows, throttles and groups behave the same -- and calls hooks.fed.
 * The caller makes what the records gave durable and calls
 * lookup_synced(): only then is the region's checkpoint (the window's end
 * and its newest event time) written to state_dir/lookup-<region>.json
 * (written whole, fsync'd, renamed), and the next window is due
 * lookup.interval after this one began. A restart resumes from the file:
 * the overlap's events come again and the spool's (rule, eventID)
 * identity and the windows' eventIDs drop the repeats.
 *
 * Rate: a region has one request in flight at most, and sends the next
 * LOOKUP_SPACING_MS after the last was answered (and after the start, in
 * case a previous process has just sent one): under LookupEvents' 2 per
 * second per account and region whatever the network does to their
 * spacing, retries included: aws.h does not retry these
 * calls, this module does, through the same spacing, with backoff
 * (ThrottlingException, 5xx, network: the same page again; an
 * InvalidNextTokenException: the window from its first page;
 * InvalidTimeRangeException: the start moved inside the 90 days).
 *
 * Counted in smtrail_lookup_requests_total{region,result} (ok, throttled,
 * error), smtrail_lookup_last_success_timestamp_seconds{region} and
 * smtrail_lookup_checkpoint_timestamp_seconds{region}.
 *
 * Health (lookup_health): unhealthy when a region's requests have failed
 * for longer than 3 x lookup.interval (at least LOOKUP_FAILING_MIN_S).
 *
 * Part of the daemon: it logs (a line per window at info) and counts in
 * metrics. Loop thread only; hooks are never called from inside a
 * lookup_*() call.
 */
#ifndef SMTRAIL_LOOKUP_H
#define SMTRAIL_LOOKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct aws;
struct buf;
struct cfg;
struct diag;
struct event_base;
struct json_object;
struct log_ctx;
struct metrics;
struct lookup; /* opaque */

/* One request per region at most this often: 2 per second, with room. */
#define LOOKUP_SPACING_MS 550
/* Events a window may collect before it is halved (200 pages). */
#define LOOKUP_MAX_WINDOW 10000
#define LOOKUP_FAILING_MIN_S 120
#define LOOKUP_EVENT_SOURCE "secretsmanager.amazonaws.com"

struct lookup_hooks {
	/* A record (borrowed for the call); < 0 fails the window (it is
	 * read again after a backoff): the spool is full or failing. */
	int (*record)(struct json_object *rec, const struct log_ctx *ctx,
	    void *arg);
	/* A window's records are in: make them durable, then call
	 * lookup_synced() (from the loop). */
	void (*fed)(void *arg);
	/* Why polling must wait (a short phrase), or NULL. */
	const char *(*pause)(void *arg);
	/* A window was read and checkpointed; caught_up: every region has
	 * read up to the present once. NULL: nothing. */
	void (*polled)(bool caught_up, void *arg);
	void *arg;
};

struct lookup_stats {
	size_t regions;
	size_t failing;         /* regions whose last request failed */
	const char *last_error; /* a short phrase, "" if none */
};

/* Everything borrowed until lookup_free() (cfg until lookup_set_cfg()).
 * Reads the checkpoints: -EBADMSG (reterr names the file) when one is
 * malformed, -ENOMEM. */
int lookup_new(struct event_base *base, struct aws *aws,
    struct metrics *metrics, const struct cfg *cfg,
    const struct lookup_hooks *hooks, struct lookup **ret,
    struct diag *reterr) MUST_CHECK;
void lookup_free(struct lookup *lk); /* cancels calls; NULL ok */
/* A reload: interval, since and overlap; the regions are lookup_new()'s. */
void lookup_set_cfg(struct lookup *lk, const struct cfg *cfg);
void lookup_start(struct lookup *lk);
/* What hooks.record took so far is durable: checkpoints move on. */
void lookup_synced(struct lookup *lk);
/* Shutdown: no new requests; calls in flight are cancelled. */
void lookup_stop(struct lookup *lk);
/* Nothing fed and not yet checkpointed. NULL: true. */
bool lookup_idle(const struct lookup *lk);
void lookup_stats(const struct lookup *lk, struct lookup_stats *ret);
/* Appends a line per region; < 0 when one is unhealthy. NULL: 0. */
int lookup_health(const struct lookup *lk, struct buf *out) MUST_CHECK;

#endif
