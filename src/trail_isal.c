/*
 * trail_isal.c: the ISA-L inflater backend (trail_gz.h), compiled when
 * configure finds libisal (--with-isal). About twice as fast as zlib on
 * CloudTrail files (bench/RESULTS.md).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>

#include "trail_gz.h"

/*
 * The gzip member header (RFC 1952) is parsed here, byte by byte, and ISA-L
 * only inflates the body and checks the trailer (ISAL_GZIP_NO_HDR_VER). Its
 * own header reader (2.30) forgets the flags when a header is split between
 * calls inside the file name, so a comment or header CRC after it is then
 * taken for deflate data; it also ignores reserved flags. This one fails the
 * same input with the same words as zlib.
 */
#define TRAIL_ISAL_FHCRC 0x02
#define TRAIL_ISAL_FEXTRA 0x04
#define TRAIL_ISAL_FNAME 0x08
#define TRAIL_ISAL_FCOMMENT 0x10

enum trail_isal_part {
	TRAIL_ISAL_FIXED,   /* ID1 ID2 CM FLG MTIME(4) XFL OS */
	TRAIL_ISAL_XLEN,    /* FEXTRA: its length, 2 bytes */
	TRAIL_ISAL_EXTRA,   /* FEXTRA: its bytes */
	TRAIL_ISAL_NAME,    /* FNAME: up to a NUL */
	TRAIL_ISAL_COMMENT, /* FCOMMENT: up to a NUL */
	TRAIL_ISAL_HCRC,    /* FHCRC: 2 bytes */
	TRAIL_ISAL_BODY,    /* the header is done: deflate data, trailer */
};

struct trail_gz {
	struct inflate_state s;
	enum trail_isal_part part;
	unsigned pos;   /* bytes of the part read */
	unsigned flags; /* FLG */
	unsigned val;   /* XLEN, or the header CRC read */
	uint32_t crc;   /* of the header bytes before HCRC */
};

static void
trail_isal_reset(struct trail_gz *z)
{
	isal_inflate_reset(&z->s);
	z->s.crc_flag = ISAL_GZIP_NO_HDR_VER;
	z->part = TRAIL_ISAL_FIXED;
	z->pos = 0;
	z->flags = 0;
	z->val = 0;
	z->crc = 0;
}

static int
trail_isal_new(struct trail_gz **ret)
{
	struct trail_gz *z;

	z = calloc(1, sizeof(*z));
	if (z == NULL)
		return -ENOMEM;
	isal_inflate_init(&z->s);
	trail_isal_reset(z);
	*ret = z;
	return 0;
}

static void
trail_isal_free(struct trail_gz *z)
{
	free(z);
}

/* The optional part after part, as FLG says. */
static enum trail_isal_part
trail_isal_next(const struct trail_gz *z, enum trail_isal_part part)
{
	if (part < TRAIL_ISAL_XLEN && (z->flags & TRAIL_ISAL_FEXTRA) != 0)
		return TRAIL_ISAL_XLEN;
	if (part < TRAIL_ISAL_NAME && (z->flags & TRAIL_ISAL_FNAME) != 0)
		return TRAIL_ISAL_NAME;
	if (part < TRAIL_ISAL_COMMENT && (z->flags & TRAIL_ISAL_FCOMMENT) != 0)
		return TRAIL_ISAL_COMMENT;
	if (part < TRAIL_ISAL_HCRC && (z->flags & TRAIL_ISAL_FHCRC) != 0)
		return TRAIL_ISAL_HCRC;
	return TRAIL_ISAL_BODY;
}

/* Moves to the part after the current one, which is complete. */
static void
trail_isal_advance(struct trail_gz *z)
{
	z->part = trail_isal_next(z, z->part);
	z->pos = 0;
}

/* One step of the header; *ip advances past what it takes. */
static const char *
trail_isal_step(struct trail_gz *z, const unsigned char *p, size_t n,
    size_t *ip)
{
	const unsigned char *nul;
	size_t i = *ip;
	size_t k;
	int c = p[i];

	switch (z->part) {
	case TRAIL_ISAL_FIXED:
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
			trail_isal_advance(z);
		break;
	case TRAIL_ISAL_XLEN:
		z->val |= (unsigned)c << (8 * z->pos);
		*ip = i + 1;
		if (++z->pos < 2)
			break;
		z->part = TRAIL_ISAL_EXTRA;
		z->pos = 0;
		if (z->val == 0)
			trail_isal_advance(z);
		break;
	case TRAIL_ISAL_EXTRA:
		k = z->val - z->pos;
		k = k < n - i ? k : n - i;
		*ip = i + k;
		z->pos += (unsigned)k;
		if (z->pos == z->val)
			trail_isal_advance(z);
		break;
	case TRAIL_ISAL_NAME:
	case TRAIL_ISAL_COMMENT:
		nul = memchr(p + i, 0, n - i);
		*ip = nul != NULL ? (size_t)(nul - p) + 1 : n;
		if (nul != NULL)
			trail_isal_advance(z);
		break;
	case TRAIL_ISAL_HCRC:
		z->val = z->pos == 0 ? (unsigned)c : z->val | (unsigned)c << 8;
		*ip = i + 1;
		if (++z->pos < 2)
			break;
		if (z->val != (z->crc & 0xffff))
			return "header crc mismatch";
		trail_isal_advance(z);
		break;
	case TRAIL_ISAL_BODY:
		break;
	}
	return NULL;
}

/* Reads header bytes from *in, up to its end or the input's. */
static const char *
trail_isal_header(struct trail_gz *z, const unsigned char **in, size_t *inlen)
{
	const char *why = NULL;
	size_t i = 0;
	size_t from;

	while (i < *inlen && z->part != TRAIL_ISAL_BODY && why == NULL) {
		from = i;
		if (z->part < TRAIL_ISAL_HCRC) {
			why = trail_isal_step(z, *in, *inlen, &i);
			z->crc = crc32_gzip_refl(z->crc, *in + from, i - from);
		} else {
			why = trail_isal_step(z, *in, *inlen, &i);
		}
	}
	*in += i; /* on error, at the bad byte: that is the offset reported */
	*inlen -= i;
	return why;
}

static const char *
trail_isal_why(int ret)
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
trail_isal_run(struct trail_gz *z, const unsigned char **in, size_t *inlen,
    unsigned char *out, size_t *outlen, bool *ret_end, const char **ret_why)
{
	uint32_t avail;
	int ret;

	*ret_end = false;
	if (z->part != TRAIL_ISAL_BODY) {
		*ret_why = trail_isal_header(z, in, inlen);
		if (*ret_why != NULL || z->part != TRAIL_ISAL_BODY) {
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
		*ret_why = trail_isal_why(ret);
		return -EBADMSG;
	}
	*ret_end = z->s.block_state == ISAL_BLOCK_FINISH;
	return 0;
}

const struct trail_gz_kind trail_gz = {
    .name = "isa-l",
    .new = trail_isal_new,
    .free = trail_isal_free,
    .reset = trail_isal_reset,
    .run = trail_isal_run,
};
