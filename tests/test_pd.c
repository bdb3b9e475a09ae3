/*
 * test_pd.c: the pagerduty sink. First what must fail, then the dedup key
 * (stable, at most 255, hashed when long or unclean), then every alert
 * shape rendered and checked against the Events API v2 schema by an
 * independent validator, the trigger and the resolve byte for byte, then
 * every Secrets Manager record in ../shared/data, and last the sink end to
 * end against an evhttp receiver: 202, 400 with errors, 429, 5xx, 401/403/
 * 404, the resolve on the wire, a rate limit, and the routing key in no
 * outcome (only in the request body).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <json-c/json.h>
#include <openssl/evp.h>

#include "buf.h"
#include "diag.h"
#include "http.h"
#include "sink.h"
#include "sink_pd.h"
#include "tap.h"
#include "testlib.h"
#include "sinklib.h"

#define EVID "3f4e5d6c-1a2b-4c3d-9e8f-0a1b2c3d4e5f"
#define SECRET_ARN                                                             \
	"arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf"
#define MALLORY "arn:aws:iam::999988887777:user/mallory"
#define KEY "R0UTINGKEYs3cr3t0123456789abcdef"

/* A string literal and its length. */
#define LIT(s) s, sizeof(s) - 1

/* An alert as the spool holds it: alert_json() plus "record". */
#define ALERT_HEAD                                                               \
	"{\"rule\":\"secret-read-external\",\"title\":\"Secret read by "         \
	"another account\",\"severity\":\"critical\",\"summary\":"               \
	"\"GetSecretValue on prod/db by " MALLORY "\",\"eventID\":\"" EVID       \
	"\",\"eventName\":\"GetSecretValue\",\"eventTime\":"                     \
	"\"2024-05-01T12:34:56Z\",\"awsRegion\":\"eu-west-1\","                  \
	"\"recipientAccountId\":\"123456789012\",\"secretId\":\"" SECRET_ARN     \
	"\",\"principal\":\"" MALLORY "\",\"sourceIPAddress\":"                  \
	"\"203.0.113.7\",\"errorCode\":\"AccessDenied\",\"group\":\"" SECRET_ARN \
	"\",\"record\":{\"eventVersion\":\"1.09\","                              \
	"\"userIdentity\":{\"type\":\"IAMUser\",\"arn\":\"" MALLORY "\","        \
	"\"accountId\":\"999988887777\"},\"eventTime\":"                         \
	"\"2024-05-01T12:34:56Z\",\"eventSource\":"                              \
	"\"secretsmanager.amazonaws.com\",\"eventName\":\"GetSecretValue\","     \
	"\"awsRegion\":\"eu-west-1\",\"sourceIPAddress\":\"203.0.113.7\","       \
	"\"errorCode\":\"AccessDenied\",\"errorMessage\":\"User: " MALLORY       \
	" is not authorized to perform: secretsmanager:GetSecretValue\","        \
	"\"requestParameters\":{\"secretId\":\"" SECRET_ARN "\","                \
	"\"versionStage\":\"AWSCURRENT\"},\"responseElements\":null,"            \
	"\"eventID\":\"" EVID "\",\"recipientAccountId\":\"123456789012\"}"
#define ALERT ALERT_HEAD "}"

#define DEDUP "secret-read-external:" SECRET_ARN

/* pd_payload() as sinklib.h calls a renderer. */
static int
pd_render_any(const char *json, size_t len, const void *opts, struct buf *out,
    struct diag *reterr)
{
	return pd_payload(json, len, opts, out, reterr);
}

static const struct pd_opts pd_test_opts = {KEY, NULL};
static const char *v_pd(const char *payload, size_t len);
static const struct sl_renderer pd_rd = {pd_render_any, &pd_test_opts,
    PD_MAX_PAYLOAD, v_pd, KEY, "events"};

/* ---- an independent Events API v2 validator ---------------------------- */

static bool
one_of(const char *s, const char *const *set)
{
	for (; *set != NULL; set++)
		if (strcmp(s, *set) == 0)
			return true;
	return false;
}

static const char *
v_str(struct json_object *o, const char *key, bool required, size_t max)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return required ? "a required member is missing" : NULL;
	if (!json_object_is_type(v, json_type_string))
		return "a member is not a string";
	if (json_object_get_string_len(v) == 0)
		return "an empty string";
	if (max != 0 && tl_u8_chars(json_object_get_string(v)) > max)
		return "a string over its limit";
	return NULL;
}

static const char *
v_payload(struct json_object *p)
{
	static const char *const sev[] = {"critical", "error", "warning",
	    "info", NULL};
	static const char *const known[] = {"summary", "source", "severity",
	    "timestamp", "component", "group", "class", "custom_details", NULL};
	struct json_object *v;
	const char *e;

	if (!json_object_is_type(p, json_type_object))
		return "payload is not an object";
	json_object_object_foreach(p, k, val)
	{
		(void)val;
		if (!one_of(k, known))
			return "an unknown payload member";
	}
	if ((e = v_str(p, "summary", true, PD_MAX_SUMMARY)) != NULL ||
	    (e = v_str(p, "source", true, 0)) != NULL ||
	    (e = v_str(p, "severity", true, 0)) != NULL ||
	    (e = v_str(p, "timestamp", false, 0)) != NULL ||
	    (e = v_str(p, "component", false, 0)) != NULL ||
	    (e = v_str(p, "group", false, 0)) != NULL ||
	    (e = v_str(p, "class", false, 0)) != NULL)
		return e;
	(void)json_object_object_get_ex(p, "severity", &v);
	if (!one_of(json_object_get_string(v), sev))
		return "severity is not critical, error, warning or info";
	if (json_object_object_get_ex(p, "timestamp", &v)) {
		struct tm tm;
		const char *t = json_object_get_string(v);
		const char *end = strptime(t, "%Y-%m-%dT%H:%M:%S", &tm);

		if (end == NULL ||
		    (*end != 'Z' && *end != '.' && *end != '+' && *end != '-'))
			return "timestamp is not ISO 8601";
	}
	if (json_object_object_get_ex(p, "custom_details", &v) &&
	    !json_object_is_type(v, json_type_object))
		return "custom_details is not an object";
	return NULL;
}

/* NULL when payload is an event PagerDuty accepts, else what is wrong. */
static const char *
v_pd(const char *payload, size_t len)
{
	static const char *const actions[] = {"trigger", "acknowledge",
	    "resolve", NULL};
	static const char *const known[] = {"routing_key", "event_action",
	    "dedup_key", "payload", "links", "images", "client", "client_url",
	    NULL};
	struct json_object *o;
	struct json_object *v;
	const char *e = NULL;
	const char *action;
	size_t i;

	if (len > PD_MAX_PAYLOAD)
		return "over 512 KB";
	o = tl_json_strict(payload, len);
	if (o == NULL)
		return "not strict JSON in valid UTF-8";
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return "not an object";
	}
	json_object_object_foreach(o, k, val)
	{
		(void)val;
		if (e == NULL && !one_of(k, known))
			e = "an unknown top-level member";
	}
	if (e == NULL && (e = v_str(o, "routing_key", true, 0)) == NULL &&
	    (e = v_str(o, "event_action", true, 0)) == NULL &&
	    (e = v_str(o, "dedup_key", false, PD_MAX_DEDUP_KEY)) == NULL) {
		(void)json_object_object_get_ex(o, "event_action", &v);
		action = json_object_get_string(v);
		if (!one_of(action, actions))
			e = "event_action is not trigger, acknowledge or resolve";
		else if (strcmp(action, "trigger") != 0 &&
		    !json_object_object_get_ex(o, "dedup_key", &v))
			e = "acknowledge and resolve need a dedup_key";
		else if (strcmp(action, "trigger") == 0 &&
		    !json_object_object_get_ex(o, "payload", &v))
			e = "a trigger needs a payload";
		else if (strcmp(action, "trigger") == 0)
			e = v_payload(v);
	}
	if (e == NULL && json_object_object_get_ex(o, "links", &v)) {
		if (!json_object_is_type(v, json_type_array))
			e = "links is not an array";
		for (i = 0; e == NULL && i < json_object_array_length(v); i++) {
			struct json_object *l = json_object_array_get_idx(v, i);
			struct json_object *h;

			if (!json_object_object_get_ex(l, "href", &h) ||
			    strncmp(json_object_get_string(h), "https://", 8) !=
				0)
				e = "a link without an https href";
			else
				e = v_str(l, "text", false, 0);
		}
	}
	json_object_put(o);
	return e;
}

/* ---- rendering --------------------------------------------------------- */

/* A member by dotted path ("payload.summary"), as text or compact JSON. */
static char *
member(const char *payload, const char *path)
{
	struct json_object *o = json_tokener_parse(payload);
	char *ret = tl_json_member(o, path);

	json_object_put(o);
	return ret;
}

static void
is_member(const char *payload, const char *path, const char *want,
    const char *name)
{
	char *got = member(payload, path);

	is_str(got, want, "%s", name);
	free(got);
}

static void
test_hostile(void)
{
	struct pd_opts o = {NULL, NULL};
	struct buf out;
	struct buf deep;
	int i;

	sl_want_render_fail(&pd_rd, LIT(""), -EBADMSG, "empty", "empty");
	sl_want_render_fail(&pd_rd, LIT("{\"rule\":\"r\""), -EBADMSG,
	    "truncated", "truncated");
	sl_want_render_fail(&pd_rd, LIT("{\"rule\":\"r\",\"rule\""), -EBADMSG,
	    "not JSON", "broken");
	sl_want_render_fail(&pd_rd, LIT("\"rule\""), -EBADMSG,
	    "not a JSON object", "a string");
	sl_want_render_fail(&pd_rd, LIT("{\"title\":\"t\"}"), -EBADMSG,
	    "no rule id", "no rule");
	sl_want_render_fail(&pd_rd,
	    LIT("{\"rule\":\"r\",\"severity\":\"CRITICAL\"}"), -EBADMSG,
	    "unknown severity", "severity in capitals");
	sl_want_render_fail(&pd_rd,
	    LIT("{\"rule\":\"r\",\"status\":\"acknowledged\"}"), -EBADMSG,
	    "unknown status", "an unknown status");
	sl_want_render_fail(&pd_rd, LIT("{\"rule\":\"r\",\"count\":1e30}"),
	    -EBADMSG, "'count' is not an integer", "a huge count");
	sl_want_render_fail(&pd_rd, LIT("{\"rule\":\"r\",\"suppressed\":true}"),
	    -EBADMSG, "'suppressed' is not an integer",
	    "suppressed as a boolean");
	sl_want_render_fail(&pd_rd, LIT("{\"rule\":\"r\",\"group\":{}}"),
	    -EBADMSG, "'group' is not a string", "group as an object");
	/* Deeper than any record may be. */
	buf_init(&deep, 1u << 16);
	if (buf_puts(&deep, "{\"rule\":\"r\",\"record\":") < 0)
		ok(0, "buffer");
	for (i = 0; i < 600; i++)
		if (buf_puts(&deep, "{\"a\":") < 0)
			ok(0, "buffer");
	if (buf_puts(&deep, "1") < 0)
		ok(0, "buffer");
	for (i = 0; i < 601; i++)
		if (buf_putc(&deep, '}') < 0)
			ok(0, "buffer");
	sl_want_render_fail(&pd_rd, deep.data, deep.len, -EBADMSG, "not JSON",
	    "600 levels deep");
	buf_done(&deep);

	buf_init(&out, PD_MAX_PAYLOAD);
	is_int(pd_payload(LIT(ALERT), &o, &out, NULL), -EINVAL,
	    "no routing key: -EINVAL");
	is_int(pd_payload(LIT(ALERT), NULL, &out, NULL), -EINVAL,
	    "no options: -EINVAL");
	is_int((long long)out.len, 0, "no routing key: nothing out");
	buf_done(&out);
	buf_init(&out, 200);
	is_int(sl_render(&pd_rd, ALERT, &out), -E2BIG,
	    "a small buffer: -E2BIG");
	is_int((long long)out.len, 0, "a small buffer: out as it was");
	buf_done(&out);
}

/* ---- the dedup key ----------------------------------------------------- */

static void
sha256_hex(const char *s, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	unsigned int i;

	(void)EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
	for (i = 0; i < n; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * n] = '\0';
}

static void
test_dedup(void)
{
	struct buf k;
	struct buf k2;
	struct buf whole;
	char want[300];
	char hex[65];
	char rule[400];
	char *group;
	size_t i;

	buf_init(&k, 1024);
	buf_init(&k2, 1024);
	buf_init(&whole, 1u << 16);
	is_int(pd_dedup_key("r1", "arn:x", &k), 0, "dedup: short");
	is_str(k.data, "r1:arn:x", "dedup: <rule id>:<group>");
	buf_reset(&k);
	is_int(pd_dedup_key("r1", NULL, &k), 0, "dedup: no group");
	is_str(k.data, "r1:", "dedup: no group: <rule id>:");

	/* 255 exactly stays; 256 is hashed. */
	group = malloc(300);
	memset(group, 'g', 252);
	group[252] = '\0';
	buf_reset(&k);
	is_int(pd_dedup_key("r1", group, &k), 0, "dedup: 255 bytes");
	is_int((long long)k.len, 255, "dedup: 255 bytes kept as is");
	group[252] = 'g';
	group[253] = '\0';
	buf_reset(&k);
	is_int(pd_dedup_key("r1", group, &k), 0, "dedup: 256 bytes");
	if (buf_printf(&whole, "r1:%s", group) < 0)
		ok(0, "buffer");
	sha256_hex(whole.data, hex);
	(void)snprintf(want, sizeof(want), "r1:%s", hex);
	is_str(k.data, want, "dedup: 256 bytes: <rule id>:<sha256 of all>");
	free(group);

	/* A long group (and a long rule id): hashed, stable, <= 255. */
	group = malloc(5000);
	for (i = 0; i < 4999; i++)
		group[i] = (char)('a' + i % 26);
	group[4999] = '\0';
	memset(rule, 0, sizeof(rule));
	for (i = 0; i < 150; i++)
		memcpy(rule + 2 * i, "\xc3\xa9", 2); /* 300 bytes of "é" */
	buf_reset(&k);
	is_int(pd_dedup_key(rule, group, &k), 0, "dedup: long");
	ok(k.len <= PD_MAX_DEDUP_KEY, "dedup: long: %zu <= 255", k.len);
	is_int(pd_dedup_key(rule, group, &k2), 0, "dedup: again");
	is_str(k.data, k2.data, "dedup: stable");
	ok(strncmp(k.data, rule, 190) == 0 && k.data[190] == ':',
	    "dedup: the rule id cut to 190 bytes on a character boundary");
	buf_reset(&whole);
	if (buf_printf(&whole, "%s:%s", rule, group) < 0)
		ok(0, "buffer");
	sha256_hex(whole.data, hex);
	is_str(k.data + 191, hex, "dedup: then the sha256 of the whole key");
	buf_reset(&k2);
	group[100] = 'Z';
	is_int(pd_dedup_key(rule, group, &k2), 0, "dedup: another group");
	ok(strcmp(k.data, k2.data) != 0, "dedup: another group, another key");
	free(group);

	/* Unclean text is hashed too: a key is always valid JSON text. */
	buf_reset(&k);
	is_int(pd_dedup_key("r", "a\nb\xff", &k), 0, "dedup: unclean");
	ok(k.len == 2 + 64 && strncmp(k.data, "r:", 2) == 0,
	    "dedup: unclean group: hashed");
	buf_reset(&k);
	is_int(pd_dedup_key("r\x01", "g", &k), 0, "dedup: unclean rule");
	ok(k.len == 1 + 64 && k.data[0] == ':',
	    "dedup: unclean rule id: left out of the prefix");
	buf_done(&k);
	buf_done(&k2);
	buf_done(&whole);
}

/* ---- shapes ------------------------------------------------------------ */

static const char golden_trigger[] =
    "{\"routing_key\":\"" KEY "\",\"event_action\":\"trigger\","
    "\"dedup_key\":\"" DEDUP "\","
    "\"payload\":{\"summary\":\"Secret read by another account: "
    "GetSecretValue on prod/db by " MALLORY "\","
    "\"source\":\"123456789012/eu-west-1\",\"severity\":\"critical\","
    "\"timestamp\":\"2024-05-01T12:34:56Z\","
    "\"component\":\"" SECRET_ARN "\",\"group\":\"secret-read-external\","
    "\"class\":\"GetSecretValue\","
    "\"custom_details\":{\"rule\":\"secret-read-external\","
    "\"eventName\":\"GetSecretValue\","
    "\"eventSource\":\"secretsmanager.amazonaws.com\","
    "\"eventID\":\"" EVID "\",\"userIdentity.arn\":\"" MALLORY "\","
    "\"sourceIPAddress\":\"203.0.113.7\",\"errorCode\":\"AccessDenied\","
    "\"errorMessage\":\"User: " MALLORY " is not authorized to perform: "
    "secretsmanager:GetSecretValue\",\"awsRegion\":\"eu-west-1\","
    "\"recipientAccountId\":\"123456789012\","
    "\"secretId\":\"" SECRET_ARN "\","
    "\"requestParameters\":{\"secretId\":\"" SECRET_ARN "\","
    "\"versionStage\":\"AWSCURRENT\"}}},"
    "\"links\":[{\"href\":\"https://eu-west-1.console.aws.amazon.com/"
    "cloudtrail/home?region=eu-west-1#/events/" EVID "\","
    "\"text\":\"CloudTrail event\"},"
    "{\"href\":\"https://eu-west-1.console.aws.amazon.com/secretsmanager/"
    "secret?name=arn%3Aaws%3Asecretsmanager%3Aeu-west-1%3A123456789012%3A"
    "secret%3Aprod%2Fdb-AbCdEf&region=eu-west-1\","
    "\"text\":\"Secret in Secrets Manager\"}],"
    "\"client\":\"smtrail\"}";

static const char golden_resolve[] =
    "{\"routing_key\":\"" KEY "\",\"event_action\":\"resolve\","
    "\"dedup_key\":\"" DEDUP "\"}";

/* ALERT with extra members, rendered into out: two tests, it renders and
 * the event is valid. */
static void
render_variant(const char *extra, const char *name, struct buf *out)
{
	char *s = sl_variant(ALERT_HEAD, extra);

	is_int(sl_render(&pd_rd, s, out), 0, "%s: rendered", name);
	is_str(v_pd(out->data, out->len), NULL, "%s: valid", name);
	free(s);
}

static void
test_shapes(void)
{
	struct buf out;
	struct buf first;
	struct pd_opts o = {KEY, "https://smtrail.example/"};
	char *s;
	int r;

	buf_init(&out, PD_MAX_PAYLOAD);
	buf_init(&first, PD_MAX_PAYLOAD);

	is_int(sl_render(&pd_rd, ALERT, &out), 0, "firing: rendered");
	is_str(out.data, golden_trigger, "firing: the exact trigger");
	is_str(v_pd(out.data, out.len), NULL, "firing: a valid event");
	if (buf_append(&first, out.data, out.len) < 0)
		ok(0, "buffer");
	is_int(sl_render(&pd_rd, ALERT, &out), 0, "firing again");
	is_str(out.data, first.data, "firing: the same alert, the same event");

	buf_reset(&out);
	is_int(pd_payload(LIT(ALERT), &o, &out, NULL), 0, "client_url");
	is_member(out.data, "client_url", "https://smtrail.example/",
	    "client_url: when set");

	/* Resolved: routing_key, event_action, dedup_key only, same key. */
	s = sl_variant(ALERT_HEAD, "\"status\":\"resolved\"");
	is_int(sl_render(&pd_rd, s, &out), 0, "resolved: rendered");
	is_str(out.data, golden_resolve, "resolved: the exact resolve");
	is_str(v_pd(out.data, out.len), NULL, "resolved: a valid event");
	free(s);
	s = sl_variant(ALERT_HEAD, "\"status\":\"firing\"");
	is_int(sl_render(&pd_rd, s, &out), 0, "status firing: rendered");
	is_str(out.data, golden_trigger, "status firing: as when absent");
	free(s);

	/* Grouped. */
	render_variant("\"count\":3,\"events\":[\"e1\",\"e2\",\"e3\"]",
	    "grouped", &out);
	is_member(out.data, "payload.summary",
	    "Secret read by another account (3 events): GetSecretValue on "
	    "prod/db by " MALLORY,
	    "grouped: the summary counts");
	is_member(out.data, "payload.custom_details.count", "3",
	    "grouped: count in custom_details");
	is_member(out.data, "payload.custom_details.events",
	    "[\"e1\",\"e2\",\"e3\"]", "grouped: events in custom_details");
	is_member(out.data, "dedup_key", DEDUP,
	    "grouped: the same dedup_key as one");

	/* Suppressed. */
	render_variant("\"suppressed\":41,\"suppressed_since\":"
		       "\"2024-05-01T12:00:00Z\"",
	    "suppressed", &out);
	is_member(out.data, "payload.summary",
	    "Secret read by another account (41 more since "
	    "2024-05-01T12:00:00Z): GetSecretValue on prod/db by " MALLORY,
	    "suppressed: the summary says so");
	is_member(out.data, "payload.custom_details.suppressed", "41",
	    "suppressed: in custom_details");

	/* A distinct rule's values, the readers, the account's alias. */
	render_variant(
	    "\"values\":[\"s1\",\"s2\"],\"readers\":[{"
	    "\"principal\":\"arn:aws:iam::1:user/u1\",\"lastRead\":"
	    "\"2026-11-25T09:00:00Z\"},{\"principal\":\"u2\"},{\"x\":1}],"
	    "\"accountAlias\":\"prod\"",
	    "values, readers", &out);
	is_member(out.data, "payload.custom_details.values", "[\"s1\",\"s2\"]",
	    "values: in custom_details");
	is_member(out.data, "payload.custom_details.readers",
	    "[{\"principal\":\"arn:aws:iam::1:user/u1\",\"lastRead\":"
	    "\"2026-11-25T09:00:00Z\"},{\"principal\":\"u2\"}]",
	    "readers: in custom_details, the malformed one left out");
	is_member(out.data, "payload.custom_details.accountAlias", "prod",
	    "accountAlias: in custom_details");

	/* Test. */
	render_variant("\"test\":true", "test", &out);
	is_member(out.data, "payload.summary",
	    "[TEST] Secret read by another account: GetSecretValue on "
	    "prod/db by " MALLORY,
	    "test: marked");
	is_member(out.data, "payload.custom_details.test", "true",
	    "test: in custom_details");

	/* Every severity maps 1:1. */
	{
		static const char *const sev[] = {"info", "warning", "error",
		    "critical"};
		size_t i;
		char m[64];

		for (i = 0; i < 4; i++) {
			(void)snprintf(m, sizeof(m),
			    "{\"rule\":\"r\","
			    "\"severity\":\"%s\"}",
			    sev[i]);
			r = sl_render(&pd_rd, m, &out);
			is_int(r, 0, "severity %s: rendered", sev[i]);
			(void)snprintf(m, sizeof(m), "severity %s: the same",
			    sev[i]);
			is_member(out.data, "payload.severity", sev[i], m);
		}
	}

	/* Missing fields: only a rule id. */
	is_int(sl_render(&pd_rd, "{\"rule\":\"lonely\"}", &out), 0,
	    "missing fields: rendered");
	is_str(v_pd(out.data, out.len), NULL, "missing fields: valid");
	is_str(out.data,
	    "{\"routing_key\":\"" KEY "\",\"event_action\":\"trigger\","
	    "\"dedup_key\":\"lonely:\",\"payload\":{\"summary\":\"lonely\","
	    "\"source\":\"unknown/unknown\",\"severity\":\"warning\","
	    "\"group\":\"lonely\",\"custom_details\":{\"rule\":\"lonely\"}},"
	    "\"client\":\"smtrail\"}",
	    "missing fields: the exact minimal trigger");
	/* A group key falls back to the eventID; a bad time is left out. */
	is_int(sl_render(&pd_rd,
		   "{\"rule\":\"r\",\"eventID\":\"e-1\",\"eventTime\":"
		   "\"yesterday\",\"awsRegion\":\"../x\",\"record\":{}}",
		   &out),
	    0, "odd fields: rendered");
	is_str(v_pd(out.data, out.len), NULL, "odd fields: valid");
	is_member(out.data, "dedup_key", "r:e-1",
	    "odd fields: dedup_key from the eventID");
	ok(strstr(out.data, "timestamp") == NULL,
	    "odd fields: no timestamp that is not ISO 8601");
	ok(strstr(out.data, "\"links\"") == NULL,
	    "odd fields: no links for a region that is not one");
	buf_done(&out);
	buf_done(&first);
}

/* Huge text, multibyte and invalid UTF-8, deep and wide parameters. */
static void
test_huge(void)
{
	static const char *const members[] = {"title", "summary", "secretId",
	    "group", "eventName", "recipientAccountId", NULL};
	struct json_object *o;
	struct json_object *rec;
	struct json_object *params = json_object_new_object();
	struct json_object *deep;
	struct buf b;
	struct buf out;
	char *v;
	size_t i;

	buf_init(&b, 1u << 20);
	for (i = 0; i < 3000; i++)
		if (buf_puts(&b, "\xc3\xa9\xf0\x9f\x94\x91\xff\"\\\n") < 0)
			break;
	o = sl_huge(ALERT, b.data, members, 1000, 3);
	(void)json_object_object_get_ex(o, "record", &rec);
	for (i = 0; i < 200; i++) {
		char k[32];

		(void)snprintf(k, sizeof(k), "k\xff%zu", i);
		json_object_object_add(params, k,
		    json_object_new_string(b.data));
	}
	deep = json_object_new_string("bottom");
	for (i = 0; i < 100; i++) {
		struct json_object *d = json_object_new_object();

		json_object_object_add(d, "d", deep);
		deep = d;
	}
	json_object_object_add(params, "deep", deep);
	json_object_object_add(rec, "requestParameters", params);
	buf_init(&out, PD_MAX_PAYLOAD);
	is_int(sl_render(&pd_rd,
		   json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
		   &out),
	    0, "huge: rendered");
	is_str(v_pd(out.data, out.len), NULL,
	    "huge: valid: strict UTF-8 JSON, every limit, under 512 KB");
	v = member(out.data, "dedup_key");
	ok(v != NULL && strlen(v) <= PD_MAX_DEDUP_KEY,
	    "huge: dedup_key hashed to <= 255");
	free(v);
	v = member(out.data, "payload.summary");
	ok(v != NULL && strlen(v) <= PD_MAX_SUMMARY &&
		strstr(v, "\xe2\x80\xa6") != NULL,
	    "huge: summary cut to 1024 bytes, and says so");
	free(v);
	v = member(out.data, "payload.custom_details.requestParameters");
	if (!ok(v != NULL && v[0] == '{' && strlen(v) <= PD_MAX_PARAMS &&
		    strcmp(v + strlen(v) - 3, "\xe2\x80\xa6") == 0,
		"huge: requestParameters over 64 KB kept as cut JSON text"))
		diag_note("got '%.100s'", v ? v : "(none)");
	free(v);
	v = member(out.data, "payload.custom_details.events");
	{
		struct json_object *ev = v ? json_tokener_parse(v) : NULL;

		ok(ev != NULL && json_object_array_length(ev) == PD_MAX_EVENTS,
		    "huge: events cut to %d", PD_MAX_EVENTS);
		json_object_put(ev);
	}
	free(v);
	ok(out.len < 256u << 10, "huge: %zu bytes", out.len);
	json_object_put(o);
	buf_done(&b);
	buf_done(&out);
}

/* requestParameters under the cap: JSON, keys made valid, depth cut. */
static void
test_params(void)
{
	struct json_object *o = json_tokener_parse(ALERT);
	struct json_object *rec;
	struct json_object *params = json_object_new_object();
	struct json_object *deep = json_object_new_string("bottom");
	static const char want[] = "{\"k\xef\xbf\xbd\":\"v\",\"n\":2.5,";
	struct buf out;
	char *v;
	size_t i;

	for (i = 0; i < 100; i++) {
		struct json_object *d = json_object_new_object();

		json_object_object_add(d, "d", deep);
		deep = d;
	}
	json_object_object_add(params, "k\xff", json_object_new_string("v"));
	json_object_object_add(params, "n", json_object_new_double(2.5));
	json_object_object_add(params, "deep", deep);
	(void)json_object_object_get_ex(o, "record", &rec);
	json_object_object_add(rec, "requestParameters", params);
	buf_init(&out, PD_MAX_PAYLOAD);
	is_int(sl_render(&pd_rd,
		   json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
		   &out),
	    0, "params: rendered");
	is_str(v_pd(out.data, out.len), NULL, "params: valid");
	v = member(out.data, "payload.custom_details.requestParameters");
	ok(v != NULL && strncmp(v, want, strlen(want)) == 0,
	    "params: an object, its bad key made valid UTF-8");
	free(v);
	ok(strstr(out.data, "\"{\\\"d\\\":{\\\"d\\\":") != NULL,
	    "params: below 16 levels, the rest as JSON text");
	json_object_put(o);
	buf_done(&out);
}

/* ---- end to end -------------------------------------------------------- */

static struct sink *
pd_sink(struct event_base *base, struct http *h, const char *url,
    unsigned rate_count)
{
	return tl_sink_new(base, h, "pagerduty", "pager", rate_count, "url",
	    url, "routing_key", KEY, NULL);
}

static void
test_e2e(void)
{
	struct sl_e2e t;
	struct event_base *base;
	struct http *h;
	struct sink *s;
	struct tl_outcome g;
	struct tl_outcome g3[3];
	uint64_t t0;
	char *res;
	int i;

	sl_e2e_start(&t, "/v2/enqueue");
	base = t.base;
	h = t.h;

	{
		struct sink_conf c;
		struct diag e;

		tl_sink_conf(&c, "pagerduty", "pager");
		sl_refused(&t, &c,
		    "destination 'pager': a pagerduty destination needs a routing key",
		    "a pagerduty sink needs a routing key");
		memset(&e, 0, sizeof(e));
		tl_sink_opt(&c, "routing_key", KEY);
		is_int(sink_new(&c, base, h, &s, &e), 0,
		    "the url defaults to PagerDuty's");
		ok(sink_kind_find("pagerduty") != NULL,
		    "type 'pagerduty' parses");
		ok(sink_type(s) == sink_kind_find("pagerduty"),
		    "to the pagerduty kind");
		sink_free(s);
	}

	/* 202: delivered; the body is pd_payload's, with the key. */
	{
		static const struct tl_reply r202[] = {{202,
		    "{\"status\":\"success\",\"message\":\"Event "
		    "processed\",\"dedup_key\":\"" DEDUP "\"}",
		    NULL}};

		tl_rcv_reset(&t.rv, r202, 1);
	}
	s = pd_sink(base, h, t.url, 0);
	ok(s != NULL, "pagerduty sink");
	sl_expect(base, s, ALERT, &g, SINK_DELIVERED, 202, "HTTP 202", "202");
	ok(strstr(g.o.detail, KEY) == NULL,
	    "202: no routing key in the detail");
	is_str(t.rv.ctype, "application/json", "202: Content-Type");
	is_str(t.rv.body[0], golden_trigger,
	    "202: the request is the trigger, key included");

	/* The resolve on the wire. */
	res = sl_variant(ALERT_HEAD, "\"status\":\"resolved\"");
	tl_send_one(s, res, &g, "resolve");
	tl_outcome_wait(base, &g);
	is_int(g.o.result, SINK_DELIVERED, "resolve: delivered");
	is_str(t.rv.body[1], golden_resolve,
	    "resolve: only key, action, dedup");
	free(res);
	sink_free(s);

	/* 400 with errors: permanent; the errors in the detail; a key
	 * echoed back is redacted. */
	{
		static const struct tl_reply r400[] = {
		    {400,
			"{\"status\":\"invalid event\",\"message\":\"Event "
			"object is invalid\",\"errors\":[\"Length of "
			"'routing_key' is incorrect (should be 32 characters)"
			"\",\"'payload.severity' is invalid\"]}",
			NULL},
		    {400,
			"{\"status\":\"invalid event\",\"message\":\"Event "
			"object is invalid\",\"errors\":[\"Unknown routing "
			"key " KEY "\"]}",
			NULL},
		    {400, "<html>Bad Request</html>", NULL}};

		tl_rcv_reset(&t.rv, r400, 3);
	}
	s = pd_sink(base, h, t.url, 0);
	tl_send_one(s, ALERT, &g, "400");
	tl_outcome_wait(base, &g);
	is_int(g.o.result, SINK_PERMANENT, "400: permanent");
	is_int(g.o.status, 400, "400: status");
	is_str(g.o.detail,
	    "HTTP 400: Length of 'routing_key' is incorrect (should be 32 "
	    "characters); 'payload.severity' is invalid",
	    "400: the errors, joined");
	tl_send_one(s, ALERT, &g, "400 echoing the key");
	tl_outcome_wait(base, &g);
	is_str(g.o.detail, "HTTP 400: Unknown routing key [redacted]",
	    "400 echoing the key: redacted");
	tl_send_one(s, ALERT, &g, "400 not JSON");
	tl_outcome_wait(base, &g);
	is_str(g.o.detail, "HTTP 400: <html>Bad Request</html>",
	    "400 not JSON: the body text");
	sink_free(s);

	/* 429 and 5xx: retry, with no Retry-After (ours is the backoff);
	 * 401, 403, 404: permanent. */
	{
		static const struct tl_reply rx[] = {
		    {429, "{\"status\":\"throttle event\"}", "30"},
		    {500, "", NULL}, {503, "", NULL},
		    {401, "{\"message\":\"Unauthorized " KEY "\"}", NULL},
		    {403, "", NULL}, {404, "", NULL}};
		static const long want_status[] = {429, 500, 503, 401, 403,
		    404};
		static const char *const want_detail[] = {
		    "HTTP 429: {\"status\":\"throttle event\"}", "HTTP 500",
		    "HTTP 503", "HTTP 401: Unauthorized [redacted]", "HTTP 403",
		    "HTTP 404"};

		tl_rcv_reset(&t.rv, rx, 6);
		s = pd_sink(base, h, t.url, 0);
		for (i = 0; i < 6; i++) {
			char name[32];

			(void)snprintf(name, sizeof(name), "%ld",
			    want_status[i]);
			tl_send_one(s, ALERT, &g, name);
			tl_outcome_wait(base, &g);
			is_int(g.o.result, i < 3 ? SINK_RETRY : SINK_PERMANENT,
			    "%s: %s", name, i < 3 ? "retry" : "permanent");
			is_int(g.o.status, want_status[i], "%s: status", name);
			is_int((long long)g.o.retry_after_ms, 0,
			    "%s: retry_after_ms 0", name);
			is_str(g.o.detail, want_detail[i], "%s: detail", name);
			ok(strstr(g.o.detail, KEY) == NULL &&
				strstr(g.o.detail, "s3cr3t") == NULL,
			    "%s: no routing key in the detail", name);
		}
		sink_free(s);
	}

	/* A rate limit: 2 per second, 3 sends take >= 1 s. */
	{
		static const struct tl_reply r202[] = {{202, "{}", NULL}};

		tl_rcv_reset(&t.rv, r202, 1);
	}
	s = pd_sink(base, h, t.url, 2);
	memset(g3, 0, sizeof(g3));
	t0 = tl_now_us();
	for (i = 0; i < 3; i++)
		is_int(
		    sink_send(s, ALERT, strlen(ALERT), tl_outcome_cb, &g3[i]),
		    0, "rate: send %d", i);
	is_int((long long)sink_waiting(s), 1, "rate: one waits");
	tl_outcome_wait(base, &g3[2]);
	ok(g3[0].done + g3[1].done + g3[2].done == 3 &&
		g3[2].o.result == SINK_DELIVERED,
	    "rate: all delivered, once each");
	ok(g3[2].t_us - t0 >= 1000000u, "rate: the third >= 1 s (%.3f s)",
	    (double)(g3[2].t_us - t0) / 1e6);
	ok(g3[1].t_us - t0 < 900000u, "rate: the second without waiting");
	sink_free(s);

	/* Unrenderable: permanent, nothing sent, no key in the detail. */
	tl_rcv_reset(&t.rv, (const struct tl_reply[]){{202, "{}", NULL}}, 1);
	s = pd_sink(base, h, t.url, 0);
	tl_send_one(s, "{\"rule\":\"r\",\"severity\":\"sev1\"}", &g,
	    "unrenderable");
	tl_outcome_wait(base, &g);
	is_int(g.o.result, SINK_PERMANENT, "unrenderable: permanent");
	is_str(g.o.detail, "cannot render the alert: alert: unknown severity",
	    "unrenderable: why");
	is_int(t.rv.hits, 0, "unrenderable: nothing sent");
	sink_free(s);

	sl_e2e_done(&t);
}

int
main(void)
{
	test_hostile();
	test_dedup();
	test_shapes();
	test_huge();
	test_params();
	sl_test_corpus(&pd_rd, NULL);
	test_e2e();
	return done_testing();
}
