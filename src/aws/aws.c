/*
 * aws.c: see aws.h. One struct aws_op per call carries it through its
 * attempts: wait for credentials, sign, send, and on a retryable failure
 * arm a backoff timer and go round again.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "aws.h"
#include "backoff.h"
#include "clock.h"
#include "creds.h"
#include "diag.h"
#include "log.h"
#include "profile.h"
#include "sigv4.h"

#define AWS_MAX_URL 4096
#define AWS_MAX_HEADER_LINES 16

enum aws_svc {
	AWS_SVC_SQS,
	AWS_SVC_S3,
	AWS_SVC_STS,
	AWS_SVC_CLOUDTRAIL,
	AWS_SVC_OTHER,
	AWS_SVC_COUNT
};

/* A bucket's region, learnt from a redirect. */
struct aws_bucket_region {
	char bucket[64];
	char region[AWS_MAX_REGION + 1];
};

struct aws {
	struct event_base *base;
	struct http *http;
	struct creds *creds;
	char *region; /* NULL: none configured */
	char *endpoint[AWS_SVC_COUNT];
	bool custom_endpoint[AWS_SVC_COUNT];
	/* A ring: when full, the oldest entry is replaced. */
	struct aws_bucket_region buckets[AWS_MAX_BUCKET_REGIONS];
	size_t n_buckets;
	size_t next_bucket;
	unsigned max_attempts;
	uint64_t retry_base_ms;
	uint64_t retry_cap_ms;
	long skew_s;
	struct aws_op *ops; /* in flight, doubly linked */
	bool creds_pending;
};

struct aws_op {
	struct aws *a;
	struct aws_call c; /* strings below are our copies */
	char *path;
	char *query;
	char *host;
	char **headers;
	void *body;
	char *service;
	char *base_url;
	char *region;
	char *bucket;
	unsigned attempt;
	bool waiting_creds;
	bool redirected; /* S3: sent again to the bucket's region already */
	char signed_region[AWS_MAX_REGION + 1];
	struct aws_result saved; /* the redirect while HeadBucket runs */
	struct aws_op *sub;      /* that HeadBucket, or NULL */
	struct aws_op *parent;   /* for a HeadBucket: whose it is */
	struct http_req *req;
	struct event *timer;
	struct aws_op *prev;
	struct aws_op *next;
};

static enum aws_svc
aws_svc(const char *service)
{
	if (strcmp(service, "sqs") == 0)
		return AWS_SVC_SQS;
	if (strcmp(service, "s3") == 0)
		return AWS_SVC_S3;
	if (strcmp(service, "sts") == 0)
		return AWS_SVC_STS;
	if (strcmp(service, "cloudtrail") == 0)
		return AWS_SVC_CLOUDTRAIL;
	return AWS_SVC_OTHER;
}

static const char *
aws_svc_env(enum aws_svc s)
{
	switch (s) {
	case AWS_SVC_SQS:
		return "AWS_ENDPOINT_URL_SQS";
	case AWS_SVC_S3:
		return "AWS_ENDPOINT_URL_S3";
	case AWS_SVC_STS:
		return "AWS_ENDPOINT_URL_STS";
	case AWS_SVC_CLOUDTRAIL:
		return "AWS_ENDPOINT_URL_CLOUDTRAIL";
	case AWS_SVC_OTHER:
	case AWS_SVC_COUNT:
		break;
	}
	return NULL;
}

static const char *
aws_svc_name(enum aws_svc s)
{
	switch (s) {
	case AWS_SVC_SQS:
		return "sqs";
	case AWS_SVC_S3:
		return "s3";
	case AWS_SVC_STS:
		return "sts";
	case AWS_SVC_CLOUDTRAIL:
		return "cloudtrail";
	case AWS_SVC_OTHER:
	case AWS_SVC_COUNT:
		break;
	}
	return "other";
}

static const char *
aws_env(const char *name)
{
	const char *v = name != NULL ? getenv(name) : NULL;

	return v != NULL && v[0] != '\0' ? v : NULL;
}

static char *
aws_strip_slash(const char *url)
{
	char *s = strdup(url);
	size_t n;

	if (s == NULL)
		return NULL;
	n = strlen(s);
	while (n > 0 && s[n - 1] == '/')
		s[--n] = '\0';
	return s;
}

static int
aws_resolve_region(struct aws *a, const struct aws_opts *o, struct diag *reterr)
{
	const char *region = o != NULL ? o->region : NULL;
	struct profile *p = NULL;
	int r;

	if (region == NULL)
		region = aws_env("AWS_REGION");
	if (region == NULL)
		region = aws_env("AWS_DEFAULT_REGION");
	if (region == NULL) {
		r = profile_load(o != NULL ? o->profile : NULL, &p, reterr);
		if (r < 0)
			return r;
		region = profile_get(p, "region");
	}
	if (region == NULL) {
		/* Fine: SQS takes its queue URL's, S3 learns each bucket's. */
		profile_free(p);
		return 0;
	}
	if (!aws_region_name_ok(region)) {
		r = diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "malformed AWS region '%.40s'", region);
		profile_free(p);
		return r;
	}
	a->region = strdup(region);
	profile_free(p);
	return a->region != NULL ? 0 : -ENOMEM;
}

bool
aws_region_name_ok(const char *region)
{
	size_t n = strlen(region);
	size_t i;

	if (n == 0 || n > AWS_MAX_REGION ||
	    !islower((unsigned char)region[0]) || region[n - 1] == '-')
		return false;
	for (i = 0; i < n; i++)
		if (!islower((unsigned char)region[i]) &&
		    !isdigit((unsigned char)region[i]) && region[i] != '-')
			return false;
	return true;
}

int
aws_public_host(const char *service, const char *region, char *buf, size_t size)
{
	int r = snprintf(buf, size, "%s.%s.amazonaws.com%s", service, region,
	    strncmp(region, "cn-", 3) == 0 ? ".cn" : "");

	return r < 0 || (size_t)r >= size ? -ENOBUFS : 0;
}

static int
aws_resolve_endpoints(struct aws *a, const struct aws_opts *o)
{
	int s;

	for (s = 0; s < AWS_SVC_COUNT; s++) {
		const char *url = aws_env(aws_svc_env((enum aws_svc)s));
		char def[256];

		if (url == NULL && o != NULL && o->endpoint_url != NULL)
			url = o->endpoint_url;
		if (url == NULL)
			url = aws_env("AWS_ENDPOINT_URL");
		a->custom_endpoint[s] = url != NULL;
		if (url == NULL) {
			const char *region = a->region;
			char host[200];

			if (region == NULL && s == AWS_SVC_STS) {
				url = "https://sts.amazonaws.com";
			} else {
				if (region == NULL && s == AWS_SVC_S3)
					region = "us-east-1";
				if (region == NULL || s == AWS_SVC_OTHER ||
				    s == AWS_SVC_CLOUDTRAIL)
					continue; /* depends on the call */
				if (aws_public_host(
					aws_svc_name((enum aws_svc)s), region,
					host, sizeof(host)) < 0)
					return -EINVAL;
				(void)snprintf(def, sizeof(def), "https://%s",
				    host);
				url = def;
			}
		}
		a->endpoint[s] = aws_strip_slash(url);
		if (a->endpoint[s] == NULL)
			return -ENOMEM;
	}
	return 0;
}

int
aws_new(struct event_base *base, struct http *http, struct creds *creds,
    const struct aws_opts *o, struct aws **ret, struct diag *reterr)
{
	struct aws *a;
	int r;

	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	a->base = base;
	a->http = http;
	a->creds = creds;
	a->max_attempts = o != NULL && o->max_attempts ? o->max_attempts : 4;
	a->retry_base_ms =
	    o != NULL && o->retry_base_ms ? o->retry_base_ms : 200;
	a->retry_cap_ms =
	    o != NULL && o->retry_cap_ms ? o->retry_cap_ms : 20000;
	r = aws_resolve_region(a, o, reterr);
	if (r == 0)
		r = aws_resolve_endpoints(a, o);
	if (r < 0) {
		aws_free(a);
		return r;
	}
	*ret = a;
	return 0;
}

static void aws_op_free(struct aws_op *op);

void
aws_free(struct aws *a)
{
	int s;

	if (a == NULL)
		return;
	while (a->ops != NULL)
		aws_op_free(a->ops);
	for (s = 0; s < AWS_SVC_COUNT; s++)
		free(a->endpoint[s]);
	free(a->region);
	free(a);
}

const char *
aws_region(const struct aws *a)
{
	return a->region;
}

const char *
aws_endpoint(const struct aws *a, const char *service)
{
	return a->endpoint[aws_svc(service)];
}

bool
aws_custom_endpoint(const struct aws *a, const char *service)
{
	return a->custom_endpoint[aws_svc(service)];
}

bool
aws_s3_path_style(const struct aws *a)
{
	return a->custom_endpoint[AWS_SVC_S3];
}

/* Virtual-hosted addressing puts the bucket in the TLS host name, which a
 * dotted bucket breaks (the wildcard certificate covers one label). */
bool
aws_s3_bucket_path_style(const struct aws *a, const char *bucket)
{
	return a->custom_endpoint[AWS_SVC_S3] || strchr(bucket, '.') != NULL;
}

const char *
aws_s3_bucket_region(const struct aws *a, const char *bucket)
{
	size_t i;

	for (i = 0; i < a->n_buckets; i++)
		if (strcmp(a->buckets[i].bucket, bucket) == 0)
			return a->buckets[i].region;
	return NULL;
}

const char *
aws_s3_region_for(const struct aws *a, const char *bucket)
{
	const char *region = aws_s3_bucket_region(a, bucket);

	if (region == NULL)
		region = a->region;
	return region != NULL ? region : "us-east-1";
}

static void
aws_s3_learn(struct aws *a, const char *bucket, const char *region)
{
	struct aws_bucket_region *b = NULL;
	size_t i;

	if (strlen(bucket) >= sizeof(b->bucket))
		return;
	for (i = 0; i < a->n_buckets && b == NULL; i++)
		if (strcmp(a->buckets[i].bucket, bucket) == 0)
			b = &a->buckets[i];
	if (b == NULL && a->n_buckets < AWS_MAX_BUCKET_REGIONS)
		b = &a->buckets[a->n_buckets++];
	if (b == NULL) {
		b = &a->buckets[a->next_bucket];
		a->next_bucket = (a->next_bucket + 1) % AWS_MAX_BUCKET_REGIONS;
	}
	(void)snprintf(b->bucket, sizeof(b->bucket), "%s", bucket);
	(void)snprintf(b->region, sizeof(b->region), "%s", region);
}

long
aws_clock_skew(const struct aws *a)
{
	return a->skew_s;
}

const char *
aws_error_code_tail(const char *type)
{
	const char *hash = strrchr(type, '#');

	return hash != NULL ? hash + 1 : type;
}

/* ---- one call ---------------------------------------------------------- */

static void
aws_op_unlink(struct aws_op *op)
{
	struct aws *a = op->a;

	if (op->prev != NULL)
		op->prev->next = op->next;
	else if (a->ops == op)
		a->ops = op->next;
	if (op->next != NULL)
		op->next->prev = op->prev;
	op->prev = op->next = NULL;
}

static void
aws_op_free(struct aws_op *op)
{
	size_t i;

	aws_op_unlink(op);
	if (op->parent != NULL)
		op->parent->sub = NULL;
	if (op->sub != NULL) {
		op->sub->parent = NULL;
		aws_op_free(op->sub);
	}
	if (op->c.on_cancel != NULL)
		op->c.on_cancel(op->c.arg);
	if (op->req != NULL)
		http_cancel(op->req);
	if (op->timer != NULL)
		event_free(op->timer);
	for (i = 0; op->headers != NULL && i < op->c.n_headers; i++)
		free(op->headers[i]);
	free(op->headers);
	free(op->path);
	free(op->query);
	free(op->host);
	free(op->body);
	free(op->service);
	free(op->base_url);
	free(op->region);
	free(op->bucket);
	free(op);
}

static void
aws_op_finish(struct aws_op *op, struct aws_result *res)
{
	aws_done_cb *cb = op->c.on_done;
	void *arg = op->c.arg;

	res->attempts = op->attempt + 1;
	op->req = NULL;         /* http frees it after we return */
	op->c.on_cancel = NULL; /* the callback owns arg now */
	aws_op_unlink(op);
	aws_op_free(op);
	if (cb != NULL)
		cb(res, arg);
}

static void
aws_op_fail(struct aws_op *op, int error, const char *what, const char *why)
{
	struct aws_result res;

	memset(&res, 0, sizeof(res));
	res.error = error;
	(void)snprintf(res.message, sizeof(res.message), "%s%s", what, why);
	aws_op_finish(op, &res);
}

static int aws_attempt(struct aws_op *op);

static void
aws_creds_cb(const struct aws_creds *c, int r, const struct diag *d, void *arg)
{
	struct aws *a = arg;
	struct aws_op *op;
	struct aws_op *next;

	UNUSED(c);
	a->creds_pending = false;
	for (op = a->ops; op != NULL; op = next) {
		next = op->next;
		if (!op->waiting_creds)
			continue;
		op->waiting_creds = false;
		/* -ENOKEY's message says "no credentials" already; others
		 * (an STS refusal, a bad profile) had some but failed. */
		if (r < 0) {
			aws_op_fail(op, -ENOKEY,
			    r == -ENOKEY ? "" : "cannot get credentials: ",
			    d != NULL && d->msg[0] != '\0' ? d->msg
							   : strerror(-r));
			continue;
		}
		r = aws_attempt(op);
		if (r < 0)
			aws_op_fail(op, r, "cannot start the request", "");
	}
}

/* Splits "Name: value" into a sigv4 header (name lower-cased copy). */
static int
aws_split_header(const char *line, char *name, size_t size,
    struct sigv4_header *h)
{
	const char *colon = strchr(line, ':');
	size_t n;
	size_t i;

	if (colon == NULL || (size_t)(colon - line) >= size)
		return -EINVAL;
	n = (size_t)(colon - line);
	for (i = 0; i < n; i++)
		name[i] = (char)tolower((unsigned char)line[i]);
	name[n] = '\0';
	h->name = name;
	h->value = colon + 1;
	while (*h->value == ' ')
		h->value++;
	return 0;
}

/* The host (and port) of an URL, for the Host header. */
static int
aws_url_host(const char *url, char *buf, size_t size)
{
	const char *p = strstr(url, "://");
	size_t n;

	if (p == NULL)
		return -EINVAL;
	p += 3;
	n = strcspn(p, "/?#");
	if (n == 0 || n >= size)
		return -EINVAL;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return 0;
}

static void aws_http_done(struct http_response *resp, void *arg);

/* The region an attempt signs with (see aws.h); NULL: none. */
static const char *
aws_op_region(const struct aws_op *op)
{
	const struct aws *a = op->a;
	enum aws_svc s = aws_svc(op->service);

	if (op->region != NULL)
		return op->region;
	if (s == AWS_SVC_S3 && op->bucket != NULL)
		return aws_s3_region_for(a, op->bucket);
	if (a->region != NULL)
		return a->region;
	if (s == AWS_SVC_S3 || s == AWS_SVC_STS)
		return "us-east-1";
	return NULL;
}

/* Where an attempt goes: "scheme://host[:port]", no trailing slash. */
static int
aws_op_base(const struct aws_op *op, const char *region, char *buf, size_t size)
{
	const struct aws *a = op->a;
	enum aws_svc s = aws_svc(op->service);
	char host[200];
	int r;

	if (op->base_url != NULL)
		r = snprintf(buf, size, "%s", op->base_url);
	else if (op->host != NULL)
		r = snprintf(buf, size, "https://%s", op->host);
	else if (a->custom_endpoint[s])
		r = snprintf(buf, size, "%s", a->endpoint[s]);
	else if (s == AWS_SVC_STS && a->region == NULL && op->region == NULL)
		r = snprintf(buf, size, "https://sts.amazonaws.com");
	else {
		r = aws_public_host(op->service, region, host, sizeof(host));
		if (r < 0)
			return r;
		if (s == AWS_SVC_S3 && op->bucket != NULL &&
		    !aws_s3_bucket_path_style(a, op->bucket))
			r = snprintf(buf, size, "https://%s.%s", op->bucket,
			    host);
		else
			r = snprintf(buf, size, "https://%s", host);
	}
	return r < 0 || (size_t)r >= size ? -E2BIG : 0;
}

static int
aws_stream(const void *p, size_t len, void *arg)
{
	struct aws_op *op = arg;

	return op->c.on_data(p, len, op->c.arg);
}

static int
aws_attempt(struct aws_op *op)
{
	struct aws *a = op->a;
	const struct aws_creds *cr = creds_current(a->creds);
	struct sigv4_header sh[AWS_MAX_HEADER_LINES + 1];
	char names[AWS_MAX_HEADER_LINES][64];
	const char *lines[AWS_MAX_HEADER_LINES + 5];
	char l_auth[SIGV4_AUTH_SIZE + 32];
	char l_date[64];
	char l_sha[128];
	char *l_token = NULL;
	char host[256];
	char base[512];
	char url[AWS_MAX_URL];
	const char *region;
	struct sigv4_request sr;
	struct sigv4_creds sc;
	struct sigv4_params sp;
	struct sigv4_result res;
	struct http_request hr;
	size_t n = 0;
	size_t i;
	int r;

	if (cr == NULL) {
		op->waiting_creds = true;
		if (a->creds_pending)
			return 0;
		a->creds_pending = true;
		return creds_get(a->creds, aws_creds_cb, a);
	}
	region = aws_op_region(op);
	if (region == NULL)
		return -EINVAL;
	r = aws_op_base(op, region, base, sizeof(base));
	if (r < 0)
		return r;
	r = snprintf(url, sizeof(url), "%s%s%s%s", base, op->path,
	    op->query ? "?" : "", op->query ? op->query : "");
	if (r < 0 || (size_t)r >= sizeof(url))
		return -E2BIG;
	(void)snprintf(op->signed_region, sizeof(op->signed_region), "%s",
	    region);
	r = aws_url_host(url, host, sizeof(host));
	if (r < 0)
		return r;
	sh[n].name = "host";
	sh[n++].value = host;
	for (i = 0; i < op->c.n_headers && i < AWS_MAX_HEADER_LINES; i++) {
		r = aws_split_header(op->headers[i], names[i], sizeof(names[i]),
		    &sh[n]);
		if (r < 0)
			return r;
		n++;
	}
	memset(&sr, 0, sizeof(sr));
	sr.method = op->c.method;
	sr.path = op->path;
	sr.query = op->query;
	sr.headers = sh;
	sr.n_headers = n;
	sr.body = op->body;
	sr.body_len = op->c.body_len;
	sc.access_key_id = cr->access_key_id;
	sc.secret_access_key = cr->secret_access_key;
	sc.session_token = cr->session_token;
	memset(&sp, 0, sizeof(sp));
	sp.region = region;
	sp.service = op->service;
	sp.now = time(NULL) + a->skew_s;
	sp.normalize_path = !op->c.s3;
	sp.double_encode_path = !op->c.s3;
	sp.sign_payload_header = op->c.s3;
	r = sigv4_sign_headers(&sr, &sc, &sp, &res, NULL);
	if (r < 0)
		return r;
	n = 0;
	for (i = 0; i < op->c.n_headers; i++)
		lines[n++] = op->headers[i];
	(void)snprintf(l_auth, sizeof(l_auth), "Authorization: %s",
	    res.authorization);
	(void)snprintf(l_date, sizeof(l_date), "X-Amz-Date: %s", res.amz_date);
	lines[n++] = l_auth;
	lines[n++] = l_date;
	if (op->c.s3) {
		(void)snprintf(l_sha, sizeof(l_sha), "x-amz-content-sha256: %s",
		    res.payload_hash);
		lines[n++] = l_sha;
	}
	if (cr->session_token != NULL && cr->session_token[0] != '\0') {
		if (asprintf(&l_token, "X-Amz-Security-Token: %s",
			cr->session_token) < 0)
			return -ENOMEM;
		lines[n++] = l_token;
	}
	memset(&hr, 0, sizeof(hr));
	hr.method = op->c.method;
	hr.url = url;
	hr.headers = lines;
	hr.n_headers = n;
	hr.body = op->body;
	hr.body_len = op->c.body_len;
	hr.timeout_ms = op->c.timeout_ms;
	hr.max_body = op->c.max_body;
	hr.on_data = op->c.on_data != NULL ? aws_stream : NULL;
	hr.on_done = aws_http_done;
	hr.arg = op;
	if (op->attempt > 0 && op->c.on_restart != NULL)
		op->c.on_restart(op->c.arg);
	r = http_start(a->http, &hr, &op->req);
	explicit_bzero(l_auth, sizeof(l_auth));
	if (l_token != NULL) {
		explicit_bzero(l_token, strlen(l_token));
		free(l_token);
	}
	explicit_bzero(&res, sizeof(res));
	return r;
}

/* Pulls the AWS error code and message out of an error reply: the
 * X-Amzn-Errortype header or "__type" (JSON protocols), or <Code> (XML). */
static void
aws_parse_error(const struct http_response *resp, struct aws_result *res)
{
	char hv[128];
	const char *body = resp->body.data != NULL ? resp->body.data : "";

	if (http_header(resp, "x-amzn-errortype", hv, sizeof(hv)) != NULL) {
		hv[strcspn(hv, ":")] = '\0';
		(void)snprintf(res->code, sizeof(res->code), "%s",
		    aws_error_code_tail(hv));
	}
	if (body[0] == '{') {
		struct json_object *o = json_tokener_parse(body);
		struct json_object *v;

		if (o != NULL && res->code[0] == '\0' &&
		    json_object_object_get_ex(o, "__type", &v))
			(void)snprintf(res->code, sizeof(res->code), "%s",
			    aws_error_code_tail(json_object_get_string(v)));
		if (o != NULL &&
		    (json_object_object_get_ex(o, "message", &v) ||
			json_object_object_get_ex(o, "Message", &v)))
			(void)snprintf(res->message, sizeof(res->message), "%s",
			    json_object_get_string(v));
		json_object_put(o);
		return;
	}
	{
		const char *c = strstr(body, "<Code>");
		const char *m = strstr(body, "<Message>");

		if (c != NULL && res->code[0] == '\0')
			(void)snprintf(res->code, sizeof(res->code), "%.*s",
			    (int)strcspn(c + 6, "<"), c + 6);
		if (m != NULL)
			(void)snprintf(res->message, sizeof(res->message),
			    "%.*s", (int)strcspn(m + 9, "<"), m + 9);
	}
}

static bool
aws_code_is(const struct aws_result *res, const char *const *codes)
{
	for (; *codes != NULL; codes++)
		if (strcmp(res->code, *codes) == 0)
			return true;
	return false;
}

static const char *const aws_throttle_codes[] = {"Throttling",
    "ThrottlingException", "ThrottledException", "RequestThrottled",
    "RequestThrottledException", "TooManyRequestsException",
    "ProvisionedThroughputExceededException", "RequestLimitExceeded",
    "SlowDown", "RequestTimeout", "RequestTimeoutException", "InternalError",
    "InternalFailure", "ServiceUnavailable", NULL};
static const char *const aws_missing_codes[] = {"NoSuchKey", "NoSuchBucket",
    "QueueDoesNotExist", "NonExistentQueue",
    "AWS.SimpleQueueService.NonExistentQueue", NULL};
static const char *const aws_denied_codes[] = {"AccessDenied",
    "AccessDeniedException", "SignatureDoesNotMatch", "InvalidClientTokenId",
    "UnrecognizedClientException", "InvalidAccessKeyId", "ExpiredToken",
    "ExpiredTokenException", "InvalidToken", "IncompleteSignature",
    "MissingAuthenticationToken", NULL};

static bool
aws_is_skew(const struct aws_result *res)
{
	return strcmp(res->code, "RequestTimeTooSkewed") == 0 ||
	    strcmp(res->code, "RequestExpired") == 0 ||
	    (res->status == 403 && strstr(res->message, "expired") != NULL &&
		strstr(res->message, "Signature") != NULL);
}

/* Learns the clock offset from the server's Date; true if it changed. */
static bool
aws_learn_skew(struct aws *a, const struct http_response *resp)
{
	char date[128];
	time_t server;
	long skew;

	if (http_header(resp, "date", date, sizeof(date)) == NULL ||
	    clock_parse_http_date(date, &server) < 0)
		return false;
	skew = (long)(server - time(NULL));
	if (labs(skew - a->skew_s) < 60)
		return false;
	a->skew_s = skew;
	return true;
}

static void
aws_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct aws_op *op = arg;
	int r;

	UNUSED(fd);
	UNUSED(what);
	op->attempt++;
	r = aws_attempt(op);
	if (r < 0)
		aws_op_fail(op, r, "cannot start the request", "");
}

static bool
aws_schedule_retry(struct aws_op *op, uint64_t delay_ms)
{
	struct timeval tv;

	if (op->attempt + 1 >= (op->c.max_attempts != 0 ? op->c.max_attempts
							: op->a->max_attempts))
		return false;
	if (op->timer == NULL)
		op->timer = evtimer_new(op->a->base, aws_retry_cb, op);
	if (op->timer == NULL)
		return false;
	tv = clock_tv_ms(delay_ms);
	return evtimer_add(op->timer, &tv) == 0;
}

static bool
aws_transport_retryable(int error)
{
	return error == -ETIMEDOUT || error == -ECONNREFUSED ||
	    error == -ECONNRESET || error == -EHOSTUNREACH || error == -EIO;
}

/* A final error's code, without retrying (see aws.h). */
static int
aws_error_class(const struct aws_result *res)
{
	if (res->status >= 500 || res->status == 429 ||
	    aws_code_is(res, aws_throttle_codes))
		return -EAGAIN;
	if (res->status == 404 || aws_code_is(res, aws_missing_codes))
		return -ENOENT;
	if (res->status == 403 || res->status == 401 ||
	    aws_code_is(res, aws_denied_codes))
		return -EACCES;
	return -EPROTO;
}

int
aws_s3_redirect_region(long status, const char *method, const char *code,
    const char *header_region, const char *body, const char *signed_region,
    char region[AWS_MAX_REGION + 1])
{
	bool has_header = header_region != NULL && header_region[0] != '\0';
	char body_region[AWS_MAX_REGION + 1] = "";
	const char *found = NULL;
	const char *p;
	bool wrong;

	if (status >= 200 && status < 300)
		return 0;
	p = body != NULL ? strstr(body, "<Region>") : NULL;
	if (p != NULL && strcspn(p + 8, "<") <= AWS_MAX_REGION)
		(void)snprintf(body_region, sizeof(body_region), "%.*s",
		    (int)strcspn(p + 8, "<"), p + 8);
	/* botocore's conditions, plus any error naming the bucket's region
	 * (a 403 from another region does). */
	wrong = status == 301 || status == 302 || status == 307 ||
	    strcmp(code, "PermanentRedirect") == 0 ||
	    (strcmp(code, "AuthorizationHeaderMalformed") == 0 &&
		body_region[0] != '\0') ||
	    strcmp(code, "IllegalLocationConstraintException") == 0 ||
	    (strcmp(method, "HEAD") == 0 && status == 400) || has_header;
	if (!wrong)
		return 0;
	if (has_header)
		found = header_region;
	else if (body_region[0] != '\0')
		found = body_region;
	if (found == NULL)
		return 2;
	if (!aws_region_name_ok(found) ||
	    (signed_region != NULL && strcmp(found, signed_region) == 0))
		return 0;
	(void)snprintf(region, AWS_MAX_REGION + 1, "%s", found);
	return 1;
}

/* Caches the bucket's region and sends the call again, there, from the
 * loop (not from inside the HTTP callback). */
static void
aws_s3_follow(struct aws_op *op, const char *region)
{
	struct timeval tv = {0, 0};
	const char *known = aws_s3_bucket_region(op->a, op->bucket);

	/* Calls begun before the first redirect came back learn it again:
	 * said once. */
	if (known == NULL || strcmp(known, region) != 0)
		log_info("s3: bucket '%s' is in region %s, not %s: using %s "
			 "for it from now on",
		    op->bucket, region, op->signed_region, region);
	aws_s3_learn(op->a, op->bucket, region);
	if (op->timer == NULL)
		op->timer = evtimer_new(op->a->base, aws_retry_cb, op);
	if (op->timer == NULL || evtimer_add(op->timer, &tv) < 0)
		aws_op_fail(op, -ENOMEM, "cannot retry in the bucket's region",
		    "");
}

static void
aws_head_done(const struct aws_result *res, void *arg)
{
	struct aws_op *op = arg;
	struct aws_result saved;
	char hv[64];
	const char *h = res->resp != NULL
	    ? http_header(res->resp, "x-amz-bucket-region", hv, sizeof(hv))
	    : NULL;

	log_debug("s3: HeadBucket '%s': HTTP %ld, error %d, region %s",
	    op->bucket, res->status, res->error, h != NULL ? h : "(none)");
	if (h != NULL && aws_region_name_ok(h) &&
	    strcmp(h, op->signed_region) != 0) {
		aws_s3_follow(op, h);
		return;
	}
	/* No better region: the original error stands. */
	saved = op->saved;
	saved.error = aws_error_class(&saved);
	aws_op_finish(op, &saved);
}

/* HeadBucket, signed for the region tried, to read x-amz-bucket-region. */
static int
aws_s3_head_bucket(struct aws_op *op, const struct aws_result *res)
{
	struct aws_call c;
	char path[80];
	int r;

	(void)snprintf(path, sizeof(path), "/%s",
	    aws_s3_bucket_path_style(op->a, op->bucket) ? op->bucket : "");
	memset(&c, 0, sizeof(c));
	c.service = "s3";
	c.method = "HEAD";
	c.path = path;
	c.s3 = true;
	c.bucket = op->bucket;
	c.region = op->signed_region;
	c.timeout_ms = 30000;
	c.on_done = aws_head_done;
	c.arg = op;
	op->saved = *res;
	op->saved.resp = NULL;
	r = aws_call_start(op->a, &c, &op->sub);
	if (r == 0)
		op->sub->parent = op;
	return r;
}

/* True when the error says the bucket lives in another region and the call
 * is on its way there (or asking HeadBucket where). */
static bool
aws_s3_try_redirect(struct aws_op *op, const struct http_response *resp,
    const struct aws_result *res)
{
	char region[AWS_MAX_REGION + 1];
	char hv[64];
	const char *h;
	int k;

	if (!op->c.s3 || op->bucket == NULL || op->region != NULL ||
	    op->redirected)
		return false;
	h = http_header(resp, "x-amz-bucket-region", hv, sizeof(hv));
	k = aws_s3_redirect_region(resp->status, op->c.method, res->code, h,
	    resp->body.data, op->signed_region, region);
	if (k == 0)
		return false;
	op->redirected = true;
	if (k == 2) {
		int r = aws_s3_head_bucket(op, res);

		log_debug("s3: asking HeadBucket where '%s' is: %d", op->bucket,
		    r);
		return r == 0;
	}
	aws_s3_follow(op, region);
	return true;
}

static void
aws_http_done(struct http_response *resp, void *arg)
{
	struct aws_op *op = arg;
	struct aws *a = op->a;
	struct aws_result res;
	uint64_t delay;

	op->req = NULL;
	memset(&res, 0, sizeof(res));
	res.status = resp->status;
	res.resp = resp;
	delay = backoff_next_ms(op->attempt, a->retry_base_ms, a->retry_cap_ms);
	if (resp->error != 0) {
		res.error = resp->error;
		(void)snprintf(res.message, sizeof(res.message), "%s",
		    resp->errmsg);
		if (aws_transport_retryable(resp->error) &&
		    aws_schedule_retry(op, delay))
			return;
		aws_op_finish(op, &res);
		return;
	}
	if (resp->status >= 200 && resp->status < 300) {
		aws_op_finish(op, &res);
		return;
	}
	aws_parse_error(resp, &res);
	if (aws_s3_try_redirect(op, resp, &res))
		return;
	if (aws_is_skew(&res) && aws_learn_skew(a, resp) &&
	    aws_schedule_retry(op, 0))
		return;
	res.error = aws_error_class(&res);
	if (res.error == -EAGAIN && aws_schedule_retry(op, delay))
		return;
	aws_op_finish(op, &res);
}

static char *
aws_strdup_opt(const char *s, bool *oom)
{
	char *d;

	if (s == NULL)
		return NULL;
	d = strdup(s);
	if (d == NULL)
		*oom = true;
	return d;
}

int
aws_call_start(struct aws *a, const struct aws_call *c, struct aws_op **ret)
{
	struct aws_op *op;
	bool oom = false;
	size_t i;
	int r;

	if (c->n_headers > AWS_MAX_HEADER_LINES)
		return -E2BIG;
	op = calloc(1, sizeof(*op));
	if (op == NULL)
		return -ENOMEM;
	op->a = a;
	op->c = *c;
	op->service = aws_strdup_opt(c->service, &oom);
	op->path = aws_strdup_opt(c->path != NULL ? c->path : "/", &oom);
	op->query = aws_strdup_opt(c->query, &oom);
	op->host = aws_strdup_opt(c->host, &oom);
	op->base_url = aws_strdup_opt(c->base_url, &oom);
	op->region = aws_strdup_opt(c->region, &oom);
	op->bucket = aws_strdup_opt(c->bucket, &oom);
	op->headers = calloc(c->n_headers + 1, sizeof(char *));
	if (op->headers == NULL)
		oom = true;
	for (i = 0; !oom && i < c->n_headers; i++)
		op->headers[i] = aws_strdup_opt(c->headers[i], &oom);
	if (c->body_len > 0) {
		op->body = malloc(c->body_len);
		if (op->body != NULL)
			memcpy(op->body, c->body, c->body_len);
		else
			oom = true;
	}
	op->next = a->ops;
	if (a->ops != NULL)
		a->ops->prev = op;
	a->ops = op;
	r = oom ? -ENOMEM : 0;
	if (r == 0 &&
	    (aws_op_region(op) == NULL ||
		(op->region != NULL && !aws_region_name_ok(op->region))))
		r = -EINVAL; /* no region to sign with */
	if (r == 0)
		r = aws_attempt(op);
	if (r < 0) {
		op->c.on_cancel = NULL; /* the caller still owns arg */
		aws_op_free(op);
		return r;
	}
	if (ret != NULL)
		*ret = op;
	return 0;
}

void
aws_call_cancel(struct aws_op *op)
{
	if (op != NULL)
		aws_op_free(op);
}
