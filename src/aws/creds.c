/*
 * creds.c: see creds.h.
 *
 * One resolution at a time: creds_start() walks the providers from
 * c->src (creds_run); the environment and profile answer at once, the
 * others start an HTTP request and continue in creds_http_done(), which
 * may start the next request (IMDS takes three). Either way the result is
 * installed (creds_install) or recorded as a failure (creds_fail), and the
 * waiting callbacks are marked ready and run from one deferred event
 * (creds_deliver_cb), so that none runs inside creds_get(). A callback may
 * free the creds: the object is then marked dead and destroyed once the
 * delivery loop is done with it.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <json-c/json.h>

#include "backoff.h"
#include "buf.h"
#include "clock.h"
#include "creds.h"
#include "creds_proc.h"
#include "diag.h"
#include "http.h"
#include "profile.h"
#include "sigv4.h"

/* Ceilings on what we hold: AWS's are far shorter (ids are 20 characters,
 * secrets 40, session tokens about 1 KB), and sigv4.h refuses longer. */
#define CREDS_MAX_KEY_ID 128
#define CREDS_MAX_SECRET 128
#define CREDS_MAX_TOKEN (8u << 10)
/* A web identity (a JWT) or container token file: a few KB in practice. */
#define CREDS_MAX_TOKEN_FILE (64u << 10)
/* Any answer from STS, a container endpoint or IMDS. */
#define CREDS_MAX_BODY (64u << 10)
/* The IMDSv2 session token (about 56 bytes) and an instance role name. */
#define CREDS_MAX_IMDS_TOKEN 1024
#define CREDS_MAX_ROLE 128
#define CREDS_MAX_ARN 2048

/* IMDS is a link-local hop: a machine that is not on EC2 must fail fast
 * (the SDKs' 1 s), a container endpoint is local too, STS is remote. */
#define CREDS_IMDS_TIMEOUT_MS 1000L
#define CREDS_CONTAINER_TIMEOUT_MS 2000L
#define CREDS_STS_TIMEOUT_MS 10000L
#define CREDS_IMDS_TOKEN_TTL_S 21600
#define CREDS_RETRY_BASE_MS 1000u
#define CREDS_RETRY_CAP_MS 60000u
#define CREDS_RETRY_MIN_MS 100

#define CREDS_IMDS_ENDPOINT "http://169.254.169.254"
#define CREDS_IMDS_ENDPOINT_V6 "http://[fd00:ec2::254]"
#define CREDS_ECS_ENDPOINT "http://169.254.170.2"

/* AssumeRole: one hour. Every role allows it (MaxSessionDuration is 1 to
 * 12 hours), role chaining allows no more, and we renew ahead of expiry
 * anyway, so a longer session would only make renewals rarer. */
#define CREDS_ASSUME_DURATION_S 3600
/* A credential_process that has not answered by then is killed. */
#define CREDS_PROC_TIMEOUT_MS 60000L
/* Profiles in a source_profile chain (a loop is caught before this). */
#define CREDS_MAX_CHAIN 16

/* What a provider attempt did, besides failing (< 0). */
#define CREDS_ASYNC 0 /* a request is in flight */
#define CREDS_GOT 1   /* new credentials are ready */
#define CREDS_SKIP 2  /* not configured here: next provider */

/*
 * The providers. A creds object walks the ones in its srcs mask, in this
 * order: the top one has the default chain (environment .. IMDS), or only
 * ASSUME_ROLE when creds_opts.role_arn is set (its source is a child with
 * the default chain). ASSUME_ROLE and PROCESS are otherwise entered from a
 * profile, like WEB_IDENTITY; a refresh re-runs the one that answered.
 */
enum creds_src {
	CREDS_SRC_ASSUME_ROLE,
	CREDS_SRC_ENV,
	CREDS_SRC_PROFILE,
	CREDS_SRC_WEB_IDENTITY,
	CREDS_SRC_PROCESS,
	CREDS_SRC_CONTAINER,
	CREDS_SRC_IMDS,
	CREDS_SRC_COUNT
};

#define CREDS_BIT(s) (1u << (s))
#define CREDS_SRCS_DEFAULT                                                     \
	(CREDS_BIT(CREDS_SRC_ENV) | CREDS_BIT(CREDS_SRC_PROFILE) |             \
	    CREDS_BIT(CREDS_SRC_WEB_IDENTITY) |                                \
	    CREDS_BIT(CREDS_SRC_CONTAINER) | CREDS_BIT(CREDS_SRC_IMDS))

/* The request in flight, if any. */
enum creds_step {
	CREDS_STEP_IDLE,
	CREDS_STEP_STS,
	CREDS_STEP_CONTAINER,
	CREDS_STEP_IMDS_TOKEN,
	CREDS_STEP_IMDS_ROLE,
	CREDS_STEP_IMDS_CREDS,
	CREDS_STEP_SOURCE,  /* assume role: waiting for the source creds */
	CREDS_STEP_ASSUME,  /* assume role: STS AssumeRole in flight */
	CREDS_STEP_PROCESS, /* credential_process running */
	CREDS_STEP_COUNT
};

struct creds_waiter {
	creds_cb *cb;
	void *arg;
	bool ready; /* r and d are set; runs at the next delivery */
	int r;
	struct diag d;
	struct creds_waiter *next;
};

struct creds {
	struct event_base *base;
	struct http *http;
	char *profile; /* options, copied */
	char *sts_endpoint;
	char *region;
	char *ecs_endpoint;
	char *endpoint_url;
	char *role_arn; /* aws.role_arn and its settings */
	char *external_id;
	char *session_name;
	long proc_timeout_ms;
	int64_t margin_ms;
	int64_t skew_ms;
	unsigned srcs;    /* the providers walked (CREDS_BIT) */
	bool source_mode; /* a source_profile: static keys beat role_arn */
	char **visited;   /* the profiles above a source_profile, in order */
	size_t n_visited;

	struct aws_creds cur; /* valid when have */
	bool have;
	enum creds_src cur_src;
	int64_t refresh_at_ms; /* wall clock */
	unsigned fails;        /* refreshes failed in a row */

	bool busy;       /* a resolution or refresh is running */
	bool refreshing; /* re-running cur_src only */
	enum creds_src src;
	enum creds_step step;
	struct http_req *req;
	char notes[200]; /* providers skipped, for the -ENOKEY diag */
	char *profile_region;

	/* Web identity, kept for refreshes. */
	char *wi_role;
	char *wi_token_file;
	char *wi_session;
	char *wi_url;

	/* Assume role, kept for refreshes. */
	char *ar_role;
	char *ar_external_id;
	char *ar_session;
	char *ar_url;          /* computed once the source has answered */
	char *ar_region;       /* signing region */
	char ar_what[224];     /* "profile 'x': assume-role <arn>" */
	char ar_src_what[224]; /* prefixes the source's diags; "": none */
	struct creds *ar_src;

	/* credential_process, kept for refreshes. */
	char *proc_cmd;
	char proc_what[96];
	unsigned proc_line;
	char *proc_file;
	struct creds_proc *proc;

	/* IMDS, during one pass. */
	char *imds_base;
	char *imds_token;
	char *imds_role;

	struct creds_waiter *waiters; /* in creds_get order */
	struct event *deliver_ev;
	struct event *refresh_ev;
	bool delivering;
	bool dead; /* freed by a callback; destroyed after delivery */
};

static void creds_run(struct creds *c);
static void creds_http_done(struct http_response *resp, void *arg);
static void creds_after(struct creds *c, int r, struct aws_creds *nc,
    struct diag *d);

static const char *
creds_src_str(enum creds_src s)
{
	switch (s) {
	case CREDS_SRC_ASSUME_ROLE:
		return "assume-role";
	case CREDS_SRC_PROCESS:
		return "process";
	case CREDS_SRC_ENV:
		return "environment";
	case CREDS_SRC_PROFILE:
		return "profile";
	case CREDS_SRC_WEB_IDENTITY:
		return "web-identity";
	case CREDS_SRC_CONTAINER:
		return "container";
	case CREDS_SRC_IMDS:
		return "imds";
	case CREDS_SRC_COUNT:
		break;
	}
	return "?";
}

static void
creds_set_step(struct creds *c, enum creds_step s)
{
	/* IDLE -> a request; IMDS goes token -> role -> credentials. */
	assert(s < CREDS_STEP_COUNT);
	assert(s == CREDS_STEP_IDLE || c->step == CREDS_STEP_IDLE ||
	    (c->step == CREDS_STEP_SOURCE && s == CREDS_STEP_ASSUME) ||
	    (c->step == CREDS_STEP_IMDS_TOKEN && s == CREDS_STEP_IMDS_ROLE) ||
	    (c->step == CREDS_STEP_IMDS_ROLE && s == CREDS_STEP_IMDS_CREDS));
	c->step = s;
}

static const char *
creds_env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

static int64_t
creds_wall_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
creds_wipe_str(char **s)
{
	if (*s == NULL)
		return;
	explicit_bzero(*s, strlen(*s));
	free(*s);
	*s = NULL;
}

static void
creds_wipe(struct aws_creds *a)
{
	creds_wipe_str(&a->access_key_id);
	creds_wipe_str(&a->secret_access_key);
	creds_wipe_str(&a->session_token);
	memset(a, 0, sizeof(*a));
}

/* Printable ASCII, no spaces, 1..max bytes: what a key, secret or token
 * looks like, and nothing that could break a header. */
static bool
creds_valid(const char *s, size_t len, size_t max)
{
	size_t i;

	if (len == 0 || len > max)
		return false;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* The first of id, secret, token (NULL ok) that is malformed, or NULL. */
static const char *
creds_bad_field(const char *id, const char *secret, const char *token,
    const char *const names[3])
{
	if (!creds_valid(id, strlen(id), CREDS_MAX_KEY_ID))
		return names[0];
	if (!creds_valid(secret, strlen(secret), CREDS_MAX_SECRET))
		return names[1];
	if (token != NULL &&
	    !creds_valid(token, strlen(token), CREDS_MAX_TOKEN))
		return names[2];
	return NULL;
}

static int
creds_dup(struct aws_creds *a, const char *id, const char *secret,
    const char *token, time_t expiration)
{
	memset(a, 0, sizeof(*a));
	a->access_key_id = strdup(id);
	a->secret_access_key = strdup(secret);
	if (token != NULL)
		a->session_token = strdup(token);
	a->expiration = expiration;
	if (a->access_key_id == NULL || a->secret_access_key == NULL ||
	    (token != NULL && a->session_token == NULL)) {
		creds_wipe(a);
		return -ENOMEM;
	}
	return CREDS_GOT;
}

/* A server's string for a diag: printable, cut short. */
static const char *
creds_clean(const char *s, size_t len, char *buf, size_t size)
{
	size_t i;

	if (len >= size)
		len = size - 1;
	for (i = 0; i < len; i++)
		buf[i] =
		    (unsigned char)s[i] < ' ' || (unsigned char)s[i] >= 0x7f
		    ? '?'
		    : s[i];
	buf[len] = '\0';
	return buf;
}

static const char *
creds_errtext(int r)
{
	switch (r) {
	case -ECONNREFUSED:
		return "connection refused";
	case -ETIMEDOUT:
		return "timed out";
	case -EHOSTUNREACH:
		return "host not found or unreachable";
	case -ECONNRESET:
		return "connection reset";
	case -E2BIG:
		return "answer too large";
	default:
		return strerror(-r);
	}
}

/* The code for an HTTP error status. */
static int
creds_status_error(long status)
{
	if (status == 429 || status >= 500)
		return -EAGAIN;
	if (status >= 400)
		return -EACCES;
	return -EPROTO;
}

static void creds_note(struct creds *c, const char *fmt, ...) PRINTF_LIKE(2, 3);

static void
creds_note(struct creds *c, const char *fmt, ...)
{
	size_t n = strlen(c->notes);
	va_list ap;

	if (n != 0 && n + 2 < sizeof(c->notes)) {
		memcpy(c->notes + n, ", ", 3);
		n += 2;
	}
	if (n + 1 >= sizeof(c->notes))
		return;
	va_start(ap, fmt);
	(void)vsnprintf(c->notes + n, sizeof(c->notes) - n, fmt, ap);
	va_end(ap);
}

/* A provider that is not configured (or, for IMDS, not reachable): noted
 * and skipped, except when refreshing, where it is a failure (r). */
static int
creds_skip(struct creds *c, int r, struct diag *d, const char *what,
    const char *why)
{
	if (c->refreshing)
		return diag_set(d, r, NULL, 0, 0,
		    "refreshing %s credentials: %s", what, why);
	creds_note(c, "%s (%s)", what, why);
	return CREDS_SKIP;
}

/*
 * Files and URLs.
 */

/* A token file, read whole, trailing whitespace dropped; no control
 * characters. The diag names the file, never the content. */
static int
creds_read_token(const char *what, const char *path, char **ret, struct diag *d)
{
	struct stat st;
	char *data = NULL;
	size_t len = 0;
	size_t i;
	int fd;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		return diag_set(d, r, path, 0, 0,
		    "%s: cannot open token file: %s", what, strerror(-r));
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = diag_set(d, -EINVAL, path, 0, 0,
		    "%s: token file is not a regular file", what);
		goto fail;
	}
	if (st.st_size > (off_t)CREDS_MAX_TOKEN_FILE) {
		r = diag_set(d, -E2BIG, path, 0, 0,
		    "%s: token file is larger than %u bytes", what,
		    CREDS_MAX_TOKEN_FILE);
		goto fail;
	}
	data = malloc(CREDS_MAX_TOKEN_FILE + 1);
	if (data == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	for (;;) {
		ssize_t n = read(fd, data + len, CREDS_MAX_TOKEN_FILE - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			r = diag_set(d, r, path, 0, 0,
			    "%s: cannot read token file: %s", what,
			    strerror(-r));
			goto fail;
		}
		if (n == 0 || (len += (size_t)n) == CREDS_MAX_TOKEN_FILE)
			break;
	}
	while (len > 0 &&
	    (data[len - 1] == '\n' || data[len - 1] == '\r' ||
		data[len - 1] == ' ' || data[len - 1] == '\t'))
		len--;
	data[len] = '\0';
	if (len == 0) {
		r = diag_set(d, -EINVAL, path, 0, 0, "%s: token file is empty",
		    what);
		goto fail;
	}
	for (i = 0; i < len; i++) {
		if ((unsigned char)data[i] < ' ' || data[i] == 0x7f) {
			r = diag_set(d, -EINVAL, path, 0, 0,
			    "%s: token file has control characters", what);
			goto fail;
		}
	}
	(void)close(fd);
	*ret = data;
	return 0;
fail:
	(void)close(fd);
	if (data != NULL) {
		explicit_bzero(data, CREDS_MAX_TOKEN_FILE + 1);
		free(data);
	}
	return r;
}

static char *
creds_strip_slash(const char *s)
{
	char *r = strdup(s);
	size_t n;

	if (r == NULL)
		return NULL;
	n = strlen(r);
	while (n > 0 && r[n - 1] == '/')
		r[--n] = '\0';
	return r;
}

/* May we send a container token to host over plain http? The SDKs' rule:
 * loopback, or the ECS and EKS Pod Identity link-local addresses. */
static bool
creds_host_local(const char *host)
{
	struct in_addr a;

	if (strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 ||
	    strcmp(host, "169.254.170.2") == 0 ||
	    strcmp(host, "169.254.170.23") == 0 ||
	    strcasecmp(host, "[fd00:ec2::23]") == 0)
		return true;
	return inet_pton(AF_INET, host, &a) == 1 &&
	    (ntohl(a.s_addr) >> 24) == 127;
}

static bool
creds_full_uri_ok(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL;
	char *host = NULL;
	bool ok = false;

	if (u == NULL)
		return false;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		if (strcasecmp(scheme, "https") == 0)
			ok = true;
		else if (strcasecmp(scheme, "http") == 0)
			ok = creds_host_local(host);
	}
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

/* application/x-www-form-urlencoded: all but the unreserved set escaped. */
static int
creds_form_put(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	int r = 0;

	for (; *s != '\0' && r == 0; s++) {
		unsigned char ch = (unsigned char)*s;
		char e[3];

		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
		    ch == '.' || ch == '~') {
			r = buf_putc(b, (char)ch);
			continue;
		}
		e[0] = '%';
		e[1] = hex[ch >> 4];
		e[2] = hex[ch & 15];
		r = buf_append(b, e, 3);
	}
	return r;
}

static int
creds_request(struct creds *c, enum creds_step step, const char *method,
    const char *url, const char *const *hdrs, size_t n_hdrs,
    const struct buf *body, long timeout_ms)
{
	struct http_request rq;
	int r;

	memset(&rq, 0, sizeof(rq));
	rq.method = method;
	rq.url = url;
	rq.headers = hdrs;
	rq.n_headers = n_hdrs;
	if (body != NULL) {
		rq.body = body->data;
		rq.body_len = body->len;
	}
	rq.timeout_ms = timeout_ms;
	rq.max_body = CREDS_MAX_BODY;
	rq.on_done = creds_http_done;
	rq.arg = c;
	r = http_start(c->http, &rq, &c->req);
	if (r < 0)
		return r;
	creds_set_step(c, step);
	return CREDS_ASYNC;
}

/*
 * Answers: JSON (container, IMDS) and XML (STS).
 */

/* A string member, or NULL; -EBADMSG if present but not a string. */
static int
creds_json_str(struct json_object *o, const char *key, const char **ret)
{
	struct json_object *v;

	*ret = NULL;
	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -EBADMSG;
	*ret = json_object_get_string(v);
	if (strlen(*ret) != (size_t)json_object_get_string_len(v))
		return -EBADMSG; /* a NUL inside */
	return 0;
}

/* {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"[, "Code"]} */
static int
creds_parse_json(const char *what, const struct buf *body, bool need_exp,
    struct aws_creds *nc, struct diag *d)
{
	static const char *const names[3] = {"AccessKeyId", "SecretAccessKey",
	    "Token"};
	struct json_tokener *tok = json_tokener_new_ex(8);
	struct json_object *o = NULL;
	const char *id, *secret, *token, *exp, *code;
	const char *bad;
	char clean[64];
	time_t t = 0;
	size_t end;
	int r;

	if (tok == NULL)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, body->data != NULL ? body->data : "",
	    (int)body->len);
	end = json_tokener_get_parse_end(tok);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object) ||
	    strspn(body->data + end, " \t\r\n") != body->len - end) {
		r = diag_set(d, -EBADMSG, NULL, 0, 0,
		    "%s: the answer is not a JSON object", what);
		goto out;
	}
	if (creds_json_str(o, "Code", &code) < 0 ||
	    creds_json_str(o, names[0], &id) < 0 ||
	    creds_json_str(o, names[1], &secret) < 0 ||
	    creds_json_str(o, names[2], &token) < 0 ||
	    creds_json_str(o, "Expiration", &exp) < 0) {
		r = diag_set(d, -EBADMSG, NULL, 0, 0,
		    "%s: a credential field is not a string", what);
		goto out;
	}
	if (code != NULL && strcmp(code, "Success") != 0) {
		r = diag_set(d, -EACCES, NULL, 0, 0,
		    "%s: credentials not available (Code '%s')", what,
		    creds_clean(code, strlen(code), clean, sizeof(clean)));
		goto out;
	}
	if (id == NULL || secret == NULL) {
		r = diag_set(d, -EBADMSG, NULL, 0, 0, "%s: the answer lacks %s",
		    what, id == NULL ? names[0] : names[1]);
		goto out;
	}
	bad = creds_bad_field(id, secret, token, names);
	if (bad != NULL) {
		r = diag_set(d, -EBADMSG, NULL, 0, 0, "%s: malformed %s", what,
		    bad);
		goto out;
	}
	if ((exp == NULL && need_exp) ||
	    (exp != NULL && clock_parse_iso8601(exp, &t) < 0)) {
		r = diag_set(d, -EBADMSG, NULL, 0, 0,
		    "%s: missing or malformed Expiration", what);
		goto out;
	}
	r = creds_dup(nc, id, secret, token, t);
out:
	/* json-c frees without wiping; our copies are wiped. */
	json_object_put(o);
	json_tokener_free(tok);
	return r;
}

/* The text of <tag>...</tag> within [p, end), trimmed; -ENOENT if absent.
 */
static int
creds_xml_find(const char *p, const char *end, const char *tag,
    const char **ret, size_t *ret_len)
{
	char open[64];
	char close[64];
	const char *s;
	const char *e;

	(void)snprintf(open, sizeof(open), "<%s>", tag);
	(void)snprintf(close, sizeof(close), "</%s>", tag);
	s = memmem(p, (size_t)(end - p), open, strlen(open));
	if (s == NULL)
		return -ENOENT;
	s += strlen(open);
	e = memmem(s, (size_t)(end - s), close, strlen(close));
	if (e == NULL)
		return -EBADMSG;
	while (s < e && strchr(" \t\r\n", *s) != NULL)
		s++;
	while (e > s && strchr(" \t\r\n", e[-1]) != NULL)
		e--;
	*ret = s;
	*ret_len = (size_t)(e - s);
	return 0;
}

/* XML character data to a C string: the five entities and &#...; for
 * printable ASCII; no CDATA, no NUL. */
static int
creds_xml_text(const char *s, size_t len, char **ret)
{
	static const struct {
		const char *name;
		char ch;
	} ents[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'},
	    {"apos;", '\''}};
	char *out = malloc(len + 1);
	size_t i = 0;
	size_t o = 0;
	size_t k;

	if (out == NULL)
		return -ENOMEM;
	while (i < len) {
		const char *semi;
		unsigned long v;
		char *endp;

		if (s[i] == '\0' || s[i] == '<')
			goto bad;
		if (s[i] != '&') {
			out[o++] = s[i++];
			continue;
		}
		i++;
		for (k = 0; k < ARRAY_SIZE(ents); k++) {
			size_t n = strlen(ents[k].name);

			if (len - i >= n &&
			    memcmp(s + i, ents[k].name, n) == 0) {
				out[o++] = ents[k].ch;
				i += n;
				break;
			}
		}
		if (k < ARRAY_SIZE(ents))
			continue;
		semi = memchr(s + i, ';', len - i);
		if (semi == NULL || len - i < 2 || s[i] != '#' ||
		    semi - (s + i) > 8)
			goto bad;
		errno = 0;
		if (s[i + 1] == 'x' || s[i + 1] == 'X')
			v = strtoul(s + i + 2, &endp, 16);
		else
			v = strtoul(s + i + 1, &endp, 10);
		if (endp != semi || errno != 0 || v < ' ' || v >= 0x7f)
			goto bad;
		out[o++] = (char)v;
		i = (size_t)(semi - s) + 1;
	}
	out[o] = '\0';
	*ret = out;
	return 0;
bad:
	explicit_bzero(out, len + 1);
	free(out);
	return -EBADMSG;
}

static int
creds_parse_sts(const char *what, const struct buf *body, struct aws_creds *nc,
    struct diag *d)
{
	static const char *const tags[4] = {"AccessKeyId", "SecretAccessKey",
	    "SessionToken", "Expiration"};
	const char *p = body->data != NULL ? body->data : "";
	const char *end = p + body->len;
	const char *s;
	size_t len;
	char *v[4] = {NULL, NULL, NULL, NULL};
	const char *bad;
	time_t t = 0;
	int r;
	int i;

	r = creds_xml_find(p, end, "Credentials", &s, &len);
	if (r < 0)
		return diag_set(d, -EBADMSG, NULL, 0, 0,
		    "%s: the answer has no <Credentials>", what);
	for (i = 0; i < 4; i++) {
		const char *vs;
		size_t vlen;

		r = creds_xml_find(s, s + len, tags[i], &vs, &vlen);
		if (r == 0)
			r = creds_xml_text(vs, vlen, &v[i]);
		if (r == -ENOMEM)
			goto out;
		if (r < 0) {
			r = diag_set(d, -EBADMSG, NULL, 0, 0,
			    "%s: missing or malformed %s", what, tags[i]);
			goto out;
		}
	}
	bad = creds_bad_field(v[0], v[1], v[2], tags);
	if (bad != NULL) {
		r = diag_set(d, -EBADMSG, NULL, 0, 0, "%s: malformed %s", what,
		    bad);
		goto out;
	}
	if (clock_parse_iso8601(v[3], &t) < 0) {
		r = diag_set(d, -EBADMSG, NULL, 0, 0,
		    "%s: malformed Expiration", what);
		goto out;
	}
	r = creds_dup(nc, v[0], v[1], v[2], t);
out:
	for (i = 0; i < 4; i++)
		creds_wipe_str(&v[i]);
	return r;
}

/*
 * Providers. Each returns CREDS_GOT (with *nc filled), CREDS_ASYNC,
 * CREDS_SKIP, or fails with a diag.
 */

static int
creds_try_env(struct creds *c, struct aws_creds *nc, struct diag *d)
{
	static const char *const names[3] = {"AWS_ACCESS_KEY_ID",
	    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"};
	const char *id = creds_env(names[0]);
	const char *secret = creds_env(names[1]);
	const char *token = creds_env(names[2]);
	const char *bad;

	if (token == NULL)
		token = creds_env("AWS_SECURITY_TOKEN"); /* boto's old name */
	/* botocore: a profile given explicitly (the session's, here
	 * aws.profile; not $AWS_PROFILE) removes the environment provider,
	 * so that its role_arn and credential_source = Environment work. */
	if (c->profile != NULL && (c->srcs & CREDS_BIT(CREDS_SRC_PROFILE)))
		return creds_skip(c, -ENOKEY, d, "environment",
		    "not used with an explicit profile");
	if (id == NULL && secret == NULL)
		return creds_skip(c, -ENOKEY, d, "environment", "unset");
	if (id == NULL || secret == NULL)
		return diag_set(d, -EINVAL, NULL, 0, 0,
		    "environment: %s is set but %s is not",
		    id != NULL ? names[0] : names[1],
		    id != NULL ? names[1] : names[0]);
	bad = creds_bad_field(id, secret, token, names);
	if (bad != NULL)
		return diag_set(d, -EINVAL, NULL, 0, 0,
		    "environment: %s is malformed (empty, too long, or with "
		    "spaces or control characters)",
		    bad);
	return creds_dup(nc, id, secret, token, 0);
}

/* The region for STS: the option, the environment, the profile's, the
 * source's profile's; NULL if none. */
static const char *
creds_sts_region(const struct creds *c)
{
	const char *region = c->region;

	if (region == NULL)
		region = creds_env("AWS_REGION");
	if (region == NULL)
		region = creds_env("AWS_DEFAULT_REGION");
	if (region == NULL)
		region = c->profile_region;
	if (region == NULL && c->ar_src != NULL)
		region = c->ar_src->profile_region;
	return region;
}

/* The STS endpoint (what names the caller in diags), from the options, the
 * environment or the region; the signing region too if ret_region. */
static int
creds_sts_url(struct creds *c, const char *what, char **ret, char **ret_region,
    struct diag *d)
{
	const char *url = c->sts_endpoint;
	const char *region = creds_sts_region(c);
	char def[128];
	size_t i;

	if (url == NULL)
		url = creds_env("AWS_ENDPOINT_URL_STS");
	if (url == NULL)
		url = c->endpoint_url;
	if (url == NULL)
		url = creds_env("AWS_ENDPOINT_URL");
	if (url == NULL && region != NULL) {
		for (i = 0; region[i] != '\0'; i++)
			if (!((region[i] >= 'a' && region[i] <= 'z') ||
				(region[i] >= '0' && region[i] <= '9') ||
				region[i] == '-'))
				break;
		if (region[i] != '\0' || i == 0 || i > 32)
			return diag_set(d, -EINVAL, NULL, 0, 0,
			    "%s: malformed region", what);
		(void)snprintf(def, sizeof(def),
		    "https://sts.%s.amazonaws.com%s", region,
		    strncmp(region, "cn-", 3) == 0 ? ".cn" : "");
		url = def;
	} else if (url == NULL) {
		/* The global endpoint, which signs as us-east-1. */
		url = "https://sts.amazonaws.com";
	}
	*ret = strdup(url);
	if (*ret == NULL)
		return -ENOMEM;
	if (ret_region == NULL)
		return 0;
	*ret_region = strdup(region != NULL ? region : "us-east-1");
	if (*ret_region == NULL) {
		free(*ret);
		*ret = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Web identity parameters, from the environment or a profile; origin
 * names them in diags. */
static int
creds_wi_setup(struct creds *c, const char *origin, const char *role,
    const char *file, const char *session, struct diag *d)
{
	char def[64];
	size_t i;
	int r;

	if (strncmp(role, "arn:", 4) != 0 ||
	    !creds_valid(role, strlen(role), CREDS_MAX_ARN))
		return diag_set(d, -EINVAL, NULL, 0, 0,
		    "web identity (%s): the role ARN is malformed", origin);
	if (session == NULL) {
		(void)snprintf(def, sizeof(def), "smtrail-%ld", (long)getpid());
		session = def;
	}
	for (i = 0; session[i] != '\0'; i++)
		if (strchr(
			"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			"0123456789+=,.@_-",
			session[i]) == NULL)
			break;
	if (session[i] != '\0' || i < 2 || i > 64)
		return diag_set(d, -EINVAL, NULL, 0, 0,
		    "web identity (%s): the role session name must be 2-64 "
		    "characters of letters, digits and +=,.@_-",
		    origin);
	free(c->wi_role);
	free(c->wi_token_file);
	free(c->wi_session);
	free(c->wi_url);
	c->wi_url = NULL;
	c->wi_role = strdup(role);
	c->wi_token_file = strdup(file);
	c->wi_session = strdup(session);
	if (c->wi_role == NULL || c->wi_token_file == NULL ||
	    c->wi_session == NULL)
		return -ENOMEM;
	r = creds_sts_url(c, "web identity", &c->wi_url, NULL, d);
	if (r < 0)
		return r;
	c->src = CREDS_SRC_WEB_IDENTITY;
	return 0;
}

/* AssumeRoleWithWebIdentity with the saved parameters and a fresh read of
 * the token file (Kubernetes rotates it). Unsigned: the token is the
 * proof. */
static int
creds_wi_start(struct creds *c, struct diag *d)
{
	static const char *const hdrs[] = {
	    "Content-Type: application/x-www-form-urlencoded",
	    "Accept: text/xml"};
	struct buf body;
	char *token = NULL;
	int r;

	r = creds_read_token("web identity", c->wi_token_file, &token, d);
	if (r < 0)
		return r;
	buf_init(&body, 3 * CREDS_MAX_TOKEN_FILE + 3 * CREDS_MAX_ARN + 512);
	r = buf_puts(&body,
	    "Action=AssumeRoleWithWebIdentity"
	    "&Version=2011-06-15&RoleArn=");
	if (r == 0)
		r = creds_form_put(&body, c->wi_role);
	if (r == 0)
		r = buf_puts(&body, "&RoleSessionName=");
	if (r == 0)
		r = creds_form_put(&body, c->wi_session);
	if (r == 0)
		r = buf_puts(&body, "&WebIdentityToken=");
	if (r == 0)
		r = creds_form_put(&body, token);
	if (r == 0)
		r = creds_request(c, CREDS_STEP_STS, "POST", c->wi_url, hdrs,
		    ARRAY_SIZE(hdrs), &body, CREDS_STS_TIMEOUT_MS);
	if (body.data != NULL)
		explicit_bzero(body.data, body.cap);
	buf_done(&body);
	explicit_bzero(token, strlen(token));
	free(token);
	return r;
}

static int
creds_try_wi_env(struct creds *c, struct diag *d)
{
	const char *file = creds_env("AWS_WEB_IDENTITY_TOKEN_FILE");
	const char *role = creds_env("AWS_ROLE_ARN");
	int r;

	if (file == NULL)
		return creds_skip(c, -ENOKEY, d, "web identity", "unset");
	if (role == NULL)
		return diag_set(d, -EINVAL, NULL, 0, 0,
		    "web identity: AWS_WEB_IDENTITY_TOKEN_FILE is set but "
		    "AWS_ROLE_ARN is not");
	r = creds_wi_setup(c, "environment", role, file,
	    creds_env("AWS_ROLE_SESSION_NAME"), d);
	if (r < 0)
		return r;
	return creds_wi_start(c, d);
}

/* A profile key's file:line for a diag. */
static int
creds_profile_err(struct diag *d, int r, const struct profile *p,
    const char *key, const char *msg)
{
	unsigned line = 0;
	const char *file = profile_where(p, key, &line);

	return diag_set(d, r, file, line, 0, "profile '%.64s': %s",
	    profile_name(p), msg);
}

static int creds_profile_role(struct creds *c, const struct profile *p,
    const char *what, const char *role, struct diag *d);
static int creds_profile_process(struct creds *c, const struct profile *p,
    const char *what, const char *cmd, struct diag *d);

/*
 * A profile: role_arn (web identity if web_identity_token_file, else
 * assume role from source_profile or credential_source), else static keys,
 * credential_process, SSO (refused). A source_profile (source_mode) takes
 * its static keys first, even if it has role_arn too: botocore's
 * AssumeRoleProvider._resolve_credentials_from_profile.
 */
static int
creds_try_profile(struct creds *c, struct aws_creds *nc, struct diag *d)
{
	static const char *const names[3] = {"aws_access_key_id",
	    "aws_secret_access_key", "aws_session_token"};
	struct profile *p = NULL;
	const char *id, *secret, *token, *role, *region;
	const char *bad;
	char what[96];
	char msg[160];
	int r;

	r = profile_load(c->profile, &p, d);
	if (r < 0)
		return r;
	(void)snprintf(what, sizeof(what), "profile '%.64s'", profile_name(p));
	region = profile_get(p, "region");
	free(c->profile_region);
	c->profile_region = region != NULL ? strdup(region) : NULL;
	if (region != NULL && c->profile_region == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (!profile_found(p)) {
		if (profile_explicit(p))
			r = diag_set(d, -ENOENT, NULL, 0, 0,
			    "%s not found in %s or %s", what,
			    profile_path(p, PROFILE_FILE_CREDENTIALS),
			    profile_path(p, PROFILE_FILE_CONFIG));
		else
			r = creds_skip(c, -ENOKEY, d, what, "not found");
		goto out;
	}
	role = profile_get(p, "role_arn");
	id = profile_get(p, names[0]);
	secret = profile_get(p, names[1]);
	token = profile_get(p, names[2]);
	if (role != NULL &&
	    !(c->source_mode && (id != NULL || secret != NULL))) {
		const char *file = profile_get(p, "web_identity_token_file");

		if (file == NULL) {
			r = creds_profile_role(c, p, what, role, d);
			goto out;
		}
		r = creds_wi_setup(c, what, role, file,
		    profile_get(p, "role_session_name"), d);
		if (r == 0)
			r = creds_wi_start(c, d);
		goto out;
	}
	if (id != NULL && secret != NULL) {
		bad = creds_bad_field(id, secret, token, names);
		if (bad != NULL) {
			(void)snprintf(msg, sizeof(msg),
			    "%s is malformed (empty, too long, or with spaces "
			    "or control characters)",
			    bad);
			r = creds_profile_err(d, -EINVAL, p, bad, msg);
		} else
			r = creds_dup(nc, id, secret, token, 0);
	} else if (id != NULL || secret != NULL) {
		r = creds_profile_err(d, -EINVAL, p,
		    id != NULL ? names[0] : names[1],
		    id != NULL
			? "aws_access_key_id without aws_secret_access_key"
			: "aws_secret_access_key without "
			  "aws_access_key_id");
	} else if (profile_get(p, "credential_process") != NULL) {
		r = creds_profile_process(c, p, what,
		    profile_get(p, "credential_process"), d);
	} else if (profile_get(p, "sso_session") != NULL ||
	    profile_get(p, "sso_start_url") != NULL) {
		r = creds_profile_err(d, -ENOTSUP, p,
		    profile_get(p, "sso_session") != NULL ? "sso_session"
							  : "sso_start_url",
		    "SSO is not supported (a daemon cannot sign in; use a "
		    "role, static keys or credential_process)");
	} else {
		r = creds_skip(c, -ENOKEY, d, what, "no keys");
	}
out:
	profile_free(p);
	return r;
}

/*
 * Assume role: a child creds object gives the source credentials (the
 * default chain for aws.role_arn; a profile's source_profile or
 * credential_source), then we sign STS AssumeRole with them.
 */

#define CREDS_SESSION_CHARS                                                    \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+=,.@-"

static bool
creds_charset(const char *s, const char *extra, size_t min, size_t max)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
			(s[i] >= 'A' && s[i] <= 'Z') ||
			(s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
			strchr(extra, s[i]) != NULL))
			return false;
	return i >= min && i <= max;
}

const char *
creds_role_arn_why(const char *s)
{
	const char *p = s;
	size_t n;

	if (strncmp(p, "arn:", 4) != 0)
		return "expected arn:<partition>:iam::<account>:role/<name>";
	p += 4;
	n = strspn(p, "abcdefghijklmnopqrstuvwxyz-");
	if (n == 0 || n > 32 || strncmp(p + n, ":iam::", 6) != 0)
		return "expected arn:<partition>:iam::<account>:role/<name>";
	p += n + 6;
	if (strspn(p, "0123456789") != 12 || p[12] != ':')
		return "the account must be 12 digits";
	p += 13;
	if (strncmp(p, "role/", 5) != 0 || p[5] == '\0')
		return "not a role (expected :role/<name>)";
	if (!creds_valid(s, strlen(s), CREDS_MAX_ARN))
		return "too long, or with spaces or control characters";
	return NULL;
}

const char *
creds_external_id_why(const char *s)
{
	if (!creds_charset(s, "+=,.@:/-", 2, 1224))
		return "expected 2 to 1224 characters of letters, digits and "
		       "_+=,.@:/-";
	return NULL;
}

const char *
creds_session_name_why(const char *s)
{
	if (!creds_charset(s, "+=,.@-", 2, 64))
		return "expected 2 to 64 characters of letters, digits and "
		       "_+=,.@-";
	return NULL;
}

/* "smtrail-<host name>", else "smtrail-<pid>": CloudTrail shows which
 * host holds the session. */
static void
creds_default_session(char *buf, size_t size)
{
	char host[256];
	size_t i;

	memset(host, 0, sizeof(host));
	if (gethostname(host, sizeof(host) - 1) == 0 && host[0] != '\0') {
		/* Host names are letters, digits, '-' and '.' already. */
		for (i = 0; host[i] != '\0'; i++)
			if (strchr(CREDS_SESSION_CHARS, host[i]) == NULL)
				host[i] = '-';
		(void)snprintf(buf, size, "smtrail-%.55s", host);
	} else {
		(void)snprintf(buf, size, "smtrail-%ld", (long)getpid());
	}
}

static int creds_child_new(struct creds *c, unsigned srcs, const char *profile,
    bool source_mode, struct creds **ret);

/* Copies the source's diag under ours, prefixed when ar_wrap. */
static int
creds_src_diag(struct creds *c, int r, const struct diag *sd, struct diag *d)
{
	struct diag tmp;

	if (sd == NULL)
		return diag_set(d, r, NULL, 0, 0, "%s: source credentials: %s",
		    c->ar_what, strerror(-r));
	tmp = *sd;
	if (c->ar_src_what[0] == '\0') {
		*d = tmp;
		return r;
	}
	return diag_set(d, r, tmp.file[0] != '\0' ? tmp.file : NULL, tmp.line,
	    tmp.col, "%s: %s", c->ar_src_what, tmp.msg);
}

/* The STS AssumeRole request, signed with the source credentials. */
static int
creds_ar_send(struct creds *c, const struct aws_creds *src, struct diag *d)
{
	static const char ctype[] =
	    "application/x-www-form-urlencoded; charset=utf-8";
	struct sigv4_header sh[2];
	struct sigv4_request sr;
	struct sigv4_creds sc;
	struct sigv4_params sp;
	struct sigv4_result res;
	const char *hdrs[5];
	char l_auth[SIGV4_AUTH_SIZE + 32];
	char l_date[64];
	char l_ctype[96];
	char host[256];
	const char *hp;
	const char *path;
	struct buf body;
	struct buf tok;
	size_t n = 0;
	size_t hl;
	int r;

	if (c->ar_url == NULL) {
		r = creds_sts_url(c, c->ar_what, &c->ar_url, &c->ar_region, d);
		if (r < 0)
			return r;
	}
	hp = strstr(c->ar_url, "://");
	hl = hp != NULL ? strcspn(hp + 3, "/?#") : 0;
	if (hp == NULL || hl == 0 || hl >= sizeof(host) ||
	    strchr(hp + 3, '?') != NULL || strchr(hp + 3, '#') != NULL)
		return diag_set(d, -EINVAL, NULL, 0, 0,
		    "%s: malformed STS endpoint", c->ar_what);
	memcpy(host, hp + 3, hl);
	host[hl] = '\0';
	path = hp[3 + hl] != '\0' ? hp + 3 + hl : "/";
	buf_init(&body, 4 * CREDS_MAX_ARN + 8192);
	buf_init(&tok, CREDS_MAX_TOKEN + 64);
	r = buf_printf(&body, "Action=AssumeRole&DurationSeconds=%d&RoleArn=",
	    CREDS_ASSUME_DURATION_S);
	if (r == 0)
		r = creds_form_put(&body, c->ar_role);
	if (r == 0)
		r = buf_puts(&body, "&RoleSessionName=");
	if (r == 0)
		r = creds_form_put(&body, c->ar_session);
	if (r == 0 && c->ar_external_id != NULL) {
		r = buf_puts(&body, "&ExternalId=");
		if (r == 0)
			r = creds_form_put(&body, c->ar_external_id);
	}
	if (r == 0)
		r = buf_puts(&body, "&Version=2011-06-15");
	if (r < 0)
		goto out;
	sh[0].name = "host";
	sh[0].value = host;
	sh[1].name = "content-type";
	sh[1].value = ctype;
	memset(&sr, 0, sizeof(sr));
	sr.method = "POST";
	sr.path = path;
	sr.headers = sh;
	sr.n_headers = 2;
	sr.body = body.data;
	sr.body_len = body.len;
	sc.access_key_id = src->access_key_id;
	sc.secret_access_key = src->secret_access_key;
	sc.session_token = src->session_token;
	memset(&sp, 0, sizeof(sp));
	sp.region = c->ar_region;
	sp.service = "sts";
	sp.now = time(NULL);
	sp.normalize_path = true;
	sp.double_encode_path = true;
	r = sigv4_sign_headers(&sr, &sc, &sp, &res, NULL);
	if (r < 0) {
		r = diag_set(d, r, NULL, 0, 0,
		    "%s: cannot sign STS AssumeRole (a malformed region, "
		    "endpoint or source key?)",
		    c->ar_what);
		goto out;
	}
	(void)snprintf(l_ctype, sizeof(l_ctype), "Content-Type: %s", ctype);
	(void)snprintf(l_auth, sizeof(l_auth), "Authorization: %s",
	    res.authorization);
	(void)snprintf(l_date, sizeof(l_date), "X-Amz-Date: %s", res.amz_date);
	hdrs[n++] = l_ctype;
	hdrs[n++] = l_auth;
	hdrs[n++] = l_date;
	hdrs[n++] = "Accept: text/xml";
	if (src->session_token != NULL && src->session_token[0] != '\0') {
		r = buf_printf(&tok, "X-Amz-Security-Token: %s",
		    src->session_token);
		if (r < 0)
			goto out;
		hdrs[n++] = tok.data;
	}
	r = creds_request(c, CREDS_STEP_ASSUME, "POST", c->ar_url, hdrs, n,
	    &body, CREDS_STS_TIMEOUT_MS);
	explicit_bzero(l_auth, sizeof(l_auth));
	explicit_bzero(&res, sizeof(res));
out:
	if (tok.data != NULL)
		explicit_bzero(tok.data, tok.cap);
	buf_done(&tok);
	buf_done(&body);
	return r;
}

/* The source's answer: on to STS, or fail with its diag. */
static void
creds_src_cb(const struct aws_creds *sc, int r, const struct diag *sd,
    void *arg)
{
	struct creds *c = arg;
	struct aws_creds nc;
	struct diag d;

	memset(&nc, 0, sizeof(nc));
	memset(&d, 0, sizeof(d));
	assert(c->step == CREDS_STEP_SOURCE);
	if (r < 0)
		r = creds_src_diag(c, r, sd, &d);
	else
		r = creds_ar_send(c, sc, &d);
	if (r != CREDS_ASYNC)
		creds_set_step(c, CREDS_STEP_IDLE);
	creds_after(c, r, &nc, &d);
}

/* Asks the source (cached, refreshed or resolved by it) first. */
static int
creds_ar_start(struct creds *c)
{
	int r;

	r = creds_get(c->ar_src, creds_src_cb, c);
	if (r < 0)
		return r;
	creds_set_step(c, CREDS_STEP_SOURCE);
	return CREDS_ASYNC;
}

/* Saves the role's settings (already checked) and the source; takes src.
 * what prefixes STS's failures (it names the role), src_what (NULL: none)
 * the source's. */
static int
creds_ar_setup(struct creds *c, const char *what, const char *src_what,
    const char *role, const char *external_id, const char *session,
    struct creds *src)
{
	char def[72];

	if (session == NULL) {
		creds_default_session(def, sizeof(def));
		session = def;
	}
	creds_free(c->ar_src);
	c->ar_src = src;
	free(c->ar_role);
	free(c->ar_external_id);
	free(c->ar_session);
	free(c->ar_url);
	free(c->ar_region);
	c->ar_url = c->ar_region = c->ar_external_id = NULL;
	c->ar_role = strdup(role);
	c->ar_session = strdup(session);
	if (external_id != NULL)
		c->ar_external_id = strdup(external_id);
	if (c->ar_role == NULL || c->ar_session == NULL ||
	    (external_id != NULL && c->ar_external_id == NULL))
		return -ENOMEM;
	(void)snprintf(c->ar_what, sizeof(c->ar_what), "%s", what);
	(void)snprintf(c->ar_src_what, sizeof(c->ar_src_what), "%s",
	    src_what != NULL ? src_what : "");
	c->src = CREDS_SRC_ASSUME_ROLE;
	return 0;
}

/* aws.role_arn (checked by creds_new) over the default chain. */
static int
creds_try_role_opt(struct creds *c, struct diag *d)
{
	struct creds *src = NULL;
	char what[200];
	char src_what[220];
	int r;

	r = creds_child_new(c, CREDS_SRCS_DEFAULT, c->profile, false, &src);
	if (r < 0)
		return r;
	(void)snprintf(what, sizeof(what), "assume-role %.128s", c->role_arn);
	(void)snprintf(src_what, sizeof(src_what), "%s: source credentials",
	    what);
	r = creds_ar_setup(c, what, src_what, c->role_arn, c->external_id,
	    c->session_name, src);
	if (r < 0)
		return diag_set(d, r, NULL, 0, 0, "%s: %s", what, strerror(-r));
	return creds_ar_start(c);
}

static int
creds_done_assume(struct creds *c, const struct http_response *resp,
    struct aws_creds *nc, struct diag *d)
{
	const char *p = resp->body.data != NULL ? resp->body.data : "";
	const char *code;
	size_t len;
	char clean[64];

	if (resp->error != 0)
		return diag_set(d, resp->error, NULL, 0, 0, "%s: STS: %s",
		    c->ar_what, creds_errtext(resp->error));
	if (resp->status != 200) {
		if (creds_xml_find(p, p + resp->body.len, "Code", &code, &len) <
		    0) {
			code = "";
			len = 0;
		}
		(void)creds_clean(code, len, clean, sizeof(clean));
		return diag_set(d,
		    strcmp(clean, "Throttling") == 0
			? -EAGAIN
			: creds_status_error(resp->status),
		    NULL, 0, 0, "%s: STS AssumeRole failed: HTTP %ld%s%s",
		    c->ar_what, resp->status, clean[0] != '\0' ? " " : "",
		    clean);
	}
	return creds_parse_sts(c->ar_what, &resp->body, nc, d);
}

/*
 * credential_process.
 */

/* {"Version": 1, "AccessKeyId", "SecretAccessKey"[, "SessionToken"]
 * [, "Expiration"]}: the diag names a field, never a value. */
static int
creds_parse_process(const char *what, const struct buf *out,
    struct aws_creds *nc, struct diag *d)
{
	static const char *const names[3] = {"AccessKeyId", "SecretAccessKey",
	    "SessionToken"};
	struct json_tokener *tok = json_tokener_new_ex(8);
	struct json_object *o = NULL;
	struct json_object *v;
	const char *f[3];
	const char *exp;
	const char *bad;
	time_t t = 0;
	size_t end;
	int i;
	int r;

	if (tok == NULL)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, out->data != NULL ? out->data : "",
	    (int)out->len);
	end = json_tokener_get_parse_end(tok);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object) ||
	    strspn(out->data + end, " \t\r\n") != out->len - end) {
		r = diag_set(d, -EBADMSG, NULL, 0, 0,
		    "%s: credential_process output is not a JSON object", what);
		goto out;
	}
	if (!json_object_object_get_ex(o, "Version", &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) != 1) {
		r = diag_set(d, -EBADMSG, NULL, 0, 0,
		    "%s: credential_process output: Version must be 1", what);
		goto out;
	}
	for (i = 0; i < 3; i++) {
		if (creds_json_str(o, names[i], &f[i]) < 0) {
			r = diag_set(d, -EBADMSG, NULL, 0, 0,
			    "%s: credential_process output: %s is not a "
			    "string",
			    what, names[i]);
			goto out;
		}
		if (f[i] == NULL && i < 2) {
			r = diag_set(d, -EBADMSG, NULL, 0, 0,
			    "%s: credential_process output lacks %s", what,
			    names[i]);
			goto out;
		}
	}
	bad = creds_bad_field(f[0], f[1], f[2], names);
	if (bad != NULL) {
		r = diag_set(d, -EBADMSG, NULL, 0, 0,
		    "%s: credential_process output: %s is malformed (empty, "
		    "too long, or with spaces or control characters)",
		    what, bad);
		goto out;
	}
	if (creds_json_str(o, "Expiration", &exp) < 0 ||
	    (exp != NULL && clock_parse_iso8601(exp, &t) < 0)) {
		r = diag_set(d, -EBADMSG, NULL, 0, 0,
		    "%s: credential_process output: Expiration is not an ISO "
		    "8601 time",
		    what);
		goto out;
	}
	r = creds_dup(nc, f[0], f[1], f[2], t);
out:
	json_object_put(o);
	json_tokener_free(tok);
	return r;
}

static void
creds_proc_cb_done(const struct creds_proc_result *res, void *arg)
{
	struct creds *c = arg;
	struct aws_creds nc;
	struct diag d;
	char why[128];
	const char *ex;
	int r;

	c->proc = NULL;
	memset(&nc, 0, sizeof(nc));
	memset(&d, 0, sizeof(d));
	ex = creds_proc_excerpt(res->err, why, sizeof(why));
	if (res->error == -ETIMEDOUT)
		r = diag_set(&d, res->error, c->proc_file, c->proc_line, 0,
		    "%s: credential_process did not finish within %ld s and "
		    "was killed",
		    c->proc_what, c->proc_timeout_ms / 1000);
	else if (res->error == -E2BIG)
		r = diag_set(&d, res->error, c->proc_file, c->proc_line, 0,
		    "%s: credential_process wrote more than %u bytes and was "
		    "killed",
		    c->proc_what, CREDS_MAX_BODY);
	else if (res->error < 0)
		r = diag_set(&d, res->error, c->proc_file, c->proc_line, 0,
		    "%s: credential_process: %s", c->proc_what,
		    strerror(-res->error));
	else if (res->signal != 0)
		r = diag_set(&d, -EIO, c->proc_file, c->proc_line, 0,
		    "%s: credential_process was killed by signal %d%s%s",
		    c->proc_what, res->signal, ex[0] != '\0' ? ": " : "", ex);
	else if (res->status != 0)
		r = diag_set(&d, -EIO, c->proc_file, c->proc_line, 0,
		    "%s: credential_process exited with status %d%s%s",
		    c->proc_what, res->status, ex[0] != '\0' ? ": " : "", ex);
	else
		r = creds_parse_process(c->proc_what, res->out, &nc, &d);
	if (r < 0 && d.file[0] == '\0' && c->proc_file != NULL) {
		/* Where the command came from. */
		(void)snprintf(d.file, sizeof(d.file), "%s", c->proc_file);
		d.line = c->proc_line;
	}
	creds_set_step(c, CREDS_STEP_IDLE);
	creds_after(c, r, &nc, &d);
}

static int
creds_proc_run(struct creds *c, struct diag *d)
{
	int r;

	r = creds_proc_start(c->base, c->proc_cmd, c->proc_timeout_ms,
	    CREDS_MAX_BODY, creds_proc_cb_done, c, &c->proc, d);
	if (r < 0) {
		struct diag tmp = *d;

		if (tmp.msg[0] == '\0')
			(void)snprintf(tmp.msg, sizeof(tmp.msg),
			    "credential_process: %s", strerror(-r));
		return diag_set(d, r, c->proc_file, c->proc_line, 0, "%s: %s",
		    c->proc_what, tmp.msg);
	}
	creds_set_step(c, CREDS_STEP_PROCESS);
	return CREDS_ASYNC;
}

/*
 * Profiles: role_arn with a source, credential_process.
 */

/* "a → b → c" from the visited profiles, then name. */
static void
creds_chain_str(const struct creds *c, const char *name, const char *last,
    char *buf, size_t size)
{
	size_t i;
	size_t n = 0;

	buf[0] = '\0';
	for (i = 0; i < c->n_visited && n + 1 < size; i++)
		n +=
		    (size_t)snprintf(buf + n, size - n, "%s → ", c->visited[i]);
	if (n + 1 < size)
		n += (size_t)snprintf(buf + n, size - n, "%s → %s", name, last);
	UNUSED(n);
}

static int
creds_profile_role(struct creds *c, const struct profile *p, const char *what,
    const char *role, struct diag *d)
{
	static const struct {
		const char *name;
		enum creds_src src;
	} sources[] = {{"Environment", CREDS_SRC_ENV},
	    {"Ec2InstanceMetadata", CREDS_SRC_IMDS},
	    {"EcsContainer", CREDS_SRC_CONTAINER}};
	const char *sp = profile_get(p, "source_profile");
	const char *cs = profile_get(p, "credential_source");
	const char *ext = profile_get(p, "external_id");
	const char *sess = profile_get(p, "role_session_name");
	const char *name = profile_name(p);
	struct creds *src = NULL;
	char msg[240];
	char chain[160];
	size_t i;
	int r;

	if (profile_get(p, "mfa_serial") != NULL)
		return creds_profile_err(d, -ENOTSUP, p, "mfa_serial",
		    "mfa_serial is not supported: a daemon cannot ask for an "
		    "MFA code (use a role whose trust policy does not require "
		    "MFA)");
	if (profile_get(p, "duration_seconds") != NULL)
		return creds_profile_err(d, -ENOTSUP, p, "duration_seconds",
		    "duration_seconds is not supported: smtrail asks for 1 "
		    "hour, which every role allows, and renews the "
		    "credentials before they expire");
	if (sp != NULL && cs != NULL)
		return creds_profile_err(d, -EINVAL, p, "credential_source",
		    "both source_profile and credential_source are set");
	if (sp == NULL && cs == NULL)
		return creds_profile_err(d, -EINVAL, p, "role_arn",
		    "role_arn needs source_profile, credential_source or "
		    "web_identity_token_file");
	if (creds_role_arn_why(role) != NULL) {
		(void)snprintf(msg, sizeof(msg), "malformed role_arn (%s)",
		    creds_role_arn_why(role));
		return creds_profile_err(d, -EINVAL, p, "role_arn", msg);
	}
	if (ext != NULL && creds_external_id_why(ext) != NULL) {
		(void)snprintf(msg, sizeof(msg), "malformed external_id (%s)",
		    creds_external_id_why(ext));
		return creds_profile_err(d, -EINVAL, p, "external_id", msg);
	}
	if (sess != NULL && creds_session_name_why(sess) != NULL) {
		(void)snprintf(msg, sizeof(msg),
		    "malformed role_session_name (%s)",
		    creds_session_name_why(sess));
		return creds_profile_err(d, -EINVAL, p, "role_session_name",
		    msg);
	}
	if (cs != NULL) {
		for (i = 0; i < ARRAY_SIZE(sources); i++)
			if (strcmp(cs, sources[i].name) == 0)
				break;
		if (i == ARRAY_SIZE(sources))
			return creds_profile_err(d, -EINVAL, p,
			    "credential_source",
			    "credential_source must be Environment, "
			    "Ec2InstanceMetadata or EcsContainer");
		r = creds_child_new(c, CREDS_BIT(sources[i].src), NULL, false,
		    &src);
	} else {
		/*
		 * botocore's rule
		 * (AssumeRoleProvider._validate_source_profile): a profile
		 * already in the chain is a loop, except a profile naming
		 * itself when it has static keys (they are its source).
		 */
		bool loop = strcmp(sp, name) == 0
		    ? profile_get(p, "aws_access_key_id") == NULL &&
			profile_get(p, "aws_secret_access_key") == NULL
		    : false;

		for (i = 0; i < c->n_visited && !loop; i++)
			if (strcmp(c->visited[i], sp) == 0)
				loop = true;
		if (loop || c->n_visited + 1 >= CREDS_MAX_CHAIN) {
			creds_chain_str(c, name, sp, chain, sizeof(chain));
			(void)snprintf(msg, sizeof(msg),
			    "source_profile %s: profile %.150s",
			    loop ? "loop" : "chain too deep", chain);
			return creds_profile_err(d, -ELOOP, p, "source_profile",
			    msg);
		}
		r = creds_child_new(c, CREDS_BIT(CREDS_SRC_PROFILE), sp, true,
		    &src);
		if (r == 0) {
			/* The child's visited: ours, then this profile. */
			src->visited =
			    calloc(c->n_visited + 1, sizeof(*src->visited));
			r = src->visited == NULL ? -ENOMEM : 0;
			for (i = 0; i < c->n_visited && r == 0; i++) {
				src->visited[i] = strdup(c->visited[i]);
				if (src->visited[i] == NULL)
					r = -ENOMEM;
				src->n_visited = i + 1;
			}
			if (r == 0) {
				src->visited[i] = strdup(name);
				r = src->visited[i] == NULL ? -ENOMEM : 0;
				src->n_visited = i + 1;
			}
		}
	}
	if (r < 0) {
		creds_free(src);
		return r;
	}
	/* STS's failures name the profile and the role; a source_profile's
	 * name their own profile, a credential_source's get ours. */
	(void)snprintf(msg, sizeof(msg), "%.80s: assume-role %.128s", what,
	    role);
	(void)snprintf(chain, sizeof(chain), "%.80s: credential_source %s",
	    what, cs != NULL ? cs : "");
	r = creds_ar_setup(c, msg, cs != NULL ? chain : NULL, role, ext, sess,
	    src);
	if (r < 0)
		return r;
	return creds_ar_start(c);
}

static int
creds_profile_process(struct creds *c, const struct profile *p,
    const char *what, const char *cmd, struct diag *d)
{
	char **argv = NULL;
	const char *file;
	unsigned line = 0;
	struct diag tmp;
	int r;

	memset(&tmp, 0, sizeof(tmp));
	r = creds_proc_split(cmd, &argv, &tmp);
	creds_proc_argv_free(argv);
	if (r < 0)
		return creds_profile_err(d, r, p, "credential_process",
		    tmp.msg);
	file = profile_where(p, "credential_process", &line);
	creds_wipe_str(&c->proc_cmd);
	free(c->proc_file);
	c->proc_file = file != NULL ? strdup(file) : NULL;
	c->proc_line = line;
	c->proc_cmd = strdup(cmd);
	if (c->proc_cmd == NULL || (file != NULL && c->proc_file == NULL))
		return -ENOMEM;
	(void)snprintf(c->proc_what, sizeof(c->proc_what), "%s", what);
	c->src = CREDS_SRC_PROCESS;
	return creds_proc_run(c, d);
}

static int
creds_try_container(struct creds *c, struct diag *d)
{
	const char *rel = creds_env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = creds_env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	const char *file = creds_env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	const char *tok = creds_env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	char *filetok = NULL;
	struct buf url;
	struct buf auth;
	const char *hdrs[1];
	size_t i;
	int r;

	if (rel == NULL && full == NULL)
		return creds_skip(c, -ENOKEY, d, "container", "unset");
	if (rel != NULL && rel[0] != '/')
		return diag_set(d, -EINVAL, NULL, 0, 0,
		    "container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must "
		    "start with '/'");
	if (rel == NULL && !creds_full_uri_ok(full))
		return diag_set(d, -EINVAL, NULL, 0, 0,
		    "container: AWS_CONTAINER_CREDENTIALS_FULL_URI must be "
		    "https, or http to a loopback or the ECS/EKS link-local "
		    "address");
	if (file != NULL) {
		r = creds_read_token("container", file, &filetok, d);
		if (r < 0)
			return r;
		tok = filetok;
	} else if (tok != NULL) {
		for (i = 0; tok[i] != '\0'; i++)
			if ((unsigned char)tok[i] < ' ' || tok[i] == 0x7f)
				return diag_set(d, -EINVAL, NULL, 0, 0,
				    "container: "
				    "AWS_CONTAINER_AUTHORIZATION_TOKEN has "
				    "control characters");
	}
	buf_init(&url, 8192);
	buf_init(&auth, CREDS_MAX_TOKEN_FILE + 64);
	if (rel != NULL)
		r = buf_printf(&url, "%s%s",
		    c->ecs_endpoint != NULL ? c->ecs_endpoint
					    : CREDS_ECS_ENDPOINT,
		    rel);
	else
		r = buf_puts(&url, full);
	if (r == 0 && tok != NULL)
		r = buf_printf(&auth, "Authorization: %s", tok);
	if (r == 0) {
		hdrs[0] = auth.data;
		r = creds_request(c, CREDS_STEP_CONTAINER, "GET", url.data,
		    hdrs, tok != NULL ? 1 : 0, NULL,
		    CREDS_CONTAINER_TIMEOUT_MS);
	}
	if (r == -E2BIG)
		r = diag_set(d, r, NULL, 0, 0, "container: URI too long");
	if (auth.data != NULL)
		explicit_bzero(auth.data, auth.cap);
	buf_done(&auth);
	buf_done(&url);
	if (filetok != NULL) {
		explicit_bzero(filetok, strlen(filetok));
		free(filetok);
	}
	return r;
}

static int
creds_try_imds(struct creds *c, struct diag *d)
{
	const char *dis = creds_env("AWS_EC2_METADATA_DISABLED");
	const char *ep = creds_env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	const char *mode = creds_env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
	const char *hdrs[1];
	char hdr[64];
	char url[512];

	if (dis != NULL && strcasecmp(dis, "true") == 0)
		return creds_skip(c, -ENOKEY, d, "imds", "disabled");
	if (ep == NULL) {
		if (mode == NULL || strcasecmp(mode, "IPv4") == 0)
			ep = CREDS_IMDS_ENDPOINT;
		else if (strcasecmp(mode, "IPv6") == 0)
			ep = CREDS_IMDS_ENDPOINT_V6;
		else
			return diag_set(d, -EINVAL, NULL, 0, 0,
			    "imds: AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE must "
			    "be IPv4 or IPv6");
	}
	free(c->imds_base);
	c->imds_base = creds_strip_slash(ep);
	if (c->imds_base == NULL)
		return -ENOMEM;
	if (snprintf(url, sizeof(url), "%s/latest/api/token", c->imds_base) >=
	    (int)sizeof(url))
		return diag_set(d, -EINVAL, NULL, 0, 0,
		    "imds: AWS_EC2_METADATA_SERVICE_ENDPOINT is too long");
	(void)snprintf(hdr, sizeof(hdr),
	    "X-aws-ec2-metadata-token-ttl-seconds: %d", CREDS_IMDS_TOKEN_TTL_S);
	hdrs[0] = hdr;
	return creds_request(c, CREDS_STEP_IMDS_TOKEN, "PUT", url, hdrs, 1,
	    NULL, CREDS_IMDS_TIMEOUT_MS);
}

/* The next IMDS GET: the role list (role NULL) or the role's credentials.
 */
static int
creds_imds_get(struct creds *c, enum creds_step step, const char *role)
{
	const char *hdrs[1];
	struct buf hdr;
	char url[768];
	int r;

	(void)snprintf(url, sizeof(url),
	    "%s/latest/meta-data/iam/security-credentials/%s", c->imds_base,
	    role != NULL ? role : "");
	buf_init(&hdr, CREDS_MAX_IMDS_TOKEN + 64);
	r = buf_printf(&hdr, "X-aws-ec2-metadata-token: %s", c->imds_token);
	if (r == 0) {
		hdrs[0] = hdr.data;
		r = creds_request(c, step, "GET", url, hdrs, 1, NULL,
		    CREDS_IMDS_TIMEOUT_MS);
	}
	if (hdr.data != NULL)
		explicit_bzero(hdr.data, hdr.cap);
	buf_done(&hdr);
	return r;
}

static int
creds_try(struct creds *c, struct aws_creds *nc, struct diag *d)
{
	switch (c->src) {
	case CREDS_SRC_ASSUME_ROLE:
		/* In the walk only for aws.role_arn; else from a profile. */
		if (c->refreshing)
			return creds_ar_start(c);
		return creds_try_role_opt(c, d);
	case CREDS_SRC_PROCESS:
		if (c->refreshing)
			return creds_proc_run(c, d);
		break;
	case CREDS_SRC_ENV:
		return creds_try_env(c, nc, d);
	case CREDS_SRC_PROFILE:
		return creds_try_profile(c, nc, d);
	case CREDS_SRC_WEB_IDENTITY:
		/* A refresh reuses what the profile or environment said. */
		if (c->refreshing)
			return creds_wi_start(c, d);
		return creds_try_wi_env(c, d);
	case CREDS_SRC_CONTAINER:
		return creds_try_container(c, d);
	case CREDS_SRC_IMDS:
		return creds_try_imds(c, d);
	case CREDS_SRC_COUNT:
		break;
	}
	return -EINVAL;
}

/*
 * HTTP answers.
 */

static int
creds_done_sts(struct creds *c, const struct http_response *resp,
    struct aws_creds *nc, struct diag *d)
{
	const char *p = resp->body.data != NULL ? resp->body.data : "";
	const char *code;
	size_t len;
	char clean[64];

	UNUSED(c);
	if (resp->error != 0)
		return diag_set(d, resp->error, NULL, 0, 0,
		    "web identity: STS: %s", creds_errtext(resp->error));
	if (resp->status != 200) {
		if (creds_xml_find(p, p + resp->body.len, "Code", &code, &len) <
		    0) {
			code = "";
			len = 0;
		}
		(void)creds_clean(code, len, clean, sizeof(clean));
		return diag_set(d,
		    strcmp(clean, "Throttling") == 0
			? -EAGAIN
			: creds_status_error(resp->status),
		    NULL, 0, 0,
		    "web identity: STS AssumeRoleWithWebIdentity failed: HTTP "
		    "%ld%s%s",
		    resp->status, clean[0] != '\0' ? " " : "", clean);
	}
	return creds_parse_sts("web identity: STS", &resp->body, nc, d);
}

static int
creds_done_container(const struct http_response *resp, struct aws_creds *nc,
    struct diag *d)
{
	if (resp->error != 0)
		return diag_set(d, resp->error, NULL, 0, 0,
		    "container: credentials endpoint: %s",
		    creds_errtext(resp->error));
	if (resp->status != 200)
		return diag_set(d, creds_status_error(resp->status), NULL, 0, 0,
		    "container: credentials endpoint answered HTTP %ld",
		    resp->status);
	return creds_parse_json("container", &resp->body, false, nc, d);
}

static int
creds_done_imds(struct creds *c, const struct http_response *resp,
    struct aws_creds *nc, struct diag *d)
{
	const char *body = resp->body.data != NULL ? resp->body.data : "";
	char why[64];
	size_t n;

	if (resp->error != 0)
		return creds_skip(c, resp->error, d, "imds",
		    creds_errtext(resp->error));
	switch (c->step) {
	case CREDS_STEP_IMDS_TOKEN:
		if (resp->status != 200) {
			(void)snprintf(why, sizeof(why), "token: HTTP %ld",
			    resp->status);
			return creds_skip(c, creds_status_error(resp->status),
			    d, "imds", why);
		}
		n = strcspn(body, "\r\n");
		if (!creds_valid(body, n, CREDS_MAX_IMDS_TOKEN))
			return diag_set(d, -EBADMSG, NULL, 0, 0,
			    "imds: malformed session token");
		creds_wipe_str(&c->imds_token);
		c->imds_token = strndup(body, n);
		if (c->imds_token == NULL)
			return -ENOMEM;
		return creds_imds_get(c, CREDS_STEP_IMDS_ROLE, NULL);
	case CREDS_STEP_IMDS_ROLE:
		if (resp->status == 404)
			return creds_skip(c, -ENOKEY, d, "imds",
			    "no instance role");
		if (resp->status != 200) {
			(void)snprintf(why, sizeof(why), "role: HTTP %ld",
			    resp->status);
			return creds_skip(c, creds_status_error(resp->status),
			    d, "imds", why);
		}
		n = strcspn(body, "\r\n");
		if (n == 0)
			return creds_skip(c, -ENOKEY, d, "imds",
			    "no instance role");
		if (n > CREDS_MAX_ROLE ||
		    strspn(body,
			"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRS"
			"TUVWXYZ0123456789+=,.@_-") < n)
			return diag_set(d, -EBADMSG, NULL, 0, 0,
			    "imds: malformed role name");
		free(c->imds_role);
		c->imds_role = strndup(body, n);
		if (c->imds_role == NULL)
			return -ENOMEM;
		return creds_imds_get(c, CREDS_STEP_IMDS_CREDS, c->imds_role);
	case CREDS_STEP_IMDS_CREDS:
		/* IMDS is there and has a role: failing now is an error. */
		if (resp->status != 200)
			return diag_set(d, creds_status_error(resp->status),
			    NULL, 0, 0, "imds: role '%s' credentials: HTTP %ld",
			    c->imds_role, resp->status);
		return creds_parse_json("imds", &resp->body, true, nc, d);
	default:
		break;
	}
	return -EINVAL;
}

/*
 * The machinery: start, install or fail, deliver.
 */

static void
creds_schedule(struct creds *c, int64_t delay_ms)
{
	struct timeval tv;

	if (delay_ms < 0)
		delay_ms = 0;
	tv = clock_tv_ms((uint64_t)delay_ms);
	c->refresh_at_ms = creds_wall_ms() + delay_ms;
	(void)evtimer_add(c->refresh_ev, &tv);
}

static void
creds_flow_done(struct creds *c)
{
	c->busy = false;
	c->refreshing = false;
	c->step = CREDS_STEP_IDLE;
	creds_wipe_str(&c->imds_token);
	free(c->imds_role);
	c->imds_role = NULL;
}

/* Marks every waiting callback ready with this outcome. */
static void
creds_ready(struct creds *c, int r, const struct diag *d)
{
	struct creds_waiter *w;
	bool any = false;

	for (w = c->waiters; w != NULL; w = w->next) {
		if (w->ready)
			continue;
		w->ready = true;
		w->r = r;
		if (d != NULL)
			w->d = *d;
		any = true;
	}
	if (any)
		event_active(c->deliver_ev, EV_TIMEOUT, 0);
}

static void
creds_fail(struct creds *c, int r, const struct diag *d)
{
	bool was_refresh = c->refreshing;
	int64_t delay;
	int64_t left;

	creds_flow_done(c);
	if (was_refresh) {
		/* Retry; sooner if what we hold is about to expire. */
		delay = (int64_t)backoff_next_ms(c->fails, CREDS_RETRY_BASE_MS,
		    CREDS_RETRY_CAP_MS);
		left = (int64_t)c->cur.expiration * 1000 - c->skew_ms -
		    creds_wall_ms();
		if (left > 0 && delay > left / 2)
			delay = left / 2;
		if (delay < CREDS_RETRY_MIN_MS)
			delay = CREDS_RETRY_MIN_MS;
		c->fails++;
		creds_schedule(c, delay);
	}
	creds_ready(c, r, d);
}

static void
creds_install(struct creds *c, struct aws_creds *nc)
{
	int64_t now = creds_wall_ms();
	int64_t life;
	int64_t delay;
	struct diag d;

	if (nc->expiration != 0 && (int64_t)nc->expiration * 1000 <= now) {
		creds_wipe(nc);
		creds_fail(c,
		    diag_set(&d, -EBADMSG, NULL, 0, 0,
			"%s: the credentials have expired already (clock "
			"skew?)",
			creds_src_str(c->src)),
		    &d);
		return;
	}
	nc->provider = creds_src_str(c->src);
	creds_wipe(&c->cur);
	c->cur = *nc;
	memset(nc, 0, sizeof(*nc));
	c->have = true;
	c->cur_src = c->src;
	c->fails = 0;
	creds_flow_done(c);
	(void)evtimer_del(c->refresh_ev);
	if (c->cur.expiration != 0) {
		life = (int64_t)c->cur.expiration * 1000 - now;
		delay = life - c->margin_ms;
		if (delay < life * 2 / 3)
			delay = life * 2 / 3;
		creds_schedule(c, delay);
	}
	creds_ready(c, 0, NULL);
}

/* The first provider in the walk from s on, or CREDS_SRC_COUNT. */
static enum creds_src
creds_next_src(const struct creds *c, unsigned s)
{
	while (s < CREDS_SRC_COUNT && (c->srcs & CREDS_BIT(s)) == 0)
		s++;
	return (enum creds_src)s;
}

/* After a provider's attempt: done, next provider, or wait. */
static void
creds_after(struct creds *c, int r, struct aws_creds *nc, struct diag *d)
{
	if (r == CREDS_GOT) {
		creds_install(c, nc);
	} else if (r == CREDS_SKIP) {
		c->src = creds_next_src(c, c->src + 1);
		creds_run(c);
	} else if (r < 0) {
		creds_wipe(nc);
		if (d->msg[0] == '\0')
			(void)diag_set(d, r, NULL, 0, 0, "%s: %s",
			    creds_src_str(c->src), strerror(-r));
		creds_fail(c, r, d);
	}
}

static void
creds_run(struct creds *c)
{
	struct aws_creds nc;
	struct diag d;
	int r;

	memset(&nc, 0, sizeof(nc));
	memset(&d, 0, sizeof(d));
	if (c->src == CREDS_SRC_COUNT) {
		r = diag_set(&d, -ENOKEY, NULL, 0, 0, "no credentials: %s",
		    c->notes);
		creds_fail(c, r, &d);
		return;
	}
	r = creds_try(c, &nc, &d);
	creds_after(c, r, &nc, &d);
}

static void
creds_http_done(struct http_response *resp, void *arg)
{
	struct creds *c = arg;
	struct aws_creds nc;
	struct diag d;
	int r;

	c->req = NULL;
	memset(&nc, 0, sizeof(nc));
	memset(&d, 0, sizeof(d));
	switch (c->step) {
	case CREDS_STEP_STS:
		r = creds_done_sts(c, resp, &nc, &d);
		break;
	case CREDS_STEP_ASSUME:
		r = creds_done_assume(c, resp, &nc, &d);
		break;
	case CREDS_STEP_CONTAINER:
		r = creds_done_container(resp, &nc, &d);
		break;
	case CREDS_STEP_IMDS_TOKEN:
	case CREDS_STEP_IMDS_ROLE:
	case CREDS_STEP_IMDS_CREDS:
		r = creds_done_imds(c, resp, &nc, &d);
		break;
	default:
		r = -EINVAL;
		break;
	}
	if (r != CREDS_ASYNC)
		creds_set_step(c, CREDS_STEP_IDLE);
	/* The answer may hold secrets: wipe it before http frees it. */
	if (resp->body.data != NULL)
		explicit_bzero(resp->body.data, resp->body.cap);
	creds_after(c, r, &nc, &d);
}

static void
creds_start(struct creds *c, bool refresh)
{
	assert(!c->busy);
	(void)evtimer_del(c->refresh_ev);
	c->busy = true;
	c->refreshing = refresh;
	c->notes[0] = '\0';
	c->src = refresh ? c->cur_src : creds_next_src(c, 0);
	creds_run(c);
}

static void
creds_refresh_cb(evutil_socket_t fd, short what, void *arg)
{
	struct creds *c = arg;

	UNUSED(fd);
	UNUSED(what);
	if (!c->busy)
		creds_start(c, true);
}

static void
creds_destroy(struct creds *c)
{
	struct creds_waiter *w;
	size_t i;

	while ((w = c->waiters) != NULL) {
		c->waiters = w->next;
		free(w);
	}
	if (c->deliver_ev != NULL)
		event_free(c->deliver_ev);
	if (c->refresh_ev != NULL)
		event_free(c->refresh_ev);
	creds_wipe(&c->cur);
	creds_proc_cancel(c->proc);
	creds_free(c->ar_src);
	creds_wipe_str(&c->proc_cmd);
	free(c->proc_file);
	free(c->ar_role);
	free(c->ar_external_id);
	free(c->ar_session);
	free(c->ar_url);
	free(c->ar_region);
	for (i = 0; i < c->n_visited; i++)
		free(c->visited[i]);
	free(c->visited);
	free(c->endpoint_url);
	free(c->role_arn);
	free(c->external_id);
	free(c->session_name);
	creds_wipe_str(&c->imds_token);
	free(c->imds_role);
	free(c->imds_base);
	free(c->wi_role);
	free(c->wi_token_file);
	free(c->wi_session);
	free(c->wi_url);
	free(c->profile_region);
	free(c->profile);
	free(c->sts_endpoint);
	free(c->region);
	free(c->ecs_endpoint);
	free(c);
}

static void
creds_deliver_cb(evutil_socket_t fd, short what, void *arg)
{
	struct creds *c = arg;
	struct creds_waiter *ready = NULL;
	struct creds_waiter **tail = &ready;
	struct creds_waiter **pp;
	struct creds_waiter *w;

	UNUSED(fd);
	UNUSED(what);
	/* Take the ready ones out first: callbacks may add more. */
	for (pp = &c->waiters; (w = *pp) != NULL;) {
		if (!w->ready) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		w->next = NULL;
		*tail = w;
		tail = &w->next;
	}
	c->delivering = true;
	while ((w = ready) != NULL) {
		ready = w->next;
		if (!c->dead)
			w->cb(w->r == 0 ? &c->cur : NULL, w->r,
			    w->r == 0 ? NULL : &w->d, w->arg);
		free(w);
	}
	c->delivering = false;
	if (c->dead)
		creds_destroy(c);
}

static int
creds_strdup_opt(char **dst, const char *s)
{
	*dst = NULL;
	if (s == NULL)
		return 0;
	*dst = strdup(s);
	return *dst != NULL ? 0 : -ENOMEM;
}

int
creds_new(struct event_base *base, struct http *http,
    const struct creds_opts *o, struct creds **ret)
{
	struct creds_opts none;
	struct creds *c;
	int r;

	if (base == NULL || http == NULL || ret == NULL)
		return -EINVAL;
	if (o == NULL) {
		memset(&none, 0, sizeof(none));
		o = &none;
	}
	if (o->refresh_margin_s < 0 || o->process_timeout_ms < 0 ||
	    (o->role_arn == NULL &&
		(o->external_id != NULL || o->role_session_name != NULL)) ||
	    (o->role_arn != NULL && creds_role_arn_why(o->role_arn) != NULL) ||
	    (o->external_id != NULL &&
		creds_external_id_why(o->external_id) != NULL) ||
	    (o->role_session_name != NULL &&
		creds_session_name_why(o->role_session_name) != NULL))
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->base = base;
	c->http = http;
	c->margin_ms = (o->refresh_margin_s != 0 ? o->refresh_margin_s
						 : CREDS_REFRESH_MARGIN_S) *
	    1000;
	c->skew_ms = c->margin_ms / 4;
	if (c->skew_ms > CREDS_EXPIRY_SKEW_S * 1000)
		c->skew_ms = CREDS_EXPIRY_SKEW_S * 1000;
	c->srcs = o->role_arn != NULL ? CREDS_BIT(CREDS_SRC_ASSUME_ROLE)
				      : CREDS_SRCS_DEFAULT;
	c->proc_timeout_ms = o->process_timeout_ms != 0 ? o->process_timeout_ms
							: CREDS_PROC_TIMEOUT_MS;
	r = creds_strdup_opt(&c->profile, o->profile);
	if (r == 0)
		r = creds_strdup_opt(&c->sts_endpoint, o->sts_endpoint);
	if (r == 0)
		r = creds_strdup_opt(&c->endpoint_url, o->endpoint_url);
	if (r == 0)
		r = creds_strdup_opt(&c->role_arn, o->role_arn);
	if (r == 0)
		r = creds_strdup_opt(&c->external_id, o->external_id);
	if (r == 0)
		r = creds_strdup_opt(&c->session_name, o->role_session_name);
	if (r == 0)
		r = creds_strdup_opt(&c->region, o->region);
	if (r == 0 && o->ecs_endpoint != NULL) {
		c->ecs_endpoint = creds_strip_slash(o->ecs_endpoint);
		if (c->ecs_endpoint == NULL)
			r = -ENOMEM;
	}
	if (r < 0)
		goto fail;
	c->deliver_ev = event_new(base, -1, 0, creds_deliver_cb, c);
	c->refresh_ev = evtimer_new(base, creds_refresh_cb, c);
	if (c->deliver_ev == NULL || c->refresh_ev == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	*ret = c;
	return 0;
fail:
	creds_destroy(c);
	return r;
}

/* A source for c: its options (region: c's, else its profile's), srcs,
 * and a profile to read (NULL: $AWS_PROFILE, else "default"). */
static int
creds_child_new(struct creds *c, unsigned srcs, const char *profile,
    bool source_mode, struct creds **ret)
{
	struct creds_opts o;
	struct creds *ch = NULL;
	int r;

	memset(&o, 0, sizeof(o));
	o.profile = profile;
	o.sts_endpoint = c->sts_endpoint;
	o.endpoint_url = c->endpoint_url;
	o.region = c->region != NULL ? c->region : c->profile_region;
	o.refresh_margin_s = c->margin_ms / 1000;
	o.ecs_endpoint = c->ecs_endpoint;
	o.process_timeout_ms = c->proc_timeout_ms;
	r = creds_new(c->base, c->http, &o, &ch);
	if (r < 0)
		return r;
	ch->srcs = srcs;
	ch->source_mode = source_mode;
	*ret = ch;
	return 0;
}

void
creds_free(struct creds *c)
{
	if (c == NULL)
		return;
	if (c->req != NULL) {
		http_cancel(c->req);
		c->req = NULL;
	}
	(void)evtimer_del(c->refresh_ev);
	/* Now, not at destruction: they would call back into c. */
	creds_proc_cancel(c->proc);
	c->proc = NULL;
	creds_free(c->ar_src);
	c->ar_src = NULL;
	if (c->delivering) {
		c->dead = true;
		return;
	}
	creds_destroy(c);
}

const struct aws_creds *
creds_current(const struct creds *c)
{
	if (c == NULL || !c->have)
		return NULL;
	if (c->cur.expiration != 0 &&
	    creds_wall_ms() >= (int64_t)c->cur.expiration * 1000 - c->skew_ms)
		return NULL;
	return &c->cur;
}

int
creds_get(struct creds *c, creds_cb *cb, void *arg)
{
	struct creds_waiter *w;
	struct creds_waiter **pp;

	if (c == NULL || cb == NULL || c->dead)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	w->cb = cb;
	w->arg = arg;
	for (pp = &c->waiters; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = w;
	if (creds_current(c) != NULL) {
		w->ready = true;
		event_active(c->deliver_ev, EV_TIMEOUT, 0);
		/* A refresh timer is late after a suspend (monotonic time
		 * stood still): catch up. */
		if (!c->busy && c->cur.expiration != 0 &&
		    creds_wall_ms() >= c->refresh_at_ms)
			creds_start(c, true);
		return 0;
	}
	if (!c->busy)
		creds_start(c, c->have && c->cur.expiration != 0);
	return 0;
}
