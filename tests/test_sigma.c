/*
 * test_sigma.c: Sigma to smtrail rules (sigma.h) from memory: hostile
 * documents and conditions first (unbalanced, deep, unknown names, huge),
 * each refusal with its position and reason; then what translates, and
 * that every translation loads as smtrail's loader loads it, strictly.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "diag.h"
#include "rules.h"
#include "sigma.h"
#include "tap.h"

static char ts_diags[16384];
static char ts_out[65536];
static struct sigma_stats ts_st;

static void
ts_diag(const struct diag *d, void *arg)
{
	char line[600];
	size_t n = strlen(ts_diags);

	(void)arg;
	(void)snprintf(ts_diags + n, sizeof(ts_diags) - n, "%s\n",
	    diag_format(d, line, sizeof(line)));
}

/* Appends s to the NUL-terminated text in d (big enough here). */
static size_t
ts_append(char *d, const char *s)
{
	size_t n = strlen(d);

	memcpy(d + n, s, strlen(s) + 1);
	return n;
}

/* Translates text; the rules written in ts_out, the messages in
 * ts_diags; returns how many rules were written (-1: an error). */
static int
imp(const char *text)
{
	struct sigma *s = sigma_new(ts_diag, NULL);
	struct buf b;
	int r;

	ts_diags[0] = '\0';
	ts_out[0] = '\0';
	memset(&ts_st, 0, sizeof(ts_st));
	if (s == NULL)
		return -1;
	buf_init(&b, 1u << 20);
	r = sigma_add_buffer(s, "s.yml", text, strlen(text));
	if (r != -ENOMEM)
		r = sigma_emit(s, &b, &ts_st);
	if (r == 0 && b.len < sizeof(ts_out)) {
		memcpy(ts_out, b.data, b.len);
		ts_out[b.len] = '\0';
	}
	buf_done(&b);
	sigma_free(s);
	return r < 0 ? -1 : (int)ts_st.translated;
}

/* Whether ts_out loads under --strict, with as many rules as written. */
static bool
loads(void)
{
	struct diag_list dl;
	struct rules *rs = NULL;
	bool ok;

	memset(&dl, 0, sizeof(dl));
	if (rules_load_buffer("out.yaml", ts_out, strlen(ts_out), true, &rs,
		&dl) < 0)
		return false;
	ok = rules_count(rs) == ts_st.translated;
	rules_free(rs);
	return ok;
}

#define HEAD                                                                   \
	"title: t\nid: x-1\nlogsource: {product: aws, service: cloudtrail}\n"  \
	"detection:\n"

/* A rule with one selection "sel" (eventName GetSecretValue) and "cond". */
static int
cond(const char *c)
{
	char text[200000];

	(void)snprintf(text, sizeof(text),
	    HEAD "    sel: {eventName: GetSecretValue}\n"
		 "    sel2: {userAgent: x}\n"
		 "    condition: '%s'\n",
	    c);
	return imp(text);
}

static void
test_hostile(void)
{
	char big[150000];
	size_t n;
	int i;

	is_int(imp(""), 0, "empty: nothing");
	is_str(ts_diags, "", "empty: no message");
	is_str(ts_out,
	    "# Translated from Sigma by smtrail sigma-import; see "
	    "smtrail-rules(5).\nrules:\n",
	    "empty: a rules file with no rules");
	ok(loads(), "empty: loads");
	is_int(imp("a: *x\n"), 0, "an alias: nothing");
	ok(strstr(ts_diags, "s.yml:1:4: ") != NULL, "an alias: refused at it");
	is_int(ts_st.errors, 1, "an alias: counted as unreadable");
	is_int(imp("title: [\n"), 0, "a syntax error: nothing");
	is_int(ts_st.errors, 1, "a syntax error: counted");
	is_int(imp("- a\n- b\n"), 0, "a list: nothing");
	is_str(ts_diags,
	    "s.yml:1:1: refused '(no title)': expected a Sigma "
	    "rule (a mapping)\n",
	    "a list: refused");

	/* Keys that are not strings (a fuzzer's find: a NULL strcmp). */
	is_int(imp("title: c\nid: c-1\ncorrelation:\n  type: event_count\n"
		   "  rules: [x]\n  timespan: 5m\n  condition: {[a]: 1}\n"),
	    0, "a list as a correlation.condition key: refused");
	is_str(ts_diags,
	    "s.yml:7:15: refused 'c': correlation.condition: "
	    "expected gte, gt or field\n",
	    "a list as a key: said");
	is_int(imp(HEAD "    {a: b}: {userAgent: x}\n    condition: sel\n"), 0,
	    "a mapping as a selection name: refused");
	is_str(ts_diags,
	    "s.yml:5:5: refused 't': detection: a selection's "
	    "name must be a string\n",
	    "a mapping as a selection name: said");
	is_int(imp(HEAD "    sel: {userAgent: x}\n    sel: {userAgent: y}\n"
			"    condition: sel\n"),
	    0, "a selection twice: refused");
	is_str(ts_diags,
	    "s.yml:6:5: refused 't': detection: selection 'sel' "
	    "twice (first at line 5)\n",
	    "a selection twice: said");
	is_int(imp(HEAD "    sel: {userAgent: x, userAgent: y}\n"
			"    condition: sel\n"),
	    0, "a field twice in a selection: refused");
	is_str(ts_diags,
	    "s.yml:5:25: refused 't': userAgent: twice in "
	    "selection 'sel' (first at line 5)\n",
	    "a field twice: said");
	is_int(cond("(sel"), 0, "unbalanced '(': refused");
	is_str(ts_diags, "s.yml:7:21: refused 't': condition: expected ')'\n",
	    "unbalanced '(': where the ')' should be");
	is_int(cond("sel)"), 0, "unbalanced ')': refused");
	is_str(ts_diags, "s.yml:7:20: refused 't': condition: unexpected ')'\n",
	    "unbalanced ')': at it");
	is_int(cond("sel and other"), 0, "unknown selection: refused");
	is_str(ts_diags,
	    "s.yml:7:25: refused 't': condition: unknown selection 'other'\n",
	    "unknown selection: its name and column");
	is_int(cond("1 of other*"), 0, "1 of a pattern no selection has");
	is_str(ts_diags,
	    "s.yml:7:22: refused 't': condition: no selection matches "
	    "'other*'\n",
	    "1 of other*: said");
	is_int(cond("sel sel2"), 0, "two names without an operator");
	is_str(ts_diags,
	    "s.yml:7:21: refused 't': condition: unexpected "
	    "'sel2'\n",
	    "two names: the second one");
	is_int(cond("sel and"), 0, "a trailing 'and'");
	is_str(ts_diags, "s.yml:7:24: refused 't': condition: unexpected end\n",
	    "a trailing 'and': unexpected end");
	is_int(cond("1 sel"), 0, "'1' without 'of'");
	is_str(ts_diags,
	    "s.yml:7:19: refused 't': condition: expected 'of' "
	    "after '1'\n",
	    "'1' without 'of': said");
	is_int(cond("sel and $"), 0, "a stray character");
	is_str(ts_diags, "s.yml:7:25: refused 't': condition: unexpected '$'\n",
	    "a stray character: at it");
	is_int(cond(""), 0, "an empty condition");
	is_int(cond("sel | count() by userIdentity.arn > 5"), 0,
	    "a Sigma 1 aggregation without a timeframe: refused");
	is_str(ts_diags,
	    "s.yml:7:16: refused 't': condition: an aggregation "
	    "without a timeframe: smtrail counts within a window\n",
	    "no timeframe: said");
	is_int(cond("sel | sum(x) > 5"), 0, "sum(): refused");
	is_str(ts_diags,
	    "s.yml:7:21: refused 't': condition: only the "
	    "aggregation count() can be expressed (as threshold or "
	    "distinct)\n",
	    "sum(): at the '|'");
	is_int(cond("sel | count() < 5"), 0, "count() < 5: refused");
	is_str(ts_diags,
	    "s.yml:7:31: refused 't': condition: only '>' and "
	    "'>=' can be expressed: smtrail alerts when a count "
	    "reaches a number\n",
	    "count() < 5: at the '<'");
	is_int(cond("sel | count() > 5 x"), 0, "after the number: refused");
	is_int(cond("sel | count( > 5"), 0, "count( unclosed: refused");
	/* Deep nesting: 64 levels of parentheses and nots at most. */
	n = 0;
	for (i = 0; i < 70; i++)
		big[n++] = '(';
	memcpy(big + n, "sel", 3);
	n += 3;
	for (i = 0; i < 70; i++)
		big[n++] = ')';
	big[n] = '\0';
	is_int(cond(big), 0, "70 parentheses: refused");
	ok(strstr(ts_diags, "condition: nested deeper than 64") != NULL,
	    "70 parentheses: too deep");
	is_int(cond("((((((((((sel))))))))))"), 1, "10 parentheses: fine");
	n = 0;
	for (i = 0; i < 1000; i++) {
		memcpy(big + n, "not ", 4);
		n += 4;
	}
	memcpy(big + n, "sel", 4);
	is_int(cond(big), 0, "1000 nots: refused, no stack overflow");
	ok(strstr(ts_diags, "nested deeper than 64") != NULL,
	    "1000 nots: said");
	/* A condition that copies a selection many times: bounded. */
	n = 0;
	for (i = 0; i < 12000; i++) {
		memcpy(big + n, "sel and ", 8);
		n += 8;
	}
	memcpy(big + n, "sel2", 5);
	is_int(cond(big), 0, "12000 copies: refused");
	ok(strstr(ts_diags, "detection too large") != NULL,
	    "12000 copies: too large");
	/* Written deeper than smtrail's 16 levels of any/all/not. */
	/* not (sel or not (sel or ... sel2)) */
	big[0] = '\0';
	for (i = 0; i < 10; i++)
		(void)ts_append(big, "not (sel or ");
	(void)ts_append(big, "sel2");
	for (i = 0; i < 10; i++)
		(void)ts_append(big, ")");
	is_int(cond(big), 0, "20 levels of not and any: refused");
	ok(strstr(ts_diags, "detection: nested 20 deep, smtrail allows 16") !=
		NULL,
	    "20 levels: said");
}

static void
test_refused(void)
{
	is_int(imp(HEAD "    sel: {userAgent|base64offset|contains: x}\n"
			"    condition: sel\n"),
	    0, "base64offset: refused");
	is_str(ts_diags,
	    "s.yml:5:11: refused 't': userAgent|base64offset|"
	    "contains: modifier 'base64offset' has no smtrail "
	    "equivalent\n",
	    "base64offset: the field and the modifier");
	is_int(imp(HEAD "    sel: {userAgent|i: x}\n    condition: sel\n"), 0,
	    "|i without |re: refused");
	is_int(imp(HEAD "    sel: {userAgent|re: 'a\\bb'}\n"
			"    condition: sel\n"),
	    0, "\\b: refused");
	ok(strstr(ts_diags, "userAgent|re: escape has no POSIX ERE") != NULL,
	    "\\b: said");
	is_int(imp(HEAD "    sel: {userAgent|re: 'a+?'}\n    condition: sel\n"),
	    0, "a lazy quantifier: refused");
	ok(strstr(ts_diags, "lazy or possessive") != NULL, "lazy: said");
	is_int(imp(HEAD "    sel: {eventSource: ec2.amazonaws.com}\n"
			"    condition: sel\n"),
	    0, "another service: refused");
	is_str(ts_diags,
	    "s.yml:5:24: refused 't': eventSource "
	    "ec2.amazonaws.com: no Secrets Manager event can "
	    "match (smtrail reads only events of "
	    "secretsmanager.amazonaws.com)\n",
	    "another service: the value and why");
	is_int(imp(HEAD "    sel: {eventName: RunInstances}\n"
			"    condition: sel\n"),
	    0, "another service's event: refused");
	ok(strstr(ts_diags,
	       "s.yml:5:22: refused 't': eventName RunInstances: no "
	       "Secrets Manager event can match") != NULL,
	    "another service's event: said");
	is_int(imp(HEAD "    sel: {type: AssumedRole}\n    condition: sel\n"),
	    0, "a field CloudTrail does not have: refused");
	ok(strstr(ts_diags,
	       "refused 't': smtrail check --strict refuses the "
	       "translation: unknown CloudTrail field 'type'") != NULL,
	    "an unknown field: the loader's message");
	is_int(imp(HEAD "    sel: {eventName: GetSecretValue}\n"
			"    condition: sel\n---\n" HEAD
			"    sel: {eventName: ListSecrets}\n"
			"    condition: sel\n"),
	    1, "the same id twice: one written");
	is_str(ts_diags,
	    "s.yml:8:1: refused 't': id: 'x-1' was already "
	    "written (from s.yml)\n",
	    "the same id twice: the second refused, at its document");
	is_int(
	    imp("title: c\nid: c-1\ncorrelation:\n  type: event_count\n"
		"  rules: [nowhere]\n  timespan: 5m\n  condition: {gte: 3}\n"),
	    0, "a correlation over an unknown rule: refused");
	is_str(ts_diags,
	    "s.yml:1:1: refused 'c': correlation.rules: "
	    "'nowhere' is not among the rules translated\n",
	    "unknown rule: said");
	is_int(imp("title: c\nid: c-1\ncorrelation:\n  type: event_count\n"
		   "  rules: [x]\n  timespan: 1w\n  condition: {gte: 3}\n"),
	    0, "a timespan in weeks: refused");
	is_int(imp("title: c\nid: c-1\ncorrelation:\n  type: event_count\n"
		   "  rules: [x]\n  timespan: 5m\n  condition: {lte: 3}\n"),
	    0, "lte: refused");
	ok(strstr(ts_diags,
	       "correlation.condition: 'lte' cannot be "
	       "expressed") != NULL,
	    "lte: said");
}

static void
test_translated(void)
{
	is_int(imp(HEAD
		   "    sel: {eventName: GetSecretValue}\n"
		   "    timeframe: 15m\n"
		   "    condition: sel | count(secretId) by principal >= 3\n"),
	    1, "count(field) by f >= 3 in 15m: translated");
	ok(strstr(ts_out,
	       "    group_by: [\"principal\"]\n    distinct: "
	       "{field: \"secretId\", count: 3, within: 15m}\n") != NULL,
	    "count(field): distinct, grouped by the 'by' field");
	ok(loads(), "count(field): loads");
	is_int(imp(HEAD "    sel: {eventName: GetSecretValue}\n"
			"    timeframe: 2w\n"
			"    condition: sel | count() > 3\n"),
	    0, "a timeframe in weeks: refused");
	ok(strstr(ts_diags, "timeframe: '2w' is not a duration smtrail has") !=
		NULL,
	    "a timeframe in weeks: said");
	is_int(imp(HEAD "    sel:\n"
			"        eventSource|contains: secretsmanager\n"
			"    condition: sel\n"),
	    1, "eventSource always true: translated");
	ok(strstr(ts_out,
	       "      eventSource: \"secretsmanager.amazonaws.com\"\n") != NULL,
	    "eventSource always true: every Secrets Manager event");
	ok(loads(), "eventSource always true: loads");
	is_int(imp(HEAD
		   "    sel:\n"
		   "        userAgent: 'a\\*b*[x'\n"
		   "        requestParameters.secretId|re: '(?i)^p\\d[\\w-]'\n"
		   "    _aux: {eventName: ListSecrets}\n"
		   "    other: {eventName: [getsecretvalue, Foo]}\n"
		   "    condition: all of them\n"),
	    1, "wildcards, regex, them: translated");
	ok(strstr(ts_out,
	       "\"userAgent\": {glob: \"a[*]b*[[]x\", icase: true}") != NULL,
	    "a wildcard: glob, an escaped '*' and a '[' literal");
	ok(strstr(ts_out, "{regex: \"^p[0-9][[:alnum:]_-]\", icase: true}") !=
		NULL,
	    "(?i) and \\d, \\w in and out of brackets");
	ok(strstr(ts_out, "\"eventName\": \"GetSecretValue\"") != NULL,
	    "an event name in another case: CloudTrail's spelling; Foo dropped");
	ok(strstr(ts_out, "ListSecrets") == NULL,
	    "'them' leaves out selections named with '_'");
	ok(loads(), "wildcards, regex, them: loads");
	is_int(imp(HEAD "    a: {userAgent: x}\n    b: {userAgent: y}\n"
			"    c: {userAgent: z}\n"
			"    condition: a or not (b and c)\n"),
	    1, "or, not, and: translated");
	is_str(strstr(ts_out, "    match:\n"),
	    "    match:\n"
	    "      any:\n"
	    "      - \"userAgent\": {eq: \"x\", icase: true}\n"
	    "      - not:\n"
	    "          \"userAgent\": {eq: \"y\", icase: true}\n"
	    "          all:\n"
	    "          - \"userAgent\": {eq: \"z\", icase: true}\n",
	    "or, not, and: the match, a repeated field under all");
	ok(loads(), "or, not, and: loads");
	is_int(imp(HEAD
		   "    sel:\n"
		   "        requestParameters.recoveryWindowInDays|gte: 7\n"
		   "        sourceIPAddress|cidr: 10.0.0.0/8\n"
		   "        errorCode: null\n"
		   "        readOnly: true\n"
		   "    condition: sel\n"
		   "level: informational\n"),
	    1, "numbers, cidr, null, booleans: translated");
	ok(strstr(ts_out, "{ge: 7}") != NULL &&
		strstr(ts_out, "{cidr: \"10.0.0.0/8\"}") != NULL &&
		strstr(ts_out, "\"errorCode\": {exists: false}") != NULL &&
		strstr(ts_out, "\"readOnly\": true") != NULL &&
		strstr(ts_out, "severity: info\n") != NULL,
	    "numbers, cidr, null, booleans, level");
	ok(loads(), "numbers, cidr, null, booleans: loads");
}

int
main(void)
{
	test_hostile();
	test_refused();
	test_translated();
	return done_testing();
}
