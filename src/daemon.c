/*
 * daemon.c: see daemon.h. The pieces, in the order data flows:
 *
 *   recv_*     one ReceiveMessage long poll at a time, with backoff
 *   msg_*      one SQS message: notification, SNS check, objects, spool,
 *              delete; its lifecycle is enum msg_state
 *   obj_*      one S3 object streamed through a scanner
 *   match_*    records against rules, alerts into the spool
 *   sync_*     group commit: one fsync per loop pass, then deletes and
 *              deliveries are released (nothing leaves before it is durable)
 *   dlv_*      deliveries from the spool to sinks, retried to a deadline
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

#include "alert.h"
#include "aws/aws.h"
#include "aws/creds.h"
#include "aws/s3.h"
#include "aws/sns.h"
#include "aws/sqs.h"
#include "backoff.h"
#include "buf.h"
#include "cfg.h"
#include "daemon.h"
#include "diag.h"
#include "http.h"
#include "incident.h"
#include "limits.h"
#include "log.h"
#include "metrics.h"
#include "notif.h"
#include "record.h"
#include "rules.h"
#include "secret.h"
#include "sink.h"
#include "spool.h"
#include "trail.h"

/* Objects fetched at once: S3 is fast, the scan is the cost. */
#define DAEMON_MAX_FETCHES 4
/* Deliveries in flight per destination. */
#define DAEMON_MAX_SENDS 4
/* How long SIGTERM waits for work in flight. */
#define DAEMON_DRAIN_US (25ull * 1000000)
/* Receive errors back off up to this. */
#define DAEMON_RECV_BACKOFF_CAP_MS 60000
/* Transient failures make a message visible again after this (at most). */
#define DAEMON_RETRY_VISIBILITY_S 30u
/* A message body quoted in a log line. */
#define DAEMON_LOG_BODY 200

enum msg_state {
	MSG_RECEIVED,
	MSG_VERIFYING,
	MSG_FETCHING,
	MSG_SCANNED, /* alerts appended, waiting for the fsync */
	MSG_SPOOLED, /* durable, waiting for DeleteMessageBatch */
	MSG_DELETING,
	MSG_DONE,   /* deleted */
	MSG_PARKED, /* failed: left for redelivery or the DLQ */
	MSG_STATE_COUNT
};

struct daemon;

struct msg {
	struct daemon *d;
	char *id;
	char *receipt;
	char *body;
	unsigned receive_count;
	enum msg_state state;
	struct notif *notif;
	size_t next_obj;   /* next object to start */
	unsigned fetching; /* objects in flight */
	size_t objs_done;
	int error;          /* first failure, < 0 */
	bool permanent;     /* that failure will not go away by retrying */
	const char *reason; /* metric label for the failure */
	uint64_t alerts;
	struct event *extend; /* visibility extension timer */
	struct aws_op *op;    /* visibility change in flight */
	struct msg *prev;
	struct msg *next;
};

struct obj {
	struct msg *m;
	struct daemon *d;
	const struct notif_object *o;
	struct trail *trail;
	struct aws_op *op;
	int scan_error;
	struct diag diag;
};

struct dsink {
	char *name;
	struct sink *sink;
	uint64_t deadline_us;
	unsigned in_flight;
	unsigned refs;          /* deliveries pointing at it */
	bool retired;           /* replaced by a reload */
	struct dlv *ready_head; /* waiting for a slot, FIFO */
	struct dlv *ready_tail;
	struct metrics_counter *m_delivered;
	struct metrics_counter *m_failed;
	struct dsink *next;
};

struct dlv {
	struct daemon *d;
	int64_t job;
	struct dsink *ds;
	unsigned attempt;
	uint64_t deadline_us;
	time_t event_time;                /* for the lag histogram; 0 unknown */
	char rule[SPOOL_MAX_RULE_ID + 1]; /* for the log */
	char event_id[SPOOL_MAX_EVENT_ID + 1];
	struct event *timer;
	struct dlv *next; /* in its sink's ready queue */
	struct dlv *all_prev;
	struct dlv *all_next;
};

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
	struct incident *incidents;
	struct event *incident_timer;
	struct metrics *metrics;
	struct trail *trails[DAEMON_MAX_FETCHES]; /* free scanners */
	size_t n_trails;

	struct aws_op *recv_op;
	struct event *recv_timer;
	unsigned recv_errors;
	bool ready_sent;

	struct msg *msgs;
	size_t n_msgs;
	unsigned fetching; /* objects in flight, all messages */

	struct event *sync_ev; /* deferred group commit */
	int64_t *new_jobs;     /* spooled since the last sync */
	size_t n_new_jobs;
	size_t cap_new_jobs;
	unsigned deletes_in_flight;

	struct dsink *sinks;
	struct dlv *dlvs; /* every delivery not yet finished */
	size_t n_dlvs;

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
	struct metrics_counter *m_received;
	struct metrics_counter *m_deleted;
	struct metrics_counter *m_fetched;
	struct metrics_counter *m_bytes;
	struct metrics_counter *m_records;
	struct metrics_counter *m_spooled;
	struct metrics_counter *m_dedup;
	struct metrics_counter *m_throttled;
	struct metrics_counter *m_held;
	struct metrics_gauge *m_depth;
	struct metrics_gauge *m_last_receive;
	struct metrics_histogram *m_lag;
};

static const char *
msg_state_str(enum msg_state s)
{
	switch (s) {
	case MSG_RECEIVED:
		return "received";
	case MSG_VERIFYING:
		return "verifying";
	case MSG_FETCHING:
		return "fetching";
	case MSG_SCANNED:
		return "scanned";
	case MSG_SPOOLED:
		return "spooled";
	case MSG_DELETING:
		return "deleting";
	case MSG_DONE:
		return "done";
	case MSG_PARKED:
		return "parked";
	case MSG_STATE_COUNT:
		break;
	}
	return "?";
}

static void recv_kick(struct daemon *d);
static void incident_schedule(struct daemon *d);
static void msg_step(struct msg *m);
static void dlv_pump(struct dsink *ds);
static void daemon_check_idle(struct daemon *d);

/* ---- small helpers ------------------------------------------------------ */

static void
daemon_error(struct daemon *d, const char *what)
{
	(void)snprintf(d->last_error, sizeof(d->last_error), "%s", what);
}

static struct metrics_counter *
daemon_counter(struct daemon *d, const char *name, const char *help,
    const char *label, const char *value)
{
	return metrics_counter(d->metrics, name, help, label, value);
}

static void
daemon_count(struct daemon *d, const char *name, const char *help,
    const char *label, const char *value)
{
	struct metrics_counter *c = daemon_counter(d, name, help, label, value);

	if (c != NULL)
		metrics_inc(c, 1);
}

static void
msg_ctx(const struct msg *m, struct log_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->message_id = m->id;
}

static void
msg_set_state(struct msg *m, enum msg_state s)
{
	struct log_ctx ctx;

	msg_ctx(m, &ctx);
	log_ctx_debug(&ctx, "message %s -> %s", msg_state_str(m->state),
	    msg_state_str(s));
	m->state = s;
}

/* ---- group commit ------------------------------------------------------- */

static void sync_cb(evutil_socket_t fd, short what, void *arg);

static void
sync_request(struct daemon *d)
{
	event_active(d->sync_ev, 0, 0);
}

static int
daemon_note_job(struct daemon *d, int64_t job)
{
	if (d->n_new_jobs == d->cap_new_jobs) {
		size_t cap = d->cap_new_jobs ? d->cap_new_jobs * 2 : 64;
		int64_t *p = realloc(d->new_jobs, cap * sizeof(*p));

		if (p == NULL)
			return -ENOMEM;
		d->new_jobs = p;
		d->cap_new_jobs = cap;
	}
	d->new_jobs[d->n_new_jobs++] = job;
	return 0;
}

/* ---- rules and alerts --------------------------------------------------- */

/* Spools one alert (JSON with the record) for rule_id's destinations and
 * queues its delivery after the next sync. -EEXIST: already spooled. */
static int
match_spool(struct daemon *d, const struct rule *rule, const char *event_id,
    const char *json, size_t len, const struct log_ctx *ctx)
{
	const char *dests[SPOOL_MAX_DESTS];
	int64_t job;
	size_t n;
	int r;

	if (rule != NULL)
		n = cfg_destinations(d->cfg, rule, dests, ARRAY_SIZE(dests));
	else /* a group of a rule removed by a reload */
		for (n = 0; n < d->cfg->n_default_destinations &&
		     n < ARRAY_SIZE(dests);
		     n++)
			dests[n] = d->cfg->default_destinations[n];
	if (n == 0) {
		log_ctx_warn(ctx,
		    "no destination is configured for this "
		    "alert, dropping it");
		daemon_count(d, "smtrail_alerts_failed_total",
		    "Alerts given up on.", "destination", "(none)");
		return 0;
	}
	job = spool_append_json(d->spool, ctx->rule, event_id, json, len, dests,
	    n);
	if (job == -EEXIST) {
		metrics_inc(d->m_dedup, 1);
		log_ctx_info(ctx, "duplicate alert, not sent again");
		return -EEXIST;
	}
	if (job < 0)
		return log_errno_at(LOG_LEVEL_ERR, ctx, (int)job,
		    "spool: cannot append the alert");
	r = daemon_note_job(d, job);
	if (r < 0)
		return r;
	metrics_inc(d->m_spooled, 1);
	log_ctx_info(ctx, "alert spooled for %zu destination(s)", n);
	sync_request(d);
	return 0;
}

/* Throttle, group, resolve (incident.c), then the spool. */
static int
match_alert(struct daemon *d, struct msg *m, const struct rule *rule,
    struct json_object *rec, bool resolve, struct log_ctx *ctx)
{
	char event_id[SPOOL_MAX_EVENT_ID + 16];
	struct incident_out out;
	struct alert a;
	struct buf json;
	int r;

	r = alert_build(rule, rec, &a);
	if (r < 0)
		return log_errno_at(LOG_LEVEL_ERR, ctx, r,
		    "cannot build the alert");
	buf_init(&json, ALERT_MAX_JSON + 2 * (size_t)TRAIL_MAX_RECORD);
	r = alert_json(&a, true, &json);
	if (r == -E2BIG) /* never lose an alert for its raw record */
		r = alert_json(&a, false, &json);
	/* A resolve is an alert of its own: never the trigger's duplicate. */
	(void)snprintf(event_id, sizeof(event_id), "%s%s",
	    a.event_id != NULL ? a.event_id : "", resolve ? "#resolved" : "");
	memset(&out, 0, sizeof(out));
	if (r == 0)
		r = resolve ? incident_resolve(d->incidents, rule, a.group,
				  a.event_id, json.data, json.len, &out)
			    : incident_trigger(d->incidents, rule, a.group,
				  a.event_id, json.data, json.len, &out);
	if (r == 1)
		log_ctx_warn(ctx, "incident state full: alert sent as is");
	if (r < 0) {
		log_ctx_err(ctx, "incident state: %s", strerror(-r));
	} else {
		r = 0;
		switch (out.verdict) {
		case INCIDENT_SEND:
			r = match_spool(d, rule,
			    event_id[0] != '\0' ? event_id : NULL,
			    out.alert_json != NULL ? out.alert_json : json.data,
			    out.alert_json != NULL ? out.len : json.len, ctx);
			if (r == -EEXIST)
				r = 0;
			else if (r == 0)
				m->alerts++;
			break;
		case INCIDENT_SUPPRESSED:
			if (!resolve) {
				metrics_inc(d->m_throttled, 1);
				log_ctx_info(ctx,
				    "throttled: counted, not sent");
			}
			break;
		case INCIDENT_HELD:
			metrics_inc(d->m_held, 1);
			log_ctx_info(ctx, "held for group_wait");
			incident_schedule(d);
			break;
		case INCIDENT_DUPLICATE:
			metrics_inc(d->m_dedup, 1);
			log_ctx_info(ctx, "duplicate match, not counted again");
			break;
		case INCIDENT_VERDICT_COUNT:
			break;
		}
	}
	incident_out_done(&out);
	buf_done(&json);
	alert_done(&a);
	return r;
}

/* One record, every rule. */
static int
match_record(struct daemon *d, struct msg *m, struct json_object *rec)
{
	struct log_ctx ctx;
	size_t i;
	int r;

	msg_ctx(m, &ctx);
	ctx.event_id = record_string(rec, "eventID");
	metrics_inc(d->m_records, 1);
	for (i = 0; i < rules_count(d->rules); i++) {
		const struct rule *rule = rules_get(d->rules, i);

		if (!rule->enabled)
			continue;
		ctx.rule = rule->id;
		if (rules_match_eval(rule->match, rec)) {
			daemon_count(d, "smtrail_matches_total",
			    "Records that matched a rule.", "rule", rule->id);
			if (ctx.event_id != NULL &&
			    spool_seen(d->spool, rule->id, ctx.event_id)) {
				metrics_inc(d->m_dedup, 1);
				log_ctx_info(&ctx,
				    "duplicate alert, not sent again");
				continue;
			}
			r = match_alert(d, m, rule, rec, false, &ctx);
			if (r < 0)
				return r;
		} else if (rule->resolve_on != NULL &&
		    rules_match_eval(rule->resolve_on, rec)) {
			r = match_alert(d, m, rule, rec, true, &ctx);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* ---- grouped alerts: due groups go to the spool -------------------------- */

static int
incident_emit(const char *rule_id, const char *group_key, const char *event_id,
    const char *json, size_t len, void *arg)
{
	struct daemon *d = arg;
	struct log_ctx ctx = {0};
	char id[SPOOL_MAX_EVENT_ID + 16];
	bool resolved = strstr(json, "\"status\":\"resolved\"") != NULL;
	int r;

	UNUSED(group_key);
	ctx.rule = rule_id;
	ctx.event_id = event_id;
	(void)snprintf(id, sizeof(id), "%s%s", event_id,
	    resolved ? "#resolved" : "");
	r = match_spool(d, rules_find(d->rules, rule_id), id, json, len, &ctx);
	return r == -EEXIST ? 0 : r;
}

static int
incident_sync_spool(void *arg)
{
	struct daemon *d = arg;

	return spool_sync(d->spool);
}

static void
incident_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	int r;

	UNUSED(fd);
	UNUSED(what);
	r = incident_flush_due(d->incidents, incident_emit, incident_sync_spool,
	    d);
	if (r < 0)
		log_warn_errno(r, "cannot emit grouped alerts, retrying");
	else if (r > 0)
		log_info("%d grouped alert(s) emitted", r);
	incident_schedule(d);
	sync_request(d);
}

/* Arms the timer for the next group due (at least 1 s away on errors). */
static void
incident_schedule(struct daemon *d)
{
	long due = incident_next_due_s(d->incidents);
	struct timeval tv = {0, 0};

	if (due < 0)
		return;
	tv.tv_sec = due;
	if (evtimer_pending(d->incident_timer, NULL))
		(void)evtimer_del(d->incident_timer);
	(void)evtimer_add(d->incident_timer, &tv);
}

/* ---- messages ----------------------------------------------------------- */

static void
msg_free(struct msg *m)
{
	struct daemon *d = m->d;

	if (m->prev != NULL)
		m->prev->next = m->next;
	else
		d->msgs = m->next;
	if (m->next != NULL)
		m->next->prev = m->prev;
	d->n_msgs--;
	if (m->extend != NULL)
		event_free(m->extend);
	aws_call_cancel(m->op);
	notif_free(m->notif);
	free(m->id);
	free(m->receipt);
	free(m->body);
	free(m);
}

static void
msg_fail(struct msg *m, int r, bool permanent, const char *reason)
{
	if (m->error != 0)
		return; /* the first failure is the one that counts */
	m->error = r;
	m->permanent = permanent;
	m->reason = reason;
}

static void
msg_visibility_done(const struct aws_result *res, const int *results, size_t n,
    void *arg)
{
	struct msg *m = arg;
	struct log_ctx ctx;

	UNUSED(n);
	m->op = NULL;
	msg_ctx(m, &ctx);
	if (res->error != 0 || results[0] != 0)
		log_ctx_warn(&ctx, "ChangeMessageVisibility failed: %s",
		    res->message[0] ? res->message : "entry refused");
	if (m->state == MSG_PARKED)
		msg_free(m);
}

static void
msg_set_visibility(struct msg *m, unsigned timeout_s)
{
	const char *h[1] = {m->receipt};
	int r;

	if (m->op != NULL)
		return;
	r = sqs_change_visibility_batch(m->d->aws, m->d->cfg->sqs.queue_url, h,
	    1, timeout_s, msg_visibility_done, m, &m->op);
	if (r < 0)
		log_warn_errno(r, "cannot change a message's visibility");
}

static void
msg_extend_cb(evutil_socket_t fd, short what, void *arg)
{
	struct msg *m = arg;
	struct timeval tv;
	unsigned vis = m->d->cfg->sqs.visibility_timeout_s;

	UNUSED(fd);
	UNUSED(what);
	if (m->state >= MSG_DONE || vis == 0)
		return;
	msg_set_visibility(m, vis);
	tv.tv_sec = vis / 2;
	tv.tv_usec = 0;
	(void)evtimer_add(m->extend, &tv);
}

/*
 * A message that failed: a permanent failure is left for the queue's
 * redrive policy (or cut off at max_receive_count and deleted); a transient
 * one comes back sooner than its visibility timeout would allow.
 */
static void msg_delete(struct msg *m);

static void
msg_park(struct msg *m)
{
	struct daemon *d = m->d;
	unsigned cut = d->cfg->sqs.max_receive_count;
	struct log_ctx ctx;
	char quoted[DAEMON_LOG_BODY + 16];

	msg_ctx(m, &ctx);
	daemon_count(d, "smtrail_messages_failed_total",
	    "Messages that could not be processed.", "reason", m->reason);
	daemon_error(d, m->reason);
	if (m->permanent && cut > 0 && m->receive_count >= cut) {
		log_ctx_err(&ctx,
		    "giving up after %u receives (%s: %s), deleting; body: '%s'",
		    m->receive_count, m->reason, strerror(-m->error),
		    log_quote(m->body, quoted, sizeof(quoted)));
		msg_delete(m);
		return;
	}
	if (m->permanent)
		log_ctx_warn(&ctx,
		    "cannot be processed (%s: %s), leaving it to the queue's "
		    "redrive policy (receive %u)",
		    m->reason, strerror(-m->error), m->receive_count);
	else
		log_ctx_warn(&ctx, "failed (%s: %s), retrying in about %us",
		    m->reason, strerror(-m->error), DAEMON_RETRY_VISIBILITY_S);
	msg_set_state(m, MSG_PARKED);
	if (!m->permanent) {
		msg_set_visibility(m,
		    (unsigned)(backoff_next_ms(m->receive_count, 2000,
				   DAEMON_RETRY_VISIBILITY_S * 1000) /
			1000));
		if (m->op != NULL)
			return; /* freed when the change is answered */
	}
	msg_free(m);
}

/* ---- deletes ------------------------------------------------------------ */

struct del_batch {
	struct daemon *d;
	char *ids[SQS_MAX_BATCH];
	size_t n;
};

static void
msg_delete_done(const struct aws_result *res, const int *results, size_t n,
    void *arg)
{
	struct del_batch *b = arg;
	struct daemon *d = b->d;
	size_t i;

	d->deletes_in_flight--;
	for (i = 0; i < n; i++) {
		struct log_ctx ctx = {.message_id = b->ids[i]};

		if (results[i] == 0) {
			metrics_inc(d->m_deleted, 1);
			log_ctx_info(&ctx, "message deleted");
		} else {
			log_ctx_warn(&ctx,
			    "DeleteMessageBatch failed (%s), it will be "
			    "received again and its alerts deduplicated",
			    res->message[0] ? res->message
					    : strerror(-results[i]));
		}
		free(b->ids[i]);
	}
	free(b);
	daemon_check_idle(d);
	recv_kick(d);
}

/* Deletes every message that is durable, ten at a time. */
static void
msg_flush_deletes(struct daemon *d)
{
	struct msg *m = d->msgs;

	while (m != NULL) {
		const char *handles[SQS_MAX_BATCH];
		struct del_batch *b = calloc(1, sizeof(*b));
		struct msg *next;
		int r;

		if (b == NULL)
			return;
		b->d = d;
		for (; m != NULL && b->n < SQS_MAX_BATCH; m = next) {
			next = m->next;
			if (m->state != MSG_SPOOLED)
				continue;
			handles[b->n] = m->receipt;
			b->ids[b->n++] = m->id;
			m->id = NULL;
			msg_set_state(m, MSG_DELETING);
		}
		if (b->n == 0) {
			free(b);
			return;
		}
		r = sqs_delete_batch(d->aws, d->cfg->sqs.queue_url, handles,
		    b->n, msg_delete_done, b, NULL);
		/* The handles were copied by the call: drop the messages. */
		for (struct msg *x = d->msgs, *nx; x != NULL; x = nx) {
			nx = x->next;
			if (x->state == MSG_DELETING) {
				x->state = MSG_DONE;
				msg_free(x);
			}
		}
		if (r < 0) {
			log_warn_errno(r, "cannot start DeleteMessageBatch");
			for (size_t i = 0; i < b->n; i++)
				free(b->ids[i]);
			free(b);
			continue;
		}
		d->deletes_in_flight++;
		m = d->msgs;
	}
}

/* Deleted at the next sync pass: freeing messages here could pull one out
 * from under a caller that is walking the list. */
static void
msg_delete(struct msg *m)
{
	msg_set_state(m, MSG_SPOOLED);
	sync_request(m->d);
}

/* ---- objects ------------------------------------------------------------ */

static int
obj_record(struct json_object *rec, struct span raw, void *arg)
{
	struct obj *ob = arg;

	UNUSED(raw);
	return match_record(ob->d, ob->m, rec);
}

static int
obj_data(const void *p, size_t len, void *arg)
{
	struct obj *ob = arg;
	int r;

	metrics_inc(ob->d->m_bytes, len);
	r = trail_feed(ob->trail, p, len, obj_record, ob, &ob->diag);
	if (r < 0)
		ob->scan_error = r;
	return r;
}

static void
obj_restart(void *arg)
{
	struct obj *ob = arg;

	trail_reset(ob->trail);
	ob->scan_error = 0;
}

static void
obj_finish(struct obj *ob)
{
	struct daemon *d = ob->d;
	struct msg *m = ob->m;

	if (d->n_trails < DAEMON_MAX_FETCHES)
		d->trails[d->n_trails++] = ob->trail;
	else
		trail_free(ob->trail);
	free(ob);
	d->fetching--;
	m->fetching--;
	m->objs_done++;
	msg_step(m);
}

static const char *
obj_reason(int r)
{
	switch (r) {
	case -ENOENT:
		return "object_missing";
	case -EACCES:
		return "object_denied";
	case -E2BIG:
		return "object_too_big";
	case -EBADMSG:
		return "object_malformed";
	default:
		return "object_fetch";
	}
}

static void
obj_done(const struct aws_result *res, void *arg)
{
	struct obj *ob = arg;
	struct log_ctx ctx;
	char msgbuf[600];
	int r = res->error;

	msg_ctx(ob->m, &ctx);
	ctx.bucket = ob->o->bucket;
	ctx.key = ob->o->key;
	if (r == 0 && ob->scan_error == 0)
		r = trail_finish(ob->trail, obj_record, ob, &ob->diag);
	else if (ob->scan_error != 0)
		r = ob->scan_error;
	if (r == 0) {
		const struct trail_stats *st = trail_stats(ob->trail);

		metrics_inc(ob->d->m_fetched, 1);
		log_ctx_info(&ctx,
		    "object scanned: %llu bytes, %llu records, %llu Secrets "
		    "Manager events",
		    (unsigned long long)st->bytes_in,
		    (unsigned long long)st->records,
		    (unsigned long long)st->matched);
	} else {
		bool permanent = r == -ENOENT || r == -EACCES || r == -E2BIG ||
		    r == -EBADMSG || r == -EPROTO;

		daemon_count(ob->d, "smtrail_objects_failed_total",
		    "Objects that could not be fetched or scanned.", "reason",
		    obj_reason(r));
		if (ob->scan_error != 0 || (res->error == 0 && r < 0))
			log_ctx_warn(&ctx, "object unreadable: %s",
			    diag_format(&ob->diag, msgbuf, sizeof(msgbuf)));
		else
			log_ctx_warn(&ctx, "GetObject failed: %s%s%s (%s)",
			    res->code, res->code[0] ? ": " : "", res->message,
			    strerror(-r));
		msg_fail(ob->m, r, permanent, obj_reason(r));
	}
	ob->op = NULL;
	obj_finish(ob);
}

static int
obj_start(struct msg *m, const struct notif_object *o)
{
	struct daemon *d = m->d;
	struct s3_get_opts so;
	struct obj *ob;
	int r;

	ob = calloc(1, sizeof(*ob));
	if (ob == NULL)
		return -ENOMEM;
	ob->m = m;
	ob->d = d;
	ob->o = o;
	if (d->n_trails > 0) {
		ob->trail = d->trails[--d->n_trails];
	} else {
		r = trail_new(&ob->trail);
		if (r < 0) {
			free(ob);
			return r;
		}
	}
	trail_reset(ob->trail);
	trail_set_max_inflated(ob->trail, TRAIL_MAX_INFLATED);
	memset(&so, 0, sizeof(so));
	so.max_size = d->cfg->s3.max_object_size;
	so.on_data = obj_data;
	so.on_restart = obj_restart;
	r = s3_get_object(d->aws, o->bucket, o->key, &so, obj_done, ob,
	    &ob->op);
	if (r < 0) {
		trail_free(ob->trail);
		free(ob);
		return r;
	}
	d->fetching++;
	m->fetching++;
	return 0;
}

/* ---- one message, step by step ----------------------------------------- */

static void
msg_sns_done(int r, const struct diag *dg, void *arg)
{
	struct msg *m = arg;
	struct log_ctx ctx;

	msg_ctx(m, &ctx);
	if (r < 0) {
		log_ctx_warn(&ctx, "SNS signature check failed: %s",
		    dg != NULL ? dg->msg : strerror(-r));
		msg_fail(m, r, r == -EPROTO || r == -EACCES || r == -EBADMSG,
		    "bad_signature");
		msg_park(m);
		return;
	}
	msg_set_state(m, MSG_FETCHING);
	msg_step(m);
}

static bool
daemon_topic_allowed(const struct daemon *d, struct json_object *env)
{
	struct json_object *t;
	const char *arn;
	size_t i;

	if (d->cfg->sns.n_topic_arns == 0)
		return true;
	if (!json_object_object_get_ex(env, "TopicArn", &t))
		return false;
	arn = json_object_get_string(t);
	for (i = 0; i < d->cfg->sns.n_topic_arns; i++)
		if (strcmp(arn, d->cfg->sns.topic_arns[i]) == 0)
			return true;
	return false;
}

static void
msg_parse(struct msg *m)
{
	struct daemon *d = m->d;
	struct notif_opts no;
	struct log_ctx ctx;
	struct diag dg;
	int r;

	msg_ctx(m, &ctx);
	memset(&dg, 0, sizeof(dg));
	no.allowed_buckets = (const char *const *)d->cfg->s3.allowed_buckets;
	no.n_allowed = d->cfg->s3.n_allowed_buckets;
	r = notif_parse(m->body, strlen(m->body), &no, &m->notif, &dg);
	if (r < 0) {
		log_ctx_warn(&ctx, "bad notification: %s", dg.msg);
		msg_fail(m, r, true,
		    r == -EACCES ? "bucket_not_allowed" : "bad_notification");
		msg_park(m);
		return;
	}
	if (m->notif->skipped_digest + m->notif->skipped_other > 0)
		daemon_count(d, "smtrail_objects_skipped_total",
		    "Keys skipped: digests and non-log files.", "reason",
		    "not_a_log_file");
	log_ctx_info(&ctx, "notification: %s, %zu object(s)",
	    notif_shape_str(m->notif->inner), m->notif->n_objects);
	if (m->notif->inner == NOTIF_SHAPE_S3_TEST ||
	    m->notif->shape == NOTIF_SHAPE_SNS_CONFIRMATION)
		log_ctx_info(&ctx, "%s: nothing to fetch, acknowledged",
		    notif_shape_str(m->notif->inner));
	if (m->notif->sns != NULL && !daemon_topic_allowed(d, m->notif->sns)) {
		log_ctx_warn(&ctx, "SNS topic not in sns.topic_arns");
		msg_fail(m, -EACCES, true, "topic_not_allowed");
		msg_park(m);
		return;
	}
	if (m->notif->sns != NULL && d->cfg->sns.verify_signatures) {
		msg_set_state(m, MSG_VERIFYING);
		r = sns_verify(d->sns, m->notif->sns, msg_sns_done, m);
		if (r < 0) {
			msg_fail(m, r, false, "sns_verify");
			msg_park(m);
		}
		return;
	}
	msg_set_state(m, MSG_FETCHING);
	msg_step(m);
}

/* Starts what may start, and moves the message on when its part is done. */
static void
msg_step(struct msg *m)
{
	struct daemon *d = m->d;
	struct notif *n = m->notif;
	int r;

	if (m->state != MSG_FETCHING)
		return;
	if (n->record != NULL && m->next_obj == 0 && n->n_objects == 0) {
		struct json_object *src;

		m->next_obj = 1; /* processed */
		if (json_object_object_get_ex(n->record, "eventSource", &src) &&
		    strcmp(json_object_get_string(src),
			"secretsmanager.amazonaws.com") == 0) {
			r = match_record(d, m, n->record);
			if (r < 0)
				msg_fail(m, r, false, "spool");
		}
	}
	while (m->error == 0 && m->next_obj < n->n_objects &&
	    d->fetching < DAEMON_MAX_FETCHES) {
		r = obj_start(m, &n->objects[m->next_obj]);
		if (r < 0) {
			msg_fail(m, r, false, "object_fetch");
			break;
		}
		m->next_obj++;
	}
	if (m->fetching > 0)
		return;
	if (m->error == 0 && m->next_obj < n->n_objects)
		return; /* waiting for a fetch slot */
	if (m->error != 0) {
		msg_park(m);
		return;
	}
	/* Every object scanned: durable at the next sync, then deleted. */
	msg_set_state(m, MSG_SCANNED);
	sync_request(d);
}

/* Another message may be waiting for a fetch slot. */
static void
msgs_step_all(struct daemon *d)
{
	struct msg *m;
	struct msg *next;

	for (m = d->msgs; m != NULL; m = next) {
		next = m->next;
		if (m->state == MSG_FETCHING && m->fetching == 0 &&
		    m->next_obj < (m->notif ? m->notif->n_objects : 0))
			msg_step(m);
	}
}

static struct msg *
msg_new(struct daemon *d, struct sqs_msg *sm)
{
	struct msg *m = calloc(1, sizeof(*m));
	unsigned vis = d->cfg->sqs.visibility_timeout_s;

	if (m == NULL)
		return NULL;
	m->d = d;
	m->id = sm->message_id;
	m->receipt = sm->receipt_handle;
	m->body = sm->body;
	sm->message_id = sm->receipt_handle = sm->body = NULL;
	m->receive_count = sm->receive_count;
	m->extend = evtimer_new(d->base, msg_extend_cb, m);
	m->next = d->msgs;
	if (d->msgs != NULL)
		d->msgs->prev = m;
	d->msgs = m;
	d->n_msgs++;
	if (m->extend != NULL && vis > 1) {
		struct timeval tv = {vis / 2, 0};

		(void)evtimer_add(m->extend, &tv);
	}
	return m;
}

/* May free m (a message that fails at once is parked). */
static void
msg_begin(struct msg *m)
{
	struct log_ctx ctx;

	msg_ctx(m, &ctx);
	log_ctx_info(&ctx, "message received (receive %u)", m->receive_count);
	msg_parse(m);
}

/* ---- receive ------------------------------------------------------------ */

static void
notify_ready(struct daemon *d)
{
	const struct aws_creds *cr = creds_current(d->creds);

	if (d->ready_sent)
		return;
	d->ready_sent = true;
	(void)sd_notify(0, "READY=1\nSTATUS=receiving");
	/* Which provider, never the secret: what "access denied" needs. */
	log_notice("ready: receiving from %s with credentials from %s",
	    d->cfg->sqs.queue_url, cr != NULL ? cr->provider : "(none)");
}

static void
recv_done(const struct aws_result *res, struct sqs_msg *msgs, size_t n,
    void *arg)
{
	struct daemon *d = arg;
	struct timeval tv;
	uint64_t delay;
	size_t i;

	d->recv_op = NULL;
	if (res->error != 0) {
		delay = backoff_next_ms(d->recv_errors++, 1000,
		    DAEMON_RECV_BACKOFF_CAP_MS);
		log_warn("ReceiveMessage failed: %s%s%s (%s), retrying in "
			 "%llu ms",
		    res->code, res->code[0] ? ": " : "", res->message,
		    strerror(-res->error), (unsigned long long)delay);
		daemon_error(d, res->code[0] ? res->code : "receive failed");
		tv.tv_sec = (time_t)(delay / 1000);
		tv.tv_usec = (suseconds_t)(delay % 1000) * 1000;
		(void)evtimer_add(d->recv_timer, &tv);
		sqs_msgs_free(msgs, n);
		return;
	}
	if (d->recv_errors > 0)
		log_notice("ReceiveMessage works again");
	d->recv_errors = 0;
	metrics_gauge_set(d->m_last_receive, (double)time(NULL));
	notify_ready(d);
	for (i = 0; i < n; i++) {
		struct msg *m = msg_new(d, &msgs[i]);

		metrics_inc(d->m_received, 1);
		if (m != NULL)
			msg_begin(m);
	}
	sqs_msgs_free(msgs, n);
	msg_flush_deletes(d);
	recv_kick(d);
}

static void
recv_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	UNUSED(fd);
	UNUSED(what);
	recv_kick(arg);
}

/* Starts the next long poll when there is room for its messages. */
static void
recv_kick(struct daemon *d)
{
	struct sqs_receive_opts ro;
	struct spool_stats st;
	int r;

	if (d->draining || d->recv_op != NULL ||
	    evtimer_pending(d->recv_timer, NULL))
		return;
	if (d->n_msgs >= 2 * (size_t)d->cfg->sqs.max_messages)
		return;
	spool_stats(d->spool, &st);
	if (st.pending >= 50000)
		return; /* the sinks are behind: stop taking work */
	memset(&ro, 0, sizeof(ro));
	ro.max_messages = d->cfg->sqs.max_messages;
	ro.wait_time_s = d->cfg->sqs.wait_time_s;
	ro.visibility_timeout_s = d->cfg->sqs.visibility_timeout_s;
	r = sqs_receive(d->aws, d->cfg->sqs.queue_url, &ro, recv_done, d,
	    &d->recv_op);
	if (r < 0) {
		struct timeval tv = {5, 0};

		log_warn_errno(r,
		    "cannot start ReceiveMessage, retrying in 5s");
		(void)evtimer_add(d->recv_timer, &tv);
	}
}

/* ---- deliveries --------------------------------------------------------- */

static struct dsink *
dsink_find(struct daemon *d, const char *name)
{
	struct dsink *ds;

	for (ds = d->sinks; ds != NULL; ds = ds->next)
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

static void
dsink_unref(struct daemon *d, struct dsink *ds)
{
	struct dsink **pp;

	ds->refs--;
	if (!ds->retired || ds->refs > 0)
		return;
	for (pp = &d->sinks; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == ds) {
			*pp = ds->next;
			break;
		}
	}
	dsink_free(ds);
}

static void
dlv_free(struct dlv *v)
{
	struct daemon *d = v->d;

	if (v->all_prev != NULL)
		v->all_prev->all_next = v->all_next;
	else
		d->dlvs = v->all_next;
	if (v->all_next != NULL)
		v->all_next->all_prev = v->all_prev;
	d->n_dlvs--;
	if (v->timer != NULL)
		event_free(v->timer);
	dsink_unref(d, v->ds);
	free(v);
}

static void
dlv_ready(struct dlv *v)
{
	struct dsink *ds = v->ds;

	v->next = NULL;
	if (ds->ready_tail != NULL)
		ds->ready_tail->next = v;
	else
		ds->ready_head = v;
	ds->ready_tail = v;
	dlv_pump(ds);
}

static void
dlv_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	UNUSED(fd);
	UNUSED(what);
	dlv_ready(arg);
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
dlv_finish(struct dlv *v, enum spool_outcome outcome)
{
	struct daemon *d = v->d;
	int r;

	r = spool_mark(d->spool, v->job, v->ds->name, outcome);
	if (r < 0)
		log_err_errno(r, "spool: cannot record a delivery outcome");
	dlv_free(v);
}

static void
dlv_done(const struct sink_outcome *o, void *arg)
{
	struct dlv *v = arg;
	struct daemon *d = v->d;
	struct dsink *ds = v->ds;
	struct log_ctx ctx = {0};
	uint64_t delay;
	uint64_t now = now_us();

	ctx.rule = v->rule[0] ? v->rule : NULL;
	ctx.event_id = v->event_id[0] ? v->event_id : NULL;
	ds->in_flight--;
	if (o->result == SINK_DELIVERED) {
		metrics_inc(ds->m_delivered, 1);
		if (v->event_time != 0)
			metrics_observe(d->m_lag,
			    difftime(time(NULL), v->event_time));
		log_ctx_info(&ctx, "delivered to '%s' (%s)", ds->name,
		    o->detail);
		dlv_finish(v, SPOOL_DELIVERED);
	} else {
		delay = backoff_next_ms(v->attempt++, 1000, 300000);
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
			daemon_error(d, "delivery failed");
			dlv_finish(v, SPOOL_FAILED);
		} else {
			struct timeval tv;

			log_ctx_warn(&ctx,
			    "delivery to '%s' failed (%s), retrying in %llu ms",
			    ds->name, o->detail, (unsigned long long)delay);
			tv.tv_sec = (time_t)(delay / 1000);
			tv.tv_usec = (suseconds_t)(delay % 1000) * 1000;
			if (v->timer == NULL)
				v->timer =
				    evtimer_new(d->base, dlv_timer_cb, v);
			if (v->timer == NULL || evtimer_add(v->timer, &tv) < 0)
				dlv_ready(v);
		}
	}
	dlv_pump(ds);
	daemon_check_idle(d);
}

static void
dlv_pump(struct dsink *ds)
{
	while (ds->ready_head != NULL && ds->in_flight < DAEMON_MAX_SENDS) {
		struct dlv *v = ds->ready_head;
		struct daemon *d = v->d;
		const char *json;
		int r;

		if (d->draining)
			return; /* left in the spool for the next start */
		ds->ready_head = v->next;
		if (ds->ready_head == NULL)
			ds->ready_tail = NULL;
		json = spool_alert_json(d->spool, v->job);
		if (json == NULL) {
			dlv_free(v); /* already done */
			continue;
		}
		ds->in_flight++;
		r = sink_send(ds->sink, json, strlen(json), dlv_done, v);
		if (r < 0) {
			struct sink_outcome o;

			memset(&o, 0, sizeof(o));
			o.result = SINK_RETRY;
			o.error = r;
			(void)snprintf(o.detail, sizeof(o.detail), "%s",
			    strerror(-r));
			dlv_done(&o, v);
		}
	}
}

static int
dlv_enqueue(int64_t job, const char *dest, const char *json, size_t len,
    void *arg)
{
	struct daemon *d = arg;
	struct dsink *ds = dsink_find(d, dest);
	struct dlv *v;

	UNUSED(len);
	if (ds == NULL) {
		log_err("an alert in the spool is for destination '%s', which "
			"is no longer configured; marking it failed",
		    dest);
		return spool_mark(d->spool, job, dest, SPOOL_FAILED);
	}
	v = calloc(1, sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	v->d = d;
	v->job = job;
	v->ds = ds;
	ds->refs++;
	v->deadline_us = now_us() + ds->deadline_us;
	dlv_describe(v, json);
	v->all_next = d->dlvs;
	if (d->dlvs != NULL)
		d->dlvs->all_prev = v;
	d->dlvs = v;
	d->n_dlvs++;
	dlv_ready(v);
	return 0;
}

/* Jobs made durable by the last sync: queue their deliveries. */
struct dlv_filter {
	struct daemon *d;
	const int64_t *jobs;
	size_t n;
};

static int
dlv_enqueue_new(int64_t job, const char *dest, const char *json, size_t len,
    void *arg)
{
	struct dlv_filter *f = arg;
	size_t i;

	for (i = 0; i < f->n; i++)
		if (f->jobs[i] == job)
			return dlv_enqueue(job, dest, json, len, f->d);
	return 0;
}

/* ---- the sync pass ------------------------------------------------------ */

static void
sync_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct dlv_filter f;
	struct spool_stats st;
	struct msg *m;
	int r;

	UNUSED(fd);
	UNUSED(what);
	r = spool_sync(d->spool);
	if (r >= 0)
		r = incident_sync(d->incidents); /* held matches, windows */
	if (r < 0) {
		log_err_errno(r, "spool: fsync failed; stopping intake");
		daemon_error(d, "spool fsync failed");
		d->exit_status = 1;
		d->draining = true;
		daemon_check_idle(d);
		return;
	}
	for (m = d->msgs; m != NULL; m = m->next)
		if (m->state == MSG_SCANNED)
			msg_set_state(m, MSG_SPOOLED);
	if (d->n_new_jobs > 0) {
		f.d = d;
		f.jobs = d->new_jobs;
		f.n = d->n_new_jobs;
		/* New job ids are the highest: start at the first of them. */
		r = spool_foreach_pending_from(d->spool, d->new_jobs[0],
		    dlv_enqueue_new, &f);
		if (r < 0)
			log_err_errno(r, "cannot queue deliveries");
		d->n_new_jobs = 0;
	}
	/* Cheap when there is nothing to drop; keeps the journal bounded. */
	r = spool_compact(d->spool);
	if (r < 0)
		log_warn_errno(r, "spool: compaction failed, will retry");
	r = incident_compact(d->incidents);
	if (r < 0)
		log_warn_errno(r, "incidents: compaction failed, will retry");
	spool_stats(d->spool, &st);
	metrics_gauge_set(d->m_depth, (double)st.pending);
	msg_flush_deletes(d);
	msgs_step_all(d);
	daemon_check_idle(d);
	recv_kick(d);
}

/* ---- sinks from configuration ------------------------------------------ */

int
daemon_sink_new(const struct cfg_dest *cd, struct event_base *base,
    struct http *http, struct sink **ret, struct diag *reterr)
{
	struct sink_conf sc;

	memset(&sc, 0, sizeof(sc));
	sc.name = cd->name;
	sc.timeout_ms = cd->timeout_ms;
	sc.rate_count = cd->rate_count;
	sc.rate_period_us = cd->rate_period_us;
	sc.fd = 1;
	switch (cd->type) {
	case CFG_DEST_STDOUT:
		sc.type = SINK_TYPE_STDOUT;
		break;
	case CFG_DEST_WEBHOOK:
		sc.type = SINK_TYPE_WEBHOOK;
		sc.url = secret_value(cd->url);
		sc.hmac_secret = secret_value(cd->hmac_secret);
		sc.hmac_secret_len = secret_len(cd->hmac_secret);
		break;
	case CFG_DEST_SLACK:
		sc.type = SINK_TYPE_SLACK;
		sc.url = secret_value(cd->url);
		sc.channel = cd->channel;
		sc.username = cd->username;
		sc.icon_emoji = cd->icon_emoji;
		sc.mention = cd->mention;
		break;
	case CFG_DEST_PAGERDUTY:
		sc.type = SINK_TYPE_PAGERDUTY;
		sc.url = secret_value(cd->url);
		sc.routing_key = secret_value(cd->routing_key);
		break;
	case CFG_DEST_COUNT:
		return diag_set(reterr, -EINVAL, NULL, cd->line, 0,
		    "destination '%s': unknown type", cd->name);
	}
	return sink_new(&sc, base, http, ret, reterr);
}

static int
sinks_build(struct daemon *d, const struct cfg *c, struct dsink **ret,
    struct diag *reterr)
{
	struct dsink *list = NULL;
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < c->n_destinations; i++) {
		const struct cfg_dest *cd = &c->destinations[i];
		struct dsink *ds;

		ds = calloc(1, sizeof(*ds));
		if (ds == NULL) {
			r = -ENOMEM;
			break;
		}
		ds->name = strdup(cd->name);
		ds->deadline_us =
		    cd->deadline_us ? cd->deadline_us : 3600ull * 1000000;
		r = ds->name == NULL
		    ? -ENOMEM
		    : daemon_sink_new(cd, d->base, d->http, &ds->sink, reterr);
		ds->m_delivered =
		    daemon_counter(d, "smtrail_alerts_delivered_total",
			"Alerts delivered, by destination.", "destination",
			cd->name);
		ds->m_failed = daemon_counter(d, "smtrail_alerts_failed_total",
		    "Alerts given up on.", "destination", cd->name);
		ds->next = list;
		list = ds;
	}
	if (r < 0) {
		while (list != NULL) {
			struct dsink *n = list->next;

			dsink_free(list);
			list = n;
		}
		return r;
	}
	*ret = list;
	return 0;
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
	memset(&dl, 0, sizeof(dl));
	r = rules_load(o->rules_path ? o->rules_path : c->rules, false, &rs,
	    &dl);
	if (r == 0)
		r = cfg_check_rules(c, rs,
		    o->rules_path ? o->rules_path : c->rules, &dl);
	log_diags(&dl, errlevel);
	if (r < 0) {
		if (dl.n == 0)
			log_msg(errlevel, NULL, r, "%s",
			    o->rules_path ? o->rules_path : c->rules);
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
	struct spool_stats st;

	spool_stats(d->spool, &st);
	(void)sd_notifyf(0,
	    "STATUS=%s%s; messages %llu, alerts %llu spooled, %llu pending%s%s",
	    d->draining ? "stopping" : "receiving",
	    d->recv_errors ? " (receive failing)" : "",
	    (unsigned long long)metrics_counter_value(d->m_received),
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
	struct dsink *fresh = NULL;
	struct dsink *ds;
	struct diag dg;
	struct timespec ts;
	int r;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	(void)sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ull +
		(unsigned long long)ts.tv_nsec / 1000);
	log_notice("reloading %s", d->opts->config_path);
	memset(&dg, 0, sizeof(dg));
	r = daemon_load(d->opts, &c, &rs, LOG_LEVEL_ERR);
	if (r == 0) {
		r = sinks_build(d, c, &fresh, &dg);
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
	    strcmp(c->state_dir, d->cfg->state_dir) != 0)
		log_notice("sqs.queue_url and state_dir changes take effect "
			   "on restart");
	/* Keep what cannot change without a restart. */
	free(c->sqs.queue_url);
	c->sqs.queue_url = d->cfg->sqs.queue_url;
	d->cfg->sqs.queue_url = NULL;
	/* Old sinks retire; deliveries in flight keep them until done. */
	for (ds = d->sinks; ds != NULL; ds = ds->next)
		ds->retired = true;
	if (fresh != NULL) {
		for (ds = fresh; ds->next != NULL; ds = ds->next)
			;
		ds->next = d->sinks;
		d->sinks = fresh;
	}
	for (struct dsink **pp = &d->sinks; *pp != NULL;) {
		ds = *pp;
		if (ds->retired && ds->refs == 0) {
			*pp = ds->next;
			dsink_free(ds);
		} else {
			pp = &ds->next;
		}
	}
	/* Queued deliveries finish on the sink they were queued for. */
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
	unsigned sending = 0;

	if (!d->draining)
		return;
	for (struct dsink *ds = d->sinks; ds != NULL; ds = ds->next)
		sending += ds->in_flight;
	if (d->recv_op != NULL || d->fetching > 0 || d->deletes_in_flight > 0 ||
	    sending > 0)
		return;
	for (struct msg *m = d->msgs; m != NULL; m = m->next)
		if (m->state < MSG_PARKED && m->state != MSG_RECEIVED)
			return;
	(void)event_base_loopexit(d->base, NULL);
}

static void
drain_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	UNUSED(fd);
	UNUSED(what);
	log_warn("shutdown deadline reached with work in flight; it will be "
		 "received again and deduplicated");
	(void)event_base_loopexit(d->base, NULL);
}

static void
daemon_stop(struct daemon *d, const char *why)
{
	struct timeval tv = {(time_t)(DAEMON_DRAIN_US / 1000000), 0};

	if (d->draining)
		return;
	log_notice("%s: stopping (finishing work in flight)", why);
	(void)sd_notify(0, "STOPPING=1\nSTATUS=stopping");
	d->draining = true;
	if (d->recv_op != NULL) {
		aws_call_cancel(d->recv_op);
		d->recv_op = NULL;
	}
	(void)evtimer_del(d->recv_timer);
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
	static const double lag_buckets[] = {1, 5, 15, 30, 60, 120, 300, 600,
	    1800, 3600};
	int r;

	r = metrics_new(&d->metrics);
	if (r < 0)
		return r;
	d->m_received = daemon_counter(d, "smtrail_messages_received_total",
	    "SQS messages received.", NULL, NULL);
	d->m_deleted = daemon_counter(d, "smtrail_messages_deleted_total",
	    "SQS messages deleted after their alerts were durable.", NULL,
	    NULL);
	d->m_fetched = daemon_counter(d, "smtrail_objects_fetched_total",
	    "S3 objects fetched and scanned.", NULL, NULL);
	d->m_bytes = daemon_counter(d, "smtrail_bytes_fetched_total",
	    "Bytes fetched from S3.", NULL, NULL);
	d->m_records = daemon_counter(d, "smtrail_records_scanned_total",
	    "Secrets Manager records matched against the rules.", NULL, NULL);
	d->m_spooled = daemon_counter(d, "smtrail_alerts_spooled_total",
	    "Alerts written to the spool.", NULL, NULL);
	d->m_dedup = daemon_counter(d, "smtrail_alerts_deduplicated_total",
	    "Alerts not sent again: already in the spool's memory.", NULL,
	    NULL);
	d->m_throttled = daemon_counter(d, "smtrail_alerts_throttled_total",
	    "Matches counted, not sent, inside a rule's throttle window.", NULL,
	    NULL);
	d->m_held = daemon_counter(d, "smtrail_alerts_grouped_total",
	    "Matches held to be merged into one alert (group_wait).", NULL,
	    NULL);
	d->m_depth = metrics_gauge(d->metrics, "smtrail_spool_depth",
	    "Alerts waiting for delivery.", NULL, NULL);
	d->m_last_receive =
	    metrics_gauge(d->metrics, "smtrail_last_receive_timestamp_seconds",
		"When ReceiveMessage last succeeded.", NULL, NULL);
	d->m_lag = metrics_histogram(d->metrics, "smtrail_delivery_lag_seconds",
	    "Delivery time minus eventTime.", NULL, NULL, lag_buckets,
	    ARRAY_SIZE(lag_buckets));
	return metrics_status(d->metrics);
}

static int
daemon_health(struct buf *out, void *arg)
{
	struct daemon *d = arg;

	if (d->recv_errors > 3)
		return buf_puts(out, "ReceiveMessage failing\n") < 0 ? -ENOMEM
								     : -EIO;
	return buf_printf(out, "receiving; %zu message(s) in work\n",
	    d->n_msgs);
}

static int
daemon_setup(struct daemon *d)
{
	struct http_opts ho;
	struct creds_opts co;
	struct aws_opts ao;
	struct spool_opts so;
	struct diag dg;
	uint64_t wd_usec = 0;
	int r;

	memset(&dg, 0, sizeof(dg));
	if (d->cfg->sqs.queue_url == NULL) {
		log_err("%s: sqs.queue_url is not set: nothing to receive from",
		    d->opts->config_path);
		return -EINVAL;
	}
	memset(&ho, 0, sizeof(ho));
	ho.ca_file = d->cfg->http.ca_file;
	ho.ca_path = d->cfg->http.ca_path;
	r = http_new(d->base, &ho, &d->http);
	if (r < 0)
		return log_err_errno(r, "cannot start the HTTP client");
	memset(&co, 0, sizeof(co));
	co.profile = d->cfg->aws.profile;
	co.region = d->cfg->aws.region;
	r = creds_new(d->base, d->http, &co, &d->creds);
	if (r < 0)
		return log_err_errno(r, "cannot set up credentials");
	memset(&ao, 0, sizeof(ao));
	ao.region = d->cfg->aws.region;
	ao.profile = d->cfg->aws.profile;
	ao.endpoint_url = d->cfg->aws.endpoint_url;
	r = aws_new(d->base, d->http, d->creds, &ao, &d->aws, &dg);
	if (r < 0) {
		log_err("%s", dg.msg);
		return r;
	}
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
	r = spool_open(d->cfg->state_dir, &so, &d->spool, &dg);
	if (r < 0) {
		char line[600];

		log_err("spool: %s", diag_format(&dg, line, sizeof(line)));
		return r;
	}
	r = incident_open(d->cfg->state_dir, NULL, &d->incidents, &dg);
	if (r < 0) {
		char line[600];

		log_err("incidents: %s", diag_format(&dg, line, sizeof(line)));
		return r;
	}
	r = daemon_metrics(d);
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
	r = sinks_build(d, d->cfg, &d->sinks, &dg);
	if (r < 0) {
		log_err("%s", dg.msg);
		return r;
	}
	log_notice("region %s, SQS %s, S3 %s%s", aws_region(d->aws),
	    aws_endpoint(d->aws, "sqs"), aws_endpoint(d->aws, "s3"),
	    aws_s3_path_style(d->aws) ? " (path-style)" : "");
	d->sync_ev = event_new(d->base, -1, 0, sync_cb, d);
	d->incident_timer = evtimer_new(d->base, incident_timer_cb, d);
	d->recv_timer = evtimer_new(d->base, recv_timer_cb, d);
	d->drain_timer = evtimer_new(d->base, drain_timeout_cb, d);
	d->sig_term = evsignal_new(d->base, SIGTERM, sig_cb, d);
	d->sig_int = evsignal_new(d->base, SIGINT, sig_cb, d);
	d->sig_hup = evsignal_new(d->base, SIGHUP, sig_cb, d);
	d->status_timer = event_new(d->base, -1, EV_PERSIST, status_cb, d);
	if (d->sync_ev == NULL || d->incident_timer == NULL ||
	    d->recv_timer == NULL || d->drain_timer == NULL ||
	    d->sig_term == NULL || d->sig_int == NULL || d->sig_hup == NULL ||
	    d->status_timer == NULL)
		return -ENOMEM;
	(void)event_add(d->sig_term, NULL);
	(void)event_add(d->sig_int, NULL);
	(void)event_add(d->sig_hup, NULL);
	{
		struct timeval tv = {5, 0};

		(void)event_add(d->status_timer, &tv);
	}
	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
		struct timeval tv = {(time_t)(wd_usec / 2 / 1000000),
		    (suseconds_t)(wd_usec / 2 % 1000000)};

		d->watchdog =
		    event_new(d->base, -1, EV_PERSIST, watchdog_cb, d);
		if (d->watchdog != NULL)
			(void)event_add(d->watchdog, &tv);
	}
	/* Alerts a previous run spooled but did not deliver go out first. */
	r = spool_foreach_pending(d->spool, dlv_enqueue, d);
	if (r < 0)
		return log_err_errno(r, "spool: cannot resend pending alerts");
	if (d->n_dlvs > 0)
		log_notice("resending %zu pending deliveries from the spool",
		    d->n_dlvs);
	incident_schedule(d); /* groups a previous run held */
	return 0;
}

static void
daemon_teardown(struct daemon *d)
{
	size_t i;

	while (d->dlvs != NULL)
		dlv_free(d->dlvs);
	while (d->msgs != NULL)
		msg_free(d->msgs);
	while (d->sinks != NULL) {
		struct dsink *n = d->sinks->next;

		dsink_free(d->sinks);
		d->sinks = n;
	}
	if (d->recv_op != NULL)
		aws_call_cancel(d->recv_op);
	if (d->spool != NULL) {
		int r = spool_sync(d->spool);

		if (r < 0)
			log_err_errno(r, "spool: final sync failed");
	}
	if (d->incidents != NULL) {
		int r = incident_sync(d->incidents);

		if (r < 0)
			log_err_errno(r, "incidents: final sync failed");
	}
	incident_free(d->incidents);
	if (d->incident_timer)
		event_free(d->incident_timer);
	spool_free(d->spool);
	sns_verifier_free(d->sns);
	aws_free(d->aws);
	creds_free(d->creds);
	http_free(d->http);
	metrics_free(d->metrics);
	for (i = 0; i < d->n_trails; i++)
		trail_free(d->trails[i]);
	free(d->new_jobs);
	if (d->sync_ev)
		event_free(d->sync_ev);
	if (d->recv_timer)
		event_free(d->recv_timer);
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
	recv_kick(&d);
	(void)event_base_dispatch(d.base);
	log_notice("stopped");
	r = d.exit_status;
	daemon_teardown(&d);
	return r;
}
