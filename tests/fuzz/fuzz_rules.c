/*
 * fuzz_rules.c: the rules loader (rules.h) on any bytes as a rules file,
 * from memory (rules_load_buffer(); strict or not, as a hash of the input
 * says), and, when the file loads, every rule against a few fixed records:
 * match, resolve_on, summary, group key and the alert built from them.
 *
 * Loaders count and discard (STYLE.md): a load that fails must leave *ret
 * alone, and one that succeeds must have reported no error. A broken
 * promise aborts. The records are odd on purpose: wrong types, nulls,
 * arrays where strings are expected, an IPv4-mapped address, big numbers.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "alert.h"
#include "buf.h"
#include "diag.h"
#include "fuzz.h"
#include "bounds.h"
#include "rules.h"

static const char *const fr_record_text[] = {
    "{\"eventVersion\":\"1.08\",\"eventSource\":"
    "\"secretsmanager.amazonaws.com\",\"eventName\":\"GetSecretValue\","
    "\"eventID\":\"e-1\",\"eventTime\":\"2026-11-25T09:10:00Z\","
    "\"awsRegion\":\"us-east-1\",\"recipientAccountId\":\"123456789012\","
    "\"sourceIPAddress\":\"::ffff:10.1.2.3\",\"readOnly\":true,"
    "\"errorCode\":\"AccessDenied\",\"errorMessage\":\"User is not "
    "authorized\",\"userIdentity\":{\"type\":\"IAMUser\",\"arn\":"
    "\"arn:aws:iam::123456789012:user/a\"},\"requestParameters\":"
    "{\"secretId\":\"prod/db\"},\"resources\":[{\"ARN\":\"arn:x\","
    "\"accountId\":\"123456789012\"}]}",
    "{\"eventSource\":\"secretsmanager.amazonaws.com\",\"eventName\":"
    "\"DeleteSecret\",\"eventID\":\"e-2\",\"sourceIPAddress\":"
    "\"203.0.113.7\",\"requestParameters\":{\"secretId\":\"s\","
    "\"recoveryWindowInDays\":7,\"forceDeleteWithoutRecovery\":false},"
    "\"responseElements\":{\"aRN\":\"arn:aws:secretsmanager:us-east-1:"
    "123456789012:secret:s\",\"deletionDate\":\"May 3, 2018 5:51:02 PM\"},"
    "\"userIdentity\":{\"type\":\"Root\",\"arn\":null}}",
    "{\"eventName\":42,\"eventID\":[\"x\"],\"errorCode\":null,"
    "\"sourceIPAddress\":\"secretsmanager.amazonaws.com\",\"readOnly\":"
    "\"true\",\"eventVersion\":1.5e308,\"additionalEventData\":"
    "{\"SecretId\":\"\"},\"requestParameters\":{\"secretId\":{\"a\":1},"
    "\"name\":\"n\"},\"resources\":[],\"userIdentity\":\"root\"}",
    "{}",
};

#define FR_NRECORDS (sizeof(fr_record_text) / sizeof(fr_record_text[0]))

static struct json_object *fr_records[FR_NRECORDS];
/* Calls that refused odd input (allowed): a counter, for a debugger. */
static unsigned long fr_failed;

static void
fr_teardown(void)
{
	size_t i;

	for (i = 0; i < FR_NRECORDS; i++) {
		(void)json_object_put(fr_records[i]);
		fr_records[i] = NULL;
	}
}

static void
fr_setup(void)
{
	size_t i;

	if (fr_records[0] != NULL)
		return;
	for (i = 0; i < FR_NRECORDS; i++) {
		fr_records[i] = json_tokener_parse(fr_record_text[i]);
		if (fr_records[i] == NULL) {
			(void)fprintf(stderr, "fuzz_rules: record %zu\n", i);
			abort();
		}
	}
	(void)atexit(fr_teardown);
}

static void
fr_broken(const char *what, int r)
{
	(void)fprintf(stderr, "fuzz_rules: %s (r = %d)\n", what, r);
	abort();
}

/* One rule against one record, as daemon.c's match_record() would. */
static void
fr_eval(const struct rule *rule, struct json_object *rec, struct buf *b)
{
	struct alert a;
	bool hit;

	hit = rules_match_eval(rule->match, rec);
	if (rule->resolve_on != NULL)
		hit = rules_match_eval(rule->resolve_on, rec) || hit;
	buf_reset(b);
	fr_failed += rules_render_summary(rule, rec, b) < 0;
	buf_reset(b);
	fr_failed += rules_group_key(rule, rec, b) < 0;
	if (!hit || alert_build(rule, rec, &a) < 0)
		return;
	buf_reset(b);
	fr_failed += alert_json(&a, true, b) < 0;
	alert_done(&a);
}

static void
fr_use(const struct rules *rs)
{
	struct buf b;
	size_t i;
	size_t k;

	buf_init(&b, ALERT_MAX_JSON + (1u << 20));
	for (i = 0; i < rules_count(rs); i++) {
		const struct rule *rule = rules_get(rs, i);

		if (rules_find(rs, rule->id) != rule)
			fr_broken("rules_find() does not find a rule's id", 0);
		(void)rules_severity_str(rule->severity);
		for (k = 0; k < FR_NRECORDS; k++)
			fr_eval(rule, fr_records[k], &b);
	}
	buf_done(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct diag_list dl; /* 26 KB: not on the stack */
	struct rules *rs = NULL;
	char line[700];
	unsigned i;
	int r;

	fr_setup();
	memset(&dl, 0, sizeof(dl));
	r = rules_load_buffer("fuzz-rules.yaml", (const char *)data, size,
	    (fuzz_hash(data, size) & 1) != 0, &rs, &dl);
	for (i = 0; i < dl.n; i++)
		(void)diag_format(&dl.items[i], line, sizeof(line));
	if (r < 0) {
		if (rs != NULL)
			fr_broken("refused, yet *ret was set", r);
		return 0;
	}
	if (rs == NULL || dl.errors != 0)
		fr_broken("loaded, yet NULL or with errors", r);
	fr_use(rs);
	rules_free(rs);
	return 0;
}
