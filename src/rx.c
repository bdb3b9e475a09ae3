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
