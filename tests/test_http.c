/*
 * test_http.c: the curl-on-libevent client against an evhttp server running
 * in the same loop, which only works if the client never blocks.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "http.h"
#include "tap.h"
#include "testlib.h"

struct srv {
	struct tl_srv srv;
	int hits;
	char last_method[16];
	char last_body[256];
	char last_hdr[256];
	struct delayed *pending; /* a /slow reply not sent yet */
};

struct delayed {
	struct evhttp_request *req;
	struct event *ev;
	struct delayed **slot;
};

static void
srv_delayed_reply(evutil_socket_t fd, short what, void *arg)
{
	struct delayed *d = arg;
	struct evbuffer *b = evbuffer_new();

	(void)fd;
	(void)what;
	evbuffer_add_printf(b, "late");
	evhttp_send_reply(d->req, 200, "OK", b);
	evbuffer_free(b);
	*d->slot = NULL;
	event_free(d->ev);
	free(d);
}

static void
srv_cb(struct evhttp_request *req, void *arg)
{
	struct srv *s = arg;
	const char *uri = evhttp_request_get_uri(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evbuffer *out = evbuffer_new();
	struct evkeyvalq *hin = evhttp_request_get_input_headers(req);
	const char *h;
	size_t n;

	s->hits++;
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET:
		snprintf(s->last_method, sizeof(s->last_method), "GET");
		break;
	case EVHTTP_REQ_POST:
		snprintf(s->last_method, sizeof(s->last_method), "POST");
		break;
	case EVHTTP_REQ_PUT:
		snprintf(s->last_method, sizeof(s->last_method), "PUT");
		break;
	default:
		snprintf(s->last_method, sizeof(s->last_method), "OTHER");
	}
	n = evbuffer_get_length(in);
	if (n >= sizeof(s->last_body))
		n = sizeof(s->last_body) - 1;
	evbuffer_copyout(in, s->last_body, n);
	s->last_body[n] = '\0';
	h = evhttp_find_header(hin, "X-Test");
	snprintf(s->last_hdr, sizeof(s->last_hdr), "%s", h ? h : "");

	if (strcmp(uri, "/slow") == 0) {
		struct delayed *d = calloc(1, sizeof(*d));
		struct timeval tv = {1, 0};

		d->req = req;
		d->slot = &s->pending;
		s->pending = d;
		d->ev = evtimer_new(s->srv.base, srv_delayed_reply, d);
		evtimer_add(d->ev, &tv);
		evbuffer_free(out);
		return;
	}
	if (strcmp(uri, "/big") == 0) {
		char chunk[1024];

		memset(chunk, 'x', sizeof(chunk));
		for (int i = 0; i < 100; i++)
			evbuffer_add(out, chunk, sizeof(chunk));
		evhttp_send_reply(req, 200, "OK", out);
	} else if (strcmp(uri, "/fail") == 0) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Retry-After", "  7 ");
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "X-Amzn-ErrorType", "com.amazonaws.sqs#Throttled");
		evbuffer_add_printf(out, "{\"__type\":\"x\"}");
		evhttp_send_reply(req, 503, "Unavailable", out);
	} else {
		evbuffer_add_printf(out, "hello %s", s->last_body);
		evhttp_send_reply(req, 200, "OK", out);
	}
	evbuffer_free(out);
}

struct result {
	int done;
	int error;
	long status;
	char body[256];
	char retry_after[64];
	char errtype[64];
	size_t streamed;
	struct timespec at;
};

static void
on_done(struct http_response *resp, void *arg)
{
	struct result *r = arg;
	char tmp[64];

	r->done++;
	r->error = resp->error;
	r->status = resp->status;
	snprintf(r->body, sizeof(r->body), "%s",
	    resp->body.data ? resp->body.data : "");
	snprintf(r->retry_after, sizeof(r->retry_after), "%s",
	    http_header(resp, "retry-after", tmp, sizeof(tmp)) ? tmp : "-");
	snprintf(r->errtype, sizeof(r->errtype), "%s",
	    http_header(resp, "X-AMZN-ERRORTYPE", tmp, sizeof(tmp)) ? tmp
								    : "-");
	clock_gettime(CLOCK_MONOTONIC, &r->at);
}

static int
on_data_limit(const void *p, size_t len, void *arg)
{
	struct result *r = arg;

	(void)p;
	r->streamed += len;
	return r->streamed > 50000 ? -E2BIG : 0;
}

int
main(void)
{
	struct srv s = {0};
	struct http *h = NULL;
	struct result r1 = {0};
	struct result r2 = {0};
	struct result r3 = {0};
	struct result r4 = {0};
	struct result r5 = {0};
	char url[128];
	char red[128];
	const char *hdrs[] = {"X-Test: yes", "Content-Type: text/plain"};
	struct http_request rq;
	struct http_req *pending = NULL;
	struct event_base *base = event_base_new();

	ok(tl_srv_start(&s.srv, base, srv_cb, &s) == 0, "test server listens");
	is_int(http_new(base, NULL, &h), 0, "http_new");

	/* What must fail first: a refused connection, a body over its cap. */
	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.url = "http://127.0.0.1:1/";
	rq.on_done = on_done;
	rq.arg = &r1;
	is_int(http_start(h, &rq, NULL), 0, "start: connection refused");
	tl_run_until(base, &r1.done, 1, 10000);
	is_int(r1.done, 1, "refused: callback once");
	is_int(r1.error, -ECONNREFUSED, "refused: -ECONNREFUSED");
	is_int(r1.status, 0, "refused: no status");

	snprintf(url, sizeof(url), "%s/big", s.srv.url);
	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.url = url;
	rq.max_body = 10000;
	rq.on_done = on_done;
	rq.arg = &r2;
	is_int(http_start(h, &rq, NULL), 0, "start: body over max_body");
	tl_run_until(base, &r2.done, 1, 10000);
	is_int(r2.error, -E2BIG, "max_body: -E2BIG");

	memset(&r2, 0, sizeof(r2));
	rq.max_body = 0;
	rq.on_data = on_data_limit;
	is_int(http_start(h, &rq, NULL), 0, "start: streaming abort");
	tl_run_until(base, &r2.done, 1, 10000);
	is_int(r2.error, -E2BIG, "on_data's error becomes the result");

	/* POST with headers and body. */
	snprintf(url, sizeof(url), "%s/echo", s.srv.url);
	memset(&rq, 0, sizeof(rq));
	rq.method = "POST";
	rq.url = url;
	rq.headers = hdrs;
	rq.n_headers = 2;
	rq.body = "ping";
	rq.body_len = 4;
	rq.on_done = on_done;
	rq.arg = &r3;
	is_int(http_start(h, &rq, NULL), 0, "start: POST");
	tl_run_until(base, &r3.done, 1, 10000);
	is_int(r3.error, 0, "POST: no error");
	is_int(r3.status, 200, "POST: 200");
	is_str(r3.body, "hello ping", "POST: body echoed");
	is_str(s.last_method, "POST", "server saw POST");
	is_str(s.last_hdr, "yes", "server saw the header");

	/* Error status and headers. */
	snprintf(url, sizeof(url), "%s/fail", s.srv.url);
	memset(&r3, 0, sizeof(r3));
	rq.url = url;
	is_int(http_start(h, &rq, NULL), 0, "start: 503");
	tl_run_until(base, &r3.done, 1, 10000);
	is_int(r3.error, 0, "503 is a response, not a transport error");
	is_int(r3.status, 503, "503 status");
	is_str(r3.retry_after, "7", "header value trimmed");
	is_str(r3.errtype, "com.amazonaws.sqs#Throttled",
	    "header lookup is case-insensitive");

	/* A slow response and a timer in the same loop: the timer is on time.
	 */
	{
		struct tl_tick t;
		struct timespec start;

		snprintf(url, sizeof(url), "%s/slow", s.srv.url);
		memset(&rq, 0, sizeof(rq));
		rq.method = "GET";
		rq.url = url;
		rq.on_done = on_done;
		rq.arg = &r4;
		clock_gettime(CLOCK_MONOTONIC, &start);
		is_int(http_start(h, &rq, NULL), 0, "start: slow request");
		if (tl_tick_start(&t, base, 200) < 0)
			tl_bail("test_http: no timer");
		tl_run_until(base, &r4.done, 1, 10000);
		is_int(t.fired, 1, "timer fired during the long request");
		ok(t.fired && tl_ms_between(&start, &t.at) < 400,
		    "timer on time (%.0f ms, want ~200)",
		    tl_ms_between(&start, &t.at));
		ok(tl_ms_between(&start, &r4.at) >= 900,
		    "slow response after ~1 s (%.0f ms)",
		    tl_ms_between(&start, &r4.at));
		is_str(r4.body, "late", "slow response body");
		tl_tick_stop(&t);
	}

	/* Cancel: no callback. */
	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.url = url;
	rq.on_done = on_done;
	rq.arg = &r5;
	is_int(http_start(h, &rq, &pending), 0, "start: to cancel");
	is_int((long long)http_in_flight(h), 1, "one in flight");
	http_cancel(pending);
	is_int((long long)http_in_flight(h), 0, "none after cancel");
	tl_run_for(base, 1300);
	is_int(r5.done, 0, "cancelled request: no callback");

	is_str(http_url_redact("https://hooks.slack.com/services/T0/B0/XXXX",
		   red, sizeof(red)),
	    "https://hooks.slack.com/...", "redact: path dropped");
	is_str(http_url_redact("https://user:pw@example.net:8443/x?y", red,
		   sizeof(red)),
	    "https://example.net:8443/...", "redact: userinfo dropped");
	is_str(http_url_redact("http://127.0.0.1:9", red, sizeof(red)),
	    "http://127.0.0.1:9", "redact: bare host kept");

	/* A request in flight at http_free: freed, no callback. */
	memset(&r5, 0, sizeof(r5));
	is_int(http_start(h, &rq, NULL), 0, "start: in flight at free");
	event_base_loop(base, EVLOOP_NONBLOCK);
	http_free(h);
	is_int(r5.done, 0, "http_free: no callback");
	if (s.pending != NULL) {
		event_free(s.pending->ev);
		free(s.pending);
	}
	tl_srv_stop(&s.srv);
	event_base_free(base);
	return done_testing();
}
