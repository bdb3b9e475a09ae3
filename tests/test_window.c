/*
 * test_window.c: the rules over time against their own state read back
 * hostile. A run fills the store; then every value in it is replaced, in
 * turn, by each of a set of malformed ones (not JSON, the wrong shapes,
 * elements of the wrong types, a broken expectation), and the same
 * operations run again: nothing may crash or abort (json-c asserts on a
 * non-array), and each window starts afresh instead. Also: the exact
 * extra members of a threshold and a distinct alert, and expectations
 * handed over in deadline order.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "diag.h"
#include "rules.h"
#include "store.h"
#include "tap.h"
#include "testlib.h"
#include "window.h"

static const char rules_text[] =
    "rules:\n"
    "  - id: thr\n"
    "    match: {eventName: GetSecretValue}\n"
    "    group_by: [principal]\n"
    "    threshold: {count: 2, within: 10m}\n"
    "  - id: dst\n"
    "    match: {eventName: GetSecretValue}\n"
    "    group_by: [principal]\n"
    "    distinct: {field: secretId, count: 2, within: 10m}\n"
    "  - id: new\n"
    "    match: {eventName: GetSecretValue}\n"
    "    group_by: [principal]\n"
    "    first_seen: {learn: 1s}\n"
    "  - id: exp\n"
    "    match: {eventName: RotationStarted}\n"
    "    expect: {match: {eventName: RotationSucceeded}, within: 1h}\n";

/* What the operations returned < 0 (the hostile state may make them fail,
 * never crash). */
static int errs;
#define CK(x)                                                                  \
	do {                                                                   \
		if ((x) < 0)                                                   \
			errs++;                                                \
	} while (0)

static struct json_object *
rec(const char *name, const char *id, const char *who, const char *secret)
{
	char text[1024];

	(void)snprintf(text, sizeof(text),
	    "{\"eventName\":\"%s\",\"eventID\":\"%s\",\"recipientAccountId\":"
	    "\"123456789012\",\"awsRegion\":\"us-east-1\",\"userIdentity\":"
	    "{\"type\":\"IAMUser\",\"arn\":\"arn:aws:iam::123456789012:user/"
	    "%s\"},\"requestParameters\":{\"secretId\":\"%s\"}}",
	    name, id, who, secret);
	return json_tokener_parse(text);
}

static int
due_cb(const struct rule *r, const char *group, const char *event_id,
    const char *json, size_t len, uint64_t deadline, void *arg)
{
	struct buf *b = arg;

	UNUSED(r);
	UNUSED(group);
	UNUSED(json);
	UNUSED(len);
	return buf_printf(b, "%s@%llu ", event_id != NULL ? event_id : "-",
	    (unsigned long long)deadline);
}

/* Every operation once, at t; the alerts' extra members into out. */
static void
exercise(struct window *w, const struct rules *rs, uint64_t t, struct buf *out)
{
	static const char *const ids[] = {"a1", "a2", "a3"};
	static const char *const secrets[] = {"s1", "s2", "s1"};
	size_t i, k;

	for (i = 0; i < 3; i++) {
		struct json_object *o =
		    rec("GetSecretValue", ids[i], "ann", secrets[i]);

		CK(window_read(w, o, t + i));
		for (k = 0; k < 3; k++) {
			const struct rule *r = rules_get(rs, k);

			if (window_hit(w, r, "ann", ids[i], o, t + i, t + i,
				out) == 1)
				CK(buf_puts(out, "|"));
		}
		CK(window_readers(w, o, out));
		CK(buf_puts(out, "|"));
		json_object_put(o);
	}
	CK(window_expect(w, rules_get(rs, 3), "s1", "o1", t, "{}", 2));
	CK(window_expect(w, rules_get(rs, 3), "s2", "o2", t, "{}", 2));
	CK(window_close(w, rules_get(rs, 3), "s2", t + 5));
	CK(window_due(w, rs, t + 7200, due_cb, out));
}

struct keys {
	uint64_t k[64];
	size_t n;
};

static bool
collect(uint64_t key, const char *val, size_t len, uint64_t expires, void *arg)
{
	struct keys *ks = arg;

	UNUSED(val);
	UNUSED(len);
	UNUSED(expires);
	if (ks->n < 64)
		ks->k[ks->n++] = key;
	return false;
}

static void
test_exact(const struct rules *rs, const char *dir)
{
	struct store *st = NULL;
	struct window *w = NULL;
	struct buf out;

	if (store_local_open(dir, NULL, &st, NULL) < 0 ||
	    window_new(st, 900, &w) < 0)
		tl_bail("cannot open the store in %s", dir);
	buf_init(&out, 1u << 20);
	errs = 0;
	exercise(w, rs, 1764061200, &out);
	is_int(errs, 0, "no operation failed");
	is_str(out.data,
	    "\"readers\":[{\"principal\":\"arn:aws:iam::123456789012:user/ann\","
	    "\"lastRead\":\"2025-11-25T09:00:00Z\"}]|"
	    "\"count\":2,\"events\":[\"a1\",\"a2\"]|"
	    "\"count\":2,\"events\":[\"a1\",\"a2\"],\"values\":[\"s1\",\"s2\"]|"
	    "\"readers\":[{\"principal\":\"arn:aws:iam::123456789012:user/ann\","
	    "\"lastRead\":\"2025-11-25T09:00:01Z\"}]|"
	    "\"readers\":[{\"principal\":\"arn:aws:iam::123456789012:user/ann\","
	    "\"lastRead\":\"2025-11-25T09:00:00Z\"}]|"
	    "o1@1764064800 ",
	    "a threshold, a distinct, the readers (written at most once a "
	    "minute), the overdue expectation; the met one not");
	buf_done(&out);
	window_free(w);
	store_free(st);
}

static void
test_hostile(const struct rules *rs, const char *dir)
{
	static const char *const garbage[] = {"", "x", "[", "{}", "5", "[1,2]",
	    "[[{},5],[1],7,[\"p\"]]", "{\"w\":5,\"u\":{}}",
	    "{\"w\":[[1],[\"a\",\"b\"],5,[1,2,3]],\"u\":[1,{}]}",
	    "{\"w\":[[1,\"a\",5]],\"u\":\"x\"}", "E", "E{}\n{}", "Enot json\nx",
	    "E{\"d\":1,\"t\":1,\"rule\":5,\"fp\":[],\"group\":{}}\n{}",
	    "E{\"d\":1,\"t\":1,\"rule\":\"exp\",\"fp\":\"0\",\"group\":\"s1\"}"
	    "\n{}",
	    "99999999999999999999999999 1", NULL};
	struct store *st = NULL;
	struct window *w = NULL;
	struct keys ks = {.n = 0};
	struct buf out;
	size_t g, k;

	if (store_local_open(dir, NULL, &st, NULL) < 0 ||
	    window_new(st, 900, &w) < 0)
		tl_bail("cannot open the store in %s", dir);
	buf_init(&out, 1u << 20);
	exercise(w, rs, 1764061200, &out);
	store_each(st, collect, &ks);
	ok(ks.n >= 6, "the run left its keys (%zu)", ks.n);
	for (g = 0; garbage[g] != NULL; g++) {
		for (k = 0; k < ks.n; k++)
			CK(store_put(st, ks.k[k], garbage[g],
			    strlen(garbage[g]), 0));
		/* Read back at open too: the expectations are loaded. */
		window_free(w);
		w = NULL;
		ok(window_new(st, 900, &w) == 0, "garbage %zu: loads", g);
		buf_reset(&out);
		if (w != NULL)
			exercise(w, rs, 1764061200 + 86400 * (g + 1), &out);
		ok(w != NULL, "garbage %zu: every operation ran", g);
	}
	buf_done(&out);
	window_free(w);
	store_free(st);
}

int
main(void)
{
	char *tmp = tl_tmpdir("test_window");
	struct rules *rs = NULL;
	char dir[4096];

	if (rules_load_buffer("rules.yaml", rules_text, strlen(rules_text),
		true, &rs, NULL) < 0)
		tl_bail("the test rules do not load");
	(void)snprintf(dir, sizeof(dir), "%s", tmp);
	test_exact(rs, dir);
	(void)snprintf(dir, sizeof(dir), "%s/state.journal", tmp);
	(void)remove(dir);
	(void)snprintf(dir, sizeof(dir), "%s", tmp);
	test_hostile(rs, dir);
	rules_free(rs);
	(void)tl_tmpdir_free(tmp);
	return done_testing();
}
