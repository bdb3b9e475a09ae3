/*
 * aws.h: what every AWS call shares: regions, each service's endpoint,
 * SigV4 signing with the current credentials, retries of throttling, 5xx
 * and network errors (backoff with jitter), clock-skew correction from the
 * server's Date, S3 bucket region discovery, and turning AWS error replies
 * into a code and a message.
 *
 * Regions are per call. The default region is aws_opts.region, else
 * AWS_REGION, AWS_DEFAULT_REGION, the profile's region; none is fine.
 * A call signs with aws_call.region when given (SQS passes its queue URL's,
 * see sqs.h); else an S3 call on a bucket with the bucket's learnt region,
 * else the default, else us-east-1; STS with the default, else us-east-1
 * (the global endpoint); any other service needs the default (-EINVAL at
 * aws_call_start without one).
 *
 * Endpoint of a service: AWS_ENDPOINT_URL_<SERVICE>, else
 * aws_opts.endpoint_url, else AWS_ENDPOINT_URL (a custom endpoint: requests
 * go there whatever the region, still signed for it), else AWS's public
 * one for the call's region (https://<service>.<region>.amazonaws.com, .cn
 * for cn-*; STS without a default region: https://sts.amazonaws.com).
 * S3 with a custom endpoint is addressed path-style; otherwise
 * virtual-hosted (https://<bucket>.s3.<region>.amazonaws.com) unless the
 * bucket has a dot (path-style at https://s3.<region>.amazonaws.com).
 *
 * S3 region discovery, as the SDKs do it (botocore's S3RegionRedirectorv2):
 * when an S3 call on a bucket (aws_call.bucket, no aws_call.region) fails
 * with HTTP 301/302/307, PermanentRedirect, AuthorizationHeaderMalformed
 * naming a <Region>, IllegalLocationConstraintException, a HEAD answered
 * 301 or 400, or any error carrying x-amz-bucket-region, the bucket's
 * region is taken from x-amz-bucket-region, else the body's <Region>, else
 * a HeadBucket; when it differs from the region signed with, it is cached
 * (AWS_MAX_BUCKET_REGIONS buckets, oldest forgotten first), logged once at
 * info, and the call is sent again at once, to that region, once. Later
 * calls on the bucket use the cached region from the start.
 *
 * A call ends exactly once with its callback, from the loop, unless
 * cancelled. Results: 0, or -ENOENT (404, NoSuchKey, QueueDoesNotExist),
 * -EACCES (403, AccessDenied, signature or key refused), -EAGAIN (throttled
 * or 5xx after the last retry), -ETIMEDOUT, -ECONNREFUSED and other transport
 * errors after the last retry, -EPROTO (another 4xx, or a redirect that
 * could not be followed), -ENOKEY (no credentials, or getting them failed:
 * the message is the credential chain's, said once). Never prints; logs a
 * learnt bucket region at info, the HeadBucket fallback at debug; never
 * puts secrets in a diag.
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

/* Buckets whose region is remembered; and a region name's longest. */
#define AWS_MAX_BUCKET_REGIONS 64
#define AWS_MAX_REGION 32

struct aws_opts {
	const char *region;       /* NULL: environment, then profile, or none */
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
	const char *base_url;       /* "scheme://host[:port]" to send to
				       instead of the endpoint, or NULL */
	const char *region;         /* sign with it; NULL: see above */
	const char *bucket;         /* S3: the bucket (addressing, region
				       discovery), or NULL */
	const char *const *headers; /* "Name: value", all signed */
	size_t n_headers;
	const void *body;
	size_t body_len;
	bool s3;               /* S3 signing rules: no normalisation, single
				  encoding, x-amz-content-sha256 */
	long timeout_ms;       /* per attempt; 0: 60 s */
	unsigned max_attempts; /* 0: aws_opts'; 1: no retry (the caller
				  paces its own, as lookup does) */
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
    struct diag *reterr) MUST_CHECK; /* -EINVAL: a malformed region */
void aws_free(struct aws *a);        /* cancels calls in flight; NULL ok */

/* The default region, or NULL when none is configured. Borrowed. */
const char *aws_region(const struct aws *a);
/* The endpoint base URL for a service in the default region (S3: us-east-1
 * without one; STS: the global endpoint), or the custom one; no trailing
 * slash; NULL when it depends on the call (SQS without a default region).
 * Borrowed. */
const char *aws_endpoint(const struct aws *a, const char *service);
/* True when the service's endpoint is custom (set by the options or the
 * environment, see above). */
bool aws_custom_endpoint(const struct aws *a, const char *service);
/* True when the S3 endpoint is custom (path-style addressing). */
bool aws_s3_path_style(const struct aws *a);
/* True when requests for bucket put it in the path (custom endpoint, or a
 * dotted name), false when in the host name. */
bool aws_s3_bucket_path_style(const struct aws *a, const char *bucket);
/* The region learnt for bucket, or NULL. Borrowed until the next call. */
const char *aws_s3_bucket_region(const struct aws *a, const char *bucket);
/* The region a call on bucket is signed with now (learnt, default, or
 * us-east-1). Borrowed. */
const char *aws_s3_region_for(const struct aws *a, const char *bucket);
/* The public host of a service in a region ("sqs.eu-west-1.amazonaws.com",
 * ".amazonaws.com.cn" for cn-*), into buf; -ENOBUFS if short. */
int aws_public_host(const char *service, const char *region, char *buf,
    size_t size) MUST_CHECK;
/* A region name as AWS spells them: 1-32 of [a-z0-9-], starting with a
 * letter, not ending with '-'. */
bool aws_region_name_ok(const char *region);
/* Seconds added to the local clock, learnt from RequestTimeTooSkewed. */
long aws_clock_skew(const struct aws *a);

int aws_call_start(struct aws *a, const struct aws_call *c,
    struct aws_op **ret) MUST_CHECK;
void aws_call_cancel(struct aws_op *op); /* no callback will run */

/* Splits "com.amazonaws.sqs#QueueDoesNotExist" → "QueueDoesNotExist";
 * exported for tests. */
const char *aws_error_code_tail(const char *type);

/* What S3 region discovery decides from one error reply (exported for
 * tests): status, method, the parsed error code, the x-amz-bucket-region
 * header (NULL: absent), the error body (NULL: none) and the region the
 * request was signed with. Returns 1 with the bucket's region in region[]
 * (retry there), 0 when this is not a wrong-region error or the region is
 * the one signed with (no retry), 2 when it is one but names no region
 * (ask HeadBucket). */
int aws_s3_redirect_region(long status, const char *method, const char *code,
    const char *header_region, const char *body, const char *signed_region,
    char region[AWS_MAX_REGION + 1]);

#endif
