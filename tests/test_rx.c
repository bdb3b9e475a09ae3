/*
 * test_rx: the bounded regex compiler. Ordinary patterns compile; what
 * glibc's regcomp() cannot survive is refused before it runs, fast: the
 * fuzz reproducers (an empty group repeated overflowed the stack, nested
 * counted repetitions took minutes and gigabytes), back-references, over-
 * long and NUL-holding patterns. Costs follow the documented model.
 */
#include <errno.h>
#include <string.h>

#include "rx.h"
#include "tap.h"
#include "testlib.h"

static void
test_accepts(void)
{
	static const char *const good[] = {
	    "^arn:aws:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:prod/",
	    "^https://sns\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/",
	    "(a|b|c)+x?",
	    "[[:alpha:]]{1,255}",
	    "()",
	    "(){64}{64}",
	    "^$",
	};
	char err[200];
	regex_t re;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int r = rx_compile(&re, good[i], strlen(good[i]), NULL, err,
		    sizeof(err));

		is_int(r, 0, "compiles: %s", good[i]);
		if (r == 0)
			regfree(&re);
	}
	is_int(rx_compile(&re, "prod/db", 7, NULL, err, sizeof(err)), 0,
	    "a compiled pattern matches");
	ok(regexec(&re, "arn:...:secret:prod/db-AbC", 0, NULL, 0) == 0,
	    "and matches what it should");
	regfree(&re);
}

static void
test_refuses(void)
{
	static const struct {
		const char *re;
		const char *why;
	} bad[] = {
	    /* tests/fuzz/crashes: stack overflow in calc_eclosure_iter */
	    {"(){255}{255}", "too complex"},
	    {"(^){255}{255}{255}", "too complex"},
	    /* 45 s and 3.5 GB in regcomp() */
	    {"((a{255}){255}){255}", "too complex"},
	    {"a{256}", "repetition count above 255"},
	    {"(a)\\1", "back-references"},
	    {"a(", "Unmatched ("},
	    {"[z-a]", "range"},
	};
	char err[200];
	uint64_t t0;
	regex_t re;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t0 = tl_now_us();
		is_int(rx_compile(&re, bad[i].re, strlen(bad[i].re), NULL, err,
			   sizeof(err)),
		    -EINVAL, "refused: %s", bad[i].re);
		ok(strstr(err, bad[i].why) != NULL,
		    "refused: %s: says why (%s)", bad[i].re, err);
		ok(tl_now_us() - t0 < 1000000, "refused: %s: in under 1 s",
		    bad[i].re);
	}
}

static void
test_limits(void)
{
	char long_re[RX_MAX_LEN + 2];
	char err[200];
	regex_t re;

	memset(long_re, 'a', sizeof(long_re) - 1);
	long_re[sizeof(long_re) - 1] = '\0';
	is_int(rx_compile(&re, long_re, RX_MAX_LEN + 1, NULL, err, sizeof(err)),
	    -EINVAL, "over RX_MAX_LEN: refused");
	is_str(err, "longer than 1024 bytes", "over RX_MAX_LEN: says so");
	long_re[RX_MAX_LEN] = '\0';
	is_int(rx_compile(&re, long_re, RX_MAX_LEN, NULL, err, sizeof(err)), 0,
	    "exactly RX_MAX_LEN: compiles");
	regfree(&re);
	is_int(rx_compile(&re, "a\0b", 3, NULL, err, sizeof(err)), -EINVAL,
	    "a NUL inside: refused");
	is_str(err, "NUL byte in pattern", "a NUL inside: says so");
}

static void
test_costs(void)
{
	static const struct {
		const char *re;
		uint64_t cost;
	} want[] = {
	    {"", 16},
	    {"abc", 19},
	    {"[a-z]", 20},
	    {"a{3}", 19},
	    {"(ab){10}", 36},
	    {"a+", 18},
	    {"()", 17},
	    {"(){10}", 26},
	    {"a|bc", 19},
	};
	uint64_t cost;
	size_t i;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		cost = 0;
		ok(rx_cost(want[i].re, strlen(want[i].re), &cost) == NULL,
		    "cost: '%s' acceptable", want[i].re);
		is_int((long long)cost, (long long)want[i].cost,
		    "cost: '%s' is %llu", want[i].re,
		    (unsigned long long)want[i].cost);
	}
}

/* Perl spellings POSIX ERE lacks: named, with the ERE one. */
static void
test_perlisms(void)
{
	static const struct {
		const char *p;
		const char *want; /* NULL: none */
	} v[] = {
	    {"^prod/\\d+$", "'\\d' is not POSIX ERE; write '[0-9]'"},
	    {"\\W", "'\\W' is not POSIX ERE; write '[^[:alnum:]_]'"},
	    {"\\B",
		"'\\B' is not POSIX ERE (there is no word boundary in ERE)"},
	    {"a{1,3}?",
		"non-greedy '}?' is not POSIX ERE (repetition is always greedy)"},
	    {"[[:alpha:]\\s]",
		"'\\s' inside brackets is a backslash or 's' in POSIX ERE; write '[:space:]' inside them"},
	    {"\\\\d", NULL}, /* a backslash, then d */
	    {"\\\\\\d", "'\\d' is not POSIX ERE; write '[0-9]'"},
	    {"\\.\\*?\\+", NULL}, /* escaped operators */
	    {"[]\\d]",
		"'\\d' inside brackets is a backslash or 'd' in POSIX ERE; write '[:digit:]' inside them"},
	    {"[[:digit:]]+(a|b)?c*", NULL},
	    {"\\", NULL}, /* a lone backslash: regcomp()'s to refuse */
	    {"[\\", NULL},
	};
	char buf[200];
	const char *why;
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		why = rx_perlism(v[i].p, strlen(v[i].p), buf, sizeof(buf));
		if (v[i].want == NULL)
			ok(why == NULL, "perlism: '%s' is ERE", v[i].p);
		else
			is_str(why, v[i].want, "perlism: '%s'", v[i].p);
	}
}

int
main(void)
{
	test_accepts();
	test_refuses();
	test_limits();
	test_costs();
	test_perlisms();
	return done_testing();
}
