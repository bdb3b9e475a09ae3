/*
 * creds_sts.c: the providers that ask STS (see creds.h): web identity
 * (AssumeRoleWithWebIdentity, unsigned: the token is the proof) and assume
 * role (AssumeRole, SigV4-signed with the credentials of a source, itself a
 * creds object: the default chain for aws.role_arn, a profile's
 * source_profile or credential_source). The answers are XML; we find the
 * few elements we need rather than parse it whole.
 */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "creds.h"
#include "creds_int.h"
#include "diag.h"
#include "http.h"
#include "profile.h"
#include "sigv4.h"

/*
 * STS: its XML answers, its endpoint.
 */

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
/*
 * Web identity.
 */

/* Web identity parameters, from the environment or a profile; origin
 * names them in diags. */
int
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
int
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
creds_try_wi_env(struct creds *c, struct aws_creds *nc, struct diag *d)
{
	const char *file = creds_env("AWS_WEB_IDENTITY_TOKEN_FILE");
	const char *role = creds_env("AWS_ROLE_ARN");
	int r;

	UNUSED(nc);
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
creds_try_role_opt(struct creds *c, struct aws_creds *nc, struct diag *d)
{
	struct creds *src = NULL;
	char what[200];
	char src_what[220];
	int r;

	UNUSED(nc);
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
/* STS's answer to action: the credentials, or what failed (who: the
 * provider, and the profile or role). Throttling is transient. */
static int
creds_sts_answer(const char *who, const char *action,
    const struct http_response *resp, struct aws_creds *nc, struct diag *d)
{
	const char *p = resp->body.data != NULL ? resp->body.data : "";
	const char *code;
	size_t len;
	char clean[64];

	if (resp->error != 0)
		return diag_set(d, resp->error, NULL, 0, 0, "%s: STS: %s", who,
		    creds_errtext(resp->error));
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
		    NULL, 0, 0, "%s: STS %s failed: HTTP %ld%s%s", who, action,
		    resp->status, clean[0] != '\0' ? " " : "", clean);
	}
	return creds_parse_sts(who, &resp->body, nc, d);
}

static int
creds_done_assume(struct creds *c, const struct http_response *resp,
    struct aws_creds *nc, struct diag *d)
{
	return creds_sts_answer(c->ar_what, "AssumeRole", resp, nc, d);
}

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
int
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
creds_done_sts(struct creds *c, const struct http_response *resp,
    struct aws_creds *nc, struct diag *d)
{
	UNUSED(c);
	return creds_sts_answer("web identity", "AssumeRoleWithWebIdentity",
	    resp, nc, d);
}

/* A refresh reuses what the profile or environment said. */
static int
creds_wi_refresh(struct creds *c, struct aws_creds *nc, struct diag *d)
{
	UNUSED(nc);
	return creds_wi_start(c, d);
}

/* A refresh asks the same source again, then STS. */
static int
creds_ar_refresh(struct creds *c, struct aws_creds *nc, struct diag *d)
{
	UNUSED(nc);
	UNUSED(d);
	return creds_ar_start(c);
}

const struct creds_provider creds_web_identity = {"web-identity",
    creds_try_wi_env, creds_wi_refresh, creds_done_sts};
/* In the walk only for aws.role_arn; otherwise entered from a profile. */
const struct creds_provider creds_assume_role = {"assume-role",
    creds_try_role_opt, creds_ar_refresh, creds_done_assume};
