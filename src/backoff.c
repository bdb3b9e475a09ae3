/*
 * backoff.c: see backoff.h.
 */
#include <stdlib.h>

#include "backoff.h"

uint64_t
backoff_next_ms(unsigned attempt, uint64_t base_ms, uint64_t cap_ms)
{
	uint64_t d = base_ms;
	uint64_t half;

	while (attempt-- > 0 && d < cap_ms)
		d *= 2;
	if (d > cap_ms)
		d = cap_ms;
	half = d / 2;
	if (d - half == 0)
		return d;
	/* arc4random_uniform: no seeding, no modulo bias (glibc >= 2.36). */
	return half + arc4random_uniform((uint32_t)(d - half + 1));
}
