/*
 * trail.c: see trail.h.
 *
 * Two stages. The input stage decides gzip or not from the object's first
 * two bytes and, for gzip, inflates into a fixed window through one small
 * backend seam (trail_gz.h: trail_isal.c or trail_zlib.c, picked at build
 * time, the way Redis's ae.c picks ae_epoll.c or ae_select.c). The JSON stage
 * is a byte-level state machine over the inflated text that survives any chunk
 * boundary:
 *
 *   - at the two structural levels (the top-level object, the Records array)
 *     it goes byte by byte and checks the grammar: keys, ':', ',', values;
 *   - inside any other container (a record, or the value of another
 *     top-level key) it only tracks strings, backslash escapes and bracket
 *     nesting, skipping every other byte through a class table: that is
 *     where almost all the bytes are, so it is the hot loop.
 *
 * The skipping and the prefilter have kernels (trail_kernel.h), listed in
 * trail_kernels[] and picked at run time: portable C (trail_scalar.c), AVX2
 * 64 bytes at a time (trail_avx2.c), and with AVX-512BW a faster prefilter
 * (trail_avx512.c); they give the same results, errors included, byte for
 * byte. What they share with this file is in trail_base.h.
 *
 * A record is one object element of Records. When it lies inside the chunk
 * being scanned it is handed on in place; when it straddles chunks (or
 * inflate windows), its bytes so far are copied to a carry buffer, the only
 * copy made, bounded by TRAIL_MAX_RECORD. Only records whose text could give
 * eventSource "secretsmanager.amazonaws.com" to json-c reach it (see
 * trail_scalar_candidate()): Secrets Manager's own events, not the KMS calls it
 * makes, which name it too.
 *
 * A record with a byte at offset TRAIL_MAX_RECORD from its '{', or with a
 * bracket that opens level TRAIL_MAX_DEPTH + 1, becomes a skipped one
 * (t->skip): its carried bytes are dropped, no more are kept, and it is
 * scanned on only to find its end. Past TRAIL_MAX_DEPTH, where the stack of
 * bracket kinds ends, the kernels count brackets in a plain counter, in a
 * record or any other value. Both happen at a fixed byte of the text, so
 * neither the chunks nor the kernel can change which records are skipped,
 * or why. The hot loops pay nothing per byte for it: the size check is the
 * end the scan of a chunk already stopped at, the depth check the branch
 * that used to fail the scan.
 *
 * The scanner does not validate JSON below the structural levels (json-c
 * does, for candidates); it does reject NUL bytes and unbalanced brackets
 * anywhere (past TRAIL_MAX_DEPTH, brackets that do not add up).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "diag.h"
#include "bounds.h"
#include "trail.h"
#include "trail_base.h"
#include "trail_gz.h"
#include "trail_kernel.h"

/* Inflate output window: big enough to amortise calls, small enough for L2. */
#define TRAIL_WINDOW (128u << 10)

/* The kernels, by enum trail_kernel; each needs what the one before needs. */
static const struct trail_kernel_ops *const trail_kernels[] = {
    [TRAIL_KERNEL_SCALAR] = &trail_scalar_kernel,
    [TRAIL_KERNEL_AVX2] = &trail_avx2_kernel,
    [TRAIL_KERNEL_AVX512] = &trail_avx512_kernel,
};
_Static_assert(ARRAY_SIZE(trail_kernels) == TRAIL_KERNEL_COUNT,
    "a kernel missing from trail_kernels[]");

/* What a public entry point returns: r, with the diag copied out. */
static int
trail_ret(struct trail *t, int r, struct diag *reterr)
{
	if (r < 0 && reterr != NULL)
		*reterr = t->diag;
	return r;
}

/*
 * Opens a container at a structural level: depth 0 or 1, or 2 for a value
 * in Records. Deeper ones are the kernels' (skip()).
 */
static void
trail_push(struct trail *t, int c)
{
	uint64_t bit = UINT64_C(1) << (t->depth % 64);

	assert(t->depth < 3);
	if (c == '{')
		t->stack[t->depth / 64] |= bit;
	else
		t->stack[t->depth / 64] &= ~bit;
	t->depth++;
}

/* The state after a value at the current structural level. */
static enum trail_state
trail_after(const struct trail *t)
{
	return t->in_records ? TRAIL_S_ELEM_NEXT : TRAIL_S_VALUE_NEXT;
}

/* Where the scan of n bytes must stop: n, or where the record gets too big. */
static size_t
trail_limit(const struct trail *t, size_t n)
{
	uint64_t lim;

	if (!t->in_record || t->skip != TRAIL_SKIP_NONE)
		return n;
	lim = t->rec_off + TRAIL_MAX_RECORD - t->st.bytes_json;
	return lim < n ? (size_t)lim : n;
}

/*
 * A value starts with p[i] = c at a structural level. Returns 1 when it is
 * a record (an object in Records), 0 for anything else, or an error.
 */
static int
trail_value(struct trail *t, size_t i, int c)
{
	switch (c) {
	case '"':
		t->state = TRAIL_S_STR;
		return 0;
	case '{':
	case '[':
		t->nest_base = t->depth;
		trail_push(t, c);
		t->state = TRAIL_S_NEST;
		if (c == '[' || !t->in_records)
			return 0;
		t->in_record = true;
		t->rec_off = t->st.bytes_json + i;
		buf_reset(&t->carry);
		return 1;
	case 't':
		t->lit = "true";
		break;
	case 'f':
		t->lit = "false";
		break;
	case 'n':
		t->lit = "null";
		break;
	default:
		if (c != '-' && (c < '0' || c > '9'))
			return trail_bad(t, i, c);
		t->lit = NULL;
		break;
	}
	t->lit_len = 1;
	t->state = TRAIL_S_SCALAR;
	return 0;
}

/*
 * A new tokener for one that failed a parse. json-c 0.16's
 * json_tokener_reset() keeps the first half of a surrogate pair that an
 * error cut short (\ud83d\u...), and the next parse puts a U+FFFD before its
 * first \u escape: a secretsmanager\u002eamazonaws.com in the next object
 * on this scanner would not match. Errors are rare; a tokener is cheap.
 */
static int
trail_tok_renew(struct trail *t)
{
	json_tokener *tok = json_tokener_new_ex(TRAIL_MAX_DEPTH);

	if (tok == NULL)
		return -ENOMEM;
	/* Strict: json-c must read a record the way the scanner did. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	if (t->tok != NULL)
		json_tokener_free(t->tok);
	t->tok = tok;
	t->tok_dirty = false;
	return 0;
}

/*
 * One record, whole: count it, prefilter its text, parse it, check its
 * eventSource, hand it to cb.
 */
static int
trail_record(struct trail *t, const char *p, size_t len, trail_record_cb *cb,
    void *arg)
{
	struct json_object *rec;
	struct json_object *src;
	enum json_tokener_error e;
	struct span raw = {p, len};
	int r;

	t->st.records++;
	if (!t->kernel->candidate(p, len))
		return 0;
	t->st.candidates++;
	if (t->tok_dirty) {
		r = trail_tok_renew(t);
		if (r < 0)
			return trail_err(t, r, "record at byte %" PRIu64 ": %s",
			    t->rec_off, strerror(-r));
	}
	json_tokener_reset(t->tok);
	/* len <= TRAIL_MAX_RECORD, which fits an int. */
	rec = json_tokener_parse_ex(t->tok, p, (int)len);
	e = json_tokener_get_error(t->tok);
	if (rec == NULL || e != json_tokener_success) {
		json_object_put(rec);
		t->tok_dirty = true;
		if (e == json_tokener_continue)
			e = json_tokener_error_parse_eof;
		return trail_err(t, -EBADMSG,
		    "malformed record at byte %" PRIu64 ": %s", t->rec_off,
		    json_tokener_error_desc(e));
	}
	if (!json_object_object_get_ex(rec, "eventSource", &src) ||
	    !json_object_is_type(src, json_type_string) ||
	    (size_t)json_object_get_string_len(src) != TRAIL_SOURCE_LEN ||
	    memcmp(json_object_get_string(src), TRAIL_SOURCE,
		TRAIL_SOURCE_LEN) != 0) {
		json_object_put(rec);
		return 0;
	}
	t->st.matched++;
	r = cb != NULL ? cb(rec, raw, arg) : 0;
	json_object_put(rec);
	if (r < 0)
		return trail_err(t, r,
		    "scan stopped by the callback at the record at byte %" PRIu64,
		    t->rec_off);
	return 0;
}

/* A skipped record ended: count it, and say why if it is the first. */
static int
trail_skipped(struct trail *t)
{
	t->st.records++;
	if (t->st.skipped++ == 0) {
		if (t->skip == TRAIL_SKIP_SIZE)
			(void)diag_set(&t->skipped, 0, NULL, 0, 0,
			    "record at byte %" PRIu64 " skipped: over %u bytes",
			    t->rec_off, TRAIL_MAX_RECORD);
		else
			(void)diag_set(&t->skipped, 0, NULL, 0, 0,
			    "record at byte %" PRIu64
			    " skipped: nesting deeper than %d",
			    t->rec_off, TRAIL_MAX_DEPTH);
		t->skipped.warning = true;
	}
	t->skip = TRAIL_SKIP_NONE;
	return 0;
}

/* The record closed; p[0..len) is its part in the chunk scanned. */
static int
trail_record_end(struct trail *t, const unsigned char *p, size_t len,
    trail_record_cb *cb, void *arg)
{
	const char *text = (const char *)p;
	int r;

	t->in_record = false;
	if (t->skip != TRAIL_SKIP_NONE)
		return trail_skipped(t);
	if (t->carry.len > 0) {
		r = buf_append(&t->carry, p, len);
		if (r < 0)
			return trail_err(t, r, "record at byte %" PRIu64 ": %s",
			    t->rec_off, strerror(-r));
		text = t->carry.data;
		len = t->carry.len;
	}
	r = trail_record(t, text, len, cb, arg);
	buf_reset(&t->carry);
	return r;
}

/*
 * The structural levels, one byte at a time (there are few such bytes: the
 * top-level keys, the commas between records). Returns 1 when a record
 * started at p[i], else 0 or an error; advances *ip past what it consumed.
 */
static int
trail_step(struct trail *t, const unsigned char *p, size_t *ip)
{
	size_t i = *ip;
	int c = p[i];
	int r = 0;

	if (t->state != TRAIL_S_KEY && t->state != TRAIL_S_KEY_ESC &&
	    t->state != TRAIL_S_STR_ESC && t->state != TRAIL_S_SCALAR &&
	    t->state != TRAIL_S_BOM1 && t->state != TRAIL_S_BOM2 &&
	    (trail_class[c] & TRAIL_C_WS) != 0) {
		*ip = i + 1;
		return 0;
	}
	switch (t->state) {
	case TRAIL_S_START:
		if (c == 0xef && t->st.bytes_json + i == 0) {
			t->state = TRAIL_S_BOM1;
			break;
		}
		if (c != '{') {
			if (c == 0)
				return trail_bad(t, i, c);
			return trail_err(t, -EBADMSG,
			    "malformed JSON at byte %" PRIu64
			    ": the top level is not an object",
			    t->st.bytes_json + i);
		}
		trail_push(t, c);
		t->state = TRAIL_S_OBJ_FIRST;
		break;
	case TRAIL_S_BOM1:
	case TRAIL_S_BOM2:
		if (c != (t->state == TRAIL_S_BOM1 ? 0xbb : 0xbf))
			return trail_bad(t, i, c);
		t->state =
		    t->state == TRAIL_S_BOM1 ? TRAIL_S_BOM2 : TRAIL_S_START;
		break;
	case TRAIL_S_OBJ_FIRST:
	case TRAIL_S_OBJ_KEY:
		if (c == '}' && t->state == TRAIL_S_OBJ_FIRST) {
			t->depth = 0;
			t->state = TRAIL_S_DONE;
		} else if (c == '"') {
			t->key_len = 0;
			t->key_match = true;
			t->state = TRAIL_S_KEY;
		} else {
			return trail_bad(t, i, c);
		}
		break;
	case TRAIL_S_KEY:
		/* Raw bytes are compared: an escaped "Records" is not it. */
		if (c == '"') {
			t->key_records = t->key_match && t->key_len == 7;
			t->state = TRAIL_S_COLON;
			break;
		}
		if (c == 0)
			return trail_bad(t, i, c);
		if (c == '\\')
			t->state = TRAIL_S_KEY_ESC;
		if (t->key_len >= 7 || c != "Records"[t->key_len])
			t->key_match = false;
		if (t->key_len < 8)
			t->key_len++;
		break;
	case TRAIL_S_KEY_ESC:
		if (c == 0)
			return trail_bad(t, i, c);
		t->state = TRAIL_S_KEY;
		break;
	case TRAIL_S_COLON:
		if (c != ':')
			return trail_bad(t, i, c);
		t->state = TRAIL_S_VALUE;
		break;
	case TRAIL_S_VALUE:
		if (!t->key_records) {
			r = trail_value(t, i, c);
		} else if (c == '[') {
			trail_push(t, c);
			t->in_records = true;
			t->state = TRAIL_S_ELEM_FIRST;
		} else if (c == 'n') {
			r = trail_value(t, i, c);
		} else {
			if (c == 0)
				return trail_bad(t, i, c);
			return trail_err(t, -EBADMSG,
			    "malformed CloudTrail file at byte %" PRIu64
			    ": Records is not an array",
			    t->st.bytes_json + i);
		}
		break;
	case TRAIL_S_VALUE_NEXT:
		if (c == ',') {
			t->state = TRAIL_S_OBJ_KEY;
		} else if (c == '}') {
			t->depth = 0;
			t->state = TRAIL_S_DONE;
		} else {
			return trail_bad(t, i, c);
		}
		break;
	case TRAIL_S_ELEM_FIRST:
	case TRAIL_S_ELEM_NEXT:
		if (c == ']') {
			t->depth = 1;
			t->in_records = false;
			t->state = TRAIL_S_VALUE_NEXT;
			break;
		}
		if (t->state == TRAIL_S_ELEM_FIRST) {
			r = trail_value(t, i, c);
			break;
		}
		if (c != ',')
			return trail_bad(t, i, c);
		t->state = TRAIL_S_ELEM;
		break;
	case TRAIL_S_ELEM:
		r = trail_value(t, i, c);
		break;
	case TRAIL_S_STR_ESC:
		if (c == 0)
			return trail_bad(t, i, c);
		t->state = TRAIL_S_STR;
		break;
	case TRAIL_S_SCALAR:
		if (t->lit != NULL
			? t->lit[t->lit_len] != '\0' && c == t->lit[t->lit_len]
			: (trail_class[c] & TRAIL_C_NUM) != 0) {
			t->lit_len++;
			break;
		}
		if (t->lit != NULL && t->lit[t->lit_len] != '\0')
			return trail_bad(t, i, c);
		/* The byte after the scalar is the next state's. */
		t->state = trail_after(t);
		return 0;
	case TRAIL_S_DONE:
		if (c == 0)
			return trail_bad(t, i, c);
		return trail_err(t, -EBADMSG,
		    "malformed JSON at byte %" PRIu64
		    ": trailing garbage after the top-level object",
		    t->st.bytes_json + i);
	case TRAIL_S_STR:
	case TRAIL_S_NEST:
	case TRAIL_S_NEST_STR:
	case TRAIL_S_NEST_ESC:
		/* trail_json_run() runs these itself. */
		assert(!"trail_step() called in a run state");
		return trail_err(t, -EINVAL, "internal error: bad scan state");
	}
	if (r < 0)
		return r;
	*ip = i + 1;
	return r;
}

/* Scans p[0..n), the JSON text at offset st.bytes_json. */
static int
trail_json_run(struct trail *t, const unsigned char *p, size_t n,
    trail_record_cb *cb, void *arg)
{
	size_t rs = 0; /* where the current record starts in p */
	size_t end = trail_limit(t, n);
	size_t i = 0;
	int c;
	int r;

	while (i < n) {
		if (i == end) {
			/* Byte TRAIL_MAX_RECORD of the record: skip it. */
			trail_skip_begin(t, TRAIL_SKIP_SIZE);
			end = n;
		}
		switch (t->state) {
		case TRAIL_S_NEST:
		case TRAIL_S_NEST_STR:
		case TRAIL_S_NEST_ESC:
			r = t->kernel->skip(t, p, &i, end);
			if (r <= 0) {
				if (r < 0)
					return r;
				break;
			}
			if (t->in_record) {
				r = trail_record_end(t, p + rs, i - rs, cb,
				    arg);
				if (r < 0)
					return r;
				end = n;
			}
			t->state = trail_after(t);
			break;
		case TRAIL_S_STR:
			i = trail_run(p, i, n, TRAIL_C_STR);
			if (i == n)
				break;
			c = p[i];
			if (c == '"')
				t->state = trail_after(t);
			else if (c == '\\')
				t->state = TRAIL_S_STR_ESC;
			else
				return trail_bad(t, i, c);
			i++;
			break;
		default:
			r = trail_step(t, p, &i);
			if (r < 0)
				return r;
			if (r == 1) {
				rs = i - 1;
				end = trail_limit(t, n);
			}
			break;
		}
	}
	if (t->in_record && t->skip == TRAIL_SKIP_NONE) {
		r = buf_append(&t->carry, p + rs, n - rs);
		if (r < 0)
			return trail_err(t, r, "record at byte %" PRIu64 ": %s",
			    t->rec_off, strerror(-r));
	}
	return 0;
}

/* JSON text, with the ceiling on the object's inflated size. */
static int
trail_json(struct trail *t, const unsigned char *p, size_t n,
    trail_record_cb *cb, void *arg)
{
	uint64_t room = 0;
	size_t m;
	int r;

	if (t->max_inflated > t->st.bytes_json)
		room = t->max_inflated - t->st.bytes_json;
	m = room < n ? (size_t)room : n;

	r = trail_json_run(t, p, m, cb, arg);
	if (r < 0)
		return r;
	t->st.bytes_json += m;
	if (m < n)
		return trail_err(t, -E2BIG,
		    "inflated object exceeds %" PRIu64 " bytes",
		    t->max_inflated);
	return 0;
}

/* Compressed input: inflate window by window, member after member. */
static int
trail_gunzip(struct trail *t, const unsigned char *p, size_t len,
    trail_record_cb *cb, void *arg)
{
	const unsigned char *start = p;
	const char *why = NULL;
	size_t before;
	size_t n;
	int rj;
	int r;

	for (;;) {
		if (t->gz_end) {
			if (len == 0)
				break;
			trail_gz.reset(t->gz);
			t->gz_end = false;
		}
		before = len;
		n = TRAIL_WINDOW;
		r = trail_gz.run(t->gz, &p, &len, t->win, &n, &t->gz_end, &why);
		if (r == -ENOMEM)
			return trail_err(t, r, "inflate: %s", strerror(-r));
		/*
		 * Scan what came out before a corrupt spot too: the records
		 * delivered before a gzip error then do not depend on how the
		 * input was cut (a bad CRC is only seen after all the data).
		 */
		if (n > 0) {
			rj = trail_json(t, t->win, n, cb, arg);
			if (rj < 0)
				return rj;
		}
		if (r < 0)
			return trail_err(t, r,
			    "corrupt gzip stream at input byte %" PRIu64 ": %s",
			    t->in_pos + (uint64_t)(p - start), why);
		if (t->gz_end || n == TRAIL_WINDOW)
			continue; /* another member, or more output pending */
		if (len == 0)
			break;
		if (n == 0 && len == before)
			return trail_err(t, -EBADMSG,
			    "corrupt gzip stream at input byte %" PRIu64
			    ": no progress",
			    t->in_pos + (uint64_t)(p - start));
	}
	t->in_pos += (uint64_t)(p - start);
	return 0;
}

static int
trail_input(struct trail *t, const unsigned char *p, size_t len,
    trail_record_cb *cb, void *arg)
{
	if (len == 0)
		return 0;
	if (t->mode == TRAIL_MODE_GZIP)
		return trail_gunzip(t, p, len, cb, arg);
	return trail_json(t, p, len, cb, arg);
}

int
trail_new(struct trail **ret)
{
	struct trail *t;
	int r;

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	buf_init(&t->carry, TRAIL_MAX_RECORD);
	t->max_inflated = TRAIL_MAX_INFLATED;
	t->kernel = trail_kernels[trail_kernel_best()];
	t->win = malloc(TRAIL_WINDOW);
	if (t->win == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	r = trail_tok_renew(t);
	if (r < 0)
		goto fail;
	r = trail_gz.new(&t->gz);
	if (r < 0)
		goto fail;
	trail_reset(t);
	*ret = t;
	return 0;
fail:
	trail_free(t);
	return r;
}

void
trail_free(struct trail *t)
{
	if (t == NULL)
		return;
	trail_gz.free(t->gz);
	if (t->tok != NULL)
		json_tokener_free(t->tok);
	buf_done(&t->carry);
	free(t->win);
	free(t);
}

void
trail_reset(struct trail *t)
{
	t->mode = TRAIL_MODE_UNKNOWN;
	t->nmagic = 0;
	t->gz_end = false;
	t->in_pos = 0;
	t->state = TRAIL_S_START;
	t->depth = 0;
	t->nest_base = 0;
	t->in_records = false;
	t->in_record = false;
	t->key_records = false;
	t->key_match = false;
	t->key_len = 0;
	t->lit = NULL;
	t->lit_len = 0;
	t->rec_off = 0;
	t->skip = TRAIL_SKIP_NONE;
	t->deep = 0;
	buf_reset(&t->carry);
	memset(&t->st, 0, sizeof(t->st));
	t->err = 0;
	memset(&t->skipped, 0, sizeof(t->skipped));
}

void
trail_set_max_inflated(struct trail *t, uint64_t max)
{
	t->max_inflated = max;
}

int
trail_feed(struct trail *t, const void *data, size_t len, trail_record_cb *cb,
    void *arg, struct diag *reterr)
{
	const unsigned char *p = data;
	int r;

	if (t->err != 0)
		return trail_ret(t, t->err, reterr);
	t->st.bytes_in += len;
	if (t->mode == TRAIL_MODE_UNKNOWN) {
		/* The first chunk may be a single byte: keep it. */
		while (len > 0 && t->nmagic < 2) {
			t->magic[t->nmagic++] = *p++;
			len--;
		}
		if (t->nmagic == 0 || (t->nmagic == 1 && t->magic[0] == 0x1f))
			return 0;
		if (t->nmagic == 2 && t->magic[0] == 0x1f &&
		    t->magic[1] == 0x8b) {
			t->mode = TRAIL_MODE_GZIP;
			trail_gz.reset(t->gz);
		} else {
			t->mode = TRAIL_MODE_PLAIN;
		}
		r = trail_input(t, t->magic, t->nmagic, cb, arg);
		if (r < 0)
			return trail_ret(t, r, reterr);
	}
	r = trail_input(t, p, len, cb, arg);
	return trail_ret(t, r, reterr);
}

int
trail_finish(struct trail *t, trail_record_cb *cb, void *arg,
    struct diag *reterr)
{
	int r = 0;

	/* Every byte fed has been scanned already; nothing is pending. */
	UNUSED(cb);
	UNUSED(arg);
	if (t->err != 0)
		return trail_ret(t, t->err, reterr);
	if (t->mode == TRAIL_MODE_UNKNOWN && t->nmagic == 0)
		r = trail_err(t, -EBADMSG, "empty object");
	else if (t->mode == TRAIL_MODE_UNKNOWN ||
	    (t->mode == TRAIL_MODE_GZIP && !t->gz_end))
		r = trail_err(t, -EBADMSG,
		    "truncated gzip stream at input byte %" PRIu64,
		    t->st.bytes_in);
	else if (t->st.bytes_json == 0)
		r = trail_err(t, -EBADMSG, "empty object");
	else if (t->state != TRAIL_S_DONE)
		r = trail_err(t, -EBADMSG, "truncated at byte %" PRIu64,
		    t->st.bytes_json);
	return trail_ret(t, r, reterr);
}

const struct trail_stats *
trail_stats(const struct trail *t)
{
	return &t->st;
}

const struct diag *
trail_skipped_first(const struct trail *t)
{
	return t->st.skipped != 0 ? &t->skipped : NULL;
}

int
trail_scan(struct trail *t, const void *data, size_t len, trail_record_cb *cb,
    void *arg, struct diag *reterr)
{
	int r;

	trail_reset(t);
	r = trail_feed(t, data, len, cb, arg, reterr);
	if (r < 0)
		return r;
	return trail_finish(t, cb, arg, reterr);
}

const char *
trail_inflater(void)
{
	return trail_gz.name;
}

enum trail_kernel
trail_kernel_best(void)
{
	enum trail_kernel k = TRAIL_KERNEL_COUNT;

	while (--k > TRAIL_KERNEL_SCALAR)
		if (trail_kernels[k]->supported())
			return k;
	return TRAIL_KERNEL_SCALAR;
}

int
trail_set_kernel(struct trail *t, enum trail_kernel k)
{
	if (k == TRAIL_KERNEL_AUTO)
		k = trail_kernel_best();
	if (k < TRAIL_KERNEL_SCALAR || k >= TRAIL_KERNEL_COUNT)
		return -EINVAL;
	if (!trail_kernels[k]->supported())
		return -ENOTSUP;
	t->kernel = trail_kernels[k];
	return 0;
}

enum trail_kernel
trail_kernel(const struct trail *t)
{
	return t->kernel->id;
}

const char *
trail_kernel_str(enum trail_kernel k)
{
	if (k == TRAIL_KERNEL_AUTO)
		return "auto";
	if (k < TRAIL_KERNEL_SCALAR || k >= TRAIL_KERNEL_COUNT)
		return "?";
	return trail_kernels[k]->name;
}
