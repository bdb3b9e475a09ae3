/*
 * daemon.c: see daemon.h. The daemon wires the stages together and keeps
 * what no stage owns:
 *
 *   intake.c   SQS messages -> records (receive, notification, SNS check,
 *              S3 objects, scan), its message state machine, backpressure
 *   lookup.c   CloudTrail LookupEvents -> records, per region (with, or
 *              instead of, the intake: d->intake is NULL without a queue)
 *   engine.c   records -> alerts (rules, throttle, groups, resolves);
 *              daemon_keep routes each alert and spools it
 *   sync_*     group commit: one fsync per loop pass, then the intake
 *              deletes what is durable and deliver.c sends it
 *   deliver.c  spool -> sinks, retried to a deadline
 *   spool_*    what to do while the spool cannot be written
 *   health_*   /healthz: the state dir probed, deliveries failing
 *   queue_*    the queue's backlog, read for the metrics
 *   requests_* `smtrail spool retry|purge` while we hold the spool, and
 *              failed deliveries retried when a reload changes their
 *              destination
 *   sig_*, reload_*, notify_*: systemd and signals
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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
#include "commit.h" /* SMTRAIL_COMMIT, made by make */
#include "daemon.h"
#include "deliver.h"
#include "diag.h"
#include "http.h"
#include "engine.h"
#include "intake.h"
#include "log.h"
#include "lookup.h"
#include "metrics.h"
#include "rules.h"
#include "secret.h"
#include "sink.h"
#include "spool.h"
#include "trail.h"
#include "spoolcmd.h"

/* How long SIGTERM waits for work in flight. */
#define DAEMON_DRAIN_US (25 * US_PER_S)
/* While the spool cannot be written: how often to try again, and how
 * long receiving waits after a failed append before it tries again. */
#define DAEMON_SPOOL_RETRY_MS 1000
#define DAEMON_SPOOL_PAUSE_US (5 * US_PER_S)
/* SQS's default visibility timeout, for sqs.visibility_timeout: 0. */
#define DAEMON_QUEUE_VISIBILITY_S 30
/* How often /healthz's probe writes to the state dir, and how much: a
 * page, so that a full file system says so even when the journal's last
 * page still has room. */
#define DAEMON_PROBE_MS 5000
#define DAEMON_PROBE_BYTES 4096
#define DAEMON_PROBE_FILE ".healthz-probe"

/* smtrail_queue_messages{state}: GetQueueAttributes' names, in order. */
static const char *const daemon_queue_attrs[] = {"ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed"};
static const char *const daemon_queue_states[] = {"visible", "not_visible",
    "delayed"};

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
	struct intake *intake; /* NULL: no queue (lookup only) */
	struct lookup *lookup; /* NULL: no lookup section */
	bool lookup_ready;     /* a lookup window was read */
	struct deliver *deliver;
	bool received;       /* a ReceiveMessage succeeded */
	uint64_t started_us; /* when this process began receiving */

	struct event *sync_ev; /* deferred group commit */
	int64_t first_new_job; /* spooled since the last sync; 0: none */

	int spool_error;              /* last append failure; 0: writable */
	uint64_t spool_error_us;      /* when */
	struct event *spool_timer;    /* retries held outcomes, probes */
	struct event *requests_timer; /* spool commands' requests */
	char pause_why[128];

	struct event *health_timer; /* probes the state dir */
	int probe_error;            /* the last probe's; 0: it wrote */

	char *queue_url;           /* the one the intake receives from */
	struct event *queue_timer; /* GetQueueAttributes */
	struct aws_op *queue_op;
	bool queue_failing;

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
	struct metrics_gauge *m_failed_deliveries;
	struct metrics_gauge *m_unwritten;
	struct metrics_gauge *m_writable;
	struct metrics_counter *m_reloads[2]; /* failure, success */
	struct metrics_gauge *m_reload_ok;
	struct metrics_gauge *m_reload_time;
	struct metrics_gauge *m_queue[ARRAY_SIZE(daemon_queue_attrs)];
	struct metrics_gauge *m_queue_time;
	struct metrics_gauge *m_build;
};

static void engine_schedule(struct daemon *d);
static void daemon_check_idle(struct daemon *d);
static void daemon_status(struct daemon *d);
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
		lookup_stop(d->lookup);
		deliver_stop(d->deliver);
		daemon_check_idle(d);
		return;
	}
	intake_synced(d->intake);
	lookup_synced(d->lookup);
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

/* A successful receive. READY=1 went out at the start (daemon_run); the
 * first receive says so in the log (tests wait for "ready: receiving") and
 * in STATUS=. */
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
	if (d->received)
		return;
	d->received = true;
	daemon_status(d);
	/* Which provider, never the secret: what "access denied" needs. */
	log_notice("ready: receiving from %s with credentials from %s",
	    d->cfg->sqs.queue_url, cr != NULL ? cr->provider : "(none)");
}

static void
intake_scanned(void *arg)
{
	sync_request(arg);
}

/* A lookup window is checkpointed. Without a queue, the lookup says when
 * the daemon has caught up (every region read up to the present). */
static void
lookup_polled(bool caught_up, void *arg)
{
	struct daemon *d = arg;
	const struct aws_creds *cr = creds_current(d->creds);
	size_t i;
	char regions[256] = "";

	if (caught_up && d->intake == NULL) {
		engine_caught_up(d->engine);
		engine_schedule(d);
	}
	if (d->lookup_ready)
		return;
	d->lookup_ready = true;
	daemon_status(d);
	for (i = 0; i < d->cfg->lookup.n_regions; i++)
		(void)snprintf(regions + strlen(regions),
		    sizeof(regions) - strlen(regions), "%s%s",
		    i > 0 ? ", " : "", d->cfg->lookup.regions[i]);
	log_notice("ready: receiving from CloudTrail LookupEvents in %s with "
		   "credentials from %s",
	    regions, cr != NULL ? cr->provider : "(none)");
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

/* ---- health: the state dir ----------------------------------------------- */

/*
 * Whether the state dir takes a page now: a scratch file written and
 * removed. The spool learns of a full disk only when it appends; this
 * tells /healthz before an alert has to wait for it. Blocks for one small
 * write, every DAEMON_PROBE_MS.
 */
static int
health_probe(const struct daemon *d)
{
	static const char zero[DAEMON_PROBE_BYTES];
	char path[4096];
	ssize_t n;
	int fd;
	int r = 0;

	if (snprintf(path, sizeof(path), "%s/%s", d->cfg->state_dir,
		DAEMON_PROBE_FILE) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd < 0)
		return -errno;
	n = write(fd, zero, sizeof(zero));
	if (n < 0)
		r = -errno;
	else if ((size_t)n < sizeof(zero))
		r = -ENOSPC;
	if (close(fd) != 0 && r == 0)
		r = -errno;
	/* Removed every time: a file kept would free its page at the next
	 * O_TRUNC and so always find room. */
	if (unlink(path) != 0 && r == 0)
		r = -errno;
	return r;
}

static void
health_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	int r;

	UNUSED(fd);
	UNUSED(what);
	r = health_probe(d);
	if (r < 0 && d->probe_error == 0)
		log_err_errno(r,
		    "%s: a test write failed; /healthz says the spool cannot "
		    "be written until one works",
		    d->cfg->state_dir);
	else if (r == 0 && d->probe_error != 0)
		log_notice("%s: writable again", d->cfg->state_dir);
	d->probe_error = r;
}

/* ---- the queue's backlog, for the metrics ------------------------------- */

static void queue_schedule(struct daemon *d);

static void
queue_attrs_done(const struct aws_result *res, struct json_object *attrs,
    void *arg)
{
	struct daemon *d = arg;
	struct json_object *v;
	size_t i;

	d->queue_op = NULL;
	if (res->error != 0 || attrs == NULL) {
		if (!d->queue_failing)
			log_warn(
			    "GetQueueAttributes failed: %s%s%s (%s); the "
			    "smtrail_queue_messages gauges keep their last "
			    "values, retrying every %us",
			    res->code, res->code[0] ? ": " : "", res->message,
			    res->error != 0 ? strerror(-res->error)
					    : "no Attributes",
			    d->cfg->metrics.queue_interval_s);
		d->queue_failing = true;
		queue_schedule(d);
		return;
	}
	if (d->queue_failing)
		log_notice("GetQueueAttributes works again");
	d->queue_failing = false;
	for (i = 0; i < ARRAY_SIZE(daemon_queue_attrs); i++) {
		const char *t;

		/* SQS sends the numbers as strings. */
		if (!json_object_object_get_ex(attrs, daemon_queue_attrs[i],
			&v))
			continue;
		t = json_object_get_string(v);
		if (t != NULL)
			metrics_gauge_set(d->m_queue[i], strtod(t, NULL));
	}
	metrics_gauge_set(d->m_queue_time, (double)time(NULL));
	queue_schedule(d);
}

static void
queue_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	int r;

	UNUSED(fd);
	UNUSED(what);
	if (d->queue_op != NULL || d->draining)
		return;
	r = sqs_get_queue_attributes(d->aws, d->queue_url, daemon_queue_attrs,
	    ARRAY_SIZE(daemon_queue_attrs), queue_attrs_done, d, &d->queue_op);
	if (r < 0) {
		log_warn_errno(r, "cannot start GetQueueAttributes");
		queue_schedule(d);
	}
}

/* The next read, queue_interval from now (a reload may change it; 0:
 * none). */
static void
queue_schedule(struct daemon *d)
{
	struct timeval tv;

	if (d->draining || d->cfg->metrics.queue_interval_s == 0 ||
	    d->intake == NULL || evtimer_pending(d->queue_timer, NULL))
		return;
	tv = clock_tv_ms((uint64_t)d->cfg->metrics.queue_interval_s * MS_PER_S);
	(void)evtimer_add(d->queue_timer, &tv);
}

static void
queue_stop(struct daemon *d)
{
	if (d->queue_timer != NULL)
		(void)evtimer_del(d->queue_timer);
	aws_call_cancel(d->queue_op);
	d->queue_op = NULL;
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
	struct lookup_stats ls;
	struct spool_stats st;

	char why[200] = "";
	char lk[200] = "";

	spool_stats(d->spool, &st);
	intake_stats(d->intake, &is);
	lookup_stats(d->lookup, &ls);
	if (ls.failing > 0)
		(void)snprintf(lk, sizeof(lk),
		    "; lookup: %zu region(s), %zu failing: %s", ls.regions,
		    ls.failing, ls.last_error);
	else if (ls.regions > 0)
		(void)snprintf(lk, sizeof(lk), "; lookup: %zu region(s)%s",
		    ls.regions,
		    d->lookup_ready ? "" : ", first window in flight");
	/* Started but not receiving: this line is where an operator sees
	 * why (the unit is active since the start, see daemon_run). */
	if (is.recv_errors > 0)
		(void)snprintf(why, sizeof(why),
		    " (receive failing, %u in a row: %s)", is.recv_errors,
		    is.last_error);
	else if (!d->received && d->intake != NULL)
		(void)snprintf(why, sizeof(why), " (first receive in flight)");
	(void)sd_notifyf(0,
	    "STATUS=%s%s; %zu message(s) in work%s, alerts %llu spooled, %llu "
	    "pending%s%s",
	    d->draining     ? "stopping"
		: is.paused ? "receiving paused"
			    : "receiving",
	    why, is.in_work, lk,
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

static bool
daemon_same_regions(const struct cfg *a, const struct cfg *b)
{
	size_t i;

	if (a->lookup.n_regions != b->lookup.n_regions)
		return false;
	for (i = 0; i < a->lookup.n_regions; i++)
		if (strcmp(a->lookup.regions[i], b->lookup.regions[i]) != 0)
			return false;
	return true;
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
		metrics_inc(d->m_reloads[0], 1);
		metrics_gauge_set(d->m_reload_ok, 0);
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
	    memcmp(&c->windows, &d->cfg->windows, sizeof(c->windows)) != 0 ||
	    !daemon_same_regions(c, d->cfg))
		log_notice(
		    "sqs.queue_url, lookup.regions, state_dir and windows "
		    "changes take effect on restart");
	/* Queued deliveries finish on the sink they were queued for. */
	requests_reloaded(d, d->cfg, c);
	intake_set_cfg(d->intake, c);
	lookup_set_cfg(d->lookup, c);
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
	metrics_inc(d->m_reloads[1], 1);
	metrics_gauge_set(d->m_reload_ok, 1);
	metrics_gauge_set(d->m_reload_time, (double)time(NULL));
	queue_schedule(d); /* metrics.queue_interval may have been 0 */
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
	if (ds.in_flight > 0 || !intake_idle(d->intake) ||
	    !lookup_idle(d->lookup))
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
	lookup_stop(d->lookup);
	deliver_stop(d->deliver);
	queue_stop(d);
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
	const char *build[] = {"version", PACKAGE_VERSION, "commit",
	    SMTRAIL_COMMIT, "inflater", trail_inflater(), "kernel",
	    trail_kernel_str(trail_kernel_best())};
	struct metrics *m;
	size_t i;
	int r;

	r = metrics_new(&d->metrics);
	if (r < 0)
		return r;
	m = d->metrics;
	d->m_spooled = metrics_counter(m, "smtrail_alerts_spooled_total",
	    "Alerts written to the spool.", NULL, NULL);
	d->m_dedup = metrics_counter(m, "smtrail_alerts_deduplicated_total",
	    "Alerts not sent again: already in the spool's memory.", NULL,
	    NULL);
	d->m_undeliverable = metrics_counter(m, "smtrail_alerts_failed_total",
	    "Alerts given up on.", "destination", "(none)");
	d->m_depth = metrics_gauge(m, "smtrail_spool_depth",
	    "Alerts awaiting delivery to at least one destination.", NULL,
	    NULL);
	d->m_failed_deliveries =
	    metrics_gauge(m, "smtrail_spool_failed_deliveries",
		"Deliveries (alert, destination) given up on and kept in the "
		"spool.",
		NULL, NULL);
	d->m_unwritten = metrics_gauge(m, "smtrail_spool_unwritten_outcomes",
	    "Delivery outcomes held in memory: the spool could not write "
	    "them yet.",
	    NULL, NULL);
	d->m_writable = metrics_gauge(m, "smtrail_spool_writable",
	    "0 while the spool cannot be written (what /healthz says), else "
	    "1.",
	    NULL, NULL);
	for (i = 0; i < 2; i++)
		d->m_reloads[i] =
		    metrics_counter(m, "smtrail_config_reloads_total",
			"Reloads (SIGHUP) of the configuration and rules.",
			"result", i == 0 ? "failure" : "success");
	d->m_reload_ok =
	    metrics_gauge(m, "smtrail_config_last_reload_successful",
		"1 if the last load of the configuration and rules (start or "
		"reload) succeeded, 0 if the last reload failed.",
		NULL, NULL);
	d->m_reload_time = metrics_gauge(m,
	    "smtrail_config_last_reload_success_timestamp_seconds",
	    "When the configuration and rules were last loaded successfully.",
	    NULL, NULL);
	for (i = 0; i < ARRAY_SIZE(daemon_queue_states); i++)
		d->m_queue[i] = metrics_gauge(m, "smtrail_queue_messages",
		    "The queue's approximate number of messages "
		    "(GetQueueAttributes), by state.",
		    "state", daemon_queue_states[i]);
	d->m_queue_time =
	    metrics_gauge(m, "smtrail_queue_attributes_timestamp_seconds",
		"When smtrail_queue_messages was last read.", NULL, NULL);
	d->m_build = metrics_info(m, "smtrail_build_info",
	    "The running build: version, git commit, inflater, scan kernel.",
	    build, ARRAY_SIZE(build) / 2);
	metrics_gauge_set(d->m_reload_ok, 1);
	metrics_gauge_set(d->m_reload_time, (double)time(NULL));
	return metrics_status(m);
}

/* Why the spool cannot be written, into out; 0: it can. */
static int
daemon_spool_trouble(const struct daemon *d, struct buf *out)
{
	struct spool_stats st;

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
	if (d->probe_error != 0)
		return buf_printf(out,
			   "the spool cannot be written: a test write to %s "
			   "failed: %s\n",
			   d->cfg->state_dir, strerror(-d->probe_error)) < 0
		    ? -ENOMEM
		    : -EIO;
	return 0;
}

/* The gauges read at scrape time. */
static void
daemon_scrape(void *arg)
{
	struct daemon *d = arg;
	struct spool_stats st;

	spool_stats(d->spool, &st);
	metrics_gauge_set(d->m_depth, (double)st.pending);
	metrics_gauge_set(d->m_failed_deliveries, (double)st.failed);
	metrics_gauge_set(d->m_unwritten, (double)st.unwritten);
	metrics_gauge_set(d->m_writable,
	    st.unwritten == 0 && d->spool_error == 0 && d->probe_error == 0);
}

static int
daemon_health(struct buf *out, void *arg)
{
	struct daemon *d = arg;
	struct deliver_stats ds;
	uint64_t now = now_us();
	uint64_t bound =
	    (uint64_t)d->cfg->metrics.delivery_failing_s * US_PER_S;
	int r;

	r = daemon_spool_trouble(d, out);
	if (r != 0)
		return r;
	deliver_stats(d->deliver, &ds);
	if (ds.failing_since_us != 0 && now - ds.failing_since_us > bound)
		return buf_printf(out,
			   "deliveries to every destination failing for %llu "
			   "s (metrics.delivery_failing_after %u s)\n",
			   (unsigned long long)((now - ds.failing_since_us) /
			       US_PER_S),
			   d->cfg->metrics.delivery_failing_s) < 0
		    ? -ENOMEM
		    : -EIO;
	r = intake_health(d->intake, out);
	if (r < 0)
		return r;
	return lookup_health(d->lookup, out);
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
	struct lookup_hooks lh;
	struct deliver_hooks dh;
	struct engine_opts eo;
	struct engine_hooks eh;
	struct diag dg;
	uint64_t wd_usec = 0;
	int r;

	memset(&dg, 0, sizeof(dg));
	if (d->cfg->sqs.queue_url == NULL && d->cfg->lookup.n_regions == 0) {
		log_err("%s: neither sqs.queue_url nor lookup is set: nothing "
			"to receive from",
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
	memset(&se, 0, sizeof(se));
	r = aws_new(d->base, d->http, d->creds, &ao, &d->aws, &dg);
	if (r == 0 && d->cfg->sqs.queue_url != NULL)
		r = sqs_queue_endpoint(d->aws, d->cfg->sqs.queue_url, &se, &dg);
	if (r < 0) {
		log_err("%s", dg.msg);
		return r;
	}
	if (d->cfg->sqs.queue_url != NULL && aws_region(d->aws) != NULL &&
	    se.url_region[0] != '\0' &&
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
	r = d->cfg->sqs.queue_url == NULL
	    ? 0
	    : intake_new(d->base, d->aws, d->sns, d->http, d->metrics, d->cfg,
		  &ih, &d->intake);
	if (r < 0)
		return log_err_errno(r, "cannot set up the intake");
	lh = (struct lookup_hooks){.record = daemon_record,
	    .fed = intake_scanned,
	    .pause = daemon_pause,
	    .polled = lookup_polled,
	    .arg = d};
	if (d->cfg->lookup.n_regions > 0) {
		r = lookup_new(d->base, d->aws, d->metrics, d->cfg, &lh,
		    &d->lookup, &dg);
		if (r < 0) {
			char line[600];

			log_err("lookup: %s",
			    diag_format(&dg, line, sizeof(line)));
			return r;
		}
	}
	r = metrics_status(d->metrics);
	if (r < 0)
		return log_err_errno(r, "metrics");
	metrics_on_scrape(d->metrics, daemon_scrape, d);
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
	    aws_region(d->aws) != NULL ? aws_region(d->aws) : "none",
	    se.url[0] != '\0' ? se.url : "(none)",
	    se.region[0] != '\0' ? se.region : "-", aws_endpoint(d->aws, "s3"),
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
	d->health_timer =
	    event_new(d->base, -1, EV_PERSIST, health_timer_cb, d);
	d->queue_timer = evtimer_new(d->base, queue_timer_cb, d);
	d->queue_url =
	    strdup(d->cfg->sqs.queue_url != NULL ? d->cfg->sqs.queue_url : "");
	if (d->sync_ev == NULL || d->engine_timer == NULL ||
	    d->spool_timer == NULL || d->drain_timer == NULL ||
	    d->sig_term == NULL || d->sig_int == NULL || d->sig_hup == NULL ||
	    d->status_timer == NULL || d->health_timer == NULL ||
	    d->queue_timer == NULL || d->queue_url == NULL ||
	    d->requests_timer == NULL)
		return -ENOMEM;
	(void)event_add(d->sig_term, NULL);
	(void)event_add(d->sig_int, NULL);
	(void)event_add(d->sig_hup, NULL);
	{
		struct timeval tv = clock_tv_ms(5 * MS_PER_S);

		(void)event_add(d->status_timer, &tv);
		tv = clock_tv_ms(DAEMON_PROBE_MS);
		(void)event_add(d->health_timer, &tv);
		tv = clock_tv_ms(SPOOLCMD_TICK_MS);
		(void)event_add(d->requests_timer, &tv);
	}
	d->probe_error = health_probe(d);
	if (d->probe_error < 0)
		log_err_errno(d->probe_error,
		    "%s: a test write failed; /healthz says the spool cannot "
		    "be written until one works",
		    d->cfg->state_dir);
	if (d->cfg->metrics.queue_interval_s > 0 && d->intake != NULL)
		event_active(d->queue_timer, 0, 0); /* the first read now */
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
	queue_stop(d);
	free(d->queue_url);
	intake_free(d->intake);
	lookup_free(d->lookup);
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
	if (d->health_timer)
		event_free(d->health_timer);
	if (d->queue_timer)
		event_free(d->queue_timer);
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
	/* READY=1 now, with configuration, rules, destinations, the spool
	 * and the credential chain's settings loaded; AWS credentials
	 * themselves are resolved by the first request. Waiting for a
	 * receive instead (or an unbounded start timeout) would turn an
	 * outage of the network, IMDS or SQS at boot into a start that
	 * times out and a unit left "failed" (or "activating" for ever),
	 * paging nobody. Failures past this point are the running
	 * daemon's: STATUS=, /healthz (503) and the metrics report them,
	 * and receiving retries with backoff. */
	(void)sd_notify(0, "READY=1");
	intake_start(d.intake);
	lookup_start(d.lookup);
	daemon_status(&d);
	(void)event_base_dispatch(d.base);
	log_notice("stopped");
	r = d.exit_status;
	daemon_teardown(&d);
	return r;
}
