/*
 * rules.h: the rules file (/etc/smtrail/rules.yaml) and matching records
 * against it. Format: smtrail-rules(5).
 *
 * rules_load() reads and validates the whole file, collecting every problem
 * (file:line:col and what was expected) into diags; if any is an error it
 * installs nothing and returns -EINVAL (or -ENOENT/-EACCES when the file
 * cannot be read, -ENOMEM). Unknown event names and event sources, and
 * paths that leave the record's schema (schema.h) at any segment, are
 * warnings with "did you mean", errors when strict; regexes with Perl
 * spellings POSIX ERE lacks (rx_perlism()) are errors. A loaded set is
 * immutable (but for rules_set_enabled(), for smtrail test) and can be
 * shared until rules_free(). Matching allocates nothing; rendering appends
 * to a caller's buffer. Never prints.
 */
#ifndef SMTRAIL_RULES_H
#define SMTRAIL_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct buf;
struct diag_list;
struct json_object;
struct rules;       /* opaque */
struct rules_match; /* opaque compiled condition tree */
struct record_path;

enum rules_severity {
	RULES_SEV_INFO,
	RULES_SEV_WARNING,
	RULES_SEV_ERROR,
	RULES_SEV_CRITICAL,
	RULES_SEV_COUNT
};

/*
 * What makes a rule alert (at most one kind per rule): every match
 * (EVENT), N matches within a window (THRESHOLD), N distinct values of a
 * field within a window (DISTINCT), a group key not seen before, after a
 * learning period (FIRST_SEEN), or a match not followed by another within
 * a window (EXPECT). Counted per group key; smtrail-rules(5).
 */
enum rules_kind {
	RULES_KIND_EVENT,
	RULES_KIND_THRESHOLD,
	RULES_KIND_DISTINCT,
	RULES_KIND_FIRST_SEEN,
	RULES_KIND_EXPECT,
	RULES_KIND_COUNT
};

/* Ceilings on the kinds' parameters (state the engine keeps per key). */
#define RULES_MAX_THRESHOLD 1000u
#define RULES_MAX_DISTINCT 1000u

struct rule {
	char *id;
	char *title;   /* defaults to id */
	char *summary; /* template; NULL: "{{eventName}} on {{secretId}}" */
	enum rules_severity severity;  /* default warning */
	bool enabled;                  /* default true */
	unsigned line;                 /* where the rule starts in its file */
	struct record_path **group_by; /* default: [secretId] */
	size_t n_group_by;
	char **destinations; /* NULL/0: the config's default_destinations */
	size_t n_destinations;
	uint64_t throttle_us;   /* 0: none */
	uint64_t group_wait_us; /* 0: none */
	struct rules_match *match;
	struct rules_match *resolve_on; /* NULL: none */
	enum rules_kind kind;
	unsigned count;               /* THRESHOLD, DISTINCT */
	uint64_t within_us;           /* THRESHOLD, DISTINCT, EXPECT */
	struct record_path *field;    /* DISTINCT */
	uint64_t learn_us;            /* FIRST_SEEN */
	struct rules_match *expected; /* EXPECT: what closes it */
	bool readers; /* the alert says who read the secret lately */
	/* Of the rule's whole definition in its file: a reload that
	 * changes a rule starts its state afresh. */
	uint64_t fingerprint;
};

const char *rules_kind_str(enum rules_kind k);

const char *rules_severity_str(enum rules_severity s);
int rules_severity_parse(const char *s, enum rules_severity *ret) MUST_CHECK;

int rules_load(const char *path, bool strict, struct rules **ret,
    struct diag_list *diags) MUST_CHECK;
/* Same, from memory; name is used in diagnostics. */
int rules_load_buffer(const char *name, const char *text, size_t len,
    bool strict, struct rules **ret, struct diag_list *diags) MUST_CHECK;
void rules_free(struct rules *rs); /* NULL ok */

size_t rules_count(const struct rules *rs);
const struct rule *rules_get(const struct rules *rs, size_t i);
const struct rule *rules_find(const struct rules *rs, const char *id);
/* Turns rule i on or off (smtrail test runs a rule the file ships
 * disabled); not while an engine uses the set. */
void rules_set_enabled(struct rules *rs, size_t i, bool on);

/* True when every condition of m holds for rec. */
bool rules_match_eval(const struct rules_match *m, struct json_object *rec);

/*
 * What one record is to one rule: it meets the rule's expect.match (the
 * follow-up an expect rule waits for), then, independently, it matches
 * the rule's "match", or it does not but matches its "resolve_on".
 */
enum rules_hit {
	RULES_HIT_MATCH,
	RULES_HIT_RESOLVE,
	RULES_HIT_EXPECTED,
	RULES_HIT_COUNT
};
typedef int rules_hit_cb(const struct rule *r, enum rules_hit hit, void *arg);

/*
 * The one place a record is matched against the rules: cb for each enabled
 * rule it hits, in file order. A negative return from cb stops and is
 * returned; else 0.
 */
int rules_eval(const struct rules *rs, struct json_object *rec,
    rules_hit_cb *cb, void *arg) MUST_CHECK;

/*
 * Why a record does or does not match a rule's "match" (smtrail replay
 * --explain, smtrail test on a failure): the first condition that failed
 * in the order rules_eval() tries them, where it is written in the rules
 * file, and the value the record has there. The decision is rules_eval()'s
 * own (the same evaluation, redone step by step on the cold path); the
 * normal path does not change. Values are quoted (control characters and
 * quotes escaped) and cut at RULES_WHY_VALUE bytes.
 */
#define RULES_WHY_VALUE 120
struct rules_why {
	bool matched;
	unsigned line; /* of the failing condition; 0: none (matched) */
	unsigned col;
	char path[512]; /* its field path; "any", "not": a combinator's */
	char want[320]; /* what it wants: "true", "prefix 'prod/'" */
	char got[512];  /* the value found: "'x'", "false", "null" */
	bool absent;    /* the field is absent (got is empty) */
};
/* 1: r's "match" holds for rec, 0: it does not (ret says why). */
int rules_explain(const struct rule *r, struct json_object *rec,
    struct rules_why *ret);
/* "file:line:col: path: want W, got G" or "file:line:col: path: field
 * absent" into buf (size bytes). Returns buf. */
const char *rules_why_format(const struct rules_why *w, const char *file,
    char *buf, size_t size);
/* The closest rule id to id ("did you mean"), or NULL. */
const char *rules_suggest_id(const struct rules *rs, const char *id);

/* Renders the rule's summary template ({{field.path}}; missing: empty). */
int rules_render_summary(const struct rule *r, struct json_object *rec,
    struct buf *out) MUST_CHECK;
/* Renders any template with the same syntax. */
int rules_render(const char *tmpl, struct json_object *rec,
    struct buf *out) MUST_CHECK;
/* The group key: the group_by values' text joined with "/". */
int rules_group_key(const struct rule *r, struct json_object *rec,
    struct buf *out) MUST_CHECK;

/* Known Secrets Manager event names (NULL-terminated). */
extern const char *const rules_known_events[];

#endif
