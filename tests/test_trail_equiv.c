/*
 * test_trail_equiv.c: the scanner's kernels and a naive reading agree.
 *
 * The fast path (AVX2, where the CPU has it), the portable scalar path and a
 * naive whole-document json-c reading must deliver the same records, in the
 * same order, on every file of $SMTRAIL_SHARED_DATA/cloudtrail, on generated
 * hostile files and on a few thousand random ones. Every kernel is fed every
 * input in one piece, a byte at a time (small inputs), in odd chunk sizes
 * around the 64-byte blocks and at random, plain and gzipped: the return
 * code, the diag, the counters and the eventIDs must be the same each time.
 * The naive reading is compared where the document is valid JSON with one
 * Records key (where a scanner and a DOM may legitimately differ otherwise:
 * json-c keeps the last of duplicate keys, the scanner reads both arrays),
 * records skipped for their size or depth included.
 *
 * Hostile input first: what must fail must fail the same way in every
 * kernel, then the shapes that stress the block scanner, then the samples,
 * then the random documents (SMTRAIL_EQUIV_DOCS of them, default 500).
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "buf.h"
#include "diag.h"
#include "bounds.h"
#include "trail.h"
#include "tap.h"
#include "testlib.h"

#define SM "secretsmanager.amazonaws.com"
#define BIG (64u << 20)
/* A literal and its length, NULs inside included. */
#define LIT(s) s, sizeof(s) - 1
/* Byte-by-byte feeding above this size costs too much under valgrind. */
#define BYTEWISE_MAX (16u << 10)
/* And 7 bytes at a time above this one. */
#define SMALL_CHUNKS_MAX (1u << 20)

static enum trail_kernel kernels[TRAIL_KERNEL_COUNT];
static size_t nkernels;
/* One scanner per kernel, reused (reset) for every scan. */
static struct trail *scanners[TRAIL_KERNEL_COUNT];
/* Two streams: the documents do not depend on how they were fed. */
static uint64_t rng_doc = 0x2545f4914f6cdd1dull;
static uint64_t rng_feed = 0x9e3779b97f4a7c15ull;

static unsigned
below(unsigned n)
{
	return (unsigned)(tl_xorshift(&rng_doc) % n);
}

static void
must(int r)
{
	if (r < 0)
		abort();
}

/*
 * Chunk sizes: 0 is one piece, SIZE_MAX random pieces; the others straddle
 * the kernels' 64-byte blocks every way.
 */
static const size_t chunks[] = {0, 1, 7, 63, 64, 65, 4093, SIZE_MAX};

/* The chunk size at arg, SIZE_MAX for random ones. */
static size_t
next_chunk(void *arg)
{
	size_t c = *(const size_t *)arg;

	return c == SIZE_MAX ? 1 + tl_xorshift(&rng_feed) % 3000 : c;
}

static void
scan(enum trail_kernel k, const void *doc, size_t len, size_t chunk,
    struct tl_scan *x)
{
	tl_scan_run(scanners[k], doc, len, chunk == 0 ? NULL : next_chunk,
	    &chunk, x);
}

/* How deep o nests: 0 for a scalar, 1 for an empty container. */
static unsigned
naive_depth(struct json_object *o)
{
	unsigned d = 0;
	unsigned c;
	size_t i;

	if (json_object_is_type(o, json_type_array)) {
		for (i = 0; i < json_object_array_length(o); i++) {
			c = naive_depth(json_object_array_get_idx(o, i));
			d = c > d ? c : d;
		}
		return d + 1;
	}
	if (!json_object_is_type(o, json_type_object))
		return 0;
	json_object_object_foreach(o, key, val)
	{
		(void)key;
		c = naive_depth(val);
		d = c > d ? c : d;
	}
	return d + 1;
}

/*
 * Whether trail.h skips the record rec of a document of len bytes with
 * opens '{' and '[' in it: nested past TRAIL_MAX_DEPTH with the top-level
 * object and Records, or over TRAIL_MAX_RECORD bytes as json-c prints it
 * (the text of the records that are that big here, which print as they are
 * written). The sizes spare valgrind the walk where it cannot be true.
 */
static bool
naive_skipped(struct json_object *rec, size_t len, size_t opens)
{
	const char *text;

	if (2 + opens > TRAIL_MAX_DEPTH &&
	    2 + naive_depth(rec) > TRAIL_MAX_DEPTH)
		return true;
	if (len <= TRAIL_MAX_RECORD)
		return false;
	text = json_object_to_json_string_ext(rec,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	return strlen(text) > TRAIL_MAX_RECORD;
}

/*
 * The naive reading: the whole document (inflated if gzip) through json-c
 * (strict), then the eventIDs of the Records whose eventSource is Secrets
 * Manager's, but for the records naive_skipped() says; *ret_records and
 * *ret_skipped get how many object elements Records has, and how many of
 * them are skipped. 0, or -1 if it is not a JSON object.
 */
static int
naive(const void *doc, size_t len, struct buf *out, uint64_t *ret_records,
    uint64_t *ret_skipped)
{
	const unsigned char *p = doc;
	struct json_tokener *tok;
	struct json_object *root;
	struct json_object *recs;
	struct buf json;
	size_t opens = 0;
	size_t i;
	int r = -1;

	buf_init(&json, BIG);
	if (len >= 2 && p[0] == 0x1f && p[1] == 0x8b) {
		if (tl_gunzip(&json, doc, len) < 0)
			goto out;
	} else if (buf_append(&json, doc, len) < 0) {
		goto out;
	}
	tok = json_tokener_new_ex(2 * TRAIL_MAX_DEPTH);
	/* What the scanner promises is RFC 8259, not json-c's extensions. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, json.data != NULL ? json.data : "",
	    (int)json.len);
	if (root != NULL && json_tokener_get_parse_end(tok) != json.len &&
	    strspn(json.data + json_tokener_get_parse_end(tok), " \t\r\n") !=
		json.len - json_tokener_get_parse_end(tok)) {
		json_object_put(root); /* trailing garbage */
		root = NULL;
	}
	json_tokener_free(tok);
	if (root == NULL)
		goto out;
	if (!json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		goto out;
	}
	r = 0;
	*ret_records = 0;
	*ret_skipped = 0;
	for (i = 0; i < json.len; i++)
		opens += json.data[i] == '{' || json.data[i] == '[';
	if (json_object_object_get_ex(root, "Records", &recs) &&
	    json_object_is_type(recs, json_type_array))
		for (i = 0; i < json_object_array_length(recs); i++) {
			struct json_object *rec;
			struct json_object *src;
			struct json_object *id;

			rec = json_object_array_get_idx(recs, i);
			if (!json_object_is_type(rec, json_type_object))
				continue;
			(*ret_records)++;
			if (naive_skipped(rec, json.len, opens)) {
				(*ret_skipped)++;
				continue;
			}
			if (!json_object_object_get_ex(rec, "eventSource",
				&src) ||
			    !json_object_is_type(src, json_type_string) ||
			    strcmp(json_object_get_string(src), SM) != 0)
				continue;
			must(buf_puts(out,
			    json_object_object_get_ex(rec, "eventID", &id)
				? json_object_get_string(id)
				: "?"));
			must(buf_putc(out, '\n'));
		}
	json_object_put(root);
out:
	buf_done(&json);
	return r;
}

/*
 * Scans doc with every kernel and chunking; one test: they all agree.
 * *ret gets the scalar kernel's one-piece result (tl_scan_done() it).
 */
static int
agree_quiet(const char *name, const void *doc, size_t len, struct tl_scan *ret)
{
	size_t k;
	size_t c;
	int ok_all = 1;

	tl_scan_init(ret);
	scan(TRAIL_KERNEL_SCALAR, doc, len, 0, ret);
	for (k = 0; k < nkernels; k++)
		for (c = 0; c < ARRAY_SIZE(chunks); c++) {
			struct tl_scan x;

			if (chunks[c] == 1 && len > BYTEWISE_MAX)
				continue;
			if (chunks[c] < 63 && len > SMALL_CHUNKS_MAX)
				continue;
			tl_scan_init(&x);
			scan(kernels[k], doc, len, chunks[c], &x);
			if (!tl_scan_same(&x, ret)) {
				ok_all = 0;
				diag_note(
				    "%s: %s kernel, chunk %zu: r=%d '%s' "
				    "records=%llu candidates=%llu skipped=%llu "
				    "'%s'; scalar r=%d '%s' records=%llu "
				    "candidates=%llu skipped=%llu '%s'",
				    name, trail_kernel_str(kernels[k]),
				    chunks[c], x.r, x.msg,
				    (unsigned long long)x.st.records,
				    (unsigned long long)x.st.candidates,
				    (unsigned long long)x.st.skipped, x.skip,
				    ret->r, ret->msg,
				    (unsigned long long)ret->st.records,
				    (unsigned long long)ret->st.candidates,
				    (unsigned long long)ret->st.skipped,
				    ret->skip);
			}
			tl_scan_done(&x);
		}
	return ok_all;
}

/* The gzipped form gz of a document: every kernel agrees, and on the same
 * records as x, its plain form gave (whatever the framing). */
static int
agree_gzip(const char *name, const struct buf *gz, const struct tl_scan *x)
{
	struct tl_scan z;
	int agree = agree_quiet(name, gz->data, gz->len, &z);

	agree &= z.r == x->r && strcmp(tl_scan_ids(&z), tl_scan_ids(x)) == 0;
	tl_scan_done(&z);
	return agree;
}

#define CMP_NAIVE 0x1 /* valid JSON, one Records key: the DOM must agree */
#define CMP_GZIP 0x2  /* also gzipped, one member and three */

/*
 * Every kernel, chunking and form agree, on want_r, want_msg (a prefix) and
 * want_skipped records skipped; with CMP_NAIVE, json-c too.
 */
static void
check(const char *name, const void *doc, size_t len, int flags, int want_r,
    const char *want_msg, uint64_t want_skipped)
{
	struct tl_scan x;
	struct buf gz;
	struct buf want;
	int agree;

	buf_init(&gz, BIG);
	buf_init(&want, BIG);
	agree = agree_quiet(name, doc, len, &x);
	if ((flags & CMP_GZIP) != 0) {
		tl_gzip(&gz, doc, len, NULL);
		agree &= agree_gzip(name, &gz, &x);
		buf_reset(&gz);
		tl_gzip(&gz, doc, len / 3, NULL);
		tl_gzip(&gz, (const char *)doc + len / 3, len - len / 3, NULL);
		agree &= agree_gzip(name, &gz, &x);
	}
	ok(agree, "%s: every kernel and chunking agree", name);
	is_int(x.r, want_r, "%s: returns %d", name, want_r);
	if (want_msg != NULL)
		ok(strncmp(x.msg, want_msg, strlen(want_msg)) == 0,
		    "%s: diag '%s' starts '%s'", name, x.msg, want_msg);
	is_int((long long)x.st.skipped, (long long)want_skipped,
	    "%s: %llu skipped", name, (unsigned long long)want_skipped);
	if ((flags & CMP_NAIVE) != 0) {
		uint64_t records = 0;
		uint64_t skipped = 0;

		ok(naive(doc, len, &want, &records, &skipped) == 0,
		    "%s: json-c reads it", name);
		is_str(tl_scan_ids(&x), want.data != NULL ? want.data : "",
		    "%s: json-c's records, in order", name);
		ok(x.st.records == records && x.st.skipped == skipped,
		    "%s: %llu records, %llu skipped, as json-c says", name,
		    (unsigned long long)records, (unsigned long long)skipped);
	}
	tl_scan_done(&x);
	buf_done(&gz);
	buf_done(&want);
}

#define REC(src, id) "{\"eventSource\":\"" src "\",\"eventID\":\"" id "\"}"

/* ---- what must fail, fails alike ------------------------------------ */

/* A record of Secrets Manager's, padded to pad bytes, then hostile. */
static void
padded(struct buf *b, size_t pad, const char *hostile)
{
	buf_reset(b);
	must(buf_puts(b, "{\"Records\":[" REC(SM, "a") ",{\"x\":\""));
	while (b->len < pad)
		must(buf_putc(b, 'x'));
	must(buf_puts(b, hostile));
}

static void
test_errors(void)
{
	static const struct {
		const char *name;
		const char *tail;
		size_t len;
		const char *msg;
	} bad[] = {
	    {"NUL in a string", LIT("\\\"\0\"}]}"), "NUL byte at byte"},
	    {"NUL after an escape", LIT("\\\0\"}]}"), "NUL byte at byte"},
	    {"NUL between values", LIT("\",\"y\":1\0}]}"), "NUL byte at byte"},
	    {"backslash outside a string", LIT("\",\"y\":1\\}]}"),
		"malformed JSON at byte"},
	    {"] closes an object", LIT("\",\"y\":{]}]}"),
		"malformed JSON at byte"},
	    {"} closes an array", LIT("\",\"y\":[}]}"),
		"malformed JSON at byte"},
	    {"} closes the record's array", LIT("\",\"y\":[[1]}]}"),
		"malformed JSON at byte"},
	    {"truncated in a string", LIT("\\\""), "truncated at byte"},
	    {"truncated after a backslash", LIT("\\"), "truncated at byte"},
	    {"truncated in nesting", LIT("\",\"y\":[[[{"), "truncated at byte"},
	};
	struct buf b;
	char name[128];
	size_t i;
	size_t pad;

	buf_init(&b, BIG);
	/* Each at every offset in a 64-byte block. */
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		int all = 1;

		for (pad = 60; pad < 60 + 64 + 3; pad++) {
			struct tl_scan x;

			padded(&b, pad, "");
			must(buf_append(&b, bad[i].tail, bad[i].len));
			(void)snprintf(name, sizeof(name), "%s at +%zu",
			    bad[i].name, pad);
			all &= agree_quiet(name, b.data, b.len, &x);
			all &= x.r == -EBADMSG &&
			    strncmp(x.msg, bad[i].msg, strlen(bad[i].msg)) ==
				0 &&
			    strcmp(tl_scan_ids(&x), "a\n") == 0;
			if (x.r != -EBADMSG)
				diag_note("%s: r=%d '%s'", name, x.r, x.msg);
			tl_scan_done(&x);
		}
		ok(all, "%s: fails alike at every block offset", bad[i].name);
	}
	/* Too deep and cut there: at the limit, one past it (skipping). */
	for (pad = 0; pad < 2; pad++) {
		struct tl_scan x;
		size_t d;

		buf_reset(&b);
		must(buf_puts(&b, "{\"Records\":[{\"deep\":"));
		for (d = 0; d < TRAIL_MAX_DEPTH - 3 + pad; d++)
			must(buf_puts(&b, d % 3 == 0 ? "{\"[\":" : "["));
		(void)snprintf(name, sizeof(name), "%zu levels, cut",
		    TRAIL_MAX_DEPTH + pad);
		ok(agree_quiet(name, b.data, b.len, &x), "%s: agree", name);
		is_int(x.r, -EBADMSG, "%s: -EBADMSG", name);
		ok(strncmp(x.msg, "truncated at byte", 17) == 0 &&
			x.st.skipped == 0,
		    "%s: '%s', none skipped", name, x.msg);
		tl_scan_done(&x);
	}
	buf_done(&b);
}

/* ---- shapes that stress the block scanner --------------------------- */

/* Backslash runs of every length, at every offset of a block. */
static void
test_escapes(void)
{
	struct buf b;
	size_t run;
	size_t off;
	size_t j;

	buf_init(&b, BIG);
	must(buf_puts(&b, "{\"Records\":["));
	for (run = 1; run <= 130; run++) {
		for (off = 0; off < 64; off += 9) {
			must(buf_printf(&b,
			    "{\"eventID\":\"r%zu-%zu\",\"v\":\"", run, off));
			for (j = 0; j < off; j++)
				must(buf_putc(&b, 'a'));
			/* An even run is text; an odd one escapes a quote. */
			for (j = 0; j < run; j++)
				must(buf_putc(&b, '\\'));
			must(buf_puts(&b, run % 2 != 0 ? "\"}]{[" : ""));
			must(buf_printf(&b, "\",\"eventSource\":\"%s\"},",
			    run % 5 == 0 ? SM : "kms.amazonaws.com"));
		}
	}
	must(buf_puts(&b, REC(SM, "last") "]}"));
	check("backslash runs at every offset", b.data, b.len,
	    CMP_NAIVE | CMP_GZIP, 0, NULL, 0);

	/* Quotes, escaped and not, across block boundaries. */
	buf_reset(&b);
	must(buf_puts(&b, "{\"Records\":["));
	for (off = 0; off < 200; off++) {
		must(buf_printf(&b, "{\"eventID\":\"q%zu\",\"", off));
		for (j = 0; j < off % 70; j++)
			must(buf_puts(&b, j % 2 != 0 ? "\\\"" : "{"));
		must(buf_printf(&b,
		    "\":[\"%.*s\",{\"k\":\"\\\\\"}],"
		    "\"eventSource\":\"%s\"},",
		    (int)(off % 64),
		    "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
		    "]]]]]]]]]]]]]]]]]]]]",
		    off % 3 == 0 ? SM : "s3.amazonaws.com"));
	}
	must(buf_puts(&b, REC(SM, "end") "]}"));
	check("brackets and quotes in strings, every offset", b.data, b.len,
	    CMP_NAIVE | CMP_GZIP, 0, NULL, 0);
	buf_done(&b);
}

static void
test_prefilter(void)
{
	static const char doc[] =
	    "{\"Records\":["
	    /* \u escapes: json-c reads Secrets Manager's name. */
	    "{\"eventSource\":\"secretsmanager\\u002eamazonaws.com\","
	    "\"eventID\":\"u1\"},"
	    "{\"event\\u0053ource\":\"" SM "\",\"eventID\":\"u2\"},"
	    "{\"eventSource\":\"\\u0073\\u0065cretsmanager.amazonaws.com\","
	    "\"eventID\":\"u3\"},"
	    /* ...and \u escapes that do not make it. */
	    "{\"eventSource\":\"kms.amazonaws.com\",\"x\":\"\\u00e9\\ud83d"
	    "\\ude00\\u0022\\u005c\",\"eventID\":\"n1\"},"
	    /* Whitespace around the colon. */
	    "{\"eventSource\" : \"" SM "\",\"eventID\":\"w1\"},"
	    "{\"eventSource\"\n\t:\r\n\"" SM "\",\"eventID\":\"w2\"},"
	    /* The name elsewhere: not an event of Secrets Manager's. */
	    "{\"eventSource\":\"kms.amazonaws.com\",\"userAgent\":\"" SM
	    "\",\"sourceIPAddress\":\"" SM "\",\"eventID\":\"n2\"},"
	    "{\"requestParameters\":{\"eventSource\":\"" SM
	    "\"},\"eventSource\":\"ec2.amazonaws.com\",\"eventID\":\"n3\"},"
	    "{\"eventSource\":\"" SM ".evil\",\"eventID\":\"n4\"},"
	    "{\"eventSource\":\"x" SM "\",\"eventID\":\"n5\"},"
	    "{\"x\":\"\\\"eventSource\\\":\\\"" SM "\\\"\",\"eventID\":\"n6\"},"
	    /* Duplicate keys: json-c keeps the last. */
	    "{\"eventSource\":\"" SM "\",\"eventSource\":\"kms.amazonaws.com\","
	    "\"eventID\":\"n7\"},"
	    "{\"eventSource\":\"kms.amazonaws.com\",\"eventSource\":\"" SM
	    "\",\"eventID\":\"d1\"},"
	    /* Nested, and a record that is all Secrets Manager. */
	    "{\"a\":[{\"b\":{\"eventSource\":\"" SM "\"}}],\"eventID\":\"n8\"},"
	    "{\"eventID\":\"s1\",\"eventSource\":\"" SM
	    "\",\"requestParameters\":{\"secretId\":\"arn:aws:" SM "\"}}"
	    "]}";

	check("prefilter: exactly json-c's eventSource", doc, sizeof(doc) - 1,
	    CMP_NAIVE | CMP_GZIP, 0, NULL, 0);
}

/*
 * The prefilter's SIMD loops read 32 or 64 positions at a time, two blocks
 * a turn, and the last block twice: the name and \u at every offset from a
 * record's start and from its end.
 */
static void
test_prefilter_offsets(void)
{
	struct buf b;
	struct tl_scan x;
	size_t pad;
	size_t j;
	int agree;

	buf_init(&b, BIG);
	must(buf_puts(&b, "{\"Records\":["));
	for (pad = 0; pad < 260; pad++) {
		must(buf_printf(&b, "{\"p\":\""));
		for (j = 0; j < pad; j++)
			must(buf_putc(&b, "ab{}[]"[j % 6]));
		/* The name at offset pad, then near the end. */
		must(buf_printf(&b,
		    "\",\"eventSource\":\"" SM "\",\"eventID\":\"s%zu\"},",
		    pad));
		must(buf_printf(&b, "{\"eventID\":\"e%zu\",\"p\":\"", pad));
		for (j = 0; j < pad; j++)
			must(buf_putc(&b, 'c'));
		must(buf_puts(&b, "\",\"eventSource\":\"" SM "\"},"));
		/* \u at offset pad: a candidate, not a match. */
		must(buf_puts(&b,
		    "{\"eventSource\":\"kms.amazonaws.com\",\"p\":\""));
		for (j = 0; j < pad; j++)
			must(buf_putc(&b, 'd'));
		must(buf_printf(&b, "\\u0041\",\"eventID\":\"u%zu\"},", pad));
		/* The name escaped, at offset pad from the end. */
		must(buf_printf(&b,
		    "{\"eventID\":\"x%zu\",\"eventSource\":"
		    "\"secretsmanager\\u002eamazonaws.com\",\"p\":\"",
		    pad));
		for (j = 0; j < pad; j++)
			must(buf_putc(&b, 'e'));
		must(buf_puts(&b, "\"},"));
		/* Near misses: every candidate test fails. */
		must(buf_puts(&b,
		    "{\"eventSource\":\"kms.amazonaws.com\",\"p\":\""));
		for (j = 0; j < pad; j++)
			must(buf_putc(&b, 'f'));
		must(buf_puts(&b,
		    "secretsmanager.amazonaws.co\\\\n\",\"q\":\""
		    "eventSource:" SM "\"},"));
	}
	must(buf_puts(&b, REC(SM, "last") "]}"));
	check("the name and \\u at every offset", b.data, b.len,
	    CMP_NAIVE | CMP_GZIP, 0, NULL, 0);
	agree = agree_quiet("candidates at every offset", b.data, b.len, &x);
	ok(agree && x.st.candidates == 4 * 260 + 1 &&
		x.st.matched == 3 * 260 + 1,
	    "...%llu candidates, %llu matched: the exact counts",
	    (unsigned long long)x.st.candidates,
	    (unsigned long long)x.st.matched);
	tl_scan_done(&x);
	buf_done(&b);
}

static void
test_shapes(void)
{
	struct buf b;
	struct tl_scan x;
	size_t d;
	size_t i;

	buf_init(&b, BIG);
	check("empty Records", LIT("{\"Records\":[]}"), CMP_NAIVE | CMP_GZIP, 0,
	    NULL, 0);
	check("empty Records, spaced", LIT(" {\n\"Records\" : [\n ] }\n"),
	    CMP_NAIVE | CMP_GZIP, 0, NULL, 0);
	check("no Records", LIT("{\"a\":{\"b\":[1,2,{}]}}"),
	    CMP_NAIVE | CMP_GZIP, 0, NULL, 0);

	/* Records larger than a chunk, a window and a block. */
	must(buf_puts(&b, "{\"Records\":[" REC(SM, "small") ","));
	for (i = 0; i < 3; i++) {
		size_t start = b.len;

		must(buf_printf(&b,
		    "{\"eventSource\":\"%s\",\"eventID\":\"big%zu\",\"v\":[\"",
		    i != 1 ? SM : "kms.amazonaws.com", i));
		while (b.len - start < 300000 + 77 * i)
			must(buf_puts(&b,
			    b.len % 7 == 0 ? "\\\"},{[\\\\" : "abcdefgh"));
		must(buf_puts(&b, "\",{\"x\":[[]]}]},"));
	}
	must(buf_puts(&b, REC(SM, "after") "]}"));
	check("records of 300 KB", b.data, b.len, CMP_NAIVE | CMP_GZIP, 0, NULL,
	    0);

	/* Nesting around the AVX2 kernel's 64 levels, in and out again. */
	buf_reset(&b);
	must(buf_puts(&b, "{\"Records\":["));
	for (d = 55; d < 75; d++) {
		must(buf_printf(&b,
		    "{\"eventSource\":\"%s\",\"eventID\":\"deep%zu\",\"v\":",
		    d % 2 != 0 ? SM : "s3.amazonaws.com", d));
		for (i = 0; i < d; i++)
			must(buf_puts(&b, i % 2 != 0 ? "[" : "{\"k\":"));
		must(buf_puts(&b, "\"}]\""));
		for (i = d; i-- > 0;)
			must(buf_puts(&b, i % 2 != 0 ? "]" : "}"));
		must(buf_puts(&b, "},"));
	}
	must(buf_puts(&b, REC(SM, "shallow") "]}"));
	check("nesting from 55 to 75 levels", b.data, b.len,
	    CMP_NAIVE | CMP_GZIP, 0, NULL, 0);

	/* 500 levels: legal for the scanner and json-c both. */
	buf_reset(&b);
	must(buf_puts(&b, "{\"Records\":[{\"eventID\":\"d500\",\"v\":"));
	for (i = 0; i < 496; i++)
		must(buf_putc(&b, '['));
	for (i = 0; i < 496; i++)
		must(buf_putc(&b, ']'));
	must(buf_puts(&b, ",\"eventSource\":\"" SM "\"}]}"));
	check("500 levels", b.data, b.len, CMP_NAIVE | CMP_GZIP, 0, NULL, 0);

	/* Pretty-printed, with a BOM, other keys around Records. */
	check("pretty, BOM, keys around",
	    LIT("\xef\xbb\xbf{\n  \"a\": \"]}\",\n  \"Records\": [\n    {\n      "
		"\"eventSource\": \"" SM
		"\",\n      \"eventID\": \"p1\"\n    },\n"
		"    {\n      \"eventID\": \"p2\",\n      \"eventSource\": \"" SM
		"\"\n    }\n  ],\n  \"z\": [\"{\", {\"\\\"\": 1}]\n}\n"),
	    CMP_GZIP, 0, NULL, 0);
	ok(agree_quiet("raw UTF-8",
	       LIT("{\"Records\":[{\"n\":\"jos\xc3\xa9 \xe2\x82\xac "
		   "\xf0\x9f\x98\x80\xff\x80\",\"eventSource\":\"" SM
		   "\",\"eventID\":\"8\"}]}"),
	       &x) &&
		strcmp(tl_scan_ids(&x), "8\n") == 0,
	    "raw UTF-8 and stray high bytes: delivered alike");
	tl_scan_done(&x);
	buf_done(&b);
}

/* ---- records skipped ----------------------------------------------- */

/*
 * levels containers, '[' and objects with bracket-laden keys in turn, a
 * hostile string at the bottom, each closed again.
 */
static void
put_nest(struct buf *b, size_t levels)
{
	size_t i;

	for (i = 0; i < levels; i++)
		must(buf_puts(b, i % 3 != 1 ? "[\"]\\\"\"," : "{\"}{\":"));
	must(buf_puts(b, "\"\\\\}]\""));
	while (levels-- > 0)
		must(buf_putc(b, levels % 3 != 1 ? ']' : '}'));
}

/*
 * Records nested past TRAIL_MAX_DEPTH or over TRAIL_MAX_RECORD are skipped
 * alike by every kernel, whatever the chunks, and naive() says which.
 */
static void
test_skips(void)
{
	struct buf b;
	char name[128];
	size_t levels;
	size_t start;

	buf_init(&b, BIG);
	/* A record of Secrets Manager's around the depth limit (its own 510
	 * levels are the most) between two, and one far past it last. */
	for (levels = 508; levels < 514; levels++) {
		buf_reset(&b);
		must(buf_puts(&b, "{\"Records\":[" REC(SM, "a") ","));
		must(buf_printf(&b,
		    "{\"eventSource\":\"%s\",\"eventID\":\"d%zu\",\"v\":", SM,
		    levels));
		put_nest(&b, levels - 1);
		must(buf_puts(&b, "}," REC(SM, "b") ","));
		must(buf_puts(&b, "{\"eventID\":\"k\",\"v\":"));
		put_nest(&b, levels + 90);
		must(buf_puts(&b, "}]}"));
		(void)snprintf(name, sizeof(name), "records %zu levels deep",
		    levels);
		/* Gzipped too at the limit: 510 and 511. */
		check(name, b.data, b.len,
		    CMP_NAIVE | (levels / 2 == 255 ? CMP_GZIP : 0), 0, NULL,
		    levels > TRAIL_MAX_DEPTH - 2 ? 2 : 1);
	}
	/*
	 * Over TRAIL_MAX_RECORD, brackets, quotes and escapes dense around
	 * the limit (every kernel meets it mid-block, whatever the chunks),
	 * written as json-c prints it, for the naive reading.
	 */
	buf_reset(&b);
	must(buf_puts(&b, "{\"Records\":[" REC(SM, "a") ","));
	start = b.len;
	must(buf_puts(&b,
	    "{\"eventSource\":\"" SM "\",\"eventID\":\"big\","
	    "\"v\":\""));
	while (b.len < start + TRAIL_MAX_RECORD - 300)
		must(buf_puts(&b, b.len % 1000 < 10 ? "\\\"}]{[" : "abcdefgh"));
	while (b.len < start + TRAIL_MAX_RECORD + 100)
		must(buf_puts(&b, "\\\"}{[]\\\\"));
	must(buf_puts(&b, "\",\"w\":[\"}\"]}"));
	(void)snprintf(name, sizeof(name), "a record of %zu bytes",
	    b.len - start);
	must(buf_puts(&b, "," REC(SM, "b") "]}"));
	check(name, b.data, b.len, CMP_NAIVE, 0, NULL, 1);
	buf_done(&b);
}

/* ---- the shared samples --------------------------------------------- */

static unsigned nsamples;
static unsigned ncloudtrail;

static void
sample(const char *path)
{
	struct buf raw;
	struct buf want;
	struct tl_scan x;
	uint64_t records = 0;
	uint64_t skipped = 0;
	int agree;
	int nr;

	buf_init(&raw, BIG);
	buf_init(&want, BIG);
	if (!ok(tl_read_file(path, &raw) == 0, "read %s", path))
		goto out;
	nsamples++;
	agree = agree_quiet(path, raw.data, raw.len, &x);
	nr = naive(raw.data, raw.len, &want, &records, &skipped);
	/* Not CloudTrail (a LICENSE, an index array): fails in all. */
	if (nr < 0) {
		ok(agree && x.r == -EBADMSG,
		    "%s: not a CloudTrail file to any reader", path);
	} else {
		ncloudtrail++;
		ok(agree && x.r == 0 &&
			strcmp(tl_scan_ids(&x),
			    want.data != NULL ? want.data : "") == 0 &&
			x.st.records == records && x.st.skipped == skipped,
		    "%s: %llu records, %llu of Secrets Manager's, as json-c",
		    path, (unsigned long long)x.st.records,
		    (unsigned long long)x.st.matched);
	}
	tl_scan_done(&x);
out:
	buf_done(&raw);
	buf_done(&want);
}

static void
walk(const char *dir)
{
	struct dirent **ents;
	char path[4096];
	struct stat st;
	int n;
	int i;

	/* Sorted, so that the test's output is the same everywhere. */
	n = scandir(dir, &ents, NULL, alphasort);
	if (!ok(n >= 0, "list %s", dir))
		return;
	for (i = 0; i < n; i++) {
		if (ents[i]->d_name[0] != '.') {
			(void)snprintf(path, sizeof(path), "%s/%s", dir,
			    ents[i]->d_name);
			if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
				walk(path);
			else if (S_ISREG(st.st_mode))
				sample(path);
		}
		free(ents[i]);
	}
	free(ents);
}

static void
test_samples(void)
{
	char dir[4096];

	(void)snprintf(dir, sizeof(dir), "%s/cloudtrail", tap_shared_data());
	walk(dir);
	ok(nsamples >= 50, "%u files in %s", nsamples, dir);
	ok(ncloudtrail >= 40, "%u of them CloudTrail files", ncloudtrail);
}

/* ---- random documents ----------------------------------------------- */

static void
rnd_ws(struct buf *b)
{
	static const char *const ws[] = {" ", "\n", "\t", "\r\n", "  "};

	if (below(8) == 0)
		must(buf_puts(b, ws[below(ARRAY_SIZE(ws))]));
}

/* A string literal's body: hostile characters, escaped as JSON needs. */
static void
rnd_string_body(struct buf *b, unsigned max)
{
	static const char *const bits[] = {"a", "b", "0", "{", "}", "[", "]",
	    ",", ":", " ", "\\\"", "\\\\", "\\/", "\\n", "\\t", "\\u0041",
	    "\\u007d", "\\u0022", "\\u005c", "\\ud83d\\ude00", "\xc3\xa9",
	    "\xe2\x82\xac", "eventSource", SM, "\\\\\\\"", "'"};
	unsigned n = below(max + 1);
	unsigned i;

	for (i = 0; i < n; i++)
		must(buf_puts(b, bits[below(ARRAY_SIZE(bits))]));
}

static void rnd_value(struct buf *b, unsigned depth);

static void
rnd_object(struct buf *b, unsigned depth)
{
	unsigned n = below(5);
	unsigned i;

	must(buf_putc(b, '{'));
	for (i = 0; i < n; i++) {
		if (i > 0)
			must(buf_putc(b, ','));
		rnd_ws(b);
		must(buf_putc(b, '"'));
		rnd_string_body(b, 3);
		must(buf_putc(b, '"'));
		rnd_ws(b);
		must(buf_putc(b, ':'));
		rnd_ws(b);
		rnd_value(b, depth + 1);
	}
	rnd_ws(b);
	must(buf_putc(b, '}'));
}

static void
rnd_value(struct buf *b, unsigned depth)
{
	unsigned i;
	unsigned n;

	switch (depth > 6 && below(20) != 0 ? below(4) : below(7)) {
	case 0:
		must(buf_putc(b, '"'));
		rnd_string_body(b, below(10) == 0 ? 200 : 8);
		must(buf_putc(b, '"'));
		break;
	case 1:
		must(buf_printf(b, "%d", (int)below(2000) - 1000));
		break;
	case 2:
		must(buf_puts(b, below(3) == 0 ? "null" : "true"));
		break;
	case 3:
		must(buf_puts(b, "-1.5e+3"));
		break;
	case 4:
	case 5:
		rnd_object(b, depth);
		break;
	default:
		must(buf_putc(b, '['));
		n = below(4);
		for (i = 0; i < n; i++) {
			if (i > 0)
				must(buf_putc(b, ','));
			rnd_ws(b);
			rnd_value(b, depth + 1);
		}
		must(buf_putc(b, ']'));
		break;
	}
}

/* A value nested n levels deep, hostile strings on the way. */
static void
rnd_deep(struct buf *b, unsigned n)
{
	unsigned char obj[TRAIL_MAX_DEPTH * 2];
	unsigned i;

	for (i = 0; i < n && i < sizeof(obj); i++) {
		obj[i] = below(2) == 0;
		must(buf_putc(b, obj[i] ? '{' : '['));
		if (obj[i] || below(16) == 0) {
			must(buf_putc(b, '"'));
			rnd_string_body(b, 1);
			must(buf_puts(b, obj[i] ? "\":" : "\","));
		}
	}
	rnd_value(b, 7);
	while (i-- > 0)
		must(buf_putc(b, obj[i] ? '}' : ']'));
}

static void
rnd_record(struct buf *b, unsigned id)
{
	static const char *const sources[] = {"\"" SM "\"",
	    "\"kms.amazonaws.com\"", "\"s3.amazonaws.com\"",
	    "\"secretsmanager\\u002eamazonaws.com\"", "\"" SM "x\"", "null"};
	unsigned n = below(6);
	unsigned i;
	unsigned at = below(n + 1);

	must(buf_putc(b, '{'));
	rnd_ws(b);
	must(buf_printf(b, "\"eventID\":\"id%u\"", id));
	for (i = 0; i <= n; i++) {
		must(buf_putc(b, ','));
		rnd_ws(b);
		if (i == at) {
			must(buf_puts(b,
			    below(10) != 0 ? "\"eventSource\""
					   : "\"event\\u0053ource\""));
			rnd_ws(b);
			must(buf_putc(b, ':'));
			rnd_ws(b);
			must(buf_puts(b, sources[below(ARRAY_SIZE(sources))]));
			continue;
		}
		must(buf_putc(b, '"'));
		rnd_string_body(b, 2);
		must(buf_puts(b, "\":"));
		rnd_value(b, 2);
	}
	/* Now and then nesting around TRAIL_MAX_DEPTH (the record's own
	 * 510 levels are the most: its own and its 2 above it). */
	if (below(60) == 0) {
		must(buf_puts(b, ",\"deep\":"));
		rnd_deep(b, TRAIL_MAX_DEPTH - 7 + below(9));
	}
	/* Now and then a string long enough to span many blocks. */
	if (below(30) == 0) {
		must(buf_puts(b, ",\"long\":\""));
		n = 1000 + below(70000);
		for (i = 0; i < n; i += 4)
			must(buf_puts(b, below(4) == 0 ? "\\\"{]" : "abcd"));
		must(buf_putc(b, '"'));
	}
	rnd_ws(b);
	must(buf_putc(b, '}'));
}

static void
rnd_doc(struct buf *b)
{
	unsigned n = below(12);
	unsigned i;

	buf_reset(b);
	must(buf_putc(b, '{'));
	rnd_ws(b);
	if (below(4) == 0) {
		must(buf_puts(b, "\"before\":"));
		rnd_value(b, 1);
		must(buf_putc(b, ','));
	}
	must(buf_puts(b, "\"Records\":["));
	for (i = 0; i < n; i++) {
		if (i > 0)
			must(buf_putc(b, ','));
		rnd_ws(b);
		rnd_record(b, i);
	}
	rnd_ws(b);
	must(buf_putc(b, ']'));
	if (below(4) == 0) {
		must(buf_puts(b, ",\"after\":"));
		rnd_value(b, 1);
	}
	must(buf_putc(b, '}'));
}

static void
test_random(void)
{
	static const char hostile[] = "{}[]\"\\,:\0 a";
	const char *env = getenv("SMTRAIL_EQUIV_DOCS");
	unsigned ndocs = env != NULL ? (unsigned)strtoul(env, NULL, 10) : 500;
	unsigned bad_naive = 0;
	unsigned bad_agree = 0;
	unsigned valid = 0;
	unsigned broken = 0;
	unsigned matched = 0;
	unsigned nskipped = 0;
	struct buf b;
	struct buf want;
	struct buf gz;
	unsigned i;

	buf_init(&b, BIG);
	buf_init(&want, BIG);
	buf_init(&gz, BIG);
	for (i = 0; i < ndocs; i++) {
		struct tl_scan x;
		uint64_t records = 0;
		uint64_t skipped = 0;
		char name[64];
		int agree;

		rnd_doc(&b);
		(void)snprintf(name, sizeof(name), "random doc %u", i);
		/* One in three corrupted: a byte changed, or cut short. */
		if (i % 3 == 2 && b.len > 0) {
			if (below(4) == 0)
				b.len = below((unsigned)b.len);
			else
				b.data[below((unsigned)b.len)] =
				    hostile[below(sizeof(hostile) - 1)];
		}
		agree = agree_quiet(name, b.data, b.len, &x);
		if (i % 10 == 0) {
			buf_reset(&gz);
			tl_gzip(&gz, b.data, b.len, NULL);
			agree &= agree_gzip(name, &gz, &x);
		}
		bad_agree += !agree;
		buf_reset(&want);
		if (naive(b.data, b.len, &want, &records, &skipped) == 0) {
			valid++;
			matched += (unsigned)x.st.matched;
			nskipped += (unsigned)skipped;
			if (x.r != 0 ||
			    strcmp(tl_scan_ids(&x),
				want.data != NULL ? want.data : "") != 0 ||
			    x.st.records != records ||
			    x.st.skipped != skipped) {
				bad_naive++;
				diag_note("%s: r=%d '%s' ids '%s' json-c '%s', "
					  "skipped %llu json-c %llu",
				    name, x.r, x.msg, tl_scan_ids(&x),
				    want.data != NULL ? want.data : "",
				    (unsigned long long)x.st.skipped,
				    (unsigned long long)skipped);
			}
		} else {
			broken++;
		}
		tl_scan_done(&x);
	}
	is_int(bad_agree, 0, "%u random documents: every kernel agrees", ndocs);
	is_int(bad_naive, 0,
	    "%u of them valid JSON: json-c's records, %u of Secrets "
	    "Manager's, %u skipped",
	    valid, matched, nskipped);
	ok(valid > ndocs / 2 && broken > ndocs / 5 && matched > ndocs / 4 &&
		nskipped > ndocs / 100,
	    "the mix: %u valid, %u broken, %u delivered, %u skipped", valid,
	    broken, matched, nskipped);
	buf_done(&b);
	buf_done(&want);
	buf_done(&gz);
}

int
main(void)
{
	enum trail_kernel k;

	for (k = TRAIL_KERNEL_SCALAR; k < TRAIL_KERNEL_COUNT; k++) {
		must(trail_new(&scanners[k]));
		if (trail_set_kernel(scanners[k], k) == 0)
			kernels[nkernels++] = k;
		else
			diag_note("kernel %s: not on this CPU",
			    trail_kernel_str(k));
	}
	diag_note("inflater %s, kernels compared: %zu, best: %s",
	    trail_inflater(), nkernels, trail_kernel_str(trail_kernel_best()));
	ok(nkernels >= 1, "the scalar kernel is always there");
	test_errors();
	test_escapes();
	test_prefilter();
	test_prefilter_offsets();
	test_shapes();
	test_skips();
	test_samples();
	test_random();
	for (k = TRAIL_KERNEL_SCALAR; k < TRAIL_KERNEL_COUNT; k++)
		trail_free(scanners[k]);
	return done_testing();
}
