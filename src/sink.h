/*
 * sink.h: delivering one alert to one destination (the "sinks" stage).
 *
 * A sink is built from a struct sink_conf (the daemon maps its config onto
 * it). sink_send() starts one delivery of an alert's JSON text (as the spool
 * holds it: the alert object as `replay` prints it, plus "record") and ends
 * exactly once, from the loop, with an outcome: delivered, retry (5xx, 429
 * with Retry-After, network errors) or permanent (any other 4xx, or a body
 * the sink cannot render). Retry timing and deadlines are the caller's.
 * Only `stdout` completes without the network; it still calls back from the
 * loop. Never logs. An outcome's detail is safe to log: the status and, for
 * slack and pagerduty, the receiver's short reply ("invalid_payload", the
 * Events API's "errors"), as printable ASCII with every occurrence of the
 * routing key, the HMAC key and the URL's path (and each long part of it)
 * replaced by "[redacted]"; never the URL, a key or the body we sent.
 *
 * Types: stdout writes the JSON line; webhook POSTs it as is (optionally
 * signed); slack POSTs a Block Kit message rendered by slack_payload()
 * (slack.h); pagerduty POSTs an Events API v2 event rendered by pd_payload()
 * (pd.h). An alert slack or pd cannot render ends SINK_PERMANENT.
 *
 * Rate limit (webhook, slack, pagerduty): with rate_count > 0, at most
 * rate_count requests start in any rate_period_us (a sliding window over
 * start times; above SINK_MAX_RATE_WINDOW per period the window is scaled
 * down in proportion, same average rate). Sends beyond it wait in a FIFO
 * inside the sink, on one libevent timer, in the order sink_send() was
 * called; each still ends with exactly one callback, and sink_free()
 * cancels waiting ones without callbacks. The wait does not count against
 * timeout_ms. A slack sink defaults to 1/s (Slack's limit for incoming
 * webhooks), and a Slack 429 with Retry-After pauses the whole sink for
 * that long (the 429'd delivery itself still ends SINK_RETRY with
 * retry_after_ms, for the caller to resend: it then waits out the pause;
 * a 429 without it pauses nothing).
 * PagerDuty sends no Retry-After: its 429 is SINK_RETRY with
 * retry_after_ms 0, for the caller's backoff.
 */
#ifndef SMTRAIL_SINK_H
#define SMTRAIL_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common.h"

struct buf;
struct diag;
struct event_base;
struct http;
struct json_object;
struct sink; /* opaque */

enum sink_type {
	SINK_TYPE_STDOUT,
	SINK_TYPE_WEBHOOK,
	SINK_TYPE_SLACK,
	SINK_TYPE_PAGERDUTY,
	SINK_TYPE_COUNT
};

enum sink_result {
	SINK_DELIVERED,
	SINK_RETRY,
	SINK_PERMANENT,
	SINK_RESULT_COUNT
};

/* A delivery id (sink_send_id), in bytes. */
#define SINK_MAX_DELIVERY_ID 200u
/* Above this many per period, the sliding window is scaled down. */
#define SINK_MAX_RATE_WINDOW 4096u
/* Slack options longer than this are refused (a mistake, not a name). */
#define SINK_MAX_SLACK_OPTION 256u

struct sink_conf {
	const char *name;
	enum sink_type type;
	/* Secret for webhook and slack (never logged); pagerduty: the
	 * Events API endpoint, NULL: PD_DEFAULT_URL (pd.h). */
	const char *url;
	const char *hmac_secret; /* webhook; secret; NULL: unsigned */
	size_t hmac_secret_len;
	const char *routing_key; /* pagerduty, required; secret */
	const char *channel;     /* slack; these four NULL: the hook's own */
	const char *username;
	const char *icon_emoji;
	const char *mention;     /* slack: before every message, see slack.h */
	unsigned rate_count;     /* at most this many starts per period; */
	uint64_t rate_period_us; /* 0/0: no limit (slack: 1 per second) */
	long timeout_ms;         /* per attempt; 0: 10 s */
	int fd;                  /* stdout sink: where to write (1) */
};

struct sink_outcome {
	enum sink_result result;
	int error;               /* transport error, 0 if a response came */
	long status;             /* HTTP status, 0 if none */
	uint64_t retry_after_ms; /* from Retry-After, 0 if none */
	char detail[200];        /* safe to log: status text, curl error */
};

typedef void sink_done_cb(const struct sink_outcome *o, void *arg);

const char *sink_type_str(enum sink_type t);
int sink_type_parse(const char *s, enum sink_type *ret) MUST_CHECK;
const char *sink_result_str(enum sink_result r);

/* -EINVAL, reterr saying why: no url (webhook, slack), no routing key
 * (pagerduty), no http client, a slack option over SINK_MAX_SLACK_OPTION,
 * a rate count without a period or the reverse. */
int sink_new(const struct sink_conf *c, struct event_base *base,
    struct http *http, struct sink **ret, struct diag *reterr) MUST_CHECK;
/* Cancels deliveries in flight or waiting, no callbacks. NULL ok. */
void sink_free(struct sink *s);
const char *sink_name(const struct sink *s);
enum sink_type sink_type(const struct sink *s);
size_t sink_waiting(const struct sink *s); /* held back by the rate limit */

/* 0: the delivery will end with one callback; < 0 (-ENOMEM): no callback. */
int sink_send(struct sink *s, const char *alert_json, size_t len,
    sink_done_cb *cb, void *arg) MUST_CHECK;
/*
 * The same, with a delivery id: the same text for every attempt of one
 * alert to one destination, in this process and after a restart, so a
 * receiver can drop a repeat (a delivery in flight when the daemon died
 * is sent again). Webhooks get it as X-Smtrail-Delivery-Id. Printable
 * ASCII, at most SINK_MAX_DELIVERY_ID bytes, else -EINVAL; NULL: none.
 */
int sink_send_id(struct sink *s, const char *alert_json, size_t len,
    const char *delivery_id, sink_done_cb *cb, void *arg) MUST_CHECK;

/* HMAC-SHA256 of body as "sha256=<hex>" (X-Smtrail-Signature). */
int sink_signature(const void *key, size_t key_len, const void *body,
    size_t len, char *buf, size_t size) MUST_CHECK;
/* Retry-After: delta-seconds or an HTTP date; 0 if absent or unparseable.
 * Capped at one hour. */
uint64_t sink_retry_after_ms(const char *value, time_t now);

#endif
