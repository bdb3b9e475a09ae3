/*
 * buf.h: a growable byte buffer with a ceiling fixed at init.
 * Growth past the ceiling fails with -E2BIG and leaves the buffer as it was;
 * allocation failure is -ENOMEM. The data is always NUL-terminated (the NUL
 * is not counted in len), so text can be used as a C string. _reset keeps
 * the memory for reuse; _done frees it.
 */
#ifndef SMTRAIL_BUF_H
#define SMTRAIL_BUF_H

#include <stddef.h>

#include "common.h"

struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

void buf_init(struct buf *b, size_t max);
void buf_done(struct buf *b);
void buf_reset(struct buf *b);
/* Cuts b back to its first len bytes (what a failed append added). */
void buf_truncate(struct buf *b, size_t len);
int buf_reserve(struct buf *b, size_t extra) MUST_CHECK;
int buf_append(struct buf *b, const void *p, size_t len) MUST_CHECK;
int buf_puts(struct buf *b, const char *s) MUST_CHECK;
int buf_putc(struct buf *b, char c) MUST_CHECK;
int buf_printf(struct buf *b, const char *fmt, ...)
    PRINTF_LIKE(2, 3) MUST_CHECK;
/* Appends s as a JSON string literal, quotes included. */
int buf_json_str(struct buf *b, const char *s, size_t len) MUST_CHECK;
/* Hands the data to the caller (free() it); the buffer is left empty. */
char *buf_steal(struct buf *b);

#endif
