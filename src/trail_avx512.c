/*
 * trail_avx512.c: the AVX2 kernel with an AVX-512BW prefilter
 * (trail_kernel.h), for x86-64 CPUs with AVX2, PCLMUL, AVX-512F and
 * AVX-512BW, asked at run time. It skips as trail_avx2.c does (AVX-512
 * would save little there) and prefilters 64 positions at a time where
 * trail_avx2.c does 32: the compares give bit masks directly. The
 * prefilter reads every byte of every record once more, so this saves
 * about a tenth of the scan outside inflate.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdbool.h>
#include <stdint.h>

#include "trail_kernel.h"

#ifdef TRAIL_X86

#include <immintrin.h>

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
trail_avx512_candidate(const char *p, size_t len)
{
	const size_t span = 64 + TRAIL_SOURCE_LEN - 1;
	size_t k = 0;
	uint64_t m;
	uint64_t m2;

	if (len < span)
		return trail_avx2_candidate(p, len);
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
			if (trail_scalar_hit(p, k + (size_t)__builtin_ctzll(m),
				len))
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
		if (trail_scalar_hit(p, k + (size_t)__builtin_ctzll(m), len))
			return true;
		m &= m - 1;
	}
	return false;
}

static bool
trail_avx512_supported(void)
{
	/* Valgrind says no to AVX-512, so there it runs the AVX2 kernel. */
	return __builtin_cpu_supports("avx2") &&
	    __builtin_cpu_supports("pclmul") &&
	    __builtin_cpu_supports("avx512f") &&
	    __builtin_cpu_supports("avx512bw");
}

const struct trail_kernel_ops trail_avx512_kernel = {
    .id = TRAIL_KERNEL_AVX512,
    .name = "avx512",
    .supported = trail_avx512_supported,
    .skip = trail_avx2_skip,
    .candidate = trail_avx512_candidate,
};

#else /* not x86-64: a kernel never picked */

static bool
trail_avx512_supported(void)
{
	return false;
}

const struct trail_kernel_ops trail_avx512_kernel = {
    .id = TRAIL_KERNEL_AVX512,
    .name = "avx512",
    .supported = trail_avx512_supported,
};

#endif /* TRAIL_X86 */
