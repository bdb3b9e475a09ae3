/*
 * ruletest.h: `smtrail test`, rules checked against cases (format:
 * smtrail-test(5)). A test file lists cases; each feeds events (inline
 * CloudTrail records, their eventTime optionally rewritten to an offset
 * from the case's first one, or log files) through the replay pipeline
 * (replay.h: the engine, event time, state in a temporary directory of its
 * own per case) and compares the alerts that come out with the expected
 * ones: which rules alert, with which status and count, and which must
 * stay quiet.
 *
 * ruletest_load() reads and checks the whole file, collecting every
 * problem as file:line:col (count-then-discard, like rules_load());
 * ruletest_bind() checks the rule ids the cases name against the loaded
 * rules (same diagnostics); ruletest_run() runs the cases in order. Never
 * prints: report lines ("ok N - name", "not ok N - name", the diff as
 * "# " lines) go to the caller's hook.
 */
#ifndef SMTRAIL_RULETEST_H
#define SMTRAIL_RULETEST_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

struct diag_list;
struct rules;
struct ruletest; /* opaque: one loaded test file */

/* Largest test file read (inline records make them long). */
#define RULETEST_MAX_FILE (16u << 20)

/* -EINVAL with diags (file:line:col), -ENOENT/-EACCES/-ENOMEM. */
int ruletest_load(const char *path, struct ruletest **ret,
    struct diag_list *diags) MUST_CHECK;
void ruletest_free(struct ruletest *t); /* NULL ok */

/* The file's "rules" (resolved against the test file's directory), or
 * NULL when it has none. */
const char *ruletest_rules(const struct ruletest *t);
size_t ruletest_count(const struct ruletest *t);

/* -EINVAL with diags: a case names a rule rs does not have. */
int ruletest_bind(struct ruletest *t, const struct rules *rs,
    struct diag_list *diags) MUST_CHECK;

struct ruletest_hooks {
	/* One line of the report, without a newline; < 0 stops. */
	int (*line)(const char *s, void *arg);
	/* The rules file, as explanations name it (replay --explain's
	 * "file:line:col"); NULL: "rules". */
	const char *rules_file;
	void *arg;
};

struct ruletest_stats {
	size_t passed;
	size_t failed;
};

/*
 * Runs every case against rs (bound; rules the file ships disabled are
 * turned on for the cases that ask, and off again). Cases are numbered
 * from *number + 1; *number is advanced. < 0: the report hook failed or
 * the pipeline could not be set up (out of memory, no temporary
 * directory), said in reterr_msg (size bytes). A case that fails is
 * counted, not an error.
 */
int ruletest_run(struct ruletest *t, struct rules *rs,
    const struct ruletest_hooks *h, size_t *number, struct ruletest_stats *st,
    char *reterr_msg, size_t size) MUST_CHECK;

#endif
