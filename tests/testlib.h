/*
 * testlib.h: the harness the C unit tests share (tests/libtestlib.a):
 * temporary directories and files, whole-file reads, paths into
 * ../shared/data and the source tree, running an event loop until a flag is
 * set or time runs out, an evhttp server on 127.0.0.1 (and a scripted
 * receiver that keeps each request), sink outcomes, diag lists as text,
 * JSON members by dotted path, corpus records as alerts, gzip both ways and
 * a CloudTrail scan harness.
 *
 * Nothing here counts a test: tap.h keeps its counters per program, so
 * helpers return what happened (negative errno on failure) and the test
 * makes its own ok() calls. A harness failure a test cannot go on from
 * (no temporary directory, zlib refusing) ends the program with TAP's
 * "Bail out!" through tl_bail(). What a helper returns is the caller's
 * (free() it, or the matching _done/_stop) unless it says "borrowed".
 * Single-threaded; the loop helpers run the caller's event base.
 */
#ifndef SMTRAIL_TESTLIB_H
#define SMTRAIL_TESTLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "buf.h"
#include "common.h"
#include "sink.h"
#include "trail.h"

struct diag_list;
struct event;
struct event_base;
struct evhttp;
struct evhttp_request;
struct gz_header_s;
struct json_object;
struct rules;

/* Prints "Bail out! <why>" (TAP: the run is broken) and exits 2. */
_Noreturn void tl_bail(const char *fmt, ...) PRINTF_LIKE(1, 2);

/* ---- files ---- */

/* A new directory $TMPDIR/<name>.XXXXXX (or under /tmp); bails if it
 * cannot. tl_tmpdir_free() removes it with all it holds and frees the
 * path: 0, or the first -errno (NULL ok). */
char *tl_tmpdir(const char *name);
int tl_tmpdir_free(char *dir);

/* Writes len bytes to path (created 0600), replacing or appending. */
int tl_write_file(const char *path, const void *p, size_t len,
    bool append) MUST_CHECK;
/* Appends the whole file to out (out's ceiling applies: -E2BIG). */
int tl_read_file(const char *path, struct buf *out) MUST_CHECK;
/* The whole file, NUL-terminated (its size in *ret_len, NULL ok), at most
 * max bytes; NULL with errno set if it cannot be read. */
char *tl_slurp(const char *path, size_t max, size_t *ret_len);
off_t tl_file_size(const char *path); /* -1 if absent */

/* "$SMTRAIL_SHARED_DATA/rel" (../shared/data by default) and
 * "$TOP_SRCDIR/rel" (. by default), into buf; returns buf. */
const char *tl_data_path(const char *rel, char *buf, size_t size);
const char *tl_src_path(const char *rel, char *buf, size_t size);

/* ---- the loop ---- */

uint64_t tl_now_us(void); /* monotonic */
double tl_ms_between(const struct timespec *a, const struct timespec *b);
double tl_ms_since(const struct timespec *a); /* monotonic, as a */
/* Runs the loop once at a time until *flag >= want or max_ms have passed;
 * the caller looks at the flag. */
void tl_run_until(struct event_base *base, const int *flag, int want,
    long max_ms);
/* Runs the loop for ms, whatever happens. */
void tl_run_for(struct event_base *base, long ms);

/* A one-shot timer that notes when it fired. */
struct tl_tick {
	struct event *ev;
	int fired;
	struct timespec at; /* CLOCK_MONOTONIC when it fired */
};

int tl_tick_start(struct tl_tick *t, struct event_base *base,
    long ms) MUST_CHECK;
void tl_tick_stop(struct tl_tick *t);

/* ---- an HTTP server in the test's loop ---- */

typedef void tl_srv_cb(struct evhttp_request *req, void *arg);

struct tl_srv {
	struct event_base *base; /* borrowed */
	struct evhttp *http;
	int port;
	char url[64]; /* "http://127.0.0.1:<port>" */
};

/* Listens on 127.0.0.1, a free port; every request goes to cb. */
int tl_srv_start(struct tl_srv *s, struct event_base *base, tl_srv_cb *cb,
    void *arg) MUST_CHECK;
void tl_srv_stop(struct tl_srv *s); /* drops unanswered requests */

/* A receiver that answers from a script and keeps what it was sent. */
#define TL_RCV_SCRIPT 8 /* replies in a script */
#define TL_RCV_HITS 16  /* requests whose body and time are kept */

struct tl_reply {
	int status;
	const char *body;        /* NULL: none */
	const char *retry_after; /* NULL: no Retry-After */
};

struct tl_rcv {
	struct tl_srv srv;
	struct tl_reply script[TL_RCV_SCRIPT]; /* one per hit; the last
						* repeats (none: 200) */
	int n_script;
	int hits;
	uint64_t t_us[TL_RCV_HITS]; /* tl_now_us() at each hit */
	char *body[TL_RCV_HITS];    /* each request's body */
	char ctype[64];             /* the last Content-Type */
	char sig[128];              /* the last X-Smtrail-Signature */
};

int tl_rcv_start(struct tl_rcv *r, struct event_base *base) MUST_CHECK;
/* Forgets every hit and answers with script[0..n) from now on. */
void tl_rcv_reset(struct tl_rcv *r, const struct tl_reply *script, int n);
void tl_rcv_stop(struct tl_rcv *r);

/* ---- sinks ---- */

/* What a delivery ended with, through tl_outcome_cb. */
struct tl_outcome {
	int done;      /* callbacks so far */
	int order;     /* its rank among every tl_outcome_cb call, from 1 */
	uint64_t t_us; /* tl_now_us() at the callback */
	struct sink_outcome o;
};

void tl_outcome_cb(const struct sink_outcome *o, void *arg);
/* Runs the loop until g's delivery ends, 15 s at most. */
void tl_outcome_wait(struct event_base *base, const struct tl_outcome *g);
/* Clears g and sends json (a C string) to s, ending in g. */
int tl_sink_send(struct sink *s, const char *json,
    struct tl_outcome *g) MUST_CHECK;
/* Clears c for a sink called name of the kind called kind; and sets one
 * option. Both bail out on a kind or option that does not exist. */
void tl_sink_conf(struct sink_conf *c, const char *kind, const char *name);
void tl_sink_opt(struct sink_conf *c, const char *key, const char *value);
/* tl_sink_send() that must start and must not call back at once (two
 * assertions, in the test's own TAP count: tap.h is per test). */
#define tl_send_one(s, json, g, name)                                          \
	do {                                                                   \
		is_int(tl_sink_send((s), (json), (g)), 0, "%s: sent", (name)); \
		is_int((g)->done, 0, "%s: no callback inside sink_send",       \
		    (name));                                                   \
	} while (0)
/* A sink of kind called name, at rate_count a second (0: none), 5 s a
 * request, with the option pairs (key, value, ..., NULL); NULL if
 * sink_new() refuses it. */
struct sink *tl_sink_new(struct event_base *base, struct http *h,
    const char *kind, const char *name, unsigned rate_count, ...);
/* Every request answered 200 "ok" from now on. */
void tl_rcv_ok(struct tl_rcv *r);

/* ---- diags, rules, JSON ---- */

/* Every diagnostic of dl, formatted, one a line, into buf; returns buf. */
const char *tl_diags(const struct diag_list *dl, char *buf, size_t size);
/* Strict rules from text, named "t.yaml"; the diagnostics are dropped. */
int tl_rules(const char *text, struct rules **ret) MUST_CHECK;

/* The member at a dotted path ("payload.summary") of o: a string's text,
 * anything else as compact JSON; NULL if absent. */
char *tl_json_member(struct json_object *o, const char *dotted);
/* p[0..len) as one strict (RFC 8259) JSON text in valid UTF-8, or NULL. */
struct json_object *tl_json_strict(const char *p, size_t len);
size_t tl_u8_chars(const char *s); /* UTF-8 characters, not bytes */

/* 0 if a sink renders json (a C string) to something valid. */
typedef int tl_json_check(const char *json, void *arg);

/*
 * Every record of the Secrets Manager corpus in ../shared/data (its path
 * into path) as an alert like the spool's (rule "corpus", severity if not
 * NULL, the record's summary fields and the record) through check: how many
 * were checked, *ret_bad of them failing (each noted as a TAP comment);
 * -ENOENT if the file cannot be read or has no Records.
 */
int tl_corpus_alerts(const char *severity, tl_json_check *check, void *arg,
    char *path, size_t size, size_t *ret_bad) MUST_CHECK;

/* ---- gzip, random numbers, CloudTrail scans ---- */

/* Appends one gzip member holding p[0..len) to out, with header h (NULL:
 * zlib's); bails if zlib or out refuses. */
void tl_gzip(struct buf *out, const void *p, size_t len, struct gz_header_s *h);
/* Inflates every gzip member of p[0..len) into out, independently of
 * trail.c: 0, or -EBADMSG (-E2BIG past out's ceiling). */
int tl_gunzip(struct buf *out, const void *p, size_t len) MUST_CHECK;

uint64_t tl_xorshift(uint64_t *state); /* the next of a xorshift64 stream */

/* One scan's outcome, as the trail tests compare them. */
struct tl_scan {
	int r;
	char msg[256];  /* the diag when r < 0, else "" */
	char skip[256]; /* trail_skipped_first()'s message, or "" */
	struct buf ids; /* eventIDs delivered, one a line ("?": none) */
	struct trail_stats st;
	unsigned delivered;
	unsigned bad_spans; /* raw spans not '{' .. '}' */
	unsigned stop_at;   /* fail this delivery (1-based) with -ECANCELED */
	struct json_object *kept; /* ... and keep its record here */
};

/* How many bytes to feed next. */
typedef size_t tl_chunk_fn(void *arg);

void tl_scan_init(struct tl_scan *x);
void tl_scan_done(struct tl_scan *x);
const char *tl_scan_ids(const struct tl_scan *x); /* borrowed */
/* A trail_record_cb filling the struct tl_scan at arg. */
int tl_scan_collect(struct json_object *rec, struct span raw, void *arg);
/* Scans doc with t into x: chunk NULL, in one trail_scan(); else reset and
 * fed chunk(arg) bytes at a time, then finished. */
void tl_scan_run(struct trail *t, const void *doc, size_t len,
    tl_chunk_fn *chunk, void *arg, struct tl_scan *x);
/* The same code, diag, eventIDs, counts (bytes_json only when both
 * succeeded; bytes_in not at all) and first skip, and no bad span in
 * either. */
bool tl_scan_same(const struct tl_scan *a, const struct tl_scan *b);

#endif
