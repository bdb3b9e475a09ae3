/*
 * test_notif.c: what an SQS message body says. Hostile bodies first (every
 * one refused with the exact code and a message saying what was expected,
 * none echoing more than 100 bytes of the body); then the shapes built
 * inline; then every sample in ../shared/data/notifications/ that is a
 * message body, each with its exact expected result. The sample directories
 * are listed, so a sample added there without an expectation here fails,
 * and so does a missing one.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <regex.h>

#include "buf.h"
#include "diag.h"
#include "notif.h"
#include "tap.h"
#include "testlib.h"

#define CT_KEY(n)                                                              \
	"AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/25/"                \
	"123456789012_CloudTrail_us-east-1_20261125T09" n "Z_abc.json.gz"

static struct diag last_diag;

/* Test-side builders: a failure to build is a failed test. */
static void
put(struct buf *b, const char *s)
{
	if (buf_puts(b, s) < 0)
		ok(0, "building a test body");
}

static void
put_rep(struct buf *b, char c, size_t n)
{
	while (n-- > 0)
		if (buf_putc(b, c) < 0) {
			ok(0, "building a test body");
			return;
		}
}

static int
parse(const char *body, size_t len, const struct notif_opts *o,
    struct notif **ret)
{
	memset(&last_diag, 0, sizeof(last_diag));
	return notif_parse(body, len, o, ret, &last_diag);
}

/* Refused with want, a diag containing msg, and nothing handed out. */
static void
want_fail_len(const char *body, size_t len, const struct notif_opts *o,
    int want, const char *msg, const char *name)
{
	struct notif *n = (struct notif *)0x1;
	int r;

	r = parse(body, len, o, &n);
	is_int(r, want, "hostile: %s: refused", name);
	ok(n == (struct notif *)0x1, "hostile: %s: *ret untouched", name);
	if (!ok(strstr(last_diag.msg, msg) != NULL,
		"hostile: %s: diag says '%s'", name, msg))
		diag_note("got: '%s'", last_diag.msg);
	if (r == 0)
		notif_free(n);
}

static void
want_fail(const char *body, int want, const char *msg, const char *name)
{
	want_fail_len(body, strlen(body), NULL, want, msg, name);
}

static void
want_fail_o(const char *body, const struct notif_opts *o, int want,
    const char *msg, const char *name)
{
	want_fail_len(body, strlen(body), o, want, msg, name);
}

static struct notif *
want_ok(const char *body, const struct notif_opts *o, const char *name)
{
	struct notif *n = NULL;
	int r;

	r = parse(body, strlen(body), o, &n);
	if (!is_int(r, 0, "%s: parsed", name))
		diag_note("diag: '%s'", last_diag.msg);
	return r == 0 ? n : NULL;
}

/* n's objects as "bucket/key|bucket/key". */
static const char *
objects_str(const struct notif *n, struct buf *b)
{
	size_t i;

	buf_reset(b);
	for (i = 0; n != NULL && i < n->n_objects; i++)
		if (buf_printf(b, "%s%s/%s", i ? "|" : "", n->objects[i].bucket,
			n->objects[i].key) < 0)
			return "(too long)";
	return b->data != NULL ? b->data : "";
}

/* An SNS Notification envelope around msg. */
static char *
sns_wrap(const char *msg)
{
	struct json_object *o = json_object_new_object();
	char *s;

	json_object_object_add(o, "Type",
	    json_object_new_string("Notification"));
	json_object_object_add(o, "MessageId", json_object_new_string("m-1"));
	json_object_object_add(o, "TopicArn",
	    json_object_new_string("arn:aws:sns:us-east-1:123456789012:ct"));
	json_object_object_add(o, "Message", json_object_new_string(msg));
	json_object_object_add(o, "Timestamp",
	    json_object_new_string("2026-11-25T09:10:00.000Z"));
	json_object_object_add(o, "SignatureVersion",
	    json_object_new_string("1"));
	json_object_object_add(o, "Signature", json_object_new_string("AAAA"));
	json_object_object_add(o, "SigningCertURL",
	    json_object_new_string(
		"https://sns.us-east-1.amazonaws.com/x.pem"));
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

/* {"Records":[...]} with one S3 event per (bucket, key, eventName). */
static char *
s3_event(const char *const *triples, size_t n)
{
	struct json_object *o = json_object_new_object();
	struct json_object *a = json_object_new_array();
	size_t i;
	char *s;

	for (i = 0; i < n; i++) {
		struct json_object *r = json_object_new_object();
		struct json_object *s3 = json_object_new_object();
		struct json_object *b = json_object_new_object();
		struct json_object *ob = json_object_new_object();

		json_object_object_add(r, "eventVersion",
		    json_object_new_string("2.1"));
		json_object_object_add(r, "eventSource",
		    json_object_new_string("aws:s3"));
		json_object_object_add(r, "eventName",
		    json_object_new_string(triples[3 * i + 2]));
		json_object_object_add(b, "name",
		    json_object_new_string(triples[3 * i]));
		json_object_object_add(ob, "key",
		    json_object_new_string(triples[3 * i + 1]));
		json_object_object_add(s3, "bucket", b);
		json_object_object_add(s3, "object", ob);
		json_object_object_add(r, "s3", s3);
		json_object_array_add(a, r);
	}
	json_object_object_add(o, "Records", a);
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

/* {"s3Bucket":bucket,"s3ObjectKey":[n keys "k<i>.json.gz"]}. */
static char *
ct_many(const char *bucket, size_t n)
{
	struct buf b;
	size_t i;

	buf_init(&b, 1u << 20);
	if (buf_printf(&b, "{\"s3Bucket\":\"%s\",\"s3ObjectKey\":[", bucket) <
	    0)
		return NULL;
	for (i = 0; i < n; i++)
		if (buf_printf(&b, "%s\"k%zu.json.gz\"", i ? "," : "", i) < 0)
			return NULL;
	if (buf_puts(&b, "]}") < 0)
		return NULL;
	return buf_steal(&b);
}

static void
test_hostile(void)
{
	static const char deep_open[] = "{\"a\":";
	struct notif *n = NULL;
	struct notif_opts only = {0};
	const char *allow[] = {"trail-bucket", "other-bucket"};
	struct buf b;
	char *s;
	char *w;
	size_t i;

	only.allowed_buckets = allow;
	only.n_allowed = 2;
	buf_init(&b, 4u << 20);

	/* Not JSON at all. */
	want_fail_len("", 0, NULL, -EBADMSG, "message body is empty", "empty");
	want_fail("   \n", -EBADMSG, "truncated", "whitespace only");
	want_fail("My first message.", -EBADMSG, "message body is not JSON",
	    "plain text");
	want_fail("{\"s3Bucket\":\"b\",\"s3ObjectKey\":[\"AWSLogs/x.json.gz\"",
	    -EBADMSG, "truncated", "truncated JSON");
	want_fail("{\"s3Bucket\":\"b\",\"s3ObjectKey\":[\"k.json.gz\"]} x",
	    -EBADMSG, "not JSON: unexpected character at byte 45",
	    "trailing garbage");
	want_fail("{}{}", -EBADMSG, "not JSON: unexpected character at byte 2",
	    "two objects");
	want_fail_len("{\"s3Bucket\":\"b\0\"}", 17, NULL, -EBADMSG, "NUL byte",
	    "NUL byte in the body");
	want_fail("{\"s3Bucket\":\"b\xff\xfe\",\"s3ObjectKey\":[\"k.json\"]}",
	    -EBADMSG, "not JSON", "bad UTF-8");
	want_fail("{'s3Bucket':'b'}", -EBADMSG, "not JSON", "single quotes");
	want_fail("{\"a\":1,}", -EBADMSG, "not JSON", "trailing comma");
	for (i = 0; i < 100; i++)
		put(&b, deep_open);
	put(&b, "1");
	put_rep(&b, '}', 100);
	want_fail(b.data, -EBADMSG, "not JSON", "nesting 100 deep");

	/* JSON, wrong shape or types. */
	want_fail("[]", -EBADMSG, "expected a JSON object, got an array",
	    "JSON array");
	want_fail("null", -EBADMSG, "got null", "JSON null");
	want_fail("true", -EBADMSG, "got a boolean", "JSON true");
	want_fail("42", -EBADMSG, "got a number", "JSON number");
	want_fail("\"s3Bucket\"", -EBADMSG, "got a string", "JSON string");
	want_fail("{}", -EBADMSG, "unknown notification shape: an empty object",
	    "empty object");
	want_fail("{\"Type\":\"Notification\",\"Foo\":1}", -EBADMSG,
	    "SNS Message is missing", "SNS without Message");
	want_fail("{\"Foo\":1,\"Bar\":{\"s3Bucket\":\"x\"}}", -EBADMSG,
	    "unknown notification shape: an object with keys Foo, Bar",
	    "unknown shape names its keys");
	want_fail("{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7}",
	    -EBADMSG, "with keys a, b, c, d, e, ...", "at most five keys");
	buf_reset(&b);
	put(&b, "{\"");
	put_rep(&b, 'K', 5000);
	put(&b, "\":1}");
	want_fail(b.data, -EBADMSG, "with keys KKKKKKKKKKKKKKKK...",
	    "a long key is cut");
	ok(strlen(last_diag.msg) < 120, "a long key: diag stays short (%zu)",
	    strlen(last_diag.msg));
	buf_reset(&b);
	put(&b, "{\"Type\":\"");
	for (i = 0; i < 2500; i++)
		put(&b, "T\\n");
	put(&b, "\"}");
	want_fail(b.data, -EBADMSG, "unknown SNS message Type 'T\\x0aT",
	    "unknown SNS Type, escaped");
	ok(strlen(last_diag.msg) < 256 && strchr(last_diag.msg, '\n') == NULL,
	    "unknown SNS Type: no control characters, at most 50 bytes");
	want_fail("{\"Type\":7,\"Message\":\"{}\"}", -EBADMSG,
	    "Type must be a string, not a number", "SNS Type a number");

	/* SNS envelope whose Message is not a notification. */
	want_fail("{\"Type\":\"Notification\",\"Message\":\"Hello world!\"}",
	    -EBADMSG, "SNS Message is not JSON", "SNS Message not JSON");
	want_fail("{\"Type\":\"Notification\",\"Message\":42}", -EBADMSG,
	    "SNS Message must be a string, not a number",
	    "SNS Message a number");
	want_fail(
	    "{\"Type\":\"Notification\",\"Message\":{\"s3Bucket\":\"b\"}}",
	    -EBADMSG, "SNS Message must be a string, not an object",
	    "SNS Message an object, not a string");
	want_fail("{\"Type\":\"Notification\",\"Message\":\"42\"}", -EBADMSG,
	    "SNS Message: unknown notification shape: expected a JSON "
	    "object, got a number",
	    "SNS Message JSON number");
	want_fail("{\"Type\":\"Notification\",\"Message\":\"[1]\"}", -EBADMSG,
	    "got an array", "SNS Message JSON array");
	want_fail("{\"Type\":\"Notification\",\"Message\":\"\"}", -EBADMSG,
	    "SNS Message is empty", "SNS Message empty");
	want_fail("{\"Type\":\"Notification\",\"Message\":\"\\u0000\"}",
	    -EBADMSG, "NUL byte", "SNS Message with a NUL");
	s = sns_wrap("{\"Type\":\"Notification\",\"Message\":\"{}\"}");
	want_fail(s, -EBADMSG, "an SNS envelope inside an SNS message",
	    "SNS inside SNS");
	free(s);
	s = sns_wrap("{\"s3Bucket\":\"b\",\"s3ObjectKey\":\"k.json.gz\"}");
	want_fail(s, -EBADMSG,
	    "SNS Message: s3ObjectKey must be an array of strings, not a "
	    "string",
	    "SNS Message with a bad CloudTrail message");
	free(s);

	/* CloudTrail's message with wrong types. */
	want_fail("{\"s3Bucket\":\"b\",\"s3ObjectKey\":\"k.json.gz\"}",
	    -EBADMSG, "s3ObjectKey must be an array of strings, not a string",
	    "s3ObjectKey a string");
	want_fail("{\"s3Bucket\":\"b\",\"s3ObjectKey\":[\"a.json.gz\",1]}",
	    -EBADMSG, "s3ObjectKey[1] must be a string, not a number",
	    "s3ObjectKey with a number");
	want_fail("{\"s3Bucket\":\"b\",\"s3ObjectKey\":[null]}", -EBADMSG,
	    "s3ObjectKey[0] must be a string, not null",
	    "s3ObjectKey with null");
	want_fail("{\"s3Bucket\":\"b\",\"s3ObjectKey\":[[\"a.json\"]]}",
	    -EBADMSG, "s3ObjectKey[0] must be a string, not an array",
	    "s3ObjectKey nested array");
	want_fail("{\"s3Bucket\":\"b\",\"s3ObjectKey\":[]}", -EBADMSG,
	    "s3ObjectKey is empty", "s3ObjectKey empty list");
	want_fail("{\"s3Bucket\":\"b\",\"s3ObjectKey\":[\"\"]}", -EBADMSG,
	    "s3ObjectKey[0] is empty", "empty key");
	want_fail("{\"s3Bucket\":\"b\"}", -EBADMSG, "s3ObjectKey is missing",
	    "s3ObjectKey missing");
	want_fail("{\"s3Bucket\":\"b\",\"s3ObjectKey\":null}", -EBADMSG,
	    "s3ObjectKey is missing", "s3ObjectKey null");
	want_fail("{\"s3ObjectKey\":[\"a.json.gz\"]}", -EBADMSG,
	    "s3Bucket is missing", "s3Bucket missing");
	want_fail("{\"s3Bucket\":\"\",\"s3ObjectKey\":[\"a.json.gz\"]}",
	    -EBADMSG, "empty bucket name", "s3Bucket empty");
	want_fail("{\"s3Bucket\":7,\"s3ObjectKey\":[\"a.json.gz\"]}", -EBADMSG,
	    "s3Bucket must be a string, not a number", "s3Bucket a number");
	want_fail("{\"s3Bucket\":\"../x\",\"s3ObjectKey\":[\"a.json.gz\"]}",
	    -EBADMSG, "bad bucket name '../x'", "s3Bucket with a slash");
	want_fail("{\"s3Bucket\":\"b b\",\"s3ObjectKey\":[\"a.json.gz\"]}",
	    -EBADMSG, "bad bucket name 'b b'", "s3Bucket with a space");
	want_fail("{\"s3Bucket\":\"b\",\"s3ObjectKey\":[\"a\\u0000.json.gz\"]}",
	    -EBADMSG, "s3ObjectKey[0] holds a NUL byte", "key with \\u0000");
	s = ct_many("b", NOTIF_MAX_OBJECTS + 1);
	want_fail(s, -E2BIG, "s3ObjectKey lists 1001 entries, over 1000",
	    "1001 keys");
	free(s);
	buf_reset(&b);
	put(&b, "{\"s3Bucket\":\"b\",\"s3ObjectKey\":[\"");
	put_rep(&b, 'k', NOTIF_MAX_KEY - 7);
	put(&b, ".json.gz\"]}");
	want_fail(b.data, -EBADMSG, "s3ObjectKey[0] is 1025 bytes, over S3's",
	    "key over 1024 bytes");

	/* The body limit: SQS's 256 KiB. */
	s = malloc(NOTIF_MAX_BODY + 1);
	memset(s, ' ', NOTIF_MAX_BODY + 1);
	memcpy(s, "{\"s3Bucket\":\"b\",\"s3ObjectKey\":[\"a.json\"]}", 41);
	want_fail_len(s, NOTIF_MAX_BODY + 1, NULL, -E2BIG,
	    "message body is 262145 bytes, over 262144", "body over 256 KiB");
	is_int(parse(s, NOTIF_MAX_BODY, NULL, &n), 0,
	    "a body of exactly 256 KiB is accepted");
	notif_free(n);
	free(s);

	/* S3 events gone wrong. */
	want_fail("{\"Records\":[]}", -EBADMSG, "Records is empty",
	    "Records empty");
	want_fail("{\"Records\":{}}", -EBADMSG,
	    "Records must be an array of S3 events, not an object",
	    "Records an object");
	want_fail("{\"Records\":[1]}", -EBADMSG,
	    "Records[0] must be an object, not a number",
	    "Records[0] a number");
	want_fail(
	    "{\"Records\":[{\"eventSource\":\"aws:sqs\",\"body\":\"x\"}]}",
	    -EBADMSG, "Records[0] is not an S3 event (eventSource 'aws:sqs')",
	    "Lambda's SQS event is not an S3 event");
	want_fail("{\"Records\":[{\"EventSource\":\"aws:sns\"}]}", -EBADMSG,
	    "Records[0].eventSource is missing", "Lambda's SNS event");
	want_fail("{\"Records\":[{\"eventSource\":\"aws:s3\"}]}", -EBADMSG,
	    "Records[0].s3 is missing", "S3 event without s3");
	want_fail("{\"Records\":[{\"eventSource\":\"aws:s3\",\"s3\":{"
		  "\"bucket\":{\"name\":\"b\"},\"object\":{\"key\":5}}}]}",
	    -EBADMSG, "Records[0].s3.object.key must be a string, not a number",
	    "S3 event key a number");
	want_fail("{\"Records\":[{\"eventSource\":\"aws:s3\",\"s3\":{"
		  "\"bucket\":{\"name\":\"b\"},\"object\":[]}}]}",
	    -EBADMSG, "Records[0].s3.object must be an object, not an array",
	    "S3 event object an array");
	{
		const char *t[] = {"b", "a%00.json.gz", "ObjectCreated:Put"};

		s = s3_event(t, 1);
		want_fail(s, -EBADMSG, "%00 (a NUL byte) at byte 1",
		    "S3 key with %00");
		free(s);
	}
	{
		const char *t[] = {"b", "a%2.json.gz", "ObjectCreated:Put"};

		s = s3_event(t, 1);
		want_fail(s, -EBADMSG, "bad %-escape at byte 1",
		    "S3 key with %2.");
		free(s);
	}
	{
		const char *t[] = {"b", "a.json.gz%4", "ObjectCreated:Put"};

		s = s3_event(t, 1);
		want_fail(s, -EBADMSG, "bad %-escape at byte 9",
		    "S3 key ending in %4");
		free(s);
	}
	{
		const char *t[] = {"b", "a%zz.json.gz", "ObjectCreated:Put"};

		s = s3_event(t, 1);
		want_fail(s, -EBADMSG, "bad %-escape", "S3 key with %zz");
		free(s);
	}
	{
		const char *t[] = {"b", "", "ObjectCreated:Put"};

		s = s3_event(t, 1);
		want_fail(s, -EBADMSG, "Records[0].s3.object.key is empty",
		    "S3 event empty key");
		free(s);
	}
	{
		const char *t[] = {"trail-bucket", "a.json.gz",
		    "ObjectCreated:Put", "evil", "AWSLogs/x.json.gz",
		    "ObjectCreated:Put"};

		s = s3_event(t, 2);
		want_fail_len(s, strlen(s), &only, -EACCES,
		    "bucket 'evil' is not in s3.allowed_buckets",
		    "one refused bucket refuses the whole S3 event");
		free(s);
	}
	{
		const char *t[] = {"trail-bucket", "a.json.gz",
		    "ObjectCreated:Put", "evil", "CloudTrail-Digest/x.json.gz",
		    "ObjectCreated:Put"};

		s = s3_event(t, 2);
		want_fail_len(s, strlen(s), &only, -EACCES, "bucket 'evil'",
		    "a refused bucket refuses even if its key is skipped");
		free(s);
	}

	/* A forged message must not make us fetch arbitrary objects. */
	want_fail_o("{\"s3Bucket\":\"evil\",\"s3ObjectKey\":[\"a.json.gz\"]}",
	    &only, -EACCES, "bucket 'evil' is not in s3.allowed_buckets",
	    "CloudTrail message for a bucket not allowed");
	want_fail_o("{\"s3Bucket\":\"Trail-bucket\",\"s3ObjectKey\":"
		    "[\"a.json.gz\"]}",
	    &only, -EACCES, "bucket 'Trail-bucket'",
	    "bucket names compare exactly");
	want_fail_o("{\"s3Bucket\":\"trail-bucket\",\"s3Bucket\":\"evil\","
		    "\"s3ObjectKey\":[\"a.json.gz\"]}",
	    &only, -EACCES, "bucket 'evil'",
	    "a repeated s3Bucket: the value used is the value checked");
	s = sns_wrap("{\"s3Bucket\":\"evil\",\"s3ObjectKey\":[\"a.json.gz\"]}");
	want_fail_len(s, strlen(s), &only, -EACCES, "bucket 'evil'",
	    "SNS-wrapped message for a bucket not allowed");
	free(s);

	/* EventBridge not carrying a CloudTrail record. */
	want_fail("{\"detail-type\":\"Object Created\",\"source\":\"aws.s3\","
		  "\"detail\":{}}",
	    -EBADMSG,
	    "EventBridge detail-type 'Object Created' is not a CloudTrail "
	    "record",
	    "EventBridge S3 Object Created");
	want_fail("{\"detail-type\":\"AWS API Call via CloudTrail\","
		  "\"detail\":\"x\"}",
	    -EBADMSG, "detail must be an object, not a string",
	    "EventBridge detail a string");
	want_fail("{\"detail-type\":\"AWS API Call via CloudTrail\"}", -EBADMSG,
	    "detail is missing", "EventBridge without detail");
	want_fail("{\"detail-type\":\"AWS API Call via CloudTrail\","
		  "\"detail\":{\"eventName\":\"X\"}}",
	    -EBADMSG, "detail.eventSource is missing",
	    "EventBridge detail without eventSource");
	want_fail("{\"detail-type\":[1],\"detail\":{}}", -EBADMSG,
	    "detail-type must be a string, not an array",
	    "EventBridge detail-type an array");

	/* S3 test event variants. */
	want_fail("{\"Service\":\"Amazon S3\",\"Event\":\"s3:Other\"}",
	    -EBADMSG,
	    "expected {\"Service\":\"Amazon S3\",\"Event\":\"s3:TestEvent\"}",
	    "S3 test event with another Event");
	want_fail("{\"Event\":\"s3:TestEvent\"}", -EBADMSG,
	    "Service is missing", "S3 test event without Service");

	/* reterr is written only on failure, and may be NULL. */
	{
		struct diag d;
		struct diag zero;

		memset(&d, 0x5a, sizeof(d));
		memset(&zero, 0x5a, sizeof(zero));
		is_int(notif_parse("{\"s3Bucket\":\"b\",\"s3ObjectKey\":"
				   "[\"a.json\"]}",
			   41, NULL, &n, &d),
		    0, "success with a diag");
		ok(memcmp(&d, &zero, sizeof(d)) == 0,
		    "success leaves reterr untouched");
		notif_free(n);
		is_int(notif_parse("[]", 2, NULL, &n, NULL), -EBADMSG,
		    "reterr may be NULL");
	}

	/* No diag quotes more than 100 bytes of a body. */
	w = malloc(20000);
	memset(w, 'Q', 20000);
	memcpy(w, "{\"s3Bucket\":\"", 13);
	memcpy(w + 20000 - 30, "\",\"s3ObjectKey\":[\"a.json\"]}", 27);
	want_fail_len(w, 20000 - 3, NULL, -EBADMSG, "bad bucket name 'QQQ",
	    "a 20 kB bucket name");
	ok(strstr(last_diag.msg,
	       "QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"
	       "QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"
	       "QQQQQQQQQQQ") == NULL,
	    "the diag quotes at most 100 bytes of it");
	free(w);
	buf_done(&b);
}

static void
test_shapes(void)
{
	struct notif_opts only = {0};
	const char *allow[] = {"trail-bucket"};
	struct notif *n;
	struct buf b;
	const char *raw;
	char *s;
	char *w;

	only.allowed_buckets = allow;
	only.n_allowed = 1;
	buf_init(&b, 4u << 20);

	/* Raw CloudTrail: digests and non-log keys skipped and counted,
	 * duplicates dropped, order kept, keys not URL-decoded. */
	raw =
	    "{\"s3Bucket\":\"trail-bucket\",\"s3ObjectKey\":["
	    "\"" CT_KEY(
		"10") "\","
		      "\"AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2026/11/25/"
		      "d.json.gz\","
		      "\"CloudTrail-Digest/x.json.gz\","
		      "\"AWSLogs/o-abc/123456789012/MyCloudTrail-Digest/a.json.gz\","
		      "\"AWSLogs/123456789012/CloudTrail/us-east-1/a+b%2B.json\","
		      "\"" CT_KEY(
			  "10") "\","
				"\"AWSLogs/123456789012/CloudTrail/us-east-1/x.json.gz.tmp\","
				"\"AWSLogs/123456789012/CloudTrail/us-east-1/x.txt\","
				"\"" CT_KEY("05") "\"]}";
	n = want_ok(raw, &only, "raw CloudTrail message");
	if (n != NULL) {
		is_str(notif_shape_str(n->shape), "cloudtrail", "shape");
		is_str(notif_shape_str(n->inner), "cloudtrail", "inner");
		is_str(objects_str(n, &b),
		    "trail-bucket/" CT_KEY(
			"10") "|trail-bucket/AWSLogs/"
			      "o-abc/123456789012/MyCloudTrail-Digest/a.json.gz|"
			      "trail-bucket/AWSLogs/123456789012/CloudTrail/us-east-1/"
			      "a+b%2B.json|trail-bucket/" CT_KEY("05"),
		    "objects: in order, deduped, CloudTrail keys verbatim");
		is_int((long long)n->skipped_digest, 2, "two digests skipped");
		is_int((long long)n->skipped_other, 2, "two non-logs skipped");
		ok(n->record == NULL && n->sns == NULL, "no record, no sns");
		notif_free(n);
	}

	/* Only digests: valid, nothing to fetch. */
	n = want_ok("{\"s3Bucket\":\"b\",\"s3ObjectKey\":"
		    "[\"AWSLogs/1/CloudTrail-Digest/r/d.json.gz\"]}",
	    NULL, "a message of digests only");
	if (n != NULL) {
		is_int((long long)n->n_objects, 0, "digests only: no objects");
		is_int((long long)n->skipped_digest, 1,
		    "digests only: counted");
		notif_free(n);
	}

	/* 1000 keys is the limit, not over it. */
	s = ct_many("b", NOTIF_MAX_OBJECTS);
	n = want_ok(s, NULL, "1000 keys");
	if (n != NULL) {
		is_int((long long)n->n_objects, 1000,
		    "1000 keys: 1000 objects");
		is_str(n->objects[999].key, "k999.json.gz", "the last key");
		notif_free(n);
	}
	free(s);
	/* 1000 identical keys: one object. */
	buf_reset(&b);
	put(&b, "{\"s3Bucket\":\"b\",\"s3ObjectKey\":[");
	for (int i = 0; i < 1000; i++)
		put(&b, i ? ",\"" CT_KEY("00") "\"" : "\"" CT_KEY("00") "\"");
	put(&b, "]}");
	n = want_ok(b.data, NULL, "1000 copies of one key");
	if (n != NULL) {
		is_int((long long)n->n_objects, 1, "1000 copies: one object");
		notif_free(n);
	}
	/* A key of exactly 1024 bytes. */
	buf_reset(&b);
	put(&b, "{\"s3Bucket\":\"b\",\"s3ObjectKey\":[\"");
	put_rep(&b, 'k', NOTIF_MAX_KEY - 8);
	put(&b, ".json.gz\"]}");
	n = want_ok(b.data, NULL, "a 1024-byte key");
	if (n != NULL) {
		is_int((long long)strlen(n->objects[0].key), 1024,
		    "a 1024-byte key is kept whole");
		notif_free(n);
	}

	/* S3 events: keys are form-encoded; several records, several
	 * objects; (bucket, key) pairs deduped across records; removals
	 * skipped. */
	{
		const char *t[] = {
		    "trail-bucket",
		    "AWSLogs/a+b%2Bc%2bd%20e%25.json.gz",
		    "ObjectCreated:Put",
		    "trail-bucket",
		    "AWSLogs/%C3%A9t%C3%A9.json",
		    "ObjectCreated:CompleteMultipartUpload",
		    "trail-bucket",
		    "AWSLogs/old.json.gz",
		    "ObjectRemoved:Delete",
		    "trail-bucket",
		    "AWSLogs/1/CloudTrail-Digest/x.json.gz",
		    "ObjectCreated:Put",
		    "trail-bucket",
		    "AWSLogs/a+b%2Bc%2Bd+e%25.json.gz",
		    "ObjectCreated:Copy",
		};

		s = s3_event(t, 5);
		n = want_ok(s, &only, "S3 event notification");
		free(s);
		if (n != NULL) {
			is_str(notif_shape_str(n->shape), "s3-event",
			    "S3 event: shape");
			is_str(objects_str(n, &b),
			    "trail-bucket/AWSLogs/a b+c+d e%.json.gz|"
			    "trail-bucket/AWSLogs/\xc3\xa9t\xc3\xa9.json",
			    "S3 event: '+' is a space, %%2B a '+', deduped "
			    "after decoding");
			is_int((long long)n->skipped_other, 1,
			    "S3 event: the removal skipped");
			is_int((long long)n->skipped_digest, 1,
			    "S3 event: the digest skipped");
			notif_free(n);
		}
	}
	{
		const char *t[] = {"bucket-a", "k.json.gz", "ObjectCreated:Put",
		    "bucket-b", "k.json.gz", "ObjectCreated:Put"};

		s = s3_event(t, 2);
		n = want_ok(s, NULL, "one key in two buckets");
		free(s);
		if (n != NULL) {
			is_str(objects_str(n, &b),
			    "bucket-a/k.json.gz|bucket-b/k.json.gz",
			    "the same key in two buckets is two objects");
			notif_free(n);
		}
	}

	/* The same, through SNS. */
	s = sns_wrap("{\"s3Bucket\":\"trail-bucket\",\"s3ObjectKey\":"
		     "[\"" CT_KEY("10") "\"]}");
	n = want_ok(s, &only, "SNS around CloudTrail");
	free(s);
	if (n != NULL) {
		is_str(notif_shape_str(n->shape), "sns", "SNS: shape");
		is_str(notif_shape_str(n->inner), "cloudtrail", "SNS: inner");
		is_str(objects_str(n, &b), "trail-bucket/" CT_KEY("10"),
		    "SNS: the object");
		ok(n->sns != NULL &&
			json_object_is_type(n->sns, json_type_object),
		    "SNS: the envelope is handed out");
		if (n->sns != NULL) {
			struct json_object *v = NULL;

			json_object_object_get_ex(n->sns, "MessageId", &v);
			is_str(json_object_get_string(v), "m-1",
			    "SNS: envelope's MessageId");
		}
		notif_free(n);
	}
	{
		const char *t[] = {"trail-bucket", "AWSLogs/a+b.json.gz",
		    "ObjectCreated:Put"};

		w = s3_event(t, 1);
		s = sns_wrap(w);
		free(w);
		n = want_ok(s, &only, "SNS around an S3 event");
		free(s);
		if (n != NULL) {
			is_str(notif_shape_str(n->inner), "s3-event",
			    "SNS/S3: inner");
			is_str(objects_str(n, &b),
			    "trail-bucket/AWSLogs/a b.json.gz",
			    "SNS/S3: decoded key");
			notif_free(n);
		}
	}
	s = sns_wrap("{\"Service\":\"Amazon S3\",\"Event\":\"s3:TestEvent\","
		     "\"Bucket\":\"anything\"}");
	n = want_ok(s, &only, "SNS around S3's test event");
	free(s);
	if (n != NULL) {
		is_str(notif_shape_str(n->inner), "s3-test", "SNS/test: inner");
		is_int((long long)n->n_objects, 0, "SNS/test: no objects");
		notif_free(n);
	}
	s = sns_wrap("{\"version\":\"0\",\"detail-type\":\"AWS Service Event "
		     "via CloudTrail\",\"source\":\"aws.secretsmanager\","
		     "\"account\":\"111122223333\",\"detail\":{\"eventSource\":"
		     "\"secretsmanager.amazonaws.com\",\"eventName\":"
		     "\"RotationFailed\",\"recipientAccountId\":"
		     "\"444455556666\"}}");
	n = want_ok(s, NULL, "SNS around EventBridge RotationFailed");
	free(s);
	if (n != NULL) {
		struct json_object *v = NULL;

		is_str(notif_shape_str(n->inner), "eventbridge",
		    "SNS/EventBridge: inner");
		ok(n->record != NULL, "SNS/EventBridge: a record");
		json_object_object_get_ex(n->record, "recipientAccountId", &v);
		is_str(json_object_get_string(v), "444455556666",
		    "SNS/EventBridge: the record's own recipientAccountId "
		    "kept");
		notif_free(n);
	}

	/* Confirmations: no objects, never a fetch. */
	n = want_ok("{\"Type\":\"SubscriptionConfirmation\",\"SubscribeURL\":"
		    "\"https://evil.example/\",\"Message\":\"x\"}",
	    &only, "SubscriptionConfirmation");
	if (n != NULL) {
		is_str(notif_shape_str(n->shape), "sns-confirmation",
		    "confirmation: shape");
		is_int((long long)n->n_objects, 0, "confirmation: no objects");
		ok(n->sns != NULL, "confirmation: the envelope, to verify");
		notif_free(n);
	}
	n = want_ok("{\"Type\":\"UnsubscribeConfirmation\"}", NULL,
	    "UnsubscribeConfirmation");
	if (n != NULL) {
		is_str(notif_shape_str(n->shape), "sns-confirmation",
		    "unsubscribe: shape");
		notif_free(n);
	}
	for (int i = 0; i <= NOTIF_SHAPE_COUNT; i++)
		ok(notif_shape_str((enum notif_shape)i)[0] != '\0',
		    "notif_shape_str(%d) = %s", i,
		    notif_shape_str((enum notif_shape)i));
	notif_free(NULL);
	buf_done(&b);
}

/* What each sample must give. A sample's object list is "bucket/key|..." */
struct expect {
	const char *file; /* under notifications/ */
	int r;
	const char *shape; /* or the diag substring when r < 0 */
	const char *inner;
	const char *objects;
	size_t skipped_digest;
	size_t skipped_other;
	const char *event_name; /* the record's, EventBridge */
	int body;               /* a Lambda Records[].body (index + 1) */
};

#define NOT_A_NOTIF(file, why)                                                 \
	{                                                                      \
		file, -EBADMSG, why, NULL, NULL, 0, 0, NULL, 0                 \
	}

static const struct expect samples[] = {
    {"aws-docs/cloudtrail-sns-message_multi-key.json", 0, "cloudtrail",
	"cloudtrail",
	"your-bucket-name/AWSLogs/123456789012/CloudTrail/us-east-2/2016/08/11/"
	"123456789012_CloudTrail_us-east-2_20160811T2215Z_kpaMYavMQA9Ahp7L."
	"json.gz|"
	"your-bucket-name/AWSLogs/123456789012/CloudTrail/us-east-2/2016/08/11/"
	"123456789012_CloudTrail_us-east-2_20160811T2210Z_zqDkyQv3TK8ZdLr0."
	"json.gz|"
	"your-bucket-name/AWSLogs/123456789012/CloudTrail/us-east-2/2016/08/11/"
	"123456789012_CloudTrail_us-east-2_20160811T2205Z_jaMVRa6JfdLCJYHP."
	"json.gz",
	0, 0, NULL, 0},
    {"aws-docs/cloudtrail-sns-message_single-key.json", 0, "cloudtrail",
	"cloudtrail",
	"your-bucket-name/AWSLogs/123456789012/CloudTrail/us-east-2/2013/12/13/"
	"123456789012_CloudTrail_us-west-2_20131213T1920Z_LnPgDQnpkSKEsppV."
	"json.gz",
	0, 0, NULL, 0},
    {"aws-docs/s3-event_ObjectCreated-Put_v2.1.json", 0, "s3-event", "s3-event",
	"", 0, 1, NULL, 0},
    {"aws-docs/s3-event_s3-TestEvent.json", 0, "s3-test", "s3-test", "", 0, 0,
	NULL, 0},
    /* Templates: eventName "event-type" is not ObjectCreated:*. */
    {"aws-docs/s3-event_structure-template_v2.0.json", 0, "s3-event",
	"s3-event", "", 0, 1, NULL, 0},
    {"aws-docs/s3-event_structure-template_v2.2.json", 0, "s3-event",
	"s3-event", "", 0, 1, NULL, 0},
    NOT_A_NOTIF("aws-docs/sns-http-Notification.json",
	"SNS Message is not JSON"),
    {"aws-docs/sns-http-SubscriptionConfirmation.json", 0, "sns-confirmation",
	"sns-confirmation", "", 0, 0, NULL, 0},
    {"aws-docs/sns-http-UnsubscribeConfirmation.json", 0, "sns-confirmation",
	"sns-confirmation", "", 0, 0, NULL, 0},
    NOT_A_NOTIF("aws-docs/sns-notification_as-delivered-to-sqs.json",
	"SNS Message is not JSON"),
    {"eventbridge/aws-docs_aws.s3_CreateBucket_AWS-API-Call-via-CloudTrail."
     "json",
	0, "eventbridge", "eventbridge", "", 0, 0, "CreateBucket", 0},
    {"eventbridge/"
     "aws-docs_aws.s3_JobCreated_AWS-Service-Event-via-CloudTrail.json",
	0, "eventbridge", "eventbridge", "", 0, 0, "JobCreated", 0},
    {"eventbridge/"
     "aws-docs_aws.s3_JobStatusChanged_AWS-Service-Event-via-CloudTrail."
     "json",
	0, "eventbridge", "eventbridge", "", 0, 0, "JobStatusChanged", 0},
    /* SQS bodies inside Lambda's event-source wrapper. */
    {"lambda-event-fixtures/powertools-lambda-python/snsSqsEvent.json",
	-EBADMSG,
	"SNS Message: unknown notification shape: an object with keys "
	"message, username",
	NULL, NULL, 0, 0, NULL, 1},
    {"lambda-event-fixtures/powertools-lambda-python/snsSqsFifoEvent.json",
	-EBADMSG,
	"SNS Message: unknown notification shape: an object with keys "
	"message, username",
	NULL, NULL, 0, 0, NULL, 1},
    {"lambda-event-fixtures/powertools-lambda-python/s3SqsEvent.json", 0,
	"s3-event", "s3-event", "", 0, 1, NULL, 1},
    {"lambda-event-fixtures/powertools-lambda-python/sqsEvent.json", -EBADMSG,
	"message body is not JSON", NULL, NULL, 0, 0, NULL, 1},
    {"lambda-event-fixtures/powertools-lambda-python/sqsEvent.json", -EBADMSG,
	"unknown notification shape: an object with keys message", NULL, NULL,
	0, 0, NULL, 2},
    {"lambda-event-fixtures/aws-lambda-go/sqs-event.json", -EBADMSG,
	"message body is not JSON", NULL, NULL, 0, 0, NULL, 1},
    /* aws sqs receive-message output: the Body. */
    {"sqs/aws-cli_receive-message_example1.json", -EBADMSG,
	"message body is not JSON", NULL, NULL, 0, 0, NULL, 1},
    {"sqs/aws-cli_receive-message_example2.json", -EBADMSG,
	"message body is not JSON", NULL, NULL, 0, 0, NULL, 1},
    /* Real signed SNS envelopes: their Messages are plain text. */
    NOT_A_NOTIF("sns-signature/aws-sdk-java-v1/message.json",
	"SNS Message is not JSON"),
    NOT_A_NOTIF("sns-signature/aws-sdk-java-v2/test-notification-no-subject."
		"json",
	"SNS Message is not JSON"),
    NOT_A_NOTIF("sns-signature/aws-sdk-java-v2/"
		"test-notification-signature-v2.json",
	"SNS Message is not JSON"),
    NOT_A_NOTIF("sns-signature/aws-sdk-java-v2/"
		"test-notification-with-subject.json",
	"SNS Message is not JSON"),
    {"sns-signature/aws-sdk-java-v2/test-subscription-confirmation.json", 0,
	"sns-confirmation", "sns-confirmation", "", 0, 0, NULL, 0},
    {"sns-signature/aws-sdk-java-v2/test-unsubscribe-confirmation.json", 0,
	"sns-confirmation", "sns-confirmation", "", 0, 0, NULL, 0},
    /* Not SQS bodies, but the same S3 notification shape (Lambda's S3
     * trigger), and EventBridge's own S3 event, which we do not take. */
    {"lambda-event-fixtures/powertools-lambda-python/s3Event.json", 0,
	"s3-event", "s3-event", "", 0, 1, NULL, 0},
    {"lambda-event-fixtures/powertools-lambda-python/s3EventDecodedKey.json", 0,
	"s3-event", "s3-event", "", 0, 1, NULL, 0},
    {"lambda-event-fixtures/aws-lambda-go/s3-event.json", 0, "s3-event",
	"s3-event", "", 0, 1, NULL, 0},
    {"lambda-event-fixtures/aws-lambda-go/s3-event-with-decoded.json", 0,
	"s3-event", "s3-event", "", 0, 1, NULL, 0},
    NOT_A_NOTIF("lambda-event-fixtures/powertools-lambda-python/"
		"s3EventBridgeNotificationObjectCreatedEvent.json",
	"EventBridge detail-type 'Object Created' is not a CloudTrail record"),
    NOT_A_NOTIF("lambda-event-fixtures/powertools-lambda-python/snsEvent.json",
	"Records[0].eventSource is missing"),
    NOT_A_NOTIF("lambda-event-fixtures/aws-lambda-go/sns-event.json",
	"Records[0].eventSource is missing"),
};

/* The message body a sample stands for: the file, or a Lambda body. */
static char *
sample_body(const char *path, int body, size_t *ret_len)
{
	struct json_object *o;
	struct json_object *recs;
	struct json_object *b;
	size_t len = 0;
	char *text = tl_slurp(path, 16u << 20, &len);
	char *s = NULL;
	bool cli;

	if (text == NULL || body == 0) {
		*ret_len = len;
		return text;
	}
	o = json_tokener_parse(text);
	free(text);
	/* Lambda: Records[].body; aws sqs receive-message: Messages[].Body */
	cli = json_object_object_get_ex(o, "Messages", &recs);
	if (o != NULL &&
	    (cli || json_object_object_get_ex(o, "Records", &recs)) &&
	    json_object_object_get_ex(
		json_object_array_get_idx(recs, (size_t)body - 1),
		cli ? "Body" : "body", &b)) {
		s = strdup(json_object_get_string(b));
		*ret_len = strlen(s);
	}
	json_object_put(o);
	return s;
}

static void
test_sample(const char *dir, const struct expect *e)
{
	char path[1024];
	struct notif *n = NULL;
	struct buf b;
	size_t len = 0;
	char *body;
	int r;

	(void)snprintf(path, sizeof(path), "%s/notifications/%s", dir, e->file);
	body = sample_body(path, e->body, &len);
	if (!ok(body != NULL, "sample %s%s: readable", e->file,
		e->body ? " (body)" : "")) {
		diag_note("missing: %s", path);
		return;
	}
	r = parse(body, len, NULL, &n);
	free(body);
	if (e->r < 0) {
		is_int(r, e->r, "sample %s: refused", e->file);
		if (!ok(strstr(last_diag.msg, e->shape) != NULL,
			"sample %s: diag says '%s'", e->file, e->shape))
			diag_note("got: '%s'", last_diag.msg);
		if (r == 0)
			notif_free(n);
		return;
	}
	if (!is_int(r, 0, "sample %s: parsed", e->file)) {
		diag_note("diag: '%s'", last_diag.msg);
		return;
	}
	buf_init(&b, 1u << 20);
	is_str(notif_shape_str(n->shape), e->shape, "sample %s: shape",
	    e->file);
	is_str(notif_shape_str(n->inner), e->inner, "sample %s: inner",
	    e->file);
	is_str(objects_str(n, &b), e->objects, "sample %s: objects", e->file);
	is_int((long long)n->skipped_digest, (long long)e->skipped_digest,
	    "sample %s: digests skipped", e->file);
	is_int((long long)n->skipped_other, (long long)e->skipped_other,
	    "sample %s: others skipped", e->file);
	ok((n->sns != NULL) ==
		(n->shape == NOTIF_SHAPE_SNS ||
		    n->shape == NOTIF_SHAPE_SNS_CONFIRMATION),
	    "sample %s: sns envelope iff SNS", e->file);
	if (e->event_name != NULL) {
		struct json_object *v = NULL;

		ok(n->record != NULL, "sample %s: a record", e->file);
		json_object_object_get_ex(n->record, "eventName", &v);
		is_str(json_object_get_string(v), e->event_name,
		    "sample %s: the record's eventName", e->file);
		v = NULL;
		json_object_object_get_ex(n->record, "recipientAccountId", &v);
		is_str(json_object_get_string(v), "123456789012",
		    "sample %s: recipientAccountId from the envelope", e->file);
		v = NULL;
		ok(!json_object_object_get_ex(n->record, "detail-type", &v),
		    "sample %s: the record is the detail", e->file);
	} else {
		ok(n->record == NULL, "sample %s: no record", e->file);
	}
	buf_done(&b);
	notif_free(n);
}

/* Every .json of a sample directory has an expectation. */
static void
test_listed(const char *dir, const char *sub)
{
	char path[1024];
	DIR *d;
	struct dirent *de;
	int seen = 0;

	(void)snprintf(path, sizeof(path), "%s/notifications/%s", dir, sub);
	d = opendir(path);
	if (!ok(d != NULL, "sample directory %s exists", sub))
		return;
	while ((de = readdir(d)) != NULL) {
		char rel[512];
		size_t i;
		size_t nlen = strlen(de->d_name);

		if (nlen < 5 || strcmp(de->d_name + nlen - 5, ".json") != 0)
			continue;
		(void)snprintf(rel, sizeof(rel), "%s/%s", sub, de->d_name);
		for (i = 0; i < ARRAY_SIZE(samples); i++)
			if (strcmp(samples[i].file, rel) == 0)
				break;
		ok(i < ARRAY_SIZE(samples), "sample %s has an expectation",
		    rel);
		seen++;
	}
	closedir(d);
	ok(seen > 0, "sample directory %s: %d samples", sub, seen);
}

/* A SubscribeURL checked against the default pattern and the topic. */
static void
url_check(const regex_t *re, const char *url, const char *topic, int want,
    const char *msg, const char *name)
{
	struct diag d;
	int r;

	memset(&d, 0, sizeof(d));
	r = notif_subscribe_url_check(url, re, topic, &d);
	is_int(r, want, "subscribe URL: %s", name);
	if (want < 0 &&
	    !ok(strstr(d.msg, msg) != NULL, "subscribe URL: %s: says '%s'",
		name, msg))
		diag_note("got: '%s'", d.msg);
}

#define SUB_TOPIC "arn:aws:sns:us-west-2:123456789012:MyTopic"
#define SUB_HOST "https://sns.us-west-2.amazonaws.com/"

static void
test_confirm(void)
{
	/* The default sns.subscribe_url_pattern (cfg.h), spelled here. */
	const char *pat =
	    "^https://sns\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/\\?";
	struct notif *n;
	struct buf b;
	regex_t re;

	if (!ok(regcomp(&re, pat, REG_EXTENDED | REG_NOSUB) == 0,
		"subscribe URL: pattern compiles"))
		return;
	/* Hostile first. */
	url_check(&re, NULL, SUB_TOPIC, -EACCES, "no SubscribeURL", "NULL");
	url_check(&re, "", SUB_TOPIC, -EACCES, "no SubscribeURL", "empty");
	url_check(&re,
	    "https://sns.us-west-2.amazonaws.com.evil.example/"
	    "?Action=ConfirmSubscription&TopicArn=" SUB_TOPIC "&Token=t",
	    SUB_TOPIC, -EACCES, "does not match sns.subscribe_url_pattern",
	    "another host");
	url_check(&re,
	    "http://sns.us-west-2.amazonaws.com/"
	    "?Action=ConfirmSubscription&TopicArn=" SUB_TOPIC "&Token=t",
	    SUB_TOPIC, -EACCES, "does not match", "plain http");
	url_check(&re,
	    "https://evil.example/?x=https://sns.us-west-2.amazonaws.com/"
	    "?Action=ConfirmSubscription&TopicArn=" SUB_TOPIC "&Token=t",
	    SUB_TOPIC, -EACCES, "does not match", "SNS's URL inside another");
	url_check(&re,
	    SUB_HOST "?Action=ConfirmSubscription&TopicArn=" SUB_TOPIC
		     "&Token=t\n",
	    SUB_TOPIC, -EACCES, "a byte it must not at", "a newline");
	url_check(&re,
	    SUB_HOST "?Action=ConfirmSubscription&TopicArn=" SUB_TOPIC
		     "&Token=a b",
	    SUB_TOPIC, -EACCES, "a byte it must not", "a space");
	url_check(&re,
	    SUB_HOST "?Action=ConfirmSubscription&TopicArn=" SUB_TOPIC
		     "&Token=t\xc3\xa9",
	    SUB_TOPIC, -EACCES, "a byte it must not", "not ASCII");
	url_check(&re,
	    SUB_HOST "?Action=ConfirmSubscription&TopicArn=" SUB_TOPIC
		     "&Token=t#frag",
	    SUB_TOPIC, -EACCES, "a byte it must not", "a fragment");
	url_check(&re,
	    SUB_HOST "?Action=Unsubscribe&TopicArn=" SUB_TOPIC "&Token=t",
	    SUB_TOPIC, -EACCES, "Action is 'Unsubscribe', not", "Unsubscribe");
	url_check(&re,
	    SUB_HOST "?Action=ConfirmSubscription&Action=Unsubscribe"
		     "&TopicArn=" SUB_TOPIC "&Token=t",
	    SUB_TOPIC, -EACCES, "Action is 'Unsubscribe'", "two Actions");
	url_check(&re,
	    SUB_HOST "?Action=ConfirmSubscription&Action=ConfirmSubscription"
		     "&TopicArn=" SUB_TOPIC "&Token=t",
	    SUB_TOPIC, -EACCES,
	    "one each of Action, TopicArn and Token (it has 2", "Action twice");
	url_check(&re, SUB_HOST "?Action=ConfirmSubscription&Token=t",
	    SUB_TOPIC, -EACCES, "(it has 1, 0, 1)", "no TopicArn");
	url_check(&re,
	    SUB_HOST "?Action=ConfirmSubscription&TopicArn=" SUB_TOPIC,
	    SUB_TOPIC, -EACCES, "(it has 1, 1, 0)", "no Token");
	url_check(&re,
	    SUB_HOST "?Action=ConfirmSubscription&TopicArn=" SUB_TOPIC
		     "&Token=",
	    SUB_TOPIC, -EACCES, "Token is empty", "empty Token");
	url_check(&re,
	    SUB_HOST "?Action=ConfirmSubscription&TopicArn=arn:aws:sns:"
		     "us-west-2:999999999999:Other&Token=t",
	    SUB_TOPIC, -EACCES, "is not the message's TopicArn",
	    "another topic in the URL");
	url_check(&re,
	    SUB_HOST "?Action=ConfirmSubscription&TopicArn=" SUB_TOPIC
		     "&Token=t",
	    NULL, -EACCES, "is not the message's TopicArn",
	    "a message without a TopicArn");
	url_check(&re,
	    SUB_HOST "?Action=ConfirmSubscription&TopicArn=" SUB_TOPIC
		     "&Token=%zz",
	    SUB_TOPIC, -EACCES, "bad %-escape", "a bad escape");
	url_check(&re,
	    SUB_HOST "?Action=ConfirmSubscription&TopicArn=" SUB_TOPIC
		     "&Token=%00",
	    SUB_TOPIC, -EACCES, "NUL", "an escaped NUL");
	url_check(&re, SUB_HOST, SUB_TOPIC, -EACCES, "does not match",
	    "no query");
	buf_init(&b, 1u << 16);
	put(&b,
	    SUB_HOST "?Action=ConfirmSubscription&TopicArn=" SUB_TOPIC
		     "&Token=");
	put_rep(&b, 'a', NOTIF_MAX_SUBSCRIBE_URL);
	url_check(&re, b.data, SUB_TOPIC, -EACCES, "bytes, over 1024",
	    "too long");
	/* Good ones: SNS's own form, %-encoded names and values, China. */
	url_check(&re,
	    SUB_HOST "?Action=ConfirmSubscription&TopicArn=" SUB_TOPIC
		     "&Token=2336412f37fb687f5d51e6e2425929f52e8e3531",
	    SUB_TOPIC, 0, NULL, "as SNS sends it");
	url_check(&re,
	    SUB_HOST "?Token=t&TopicArn=arn%3Aaws%3Asns%3Aus-west-2%3A"
		     "123456789012%3AMyTopic&%41ction=ConfirmSubscription&x",
	    SUB_TOPIC, 0, NULL, "encoded, reordered, an extra parameter");
	url_check(&re,
	    "https://sns.cn-north-1.amazonaws.com.cn/?Action=Confirm"
	    "Subscription&TopicArn=arn:aws-cn:sns:cn-north-1:1:t&Token=t",
	    "arn:aws-cn:sns:cn-north-1:1:t", 0, NULL, "AWS China");

	/* The fields, as parsed; wrong types refused. */
	want_fail("{\"Type\":\"SubscriptionConfirmation\",\"SubscribeURL\":7}",
	    -EBADMSG, "SubscribeURL must be a string, not a number",
	    "SubscribeURL a number");
	want_fail("{\"Type\":\"SubscriptionConfirmation\",\"TopicArn\":[]}",
	    -EBADMSG, "TopicArn must be a string, not an array",
	    "TopicArn an array");
	want_fail("{\"Type\":\"UnsubscribeConfirmation\",\"Token\":{}}",
	    -EBADMSG, "Token must be a string, not an object",
	    "Token an object");
	n = want_ok(
	    "{\"Type\":\"SubscriptionConfirmation\",\"TopicArn\":\"" SUB_TOPIC
	    "\",\"Token\":\"tok\",\"SubscribeURL\":\"" SUB_HOST
	    "?Action=ConfirmSubscription&TopicArn=" SUB_TOPIC "&Token=tok\"}",
	    NULL, "confirmation fields");
	if (n != NULL) {
		ok(n->confirm.subscribe, "confirmation fields: subscribe");
		is_str(n->confirm.topic_arn, SUB_TOPIC,
		    "confirmation fields: TopicArn");
		is_str(n->confirm.token, "tok", "confirmation fields: Token");
		is_str(n->confirm.subscribe_url,
		    SUB_HOST "?Action=ConfirmSubscription&TopicArn=" SUB_TOPIC
			     "&Token=tok",
		    "confirmation fields: SubscribeURL");
		notif_free(n);
	}
	n = want_ok("{\"Type\":\"UnsubscribeConfirmation\"}", NULL,
	    "unsubscribe fields");
	if (n != NULL) {
		ok(!n->confirm.subscribe && n->confirm.topic_arn == NULL &&
			n->confirm.subscribe_url == NULL &&
			n->confirm.token == NULL,
		    "unsubscribe fields: none, not subscribe");
		notif_free(n);
	}
	n = want_ok("{\"Type\":\"Notification\",\"TopicArn\":\"" SUB_TOPIC
		    "\",\"Message\":\"{\\\"s3Bucket\\\":\\\"b-1\\\","
		    "\\\"s3ObjectKey\\\":[\\\"k.json.gz\\\"]}\"}",
	    NULL, "notification: no confirm fields");
	if (n != NULL) {
		ok(n->confirm.topic_arn == NULL && !n->confirm.subscribe,
		    "notification: no confirm fields");
		notif_free(n);
	}
	buf_done(&b);
	regfree(&re);
}

int
main(void)
{
	const char *dir = tap_shared_data();
	size_t i;

	test_hostile();
	test_shapes();
	test_confirm();
	test_listed(dir, "aws-docs");
	test_listed(dir, "eventbridge");
	test_listed(dir, "sns-signature/aws-sdk-java-v1");
	test_listed(dir, "sns-signature/aws-sdk-java-v2");
	test_listed(dir, "lambda-event-fixtures/powertools-lambda-python");
	test_listed(dir, "lambda-event-fixtures/aws-lambda-go");
	test_listed(dir, "sqs");
	for (i = 0; i < ARRAY_SIZE(samples); i++)
		test_sample(dir, &samples[i]);
	return done_testing();
}
