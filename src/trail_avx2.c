/*
 * trail_avx2.c: the AVX2 kernel (trail_kernel.h), for x86-64 CPUs with
 * AVX2 and PCLMUL, asked at run time.
 *
 * A container is skipped 64 bytes at a time with the method of simdjson
 * (Langdale and Lemire, "Parsing gigabytes of JSON per second", 2019):
 * compare the block with " \ { } [ ] and NUL into one bit
 * per byte each, find the bytes escaped by a backslash with integer
 * arithmetic, take a prefix XOR of the unescaped quotes (one carry-less
 * multiply) for the bytes inside strings, and then only the brackets
 * outside strings are looked at one by one, in order, with the same stack
 * as trail_scalar_skip() (its first word kept in a register). It must do
 * exactly what that does: a block with anything else to say (a NUL, a
 * backslash outside a string: errors; nesting past 63 levels) is handed to
 * trail_scalar_skip(), which deals with it; a bracket that does not match is
 * reported here, in the same words. tests/test_trail_equiv.c compares the
 * two on every input it has and on thousands of random ones.
 *
 * Where the time goes (100 MB of CloudTrail, records of ~1.5 KB): about a
 * third in the block loop, the rest in the loop over brackets, and there in
 * the exits the branch predictor cannot guess (0 to 4 brackets per block);
 * flattening the brackets of several blocks first, or looking runs of them
 * up in a table, measured slower.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdbool.h>
#include <stdint.h>

#include "trail_kernel.h"

#ifdef TRAIL_X86

#include <immintrin.h>

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
trail_avx2_escaped(uint64_t bs, uint64_t *carry)
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
trail_avx2_prefix_xor(uint64_t x)
{
	__m128i v = _mm_set_epi64x(0, (long long)x);

	return (uint64_t)_mm_cvtsi128_si64(
	    _mm_clmulepi64_si128(v, _mm_set1_epi8(-1), 0));
}

/* The state the scalar kernel would be in, from the AVX2 kernel's carries. */
static enum trail_state
trail_avx2_nest_state(uint64_t in_str, uint64_t carry)
{
	if (in_str == 0)
		return TRAIL_S_NEST;
	return carry != 0 ? TRAIL_S_NEST_ESC : TRAIL_S_NEST_STR;
}

TRAIL_AVX2 int
trail_avx2_skip(struct trail *t, const unsigned char *p, size_t *ip, size_t end)
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
		str =
		    trail_avx2_prefix_xor(qt & ~trail_avx2_escaped(bs, &next)) ^
		    in_str;
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
			r = trail_scalar_skip(t, p, &k, i + 64);
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
		t->state = trail_avx2_nest_state(in_str, carry);
		r = trail_scalar_skip(t, p, &i, i + 64);
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
	t->state = trail_avx2_nest_state(in_str, carry);
	*ip = i;
	return trail_scalar_skip(t, p, ip, end);
}

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

TRAIL_AVX2 bool
trail_avx2_candidate(const char *p, size_t len)
{
	const size_t span = 32 + TRAIL_SOURCE_LEN - 1;
	size_t k = 0;
	uint32_t m;

	if (len < span)
		return trail_scalar_candidate(p, len);
	for (;;) {
		m = trail_avx2_hits(p, k, true);
		while (m != 0) {
			if (trail_scalar_hit(p, k + (size_t)__builtin_ctz(m),
				len))
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
		if (trail_scalar_hit(p, k + (size_t)__builtin_ctz(m), len))
			return true;
		m &= m - 1;
	}
	return false;
}

static bool
trail_avx2_supported(void)
{
	/*
	 * pclmul: every CPU with AVX2 has it, but ask. The answers include
	 * the OS's support for the registers (libgcc reads XCR0).
	 */
	return __builtin_cpu_supports("avx2") &&
	    __builtin_cpu_supports("pclmul");
}

const struct trail_kernel_ops trail_avx2_kernel = {
    .id = TRAIL_KERNEL_AVX2,
    .name = "avx2",
    .supported = trail_avx2_supported,
    .skip = trail_avx2_skip,
    .candidate = trail_avx2_candidate,
};

#else /* not x86-64: a kernel never picked */

static bool
trail_avx2_supported(void)
{
	return false;
}

const struct trail_kernel_ops trail_avx2_kernel = {
    .id = TRAIL_KERNEL_AVX2,
    .name = "avx2",
    .supported = trail_avx2_supported,
};

#endif /* TRAIL_X86 */
