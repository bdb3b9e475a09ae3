/*
 * daemon.c: see daemon.h. The daemon wires the stages together and keeps
 * what no stage owns:
 *
 *   intake.c   SQS messages -> records (receive, notification, SNS check,
 *              S3 objects, scan), its message state machine, backpressure
 *   engine.c   records -> alerts (rules, throttle, groups, resolves);
 *              daemon_keep routes each alert and spools it
 *   sync_*     group commit: one fsync per loop pass, then the intake
 *              deletes what is durable and deliver.c sends it
 *   deliver.c  spool -> sinks, retried to a deadline
 *   spool_*    what to do while the spool cannot be written
 *   requests_* `smtrail spool retry|purge` while we hold the spool, and
 *              failed deliveries retried when a reload changes their
 *              destination
 *   sig_*, reload_*, notify_*: systemd and signals
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <event2/event.h>
#include <json-c/json.h>
#include <systemd/sd-daemon.h>

#include "aws/aws.h"
#include "aws/creds.h"
#include "aws/sns.h"
#include "aws/sqs.h"
#include "buf.h"
#include "cfg.h"
#include "clock.h"
#include "daemon.h"
#include "deliver.h"
#include "diag.h"
#include "http.h"
#include "engine.h"
#include "intake.h"
#include "log.h"
#include "metrics.h"
#include "rules.h"
#include "secret.h"
#include "sink.h"
#include "spool.h"
#include "spoolcmd.h"

/* How long SIGTERM waits for work in flight. */
#define DAEMON_DRAIN_US (25 * US_PER_S)
/* While the spool cannot be written: how often to try again, and how
 * long receiving waits after a failed append before it tries again. */
#define DAEMON_SPOOL_RETRY_MS 1000
#define DAEMON_SPOOL_PAUSE_US (5 * US_PER_S)
/* SQS's default visibility timeout, for sqs.visibility_timeout: 0. */
#define DAEMON_QUEUE_VISIBILITY_S 30

struct daemon {
	struct event_base *base;
	const struct daemon_opts *opts;
	struct cfg *cfg;
	struct rules *rules;
	struct http *http;
	struct creds *creds;
	struct aws *aws;
	struct sns_verifier *sns;
	struct spool *spool;
	struct engine *engine;
	struct event *engine_timer;
	struct metrics *metrics;
	struct intake *intake;
	struct deliver *deliver;
	bool ready_sent;
	uint64_t started_us; /* when this process began receiving */

	struct event *sync_ev; /* deferred group commit */
	int64_t first_new_job; /* spooled since the last sync; 0: none */

	int spool_error;              /* last append failure; 0: writable */
	uint64_t spool_error_us;      /* when */
	struct event *spool_timer;    /* retries held outcomes, probes */
	struct event *requests_timer; /* spool commands' requests */
	char pause_why[128];

	struct event *sig_term;
	struct event *sig_int;
	struct event *sig_hup;
	struct event *watchdog;
	struct event *status_timer;
	struct event *drain_timer;
	bool draining;
	int exit_status;
	char last_error[160];

	/* metrics */
	struct metrics_counter *m_spooled;
	struct metrics_counter *m_dedup;
	struct metrics_counter *m_undeliverable;
	struct metrics_gauge *m_depth;
	struct metrics_gauge *m_unwritten;
};

static void engine_schedule(struct daemon *d);
static void daemon_check_idle(struct daemon *d);
static void daemon_spool_failed(struct daemon *d, int r);

/* ---- small helpers ------------------------------------------------------ */

static void
daemon_error(struct daemon *d, const char *what)
{
	(void)snprintf(d->last_error, sizeof(d->last_error), "%s", what);
}

/* ---- group commit ------------------------------------------------------- */

static void
sync_request(struct daemon *d)
{
	event_active(d->sync_ev, 0, 0);
}

/* ---- alerts from the engine into the spool ------------------------------ */

/*
 * The engine's alert hook: the alert goes to its rule's destinations (a
 * group of a rule a reload removed: default_destinations), spooled; its
 * deliveries are queued after the next sync. -EEXIST: already spooled.
 */
static int
daemon_keep(const struct rule *rule, const char *rule_id, const char *event_id,
    const char *json, size_t len, const struct log_ctx *ctx, void *arg)
{
	struct daemon *d = arg;
	int64_t job;
	size_t n = 0;

	job = deliver_spool(d->spool, d->cfg, rule, rule_id, event_id, json,
	    len, NULL, &n);
	if (job == -ENOENT) {
		/* check and reload refuse such a rule; a group of a rule a
		 * reload removed can still end here. */
		log_ctx_err(ctx,
		    "no destination is configured for this alert, dropping "
		    "it");
		metrics_inc(d->m_undeliverable, 1);
		return 0;
	}
	if (job == -EEXIST) {
		metrics_inc(d->m_dedup, 1);
		log_ctx_info(ctx, "duplicate alert, not sent again");
		return -EEXIST;
	}
	if (job < 0) {
		daemon_spool_failed(d, (int)job);
		return (int)job; /* the intake says what it means, once */
	}
	d->spool_error = 0; /* writable again */
	if (d->first_new_job == 0)
		d->first_new_job = job;
	metrics_inc(d->m_spooled, 1);
	log_ctx_info(ctx, "alert spooled for %zu destination(s)", n);
	sync_request(d);
	return 0;
}

static bool
daemon_seen(const char *rule_id, const char *event_id, void *arg)
{
	struct daemon *d = arg;

	return spool_seen(d->spool, rule_id, event_id);
}

static int
daemon_sync_spool(void *arg)
{
	struct daemon *d = arg;

	return spool_sync(d->spool);
}

/* The intake's record hook. */
static int
daemon_record(struct json_object *rec, const struct log_ctx *ctx, void *arg)
{
	struct daemon *d = arg;

	return engine_feed(d->engine, rec, ctx);
}

/* ---- held groups ----------------------------------------------------------
 */

static void
engine_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	int r;

	UNUSED(fd);
	UNUSED(what);
	r = engine_tick(d->engine);
	if (r < 0)
		log_warn_errno(r, "cannot emit grouped alerts, retrying");
	engine_schedule(d);
	sync_request(d);
}

/* Arms the timer for the next group due (at least 1 s away on errors). */
static void
engine_schedule(struct daemon *d)
{
	long due = engine_next_due_s(d->engine);
	struct timeval tv;

	if (due < 0)
		return;
	tv = clock_tv_ms((uint64_t)due * MS_PER_S);
	if (evtimer_pending(d->engine_timer, NULL))
		(void)evtimer_del(d->engine_timer);
	(void)evtimer_add(d->engine_timer, &tv);
}

/* ---- the spool, when it cannot be written -------------------------------- */

static void
daemon_spool_failed(struct daemon *d, int r)
{
	struct timeval tv = clock_tv_ms(DAEMON_SPOOL_RETRY_MS);

	if (r == -E2BIG)
		return; /* full, not failing: deliveries make room */
	if (d->spool_error == 0)
		log_err_errno(r,
		    "spool: cannot append alerts; receiving "
		    "pauses until it can");
	d->spool_error = r;
	d->spool_error_us = now_us();
	daemon_error(d, "spool cannot be written");
	if (!evtimer_pending(d->spool_timer, NULL))
		(void)evtimer_add(d->spool_timer, &tv);
}

/*
 * Every second while the spool is in trouble: held outcomes are written
 * by the sync pass; after a failed append, a tiny write tells when the
 * disk takes data again (receiving resumes; a failing append stops it
 * again).
 */
static void
spool_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct timeval tv = clock_tv_ms(DAEMON_SPOOL_RETRY_MS);
	struct spool_stats st;

	UNUSED(fd);
	UNUSED(what);
	spool_stats(d->spool, &st);
	if (st.unwritten > 0)
		sync_request(d);
	else if (d->spool_error != 0 &&
	    now_us() - d->spool_error_us >= DAEMON_SPOOL_PAUSE_US &&
	    spool_probe(d->spool) == 0) {
		log_notice("spool: writable again, receiving resumes");
		d->spool_error = 0;
		intake_kick(d->intake);
	}
	if (st.unwritten > 0 || d->spool_error != 0)
		(void)evtimer_add(d->spool_timer, &tv);
}

/* The intake's pause hook: why receiving must wait, or NULL. */
static const char *
daemon_pause(void *arg)
{
	struct daemon *d = arg;
	struct spool_stats st;

	spool_stats(d->spool, &st);
	if (st.unwritten > 0)
		(void)snprintf(d->pause_why, sizeof(d->pause_why),
		    "the spool cannot be written (%llu delivery outcomes "
		    "held)",
		    (unsigned long long)st.unwritten);
	else if (d->spool_error != 0)
		(void)snprintf(d->pause_why, sizeof(d->pause_why),
		    "the spool cannot be written (%s)",
		    strerror(-d->spool_error));
	else if (st.pending >= d->cfg->spool.pause_at)
		(void)snprintf(d->pause_why, sizeof(d->pause_why),
		    "%llu alerts await delivery (spool.pause_at %u)",
		    (unsigned long long)st.pending, d->cfg->spool.pause_at);
	else
		return NULL;
	return d->pause_why;
}

/* ---- spool commands, reloaded destinations ------------------------------- */

/* A failed (alert, destination) is pending again: on the normal path. */
static void
requests_requeued(int64_t job, const char *dest, void *arg)
{
	struct daemon *d = arg;
	int r;

	r = deliver_queue_job(d->deliver, job, dest);
	if (r < 0)
		log_err_errno(r,
		    "spool: cannot queue a retried delivery to '%s'; it is "
		    "sent at the next start",
		    dest);
}

/* Every SPOOLCMD_TICK_MS: see spoolcmd.h for why a tick, not a signal. */
static void
requests_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	int r;

	UNUSED(fd);
	UNUSED(what);
	if (d->draining)
		return;
	r = spoolcmd_take(d->cfg->state_dir, d->spool, requests_requeued, d);
	if (r < 0)
		log_warn_errno(r, "spool: a retry or purge request failed");
	if (r != 0)
		sync_request(d);
}

/* Whether a reload left destination a as it was (kind, options and
 * settings; options compared as the secrets they are, never logged). */
static bool
requests_dest_same(const struct cfg_dest *a, const struct cfg_dest *b)
{
	size_t i;

	if (a->kind != b->kind || a->timeout_ms != b->timeout_ms ||
	    a->deadline_us != b->deadline_us ||
	    a->rate_count != b->rate_count ||
	    a->rate_period_us != b->rate_period_us)
		return false;
	for (i = 0; i < SINK_MAX_OPTS; i++) {
		if ((a->opts[i] == NULL) != (b->opts[i] == NULL))
			return false;
		if (a->opts[i] == NULL)
			continue;
		if (secret_len(a->opts[i]) != secret_len(b->opts[i]) ||
		    memcmp(secret_value(a->opts[i]), secret_value(b->opts[i]),
			secret_len(a->opts[i])) != 0)
			return false;
	}
	return true;
}

struct requests_changed {
	struct daemon *d;
	const char *dest;
	size_t n;
	int error;
};

static int
requests_retry_cb(const struct spool_alert_info *a, void *arg)
{
	struct requests_changed *rc = arg;
	size_t i;
	int r;

	for (i = 0; i < a->n_dests; i++) {
		if (a->state[i] != SPOOL_PAIR_FAILED ||
		    strcmp(a->dest[i], rc->dest) != 0)
			continue;
		r = spool_retry(rc->d->spool, a->job, rc->dest);
		if (r < 0) {
			rc->error = r;
			return r;
		}
		rc->n++;
		requests_requeued(a->job, rc->dest, rc->d);
	}
	return 0;
}

/*
 * A reload changed (or added) a destination: its failed deliveries go
 * again, through the new definition. Unchanged ones stay failed: what
 * failed there would fail again.
 */
static void
requests_reloaded(struct daemon *d, const struct cfg *old, const struct cfg *c)
{
	struct requests_changed rc;
	const struct cfg_dest *was;
	size_t i;

	for (i = 0; i < c->n_destinations; i++) {
		was = cfg_dest_find(old, c->destinations[i].name);
		if (was != NULL && requests_dest_same(was, &c->destinations[i]))
			continue;
		memset(&rc, 0, sizeof(rc));
		rc.d = d;
		rc.dest = c->destinations[i].name;
		if (spool_foreach_alert(d->spool, requests_retry_cb, &rc) < 0)
			log_warn_errno(rc.error != 0 ? rc.error : -EIO,
			    "spool: cannot retry the failed deliveries to "
			    "'%s' after the reload",
			    rc.dest);
		if (rc.n > 0)
			log_notice("reload: destination '%s' changed: %zu "
				   "failed delivery(ies) re-queued",
			    rc.dest, rc.n);
	}
	sync_request(d);
}

/* ---- the sync pass ------------------------------------------------------ */

static void
sync_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct spool_stats st;
	int r;

	UNUSED(fd);
	UNUSED(what);
	r = spool_sync(d->spool);
	if (r >= 0)
		r = engine_sync(d->engine); /* held matches, windows */
	if (r < 0) {
		log_err_errno(r,
		    "spool: fsync failed; stopping (a restart "
		    "replays what is on disk)");
		daemon_error(d, "spool fsync failed");
		d->exit_status = 1;
		d->draining = true;
		intake_stop(d->intake);
		deliver_stop(d->deliver);
		daemon_check_idle(d);
		return;
	}
	intake_synced(d->intake);
	if (d->first_new_job > 0) {
		r = deliver_queue(d->deliver, d->first_new_job);
		if (r < 0)
			log_err_errno(r, "cannot queue deliveries");
		d->first_new_job = 0;
	}
	/* Cheap when there is nothing to drop; keeps the journal bounded. */
	r = spool_compact(d->spool);
	if (r < 0)
		log_warn_errno(r, "spool: compaction failed, will retry");
	r = engine_compact(d->engine);
	if (r < 0)
		log_warn_errno(r, "incidents: compaction failed, will retry");
	engine_schedule(d); /* a group may have opened */
	spool_stats(d->spool, &st);
	metrics_gauge_set(d->m_depth, (double)st.pending);
	metrics_gauge_set(d->m_unwritten, (double)st.unwritten);
	if (st.unwritten == 0 && d->spool_error == 0)
		intake_kick(d->intake);
	daemon_check_idle(d);
}

/* ---- hooks ----------------------------------------------------------------
 */

/* An empty receive proves the queue drained only once every message that
 * an earlier process took has come back: one killed, or one whose last long
 * poll SQS answered after it left, leaves messages invisible for their
 * visibility timeout. Judging expectations before that would fire those
 * whose follow-ups wait in them. So the empty receive must have been sent
 * after that timeout (it ended at most a long poll and a second of SQS's
 * clock later). With the queue's own timeout (0) we do not know it and
 * assume SQS's default, 30 s. */
static bool
daemon_backlog_visible(const struct daemon *d)
{
	uint64_t vis = d->cfg->sqs.visibility_timeout_s;

	if (vis == 0)
		vis = DAEMON_QUEUE_VISIBILITY_S;
	vis += d->cfg->sqs.wait_time_s + 1;
	return now_us() - d->started_us >= vis * US_PER_S;
}

static void
notify_ready(size_t n, bool idle, void *arg)
{
	struct daemon *d = arg;
	const struct aws_creds *cr = creds_current(d->creds);

	UNUSED(n);
	if (idle && daemon_backlog_visible(d)) {
		/* Caught up: expectations may now fall due by the clock. */
		engine_caught_up(d->engine);
		engine_schedule(d);
	}
	if (d->ready_sent)
		return;
	d->ready_sent = true;
	(void)sd_notify(0, "READY=1\nSTATUS=receiving");
	/* Which provider, never the secret: what "access denied" needs. */
	log_notice("ready: receiving from %s with credentials from %s",
	    d->cfg->sqs.queue_url, cr != NULL ? cr->provider : "(none)");
}

static void
intake_scanned(void *arg)
{
	sync_request(arg);
}

static void
deliver_outcome(int64_t job, const char *dest, const struct sink_outcome *o,
    bool final, void *arg)
{
	struct daemon *d = arg;
	struct spool_stats st;
	struct timeval tv = clock_tv_ms(DAEMON_SPOOL_RETRY_MS);

	UNUSED(job);
	UNUSED(dest);
	if (!final)
		return;
	if (o->result != SINK_DELIVERED)
		daemon_error(d, "delivery failed");
	spool_stats(d->spool, &st);
	if (st.unwritten > 0 && !evtimer_pending(d->spool_timer, NULL))
		(void)evtimer_add(d->spool_timer, &tv);
}

static void
deliver_settled(void *arg)
{
	struct daemon *d = arg;

	/* Fewer alerts pending: receiving may resume. */
	intake_kick(d->intake);
	daemon_check_idle(d);
}

/* ---- loading ------------------------------------------------------------ */

static void
log_diags(const struct diag_list *dl, enum log_level l)
{
	char line[600];
	unsigned i;

	for (i = 0; i < dl->n; i++)
		log_msg(dl->items[i].warning ? LOG_LEVEL_WARNING : l, NULL, 0,
		    "%s", diag_format(&dl->items[i], line, sizeof(line)));
}

static int
daemon_load(const struct daemon_opts *o, struct cfg **ret_cfg,
    struct rules **ret_rules, enum log_level errlevel)
{
	const char *rules_path;
	struct diag_list dl;
	struct cfg *c = NULL;
	struct rules *rs = NULL;
	int r;

	memset(&dl, 0, sizeof(dl));
	r = cfg_load(o->config_path, &c, &dl);
	if (r < 0) {
		log_diags(&dl, errlevel);
		if (dl.n == 0)
			log_msg(errlevel, NULL, r, "%s", o->config_path);
		return r;
	}
	rules_path = o->rules_path ? o->rules_path : c->rules;
	memset(&dl, 0, sizeof(dl));
	r = rules_load(rules_path, false, &rs, &dl);
	if (r == 0)
		r = cfg_check_rules(c, rs, rules_path, &dl);
	if (r == 0)
		r = cfg_check_routes(c, rs, rules_path, &dl);
	log_diags(&dl, errlevel);
	if (r < 0) {
		if (dl.n == 0)
			log_msg(errlevel, NULL, r, "%s", rules_path);
		rules_free(rs);
		cfg_free(c);
		return r;
	}
	*ret_cfg = c;
	*ret_rules = rs;
	return 0;
}

/* ---- signals, reload, shutdown ------------------------------------------ */

static void
daemon_status(struct daemon *d)
{
	struct intake_stats is;
	struct spool_stats st;

	spool_stats(d->spool, &st);
	intake_stats(d->intake, &is);
	(void)sd_notifyf(0,
	    "STATUS=%s%s; %zu message(s) in work, alerts %llu spooled, %llu "
	    "pending%s%s",
	    d->draining     ? "stopping"
		: is.paused ? "receiving paused"
			    : "receiving",
	    is.recv_errors ? " (receive failing)" : "", is.in_work,
	    (unsigned long long)metrics_counter_value(d->m_spooled),
	    (unsigned long long)st.pending,
	    d->last_error[0] ? "; last error: " : "", d->last_error);
}

static void
status_cb(evutil_socket_t fd, short what, void *arg)
{
	UNUSED(fd);
	UNUSED(what);
	daemon_status(arg);
}

static void
watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	UNUSED(fd);
	UNUSED(what);
	UNUSED(arg);
	(void)sd_notify(0, "WATCHDOG=1");
}

static void
daemon_reload(struct daemon *d)
{
	struct cfg *c = NULL;
	struct rules *rs = NULL;
	struct diag dg;
	int r;

	(void)sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)now_us());
	log_notice("reloading %s", d->opts->config_path);
	memset(&dg, 0, sizeof(dg));
	r = daemon_load(d->opts, &c, &rs, LOG_LEVEL_ERR);
	if (r == 0) {
		r = deliver_configure(d->deliver, c, &dg);
		if (r < 0)
			log_err("%s", dg.msg);
	}
	if (r < 0) {
		log_err("reload failed, keeping the running configuration "
			"and rules");
		daemon_error(d, "reload failed, old configuration kept");
		rules_free(rs);
		cfg_free(c);
		(void)sd_notify(0, "READY=1");
		daemon_status(d);
		return;
	}
	if (strcmp(c->sqs.queue_url ? c->sqs.queue_url : "",
		d->cfg->sqs.queue_url ? d->cfg->sqs.queue_url : "") != 0 ||
	    strcmp(c->state_dir, d->cfg->state_dir) != 0 ||
	    memcmp(&c->windows, &d->cfg->windows, sizeof(c->windows)) != 0)
		log_notice("sqs.queue_url, state_dir and windows changes take "
			   "effect on restart");
	/* Queued deliveries finish on the sink they were queued for. */
	requests_reloaded(d, d->cfg, c);
	intake_set_cfg(d->intake, c);
	if (engine_set_rules(d->engine, rs, c->accounts, c->n_accounts) < 0)
		log_err("reload: out of memory for the account aliases; "
			"alerts go without them");
	rules_free(d->rules);
	d->rules = rs;
	cfg_free(d->cfg);
	d->cfg = c;
	if (!d->opts->log_level_given)
		log_set_level(c->log_level);
	d->last_error[0] = '\0';
	log_notice("reloaded: %zu rules, %zu destinations", rules_count(rs),
	    c->n_destinations);
	(void)sd_notify(0, "READY=1");
	daemon_status(d);
}

static void
daemon_check_idle(struct daemon *d)
{
	struct deliver_stats ds;

	if (!d->draining)
		return;
	deliver_stats(d->deliver, &ds);
	if (ds.in_flight > 0 || !intake_idle(d->intake))
		return;
	(void)event_base_loopexit(d->base, NULL);
}

/* The deadline passed with work in flight: say exactly what happens to it. */
static void
drain_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct deliver_stats ds;
	struct intake_stats is;

	UNUSED(fd);
	UNUSED(what);
	deliver_stats(d->deliver, &ds);
	intake_stats(d->intake, &is);
	log_warn("shutdown deadline reached: %zu delivery(ies) in flight stay "
		 "pending and are sent again at the next start (receivers "
		 "see the same X-Smtrail-Delivery-Id); %zu message(s) in work "
		 "come back from the queue and their alerts are deduplicated",
	    ds.in_flight, is.in_work);
	(void)event_base_loopexit(d->base, NULL);
}

static void
daemon_stop(struct daemon *d, const char *why)
{
	struct timeval tv = clock_tv_us(DAEMON_DRAIN_US);

	if (d->draining)
		return;
	log_notice("%s: stopping (finishing work in flight)", why);
	(void)sd_notify(0, "STOPPING=1\nSTATUS=stopping");
	d->draining = true;
	intake_stop(d->intake);
	deliver_stop(d->deliver);
	(void)evtimer_add(d->drain_timer, &tv);
	daemon_check_idle(d);
}

static void
sig_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	UNUSED(what);
	if (sig == SIGHUP)
		daemon_reload(d);
	else
		daemon_stop(d, sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* ---- setup and teardown -------------------------------------------------- */

static int
daemon_metrics(struct daemon *d)
{
	int r;

	r = metrics_new(&d->metrics);
	if (r < 0)
		return r;
	d->m_spooled =
	    metrics_counter(d->metrics, "smtrail_alerts_spooled_total",
		"Alerts written to the spool.", NULL, NULL);
	d->m_dedup =
	    metrics_counter(d->metrics, "smtrail_alerts_deduplicated_total",
		"Alerts not sent again: already in the spool's memory.", NULL,
		NULL);
	d->m_undeliverable =
	    metrics_counter(d->metrics, "smtrail_alerts_failed_total",
		"Alerts given up on.", "destination", "(none)");
	d->m_depth = metrics_gauge(d->metrics, "smtrail_spool_depth",
	    "Alerts waiting for delivery.", NULL, NULL);
	d->m_unwritten =
	    metrics_gauge(d->metrics, "smtrail_spool_unwritten_outcomes",
		"Delivery outcomes held in memory: the spool could not write "
		"them yet.",
		NULL, NULL);
	return metrics_status(d->metrics);
}

static int
daemon_health(struct buf *out, void *arg)
{
	struct daemon *d = arg;
	struct spool_stats st;
	int r;

	spool_stats(d->spool, &st);
	if (st.unwritten > 0)
		return buf_printf(out,
			   "the spool cannot be written: %llu delivery "
			   "outcome(s) held in memory\n",
			   (unsigned long long)st.unwritten) < 0
		    ? -ENOMEM
		    : -EIO;
	if (d->spool_error != 0)
		return buf_printf(out, "the spool cannot be written: %s\n",
			   strerror(-d->spool_error)) < 0
		    ? -ENOMEM
		    : -EIO;
	r = intake_health(d->intake, out);
	return r;
}

static int
daemon_setup(struct daemon *d)
{
	struct http_opts ho;
	struct creds_opts co;
	struct aws_opts ao;
	struct sqs_endpoint se;
	struct spool_opts so;
	struct intake_hooks ih;
	struct deliver_hooks dh;
	struct engine_opts eo;
	struct engine_hooks eh;
	struct diag dg;
	uint64_t wd_usec = 0;
	int r;

	memset(&dg, 0, sizeof(dg));
	if (d->cfg->sqs.queue_url == NULL) {
		log_err("%s: sqs.queue_url is not set: nothing to receive from",
		    d->opts->config_path);
		return -EINVAL;
	}
	ho = (struct http_opts){.ca_file = d->cfg->http.ca_file,
	    .ca_path = d->cfg->http.ca_path};
	r = http_new(d->base, &ho, &d->http);
	if (r < 0)
		return log_err_errno(r, "cannot start the HTTP client");
	co = (struct creds_opts){.profile = d->cfg->aws.profile,
	    .region = d->cfg->aws.region,
	    .endpoint_url = d->cfg->aws.endpoint_url,
	    .role_arn = d->cfg->aws.role_arn,
	    .external_id = d->cfg->aws.external_id,
	    .role_session_name = d->cfg->aws.role_session_name};
	r = creds_new(d->base, d->http, &co, &d->creds);
	if (r < 0)
		return log_err_errno(r, "cannot set up credentials");
	ao = (struct aws_opts){.region = d->cfg->aws.region,
	    .profile = d->cfg->aws.profile,
	    .endpoint_url = d->cfg->aws.endpoint_url};
	r = aws_new(d->base, d->http, d->creds, &ao, &d->aws, &dg);
	if (r == 0)
		r = sqs_queue_endpoint(d->aws, d->cfg->sqs.queue_url, &se, &dg);
	if (r < 0) {
		log_err("%s", dg.msg);
		return r;
	}
	if (aws_region(d->aws) != NULL && se.url_region[0] != '\0' &&
	    strcmp(aws_region(d->aws), se.url_region) != 0)
		log_warn("the region configured, %s, is not the queue's, %s: "
			 "SQS calls are signed for %s (the queue URL's)",
		    aws_region(d->aws), se.url_region, se.url_region);
	r = sns_verifier_new(d->base, d->http, d->cfg->sns.cert_url_pattern,
	    &d->sns, &dg);
	if (r < 0) {
		log_err("sns: %s", dg.msg);
		return r;
	}
	if (mkdir(d->cfg->state_dir, 0700) < 0 && errno != EEXIST)
		return log_err_errno(-errno, "cannot create %s",
		    d->cfg->state_dir);
	memset(&so, 0, sizeof(so));
	so.max_pending = d->cfg->spool.max_pending;
	r = spool_open(d->cfg->state_dir, &so, &d->spool, &dg);
	if (r < 0) {
		char line[600];

		log_err("spool: %s", diag_format(&dg, line, sizeof(line)));
		return r;
	}
	r = spoolcmd_init(d->cfg->state_dir);
	if (r < 0)
		log_warn_errno(r,
		    "spool: cannot create %s/%s; smtrail spool "
		    "retry and purge cannot reach this daemon",
		    d->cfg->state_dir, SPOOLCMD_DIR);
	r = daemon_metrics(d);
	if (r < 0)
		return log_err_errno(r, "metrics");
	eo = (struct engine_opts){.state_dir = d->cfg->state_dir,
	    .wall_clock = true,
	    .metrics = d->metrics,
	    .late_s = d->cfg->windows.late_s,
	    .max_keys = d->cfg->windows.max_keys,
	    .max_bytes = d->cfg->windows.max_bytes,
	    .accounts = d->cfg->accounts,
	    .n_accounts = d->cfg->n_accounts};
	eh = (struct engine_hooks){.alert = daemon_keep,
	    .seen = daemon_seen,
	    .sync = daemon_sync_spool,
	    .arg = d};
	r = engine_open(d->rules, &eo, &eh, &d->engine, &dg);
	if (r < 0) {
		char line[600];

		log_err("incidents: %s", diag_format(&dg, line, sizeof(line)));
		return r;
	}
	dh = (struct deliver_hooks){.outcome = deliver_outcome,
	    .settled = deliver_settled,
	    .arg = d};
	r = deliver_new(d->base, d->http, d->spool, d->metrics, &dh,
	    &d->deliver);
	if (r < 0)
		return log_err_errno(r, "cannot set up delivery");
	r = deliver_configure(d->deliver, d->cfg, &dg);
	if (r < 0) {
		log_err("%s", dg.msg);
		return r;
	}
	ih = (struct intake_hooks){.record = daemon_record,
	    .scanned = intake_scanned,
	    .pause = daemon_pause,
	    .received = notify_ready,
	    .arg = d};
	r = intake_new(d->base, d->aws, d->sns, d->http, d->metrics, d->cfg,
	    &ih, &d->intake);
	if (r < 0)
		return log_err_errno(r, "cannot set up the intake");
	r = metrics_status(d->metrics);
	if (r < 0)
		return log_err_errno(r, "metrics");
	if (d->cfg->metrics.listen != NULL) {
		r = metrics_listen(d->metrics, d->base, d->cfg->metrics.listen,
		    daemon_health, d, &dg);
		if (r < 0) {
			log_err("metrics: %s", dg.msg);
			return r;
		}
		log_notice("metrics on http://%s%s%s:%d/metrics",
		    strchr(d->cfg->metrics.host, ':') ? "[" : "",
		    d->cfg->metrics.host,
		    strchr(d->cfg->metrics.host, ':') ? "]" : "",
		    metrics_port(d->metrics));
	}
	log_notice("region %s, SQS %s (%s), S3 %s%s",
	    aws_region(d->aws) != NULL ? aws_region(d->aws) : "none", se.url,
	    se.region, aws_endpoint(d->aws, "s3"),
	    aws_s3_path_style(d->aws) ? " (path-style)"
				      : " (bucket regions learnt)");
	d->sync_ev = event_new(d->base, -1, 0, sync_cb, d);
	d->engine_timer = evtimer_new(d->base, engine_timer_cb, d);
	d->spool_timer = evtimer_new(d->base, spool_timer_cb, d);
	d->requests_timer =
	    event_new(d->base, -1, EV_PERSIST, requests_timer_cb, d);
	d->drain_timer = evtimer_new(d->base, drain_timeout_cb, d);
	d->sig_term = evsignal_new(d->base, SIGTERM, sig_cb, d);
	d->sig_int = evsignal_new(d->base, SIGINT, sig_cb, d);
	d->sig_hup = evsignal_new(d->base, SIGHUP, sig_cb, d);
	d->status_timer = event_new(d->base, -1, EV_PERSIST, status_cb, d);
	if (d->sync_ev == NULL || d->engine_timer == NULL ||
	    d->spool_timer == NULL || d->drain_timer == NULL ||
	    d->requests_timer == NULL || d->sig_term == NULL ||
	    d->sig_int == NULL || d->sig_hup == NULL || d->status_timer == NULL)
		return -ENOMEM;
	(void)event_add(d->sig_term, NULL);
	(void)event_add(d->sig_int, NULL);
	(void)event_add(d->sig_hup, NULL);
	{
		struct timeval tv = clock_tv_ms(5 * MS_PER_S);

		(void)event_add(d->status_timer, &tv);
		tv = clock_tv_ms(SPOOLCMD_TICK_MS);
		(void)event_add(d->requests_timer, &tv);
	}
	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
		struct timeval tv = clock_tv_us(wd_usec / 2);

		d->watchdog =
		    event_new(d->base, -1, EV_PERSIST, watchdog_cb, d);
		if (d->watchdog != NULL)
			(void)event_add(d->watchdog, &tv);
	}
	/* Failed deliveries whose destination was changed meanwhile, then
	 * alerts a previous run spooled but did not deliver, go out first. */
	r = deliver_retry_changed(d->deliver);
	if (r < 0)
		log_warn_errno(r,
		    "spool: cannot retry the failed deliveries "
		    "whose destination changed");
	else if (r > 0)
		log_notice("spool: %d failed delivery(ies) re-queued: their "
			   "destination changed since they failed",
		    r);
	r = deliver_queue(d->deliver, 1);
	if (r < 0)
		return log_err_errno(r, "spool: cannot resend pending alerts");
	{
		struct deliver_stats ds;

		deliver_stats(d->deliver, &ds);
		if (ds.queued > 0)
			log_notice("resending %zu pending deliveries from the "
				   "spool",
			    ds.queued);
	}
	engine_schedule(d); /* groups a previous run held */
	return 0;
}

static void
daemon_teardown(struct daemon *d)
{
	intake_free(d->intake);
	deliver_free(d->deliver);
	if (d->spool != NULL) {
		struct spool_stats st;
		int r = spool_sync(d->spool);

		if (r < 0)
			log_err_errno(r, "spool: final sync failed");
		spool_stats(d->spool, &st);
		if (st.unwritten > 0)
			log_err("spool: %llu delivery outcome(s) could not be "
				"written; those alerts will be sent again at "
				"the next start",
			    (unsigned long long)st.unwritten);
	}
	if (d->engine != NULL) {
		int r = engine_sync(d->engine);

		if (r < 0)
			log_err_errno(r, "incidents: final sync failed");
	}
	engine_free(d->engine);
	if (d->engine_timer)
		event_free(d->engine_timer);
	spool_free(d->spool);
	sns_verifier_free(d->sns);
	aws_free(d->aws);
	creds_free(d->creds);
	http_free(d->http);
	metrics_free(d->metrics);
	if (d->sync_ev)
		event_free(d->sync_ev);
	if (d->spool_timer)
		event_free(d->spool_timer);
	if (d->requests_timer)
		event_free(d->requests_timer);
	if (d->drain_timer)
		event_free(d->drain_timer);
	if (d->sig_term)
		event_free(d->sig_term);
	if (d->sig_int)
		event_free(d->sig_int);
	if (d->sig_hup)
		event_free(d->sig_hup);
	if (d->status_timer)
		event_free(d->status_timer);
	if (d->watchdog)
		event_free(d->watchdog);
	rules_free(d->rules);
	cfg_free(d->cfg);
	if (d->base)
		event_base_free(d->base);
}

int
daemon_run(const struct daemon_opts *o)
{
	struct daemon d;
	int r;

	memset(&d, 0, sizeof(d));
	d.opts = o;
	r = daemon_load(o, &d.cfg, &d.rules, LOG_LEVEL_ERR);
	if (r < 0)
		return 2;
	if (!o->log_level_given)
		log_set_level(d.cfg->log_level);
	(void)signal(SIGPIPE, SIG_IGN);
	d.base = http_base_new();
	if (d.base == NULL) {
		daemon_teardown(&d);
		return 1;
	}
	r = daemon_setup(&d);
	if (r < 0) {
		daemon_teardown(&d);
		return r == -EINVAL ? 2 : 1;
	}
	log_notice("started: %zu rules, %zu destinations, state in %s",
	    rules_count(d.rules), d.cfg->n_destinations, d.cfg->state_dir);
	d.started_us = now_us();
	intake_start(d.intake);
	(void)event_base_dispatch(d.base);
	log_notice("stopped");
	r = d.exit_status;
	daemon_teardown(&d);
	return r;
}
