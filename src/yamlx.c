/*
 * yamlx.c: see yamlx.h. Moved out of rules.c so that cfg.c loads its file
 * the same way; the messages and positions are the ones smtrail-rules(5)
 * users already see.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <yaml.h>

#include "diag.h"
#include "bounds.h"
#include "yamlx.h"

/*
 * Ceilings. YAML nesting: a rule needs about five levels plus two per
 * any:/all:/not:, so this leaves room for the semantic RULES_MAX_DEPTH
 * check to report first (the daemon's configuration needs four). Nodes: a
 * thousand rules use some 30000; the cap bounds memory at a few tens of MB
 * whatever the file holds. A duration beyond a year is a typo.
 */
#define YAMLX_MAX_DEPTH (8 * RULES_MAX_DEPTH)
#define YAMLX_MAX_NODES (1u << 17)
#define YAMLX_MAX_DURATION_S (365ull * 86400)

/* ---- diagnostics ------------------------------------------------------ */

static void yamlx_verr(struct yamlx *y, bool warning, unsigned line,
    unsigned col, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));

static void
yamlx_verr(struct yamlx *y, bool warning, unsigned line, unsigned col,
    const char *fmt, va_list ap)
{
	char msg[512];

	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	if (warning && !y->strict) {
		diag_list_warn(y->diags, y->name, line, col, "%s", msg);
		return;
	}
	y->errors++;
	(void)diag_list_add(y->diags, -EINVAL, y->name, line, col, "%s", msg);
}

void
yamlx_err_at(struct yamlx *y, unsigned line, unsigned col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	yamlx_verr(y, false, line, col, fmt, ap);
	va_end(ap);
}

void
yamlx_err(struct yamlx *y, const struct yamlx_node *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	yamlx_verr(y, false, n->line, n->col, fmt, ap);
	va_end(ap);
}

/* A warning, or an error under strict. */
void
yamlx_warn(struct yamlx *y, const struct yamlx_node *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	yamlx_verr(y, true, n->line, n->col, fmt, ap);
	va_end(ap);
}

void
yamlx_warn_at(struct yamlx *y, unsigned line, unsigned col, const char *fmt,
    ...)
{
	va_list ap;

	va_start(ap, fmt);
	yamlx_verr(y, true, line, col, fmt, ap);
	va_end(ap);
}

void
yamlx_note(struct yamlx *y, const struct yamlx_node *n, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_list_warn(y->diags, y->name, n->line, n->col, "%s", msg);
}

/*
 * s (len bytes) for a message: control bytes escaped as \xNN, cut at 64
 * bytes with "...". Returns buf.
 */
const char *
yamlx_q(char *buf, size_t size, const char *s, size_t len)
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

#define YAMLX_Q_SIZE 300
#define YAMLX_QN(buf, n) yamlx_q((buf), sizeof(buf), (n)->s, (n)->len)

static char
yamlx_lower(char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

/*
 * Optimal string alignment distance (a swap of two neighbours costs one),
 * ignoring ASCII case. Long strings are never close.
 */
static size_t
yamlx_distance(const char *a, const char *b)
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
			    yamlx_lower(a[i - 1]) != yamlx_lower(b[j - 1]);
			size_t v = prev[j] + 1;

			if (cur[j - 1] + 1 < v)
				v = cur[j - 1] + 1;
			if (prev[j - 1] + cost < v)
				v = prev[j - 1] + cost;
			if (i > 1 && j > 1 &&
			    yamlx_lower(a[i - 1]) == yamlx_lower(b[j - 2]) &&
			    yamlx_lower(a[i - 2]) == yamlx_lower(b[j - 1]) &&
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
const char *
yamlx_suggest(const struct yamlx *y, const char *s, const char *const *names,
    size_t n, bool loose)
{
	const char *best = NULL;
	size_t bestd = SIZE_MAX;
	size_t i;

	/* Not worth the time for a message that will only be counted. */
	if (y->diags == NULL || y->diags->n >= DIAG_LIST_MAX)
		return NULL;

	for (i = 0; i < n; i++) {
		size_t d;
		size_t max;

		if (names[i] == NULL)
			continue;
		d = yamlx_distance(s, names[i]);
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
const char *
yamlx_hint(char *buf, size_t size, const char *suggestion)
{
	if (suggestion == NULL)
		buf[0] = '\0';
	else
		(void)snprintf(buf, size, " (did you mean '%s'?)", suggestion);
	return buf;
}

size_t
yamlx_nlist(const char *const *names)
{
	size_t n = 0;

	while (names[n] != NULL)
		n++;
	return n;
}

bool
yamlx_in_list(const char *s, const char *const *names)
{
	size_t i;

	for (i = 0; names[i] != NULL; i++)
		if (strcmp(s, names[i]) == 0)
			return true;
	return false;
}

/* ---- YAML events to a tree -------------------------------------------- */

void
yamlx_node_free(struct yamlx_node *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->n; i++)
		yamlx_node_free(n->kid[i]);
	free(n->kid);
	free(n->s);
	free(n);
}

static unsigned
yamlx_mark_num(size_t v)
{
	return v >= UINT32_MAX - 1 ? UINT32_MAX - 1 : (unsigned)v + 1;
}

static struct yamlx_node *
yamlx_node_new(struct yamlx *y, enum yamlx_node_type type, yaml_mark_t mark)
{
	struct yamlx_node *n;

	if (y->nodes == YAMLX_MAX_NODES) {
		yamlx_err_at(y, yamlx_mark_num(mark.line),
		    yamlx_mark_num(mark.column), "more than %u YAML nodes",
		    YAMLX_MAX_NODES);
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (n == NULL) {
		y->oom = true;
		return NULL;
	}
	y->nodes++;
	n->type = type;
	n->line = yamlx_mark_num(mark.line);
	n->col = yamlx_mark_num(mark.column);
	return n;
}

static bool
yamlx_node_add(struct yamlx *y, struct yamlx_node *parent,
    struct yamlx_node *kid)
{
	struct yamlx_node **v;
	size_t cap;

	if (parent->n == parent->cap) {
		cap = parent->cap != 0 ? parent->cap * 2 : 4;
		v = realloc(parent->kid, cap * sizeof(*v));
		if (v == NULL) {
			y->oom = true;
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
yamlx_offset_pos(struct yamlx *y, size_t off, unsigned *line, unsigned *col)
{
	size_t l = 1;
	size_t k = 1;
	size_t i;

	if (off > y->len)
		off = y->len;
	for (i = 0; i < off; i++) {
		if (y->text[i] == '\n') {
			l++;
			k = 1;
		} else if (((unsigned char)y->text[i] & 0xc0) != 0x80) {
			k++; /* columns count characters, as libyaml's do */
		}
	}
	*line = yamlx_mark_num(l - 1);
	*col = yamlx_mark_num(k - 1);
}

static void
yamlx_syntax_error(struct yamlx *y, const yaml_parser_t *p)
{
	const char *problem = p->problem != NULL ? p->problem : "error";
	unsigned line;
	unsigned col;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		y->oom = true;
		return;
	case YAML_READER_ERROR:
		yamlx_offset_pos(y, p->problem_offset, &line, &col);
		if (p->problem_value != -1)
			yamlx_err_at(y, line, col,
			    "YAML syntax error: %s (byte 0x%02x)", problem,
			    (unsigned)p->problem_value & 0xff);
		else
			yamlx_err_at(y, line, col, "YAML syntax error: %s",
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
	line = yamlx_mark_num(p->problem_mark.line);
	col = yamlx_mark_num(p->problem_mark.column);
	/* libyaml says "found character that cannot start any token" of a
	 * tab that indents: say what is wrong instead. */
	if (p->error == YAML_SCANNER_ERROR && p->problem_mark.index < y->len &&
	    y->text[p->problem_mark.index] == '\t') {
		yamlx_err_at(y, line, col,
		    "YAML syntax error: tabs are not allowed in YAML indentation");
		return;
	}
	if (p->context != NULL)
		yamlx_err_at(y, line, col,
		    "YAML syntax error: %s (%s started at line %u)", problem,
		    p->context, yamlx_mark_num(p->context_mark.line));
	else
		yamlx_err_at(y, line, col, "YAML syntax error: %s", problem);
}

static void
yamlx_tag_check(struct yamlx *y, const yaml_char_t *tag, yaml_mark_t m)
{
	static const char core[] = "tag:yaml.org,2002:";
	const char *t = (const char *)tag;
	const char *bang = "";
	char q[YAMLX_Q_SIZE];

	if (t == NULL)
		return;
	if (strncmp(t, core, sizeof(core) - 1) == 0) {
		t += sizeof(core) - 1; /* as written: "!!str" */
		bang = "!!";
	}
	yamlx_err_at(y, yamlx_mark_num(m.line), yamlx_mark_num(m.column),
	    "YAML tags are not supported ('%s%s')", bang,
	    yamlx_q(q, sizeof(q), t, strlen(t)));
}

/* Builds the tree; NULL with errors reported, or NULL for no document. */
struct yamlx_node *
yamlx_load(struct yamlx *y)
{
	struct yamlx_node *stack[YAMLX_MAX_DEPTH];
	struct yamlx_node *root = NULL;
	struct yamlx_node *n;
	yaml_parser_t parser;
	yaml_event_t ev;
	size_t depth = 0;
	unsigned docs = 0;
	bool done = false;
	bool ok = true;
	bool push;
	char q[YAMLX_Q_SIZE];

	if (yaml_parser_initialize(&parser) == 0) {
		y->oom = true;
		return NULL;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)y->text,
	    y->len);
	yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
	while (ok && !done) {
		if (yaml_parser_parse(&parser, &ev) == 0) {
			yamlx_syntax_error(y, &parser);
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
				yamlx_err_at(y,
				    yamlx_mark_num(ev.start_mark.line),
				    yamlx_mark_num(ev.start_mark.column),
				    "more than one YAML document");
				ok = false;
			}
			break;
		case YAML_ALIAS_EVENT:
			yamlx_err_at(y, yamlx_mark_num(ev.start_mark.line),
			    yamlx_mark_num(ev.start_mark.column),
			    "YAML aliases are not supported ('*%s')",
			    yamlx_q(q, sizeof(q),
				(const char *)ev.data.alias.anchor,
				strlen((const char *)ev.data.alias.anchor)));
			n = yamlx_node_new(y, YAMLX_NODE_BAD, ev.start_mark);
			ok = n != NULL;
			break;
		case YAML_SCALAR_EVENT:
			yamlx_tag_check(y, ev.data.scalar.tag, ev.start_mark);
			n = yamlx_node_new(y, YAMLX_NODE_SCALAR, ev.start_mark);
			if (n == NULL) {
				ok = false;
				break;
			}
			n->plain =
			    ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
			n->len = ev.data.scalar.length;
			n->s = malloc(n->len + 1);
			if (n->s == NULL) {
				y->oom = true;
				ok = false;
				break;
			}
			memcpy(n->s, ev.data.scalar.value, n->len);
			n->s[n->len] = '\0';
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			yamlx_tag_check(y,
			    ev.type == YAML_SEQUENCE_START_EVENT
				? ev.data.sequence_start.tag
				: ev.data.mapping_start.tag,
			    ev.start_mark);
			if (depth == YAMLX_MAX_DEPTH) {
				yamlx_err_at(y,
				    yamlx_mark_num(ev.start_mark.line),
				    yamlx_mark_num(ev.start_mark.column),
				    "YAML nesting deeper than %d levels",
				    YAMLX_MAX_DEPTH);
				ok = false;
				break;
			}
			n = yamlx_node_new(y,
			    ev.type == YAML_SEQUENCE_START_EVENT
				? YAMLX_NODE_SEQ
				: YAMLX_NODE_MAP,
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
			yamlx_node_free(n);
			break;
		}
		if (depth == 0) {
			if (root != NULL) {
				yamlx_node_free(n); /* cannot happen */
				continue;
			}
			root = n;
		} else if (!yamlx_node_add(y, stack[depth - 1], n)) {
			yamlx_node_free(n);
			ok = false;
			break;
		}
		if (push)
			stack[depth++] = n;
	}
	yaml_parser_delete(&parser);
	if (!ok) {
		yamlx_node_free(root);
		return NULL;
	}
	return root;
}

/* ---- scalars ---------------------------------------------------------- */

/* A decimal number: [-+]digits[.digits][e[-+]digits], or .digits. */
static bool
yamlx_is_decimal(const char *s, size_t len, bool *ret_int)
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
bool
yamlx_parse_number(const char *s, size_t len, double *ret)
{
	bool integer;
	double d;

	if (!yamlx_is_decimal(s, len, &integer) || strlen(s) != len)
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
enum yamlx_scalar
yamlx_scalar_type(const struct yamlx_node *n, bool *ret_b, int64_t *ret_i,
    double *ret_d)
{
	static const char *const nulls[] = {"~", "null", "Null", "NULL", NULL};
	static const char *const trues[] = {"true", "True", "TRUE", NULL};
	static const char *const falses[] = {"false", "False", "FALSE", NULL};
	bool integer;
	char *end;
	long long ll;

	if (!n->plain || strlen(n->s) != n->len)
		return YAMLX_SCALAR_STRING;
	if (n->len == 0 || yamlx_in_list(n->s, nulls))
		return YAMLX_SCALAR_NULL;
	if (yamlx_in_list(n->s, trues) || yamlx_in_list(n->s, falses)) {
		*ret_b = yamlx_in_list(n->s, trues);
		return YAMLX_SCALAR_BOOL;
	}
	if (!yamlx_is_decimal(n->s, n->len, &integer))
		return YAMLX_SCALAR_STRING;
	if (integer) {
		errno = 0;
		ll = strtoll(n->s, &end, 10);
		if (errno == 0 && *end == '\0') {
			*ret_i = ll;
			*ret_d = (double)ll;
			return YAMLX_SCALAR_INT;
		}
	}
	*ret_d = strtod(n->s, NULL);
	if (!isfinite(*ret_d))
		return YAMLX_SCALAR_STRING;
	return YAMLX_SCALAR_FLOAT;
}

bool
yamlx_is_null(const struct yamlx_node *n)
{
	bool b;
	int64_t i;
	double d;

	return n->type == YAMLX_NODE_SCALAR &&
	    yamlx_scalar_type(n, &b, &i, &d) == YAMLX_SCALAR_NULL;
}

/*
 * A string setting or operand: any scalar but null, taken as written
 * ("prefix: 1234" is the string "1234"). NULL with an error otherwise.
 */
const char *
yamlx_str(struct yamlx *y, const struct yamlx_node *n, const char *what)
{
	if (n->type == YAMLX_NODE_BAD)
		return NULL;
	if (n->type != YAMLX_NODE_SCALAR || yamlx_is_null(n)) {
		yamlx_err(y, n, "expected a string for '%s'", what);
		return NULL;
	}
	return n->s;
}

bool
yamlx_bool(struct yamlx *y, const struct yamlx_node *n, const char *what,
    bool *ret)
{
	int64_t i;
	double d;

	if (n->type == YAMLX_NODE_BAD)
		return false;
	if (n->type != YAMLX_NODE_SCALAR ||
	    yamlx_scalar_type(n, ret, &i, &d) != YAMLX_SCALAR_BOOL) {
		yamlx_err(y, n, "expected true or false for '%s'", what);
		return false;
	}
	return true;
}

char *
yamlx_strdup(struct yamlx *y, const char *s, size_t len)
{
	char *p = malloc(len + 1);

	if (p == NULL) {
		y->oom = true;
		return NULL;
	}
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* Records key -> line in a json-c object used as a dictionary. */
bool
yamlx_dict_add(struct yamlx *y, struct json_object *dict, const char *key,
    unsigned line)
{
	struct json_object *v = json_object_new_int((int)line);

	if (v == NULL || json_object_object_add(dict, key, v) != 0) {
		json_object_put(v);
		y->oom = true;
		return false;
	}
	return true;
}

/* Reports duplicate keys in a mapping. */
void
yamlx_map_dups(struct yamlx *y, const struct yamlx_node *map)
{
	struct json_object *seen;
	struct json_object *v;
	char q[YAMLX_Q_SIZE];
	size_t i;

	if (map->n <= 2)
		return;
	seen = json_object_new_object();
	if (seen == NULL) {
		y->oom = true;
		return;
	}
	for (i = 0; i < map->n; i += 2) {
		const struct yamlx_node *k = map->kid[i];

		if (k->type != YAMLX_NODE_SCALAR)
			continue;
		if (json_object_object_get_ex(seen, k->s, &v)) {
			yamlx_err(y, k, "duplicate key '%s' (first at line %d)",
			    YAMLX_QN(q, k), json_object_get_int(v));
			continue;
		}
		if (!yamlx_dict_add(y, seen, k->s, k->line))
			break;
	}
	json_object_put(seen);
}

/* Parses a duration: seconds, or digits and one of s, m, h, d. */
bool
yamlx_duration(struct yamlx *y, const struct yamlx_node *n, const char *what,
    uint64_t *ret_us)
{
	char q[YAMLX_Q_SIZE];
	uint64_t v = 0;
	uint64_t mult = 1;
	size_t i;

	if (n->type == YAMLX_NODE_BAD)
		return false;
	if (n->type != YAMLX_NODE_SCALAR || yamlx_is_null(n)) {
		yamlx_err(y, n,
		    "expected a duration for '%s' (seconds, or a number followed by s, m, h or d)",
		    what);
		return false;
	}
	for (i = 0; i < n->len && n->s[i] >= '0' && n->s[i] <= '9'; i++) {
		if (v > YAMLX_MAX_DURATION_S)
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
	if (v > YAMLX_MAX_DURATION_S / mult)
		goto big;
	*ret_us = v * mult * 1000000;
	return true;
bad:
	yamlx_err(y, n,
	    "bad duration '%s' for '%s' (expected seconds, or a number followed by s, m, h or d)",
	    YAMLX_QN(q, n), what);
	return false;
big:
	yamlx_err(y, n, "duration '%s' for '%s' is longer than 365d",
	    YAMLX_QN(q, n), what);
	return false;
}

size_t
yamlx_items(const struct yamlx_node *const *n,
    const struct yamlx_node *const **ret)
{
	if ((*n)->type != YAMLX_NODE_SEQ) {
		*ret = n;
		return 1;
	}
	*ret = (const struct yamlx_node *const *)(*n)->kid;
	return (*n)->n;
}

/* A list of strings, or one string. */
bool
yamlx_str_list(struct yamlx *y, const struct yamlx_node *n, const char *what,
    char ***ret, size_t *ret_n)
{
	const struct yamlx_node *const *items;
	size_t count;
	char **v;
	size_t i;
	bool ok = true;

	if (n->type == YAMLX_NODE_BAD)
		return false;
	count = yamlx_items(&n, &items);
	v = calloc(count != 0 ? count : 1, sizeof(*v));
	if (v == NULL) {
		y->oom = true;
		return false;
	}
	for (i = 0; i < count; i++) {
		const char *s = yamlx_str(y, items[i], what);

		if (s == NULL) {
			ok = false;
			continue;
		}
		if (items[i]->len == 0 || strlen(s) != items[i]->len) {
			yamlx_err(y, items[i], "empty name in '%s'", what);
			ok = false;
			continue;
		}
		v[i] = yamlx_strdup(y, s, items[i]->len);
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

/* ---- files and mappings ----------------------------------------------- */

int
yamlx_read_file(const char *path, size_t max, char **ret, size_t *ret_len,
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
		(uint64_t)st.st_size <= max
	    ? (size_t)st.st_size + 1
	    : max + 1;
	text = malloc(cap);
	if (text == NULL) {
		(void)close(fd);
		return diag_list_add(diags, -ENOMEM, path, 0, 0,
		    "out of memory");
	}
	for (;;) {
		if (len == cap) {
			char *p;

			if (cap > max)
				break;
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
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
	*ret = text;
	*ret_len = len;
	return 0;
}

int
yamlx_init(struct yamlx *y, const char *name, const char *text, size_t len,
    size_t max, struct diag_list *diags)
{
	if (len > max)
		return diag_list_add(diags, -EINVAL, name, 0, 0,
		    "file larger than %zu bytes", max);
	memset(y, 0, sizeof(*y));
	y->name = name;
	y->text = text != NULL ? text : "";
	y->len = len;
	y->diags = diags;
	return 0;
}

size_t
yamlx_key(struct yamlx *y, const struct yamlx_node *k, const char *const *names,
    size_t n, const char *what)
{
	char hint[96];
	char q[YAMLX_Q_SIZE];
	size_t i;

	if (k->type == YAMLX_NODE_BAD)
		return n;
	if (k->type != YAMLX_NODE_SCALAR) {
		yamlx_err(y, k, "expected a %s key", what);
		return n;
	}
	for (i = 0; i < n; i++)
		if (names[i] != NULL && strcmp(k->s, names[i]) == 0)
			return i;
	yamlx_err(y, k, "unknown %s key '%s'%s", what, YAMLX_QN(q, k),
	    yamlx_hint(hint, sizeof(hint),
		yamlx_suggest(y, k->s, names, n, false)));
	return n;
}

void
yamlx_keys(struct yamlx *y, const struct yamlx_node *map, const char *what,
    const char *const *names, size_t n, const struct yamlx_node **vals)
{
	size_t i;
	size_t k;

	memset(vals, 0, n * sizeof(*vals));
	yamlx_map_dups(y, map);
	for (i = 0; i + 1 < map->n; i += 2) {
		k = yamlx_key(y, map->kid[i], names, n, what);
		if (k < n && vals[k] == NULL)
			vals[k] = map->kid[i + 1];
	}
}

/* Letters, digits, '.', '_' and '-': names end up in logs, keys and
 * URLs. */
static bool
yamlx_name_ok(const char *s, size_t len, size_t max)
{
	size_t i;

	if (len == 0 || len > max)
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

bool
yamlx_name(struct yamlx *y, const struct yamlx_node *n, const char *what,
    size_t max)
{
	char q[YAMLX_Q_SIZE];

	if (yamlx_name_ok(n->s, n->len, max))
		return true;
	yamlx_err(y, n,
	    "bad %s '%s' (use letters, digits, '.', '_' and '-', at most %zu)",
	    what, YAMLX_QN(q, n), max);
	return false;
}

static void
yamlx_top(struct yamlx *y, const struct yamlx_node *root, const char *kind,
    const char *expect, yamlx_top_cb *top, void *arg)
{
	if (root == NULL) {
		yamlx_err_at(y, 0, 0, "empty %s file (expected %s)", kind,
		    expect);
		return;
	}
	if (root->type == YAMLX_NODE_BAD)
		return;
	if (root->type != YAMLX_NODE_MAP) {
		yamlx_err(y, root, "expected %s at the top level", expect);
		return;
	}
	top(root, arg);
}

void
yamlx_load_map(struct yamlx *y, const char *kind, const char *expect,
    yamlx_top_cb *top, void *arg)
{
	struct yamlx_node *root;

	if (y->oom)
		return;
	root = yamlx_load(y);
	if (!y->oom && (root != NULL || y->errors == 0))
		yamlx_top(y, root, kind, expect, top, arg);
	yamlx_node_free(root);
}

int
yamlx_verdict(struct yamlx *y)
{
	if (y->oom)
		return diag_list_add(y->diags, -ENOMEM, y->name, 0, 0,
		    "out of memory");
	return y->errors > 0 ? -EINVAL : 0;
}

bool
yamlx_map(struct yamlx *y, const struct yamlx_node *n, const char *what)
{
	if (n->type == YAMLX_NODE_BAD)
		return false;
	if (n->type != YAMLX_NODE_MAP) {
		yamlx_err(y, n, "expected a mapping for '%s'", what);
		return false;
	}
	return true;
}

bool
yamlx_seq(struct yamlx *y, const struct yamlx_node *n, const char *what)
{
	if (n->type == YAMLX_NODE_BAD)
		return false;
	if (n->type != YAMLX_NODE_SEQ) {
		yamlx_err(y, n, "expected a list for '%s'", what);
		return false;
	}
	return true;
}
