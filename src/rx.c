/*
 * rx.c: see rx.h. The cost model walks the pattern once: an atom costs 1
 * (a bracket 4), a group what its contents cost (at least 1: an empty
 * group is still a node regcomp() copies and recurses through), x{m,n}
 * n copies of x, x+ two.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "rx.h"

/* Past a bracket expression starting at p[i] == '['; returns the index after.
 */
static size_t
rx_bracket_end(const char *p, size_t len, size_t i)
{
	size_t j = i + 1;

	if (j < len && p[j] == '^')
		j++;
	if (j < len && p[j] == ']')
		j++;
	while (j < len && p[j] != ']') {
		if (p[j] == '[' && j + 1 < len &&
		    (p[j + 1] == ':' || p[j + 1] == '=' || p[j + 1] == '.')) {
			char close = p[j + 1];

			j += 2;
			while (
			    j + 1 < len && !(p[j] == close && p[j + 1] == ']'))
				j++;
			j += 2;
			continue;
		}
		j++;
	}
	return j + 1;
}

/*
 * Reads "{m}", "{m,}" or "{m,n}" at p[i]; *ret_copies is how many copies
 * regcomp() makes. Returns the index after the '}', or 0 when a count is
 * over RX_MAX_DUP.
 */
static size_t
rx_interval(const char *p, size_t len, size_t i, uint64_t *ret_copies)
{
	uint64_t m = 0;
	uint64_t n = 0;
	size_t j = i + 1;
	bool comma = false;

	while (j < len && p[j] >= '0' && p[j] <= '9' && m <= RX_MAX_DUP)
		m = m * 10 + (uint64_t)(p[j++] - '0');
	if (j < len && p[j] == ',') {
		comma = true;
		j++;
		while (j < len && p[j] >= '0' && p[j] <= '9' && n <= RX_MAX_DUP)
			n = n * 10 + (uint64_t)(p[j++] - '0');
	}
	if (m > RX_MAX_DUP || n > RX_MAX_DUP)
		return 0;
	if (!comma || n < m)
		n = m + (comma ? 1 : 0);
	*ret_copies = n;
	while (j < len && p[j] != '}')
		j++;
	return j + 1;
}

const char *
rx_cost(const char *p, size_t len, uint64_t *ret_cost)
{
	uint64_t sum[RX_MAX_GROUPS + 1];  /* cost so far, per open group */
	uint64_t last[RX_MAX_GROUPS + 1]; /* cost of the last atom */
	size_t depth = 0;
	size_t i = 0;

	sum[0] = 0;
	last[0] = 0;
	while (i < len) {
		uint64_t atom = 1;
		uint64_t copies;
		char ch = p[i];

		if (ch == '\\') {
			if (i + 1 < len && p[i + 1] >= '0' && p[i + 1] <= '9')
				return "back-references are not supported";
			i += 2;
		} else if (ch == '[') {
			i = rx_bracket_end(p, len, i);
			atom = 4; /* a bracket costs glibc more than a char */
		} else if (ch == '(') {
			if (depth == RX_MAX_GROUPS)
				return "too many nested groups";
			depth++;
			sum[depth] = 0;
			last[depth] = 0;
			i++;
			continue;
		} else if (ch == ')' && depth > 0) {
			atom = sum[depth] > 0 ? sum[depth] : 1;
			depth--;
			i++;
		} else if (ch == '|') {
			last[depth] = 0;
			i++;
			continue;
		} else if (ch == '^' || ch == '$' || ch == '*' || ch == '?') {
			i++;
			continue;
		} else if (ch == '+') {
			sum[depth] += last[depth]; /* x+ is x x* */
			i++;
			atom = 0;
		} else if (ch == '{' && i + 1 < len &&
		    ((p[i + 1] >= '0' && p[i + 1] <= '9') || p[i + 1] == ',')) {
			i = rx_interval(p, len, i, &copies);
			if (i == 0)
				return "repetition count above 255";
			if (copies > 1)
				sum[depth] += last[depth] * (copies - 1);
			last[depth] *= copies;
			atom = 0;
		} else {
			i++;
		}
		if (atom != 0) {
			sum[depth] += atom;
			last[depth] = atom;
		}
		if (sum[depth] > RX_MAX_COST || last[depth] > RX_MAX_COST)
			return "too complex (counted repetitions expand too far)";
	}
	*ret_cost = 16 + sum[0];
	return NULL;
}

int
rx_compile(regex_t *re, const char *p, size_t len, uint64_t *ret_cost,
    char *err, size_t errsz)
{
	return rx_compile_flags(re, p, len, 0, ret_cost, err, errsz);
}

int
rx_compile_flags(regex_t *re, const char *p, size_t len, int cflags,
    uint64_t *ret_cost, char *err, size_t errsz)
{
	const char *why;
	uint64_t cost;
	int r;

	if (len > RX_MAX_LEN) {
		(void)snprintf(err, errsz, "longer than %d bytes", RX_MAX_LEN);
		return -EINVAL;
	}
	why = strlen(p) != len ? "NUL byte in pattern" : rx_cost(p, len, &cost);
	if (why != NULL) {
		(void)snprintf(err, errsz, "%s", why);
		return -EINVAL;
	}
	r = regcomp(re, p, REG_EXTENDED | REG_NOSUB | (cflags & REG_ICASE));
	if (r == REG_ESPACE)
		return -ENOMEM;
	if (r != 0) {
		(void)regerror(r, re, err, errsz);
		return -EINVAL;
	}
	if (ret_cost != NULL)
		*ret_cost = cost;
	return 0;
}

/* Perl's classes and their POSIX ERE spellings, outside and inside [ ]. */
static const struct {
	char c;
	const char *outside;
	const char *inside; /* NULL: none (a negation) */
} rx_classes[] = {
    {'d', "[0-9]", "[:digit:]"},
    {'D', "[^0-9]", NULL},
    {'w', "[[:alnum:]_]", "[:alnum:]_"},
    {'W', "[^[:alnum:]_]", NULL},
    {'s', "[[:space:]]", "[:space:]"},
    {'S', "[^[:space:]]", NULL},
};

/* A Perl class inside the bracket expression [p[i], end): why, or NULL. */
static const char *
rx_bracket_perl(const char *p, size_t i, size_t end, char *buf, size_t size)
{
	size_t j;
	size_t k;

	for (j = i + 1; j + 1 < end; j++) {
		if (p[j] == '[' &&
		    (p[j + 1] == ':' || p[j + 1] == '=' || p[j + 1] == '.')) {
			while (j + 1 < end && p[j + 1] != ']')
				j++;
			continue;
		}
		if (p[j] != '\\')
			continue;
		for (k = 0; k < sizeof(rx_classes) / sizeof(rx_classes[0]);
		     k++) {
			if (p[j + 1] != rx_classes[k].c)
				continue;
			if (rx_classes[k].inside != NULL)
				(void)snprintf(buf, size,
				    "'\\%c' inside brackets is a backslash or '%c' in POSIX ERE; write '%s' inside them",
				    p[j + 1], p[j + 1], rx_classes[k].inside);
			else
				(void)snprintf(buf, size,
				    "'\\%c' inside brackets is a backslash or '%c' in POSIX ERE; write '%s' outside them",
				    p[j + 1], p[j + 1], rx_classes[k].outside);
			return buf;
		}
	}
	return NULL;
}

const char *
rx_perlism(const char *p, size_t len, char *buf, size_t size)
{
	const char *why;
	size_t i;
	size_t k;
	size_t end;

	for (i = 0; i < len; i++) {
		if (p[i] == '[') {
			end = rx_bracket_end(p, len, i);
			if (end > len)
				end = len;
			why = rx_bracket_perl(p, i, end, buf, size);
			if (why != NULL)
				return why;
			i = end - 1;
			continue;
		}
		if (p[i] == '\\' && i + 1 < len) {
			i++;
			if (p[i] == 'b' || p[i] == 'B') {
				(void)snprintf(buf, size,
				    "'\\%c' is not POSIX ERE (there is no word boundary in ERE)",
				    p[i]);
				return buf;
			}
			for (k = 0;
			     k < sizeof(rx_classes) / sizeof(rx_classes[0]);
			     k++) {
				if (p[i] != rx_classes[k].c)
					continue;
				(void)snprintf(buf, size,
				    "'\\%c' is not POSIX ERE; write '%s'", p[i],
				    rx_classes[k].outside);
				return buf;
			}
			continue; /* an escaped character, '\\' too */
		}
		if ((p[i] == '*' || p[i] == '+' || p[i] == '?' ||
			p[i] == '}') &&
		    i + 1 < len && p[i + 1] == '?') {
			(void)snprintf(buf, size,
			    "non-greedy '%c?' is not POSIX ERE (repetition is always greedy)",
			    p[i]);
			return buf;
		}
	}
	return NULL;
}
