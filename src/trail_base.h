/*
 * trail_base.h: what the scanner (trail.c) and its kernels (trail_kernel.h)
 * share, private to trail*.c: the scanner's state, the byte classes, and
 * failing a scan or skipping a record the same way whoever finds it.
 * trail_base.c defines the functions; it is below both and includes
 * neither.
 */
#ifndef SMTRAIL_TRAIL_BASE_H
#define SMTRAIL_TRAIL_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "common.h"
#include "diag.h"
#include "bounds.h"
#include "trail.h"

#define TRAIL_SOURCE "secretsmanager.amazonaws.com"
#define TRAIL_SOURCE_LEN (sizeof(TRAIL_SOURCE) - 1)
/*
 * For the scalar kernel's hot loop: with the rare paths compiled into it,
 * GCC 12 -O2 gave it 1 to 5 % more instructions per byte (callgrind).
 */
#define TRAIL_NOINLINE __attribute__((noinline))
#define TRAIL_COLD __attribute__((cold, noinline))

struct json_tokener;
struct trail_gz;         /* trail_gz.h */
struct trail_kernel_ops; /* trail_kernel.h */

enum trail_mode {
	TRAIL_MODE_UNKNOWN, /* fewer than 2 bytes seen, the first 0x1f */
	TRAIL_MODE_PLAIN,
	TRAIL_MODE_GZIP,
};

/*
 * Where the JSON stage stands. Depth 1 is the top-level object, depth 2 the
 * Records array; the NEST states run below those (the kernels' skip()).
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
	bool gz_end;         /* a member ended; more input starts another */
	uint64_t in_pos;     /* input bytes handed to the inflater */
	struct trail_gz *gz; /* the backend state (trail_gz.h) */
	unsigned char *win;  /* inflate output, TRAIL_WINDOW bytes */

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
	/* Containers open past TRAIL_MAX_DEPTH, only counted (kernels). */
	uint64_t deep;
	/* One bit per open container: set for an object, clear for an array. */
	uint64_t stack[TRAIL_MAX_DEPTH / 64];
	struct buf carry; /* the record so far, when it straddles chunks */
	struct json_tokener *tok; /* reused for every candidate */
	bool tok_dirty; /* tok failed a parse: replace it before reuse */
	const struct trail_kernel_ops *kernel; /* trail_kernel.h */

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

/* The byte classes of all 256 bytes. */
extern const unsigned char trail_class[256];

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

/* Records the failure in t (the scanner is dead until reset); returns r. */
int trail_err(struct trail *t, int r, const char *fmt, ...) PRINTF_LIKE(3, 4);
/* Byte c at p[i] of the chunk scanned was not expected: -EBADMSG. */
int trail_bad(struct trail *t, size_t i, int c);
/* The record is skipped from here on (the first why holds). */
void trail_skip_begin(struct trail *t, enum trail_skip why);

#endif
