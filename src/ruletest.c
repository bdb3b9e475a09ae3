/*
 * ruletest.c: see ruletest.h. Loading turns the YAML into cases whose
 * inline records are already JSON (defaults merged, eventID given,
 * eventTime rewritten), so running a case is feeding a fresh replay and
 * matching what it printed against the expectations.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "buf.h"
#include "clock.h"
#include "diag.h"
#include "replay.h"
#include "rules.h"
#include "ruletest.h"
#include "yamlx.h"

/* Ceilings on what one file may ask for. */
#define RT_MAX_CASES 10000
#define RT_MAX_EVENTS 100000
#define RT_MAX_LINE 1024
/* Nesting of a printed alert (no "record"). */
#define RT_ALERT_DEPTH 16
/* Alerts one case may produce before it is cut short. */
#define RT_MAX_ALERTS 100000

enum rt_status { RT_FIRING, RT_RESOLVED };

struct rt_event {
	struct json_object *rec; /* inline; NULL: a file */
	char *path;              /* a log file, resolved */
};

/* A rule id as written, and where. */
struct rt_ref {
	char *id;
	size_t idx; /* in the rules, once bound */
	unsigned line, col;
};

struct rt_expect {
	struct rt_ref rule;
	enum rt_status status;
	long long count; /* < 0: any */
	char *event_id;  /* NULL: any */
	char *secret;    /* NULL: any */
};

struct rt_case {
	char *name;
	bool exact;
	struct rt_event *ev;
	size_t n_ev;
	struct rt_expect *ex;
	size_t n_ex;
	struct rt_ref *quiet;
	size_t n_quiet;
	struct rt_ref *enable;
	size_t n_enable;
};

struct ruletest {
	char *path;
	char *dir;   /* of path, for relative names */
	char *rules; /* resolved; NULL: none given */
	struct rt_case *c;
	size_t n;
};

/* Loading state. */
struct rt_load {
	struct yamlx y;
	struct ruletest *t;
	struct json_object *defaults; /* NULL: none */
};

static const char *const rt_top_keys[] = {"rules", "defaults", "cases", NULL};
static const char *const rt_case_keys[] = {"name", "events", "alerts", "quiet",
    "exact", "enable", NULL};
static const char *const rt_event_keys[] = {"record", "file", "at", NULL};
static const char *const rt_alert_keys[] = {"rule", "status", "count", "event",
    "secret", NULL};

/* ---- YAML to JSON ---------------------------------------------------------
 */

static struct json_object *
rt_json(struct rt_load *l, const struct yamlx_node *n)
{
	struct json_object *o;
	size_t i;

	switch (n->type) {
	case YAMLX_NODE_SCALAR: {
		bool b;
		int64_t iv;
		double d;

		if (!n->plain)
			return json_object_new_string_len(n->s, (int)n->len);
		switch (yamlx_scalar_type(n, &b, &iv, &d)) {
		case YAMLX_SCALAR_NULL:
			return NULL;
		case YAMLX_SCALAR_BOOL:
			return json_object_new_boolean(b);
		case YAMLX_SCALAR_INT:
			return json_object_new_int64(iv);
		case YAMLX_SCALAR_FLOAT:
			return json_object_new_double(d);
		case YAMLX_SCALAR_STRING:
			break;
		}
		return json_object_new_string_len(n->s, (int)n->len);
	}
	case YAMLX_NODE_SEQ:
		o = json_object_new_array();
		for (i = 0; o != NULL && i < n->n; i++)
			(void)json_object_array_add(o, rt_json(l, n->kid[i]));
		return o;
	case YAMLX_NODE_MAP:
		o = json_object_new_object();
		yamlx_map_dups(&l->y, n);
		for (i = 0; o != NULL && i + 1 < n->n; i += 2) {
			const struct yamlx_node *k = n->kid[i];

			if (k->type != YAMLX_NODE_SCALAR ||
			    strlen(k->s) != k->len) {
				yamlx_err(&l->y, k, "expected a field name");
				continue;
			}
			if (json_object_object_get_ex(o, k->s, NULL))
				continue; /* a duplicate, reported */
			(void)json_object_object_add(o, k->s,
			    rt_json(l, n->kid[i + 1]));
		}
		return o;
	case YAMLX_NODE_BAD:
		break;
	}
	return NULL;
}

/* A copy of over onto base: mappings merge, member by member; anything
 * else replaces. over is left as it was (defaults serve every record). */
static int
rt_merge(struct json_object *base, struct json_object *over)
{
	json_object_object_foreach(over, k, v)
	{
		struct json_object *b = NULL;
		struct json_object *copy = NULL;

		if (json_object_object_get_ex(base, k, &b) &&
		    json_object_is_type(b, json_type_object) &&
		    json_object_is_type(v, json_type_object)) {
			if (rt_merge(b, v) < 0)
				return -ENOMEM;
			continue;
		}
		if (v != NULL && json_object_deep_copy(v, &copy, NULL) < 0)
			return -ENOMEM;
		if (json_object_object_add(base, k, copy) < 0) {
			json_object_put(copy);
			return -ENOMEM;
		}
	}
	return 0;
}

/* ---- small parsers --------------------------------------------------------
 */

/* "+5m", "+1d2h", "90s", "0": seconds, at most 365 days. */
static bool
rt_offset(const char *s, int64_t *ret)
{
	int64_t total = 0;

	if (*s == '+')
		s++;
	if (*s == '\0')
		return false;
	while (*s != '\0') {
		int64_t v = 0;
		int64_t unit = 1;

		if (*s < '0' || *s > '9')
			return false;
		while (*s >= '0' && *s <= '9' && v < 100000000)
			v = v * 10 + (*s++ - '0');
		switch (*s) {
		case 'd':
			unit = 86400;
			break;
		case 'h':
			unit = 3600;
			break;
		case 'm':
			unit = 60;
			break;
		case 's':
		case '\0':
			break;
		default:
			return false;
		}
		if (*s != '\0')
			s++;
		total += v * unit;
		if (total > 365 * 86400)
			return false;
	}
	*ret = total;
	return true;
}

static char *
rt_strdup(struct rt_load *l, const char *s)
{
	return yamlx_strdup(&l->y, s, strlen(s));
}

/* A name relative to the test file's directory. */
static char *
rt_resolve(struct rt_load *l, const char *name)
{
	struct buf b;

	if (name[0] == '/' || l->t->dir == NULL)
		return rt_strdup(l, name);
	buf_init(&b, 8192);
	if (buf_printf(&b, "%s/%s", l->t->dir, name) < 0) {
		buf_done(&b);
		l->y.oom = true;
		return NULL;
	}
	return buf_steal(&b);
}

static void
rt_ref(struct rt_load *l, const struct yamlx_node *n, const char *what,
    struct rt_ref *ret)
{
	const char *s = yamlx_str(&l->y, n, what);

	ret->line = n->line;
	ret->col = n->col;
	if (s != NULL)
		ret->id = rt_strdup(l, s);
}

static void
rt_refs(struct rt_load *l, const struct yamlx_node *n, const char *what,
    struct rt_ref **ret, size_t *ret_n)
{
	const struct yamlx_node *const *items;
	size_t k, i;

	if (n->type == YAMLX_NODE_MAP) {
		yamlx_err(&l->y, n, "expected a list of rule ids for '%s'",
		    what);
		return;
	}
	k = yamlx_items((const struct yamlx_node *const *)&n, &items);
	*ret = calloc(k + 1, sizeof(**ret));
	if (*ret == NULL) {
		l->y.oom = true;
		return;
	}
	for (i = 0; i < k; i++)
		rt_ref(l, items[i], what, &(*ret)[i]);
	*ret_n = k;
}

/* ---- cases ----------------------------------------------------------------
 */

static void
rt_alert(struct rt_load *l, const struct yamlx_node *n, struct rt_expect *ex)
{
	const struct yamlx_node *v[ARRAY_SIZE(rt_alert_keys) - 1];
	const char *s;

	ex->count = -1;
	if (n->type == YAMLX_NODE_SCALAR) { /* a rule id alone */
		rt_ref(l, n, "alerts", &ex->rule);
		return;
	}
	if (!yamlx_map(&l->y, n, "alerts"))
		return;
	yamlx_keys(&l->y, n, "alert", rt_alert_keys, ARRAY_SIZE(v), v);
	if (v[0] == NULL)
		yamlx_err(&l->y, n, "an expected alert needs 'rule'");
	else
		rt_ref(l, v[0], "rule", &ex->rule);
	if (v[1] != NULL && (s = yamlx_str(&l->y, v[1], "status")) != NULL) {
		if (strcmp(s, "firing") == 0 || strcmp(s, "triggered") == 0)
			ex->status = RT_FIRING;
		else if (strcmp(s, "resolved") == 0)
			ex->status = RT_RESOLVED;
		else
			yamlx_err(&l->y, v[1],
			    "unknown status (expected firing, triggered or "
			    "resolved)");
	}
	if (v[2] != NULL) {
		bool b;
		int64_t i = 0;
		double d;

		if (v[2]->type != YAMLX_NODE_SCALAR || !v[2]->plain ||
		    yamlx_scalar_type(v[2], &b, &i, &d) != YAMLX_SCALAR_INT ||
		    i < 1)
			yamlx_err(&l->y, v[2],
			    "expected a positive whole number for 'count'");
		else
			ex->count = i;
	}
	if (v[3] != NULL && (s = yamlx_str(&l->y, v[3], "event")) != NULL)
		ex->event_id = rt_strdup(l, s);
	if (v[4] != NULL && (s = yamlx_str(&l->y, v[4], "secret")) != NULL)
		ex->secret = rt_strdup(l, s);
}

/* The record's eventTime in seconds, or false. */
static bool
rt_event_time(struct json_object *rec, time_t *ret)
{
	struct json_object *t;

	return json_object_object_get_ex(rec, "eventTime", &t) &&
	    json_object_is_type(t, json_type_string) &&
	    clock_parse_iso8601(json_object_get_string(t), ret) == 0;
}

static void
rt_event(struct rt_load *l, size_t ci, size_t ei, const struct yamlx_node *n,
    struct rt_event *ev, bool *have_base, time_t *base)
{
	const struct yamlx_node *v[ARRAY_SIZE(rt_event_keys) - 1];
	int64_t at = 0;
	const char *s;

	if (!yamlx_map(&l->y, n, "events"))
		return;
	yamlx_keys(&l->y, n, "event", rt_event_keys, ARRAY_SIZE(v), v);
	if ((v[0] == NULL) == (v[1] == NULL)) {
		yamlx_err(&l->y, n, "an event is either 'record' or 'file'");
		return;
	}
	if (v[2] != NULL) {
		s = yamlx_str(&l->y, v[2], "at");
		if (s != NULL && !rt_offset(s, &at))
			yamlx_err(&l->y, v[2],
			    "expected an offset like +30s, +5m, +2h, +1d2h "
			    "(at most 365 days) for 'at'");
		if (v[1] != NULL)
			yamlx_err(&l->y, v[2],
			    "'at' is for records; a file's events keep their "
			    "times");
	}
	if (v[1] != NULL) {
		s = yamlx_str(&l->y, v[1], "file");
		if (s == NULL)
			return;
		ev->path = rt_resolve(l, s);
		if (ev->path != NULL && access(ev->path, R_OK) < 0)
			yamlx_err(&l->y, v[1], "cannot read %s: %s", ev->path,
			    strerror(errno));
		return;
	}
	if (!yamlx_map(&l->y, v[0], "record"))
		return;
	ev->rec = json_object_new_object();
	if (ev->rec == NULL) {
		l->y.oom = true;
		return;
	}
	{
		struct json_object *o = rt_json(l, v[0]);

		if ((l->defaults != NULL &&
			rt_merge(ev->rec, l->defaults) < 0) ||
		    (o != NULL && rt_merge(ev->rec, o) < 0))
			l->y.oom = true;
		json_object_put(o);
	}
	if (!json_object_object_get_ex(ev->rec, "eventID", NULL)) {
		char id[64];

		(void)snprintf(id, sizeof(id), "case%zu-event%zu", ci + 1,
		    ei + 1);
		(void)json_object_object_add(ev->rec, "eventID",
		    json_object_new_string(id));
	}
	if (!*have_base) {
		if (rt_event_time(ev->rec, base))
			*have_base = true;
		else if (v[2] != NULL ||
		    !json_object_object_get_ex(ev->rec, "eventTime", NULL))
			yamlx_err(&l->y, v[0],
			    "the case's first record needs an eventTime "
			    "(here or in 'defaults') for 'at' to count from");
	}
	if (v[2] != NULL && *have_base) {
		char iso[CLOCK_ISO8601_SIZE];

		if (clock_format_iso8601((uint64_t)(*base + at), iso,
			sizeof(iso)) == 0)
			(void)json_object_object_add(ev->rec, "eventTime",
			    json_object_new_string(iso));
	}
}

static void
rt_case(struct rt_load *l, size_t ci, const struct yamlx_node *n,
    struct rt_case *c)
{
	const struct yamlx_node *v[ARRAY_SIZE(rt_case_keys) - 1];
	const struct yamlx_node *const *items;
	bool have_base = false;
	time_t base = 0;
	const char *s;
	size_t k, i;

	c->exact = true;
	if (!yamlx_map(&l->y, n, "cases"))
		return;
	yamlx_keys(&l->y, n, "case", rt_case_keys, ARRAY_SIZE(v), v);
	if (v[0] == NULL)
		yamlx_err(&l->y, n, "a case needs a 'name'");
	else if ((s = yamlx_str(&l->y, v[0], "name")) != NULL)
		c->name = rt_strdup(l, s);
	if (v[1] == NULL) {
		yamlx_err(&l->y, n, "a case needs 'events'");
	} else if (yamlx_seq(&l->y, v[1], "events")) {
		k = yamlx_items(&v[1], &items);
		if (k > RT_MAX_EVENTS)
			yamlx_err(&l->y, v[1], "more than %d events",
			    RT_MAX_EVENTS);
		c->ev = calloc(k + 1, sizeof(*c->ev));
		if (c->ev == NULL) {
			l->y.oom = true;
			return;
		}
		c->n_ev = k;
		for (i = 0; i < k && !l->y.oom; i++)
			rt_event(l, ci, i, items[i], &c->ev[i], &have_base,
			    &base);
	}
	if (v[2] != NULL && !yamlx_is_null(v[2]) &&
	    yamlx_seq(&l->y, v[2], "alerts")) {
		k = yamlx_items(&v[2], &items);
		c->ex = calloc(k + 1, sizeof(*c->ex));
		if (c->ex == NULL) {
			l->y.oom = true;
			return;
		}
		c->n_ex = k;
		for (i = 0; i < k; i++)
			rt_alert(l, items[i], &c->ex[i]);
	}
	if (v[3] != NULL && !yamlx_is_null(v[3]))
		rt_refs(l, v[3], "quiet", &c->quiet, &c->n_quiet);
	if (v[4] != NULL)
		(void)yamlx_bool(&l->y, v[4], "exact", &c->exact);
	if (v[5] != NULL && !yamlx_is_null(v[5]))
		rt_refs(l, v[5], "enable", &c->enable, &c->n_enable);
	if (v[2] == NULL && v[3] == NULL)
		yamlx_err(&l->y, n,
		    "a case needs 'alerts' (use 'alerts: []' for none) or "
		    "'quiet'");
}

static void
rt_top(const struct yamlx_node *root, void *arg)
{
	const struct yamlx_node *v[ARRAY_SIZE(rt_top_keys) - 1];
	const struct yamlx_node *const *items;
	struct rt_load *l = arg;
	const char *s;
	size_t k, i;

	yamlx_keys(&l->y, root, "test file", rt_top_keys, ARRAY_SIZE(v), v);
	if (v[0] != NULL && (s = yamlx_str(&l->y, v[0], "rules")) != NULL)
		l->t->rules = rt_resolve(l, s);
	if (v[1] != NULL && yamlx_map(&l->y, v[1], "defaults"))
		l->defaults = rt_json(l, v[1]);
	if (v[2] == NULL) {
		yamlx_err(&l->y, root, "a test file needs 'cases'");
		return;
	}
	if (!yamlx_seq(&l->y, v[2], "cases"))
		return;
	k = yamlx_items(&v[2], &items);
	if (k > RT_MAX_CASES) {
		yamlx_err(&l->y, v[2], "more than %d cases", RT_MAX_CASES);
		return;
	}
	l->t->c = calloc(k + 1, sizeof(*l->t->c));
	if (l->t->c == NULL) {
		l->y.oom = true;
		return;
	}
	l->t->n = k;
	for (i = 0; i < k && !l->y.oom; i++)
		rt_case(l, i, items[i], &l->t->c[i]);
}

int
ruletest_load(const char *path, struct ruletest **ret, struct diag_list *diags)
{
	struct ruletest *t;
	struct rt_load l;
	const char *slash;
	char *text = NULL;
	size_t len = 0;
	int r;

	*ret = NULL;
	r = yamlx_read_file(path, RULETEST_MAX_FILE, &text, &len, diags);
	if (r < 0)
		return r;
	t = calloc(1, sizeof(*t));
	if (t == NULL || (t->path = strdup(path)) == NULL) {
		free(t);
		free(text);
		return -ENOMEM;
	}
	slash = strrchr(path, '/');
	if (slash != NULL)
		t->dir = strndup(path, (size_t)(slash - path));
	memset(&l, 0, sizeof(l));
	l.t = t;
	r = yamlx_init(&l.y, path, text, len, RULETEST_MAX_FILE, diags);
	if (r == 0) {
		yamlx_load_map(&l.y, "test", "'cases:'", rt_top, &l);
		r = yamlx_verdict(&l.y);
	}
	json_object_put(l.defaults);
	free(text);
	if (r < 0) {
		ruletest_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

static void
rt_refs_free(struct rt_ref *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i].id);
	free(v);
}

void
ruletest_free(struct ruletest *t)
{
	size_t i, j;

	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++) {
		struct rt_case *c = &t->c[i];

		for (j = 0; c->ev != NULL && j < c->n_ev; j++) {
			json_object_put(c->ev[j].rec);
			free(c->ev[j].path);
		}
		for (j = 0; c->ex != NULL && j < c->n_ex; j++) {
			free(c->ex[j].rule.id);
			free(c->ex[j].event_id);
			free(c->ex[j].secret);
		}
		free(c->name);
		free(c->ev);
		free(c->ex);
		rt_refs_free(c->quiet, c->n_quiet);
		rt_refs_free(c->enable, c->n_enable);
	}
	free(t->c);
	free(t->rules);
	free(t->dir);
	free(t->path);
	free(t);
}

const char *
ruletest_rules(const struct ruletest *t)
{
	return t->rules;
}

size_t
ruletest_count(const struct ruletest *t)
{
	return t->n;
}

/* ---- binding --------------------------------------------------------------
 */

static void
rt_bind_ref(const struct ruletest *t, const struct rules *rs,
    struct rt_ref *ref, struct diag_list *diags)
{
	const char **ids;
	struct yamlx y;
	char hint[YAMLX_Q_SIZE + 32];
	size_t i, n = rules_count(rs);

	if (ref->id == NULL)
		return;
	for (i = 0; i < n; i++)
		if (strcmp(rules_get(rs, i)->id, ref->id) == 0) {
			ref->idx = i;
			return;
		}
	hint[0] = '\0';
	ids = calloc(n + 1, sizeof(*ids));
	if (ids != NULL) {
		for (i = 0; i < n; i++)
			ids[i] = rules_get(rs, i)->id;
		memset(&y, 0, sizeof(y));
		y.diags = diags;
		(void)yamlx_hint(hint, sizeof(hint),
		    yamlx_suggest(&y, ref->id, ids, n, true));
		free(ids);
	}
	(void)diag_list_add(diags, -EINVAL, t->path, ref->line, ref->col,
	    "no rule '%.64s' in the rules%s", ref->id, hint);
}

int
ruletest_bind(struct ruletest *t, const struct rules *rs,
    struct diag_list *diags)
{
	unsigned before = diags->errors;
	size_t i, j;

	for (i = 0; i < t->n; i++) {
		struct rt_case *c = &t->c[i];

		for (j = 0; j < c->n_ex; j++)
			rt_bind_ref(t, rs, &c->ex[j].rule, diags);
		for (j = 0; j < c->n_quiet; j++)
			rt_bind_ref(t, rs, &c->quiet[j], diags);
		for (j = 0; j < c->n_enable; j++)
			rt_bind_ref(t, rs, &c->enable[j], diags);
	}
	return diags->errors != before ? -EINVAL : 0;
}

/* ---- running --------------------------------------------------------------
 */

/* One alert a case produced. */
struct rt_seen {
	char *rule;
	enum rt_status status;
	long long count;
	char *event_id;
	char *secret;
	bool claimed;
};

/* Why an expected rule did not match: the first few events it missed,
 * as replay --explain says it (rules_explain()), kept while the case is
 * fed (the records' derived fields are there then). */
#define RT_WHY_LINES 3
#define RT_WHY_SIZE 700

struct rt_run {
	struct json_tokener *tok;
	struct rt_seen *v;
	size_t n, cap;
	int err;
	const struct rt_case *c;
	const struct rules *rs;
	const char *rules_file;
	char (*why)[RT_WHY_LINES][RT_WHY_SIZE]; /* per expectation */
	unsigned *n_why;
};

static char *
rt_member(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return strdup(json_object_get_string(v));
}

/* replay's print hook: keep what matters of the alert line. */
static int
rt_collect(const char *line, size_t len, void *arg)
{
	struct rt_run *run = arg;
	struct json_object *o, *v;
	struct rt_seen *s;

	if (run->n == run->cap) {
		size_t cap = run->cap != 0 ? run->cap * 2 : 16;
		struct rt_seen *nv;

		if (cap > RT_MAX_ALERTS)
			return run->err = -E2BIG;
		nv = realloc(run->v, cap * sizeof(*nv));
		if (nv == NULL)
			return run->err = -ENOMEM;
		run->v = nv;
		run->cap = cap;
	}
	if (len > INT_MAX)
		return run->err = -E2BIG;
	o = json_tokener_parse_ex(run->tok, line, (int)len);
	json_tokener_reset(run->tok);
	if (o == NULL)
		return run->err = -EBADMSG;
	s = &run->v[run->n++];
	memset(s, 0, sizeof(*s));
	s->rule = rt_member(o, "rule");
	s->event_id = rt_member(o, "eventID");
	s->secret = rt_member(o, "secretId");
	s->count = 1;
	if (json_object_object_get_ex(o, "count", &v) &&
	    json_object_is_type(v, json_type_int))
		s->count = json_object_get_int64(v);
	s->status = json_object_object_get_ex(o, "status", &v) &&
		json_object_is_type(v, json_type_string) &&
		strcmp(json_object_get_string(v), "resolved") == 0
	    ? RT_RESOLVED
	    : RT_FIRING;
	json_object_put(o);
	return 0;
}

static void
rt_run_done(struct rt_run *run)
{
	size_t i;

	for (i = 0; i < run->n; i++) {
		free(run->v[i].rule);
		free(run->v[i].event_id);
		free(run->v[i].secret);
	}
	free(run->v);
	free(run->why);
	free(run->n_why);
	if (run->tok != NULL)
		json_tokener_free(run->tok);
}

/* replay's "fed" hook: each expected rule explained on the record. */
static int
rt_explain(struct json_object *rec, void *arg)
{
	struct rt_run *run = arg;
	struct json_object *v;
	struct rules_why w;
	const char *id;
	char text[RT_WHY_SIZE - 80];
	size_t i;

	id = json_object_object_get_ex(rec, "eventID", &v)
	    ? json_object_get_string(v)
	    : NULL;
	for (i = 0; i < run->c->n_ex; i++) {
		const struct rule *rule =
		    rules_get(run->rs, run->c->ex[i].rule.idx);

		if (run->n_why[i] >= RT_WHY_LINES ||
		    rules_explain(rule, rec, &w) != 0)
			continue;
		(void)snprintf(run->why[i][run->n_why[i]++], RT_WHY_SIZE,
		    "%.64s: %s", id != NULL ? id : "(no eventID)",
		    rules_why_format(&w,
			run->rules_file != NULL ? run->rules_file : "rules",
			text, sizeof(text)));
	}
	return 0;
}

static bool
rt_fits(const struct rt_expect *ex, const struct rt_seen *s)
{
	return s->rule != NULL && strcmp(ex->rule.id, s->rule) == 0 &&
	    ex->status == s->status &&
	    (ex->count < 0 || ex->count == s->count) &&
	    (ex->event_id == NULL ||
		(s->event_id != NULL &&
		    strcmp(ex->event_id, s->event_id) == 0)) &&
	    (ex->secret == NULL ||
		(s->secret != NULL && strcmp(ex->secret, s->secret) == 0));
}

static const char *
rt_status_str(enum rt_status s)
{
	return s == RT_RESOLVED ? "resolved" : "firing";
}

static int rt_say(const struct ruletest_hooks *h, const char *fmt, ...)
    PRINTF_LIKE(2, 3);

static int
rt_say(const struct ruletest_hooks *h, const char *fmt, ...)
{
	char line[RT_MAX_LINE];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	return h->line(line, h->arg);
}

static void
rt_describe_ex(const struct rt_expect *ex, char *buf, size_t size)
{
	char count[32] = "";

	if (ex->count >= 0)
		(void)snprintf(count, sizeof(count), " count=%lld", ex->count);
	(void)snprintf(buf, size, "%.64s %s%s%s%.64s%s%.128s", ex->rule.id,
	    rt_status_str(ex->status), count, ex->event_id ? " event=" : "",
	    ex->event_id ? ex->event_id : "", ex->secret ? " secret=" : "",
	    ex->secret ? ex->secret : "");
}

static void
rt_describe_seen(const struct rt_seen *s, char *buf, size_t size)
{
	(void)snprintf(buf, size,
	    "%.64s %s count=%lld event=%.64s secret=%.128s",
	    s->rule != NULL ? s->rule : "?", rt_status_str(s->status), s->count,
	    s->event_id != NULL ? s->event_id : "-",
	    s->secret != NULL ? s->secret : "-");
}

static bool
rt_is_quiet(const struct rt_case *c, const char *rule)
{
	size_t i;

	for (i = 0; rule != NULL && i < c->n_quiet; i++)
		if (strcmp(c->quiet[i].id, rule) == 0)
			return true;
	return false;
}

/* Feeds the case; < 0 with msg: a log file it names is damaged, or (with
 * *ret_fatal) the pipeline failed. */
static int
rt_feed(const struct rt_case *c, const struct rules *rs, struct rt_run *run,
    char *msg, size_t size, bool *ret_fatal)
{
	struct replay_opts ro;
	struct replay *rp = NULL;
	struct diag d;
	size_t i;
	int r;

	ro = (struct replay_opts){.rules = rs,
	    .print = rt_collect,
	    .fed = rt_explain,
	    .arg = run};
	memset(&d, 0, sizeof(d));
	r = replay_new(&ro, &rp, &d);
	*ret_fatal = r < 0;
	for (i = 0; r == 0 && i < c->n_ev; i++) {
		if (c->ev[i].rec != NULL)
			r = replay_record(rp, c->ev[i].rec);
		else
			r = replay_file(rp, c->ev[i].path, NULL, &d);
	}
	if (r == 0)
		r = replay_finish(rp);
	if (r < 0) {
		if (run->err < 0)
			r = run->err;
		if (r == -ENOMEM)
			*ret_fatal = true;
		if (d.msg[0] != '\0')
			(void)diag_format(&d, msg, size);
		else
			(void)snprintf(msg, size, "%s", strerror(-r));
	}
	replay_free(rp);
	return r;
}

/* Compares, says "ok"/"not ok" and, when the case fails, the diff. 1:
 * passed, 0: failed, < 0: the hook failed. */
static int
rt_judge(const struct rt_case *c, struct rt_run *run,
    const struct ruletest_hooks *h, size_t number)
{
	bool *met;
	char text[512];
	bool ok = true;
	size_t i, j;
	int r = 0;

	met = calloc(c->n_ex + 1, sizeof(*met));
	if (met == NULL)
		return -ENOMEM;
	for (i = 0; i < c->n_ex; i++) {
		for (j = 0; j < run->n; j++)
			if (!run->v[j].claimed &&
			    rt_fits(&c->ex[i], &run->v[j]))
				break;
		if (j < run->n) {
			run->v[j].claimed = true;
			met[i] = true;
		} else {
			ok = false;
		}
	}
	for (j = 0; j < run->n; j++)
		if (!run->v[j].claimed &&
		    (c->exact || rt_is_quiet(c, run->v[j].rule)))
			ok = false;
	if (ok) {
		free(met);
		r = rt_say(h, "ok %zu - %s", number, c->name);
		return r < 0 ? r : 1;
	}
	r = rt_say(h, "not ok %zu - %s", number, c->name);
	if (r >= 0)
		r = rt_say(h, "# expected (-) and seen (+) alerts:");
	for (i = 0; r >= 0 && i < c->n_ex; i++) {
		rt_describe_ex(&c->ex[i], text, sizeof(text));
		r = rt_say(h, "# %c %s%s", met[i] ? ' ' : '-', text,
		    met[i] ? "" : "  (expected, not seen)");
		for (j = 0; r >= 0 && !met[i] && j < run->n_why[i]; j++)
			r = rt_say(h, "#     no match: %s", run->why[i][j]);
	}
	for (j = 0; r >= 0 && j < run->n; j++) {
		const struct rt_seen *s = &run->v[j];
		bool q = rt_is_quiet(c, s->rule);

		if (s->claimed || (!c->exact && !q))
			continue;
		rt_describe_seen(s, text, sizeof(text));
		r = rt_say(h, "# + %s  (%s)", text,
		    q ? "must stay quiet" : "not expected");
	}
	free(met);
	return r < 0 ? r : 0;
}

int
ruletest_run(struct ruletest *t, struct rules *rs,
    const struct ruletest_hooks *h, size_t *number, struct ruletest_stats *st,
    char *reterr_msg, size_t size)
{
	size_t i, j;
	int r = 0;

	for (i = 0; r >= 0 && i < t->n; i++) {
		const struct rt_case *c = &t->c[i];
		struct rt_run run;
		bool *was;
		char msg[600] = "";
		bool fatal = false;

		memset(&run, 0, sizeof(run));
		/* Alert lines are one object a few levels deep ("readers"). */
		run.tok = json_tokener_new_ex(RT_ALERT_DEPTH);
		run.c = c;
		run.rs = rs;
		run.rules_file = h->rules_file;
		run.why = calloc(c->n_ex + 1, sizeof(*run.why));
		run.n_why = calloc(c->n_ex + 1, sizeof(*run.n_why));
		was = calloc(c->n_enable + 1, sizeof(*was));
		if (was == NULL || run.tok == NULL || run.why == NULL ||
		    run.n_why == NULL) {
			free(was);
			rt_run_done(&run);
			(void)snprintf(reterr_msg, size, "%s",
			    strerror(ENOMEM));
			return -ENOMEM;
		}
		for (j = 0; j < c->n_enable; j++) {
			was[j] = rules_get(rs, c->enable[j].idx)->enabled;
			rules_set_enabled(rs, c->enable[j].idx, true);
		}
		r = rt_feed(c, rs, &run, msg, sizeof(msg), &fatal);
		for (j = c->n_enable; j-- > 0;)
			rules_set_enabled(rs, c->enable[j].idx, was[j]);
		free(was);
		(*number)++;
		if (r < 0 && !fatal) {
			/* A log file the case names is damaged: the case
			 * fails, the run goes on. */
			st->failed++;
			r = rt_say(h, "not ok %zu - %s", *number, c->name);
			if (r >= 0)
				r = rt_say(h, "# %s", msg);
		} else if (r < 0) {
			(void)snprintf(reterr_msg, size, "%s: case '%s': %s",
			    t->path, c->name, msg);
		} else {
			r = rt_judge(c, &run, h, *number);
			if (r == 1)
				st->passed++;
			else if (r == 0)
				st->failed++;
			if (r < 0)
				(void)snprintf(reterr_msg, size, "%s",
				    strerror(-r));
		}
		rt_run_done(&run);
	}
	return r < 0 ? r : 0;
}
