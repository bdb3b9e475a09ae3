/*
 * sink.c: see sink.h. The dispatcher: it reads a sink's kind (sink_kind.h)
 * and never names one. Each delivery is a struct sink_job on its sink's
 * list from sink_send() to its callback, so that sink_free() can cancel
 * them without callbacks. A job the rate limit holds back also sits on the
 * sink's FIFO (wait_head) until sink_pump() starts it. Completions that
 * need no response (a local kind, an alert that cannot be rendered, a
 * request that cannot start) are deferred through the job's own event, so
 * that a callback never runs inside sink_send() or sink_pump().
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "buf.h"
#include "clock.h"
#include "diag.h"
#include "http.h"
#include "sink.h"
#include "sink_kind.h"
#include "text.h"

#define SINK_MAX_RETRY_AFTER_MS (3600 * MS_PER_S)
/* Receivers answer "ok" or a short error; we only keep a little. */
#define SINK_MAX_REPLY (64u << 10)
/* Where an outcome's detail is composed and scrubbed before it is cut to
 * sizeof(detail): a secret is removed whole, never half. */
#define SINK_DETAIL_SCRATCH 4096
/* Secrets and URL path parts shorter than this are not worth hiding (and
 * would hide half of every message). */
#define SINK_MIN_SCRUB 6

struct sink_job {
	struct sink *s;
	struct http_req *req;
	struct event *ev; /* the deferred completion */
	sink_done_cb *cb;
	void *arg;
	struct sink_request rq; /* what to send, until the request starts */
	char delivery_id[SINK_MAX_DELIVERY_ID + 1]; /* "": none */
	struct sink_outcome out;
	struct sink_job *prev;
	struct sink_job *next;
	struct sink_job *wnext; /* on the FIFO */
};

struct sink {
	char *name;
	const struct sink_kind *kind;
	char *opts[SINK_MAX_OPTS]; /* copies, defaults applied; wiped */
	const char *url;           /* the kind's SINK_OPT_URL, or NULL */
	long timeout_ms;
	int fd;
	struct event_base *base;
	struct http *http;
	struct sink_job *jobs;
	/* The rate limit: start times of the last rate_count requests, a
	 * ring whose oldest entry is rate_next once rate_used is full. */
	unsigned rate_count;
	uint64_t rate_period_us;
	uint64_t *rate_starts;
	unsigned rate_used;
	unsigned rate_next;
	uint64_t paused_until_us; /* a 429's Retry-After (pause_on_429) */
	struct event *pump_ev;
	struct sink_job *wait_head;
	struct sink_job *wait_tail;
	size_t n_waiting;
};

const char *
sink_type_str(const struct sink_kind *k)
{
	return k != NULL ? k->name : "?";
}

const char *
sink_result_str(enum sink_result r)
{
	switch (r) {
	case SINK_DELIVERED:
		return "delivered";
	case SINK_RETRY:
		return "retry";
	case SINK_PERMANENT:
		return "permanent";
	case SINK_RESULT_COUNT:
		break;
	}
	return "?";
}

int
sink_conf_set(struct sink_conf *c, const char *key, const char *value)
{
	size_t i;

	if (c->kind == NULL)
		return -EINVAL;
	i = sink_kind_opt(c->kind, key);
	if (i == c->kind->n_opts)
		return -EINVAL;
	c->opts[i] = value;
	return 0;
}

/* ---- sinks ------------------------------------------------------------- */

/* Wipes (bodies and options may hold secrets) and frees. */
static void
sink_wipe_str(char *p)
{
	if (p == NULL)
		return;
	explicit_bzero(p, strlen(p));
	free(p);
}

static void
sink_wipe_buf(struct buf *b)
{
	if (b->data != NULL)
		explicit_bzero(b->data, b->cap);
	buf_done(b);
}

/* The value of option i of c, its default applied; NULL: absent. */
static const char *
sink_conf_opt(const struct sink_conf *c, size_t i)
{
	const char *v = c->opts[i];

	return v != NULL && *v != '\0' ? v : c->kind->opts[i].def;
}

/* "routing_key" as "routing key", for messages. */
static const char *
sink_opt_noun(const char *key, char *buf, size_t size)
{
	size_t i;

	(void)snprintf(buf, size, "%s", key);
	for (i = 0; buf[i] != '\0'; i++)
		if (buf[i] == '_')
			buf[i] = ' ';
	return buf;
}

static int
sink_check(const struct sink_conf *c, struct http *http, struct diag *reterr)
{
	const struct sink_kind *k = c->kind;
	const char *v[SINK_MAX_OPTS];
	char noun[64];
	struct diag e;
	size_t at;
	size_t i;
	int r;

	if (k == NULL)
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "destination '%s': no such sink type", c->name);
	assert(k->n_opts <= SINK_MAX_OPTS);
	for (i = 0; i < k->n_opts; i++) {
		v[i] = sink_conf_opt(c, i);
		if (v[i] == NULL && k->opts[i].required)
			return diag_set(reterr, -EINVAL, NULL, 0, 0,
			    "destination '%s': a %s destination needs a %s",
			    c->name, k->name,
			    sink_opt_noun(k->opts[i].key, noun, sizeof(noun)));
	}
	if (k->network && http == NULL)
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "destination '%s': no HTTP client", c->name);
	if (k->check != NULL) {
		memset(&e, 0, sizeof(e));
		r = k->check(v, &at, &e);
		if (r < 0)
			return diag_set(reterr, r, NULL, 0, 0,
			    "destination '%s': %s", c->name, e.msg);
	}
	if (k->network && (c->rate_count == 0) != (c->rate_period_us == 0))
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "destination '%s': a rate needs a count and a period",
		    c->name);
	return 0;
}

static int
sink_rate_init(struct sink *s, const struct sink_conf *c)
{
	s->rate_count = c->rate_count;
	s->rate_period_us = c->rate_period_us;
	if (s->rate_count == 0) {
		s->rate_count = s->kind->rate_count;
		s->rate_period_us = s->kind->rate_period_us;
	}
	if (s->rate_count > SINK_MAX_RATE_WINDOW) {
		/* Same average rate, bursts of at most the window. */
		s->rate_period_us =
		    s->rate_period_us * SINK_MAX_RATE_WINDOW / s->rate_count;
		if (s->rate_period_us == 0)
			s->rate_period_us = 1;
		s->rate_count = SINK_MAX_RATE_WINDOW;
	}
	if (s->rate_count == 0)
		return 0;
	s->rate_starts = calloc(s->rate_count, sizeof(*s->rate_starts));
	return s->rate_starts == NULL ? -ENOMEM : 0;
}

static void sink_pump_cb(evutil_socket_t fd, short what, void *arg);

int
sink_new(const struct sink_conf *c, struct event_base *base, struct http *http,
    struct sink **ret, struct diag *reterr)
{
	const struct sink_kind *k = c->kind;
	struct sink *s;
	bool oom = false;
	const char *v;
	size_t i;
	int r;

	r = sink_check(c, http, reterr);
	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->kind = k;
	s->base = base;
	s->http = http;
	s->fd = c->fd;
	s->timeout_ms = c->timeout_ms;
	s->name = c->name != NULL ? strdup(c->name) : NULL;
	for (i = 0; i < k->n_opts; i++) {
		v = sink_conf_opt(c, i);
		if (v == NULL)
			continue;
		s->opts[i] = strdup(v);
		if (s->opts[i] == NULL)
			oom = true;
		else if (k->opts[i].form == SINK_OPT_URL)
			s->url = s->opts[i];
	}
	if (k->network) {
		if (sink_rate_init(s, c) < 0)
			oom = true;
		s->pump_ev = evtimer_new(base, sink_pump_cb, s);
		if (s->pump_ev == NULL)
			oom = true;
	}
	if (oom || s->name == NULL) {
		sink_free(s);
		return -ENOMEM;
	}
	*ret = s;
	return 0;
}

static void
sink_job_unlink(struct sink_job *j)
{
	if (j->prev != NULL)
		j->prev->next = j->next;
	else
		j->s->jobs = j->next;
	if (j->next != NULL)
		j->next->prev = j->prev;
}

/* The job must not be on the FIFO (sink_free empties it first). */
static void
sink_job_free(struct sink_job *j)
{
	sink_job_unlink(j);
	if (j->req != NULL)
		http_cancel(j->req);
	if (j->ev != NULL)
		event_free(j->ev);
	/* A body may hold a secret (a routing key). */
	sink_wipe_buf(&j->rq.body);
	free(j);
}

void
sink_free(struct sink *s)
{
	size_t i;

	if (s == NULL)
		return;
	s->wait_head = NULL;
	s->wait_tail = NULL;
	s->n_waiting = 0;
	while (s->jobs != NULL)
		sink_job_free(s->jobs);
	if (s->pump_ev != NULL)
		event_free(s->pump_ev);
	free(s->rate_starts);
	free(s->name);
	for (i = 0; i < SINK_MAX_OPTS; i++)
		sink_wipe_str(s->opts[i]);
	free(s);
}

const char *
sink_name(const struct sink *s)
{
	return s->name;
}

const struct sink_kind *
sink_type(const struct sink *s)
{
	return s->kind;
}

size_t
sink_waiting(const struct sink *s)
{
	return s->n_waiting;
}

/* Unlinks and frees the job, then reports: the callback may free the sink. */
static void
sink_job_done(struct sink_job *j)
{
	struct sink_outcome out = j->out;
	sink_done_cb *cb = j->cb;
	void *arg = j->arg;

	j->req = NULL; /* http frees its own request after we return */
	sink_job_free(j);
	cb(&out, arg);
}

static void
sink_job_ev_cb(evutil_socket_t fd, short what, void *arg)
{
	UNUSED(fd);
	UNUSED(what);
	sink_job_done(arg);
}

static struct sink_job *
sink_job_new(struct sink *s, sink_done_cb *cb, void *arg)
{
	struct sink_job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->ev = event_new(s->base, -1, 0, sink_job_ev_cb, j);
	if (j->ev == NULL) {
		free(j);
		return NULL;
	}
	j->s = s;
	j->cb = cb;
	j->arg = arg;
	j->next = s->jobs;
	if (s->jobs != NULL)
		s->jobs->prev = j;
	s->jobs = j;
	return j;
}

/* Ends the job from the loop with the outcome already in j->out. */
static void
sink_job_finish_later(struct sink_job *j)
{
	event_active(j->ev, 0, 0);
}

/* Replaces each occurrence of tok in d (NUL-terminated, at most
 * SINK_DETAIL_SCRATCH bytes with the NUL) by "[redacted]". */
static void
sink_scrub_tok(char *d, const void *tok, size_t tlen)
{
	static const char red[] = "[redacted]";
	char out[SINK_DETAIL_SCRATCH];
	size_t dlen = strlen(d);
	size_t i = 0;
	size_t o = 0;

	if (tlen == 0 || memmem(d, dlen, tok, tlen) == NULL)
		return;
	while (i < dlen && o + 1 < sizeof(out)) {
		if (dlen - i >= tlen && memcmp(d + i, tok, tlen) == 0) {
			size_t n = sizeof(red) - 1;

			if (n > sizeof(out) - 1 - o)
				n = sizeof(out) - 1 - o;
			memcpy(out + o, red, n);
			o += n;
			i += tlen;
		} else {
			out[o++] = d[i++];
		}
	}
	out[o] = '\0';
	memcpy(d, out, o + 1);
}

/*
 * Nothing of a secret reaches an outcome: each secret option, and the URL's
 * path and query (the whole, then each part long enough to be a
 * credential: a Slack hook's path is one).
 */
static void
sink_scrub(const struct sink *s, char *d)
{
	const char *p;
	size_t n;
	size_t i;

	for (i = 0; i < s->kind->n_opts; i++)
		if (s->kind->opts[i].form == SINK_OPT_SECRET &&
		    s->opts[i] != NULL && strlen(s->opts[i]) >= SINK_MIN_SCRUB)
			sink_scrub_tok(d, s->opts[i], strlen(s->opts[i]));
	if (s->url == NULL)
		return;
	p = strstr(s->url, "://");
	p = p != NULL ? p + 3 : s->url;
	p += strcspn(p, "/?#");
	if (strlen(p) >= SINK_MIN_SCRUB)
		sink_scrub_tok(d, p, strlen(p));
	while (*p != '\0') {
		p += strspn(p, "/?#&=;");
		n = strcspn(p, "/?#&=;");
		if (n >= SINK_MIN_SCRUB)
			sink_scrub_tok(d, p, n);
		p += n;
	}
}

/*
 * The outcome's detail: prefix, then ": " and text (a response body or an
 * error message) as printable ASCII with whitespace runs squeezed, scrubbed
 * of secrets, then cut to fit.
 */
static void
sink_detail(struct sink_job *j, const char *prefix, const char *text,
    size_t len)
{
	char d[SINK_DETAIL_SCRATCH];
	size_t o;
	size_t i;

	o = (size_t)snprintf(d, sizeof(d), "%s", prefix);
	if (o >= sizeof(d))
		o = sizeof(d) - 1;
	while (len > 0 && (unsigned char)text[len - 1] <= ' ')
		len--;
	for (i = 0; i < len && (unsigned char)text[i] <= ' '; i++)
		;
	if (i < len && o + 2 < sizeof(d)) {
		if (o > 0) {
			d[o++] = ':';
			d[o++] = ' ';
		}
		for (; i < len && o + 1 < sizeof(d); i++) {
			unsigned char c = (unsigned char)text[i];

			if (c <= ' ') {
				if (d[o - 1] != ' ')
					d[o++] = ' ';
				continue;
			}
			d[o++] = c < 0x7f ? (char)c : '?';
		}
	}
	d[o] = '\0';
	sink_scrub(j->s, d);
	o = strlen(d); /* ASCII: cut anywhere */
	if (o >= sizeof(j->out.detail))
		o = sizeof(j->out.detail) - 1;
	memcpy(j->out.detail, d, o);
	j->out.detail[o] = '\0';
}

/* ---- the rate limit ---------------------------------------------------- */

/* How long until the next request may start; 0: now. */
static uint64_t
sink_rate_wait_us(const struct sink *s, uint64_t now)
{
	uint64_t wait = 0;
	uint64_t free_at;

	if (s->paused_until_us > now)
		wait = s->paused_until_us - now;
	if (s->rate_count > 0 && s->rate_used == s->rate_count) {
		free_at = s->rate_starts[s->rate_next] + s->rate_period_us;
		if (free_at > now && free_at - now > wait)
			wait = free_at - now;
	}
	return wait;
}

static void
sink_rate_take(struct sink *s, uint64_t now)
{
	if (s->rate_count == 0)
		return;
	s->rate_starts[s->rate_next] = now;
	s->rate_next = (s->rate_next + 1) % s->rate_count;
	if (s->rate_used < s->rate_count)
		s->rate_used++;
}

static int sink_http_start(struct sink_job *j);

/*
 * Starts the waiting jobs the rate allows, in order, and arms the timer for
 * the next. Runs no callback: a request that cannot start ends later.
 */
static void
sink_pump(struct sink *s)
{
	while (s->wait_head != NULL) {
		uint64_t now = now_us();
		uint64_t wait = sink_rate_wait_us(s, now);
		struct sink_job *j;
		int r;

		if (wait > 0) {
			struct timeval tv = clock_tv_us(wait);

			if (evtimer_add(s->pump_ev, &tv) == 0)
				return;
			/* No timer: sending early beats never sending. */
		}
		j = s->wait_head;
		s->wait_head = j->wnext;
		if (s->wait_head == NULL)
			s->wait_tail = NULL;
		j->wnext = NULL;
		s->n_waiting--;
		sink_rate_take(s, now);
		r = sink_http_start(j);
		if (r < 0) {
			j->out.result = SINK_RETRY;
			j->out.error = r;
			sink_detail(j, "cannot start the request", strerror(-r),
			    strlen(strerror(-r)));
			sink_job_finish_later(j);
		}
	}
}

static void
sink_pump_cb(evutil_socket_t fd, short what, void *arg)
{
	UNUSED(fd);
	UNUSED(what);
	sink_pump(arg);
}

/* ---- local kinds ------------------------------------------------------- */

static int
sink_write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes the rendered request to the sink's fd; ends from the loop. */
static void
sink_local_send(struct sink_job *j)
{
	int r;

	r = sink_write_all(j->s->fd, j->rq.body.data, j->rq.body.len);
	j->out.result = r == 0 ? SINK_DELIVERED : SINK_RETRY;
	j->out.error = r;
	if (r < 0)
		(void)snprintf(j->out.detail, sizeof(j->out.detail),
		    "write: %s", strerror(-r));
	sink_job_finish_later(j);
}

/* ---- network kinds ----------------------------------------------------- */

uint64_t
sink_retry_after_ms(const char *value, time_t now)
{
	char *end;
	unsigned long long secs;
	time_t when;

	if (value == NULL || *value == '\0')
		return 0;
	errno = 0;
	secs = strtoull(value, &end, 10);
	if (end != value && *end == '\0' && errno == 0) {
		if (secs > SINK_MAX_RETRY_AFTER_MS / MS_PER_S)
			return SINK_MAX_RETRY_AFTER_MS;
		return secs * MS_PER_S;
	}
	if (clock_parse_http_date(value, &when) < 0 || when <= now)
		return 0;
	if ((uint64_t)(when - now) > SINK_MAX_RETRY_AFTER_MS / MS_PER_S)
		return SINK_MAX_RETRY_AFTER_MS;
	return (uint64_t)(when - now) * MS_PER_S;
}

/* A response that is not 2xx: the result, and what the detail says. */
static void
sink_http_failed(struct sink_job *j, struct http_response *resp)
{
	struct sink *s = j->s;
	const char *body = resp->body.data != NULL ? resp->body.data : "";
	char prefix[32];
	char ra[64];
	struct buf e;
	uint64_t until;

	j->out.result =
	    resp->status == 429 || resp->status == 408 || resp->status >= 500
	    ? SINK_RETRY
	    : SINK_PERMANENT;
	(void)snprintf(prefix, sizeof(prefix), "HTTP %ld", resp->status);
	buf_init(&e, SINK_MAX_REPLY);
	if (s->kind->reply != NULL &&
	    s->kind->reply(body, resp->body.len, &e) >= 0 && e.len > 0)
		sink_detail(j, prefix, e.data, e.len);
	else if (s->kind->reply_body)
		sink_detail(j, prefix, body, resp->body.len);
	else
		sink_detail(j, prefix, "", 0);
	sink_wipe_buf(&e); /* a reply may echo a key */
	if (!s->kind->retry_after)
		return;
	j->out.retry_after_ms = sink_retry_after_ms(
	    http_header(resp, "retry-after", ra, sizeof(ra)), time(NULL));
	if (s->kind->pause_on_429 && resp->status == 429 &&
	    j->out.retry_after_ms > 0) {
		/* The whole destination waits, not just this alert. */
		until = now_us() + j->out.retry_after_ms * US_PER_MS;
		if (s->paused_until_us < until)
			s->paused_until_us = until;
	}
}

static void
sink_http_done(struct http_response *resp, void *arg)
{
	struct sink_job *j = arg;
	char prefix[32];

	j->out.status = resp->status;
	j->out.error = resp->error;
	if (resp->error != 0) {
		j->out.result = SINK_RETRY;
		sink_detail(j, "", resp->errmsg, strlen(resp->errmsg));
	} else if (resp->status >= 200 && resp->status < 300) {
		j->out.result = SINK_DELIVERED;
		(void)snprintf(prefix, sizeof(prefix), "HTTP %ld",
		    resp->status);
		sink_detail(j, prefix, "", 0);
	} else {
		sink_http_failed(j, resp);
	}
	sink_job_done(j);
}

static int
sink_http_start(struct sink_job *j)
{
	struct sink *s = j->s;
	char id_line[SINK_MAX_DELIVERY_ID + 40];
	const char *hdrs[3 + SINK_MAX_HEADERS];
	struct http_request rq;
	size_t n = 0;
	size_t i;
	int r;

	hdrs[n++] = "Content-Type: application/json";
	hdrs[n++] = "Accept: */*";
	for (i = 0; i < j->rq.n_headers; i++)
		hdrs[n++] = j->rq.headers[i];
	if (j->delivery_id[0] != '\0') {
		(void)snprintf(id_line, sizeof(id_line),
		    "X-Smtrail-Delivery-Id: %s", j->delivery_id);
		hdrs[n++] = id_line;
	}
	memset(&rq, 0, sizeof(rq));
	rq.method = "POST";
	rq.url = s->url;
	rq.headers = hdrs;
	rq.n_headers = n;
	rq.body = j->rq.body.data;
	rq.body_len = j->rq.body.len;
	rq.timeout_ms = s->timeout_ms;
	rq.max_body = SINK_MAX_REPLY;
	rq.on_done = sink_http_done;
	rq.arg = j;
	r = http_start(s->http, &rq, &j->req);
	if (r == 0)
		sink_wipe_buf(&j->rq.body); /* http_start copied it */
	return r;
}

int
sink_send(struct sink *s, const char *alert_json, size_t len, sink_done_cb *cb,
    void *arg)
{
	return sink_send_id(s, alert_json, len, NULL, cb, arg);
}

int
sink_send_id(struct sink *s, const char *alert_json, size_t len,
    const char *delivery_id, sink_done_cb *cb, void *arg)
{
	struct sink_job *j;
	struct diag e;
	int r;

	if (delivery_id != NULL &&
	    (strlen(delivery_id) > SINK_MAX_DELIVERY_ID ||
		!text_clean(delivery_id, strlen(delivery_id))))
		return -EINVAL;
	j = sink_job_new(s, cb, arg);
	if (j == NULL)
		return -ENOMEM;
	if (delivery_id != NULL)
		(void)snprintf(j->delivery_id, sizeof(j->delivery_id), "%s",
		    delivery_id);
	memset(&e, 0, sizeof(e));
	buf_init(&j->rq.body,
	    s->kind->max_body != 0 ? s->kind->max_body : len + 1);
	r = s->kind->render((const char *const *)s->opts, alert_json, len,
	    &j->rq, &e);
	if (r == -EBADMSG || r == -E2BIG) {
		/* Retrying cannot make this alert renderable. */
		j->out.result = SINK_PERMANENT;
		j->out.error = r;
		sink_detail(j, "cannot render the alert",
		    e.msg[0] != '\0' ? e.msg : strerror(-r),
		    strlen(e.msg[0] != '\0' ? e.msg : strerror(-r)));
		sink_job_finish_later(j);
		return 0;
	}
	if (r < 0) {
		sink_job_free(j);
		return r;
	}
	if (!s->kind->network) {
		sink_local_send(j);
		return 0;
	}
	if (s->wait_tail != NULL)
		s->wait_tail->wnext = j;
	else
		s->wait_head = j;
	s->wait_tail = j;
	s->n_waiting++;
	sink_pump(s);
	return 0;
}
