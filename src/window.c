/*
 * window.c: see window.h. The pieces:
 *
 *   window_key*     store keys: (tag, rule id, fingerprint, group key)
 *   window_count*   threshold and distinct: a list of matches per key
 *   window_first*   first_seen: the rule's start, and each key seen
 *   window_expect*  expect: open expectations, follow-ups, the deadline heap
 *   window_read*    who read each secret lately
 *   window_kinds[]  what a hit of each kind does
 *
 * Values in the store (the caller's text, here JSON):
 *   count list   {"w":[[t,"eventID"(,"value")],...],"u":["eventID",...]}
 *                 (matches in the window, sorted by t; the eventIDs of the
 *                 last window that fired, so a repeat of them is not new)
 *   learn start  "<t>", the first eventTime the rule matched
 *   seen         "" (the expiry says until when)
 *   expectation  "E{"d":deadline,"t":t,"rule":ID,"fp":"<hex>","group":G,
 *                "id":eventID}\n<the opening alert's JSON text>"
 *   follow-ups   [t,...], the newest few, for an opening that comes later
 *   readers      [["principal",t],...], newest first
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "clock.h"
#include "record.h"
#include "rules.h"
#include "store.h"
#include "window.h"

/* A list holds at most this many matches (the oldest go first). */
#define WINDOW_LIST_SLACK 16u
/* Follow-ups remembered per key for an expectation not yet opened. */
#define WINDOW_MAX_FOLLOWUPS 8
/* An expectation outlives its deadline in the store by this much, so that
 * the store never expires one the engine has not handed over. */
#define WINDOW_EXPECT_KEEP_S (7 * 86400)
/* A reader's read is written again only this long after the last. */
#define WINDOW_READ_EVERY_S 60
/* Secrets one BatchGetSecretValue is counted as reading, at most. */
#define WINDOW_MAX_BATCH 20

struct window_deadline {
	uint64_t at;
	uint64_t key;
};

struct window {
	struct store *st;
	uint64_t late_s;
	struct window_deadline *heap; /* a min-heap on at */
	size_t n_heap;
	size_t cap_heap;
	struct window_stats stats;
};

/* One match in a count list. */
struct window_match {
	uint64_t t;
	const char *id;  /* borrowed from the parsed list or the caller */
	const char *val; /* distinct only */
};

/* ---- keys --------------------------------------------------------------- */

static uint64_t
window_key(const struct rule *r, const char *tag, const char *group)
{
	char fp[17];
	const char *parts[4];

	(void)snprintf(fp, sizeof(fp), "%016" PRIx64, r->fingerprint);
	parts[0] = tag;
	parts[1] = r->id;
	parts[2] = fp;
	parts[3] = group != NULL ? group : "";
	return store_key(parts, 4);
}

static struct json_object *
window_parse(const char *val, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;

	if (tok == NULL)
		return NULL;
	o = json_tokener_parse_ex(tok, val, (int)len);
	if (o != NULL && json_tokener_get_parse_end(tok) != len) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* The value at key parsed (NULL: none, or not JSON: start afresh). */
static struct json_object *
window_load(struct window *w, uint64_t key, int *ret)
{
	const char *val;
	size_t len;
	uint64_t expires;

	*ret = store_get(w->st, key, &val, &len, &expires);
	if (*ret <= 0 || len == 0)
		return NULL;
	return window_parse(val, len);
}

/* The array at key (NULL: none, or not an array). */
static struct json_object *
window_load_array(struct window *w, uint64_t key, int *ret)
{
	struct json_object *o = window_load(w, key, ret);

	if (o != NULL && !json_object_is_type(o, json_type_array)) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

/* How many elements arr has (NULL, or not an array: none). */
static size_t
window_len(struct json_object *arr)
{
	return json_object_is_type(arr, json_type_array)
	    ? json_object_array_length(arr)
	    : 0;
}

/* Element i of arr, or NULL (json-c asserts on a non-array: the state is
 * read as untrusted, a hand-edited journal must not abort the daemon). */
static struct json_object *
window_idx(struct json_object *arr, size_t i)
{
	return i < window_len(arr) ? json_object_array_get_idx(arr, i) : NULL;
}

static int
window_save(struct window *w, uint64_t key, const struct buf *b,
    uint64_t expires)
{
	return store_put(w->st, key, b->data, b->len, expires);
}

static uint64_t
window_floor(const struct window *w, uint64_t watermark)
{
	return watermark > w->late_s ? watermark - w->late_s : 0;
}

/* ---- threshold and distinct --------------------------------------------- */

static uint64_t
window_json_u64(struct json_object *o)
{
	int64_t i = json_object_get_int64(o);

	return i > 0 ? (uint64_t)i : 0;
}

static bool
window_has_id(struct json_object *arr, const char *id)
{
	size_t i;

	for (i = 0; i < window_len(arr); i++) {
		const char *s = json_object_get_string(window_idx(arr, i));

		if (s != NULL && strcmp(s, id) == 0)
			return true;
	}
	return false;
}

/* The kept list into m (its strings borrowed from list); how many. */
static size_t
window_count_read(struct json_object *list, struct window_match *m, size_t max,
    bool *ret_repeat, const char *event_id)
{
	struct json_object *w = NULL;
	size_t n = 0;
	size_t i;

	if (list == NULL || !json_object_object_get_ex(list, "w", &w) ||
	    !json_object_is_type(w, json_type_array))
		return 0;
	for (i = 0; i < json_object_array_length(w) && n < max; i++) {
		struct json_object *e = json_object_array_get_idx(w, i);

		if (!json_object_is_type(e, json_type_array) ||
		    json_object_array_length(e) < 2)
			continue;
		m[n].t = window_json_u64(json_object_array_get_idx(e, 0));
		m[n].id =
		    json_object_get_string(json_object_array_get_idx(e, 1));
		m[n].val = json_object_array_length(e) > 2
		    ? json_object_get_string(json_object_array_get_idx(e, 2))
		    : NULL;
		if (m[n].id == NULL)
			continue;
		if (event_id != NULL && strcmp(m[n].id, event_id) == 0)
			*ret_repeat = true;
		n++;
	}
	return n;
}

/* Inserts x into m (n of them, sorted by t), after equal times. */
static size_t
window_count_insert(struct window_match *m, size_t n,
    const struct window_match *x)
{
	size_t i = n;

	while (i > 0 && m[i - 1].t > x->t) {
		m[i] = m[i - 1];
		i--;
	}
	m[i] = *x;
	return n + 1;
}

/* The first run of count matches less than within apart, or -1. */
static long
window_count_find(const struct window_match *m, size_t n, unsigned count,
    uint64_t within_s)
{
	size_t j;

	for (j = 0; j + count <= n; j++)
		if (m[j + count - 1].t - m[j].t < within_s)
			return (long)j;
	return -1;
}

static int
window_count_put_ids(struct buf *b, const struct window_match *m, size_t n)
{
	size_t i, k;
	int r = buf_putc(b, '[');
	bool first = true;

	for (i = 0; r == 0 && i < n; i++) {
		for (k = 0; k < i && strcmp(m[k].id, m[i].id) != 0; k++)
			;
		if (k < i)
			continue; /* one event, several values */
		r = first ? 0 : buf_putc(b, ',');
		r = r < 0 ? r : buf_json_str(b, m[i].id, strlen(m[i].id));
		first = false;
	}
	return r < 0 ? r : buf_putc(b, ']');
}

/* What fired: "count":N,"events":[...](,"values":[...]). */
static int
window_count_extra(const struct rule *r, const struct window_match *m, size_t n,
    struct buf *extra)
{
	size_t i;
	int rc = buf_printf(extra, "\"count\":%u,\"events\":", r->count);

	rc = rc < 0 ? rc : window_count_put_ids(extra, m, n);
	if (rc < 0 || r->kind != RULES_KIND_DISTINCT)
		return rc;
	rc = buf_puts(extra, ",\"values\":[");
	for (i = 0; rc == 0 && i < n; i++) {
		rc = i == 0 ? 0 : buf_putc(extra, ',');
		rc = rc < 0
		    ? rc
		    : buf_json_str(extra, m[i].val != NULL ? m[i].val : "",
			  m[i].val != NULL ? strlen(m[i].val) : 0);
	}
	return rc < 0 ? rc : buf_putc(extra, ']');
}

static int
window_count_write(struct window *w, const struct rule *r, uint64_t key,
    const struct window_match *m, size_t n, const struct window_match *used,
    size_t n_used, struct json_object *old_used)
{
	uint64_t newest = 0;
	struct buf b;
	size_t i;
	int rc;

	buf_init(&b, STORE_MAX_VALUE);
	rc = buf_puts(&b, "{\"w\":[");
	for (i = 0; rc == 0 && i < n; i++) {
		rc = buf_printf(&b, "%s[%" PRIu64 ",", i == 0 ? "" : ",",
		    m[i].t);
		rc = rc < 0 ? rc : buf_json_str(&b, m[i].id, strlen(m[i].id));
		if (rc == 0 && m[i].val != NULL) {
			rc = buf_putc(&b, ',');
			rc = rc < 0
			    ? rc
			    : buf_json_str(&b, m[i].val, strlen(m[i].val));
		}
		rc = rc < 0 ? rc : buf_putc(&b, ']');
		if (m[i].t > newest)
			newest = m[i].t;
	}
	rc = rc < 0 ? rc : buf_puts(&b, "],\"u\":");
	if (rc == 0 && used != NULL)
		rc = window_count_put_ids(&b, used, n_used);
	else if (rc == 0 && old_used != NULL)
		rc = buf_puts(&b,
		    json_object_to_json_string_ext(old_used,
			JSON_C_TO_STRING_PLAIN));
	else if (rc == 0)
		rc = buf_puts(&b, "[]");
	rc = rc < 0 ? rc : buf_putc(&b, '}');
	if (rc == 0) {
		if (used != NULL)
			for (i = 0; i < n_used; i++)
				if (used[i].t > newest)
					newest = used[i].t;
		rc = window_save(w, key, &b,
		    newest + r->within_us / US_PER_S + w->late_s);
	}
	buf_done(&b);
	return rc;
}

struct window_values {
	char (*v)[WINDOW_MAX_VALUE + 1];
	size_t n, max;
};

static bool
window_value_cb(struct json_object *v, void *arg)
{
	struct window_values *vs = arg;
	struct buf b;
	size_t k;

	if (v == NULL || vs->n == vs->max)
		return vs->n == vs->max;
	buf_init(&b, 1u << 20);
	if (record_value_text(v, &b) == 0 && b.len > 0) {
		if (b.len > WINDOW_MAX_VALUE)
			b.len = WINDOW_MAX_VALUE;
		memcpy(vs->v[vs->n], b.data, b.len);
		vs->v[vs->n][b.len] = '\0';
		for (k = 0; k < vs->n && strcmp(vs->v[k], vs->v[vs->n]) != 0;
		     k++)
			;
		if (k == vs->n)
			vs->n++;
	}
	buf_done(&b);
	return false;
}

static int
window_count_hit(struct window *w, const struct rule *r, const char *group,
    const char *event_id, struct json_object *rec, uint64_t t,
    uint64_t watermark, struct buf *extra)
{
	char vals[WINDOW_MAX_BATCH][WINDOW_MAX_VALUE + 1];
	struct window_values vs = {vals, 0, WINDOW_MAX_BATCH};
	uint64_t within_s = r->within_us / US_PER_S;
	uint64_t floor = window_floor(w, watermark);
	size_t max = 2 * (size_t)r->count + WINDOW_LIST_SLACK;
	struct json_object *list = NULL;
	struct json_object *used = NULL;
	struct window_match *m = NULL;
	uint64_t key = window_key(r, "c", group);
	bool repeat = false;
	size_t n, i, k;
	long at;
	int rc;

	if (t + within_s <= floor) {
		w->stats.late++;
		return 0; /* its window has closed */
	}
	if (r->kind == RULES_KIND_DISTINCT) {
		(void)record_visit(rec, r->field, window_value_cb, &vs, NULL);
		if (vs.n == 0)
			return 0; /* nothing to count */
	}
	list = window_load(w, key, &rc);
	if (rc < 0)
		return rc;
	m = calloc(max + WINDOW_MAX_BATCH + 1, sizeof(*m));
	if (m == NULL) {
		json_object_put(list);
		return -ENOMEM;
	}
	n = window_count_read(list, m, max, &repeat, event_id);
	if (list != NULL && json_object_object_get_ex(list, "u", &used) &&
	    event_id != NULL && window_has_id(used, event_id))
		repeat = true;
	if (repeat) {
		free(m);
		json_object_put(list);
		return 0;
	}
	/* Matches whose window closed can no longer count. */
	for (i = 0, k = 0; i < n; i++)
		if (m[i].t + within_s > floor)
			m[k++] = m[i];
	n = k;
	if (r->kind == RULES_KIND_THRESHOLD) {
		struct window_match x = {t, event_id != NULL ? event_id : "",
		    NULL};

		n = window_count_insert(m, n, &x);
	}
	for (i = 0; i < vs.n; i++) {
		struct window_match x = {t, event_id != NULL ? event_id : "",
		    vals[i]};

		for (k = 0; k < n &&
		     (m[k].val == NULL || strcmp(m[k].val, vals[i]) != 0);
		     k++)
			;
		if (k < n && m[k].t >= t)
			continue; /* seen at this time or later */
		if (k < n) { /* seen earlier: it moves to its latest time */
			memmove(&m[k], &m[k + 1], (n - k - 1) * sizeof(*m));
			n--;
		}
		n = window_count_insert(m, n, &x);
	}
	if (n > max) { /* the oldest go */
		memmove(m, m + (n - max), max * sizeof(*m));
		n = max;
	}
	at = window_count_find(m, n, r->count, within_s);
	if (at < 0) {
		rc = window_count_write(w, r, key, m, n, NULL, 0, used);
	} else {
		rc = window_count_extra(r, &m[at], r->count, extra);
		/* Afresh: every match so far is used up. */
		rc = rc < 0
		    ? rc
		    : window_count_write(w, r, key, NULL, 0, m, n, NULL);
		if (rc == 0)
			w->stats.fired++;
	}
	free(m);
	json_object_put(list);
	return rc < 0 ? rc : at >= 0;
}

/* ---- first_seen --------------------------------------------------------- */

static int
window_first_hit(struct window *w, const struct rule *r, const char *group,
    const char *event_id, struct json_object *rec, uint64_t t,
    uint64_t watermark, struct buf *extra)
{
	uint64_t learn_s = r->learn_us / US_PER_S;
	uint64_t start_key = window_key(r, "l", NULL);
	uint64_t key = window_key(r, "s", group);
	uint64_t start = t, expires;
	const char *val;
	char num[24];
	size_t len;
	int rc;

	UNUSED(event_id);
	UNUSED(rec);
	UNUSED(watermark);
	UNUSED(extra);
	rc = store_get(w->st, start_key, &val, &len, &expires);
	if (rc < 0)
		return rc;
	if (rc == 1 && len > 0 && len < sizeof(num)) {
		memcpy(num, val, len);
		num[len] = '\0';
		start = strtoull(num, NULL, 10);
	}
	if (rc == 0 || t < start) { /* the rule's life starts */
		start = t;
		len = (size_t)snprintf(num, sizeof(num), "%" PRIu64, start);
		rc = store_put(w->st, start_key, num, len, 0);
		if (rc < 0)
			return rc;
	}
	rc = store_get(w->st, key, &val, &len, &expires);
	if (rc < 0)
		return rc;
	if (rc == 1 && expires >= t) {
		/* Seen: remembered for at least learn from now. */
		if (expires - t < learn_s)
			rc = store_put(w->st, key, "", 0, t + 2 * learn_s);
		return rc < 0 ? rc : 0;
	}
	rc = store_put(w->st, key, "", 0, t + 2 * learn_s);
	if (rc < 0)
		return rc;
	if (t < start + learn_s) {
		w->stats.learned++;
		return 0;
	}
	w->stats.fired++;
	return 1;
}

/* ---- expect ------------------------------------------------------------- */

/* Heap order: by deadline, then by key, so that expectations due at the
 * same time come out in the same order in every run. */
static bool
window_before(const struct window_deadline *a, const struct window_deadline *b)
{
	return a->at < b->at || (a->at == b->at && a->key < b->key);
}

static int
window_heap_push(struct window *w, uint64_t at, uint64_t key)
{
	struct window_deadline x = {at, key};
	size_t i;

	if (w->n_heap == w->cap_heap) {
		size_t cap = w->cap_heap != 0 ? 2 * w->cap_heap : 64;
		struct window_deadline *h = realloc(w->heap, cap * sizeof(*h));

		if (h == NULL)
			return -ENOMEM;
		w->heap = h;
		w->cap_heap = cap;
	}
	for (i = w->n_heap++; i > 0 && window_before(&x, &w->heap[(i - 1) / 2]);
	     i = (i - 1) / 2)
		w->heap[i] = w->heap[(i - 1) / 2];
	w->heap[i] = x;
	return 0;
}

static void
window_heap_pop(struct window *w)
{
	struct window_deadline last = w->heap[--w->n_heap];
	size_t i = 0, c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= w->n_heap)
			break;
		if (c + 1 < w->n_heap &&
		    window_before(&w->heap[c + 1], &w->heap[c]))
			c++;
		if (!window_before(&w->heap[c], &last))
			break;
		w->heap[i] = w->heap[c];
		i = c;
	}
	if (w->n_heap > 0)
		w->heap[i] = last;
}

/* An expectation's header and alert; hdr is the caller's to put. */
struct window_open {
	struct json_object *hdr;
	uint64_t deadline, t;
	const char *rule, *fp, *group, *id;
	const char *json;
	size_t len;
};

static bool
window_open_parse(const char *val, size_t len, struct window_open *ret)
{
	const char *nl;
	struct json_object *v;

	memset(ret, 0, sizeof(*ret));
	if (len < 2 || val[0] != 'E')
		return false;
	nl = memchr(val, '\n', len);
	if (nl == NULL)
		return false;
	ret->hdr = window_parse(val + 1, (size_t)(nl - val - 1));
	if (ret->hdr == NULL)
		return false;
#define WINDOW_GET(name, what)                                                 \
	(json_object_object_get_ex(ret->hdr, name, &v) ? (what) : 0)
	ret->deadline = WINDOW_GET("d", window_json_u64(v));
	ret->t = WINDOW_GET("t", window_json_u64(v));
	ret->rule = WINDOW_GET("rule", json_object_get_string(v));
	ret->fp = WINDOW_GET("fp", json_object_get_string(v));
	ret->group = WINDOW_GET("group", json_object_get_string(v));
	ret->id = WINDOW_GET("id", json_object_get_string(v));
#undef WINDOW_GET
	ret->json = nl + 1;
	ret->len = len - (size_t)(nl + 1 - val);
	if (ret->deadline == 0 || ret->rule == NULL || ret->fp == NULL ||
	    ret->group == NULL || ret->len == 0) {
		json_object_put(ret->hdr);
		ret->hdr = NULL;
		return false;
	}
	return true;
}

/* Whether a follow-up at a time in [t, deadline] was already seen. */
static int
window_followed(struct window *w, uint64_t key, uint64_t t, uint64_t deadline)
{
	struct json_object *arr;
	size_t i;
	bool met = false;
	int rc;

	arr = window_load_array(w, key, &rc);
	for (i = 0; i < window_len(arr); i++) {
		uint64_t at =
		    window_json_u64(json_object_array_get_idx(arr, i));

		if (at >= t && at <= deadline)
			met = true;
	}
	json_object_put(arr);
	return rc < 0 ? rc : met;
}

int
window_expect(struct window *w, const struct rule *r, const char *group,
    const char *event_id, uint64_t t, const char *json, size_t len)
{
	uint64_t deadline = t + r->within_us / US_PER_S;
	uint64_t key = window_key(r, "e", group);
	const char *val;
	size_t vlen;
	uint64_t expires;
	struct buf b;
	int rc;

	rc = window_followed(w, window_key(r, "x", group), t, deadline);
	if (rc != 0)
		return rc < 0 ? rc : 0; /* met before it was opened */
	rc = store_get(w->st, key, &val, &vlen, &expires);
	if (rc != 0)
		return rc < 0 ? rc : 0; /* one is open: the first one counts */
	buf_init(&b, STORE_MAX_VALUE);
	rc = buf_printf(&b,
	    "E{\"d\":%" PRIu64 ",\"t\":%" PRIu64 ",\"rule\":", deadline, t);
	rc = rc < 0 ? rc : buf_json_str(&b, r->id, strlen(r->id));
	rc = rc < 0
	    ? rc
	    : buf_printf(&b,
		  ",\"fp\":\"%016" PRIx64 "\",\"group\":", r->fingerprint);
	rc = rc < 0 ? rc : buf_json_str(&b, group, strlen(group));
	rc = rc < 0 ? rc : buf_puts(&b, ",\"id\":");
	rc = rc < 0 ? rc
		    : buf_json_str(&b, event_id != NULL ? event_id : "",
			  event_id != NULL ? strlen(event_id) : 0);
	rc = rc < 0 ? rc : buf_puts(&b, "}\n");
	rc = rc < 0 ? rc : buf_append(&b, json, len);
	rc = rc < 0 ? rc
		    : window_save(w, key, &b,
			  deadline + w->late_s + WINDOW_EXPECT_KEEP_S);
	buf_done(&b);
	if (rc == 0)
		rc = window_heap_push(w, deadline, key);
	if (rc < 0)
		return rc;
	w->stats.opened++;
	w->stats.open++;
	return 1;
}

/* Remembers a follow-up at t for an expectation that opens later. */
static int
window_followup(struct window *w, const struct rule *r, const char *group,
    uint64_t t)
{
	uint64_t key = window_key(r, "x", group);
	uint64_t at[WINDOW_MAX_FOLLOWUPS + 1];
	uint64_t newest = t;
	struct json_object *arr;
	size_t n = 0, i;
	struct buf b;
	int rc;

	arr = window_load_array(w, key, &rc);
	if (rc < 0)
		return rc;
	at[n++] = t;
	for (i = 0; i < window_len(arr) && n < WINDOW_MAX_FOLLOWUPS; i++) {
		at[n] = window_json_u64(json_object_array_get_idx(arr, i));
		if (at[n] == t)
			continue;
		if (at[n] > newest)
			newest = at[n];
		n++;
	}
	json_object_put(arr);
	buf_init(&b, 4096);
	rc = buf_putc(&b, '[');
	for (i = 0; rc == 0 && i < n; i++)
		rc = buf_printf(&b, "%s%" PRIu64, i == 0 ? "" : ",", at[i]);
	rc = rc < 0 ? rc : buf_putc(&b, ']');
	rc = rc < 0 ? rc
		    : window_save(w, key, &b,
			  newest + r->within_us / US_PER_S + w->late_s);
	buf_done(&b);
	return rc;
}

int
window_close(struct window *w, const struct rule *r, const char *group,
    uint64_t t)
{
	uint64_t key = window_key(r, "e", group);
	struct window_open o;
	const char *val;
	size_t len;
	uint64_t expires;
	bool met;
	int rc;

	rc = store_get(w->st, key, &val, &len, &expires);
	if (rc < 0)
		return rc;
	if (rc == 0 || !window_open_parse(val, len, &o))
		return window_followup(w, r, group, t);
	met = t >= o.t && t <= o.deadline;
	json_object_put(o.hdr);
	if (!met)
		return window_followup(w, r, group, t);
	rc = store_del(w->st, key);
	if (rc < 0)
		return rc;
	w->stats.closed++;
	if (w->stats.open > 0)
		w->stats.open--;
	return 1;
}

uint64_t
window_next_deadline(const struct window *w)
{
	return w->n_heap > 0 ? w->heap[0].at : 0;
}

/* The expectation under the heap's top, if it is still what it says. */
static int
window_due_one(struct window *w, const struct rules *rs,
    const struct window_deadline *top, window_due_cb *cb, void *arg)
{
	const struct rule *r;
	struct window_open o;
	const char *val;
	size_t len;
	uint64_t expires;
	char fp[17];
	int rc;

	rc = store_get(w->st, top->key, &val, &len, &expires);
	if (rc <= 0)
		return rc; /* closed meanwhile */
	if (!window_open_parse(val, len, &o))
		return store_del(w->st, top->key);
	if (o.deadline != top->at) {
		json_object_put(o.hdr);
		return 0; /* a newer one under the same key */
	}
	r = rules_find(rs, o.rule);
	if (r != NULL)
		(void)snprintf(fp, sizeof(fp), "%016" PRIx64, r->fingerprint);
	if (r == NULL || r->kind != RULES_KIND_EXPECT || !r->enabled ||
	    strcmp(fp, o.fp) != 0) {
		json_object_put(o.hdr);
		w->stats.dropped++;
		rc = 0;
	} else {
		rc = cb(r, o.group,
		    o.id != NULL && o.id[0] != '\0' ? o.id : NULL, o.json,
		    o.len, o.deadline, arg);
		json_object_put(o.hdr);
		if (rc < 0)
			return rc;
		w->stats.overdue++;
		rc = 1;
	}
	if (w->stats.open > 0)
		w->stats.open--;
	return store_del(w->st, top->key) < 0 ? -EIO : rc;
}

int
window_due(struct window *w, const struct rules *rs, uint64_t now,
    window_due_cb *cb, void *arg)
{
	struct window_deadline top;
	int n = 0;
	int rc;

	while (w->n_heap > 0 && w->heap[0].at <= now) {
		top = w->heap[0];
		window_heap_pop(w);
		rc = window_due_one(w, rs, &top, cb, arg);
		if (rc < 0) {
			(void)window_heap_push(w, top.at, top.key);
			return rc;
		}
		n += rc;
	}
	return n;
}

/* ---- readers ------------------------------------------------------------ */

/*
 * The key of a secret's readers: (account, region, name), from its ARN
 * when it is one ("...:secret:NAME-AbCdEf"), else from the record, so
 * that a read by name and a deletion by ARN agree.
 */
static uint64_t
window_read_key(struct json_object *rec, const char *secret)
{
	char account[64], region[64], name[512];
	const char *parts[4] = {"r", account, region, name};
	const char *s;
	size_t len;

	(void)snprintf(account, sizeof(account), "%s",
	    record_string(rec, "recipientAccountId") != NULL
		? record_string(rec, "recipientAccountId")
		: "");
	(void)snprintf(region, sizeof(region), "%s",
	    record_string(rec, "awsRegion") != NULL
		? record_string(rec, "awsRegion")
		: "");
	s = strstr(secret, ":secret:");
	if (strncmp(secret, "arn:", 4) != 0 || s == NULL) {
		(void)snprintf(name, sizeof(name), "%s", secret);
		return store_key(parts, 4);
	}
	/* arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX */
	(void)sscanf(secret, "arn:%*[^:]:%*[^:]:%63[^:]:%63[^:]:", region,
	    account);
	(void)snprintf(name, sizeof(name), "%s", s + strlen(":secret:"));
	len = strlen(name);
	if (len > 7 && name[len - 7] == '-')
		name[len - 7] = '\0';
	return store_key(parts, 4);
}

/* A secret's reader: who, and when last. */
struct window_reader {
	const char *p;
	uint64_t t;
};

/* Inserts x into rd (n of them, newest first, at most max); the new n. */
static size_t
window_reader_insert(struct window_reader *rd, size_t n, size_t max,
    const struct window_reader *x)
{
	size_t i = n < max ? n : max - 1;

	if (n == max && rd[max - 1].t >= x->t)
		return n; /* older than all kept */
	while (i > 0 && rd[i - 1].t < x->t) {
		rd[i] = rd[i - 1];
		i--;
	}
	rd[i] = *x;
	return n < max ? n + 1 : n;
}

static int
window_read_one(struct window *w, struct json_object *rec, const char *secret,
    const char *who, uint64_t t)
{
	uint64_t key = window_read_key(rec, secret);
	struct window_reader rd[WINDOW_MAX_READERS];
	struct window_reader x = {who, t};
	struct json_object *arr;
	size_t n = 0, i;
	struct buf b;
	int rc;

	arr = window_load_array(w, key, &rc);
	if (rc < 0)
		return rc;
	for (i = 0; i < window_len(arr); i++) {
		struct json_object *e = window_idx(arr, i);
		struct window_reader old = {
		    json_object_get_string(window_idx(e, 0)),
		    window_json_u64(window_idx(e, 1))};

		if (old.p == NULL)
			continue;
		if (strcmp(old.p, who) == 0 &&
		    old.t + WINDOW_READ_EVERY_S > t) {
			json_object_put(arr);
			return 0; /* known, and lately enough */
		}
		if (strcmp(old.p, who) != 0)
			n = window_reader_insert(rd, n, WINDOW_MAX_READERS,
			    &old);
	}
	n = window_reader_insert(rd, n, WINDOW_MAX_READERS, &x);
	buf_init(&b, 64u << 10);
	rc = buf_putc(&b, '[');
	for (i = 0; rc == 0 && i < n; i++) {
		rc = buf_puts(&b, i == 0 ? "[" : ",[");
		rc = rc < 0 ? rc : buf_json_str(&b, rd[i].p, strlen(rd[i].p));
		rc = rc < 0 ? rc : buf_printf(&b, ",%" PRIu64 "]", rd[i].t);
	}
	rc = rc < 0 ? rc : buf_putc(&b, ']');
	rc = rc < 0 || n == 0
	    ? rc
	    : window_save(w, key, &b, rd[0].t + WINDOW_READERS_KEEP_S);
	buf_done(&b);
	json_object_put(arr);
	if (rc == 0)
		w->stats.readers++;
	return rc;
}

static bool
window_batch_cb(struct json_object *v, void *arg)
{
	const char **ids = arg;
	size_t i;

	if (!json_object_is_type(v, json_type_string))
		return false;
	for (i = 0; i < WINDOW_MAX_BATCH && ids[i] != NULL; i++)
		;
	if (i < WINDOW_MAX_BATCH)
		ids[i] = json_object_get_string(v);
	return i + 1 >= WINDOW_MAX_BATCH;
}

int
window_read(struct window *w, struct json_object *rec, uint64_t t)
{
	static struct record_path *batch_ids;
	const char *ids[WINDOW_MAX_BATCH + 1] = {NULL};
	const char *name = record_string(rec, "eventName");
	const char *who;
	size_t i;
	int rc = 0;

	if (name == NULL || record_string(rec, "errorCode") != NULL)
		return 0;
	if (strcmp(name, "GetSecretValue") == 0) {
		ids[0] = record_secret_id(rec);
	} else if (strcmp(name, "BatchGetSecretValue") == 0) {
		if (batch_ids == NULL &&
		    record_path_compile("requestParameters.secretIdList.*",
			&batch_ids) < 0)
			return -ENOMEM;
		(void)record_visit(rec, batch_ids, window_batch_cb, ids, NULL);
	} else {
		return 0;
	}
	who = record_principal(rec);
	if (who == NULL)
		return 0;
	for (i = 0; rc == 0 && ids[i] != NULL; i++)
		rc = window_read_one(w, rec, ids[i], who, t);
	return rc;
}

int
window_readers(struct window *w, struct json_object *rec, struct buf *out)
{
	const char *secret = record_secret_id(rec);
	struct json_object *arr = NULL;
	char when[CLOCK_ISO8601_SIZE];
	size_t i, n;
	int rc = 0;

	if (secret != NULL)
		arr = window_load_array(w, window_read_key(rec, secret), &rc);
	rc = rc < 0 ? rc : buf_puts(out, "\"readers\":[");
	for (i = 0, n = 0; rc == 0 && i < window_len(arr); i++) {
		struct json_object *e = window_idx(arr, i);
		const char *p = json_object_get_string(window_idx(e, 0));

		if (p == NULL ||
		    clock_format_iso8601(window_json_u64(window_idx(e, 1)),
			when, sizeof(when)) < 0)
			continue;
		rc = buf_puts(out,
		    n++ == 0 ? "{\"principal\":" : ",{\"principal\":");
		rc = rc < 0 ? rc : buf_json_str(out, p, strlen(p));
		rc = rc < 0 ? rc
			    : buf_printf(out, ",\"lastRead\":\"%s\"}", when);
	}
	json_object_put(arr);
	return rc < 0 ? rc : buf_putc(out, ']');
}

/* ---- the rest ----------------------------------------------------------- */

static bool
window_load_cb(uint64_t key, const char *val, size_t len, uint64_t expires,
    void *arg)
{
	struct window *w = arg;
	struct window_open o;

	UNUSED(expires);
	if (!window_open_parse(val, len, &o))
		return false;
	json_object_put(o.hdr);
	if (window_heap_push(w, o.deadline, key) < 0)
		return true;
	w->stats.open++;
	return false;
}

int
window_new(struct store *st, uint64_t late_s, struct window **ret)
{
	struct window *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return -ENOMEM;
	w->st = st;
	w->late_s = late_s;
	store_each(st, window_load_cb, w);
	if (w->stats.open != w->n_heap) {
		window_free(w);
		return -ENOMEM;
	}
	*ret = w;
	return 0;
}

void
window_free(struct window *w)
{
	if (w == NULL)
		return;
	free(w->heap);
	free(w);
}

/* What a hit of each kind does; EXPECT's opening goes by window_expect(),
 * as it keeps the alert. */
typedef int window_hit_fn(struct window *w, const struct rule *r,
    const char *group, const char *event_id, struct json_object *rec,
    uint64_t t, uint64_t watermark, struct buf *extra);
static window_hit_fn *const window_kinds[RULES_KIND_COUNT] = {
    [RULES_KIND_THRESHOLD] = window_count_hit,
    [RULES_KIND_DISTINCT] = window_count_hit,
    [RULES_KIND_FIRST_SEEN] = window_first_hit,
};

int
window_hit(struct window *w, const struct rule *r, const char *group,
    const char *event_id, struct json_object *rec, uint64_t t,
    uint64_t watermark, struct buf *extra)
{
	if (r->kind >= RULES_KIND_COUNT || window_kinds[r->kind] == NULL)
		return -EINVAL;
	if (event_id != NULL && event_id[0] == '\0')
		event_id = NULL;
	return window_kinds[r->kind](w, r, group != NULL ? group : "", event_id,
	    rec, t, watermark, extra);
}

void
window_stats(const struct window *w, struct window_stats *ret)
{
	*ret = w->stats;
}
