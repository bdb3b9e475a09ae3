/*
 * rules.c: see rules.h; the format is smtrail-rules(5).
 *
 * Loading has two passes. The first turns libyaml's events into a small tree
 * of our own (struct rules_node), which is where hostile YAML is stopped:
 * aliases and tags are refused (no billion laughs: nothing is ever
 * expanded), nesting and the node count are capped, and a syntax error ends
 * the pass with libyaml's own words. The second pass walks that tree and
 * compiles each rule, reporting every problem it can find with the node's
 * line and column (OpenSMTPD's count-then-discard: the set is installed only
 * if nothing was wrong). Paths and regexes are compiled here, so matching
 * allocates nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <yaml.h>

#include "buf.h"
#include "diag.h"
#include "limits.h"
#include "record.h"
#include "rules.h"

/*
 * Local ceilings (candidates for limits.h). YAML nesting: a rule needs about
 * five levels plus two per any:/all:/not:, so this leaves room for the
 * semantic RULES_MAX_DEPTH check to report first. Nodes: a thousand rules
 * use some 30000; the cap bounds memory at a few tens of MB whatever the
 * file holds. Regex: glibc's regcomp() copies a group once per counted
 * repetition, so "((a{1,100}){1,100}){1,100}" takes seconds and gigabytes,
 * "a{1,30000}" half a minute and 7 GB (optional copies cost quadratically),
 * and a compiled pattern stays in memory: a pattern's length, group nesting,
 * repetition counts (POSIX's RE_DUP_MAX minimum) and expanded size are
 * capped before regcomp() sees it, and so is the file's total (each pattern
 * counting 16 at least, so that it also caps how many there are).
 * Ids end up in logs, journald fields and PagerDuty dedup keys; paths this
 * long are typos.
 */
#define RULES_YAML_MAX_DEPTH (8 * RULES_MAX_DEPTH)
#define RULES_MAX_NODES (1u << 17)
#define RULES_MAX_REGEX 1024
#define RULES_MAX_REGEX_COST 4096
#define RULES_MAX_REGEX_TOTAL (1u << 16)
#define RULES_MAX_REGEX_DUP 255
#define RULES_MAX_REGEX_GROUPS 64
#define RULES_MAX_ID 128
#define RULES_MAX_PATH 512
#define RULES_MAX_DURATION_S (365ull * 86400)

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

/*
 * Top-level fields of a CloudTrail record, plus our synthetic secretId. A
 * path starting elsewhere is most likely a typo ("eventname") that would
 * silently never match, so it is a warning.
 */
static const char *const rules_record_fields[] = {
    "additionalEventData",
    "addendum",
    "apiVersion",
    "awsRegion",
    "edgeDeviceDetails",
    "errorCode",
    "errorMessage",
    "eventCategory",
    "eventID",
    "eventName",
    "eventSource",
    "eventTime",
    "eventType",
    "eventVersion",
    "insightDetails",
    "managementEvent",
    "readOnly",
    "recipientAccountId",
    "requestID",
    "requestParameters",
    "resources",
    "responseElements",
    "secretId",
    "serviceEventDetails",
    "sessionCredentialFromConsole",
    "sharedEventID",
    "sourceIPAddress",
    "tlsDetails",
    "userAgent",
    "userIdentity",
    "vpcEndpointAccountId",
    "vpcEndpointId",
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
    [RULES_KEY_COUNT] = NULL,
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
	RULES_OP_COUNT
};

/* Operator names as written in a condition mapping; EQ has none. */
static const char *const rules_op_names[RULES_OP_COUNT + 1] = {
    [RULES_OP_EQ] = NULL,
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
    [RULES_OP_COUNT] = NULL,
};

enum rules_scalar {
	RULES_SCALAR_NULL,
	RULES_SCALAR_BOOL,
	RULES_SCALAR_INT,
	RULES_SCALAR_FLOAT,
	RULES_SCALAR_STRING
};

/* A condition on one value (what a field path maps to). */
struct rules_cond {
	enum rules_op op;
	enum rules_scalar type; /* EQ */
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
	struct rules_cond **sub; /* NOT (one), ANY, ALL */
	size_t n;
};

enum rules_mkind { RULES_M_FIELD, RULES_M_ALL, RULES_M_ANY, RULES_M_NOT };

/* A match mapping: conditions on fields, and any:/all:/not: of mappings. */
struct rules_match {
	enum rules_mkind kind;
	struct record_path *path; /* FIELD */
	struct rules_cond *cond;  /* FIELD */
	struct rules_match **sub; /* ALL, ANY, NOT (one) */
	size_t n;
};

struct rules {
	struct rule *v;
	size_t n;
	size_t cap;
};

enum rules_node_type {
	RULES_NODE_SCALAR,
	RULES_NODE_SEQ,
	RULES_NODE_MAP,
	RULES_NODE_BAD /* stands in for a refused alias; already reported */
};

/* The YAML tree of the first pass. Lines and columns are 1-based. */
struct rules_node {
	enum rules_node_type type;
	bool plain; /* a plain scalar, typed by its text; quoted: a string */
	unsigned line;
	unsigned col;
	char *s; /* scalar text, NUL-terminated (may hold NULs: see len) */
	size_t len;
	struct rules_node **kid; /* seq: items; map: key, value, key, ... */
	size_t n;
	size_t cap;
};

struct rules_ctx {
	const char *name;
	const char *text;
	size_t len;
	bool strict;
	struct diag_list *diags;
	unsigned errors;
	bool oom;
	size_t nodes;
	uint64_t regex_cost;     /* spent of RULES_MAX_REGEX_TOTAL */
	struct json_object *ids; /* rule id -> line, for duplicates */
	struct rules *rs;
};

/* ---- diagnostics ------------------------------------------------------ */

static void rules_verr(struct rules_ctx *c, bool warning, unsigned line,
    unsigned col, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));

static void
rules_verr(struct rules_ctx *c, bool warning, unsigned line, unsigned col,
    const char *fmt, va_list ap)
{
	char msg[512];

	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	if (warning && !c->strict) {
		diag_list_warn(c->diags, c->name, line, col, "%s", msg);
		return;
	}
	c->errors++;
	(void)diag_list_add(c->diags, -EINVAL, c->name, line, col, "%s", msg);
}

static void rules_err_at(struct rules_ctx *c, unsigned line, unsigned col,
    const char *fmt, ...) PRINTF_LIKE(4, 5);

static void
rules_err_at(struct rules_ctx *c, unsigned line, unsigned col, const char *fmt,
    ...)
{
	va_list ap;

	va_start(ap, fmt);
	rules_verr(c, false, line, col, fmt, ap);
	va_end(ap);
}

static void rules_err(struct rules_ctx *c, const struct rules_node *n,
    const char *fmt, ...) PRINTF_LIKE(3, 4);

static void
rules_err(struct rules_ctx *c, const struct rules_node *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rules_verr(c, false, n->line, n->col, fmt, ap);
	va_end(ap);
}

/* A warning, or an error under strict. */
static void rules_warn(struct rules_ctx *c, const struct rules_node *n,
    const char *fmt, ...) PRINTF_LIKE(3, 4);

static void
rules_warn(struct rules_ctx *c, const struct rules_node *n, const char *fmt,
    ...)
{
	va_list ap;

	va_start(ap, fmt);
	rules_verr(c, true, n->line, n->col, fmt, ap);
	va_end(ap);
}

/*
 * s (len bytes) for a message: control bytes escaped as \xNN, cut at 64
 * bytes with "...". Returns buf.
 */
static const char *
rules_q(char *buf, size_t size, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	size_t i;

	for (i = 0; i < len && o + 8 < size; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (i == 64) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (ch < 0x20 || ch == 0x7f) {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[ch >> 4];
			buf[o++] = hex[ch & 15];
		} else {
			buf[o++] = (char)ch;
		}
	}
	buf[o] = '\0';
	return buf;
}

#define RULES_Q_SIZE 300
#define RULES_QN(buf, n) rules_q((buf), sizeof(buf), (n)->s, (n)->len)

static char
rules_lower(char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

/*
 * Optimal string alignment distance (a swap of two neighbours costs one),
 * ignoring ASCII case. Long strings are never close.
 */
static size_t
rules_distance(const char *a, const char *b)
{
	size_t d[3][65];
	size_t la = strlen(a);
	size_t lb = strlen(b);
	size_t i;
	size_t j;

	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		d[0][j] = j;
	for (i = 1; i <= la; i++) {
		size_t *cur = d[i % 3];
		size_t *prev = d[(i - 1) % 3];
		size_t *prev2 = d[(i + 1) % 3];

		cur[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t cost =
			    rules_lower(a[i - 1]) != rules_lower(b[j - 1]);
			size_t v = prev[j] + 1;

			if (cur[j - 1] + 1 < v)
				v = cur[j - 1] + 1;
			if (prev[j - 1] + cost < v)
				v = prev[j - 1] + cost;
			if (i > 1 && j > 1 &&
			    rules_lower(a[i - 1]) == rules_lower(b[j - 2]) &&
			    rules_lower(a[i - 2]) == rules_lower(b[j - 1]) &&
			    prev2[j - 2] + 1 < v)
				v = prev2[j - 2] + 1;
			cur[j] = v;
		}
	}
	return d[la % 3][lb];
}

/*
 * The closest of names (NULL-terminated, NULL entries skipped up to n) to s,
 * or NULL. For keys (loose == false): within two edits and fewer edits than
 * s has letters. For event names (loose): within three edits and a third of
 * the candidate's length.
 */
static const char *
rules_suggest(const struct rules_ctx *c, const char *s,
    const char *const *names, size_t n, bool loose)
{
	const char *best = NULL;
	size_t bestd = SIZE_MAX;
	size_t i;

	/* Not worth the time for a message that will only be counted. */
	if (c->diags == NULL || c->diags->n >= DIAG_LIST_MAX)
		return NULL;

	for (i = 0; i < n; i++) {
		size_t d;
		size_t max;

		if (names[i] == NULL)
			continue;
		d = rules_distance(s, names[i]);
		if (loose) {
			max = strlen(names[i]) / 3;
			max = max > 3 ? 3 : max < 1 ? 1 : max;
		} else {
			max = strlen(s) > 2 ? 2 : strlen(s) - 1;
		}
		if (strlen(s) == 0 || d > max || d >= bestd)
			continue;
		best = names[i];
		bestd = d;
	}
	return best;
}

/* " (did you mean 'x'?)" or "". */
static const char *
rules_hint(char *buf, size_t size, const char *suggestion)
{
	if (suggestion == NULL)
		buf[0] = '\0';
	else
		(void)snprintf(buf, size, " (did you mean '%s'?)", suggestion);
	return buf;
}

static size_t
rules_nlist(const char *const *names)
{
	size_t n = 0;

	while (names[n] != NULL)
		n++;
	return n;
}

static bool
rules_in_list(const char *s, const char *const *names)
{
	size_t i;

	for (i = 0; names[i] != NULL; i++)
		if (strcmp(s, names[i]) == 0)
			return true;
	return false;
}

/* ---- first pass: YAML events to a tree -------------------------------- */

static void
rules_node_free(struct rules_node *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->n; i++)
		rules_node_free(n->kid[i]);
	free(n->kid);
	free(n->s);
	free(n);
}

static unsigned
rules_mark_num(size_t v)
{
	return v >= UINT32_MAX - 1 ? UINT32_MAX - 1 : (unsigned)v + 1;
}

static struct rules_node *
rules_node_new(struct rules_ctx *c, enum rules_node_type type, yaml_mark_t mark)
{
	struct rules_node *n;

	if (c->nodes == RULES_MAX_NODES) {
		rules_err_at(c, rules_mark_num(mark.line),
		    rules_mark_num(mark.column), "more than %u YAML nodes",
		    RULES_MAX_NODES);
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (n == NULL) {
		c->oom = true;
		return NULL;
	}
	c->nodes++;
	n->type = type;
	n->line = rules_mark_num(mark.line);
	n->col = rules_mark_num(mark.column);
	return n;
}

static bool
rules_node_add(struct rules_ctx *c, struct rules_node *parent,
    struct rules_node *kid)
{
	struct rules_node **v;
	size_t cap;

	if (parent->n == parent->cap) {
		cap = parent->cap != 0 ? parent->cap * 2 : 4;
		v = realloc(parent->kid, cap * sizeof(*v));
		if (v == NULL) {
			c->oom = true;
			return false;
		}
		parent->kid = v;
		parent->cap = cap;
	}
	parent->kid[parent->n++] = kid;
	return true;
}

/* A reader error has a byte offset, not a mark: count lines up to it. */
static void
rules_offset_pos(struct rules_ctx *c, size_t off, unsigned *line, unsigned *col)
{
	size_t l = 1;
	size_t k = 1;
	size_t i;

	if (off > c->len)
		off = c->len;
	for (i = 0; i < off; i++) {
		if (c->text[i] == '\n') {
			l++;
			k = 1;
		} else if (((unsigned char)c->text[i] & 0xc0) != 0x80) {
			k++; /* columns count characters, as libyaml's do */
		}
	}
	*line = rules_mark_num(l - 1);
	*col = rules_mark_num(k - 1);
}

static void
rules_yaml_error(struct rules_ctx *c, const yaml_parser_t *p)
{
	const char *problem = p->problem != NULL ? p->problem : "error";
	unsigned line;
	unsigned col;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		c->oom = true;
		return;
	case YAML_READER_ERROR:
		rules_offset_pos(c, p->problem_offset, &line, &col);
		if (p->problem_value != -1)
			rules_err_at(c, line, col,
			    "YAML syntax error: %s (byte 0x%02x)", problem,
			    (unsigned)p->problem_value & 0xff);
		else
			rules_err_at(c, line, col, "YAML syntax error: %s",
			    problem);
		return;
	case YAML_NO_ERROR:
	case YAML_SCANNER_ERROR:
	case YAML_PARSER_ERROR:
	case YAML_COMPOSER_ERROR:
	case YAML_WRITER_ERROR:
	case YAML_EMITTER_ERROR:
		break;
	}
	line = rules_mark_num(p->problem_mark.line);
	col = rules_mark_num(p->problem_mark.column);
	if (p->context != NULL)
		rules_err_at(c, line, col,
		    "YAML syntax error: %s (%s started at line %u)", problem,
		    p->context, rules_mark_num(p->context_mark.line));
	else
		rules_err_at(c, line, col, "YAML syntax error: %s", problem);
}

static void
rules_tag_check(struct rules_ctx *c, const yaml_char_t *tag, yaml_mark_t m)
{
	static const char core[] = "tag:yaml.org,2002:";
	const char *t = (const char *)tag;
	const char *bang = "";
	char q[RULES_Q_SIZE];

	if (t == NULL)
		return;
	if (strncmp(t, core, sizeof(core) - 1) == 0) {
		t += sizeof(core) - 1; /* as written: "!!str" */
		bang = "!!";
	}
	rules_err_at(c, rules_mark_num(m.line), rules_mark_num(m.column),
	    "YAML tags are not supported ('%s%s')", bang,
	    rules_q(q, sizeof(q), t, strlen(t)));
}

/* Builds the tree; NULL with errors reported, or NULL for no document. */
static struct rules_node *
rules_yaml_load(struct rules_ctx *c)
{
	struct rules_node *stack[RULES_YAML_MAX_DEPTH];
	struct rules_node *root = NULL;
	struct rules_node *n;
	yaml_parser_t parser;
	yaml_event_t ev;
	size_t depth = 0;
	unsigned docs = 0;
	bool done = false;
	bool ok = true;
	bool push;
	char q[RULES_Q_SIZE];

	if (yaml_parser_initialize(&parser) == 0) {
		c->oom = true;
		return NULL;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)c->text,
	    c->len);
	yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
	while (ok && !done) {
		if (yaml_parser_parse(&parser, &ev) == 0) {
			rules_yaml_error(c, &parser);
			ok = false;
			break;
		}
		n = NULL;
		push = false;
		switch (ev.type) {
		case YAML_NO_EVENT:
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				rules_err_at(c,
				    rules_mark_num(ev.start_mark.line),
				    rules_mark_num(ev.start_mark.column),
				    "more than one YAML document");
				ok = false;
			}
			break;
		case YAML_ALIAS_EVENT:
			rules_err_at(c, rules_mark_num(ev.start_mark.line),
			    rules_mark_num(ev.start_mark.column),
			    "YAML aliases are not supported ('*%s')",
			    rules_q(q, sizeof(q),
				(const char *)ev.data.alias.anchor,
				strlen((const char *)ev.data.alias.anchor)));
			n = rules_node_new(c, RULES_NODE_BAD, ev.start_mark);
			ok = n != NULL;
			break;
		case YAML_SCALAR_EVENT:
			rules_tag_check(c, ev.data.scalar.tag, ev.start_mark);
			n = rules_node_new(c, RULES_NODE_SCALAR, ev.start_mark);
			if (n == NULL) {
				ok = false;
				break;
			}
			n->plain =
			    ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
			n->len = ev.data.scalar.length;
			n->s = malloc(n->len + 1);
			if (n->s == NULL) {
				c->oom = true;
				ok = false;
				break;
			}
			memcpy(n->s, ev.data.scalar.value, n->len);
			n->s[n->len] = '\0';
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			rules_tag_check(c,
			    ev.type == YAML_SEQUENCE_START_EVENT
				? ev.data.sequence_start.tag
				: ev.data.mapping_start.tag,
			    ev.start_mark);
			if (depth == RULES_YAML_MAX_DEPTH) {
				rules_err_at(c,
				    rules_mark_num(ev.start_mark.line),
				    rules_mark_num(ev.start_mark.column),
				    "YAML nesting deeper than %d levels",
				    RULES_YAML_MAX_DEPTH);
				ok = false;
				break;
			}
			n = rules_node_new(c,
			    ev.type == YAML_SEQUENCE_START_EVENT
				? RULES_NODE_SEQ
				: RULES_NODE_MAP,
			    ev.start_mark);
			ok = n != NULL;
			push = true;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (depth > 0)
				depth--;
			break;
		}
		yaml_event_delete(&ev);
		if (n == NULL)
			continue;
		if (!ok) {
			rules_node_free(n);
			break;
		}
		if (depth == 0) {
			if (root != NULL) {
				rules_node_free(n); /* cannot happen */
				continue;
			}
			root = n;
		} else if (!rules_node_add(c, stack[depth - 1], n)) {
			rules_node_free(n);
			ok = false;
			break;
		}
		if (push)
			stack[depth++] = n;
	}
	yaml_parser_delete(&parser);
	if (!ok) {
		rules_node_free(root);
		return NULL;
	}
	return root;
}

/* ---- scalars ---------------------------------------------------------- */

/* A decimal number: [-+]digits[.digits][e[-+]digits], or .digits. */
static bool
rules_is_decimal(const char *s, size_t len, bool *ret_int)
{
	size_t i = 0;
	size_t digits = 0;
	bool integer = true;

	if (i < len && (s[i] == '-' || s[i] == '+'))
		i++;
	while (i < len && s[i] >= '0' && s[i] <= '9') {
		i++;
		digits++;
	}
	if (i < len && s[i] == '.') {
		integer = false;
		i++;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			i++;
			digits++;
		}
	}
	if (digits == 0)
		return false;
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		integer = false;
		i++;
		if (i < len && (s[i] == '-' || s[i] == '+'))
			i++;
		digits = 0;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			i++;
			digits++;
		}
		if (digits == 0)
			return false;
	}
	if (i != len)
		return false;
	*ret_int = integer;
	return true;
}

/* A decimal number's value (s NUL-terminated after len bytes). */
static bool
rules_parse_number(const char *s, size_t len, double *ret)
{
	bool integer;
	double d;

	if (!rules_is_decimal(s, len, &integer) || strlen(s) != len)
		return false;
	d = strtod(s, NULL);
	if (!isfinite(d))
		return false;
	*ret = d;
	return true;
}

/*
 * The type of a scalar (YAML 1.2 core schema, decimal numbers only): quoted
 * and block scalars are strings; plain ones may be null, bool or a number.
 */
static enum rules_scalar
rules_scalar_type(const struct rules_node *n, bool *ret_b, int64_t *ret_i,
    double *ret_d)
{
	static const char *const nulls[] = {"~", "null", "Null", "NULL", NULL};
	static const char *const trues[] = {"true", "True", "TRUE", NULL};
	static const char *const falses[] = {"false", "False", "FALSE", NULL};
	bool integer;
	char *end;
	long long ll;

	if (!n->plain || strlen(n->s) != n->len)
		return RULES_SCALAR_STRING;
	if (n->len == 0 || rules_in_list(n->s, nulls))
		return RULES_SCALAR_NULL;
	if (rules_in_list(n->s, trues) || rules_in_list(n->s, falses)) {
		*ret_b = rules_in_list(n->s, trues);
		return RULES_SCALAR_BOOL;
	}
	if (!rules_is_decimal(n->s, n->len, &integer))
		return RULES_SCALAR_STRING;
	if (integer) {
		errno = 0;
		ll = strtoll(n->s, &end, 10);
		if (errno == 0 && *end == '\0') {
			*ret_i = ll;
			*ret_d = (double)ll;
			return RULES_SCALAR_INT;
		}
	}
	*ret_d = strtod(n->s, NULL);
	if (!isfinite(*ret_d))
		return RULES_SCALAR_STRING;
	return RULES_SCALAR_FLOAT;
}

static bool
rules_is_null(const struct rules_node *n)
{
	bool b;
	int64_t i;
	double d;

	return n->type == RULES_NODE_SCALAR &&
	    rules_scalar_type(n, &b, &i, &d) == RULES_SCALAR_NULL;
}

/*
 * A string setting or operand: any scalar but null, taken as written
 * ("prefix: 1234" is the string "1234"). NULL with an error otherwise.
 */
static const char *
rules_str(struct rules_ctx *c, const struct rules_node *n, const char *what)
{
	if (n->type == RULES_NODE_BAD)
		return NULL;
	if (n->type != RULES_NODE_SCALAR || rules_is_null(n)) {
		rules_err(c, n, "expected a string for '%s'", what);
		return NULL;
	}
	return n->s;
}

static bool
rules_bool(struct rules_ctx *c, const struct rules_node *n, const char *what,
    bool *ret)
{
	int64_t i;
	double d;

	if (n->type == RULES_NODE_BAD)
		return false;
	if (n->type != RULES_NODE_SCALAR ||
	    rules_scalar_type(n, ret, &i, &d) != RULES_SCALAR_BOOL) {
		rules_err(c, n, "expected true or false for '%s'", what);
		return false;
	}
	return true;
}

static char *
rules_strdup(struct rules_ctx *c, const char *s, size_t len)
{
	char *p = malloc(len + 1);

	if (p == NULL) {
		c->oom = true;
		return NULL;
	}
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* Records key -> line in a json-c object used as a dictionary. */
static bool
rules_dict_add(struct rules_ctx *c, struct json_object *dict, const char *key,
    unsigned line)
{
	struct json_object *v = json_object_new_int((int)line);

	if (v == NULL || json_object_object_add(dict, key, v) != 0) {
		json_object_put(v);
		c->oom = true;
		return false;
	}
	return true;
}

/* Reports duplicate keys in a mapping. */
static void
rules_map_dups(struct rules_ctx *c, const struct rules_node *map)
{
	struct json_object *seen;
	struct json_object *v;
	char q[RULES_Q_SIZE];
	size_t i;

	if (map->n <= 2)
		return;
	seen = json_object_new_object();
	if (seen == NULL) {
		c->oom = true;
		return;
	}
	for (i = 0; i < map->n; i += 2) {
		const struct rules_node *k = map->kid[i];

		if (k->type != RULES_NODE_SCALAR)
			continue;
		if (json_object_object_get_ex(seen, k->s, &v)) {
			rules_err(c, k, "duplicate key '%s' (first at line %d)",
			    RULES_QN(q, k), json_object_get_int(v));
			continue;
		}
		if (!rules_dict_add(c, seen, k->s, k->line))
			break;
	}
	json_object_put(seen);
}

/* ---- field paths and templates ---------------------------------------- */

/* Warns when a path does not start with a known CloudTrail field. */
static void
rules_check_field(struct rules_ctx *c, const struct rules_node *n,
    const char *path, size_t len)
{
	char first[RULES_MAX_PATH];
	char hint[96];
	char q[RULES_Q_SIZE];
	const char *dot;
	size_t flen;

	dot = memchr(path, '.', len);
	flen = dot != NULL ? (size_t)(dot - path) : len;
	if (flen >= sizeof(first))
		flen = sizeof(first) - 1;
	memcpy(first, path, flen);
	first[flen] = '\0';
	if (rules_in_list(first, rules_record_fields))
		return;
	rules_warn(c, n, "unknown CloudTrail field '%s'%s",
	    rules_q(q, sizeof(q), first, flen),
	    rules_hint(hint, sizeof(hint),
		rules_suggest(c, first, rules_record_fields,
		    rules_nlist(rules_record_fields), false)));
}

/* Compiles a path given as text; reports at n. */
static struct record_path *
rules_path_text(struct rules_ctx *c, const struct rules_node *n, const char *s,
    size_t len, const char *where)
{
	struct record_path *p;
	char q[RULES_Q_SIZE];
	int r;

	if (len == 0) {
		rules_err(c, n, "empty field path%s", where);
		return NULL;
	}
	if (strlen(s) != len) {
		rules_err(c, n, "NUL byte in field path%s", where);
		return NULL;
	}
	if (len >= RULES_MAX_PATH) {
		rules_err(c, n, "field path longer than %d bytes%s",
		    RULES_MAX_PATH - 1, where);
		return NULL;
	}
	r = record_path_compile(s, &p);
	if (r == -ENOMEM) {
		c->oom = true;
		return NULL;
	}
	if (r < 0) {
		rules_err(c, n, "empty segment in field path '%s'%s",
		    rules_q(q, sizeof(q), s, len), where);
		return NULL;
	}
	rules_check_field(c, n, s, len);
	return p;
}

static struct record_path *
rules_path(struct rules_ctx *c, const struct rules_node *n)
{
	if (n->type == RULES_NODE_BAD)
		return NULL;
	if (n->type != RULES_NODE_SCALAR) {
		rules_err(c, n, "expected a field path");
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
rules_tmpl_check(struct rules_ctx *c, const struct rules_node *n)
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
			rules_err(c, n, "unterminated '{{' in summary");
			return false;
		}
		if (len == 0) {
			rules_err(c, n, "empty placeholder in summary");
			ok = false;
		} else if (len >= sizeof(tmp)) {
			rules_err(c, n,
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
		c->oom = true;
		return NULL;
	}
	cd->op = op;
	return cd;
}

static bool
rules_depth_ok(struct rules_ctx *c, const struct rules_node *n, unsigned depth)
{
	if (depth < RULES_MAX_DEPTH)
		return true;
	rules_err(c, n, "nesting deeper than %d levels", RULES_MAX_DEPTH);
	return false;
}

static struct rules_cond *rules_cond_compile(struct rules_ctx *c,
    const struct rules_node *n, unsigned depth, bool event_name);

static void
rules_event_check(struct rules_ctx *c, const struct rules_node *n)
{
	char hint[96];
	char q[RULES_Q_SIZE];
	size_t nev = rules_nlist(rules_known_events);

	if (strlen(n->s) == n->len && rules_in_list(n->s, rules_known_events))
		return;
	rules_warn(c, n, "unknown event name '%s'%s", RULES_QN(q, n),
	    rules_hint(hint, sizeof(hint),
		rules_suggest(c, n->s, rules_known_events, nev, true)));
}

static struct rules_cond *
rules_cond_scalar(struct rules_ctx *c, const struct rules_node *n,
    bool event_name)
{
	struct rules_cond *cd = rules_cond_new(c, RULES_OP_EQ);

	if (cd == NULL)
		return NULL;
	cd->type = rules_scalar_type(n, &cd->b, &cd->i, &cd->d);
	if (cd->type == RULES_SCALAR_STRING) {
		cd->s = rules_strdup(c, n->s, n->len);
		cd->len = n->len;
		if (cd->s == NULL) {
			rules_cond_free(cd);
			return NULL;
		}
		if (event_name)
			rules_event_check(c, n);
	}
	return cd;
}

/* any:/all: or a plain list: at least one condition. */
static struct rules_cond *
rules_cond_list(struct rules_ctx *c, const struct rules_node *at,
    const struct rules_node *list, enum rules_op op, unsigned depth,
    bool event_name)
{
	struct rules_cond *cd;
	size_t i;
	bool ok = true;

	if (!rules_depth_ok(c, at, depth))
		return NULL;
	if (list->n == 0) {
		rules_err(c, list, "empty list of conditions");
		return NULL;
	}
	cd = rules_cond_new(c, op);
	if (cd == NULL)
		return NULL;
	cd->sub = calloc(list->n, sizeof(*cd->sub));
	if (cd->sub == NULL) {
		c->oom = true;
		rules_cond_free(cd);
		return NULL;
	}
	for (i = 0; i < list->n; i++) {
		cd->sub[cd->n] =
		    rules_cond_compile(c, list->kid[i], depth + 1, event_name);
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

/*
 * An upper bound on how big glibc's regcomp() makes a pattern: counted
 * repetitions multiply what they repeat. Refuses back-references, which
 * make matching exponential. NULL when acceptable (*ret_cost set), else
 * why not.
 */
static const char *
rules_regex_cost(const char *p, size_t len, uint64_t *ret_cost)
{
	uint64_t sum[RULES_MAX_REGEX_GROUPS + 1];
	uint64_t last[RULES_MAX_REGEX_GROUPS + 1];
	size_t depth = 0;
	size_t i = 0;

	sum[0] = 0;
	last[0] = 0;
	while (i < len) {
		uint64_t atom = 1;
		char ch = p[i];

		if (ch == '\\') {
			if (i + 1 < len && p[i + 1] >= '0' && p[i + 1] <= '9')
				return "back-references are not supported";
			i += 2;
		} else if (ch == '[') {
			size_t j = i + 1;

			if (j < len && p[j] == '^')
				j++;
			if (j < len && p[j] == ']')
				j++;
			while (j < len && p[j] != ']') {
				if (p[j] == '[' && j + 1 < len &&
				    (p[j + 1] == ':' || p[j + 1] == '=' ||
					p[j + 1] == '.')) {
					char close = p[j + 1];

					j += 2;
					while (j + 1 < len &&
					    !(p[j] == close && p[j + 1] == ']'))
						j++;
					j += 2;
					continue;
				}
				j++;
			}
			i = j + 1;
			atom = 4; /* a bracket costs glibc more than a char */
		} else if (ch == '(') {
			if (depth == RULES_MAX_REGEX_GROUPS)
				return "too many nested groups";
			depth++;
			sum[depth] = 0;
			last[depth] = 0;
			i++;
			continue;
		} else if (ch == ')' && depth > 0) {
			atom = sum[depth];
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
			uint64_t m = 0;
			uint64_t n = 0;
			size_t j = i + 1;
			bool comma = false;

			while (j < len && p[j] >= '0' && p[j] <= '9' &&
			    m <= RULES_MAX_REGEX_DUP)
				m = m * 10 + (uint64_t)(p[j++] - '0');
			if (j < len && p[j] == ',') {
				comma = true;
				j++;
				while (j < len && p[j] >= '0' && p[j] <= '9' &&
				    n <= RULES_MAX_REGEX_DUP)
					n = n * 10 + (uint64_t)(p[j++] - '0');
			}
			if (m > RULES_MAX_REGEX_DUP || n > RULES_MAX_REGEX_DUP)
				return "repetition count above 255";
			if (!comma || n < m)
				n = m + (comma ? 1 : 0);
			if (n > 1)
				sum[depth] += last[depth] * (n - 1);
			last[depth] *= n;
			while (j < len && p[j] != '}')
				j++;
			i = j + 1;
			atom = 0;
		} else {
			i++;
		}
		if (atom != 0) {
			sum[depth] += atom;
			last[depth] = atom;
		}
		if (sum[depth] > RULES_MAX_REGEX_COST ||
		    last[depth] > RULES_MAX_REGEX_COST)
			return "too complex (counted repetitions expand too far)";
	}
	*ret_cost = 16 + sum[0];
	return NULL;
}

static bool
rules_regex_compile(struct rules_ctx *c, const struct rules_node *n,
    struct rules_cond *cd)
{
	char err[200];
	const char *why;
	uint64_t cost;
	int r;

	if (strlen(n->s) != n->len) {
		rules_err(c, n, "bad regex: NUL byte in pattern");
		return false;
	}
	if (n->len > RULES_MAX_REGEX) {
		rules_err(c, n, "bad regex: longer than %d bytes",
		    RULES_MAX_REGEX);
		return false;
	}
	why = rules_regex_cost(n->s, n->len, &cost);
	if (why != NULL) {
		rules_err(c, n, "bad regex: %s", why);
		return false;
	}
	if (cost > RULES_MAX_REGEX_TOTAL - c->regex_cost) {
		rules_err(c, n,
		    "bad regex: the file's regexes are too complex together");
		return false;
	}
	c->regex_cost += cost;
	r = regcomp(&cd->re, n->s, REG_EXTENDED | REG_NOSUB);
	if (r == REG_ESPACE) {
		c->oom = true;
		return false;
	}
	if (r != 0) {
		(void)regerror(r, &cd->re, err, sizeof(err));
		rules_err(c, n, "bad regex: %s", err);
		return false;
	}
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
rules_operand_number(struct rules_ctx *c, const struct rules_node *n,
    const char *what, double *ret)
{
	if (n->type == RULES_NODE_BAD)
		return false;
	if (n->type != RULES_NODE_SCALAR ||
	    !rules_parse_number(n->s, n->len, ret)) {
		rules_err(c, n, "expected a number for '%s'", what);
		return false;
	}
	return true;
}

/* A condition mapping: exactly one operator. */
static struct rules_cond *
rules_cond_op(struct rules_ctx *c, const struct rules_node *map, unsigned depth,
    bool event_name)
{
	const struct rules_node *k;
	const struct rules_node *v;
	struct rules_cond *cd;
	enum rules_op op;
	const char *s;
	const char *why;
	char hint[96];
	char q[RULES_Q_SIZE];
	char q2[RULES_Q_SIZE];
	bool ok = true;

	if (map->n == 0) {
		rules_err(c, map,
		    "empty condition (expected an operator such as 'prefix' or 'regex')");
		return NULL;
	}
	k = map->kid[0];
	v = map->kid[1];
	if (map->n > 2) {
		const struct rules_node *k2 = map->kid[2];

		if (k->type == RULES_NODE_SCALAR &&
		    k2->type == RULES_NODE_SCALAR)
			rules_err(c, k2,
			    "more than one operator in a condition ('%s' and '%s'); combine them with 'all'",
			    RULES_QN(q, k), RULES_QN(q2, k2));
		else
			rules_err(c, k2,
			    "more than one operator in a condition; combine them with 'all'");
		return NULL;
	}
	if (k->type == RULES_NODE_BAD)
		return NULL;
	if (k->type != RULES_NODE_SCALAR) {
		rules_err(c, k, "expected an operator name");
		return NULL;
	}
	for (op = RULES_OP_EXISTS; op < RULES_OP_COUNT; op++)
		if (strcmp(k->s, rules_op_names[op]) == 0)
			break;
	if (op == RULES_OP_COUNT || strlen(k->s) != k->len) {
		rules_err(c, k, "unknown operator '%s'%s", RULES_QN(q, k),
		    rules_hint(hint, sizeof(hint),
			rules_suggest(c, k->s, rules_op_names, RULES_OP_COUNT,
			    false)));
		return NULL;
	}
	if (op == RULES_OP_NOT) {
		if (!rules_depth_ok(c, k, depth))
			return NULL;
		cd = rules_cond_new(c, op);
		if (cd == NULL)
			return NULL;
		cd->sub = calloc(1, sizeof(*cd->sub));
		if (cd->sub == NULL) {
			c->oom = true;
			rules_cond_free(cd);
			return NULL;
		}
		cd->sub[0] = rules_cond_compile(c, v, depth + 1, event_name);
		if (cd->sub[0] == NULL) {
			rules_cond_free(cd);
			return NULL;
		}
		cd->n = 1;
		return cd;
	}
	if (op == RULES_OP_ANY || op == RULES_OP_ALL) {
		if (v->type == RULES_NODE_BAD)
			return NULL;
		if (v->type != RULES_NODE_SEQ) {
			rules_err(c, v,
			    "expected a list of conditions for '%s'",
			    rules_op_names[op]);
			return NULL;
		}
		return rules_cond_list(c, k, v, op, depth, event_name);
	}
	cd = rules_cond_new(c, op);
	if (cd == NULL)
		return NULL;
	switch (op) {
	case RULES_OP_EXISTS:
		ok = rules_bool(c, v, rules_op_names[op], &cd->b);
		break;
	case RULES_OP_PREFIX:
	case RULES_OP_SUFFIX:
	case RULES_OP_CONTAINS:
	case RULES_OP_GLOB:
		s = rules_str(c, v, rules_op_names[op]);
		if (s == NULL) {
			ok = false;
			break;
		}
		if (op == RULES_OP_GLOB && strlen(s) != v->len) {
			rules_err(c, v, "NUL byte in pattern for 'glob'");
			ok = false;
			break;
		}
		cd->s = rules_strdup(c, s, v->len);
		cd->len = v->len;
		ok = cd->s != NULL;
		break;
	case RULES_OP_REGEX:
		ok = rules_str(c, v, rules_op_names[op]) != NULL &&
		    rules_regex_compile(c, v, cd);
		break;
	case RULES_OP_CIDR:
		s = rules_str(c, v, rules_op_names[op]);
		if (s == NULL) {
			ok = false;
			break;
		}
		why = rules_cidr_parse(s, cd, hint, sizeof(hint));
		if (why != NULL) {
			rules_err(c, v, "bad CIDR '%s'%s", RULES_QN(q, v),
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

static struct rules_cond *
rules_cond_compile(struct rules_ctx *c, const struct rules_node *n,
    unsigned depth, bool event_name)
{
	switch (n->type) {
	case RULES_NODE_SCALAR:
		return rules_cond_scalar(c, n, event_name);
	case RULES_NODE_SEQ:
		return rules_cond_list(c, n, n, RULES_OP_ANY, depth,
		    event_name);
	case RULES_NODE_MAP:
		return rules_cond_op(c, n, depth, event_name);
	case RULES_NODE_BAD:
		break;
	}
	return NULL;
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
		return rules_parse_number(s, len, ret);
	case json_type_null:
	case json_type_boolean:
	case json_type_object:
	case json_type_array:
		break;
	}
	return false;
}

static bool
rules_eq(const struct rules_cond *cd, struct json_object *v)
{
	const char *s;
	size_t len;

	switch (cd->type) {
	case RULES_SCALAR_NULL:
		return v == NULL;
	case RULES_SCALAR_BOOL:
		return v != NULL && json_object_is_type(v, json_type_boolean) &&
		    (json_object_get_boolean(v) != 0) == cd->b;
	case RULES_SCALAR_INT:
		if (v != NULL && json_object_is_type(v, json_type_int))
			return json_object_get_int64(v) == cd->i;
		return v != NULL && json_object_is_type(v, json_type_double) &&
		    json_object_get_double(v) == cd->d;
	case RULES_SCALAR_FLOAT:
		if (v != NULL && json_object_is_type(v, json_type_int))
			return (double)json_object_get_int64(v) == cd->d;
		return v != NULL && json_object_is_type(v, json_type_double) &&
		    json_object_get_double(v) == cd->d;
	case RULES_SCALAR_STRING:
		s = rules_jstr(v, &len);
		return s != NULL && len == cd->len &&
		    memcmp(s, cd->s, len) == 0;
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
		    memcmp(s, cd->s, cd->len) == 0;
	case RULES_OP_SUFFIX:
		s = rules_jstr(v, &len);
		return s != NULL && len >= cd->len &&
		    memcmp(s + len - cd->len, cd->s, cd->len) == 0;
	case RULES_OP_CONTAINS:
		s = rules_jstr(v, &len);
		return s != NULL &&
		    (cd->len == 0 || memmem(s, len, cd->s, cd->len) != NULL);
	case RULES_OP_GLOB:
		s = rules_jstr(v, &len);
		return s != NULL && fnmatch(cd->s, s, 0) == 0;
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
	case RULES_OP_COUNT:
		break;
	}
	return false;
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
	struct json_object *v;
	bool present;
	size_t i;

	if (m == NULL)
		return false;
	switch (m->kind) {
	case RULES_M_FIELD:
		v = record_get(rec, m->path, &present);
		return rules_cond_eval(m->cond, v, present);
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

/* ---- match mappings --------------------------------------------------- */

static struct rules_match *
rules_match_new(struct rules_ctx *c, enum rules_mkind kind, size_t nsub)
{
	struct rules_match *m = calloc(1, sizeof(*m));

	if (m == NULL) {
		c->oom = true;
		return NULL;
	}
	m->kind = kind;
	if (nsub == 0)
		return m;
	m->sub = calloc(nsub, sizeof(*m->sub));
	if (m->sub == NULL) {
		c->oom = true;
		free(m);
		return NULL;
	}
	return m;
}

static struct rules_match *rules_match_compile(struct rules_ctx *c,
    const struct rules_node *n, unsigned depth, const char *what);

/* One entry of a match mapping: a field's condition or a combinator. */
static struct rules_match *
rules_match_entry(struct rules_ctx *c, const struct rules_node *k,
    const struct rules_node *v, unsigned depth)
{
	struct rules_match *m;
	size_t i;
	bool ok = true;

	if (k->type == RULES_NODE_BAD)
		return NULL;
	if (k->type == RULES_NODE_SCALAR &&
	    (strcmp(k->s, "any") == 0 || strcmp(k->s, "all") == 0)) {
		if (!rules_depth_ok(c, k, depth))
			return NULL;
		if (v->type == RULES_NODE_BAD)
			return NULL;
		if (v->type != RULES_NODE_SEQ || v->n == 0) {
			rules_err(c, v,
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
		return m;
	}
	if (k->type == RULES_NODE_SCALAR && strcmp(k->s, "not") == 0) {
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
		return m;
	}
	m = rules_match_new(c, RULES_M_FIELD, 0);
	if (m == NULL)
		return NULL;
	m->path = rules_path(c, k);
	m->cond = rules_cond_compile(c, v, depth,
	    k->type == RULES_NODE_SCALAR && strcmp(k->s, "eventName") == 0);
	if (m->path == NULL || m->cond == NULL) {
		rules_match_free(m);
		return NULL;
	}
	return m;
}

static struct rules_match *
rules_match_compile(struct rules_ctx *c, const struct rules_node *n,
    unsigned depth, const char *what)
{
	struct rules_match *m;
	struct rules_match *one;
	size_t i;
	bool ok = true;

	if (n->type == RULES_NODE_BAD)
		return NULL;
	if (n->type != RULES_NODE_MAP) {
		rules_err(c, n,
		    "expected a mapping of field paths to conditions for '%s'",
		    what);
		return NULL;
	}
	if (n->n == 0) {
		rules_err(c, n, "empty '%s' (expected at least one condition)",
		    what);
		return NULL;
	}
	rules_map_dups(c, n);
	m = rules_match_new(c, RULES_M_ALL, n->n / 2);
	if (m == NULL)
		return NULL;
	for (i = 0; i + 1 < n->n; i += 2) {
		m->sub[m->n] =
		    rules_match_entry(c, n->kid[i], n->kid[i + 1], depth);
		if (m->sub[m->n] == NULL)
			ok = false;
		else
			m->n++;
	}
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
	memset(r, 0, sizeof(*r));
}

/* Parses a duration: seconds, or digits and one of s, m, h, d. */
static bool
rules_duration(struct rules_ctx *c, const struct rules_node *n,
    const char *what, uint64_t *ret_us)
{
	char q[RULES_Q_SIZE];
	uint64_t v = 0;
	uint64_t mult = 1;
	size_t i;

	if (n->type == RULES_NODE_BAD)
		return false;
	if (n->type != RULES_NODE_SCALAR || rules_is_null(n)) {
		rules_err(c, n,
		    "expected a duration for '%s' (seconds, or a number followed by s, m, h or d)",
		    what);
		return false;
	}
	for (i = 0; i < n->len && n->s[i] >= '0' && n->s[i] <= '9'; i++) {
		if (v > RULES_MAX_DURATION_S)
			goto big;
		v = v * 10 + (uint64_t)(n->s[i] - '0');
	}
	if (i == 0)
		goto bad;
	if (i + 1 == n->len) {
		switch (n->s[i]) {
		case 's':
			mult = 1;
			break;
		case 'm':
			mult = 60;
			break;
		case 'h':
			mult = 3600;
			break;
		case 'd':
			mult = 86400;
			break;
		default:
			goto bad;
		}
	} else if (i != n->len) {
		goto bad;
	}
	if (v > RULES_MAX_DURATION_S / mult)
		goto big;
	*ret_us = v * mult * 1000000;
	return true;
bad:
	rules_err(c, n,
	    "bad duration '%s' for '%s' (expected seconds, or a number followed by s, m, h or d)",
	    RULES_QN(q, n), what);
	return false;
big:
	rules_err(c, n, "duration '%s' for '%s' is longer than 365d",
	    RULES_QN(q, n), what);
	return false;
}

/* A list of strings, or one string. */
static bool
rules_str_list(struct rules_ctx *c, const struct rules_node *n,
    const char *what, char ***ret, size_t *ret_n)
{
	const struct rules_node *const *items =
	    (const struct rules_node *const *)&n;
	size_t count = 1;
	char **v;
	size_t i;
	bool ok = true;

	if (n->type == RULES_NODE_BAD)
		return false;
	if (n->type == RULES_NODE_SEQ) {
		items = (const struct rules_node *const *)n->kid;
		count = n->n;
	}
	v = calloc(count != 0 ? count : 1, sizeof(*v));
	if (v == NULL) {
		c->oom = true;
		return false;
	}
	for (i = 0; i < count; i++) {
		const char *s = rules_str(c, items[i], what);

		if (s == NULL) {
			ok = false;
			continue;
		}
		if (items[i]->len == 0 || strlen(s) != items[i]->len) {
			rules_err(c, items[i], "empty name in '%s'", what);
			ok = false;
			continue;
		}
		v[i] = rules_strdup(c, s, items[i]->len);
		if (v[i] == NULL)
			ok = false;
	}
	if (!ok) {
		for (i = 0; i < count; i++)
			free(v[i]);
		free(v);
		return false;
	}
	*ret = v;
	*ret_n = count;
	return true;
}

static bool
rules_group_by(struct rules_ctx *c, const struct rules_node *n, struct rule *r)
{
	const struct rules_node *const *items =
	    (const struct rules_node *const *)&n;
	size_t count = 1;
	size_t i;
	bool ok = true;

	if (n->type == RULES_NODE_BAD)
		return false;
	if (n->type == RULES_NODE_SEQ) {
		items = (const struct rules_node *const *)n->kid;
		count = n->n;
	}
	r->group_by = calloc(count != 0 ? count : 1, sizeof(*r->group_by));
	if (r->group_by == NULL) {
		c->oom = true;
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

/* The characters a rule id may use: it ends up in logs, keys and URLs. */
static bool
rules_id_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > RULES_MAX_ID)
		return false;
	for (i = 0; i < len; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			(ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
			ch == '-'))
			return false;
	}
	return true;
}

static bool
rules_rule_id(struct rules_ctx *c, const struct rules_node *n, struct rule *r)
{
	struct json_object *v;
	char q[RULES_Q_SIZE];
	const char *s;

	s = rules_str(c, n, "id");
	if (s == NULL)
		return false;
	if (!rules_id_ok(s, n->len)) {
		rules_err(c, n,
		    "bad rule id '%s' (use letters, digits, '.', '_' and '-', at most %d)",
		    RULES_QN(q, n), RULES_MAX_ID);
		return false;
	}
	if (json_object_object_get_ex(c->ids, s, &v)) {
		rules_err(c, n, "duplicate rule id '%s' (first at line %d)", s,
		    json_object_get_int(v));
		return false;
	}
	if (!rules_dict_add(c, c->ids, s, n->line))
		return false;
	r->id = rules_strdup(c, s, n->len);
	return r->id != NULL;
}

/* Compiles one rule into r (which the caller frees either way). */
static void
rules_rule_compile(struct rules_ctx *c, const struct rules_node *map,
    struct rule *r)
{
	const struct rules_node *nodes[RULES_KEY_COUNT];
	char hint[96];
	char q[RULES_Q_SIZE];
	const char *s;
	enum rules_key key;
	size_t i;
	int sr;

	memset(nodes, 0, sizeof(nodes));
	r->severity = RULES_SEV_WARNING;
	r->enabled = true;
	r->line = map->line;
	rules_map_dups(c, map);
	/* The id first, so that later messages can name the rule. */
	for (i = 0; i + 1 < map->n; i += 2) {
		const struct rules_node *k = map->kid[i];

		if (k->type == RULES_NODE_SCALAR && strcmp(k->s, "id") == 0) {
			nodes[RULES_KEY_ID] = map->kid[i + 1];
			(void)rules_rule_id(c, nodes[RULES_KEY_ID], r);
			break;
		}
	}
	if (nodes[RULES_KEY_ID] == NULL)
		rules_err(c, map, "missing 'id' in rule");
	/* Then the rest in file order, so that messages are too. */
	for (i = 0; i + 1 < map->n; i += 2) {
		const struct rules_node *k = map->kid[i];
		const struct rules_node *v = map->kid[i + 1];

		if (k->type == RULES_NODE_BAD)
			continue;
		if (k->type != RULES_NODE_SCALAR) {
			rules_err(c, k, "expected a rule key");
			continue;
		}
		for (key = 0; key < RULES_KEY_COUNT; key++)
			if (strcmp(k->s, rules_key_names[key]) == 0)
				break;
		if (key == RULES_KEY_COUNT) {
			rules_err(c, k, "unknown rule key '%s'%s",
			    RULES_QN(q, k),
			    rules_hint(hint, sizeof(hint),
				rules_suggest(c, k->s, rules_key_names,
				    RULES_KEY_COUNT, false)));
			continue;
		}
		if (nodes[key] != NULL)
			continue; /* a duplicate key, already reported */
		nodes[key] = v;
		switch (key) {
		case RULES_KEY_ID:
			break;
		case RULES_KEY_TITLE:
			s = rules_str(c, v, "title");
			if (s != NULL)
				r->title = rules_strdup(c, s, v->len);
			break;
		case RULES_KEY_SEVERITY:
			s = rules_str(c, v, "severity");
			if (s == NULL)
				break;
			sr = rules_severity_parse(s, &r->severity);
			if (sr < 0)
				rules_err(c, v,
				    "unknown severity '%s' (expected info, warning, error or critical)",
				    RULES_QN(q, v));
			break;
		case RULES_KEY_MATCH:
			r->match = rules_match_compile(c, v, 0, "match");
			break;
		case RULES_KEY_GROUP_BY:
			(void)rules_group_by(c, v, r);
			break;
		case RULES_KEY_SUMMARY:
			s = rules_str(c, v, "summary");
			if (s != NULL && rules_tmpl_check(c, v))
				r->summary = rules_strdup(c, s, v->len);
			break;
		case RULES_KEY_DESTINATIONS:
			(void)rules_str_list(c, v, "destinations",
			    &r->destinations, &r->n_destinations);
			break;
		case RULES_KEY_THROTTLE:
			(void)rules_duration(c, v, "throttle", &r->throttle_us);
			break;
		case RULES_KEY_GROUP_WAIT:
			(void)rules_duration(c, v, "group_wait",
			    &r->group_wait_us);
			break;
		case RULES_KEY_RESOLVE_ON:
			r->resolve_on =
			    rules_match_compile(c, v, 0, "resolve_on");
			break;
		case RULES_KEY_ENABLED:
			(void)rules_bool(c, v, "enabled", &r->enabled);
			break;
		case RULES_KEY_COUNT:
			break;
		}
	}
	if (nodes[RULES_KEY_MATCH] == NULL) {
		if (r->id != NULL)
			rules_err(c, map, "missing 'match' in rule '%s'",
			    r->id);
		else
			rules_err(c, map, "missing 'match' in rule");
	}
	if (r->title == NULL && r->id != NULL)
		r->title = rules_strdup(c, r->id, strlen(r->id));
	if (nodes[RULES_KEY_GROUP_BY] == NULL && r->group_by == NULL) {
		r->group_by = calloc(1, sizeof(*r->group_by));
		if (r->group_by == NULL ||
		    record_path_compile("secretId", &r->group_by[0]) < 0)
			c->oom = true;
		else
			r->n_group_by = 1;
	}
}

static void
rules_rule_add(struct rules_ctx *c, const struct rules_node *n)
{
	struct rules *rs = c->rs;
	struct rule *v;
	size_t cap;

	if (n->type == RULES_NODE_BAD)
		return;
	if (n->type != RULES_NODE_MAP) {
		rules_err(c, n,
		    "expected a mapping for a rule (with 'id' and 'match')");
		return;
	}
	if (rs->n == rs->cap) {
		cap = rs->cap != 0 ? rs->cap * 2 : 16;
		v = realloc(rs->v, cap * sizeof(*v));
		if (v == NULL) {
			c->oom = true;
			return;
		}
		rs->v = v;
		rs->cap = cap;
	}
	v = &rs->v[rs->n++];
	memset(v, 0, sizeof(*v));
	rules_rule_compile(c, n, v);
}

static void
rules_top(struct rules_ctx *c, const struct rules_node *root)
{
	const struct rules_node *list = NULL;
	char hint[96];
	char q[RULES_Q_SIZE];
	size_t i;

	if (root == NULL) {
		rules_err_at(c, 0, 0,
		    "empty rules file (expected a mapping with a 'rules' list)");
		return;
	}
	if (root->type == RULES_NODE_BAD)
		return;
	if (root->type != RULES_NODE_MAP) {
		rules_err(c, root,
		    "expected a mapping with a 'rules' list at the top level");
		return;
	}
	rules_map_dups(c, root);
	for (i = 0; i + 1 < root->n; i += 2) {
		const struct rules_node *k = root->kid[i];

		if (k->type == RULES_NODE_SCALAR &&
		    strcmp(k->s, "rules") == 0) {
			if (list == NULL)
				list = root->kid[i + 1];
			continue;
		}
		if (k->type == RULES_NODE_SCALAR)
			rules_err(c, k, "unknown top-level key '%s'%s",
			    RULES_QN(q, k),
			    rules_hint(hint, sizeof(hint),
				rules_suggest(c, k->s, rules_top_keys, 1,
				    false)));
		else if (k->type != RULES_NODE_BAD)
			rules_err(c, k, "expected a top-level key");
	}
	if (list == NULL) {
		rules_err(c, root,
		    "missing 'rules' (expected a list of rules)");
		return;
	}
	if (rules_is_null(list) || list->type == RULES_NODE_BAD)
		return; /* "rules:" with every rule commented out */
	if (list->type != RULES_NODE_SEQ) {
		rules_err(c, list, "expected a list of rules for 'rules'");
		return;
	}
	for (i = 0; i < list->n && !c->oom; i++)
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
	struct rules_node *root;

	if (len > RULES_MAX_FILE)
		return diag_list_add(diags, -EINVAL, name, 0, 0,
		    "file larger than %u bytes", RULES_MAX_FILE);
	memset(&c, 0, sizeof(c));
	c.name = name;
	c.text = text != NULL ? text : "";
	c.len = len;
	c.strict = strict;
	c.diags = diags;
	c.rs = calloc(1, sizeof(*c.rs));
	c.ids = json_object_new_object();
	if (c.rs == NULL || c.ids == NULL) {
		free(c.rs);
		json_object_put(c.ids);
		return diag_list_add(diags, -ENOMEM, name, 0, 0,
		    "out of memory");
	}
	root = rules_yaml_load(&c);
	/* A whole tree (even with aliases or tags refused) is checked too. */
	if (!c.oom && (root != NULL || c.errors == 0))
		rules_top(&c, root);
	rules_node_free(root);
	json_object_put(c.ids);
	if (c.oom) {
		rules_free(c.rs);
		return diag_list_add(diags, -ENOMEM, name, 0, 0,
		    "out of memory");
	}
	if (c.errors > 0) {
		rules_free(c.rs);
		return -EINVAL;
	}
	*ret = c.rs;
	return 0;
}

int
rules_load(const char *path, bool strict, struct rules **ret,
    struct diag_list *diags)
{
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	size_t cap;
	ssize_t n;
	int fd;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		return diag_list_add(diags, r, path, 0, 0, "%s", strerror(-r));
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		(void)close(fd);
		return diag_list_add(diags, r, path, 0, 0, "%s", strerror(-r));
	}
	if (S_ISDIR(st.st_mode)) {
		(void)close(fd);
		return diag_list_add(diags, -EISDIR, path, 0, 0, "%s",
		    strerror(EISDIR));
	}
	/* Read at most one byte past the limit, whatever st_size says. */
	cap = S_ISREG(st.st_mode) && st.st_size >= 0 &&
		(uint64_t)st.st_size <= RULES_MAX_FILE
	    ? (size_t)st.st_size + 1
	    : RULES_MAX_FILE + 1;
	text = malloc(cap);
	if (text == NULL) {
		(void)close(fd);
		return diag_list_add(diags, -ENOMEM, path, 0, 0,
		    "out of memory");
	}
	for (;;) {
		if (len == cap) {
			char *p;

			if (cap > RULES_MAX_FILE)
				break;
			cap = cap * 2 > RULES_MAX_FILE + 1 ? RULES_MAX_FILE + 1
							   : cap * 2;
			p = realloc(text, cap);
			if (p == NULL) {
				free(text);
				(void)close(fd);
				return diag_list_add(diags, -ENOMEM, path, 0, 0,
				    "out of memory");
			}
			text = p;
		}
		n = read(fd, text + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			free(text);
			(void)close(fd);
			return diag_list_add(diags, r, path, 0, 0, "%s",
			    strerror(-r));
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	(void)close(fd);
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
