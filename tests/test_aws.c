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
	struct sqs_receive_opts ro = {10, 1, 0, false};
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

/* Times needle occurs in hay. */
static int
count_of(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

/* A call whose credentials cannot be had: -ENOKEY, the chain's message
 * said once, beginning with want. */
static void
test_creds_failed(const char *what, const char *want)
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
	is_int(r.r.error, -ENOKEY, "%s: -ENOKEY", what);
	ok(strncmp(r.r.message, want, strlen(want)) == 0,
	    "%s: the message begins '%s' ('%s')", what, want, r.r.message);
	is_int(count_of(r.r.message, "no credentials"),
	    strstr(want, "no credentials") != NULL ? 1 : 0,
	    "%s: 'no credentials' said once, or not at all", what);
	ctx_done(&c);
}

/* ---- regions: no network ------------------------------------------------ */

static void
test_queue_url(void)
{
	static const struct {
		const char *url;
		int want;
		const char *region;
	} cases[] = {
	    /* Hostile first. */
	    {"", -EINVAL, ""},
	    {"sqs.eu-west-1.amazonaws.com/1/q", -EINVAL, ""},
	    {"ftp://sqs.eu-west-1.amazonaws.com/1/q", -EINVAL, ""},
	    {"https://", -EINVAL, ""},
	    {"https:///1/q", -EINVAL, ""},
	    {"https://user@sqs.eu-west-1.amazonaws.com/1/q", -EINVAL, ""},
	    {"https://sqs.eu-west-1.amazonaws.com%2F.evil/1/q", -EINVAL, ""},
	    {"https://sqs..amazonaws.com/1/q", -EINVAL, ""},
	    {"https://.sqs.eu-west-1.amazonaws.com/1/q", -EINVAL, ""},
	    {"https://sqs.EU_WEST.amazonaws.com/1/q", -EINVAL, ""},
	    {"https://sqs.-eu.amazonaws.com/1/q", -EINVAL, ""},
	    {"https://sqs.eu-west-1-.amazonaws.com/1/q", -EINVAL, ""},
	    {"https://sqs.a.b.amazonaws.com/1/q", -EINVAL, ""},
	    {"https://sqs.abcdefghijklmnopqrstuvwxyz0123456789.amazonaws.com/q",
		-EINVAL, ""},
	    {"https://sqs.eu-west-1.amazonaws.com:/1/q", -EINVAL, ""},
	    {"https://sqs.eu-west-1.amazonaws.com:99999999/1/q", -EINVAL, ""},
	    {"https://sqs.eu-west-1.amazonaws.com:44x/1/q", -EINVAL, ""},
	    {"https://vpce-1.sqs.us-east-1.x.vpce.amazonaws.com/1/q", -EINVAL,
		""},
	    {"https://vpce-1.sqs.vpce.amazonaws.com/1/q", -EINVAL, ""},
	    {"https://x.queue.y.queue.amazonaws.com/1/q", 0, ""},
	    {"https://sqs.amazonaws.com/1/q", 0, ""},
	    {"https://s3.amazonaws.com/1/q", 0, ""},
	    {"https://amazonaws.com/1/q", 0, ""},
	    {"https://sqs.eu-west-1.amazonaws.com.evil.example/1/q", 0, ""},
	    {"http://127.0.0.1:4566/000000000000/q", 0, ""},
	    {"http://localhost/000000000000/q", 0, ""},
	    /* Every form AWS uses. */
	    {"https://sqs.eu-west-1.amazonaws.com/123456789012/q", 1,
		"eu-west-1"},
	    {"https://SQS.EU-WEST-1.AMAZONAWS.COM/123456789012/q", 1,
		"eu-west-1"},
	    {"https://sqs.eu-west-1.amazonaws.com:443/123456789012/q", 1,
		"eu-west-1"},
	    {"http://sqs.ap-southeast-2.amazonaws.com/123456789012/q", 1,
		"ap-southeast-2"},
	    {"https://sqs-fips.us-gov-east-1.amazonaws.com/1/q", 1,
		"us-gov-east-1"},
	    {"https://sqs-fips.us-east-2.amazonaws.com/1/q", 1, "us-east-2"},
	    {"https://sqs.cn-north-1.amazonaws.com.cn/1/q", 1, "cn-north-1"},
	    {"https://sqs.us-gov-west-1.amazonaws.com/1/q", 1, "us-gov-west-1"},
	    {"https://sqs.eu-central-1.api.aws/1/q", 1, "eu-central-1"},
	    {"https://vpce-0123abcd-xyz.sqs.us-east-1.vpce.amazonaws.com/1/q",
		1, "us-east-1"},
	    {"https://vpce-0123abcd-xyz-us-east-1a.sqs.us-east-1.vpce."
	     "amazonaws.com/1/q",
		1, "us-east-1"},
	    {"https://eu-west-1.queue.amazonaws.com/123456789012/q", 1,
		"eu-west-1"},
	    {"https://queue.amazonaws.com/123456789012/q", 1, "us-east-1"},
	    {"https://sqs.eu-west-1.amazonaws.com", 1, "eu-west-1"},
	    {"https://sqs.eu-west-1.amazonaws.com?x", 1, "eu-west-1"},
	};
	char region[AWS_MAX_REGION + 1];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		memset(region, 'X', sizeof(region));
		is_int(sqs_url_region(cases[i].url, region), cases[i].want,
		    "queue URL '%s': %d", cases[i].url, cases[i].want);
		is_str(region, cases[i].region, "queue URL '%s': region '%s'",
		    cases[i].url, cases[i].region);
	}
}

static void
test_redirect_rules(void)
{
	static const struct {
		long status;
		const char *method;
		const char *code;
		const char *header;
		const char *body;
		int want;
		const char *region;
	} cases[] = {
	    /* Not a wrong-region error, or nothing better to try. */
	    {200, "GET", "", "us-west-2", NULL, 0, ""},
	    {403, "GET", "AccessDenied", NULL, "<Error/>", 0, ""},
	    {404, "GET", "NoSuchKey", NULL, NULL, 0, ""},
	    {403, "GET", "AccessDenied", "us-east-1", NULL, 0, ""},
	    {301, "GET", "PermanentRedirect", "us-east-1", NULL, 0, ""},
	    {301, "GET", "PermanentRedirect", "US_WEST", NULL, 0, ""},
	    {301, "GET", "PermanentRedirect", "us-west-2.evil", NULL, 0, ""},
	    {400, "GET", "AuthorizationHeaderMalformed", NULL,
		"<Error><Code>AuthorizationHeaderMalformed</Code></Error>", 0,
		""},
	    {400, "GET", "AuthorizationHeaderMalformed", NULL,
		"<Region>abcdefghijklmnopqrstuvwxyz0123456789-x</Region>", 0,
		""},
	    {400, "GET", "InvalidArgument", NULL, NULL, 0, ""},
	    /* The bucket's region, from the header first. */
	    {301, "GET", "PermanentRedirect", "us-west-2", NULL, 1,
		"us-west-2"},
	    {301, "HEAD", "", "eu-west-1", NULL, 1, "eu-west-1"},
	    {400, "HEAD", "", "eu-west-1", NULL, 1, "eu-west-1"},
	    {307, "GET", "TemporaryRedirect", "ap-south-1", NULL, 1,
		"ap-south-1"},
	    {403, "GET", "AccessDenied", "eu-north-1", NULL, 1, "eu-north-1"},
	    {400, "GET", "AuthorizationHeaderMalformed", NULL,
		"<Error><Code>AuthorizationHeaderMalformed</Code><Region>"
		"eu-west-3</Region></Error>",
		1, "eu-west-3"},
	    {400, "GET", "AuthorizationHeaderMalformed", "sa-east-1",
		"<Region>eu-west-3</Region>", 1, "sa-east-1"},
	    /* A redirect naming no region: ask HeadBucket. */
	    {301, "GET", "PermanentRedirect", NULL, "<Error/>", 2, ""},
	    {301, "GET", "", NULL, NULL, 2, ""},
	    {400, "HEAD", "", NULL, NULL, 2, ""},
	    {400, "GET", "IllegalLocationConstraintException", NULL, NULL, 2,
		""},
	};
	char region[AWS_MAX_REGION + 1];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		region[0] = '\0';
		is_int(aws_s3_redirect_region(cases[i].status, cases[i].method,
			   cases[i].code, cases[i].header, cases[i].body,
			   "us-east-1", region),
		    cases[i].want, "redirect %zu: %ld %s %s -> %d", i,
		    cases[i].status, cases[i].method, cases[i].code,
		    cases[i].want);
		is_str(region, cases[i].region, "redirect %zu: region '%s'", i,
		    cases[i].region);
	}
}

static void
test_list_parse(void)
{
	struct s3_list l;

	is_int(s3_list_parse("", &l), -EBADMSG, "list: empty body");
	is_int(s3_list_parse("<Error><Code>AccessDenied</Code></Error>", &l),
	    -EBADMSG, "list: an error body");
	is_int(s3_list_parse("<ListBucketResult><Contents><Key>a", &l),
	    -EBADMSG, "list: truncated");
	is_int(s3_list_parse("<ListBucketResult><Contents><Key>a&amp;b&lt;"
			     "</Key></Contents><Contents><Size>1</Size>"
			     "</Contents><CommonPrefixes><Prefix>AWSLogs/o-1/"
			     "</Prefix></CommonPrefixes><IsTruncated>true"
			     "</IsTruncated></ListBucketResult>",
		   &l),
	    0, "list: parsed");
	is_int((long long)l.n_keys, 1,
	    "list: one key (a Contents without "
	    "Key skipped)");
	is_str(l.n_keys ? l.keys[0] : NULL, "a&b<", "list: entities decoded");
	is_int((long long)l.n_prefixes, 1, "list: one prefix");
	is_str(l.n_prefixes ? l.prefixes[0] : NULL, "AWSLogs/o-1/",
	    "list: the prefix");
	ok(l.truncated, "list: truncated flag");
	ok(l.next_token == NULL, "list: no token sent, none kept");
	s3_list_done(&l);
	is_int(s3_list_parse("<ListBucketResult><IsTruncated>true</IsTruncated>"
			     "<NextContinuationToken>1/a+b=&amp;"
			     "</NextContinuationToken></ListBucketResult>",
		   &l),
	    0, "list: a page with a token");
	is_str(l.next_token, "1/a+b=&", "list: the next page's token");
	s3_list_done(&l);
	is_int(
	    s3_list_parse("<ListBucketResult><IsTruncated>false</IsTruncated>"
			  "<NextContinuationToken>x</NextContinuationToken>"
			  "</ListBucketResult>",
		&l),
	    0, "list: the last page");
	ok(l.next_token == NULL, "list: no token on the last page");
	s3_list_done(&l);
}

/* No region anywhere: SQS takes the queue URL's, S3 us-east-1 first, STS
 * the global endpoint; a non-AWS queue URL is a clear error. */
static void
test_no_region(void)
{
	char *region = strdup(env("AWS_REGION"));
	char *endpoint = strdup(env("AWS_ENDPOINT_URL"));
	struct sqs_endpoint se;
	struct aws_call call;
	struct aws_op *op = NULL;
	struct diag d;
	struct ctx c;

	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
	unsetenv("AWS_ENDPOINT_URL");
	if (!is_int(ctx_init(&c), 0, "no region: aws_new works")) {
		free(region);
		free(endpoint);
		return;
	}
	ok(aws_region(c.aws) == NULL, "no region: none");
	ok(aws_endpoint(c.aws, "sqs") == NULL, "no region: SQS per queue");
	is_str(aws_endpoint(c.aws, "s3"), "https://s3.us-east-1.amazonaws.com",
	    "no region: S3 tried in us-east-1 first");
	is_str(aws_endpoint(c.aws, "sts"), "https://sts.amazonaws.com",
	    "no region: STS global");
	is_str(aws_s3_region_for(c.aws, "some-bucket"), "us-east-1",
	    "no region: a bucket's first try");
	ok(!aws_s3_bucket_path_style(c.aws, "some-bucket"),
	    "AWS S3: virtual-hosted");
	ok(aws_s3_bucket_path_style(c.aws, "some.bucket"),
	    "AWS S3: a dotted bucket path-style");
	memset(&d, 0, sizeof(d));
	is_int(sqs_queue_endpoint(c.aws,
		   "https://vpce-0a-b.sqs.eu-west-1.vpce.amazonaws.com/1/q",
		   &se, &d),
	    0, "VPC endpoint URL");
	is_str(se.url, "https://vpce-0a-b.sqs.eu-west-1.vpce.amazonaws.com",
	    "VPC endpoint: requests go to the URL's host");
	is_str(se.region, "eu-west-1", "VPC endpoint: its region");
	is_int(sqs_queue_endpoint(c.aws,
		   "http://sqs.eu-west-1.amazonaws.com:8080/1/q", &se, &d),
	    0, "AWS host over http");
	is_str(se.url, "https://sqs.eu-west-1.amazonaws.com",
	    "AWS host: always https, its own port dropped");
	is_int(sqs_queue_endpoint(c.aws,
		   "https://us-west-1.queue.amazonaws.com/1/q", &se, &d),
	    0, "legacy URL");
	is_str(se.url, "https://sqs.us-west-1.amazonaws.com",
	    "legacy URL: the standard endpoint");
	is_int(sqs_queue_endpoint(c.aws, "https://queue.amazonaws.com/1/q", &se,
		   &d),
	    0, "oldest legacy URL");
	is_str(se.url, "https://sqs.us-east-1.amazonaws.com",
	    "oldest legacy URL: us-east-1");
	is_int(sqs_queue_endpoint(c.aws,
		   "https://sqs.cn-north-1.amazonaws.com.cn/1/q", &se, &d),
	    0, "China URL");
	is_str(se.url, "https://sqs.cn-north-1.amazonaws.com.cn",
	    "China URL: its own host");
	is_int(sqs_queue_endpoint(c.aws, "http://127.0.0.1:4566/000000000000/q",
		   &se, &d),
	    -EINVAL, "non-AWS URL without a region: refused");
	ok(strstr(d.msg, "no AWS region for the queue URL") != NULL &&
		strstr(d.msg, "aws.region") != NULL,
	    "non-AWS URL: the diag says what to set ('%s')", d.msg);
	memset(&call, 0, sizeof(call));
	call.service = "sqs";
	call.method = "POST";
	is_int(aws_call_start(c.aws, &call, &op), -EINVAL,
	    "an SQS call with no region to sign with: -EINVAL");
	ctx_done(&c);
	/* With a custom endpoint, an AWS URL still signs for its region. */
	setenv("AWS_ENDPOINT_URL", endpoint, 1);
	setenv("AWS_REGION", "us-east-1", 1);
	if (ctx_init(&c) == 0) {
		is_int(sqs_queue_endpoint(c.aws,
			   "https://sqs.eu-west-1.amazonaws.com/1/q", &se, &d),
		    0, "custom endpoint, AWS URL");
		is_str(se.url, endpoint, "custom endpoint: requests go there");
		is_str(se.region, "eu-west-1",
		    "custom endpoint: signed for the URL's region, not "
		    "AWS_REGION");
		is_str(se.url_region, "eu-west-1", "the URL's region kept");
		is_int(sqs_queue_endpoint(c.aws,
			   "http://127.0.0.1:4566/000000000000/q", &se, &d),
		    0, "custom endpoint, non-AWS URL");
		is_str(se.region, "us-east-1",
		    "non-AWS URL: the configured region");
		ctx_done(&c);
	}
	setenv("AWS_REGION", region, 1);
	free(region);
	free(endpoint);
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
	test_queue_url();
	test_redirect_rules();
	test_list_parse();
	test_no_region();
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

	/* No credentials anywhere; a named profile that does not exist. */
	unsetenv("AWS_PROFILE");
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent", 1);
	test_creds_failed("no credentials",
	    "no credentials: environment (unset), profile 'default' ");
	setenv("AWS_PROFILE", "absent-profile", 1);
	test_creds_failed("a missing profile",
	    "cannot get credentials: profile 'absent-profile'");
	unsetenv("AWS_PROFILE");
	free(key);
	free(secret);
	return done_testing();
}
