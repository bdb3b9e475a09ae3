/*
 * http.c: see http.h. libcurl's multi-socket API driven by libevent, in the
 * shape of curl's hiperfifo example: curl tells us which sockets to watch
 * (http_sock_cb) and when to wake it (http_timer_cb); libevent tells curl
 * what happened (http_event_cb, http_timeout_cb). Transfers are finished
 * only in http_check_done(), after curl_multi_socket_action() has returned,
 * never inside a curl callback.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "clock.h"
#include "http.h"

#define HTTP_DEFAULT_TIMEOUT_MS 60000L
#define HTTP_DEFAULT_CONNECT_MS 10000L
#define HTTP_DEFAULT_MAX_BODY (16u << 20)
#define HTTP_MAX_HEADERS (64u << 10)

struct http {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	struct http_opts opts;
	char *ca_file;
	char *ca_path;
	struct http_req *reqs; /* in flight, doubly linked */
	size_t n_reqs;
};

struct http_req {
	struct http *h;
	CURL *easy;
	struct curl_slist *hdrs;
	char *body;
	size_t body_len;
	http_data_cb *on_data;
	http_done_cb *on_done;
	void *arg;
	int abort_error; /* set when on_data or a limit aborted the transfer */
	int stream;      /* -1 unknown yet, 1 body to on_data, 0 to resp.body */
	struct http_response resp;
	struct http_req *prev;
	struct http_req *next;
};

/* Per-socket state: the libevent event curl asked us to watch. */
struct http_sock {
	struct http *h;
	struct event *ev;
	curl_socket_t fd;
};

static void http_check_done(struct http *h);

static int
http_curl_error(CURLcode c)
{
	switch (c) {
	case CURLE_OK:
		return 0;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
		return -EPROTO;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
		return -ECONNRESET;
	case CURLE_FILESIZE_EXCEEDED:
		return -E2BIG;
	default:
		return -EIO;
	}
}

static void
http_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http *h = arg;
	int action = 0;
	int running;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	(void)curl_multi_socket_action(h->multi, fd, action, &running);
	http_check_done(h);
}

static void
http_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http *h = arg;
	int running;

	UNUSED(fd);
	UNUSED(what);
	(void)curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0,
	    &running);
	http_check_done(h);
}

/* CURLMOPT_TIMERFUNCTION: only arm a timer, never call back into curl. */
static int
http_timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
	struct http *h = arg;
	struct timeval tv;

	UNUSED(multi);
	if (timeout_ms < 0) {
		(void)evtimer_del(h->timer);
		return 0;
	}
	tv = clock_tv_ms((uint64_t)timeout_ms);
	return evtimer_add(h->timer, &tv) == 0 ? 0 : -1;
}

static void
http_sock_free(struct http_sock *s)
{
	if (s == NULL)
		return;
	if (s->ev != NULL)
		event_free(s->ev);
	free(s);
}

/* CURLMOPT_SOCKETFUNCTION: watch fd for what curl asks, or stop. */
static int
http_sock_cb(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct http *h = arg;
	struct http_sock *s = sockp;
	short kind;

	UNUSED(easy);
	if (what == CURL_POLL_REMOVE) {
		http_sock_free(s);
		(void)curl_multi_assign(h->multi, fd, NULL);
		return 0;
	}
	if (s == NULL) {
		s = calloc(1, sizeof(*s));
		if (s == NULL)
			return -1;
		s->h = h;
		s->fd = fd;
		(void)curl_multi_assign(h->multi, fd, s);
	}
	kind = EV_PERSIST;
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (s->ev != NULL)
		event_free(s->ev);
	s->ev = event_new(h->base, fd, kind, http_event_cb, h);
	if (s->ev == NULL || event_add(s->ev, NULL) < 0)
		return -1;
	return 0;
}

struct event_base *
http_base_new(void)
{
	struct event_config *ec = event_config_new();
	struct event_base *base;

	if (ec == NULL)
		return NULL;
	(void)event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
	base = event_base_new_with_config(ec);
	event_config_free(ec);
	return base;
}

int
http_new(struct event_base *base, const struct http_opts *o, struct http **ret)
{
	const curl_version_info_data *vi;
	struct http *h;

	vi = curl_version_info(CURLVERSION_NOW);
	if ((vi->features & CURL_VERSION_ASYNCHDNS) == 0)
		return -ENOTSUP; /* a blocking resolver would stall the loop */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -ENOMEM;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	h->base = base;
	if (o != NULL)
		h->opts = *o;
	if (h->opts.connect_timeout_ms == 0)
		h->opts.connect_timeout_ms = HTTP_DEFAULT_CONNECT_MS;
	if (h->opts.max_connections == 0)
		h->opts.max_connections = 16;
	if (o != NULL && o->ca_file != NULL)
		h->ca_file = strdup(o->ca_file);
	if (o != NULL && o->ca_path != NULL)
		h->ca_path = strdup(o->ca_path);
	h->multi = curl_multi_init();
	h->timer = evtimer_new(base, http_timeout_cb, h);
	if (h->multi == NULL || h->timer == NULL ||
	    (o != NULL && o->ca_file != NULL && h->ca_file == NULL) ||
	    (o != NULL && o->ca_path != NULL && h->ca_path == NULL)) {
		http_free(h);
		return -ENOMEM;
	}
	h->opts.ca_file = h->ca_file;
	h->opts.ca_path = h->ca_path;
	(void)curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION,
	    http_sock_cb);
	(void)curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	(void)curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION,
	    http_timer_cb);
	(void)curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	(void)curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
	    h->opts.max_connections);
	*ret = h;
	return 0;
}

static void
http_unlink(struct http_req *r)
{
	struct http *h = r->h;

	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		h->reqs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	h->n_reqs--;
}

static void
http_req_free(struct http_req *r)
{
	if (r->easy != NULL) {
		(void)curl_multi_remove_handle(r->h->multi, r->easy);
		curl_easy_cleanup(r->easy);
	}
	curl_slist_free_all(r->hdrs);
	/* Bodies may carry a routing key or signed request: wipe them. */
	if (r->body != NULL)
		explicit_bzero(r->body, r->body_len);
	free(r->body);
	buf_done(&r->resp.body);
	buf_done(&r->resp.headers);
	free(r);
}

void
http_free(struct http *h)
{
	if (h == NULL)
		return;
	while (h->reqs != NULL) {
		struct http_req *r = h->reqs;

		http_unlink(r);
		http_req_free(r);
	}
	if (h->multi != NULL)
		(void)curl_multi_cleanup(h->multi);
	if (h->timer != NULL)
		event_free(h->timer);
	free(h->ca_file);
	free(h->ca_path);
	free(h);
}

static size_t
http_write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct http_req *r = arg;
	size_t len = size * n;
	int rc;

	r->resp.body_bytes += len;
	if (r->on_data != NULL && r->stream < 0) {
		long status = 0;

		(void)curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE,
		    &status);
		r->stream = status >= 200 && status < 300;
	}
	if (r->stream > 0)
		rc = r->on_data(p, len, r->arg);
	else
		rc = buf_append(&r->resp.body, p, len);
	if (rc < 0) {
		r->abort_error = rc;
		return 0; /* curl aborts with CURLE_WRITE_ERROR */
	}
	return len;
}

/* Keeps "name: value\n" with the name lower-cased; drops the status line
 * and the header block of an interim 100 Continue. */
static size_t
http_header_cb(char *p, size_t size, size_t n, void *arg)
{
	struct http_req *r = arg;
	size_t len = size * n;
	size_t start = r->resp.headers.len;
	size_t i;

	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		buf_reset(&r->resp.headers); /* a new response begins */
		return len;
	}
	while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r'))
		len--;
	if (len == 0 || memchr(p, ':', len) == NULL)
		return size * n;
	if (buf_append(&r->resp.headers, p, len) < 0 ||
	    buf_putc(&r->resp.headers, '\n') < 0)
		return size * n; /* too many headers: ignore the rest */
	for (i = start; r->resp.headers.data[i] != ':'; i++)
		r->resp.headers.data[i] =
		    (char)tolower((unsigned char)r->resp.headers.data[i]);
	return size * n;
}

static int
http_setup(struct http_req *r, const struct http_request *rq)
{
	struct http *h = r->h;
	CURL *e = r->easy;
	size_t i;

	for (i = 0; i < rq->n_headers; i++) {
		struct curl_slist *l =
		    curl_slist_append(r->hdrs, rq->headers[i]);

		if (l == NULL)
			return -ENOMEM;
		r->hdrs = l;
	}
	/* curl adds "Expect: 100-continue" to big POSTs: one more round trip.
	 */
	{
		struct curl_slist *l = curl_slist_append(r->hdrs, "Expect:");

		if (l == NULL)
			return -ENOMEM;
		r->hdrs = l;
	}
	if (curl_easy_setopt(e, CURLOPT_URL, rq->url) != CURLE_OK)
		return -EINVAL;
	/* The path goes out as written: SigV4 signed it byte for byte, and
	 * an S3 key "a/../b" names that key, not "b" (curl would squash the
	 * dots and fetch another object than the one signed and allowed). */
	(void)curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
	(void)curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	(void)curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	(void)curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (h->opts.ca_file != NULL)
		(void)curl_easy_setopt(e, CURLOPT_CAINFO, h->opts.ca_file);
	if (h->opts.ca_path != NULL)
		(void)curl_easy_setopt(e, CURLOPT_CAPATH, h->opts.ca_path);
	(void)curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	    h->opts.connect_timeout_ms);
	(void)curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
	    rq->timeout_ms > 0 ? rq->timeout_ms : HTTP_DEFAULT_TIMEOUT_MS);
	(void)curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
	(void)curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_write_cb);
	(void)curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	(void)curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, http_header_cb);
	(void)curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	(void)curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	(void)curl_easy_setopt(e, CURLOPT_USERAGENT,
	    "smtrail/" PACKAGE_VERSION);
	if (strcmp(rq->method, "GET") == 0) {
		(void)curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(rq->method, "HEAD") == 0) {
		(void)curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else {
		(void)curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)rq->body_len);
		(void)curl_easy_setopt(e, CURLOPT_POSTFIELDS,
		    r->body != NULL ? r->body : "");
		if (strcmp(rq->method, "POST") != 0)
			(void)curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST,
			    rq->method);
	}
	return 0;
}

int
http_start(struct http *h, const struct http_request *rq, struct http_req **ret)
{
	struct http_req *r;
	int rc;

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->h = h;
	r->on_data = rq->on_data;
	r->stream = rq->on_data != NULL ? -1 : 0;
	r->on_done = rq->on_done;
	r->arg = rq->arg;
	buf_init(&r->resp.body,
	    rq->max_body ? rq->max_body : HTTP_DEFAULT_MAX_BODY);
	buf_init(&r->resp.headers, HTTP_MAX_HEADERS);
	r->resp.errmsg = "";
	if (rq->body_len > 0) {
		r->body = malloc(rq->body_len);
		if (r->body == NULL) {
			http_req_free(r);
			return -ENOMEM;
		}
		memcpy(r->body, rq->body, rq->body_len);
		r->body_len = rq->body_len;
	}
	r->easy = curl_easy_init();
	rc = r->easy == NULL ? -ENOMEM : http_setup(r, rq);
	if (rc == 0 && curl_multi_add_handle(h->multi, r->easy) != CURLM_OK)
		rc = -ENOMEM;
	if (rc < 0) {
		http_req_free(r);
		return rc;
	}
	r->next = h->reqs;
	if (h->reqs != NULL)
		h->reqs->prev = r;
	h->reqs = r;
	h->n_reqs++;
	if (ret != NULL)
		*ret = r;
	return 0;
}

void
http_cancel(struct http_req *r)
{
	if (r == NULL)
		return;
	http_unlink(r);
	http_req_free(r);
}

size_t
http_in_flight(const struct http *h)
{
	return h->n_reqs;
}

static void
http_finish(struct http_req *r, CURLcode code)
{
	struct http_response *resp = &r->resp;

	(void)curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &resp->status);
	(void)curl_easy_getinfo(r->easy, CURLINFO_TOTAL_TIME, &resp->total_s);
	if (r->abort_error != 0) {
		resp->error = r->abort_error;
		resp->errmsg = "aborted while receiving the body";
	} else if (code != CURLE_OK) {
		resp->error = http_curl_error(code);
		resp->errmsg = curl_easy_strerror(code);
	}
	http_unlink(r);
	if (r->on_done != NULL)
		r->on_done(resp, r->arg);
	http_req_free(r);
}

static void
http_check_done(struct http *h)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		struct http_req *r = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		(void)curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
		    (char **)&r);
		if (r != NULL)
			http_finish(r, msg->data.result);
	}
}

const char *
http_header(const struct http_response *resp, const char *name, char *buf,
    size_t size)
{
	size_t nlen = strlen(name);
	const char *p = resp->headers.data;
	const char *end = p + resp->headers.len;

	if (p == NULL || size == 0)
		return NULL;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *v;
		size_t vlen;

		if (eol == NULL)
			eol = end;
		if ((size_t)(eol - p) > nlen && p[nlen] == ':' &&
		    strncasecmp(p, name, nlen) == 0) {
			v = p + nlen + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			vlen = (size_t)(eol - v);
			while (vlen > 0 &&
			    (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
				vlen--;
			if (vlen >= size)
				vlen = size - 1;
			memcpy(buf, v, vlen);
			buf[vlen] = '\0';
			return buf;
		}
		p = eol + 1;
	}
	return NULL;
}

const char *
http_url_redact(const char *url, char *buf, size_t size)
{
	const char *host = strstr(url, "://");
	size_t n;

	if (host == NULL) {
		(void)snprintf(buf, size, "(url)");
		return buf;
	}
	host += 3;
	n = strcspn(host, "/?#@");
	if (host[n] == '@') { /* userinfo: a credential, drop it */
		host += n + 1;
		n = strcspn(host, "/?#");
	}
	(void)snprintf(buf, size, "%.*s%.*s%s",
	    (int)(strstr(url, "://") - url + 3), url, (int)n, host,
	    host[n] != '\0' ? "/..." : "");
	return buf;
}

const char *
http_url_host(const char *url, char *buf, size_t size)
{
	const char *h = strstr(url, "://");
	size_t n;
	size_t i;

	buf[0] = '\0';
	if (h == NULL)
		return buf;
	h += 3;
	n = strcspn(h, "/?#@");
	if (h[n] == '@') {
		h += n + 1;
		n = strcspn(h, "/?#");
	}
	if (h[0] == '[') {
		const char *end = memchr(h, ']', n);

		if (end == NULL)
			return buf;
		h++;
		n = (size_t)(end - h);
	} else {
		const char *colon = memchr(h, ':', n);

		if (colon != NULL)
			n = (size_t)(colon - h);
	}
	if (n >= size)
		return buf;
	for (i = 0; i < n; i++)
		buf[i] = h[i] >= 'A' && h[i] <= 'Z' ? (char)(h[i] - 'A' + 'a')
						    : h[i];
	buf[n] = '\0';
	return buf;
}

bool
http_host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcmp(host, "localhost") == 0 || strcmp(host, "localhost.") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}
