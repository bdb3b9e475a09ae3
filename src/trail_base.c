/*
 * trail_base.c: see trail_base.h. The byte class table and the ways a scan
 * fails or skips a record, shared by the scanner and every kernel so that
 * they say it in the same words.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "trail_base.h"

const unsigned char trail_class[256] = {
    [0] = TRAIL_C_STR | TRAIL_C_NEST,
    ['"'] = TRAIL_C_STR | TRAIL_C_NEST,
    ['\\'] = TRAIL_C_STR | TRAIL_C_NEST,
    ['{'] = TRAIL_C_NEST,
    ['}'] = TRAIL_C_NEST,
    ['['] = TRAIL_C_NEST,
    [']'] = TRAIL_C_NEST,
    ['\t'] = TRAIL_C_WS,
    ['\n'] = TRAIL_C_WS,
    ['\r'] = TRAIL_C_WS,
    [' '] = TRAIL_C_WS,
    ['+'] = TRAIL_C_NUM,
    ['-'] = TRAIL_C_NUM,
    ['.'] = TRAIL_C_NUM,
    ['0'] = TRAIL_C_NUM,
    ['1'] = TRAIL_C_NUM,
    ['2'] = TRAIL_C_NUM,
    ['3'] = TRAIL_C_NUM,
    ['4'] = TRAIL_C_NUM,
    ['5'] = TRAIL_C_NUM,
    ['6'] = TRAIL_C_NUM,
    ['7'] = TRAIL_C_NUM,
    ['8'] = TRAIL_C_NUM,
    ['9'] = TRAIL_C_NUM,
    ['E'] = TRAIL_C_NUM,
    ['e'] = TRAIL_C_NUM,
};

int
trail_err(struct trail *t, int r, const char *fmt, ...)
{
	char msg[sizeof(t->diag.msg)];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	t->err = r;
	return diag_set(&t->diag, r, NULL, 0, 0, "%s", msg);
}

int
trail_bad(struct trail *t, size_t i, int c)
{
	uint64_t off = t->st.bytes_json + i;

	if (c == 0)
		return trail_err(t, -EBADMSG, "NUL byte at byte %" PRIu64, off);
	if (c >= 0x20 && c < 0x7f)
		return trail_err(t, -EBADMSG,
		    "malformed JSON at byte %" PRIu64 ": unexpected '%c'", off,
		    c);
	return trail_err(t, -EBADMSG,
	    "malformed JSON at byte %" PRIu64 ": unexpected byte 0x%02x", off,
	    (unsigned)c);
}

void
trail_skip_begin(struct trail *t, enum trail_skip why)
{
	if (t->skip != TRAIL_SKIP_NONE)
		return;
	t->skip = why;
	buf_reset(&t->carry);
}
