/*
 * sigma.h: translating Sigma rules (https://sigmahq.io) for AWS CloudTrail
 * into smtrail rules (smtrail-rules(5)); `smtrail sigma-import`.
 *
 * sigma_add_file()/sigma_add_buffer() read every YAML document of a file
 * (documents split at "---" lines) and translate each rule whose logsource
 * is {product: aws, service: cloudtrail}; sigma_emit() then writes one
 * smtrail rules file holding every translated rule, correlations (event_count
 * to threshold, value_count to distinct) and Sigma 1 "| count()"
 * aggregations included. A rule that cannot be
 * expressed (an unknown modifier, a keyword search, a PCRE construct POSIX
 * ERE lacks, a rule no Secrets Manager event can meet: smtrail reads only
 * those) is refused: cb gets "file:line:col" of the Sigma field and the
 * reason, and the rule is not written. Every rule written loads under
 * `smtrail check --strict`: sigma_emit() loads each with rules_load_buffer()
 * (strict) and refuses, with the loader's message, one that does not or
 * whose id was written before. Never prints.
 */
#ifndef SMTRAIL_SIGMA_H
#define SMTRAIL_SIGMA_H

#include <stddef.h>

#include "common.h"

struct buf;
struct diag;
struct sigma; /* opaque */

/* One refusal or file error, in order. */
typedef void sigma_diag_cb(const struct diag *d, void *arg);

struct sigma_stats {
	unsigned documents;  /* YAML documents read */
	unsigned translated; /* smtrail rules written */
	unsigned refused;    /* Sigma rules refused (each reported) */
	unsigned absorbed;   /* base rules written only inside a correlation */
	unsigned errors;     /* files that could not be read or parsed */
};

/* NULL on out of memory. */
struct sigma *sigma_new(sigma_diag_cb *cb, void *arg);
void sigma_free(struct sigma *s); /* NULL ok */
/* 0, or -ENOMEM; a file that cannot be read or parsed is reported and
 * counted in errors (-ENOENT, -EACCES, -EBADMSG returned). */
int sigma_add_file(struct sigma *s, const char *path) MUST_CHECK;
int sigma_add_buffer(struct sigma *s, const char *name, const char *text,
    size_t len) MUST_CHECK;
/* Resolves correlations and appends the smtrail rules file to out. */
int sigma_emit(struct sigma *s, struct buf *out,
    struct sigma_stats *ret) MUST_CHECK;

#endif
