/*
 * testlib.c: see testlib.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <json-c/json.h>
#include <zlib.h>

#include "buf.h"
#include "diag.h"
#include "rules.h"
#include "sink.h"
#include "trail.h"
#include "testlib.h"

void
tl_bail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(2);
}

/* ---- files ---- */

char *
tl_tmpdir(const char *name)
{
	const char *t = getenv("TMPDIR");
	char *d = NULL;

	if (asprintf(&d, "%s/%s.XXXXXX", t != NULL ? t : "/tmp", name) < 0)
		tl_bail("tl_tmpdir: out of memory");
	if (mkdtemp(d) == NULL)
		tl_bail("mkdtemp %s: %s", d, strerror(errno));
	return d;
}

static int
tl_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 ? -errno : 0;
}

int
tl_tmpdir_free(char *dir)
{
	int r;

	if (dir == NULL)
		return 0;
	r = nftw(dir, tl_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (r == -1)
		r = -errno;
	free(dir);
	return r;
}

int
tl_write_file(const char *path, const void *p, size_t len, bool append)
{
	int fd = open(path,
	    O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC),
	    0600);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, p, len) != (ssize_t)len)
		r = errno != 0 ? -errno : -EIO;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

int
tl_read_file(const char *path, struct buf *out)
{
	FILE *f = fopen(path, "rb");
	char chunk[65536];
	size_t n;
	int r = 0;

	if (f == NULL)
		return -errno;
	while (r == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		r = buf_append(out, chunk, n);
	if (r == 0 && ferror(f))
		r = -EIO;
	(void)fclose(f);
	return r;
}

char *
tl_slurp(const char *path, size_t max, size_t *ret_len)
{
	struct buf b;
	int r;

	buf_init(&b, max);
	r = tl_read_file(path, &b);
	if (r == 0)
		r = buf_reserve(&b, 0); /* an empty file is "", not NULL */
	if (r < 0) {
		buf_done(&b);
		errno = -r;
		return NULL;
	}
	if (ret_len != NULL)
		*ret_len = b.len;
	b.data[b.len] = '\0';
	return buf_steal(&b);
}

off_t
tl_file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

static const char *
tl_env_path(const char *var, const char *dflt, const char *rel, char *buf,
    size_t size)
{
	const char *d = getenv(var);

	(void)snprintf(buf, size, "%s/%s", d != NULL ? d : dflt, rel);
	return buf;
}

const char *
tl_data_path(const char *rel, char *buf, size_t size)
{
	return tl_env_path("SMTRAIL_SHARED_DATA", "../shared/data", rel, buf,
	    size);
}

const char *
tl_src_path(const char *rel, char *buf, size_t size)
{
	return tl_env_path("TOP_SRCDIR", ".", rel, buf, size);
}

/* ---- the loop ---- */

uint64_t
tl_now_us(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

double
tl_ms_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 +
	    (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

double
tl_ms_since(const struct timespec *a)
{
	struct timespec now;

	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	return tl_ms_between(a, &now);
}

void
tl_run_until(struct event_base *base, const int *flag, int want, long max_ms)
{
	struct timespec start;

	(void)clock_gettime(CLOCK_MONOTONIC, &start);
	while (*flag < want && tl_ms_since(&start) < (double)max_ms)
		(void)event_base_loop(base, EVLOOP_ONCE);
}

void
tl_run_for(struct event_base *base, long ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	(void)event_base_loopexit(base, &tv);
	(void)event_base_dispatch(base);
}

static void
tl_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tl_tick *t = arg;

	(void)fd;
	(void)what;
	t->fired++;
	(void)clock_gettime(CLOCK_MONOTONIC, &t->at);
}

void
tl_tick_stop(struct tl_tick *t)
{
	if (t->ev != NULL)
		event_free(t->ev);
	t->ev = NULL;
}

int
tl_tick_start(struct tl_tick *t, struct event_base *base, long ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	memset(t, 0, sizeof(*t));
	t->ev = evtimer_new(base, tl_tick_cb, t);
	if (t->ev == NULL)
		return -ENOMEM;
	if (evtimer_add(t->ev, &tv) < 0) {
		tl_tick_stop(t);
		return -EIO;
	}
	return 0;
}

/* ---- an HTTP server in the test's loop ---- */

void
tl_srv_stop(struct tl_srv *s)
{
	if (s->http != NULL)
		evhttp_free(s->http);
	s->http = NULL;
}

int
tl_srv_start(struct tl_srv *s, struct event_base *base, tl_srv_cb *cb,
    void *arg)
{
	struct evhttp_bound_socket *bs;
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	memset(s, 0, sizeof(*s));
	s->base = base;
	s->http = evhttp_new(base);
	if (s->http == NULL)
		return -ENOMEM;
	evhttp_set_gencb(s->http, cb, arg);
	bs = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0);
	if (bs == NULL ||
	    getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin,
		&sl) < 0) {
		tl_srv_stop(s);
		return -EADDRNOTAVAIL;
	}
	s->port = ntohs(sin.sin_port);
	(void)snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", s->port);
	return 0;
}

static void
tl_header(struct evhttp_request *req, const char *name, char *buf, size_t size)
{
	const char *v =
	    evhttp_find_header(evhttp_request_get_input_headers(req), name);

	(void)snprintf(buf, size, "%s", v != NULL ? v : "");
}

static void
tl_rcv_cb(struct evhttp_request *req, void *arg)
{
	static const struct tl_reply none = {200, NULL, NULL};
	struct tl_rcv *r = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evbuffer *out = evbuffer_new();
	const struct tl_reply *rp = &none;
	int i = r->hits++;
	size_t n;

	if (r->n_script > 0)
		rp = &r->script[i < r->n_script ? i : r->n_script - 1];
	if (i < TL_RCV_HITS) {
		r->t_us[i] = tl_now_us();
		n = evbuffer_get_length(in);
		r->body[i] = malloc(n + 1);
		if (r->body[i] != NULL) {
			(void)evbuffer_copyout(in, r->body[i], n);
			r->body[i][n] = '\0';
		}
	}
	tl_header(req, "Content-Type", r->ctype, sizeof(r->ctype));
	tl_header(req, "X-Smtrail-Signature", r->sig, sizeof(r->sig));
	if (rp->retry_after != NULL)
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Retry-After", rp->retry_after);
	if (out != NULL && rp->body != NULL)
		(void)evbuffer_add(out, rp->body, strlen(rp->body));
	evhttp_send_reply(req, rp->status, "X", out);
	if (out != NULL)
		evbuffer_free(out);
}

int
tl_rcv_start(struct tl_rcv *r, struct event_base *base)
{
	memset(r, 0, sizeof(*r));
	return tl_srv_start(&r->srv, base, tl_rcv_cb, r);
}

void
tl_rcv_reset(struct tl_rcv *r, const struct tl_reply *script, int n)
{
	int i;

	for (i = 0; i < TL_RCV_HITS; i++) {
		free(r->body[i]);
		r->body[i] = NULL;
	}
	if (n > TL_RCV_SCRIPT)
		n = TL_RCV_SCRIPT;
	memset(r->script, 0, sizeof(r->script));
	if (n > 0)
		memcpy(r->script, script, (size_t)n * sizeof(*script));
	r->n_script = n;
	r->hits = 0;
	memset(r->t_us, 0, sizeof(r->t_us));
	r->ctype[0] = '\0';
	r->sig[0] = '\0';
}

void
tl_rcv_stop(struct tl_rcv *r)
{
	tl_rcv_reset(r, NULL, 0);
	tl_srv_stop(&r->srv);
}

/* ---- sinks ---- */

static int tl_outcomes; /* tl_outcome_cb calls, for the order */

void
tl_outcome_cb(const struct sink_outcome *o, void *arg)
{
	struct tl_outcome *g = arg;

	g->done++;
	g->order = ++tl_outcomes;
	g->t_us = tl_now_us();
	g->o = *o;
}

void
tl_outcome_wait(struct event_base *base, const struct tl_outcome *g)
{
	tl_run_until(base, &g->done, 1, 15000);
}

int
tl_sink_send(struct sink *s, const char *json, struct tl_outcome *g)
{
	memset(g, 0, sizeof(*g));
	return sink_send(s, json, strlen(json), tl_outcome_cb, g);
}

void
tl_sink_conf(struct sink_conf *c, const char *kind, const char *name)
{
	memset(c, 0, sizeof(*c));
	c->name = name;
	c->kind = sink_kind_find(kind);
	if (c->kind == NULL)
		tl_bail("no sink kind '%s'", kind);
}

void
tl_sink_opt(struct sink_conf *c, const char *key, const char *value)
{
	if (sink_conf_set(c, key, value) < 0)
		tl_bail("sink kind '%s' has no option '%s'",
		    sink_type_str(c->kind), key);
}

struct sink *
tl_sink_new(struct event_base *base, struct http *h, const char *kind,
    const char *name, unsigned rate_count, ...)
{
	struct sink_conf c;
	struct sink *s = NULL;
	const char *key;
	va_list ap;

	tl_sink_conf(&c, kind, name);
	va_start(ap, rate_count);
	while ((key = va_arg(ap, const char *)) != NULL)
		tl_sink_opt(&c, key, va_arg(ap, const char *));
	va_end(ap);
	c.rate_count = rate_count;
	c.rate_period_us = rate_count ? 1000000u : 0;
	c.timeout_ms = 5000;
	if (sink_new(&c, base, h, &s, NULL) < 0)
		return NULL;
	return s;
}

void
tl_rcv_ok(struct tl_rcv *r)
{
	static const struct tl_reply r200[] = {{200, "ok", NULL}};

	tl_rcv_reset(r, r200, 1);
}

/* ---- diags, rules, JSON ---- */

const char *
tl_diags(const struct diag_list *dl, char *buf, size_t size)
{
	char line[700];
	size_t o = 0;
	unsigned i;

	buf[0] = '\0';
	for (i = 0; i < dl->n && o < size; i++) {
		int n = snprintf(buf + o, size - o, "%s%s", i > 0 ? "\n" : "",
		    diag_format(&dl->items[i], line, sizeof(line)));

		if (n < 0)
			break;
		o += (size_t)n;
	}
	return buf;
}

int
tl_rules(const char *text, struct rules **ret)
{
	struct diag_list *dl = calloc(1, sizeof(*dl));
	int r;

	if (dl == NULL)
		return -ENOMEM;
	r = rules_load_buffer("t.yaml", text, strlen(text), true, ret, dl);
	free(dl);
	return r;
}

char *
tl_json_member(struct json_object *o, const char *dotted)
{
	struct json_object *v = o;
	const char *p = dotted;
	char key[64];

	while (v != NULL && *p != '\0') {
		size_t n = strcspn(p, ".");

		(void)snprintf(key, sizeof(key), "%.*s", (int)n, p);
		if (!json_object_object_get_ex(v, key, &v))
			v = NULL;
		p += n + (p[n] == '.');
	}
	if (v == NULL)
		return NULL;
	return strdup(json_object_is_type(v, json_type_string)
		? json_object_get_string(v)
		: json_object_to_json_string_ext(v,
		      JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

struct json_object *
tl_json_strict(const char *p, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o;

	if (len > INT32_MAX)
		return NULL;
	tok = json_tokener_new();
	if (tok == NULL)
		return NULL;
	json_tokener_set_flags(tok,
	    JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, p, (int)len);
	if (o != NULL &&
	    (json_tokener_get_error(tok) != json_tokener_success ||
		json_tokener_get_parse_end(tok) != len)) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

size_t
tl_u8_chars(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

static struct json_object *
tl_json_records(const char *path, struct json_object **ret_recs)
{
	struct json_object *doc = json_object_from_file(path);
	struct json_object *recs;

	if (doc == NULL || !json_object_object_get_ex(doc, "Records", &recs) ||
	    !json_object_is_type(recs, json_type_array)) {
		json_object_put(doc);
		return NULL;
	}
	*ret_recs = recs;
	return doc;
}

static struct json_object *
tl_record_alert(struct json_object *rec, const char *severity)
{
	static const char *const keys[] = {"eventID", "eventName", "eventTime",
	    "awsRegion", "recipientAccountId", "sourceIPAddress", "errorCode"};
	struct json_object *a = json_object_new_object();
	struct json_object *v;
	size_t k;

	json_object_object_add(a, "rule", json_object_new_string("corpus"));
	if (severity != NULL)
		json_object_object_add(a, "severity",
		    json_object_new_string(severity));
	for (k = 0; k < ARRAY_SIZE(keys); k++)
		if (json_object_object_get_ex(rec, keys[k], &v))
			json_object_object_add(a, keys[k], json_object_get(v));
	json_object_object_add(a, "record", json_object_get(rec));
	return a;
}

int
tl_corpus_alerts(const char *severity, tl_json_check *check, void *arg,
    char *path, size_t size, size_t *ret_bad)
{
	struct json_object *f;
	struct json_object *recs;
	size_t bad = 0;
	size_t n;
	size_t i;

	f = tl_json_records(tl_data_path("cloudtrail/secretsmanager/"
					 "combined_secretsmanager.json",
				path, size),
	    &recs);
	if (f == NULL)
		return -ENOENT;
	n = json_object_array_length(recs);
	for (i = 0; i < n; i++) {
		struct json_object *a = tl_record_alert(
		    json_object_array_get_idx(recs, i), severity);

		if (check(json_object_to_json_string(a), arg) != 0) {
			bad++;
			printf("# record %zu refused or invalid\n", i);
		}
		json_object_put(a);
	}
	json_object_put(f);
	*ret_bad = bad;
	return (int)n;
}

/* ---- gzip, random numbers, CloudTrail scans ---- */

void
tl_gzip(struct buf *out, const void *p, size_t len, struct gz_header_s *h)
{
	z_stream s;
	size_t bound;

	memset(&s, 0, sizeof(s));
	if (deflateInit2(&s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 31, 8,
		Z_DEFAULT_STRATEGY) != Z_OK)
		tl_bail("tl_gzip: deflateInit2");
	if (h != NULL && deflateSetHeader(&s, h) != Z_OK)
		tl_bail("tl_gzip: deflateSetHeader");
	bound = deflateBound(&s, len) + 64;
	if (buf_reserve(out, bound) < 0)
		tl_bail("tl_gzip: %zu bytes over the buffer's ceiling", bound);
	s.next_in = (Bytef *)(uintptr_t)p;
	s.avail_in = (uInt)len;
	s.next_out = (Bytef *)out->data + out->len;
	s.avail_out = (uInt)bound;
	if (deflate(&s, Z_FINISH) != Z_STREAM_END)
		tl_bail("tl_gzip: deflate");
	out->len += s.total_out;
	(void)deflateEnd(&s);
}

int
tl_gunzip(struct buf *out, const void *p, size_t len)
{
	z_stream s;
	int ret = Z_OK;
	int r = 0;

	memset(&s, 0, sizeof(s));
	if (inflateInit2(&s, 15 + 32) != Z_OK)
		return -ENOMEM;
	s.next_in = (Bytef *)(uintptr_t)p;
	s.avail_in = (uInt)len;
	while (ret == Z_OK) {
		r = buf_reserve(out, 1u << 20);
		if (r < 0)
			break;
		s.next_out = (Bytef *)out->data + out->len;
		s.avail_out = 1u << 20;
		ret = inflate(&s, Z_NO_FLUSH);
		out->len += (1u << 20) - s.avail_out;
		out->data[out->len] = '\0';
		/* Another member follows. */
		if (ret == Z_STREAM_END && s.avail_in > 0 &&
		    inflateReset(&s) == Z_OK)
			ret = Z_OK;
	}
	(void)inflateEnd(&s);
	if (r < 0)
		return r;
	return ret == Z_STREAM_END ? 0 : -EBADMSG;
}

uint64_t
tl_xorshift(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

void
tl_scan_init(struct tl_scan *x)
{
	memset(x, 0, sizeof(*x));
	buf_init(&x->ids, 256u << 20);
}

void
tl_scan_done(struct tl_scan *x)
{
	buf_done(&x->ids);
	json_object_put(x->kept);
	x->kept = NULL;
}

const char *
tl_scan_ids(const struct tl_scan *x)
{
	return x->ids.data != NULL ? x->ids.data : "";
}

int
tl_scan_collect(struct json_object *rec, struct span raw, void *arg)
{
	struct tl_scan *x = arg;
	struct json_object *id;
	const char *s = "?";

	if (raw.len < 2 || raw.p[0] != '{' || raw.p[raw.len - 1] != '}')
		x->bad_spans++;
	if (json_object_object_get_ex(rec, "eventID", &id))
		s = json_object_get_string(id);
	if (buf_puts(&x->ids, s) < 0 || buf_putc(&x->ids, '\n') < 0)
		return -ENOMEM;
	if (++x->delivered != x->stop_at)
		return 0;
	/* Keep this one past the callback, as a caller may. */
	x->kept = json_object_get(rec);
	return -ECANCELED;
}

void
tl_scan_run(struct trail *t, const void *doc, size_t len, tl_chunk_fn *chunk,
    void *arg, struct tl_scan *x)
{
	const unsigned char *p = doc;
	const struct diag *skip;
	struct diag d;
	size_t off;
	size_t n;
	int r;

	memset(&d, 0, sizeof(d));
	if (chunk == NULL) {
		r = trail_scan(t, doc, len, tl_scan_collect, x, &d);
	} else {
		trail_reset(t);
		r = 0;
		for (off = 0; r == 0 && off < len; off += n) {
			n = chunk(arg);
			if (n > len - off)
				n = len - off;
			r = trail_feed(t, p + off, n, tl_scan_collect, x, &d);
		}
		if (r == 0)
			r = trail_finish(t, tl_scan_collect, x, &d);
	}
	x->r = r;
	x->st = *trail_stats(t);
	(void)snprintf(x->msg, sizeof(x->msg), "%s", r < 0 ? d.msg : "");
	skip = trail_skipped_first(t);
	(void)snprintf(x->skip, sizeof(x->skip), "%s",
	    skip != NULL ? skip->msg : "");
}

bool
tl_scan_same(const struct tl_scan *a, const struct tl_scan *b)
{
	return a->r == b->r && strcmp(a->msg, b->msg) == 0 &&
	    strcmp(tl_scan_ids(a), tl_scan_ids(b)) == 0 &&
	    a->st.records == b->st.records &&
	    a->st.candidates == b->st.candidates &&
	    a->st.matched == b->st.matched && a->st.skipped == b->st.skipped &&
	    strcmp(a->skip, b->skip) == 0 &&
	    (a->r < 0 || a->st.bytes_json == b->st.bytes_json) &&
	    a->bad_spans == 0 && b->bad_spans == 0;
}
