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
 * loop. Never logs, and never puts a URL, key or body in an outcome.
 */
#ifndef SMTRAIL_SINK_H
#define SMTRAIL_SINK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common.h"

struct diag;
struct event_base;
struct http;
struct sink; /* opaque */

enum sink_type { SINK_TYPE_STDOUT, SINK_TYPE_WEBHOOK, SINK_TYPE_COUNT };

enum sink_result {
	SINK_DELIVERED,
	SINK_RETRY,
	SINK_PERMANENT,
	SINK_RESULT_COUNT
};

struct sink_conf {
	const char *name;
	enum sink_type type;
	const char *url;         /* secret: never logged */
	const char *hmac_secret; /* secret; NULL: no signature header */
	size_t hmac_secret_len;
	long timeout_ms; /* per attempt; 0: 10 s */
	int fd;          /* stdout sink: where to write (1) */
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

int sink_new(const struct sink_conf *c, struct event_base *base,
    struct http *http, struct sink **ret, struct diag *reterr) MUST_CHECK;
void sink_free(struct sink *s); /* cancels deliveries in flight, no callbacks */
const char *sink_name(const struct sink *s);
enum sink_type sink_type(const struct sink *s);

int sink_send(struct sink *s, const char *alert_json, size_t len,
    sink_done_cb *cb, void *arg) MUST_CHECK;

/* HMAC-SHA256 of body as "sha256=<hex>" (X-Smtrail-Signature). */
int sink_signature(const void *key, size_t key_len, const void *body,
    size_t len, char *buf, size_t size) MUST_CHECK;
/* Retry-After: delta-seconds or an HTTP date; 0 if absent or unparseable.
 * Capped at one hour. */
uint64_t sink_retry_after_ms(const char *value, time_t now);

#endif
