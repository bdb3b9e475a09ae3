/*
 * test_record.c: field paths, the normalised secretId, value text.
 */
#include <errno.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "record.h"
#include "tap.h"

static struct json_object *
parse(const char *s)
{
	struct json_object *o = json_tokener_parse(s);

	if (o == NULL)
		diag_note("bad test JSON: %s", s);
	return o;
}

/* record_value_text() of v, into out. */
static const char *
value_text(struct json_object *v, char *out, size_t size)
{
	struct buf b;
	int r;

	buf_init(&b, 1 << 16);
	r = record_value_text(v, &b);
	(void)snprintf(out, size, "%s", b.data != NULL ? b.data : "");
	buf_done(&b);
	return r < 0 ? "(error)" : out;
}

/* The text of the value at a dotted path ("(absent)" when NULL). */
static const char *
text_at(struct json_object *rec, const char *dotted, char *out, size_t size)
{
	struct record_path *p;
	struct json_object *v;
	bool present;

	if (record_path_compile(dotted, &p) < 0)
		return "(bad path)";
	v = record_get(rec, p, &present);
	record_path_free(p);
	if (!present)
		return "(absent)";
	if (v == NULL)
		return "(null)";
	return value_text(v, out, size);
}

static const char *
text_str(struct json_object *rec, const char *dotted, char *out, size_t size)
{
	struct json_object *v = record_get_str(rec, dotted);

	if (v == NULL)
		return "(none)";
	return value_text(v, out, size);
}

/* A dotted path, the text it must give, the test's name. */
struct text_case {
	const char *path;
	const char *want;
	const char *name;
};

typedef const char *text_fn(struct json_object *rec, const char *dotted,
    char *out, size_t size);

/* Each case's path through get (text_at or text_str), in order. */
static void
texts_are(struct json_object *rec, text_fn *get, const struct text_case *c,
    size_t n)
{
	char t[512];
	size_t i;

	for (i = 0; i < n; i++)
		is_str(get(rec, c[i].path, t, sizeof(t)), c[i].want, "%s",
		    c[i].name);
}

static void
test_compile_hostile(void)
{
	static const char *const bad[] = {"", ".", "a.", ".a", "a..b", "..",
	    "a.b.", NULL};
	struct record_path *p = (struct record_path *)&p;
	size_t i;

	for (i = 0; bad[i] != NULL; i++) {
		p = (struct record_path *)&p;
		is_int(record_path_compile(bad[i], &p), -EINVAL,
		    "compile '%s': -EINVAL", bad[i]);
		ok(p == (struct record_path *)&p, "compile '%s': ret untouched",
		    bad[i]);
	}
	is_int(record_path_compile("userIdentity.arn", &p), 0,
	    "compile userIdentity.arn");
	is_str(record_path_str(p), "userIdentity.arn", "record_path_str");
	record_path_free(p);
	record_path_free(NULL);
	ok(1, "record_path_free(NULL) is a no-op");
}

static void
test_get(void)
{
	static const struct text_case at[] = {
	    /* Hostile and absent first (after a NULL record, below). */
	    {"nope", "(absent)", "missing key"},
	    {"a.nope", "(absent)", "missing nested key"},
	    {"a.b.c", "(absent)", "path through a string"},
	    {"a.i.c", "(absent)", "path through a number"},
	    {"a.n.c", "(absent)", "path through a JSON null"},
	    {"top.x", "(absent)", "path through a top-level null"},
	    {"resources.3", "(absent)", "index past the end"},
	    {"resources.-1", "(absent)",
		"negative index is a key: absent on arrays"},
	    {"resources.99999999999999999999999", "(absent)",
		"overflowing index: absent"},
	    {"resources.ARN", "(absent)", "key on an array: absent"},
	    {"a.0", "(absent)", "index on an object without that key: absent"},
	    /* Present. */
	    {"a.b", "x", "a.b"},
	    {"a.n", "(null)", "JSON null: present, NULL"},
	    {"top", "(null)", "top-level null"},
	    {"a.i", "7", "number"},
	    {"resources.0.ARN", "r0", "resources.0.ARN"},
	    {"resources.1.ARN", "r1", "resources.1.ARN"},
	    {"resources.2", "(null)", "null array element: present, NULL"},
	    {"resources.00.ARN", "r0", "leading zeros index"},
	    {"m.0", "zero", "numeric segment is a key on objects"},
	    {"deep.0.1.0", "y", "nested arrays"},
	    {"a", "{\"b\":\"x\",\"n\":null,\"i\":7,\"s\":\"str\"}",
		"object as compact JSON"},
	};
	static const struct text_case str[] = {
	    {"a.b", "x", "get_str a.b"},
	    {"resources.1.ARN", "r1", "get_str resources.1.ARN"},
	    {"m.0", "zero", "get_str m.0"},
	    {"a.n", "(none)", "get_str JSON null: NULL"},
	    {"", "(none)", "get_str empty path"},
	    {"a..b", "(none)", "get_str empty segment"},
	    {"a.", "(none)", "get_str trailing dot"},
	    {".a", "(none)", "get_str leading dot"},
	};
	struct json_object *rec;
	struct json_object *v;
	struct record_path *p;
	bool present = true;

	rec = parse("{\"a\":{\"b\":\"x\",\"n\":null,\"i\":7,\"s\":\"str\"},"
		    "\"resources\":[{\"ARN\":\"r0\"},{\"ARN\":\"r1\"},null],"
		    "\"m\":{\"0\":\"zero\",\"1.5\":\"dot\"},\"top\":null,"
		    "\"deep\":[[\"x\",[\"y\"]]]}");
	if (!ok(rec != NULL, "record parses"))
		return;
	if (record_path_compile("a.b", &p) == 0) {
		v = record_get(NULL, p, &present);
		ok(v == NULL && !present, "NULL record: absent");
		record_path_free(p);
	}
	texts_are(rec, text_at, at, ARRAY_SIZE(at));
	/* The same through record_get_str(). */
	texts_are(rec, text_str, str, ARRAY_SIZE(str));
	ok(record_get_str(NULL, "a") == NULL, "get_str NULL record");
	json_object_put(rec);
}

static void
test_long_key(void)
{
	char key[300];
	char json[700];
	char path[400];
	char t[64];
	struct json_object *rec;

	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	(void)snprintf(json, sizeof(json), "{\"x\":{\"%s\":{\"y\":\"long\"}}}",
	    key);
	(void)snprintf(path, sizeof(path), "x.%s.y", key);
	rec = parse(json);
	if (!ok(rec != NULL, "long-key record parses"))
		return;
	is_str(text_at(rec, path, t, sizeof(t)), "long", "299-byte key");
	is_str(text_str(rec, path, t, sizeof(t)), "long",
	    "299-byte key via get_str");
	path[strlen(path) - 3] = 'j'; /* a different key of the same length */
	is_str(text_str(rec, path, t, sizeof(t)), "(none)",
	    "299-byte key mismatch via get_str");
	json_object_put(rec);
}

static void
test_secret_id(void)
{
	static const struct {
		const char *json;
		const char *want;
		const char *name;
	} cases[] = {
	    {"{\"requestParameters\":{\"secretId\":\"rp\"}}", "rp",
		"requestParameters.secretId"},
	    {"{\"additionalEventData\":{\"SecretId\":\"arn:ad\"}}", "arn:ad",
		"additionalEventData.SecretId"},
	    {"{\"responseElements\":{\"arn\":\"arn:lower\"}}", "arn:lower",
		"responseElements.arn"},
	    {"{\"responseElements\":{\"aRN\":\"arn:odd\"}}", "arn:odd",
		"responseElements.aRN"},
	    {"{\"requestParameters\":{\"name\":\"created\"}}", "created",
		"requestParameters.name (CreateSecret)"},
	    {"{\"responseElements\":{\"name\":\"rname\"}}", "rname",
		"responseElements.name"},
	    {"{\"requestParameters\":{\"secretId\":\"rp\"},"
	     "\"additionalEventData\":{\"SecretId\":\"ad\"},"
	     "\"responseElements\":{\"arn\":\"a\",\"aRN\":\"b\"}}",
		"a", "responseElements.arn wins"},
	    {"{\"additionalEventData\":{\"SecretId\":\"ad\"},"
	     "\"requestParameters\":{\"secretId\":\"rp\"}}",
		"ad", "additionalEventData before requestParameters"},
	    {"{\"responseElements\":{\"aRN\":\"b\",\"arn\":\"a\"}}", "a",
		"arn before aRN"},
	    {"{\"requestParameters\":{\"secretId\":\"\"},"
	     "\"responseElements\":{\"aRN\":\"b\"}}",
		"b", "empty string skipped"},
	    {"{\"requestParameters\":{\"secretId\":42},"
	     "\"responseElements\":{\"arn\":\"a\"}}",
		"a", "non-string skipped"},
	    {"{\"requestParameters\":null,\"responseElements\":null}", NULL,
		"all null: none"},
	    {"{\"requestParameters\":\"x\"}", NULL, "string parent: none"},
	    {"{\"eventName\":\"ListSecrets\"}", NULL, "none"},
	    {"[1,2]", NULL, "array record: none"},
	};
	struct json_object *rec;
	struct record_path *p;
	struct json_object *v;
	char t[128];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		rec = parse(cases[i].json);
		if (!ok(rec != NULL, "%s: parses", cases[i].name))
			continue;
		is_str(record_secret_id(rec), cases[i].want,
		    "record_secret_id: %s", cases[i].name);
		is_str(text_at(rec, "secretId", t, sizeof(t)),
		    cases[i].want != NULL ? cases[i].want : "(absent)",
		    "record_get secretId: %s", cases[i].name);
		is_str(text_str(rec, "secretId", t, sizeof(t)),
		    cases[i].want != NULL ? cases[i].want : "(none)",
		    "record_get_str secretId: %s", cases[i].name);
		json_object_put(rec);
	}
	ok(record_secret_id(NULL) == NULL, "record_secret_id(NULL)");
	rec = parse("{\"requestParameters\":{\"secretId\":\"rp\"}}");
	is_str(text_at(rec, "secretId.x", t, sizeof(t)), "(absent)",
	    "secretId.x: absent (a string has no members)");
	if (record_path_compile("secretId", &p) == 0) {
		v = record_get(rec, p, NULL);
		ok(v != NULL && json_object_is_type(v, json_type_string),
		    "record_get secretId without ret_present");
		record_path_free(p);
	}
	json_object_put(rec);
}

static void
test_string(void)
{
	struct json_object *rec;

	rec = parse("{\"eventID\":\"e1\",\"n\":5,\"z\":null}");
	is_str(record_string(rec, "eventID"), "e1", "record_string");
	ok(record_string(rec, "n") == NULL, "record_string on a number");
	ok(record_string(rec, "z") == NULL, "record_string on null");
	ok(record_string(rec, "nope") == NULL, "record_string missing");
	ok(record_string(NULL, "eventID") == NULL, "record_string NULL");
	json_object_put(rec);
	rec = parse("[\"eventID\"]");
	ok(record_string(rec, "eventID") == NULL, "record_string on array");
	json_object_put(rec);
}

static void
test_value_text(void)
{
	static const struct text_case cases[] = {
	    {"s", "a/b \"q\" \xc3\xa9", "string as-is, no escaping"},
	    {"i", "-12", "int"},
	    {"d", "1.5", "double"},
	    {"t", "true", "true"},
	    {"f", "false", "false"},
	    {"o", "{\"k\":[1,\"x/y\"]}", "object compact, slashes not escaped"},
	    {"e", "{}", "empty object"},
	    {"a", "[]", "empty array"},
	    {"big", "18446744073709551615", "uint64"},
	};
	struct json_object *rec;
	struct buf b;

	rec =
	    parse("{\"s\":\"a/b \\\"q\\\" \\u00e9\",\"i\":-12,\"d\":1.5,"
		  "\"t\":true,\"f\":false,\"z\":null,\"o\":{\"k\":[1,\"x/y\"]},"
		  "\"e\":{},\"a\":[],\"nul\":\"a\\u0000b\",\"big\":"
		  "18446744073709551615}");
	if (!ok(rec != NULL, "value record parses"))
		return;
	texts_are(rec, text_at, cases, ARRAY_SIZE(cases));
	buf_init(&b, 64);
	is_int(record_value_text(NULL, &b), 0, "NULL appends nothing");
	is_int((long long)b.len, 0, "NULL: length 0");
	is_int(record_value_text(record_get_str(rec, "nul"), &b), 0,
	    "embedded NUL");
	is_int((long long)b.len, 3, "embedded NUL kept (3 bytes)");
	ok(b.len == 3 && memcmp(b.data, "a\0b", 3) == 0, "bytes a NUL b");
	buf_done(&b);
	buf_init(&b, 4);
	is_int(record_value_text(record_get_str(rec, "s"), &b), -E2BIG,
	    "string over the buffer ceiling: -E2BIG");
	is_int(record_value_text(record_get_str(rec, "o"), &b), -E2BIG,
	    "object over the buffer ceiling: -E2BIG");
	is_int((long long)b.len, 0, "buffer unchanged after -E2BIG");
	buf_done(&b);
	json_object_put(rec);
}

int
main(void)
{
	test_compile_hostile();
	test_get();
	test_long_key();
	test_secret_id();
	test_string();
	test_value_text();
	return done_testing();
}
