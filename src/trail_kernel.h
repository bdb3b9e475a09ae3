/*
 * trail_kernel.h: the scanner's kernels (private to trail*.c).
 *
 * A kernel does the two things the scanner does to every byte of a record:
 * skip the bytes inside a container below the structural levels (strings,
 * escapes, nested brackets) and prefilter a record's text. Each is one
 * const struct trail_kernel_ops in its own file (trail_scalar.c,
 * trail_avx2.c, trail_avx512.c); trail.c lists them in one table, by enum
 * trail_kernel, and picks one at run time. Every kernel gives the same
 * results, errors and diags, byte for byte (tests/test_trail_equiv.c): the
 * SIMD ones hand anything unusual to the scalar kernel's functions, below.
 *
 * The SIMD kernels compile on any target: their functions carry target
 * attributes (no per-file flags), and away from x86-64 each file is only a
 * kernel that supported() always refuses.
 */
#ifndef SMTRAIL_TRAIL_KERNEL_H
#define SMTRAIL_TRAIL_KERNEL_H

#include <stdbool.h>
#include <stddef.h>

#include "trail.h"
#include "trail_base.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TRAIL_X86 1
#endif

struct trail_kernel_ops {
	enum trail_kernel id;
	const char *name; /* trail_kernel_str() */
	/* This CPU and OS can run it; never true without the one before's. */
	bool (*supported)(void);
	/*
	 * Runs through a container below the structural levels from p[*ip]
	 * to p[end]: 1 when it closed (*ip just past its bracket), 0 when the
	 * bytes ran out, or an error (trail_bad()). Only " \ { } [ ] and NUL
	 * stop the skipping; in a string only " \ and NUL do, and the byte
	 * after a backslash is taken whatever it is. Past TRAIL_MAX_DEPTH the
	 * brackets are only counted, and a record there is skipped.
	 */
	int (*skip)(struct trail *t, const unsigned char *p, size_t *ip,
	    size_t end);
	/* The record p[0..len) passes the prefilter (trail_scalar.c). */
	bool (*candidate)(const char *p, size_t len);
};

extern const struct trail_kernel_ops trail_scalar_kernel;
extern const struct trail_kernel_ops trail_avx2_kernel;
extern const struct trail_kernel_ops trail_avx512_kernel;

/* The scalar kernel's skip() and candidate(), for the others to fall to. */
int trail_scalar_skip(struct trail *t, const unsigned char *p, size_t *ip,
    size_t end);
bool trail_scalar_candidate(const char *p, size_t len);
/*
 * Whether a SIMD prefilter's hit at p[k] is one: a "\u", or the name
 * (whole at p[k]) as the value of eventSource.
 */
bool trail_scalar_hit(const char *p, size_t k, size_t len);

/* The AVX2 kernel's, for trail_avx512.c (TRAIL_X86 only). */
int trail_avx2_skip(struct trail *t, const unsigned char *p, size_t *ip,
    size_t end);
bool trail_avx2_candidate(const char *p, size_t len);

#endif
