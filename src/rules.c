/*
 * rules.c: see rules.h; the format is smtrail-rules(5).
 *
 * Loading has two passes. The first (yamlx_load()) turns libyaml's events
 * into a small tree of our own, which is where hostile YAML is stopped:
 * aliases and tags are refused (no billion laughs: nothing is ever
 * expanded), nesting and the node count are capped, and a syntax error ends
 * the pass with libyaml's own words. The second pass walks that tree and
 * compiles each rule, reporting every problem it can find with the node's
 * line and column (OpenSMTPD's count-then-discard: the set is installed only
 * if nothing was wrong). Paths and regexes are compiled here, so matching
 * allocates nothing.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <json-c/json.h>

#include "buf.h"
#include "diag.h"
#include "quote.h"
#include "bounds.h"
#include "record.h"
#include "rules.h"
#include "rx.h"
#include "schema.h"
#include "yamlx.h"

/*
 * Local ceilings (candidates for bounds.h). Regex: each pattern is bounded
 * by rx.h (a compiled pattern stays in memory), and so is the file's total
 * of rx_cost() (each pattern counting 16 at least, so
 * that it also caps how many there are). Ids end up in logs, journald
 * fields and PagerDuty dedup keys; paths this long are typos. The YAML
 * ceilings (nesting, nodes, durations) are in yamlx.c.
 */
#define RULES_MAX_REGEX_TOTAL (1u << 16)
#define RULES_MAX_ID 128
#define RULES_MAX_PATH 512

#define RULES_DEFAULT_SUMMARY "{{eventName}} on {{secretId}}"

const char *const rules_known_events[] = {
    "BatchGetSecretValue",
    "CancelRotateSecret",
    "CancelSecretVersionDelete",
    "CreateSecret",
    "DeleteResourcePolicy",
    "DeleteSecret",
    "DescribeSecret",
    "EndSecretVersionDelete",
    "GetRandomPassword",
    "GetResourcePolicy",
    "GetSecretValue",
    "ListSecrets",
    "ListSecretVersionIds",
    "PutResourcePolicy",
    "PutSecretValue",
    "RemoveRegionsFromReplication",
    "ReplicateSecretToRegions",
    "RestoreSecret",
    "RotateSecret",
    "RotationStarted",
    "RotationAbandoned",
    "RotationFailed",
    "RotationSucceeded",
    "StartSecretVersionDelete",
    "StopReplicationToReplica",
    "TagResource",
    "TestRotationStarted",
    "TestRotationSucceeded",
    "TestRotationFailed",
    "UntagResource",
    "UpdateSecret",
    "UpdateSecretVersionStage",
    "ValidateResourcePolicy",
    NULL,
};

enum rules_key {
	RULES_KEY_ID,
	RULES_KEY_TITLE,
	RULES_KEY_SEVERITY,
	RULES_KEY_MATCH,
	RULES_KEY_GROUP_BY,
	RULES_KEY_SUMMARY,
	RULES_KEY_DESTINATIONS,
	RULES_KEY_THROTTLE,
	RULES_KEY_GROUP_WAIT,
	RULES_KEY_RESOLVE_ON,
	RULES_KEY_ENABLED,
	RULES_KEY_THRESHOLD,
	RULES_KEY_DISTINCT,
	RULES_KEY_FIRST_SEEN,
	RULES_KEY_EXPECT,
	RULES_KEY_READERS,
	RULES_KEY_COUNT
};

static const char *const rules_key_names[RULES_KEY_COUNT + 1] = {
    [RULES_KEY_ID] = "id",
    [RULES_KEY_TITLE] = "title",
    [RULES_KEY_SEVERITY] = "severity",
    [RULES_KEY_MATCH] = "match",
    [RULES_KEY_GROUP_BY] = "group_by",
    [RULES_KEY_SUMMARY] = "summary",
    [RULES_KEY_DESTINATIONS] = "destinations",
    [RULES_KEY_THROTTLE] = "throttle",
    [RULES_KEY_GROUP_WAIT] = "group_wait",
    [RULES_KEY_RESOLVE_ON] = "resolve_on",
    [RULES_KEY_ENABLED] = "enabled",
    [RULES_KEY_THRESHOLD] = "threshold",
    [RULES_KEY_DISTINCT] = "distinct",
    [RULES_KEY_FIRST_SEEN] = "first_seen",
    [RULES_KEY_EXPECT] = "expect",
    [RULES_KEY_READERS] = "readers",
    [RULES_KEY_COUNT] = NULL,
};

/* The keys of each kind's mapping. */
static const char *const rules_window_keys[] = {"count", "within", "field",
    "learn", "match"};
enum rules_wkey {
	RULES_W_COUNT,
	RULES_W_WITHIN,
	RULES_W_FIELD,
	RULES_W_LEARN,
	RULES_W_MATCH,
	RULES_W_COUNT_KEYS
};
/* Which of them each kind takes (bit per enum rules_wkey), and needs. */
static const struct {
	const char *name;
	unsigned takes;
} rules_kinds[RULES_KIND_COUNT] = {
    [RULES_KIND_EVENT] = {"event", 0},
    [RULES_KIND_THRESHOLD] = {"threshold",
	(1u << RULES_W_COUNT) | (1u << RULES_W_WITHIN)},
    [RULES_KIND_DISTINCT] = {"distinct",
	(1u << RULES_W_FIELD) | (1u << RULES_W_COUNT) | (1u << RULES_W_WITHIN)},
    [RULES_KIND_FIRST_SEEN] = {"first_seen", 1u << RULES_W_LEARN},
    [RULES_KIND_EXPECT] = {"expect",
	(1u << RULES_W_MATCH) | (1u << RULES_W_WITHIN)},
};

static const char *const rules_top_keys[] = {"rules", NULL};

enum rules_op {
	RULES_OP_EQ, /* a scalar: typed equality */
	RULES_OP_EXISTS,
	RULES_OP_PREFIX,
	RULES_OP_SUFFIX,
	RULES_OP_CONTAINS,
	RULES_OP_GLOB,
	RULES_OP_REGEX,
	RULES_OP_CIDR,
	RULES_OP_GT,
	RULES_OP_GE,
	RULES_OP_LT,
	RULES_OP_LE,
	RULES_OP_NOT,
	RULES_OP_ANY, /* also a plain list */
	RULES_OP_ALL,
	RULES_OP_EVERY, /* a field's condition: for every "*" element */
	RULES_OP_COUNT
};

/* Operator names as written in a condition mapping; EQ has none. */
static const char *const rules_op_names[RULES_OP_COUNT + 1] = {
    [RULES_OP_EQ] = "eq",
    [RULES_OP_EXISTS] = "exists",
    [RULES_OP_PREFIX] = "prefix",
    [RULES_OP_SUFFIX] = "suffix",
    [RULES_OP_CONTAINS] = "contains",
    [RULES_OP_GLOB] = "glob",
    [RULES_OP_REGEX] = "regex",
    [RULES_OP_CIDR] = "cidr",
    [RULES_OP_GT] = "gt",
    [RULES_OP_GE] = "ge",
    [RULES_OP_LT] = "lt",
    [RULES_OP_LE] = "le",
    [RULES_OP_NOT] = "not",
    [RULES_OP_ANY] = "any",
    [RULES_OP_ALL] = "all",
    [RULES_OP_EVERY] = "every",
    [RULES_OP_COUNT] = NULL,
};

/* Which values of a field's conditions are checked against a known set. */
enum rules_vcheck { RULES_V_NONE, RULES_V_EVENT_NAME, RULES_V_EVENT_SOURCE };

/* A condition on one value (what a field path maps to). */
struct rules_cond {
	enum rules_op op;
	enum yamlx_scalar type; /* EQ */
	bool b;                 /* EQ bool, EXISTS */
	int64_t i;              /* EQ int */
	double d;               /* EQ number, GT..LE */
	char *s;                /* EQ string, PREFIX..GLOB */
	size_t len;
	regex_t re; /* REGEX */
	bool re_ok;
	int af; /* CIDR: AF_INET or AF_INET6 */
	unsigned char net[16];
	unsigned bits;
	struct rules_cond **sub; /* NOT, EVERY (one), ANY, ALL */
	size_t n;
	bool icase;         /* EQ string, PREFIX..REGEX: ASCII case ignored */
	unsigned line, col; /* where it is written (rules_explain()) */
};

enum rules_mkind { RULES_M_FIELD, RULES_M_ALL, RULES_M_ANY, RULES_M_NOT };

/* A match mapping: conditions on fields, and any:/all:/not: of mappings. */
struct rules_match {
	enum rules_mkind kind;
	struct record_path *path; /* FIELD */
	struct rules_cond *cond;  /* FIELD */
	struct rules_match **sub; /* ALL, ANY, NOT (one) */
	size_t n;
	unsigned line, col; /* ANY, NOT: the key's (rules_explain()) */
};

struct rules {
	struct rule *v;
	size_t n;
	size_t cap;
};

/*
 * The event names a match mapping is about (its eventName, or an
 * enclosing mapping's): its requestParameters and responseElements are
 * those events' (schema_event()). n == 0: any event's.
 */
#define RULES_MAX_SCOPE 8
struct rules_scope {
	const char *ev[RULES_MAX_SCOPE];
	size_t n;
};

struct rules_ctx {
	struct yamlx y;          /* the file, its diagnostics, errors, oom */
	bool cond_top;           /* the next condition is a field's whole one */
	uint64_t regex_cost;     /* spent of RULES_MAX_REGEX_TOTAL */
	struct json_object *ids; /* rule id -> line, for duplicates */
	const char *field;       /* the path whose condition is compiled */
	struct rules_scope scope;
	struct rules *rs;
};

/* ---- field paths and templates ---------------------------------------- */

/* At most this many names are offered to yamlx_suggest() at once. */
#define RULES_MAX_NAMES 128

/* The closest of f's members to the len bytes at s, or NULL. */
static const char *
rules_suggest_member(struct rules_ctx *c, const struct schema_field *f,
    const char *s, size_t len)
{
	const char *names[RULES_MAX_NAMES];
	char seg[RULES_MAX_PATH];
	size_t n = 0;
	size_t i;

	if (len >= sizeof(seg))
		return NULL;
	memcpy(seg, s, len);
	seg[len] = '\0';
	for (i = 0; i < f->n && n < RULES_MAX_NAMES; i++)
		names[n++] = schema_member(f, i)->name;
	return yamlx_suggest(&c->y, seg, names, n, false);
}

/*
 * A requestParameters or responseElements path known for some event but
 * not for those of the mapping (c->scope): warns, naming them.
 */
static void
rules_check_scoped(struct rules_ctx *c, const struct yamlx_node *n,
    const char *path, size_t len)
{
	static const char req[] = "requestParameters.";
	static const char resp[] = "responseElements.";
	const struct schema_field *parent = NULL;
	const struct schema_field *f;
	const char *best = NULL;
	const char *rest;
	char q[YAMLX_Q_SIZE];
	char hint[RULES_MAX_PATH + 64];
	char evs[160];
	size_t pre;
	size_t off = 0;
	size_t slen = 0;
	size_t i;
	bool response;

	if (c->scope.n == 0)
		return;
	if (len > sizeof(req) - 1 && memcmp(path, req, sizeof(req) - 1) == 0)
		pre = sizeof(req) - 1;
	else if (len > sizeof(resp) - 1 &&
	    memcmp(path, resp, sizeof(resp) - 1) == 0)
		pre = sizeof(resp) - 1;
	else
		return;
	response = pre == sizeof(resp) - 1;
	rest = path + pre;
	evs[0] = '\0';
	for (i = 0; i < c->scope.n; i++) {
		f = schema_event(c->scope.ev[i], response);
		if (f != NULL &&
		    schema_walk(f, rest, len - pre, &off, &slen, &parent) == 0)
			return;
		(void)snprintf(evs + strlen(evs), sizeof(evs) - strlen(evs),
		    "%s%s", i > 0 ? ", " : "", c->scope.ev[i]);
	}
	/* The first event's closest member, where its walk stopped. */
	f = schema_event(c->scope.ev[0], response);
	if (f == NULL) {
		off = 0;
		slen = strcspn(rest, ".");
	} else if (schema_walk(f, rest, len - pre, &off, &slen, &parent) < 0 &&
	    (parent->kind == SCHEMA_OBJECT || parent->kind == SCHEMA_ARRAY)) {
		best = rules_suggest_member(c, parent, rest + off, slen);
	}
	hint[0] = '\0';
	if (best != NULL)
		(void)snprintf(hint, sizeof(hint), " (did you mean '%.*s%s'?)",
		    (int)(pre + off), path, best);
	yamlx_warn(&c->y, n, "unknown CloudTrail field '%s' for eventName %s%s",
	    yamlx_q(q, sizeof(q), path, pre + off + slen), evs, hint);
}

/*
 * Warns when a path leaves the record's schema (schema.h): an unknown
 * segment at any depth most likely is a typo ("userIdentity.ar") that
 * would silently never match.
 */
static void
rules_check_field(struct rules_ctx *c, const struct yamlx_node *n,
    const char *path, size_t len)
{
	const struct schema_field *parent;
	const char *best;
	char q[YAMLX_Q_SIZE];
	char q2[YAMLX_Q_SIZE];
	char hint[RULES_MAX_PATH + 64];
	size_t off;
	size_t slen;

	if (schema_walk(schema_record(), path, len, &off, &slen, &parent) ==
	    0) {
		rules_check_scoped(c, n, path, len);
		return;
	}
	hint[0] = '\0';
	/* An ARRAY's members follow its index ('*' or digits; no array's
	 * name ends in either). */
	if (parent->kind == SCHEMA_OBJECT ||
	    (parent->kind == SCHEMA_ARRAY && off >= 2 &&
		(path[off - 2] == '*' ||
		    (path[off - 2] >= '0' && path[off - 2] <= '9')))) {
		best = rules_suggest_member(c, parent, path + off, slen);
		if (best != NULL)
			(void)snprintf(hint, sizeof(hint),
			    " (did you mean '%.*s%s'?)", (int)off, path, best);
	} else if (parent->kind == SCHEMA_ARRAY) {
		(void)snprintf(hint, sizeof(hint),
		    " ('%s' is a list: write '%.*s*.%.*s')",
		    yamlx_q(q2, sizeof(q2), path, off > 0 ? off - 1 : 0),
		    (int)off, path, (int)slen, path + off);
	} else {
		(void)snprintf(hint, sizeof(hint), " ('%s' has no fields)",
		    yamlx_q(q2, sizeof(q2), path, off > 0 ? off - 1 : 0));
	}
	yamlx_warn(&c->y, n, "unknown CloudTrail field '%s'%s",
	    yamlx_q(q, sizeof(q), path, off + slen), hint);
}

/* Compiles a path given as text; reports at n. */
static struct record_path *
rules_path_text(struct rules_ctx *c, const struct yamlx_node *n, const char *s,
    size_t len, const char *where)
{
	struct record_path *p;
	char q[YAMLX_Q_SIZE];
	int r;

	if (len == 0) {
		yamlx_err(&c->y, n, "empty field path%s", where);
		return NULL;
	}
	if (strlen(s) != len) {
		yamlx_err(&c->y, n, "NUL byte in field path%s", where);
		return NULL;
	}
	if (len >= RULES_MAX_PATH) {
		yamlx_err(&c->y, n, "field path longer than %d bytes%s",
		    RULES_MAX_PATH - 1, where);
		return NULL;
	}
	r = record_path_compile(s, &p);
	if (r == -ENOMEM) {
		c->y.oom = true;
		return NULL;
	}
	if (r < 0) {
		yamlx_err(&c->y, n, "empty segment in field path '%s'%s",
		    yamlx_q(q, sizeof(q), s, len), where);
		return NULL;
	}
	rules_check_field(c, n, s, len);
	return p;
}

static struct record_path *
rules_path(struct rules_ctx *c, const struct yamlx_node *n)
{
	if (n->type == YAMLX_NODE_BAD)
		return NULL;
	if (n->type != YAMLX_NODE_SCALAR) {
		yamlx_err(&c->y, n, "expected a field path");
		return NULL;
	}
	return rules_path_text(c, n, n->s, n->len, "");
}

static bool
rules_is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* The next placeholder in [p, end): its "{{" and the trimmed path. */
static const char *
rules_tmpl_next(const char *p, const char *end, const char **ret_path,
    size_t *ret_len, const char **ret_after)
{
	const char *o;
	const char *e;
	const char *a;
	const char *b;

	o = memmem(p, (size_t)(end - p), "{{", 2);
	if (o == NULL)
		return NULL;
	e = memmem(o + 2, (size_t)(end - (o + 2)), "}}", 2);
	if (e == NULL) {
		*ret_path = NULL;
		*ret_after = end;
		return o;
	}
	a = o + 2;
	b = e;
	while (a < b && rules_is_space(*a))
		a++;
	while (b > a && rules_is_space(b[-1]))
		b--;
	*ret_path = a;
	*ret_len = (size_t)(b - a);
	*ret_after = e + 2;
	return o;
}

/* Checks a summary template: every "{{" closed, every path valid. */
static bool
rules_tmpl_check(struct rules_ctx *c, const struct yamlx_node *n)
{
	const char *p = n->s;
	const char *end = n->s + n->len;
	const char *path;
	const char *after;
	struct record_path *rp;
	char tmp[RULES_MAX_PATH];
	size_t len;
	bool ok = true;

	while (rules_tmpl_next(p, end, &path, &len, &after) != NULL) {
		if (path == NULL) {
			yamlx_err(&c->y, n, "unterminated '{{' in summary");
			return false;
		}
		if (len == 0) {
			yamlx_err(&c->y, n, "empty placeholder in summary");
			ok = false;
		} else if (len >= sizeof(tmp)) {
			yamlx_err(&c->y, n,
			    "field path longer than %d bytes in summary",
			    RULES_MAX_PATH - 1);
			ok = false;
		} else {
			memcpy(tmp, path, len);
			tmp[len] = '\0';
			rp = rules_path_text(c, n, tmp, len, " in summary");
			if (rp == NULL)
				ok = false;
			record_path_free(rp);
		}
		p = after;
	}
	return ok;
}

/* ---- conditions ------------------------------------------------------- */

static void
rules_cond_free(struct rules_cond *cd)
{
	size_t i;

	if (cd == NULL)
		return;
	for (i = 0; i < cd->n; i++)
		rules_cond_free(cd->sub[i]);
	free(cd->sub);
	if (cd->re_ok)
		regfree(&cd->re);
	free(cd->s);
	free(cd);
}

static struct rules_cond *
rules_cond_new(struct rules_ctx *c, enum rules_op op)
{
	struct rules_cond *cd = calloc(1, sizeof(*cd));

	if (cd == NULL) {
		c->y.oom = true;
		return NULL;
	}
	cd->op = op;
	return cd;
}

static bool
rules_depth_ok(struct rules_ctx *c, const struct yamlx_node *n, unsigned depth)
{
	if (depth < RULES_MAX_DEPTH)
		return true;
	yamlx_err(&c->y, n, "nesting deeper than %d levels", RULES_MAX_DEPTH);
	return false;
}

static struct rules_cond *rules_cond_compile(struct rules_ctx *c,
    const struct yamlx_node *n, unsigned depth, enum rules_vcheck vcheck);

/*
 * A suggestion for an event name that is not close to a known one: the
 * IAM action spelling ("secretsmanager:DeleteSecret" is eventName
 * DeleteSecret), or the shortest known name it begins ("GetSecret").
 */
static const char *
rules_event_suggest(const char *s, size_t len)
{
	static const char iam[] = "secretsmanager:";
	const char *best = NULL;
	size_t i;

	if (len > sizeof(iam) - 1 && strncasecmp(s, iam, sizeof(iam) - 1) == 0)
		for (i = 0; rules_known_events[i] != NULL; i++)
			if (strcasecmp(s + sizeof(iam) - 1,
				rules_known_events[i]) == 0)
				return rules_known_events[i];
	if (len < 3)
		return NULL;
	for (i = 0; rules_known_events[i] != NULL; i++)
		if (strncasecmp(rules_known_events[i], s, len) == 0 &&
		    (best == NULL ||
			strlen(rules_known_events[i]) < strlen(best)))
			best = rules_known_events[i];
	return best;
}

static void
rules_event_check(struct rules_ctx *c, const struct yamlx_node *n)
{
	char hint[96];
	char q[YAMLX_Q_SIZE];
	const char *best;
	size_t nev = yamlx_nlist(rules_known_events);

	if (strlen(n->s) == n->len && yamlx_in_list(n->s, rules_known_events))
		return;
	best = yamlx_suggest(&c->y, n->s, rules_known_events, nev, true);
	if (best == NULL && strlen(n->s) == n->len)
		best = rules_event_suggest(n->s, n->len);
	yamlx_warn(&c->y, n, "unknown event name '%s'%s", YAMLX_QN(q, n),
	    yamlx_hint(hint, sizeof(hint), best));
}

static void
rules_source_check(struct rules_ctx *c, const struct yamlx_node *n)
{
	char hint[96];
	char q[YAMLX_Q_SIZE];

	if (strlen(n->s) == n->len && yamlx_in_list(n->s, schema_event_sources))
		return;
	yamlx_warn(&c->y, n, "unknown event source '%s'%s", YAMLX_QN(q, n),
	    yamlx_hint(hint, sizeof(hint),
		yamlx_suggest(&c->y, n->s, schema_event_sources,
		    yamlx_nlist(schema_event_sources), true)));
}

/*
 * Whether k, found where an operator was expected, is a field below the
 * path being compiled (a nested mapping meant as a path): then reported
 * with the dotted path to write, and true.
 */
static bool
rules_nested_field(struct rules_ctx *c, const struct yamlx_node *k)
{
	const struct schema_field *parent;
	char path[RULES_MAX_PATH];
	char q[YAMLX_Q_SIZE];
	size_t off;
	size_t slen;
	int len;

	if (c->field == NULL || k->type != YAMLX_NODE_SCALAR ||
	    strlen(k->s) != k->len || k->len == 0 ||
	    strcmp(k->s, "icase") == 0 || yamlx_in_list(k->s, rules_op_names))
		return false;
	len = snprintf(path, sizeof(path), "%s.%s", c->field, k->s);
	if (len < 0 || (size_t)len >= sizeof(path))
		return false;
	if (schema_walk(schema_record(), path, (size_t)len, &off, &slen,
		&parent) < 0)
		return false;
	yamlx_err(&c->y, k, "unknown operator '%s' (write `%s: …`)",
	    YAMLX_QN(q, k), path);
	return true;
}

static struct rules_cond *
rules_cond_scalar(struct rules_ctx *c, const struct yamlx_node *n,
    enum rules_vcheck vcheck)
{
	struct rules_cond *cd = rules_cond_new(c, RULES_OP_EQ);

	if (cd == NULL)
		return NULL;
	cd->type = yamlx_scalar_type(n, &cd->b, &cd->i, &cd->d);
	if (cd->type == YAMLX_SCALAR_STRING) {
		cd->s = yamlx_strdup(&c->y, n->s, n->len);
		cd->len = n->len;
		if (cd->s == NULL) {
			rules_cond_free(cd);
			return NULL;
		}
		if (vcheck == RULES_V_EVENT_NAME)
			rules_event_check(c, n);
		else if (vcheck == RULES_V_EVENT_SOURCE)
			rules_source_check(c, n);
	}
	return cd;
}

/* any:/all: or a plain list: at least one condition. */
static struct rules_cond *
rules_cond_list(struct rules_ctx *c, const struct yamlx_node *at,
    const struct yamlx_node *list, enum rules_op op, unsigned depth,
    enum rules_vcheck vcheck)
{
	struct rules_cond *cd;
	size_t i;
	bool ok = true;

	if (!rules_depth_ok(c, at, depth))
		return NULL;
	if (list->n == 0) {
		yamlx_err(&c->y, list, "empty list of conditions");
		return NULL;
	}
	cd = rules_cond_new(c, op);
	if (cd == NULL)
		return NULL;
	cd->sub = calloc(list->n, sizeof(*cd->sub));
	if (cd->sub == NULL) {
		c->y.oom = true;
		rules_cond_free(cd);
		return NULL;
	}
	for (i = 0; i < list->n; i++) {
		cd->sub[cd->n] =
		    rules_cond_compile(c, list->kid[i], depth + 1, vcheck);
		if (cd->sub[cd->n] == NULL)
			ok = false;
		else
			cd->n++;
	}
	if (!ok) {
		rules_cond_free(cd);
		return NULL;
	}
	return cd;
}

static bool
rules_regex_compile(struct rules_ctx *c, const struct yamlx_node *n,
    struct rules_cond *cd)
{
	char err[200];
	uint64_t cost;
	int r;

	if (rx_perlism(n->s, n->len, err, sizeof(err)) != NULL) {
		yamlx_err(&c->y, n, "bad regex: %s", err);
		return false;
	}
	r = rx_compile_flags(&cd->re, n->s, n->len, cd->icase ? REG_ICASE : 0,
	    &cost, err, sizeof(err));
	if (r == -ENOMEM) {
		c->y.oom = true;
		return false;
	}
	if (r < 0) {
		yamlx_err(&c->y, n, "bad regex: %s", err);
		return false;
	}
	if (cost > RULES_MAX_REGEX_TOTAL - c->regex_cost) {
		regfree(&cd->re);
		yamlx_err(&c->y, n,
		    "bad regex: the file's regexes are too complex together");
		return false;
	}
	c->regex_cost += cost;
	cd->re_ok = true;
	return true;
}

/* Whether the first bits of a and b agree. */
static bool
rules_prefix_eq(const unsigned char *a, const unsigned char *b, unsigned bits)
{
	unsigned whole = bits / 8;
	unsigned rest = bits % 8;
	unsigned char mask;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (unsigned char)(0xff << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

/* Parses "addr/bits" (or a bare address: one host); NULL or why not. */
static const char *
rules_cidr_parse(const char *s, struct rules_cond *cd, char *hint,
    size_t hintsz)
{
	char addr[INET6_ADDRSTRLEN + 1];
	unsigned char masked[16];
	char text[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	unsigned max;
	unsigned bits = 0;
	size_t i;

	hint[0] = '\0';
	if (alen == 0 || alen >= sizeof(addr))
		return "";
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, cd->net) == 1) {
		cd->af = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, cd->net) == 1) {
		cd->af = AF_INET6;
		max = 128;
	} else {
		return "";
	}
	if (slash == NULL) {
		cd->bits = max;
		return NULL;
	}
	if (slash[1] == '\0' || strlen(slash + 1) > 3)
		return "";
	for (i = 1; slash[i] != '\0'; i++) {
		if (slash[i] < '0' || slash[i] > '9')
			return "";
		bits = bits * 10 + (unsigned)(slash[i] - '0');
	}
	if (bits > max)
		return "";
	cd->bits = bits;
	memset(masked, 0, sizeof(masked));
	memcpy(masked, cd->net, bits / 8);
	if (bits % 8 != 0)
		masked[bits / 8] = (unsigned char)(cd->net[bits / 8] &
		    (0xff << (8 - bits % 8)));
	if (memcmp(masked, cd->net, max / 8) != 0) {
		if (inet_ntop(cd->af, masked, text, sizeof(text)) != NULL)
			(void)snprintf(hint, hintsz,
			    " (host bits set; did you mean '%s/%u'?)", text,
			    bits);
		return "host bits";
	}
	return NULL;
}

/* The value of a gt/ge/lt/le operand: a number, quoted or not. */
static bool
rules_operand_number(struct rules_ctx *c, const struct yamlx_node *n,
    const char *what, double *ret)
{
	if (n->type == YAMLX_NODE_BAD)
		return false;
	if (n->type != YAMLX_NODE_SCALAR ||
	    !yamlx_parse_number(n->s, n->len, ret)) {
		yamlx_err(&c->y, n, "expected a number for '%s'", what);
		return false;
	}
	return true;
}

/* The operators 'icase' applies to. */
static bool
rules_op_has_case(enum rules_op op)
{
	return op == RULES_OP_EQ || op == RULES_OP_PREFIX ||
	    op == RULES_OP_SUFFIX || op == RULES_OP_CONTAINS ||
	    op == RULES_OP_GLOB || op == RULES_OP_REGEX;
}

/*
 * Finds the operator of a condition mapping (its key index in *ret) and
 * reads an 'icase' flag beside it. False (reported) when there is no
 * operator, more than one, or a bad flag.
 */
static bool
rules_cond_keys(struct rules_ctx *c, const struct yamlx_node *map, size_t *ret,
    bool *ret_icase, const struct yamlx_node **ret_icase_at)
{
	const struct yamlx_node *k;
	const struct yamlx_node *k2;
	char q[YAMLX_Q_SIZE];
	char q2[YAMLX_Q_SIZE];
	size_t first = 0;
	size_t second = 0;
	size_t n = 0;
	size_t i;

	*ret_icase = false;
	*ret_icase_at = NULL;
	for (i = 0; i + 1 < map->n; i += 2) {
		k = map->kid[i];
		if (k->type == YAMLX_NODE_SCALAR &&
		    strcmp(k->s, "icase") == 0) {
			*ret_icase_at = k;
			if (!yamlx_bool(&c->y, map->kid[i + 1], "icase",
				ret_icase))
				return false;
			continue;
		}
		if (n++ == 0)
			first = i;
		else if (n == 2)
			second = i;
	}
	if (n == 0) {
		yamlx_err(&c->y, map,
		    *ret_icase_at != NULL
			? "'icase' alone (expected beside an operator such as 'eq' or 'prefix')"
			: "empty condition (expected an operator such as 'prefix' or 'regex')");
		return false;
	}
	if (n > 1) {
		k = map->kid[first];
		k2 = map->kid[second];
		if (rules_nested_field(c, k))
			return false;
		if (k->type == YAMLX_NODE_SCALAR &&
		    k2->type == YAMLX_NODE_SCALAR)
			yamlx_err(&c->y, k2,
			    "more than one operator in a condition ('%s' and '%s'); combine them with 'all'",
			    YAMLX_QN(q, k), YAMLX_QN(q2, k2));
		else
			yamlx_err(&c->y, k2,
			    "more than one operator in a condition; combine them with 'all'");
		return false;
	}
	*ret = first;
	return true;
}

/* A condition mapping: exactly one operator (and 'icase'). */
static struct rules_cond *
rules_cond_op(struct rules_ctx *c, const struct yamlx_node *map, unsigned depth,
    enum rules_vcheck vcheck)
{
	const struct yamlx_node *k;
	const struct yamlx_node *v;
	const struct yamlx_node *icase_at;
	struct rules_cond *cd;
	enum rules_op op;
	const char *s;
	const char *why;
	char hint[96];
	char q[YAMLX_Q_SIZE];
	size_t at;
	bool top = c->cond_top;
	bool icase;
	bool ok = true;

	c->cond_top = false; /* what this one holds is nested */
	if (!rules_cond_keys(c, map, &at, &icase, &icase_at))
		return NULL;
	k = map->kid[at];
	v = map->kid[at + 1];
	if (k->type == YAMLX_NODE_BAD)
		return NULL;
	if (k->type != YAMLX_NODE_SCALAR) {
		yamlx_err(&c->y, k, "expected an operator name");
		return NULL;
	}
	for (op = RULES_OP_EQ; op < RULES_OP_COUNT; op++)
		if (strcmp(k->s, rules_op_names[op]) == 0)
			break;
	if ((op == RULES_OP_COUNT || strlen(k->s) != k->len) &&
	    rules_nested_field(c, k))
		return NULL;
	if (op == RULES_OP_COUNT || strlen(k->s) != k->len) {
		yamlx_err(&c->y, k, "unknown operator '%s'%s", YAMLX_QN(q, k),
		    yamlx_hint(hint, sizeof(hint),
			yamlx_suggest(&c->y, k->s, rules_op_names,
			    RULES_OP_COUNT, false)));
		return NULL;
	}
	if (icase && !rules_op_has_case(op)) {
		yamlx_err(&c->y, icase_at,
		    "'icase' applies to eq, prefix, suffix, contains, glob and regex, not '%s'",
		    rules_op_names[op]);
		return NULL;
	}
	if (op == RULES_OP_EQ) {
		if (v->type != YAMLX_NODE_SCALAR) {
			if (v->type != YAMLX_NODE_BAD)
				yamlx_err(&c->y, v,
				    "expected one value for 'eq'");
			return NULL;
		}
		cd = rules_cond_scalar(c, v, vcheck);
		if (cd != NULL)
			cd->icase = icase && cd->type == YAMLX_SCALAR_STRING;
		return cd;
	}
	if (op == RULES_OP_EVERY && !top) {
		yamlx_err(&c->y, k,
		    "'every' must be a field's whole condition (a path with a '*' segment: 'a.*.b: {every: ...}')");
		return NULL;
	}
	if (op == RULES_OP_NOT || op == RULES_OP_EVERY) {
		if (!rules_depth_ok(c, k, depth))
			return NULL;
		cd = rules_cond_new(c, op);
		if (cd == NULL)
			return NULL;
		cd->sub = calloc(1, sizeof(*cd->sub));
		if (cd->sub == NULL) {
			c->y.oom = true;
			rules_cond_free(cd);
			return NULL;
		}
		cd->sub[0] = rules_cond_compile(c, v, depth + 1, vcheck);
		if (cd->sub[0] == NULL) {
			rules_cond_free(cd);
			return NULL;
		}
		cd->n = 1;
		return cd;
	}
	if (op == RULES_OP_ANY || op == RULES_OP_ALL) {
		if (v->type == YAMLX_NODE_BAD)
			return NULL;
		if (v->type != YAMLX_NODE_SEQ) {
			yamlx_err(&c->y, v,
			    "expected a list of conditions for '%s'",
			    rules_op_names[op]);
			return NULL;
		}
		return rules_cond_list(c, k, v, op, depth, vcheck);
	}
	cd = rules_cond_new(c, op);
	if (cd == NULL)
		return NULL;
	cd->icase = icase;
	switch (op) {
	case RULES_OP_EXISTS:
		ok = yamlx_bool(&c->y, v, rules_op_names[op], &cd->b);
		break;
	case RULES_OP_PREFIX:
	case RULES_OP_SUFFIX:
	case RULES_OP_CONTAINS:
	case RULES_OP_GLOB:
		s = yamlx_str(&c->y, v, rules_op_names[op]);
		if (s == NULL) {
			ok = false;
			break;
		}
		if (op == RULES_OP_GLOB && strlen(s) != v->len) {
			yamlx_err(&c->y, v, "NUL byte in pattern for 'glob'");
			ok = false;
			break;
		}
		cd->s = yamlx_strdup(&c->y, s, v->len);
		cd->len = v->len;
		ok = cd->s != NULL;
		break;
	case RULES_OP_REGEX:
		ok = yamlx_str(&c->y, v, rules_op_names[op]) != NULL &&
		    rules_regex_compile(c, v, cd);
		break;
	case RULES_OP_CIDR:
		s = yamlx_str(&c->y, v, rules_op_names[op]);
		if (s == NULL) {
			ok = false;
			break;
		}
		why = rules_cidr_parse(s, cd, hint, sizeof(hint));
		if (why != NULL) {
			yamlx_err(&c->y, v, "bad CIDR '%s'%s", YAMLX_QN(q, v),
			    hint[0] != '\0'
				? hint
				: " (expected an address and prefix length such as '10.0.0.0/8' or '2001:db8::/32')");
			ok = false;
		}
		break;
	case RULES_OP_GT:
	case RULES_OP_GE:
	case RULES_OP_LT:
	case RULES_OP_LE:
		ok = rules_operand_number(c, v, rules_op_names[op], &cd->d);
		break;
	case RULES_OP_EQ:
	case RULES_OP_NOT:
	case RULES_OP_ANY:
	case RULES_OP_ALL:
	case RULES_OP_EVERY:
	case RULES_OP_COUNT:
		ok = false; /* handled above */
		break;
	}
	if (!ok) {
		rules_cond_free(cd);
		return NULL;
	}
	return cd;
}

/* A regex's text, kept for rules_explain() (the pattern is compiled). */
static void
rules_cond_source(struct rules_ctx *c, const struct yamlx_node *map,
    struct rules_cond *cd)
{
	const struct yamlx_node *v;
	size_t i;

	for (i = 0; i + 1 < map->n; i += 2) {
		v = map->kid[i + 1];
		if (map->kid[i]->type == YAMLX_NODE_SCALAR &&
		    strcmp(map->kid[i]->s, "regex") == 0 &&
		    v->type == YAMLX_NODE_SCALAR) {
			cd->s = yamlx_strdup(&c->y, v->s, v->len);
			cd->len = v->len;
			return;
		}
	}
}

static struct rules_cond *
rules_cond_compile(struct rules_ctx *c, const struct yamlx_node *n,
    unsigned depth, enum rules_vcheck vcheck)
{
	struct rules_cond *cd = NULL;

	switch (n->type) {
	case YAMLX_NODE_SCALAR:
		cd = rules_cond_scalar(c, n, vcheck);
		break;
	case YAMLX_NODE_SEQ:
		cd = rules_cond_list(c, n, n, RULES_OP_ANY, depth, vcheck);
		break;
	case YAMLX_NODE_MAP:
		cd = rules_cond_op(c, n, depth, vcheck);
		break;
	case YAMLX_NODE_BAD:
		break;
	}
	if (cd != NULL && cd->line == 0) {
		cd->line = n->line;
		cd->col = n->col;
	}
	if (cd != NULL && cd->op == RULES_OP_REGEX && cd->s == NULL)
		rules_cond_source(c, n, cd);
	return cd;
}

/* ---- matching --------------------------------------------------------- */

static const char *
rules_jstr(struct json_object *v, size_t *ret_len)
{
	if (v == NULL || !json_object_is_type(v, json_type_string))
		return NULL;
	*ret_len = (size_t)json_object_get_string_len(v);
	return json_object_get_string(v);
}

/* A JSON number, or a string holding a decimal number. */
static bool
rules_jnum(struct json_object *v, double *ret)
{
	const char *s;
	size_t len = 0;

	if (v == NULL)
		return false;
	switch (json_object_get_type(v)) {
	case json_type_int:
		*ret = (double)json_object_get_int64(v);
		return true;
	case json_type_double:
		*ret = json_object_get_double(v);
		return true;
	case json_type_string:
		s = rules_jstr(v, &len);
		return yamlx_parse_number(s, len, ret);
	case json_type_null:
	case json_type_boolean:
	case json_type_object:
	case json_type_array:
		break;
	}
	return false;
}

/* len bytes of a and b agree (ASCII letters in either case, if icase). */
static bool
rules_memeq(const char *a, const char *b, size_t len, bool icase)
{
	size_t i;

	if (!icase)
		return memcmp(a, b, len) == 0;
	for (i = 0; i < len; i++)
		if (tolower((unsigned char)a[i]) !=
		    tolower((unsigned char)b[i]))
			return false;
	return true;
}

/* Whether needle (nlen bytes, > 0) occurs in hay (hlen bytes). */
static bool
rules_contains(const char *hay, size_t hlen, const char *needle, size_t nlen,
    bool icase)
{
	size_t i;

	if (!icase)
		return memmem(hay, hlen, needle, nlen) != NULL;
	for (i = 0; i + nlen <= hlen; i++)
		if (rules_memeq(hay + i, needle, nlen, true))
			return true;
	return false;
}

static bool
rules_eq(const struct rules_cond *cd, struct json_object *v)
{
	const char *s;
	size_t len;

	switch (cd->type) {
	case YAMLX_SCALAR_NULL:
		return v == NULL;
	case YAMLX_SCALAR_BOOL:
		return v != NULL && json_object_is_type(v, json_type_boolean) &&
		    (json_object_get_boolean(v) != 0) == cd->b;
	case YAMLX_SCALAR_INT:
		if (v != NULL && json_object_is_type(v, json_type_int))
			return json_object_get_int64(v) == cd->i;
		return v != NULL && json_object_is_type(v, json_type_double) &&
		    json_object_get_double(v) == cd->d;
	case YAMLX_SCALAR_FLOAT:
		if (v != NULL && json_object_is_type(v, json_type_int))
			return (double)json_object_get_int64(v) == cd->d;
		return v != NULL && json_object_is_type(v, json_type_double) &&
		    json_object_get_double(v) == cd->d;
	case YAMLX_SCALAR_STRING:
		s = rules_jstr(v, &len);
		return s != NULL && len == cd->len &&
		    rules_memeq(s, cd->s, len, cd->icase);
	}
	return false;
}

static bool
rules_regex_match(const regex_t *re, const char *s, size_t len)
{
#ifdef REG_STARTEND
	regmatch_t m[1];

	m[0].rm_so = 0;
	m[0].rm_eo = (regoff_t)len;
	return regexec(re, s, 1, m, REG_STARTEND) == 0;
#else
	UNUSED(len);
	return regexec(re, s, 0, NULL, 0) == 0;
#endif
}

static bool
rules_cidr_match(const struct rules_cond *cd, const char *s, size_t len)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff};
	char tmp[INET6_ADDRSTRLEN + 1];
	unsigned char a[16];

	if (len == 0 || len >= sizeof(tmp))
		return false;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (inet_pton(AF_INET, tmp, a) == 1) {
		if (cd->af == AF_INET)
			return rules_prefix_eq(a, cd->net, cd->bits);
		/* An IPv4 address against an IPv6 net: as ::ffff:a.b.c.d. */
		memmove(a + 12, a, 4);
		memset(a, 0, 10);
		a[10] = 0xff;
		a[11] = 0xff;
		return rules_prefix_eq(a, cd->net, cd->bits);
	}
	if (inet_pton(AF_INET6, tmp, a) != 1)
		return false;
	if (cd->af == AF_INET6)
		return rules_prefix_eq(a, cd->net, cd->bits);
	/* An IPv4-mapped IPv6 address against an IPv4 net. */
	return memcmp(a, mapped, 12) == 0 &&
	    rules_prefix_eq(a + 12, cd->net, cd->bits);
}

static bool
rules_cond_eval(const struct rules_cond *cd, struct json_object *v,
    bool present)
{
	const char *s;
	size_t len = 0;
	double x;
	size_t i;

	switch (cd->op) {
	case RULES_OP_EQ:
		return rules_eq(cd, v);
	case RULES_OP_EXISTS:
		return (present && v != NULL) == cd->b;
	case RULES_OP_PREFIX:
		s = rules_jstr(v, &len);
		return s != NULL && len >= cd->len &&
		    rules_memeq(s, cd->s, cd->len, cd->icase);
	case RULES_OP_SUFFIX:
		s = rules_jstr(v, &len);
		return s != NULL && len >= cd->len &&
		    rules_memeq(s + len - cd->len, cd->s, cd->len, cd->icase);
	case RULES_OP_CONTAINS:
		s = rules_jstr(v, &len);
		return s != NULL &&
		    (cd->len == 0 ||
			rules_contains(s, len, cd->s, cd->len, cd->icase));
	case RULES_OP_GLOB:
		s = rules_jstr(v, &len);
		return s != NULL &&
		    fnmatch(cd->s, s, cd->icase ? FNM_CASEFOLD : 0) == 0;
	case RULES_OP_REGEX:
		s = rules_jstr(v, &len);
		return s != NULL && rules_regex_match(&cd->re, s, len);
	case RULES_OP_CIDR:
		s = rules_jstr(v, &len);
		return s != NULL && rules_cidr_match(cd, s, len);
	case RULES_OP_GT:
		return rules_jnum(v, &x) && x > cd->d;
	case RULES_OP_GE:
		return rules_jnum(v, &x) && x >= cd->d;
	case RULES_OP_LT:
		return rules_jnum(v, &x) && x < cd->d;
	case RULES_OP_LE:
		return rules_jnum(v, &x) && x <= cd->d;
	case RULES_OP_NOT:
		return !rules_cond_eval(cd->sub[0], v, present);
	case RULES_OP_ANY:
		for (i = 0; i < cd->n; i++)
			if (rules_cond_eval(cd->sub[i], v, present))
				return true;
		return false;
	case RULES_OP_ALL:
		for (i = 0; i < cd->n; i++)
			if (!rules_cond_eval(cd->sub[i], v, present))
				return false;
		return true;
	case RULES_OP_EVERY: /* one value: it, if there is one */
		return present && rules_cond_eval(cd->sub[0], v, present);
	case RULES_OP_COUNT:
		break;
	}
	return false;
}

/* record_visit() callbacks: the condition holds / does not hold. */
static bool
rules_holds_cb(struct json_object *v, void *arg)
{
	return rules_cond_eval(arg, v, true);
}

static bool
rules_fails_cb(struct json_object *v, void *arg)
{
	return !rules_cond_eval(arg, v, true);
}

/*
 * A field's condition. With "*" segments it holds when it holds for one
 * of the values reached (and, when none is reached, as for an absent
 * field); {every: C} when C holds for each of them, and there is one.
 */
static bool
rules_field_eval(const struct rules_match *m, struct json_object *rec)
{
	struct json_object *v;
	bool present;
	size_t n;

	if (m->cond->op == RULES_OP_EVERY) {
		if (record_visit(rec, m->path, rules_fails_cb, m->cond->sub[0],
			&n))
			return false;
		return n > 0;
	}
	if (!record_path_wild(m->path)) {
		v = record_get(rec, m->path, &present);
		return rules_cond_eval(m->cond, v, present);
	}
	if (record_visit(rec, m->path, rules_holds_cb, m->cond, &n))
		return true;
	return n == 0 && rules_cond_eval(m->cond, NULL, false);
}

static void
rules_match_free(struct rules_match *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n; i++)
		rules_match_free(m->sub[i]);
	free(m->sub);
	record_path_free(m->path);
	rules_cond_free(m->cond);
	free(m);
}

bool
rules_match_eval(const struct rules_match *m, struct json_object *rec)
{
	size_t i;

	if (m == NULL)
		return false;
	switch (m->kind) {
	case RULES_M_FIELD:
		return rules_field_eval(m, rec);
	case RULES_M_ALL:
		for (i = 0; i < m->n; i++)
			if (!rules_match_eval(m->sub[i], rec))
				return false;
		return true;
	case RULES_M_ANY:
		for (i = 0; i < m->n; i++)
			if (rules_match_eval(m->sub[i], rec))
				return true;
		return false;
	case RULES_M_NOT:
		return !rules_match_eval(m->sub[0], rec);
	}
	return false;
}

int
rules_eval(const struct rules *rs, struct json_object *rec, rules_hit_cb *cb,
    void *arg)
{
	size_t i;
	int r;

	for (i = 0; i < rules_count(rs); i++) {
		const struct rule *rule = rules_get(rs, i);

		if (!rule->enabled)
			continue;
		if (rule->expected != NULL &&
		    rules_match_eval(rule->expected, rec)) {
			r = cb(rule, RULES_HIT_EXPECTED, arg);
			if (r < 0)
				return r;
		}
		if (rules_match_eval(rule->match, rec))
			r = cb(rule, RULES_HIT_MATCH, arg);
		else if (rule->resolve_on != NULL &&
		    rules_match_eval(rule->resolve_on, rec))
			r = cb(rule, RULES_HIT_RESOLVE, arg);
		else
			continue;
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- explaining ------------------------------------------------------- */

/*
 * rules_explain() redoes what rules_match_eval() decided, on the cold
 * path: at each step it asks rules_match_eval() or rules_cond_eval()
 * (never a second matcher) which part failed first and goes into it.
 */

/* Appends to dst (size bytes, NUL-terminated), cut if it has no room. */
static void PRINTF_LIKE(3, 4)
    rules_why_cat(char *dst, size_t size, const char *fmt, ...)
{
	size_t used = strnlen(dst, size);
	va_list ap;

	if (used + 1 >= size)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(dst + used, size - used, fmt, ap);
	va_end(ap);
}

/* A record's value as explain shows it: strings quoted, the rest as JSON,
 * escaped and cut either way. */
static void
rules_why_value(char *dst, size_t size, struct json_object *v)
{
	char q[QUOTE_SIZE(RULES_WHY_VALUE)];
	const char *s;
	size_t len = 0;

	dst[0] = '\0';
	if (v == NULL) {
		rules_why_cat(dst, size, "null");
		return;
	}
	s = rules_jstr(v, &len);
	if (s != NULL) {
		rules_why_cat(dst, size, "'%s'",
		    quote_bytes(q, sizeof(q), s, len, RULES_WHY_VALUE));
		return;
	}
	s = json_object_to_json_string_ext(v,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s == NULL)
		s = "?";
	rules_why_cat(dst, size, "%s",
	    quote_bytes(q, sizeof(q), s, strlen(s), RULES_WHY_VALUE));
}

/* What cd wants, as its operator and operand ("prefix 'prod/'"). */
static void
rules_cond_want(const struct rules_cond *cd, char *dst, size_t size)
{
	char q[QUOTE_SIZE(RULES_WHY_VALUE)];
	char text[INET6_ADDRSTRLEN];
	const char *name = rules_op_names[cd->op];
	size_t i;

	switch (cd->op) {
	case RULES_OP_EQ:
		switch (cd->type) {
		case YAMLX_SCALAR_NULL:
			rules_why_cat(dst, size, "null");
			break;
		case YAMLX_SCALAR_BOOL:
			rules_why_cat(dst, size, "%s",
			    cd->b ? "true" : "false");
			break;
		case YAMLX_SCALAR_INT:
			rules_why_cat(dst, size, "%lld", (long long)cd->i);
			break;
		case YAMLX_SCALAR_FLOAT:
			rules_why_cat(dst, size, "%g", cd->d);
			break;
		case YAMLX_SCALAR_STRING:
			rules_why_cat(dst, size, "'%s'",
			    quote_bytes(q, sizeof(q), cd->s, cd->len,
				RULES_WHY_VALUE));
			break;
		}
		break;
	case RULES_OP_EXISTS:
		rules_why_cat(dst, size, "%s %s", name,
		    cd->b ? "true" : "false");
		break;
	case RULES_OP_PREFIX:
	case RULES_OP_SUFFIX:
	case RULES_OP_CONTAINS:
	case RULES_OP_GLOB:
	case RULES_OP_REGEX:
		rules_why_cat(dst, size, "%s '%s'", name,
		    cd->s != NULL ? quote_bytes(q, sizeof(q), cd->s,
					strlen(cd->s), RULES_WHY_VALUE)
				  : "");
		break;
	case RULES_OP_CIDR:
		if (inet_ntop(cd->af, cd->net, text, sizeof(text)) == NULL)
			text[0] = '\0';
		rules_why_cat(dst, size, "%s %s/%u", name, text, cd->bits);
		break;
	case RULES_OP_GT:
	case RULES_OP_GE:
	case RULES_OP_LT:
	case RULES_OP_LE:
		rules_why_cat(dst, size, "%s %g", name, cd->d);
		break;
	case RULES_OP_NOT:
	case RULES_OP_EVERY:
		rules_why_cat(dst, size, "%s ", name);
		rules_cond_want(cd->sub[0], dst, size);
		break;
	case RULES_OP_ANY:
	case RULES_OP_ALL:
		rules_why_cat(dst, size, "%s [", name);
		for (i = 0; i < cd->n; i++) {
			if (i > 0)
				rules_why_cat(dst, size, ", ");
			rules_cond_want(cd->sub[i], dst, size);
		}
		rules_why_cat(dst, size, "]");
		break;
	case RULES_OP_COUNT:
		break;
	}
	if (cd->icase)
		rules_why_cat(dst, size, " (icase)");
}

/* The first part of cd that fails for v (cd fails for v). */
static const struct rules_cond *
rules_cond_first_fail(const struct rules_cond *cd, struct json_object *v,
    bool present)
{
	size_t i;

	while (
	    cd->op == RULES_OP_ALL || (cd->op == RULES_OP_ANY && cd->n == 1)) {
		for (i = 0; i < cd->n; i++)
			if (!rules_cond_eval(cd->sub[i], v, present))
				break;
		if (i == cd->n)
			break;
		cd = cd->sub[i];
	}
	return cd;
}

/* record_visit(): the first value the condition fails for. */
struct rules_why_visit {
	const struct rules_cond *cd;
	struct json_object *v;
};

static bool
rules_why_fails_cb(struct json_object *v, void *arg)
{
	struct rules_why_visit *wv = arg;

	if (rules_cond_eval(wv->cd, v, true))
		return false;
	wv->v = v;
	return true;
}

static bool
rules_why_none_cb(struct json_object *v, void *arg)
{
	UNUSED(v);
	UNUSED(arg);
	return false;
}

/* A field's condition that does not hold (rules_field_eval()). */
static void
rules_field_why(const struct rules_match *m, struct json_object *rec,
    struct rules_why *w)
{
	const struct rules_cond *cd = m->cond;
	struct rules_why_visit wv = {NULL, NULL};
	struct json_object *v = NULL;
	bool present = false;
	size_t n = 0;

	rules_why_cat(w->path, sizeof(w->path), "%s", record_path_str(m->path));
	if (cd->op == RULES_OP_EVERY) {
		wv.cd = cd->sub[0];
		if (record_visit(rec, m->path, rules_why_fails_cb, &wv, &n)) {
			v = wv.v;
			present = true;
			cd = cd->sub[0];
		}
	} else {
		v = record_get(rec, m->path, &present);
		if (record_path_wild(m->path)) {
			(void)record_visit(rec, m->path, rules_why_none_cb,
			    NULL, &n);
			present = n > 0;
		}
	}
	cd = rules_cond_first_fail(cd, v, present);
	w->line = cd->line;
	w->col = cd->col;
	rules_cond_want(cd, w->want, sizeof(w->want));
	if (!present) {
		w->absent = true;
		return;
	}
	rules_why_value(w->got, sizeof(w->got), v);
	if (n > 1 && m->cond->op != RULES_OP_EVERY)
		rules_why_cat(w->got, sizeof(w->got), " (the first of %zu)", n);
	else if (n > 1)
		rules_why_cat(w->got, sizeof(w->got), " (one of %zu)", n);
}

static void
rules_match_why(const struct rules_match *m, struct json_object *rec,
    struct rules_why *w)
{
	struct rules_why first;
	char text[sizeof(first.path) + sizeof(first.want) + sizeof(first.got) +
	    64];
	size_t i;

	for (;;) {
		switch (m->kind) {
		case RULES_M_FIELD:
			rules_field_why(m, rec, w);
			return;
		case RULES_M_ALL:
			for (i = 0; i < m->n; i++)
				if (!rules_match_eval(m->sub[i], rec))
					break;
			if (i == m->n)
				return; /* it holds: nothing to say */
			m = m->sub[i];
			continue;
		case RULES_M_ANY:
			w->line = m->line;
			w->col = m->col;
			rules_why_cat(w->path, sizeof(w->path), "any");
			rules_why_cat(w->want, sizeof(w->want),
			    "one of %zu alternatives", m->n);
			memset(&first, 0, sizeof(first));
			rules_match_why(m->sub[0], rec, &first);
			rules_why_cat(w->got, sizeof(w->got),
			    "none (the first: %s)",
			    rules_why_format(&first, NULL, text, sizeof(text)));
			return;
		case RULES_M_NOT:
			w->line = m->line;
			w->col = m->col;
			rules_why_cat(w->path, sizeof(w->path), "not");
			rules_why_cat(w->want, sizeof(w->want), "no match");
			rules_why_cat(w->got, sizeof(w->got), "a match");
			return;
		}
		return;
	}
}

int
rules_explain(const struct rule *r, struct json_object *rec,
    struct rules_why *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (rules_match_eval(r->match, rec)) {
		ret->matched = true;
		return 1;
	}
	if (r->match != NULL)
		rules_match_why(r->match, rec, ret);
	return 0;
}

const char *
rules_why_format(const struct rules_why *w, const char *file, char *buf,
    size_t size)
{
	buf[0] = '\0';
	if (w->matched) {
		rules_why_cat(buf, size, "match");
		return buf;
	}
	if (file != NULL)
		rules_why_cat(buf, size, "%s:", file);
	rules_why_cat(buf, size, "%u:%u: %s: ", w->line, w->col, w->path);
	if (w->absent)
		rules_why_cat(buf, size, "field absent");
	else
		rules_why_cat(buf, size, "want %s, got %s", w->want, w->got);
	return buf;
}

const char *
rules_suggest_id(const struct rules *rs, const char *id)
{
	struct diag_list dl;
	struct yamlx y;
	const char **ids;
	const char *best;
	size_t i;

	if (rules_count(rs) == 0)
		return NULL;
	ids = calloc(rs->n, sizeof(*ids));
	if (ids == NULL)
		return NULL;
	for (i = 0; i < rs->n; i++)
		ids[i] = rs->v[i].id;
	memset(&dl, 0, sizeof(dl));
	memset(&y, 0, sizeof(y));
	y.diags = &dl; /* yamlx_suggest() works only for a live list */
	best = yamlx_suggest(&y, id, ids, rs->n, true);
	free(ids);
	return best;
}

/* ---- match mappings --------------------------------------------------- */

static struct rules_match *
rules_match_new(struct rules_ctx *c, enum rules_mkind kind, size_t nsub)
{
	struct rules_match *m = calloc(1, sizeof(*m));

	if (m == NULL) {
		c->y.oom = true;
		return NULL;
	}
	m->kind = kind;
	if (nsub == 0)
		return m;
	m->sub = calloc(nsub, sizeof(*m->sub));
	if (m->sub == NULL) {
		c->y.oom = true;
		free(m);
		return NULL;
	}
	return m;
}

static struct rules_match *rules_match_compile(struct rules_ctx *c,
    const struct yamlx_node *n, unsigned depth, const char *what);

/* m, positioned at its key k (for rules_explain()). */
static struct rules_match *
rules_match_at(struct rules_match *m, const struct yamlx_node *k)
{
	m->line = k->line;
	m->col = k->col;
	return m;
}

/* One entry of a match mapping: a field's condition or a combinator. */
static struct rules_match *
rules_match_entry(struct rules_ctx *c, const struct yamlx_node *k,
    const struct yamlx_node *v, unsigned depth)
{
	enum rules_vcheck vcheck = RULES_V_NONE;
	struct rules_match *m;
	size_t i;
	bool ok = true;

	if (k->type == YAMLX_NODE_BAD)
		return NULL;
	if (k->type == YAMLX_NODE_SCALAR &&
	    (strcmp(k->s, "any") == 0 || strcmp(k->s, "all") == 0)) {
		if (!rules_depth_ok(c, k, depth))
			return NULL;
		if (v->type == YAMLX_NODE_BAD)
			return NULL;
		if (v->type != YAMLX_NODE_SEQ || v->n == 0) {
			yamlx_err(&c->y, v,
			    "expected a list of match mappings for '%s'", k->s);
			return NULL;
		}
		m = rules_match_new(c,
		    k->s[1] == 'n' ? RULES_M_ANY : RULES_M_ALL, v->n);
		if (m == NULL)
			return NULL;
		for (i = 0; i < v->n; i++) {
			m->sub[m->n] =
			    rules_match_compile(c, v->kid[i], depth + 1, k->s);
			if (m->sub[m->n] == NULL)
				ok = false;
			else
				m->n++;
		}
		if (!ok) {
			rules_match_free(m);
			return NULL;
		}
		return rules_match_at(m, k);
	}
	if (k->type == YAMLX_NODE_SCALAR && strcmp(k->s, "not") == 0) {
		if (!rules_depth_ok(c, k, depth))
			return NULL;
		m = rules_match_new(c, RULES_M_NOT, 1);
		if (m == NULL)
			return NULL;
		m->sub[0] = rules_match_compile(c, v, depth + 1, "not");
		if (m->sub[0] == NULL) {
			rules_match_free(m);
			return NULL;
		}
		m->n = 1;
		return rules_match_at(m, k);
	}
	m = rules_match_new(c, RULES_M_FIELD, 0);
	if (m == NULL)
		return NULL;
	m->path = rules_path(c, k);
	c->cond_top = true;
	c->field = m->path != NULL ? k->s : NULL;
	if (k->type == YAMLX_NODE_SCALAR && strcmp(k->s, "eventName") == 0)
		vcheck = RULES_V_EVENT_NAME;
	else if (k->type == YAMLX_NODE_SCALAR &&
	    strcmp(k->s, "eventSource") == 0)
		vcheck = RULES_V_EVENT_SOURCE;
	m->cond = rules_cond_compile(c, v, depth, vcheck);
	c->cond_top = false;
	c->field = NULL;
	if (m->path == NULL || m->cond == NULL) {
		rules_match_free(m);
		return NULL;
	}
	return rules_match_at(m, k);
}

/* Whether s names a Secrets Manager API call (schema_event()). */
static bool
rules_is_api_event(const struct yamlx_node *v)
{
	return v->type == YAMLX_NODE_SCALAR && strlen(v->s) == v->len &&
	    (schema_event(v->s, false) != NULL ||
		schema_event(v->s, true) != NULL);
}

/*
 * The scope of match mapping map: its eventName's names when they are all
 * API calls (one, or a list), none (any event) for another condition on
 * eventName, the enclosing mapping's when it has no eventName.
 */
static void
rules_scope_set(struct rules_ctx *c, const struct yamlx_node *map)
{
	const struct yamlx_node *k;
	const struct yamlx_node *v;
	size_t i;
	size_t j;

	for (i = 0; i + 1 < map->n; i += 2) {
		k = map->kid[i];
		v = map->kid[i + 1];
		if (k->type != YAMLX_NODE_SCALAR ||
		    strcmp(k->s, "eventName") != 0)
			continue;
		c->scope.n = 0;
		if (rules_is_api_event(v)) {
			c->scope.ev[0] = v->s;
			c->scope.n = 1;
			return;
		}
		if (v->type != YAMLX_NODE_SEQ || v->n > RULES_MAX_SCOPE)
			return;
		for (j = 0; j < v->n; j++)
			if (!rules_is_api_event(v->kid[j]))
				return;
		for (j = 0; j < v->n; j++)
			c->scope.ev[j] = v->kid[j]->s;
		c->scope.n = v->n;
		return;
	}
}

static struct rules_match *
rules_match_compile(struct rules_ctx *c, const struct yamlx_node *n,
    unsigned depth, const char *what)
{
	struct rules_scope saved;
	struct rules_match *m;
	struct rules_match *one;
	size_t i;
	bool ok = true;

	if (n->type == YAMLX_NODE_BAD)
		return NULL;
	if (n->type != YAMLX_NODE_MAP) {
		yamlx_err(&c->y, n,
		    "expected a mapping of field paths to conditions for '%s'",
		    what);
		return NULL;
	}
	if (n->n == 0) {
		yamlx_err(&c->y, n,
		    "empty '%s' (expected at least one condition)", what);
		return NULL;
	}
	yamlx_map_dups(&c->y, n);
	m = rules_match_new(c, RULES_M_ALL, n->n / 2);
	if (m == NULL)
		return NULL;
	saved = c->scope;
	rules_scope_set(c, n);
	for (i = 0; i + 1 < n->n; i += 2) {
		m->sub[m->n] =
		    rules_match_entry(c, n->kid[i], n->kid[i + 1], depth);
		if (m->sub[m->n] == NULL)
			ok = false;
		else
			m->n++;
	}
	c->scope = saved;
	if (!ok) {
		rules_match_free(m);
		return NULL;
	}
	if (m->n == 1) {
		one = m->sub[0];
		m->n = 0;
		rules_match_free(m);
		return one;
	}
	return m;
}

/* ---- rules ------------------------------------------------------------ */

const char *
rules_severity_str(enum rules_severity s)
{
	switch (s) {
	case RULES_SEV_INFO:
		return "info";
	case RULES_SEV_WARNING:
		return "warning";
	case RULES_SEV_ERROR:
		return "error";
	case RULES_SEV_CRITICAL:
		return "critical";
	case RULES_SEV_COUNT:
		break;
	}
	return "unknown";
}

int
rules_severity_parse(const char *s, enum rules_severity *ret)
{
	enum rules_severity v;

	for (v = RULES_SEV_INFO; v < RULES_SEV_COUNT; v++) {
		if (strcmp(s, rules_severity_str(v)) == 0) {
			*ret = v;
			return 0;
		}
	}
	return -EINVAL;
}

static void
rules_rule_done(struct rule *r)
{
	size_t i;

	free(r->id);
	free(r->title);
	free(r->summary);
	for (i = 0; i < r->n_group_by; i++)
		record_path_free(r->group_by[i]);
	free(r->group_by);
	for (i = 0; i < r->n_destinations; i++)
		free(r->destinations[i]);
	free(r->destinations);
	rules_match_free(r->match);
	rules_match_free(r->resolve_on);
	rules_match_free(r->expected);
	record_path_free(r->field);
	memset(r, 0, sizeof(*r));
}

static bool
rules_group_by(struct rules_ctx *c, const struct yamlx_node *n, struct rule *r)
{
	const struct yamlx_node *const *items;
	size_t count;
	size_t i;
	bool ok = true;

	if (n->type == YAMLX_NODE_BAD)
		return false;
	count = yamlx_items(&n, &items);
	r->group_by = calloc(count != 0 ? count : 1, sizeof(*r->group_by));
	if (r->group_by == NULL) {
		c->y.oom = true;
		return false;
	}
	for (i = 0; i < count; i++) {
		r->group_by[r->n_group_by] = rules_path(c, items[i]);
		if (r->group_by[r->n_group_by] == NULL)
			ok = false;
		else
			r->n_group_by++;
	}
	return ok;
}

static bool
rules_rule_id(struct rules_ctx *c, const struct yamlx_node *n, struct rule *r)
{
	struct json_object *v;
	const char *s;

	s = yamlx_str(&c->y, n, "id");
	if (s == NULL)
		return false;
	if (!yamlx_name(&c->y, n, "rule id", RULES_MAX_ID))
		return false;
	if (json_object_object_get_ex(c->ids, s, &v)) {
		yamlx_err(&c->y, n, "duplicate rule id '%s' (first at line %d)",
		    s, json_object_get_int(v));
		return false;
	}
	if (!yamlx_dict_add(&c->y, c->ids, s, n->line))
		return false;
	r->id = yamlx_strdup(&c->y, s, n->len);
	return r->id != NULL;
}

const char *
rules_kind_str(enum rules_kind k)
{
	return k < RULES_KIND_COUNT ? rules_kinds[k].name : "unknown";
}

/* A whole number from min to max for key 'what' of kind. */
static bool
rules_uint(struct rules_ctx *c, const struct yamlx_node *n, const char *what,
    unsigned min, unsigned max, unsigned *ret)
{
	int64_t i;
	double d;
	bool b;

	if (n->type == YAMLX_NODE_BAD)
		return false;
	if (n->type != YAMLX_NODE_SCALAR || !n->plain ||
	    yamlx_scalar_type(n, &b, &i, &d) != YAMLX_SCALAR_INT || i < min ||
	    i > max) {
		yamlx_err(&c->y, n,
		    "expected a whole number from %u to %u for '%s'", min, max,
		    what);
		return false;
	}
	*ret = (unsigned)i;
	return true;
}

/*
 * threshold: {count, within}, distinct: {field, count, within},
 * first_seen: {learn}, expect: {match, within}: every key the kind takes
 * is required, no other.
 */
static void
rules_kind_compile(struct rules_ctx *c, const struct yamlx_node *n,
    enum rules_kind kind, struct rule *r)
{
	const struct yamlx_node *v[RULES_W_COUNT_KEYS];
	const char *name = rules_kinds[kind].name;
	unsigned takes = rules_kinds[kind].takes;
	unsigned k;

	if (r->kind != RULES_KIND_EVENT) {
		yamlx_err(&c->y, n,
		    "'%s' and '%s' in one rule (a rule has at most one of threshold, distinct, first_seen and expect)",
		    rules_kinds[r->kind].name, name);
		return;
	}
	r->kind = kind;
	if (n->type == YAMLX_NODE_BAD || !yamlx_map(&c->y, n, name))
		return;
	yamlx_keys(&c->y, n, name, rules_window_keys, RULES_W_COUNT_KEYS, v);
	for (k = 0; k < RULES_W_COUNT_KEYS; k++) {
		if ((takes & (1u << k)) != 0 && v[k] == NULL)
			yamlx_err(&c->y, n, "missing '%s' in '%s'",
			    rules_window_keys[k], name);
		else if ((takes & (1u << k)) == 0 && v[k] != NULL)
			yamlx_err(&c->y, v[k], "'%s' does not apply to '%s'",
			    rules_window_keys[k], name);
	}
	if ((takes & (1u << RULES_W_COUNT)) != 0 && v[RULES_W_COUNT] != NULL)
		(void)rules_uint(c, v[RULES_W_COUNT], "count",
		    kind == RULES_KIND_DISTINCT ? 2 : 1,
		    kind == RULES_KIND_DISTINCT ? RULES_MAX_DISTINCT
						: RULES_MAX_THRESHOLD,
		    &r->count);
	if ((takes & (1u << RULES_W_WITHIN)) != 0 && v[RULES_W_WITHIN] != NULL)
		(void)yamlx_duration(&c->y, v[RULES_W_WITHIN], "within",
		    &r->within_us);
	if ((takes & (1u << RULES_W_LEARN)) != 0 && v[RULES_W_LEARN] != NULL)
		(void)yamlx_duration(&c->y, v[RULES_W_LEARN], "learn",
		    &r->learn_us);
	if ((takes & (1u << RULES_W_FIELD)) != 0 && v[RULES_W_FIELD] != NULL)
		r->field = rules_path(c, v[RULES_W_FIELD]);
	if ((takes & (1u << RULES_W_MATCH)) != 0 && v[RULES_W_MATCH] != NULL)
		r->expected =
		    rules_match_compile(c, v[RULES_W_MATCH], 0, "expect.match");
	if (r->within_us == 0 && v[RULES_W_WITHIN] != NULL &&
	    (takes & (1u << RULES_W_WITHIN)) != 0)
		yamlx_err(&c->y, v[RULES_W_WITHIN],
		    "'within' must be longer than 0s");
}

/* FNV-1a over a node tree: what a rule says, however it is spaced. */
static uint64_t
rules_fingerprint(const struct yamlx_node *n, uint64_t h)
{
	size_t i;

	h = (h ^ (uint64_t)n->type) * 0x100000001b3ull;
	for (i = 0; n->type == YAMLX_NODE_SCALAR && i < n->len; i++)
		h = (h ^ (unsigned char)n->s[i]) * 0x100000001b3ull;
	h = (h ^ (n->plain ? 1u : 2u)) * 0x100000001b3ull;
	for (i = 0; i < n->n; i++)
		h = rules_fingerprint(n->kid[i], h);
	return (h ^ 0xffu) * 0x100000001b3ull;
}

/* Compiles one rule into r (which the caller frees either way). */
static void
rules_rule_compile(struct rules_ctx *c, const struct yamlx_node *map,
    struct rule *r)
{
	const struct yamlx_node *nodes[RULES_KEY_COUNT];
	char q[YAMLX_Q_SIZE];
	const char *s;
	enum rules_key key;
	size_t i;
	int sr;

	memset(nodes, 0, sizeof(nodes));
	r->severity = RULES_SEV_WARNING;
	r->enabled = true;
	r->line = map->line;
	yamlx_map_dups(&c->y, map);
	/* The id first, so that later messages can name the rule. */
	for (i = 0; i + 1 < map->n; i += 2) {
		const struct yamlx_node *k = map->kid[i];

		if (k->type == YAMLX_NODE_SCALAR && strcmp(k->s, "id") == 0) {
			nodes[RULES_KEY_ID] = map->kid[i + 1];
			(void)rules_rule_id(c, nodes[RULES_KEY_ID], r);
			break;
		}
	}
	if (nodes[RULES_KEY_ID] == NULL)
		yamlx_err(&c->y, map, "missing 'id' in rule");
	/* Then the rest in file order, so that messages are too. */
	for (i = 0; i + 1 < map->n; i += 2) {
		const struct yamlx_node *k = map->kid[i];
		const struct yamlx_node *v = map->kid[i + 1];

		key = (enum rules_key)yamlx_key(&c->y, k, rules_key_names,
		    RULES_KEY_COUNT, "rule");
		if (key == RULES_KEY_COUNT)
			continue;
		if (nodes[key] != NULL)
			continue; /* a duplicate key, already reported */
		nodes[key] = v;
		switch (key) {
		case RULES_KEY_ID:
			break;
		case RULES_KEY_TITLE:
			s = yamlx_str(&c->y, v, "title");
			if (s != NULL)
				r->title = yamlx_strdup(&c->y, s, v->len);
			break;
		case RULES_KEY_SEVERITY:
			s = yamlx_str(&c->y, v, "severity");
			if (s == NULL)
				break;
			sr = rules_severity_parse(s, &r->severity);
			if (sr < 0)
				yamlx_err(&c->y, v,
				    "unknown severity '%s' (expected info, warning, error or critical)",
				    YAMLX_QN(q, v));
			break;
		case RULES_KEY_MATCH:
			r->match = rules_match_compile(c, v, 0, "match");
			break;
		case RULES_KEY_GROUP_BY:
			(void)rules_group_by(c, v, r);
			break;
		case RULES_KEY_SUMMARY:
			s = yamlx_str(&c->y, v, "summary");
			if (s != NULL && rules_tmpl_check(c, v))
				r->summary = yamlx_strdup(&c->y, s, v->len);
			break;
		case RULES_KEY_DESTINATIONS:
			(void)yamlx_str_list(&c->y, v, "destinations",
			    &r->destinations, &r->n_destinations);
			break;
		case RULES_KEY_THROTTLE:
			(void)yamlx_duration(&c->y, v, "throttle",
			    &r->throttle_us);
			break;
		case RULES_KEY_GROUP_WAIT:
			(void)yamlx_duration(&c->y, v, "group_wait",
			    &r->group_wait_us);
			break;
		case RULES_KEY_RESOLVE_ON:
			r->resolve_on =
			    rules_match_compile(c, v, 0, "resolve_on");
			break;
		case RULES_KEY_ENABLED:
			(void)yamlx_bool(&c->y, v, "enabled", &r->enabled);
			break;
		case RULES_KEY_THRESHOLD:
			rules_kind_compile(c, v, RULES_KIND_THRESHOLD, r);
			break;
		case RULES_KEY_DISTINCT:
			rules_kind_compile(c, v, RULES_KIND_DISTINCT, r);
			break;
		case RULES_KEY_FIRST_SEEN:
			rules_kind_compile(c, v, RULES_KIND_FIRST_SEEN, r);
			break;
		case RULES_KEY_EXPECT:
			rules_kind_compile(c, v, RULES_KIND_EXPECT, r);
			break;
		case RULES_KEY_READERS:
			(void)yamlx_bool(&c->y, v, "readers", &r->readers);
			break;
		case RULES_KEY_COUNT:
			break;
		}
	}
	r->fingerprint = rules_fingerprint(map, 0xcbf29ce484222325ull);
	if (r->kind != RULES_KIND_EVENT && nodes[RULES_KEY_GROUP_WAIT] != NULL)
		yamlx_err(&c->y, nodes[RULES_KEY_GROUP_WAIT],
		    "'group_wait' does not apply to a %s rule (its alert stands for its window already)",
		    rules_kinds[r->kind].name);
	if (nodes[RULES_KEY_MATCH] == NULL) {
		if (r->id != NULL)
			yamlx_err(&c->y, map, "missing 'match' in rule '%s'",
			    r->id);
		else
			yamlx_err(&c->y, map, "missing 'match' in rule");
	}
	if (r->title == NULL && r->id != NULL)
		r->title = yamlx_strdup(&c->y, r->id, strlen(r->id));
	if (nodes[RULES_KEY_GROUP_BY] == NULL && r->group_by == NULL) {
		r->group_by = calloc(1, sizeof(*r->group_by));
		if (r->group_by == NULL ||
		    record_path_compile("secretId", &r->group_by[0]) < 0)
			c->y.oom = true;
		else
			r->n_group_by = 1;
	}
}

static void
rules_rule_add(struct rules_ctx *c, const struct yamlx_node *n)
{
	struct rules *rs = c->rs;
	struct rule *v;
	size_t cap;

	if (n->type == YAMLX_NODE_BAD)
		return;
	if (n->type != YAMLX_NODE_MAP) {
		yamlx_err(&c->y, n,
		    "expected a mapping for a rule (with 'id' and 'match')");
		return;
	}
	if (rs->n == rs->cap) {
		cap = rs->cap != 0 ? rs->cap * 2 : 16;
		v = realloc(rs->v, cap * sizeof(*v));
		if (v == NULL) {
			c->y.oom = true;
			return;
		}
		rs->v = v;
		rs->cap = cap;
	}
	v = &rs->v[rs->n++];
	memset(v, 0, sizeof(*v));
	rules_rule_compile(c, n, v);
}

/* The top-level mapping (yamlx_top_cb). */
static void
rules_top(const struct yamlx_node *root, void *arg)
{
	const struct yamlx_node *list;
	struct rules_ctx *c = arg;
	size_t i;

	yamlx_keys(&c->y, root, "top-level", rules_top_keys, 1, &list);
	if (list == NULL) {
		yamlx_err(&c->y, root,
		    "missing 'rules' (expected a list of rules)");
		return;
	}
	if (yamlx_is_null(list) || list->type == YAMLX_NODE_BAD)
		return; /* "rules:" with every rule commented out */
	if (list->type != YAMLX_NODE_SEQ) {
		yamlx_err(&c->y, list, "expected a list of rules for 'rules'");
		return;
	}
	for (i = 0; i < list->n && !c->y.oom; i++)
		rules_rule_add(c, list->kid[i]);
}

void
rules_free(struct rules *rs)
{
	size_t i;

	if (rs == NULL)
		return;
	for (i = 0; i < rs->n; i++)
		rules_rule_done(&rs->v[i]);
	free(rs->v);
	free(rs);
}

int
rules_load_buffer(const char *name, const char *text, size_t len, bool strict,
    struct rules **ret, struct diag_list *diags)
{
	struct rules_ctx c;
	int r;

	memset(&c, 0, sizeof(c));
	r = yamlx_init(&c.y, name, text, len, RULES_MAX_FILE, diags);
	if (r < 0)
		return r;
	c.y.strict = strict;
	c.rs = calloc(1, sizeof(*c.rs));
	c.ids = json_object_new_object();
	if (c.rs == NULL || c.ids == NULL) {
		free(c.rs);
		json_object_put(c.ids);
		return diag_list_add(diags, -ENOMEM, name, 0, 0,
		    "out of memory");
	}
	yamlx_load_map(&c.y, "rules", "a mapping with a 'rules' list",
	    rules_top, &c);
	json_object_put(c.ids);
	r = yamlx_verdict(&c.y);
	if (r < 0) {
		rules_free(c.rs);
		return r;
	}
	*ret = c.rs;
	return 0;
}

int
rules_load(const char *path, bool strict, struct rules **ret,
    struct diag_list *diags)
{
	char *text;
	size_t len;
	int r;

	r = yamlx_read_file(path, RULES_MAX_FILE, &text, &len, diags);
	if (r < 0)
		return r;
	r = rules_load_buffer(path, text, len, strict, ret, diags);
	free(text);
	return r;
}

size_t
rules_count(const struct rules *rs)
{
	return rs != NULL ? rs->n : 0;
}

const struct rule *
rules_get(const struct rules *rs, size_t i)
{
	return rs != NULL && i < rs->n ? &rs->v[i] : NULL;
}

const struct rule *
rules_find(const struct rules *rs, const char *id)
{
	size_t i;

	if (rs == NULL)
		return NULL;
	for (i = 0; i < rs->n; i++)
		if (strcmp(rs->v[i].id, id) == 0)
			return &rs->v[i];
	return NULL;
}

void
rules_set_enabled(struct rules *rs, size_t i, bool on)
{
	if (rs != NULL && i < rs->n)
		rs->v[i].enabled = on;
}

/* ---- rendering -------------------------------------------------------- */

int
rules_render(const char *tmpl, struct json_object *rec, struct buf *out)
{
	const char *p = tmpl;
	const char *end = tmpl + strlen(tmpl);
	const char *o;
	const char *path;
	const char *after;
	char tmp[RULES_MAX_PATH];
	size_t len;
	int r;

	while ((o = rules_tmpl_next(p, end, &path, &len, &after)) != NULL) {
		r = buf_append(out, p, (size_t)(o - p));
		if (r < 0)
			return r;
		if (path == NULL) {
			/* Unterminated: literal (the loader refuses it). */
			p = o;
			break;
		}
		if (len > 0 && len < sizeof(tmp)) {
			memcpy(tmp, path, len);
			tmp[len] = '\0';
			r = record_value_text(record_get_str(rec, tmp), out);
			if (r < 0)
				return r;
		}
		p = after;
	}
	return buf_append(out, p, (size_t)(end - p));
}

int
rules_render_summary(const struct rule *r, struct json_object *rec,
    struct buf *out)
{
	return rules_render(
	    r->summary != NULL ? r->summary : RULES_DEFAULT_SUMMARY, rec, out);
}

int
rules_group_key(const struct rule *r, struct json_object *rec, struct buf *out)
{
	size_t i;
	int rc;

	for (i = 0; i < r->n_group_by; i++) {
		if (i > 0) {
			rc = buf_putc(out, '/');
			if (rc < 0)
				return rc;
		}
		rc = record_value_text(record_get(rec, r->group_by[i], NULL),
		    out);
		if (rc < 0)
			return rc;
	}
	return 0;
}
