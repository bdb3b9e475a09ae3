/*
 * sink.c: see sink.h. Each delivery is a struct sink_job on its sink's list
 * from sink_send() to its callback, so that sink_free() can cancel them
 * without callbacks. A job the rate limit holds back also sits on the
 * sink's FIFO (wait_head) until sink_pump() starts it. Completions that
 * need no response (stdout, an alert that cannot be rendered, a request
 * that cannot start) are deferred through the job's own event, so that a
 * callback never runs inside sink_send() or sink_pump().
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "buf.h"
#include "clock.h"
#include "diag.h"
#include "http.h"
#include "pd.h"
#include "sink.h"
#include "slack.h"
#include "text.h"

#define SINK_DEFAULT_TIMEOUT_MS 10000L
#define SINK_MAX_RETRY_AFTER_MS (3600 * MS_PER_S)
/* Receivers answer "ok" or a short error; we only keep a little. */
#define SINK_MAX_REPLY (64u << 10)
/* Where an outcome's detail is composed and scrubbed before it is cut to
 * sizeof(detail): a secret is removed whole, never half. */
#define SINK_DETAIL_SCRATCH 4096
/* URL path parts shorter than this are not worth hiding (and would hide
 * half of every message). */
#define SINK_MIN_SCRUB 6

struct sink_job {
	struct sink *s;
	struct http_req *req;
	struct event *ev; /* the deferred completion */
	sink_done_cb *cb;
	void *arg;
	char *body; /* what to POST, until the request starts */
	size_t body_len;
	char delivery_id[SINK_MAX_DELIVERY_ID + 1]; /* "": none */
	struct sink_outcome out;
	struct sink_job *prev;
	struct sink_job *next;
	struct sink_job *wnext; /* on the FIFO */
};

struct sink {
	char *name;
	enum sink_type type;
	char *url;
	unsigned char *hmac;
	size_t hmac_len;
	char *routing_key;
	char *channel;
	char *username;
	char *icon_emoji;
	char *mention;
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
	uint64_t paused_until_us; /* a Slack 429's Retry-After */
	struct event *pump_ev;
	struct sink_job *wait_head;
	struct sink_job *wait_tail;
	size_t n_waiting;
};

const char *
sink_type_str(enum sink_type t)
{
	switch (t) {
	case SINK_TYPE_STDOUT:
		return "stdout";
	case SINK_TYPE_WEBHOOK:
		return "webhook";
	case SINK_TYPE_SLACK:
		return "slack";
	case SINK_TYPE_PAGERDUTY:
		return "pagerduty";
	case SINK_TYPE_COUNT:
		break;
	}
	return "?";
}

int
sink_type_parse(const char *s, enum sink_type *ret)
{
	int t;

	for (t = 0; t < SINK_TYPE_COUNT; t++) {
		if (strcmp(s, sink_type_str((enum sink_type)t)) == 0) {
			*ret = (enum sink_type)t;
			return 0;
		}
	}
	return -EINVAL;
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

/* ---- sinks ------------------------------------------------------------- */

static void
sink_wipe_free(void *p, size_t len)
{
	if (p == NULL)
		return;
	explicit_bzero(p, len);
	free(p);
}

static void
sink_wipe_str(char *p)
{
	if (p != NULL)
		sink_wipe_free(p, strlen(p));
}

/* A copy of s, or NULL for NULL; sets *oom when the copy fails. */
static char *
sink_dup(const char *s, bool *oom)
{
	char *p;

	if (s == NULL)
		return NULL;
	p = strdup(s);
	if (p == NULL)
		*oom = true;
	return p;
}

static int
sink_check(const struct sink_conf *c, struct http *http, struct diag *reterr)
{
	const char *opts[] = {c->channel, c->username, c->icon_emoji,
	    c->mention};
	const char *const names[] = {"channel", "username", "icon_emoji",
	    "mention"};
	size_t i;

	switch (c->type) {
	case SINK_TYPE_STDOUT:
		return 0;
	case SINK_TYPE_WEBHOOK:
	case SINK_TYPE_SLACK:
		if (c->url == NULL || *c->url == '\0')
			return diag_set(reterr, -EINVAL, NULL, 0, 0,
			    "destination '%s': a %s destination needs a url",
			    c->name, sink_type_str(c->type));
		break;
	case SINK_TYPE_PAGERDUTY:
		if (c->routing_key == NULL || *c->routing_key == '\0')
			return diag_set(reterr, -EINVAL, NULL, 0, 0,
			    "destination '%s': a pagerduty destination needs a routing key",
			    c->name);
		break;
	case SINK_TYPE_COUNT:
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "destination '%s': no such sink type", c->name);
	}
	if (http == NULL)
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "destination '%s': no HTTP client", c->name);
	for (i = 0; i < ARRAY_SIZE(opts); i++)
		if (opts[i] != NULL && strlen(opts[i]) > SINK_MAX_SLACK_OPTION)
			return diag_set(reterr, -EINVAL, NULL, 0, 0,
			    "destination '%s': '%s' is longer than %u bytes",
			    c->name, names[i], SINK_MAX_SLACK_OPTION);
	if ((c->rate_count == 0) != (c->rate_period_us == 0))
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
	if (s->rate_count == 0 && s->type == SINK_TYPE_SLACK) {
		s->rate_count = 1; /* Slack: one message a second */
		s->rate_period_us = US_PER_S;
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
	struct sink *s;
	bool oom = false;
	int r;

	r = sink_check(c, http, reterr);
	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->type = c->type;
	s->base = base;
	s->http = http;
	s->fd = c->fd;
	s->timeout_ms =
	    c->timeout_ms > 0 ? c->timeout_ms : SINK_DEFAULT_TIMEOUT_MS;
	s->name = sink_dup(c->name, &oom);
	if (c->type == SINK_TYPE_PAGERDUTY && c->url == NULL)
		s->url = sink_dup(PD_DEFAULT_URL, &oom);
	else if (c->type != SINK_TYPE_STDOUT)
		s->url = sink_dup(c->url, &oom);
	if (c->type == SINK_TYPE_WEBHOOK && c->hmac_secret != NULL) {
		s->hmac = malloc(c->hmac_secret_len + 1);
		if (s->hmac != NULL) {
			memcpy(s->hmac, c->hmac_secret, c->hmac_secret_len);
			s->hmac_len = c->hmac_secret_len;
		} else {
			oom = true;
		}
	}
	if (c->type == SINK_TYPE_PAGERDUTY)
		s->routing_key = sink_dup(c->routing_key, &oom);
	if (c->type == SINK_TYPE_SLACK) {
		s->channel = sink_dup(c->channel, &oom);
		s->username = sink_dup(c->username, &oom);
		s->icon_emoji = sink_dup(c->icon_emoji, &oom);
		s->mention = sink_dup(c->mention, &oom);
	}
	if (c->type != SINK_TYPE_STDOUT) {
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
	/* A PagerDuty body holds the routing key. */
	sink_wipe_free(j->body, j->body_len);
	free(j);
}

void
sink_free(struct sink *s)
{
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
	sink_wipe_str(s->url);
	sink_wipe_free(s->hmac, s->hmac_len);
	sink_wipe_str(s->routing_key);
	free(s->channel);
	free(s->username);
	free(s->icon_emoji);
	free(s->mention);
	free(s);
}

const char *
sink_name(const struct sink *s)
{
	return s->name;
}

enum sink_type
sink_type(const struct sink *s)
{
	return s->type;
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
 * Nothing of a secret reaches an outcome: the routing key, the HMAC key,
 * and the URL's path and query (the whole, then each part long enough to
 * be a credential: a Slack hook's path is one).
 */
static void
sink_scrub(const struct sink *s, char *d)
{
	const char *p;
	size_t n;

	if (s->routing_key != NULL)
		sink_scrub_tok(d, s->routing_key, strlen(s->routing_key));
	if (s->hmac_len >= SINK_MIN_SCRUB)
		sink_scrub_tok(d, s->hmac, s->hmac_len);
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

/* ---- stdout ------------------------------------------------------------ */

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

static void
sink_stdout_send(struct sink_job *j, const char *json, size_t len)
{
	struct sink *s = j->s;
	int r;

	/* One JSON line per alert, as the spool holds it (with "record"). */
	r = sink_write_all(s->fd, json, len);
	if (r == 0)
		r = sink_write_all(s->fd, "\n", 1);
	j->out.result = r == 0 ? SINK_DELIVERED : SINK_RETRY;
	j->out.error = r;
	if (r < 0)
		(void)snprintf(j->out.detail, sizeof(j->out.detail),
		    "write: %s", strerror(-r));
	sink_job_finish_later(j);
}

/* ---- HTTP sinks -------------------------------------------------------- */

int
sink_signature(const void *key, size_t key_len, const void *body, size_t len,
    char *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	unsigned int i;

	if (size < 7 + 2 * 32 + 1)
		return -ENOBUFS;
	if (HMAC(EVP_sha256(), key, (int)key_len, body, len, mac, &mac_len) ==
	    NULL)
		return -ENOMEM;
	memcpy(buf, "sha256=", 7);
	for (i = 0; i < mac_len; i++) {
		buf[7 + 2 * i] = hex[mac[i] >> 4];
		buf[7 + 2 * i + 1] = hex[mac[i] & 15];
	}
	buf[7 + 2 * mac_len] = '\0';
	return 0;
}

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
	uint64_t now;

	j->out.result =
	    resp->status == 429 || resp->status == 408 || resp->status >= 500
	    ? SINK_RETRY
	    : SINK_PERMANENT;
	(void)snprintf(prefix, sizeof(prefix), "HTTP %ld", resp->status);
	switch (s->type) {
	case SINK_TYPE_PAGERDUTY:
		/* PagerDuty sends no Retry-After: the caller's backoff. */
		buf_init(&e, SINK_DETAIL_SCRATCH);
		if (pd_reply_errors(body, resp->body.len, &e) == 0)
			sink_detail(j, prefix, e.data, e.len);
		else
			sink_detail(j, prefix, body, resp->body.len);
		buf_done(&e);
		return;
	case SINK_TYPE_SLACK:
		/* Slack answers in a word: invalid_payload, no_service... */
		sink_detail(j, prefix, body, resp->body.len);
		break;
	case SINK_TYPE_WEBHOOK:
	case SINK_TYPE_STDOUT:
	case SINK_TYPE_COUNT:
		sink_detail(j, prefix, "", 0);
		break;
	}
	j->out.retry_after_ms = sink_retry_after_ms(
	    http_header(resp, "retry-after", ra, sizeof(ra)), time(NULL));
	if (s->type == SINK_TYPE_SLACK && resp->status == 429 &&
	    j->out.retry_after_ms > 0) {
		/* The whole destination waits, not just this alert. */
		now = now_us();
		if (s->paused_until_us <
		    now + j->out.retry_after_ms * US_PER_MS)
			s->paused_until_us =
			    now + j->out.retry_after_ms * US_PER_MS;
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
	char sig[128];
	char sig_line[160];
	char id_line[SINK_MAX_DELIVERY_ID + 40];
	const char *hdrs[4];
	struct http_request rq;
	size_t n = 0;
	int r;

	hdrs[n++] = "Content-Type: application/json";
	hdrs[n++] = "Accept: */*";
	if (s->hmac != NULL) {
		r = sink_signature(s->hmac, s->hmac_len, j->body, j->body_len,
		    sig, sizeof(sig));
		if (r < 0)
			return r;
		(void)snprintf(sig_line, sizeof(sig_line),
		    "X-Smtrail-Signature: %s", sig);
		hdrs[n++] = sig_line;
	}
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
	rq.body = j->body;
	rq.body_len = j->body_len;
	rq.timeout_ms = s->timeout_ms;
	rq.max_body = SINK_MAX_REPLY;
	rq.on_done = sink_http_done;
	rq.arg = j;
	r = http_start(s->http, &rq, &j->req);
	if (r == 0) {
		/* http_start copied it. */
		sink_wipe_free(j->body, j->body_len);
		j->body = NULL;
		j->body_len = 0;
	}
	return r;
}

/* The request body for the sink's type into j->body. */
static int
sink_render(struct sink_job *j, const char *json, size_t len,
    struct diag *reterr)
{
	struct sink *s = j->s;
	struct slack_opts so;
	struct pd_opts po;
	struct buf b;
	int r = -EINVAL;

	switch (s->type) {
	case SINK_TYPE_WEBHOOK:
		buf_init(&b, len);
		r = buf_append(&b, json, len);
		break;
	case SINK_TYPE_SLACK:
		memset(&so, 0, sizeof(so));
		so.channel = s->channel;
		so.username = s->username;
		so.icon_emoji = s->icon_emoji;
		so.mention = s->mention;
		buf_init(&b, SLACK_MAX_PAYLOAD);
		r = slack_payload(json, len, &so, &b, reterr);
		break;
	case SINK_TYPE_PAGERDUTY:
		memset(&po, 0, sizeof(po));
		po.routing_key = s->routing_key;
		buf_init(&b, PD_MAX_PAYLOAD);
		r = pd_payload(json, len, &po, &b, reterr);
		break;
	case SINK_TYPE_STDOUT:
	case SINK_TYPE_COUNT:
		return -EINVAL;
	}
	if (r < 0) {
		sink_wipe_free(b.data, b.len);
		return r;
	}
	j->body_len = b.len;
	j->body = buf_steal(&b);
	return j->body == NULL ? -ENOMEM : 0;
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
	if (s->type == SINK_TYPE_STDOUT) {
		sink_stdout_send(j, alert_json, len);
		return 0;
	}
	memset(&e, 0, sizeof(e));
	r = sink_render(j, alert_json, len, &e);
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
	if (s->wait_tail != NULL)
		s->wait_tail->wnext = j;
	else
		s->wait_head = j;
	s->wait_tail = j;
	s->n_waiting++;
	sink_pump(s);
	return 0;
}
