/*
 * trail.c: see trail.h.
 *
 * Two stages. The input stage decides gzip or not from the object's first
 * two bytes and, for gzip, inflates into a fixed window through one small
 * backend seam (zlib or ISA-L, picked at build time, the way Redis's ae.c
 * picks ae_epoll.c or ae_select.c). The JSON stage is a byte-level state
 * machine over the inflated text that survives any chunk boundary:
 *
 *   - at the two structural levels (the top-level object, the Records array)
 *     it goes byte by byte and checks the grammar: keys, ':', ',', values;
 *   - inside any other container (a record, or the value of another
 *     top-level key) it only tracks strings, backslash escapes and bracket
 *     nesting, skipping every other byte through a class table: that is
 *     where almost all the bytes are, so it is the hot loop.
 *
 * The skipping and the prefilter have kernels, picked at run time: portable
 * C, AVX2 64 bytes at a time, and with AVX-512BW a faster prefilter; they
 * give the same results, errors included, byte for byte.
 *
 * A record is one object element of Records. When it lies inside the chunk
 * being scanned it is handed on in place; when it straddles chunks (or
 * inflate windows), its bytes so far are copied to a carry buffer, the only
 * copy made, bounded by TRAIL_MAX_RECORD. Only records whose text could give
 * eventSource "secretsmanager.amazonaws.com" to json-c reach it (see
 * trail_candidate()): Secrets Manager's own events, not the KMS calls it
 * makes, which name it too.
 *
 * A record with a byte at offset TRAIL_MAX_RECORD from its '{', or with a
 * bracket that opens level TRAIL_MAX_DEPTH + 1, becomes a skipped one
 * (t->skip): its carried bytes are dropped, no more are kept, and it is
 * scanned on only to find its end. Past TRAIL_MAX_DEPTH, where the stack of
 * bracket kinds ends, trail_deep() counts brackets in a plain counter, in a
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
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TRAIL_X86 1
#include <immintrin.h>
#endif

#include "buf.h"
#include "diag.h"
#include "limits.h"
#include "trail.h"

/* Inflate output window: big enough to amortise calls, small enough for L2. */
#define TRAIL_WINDOW (128u << 10)
#define TRAIL_SOURCE "secretsmanager.amazonaws.com"
/*
 * For the scalar kernel's hot loop: with the rare paths compiled into it,
 * GCC 12 -O2 gave it 1 to 5 % more instructions per byte (callgrind).
 */
#define TRAIL_NOINLINE __attribute__((noinline))
#define TRAIL_COLD __attribute__((cold, noinline))
#define TRAIL_SOURCE_LEN (sizeof(TRAIL_SOURCE) - 1)

/*
 * The inflate seam. Each backend defines struct trail_gz and the same four
 * entry points (init, done, reset, run); nothing else in this file knows
 * which one is compiled in.
 * trail_gz_run() inflates from *in into out (at most *outlen bytes), moves
 * *in and *inlen past what it consumed, sets *outlen to what it produced and
 * *ret_end when a gzip member (trailer checked) ended. -EBADMSG with *ret_why
 * for corrupt input; a truncated member is not an error here (more input may
 * come): trail_finish() finds it.
 */
#ifdef HAVE_ISAL

#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>

#define TRAIL_INFLATER "isa-l"

/*
 * The gzip member header (RFC 1952) is parsed here, byte by byte, and ISA-L
 * only inflates the body and checks the trailer (ISAL_GZIP_NO_HDR_VER). Its
 * own header reader (2.30) forgets the flags when a header is split between
 * calls inside the file name, so a comment or header CRC after it is then
 * taken for deflate data; it also ignores reserved flags. This one fails the
 * same input with the same words as zlib.
 */
#define TRAIL_GZ_FHCRC 0x02
#define TRAIL_GZ_FEXTRA 0x04
#define TRAIL_GZ_FNAME 0x08
#define TRAIL_GZ_FCOMMENT 0x10

enum trail_gz_part {
	TRAIL_GZ_FIXED,   /* ID1 ID2 CM FLG MTIME(4) XFL OS */
	TRAIL_GZ_XLEN,    /* FEXTRA: its length, 2 bytes */
	TRAIL_GZ_EXTRA,   /* FEXTRA: its bytes */
	TRAIL_GZ_NAME,    /* FNAME: up to a NUL */
	TRAIL_GZ_COMMENT, /* FCOMMENT: up to a NUL */
	TRAIL_GZ_HCRC,    /* FHCRC: 2 bytes */
	TRAIL_GZ_BODY,    /* the header is done: deflate data, trailer */
};

struct trail_gz {
	struct inflate_state s;
	enum trail_gz_part part;
	unsigned pos;   /* bytes of the part read */
	unsigned flags; /* FLG */
	unsigned val;   /* XLEN, or the header CRC read */
	uint32_t crc;   /* of the header bytes before HCRC */
};

static void
trail_gz_reset(struct trail_gz *z)
{
	isal_inflate_reset(&z->s);
	z->s.crc_flag = ISAL_GZIP_NO_HDR_VER;
	z->part = TRAIL_GZ_FIXED;
	z->pos = 0;
	z->flags = 0;
	z->val = 0;
	z->crc = 0;
}

static int
trail_gz_init(struct trail_gz *z)
{
	isal_inflate_init(&z->s);
	trail_gz_reset(z);
	return 0;
}

static void
trail_gz_done(struct trail_gz *z)
{
	UNUSED(z);
}

/* The optional part after part, as FLG says. */
static enum trail_gz_part
trail_gz_next(const struct trail_gz *z, enum trail_gz_part part)
{
	if (part < TRAIL_GZ_XLEN && (z->flags & TRAIL_GZ_FEXTRA) != 0)
		return TRAIL_GZ_XLEN;
	if (part < TRAIL_GZ_NAME && (z->flags & TRAIL_GZ_FNAME) != 0)
		return TRAIL_GZ_NAME;
	if (part < TRAIL_GZ_COMMENT && (z->flags & TRAIL_GZ_FCOMMENT) != 0)
		return TRAIL_GZ_COMMENT;
	if (part < TRAIL_GZ_HCRC && (z->flags & TRAIL_GZ_FHCRC) != 0)
		return TRAIL_GZ_HCRC;
	return TRAIL_GZ_BODY;
}

/* Moves to the part after the current one, which is complete. */
static void
trail_gz_advance(struct trail_gz *z)
{
	z->part = trail_gz_next(z, z->part);
	z->pos = 0;
}

/* One step of the header; *ip advances past what it takes. */
static const char *
trail_gz_step(struct trail_gz *z, const unsigned char *p, size_t n, size_t *ip)
{
	const unsigned char *nul;
	size_t i = *ip;
	size_t k;
	int c = p[i];

	switch (z->part) {
	case TRAIL_GZ_FIXED:
		if ((z->pos == 0 && c != 0x1f) || (z->pos == 1 && c != 0x8b))
			return "incorrect header check";
		if (z->pos == 2 && c != 8)
			return "unknown compression method";
		if (z->pos == 3 && (c & 0xe0) != 0)
			return "unknown header flags set";
		if (z->pos == 3)
			z->flags = (unsigned)c;
		*ip = i + 1;
		if (++z->pos == 10)
			trail_gz_advance(z);
		break;
	case TRAIL_GZ_XLEN:
		z->val |= (unsigned)c << (8 * z->pos);
		*ip = i + 1;
		if (++z->pos < 2)
			break;
		z->part = TRAIL_GZ_EXTRA;
		z->pos = 0;
		if (z->val == 0)
			trail_gz_advance(z);
		break;
	case TRAIL_GZ_EXTRA:
		k = z->val - z->pos;
		k = k < n - i ? k : n - i;
		*ip = i + k;
		z->pos += (unsigned)k;
		if (z->pos == z->val)
			trail_gz_advance(z);
		break;
	case TRAIL_GZ_NAME:
	case TRAIL_GZ_COMMENT:
		nul = memchr(p + i, 0, n - i);
		*ip = nul != NULL ? (size_t)(nul - p) + 1 : n;
		if (nul != NULL)
			trail_gz_advance(z);
		break;
	case TRAIL_GZ_HCRC:
		z->val = z->pos == 0 ? (unsigned)c : z->val | (unsigned)c << 8;
		*ip = i + 1;
		if (++z->pos < 2)
			break;
		if (z->val != (z->crc & 0xffff))
			return "header crc mismatch";
		trail_gz_advance(z);
		break;
	case TRAIL_GZ_BODY:
		break;
	}
	return NULL;
}

/* Reads header bytes from *in, up to its end or the input's. */
static const char *
trail_gz_header(struct trail_gz *z, const unsigned char **in, size_t *inlen)
{
	const char *why = NULL;
	size_t i = 0;
	size_t from;

	while (i < *inlen && z->part != TRAIL_GZ_BODY && why == NULL) {
		from = i;
		if (z->part < TRAIL_GZ_HCRC) {
			why = trail_gz_step(z, *in, *inlen, &i);
			z->crc = crc32_gzip_refl(z->crc, *in + from, i - from);
		} else {
			why = trail_gz_step(z, *in, *inlen, &i);
		}
	}
	*in += i; /* on error, at the bad byte: that is the offset reported */
	*inlen -= i;
	return why;
}

static const char *
trail_gz_why(int ret)
{
	switch (ret) {
	case ISAL_NEED_DICT:
		return "needs a dictionary";
	case ISAL_INVALID_BLOCK:
		return "invalid block";
	case ISAL_INVALID_SYMBOL:
		return "invalid symbol";
	case ISAL_INVALID_LOOKBACK:
		return "invalid distance";
	case ISAL_INVALID_WRAPPER:
		return "invalid header";
	case ISAL_UNSUPPORTED_METHOD:
		return "unknown compression method";
	case ISAL_INCORRECT_CHECKSUM:
		return "incorrect data check";
	}
	return "inflate error";
}

static int
trail_gz_run(struct trail_gz *z, const unsigned char **in, size_t *inlen,
    unsigned char *out, size_t *outlen, bool *ret_end, const char **ret_why)
{
	uint32_t avail;
	int ret;

	*ret_end = false;
	if (z->part != TRAIL_GZ_BODY) {
		*ret_why = trail_gz_header(z, in, inlen);
		if (*ret_why != NULL || z->part != TRAIL_GZ_BODY) {
			*outlen = 0;
			return *ret_why != NULL ? -EBADMSG : 0;
		}
	}
	avail = *inlen > UINT32_MAX ? UINT32_MAX : (uint32_t)*inlen;
	/* ISA-L never writes through next_in; its API is just not const. */
	z->s.next_in = (uint8_t *)(uintptr_t)*in;
	z->s.avail_in = avail;
	z->s.next_out = out;
	z->s.avail_out = (uint32_t)*outlen;
	ret = isal_inflate(&z->s);
	*in += avail - z->s.avail_in;
	*inlen -= avail - z->s.avail_in;
	*outlen -= z->s.avail_out;
	if (ret != ISAL_DECOMP_OK && ret != ISAL_END_INPUT &&
	    ret != ISAL_OUT_OVERFLOW) {
		*ret_why = trail_gz_why(ret);
		return -EBADMSG;
	}
	*ret_end = z->s.block_state == ISAL_BLOCK_FINISH;
	return 0;
}

#else /* zlib */

#define ZLIB_CONST
#include <zlib.h>

#define TRAIL_INFLATER "zlib"

struct trail_gz {
	z_stream s;
};

static int
trail_gz_init(struct trail_gz *z)
{
	memset(&z->s, 0, sizeof(z->s));
	/* 15 + 16: gzip wrapper only, 32 KiB history. */
	switch (inflateInit2(&z->s, 15 + 16)) {
	case Z_OK:
		return 0;
	case Z_MEM_ERROR:
		return -ENOMEM;
	}
	return -EINVAL;
}

static void
trail_gz_done(struct trail_gz *z)
{
	(void)inflateEnd(&z->s);
}

static void
trail_gz_reset(struct trail_gz *z)
{
	(void)inflateReset(&z->s);
}

static int
trail_gz_run(struct trail_gz *z, const unsigned char **in, size_t *inlen,
    unsigned char *out, size_t *outlen, bool *ret_end, const char **ret_why)
{
	uInt avail;
	int ret;

	avail = *inlen > (uInt)-1 ? (uInt)-1 : (uInt)*inlen;
	z->s.next_in = *in;
	z->s.avail_in = avail;
	z->s.next_out = out;
	z->s.avail_out = (uInt)*outlen;
	ret = inflate(&z->s, Z_NO_FLUSH);
	*in += avail - z->s.avail_in;
	*inlen -= avail - z->s.avail_in;
	*outlen -= z->s.avail_out;
	switch (ret) {
	case Z_OK:
	case Z_BUF_ERROR: /* no progress possible: needs input */
		*ret_end = false;
		return 0;
	case Z_STREAM_END:
		*ret_end = true;
		return 0;
	case Z_MEM_ERROR:
		return -ENOMEM;
	case Z_NEED_DICT:
		*ret_why = "needs a dictionary";
		return -EBADMSG;
	}
	*ret_why = z->s.msg != NULL ? z->s.msg : "inflate error";
	return -EBADMSG;
}

#endif /* HAVE_ISAL */

enum trail_mode {
	TRAIL_MODE_UNKNOWN, /* fewer than 2 bytes seen, the first 0x1f */
	TRAIL_MODE_PLAIN,
	TRAIL_MODE_GZIP,
};

/*
 * Where the JSON stage stands. Depth 1 is the top-level object, depth 2 the
 * Records array; the NEST states run below those (trail_skip()).
 */
enum trail_state {
	TRAIL_S_START,      /* before the top-level object */
	TRAIL_S_BOM1,       /* after EF of a UTF-8 byte order mark */
	TRAIL_S_BOM2,       /* after EF BB */
	TRAIL_S_OBJ_FIRST,  /* after the top-level '{': a key or '}' */
	TRAIL_S_OBJ_KEY,    /* after a top-level ',': a key */
	TRAIL_S_KEY,        /* inside a top-level key */
	TRAIL_S_KEY_ESC,    /* after a backslash in a top-level key */
	TRAIL_S_COLON,      /* after a top-level key */
	TRAIL_S_VALUE,      /* after a top-level ':' */
	TRAIL_S_VALUE_NEXT, /* after a top-level value: ',' or '}' */
	TRAIL_S_ELEM_FIRST, /* after the Records '[': an element or ']' */
	TRAIL_S_ELEM,       /* after a ',' in Records: an element */
	TRAIL_S_ELEM_NEXT,  /* after an element: ',' or ']' */
	TRAIL_S_STR,        /* inside a string value at a structural level */
	TRAIL_S_STR_ESC,    /* after a backslash there */
	TRAIL_S_SCALAR,     /* inside a number or literal there */
	TRAIL_S_NEST,       /* inside a container below the structural levels */
	TRAIL_S_NEST_STR,   /* inside a string there */
	TRAIL_S_NEST_ESC,   /* after a backslash there */
	TRAIL_S_DONE,       /* after the top-level '}': whitespace only */
};

/* Why the record being scanned is skipped (trail.h). */
enum trail_skip {
	TRAIL_SKIP_NONE,
	TRAIL_SKIP_SIZE,  /* it reached byte TRAIL_MAX_RECORD */
	TRAIL_SKIP_DEPTH, /* it opened level TRAIL_MAX_DEPTH + 1 */
};

struct trail {
	/* Input stage. */
	enum trail_mode mode;
	unsigned char magic[2]; /* the first bytes, until the mode is known */
	size_t nmagic;
	bool gz_live;       /* gz initialised */
	bool gz_end;        /* a member ended; more input starts another */
	uint64_t in_pos;    /* input bytes handed to the inflater */
	struct trail_gz gz; /* the backend state */
	unsigned char *win; /* inflate output, TRAIL_WINDOW bytes */

	/* JSON stage. */
	enum trail_state state;
	unsigned depth;     /* open containers */
	unsigned nest_base; /* depth at which the NEST container closes */
	bool in_records;    /* the structural level is the Records array */
	bool in_record;     /* the NEST container is a record */
	bool key_records;   /* the last top-level key was "Records" */
	bool key_match;     /* the key so far is a prefix of "Records" */
	unsigned key_len;   /* raw bytes of the key so far (saturates) */
	const char *lit;    /* literal being read, NULL for a number */
	unsigned lit_len;   /* bytes of lit matched */
	uint64_t rec_off;   /* JSON offset of the record's '{' */
	uint64_t max_inflated;
	/* The record is being skipped, and why (TRAIL_SKIP_NONE: it is not). */
	enum trail_skip skip;
	/* Containers open past TRAIL_MAX_DEPTH, counted only (trail_deep()). */
	uint64_t deep;
	/* One bit per open container: set for an object, clear for an array. */
	uint64_t stack[TRAIL_MAX_DEPTH / 64];
	struct buf carry;  /* the record so far, when it straddles chunks */
	json_tokener *tok; /* reused for every candidate */
	bool tok_dirty;    /* tok failed a parse: replace it before reuse */
	enum trail_kernel kernel;

	struct trail_stats st; /* st.bytes_json: offset of the chunk scanned */
	int err;               /* sticky: the scan failed */
	struct diag diag;      /* why, when err != 0 */
	struct diag skipped;   /* the first record skipped, once st.skipped */
};

/* Byte classes. */
#define TRAIL_C_STR 0x01  /* ends a run in a string: " \ NUL */
#define TRAIL_C_NEST 0x02 /* ends a run in a container: " \ { } [ ] NUL */
#define TRAIL_C_WS 0x04   /* JSON whitespace */
#define TRAIL_C_NUM 0x08  /* may continue a number */

static const unsigned char trail_class[256] = {
    [0] = TRAIL_C_STR | TRAIL_C_NEST,
    ['"'] = TRAIL_C_STR | TRAIL_C_NEST,
    ['\\'] = TRAIL_C_STR | TRAIL_C_NEST,
    ['{'] = TRAIL_C_NEST,
    ['}'] = TRAIL_C_NEST,
    ['['] = TRAIL_C_NEST,
    [']'] = TRAIL_C_NEST,
    ['\t'] = TRAIL_C_WS,
    ['\n'] = TRAIL_C_WS,
    ['\r'] = TRAIL_C_WS,
    [' '] = TRAIL_C_WS,
    ['+'] = TRAIL_C_NUM,
    ['-'] = TRAIL_C_NUM,
    ['.'] = TRAIL_C_NUM,
    ['0'] = TRAIL_C_NUM,
    ['1'] = TRAIL_C_NUM,
    ['2'] = TRAIL_C_NUM,
    ['3'] = TRAIL_C_NUM,
    ['4'] = TRAIL_C_NUM,
    ['5'] = TRAIL_C_NUM,
    ['6'] = TRAIL_C_NUM,
    ['7'] = TRAIL_C_NUM,
    ['8'] = TRAIL_C_NUM,
    ['9'] = TRAIL_C_NUM,
    ['E'] = TRAIL_C_NUM,
    ['e'] = TRAIL_C_NUM,
};

/*
 * The skipping loop: the first byte in p[i..end) of class cls, or end. A
 * table loop unrolled by 4 beat word-at-a-time (SWAR) tricks here:
 * CloudTrail strings are short (median 11 bytes), so the cost is the branch
 * at each stop, not the bytes between stops.
 */
static inline size_t
trail_run(const unsigned char *p, size_t i, size_t end, unsigned cls)
{
	while (end - i >= 4) {
		if ((trail_class[p[i]] & cls) != 0)
			return i;
		if ((trail_class[p[i + 1]] & cls) != 0)
			return i + 1;
		if ((trail_class[p[i + 2]] & cls) != 0)
			return i + 2;
		if ((trail_class[p[i + 3]] & cls) != 0)
			return i + 3;
		i += 4;
	}
	while (i < end && (trail_class[p[i]] & cls) == 0)
		i++;
	return i;
}

static int trail_err(struct trail *t, int r, const char *fmt, ...)
    PRINTF_LIKE(3, 4);

/* Records the failure in t (the scanner is dead until reset); returns r. */
static int
trail_err(struct trail *t, int r, const char *fmt, ...)
{
	char msg[sizeof(t->diag.msg)];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	t->err = r;
	return diag_set(&t->diag, r, NULL, 0, 0, "%s", msg);
}

/* What a public entry point returns: r, with the diag copied out. */
static int
trail_ret(struct trail *t, int r, struct diag *reterr)
{
	if (r < 0 && reterr != NULL)
		*reterr = t->diag;
	return r;
}

/* Byte c at p[i] of the chunk scanned was not expected. */
static int
trail_bad(struct trail *t, size_t i, int c)
{
	uint64_t off = t->st.bytes_json + i;

	if (c == 0)
		return trail_err(t, -EBADMSG, "NUL byte at byte %" PRIu64, off);
	if (c >= 0x20 && c < 0x7f)
		return trail_err(t, -EBADMSG,
		    "malformed JSON at byte %" PRIu64 ": unexpected '%c'", off,
		    c);
	return trail_err(t, -EBADMSG,
	    "malformed JSON at byte %" PRIu64 ": unexpected byte 0x%02x", off,
	    (unsigned)c);
}

/*
 * Opens a container at a structural level: depth 0 or 1, or 2 for a value
 * in Records. Deeper ones are the kernels' (trail_skip()).
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

/* The record is skipped from here on (the first why holds). */
static void
trail_skip_begin(struct trail *t, enum trail_skip why)
{
	if (t->skip != TRAIL_SKIP_NONE)
		return;
	t->skip = why;
	buf_reset(&t->carry);
}

/*
 * Past TRAIL_MAX_DEPTH, from p[*ip] to p[end]: brackets are counted in
 * t->deep, their kinds no longer matched (the stack ends there); strings,
 * escapes, NUL bytes and stray backslashes as in trail_skip_scalar(), with
 * the same errors. Returns 0 when the count is back to 0 (the container at
 * TRAIL_MAX_DEPTH is still open: the caller goes on) or the bytes ran out,
 * or an error. Cold: real events nest a dozen levels, not 500.
 */
TRAIL_COLD static int
trail_deep(struct trail *t, const unsigned char *p, size_t *ip, size_t end)
{
	enum trail_state s = t->state;
	uint64_t deep = t->deep;
	size_t i = *ip;
	int c;
	int r = 0;

	while (i < end && deep > 0) {
		if (s == TRAIL_S_NEST_ESC) {
			if (p[i] == 0) {
				r = trail_bad(t, i, 0);
				break;
			}
			i++;
			s = TRAIL_S_NEST_STR;
			continue;
		}
		i = trail_run(p, i, end,
		    s == TRAIL_S_NEST_STR ? TRAIL_C_STR : TRAIL_C_NEST);
		if (i == end)
			break;
		c = p[i++];
		if (c == '"') {
			s = s == TRAIL_S_NEST ? TRAIL_S_NEST_STR : TRAIL_S_NEST;
		} else if (c == '\\' && s == TRAIL_S_NEST_STR) {
			s = TRAIL_S_NEST_ESC;
		} else if (s == TRAIL_S_NEST && (c == '{' || c == '[')) {
			deep++;
		} else if (s == TRAIL_S_NEST && (c == '}' || c == ']')) {
			deep--;
		} else {
			r = trail_bad(t, i - 1, c); /* NUL, or \ outside */
			break;
		}
	}
	t->state = s;
	t->deep = deep;
	*ip = i;
	return r;
}

/* A bracket opened level TRAIL_MAX_DEPTH + 1; a record there is skipped. */
static void
trail_deep_begin(struct trail *t)
{
	t->deep = 1;
	if (t->in_record)
		trail_skip_begin(t, TRAIL_SKIP_DEPTH);
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

/* trail_skip_stack() is at TRAIL_MAX_DEPTH and a bracket opens one more. */
#define TRAIL_DEEPER 2

/*
 * The hot loop: runs through a container below the structural levels from
 * p[*ip] to p[end]. Returns 1 when the container closed (*ip just past its
 * bracket), 0 when the bytes ran out, TRAIL_DEEPER (*ip just past the
 * bracket), or an error. Only " \ { } [ ] and NUL stop the skipping; in a
 * string only " \ and NUL do, and the byte after a backslash is taken
 * whatever it is (so \" and \\ and \u007d are inert).
 */
TRAIL_NOINLINE static int
trail_skip_stack(struct trail *t, const unsigned char *p, size_t *ip,
    size_t end)
{
	enum trail_state s = t->state;
	unsigned depth = t->depth;
	uint64_t bit;
	size_t i = *ip;
	int c;
	int r = 0;

	while (i < end) {
		/* A string, to its closing quote. */
		while (s != TRAIL_S_NEST) {
			if (s == TRAIL_S_NEST_ESC) {
				if (p[i] == 0) {
					r = trail_bad(t, i, 0);
					goto out;
				}
				i++;
				s = TRAIL_S_NEST_STR;
			}
			i = trail_run(p, i, end, TRAIL_C_STR);
			if (i == end)
				goto out;
			c = p[i++];
			if (c == '"') {
				s = TRAIL_S_NEST;
			} else if (c == '\\') {
				s = TRAIL_S_NEST_ESC;
				if (i == end)
					goto out;
			} else {
				r = trail_bad(t, i - 1, c); /* NUL */
				goto out;
			}
		}
		/* Between strings. */
		i = trail_run(p, i, end, TRAIL_C_NEST);
		if (i == end)
			break;
		c = p[i++];
		if (c == '"') {
			s = TRAIL_S_NEST_STR;
		} else if (c == '{' || c == '[') {
			if (depth == TRAIL_MAX_DEPTH) {
				r = TRAIL_DEEPER;
				break;
			}
			bit = UINT64_C(1) << (depth % 64);
			if (c == '{')
				t->stack[depth / 64] |= bit;
			else
				t->stack[depth / 64] &= ~bit;
			depth++;
		} else if (c == '}' || c == ']') {
			depth--;
			bit = t->stack[depth / 64] >> (depth % 64) & 1;
			if (bit != (c == '}')) {
				r = trail_bad(t, i - 1, c);
				break;
			}
			if (depth == t->nest_base) {
				r = 1;
				break;
			}
		} else {
			r = trail_bad(t, i - 1, c); /* \ or NUL */
			break;
		}
	}
out:
	t->state = s;
	t->depth = depth;
	*ip = i;
	return r;
}

/*
 * The scalar kernel: trail_skip_stack(), and trail_deep() past
 * TRAIL_MAX_DEPTH, in turn. Apart, so that the hot loop keeps its
 * registers: nothing it holds lives across a call.
 */
static int
trail_skip_scalar(struct trail *t, const unsigned char *p, size_t *ip,
    size_t end)
{
	int r;

	for (;;) {
		if (t->deep != 0) {
			r = trail_deep(t, p, ip, end);
			if (r < 0 || t->deep != 0)
				return r;
		}
		r = trail_skip_stack(t, p, ip, end);
		if (r != TRAIL_DEEPER)
			return r;
		trail_deep_begin(t);
	}
}

/*
 * The AVX2 kernels. A container is skipped 64 bytes at a time with the
 * method of simdjson (Langdale and Lemire, "Parsing gigabytes of JSON per
 * second", 2019): compare the block with " \ { } [ ] and NUL into one bit
 * per byte each, find the bytes escaped by a backslash with integer
 * arithmetic, take a prefix XOR of the unescaped quotes (one carry-less
 * multiply) for the bytes inside strings, and then only the brackets
 * outside strings are looked at one by one, in order, with the same stack
 * as trail_skip_scalar() (its first word kept in a register). It must do
 * exactly what that does: a block with anything else to say (a NUL, a
 * backslash outside a string: errors; nesting past 63 levels) is handed to
 * trail_skip_scalar(), which deals with it; a bracket that does not match is
 * reported here, in the same words. tests/test_trail_equiv.c compares the
 * two on every input it has and on thousands of random ones.
 *
 * Where the time goes (100 MB of CloudTrail, records of ~1.5 KB): about a
 * third in the block loop, the rest in the loop over brackets, and there in
 * the exits the branch predictor cannot guess (0 to 4 brackets per block);
 * flattening the brackets of several blocks first, or looking runs of them
 * up in a table, measured slower.
 */
#ifdef TRAIL_X86

#define TRAIL_AVX2 __attribute__((target("avx2,pclmul")))

/* The top bits of the 64 bytes a, b. */
TRAIL_AVX2 static inline uint64_t
trail_avx2_mask(__m256i a, __m256i b)
{
	uint64_t lo = (uint32_t)_mm256_movemask_epi8(a);
	uint64_t hi = (uint32_t)_mm256_movemask_epi8(b);

	return lo | hi << 32;
}

/* Bits of the bytes equal to c in the 64 bytes a, b. */
TRAIL_AVX2 static inline uint64_t
trail_avx2_eq(__m256i a, __m256i b, __m256i c)
{
	return trail_avx2_mask(_mm256_cmpeq_epi8(a, c),
	    _mm256_cmpeq_epi8(b, c));
}

/*
 * The bytes escaped by a backslash, given the backslashes bs; *carry is 1
 * when the first byte is escaped, and is set to whether the byte after the
 * block is. In a run of backslashes every other one escapes the next byte;
 * a subtraction finds where each run starts relative to even positions.
 */
static inline uint64_t
trail_escaped(uint64_t bs, uint64_t *carry)
{
	const uint64_t odd = UINT64_C(0xaaaaaaaaaaaaaaaa);
	uint64_t maybe;
	uint64_t code;
	uint64_t esc;

	if (bs == 0) {
		esc = *carry;
		*carry = 0;
		return esc;
	}
	maybe = bs & ~*carry;
	code = (((maybe << 1) | odd) - maybe) ^ odd;
	esc = code ^ (bs | *carry);
	*carry = (code & bs) >> 63;
	return esc;
}

/* Bit k of the result: the XOR of bits 0..k of x. */
TRAIL_AVX2 static inline uint64_t
trail_prefix_xor(uint64_t x)
{
	__m128i v = _mm_set_epi64x(0, (long long)x);

	return (uint64_t)_mm_cvtsi128_si64(
	    _mm_clmulepi64_si128(v, _mm_set1_epi8(-1), 0));
}

/* The state the scalar kernel would be in, from the AVX2 kernel's carries. */
static enum trail_state
trail_nest_state(uint64_t in_str, uint64_t carry)
{
	if (in_str == 0)
		return TRAIL_S_NEST;
	return carry != 0 ? TRAIL_S_NEST_ESC : TRAIL_S_NEST_STR;
}

TRAIL_AVX2 static int
trail_skip_avx2(struct trail *t, const unsigned char *p, size_t *ip, size_t end)
{
	const __m256i v_quote = _mm256_set1_epi8('"');
	const __m256i v_bs = _mm256_set1_epi8('\\');
	const __m256i v_open = _mm256_set1_epi8('{');
	const __m256i v_close = _mm256_set1_epi8('}');
	const __m256i v_x20 = _mm256_set1_epi8(0x20);
	const __m256i v_zero = _mm256_setzero_si256();
	/*
	 * Locals, not t's fields, on the way, so that the carries stay in
	 * registers: in_str is all ones inside a string, carry 1 when the next
	 * byte is escaped, and stack the first word of t->stack (the kernel
	 * runs at depths below 64 only; deeper goes to the scalar kernel).
	 */
	const unsigned base = t->nest_base;
	unsigned depth = t->depth;
	uint64_t stack = t->stack[0];
	uint64_t in_str = t->state != TRAIL_S_NEST ? ~UINT64_C(0) : 0;
	uint64_t carry = t->state == TRAIL_S_NEST_ESC;
	size_t i = *ip;
	size_t k;
	int r;

	while (end - i >= 64 && depth < 64) {
		__m256i a = _mm256_loadu_si256((const void *)(p + i));
		__m256i b = _mm256_loadu_si256((const void *)(p + i + 32));
		/* { and [ differ only in bit 0x20, as do } and ]. */
		__m256i a20 = _mm256_or_si256(a, v_x20);
		__m256i b20 = _mm256_or_si256(b, v_x20);
		__m256i nul = _mm256_or_si256(_mm256_cmpeq_epi8(a, v_zero),
		    _mm256_cmpeq_epi8(b, v_zero));
		uint64_t bs = trail_avx2_eq(a, b, v_bs);
		uint64_t qt = trail_avx2_eq(a, b, v_quote);
		uint64_t br = trail_avx2_mask(
		    _mm256_or_si256(_mm256_cmpeq_epi8(a20, v_open),
			_mm256_cmpeq_epi8(a20, v_close)),
		    _mm256_or_si256(_mm256_cmpeq_epi8(b20, v_open),
			_mm256_cmpeq_epi8(b20, v_close)));
		uint64_t next = carry;
		uint64_t str;

		if (!_mm256_testz_si256(nul, nul))
			goto scalar;
		/* Only the XOR and the shift chain one block to the next. */
		str = trail_prefix_xor(qt & ~trail_escaped(bs, &next)) ^ in_str;
		if ((bs & ~str) != 0)
			goto scalar;
		br &= ~str;
		while (br != 0) {
			unsigned c;
			unsigned open;
			unsigned obj;
			unsigned at;
			unsigned diff;

			k = i + (size_t)__builtin_ctzll(br);
			c = p[k];
			/* { [ have bit 0x02, } ] do not; { } have bit 0x20. */
			open = c >> 1 & 1;
			obj = c >> 5 & 1;
			/* Where an open goes, or what a close closes. */
			at = depth - 1 + open;
			diff = ((unsigned)(stack >> at) & 1) ^ obj;
			/*
			 * No branch the data decides but the rare one: an
			 * open sets its bit, a close leaves the stack be.
			 */
			br &= br - 1;
			stack ^= (uint64_t)(diff & open) << at;
			depth = at + open;
			if ((diff & ~open) == 0 && depth != base && at < 63)
				continue;
			t->stack[0] = stack;
			if (open == 0 && diff != 0) {
				t->depth = depth;
				return trail_bad(t, k, (int)c);
			}
			if (open == 0) {
				t->depth = depth;
				t->state = TRAIL_S_NEST;
				*ip = k + 1;
				return 1;
			}
			/* Nesting past 64: the rest of the block in scalar. */
			t->depth = at;
			t->state = TRAIL_S_NEST;
			r = trail_skip_scalar(t, p, &k, i + 64);
			if (r != 0) {
				*ip = k;
				return r;
			}
			goto resume;
		}
		in_str = (uint64_t)((int64_t)str >> 63);
		carry = next;
		i += 64;
		continue;
	scalar:
		/* Most likely an error: the scalar kernel words it. */
		t->depth = depth;
		t->stack[0] = stack;
		t->state = trail_nest_state(in_str, carry);
		r = trail_skip_scalar(t, p, &i, i + 64);
		if (r != 0) {
			*ip = i;
			return r;
		}
		k = i;
	resume:
		i = k;
		depth = t->depth;
		stack = t->stack[0];
		in_str = t->state != TRAIL_S_NEST ? ~UINT64_C(0) : 0;
		carry = t->state == TRAIL_S_NEST_ESC;
	}
	t->depth = depth;
	t->stack[0] = stack;
	t->state = trail_nest_state(in_str, carry);
	*ip = i;
	return trail_skip_scalar(t, p, ip, end);
}

#endif /* TRAIL_X86 */

static int
trail_skip(struct trail *t, const unsigned char *p, size_t *ip, size_t end)
{
#ifdef TRAIL_X86
	/* AVX-512 would save little here: see trail_skip_avx2(). */
	if (t->kernel == TRAIL_KERNEL_AVX2 || t->kernel == TRAIL_KERNEL_AVX512)
		return trail_skip_avx2(t, p, ip, end);
#endif
	return trail_skip_scalar(t, p, ip, end);
}

/*
 * The prefilter. json-c can read an eventSource of Secrets Manager's only
 * from text that has the name as the value of a key "eventSource", both
 * spelled out, JSON whitespace around the ':', or else spelled with \u
 * escapes (no other escape makes letters or '.'). So a record is a
 * candidate if its text has "\u" anywhere, or the name with
 * "eventSource" : before it (quotes ' allowed too, so that a record json-c
 * rejects still fails the file as it did) and a quote after it. Anything
 * else cannot match: a KMS call made by Secrets Manager, which names it in
 * userAgent and sourceIPAddress, never reaches json-c. This is a property
 * of the text alone, so every kernel computes the same.
 */
static bool
trail_quote(int c)
{
	return c == '"' || c == '\'';
}

static bool
trail_ws(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Whether the name at p[k] (it is there) is the value of eventSource. */
static bool
trail_source_at(const char *p, size_t k, size_t len)
{
	static const char key[] = "eventSource";
	const size_t klen = sizeof(key) - 1;
	size_t j = k;

	if (k + TRAIL_SOURCE_LEN >= len ||
	    !trail_quote(p[k + TRAIL_SOURCE_LEN]) || j == 0 ||
	    !trail_quote(p[--j]))
		return false;
	while (j > 0 && trail_ws(p[j - 1]))
		j--;
	if (j == 0 || p[--j] != ':')
		return false;
	while (j > 0 && trail_ws(p[j - 1]))
		j--;
	return j >= klen + 2 && trail_quote(p[j - 1]) &&
	    trail_quote(p[j - klen - 2]) &&
	    memcmp(p + j - klen - 1, key, klen) == 0;
}

/* The prefilter over p[from..len) (p[0..from) gives context only). */
static bool
trail_candidate_scalar(const char *p, size_t from, size_t len)
{
	const char *e = p + len;
	const char *q;

	for (q = p + from; q < e; q++) {
		q = memchr(q, '\\', (size_t)(e - q));
		if (q == NULL)
			break;
		if (q + 1 < e && q[1] == 'u')
			return true;
	}
	for (q = p + from; q < e; q++) {
		q = memmem(q, (size_t)(e - q), TRAIL_SOURCE, TRAIL_SOURCE_LEN);
		if (q == NULL)
			break;
		if (trail_source_at(p, (size_t)(q - p), len))
			return true;
	}
	return false;
}

#ifdef TRAIL_X86

/*
 * 32 positions at a time: a backslash, or the name's first byte with its
 * last one 27 bytes on (Mula's SIMD substring search); each hit is then
 * checked in full. Positions are looked at more than once near the end;
 * that does not change an "is there any" answer.
 */
TRAIL_AVX2 static uint32_t
trail_avx2_hits(const char *p, size_t k, bool name)
{
	const __m256i v_first = _mm256_set1_epi8(TRAIL_SOURCE[0]);
	const __m256i v_last =
	    _mm256_set1_epi8(TRAIL_SOURCE[TRAIL_SOURCE_LEN - 1]);
	const __m256i v_bs = _mm256_set1_epi8('\\');
	__m256i a = _mm256_loadu_si256((const void *)(p + k));
	__m256i m = _mm256_cmpeq_epi8(a, v_bs);

	if (name) {
		__m256i z = _mm256_loadu_si256(
		    (const void *)(p + k + TRAIL_SOURCE_LEN - 1));

		m = _mm256_or_si256(m,
		    _mm256_and_si256(_mm256_cmpeq_epi8(a, v_first),
			_mm256_cmpeq_epi8(z, v_last)));
	}
	return (uint32_t)_mm256_movemask_epi8(m);
}

static bool
trail_hit(const char *p, size_t k, size_t len)
{
	if (p[k] == '\\')
		return k + 1 < len && p[k + 1] == 'u';
	return memcmp(p + k, TRAIL_SOURCE, TRAIL_SOURCE_LEN) == 0 &&
	    trail_source_at(p, k, len);
}

TRAIL_AVX2 static bool
trail_candidate_avx2(const char *p, size_t len)
{
	const size_t span = 32 + TRAIL_SOURCE_LEN - 1;
	size_t k = 0;
	uint32_t m;

	if (len < span)
		return trail_candidate_scalar(p, 0, len);
	for (;;) {
		m = trail_avx2_hits(p, k, true);
		while (m != 0) {
			if (trail_hit(p, k + (size_t)__builtin_ctz(m), len))
				return true;
			m &= m - 1;
		}
		if (k == len - span)
			break;
		k = len - k - span >= 32 ? k + 32 : len - span;
	}
	/* The last 32 bytes, where the name can no longer start. */
	k = len - 32;
	m = trail_avx2_hits(p, k, false);
	while (m != 0) {
		if (trail_hit(p, k + (size_t)__builtin_ctz(m), len))
			return true;
		m &= m - 1;
	}
	return false;
}

/*
 * The same 64 positions at a time, for CPUs with AVX-512BW: the compares
 * give bit masks directly. The prefilter reads every byte of every record
 * once more, so this saves about a tenth of the scan outside inflate.
 */
#define TRAIL_AVX512 __attribute__((target("avx512f,avx512bw")))

TRAIL_AVX512 static uint64_t
trail_avx512_hits(const char *p, size_t k, bool name)
{
	const __m512i v_first = _mm512_set1_epi8(TRAIL_SOURCE[0]);
	const __m512i v_last =
	    _mm512_set1_epi8(TRAIL_SOURCE[TRAIL_SOURCE_LEN - 1]);
	const __m512i v_bs = _mm512_set1_epi8('\\');
	__m512i a = _mm512_loadu_si512((const void *)(p + k));
	uint64_t m = _mm512_cmpeq_epi8_mask(a, v_bs);

	if (name) {
		__m512i z = _mm512_loadu_si512(
		    (const void *)(p + k + TRAIL_SOURCE_LEN - 1));

		m |= _mm512_cmpeq_epi8_mask(a, v_first) &
		    _mm512_cmpeq_epi8_mask(z, v_last);
	}
	return m;
}

TRAIL_AVX512 static bool
trail_candidate_avx512(const char *p, size_t len)
{
	const size_t span = 64 + TRAIL_SOURCE_LEN - 1;
	size_t k = 0;
	uint64_t m;
	uint64_t m2;

	if (len < span)
		return trail_candidate_avx2(p, len);
	/* Two blocks a turn while they fit, one branch for both: 4 % less. */
	while (len - k >= span + 64) {
		m = trail_avx512_hits(p, k, true);
		m2 = trail_avx512_hits(p, k + 64, true);
		if ((m | m2) != 0)
			break;
		k += 128;
	}
	if (len - k < span)
		k = len - span;
	for (;;) {
		m = trail_avx512_hits(p, k, true);
		while (m != 0) {
			if (trail_hit(p, k + (size_t)__builtin_ctzll(m), len))
				return true;
			m &= m - 1;
		}
		if (k == len - span)
			break;
		k = len - k - span >= 64 ? k + 64 : len - span;
	}
	/* The last 64 bytes, where the name can no longer start. */
	k = len - 64;
	m = trail_avx512_hits(p, k, false);
	while (m != 0) {
		if (trail_hit(p, k + (size_t)__builtin_ctzll(m), len))
			return true;
		m &= m - 1;
	}
	return false;
}
#endif /* TRAIL_X86 */

static bool
trail_candidate(const struct trail *t, const char *p, size_t len)
{
#ifdef TRAIL_X86
	if (t->kernel == TRAIL_KERNEL_AVX512)
		return trail_candidate_avx512(p, len);
	if (t->kernel == TRAIL_KERNEL_AVX2)
		return trail_candidate_avx2(p, len);
#endif
	UNUSED(t);
	return trail_candidate_scalar(p, 0, len);
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
	if (!trail_candidate(t, p, len))
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
			r = trail_skip(t, p, &i, end);
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
			trail_gz_reset(&t->gz);
			t->gz_end = false;
		}
		before = len;
		n = TRAIL_WINDOW;
		r = trail_gz_run(&t->gz, &p, &len, t->win, &n, &t->gz_end,
		    &why);
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
	t->kernel = trail_kernel_best();
	t->win = malloc(TRAIL_WINDOW);
	if (t->win == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	r = trail_tok_renew(t);
	if (r < 0)
		goto fail;
	r = trail_gz_init(&t->gz);
	if (r < 0)
		goto fail;
	t->gz_live = true;
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
	if (t->gz_live)
		trail_gz_done(&t->gz);
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
			trail_gz_reset(&t->gz);
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
	return TRAIL_INFLATER;
}

enum trail_kernel
trail_kernel_best(void)
{
#ifdef TRAIL_X86
	/*
	 * pclmul: every CPU with AVX2 has it, but ask. The answers include
	 * the OS's support for the registers (libgcc reads XCR0); valgrind
	 * says no to AVX-512, so it runs the AVX2 kernel.
	 */
	if (!__builtin_cpu_supports("avx2") ||
	    !__builtin_cpu_supports("pclmul"))
		return TRAIL_KERNEL_SCALAR;
	if (__builtin_cpu_supports("avx512f") &&
	    __builtin_cpu_supports("avx512bw"))
		return TRAIL_KERNEL_AVX512;
	return TRAIL_KERNEL_AVX2;
#else
	return TRAIL_KERNEL_SCALAR;
#endif
}

int
trail_set_kernel(struct trail *t, enum trail_kernel k)
{
	switch (k) {
	case TRAIL_KERNEL_AUTO:
		t->kernel = trail_kernel_best();
		return 0;
	case TRAIL_KERNEL_SCALAR:
		t->kernel = k;
		return 0;
	case TRAIL_KERNEL_AVX2:
	case TRAIL_KERNEL_AVX512:
		/* Each needs what the one before it needs. */
		if (trail_kernel_best() < k)
			return -ENOTSUP;
		t->kernel = k;
		return 0;
	case TRAIL_KERNEL_COUNT:
		break;
	}
	return -EINVAL;
}

enum trail_kernel
trail_kernel(const struct trail *t)
{
	return t->kernel;
}

const char *
trail_kernel_str(enum trail_kernel k)
{
	switch (k) {
	case TRAIL_KERNEL_AUTO:
		return "auto";
	case TRAIL_KERNEL_SCALAR:
		return "scalar";
	case TRAIL_KERNEL_AVX2:
		return "avx2";
	case TRAIL_KERNEL_AVX512:
		return "avx512";
	case TRAIL_KERNEL_COUNT:
		break;
	}
	return "?";
}
