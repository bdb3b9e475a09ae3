/*
 * engine.c: see engine.h. The pieces:
 *
 *   engine_clock*  event time: the record's own, the watermark, and (in the
 *                  daemon) the wall clock since the watermark last moved
 *   engine_hit     one rule hit: the alert, the incident layer, the hook
 *   engine_emit    held groups coming out of the incident layer
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "alert.h"
#include "buf.h"
#include "clock.h"
#include "engine.h"
#include "incident.h"
#include "limits.h"
#include "log.h"
#include "metrics.h"
#include "record.h"
#include "rules.h"
#include "spool.h"

/* An eventTime this far ahead of the wall clock is not believed (the
 * daemon): one bad record must not make every window end at once. */
#define ENGINE_MAX_AHEAD_S (15 * 60)
/* "<eventID>#resolved": a resolve is an alert of its own. */
#define ENGINE_ID_SIZE (SPOOL_MAX_EVENT_ID + 16)

struct engine {
	const struct rules *rules;
	struct incident *inc; /* NULL: stateless */
	struct engine_hooks hooks;
	bool wall_clock;
	uint64_t (*wall_s)(void *arg);
	void *wall_arg;
	uint64_t watermark;    /* newest eventTime seen, Unix s; 0: none */
	uint64_t wall_at_mark; /* the wall clock when it last moved */
	uint64_t clock;        /* what the incident layer reads as now */

	/* The record being fed. */
	struct json_object *rec;
	struct log_ctx ctx;

	struct engine_stats st;
	struct metrics *metrics;
	struct metrics_counter *m_records;
	struct metrics_counter *m_throttled;
	struct metrics_counter *m_held;
	struct metrics_counter *m_dedup;
};

/* ---- time --------------------------------------------------------------- */

static uint64_t
engine_wall(const struct engine *e)
{
	return clock_wall_s(e->wall_s, e->wall_arg);
}

/* The engine's now: the watermark, run on by the wall clock (daemon). */
static uint64_t
engine_now(const struct engine *e)
{
	uint64_t wall;

	if (!e->wall_clock)
		return e->watermark;
	wall = engine_wall(e);
	if (e->watermark == 0)
		return wall;
	return e->watermark +
	    (wall > e->wall_at_mark ? wall - e->wall_at_mark : 0);
}

/* The incident layer's clock (incident_opts.clock_s). */
static uint64_t
engine_clock_cb(void *arg)
{
	const struct engine *e = arg;

	return e->clock;
}

/* The record's eventTime in Unix seconds; false when it has none usable. */
static bool
engine_event_time(struct json_object *rec, uint64_t *ret)
{
	const char *s = record_string(rec, "eventTime");
	struct tm tm;
	const char *end;
	time_t t;

	if (s == NULL)
		return false;
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end == NULL)
		return false;
	t = timegm(&tm);
	if (t <= 0)
		return false;
	*ret = (uint64_t)t;
	return true;
}

/* Moves the watermark for a record of time t (believed, in the daemon,
 * only up to a little ahead of the wall clock). */
static uint64_t
engine_advance(struct engine *e, uint64_t t)
{
	uint64_t wall;

	if (e->wall_clock) {
		wall = engine_wall(e);
		if (t > wall + ENGINE_MAX_AHEAD_S)
			t = wall;
	}
	if (t > e->watermark) {
		e->watermark = t;
		e->wall_at_mark = e->wall_clock ? engine_wall(e) : 0;
	}
	return t;
}

/* ---- held groups ----------------------------------------------------------
 */

static int
engine_emit(const char *rule_id, const char *group_key, const char *event_id,
    const char *json, size_t len, void *arg)
{
	struct engine *e = arg;
	struct log_ctx ctx = {0};
	char id[ENGINE_ID_SIZE];
	bool resolved = strstr(json, "\"status\":\"resolved\"") != NULL;
	int r;

	UNUSED(group_key);
	ctx.rule = rule_id;
	ctx.event_id = event_id;
	(void)snprintf(id, sizeof(id), "%s%s", event_id,
	    resolved ? "#resolved" : "");
	r = e->hooks.alert(rules_find(e->rules, rule_id), rule_id, id, json,
	    len, &ctx, e->hooks.arg);
	if (r == 0)
		e->st.alerts++;
	return r == -EEXIST ? 0 : r;
}

static int
engine_sync_cb(void *arg)
{
	struct engine *e = arg;

	return e->hooks.sync != NULL ? e->hooks.sync(e->hooks.arg) : 0;
}

/* Emits what is due at now. */
static int
engine_flush(struct engine *e, uint64_t now)
{
	int r;

	if (e->inc == NULL)
		return 0;
	e->clock = now;
	if (incident_next_due_s(e->inc) != 0)
		return 0;
	r = incident_flush_due(e->inc, engine_emit, engine_sync_cb, e);
	if (r > 0)
		log_info("%d grouped alert(s) emitted", r);
	return r;
}

int
engine_tick(struct engine *e)
{
	return engine_flush(e, engine_now(e));
}

long
engine_next_due_s(struct engine *e)
{
	if (e->inc == NULL)
		return -1;
	e->clock = engine_now(e);
	return incident_next_due_s(e->inc);
}

/*
 * The end of the input: each held group is emitted at its own due time,
 * in order, so the throttle window its emission starts is where it would
 * have been had more events come.
 */
int
engine_finish(struct engine *e)
{
	uint64_t at = e->watermark;
	long due;
	int n = 0;
	int r;

	if (e->inc == NULL)
		return 0;
	for (;;) {
		e->clock = at;
		due = incident_next_due_s(e->inc);
		if (due < 0)
			break;
		at += (uint64_t)due;
		r = engine_flush(e, at);
		if (r < 0)
			return r;
		if (r == 0)
			break; /* nothing came out: do not spin */
		n += r;
	}
	return n;
}

/* ---- one rule hit ---------------------------------------------------------
 */

/* What the incident layer said about a match or a resolve. */
static int
engine_verdict(struct engine *e, const struct rule *rule,
    const struct incident_out *out, const char *id, const struct buf *json,
    bool resolve)
{
	const struct log_ctx *ctx = &e->ctx;
	int r = 0;

	switch (out->verdict) {
	case INCIDENT_SEND:
		r = e->hooks.alert(rule, rule->id, id[0] != '\0' ? id : NULL,
		    out->alert_json != NULL ? out->alert_json : json->data,
		    out->alert_json != NULL ? out->len : json->len, ctx,
		    e->hooks.arg);
		if (r == 0)
			e->st.alerts++;
		return r == -EEXIST ? 0 : r;
	case INCIDENT_SUPPRESSED:
		if (!resolve) {
			e->st.throttled++;
			metrics_inc(e->m_throttled, 1);
			log_ctx_info(ctx, "throttled: counted, not sent");
		}
		return 0;
	case INCIDENT_HELD:
		e->st.held++;
		metrics_inc(e->m_held, 1);
		log_ctx_info(ctx, "held for group_wait");
		return 0;
	case INCIDENT_DUPLICATE:
		e->st.duplicates++;
		metrics_inc(e->m_dedup, 1);
		log_ctx_info(ctx, "duplicate match, not counted again");
		return 0;
	case INCIDENT_VERDICT_COUNT:
		break;
	}
	return r;
}

/* The alert of one hit: built, throttled, grouped or resolved, kept. */
static int
engine_alert(struct engine *e, const struct rule *rule, bool resolve)
{
	char id[ENGINE_ID_SIZE];
	struct incident_out out;
	struct alert a;
	struct buf json;
	int r;

	r = alert_build(rule, e->rec, &a);
	if (r < 0)
		return log_errno_at(LOG_LEVEL_ERR, &e->ctx, r,
		    "cannot build the alert");
	buf_init(&json, ALERT_MAX_JSON + 2 * (size_t)TRAIL_MAX_RECORD);
	r = alert_json(&a, true, &json);
	if (r == -E2BIG) /* never lose an alert for its raw record */
		r = alert_json(&a, false, &json);
	(void)snprintf(id, sizeof(id), "%s%s",
	    a.event_id != NULL ? a.event_id : "", resolve ? "#resolved" : "");
	memset(&out, 0, sizeof(out));
	if (r == 0 && e->inc == NULL) {
		out.verdict = INCIDENT_SEND; /* stateless: as it is */
	} else if (r == 0) {
		r = resolve ? incident_resolve(e->inc, rule, a.group,
				  a.event_id, json.data, json.len, &out)
			    : incident_trigger(e->inc, rule, a.group,
				  a.event_id, json.data, json.len, &out);
		if (r == 1) {
			log_ctx_warn(&e->ctx,
			    "incident state full: alert sent as is");
			r = 0;
		}
		if (r < 0)
			log_ctx_err(&e->ctx, "incident state: %s",
			    strerror(-r));
	}
	if (r == 0)
		r = engine_verdict(e, rule, &out, id, &json, resolve);
	incident_out_done(&out);
	buf_done(&json);
	alert_done(&a);
	return r;
}

static int
engine_hit(const struct rule *rule, enum rules_hit hit, void *arg)
{
	struct engine *e = arg;

	e->ctx.rule = rule->id;
	e->st.matches++;
	if (hit == RULES_HIT_RESOLVE && e->inc == NULL)
		return 0; /* stateless: no incidents to resolve */
	if (hit == RULES_HIT_MATCH) {
		struct metrics_counter *c =
		    metrics_counter(e->metrics, "smtrail_matches_total",
			"Records that matched a rule.", "rule", rule->id);

		metrics_inc(c, 1);
		if (e->ctx.event_id != NULL && e->hooks.seen != NULL &&
		    e->hooks.seen(rule->id, e->ctx.event_id, e->hooks.arg)) {
			e->st.duplicates++;
			metrics_inc(e->m_dedup, 1);
			log_ctx_info(&e->ctx,
			    "duplicate alert, not sent again");
			return 0;
		}
	}
	return engine_alert(e, rule, hit == RULES_HIT_RESOLVE);
}

int
engine_feed(struct engine *e, struct json_object *rec,
    const struct log_ctx *ctx)
{
	uint64_t t;
	int r;

	e->st.records++;
	metrics_inc(e->m_records, 1);
	if (engine_event_time(rec, &t)) {
		t = engine_advance(e, t);
	} else {
		t = engine_now(e);
	}
	/* What the watermark made due goes out first: a group holds the
	 * matches within group_wait of its first in event time, whether
	 * they come in one file or in several (run and replay agree). */
	r = engine_flush(e, e->watermark);
	if (r < 0)
		return r;
	memset(&e->ctx, 0, sizeof(e->ctx));
	if (ctx != NULL)
		e->ctx = *ctx;
	e->ctx.event_id = record_string(rec, "eventID");
	e->rec = rec;
	e->clock = t;
	r = rules_eval(e->rules, rec, engine_hit, e);
	e->rec = NULL;
	return r;
}

/* ---- the rest -------------------------------------------------------------
 */

int
engine_open(const struct rules *rs, const struct engine_opts *o,
    const struct engine_hooks *hooks, struct engine **ret, struct diag *reterr)
{
	struct incident_opts io;
	struct engine *e;
	int r;

	if (hooks == NULL || hooks->alert == NULL)
		return -EINVAL;
	e = malloc(sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	*e = (struct engine){.rules = rs, .hooks = *hooks};
	if (o != NULL) {
		e->wall_clock = o->wall_clock;
		e->wall_s = o->clock_s;
		e->wall_arg = o->clock_arg;
		e->metrics = o->metrics;
	}
	if (o != NULL && o->state_dir != NULL) {
		memset(&io, 0, sizeof(io));
		io.clock_s = engine_clock_cb;
		io.clock_arg = e;
		e->clock = engine_now(e);
		r = incident_open(o->state_dir, &io, &e->inc, reterr);
		if (r < 0) {
			free(e);
			return r;
		}
	}
	e->m_records = metrics_counter(e->metrics,
	    "smtrail_records_scanned_total",
	    "Secrets Manager records matched against the rules.", NULL, NULL);
	e->m_throttled =
	    metrics_counter(e->metrics, "smtrail_alerts_throttled_total",
		"Matches counted, not sent, inside a rule's throttle window.",
		NULL, NULL);
	e->m_held = metrics_counter(e->metrics, "smtrail_alerts_grouped_total",
	    "Matches held to be merged into one alert (group_wait).", NULL,
	    NULL);
	e->m_dedup =
	    metrics_counter(e->metrics, "smtrail_alerts_deduplicated_total",
		"Alerts not sent again: already in the spool's memory.", NULL,
		NULL);
	*ret = e;
	return 0;
}

void
engine_free(struct engine *e)
{
	if (e == NULL)
		return;
	incident_free(e->inc);
	free(e);
}

void
engine_set_rules(struct engine *e, const struct rules *rs)
{
	e->rules = rs;
}

int
engine_sync(struct engine *e)
{
	return e->inc != NULL ? incident_sync(e->inc) : 0;
}

int
engine_compact(struct engine *e)
{
	if (e->inc == NULL)
		return 0;
	e->clock = engine_now(e);
	return incident_compact(e->inc);
}

void
engine_stats(const struct engine *e, struct engine_stats *ret)
{
	*ret = e->st;
}
