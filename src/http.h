/*
 * http.h: HTTP(S) requests on the libevent loop, through libcurl's
 * multi-socket API (one multi handle per struct http, so connections are
 * reused). Nothing here blocks: sockets and timers are libevent events, DNS
 * is curl's asynchronous resolver (http_new refuses a libcurl without one).
 *
 * A started request ends exactly once, from the loop, with its done callback
 * (never from inside http_start), unless it is cancelled first, in which case
 * no callback runs. The response and its buffers are borrowed for the
 * duration of the callback. TLS peers and host names are always verified.
 * Redirects are not followed. Never prints; never logs URLs or headers.
 */
#ifndef SMTRAIL_HTTP_H
#define SMTRAIL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "common.h"

struct event_base;
struct http;     /* opaque */
struct http_req; /* opaque, one in-flight request */

struct http_response {
	int error;           /* 0, or -ETIMEDOUT, -ECONNREFUSED, -E2BIG, ... */
	const char *errmsg;  /* curl's text when error != 0 ("" otherwise) */
	long status;         /* HTTP status, 0 when no response */
	struct buf body;     /* the body, unless the request streamed it */
	struct buf headers;  /* "name: value\n" lines, names lower-cased */
	uint64_t body_bytes; /* bytes received, streamed or not */
	double total_s;
};

/* Streaming body: called as a 2xx response's bytes arrive (any other
 * status's body goes to resp->body, for error parsing); return < 0 to abort
 * (that code becomes response.error). */
typedef int http_data_cb(const void *p, size_t len, void *arg);
typedef void http_done_cb(struct http_response *resp, void *arg);

struct http_opts {
	const char *ca_file; /* NULL: the system default */
	const char *ca_path;
	long connect_timeout_ms; /* 0: 10 s */
	long max_connections;    /* 0: 16 */
};

struct http_request {
	const char *method; /* "GET", "POST", "PUT" */
	const char *url;
	const char *const *headers; /* "Name: value" lines */
	size_t n_headers;
	const void *body; /* copied by http_start */
	size_t body_len;
	long timeout_ms;       /* whole transfer; 0: 60 s */
	size_t max_body;       /* 0: 16 MiB; over it: -E2BIG */
	http_data_cb *on_data; /* NULL: collect into resp->body */
	http_done_cb *on_done;
	void *arg;
};

/*
 * The event base every smtrail loop runs on: its timers use the precise
 * monotonic clock, not the coarse one libevent picks by default (a few ms
 * of granularity), so that a Retry-After or a rate limit is waited in full.
 * NULL when out of memory.
 */
struct event_base *http_base_new(void);

int http_new(struct event_base *base, const struct http_opts *o,
    struct http **ret) MUST_CHECK;
/* Cancels what is in flight (no callbacks) and frees. NULL ok. */
void http_free(struct http *h);

int http_start(struct http *h, const struct http_request *rq,
    struct http_req **ret) MUST_CHECK; /* ret may be NULL */
void http_cancel(struct http_req *r);  /* no callback will run */
size_t http_in_flight(const struct http *h);

/* A response header's value (case-insensitive name), or NULL. The value is
 * copied into buf (size bytes, NUL-terminated, cut if longer). */
const char *http_header(const struct http_response *resp, const char *name,
    char *buf, size_t size);

/* Scheme and host of url for logs: "https://hooks.slack.com/..." never
 * shows the path, which may be the credential. */
const char *http_url_redact(const char *url, char *buf, size_t size);

/* The host of url, lower-cased, without userinfo, port or an IPv6
 * address's brackets, into buf; "" when it has none or it does not fit. */
const char *http_url_host(const char *url, char *buf, size_t size);
/* Whether host (as http_url_host() gives it) is this machine: localhost,
 * 127.0.0.0/8 or ::1. Requests to it never leave the host. */
bool http_host_is_loopback(const char *host);

#endif
