/*
 * test_alert.c: building an alert from a rule and a record, and its JSON.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "alert.h"
#include "buf.h"
#include "diag.h"
#include "rules.h"
#include "tap.h"
#include "testlib.h"

static const char rules_text[] =
    "rules:\n"
    "  - id: deleted\n"
    "    title: Secret scheduled for deletion\n"
    "    severity: critical\n"
    "    match:\n"
    "      eventName: DeleteSecret\n"
    "    summary: \"{{userIdentity.arn}} deleted {{secretId}} "
    "({{requestParameters.recoveryWindowInDays}} days)\"\n"
    "  - id: plain\n"
    "    match:\n"
    "      eventName: {exists: true}\n"
    "    group_by: [awsRegion, eventName]\n";

static const char record_text[] =
    "{\"eventID\":\"e-1\",\"eventName\":\"DeleteSecret\","
    "\"eventTime\":\"2026-11-25T09:06:00Z\",\"awsRegion\":\"us-east-1\","
    "\"recipientAccountId\":\"123456789012\","
    "\"eventSource\":\"secretsmanager.amazonaws.com\","
    "\"sourceIPAddress\":\"203.0.113.7\","
    "\"userIdentity\":{\"arn\":\"arn:aws:iam::123456789012:user/m\"},"
    "\"requestParameters\":{\"secretId\":\"prod/\\\"k\\\"\","
    "\"recoveryWindowInDays\":7}}";

int
main(void)
{
	struct rules *rs = NULL;
	struct json_object *rec;
	struct alert a;
	struct buf b;
	int r;

	if (!is_int(tl_rules(rules_text, &rs), 0, "rules load"))
		return done_testing();
	rec = json_tokener_parse(record_text);
	ok(rec != NULL, "record parses");
	buf_init(&b, 1 << 20);

	r = alert_build(rules_find(rs, "deleted"), rec, &a);
	is_int(r, 0, "alert_build");
	is_str(a.summary,
	    "arn:aws:iam::123456789012:user/m deleted prod/\"k\" (7 days)",
	    "summary rendered, numbers as text");
	is_str(a.group, "prod/\"k\"", "default group key is the secret");
	is_str(a.error_code, NULL, "absent field stays NULL");
	is_int(alert_json(&a, false, &b), 0, "alert_json");
	is_str(b.data,
	    "{\"rule\":\"deleted\",\"title\":\"Secret scheduled for "
	    "deletion\",\"severity\":\"critical\",\"summary\":"
	    "\"arn:aws:iam::123456789012:user/m deleted prod/\\\"k\\\" (7 "
	    "days)\",\"eventID\":\"e-1\",\"eventName\":\"DeleteSecret\","
	    "\"eventTime\":\"2026-11-25T09:06:00Z\",\"awsRegion\":"
	    "\"us-east-1\",\"recipientAccountId\":\"123456789012\","
	    "\"secretId\":\"prod/\\\"k\\\"\",\"principal\":"
	    "\"arn:aws:iam::123456789012:user/m\",\"sourceIPAddress\":"
	    "\"203.0.113.7\",\"errorCode\":null,\"group\":\"prod/\\\"k\\\"\"}",
	    "exact JSON line");
	buf_reset(&b);
	is_int(alert_json(&a, true, &b), 0, "alert_json with record");
	{
		struct json_object *o = json_tokener_parse(b.data);
		struct json_object *raw = NULL;

		ok(o != NULL, "with record: valid JSON");
		ok(o != NULL && json_object_object_get_ex(o, "record", &raw) &&
			json_object_equal(raw, rec),
		    "with record: the raw record, equal to the input");
		json_object_put(o);
	}
	alert_done(&a);

	r = alert_build(rules_find(rs, "plain"), rec, &a);
	is_int(r, 0, "alert_build, second rule");
	is_str(a.title, "plain", "title defaults to the id");
	is_str(a.group, "us-east-1/DeleteSecret", "group_by joined with /");
	alert_done(&a);
	alert_done(&a);
	ok(1, "alert_done twice is harmless");

	/* A hostile, huge field: the alert survives, its text is cut. */
	{
		struct json_object *big = json_object_get(rec);
		char *huge = malloc(200000);

		memset(huge, 'x', 199999);
		huge[199999] = '\0';
		huge[5] = '\xc3'; /* a UTF-8 sequence is never cut in half */
		huge[6] = '\xa9';
		json_object_object_add(
		    json_object_object_get(big, "userIdentity"), "arn",
		    json_object_new_string(huge));
		r = alert_build(rules_find(rs, "deleted"), big, &a);
		is_int(r, 0, "huge field: the alert is still built");
		ok(a.summary != NULL && strlen(a.summary) <= 64 * 1024 &&
			strcmp(a.summary + strlen(a.summary) - 3, "...") == 0,
		    "huge field: summary cut to the ceiling, marked '...'");
		alert_done(&a);
		free(huge);
		json_object_put(big);
	}

	buf_done(&b);
	json_object_put(rec);
	rules_free(rs);
	return done_testing();
}
