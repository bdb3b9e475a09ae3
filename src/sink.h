/*
 * sink.h: delivering one alert to one destination (the "sinks" stage).
 *
 * A sink is built from a struct sink_conf (the daemon maps its config onto
 * it) for one kind (sink_kind.h: webhook, stdout, slack, pagerduty, ...).
 * sink_send() starts one delivery of an alert's JSON text (as the spool
 * holds it: the alert object as `replay` prints it, plus "record") and ends
 * exactly once, from the loop, with an outcome: delivered, retry (5xx, 429
 * with Retry-After, network errors) or permanent (any other 4xx, or an
 * alert the kind cannot render). Retry timing and deadlines are the
 * caller's. A local kind (stdout) completes without the network; it still
 * calls back from the loop. Never logs. An outcome's detail is safe to log:
 * the status and what the kind's reply hook keeps of a refusal (Slack's
 * "invalid_payload", the Events API's "errors"), as printable ASCII with
 * every occurrence of each secret option of at least 6 bytes (routing key,
 * HMAC key) and of the URL's path (and each long part of it) replaced by
 * "[redacted]"; never the URL, a key or the body we sent.
 *
 * This file is the dispatcher: it reads the kinds from sink_kinds[] and
 * never names one. A fifth kind touches exactly: a new src/sink_<kind>.c,
 * two lines in src/sink_kind.c (its declaration and its entry in
 * sink_kinds[]) and one in Makefile.am. Not this header, sink.c, cfg.h,
 * cfg.c or deliver.c (sink_kind.h says what the file holds).
 *
 * Rate limit (network kinds): with rate_count > 0, at most rate_count
 * requests start in any rate_period_us (a sliding window over start times;
 * above SINK_MAX_RATE_WINDOW per period the window is scaled down in
 * proportion, same average rate); 0/0 takes the kind's default (slack:
 * 1/s, Slack's limit for incoming webhooks). Sends beyond it wait in a FIFO
 * inside the sink, on one libevent timer, in the order sink_send() was
 * called; each still ends with exactly one callback, and sink_free()
 * cancels waiting ones without callbacks. The wait does not count against
 * timeout_ms. For a kind with pause_on_429 (slack), a 429 with Retry-After
 * pauses the whole sink for that long (the 429'd delivery itself still ends
 * SINK_RETRY with retry_after_ms, for the caller to resend: it then waits
 * out the pause; a 429 without it pauses nothing). A kind without
 * retry_after (pagerduty, which sends none) ends a 429 SINK_RETRY with
 * retry_after_ms 0, for the caller's backoff.
 */
#ifndef SMTRAIL_SINK_H
#define SMTRAIL_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common.h"
#include "sink_kind.h"

struct diag;
struct event_base;
struct http;
struct sink; /* opaque */

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

struct sink_conf {
	const char *name;
	const struct sink_kind *kind;
	/* The kind's options, in its order (kind->opts); NULL: absent (its
	 * default, if it has one). Secrets among them: never logged. */
	const char *opts[SINK_MAX_OPTS];
	unsigned rate_count;     /* at most this many starts per period; */
	uint64_t rate_period_us; /* 0/0: the kind's default */
	long timeout_ms;         /* per attempt; 0: the HTTP client's */
	int fd;                  /* a local kind's output (stdout: 1) */
};

struct sink_outcome {
	enum sink_result result;
	int error;               /* transport error, 0 if a response came */
	long status;             /* HTTP status, 0 if none */
	uint64_t retry_after_ms; /* from Retry-After, 0 if none */
	char detail[200];        /* safe to log: status text, curl error */
};

typedef void sink_done_cb(const struct sink_outcome *o, void *arg);

/* The kind's name (`type:`), "?" for NULL. */
const char *sink_type_str(const struct sink_kind *k);
const char *sink_result_str(enum sink_result r);

/* Sets c's option key (of c->kind) to value (borrowed until sink_new()).
 * -EINVAL when the kind has no such option. */
int sink_conf_set(struct sink_conf *c, const char *key,
    const char *value) MUST_CHECK;

/* -EINVAL, reterr saying why: no kind, a required option missing ("a
 * slack destination needs a url"), the kind's check refusing an option, no
 * http client for a network kind, a rate count without a period or the
 * reverse. */
int sink_new(const struct sink_conf *c, struct event_base *base,
    struct http *http, struct sink **ret, struct diag *reterr) MUST_CHECK;
/* Cancels deliveries in flight or waiting, no callbacks. NULL ok. */
void sink_free(struct sink *s);
const char *sink_name(const struct sink *s);
const struct sink_kind *sink_type(const struct sink *s);
size_t sink_waiting(const struct sink *s); /* held back by the rate limit */

/* 0: the delivery will end with one callback; < 0 (-ENOMEM): no callback. */
int sink_send(struct sink *s, const char *alert_json, size_t len,
    sink_done_cb *cb, void *arg) MUST_CHECK;
/*
 * The same, with a delivery id: the same text for every attempt of one
 * alert to one destination, in this process and after a restart, so a
 * receiver can drop a repeat (a delivery in flight when the daemon died
 * is sent again). Network kinds send it as X-Smtrail-Delivery-Id.
 * Printable ASCII, at most SINK_MAX_DELIVERY_ID bytes, else -EINVAL; NULL:
 * none.
 */
int sink_send_id(struct sink *s, const char *alert_json, size_t len,
    const char *delivery_id, sink_done_cb *cb, void *arg) MUST_CHECK;

/* Retry-After: delta-seconds or an HTTP date; 0 if absent or unparseable.
 * Capped at one hour. */
uint64_t sink_retry_after_ms(const char *value, time_t now);

#endif
