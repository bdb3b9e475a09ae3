/*
 * test_slack.c: the slack sink. First what must fail (alerts that cannot
 * be rendered, over-long options), then the text helpers the renderers
 * share (UTF-8 cuts, escapes, links), then every alert shape rendered and
 * checked against Block Kit's documented limits by an independent
 * validator, one of them byte for byte, then every Secrets Manager record
 * in ../shared/data, and last the sink end to end against an evhttp
 * receiver in the same loop: 200 ok, 429 with Retry-After pausing the
 * destination, the 1/s rate, 4xx and 5xx, cancellation, and no secret in
 * any outcome.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "alert.h"
#include "buf.h"
#include "diag.h"
#include "http.h"
#include "sink.h"
#include "sink_slack.h"
#include "tap.h"
#include "testlib.h"
#include "sinklib.h"
#include "text.h"

#define EVID "3f4e5d6c-1a2b-4c3d-9e8f-0a1b2c3d4e5f"
#define SECRET_ARN                                                             \
	"arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf"
#define MALLORY "arn:aws:iam::999988887777:user/mallory"

/* An alert as the spool holds it: alert_json() plus "record". */
#define ALERT_HEAD                                                             \
	"{\"rule\":\"secret-read-external\",\"title\":\"Secret read by "       \
	"another account\",\"severity\":\"critical\",\"summary\":"             \
	"\"GetSecretValue on prod/db by " MALLORY "\",\"eventID\":\"" EVID     \
	"\",\"eventName\":\"GetSecretValue\",\"eventTime\":"                   \
	"\"2024-05-01T12:34:56Z\",\"awsRegion\":\"eu-west-1\","                \
	"\"recipientAccountId\":\"123456789012\",\"secretId\":\"" SECRET_ARN   \
	"\",\"principal\":\"" MALLORY "\",\"sourceIPAddress\":"                \
	"\"203.0.113.7\",\"errorCode\":null,\"group\":\"" SECRET_ARN "\","     \
	"\"record\":{\"eventVersion\":\"1.09\",\"userIdentity\":{\"type\":"    \
	"\"IAMUser\",\"arn\":\"" MALLORY "\",\"accountId\":\"999988887777\"}," \
	"\"eventTime\":\"2024-05-01T12:34:56Z\",\"eventSource\":"              \
	"\"secretsmanager.amazonaws.com\",\"eventName\":\"GetSecretValue\","   \
	"\"awsRegion\":\"eu-west-1\",\"sourceIPAddress\":\"203.0.113.7\","     \
	"\"requestParameters\":{\"secretId\":\"" SECRET_ARN "\"},"             \
	"\"responseElements\":null,\"eventID\":\"" EVID "\","                  \
	"\"recipientAccountId\":\"123456789012\"}"
#define ALERT ALERT_HEAD "}"

/* A string literal and its length. */
#define LIT(s) s, sizeof(s) - 1

#define HOOK_TOKEN "XXXXSECRETTOKENXXXX"
#define HOOK_PATH "/services/T0000/B0000/" HOOK_TOKEN

/* slack_payload() as sinklib.h calls a renderer. */
static int
slack_render_any(const char *json, size_t len, const void *opts,
    struct buf *out, struct diag *reterr)
{
	return slack_payload(json, len, opts, out, reterr);
}

static const char *v_slack(const char *payload, size_t len);
static const struct sl_renderer slack_rd = {slack_render_any, NULL,
    SLACK_MAX_PAYLOAD, v_slack, NULL, "messages"};

/* ---- an independent Block Kit validator -------------------------------- */

/* Slack's control characters in data must arrive as entities; '<' only
 * opens a link, a mention or a special command. */
static const char *
v_mrkdwn(const char *s)
{
	const char *p;

	for (p = s; *p != '\0'; p++) {
		if (*p == '&' && strncmp(p, "&amp;", 5) != 0 &&
		    strncmp(p, "&lt;", 4) != 0 && strncmp(p, "&gt;", 4) != 0)
			return "a bare '&' in mrkdwn";
		if (*p == '>')
			return "a bare '>' in mrkdwn";
		if (*p == '<') {
			const char *e = strchr(p, '>');

			if (e == NULL)
				return "an unclosed '<' in mrkdwn";
			if (strncmp(p + 1, "https://", 8) != 0 && p[1] != '!' &&
			    p[1] != '@')
				return "a '<' that opens no link or mention";
			if (memchr(p + 1, '<', (size_t)(e - p - 1)) != NULL)
				return "a '<' inside a link";
			p = e;
		}
	}
	return NULL;
}

static const char *
v_text_obj(struct json_object *t, const char *want_type, size_t max,
    size_t *total)
{
	struct json_object *v;
	const char *s;

	if (!json_object_is_type(t, json_type_object))
		return "a text object is not an object";
	if (!json_object_object_get_ex(t, "type", &v) ||
	    strcmp(json_object_get_string(v), want_type) != 0)
		return "a text object of the wrong type";
	if (!json_object_object_get_ex(t, "text", &v) ||
	    !json_object_is_type(v, json_type_string))
		return "a text object without text";
	s = json_object_get_string(v);
	if (*s == '\0')
		return "an empty text";
	if (tl_u8_chars(s) > max || strlen(s) > max)
		return "a text over its limit";
	*total += tl_u8_chars(s);
	json_object_object_foreach(t, k, val)
	{
		(void)val;
		if (strcmp(k, "type") != 0 && strcmp(k, "text") != 0 &&
		    !(strcmp(k, "emoji") == 0 &&
			strcmp(want_type, "plain_text") == 0))
			return "an unknown member in a text object";
	}
	return strcmp(want_type, "mrkdwn") == 0 ? v_mrkdwn(s) : NULL;
}

static const char *
v_block(struct json_object *b, size_t *total, bool *saw_header)
{
	struct json_object *type;
	struct json_object *v;
	const char *e;
	const char *t;
	size_t i;

	if (!json_object_is_type(b, json_type_object) ||
	    !json_object_object_get_ex(b, "type", &type))
		return "a block without a type";
	t = json_object_get_string(type);
	if (strcmp(t, "header") == 0) {
		*saw_header = true;
		if (json_object_object_length(b) != 2 ||
		    !json_object_object_get_ex(b, "text", &v))
			return "a header is type and text";
		return v_text_obj(v, "plain_text", SLACK_MAX_HEADER, total);
	}
	if (strcmp(t, "section") == 0) {
		bool any = false;

		if (json_object_object_get_ex(b, "text", &v)) {
			any = true;
			e = v_text_obj(v, "mrkdwn", SLACK_MAX_SECTION, total);
			if (e != NULL)
				return e;
		}
		if (json_object_object_get_ex(b, "fields", &v)) {
			any = true;
			if (!json_object_is_type(v, json_type_array) ||
			    json_object_array_length(v) == 0 ||
			    json_object_array_length(v) > SLACK_MAX_FIELDS)
				return "fields: 1 to 10";
			for (i = 0; i < json_object_array_length(v); i++) {
				e = v_text_obj(json_object_array_get_idx(v, i),
				    "mrkdwn", SLACK_MAX_FIELD, total);
				if (e != NULL)
					return e;
			}
		}
		return any ? NULL : "a section with neither text nor fields";
	}
	if (strcmp(t, "context") == 0) {
		if (!json_object_object_get_ex(b, "elements", &v) ||
		    !json_object_is_type(v, json_type_array) ||
		    json_object_array_length(v) == 0 ||
		    json_object_array_length(v) > 10)
			return "context elements: 1 to 10";
		for (i = 0; i < json_object_array_length(v); i++) {
			e = v_text_obj(json_object_array_get_idx(v, i),
			    "mrkdwn", SLACK_MAX_SECTION, total);
			if (e != NULL)
				return e;
		}
		return NULL;
	}
	return "an unknown block type";
}

/* NULL when payload is a message Slack accepts, else what is wrong. */
static const char *
v_slack(const char *payload, size_t len)
{
	static char why[128];
	struct json_object *o;
	struct json_object *v;
	const char *e = NULL;
	size_t total = 0;
	bool saw_header = false;
	size_t i;

	o = tl_json_strict(payload, len);
	if (o == NULL)
		return "not strict JSON in valid UTF-8";
	if (!json_object_is_type(o, json_type_object))
		e = "not an object";
	json_object_object_foreach(o, k, val)
	{
		if (e != NULL)
			break;
		if (strcmp(k, "text") != 0 && strcmp(k, "blocks") != 0 &&
		    strcmp(k, "channel") != 0 && strcmp(k, "username") != 0 &&
		    strcmp(k, "icon_emoji") != 0)
			e = "an unknown top-level member";
		else if (!json_object_is_type(val,
			     strcmp(k, "blocks") == 0 ? json_type_array
						      : json_type_string))
			e = "a top-level member of the wrong type";
	}
	if (e == NULL &&
	    (!json_object_object_get_ex(o, "text", &v) ||
		json_object_get_string_len(v) == 0 ||
		strlen(json_object_get_string(v)) > SLACK_MAX_FALLBACK))
		e = "the fallback text: missing, empty or too long";
	if (e == NULL &&
	    (!json_object_object_get_ex(o, "blocks", &v) ||
		json_object_array_length(v) == 0 ||
		json_object_array_length(v) > SLACK_MAX_BLOCKS))
		e = "blocks: 1 to 50";
	for (i = 0; e == NULL && i < json_object_array_length(v); i++)
		e = v_block(json_object_array_get_idx(v, i), &total,
		    &saw_header);
	if (e == NULL && !saw_header)
		e = "no header";
	if (e == NULL && total > SLACK_MAX_BLOCK_TEXT) {
		(void)snprintf(why, sizeof(why), "%zu characters of block text",
		    total);
		e = why;
	}
	json_object_put(o);
	return e;
}

/* ---- rendering --------------------------------------------------------- */

static int
render(const char *json, const struct slack_opts *o, struct buf *out)
{
	struct sl_renderer rd = slack_rd;

	rd.opts = o;
	return sl_render(&rd, json, out);
}

/* The value of a top-level string member, or the text of block i's
 * member ("text.text", "fields", "elements"), as compact JSON. */
static char *
member(const char *payload, int block, const char *path)
{
	struct json_object *o = json_tokener_parse(payload);
	struct json_object *v = o;
	char *ret = NULL;

	if (block >= 0 &&
	    (!json_object_object_get_ex(o, "blocks", &v) ||
		(v = json_object_array_get_idx(v, (size_t)block)) == NULL))
		v = NULL;
	if (v != NULL)
		ret = tl_json_member(v, path);
	json_object_put(o);
	return ret;
}

static size_t
n_blocks(const char *payload)
{
	struct json_object *o = json_tokener_parse(payload);
	struct json_object *v;
	size_t n = 0;

	if (o != NULL && json_object_object_get_ex(o, "blocks", &v))
		n = json_object_array_length(v);
	json_object_put(o);
	return n;
}

static void
is_member(const char *payload, int block, const char *path, const char *want,
    const char *name)
{
	char *got = member(payload, block, path);

	is_str(got, want, "%s", name);
	free(got);
}

static void
has_member(const char *payload, int block, const char *path, const char *needle,
    const char *name)
{
	char *got = member(payload, block, path);

	if (!ok(got != NULL && strstr(got, needle) != NULL, "%s", name))
		diag_note("'%s' not in '%s'", needle, got ? got : "(none)");
	free(got);
}

static void
test_hostile(void)
{
	static const char nul[] = "{\"rule\":\"r\"\0}";
	struct slack_opts o;
	struct buf out;
	char big[SLACK_MAX_OPTION + 2];

	sl_want_render_fail(&slack_rd, LIT(""), -EBADMSG, "empty", "empty");
	sl_want_render_fail(&slack_rd, LIT("{\"rule\":"), -EBADMSG, "truncated",
	    "truncated");
	sl_want_render_fail(&slack_rd, LIT("not json"), -EBADMSG, "not JSON",
	    "not JSON");
	sl_want_render_fail(&slack_rd, LIT("{\"rule\":\"r\"} x"), -EBADMSG,
	    "not JSON", "trailing bytes");
	sl_want_render_fail(&slack_rd, nul, sizeof(nul) - 1, -EBADMSG, "NUL",
	    "a NUL byte");
	sl_want_render_fail(&slack_rd, LIT("[1,2]"), -EBADMSG,
	    "not a JSON object", "array");
	sl_want_render_fail(&slack_rd, LIT("{}"), -EBADMSG, "no rule id",
	    "no rule");
	sl_want_render_fail(&slack_rd, LIT("{\"rule\":\"\"}"), -EBADMSG,
	    "no rule id", "empty rule");
	sl_want_render_fail(&slack_rd, LIT("{\"rule\":7}"), -EBADMSG,
	    "'rule' is not a string", "numeric rule");
	sl_want_render_fail(&slack_rd,
	    LIT("{\"rule\":\"r\",\"severity\":\"fatal\"}"), -EBADMSG,
	    "unknown severity", "unknown severity");
	sl_want_render_fail(&slack_rd,
	    LIT("{\"rule\":\"r\",\"status\":\"open\"}"), -EBADMSG,
	    "unknown status", "unknown status");
	sl_want_render_fail(&slack_rd, LIT("{\"rule\":\"r\",\"count\":\"3\"}"),
	    -EBADMSG, "'count' is not an integer", "count as a string");
	sl_want_render_fail(&slack_rd, LIT("{\"rule\":\"r\",\"count\":-3}"),
	    -EBADMSG, "'count' is negative", "negative count");
	sl_want_render_fail(&slack_rd,
	    LIT("{\"rule\":\"r\",\"events\":\"e1\"}"), -EBADMSG,
	    "'events' is not an array", "events not an array");
	sl_want_render_fail(&slack_rd, LIT("{\"rule\":\"r\",\"test\":\"yes\"}"),
	    -EBADMSG, "'test' is not a boolean", "test not a boolean");
	sl_want_render_fail(&slack_rd,
	    LIT("{\"rule\":\"r\",\"record\":\"{}\"}"), -EBADMSG,
	    "'record' is not an object", "record as a string");
	sl_want_render_fail(&slack_rd,
	    LIT("{\"rule\":\"r\",\"title\":[\"t\"]}"), -EBADMSG,
	    "'title' is not a string", "title as an array");

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memset(&o, 0, sizeof(o));
	o.channel = big;
	buf_init(&out, SLACK_MAX_PAYLOAD);
	is_int(render(ALERT, &o, &out), -EINVAL,
	    "an over-long channel: -EINVAL");
	is_int((long long)out.len, 0, "an over-long channel: nothing out");
	memset(&o, 0, sizeof(o));
	buf_done(&out);
	/* A ceiling too small: -E2BIG, out as it was. */
	buf_init(&out, 100);
	is_int(render(ALERT, &o, &out), -E2BIG, "a small buffer: -E2BIG");
	is_int((long long)out.len, 0, "a small buffer: out as it was");
	buf_done(&out);
}

/* ---- the shared text helpers ------------------------------------------- */

static void
test_text(void)
{
	struct buf t;
	int r;

	buf_init(&t, 4096);
	r = text_append(&t, "a<b>&c", 6, 100, TEXT_MRKDWN);
	is_int(r, 0, "text: fits");
	is_str(t.data, "a&lt;b&gt;&amp;c", "text: mrkdwn escapes");
	buf_reset(&t);
	/* "é" is 2 bytes: 5 of them in 8 bytes is 2 and the ellipsis. */
	r = text_append(&t, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 10, 8,
	    0);
	is_int(r, 1, "text: cut says so");
	is_str(t.data, "\xc3\xa9\xc3\xa9\xe2\x80\xa6",
	    "text: cut on a character boundary, then U+2026");
	buf_reset(&t);
	r = text_append(&t, "\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 8, 7, 0);
	is_str(t.data, "\xf0\x9f\x98\x80\xe2\x80\xa6",
	    "text: a 4-byte character is never split");
	buf_reset(&t);
	r = text_append(&t, "ab&cd", 5, 8, TEXT_MRKDWN);
	is_str(t.data, "ab\xe2\x80\xa6", "text: an entity is never split");
	buf_reset(&t);
	r = text_append(&t,
	    "a\xff"
	    "b\xc3(\xed\xa0\x80"
	    "c",
	    9, 100, 0);
	is_str(t.data,
	    "a\xef\xbf\xbd"
	    "b\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	    "c",
	    "text: invalid UTF-8 and surrogates become U+FFFD");
	buf_reset(&t);
	r = text_append(&t, "a\nb\tc\001d", 7, 100, 0);
	is_str(t.data, "a\nb\tc d", "text: controls but newline, tab: space");
	buf_reset(&t);
	r = text_append(&t, "a\nb\tc", 5, 100, TEXT_ONELINE);
	is_str(t.data, "a b c", "text: one line");
	buf_reset(&t);
	r = text_json(&t, "q\"\\\n\xe2\x82\xac", 7, 100, 0);
	is_int(r, 0, "json text: ok");
	is_str(t.data, "\"q\\\"\\\\\\n\xe2\x82\xac\"",
	    "json text: quotes, backslashes, newlines escaped");
	ok(text_clean("arn:aws:\xc3\xa9", 10), "clean: UTF-8 is clean");
	ok(!text_clean("a\nb", 3), "clean: a newline is not");
	ok(!text_clean("a\xff", 2), "clean: bad UTF-8 is not");
	buf_reset(&t);
	is_int(text_url_encode(&t, "a b/c:d?e&f=g~h.i_j-k\xc3\xa9"), 0,
	    "url encode");
	is_str(t.data, "a%20b%2Fc%3Ad%3Fe%26f%3Dg~h.i_j-k%C3%A9",
	    "url encode: all but unreserved");
	buf_reset(&t);
	is_int(alert_console_event_url(&t, "eu-west-1", EVID), 0,
	    "console event url");
	is_str(t.data,
	    "https://eu-west-1.console.aws.amazon.com/cloudtrail/home?region=eu-west-1#/events/" EVID,
	    "console event url: the documented form");
	buf_reset(&t);
	is_int(alert_console_secret_url(&t, "eu-west-1", "prod/db"), 0,
	    "console secret url");
	is_str(t.data,
	    "https://eu-west-1.console.aws.amazon.com/secretsmanager/secret?name=prod%2Fdb&region=eu-west-1",
	    "console secret url: name encoded");
	buf_reset(&t);
	is_int(alert_console_event_url(&t, "cn-north-1", EVID), 0,
	    "console event url, China");
	is_str(t.data,
	    "https://cn-north-1.console.amazonaws.cn/cloudtrail/home?region=cn-north-1#/events/" EVID,
	    "console event url: China's partition has its own hosts");
	buf_reset(&t);
	is_int(alert_console_secret_url(&t, "us-gov-west-1", "db"), 0,
	    "console secret url, GovCloud");
	is_str(t.data,
	    "https://console.amazonaws-us-gov.com/secretsmanager/secret?name=db&region=us-gov-west-1",
	    "console secret url: GovCloud's one host, the region in the query");
	buf_reset(&t);
	is_int(alert_console_event_url(&t, "eu-west-1/../evil.example#", EVID),
	    -EINVAL, "console url: a region with a path is refused");
	is_int(alert_console_event_url(&t, "EU", EVID), -EINVAL,
	    "console url: not a region");
	is_int(alert_console_secret_url(&t, "eu-west-1", NULL), -EINVAL,
	    "console url: no secret");
	is_int((long long)t.len, 0, "console url: nothing appended on failure");
	buf_done(&t);
}

/* ---- shapes ------------------------------------------------------------ */

static const char golden[] =
    "{\"channel\":\"#sec-alerts\",\"username\":\"smtrail\","
    "\"icon_emoji\":\":lock:\","
    "\"text\":\"<!here> CRITICAL: Secret read by another account: "
    "GetSecretValue on prod/db by " MALLORY "\","
    "\"blocks\":["
    "{\"type\":\"header\",\"text\":{\"type\":\"plain_text\",\"text\":"
    "\":rotating_light: CRITICAL: Secret read by another account\","
    "\"emoji\":true}},"
    "{\"type\":\"section\",\"text\":{\"type\":\"mrkdwn\",\"text\":"
    "\"<!here> GetSecretValue on prod/db by " MALLORY "\"}},"
    "{\"type\":\"section\",\"fields\":["
    "{\"type\":\"mrkdwn\",\"text\":\"*Account*\\n123456789012\"},"
    "{\"type\":\"mrkdwn\",\"text\":\"*Region*\\neu-west-1\"},"
    "{\"type\":\"mrkdwn\",\"text\":\"*Secret*\\n" SECRET_ARN "\"},"
    "{\"type\":\"mrkdwn\",\"text\":\"*Principal*\\n" MALLORY "\"},"
    "{\"type\":\"mrkdwn\",\"text\":\"*Source IP*\\n203.0.113.7\"},"
    "{\"type\":\"mrkdwn\",\"text\":\"*Event time*\\n2024-05-01T12:34:56Z\"},"
    "{\"type\":\"mrkdwn\",\"text\":\"*Event*\\nGetSecretValue\"}]},"
    "{\"type\":\"section\",\"text\":{\"type\":\"mrkdwn\",\"text\":"
    "\"<https://eu-west-1.console.aws.amazon.com/cloudtrail/home?region=eu-west-1#/events/" EVID
    "|CloudTrail event>  |  "
    "<https://eu-west-1.console.aws.amazon.com/secretsmanager/secret?name="
    "arn%3Aaws%3Asecretsmanager%3Aeu-west-1%3A123456789012%3Asecret%3Aprod%2Fdb-AbCdEf"
    "&amp;region=eu-west-1|Secret in Secrets Manager>\"}},"
    "{\"type\":\"context\",\"elements\":["
    "{\"type\":\"mrkdwn\",\"text\":\"Rule: secret-read-external\"},"
    "{\"type\":\"mrkdwn\",\"text\":\"Event: " EVID "\"}]}"
    "]}";

static void
test_shapes(void)
{
	struct slack_opts o;
	struct buf out;
	const char *why;
	char *s;
	int r;

	buf_init(&out, SLACK_MAX_PAYLOAD);
	memset(&o, 0, sizeof(o));
	o.channel = "#sec-alerts";
	o.username = "smtrail";
	o.icon_emoji = ":lock:";
	o.mention = "<!here>";

	/* Firing, every option set: the exact message. */
	is_int(render(ALERT, &o, &out), 0, "firing: rendered");
	is_str(out.data, golden, "firing: the exact message");
	why = v_slack(out.data, out.len);
	is_str(why, NULL, "firing: valid Block Kit");

	/* No options: none of them in the message, no mention anywhere. */
	memset(&o, 0, sizeof(o));
	is_int(render(ALERT, &o, &out), 0, "no options: rendered");
	is_str(v_slack(out.data, out.len), NULL, "no options: valid");
	ok(strstr(out.data, "\"channel\"") == NULL &&
		strstr(out.data, "\"username\"") == NULL &&
		strstr(out.data, "\"icon_emoji\"") == NULL,
	    "no options: no channel, username, icon_emoji");
	ok(strstr(out.data, "<!") == NULL, "no options: no mention");
	is_member(out.data, 1, "text.text",
	    "GetSecretValue on prod/db by " MALLORY,
	    "no options: the summary alone");

	/* Resolved: "Resolved: <title>", green, the mention kept. */
	o.mention = "<!here>";
	s = sl_variant(ALERT_HEAD, "\"status\":\"resolved\"");
	is_int(render(s, &o, &out), 0, "resolved: rendered");
	is_str(v_slack(out.data, out.len), NULL, "resolved: valid");
	is_member(out.data, 0, "text.text",
	    ":white_check_mark: Resolved: Secret read by another account",
	    "resolved: the header");
	has_member(out.data, -1, "text",
	    "<!here> Resolved: Secret read by another account",
	    "resolved: the fallback (mention on every message)");
	ok(strstr(out.data, "CRITICAL") == NULL, "resolved: no severity shout");
	free(s);

	/* Grouped: "12 events", the first 10 ids, "and 2 more". */
	s = sl_variant(ALERT_HEAD,
	    "\"count\":12,\"events\":[\"e01\",\"e02\",\"e03\","
	    "\"e04\",\"e05\",\"e06\",\"e07\",\"e08\",\"e09\",\"e10\","
	    "\"e11\",\"e12\"]");
	is_int(render(s, &o, &out), 0, "grouped: rendered");
	is_str(v_slack(out.data, out.len), NULL, "grouped: valid");
	is_member(out.data, 2, "text.text",
	    "*12 events*: e01, e02, e03, e04, e05, e06, e07, e08, e09, e10 "
	    "and 2 more",
	    "grouped: the count and a cut list of eventIDs");
	has_member(out.data, -1, "text", "(12 events)",
	    "grouped: the fallback says how many");
	free(s);
	/* events alone make a group of their number */
	s = sl_variant(ALERT_HEAD, "\"events\":[\"e<1>\",\"e2\"]");
	is_int(render(s, &o, &out), 0, "grouped by events: rendered");
	is_member(out.data, 2, "text.text", "*2 events*: e&lt;1&gt;, e2",
	    "grouped by events: counted, ids escaped");
	free(s);

	/* Suppressed: "N more since <time>". */
	s = sl_variant(ALERT_HEAD,
	    "\"suppressed\":7,\"suppressed_since\":"
	    "\"2024-05-01T12:00:00Z\"");
	is_int(render(s, &o, &out), 0, "suppressed: rendered");
	is_str(v_slack(out.data, out.len), NULL, "suppressed: valid");
	is_member(out.data, 2, "elements",
	    "[{\"type\":\"mrkdwn\",\"text\":\":mute: 7 more since "
	    "2024-05-01T12:00:00Z\"}]",
	    "suppressed: the context line");
	free(s);

	/* Test: marked in the header, the fallback and a context line. */
	s = sl_variant(ALERT_HEAD, "\"test\":true");
	is_int(render(s, &o, &out), 0, "test: rendered");
	is_str(v_slack(out.data, out.len), NULL, "test: valid");
	is_member(out.data, 0, "text.text",
	    "[TEST] :rotating_light: CRITICAL: Secret read by another account",
	    "test: the header says TEST");
	has_member(out.data, 1, "elements", "smtrail test-destination",
	    "test: a context line says where it came from");
	has_member(out.data, -1, "text", "<!here> [TEST] CRITICAL",
	    "test: the fallback says TEST");
	free(s);

	/* Everything at once still fits. */
	s = sl_variant(ALERT_HEAD,
	    "\"status\":\"resolved\",\"test\":true,\"count\":3,"
	    "\"events\":[\"a\",\"b\",\"c\"],\"suppressed\":2,"
	    "\"accountAlias\":\"prod & co\",\"values\":[\"s1\",\"s<2>\"],"
	    "\"readers\":[{\"principal\":\"arn:aws:iam::1:user/u1\","
	    "\"lastRead\":\"2026-11-25T09:00:00Z\"},{\"principal\":\"u2\"}]");
	is_int(render(s, &o, &out), 0, "all shapes: rendered");
	is_str(v_slack(out.data, out.len), NULL, "all shapes: valid");
	is_int((long long)n_blocks(out.data), 8, "all shapes: 8 blocks");
	has_member(out.data, 5, "fields", "123456789012 (prod &amp; co)",
	    "the account alias, escaped");
	has_member(out.data, 5, "fields", "*Distinct values*\\ns1, s&lt;2&gt;",
	    "a distinct rule's values, escaped");
	has_member(out.data, 5, "fields",
	    "*Read lately by*\\narn:aws:iam::1:user/u1 (2026-11-25T09:00:00Z), "
	    "u2 (?)",
	    "who read the secret lately");
	free(s);
	s = sl_variant(ALERT_HEAD, "\"readers\":[]");
	is_int(render(s, &o, &out), 0, "no readers: rendered");
	ok(strstr(out.data, "*Read lately by*\\nnobody lately") != NULL,
	    "no readers: said so");
	free(s);

	/* Missing fields: only a rule id. */
	r = render("{\"rule\":\"lonely\"}", &o, &out);
	is_int(r, 0, "missing fields: rendered");
	is_str(v_slack(out.data, out.len), NULL, "missing fields: valid");
	is_member(out.data, 0, "text.text", ":warning: WARNING: lonely",
	    "missing fields: title from the rule id, severity warning");
	is_int((long long)n_blocks(out.data), 3,
	    "missing fields: header, mention, context; no empty sections");
	/* ...and the nulls alert_json() writes for what a record lacks. */
	r = render("{\"rule\":\"r\",\"title\":\"t\",\"severity\":\"info\","
		   "\"summary\":null,\"eventID\":null,\"eventName\":null,"
		   "\"eventTime\":null,\"awsRegion\":null,"
		   "\"recipientAccountId\":null,\"secretId\":null,"
		   "\"principal\":null,\"sourceIPAddress\":null,"
		   "\"errorCode\":null,\"group\":\"\",\"record\":{}}",
	    NULL, &out);
	is_int(r, 0, "nulls: rendered");
	is_str(v_slack(out.data, out.len), NULL, "nulls: valid");
	is_int((long long)n_blocks(out.data), 2, "nulls: header and context");
	ok(strstr(out.data, "console.aws") == NULL, "nulls: no links");
	buf_done(&out);
}

/* Long text in every field, multibyte and invalid UTF-8, and markup. */
static void
test_huge(void)
{
	static const char *const members[] = {"summary", "principal",
	    "secretId", "eventID", "rule", "accountAlias", "errorCode",
	    "suppressed_since", NULL};
	struct json_object *o;
	struct slack_opts so;
	struct buf b;
	struct buf out;
	char *title;
	char *hdr;
	size_t i;

	buf_init(&b, 1u << 20);
	for (i = 0; i < 400; i++)
		if (buf_puts(&b, "\xc3\xa9\xf0\x9f\x94\x91<&>") < 0)
			break;
	title = strdup(b.data);
	for (i = 0; i < 2000; i++)
		if (buf_puts(&b, "\xe6\xbc\xa2\xff*_~`") < 0)
			break;
	o = sl_huge(ALERT, b.data, members, 500, 1);
	json_object_object_add(o, "title", json_object_new_string(title));
	free(title);
	json_object_object_add(o, "suppressed", json_object_new_int(3));
	json_object_object_add(o, "count", json_object_new_int(500));
	json_object_object_add(o, "test", json_object_new_boolean(1));
	{
		struct json_object *vals = json_object_new_array();
		struct json_object *rds = json_object_new_array();

		for (i = 0; i < 4; i++) /* the alert stays under 256 KiB */
			json_object_array_add(vals,
			    json_object_new_string(b.data + i));
		for (i = 0; i < 3; i++) {
			struct json_object *e = json_object_new_object();

			json_object_object_add(e, "principal",
			    json_object_new_string(b.data + i));
			json_object_object_add(e, "lastRead",
			    json_object_new_string(b.data));
			json_object_array_add(rds, e);
		}
		json_object_object_add(o, "values", vals);
		json_object_object_add(o, "readers", rds);
	}
	memset(&so, 0, sizeof(so));
	so.mention = "<!channel>";
	so.channel = "#\xc3\xa9quipe";
	buf_init(&out, SLACK_MAX_PAYLOAD);
	is_int(render(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
		   &so, &out),
	    0, "huge: rendered");
	is_str(v_slack(out.data, out.len), NULL,
	    "huge: valid: UTF-8, every limit, block text under 12000");
	hdr = member(out.data, 0, "text.text");
	ok(hdr != NULL && strlen(hdr) <= SLACK_MAX_HEADER,
	    "huge: header cut to %d bytes", SLACK_MAX_HEADER);
	ok(hdr != NULL && strstr(hdr, "\xe2\x80\xa6") != NULL,
	    "huge: the cut shows");
	free(hdr);
	ok(out.len < 64u << 10, "huge: the payload stays small (%zu bytes)",
	    out.len);
	json_object_put(o);
	buf_done(&b);
	buf_done(&out);
}

/* ---- end to end -------------------------------------------------------- */

static struct sink *
slack_sink(struct event_base *base, struct http *h, const char *url,
    unsigned rate_count)
{
	return tl_sink_new(base, h, "slack", "slack-ops", rate_count, "url",
	    url, "channel", "#ops", "mention", "<!here>", NULL);
}

static void
no_secret(const struct tl_outcome *g, const char *name)
{
	ok(strstr(g->o.detail, HOOK_TOKEN) == NULL &&
		strstr(g->o.detail, "/services/") == NULL &&
		strstr(g->o.detail, "T0000/B0000") == NULL,
	    "%s: no part of the URL in the detail", name);
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
	struct buf want;
	struct slack_opts so;
	uint64_t t0;
	int i;

	sl_e2e_start(&t, HOOK_PATH);
	base = t.base;
	h = t.h;

	/* Refused without a url, and a type needs its url. */
	{
		struct sink_conf c;
		struct diag e;

		tl_sink_conf(&c, "slack", "s");
		sl_refused(&t, &c,
		    "destination 's': a slack destination needs a url",
		    "a slack sink needs a url");
		memset(&e, 0, sizeof(e));
		tl_sink_opt(&c, "url", t.url);
		c.rate_count = 3;
		is_int(sink_new(&c, base, h, &s, &e), -EINVAL,
		    "a rate count needs a period");
		c.rate_count = 0;
		{
			char big[SLACK_MAX_OPTION + 2];

			memset(big, 'x', sizeof(big) - 1);
			big[sizeof(big) - 1] = '\0';
			tl_sink_opt(&c, "mention", big);
			is_int(sink_new(&c, base, h, &s, &e), -EINVAL,
			    "an over-long mention: -EINVAL");
			is_str(e.msg,
			    "destination 's': 'mention' is longer than 256 bytes",
			    "the kind's check says why");
		}
	}

	/* 200 ok: delivered; the body is the rendered message. */
	tl_rcv_ok(&t.rv);
	s = slack_sink(base, h, t.url, 0);
	ok(s != NULL, "slack sink (default rate 1/s)");
	is_str(sink_type_str(sink_type(s)), "slack", "its type");
	sl_expect(base, s, ALERT, &g, SINK_DELIVERED, 200, "HTTP 200", "200");
	no_secret(&g, "200 ok");
	is_str(t.rv.ctype, "application/json", "200 ok: Content-Type");
	buf_init(&want, SLACK_MAX_PAYLOAD);
	memset(&so, 0, sizeof(so));
	so.channel = "#ops";
	so.mention = "<!here>";
	is_int(slack_payload(ALERT, strlen(ALERT), &so, &want, NULL), 0,
	    "render for comparison");
	is_str(t.rv.body[0], want.data, "200 ok: the body is slack_payload's");
	buf_done(&want);
	sink_free(s);

	/* 429 with Retry-After: 2: retry, and the destination pauses. */
	{
		static const struct tl_reply r429[] = {
		    {429, "rate_limited", "2"}, {200, "ok", NULL}};

		tl_rcv_reset(&t.rv, r429, 2);
	}
	s = slack_sink(base, h, t.url, 0);
	tl_send_one(s, ALERT, &g, "429");
	tl_outcome_wait(base, &g);
	is_int(g.o.result, SINK_RETRY, "429: retry");
	is_int(g.o.status, 429, "429: status");
	is_int((long long)g.o.retry_after_ms, 2000, "429: retry_after_ms");
	is_str(g.o.detail, "HTTP 429: rate_limited", "429: detail");
	no_secret(&g, "429");
	t0 = g.t_us;
	tl_send_one(s, ALERT, &g, "after 429");
	is_int((long long)sink_waiting(s), 1, "after 429: held back");
	tl_outcome_wait(base, &g);
	is_int(g.o.result, SINK_DELIVERED, "after 429: delivered");
	ok(t.rv.hits == 2 && t.rv.t_us[1] - t.rv.t_us[0] >= 2000000u,
	    "after 429: the next request came >= 2 s later (%.3f s)",
	    (double)(t.rv.t_us[1] - t.rv.t_us[0]) / 1e6);
	ok(g.t_us - t0 >= 1990000u,
	    "after 429: delivered >= 2 s after the 429 (%.3f s)",
	    (double)(g.t_us - t0) / 1e6);
	sink_free(s);

	/* The rate: 3 sends at 1/s take >= 2 s, in order. */
	tl_rcv_ok(&t.rv);
	s = slack_sink(base, h, t.url, 0);
	memset(g3, 0, sizeof(g3));
	t0 = tl_now_us();
	for (i = 0; i < 3; i++) {
		char *v = NULL;
		char ev[32];

		(void)snprintf(ev, sizeof(ev), "\"eventID\":\"ev-%d\"", i);
		v = sl_variant(ALERT_HEAD, ev);
		is_int(sink_send(s, v, strlen(v), tl_outcome_cb, &g3[i]), 0,
		    "rate: send %d", i);
		free(v);
	}
	is_int((long long)sink_waiting(s), 2, "rate: two wait in the sink");
	tl_outcome_wait(base, &g3[2]);
	ok(g3[0].done == 1 && g3[1].done == 1 && g3[2].done == 1,
	    "rate: each ended once");
	ok(g3[0].o.result == SINK_DELIVERED &&
		g3[1].o.result == SINK_DELIVERED &&
		g3[2].o.result == SINK_DELIVERED,
	    "rate: all delivered");
	ok(g3[0].order < g3[1].order && g3[1].order < g3[2].order,
	    "rate: in the order sent");
	ok(g3[2].t_us - t0 >= 2000000u, "rate: 3 sends took >= 2 s (%.3f s)",
	    (double)(g3[2].t_us - t0) / 1e6);
	ok(t.rv.hits == 3 && strstr(t.rv.body[0], "ev-0") != NULL &&
		strstr(t.rv.body[2], "ev-2") != NULL,
	    "rate: the receiver saw them in order");
	sink_free(s);

	/* 4xx: permanent, with Slack's word for it; 5xx: retry. */
	{
		static const struct tl_reply r4[] = {
		    {400, "invalid_payload", NULL}, {404, "no_service", NULL},
		    {410, "channel_is_archived", NULL},
		    {403, "action_prohibited for " HOOK_PATH, NULL},
		    {500, "rollup_error", NULL}};
		static const char *const want4[] = {"HTTP 400: invalid_payload",
		    "HTTP 404: no_service", "HTTP 410: channel_is_archived",
		    "HTTP 403: action_prohibited for [redacted]",
		    "HTTP 500: rollup_error"};

		tl_rcv_reset(&t.rv, r4, 5);
		s = slack_sink(base, h, t.url, 100);
		for (i = 0; i < 5; i++) {
			tl_send_one(s, ALERT, &g, want4[i]);
			tl_outcome_wait(base, &g);
			is_int(g.o.result, i < 4 ? SINK_PERMANENT : SINK_RETRY,
			    "%s: %s", want4[i], i < 4 ? "permanent" : "retry");
			is_str(g.o.detail, want4[i], "%s: the detail",
			    want4[i]);
			no_secret(&g, want4[i]);
		}
		sink_free(s);
	}

	/* An alert it cannot render: permanent, no request. */
	tl_rcv_ok(&t.rv);
	s = slack_sink(base, h, t.url, 0);
	tl_send_one(s, "{\"rule\":", &g, "unrenderable");
	tl_outcome_wait(base, &g);
	is_int(g.o.result, SINK_PERMANENT, "unrenderable: permanent");
	is_int(g.o.error, -EBADMSG, "unrenderable: -EBADMSG");
	is_str(g.o.detail,
	    "cannot render the alert: alert: not JSON: truncated at byte 8",
	    "unrenderable: why");
	is_int(t.rv.hits, 0, "unrenderable: nothing sent");
	no_secret(&g, "unrenderable");
	sink_free(s);

	/* Refused connection: retry; the curl message names no secret. */
	{
		char bad[128];

		(void)snprintf(bad, sizeof(bad),
		    "http://127.0.0.1:1" HOOK_PATH);
		s = slack_sink(base, h, bad, 0);
		tl_send_one(s, ALERT, &g, "refused");
		tl_outcome_wait(base, &g);
		is_int(g.o.result, SINK_RETRY, "refused: retry");
		is_int(g.o.error, -ECONNREFUSED, "refused: the error");
		no_secret(&g, "refused");
		sink_free(s);
	}

	/* Freed with one in flight and two waiting: no callbacks. */
	tl_rcv_ok(&t.rv);
	s = slack_sink(base, h, t.url, 0);
	memset(g3, 0, sizeof(g3));
	for (i = 0; i < 3; i++)
		is_int(
		    sink_send(s, ALERT, strlen(ALERT), tl_outcome_cb, &g3[i]),
		    0, "free: send %d", i);
	is_int((long long)sink_waiting(s), 2, "free: two waiting");
	sink_free(s);
	tl_run_for(base, 1500);
	is_int(g3[0].done + g3[1].done + g3[2].done, 0,
	    "freed sink: no callback, in flight or waiting");
	ok(t.rv.hits <= 1, "freed sink: the waiting ones were never sent");

	sl_e2e_done(&t);
}

int
main(void)
{
	test_hostile();
	test_text();
	test_shapes();
	test_huge();
	sl_test_corpus(&slack_rd, "error");
	test_e2e();
	return done_testing();
}
