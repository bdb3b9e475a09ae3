/*
 * engine.c: see engine.h. The pieces:
 *
 *   engine_clock*  event time: the record's own, the watermark, and (in the
 *                  daemon) the wall clock since the watermark last moved
 *   engine_hit     one rule hit: the alert, the window of a stateful rule
 *                  (window.h), the incident layer, the hook
 *   engine_emit    held groups coming out of the incident layer, and
 *                  overdue expectations coming out of the windows
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "alert.h"
#include "buf.h"
#include "cfg.h"
#include "clock.h"
#include "engine.h"
#include "incident.h"
#include "bounds.h"
#include "log.h"
#include "metrics.h"
#include "record.h"
#include "rules.h"
#include "spool.h"
#include "store.h"
#include "window.h"

/* An eventTime this far ahead of the wall clock is not believed (the
 * daemon): one bad record must not make every window end at once. */
#define ENGINE_MAX_AHEAD_S (15 * 60)
/* "<eventID>#resolved": a resolve is an alert of its own. */
#define ENGINE_ID_SIZE (SPOOL_MAX_EVENT_ID + 16)

struct engine {
	const struct rules *rules;
	struct incident *inc; /* NULL: stateless */
	struct store *store;  /* the windows' (NULL: stateless) */
	struct window *win;
	uint64_t late_s;
	bool caught_up;     /* wall_clock: the input was drained once */
	bool track_readers; /* a rule wants a secret's readers */
	/* Account aliases as JSON strings (the accountAlias field). */
	struct engine_alias {
		const char *id;
		struct json_object *alias;
	} * aliases;
	size_t n_aliases;
	struct record_env env;
	struct engine_hooks hooks;
	bool wall_clock;
	uint64_t (*wall_s)(void *arg);
	void *wall_arg;
	uint64_t watermark;    /* newest eventTime seen, Unix s; 0: none */
	uint64_t wall_at_mark; /* the wall clock when it last moved */
	uint64_t kept_mark;    /* the watermark as the state has it */
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
	struct metrics_counter *m_late;
	struct metrics_counter *m_evicted;
	struct metrics_gauge *m_keys;
	struct metrics_gauge *m_open;
	struct window_stats last_win;
	uint64_t last_evicted;
	uint64_t evicted_logged;  /* of them, said in the log */
	uint64_t evict_log_at_us; /* when (at most once a minute) */
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
	time_t t;

	if (s == NULL || clock_parse_iso8601(s, &t) < 0 || t <= 0)
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

/* The clock expectations fall due by: the watermark less the tolerance;
 * in the daemon, once it has caught up with its input, the watermark run
 * on by the wall clock: a backlog must not make them due early. */
static uint64_t
engine_expect_now(const struct engine *e)
{
	uint64_t now =
	    e->wall_clock && e->caught_up ? engine_now(e) : e->watermark;

	return now > e->late_s ? now - e->late_s : 0;
}

static void engine_metrics(struct engine *e);
static int engine_verdict(struct engine *e, const struct rule *rule,
    const struct log_ctx *ctx, const struct incident_out *out, const char *id,
    const char *json, size_t len, bool resolve);

/* An overdue expectation: its opening alert goes out as any alert. */
static int
engine_overdue(const struct rule *rule, const char *group, const char *event_id,
    const char *json, size_t len, uint64_t deadline, void *arg)
{
	struct engine *e = arg;
	struct log_ctx ctx = {.rule = rule->id, .event_id = event_id};
	struct incident_out out;
	int r;

	log_ctx_info(&ctx, "expectation overdue: no follow-up by its deadline");
	if (event_id != NULL && e->hooks.seen != NULL &&
	    e->hooks.seen(rule->id, event_id, e->hooks.arg)) {
		e->st.duplicates++;
		metrics_inc(e->m_dedup, 1);
		return 0;
	}
	e->clock = deadline;
	memset(&out, 0, sizeof(out));
	r = incident_trigger(e->inc, rule, group, event_id, json, len, &out);
	if (r == 1) {
		out.verdict = INCIDENT_SEND;
		r = 0;
	}
	if (r == 0)
		r = engine_verdict(e, rule, &ctx, &out,
		    event_id != NULL ? event_id : "", json, len, false);
	incident_out_done(&out);
	return r;
}

/* Emits the groups due at now and the expectations overdue at due. */
static int
engine_flush(struct engine *e, uint64_t now, uint64_t due)
{
	int r = 0, n;

	if (e->inc == NULL)
		return 0;
	e->clock = now;
	if (incident_next_due_s(e->inc) == 0) {
		r = incident_flush_due(e->inc, engine_emit, engine_sync_cb, e);
		if (r > 0)
			log_info("%d grouped alert(s) emitted", r);
	}
	if (r >= 0 && e->win != NULL && window_next_deadline(e->win) != 0 &&
	    window_next_deadline(e->win) <= due) {
		n = window_due(e->win, e->rules, due, engine_overdue, e);
		r = n < 0 ? n : r + n;
		e->clock = now;
	}
	engine_metrics(e);
	return r;
}

int
engine_tick(struct engine *e)
{
	return engine_flush(e, engine_now(e), engine_expect_now(e));
}

long
engine_next_due_s(struct engine *e)
{
	uint64_t deadline, now;
	long due, s;

	if (e->inc == NULL)
		return -1;
	now = engine_now(e);
	e->clock = now;
	due = incident_next_due_s(e->inc);
	deadline = e->win != NULL ? window_next_deadline(e->win) : 0;
	if (deadline != 0 && e->wall_clock && e->caught_up) {
		s = deadline + e->late_s > now
		    ? (long)(deadline + e->late_s - now)
		    : 0;
		if (due < 0 || s < due)
			due = s;
	}
	return due;
}

void
engine_caught_up(struct engine *e)
{
	e->caught_up = true;
}

/*
 * The end of the input: each held group is emitted at its own due time,
 * in order, so the throttle window its emission starts is where it would
 * have been had more events come; then every expectation whose deadline
 * the input passed is overdue (no follow-up can come any more).
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
		r = engine_flush(e, at, 0);
		if (r < 0)
			return r;
		if (r == 0)
			break; /* nothing came out: do not spin */
		n += r;
	}
	r = engine_flush(e, at, e->watermark);
	return r < 0 ? r : n + r;
}

/* ---- one rule hit ---------------------------------------------------------
 */

/* What the incident layer said about a match or a resolve. */
static int
engine_verdict(struct engine *e, const struct rule *rule,
    const struct log_ctx *ctx, const struct incident_out *out, const char *id,
    const char *json, size_t len, bool resolve)
{
	int r = 0;

	switch (out->verdict) {
	case INCIDENT_SEND:
		r = e->hooks.alert(rule, rule->id, id[0] != '\0' ? id : NULL,
		    out->alert_json != NULL ? out->alert_json : json,
		    out->alert_json != NULL ? out->len : len, ctx,
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

/*
 * What a stateful rule says of a match (window.h): 1 alert now (extra
 * holds what it adds), 0 counted (or opened, for expect: json is kept
 * until it is due or met). Event rules, resolves and the stateless engine
 * alert on every match.
 */
static int
engine_window(struct engine *e, const struct rule *rule, const struct alert *a,
    struct buf *extra)
{
	int r;

	if (e->win == NULL || rule->kind == RULES_KIND_EVENT ||
	    rule->kind == RULES_KIND_EXPECT)
		return 1;
	r = window_hit(e->win, rule, a->group, a->event_id, e->rec, e->clock,
	    e->watermark, extra);
	if (r == 0)
		log_ctx_debug(&e->ctx, "counted for its %s window",
		    rules_kind_str(rule->kind));
	return r;
}

static int
engine_expect(struct engine *e, const struct rule *rule, const struct alert *a,
    const struct buf *json)
{
	int r = window_expect(e->win, rule, a->group, a->event_id, e->clock,
	    json->data, json->len);

	if (r == 1)
		log_ctx_info(&e->ctx, "expectation opened for '%s'", a->group);
	return r < 0 ? r : 0;
}

/* The alert of one hit: built, counted, throttled, grouped or resolved,
 * kept. */
static int
engine_alert(struct engine *e, const struct rule *rule, bool resolve)
{
	char id[ENGINE_ID_SIZE];
	struct incident_out out;
	struct alert a;
	struct buf json;
	struct buf extra;
	int r;

	r = alert_build(rule, e->rec, &a);
	if (r < 0)
		return log_errno_at(LOG_LEVEL_ERR, &e->ctx, r,
		    "cannot build the alert");
	buf_init(&extra, ALERT_MAX_JSON);
	buf_init(&json, ALERT_MAX_JSON + 2 * (size_t)TRAIL_MAX_RECORD);
	r = resolve ? 1 : engine_window(e, rule, &a, &extra);
	if (r == 1 && rule->readers && e->win != NULL) {
		r = extra.len > 0 ? buf_putc(&extra, ',') : 0;
		r = r < 0 ? r : window_readers(e->win, e->rec, &extra);
		r = r < 0 ? r : 1;
	}
	if (r < 0)
		log_ctx_err(&e->ctx, "rule window state: %s", strerror(-r));
	if (r <= 0)
		goto done; /* counted, or the state's error */
	a.extra = extra.data;
	r = alert_json(&a, true, &json);
	if (r == -E2BIG) /* never lose an alert for its raw record */
		r = alert_json(&a, false, &json);
	if (r == 0 && !resolve && e->win != NULL &&
	    rule->kind == RULES_KIND_EXPECT) {
		r = engine_expect(e, rule, &a, &json);
		if (r < 0)
			log_ctx_err(&e->ctx, "rule window state: %s",
			    strerror(-r));
		goto done;
	}
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
			out.verdict = INCIDENT_SEND;
			r = 0;
		}
	}
	if (r == 0)
		r = engine_verdict(e, rule, &e->ctx, &out, id, json.data,
		    json.len, resolve);
	incident_out_done(&out);
done:
	buf_done(&extra);
	buf_done(&json);
	alert_done(&a);
	return r;
}

/* A follow-up an expect rule waits for: closes its group's expectation. */
static int
engine_expected(struct engine *e, const struct rule *rule)
{
	struct buf group;
	int r;

	if (e->win == NULL)
		return 0;
	buf_init(&group, ALERT_MAX_JSON);
	r = rules_group_key(rule, e->rec, &group);
	r = r < 0 ? r : window_close(e->win, rule, group.data, e->clock);
	if (r == 1)
		log_ctx_info(&e->ctx, "expectation met for '%s'", group.data);
	if (r < 0)
		log_ctx_err(&e->ctx, "rule window state: %s", strerror(-r));
	buf_done(&group);
	return r < 0 ? r : 0;
}

/* smtrail_matches_total{rule}: a lookup, registered at load already. */
static struct metrics_counter *
engine_matches(struct engine *e, const char *rule_id)
{
	return metrics_counter(e->metrics, "smtrail_matches_total",
	    "Records that matched a rule.", "rule", rule_id);
}

/* Every rule's series from the start, at 0 (rate() needs them). */
static void
engine_register_rules(struct engine *e, const struct rules *rs)
{
	size_t i;

	if (e->metrics == NULL)
		return;
	for (i = 0; i < rules_count(rs); i++)
		(void)engine_matches(e, rules_get(rs, i)->id);
}

static int
engine_hit(const struct rule *rule, enum rules_hit hit, void *arg)
{
	struct engine *e = arg;

	e->ctx.rule = rule->id;
	if (hit == RULES_HIT_EXPECTED)
		return engine_expected(e, rule);
	e->st.matches++;
	if (hit == RULES_HIT_RESOLVE && e->inc == NULL)
		return 0; /* stateless: no incidents to resolve */
	if (hit == RULES_HIT_MATCH) {
		struct metrics_counter *c = engine_matches(e, rule->id);

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
	r = engine_flush(e, e->watermark, engine_expect_now(e));
	if (r < 0)
		return r;
	memset(&e->ctx, 0, sizeof(e->ctx));
	if (ctx != NULL)
		e->ctx = *ctx;
	e->ctx.event_id = record_string(rec, "eventID");
	e->rec = rec;
	e->clock = t;
	record_env_set(rec, &e->env);
	r = e->track_readers ? window_read(e->win, rec, t) : 0;
	if (r < 0)
		log_ctx_err(&e->ctx, "rule window state: %s", strerror(-r));
	else
		r = rules_eval(e->rules, rec, engine_hit, e);
	if (r == 0 && e->hooks.fed != NULL)
		r = e->hooks.fed(rec, e->hooks.arg);
	record_env_set(rec, NULL);
	e->rec = NULL;
	return r;
}

/* ---- the rest -------------------------------------------------------------
 */

/* record_env.alias: accountAlias. */
static struct json_object *
engine_alias(const char *account, void *arg)
{
	const struct engine *e = arg;
	size_t i;

	for (i = 0; i < e->n_aliases; i++)
		if (strcmp(e->aliases[i].id, account) == 0)
			return e->aliases[i].alias;
	return NULL;
}

static void
engine_aliases_free(struct engine *e)
{
	size_t i;

	for (i = 0; i < e->n_aliases; i++)
		json_object_put(e->aliases[i].alias);
	free(e->aliases);
	e->aliases = NULL;
	e->n_aliases = 0;
}

static int
engine_set_aliases(struct engine *e, const struct cfg_account *a, size_t n)
{
	size_t i;

	engine_aliases_free(e);
	if (n == 0)
		return 0;
	e->aliases = calloc(n, sizeof(*e->aliases));
	if (e->aliases == NULL)
		return -ENOMEM;
	for (; e->n_aliases < n; e->n_aliases++) {
		i = e->n_aliases;
		e->aliases[i].id = a[i].id;
		e->aliases[i].alias = json_object_new_string(a[i].alias);
		if (e->aliases[i].alias == NULL)
			return -ENOMEM;
	}
	return 0;
}

/* The rules want a secret's readers kept. */
static bool
engine_wants_readers(const struct rules *rs)
{
	size_t i;

	for (i = 0; i < rules_count(rs); i++)
		if (rules_get(rs, i)->readers && rules_get(rs, i)->enabled)
			return true;
	return false;
}

/*
 * The engine's clock in the state: the watermark, and the wall clock when
 * it last moved. A restart goes on from them, so the clock keeps running
 * (in the daemon, as it would have had the daemon kept running) instead of
 * jumping to the wall clock, which would make every expectation of old
 * events due at once.
 */
static uint64_t
engine_clock_key(void)
{
	static const char *const parts[] = {"engine clock"};

	return store_key(parts, 1);
}

static void
engine_clock_load(struct engine *e)
{
	unsigned long long mark = 0, wall = 0;
	const char *val;
	size_t len;
	uint64_t expires;
	char text[64];

	if (store_get(e->store, engine_clock_key(), &val, &len, &expires) !=
		1 ||
	    len >= sizeof(text))
		return;
	memcpy(text, val, len);
	text[len] = '\0';
	if (sscanf(text, "%llu %llu", &mark, &wall) != 2)
		return;
	e->watermark = e->kept_mark = mark;
	e->wall_at_mark = e->wall_clock ? wall : 0;
}

static int
engine_clock_save(struct engine *e)
{
	char text[64];
	int n;

	if (e->watermark == e->kept_mark)
		return 0;
	n = snprintf(text, sizeof(text), "%llu %llu",
	    (unsigned long long)e->watermark,
	    (unsigned long long)e->wall_at_mark);
	if (store_put(e->store, engine_clock_key(), text, (size_t)n, 0) < 0)
		return -EIO;
	e->kept_mark = e->watermark;
	return 0;
}

/* The windows' state: the store, and what it holds open. */
static int
engine_open_windows(struct engine *e, const struct engine_opts *o,
    struct diag *reterr)
{
	struct store_opts so = {.max_keys = o->max_keys,
	    .max_bytes = o->max_bytes};
	int r;

	r = store_local_open(o->state_dir, &so, &e->store, reterr);
	if (r < 0)
		return r;
	engine_clock_load(e);
	r = window_new(e->store, e->late_s, &e->win);
	if (r < 0) {
		store_free(e->store);
		e->store = NULL;
	}
	return r;
}

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
	*e = (struct engine){.rules = rs,
	    .hooks = *hooks,
	    .late_s = CFG_DEFAULT_WINDOWS_LATE_S};
	if (o != NULL) {
		e->wall_clock = o->wall_clock;
		e->wall_s = o->clock_s;
		e->wall_arg = o->clock_arg;
		e->metrics = o->metrics;
		e->late_s = o->late_s;
	}
	e->env = (struct record_env){.alias = engine_alias, .arg = e};
	if (o != NULL &&
	    engine_set_aliases(e, o->accounts, o->n_accounts) < 0) {
		engine_free(e);
		return -ENOMEM;
	}
	if (o != NULL && o->state_dir != NULL) {
		memset(&io, 0, sizeof(io));
		io.clock_s = engine_clock_cb;
		io.clock_arg = e;
		e->clock = engine_now(e);
		r = incident_open(o->state_dir, &io, &e->inc, reterr);
		if (r == 0)
			r = engine_open_windows(e, o, reterr);
		if (r < 0) {
			engine_free(e);
			return r;
		}
	}
	e->track_readers = e->win != NULL && engine_wants_readers(rs);
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
	e->m_late = metrics_counter(e->metrics, "smtrail_window_late_total",
	    "Matches of a threshold or distinct rule that came after their "
	    "window had closed: not counted.",
	    NULL, NULL);
	e->m_evicted =
	    metrics_counter(e->metrics, "smtrail_state_evicted_total",
		"Window keys dropped to stay within windows.max_keys or "
		"windows.max_bytes: those windows start afresh.",
		NULL, NULL);
	e->m_keys = metrics_gauge(e->metrics, "smtrail_state_keys",
	    "Keys the stateful rules keep (windows, seen keys, readers).", NULL,
	    NULL);
	e->m_open = metrics_gauge(e->metrics, "smtrail_expectations_open",
	    "Expectations of expect rules waiting for their follow-up.", NULL,
	    NULL);
	engine_register_rules(e, rs);
	engine_metrics(e);
	*ret = e;
	return 0;
}

/* The windows' figures into the metrics (counters by their growth). */
static void
engine_metrics(struct engine *e)
{
	struct window_stats ws;
	struct store_stats ss;

	if (e->win == NULL)
		return;
	window_stats(e->win, &ws);
	store_stats(e->store, &ss);
	metrics_inc(e->m_late, ws.late - e->last_win.late);
	metrics_inc(e->m_evicted, ss.evicted - e->last_evicted);
	if (ss.evicted > e->evicted_logged &&
	    now_us() - e->evict_log_at_us >= 60 * US_PER_S) {
		log_warn("rule windows: %llu key(s) evicted to stay within "
			 "windows.max_keys or windows.max_bytes (%llu keys "
			 "held); their windows start afresh",
		    (unsigned long long)(ss.evicted - e->evicted_logged),
		    (unsigned long long)ss.keys);
		e->evicted_logged = ss.evicted;
		e->evict_log_at_us = now_us();
	}
	metrics_gauge_set(e->m_keys, (double)ss.keys);
	metrics_gauge_set(e->m_open, (double)ws.open);
	e->last_win = ws;
	e->last_evicted = ss.evicted;
}

void
engine_free(struct engine *e)
{
	if (e == NULL)
		return;
	window_free(e->win);
	store_free(e->store);
	incident_free(e->inc);
	engine_aliases_free(e);
	free(e);
}

int
engine_set_rules(struct engine *e, const struct rules *rs,
    const struct cfg_account *accounts, size_t n_accounts)
{
	e->rules = rs;
	e->track_readers = e->win != NULL && engine_wants_readers(rs);
	engine_register_rules(e, rs);
	return engine_set_aliases(e, accounts, n_accounts);
}

/* The spool's sync comes first (the caller's): an alert a window gave is
 * durable before the window forgets what made it. */
int
engine_sync(struct engine *e)
{
	int r;

	if (e->inc == NULL)
		return 0;
	r = incident_sync(e->inc);
	r = r < 0 ? r : engine_clock_save(e);
	return r < 0 ? r : store_sync(e->store);
}

int
engine_compact(struct engine *e)
{
	uint64_t floor;
	int r;

	if (e->inc == NULL)
		return 0;
	e->clock = engine_now(e);
	r = incident_compact(e->inc);
	if (r < 0)
		return r;
	/* Keys expire in event time: what the watermark left behind. */
	floor = e->watermark > e->late_s ? e->watermark - e->late_s : 0;
	if (floor != 0)
		(void)store_expire(e->store, floor);
	engine_metrics(e);
	return store_compact(e->store);
}

void
engine_stats(const struct engine *e, struct engine_stats *ret)
{
	*ret = e->st;
}
