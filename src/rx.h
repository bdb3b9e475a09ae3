/*
 * rx.h: POSIX extended regexes from untrusted text, bounded.
 *
 * glibc's regcomp() copies a group once per counted repetition and recurses
 * once per empty-match node, so a short pattern can take minutes, gigabytes
 * or the whole stack ("((a{255}){255}){255}", "(){255}{255}"). rx_cost()
 * bounds what regcomp() would build before it sees the pattern; rx_compile()
 * refuses what is too long, holds a NUL, is too costly or does not compile.
 * Shared by the rules (match: {regex: ...}) and the config
 * (sns.cert_url_pattern). Pure; no I/O; any thread.
 */
#ifndef SMTRAIL_RX_H
#define SMTRAIL_RX_H

#include <regex.h>
#include <stddef.h>
#include <stdint.h>

#define RX_MAX_LEN 1024  /* bytes of pattern */
#define RX_MAX_COST 4096 /* rx_cost() of one pattern */
#define RX_MAX_DUP 255   /* a{n}: POSIX's RE_DUP_MAX minimum */
#define RX_MAX_GROUPS 64 /* nesting of ( ) */

/*
 * NULL when p (len bytes) is acceptable, *ret_cost then an upper bound on
 * its compiled size (16 at least, so that a sum also counts patterns);
 * else why not, in a few words. Refuses back-references (exponential).
 */
const char *rx_cost(const char *p, size_t len, uint64_t *ret_cost);

/*
 * Compiles p (len bytes, NUL-terminated) with REG_EXTENDED | REG_NOSUB.
 * 0 with *re to regfree(); -ENOMEM; -EINVAL with why in err (the problem
 * or regerror()'s words). *ret_cost (may be NULL) is rx_cost()'s figure.
 */
int rx_compile(regex_t *re, const char *p, size_t len, uint64_t *ret_cost,
    char *err, size_t errsz);
/* The same with extra regcomp() flags; only REG_ICASE is taken. */
int rx_compile_flags(regex_t *re, const char *p, size_t len, int cflags,
    uint64_t *ret_cost, char *err, size_t errsz);

/*
 * NULL when p (len bytes) has none of the Perl spellings that POSIX ERE
 * lacks but people write: \d \w \s \D \W \S (outside brackets or
 * in them, where a backslash is itself), \b \B, and the non-greedy *? +?
 * ?? }?; else why, with the ERE spelling, in buf (size bytes). An escaped
 * backslash ("\\d") is a backslash and a 'd'.
 */
const char *rx_perlism(const char *p, size_t len, char *buf, size_t size);

#endif
