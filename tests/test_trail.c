/*
 * test_trail.c: the CloudTrail scanner. Hostile input first, then the real
 * samples from ../shared/data, checked against a whole-document json-c parse.
 *
 * check() scans a document every way we know: in one shot, a byte at a
 * time, in random chunks (fresh scanner and reused one), and, for JSON, also
 * gzipped and as a multi-member gzip, each fed those ways too. All must agree
 * on the return code, the diag, the counts, the records skipped (and the
 * first one's diag) and the eventIDs delivered.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <zlib.h>

#include "buf.h"
#include "diag.h"
#include "bounds.h"
#include "trail.h"
#include "tap.h"
#include "testlib.h"

#define SM "secretsmanager.amazonaws.com"
#define SMREC(id) "{\"eventSource\":\"" SM "\",\"eventID\":\"" id "\"}"
#define KMSREC(id)                                                             \
	"{\"eventSource\":\"kms.amazonaws.com\",\"eventID\":\"" id             \
	"\",\"userAgent\":\"" SM "\"}"
#define BIG (256u << 20) /* ceiling of the test's own buffers */

/* Byte-by-byte feeding above this size costs too much under valgrind. */
#define BYTEWISE_MAX (2u << 20)

enum feed { FEED_ONESHOT, FEED_BYTES, FEED_RANDOM, FEED_REUSED, FEED_COUNT };

static struct trail *reused; /* one scanner for every FEED_REUSED run */
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static size_t
rnd_chunk(void *arg)
{
	uint64_t x = tl_xorshift(&rng);

	(void)arg;
	switch (x % 4) {
	case 0:
		return 1 + (x >> 8) % 7;
	case 1:
		return 1 + (x >> 8) % 300;
	case 2:
		return 1 + (x >> 8) % 70000;
	}
	return 1 + (x >> 8) % (1u << 20);
}

static size_t
one_byte(void *arg)
{
	(void)arg;
	return 1;
}

static void
run(const void *doc, size_t len, enum feed how, struct tl_scan *g)
{
	static tl_chunk_fn *const chunk[FEED_COUNT] = {NULL, one_byte,
	    rnd_chunk, rnd_chunk};
	struct trail *t = reused;
	int r;

	if (how != FEED_REUSED) {
		r = trail_new(&t);
		if (r < 0) {
			g->r = r;
			return;
		}
	}
	tl_scan_run(t, doc, len, chunk[how], NULL, g);
	if (how != FEED_REUSED)
		trail_free(t);
}

#define CHECK_GZ 0x1 /* doc is JSON: also try it gzipped, one and 3 members */
/*
 * Big doc (valgrind pays for every megabyte): in random chunks, with fresh
 * and reused scanners, besides the one piece; gzipped (with CHECK_GZ) as
 * one member only, in random chunks only.
 */
#define CHECK_LIGHT 0x2

/*
 * Scans doc every way; *ret gets the one-shot result of doc as given (the
 * caller tl_scan_done()s it). One test: all the ways agree.
 */
static void
scan_all(const char *name, const void *doc, size_t len, int flags,
    struct tl_scan *ret)
{
	struct buf forms[3];
	const char *form_name[3] = {"plain", "gzip", "gzip x4"};
	size_t nforms = 1;
	size_t f;
	int how;
	int agree = 1;

	buf_init(&forms[0], BIG);
	buf_init(&forms[1], BIG);
	buf_init(&forms[2], BIG);
	if (buf_append(&forms[0], doc, len) < 0)
		abort();
	if ((flags & CHECK_GZ) != 0 && (flags & CHECK_LIGHT) != 0) {
		tl_gzip(&forms[1], doc, len, NULL);
		nforms = 2;
	} else if ((flags & CHECK_GZ) != 0) {
		tl_gzip(&forms[1], doc, len, NULL);
		/* An empty member first, then three pieces. */
		tl_gzip(&forms[2], "", 0, NULL);
		tl_gzip(&forms[2], doc, len / 3, NULL);
		tl_gzip(&forms[2], (const char *)doc + len / 3,
		    len / 3 * 2 - len / 3, NULL);
		tl_gzip(&forms[2], (const char *)doc + len / 3 * 2,
		    len - len / 3 * 2, NULL);
		nforms = 3;
	}
	tl_scan_init(ret);
	run(forms[0].data, forms[0].len, FEED_ONESHOT, ret);
	for (f = 0; f < nforms; f++) {
		for (how = 0; how < FEED_COUNT; how++) {
			struct tl_scan g;

			if (how == FEED_BYTES && forms[f].len > BYTEWISE_MAX)
				continue;
			if ((flags & CHECK_LIGHT) != 0 &&
			    (how == FEED_ONESHOT ||
				(f > 0 && how != FEED_RANDOM)))
				continue;
			tl_scan_init(&g);
			run(forms[f].data, forms[f].len, (enum feed)how, &g);
			/* Feeding stops at an error: bytes_in varies. */
			if (!tl_scan_same(&g, ret) ||
			    (g.r == 0 && g.st.bytes_in != forms[f].len)) {
				agree = 0;
				diag_note("%s: %s fed %d: r=%d '%s' ids=%zu "
					  "records=%llu skipped=%llu '%s'",
				    name, form_name[f], how, g.r, g.msg,
				    g.ids.len, (unsigned long long)g.st.records,
				    (unsigned long long)g.st.skipped, g.skip);
			}
			tl_scan_done(&g);
		}
	}
	ok(agree, "%s: every way of feeding agrees", name);
	buf_done(&forms[0]);
	buf_done(&forms[1]);
	buf_done(&forms[2]);
}

/*
 * scan_all(), then the exact result: code, eventIDs, diag prefix, and the
 * records skipped with the first one's diag, in full (want_skip NULL: "").
 */
static void
check_skip(const char *name, const char *doc, size_t len, int flags, int want_r,
    const char *want_ids, const char *want_msg, uint64_t want_skipped,
    const char *want_skip)
{
	struct tl_scan g;

	scan_all(name, doc, len, flags, &g);
	is_int(g.r, want_r, "%s: returns %d", name, want_r);
	is_str(tl_scan_ids(&g), want_ids, "%s: eventIDs delivered", name);
	if (want_msg != NULL)
		ok(strncmp(g.msg, want_msg, strlen(want_msg)) == 0,
		    "%s: diag '%s' starts '%s'", name, g.msg, want_msg);
	is_int((long long)g.st.skipped, (long long)want_skipped,
	    "%s: %llu records skipped", name, (unsigned long long)want_skipped);
	is_str(g.skip, want_skip != NULL ? want_skip : "",
	    "%s: the first skip's diag", name);
	tl_scan_done(&g);
}

/* check_skip(), nothing skipped. */
static void
check(const char *name, const char *doc, size_t len, int flags, int want_r,
    const char *want_ids, const char *want_msg)
{
	check_skip(name, doc, len, flags, want_r, want_ids, want_msg, 0, NULL);
}

/* Feeding that cuts at every byte from at - 4 to at + 4, few cuts else. */
struct cuts {
	size_t at;
	size_t off;
};

static size_t
cut_around(void *arg)
{
	struct cuts *c = arg;
	size_t n = 1;

	if (c->off + 4 < c->at)
		n = c->at - 4 - c->off;
	else if (c->off >= c->at + 4)
		n = SIZE_MAX / 2; /* the rest */
	c->off += n;
	return n;
}

/*
 * A big document in one piece, then cut at every byte around at (where a
 * record meets its limit), by the reused scanner; one test: they agree.
 * *ret gets the one-piece result (tl_scan_done() it).
 */
static void
scan_around(const char *name, const char *doc, size_t len, size_t at,
    struct tl_scan *ret)
{
	struct cuts c = {at, 0};
	struct tl_scan g;
	bool same;

	tl_scan_init(ret);
	run(doc, len, FEED_ONESHOT, ret);
	tl_scan_init(&g);
	tl_scan_run(reused, doc, len, cut_around, &c, &g);
	same = tl_scan_same(&g, ret);
	if (!same)
		diag_note("%s: cut: r=%d '%s' ids=%zu skipped=%llu '%s'", name,
		    g.r, g.msg, g.ids.len, (unsigned long long)g.st.skipped,
		    g.skip);
	ok(same, "%s: cut at every byte around %zu, the same", name, at);
	tl_scan_done(&g);
}

#define CHECK(name, lit, r, ids, msg)                                          \
	check(name, lit, sizeof(lit) - 1, CHECK_GZ, r, ids, msg)

static int
read_data(const char *rel, struct buf *out)
{
	char path[1024];
	int r = tl_read_file(tl_data_path(rel, path, sizeof(path)), out);

	ok(r == 0, "read %s", path);
	return r;
}

/*
 * The reference: parse the whole document with json-c and list the
 * eventIDs of the Records whose eventSource is Secrets Manager's.
 */
static int
reference(const struct buf *doc, uint64_t *ret_records, struct buf *ret_ids)
{
	struct json_tokener *tok;
	struct json_object *root;
	struct json_object *recs;
	struct json_object *src;
	struct json_object *id;
	size_t i;

	*ret_records = 0;
	tok = json_tokener_new_ex(1024);
	root = json_tokener_parse_ex(tok, doc->data, (int)doc->len);
	json_tokener_free(tok);
	if (root == NULL)
		return -1;
	if (!json_object_object_get_ex(root, "Records", &recs) ||
	    !json_object_is_type(recs, json_type_array)) {
		json_object_put(root);
		return -1;
	}
	for (i = 0; i < json_object_array_length(recs); i++) {
		struct json_object *rec = json_object_array_get_idx(recs, i);

		if (!json_object_is_type(rec, json_type_object))
			continue;
		(*ret_records)++;
		if (!json_object_object_get_ex(rec, "eventSource", &src) ||
		    !json_object_is_type(src, json_type_string) ||
		    strcmp(json_object_get_string(src), SM) != 0)
			continue;
		if (!json_object_object_get_ex(rec, "eventID", &id) ||
		    buf_puts(ret_ids, json_object_get_string(id)) < 0 ||
		    buf_putc(ret_ids, '\n') < 0)
			if (buf_puts(ret_ids, "?\n") < 0)
				abort();
	}
	json_object_put(root);
	return 0;
}

/*
 * A real sample: scanned every way, compared with the reference, and with
 * the expected counts when given (want_matched < 0: whatever the reference
 * says). The eventIDs are appended to ret_ids when not NULL.
 */
static void
sample(const char *rel, long long want_records, long long want_matched,
    struct buf *ret_ids)
{
	struct buf raw;
	struct buf json;
	struct buf want;
	uint64_t ref_records = 0;
	struct tl_scan g;
	int gz;

	buf_init(&raw, BIG);
	buf_init(&json, BIG);
	buf_init(&want, BIG);
	if (read_data(rel, &raw) < 0)
		goto out;
	gz = raw.len >= 2 && (unsigned char)raw.data[0] == 0x1f &&
	    (unsigned char)raw.data[1] == 0x8b;
	if (gz ? tl_gunzip(&json, raw.data, raw.len)
	       : buf_append(&json, raw.data, raw.len)) {
		ok(0, "%s: inflate for the reference", rel);
		goto out;
	}
	ok(reference(&json, &ref_records, &want) == 0,
	    "%s: the reference parses it", rel);
	scan_all(rel, raw.data, raw.len, gz ? 0 : CHECK_GZ, &g);
	is_int(g.r, 0, "%s: scans", rel);
	is_int((long long)g.st.records, (long long)ref_records,
	    "%s: %llu records, as the reference", rel,
	    (unsigned long long)ref_records);
	is_int((long long)g.st.skipped, 0, "%s: none skipped", rel);
	is_str(tl_scan_ids(&g), want.data != NULL ? want.data : "",
	    "%s: the reference's eventIDs, in order", rel);
	is_int((long long)g.st.bytes_json, (long long)json.len,
	    "%s: bytes_json is the inflated size", rel);
	is_int((long long)g.st.bytes_in, (long long)raw.len,
	    "%s: bytes_in is the file size", rel);
	if (want_records >= 0)
		is_int((long long)g.st.records, want_records,
		    "%s: %lld records", rel, want_records);
	if (want_matched >= 0)
		is_int((long long)g.st.matched, want_matched,
		    "%s: %lld matched", rel, want_matched);
	if (ret_ids != NULL && buf_puts(ret_ids, tl_scan_ids(&g)) < 0)
		abort();
	tl_scan_done(&g);
out:
	buf_done(&raw);
	buf_done(&json);
	buf_done(&want);
}

/* ---- hostile input --------------------------------------------------- */

static void
put(struct buf *b, const char *s)
{
	if (buf_puts(b, s) < 0)
		abort();
}

/* n bytes c, without a call per byte (valgrind pays for each). */
static void
put_n(struct buf *b, char c, size_t n)
{
	if (buf_reserve(b, n) < 0)
		abort();
	memset(b->data + b->len, c, n);
	b->len += n;
	b->data[b->len] = '\0';
}

/*
 * n containers, '[' and an object whose key is full of brackets in turn,
 * the value inner at the bottom, then each one closed.
 */
static void
put_nest(struct buf *b, unsigned n, const char *inner)
{
	unsigned i;

	for (i = 0; i < n; i++)
		put(b, i % 2 == 0 ? "[" : "{\"k}]\\\"\":");
	put(b, inner);
	while (n-- > 0)
		put(b, n % 2 == 0 ? "]" : "}");
}

/* A record levels deep, itself included; brackets in its strings. */
static void
put_deep(struct buf *b, const char *src, const char *id, unsigned levels)
{
	put(b, "{\"eventSource\":\"");
	put(b, src);
	put(b, "\",\"eventID\":\"");
	put(b, id);
	put(b, "\",\"p\":");
	put_nest(b, levels - 1, "\"}]\\\"{[\\\\\"");
	put(b, ",\"q\":\"]}\"}");
}

static void
test_not_an_object(void)
{
	CHECK("empty input", "", -EBADMSG, "", "empty object");
	CHECK("only whitespace", " \n\t\r ", -EBADMSG, "",
	    "truncated at byte 5");
	CHECK("an array", "[]", -EBADMSG, "",
	    "malformed JSON at byte 0: the top level is not an object");
	CHECK("a string", "\"x\"", -EBADMSG, "", "malformed JSON at byte 0");
	CHECK("null", "null", -EBADMSG, "", "malformed JSON at byte 0");
	CHECK("a number after spaces", "  12", -EBADMSG, "",
	    "malformed JSON at byte 2");
	CHECK("a Records array alone", "[{\"Records\":[" SMREC("a") "]}]",
	    -EBADMSG, "", NULL);
	CHECK("BOM then object", "\xef\xbb\xbf{\"Records\":[" SMREC("b") "]}",
	    0, "b\n", NULL);
	CHECK("half a BOM", "\xef\xbb{\"Records\":[]}", -EBADMSG, "",
	    "malformed JSON at byte 2: unexpected '{'");
	CHECK("BOM after whitespace", " \xef\xbb\xbf{\"Records\":[]}", -EBADMSG,
	    "", "malformed JSON at byte 1");
	/* Not CHECK_GZ: gzipped, a lone 0x1f is JSON, and malformed. */
	check("a lone 0x1f", "\x1f", 1, 0, -EBADMSG, "",
	    "truncated gzip stream at input byte 1");
	CHECK("0x1f not followed by 0x8b", "\x1f{}", -EBADMSG, "",
	    "malformed JSON at byte 0: the top level is not an object");
}

static const char two[] =
    "{\"Records\":[\n"
    "  {\"eventSource\": \"" SM "\", \"eventID\": \"id-1\","
    " \"x\": \"a\\\"b\\\\\"},\n"
    "  {\"eventSource\": \"" SM "\", \"eventID\": \"id-2\","
    " \"requestParameters\": {\"s\": \"q\\u0022}]\"}}\n"
    "]}\n";

static void
test_truncated(void)
{
	char name[128];
	const char *p;
	size_t cut;
	int all = 1;
	int r;

	/* Mid-record: inside the second record, between tokens. */
	p = strstr(two, "\"id-2\"") + 7;
	cut = (size_t)(p - two);
	(void)snprintf(name, sizeof(name), "truncated at byte %zu", cut);
	check("cut mid-record", two, cut, CHECK_GZ, -EBADMSG, "id-1\n", name);
	/* Mid-string, and right after a backslash, and inside \u0022. */
	p = strstr(two, "q\\u00");
	check("cut mid-string", two, (size_t)(p - two), CHECK_GZ, -EBADMSG,
	    "id-1\n", "truncated at byte");
	check("cut after a backslash", two, (size_t)(p - two) + 2, CHECK_GZ,
	    -EBADMSG, "id-1\n", "truncated at byte");
	check("cut inside \\u0022", two, (size_t)(p - two) + 4, CHECK_GZ,
	    -EBADMSG, "id-1\n", "truncated at byte");
	/* After Records closed, before the object did. */
	p = strstr(two, "]}");
	check("cut before the last '}'", two, (size_t)(p - two) + 1, CHECK_GZ,
	    -EBADMSG, "id-1\nid-2\n", "truncated at byte");
	check("the whole of it", two, sizeof(two) - 1, CHECK_GZ, 0,
	    "id-1\nid-2\n", NULL);
	/* Every proper prefix fails, one shot. */
	for (cut = 0; cut < sizeof(two) - 2; cut++) {
		struct tl_scan g;

		tl_scan_init(&g);
		run(two, cut, FEED_ONESHOT, &g);
		r = g.r;
		tl_scan_done(&g);
		if (r != -EBADMSG) {
			diag_note("prefix %zu: %d", cut, r);
			all = 0;
		}
	}
	ok(all, "every proper prefix of a document is -EBADMSG");
}

static void
test_gzip_hostile(void)
{
	struct buf json;
	struct buf z;
	struct buf bad;
	size_t cuts[9];
	size_t i;
	size_t cut;
	int all;

	buf_init(&json, BIG);
	buf_init(&z, BIG);
	buf_init(&bad, BIG);
	if (read_data("cloudtrail/secretsmanager/combined_secretsmanager.json",
		&json) < 0)
		goto out;
	tl_gzip(&z, json.data, json.len, NULL);
	cuts[0] = 1;
	cuts[1] = 2;
	cuts[2] = 3;
	cuts[3] = 10;
	cuts[4] = 100;
	cuts[5] = z.len / 2;
	cuts[6] = z.len - 8; /* no trailer: all the JSON is there */
	cuts[7] = z.len - 4; /* CRC, no length */
	cuts[8] = z.len - 1;
	for (i = 0; i < ARRAY_SIZE(cuts); i++) {
		char name[64];
		char want[128];
		struct tl_scan g;

		(void)snprintf(name, sizeof(name), "gzip cut at %zu of %zu",
		    cuts[i], z.len);
		(void)snprintf(want, sizeof(want),
		    "truncated gzip stream at input byte %zu", cuts[i]);
		scan_all(name, z.data, cuts[i], 0, &g);
		is_int(g.r, -EBADMSG, "%s: -EBADMSG", name);
		is_str(g.msg, want, "%s: diag", name);
		if (i >= 6)
			is_int((long long)g.st.matched, 52,
			    "%s: the 52 records were delivered", name);
		tl_scan_done(&g);
	}
	/* Every prefix of a small gzip fails, naming gzip. */
	buf_reset(&bad);
	tl_gzip(&bad, two, sizeof(two) - 1, NULL);
	all = 1;
	for (cut = 1; cut < bad.len; cut++) {
		struct tl_scan g;

		tl_scan_init(&g);
		run(bad.data, cut, FEED_ONESHOT, &g);
		if (g.r != -EBADMSG || strstr(g.msg, "gzip") == NULL) {
			diag_note("gzip prefix %zu: %d '%s'", cut, g.r, g.msg);
			all = 0;
		}
		tl_scan_done(&g);
	}
	ok(all, "every proper prefix of a gzip file is -EBADMSG naming gzip");

	/* Corrupt: the CRC, the length, the method, the flags, the data. */
	{
		static const struct {
			const char *name;
			long at; /* < 0: from the end */
			unsigned char xor ;
			int gzip_msg;
		} flips[] = {
		    {"corrupt CRC", -8, 0x01, 1},
		    {"corrupt length", -1, 0x01, 1},
		    {"unknown method", 2, 0x01, 1},
		    {"reserved flag", 3, 0x80, 1},
		    {"corrupt deflate data", 20, 0xff, 0},
		    {"corrupt deflate data 2", 500, 0x55, 0},
		};

		for (i = 0; i < ARRAY_SIZE(flips); i++) {
			struct tl_scan g;
			size_t at = flips[i].at < 0
			    ? z.len - (size_t)-flips[i].at
			    : (size_t)flips[i].at;

			buf_reset(&bad);
			if (buf_append(&bad, z.data, z.len) < 0)
				abort();
			bad.data[at] = (char)(bad.data[at] ^ flips[i].xor);
			/*
			 * Records delivered before corrupt deflate data depend
			 * on how far the inflater got: compare only the code.
			 */
			if (flips[i].gzip_msg) {
				scan_all(flips[i].name, bad.data, bad.len, 0,
				    &g);
			} else {
				tl_scan_init(&g);
				run(bad.data, bad.len, FEED_BYTES, &g);
				is_int(g.r, -EBADMSG,
				    "%s, byte by byte: -EBADMSG",
				    flips[i].name);
				tl_scan_done(&g);
				tl_scan_init(&g);
				run(bad.data, bad.len, FEED_RANDOM, &g);
				is_int(g.r, -EBADMSG, "%s, in chunks: -EBADMSG",
				    flips[i].name);
				tl_scan_done(&g);
				tl_scan_init(&g);
				run(bad.data, bad.len, FEED_ONESHOT, &g);
			}
			is_int(g.r, -EBADMSG, "%s: -EBADMSG", flips[i].name);
			if (flips[i].gzip_msg)
				ok(strncmp(g.msg,
				       "corrupt gzip stream at input byte ",
				       34) == 0,
				    "%s: diag '%s'", flips[i].name, g.msg);
			if (flips[i].at < 0)
				is_int((long long)g.st.matched, 52,
				    "%s: found after the records",
				    flips[i].name);
			tl_scan_done(&g);
		}
	}
	/* Bytes after the last member that are not another member. */
	buf_reset(&bad);
	tl_gzip(&bad, "{\"Records\":[]}", 14, NULL);
	if (buf_append(&bad, "{}", 2) < 0)
		abort();
	check("JSON after a gzip member", bad.data, bad.len, 0, -EBADMSG, "",
	    "corrupt gzip stream at input byte ");
	/* A second member holding more JSON is trailing garbage. */
	buf_reset(&bad);
	tl_gzip(&bad, "{\"Records\":[]}", 14, NULL);
	tl_gzip(&bad, " {}", 3, NULL);
	check("a second member with another object", bad.data, bad.len, 0,
	    -EBADMSG, "",
	    "malformed JSON at byte 15: trailing garbage after the top-level "
	    "object");
	/* Every optional header field (FEXTRA, FNAME, FCOMMENT, FHCRC), in
	 * three members, cut every way by scan_all(). */
	{
		static unsigned char extra[300];
		static const char doc[] =
		    "{\"Records\":[" SMREC("h1") "," SMREC("h2") "]}";
		gz_header h;
		size_t at;

		memset(&h, 0, sizeof(h));
		memset(extra, 'x', sizeof(extra));
		h.extra = extra;
		h.extra_len = sizeof(extra);
		h.name = (Bytef *)"CloudTrail_a_rather_long_file_name_for_"
				  "the_header_to_be_split_inside_it.json";
		h.comment = (Bytef *)"a comment";
		h.hcrc = 1;
		h.os = 3;
		buf_reset(&bad);
		tl_gzip(&bad, doc, 40, &h);
		tl_gzip(&bad, doc + 40, 30, &h);
		tl_gzip(&bad, doc + 70, sizeof(doc) - 71, &h);
		check("gzip headers with every field", bad.data, bad.len, 0, 0,
		    "h1\nh2\n", NULL);
		/* The header CRC is checked: flip a bit of it. */
		at = 10 + 2 + sizeof(extra) + strlen((const char *)h.name) + 1 +
		    strlen((const char *)h.comment) + 1;
		bad.data[at] = (char)(bad.data[at] ^ 1);
		check("gzip header CRC wrong", bad.data, bad.len, 0, -EBADMSG,
		    "", "corrupt gzip stream at input byte ");
		bad.data[at] = (char)(bad.data[at] ^ 1);
		/* And the NUL ending the name is needed. */
		bad.len = at - strlen((const char *)h.comment) - 1;
		check("gzip header cut in the name", bad.data, bad.len, 0,
		    -EBADMSG, "", "truncated gzip stream at input byte ");
	}
	/* A gzip of nothing. */
	buf_reset(&bad);
	tl_gzip(&bad, "", 0, NULL);
	check("gzip of nothing", bad.data, bad.len, 0, -EBADMSG, "",
	    "empty object");
out:
	buf_done(&json);
	buf_done(&z);
	buf_done(&bad);
}

static void
test_nul(void)
{
	CHECK("NUL in a record's string",
	    "{\"Records\":[{\"eventSource\":\"" SM "\",\"a\":\"x\0y\"}]}",
	    -EBADMSG, "", "NUL byte at byte 64");
	CHECK("NUL in a record, outside strings",
	    "{\"Records\":[{\"a\":1,\0\"eventSource\":\"" SM "\"}]}", -EBADMSG,
	    "", "NUL byte at byte 19");
	CHECK("NUL after a backslash", "{\"Records\":[{\"a\":\"\\\0\"}]}",
	    -EBADMSG, "", "NUL byte at byte 19");
	CHECK("NUL between records",
	    "{\"Records\":[" SMREC("n1") ",\0" SMREC("n2") "]}", -EBADMSG,
	    "n1\n", "NUL byte at byte ");
	CHECK("NUL in a top-level key", "{\"Rec\0ords\":[]}", -EBADMSG, "",
	    "NUL byte at byte 5");
	CHECK("NUL in a top-level string", "{\"a\":\"\0\",\"Records\":[]}",
	    -EBADMSG, "", "NUL byte at byte 6");
	CHECK("NUL in another key's object", "{\"a\":{\"b\":\0}}", -EBADMSG, "",
	    "NUL byte at byte 10");
	CHECK("NUL after the object", "{\"Records\":[]} \0", -EBADMSG, "",
	    "NUL byte at byte 15");
	CHECK("NUL first", "\0{}", -EBADMSG, "", "NUL byte at byte 0");
}

static void
test_malformed(void)
{
	static const struct {
		const char *name;
		const char *doc;
		const char *msg;
	} bad[] = {
	    {"trailing garbage", "{\"Records\":[]}x",
		"malformed JSON at byte 14: trailing garbage"},
	    {"a second object", "{\"Records\":[]}\n{}",
		"malformed JSON at byte 15: trailing garbage"},
	    {"an extra '}'", "{\"Records\":[]}}",
		"malformed JSON at byte 14: trailing garbage"},
	    {"comma after Records", "{\"Records\":[{}],}",
		"malformed JSON at byte 16: unexpected '}'"},
	    {"no colon", "{\"Records\" []}",
		"malformed JSON at byte 11: unexpected '['"},
	    {"extra ']'", "{\"Records\":[{}]]}",
		"malformed JSON at byte 15: unexpected ']'"},
	    {"trailing comma in Records", "{\"Records\":[{},]}",
		"malformed JSON at byte 15: unexpected ']'"},
	    {"Records unclosed", "{\"Records\":[{}}",
		"malformed JSON at byte 14: unexpected '}'"},
	    {"lone comma", "{,}", "malformed JSON at byte 1: unexpected ','"},
	    {"trailing comma", "{\"a\":1,}",
		"malformed JSON at byte 7: unexpected '}'"},
	    {"missing comma", "{\"a\":1 \"b\":2}",
		"malformed JSON at byte 7: unexpected '\"'"},
	    {"bad literal", "{\"a\":tru}",
		"malformed JSON at byte 8: unexpected '}'"},
	    {"literal too long", "{\"a\":nullx}",
		"malformed JSON at byte 9: unexpected 'x'"},
	    {"plus sign", "{\"a\":+1}",
		"malformed JSON at byte 5: unexpected '+'"},
	    {"single quotes", "{'Records':[]}",
		"malformed JSON at byte 1: unexpected '''"},
	    {"bracket mismatch in a record", "{\"Records\":[{\"a\":[}]}",
		"malformed JSON at byte 18: unexpected '}'"},
	    {"brace mismatch in a record", "{\"Records\":[{\"a\":{]}]}",
		"malformed JSON at byte 18: unexpected ']'"},
	    {"mismatch in another key", "{\"x\":[}}",
		"malformed JSON at byte 6: unexpected '}'"},
	    {"backslash outside a string", "{\"Records\":[{\"a\":1\\}]}",
		"malformed JSON at byte 18: unexpected '\\'"},
	    {"Records an object", "{\"Records\":{}}",
		"malformed CloudTrail file at byte 11: Records is not an "
		"array"},
	    {"Records a string", "{\"Records\":\"x\"}",
		"malformed CloudTrail file at byte 11"},
	    {"Records a number", "{\"Records\":1}",
		"malformed CloudTrail file at byte 11"},
	    {"Records true", "{\"Records\":true}",
		"malformed CloudTrail file at byte 11"},
	    {"Records nul", "{\"Records\":nul}",
		"malformed JSON at byte 14: unexpected '}'"},
	    {"control byte", "{\"Records\":[]\x01}",
		"malformed JSON at byte 13: unexpected byte 0x01"},
	    {"form feed is not JSON whitespace", "{\f\"Records\":[]}",
		"malformed JSON at byte 1: unexpected byte 0x0c"},
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++)
		check(bad[i].name, bad[i].doc, strlen(bad[i].doc), CHECK_GZ,
		    -EBADMSG, "", bad[i].msg);
	/* A candidate json-c cannot parse fails the file, with its offset. */
	CHECK("candidate json-c rejects",
	    "{\"Records\":[" SMREC("ok") ",{\"eventSource\":\"" SM "\",}]}",
	    -EBADMSG, "ok\n", "malformed record at byte 74: ");
	CHECK("candidate with single quotes",
	    "{\"Records\":[{\"eventSource\":'" SM "'}]}", -EBADMSG, "",
	    "malformed record at byte 12: ");
	CHECK("candidate with a bad literal",
	    "{\"Records\":[{\"eventSource\":\"" SM "\",\"a\":tru}]}", -EBADMSG,
	    "", "malformed record at byte 12: ");
}

static void
test_depth(void)
{
	struct buf b;
	int i;

	buf_init(&b, BIG);
	/* 1 (top object) + 511 arrays = 512 levels: the most allowed. */
	if (buf_puts(&b, "{\"a\":") < 0)
		abort();
	for (i = 0; i < 511; i++)
		if (buf_putc(&b, '[') < 0)
			abort();
	for (i = 0; i < 511; i++)
		if (buf_putc(&b, ']') < 0)
			abort();
	if (buf_puts(&b, ",\"Records\":[" SMREC("deep") "]}") < 0)
		abort();
	check("512 levels", b.data, b.len, CHECK_GZ, 0, "deep\n", NULL);
	buf_reset(&b);
	if (buf_puts(&b, "{\"a\":") < 0)
		abort();
	for (i = 0; i < 100000; i++)
		if (buf_putc(&b, '[') < 0)
			abort();
	/* Past 512 in another key's value: followed (counted), not kept. */
	check("100000 levels, unclosed", b.data, b.len, CHECK_GZ, -EBADMSG, "",
	    "truncated at byte 100005");
	/* A matching record nested 500 deep: json-c takes it too. */
	buf_reset(&b);
	if (buf_puts(&b,
		"{\"Records\":[{\"eventSource\":\"" SM
		"\",\"eventID\":\"nest\",\"p\":") < 0)
		abort();
	for (i = 0; i < 250; i++)
		if (buf_puts(&b, "{\"k\":[") < 0)
			abort();
	for (i = 0; i < 250; i++)
		if (buf_puts(&b, "]}") < 0)
			abort();
	if (buf_puts(&b, "}]}") < 0)
		abort();
	check("a record 500 levels deep", b.data, b.len, CHECK_GZ, 0, "nest\n",
	    NULL);
	/* A record nested too deep, and cut there: truncated, not skipped. */
	buf_reset(&b);
	if (buf_puts(&b, "{\"Records\":[{\"p\":") < 0)
		abort();
	for (i = 0; i < 600; i++)
		if (buf_putc(&b, '[') < 0)
			abort();
	check("a record 600 arrays deep, unclosed", b.data, b.len, CHECK_GZ,
	    -EBADMSG, "", "truncated at byte 617");
	buf_done(&b);
}

/*
 * Records nested past TRAIL_MAX_DEPTH are skipped, and the file goes on.
 * The limit counts the top-level object and Records: a record may nest 510
 * levels. Past 512 a plain counter follows the brackets; strings, escapes,
 * NUL bytes and the brackets below 512 are checked as ever.
 */
static void
test_skip_depth(void)
{
	static const char head[] = "{\"Records\":[" SMREC("a") ",";
	static const char tail[] = "," SMREC("b") "]}";
	const size_t at = sizeof(head) - 1; /* the deep record's '{' */
	char deeper[128];
	char deeper2[128];
	char want[128];
	struct buf b;
	struct tl_scan g;
	size_t at2;
	size_t deep;

	buf_init(&b, BIG);
	(void)snprintf(deeper, sizeof(deeper),
	    "record at byte %zu skipped: nesting deeper than %d", at,
	    TRAIL_MAX_DEPTH);

	/* 510 levels in a record, 512 in all: the most there may be. */
	put(&b, head);
	put_deep(&b, SM, "d510", 510);
	put(&b, tail);
	check("a record 512 levels deep in all", b.data, b.len, CHECK_GZ, 0,
	    "a\nd510\nb\n", NULL);
	/* One more: skipped, Secrets Manager's or not. */
	buf_reset(&b);
	put(&b, head);
	put_deep(&b, SM, "d511", 511);
	put(&b, tail);
	check_skip("a record 513 levels deep in all", b.data, b.len, CHECK_GZ,
	    0, "a\nb\n", NULL, 1, deeper);
	scan_all("513 levels: counts", b.data, b.len, 0, &g);
	ok(g.st.records == 3 && g.st.candidates == 2 && g.st.matched == 2 &&
		g.st.skipped == 1,
	    "513 levels: 3 records, 2 candidates, 2 matched, 1 skipped");
	tl_scan_done(&g);

	buf_reset(&b);
	put(&b, head);
	put_deep(&b, "kms.amazonaws.com", "k600", 600);
	put(&b, tail);
	check_skip("a record 600 deep between two", b.data, b.len, CHECK_GZ, 0,
	    "a\nb\n", NULL, 1, deeper);
	/* 20000 levels: the counter, not the stack, follows them. */
	buf_reset(&b);
	put(&b, head);
	put_deep(&b, SM, "d20000", 20000);
	put(&b, tail);
	check_skip("a record 20000 deep between two", b.data, b.len, CHECK_GZ,
	    0, "a\nb\n", NULL, 1, deeper);
	/* The last record. */
	buf_reset(&b);
	put(&b, head);
	put_deep(&b, SM, "last", 600);
	put(&b, "]}");
	check_skip("a record 600 deep, the last", b.data, b.len, CHECK_GZ, 0,
	    "a\n", NULL, 1, deeper);
	/* Two: both counted, the first one reported. */
	buf_reset(&b);
	put(&b, "{\"Records\":[");
	at2 = b.len;
	put_deep(&b, "kms.amazonaws.com", "k1", 700);
	put(&b, "," SMREC("a") ",");
	put_deep(&b, SM, "s2", 1000);
	put(&b, tail);
	(void)snprintf(deeper2, sizeof(deeper2),
	    "record at byte %zu skipped: nesting deeper than %d", at2,
	    TRAIL_MAX_DEPTH);
	check_skip("two records too deep", b.data, b.len, CHECK_GZ, 0, "a\nb\n",
	    NULL, 2, deeper2);

	/* What fails anywhere fails in a skipped record too. */
	buf_reset(&b);
	put(&b, head);
	put(&b, "{\"p\":");
	put_n(&b, '[', 600);
	deep = b.len; /* 91 levels past the limit */
	put(&b, "\"x\\");
	check("a record too deep, cut after a backslash", b.data, b.len,
	    CHECK_GZ, -EBADMSG, "a\n", "truncated at byte");
	b.len = deep;
	put(&b, "1,\"\\\"]}\"");
	check("a record too deep, cut past a string", b.data, b.len, CHECK_GZ,
	    -EBADMSG, "a\n", "truncated at byte");
	b.len = deep;
	if (buf_append(&b, "\"x\0\"", 4) < 0)
		abort();
	(void)snprintf(want, sizeof(want), "NUL byte at byte %zu", deep + 2);
	check("NUL in a string past 512 levels", b.data, b.len, CHECK_GZ,
	    -EBADMSG, "a\n", want);
	b.len = deep;
	if (buf_append(&b, "1\0", 2) < 0)
		abort();
	(void)snprintf(want, sizeof(want), "NUL byte at byte %zu", deep + 1);
	check("NUL past 512 levels", b.data, b.len, CHECK_GZ, -EBADMSG, "a\n",
	    want);
	b.len = deep;
	put(&b, "1\\]");
	(void)snprintf(want, sizeof(want),
	    "malformed JSON at byte %zu: unexpected '\\'", deep + 1);
	check("backslash outside a string past 512 levels", b.data, b.len,
	    CHECK_GZ, -EBADMSG, "a\n", want);
	b.len = deep;
	put_n(&b, ']', 600);
	put(&b, "]" SMREC("b") "]}");
	(void)snprintf(want, sizeof(want),
	    "malformed JSON at byte %zu: unexpected ']'", deep + 600);
	check("a record too deep closed by ']'", b.data, b.len, CHECK_GZ,
	    -EBADMSG, "a\n", want);
	/* Below 512 brackets are matched; past it only counted. */
	b.len = deep;
	put(&b, "}");
	put_n(&b, ']', 599);
	put(&b, "}");
	put(&b, tail);
	check_skip("'}' closes '[' past 512 levels: not seen", b.data, b.len,
	    CHECK_GZ, 0, "a\nb\n", NULL, 1, deeper);
	b.len = deep;
	put(&b, "]");
	put_n(&b, ']', 598);
	put(&b, "}]}");
	put(&b, tail);
	(void)snprintf(want, sizeof(want),
	    "malformed JSON at byte %zu: unexpected '}'", deep + 599);
	check("'}' closes '[' below 512 levels: seen", b.data, b.len, CHECK_GZ,
	    -EBADMSG, "a\n", want);

	/* Too deep, but not a record: followed, not counted. */
	buf_reset(&b);
	put(&b, "{\"x\":");
	put_nest(&b, 600, "1");
	put(&b, ",\"Records\":[");
	put_nest(&b, 600, "\"]}\"");
	put(&b, "," SMREC("c") "],\"z\":");
	put_nest(&b, 1000, "[]");
	put(&b, "}");
	check("600 levels in another key, in Records, after it", b.data, b.len,
	    CHECK_GZ, 0, "c\n", NULL);

	/* The first skip is a warning, kept until reset, none after it. */
	{
		const struct diag *d;
		struct trail *t;

		buf_reset(&b);
		put(&b, head);
		put_deep(&b, SM, "w", 600);
		put(&b, tail);
		if (trail_new(&t) < 0)
			abort();
		ok(trail_skipped_first(t) == NULL, "new scanner: no skip");
		is_int(trail_scan(t, b.data, b.len, NULL, NULL, NULL), 0,
		    "skip: scans");
		d = trail_skipped_first(t);
		ok(d != NULL && d->warning && d->line == 0 && d->col == 0 &&
			d->file[0] == '\0' && strcmp(d->msg, deeper) == 0,
		    "skip: a warning, '%s'", d != NULL ? d->msg : "(none)");
		trail_reset(t);
		ok(trail_skipped_first(t) == NULL &&
			trail_stats(t)->skipped == 0,
		    "reset: no skip");
		trail_free(t);
	}
	buf_done(&b);
}

static void
test_strings(void)
{
	/* The classic: a value that looks like the end of a record. */
	CHECK("record end inside a string",
	    "{\"Records\":[{\"eventID\":\"a\",\"eventSource\":\"s3.amazonaws.com\","
	    "\"requestParameters\":{\"v\":\"}]},{\\\"eventSource\\\":\\\"" SM
	    "\\\",\\\"eventID\\\":\\\"evil\\\"}\"}}," SMREC("b") "]}",
	    0, "b\n", NULL);
	{
		struct tl_scan g;
		static const char doc[] =
		    "{\"Records\":[{\"eventID\":\"a\",\"eventSource\":\"s3."
		    "amazonaws.com\",\"requestParameters\":{\"v\":\"}]},{"
		    "\\\"eventSource\\\":\\\"" SM "\\\"\"}}," SMREC("b") "]}";

		scan_all("string braces: counts", doc, sizeof(doc) - 1,
		    CHECK_GZ, &g);
		is_int((long long)g.st.records, 2, "string braces: 2 records");
		/* The decoy is a string's text: its quotes are escaped, so
		 * it is not an eventSource key and value to the prefilter. */
		is_int((long long)g.st.candidates, 1,
		    "string braces: 1 candidate");
		is_int((long long)g.st.matched, 1, "string braces: 1 matched");
		tl_scan_done(&g);
	}
	CHECK("escaped backslash before the closing quote",
	    "{\"Records\":[{\"x\":\"a\\\\\",\"eventSource\":\"" SM
	    "\",\"eventID\":\"c\"}]}",
	    0, "c\n", NULL);
	CHECK("escaped backslash, quote, then braces",
	    "{\"Records\":[{\"x\":\"\\\\\\\"}]\\\\\",\"y\":\"\\\\\\\\\","
	    "\"eventSource\":\"" SM "\",\"eventID\":\"d\"}]}",
	    0, "d\n", NULL);
	CHECK("\\u escapes of brackets and quotes",
	    "{\"Records\":[{\"x\":\"\\u007d\\u005d\\u0022\\u005c\\ud83d\\ude00"
	    "\",\"eventSource\":\"" SM "\",\"eventID\":\"e\"}]}",
	    0, "e\n", NULL);
	/* The prefilter must not drop what json-c reads as the name. */
	CHECK("eventSource spelled with \\u escapes",
	    "{\"Records\":[{\"eventSource\":\"secretsmanager\\u002eamazonaws"
	    "\\u002Ecom\",\"eventID\":\"u1\"},{\"event\\u0053ource\":\"" SM
	    "\",\"eventID\":\"u2\"},{\"eventSource\":\"\\u0073ecretsmanager."
	    "amazonaws.com\",\"eventID\":\"u3\"}]}",
	    0, "u1\nu2\nu3\n", NULL);
	CHECK("whitespace around eventSource's colon",
	    "{\"Records\":[{\"eventSource\" :\n\t\"" SM
	    "\",\"eventID\":\"w1\"},{\"eventSource\"\r\n:\"" SM
	    "\",\"eventID\":\"w2\"}]}",
	    0, "w1\nw2\n", NULL);
	CHECK("escaped Records key is another key",
	    "{\"Rec\\u006frds\":[" SMREC("no") "]}", 0, "", NULL);
	CHECK("key with Records inside",
	    "{\"xRecords\":[" SMREC("no1") "],\"Recordsx\":[" SMREC(
		"no2") "],\"records\":[" SMREC("no3") "],\"Record\":[" SMREC("no4") "]}",
	    0, "", NULL);
	CHECK("brackets and quotes in top-level keys",
	    "{\"{[\\\"Records\\\"]}\":[" SMREC("no") "],\"Records\":[" SMREC(
		"f") "]}",
	    0, "f\n", NULL);
	CHECK("Records not first, decoys around it",
	    "{\"a\":{\"Records\":[" SMREC(
		"no1") "]},"
		       "\"b\":[\"Records\",{\"Records\":[" SMREC(
			   "no2") "]}],"
				  "\"c\":\"Records\",\"d\":-1.5e+3,\"e\":true,\"f\":null,"
				  "\"g\":\"\\\"Records\\\":[\","
				  "\"Records\":[" SMREC("g1") "," SMREC(
				      "g2") "],"
					    "\"z\":[1,{\"Records\":[" SMREC(
						"no3") "]}]}",
	    0, "g1\ng2\n", NULL);
	CHECK("non-object elements are skipped",
	    "{\"Records\":[1,-2.5e3,\"x\",\"{\\\"eventSource\\\":\\\"" SM
	    "\\\"}\",true,false,null,[" SMREC("no") "],[]," SMREC(
		"h") ",[[{}]]]}",
	    0, "h\n", NULL);
	CHECK("eventSource only close to Secrets Manager's",
	    "{\"Records\":[{\"eventSource\":[\"" SM "\"],\"eventID\":\"1\"},"
	    "{\"eventSource\":\"" SM " \",\"eventID\":\"2\"},"
	    "{\"eventSource\":\"x" SM "\",\"eventID\":\"3\"},"
	    "{\"eventSource\":null,\"eventID\":\"4\",\"x\":\"" SM "\"},"
	    "{\"requestParameters\":{\"eventSource\":\"" SM "\"},"
	    "\"eventID\":\"5\"}," KMSREC("6") "," SMREC("7") "]}",
	    0, "7\n", NULL);
	CHECK("empty Records", "{\"Records\":[]}", 0, "", NULL);
	CHECK("empty Records, spaced", " {\n \"Records\" : [ \n ] \n} \n", 0,
	    "", NULL);
	CHECK("Records null", "{\"Records\":null}", 0, "", NULL);
	CHECK("no Records key",
	    "{\"awsAccountId\":\"111122223333\",\"digestStartTime\":\"x\"}", 0,
	    "", NULL);
	CHECK("an empty object", "{}", 0, "", NULL);
	CHECK("two Records keys",
	    "{\"Records\":[" SMREC("r1") "],\"Records\":[" SMREC("r2") "]}", 0,
	    "r1\nr2\n", NULL);
	CHECK("pretty-printed",
	    "{\n  \"Records\": [\n    {\n      \"eventSource\": \"" SM
	    "\",\n      \"eventID\": \"p1\",\n      \"list\": [\n        1,\n"
	    "        {}\n      ]\n    },\n\t\t{\r\n\"eventID\" :\"p2\" ,"
	    "\"eventSource\"\t:\t\"" SM "\"\n}\n  ]\n}\n",
	    0, "p1\np2\n", NULL);
}

static void
test_big(void)
{
	struct buf b;
	struct tl_scan g;
	size_t i;
	size_t head;
	char name[128];

	buf_init(&b, BIG);
	/* A record larger than the inflate window and most chunks. */
	if (buf_puts(&b,
		"{\"Records\":[" SMREC(
		    "before") ",{\"eventSource\":\"" SM
			      "\",\"eventID\":\"big\",\"v\":\"") < 0)
		abort();
	for (i = 0; i < 300000; i++)
		if (buf_puts(&b, i % 97 == 0 ? "\\\"}" : "x") < 0)
			abort();
	if (buf_puts(&b, "\"}," SMREC("after") "]}") < 0)
		abort();
	check("a 300 KB record", b.data, b.len, CHECK_GZ, 0,
	    "before\nbig\nafter\n", NULL);

	/* A record of exactly TRAIL_MAX_RECORD bytes passes... */
	buf_reset(&b);
	if (buf_puts(&b, "{\"Records\":[" SMREC("r0") ",") < 0)
		abort();
	head = b.len;
	if (buf_puts(&b,
		"{\"eventSource\":\"" SM "\",\"eventID\":\"max\","
		"\"v\":\"") < 0)
		abort();
	while (b.len - head < TRAIL_MAX_RECORD - 2)
		if (buf_putc(&b, 'y') < 0)
			abort();
	if (buf_puts(&b, "\"}") < 0)
		abort();
	is_int((long long)(b.len - head), TRAIL_MAX_RECORD,
	    "the record is TRAIL_MAX_RECORD bytes");
	if (buf_puts(&b, "," SMREC("r2") "]}") < 0)
		abort();
	check("a record of TRAIL_MAX_RECORD bytes", b.data, b.len, CHECK_GZ, 0,
	    "r0\nmax\nr2\n", NULL);

	/* ... one more byte is skipped, and the file goes on. */
	buf_reset(&b);
	if (buf_puts(&b, "{\"Records\":[" SMREC("r0") ",") < 0)
		abort();
	head = b.len;
	if (buf_puts(&b, "{\"eventSource\":\"kms.amazonaws.com\",\"v\":\"") < 0)
		abort();
	while (b.len - head < TRAIL_MAX_RECORD - 1)
		if (buf_putc(&b, 'y') < 0)
			abort();
	if (buf_puts(&b, "\"}," SMREC("r2") "]}") < 0)
		abort();
	(void)snprintf(name, sizeof(name),
	    "record at byte %zu skipped: over %u bytes", head,
	    TRAIL_MAX_RECORD);
	check_skip("a record of TRAIL_MAX_RECORD + 1 bytes", b.data, b.len,
	    CHECK_GZ, 0, "r0\nr2\n", NULL, 1, name);
	/* Cut before its '}', the byte past the limit, and after it: a
	 * record is counted, skipped or not, once it ends. */
	for (i = 0; i < 2; i++) {
		size_t cut = head + TRAIL_MAX_RECORD + i;
		char want[64];

		(void)snprintf(want, sizeof(want), "truncated at byte %zu",
		    cut);
		scan_around(want, b.data, cut, head + TRAIL_MAX_RECORD, &g);
		ok(g.r == -EBADMSG && strcmp(g.msg, want) == 0 &&
			strcmp(tl_scan_ids(&g), "r0\n") == 0 &&
			g.st.skipped == i &&
			strcmp(g.skip, i != 0 ? name : "") == 0,
		    "%s: -EBADMSG, r0 delivered, %zu skipped", want, i);
		tl_scan_done(&g);
	}

	/* A huge value of another key is not a record: no limit but the
	 * object's. */
	buf_reset(&b);
	if (buf_puts(&b, "{\"padding\":[\"") < 0)
		abort();
	while (b.len < TRAIL_MAX_RECORD + 1000)
		if (buf_puts(&b, "{[\\\"") < 0)
			abort();
	if (buf_puts(&b, "\"],\"Records\":[" SMREC("pad") "]}") < 0)
		abort();
	scan_all("a 4 MB value of another key", b.data, b.len, CHECK_GZ, &g);
	is_int(g.r, 0, "a 4 MB value of another key: scans");
	is_str(tl_scan_ids(&g), "pad\n",
	    "a 4 MB value of another key: eventIDs");
	tl_scan_done(&g);
	buf_done(&b);
}

/*
 * Records over TRAIL_MAX_RECORD, with what is hardest about where the
 * limit falls right at it: an escape astride it, the record's own '}' just
 * past it, strings of brackets and deep nesting past it. Each is cut at
 * every byte around the limit too (each chunk boundary there is another
 * place where the scanner stops keeping the record's bytes).
 */
static void
test_skip_big(void)
{
	static const struct {
		const char *name;
		const char *tail; /* the rest of the record, after "v":"... */
		unsigned nest;    /* then this many '[', as many ']' and '}' */
		size_t k;         /* tail[k] is the first byte past the limit */
		bool deep;        /* skipped for depth: that came first */
	} v[] = {
	    {"an escaped quote astride the limit", "\\\"\"}", 0, 1, false},
	    {"a backslash at the limit", "\\\"\"}", 0, 0, false},
	    {"the record's '}' just past the limit", "\"}", 0, 1, false},
	    {"an escaped backslash astride the limit", "\\\\\"}", 0, 1, false},
	    {"brackets in strings past the limit",
		"\",\"w\":[\"}]{[\",{\"x\":[\"\\\"]\"]}],\"z\":\"\\\\\"}", 0, 0,
		false},
	    {"600 levels past the limit", "\",\"d\":", 600, 0, false},
	    {"600 levels astride the limit", "\",\"d\":", 600, 600, true},
	};
	struct buf b;
	struct tl_scan g;
	char want[128];
	size_t head;
	size_t lim;
	size_t i;

	buf_init(&b, BIG);
	/* c0, then a record of Secrets Manager's that is too big, then c1. */
	put(&b, "{\"Records\":[" SMREC("c0") ",");
	head = b.len;
	lim = head + TRAIL_MAX_RECORD;
	put(&b, "{\"eventSource\":\"" SM "\",\"eventID\":\"big\",\"v\":\"");
	/* Escapes and brackets in the string, then only 'y' near the end. */
	while (b.len < head + (1u << 20)) {
		put_n(&b, 'y', 97);
		put(&b, "\\\"}]{[\\\\");
	}
	put_n(&b, 'y', lim - b.len);
	for (i = 0; i < ARRAY_SIZE(v); i++) {
		b.len = lim - 1000; /* the last one's tail undone */
		put_n(&b, 'y', 1000 - v[i].k);
		put(&b, v[i].tail);
		if (v[i].nest > 0) {
			put_n(&b, '[', v[i].nest);
			put_n(&b, ']', v[i].nest);
			put(&b, "}");
		}
		put(&b, "," SMREC("c1") "]}");
		(void)snprintf(want, sizeof(want),
		    "record at byte %zu skipped: %s", head,
		    v[i].deep ? "nesting deeper than 512"
			      : "over 4194304 bytes");
		scan_around(v[i].name, b.data, b.len, lim, &g);
		ok(g.r == 0 && strcmp(tl_scan_ids(&g), "c0\nc1\n") == 0 &&
			g.st.records == 3 && g.st.matched == 2 &&
			g.st.skipped == 1 && strcmp(g.skip, want) == 0,
		    "%s: c0 and c1 delivered, 3 records, 1 skipped: '%s'",
		    v[i].name, g.skip);
		tl_scan_done(&g);
	}
	/* The last one cut inside the record, before and past the limit. */
	for (i = 0; i < 3; i++) {
		const size_t cut = i == 0 ? lim - 300 : lim + 1 + 299 * (i - 1);
		char name[64];

		(void)snprintf(name, sizeof(name), "truncated at byte %zu",
		    cut);
		scan_around(name, b.data, cut, lim, &g);
		ok(g.r == -EBADMSG && strcmp(g.msg, name) == 0 &&
			strcmp(tl_scan_ids(&g), "c0\n") == 0 &&
			g.st.skipped == 0 && g.skip[0] == '\0',
		    "%s: -EBADMSG, c0 delivered, none skipped", name);
		tl_scan_done(&g);
	}

	/*
	 * 20 MiB, with a record too deep after it: memory stays bounded. The
	 * carry buffer's ceiling is TRAIL_MAX_RECORD: had the scanner kept
	 * the big record's bytes, the scan would fail with -E2BIG.
	 */
	buf_reset(&b);
	put(&b, "{\"Records\":[" SMREC("m0") ",");
	head = b.len;
	put(&b, "{\"eventSource\":\"kms.amazonaws.com\",\"v\":\"");
	while (b.len - head < (20u << 20)) {
		put_n(&b, 'y', 1000);
		put(&b, "\\\"}]{[\\\\");
	}
	put(&b, "\"}," SMREC("m1") ",");
	put_deep(&b, SM, "deep", 600);
	put(&b, "," SMREC("m2") "]}");
	(void)snprintf(want, sizeof(want),
	    "record at byte %zu skipped: over %u bytes", head,
	    TRAIL_MAX_RECORD);
	check_skip("a record of 20 MiB", b.data, b.len, CHECK_LIGHT, 0,
	    "m0\nm1\nm2\n", NULL, 2, want);
	buf_done(&b);
}

static void
test_kms_by_secretsmanager(void)
{
	struct buf b;
	struct tl_scan g;

	buf_init(&b, BIG);
	if (read_data("cloudtrail/secretsmanager/"
		      "aws-docs_kms-calls-made-by-secretsmanager.json",
		&b) < 0)
		goto out;
	scan_all("KMS calls made by Secrets Manager", b.data, b.len, CHECK_GZ,
	    &g);
	is_int(g.r, 0, "KMS calls made by Secrets Manager: scans");
	is_int((long long)g.st.records, 2, "KMS calls: 2 records");
	/* Secrets Manager is in userAgent, not eventSource: json-c is not
	 * even asked. */
	is_int((long long)g.st.candidates, 0, "KMS calls: no candidates");
	is_int((long long)g.st.matched, 0, "KMS calls: none delivered");
	tl_scan_done(&g);
out:
	buf_done(&b);
}

static void
test_callback_and_state(void)
{
	static const char doc[] =
	    "{\"Records\":[" SMREC("k1") "," SMREC("k2") "," SMREC("k3") "]}";
	struct json_object *id;
	struct trail *t;
	struct diag d;
	struct tl_scan g;
	int r;

	/* A failing callback stops the scan with its code; the scanner stays
	 * dead until reset. */
	tl_scan_init(&g);
	g.stop_at = 2;
	if (trail_new(&t) < 0)
		abort();
	r = trail_feed(t, doc, sizeof(doc) - 1, tl_scan_collect, &g, &d);
	is_int(r, -ECANCELED, "callback error: returned as is");
	is_str(tl_scan_ids(&g), "k1\nk2\n", "callback error: stops after it");
	ok(strstr(d.msg, "callback") != NULL, "callback error: diag '%s'",
	    d.msg);
	ok(g.kept != NULL &&
		json_object_object_get_ex(g.kept, "eventID", &id) &&
		strcmp(json_object_get_string(id), "k2") == 0,
	    "callback error: a record kept with json_object_get survives");
	memset(&d, 0, sizeof(d));
	r = trail_feed(t, "  ", 2, tl_scan_collect, &g, &d);
	is_int(r, -ECANCELED, "callback error: feed after it fails the same");
	ok(strstr(d.msg, "callback") != NULL, "...with the same diag");
	r = trail_finish(t, tl_scan_collect, &g, &d);
	is_int(r, -ECANCELED, "callback error: and so does finish");
	tl_scan_done(&g);

	/* Reset revives it; NULL diag and NULL callback are fine. */
	trail_reset(t);
	r = trail_feed(t, doc, sizeof(doc) - 1, NULL, NULL, NULL);
	is_int(r, 0, "after reset: feeds");
	r = trail_finish(t, NULL, NULL, NULL);
	is_int(r, 0, "after reset: finishes");
	is_int((long long)trail_stats(t)->matched, 3, "after reset: 3 matched");
	r = trail_scan(t, "", 0, NULL, NULL, NULL);
	is_int(r, -EBADMSG, "trail_scan resets, then fails on empty");
	is_int((long long)trail_stats(t)->matched, 0, "stats zeroed by reset");

	/* The ceiling on the inflated size, plain and gzip; kept by reset. */
	trail_set_max_inflated(t, 40);
	memset(&d, 0, sizeof(d));
	r = trail_scan(t, doc, sizeof(doc) - 1, NULL, NULL, &d);
	is_int(r, -E2BIG, "max inflated 40: -E2BIG");
	is_str(d.msg, "inflated object exceeds 40 bytes",
	    "max inflated 40: diag");
	{
		struct buf z;

		buf_init(&z, BIG);
		tl_gzip(&z, doc, sizeof(doc) - 1, NULL);
		tl_scan_init(&g);
		r = trail_scan(t, z.data, z.len, tl_scan_collect, &g, &d);
		is_int(r, -E2BIG, "max inflated 40, gzip: -E2BIG");
		is_str(tl_scan_ids(&g), "",
		    "max inflated 40, gzip: nothing delivered");
		tl_scan_done(&g);
		buf_done(&z);
	}
	trail_set_max_inflated(t, sizeof(doc) - 1);
	r = trail_scan(t, doc, sizeof(doc) - 1, NULL, NULL, &d);
	is_int(r, 0, "max inflated = the size: fine");
	trail_set_max_inflated(t, TRAIL_MAX_INFLATED);
	trail_free(t);
	trail_free(NULL);
	ok(strcmp(trail_inflater(), "zlib") == 0 ||
		strcmp(trail_inflater(), "isa-l") == 0,
	    "inflater is '%s'", trail_inflater());
}

/*
 * json-c 0.16 keeps half a surrogate pair across json_tokener_reset() after
 * an error; the scanner must not carry it into the next object.
 */
static void
test_tokener_after_error(void)
{
	static const char bad[] =
	    "{\"Records\":[{\"eventSource\":\"" SM "\",\"x\":\"\\ud83d\\u\"}]}";
	static const char good[] =
	    "{\"Records\":[{\"eventSource\":\"secretsmanager\\u002eamazonaws."
	    "com\",\"eventID\":\"next\"}]}";
	struct trail *t;
	struct tl_scan g;
	struct diag d;
	int r;

	if (trail_new(&t) < 0)
		abort();
	r = trail_scan(t, bad, sizeof(bad) - 1, NULL, NULL, &d);
	is_int(r, -EBADMSG, "half a surrogate pair: -EBADMSG");
	tl_scan_init(&g);
	r = trail_scan(t, good, sizeof(good) - 1, tl_scan_collect, &g, &d);
	is_int(r, 0, "the next object on the scanner: scans");
	is_str(tl_scan_ids(&g), "next\n", "...and its \\u escapes read right");
	tl_scan_done(&g);
	trail_free(t);
}

/* ---- real samples ---------------------------------------------------- */

static void
test_samples(void)
{
	static const char *const more[] = {
	    "cloudtrail/corpus/aws-docs/aws-docs-cloudtrail-examples.json",
	    "cloudtrail/corpus/panther-analysis/panther-rule-tests.json",
	    "cloudtrail/secretsmanager/aws-docs_secretsmanager.json",
	    "cloudtrail/secretsmanager/panther-rule-tests_secretsmanager.json",
	    "cloudtrail/secretsmanager/stratus-red-team_secretsmanager.json",
	};
	static const char *const lists[] = {
	    "cloudtrail/corpus/aws-docs/aws-docs-cloudtrail-examples.index.json",
	    "cloudtrail/secretsmanager/aws-docs_secretsmanager.index.json",
	};
	char path[1024];
	struct buf plain;
	struct buf gzd;
	struct dirent *de;
	unsigned nstratus = 0;
	DIR *dir;
	size_t i;

	buf_init(&plain, BIG);
	buf_init(&gzd, BIG);
	sample("cloudtrail/secretsmanager/combined_secretsmanager.json", 52, 52,
	    &plain);
	sample("cloudtrail/secretsmanager/combined_secretsmanager.json.gz", 52,
	    52, &gzd);
	ok(plain.len > 0 && plain.data != NULL && gzd.data != NULL &&
		strcmp(plain.data, gzd.data) == 0,
	    "combined_secretsmanager: .json and .json.gz deliver the same "
	    "eventIDs");
	sample("cloudtrail/corpus/combined/all-sources.json.gz", 814, 38, NULL);
	sample("cloudtrail/corpus/trailscraper/"
	       "111111111111_CloudTrail_eu-central-1_20171211T1505Z_"
	       "A6kvhMoVeCsc7v8U.json.gz",
	    2, 0, NULL);
	sample("cloudtrail/corpus/trailscraper/"
	       "111111111111_CloudTrail_eu-central-1_20171211T1505Z_"
	       "A6kvhMoVeCsc7v8U.json",
	    2, 0, NULL);
	for (i = 0; i < ARRAY_SIZE(more); i++)
		sample(more[i], -1, -1, NULL);
	(void)snprintf(path, sizeof(path),
	    "%s/cloudtrail/corpus/stratus-red-team", tap_shared_data());
	dir = opendir(path);
	if (ok(dir != NULL, "open %s", path)) {
		while ((de = readdir(dir)) != NULL) {
			char rel[512];
			size_t n = strlen(de->d_name);

			if (n < 5 || strcmp(de->d_name + n - 5, ".json") != 0)
				continue;
			(void)snprintf(rel, sizeof(rel),
			    "cloudtrail/corpus/stratus-red-team/%s",
			    de->d_name);
			sample(rel, -1, -1, NULL);
			nstratus++;
		}
		(void)closedir(dir);
	}
	ok(nstratus >= 30, "%u stratus-red-team samples", nstratus);
	/* Index files are JSON arrays: not CloudTrail files. */
	for (i = 0; i < ARRAY_SIZE(lists); i++) {
		struct buf b;
		struct tl_scan g;

		buf_init(&b, BIG);
		if (read_data(lists[i], &b) == 0) {
			scan_all(lists[i], b.data, b.len, CHECK_GZ, &g);
			is_int(g.r, -EBADMSG, "%s: not an object", lists[i]);
			tl_scan_done(&g);
		}
		buf_done(&b);
	}
	buf_done(&plain);
	buf_done(&gzd);
}

int
main(void)
{
	if (trail_new(&reused) < 0)
		return 1;
	diag_note("inflater: %s", trail_inflater());
	test_not_an_object();
	test_truncated();
	test_gzip_hostile();
	test_nul();
	test_malformed();
	test_depth();
	test_skip_depth();
	test_strings();
	test_big();
	test_skip_big();
	test_kms_by_secretsmanager();
	test_callback_and_state();
	test_tokener_after_error();
	test_samples();
	trail_free(reused);
	return done_testing();
}
