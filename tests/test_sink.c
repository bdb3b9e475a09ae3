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

#include <event2/event.h>

#include "http.h"
#include "sink.h"
#include "sink_webhook.h"
#include "tap.h"
#include "testlib.h"

static struct sink *
webhook(struct event_base *base, struct http *h, const char *url,
    const char *key)
{
	struct sink_conf c;
	struct sink *s = NULL;

	tl_sink_conf(&c, "webhook", "hook");
	tl_sink_opt(&c, "url", url);
	tl_sink_opt(&c, "hmac_secret", key);
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
	struct http *h = NULL;
	struct tl_rcv rv;
	struct sink *s;
	struct tl_outcome g;
	char url[128];
	char sig[128];
	size_t i;

	if (tl_rcv_start(&rv, base) < 0)
		tl_bail("test_sink: the receiver cannot listen");
	is_int(http_new(base, NULL, &h), 0, "http client");

	/* Hostile first: refused connection, then 4xx/5xx/429. */
	s = webhook(base, h, "http://127.0.0.1:1/hook", NULL);
	ok(s != NULL, "webhook sink");
	is_int(tl_sink_send(s, body, &g), 0, "send");
	tl_outcome_wait(base, &g);
	is_int(g.o.result, SINK_RETRY, "refused: retry");
	is_int(g.o.error, -ECONNREFUSED, "refused: the error");
	sink_free(s);

	snprintf(url, sizeof(url), "%s/hook?token=s3cr3t", rv.srv.url);
	s = webhook(base, h, url, "k3y");
	tl_rcv_reset(&rv, (const struct tl_reply[]){{500, NULL, NULL}}, 1);
	is_int(tl_sink_send(s, body, &g), 0, "send (500)");
	tl_outcome_wait(base, &g);
	is_int(g.o.result, SINK_RETRY, "500: retry");
	is_int(g.o.status, 500, "500: status");
	ok(strstr(g.o.detail, "s3cr3t") == NULL, "detail has no URL secret");

	tl_rcv_reset(&rv, (const struct tl_reply[]){{429, NULL, "7"}}, 1);
	is_int(tl_sink_send(s, body, &g), 0, "send (429)");
	tl_outcome_wait(base, &g);
	is_int(g.o.result, SINK_RETRY, "429: retry");
	is_int((long long)g.o.retry_after_ms, 7000,
	    "429: Retry-After honoured");

	tl_rcv_reset(&rv, (const struct tl_reply[]){{400, NULL, NULL}}, 1);
	is_int(tl_sink_send(s, body, &g), 0, "send (400)");
	tl_outcome_wait(base, &g);
	is_int(g.o.result, SINK_PERMANENT, "400: permanent");

	tl_rcv_reset(&rv, (const struct tl_reply[]){{204, NULL, NULL}}, 1);
	is_int(tl_sink_send(s, body, &g), 0, "send (204)");
	tl_outcome_wait(base, &g);
	is_int(g.o.result, SINK_DELIVERED, "204: delivered");
	is_str(rv.body[0], body, "the body is the alert JSON, as given");
	is_str(rv.ctype, "application/json", "Content-Type");
	is_int(
	    webhook_signature("k3y", 3, body, strlen(body), sig, sizeof(sig)),
	    0, "signature computed");
	is_str(rv.sig, sig, "X-Smtrail-Signature: sha256=HMAC(body)");
	/* Independent check: openssl dgst -sha256 -hmac k3y of the body. */
	is_str(sig,
	    "sha256=a1030e84c25f0a3eff47f42c9d7412cdbe4b684f1094d36abe485d61df7779a2",
	    "signature matches openssl's");

	/* Freed with a delivery in flight: no callback. */
	is_int(tl_sink_send(s, body, &g), 0, "send, then free");
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
		tl_sink_conf(&c, "stdout", "console");
		c.fd = fds[1];
		is_int(sink_new(&c, base, NULL, &s, NULL), 0, "stdout sink");
		is_int(tl_sink_send(s, body, &g), 0, "stdout send");
		is_int(g.done, 0, "stdout: no callback inside send");
		tl_outcome_wait(base, &g);
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
		struct tl_outcome g2;
		struct timespec t0;
		long ms;

		tl_sink_conf(&c, "webhook", "hook");
		tl_sink_opt(&c, "url", url);
		c.rate_count = 1;
		c.rate_period_us = 300000;
		is_int(sink_new(&c, base, h, &s, NULL), 0, "rated webhook");
		(void)clock_gettime(CLOCK_MONOTONIC, &t0);
		is_int(tl_sink_send(s, body, &g), 0, "rated: first");
		is_int(tl_sink_send(s, body, &g2), 0, "rated: second");
		is_int((long long)sink_waiting(s), 1,
		    "rated: the second waits");
		tl_outcome_wait(base, &g2);
		ms = (long)tl_ms_since(&t0);
		ok(g.done == 1 && g2.done == 1 && g2.o.result == SINK_DELIVERED,
		    "rated: both delivered, once");
		ok(ms >= 300, "rated: the second after >= 300 ms (%ld)", ms);
		sink_free(s);
		c.rate_period_us = 0;
		is_int(sink_new(&c, base, h, &s, NULL), -EINVAL,
		    "a rate without a period: -EINVAL");
	}
	/* The table: each kind found by its name, renderable, within the
	 * limits; a network kind has one URL to POST to, a local one none. */
	for (i = 0; sink_kinds[i] != NULL; i++) {
		const struct sink_kind *k = sink_kinds[i];
		size_t urls = 0;
		size_t j;

		for (j = 0; j < k->n_opts; j++)
			urls += k->opts[j].form == SINK_OPT_URL;
		ok(sink_kind_find(k->name) == k && k->render != NULL &&
			k->n_opts <= SINK_MAX_OPTS &&
			urls == (k->network ? 1u : 0u),
		    "kind %s: well formed", k->name);
	}
	ok(i == 4, "four kinds");
	{
		struct sink_conf c;

		tl_sink_conf(&c, "webhook", "hook");
		is_int(sink_conf_set(&c, "channel", "#x"), -EINVAL,
		    "an option of another kind: -EINVAL");
	}
	{
		const struct sink_kind *t;

		t = sink_kind_find("slack");
		ok(t != NULL && strcmp(t->name, "slack") == 0, "type slack");
		t = sink_kind_find("pagerduty");
		ok(t != NULL && strcmp(t->name, "pagerduty") == 0,
		    "type pagerduty");
		ok(sink_kind_find("pd") == NULL, "type pd: unknown");
	}
	is_int((long long)sink_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT",
		   1445412470),
	    10000, "Retry-After as an HTTP date");
	is_int((long long)sink_retry_after_ms("soon", 0), 0,
	    "Retry-After garbage: 0");
	is_int((long long)sink_retry_after_ms("99999999", 0), 3600000,
	    "Retry-After capped at an hour");
	http_free(h);
	tl_rcv_stop(&rv);
	event_base_free(base);
	return done_testing();
}
