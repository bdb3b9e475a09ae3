/*
 * engine.h: records in, alerts out (DESIGN.md, "Engine"): the one place
 * where rules meet records, shared by `run`, `replay` and `replay
 * --deliver`, so that a rule behaves the same everywhere.
 *
 * engine_feed() matches a record against the rules (rules_eval(), the only
 * matcher) and, for each rule it hits, builds the alert (alert.h); a
 * stateful rule's window (window.h: threshold, distinct, first_seen,
 * expect) says whether it fires now and what it adds ("count", "events",
 * "values", "readers"); the alert then passes through the incident layer
 * (incident.h: throttle, group_wait, resolve_on). Both keep their state in
 * state_dir (the windows' in a store, store.h); what comes out goes to
 * hooks.alert (the caller spools or prints it). An expectation that falls
 * due comes out the same way, with its opening alert. An alert's identity is
 * (rule id, eventID), "#resolved" appended for a resolve: hooks.seen tells
 * the engine which identities are already kept (a redelivered event).
 *
 * Time is event time. Each record is judged at its own eventTime (a
 * throttle window, a group's first match); the engine's clock, which says
 * when held groups are due, is the newest eventTime seen ("the
 * watermark"): before a record is matched, the groups the watermark made
 * due are emitted, so a group holds the matches within group_wait of its
 * first one in event time however the events are cut into files. With
 * wall_clock set (the daemon), the clock also runs on with the wall clock
 * from the moment the watermark last moved (engine_tick() from a timer),
 * so a group is due group_wait after its last newer event was seen even
 * when no other event comes; without it (replay), only events move it,
 * and engine_finish() ends the input. A record without a usable eventTime
 * is judged at the clock. Expectations fall due by the watermark less the
 * `late` tolerance (the clock in the daemon only once engine_caught_up());
 * at engine_finish(), by the watermark itself.
 *
 * Stateless (no state_dir): every match is an alert as it is, resolves
 * are not looked for, nothing is kept: today's raw `replay --no-state`.
 *
 * Durability: what the incident layer wrote is durable once
 * engine_sync() returns >= 0; call it in the same pass as the caller's
 * own sync (spool_sync), before acknowledging the input. Held groups are
 * emitted in order: alert(), then hooks.sync (the caller makes them
 * durable), then the groups are closed.
 *
 * Loop thread only; logs what it decides at info (throttled, held,
 * duplicate), like the rest of the daemon; never prints.
 */
#ifndef SMTRAIL_ENGINE_H
#define SMTRAIL_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct cfg_account;
struct diag;
struct json_object;
struct log_ctx;
struct metrics;
struct rule;
struct rules;
struct engine; /* opaque */

struct engine_hooks {
	/*
	 * An alert to keep: rule (NULL when a reload removed the rule of a
	 * held group), its id, the identity's eventID part (NULL: the record
	 * had none; the text is the identity), the alert's JSON text with
	 * "record" (borrowed for the call). 0 or -EEXIST (a duplicate,
	 * fine); another negative code stops the feed and is returned.
	 */
	int (*alert)(const struct rule *r, const char *rule_id,
	    const char *event_id, const char *json, size_t len,
	    const struct log_ctx *ctx, void *arg);
	/* Whether (rule id, eventID) is already kept; NULL: never. */
	bool (*seen)(const char *rule_id, const char *event_id, void *arg);
	/* Makes what alert() kept durable (before held groups close);
	 * NULL: alert() did. */
	int (*sync)(void *arg);
	/* The rules have seen rec (engine_feed()), its alerts are out; its
	 * derived fields (accountAlias) still read as the rules read them.
	 * < 0 is returned by engine_feed(). NULL: none. */
	int (*fed)(struct json_object *rec, void *arg);
	void *arg;
};

struct engine_opts {
	const char *state_dir; /* NULL: stateless */
	uint64_t late_s;       /* windows.late (o NULL: the default) */
	uint64_t max_keys;     /* the windows' state; 0: store.h's */
	uint64_t max_bytes;
	/* Account aliases (the accountAlias field), borrowed; a reload
	 * passes new ones to engine_set_rules(). */
	const struct cfg_account *accounts;
	size_t n_accounts;
	bool wall_clock;         /* the daemon: the clock runs with wall time */
	struct metrics *metrics; /* NULL: none */
	/* Tests: the wall clock in Unix seconds; NULL: time(2). */
	uint64_t (*clock_s)(void *arg);
	void *clock_arg;
};

/* rs and o's strings are borrowed; -EBUSY: another process holds the
 * state; -EBADMSG: the state is malformed (reterr says where). */
int engine_open(const struct rules *rs, const struct engine_opts *o,
    const struct engine_hooks *hooks, struct engine **ret,
    struct diag *reterr) MUST_CHECK;
void engine_free(struct engine *e); /* NULL ok; does not sync */
/* A reload: rules by id keep their state (held groups of a removed rule
 * are still emitted; a rule whose definition changed starts its window
 * afresh). accounts as in engine_opts. */
int engine_set_rules(struct engine *e, const struct rules *rs,
    const struct cfg_account *accounts, size_t n_accounts) MUST_CHECK;

/* One Secrets Manager record (borrowed). ctx (message, object) may be
 * NULL. < 0: hooks.alert's error, or the state's (-ENOSPC, -EIO...). */
int engine_feed(struct engine *e, struct json_object *rec,
    const struct log_ctx *ctx) MUST_CHECK;
/* Emits the held groups due now (wall_clock) or at the watermark;
 * returns how many were emitted, or < 0 (they stay, for the next tick). */
int engine_tick(struct engine *e) MUST_CHECK;
/* Seconds until the next group or expectation is due (0: now), or -1 if
 * none. */
long engine_next_due_s(struct engine *e);
/* The daemon drained its input once (a receive came back empty): from
 * now on the wall clock runs the expectations' clock on too. Before, only
 * events move it, so a backlog does not make them due early. */
void engine_caught_up(struct engine *e);
/* The input ended (replay): every held group is emitted. */
int engine_finish(struct engine *e) MUST_CHECK;

int engine_sync(struct engine *e) MUST_CHECK;    /* the state, durable */
int engine_compact(struct engine *e) MUST_CHECK; /* from a timer */

struct engine_stats {
	uint64_t records; /* fed */
	uint64_t matches; /* rule hits, resolves included */
	uint64_t alerts;  /* passed to hooks.alert and kept */
	uint64_t throttled;
	uint64_t held;
	uint64_t duplicates;
};
void engine_stats(const struct engine *e, struct engine_stats *ret);

#endif
