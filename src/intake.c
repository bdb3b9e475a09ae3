/*
 * intake.c: see intake.h. The pieces, in the order data flows:
 *
 *   recv_*     one ReceiveMessage long poll at a time: backoff on errors,
 *              paused by backpressure, resumed by intake_kick()
 *   msg_*      one SQS message and its state machine (msg_next[])
 *   obj_*      one S3 object streamed through a scanner
 *   del_*      DeleteMessageBatch of what is durable
 *   pass       the deferred pass every state change runs (intake_pump_cb)
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "aws/aws.h"
#include "aws/s3.h"
#include "aws/sns.h"
#include "aws/sqs.h"
#include "backoff.h"
#include "buf.h"
#include "cfg.h"
#include "clock.h"
#include "diag.h"
#include "http.h"
#include "intake.h"
#include "bounds.h"
#include "log.h"
#include "metrics.h"
#include "notif.h"
#include "quote.h"
#include "trail.h"

/* Receive errors back off up to this. */
#define INTAKE_RECV_BACKOFF_CAP_MS 60000
/* A transient failure makes a message visible again after at most this. */
#define INTAKE_RETRY_VISIBILITY_S 30u
/* While receiving is paused, look again this often (a safety net: what
 * relieves the pressure calls intake_kick()). */
#define INTAKE_PAUSE_RECHECK_MS 1000
/* A message body quoted in a log line. */
#define INTAKE_LOG_BODY 200
/* Health: the bound when the queue's own visibility timeout is used. */
#define INTAKE_DEFAULT_BOUND_S 60u
/* SNS answers a ConfirmSubscription GET with a short XML document. */
#define INTAKE_CONFIRM_MAX_BODY (64u << 10)

/* ---- failures, classified once ------------------------------------------ */

enum intake_reason {
	INTAKE_BAD_NOTIFICATION,
	INTAKE_BUCKET_NOT_ALLOWED,
	INTAKE_TOPIC_NOT_ALLOWED,
	INTAKE_BAD_SIGNATURE,
	INTAKE_SNS_VERIFY,
	INTAKE_SNS_CONFIRM,
	INTAKE_OBJECT_MISSING,
	INTAKE_OBJECT_DENIED,
	INTAKE_OBJECT_TOO_BIG,
	INTAKE_OBJECT_MALFORMED,
	INTAKE_OBJECT_FETCH,
	INTAKE_SPOOL_FULL,
	INTAKE_SPOOL_WRITE,
	INTAKE_INTERNAL,
	INTAKE_REASON_COUNT
};

/*
 * label: the metric label (smtrail_messages_failed_total{reason});
 * permanent: retrying the same message cannot help (left to the redrive
 * policy); object: also an smtrail_objects_failed_total reason. Our own
 * limits and the spool are never the message's fault: transient.
 */
static const struct {
	const char *label;
	bool permanent;
	bool object;
} intake_reasons[INTAKE_REASON_COUNT] = {
    [INTAKE_BAD_NOTIFICATION] = {"bad_notification", true, false},
    [INTAKE_BUCKET_NOT_ALLOWED] = {"bucket_not_allowed", true, false},
    [INTAKE_TOPIC_NOT_ALLOWED] = {"topic_not_allowed", true, false},
    [INTAKE_BAD_SIGNATURE] = {"bad_signature", true, false},
    [INTAKE_SNS_VERIFY] = {"sns_verify", false, false},
    [INTAKE_SNS_CONFIRM] = {"sns_confirm", false, false},
    [INTAKE_OBJECT_MISSING] = {"object_missing", true, true},
    [INTAKE_OBJECT_DENIED] = {"object_denied", true, true},
    [INTAKE_OBJECT_TOO_BIG] = {"object_too_big", true, true},
    [INTAKE_OBJECT_MALFORMED] = {"object_malformed", true, true},
    [INTAKE_OBJECT_FETCH] = {"object_fetch", false, true},
    [INTAKE_SPOOL_FULL] = {"spool_full", false, false},
    [INTAKE_SPOOL_WRITE] = {"spool_write", false, false},
    [INTAKE_INTERNAL] = {"internal", false, false},
};

/* Why ReceiveMessage failed: smtrail_receive_errors_total{reason}. */
enum intake_recv_reason {
	INTAKE_RECV_CREDENTIALS, /* no credentials could be had */
	INTAKE_RECV_DENIED,      /* 401/403: key, signature, policy */
	INTAKE_RECV_NO_QUEUE,    /* QueueDoesNotExist */
	INTAKE_RECV_THROTTLED,   /* 429, throttling codes */
	INTAKE_RECV_SERVER,      /* 5xx */
	INTAKE_RECV_TIMEOUT,
	INTAKE_RECV_NETWORK,  /* refused, DNS, TLS, reset */
	INTAKE_RECV_PROTOCOL, /* another 4xx, a reply we cannot read */
	INTAKE_RECV_REASON_COUNT
};

static const char *
intake_recv_reason_str(enum intake_recv_reason r)
{
	switch (r) {
	case INTAKE_RECV_CREDENTIALS:
		return "credentials";
	case INTAKE_RECV_DENIED:
		return "denied";
	case INTAKE_RECV_NO_QUEUE:
		return "queue_missing";
	case INTAKE_RECV_THROTTLED:
		return "throttled";
	case INTAKE_RECV_SERVER:
		return "server_error";
	case INTAKE_RECV_TIMEOUT:
		return "timeout";
	case INTAKE_RECV_NETWORK:
		return "network";
	case INTAKE_RECV_PROTOCOL:
		return "protocol";
	case INTAKE_RECV_REASON_COUNT:
		break;
	}
	return "protocol";
}

/* The class of a failed ReceiveMessage (aws.h's results). */
static enum intake_recv_reason
intake_recv_reason(int error, long status)
{
	switch (error) {
	case -ENOKEY:
		return INTAKE_RECV_CREDENTIALS;
	case -EACCES:
		return INTAKE_RECV_DENIED;
	case -ENOENT:
		return INTAKE_RECV_NO_QUEUE;
	case -EAGAIN:
		return status >= 500 ? INTAKE_RECV_SERVER
				     : INTAKE_RECV_THROTTLED;
	case -ETIMEDOUT:
		return INTAKE_RECV_TIMEOUT;
	case -EPROTO:
	case -EBADMSG:
		return INTAKE_RECV_PROTOCOL;
	default:
		return status != 0 ? INTAKE_RECV_PROTOCOL : INTAKE_RECV_NETWORK;
	}
}

/* What the engine's error means for the message. */
static enum intake_reason
intake_engine_reason(int r)
{
	switch (r) {
	case -E2BIG:
		return INTAKE_SPOOL_FULL;
	case -ENOSPC:
	case -EDQUOT:
	case -EIO:
	case -EROFS:
		return INTAKE_SPOOL_WRITE;
	default:
		return INTAKE_INTERNAL;
	}
}

/* What a failed fetch or scan means. */
static enum intake_reason
intake_object_reason(int r)
{
	switch (r) {
	case -ENOENT:
		return INTAKE_OBJECT_MISSING;
	case -EACCES:
		return INTAKE_OBJECT_DENIED;
	case -E2BIG:
		return INTAKE_OBJECT_TOO_BIG;
	case -EBADMSG:
		return INTAKE_OBJECT_MALFORMED;
	default:
		return INTAKE_OBJECT_FETCH;
	}
}

/* What the reason means, for a log line, instead of strerror(). */
static const char *
intake_reason_text(enum intake_reason why, int r)
{
	switch (why) {
	case INTAKE_SPOOL_FULL:
		return "the spool holds spool.max_pending alerts";
	case INTAKE_SPOOL_WRITE:
	case INTAKE_INTERNAL:
	case INTAKE_OBJECT_FETCH:
	case INTAKE_SNS_VERIFY:
		return strerror(-r);
	case INTAKE_SNS_CONFIRM:
		return "the ConfirmSubscription GET failed";
	case INTAKE_BAD_NOTIFICATION:
	case INTAKE_BUCKET_NOT_ALLOWED:
	case INTAKE_TOPIC_NOT_ALLOWED:
	case INTAKE_BAD_SIGNATURE:
	case INTAKE_OBJECT_MISSING:
	case INTAKE_OBJECT_DENIED:
	case INTAKE_OBJECT_TOO_BIG:
	case INTAKE_OBJECT_MALFORMED:
	case INTAKE_REASON_COUNT:
		break;
	}
	return "see above";
}

/* What became of a SubscriptionConfirmation (smtrail_sns_subscriptions_total
 * {result}): confirmed (the GET succeeded), logged (confirming is off),
 * refused (not ours: the topic is not listed, or the URL is not SNS's),
 * failed (the GET failed; the message comes back). */
enum intake_sub {
	INTAKE_SUB_CONFIRMED,
	INTAKE_SUB_LOGGED,
	INTAKE_SUB_REFUSED,
	INTAKE_SUB_FAILED,
	INTAKE_SUB_COUNT
};

static const char *
intake_sub_str(enum intake_sub s)
{
	switch (s) {
	case INTAKE_SUB_CONFIRMED:
		return "confirmed";
	case INTAKE_SUB_LOGGED:
		return "logged";
	case INTAKE_SUB_REFUSED:
		return "refused";
	case INTAKE_SUB_FAILED:
		return "failed";
	case INTAKE_SUB_COUNT:
		break;
	}
	return "?";
}

/* ---- the message state machine ------------------------------------------ */

enum msg_state {
	MSG_RECEIVED,   /* about to be parsed */
	MSG_VERIFYING,  /* SNS signature check in flight */
	MSG_CONFIRMING, /* SNS ConfirmSubscription GET in flight */
	MSG_FETCHING,   /* objects waiting for a slot or in flight */
	MSG_SCANNED,    /* every record handed over: waiting for the sync */
	MSG_GIVEN_UP,   /* permanent failure at the cut-off: sync, delete */
	MSG_SPOOLED,    /* durable: to be deleted */
	MSG_DELETING,   /* in a DeleteMessageBatch */
	MSG_PARKED,     /* failed: left for redelivery or the redrive policy */
	MSG_DONE,       /* to be freed by the next pass */
	MSG_STATE_COUNT
};

#define MSG_BIT(s) (1u << (s))

/* The allowed transitions: msg_set_state() checks every change. */
static const unsigned msg_next[MSG_STATE_COUNT] = {
    [MSG_RECEIVED] = MSG_BIT(MSG_VERIFYING) | MSG_BIT(MSG_CONFIRMING) |
	MSG_BIT(MSG_FETCHING) | MSG_BIT(MSG_PARKED) | MSG_BIT(MSG_GIVEN_UP),
    [MSG_VERIFYING] = MSG_BIT(MSG_CONFIRMING) | MSG_BIT(MSG_FETCHING) |
	MSG_BIT(MSG_PARKED) | MSG_BIT(MSG_GIVEN_UP),
    [MSG_CONFIRMING] =
	MSG_BIT(MSG_FETCHING) | MSG_BIT(MSG_PARKED) | MSG_BIT(MSG_GIVEN_UP),
    [MSG_FETCHING] =
	MSG_BIT(MSG_SCANNED) | MSG_BIT(MSG_PARKED) | MSG_BIT(MSG_GIVEN_UP),
    [MSG_SCANNED] = MSG_BIT(MSG_SPOOLED),
    [MSG_GIVEN_UP] = MSG_BIT(MSG_SPOOLED),
    [MSG_SPOOLED] = MSG_BIT(MSG_DELETING),
    [MSG_DELETING] = MSG_BIT(MSG_DONE),
    [MSG_PARKED] = MSG_BIT(MSG_DONE),
    [MSG_DONE] = 0,
};

static const char *
msg_state_str(enum msg_state s)
{
	switch (s) {
	case MSG_RECEIVED:
		return "received";
	case MSG_VERIFYING:
		return "verifying";
	case MSG_CONFIRMING:
		return "confirming";
	case MSG_FETCHING:
		return "fetching";
	case MSG_SCANNED:
		return "scanned";
	case MSG_GIVEN_UP:
		return "given up";
	case MSG_SPOOLED:
		return "spooled";
	case MSG_DELETING:
		return "deleting";
	case MSG_PARKED:
		return "parked";
	case MSG_DONE:
		return "done";
	case MSG_STATE_COUNT:
		break;
	}
	return "?";
}

struct intake;

struct msg {
	struct intake *in;
	struct sqs_msg sm; /* taken over from the receive: id, handle, body */
	unsigned receive_count;
	enum msg_state state;
	uint64_t received_us;
	struct notif *notif;
	size_t next_obj;   /* next object to start */
	unsigned fetching; /* objects in flight */
	int error;         /* first failure, < 0 */
	enum intake_reason reason;
	struct event *extend;     /* visibility extension timer */
	struct aws_op *op;        /* visibility change in flight */
	struct http_req *confirm; /* ConfirmSubscription GET in flight */
	TAILQ_ENTRY(msg) entry;
};

TAILQ_HEAD(msg_list, msg);

struct obj {
	struct msg *m;
	const struct notif_object *o;
	struct trail *trail;
	struct aws_op *op;
	int scan_error;   /* the scanner's own */
	int engine_error; /* hooks.record's */
	struct diag diag;
};

/* When the AccessDenied hint for a bucket was last logged. */
#define INTAKE_DENIED_BUCKETS 8
struct intake_denied {
	char bucket[64];
	uint64_t last_us;
};

struct intake {
	struct event_base *base;
	struct aws *aws;
	struct sns_verifier *sns;
	struct http *http;
	struct metrics *metrics;
	const struct cfg *cfg;
	char *queue_url;
	struct intake_hooks hooks;

	struct msg_list msgs; /* in arrival order */
	size_t n_msgs;
	unsigned fetching;
	unsigned deletes_in_flight;
	unsigned verifying;
	unsigned confirming; /* ConfirmSubscription GETs in flight */
	struct trail *trails[INTAKE_MAX_FETCHES]; /* free scanners */
	size_t n_trails;

	struct event *pump_ev; /* the deferred pass */
	struct aws_op *recv_op;
	struct event *recv_timer;  /* after a receive error */
	struct event *pause_timer; /* the safety net while paused */
	unsigned recv_errors;
	bool started;
	bool stopped;
	uint64_t paused_since_us; /* 0: receiving */
	char pause_why[96];
	uint64_t failing_since_us; /* transient failures, none completed */
	char last_error[160];
	struct intake_denied denied[INTAKE_DENIED_BUCKETS];
	size_t next_denied;

	struct metrics_counter *m_received;
	struct metrics_counter *m_deleted;
	struct metrics_counter *m_fetched;
	struct metrics_counter *m_bytes;
	struct metrics_counter *m_skipped_records;
	struct metrics_counter *m_failed[INTAKE_REASON_COUNT];
	struct metrics_counter *m_obj_failed[INTAKE_REASON_COUNT];
	struct metrics_counter *m_not_log;
	struct metrics_counter *m_subs[INTAKE_SUB_COUNT];
	struct metrics_gauge *m_last_receive;
	struct metrics_gauge *m_paused;
	struct metrics_counter *m_recv_errors[INTAKE_RECV_REASON_COUNT];
	struct metrics_gauge *m_oldest;
};

static void msg_step(struct msg *m);

static void intake_error(struct intake *in, const char *fmt, ...)
    PRINTF_LIKE(2, 3);

static void
intake_error(struct intake *in, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(in->last_error, sizeof(in->last_error), fmt, ap);
	va_end(ap);
}

void
intake_kick(struct intake *in)
{
	if (in == NULL)
		return;
	event_active(in->pump_ev, 0, 0);
}

static void
msg_ctx(const struct msg *m, struct log_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->message_id = m->sm.message_id;
}

/* The one place a message changes state: checked, traced, and the pass
 * that starts waiting work and re-arms receiving is scheduled. */
static void
msg_set_state(struct msg *m, enum msg_state s)
{
	struct log_ctx ctx;

	assert(m->state < MSG_STATE_COUNT && s < MSG_STATE_COUNT);
	assert((msg_next[m->state] & MSG_BIT(s)) != 0);
	msg_ctx(m, &ctx);
	log_ctx_debug(&ctx, "message %s -> %s", msg_state_str(m->state),
	    msg_state_str(s));
	m->state = s;
	intake_kick(m->in);
}

static bool
msg_in_work(const struct msg *m)
{
	return m->state != MSG_PARKED && m->state != MSG_DONE &&
	    m->state != MSG_DELETING;
}

static void
msg_free(struct msg *m)
{
	struct intake *in = m->in;

	TAILQ_REMOVE(&in->msgs, m, entry);
	in->n_msgs--;
	if (m->extend != NULL)
		event_free(m->extend);
	aws_call_cancel(m->op);
	if (m->confirm != NULL) {
		http_cancel(m->confirm);
		in->confirming--;
	}
	notif_free(m->notif);
	sqs_msg_done(&m->sm);
	free(m);
}

/* Records the first failure; the message moves on once nothing is in
 * flight for it (msg_step). */
static void
msg_fail(struct msg *m, enum intake_reason why, int r)
{
	if (m->error != 0)
		return; /* the first failure is the one that counts */
	m->error = r < 0 ? r : -EINVAL;
	m->reason = why;
}

/* ---- visibility ---------------------------------------------------------- */

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
		msg_set_state(m, MSG_DONE);
}

static void
msg_set_visibility(struct msg *m, unsigned timeout_s)
{
	struct intake *in = m->in;
	const char *h[1] = {m->sm.receipt_handle};
	int r;

	if (m->op != NULL)
		return;
	r = sqs_change_visibility_batch(in->aws, in->queue_url, h, 1, timeout_s,
	    msg_visibility_done, m, &m->op);
	if (r < 0)
		log_warn_errno(r, "cannot change a message's visibility");
}

static void
msg_extend_cb(evutil_socket_t fd, short what, void *arg)
{
	struct msg *m = arg;
	struct timeval tv;
	unsigned vis = m->in->cfg->sqs.visibility_timeout_s;

	UNUSED(fd);
	UNUSED(what);
	if (!msg_in_work(m) || vis == 0)
		return;
	msg_set_visibility(m, vis);
	tv = clock_tv_ms((uint64_t)vis * MS_PER_S / 2);
	(void)evtimer_add(m->extend, &tv);
}

/* ---- a message that failed ----------------------------------------------- */

/*
 * A permanent failure is left for the queue's redrive policy (or, at
 * max_receive_count, logged in full and deleted once what it gave is
 * durable); a transient one comes back sooner than its visibility timeout
 * would allow, with backoff.
 */
static void
msg_park(struct msg *m)
{
	struct intake *in = m->in;
	unsigned cut = in->cfg->sqs.max_receive_count;
	bool permanent = intake_reasons[m->reason].permanent;
	const char *label = intake_reasons[m->reason].label;
	const char *text = intake_reason_text(m->reason, m->error);
	char quoted[INTAKE_LOG_BODY + 16];
	struct log_ctx ctx;
	unsigned vis_s;

	msg_ctx(m, &ctx);
	metrics_inc(in->m_failed[m->reason], 1);
	intake_error(in, "%s", label);
	if (permanent && cut > 0 && m->receive_count >= cut) {
		log_ctx_err(&ctx,
		    "giving up after %u receives (%s: %s), deleting; body: "
		    "'%s'",
		    m->receive_count, label, text,
		    log_quote(m->sm.body, quoted, sizeof(quoted)));
		msg_set_state(m, MSG_GIVEN_UP);
		if (in->hooks.scanned != NULL)
			in->hooks.scanned(in->hooks.arg);
		return;
	}
	msg_set_state(m, MSG_PARKED);
	if (permanent) {
		log_ctx_warn(&ctx,
		    "cannot be processed (%s: %s), leaving it to the queue's "
		    "redrive policy (receive %u)",
		    label, text, m->receive_count);
		msg_set_state(m, MSG_DONE);
		return;
	}
	if (in->failing_since_us == 0)
		in->failing_since_us = now_us();
	vis_s = (unsigned)(backoff_next_ms(m->receive_count, 2000,
			       INTAKE_RETRY_VISIBILITY_S * 1000) /
	    1000);
	log_ctx_warn(&ctx,
	    "failed (%s: %s), nothing deleted; it comes back in about %us",
	    label, text, vis_s);
	msg_set_visibility(m, vis_s);
	if (m->op == NULL)
		msg_set_state(m,
		    MSG_DONE); /* else when the change is answered */
}

/* ---- objects ------------------------------------------------------------- */

static void
obj_ctx(const struct obj *ob, struct log_ctx *ctx)
{
	msg_ctx(ob->m, ctx);
	ctx->bucket = ob->o->bucket;
	ctx->key = ob->o->key;
}

static int
obj_record(struct json_object *rec, struct span raw, void *arg)
{
	struct obj *ob = arg;
	struct intake *in = ob->m->in;
	struct log_ctx ctx;
	int r;

	UNUSED(raw);
	obj_ctx(ob, &ctx);
	r = in->hooks.record(rec, &ctx, in->hooks.arg);
	if (r < 0)
		ob->engine_error = r;
	return r;
}

static int
obj_data(const void *p, size_t len, void *arg)
{
	struct obj *ob = arg;
	int r;

	metrics_inc(ob->m->in->m_bytes, len);
	r = trail_feed(ob->trail, p, len, obj_record, ob, &ob->diag);
	if (r < 0 && ob->engine_error != 0)
		return -ECANCELED; /* ours, not the object's: never retried */
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
	struct msg *m = ob->m;
	struct intake *in = m->in;

	if (in->n_trails < INTAKE_MAX_FETCHES)
		in->trails[in->n_trails++] = ob->trail;
	else
		trail_free(ob->trail);
	free(ob);
	in->fetching--;
	m->fetching--;
	msg_step(m);
	intake_kick(in); /* a fetch slot is free */
}

/* "NoSuchKey: The key does not exist", or "HTTP 503", or curl's text. */
static const char *
obj_fetch_detail(const struct aws_result *res, char *buf, size_t size)
{
	if (res->code[0] != '\0')
		(void)snprintf(buf, size, "%s%s%s", res->code,
		    res->message[0] ? ": " : "", res->message);
	else if (res->status != 0)
		(void)snprintf(buf, size, "HTTP %ld%s%s", res->status,
		    res->message[0] ? ": " : "", res->message);
	else
		(void)snprintf(buf, size, "%s",
		    res->message[0] ? res->message : strerror(-res->error));
	return buf;
}

/*
 * After an AccessDenied on GetObject: what to grant, at most once a minute
 * per bucket (a denied bucket fails every object); "" when not due.
 */
static const char *
obj_denied_hint(struct intake *in, const struct obj *ob,
    const struct aws_result *res, char *buf, size_t size)
{
	struct intake_denied *d = NULL;
	uint64_t now = now_us();
	char hint[1400];
	size_t i;

	buf[0] = '\0';
	if (res->error != -EACCES)
		return buf;
	for (i = 0; i < INTAKE_DENIED_BUCKETS && d == NULL; i++)
		if (strcmp(in->denied[i].bucket, ob->o->bucket) == 0)
			d = &in->denied[i];
	if (d != NULL && now - d->last_us < 60 * US_PER_S)
		return buf;
	if (d == NULL) {
		d = &in->denied[in->next_denied];
		in->next_denied = (in->next_denied + 1) % INTAKE_DENIED_BUCKETS;
		(void)snprintf(d->bucket, sizeof(d->bucket), "%s",
		    ob->o->bucket);
	}
	d->last_us = now;
	(void)snprintf(buf, size,
	    "; %s (smtrail aws-check tests it; said at "
	    "most once a minute per bucket)",
	    s3_denied_hint(in->aws, ob->o->bucket, ob->o->key,
		s3_denied_is_kms(res), NULL, hint, sizeof(hint)));
	return buf;
}

/* Where SQS requests go, for a log line. */
static const char *
intake_sqs_where(const struct intake *in, char *buf, size_t size)
{
	struct sqs_endpoint e;

	if (sqs_queue_endpoint(in->aws, in->queue_url, &e, NULL) < 0)
		(void)snprintf(buf, size, "?");
	else
		(void)snprintf(buf, size, "%s (region %s)", e.url, e.region);
	return buf;
}

static void
obj_scanned(struct obj *ob, const struct log_ctx *ctx)
{
	const struct trail_stats *st = trail_stats(ob->trail);
	struct intake *in = ob->m->in;

	const struct diag *first = trail_skipped_first(ob->trail);

	metrics_inc(in->m_fetched, 1);
	log_ctx_info(ctx,
	    "object scanned: %llu bytes, %llu records, %llu Secrets Manager "
	    "events",
	    (unsigned long long)st->bytes_in, (unsigned long long)st->records,
	    (unsigned long long)st->matched);
	if (st->skipped == 0 || first == NULL)
		return;
	/* The rest of the file was scanned: worth a warning, not a failure. */
	metrics_inc(in->m_skipped_records, st->skipped);
	log_ctx_warn(ctx, "%llu record(s) skipped, unread (first: %s)",
	    (unsigned long long)st->skipped, first->msg);
}

static void
obj_done(const struct aws_result *res, void *arg)
{
	struct obj *ob = arg;
	struct msg *m = ob->m;
	struct intake *in = m->in;
	enum intake_reason why;
	struct log_ctx ctx;
	char detail[600];
	char hint[1600];
	int r = res->error;

	ob->op = NULL;
	obj_ctx(ob, &ctx);
	if (r == 0 && ob->scan_error == 0 && ob->engine_error == 0) {
		r = trail_finish(ob->trail, obj_record, ob, &ob->diag);
		if (r < 0 && ob->engine_error == 0)
			ob->scan_error = r;
	}
	if (ob->engine_error != 0) {
		why = intake_engine_reason(ob->engine_error);
		log_ctx_warn(&ctx, "cannot keep this object's alerts (%s: %s)",
		    intake_reasons[why].label,
		    intake_reason_text(why, ob->engine_error));
		msg_fail(m, why, ob->engine_error);
	} else if (ob->scan_error != 0) {
		why = intake_object_reason(ob->scan_error);
		metrics_inc(in->m_obj_failed[why], 1);
		log_ctx_warn(&ctx, "object unreadable: %s",
		    diag_format(&ob->diag, detail, sizeof(detail)));
		msg_fail(m, why, ob->scan_error);
	} else if (r < 0) {
		why = intake_object_reason(r);
		metrics_inc(in->m_obj_failed[why], 1);
		log_ctx_warn(&ctx, "GetObject failed: %s (%u attempt%s)%s",
		    obj_fetch_detail(res, detail, sizeof(detail)),
		    res->attempts, res->attempts == 1 ? "" : "s",
		    obj_denied_hint(in, ob, res, hint, sizeof(hint)));
		msg_fail(m, why, r);
	} else {
		obj_scanned(ob, &ctx);
	}
	obj_finish(ob);
}

static bool
intake_bucket_allowed(const struct intake *in, const char *bucket)
{
	size_t i;

	if (in->cfg->s3.n_allowed_buckets == 0)
		return true;
	for (i = 0; i < in->cfg->s3.n_allowed_buckets; i++)
		if (strcmp(bucket, in->cfg->s3.allowed_buckets[i]) == 0)
			return true;
	return false;
}

static int
obj_start(struct msg *m, const struct notif_object *o)
{
	struct intake *in = m->in;
	struct s3_get_opts so;
	struct obj *ob;
	int r;

	/* The bucket requested is the one checked (s3 refuses a name that
	 * could make the request another bucket's). */
	if (!intake_bucket_allowed(in, o->bucket))
		return -EACCES;
	ob = malloc(sizeof(*ob));
	if (ob == NULL)
		return -ENOMEM;
	*ob = (struct obj){.m = m, .o = o};
	if (in->n_trails > 0) {
		ob->trail = in->trails[--in->n_trails];
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
	so.max_size = in->cfg->s3.max_object_size;
	so.on_data = obj_data;
	so.on_restart = obj_restart;
	r = s3_get_object(in->aws, o->bucket, o->key, &so, obj_done, ob,
	    &ob->op);
	if (r < 0) {
		trail_free(ob->trail);
		free(ob);
		return r;
	}
	in->fetching++;
	m->fetching++;
	return 0;
}

/* ---- one message, step by step ------------------------------------------- */

/* An EventBridge message carries its record: hand it over once. */
static void
msg_inline_record(struct msg *m)
{
	struct intake *in = m->in;
	struct json_object *rec = m->notif->record;
	struct json_object *src;
	struct log_ctx ctx;
	int r;

	m->next_obj = 1; /* processed */
	if (!json_object_object_get_ex(rec, "eventSource", &src) ||
	    strcmp(json_object_get_string(src),
		"secretsmanager.amazonaws.com") != 0)
		return;
	msg_ctx(m, &ctx);
	r = in->hooks.record(rec, &ctx, in->hooks.arg);
	if (r < 0) {
		enum intake_reason why = intake_engine_reason(r);

		log_ctx_warn(&ctx, "cannot keep this event's alerts (%s: %s)",
		    intake_reasons[why].label, intake_reason_text(why, r));
		msg_fail(m, why, r);
	}
}

/*
 * Starts what may start (fetch slots are shared, first come first
 * served), and moves the message on once nothing is in flight for it.
 */
static void
msg_step(struct msg *m)
{
	struct intake *in = m->in;
	struct notif *n = m->notif;
	enum intake_reason why;
	int r;

	if (m->state != MSG_FETCHING)
		return;
	if (n->record != NULL && m->next_obj == 0 && n->n_objects == 0)
		msg_inline_record(m);
	while (m->error == 0 && m->next_obj < n->n_objects &&
	    in->fetching < INTAKE_MAX_FETCHES) {
		r = obj_start(m, &n->objects[m->next_obj]);
		if (r < 0) {
			why = r == -EACCES ? INTAKE_BUCKET_NOT_ALLOWED
			    : r == -EINVAL ? INTAKE_BAD_NOTIFICATION
					   : INTAKE_INTERNAL;
			log_warn_errno(r, "cannot fetch s3://%s/%s",
			    n->objects[m->next_obj].bucket,
			    n->objects[m->next_obj].key);
			msg_fail(m, why, r);
			break;
		}
		m->next_obj++;
	}
	if (m->fetching > 0)
		return;
	if (m->error == 0 && m->next_obj < n->n_objects)
		return; /* waiting for a fetch slot: the pass starts it */
	if (m->error != 0) {
		msg_park(m);
		return;
	}
	/* Every object scanned: durable at the next sync, then deleted. */
	msg_set_state(m, MSG_SCANNED);
	if (in->hooks.scanned != NULL)
		in->hooks.scanned(in->hooks.arg);
}

/* ---- SNS subscription confirmations ------------------------------------ */

static bool
intake_topic_listed(const struct intake *in, const char *arn)
{
	size_t i;

	for (i = 0; arn != NULL && i < in->cfg->sns.n_topic_arns; i++)
		if (strcmp(arn, in->cfg->sns.topic_arns[i]) == 0)
			return true;
	return false;
}

/* Nothing more to do for the confirmation: on to deletion. */
static void
msg_confirm_finish(struct msg *m)
{
	msg_set_state(m, MSG_FETCHING);
	msg_step(m); /* no objects: scanned, synced, deleted */
}

static void
msg_confirm_done(struct http_response *resp, void *arg)
{
	struct msg *m = arg;
	struct intake *in = m->in;
	const struct notif_confirm *cf = &m->notif->confirm;
	char topic[QUOTE_SIZE(NOTIF_MAX_SUBSCRIBE_URL)];
	struct log_ctx ctx;

	m->confirm = NULL;
	in->confirming--;
	msg_ctx(m, &ctx);
	(void)quote_bytes(topic, sizeof(topic), cf->topic_arn,
	    strlen(cf->topic_arn), NOTIF_MAX_SUBSCRIBE_URL);
	if (resp->error == 0 && resp->status >= 200 && resp->status < 300) {
		metrics_inc(in->m_subs[INTAKE_SUB_CONFIRMED], 1);
		log_msg(LOG_LEVEL_NOTICE, &ctx, 0,
		    "SNS subscription to topic '%s' confirmed", topic);
		msg_confirm_finish(m);
		return;
	}
	metrics_inc(in->m_subs[INTAKE_SUB_FAILED], 1);
	if (resp->error != 0)
		log_ctx_warn(&ctx,
		    "SNS subscription to topic '%s' not confirmed: the "
		    "ConfirmSubscription GET failed: %s",
		    topic,
		    resp->errmsg[0] ? resp->errmsg : strerror(-resp->error));
	else
		log_ctx_warn(&ctx,
		    "SNS subscription to topic '%s' not confirmed: the "
		    "ConfirmSubscription GET answered HTTP %ld",
		    topic, resp->status);
	msg_fail(m, INTAKE_SNS_CONFIRM,
	    resp->error != 0 ? resp->error : -EAGAIN);
	msg_park(m);
}

/* Why a SubscriptionConfirmation is not confirmed (NULL: it may be). */
static const char *
msg_confirm_refusal(struct msg *m, char *buf, size_t size,
    enum intake_sub *ret_result)
{
	struct intake *in = m->in;
	const struct notif_confirm *cf = &m->notif->confirm;
	struct diag dg;

	*ret_result = INTAKE_SUB_REFUSED;
	if (!in->cfg->sns.confirm_subscriptions) {
		*ret_result = INTAKE_SUB_LOGGED;
		return "sns.confirm_subscriptions is off; to subscribe, visit "
		       "the SubscribeURL (or confirm it with the SNS API)";
	}
	if (in->cfg->sns.n_topic_arns == 0)
		return "sns.topic_arns is empty, and only topics listed there "
		       "are confirmed";
	if (!intake_topic_listed(in, cf->topic_arn))
		return "the topic is not in sns.topic_arns";
	memset(&dg, 0, sizeof(dg));
	if (notif_subscribe_url_check(cf->subscribe_url,
		&in->cfg->sns.subscribe_url_re, cf->topic_arn, &dg) < 0) {
		(void)snprintf(buf, size, "%s", dg.msg);
		return buf;
	}
	return NULL;
}

/*
 * A (signature-checked, if so configured) confirmation: logged at notice
 * with its topic and SubscribeURL (the token in it only lets one confirm
 * the subscription: not a secret), and, if configured and ours, confirmed
 * with a GET of the SubscribeURL. Not ours, or done: deleted; the GET
 * failed: left for redelivery (INTAKE_SNS_CONFIRM is transient).
 */
static void
msg_confirm(struct msg *m)
{
	struct intake *in = m->in;
	const struct notif_confirm *cf = &m->notif->confirm;
	char topic[QUOTE_SIZE(NOTIF_MAX_SUBSCRIBE_URL)];
	char url[QUOTE_SIZE(NOTIF_MAX_SUBSCRIBE_URL)];
	char why[sizeof(((struct diag *)0)->msg)];
	const char *refused;
	struct http_request rq;
	enum intake_sub result;
	struct log_ctx ctx;
	int r;

	msg_ctx(m, &ctx);
	(void)quote_bytes(topic, sizeof(topic),
	    cf->topic_arn != NULL ? cf->topic_arn : "",
	    cf->topic_arn != NULL ? strlen(cf->topic_arn) : 0,
	    NOTIF_MAX_SUBSCRIBE_URL);
	(void)quote_bytes(url, sizeof(url),
	    cf->subscribe_url != NULL ? cf->subscribe_url : "",
	    cf->subscribe_url != NULL ? strlen(cf->subscribe_url) : 0,
	    NOTIF_MAX_SUBSCRIBE_URL);
	if (!cf->subscribe) {
		log_msg(LOG_LEVEL_NOTICE, &ctx, 0,
		    "SNS UnsubscribeConfirmation: the subscription to topic "
		    "'%s' was deleted; to subscribe again, SubscribeURL '%s'",
		    topic, url);
		msg_confirm_finish(m);
		return;
	}
	log_msg(LOG_LEVEL_NOTICE, &ctx, 0,
	    "SNS SubscriptionConfirmation for topic '%s': SubscribeURL '%s'",
	    topic, url);
	refused = msg_confirm_refusal(m, why, sizeof(why), &result);
	if (refused != NULL) {
		metrics_inc(in->m_subs[result], 1);
		log_msg(LOG_LEVEL_NOTICE, &ctx, 0,
		    "SNS subscription to topic '%s' not confirmed: %s", topic,
		    refused);
		msg_confirm_finish(m);
		return;
	}
	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.url = cf->subscribe_url;
	rq.timeout_ms = in->cfg->http.timeout_ms;
	rq.max_body = INTAKE_CONFIRM_MAX_BODY;
	rq.on_done = msg_confirm_done;
	rq.arg = m;
	r = http_start(in->http, &rq, &m->confirm);
	if (r < 0) {
		metrics_inc(in->m_subs[INTAKE_SUB_FAILED], 1);
		log_ctx_warn(&ctx,
		    "SNS subscription to topic '%s' not confirmed: cannot "
		    "start the GET: %s",
		    topic, strerror(-r));
		msg_fail(m, INTAKE_SNS_CONFIRM, r);
		msg_park(m);
		return;
	}
	in->confirming++;
	msg_set_state(m, MSG_CONFIRMING);
}

/* After the signature check (if any): a confirmation, or the objects. */
static void
msg_verified(struct msg *m)
{
	if (m->notif->shape == NOTIF_SHAPE_SNS_CONFIRMATION) {
		msg_confirm(m);
		return;
	}
	msg_set_state(m, MSG_FETCHING);
	msg_step(m);
}

static void
msg_sns_done(int r, const struct diag *dg, void *arg)
{
	struct msg *m = arg;
	struct log_ctx ctx;

	m->in->verifying--;
	msg_ctx(m, &ctx);
	if (r < 0) {
		bool bad = r == -EPROTO || r == -EACCES || r == -EBADMSG;

		log_ctx_warn(&ctx, "SNS signature check failed: %s",
		    dg != NULL ? dg->msg : strerror(-r));
		msg_fail(m, bad ? INTAKE_BAD_SIGNATURE : INTAKE_SNS_VERIFY, r);
		msg_park(m);
		return;
	}
	msg_verified(m);
}

static bool
intake_topic_allowed(const struct intake *in, struct json_object *env)
{
	struct json_object *t;
	const char *arn;
	size_t i;

	if (in->cfg->sns.n_topic_arns == 0)
		return true;
	if (!json_object_object_get_ex(env, "TopicArn", &t))
		return false;
	arn = json_object_get_string(t);
	for (i = 0; i < in->cfg->sns.n_topic_arns; i++)
		if (strcmp(arn, in->cfg->sns.topic_arns[i]) == 0)
			return true;
	return false;
}

static void
msg_parse(struct msg *m)
{
	struct intake *in = m->in;
	struct notif_opts no;
	struct log_ctx ctx;
	struct diag dg;
	int r;

	msg_ctx(m, &ctx);
	memset(&dg, 0, sizeof(dg));
	no.allowed_buckets = (const char *const *)in->cfg->s3.allowed_buckets;
	no.n_allowed = in->cfg->s3.n_allowed_buckets;
	r = notif_parse(m->sm.body, strlen(m->sm.body), &no, &m->notif, &dg);
	if (r < 0) {
		log_ctx_warn(&ctx, "bad notification: %s", dg.msg);
		msg_fail(m,
		    r == -EACCES ? INTAKE_BUCKET_NOT_ALLOWED
				 : INTAKE_BAD_NOTIFICATION,
		    r);
		msg_park(m);
		return;
	}
	if (m->notif->skipped_digest + m->notif->skipped_other > 0)
		metrics_inc(in->m_not_log,
		    m->notif->skipped_digest + m->notif->skipped_other);
	log_ctx_info(&ctx, "notification: %s, %zu object(s)",
	    notif_shape_str(m->notif->inner), m->notif->n_objects);
	if (m->notif->inner == NOTIF_SHAPE_S3_TEST)
		log_ctx_info(&ctx, "%s: nothing to fetch, acknowledged",
		    notif_shape_str(m->notif->inner));
	/* A confirmation from a topic not listed is not a failure: it is
	 * logged and deleted, never confirmed (msg_confirm). */
	if (m->notif->sns != NULL &&
	    m->notif->shape != NOTIF_SHAPE_SNS_CONFIRMATION &&
	    !intake_topic_allowed(in, m->notif->sns)) {
		log_ctx_warn(&ctx, "SNS topic not in sns.topic_arns");
		msg_fail(m, INTAKE_TOPIC_NOT_ALLOWED, -EACCES);
		msg_park(m);
		return;
	}
	if (m->notif->sns != NULL && in->cfg->sns.verify_signatures) {
		r = sns_verify(in->sns, m->notif->sns, msg_sns_done, m);
		if (r < 0) {
			msg_fail(m, INTAKE_SNS_VERIFY, r);
			msg_park(m);
			return;
		}
		in->verifying++;
		msg_set_state(m, MSG_VERIFYING);
		return;
	}
	msg_verified(m);
}

static struct msg *
msg_new(struct intake *in, struct sqs_msg *sm)
{
	struct msg *m = calloc(1, sizeof(*m));
	unsigned vis = in->cfg->sqs.visibility_timeout_s;

	if (m == NULL)
		return NULL;
	m->in = in;
	m->sm = *sm; /* the strings are ours now */
	sm->message_id = sm->receipt_handle = sm->body = NULL;
	m->receive_count = sm->receive_count;
	m->received_us = now_us();
	m->extend = evtimer_new(in->base, msg_extend_cb, m);
	TAILQ_INSERT_TAIL(&in->msgs, m, entry);
	in->n_msgs++;
	if (m->extend != NULL && vis > 1) {
		struct timeval tv = clock_tv_ms((uint64_t)vis * MS_PER_S / 2);

		(void)evtimer_add(m->extend, &tv);
	}
	return m;
}

/* ---- deletes ------------------------------------------------------------- */

struct del_batch {
	struct intake *in;
	char *ids[SQS_MAX_BATCH];
	size_t n;
};

static void
del_done(const struct aws_result *res, const int *results, size_t n, void *arg)
{
	struct del_batch *b = arg;
	struct intake *in = b->in;
	size_t i;

	in->deletes_in_flight--;
	for (i = 0; i < n; i++) {
		struct log_ctx ctx = {.message_id = b->ids[i]};

		if (results[i] == 0) {
			metrics_inc(in->m_deleted, 1);
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
	intake_kick(in);
}

/* Deletes the durable messages, ten at a time. */
static void
del_flush(struct intake *in)
{
	struct msg *m = TAILQ_FIRST(&in->msgs);

	while (m != NULL) {
		const char *handles[SQS_MAX_BATCH];
		struct msg *batch[SQS_MAX_BATCH];
		struct del_batch *b = calloc(1, sizeof(*b));
		size_t i;
		int r;

		if (b == NULL)
			return;
		b->in = in;
		for (; m != NULL && b->n < SQS_MAX_BATCH;
		     m = TAILQ_NEXT(m, entry)) {
			if (m->state != MSG_SPOOLED)
				continue;
			batch[b->n] = m;
			handles[b->n] = m->sm.receipt_handle;
			b->ids[b->n++] = m->sm.message_id;
		}
		if (b->n == 0) {
			free(b);
			return;
		}
		r = sqs_delete_batch(in->aws, in->queue_url, handles, b->n,
		    del_done, b, NULL);
		/* The handles were copied by the call: the messages go. */
		for (i = 0; i < b->n; i++) {
			batch[i]->sm.message_id = NULL;
			msg_set_state(batch[i], MSG_DELETING);
			msg_set_state(batch[i], MSG_DONE);
		}
		if (r < 0) {
			log_warn_errno(r,
			    "cannot start DeleteMessageBatch; "
			    "the messages will be received "
			    "again and their alerts "
			    "deduplicated");
			for (i = 0; i < b->n; i++)
				free(b->ids[i]);
			free(b);
			continue;
		}
		in->deletes_in_flight++;
	}
}

void
intake_synced(struct intake *in)
{
	struct msg *m;

	if (in == NULL)
		return;
	TAILQ_FOREACH(m, &in->msgs, entry)
	{
		if (m->state == MSG_SCANNED) {
			/* A message completed: the failing streak ends. */
			in->failing_since_us = 0;
			msg_set_state(m, MSG_SPOOLED);
		} else if (m->state == MSG_GIVEN_UP) {
			msg_set_state(m, MSG_SPOOLED);
		}
	}
}

/* ---- receive ------------------------------------------------------------- */

static void recv_kick(struct intake *in);
static size_t intake_in_work(const struct intake *in);

/* Seconds the oldest of a receive's messages has waited in the queue,
 * by SQS's SentTimestamp and our clock (0 when they disagree); 0 for an
 * empty receive. */
static double
intake_oldest_age(const struct sqs_msg *msgs, size_t n)
{
	uint64_t oldest = 0;
	struct timespec ts;
	double now_ms;
	size_t i;

	for (i = 0; i < n; i++)
		if (msgs[i].sent_timestamp_ms != 0 &&
		    (oldest == 0 || msgs[i].sent_timestamp_ms < oldest))
			oldest = msgs[i].sent_timestamp_ms;
	if (oldest == 0 || clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return 0;
	now_ms = (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
	return now_ms > (double)oldest ? (now_ms - (double)oldest) / 1e3 : 0;
}

static void
recv_done(const struct aws_result *res, struct sqs_msg *msgs, size_t n,
    void *arg)
{
	struct intake *in = arg;
	struct timeval tv;
	char where[400];
	uint64_t delay;
	size_t i;

	in->recv_op = NULL;
	if (res->error != 0) {
		metrics_inc(in->m_recv_errors[intake_recv_reason(res->error,
				res->status)],
		    1);
		delay = backoff_next_ms(in->recv_errors++, 1000,
		    INTAKE_RECV_BACKOFF_CAP_MS);
		log_warn("ReceiveMessage failed: %s%s%s (%s), retrying in "
			 "%llu ms%s%s",
		    res->code, res->code[0] ? ": " : "", res->message,
		    strerror(-res->error), (unsigned long long)delay,
		    strcmp(res->code, "QueueDoesNotExist") == 0
			? "; check sqs.queue_url and the region, requests go "
			  "to "
			: "",
		    strcmp(res->code, "QueueDoesNotExist") == 0
			? intake_sqs_where(in, where, sizeof(where))
			: "");
		intake_error(in, "ReceiveMessage: %s",
		    res->code[0] ? res->code : strerror(-res->error));
		tv = clock_tv_ms(delay);
		(void)evtimer_add(in->recv_timer, &tv);
		sqs_msgs_free(msgs, n);
		return;
	}
	if (in->recv_errors > 0)
		log_notice("ReceiveMessage works again");
	in->recv_errors = 0;
	metrics_gauge_set(in->m_last_receive, (double)time(NULL));
	metrics_gauge_set(in->m_oldest, intake_oldest_age(msgs, n));
	if (in->hooks.received != NULL)
		in->hooks.received(n, n == 0 && intake_in_work(in) == 0,
		    in->hooks.arg);
	for (i = 0; i < n; i++) {
		struct msg *m = msg_new(in, &msgs[i]);
		struct log_ctx ctx;

		metrics_inc(in->m_received, 1);
		if (m == NULL)
			continue; /* comes back after its visibility timeout */
		msg_ctx(m, &ctx);
		log_ctx_info(&ctx, "message received (receive %u)",
		    m->receive_count);
		msg_parse(m);
	}
	sqs_msgs_free(msgs, n);
	intake_kick(in);
}

static void
recv_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	UNUSED(fd);
	UNUSED(what);
	recv_kick(arg);
}

static size_t
intake_in_work(const struct intake *in)
{
	const struct msg *m;
	size_t n = 0;

	TAILQ_FOREACH(m, &in->msgs, entry)
	n += msg_in_work(m);
	return n;
}

/* Why receiving must wait, into in->pause_why; false: it need not. */
static bool
recv_paused(struct intake *in)
{
	size_t busy = intake_in_work(in);
	const char *why = NULL;

	if (busy >= 2 * (size_t)in->cfg->sqs.max_messages)
		(void)snprintf(in->pause_why, sizeof(in->pause_why),
		    "%zu messages in work", busy);
	else if (in->hooks.pause != NULL &&
	    (why = in->hooks.pause(in->hooks.arg)) != NULL)
		(void)snprintf(in->pause_why, sizeof(in->pause_why), "%s", why);
	else
		return false;
	return true;
}

/* Starts the next long poll, unless something holds it back. */
static void
recv_kick(struct intake *in)
{
	struct sqs_receive_opts ro;
	struct timeval tv = clock_tv_ms(INTAKE_PAUSE_RECHECK_MS);
	int r;

	if (!in->started || in->stopped || in->recv_op != NULL ||
	    evtimer_pending(in->recv_timer, NULL))
		return;
	if (recv_paused(in)) {
		if (in->paused_since_us == 0) {
			in->paused_since_us = now_us();
			metrics_gauge_set(in->m_paused, 1);
			log_info("receiving paused: %s", in->pause_why);
		}
		if (!evtimer_pending(in->pause_timer, NULL))
			(void)evtimer_add(in->pause_timer, &tv);
		return;
	}
	if (in->paused_since_us != 0) {
		log_info("receiving again after %.1f s",
		    (double)(now_us() - in->paused_since_us) / 1e6);
		in->paused_since_us = 0;
		metrics_gauge_set(in->m_paused, 0);
	}
	memset(&ro, 0, sizeof(ro));
	ro.max_messages = in->cfg->sqs.max_messages;
	ro.wait_time_s = in->cfg->sqs.wait_time_s;
	ro.visibility_timeout_s = in->cfg->sqs.visibility_timeout_s;
	r = sqs_receive(in->aws, in->queue_url, &ro, recv_done, in,
	    &in->recv_op);
	if (r < 0) {
		struct timeval again = {5, 0};

		log_warn_errno(r,
		    "cannot start ReceiveMessage, retrying in 5s");
		(void)evtimer_add(in->recv_timer, &again);
	}
}

/* ---- the pass ------------------------------------------------------------ */

/*
 * Runs after any state change (deferred: never inside a caller's call):
 * starts fetches for messages waiting for a slot, oldest first; deletes
 * what is durable; frees what is done; re-arms receiving.
 */
static void
intake_pump_cb(evutil_socket_t fd, short what, void *arg)
{
	struct intake *in = arg;
	struct msg *m;
	struct msg *next;

	UNUSED(fd);
	UNUSED(what);
	for (m = TAILQ_FIRST(&in->msgs); m != NULL; m = next) {
		next = TAILQ_NEXT(m, entry);
		if (m->state == MSG_FETCHING &&
		    in->fetching < INTAKE_MAX_FETCHES)
			msg_step(m);
	}
	del_flush(in);
	for (m = TAILQ_FIRST(&in->msgs); m != NULL; m = next) {
		next = TAILQ_NEXT(m, entry);
		if (m->state == MSG_DONE)
			msg_free(m);
	}
	recv_kick(in);
}

static void
pause_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	UNUSED(fd);
	UNUSED(what);
	recv_kick(arg);
}

/* ---- the API ------------------------------------------------------------- */

static void
intake_metrics(struct intake *in)
{
	struct metrics *mt = in->metrics;
	size_t i;

	in->m_received = metrics_counter(mt, "smtrail_messages_received_total",
	    "SQS messages received.", NULL, NULL);
	in->m_deleted = metrics_counter(mt, "smtrail_messages_deleted_total",
	    "SQS messages deleted after their alerts were durable.", NULL,
	    NULL);
	in->m_fetched = metrics_counter(mt, "smtrail_objects_fetched_total",
	    "S3 objects fetched and scanned.", NULL, NULL);
	in->m_bytes = metrics_counter(mt, "smtrail_bytes_fetched_total",
	    "Bytes fetched from S3.", NULL, NULL);
	in->m_skipped_records =
	    metrics_counter(mt, "smtrail_records_skipped_total",
		"Records skipped unread: over the size or nesting limit.", NULL,
		NULL);
	in->m_not_log = metrics_counter(mt, "smtrail_objects_skipped_total",
	    "Keys skipped: digests and non-log files.", "reason",
	    "not_a_log_file");
	for (i = 0; i < INTAKE_SUB_COUNT; i++)
		in->m_subs[i] = metrics_counter(mt,
		    "smtrail_sns_subscriptions_total",
		    "SNS SubscriptionConfirmations: confirmed, logged (confirming "
		    "is off), refused (not ours), failed (to be retried).",
		    "result", intake_sub_str((enum intake_sub)i));
	in->m_last_receive =
	    metrics_gauge(mt, "smtrail_last_receive_timestamp_seconds",
		"When ReceiveMessage last succeeded.", NULL, NULL);
	in->m_paused = metrics_gauge(mt, "smtrail_receive_paused",
	    "1 while receiving is paused by backpressure.", NULL, NULL);
	in->m_oldest =
	    metrics_gauge(mt, "smtrail_queue_oldest_message_age_seconds",
		"Age (now - SentTimestamp) of the oldest message the latest "
		"ReceiveMessage returned, when it returned; 0 if none.",
		NULL, NULL);
	for (i = 0; i < INTAKE_RECV_REASON_COUNT; i++)
		in->m_recv_errors[i] =
		    metrics_counter(mt, "smtrail_receive_errors_total",
			"ReceiveMessage calls that failed, by cause.", "reason",
			intake_recv_reason_str((enum intake_recv_reason)i));
	/* Every reason from the start: a series that appears only once
	 * non-zero cannot be alerted on with rate(). */
	for (i = 0; i < INTAKE_REASON_COUNT; i++) {
		in->m_failed[i] =
		    metrics_counter(mt, "smtrail_messages_failed_total",
			"Messages that could not be processed.", "reason",
			intake_reasons[i].label);
		if (intake_reasons[i].object)
			in->m_obj_failed[i] =
			    metrics_counter(mt, "smtrail_objects_failed_total",
				"Objects that could not be fetched or scanned.",
				"reason", intake_reasons[i].label);
	}
}

int
intake_new(struct event_base *base, struct aws *aws, struct sns_verifier *sns,
    struct http *http, struct metrics *metrics, const struct cfg *cfg,
    const struct intake_hooks *hooks, struct intake **ret)
{
	struct intake *in;

	if (cfg->sqs.queue_url == NULL || hooks == NULL ||
	    hooks->record == NULL)
		return -EINVAL;
	in = calloc(1, sizeof(*in));
	if (in == NULL)
		return -ENOMEM;
	TAILQ_INIT(&in->msgs);
	in->base = base;
	in->aws = aws;
	in->sns = sns;
	in->http = http;
	in->metrics = metrics;
	in->cfg = cfg;
	in->hooks = *hooks;
	in->queue_url = strdup(cfg->sqs.queue_url);
	in->pump_ev = event_new(base, -1, 0, intake_pump_cb, in);
	in->recv_timer = evtimer_new(base, recv_timer_cb, in);
	in->pause_timer = evtimer_new(base, pause_timer_cb, in);
	if (in->queue_url == NULL || in->pump_ev == NULL ||
	    in->recv_timer == NULL || in->pause_timer == NULL) {
		intake_free(in);
		return -ENOMEM;
	}
	intake_metrics(in);
	*ret = in;
	return 0;
}

void
intake_free(struct intake *in)
{
	size_t i;

	if (in == NULL)
		return;
	while (!TAILQ_EMPTY(&in->msgs))
		msg_free(TAILQ_FIRST(&in->msgs));
	if (in->recv_op != NULL)
		aws_call_cancel(in->recv_op);
	for (i = 0; i < in->n_trails; i++)
		trail_free(in->trails[i]);
	if (in->pump_ev != NULL)
		event_free(in->pump_ev);
	if (in->recv_timer != NULL)
		event_free(in->recv_timer);
	if (in->pause_timer != NULL)
		event_free(in->pause_timer);
	free(in->queue_url);
	free(in);
}

void
intake_set_cfg(struct intake *in, const struct cfg *cfg)
{
	if (in == NULL)
		return;
	in->cfg = cfg;
	intake_kick(in);
}

void
intake_start(struct intake *in)
{
	if (in == NULL)
		return;
	in->started = true;
	recv_kick(in);
}

void
intake_stop(struct intake *in)
{
	if (in == NULL)
		return;
	in->stopped = true;
	if (in->recv_op != NULL) {
		aws_call_cancel(in->recv_op);
		in->recv_op = NULL;
	}
	(void)evtimer_del(in->recv_timer);
	(void)evtimer_del(in->pause_timer);
}

bool
intake_idle(const struct intake *in)
{
	const struct msg *m;

	if (in == NULL)
		return true;
	if (in->recv_op != NULL || in->fetching > 0 ||
	    in->deletes_in_flight > 0 || in->verifying > 0 ||
	    in->confirming > 0)
		return false;
	/* Every message in work finishes (fetches start as slots free;
	 * scanned ones wait for the sync and their delete). */
	TAILQ_FOREACH(m, &in->msgs, entry)
	if (msg_in_work(m) || (m->state == MSG_PARKED && m->op != NULL))
		return false;
	return true;
}

void
intake_stats(const struct intake *in, struct intake_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->last_error = "";
	if (in == NULL)
		return;
	ret->in_work = intake_in_work(in);
	ret->fetching = in->fetching;
	ret->recv_errors = in->recv_errors;
	ret->paused = in->paused_since_us != 0;
	ret->last_error = in->last_error;
}

int
intake_health(const struct intake *in, struct buf *out)
{
	unsigned vis;
	uint64_t bound;
	uint64_t now = now_us();
	const struct msg *m;
	int r;

	if (in == NULL)
		return 0;
	vis = in->cfg->sqs.visibility_timeout_s;
	bound = 2ull * (vis != 0 ? vis : INTAKE_DEFAULT_BOUND_S) * US_PER_S;

	if (in->recv_errors > 3)
		return buf_printf(out,
			   "ReceiveMessage failing (%u in a row): %s\n",
			   in->recv_errors, in->last_error) < 0
		    ? -ENOMEM
		    : -EIO;
	if (in->paused_since_us != 0 && now - in->paused_since_us > bound)
		return buf_printf(out, "receiving paused for %llu s: %s\n",
			   (unsigned long long)((now - in->paused_since_us) /
			       US_PER_S),
			   in->pause_why) < 0
		    ? -ENOMEM
		    : -EIO;
	if (in->failing_since_us != 0 && now - in->failing_since_us > bound)
		return buf_printf(out,
			   "messages failing for %llu s and none completed "
			   "(last: %s)\n",
			   (unsigned long long)((now - in->failing_since_us) /
			       US_PER_S),
			   in->last_error) < 0
		    ? -ENOMEM
		    : -EIO;
	TAILQ_FOREACH(m, &in->msgs, entry)
	{
		if (!msg_in_work(m) || now - m->received_us <= bound)
			continue;
		return buf_printf(out, "message %s in work for %llu s (%s)\n",
			   m->sm.message_id != NULL ? m->sm.message_id : "?",
			   (unsigned long long)((now - m->received_us) /
			       US_PER_S),
			   msg_state_str(m->state)) < 0
		    ? -ENOMEM
		    : -EIO;
	}
	r = buf_printf(out, "%s; %zu message(s) in work\n",
	    in->paused_since_us != 0 ? "receiving paused" : "receiving",
	    intake_in_work(in));
	return r < 0 ? -ENOMEM : 0;
}
