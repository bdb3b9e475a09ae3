/*
 * text.c: see text.h. Each input character becomes one output unit
 * (text_unit()): a valid UTF-8 sequence as is, an invalid byte as U+FFFD,
 * a mrkdwn character as its entity, a control character as a space. A
 * cut is decided on whole units, so no sequence or entity is ever split.
 */
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "text.h"

/* The length of the valid UTF-8 sequence at s (2-4), or 0 if invalid. */
static size_t
text_utf8_len(const unsigned char *s, size_t len)
{
	unsigned c = s[0];
	uint32_t cp;
	size_t n;
	size_t i;

	if (c < 0xc2 || c > 0xf4)
		return 0;
	n = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	cp = c & (n == 2 ? 0x1fu : n == 3 ? 0x0fu : 0x07u);
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if (n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
		return 0;
	if (n == 4 && (cp < 0x10000 || cp > 0x10ffff))
		return 0;
	return n;
}

/* One character of output: what it becomes, and how much input it took. */
struct text_unit {
	char b[8];
	size_t len;
};

static size_t
text_unit(const char *s, size_t len, unsigned flags, struct text_unit *u)
{
	unsigned char c = (unsigned char)s[0];
	const char *ent = NULL;
	size_t n;

	if (c >= 0x80) {
		n = text_utf8_len((const unsigned char *)s, len);
		if (n == 0) {
			memcpy(u->b, "\xef\xbf\xbd", 3); /* U+FFFD */
			u->len = 3;
			return 1;
		}
		memcpy(u->b, s, n);
		u->len = n;
		return n;
	}
	if ((flags & TEXT_MRKDWN) != 0)
		ent = c == '&' ? "&amp;"
		    : c == '<' ? "&lt;"
		    : c == '>' ? "&gt;"
			       : NULL;
	if (ent != NULL) {
		u->len = strlen(ent);
		memcpy(u->b, ent, u->len);
		return 1;
	}
	if (c < 0x20 || c == 0x7f) {
		if ((c != '\n' && c != '\t') || (flags & TEXT_ONELINE) != 0)
			c = ' ';
	}
	u->b[0] = (char)c;
	u->len = 1;
	return 1;
}

static int
text_unit_put(struct buf *b, const struct text_unit *u, bool json)
{
	if (!json || u->len > 1)
		return buf_append(b, u->b, u->len);
	switch (u->b[0]) {
	case '"':
		return buf_append(b, "\\\"", 2);
	case '\\':
		return buf_append(b, "\\\\", 2);
	case '\n':
		return buf_append(b, "\\n", 2);
	case '\t':
		return buf_append(b, "\\t", 2);
	default:
		return buf_append(b, u->b, 1);
	}
}

/* Emits the text of s into b within avail bytes of text; 1 if cut. */
static int
text_emit(struct buf *b, const char *s, size_t len, size_t avail,
    unsigned flags, bool json)
{
	static const char ell[] = "\xe2\x80\xa6"; /* U+2026 */
	struct text_unit u;
	size_t need = 0;
	size_t used = 0;
	size_t i;
	size_t n;
	int r = 0;

	for (i = 0; i < len && need <= avail; i += n) {
		n = text_unit(s + i, len - i, flags, &u);
		need += u.len;
	}
	if (need > avail) {
		if (avail < sizeof(ell) - 1)
			return 1;
		avail -= sizeof(ell) - 1;
	}
	for (i = 0; r == 0 && i < len; i += n) {
		n = text_unit(s + i, len - i, flags, &u);
		if (used + u.len > avail)
			break;
		used += u.len;
		r = text_unit_put(b, &u, json);
	}
	if (r < 0)
		return r;
	if (need <= avail)
		return 0;
	r = buf_append(b, ell, sizeof(ell) - 1);
	return r < 0 ? r : 1;
}

int
text_append(struct buf *t, const char *s, size_t len, size_t max,
    unsigned flags)
{
	size_t start = t->len;
	int r;

	if (t->len >= max)
		return len == 0 ? 0 : 1;
	r = text_emit(t, s, len, max - t->len, flags, false);
	if (r < 0) {
		buf_truncate(t, start);
	}
	return r;
}

int
text_json(struct buf *b, const char *s, size_t len, size_t max, unsigned flags)
{
	size_t start = b->len;
	int r;

	r = buf_putc(b, '"');
	if (r == 0)
		r = text_emit(b, s, len, max, flags, true);
	if (r >= 0)
		r = buf_putc(b, '"');
	if (r < 0) {
		buf_truncate(b, start);
		return r;
	}
	return 0;
}

bool
text_clean(const char *s, size_t len)
{
	size_t i = 0;
	size_t n;

	while (i < len) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		n = text_utf8_len((const unsigned char *)s + i, len - i);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

int
text_url_encode(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t start = b->len;
	int r = 0;

	for (; r == 0 && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[3] = {'%', hex[c >> 4], hex[c & 15]};

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~')
			r = buf_putc(b, (char)c);
		else
			r = buf_append(b, esc, sizeof(esc));
	}
	if (r < 0) {
		buf_truncate(b, start);
	}
	return r;
}
