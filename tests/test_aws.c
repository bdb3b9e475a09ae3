/*
 * test_aws.c: SQS and S3 calls against moto with signature checking on.
 * Run by tests/aws.sh, which starts moto, creates the queues, objects and
 * messages named in SMTRAIL_* variables, and stops moto afterwards.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "aws.h"
#include "buf.h"
#include "creds.h"
#include "diag.h"
#include "http.h"
#include "s3.h"
#include "sqs.h"
#include "tap.h"
#include "testlib.h"

struct ctx {
	struct event_base *base;
	struct http *http;
	struct creds *creds;
	struct aws *aws;
};

struct res {
	int done;
	struct aws_result r;
	char code[128];
	struct sqs_msg *msgs;
	size_t n;
	int results[SQS_MAX_BATCH];
	size_t nresults;
	char attr[256];
	struct buf data;
	int restarts;
	struct timespec at;
};

/* Runs the loop until r's call ends (30 s at most). */
static void
wait_done(struct ctx *c, struct res *r)
{
	tl_run_until(c->base, &r->done, 1, 30000);
}

static int
ctx_init(struct ctx *c)
{
	struct diag d;
	int r;

	memset(c, 0, sizeof(*c));
	memset(&d, 0, sizeof(d));
	c->base = event_base_new();
	r = http_new(c->base, NULL, &c->http);
	if (r == 0)
		r = creds_new(c->base, c->http, NULL, &c->creds);
	if (r == 0)
		r = aws_new(c->base, c->http, c->creds, NULL, &c->aws, &d);
	if (r < 0)
		diag_note("ctx_init: %d %s", r, d.msg);
	return r;
}

static void
ctx_done(struct ctx *c)
{
	aws_free(c->aws);
	creds_free(c->creds);
	http_free(c->http);
	event_base_free(c->base);
}

static void
save_result(struct res *r, const struct aws_result *ar)
{
	r->done++;
	r->r = *ar;
	r->r.resp = NULL;
	snprintf(r->code, sizeof(r->code), "%s", ar->code);
	if (ar->error != 0)
		diag_note("aws error %d status %ld code '%s' msg '%s'",
		    ar->error, ar->status, ar->code, ar->message);
}

static void
on_receive(const struct aws_result *ar, struct sqs_msg *msgs, size_t n,
    void *arg)
{
	struct res *r = arg;

	save_result(r, ar);
	r->msgs = msgs;
	r->n = n;
	clock_gettime(CLOCK_MONOTONIC, &r->at);
}

static void
on_batch(const struct aws_result *ar, const int *results, size_t n, void *arg)
{
	struct res *r = arg;

	save_result(r, ar);
	memcpy(r->results, results, n * sizeof(int));
	r->nresults = n;
}

static void
on_attrs(const struct aws_result *ar, struct json_object *attrs, void *arg)
{
	struct res *r = arg;
	struct json_object *v;

	save_result(r, ar);
	if (attrs != NULL && json_object_object_get_ex(attrs, "QueueArn", &v))
		snprintf(r->attr, sizeof(r->attr), "%s",
		    json_object_get_string(v));
}

static void
on_get(const struct aws_result *ar, void *arg)
{
	struct res *r = arg;

	save_result(r, ar);
	if (ar->resp != NULL && ar->error == 0 && r->data.len == 0 &&
	    ar->resp->body.len > 0)
		if (buf_append(&r->data, ar->resp->body.data,
			ar->resp->body.len) < 0)
			diag_note("body too big for the test buffer");
}

static int
on_data(const void *p, size_t len, void *arg)
{
	struct res *r = arg;

	return buf_append(&r->data, p, len);
}

static void
on_restart(void *arg)
{
	struct res *r = arg;

	r->restarts++;
	buf_reset(&r->data);
}

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL)
		diag_note("missing environment variable %s", name);
	return v != NULL ? v : "";
}

/* ReceiveMessage into r, run to its end; one test: the call starts. */
static void
receive(struct ctx *c, const char *queue, const struct sqs_receive_opts *ro,
    struct res *r, const char *name)
{
	memset(r, 0, sizeof(*r));
	is_int(sqs_receive(c->aws, queue, ro, on_receive, r, NULL), 0, "%s",
	    name);
	wait_done(c, r);
}

static void
test_sqs(struct ctx *c)
{
	const char *work = env("SMTRAIL_WORK_QUEUE");
	const char *empty = env("SMTRAIL_EMPTY_QUEUE");
	const char *names[] = {"All"};
	struct sqs_receive_opts ro = {10, 1, 0};
	const char *handles[SQS_MAX_BATCH];
	struct res r;
	char nope[512];
	size_t i;
	int seen;

	memset(&r, 0, sizeof(r));
	is_int(sqs_get_queue_attributes(c->aws, work, names, 1, on_attrs, &r,
		   NULL),
	    0, "GetQueueAttributes starts");
	wait_done(c, &r);
	is_int(r.r.error, 0, "GetQueueAttributes: signed and accepted");
	ok(strstr(r.attr, ":work") != NULL, "QueueArn read: %s", r.attr);

	/* An empty long poll, with a timer in the same loop. */
	{
		struct tl_tick t;
		struct timespec start;
		double at_ms;

		memset(&r, 0, sizeof(r));
		clock_gettime(CLOCK_MONOTONIC, &start);
		is_int(sqs_receive(c->aws, empty, &ro, on_receive, &r, NULL), 0,
		    "ReceiveMessage (empty) starts");
		if (tl_tick_start(&t, c->base, 300) < 0)
			tl_bail("test_aws: no timer");
		wait_done(c, &r);
		at_ms = tl_ms_between(&start, &t.at);
		is_int(r.r.error, 0, "empty long poll: no error");
		is_int((long long)r.n, 0, "empty long poll: no messages");
		ok(t.fired == 1 && at_ms < 500,
		    "a 300 ms timer fired on time during the long poll (%.0f ms)",
		    at_ms);
		ok(tl_ms_since(&start) >= 900,
		    "the long poll waited ~1 s (%.0f ms)", tl_ms_since(&start));
		tl_tick_stop(&t);
	}

	receive(c, work, &ro, &r, "ReceiveMessage starts");
	is_int(r.r.error, 0, "receive: no error");
	is_int((long long)r.n, 3, "receive: three messages");
	seen = 0;
	for (i = 0; i < r.n; i++) {
		if (strncmp(r.msgs[i].body, "message ", 8) == 0)
			seen |= 1 << (r.msgs[i].body[8] - '0');
		handles[i] = r.msgs[i].receipt_handle;
	}
	is_int(seen, 0xe, "receive: bodies 1, 2, 3");
	is_int(r.n > 0 ? r.msgs[0].receive_count : 0, 1,
	    "ApproximateReceiveCount 1");
	ok(r.n > 0 && r.msgs[0].sent_timestamp_ms > 1700000000000ull,
	    "SentTimestamp read");
	{
		struct res v;
		size_t n = r.n;

		memset(&v, 0, sizeof(v));
		is_int(sqs_change_visibility_batch(c->aws, work, handles, n, 0,
			   on_batch, &v, NULL),
		    0, "ChangeMessageVisibilityBatch starts");
		wait_done(c, &v);
		is_int(v.r.error, 0, "visibility change: no error");
		is_int((long long)v.nresults, 3,
		    "visibility change: 3 results");
		is_int(v.results[0] | v.results[1] | v.results[2], 0,
		    "visibility change: every entry succeeded");
	}
	sqs_msgs_free(r.msgs, r.n);

	receive(c, work, &ro, &r, "ReceiveMessage again");
	is_int((long long)r.n, 3, "visible again at once");
	is_int(r.n > 0 ? r.msgs[0].receive_count : 0, 2,
	    "ApproximateReceiveCount 2");
	for (i = 0; i < r.n; i++)
		handles[i] = r.msgs[i].receipt_handle;
	handles[r.n] = "not-a-receipt-handle";
	{
		struct res d;
		size_t n = r.n + 1;

		memset(&d, 0, sizeof(d));
		is_int(sqs_delete_batch(c->aws, work, handles, n, on_batch, &d,
			   NULL),
		    0, "DeleteMessageBatch starts");
		wait_done(c, &d);
		is_int(d.r.error, 0, "delete batch: the call succeeded");
		is_int(d.results[0] | d.results[1] | d.results[2], 0,
		    "delete batch: three deleted");
		ok(d.results[3] < 0,
		    "delete batch: the bogus handle failed (%d)", d.results[3]);
	}
	sqs_msgs_free(r.msgs, r.n);
	receive(c, work, &ro, &r, "ReceiveMessage after delete");
	is_int((long long)r.n, 0, "the queue is empty");

	snprintf(nope, sizeof(nope), "%.*s/does-not-exist",
	    (int)(strrchr(work, '/') - work), work);
	receive(c, nope, &ro, &r, "ReceiveMessage on a missing queue");
	is_int(r.r.error, -ENOENT, "missing queue: -ENOENT");
	is_str(r.code, "QueueDoesNotExist", "missing queue: the AWS code");
	is_int(r.r.attempts, 1, "missing queue: not retried");
}

static void
test_s3(struct ctx *c)
{
	const char *b = "smtrail-test-bucket";
	struct s3_get_opts o;
	struct buf want;
	struct res r;

	buf_init(&want, 64u << 20);
	if (!is_int(tl_read_file(env("SMTRAIL_TEST_GZ"), &want), 0, "read gz"))
		return;
	memset(&o, 0, sizeof(o));
	o.on_data = on_data;
	o.on_restart = on_restart;
	memset(&r, 0, sizeof(r));
	buf_init(&r.data, 64u << 20);
	o.max_size = 0;
	is_int(s3_get_object(c->aws, b,
		   "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/25/"
		   "a.json.gz",
		   &o, on_get, &r, NULL),
	    0, "GetObject (streamed) starts");
	wait_done(c, &r);
	is_int(r.r.error, 0, "gzip object: no error");
	ok(r.data.len == want.len &&
		memcmp(r.data.data, want.data, want.len) == 0,
	    "gzip object: the exact bytes (%zu)", r.data.len);
	buf_reset(&r.data);
	r.done = 0;
	is_int(s3_get_object(c->aws, b, "enc/a.json.gz", &o, on_get, &r, NULL),
	    0, "GetObject (Content-Encoding: gzip) starts");
	wait_done(c, &r);
	ok(r.r.error == 0 && r.data.len == want.len &&
		memcmp(r.data.data, want.data, want.len) == 0,
	    "Content-Encoding: gzip object arrives as stored (gzip bytes)");
	buf_reset(&want);
	if (tl_read_file(env("SMTRAIL_TEST_PLAIN"), &want) < 0)
		diag_note("cannot read SMTRAIL_TEST_PLAIN");
	buf_reset(&r.data);
	r.done = 0;
	o.on_data = NULL; /* collected into the response body */
	is_int(s3_get_object(c->aws, b, "dir with space/x~y/a b.json", &o,
		   on_get, &r, NULL),
	    0, "GetObject (key with spaces) starts");
	wait_done(c, &r);
	is_int(r.r.error, 0, "key with spaces and ~: signed right");
	ok(r.data.len == want.len &&
		memcmp(r.data.data, want.data, want.len) == 0,
	    "key with spaces: the exact bytes (%zu)", r.data.len);

	memset(&r.r, 0, sizeof(r.r));
	r.done = 0;
	is_int(s3_get_object(c->aws, b, "no/such/key.json.gz", &o, on_get, &r,
		   NULL),
	    0, "GetObject (missing key) starts");
	wait_done(c, &r);
	is_int(r.r.error, -ENOENT, "missing key: -ENOENT");
	is_str(r.code, "NoSuchKey", "missing key: NoSuchKey");
	is_int(r.r.attempts, 1, "missing key: not retried");
	r.done = 0;
	is_int(s3_get_object(c->aws, "smtrail-no-such-bucket", "k", &o, on_get,
		   &r, NULL),
	    0, "GetObject (missing bucket) starts");
	wait_done(c, &r);
	is_int(r.r.error, -ENOENT, "missing bucket: -ENOENT");
	is_str(r.code, "NoSuchBucket", "missing bucket: NoSuchBucket");

	o.on_data = on_data;
	o.max_size = 1000;
	buf_reset(&r.data);
	r.done = 0;
	is_int(s3_get_object(c->aws, b, "enc/a.json.gz", &o, on_get, &r, NULL),
	    0, "GetObject over max_size starts");
	wait_done(c, &r);
	is_int(r.r.error, -E2BIG, "over max_size: -E2BIG");
	buf_done(&r.data);
	buf_done(&want);
}

/* Keys with + = % and UTF-8, on a moto that does not check signatures (see
 * tests/aws.sh): the request path must still name the right object. */
static void
test_odd_key(void)
{
	struct s3_get_opts o;
	struct buf want;
	struct ctx c;
	struct res r;

	setenv("AWS_ENDPOINT_URL", env("SMTRAIL_ODD_ENDPOINT"), 1);
	buf_init(&want, 1u << 20);
	if (tl_read_file(env("SMTRAIL_TEST_PLAIN"), &want) < 0)
		diag_note("cannot read SMTRAIL_TEST_PLAIN");
	if (!is_int(ctx_init(&c), 0, "context for the unchecked moto"))
		return;
	memset(&o, 0, sizeof(o));
	memset(&r, 0, sizeof(r));
	buf_init(&r.data, 1u << 20);
	is_int(s3_get_object(c.aws, "smtrail-test-bucket",
		   "dir with space/a+b=c/\xc3\xbcn\xc3\xaf/100%.json", &o,
		   on_get, &r, NULL),
	    0, "GetObject (key with + = %% UTF-8) starts");
	wait_done(&c, &r);
	is_int(r.r.error, 0, "odd key: found");
	ok(r.data.len == want.len &&
		memcmp(r.data.data, want.data, want.len) == 0,
	    "odd key: the exact bytes (%zu)", r.data.len);
	buf_done(&r.data);
	buf_done(&want);
	ctx_done(&c);
}

static void
test_attrs_with(const char *what, int want)
{
	const char *names[] = {"QueueArn"};
	struct ctx c;
	struct res r;

	if (ctx_init(&c) < 0) {
		ok(0, "%s: context", what);
		return;
	}
	memset(&r, 0, sizeof(r));
	is_int(sqs_get_queue_attributes(c.aws, env("SMTRAIL_WORK_QUEUE"), names,
		   1, on_attrs, &r, NULL),
	    0, "%s: call starts", what);
	wait_done(&c, &r);
	is_int(r.r.error, want, "%s: outcome", what);
	ctx_done(&c);
}

int
main(void)
{
	char *key = strdup(env("AWS_ACCESS_KEY_ID"));
	char *secret = strdup(env("AWS_SECRET_ACCESS_KEY"));
	char wrong[256];
	struct ctx c;

	unsetenv("AWS_PROFILE");
	unsetenv("AWS_SESSION_TOKEN");
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	setenv("AWS_CONFIG_FILE", "/nonexistent", 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent", 1);
	if (!is_int(ctx_init(&c), 0, "context with moto's endpoint"))
		return done_testing();
	is_str(aws_region(c.aws), "us-east-1", "region from AWS_REGION");
	ok(aws_s3_path_style(c.aws), "custom endpoint: S3 path-style");
	test_sqs(&c);
	test_s3(&c);
	ctx_done(&c);
	{
		char *endpoint = strdup(env("AWS_ENDPOINT_URL"));

		test_odd_key();
		setenv("AWS_ENDPOINT_URL", endpoint, 1);
		free(endpoint);
	}

	/* Wrong secret: refused, not retried into a storm. */
	snprintf(wrong, sizeof(wrong), "%sX", secret);
	setenv("AWS_SECRET_ACCESS_KEY", wrong, 1);
	test_attrs_with("wrong secret", -EACCES);
	setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNUNKNOWN00", 1);
	test_attrs_with("unknown key id", -EACCES);

	/* Temporary credentials with a session token, from a profile. */
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	setenv("AWS_SHARED_CREDENTIALS_FILE", env("SMTRAIL_TEST_CREDENTIALS"),
	    1);
	setenv("AWS_PROFILE", "tok", 1);
	test_attrs_with("profile with session token", 0);
	setenv("AWS_PROFILE", "notok", 1);
	test_attrs_with("same keys without the token", -EACCES);
	free(key);
	free(secret);
	return done_testing();
}
