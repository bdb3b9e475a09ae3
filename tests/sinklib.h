/*
 * sinklib.h: what the tests of the sink kinds' renderers share
 * (test_slack.c, test_pd.c): one renderer under test, described by a
 * struct sl_renderer, and the checks every renderer must pass. Header
 * only, with static functions: include it after tap.h (whose counters are
 * per test program) and testlib.h.
 */
#ifndef SMTRAIL_SINKLIB_H
#define SMTRAIL_SINKLIB_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "buf.h"
#include "diag.h"
#include "http.h"
#include "sink.h"

struct sl_renderer {
	/* The kind's pure renderer: slack_payload(), pd_payload(). */
	int (*render)(const char *json, size_t len, const void *opts,
	    struct buf *out, struct diag *reterr);
	const void *opts;
	size_t max; /* the payload's ceiling */
	/* NULL when payload (len bytes) is what the receiver accepts, else
	 * why not; owned by the validator's caller (static text). */
	const char *(*valid)(const char *payload, size_t len);
	const char *secret; /* never in a diag (NULL: none to check) */
	const char *what;   /* "messages", "events": for test names */
};

static struct diag sl_diag; /* the last render's */

/* The alert text head (its members, no closing brace) and more members. */
static char *
sl_variant(const char *head, const char *extra)
{
	char *s = NULL;

	if (asprintf(&s, "%s,%s}", head, extra) < 0)
		tl_bail("variant: out of memory");
	return s;
}

/* Renders json (a C string) into out, emptied first; sl_diag says why. */
static int
sl_render(const struct sl_renderer *rd, const char *json, struct buf *out)
{
	memset(&sl_diag, 0, sizeof(sl_diag));
	buf_reset(out);
	return rd->render(json, strlen(json), rd->opts, out, &sl_diag);
}

/* A render that must fail with want (and a diag holding msg), leaving
 * out as it was and no secret in the diag. */
static void
sl_want_render_fail(const struct sl_renderer *rd, const char *json, size_t len,
    int want, const char *msg, const char *name)
{
	struct buf out;
	int r;

	buf_init(&out, rd->max);
	if (buf_puts(&out, "keep") < 0)
		ok(0, "buffer");
	memset(&sl_diag, 0, sizeof(sl_diag));
	r = rd->render(json, len, rd->opts, &out, &sl_diag);
	is_int(r, want, "hostile: %s: refused", name);
	is_str(out.data, "keep", "hostile: %s: out left as it was", name);
	if (msg != NULL &&
	    !ok(strstr(sl_diag.msg, msg) != NULL, "hostile: %s: diag says '%s'",
		name, msg))
		diag_note("got '%s'", sl_diag.msg);
	if (rd->secret != NULL)
		ok(strstr(sl_diag.msg, rd->secret) == NULL,
		    "hostile: %s: no key in diag", name);
	buf_done(&out);
}

struct sl_corpus {
	const struct sl_renderer *rd;
	struct buf out;
};

static int
sl_corpus_alert(const char *json, void *arg)
{
	struct sl_corpus *c = arg;

	if (sl_render(c->rd, json, &c->out) != 0 ||
	    c->rd->valid(c->out.data, c->out.len) != NULL)
		return -EBADMSG;
	return 0;
}

/* Every Secrets Manager record we have, as an alert of severity (NULL:
 * the rule's): always renders something valid. */
static void
sl_test_corpus(const struct sl_renderer *rd, const char *severity)
{
	struct sl_corpus c = {rd, {0}};
	char path[512];
	size_t bad = 0;
	int n;

	buf_init(&c.out, rd->max);
	n = tl_corpus_alerts(severity, sl_corpus_alert, &c, path, sizeof(path),
	    &bad);
	if (ok(n >= 0, "corpus: %s", path))
		ok(n > 0 && bad == 0, "corpus: all %d records render valid %s",
		    n, rd->what);
	buf_done(&c.out);
}

/*
 * Sends json through s, waits for the end, and checks it: result, and
 * status and detail when given (status < 0, detail NULL: not checked).
 */
static void
sl_expect(struct event_base *base, struct sink *s, const char *json,
    struct tl_outcome *g, enum sink_result result, long status,
    const char *detail, const char *name)
{
	tl_send_one(s, json, g, name);
	tl_outcome_wait(base, g);
	is_int(g->o.result, result, "%s: %s", name, sink_result_str(result));
	if (status >= 0)
		is_int(g->o.status, status, "%s: status", name);
	if (detail != NULL)
		is_str(g->o.detail, detail, "%s: detail", name);
}

/* An end-to-end test's loop, HTTP client and receiver; url is the
 * receiver's, then path. */
struct sl_e2e {
	struct event_base *base;
	struct http *h;
	struct tl_rcv rv;
	char url[256];
};

static void
sl_e2e_start(struct sl_e2e *t, const char *path)
{
	memset(t, 0, sizeof(*t));
	t->base = event_base_new();
	if (t->base == NULL || tl_rcv_start(&t->rv, t->base) < 0)
		tl_bail("the receiver cannot listen");
	(void)snprintf(t->url, sizeof(t->url), "%s%s", t->rv.srv.url, path);
	is_int(http_new(t->base, NULL, &t->h), 0, "http client");
}

static void
sl_e2e_done(struct sl_e2e *t)
{
	http_free(t->h);
	tl_rcv_stop(&t->rv);
	event_base_free(t->base);
}

/* sink_new() refuses c with -EINVAL and says want. */
static void
sl_refused(struct sl_e2e *t, const struct sink_conf *c, const char *want,
    const char *name)
{
	struct sink *s = NULL;
	struct diag e;

	memset(&e, 0, sizeof(e));
	is_int(sink_new(c, t->base, t->h, &s, &e), -EINVAL, "%s", name);
	is_str(e.msg, want, "and says so");
}

/*
 * The alert (JSON text) with each of members set to text, "events" a list
 * of n_events strings starting step bytes apart in text, and the record's
 * errorMessage set to text: what a renderer must cut to its limits.
 */
static struct json_object *
sl_huge(const char *alert, const char *text, const char *const *members,
    size_t n_events, size_t step)
{
	struct json_object *o = json_tokener_parse(alert);
	struct json_object *ev = json_object_new_array();
	struct json_object *rec;
	size_t i;

	for (i = 0; members[i] != NULL; i++)
		json_object_object_add(o, members[i],
		    json_object_new_string(text));
	for (i = 0; i < n_events; i++)
		json_object_array_add(ev,
		    json_object_new_string(text + step * i));
	json_object_object_add(o, "events", ev);
	(void)json_object_object_get_ex(o, "record", &rec);
	json_object_object_add(rec, "errorMessage",
	    json_object_new_string(text));
	return o;
}

#endif
