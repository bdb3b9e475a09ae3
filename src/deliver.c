/*
 * deliver.c: see deliver.h. The pieces:
 *
 *   dsink_*    one configured destination: its sink, its queue of ready
 *              deliveries, what is in flight, since when it fails
 *   dlv_*      one (alert, destination): ready -> sending -> (waiting a
 *              backoff -> ready ...) -> ended (outcome in the spool)
 */
#include <errno.h>
#include <math.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "backoff.h"
#include "buf.h"
#include "cfg.h"
#include "clock.h"
#include "deliver.h"
#include "diag.h"
#include "ht.h"
#include "log.h"
#include "metrics.h"
#include "secret.h"
#include "sink.h"
#include "spool.h"

/* The first retry waits about this long; each next one twice as long. */
#define DELIVER_BACKOFF_BASE_MS 1000u

struct dlv;
TAILQ_HEAD(dlv_q, dlv);

/* Where a delivery waits: nowhere (on the wire), or on one of its
 * destination's queues. */
enum dlv_where { DLV_SENDING, DLV_READY, DLV_BACKOFF };

struct dsink {
	struct deliver *dl;
	char *name;
	struct sink *sink;
	uint64_t deadline_us;
	unsigned in_flight;
	unsigned refs;          /* deliveries pointing at it */
	bool retired;           /* replaced by a reload */
	bool tried;             /* an attempt has ended (this process) */
	uint64_t fail_since_us; /* first failure since its last success; 0 */
	uint64_t def;           /* fingerprint of its definition, never 0 */
	struct dlv_q ready;     /* waiting for a slot, FIFO */
	struct dlv_q backoff;   /* waiting out a backoff */
	struct metrics_counter *m_delivered;
	struct metrics_counter *m_failed;
	struct metrics_counter *m_attempts_failed;
	struct dsink *next;
};

struct dlv {
	struct deliver *dl;
	int64_t job;
	struct dsink *ds;
	unsigned attempt;
	uint64_t deadline_us;
	time_t event_time;                /* for the lag histogram; 0 unknown */
	char rule[SPOOL_MAX_RULE_ID + 1]; /* for the log */
	char event_id[SPOOL_MAX_EVENT_ID + 1];
	char id[SPOOL_ALERT_ID_SIZE + SPOOL_MAX_DEST + 1]; /* delivery id */
	struct event *timer;
	enum dlv_where where;
	TAILQ_ENTRY(dlv) q;   /* on ready or backoff, as where says */
	TAILQ_ENTRY(dlv) all; /* on deliver.dlvs */
};

struct deliver {
	struct event_base *base;
	struct http *http;
	struct spool *spool;
	struct metrics *metrics;
	struct deliver_hooks hooks;
	struct dsink *sinks;
	struct dlv_q dlvs; /* every delivery not yet ended */
	size_t n_dlvs;
	bool stopped;
	struct event *sweep_ev; /* frees retired sinks, outside callbacks */
	struct metrics_histogram *m_lag;
};

static void dlv_pump(struct dsink *ds);

/* ---- destinations -------------------------------------------------------- */

static struct dsink *
dsink_find(struct deliver *dl, const char *name)
{
	struct dsink *ds;

	for (ds = dl->sinks; ds != NULL; ds = ds->next)
		if (!ds->retired && strcmp(ds->name, name) == 0)
			return ds;
	return NULL;
}

static void
dsink_free(struct dsink *ds)
{
	sink_free(ds->sink);
	free(ds->name);
	free(ds);
}

/* Frees retired sinks nothing points at any more. */
static void
dsink_sweep(struct deliver *dl)
{
	struct dsink **pp = &dl->sinks;
	struct dsink *ds;

	while (*pp != NULL) {
		ds = *pp;
		if (ds->retired && ds->refs == 0) {
			*pp = ds->next;
			dsink_free(ds);
		} else {
			pp = &ds->next;
		}
	}
}

int
deliver_sink_new(const struct cfg_dest *cd, struct event_base *base,
    struct http *http, struct sink **ret, struct diag *reterr)
{
	struct sink_conf sc;
	size_t i;

	memset(&sc, 0, sizeof(sc));
	sc.name = cd->name;
	sc.kind = cd->kind;
	for (i = 0; i < SINK_MAX_OPTS; i++)
		sc.opts[i] = secret_value(cd->opts[i]);
	sc.timeout_ms = cd->timeout_ms;
	sc.rate_count = cd->rate_count;
	sc.rate_period_us = cd->rate_period_us;
	sc.fd = 1;
	return sink_new(&sc, base, http, ret, reterr);
}

/*
 * A fingerprint of what a delivery to cd depends on: its kind, options
 * and settings. 64 bits of a SHA-256: kept in the spool with a failure
 * (0600), it tells a changed definition without keeping the secrets;
 * the options are high-entropy secrets (URLs, keys), not guessable from
 * it. The serialization holding them is wiped. Never 0.
 */
static uint64_t
dsink_def(const struct cfg_dest *cd)
{
	char hex[HT_DIGEST_LEN + 1];
	uint64_t def = 0;
	struct buf b;
	size_t i;
	int r;

	buf_init(&b, SINK_MAX_OPTS * (SECRET_MAX_FILE + 32) + 4096);
	r = buf_printf(&b, "%s\n%ld\n%" PRIu64 "\n%u\n%" PRIu64 "\n",
	    cd->kind->name, cd->timeout_ms, cd->deadline_us, cd->rate_count,
	    cd->rate_period_us);
	for (i = 0; r == 0 && i < SINK_MAX_OPTS; i++) {
		if (cd->opts[i] == NULL) {
			r = buf_puts(&b, "-\n");
			continue;
		}
		r = buf_printf(&b, "%zu:", secret_len(cd->opts[i]));
		r = r < 0 ? r
			  : buf_append(&b, secret_value(cd->opts[i]),
				secret_len(cd->opts[i]));
		r = r < 0 ? r : buf_putc(&b, '\n');
	}
	if (r == 0)
		r = ht_digest(b.data, b.len, hex);
	if (r == 0)
		def = strtoull(hex + 7 + 48, NULL, 16); /* the last 16 */
	if (b.data != NULL)
		explicit_bzero(b.data, b.cap);
	buf_done(&b);
	return def != 0 ? def : 1;
}

int
deliver_configure(struct deliver *dl, const struct cfg *c, struct diag *reterr)
{
	struct dsink *list = NULL;
	struct dsink *ds;
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < c->n_destinations; i++) {
		const struct cfg_dest *cd = &c->destinations[i];

		ds = calloc(1, sizeof(*ds));
		if (ds == NULL) {
			r = -ENOMEM;
			break;
		}
		TAILQ_INIT(&ds->ready);
		TAILQ_INIT(&ds->backoff);
		ds->dl = dl;
		ds->next = list;
		list = ds;
		ds->name = strdup(cd->name);
		ds->deadline_us = cd->deadline_us; /* cfg's default applied */
		ds->def = dsink_def(cd);
		r = ds->name == NULL ? -ENOMEM
				     : deliver_sink_new(cd, dl->base, dl->http,
					   &ds->sink, reterr);
		ds->m_delivered = metrics_counter(dl->metrics,
		    "smtrail_alerts_delivered_total",
		    "Alerts delivered, by destination.", "destination",
		    cd->name);
		ds->m_failed =
		    metrics_counter(dl->metrics, "smtrail_alerts_failed_total",
			"Alerts given up on.", "destination", cd->name);
		ds->m_attempts_failed = metrics_counter(dl->metrics,
		    "smtrail_delivery_attempts_failed_total",
		    "Delivery attempts that failed, retried or not.",
		    "destination", cd->name);
	}
	if (r < 0) {
		while (list != NULL) {
			ds = list->next;
			dsink_free(list);
			list = ds;
		}
		return r;
	}
	/* The old set retires; deliveries queued on it finish there. A
	 * destination kept by name keeps its failing streak (health). */
	for (ds = list; ds != NULL; ds = ds->next) {
		struct dsink *old = dsink_find(dl, ds->name);

		if (old != NULL) {
			ds->tried = old->tried;
			ds->fail_since_us = old->fail_since_us;
		}
	}
	for (ds = dl->sinks; ds != NULL; ds = ds->next)
		ds->retired = true;
	if (list != NULL) {
		for (ds = list; ds->next != NULL; ds = ds->next)
			;
		ds->next = dl->sinks;
		dl->sinks = list;
	}
	dsink_sweep(dl);
	return 0;
}

/* ---- one delivery -------------------------------------------------------- */

/* Off whichever queue it waits on. */
static void
dlv_unqueue(struct dlv *v)
{
	if (v->where == DLV_READY)
		TAILQ_REMOVE(&v->ds->ready, v, q);
	else if (v->where == DLV_BACKOFF)
		TAILQ_REMOVE(&v->ds->backoff, v, q);
	v->where = DLV_SENDING;
}

static void
dlv_free(struct dlv *v)
{
	struct deliver *dl = v->dl;
	struct dsink *ds = v->ds;

	dlv_unqueue(v);
	TAILQ_REMOVE(&dl->dlvs, v, all);
	dl->n_dlvs--;
	if (v->timer != NULL)
		event_free(v->timer);
	free(v);
	/* Not here: this may run inside the sink's own callback. */
	if (--ds->refs == 0 && ds->retired && dl->sweep_ev != NULL)
		event_active(dl->sweep_ev, 0, 0);
}

static void
dlv_ready(struct dlv *v)
{
	dlv_unqueue(v);
	TAILQ_INSERT_TAIL(&v->ds->ready, v, q);
	v->where = DLV_READY;
}

static void
dlv_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dlv *v = arg;

	UNUSED(fd);
	UNUSED(what);
	dlv_ready(v);
	dlv_pump(v->ds);
}

/* What the log and the lag histogram need, from the spooled alert. */
static void
dlv_describe(struct dlv *v, const char *json)
{
	struct json_object *o = json_tokener_parse(json);
	struct json_object *t;
	struct tm tm;

	if (o == NULL)
		return;
	if (json_object_object_get_ex(o, "rule", &t))
		(void)snprintf(v->rule, sizeof(v->rule), "%s",
		    json_object_get_string(t));
	if (json_object_object_get_ex(o, "eventID", &t) &&
	    json_object_is_type(t, json_type_string))
		(void)snprintf(v->event_id, sizeof(v->event_id), "%s",
		    json_object_get_string(t));
	if (json_object_object_get_ex(o, "eventTime", &t) &&
	    json_object_is_type(t, json_type_string)) {
		memset(&tm, 0, sizeof(tm));
		if (strptime(json_object_get_string(t), "%Y-%m-%dT%H:%M:%S",
			&tm) != NULL)
			v->event_time = timegm(&tm);
	}
	json_object_put(o);
}

static void
dlv_ctx(const struct dlv *v, struct log_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->rule = v->rule[0] != '\0' ? v->rule : NULL;
	ctx->event_id = v->event_id[0] != '\0' ? v->event_id : NULL;
}

/* The delivery ended: its outcome into the spool. */
static void
dlv_end(struct dlv *v, const struct sink_outcome *o, enum spool_outcome oc)
{
	struct deliver *dl = v->dl;
	struct log_ctx ctx;
	int r;

	dlv_ctx(v, &ctx);
	/* A failure's last answer is kept for `smtrail spool list`. */
	r = spool_mark_detail(dl->spool, v->job, v->ds->name, oc,
	    o->detail[0] != '\0' ? o->detail : sink_result_str(o->result),
	    v->ds->def);
	if (r == 1)
		log_ctx_warn(&ctx,
		    "spool: cannot write the outcome for '%s' yet; it is held "
		    "and written once the disk allows, the alert is not sent "
		    "again",
		    v->ds->name);
	else if (r < 0 && r != -EALREADY)
		log_errno_at(LOG_LEVEL_ERR, &ctx, r,
		    "spool: cannot record the outcome for '%s'; the alert will "
		    "be sent again after a restart",
		    v->ds->name);
	if (dl->hooks.outcome != NULL)
		dl->hooks.outcome(v->job, v->ds->name, o, true, dl->hooks.arg);
	dlv_free(v);
}

/* The destination works again: what waits out a backoff goes now. */
static void
dsink_recovered(struct dsink *ds)
{
	struct dlv *v;

	while ((v = TAILQ_FIRST(&ds->backoff)) != NULL) {

		(void)evtimer_del(v->timer);
		dlv_ready(v);
	}
}

static void
dlv_retry(struct dlv *v, const struct sink_outcome *o, uint64_t delay_ms)
{
	struct dsink *ds = v->ds;
	struct deliver *dl = v->dl;
	struct log_ctx ctx;
	struct timeval tv;

	dlv_ctx(v, &ctx);
	log_ctx_warn(&ctx, "delivery to '%s' failed (%s), retrying in %llu ms",
	    ds->name, o->detail[0] ? o->detail : sink_result_str(o->result),
	    (unsigned long long)delay_ms);
	if (dl->hooks.outcome != NULL)
		dl->hooks.outcome(v->job, ds->name, o, false, dl->hooks.arg);
	tv = clock_tv_ms(delay_ms);
	if (v->timer == NULL)
		v->timer = evtimer_new(dl->base, dlv_timer_cb, v);
	if (v->timer == NULL || evtimer_add(v->timer, &tv) < 0) {
		dlv_ready(v); /* no timer: sooner beats never */
		return;
	}
	TAILQ_INSERT_TAIL(&ds->backoff, v, q);
	v->where = DLV_BACKOFF;
}

static void
dlv_done(const struct sink_outcome *o, void *arg)
{
	struct dlv *v = arg;
	struct deliver *dl = v->dl;
	struct dsink *ds = v->ds;
	struct log_ctx ctx;
	uint64_t delay;
	uint64_t now = now_us();

	dlv_ctx(v, &ctx);
	ds->in_flight--;
	ds->tried = true;
	if (o->result == SINK_DELIVERED) {
		ds->fail_since_us = 0;
		metrics_inc(ds->m_delivered, 1);
		/* A clock behind CloudTrail's is no lag at all. */
		if (v->event_time != 0)
			metrics_observe(dl->m_lag,
			    fmax(0, difftime(time(NULL), v->event_time)));
		log_ctx_info(&ctx, "delivered to '%s'%s%s%s", ds->name,
		    o->detail[0] ? " (" : "", o->detail,
		    o->detail[0] ? ")" : "");
		dlv_end(v, o, SPOOL_DELIVERED);
		dsink_recovered(ds);
	} else {
		if (ds->fail_since_us == 0)
			ds->fail_since_us = now;
		metrics_inc(ds->m_attempts_failed, 1);
		delay = backoff_next_ms(v->attempt++, DELIVER_BACKOFF_BASE_MS,
		    DELIVER_BACKOFF_CAP_MS);
		if (o->retry_after_ms > delay)
			delay = o->retry_after_ms;
		if (o->result == SINK_PERMANENT ||
		    now + delay * 1000 > v->deadline_us) {
			metrics_inc(ds->m_failed, 1);
			log_ctx_err(&ctx,
			    "delivery to '%s' failed for good (%s, %s after %u "
			    "attempt(s)); the alert stays in the spool as "
			    "failed",
			    ds->name, o->detail, sink_result_str(o->result),
			    v->attempt);
			dlv_end(v, o, SPOOL_FAILED);
		} else {
			dlv_retry(v, o, delay);
		}
	}
	dlv_pump(ds);
	if (dl->hooks.settled != NULL)
		dl->hooks.settled(dl->hooks.arg);
}

/* Starts what the destination's slots allow. */
static void
dlv_pump(struct dsink *ds)
{
	struct deliver *dl = ds->dl;

	struct dlv *v;

	while ((v = TAILQ_FIRST(&ds->ready)) != NULL &&
	    ds->in_flight < DELIVER_MAX_SENDS && !dl->stopped) {
		struct sink_outcome o;
		const char *json;
		int r;

		dlv_unqueue(v);
		json = spool_alert_json(dl->spool, v->job);
		if (json == NULL) {
			dlv_free(v); /* already ended */
			continue;
		}
		ds->in_flight++;
		r = sink_send_id(ds->sink, json, strlen(json), v->id, dlv_done,
		    v);
		if (r < 0) {
			/* Not started: counts as a failed attempt (no
			 * callback will come), so it waits a backoff. */
			memset(&o, 0, sizeof(o));
			o.result = SINK_RETRY;
			o.error = r;
			(void)snprintf(o.detail, sizeof(o.detail), "%s",
			    strerror(-r));
			ds->in_flight--;
			ds->tried = true;
			if (ds->fail_since_us == 0)
				ds->fail_since_us = now_us();
			metrics_inc(ds->m_attempts_failed, 1);
			dlv_retry(v, &o,
			    backoff_next_ms(v->attempt++,
				DELIVER_BACKOFF_BASE_MS,
				DELIVER_BACKOFF_CAP_MS));
		}
	}
}

static int
dlv_enqueue(int64_t job, const char *dest, const char *json, size_t len,
    void *arg)
{
	struct deliver *dl = arg;
	struct dsink *ds = dsink_find(dl, dest);
	char aid[SPOOL_ALERT_ID_SIZE];
	struct dlv *v;
	int r;

	UNUSED(len);
	if (ds == NULL) {
		log_err("an alert in the spool is for destination '%s', which "
			"is no longer configured; marking it failed",
		    dest);
		r = spool_mark_detail(dl->spool, job, dest, SPOOL_FAILED,
		    "destination not configured", 0);
		return r == 1 ? 0 : r;
	}
	r = spool_alert_id(dl->spool, job, aid);
	if (r < 0)
		return r;
	v = malloc(sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	*v = (struct dlv){.dl = dl,
	    .job = job,
	    .ds = ds,
	    .deadline_us = now_us() + ds->deadline_us,
	    .where = DLV_SENDING};
	ds->refs++;
	(void)snprintf(v->id, sizeof(v->id), "%s:%s", aid, dest);
	dlv_describe(v, json);
	TAILQ_INSERT_TAIL(&dl->dlvs, v, all);
	dl->n_dlvs++;
	dlv_ready(v);
	return 0;
}

int64_t
deliver_spool(struct spool *sp, const struct cfg *cfg, const struct rule *rule,
    const char *rule_id, const char *event_id, const char *json, size_t len,
    const char *fallback, size_t *ret_n)
{
	const char *dests[SPOOL_MAX_DESTS];
	size_t n = 0;
	int64_t job;

	if (cfg != NULL)
		n = cfg_destinations(cfg, rule, dests, ARRAY_SIZE(dests));
	if (n == 0 && fallback != NULL)
		dests[n++] = fallback;
	if (n == 0)
		return -ENOENT;
	job = spool_append_json(sp, rule_id, event_id, json, len, dests, n);
	if (job >= 0 && ret_n != NULL)
		*ret_n = n;
	return job;
}

int
deliver_queue(struct deliver *dl, int64_t first)
{
	struct dsink *ds;
	int r;

	r = spool_foreach_pending_from(dl->spool, first, dlv_enqueue, dl);
	for (ds = dl->sinks; ds != NULL; ds = ds->next)
		dlv_pump(ds);
	return r;
}

int
deliver_queue_job(struct deliver *dl, int64_t job, const char *dest)
{
	const char *json = spool_alert_json(dl->spool, job);
	struct dsink *ds;
	int r;

	if (json == NULL)
		return -ENOENT;
	r = dlv_enqueue(job, dest, json, strlen(json), dl);
	if (r < 0)
		return r;
	ds = dsink_find(dl, dest);
	if (ds != NULL)
		dlv_pump(ds);
	return 0;
}

struct deliver_changed {
	struct deliver *dl;
	int n;
};

static int
deliver_changed_cb(const struct spool_alert_info *a, void *arg)
{
	struct deliver_changed *dc = arg;
	struct dsink *ds;
	size_t i;
	int r;

	for (i = 0; i < a->n_dests; i++) {
		if (a->state[i] != SPOOL_PAIR_FAILED || a->def[i] == 0)
			continue;
		ds = dsink_find(dc->dl, a->dest[i]);
		if (ds == NULL || ds->def == a->def[i])
			continue;
		r = spool_retry(dc->dl->spool, a->job, a->dest[i]);
		if (r < 0)
			return r;
		dc->n++;
	}
	return 0;
}

int
deliver_retry_changed(struct deliver *dl)
{
	struct deliver_changed dc = {dl, 0};
	int r;

	r = spool_foreach_alert(dl->spool, deliver_changed_cb, &dc);
	return r < 0 ? r : dc.n;
}

/* ---- the rest ------------------------------------------------------------ */

static void
deliver_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	UNUSED(fd);
	UNUSED(what);
	dsink_sweep(arg);
}

int
deliver_new(struct event_base *base, struct http *http, struct spool *sp,
    struct metrics *metrics, const struct deliver_hooks *hooks,
    struct deliver **ret)
{
	struct deliver *dl = calloc(1, sizeof(*dl));

	if (dl == NULL)
		return -ENOMEM;
	dl->base = base;
	dl->http = http;
	dl->spool = sp;
	dl->metrics = metrics;
	TAILQ_INIT(&dl->dlvs);
	if (hooks != NULL)
		dl->hooks = *hooks;
	dl->sweep_ev = event_new(base, -1, 0, deliver_sweep_cb, dl);
	if (dl->sweep_ev == NULL) {
		free(dl);
		return -ENOMEM;
	}
	dl->m_lag = metrics_histogram(metrics, "smtrail_delivery_lag_seconds",
	    "Delivery time minus eventTime.", NULL, NULL, metrics_lag_buckets,
	    ARRAY_SIZE(metrics_lag_buckets));
	*ret = dl;
	return 0;
}

void
deliver_free(struct deliver *dl)
{
	struct dsink *ds;

	if (dl == NULL)
		return;
	while (!TAILQ_EMPTY(&dl->dlvs))
		dlv_free(TAILQ_FIRST(&dl->dlvs));
	while (dl->sinks != NULL) {
		ds = dl->sinks->next;
		dsink_free(dl->sinks);
		dl->sinks = ds;
	}
	event_free(dl->sweep_ev);
	free(dl);
}

void
deliver_stop(struct deliver *dl)
{
	dl->stopped = true;
}

void
deliver_stats(const struct deliver *dl, struct deliver_stats *ret)
{
	const struct dsink *ds;
	uint64_t since = 0;
	bool working = false;
	bool tried = false;

	memset(ret, 0, sizeof(*ret));
	ret->queued = dl->n_dlvs;
	for (ds = dl->sinks; ds != NULL; ds = ds->next) {
		ret->in_flight += ds->in_flight;
		if (ds->retired || !ds->tried)
			continue;
		tried = true;
		if (ds->fail_since_us == 0)
			working = true;
		else if (ds->fail_since_us > since)
			since = ds->fail_since_us;
	}
	ret->failing_since_us = tried && !working ? since : 0;
}
