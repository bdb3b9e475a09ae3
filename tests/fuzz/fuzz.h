/*
 * fuzz.h: the contract between a fuzz target and what drives it.
 *
 * A target, tests/fuzz/fuzz_<name>.c, defines LLVMFuzzerTestOneInput():
 * it takes any bytes (size may be 0; data is exactly size bytes, no NUL
 * after them) and must not crash, hang, leak, print to stdout or write
 * files. What it sets up once (a rule set, fixed records) it keeps in
 * statics and frees atexit(); everything made for one input is freed
 * before it returns. It returns 0. A broken promise of the code under
 * test that is not a crash (two kernels disagree, a refused load that
 * still installed something) is reported on stderr and abort()ed, so that
 * libFuzzer and the driver both see it as a crash.
 *
 * Two drivers: libFuzzer (tests/fuzz/build, `make fuzz`), and driver.c
 * for `make check`, which replays tests/fuzz/corpus/<name>/ and a fixed
 * set of mutations of it as a TAP test. See tests/fuzz/README.
 */
#ifndef SMTRAIL_FUZZ_H
#define SMTRAIL_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * FNV-1a over the input: where a target needs a choice (gzip or not, a
 * kernel, a split point), it takes it from here, so that the choice is
 * part of the input and a crash reproduces from the input alone.
 */
static inline uint32_t
fuzz_hash(const uint8_t *data, size_t size)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < size; i++) {
		h ^= data[i];
		h *= 16777619u;
	}
	return h ^ (uint32_t)size;
}

#endif
