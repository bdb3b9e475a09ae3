/*
 * metrics.h: counters, gauges and histograms for Prometheus, rendered in the
 * text exposition format 0.0.4 and served over HTTP on the loop.
 *
 * A struct metrics is a registry owned by the daemon (no globals). Series
 * are registered at startup (or on reload) and return a handle that stays
 * valid until metrics_free(); registering the same name and label again
 * returns the same handle. Updating a handle never allocates, never fails,
 * and accepts NULL (a module built without metrics passes NULL handles).
 * Registration returns NULL on failure and records the first failure in
 * the registry, so startup registers everything and checks once with
 * metrics_status(): -ENOMEM; -EINVAL for a bad metric or label name, a
 * label value that is not UTF-8, or a name already registered with another
 * type, help text, label name or bucket list; -E2BIG past METRICS_MAX_SERIES
 * or METRICS_MAX_LABEL_VALUE.
 *
 * Each series has at most one label (name="value"), but for a pair
 * counter (metrics_counter_pair(): two) and an info
 * gauge (metrics_info(): one series, value 1, several fixed labels, like
 * smtrail_build_info). Families render sorted by name, series within a
 * family by label value (the unlabelled series first), so the output is
 * stable. Loop thread only; nothing prints.
 *
 * The daemon's series are listed, with their types, labels and meaning, in
 * smtrail(8), METRICS (names are an interface: dashboards and the alerting
 * rules in contrib/ use them; tests/daemon-metrics.sh holds the page and
 * the running daemon to the same set). Label values are short words the
 * daemon chooses (reason="object_denied"), rule ids and destination names
 * from the config: never URLs, keys or input.
 *
 * metrics_listen() serves, on one address:
 *   GET/HEAD /metrics  200 "text/plain; version=0.0.4; charset=utf-8",
 *                      after the scrape callback (metrics_on_scrape) has
 *                      set what is computed on demand
 *   GET/HEAD /healthz  200 "ok\n" + the health callback's text, or 503 with
 *                      its text ("unhealthy\n" if none) when it returns < 0
 *   any other path 404; other methods on these two 405. Headers past
 *   METRICS_MAX_REQUEST_HEADERS get 400, a body over 1 KiB 413 (from
 *   evhttp); a client gets 10 s; each response closes the connection.
 * The page is rendered per scrape into a reused buffer.
 */
#ifndef SMTRAIL_METRICS_H
#define SMTRAIL_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "common.h"

/* Every series in a registry, labelled or not. */
#define METRICS_MAX_SERIES 4096
/* A label value, in bytes. */
#define METRICS_MAX_LABEL_VALUE 256
/* Buckets per histogram, +Inf not counted. */
#define METRICS_MAX_BUCKETS 32
/* A rendered /metrics page; ~100 bytes a series leaves room to spare. */
#define METRICS_MAX_RENDER (4u << 20)
/* An info gauge's labels, rendered. */
#define METRICS_MAX_INFO 1024
/* The text a health callback may add. */
#define METRICS_MAX_HEALTH 4096
/* Request line and headers of one request to the metrics port. */
#define METRICS_MAX_REQUEST_HEADERS 8192

/* Buckets for smtrail_delivery_lag_seconds, in seconds (ARRAY_SIZE works). */
extern const double metrics_lag_buckets[10];

struct diag;
struct event_base;
struct metrics;           /* opaque */
struct metrics_counter;   /* opaque */
struct metrics_gauge;     /* opaque */
struct metrics_histogram; /* opaque */

/* For /healthz: append a line or two of text to out (at most
 * METRICS_MAX_HEALTH bytes) and return 0 if healthy, < 0 if not. */
typedef int metrics_health_cb(struct buf *out, void *arg);
/* Before each /metrics page: set the gauges computed on demand. */
typedef void metrics_scrape_cb(void *arg);

int metrics_new(struct metrics **ret) MUST_CHECK;
/* Closes the listener and its connections, frees every series. NULL ok. */
void metrics_free(struct metrics *m);
/* 0, or the first registration failure (see above). */
int metrics_status(const struct metrics *m) MUST_CHECK;

/*
 * Registration. name matches [a-zA-Z_:][a-zA-Z0-9_:]*; help is plain text;
 * label_name (NULL: no label) matches [a-zA-Z_][a-zA-Z0-9_]*, not "__*"
 * nor, for histograms, "le"; label_value is copied. A counter's name should
 * end in _total, a gauge's or histogram's in its unit (_seconds, _bytes).
 * Returns NULL (and records why) on failure, or when m is NULL.
 */
struct metrics_counter *metrics_counter(struct metrics *m, const char *name,
    const char *help, const char *label_name, const char *label_value);
struct metrics_gauge *metrics_gauge(struct metrics *m, const char *name,
    const char *help, const char *label_name, const char *label_value);
/* buckets: finite upper bounds, strictly increasing, 1..METRICS_MAX_BUCKETS
 * of them (copied); +Inf is implicit. Every series of a histogram family
 * must be registered with the same buckets. */
struct metrics_histogram *metrics_histogram(struct metrics *m, const char *name,
    const char *help, const char *label_name, const char *label_value,
    const double *buckets, size_t n_buckets);

/* A counter with two labels: labels is {name1, value1, name2, value2}
 * (the names distinct); its series sort by value1, then value2. The
 * values must not hold the byte 0x1f (METRICS_PAIR), which joins them
 * inside. Used for smtrail_lookup_requests_total{region,result}. */
#define METRICS_PAIR '\x1f'
struct metrics_counter *metrics_counter_pair(struct metrics *m,
    const char *name, const char *help, const char *const labels[4]);

/* An info gauge: value 1, the n_labels (name, value) pairs in labels
 * (2 * n_labels strings, copied, names distinct) on its one series.
 * Registering it again with the same labels returns it; other labels:
 * -EINVAL. */
struct metrics_gauge *metrics_info(struct metrics *m, const char *name,
    const char *help, const char *const *labels, size_t n_labels);

/* Updates: no allocation, no failure, NULL handles ignored. */
void metrics_inc(struct metrics_counter *c, uint64_t n);
void metrics_gauge_set(struct metrics_gauge *g, double v);
void metrics_gauge_add(struct metrics_gauge *g, double delta);
/* A NaN is ignored; a negative value lands in the lowest bucket (and
 * lowers _sum): clamp first if that is not what you mean. */
void metrics_observe(struct metrics_histogram *h, double v);

/* Reads back, for tests and STATUS= lines. NULL reads as 0. */
uint64_t metrics_counter_value(const struct metrics_counter *c);
double metrics_gauge_value(const struct metrics_gauge *g);

/* Appends the text exposition of every series to out. -E2BIG if out's
 * ceiling is too small (out then holds a truncated page), -ENOMEM. */
int metrics_render(const struct metrics *m, struct buf *out) MUST_CHECK;

/*
 * Serves /metrics and /healthz on addr, a numeric "IPv4:port" or
 * "[IPv6]:port" (port 0: any free port, see metrics_port()). health may be
 * NULL (always healthy); it and arg are borrowed until metrics_free().
 * One listener per registry (-EBUSY for a second). Errors: -EINVAL bad
 * address, a socket error such as -EADDRINUSE or -EACCES, -ENOMEM; reterr
 * says which address and why.
 */
int metrics_listen(struct metrics *m, struct event_base *base, const char *addr,
    metrics_health_cb *health, void *arg, struct diag *reterr) MUST_CHECK;
/* cb runs before each /metrics page is rendered (NULL: none); cb and
 * arg are borrowed until metrics_free(). */
void metrics_on_scrape(struct metrics *m, metrics_scrape_cb *cb, void *arg);
/* The bound port, or 0 when not listening. */
int metrics_port(const struct metrics *m);

#endif
