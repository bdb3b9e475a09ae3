/*
 * creds.c: see creds.h.
 *
 * One resolution at a time: creds_start() walks the providers of c->srcs
 * (creds_run), each a struct creds_provider in creds_providers[] (the STS
 * ones live in creds_sts.c); the environment and static keys answer at
 * once, the others start an HTTP request and continue in
 * creds_http_done(), which may start the next request (IMDS takes three),
 * or run a credential_process (creds_proc_cb_done), or wait for a source:
 * an assumed role's source is a child creds object, made by
 * creds_child_new() with the providers it may use, whose callback
 * continues with STS. Children refresh themselves. Either way the result is
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
#include "creds_int.h"
#include "creds_proc.h"
#include "diag.h"
#include "http.h"
#include "profile.h"

static void creds_run(struct creds *c);
static void creds_http_done(struct http_response *resp, void *arg);
void
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
const char *
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
void
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
bool
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
const char *
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
int
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
const char *
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
const char *
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
int
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
int
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
int
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
int
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
int
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
 * Answers: JSON (container, IMDS).
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
/* A profile key's file:line for a diag. */
int
creds_profile_err(struct diag *d, int r, const struct profile *p,
    const char *key, const char *msg)
{
	unsigned line = 0;
	const char *file = profile_where(p, key, &line);

	return diag_set(d, r, file, line, 0, "profile '%.64s': %s",
	    profile_name(p), msg);
}

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
	const char *id, *secret, *token, *role, *region, *wi_file;
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
	wi_file = profile_get(p, "web_identity_token_file");
	id = profile_get(p, names[0]);
	secret = profile_get(p, names[1]);
	token = profile_get(p, names[2]);
	if (role != NULL && wi_file != NULL) {
		r = creds_wi_setup(c, what, role, wi_file,
		    profile_get(p, "role_session_name"), d);
		if (r == 0)
			r = creds_wi_start(c, d);
		goto out;
	}
	if (role != NULL &&
	    !(c->source_mode && (id != NULL || secret != NULL))) {
		r = creds_profile_role(c, p, what, role, d);
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
 * A profile's credential_process (its role_arn: creds_sts.c).
 */
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
creds_try_container(struct creds *c, struct aws_creds *nc, struct diag *d)
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

	UNUSED(nc);
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
creds_try_imds(struct creds *c, struct aws_creds *nc, struct diag *d)
{
	const char *dis = creds_env("AWS_EC2_METADATA_DISABLED");
	const char *ep = creds_env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	const char *mode = creds_env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
	const char *hdrs[1];
	char hdr[64];
	char url[512];

	UNUSED(nc);
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
/*
 * HTTP answers.
 */
static int
creds_done_container(struct creds *c, const struct http_response *resp,
    struct aws_creds *nc, struct diag *d)
{
	UNUSED(c);
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

static int
creds_proc_refresh(struct creds *c, struct aws_creds *nc, struct diag *d)
{
	UNUSED(nc);
	return creds_proc_run(c, d);
}

/* The environment and a profile's static keys do not expire: no refresh.
 * Container and IMDS refresh the way they first answered. */
static const struct creds_provider creds_environment = {"environment",
    creds_try_env, NULL, NULL};
static const struct creds_provider creds_profile = {"profile",
    creds_try_profile, NULL, NULL};
static const struct creds_provider creds_process = {"process", NULL,
    creds_proc_refresh, NULL};
static const struct creds_provider creds_container = {"container",
    creds_try_container, NULL, creds_done_container};
static const struct creds_provider creds_imds = {"imds", creds_try_imds, NULL,
    creds_done_imds};

static const struct creds_provider *const creds_providers[CREDS_SRC_COUNT] = {
    [CREDS_SRC_ASSUME_ROLE] = &creds_assume_role,
    [CREDS_SRC_ENV] = &creds_environment,
    [CREDS_SRC_PROFILE] = &creds_profile,
    [CREDS_SRC_WEB_IDENTITY] = &creds_web_identity,
    [CREDS_SRC_PROCESS] = &creds_process,
    [CREDS_SRC_CONTAINER] = &creds_container,
    [CREDS_SRC_IMDS] = &creds_imds,
};

static const char *
creds_src_str(enum creds_src s)
{
	return s < CREDS_SRC_COUNT ? creds_providers[s]->name : "?";
}

static int
creds_try(struct creds *c, struct aws_creds *nc, struct diag *d)
{
	const struct creds_provider *p = creds_providers[c->src];

	if (c->refreshing && p->refresh != NULL)
		return p->refresh(c, nc, d);
	if (p->try == NULL)
		return -EINVAL;
	return p->try(c, nc, d);
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
void
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
	/* The request is the current provider's. */
	if (c->src < CREDS_SRC_COUNT && creds_providers[c->src]->done != NULL)
		r = creds_providers[c->src]->done(c, resp, &nc, &d);
	else
		r = -EINVAL;
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
int
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
