/*
 * aws.h: what every AWS call shares: the region, each service's endpoint,
 * SigV4 signing with the current credentials, retries of throttling, 5xx
 * and network errors (backoff with jitter), clock-skew correction from the
 * server's Date, and turning AWS error replies into a code and a message.
 *
 * Region: aws_opts.region, else AWS_REGION, AWS_DEFAULT_REGION, the profile's
 * region. Endpoint of a service: AWS_ENDPOINT_URL_<SERVICE>, else
 * aws_opts.endpoint_url, else AWS_ENDPOINT_URL, else AWS's public one. With
 * an endpoint set S3 is addressed path-style, otherwise virtual-hosted.
 *
 * A call ends exactly once with its callback, from the loop, unless
 * cancelled. Results: 0, or -ENOENT (404, NoSuchKey, QueueDoesNotExist),
 * -EACCES (403, AccessDenied, signature or key refused), -EAGAIN (throttled
 * or 5xx after the last retry), -ETIMEDOUT, -ECONNREFUSED and other transport
 * errors after the last retry, -EPROTO (another 4xx), -ENOKEY (no
 * credentials). Never prints; never puts secrets in a diag.
 */
#ifndef SMTRAIL_AWS_H
#define SMTRAIL_AWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "http.h"

struct creds;
struct diag;
struct event_base;
struct aws;    /* opaque */
struct aws_op; /* opaque, one call in flight (all its attempts) */

struct aws_opts {
	const char *region;       /* NULL: environment, then profile */
	const char *profile;      /* NULL: AWS_PROFILE, then "default" */
	const char *endpoint_url; /* NULL: environment, then AWS */
	unsigned max_attempts;    /* 0: 4 */
	uint64_t retry_base_ms;   /* 0: 200 */
	uint64_t retry_cap_ms;    /* 0: 20000 */
};

struct aws_result {
	int error;         /* 0 or a negative errno, see above */
	long status;       /* HTTP status of the last attempt, 0: none */
	char code[128];    /* "QueueDoesNotExist", "NoSuchKey", "" */
	char message[256]; /* AWS's message, or transport error text */
	unsigned attempts;
	const struct http_response *resp; /* the last attempt's; borrowed */
};

typedef void aws_done_cb(const struct aws_result *res, void *arg);
/* Called before each attempt's body arrives (a retry restarts a stream). */
typedef void aws_restart_cb(void *arg);

struct aws_call {
	const char *service; /* "sqs", "s3" */
	const char *method;
	const char *path;           /* wire path, already encoded; NULL: "/" */
	const char *query;          /* wire query without '?', or NULL */
	const char *host;           /* NULL: the endpoint's host */
	const char *const *headers; /* "Name: value", all signed */
	size_t n_headers;
	const void *body;
	size_t body_len;
	bool s3;               /* S3 signing rules: no normalisation, single
				  encoding, x-amz-content-sha256 */
	long timeout_ms;       /* per attempt; 0: 60 s */
	size_t max_body;       /* 0: 16 MiB */
	http_data_cb *on_data; /* stream a 2xx body */
	aws_restart_cb *on_restart;
	aws_done_cb *on_done;
	/* Called instead of on_done when the call is cancelled or the
	 * struct aws freed, so a wrapper can free its arg. NULL: nothing. */
	void (*on_cancel)(void *arg);
	void *arg;
};

int aws_new(struct event_base *base, struct http *http, struct creds *creds,
    const struct aws_opts *o, struct aws **ret,
    struct diag *reterr) MUST_CHECK; /* -EINVAL: no region */
void aws_free(struct aws *a);        /* cancels calls in flight; NULL ok */

const char *aws_region(const struct aws *a);
/* The endpoint base URL for a service, no trailing slash. Borrowed. */
const char *aws_endpoint(const struct aws *a, const char *service);
/* True when the S3 endpoint is custom (path-style addressing). */
bool aws_s3_path_style(const struct aws *a);
/* Seconds added to the local clock, learnt from RequestTimeTooSkewed. */
long aws_clock_skew(const struct aws *a);

int aws_call_start(struct aws *a, const struct aws_call *c,
    struct aws_op **ret) MUST_CHECK;
void aws_call_cancel(struct aws_op *op); /* no callback will run */

/* Splits "com.amazonaws.sqs#QueueDoesNotExist" → "QueueDoesNotExist";
 * exported for tests. */
const char *aws_error_code_tail(const char *type);

#endif
