/*
 * awscheck.c: see awscheck.h. One call at a time: start it, run the loop
 * until its callback has stored the outcome, then judge it and go on.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "aws/aws.h"
#include "aws/creds.h"
#include "aws/s3.h"
#include "aws/sqs.h"
#include "awscheck.h"
#include "cfg.h"
#include "diag.h"
#include "http.h"

#define AWSCHECK_MAX_LINE 2048
#define AWSCHECK_MAX_KEY 1024
/* How many bytes of the newest log file are read. */
#define AWSCHECK_RANGE "bytes=0-15"

struct awscheck {
	const struct cfg *c;
	awscheck_out_cb *out;
	void *arg;
	struct event_base *base;
	struct http *http;
	struct creds *cr;
	struct aws *aws;
	unsigned checks;
	unsigned failed;

	/* The outcome of the call in flight. */
	int done;
	struct aws_result res; /* .resp not kept */
	char sse[32];          /* x-amz-server-side-encryption */
	char kms_key[256];     /* ...-aws-kms-key-id */
	struct json_object *attrs;
	struct sqs_msg *msgs;
	size_t n_msgs;
	int batch_result;
	size_t n_keys;
	size_t n_prefixes;
	char last_key[AWSCHECK_MAX_KEY];
	char last_prefix[AWSCHECK_MAX_KEY];
};

static void awscheck_line(struct awscheck *ac, const char *fmt, ...)
    PRINTF_LIKE(2, 3);

static void
awscheck_line(struct awscheck *ac, const char *fmt, ...)
{
	char line[AWSCHECK_MAX_LINE];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ac->out(line, ac->arg);
}

static void
awscheck_ok(struct awscheck *ac, const char *action, const char *resource,
    const char *detail)
{
	ac->checks++;
	awscheck_line(ac, "ok   %s on %s%s%s%s", action, resource,
	    detail[0] ? " (" : "", detail, detail[0] ? ")" : "");
}

/* "FAIL action on resource: Code: message; what to do". */
static void
awscheck_fail(struct awscheck *ac, const char *action, const char *resource,
    const struct aws_result *res, const char *todo)
{
	char why[600];

	if (res->code[0] != '\0')
		(void)snprintf(why, sizeof(why), "%s%s%s", res->code,
		    res->message[0] ? ": " : "", res->message);
	else if (res->status != 0)
		(void)snprintf(why, sizeof(why), "HTTP %ld%s%s", res->status,
		    res->message[0] ? ": " : "", res->message);
	else
		(void)snprintf(why, sizeof(why), "%s",
		    res->message[0] ? res->message : strerror(-res->error));
	ac->checks++;
	ac->failed++;
	awscheck_line(ac, "FAIL %s on %s: %s; %s", action, resource, why, todo);
}

static void
awscheck_wait(struct awscheck *ac)
{
	while (!ac->done)
		if (event_base_loop(ac->base, EVLOOP_ONCE) < 0)
			break;
}

static void
awscheck_reset(struct awscheck *ac)
{
	ac->done = 0;
	memset(&ac->res, 0, sizeof(ac->res));
}

static void
awscheck_keep(struct awscheck *ac, const struct aws_result *res)
{
	ac->res = *res;
	ac->res.resp = NULL;
	ac->done = 1;
}

/* Codes that mean the credentials themselves were refused, not a
 * permission: nothing else will work either. */
static bool
awscheck_creds_refused(const struct aws_result *res)
{
	static const char *const codes[] = {"SignatureDoesNotMatch",
	    "InvalidClientTokenId", "UnrecognizedClientException",
	    "InvalidAccessKeyId", "ExpiredToken", "ExpiredTokenException",
	    "InvalidToken", "IncompleteSignature", "MissingAuthenticationToken",
	    "RequestExpired", "RequestTimeTooSkewed"};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(codes); i++)
		if (strcmp(res->code, codes[i]) == 0)
			return true;
	return res->error == -ENOKEY;
}

static const char *
awscheck_partition(const char *region)
{
	if (strncmp(region, "cn-", 3) == 0)
		return "aws-cn";
	if (strncmp(region, "us-gov-", 7) == 0)
		return "aws-us-gov";
	return "aws";
}

/* arn:aws:sqs:REGION:ACCOUNT:NAME from the URL's path /ACCOUNT/NAME. */
static const char *
awscheck_queue_arn(const char *url, const char *region, char *buf, size_t size)
{
	const char *p = strstr(url, "://");
	const char *acct;
	size_t na;
	size_t nn;

	p = p != NULL ? strchr(p + 3, '/') : NULL;
	if (p == NULL)
		goto raw;
	acct = p + 1;
	na = strcspn(acct, "/?#");
	if (na == 0 || acct[na] != '/')
		goto raw;
	nn = strcspn(acct + na + 1, "/?#");
	if (nn == 0)
		goto raw;
	(void)snprintf(buf, size, "arn:%s:sqs:%s:%.*s:%.*s",
	    awscheck_partition(region), region, (int)na, acct, (int)nn,
	    acct + na + 1);
	return buf;
raw:
	(void)snprintf(buf, size, "%s", url);
	return buf;
}

/* ---- credentials ------------------------------------------------------ */

static void
awscheck_creds_cb(const struct aws_creds *c, int r, const struct diag *d,
    void *arg)
{
	struct awscheck *ac = arg;

	ac->done = 1;
	ac->checks++;
	if (r < 0) {
		ac->failed++;
		awscheck_line(ac, "credentials: none (%s)",
		    d != NULL ? d->msg : "");
		return;
	}
	/* The provider and the key id's first characters, never the secret
	 * or the token. */
	awscheck_line(ac, "credentials: from %s (key %.4s..., %s)", c->provider,
	    c->access_key_id,
	    c->session_token != NULL ? "temporary, with a session token"
				     : "long-term");
}

/* ---- regions and endpoints ------------------------------------------- */

static int
awscheck_where(struct awscheck *ac, struct sqs_endpoint *se)
{
	const char *region = aws_region(ac->aws);
	const char *q = ac->c->sqs.queue_url;
	struct diag dg;
	int r = -EINVAL;

	if (region != NULL)
		awscheck_line(ac, "region: %s", region);
	else
		awscheck_line(ac,
		    "region: none configured (SQS: the queue "
		    "URL's; S3: each bucket's, learnt; STS: "
		    "global)");
	memset(&dg, 0, sizeof(dg));
	if (q != NULL)
		r = sqs_queue_endpoint(ac->aws, q, se, &dg);
	if (q == NULL) {
		awscheck_line(ac, "sqs: sqs.queue_url is not set");
	} else if (r < 0) {
		awscheck_line(ac, "sqs: %s", dg.msg);
	} else {
		awscheck_line(ac, "sqs: region %s (%s), endpoint %s%s",
		    se->region,
		    se->url_region[0] != '\0' ? "the queue URL's"
					      : "the configured one",
		    se->url, se->custom ? " (custom)" : "");
		if (region != NULL && se->url_region[0] != '\0' &&
		    strcmp(region, se->url_region) != 0)
			awscheck_line(ac,
			    "warn region: aws.region (or the environment) "
			    "says %s, the queue URL %s: SQS requests are "
			    "signed for %s",
			    region, se->url_region, se->url_region);
	}
	if (aws_s3_path_style(ac->aws))
		awscheck_line(ac,
		    "s3: endpoint %s (custom, path-style), "
		    "bucket regions learnt on first use",
		    aws_endpoint(ac->aws, "s3"));
	else
		awscheck_line(ac,
		    "s3: endpoint https://BUCKET.s3.REGION.%s "
		    "(virtual-hosted), first tried in %s, "
		    "bucket regions learnt on first use",
		    "amazonaws.com", region != NULL ? region : "us-east-1");
	awscheck_line(ac, "sts: region %s, endpoint %s%s",
	    region != NULL ? region : "us-east-1 (global)",
	    aws_endpoint(ac->aws, "sts"),
	    aws_custom_endpoint(ac->aws, "sts") ? " (custom)" : "");
	return q != NULL && r == 0 ? 0 : -EINVAL;
}

/* ---- SQS -------------------------------------------------------------- */

static void
awscheck_attrs_cb(const struct aws_result *res, struct json_object *attrs,
    void *arg)
{
	struct awscheck *ac = arg;

	ac->attrs = attrs != NULL ? json_object_get(attrs) : NULL;
	awscheck_keep(ac, res);
}

static void
awscheck_recv_cb(const struct aws_result *res, struct sqs_msg *msgs, size_t n,
    void *arg)
{
	struct awscheck *ac = arg;

	ac->msgs = msgs;
	ac->n_msgs = n;
	awscheck_keep(ac, res);
}

static void
awscheck_batch_cb(const struct aws_result *res, const int *results, size_t n,
    void *arg)
{
	struct awscheck *ac = arg;

	ac->batch_result = n > 0 ? results[0] : -EIO;
	awscheck_keep(ac, res);
}

static const char *
awscheck_attr(struct json_object *attrs, const char *name)
{
	struct json_object *v;

	if (attrs == NULL || !json_object_object_get_ex(attrs, name, &v))
		return NULL;
	return json_object_get_string(v);
}

/* GetQueueAttributes: the queue's facts and redrive policy. False when
 * nothing else on the queue can work (refused credentials, no queue). */
static bool
awscheck_queue_attrs(struct awscheck *ac, const struct sqs_endpoint *se,
    const char *arn)
{
	static const char *const names[] = {"All"};
	const char *q = ac->c->sqs.queue_url;
	const char *v;
	char todo[600];
	int r;

	awscheck_line(ac, "queue: %s", q);
	awscheck_reset(ac);
	r = sqs_get_queue_attributes(ac->aws, q, names, 1, awscheck_attrs_cb,
	    ac, NULL);
	if (r < 0) {
		ac->res.error = r;
		ac->done = 1;
	}
	awscheck_wait(ac);
	if (ac->res.error != 0) {
		if (awscheck_creds_refused(&ac->res)) {
			awscheck_fail(ac, "sqs:GetQueueAttributes", arn,
			    &ac->res,
			    "the credentials were refused: check the access "
			    "key, its secret, the session token and the clock");
			return false;
		}
		if (ac->res.error == -EACCES) {
			awscheck_line(ac,
			    "warn sqs:GetQueueAttributes on %s: %s: the redrive "
			    "policy cannot be checked (smtrail run does not "
			    "need this action)",
			    arn, ac->res.code[0] ? ac->res.code : "denied");
			return true;
		}
		(void)snprintf(todo, sizeof(todo),
		    "check sqs.queue_url and the region (requests go to %s, "
		    "signed for %s)",
		    se->url, se->region);
		awscheck_fail(ac, "sqs:GetQueueAttributes", arn, &ac->res,
		    todo);
		return false;
	}
	awscheck_ok(ac, "sqs:GetQueueAttributes", arn, "");
	if ((v = awscheck_attr(ac->attrs, "QueueArn")) != NULL)
		awscheck_line(ac, "queue: %s", v);
	if ((v = awscheck_attr(ac->attrs, "ApproximateNumberOfMessages")) !=
	    NULL)
		awscheck_line(ac, "queue: %s message(s) waiting", v);
	if ((v = awscheck_attr(ac->attrs, "VisibilityTimeout")) != NULL)
		awscheck_line(ac, "queue: visibility timeout %ss", v);
	v = awscheck_attr(ac->attrs, "RedrivePolicy");
	if (v != NULL)
		awscheck_line(ac, "queue: redrive policy %s", v);
	else if (ac->c->sqs.max_receive_count != 0)
		awscheck_line(ac,
		    "queue: redrive policy none; sqs.max_receive_count %u "
		    "moves a message aside after that many receives",
		    ac->c->sqs.max_receive_count);
	else
		awscheck_line(ac,
		    "warn redrive: the queue has no dead-letter queue and "
		    "sqs.max_receive_count is 0: a message that can never be "
		    "processed comes back forever; give the queue a redrive "
		    "policy or set sqs.max_receive_count");
	json_object_put(ac->attrs);
	ac->attrs = NULL;
	return true;
}

/* A zero-wait receive of one message, left visible; then visibility 0 on
 * it (what it already has) to test ChangeMessageVisibility. */
static void
awscheck_receive(struct awscheck *ac, const char *arn)
{
	const char *q = ac->c->sqs.queue_url;
	struct sqs_receive_opts ro;
	char todo[600];
	char detail[200];
	int r;

	memset(&ro, 0, sizeof(ro));
	ro.max_messages = 1;
	ro.wait_time_s = 0;
	ro.visibility_timeout_s = 0;
	ro.visibility_given = true;
	awscheck_reset(ac);
	r = sqs_receive(ac->aws, q, &ro, awscheck_recv_cb, ac, NULL);
	if (r < 0) {
		ac->res.error = r;
		ac->done = 1;
	}
	awscheck_wait(ac);
	if (ac->res.error != 0) {
		(void)snprintf(todo, sizeof(todo),
		    "grant sqs:ReceiveMessage on %s", arn);
		awscheck_fail(ac, "sqs:ReceiveMessage", arn, &ac->res, todo);
		sqs_msgs_free(ac->msgs, ac->n_msgs);
		ac->msgs = NULL;
		ac->n_msgs = 0;
		return;
	}
	(void)snprintf(detail, sizeof(detail),
	    "%zu message(s) received and left visible%s", ac->n_msgs,
	    ac->n_msgs > 0 ? "; its receive count went up by one" : "");
	awscheck_ok(ac, "sqs:ReceiveMessage", arn, detail);
	if (ac->n_msgs > 0) {
		const char *h = ac->msgs[0].receipt_handle;

		awscheck_reset(ac);
		ac->batch_result = 0;
		r = sqs_change_visibility_batch(ac->aws, q, &h, 1, 0,
		    awscheck_batch_cb, ac, NULL);
		if (r < 0) {
			ac->res.error = r;
			ac->done = 1;
		}
		awscheck_wait(ac);
		if (ac->res.error == 0 && ac->batch_result != 0) {
			ac->res.error = ac->batch_result;
			(void)snprintf(ac->res.message, sizeof(ac->res.message),
			    "the entry failed");
		}
		(void)snprintf(todo, sizeof(todo),
		    "grant sqs:ChangeMessageVisibility on %s", arn);
		if (ac->res.error != 0)
			awscheck_fail(ac, "sqs:ChangeMessageVisibility", arn,
			    &ac->res, todo);
		else
			awscheck_ok(ac, "sqs:ChangeMessageVisibility", arn,
			    "to 0, what the message had");
	}
	awscheck_line(ac,
	    "note: sqs:DeleteMessage%s on %s %s needed too; not tested (that "
	    "would delete a message)",
	    ac->n_msgs > 0 ? "" : " and sqs:ChangeMessageVisibility", arn,
	    ac->n_msgs > 0 ? "is" : "are");
	sqs_msgs_free(ac->msgs, ac->n_msgs);
	ac->msgs = NULL;
	ac->n_msgs = 0;
}

/* ---- S3 --------------------------------------------------------------- */

static void
awscheck_list_cb(const struct aws_result *res, const struct s3_list *l,
    void *arg)
{
	struct awscheck *ac = arg;

	ac->n_keys = l != NULL ? l->n_keys : 0;
	ac->n_prefixes = l != NULL ? l->n_prefixes : 0;
	ac->last_key[0] = ac->last_prefix[0] = '\0';
	if (ac->n_keys > 0)
		(void)snprintf(ac->last_key, sizeof(ac->last_key), "%s",
		    l->keys[l->n_keys - 1]);
	if (ac->n_prefixes > 0)
		(void)snprintf(ac->last_prefix, sizeof(ac->last_prefix), "%s",
		    l->prefixes[l->n_prefixes - 1]);
	awscheck_keep(ac, res);
}

static void
awscheck_head_cb(const struct aws_result *res, void *arg)
{
	struct awscheck *ac = arg;

	ac->sse[0] = ac->kms_key[0] = '\0';
	if (res->error == 0 && res->resp != NULL) {
		(void)http_header(res->resp, "x-amz-server-side-encryption",
		    ac->sse, sizeof(ac->sse));
		(void)http_header(res->resp,
		    "x-amz-server-side-encryption-aws-kms-key-id", ac->kms_key,
		    sizeof(ac->kms_key));
	}
	awscheck_keep(ac, res);
}

static void
awscheck_get_cb(const struct aws_result *res, void *arg)
{
	awscheck_keep(arg, res);
}

static int
awscheck_list(struct awscheck *ac, const char *bucket, const char *prefix,
    const char *delimiter, unsigned max_keys)
{
	int r;

	awscheck_reset(ac);
	r = s3_list_objects(ac->aws, bucket, prefix, delimiter, max_keys, NULL,
	    awscheck_list_cb, ac, NULL);
	if (r < 0) {
		ac->res.error = r;
		return r;
	}
	awscheck_wait(ac);
	return ac->res.error;
}

/*
 * The newest CloudTrail log file under AWSLogs/: the last prefix at each
 * level (S3 lists in name order, and the names are account, region, year,
 * month, day), then the day's last key. Organization trails put the
 * organization id (o-...) before the account. "" when there is none.
 */
static int
awscheck_newest(struct awscheck *ac, const char *bucket, char *key, size_t size)
{
	char prefix[AWSCHECK_MAX_KEY];
	const char *name;
	int level;
	int r;

	key[0] = '\0';
	r = awscheck_list(ac, bucket, "AWSLogs/", "/", 1000);
	if (r < 0 || ac->n_prefixes == 0)
		return r;
	(void)snprintf(prefix, sizeof(prefix), "%s", ac->last_prefix);
	name = prefix + strlen("AWSLogs/");
	if (strncmp(name, "o-", 2) == 0) {
		r = awscheck_list(ac, bucket, prefix, "/", 1000);
		if (r < 0 || ac->n_prefixes == 0)
			return r;
		(void)snprintf(prefix, sizeof(prefix), "%s", ac->last_prefix);
	}
	if (strlen(prefix) + strlen("CloudTrail/") >= sizeof(prefix))
		return 0;
	memcpy(prefix + strlen(prefix), "CloudTrail/",
	    strlen("CloudTrail/") + 1);
	for (level = 0; level < 4; level++) { /* region, year, month, day */
		r = awscheck_list(ac, bucket, prefix, "/", 1000);
		if (r < 0 || ac->n_prefixes == 0)
			return r;
		(void)snprintf(prefix, sizeof(prefix), "%s", ac->last_prefix);
	}
	r = awscheck_list(ac, bucket, prefix, NULL, 1000);
	if (r == 0 && ac->n_keys > 0)
		(void)snprintf(key, size, "%s", ac->last_key);
	return r;
}

static void
awscheck_object(struct awscheck *ac, const char *bucket, const char *key)
{
	struct s3_get_opts so;
	struct aws_result head;
	char arn[AWSCHECK_MAX_KEY + 128];
	char todo[1500];
	char detail[400];
	bool kms;
	int r;

	(void)s3_arn(ac->aws, bucket, key, arn, sizeof(arn));
	awscheck_reset(ac);
	r = s3_head_object(ac->aws, bucket, key, awscheck_head_cb, ac, NULL);
	if (r < 0) {
		ac->res.error = r;
		ac->done = 1;
	}
	awscheck_wait(ac);
	head = ac->res;
	memset(&so, 0, sizeof(so));
	so.range = AWSCHECK_RANGE;
	so.max_size = 1u << 20;
	awscheck_reset(ac);
	r = s3_get_object(ac->aws, bucket, key, &so, awscheck_get_cb, ac, NULL);
	if (r < 0) {
		ac->res.error = r;
		ac->done = 1;
	}
	awscheck_wait(ac);
	if (ac->res.error == 0) {
		if (strcmp(ac->sse, "aws:kms") == 0)
			(void)snprintf(detail, sizeof(detail),
			    "first bytes read; SSE-KMS with %s, so kms:Decrypt "
			    "on it works too",
			    ac->kms_key[0] ? ac->kms_key : "a KMS key");
		else
			(void)snprintf(detail, sizeof(detail),
			    "first bytes read%s%s", ac->sse[0] ? "; " : "",
			    ac->sse[0] ? ac->sse : "");
		awscheck_ok(ac, "s3:GetObject", arn, detail);
		return;
	}
	/* HEAD needs s3:GetObject too: when it passed and the object is
	 * SSE-KMS, the GET was refused the key. */
	kms = ac->res.error == -EACCES &&
	    (s3_denied_is_kms(&ac->res) ||
		(head.error == 0 && strcmp(ac->sse, "aws:kms") == 0));
	if (kms) {
		(void)s3_denied_hint(ac->aws, bucket, NULL, true, ac->kms_key,
		    todo, sizeof(todo));
		awscheck_fail(ac, "kms:Decrypt",
		    ac->kms_key[0] ? ac->kms_key : "the trail's KMS key",
		    &ac->res, todo);
		return;
	}
	if (ac->res.error == -EACCES)
		(void)s3_denied_hint(ac->aws, bucket, "AWSLogs/*", false, NULL,
		    todo, sizeof(todo));
	else
		(void)snprintf(todo, sizeof(todo),
		    "smtrail run would fail this object the same way");
	awscheck_fail(ac, "s3:GetObject", arn, &ac->res, todo);
}

static void
awscheck_bucket(struct awscheck *ac, const char *bucket)
{
	const char *learnt;
	const char *region;
	char host[200];
	char url[600];
	char arn[256];
	char todo[600];
	char key[AWSCHECK_MAX_KEY];
	int r;

	(void)s3_arn(ac->aws, bucket, NULL, arn, sizeof(arn));
	if (!s3_bucket_name_ok(bucket)) {
		ac->checks++;
		ac->failed++;
		awscheck_line(ac,
		    "FAIL s3 bucket '%s': not a valid bucket name; "
		    "fix s3.allowed_buckets",
		    bucket);
		return;
	}
	r = awscheck_list(ac, bucket, "AWSLogs/", NULL, 1);
	learnt = aws_s3_bucket_region(ac->aws, bucket);
	region = aws_s3_region_for(ac->aws, bucket);
	if (aws_s3_path_style(ac->aws))
		(void)snprintf(url, sizeof(url), "%s/%s",
		    aws_endpoint(ac->aws, "s3"), bucket);
	else if (aws_public_host("s3", region, host, sizeof(host)) < 0)
		(void)snprintf(url, sizeof(url), "?");
	else if (aws_s3_bucket_path_style(ac->aws, bucket))
		(void)snprintf(url, sizeof(url), "https://%s/%s", host, bucket);
	else
		(void)snprintf(url, sizeof(url), "https://%s.%s", bucket, host);
	awscheck_line(ac, "s3: bucket %s: region %s (%s), endpoint %s", bucket,
	    region,
	    learnt != NULL                    ? "learnt from S3's redirect"
		: aws_region(ac->aws) != NULL ? "the configured one"
					      : "S3's default",
	    url);
	if (r < 0) {
		if (ac->res.error == -EACCES &&
		    !awscheck_creds_refused(&ac->res))
			(void)snprintf(todo, sizeof(todo),
			    "grant s3:ListBucket on %s (aws-check needs it to "
			    "find a log file; with it S3 also says NoSuchKey, "
			    "not AccessDenied, for a missing object)",
			    arn);
		else
			(void)snprintf(todo, sizeof(todo),
			    "check s3.allowed_buckets, the credentials and "
			    "the endpoint");
		awscheck_fail(ac, "s3:ListBucket", arn, &ac->res, todo);
		return;
	}
	awscheck_ok(ac, "s3:ListBucket", arn, "prefix AWSLogs/");
	if (ac->n_keys == 0) {
		awscheck_line(ac,
		    "warn s3://%s/AWSLogs/: empty: no CloudTrail log file to "
		    "test s3:GetObject on (a new trail writes its first "
		    "within about 5 minutes)",
		    bucket);
		return;
	}
	r = awscheck_newest(ac, bucket, key, sizeof(key));
	if (r < 0) {
		(void)snprintf(todo, sizeof(todo), "grant s3:ListBucket on %s",
		    arn);
		awscheck_fail(ac, "s3:ListBucket", arn, &ac->res, todo);
		return;
	}
	if (key[0] == '\0') {
		awscheck_line(ac,
		    "warn s3://%s/AWSLogs/: no CloudTrail log file found "
		    "(AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/): "
		    "s3:GetObject not tested",
		    bucket);
		return;
	}
	awscheck_line(ac, "s3: newest log file s3://%s/%s", bucket, key);
	awscheck_object(ac, bucket, key);
}

/* ---- the run ---------------------------------------------------------- */

static void
awscheck_checks(struct awscheck *ac)
{
	struct sqs_endpoint se;
	char arn[512];
	size_t i;
	int r;

	memset(&se, 0, sizeof(se));
	r = awscheck_where(ac, &se);
	awscheck_reset(ac);
	if (creds_get(ac->cr, awscheck_creds_cb, ac) < 0) {
		ac->checks++;
		ac->failed++;
		awscheck_line(ac, "credentials: none (cannot start)");
		return;
	}
	awscheck_wait(ac);
	if (ac->failed > 0)
		return;
	if (r < 0) {
		ac->checks++;
		ac->failed++;
		awscheck_line(ac,
		    "FAIL sqs: no queue to check; set "
		    "sqs.queue_url (and a region if its host "
		    "is not AWS's)");
	} else {
		(void)awscheck_queue_arn(ac->c->sqs.queue_url, se.region, arn,
		    sizeof(arn));
		if (awscheck_queue_attrs(ac, &se, arn))
			awscheck_receive(ac, arn);
		else if (ac->failed > 0 && awscheck_creds_refused(&ac->res))
			return; /* nothing else can work */
	}
	if (ac->c->s3.n_allowed_buckets == 0)
		awscheck_line(ac,
		    "warn s3.allowed_buckets: empty: no bucket "
		    "to check");
	for (i = 0; i < ac->c->s3.n_allowed_buckets; i++)
		awscheck_bucket(ac, ac->c->s3.allowed_buckets[i]);
}

int
awscheck_run(const struct cfg *c, const char *config_name, awscheck_out_cb *out,
    void *arg)
{
	struct awscheck ac;
	struct http_opts ho;
	struct creds_opts co;
	struct aws_opts ao;
	struct diag dg;
	int r;

	memset(&ac, 0, sizeof(ac));
	memset(&dg, 0, sizeof(dg));
	ac.c = c;
	ac.out = out;
	ac.arg = arg;
	awscheck_line(&ac, "config: %s", config_name);
	ac.base = http_base_new();
	if (ac.base == NULL)
		return -ENOMEM;
	ho = (struct http_opts){.ca_file = c->http.ca_file,
	    .ca_path = c->http.ca_path};
	r = http_new(ac.base, &ho, &ac.http);
	co = (struct creds_opts){.profile = c->aws.profile,
	    .region = c->aws.region,
	    .endpoint_url = c->aws.endpoint_url,
	    .role_arn = c->aws.role_arn,
	    .external_id = c->aws.external_id,
	    .role_session_name = c->aws.role_session_name};
	if (r == 0)
		r = creds_new(ac.base, ac.http, &co, &ac.cr);
	ao = (struct aws_opts){.region = c->aws.region,
	    .profile = c->aws.profile,
	    .endpoint_url = c->aws.endpoint_url,
	    .max_attempts = 2};
	if (r == 0) {
		r = aws_new(ac.base, ac.http, ac.cr, &ao, &ac.aws, &dg);
		if (r < 0 && dg.msg[0] != '\0') {
			awscheck_line(&ac, "region: %s", dg.msg);
			ac.failed++;
			r = 0;
		}
	}
	if (r == 0 && ac.aws != NULL)
		awscheck_checks(&ac);
	if (r == 0 && ac.failed == 0)
		awscheck_line(&ac, "result: all %u checks passed", ac.checks);
	else if (r == 0)
		awscheck_line(&ac, "result: %u of %u checks failed", ac.failed,
		    ac.checks);
	aws_free(ac.aws);
	creds_free(ac.cr);
	http_free(ac.http);
	event_base_free(ac.base);
	return r < 0 ? r : (int)ac.failed;
}
