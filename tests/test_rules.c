/*
 * test_rules.c: loading rules files (every error with its position),
 * matching records, rendering summaries and group keys, and the default
 * rule pack against real CloudTrail samples.
 */
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "buf.h"
#include "clock.h"
#include "diag.h"
#include "bounds.h"
#include "record.h"
#include "rules.h"
#include "schema.h"
#include "tap.h"
#include "testlib.h"

static struct diag_list dl;
static char dtext[16384];

/* Every diagnostic, formatted, one per line. */
static const char *
diags(void)
{
	return tl_diags(&dl, dtext, sizeof(dtext));
}

static int
load_len(const char *text, size_t len, bool strict, struct rules **ret)
{
	memset(&dl, 0, sizeof(dl));
	return rules_load_buffer("rules.yaml", text, len, strict, ret, &dl);
}

static int
load(const char *text, bool strict, struct rules **ret)
{
	return load_len(text, strlen(text), strict, ret);
}

/* The load fails with -EINVAL, touches nothing, and says exactly want. */
static void
load_err(const char *text, const char *want, const char *name)
{
	struct rules *sentinel = (struct rules *)&dl;
	struct rules *rs = sentinel;

	is_int(load(text, false, &rs), -EINVAL, "%s: -EINVAL", name);
	ok(rs == sentinel, "%s: ret untouched", name);
	is_str(diags(), want, "%s: diagnostics", name);
}

/* Loads cleanly (no error, no warning) or says why not. */
static struct rules *
load_ok(const char *text, const char *name)
{
	struct rules *rs = NULL;
	int r;

	r = load(text, true, &rs);
	if (!is_int(r, 0, "%s: loads", name))
		diag_note("%s", diags());
	is_int(dl.n, 0, "%s: no diagnostics", name);
	return r == 0 ? rs : NULL;
}

/*
 * Whether the single rule "match: <m>" holds for the JSON record: 1 or 0,
 * -1 when the rule does not load, -2 for bad test JSON.
 */
static int
match(const char *m, const char *json)
{
	char text[8192];
	struct rules *rs = NULL;
	struct json_object *rec;
	int r;

	(void)snprintf(text, sizeof(text), "rules:\n  - id: t\n    match: %s\n",
	    m);
	if (load(text, false, &rs) < 0) {
		diag_note("%s", diags());
		return -1;
	}
	rec = json_tokener_parse(json);
	if (rec == NULL) {
		rules_free(rs);
		return -2;
	}
	r = rules_match_eval(rules_get(rs, 0)->match, rec);
	json_object_put(rec);
	rules_free(rs);
	return r;
}

/* ---- hostile input first ---------------------------------------------- */

static void
test_yaml_hostile(void)
{
	struct rules *rs = NULL;
	char *big;
	size_t i;
	size_t o;
	int r;

	load_err("",
	    "rules.yaml: empty rules file (expected a mapping with a 'rules' list)",
	    "empty file");
	load_err("# only a comment\n",
	    "rules.yaml: empty rules file (expected a mapping with a 'rules' list)",
	    "comments only");
	load_err("rules:\n  - id: a\n    match: {a: [b\n",
	    "rules.yaml:4:1: YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence started at line 3)",
	    "YAML syntax error");
	load_err("rules:\n  - id: a\n   match: x\n",
	    "rules.yaml:3:4: YAML syntax error: did not find expected '-' indicator (while parsing a block collection started at line 2)",
	    "YAML indentation error");
	load_err("rules:\n  - id: \xff\n",
	    "rules.yaml:2:9: YAML syntax error: invalid leading UTF-8 octet (byte 0xff)",
	    "non-UTF-8 byte");
	load_err("\xfe\xff\x00r\x00u",
	    "rules.yaml:1:1: YAML syntax error: invalid leading UTF-8 octet (byte 0xfe)",
	    "UTF-16 BOM refused");
	rs = NULL;
	r = load_len("rules: [\0]\n", 11, false, &rs);
	is_int(r, -EINVAL, "NUL byte: -EINVAL");
	is_str(diags(),
	    "rules.yaml:1:9: YAML syntax error: control characters are not allowed (byte 0x00)",
	    "NUL byte: diagnostics");
	load_err("rules: []\n---\nrules: []\n",
	    "rules.yaml:2:1: more than one YAML document", "two documents");
	load_err("rules:\n"
		 "  - id: a\n"
		 "    match: &m {eventName: GetSecretValue}\n"
		 "  - id: b\n"
		 "    match: *m\n",
	    "rules.yaml:5:12: YAML aliases are not supported ('*m')",
	    "alias refused");
	load_err("rules:\n"
		 "  - id: a\n"
		 "    match: {eventName: GetSecretValue}\n"
		 "    title: !!str 5\n"
		 "    summary: !local x\n",
	    "rules.yaml:4:12: YAML tags are not supported ('!!str')\n"
	    "rules.yaml:5:14: YAML tags are not supported ('!local')",
	    "tags refused");

	/* Billion laughs: refused at the first alias, nothing expanded. */
	rs = NULL;
	r = load("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
		 "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		 "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
		 "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
		 "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
		 "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
		 "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
		 "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
		 "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n"
		 "rules: *i\n",
	    false, &rs);
	is_int(r, -EINVAL, "billion laughs: -EINVAL");
	ok(rs == NULL, "billion laughs: nothing installed");
	is_int(dl.errors, 82, "billion laughs: 73 aliases + 9 unknown keys");
	is_int(dl.n, DIAG_LIST_MAX, "billion laughs: list capped");
	is_int(dl.dropped, 82 - DIAG_LIST_MAX, "billion laughs: rest counted");
	dl.n = 1;
	is_str(diags(), "rules.yaml:2:8: YAML aliases are not supported ('*a')",
	    "billion laughs: first diagnostic");

	/* 200 nested flow sequences: stopped at 128 levels. */
	big = malloc(1024);
	if (big != NULL) {
		o = (size_t)snprintf(big, 1024, "rules: ");
		for (i = 0; i < 200; i++)
			big[o++] = '[';
		for (i = 0; i < 200; i++)
			big[o++] = ']';
		big[o++] = '\n';
		big[o] = '\0';
		load_err(big,
		    "rules.yaml:1:135: YAML nesting deeper than 128 levels",
		    "200 nested sequences");
		free(big);
	}

	/* A flat list of 140000 scalars: stopped at the node cap. */
	big = malloc(300000);
	if (big != NULL) {
		o = (size_t)snprintf(big, 300000, "rules: [");
		for (i = 0; i < 140000; i++) {
			big[o++] = '1';
			big[o++] = ',';
		}
		big[o++] = ']';
		big[o] = '\0';
		load_err(big,
		    "rules.yaml:1:262147: more than 131072 YAML nodes",
		    "node cap");
		free(big);
	}

	/* Over RULES_MAX_FILE: refused before parsing. */
	big = malloc(RULES_MAX_FILE + 1);
	if (big != NULL) {
		memset(big, '#', RULES_MAX_FILE + 1);
		rs = NULL;
		r = load_len(big, RULES_MAX_FILE + 1, false, &rs);
		is_int(r, -EINVAL, "file over the limit: -EINVAL");
		is_str(diags(), "rules.yaml: file larger than 4194304 bytes",
		    "file over the limit: diagnostics");
		free(big);
	}
}

static void
test_file_hostile(void)
{
	char path[] = "/tmp/test_rules.XXXXXX";
	struct rules *rs = NULL;
	char *big;
	char want[256];
	int fd;
	int r;

	memset(&dl, 0, sizeof(dl));
	r = rules_load("/nonexistent/rules.yaml", false, &rs, &dl);
	is_int(r, -ENOENT, "missing file: -ENOENT");
	is_str(diags(), "/nonexistent/rules.yaml: No such file or directory",
	    "missing file: diagnostics");
	memset(&dl, 0, sizeof(dl));
	r = rules_load("/tmp", false, &rs, &dl);
	is_int(r, -EISDIR, "directory: -EISDIR");
	is_str(diags(), "/tmp: Is a directory", "directory: diagnostics");
	ok(rs == NULL, "nothing installed");

	fd = mkstemp(path);
	if (!ok(fd >= 0, "temporary file"))
		return;
	big = malloc(RULES_MAX_FILE + 10);
	if (big != NULL) {
		memset(big, '#', RULES_MAX_FILE + 10);
		ok(write(fd, big, RULES_MAX_FILE + 10) ==
			(ssize_t)RULES_MAX_FILE + 10,
		    "big file written");
		free(big);
	}
	memset(&dl, 0, sizeof(dl));
	r = rules_load(path, false, &rs, &dl);
	is_int(r, -EINVAL, "big file: -EINVAL");
	(void)snprintf(want, sizeof(want), "%s: file larger than 4194304 bytes",
	    path);
	is_str(diags(), want, "big file: diagnostics");
	ok(ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0, "truncate");
	ok(write(fd,
	       "rules:\n  - id: a\n    match: {eventName: GetSecretValue}\n",
	       55) == 55,
	    "small file written");
	memset(&dl, 0, sizeof(dl));
	r = rules_load(path, true, &rs, &dl);
	is_int(r, 0, "file loads");
	is_int((long long)rules_count(rs), 1, "file: one rule");
	rules_free(rs);
	(void)close(fd);
	(void)unlink(path);
}

/* ---- structure errors ------------------------------------------------- */

static void
test_structure_errors(void)
{
	char text[8192];
	size_t o;
	int i;

	load_err("- a\n",
	    "rules.yaml:1:1: expected a mapping with a 'rules' list at the top level",
	    "top level is a list");
	load_err("hello\n",
	    "rules.yaml:1:1: expected a mapping with a 'rules' list at the top level",
	    "top level is a scalar");
	load_err("other: 1\n",
	    "rules.yaml:1:1: unknown top-level key 'other'\n"
	    "rules.yaml:1:1: missing 'rules' (expected a list of rules)",
	    "missing rules");
	load_err("rule:\n  - id: a\n",
	    "rules.yaml:1:1: unknown top-level key 'rule' (did you mean 'rules'?)\n"
	    "rules.yaml:1:1: missing 'rules' (expected a list of rules)",
	    "unknown top-level key with a suggestion");
	load_err("rules: []\nversion: 2\n",
	    "rules.yaml:2:1: unknown top-level key 'version'",
	    "unknown top-level key");
	load_err("rules: 5\n",
	    "rules.yaml:1:8: expected a list of rules for 'rules'",
	    "rules is a scalar");
	load_err("rules: [5, {id: a, match: {eventName: GetSecretValue}}]\n",
	    "rules.yaml:1:9: expected a mapping for a rule (with 'id' and 'match')",
	    "rule is a scalar");
	load_err("rules:\n"
		 "  - id: a\n"
		 "    match: {eventName: GetSecretValue}\n"
		 "    sumary: x\n"
		 "    zzz: 1\n"
		 "    [x]: 1\n",
	    "rules.yaml:4:5: unknown rule key 'sumary' (did you mean 'summary'?)\n"
	    "rules.yaml:5:5: unknown rule key 'zzz'\n"
	    "rules.yaml:6:5: expected a rule key",
	    "unknown rule keys");
	load_err("rules:\n"
		 "  - id: a\n"
		 "    match: {eventName: GetSecretValue}\n"
		 "    groupby: secretId\n"
		 "    resolve: {eventName: RotationSucceeded}\n",
	    "rules.yaml:4:5: unknown rule key 'groupby' (did you mean 'group_by'?)\n"
	    "rules.yaml:5:5: unknown rule key 'resolve'",
	    "suggestion only when close");
	load_err("rules:\n  - match: {eventName: GetSecretValue}\n",
	    "rules.yaml:2:5: missing 'id' in rule", "missing id");
	load_err("rules:\n  - id: a\n",
	    "rules.yaml:2:5: missing 'match' in rule 'a'", "missing match");
	load_err("rules:\n  - title: x\n",
	    "rules.yaml:2:5: missing 'id' in rule\n"
	    "rules.yaml:2:5: missing 'match' in rule",
	    "missing both");
	load_err("rules:\n"
		 "  - id: a\n"
		 "    match: {eventName: GetSecretValue}\n"
		 "  - id: b\n"
		 "    match: {eventName: GetSecretValue}\n"
		 "  - id: a\n"
		 "    match: {eventName: GetSecretValue}\n",
	    "rules.yaml:6:9: duplicate rule id 'a' (first at line 2)",
	    "duplicate id");
	load_err(
	    "rules:\n"
	    "  - id: a\n"
	    "    match: {eventName: GetSecretValue, eventName: DeleteSecret}\n"
	    "    title: x\n"
	    "    title: y\n",
	    "rules.yaml:5:5: duplicate key 'title' (first at line 4)\n"
	    "rules.yaml:3:40: duplicate key 'eventName' (first at line 3)",
	    "duplicate keys");
	load_err("rules:\n"
		 "  - id: \"e f\"\n"
		 "    match: {eventName: GetSecretValue}\n"
		 "  - id: \"a\\tb\"\n"
		 "    match: {eventName: GetSecretValue}\n"
		 "  - id: ~\n"
		 "    match: {eventName: GetSecretValue}\n"
		 "  - id: \"\"\n"
		 "    match: {eventName: GetSecretValue}\n",
	    "rules.yaml:2:9: bad rule id 'e f' (use letters, digits, '.', '_' and '-', at most 128)\n"
	    "rules.yaml:4:9: bad rule id 'a\\x09b' (use letters, digits, '.', '_' and '-', at most 128)\n"
	    "rules.yaml:6:9: expected a string for 'id'\n"
	    "rules.yaml:8:9: bad rule id '' (use letters, digits, '.', '_' and '-', at most 128)",
	    "bad rule ids");
	o = (size_t)snprintf(text, sizeof(text), "rules:\n  - id: ");
	for (i = 0; i < 129; i++)
		text[o++] = 'x';
	(void)snprintf(text + o, sizeof(text) - o,
	    "\n    match: {eventName: GetSecretValue}\n");
	load_err(text,
	    "rules.yaml:2:9: bad rule id 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' (use letters, digits, '.', '_' and '-', at most 128)",
	    "rule id too long (and the message cut)");
	load_err("rules:\n"
		 "  - id: a\n"
		 "    match: {eventName: GetSecretValue}\n"
		 "    severity: critcal\n"
		 "  - id: b\n"
		 "    match: {eventName: GetSecretValue}\n"
		 "    severity: [error]\n",
	    "rules.yaml:4:15: unknown severity 'critcal' (expected info, warning, error or critical)\n"
	    "rules.yaml:7:15: expected a string for 'severity'",
	    "bad severity");
	load_err("rules:\n"
		 "  - id: a\n"
		 "    match: {eventName: GetSecretValue}\n"
		 "    throttle: 5x\n"
		 "    group_wait: -1\n"
		 "  - id: b\n"
		 "    match: {eventName: GetSecretValue}\n"
		 "    throttle: 1.5m\n"
		 "    group_wait: 400d\n"
		 "  - id: c\n"
		 "    match: {eventName: GetSecretValue}\n"
		 "    throttle: 99999999999999999999999\n"
		 "    group_wait: [1]\n"
		 "  - id: d\n"
		 "    match: {eventName: GetSecretValue}\n"
		 "    throttle: \"\"\n"
		 "    group_wait: 5 m\n",
	    "rules.yaml:4:15: bad duration '5x' for 'throttle' (expected seconds, or a number followed by s, m, h or d)\n"
	    "rules.yaml:5:17: bad duration '-1' for 'group_wait' (expected seconds, or a number followed by s, m, h or d)\n"
	    "rules.yaml:8:15: bad duration '1.5m' for 'throttle' (expected seconds, or a number followed by s, m, h or d)\n"
	    "rules.yaml:9:17: duration '400d' for 'group_wait' is longer than 365d\n"
	    "rules.yaml:12:15: duration '99999999999999999999999' for 'throttle' is longer than 365d\n"
	    "rules.yaml:13:17: expected a duration for 'group_wait' (seconds, or a number followed by s, m, h or d)\n"
	    "rules.yaml:16:15: bad duration '' for 'throttle' (expected seconds, or a number followed by s, m, h or d)\n"
	    "rules.yaml:17:17: bad duration '5 m' for 'group_wait' (expected seconds, or a number followed by s, m, h or d)",
	    "bad durations");
	load_err("rules:\n"
		 "  - id: a\n"
		 "    match: {eventName: GetSecretValue}\n"
		 "    title: [x]\n"
		 "    enabled: maybe\n"
		 "    destinations: [a, \"\"]\n"
		 "    group_by: {a: b}\n"
		 "    summary: {a: b}\n"
		 "  - id: b\n"
		 "    match: {eventName: GetSecretValue}\n"
		 "    enabled: \"true\"\n"
		 "    destinations: {a: b}\n"
		 "    group_by: [secretId, \"\"]\n",
	    "rules.yaml:4:12: expected a string for 'title'\n"
	    "rules.yaml:5:14: expected true or false for 'enabled'\n"
	    "rules.yaml:6:23: empty name in 'destinations'\n"
	    "rules.yaml:7:15: expected a field path\n"
	    "rules.yaml:8:14: expected a string for 'summary'\n"
	    "rules.yaml:11:14: expected true or false for 'enabled'\n"
	    "rules.yaml:12:19: expected a string for 'destinations'\n"
	    "rules.yaml:13:26: empty field path",
	    "wrong types for rule settings");
	load_err("rules:\n"
		 "  - id: a\n"
		 "    match: {eventName: GetSecretValue}\n"
		 "    summary: \"{{eventName\"\n"
		 "  - id: b\n"
		 "    match: {eventName: GetSecretValue}\n"
		 "    summary: \"x {{ }} y\"\n"
		 "  - id: c\n"
		 "    match: {eventName: GetSecretValue}\n"
		 "    summary: \"{{a..b}}\"\n",
	    "rules.yaml:4:14: unterminated '{{' in summary\n"
	    "rules.yaml:7:14: empty placeholder in summary\n"
	    "rules.yaml:10:14: empty segment in field path 'a..b' in summary",
	    "bad summary templates");
}

/* ---- condition errors ------------------------------------------------- */

static void
test_condition_errors(void)
{
	char text[8192];
	char want[1024];
	char re_err[256];
	regex_t re;
	size_t o;
	int rc;
	int i;

	load_err(
	    "rules:\n  - id: a\n    match:\n      eventName: {regexp: a}\n",
	    "rules.yaml:4:19: unknown operator 'regexp' (did you mean 'regex'?)",
	    "unknown operator with a suggestion");
	load_err(
	    "rules:\n  - id: a\n    match:\n      eventName: {startswith: a}\n",
	    "rules.yaml:4:19: unknown operator 'startswith'",
	    "unknown operator");
	load_err(
	    "rules:\n  - id: a\n    match:\n      eventName: {exist: true}\n",
	    "rules.yaml:4:19: unknown operator 'exist' (did you mean 'exists'?)",
	    "unknown operator 'exist'");
	load_err(
	    "rules:\n  - id: a\n    match: {edgeDeviceDetails.x: {prefix: a, suffix: b}}\n",
	    "rules.yaml:3:46: more than one operator in a condition ('prefix' and 'suffix'); combine them with 'all'",
	    "two operators in one mapping");
	load_err("rules:\n  - id: a\n    match: {edgeDeviceDetails.x: {}}\n",
	    "rules.yaml:3:34: empty condition (expected an operator such as 'prefix' or 'regex')",
	    "empty condition mapping");
	load_err("rules:\n  - id: a\n    match: {edgeDeviceDetails.x: []}\n",
	    "rules.yaml:3:34: empty list of conditions", "empty list");
	load_err("rules:\n  - id: a\n    match: {}\n",
	    "rules.yaml:3:12: empty 'match' (expected at least one condition)",
	    "empty match");
	load_err("rules:\n  - id: a\n    match: [eventName]\n",
	    "rules.yaml:3:12: expected a mapping of field paths to conditions for 'match'",
	    "match is a list");
	load_err("rules:\n"
		 "  - id: a\n"
		 "    match:\n"
		 "      edgeDeviceDetails.p: {prefix: [x]}\n"
		 "      edgeDeviceDetails.e: {exists: yes}\n"
		 "      edgeDeviceDetails.g: {gt: abc}\n"
		 "      edgeDeviceDetails.n: {any: x}\n"
		 "      edgeDeviceDetails.c: {cidr: ~}\n"
		 "      edgeDeviceDetails.s: {suffix: {a: b}}\n"
		 "      edgeDeviceDetails.t: {exists: \"true\"}\n"
		 "      edgeDeviceDetails.u: {le: [1]}\n"
		 "      edgeDeviceDetails.v: {all: {a: b}}\n",
	    "rules.yaml:4:37: expected a string for 'prefix'\n"
	    "rules.yaml:5:37: expected true or false for 'exists'\n"
	    "rules.yaml:6:33: expected a number for 'gt'\n"
	    "rules.yaml:7:34: expected a list of conditions for 'any'\n"
	    "rules.yaml:8:35: expected a string for 'cidr'\n"
	    "rules.yaml:9:37: expected a string for 'suffix'\n"
	    "rules.yaml:10:37: expected true or false for 'exists'\n"
	    "rules.yaml:11:33: expected a number for 'le'\n"
	    "rules.yaml:12:34: expected a list of conditions for 'all'",
	    "wrong operand types");
	load_err("rules:\n"
		 "  - id: a\n"
		 "    match:\n"
		 "      any: {eventName: GetSecretValue}\n"
		 "      all: []\n"
		 "      not: [x]\n"
		 "      [x]: 1\n",
	    "rules.yaml:4:12: expected a list of match mappings for 'any'\n"
	    "rules.yaml:5:12: expected a list of match mappings for 'all'\n"
	    "rules.yaml:6:12: expected a mapping of field paths to conditions for 'not'\n"
	    "rules.yaml:7:7: expected a field path",
	    "wrong types for match combinators");
	load_err("rules:\n"
		 "  - id: a\n"
		 "    match:\n"
		 "      any: [x, {eventName: GetSecretValue}]\n",
	    "rules.yaml:4:13: expected a mapping of field paths to conditions for 'any'",
	    "any item is not a mapping");

	/* Regular expressions: regcomp's own words, and our guards. */
	rc = regcomp(&re, "a(", REG_EXTENDED | REG_NOSUB);
	(void)regerror(rc, &re, re_err, sizeof(re_err));
	if (rc == 0)
		regfree(&re);
	(void)snprintf(want, sizeof(want), "rules.yaml:3:42: bad regex: %s",
	    re_err);
	load_err(
	    "rules:\n  - id: a\n    match: {edgeDeviceDetails.x: {regex: \"a(\"}}\n",
	    want, "bad regex");
	load_err(
	    "rules:\n  - id: a\n    match: {edgeDeviceDetails.x: {regex: \"(a)\\\\1\"}}\n",
	    "rules.yaml:3:42: bad regex: back-references are not supported",
	    "regex back-reference");
	load_err(
	    "rules:\n  - id: a\n    match: {edgeDeviceDetails.x: {regex: \"((a{1,100}){1,100}){1,100}\"}}\n",
	    "rules.yaml:3:42: bad regex: too complex (counted repetitions expand too far)",
	    "regex blow-up");
	load_err(
	    "rules:\n  - id: a\n    match: {edgeDeviceDetails.x: {regex: \"(a{1,100}){,100}\"}}\n",
	    "rules.yaml:3:42: bad regex: too complex (counted repetitions expand too far)",
	    "regex blow-up with {,n}");
	load_err(
	    "rules:\n  - id: a\n    match: {edgeDeviceDetails.x: {regex: \"a{1,30000}\"}}\n",
	    "rules.yaml:3:42: bad regex: repetition count above 255",
	    "regex repetition too large");
	load_err(
	    "rules:\n  - id: a\n    match: {edgeDeviceDetails.x: {regex: \"a{256}\"}}\n",
	    "rules.yaml:3:42: bad regex: repetition count above 255",
	    "regex repetition 256");
	o = (size_t)snprintf(text, sizeof(text), "rules:\n");
	for (i = 0; i < 18; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o,
		    "  - {id: r%d, match: {userAgent: {regex: \"(a{1,64}){1,63}\"}}}\n",
		    i);
	load_err(text,
	    "rules.yaml:18:42: bad regex: the file's regexes are too complex together\n"
	    "rules.yaml:19:42: bad regex: the file's regexes are too complex together",
	    "regex budget for the whole file");
	load_err(
	    "rules:\n  - id: a\n    match: {edgeDeviceDetails.x: {regex: \"[a-z]{2}(x+|y{3,5})+\"}}\n"
	    "    title: ok\n    enabled: 1\n",
	    "rules.yaml:5:14: expected true or false for 'enabled'",
	    "a reasonable regex passes");
	o = (size_t)snprintf(text, sizeof(text),
	    "rules:\n  - id: a\n    match: {edgeDeviceDetails.x: {regex: ");
	for (i = 0; i < 1025; i++)
		text[o++] = 'a';
	(void)snprintf(text + o, sizeof(text) - o, "}}\n");
	load_err(text, "rules.yaml:3:42: bad regex: longer than 1024 bytes",
	    "regex too long");
	load_err(
	    "rules:\n  - id: a\n    match: {edgeDeviceDetails.x: {glob: \"a\\0b\"}}\n",
	    "rules.yaml:3:41: NUL byte in pattern for 'glob'", "glob with NUL");

	/* CIDR. */
	load_err("rules:\n"
		 "  - id: a\n"
		 "    match:\n"
		 "      sourceIPAddress: {cidr: 10.0.0.0/33}\n"
		 "  - id: b\n"
		 "    match:\n"
		 "      sourceIPAddress: {cidr: bogus}\n"
		 "  - id: c\n"
		 "    match:\n"
		 "      sourceIPAddress: {cidr: 10.0.0.1/8}\n"
		 "  - id: d\n"
		 "    match:\n"
		 "      sourceIPAddress: {cidr: \"2001:db8::1/32\"}\n"
		 "  - id: e\n"
		 "    match:\n"
		 "      sourceIPAddress: {cidr: 10.0.0.0/}\n"
		 "  - id: f\n"
		 "    match:\n"
		 "      sourceIPAddress: {cidr: 10.0.0.0/x}\n"
		 "  - id: g\n"
		 "    match:\n"
		 "      sourceIPAddress: {cidr: \"2001:db8::/129\"}\n",
	    "rules.yaml:4:31: bad CIDR '10.0.0.0/33' (expected an address and prefix length such as '10.0.0.0/8' or '2001:db8::/32')\n"
	    "rules.yaml:7:31: bad CIDR 'bogus' (expected an address and prefix length such as '10.0.0.0/8' or '2001:db8::/32')\n"
	    "rules.yaml:10:31: bad CIDR '10.0.0.1/8' (host bits set; did you mean '10.0.0.0/8'?)\n"
	    "rules.yaml:13:31: bad CIDR '2001:db8::1/32' (host bits set; did you mean '2001:db8::/32'?)\n"
	    "rules.yaml:16:31: bad CIDR '10.0.0.0/' (expected an address and prefix length such as '10.0.0.0/8' or '2001:db8::/32')\n"
	    "rules.yaml:19:31: bad CIDR '10.0.0.0/x' (expected an address and prefix length such as '10.0.0.0/8' or '2001:db8::/32')\n"
	    "rules.yaml:22:31: bad CIDR '2001:db8::/129' (expected an address and prefix length such as '10.0.0.0/8' or '2001:db8::/32')",
	    "bad CIDRs");

	/* Field paths. */
	load_err("rules:\n"
		 "  - id: a\n"
		 "    match: {\"\": x}\n"
		 "  - id: b\n"
		 "    match: {requestParameters..b: x}\n"
		 "  - id: c\n"
		 "    match: {requestParameters.: x}\n"
		 "  - id: d\n"
		 "    match: {.eventName: x}\n",
	    "rules.yaml:3:13: empty field path\n"
	    "rules.yaml:5:13: empty segment in field path 'requestParameters..b'\n"
	    "rules.yaml:7:13: empty segment in field path 'requestParameters.'\n"
	    "rules.yaml:9:13: empty segment in field path '.eventName'",
	    "bad field paths");
}

/* ---- nesting ---------------------------------------------------------- */

/* "match: {eventName: {not: {not: ... GetSecretValue}}}" n levels deep. */
static void
nested_cond(char *text, size_t size, int n)
{
	size_t o;
	int i;

	o = (size_t)snprintf(text, size,
	    "rules:\n  - id: a\n    match: {eventName: ");
	for (i = 0; i < n; i++)
		o += (size_t)snprintf(text + o, size - o, "{not: ");
	o += (size_t)snprintf(text + o, size - o, "GetSecretValue");
	for (i = 0; i < n; i++)
		text[o++] = '}';
	(void)snprintf(text + o, size - o, "}\n");
}

/* "match: {not: {not: ... {eventName: GetSecretValue}}}" n levels deep. */
static void
nested_match(char *text, size_t size, int n)
{
	size_t o;
	int i;

	o = (size_t)snprintf(text, size, "rules:\n  - id: a\n    match: ");
	for (i = 0; i < n; i++)
		o += (size_t)snprintf(text + o, size - o, "{not: ");
	o +=
	    (size_t)snprintf(text + o, size - o, "{eventName: GetSecretValue}");
	for (i = 0; i < n; i++)
		text[o++] = '}';
	(void)snprintf(text + o, size - o, "\n");
}

static void
test_nesting(void)
{
	char text[8192];
	struct rules *rs;
	struct json_object *rec;
	size_t o;
	int i;

	nested_cond(text, sizeof(text), 16);
	rs = load_ok(text, "16 nested not: (condition level)");
	rec = json_tokener_parse("{\"eventName\":\"GetSecretValue\"}");
	if (rs != NULL)
		ok(rules_match_eval(rules_get(rs, 0)->match, rec),
		    "16 nots: an even count is the identity");
	rules_free(rs);
	nested_cond(text, sizeof(text), 17);
	load_err(text, "rules.yaml:3:121: nesting deeper than 16 levels",
	    "17 nested not: (condition level)");
	nested_cond(text, sizeof(text), 100);
	load_err(text, "rules.yaml:3:121: nesting deeper than 16 levels",
	    "100 nested not: (condition level)");

	nested_match(text, sizeof(text), 16);
	rs = load_ok(text, "16 nested not: (match level)");
	if (rs != NULL)
		ok(rules_match_eval(rules_get(rs, 0)->match, rec),
		    "16 match-level nots: the identity");
	rules_free(rs);
	nested_match(text, sizeof(text), 17);
	load_err(text, "rules.yaml:3:109: nesting deeper than 16 levels",
	    "17 nested not: (match level)");
	nested_match(text, sizeof(text), 100);
	load_err(text, "rules.yaml:3:109: nesting deeper than 16 levels",
	    "100 nested not: (match level)");

	/* Lists count as a level: 17 nested lists. */
	o = (size_t)snprintf(text, sizeof(text),
	    "rules:\n  - id: a\n    match: {eventName: ");
	for (i = 0; i < 17; i++)
		text[o++] = '[';
	o += (size_t)snprintf(text + o, sizeof(text) - o, "GetSecretValue");
	for (i = 0; i < 17; i++)
		text[o++] = ']';
	(void)snprintf(text + o, sizeof(text) - o, "}\n");
	load_err(text, "rules.yaml:3:40: nesting deeper than 16 levels",
	    "17 nested lists");

	/* Mixed: match-level any: and condition-level all: share the count. */
	o = (size_t)snprintf(text, sizeof(text),
	    "rules:\n  - id: a\n    match: ");
	for (i = 0; i < 10; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "{any: [");
	o += (size_t)snprintf(text + o, sizeof(text) - o, "{eventName: ");
	for (i = 0; i < 10; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "{all: [");
	o += (size_t)snprintf(text + o, sizeof(text) - o, "GetSecretValue");
	for (i = 0; i < 10; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "]}");
	o += (size_t)snprintf(text + o, sizeof(text) - o, "}");
	for (i = 0; i < 10; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "]}");
	(void)snprintf(text + o, sizeof(text) - o, "\n");
	load_err(text, "rules.yaml:3:137: nesting deeper than 16 levels",
	    "10 any: around 10 all:");
	json_object_put(rec);
}

/* ---- warnings --------------------------------------------------------- */

static void
test_warnings(void)
{
	static const char text[] =
	    "rules:\n"
	    "  - id: a\n"
	    "    match:\n"
	    "      eventName: [RotationFaild, getsecretvalue, Frobnicate]\n"
	    "    resolve_on:\n"
	    "      eventName: {not: DeleteSecrt}\n"
	    "  - id: b\n"
	    "    match:\n"
	    "      any: [{eventName: PutResourcePolcy}, {eventName: {prefix: Rot}}]\n"
	    "      eventname: GetSecretValue\n"
	    "    summary: \"{{userIdentiy.arn}}\"\n";
	static const char want[] =
	    "rules.yaml:4:19: unknown event name 'RotationFaild' (did you mean 'RotationFailed'?)\n"
	    "rules.yaml:4:34: unknown event name 'getsecretvalue' (did you mean 'GetSecretValue'?)\n"
	    "rules.yaml:4:50: unknown event name 'Frobnicate'\n"
	    "rules.yaml:6:24: unknown event name 'DeleteSecrt' (did you mean 'DeleteSecret'?)\n"
	    "rules.yaml:9:25: unknown event name 'PutResourcePolcy' (did you mean 'PutResourcePolicy'?)\n"
	    "rules.yaml:10:7: unknown CloudTrail field 'eventname' (did you mean 'eventName'?)\n"
	    "rules.yaml:11:14: unknown CloudTrail field 'userIdentiy' (did you mean 'userIdentity'?)";
	struct rules *rs = NULL;
	unsigned i;
	int r;

	r = load(text, false, &rs);
	is_int(r, 0, "warnings: loads");
	is_int(dl.warnings, 7, "warnings: 7 warnings");
	is_int(dl.errors, 0, "warnings: no errors");
	is_str(diags(), want, "warnings: diagnostics");
	for (i = 0; i < dl.n; i++)
		ok(dl.items[i].warning, "warnings: item %u is a warning", i);
	is_int((long long)rules_count(rs), 2, "warnings: both rules loaded");
	rules_free(rs);

	rs = (struct rules *)&dl;
	r = load(text, true, &rs);
	is_int(r, -EINVAL, "strict: -EINVAL");
	ok(rs == (struct rules *)&dl, "strict: ret untouched");
	is_int(dl.errors, 7, "strict: 7 errors");
	is_int(dl.warnings, 0, "strict: no warnings");
	is_str(diags(), want, "strict: same diagnostics");
	ok(dl.n > 0 && !dl.items[0].warning, "strict: items are errors");

	rs = load_ok(
	    "rules:\n"
	    "  - id: a\n"
	    "    match:\n"
	    "      eventName: [BatchGetSecretValue, TestRotationFailed]\n"
	    "      errorCode: {prefix: Access}\n",
	    "known event names: no warning");
	rules_free(rs);
}

/* ---- successful loads ------------------------------------------------- */

static void
test_settings(void)
{
	struct rules *rs;
	const struct rule *r;
	size_t i;

	rs =
	    load_ok("rules:\n"
		    "  - id: minimal\n"
		    "    match: {eventName: GetSecretValue}\n"
		    "  - id: full.rule_1-x\n"
		    "    title: A full rule\n"
		    "    severity: critical\n"
		    "    enabled: false\n"
		    "    match: {eventName: DeleteSecret}\n"
		    "    group_by: [userIdentity.arn, secretId]\n"
		    "    summary: \"{{ eventName }} by {{userIdentity.arn}}\"\n"
		    "    destinations: [pager, slack-ops]\n"
		    "    throttle: 5m\n"
		    "    group_wait: 30\n"
		    "    resolve_on: {eventName: RestoreSecret}\n"
		    "  - id: c\n"
		    "    match: {eventName: GetSecretValue}\n"
		    "    group_by: awsRegion\n"
		    "    destinations: pager\n"
		    "    throttle: 30s\n"
		    "    group_wait: 2h\n"
		    "    severity: info\n"
		    "  - id: d\n"
		    "    match: {eventName: GetSecretValue}\n"
		    "    group_by: []\n"
		    "    throttle: 7d\n"
		    "    group_wait: 0\n"
		    "    severity: error\n"
		    "    enabled: true\n"
		    "  - id: anchored\n"
		    "    match: &only_an_anchor {eventName: GetSecretValue}\n"
		    "    title: \"\"\n",
		"settings");
	if (rs == NULL)
		return;
	is_int((long long)rules_count(rs), 5, "five rules");
	ok(rules_get(rs, 5) == NULL, "rules_get past the end");
	ok(rules_find(rs, "nope") == NULL, "rules_find unknown");
	r = rules_find(rs, "minimal");
	ok(r == rules_get(rs, 0), "rules_find minimal");
	is_str(r->id, "minimal", "id");
	is_str(r->title, "minimal", "title defaults to id");
	is_str(rules_severity_str(r->severity), "warning",
	    "severity defaults to warning");
	ok(r->enabled, "enabled by default");
	ok(r->summary == NULL, "summary NULL (default)");
	is_int((long long)r->n_group_by, 1, "group_by default: one path");
	is_str(r->n_group_by > 0 ? record_path_str(r->group_by[0]) : NULL,
	    "secretId", "group_by default secretId");
	ok(r->destinations == NULL && r->n_destinations == 0,
	    "no destinations");
	is_int((long long)r->throttle_us, 0, "no throttle");
	is_int((long long)r->group_wait_us, 0, "no group_wait");
	ok(r->resolve_on == NULL, "no resolve_on");
	is_int(r->line, 2, "line of the rule");

	r = rules_get(rs, 1);
	is_str(r->id, "full.rule_1-x", "full: id");
	is_str(r->title, "A full rule", "full: title");
	is_int(r->severity, RULES_SEV_CRITICAL, "full: critical");
	ok(!r->enabled, "full: disabled");
	is_int((long long)r->n_group_by, 2, "full: two group_by paths");
	is_str(r->summary, "{{ eventName }} by {{userIdentity.arn}}",
	    "full: summary kept as written");
	is_int((long long)r->n_destinations, 2, "full: two destinations");
	if (r->n_destinations == 2) {
		is_str(r->destinations[0], "pager", "full: destination 0");
		is_str(r->destinations[1], "slack-ops", "full: destination 1");
	}
	is_int((long long)r->throttle_us, 300000000LL, "full: 5m");
	is_int((long long)r->group_wait_us, 30000000LL, "full: 30 seconds");
	ok(r->resolve_on != NULL, "full: resolve_on");
	is_int(r->line, 4, "full: line");

	r = rules_get(rs, 2);
	is_int((long long)r->n_group_by, 1, "c: one group_by path");
	is_int((long long)r->n_destinations, 1, "c: a single destination");
	is_int((long long)r->throttle_us, 30000000LL, "c: 30s");
	is_int((long long)r->group_wait_us, 7200000000LL, "c: 2h");
	is_int(r->severity, RULES_SEV_INFO, "c: info");

	r = rules_get(rs, 3);
	is_int((long long)r->n_group_by, 0, "d: empty group_by");
	is_int((long long)r->throttle_us, 604800000000LL, "d: 7d");
	is_int((long long)r->group_wait_us, 0, "d: 0");
	is_int(r->severity, RULES_SEV_ERROR, "d: error");
	ok(r->enabled, "d: enabled: true");

	r = rules_get(rs, 4);
	is_str(r->title, "", "anchors without aliases are fine; empty title");
	rules_free(rs);

	rs = load_ok("rules:\n", "rules: with nothing");
	is_int((long long)rules_count(rs), 0, "no rules");
	rules_free(rs);
	rs = load_ok("rules: []\n", "rules: []");
	is_int((long long)rules_count(rs), 0, "empty list");
	rules_free(rs);
	rules_free(NULL);
	ok(1, "rules_free(NULL) is a no-op");
	is_int((long long)rules_count(NULL), 0, "rules_count(NULL)");

	for (i = 0; i < RULES_SEV_COUNT; i++) {
		enum rules_severity s = RULES_SEV_COUNT;

		is_int(rules_severity_parse(rules_severity_str(i), &s), 0,
		    "severity %zu parses", i);
		is_int(s, (long long)i, "severity %zu round-trips", i);
	}
	{
		enum rules_severity s = RULES_SEV_INFO;

		is_int(rules_severity_parse("Critical", &s), -EINVAL,
		    "severity is case-sensitive");
		is_int(s, RULES_SEV_INFO, "severity untouched on failure");
	}
	for (i = 0; rules_known_events[i] != NULL; i++)
		;
	is_int((long long)i, 33, "33 known event names");
	ok(rules_match_eval(NULL, NULL) == false, "NULL match never holds");
}

/* ---- matching --------------------------------------------------------- */

static void
test_match_scalars(void)
{
	/* Strings, byte for byte. */
	is_int(match("{eventName: GetSecretValue}",
		   "{\"eventName\":\"GetSecretValue\"}"),
	    1, "eq string");
	is_int(match("{eventName: GetSecretValue}",
		   "{\"eventName\":\"getsecretvalue\"}"),
	    0, "eq string is case-sensitive");
	is_int(match("{eventName: GetSecretValue}", "{}"), 0,
	    "eq string, absent");
	is_int(match("{requestParameters.x: \"30\"}",
		   "{\"requestParameters\":{\"x\":30}}"),
	    0, "eq string vs number");
	is_int(match("{requestParameters.x: \"30\"}",
		   "{\"requestParameters\":{\"x\":\"30\"}}"),
	    1, "quoted number is a string");
	is_int(match("{requestParameters.x: abc}",
		   "{\"requestParameters\":{\"x\":[\"abc\"]}}"),
	    0, "eq string vs array: no match");
	is_int(match("{requestParameters.x: abc}",
		   "{\"requestParameters\":{\"x\":{\"abc\":1}}}"),
	    0, "eq string vs object: no match");
	is_int(match("{requestParameters.x: \"a\\0b\"}",
		   "{\"requestParameters\":{\"x\":\"a\\u0000b\"}}"),
	    1, "eq string with an embedded NUL");
	is_int(match("{requestParameters.x: \"a\\0b\"}",
		   "{\"requestParameters\":{\"x\":\"a\"}}"),
	    0, "eq string with an embedded NUL vs its prefix");
	/* Numbers. */
	is_int(match("{requestParameters.n: 30}",
		   "{\"requestParameters\":{\"n\":30}}"),
	    1, "eq int");
	is_int(match("{requestParameters.n: 30}",
		   "{\"requestParameters\":{\"n\":7}}"),
	    0, "eq int, other value");
	is_int(match("{requestParameters.n: 30}",
		   "{\"requestParameters\":{\"n\":30.0}}"),
	    1, "eq int vs double");
	is_int(match("{requestParameters.n: 30}",
		   "{\"requestParameters\":{\"n\":\"30\"}}"),
	    0, "eq int vs numeric string");
	is_int(match("{requestParameters.n: 1.5}",
		   "{\"requestParameters\":{\"n\":1.5}}"),
	    1, "eq float");
	is_int(match("{requestParameters.n: 1.0}",
		   "{\"requestParameters\":{\"n\":1}}"),
	    1, "eq float vs int");
	is_int(match("{requestParameters.n: 1.5}",
		   "{\"requestParameters\":{\"n\":1}}"),
	    0, "eq float, other value");
	is_int(match("{requestParameters.n: -2}",
		   "{\"requestParameters\":{\"n\":-2}}"),
	    1, "eq negative int");
	is_int(match("{requestParameters.n: 1e3}",
		   "{\"requestParameters\":{\"n\":1000}}"),
	    1, "eq exponent");
	is_int(match("{requestParameters.n: 9223372036854775807}",
		   "{\"requestParameters\":{\"n\":9223372036854775807}}"),
	    1, "eq int64 max, exactly");
	is_int(match("{requestParameters.n: 9223372036854775807}",
		   "{\"requestParameters\":{\"n\":9223372036854775806}}"),
	    0, "eq int64 max - 1, exactly");
	is_int(match("{requestParameters.n: 0x10}",
		   "{\"requestParameters\":{\"n\":\"0x10\"}}"),
	    1, "hex is a string");
	/* Booleans. */
	is_int(match("{readOnly: true}", "{\"readOnly\":true}"), 1, "eq true");
	is_int(match("{readOnly: true}", "{\"readOnly\":false}"), 0,
	    "eq true vs false");
	is_int(match("{readOnly: false}", "{\"readOnly\":false}"), 1,
	    "eq false");
	is_int(match("{readOnly: True}", "{\"readOnly\":true}"), 1, "eq True");
	is_int(match("{readOnly: true}", "{\"readOnly\":\"true\"}"), 0,
	    "eq true vs string");
	is_int(match("{readOnly: \"true\"}", "{\"readOnly\":true}"), 0,
	    "quoted true is a string");
	is_int(match("{readOnly: \"true\"}", "{\"readOnly\":\"true\"}"), 1,
	    "quoted true vs string");
	is_int(match("{readOnly: yes}", "{\"readOnly\":\"yes\"}"), 1,
	    "yes is a string (YAML 1.2)");
	is_int(match("{readOnly: true}", "{}"), 0, "eq true, absent");
	is_int(match("{readOnly: true}", "{\"readOnly\":1}"), 0,
	    "eq true vs 1");
	/* Null: null or absent. */
	is_int(match("{errorCode: null}", "{}"), 1, "null: absent");
	is_int(match("{errorCode: null}", "{\"errorCode\":null}"), 1,
	    "null: JSON null");
	is_int(match("{errorCode: ~}", "{}"), 1, "~: absent");
	is_int(match("{errorCode: null}", "{\"errorCode\":\"x\"}"), 0,
	    "null: present");
	is_int(match("{errorCode: null}", "{\"errorCode\":\"\"}"), 0,
	    "null: empty string is present");
	is_int(match("{errorCode: \"null\"}", "{}"), 0,
	    "quoted null is a string");
	is_int(match("{requestParameters.x: null}",
		   "{\"requestParameters\":null}"),
	    1, "null: parent null");
	/* Lists: any of. */
	is_int(match("{eventName: [DeleteSecret, GetSecretValue]}",
		   "{\"eventName\":\"GetSecretValue\"}"),
	    1, "list: second");
	is_int(match("{eventName: [DeleteSecret, GetSecretValue]}",
		   "{\"eventName\":\"DeleteSecret\"}"),
	    1, "list: first");
	is_int(match("{eventName: [DeleteSecret, GetSecretValue]}",
		   "{\"eventName\":\"ListSecrets\"}"),
	    0, "list: none");
	is_int(match("{errorCode: [null, AccessDenied]}", "{}"), 1,
	    "list with null: absent");
	is_int(match("{errorCode: [null, AccessDenied]}",
		   "{\"errorCode\":\"AccessDenied\"}"),
	    1, "list with null: string");
	is_int(match("{requestParameters.n: [1, {gt: 10}]}",
		   "{\"requestParameters\":{\"n\":11}}"),
	    1, "list with an operator");
	is_int(match("{requestParameters.n: [1, {gt: 10}]}",
		   "{\"requestParameters\":{\"n\":5}}"),
	    0, "list with an operator, none");
	/* Several fields: all must hold. */
	is_int(
	    match("{eventName: GetSecretValue, errorCode: AccessDenied}",
		"{\"eventName\":\"GetSecretValue\",\"errorCode\":\"AccessDenied\"}"),
	    1, "two fields, both hold");
	is_int(match("{eventName: GetSecretValue, errorCode: AccessDenied}",
		   "{\"eventName\":\"GetSecretValue\"}"),
	    0, "two fields, one fails");
	/* Paths. */
	is_int(
	    match("{resources.0.ARN: {prefix: \"arn:aws:secretsmanager:\"}}",
		"{\"resources\":[{\"ARN\":\"arn:aws:secretsmanager:us-east-1:1:secret:x\"}]}"),
	    1, "array index path");
	is_int(match("{resources.1.ARN: {exists: true}}",
		   "{\"resources\":[{\"ARN\":\"a\"}]}"),
	    0, "array index past the end");
	is_int(
	    match(
		"{userIdentity.sessionContext.attributes.mfaAuthenticated: \"true\"}",
		"{\"userIdentity\":{\"sessionContext\":{\"attributes\":{\"mfaAuthenticated\":\"true\"}}}}"),
	    1, "deep path");
}

static void
test_match_secret_id(void)
{
	static const char *const recs[] = {
	    "{\"requestParameters\":{\"secretId\":\"prod/db\"}}",
	    "{\"additionalEventData\":{\"SecretId\":\"prod/db\"}}",
	    "{\"responseElements\":{\"aRN\":\"prod/db\"}}",
	    "{\"responseElements\":{\"arn\":\"prod/db\"}}",
	    "{\"requestParameters\":{\"name\":\"prod/db\"}}",
	};
	static const char *const names[] = {"requestParameters.secretId",
	    "additionalEventData.SecretId", "responseElements.aRN",
	    "responseElements.arn", "requestParameters.name"};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(recs); i++)
		is_int(match("{secretId: prod/db}", recs[i]), 1,
		    "secretId from %s", names[i]);
	is_int(match("{secretId: prod/db}",
		   "{\"requestParameters\":{\"secretId\":\"other\"},"
		   "\"responseElements\":{\"arn\":\"prod/db\"}}"),
	    1, "secretId: the ARN in responseElements first");
	is_int(match("{secretId: null}", "{\"eventName\":\"ListSecrets\"}"), 1,
	    "secretId absent");
	is_int(
	    match("{secretId: {prefix: \"arn:aws:secretsmanager:\"}}",
		"{\"responseElements\":{\"aRN\":\"arn:aws:secretsmanager:us-east-2:1:secret:x\"}}"),
	    1, "secretId prefix on aRN");
}

static void
test_match_operators(void)
{
	static const char s[] =
	    "{\"requestParameters\":{\"s\":\"GetSecretValue\",\"n\":30,"
	    "\"d\":2.5,\"ns\":\"30\",\"b\":true,\"z\":null,\"o\":{\"a\":1},"
	    "\"arr\":[\"GetSecretValue\"],\"e\":\"\",\"sp\":\" 30\","
	    "\"ip4\":\"10.1.2.3\",\"ip6\":\"2001:db8::1\","
	    "\"mapped\":\"::ffff:10.1.2.3\",\"svc\":\"secretsmanager.amazonaws.com\","
	    "\"bad\":\"172.01.01.001\",\"nan\":\"nan\",\"inf\":\"inf\","
	    "\"hex\":\"0x1f\",\"long\":\"10.1.2.3 and then some more text\"}}";

	/* exists */
	is_int(match("{requestParameters.s: {exists: true}}", s), 1,
	    "exists true: present");
	is_int(match("{requestParameters.q: {exists: true}}", s), 0,
	    "exists true: absent");
	is_int(match("{requestParameters.z: {exists: true}}", s), 0,
	    "exists true: JSON null");
	is_int(match("{requestParameters.e: {exists: true}}", s), 1,
	    "exists true: empty string");
	is_int(match("{requestParameters.q: {exists: false}}", s), 1,
	    "exists false: absent");
	is_int(match("{requestParameters.z: {exists: false}}", s), 1,
	    "exists false: JSON null");
	is_int(match("{requestParameters.s: {exists: false}}", s), 0,
	    "exists false: present");
	is_int(match("{requestParameters.o: {exists: true}}", s), 1,
	    "exists true: object");
	/* prefix, suffix, contains */
	is_int(match("{requestParameters.s: {prefix: Get}}", s), 1,
	    "prefix true");
	is_int(match("{requestParameters.s: {prefix: Put}}", s), 0,
	    "prefix false");
	is_int(match("{requestParameters.s: {prefix: GetSecretValueX}}", s), 0,
	    "prefix longer than the value");
	is_int(match("{requestParameters.s: {prefix: \"\"}}", s), 1,
	    "empty prefix");
	is_int(match("{requestParameters.n: {prefix: 3}}", s), 0,
	    "prefix on a number: no match");
	is_int(match("{requestParameters.arr: {prefix: Get}}", s), 0,
	    "prefix on an array: no match");
	is_int(match("{requestParameters.q: {prefix: Get}}", s), 0,
	    "prefix on absent: no match");
	is_int(match("{requestParameters.s: {suffix: Value}}", s), 1,
	    "suffix true");
	is_int(match("{requestParameters.s: {suffix: Get}}", s), 0,
	    "suffix false");
	is_int(match("{requestParameters.s: {suffix: XGetSecretValue}}", s), 0,
	    "suffix longer than the value");
	is_int(match("{requestParameters.b: {suffix: ue}}", s), 0,
	    "suffix on a boolean: no match");
	is_int(match("{requestParameters.s: {contains: Secret}}", s), 1,
	    "contains true");
	is_int(match("{requestParameters.s: {contains: secret}}", s), 0,
	    "contains is case-sensitive");
	is_int(match("{requestParameters.e: {contains: \"\"}}", s), 1,
	    "empty contains on an empty string");
	is_int(match("{requestParameters.o: {contains: a}}", s), 0,
	    "contains on an object: no match");
	is_int(match("{requestParameters.n: {contains: 30}}", s), 0,
	    "contains on a number: no match");
	/* glob */
	is_int(match("{requestParameters.s: {glob: \"Get*Value\"}}", s), 1,
	    "glob star");
	is_int(match("{requestParameters.s: {glob: \"?et*\"}}", s), 1,
	    "glob question mark");
	is_int(match("{requestParameters.s: {glob: \"[GD]et*\"}}", s), 1,
	    "glob bracket");
	is_int(match("{requestParameters.s: {glob: \"[!G]et*\"}}", s), 0,
	    "glob negated bracket");
	is_int(match("{requestParameters.s: {glob: \"Get\"}}", s), 0,
	    "glob is anchored");
	is_int(match("{requestParameters.s: {glob: \"*\"}}", s), 1,
	    "glob star alone");
	is_int(match("{requestParameters.n: {glob: \"*\"}}", s), 0,
	    "glob on a number: no match");
	/* regex */
	is_int(
	    match("{requestParameters.s: {regex: \"^Get(Secret|Random)\"}}", s),
	    1, "regex true");
	is_int(match("{requestParameters.s: {regex: \"^Put\"}}", s), 0,
	    "regex false");
	is_int(match("{requestParameters.s: {regex: \"cret\"}}", s), 1,
	    "regex unanchored");
	is_int(
	    match("{requestParameters.s: {regex: \"^[[:upper:]][a-z]+\"}}", s),
	    1, "regex class");
	is_int(match("{requestParameters.o: {regex: \".*\"}}", s), 0,
	    "regex on an object: no match");
	is_int(match("{requestParameters.q: {regex: \".*\"}}", s), 0,
	    "regex on absent: no match");
	is_int(match("{requestParameters.x: {regex: \"b$\"}}",
		   "{\"requestParameters\":{\"x\":\"a\\u0000b\"}}"),
	    1, "regex sees past an embedded NUL");
	/* cidr */
	is_int(match("{requestParameters.ip4: {cidr: 10.0.0.0/8}}", s), 1,
	    "cidr v4 true");
	is_int(match("{requestParameters.ip4: {cidr: 11.0.0.0/8}}", s), 0,
	    "cidr v4 false");
	is_int(match("{requestParameters.ip4: {cidr: 10.1.2.0/23}}", s), 1,
	    "cidr v4 odd prefix true");
	is_int(match("{requestParameters.ip4: {cidr: 10.1.4.0/23}}", s), 0,
	    "cidr v4 odd prefix false");
	is_int(match("{requestParameters.ip4: {cidr: 10.1.2.3}}", s), 1,
	    "cidr bare address: one host");
	is_int(match("{requestParameters.ip4: {cidr: 0.0.0.0/0}}", s), 1,
	    "cidr /0 matches any IPv4");
	is_int(match("{requestParameters.ip6: {cidr: \"2001:db8::/32\"}}", s),
	    1, "cidr v6 true");
	is_int(match("{requestParameters.ip6: {cidr: \"2001:db9::/32\"}}", s),
	    0, "cidr v6 false");
	is_int(match("{requestParameters.ip6: {cidr: 10.0.0.0/8}}", s), 0,
	    "cidr v6 address vs v4 net");
	is_int(match("{requestParameters.ip4: {cidr: \"2001:db8::/32\"}}", s),
	    0, "cidr v4 address vs v6 net");
	is_int(match("{requestParameters.mapped: {cidr: 10.0.0.0/8}}", s), 1,
	    "cidr v4-mapped v6 address vs v4 net");
	is_int(match("{requestParameters.ip4: {cidr: \"::ffff:10.0.0.0/104\"}}",
		   s),
	    1, "cidr v4 address vs v4-mapped v6 net");
	is_int(match("{requestParameters.svc: {cidr: 10.0.0.0/8}}", s), 0,
	    "cidr on a service name: no match");
	is_int(match("{requestParameters.bad: {cidr: 172.0.0.0/8}}", s), 0,
	    "cidr on a malformed address: no match");
	is_int(match("{requestParameters.long: {cidr: 10.0.0.0/8}}", s), 0,
	    "cidr on a long string: no match");
	is_int(match("{requestParameters.n: {cidr: 0.0.0.0/0}}", s), 0,
	    "cidr on a number: no match");
	/* numeric comparisons */
	is_int(match("{requestParameters.n: {gt: 7}}", s), 1, "gt true");
	is_int(match("{requestParameters.n: {gt: 30}}", s), 0, "gt equal");
	is_int(match("{requestParameters.n: {ge: 30}}", s), 1, "ge equal");
	is_int(match("{requestParameters.n: {ge: 31}}", s), 0, "ge false");
	is_int(match("{requestParameters.n: {lt: 31}}", s), 1, "lt true");
	is_int(match("{requestParameters.n: {lt: 30}}", s), 0, "lt equal");
	is_int(match("{requestParameters.n: {le: 30}}", s), 1, "le equal");
	is_int(match("{requestParameters.n: {le: 29.5}}", s), 0, "le false");
	is_int(match("{requestParameters.d: {gt: 2}}", s), 1, "gt on a double");
	is_int(match("{requestParameters.d: {lt: \"2.6\"}}", s), 1,
	    "quoted number operand");
	is_int(match("{requestParameters.ns: {gt: 7}}", s), 1,
	    "gt on a numeric string");
	is_int(match("{requestParameters.ns: {lt: 7}}", s), 0,
	    "lt on a numeric string, false");
	is_int(match("{requestParameters.sp: {gt: 7}}", s), 0,
	    "gt on a string with a space: no match");
	is_int(match("{requestParameters.s: {gt: 0}}", s), 0,
	    "gt on a word: no match");
	is_int(match("{requestParameters.nan: {lt: 1}}", s), 0,
	    "lt on \"nan\": no match");
	is_int(match("{requestParameters.inf: {gt: 1}}", s), 0,
	    "gt on \"inf\": no match");
	is_int(match("{requestParameters.hex: {gt: 1}}", s), 0,
	    "gt on \"0x1f\": no match");
	is_int(match("{requestParameters.b: {gt: 0}}", s), 0,
	    "gt on a boolean: no match");
	is_int(match("{requestParameters.q: {lt: 100}}", s), 0,
	    "lt on absent: no match");
	is_int(match("{requestParameters.z: {lt: 100}}", s), 0,
	    "lt on null: no match");
	is_int(match("{requestParameters.n: {gt: -1e2}}", s), 1,
	    "gt with an exponent operand");
}

static void
test_match_combinators(void)
{
	static const char get[] = "{\"eventName\":\"GetSecretValue\","
				  "\"errorCode\":\"AccessDenied\"}";
	static const char del[] = "{\"eventName\":\"DeleteSecret\"}";

	/* Condition level. */
	is_int(match("{eventName: {not: DeleteSecret}}", get), 1,
	    "cond not scalar: true");
	is_int(match("{eventName: {not: DeleteSecret}}", del), 0,
	    "cond not scalar: false");
	is_int(match("{eventName: {not: [DeleteSecret, ListSecrets]}}", get), 1,
	    "cond not list: true");
	is_int(match("{eventName: {not: [DeleteSecret, GetSecretValue]}}", get),
	    0, "cond not list: false");
	is_int(match("{eventName: {not: {prefix: Get}}}", get), 0,
	    "cond not operator: false");
	is_int(match("{eventName: {not: {prefix: Get}}}", del), 1,
	    "cond not operator: true");
	is_int(match("{errorCode: {not: null}}", get), 1,
	    "cond not null: present");
	is_int(match("{errorCode: {not: null}}", del), 0,
	    "cond not null: absent");
	is_int(match("{errorCode: {not: {exists: true}}}", del), 1,
	    "cond not exists: absent");
	is_int(match("{eventName: {not: {not: GetSecretValue}}}", get), 1,
	    "cond double not");
	is_int(
	    match("{eventName: {any: [{prefix: Put}, {suffix: Value}]}}", get),
	    1, "cond any: true");
	is_int(
	    match("{eventName: {any: [{prefix: Put}, {suffix: Policy}]}}", get),
	    0, "cond any: false");
	is_int(
	    match("{eventName: {all: [{prefix: Get}, {suffix: Value}]}}", get),
	    1, "cond all: true");
	is_int(
	    match("{eventName: {all: [{prefix: Get}, {suffix: Policy}]}}", get),
	    0, "cond all: false");
	is_int(
	    match("{eventName: {all: [{prefix: Get}, {not: GetSecretValue}]}}",
		get),
	    0, "cond all with not");
	is_int(
	    match(
		"{eventName: {any: [DeleteSecret, {all: [{prefix: Get}, {contains: Secret}]}]}}",
		get),
	    1, "cond any of all");
	/* Match level. */
	is_int(
	    match(
		"{any: [{eventName: DeleteSecret}, {errorCode: {exists: true}}]}",
		get),
	    1, "match any: second holds");
	is_int(
	    match(
		"{any: [{eventName: DeleteSecret}, {errorCode: {exists: true}}]}",
		del),
	    1, "match any: first holds");
	is_int(
	    match(
		"{any: [{eventName: ListSecrets}, {errorCode: {exists: true}}]}",
		del),
	    0, "match any: none");
	is_int(
	    match(
		"{all: [{eventName: GetSecretValue}, {errorCode: AccessDenied}]}",
		get),
	    1, "match all: true");
	is_int(
	    match(
		"{all: [{eventName: GetSecretValue}, {errorCode: AccessDenied}]}",
		del),
	    0, "match all: false");
	is_int(match("{not: {eventName: DeleteSecret}}", get), 1,
	    "match not: true");
	is_int(match("{not: {eventName: DeleteSecret}}", del), 0,
	    "match not: false");
	is_int(
	    match("{not: {eventName: GetSecretValue, errorCode: AccessDenied}}",
		get),
	    0, "match not of two fields (both hold)");
	is_int(
	    match("{not: {eventName: GetSecretValue, errorCode: Other}}", get),
	    1, "match not of two fields (one fails)");
	is_int(
	    match("{eventName: GetSecretValue, not: {errorCode: null}}", get),
	    1, "field plus match not");
	is_int(
	    match(
		"{eventName: GetSecretValue, any: [{errorCode: X}, {errorCode: Y}]}",
		get),
	    0, "field plus match any: false");
	is_int(
	    match(
		"{any: [{all: [{eventName: GetSecretValue}, {not: {errorCode: null}}]}, {eventName: DeleteSecret}]}",
		get),
	    1, "match any of all of not");
}

/* ---- rendering and group keys ----------------------------------------- */

static const char *
render(const char *tmpl, struct json_object *rec, char *out, size_t size)
{
	struct buf b;
	int r;

	buf_init(&b, 1 << 16);
	r = rules_render(tmpl, rec, &b);
	if (r < 0)
		(void)snprintf(out, size, "(error %d)", r);
	else
		(void)snprintf(out, size, "%s", b.data != NULL ? b.data : "");
	buf_done(&b);
	return out;
}

static void
test_render(void)
{
	struct json_object *rec;
	struct rules *rs;
	struct buf b;
	char t[1024];

	rec = json_tokener_parse(
	    "{\"eventName\":\"DeleteSecret\",\"userIdentity\":{\"arn\":"
	    "\"arn:aws:iam::1:user/a\",\"sessionContext\":{\"attributes\":"
	    "{\"mfaAuthenticated\":\"false\"}}},\"requestParameters\":"
	    "{\"secretId\":\"prod/db\",\"recoveryWindowInDays\":7,"
	    "\"force\":false,\"ratio\":0.25,\"tags\":[\"a\",\"b\"],"
	    "\"m\":{\"k\":\"v\"},\"z\":null},\"resources\":[{\"ARN\":\"r0\"}]}");
	if (!ok(rec != NULL, "render record parses"))
		return;
	is_str(render("{{eventName}} on {{secretId}}", rec, t, sizeof(t)),
	    "DeleteSecret on prod/db", "basic");
	is_str(
	    render("[{{nope}}][{{userIdentity.nope}}][{{requestParameters.z}}]",
		rec, t, sizeof(t)),
	    "[][][]", "missing and null render empty");
	is_str(
	    render(
		"{{userIdentity.sessionContext.attributes.mfaAuthenticated}}",
		rec, t, sizeof(t)),
	    "false", "nested");
	is_str(
	    render("{{requestParameters.recoveryWindowInDays}} days, "
		   "{{requestParameters.force}}, {{requestParameters.ratio}}",
		rec, t, sizeof(t)),
	    "7 days, false, 0.25", "numbers and booleans");
	is_str(render("{{requestParameters.tags}} {{requestParameters.m}}", rec,
		   t, sizeof(t)),
	    "[\"a\",\"b\"] {\"k\":\"v\"}", "arrays and objects as JSON");
	is_str(render("{{resources.0.ARN}}", rec, t, sizeof(t)), "r0",
	    "array index");
	is_str(render("{{ eventName }}|{{\teventName\t}}|{{eventName }}", rec,
		   t, sizeof(t)),
	    "DeleteSecret|DeleteSecret|DeleteSecret", "whitespace in braces");
	is_str(render("no placeholders", rec, t, sizeof(t)), "no placeholders",
	    "literal");
	is_str(render("", rec, t, sizeof(t)), "", "empty template");
	is_str(render("a {single} }} b", rec, t, sizeof(t)), "a {single} }} b",
	    "lone braces are literal");
	is_str(render("x {{eventName", rec, t, sizeof(t)), "x {{eventName",
	    "unterminated placeholder is literal");
	is_str(render("x {{eventName}} {{", rec, t, sizeof(t)),
	    "x DeleteSecret {{", "trailing {{ is literal");
	is_str(render("{{}}|{{  }}", rec, t, sizeof(t)), "|",
	    "empty placeholders render empty");
	is_str(render("{{eventName}}}", rec, t, sizeof(t)), "DeleteSecret}",
	    "a third brace is literal");
	is_str(render("{{a..b}}", rec, t, sizeof(t)), "",
	    "bad path renders empty");
	is_str(render("{{eventName}}", NULL, t, sizeof(t)), "",
	    "NULL record renders empty");
	buf_init(&b, 5);
	is_int(rules_render("{{eventName}}", rec, &b), -E2BIG,
	    "over the buffer ceiling: -E2BIG");
	buf_done(&b);

	rs = load_ok(
	    "rules:\n"
	    "  - id: dflt\n"
	    "    match: {eventName: DeleteSecret}\n"
	    "  - id: two\n"
	    "    match: {eventName: DeleteSecret}\n"
	    "    group_by: [userIdentity.arn, secretId]\n"
	    "    summary: \"{{ userIdentity.arn }} deleted {{secretId}}\"\n"
	    "  - id: missing\n"
	    "    match: {eventName: DeleteSecret}\n"
	    "    group_by: [sourceIPAddress, secretId, requestParameters.recoveryWindowInDays]\n"
	    "  - id: none\n"
	    "    match: {eventName: DeleteSecret}\n"
	    "    group_by: []\n",
	    "render rules");
	if (rs != NULL) {
		buf_init(&b, 1 << 16);
		is_int(rules_render_summary(rules_get(rs, 0), rec, &b), 0,
		    "default summary renders");
		is_str(b.data, "DeleteSecret on prod/db", "default summary");
		buf_reset(&b);
		is_int(rules_group_key(rules_get(rs, 0), rec, &b), 0,
		    "default group key");
		is_str(b.data, "prod/db", "default group key is secretId");
		buf_reset(&b);
		is_int(rules_render_summary(rules_get(rs, 1), rec, &b), 0,
		    "summary renders");
		is_str(b.data, "arn:aws:iam::1:user/a deleted prod/db",
		    "summary");
		buf_reset(&b);
		is_int(rules_group_key(rules_get(rs, 1), rec, &b), 0,
		    "two-part group key");
		is_str(b.data, "arn:aws:iam::1:user/a/prod/db",
		    "two-part group key joined with /");
		buf_reset(&b);
		is_int(rules_group_key(rules_get(rs, 2), rec, &b), 0,
		    "group key with a missing field");
		is_str(b.data, "/prod/db/7", "missing value renders empty");
		buf_reset(&b);
		is_int(rules_group_key(rules_get(rs, 3), rec, &b), 0,
		    "empty group_by");
		is_int((long long)b.len, 0, "empty group_by: empty key");
		buf_done(&b);
		rules_free(rs);
	}
	json_object_put(rec);
}

/* ---- the default rule pack -------------------------------------------- */

/* Enabled rules matching rec, comma-separated. */
static const char *
pack_matches(const struct rules *rs, struct json_object *rec, char *out,
    size_t size)
{
	size_t o = 0;
	size_t i;

	out[0] = '\0';
	for (i = 0; i < rules_count(rs); i++) {
		const struct rule *r = rules_get(rs, i);

		if (!r->enabled || !rules_match_eval(r->match, rec))
			continue;
		o += (size_t)snprintf(out + o, size - o, "%s%s",
		    o > 0 ? "," : "", r->id);
		if (o >= size)
			break;
	}
	return out;
}

static struct json_object *
read_records(const char *rel)
{
	struct json_object *doc;
	struct json_object *recs;
	char path[1024];

	doc = json_object_from_file(tl_data_path(rel, path, sizeof(path)));
	if (!ok(doc != NULL, "read %s", path))
		return NULL;
	if (!ok(json_object_object_get_ex(doc, "Records", &recs) &&
		    json_object_is_type(recs, json_type_array),
		"%s has Records", rel)) {
		json_object_put(doc);
		return NULL;
	}
	return doc;
}

static void
test_default_pack(void)
{
	static const char *const want_docs[] = {
	    "rotation-failed", /* RotationFailed */
	    "",                /* CreateSecret */
	    /* DeleteSecret: the alert, and the reminder (an expect rule) */
	    "secret-deleted,secret-deletion-reminder",
	    /* GetSecretValue: counted by the rules over time (matches, not
	     * alerts: they alert on a pattern) */
	    "secret-mass-read,secret-reader-first-seen",
	};
	struct json_object *doc;
	struct json_object *recs;
	struct json_object *rec;
	struct rules *rs = NULL;
	const struct rule *r;
	struct buf b;
	char path[1024];
	char t[1024];
	size_t counts[64];
	size_t i;
	size_t j;
	int rc;

	tl_src_path("etc/smtrail/rules.yaml", path, sizeof(path));
	memset(&dl, 0, sizeof(dl));
	rc = rules_load(path, true, &rs, &dl);
	is_int(rc, 0, "default pack loads (strict)");
	is_int(dl.errors, 0, "default pack: 0 errors");
	is_int(dl.warnings, 0, "default pack: 0 warnings");
	if (dl.n > 0)
		diag_note("%s", diags());
	if (rs == NULL)
		return;
	is_int((long long)rules_count(rs), 31, "default pack: 31 rules");
	for (i = 0; i < rules_count(rs); i++) {
		r = rules_get(rs, i);
		ok(r->match != NULL && r->title != NULL && r->summary != NULL,
		    "default pack: %s has match, title and summary", r->id);
	}
	r = rules_find(rs, "rotation-failed");
	ok(r != NULL && r->severity == RULES_SEV_ERROR && r->resolve_on != NULL,
	    "rotation-failed: error, with resolve_on");
	r = rules_find(rs, "secret-deleted");
	ok(r != NULL && r->severity == RULES_SEV_CRITICAL &&
		r->resolve_on != NULL,
	    "secret-deleted: critical, with resolve_on");
	r = rules_find(rs, "secret-read-outside-network");
	ok(r != NULL && !r->enabled, "the example rule is disabled");

	/* aws-docs: RotationFailed, DeleteSecret and the read match. */
	doc = read_records(
	    "cloudtrail/secretsmanager/aws-docs_secretsmanager.json");
	if (doc != NULL) {
		(void)json_object_object_get_ex(doc, "Records", &recs);
		is_int((long long)json_object_array_length(recs),
		    (long long)ARRAY_SIZE(want_docs), "aws-docs: 4 records");
		for (i = 0; i < ARRAY_SIZE(want_docs) &&
		     i < json_object_array_length(recs);
		     i++) {
			rec = json_object_array_get_idx(recs, i);
			is_str(pack_matches(rs, rec, t, sizeof(t)),
			    want_docs[i], "aws-docs record %zu (%s)", i,
			    json_object_get_string(
				json_object_object_get(rec, "eventName")));
		}
		buf_init(&b, 1 << 16);
		rec = json_object_array_get_idx(recs, 0);
		r = rules_find(rs, "rotation-failed");
		is_int(rules_render_summary(r, rec, &b), 0,
		    "rotation-failed summary renders");
		is_str(b.data,
		    "Rotation of arn:aws:secretsmanager:us-east-2:123456789012:secret:MyDatabaseSecret-a1b2c3 failed in us-east-2 (account 123456789012): Error when executing lambda arn:aws:lambda:us-east-2:123456789012:function:SecretsManagertest-alternating-users-rotation2 during setSecret step",
		    "rotation-failed summary");
		buf_reset(&b);
		is_int(rules_group_key(r, rec, &b), 0,
		    "rotation-failed group key");
		is_str(b.data,
		    "arn:aws:secretsmanager:us-east-2:123456789012:secret:MyDatabaseSecret-a1b2c3",
		    "rotation-failed grouped by the secret");
		/* A later RotationSucceeded for the same secret resolves it. */
		rec = json_tokener_parse(
		    "{\"eventName\":\"RotationSucceeded\",\"additionalEventData\":"
		    "{\"SecretId\":\"arn:aws:secretsmanager:us-east-2:"
		    "123456789012:secret:MyDatabaseSecret-a1b2c3\"}}");
		ok(rules_match_eval(r->resolve_on, rec),
		    "RotationSucceeded matches resolve_on");
		ok(!rules_match_eval(r->match, rec),
		    "RotationSucceeded does not match the rule");
		buf_reset(&b);
		is_int(rules_group_key(r, rec, &b), 0, "resolver group key");
		is_str(b.data,
		    "arn:aws:secretsmanager:us-east-2:123456789012:secret:MyDatabaseSecret-a1b2c3",
		    "resolver has the same group key");
		json_object_put(rec);

		rec = json_object_array_get_idx(recs, 2);
		r = rules_find(rs, "secret-deleted");
		buf_reset(&b);
		is_int(rules_render_summary(r, rec, &b), 0,
		    "secret-deleted summary renders");
		is_str(b.data,
		    "arn:aws:iam::123456789012:root deleted arn:aws:secretsmanager:us-east-2:123456789012:secret:MyDatabaseSecret-a1b2c3 from ; RestoreSecret can undo it until May 3, 2018 5:51:02 PM",
		    "secret-deleted summary");
		buf_done(&b);
		json_object_put(doc);
	}

	/* The combined corpus: how often each rule fires. */
	doc = read_records(
	    "cloudtrail/secretsmanager/combined_secretsmanager.json");
	if (doc != NULL) {
		char got[1024];
		size_t o = 0;

		(void)json_object_object_get_ex(doc, "Records", &recs);
		memset(counts, 0, sizeof(counts));
		for (j = 0; j < json_object_array_length(recs); j++) {
			rec = json_object_array_get_idx(recs, j);
			for (i = 0; i < rules_count(rs) && i < 64; i++) {
				r = rules_get(rs, i);
				if (r->enabled &&
				    rules_match_eval(r->match, rec))
					counts[i]++;
			}
		}
		got[0] = '\0';
		for (i = 0; i < rules_count(rs) && i < 64; i++)
			if (counts[i] > 0)
				o += (size_t)snprintf(got + o, sizeof(got) - o,
				    "%s%s=%zu", o > 0 ? " " : "",
				    rules_get(rs, i)->id, counts[i]);
		is_str(got,
		    "rotation-failed=1 secret-deleted=1 secret-deletion-reminder=1 "
		    "resource-policy-changed=2 secret-read-denied=3 "
		    "secret-mass-read=27 secret-read-denied-repeatedly=3 "
		    "secret-batch-reads=10 secret-batch-reads-many-regions=10 "
		    "secret-batch-read-catch-all=2 secret-reader-first-seen=37 "
		    "secret-batch-reader-first-seen=10",
		    "combined corpus: matches per rule");
		json_object_put(doc);
	}
	rules_free(rs);
}

/* ---- arrays, every, icase, derived fields ------------------------------ */

#define BATCH(f)                                                               \
	"{\"eventName\":\"BatchGetSecretValue\",\"requestParameters\":"        \
	"{\"filters\":" f "}}"

static void
test_match_arrays(void)
{
	/* Errors first. */
	load_err(
	    "rules:\n  - id: a\n    match: {userAgent: {any: [{every: x}]}}\n",
	    "rules.yaml:3:32: 'every' must be a field's whole condition (a path with a '*' segment: 'a.*.b: {every: ...}')",
	    "every nested");
	load_err("rules:\n  - id: a\n    match: {userAgent: {icase: true}}\n",
	    "rules.yaml:3:24: 'icase' alone (expected beside an operator such as 'eq' or 'prefix')",
	    "icase alone");
	load_err(
	    "rules:\n  - id: a\n    match: {userAgent: {gt: 1, icase: true}}\n",
	    "rules.yaml:3:32: 'icase' applies to eq, prefix, suffix, contains, glob and regex, not 'gt'",
	    "icase on gt");
	load_err(
	    "rules:\n  - id: a\n    match: {userAgent: {icase: maybe, eq: x}}\n",
	    "rules.yaml:3:32: expected true or false for 'icase'",
	    "icase not a boolean");
	load_err("rules:\n  - id: a\n    match: {userAgent: {eq: [x]}}\n",
	    "rules.yaml:3:29: expected one value for 'eq'", "eq with a list");
	load_err(
	    "rules:\n  - id: a\n    match: {userAgent: {prefix: x, contains: y}}\n",
	    "rules.yaml:3:36: more than one operator in a condition ('prefix' and 'contains'); combine them with 'all'",
	    "two operators still refused");

	/* "*": one element suffices. */
	is_int(match("{requestParameters.filters.*.key: tag-key}",
		   BATCH("[{\"key\":\"name\"},{\"key\":\"tag-key\"}]")),
	    1, "*: one element of two");
	is_int(match("{requestParameters.filters.*.key: tag-key}",
		   BATCH("[{\"key\":\"name\"}]")),
	    0, "*: no element");
	is_int(match("{requestParameters.filters.*.key: {exists: false}}",
		   BATCH("[]")),
	    1, "*: nothing reached reads as absent");
	is_int(match("{requestParameters.*: {eq: x}}",
		   "{\"requestParameters\":{\"a\":\"y\",\"b\":\"x\"}}"),
	    1, "*: every member of an object");
	is_int(match("{requestParameters.filters.*.values.*: {prefix: '!'}}",
		   BATCH("[{\"key\":\"tag-key\",\"values\":[\"a\",\"!b\"]}]")),
	    1, "*.*: nested arrays");
	/* every: all elements, and at least one. */
	is_int(match("{requestParameters.filters.*.key: {every: tag-key}}",
		   BATCH("[{\"key\":\"tag-key\"},{\"key\":\"tag-key\"}]")),
	    1, "every: all hold");
	is_int(match("{requestParameters.filters.*.key: {every: tag-key}}",
		   BATCH("[{\"key\":\"tag-key\"},{\"key\":\"name\"}]")),
	    0, "every: one does not");
	is_int(match("{requestParameters.filters.*.key: {every: tag-key}}",
		   BATCH("[]")),
	    0, "every: none is not every");
	is_int(match("{requestParameters.filters.*.values.*: {every: {prefix: "
		     "'!'}}}",
		   BATCH("[{\"key\":\"tag-key\",\"values\":[\"!a\"]},"
			 "{\"key\":\"tag-key\",\"values\":[\"!b\",\"!c\"]}]")),
	    1, "every over nested arrays");
	is_int(match("{eventName: {every: BatchGetSecretValue}}", BATCH("[]")),
	    1, "every on a plain path: the one value");

	/* eq and icase. */
	is_int(match("{eventName: {eq: batchgetsecretvalue, icase: true}}",
		   BATCH("[]")),
	    1, "eq icase");
	is_int(match("{eventName: {eq: batchgetsecretvalue}}", BATCH("[]")), 0,
	    "eq is exact by default");
	is_int(match("{userAgent: {contains: AWS-CLI, icase: true}}",
		   "{\"userAgent\":\"aws-cli/2.15 Python\"}"),
	    1, "contains icase");
	is_int(match("{userAgent: {prefix: MOZILLA, icase: true}}",
		   "{\"userAgent\":\"Mozilla/5.0\"}"),
	    1, "prefix icase");
	is_int(match("{userAgent: {suffix: PYTHON, icase: true}}",
		   "{\"userAgent\":\"aws-cli/2.15 python\"}"),
	    1, "suffix icase");
	is_int(match("{userAgent: {glob: 'MOZ*', icase: true}}",
		   "{\"userAgent\":\"mozilla/5.0\"}"),
	    1, "glob icase");
	is_int(match("{userAgent: {regex: '^MOZ', icase: true}}",
		   "{\"userAgent\":\"mozilla/5.0\"}"),
	    1, "regex icase");
	is_int(match("{userAgent: {regex: '^MOZ'}}",
		   "{\"userAgent\":\"mozilla/5.0\"}"),
	    0, "regex is exact by default");
}

static void
test_match_derived(void)
{
	const char *role =
	    "{\"userIdentity\":{\"type\":\"AssumedRole\",\"arn\":"
	    "\"arn:aws:sts::1:assumed-role/app/i-1\",\"sessionContext\":{"
	    "\"sessionIssuer\":{\"arn\":\"arn:aws:iam::1:role/app\"}}}}";
	const char *svc =
	    "{\"eventType\":\"AwsServiceEvent\",\"userIdentity\":{"
	    "\"accountId\":\"1\",\"invokedBy\":\"secretsmanager.amazonaws.com\"}}";

	is_int(match("{principal: 'arn:aws:iam::1:role/app'}", role), 1,
	    "principal: the assumed role's issuer");
	is_int(match("{principal: 'arn:aws:iam::1:user/bob'}",
		   "{\"userIdentity\":{\"type\":\"IAMUser\",\"arn\":"
		   "\"arn:aws:iam::1:user/bob\"}}"),
	    1, "principal: a user's ARN");
	is_int(match("{principal: secretsmanager.amazonaws.com}", svc), 1,
	    "principal: the service, for service events");
	is_int(match("{isServiceEvent: true}", svc), 1, "isServiceEvent: true");
	is_int(match("{isServiceEvent: false}", role), 1,
	    "isServiceEvent: false");
#define POLICY(stmt)                                                           \
	"{\"eventName\":\"PutResourcePolicy\",\"requestParameters\":{"         \
	"\"resourcePolicy\":\"{\\\"Version\\\":\\\"2012-10-17\\\","            \
	"\\\"Statement\\\":" stmt "}\"}}"
	is_int(
	    match("{policyAllowsPublic: true}",
		POLICY("[{\\\"Effect\\\":\\\"Allow\\\",\\\"Principal\\\":"
		       "\\\"*\\\",\\\"Action\\\":\\\"secretsmanager:*\\\"}]")),
	    1, "policyAllowsPublic: Principal *");
	is_int(
	    match("{policyAllowsPublic: true}",
		POLICY(
		    "{\\\"Effect\\\":\\\"Allow\\\",\\\"Principal\\\":{"
		    "\\\"AWS\\\":[\\\"arn:aws:iam::2:root\\\",\\\"*\\\"]}}")),
	    1, "policyAllowsPublic: a single statement, AWS list with *");
	is_int(match("{policyAllowsPublic: false}",
		   POLICY("[{\\\"Effect\\\":\\\"Allow\\\",\\\"Principal\\\":"
			  "\\\"*\\\",\\\"Condition\\\":{\\\"StringEquals\\\":{"
			  "\\\"aws:principalorgid\\\":\\\"o-1\\\"}}}]")),
	    1, "policyAllowsPublic: false with an org condition (any case)");
	is_int(match("{policyAllowsPublic: false}",
		   POLICY("[{\\\"Effect\\\":\\\"Deny\\\",\\\"Principal\\\":"
			  "\\\"*\\\"}]")),
	    1, "policyAllowsPublic: a Deny is not public");
	is_int(match("{policyAllowsPublic: {exists: false}}", role), 1,
	    "policyAllowsPublic: absent without a policy");
	is_int(
	    match("{policyAllowsPublic: {exists: false}}",
		"{\"requestParameters\":{\"resourcePolicy\":\"{not json\"}}"),
	    1, "policyAllowsPublic: absent for a policy that is not JSON");
}

/* ---- rule kinds --------------------------------------------------------- */

#define KIND(k)                                                                \
	"rules:\n  - id: a\n    match: {eventName: DeleteSecret}\n    " k "\n"

static void
test_kinds(void)
{
	struct rules *rs;
	const struct rule *r;
	uint64_t fp;

	load_err(KIND("threshold: {count: 3, within: 5m}\n    first_seen: "
		      "{learn: 1d}"),
	    "rules.yaml:5:17: 'threshold' and 'first_seen' in one rule (a rule "
	    "has at most one of threshold, distinct, first_seen and expect)",
	    "two kinds");
	load_err(KIND("threshold: {count: 3}"),
	    "rules.yaml:4:16: missing 'within' in 'threshold'",
	    "threshold without within");
	load_err(KIND("threshold: {count: 3, within: 5m, learn: 1d}"),
	    "rules.yaml:4:46: 'learn' does not apply to 'threshold'",
	    "threshold with learn");
	load_err(KIND("threshold: {count: 0, within: 5m}"),
	    "rules.yaml:4:24: expected a whole number from 1 to 1000 for "
	    "'count'",
	    "threshold count 0");
	load_err(KIND("distinct: {field: secretId, count: 1, within: 5m}"),
	    "rules.yaml:4:40: expected a whole number from 2 to 1000 for "
	    "'count'",
	    "distinct count 1");
	load_err(KIND("threshold: {count: 2, within: 0s}"),
	    "rules.yaml:4:35: 'within' must be longer than 0s", "within 0");
	load_err(KIND("distinct: {count: 2, within: 1m}"),
	    "rules.yaml:4:15: missing 'field' in 'distinct'",
	    "distinct without field");
	load_err(KIND("expect: {within: 1h}"),
	    "rules.yaml:4:13: missing 'match' in 'expect'",
	    "expect without match");
	load_err(KIND("expect: {match: {eventName: {regexp: Y}}, within: 1h}"),
	    "rules.yaml:4:34: unknown operator 'regexp' (did you mean "
	    "'regex'?)",
	    "expect.match is checked as a match");
	load_err(KIND("first_seen: 1d"),
	    "rules.yaml:4:17: expected a mapping for 'first_seen'",
	    "first_seen not a mapping");
	load_err(KIND("threshold: {count: 2, within: 1m}\n    group_wait: 1m"),
	    "rules.yaml:5:17: 'group_wait' does not apply to a threshold rule "
	    "(its alert stands for its window already)",
	    "group_wait with a kind");

	rs = load_ok(
	    KIND("distinct: {field: 'requestParameters.secretIdList.*', count: "
		 "5, within: 10m}\n    readers: true"),
	    "distinct");
	r = rs != NULL ? rules_find(rs, "a") : NULL;
	ok(r != NULL && r->kind == RULES_KIND_DISTINCT && r->count == 5 &&
		r->within_us == 600 * US_PER_S && r->field != NULL &&
		r->readers,
	    "distinct: compiled");
	fp = r != NULL ? r->fingerprint : 0;
	rules_free(rs);
	rs = load_ok(
	    "# a comment\nrules:\n  - id: a\n    match:\n"
	    "      eventName: DeleteSecret\n    distinct:\n      field: "
	    "'requestParameters.secretIdList.*'\n      count: 5\n      within: "
	    "10m\n    readers: true\n",
	    "distinct, spelled otherwise");
	r = rs != NULL ? rules_find(rs, "a") : NULL;
	ok(r != NULL && r->fingerprint == fp,
	    "the fingerprint: what the rule says, not how it is spaced");
	rules_free(rs);
	rs = load_ok(
	    KIND("distinct: {field: 'requestParameters.secretIdList.*', count: "
		 "6, within: 10m}\n    readers: true"),
	    "distinct, changed");
	r = rs != NULL ? rules_find(rs, "a") : NULL;
	ok(r != NULL && r->fingerprint != fp, "a changed rule: another one");
	rules_free(rs);
	rs = load_ok(KIND("expect: {match: {eventName: RestoreSecret}, "
			  "within: 1h}"),
	    "expect");
	r = rs != NULL ? rules_find(rs, "a") : NULL;
	ok(r != NULL && r->kind == RULES_KIND_EXPECT && r->expected != NULL &&
		r->within_us == 3600 * US_PER_S,
	    "expect: compiled");
	rules_free(rs);
	rs = load_ok(KIND("first_seen: {learn: 7d}"), "first_seen");
	r = rs != NULL ? rules_find(rs, "a") : NULL;
	ok(r != NULL && r->kind == RULES_KIND_FIRST_SEEN &&
		r->learn_us == 7 * 86400 * US_PER_S,
	    "first_seen: compiled");
	rules_free(rs);
}

/* ---- stricter checks (issue 14) ----------------------------------- */

/* Loads text non-strict: exactly want as warnings (no error). */
static void
load_warns(const char *text, const char *want, const char *name)
{
	struct rules *rs = NULL;

	is_int(load(text, false, &rs), 0, "%s: loads", name);
	is_int(dl.errors, 0, "%s: no errors", name);
	is_str(diags(), want, "%s: warnings", name);
	rules_free(rs);
	rs = (struct rules *)&dl;
	is_int(load(text, true, &rs), -EINVAL, "%s: strict: -EINVAL", name);
	is_int(dl.warnings, 0, "%s: strict: errors only", name);
	is_str(diags(), want, "%s: strict: the same", name);
}

static void
test_regex_perlisms(void)
{
	static const struct {
		const char *re; /* as written in double quotes */
		const char *want;
	} bad[] = {
	    {"^prod/\\\\d+$", "'\\d' is not POSIX ERE; write '[0-9]'"},
	    {"\\\\D", "'\\D' is not POSIX ERE; write '[^0-9]'"},
	    {"\\\\w+", "'\\w' is not POSIX ERE; write '[[:alnum:]_]'"},
	    {"\\\\W", "'\\W' is not POSIX ERE; write '[^[:alnum:]_]'"},
	    {"a\\\\sb", "'\\s' is not POSIX ERE; write '[[:space:]]'"},
	    {"\\\\S", "'\\S' is not POSIX ERE; write '[^[:space:]]'"},
	    {"\\\\bprod",
		"'\\b' is not POSIX ERE (there is no word boundary in ERE)"},
	    {"a.*?b",
		"non-greedy '*?' is not POSIX ERE (repetition is always greedy)"},
	    {"a+?",
		"non-greedy '+?' is not POSIX ERE (repetition is always greedy)"},
	    {"a?\?",
		"non-greedy '?\?' is not POSIX ERE (repetition is always greedy)"},
	    {"[\\\\d]+",
		"'\\d' inside brackets is a backslash or 'd' in POSIX ERE; write '[:digit:]' inside them"},
	    {"[^\\\\S]",
		"'\\S' inside brackets is a backslash or 'S' in POSIX ERE; write '[^[:space:]]' outside them"},
	};
	static const char *const good[] = {
	    "^prod/[0-9]+$",    /* the POSIX spelling */
	    "\\\\\\\\d",        /* an escaped backslash, then 'd' */
	    "\\\\*?",           /* an escaped '*', optional */
	    "[[:digit:]]+[]d]", /* classes, and ']' first in brackets */
	    "[a\\\\]",          /* a backslash in brackets */
	};
	char text[512];
	char want[512];
	struct rules *rs;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		(void)snprintf(text, sizeof(text),
		    "rules:\n  - id: a\n    match:\n"
		    "      secretId: {regex: \"%s\"}\n",
		    bad[i].re);
		(void)snprintf(want, sizeof(want),
		    "rules.yaml:4:25: bad regex: %s", bad[i].want);
		load_err(text, want, bad[i].re);
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		(void)snprintf(text, sizeof(text),
		    "rules:\n  - id: a\n    match:\n"
		    "      secretId: {regex: \"%s\"}\n",
		    good[i]);
		rs = load_ok(text, good[i]);
		rules_free(rs);
	}
	/* The example: refused, and the POSIX spelling matches. */
	is_int(match("{requestParameters.secretId: {regex: '^prod/[0-9]+$'}}",
		   "{\"requestParameters\":{\"secretId\":\"prod/123\"}}"),
	    1, "[0-9]+ matches prod/123");
}

static void
test_path_schema(void)
{
	struct rules *rs;

	load_warns(
	    "rules:\n"
	    "  - id: a\n"
	    "    match:\n"
	    "      eventName: DeleteSecret\n"
	    "      userIdentity.ar: {not: {glob: 'arn:aws:iam::*:role/ops'}}\n"
	    "      userIdentity.sessionContext.sessionIsuer.arn: x\n"
	    "      requestParameters.forceDeleteWithoutRecover: true\n"
	    "      requestParameters.secretID: x\n"
	    "      responseElements.naem: x\n"
	    "      resources.ARN: x\n"
	    "      resources.*.ARM: x\n"
	    "      eventName.x: y\n"
	    "      tlsDetails.tlsversion: x\n"
	    "    group_by: [userIdentity.sessionContext.attributes.mfa]\n"
	    "    summary: '{{userIdentity.userNme}}'\n",
	    "rules.yaml:5:7: unknown CloudTrail field 'userIdentity.ar' (did you mean 'userIdentity.arn'?)\n"
	    "rules.yaml:6:7: unknown CloudTrail field 'userIdentity.sessionContext.sessionIsuer' (did you mean 'userIdentity.sessionContext.sessionIssuer'?)\n"
	    "rules.yaml:7:7: unknown CloudTrail field 'requestParameters.forceDeleteWithoutRecover' (did you mean 'requestParameters.forceDeleteWithoutRecovery'?)\n"
	    "rules.yaml:8:7: unknown CloudTrail field 'requestParameters.secretID' (did you mean 'requestParameters.secretId'?)\n"
	    "rules.yaml:9:7: unknown CloudTrail field 'responseElements.naem' (did you mean 'responseElements.name'?)\n"
	    "rules.yaml:10:7: unknown CloudTrail field 'resources.ARN' ('resources' is a list: write 'resources.*.ARN')\n"
	    "rules.yaml:11:7: unknown CloudTrail field 'resources.*.ARM' (did you mean 'resources.*.ARN'?)\n"
	    "rules.yaml:12:7: unknown CloudTrail field 'eventName.x' ('eventName' has no fields)\n"
	    "rules.yaml:13:7: unknown CloudTrail field 'tlsDetails.tlsversion' (did you mean 'tlsDetails.tlsVersion'?)\n"
	    "rules.yaml:14:16: unknown CloudTrail field 'userIdentity.sessionContext.attributes.mfa'\n"
	    "rules.yaml:15:14: unknown CloudTrail field 'userIdentity.userNme' (did you mean 'userIdentity.userName'?)",
	    "unknown segments");

	/* Every segment known, at any depth; open documents below. */
	rs = load_ok(
	    "rules:\n"
	    "  - id: a\n"
	    "    match:\n"
	    "      userIdentity.sessionContext.sessionIssuer.arn: x\n"
	    "      userIdentity.sessionContext.attributes.mfaAuthenticated: 'false'\n"
	    "      userIdentity.onBehalfOf.userId: x\n"
	    "      tlsDetails.clientProvidedHostHeader: x\n"
	    "      resources.0.ARN: x\n"
	    "      requestParameters.forceDeleteWithoutRecovery: true\n"
	    "      requestParameters.recoveryWindowInDays: {lt: 7}\n"
	    "      requestParameters.filters.*.values.*: x\n"
	    "      requestParameters.rotationRules.automaticallyAfterDays: {gt: 1}\n"
	    "      requestParameters.addReplicaRegions.*.region: x\n"
	    "      requestParameters.resourcePolicy.Statement.*.Effect: Allow\n"
	    "      responseElements.aRN: x\n"
	    "      responseElements.arn: x\n"
	    "      additionalEventData.SecretId: x\n"
	    "      serviceEventDetails.anything.at.all: x\n"
	    "      requestParameters.*.x: y\n"
	    "      principal: x\n"
	    "      isServiceEvent: false\n",
	    "known paths");
	rules_free(rs);

	/* Per event name: the parameters of the events the mapping is
	 * about (its eventName, or an enclosing mapping's). */
	load_warns(
	    "rules:\n"
	    "  - id: a\n"
	    "    match:\n"
	    "      eventName: DeleteSecret\n"
	    "      requestParameters.versionStage: AWSCURRENT\n"
	    "      any:\n"
	    "        - {eventName: [GetSecretValue, PutSecretValue], requestParameters.forceDeleteWithoutRecovery: true}\n"
	    "        - {requestParameters.recoveryWindowInDays: 7}\n"
	    "    resolve_on:\n"
	    "      eventName: TagResource\n"
	    "      responseElements.arn: x\n",
	    "rules.yaml:5:7: unknown CloudTrail field 'requestParameters.versionStage' for eventName DeleteSecret\n"
	    "rules.yaml:7:57: unknown CloudTrail field 'requestParameters.forceDeleteWithoutRecovery' for eventName GetSecretValue, PutSecretValue\n"
	    "rules.yaml:11:7: unknown CloudTrail field 'responseElements.arn' for eventName TagResource",
	    "per event name");
	rs = load_ok(
	    "rules:\n"
	    "  - id: a\n"
	    "    match:\n"
	    "      eventName: {prefix: Delete}\n"
	    "      requestParameters.versionStage: AWSCURRENT\n"
	    "      any:\n"
	    "        - {eventName: GetSecretValue, requestParameters.versionStage: AWSCURRENT}\n"
	    "        - {eventName: [RotationFailed, DeleteSecret], requestParameters.versionId: x}\n"
	    "    summary: '{{requestParameters.versionStage}}'\n",
	    "per event name: only when every name is an API call");
	rules_free(rs);

	/* A mapping where an operator was expected, its key a field. */
	load_err("rules:\n"
		 "  - id: a\n"
		 "    match:\n"
		 "      requestParameters:\n"
		 "        forceDeleteWithoutRecovery: true\n",
	    "rules.yaml:5:9: unknown operator 'forceDeleteWithoutRecovery' (write `requestParameters.forceDeleteWithoutRecovery: …`)",
	    "nested path");
	load_err(
	    "rules:\n"
	    "  - id: a\n"
	    "    match:\n"
	    "      userIdentity: {sessionContext: {sessionIssuer: {arn: x}}, type: Root}\n",
	    "rules.yaml:4:22: unknown operator 'sessionContext' (write `userIdentity.sessionContext: …`)",
	    "nested paths, two keys");
	load_err("rules:\n"
		 "  - id: a\n"
		 "    match:\n"
		 "      requestParameters: {frobnicate: true}\n",
	    "rules.yaml:4:27: unknown operator 'frobnicate'",
	    "not a field: the plain message");
}

static void
test_value_checks(void)
{
	struct rules *rs;

	load_warns(
	    "rules:\n"
	    "  - id: a\n"
	    "    match:\n"
	    "      eventSource: secretmanager.amazonaws.com\n"
	    "      eventName: [GetSecret, secretsmanager:DeleteSecret, RotationFail]\n"
	    "  - id: b\n"
	    "    match:\n"
	    "      eventSource: {not: [kms.amazonaws.com, sts.amazonaws.co]}\n"
	    "      eventName: SecretsManager:batchGetSecretValue\n",
	    "rules.yaml:4:20: unknown event source 'secretmanager.amazonaws.com' (did you mean 'secretsmanager.amazonaws.com'?)\n"
	    "rules.yaml:5:19: unknown event name 'GetSecret' (did you mean 'GetSecretValue'?)\n"
	    "rules.yaml:5:30: unknown event name 'secretsmanager:DeleteSecret' (did you mean 'DeleteSecret'?)\n"
	    "rules.yaml:5:59: unknown event name 'RotationFail' (did you mean 'RotationFailed'?)\n"
	    "rules.yaml:8:46: unknown event source 'sts.amazonaws.co' (did you mean 'sts.amazonaws.com'?)\n"
	    "rules.yaml:9:18: unknown event name 'SecretsManager:batchGetSecretValue' (did you mean 'BatchGetSecretValue'?)",
	    "values");
	rs = load_ok(
	    "rules:\n"
	    "  - id: a\n"
	    "    match:\n"
	    "      eventSource: [secretsmanager.amazonaws.com, kms.amazonaws.com, iam.amazonaws.com,\n"
	    "        cloudtrail.amazonaws.com, s3.amazonaws.com, lambda.amazonaws.com, sts.amazonaws.com]\n",
	    "known event sources");
	rules_free(rs);

	/* A tab in indentation, in place of libyaml's words. */
	load_err("rules:\n  - id: a\n    match:\n\teventName: DeleteSecret\n",
	    "rules.yaml:4:1: YAML syntax error: tabs are not allowed in YAML indentation",
	    "tab");
	load_err(
	    "rules:\n  - id: a\n    match:\n     \teventName: DeleteSecret\n",
	    "rules.yaml:4:6: YAML syntax error: tabs are not allowed in YAML indentation",
	    "tab after spaces");
}

/*
 * Appends to out (one per line, once) every path below v unknown to f;
 * path holds plen bytes, the first skip of them a label not walked.
 */
static void
schema_unknown(const struct schema_field *f, struct json_object *v, char *path,
    size_t plen, size_t skip, char *out, size_t outsz)
{
	const struct schema_field *parent;
	size_t cap = 1024;
	size_t off;
	size_t slen;
	size_t i;
	int n;

	if (plen > skip &&
	    schema_walk(f, path + skip, plen - skip, &off, &slen, &parent) <
		0) {
		if (strstr(out, path) == NULL)
			(void)snprintf(out + strlen(out), outsz - strlen(out),
			    "%s\n", path);
		return;
	}
	if (json_object_is_type(v, json_type_object)) {
		json_object_object_foreach(v, k, kid)
		{
			n = snprintf(path + plen, cap - plen, "%s%s",
			    plen > skip ? "." : "", k);
			if (n > 0 && (size_t)n < cap - plen)
				schema_unknown(f, kid, path, plen + (size_t)n,
				    skip, out, outsz);
		}
	} else if (json_object_is_type(v, json_type_array)) {
		for (i = 0; i < json_object_array_length(v); i++) {
			n = snprintf(path + plen, cap - plen, "%s*",
			    plen > skip ? "." : "");
			if (n > 0 && (size_t)n < cap - plen)
				schema_unknown(f,
				    json_object_array_get_idx(v, i), path,
				    plen + (size_t)n, skip, out, outsz);
		}
	}
	path[plen] = '\0';
}

/* Every field of the real Secrets Manager records is in the schema, the
 * request parameters per event name too. */
static void
test_schema_corpus(void)
{
	struct json_object *doc;
	struct json_object *recs;
	struct json_object *rec;
	struct json_object *v;
	const struct schema_field *f;
	const char *ev;
	char path[1024];
	char out[8192] = "";
	size_t i;
	int k;

	doc = read_records(
	    "cloudtrail/secretsmanager/combined_secretsmanager.json");
	if (doc == NULL)
		return;
	(void)json_object_object_get_ex(doc, "Records", &recs);
	for (i = 0; i < json_object_array_length(recs); i++) {
		rec = json_object_array_get_idx(recs, i);
		path[0] = '\0';
		schema_unknown(schema_record(), rec, path, 0, 0, out,
		    sizeof(out));
		ev = record_string(rec, "eventName");
		for (k = 0; k < 2 && ev != NULL; k++) {
			f = schema_event(ev, k == 1);
			if (f == NULL ||
			    !json_object_object_get_ex(rec,
				k == 1 ? "responseElements"
				       : "requestParameters",
				&v))
				continue;
			(void)snprintf(path, sizeof(path), "%s:", ev);
			schema_unknown(f, v, path, strlen(path), strlen(path),
			    out, sizeof(out));
		}
	}
	is_str(out, "", "corpus: every field of %zu records in the schema",
	    json_object_array_length(recs));
	json_object_put(doc);
}

/* ---- explaining --------------------------------------------------------- */

/*
 * rules_explain() for the rule "match:" + body (block lines, from line 4
 * of rules.yaml) on the JSON record, formatted; it must agree with
 * rules_match_eval(). "LOAD" / "JSON" / "DISAGREE" when something else
 * went wrong.
 */
static const char *
explain(const char *body, const char *json)
{
	static char out[2048];
	char text[8192];
	struct rules *rs = NULL;
	struct json_object *rec;
	struct rules_why w;
	const struct rule *r;
	int m;

	(void)snprintf(text, sizeof(text), "rules:\n  - id: t\n    match:\n%s",
	    body);
	if (load(text, false, &rs) < 0) {
		diag_note("%s", diags());
		return "LOAD";
	}
	rec = json_tokener_parse(json);
	if (rec == NULL) {
		rules_free(rs);
		return "JSON";
	}
	r = rules_get(rs, 0);
	m = rules_explain(r, rec, &w);
	if (m != (int)rules_match_eval(r->match, rec) || (m == 1) != w.matched)
		(void)snprintf(out, sizeof(out), "DISAGREE");
	else
		(void)rules_why_format(&w, "rules.yaml", out, sizeof(out));
	json_object_put(rec);
	rules_free(rs);
	return out;
}

#define DEL_REC(rp)                                                            \
	"{\"eventName\":\"DeleteSecret\",\"requestParameters\":{" rp "}}"

static void
test_explain(void)
{
	char json[4096];
	char want[4096];
	char big[400];

	/* eq: a string, then a bool after a condition that holds. */
	is_str(explain("      eventName: DeleteSecret\n",
		   "{\"eventName\":\"GetSecretValue\"}"),
	    "rules.yaml:4:18: eventName: want 'DeleteSecret', got "
	    "'GetSecretValue'",
	    "explain: eq string");
	is_str(explain("      eventName: DeleteSecret\n"
		       "      requestParameters.forceDeleteWithoutRecovery: "
		       "true\n",
		   DEL_REC("\"forceDeleteWithoutRecovery\":false")),
	    "rules.yaml:5:53: requestParameters.forceDeleteWithoutRecovery: "
	    "want true, got false",
	    "explain: the first failing condition, a bool");
	is_str(explain("      eventName: DeleteSecret\n"
		       "      requestParameters.forceDeleteWithoutRecovery: "
		       "true\n",
		   DEL_REC("\"secretId\":\"x\"")),
	    "rules.yaml:5:53: requestParameters.forceDeleteWithoutRecovery: "
	    "field absent",
	    "explain: an absent field");
	is_str(explain("      eventName: DeleteSecret\n"
		       "      errorCode: null\n",
		   "{\"eventName\":\"DeleteSecret\",\"errorCode\":"
		   "\"AccessDenied\"}"),
	    "rules.yaml:5:18: errorCode: want null, got 'AccessDenied'",
	    "explain: eq null");
	is_str(explain("      requestParameters.recoveryWindowInDays: 7\n",
		   DEL_REC("\"recoveryWindowInDays\":30")),
	    "rules.yaml:4:47: requestParameters.recoveryWindowInDays: want "
	    "7, got 30",
	    "explain: eq int");
	is_str(explain("      eventName: DeleteSecret\n"
		       "      requestParameters.forceDeleteWithoutRecovery: "
		       "true\n",
		   DEL_REC("\"forceDeleteWithoutRecovery\":true")),
	    "match", "explain: a match");
	/* glob, regex, icase, prefix, suffix, contains, cidr. */
	is_str(explain("      userIdentity.arn: {glob: '*:role/ops-*'}\n",
		   "{\"userIdentity\":{\"arn\":\"arn:aws:iam::1:user/bob\"}}"),
	    "rules.yaml:4:25: userIdentity.arn: want glob '*:role/ops-*', got "
	    "'arn:aws:iam::1:user/bob'",
	    "explain: glob");
	is_str(explain("      requestParameters.secretId:\n"
		       "        regex: '^prod/[0-9]+$'\n"
		       "        icase: true\n",
		   DEL_REC("\"secretId\":\"PROD/x1\"")),
	    "rules.yaml:5:9: requestParameters.secretId: want regex "
	    "'^prod/[0-9]+$' (icase), got 'PROD/x1'",
	    "explain: regex, icase, a block mapping");
	is_str(explain("      eventName: {eq: deletesecret, icase: true}\n"
		       "      userAgent: {contains: terraform}\n",
		   "{\"eventName\":\"DeleteSecret\",\"userAgent\":"
		   "\"aws-cli/2\"}"),
	    "rules.yaml:5:18: userAgent: want contains 'terraform', got "
	    "'aws-cli/2'",
	    "explain: eq icase holds, then contains");
	is_str(explain("      sourceIPAddress: {cidr: 10.0.0.0/8}\n",
		   "{\"sourceIPAddress\":\"192.0.2.1\"}"),
	    "rules.yaml:4:24: sourceIPAddress: want cidr 10.0.0.0/8, got "
	    "'192.0.2.1'",
	    "explain: cidr");
	/* in (a plain list), exists, not, all of a field. */
	is_str(explain("      eventName: [DeleteSecret, RestoreSecret]\n",
		   "{\"eventName\":\"GetSecretValue\"}"),
	    "rules.yaml:4:18: eventName: want any ['DeleteSecret', "
	    "'RestoreSecret'], got 'GetSecretValue'",
	    "explain: a list (in)");
	is_str(explain("      errorCode: {exists: true}\n",
		   "{\"eventName\":\"x\"}"),
	    "rules.yaml:4:18: errorCode: field absent", "explain: exists true");
	is_str(explain("      errorCode: {exists: false}\n",
		   "{\"errorCode\":\"AccessDenied\"}"),
	    "rules.yaml:4:18: errorCode: want exists false, got "
	    "'AccessDenied'",
	    "explain: exists false");
	is_str(explain("      userAgent: {not: {contains: Mozilla}}\n",
		   "{\"userAgent\":\"Mozilla/5.0\"}"),
	    "rules.yaml:4:18: userAgent: want not contains 'Mozilla', got "
	    "'Mozilla/5.0'",
	    "explain: not of a field");
	is_str(explain("      requestParameters.secretId:\n"
		       "        all:\n"
		       "          - {prefix: prod/}\n"
		       "          - {suffix: -db}\n",
		   DEL_REC("\"secretId\":\"prod/api\"")),
	    "rules.yaml:7:13: requestParameters.secretId: want suffix '-db', "
	    "got 'prod/api'",
	    "explain: all of a field: its first failing part");
	/* numeric. */
	is_str(
	    explain("      requestParameters.recoveryWindowInDays: {lt: 7}\n",
		DEL_REC("\"recoveryWindowInDays\":\"30\"")),
	    "rules.yaml:4:47: requestParameters.recoveryWindowInDays: want lt "
	    "7, got '30'",
	    "explain: numeric");
	/* any, not of mappings. */
	is_str(explain("      any:\n"
		       "        - eventName: DeleteSecret\n"
		       "        - eventName: RestoreSecret\n",
		   "{\"eventName\":\"GetSecretValue\"}"),
	    "rules.yaml:4:7: any: want one of 2 alternatives, got none (the "
	    "first: 5:22: eventName: want 'DeleteSecret', got "
	    "'GetSecretValue')",
	    "explain: any of mappings");
	is_str(explain("      eventName: GetSecretValue\n"
		       "      not: {userIdentity.type: AWSService}\n",
		   "{\"eventName\":\"GetSecretValue\",\"userIdentity\":{"
		   "\"type\":\"AWSService\"}}"),
	    "rules.yaml:5:7: not: want no match, got a match",
	    "explain: not of a mapping");
	/* "*" paths and every. */
	is_str(explain("      resources.*.ARN: {prefix: 'arn:aws:kms:'}\n",
		   "{\"resources\":[{\"ARN\":\"arn:aws:s3:::b\"},{\"ARN\":"
		   "\"arn:aws:sm:x\"}]}"),
	    "rules.yaml:4:24: resources.*.ARN: want prefix 'arn:aws:kms:', "
	    "got 'arn:aws:s3:::b' (the first of 2)",
	    "explain: a '*' path: the first value");
	is_str(explain("      resources.*.ARN: {prefix: 'arn:aws:kms:'}\n",
		   "{\"resources\":[]}"),
	    "rules.yaml:4:24: resources.*.ARN: field absent",
	    "explain: a '*' path reaching nothing");
	is_str(explain("      resources.*.ARN: {every: {prefix: 'arn:aws:'}}\n",
		   "{\"resources\":[{\"ARN\":\"arn:aws:s3:::b\"},{\"ARN\":"
		   "\"bogus\"}]}"),
	    "rules.yaml:4:32: resources.*.ARN: want prefix 'arn:aws:', got "
	    "'bogus' (one of 2)",
	    "explain: every: the value that fails");
	is_str(explain("      resources.*.ARN: {every: {prefix: 'arn:aws:'}}\n",
		   "{\"eventName\":\"x\"}"),
	    "rules.yaml:4:24: resources.*.ARN: field absent",
	    "explain: every with nothing reached");
	/* Derived fields. */
	is_str(
	    explain("      principal: {suffix: ':role/admin'}\n",
		"{\"userIdentity\":{\"type\":\"AssumedRole\",\"arn\":"
		"\"arn:aws:sts::1:assumed-role/ops/s\",\"sessionContext\":{"
		"\"sessionIssuer\":{\"arn\":\"arn:aws:iam::1:role/ops\"}}}}"),
	    "rules.yaml:4:18: principal: want suffix ':role/admin', got "
	    "'arn:aws:iam::1:role/ops'",
	    "explain: principal (derived)");
	is_str(explain("      secretId: {prefix: prod/}\n",
		   DEL_REC("\"secretId\":\"dev/db\"")),
	    "rules.yaml:4:17: secretId: want prefix 'prod/', got 'dev/db'",
	    "explain: secretId (derived)");
	is_str(explain("      isServiceEvent: true\n",
		   "{\"eventType\":\"AwsApiCall\"}"),
	    "rules.yaml:4:23: isServiceEvent: want true, got false",
	    "explain: isServiceEvent (derived)");
	/* Hostile values: escaped, cut; an object as JSON. */
	is_str(explain("      userAgent: x\n",
		   "{\"userAgent\":\"a\\nb'c\\\\d\\u0000e\"}"),
	    "rules.yaml:4:18: userAgent: want 'x', got "
	    "'a\\x0ab\\x27c\\x5cd\\x00e'",
	    "explain: control characters, quotes, backslash, NUL escaped");
	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	(void)snprintf(json, sizeof(json), "{\"userAgent\":\"%s\"}", big);
	(void)snprintf(want, sizeof(want),
	    "rules.yaml:4:18: userAgent: want 'x', got '%.*s...'",
	    RULES_WHY_VALUE, big);
	is_str(explain("      userAgent: x\n", json), want,
	    "explain: a long value cut at RULES_WHY_VALUE bytes");
	is_str(
	    explain("      requestParameters: x\n", DEL_REC("\"a\":[1,true]")),
	    "rules.yaml:4:26: requestParameters: want 'x', got "
	    "{\"a\":[1,true]}",
	    "explain: an object's value as JSON");
}

int
main(void)
{
	test_yaml_hostile();
	test_file_hostile();
	test_structure_errors();
	test_condition_errors();
	test_nesting();
	test_warnings();
	test_settings();
	test_match_scalars();
	test_match_secret_id();
	test_match_operators();
	test_match_combinators();
	test_match_arrays();
	test_match_derived();
	test_kinds();
	test_render();
	test_default_pack();
	test_regex_perlisms();
	test_path_schema();
	test_value_checks();
	test_schema_corpus();
	test_explain();
	return done_testing();
}
