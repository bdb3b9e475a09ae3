/*
 * window.h: the stateful rule kinds (threshold, distinct, first_seen,
 * expect; smtrail-rules(5)) and the readers of each secret, kept in a
 * store (store.h). The engine asks, for each hit of such a rule, whether
 * the rule fires now; this module counts, remembers and forgets.
 *
 * Time is event time, in Unix seconds: each match is counted at its own
 * eventTime; the caller's watermark (the newest eventTime seen, less the
 * `late` tolerance) says which windows can no longer change:
 *   threshold  N matches of a group key whose eventTimes lie less than
 *              `within` apart fire; the window then starts afresh. A match
 *              is counted where its window is still open (its eventTime
 *              plus `within` after the watermark), however late it comes.
 *   distinct   the same, counting distinct values of a field (each at its
 *              latest eventTime).
 *   first_seen a group key not seen before fires, except during the rule's
 *              first `learn` (from the first eventTime it matched). A key
 *              is remembered for at least `learn` after it was last seen.
 *   expect     a match opens an expectation for its group key, due at its
 *              eventTime plus `within`; a match of the rule's expect.match
 *              with the same group key and an eventTime from the opening
 *              one up to the deadline closes it, also when it came first.
 *              window_due() hands over the expectations whose deadline the
 *              watermark passed (the opening alert, as it was kept).
 * The same event counted twice (a redelivered file) is counted once: the
 * eventIDs of a window, and of the one that last fired, are kept.
 *
 * State is keyed by (rule id, the rule's fingerprint, group key): a rule
 * whose definition changed starts afresh; its old keys expire. Durable
 * with the store's sync, which the caller runs after the spool's, so an
 * alert is never forgotten by the window and lost by the spool.
 * Loop thread only; never prints (the caller logs what it returns).
 */
#ifndef SMTRAIL_WINDOW_H
#define SMTRAIL_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct buf;
struct json_object;
struct rule;
struct rules;
struct store;
struct window; /* opaque */

/* How many principals an alert names as the secret's recent readers, and
 * how long a read is remembered. */
#define WINDOW_MAX_READERS 5
#define WINDOW_READERS_KEEP_S (30 * 86400)
/* A distinct value is compared on at most this many bytes. */
#define WINDOW_MAX_VALUE 256

struct window_stats {
	uint64_t late;    /* matches whose window had closed: not counted */
	uint64_t fired;   /* threshold, distinct, first_seen alerts */
	uint64_t learned; /* first_seen keys seen while learning */
	uint64_t opened;  /* expectations opened */
	uint64_t closed;  /* ... and met */
	uint64_t overdue; /* ... and handed over by window_due() */
	uint64_t open;    /* expectations open now */
	uint64_t dropped; /* overdue of a rule since removed or changed */
	uint64_t readers; /* reads remembered (writes to the store) */
};

/* st is borrowed; the expectations it holds are loaded. late_s: the
 * tolerance (smtrail.yaml windows.late). */
int window_new(struct store *st, uint64_t late_s,
    struct window **ret) MUST_CHECK;
void window_free(struct window *w); /* NULL ok */

/*
 * Rule r (threshold, distinct or first_seen) matched rec, whose group key
 * is group, at eventTime t; watermark: the newest eventTime seen. 1: it
 * fires now, and extra holds the alert's added members (JSON text, no
 * braces: "count":N,"events":[...] and for distinct "values":[...]); 0: it
 * was counted (or was late, or a repeat); < 0: the store's error.
 */
int window_hit(struct window *w, const struct rule *r, const char *group,
    const char *event_id, struct json_object *rec, uint64_t t,
    uint64_t watermark, struct buf *extra) MUST_CHECK;

/* Rule r (expect) matched: opens an expectation that, when due, hands
 * over json (the opening alert, copied). 1 opened, 0 not (one is already
 * open for the key, or a follow-up already came), < 0 the store's. */
int window_expect(struct window *w, const struct rule *r, const char *group,
    const char *event_id, uint64_t t, const char *json, size_t len) MUST_CHECK;
/* rec met r's expect.match: 1 closed an open expectation, 0 none (the
 * follow-up is remembered for one that opens later), < 0. */
int window_close(struct window *w, const struct rule *r, const char *group,
    uint64_t t) MUST_CHECK;

/* An overdue expectation: its rule (as rs has it now), the opening
 * alert's text and eventID, and its deadline. < 0 stops window_due(),
 * which keeps this one for the next call. */
typedef int window_due_cb(const struct rule *r, const char *group,
    const char *event_id, const char *json, size_t len, uint64_t deadline,
    void *arg);
/* Hands over, oldest first, each expectation whose deadline is before
 * now (the caller's watermark less the tolerance), then forgets it; one
 * of a rule rs no longer has, or has changed, is forgotten silently.
 * How many were handed over, or < 0. */
int window_due(struct window *w, const struct rules *rs, uint64_t now,
    window_due_cb *cb, void *arg) MUST_CHECK;
/* The earliest deadline held (Unix s), or 0 when none. */
uint64_t window_next_deadline(const struct window *w);

/* rec is a read (a GetSecretValue, or a BatchGetSecretValue naming its
 * secrets, without error): remembers who read which secret at t. */
int window_read(struct window *w, struct json_object *rec,
    uint64_t t) MUST_CHECK;
/* Appends "readers":[{"principal":P,"lastRead":ISO},...] for rec's
 * secret (newest first; [] when none is known). */
int window_readers(struct window *w, struct json_object *rec,
    struct buf *out) MUST_CHECK;

void window_stats(const struct window *w, struct window_stats *ret);

#endif
