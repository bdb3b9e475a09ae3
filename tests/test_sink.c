/*
 * test_sink.c: webhook and stdout sinks against an evhttp receiver in the
 * same loop: outcomes for 2xx, 5xx, 429 + Retry-After, 4xx, refused
 * connections, the HMAC signature header, and a rate limit.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "http.h"
#include "sink.h"
#include "tap.h"

struct rcv {
	int status;
	const char *retry_after;
	int hits;
	char sig[128];
	char ctype[64];
	char body[512];
};

static void
rcv_cb(struct evhttp_request *req, void *arg)
{
	struct rcv *r = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	const char *v;
	size_t n;

	r->hits++;
	v = evhttp_find_header(h, "X-Smtrail-Signature");
	snprintf(r->sig, sizeof(r->sig), "%s", v ? v : "");
	v = evhttp_find_header(h, "Content-Type");
	snprintf(r->ctype, sizeof(r->ctype), "%s", v ? v : "");
	n = evbuffer_get_length(in);
	if (n >= sizeof(r->body))
		n = sizeof(r->body) - 1;
	evbuffer_copyout(in, r->body, n);
	r->body[n] = '\0';
	if (r->retry_after != NULL)
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Retry-After", r->retry_after);
	evhttp_send_reply(req, r->status, "X", NULL);
}

struct got {
	int done;
	struct sink_outcome o;
};

static void
on_done(const struct sink_outcome *o, void *arg)
{
	struct got *g = arg;

	g->done++;
	g->o = *o;
}

static void
run(struct event_base *base, struct got *g)
{
	int i;

	for (i = 0; i < 2000 && !g->done; i++)
		event_base_loop(base, EVLOOP_ONCE);
}

static struct sink *
webhook(struct event_base *base, struct http *h, const char *url,
    const char *key)
{
	struct sink_conf c;
	struct sink *s = NULL;

	memset(&c, 0, sizeof(c));
	c.name = "hook";
	c.type = SINK_TYPE_WEBHOOK;
	c.url = url;
	c.hmac_secret = key;
	c.hmac_secret_len = key ? strlen(key) : 0;
	c.timeout_ms = 2000;
	if (sink_new(&c, base, h, &s, NULL) < 0)
		return NULL;
	return s;
}

int
main(void)
{
	static const char body[] = "{\"rule\":\"r\",\"eventID\":\"e\"}";
	struct event_base *base = event_base_new();
	struct evhttp *srv = evhttp_new(base);
	struct evhttp_bound_socket *bs;
	struct http *h = NULL;
	struct rcv rv = {200, NULL, 0, "", "", ""};
	struct sink *s;
	struct got g;
	char url[128];
	char sig[128];
	int port;

	evhttp_set_gencb(srv, rcv_cb, &rv);
	bs = evhttp_bind_socket_with_handle(srv, "127.0.0.1", 0);
	{
		struct sockaddr_in sin;
		socklen_t sl = sizeof(sin);

		getsockname(evhttp_bound_socket_get_fd(bs),
		    (struct sockaddr *)&sin, &sl);
		port = ntohs(sin.sin_port);
	}
	is_int(http_new(base, NULL, &h), 0, "http client");

	/* Hostile first: refused connection, then 4xx/5xx/429. */
	s = webhook(base, h, "http://127.0.0.1:1/hook", NULL);
	ok(s != NULL, "webhook sink");
	memset(&g, 0, sizeof(g));
	is_int(sink_send(s, body, strlen(body), on_done, &g), 0, "send");
	run(base, &g);
	is_int(g.o.result, SINK_RETRY, "refused: retry");
	is_int(g.o.error, -ECONNREFUSED, "refused: the error");
	sink_free(s);

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook?token=s3cr3t",
	    port);
	s = webhook(base, h, url, "k3y");
	rv.status = 500;
	memset(&g, 0, sizeof(g));
	is_int(sink_send(s, body, strlen(body), on_done, &g), 0, "send (500)");
	run(base, &g);
	is_int(g.o.result, SINK_RETRY, "500: retry");
	is_int(g.o.status, 500, "500: status");
	ok(strstr(g.o.detail, "s3cr3t") == NULL, "detail has no URL secret");

	rv.status = 429;
	rv.retry_after = "7";
	memset(&g, 0, sizeof(g));
	is_int(sink_send(s, body, strlen(body), on_done, &g), 0, "send (429)");
	run(base, &g);
	is_int(g.o.result, SINK_RETRY, "429: retry");
	is_int((long long)g.o.retry_after_ms, 7000,
	    "429: Retry-After honoured");

	rv.status = 400;
	rv.retry_after = NULL;
	memset(&g, 0, sizeof(g));
	is_int(sink_send(s, body, strlen(body), on_done, &g), 0, "send (400)");
	run(base, &g);
	is_int(g.o.result, SINK_PERMANENT, "400: permanent");

	rv.status = 204;
	memset(&g, 0, sizeof(g));
	is_int(sink_send(s, body, strlen(body), on_done, &g), 0, "send (204)");
	run(base, &g);
	is_int(g.o.result, SINK_DELIVERED, "204: delivered");
	is_str(rv.body, body, "the body is the alert JSON, as given");
	is_str(rv.ctype, "application/json", "Content-Type");
	is_int(sink_signature("k3y", 3, body, strlen(body), sig, sizeof(sig)),
	    0, "signature computed");
	is_str(rv.sig, sig, "X-Smtrail-Signature: sha256=HMAC(body)");
	/* Independent check: openssl dgst -sha256 -hmac k3y of the body. */
	is_str(sig,
	    "sha256=a1030e84c25f0a3eff47f42c9d7412cdbe4b684f1094d36abe485d61df7779a2",
	    "signature matches openssl's");

	/* Freed with a delivery in flight: no callback. */
	memset(&g, 0, sizeof(g));
	is_int(sink_send(s, body, strlen(body), on_done, &g), 0,
	    "send, then free");
	sink_free(s);
	event_base_loop(base, EVLOOP_NONBLOCK);
	is_int(g.done, 0, "freed sink: no callback");

	/* stdout: to a pipe. */
	{
		struct sink_conf c;
		int fds[2];
		char out[256];
		ssize_t n;

		ok(pipe(fds) == 0, "pipe");
		memset(&c, 0, sizeof(c));
		c.name = "console";
		c.type = SINK_TYPE_STDOUT;
		c.fd = fds[1];
		is_int(sink_new(&c, base, NULL, &s, NULL), 0, "stdout sink");
		memset(&g, 0, sizeof(g));
		is_int(sink_send(s, body, strlen(body), on_done, &g), 0,
		    "stdout send");
		is_int(g.done, 0, "stdout: no callback inside send");
		run(base, &g);
		is_int(g.o.result, SINK_DELIVERED, "stdout: delivered");
		n = read(fds[0], out, sizeof(out) - 1);
		out[n > 0 ? n : 0] = '\0';
		is_str(out, "{\"rule\":\"r\",\"eventID\":\"e\"}\n", "one line");
		sink_free(s);
		close(fds[0]);
		close(fds[1]);
	}
	/* A webhook with a rate: the second send waits in the sink. */
	{
		struct sink_conf c;
		struct got g2;
		struct timespec t0;
		struct timespec t1;
		long ms;

		memset(&c, 0, sizeof(c));
		c.name = "hook";
		c.type = SINK_TYPE_WEBHOOK;
		c.url = url;
		c.rate_count = 1;
		c.rate_period_us = 300000;
		rv.status = 204;
		is_int(sink_new(&c, base, h, &s, NULL), 0, "rated webhook");
		memset(&g, 0, sizeof(g));
		memset(&g2, 0, sizeof(g2));
		(void)clock_gettime(CLOCK_MONOTONIC, &t0);
		is_int(sink_send(s, body, strlen(body), on_done, &g), 0,
		    "rated: first");
		is_int(sink_send(s, body, strlen(body), on_done, &g2), 0,
		    "rated: second");
		is_int((long long)sink_waiting(s), 1,
		    "rated: the second waits");
		run(base, &g2);
		(void)clock_gettime(CLOCK_MONOTONIC, &t1);
		ms = (t1.tv_sec - t0.tv_sec) * 1000 +
		    (t1.tv_nsec - t0.tv_nsec) / 1000000;
		ok(g.done == 1 && g2.done == 1 && g2.o.result == SINK_DELIVERED,
		    "rated: both delivered, once");
		ok(ms >= 300, "rated: the second after >= 300 ms (%ld)", ms);
		sink_free(s);
		c.rate_period_us = 0;
		is_int(sink_new(&c, base, h, &s, NULL), -EINVAL,
		    "a rate without a period: -EINVAL");
	}
	{
		enum sink_type t;

		ok(sink_type_parse("slack", &t) == 0 && t == SINK_TYPE_SLACK,
		    "type slack");
		ok(sink_type_parse("pagerduty", &t) == 0 &&
			t == SINK_TYPE_PAGERDUTY,
		    "type pagerduty");
		is_int(sink_type_parse("pd", &t), -EINVAL, "type pd: unknown");
	}
	is_int((long long)sink_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT",
		   1445412470),
	    10000, "Retry-After as an HTTP date");
	is_int((long long)sink_retry_after_ms("soon", 0), 0,
	    "Retry-After garbage: 0");
	is_int((long long)sink_retry_after_ms("99999999", 0), 3600000,
	    "Retry-After capped at an hour");
	http_free(h);
	evhttp_free(srv);
	event_base_free(base);
	return done_testing();
}
