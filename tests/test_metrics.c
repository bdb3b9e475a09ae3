/*
 * test_metrics.c: the registry, its exact text exposition, and the HTTP
 * endpoint, fetched with our curl-on-libevent client from the same loop
 * (which only works if neither side blocks).
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "diag.h"
#include "http.h"
#include "metrics.h"
#include "tap.h"
#include "testlib.h"

/* ---- registration failures ------------------------------------------- */

/* The code a single bad registration leaves in a fresh registry, after an
 * optional good one (what it conflicts with); REGISTERED if it worked. */
#define REGISTERED 1
#define SETUP_FAILED 2
enum kind { K_COUNTER, K_GAUGE, K_HIST };

struct reg {
	enum kind kind;
	const char *name;
	const char *help;
	const char *lname;
	const char *lvalue;
	const double *b;
	size_t nb;
};

static void *
do_reg(struct metrics *m, const struct reg *r)
{
	switch (r->kind) {
	case K_COUNTER:
		return metrics_counter(m, r->name, r->help, r->lname,
		    r->lvalue);
	case K_GAUGE:
		return metrics_gauge(m, r->name, r->help, r->lname, r->lvalue);
	case K_HIST:
		return metrics_histogram(m, r->name, r->help, r->lname,
		    r->lvalue, r->b, r->nb);
	}
	return NULL;
}

static int
reg_fails(const struct reg *first, const struct reg *bad)
{
	struct metrics *m = NULL;
	void *h;
	int r;

	if (metrics_new(&m) < 0)
		return SETUP_FAILED;
	if (first != NULL && do_reg(m, first) == NULL) {
		metrics_free(m);
		return SETUP_FAILED;
	}
	h = do_reg(m, bad);
	r = metrics_status(m);
	metrics_free(m);
	return h != NULL ? REGISTERED : r;
}

static void
test_bad_registrations(void)
{
	static const double b3[] = {1, 5, 15};
	static const double b3x[] = {1, 5, 16};
	static const double dup[] = {1, 1};
	static const double down[] = {5, 1};
	double nan_b[] = {1, NAN};
	double inf_b[] = {1, INFINITY};
	double many[METRICS_MAX_BUCKETS + 1];
	char longv[METRICS_MAX_LABEL_VALUE + 2];
	struct reg c = {K_COUNTER, "x_total", "X.", NULL, NULL, NULL, 0};
	struct reg cl = {K_COUNTER, "x_total", "X.", "reason", "a", NULL, 0};
	struct reg h = {K_HIST, "h_seconds", "H.", NULL, NULL, b3, 3};
	struct reg bad;

	is_int(reg_fails(NULL, &c), REGISTERED, "a good counter registers");
	is_int(reg_fails(&c, &c), REGISTERED, "and again, the same");
	is_int(reg_fails(NULL, &h), REGISTERED, "a good histogram registers");
	for (size_t i = 0; i < ARRAY_SIZE(many); i++)
		many[i] = (double)i;
	memset(longv, 'v', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = '\0';

	bad = c;
	bad.name = "";
	is_int(reg_fails(NULL, &bad), -EINVAL, "empty name");
	bad.name = NULL;
	is_int(reg_fails(NULL, &bad), -EINVAL, "NULL name");
	bad.name = "9lives_total";
	is_int(reg_fails(NULL, &bad), -EINVAL, "name starts with a digit");
	bad.name = "smtrail-bad_total";
	is_int(reg_fails(NULL, &bad), -EINVAL, "'-' in a name");
	bad.name = "smtrail_\xc3\xa9_total";
	is_int(reg_fails(NULL, &bad), -EINVAL, "non-ASCII name");
	bad = c;
	bad.help = NULL;
	is_int(reg_fails(NULL, &bad), -EINVAL, "NULL help");
	bad = cl;
	bad.lname = "__name__";
	is_int(reg_fails(NULL, &bad), -EINVAL, "reserved label name");
	bad.lname = "a:b";
	is_int(reg_fails(NULL, &bad), -EINVAL, "':' in a label name");
	bad.lname = "reason";
	bad.lvalue = NULL;
	is_int(reg_fails(NULL, &bad), -EINVAL, "label name without value");
	bad.lname = NULL;
	bad.lvalue = "a";
	is_int(reg_fails(NULL, &bad), -EINVAL, "label value without name");
	bad.lname = "reason";
	bad.lvalue = "bad\xff utf-8";
	is_int(reg_fails(NULL, &bad), -EINVAL, "label value not UTF-8");
	bad.lvalue = "\xc0\xaf";
	is_int(reg_fails(NULL, &bad), -EINVAL, "overlong UTF-8 '/'");
	bad.lvalue = "\xed\xa0\x80";
	is_int(reg_fails(NULL, &bad), -EINVAL, "UTF-8 surrogate");
	bad.lvalue = "cut \xe2\x82";
	is_int(reg_fails(NULL, &bad), -EINVAL, "truncated UTF-8");
	bad.lvalue = longv;
	is_int(reg_fails(NULL, &bad), -E2BIG, "label value over the limit");
	longv[METRICS_MAX_LABEL_VALUE] = '\0';
	is_int(reg_fails(NULL, &bad), REGISTERED,
	    "label value at the limit registers");
	bad.lvalue = "";
	is_int(reg_fails(NULL, &bad), REGISTERED,
	    "empty label value registers");
	bad.lvalue = "\xf0\x9f\x94\x91 \xe2\x82\xac \xc3\xa9";
	is_int(reg_fails(NULL, &bad), REGISTERED,
	    "4-, 3-, 2-byte UTF-8 register");
	bad.lvalue = "\xf4\x90\x80\x80";
	is_int(reg_fails(NULL, &bad), -EINVAL, "past U+10FFFF");

	/* Conflicts with an earlier registration of the same name. */
	bad = c;
	bad.kind = K_GAUGE;
	is_int(reg_fails(&c, &bad), -EINVAL, "counter re-registered as gauge");
	bad = c;
	bad.help = "Other.";
	is_int(reg_fails(&c, &bad), -EINVAL, "same name, other help");
	is_int(reg_fails(&cl, &c), -EINVAL, "labelled family, no label");
	is_int(reg_fails(&c, &cl), -EINVAL, "unlabelled family, a label");
	bad = cl;
	bad.lname = "rule";
	is_int(reg_fails(&cl, &bad), -EINVAL, "same family, other label name");

	bad = h;
	bad.lname = "le";
	bad.lvalue = "1";
	is_int(reg_fails(NULL, &bad), -EINVAL, "histogram label 'le'");
	bad = h;
	bad.b = NULL;
	bad.nb = 0;
	is_int(reg_fails(NULL, &bad), -EINVAL, "histogram without buckets");
	bad.b = dup;
	bad.nb = 2;
	is_int(reg_fails(NULL, &bad), -EINVAL, "repeated bucket");
	bad.b = down;
	is_int(reg_fails(NULL, &bad), -EINVAL, "decreasing buckets");
	bad.b = nan_b;
	is_int(reg_fails(NULL, &bad), -EINVAL, "NaN bucket");
	bad.b = inf_b;
	is_int(reg_fails(NULL, &bad), -EINVAL, "+Inf bucket (implicit)");
	bad.b = many;
	bad.nb = ARRAY_SIZE(many);
	is_int(reg_fails(NULL, &bad), -EINVAL, "too many buckets");
	bad = h;
	bad.b = b3x;
	is_int(reg_fails(&h, &bad), -EINVAL, "same histogram, other buckets");
	bad.b = b3;
	bad.nb = 2;
	is_int(reg_fails(&h, &bad), -EINVAL, "same histogram, fewer buckets");
	bad = h;
	bad.kind = K_COUNTER;
	is_int(reg_fails(&h, &bad), -EINVAL,
	    "histogram re-registered as counter");

	/* NULL registry and NULL handles: quietly nothing. */
	ok(metrics_counter(NULL, "x_total", "X.", NULL, NULL) == NULL,
	    "NULL registry: NULL handle");
	metrics_inc(NULL, 1);
	metrics_gauge_set(NULL, 1);
	metrics_gauge_add(NULL, 1);
	metrics_observe(NULL, 1);
	is_int((long long)metrics_counter_value(NULL), 0,
	    "NULL counter reads 0");
	ok(metrics_gauge_value(NULL) == 0, "NULL gauge reads 0");
	is_int(metrics_status(NULL), 0, "NULL registry: status 0");
}

static void
test_limits(void)
{
	struct metrics *m = NULL;
	struct metrics_counter *first;
	struct metrics_counter *c = NULL;
	struct buf out;
	char v[32];
	int n = 0;

	if (metrics_new(&m) < 0)
		return;
	first = metrics_counter(m, "a_total", "A.", NULL, NULL);
	metrics_inc(first, 1);
	for (int i = 1; i < METRICS_MAX_SERIES; i++) {
		(void)snprintf(v, sizeof(v), "v%05d", METRICS_MAX_SERIES - i);
		c = metrics_counter(m, "b_total", "B.", "id", v);
		if (c == NULL)
			break;
		n++;
	}
	is_int(n, METRICS_MAX_SERIES - 1, "%d series registered", n + 1);
	is_int(metrics_status(m), 0, "no failure up to the limit");
	ok(metrics_counter(m, "c_total", "C.", NULL, NULL) == NULL,
	    "one series past METRICS_MAX_SERIES: NULL");
	is_int(metrics_status(m), -E2BIG, "... and -E2BIG recorded");
	ok(metrics_counter(m, "b_total", "B.", "id", "v00001") == c,
	    "an existing series is still found at the limit");
	ok(metrics_counter(m, "x", "", NULL, NULL) == NULL &&
		metrics_status(m) == -E2BIG,
	    "the first failure sticks");

	buf_init(&out, 100);
	is_int(metrics_render(m, &out), -E2BIG, "render into a small buf");
	ok(out.len <= 100, "a truncated page stays under the ceiling");
	buf_done(&out);
	buf_init(&out, METRICS_MAX_RENDER);
	is_int(metrics_render(m, &out), 0, "full page renders");
	ok(out.len < METRICS_MAX_RENDER / 8,
	    "%d series take %zu bytes, well under METRICS_MAX_RENDER",
	    METRICS_MAX_SERIES, out.len);
	ok(strstr(out.data,
	       "b_total{id=\"v00001\"} 0\nb_total{id=\"v00002\"} "
	       "0\n") != NULL,
	    "series sorted by label value, not by registration");
	buf_done(&out);
	metrics_free(m);
}

/* ---- the exposition text --------------------------------------------- */

static const char expected_page[] =
    "# HELP smtrail_depth Items waiting.\n"
    "# TYPE smtrail_depth gauge\n"
    "smtrail_depth 2.5\n"
    "# HELP smtrail_lag_seconds Lag, with \\\\ and \\n in help; \"quotes\" "
    "kept.\n"
    "# TYPE smtrail_lag_seconds histogram\n"
    "smtrail_lag_seconds_bucket{le=\"1\"} 2\n"
    "smtrail_lag_seconds_bucket{le=\"5\"} 3\n"
    "smtrail_lag_seconds_bucket{le=\"15\"} 3\n"
    "smtrail_lag_seconds_bucket{le=\"+Inf\"} 4\n"
    "smtrail_lag_seconds_sum 24.5\n"
    "smtrail_lag_seconds_count 4\n"
    "# HELP smtrail_latency_seconds Per destination.\n"
    "# TYPE smtrail_latency_seconds histogram\n"
    "smtrail_latency_seconds_bucket{destination=\"ops\",le=\"0.25\"} 0\n"
    "smtrail_latency_seconds_bucket{destination=\"ops\",le=\"0.5\"} 1\n"
    "smtrail_latency_seconds_bucket{destination=\"ops\",le=\"+Inf\"} 1\n"
    "smtrail_latency_seconds_sum{destination=\"ops\"} 0.3\n"
    "smtrail_latency_seconds_count{destination=\"ops\"} 1\n"
    "# HELP smtrail_reasons_total Failures by reason.\n"
    "# TYPE smtrail_reasons_total counter\n"
    "smtrail_reasons_total{reason=\"A\"} 0\n"
    "smtrail_reasons_total{reason=\"a\\\"q\\\\\\n\"} 1\n"
    "smtrail_reasons_total{reason=\"b\"} 18446744073709551615\n"
    "smtrail_reasons_total{reason=\"\xc3\xa9t\xc3\xa9\"} 7\n"
    "# HELP smtrail_test_total Things counted.\n"
    "# TYPE smtrail_test_total counter\n"
    "smtrail_test_total 3\n"
    "# HELP smtrail_ts_seconds \n"
    "# TYPE smtrail_ts_seconds gauge\n"
    "smtrail_ts_seconds{src=\"a\"} 1700000000.25\n"
    "smtrail_ts_seconds{src=\"b\"} 0.1\n"
    "smtrail_ts_seconds{src=\"c\"} -1e-07\n"
    "smtrail_ts_seconds{src=\"d\"} +Inf\n"
    "smtrail_ts_seconds{src=\"e\"} NaN\n"
    "smtrail_ts_seconds{src=\"f\"} 0.30000000000000004\n";

/* Registered out of order on purpose: the page is sorted anyway. */
static struct metrics *
build_small(void)
{
	static const double lag_b[] = {1, 5, 15};
	static const double lat_b[] = {0.25, 0.5};
	struct metrics *m = NULL;
	struct metrics_counter *c;
	struct metrics_counter *b;
	struct metrics_gauge *g;
	struct metrics_histogram *h;
	struct metrics_histogram *hl;
	const char *rs = "Failures by reason.";
	const struct {
		const char *src;
		double v;
	} ts[] = {{"a", 1700000000.25}, {"b", 0.1}, {"c", -1e-7},
	    {"d", INFINITY}, {"e", NAN}, {"f", 0.1 + 0.2}};

	if (metrics_new(&m) < 0)
		return NULL;
	c = metrics_counter(m, "smtrail_test_total", "Things counted.", NULL,
	    NULL);
	b = metrics_counter(m, "smtrail_reasons_total", rs, "reason", "b");
	metrics_inc(metrics_counter(m, "smtrail_reasons_total", rs, "reason",
			"a\"q\\\n"),
	    1);
	metrics_inc(metrics_counter(m, "smtrail_reasons_total", rs, "reason",
			"\xc3\xa9t\xc3\xa9"),
	    7);
	(void)metrics_counter(m, "smtrail_reasons_total", rs, "reason", "A");
	h = metrics_histogram(m, "smtrail_lag_seconds",
	    "Lag, with \\ and \n in help; \"quotes\" kept.", NULL, NULL, lag_b,
	    ARRAY_SIZE(lag_b));
	hl = metrics_histogram(m, "smtrail_latency_seconds", "Per destination.",
	    "destination", "ops", lat_b, ARRAY_SIZE(lat_b));
	g = metrics_gauge(m, "smtrail_depth", "Items waiting.", NULL, NULL);
	/* Registered z..a, rendered a..z; values show number formatting. */
	for (size_t i = ARRAY_SIZE(ts); i-- > 0;)
		metrics_gauge_set(metrics_gauge(m, "smtrail_ts_seconds", "",
				      "src", ts[i].src),
		    ts[i].v);

	metrics_inc(c, 1);
	metrics_inc(c, 2);
	metrics_inc(b, UINT64_MAX);
	metrics_gauge_set(g, 7);
	metrics_gauge_add(g, -4.5);
	metrics_observe(h, 0.5);
	metrics_observe(h, 1); /* le is "less or equal": bucket 1 */
	metrics_observe(h, 3);
	metrics_observe(h, 20); /* only +Inf */
	metrics_observe(h, NAN);
	metrics_observe(hl, 0.3);
	return m;
}

static void
test_render(void)
{
	struct metrics *m = build_small();
	struct buf out;
	const char *rs = "Failures by reason.";

	ok(m != NULL, "small registry built");
	if (m == NULL)
		return;
	is_int(metrics_status(m), 0, "no registration failed");
	buf_init(&out, 1 << 16);
	is_int(metrics_render(m, &out), 0, "render");
	is_str(out.data, expected_page, "exact exposition text");

	ok(metrics_counter(m, "smtrail_test_total", "Things counted.", NULL,
	       NULL) ==
		metrics_counter(m, "smtrail_test_total", "Things counted.",
		    NULL, NULL),
	    "same counter twice: same handle");
	ok(metrics_counter(m, "smtrail_reasons_total", rs, "reason", "b") ==
		metrics_counter(m, "smtrail_reasons_total", rs, "reason", "b"),
	    "same labelled series twice: same handle");
	ok(metrics_counter(m, "smtrail_reasons_total", rs, "reason", "b") !=
		metrics_counter(m, "smtrail_reasons_total", rs, "reason", "A"),
	    "other label value: other handle");
	is_int((long long)metrics_counter_value(metrics_counter(m,
		   "smtrail_test_total", "Things counted.", NULL, NULL)),
	    3, "value kept across lookups");
	ok(metrics_gauge_value(metrics_gauge(m, "smtrail_depth",
	       "Items waiting.", NULL, NULL)) == 2.5,
	    "gauge reads back");
	buf_reset(&out);
	is_int(metrics_render(m, &out), 0, "render again");
	is_str(out.data, expected_page, "lookups changed nothing");
	is_int(metrics_status(m), 0, "still no failure");

	buf_done(&out);
	metrics_free(m);
}

/* A counter with two labels: rendered as both, sorted, checked. */
static void
test_pair(void)
{
	const char *h = "LookupEvents calls.";
	const char *a[4] = {"region", "us-east-1", "result", "ok"};
	const char *b[4] = {"region", "eu-west-1", "result", "thr\"x"};
	const char *bad[4] = {"region", "a\x1f", "result", "ok"};
	const char *same[4] = {"region", "a", "region", "b"};
	struct metrics *m = NULL;
	struct buf out;

	if (metrics_new(&m) < 0)
		return;
	metrics_inc(
	    metrics_counter_pair(m, "smtrail_lookup_requests_total", h, a), 2);
	metrics_inc(
	    metrics_counter_pair(m, "smtrail_lookup_requests_total", h, b), 1);
	ok(metrics_counter_pair(m, "smtrail_lookup_requests_total", h, a) ==
		metrics_counter_pair(m, "smtrail_lookup_requests_total", h, a),
	    "pair: same labels, same handle");
	is_int(metrics_status(m), 0, "pair: registered");
	buf_init(&out, 1 << 16);
	is_int(metrics_render(m, &out), 0, "pair: render");
	is_str(out.data,
	    "# HELP smtrail_lookup_requests_total LookupEvents calls.\n"
	    "# TYPE smtrail_lookup_requests_total counter\n"
	    "smtrail_lookup_requests_total{region=\"eu-west-1\","
	    "result=\"thr\\\"x\"} 1\n"
	    "smtrail_lookup_requests_total{region=\"us-east-1\","
	    "result=\"ok\"} 2\n",
	    "pair: both labels, escaped, sorted");
	ok(metrics_counter_pair(m, "smtrail_lookup_requests_total", h, bad) ==
		NULL,
	    "pair: a value with 0x1f refused");
	is_int(metrics_status(m), -EINVAL, "pair: -EINVAL recorded");
	metrics_free(m);
	m = NULL;
	if (metrics_new(&m) < 0)
		return;
	ok(metrics_counter_pair(m, "smtrail_x_total", h, same) == NULL,
	    "pair: the same name twice refused");
	buf_done(&out);
	metrics_free(m);
}

/* A sample of the daemon's series (smtrail(8), METRICS, lists them all:
 * tests/daemon-metrics.sh holds the running daemon to it), as it will. */
static void
test_daemon_names(void)
{
	static const struct {
		const char *name;
		const char *type;
		const char *label;
	} names[] = {
	    {"smtrail_messages_received_total", "counter", NULL},
	    {"smtrail_messages_deleted_total", "counter", NULL},
	    {"smtrail_messages_failed_total", "counter", "reason"},
	    {"smtrail_objects_fetched_total", "counter", NULL},
	    {"smtrail_objects_skipped_total", "counter", "reason"},
	    {"smtrail_objects_failed_total", "counter", "reason"},
	    {"smtrail_bytes_fetched_total", "counter", NULL},
	    {"smtrail_records_scanned_total", "counter", NULL},
	    {"smtrail_matches_total", "counter", "rule"},
	    {"smtrail_alerts_spooled_total", "counter", NULL},
	    {"smtrail_alerts_delivered_total", "counter", "destination"},
	    {"smtrail_alerts_failed_total", "counter", "destination"},
	    {"smtrail_alerts_deduplicated_total", "counter", NULL},
	    {"smtrail_spool_depth", "gauge", NULL},
	    {"smtrail_last_receive_timestamp_seconds", "gauge", NULL},
	    {"smtrail_delivery_lag_seconds", "histogram", NULL},
	};
	struct metrics *m = NULL;
	struct metrics_histogram *lag = NULL;
	struct buf out;
	char want[160];
	bool all = true;

	if (metrics_new(&m) < 0)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		const char *n = names[i].name;
		const char *l = names[i].label;
		const char *v = l != NULL ? "example" : NULL;
		void *h;

		if (strcmp(names[i].type, "counter") == 0)
			h = metrics_counter(m, n, "Help.", l, v);
		else if (strcmp(names[i].type, "gauge") == 0)
			h = metrics_gauge(m, n, "Help.", l, v);
		else
			h = lag = metrics_histogram(m, n, "Help.", l, v,
			    metrics_lag_buckets,
			    ARRAY_SIZE(metrics_lag_buckets));
		all = all && h != NULL;
	}
	ok(all, "all %zu daemon series register", ARRAY_SIZE(names));
	is_int(metrics_status(m), 0, "status 0");
	metrics_observe(lag, 301);
	buf_init(&out, METRICS_MAX_RENDER);
	is_int(metrics_render(m, &out), 0, "render the daemon's registry");
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		(void)snprintf(want, sizeof(want), "# TYPE %s %s\n",
		    names[i].name, names[i].type);
		ok(strstr(out.data, want) != NULL, "%s is a %s", names[i].name,
		    names[i].type);
	}
	ok(strstr(out.data,
	       "smtrail_delivery_lag_seconds_bucket{le=\"300\"} "
	       "0\nsmtrail_delivery_lag_seconds_bucket{le=\"600\"} "
	       "1\n") != NULL,
	    "lag 301 s lands in le=600");
	ok(strstr(out.data,
	       "smtrail_delivery_lag_seconds_bucket{le=\"3600\"} "
	       "1\nsmtrail_delivery_lag_seconds_bucket{le=\"+Inf\"}"
	       " 1\n") != NULL,
	    "the last lag bucket is 3600, then +Inf");
	buf_done(&out);
	metrics_free(m);
}

/* ---- serving --------------------------------------------------------- */

struct health {
	int r;
	const char *text;
	int calls;
};

static int
health_cb(struct buf *out, void *arg)
{
	struct health *h = arg;

	h->calls++;
	if (h->text != NULL && buf_puts(out, h->text) < 0)
		return -ENOMEM;
	return h->r;
}

struct result {
	int done;
	int error;
	long status;
	char body[8192];
	size_t body_len;
	char ctype[128];
	char allow[128];
	char conn[128];
};

static void
on_done(struct http_response *resp, void *arg)
{
	struct result *r = arg;
	char tmp[128];

	r->done++;
	r->error = resp->error;
	r->status = resp->status;
	r->body_len = resp->body.len;
	(void)snprintf(r->body, sizeof(r->body), "%s",
	    resp->body.data ? resp->body.data : "");
	(void)snprintf(r->ctype, sizeof(r->ctype), "%s",
	    http_header(resp, "content-type", tmp, sizeof(tmp)) ? tmp : "-");
	(void)snprintf(r->allow, sizeof(r->allow), "%s",
	    http_header(resp, "allow", tmp, sizeof(tmp)) ? tmp : "-");
	(void)snprintf(r->conn, sizeof(r->conn), "%s",
	    http_header(resp, "connection", tmp, sizeof(tmp)) ? tmp : "-");
}

/* One request, run on the loop until it is done (10 s at most). */
static void
fetch(struct event_base *base, struct http *h, const char *method, int port,
    const char *path, const char *const *hdrs, size_t n_hdrs, const char *body,
    size_t body_len, struct result *res)
{
	struct http_request rq;
	char url[256];

	memset(res, 0, sizeof(*res));
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	memset(&rq, 0, sizeof(rq));
	rq.method = method;
	rq.url = url;
	rq.headers = hdrs;
	rq.n_headers = n_hdrs;
	rq.body = body;
	rq.body_len = body_len;
	rq.timeout_ms = 5000;
	rq.on_done = on_done;
	rq.arg = res;
	if (http_start(h, &rq, NULL) < 0) {
		res->error = -EIO;
		return;
	}
	tl_run_until(base, &res->done, 1, 10000);
}

static void
test_listen_errors(struct event_base *base)
{
	static const char *bad[] = {"127.0.0.1", "localhost:9410",
	    "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:12ab", "127.0.0.1:-1",
	    "[::1]9410", "[::1]", "::1:9410", ":9410", "127.0.0.1:9410:1",
	    "[127.0.0.1]:9410", "1.2.3:9410", "127.0.0.1:1234567"};
	struct metrics *m = NULL;
	struct metrics *m2 = NULL;
	struct diag d;
	char want[128];
	int r;

	if (metrics_new(&m) < 0 || metrics_new(&m2) < 0)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		memset(&d, 0, sizeof(d));
		r = metrics_listen(m, base, bad[i], NULL, NULL, &d);
		is_int(r, -EINVAL, "listen '%s': -EINVAL", bad[i]);
		(void)snprintf(want, sizeof(want), "'%s'", bad[i]);
		ok(strstr(d.msg, want) != NULL, "diag names it: %s", d.msg);
	}
	is_int(metrics_listen(m, base, NULL, NULL, NULL, NULL), -EINVAL,
	    "NULL address, NULL reterr");
	is_int(metrics_port(m), 0, "not listening: port 0");

	is_int(metrics_listen(m, base, "127.0.0.1:0", NULL, NULL, &d), 0,
	    "listen 127.0.0.1:0");
	ok(metrics_port(m) > 0, "bound port %d", metrics_port(m));
	is_int(metrics_listen(m, base, "127.0.0.1:0", NULL, NULL, &d), -EBUSY,
	    "a second listen: -EBUSY");
	(void)snprintf(want, sizeof(want), "127.0.0.1:%d", metrics_port(m));
	memset(&d, 0, sizeof(d));
	is_int(metrics_listen(m2, base, want, NULL, NULL, &d), -EADDRINUSE,
	    "a taken port: -EADDRINUSE");
	ok(strstr(d.msg, want) != NULL && strstr(d.msg, "bind") != NULL,
	    "diag: %s", d.msg);
	is_int(metrics_port(m2), 0, "failed listen: port 0");

	r = metrics_listen(m2, base, "[::1]:0", NULL, NULL, &d);
	if (r == -EADDRNOTAVAIL || r == -EAFNOSUPPORT)
		ok(1, "# SKIP no IPv6 loopback here: %s", d.msg);
	else
		ok(r == 0 && metrics_port(m2) > 0, "listen [::1]:0 (port %d)",
		    metrics_port(m2));
	metrics_free(m2);
	metrics_free(m);
}

static void
test_serve(struct event_base *base)
{
	struct metrics *m = build_small();
	struct http *h = NULL;
	struct health hs = {0, "spool: 3 pending\n", 0};
	struct result res;
	struct diag d;
	struct buf page;
	char big[4096];
	char bighdr[METRICS_MAX_REQUEST_HEADERS + 64];
	const char *hdrs[1];
	int port;

	ok(m != NULL, "registry for serving");
	if (m == NULL)
		return;
	is_int(metrics_listen(m, base, "127.0.0.1:0", health_cb, &hs, &d), 0,
	    "listen");
	port = metrics_port(m);
	is_int(http_new(base, NULL, &h), 0, "http client");
	buf_init(&page, METRICS_MAX_RENDER);
	is_int(metrics_render(m, &page), 0, "render for comparison");

	/* Hostile first: wrong paths and methods, oversized requests. */
	fetch(base, h, "GET", port, "/nope", NULL, 0, NULL, 0, &res);
	is_int(res.status, 404, "GET /nope: 404");
	is_str(res.body, "not found\n", "404 body");
	fetch(base, h, "GET", port, "/metrics/", NULL, 0, NULL, 0, &res);
	is_int(res.status, 404, "GET /metrics/: 404 (exact paths)");
	fetch(base, h, "GET", port, "/", NULL, 0, NULL, 0, &res);
	is_int(res.status, 404, "GET /: 404");
	fetch(base, h, "POST", port, "/metrics", NULL, 0, "x=1", 3, &res);
	is_int(res.status, 405, "POST /metrics: 405");
	is_str(res.allow, "GET, HEAD", "405 says what is allowed");
	fetch(base, h, "PUT", port, "/healthz", NULL, 0, "", 0, &res);
	is_int(res.status, 405, "PUT /healthz: 405");
	fetch(base, h, "DELETE", port, "/metrics", NULL, 0, NULL, 0, &res);
	is_int(res.status, 405, "DELETE /metrics: 405");
	is_int(hs.calls, 0, "the health callback was not called for them");
	memset(big, 'x', sizeof(big));
	fetch(base, h, "POST", port, "/metrics", NULL, 0, big, sizeof(big),
	    &res);
	is_int(res.status, 413, "a 4 KiB body: 413 from evhttp");
	memcpy(bighdr, "X-Big: ", 7);
	memset(bighdr + 7, 'y', sizeof(bighdr) - 8);
	bighdr[sizeof(bighdr) - 1] = '\0';
	hdrs[0] = bighdr;
	fetch(base, h, "GET", port, "/metrics", hdrs, 1, NULL, 0, &res);
	/* libevent 2.1 says 400; later versions may say 431. */
	ok(res.status == 400 || res.status == 431,
	    "headers over METRICS_MAX_REQUEST_HEADERS: %ld", res.status);
	fetch(base, h, "GET", port, "/healthz", NULL, 0, NULL, 0, &res);
	is_int(res.status, 200, "the server still answers after those");
	hs.calls = 0;

	/* The page. */
	fetch(base, h, "GET", port, "/metrics", NULL, 0, NULL, 0, &res);
	is_int(res.error, 0, "GET /metrics: no transport error");
	is_int(res.status, 200, "GET /metrics: 200");
	is_str(res.ctype, "text/plain; version=0.0.4; charset=utf-8",
	    "exposition content type");
	is_str(res.body, page.data, "body is the rendered page");
	is_str(res.body, expected_page, "... which is the expected text");
	is_str(res.conn, "close", "Connection: close");
	fetch(base, h, "GET", port, "/metrics?name[]=x", NULL, 0, NULL, 0,
	    &res);
	is_int(res.status, 200, "a query string is ignored");
	is_str(res.body, expected_page, "same page");
	fetch(base, h, "HEAD", port, "/metrics", NULL, 0, NULL, 0, &res);
	is_int(res.status, 200, "HEAD /metrics: 200");
	is_int((long long)res.body_len, 0, "HEAD: no body");

	/* The page is rendered per request. */
	metrics_inc(metrics_counter(m, "smtrail_test_total", "Things counted.",
			NULL, NULL),
	    39);
	fetch(base, h, "GET", port, "/metrics", NULL, 0, NULL, 0, &res);
	ok(strstr(res.body, "\nsmtrail_test_total 42\n") != NULL,
	    "an update shows in the next scrape");

	/* Health, both ways. */
	fetch(base, h, "GET", port, "/healthz", NULL, 0, NULL, 0, &res);
	is_int(res.status, 200, "healthy: 200");
	is_str(res.body, "ok\nspool: 3 pending\n", "healthy: ok + its text");
	is_str(res.ctype, "text/plain; charset=utf-8", "healthz content type");
	is_int(hs.calls, 1, "health callback called once");
	hs.r = -EIO;
	hs.text = "sqs: no receive for 300 s\n";
	fetch(base, h, "GET", port, "/healthz", NULL, 0, NULL, 0, &res);
	is_int(res.status, 503, "unhealthy: 503");
	is_str(res.body, "sqs: no receive for 300 s\n", "unhealthy: its text");
	hs.text = NULL;
	fetch(base, h, "GET", port, "/healthz", NULL, 0, NULL, 0, &res);
	is_int(res.status, 503, "unhealthy, silent: 503");
	is_str(res.body, "unhealthy\n", "unhealthy, silent: a default text");
	hs.r = 0;
	fetch(base, h, "GET", port, "/healthz", NULL, 0, NULL, 0, &res);
	is_int(res.status, 200, "healthy again, silent: 200");
	is_str(res.body, "ok\n", "healthy, silent: ok");

	/* metrics_free closes the port. */
	metrics_free(m);
	fetch(base, h, "GET", port, "/metrics", NULL, 0, NULL, 0, &res);
	is_int(res.error, -ECONNREFUSED, "after metrics_free: refused");
	buf_done(&page);
	http_free(h);
}

/* An info gauge: several fixed labels, hostile ones refused. */
static void
test_info(void)
{
	static const char *const dup[] = {"a", "1", "a", "2"};
	static const char *const bad_name[] = {"__x", "1"};
	static const char *const bad_utf8[] = {"v", "\xff"};
	static const char *const build[] = {"version", "0.1.0", "commit",
	    "a\"b\\c\nd", "kernel", "avx2"};
	static const char *const other[] = {"version", "0.2.0"};
	struct metrics *m = NULL;
	struct metrics_gauge *g;
	struct buf out;

	if (metrics_new(&m) < 0)
		return;
	ok(metrics_info(m, "x_info", "X.", dup, 2) == NULL,
	    "info: a label name twice is refused");
	is_int(metrics_status(m), -EINVAL, "info: -EINVAL");
	metrics_free(m);
	if (metrics_new(&m) < 0)
		return;
	ok(metrics_info(m, "x_info", "X.", bad_name, 1) == NULL,
	    "info: a reserved label name is refused");
	ok(metrics_info(m, "y_info", "X.", bad_utf8, 1) == NULL,
	    "info: a label value that is not UTF-8 is refused");
	ok(metrics_info(m, "z_info", "X.", NULL, 0) == NULL,
	    "info: no labels is refused");
	metrics_free(m);
	if (metrics_new(&m) < 0)
		return;
	g = metrics_info(m, "smtrail_build_info", "Build.", build, 3);
	ok(g != NULL, "info registers");
	ok(metrics_info(m, "smtrail_build_info", "Build.", build, 3) == g,
	    "info: the same again is the same handle");
	is_int(metrics_status(m), 0, "status 0");
	buf_init(&out, METRICS_MAX_RENDER);
	is_int(metrics_render(m, &out), 0, "render");
	is_str(out.data,
	    "# HELP smtrail_build_info Build.\n"
	    "# TYPE smtrail_build_info gauge\n"
	    "smtrail_build_info{version=\"0.1.0\",commit=\"a\\\"b\\\\c\\nd\","
	    "kernel=\"avx2\"} 1\n",
	    "info renders its labels in order, escaped, value 1");
	ok(metrics_info(m, "smtrail_build_info", "Build.", other, 1) == NULL,
	    "info: other labels under the same name are refused");
	is_int(metrics_status(m), -EINVAL, "... -EINVAL");
	buf_done(&out);
	metrics_free(m);
}

struct scrape {
	struct metrics_gauge *g;
	int calls;
};

static void
scrape_cb(void *arg)
{
	struct scrape *sc = arg;

	metrics_gauge_set(sc->g, ++sc->calls * 10);
}

/* A gauge computed at scrape time. */
static void
test_scrape(struct event_base *base)
{
	struct metrics *m = NULL;
	struct http *h = NULL;
	struct scrape sc = {NULL, 0};
	struct result res;

	if (metrics_new(&m) < 0 || http_new(base, NULL, &h) < 0)
		return;
	sc.g = metrics_gauge(m, "x_depth", "Depth.", NULL, NULL);
	metrics_on_scrape(m, scrape_cb, &sc);
	is_int(metrics_listen(m, base, "127.0.0.1:0", NULL, NULL, NULL), 0,
	    "listen");
	fetch(base, h, "GET", metrics_port(m), "/healthz", NULL, 0, NULL, 0,
	    &res);
	is_int(sc.calls, 0, "/healthz does not run the scrape callback");
	fetch(base, h, "GET", metrics_port(m), "/metrics", NULL, 0, NULL, 0,
	    &res);
	is_int(sc.calls, 1, "/metrics runs it once");
	ok(strstr(res.body, "\nx_depth 10\n") != NULL,
	    "the page shows what it set");
	fetch(base, h, "GET", metrics_port(m), "/metrics", NULL, 0, NULL, 0,
	    &res);
	ok(strstr(res.body, "\nx_depth 20\n") != NULL,
	    "and again at the next scrape");
	http_free(h);
	metrics_free(m);
}

/* No health callback: always healthy. */
static void
test_serve_no_health(struct event_base *base)
{
	struct metrics *m = NULL;
	struct http *h = NULL;
	struct result res;

	if (metrics_new(&m) < 0 || http_new(base, NULL, &h) < 0)
		return;
	is_int(metrics_listen(m, base, "127.0.0.1:0", NULL, NULL, NULL), 0,
	    "listen without a health callback");
	fetch(base, h, "GET", metrics_port(m), "/healthz", NULL, 0, NULL, 0,
	    &res);
	is_int(res.status, 200, "no callback: 200");
	is_str(res.body, "ok\n", "no callback: ok");
	fetch(base, h, "GET", metrics_port(m), "/metrics", NULL, 0, NULL, 0,
	    &res);
	is_int(res.status, 200, "empty registry: 200");
	is_str(res.body, "", "empty registry: empty page");
	http_free(h);
	metrics_free(m);
}

int
main(void)
{
	struct event_base *base;

	test_bad_registrations();
	test_limits();
	test_render();
	test_daemon_names();
	test_info();
	test_pair();
	base = event_base_new();
	ok(base != NULL, "event base");
	test_listen_errors(base);
	test_serve(base);
	test_serve_no_health(base);
	test_scrape(base);
	event_base_free(base);
	return done_testing();
}
