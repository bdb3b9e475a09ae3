/*
 * quote.h: untrusted bytes made fit to quote in a diag: printable
 * ASCII is kept, the rest (backslash and single quote included) becomes
 * \xNN, and what is cut is marked "...". A leaf: it depends on nothing of
 * ours, so any stage of the pipeline may use it. Never fails; never
 * prints.
 */
#ifndef SMTRAIL_QUOTE_H
#define SMTRAIL_QUOTE_H

#include <stddef.h>

/* A buffer that holds any quote_bytes() result for max source bytes. */
#define QUOTE_SIZE(max) (4 * (max) + 4)

/* s (len bytes) into dst (size bytes), NUL-terminated, cut after max
 * source bytes or when dst is full. Returns dst. */
const char *quote_bytes(char *dst, size_t size, const char *s, size_t len,
    size_t max);

#endif
