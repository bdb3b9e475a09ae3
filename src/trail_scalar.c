/*
 * trail_scalar.c: the portable kernel (trail_kernel.h), byte by byte
 * through a class table, on any CPU. It is also the reference: the SIMD
 * kernels hand it every block with something unusual in it (a NUL, a
 * backslash outside a string, deep nesting), so that they fail and skip
 * exactly where it does, and their prefilters check each hit with
 * trail_scalar_hit().
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "trail_kernel.h"

/*
 * Past TRAIL_MAX_DEPTH, from p[*ip] to p[end]: brackets are counted in
 * t->deep, their kinds no longer matched (the stack ends there); strings,
 * escapes, NUL bytes and stray backslashes as in trail_scalar_skip(), with
 * the same errors. Returns 0 when the count is back to 0 (the container at
 * TRAIL_MAX_DEPTH is still open: the caller goes on) or the bytes ran out,
 * or an error. Cold: real events nest a dozen levels, not 500.
 */
TRAIL_COLD static int
trail_scalar_deep(struct trail *t, const unsigned char *p, size_t *ip,
    size_t end)
{
	enum trail_state s = t->state;
	uint64_t deep = t->deep;
	size_t i = *ip;
	int c;
	int r = 0;

	while (i < end && deep > 0) {
		if (s == TRAIL_S_NEST_ESC) {
			if (p[i] == 0) {
				r = trail_bad(t, i, 0);
				break;
			}
			i++;
			s = TRAIL_S_NEST_STR;
			continue;
		}
		i = trail_run(p, i, end,
		    s == TRAIL_S_NEST_STR ? TRAIL_C_STR : TRAIL_C_NEST);
		if (i == end)
			break;
		c = p[i++];
		if (c == '"') {
			s = s == TRAIL_S_NEST ? TRAIL_S_NEST_STR : TRAIL_S_NEST;
		} else if (c == '\\' && s == TRAIL_S_NEST_STR) {
			s = TRAIL_S_NEST_ESC;
		} else if (s == TRAIL_S_NEST && (c == '{' || c == '[')) {
			deep++;
		} else if (s == TRAIL_S_NEST && (c == '}' || c == ']')) {
			deep--;
		} else {
			r = trail_bad(t, i - 1, c); /* NUL, or \ outside */
			break;
		}
	}
	t->state = s;
	t->deep = deep;
	*ip = i;
	return r;
}

/* A bracket opened level TRAIL_MAX_DEPTH + 1; a record there is skipped. */
static void
trail_scalar_deep_begin(struct trail *t)
{
	t->deep = 1;
	if (t->in_record)
		trail_skip_begin(t, TRAIL_SKIP_DEPTH);
}

/* trail_scalar_stack() is at TRAIL_MAX_DEPTH and a bracket opens one more. */
#define TRAIL_SCALAR_DEEPER 2

/*
 * The hot loop: runs through a container below the structural levels from
 * p[*ip] to p[end]. Returns 1 when the container closed (*ip just past its
 * bracket), 0 when the bytes ran out, TRAIL_SCALAR_DEEPER (*ip just past the
 * bracket), or an error. Only " \ { } [ ] and NUL stop the skipping; in a
 * string only " \ and NUL do, and the byte after a backslash is taken
 * whatever it is (so \" and \\ and \u007d are inert).
 */
TRAIL_NOINLINE static int
trail_scalar_stack(struct trail *t, const unsigned char *p, size_t *ip,
    size_t end)
{
	enum trail_state s = t->state;
	unsigned depth = t->depth;
	uint64_t bit;
	size_t i = *ip;
	int c;
	int r = 0;

	while (i < end) {
		/* A string, to its closing quote. */
		while (s != TRAIL_S_NEST) {
			if (s == TRAIL_S_NEST_ESC) {
				if (p[i] == 0) {
					r = trail_bad(t, i, 0);
					goto out;
				}
				i++;
				s = TRAIL_S_NEST_STR;
			}
			i = trail_run(p, i, end, TRAIL_C_STR);
			if (i == end)
				goto out;
			c = p[i++];
			if (c == '"') {
				s = TRAIL_S_NEST;
			} else if (c == '\\') {
				s = TRAIL_S_NEST_ESC;
				if (i == end)
					goto out;
			} else {
				r = trail_bad(t, i - 1, c); /* NUL */
				goto out;
			}
		}
		/* Between strings. */
		i = trail_run(p, i, end, TRAIL_C_NEST);
		if (i == end)
			break;
		c = p[i++];
		if (c == '"') {
			s = TRAIL_S_NEST_STR;
		} else if (c == '{' || c == '[') {
			if (depth == TRAIL_MAX_DEPTH) {
				r = TRAIL_SCALAR_DEEPER;
				break;
			}
			bit = UINT64_C(1) << (depth % 64);
			if (c == '{')
				t->stack[depth / 64] |= bit;
			else
				t->stack[depth / 64] &= ~bit;
			depth++;
		} else if (c == '}' || c == ']') {
			depth--;
			bit = t->stack[depth / 64] >> (depth % 64) & 1;
			if (bit != (c == '}')) {
				r = trail_bad(t, i - 1, c);
				break;
			}
			if (depth == t->nest_base) {
				r = 1;
				break;
			}
		} else {
			r = trail_bad(t, i - 1, c); /* \ or NUL */
			break;
		}
	}
out:
	t->state = s;
	t->depth = depth;
	*ip = i;
	return r;
}

/*
 * The scalar kernel: trail_scalar_stack(), and trail_scalar_deep() past
 * TRAIL_MAX_DEPTH, in turn. Apart, so that the hot loop keeps its
 * registers: nothing it holds lives across a call.
 */
int
trail_scalar_skip(struct trail *t, const unsigned char *p, size_t *ip,
    size_t end)
{
	int r;

	for (;;) {
		if (t->deep != 0) {
			r = trail_scalar_deep(t, p, ip, end);
			if (r < 0 || t->deep != 0)
				return r;
		}
		r = trail_scalar_stack(t, p, ip, end);
		if (r != TRAIL_SCALAR_DEEPER)
			return r;
		trail_scalar_deep_begin(t);
	}
}

/*
 * The prefilter. json-c can read an eventSource of Secrets Manager's only
 * from text that has the name as the value of a key "eventSource", both
 * spelled out, JSON whitespace around the ':', or else spelled with \u
 * escapes (no other escape makes letters or '.'). So a record is a
 * candidate if its text has "\u" anywhere, or the name with
 * "eventSource" : before it (quotes ' allowed too, so that a record json-c
 * rejects still fails the file as it did) and a quote after it. Anything
 * else cannot match: a KMS call made by Secrets Manager, which names it in
 * userAgent and sourceIPAddress, never reaches json-c. This is a property
 * of the text alone, so every kernel computes the same.
 */
static bool
trail_scalar_quote(int c)
{
	return c == '"' || c == '\'';
}

static bool
trail_scalar_ws(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Whether the name at p[k] (it is there) is the value of eventSource. */
static bool
trail_scalar_source_at(const char *p, size_t k, size_t len)
{
	static const char key[] = "eventSource";
	const size_t klen = sizeof(key) - 1;
	size_t j = k;

	if (k + TRAIL_SOURCE_LEN >= len ||
	    !trail_scalar_quote(p[k + TRAIL_SOURCE_LEN]) || j == 0 ||
	    !trail_scalar_quote(p[--j]))
		return false;
	while (j > 0 && trail_scalar_ws(p[j - 1]))
		j--;
	if (j == 0 || p[--j] != ':')
		return false;
	while (j > 0 && trail_scalar_ws(p[j - 1]))
		j--;
	return j >= klen + 2 && trail_scalar_quote(p[j - 1]) &&
	    trail_scalar_quote(p[j - klen - 2]) &&
	    memcmp(p + j - klen - 1, key, klen) == 0;
}

bool
trail_scalar_candidate(const char *p, size_t len)
{
	const char *e = p + len;
	const char *q;

	for (q = p; q < e; q++) {
		q = memchr(q, '\\', (size_t)(e - q));
		if (q == NULL)
			break;
		if (q + 1 < e && q[1] == 'u')
			return true;
	}
	for (q = p; q < e; q++) {
		q = memmem(q, (size_t)(e - q), TRAIL_SOURCE, TRAIL_SOURCE_LEN);
		if (q == NULL)
			break;
		if (trail_scalar_source_at(p, (size_t)(q - p), len))
			return true;
	}
	return false;
}

bool
trail_scalar_hit(const char *p, size_t k, size_t len)
{
	if (p[k] == '\\')
		return k + 1 < len && p[k + 1] == 'u';
	return memcmp(p + k, TRAIL_SOURCE, TRAIL_SOURCE_LEN) == 0 &&
	    trail_scalar_source_at(p, k, len);
}

static bool
trail_scalar_supported(void)
{
	return true;
}

const struct trail_kernel_ops trail_scalar_kernel = {
    .id = TRAIL_KERNEL_SCALAR,
    .name = "scalar",
    .supported = trail_scalar_supported,
    .skip = trail_scalar_skip,
    .candidate = trail_scalar_candidate,
};
