/*
 * sink.c: see sink.h. Each delivery in flight is a struct sink_job on its
 * sink's list, so that sink_free() can cancel them without callbacks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "aws/sigv4.h"
#include "diag.h"
#include "http.h"
#include "sink.h"

#define SINK_DEFAULT_TIMEOUT_MS 10000L
#define SINK_MAX_RETRY_AFTER_MS (3600u * 1000u)
/* Receivers answer "ok" or a short error; we only keep a little. */
#define SINK_MAX_REPLY (64u << 10)

struct sink_job {
	struct sink *s;
	struct http_req *req;
	struct event *ev; /* stdout: the deferred completion */
	sink_done_cb *cb;
	void *arg;
	struct sink_outcome out;
	struct sink_job *prev;
	struct sink_job *next;
};

struct sink {
	char *name;
	enum sink_type type;
	char *url;
	unsigned char *hmac;
	size_t hmac_len;
	long timeout_ms;
	int fd;
	struct event_base *base;
	struct http *http;
	struct sink_job *jobs;
};

const char *
sink_type_str(enum sink_type t)
{
	switch (t) {
	case SINK_TYPE_STDOUT:
		return "stdout";
	case SINK_TYPE_WEBHOOK:
		return "webhook";
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

static void
sink_wipe_free(void *p, size_t len)
{
	if (p == NULL)
		return;
	explicit_bzero(p, len);
	free(p);
}

int
sink_new(const struct sink_conf *c, struct event_base *base, struct http *http,
    struct sink **ret, struct diag *reterr)
{
	struct sink *s;

	if (c->type == SINK_TYPE_WEBHOOK && (c->url == NULL || http == NULL))
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "destination '%s': a webhook needs a url", c->name);
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->type = c->type;
	s->base = base;
	s->http = http;
	s->fd = c->fd;
	s->timeout_ms =
	    c->timeout_ms > 0 ? c->timeout_ms : SINK_DEFAULT_TIMEOUT_MS;
	s->name = strdup(c->name);
	if (c->url != NULL)
		s->url = strdup(c->url);
	if (c->hmac_secret != NULL) {
		s->hmac = malloc(c->hmac_secret_len + 1);
		if (s->hmac != NULL) {
			memcpy(s->hmac, c->hmac_secret, c->hmac_secret_len);
			s->hmac_len = c->hmac_secret_len;
		}
	}
	if (s->name == NULL || (c->url != NULL && s->url == NULL) ||
	    (c->hmac_secret != NULL && s->hmac == NULL)) {
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

static void
sink_job_free(struct sink_job *j)
{
	sink_job_unlink(j);
	if (j->req != NULL)
		http_cancel(j->req);
	if (j->ev != NULL)
		event_free(j->ev);
	free(j);
}

void
sink_free(struct sink *s)
{
	if (s == NULL)
		return;
	while (s->jobs != NULL)
		sink_job_free(s->jobs);
	free(s->name);
	if (s->url != NULL)
		sink_wipe_free(s->url, strlen(s->url));
	sink_wipe_free(s->hmac, s->hmac_len);
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

static struct sink_job *
sink_job_new(struct sink *s, sink_done_cb *cb, void *arg)
{
	struct sink_job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->s = s;
	j->cb = cb;
	j->arg = arg;
	j->next = s->jobs;
	if (s->jobs != NULL)
		s->jobs->prev = j;
	s->jobs = j;
	return j;
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

/* ---- stdout ------------------------------------------------------------ */

static void
sink_stdout_done(evutil_socket_t fd, short what, void *arg)
{
	UNUSED(fd);
	UNUSED(what);
	sink_job_done(arg);
}

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

static int
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
	j->ev = event_new(s->base, -1, 0, sink_stdout_done, j);
	if (j->ev == NULL)
		return -ENOMEM;
	event_active(j->ev, 0, 0);
	return 0;
}

/* ---- webhook ----------------------------------------------------------- */

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
		if (secs > SINK_MAX_RETRY_AFTER_MS / 1000)
			return SINK_MAX_RETRY_AFTER_MS;
		return secs * 1000;
	}
	if (sigv4_parse_http_date(value, &when) < 0 || when <= now)
		return 0;
	if ((uint64_t)(when - now) > SINK_MAX_RETRY_AFTER_MS / 1000)
		return SINK_MAX_RETRY_AFTER_MS;
	return (uint64_t)(when - now) * 1000;
}

static void
sink_webhook_done(struct http_response *resp, void *arg)
{
	struct sink_job *j = arg;
	char ra[64];

	j->out.status = resp->status;
	j->out.error = resp->error;
	if (resp->error != 0) {
		j->out.result = SINK_RETRY;
		(void)snprintf(j->out.detail, sizeof(j->out.detail), "%s",
		    resp->errmsg);
	} else if (resp->status >= 200 && resp->status < 300) {
		j->out.result = SINK_DELIVERED;
		(void)snprintf(j->out.detail, sizeof(j->out.detail), "HTTP %ld",
		    resp->status);
	} else {
		j->out.result = resp->status == 429 || resp->status == 408 ||
			resp->status >= 500
		    ? SINK_RETRY
		    : SINK_PERMANENT;
		j->out.retry_after_ms = sink_retry_after_ms(
		    http_header(resp, "retry-after", ra, sizeof(ra)),
		    time(NULL));
		(void)snprintf(j->out.detail, sizeof(j->out.detail), "HTTP %ld",
		    resp->status);
	}
	sink_job_done(j);
}

static int
sink_webhook_send(struct sink_job *j, const char *json, size_t len)
{
	struct sink *s = j->s;
	char sig[128];
	char sig_line[160];
	const char *hdrs[3];
	struct http_request rq;
	size_t n = 0;
	int r;

	hdrs[n++] = "Content-Type: application/json";
	hdrs[n++] = "Accept: */*";
	if (s->hmac != NULL) {
		r = sink_signature(s->hmac, s->hmac_len, json, len, sig,
		    sizeof(sig));
		if (r < 0)
			return r;
		(void)snprintf(sig_line, sizeof(sig_line),
		    "X-Smtrail-Signature: %s", sig);
		hdrs[n++] = sig_line;
	}
	memset(&rq, 0, sizeof(rq));
	rq.method = "POST";
	rq.url = s->url;
	rq.headers = hdrs;
	rq.n_headers = n;
	rq.body = json;
	rq.body_len = len;
	rq.timeout_ms = s->timeout_ms;
	rq.max_body = SINK_MAX_REPLY;
	rq.on_done = sink_webhook_done;
	rq.arg = j;
	return http_start(s->http, &rq, &j->req);
}

int
sink_send(struct sink *s, const char *alert_json, size_t len, sink_done_cb *cb,
    void *arg)
{
	struct sink_job *j = sink_job_new(s, cb, arg);
	int r = -EINVAL;

	if (j == NULL)
		return -ENOMEM;
	switch (s->type) {
	case SINK_TYPE_STDOUT:
		r = sink_stdout_send(j, alert_json, len);
		break;
	case SINK_TYPE_WEBHOOK:
		r = sink_webhook_send(j, alert_json, len);
		break;
	case SINK_TYPE_COUNT:
		break;
	}
	if (r < 0)
		sink_job_free(j);
	return r;
}
