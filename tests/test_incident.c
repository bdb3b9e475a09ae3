/*
 * test_incident.c: throttling, grouping and resolving, and their journal:
 * hostile journals first, then each option, restarts, redeliveries, a
 * crash between spooling a group and closing it, compaction.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "alert.h"
#include "buf.h"
#include "diag.h"
#include "incident.h"
#include "rules.h"
#include "tap.h"
#include "testlib.h"

/* 2026-11-25T09:00:00Z */
#define T0 1795597200ull

static uint64_t test_now = T0;

static uint64_t
test_clock(void *arg)
{
	(void)arg;
	return test_now;
}

static const char rules_text[] =
    "rules:\n"
    "  - id: thr\n"
    "    match: {eventName: GetSecretValue}\n"
    "    throttle: 30m\n"
    "  - id: grp\n"
    "    match: {eventName: PutSecretValue}\n"
    "    group_wait: 30s\n"
    "  - id: grpthr\n"
    "    match: {eventName: UpdateSecret}\n"
    "    group_wait: 10s\n"
    "    throttle: 1h\n"
    "  - id: res\n"
    "    match: {eventName: RotationFailed}\n"
    "    resolve_on: {eventName: RotationSucceeded}\n"
    "  - id: grpres\n"
    "    match: {eventName: RotationFailed}\n"
    "    group_wait: 30s\n"
    "    resolve_on: {eventName: RotationSucceeded}\n"
    "  - id: thrres\n"
    "    match: {eventName: RotationFailed}\n"
    "    throttle: 1h\n"
    "    resolve_on: {eventName: RotationSucceeded}\n"
    "  - id: plain\n"
    "    match: {eventName: DeleteSecret}\n";

static struct rules *rs;
static struct incident_opts opts = {test_clock, NULL, 1};
static char last_json[1 << 16]; /* the last SEND's text; "" for NULL */
static bool last_null;

static char *
jpath(const char *dir)
{
	static char p[4096];

	(void)snprintf(p, sizeof(p), "%s/incidents.journal", dir);
	return p;
}

static void
write_journal_len(const char *dir, const char *text, size_t len, bool append)
{
	if (tl_write_file(jpath(dir), text, len, append) < 0)
		tl_bail("cannot write %s", jpath(dir));
}

static void
write_journal(const char *dir, const char *text, bool append)
{
	write_journal_len(dir, text, strlen(text), append);
}

static off_t
file_size(const char *dir)
{
	return tl_file_size(jpath(dir));
}

static struct incident *
xopen(const char *dir)
{
	struct incident *inc = NULL;
	struct diag d;
	int r;

	memset(&d, 0, sizeof(d));
	r = incident_open(dir, &opts, &inc, &d);
	if (r < 0) {
		printf("# open %s: %d %s\n", dir, r, d.msg);
		return NULL;
	}
	return inc;
}

/* Sync, close, open again: a restart. */
static struct incident *
restart(struct incident *inc, const char *dir)
{
	if (incident_sync(inc) < 0)
		printf("# sync failed\n");
	incident_free(inc);
	return xopen(dir);
}

static struct incident_stats
stats(const struct incident *inc)
{
	struct incident_stats st;

	incident_stats(inc, &st);
	return st;
}

/* A hand-made alert line. */
static const char *
mk(const char *rule, const char *ev)
{
	static char s[512];

	(void)snprintf(s, sizeof(s),
	    "{\"rule\":\"%s\",\"eventID\":\"%s\",\"summary\":\"s\"}", rule, ev);
	return s;
}

/* The verdict (or a negative errno); a SEND's text in last_json. */
static int
call(struct incident *inc, bool resolve, const char *rule, const char *key,
    const char *ev, const char *json)
{
	const struct rule *r = rules_find(rs, rule);
	struct incident_out out;
	int rc;

	memset(&out, 0xa5, sizeof(out));
	if (resolve)
		rc =
		    incident_resolve(inc, r, key, ev, json, strlen(json), &out);
	else
		rc =
		    incident_trigger(inc, r, key, ev, json, strlen(json), &out);
	if (rc < 0)
		return rc;
	if (rc > 0)
		printf("# untracked (%d)\n", rc);
	last_null = out.alert_json == NULL;
	last_json[0] = '\0';
	if (out.alert_json != NULL)
		(void)snprintf(last_json, sizeof(last_json), "%s",
		    out.alert_json);
	if (out.verdict != INCIDENT_SEND && out.alert_json != NULL)
		printf("# alert_json set for a %s\n",
		    incident_verdict_str(out.verdict));
	if (out.alert_json != NULL && out.len != strlen(out.alert_json))
		printf("# len mismatch\n");
	rc = (int)out.verdict;
	incident_out_done(&out);
	return rc;
}

static int
trig(struct incident *inc, const char *rule, const char *key, const char *ev)
{
	return call(inc, false, rule, key, ev, mk(rule, ev));
}

static int
resolve(struct incident *inc, const char *rule, const char *key, const char *ev)
{
	return call(inc, true, rule, key, ev, mk(rule, ev));
}

/* What flush_due hands out. */
struct sink {
	int calls;
	int syncs;
	int fail_emit; /* return this from emit (0: succeed) */
	int fail_sync;
	struct incident *reenter; /* try a call from inside the callback */
	int reenter_r;
	char rule[8][64];
	char key[8][256];
	char ev[8][64];
	char json[8][1 << 15];
};

static int
sink_emit(const char *rule_id, const char *group_key, const char *event_id,
    const char *json, size_t len, void *arg)
{
	struct sink *s = arg;
	int i = s->calls;

	if (s->reenter != NULL)
		s->reenter_r = trig(s->reenter, "grp", "x", "inside");
	if (s->fail_emit != 0)
		return s->fail_emit;
	if (len != strlen(json))
		printf("# emit: len mismatch\n");
	if (i < 8) {
		(void)snprintf(s->rule[i], sizeof(s->rule[i]), "%s", rule_id);
		(void)snprintf(s->key[i], sizeof(s->key[i]), "%s", group_key);
		(void)snprintf(s->ev[i], sizeof(s->ev[i]), "%s", event_id);
		(void)snprintf(s->json[i], sizeof(s->json[i]), "%s", json);
	}
	s->calls++;
	return 0;
}

static int
sink_sync(void *arg)
{
	struct sink *s = arg;

	s->syncs++;
	return s->fail_sync;
}

static int
flush(struct incident *inc, struct sink *s)
{
	return incident_flush_due(inc, sink_emit, sink_sync, s);
}

/* ---- hostile journals --------------------------------------------------- */

static void
expect_bad_len(const char *name, const char *text, size_t len, unsigned line,
    const char *offset)
{
	char *dir = tl_tmpdir("test_incident");
	struct incident *inc = NULL;
	struct diag d;
	int r;

	memset(&d, 0, sizeof(d));
	write_journal_len(dir, text, len, false);
	r = incident_open(dir, &opts, &inc, &d);
	is_int(r, -EBADMSG, "hostile %s: -EBADMSG", name);
	is_int(d.line, line, "hostile %s: line %u", name, line);
	ok(strstr(d.msg, offset) != NULL && strstr(d.file, dir) != NULL,
	    "hostile %s: says where ('%s')", name, d.msg);
	ok(inc == NULL, "hostile %s: nothing returned", name);
	incident_free(inc);
	(void)tl_tmpdir_free(dir);
}

static void
expect_bad(const char *name, const char *text, unsigned line,
    const char *offset)
{
	expect_bad_len(name, text, strlen(text), line, offset);
}

static const char good_send[] =
    "{\"op\":\"send\",\"k\":\"thr\\tk\",\"e\":\"e-1\",\"t\":1795597200,"
    "\"until\":1795599000,\"open\":false,\"n\":0,\"since\":0}\n";

static void
test_hostile(void)
{
	char *dir = tl_tmpdir("test_incident");
	struct incident *inc;
	struct incident *two = NULL;
	struct diag d;
	struct stat st;
	off_t good;
	int r;

	inc = xopen(dir);
	ok(inc != NULL, "open: a fresh state directory");
	ok(stat(jpath(dir), &st) == 0 && (st.st_mode & 07777) == 0600,
	    "open: journal created 0600");
	memset(&d, 0, sizeof(d));
	r = incident_open(dir, &opts, &two, &d);
	is_int(r, -EBUSY, "second open: -EBUSY");
	ok(two == NULL && strstr(d.msg, "in use") != NULL,
	    "second open: says why");
	incident_free(inc);

	/* A torn last line: cut off, counted, the rest kept. */
	write_journal(dir, good_send, false);
	good = file_size(dir);
	write_journal(dir, "{\"op\":\"supp\",\"k\":\"thr\\tk\",\"e\":\"e-",
	    true);
	inc = xopen(dir);
	ok(inc != NULL, "torn: opens");
	if (inc != NULL) {
		is_int(stats(inc).torn_tail, 1, "torn: counted");
		is_int(stats(inc).journal_bytes, good,
		    "torn: cut at the "
		    "last newline");
		is_int(file_size(dir), good, "torn: cut on disk too");
		is_int(stats(inc).keys, 1, "torn: the line before is kept");
		incident_free(inc);
	}

	expect_bad("garbage", "{\"op\":\"send\"\nnot json\n", 1,
	    "byte offset 0");
	{
		char text[1024];

		(void)snprintf(text, sizeof(text), "%snot json\n", good_send);
		expect_bad("garbage after a good line", text, 2,
		    "byte offset 100");
	}
	expect_bad("empty line", "\n", 1, "empty line");
	expect_bad_len("NUL byte", "{\"op\":\"x\"\0}\n", 12, 1, "NUL byte");
	expect_bad("unknown op",
	    "{\"op\":\"boom\",\"k\":\"thr\\tk\",\"t\":1}\n", 1, "unknown op");
	expect_bad("key without a tab",
	    "{\"op\":\"supp\",\"k\":\"thrk\",\"e\":\"e\",\"t\":1}\n", 1,
	    "\"k\" missing or bad");
	expect_bad("key with a control character in the rule",
	    "{\"op\":\"supp\",\"k\":\"t\\u0001r\\tk\",\"e\":\"e\",\"t\":1}\n",
	    1, "\"k\" missing or bad");
	expect_bad("negative time",
	    "{\"op\":\"supp\",\"k\":\"thr\\tk\",\"e\":\"e\",\"t\":-1}\n", 1,
	    "\"t\"");
	expect_bad("string time",
	    "{\"op\":\"supp\",\"k\":\"thr\\tk\",\"e\":\"e\",\"t\":\"1\"}\n", 1,
	    "\"t\"");
	expect_bad("member with no group",
	    "{\"op\":\"member\",\"k\":\"grp\\tk\",\"e\":\"e\",\"t\":1}\n", 1,
	    "no group");
	expect_bad("emit with no group",
	    "{\"op\":\"emit\",\"k\":\"grp\\tk\",\"t\":1,\"n\":0,\"since\":0}\n",
	    1, "no group");
	expect_bad("resolve with nothing open",
	    "{\"op\":\"resolve\",\"k\":\"res\\tk\",\"e\":\"e\",\"t\":1,\"n\":0,"
	    "\"since\":0}\n",
	    1, "no open incident");
	expect_bad("group whose alert is not an object",
	    "{\"op\":\"group\",\"k\":\"grp\\tk\",\"e\":\"e\",\"t\":1,\"due\":2,"
	    "\"thr\":0,\"res\":false,\"alert\":[1]}\n",
	    1, "\"alert\" is not a JSON object");
	expect_bad("group whose alert is broken",
	    "{\"op\":\"group\",\"k\":\"grp\\tk\",\"e\":\"e\",\"t\":1,\"due\":2,"
	    "\"thr\":0,\"res\":false,\"alert\":{\"a\":}}\n",
	    1, "not a JSON object");
	expect_bad("group without its alert",
	    "{\"op\":\"group\",\"k\":\"grp\\tk\",\"e\":\"e\",\"t\":1,\"due\":2,"
	    "\"thr\":0,\"res\":false}\n",
	    1, "\"alert\" missing");
	expect_bad("an alert where none belongs",
	    "{\"op\":\"supp\",\"k\":\"thr\\tk\",\"e\":\"e\",\"t\":1,"
	    "\"alert\":{}}\n",
	    1, "none belongs");
	expect_bad("a second group",
	    "{\"op\":\"group\",\"k\":\"grp\\tk\",\"e\":\"e\",\"t\":1,\"due\":2,"
	    "\"thr\":0,\"res\":false,\"alert\":{}}\n"
	    "{\"op\":\"group\",\"k\":\"grp\\tk\",\"e\":\"f\",\"t\":1,\"due\":2,"
	    "\"thr\":0,\"res\":false,\"alert\":{}}\n",
	    2, "second group");
	expect_bad("count below the events listed",
	    "{\"op\":\"group\",\"k\":\"grp\\tk\",\"e\":\"e\",\"t\":1,\"due\":2,"
	    "\"thr\":0,\"res\":false,\"count\":1,\"events\":[\"e\",\"f\"],"
	    "\"alert\":{}}\n",
	    1, "\"count\"");
	expect_bad("unknown id kind",
	    "{\"op\":\"id\",\"k\":\"thr\\tk\",\"e\":\"e\",\"t\":1,"
	    "\"kind\":\"bogus\",\"n\":0,\"since\":0}\n",
	    1, "unknown \"kind\"");
	expect_bad("a line not an object", "[1,2]\n", 1, "not a JSON object");

	/* Not a regular file. */
	{
		char *d2 = tl_tmpdir("test_incident");

		(void)mkdir(jpath(d2), 0700);
		memset(&d, 0, sizeof(d));
		r = incident_open(d2, &opts, &two, &d);
		ok(r < 0 && two == NULL, "journal is a directory: fails (%d)",
		    r);
		(void)tl_tmpdir_free(d2);
	}
	memset(&d, 0, sizeof(d));
	r = incident_open("/nonexistent/smtrail", &opts, &two, &d);
	is_int(r, -ENOENT, "missing state directory: -ENOENT");

	/* Bad alert text is refused before anything is written. */
	inc = xopen(dir);
	if (inc != NULL) {
		off_t before = file_size(dir);

		is_int(call(inc, false, "thr", "k", "x", "[1]"), -EINVAL,
		    "alert text an array: -EINVAL");
		is_int(call(inc, false, "thr", "k", "x", "{\"a\":\n1}"),
		    -EINVAL, "alert text over two lines: -EINVAL");
		is_int(call(inc, false, "thr", "k", "x", "  "), -EINVAL,
		    "alert text blank: -EINVAL");
		is_int(call(inc, false, "grp", "k", "x", "{\"a\":}"), -EINVAL,
		    "a held alert that is not JSON: -EINVAL");
		is_int(file_size(dir), before, "bad alerts: nothing written");
		incident_free(inc);
	}
	(void)tl_tmpdir_free(dir);
}

/* ---- rules without options ----------------------------------------------- */

static void
test_plain(void)
{
	char *dir = tl_tmpdir("test_incident");
	struct incident *inc = xopen(dir);
	off_t before = file_size(dir);

	is_int(trig(inc, "plain", "k", "p-1"), INCIDENT_SEND, "plain: SEND");
	ok(last_null, "plain: alert_json NULL, use yours as is");
	is_int(trig(inc, "plain", "k", "p-1"), INCIDENT_SEND,
	    "plain: the same again: SEND (the spool dedups)");
	is_int(call(inc, false, "plain", "k", "p-2", "not even JSON"),
	    INCIDENT_SEND, "plain: the text is not even looked at");
	is_int(file_size(dir), before, "plain: no journal growth");
	is_int(stats(inc).keys, 0, "plain: no state");
	is_int(incident_sync(inc), 0, "plain: nothing to sync");
	incident_free(inc);
	(void)tl_tmpdir_free(dir);
}

/* ---- throttle ------------------------------------------------------------ */

static void
test_throttle(void)
{
	char *dir = tl_tmpdir("test_incident");
	struct incident *inc = xopen(dir);
	off_t size;

	test_now = T0;
	is_int(trig(inc, "thr", "prod/db", "e-1"), INCIDENT_SEND,
	    "throttle: the first match is sent");
	ok(last_null, "throttle: nothing suppressed yet, the text as is");
	test_now = T0 + 60;
	is_int(trig(inc, "thr", "prod/db", "e-2"), INCIDENT_SUPPRESSED,
	    "throttle: the second is counted");
	test_now = T0 + 120;
	is_int(trig(inc, "thr", "prod/db", "e-3"), INCIDENT_SUPPRESSED,
	    "throttle: the third is counted");
	size = file_size(dir);
	is_int(trig(inc, "thr", "prod/db", "e-3"), INCIDENT_DUPLICATE,
	    "throttle: e-3 redelivered: DUPLICATE");
	is_int(file_size(dir), size, "throttle: a duplicate writes nothing");
	is_int(stats(inc).suppressed_total, 2,
	    "throttle: the duplicate is not counted");
	is_int(trig(inc, "thr", "prod/other", "e-9"), INCIDENT_SEND,
	    "throttle: another group key has its own window");
	is_int(trig(inc, "thr", "prod/db", "e-1"), INCIDENT_SEND,
	    "throttle: the sent event redelivered is sent again "
	    "(the spool dedups it)");
	ok(last_null, "throttle: ... with the same text");
	is_int(incident_sync(inc) > 0, 1, "throttle: sync");

	inc = restart(inc, dir);
	ok(inc != NULL, "throttle: reopened inside the window");
	test_now = T0 + 600;
	is_int(trig(inc, "thr", "prod/db", "e-4"), INCIDENT_SUPPRESSED,
	    "throttle: after a restart, still suppressed (no re-page)");
	is_int(trig(inc, "thr", "prod/db", "e-2"), INCIDENT_DUPLICATE,
	    "throttle: after a restart, a counted event is a duplicate");

	test_now = T0 + 1800;
	is_int(trig(inc, "thr", "prod/db", "e-5"), INCIDENT_SEND,
	    "throttle: after the window, sent");
	is_str(last_json,
	    "{\"rule\":\"thr\",\"eventID\":\"e-5\",\"summary\":\"s\","
	    "\"suppressed\":3,\"suppressed_since\":\"2026-11-25T09:01:00Z\"}",
	    "throttle: ... saying 3 more since the first of them");
	test_now = T0 + 1801;
	is_int(trig(inc, "thr", "prod/db", "e-6"), INCIDENT_SUPPRESSED,
	    "throttle: the window starts again at that alert");
	is_int(trig(inc, "thr", "prod/db", "e-5"), INCIDENT_SEND,
	    "throttle: e-5 redelivered: sent again");
	is_str(last_json,
	    "{\"rule\":\"thr\",\"eventID\":\"e-5\",\"summary\":\"s\","
	    "\"suppressed\":3,\"suppressed_since\":\"2026-11-25T09:01:00Z\"}",
	    "throttle: ... with the same text as the first time");
	inc = restart(inc, dir);
	test_now = T0 + 1802;
	is_int(trig(inc, "thr", "prod/db", "e-5"), INCIDENT_SEND,
	    "throttle: and after a restart too");
	is_str(last_json,
	    "{\"rule\":\"thr\",\"eventID\":\"e-5\",\"summary\":\"s\","
	    "\"suppressed\":3,\"suppressed_since\":\"2026-11-25T09:01:00Z\"}",
	    "throttle: ... the same text");

	/* No eventID: the alert text's hash stands in. */
	is_int(call(inc, false, "thr", "anon", NULL, "{\"x\":1}"),
	    INCIDENT_SEND, "no eventID: sent");
	is_int(call(inc, false, "thr", "anon", "", "{\"x\":2}"),
	    INCIDENT_SUPPRESSED, "no eventID: another text is counted");
	is_int(call(inc, false, "thr", "anon", "", "{\"x\":2}"),
	    INCIDENT_DUPLICATE, "no eventID: the same text is a duplicate");
	incident_free(inc);
	test_now = T0;
	(void)tl_tmpdir_free(dir);
}

/* A real alert, record included, through the same path. */
static void
test_real_alert(void)
{
	static const char rec_text[] =
	    "{\"eventID\":\"r-1\",\"eventName\":\"GetSecretValue\","
	    "\"eventTime\":\"2026-11-25T09:06:00Z\",\"awsRegion\":\"us-east-1\","
	    "\"userIdentity\":{\"arn\":\"arn:aws:iam::1:user/m\"},"
	    "\"requestParameters\":{\"secretId\":\"prod/\\\"k\\\"\"}}";
	char *dir = tl_tmpdir("test_incident");
	struct incident *inc = xopen(dir);
	const struct rule *r = rules_find(rs, "thr");
	struct json_object *rec = json_tokener_parse(rec_text);
	struct json_object *o;
	struct json_object *v;
	struct incident_out out;
	struct alert a;
	struct buf b;

	buf_init(&b, 1 << 20);
	ok(alert_build(r, rec, &a) == 0 && alert_json(&a, true, &b) == 0,
	    "real alert: built");
	test_now = T0;
	is_int(
	    incident_trigger(inc, r, a.group, a.event_id, b.data, b.len, &out),
	    0, "real alert: first");
	ok(out.verdict == INCIDENT_SEND && out.alert_json == NULL,
	    "real alert: sent as is");
	is_int(incident_trigger(inc, r, a.group, "r-2", b.data, b.len, &out), 0,
	    "real alert: second");
	is_int(out.verdict, INCIDENT_SUPPRESSED, "real alert: counted");
	test_now = T0 + 3600;
	is_int(incident_trigger(inc, r, a.group, "r-3", b.data, b.len, &out), 0,
	    "real alert: after the window");
	o = out.alert_json != NULL ? json_tokener_parse(out.alert_json) : NULL;
	ok(o != NULL, "real alert: the annotated text is JSON");
	ok(o != NULL && json_object_object_get_ex(o, "suppressed", &v) &&
		json_object_get_int(v) == 1,
	    "real alert: suppressed 1");
	ok(o != NULL && json_object_object_get_ex(o, "record", &v) &&
		json_object_equal(v, rec),
	    "real alert: the record intact");
	ok(o != NULL && json_object_object_get_ex(o, "group", &v) &&
		strcmp(json_object_get_string(v), "prod/\"k\"") == 0,
	    "real alert: the group key with its quotes intact");
	json_object_put(o);
	incident_out_done(&out);
	incident_out_done(&out);
	ok(out.alert_json == NULL, "incident_out_done twice is harmless");
	alert_done(&a);
	buf_done(&b);
	json_object_put(rec);
	incident_free(inc);
	test_now = T0;
	(void)tl_tmpdir_free(dir);
}

/* ---- group_wait ---------------------------------------------------------- */

static void
test_group(void)
{
	char *dir = tl_tmpdir("test_incident");
	struct incident *inc = xopen(dir);
	struct sink s;
	off_t before_flush;
	char *saved = NULL;

	test_now = T0;
	is_int(incident_next_due_s(inc), -1, "group: nothing due");
	is_int(trig(inc, "grp", "prod/db", "g-1"), INCIDENT_HELD,
	    "group: the first match is held");
	test_now = T0 + 5;
	is_int(trig(inc, "grp", "prod/db", "g-2"), INCIDENT_HELD,
	    "group: the second joins");
	is_int(trig(inc, "grp", "prod/db", "g-2"), INCIDENT_DUPLICATE,
	    "group: g-2 redelivered: not added twice");
	test_now = T0 + 10;
	is_int(trig(inc, "grp", "prod/db", "g-3"), INCIDENT_HELD,
	    "group: the third joins");
	is_int(trig(inc, "grp", "prod/other", "o-1"), INCIDENT_HELD,
	    "group: another key, another group");
	is_int(stats(inc).open_groups, 2, "group: 2 open");
	is_int(stats(inc).held_matches, 4, "group: 4 held");
	is_int(incident_next_due_s(inc), 20, "group: due in 20 s");

	memset(&s, 0, sizeof(s));
	is_int(flush(inc, &s), 0, "group: flush before due: nothing");
	is_int(s.calls + s.syncs, 0, "group: ... no callback");

	inc = restart(inc, dir);
	ok(inc != NULL, "group: reopened with open groups");
	is_int(stats(inc).open_groups, 2, "group: still 2 open");
	is_int(stats(inc).held_matches, 4, "group: still 4 held");
	is_int(incident_next_due_s(inc), 20, "group: still due in 20 s");
	is_int(trig(inc, "grp", "prod/db", "g-3"), INCIDENT_DUPLICATE,
	    "group: after a restart, a member redelivered: not added twice");

	test_now = T0 + 30;
	is_int(incident_next_due_s(inc), 0, "group: due now");
	memset(&s, 0, sizeof(s));
	s.reenter = inc;
	s.fail_emit = -EAGAIN;
	is_int(flush(inc, &s), -EAGAIN, "group: emit fails: its error");
	is_int(s.reenter_r, -EBUSY, "group: a call from the callback: -EBUSY");
	is_int(stats(inc).open_groups, 2, "group: ... both kept");
	is_int(s.syncs, 0, "group: ... nothing to sync");

	memset(&s, 0, sizeof(s));
	s.fail_sync = -EIO;
	is_int(flush(inc, &s), -EIO, "group: sync fails: its error");
	is_int(s.calls, 1, "group: ... after emitting the due group");
	is_int(stats(inc).open_groups, 2, "group: ... kept open");

	memset(&s, 0, sizeof(s));
	before_flush = file_size(dir);
	ok(incident_sync(inc) >= 0, "sync");
	is_int(flush(inc, &s), 1, "group: due: one group closed");
	is_int(s.calls, 1, "group: one alert");
	is_int(s.syncs, 1, "group: synced once, before closing");
	is_str(s.rule[0], "grp", "group: its rule");
	is_str(s.key[0], "prod/db", "group: its group key");
	is_str(s.ev[0], "g-1", "group: its identity, the first eventID");
	is_str(s.json[0],
	    "{\"rule\":\"grp\",\"eventID\":\"g-1\",\"summary\":\"s\","
	    "\"count\":3,\"events\":[\"g-1\",\"g-2\",\"g-3\"]}",
	    "group: the first match's alert with count and events, in order");
	saved = strdup(s.json[0]);
	is_int(stats(inc).open_groups, 1, "group: the other still open");
	memset(&s, 0, sizeof(s));
	is_int(flush(inc, &s), 0, "group: flush again: nothing");

	is_int(trig(inc, "grp", "prod/db", "g-2"), INCIDENT_DUPLICATE,
	    "group: a member redelivered after the emission: DUPLICATE");
	test_now = T0 + 31;
	is_int(trig(inc, "grp", "prod/db", "g-4"), INCIDENT_HELD,
	    "group: a new match opens a new group");

	/* A crash after the group was spooled, before its "emit" line was
	 * durable: it is emitted again, the same text (the spool's dedup
	 * drops it). */
	ok(incident_sync(inc) >= 0, "sync");
	incident_free(inc);
	if (truncate(jpath(dir), before_flush) < 0)
		perror("truncate");
	inc = xopen(dir);
	is_int(stats(inc).open_groups, 2, "crash: the group is open again");
	test_now = T0 + 40;
	memset(&s, 0, sizeof(s));
	is_int(flush(inc, &s), 2, "crash: both due groups emitted");
	ok((strcmp(s.json[0], saved) == 0 || strcmp(s.json[1], saved) == 0),
	    "crash: the same text as before the crash");
	free(saved);

	/* Full groups go out early; the count goes on past the list. */
	{
		char ev[32];
		struct json_object *o;
		struct json_object *v;
		int i;
		int held = 0;

		test_now = T0 + 100;
		for (i = 0; i < INCIDENT_MAX_EVENTS; i++) {
			(void)snprintf(ev, sizeof(ev), "big-%d", i);
			held += trig(inc, "grp", "big", ev) == INCIDENT_HELD;
		}
		is_int(held, INCIDENT_MAX_EVENTS, "full: all held");
		is_int(incident_next_due_s(inc), 0, "full: due at once");
		is_int(trig(inc, "grp", "big", "big-last"), INCIDENT_HELD,
		    "full: one more still held");
		memset(&s, 0, sizeof(s));
		is_int(flush(inc, &s), 1, "full: emitted");
		o = json_tokener_parse(s.json[0]);
		ok(o != NULL && json_object_object_get_ex(o, "count", &v) &&
			json_object_get_int(v) == INCIDENT_MAX_EVENTS + 1,
		    "full: count includes the one past the list");
		ok(o != NULL && json_object_object_get_ex(o, "events", &v) &&
			json_object_array_length(v) == INCIDENT_MAX_EVENTS,
		    "full: events lists the first %d", INCIDENT_MAX_EVENTS);
		json_object_put(o);
	}
	incident_free(inc);
	test_now = T0;
	(void)tl_tmpdir_free(dir);
}

/* Group and throttle: the window applies to the group as a whole. */
static void
test_group_throttle(void)
{
	char *dir = tl_tmpdir("test_incident");
	struct incident *inc = xopen(dir);
	struct sink s;

	test_now = T0;
	is_int(trig(inc, "grpthr", "k", "h-1"), INCIDENT_HELD,
	    "group+throttle: held");
	is_int(trig(inc, "grpthr", "k", "h-2"), INCIDENT_HELD,
	    "group+throttle: joins");
	test_now = T0 + 10;
	memset(&s, 0, sizeof(s));
	is_int(flush(inc, &s), 1, "group+throttle: emitted");
	test_now = T0 + 20;
	is_int(trig(inc, "grpthr", "k", "h-3"), INCIDENT_SUPPRESSED,
	    "group+throttle: inside the window: counted");
	inc = restart(inc, dir);
	test_now = T0 + 10 + 3600;
	is_int(trig(inc, "grpthr", "k", "h-4"), INCIDENT_HELD,
	    "group+throttle: after the window: a new group");
	test_now = T0 + 20 + 3600;
	memset(&s, 0, sizeof(s));
	is_int(flush(inc, &s), 1, "group+throttle: emitted");
	is_str(s.json[0],
	    "{\"rule\":\"grpthr\",\"eventID\":\"h-4\",\"summary\":\"s\","
	    "\"count\":1,\"events\":[\"h-4\"],\"suppressed\":1,"
	    "\"suppressed_since\":\"2026-11-25T09:00:20Z\"}",
	    "group+throttle: the group says 1 more since");
	incident_free(inc);
	test_now = T0;
	(void)tl_tmpdir_free(dir);
}

/* ---- resolve_on ---------------------------------------------------------- */

static void
test_resolve(void)
{
	char *dir = tl_tmpdir("test_incident");
	struct incident *inc = xopen(dir);
	off_t size;

	test_now = T0;
	size = file_size(dir);
	is_int(resolve(inc, "res", "prod/db", "s-0"), INCIDENT_SUPPRESSED,
	    "resolve: nothing open: nothing to do");
	is_int(file_size(dir), size, "resolve: ... and nothing written");
	is_int(trig(inc, "res", "prod/db", "f-1"), INCIDENT_SEND,
	    "resolve: the trigger is sent");
	ok(last_null, "resolve: ... as is");
	is_int(stats(inc).open_incidents, 1, "resolve: an incident is open");
	is_int(resolve(inc, "res", "prod/other", "s-1"), INCIDENT_SUPPRESSED,
	    "resolve: another group key: nothing");
	is_int(trig(inc, "res", "prod/db", "f-2"), INCIDENT_SEND,
	    "resolve: no throttle: a second trigger is sent too");

	inc = restart(inc, dir);
	ok(inc != NULL, "resolve: reopened");
	is_int(stats(inc).open_incidents, 1, "resolve: still open");
	test_now = T0 + 60;
	is_int(resolve(inc, "res", "prod/db", "s-2"), INCIDENT_SEND,
	    "resolve: resolved after a restart");
	is_str(last_json,
	    "{\"rule\":\"res\",\"eventID\":\"s-2\",\"summary\":\"s\","
	    "\"status\":\"resolved\"}",
	    "resolve: the resolving record's alert, status resolved");
	is_int(stats(inc).open_incidents, 0, "resolve: closed");
	is_int(resolve(inc, "res", "prod/db", "s-3"), INCIDENT_SUPPRESSED,
	    "resolve: a second resolve: nothing");
	is_int(resolve(inc, "res", "prod/db", "s-2"), INCIDENT_SEND,
	    "resolve: the resolving event redelivered: sent again");
	is_str(last_json,
	    "{\"rule\":\"res\",\"eventID\":\"s-2\",\"summary\":\"s\","
	    "\"status\":\"resolved\"}",
	    "resolve: ... the same text");
	is_int(trig(inc, "res", "prod/db", "f-1"), INCIDENT_SEND,
	    "resolve: the old trigger redelivered: sent again (spool dedups)");
	is_int(stats(inc).open_incidents, 0,
	    "resolve: ... which reopens nothing");
	is_int(trig(inc, "res", "prod/db", "f-3"), INCIDENT_SEND,
	    "resolve: a new trigger opens a new incident");
	is_int(stats(inc).open_incidents, 1, "resolve: open again");
	/* With a throttle: the resolve reports the count, ends the window. */
	is_int(trig(inc, "thrres", "k", "tf-1"), INCIDENT_SEND,
	    "throttle+resolve: sent");
	test_now = T0 + 70;
	is_int(trig(inc, "thrres", "k", "tf-2"), INCIDENT_SUPPRESSED,
	    "throttle+resolve: counted");
	test_now = T0 + 80;
	is_int(resolve(inc, "thrres", "k", "ts-1"), INCIDENT_SEND,
	    "throttle+resolve: resolved inside the window");
	is_str(last_json,
	    "{\"rule\":\"thrres\",\"eventID\":\"ts-1\",\"summary\":\"s\","
	    "\"suppressed\":1,\"suppressed_since\":\"2026-11-25T09:01:10Z\","
	    "\"status\":\"resolved\"}",
	    "throttle+resolve: ... with the count");
	is_int(trig(inc, "thrres", "k", "tf-3"), INCIDENT_SEND,
	    "throttle+resolve: the next trigger pages again");
	ok(last_null, "throttle+resolve: ... with nothing counted");
	is_int(call(inc, true, "res", "prod/db", "s-4", "{}"), INCIDENT_SEND,
	    "resolve: an empty alert object");
	is_str(last_json, "{\"status\":\"resolved\"}",
	    "resolve: ... gets the field without a comma");
	incident_free(inc);
	test_now = T0;
	(void)tl_tmpdir_free(dir);
}

/* A resolve while the trigger is still held: both go out, in order. */
static void
test_group_resolve(void)
{
	char *dir = tl_tmpdir("test_incident");
	struct incident *inc = xopen(dir);
	struct sink s;

	test_now = T0;
	is_int(trig(inc, "grpres", "k", "f-1"), INCIDENT_HELD,
	    "group+resolve: trigger held");
	test_now = T0 + 5;
	is_int(resolve(inc, "grpres", "k", "s-1"), INCIDENT_HELD,
	    "group+resolve: the resolve is held with it");
	is_int(resolve(inc, "grpres", "k", "s-1"), INCIDENT_DUPLICATE,
	    "group+resolve: the resolve redelivered: DUPLICATE");
	is_int(resolve(inc, "grpres", "k", "s-2"), INCIDENT_SUPPRESSED,
	    "group+resolve: a second resolve: nothing more");
	is_int(incident_next_due_s(inc), 0, "group+resolve: due at once");
	inc = restart(inc, dir);
	memset(&s, 0, sizeof(s));
	is_int(flush(inc, &s), 1, "group+resolve: after a restart, emitted");
	is_int(s.calls, 2, "group+resolve: two alerts");
	is_str(s.json[0],
	    "{\"rule\":\"grpres\",\"eventID\":\"f-1\",\"summary\":\"s\","
	    "\"count\":1,\"events\":[\"f-1\"]}",
	    "group+resolve: first the trigger");
	is_str(s.json[1],
	    "{\"rule\":\"grpres\",\"eventID\":\"s-1\",\"summary\":\"s\","
	    "\"status\":\"resolved\"}",
	    "group+resolve: then the resolve");
	is_str(s.ev[1], "s-1", "group+resolve: identified by its eventID");
	is_int(stats(inc).open_incidents, 0, "group+resolve: nothing open");
	is_int(resolve(inc, "grpres", "k", "s-1"), INCIDENT_SEND,
	    "group+resolve: the resolve redelivered later: sent again");

	/* Without a resolve: the emitted group opens the incident. */
	test_now = T0 + 100;
	is_int(trig(inc, "grpres", "k", "f-2"), INCIDENT_HELD,
	    "group+resolve: a new group");
	test_now = T0 + 130;
	memset(&s, 0, sizeof(s));
	is_int(flush(inc, &s), 1, "group+resolve: emitted");
	is_int(stats(inc).open_incidents, 1, "group+resolve: incident open");
	is_int(resolve(inc, "grpres", "k", "s-5"), INCIDENT_SEND,
	    "group+resolve: then resolved at once");
	incident_free(inc);
	test_now = T0;
	(void)tl_tmpdir_free(dir);
}

/* ---- compaction ---------------------------------------------------------- */

static void
test_compact(void)
{
	char *dir = tl_tmpdir("test_incident");
	struct incident *inc = xopen(dir);
	struct sink s;
	off_t before;
	char ev[32];
	int i;

	test_now = T0;
	/* Dead weight: an old throttled key with many counted matches. */
	is_int(trig(inc, "thr", "old", "old-0"), INCIDENT_SEND,
	    "compact: an old key");
	for (i = 1; i <= 200; i++) {
		(void)snprintf(ev, sizeof(ev), "old-%d", i);
		(void)trig(inc, "thr", "old", ev);
	}
	test_now = T0 + 2 * 86400;
	/* Live: a window with counted matches, an open incident, a group. */
	is_int(trig(inc, "thr", "live", "l-1"), INCIDENT_SEND,
	    "compact: a live window");
	is_int(trig(inc, "thr", "live", "l-2"), INCIDENT_SUPPRESSED,
	    "compact: a counted match");
	is_int(trig(inc, "res", "live", "r-1"), INCIDENT_SEND,
	    "compact: an open incident");
	is_int(trig(inc, "grp", "live", "g-1"), INCIDENT_HELD,
	    "compact: a group");
	is_int(trig(inc, "grp", "live", "g-2"), INCIDENT_HELD,
	    "compact: a member");
	is_int(trig(inc, "grpres", "live", "gr-1"), INCIDENT_HELD,
	    "compact: a group to be resolved");
	is_int(resolve(inc, "grpres", "live", "gs-1"), INCIDENT_HELD,
	    "compact: its resolve");
	is_int(stats(inc).keys, 5, "compact: 5 keys before");

	before = file_size(dir);
	is_int(incident_compact(inc), 1, "compact: rewritten");
	ok(file_size(dir) < before / 2,
	    "compact: the journal shrank "
	    "(%lld -> %lld)",
	    (long long)before, (long long)file_size(dir));
	is_int(stats(inc).keys, 4, "compact: the expired key is gone");
	is_int(stats(inc).journal_bytes, file_size(dir), "compact: size known");
	is_int(incident_compact(inc), 0, "compact: again: nothing to do");
	ok(access(jpath(dir), F_OK) == 0, "compact: journal in place");

	/* Appends after compaction land in the new file. */
	is_int(trig(inc, "thr", "live", "l-3"), INCIDENT_SUPPRESSED,
	    "compact: counted after compaction");
	inc = restart(inc, dir);
	ok(inc != NULL, "compact: reopened");
	is_int(stats(inc).keys, 4, "compact: 4 keys after a restart");
	is_int(stats(inc).open_groups, 2, "compact: groups kept");
	is_int(stats(inc).held_matches, 3, "compact: members kept");
	is_int(stats(inc).open_incidents, 1, "compact: the incident kept");
	is_int(trig(inc, "thr", "live", "l-2"), INCIDENT_DUPLICATE,
	    "compact: a counted match is still a duplicate");
	is_int(trig(inc, "grp", "live", "g-2"), INCIDENT_DUPLICATE,
	    "compact: a member is still a duplicate");
	is_int(trig(inc, "thr", "live", "l-1"), INCIDENT_SEND,
	    "compact: the sent event is still sent again");
	is_int(trig(inc, "thr", "old", "old-7"), INCIDENT_SEND,
	    "compact: the expired key is fresh");
	test_now = T0 + 2 * 86400 + 1800;
	is_int(trig(inc, "thr", "live", "l-9"), INCIDENT_SEND,
	    "compact: the window's end kept");
	is_str(last_json,
	    "{\"rule\":\"thr\",\"eventID\":\"l-9\",\"summary\":\"s\","
	    "\"suppressed\":2,\"suppressed_since\":\"2026-11-27T09:00:00Z\"}",
	    "compact: the count and its start kept");
	memset(&s, 0, sizeof(s));
	is_int(flush(inc, &s), 2, "compact: both groups emitted");
	for (i = 0; i < 3; i++)
		if (strstr(s.json[i],
			"\"count\":2,\"events\":[\"g-1\",\"g-2\"]") != NULL)
			break;
	ok(i < 3, "compact: the group's events kept, in order");
	is_int(s.calls, 3, "compact: and the held resolve");
	is_int(resolve(inc, "res", "live", "r-s"), INCIDENT_SEND,
	    "compact: the incident still resolves");
	incident_free(inc);
	test_now = T0;
	(void)tl_tmpdir_free(dir);
}

/* Open incidents are forgotten only after INCIDENT_MAX_OPEN_S. */
static void
test_expiry(void)
{
	char *dir = tl_tmpdir("test_incident");
	struct incident *inc = xopen(dir);

	test_now = T0;
	is_int(trig(inc, "res", "k", "f-1"), INCIDENT_SEND, "expiry: open");
	is_int(trig(inc, "thr", "k", "t-1"), INCIDENT_SEND, "expiry: window");
	test_now = T0 + INCIDENT_REMEMBER_S + 1800;
	is_int(incident_compact(inc), 0, "expiry: compact (too small)");
	is_int(stats(inc).keys, 1,
	    "expiry: the idle key went, the open one "
	    "stays");
	test_now = T0 + INCIDENT_MAX_OPEN_S;
	inc = restart(inc, dir);
	is_int(stats(inc).open_incidents, 0, "expiry: forgotten after %d days",
	    INCIDENT_MAX_OPEN_S / 86400);
	is_int(resolve(inc, "res", "k", "s-1"), INCIDENT_SUPPRESSED,
	    "expiry: so a resolve does nothing");
	incident_free(inc);
	test_now = T0;
	(void)tl_tmpdir_free(dir);
}

/* A full disk: a failed write changes nothing, in memory or on disk. */
static void
test_full_disk(void)
{
	char *dir = tl_tmpdir("test_incident");
	struct incident *inc = xopen(dir);
	struct rlimit old;
	struct rlimit lim;
	off_t size;
	int r1;
	int r2;

	test_now = T0;
	is_int(trig(inc, "thr", "k", "e-1"), INCIDENT_SEND, "full disk: sent");
	is_int(trig(inc, "thr", "k", "e-2"), INCIDENT_SUPPRESSED,
	    "full disk: counted");
	size = file_size(dir);
	(void)signal(SIGXFSZ, SIG_IGN);
	(void)getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = (rlim_t)size + 10;
	(void)setrlimit(RLIMIT_FSIZE, &lim);
	r1 = trig(inc, "thr", "k", "e-3");
	r2 = trig(inc, "grp", "k", "g-1");
	(void)setrlimit(RLIMIT_FSIZE, &old);
	(void)signal(SIGXFSZ, SIG_DFL);
	is_int(r1, -EFBIG, "full disk: the error as is");
	is_int(r2, -EFBIG, "full disk: a group too");
	is_int(file_size(dir), size, "full disk: the half line cut off");
	is_int(stats(inc).suppressed_total, 1, "full disk: nothing counted");
	is_int(stats(inc).open_groups, 0, "full disk: no group opened");
	is_int(trig(inc, "thr", "k", "e-3"), INCIDENT_SUPPRESSED,
	    "full disk: after room is made, e-3 is counted (not a duplicate)");
	is_int(trig(inc, "grp", "k", "g-1"), INCIDENT_HELD,
	    "full disk: and g-1 held");
	inc = restart(inc, dir);
	ok(inc != NULL, "full disk: the journal replays");
	is_int(trig(inc, "thr", "k", "e-3"), INCIDENT_DUPLICATE,
	    "full disk: e-3 counted once");
	incident_free(inc);
	(void)tl_tmpdir_free(dir);
}

/*
 * At INCIDENT_MAX_KEYS: keys holding only a window are evicted, least
 * recently matched first; open incidents never; with nothing evictable a
 * match goes out untracked.
 */
static void
test_evict(void)
{
	char *dir = tl_tmpdir("test_incident");
	struct incident *inc = xopen(dir);
	char key[32];
	int bad = 0;
	int i;

	test_now = T0;
	for (i = 0; i < INCIDENT_MAX_KEYS; i++) {
		(void)snprintf(key, sizeof(key), "k%d", i);
		if (i >= 100) /* a thousand a second, oldest first */
			test_now = T0 + 1 + (uint64_t)(i - 100) / 1000;
		if (i < 100)
			bad += trig(inc, "res", key, "e") != INCIDENT_SEND;
		else
			bad += trig(inc, "thr", key, "e") != INCIDENT_SEND;
	}
	is_int(bad, 0, "evict: %d keys", INCIDENT_MAX_KEYS);
	is_int(stats(inc).keys, INCIDENT_MAX_KEYS, "evict: at the cap");
	test_now = T0 + 200;
	is_int(trig(inc, "thr", "new", "e"), INCIDENT_SEND,
	    "evict: one more key: sent");
	is_int(stats(inc).evicted, INCIDENT_MAX_KEYS / 16,
	    "evict: a sixteenth evicted at once");
	is_int(stats(inc).keys, INCIDENT_MAX_KEYS - INCIDENT_MAX_KEYS / 16 + 1,
	    "evict: room made");
	is_int(stats(inc).open_incidents, 100,
	    "evict: open incidents kept, "
	    "though the oldest");
	is_int(stats(inc).untracked, 0, "evict: nothing untracked");
	inc = restart(inc, dir);
	is_int(stats(inc).keys, INCIDENT_MAX_KEYS - INCIDENT_MAX_KEYS / 16 + 1,
	    "evict: the same after a restart");
	is_int(trig(inc, "thr", "k100", "e2"), INCIDENT_SEND,
	    "evict: an evicted key's window is gone (an early page)");
	(void)snprintf(key, sizeof(key), "k%d", INCIDENT_MAX_KEYS - 1);
	is_int(trig(inc, "thr", key, "e2"), INCIDENT_SUPPRESSED,
	    "evict: a recent key's window holds");
	is_int(resolve(inc, "res", "k0", "s"), INCIDENT_SEND,
	    "evict: the oldest open incident still resolves");
	incident_free(inc);
	(void)tl_tmpdir_free(dir);

	/* Nothing evictable: untracked, sent as is. */
	dir = tl_tmpdir("test_incident");
	inc = xopen(dir);
	test_now = T0;
	bad = 0;
	for (i = 0; i < INCIDENT_MAX_KEYS; i++) {
		(void)snprintf(key, sizeof(key), "k%d", i);
		bad += trig(inc, "res", key, "e") != INCIDENT_SEND;
	}
	is_int(bad, 0, "untracked: %d open incidents", INCIDENT_MAX_KEYS);
	{
		const struct rule *r = rules_find(rs, "grp");
		struct incident_out out;
		const char *j = mk("grp", "x");

		is_int(incident_trigger(inc, r, "one-more", "x", j, strlen(j),
			   &out),
		    1, "untracked: returns 1");
		ok(out.verdict == INCIDENT_SEND && out.alert_json == NULL,
		    "untracked: SEND as is, not held");
	}
	is_int(stats(inc).untracked, 1, "untracked: counted");
	is_int(stats(inc).evicted, 0, "untracked: no open incident evicted");
	incident_free(inc);
	test_now = T0;
	(void)tl_tmpdir_free(dir);
}

int
main(void)
{

	if (!is_int(tl_rules(rules_text, &rs), 0, "rules load"))
		return done_testing();
	test_hostile();
	test_plain();
	test_throttle();
	test_real_alert();
	test_group();
	test_group_throttle();
	test_resolve();
	test_group_resolve();
	test_compact();
	test_expiry();
	test_full_disk();
	test_evict();
	rules_free(rs);
	return done_testing();
}
