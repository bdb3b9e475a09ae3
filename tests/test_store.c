/*
 * test_store.c: the local state store: hostile journals, locking, the
 * table (put, get, del, overwrite, probe chains against a model, growth),
 * expiry, eviction and limits, persistence (exact lines, group commit,
 * unsynced writes, a torn line, a full disk), compaction.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <unistd.h>

#include "buf.h"
#include "diag.h"
#include "store.h"
#include "tap.h"
#include "testlib.h"

static char *
jpath(const char *dir)
{
	static char p[4096];

	(void)snprintf(p, sizeof(p), "%s/state.journal", dir);
	return p;
}

static void
write_journal(const char *dir, const char *text, size_t len, bool append)
{
	if (tl_write_file(jpath(dir), text, len, append) < 0)
		tl_bail("cannot write %s", jpath(dir));
}

static char *
read_journal(const char *dir)
{
	char *p = tl_slurp(jpath(dir), SIZE_MAX - 1, NULL);

	if (p == NULL)
		tl_bail("cannot read %s", jpath(dir));
	return p;
}

static int
open_lim(const char *dir, uint64_t max_keys, uint64_t max_bytes,
    struct store **ret, struct diag *d)
{
	struct store_opts o = {.max_keys = max_keys, .max_bytes = max_bytes};

	return store_local_open(dir, &o, ret, d);
}

/* Opened, or the run is over. */
static struct store *
must_open(const char *dir, uint64_t max_keys, uint64_t max_bytes)
{
	struct store *s = NULL;
	int r = open_lim(dir, max_keys, max_bytes, &s, NULL);

	if (r < 0)
		tl_bail("cannot open the store in %s: %s", dir, strerror(-r));
	return s;
}

static struct store_stats
stats(const struct store *s)
{
	struct store_stats st;

	store_stats(s, &st);
	return st;
}

static int
put_str(struct store *s, uint64_t key, const char *val, uint64_t expires)
{
	return store_put(s, key, val, strlen(val), expires);
}

/* key's value as a C string ("-" when absent), and its expiry. */
static const char *
get_str(struct store *s, uint64_t key, uint64_t *ret_expires)
{
	const char *val = NULL;
	size_t len = 0;
	int r;

	r = store_get(s, key, &val, &len, ret_expires);
	if (r == 0)
		return "-";
	if (r < 0 || val == NULL || strlen(val) != len)
		return "?";
	return val;
}

/* ---- the whole content, as sorted text ---- */

struct dump_item {
	uint64_t key;
	uint64_t expires;
	char *val;
	size_t len;
};

struct dump {
	struct dump_item *items;
	size_t n;
	size_t cap;
	size_t stop_after; /* 0: never stop */
};

static bool
dump_cb(uint64_t key, const char *val, size_t len, uint64_t expires, void *arg)
{
	struct dump *d = arg;
	struct dump_item *it;

	if (d->n == d->cap) {
		d->cap = d->cap != 0 ? d->cap * 2 : 64;
		d->items = realloc(d->items, d->cap * sizeof(*d->items));
		if (d->items == NULL)
			tl_bail("out of memory");
	}
	it = &d->items[d->n++];
	it->key = key;
	it->expires = expires;
	it->len = len;
	it->val = malloc(len + 1);
	if (it->val == NULL)
		tl_bail("out of memory");
	memcpy(it->val, val, len);
	it->val[len] = val[len]; /* the NUL store.c adds, checked below */
	return d->stop_after != 0 && d->n == d->stop_after;
}

static int
dump_cmp(const void *a, const void *b)
{
	const struct dump_item *x = a;
	const struct dump_item *y = b;

	return x->key < y->key ? -1 : x->key > y->key;
}

/* "key expires hex-value\n" for every key, sorted (malloc'ed). */
static char *
dump(struct store *s)
{
	struct dump d;
	struct buf b;
	size_t i;
	size_t j;

	memset(&d, 0, sizeof(d));
	store_each(s, dump_cb, &d);
	qsort(d.items, d.n, sizeof(*d.items), dump_cmp);
	buf_init(&b, SIZE_MAX / 2);
	for (i = 0; i < d.n; i++) {
		if (buf_printf(&b, "%016" PRIx64 " %" PRIu64 " ",
			d.items[i].key, d.items[i].expires) < 0)
			tl_bail("out of memory");
		for (j = 0; j < d.items[i].len; j++)
			if (buf_printf(&b, "%02x",
				(unsigned char)d.items[i].val[j]) < 0)
				tl_bail("out of memory");
		if (buf_puts(&b,
			d.items[i].val[d.items[i].len] == '\0'
			    ? "\n"
			    : " (no NUL)\n") < 0)
			tl_bail("out of memory");
		free(d.items[i].val);
	}
	free(d.items);
	return buf_steal(&b);
}

/* ---- hostile journals ---- */

#define L1 "{\"k\":\"00000000000000aa\",\"e\":5}\n"

static void
test_hostile(void)
{
	static const struct {
		const char *text;
		unsigned line;
		const char *why;
	} cases[] = {
	    {L1 "hello\n", 2, "not a JSON object"},
	    {"\n", 1, "empty line"},
	    {"[1]\n", 1, "not a JSON object"},
	    {"\"k\"\n", 1, "not a JSON object"},
	    {"{\"k\":\"00000000000000aa\",\"e\":5} x\n", 1,
		"not a JSON object"},
	    {"{\"k\":\"00000000000000aa\",\"e\":5}{}\n", 1,
		"not a JSON object"},
	    {"{\"k\":\"00000000000000aa\",\"e\":5\n", 1, "not a JSON object"},
	    {"{\"e\":5}\n", 1, "\"k\" missing or not 16 hex digits"},
	    {"{\"k\":170,\"e\":5}\n", 1, "\"k\" missing or not 16 hex digits"},
	    {"{\"k\":\"aa\",\"e\":5}\n", 1,
		"\"k\" missing or not 16 hex digits"},
	    {"{\"k\":\"00000000000000aaa\",\"e\":5}\n", 1,
		"\"k\" missing or not 16 hex digits"},
	    {"{\"k\":\"00000000000000AA\",\"e\":5}\n", 1,
		"\"k\" missing or not 16 hex digits"},
	    {"{\"k\":\"0x000000000000aa\",\"e\":5}\n", 1,
		"\"k\" missing or not 16 hex digits"},
	    {"{\"k\":\"0000000000000000\",\"e\":5}\n", 1,
		"\"k\" missing or not 16 hex digits"},
	    {L1 "{\"k\":\"00000000000000aa\"}\n", 2,
		"\"e\" missing or negative"},
	    {"{\"k\":\"00000000000000aa\",\"e\":-1}\n", 1,
		"\"e\" missing or negative"},
	    {"{\"k\":\"00000000000000aa\",\"e\":\"5\"}\n", 1,
		"\"e\" missing or negative"},
	    {"{\"k\":\"00000000000000aa\",\"e\":5.5}\n", 1,
		"\"e\" missing or negative"},
	    {"{\"k\":\"00000000000000aa\",\"e\":5,\"v\":7}\n", 1,
		"\"v\" not a string"},
	    {"{\"k\":\"00000000000000aa\",\"e\":5,\"v\":null}\n", 1,
		"\"v\" not a string"},
	    {L1 "{\"k\":\"00000000000000aa\",\"d\":2}\n", 2, "\"d\" not 1"},
	    {"{\"k\":\"00000000000000aa\",\"d\":true}\n", 1, "\"d\" not 1"},
	};
	char want[300];
	struct diag d;
	size_t i;
	int r;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		char *dir = tl_tmpdir("test_store");
		struct store *s = NULL;

		write_journal(dir, cases[i].text, strlen(cases[i].text), false);
		memset(&d, 0, sizeof(d));
		r = store_local_open(dir, NULL, &s, &d);
		is_int(r, -EBADMSG, "hostile journal %zu: -EBADMSG", i);
		ok(s == NULL, "hostile journal %zu: no store", i);
		is_int(d.line, cases[i].line, "hostile journal %zu: line", i);
		(void)snprintf(want, sizeof(want), "byte offset %zu: %s",
		    cases[i].line == 1 ? (size_t)0 : strlen(L1), cases[i].why);
		is_str(d.msg, want, "hostile journal %zu: message", i);
		ok(strstr(d.file, "/state.journal") != NULL,
		    "hostile journal %zu: names the journal", i);
		store_free(s);
		(void)tl_tmpdir_free(dir);
	}

	/* A NUL byte; a value one byte over the limit. */
	{
		static const char nul[] = "{\"k\":\"00000000000000aa\",\0}\n";
		char *dir = tl_tmpdir("test_store");
		struct store *s = NULL;
		struct buf b;

		write_journal(dir, nul, sizeof(nul) - 1, false);
		r = store_local_open(dir, NULL, &s, &d);
		is_int(r, -EBADMSG, "NUL byte: -EBADMSG");
		is_str(d.msg, "byte offset 0: NUL byte", "NUL byte: message");
		buf_init(&b, SIZE_MAX / 2);
		if (buf_puts(&b,
			L1 "{\"k\":\"00000000000000bb\",\"e\":1,"
			   "\"v\":\"") < 0 ||
		    buf_reserve(&b, STORE_MAX_VALUE + 1) < 0)
			tl_bail("out of memory");
		memset(b.data + b.len, 'x', STORE_MAX_VALUE + 1);
		b.len += STORE_MAX_VALUE + 1;
		if (buf_puts(&b, "\"}\n") < 0)
			tl_bail("out of memory");
		write_journal(dir, b.data, b.len, false);
		r = store_local_open(dir, NULL, &s, &d);
		is_int(r, -EBADMSG, "value over STORE_MAX_VALUE: -EBADMSG");
		is_int(d.line, 2, "value over STORE_MAX_VALUE: its line");
		ok(strstr(d.msg, "\"v\" too long") != NULL,
		    "value over STORE_MAX_VALUE: says so");
		/* Exactly STORE_MAX_VALUE is fine. */
		b.len -= 4;
		if (buf_puts(&b, "\"}\n") < 0)
			tl_bail("out of memory");
		write_journal(dir, b.data, b.len, false);
		r = store_local_open(dir, NULL, &s, &d);
		is_int(r, 0, "value of STORE_MAX_VALUE: opens");
		is_int(r == 0 ? (long long)stats(s).bytes : -1, STORE_MAX_VALUE,
		    "value of STORE_MAX_VALUE: kept");
		store_free(r == 0 ? s : NULL);
		buf_done(&b);
		(void)tl_tmpdir_free(dir);
	}

	/* Odd but valid: unknown fields, a delete of an unknown key, an
	 * empty "v", an expiry past 2^32 - 1, another field order. */
	{
		static const char text[] =
		    "{\"k\":\"00000000000000aa\",\"e\":5,\"x\":[1,{}]}\n"
		    "{\"k\":\"00000000000000cc\",\"d\":1}\n"
		    "{\"v\":\"\",\"e\":7,\"k\":\"00000000000000bb\"}\n"
		    "{\"k\":\"00000000000000dd\",\"e\":99999999999}\n"
		    "{\"k\":\"00000000000000ee\",\"e\":1,\"v\":\"a\\u0000\\u00e9"
		    "\\\"\"}\n";
		char *dir = tl_tmpdir("test_store");
		struct store *s = NULL;
		uint64_t e = 0;
		const char *v = NULL;
		size_t len = 0;

		write_journal(dir, text, sizeof(text) - 1, false);
		r = store_local_open(dir, NULL, &s, &d);
		is_int(r, 0, "valid oddities: open");
		if (r != 0)
			tl_bail("cannot go on");
		is_int(stats(s).keys, 4, "valid oddities: 4 keys");
		is_str(get_str(s, 0xaa, &e), "", "unknown fields ignored");
		is_int(e, 5, "... expiry kept");
		is_str(get_str(s, 0xbb, &e), "", "an empty \"v\": empty value");
		is_str(get_str(s, 0xdd, &e), "", "a huge expiry");
		is_int(e, UINT32_MAX, "... kept as 2^32 - 1");
		is_int(store_get(s, 0xee, &v, &len, NULL), 1, "escapes: held");
		ok(len == 5 && memcmp(v, "a\0\xc3\xa9\"", 5) == 0,
		    "escapes: \\u0000, \\u00e9 and \\\" decoded");
		store_free(s);
		(void)tl_tmpdir_free(dir);
	}
}

/* ---- opening ---- */

static void
test_open(void)
{
	char *dir = tl_tmpdir("test_store");
	struct store *s = NULL;
	struct store *s2 = NULL;
	struct diag d;
	char p[4200];
	int r;

	r = store_local_open(dir, NULL, &s, NULL);
	is_int(r, 0, "open: an empty dir");
	is_str(s->ops->name, "local", "open: the local store");
	is_int(tl_file_size(jpath(dir)), 0, "open: creates an empty journal");
	memset(&d, 0, sizeof(d));
	r = store_local_open(dir, NULL, &s2, &d);
	is_int(r, -EBUSY, "lock: a second open is -EBUSY");
	ok(s2 == NULL, "lock: nothing returned");
	ok(strstr(d.msg, "in use") != NULL, "lock: says why");
	store_free(s);
	r = store_local_open(dir, NULL, &s2, NULL);
	is_int(r, 0, "lock: released by store_free");
	store_free(s2);
	store_free(NULL);

	(void)snprintf(p, sizeof(p), "%s/nope", dir);
	r = store_local_open(p, NULL, &s, &d);
	is_int(r, -ENOENT, "missing dir: -ENOENT");
	ok(access(p, F_OK) != 0, "missing dir: not created");
	r = open_lim(dir, (1u << 30) + 1, 0, &s, NULL);
	is_int(r, -EINVAL, "max_keys over 2^30: -EINVAL");
	r = store_local_open(NULL, NULL, &s, NULL);
	is_int(r, -EINVAL, "no dir: -EINVAL");
	(void)tl_tmpdir_free(dir);
}

/* ---- the table ---- */

struct inside {
	struct store *s;
	bool refused;
};

/* Tries to change the store from inside store_each(). */
static bool
change_inside(uint64_t key, const char *val, size_t len, uint64_t expires,
    void *arg)
{
	struct inside *in = arg;

	(void)val;
	(void)len;
	(void)expires;
	in->refused = store_put(in->s, 77, "x", 1, 0) == -EBUSY &&
	    store_del(in->s, key) == -EBUSY && store_compact(in->s) == -EBUSY &&
	    store_expire(in->s, UINT64_MAX) == 0;
	return true;
}

static void
test_basic(void)
{
	static const char bin[] = "a\0b\"\\\n\t\r\x01\x7f\xff\xc3\xa9z";
	static const char *const p1[] = {"a"};
	static const char *const p2[] = {"rule", "first_seen"};
	static const char *const p3[] = {"ab", "c"};
	static const char *const p4[] = {"a", "bc"};
	char *dir = tl_tmpdir("test_store");
	struct store *s = must_open(dir, 0, 0);
	struct dump d;
	char *big;
	const char *v = NULL;
	size_t len = 0;
	uint64_t e = 0;

	is_int(store_key(p1, 1) == 0x089be207b544f1e4ull, 1,
	    "store_key: FNV-1a 64 of \"a\\0\"");
	is_int(store_key(p2, 2) == 0x88a980d9d26c45e7ull, 1,
	    "store_key: FNV-1a 64 of \"rule\\0first_seen\\0\"");
	is_int(store_key(NULL, 0) == 0xcbf29ce484222325ull, 1,
	    "store_key: no parts, the offset basis");
	ok(store_key(p3, 2) != store_key(p4, 2),
	    "store_key: parts are separated");

	is_int(store_get(s, 1, &v, &len, &e), 0, "get: absent");
	is_int(put_str(s, 1, "hello", 100), 0, "put");
	is_int(store_get(s, 1, &v, &len, &e), 1, "get: held");
	is_str(v, "hello", "get: the value");
	is_int(len, 5, "get: its length");
	is_int(e, 100, "get: its expiry");
	is_int(store_get(s, 1, NULL, NULL, NULL), 1,
	    "get: outputs may be NULL");
	is_int(put_str(s, 1, "bye", 0), 0, "overwrite");
	is_str(get_str(s, 1, &e), "bye", "overwrite: the new value");
	is_int(e, 0, "overwrite: the new expiry");
	is_int(store_put(s, 2, NULL, 0, 7), 0, "put: an empty value");
	v = NULL;
	is_int(store_get(s, 2, &v, &len, &e), 1, "empty value: held");
	ok(v != NULL && *v == '\0' && len == 0, "empty value: \"\", 0");
	is_int(stats(s).keys, 2, "stats: 2 keys");
	is_int(stats(s).bytes, 3, "stats: 3 bytes of values");
	is_int(put_str(s, 2, "now some", 7), 0, "empty to non-empty");
	is_int(put_str(s, 1, "", 0), 0, "non-empty to empty");
	is_int(stats(s).bytes, 8, "stats: bytes follow");
	is_int(store_put(s, 3, bin, sizeof(bin) - 1, 1), 0, "put: binary");
	is_int(store_get(s, 3, &v, &len, NULL), 1, "binary: held");
	ok(len == sizeof(bin) - 1 && memcmp(v, bin, len) == 0 && v[len] == '\0',
	    "binary: byte for byte, NUL after");
	is_int(store_put(s, 4, "x", 1, (uint64_t)UINT32_MAX + 5), 0,
	    "put: expiry past 2^32 - 1");
	(void)get_str(s, 4, &e);
	is_int(e, UINT32_MAX, "... kept as 2^32 - 1");

	is_int(store_del(s, 1), 1, "del: held, 1");
	is_int(store_del(s, 1), 0, "del: absent, 0");
	is_str(get_str(s, 1, NULL), "-", "del: gone");
	is_int(stats(s).keys, 3, "stats: 3 keys");

	is_int(store_put(s, 0, "x", 1, 0), -EINVAL, "put: key 0, -EINVAL");
	is_int(store_get(s, 0, NULL, NULL, NULL), 0, "get: key 0, absent");
	is_int(store_del(s, 0), 0, "del: key 0, absent");
	is_int(store_put(s, 5, NULL, 3, 0), -EINVAL, "put: NULL, 3 bytes");
	big = calloc(1, STORE_MAX_VALUE + 1);
	is_int(store_put(s, 5, big, STORE_MAX_VALUE + 1, 0), -E2BIG,
	    "put: over STORE_MAX_VALUE, -E2BIG");
	is_str(get_str(s, 5, NULL), "-", "... not kept");
	memset(big, 'b', STORE_MAX_VALUE);
	is_int(store_put(s, 5, big, STORE_MAX_VALUE, 0), 0,
	    "put: STORE_MAX_VALUE exactly");
	is_int(store_get(s, 5, &v, &len, NULL) == 1 && len == STORE_MAX_VALUE &&
		memcmp(v, big, len) == 0,
	    1, "... kept");
	free(big);

	memset(&d, 0, sizeof(d));
	d.stop_after = 2;
	store_each(s, dump_cb, &d);
	is_int(d.n, 2, "each: stops when the callback says so");
	while (d.n > 0)
		free(d.items[--d.n].val);
	free(d.items);
	{
		struct dump all;

		memset(&all, 0, sizeof(all));
		store_each(s, dump_cb, &all);
		is_int(all.n, 4, "each: every key");
		while (all.n > 0)
			free(all.items[--all.n].val);
		free(all.items);
	}
	{
		struct inside in = {.s = s, .refused = false};

		store_each(s, change_inside, &in);
		ok(in.refused,
		    "each: put, del, compact, expire refused inside");
		is_int(stats(s).keys, 4, "each: nothing changed inside");
	}
	is_int(store_put(s, 77, "x", 1, 0), 0, "each: put works after");
	store_free(s);
	(void)tl_tmpdir_free(dir);
}

/*
 * Probe chains against a model: a pool of keys put, overwritten, deleted
 * and expired at random, with at most max_live held so the table stays
 * small and full (3/4): long chains that wrap around its end, deletions
 * in their middle. After each step every key of the pool is looked up.
 */
static void
test_model(size_t pool, size_t max_live, unsigned steps)
{
	char *dir = tl_tmpdir("test_store");
	struct store *s = must_open(dir, 0, 0);
	uint64_t *keys = calloc(pool, sizeof(*keys));
	bool *held = calloc(pool, sizeof(*held));
	uint64_t *exp = calloc(pool, sizeof(*exp));
	unsigned *ver = calloc(pool, sizeof(*ver));
	uint64_t rng = 0x1234567 + pool;
	size_t live = 0;
	unsigned bad = 0;
	unsigned step;
	size_t i;
	size_t k;
	char want[32];
	uint64_t e;
	uint64_t now;
	size_t dropped;

	for (i = 0; i < pool; i++)
		keys[i] = tl_xorshift(&rng) | 1;
	for (step = 0; step < steps && bad == 0; step++) {
		k = tl_xorshift(&rng) % pool;
		if (step % 97 == 96) {
			now = tl_xorshift(&rng) % 1000;
			dropped = 0;
			for (i = 0; i < pool; i++)
				if (held[i] && exp[i] != 0 && exp[i] < now) {
					held[i] = false;
					live--;
					dropped++;
				}
			if (store_expire(s, now) != dropped)
				bad++;
		} else if (held[k] && tl_xorshift(&rng) % 2 == 0) {
			if (store_del(s, keys[k]) != 1)
				bad++;
			held[k] = false;
			live--;
		} else if (held[k] || live < max_live) {
			ver[k]++;
			exp[k] = tl_xorshift(&rng) % 1000;
			(void)snprintf(want, sizeof(want), "%zu.%u", k, ver[k]);
			if (put_str(s, keys[k], ver[k] % 3 == 0 ? "" : want,
				exp[k]) != 0)
				bad++;
			live += !held[k];
			held[k] = true;
		}
		for (i = 0; i < pool; i++) {
			const char *got = get_str(s, keys[i], &e);

			(void)snprintf(want, sizeof(want), "%zu.%u", i, ver[i]);
			if (!held[i])
				bad += strcmp(got, "-") != 0;
			else if (strcmp(got, ver[i] % 3 == 0 ? "" : want) !=
				0 ||
			    e != exp[i])
				bad++;
		}
		if (stats(s).keys != live)
			bad++;
	}
	is_int(bad, 0, "model (%zu keys, %zu live): %u steps agree", pool,
	    max_live, step);
	free(keys);
	free(held);
	free(exp);
	free(ver);
	store_free(s);
	(void)tl_tmpdir_free(dir);
}

static void
test_expire(void)
{
	char *dir = tl_tmpdir("test_store");
	struct store *s = must_open(dir, 0, 0);

	is_int(put_str(s, 1, "a", 10), 0, "expire: put, expiry 10");
	is_int(put_str(s, 2, "b", 20), 0, "expire: put, expiry 20");
	is_int(put_str(s, 3, "c", 0), 0, "expire: put, never");
	is_int(put_str(s, 4, "", 30), 0, "expire: put, expiry 30");
	is_int(store_expire(s, 5), 0, "expire(5): none");
	is_int(store_expire(s, 10), 0, "expire(10): not before 10");
	is_int(store_expire(s, 20), 1, "expire(20): one");
	is_str(get_str(s, 1, NULL), "-", "expire(20): key 1 gone");
	is_str(get_str(s, 2, NULL), "b", "expire(20): key 2 stays");
	is_int(store_expire(s, UINT64_MAX), 2, "expire(max): two more");
	is_str(get_str(s, 3, NULL), "c", "expire(max): 0 never expires");
	is_int(stats(s).expired, 3, "stats: 3 expired");
	is_int(stats(s).evicted, 0, "stats: none evicted");
	is_int(stats(s).keys, 1, "stats: 1 key");
	is_int(store_sync(s), 7, "expire: its deletes are journaled");
	store_free(s);
	s = must_open(dir, 0, 0);
	is_int(stats(s).keys, 1, "expire: reopened, 1 key");
	is_str(get_str(s, 3, NULL), "c", "expire: reopened, key 3");
	store_free(s);
	(void)tl_tmpdir_free(dir);
}

static void
test_evict(void)
{
	char *dir = tl_tmpdir("test_store");
	struct store *s = must_open(dir, 3, 0);
	unsigned never;
	unsigned i;

	is_int(put_str(s, 0xa, "A", 100), 0, "evict: A expires at 100");
	is_int(put_str(s, 0xb, "B", 0), 0, "evict: B never expires");
	is_int(put_str(s, 0xc, "C", 50), 0, "evict: C expires at 50");
	is_int(put_str(s, 0xd, "D", 200), 0, "evict: D, a fourth key");
	is_str(get_str(s, 0xc, NULL), "-", "evict: C, expiring first, went");
	is_int(stats(s).evicted, 1, "evict: counted");
	is_int(stats(s).keys, 3, "evict: 3 keys");
	is_int(put_str(s, 0xe, "E", 10), 0, "evict: E, expiring at 10");
	is_str(get_str(s, 0xa, NULL), "-", "evict: then A (100), not E (10)");
	is_str(get_str(s, 0xe, NULL), "E", "evict: E is there");
	is_int(put_str(s, 0xe, "E2", 10), 0, "evict: overwrite at max_keys");
	is_int(stats(s).evicted, 2, "evict: an overwrite evicts nothing");
	is_int(put_str(s, 0xf, "F", 1), 0, "evict: F, expiring at 1");
	is_str(get_str(s, 0xe, NULL), "-", "evict: E went, not F");
	is_str(get_str(s, 0xb, NULL), "B", "evict: B, never expiring, stays");
	is_int(stats(s).evicted, 3, "evict: 3 evicted");
	is_int(stats(s).expired, 0, "evict: none expired");
	is_int(store_sync(s), 10, "evict: 7 puts and 3 deletes journaled");
	store_free(s);
	s = must_open(dir, 3, 0);
	is_str(get_str(s, 0xb, NULL), "B", "evict: reopened, B");
	is_str(get_str(s, 0xd, NULL), "D", "evict: reopened, D");
	is_str(get_str(s, 0xf, NULL), "F", "evict: reopened, F");
	is_int(stats(s).keys, 3, "evict: reopened, nothing else");
	store_free(s);
	/* Tighter limits than the journal's: evicted at open, journaled. */
	s = must_open(dir, 1, 0);
	is_int(stats(s).keys, 1, "max_keys 1 at open: 1 key");
	is_str(get_str(s, 0xb, NULL), "B", "max_keys 1 at open: B stays");
	is_int(stats(s).evicted, 2, "max_keys 1 at open: 2 evicted");
	is_int(store_sync(s), 2, "max_keys 1 at open: journaled");
	store_free(s);
	s = must_open(dir, 0, 0);
	is_int(stats(s).keys, 1, "reopened without limits: still 1 key");
	store_free(s);
	(void)tl_tmpdir_free(dir);

	/* Many keys: 16 sampled at each eviction; the 500 that expire go
	 * before the 500 that never do. */
	dir = tl_tmpdir("test_store");
	s = must_open(dir, 1000, 0);
	for (i = 1; i <= 1000; i++)
		(void)store_put(s, i, NULL, 0, i <= 500 ? 1000 + i : 0);
	for (i = 1001; i <= 1100; i++)
		(void)store_put(s, i, NULL, 0, 0);
	never = 0;
	for (i = 501; i <= 1100; i++)
		never += store_get(s, i, NULL, NULL, NULL) == 1;
	is_int(stats(s).evicted, 100, "sampled: 100 evicted");
	is_int(never, 600, "sampled: every never-expiring key stays");
	store_free(s);
	(void)tl_tmpdir_free(dir);

	/* max_bytes. */
	dir = tl_tmpdir("test_store");
	s = must_open(dir, 0, 10);
	is_int(put_str(s, 1, "aaaa", 1), 0, "max_bytes: 4 bytes, expiring 1");
	is_int(put_str(s, 2, "bbbb", 50), 0, "max_bytes: 4 more, at 50");
	is_int(put_str(s, 1, "aaaaaaaa", 1), 0, "max_bytes: 1 grows to 8");
	is_str(get_str(s, 1, NULL), "aaaaaaaa",
	    "max_bytes: the key being put stays, though first to expire");
	is_str(get_str(s, 2, NULL), "-", "max_bytes: the other went");
	is_int(put_str(s, 3, "ccc", 99), 0, "max_bytes: 3 more bytes");
	is_str(get_str(s, 1, NULL), "-", "max_bytes: 1 went for them");
	is_int(stats(s).bytes, 3, "max_bytes: 3 bytes");
	is_int(put_str(s, 4, "0123456789a", 0), -E2BIG,
	    "max_bytes: a value over it, -E2BIG");
	is_str(get_str(s, 3, NULL), "ccc", "max_bytes: nothing evicted for it");
	is_int(stats(s).evicted, 2, "max_bytes: 2 evicted");
	is_int(put_str(s, 4, "0123456789", 0), 0,
	    "max_bytes: exactly max_bytes");
	is_int(stats(s).keys, 1, "max_bytes: alone");
	store_free(s);
	(void)tl_tmpdir_free(dir);
}

/* ---- persistence ---- */

static void
test_journal(void)
{
	static const char want[] =
	    "{\"k\":\"0000000000000001\",\"e\":5,\"v\":\"v\\\"\\n\\u0001\"}\n"
	    "{\"k\":\"0000000000000002\",\"e\":0}\n"
	    "{\"k\":\"0000000000000001\",\"d\":1}\n"
	    "{\"k\":\"ffffffffffffffff\",\"e\":4294967295,\"v\":\"x\"}\n";
	char *dir = tl_tmpdir("test_store");
	struct store *s = must_open(dir, 0, 0);
	char *text;
	char *before;
	char *after;
	off_t good;

	is_int(put_str(s, 1, "v\"\n\x01", 5), 0, "journal: put");
	is_int(store_put(s, 2, NULL, 0, 0), 0, "journal: put, empty");
	is_int(store_del(s, 1), 1, "journal: del");
	is_int(store_del(s, 1), 0, "journal: del, absent");
	is_int(put_str(s, UINT64_MAX, "x", UINT64_MAX), 0, "journal: put");
	is_int(tl_file_size(jpath(dir)), 0, "journal: nothing written yet");
	is_int(stats(s).journal_bytes, 0, "journal: stats agree");
	is_int(store_sync(s), 4, "journal: sync, 4 lines durable");
	is_int(store_sync(s), 0, "journal: sync again, none");
	text = read_journal(dir);
	is_str(text, want, "journal: the lines, exactly");
	free(text);
	is_int(stats(s).journal_bytes, sizeof(want) - 1, "journal: its size");
	before = dump(s);
	store_free(s);
	s = must_open(dir, 0, 0);
	after = dump(s);
	is_str(after, before, "journal: reopened, the same content");
	free(after);
	store_free(s);

	/* A torn last line, cut at open. */
	good = tl_file_size(jpath(dir));
	write_journal(dir, "{\"k\":\"00000000000000", 20, true);
	s = must_open(dir, 0, 0);
	after = dump(s);
	is_str(after, before, "torn: the same content");
	free(after);
	is_int(tl_file_size(jpath(dir)), good, "torn: cut off on disk");
	is_int(put_str(s, 9, "nine", 0), 0, "torn: put goes on");
	is_int(store_sync(s), 1, "torn: sync");
	store_free(s);
	write_journal(dir, "\xff\xfe garbage", 10, true);
	s = must_open(dir, 0, 0);
	is_str(get_str(s, 9, NULL), "nine", "torn garbage: cut, 9 is there");
	is_int(stats(s).keys, 3, "torn garbage: 3 keys");
	store_free(s);
	free(before);
	(void)tl_tmpdir_free(dir);
}

/* The same lines for every key below 2^32 with expiry 1000: 34 bytes. */
#define FIXED_LINE 34

static void
test_unsynced(void)
{
	char *dir = tl_tmpdir("test_store");
	struct store *s = must_open(dir, 0, 0);
	uint64_t written;
	unsigned n = 0;
	int r = 0;

	while (r == 0 && stats(s).journal_bytes == 0 && n < 1000000)
		r = store_put(s, ++n, NULL, 0, 1000);
	is_int(r, 0, "unsynced: puts");
	written = stats(s).journal_bytes;
	ok(written >= (1u << 20) && written < (2u << 20),
	    "unsynced: written past 1 MB (%" PRIu64 " bytes)", written);
	is_int(written % FIXED_LINE, 0, "unsynced: whole lines");
	is_int(tl_file_size(jpath(dir)), written, "unsynced: in the file");
	is_int(store_put(s, ++n, NULL, 0, 1000), 0, "unsynced: one more");
	/* No sync: what was written survives; what was not, does not. */
	store_free(s);
	s = must_open(dir, 0, 0);
	is_int(stats(s).keys, written / FIXED_LINE,
	    "unsynced: reopened, the written keys");
	is_int(store_get(s, 1, NULL, NULL, NULL), 1, "unsynced: the first");
	is_int(store_get(s, n, NULL, NULL, NULL), 0,
	    "unsynced: not the last (never written)");
	store_free(s);
	(void)tl_tmpdir_free(dir);
}

/* A full disk: RLIMIT_FSIZE makes write(2) fail (EFBIG). */
static void
test_write_failure(void)
{
	char *dir = tl_tmpdir("test_store");
	struct store *s = must_open(dir, 0, 0);
	char val[1000];
	struct rlimit old;
	struct rlimit lim;
	uint64_t size;
	int r;

	memset(val, 'v', sizeof(val));
	is_int(put_str(s, 1, "one", 0), 0, "full disk: put");
	is_int(store_sync(s), 1, "full disk: sync");
	size = stats(s).journal_bytes;
	is_int(store_put(s, 2, val, sizeof(val), 0), 0, "full disk: put 1 KB");
	(void)signal(SIGXFSZ, SIG_IGN);
	(void)getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = size + 200;
	(void)setrlimit(RLIMIT_FSIZE, &lim);
	r = store_sync(s);
	(void)setrlimit(RLIMIT_FSIZE, &old);
	is_int(r, -EFBIG, "full disk: sync fails, the error as is");
	is_int(stats(s).journal_bytes, size, "full disk: size unchanged");
	is_int(tl_file_size(jpath(dir)), (long long)size,
	    "full disk: the half line cut off");
	is_int(store_get(s, 2, NULL, NULL, NULL), 1, "full disk: still held");
	is_int(put_str(s, 3, "three", 0), 0, "full disk: put goes on");
	is_int(store_sync(s), 2, "full disk: space again, both lines synced");
	store_free(s);
	s = must_open(dir, 0, 0);
	is_int(stats(s).keys, 3, "full disk: reopened, 3 keys");
	is_int(stats(s).bytes, 3 + sizeof(val) + 5, "full disk: and values");
	store_free(s);
	(void)signal(SIGXFSZ, SIG_DFL);
	(void)tl_tmpdir_free(dir);
}

static void
test_compact(void)
{
	char *dir = tl_tmpdir("test_store");
	struct store *s = must_open(dir, 0, 0);
	char *before;
	char *after;
	uint64_t size;
	unsigned i;
	int round;
	int r = 0;

	is_int(put_str(s, 1, "small", 0), 0, "compact: a small journal");
	is_int(store_compact(s), 0, "compact: below 1 MB, not worth it");
	for (round = 0; round < 3 && r >= 0; round++) {
		for (i = 1; i <= 20000 && r >= 0; i++)
			r = put_str(s, i, i % 2 ? "x" : "", 1000 + round);
		r = r < 0 ? r : store_sync(s);
	}
	is_int(r, 20000, "compact: 60,000 puts on 20,000 keys, synced");
	/* Some not yet synced: the rewrite holds them. */
	for (i = 1; i <= 100 && r >= 0; i++)
		r = store_del(s, i);
	is_int(r, 1, "compact: 100 deletes, pending");
	is_int(put_str(s, 99999, "late", 7), 0, "compact: a put, pending");
	size = stats(s).journal_bytes;
	ok(size > (2u << 20), "compact: %" PRIu64 " bytes", size);
	before = dump(s);
	is_int(store_compact(s), 1, "compact: rewritten");
	ok(stats(s).journal_bytes < size / 2, "compact: shrunk to %" PRIu64,
	    stats(s).journal_bytes);
	is_int(tl_file_size(jpath(dir)), stats(s).journal_bytes,
	    "compact: the file is that size");
	is_int(store_compact(s), 0, "compact: again, not worth it");
	is_int(store_sync(s), 0, "compact: nothing left to sync");
	after = dump(s);
	is_str(after, before, "compact: the same content");
	free(after);
	store_free(s);
	s = must_open(dir, 0, 0);
	after = dump(s);
	is_str(after, before, "compact: reopened, the same content");
	free(after);
	is_int(stats(s).keys, 19901, "compact: 19,901 keys");
	is_int(put_str(s, 100000, "after", 0), 0, "compact: put after");
	is_int(store_sync(s), 1, "compact: appends to the new journal");
	store_free(s);
	s = must_open(dir, 0, 0);
	is_str(get_str(s, 100000, NULL), "after", "compact: and it stays");
	store_free(s);
	free(before);
	(void)tl_tmpdir_free(dir);
}

static void
test_growth(void)
{
	char *dir = tl_tmpdir("test_store");
	struct store *s = must_open(dir, 0, 0);
	char val[32];
	const char *v;
	size_t len;
	uint64_t e;
	unsigned bad;
	unsigned pass;
	unsigned i;
	int r = 0;

	for (i = 1; i <= 100000 && r == 0; i++) {
		(void)snprintf(val, sizeof(val), "v%u", i);
		r = store_put(s, (uint64_t)i * 0x9e3779b97f4a7c15ull, val,
		    i % 10 == 0 ? strlen(val) : 0, i);
	}
	is_int(r, 0, "growth: 100,000 puts");
	for (i = 3; i <= 100000 && r >= 0; i += 3)
		r = store_del(s, (uint64_t)i * 0x9e3779b97f4a7c15ull);
	is_int(r, 1, "growth: every third deleted");
	is_int(store_sync(s), 133333, "growth: synced");
	for (pass = 0; pass < 2; pass++) {
		bad = 0;
		for (i = 1; i <= 100000; i++) {
			(void)snprintf(val, sizeof(val), "v%u", i);
			r = store_get(s, (uint64_t)i * 0x9e3779b97f4a7c15ull,
			    &v, &len, &e);
			if (i % 3 == 0 ? r != 0
				       : r != 1 || e != i ||
				    len != (i % 10 == 0 ? strlen(val) : 0) ||
				    memcmp(v, val, len) != 0)
				bad++;
		}
		is_int(bad, 0, "growth%s: every key as it should be",
		    pass ? ", reopened" : "");
		is_int(stats(s).keys, 66667, "growth%s: 66,667 keys",
		    pass ? ", reopened" : "");
		store_free(s);
		s = must_open(dir, 0, 0);
	}
	store_free(s);
	(void)tl_tmpdir_free(dir);
}

int
main(void)
{
	test_hostile();
	test_open();
	test_basic();
	test_model(40, 12, 20000);
	test_model(150, 48, 20000);
	test_expire();
	test_evict();
	test_journal();
	test_unsynced();
	test_write_failure();
	test_compact();
	test_growth();
	return done_testing();
}
