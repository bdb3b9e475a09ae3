/*
 * backoff.h: the one retry delay everyone uses: exponential from base_ms,
 * capped at cap_ms, with full jitter (uniform in [d/2, d]) so that many
 * instances retrying the same outage do not stampede. attempt counts from 0.
 */
#ifndef SMTRAIL_BACKOFF_H
#define SMTRAIL_BACKOFF_H

#include <stdint.h>

uint64_t backoff_next_ms(unsigned attempt, uint64_t base_ms, uint64_t cap_ms);

#endif
