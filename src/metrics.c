/*
 * metrics.c: see metrics.h. Families live in an array sorted by name, each
 * family's series in an array sorted by label value, so lookups are binary
 * searches at registration and rendering walks them in order. A handle is
 * the series itself (allocated once, never moved), so an update is one
 * store. Rendering and serving allocate; updating never does.
 *
 * Numbers are formatted with snprintf and checked with strtod, which follow
 * LC_NUMERIC: the daemon never calls setlocale(), so that is "C".
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "diag.h"
#include "metrics.h"

/* A request to the metrics port carries no body worth reading; a small
 * allowance lets a stray POST get its 405 rather than a 413. */
#define METRICS_MAX_REQUEST_BODY 1024
/* Seconds a client may take to send its request or read the answer. */
#define METRICS_HTTP_TIMEOUT_S 10
#define METRICS_LISTEN_BACKLOG 16

const double metrics_lag_buckets[10] = {1, 5, 15, 30, 60, 120, 300, 600, 1800,
    3600};

enum metrics_type {
	METRICS_TYPE_COUNTER,
	METRICS_TYPE_GAUGE,
	METRICS_TYPE_HISTOGRAM,
	METRICS_TYPE_COUNT
};

struct metrics_family;

/* What every kind of series starts with; the handles embed it first. */
struct metrics_series {
	struct metrics_family *fam;
	char *label_value; /* NULL when the family has no label */
};

struct metrics_counter {
	struct metrics_series s;
	uint64_t value;
};

struct metrics_gauge {
	struct metrics_series s;
	double value;
};

struct metrics_histogram {
	struct metrics_series s;
	const double *buckets; /* the family's */
	size_t n_buckets;
	double sum;
	uint64_t count;
	uint64_t counts[]; /* per bucket, not cumulative; [n_buckets] is +Inf */
};

struct metrics_family {
	char *name;
	char *help;
	char *label_name; /* NULL: no label */
	char *fixed;      /* metrics_info()'s labels, rendered; else NULL */
	enum metrics_type type;
	double *buckets; /* histograms only */
	size_t n_buckets;
	struct metrics_series **series; /* sorted by label value */
	size_t n_series;
	size_t cap_series;
};

struct metrics {
	struct metrics_family **fams; /* sorted by name */
	size_t n_fams;
	size_t cap_fams;
	size_t n_series;
	int status; /* first registration failure */

	struct evhttp *http;
	int port;
	metrics_health_cb *health_cb;
	void *health_arg;
	metrics_scrape_cb *scrape_cb;
	void *scrape_arg;
	struct buf page;        /* the /metrics answer, reused */
	struct buf health_text; /* the health callback's, reused */
};

static const char *
metrics_type_str(enum metrics_type t)
{
	switch (t) {
	case METRICS_TYPE_COUNTER:
		return "counter";
	case METRICS_TYPE_GAUGE:
		return "gauge";
	case METRICS_TYPE_HISTOGRAM:
		return "histogram";
	case METRICS_TYPE_COUNT:
		break;
	}
	return "untyped";
}

int
metrics_new(struct metrics **ret)
{
	struct metrics *m;

	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	buf_init(&m->page, METRICS_MAX_RENDER);
	buf_init(&m->health_text, METRICS_MAX_HEALTH);
	*ret = m;
	return 0;
}

static void
metrics_series_free(struct metrics_series *s)
{
	if (s == NULL)
		return;
	free(s->label_value);
	free(s);
}

static void
metrics_family_free(struct metrics_family *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->n_series; i++)
		metrics_series_free(f->series[i]);
	free(f->series);
	free(f->name);
	free(f->help);
	free(f->label_name);
	free(f->fixed);
	free(f->buckets);
	free(f);
}

void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	if (m->http != NULL)
		evhttp_free(m->http);
	for (size_t i = 0; i < m->n_fams; i++)
		metrics_family_free(m->fams[i]);
	free(m->fams);
	buf_done(&m->page);
	buf_done(&m->health_text);
	free(m);
}

int
metrics_status(const struct metrics *m)
{
	return m != NULL ? m->status : 0;
}

/* ---- registration ---------------------------------------------------- */

static bool
metrics_name_valid(const char *s, bool colon)
{
	if (s == NULL || *s == '\0')
		return false;
	for (const char *p = s; *p != '\0'; p++) {
		char c = *p;
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    c == '_' || (colon && c == ':');

		if (!alpha && (p == s || c < '0' || c > '9'))
			return false;
	}
	return true;
}

/* Well-formed UTF-8: no overlong forms, surrogates or values past U+10FFFF.
 */
static bool
metrics_utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		unsigned c = *p;
		unsigned lo = 0x80;
		unsigned hi = 0xbf;
		int n;

		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else {
			return false;
		}
		p++;
		for (int i = 0; i < n; i++, p++) {
			if (*p < lo || *p > hi)
				return false;
			lo = 0x80;
			hi = 0xbf;
		}
	}
	return true;
}

static int
metrics_fail(struct metrics *m, int r)
{
	if (m->status == 0)
		m->status = r;
	return r;
}

static int
metrics_check_args(enum metrics_type type, const char *name, const char *help,
    const char *label_name, const char *label_value, const double *buckets,
    size_t n_buckets)
{
	if (!metrics_name_valid(name, true) || help == NULL)
		return -EINVAL;
	if ((label_name == NULL) != (label_value == NULL))
		return -EINVAL;
	if (label_name != NULL && strchr(label_name, METRICS_PAIR) != NULL) {
		/* metrics_counter_pair(): both names checked there. */
		if (strlen(label_value) > 2 * METRICS_MAX_LABEL_VALUE + 1)
			return -E2BIG;
		if (!metrics_utf8_valid(label_value))
			return -EINVAL;
	} else if (label_name != NULL) {
		if (!metrics_name_valid(label_name, false) ||
		    strncmp(label_name, "__", 2) == 0)
			return -EINVAL;
		if (type == METRICS_TYPE_HISTOGRAM &&
		    strcmp(label_name, "le") == 0)
			return -EINVAL;
		if (strlen(label_value) > METRICS_MAX_LABEL_VALUE)
			return -E2BIG;
		if (!metrics_utf8_valid(label_value))
			return -EINVAL;
	}
	if (type != METRICS_TYPE_HISTOGRAM)
		return 0;
	if (buckets == NULL || n_buckets == 0 ||
	    n_buckets > METRICS_MAX_BUCKETS)
		return -EINVAL;
	for (size_t i = 0; i < n_buckets; i++) {
		if (!isfinite(buckets[i]))
			return -EINVAL;
		if (i > 0 && !(buckets[i] > buckets[i - 1]))
			return -EINVAL;
	}
	return 0;
}

static bool
metrics_str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Does an existing family agree with a new registration? */
static bool
metrics_family_matches(const struct metrics_family *f, enum metrics_type type,
    const char *help, const char *label_name, const double *buckets,
    size_t n_buckets)
{
	if (f->type != type || strcmp(f->help, help) != 0 ||
	    !metrics_str_eq(f->label_name, label_name))
		return false;
	if (type != METRICS_TYPE_HISTOGRAM)
		return true;
	if (f->n_buckets != n_buckets)
		return false;
	for (size_t i = 0; i < n_buckets; i++) {
		if (f->buckets[i] != buckets[i])
			return false;
	}
	return true;
}

/* Appends to a buffer, remembering the first failure so that a page is
 * written as a sequence of calls and checked once. */
struct metrics_out {
	struct buf *b;
	int r;
};

static void metrics_put(struct metrics_out *o, const char *s);
static void metrics_put_escaped(struct metrics_out *o, const char *s,
    bool quote);

/* Compares entry i of set, kept sorted, with the key sought. */
typedef int metrics_cmp_fn(const void *set, size_t i, const void *key);

/* Binary search of set's n entries: the index of key, or where it would
 * go (*found false). */
static size_t
metrics_search(const void *set, size_t n, metrics_cmp_fn *cmp, const void *key,
    bool *found)
{
	size_t lo = 0;
	size_t hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp(set, mid, key);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static int
metrics_family_cmp(const void *set, size_t i, const void *key)
{
	const struct metrics *m = set;

	return strcmp(m->fams[i]->name, key);
}

/* Index of name in m->fams, or where it would go (*found false). */
static size_t
metrics_family_find(const struct metrics *m, const char *name, bool *found)
{
	return metrics_search(m, m->n_fams, metrics_family_cmp, name, found);
}

/* NULL (no label) sorts before every value. */
static int
metrics_label_cmp(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a != NULL) - (b != NULL);
	return strcmp(a, b);
}

static int
metrics_series_cmp(const void *set, size_t i, const void *key)
{
	const struct metrics_family *f = set;

	return metrics_label_cmp(f->series[i]->label_value, key);
}

static size_t
metrics_series_find(const struct metrics_family *f, const char *value,
    bool *found)
{
	return metrics_search(f, f->n_series, metrics_series_cmp, value, found);
}

/* Room for one more family or series pointer. Two copies rather than one
 * through void ***, which would break strict aliasing. */
static int
metrics_grow_fams(struct metrics *m)
{
	struct metrics_family **a;
	size_t cap;

	if (m->n_fams < m->cap_fams)
		return 0;
	cap = m->cap_fams != 0 ? m->cap_fams * 2 : 16;
	a = realloc(m->fams, cap * sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	m->fams = a;
	m->cap_fams = cap;
	return 0;
}

static int
metrics_grow_series(struct metrics_family *f)
{
	struct metrics_series **a;
	size_t cap;

	if (f->n_series < f->cap_series)
		return 0;
	cap = f->cap_series != 0 ? f->cap_series * 2 : 4;
	a = realloc(f->series, cap * sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	f->series = a;
	f->cap_series = cap;
	return 0;
}

static struct metrics_family *
metrics_family_new(enum metrics_type type, const char *name, const char *help,
    const char *label_name, const double *buckets, size_t n_buckets)
{
	struct metrics_family *f;

	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->type = type;
	f->name = strdup(name);
	f->help = strdup(help);
	if (f->name == NULL || f->help == NULL)
		goto fail;
	if (label_name != NULL) {
		f->label_name = strdup(label_name);
		if (f->label_name == NULL)
			goto fail;
	}
	if (type == METRICS_TYPE_HISTOGRAM) {
		f->buckets = calloc(n_buckets, sizeof(*f->buckets));
		if (f->buckets == NULL)
			goto fail;
		memcpy(f->buckets, buckets, n_buckets * sizeof(*f->buckets));
		f->n_buckets = n_buckets;
	}
	return f;
fail:
	metrics_family_free(f);
	return NULL;
}

static struct metrics_series *
metrics_series_new(struct metrics_family *f, const char *label_value)
{
	struct metrics_series *s;
	struct metrics_histogram *h;
	size_t size = 0;

	switch (f->type) {
	case METRICS_TYPE_COUNTER:
		size = sizeof(struct metrics_counter);
		break;
	case METRICS_TYPE_GAUGE:
		size = sizeof(struct metrics_gauge);
		break;
	case METRICS_TYPE_HISTOGRAM:
		size = sizeof(struct metrics_histogram) +
		    (f->n_buckets + 1) * sizeof(uint64_t);
		break;
	case METRICS_TYPE_COUNT:
		return NULL;
	}
	s = calloc(1, size);
	if (s == NULL)
		return NULL;
	s->fam = f;
	if (label_value != NULL) {
		s->label_value = strdup(label_value);
		if (s->label_value == NULL) {
			free(s);
			return NULL;
		}
	}
	if (f->type == METRICS_TYPE_HISTOGRAM) {
		h = (struct metrics_histogram *)s;
		h->buckets = f->buckets;
		h->n_buckets = f->n_buckets;
	}
	return s;
}

/*
 * Finds or creates a series. Everything that can fail (arrays grown, the
 * family and series allocated) happens before anything is inserted, so a
 * failure leaves the registry as it was.
 */
static struct metrics_series *
metrics_register(struct metrics *m, enum metrics_type type, const char *name,
    const char *help, const char *label_name, const char *label_value,
    const double *buckets, size_t n_buckets)
{
	struct metrics_family *f = NULL;
	struct metrics_family *nf = NULL;
	struct metrics_series *s;
	size_t fi;
	size_t si = 0;
	bool found;
	int r;

	if (m == NULL)
		return NULL;
	r = metrics_check_args(type, name, help, label_name, label_value,
	    buckets, n_buckets);
	if (r < 0)
		goto fail;
	fi = metrics_family_find(m, name, &found);
	if (found) {
		f = m->fams[fi];
		if (!metrics_family_matches(f, type, help, label_name, buckets,
			n_buckets)) {
			r = -EINVAL;
			goto fail;
		}
		si = metrics_series_find(f, label_value, &found);
		if (found)
			return f->series[si];
	}
	if (m->n_series >= METRICS_MAX_SERIES) {
		r = -E2BIG;
		goto fail;
	}
	r = -ENOMEM;
	if (f == NULL) {
		if (metrics_grow_fams(m) < 0)
			goto fail;
		nf = metrics_family_new(type, name, help, label_name, buckets,
		    n_buckets);
		if (nf == NULL)
			goto fail;
		f = nf;
	}
	if (metrics_grow_series(f) < 0)
		goto fail;
	s = metrics_series_new(f, label_value);
	if (s == NULL)
		goto fail;

	memmove(f->series + si + 1, f->series + si,
	    (f->n_series - si) * sizeof(*f->series));
	f->series[si] = s;
	f->n_series++;
	if (nf != NULL) {
		memmove(m->fams + fi + 1, m->fams + fi,
		    (m->n_fams - fi) * sizeof(*m->fams));
		m->fams[fi] = nf;
		m->n_fams++;
	}
	m->n_series++;
	return s;
fail:
	metrics_family_free(nf);
	(void)metrics_fail(m, r);
	return NULL;
}

struct metrics_counter *
metrics_counter(struct metrics *m, const char *name, const char *help,
    const char *label_name, const char *label_value)
{
	return (struct metrics_counter *)metrics_register(m,
	    METRICS_TYPE_COUNTER, name, help, label_name, label_value, NULL, 0);
}

struct metrics_counter *
metrics_counter_pair(struct metrics *m, const char *name, const char *help,
    const char *const labels[4])
{
	char ln[2 * METRICS_MAX_LABEL_VALUE + 2];
	char lv[2 * METRICS_MAX_LABEL_VALUE + 2];
	int i;

	for (i = 0; i < 4; i += 2) {
		if (labels[i] == NULL || labels[i + 1] == NULL ||
		    !metrics_name_valid(labels[i], false) ||
		    strncmp(labels[i], "__", 2) == 0 ||
		    strlen(labels[i]) > METRICS_MAX_LABEL_VALUE ||
		    strchr(labels[i + 1], METRICS_PAIR) != NULL) {
			(void)metrics_fail(m, -EINVAL);
			return NULL;
		}
		if (strlen(labels[i + 1]) > METRICS_MAX_LABEL_VALUE) {
			(void)metrics_fail(m, -E2BIG);
			return NULL;
		}
	}
	if (strcmp(labels[0], labels[2]) == 0) {
		(void)metrics_fail(m, -EINVAL);
		return NULL;
	}
	(void)snprintf(ln, sizeof(ln), "%s%c%s", labels[0], METRICS_PAIR,
	    labels[2]);
	(void)snprintf(lv, sizeof(lv), "%s%c%s", labels[1], METRICS_PAIR,
	    labels[3]);
	return (struct metrics_counter *)metrics_register(m,
	    METRICS_TYPE_COUNTER, name, help, ln, lv, NULL, 0);
}

struct metrics_gauge *
metrics_gauge(struct metrics *m, const char *name, const char *help,
    const char *label_name, const char *label_value)
{
	return (struct metrics_gauge *)metrics_register(m, METRICS_TYPE_GAUGE,
	    name, help, label_name, label_value, NULL, 0);
}

struct metrics_histogram *
metrics_histogram(struct metrics *m, const char *name, const char *help,
    const char *label_name, const char *label_value, const double *buckets,
    size_t n_buckets)
{
	return (struct metrics_histogram *)metrics_register(m,
	    METRICS_TYPE_HISTOGRAM, name, help, label_name, label_value,
	    buckets, n_buckets);
}

/* The labels rendered as name="value",... into out; -EINVAL, -E2BIG as
 * metrics_check_args() says. */
static int
metrics_fixed_labels(const char *const *labels, size_t n_labels,
    struct buf *out)
{
	for (size_t i = 0; i < n_labels; i++) {
		const char *name = labels[2 * i];
		const char *value = labels[2 * i + 1];
		struct metrics_out o = {out, 0};
		int r;

		r = metrics_check_args(METRICS_TYPE_GAUGE, "x", "", name, value,
		    NULL, 0);
		if (r < 0)
			return r;
		for (size_t k = 0; k < i; k++)
			if (strcmp(labels[2 * k], name) == 0)
				return -EINVAL;
		if (i > 0)
			metrics_put(&o, ",");
		metrics_put(&o, name);
		metrics_put(&o, "=\"");
		metrics_put_escaped(&o, value, true);
		metrics_put(&o, "\"");
		if (o.r < 0)
			return o.r;
	}
	return 0;
}

struct metrics_gauge *
metrics_info(struct metrics *m, const char *name, const char *help,
    const char *const *labels, size_t n_labels)
{
	struct metrics_gauge *g;
	struct metrics_family *f;
	struct buf b;
	bool found;
	size_t fi;
	int r;

	if (m == NULL)
		return NULL;
	buf_init(&b, METRICS_MAX_INFO);
	r = n_labels == 0 || labels == NULL
	    ? -EINVAL
	    : metrics_fixed_labels(labels, n_labels, &b);
	if (r == 0 && buf_puts(&b, "") < 0)
		r = -ENOMEM;
	if (r < 0) {
		buf_done(&b);
		(void)metrics_fail(m, r);
		return NULL;
	}
	fi = metrics_family_find(m, name, &found);
	if (found) {
		f = m->fams[fi];
		if (f->fixed == NULL || strcmp(f->fixed, b.data) != 0) {
			buf_done(&b);
			(void)metrics_fail(m, -EINVAL);
			return NULL;
		}
	}
	g = metrics_gauge(m, name, help, NULL, NULL);
	if (g != NULL && !found) {
		g->s.fam->fixed = strdup(b.data);
		if (g->s.fam->fixed == NULL)
			(void)metrics_fail(m, -ENOMEM);
		g->value = 1;
	}
	buf_done(&b);
	return g;
}

/* ---- updates --------------------------------------------------------- */

void
metrics_inc(struct metrics_counter *c, uint64_t n)
{
	if (c != NULL)
		c->value += n;
}

void
metrics_gauge_set(struct metrics_gauge *g, double v)
{
	if (g != NULL)
		g->value = v;
}

void
metrics_gauge_add(struct metrics_gauge *g, double delta)
{
	if (g != NULL)
		g->value += delta;
}

void
metrics_observe(struct metrics_histogram *h, double v)
{
	size_t i;

	if (h == NULL || isnan(v))
		return;
	/* Linear: a handful of buckets, and the common case is the first. */
	for (i = 0; i < h->n_buckets; i++) {
		if (v <= h->buckets[i])
			break;
	}
	h->counts[i]++;
	h->count++;
	h->sum += v;
}

uint64_t
metrics_counter_value(const struct metrics_counter *c)
{
	return c != NULL ? c->value : 0;
}

double
metrics_gauge_value(const struct metrics_gauge *g)
{
	return g != NULL ? g->value : 0;
}

/* ---- rendering ------------------------------------------------------- */

static void
metrics_put(struct metrics_out *o, const char *s)
{
	if (o->r == 0)
		o->r = buf_puts(o->b, s);
}

/* HELP text escapes backslash and newline; label values also '"'. */
static void
metrics_put_escaped(struct metrics_out *o, const char *s, bool quote)
{
	const char *run = s;

	for (const char *p = s;; p++) {
		const char *esc = NULL;

		if (*p == '\\')
			esc = "\\\\";
		else if (*p == '\n')
			esc = "\\n";
		else if (*p == '"' && quote)
			esc = "\\\"";
		else if (*p != '\0')
			continue;
		if (o->r == 0 && p > run)
			o->r = buf_append(o->b, run, (size_t)(p - run));
		if (esc == NULL)
			return;
		metrics_put(o, esc);
		run = p + 1;
	}
}

/* %.15g when it reads back as v (0.1, not 0.10000000000000001), else
 * %.17g, which always does; Inf and NaN as the format spells them. */
static const char *
metrics_fmt_double(double v, char *tmp, size_t size)
{
	if (isnan(v))
		return "NaN";
	if (isinf(v))
		return v > 0 ? "+Inf" : "-Inf";
	(void)snprintf(tmp, size, "%.15g", v);
	if (strtod(tmp, NULL) != v)
		(void)snprintf(tmp, size, "%.17g", v);
	return tmp;
}

static void
metrics_put_double(struct metrics_out *o, double v)
{
	char tmp[40];

	metrics_put(o, metrics_fmt_double(v, tmp, sizeof(tmp)));
}

static void
metrics_put_u64(struct metrics_out *o, uint64_t v)
{
	char tmp[24];

	(void)snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
	metrics_put(o, tmp);
}

/* A pair's names and values, "a\x1fb": a="x",b="y". */
static void
metrics_put_pair(struct metrics_out *o, const char *names, const char *values)
{
	char buf[2 * METRICS_MAX_LABEL_VALUE + 2];
	const char *nsep = strchr(names, METRICS_PAIR);
	const char *vsep = strchr(values, METRICS_PAIR);
	size_t nl = (size_t)(nsep - names);
	size_t vl;

	assert(nsep != NULL && vsep != NULL);
	vl = (size_t)(vsep - values);
	(void)snprintf(buf, sizeof(buf), "%.*s", (int)nl, names);
	metrics_put(o, buf);
	metrics_put(o, "=\"");
	(void)snprintf(buf, sizeof(buf), "%.*s", (int)vl, values);
	metrics_put_escaped(o, buf, true);
	metrics_put(o, "\",");
	metrics_put(o, nsep + 1);
	metrics_put(o, "=\"");
	metrics_put_escaped(o, vsep + 1, true);
	metrics_put(o, "\"");
}

/* name[suffix][{label="value"[,le="bound"]}] then a space. */
static void
metrics_put_sample_name(struct metrics_out *o, const struct metrics_series *s,
    const char *suffix, const char *le)
{
	const struct metrics_family *f = s->fam;
	bool braces = f->label_name != NULL || le != NULL || f->fixed != NULL;

	metrics_put(o, f->name);
	if (suffix != NULL)
		metrics_put(o, suffix);
	if (braces)
		metrics_put(o, "{");
	if (f->fixed != NULL)
		metrics_put(o, f->fixed);
	if (f->label_name != NULL && strchr(f->label_name, METRICS_PAIR)) {
		metrics_put_pair(o, f->label_name, s->label_value);
	} else if (f->label_name != NULL) {
		metrics_put(o, f->label_name);
		metrics_put(o, "=\"");
		metrics_put_escaped(o, s->label_value, true);
		metrics_put(o, "\"");
	}
	if (le != NULL) {
		if (f->label_name != NULL)
			metrics_put(o, ",");
		metrics_put(o, "le=\"");
		metrics_put(o, le);
		metrics_put(o, "\"");
	}
	if (braces)
		metrics_put(o, "}");
	metrics_put(o, " ");
}

static void
metrics_put_histogram(struct metrics_out *o, const struct metrics_histogram *h)
{
	uint64_t cum = 0;
	char tmp[40];

	for (size_t i = 0; i < h->n_buckets; i++) {
		cum += h->counts[i];
		metrics_put_sample_name(o, &h->s, "_bucket",
		    metrics_fmt_double(h->buckets[i], tmp, sizeof(tmp)));
		metrics_put_u64(o, cum);
		metrics_put(o, "\n");
	}
	metrics_put_sample_name(o, &h->s, "_bucket", "+Inf");
	metrics_put_u64(o, h->count);
	metrics_put(o, "\n");
	metrics_put_sample_name(o, &h->s, "_sum", NULL);
	metrics_put_double(o, h->sum);
	metrics_put(o, "\n");
	metrics_put_sample_name(o, &h->s, "_count", NULL);
	metrics_put_u64(o, h->count);
	metrics_put(o, "\n");
}

static void
metrics_put_family(struct metrics_out *o, const struct metrics_family *f)
{
	metrics_put(o, "# HELP ");
	metrics_put(o, f->name);
	metrics_put(o, " ");
	metrics_put_escaped(o, f->help, false);
	metrics_put(o, "\n# TYPE ");
	metrics_put(o, f->name);
	metrics_put(o, " ");
	metrics_put(o, metrics_type_str(f->type));
	metrics_put(o, "\n");
	for (size_t i = 0; i < f->n_series; i++) {
		const struct metrics_series *s = f->series[i];

		switch (f->type) {
		case METRICS_TYPE_COUNTER:
			metrics_put_sample_name(o, s, NULL, NULL);
			metrics_put_u64(o,
			    ((const struct metrics_counter *)s)->value);
			metrics_put(o, "\n");
			break;
		case METRICS_TYPE_GAUGE:
			metrics_put_sample_name(o, s, NULL, NULL);
			metrics_put_double(o,
			    ((const struct metrics_gauge *)s)->value);
			metrics_put(o, "\n");
			break;
		case METRICS_TYPE_HISTOGRAM:
			metrics_put_histogram(o,
			    (const struct metrics_histogram *)s);
			break;
		case METRICS_TYPE_COUNT:
			break;
		}
	}
}

int
metrics_render(const struct metrics *m, struct buf *out)
{
	struct metrics_out o = {out, 0};

	for (size_t i = 0; i < m->n_fams && o.r == 0; i++)
		metrics_put_family(&o, m->fams[i]);
	return o.r;
}

/* ---- serving --------------------------------------------------------- */

static void
metrics_reply(struct evhttp_request *req, int code, const char *reason,
    const char *type, const char *a, size_t alen, const char *b, size_t blen)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *body;

	body = evbuffer_new();
	if (body == NULL || evbuffer_add(body, a, alen) != 0 ||
	    evbuffer_add(body, b, blen) != 0) {
		if (body != NULL)
			evbuffer_free(body);
		evhttp_send_error(req, 500, NULL);
		return;
	}
	/* One request per connection keeps what a client can hold open to
	 * what it is doing right now. */
	(void)evhttp_add_header(h, "Connection", "close");
	(void)evhttp_add_header(h, "Content-Type", type);
	(void)evhttp_add_header(h, "Cache-Control", "no-store");
	if (code == 405)
		(void)evhttp_add_header(h, "Allow", "GET, HEAD");
	evhttp_send_reply(req, code, reason, body);
	evbuffer_free(body);
}

static void
metrics_reply_text(struct evhttp_request *req, int code, const char *reason,
    const char *text)
{
	metrics_reply(req, code, reason, "text/plain; charset=utf-8", text,
	    strlen(text), "", 0);
}

static void
metrics_serve_metrics(struct metrics *m, struct evhttp_request *req)
{
	if (m->scrape_cb != NULL)
		m->scrape_cb(m->scrape_arg);
	buf_reset(&m->page);
	if (metrics_render(m, &m->page) < 0) {
		metrics_reply_text(req, 500, "Internal Server Error",
		    "metrics: cannot render\n");
		return;
	}
	metrics_reply(req, 200, "OK",
	    "text/plain; version=0.0.4; charset=utf-8",
	    m->page.data != NULL ? m->page.data : "", m->page.len, "", 0);
}

static void
metrics_serve_health(struct metrics *m, struct evhttp_request *req)
{
	const char *text;
	int r = 0;

	buf_reset(&m->health_text);
	if (m->health_cb != NULL)
		r = m->health_cb(&m->health_text, m->health_arg);
	text = m->health_text.data != NULL ? m->health_text.data : "";
	if (r >= 0)
		metrics_reply(req, 200, "OK", "text/plain; charset=utf-8",
		    "ok\n", 3, text, m->health_text.len);
	else if (m->health_text.len == 0)
		metrics_reply_text(req, 503, "Service Unavailable",
		    "unhealthy\n");
	else
		metrics_reply(req, 503, "Service Unavailable",
		    "text/plain; charset=utf-8", text, m->health_text.len, "",
		    0);
}

static void
metrics_http_cb(struct evhttp_request *req, void *arg)
{
	struct metrics *m = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	bool get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;
	bool is_metrics = path != NULL && strcmp(path, "/metrics") == 0;
	bool is_health = path != NULL && strcmp(path, "/healthz") == 0;

	if (!is_metrics && !is_health)
		metrics_reply_text(req, 404, "Not Found", "not found\n");
	else if (!get)
		metrics_reply_text(req, 405, "Method Not Allowed",
		    "method not allowed\n");
	else if (is_metrics)
		metrics_serve_metrics(m, req);
	else
		metrics_serve_health(m, req);
}

/* "1.2.3.4:p" or "[v6]:p", numeric, the port spelled out (0 allowed).
 * Not evutil_parse_sockaddr_port(): it refuses port 0 and takes "12ab"
 * as port 12. */
static int
metrics_parse_addr(const char *addr, struct sockaddr_storage *ss,
    socklen_t *len)
{
	char host[INET6_ADDRSTRLEN];
	const char *h;
	const char *port;
	size_t hlen;
	unsigned long p = 0;

	if (addr == NULL)
		return -EINVAL;
	if (addr[0] == '[') {
		h = addr + 1;
		port = strstr(h, "]:");
		if (port == NULL)
			return -EINVAL;
		hlen = (size_t)(port - h);
		port += 2;
	} else {
		h = addr;
		port = strchr(h, ':');
		if (port == NULL)
			return -EINVAL;
		hlen = (size_t)(port - h);
		port++;
	}
	if (hlen == 0 || hlen >= sizeof(host) || *port == '\0' ||
	    strlen(port) > 5)
		return -EINVAL;
	for (const char *c = port; *c != '\0'; c++) {
		if (*c < '0' || *c > '9')
			return -EINVAL;
		p = p * 10 + (unsigned long)(*c - '0');
	}
	if (p > 65535)
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (addr[0] == '[') {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -EINVAL;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)p);
		*len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -EINVAL;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)p);
		*len = sizeof(*sin);
	}
	return 0;
}

static int
metrics_bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return -errno;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* A listening, non-blocking, close-on-exec socket on ss. */
static int
metrics_socket(const struct sockaddr_storage *ss, socklen_t len,
    const char *addr, struct diag *reterr)
{
	const char *what;
	int one = 1;
	int fd;
	int r;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0) {
		r = -errno;
		return diag_set(reterr, r, NULL, 0, 0,
		    "metrics: socket for %s: %s", addr, strerror(-r));
	}
	what = "setsockopt";
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
		goto fail;
	if (ss->ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0)
		goto fail;
	what = "bind";
	if (bind(fd, (const struct sockaddr *)ss, len) != 0)
		goto fail;
	what = "listen on";
	if (listen(fd, METRICS_LISTEN_BACKLOG) != 0)
		goto fail;
	return fd;
fail:
	r = -errno;
	(void)close(fd);
	return diag_set(reterr, r, NULL, 0, 0, "metrics: %s %s: %s", what, addr,
	    strerror(-r));
}

int
metrics_listen(struct metrics *m, struct event_base *base, const char *addr,
    metrics_health_cb *health, void *arg, struct diag *reterr)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct evhttp *http = NULL;
	int port;
	int fd;
	int r;

	if (m == NULL || base == NULL)
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "metrics: no registry or event base");
	if (m->http != NULL)
		return diag_set(reterr, -EBUSY, NULL, 0, 0,
		    "metrics: already listening");
	if (metrics_parse_addr(addr, &ss, &len) < 0)
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "metrics: listen address '%s': want IPv4:port or "
		    "[IPv6]:port, numeric",
		    addr != NULL ? addr : "(null)");
	fd = metrics_socket(&ss, len, addr, reterr);
	if (fd < 0)
		return fd;
	port = metrics_bound_port(fd);
	if (port < 0) {
		r = port;
		(void)close(fd);
		return diag_set(reterr, r, NULL, 0, 0,
		    "metrics: getsockname %s: %s", addr, strerror(-r));
	}
	http = evhttp_new(base);
	if (http == NULL) {
		(void)close(fd);
		goto nomem;
	}
	evhttp_set_allowed_methods(http,
	    EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
		EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
		EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_max_headers_size(http, METRICS_MAX_REQUEST_HEADERS);
	evhttp_set_max_body_size(http, METRICS_MAX_REQUEST_BODY);
	evhttp_set_timeout(http, METRICS_HTTP_TIMEOUT_S);
	evhttp_set_gencb(http, metrics_http_cb, m);
	/* On success the listener owns fd and closes it with http. */
	if (evhttp_accept_socket_with_handle(http, fd) == NULL) {
		(void)close(fd);
		goto nomem;
	}
	m->http = http;
	m->port = port;
	m->health_cb = health;
	m->health_arg = arg;
	return 0;
nomem:
	if (http != NULL)
		evhttp_free(http);
	return diag_set(reterr, -ENOMEM, NULL, 0, 0, "metrics: serving %s",
	    addr);
}

void
metrics_on_scrape(struct metrics *m, metrics_scrape_cb *cb, void *arg)
{
	if (m == NULL)
		return;
	m->scrape_cb = cb;
	m->scrape_arg = arg;
}

int
metrics_port(const struct metrics *m)
{
	return m != NULL && m->http != NULL ? m->port : 0;
}
