/*
 * sigma.c: Sigma rules to smtrail rules (sigma.h).
 *
 * A rule's detection becomes a small boolean tree (struct sigma_expr):
 * the condition parsed by recursive descent (not > and > or, parentheses,
 * "1 of X*", "all of X*", "them"), each selection a conjunction of field
 * tests and each list of values a disjunction (conjunction under |all).
 * Because smtrail only ever sees Secrets Manager events, a test on
 * eventSource is a constant, and one on eventName can only hold for the
 * names Secrets Manager logs: such tests are folded, so a rule about EC2
 * is refused ("no Secrets Manager event can match") rather than written
 * as a rule that never fires, and the eventName values left are spelled
 * as smtrail's list has them (check --strict refuses any other).
 * The tree is then written as a match mapping: any/all/not, a list for
 * alternatives on one field, icase on every text comparison but |re and
 * |cased ones, as Sigma specifies.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bounds.h"
#include "buf.h"
#include "diag.h"
#include "rules.h"
#include "sigma.h"
#include "yamlx.h"

#define SIGMA_SOURCE "secretsmanager.amazonaws.com"
#define SIGMA_MAX_COND_DEPTH 64 /* condition parentheses and nots */
#define SIGMA_MAX_NODES 20000   /* a rule's tree, copies included */
#define SIGMA_MAX_ID 128

enum sigma_op {
	SIGMA_AND,
	SIGMA_OR,
	SIGMA_NOT,
	SIGMA_LEAF,
	SIGMA_TRUE,
	SIGMA_FALSE
};

/* What a leaf compares, as smtrail's operators. */
enum sigma_test {
	SIGMA_T_EQ,
	SIGMA_T_PREFIX,
	SIGMA_T_SUFFIX,
	SIGMA_T_CONTAINS,
	SIGMA_T_GLOB,
	SIGMA_T_REGEX,
	SIGMA_T_CIDR,
	SIGMA_T_EXISTS,
	SIGMA_T_GT,
	SIGMA_T_GE,
	SIGMA_T_LT,
	SIGMA_T_LE
};

/* A value as YAML typed it. */
enum sigma_vtype { SIGMA_V_STR, SIGMA_V_NUM, SIGMA_V_BOOL, SIGMA_V_NULL };

struct sigma_expr {
	enum sigma_op op;
	struct sigma_expr **kid;
	size_t n;
	/* SIGMA_LEAF */
	char *path;
	enum sigma_test test;
	enum sigma_vtype vtype;
	bool icase;
	char *v; /* text; for EXISTS and BOOL "true"/"false" */
};

/* One translated rule, kept until sigma_emit(). */
struct sigma_rule {
	char *file;
	unsigned line;
	char *id;
	char *name; /* Sigma "name", for correlations; NULL: none */
	char *title;
	char *desc;
	const char *severity;
	struct sigma_expr *match; /* NULL: a correlation */
	/* correlation */
	char **refs; /* the rules it counts, by id or name */
	size_t n_refs;
	char **group_by;
	size_t n_group_by;
	bool has_group_by;
	char *within;
	char *field; /* value_count */
	unsigned count;
	bool distinct;
	bool generate;
	bool counted; /* a correlation or an aggregation: threshold/distinct */
	bool used;    /* a base rule a correlation consumed */
	bool emitted; /* written by sigma_emit() */
};

struct sigma {
	sigma_diag_cb *cb;
	void *cb_arg;
	struct sigma_rule **rules;
	size_t n_rules;
	size_t cap_rules;
	struct sigma_stats st;
};

/* One rule being translated. */
struct sigma_ctx {
	const char *file;
	bool refused;
	unsigned line;
	unsigned col;
	char why[200];
	size_t nodes;
	/* the first test folded to false, for the refusal */
	bool have_false;
	unsigned false_line;
	unsigned false_col;
	char false_why[200];
	bool oom; /* out of memory: the whole import fails */
};

static void sigma_refuse(struct sigma_ctx *c, const struct yamlx_node *n,
    const char *fmt, ...) PRINTF_LIKE(3, 4);

static void
sigma_refuse(struct sigma_ctx *c, const struct yamlx_node *n, const char *fmt,
    ...)
{
	va_list ap;

	if (c->refused)
		return;
	c->refused = true;
	c->line = n != NULL ? n->line : 0;
	c->col = n != NULL ? n->col : 0;
	va_start(ap, fmt);
	(void)vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
}

/* ---- the tree ---------------------------------------------------------- */

static void
sigma_expr_free(struct sigma_expr *e)
{
	size_t i;

	if (e == NULL)
		return;
	for (i = 0; i < e->n; i++)
		sigma_expr_free(e->kid[i]);
	free(e->kid);
	free(e->path);
	free(e->v);
	free(e);
}

static struct sigma_expr *
sigma_expr_new(struct sigma_ctx *c, enum sigma_op op)
{
	struct sigma_expr *e;

	if (++c->nodes > SIGMA_MAX_NODES) {
		sigma_refuse(c, NULL,
		    "detection too large (more than %u tests "
		    "and operators)",
		    SIGMA_MAX_NODES);
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		c->oom = true;
	else
		e->op = op;
	return e;
}

/* Adds k to e (takes k); false on out of memory (k freed). */
static bool
sigma_expr_add(struct sigma_ctx *c, struct sigma_expr *e, struct sigma_expr *k)
{
	struct sigma_expr **nk;

	nk = realloc(e->kid, (e->n + 1) * sizeof(*nk));
	if (nk == NULL) {
		c->oom = true;
		sigma_expr_free(k);
		return false;
	}
	e->kid = nk;
	e->kid[e->n++] = k;
	return true;
}

static struct sigma_expr *
sigma_expr_copy(struct sigma_ctx *c, const struct sigma_expr *e)
{
	struct sigma_expr *d;
	size_t i;

	d = sigma_expr_new(c, e->op);
	if (d == NULL)
		return NULL;
	d->test = e->test;
	d->vtype = e->vtype;
	d->icase = e->icase;
	if ((e->path != NULL && (d->path = strdup(e->path)) == NULL) ||
	    (e->v != NULL && (d->v = strdup(e->v)) == NULL)) {
		c->oom = true;
		sigma_expr_free(d);
		return NULL;
	}
	for (i = 0; i < e->n; i++) {
		struct sigma_expr *k = sigma_expr_copy(c, e->kid[i]);

		if (k == NULL || !sigma_expr_add(c, d, k)) {
			sigma_expr_free(d);
			return NULL;
		}
	}
	return d;
}

/*
 * Folds constants: AND/OR with TRUE/FALSE kids, NOT of a constant, one
 * kid, nested ANDs in an AND (ORs in an OR). Returns e or its
 * replacement.
 */
static struct sigma_expr *
sigma_fold(struct sigma_expr *e)
{
	struct sigma_expr *k;
	size_t i;
	size_t j;
	bool is_and;

	if (e->op == SIGMA_NOT) {
		e->kid[0] = sigma_fold(e->kid[0]);
		k = e->kid[0];
		if (k->op == SIGMA_TRUE || k->op == SIGMA_FALSE) {
			k->op = k->op == SIGMA_TRUE ? SIGMA_FALSE : SIGMA_TRUE;
			e->n = 0;
			sigma_expr_free(e);
			return k;
		}
		if (k->op == SIGMA_NOT) {
			struct sigma_expr *kk = k->kid[0];

			k->n = 0;
			sigma_expr_free(k);
			e->n = 0;
			sigma_expr_free(e);
			return kk;
		}
		return e;
	}
	if (e->op != SIGMA_AND && e->op != SIGMA_OR)
		return e;
	is_and = e->op == SIGMA_AND;
	for (i = 0; i < e->n; i++)
		e->kid[i] = sigma_fold(e->kid[i]);
	/* Flatten, drop neutral constants, stop at an absorbing one. */
	for (i = 0, j = 0; i < e->n; i++) {
		k = e->kid[i];
		if (k->op == (is_and ? SIGMA_TRUE : SIGMA_FALSE)) {
			sigma_expr_free(k);
			continue;
		}
		if (k->op == (is_and ? SIGMA_FALSE : SIGMA_TRUE)) {
			size_t m;

			for (m = 0; m < j; m++)
				sigma_expr_free(e->kid[m]);
			for (m = i + 1; m < e->n; m++)
				sigma_expr_free(e->kid[m]);
			e->n = 0;
			sigma_expr_free(e);
			return k;
		}
		if (k->op == e->op && k->n > 0) {
			struct sigma_expr **nk;
			size_t m;

			nk = realloc(e->kid, (e->n + k->n) * sizeof(*nk));
			if (nk == NULL) { /* left unflattened: still right */
				e->kid[j++] = k;
				continue;
			}
			e->kid = nk;
			/* Make room: kids after i move right by k->n - 1. */
			memmove(&e->kid[i + k->n], &e->kid[i + 1],
			    (e->n - i - 1) * sizeof(*nk));
			for (m = 0; m < k->n; m++)
				e->kid[i + m] = k->kid[m];
			e->n += k->n - 1;
			k->n = 0;
			sigma_expr_free(k);
			i--; /* look at the first moved-in kid again */
			continue;
		}
		e->kid[j++] = k;
	}
	e->n = j;
	if (e->n == 0) {
		e->op = is_and ? SIGMA_TRUE : SIGMA_FALSE;
		return e;
	}
	if (e->n == 1) {
		k = e->kid[0];
		e->n = 0;
		sigma_expr_free(e);
		return k;
	}
	return e;
}

/* ---- values and modifiers --------------------------------------------- */

static const char *const sigma_known_mods[] = {"contains", "startswith",
    "endswith", "all", "re", "i", "cidr", "exists", "cased", "gt", "gte", "lt",
    "lte", NULL};

/* Whether a Sigma string has an unescaped '*' or '?'. */
static bool
sigma_has_wildcard(const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' && (s[1] == '*' || s[1] == '?' || s[1] == '\\'))
			s++;
		else if (*s == '*' || *s == '?')
			return true;
	}
	return false;
}

/* The literal text of a Sigma string without wildcards (escapes undone). */
static void
sigma_unescape(char *s)
{
	char *d = s;

	for (; *s != '\0'; s++) {
		if (*s == '\\' && (s[1] == '*' || s[1] == '?' || s[1] == '\\'))
			s++;
		*d++ = *s;
	}
	*d = '\0';
}

/* A Sigma wildcard string as an fnmatch(3) pattern, with '*' before and
 * after as asked. NULL on out of memory. */
static char *
sigma_glob(struct sigma_ctx *c, const char *s, bool star_before,
    bool star_after)
{
	struct buf b;
	int r = 0;

	buf_init(&b, 1u << 20);
	if (star_before)
		r = buf_putc(&b, '*');
	for (; *s != '\0' && r == 0; s++) {
		if (*s == '\\' && (s[1] == '*' || s[1] == '?')) {
			r = buf_printf(&b, "[%c]", s[1]);
			s++;
		} else if (*s == '\\' && s[1] == '\\') {
			r = buf_puts(&b, "\\\\");
			s++;
		} else if (*s == '\\') {
			r = buf_puts(&b, "\\\\");
		} else if (*s == '[') {
			r = buf_puts(&b, "[[]");
		} else {
			r = buf_putc(&b, *s);
		}
	}
	if (r == 0 && star_after)
		r = buf_putc(&b, '*');
	if (r == 0)
		r = buf_putc(&b, '\0');
	if (r < 0) {
		buf_done(&b);
		c->oom = true;
		return NULL;
	}
	return buf_steal(&b);
}

/*
 * A PCRE-style Sigma regex as POSIX ERE: \d \w \s spelled as bracket
 * expressions, a leading (?i) as icase. NULL with *why set for what ERE
 * cannot say (lookarounds, lazy quantifiers, \b, back-references, other
 * inline flags), or on out of memory (*why empty).
 */
static char *
sigma_regex(const char *s, bool *icase, const char **why)
{
	struct buf b;
	bool in_br = false;
	int r = 0;

	*why = "";
	if (strncmp(s, "(?i)", 4) == 0) {
		*icase = true;
		s += 4;
	}
	buf_init(&b, 1u << 20);
	for (; *s != '\0' && r == 0; s++) {
		char c = *s;

		if (c == '\\') {
			char e = s[1];
			const char *cls = NULL;

			switch (e) {
			case 'd':
				cls = in_br ? "0-9" : "[0-9]";
				break;
			case 'w':
				cls = in_br ? "[:alnum:]_" : "[[:alnum:]_]";
				break;
			case 's':
				cls = in_br ? "[:space:]" : "[[:space:]]";
				break;
			case 'D':
				cls = in_br ? NULL : "[^0-9]";
				break;
			case 'W':
				cls = in_br ? NULL : "[^[:alnum:]_]";
				break;
			case 'S':
				cls = in_br ? NULL : "[^[:space:]]";
				break;
			default:
				break;
			}
			if (cls == NULL && (e == 'D' || e == 'W' || e == 'S')) {
				*why = "a negated class escape inside [...] "
				       "has no POSIX spelling";
				goto fail;
			}
			if (cls != NULL) {
				r = buf_puts(&b, cls);
				s++;
				continue;
			}
			if (e == '\0' || isalnum((unsigned char)e)) {
				*why = "escape has no POSIX ERE equivalent "
				       "(\\b, \\A, \\z, \\x.., \\1 ...)";
				goto fail;
			}
			if (in_br) {
				/* In a bracket a backslash is literal. */
				if (e == '\\' || e == ']' || e == '[') {
					*why = "escaped bracket or backslash "
					       "inside [...]";
					goto fail;
				}
				r = buf_putc(&b, e);
			} else {
				r = buf_putc(&b, '\\');
				if (r == 0)
					r = buf_putc(&b, e);
			}
			s++;
			continue;
		}
		if (in_br) {
			if (c == ']')
				in_br = false;
			r = buf_putc(&b, c);
			continue;
		}
		if (c == '[') {
			in_br = true;
			r = buf_putc(&b, c);
			if (r == 0 && s[1] == '^') {
				r = buf_putc(&b, '^');
				s++;
			}
			if (r == 0 && s[1] == ']') {
				r = buf_putc(&b, ']');
				s++;
			}
			continue;
		}
		if (c == '(' && s[1] == '?') {
			if (s[2] == ':') {
				r = buf_putc(&b, '(');
				s += 2;
				continue;
			}
			*why = "(?...) groups (lookarounds, inline flags) have "
			       "no POSIX ERE equivalent";
			goto fail;
		}
		if ((c == '*' || c == '+' || c == '?' || c == '}') &&
		    (s[1] == '?' || s[1] == '+')) {
			*why = "lazy or possessive quantifiers have no POSIX "
			       "ERE equivalent";
			goto fail;
		}
		r = buf_putc(&b, c);
	}
	if (r == 0 && in_br) {
		*why = "unterminated [...]";
		goto fail;
	}
	if (r == 0)
		r = buf_putc(&b, '\0');
	if (r < 0) /* *why empty: out of memory */
		goto fail;
	return buf_steal(&b);
fail:
	buf_done(&b);
	return NULL;
}

/* The known Secrets Manager event name equal to s ignoring case, or NULL. */
static const char *
sigma_event_name(const char *s, bool icase)
{
	size_t i;

	for (i = 0; rules_known_events[i] != NULL; i++)
		if (icase ? strcasecmp(rules_known_events[i], s) == 0
			  : strcmp(rules_known_events[i], s) == 0)
			return rules_known_events[i];
	return NULL;
}

/* Whether a string test holds for text (eventSource's or an event name). */
static bool
sigma_test_text(const struct sigma_expr *e, const char *text)
{
	size_t tl = strlen(text);
	size_t vl = strlen(e->v);
	int (*cmp)(const char *, const char *, size_t) =
	    e->icase ? strncasecmp : strncmp;
	regex_t re;
	bool hit;

	switch (e->test) {
	case SIGMA_T_EQ:
		return tl == vl && cmp(text, e->v, tl) == 0;
	case SIGMA_T_PREFIX:
		return tl >= vl && cmp(text, e->v, vl) == 0;
	case SIGMA_T_SUFFIX:
		return tl >= vl && cmp(text + tl - vl, e->v, vl) == 0;
	case SIGMA_T_CONTAINS:
		for (size_t i = 0; i + vl <= tl; i++)
			if (cmp(text + i, e->v, vl) == 0)
				return true;
		return false;
	case SIGMA_T_GLOB:
		return fnmatch(e->v, text, e->icase ? FNM_CASEFOLD : 0) == 0;
	case SIGMA_T_REGEX:
		if (regcomp(&re, e->v,
			REG_EXTENDED | REG_NOSUB |
			    (e->icase ? REG_ICASE : 0)) != 0)
			return true; /* rules.c will say what is wrong */
		hit = regexec(&re, text, 0, NULL, 0) == 0;
		regfree(&re);
		return hit;
	case SIGMA_T_CIDR:
	case SIGMA_T_EXISTS:
	case SIGMA_T_GT:
	case SIGMA_T_GE:
	case SIGMA_T_LT:
	case SIGMA_T_LE:
		return false;
	}
	return false;
}

/*
 * Folds a leaf on eventSource (always secretsmanager.amazonaws.com) or
 * eventName (one of rules_known_events) to a constant where it is one,
 * and spells an event name as the list does.
 */
static void
sigma_leaf_fold(struct sigma_ctx *c, struct sigma_expr *e,
    const struct yamlx_node *at)
{
	bool source = strcmp(e->path, "eventSource") == 0;
	bool name = strcmp(e->path, "eventName") == 0;
	bool holds = false;
	char q[YAMLX_Q_SIZE];
	size_t i;

	if (!source && !name)
		return;
	if (e->test == SIGMA_T_EXISTS) {
		e->op = strcmp(e->v, "true") == 0 ? SIGMA_TRUE : SIGMA_FALSE;
		goto out;
	}
	if (e->vtype != SIGMA_V_STR) {
		e->op = SIGMA_FALSE;
		goto out;
	}
	if (source) {
		e->op =
		    sigma_test_text(e, SIGMA_SOURCE) ? SIGMA_TRUE : SIGMA_FALSE;
		goto out;
	}
	if (e->test == SIGMA_T_EQ) {
		const char *known = sigma_event_name(e->v, e->icase);

		if (known == NULL) {
			e->op = SIGMA_FALSE;
			goto out;
		}
		if (strcmp(known, e->v) != 0) {
			char *v = strdup(known);

			if (v == NULL) {
				c->oom = true;
				return;
			}
			free(e->v);
			e->v = v;
		}
		e->icase = false; /* CloudTrail spells them one way */
		return;
	}
	for (i = 0; rules_known_events[i] != NULL && !holds; i++)
		holds = sigma_test_text(e, rules_known_events[i]);
	if (!holds)
		e->op = SIGMA_FALSE;
	return;
out:
	if (e->op == SIGMA_FALSE && !c->have_false) {
		c->have_false = true;
		c->false_line = at->line;
		c->false_col = at->col;
		(void)snprintf(c->false_why, sizeof(c->false_why),
		    "%s %s: no Secrets Manager event can match (smtrail reads "
		    "only events of %s)",
		    e->path, yamlx_q(q, sizeof(q), e->v, strlen(e->v)),
		    SIGMA_SOURCE);
	}
}

/* Remembers why an eventName test folded to false. */
static void
sigma_note_false(struct sigma_ctx *c, const struct sigma_expr *e,
    const struct yamlx_node *at)
{
	char q[YAMLX_Q_SIZE];

	if (e->op != SIGMA_FALSE || c->have_false)
		return;
	c->have_false = true;
	c->false_line = at->line;
	c->false_col = at->col;
	(void)snprintf(c->false_why, sizeof(c->false_why),
	    "%s %s: not an event Secrets Manager logs (smtrail reads only "
	    "events of %s)",
	    e->path, yamlx_q(q, sizeof(q), e->v, strlen(e->v)), SIGMA_SOURCE);
}

/* The modifiers of one field, parsed. */
struct sigma_mods {
	enum sigma_test test;
	bool wild_before;
	bool wild_after;
	bool all;
	bool cased;
	bool re_i;
};

/* One value of a field as a leaf; NULL after a refusal or out of memory. */
static struct sigma_expr *
sigma_value(struct sigma_ctx *c, const char *path, const struct sigma_mods *m,
    const struct yamlx_node *v)
{
	struct sigma_expr *e;
	enum yamlx_scalar st = YAMLX_SCALAR_STRING;
	bool b = false;
	int64_t iv;
	double dv;
	const char *why;
	char *text;

	if (v->type != YAMLX_NODE_SCALAR) {
		sigma_refuse(c, v, "%s: expected a value or a list of values",
		    path);
		return NULL;
	}
	if (v->plain)
		st = yamlx_scalar_type(v, &b, &iv, &dv);
	if (strlen(v->s) != v->len) {
		sigma_refuse(c, v, "%s: a value holding a NUL byte", path);
		return NULL;
	}
	e = sigma_expr_new(c, SIGMA_LEAF);
	if (e == NULL)
		return NULL;
	e->path = strdup(path);
	e->test = m->test;
	e->icase = !m->cased;
	e->vtype = SIGMA_V_STR;
	if (e->path == NULL)
		goto oom;
	switch (m->test) {
	case SIGMA_T_EXISTS:
		if (st != YAMLX_SCALAR_BOOL) {
			sigma_refuse(c, v, "%s|exists: expected true or false",
			    path);
			goto fail;
		}
		e->icase = false;
		e->v = strdup(b ? "true" : "false");
		break;
	case SIGMA_T_GT:
	case SIGMA_T_GE:
	case SIGMA_T_LT:
	case SIGMA_T_LE:
		if (!yamlx_parse_number(v->s, v->len, &dv)) {
			sigma_refuse(c, v, "%s: expected a number", path);
			goto fail;
		}
		e->icase = false;
		e->vtype = SIGMA_V_NUM;
		e->v = strdup(v->s);
		break;
	case SIGMA_T_CIDR:
		e->icase = false;
		e->v = strdup(v->s);
		break;
	case SIGMA_T_REGEX:
		e->icase = m->re_i;
		e->v = sigma_regex(v->s, &e->icase, &why);
		if (e->v == NULL && why[0] != '\0') {
			sigma_refuse(c, v, "%s|re: %s", path, why);
			goto fail;
		}
		break;
	default:
		if (st == YAMLX_SCALAR_NULL && m->test == SIGMA_T_EQ) {
			/* field: null: absent or null */
			e->test = SIGMA_T_EXISTS;
			e->icase = false;
			e->v = strdup("false");
			break;
		}
		if ((st == YAMLX_SCALAR_INT || st == YAMLX_SCALAR_FLOAT ||
			st == YAMLX_SCALAR_BOOL) &&
		    m->test == SIGMA_T_EQ) {
			e->vtype = st == YAMLX_SCALAR_BOOL ? SIGMA_V_BOOL
							   : SIGMA_V_NUM;
			e->icase = false;
			e->v = strdup(st == YAMLX_SCALAR_BOOL
				? (b ? "true" : "false")
				: v->s);
			break;
		}
		if (v->len == 0 && m->test != SIGMA_T_EQ) {
			sigma_refuse(c, v, "%s: an empty value", path);
			goto fail;
		}
		if (sigma_has_wildcard(v->s)) {
			bool before = m->wild_before;
			bool after = m->wild_after;

			e->test = SIGMA_T_GLOB;
			e->v = sigma_glob(c, v->s, before, after);
			break;
		}
		text = strdup(v->s);
		if (text == NULL)
			goto oom;
		sigma_unescape(text);
		e->v = text;
		break;
	}
	if (e->v == NULL)
		goto oom;
	sigma_leaf_fold(c, e, v);
	if (strcmp(path, "eventName") == 0)
		sigma_note_false(c, e, v);
	return e;
oom:
	c->oom = true;
fail:
	sigma_expr_free(e);
	return NULL;
}

/* "field|mod|mod": the path into *ret_path and the modifiers. */
static bool
sigma_field(struct sigma_ctx *c, const struct yamlx_node *k, char **ret_path,
    struct sigma_mods *m)
{
	char *key;
	char *p;
	char *next;
	bool re = false;
	bool pos = false;

	memset(m, 0, sizeof(*m));
	m->test = SIGMA_T_EQ;
	if (k->type != YAMLX_NODE_SCALAR || strlen(k->s) != k->len) {
		sigma_refuse(c, k, "expected a field name");
		return false;
	}
	key = strdup(k->s);
	if (key == NULL) {
		c->oom = true;
		return false;
	}
	p = strchr(key, '|');
	if (p != NULL)
		*p++ = '\0';
	if (key[0] == '\0') {
		sigma_refuse(c, k,
		    "'%s': a keyword search (no field) cannot "
		    "be expressed: smtrail matches fields",
		    k->s);
		goto fail;
	}
	for (; p != NULL; p = next) {
		next = strchr(p, '|');
		if (next != NULL)
			*next++ = '\0';
		if (!yamlx_in_list(p, sigma_known_mods)) {
			sigma_refuse(c, k,
			    "%s: modifier '%s' has no smtrail "
			    "equivalent",
			    k->s, p);
			goto fail;
		}
		if (strcmp(p, "all") == 0) {
			m->all = true;
		} else if (strcmp(p, "cased") == 0) {
			m->cased = true;
		} else if (strcmp(p, "i") == 0) {
			if (!re) {
				sigma_refuse(c, k,
				    "%s: modifier 'i' only "
				    "follows 're'",
				    k->s);
				goto fail;
			}
			m->re_i = true;
		} else {
			if (pos) {
				sigma_refuse(c, k,
				    "%s: modifiers '%s' and "
				    "another comparison cannot combine",
				    k->s, p);
				goto fail;
			}
			pos = true;
			if (strcmp(p, "contains") == 0) {
				m->test = SIGMA_T_CONTAINS;
				m->wild_before = m->wild_after = true;
			} else if (strcmp(p, "startswith") == 0) {
				m->test = SIGMA_T_PREFIX;
				m->wild_after = true;
			} else if (strcmp(p, "endswith") == 0) {
				m->test = SIGMA_T_SUFFIX;
				m->wild_before = true;
			} else if (strcmp(p, "re") == 0) {
				m->test = SIGMA_T_REGEX;
				re = true;
			} else if (strcmp(p, "cidr") == 0) {
				m->test = SIGMA_T_CIDR;
			} else if (strcmp(p, "exists") == 0) {
				m->test = SIGMA_T_EXISTS;
			} else if (strcmp(p, "gt") == 0) {
				m->test = SIGMA_T_GT;
			} else if (strcmp(p, "gte") == 0) {
				m->test = SIGMA_T_GE;
			} else if (strcmp(p, "lt") == 0) {
				m->test = SIGMA_T_LT;
			} else {
				m->test = SIGMA_T_LE;
			}
		}
	}
	*ret_path = key;
	return true;
fail:
	free(key);
	return false;
}

/* One "field|mods: value(s)" entry. */
static struct sigma_expr *
sigma_entry(struct sigma_ctx *c, const struct yamlx_node *k,
    const struct yamlx_node *v)
{
	const struct yamlx_node *const *items;
	struct sigma_mods m;
	struct sigma_expr *e = NULL;
	char *path = NULL;
	size_t n;
	size_t i;

	if (!sigma_field(c, k, &path, &m))
		return NULL;
	if (v->type == YAMLX_NODE_MAP) {
		sigma_refuse(c, v,
		    "%s: a mapping as a value cannot be "
		    "expressed (write the dotted path)",
		    k->s);
		goto out;
	}
	n = yamlx_items((const struct yamlx_node *const *)&v, &items);
	if (n == 0) {
		sigma_refuse(c, v, "%s: an empty list of values", k->s);
		goto out;
	}
	e = sigma_expr_new(c, m.all ? SIGMA_AND : SIGMA_OR);
	if (e == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		struct sigma_expr *l = sigma_value(c, path, &m, items[i]);

		if (l == NULL || !sigma_expr_add(c, e, l)) {
			sigma_expr_free(e);
			e = NULL;
			goto out;
		}
	}
out:
	free(path);
	return e;
}

/* A selection: a mapping (all entries), a list of mappings (any). */
static struct sigma_expr *
sigma_selection(struct sigma_ctx *c, const struct yamlx_node *name,
    const struct yamlx_node *sel)
{
	struct sigma_expr *e;
	size_t i;

	if (sel->type == YAMLX_NODE_SEQ) {
		e = sigma_expr_new(c, SIGMA_OR);
		if (e == NULL)
			return NULL;
		if (sel->n == 0)
			sigma_refuse(c, sel, "selection '%s' is empty",
			    name->s);
		for (i = 0; i < sel->n && !c->refused; i++) {
			struct sigma_expr *k;

			if (sel->kid[i]->type != YAMLX_NODE_MAP) {
				sigma_refuse(c, sel->kid[i],
				    "selection '%s': a keyword search (a list "
				    "of values, no field) cannot be "
				    "expressed: smtrail matches fields",
				    name->s);
				break;
			}
			k = sigma_selection(c, name, sel->kid[i]);
			if (k == NULL || !sigma_expr_add(c, e, k))
				break;
		}
		if (c->refused || c->oom) {
			sigma_expr_free(e);
			return NULL;
		}
		return e;
	}
	if (sel->type != YAMLX_NODE_MAP) {
		sigma_refuse(c, sel,
		    "selection '%s': a keyword search cannot "
		    "be expressed: smtrail matches fields",
		    name->s);
		return NULL;
	}
	if (sel->n == 0) {
		sigma_refuse(c, sel, "selection '%s' is empty", name->s);
		return NULL;
	}
	e = sigma_expr_new(c, SIGMA_AND);
	if (e == NULL)
		return NULL;
	for (i = 0; i + 1 < sel->n; i += 2) {
		struct sigma_expr *k;
		size_t j;

		for (j = 0; j < i; j += 2)
			if (sel->kid[i]->type == YAMLX_NODE_SCALAR &&
			    sel->kid[j]->type == YAMLX_NODE_SCALAR &&
			    strcmp(sel->kid[i]->s, sel->kid[j]->s) == 0) {
				sigma_refuse(c, sel->kid[i],
				    "%.64s: twice in "
				    "selection '%.64s' (first at line %u)",
				    sel->kid[i]->s, name->s, sel->kid[j]->line);
				sigma_expr_free(e);
				return NULL;
			}
		k = sigma_entry(c, sel->kid[i], sel->kid[i + 1]);

		if (k == NULL || !sigma_expr_add(c, e, k)) {
			sigma_expr_free(e);
			return NULL;
		}
	}
	return e;
}

/* ---- the condition ----------------------------------------------------- */

struct sigma_sel {
	const char *name;
	const struct yamlx_node *key;
	struct sigma_expr *e; /* built on first use */
	const struct yamlx_node *node;
};

struct sigma_cond {
	/* "| count([field]) [by group] > N" (Sigma 1) */
	bool agg;
	char agg_field[128];
	char agg_by[128];
	unsigned agg_n;
	bool agg_gt;
	struct sigma_ctx *c;
	const struct yamlx_node *node; /* the condition, for positions */
	const char *s;
	const char *p;
	struct sigma_sel *sels;
	size_t n_sels;
	unsigned depth;
};

enum sigma_tok {
	SIGMA_TOK_END,
	SIGMA_TOK_WORD,
	SIGMA_TOK_LPAREN,
	SIGMA_TOK_RPAREN,
	SIGMA_TOK_PIPE,
	SIGMA_TOK_BAD
};

static void sigma_cond_refuse(struct sigma_cond *k, const char *at,
    const char *fmt, ...) PRINTF_LIKE(3, 4);

static void
sigma_cond_refuse(struct sigma_cond *k, const char *at, const char *fmt, ...)
{
	struct sigma_ctx *c = k->c;
	va_list ap;
	int len;

	if (c->refused)
		return;
	c->refused = true;
	c->line = k->node->line;
	/* On one line, point at the word (a quoted scalar starts after its
	 * quote, which the column counts). */
	c->col = k->node->col;
	if (strchr(k->s, '\n') == NULL)
		c->col += (unsigned)(at - k->s) + (k->node->plain ? 0 : 1);
	len = snprintf(c->why, sizeof(c->why), "condition: ");
	va_start(ap, fmt);
	(void)vsnprintf(c->why + len, sizeof(c->why) - (size_t)len, fmt, ap);
	va_end(ap);
}

static bool
sigma_word_char(char ch)
{
	return isalnum((unsigned char)ch) || ch == '_' || ch == '-' ||
	    ch == '*' || ch == '.' || ch == '?';
}

/* The next token: its kind, its text at *ret (len *ret_len); k->p moves
 * only when consume. */
static enum sigma_tok
sigma_tok(struct sigma_cond *k, bool consume, const char **ret, size_t *ret_len)
{
	const char *p = k->p;
	enum sigma_tok t;
	size_t len = 1;

	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	*ret = p;
	if (*p == '\0') {
		t = SIGMA_TOK_END;
		len = 0;
	} else if (*p == '(') {
		t = SIGMA_TOK_LPAREN;
	} else if (*p == ')') {
		t = SIGMA_TOK_RPAREN;
	} else if (*p == '|') {
		t = SIGMA_TOK_PIPE;
	} else if (sigma_word_char(*p)) {
		t = SIGMA_TOK_WORD;
		for (len = 0; sigma_word_char(p[len]); len++)
			;
	} else {
		t = SIGMA_TOK_BAD;
	}
	*ret_len = len;
	if (consume)
		k->p = p + len;
	return t;
}

static bool
sigma_is(const char *w, size_t len, const char *kw)
{
	return strlen(kw) == len && memcmp(w, kw, len) == 0;
}

static struct sigma_expr *sigma_or(struct sigma_cond *k);

/* The selection named (or all those the pattern names, for "of"). */
static struct sigma_expr *
sigma_sel_ref(struct sigma_cond *k, const char *w, size_t len, size_t i)
{
	struct sigma_sel *s = &k->sels[i];

	(void)w;
	(void)len;
	if (s->e == NULL) {
		s->e = sigma_selection(k->c, s->key, s->node);
		if (s->e == NULL)
			return NULL;
	}
	return sigma_expr_copy(k->c, s->e);
}

static struct sigma_expr *
sigma_of(struct sigma_cond *k, bool all)
{
	struct sigma_expr *e;
	const char *w;
	size_t len;
	char pat[256];
	bool them;
	size_t i;
	size_t hits = 0;

	if (sigma_tok(k, true, &w, &len) != SIGMA_TOK_WORD) {
		sigma_cond_refuse(k, w,
		    "expected a selection name or 'them' "
		    "after 'of'");
		return NULL;
	}
	if (len >= sizeof(pat)) {
		sigma_cond_refuse(k, w, "selection name too long");
		return NULL;
	}
	memcpy(pat, w, len);
	pat[len] = '\0';
	them = strcmp(pat, "them") == 0;
	e = sigma_expr_new(k->c, all ? SIGMA_AND : SIGMA_OR);
	if (e == NULL)
		return NULL;
	for (i = 0; i < k->n_sels; i++) {
		struct sigma_expr *s;

		if (them ? k->sels[i].name[0] == '_'
			 : fnmatch(pat, k->sels[i].name, 0) != 0)
			continue;
		hits++;
		s = sigma_sel_ref(k, w, len, i);
		if (s == NULL || !sigma_expr_add(k->c, e, s)) {
			sigma_expr_free(e);
			return NULL;
		}
	}
	if (hits == 0) {
		sigma_cond_refuse(k, w, "no selection matches '%s'", pat);
		sigma_expr_free(e);
		return NULL;
	}
	return e;
}

static struct sigma_expr *
sigma_factor(struct sigma_cond *k)
{
	struct sigma_expr *e;
	const char *w;
	size_t len;
	size_t i;
	enum sigma_tok t;

	if (++k->depth > SIGMA_MAX_COND_DEPTH) {
		sigma_cond_refuse(k, k->p, "nested deeper than %u",
		    SIGMA_MAX_COND_DEPTH);
		return NULL;
	}
	t = sigma_tok(k, true, &w, &len);
	switch (t) {
	case SIGMA_TOK_LPAREN:
		e = sigma_or(k);
		if (e == NULL)
			return NULL;
		if (sigma_tok(k, true, &w, &len) != SIGMA_TOK_RPAREN) {
			sigma_cond_refuse(k, w, "expected ')'");
			sigma_expr_free(e);
			return NULL;
		}
		k->depth--;
		return e;
	case SIGMA_TOK_WORD:
		break;
	case SIGMA_TOK_PIPE:
		sigma_cond_refuse(k, w, "unexpected '|'");
		return NULL;
	case SIGMA_TOK_END:
		sigma_cond_refuse(k, w, "unexpected end");
		return NULL;
	case SIGMA_TOK_RPAREN:
	case SIGMA_TOK_BAD:
		sigma_cond_refuse(k, w, "unexpected '%c'", *w);
		return NULL;
	}
	if (sigma_is(w, len, "not")) {
		struct sigma_expr *kid = sigma_factor(k);

		if (kid == NULL)
			return NULL;
		e = sigma_expr_new(k->c, SIGMA_NOT);
		if (e == NULL) {
			sigma_expr_free(kid);
			return NULL;
		}
		if (!sigma_expr_add(k->c, e, kid)) {
			sigma_expr_free(e);
			return NULL;
		}
		k->depth--;
		return e;
	}
	if (sigma_is(w, len, "1") || sigma_is(w, len, "all")) {
		bool all = len == 3;
		const char *ow;
		size_t olen;

		if (sigma_tok(k, true, &ow, &olen) != SIGMA_TOK_WORD ||
		    !sigma_is(ow, olen, "of")) {
			sigma_cond_refuse(k, ow, "expected 'of' after '%s'",
			    all ? "all" : "1");
			return NULL;
		}
		e = sigma_of(k, all);
		if (e != NULL)
			k->depth--;
		return e;
	}
	if (sigma_is(w, len, "and") || sigma_is(w, len, "or") ||
	    sigma_is(w, len, "of") || sigma_is(w, len, "them")) {
		sigma_cond_refuse(k, w, "unexpected '%.*s'", (int)len, w);
		return NULL;
	}
	for (i = 0; i < k->n_sels; i++)
		if (sigma_is(w, len, k->sels[i].name))
			break;
	if (i == k->n_sels) {
		sigma_cond_refuse(k, w, "unknown selection '%.*s'",
		    (int)(len > 64 ? 64 : len), w);
		return NULL;
	}
	e = sigma_sel_ref(k, w, len, i);
	if (e != NULL)
		k->depth--;
	return e;
}

/* factor ("and" factor)* / term ("or" term)* */
static struct sigma_expr *
sigma_binary(struct sigma_cond *k, bool is_or)
{
	struct sigma_expr *e;
	struct sigma_expr *kid;
	const char *w;
	size_t len;

	kid = is_or ? sigma_binary(k, false) : sigma_factor(k);
	if (kid == NULL)
		return NULL;
	e = sigma_expr_new(k->c, is_or ? SIGMA_OR : SIGMA_AND);
	if (e == NULL) {
		sigma_expr_free(kid);
		return NULL;
	}
	if (!sigma_expr_add(k->c, e, kid)) {
		sigma_expr_free(e);
		return NULL;
	}
	while (sigma_tok(k, false, &w, &len) == SIGMA_TOK_WORD &&
	    sigma_is(w, len, is_or ? "or" : "and")) {
		(void)sigma_tok(k, true, &w, &len);
		kid = is_or ? sigma_binary(k, false) : sigma_factor(k);
		if (kid == NULL || !sigma_expr_add(k->c, e, kid)) {
			sigma_expr_free(e);
			return NULL;
		}
	}
	return e;
}

static struct sigma_expr *
sigma_or(struct sigma_cond *k)
{
	return sigma_binary(k, true);
}

/* A word of the aggregation (a field name) into buf; false if none. */
static bool
sigma_agg_word(const char **p, char *buf, size_t size)
{
	size_t n = 0;

	while (**p == ' ' || **p == '\t')
		(*p)++;
	while (sigma_word_char((*p)[n]) && (*p)[n] != '*' && (*p)[n] != '?')
		n++;
	if (n == 0 || n >= size)
		return false;
	memcpy(buf, *p, n);
	buf[n] = '\0';
	*p += n;
	return true;
}

/*
 * A Sigma 1 aggregation after the '|': "count() [by f] > N" (a threshold)
 * or "count(field) [by f] > N" (distinct values); > or >= only.
 */
static void
sigma_aggregation(struct sigma_cond *k, const char *pipe)
{
	const char *p = pipe + 1;
	char fn[16];
	unsigned long n;
	char *end;

	if (!sigma_agg_word(&p, fn, sizeof(fn)) || strcmp(fn, "count") != 0) {
		sigma_cond_refuse(k, pipe,
		    "only the aggregation count() can be "
		    "expressed (as threshold or distinct)");
		return;
	}
	while (*p == ' ')
		p++;
	if (*p++ != '(') {
		sigma_cond_refuse(k, p - 1, "expected '(' after count");
		return;
	}
	(void)sigma_agg_word(&p, k->agg_field, sizeof(k->agg_field));
	while (*p == ' ')
		p++;
	if (*p++ != ')') {
		sigma_cond_refuse(k, p - 1, "expected ')'");
		return;
	}
	while (*p == ' ')
		p++;
	if (strncmp(p, "by ", 3) == 0) {
		p += 3;
		if (!sigma_agg_word(&p, k->agg_by, sizeof(k->agg_by))) {
			sigma_cond_refuse(k, p, "expected a field after 'by'");
			return;
		}
		while (*p == ' ')
			p++;
	}
	if (p[0] != '>') {
		sigma_cond_refuse(k, p,
		    "only '>' and '>=' can be expressed: "
		    "smtrail alerts when a count reaches a number");
		return;
	}
	k->agg_gt = p[1] != '=';
	p += k->agg_gt ? 1 : 2;
	while (*p == ' ')
		p++;
	n = strtoul(p, &end, 10);
	if (!isdigit((unsigned char)*p) || n > 100000) {
		sigma_cond_refuse(k, p, "expected a whole number");
		return;
	}
	p = end;
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	if (*p != '\0') {
		sigma_cond_refuse(k, p, "unexpected '%c'", *p);
		return;
	}
	k->agg_n = (unsigned)n;
	k->agg = true;
}

/* The whole condition string. */
static struct sigma_expr *
sigma_condition(struct sigma_cond *k)
{
	struct sigma_expr *e;
	const char *w;
	size_t len;
	enum sigma_tok t;

	k->p = k->s;
	e = sigma_or(k);
	if (e == NULL)
		return NULL;
	t = sigma_tok(k, false, &w, &len);
	if (t == SIGMA_TOK_PIPE)
		sigma_aggregation(k, w);
	else if (t != SIGMA_TOK_END)
		sigma_cond_refuse(k, w, "unexpected '%.*s'",
		    (int)(len > 64 ? 64 : len), w);
	if (k->c->refused) {
		sigma_expr_free(e);
		return NULL;
	}
	return e;
}

/* ---- a rule ------------------------------------------------------------ */

static void
sigma_rule_free(struct sigma_rule *r)
{
	size_t i;

	if (r == NULL)
		return;
	free(r->file);
	free(r->id);
	free(r->name);
	free(r->title);
	free(r->desc);
	sigma_expr_free(r->match);
	for (i = 0; i < r->n_refs; i++)
		free(r->refs[i]);
	free(r->refs);
	for (i = 0; i < r->n_group_by; i++)
		free(r->group_by[i]);
	free(r->group_by);
	free(r->within);
	free(r->field);
	free(r);
}

/* The value of key in map (a scalar's text or the node), or NULL. */
static const struct yamlx_node *
sigma_get(const struct yamlx_node *map, const char *key)
{
	size_t i;

	if (map == NULL || map->type != YAMLX_NODE_MAP)
		return NULL;
	for (i = 0; i + 1 < map->n; i += 2)
		if (map->kid[i]->type == YAMLX_NODE_SCALAR &&
		    strcmp(map->kid[i]->s, key) == 0)
			return map->kid[i + 1];
	return NULL;
}

static const char *
sigma_get_str(const struct yamlx_node *map, const char *key)
{
	const struct yamlx_node *n = sigma_get(map, key);

	if (n == NULL || n->type != YAMLX_NODE_SCALAR || yamlx_is_null(n) ||
	    strlen(n->s) != n->len)
		return NULL;
	return n->s;
}

/* Sigma's level as a severity (smtrail has no "low": info). */
static const char *
sigma_severity(struct sigma_ctx *c, const struct yamlx_node *doc)
{
	static const char *const map[][2] = {{"informational", "info"},
	    {"low", "info"}, {"medium", "warning"}, {"high", "error"},
	    {"critical", "critical"}};
	const struct yamlx_node *n = sigma_get(doc, "level");
	size_t i;

	if (n == NULL)
		return "warning";
	for (i = 0; i < ARRAY_SIZE(map); i++)
		if (n->type == YAMLX_NODE_SCALAR &&
		    strcmp(n->s, map[i][0]) == 0)
			return map[i][1];
	sigma_refuse(c, n,
	    "level: expected informational, low, medium, high "
	    "or critical");
	return NULL;
}

/* A valid smtrail rule id: Sigma's id (a UUID), else its name. */
static bool
sigma_valid_id(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '_' && s[i] != '-')
			return false;
	return i > 0 && i <= SIGMA_MAX_ID;
}

static char *
sigma_dup(struct sigma_ctx *c, const char *s)
{
	char *d;

	if (s == NULL)
		return NULL;
	d = strdup(s);
	if (d == NULL)
		c->oom = true;
	return d;
}

/* The common part of a rule and a correlation. */
static struct sigma_rule *
sigma_rule_meta(struct sigma_ctx *c, const struct yamlx_node *doc,
    const char *file)
{
	struct sigma_rule *r;
	const struct yamlx_node *idn = sigma_get(doc, "id");
	const char *id = sigma_get_str(doc, "id");
	const char *name = sigma_get_str(doc, "name");
	const char *title = sigma_get_str(doc, "title");

	if (id == NULL)
		id = name;
	if (id == NULL) {
		sigma_refuse(c, doc,
		    "id: a rule needs an id or a name (the "
		    "smtrail rule's id)");
		return NULL;
	}
	if (!sigma_valid_id(id)) {
		sigma_refuse(c, idn != NULL ? idn : doc,
		    "id: '%.64s' is not a "
		    "valid smtrail rule id (letters, digits, '.', '_' and "
		    "'-', at most %u)",
		    id, SIGMA_MAX_ID);
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		c->oom = true;
		return NULL;
	}
	r->line = doc->line;
	r->file = sigma_dup(c, file);
	r->id = sigma_dup(c, id);
	r->name = sigma_dup(c, name);
	r->title = sigma_dup(c, title != NULL ? title : id);
	r->desc = sigma_dup(c, sigma_get_str(doc, "description"));
	r->severity = sigma_severity(c, doc);
	return r;
}

static char *sigma_timespan(struct sigma_ctx *c, const struct yamlx_node *n,
    const char *what);

/*
 * A Sigma 1 aggregation as a threshold (count()) or distinct
 * (count(field)) over the rule's match, grouped by its "by" field (else
 * one group), within the rule's timeframe.
 */
static bool
sigma_rule_aggregation(struct sigma_ctx *c, const struct yamlx_node *doc,
    const struct sigma_cond *k, struct sigma_rule *r)
{
	const struct yamlx_node *det = sigma_get(doc, "detection");
	const struct yamlx_node *tf = sigma_get(det, "timeframe");

	if (tf == NULL)
		tf = sigma_get(doc, "timeframe");
	if (tf == NULL) {
		sigma_refuse(c, k->node,
		    "condition: an aggregation without a "
		    "timeframe: smtrail counts within a window");
		return false;
	}
	r->within = sigma_timespan(c, tf, "timeframe");
	if (r->within == NULL)
		return false;
	r->counted = true;
	r->distinct = k->agg_field[0] != '\0';
	r->count = k->agg_n + (k->agg_gt ? 1u : 0u);
	if (r->count < (r->distinct ? 2u : 1u) ||
	    r->count >
		(r->distinct ? RULES_MAX_DISTINCT : RULES_MAX_THRESHOLD)) {
		sigma_refuse(c, k->node,
		    "condition: a count of %u is outside "
		    "smtrail's %u to %u",
		    r->count, r->distinct ? 2u : 1u,
		    r->distinct ? RULES_MAX_DISTINCT : RULES_MAX_THRESHOLD);
		return false;
	}
	if (r->distinct && (r->field = sigma_dup(c, k->agg_field)) == NULL)
		return false;
	r->has_group_by = true;
	if (k->agg_by[0] != '\0') {
		r->group_by = calloc(1, sizeof(*r->group_by));
		if (r->group_by == NULL ||
		    (r->group_by[0] = sigma_dup(c, k->agg_by)) == NULL) {
			c->oom = true;
			return false;
		}
		r->n_group_by = 1;
	}
	return true;
}

/* A detection rule (not a correlation). */
static struct sigma_rule *
sigma_rule_detection(struct sigma_ctx *c, const struct yamlx_node *doc,
    const char *file)
{
	const struct yamlx_node *ls = sigma_get(doc, "logsource");
	const struct yamlx_node *det = sigma_get(doc, "detection");
	const struct yamlx_node *cond;
	const char *prod = sigma_get_str(ls, "product");
	const char *svc = sigma_get_str(ls, "service");
	struct sigma_cond k;
	struct sigma_rule *r;
	struct sigma_expr *e;
	size_t i;
	size_t j;

	if (ls == NULL || prod == NULL || svc == NULL ||
	    strcmp(prod, "aws") != 0 || strcmp(svc, "cloudtrail") != 0) {
		sigma_refuse(c, ls != NULL ? ls : doc,
		    "logsource: not "
		    "{product: aws, service: cloudtrail}");
		return NULL;
	}
	if (det == NULL || det->type != YAMLX_NODE_MAP) {
		sigma_refuse(c, det != NULL ? det : doc,
		    "detection: expected "
		    "a mapping");
		return NULL;
	}
	cond = sigma_get(det, "condition");
	if (cond == NULL || cond->type != YAMLX_NODE_SCALAR ||
	    strlen(cond->s) != cond->len) {
		sigma_refuse(c, cond != NULL ? cond : det,
		    "detection: "
		    "expected one condition (a string)");
		return NULL;
	}
	if (sigma_get(det, "timeframe") != NULL &&
	    strchr(cond->s, '|') == NULL) {
		sigma_refuse(c, sigma_get(det, "timeframe"),
		    "timeframe: "
		    "without an aggregation it means nothing; refusing "
		    "rather than guessing");
		return NULL;
	}
	r = sigma_rule_meta(c, doc, file);
	if (r == NULL)
		return NULL;
	memset(&k, 0, sizeof(k));
	k.c = c;
	k.node = cond;
	k.s = cond->s;
	k.sels = calloc(det->n / 2 + 1, sizeof(*k.sels));
	if (k.sels == NULL) {
		c->oom = true;
		goto fail;
	}
	for (i = 0; i + 1 < det->n; i += 2) {
		const struct yamlx_node *key = det->kid[i];

		if (key->type != YAMLX_NODE_SCALAR) {
			sigma_refuse(c, key,
			    "detection: a selection's name "
			    "must be a string");
			break;
		}
		if (strcmp(key->s, "condition") == 0 ||
		    strcmp(key->s, "timeframe") == 0)
			continue;
		for (j = 0; j < k.n_sels; j++)
			if (strcmp(k.sels[j].name, key->s) == 0)
				break;
		if (j < k.n_sels) {
			sigma_refuse(c, key,
			    "detection: selection '%.64s' "
			    "twice (first at line %u)",
			    key->s, k.sels[j].key->line);
			break;
		}
		k.sels[k.n_sels].name = key->s;
		k.sels[k.n_sels].key = key;
		k.sels[k.n_sels].node = det->kid[i + 1];
		k.n_sels++;
	}
	e = sigma_condition(&k);
	for (i = 0; i < k.n_sels; i++)
		sigma_expr_free(k.sels[i].e);
	free(k.sels);
	if (e == NULL)
		goto fail;
	e = sigma_fold(e);
	if (e->op == SIGMA_FALSE) {
		if (c->have_false) {
			c->refused = true;
			c->line = c->false_line;
			c->col = c->false_col;
			(void)snprintf(c->why, sizeof(c->why), "%s",
			    c->false_why);
		} else {
			sigma_refuse(c, cond, "condition: never true");
		}
		sigma_expr_free(e);
		goto fail;
	}
	r->match = e;
	if (c->refused || (k.agg && !sigma_rule_aggregation(c, doc, &k, r)))
		goto fail;
	return r;
fail:
	sigma_rule_free(r);
	return NULL;
}

/* Sigma's timespan (Ns, Nm, Nh, Nd) as smtrail writes durations. */
static char *
sigma_timespan(struct sigma_ctx *c, const struct yamlx_node *n,
    const char *what)
{
	const char *s;
	char *end;
	unsigned long v;

	if (n == NULL || n->type != YAMLX_NODE_SCALAR) {
		sigma_refuse(c, n, "%s: required", what);
		return NULL;
	}
	s = n->s;
	v = strtoul(s, &end, 10);
	if (end == s || !isdigit((unsigned char)s[0]) || v == 0 ||
	    (strcmp(end, "s") != 0 && strcmp(end, "m") != 0 &&
		strcmp(end, "h") != 0 && strcmp(end, "d") != 0) ||
	    (end[0] == 'd' && v > 365) || v > 365ul * 86400) {
		sigma_refuse(c, n,
		    "%s: '%.32s' is not a "
		    "duration smtrail has (N followed by s, m, h or d, at "
		    "most 365 days)",
		    what, s);
		return NULL;
	}
	return sigma_dup(c, s);
}

/* A list of strings, or one string, into *ret. */
static bool
sigma_strs(struct sigma_ctx *c, const struct yamlx_node *n, const char *what,
    char ***ret, size_t *ret_n)
{
	const struct yamlx_node *const *items;
	size_t n_items;
	size_t i;

	n_items = yamlx_items((const struct yamlx_node *const *)&n, &items);
	*ret = calloc(n_items + 1, sizeof(**ret));
	if (*ret == NULL) {
		c->oom = true;
		return false;
	}
	for (i = 0; i < n_items; i++) {
		if (items[i]->type != YAMLX_NODE_SCALAR || items[i]->len == 0 ||
		    strlen(items[i]->s) != items[i]->len) {
			sigma_refuse(c, items[i], "%s: expected names", what);
			return false;
		}
		(*ret)[i] = sigma_dup(c, items[i]->s);
		*ret_n = i + 1;
		if ((*ret)[i] == NULL)
			return false;
	}
	return true;
}

/* A correlation rule: event_count -> threshold, value_count -> distinct. */
static struct sigma_rule *
sigma_rule_correlation(struct sigma_ctx *c, const struct yamlx_node *doc,
    const char *file)
{
	const struct yamlx_node *corr = sigma_get(doc, "correlation");
	const struct yamlx_node *type = sigma_get(corr, "type");
	const struct yamlx_node *cond = sigma_get(corr, "condition");
	const struct yamlx_node *gb = sigma_get(corr, "group-by");
	const struct yamlx_node *gen = sigma_get(corr, "generate");
	const struct yamlx_node *refs = sigma_get(corr, "rules");
	struct sigma_rule *r;
	const char *fld;
	double v = 0;
	bool gt = false;
	size_t i;

	if (corr == NULL || corr->type != YAMLX_NODE_MAP || type == NULL ||
	    type->type != YAMLX_NODE_SCALAR) {
		sigma_refuse(c, corr,
		    "correlation: expected a mapping with "
		    "a type");
		return NULL;
	}
	if (strcmp(type->s, "temporal") == 0 ||
	    strcmp(type->s, "temporal_ordered") == 0) {
		sigma_refuse(c, type,
		    "correlation.type: %s (all of several "
		    "rules within a time span) cannot be expressed: smtrail's "
		    "expect alerts when a follow-up is missing, not when it "
		    "comes",
		    type->s);
		return NULL;
	}
	if (strcmp(type->s, "event_count") != 0 &&
	    strcmp(type->s, "value_count") != 0) {
		sigma_refuse(c, type,
		    "correlation.type: '%.32s' cannot be "
		    "expressed (event_count and value_count can)",
		    type->s);
		return NULL;
	}
	if (cond == NULL || cond->type != YAMLX_NODE_MAP) {
		sigma_refuse(c, cond != NULL ? cond : corr,
		    "correlation."
		    "condition: expected a mapping");
		return NULL;
	}
	for (i = 0; i + 1 < cond->n; i += 2) {
		const struct yamlx_node *ck = cond->kid[i];
		const struct yamlx_node *cv = cond->kid[i + 1];

		if (ck->type != YAMLX_NODE_SCALAR) {
			sigma_refuse(c, ck,
			    "correlation.condition: expected "
			    "gte, gt or field");
			return NULL;
		}
		if (strcmp(ck->s, "field") == 0)
			continue;
		if (strcmp(ck->s, "gte") != 0 && strcmp(ck->s, "gt") != 0) {
			sigma_refuse(c, ck,
			    "correlation.condition: '%.16s' "
			    "cannot be expressed: smtrail alerts when a count "
			    "reaches a number (gte, gt)",
			    ck->s);
			return NULL;
		}
		if (cv->type != YAMLX_NODE_SCALAR ||
		    !yamlx_parse_number(cv->s, cv->len, &v) || v < 0 ||
		    v != (double)(unsigned)v) {
			sigma_refuse(c, cv,
			    "correlation.condition.%s: "
			    "expected a whole number",
			    ck->s);
			return NULL;
		}
		gt = strcmp(ck->s, "gt") == 0;
	}
	fld = sigma_get_str(cond, "field");
	if (strcmp(type->s, "value_count") == 0 && fld == NULL) {
		sigma_refuse(c, cond,
		    "correlation.condition.field: required "
		    "for value_count");
		return NULL;
	}
	if (refs == NULL) {
		sigma_refuse(c, corr, "correlation.rules: required");
		return NULL;
	}
	r = sigma_rule_meta(c, doc, file);
	if (r == NULL)
		return NULL;
	r->distinct = strcmp(type->s, "value_count") == 0;
	r->count = (unsigned)v + (gt ? 1 : 0);
	if (r->count < (r->distinct ? 2u : 1u) ||
	    r->count >
		(r->distinct ? RULES_MAX_DISTINCT : RULES_MAX_THRESHOLD)) {
		sigma_refuse(c, cond,
		    "correlation.condition: a count of %u "
		    "is outside smtrail's %u to %u",
		    r->count, r->distinct ? 2u : 1u,
		    r->distinct ? RULES_MAX_DISTINCT : RULES_MAX_THRESHOLD);
		goto fail;
	}
	r->field = sigma_dup(c, fld);
	r->within = sigma_timespan(c, sigma_get(corr, "timespan"),
	    "correlation.timespan");
	r->counted = true;
	if (r->within == NULL)
		goto fail;
	if (!sigma_strs(c, refs, "correlation.rules", &r->refs, &r->n_refs))
		goto fail;
	if (gb != NULL) {
		r->has_group_by = true;
		if (!sigma_strs(c, gb, "correlation.group-by", &r->group_by,
			&r->n_group_by))
			goto fail;
	}
	if (gen != NULL) {
		bool b = false;
		int64_t iv;
		double dv;

		if (gen->type != YAMLX_NODE_SCALAR ||
		    yamlx_scalar_type(gen, &b, &iv, &dv) != YAMLX_SCALAR_BOOL) {
			sigma_refuse(c, gen,
			    "correlation.generate: expected "
			    "true or false");
			goto fail;
		}
		r->generate = b;
	}
	if (c->refused)
		goto fail;
	return r;
fail:
	sigma_rule_free(r);
	return NULL;
}

/* ---- writing ----------------------------------------------------------- */

struct sigma_out {
	struct buf *b;
	int r;
	unsigned depth;
	unsigned max_depth;
};

static void sigma_put(struct sigma_out *o, const char *fmt, ...)
    PRINTF_LIKE(2, 3);

static void
sigma_put(struct sigma_out *o, const char *fmt, ...)
{
	va_list ap;
	struct buf *b = o->b;
	int n;

	if (o->r < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (o->r = buf_reserve(b, (size_t)n + 1)) < 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* s as a YAML double-quoted scalar. */
static void
sigma_put_str(struct sigma_out *o, const char *s)
{
	sigma_put(o, "\"");
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			sigma_put(o, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			sigma_put(o, "\\x%02x", ch);
		else
			sigma_put(o, "%c", ch);
	}
	sigma_put(o, "\"");
}

/* A leaf's condition, in flow style. */
static void
sigma_put_cond(struct sigma_out *o, const struct sigma_expr *e)
{
	static const char *const ops[] = {[SIGMA_T_EQ] = "eq",
	    [SIGMA_T_PREFIX] = "prefix",
	    [SIGMA_T_SUFFIX] = "suffix",
	    [SIGMA_T_CONTAINS] = "contains",
	    [SIGMA_T_GLOB] = "glob",
	    [SIGMA_T_REGEX] = "regex",
	    [SIGMA_T_CIDR] = "cidr",
	    [SIGMA_T_EXISTS] = "exists",
	    [SIGMA_T_GT] = "gt",
	    [SIGMA_T_GE] = "ge",
	    [SIGMA_T_LT] = "lt",
	    [SIGMA_T_LE] = "le"};

	if (e->test == SIGMA_T_EQ && !e->icase) {
		if (e->vtype == SIGMA_V_STR)
			sigma_put_str(o, e->v);
		else
			sigma_put(o, "%s", e->v);
		return;
	}
	sigma_put(o, "{%s: ", ops[e->test]);
	if (e->vtype == SIGMA_V_STR && e->test != SIGMA_T_EXISTS)
		sigma_put_str(o, e->v);
	else
		sigma_put(o, "%s", e->v);
	sigma_put(o, "%s}", e->icase ? ", icase: true" : "");
}

/* An OR of leaves on one path: written as a list of conditions. */
static bool
sigma_same_path(const struct sigma_expr *e)
{
	size_t i;

	if (e->op != SIGMA_OR)
		return false;
	for (i = 0; i < e->n; i++)
		if (e->kid[i]->op != SIGMA_LEAF ||
		    strcmp(e->kid[i]->path, e->kid[0]->path) != 0)
			return false;
	return true;
}

/* The key e takes in a match mapping. */
static const char *
sigma_key_of(const struct sigma_expr *e)
{
	if (e->op == SIGMA_LEAF)
		return e->path;
	if (sigma_same_path(e))
		return e->kid[0]->path;
	if (e->op == SIGMA_OR)
		return "any";
	if (e->op == SIGMA_NOT)
		return "not";
	if (e->op == SIGMA_TRUE)
		return "eventSource";
	return "all";
}

static void sigma_put_map(struct sigma_out *o, const struct sigma_expr *e,
    unsigned ind, bool first);

static void
sigma_deeper(struct sigma_out *o)
{
	if (++o->depth > o->max_depth)
		o->max_depth = o->depth;
}

/* One entry of a match mapping: e under its key. */
static void
sigma_put_entry(struct sigma_out *o, const struct sigma_expr *e, unsigned ind,
    bool first)
{
	size_t i;

	if (!first)
		sigma_put(o, "%*s", (int)ind, "");
	if (e->op == SIGMA_TRUE) {
		sigma_put(o, "eventSource: \"%s\"\n", SIGMA_SOURCE);
		return;
	}
	if (e->op == SIGMA_LEAF) {
		sigma_put_str(o, e->path);
		sigma_put(o, ": ");
		sigma_put_cond(o, e);
		sigma_put(o, "\n");
		return;
	}
	sigma_deeper(o);
	if (sigma_same_path(e)) {
		sigma_put_str(o, e->kid[0]->path);
		sigma_put(o, ": [");
		for (i = 0; i < e->n; i++) {
			sigma_put(o, "%s", i > 0 ? ", " : "");
			sigma_put_cond(o, e->kid[i]);
		}
		sigma_put(o, "]\n");
	} else if (e->op == SIGMA_NOT) {
		sigma_put(o, "not:\n");
		sigma_put_map(o, e->kid[0], ind + 2, false);
	} else {
		/* any: or all: a list of mappings */
		sigma_put(o, "%s:\n", e->op == SIGMA_OR ? "any" : "all");
		for (i = 0; i < e->n; i++) {
			sigma_put(o, "%*s- ", (int)ind, "");
			sigma_put_map(o, e->kid[i], ind + 2, true);
		}
	}
	o->depth--;
}

/* e as a match mapping at indentation ind (first: the first key's line
 * is already started, after "- "). */
static void
sigma_put_map(struct sigma_out *o, const struct sigma_expr *e, unsigned ind,
    bool first)
{
	const char *used[64];
	size_t n_used = 0;
	bool *rest;
	size_t n_rest = 0;
	size_t i;
	size_t j;

	if (e->op != SIGMA_AND) {
		sigma_put_entry(o, e, ind, first);
		return;
	}
	rest = calloc(e->n, sizeof(*rest));
	if (rest == NULL) {
		o->r = -ENOMEM;
		return;
	}
	/* Each key once; the kids whose key is taken go under all:. */
	for (i = 0; i < e->n; i++) {
		const char *k = sigma_key_of(e->kid[i]);
		bool dup = strcmp(k, "all") == 0 || n_used == ARRAY_SIZE(used);

		for (j = 0; j < n_used && !dup; j++)
			dup = strcmp(used[j], k) == 0;
		if (dup) {
			rest[i] = true;
			n_rest++;
			continue;
		}
		used[n_used++] = k;
		sigma_put_entry(o, e->kid[i], ind, first);
		first = false;
	}
	if (n_rest > 0) {
		if (!first)
			sigma_put(o, "%*s", (int)ind, "");
		sigma_deeper(o);
		sigma_put(o, "all:\n");
		for (i = 0; i < e->n; i++) {
			if (!rest[i])
				continue;
			sigma_put(o, "%*s- ", (int)ind, "");
			sigma_put_map(o, e->kid[i], ind + 2, true);
		}
		o->depth--;
	}
	free(rest);
}

/* A comment block: "# " before each line of s. */
static void
sigma_put_comment(struct sigma_out *o, const char *prefix, const char *s)
{
	sigma_put(o, "  # %s", prefix);
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '\n') {
			if (s[1] != '\0')
				sigma_put(o, "\n  # ");
		} else if (ch < 0x20 || ch == 0x7f) {
			sigma_put(o, " ");
		} else {
			sigma_put(o, "%c", ch);
		}
	}
	sigma_put(o, "\n");
}

/* ---- the API ----------------------------------------------------------- */

struct sigma *
sigma_new(sigma_diag_cb *cb, void *arg)
{
	struct sigma *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->cb = cb;
	s->cb_arg = arg;
	return s;
}

void
sigma_free(struct sigma *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n_rules; i++)
		sigma_rule_free(s->rules[i]);
	free(s->rules);
	free(s);
}

static void sigma_report(struct sigma *s, const char *file, unsigned line,
    unsigned col, const char *fmt, ...) PRINTF_LIKE(5, 6);

static void
sigma_report(struct sigma *s, const char *file, unsigned line, unsigned col,
    const char *fmt, ...)
{
	struct diag d;
	va_list ap;

	memset(&d, 0, sizeof(d));
	(void)snprintf(d.file, sizeof(d.file), "%s", file);
	d.line = line;
	d.col = col;
	va_start(ap, fmt);
	(void)vsnprintf(d.msg, sizeof(d.msg), fmt, ap);
	va_end(ap);
	if (s->cb != NULL)
		s->cb(&d, s->cb_arg);
}

static int
sigma_keep(struct sigma *s, struct sigma_rule *r)
{
	if (s->n_rules == s->cap_rules) {
		size_t cap = s->cap_rules != 0 ? 2 * s->cap_rules : 16;
		struct sigma_rule **nr = realloc(s->rules, cap * sizeof(*nr));

		if (nr == NULL) {
			sigma_rule_free(r);
			return -ENOMEM;
		}
		s->rules = nr;
		s->cap_rules = cap;
	}
	s->rules[s->n_rules++] = r;
	return 0;
}

/* One YAML document (a mapping) of name. */
static int
sigma_doc(struct sigma *s, const char *name, const struct yamlx_node *doc)
{
	struct sigma_ctx c;
	struct sigma_rule *r;
	const char *title = sigma_get_str(doc, "title");
	char q[YAMLX_Q_SIZE];

	memset(&c, 0, sizeof(c));
	c.file = name;
	c.oom = false;
	s->st.documents++;
	if (doc->type != YAMLX_NODE_MAP) {
		sigma_refuse(&c, doc, "expected a Sigma rule (a mapping)");
		r = NULL;
	} else if (sigma_get(doc, "correlation") != NULL) {
		r = sigma_rule_correlation(&c, doc, name);
	} else {
		r = sigma_rule_detection(&c, doc, name);
	}
	if (c.oom) {
		sigma_rule_free(r);
		return -ENOMEM;
	}
	if (r == NULL) {
		s->st.refused++;
		sigma_report(s, name, c.line, c.col, "refused '%s': %s",
		    title != NULL ? yamlx_q(q, sizeof(q), title, strlen(title))
				  : "(no title)",
		    c.why);
		return 0;
	}
	return sigma_keep(s, r);
}

/* A document's text: the lines before it blank, so positions hold. */
static int
sigma_load_doc(struct sigma *s, const char *name, const char *text,
    size_t start, size_t end, unsigned first_line)
{
	struct diag_list dl;
	struct yamlx y;
	struct yamlx_node *root;
	char *t;
	size_t i;
	int r;

	t = malloc((size_t)first_line + (end - start));
	if (t == NULL)
		return -ENOMEM;
	memset(t, '\n', (size_t)first_line - 1);
	memcpy(t + first_line - 1, text + start, end - start);
	memset(&dl, 0, sizeof(dl));
	r = yamlx_init(&y, name, t, (size_t)first_line - 1 + (end - start),
	    RULES_MAX_FILE, &dl);
	root = r == 0 ? yamlx_load(&y) : NULL;
	if (r == 0 && y.oom)
		r = -ENOMEM;
	else if (r == 0 && y.errors == 0 && root != NULL)
		r = sigma_doc(s, name, root);
	else if (r == 0 && y.errors > 0)
		r = -EBADMSG;
	yamlx_node_free(root);
	free(t);
	if (r == -EBADMSG || (r < 0 && dl.n > 0)) {
		s->st.errors++;
		for (i = 0; i < dl.n; i++)
			if (s->cb != NULL)
				s->cb(&dl.items[i], s->cb_arg);
	}
	return r;
}

int
sigma_add_buffer(struct sigma *s, const char *name, const char *text,
    size_t len)
{
	size_t start = 0;
	size_t i = 0;
	unsigned line = 1;
	unsigned first = 1;
	int bad = 0;
	int r;

	/* Documents are split at "---" lines (yamlx takes one). */
	while (i <= len) {
		size_t eol = i;
		bool sep;

		while (eol < len && text[eol] != '\n')
			eol++;
		sep = eol - i >= 3 && memcmp(text + i, "---", 3) == 0;
		for (size_t j = i + 3; sep && j < eol; j++)
			sep = text[j] == ' ' || text[j] == '\t' ||
			    text[j] == '\r';
		if (sep || eol >= len) {
			size_t end = sep ? i : len;

			r = sigma_load_doc(s, name, text, start, end, first);
			if (r == -ENOMEM)
				return r;
			if (r < 0)
				bad = r;
			start = eol + 1;
			first = line + 1;
		}
		if (eol >= len)
			break;
		i = eol + 1;
		line++;
	}
	return bad;
}

int
sigma_add_file(struct sigma *s, const char *path)
{
	struct diag_list dl;
	char *text = NULL;
	size_t len = 0;
	size_t i;
	int r;

	memset(&dl, 0, sizeof(dl));
	r = yamlx_read_file(path, RULES_MAX_FILE, &text, &len, &dl);
	if (r < 0) {
		s->st.errors++;
		for (i = 0; i < dl.n; i++)
			if (s->cb != NULL)
				s->cb(&dl.items[i], s->cb_arg);
		free(text);
		return r;
	}
	if (len > RULES_MAX_FILE) {
		s->st.errors++;
		sigma_report(s, path, 0, 0, "file larger than %u bytes",
		    RULES_MAX_FILE);
		free(text);
		return -E2BIG;
	}
	r = sigma_add_buffer(s, path, text, len);
	free(text);
	return r;
}

static const struct sigma_rule *
sigma_find(const struct sigma *s, const char *ref)
{
	size_t i;

	for (i = 0; i < s->n_rules; i++) {
		const struct sigma_rule *r = s->rules[i];

		if (r->match != NULL &&
		    (strcmp(r->id, ref) == 0 ||
			(r->name != NULL && strcmp(r->name, ref) == 0)))
			return r;
	}
	return NULL;
}

/*
 * What was written for r (from mark on) must load as smtrail's loader
 * loads it under check --strict (unknown fields, paths, values...), and
 * its id must be new: else it is taken back and r refused with the
 * loader's first message.
 */
static bool
sigma_check_rule(struct sigma *s, struct sigma_out *o,
    const struct sigma_rule *r, size_t mark)
{
	static const char head[] = "rules:\n";
	struct diag_list dl;
	struct rules *rs = NULL;
	char q[YAMLX_Q_SIZE];
	char *text;
	size_t len = o->b->len - mark;
	size_t i;
	int rc;

	for (i = 0; i < s->n_rules; i++)
		if (s->rules[i]->emitted &&
		    strcmp(s->rules[i]->id, r->id) == 0) {
			buf_truncate(o->b, mark);
			sigma_report(s, r->file, r->line, 1,
			    "refused '%s': id: '%s' was already written "
			    "(from %s)",
			    yamlx_q(q, sizeof(q), r->title, strlen(r->title)),
			    r->id, s->rules[i]->file);
			return false;
		}
	text = malloc(sizeof(head) + len);
	if (text == NULL) {
		o->r = -ENOMEM;
		return false;
	}
	memcpy(text, head, sizeof(head) - 1);
	memcpy(text + sizeof(head) - 1, o->b->data + mark, len);
	memset(&dl, 0, sizeof(dl));
	rc = rules_load_buffer("(translation)", text, sizeof(head) - 1 + len,
	    true, &rs, &dl);
	free(text);
	rules_free(rs);
	if (rc == -ENOMEM) {
		o->r = rc;
		return false;
	}
	if (rc < 0) {
		buf_truncate(o->b, mark);
		for (i = 0; i < dl.n && !(dl.items[i].msg[0] != '\0'); i++)
			;
		sigma_report(s, r->file, r->line, 1,
		    "refused '%s': smtrail check --strict refuses the "
		    "translation: %s",
		    yamlx_q(q, sizeof(q), r->title, strlen(r->title)),
		    i < dl.n ? dl.items[i].msg : "(no reason given)");
		return false;
	}
	return true;
}

/* One rule into o; false (nothing written) with the reason reported. */
static bool
sigma_put_rule(struct sigma *s, struct sigma_out *o, const struct sigma_rule *r)
{
	struct sigma_expr any;
	const struct sigma_expr *m = r->match;
	struct sigma_expr *kids[16];
	char q[YAMLX_Q_SIZE];
	size_t mark = o->b->len;
	size_t i;

	memset(&any, 0, sizeof(any));
	if (m == NULL) {
		if (r->n_refs > ARRAY_SIZE(kids)) {
			sigma_report(s, r->file, r->line, 1,
			    "refused '%s': "
			    "correlation.rules: more than %zu rules",
			    yamlx_q(q, sizeof(q), r->title, strlen(r->title)),
			    ARRAY_SIZE(kids));
			return false;
		}
		for (i = 0; i < r->n_refs; i++) {
			const struct sigma_rule *b = sigma_find(s, r->refs[i]);

			if (b == NULL) {
				sigma_report(s, r->file, r->line, 1,
				    "refused '%s': correlation.rules: '%s' is "
				    "not among the rules translated",
				    yamlx_q(q, sizeof(q), r->title,
					strlen(r->title)),
				    r->refs[i]);
				return false;
			}
			kids[i] = b->match;
		}
		any.op = SIGMA_OR;
		any.kid = kids;
		any.n = r->n_refs;
		m = r->n_refs == 1 ? kids[0] : &any;
	}
	o->depth = 0;
	o->max_depth = 0;
	sigma_put(o, "\n  # %s: Sigma rule %s\n", r->file, r->id);
	if (r->desc != NULL)
		sigma_put_comment(o, "", r->desc);
	sigma_put(o, "  - id: ");
	sigma_put_str(o, r->id);
	sigma_put(o, "\n    title: ");
	sigma_put_str(o, r->title);
	sigma_put(o, "\n    severity: %s\n    match:\n", r->severity);
	sigma_put_map(o, m, 6, false);
	if (r->counted) {
		sigma_put(o, "    group_by: [");
		for (i = 0; i < r->n_group_by; i++) {
			sigma_put(o, "%s", i > 0 ? ", " : "");
			sigma_put_str(o, r->group_by[i]);
		}
		sigma_put(o, "]\n");
		if (r->distinct) {
			sigma_put(o, "    distinct: {field: ");
			sigma_put_str(o, r->field);
			sigma_put(o, ", count: %u, within: %s}\n", r->count,
			    r->within);
		} else {
			sigma_put(o, "    threshold: {count: %u, within: %s}\n",
			    r->count, r->within);
		}
	}
	if (o->r == 0 && o->max_depth <= RULES_MAX_DEPTH)
		return sigma_check_rule(s, o, r, mark);
	if (o->r == 0 && o->max_depth > RULES_MAX_DEPTH) {
		buf_truncate(o->b, mark);
		sigma_report(s, r->file, r->line, 1,
		    "refused '%s': detection: "
		    "nested %u deep, smtrail allows %u",
		    yamlx_q(q, sizeof(q), r->title, strlen(r->title)),
		    o->max_depth, RULES_MAX_DEPTH);
		return false;
	}
	return true;
}

int
sigma_emit(struct sigma *s, struct buf *out, struct sigma_stats *ret)
{
	struct sigma_out o;
	size_t i;
	size_t j;

	memset(&o, 0, sizeof(o));
	o.b = out;
	/* Base rules a correlation stands for are not written alone. */
	for (i = 0; i < s->n_rules; i++) {
		const struct sigma_rule *c = s->rules[i];

		if (c->match != NULL || c->generate)
			continue;
		for (j = 0; j < c->n_refs; j++) {
			struct sigma_rule *b =
			    (struct sigma_rule *)sigma_find(s, c->refs[j]);

			if (b != NULL && !b->used) {
				b->used = true;
				s->st.absorbed++;
			}
		}
	}
	sigma_put(&o,
	    "# Translated from Sigma by smtrail sigma-import; "
	    "see smtrail-rules(5).\nrules:\n");
	for (i = 0; i < s->n_rules && o.r == 0; i++) {
		if (s->rules[i]->used)
			continue;
		if (sigma_put_rule(s, &o, s->rules[i])) {
			s->rules[i]->emitted = true;
			s->st.translated++;
		} else
			s->st.refused++;
	}
	if (o.r < 0)
		return o.r;
	*ret = s->st;
	return 0;
}
