/*
 * test_creds.c: the shared files (profile.c) and the credential chain
 * (creds.c) against an evhttp server in the same loop that plays IMDSv2,
 * an ECS/EKS container endpoint and STS. Every secret below contains
 * "SeCrEt" and every diag is checked for it. HOME is a temporary directory
 * and all AWS_* variables are unset first, so the machine's own
 * configuration never leaks in; IMDS points at a closed port unless a test
 * points it at the server.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "clock.h"
#include "creds.h"
#include "creds_proc.h"
#include "diag.h"
#include "http.h"
#include "profile.h"
#include "tap.h"
#include "testlib.h"

extern char **environ;

#define IMDS_TOKEN "SeCrEtImdsSessionToken"
#define WI_TOKEN "SeCrEtJwt.abc+def/ghi="
#define ECS_TOKEN "Bearer SeCrEtEcsAuth"

struct srv {
	struct tl_srv srv;
	/* IMDS */
	int imds_puts;
	int imds_unauth;
	int imds_hits;   /* credential answers served */
	int imds_short;  /* this many answers expire in short_s */
	long short_s;    /* ... seconds; the others in an hour */
	int imds_fail;   /* fail this many credential requests with 500 */
	int imds_failed; /* ... counted */
	bool imds_no_role;
	const char *imds_code; /* "Code" member; NULL: "Success" */
	/* container */
	int ecs_hits;
	char ecs_path[256];
	char ecs_auth[256];
	const char *ecs_want_auth;
	/* STS */
	int sts_hits;
	char sts_body[2048];
	char sts_ctype[128];
	int sts_status;
	bool sts_garbage;
	/* STS AssumeRole */
	int ar_hits;
	int ar_short;    /* this many answers expire in ar_short_s */
	long ar_short_s; /* ... seconds; the others in an hour */
	int ar_status;   /* != 0, 200: fail with ar_code */
	const char *ar_code;
	char ar_body[2048]; /* the last request's */
	char ar_auth[512];
	char ar_token[256];
	char ar_ctype[128];
	char ar_creds[16][64]; /* Credential=... of each request, in order */
};

static int leaks; /* diags that quoted a secret */

static void
fmt_time(time_t t, char *buf, size_t size)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
copy_header(struct evhttp_request *req, const char *name, char *buf,
    size_t size)
{
	const char *h =
	    evhttp_find_header(evhttp_request_get_input_headers(req), name);

	snprintf(buf, size, "%s", h != NULL ? h : "");
}

static void
reply(struct evhttp_request *req, int code, const char *body)
{
	struct evbuffer *b = evbuffer_new();

	evbuffer_add(b, body, strlen(body));
	evhttp_send_reply(req, code, code == 200 ? "OK" : "Error", b);
	evbuffer_free(b);
}

static void
srv_imds(struct srv *s, struct evhttp_request *req, const char *uri)
{
	const char *role_path = "/latest/meta-data/iam/security-credentials/";
	char tok[128];
	char exp[64];
	char body[1024];
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

	if (strcmp(uri, "/latest/api/token") == 0) {
		copy_header(req, "X-aws-ec2-metadata-token-ttl-seconds", tok,
		    sizeof(tok));
		if (cmd != EVHTTP_REQ_PUT || strcmp(tok, "21600") != 0) {
			reply(req, 400, "");
			return;
		}
		s->imds_puts++;
		reply(req, 200, IMDS_TOKEN);
		return;
	}
	copy_header(req, "X-aws-ec2-metadata-token", tok, sizeof(tok));
	if (strcmp(tok, IMDS_TOKEN) != 0) {
		s->imds_unauth++;
		reply(req, 401, "");
		return;
	}
	if (strcmp(uri, role_path) == 0) {
		if (s->imds_no_role)
			reply(req, 404, "");
		else
			reply(req, 200, "test-role\nother-role\n");
		return;
	}
	if (strncmp(uri, role_path, strlen(role_path)) != 0 ||
	    strcmp(uri + strlen(role_path), "test-role") != 0) {
		reply(req, 404, "");
		return;
	}
	if (s->imds_fail > 0) {
		s->imds_fail--;
		s->imds_failed++;
		reply(req, 500, "");
		return;
	}
	s->imds_hits++;
	fmt_time(time(NULL) + (s->imds_short-- > 0 ? s->short_s : 3600), exp,
	    sizeof(exp));
	snprintf(body, sizeof(body),
	    "{\n  \"Code\" : \"%s\",\n  \"Type\" : \"AWS-HMAC\",\n"
	    "  \"AccessKeyId\" : \"ASIAIMDS%04d\",\n"
	    "  \"SecretAccessKey\" : \"SeCrEtImds%04d\",\n"
	    "  \"Token\" : \"SeCrEtImdsTok%04d\",\n"
	    "  \"Expiration\" : \"%s\"\n}\n",
	    s->imds_code != NULL ? s->imds_code : "Success", s->imds_hits,
	    s->imds_hits, s->imds_hits, exp);
	reply(req, 200, body);
}

static void
srv_ecs(struct srv *s, struct evhttp_request *req, const char *uri)
{
	char exp[64];
	char body[512];

	s->ecs_hits++;
	snprintf(s->ecs_path, sizeof(s->ecs_path), "%s", uri);
	copy_header(req, "Authorization", s->ecs_auth, sizeof(s->ecs_auth));
	if (s->ecs_want_auth != NULL &&
	    strcmp(s->ecs_auth, s->ecs_want_auth) != 0) {
		reply(req, 403, "{\"code\":\"AccessDenied\"}");
		return;
	}
	fmt_time(time(NULL) + 3600, exp, sizeof(exp));
	snprintf(body, sizeof(body),
	    "{\"AccessKeyId\":\"ASIAECS%d\",\"SecretAccessKey\":\"SeCrEtEcs\","
	    "\"Token\":\"SeCrEtEcsTok\",\"Expiration\":\"%s\","
	    "\"RoleArn\":\"arn:aws:iam::123456789012:role/task\"}",
	    s->ecs_hits, exp);
	reply(req, 200, body);
}

static void srv_assume(struct srv *s, struct evhttp_request *req);

static void
srv_sts(struct srv *s, struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	char body[2048];

	s->sts_hits++;
	if (n >= sizeof(s->sts_body))
		n = sizeof(s->sts_body) - 1;
	evbuffer_copyout(in, s->sts_body, n);
	s->sts_body[n] = '\0';
	copy_header(req, "Content-Type", s->sts_ctype, sizeof(s->sts_ctype));
	if (strncmp(s->sts_body, "Action=AssumeRole&", 18) == 0) {
		s->sts_hits--;
		srv_assume(s, req);
		return;
	}
	if (s->sts_status != 0 && s->sts_status != 200) {
		reply(req, s->sts_status,
		    "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/"
		    "2011-06-15/\">\n  <Error>\n    <Type>Sender</Type>\n"
		    "    <Code>InvalidIdentityToken</Code>\n"
		    "    <Message>Token " WI_TOKEN " is bad</Message>\n"
		    "  </Error>\n</ErrorResponse>\n");
		return;
	}
	if (s->sts_garbage) {
		reply(req, 200, "<AssumeRoleWithWebIdentityResponse/>");
		return;
	}
	snprintf(body, sizeof(body),
	    "<AssumeRoleWithWebIdentityResponse "
	    "xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
	    "  <AssumeRoleWithWebIdentityResult>\n"
	    "    <Audience>sts.amazonaws.com</Audience>\n"
	    "    <Credentials>\n"
	    "      <SessionToken>SeCrEtSts&amp;Tok%d</SessionToken>\n"
	    "      <SecretAccessKey>\n        SeCrEtSts%d\n"
	    "      </SecretAccessKey>\n"
	    "      <Expiration>2099-11-25T12:00:00.000Z</Expiration>\n"
	    "      <AccessKeyId>ASIASTS%d</AccessKeyId>\n"
	    "    </Credentials>\n"
	    "  </AssumeRoleWithWebIdentityResult>\n"
	    "</AssumeRoleWithWebIdentityResponse>\n",
	    s->sts_hits, s->sts_hits, s->sts_hits);
	reply(req, 200, body);
}

/* AssumeRole: keys ASIAAR<n>, secret SeCrEtAr<n>, token SeCrEtArTok<n>. */
static void
srv_assume(struct srv *s, struct evhttp_request *req)
{
	char exp[64];
	char body[2048];
	const char *cred;

	s->ar_hits++;
	snprintf(s->ar_body, sizeof(s->ar_body), "%s", s->sts_body);
	copy_header(req, "Authorization", s->ar_auth, sizeof(s->ar_auth));
	copy_header(req, "X-Amz-Security-Token", s->ar_token,
	    sizeof(s->ar_token));
	copy_header(req, "Content-Type", s->ar_ctype, sizeof(s->ar_ctype));
	cred = strstr(s->ar_auth, "Credential=");
	if (s->ar_hits <= 16)
		snprintf(s->ar_creds[s->ar_hits - 1], 64, "%.*s",
		    cred != NULL ? (int)strcspn(cred + 11, "/") : 0,
		    cred != NULL ? cred + 11 : "");
	if (s->ar_status != 0 && s->ar_status != 200) {
		snprintf(body, sizeof(body),
		    "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/"
		    "2011-06-15/\">\n  <Error>\n    <Type>Sender</Type>\n"
		    "    <Code>%s</Code>\n"
		    "    <Message>User SeCrEt is not authorized</Message>\n"
		    "  </Error>\n</ErrorResponse>\n",
		    s->ar_code);
		reply(req, s->ar_status, body);
		return;
	}
	fmt_time(time(NULL) + (s->ar_short-- > 0 ? s->ar_short_s : 3600), exp,
	    sizeof(exp));
	snprintf(body, sizeof(body),
	    "<AssumeRoleResponse "
	    "xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
	    "  <AssumeRoleResult>\n"
	    "    <AssumedRoleUser>\n"
	    "      <AssumedRoleId>AROA:x</AssumedRoleId>\n"
	    "      <Arn>arn:aws:sts::123456789012:assumed-role/r/x</Arn>\n"
	    "    </AssumedRoleUser>\n"
	    "    <Credentials>\n"
	    "      <AccessKeyId>ASIAAR%d</AccessKeyId>\n"
	    "      <SecretAccessKey>SeCrEtAr%d</SecretAccessKey>\n"
	    "      <SessionToken>SeCrEtArTok%d</SessionToken>\n"
	    "      <Expiration>%s</Expiration>\n"
	    "    </Credentials>\n"
	    "  </AssumeRoleResult>\n"
	    "</AssumeRoleResponse>\n",
	    s->ar_hits, s->ar_hits, s->ar_hits, exp);
	reply(req, 200, body);
}

static void
srv_cb(struct evhttp_request *req, void *arg)
{
	struct srv *s = arg;
	const char *uri = evhttp_request_get_uri(req);

	if (strncmp(uri, "/latest/", 8) == 0)
		srv_imds(s, req, uri);
	else if (strncmp(uri, "/ecs/", 5) == 0 || strncmp(uri, "/v2/", 4) == 0)
		srv_ecs(s, req, uri);
	else if (strcmp(uri, "/sts") == 0 || strcmp(uri, "/sts/") == 0)
		srv_sts(s, req);
	else
		reply(req, 404, "");
}

/*
 * Helpers.
 */

static char *tmp; /* HOME */
static char home_aws[128];

static void
write_file(const char *path, const char *text, size_t len)
{
	if (tl_write_file(path, text, len, false) < 0)
		ok(0, "cannot write %s", path);
}

/* Writes ~/.aws/<name> (NULL text: removes it). */
static void
aws_file(const char *name, const char *text)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", home_aws, name);
	if (text == NULL)
		(void)unlink(path);
	else
		write_file(path, text, strlen(text));
}

static void
clear_aws_env(void)
{
	char *names[256];
	size_t n = 0;
	size_t i;
	char **e;

	for (e = environ; *e != NULL && n < ARRAY_SIZE(names); e++) {
		if (strncmp(*e, "AWS_", 4) == 0)
			names[n++] = strndup(*e, strcspn(*e, "="));
	}
	for (i = 0; i < n; i++) {
		unsetenv(names[i]);
		free(names[i]);
	}
	/* Never the real IMDS: a closed port, refused at once. */
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1", 1);
}

static void
check_secret(const char *text)
{
	if (strstr(text, "SeCrEt") != NULL) {
		leaks++;
		printf("# secret in diag: %s\n", text);
	}
}

struct got {
	int n;
	int r;
	char key[64];
	char secret[64];
	char token[64];
	char provider[32];
	time_t exp;
	char msg[600];
	unsigned line;
	struct creds **free_me; /* creds_free() from the callback */
};

static void
got_cb(const struct aws_creds *c, int r, const struct diag *d, void *arg)
{
	struct got *g = arg;

	g->n++;
	g->r = r;
	if (c != NULL) {
		snprintf(g->key, sizeof(g->key), "%s", c->access_key_id);
		snprintf(g->secret, sizeof(g->secret), "%s",
		    c->secret_access_key);
		snprintf(g->token, sizeof(g->token), "%s",
		    c->session_token != NULL ? c->session_token : "(none)");
		snprintf(g->provider, sizeof(g->provider), "%s", c->provider);
		g->exp = c->expiration;
	}
	if (d != NULL) {
		diag_format(d, g->msg, sizeof(g->msg));
		g->line = d->line;
		check_secret(g->msg);
	}
	if (g->free_me != NULL) {
		creds_free(*g->free_me);
		*g->free_me = NULL;
	}
}

static struct event_base *base;
static struct http *http;
static struct srv s;

/* One resolution with fresh creds; the callback must not run inside
 * creds_get and must run once. */
static void
resolve(const struct creds_opts *o, struct got *g, const char *name)
{
	struct creds *c = NULL;

	memset(g, 0, sizeof(*g));
	if (creds_new(base, http, o, &c) < 0) {
		ok(0, "%s: creds_new", name);
		return;
	}
	if (creds_get(c, got_cb, g) < 0)
		ok(0, "%s: creds_get", name);
	if (g->n != 0)
		ok(0, "%s: callback ran inside creds_get", name);
	tl_run_until(base, &g->n, 1, 5000);
	/* Let anything extra show up. */
	event_base_loop(base, EVLOOP_NONBLOCK);
	if (g->n != 1)
		ok(0, "%s: callback ran %d times", name, g->n);
	creds_free(c);
}

static char *
path_in(const char *name)
{
	static char buf[256];

	snprintf(buf, sizeof(buf), "%s/%s", tmp, name);
	return buf;
}

/*
 * The shared files.
 */

static void
test_profile_hostile(void)
{
	struct profile *p = NULL;
	struct diag d;
	char msg[600];
	char big[4096];
	FILE *f;
	size_t i;
	static const struct {
		const char *text;
		unsigned line;
		const char *msg;
	} bad[] = {
	    {"# comment\naws_access_key_id = AKIA\n[default]\n", 2,
		"property outside a section"},
	    {"[default]\nregion = us-east-1\naws_secret_access_key "
	     "SeCrEtNoEquals\n",
		3, "expected 'key = value'"},
	    {"[default\nregion = x\n", 1, "section header without ']'"},
	    {"[default] junk\n", 1, "unexpected text after ']'"},
	    {"[   ]\n", 1, "empty section name"},
	    {"[default]\n = SeCrEtValue\n", 2, "empty key before '='"},
	    {"[other]\nregion = us-east-1\n[other2]\nfoo\n", 4,
		"expected 'key = value'"},
	};

	/* Credentials-file errors, with file:line and no value. */
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		aws_file("credentials", bad[i].text);
		memset(&d, 0, sizeof(d));
		is_int(profile_load(NULL, &p, &d), -EBADMSG,
		    "malformed credentials %zu: -EBADMSG", i);
		is_int(d.line, bad[i].line, "malformed %zu: line", i);
		ok(strstr(d.msg, bad[i].msg) != NULL &&
			strcmp(d.file, path_in(".aws/credentials")) == 0,
		    "malformed %zu: '%s' in %s", i, d.msg, d.file);
		diag_format(&d, msg, sizeof(msg));
		check_secret(msg);
	}
	aws_file("credentials", NULL);

	/* A NUL byte, in the config file. */
	{
		static const char nul[] = "[default]\nregion = a\0b\n";
		char path[256];

		snprintf(path, sizeof(path), "%s/config", home_aws);
		write_file(path, nul, sizeof(nul) - 1);
		memset(&d, 0, sizeof(d));
		is_int(profile_load(NULL, &p, &d), -EBADMSG,
		    "NUL byte: -EBADMSG");
		is_int(d.line, 2, "NUL byte: line 2");
		is_str(d.file, path, "NUL byte: the config file named");
		aws_file("config", NULL);
	}

	/* A directory, a FIFO, a huge file. */
	setenv("AWS_CONFIG_FILE", tmp, 1);
	memset(&d, 0, sizeof(d));
	is_int(profile_load(NULL, &p, &d), -EISDIR, "directory: -EISDIR");
	is_str(d.file, tmp, "directory: named");
	(void)mkfifo(path_in("fifo"), 0600);
	setenv("AWS_CONFIG_FILE", path_in("fifo"), 1);
	is_int(profile_load(NULL, &p, &d), -EINVAL, "FIFO: -EINVAL");
	ok(strstr(d.msg, "not a regular file") != NULL, "FIFO: %s", d.msg);
	(void)unlink(path_in("fifo"));
	f = fopen(path_in("big"), "w");
	memset(big, '#', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	for (i = 0; i < (PROFILE_MAX_FILE / sizeof(big)) + 2; i++)
		fwrite(big, 1, sizeof(big), f);
	fclose(f);
	setenv("AWS_CONFIG_FILE", path_in("big"), 1);
	is_int(profile_load(NULL, &p, &d), -E2BIG, "huge file: -E2BIG");
	(void)unlink(path_in("big"));
	unsetenv("AWS_CONFIG_FILE");
}

static void
test_profile(void)
{
	struct profile *p = NULL;
	struct diag d;
	unsigned line = 0;
	const char *w;

	/* Missing files: an empty profile, not an error. */
	is_int(profile_load(NULL, &p, &d), 0, "missing files: fine");
	is_str(profile_name(p), "default", "no AWS_PROFILE: default");
	ok(!profile_found(p) && !profile_explicit(p), "not found, implicit");
	ok(profile_get(p, "region") == NULL, "missing files: no region");
	is_str(profile_path(p, PROFILE_FILE_CONFIG), path_in(".aws/config"),
	    "config under $HOME");
	profile_free(p);
	setenv("AWS_CONFIG_FILE", "/dev/null", 1);
	is_int(profile_load(NULL, &p, &d), 0, "AWS_CONFIG_FILE=/dev/null");
	profile_free(p);
	unsetenv("AWS_CONFIG_FILE");

	/* Syntax: comments, spacing, case, CRLF, BOM, nesting. */
	aws_file("config",
	    "\xef\xbb\xbf# config\r\n"
	    "; another comment\r\n"
	    "[default]   # trailing comment\r\n"
	    "REGION\t=   eu-west-1   ; inline\r\n"
	    "output=json#not-a-comment\r\n"
	    "s3 =\r\n"
	    "    max_concurrent_requests = 10\r\n"
	    "    addressing_style = path\r\n"
	    "aws_access_key_id = AKIACONFIG\r\n"
	    "[sso-session corp]\r\n"
	    "region = ap-south-1\r\n"
	    "[profile   dev  ]\r\n"
	    "region = us-west-2\r\n"
	    "aws_access_key_id = AKIADEVCONFIG\r\n"
	    "aws_secret_access_key = SeCrEtDevConfig\r\n"
	    "[prod]\r\n"
	    "region = sa-east-1\r\n");
	aws_file("credentials",
	    "[default]\n"
	    "aws_access_key_id=AKIACRED\n"
	    "aws_secret_access_key = SeCrEtCred\n"
	    "\n"
	    "[dev]\n"
	    "aws_secret_access_key = SeCrEtDevCred\n"
	    "[profile prod]\n"
	    "aws_access_key_id = AKIAPROFILEPROD\n");
	is_int(profile_load(NULL, &p, &d), 0, "default: loads");
	is_str(profile_get(p, "region"), "eu-west-1",
	    "key case, tabs, spaces and inline comment");
	is_str(profile_get(p, "Region"), "eu-west-1", "lookup ignores case");
	is_str(profile_get(p, "output"), "json#not-a-comment",
	    "'#' without a space before it is data");
	is_str(profile_get(p, "s3"),
	    "\nmax_concurrent_requests = 10\naddressing_style = path",
	    "nested settings continue the value");
	is_str(profile_get(p, "aws_access_key_id"), "AKIACRED",
	    "credentials file wins over config");
	w = profile_where(p, "aws_access_key_id", &line);
	ok(w != NULL && strcmp(w, path_in(".aws/credentials")) == 0 &&
		line == 2,
	    "where: credentials:2 (%s:%u)", w ? w : "-", line);
	w = profile_where(p, "region", &line);
	ok(w != NULL && strcmp(w, path_in(".aws/config")) == 0 && line == 4,
	    "where: config:4 (%s:%u)", w ? w : "-", line);
	ok(profile_found(p), "default found");
	profile_free(p);

	is_int(profile_load("dev", &p, &d), 0, "dev: loads");
	is_str(profile_get(p, "region"), "us-west-2",
	    "[profile dev] in config (spaces in the header)");
	is_str(profile_get(p, "aws_secret_access_key"), "SeCrEtDevCred",
	    "[dev] in credentials wins");
	is_str(profile_get(p, "aws_access_key_id"), "AKIADEVCONFIG",
	    "merged key by key");
	ok(profile_explicit(p), "dev: explicit");
	profile_free(p);

	is_int(profile_load("prod", &p, &d), 0, "prod: loads");
	ok(!profile_found(p),
	    "[prod] in config and [profile prod] in "
	    "credentials are not profile prod");
	ok(profile_get(p, "region") == NULL, "prod: nothing");
	profile_free(p);
	is_int(profile_load("profile prod", &p, &d), 0, "'profile prod'");
	is_str(profile_get(p, "aws_access_key_id"), "AKIAPROFILEPROD",
	    "[profile prod] in credentials is profile 'profile prod'");
	profile_free(p);

	setenv("AWS_PROFILE", "dev", 1);
	is_int(profile_load(NULL, &p, &d), 0, "AWS_PROFILE=dev");
	is_str(profile_name(p), "dev", "AWS_PROFILE selects");
	profile_free(p);
	is_int(profile_load("default", &p, &d), 0, "explicit name");
	is_str(profile_name(p), "default",
	    "an explicit name beats AWS_PROFILE");
	profile_free(p);
	unsetenv("AWS_PROFILE");

	/* "~/" in AWS_SHARED_CREDENTIALS_FILE. */
	write_file(path_in("other-creds"), "[default]\nregion = x-1\n", 22);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "~/other-creds", 1);
	is_int(profile_load(NULL, &p, &d), 0, "~/ path");
	is_str(profile_get(p, "region"), "x-1", "~/ is $HOME");
	profile_free(p);
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	aws_file("config", NULL);
	aws_file("credentials", NULL);
}

static void
test_time(void)
{
	static const char *const bad[] = {"", "2026-11-25",
	    "2026-11-25T12:00:00", "2026-13-01T00:00:00Z",
	    "2026-02-29T00:00:00Z", "2026-11-25T24:00:00Z",
	    "2026-11-25T12:00:00.Z", "2026-11-25T12:00:00Zjunk",
	    "2026-11-25T12:00:00+5", "1795608000", "2026-1-25T12:00:00Z"};
	time_t t = 0;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++)
		is_int(clock_parse_iso8601(bad[i], &t), -EBADMSG,
		    "time '%s': bad", bad[i]);
	is_int(clock_parse_iso8601("2026-11-25T12:00:00Z", &t), 0, "time: Z");
	is_int(t, 1795608000LL, "time: value");
	is_int(clock_parse_iso8601("2026-11-25T12:00:00.123Z", &t), 0,
	    "time: fraction");
	is_int(t, 1795608000LL, "time: fraction ignored");
	is_int(clock_parse_iso8601("2026-11-25T13:30:00+01:30", &t), 0,
	    "time: offset");
	is_int(t, 1795608000LL, "time: offset applied");
	is_int(clock_parse_iso8601("2024-02-29T00:00:00Z", &t), 0,
	    "time: leap day");
}

/*
 * The chain.
 */

static void
test_env_and_profile(void)
{
	struct creds_opts o;
	struct got g;

	memset(&o, 0, sizeof(o));
	aws_file("credentials",
	    "[default]\naws_access_key_id = AKIAPROFILE\n"
	    "aws_secret_access_key = SeCrEtProfile\n"
	    "aws_session_token = SeCrEtProfileTok\n"
	    "[half]\naws_access_key_id = AKIAHALF\n"
	    "[proc]\ncredential_process = /nonexistent/helper --key SeCrEt\n"
	    "[role]\nrole_arn = arn:aws:iam::1:role/r\n"
	    "source_profile = default\n"
	    "[bad]\naws_access_key_id = AKIA BAD\n"
	    "aws_secret_access_key = SeCrEtBad\n");

	/* Hostile environment first. */
	setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
	resolve(&o, &g, "env half");
	is_int(g.r, -EINVAL, "env: key id without secret: -EINVAL");
	is_str(g.msg,
	    "environment: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY "
	    "is not",
	    "env: names the missing variable");
	setenv("AWS_SECRET_ACCESS_KEY", "SeCrEt Env", 1);
	resolve(&o, &g, "env space");
	is_int(g.r, -EINVAL, "env: a space in the secret: -EINVAL");
	ok(strstr(g.msg, "AWS_SECRET_ACCESS_KEY is malformed") != NULL,
	    "env: names the variable (%s)", g.msg);

	/* Environment wins over the profile. */
	setenv("AWS_SECRET_ACCESS_KEY", "SeCrEtEnv", 1);
	setenv("AWS_SESSION_TOKEN", "SeCrEtEnvTok", 1);
	resolve(&o, &g, "env");
	is_int(g.r, 0, "env: resolved");
	is_str(g.provider, "environment", "env wins over the profile");
	is_str(g.key, "AKIAENV", "env: key id");
	is_str(g.secret, "SeCrEtEnv", "env: secret");
	is_str(g.token, "SeCrEtEnvTok", "env: session token");
	is_int(g.exp, 0, "env: no expiration");
	o.profile = "default";
	resolve(&o, &g, "explicit profile");
	is_int(g.r, 0, "explicit profile: resolved");
	is_str(g.provider, "profile",
	    "an explicit profile (aws.profile) beats the environment");
	is_str(g.key, "AKIAPROFILE", "explicit profile: its keys");
	o.profile = NULL;
	setenv("AWS_PROFILE", "default", 1);
	resolve(&o, &g, "AWS_PROFILE");
	is_str(g.provider, "environment", "AWS_PROFILE does not");
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");

	resolve(&o, &g, "profile");
	is_int(g.r, 0, "profile: resolved");
	is_str(g.provider, "profile", "profile: provider");
	is_str(g.key, "AKIAPROFILE", "profile: key id");
	is_str(g.token, "SeCrEtProfileTok", "profile: session token");

	o.profile = "half";
	resolve(&o, &g, "half");
	is_int(g.r, -EINVAL, "profile: key id without secret: -EINVAL");
	ok(strstr(g.msg,
	       "/.aws/credentials:6: profile 'half': "
	       "aws_access_key_id without aws_secret_access_key") != NULL,
	    "half keys: file:line (%s)", g.msg);
	o.profile = "proc";
	resolve(&o, &g, "proc");
	is_int(g.r, -ENOENT, "credential_process, no such program: -ENOENT");
	ok(strstr(g.msg,
	       "profile 'proc': credential_process: cannot run "
	       "'/nonexistent/helper': No such file or directory") != NULL &&
		g.line == 8,
	    "credential_process: file:line, no argument (%s)", g.msg);
	o.profile = "role";
	resolve(&o, &g, "role");
	is_int(g.r, -EINVAL, "role_arn with a 1-digit account: -EINVAL");
	is_int(g.line, 10, "role_arn: line");
	ok(strstr(g.msg,
	       "malformed role_arn (the account must be 12 digits)") != NULL,
	    "role_arn: why (%s)", g.msg);
	o.profile = "bad";
	resolve(&o, &g, "bad");
	is_int(g.r, -EINVAL, "a space in the key id: -EINVAL");
	ok(strstr(g.msg, "aws_access_key_id") != NULL && g.line == 13,
	    "malformed key: named, with its line (%s)", g.msg);
	o.profile = "nosuch";
	resolve(&o, &g, "nosuch");
	is_int(g.r, -ENOENT, "explicit profile missing: -ENOENT");
	ok(strstr(g.msg, "profile 'nosuch' not found in") != NULL,
	    "missing profile: %s", g.msg);
	o.profile = NULL;
	setenv("AWS_PROFILE", "nosuch", 1);
	resolve(&o, &g, "AWS_PROFILE nosuch");
	is_int(g.r, -ENOENT, "AWS_PROFILE missing: -ENOENT");
	unsetenv("AWS_PROFILE");

	/* The config file, through AWS_PROFILE. */
	aws_file("config",
	    "[profile dev]\naws_access_key_id = AKIADEV\n"
	    "aws_secret_access_key = SeCrEtDev\n");
	setenv("AWS_PROFILE", "dev", 1);
	resolve(&o, &g, "config dev");
	is_int(g.r, 0, "config [profile dev]: resolved");
	is_str(g.key, "AKIADEV", "AWS_PROFILE=dev from the config file");
	is_str(g.token, "(none)", "no session token");
	unsetenv("AWS_PROFILE");

	/* A malformed file stops the chain with file:line. */
	aws_file("config", "[default]\nregion = us-east-1\nwhat is this\n");
	resolve(&o, &g, "malformed");
	is_int(g.r, -EBADMSG, "malformed config: -EBADMSG");
	ok(g.line == 3 && strstr(g.msg, "/.aws/config:3:") != NULL,
	    "malformed config: file:line (%s)", g.msg);
	aws_file("config", NULL);
	aws_file("credentials", NULL);
}

static void
test_nothing(void)
{
	struct creds_opts o;
	struct got g;

	memset(&o, 0, sizeof(o));
	resolve(&o, &g, "nothing");
	is_int(g.r, -ENOKEY, "nothing: -ENOKEY");
	is_str(g.msg,
	    "no credentials: environment (unset), profile 'default' (not "
	    "found), web identity (unset), container (unset), imds "
	    "(connection refused)",
	    "nothing: every provider listed");
	aws_file("config", "[default]\nregion = eu-west-1\n");
	setenv("AWS_EC2_METADATA_DISABLED", "TRUE", 1);
	resolve(&o, &g, "imds disabled");
	is_int(g.r, -ENOKEY, "imds disabled: -ENOKEY");
	is_str(g.msg,
	    "no credentials: environment (unset), profile 'default' (no "
	    "keys), web identity (unset), container (unset), imds (disabled)",
	    "imds disabled: listed");
	unsetenv("AWS_EC2_METADATA_DISABLED");
	aws_file("config", NULL);
}

static void
test_web_identity(void)
{
	struct creds_opts o;
	struct got g;
	char sts[128];
	char cfg[512];
	time_t want;

	snprintf(sts, sizeof(sts), "%s/sts", s.srv.url);
	write_file(path_in("jwt"), WI_TOKEN "\n", strlen(WI_TOKEN) + 1);
	memset(&o, 0, sizeof(o));
	o.sts_endpoint = sts;

	/* Hostile first. */
	setenv("AWS_WEB_IDENTITY_TOKEN_FILE", path_in("jwt"), 1);
	resolve(&o, &g, "wi no role");
	is_int(g.r, -EINVAL, "web identity without AWS_ROLE_ARN: -EINVAL");
	setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/smtrail", 1);
	setenv("AWS_WEB_IDENTITY_TOKEN_FILE", path_in("nojwt"), 1);
	resolve(&o, &g, "wi no file");
	is_int(g.r, -ENOENT, "web identity token file missing: -ENOENT");
	ok(strstr(g.msg, "nojwt") != NULL, "names the file (%s)", g.msg);
	setenv("AWS_WEB_IDENTITY_TOKEN_FILE", path_in("jwt"), 1);
	setenv("AWS_ROLE_SESSION_NAME", "bad name", 1);
	resolve(&o, &g, "wi bad session");
	is_int(g.r, -EINVAL, "bad role session name: -EINVAL");
	setenv("AWS_ROLE_SESSION_NAME", "sess-1", 1);
	s.sts_status = 400;
	resolve(&o, &g, "wi refused");
	is_int(g.r, -EACCES, "STS 400: -EACCES");
	is_str(g.msg,
	    "web identity: STS AssumeRoleWithWebIdentity failed: HTTP 400 "
	    "InvalidIdentityToken",
	    "STS error code shown, its message (with the token) not");
	s.sts_status = 503;
	resolve(&o, &g, "wi 503");
	is_int(g.r, -EAGAIN, "STS 503: -EAGAIN");
	s.sts_status = 0;
	s.sts_garbage = true;
	resolve(&o, &g, "wi garbage");
	is_int(g.r, -EBADMSG, "STS without <Credentials>: -EBADMSG");
	s.sts_garbage = false;

	/* From the environment. */
	s.sts_hits = 0;
	resolve(&o, &g, "wi env");
	is_int(g.r, 0, "web identity (env): resolved");
	is_str(g.provider, "web-identity", "web identity: provider");
	is_str(g.key, "ASIASTS1", "STS key id");
	is_str(g.secret, "SeCrEtSts1", "STS secret, trimmed");
	is_str(g.token, "SeCrEtSts&Tok1", "STS token, &amp; decoded");
	is_int(clock_parse_iso8601("2099-11-25T12:00:00Z", &want), 0, "parse");
	is_int(g.exp, want, "STS expiration");
	is_str(s.sts_body,
	    "Action=AssumeRoleWithWebIdentity&Version=2011-06-15"
	    "&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fsmtrail"
	    "&RoleSessionName=sess-1"
	    "&WebIdentityToken=SeCrEtJwt.abc%2Bdef%2Fghi%3D",
	    "STS form body");
	is_str(s.sts_ctype, "application/x-www-form-urlencoded",
	    "STS content type");
	unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
	unsetenv("AWS_ROLE_ARN");
	unsetenv("AWS_ROLE_SESSION_NAME");

	/* From a profile, the endpoint from AWS_ENDPOINT_URL_STS. */
	snprintf(cfg, sizeof(cfg),
	    "[profile wi]\nrole_arn = arn:aws:iam::123456789012:role/p\n"
	    "web_identity_token_file = %s\nrole_session_name = from-profile\n",
	    path_in("jwt"));
	aws_file("config", cfg);
	setenv("AWS_ENDPOINT_URL_STS", sts, 1);
	o.sts_endpoint = NULL;
	o.profile = "wi";
	resolve(&o, &g, "wi profile");
	is_int(g.r, 0, "web identity (profile): resolved");
	is_str(g.provider, "web-identity", "profile web identity: provider");
	is_str(g.key, "ASIASTS2", "profile web identity: key id");
	ok(strstr(s.sts_body, "&RoleSessionName=from-profile&") != NULL &&
		strstr(s.sts_body, "role%2Fp&") != NULL,
	    "role and session name from the profile");
	unsetenv("AWS_ENDPOINT_URL_STS");
	aws_file("config", NULL);
	(void)unlink(path_in("jwt"));
}

static void
test_container(void)
{
	struct creds_opts o;
	struct got g;
	char url[128];

	memset(&o, 0, sizeof(o));
	/* Hostile first. */
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://example.com/creds",
	    1);
	resolve(&o, &g, "ecs remote http");
	is_int(g.r, -EINVAL, "full URI: plain http to a remote host refused");
	setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "v2/x", 1);
	resolve(&o, &g, "ecs relative no slash");
	is_int(g.r, -EINVAL, "relative URI without '/': -EINVAL");
	unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");

	/* Full URI and a token file (trailing newline dropped). */
	snprintf(url, sizeof(url), "%s/ecs/full", s.srv.url);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
	write_file(path_in("ecs-token"), ECS_TOKEN "\n", strlen(ECS_TOKEN) + 1);
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", path_in("ecs-token"),
	    1);
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "ignored", 1);
	s.ecs_want_auth = ECS_TOKEN;
	resolve(&o, &g, "ecs full");
	is_int(g.r, 0, "container (full URI): resolved");
	is_str(g.provider, "container", "container: provider");
	is_str(g.key, "ASIAECS1", "container: key id");
	is_str(g.token, "SeCrEtEcsTok", "container: token");
	ok(g.exp > time(NULL) + 3000, "container: expiration");
	is_str(s.ecs_auth, ECS_TOKEN, "token file beats the variable");
	is_str(s.ecs_path, "/ecs/full", "full URI path");

	/* Wrong token: refused. */
	unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	resolve(&o, &g, "ecs wrong token");
	is_int(g.r, -EACCES, "container 403: -EACCES");
	is_str(g.msg, "container: credentials endpoint answered HTTP 403",
	    "container 403: diag");
	(void)unlink(path_in("ecs-token"));

	/* Relative URI (on the test server instead of 169.254.170.2). */
	setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc",
	    1);
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", ECS_TOKEN, 1);
	o.ecs_endpoint = s.srv.url;
	resolve(&o, &g, "ecs relative");
	is_int(g.r, 0, "container (relative URI): resolved");
	is_str(s.ecs_path, "/v2/credentials/abc",
	    "relative URI wins over full, appended to the base");
	is_str(s.ecs_auth, ECS_TOKEN, "Authorization from the variable");
	s.ecs_want_auth = NULL;
	unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
}

static void
http_cb(struct http_response *resp, void *arg)
{
	long *status = arg;

	*status = resp->status;
}

static void
test_imds(void)
{
	struct creds_opts o;
	struct got g;
	struct got g2;
	struct creds *c = NULL;
	long status = 0;
	struct http_request rq;
	char url[128];

	memset(&o, 0, sizeof(o));
	/* The server plays IMDSv2 strictly: no token, 401. */
	snprintf(url, sizeof(url),
	    "%s/latest/meta-data/iam/security-credentials/", s.srv.url);
	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.url = url;
	rq.on_done = http_cb;
	rq.arg = &status;
	is_int(http_start(http, &rq, NULL), 0, "plain GET to IMDS");
	while (status == 0)
		event_base_loop(base, EVLOOP_ONCE);
	is_int(status, 401, "IMDS without a token: 401");

	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", s.srv.url, 1);
	s.imds_no_role = true;
	resolve(&o, &g, "imds no role");
	is_int(g.r, -ENOKEY, "imds without a role: -ENOKEY");
	ok(strstr(g.msg, "imds (no instance role)") != NULL, "%s", g.msg);
	s.imds_no_role = false;
	s.imds_code = "AssumeRoleUnauthorizedAccess";
	resolve(&o, &g, "imds code");
	is_int(g.r, -EACCES, "imds Code not Success: -EACCES");
	s.imds_code = NULL;

	/* Two callers, one flow. */
	s.imds_puts = 0;
	s.imds_unauth = 0;
	memset(&g, 0, sizeof(g));
	memset(&g2, 0, sizeof(g2));
	is_int(creds_new(base, http, &o, &c), 0, "imds: creds_new");
	is_int(creds_get(c, got_cb, &g), 0, "imds: creds_get 1");
	is_int(creds_get(c, got_cb, &g2), 0, "imds: creds_get 2");
	ok(creds_current(c) == NULL, "nothing current yet");
	tl_run_until(base, &g2.n, 1, 5000);
	is_int(g.r, 0, "imds: resolved");
	is_int(g.n + g2.n, 2, "both callbacks, once each");
	is_str(g.provider, "imds", "imds: provider");
	is_str(g.key, g2.key, "both got the same credentials");
	ok(strncmp(g.key, "ASIAIMDS", 8) == 0, "imds: key id %s", g.key);
	ok(strncmp(g.token, "SeCrEtImdsTok", 13) == 0, "imds: token");
	ok(g.exp > time(NULL) + 3000, "imds: expiration");
	is_int(s.imds_puts, 1, "one token PUT for both");
	is_int(s.imds_unauth, 0, "every GET carried the token");
	ok(creds_current(c) != NULL &&
		strcmp(creds_current(c)->access_key_id, g.key) == 0,
	    "creds_current has them");

	/* Cached: no new request. */
	memset(&g2, 0, sizeof(g2));
	is_int(creds_get(c, got_cb, &g2), 0, "imds: cached creds_get");
	is_int(g2.n, 0, "not called inside creds_get");
	tl_run_until(base, &g2.n, 1, 1000);
	is_int(g2.n, 1, "cached: called from the loop");
	is_int(s.imds_puts, 1, "cached: no new IMDS request");

	/* A callback that frees the creds: the others are dropped. */
	memset(&g, 0, sizeof(g));
	memset(&g2, 0, sizeof(g2));
	g.free_me = &c;
	is_int(creds_get(c, got_cb, &g), 0, "get, to free in the callback");
	is_int(creds_get(c, got_cb, &g2), 0, "get, to be dropped");
	tl_run_until(base, &g.n, 1, 1000);
	event_base_loop(base, EVLOOP_NONBLOCK);
	ok(g.n == 1 && g2.n == 0 && c == NULL,
	    "freed in a callback: later callbacks dropped");

	/* Freed with a request in flight: no callback, nothing leaks. */
	memset(&g, 0, sizeof(g));
	is_int(creds_new(base, http, &o, &c), 0, "creds_new, to cancel");
	is_int(creds_get(c, got_cb, &g), 0, "creds_get, to cancel");
	is_int((long long)http_in_flight(http), 1, "the token PUT in flight");
	creds_free(c);
	is_int((long long)http_in_flight(http), 0, "cancelled by creds_free");
	event_base_loop(base, EVLOOP_NONBLOCK);
	is_int(g.n, 0, "freed in flight: no callback");
	c = NULL;
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1", 1);
}

/* Samples creds_current() every 10 ms. */
struct sampler {
	struct creds *c;
	struct event *ev;
	int samples;
	int nulls;
	int changes;
	char first[64];
	char last[64];
};

static void
sampler_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sampler *sm = arg;
	const struct aws_creds *cur = creds_current(sm->c);

	(void)fd;
	(void)what;
	sm->samples++;
	if (cur == NULL) {
		sm->nulls++;
		return;
	}
	if (sm->first[0] == '\0')
		snprintf(sm->first, sizeof(sm->first), "%s",
		    cur->access_key_id);
	if (sm->last[0] != '\0' && strcmp(sm->last, cur->access_key_id) != 0)
		sm->changes++;
	snprintf(sm->last, sizeof(sm->last), "%s", cur->access_key_id);
}

static void
sampler_start(struct sampler *sm, struct creds *c)
{
	struct timeval tv = {0, 10000};

	memset(sm, 0, sizeof(*sm));
	sm->c = c;
	sm->ev = event_new(base, -1, EV_PERSIST, sampler_cb, sm);
	event_add(sm->ev, &tv);
}

static void
test_refresh(void)
{
	struct creds_opts o;
	struct creds *c = NULL;
	struct sampler sm;
	struct got g;
	struct timespec start;

	memset(&o, 0, sizeof(o));
	o.refresh_margin_s = 2; /* and so 0.5 s of skew */
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", s.srv.url, 1);

	/* Expiring in 4 s: refreshed at ~2.7 s, never NULL meanwhile. */
	s.imds_short = 1;
	s.short_s = 4;
	s.imds_hits = 0;
	memset(&g, 0, sizeof(g));
	is_int(creds_new(base, http, &o, &c), 0, "refresh: creds_new");
	is_int(creds_get(c, got_cb, &g), 0, "refresh: creds_get");
	tl_run_until(base, &g.n, 1, 3000);
	is_str(g.key, "ASIAIMDS0001", "refresh: first credentials");
	sampler_start(&sm, c);
	clock_gettime(CLOCK_MONOTONIC, &start);
	tl_run_until(base, &sm.changes, 1, 5000);
	is_int(sm.changes, 1, "refresh: the keys changed once");
	is_str(sm.first, "ASIAIMDS0001", "refresh: old keys current first");
	is_str(sm.last, "ASIAIMDS0002", "refresh: then the new ones");
	is_int(sm.nulls, 0, "refresh: creds_current never NULL (%d samples)",
	    sm.samples);
	ok(tl_ms_since(&start) > 1500, "refresh: ahead of expiry, not at once");
	event_free(sm.ev);
	creds_free(c);

	/* The first refresh fails: retried before the old ones expire. */
	s.imds_short = 1;
	s.imds_hits = 0;
	memset(&g, 0, sizeof(g));
	is_int(creds_new(base, http, &o, &c), 0, "retry: creds_new");
	is_int(creds_get(c, got_cb, &g), 0, "retry: creds_get");
	tl_run_until(base, &g.n, 1, 3000);
	s.imds_fail = 1;
	s.imds_failed = 0;
	sampler_start(&sm, c);
	tl_run_until(base, &sm.changes, 1, 5000);
	is_int(s.imds_failed, 1, "retry: one refresh failed");
	is_int(sm.changes, 1, "retry: then the keys changed");
	is_str(sm.last, "ASIAIMDS0002", "retry: new keys");
	is_int(sm.nulls, 0, "retry: creds_current never NULL");
	event_free(sm.ev);
	creds_free(c);

	/* Every refresh fails: NULL once expired, and creds_get fails. */
	s.imds_short = 1;
	s.short_s = 2;
	s.imds_hits = 0;
	memset(&g, 0, sizeof(g));
	is_int(creds_new(base, http, &o, &c), 0, "expiry: creds_new");
	is_int(creds_get(c, got_cb, &g), 0, "expiry: creds_get");
	tl_run_until(base, &g.n, 1, 3000);
	ok(creds_current(c) != NULL, "expiry: current at first");
	s.imds_fail = 1000;
	s.imds_failed = 0;
	sampler_start(&sm, c);
	tl_run_until(base, &sm.nulls, 1, 4000);
	ok(sm.nulls > 0 && creds_current(c) == NULL,
	    "expiry: creds_current NULL once expired");
	ok(s.imds_failed >= 1, "expiry: the refresh failed (%d)",
	    s.imds_failed);
	memset(&g, 0, sizeof(g));
	is_int(creds_get(c, got_cb, &g), 0, "expiry: creds_get");
	tl_run_until(base, &g.n, 1, 3000);
	is_int(g.r, -EAGAIN, "expiry: the failure is reported");
	is_str(g.msg, "imds: role 'test-role' credentials: HTTP 500",
	    "expiry: diag");
	s.imds_fail = 0;
	memset(&g, 0, sizeof(g));
	is_int(creds_get(c, got_cb, &g), 0, "expiry: creds_get again");
	tl_run_until(base, &g.n, 1, 3000);
	is_int(g.r, 0, "expiry: recovered");
	ok(creds_current(c) != NULL, "expiry: current again");
	event_free(sm.ev);
	creds_free(c);
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1", 1);
}

/*
 * Roles and credential_process.
 */

#define ROLE_A "arn:aws:iam::123456789012:role/a"
#define ROLE_B "arn:aws:iam::123456789012:role/b"

static void
test_proc_split(void)
{
	static const struct {
		const char *cmd;
		int r;
		const char *words; /* joined with '|' */
	} cases[] = {
	    {"", -EINVAL, NULL},
	    {"   \t\n", -EINVAL, NULL},
	    {"a 'b", -EINVAL, NULL},
	    {"a \"b\\\"", -EINVAL, NULL},
	    {"a b\\", -EINVAL, NULL},
	    {"helper", 0, "helper"},
	    {"  /bin/x  --a 1\t--b\n2 ", 0, "/bin/x|--a|1|--b|2"},
	    {"x 'a b' \"c d\"", 0, "x|a b|c d"},
	    {"x a'b c'd", 0, "x|ab cd"},
	    {"x 'a\\b' \"a\\b\" \"q\\\"\\\\\"", 0, "x|a\\b|a\\b|q\"\\"},
	    {"x a\\ b \\'c", 0, "x|a b|'c"},
	    {"x '' \"\"", 0, "x||"},
	    {"x $HOME `id` ;|&", 0, "x|$HOME|`id`|;|&"},
	};
	char joined[256];
	char **argv;
	struct diag d;
	size_t i;
	size_t k;
	int r;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		argv = NULL;
		memset(&d, 0, sizeof(d));
		r = creds_proc_split(cases[i].cmd, &argv, &d);
		is_int(r, cases[i].r, "split %zu: result", i);
		if (r < 0) {
			ok(argv == NULL && d.msg[0] != '\0',
			    "split %zu: why: %s", i, d.msg);
			continue;
		}
		joined[0] = '\0';
		for (k = 0; argv[k] != NULL; k++)
			snprintf(joined + strlen(joined),
			    sizeof(joined) - strlen(joined), "%s%s",
			    k > 0 ? "|" : "", argv[k]);
		is_str(joined, cases[i].words, "split %zu: words", i);
		creds_proc_argv_free(argv);
	}
	memset(&d, 0, sizeof(d));
	is_int(creds_proc_split("a 'SeCrEt", &argv, &d), -EINVAL,
	    "split: unclosed quote");
	is_str(d.msg, "credential_process: no closing quotation (')",
	    "split: the message quotes nothing");
}

static void
test_proc_excerpt(void)
{
	char buf[64];

	is_str(creds_proc_excerpt("", buf, sizeof(buf)), "", "excerpt: empty");
	is_str(creds_proc_excerpt("\n\n  error: no such profile\nmore\n", buf,
		   sizeof(buf)),
	    "error: no such profile", "excerpt: the first line");
	is_str(creds_proc_excerpt("key AKIAIOSFODNN7EXAMPLE secret "
				  "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY!",
		   buf, sizeof(buf)),
	    "key [...] secret [...]!", "excerpt: key-like runs masked");
	is_str(creds_proc_excerpt("a\tb\x01\x7f"
				  "c",
		   buf, sizeof(buf)),
	    "a?b??c", "excerpt: control characters");
	is_str(creds_proc_excerpt("authentication_required please", buf,
		   sizeof(buf)),
	    "authentication_required please", "excerpt: long words stay");
	is_str(creds_proc_excerpt("0123456789abcdef0123456789abcdef0123456789"
				  "abcdef0123456789abcdef0123456789abcdef",
		   buf, 8),
	    "[...]", "excerpt: cut to the buffer");
}

/* A credential_process script: sh, its body, executable. */
static const char *
proc_script(const char *name, const char *body)
{
	static char path[256];
	char text[4096];

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	snprintf(text, sizeof(text), "#!/bin/sh\n%s", body);
	write_file(path, text, strlen(text));
	(void)chmod(path, 0700);
	return path;
}

static void
proc_profile(const char *cmd)
{
	char cfg[1024];

	snprintf(cfg, sizeof(cfg),
	    "[profile p]\nregion = us-east-1\n"
	    "credential_process = %s\n",
	    cmd);
	aws_file("config", cfg);
}

static void
test_process(void)
{
	struct creds_opts o;
	struct got g;
	struct timespec start;
	char cmd[512];
	char args[256];
	const char *sh;
	time_t want;

	memset(&o, 0, sizeof(o));
	o.profile = "p";

	/* Hostile first: every failure names the field, never a value. */
	static const struct {
		const char *out;
		int r;
		const char *msg;
	} bad[] = {
	    {"", -EBADMSG, "output is not a JSON object"},
	    {"SeCrEt", -EBADMSG, "output is not a JSON object"},
	    {"[1]", -EBADMSG, "output is not a JSON object"},
	    {"{\"Version\": 1} x", -EBADMSG, "output is not a JSON object"},
	    {"{\"AccessKeyId\": \"AKIA\", \"SecretAccessKey\": \"SeCrEt\"}",
		-EBADMSG, "output: Version must be 1"},
	    {"{\"Version\": 2, \"AccessKeyId\": \"AKIA\", "
	     "\"SecretAccessKey\": \"SeCrEt\"}",
		-EBADMSG, "output: Version must be 1"},
	    {"{\"Version\": \"1\", \"AccessKeyId\": \"AKIA\", "
	     "\"SecretAccessKey\": \"SeCrEt\"}",
		-EBADMSG, "output: Version must be 1"},
	    {"{\"Version\": 1, \"SecretAccessKey\": \"SeCrEt\"}", -EBADMSG,
		"output lacks AccessKeyId"},
	    {"{\"Version\": 1, \"AccessKeyId\": \"AKIA\"}", -EBADMSG,
		"output lacks SecretAccessKey"},
	    {"{\"Version\": 1, \"AccessKeyId\": 7, "
	     "\"SecretAccessKey\": \"SeCrEt\"}",
		-EBADMSG, "output: AccessKeyId is not a string"},
	    {"{\"Version\": 1, \"AccessKeyId\": \"AKIA\", "
	     "\"SecretAccessKey\": \"SeCrEt x\"}",
		-EBADMSG, "output: SecretAccessKey is malformed"},
	    {"{\"Version\": 1, \"AccessKeyId\": \"AKIA\", "
	     "\"SecretAccessKey\": \"SeCrEt\", \"SessionToken\": \"\"}",
		-EBADMSG, "output: SessionToken is malformed"},
	    {"{\"Version\": 1, \"AccessKeyId\": \"AKIA\", "
	     "\"SecretAccessKey\": \"SeCrEt\", \"Expiration\": \"SeCrEt\"}",
		-EBADMSG, "output: Expiration is not an ISO 8601 time"},
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		write_file(path_in("out.json"), bad[i].out, strlen(bad[i].out));
		sh = proc_script("proc.sh", "cat \"$1\"\n");
		snprintf(cmd, sizeof(cmd), "%s %s", sh, path_in("out.json"));
		proc_profile(cmd);
		resolve(&o, &g, "proc bad");
		is_int(g.r, bad[i].r, "process output %zu: error", i);
		ok(strstr(g.msg, bad[i].msg) != NULL &&
			strstr(g.msg, "profile 'p': credential_process") !=
			    NULL &&
			g.line == 3,
		    "process output %zu: %s", i, g.msg);
	}

	/* Exit status, and a masked stderr excerpt. */
	sh = proc_script("proc.sh",
	    "echo 'token expired; SeCrEtAbcdef0123456789xyz' >&2\n"
	    "echo '{\"Version\": 1, \"AccessKeyId\": \"AKIA\", "
	    "\"SecretAccessKey\": \"SeCrEt\"}'\n"
	    "exit 3\n");
	proc_profile(sh);
	resolve(&o, &g, "proc exit 3");
	is_int(g.r, -EIO, "process exit 3: -EIO");
	ok(strstr(g.msg,
	       "profile 'p': credential_process exited with status 3: token "
	       "expired; [...]") != NULL,
	    "process exit 3: status and masked stderr (%s)", g.msg);
	sh = proc_script("proc.sh", "kill -TERM $$\n");
	proc_profile(sh);
	resolve(&o, &g, "proc signal");
	is_int(g.r, -EIO, "process killed: -EIO");
	ok(strstr(g.msg, "credential_process was killed by signal 15") != NULL,
	    "process killed: the signal (%s)", g.msg);

	/* Timeout: killed with what it started. */
	sh = proc_script("proc.sh", "sleep 30 &\nsleep 30\n");
	proc_profile(sh);
	o.process_timeout_ms = 300;
	clock_gettime(CLOCK_MONOTONIC, &start);
	resolve(&o, &g, "proc timeout");
	is_int(g.r, -ETIMEDOUT, "process timeout: -ETIMEDOUT");
	ok(tl_ms_since(&start) < 3000, "process timeout: at the deadline");
	ok(strstr(g.msg,
	       "credential_process did not finish within 0 s and "
	       "was killed") != NULL,
	    "process timeout: %s", g.msg);
	o.process_timeout_ms = 0;

	/* Too much output. */
	sh = proc_script("proc.sh",
	    "while :; do echo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; "
	    "done\n");
	proc_profile(sh);
	resolve(&o, &g, "proc big");
	is_int(g.r, -E2BIG, "process floods stdout: -E2BIG");
	ok(strstr(g.msg,
	       "credential_process wrote more than 65536 bytes and "
	       "was killed") != NULL,
	    "process floods: %s", g.msg);

	/* A command line that does not split: file:line. */
	proc_profile("helper 'SeCrEt");
	resolve(&o, &g, "proc quote");
	is_int(g.r, -EINVAL, "process unclosed quote: -EINVAL");
	ok(strstr(g.msg,
	       "/.aws/config:3: profile 'p': credential_process: no "
	       "closing quotation (')") != NULL,
	    "process unclosed quote: %s", g.msg);

	/* The happy path: arguments split as botocore does, no shell. */
	sh = proc_script("proc.sh",
	    "printf '%s|' \"$@\" >\"$0.args\"\n"
	    "cat <<EOF\n"
	    "{\"Version\": 1, \"AccessKeyId\": \"AKIAPROC\",\n"
	    " \"SecretAccessKey\": \"SeCrEtProc\",\n"
	    " \"SessionToken\": \"SeCrEtProcTok\",\n"
	    " \"Expiration\": \"2099-11-25T12:00:00Z\"}\n"
	    "EOF\n");
	snprintf(cmd, sizeof(cmd), "%s 'a b' \"c\\\"d\" e\\ f $HOME ';'", sh);
	proc_profile(cmd);
	resolve(&o, &g, "proc ok");
	is_int(g.r, 0, "process: resolved");
	is_str(g.provider, "process", "process: provider");
	is_str(g.key, "AKIAPROC", "process: key id");
	is_str(g.secret, "SeCrEtProc", "process: secret");
	is_str(g.token, "SeCrEtProcTok", "process: token");
	is_int(clock_parse_iso8601("2099-11-25T12:00:00Z", &want), 0, "parse");
	is_int(g.exp, want, "process: expiration");
	snprintf(cmd, sizeof(cmd), "%s.args", sh);
	{
		FILE *f = fopen(cmd, "r");

		memset(args, 0, sizeof(args));
		if (f != NULL) {
			if (fgets(args, sizeof(args), f) == NULL)
				args[0] = '\0';
			fclose(f);
		}
	}
	is_str(args, "a b|c\"d|e f|$HOME|;|", "process: its arguments");

	/* Without SessionToken and Expiration: long-term. */
	write_file(path_in("out.json"),
	    "{\"Version\": 1, \"AccessKeyId\": \"AKIAPROC2\", "
	    "\"SecretAccessKey\": \"SeCrEtProc2\"}",
	    strlen("{\"Version\": 1, \"AccessKeyId\": \"AKIAPROC2\", "
		   "\"SecretAccessKey\": \"SeCrEtProc2\"}"));
	sh = proc_script("proc.sh", "cat \"$1\"\n");
	snprintf(cmd, sizeof(cmd), "%s %s", sh, path_in("out.json"));
	proc_profile(cmd);
	resolve(&o, &g, "proc long-term");
	is_int(g.r, 0, "process, long-term: resolved");
	is_str(g.token, "(none)", "process, long-term: no token");
	is_int(g.exp, 0, "process, long-term: no expiration");
	aws_file("config", NULL);
	(void)unlink(path_in("out.json"));
}

static void
test_roles_profile(void)
{
	struct creds_opts o;
	struct got g;
	char sts[128];
	char cfg[4096];

	snprintf(sts, sizeof(sts), "%s/sts", s.srv.url);
	memset(&o, 0, sizeof(o));
	o.sts_endpoint = sts;
	aws_file("credentials",
	    "[c]\naws_access_key_id = AKIASOURCE\n"
	    "aws_secret_access_key = SeCrEtSource\n");
	snprintf(cfg, sizeof(cfg),
	    "[profile mfa]\nrole_arn = " ROLE_A "\nsource_profile = c\n"
	    "mfa_serial = arn:aws:iam::123456789012:mfa/me\n"
	    "[profile dur]\nrole_arn = " ROLE_A "\nsource_profile = c\n"
	    "duration_seconds = 43200\n"
	    "[profile both]\nrole_arn = " ROLE_A "\nsource_profile = c\n"
	    "credential_source = Environment\n"
	    "[profile none]\nrole_arn = " ROLE_A "\n"
	    "[profile bogus]\nrole_arn = " ROLE_A "\n"
	    "credential_source = Ec2\n"
	    "[profile badext]\nrole_arn = " ROLE_A "\nsource_profile = c\n"
	    "external_id = SeCrEt!\n"
	    "[profile badsess]\nrole_arn = " ROLE_A "\nsource_profile = c\n"
	    "role_session_name = x\n"
	    "[profile sso]\nsso_session = corp\n"
	    "[profile loop-a]\nrole_arn = " ROLE_A "\nsource_profile = loop-b\n"
	    "[profile loop-b]\nrole_arn = " ROLE_B "\nsource_profile = loop-a\n"
	    "[profile self]\nrole_arn = " ROLE_A "\nsource_profile = self\n"
	    "[profile selfkeys]\nrole_arn = " ROLE_A "\n"
	    "source_profile = selfkeys\naws_access_key_id = AKIASELF\n"
	    "aws_secret_access_key = SeCrEtSelf\n"
	    "[profile missing]\nrole_arn = " ROLE_A "\nsource_profile = gone\n"
	    "[profile a]\nrole_arn = " ROLE_A "\nsource_profile = b\n"
	    "external_id = ext-a\nrole_session_name = sess-a\n"
	    "[profile b]\nrole_arn = " ROLE_B "\nsource_profile = c\n"
	    "[profile keys-win]\nrole_arn = " ROLE_A "\n"
	    "source_profile = keyed\n"
	    "[profile keyed]\nrole_arn = " ROLE_B "\nsource_profile = c\n"
	    "aws_access_key_id = AKIAKEYED\n"
	    "aws_secret_access_key = SeCrEtKeyed\n"
	    "[profile envsrc]\nrole_arn = " ROLE_A "\n"
	    "credential_source = Environment\n"
	    "[profile from-wi]\nrole_arn = " ROLE_A "\n"
	    "source_profile = wi-keyed\n"
	    "[profile wi-keyed]\nrole_arn = " ROLE_B "\n"
	    "web_identity_token_file = %s\n"
	    "aws_access_key_id = AKIAWIKEYED\n"
	    "aws_secret_access_key = SeCrEtWiKeyed\n",
	    path_in("jwt"));
	aws_file("config", cfg);
	write_file(path_in("jwt"), WI_TOKEN "\n", strlen(WI_TOKEN) + 1);

	/* Hostile first. */
	o.profile = "mfa";
	resolve(&o, &g, "mfa");
	is_int(g.r, -ENOTSUP, "mfa_serial: -ENOTSUP");
	ok(strstr(g.msg,
	       "/.aws/config:4: profile 'mfa': mfa_serial is not "
	       "supported: a daemon cannot ask for an MFA code") != NULL,
	    "mfa_serial: why, where (%s)", g.msg);
	o.profile = "dur";
	resolve(&o, &g, "dur");
	is_int(g.r, -ENOTSUP, "duration_seconds: -ENOTSUP");
	ok(strstr(g.msg,
	       "/.aws/config:8: profile 'dur': duration_seconds is "
	       "not supported: smtrail asks for 1 hour") != NULL,
	    "duration_seconds: why, where (%s)", g.msg);
	o.profile = "both";
	resolve(&o, &g, "both");
	is_int(g.r, -EINVAL, "source_profile and credential_source: -EINVAL");
	ok(strstr(g.msg, "both source_profile and credential_source") != NULL &&
		g.line == 12,
	    "both: %s", g.msg);
	o.profile = "none";
	resolve(&o, &g, "none");
	is_int(g.r, -EINVAL, "role_arn alone: -EINVAL");
	ok(strstr(g.msg,
	       "role_arn needs source_profile, credential_source or "
	       "web_identity_token_file") != NULL,
	    "role_arn alone: %s", g.msg);
	o.profile = "bogus";
	resolve(&o, &g, "bogus");
	is_int(g.r, -EINVAL, "credential_source Ec2: -EINVAL");
	ok(strstr(g.msg,
	       "credential_source must be Environment, "
	       "Ec2InstanceMetadata or EcsContainer") != NULL,
	    "credential_source: %s", g.msg);
	o.profile = "badext";
	resolve(&o, &g, "badext");
	is_int(g.r, -EINVAL, "bad external_id: -EINVAL");
	ok(strstr(g.msg, "malformed external_id") != NULL, "%s", g.msg);
	o.profile = "badsess";
	resolve(&o, &g, "badsess");
	is_int(g.r, -EINVAL, "bad role_session_name: -EINVAL");
	ok(strstr(g.msg, "malformed role_session_name") != NULL, "%s", g.msg);
	o.profile = "sso";
	resolve(&o, &g, "sso");
	is_int(g.r, -ENOTSUP, "SSO: -ENOTSUP");
	ok(strstr(g.msg, "profile 'sso': SSO is not supported") != NULL,
	    "SSO: %s", g.msg);
	s.ar_hits = 0;
	o.profile = "loop-a";
	resolve(&o, &g, "loop");
	is_int(g.r, -ELOOP, "source_profile loop: -ELOOP");
	ok(strstr(g.msg,
	       "profile 'loop-b': source_profile loop: profile "
	       "loop-a → loop-b → loop-a") != NULL,
	    "loop: the chain named (%s)", g.msg);
	o.profile = "self";
	resolve(&o, &g, "self");
	is_int(g.r, -ELOOP, "source_profile itself without keys: -ELOOP");
	ok(strstr(g.msg, "source_profile loop: profile self → self") != NULL,
	    "self: %s", g.msg);
	o.profile = "missing";
	resolve(&o, &g, "missing");
	is_int(g.r, -ENOENT, "source_profile missing: -ENOENT");
	ok(strstr(g.msg, "profile 'gone' not found") != NULL, "%s", g.msg);
	is_int(s.ar_hits, 0, "no STS call for any of them");

	/* STS refuses: the role and the code, not STS's message. */
	s.ar_status = 403;
	s.ar_code = "AccessDenied";
	o.profile = "b";
	resolve(&o, &g, "denied");
	is_int(g.r, -EACCES, "AssumeRole 403: -EACCES");
	is_str(g.msg,
	    "profile 'b': assume-role " ROLE_B ": STS AssumeRole failed: HTTP "
	    "403 AccessDenied",
	    "AssumeRole 403: the role and the code");
	s.ar_code = "Throttling";
	s.ar_status = 400;
	resolve(&o, &g, "throttled");
	is_int(g.r, -EAGAIN, "AssumeRole Throttling: -EAGAIN");
	s.ar_status = 0;

	/* Itself, with static keys: those are the source. */
	s.ar_hits = 0;
	o.profile = "selfkeys";
	resolve(&o, &g, "selfkeys");
	is_int(g.r, 0, "source_profile itself with keys: resolved");
	is_str(s.ar_creds[0], "AKIASELF", "its own keys signed AssumeRole");

	/* Two deep: a from b from c's static keys. */
	s.ar_hits = 0;
	o.profile = "a";
	resolve(&o, &g, "chain");
	is_int(g.r, 0, "a → b → c: resolved");
	is_str(g.provider, "assume-role", "chain: provider");
	is_int(s.ar_hits, 2, "chain: two AssumeRole calls");
	is_str(s.ar_creds[0], "AKIASOURCE", "chain: B with c's keys");
	is_str(s.ar_creds[1], "ASIAAR1", "chain: A with B's keys");
	is_str(s.ar_token, "SeCrEtArTok1", "chain: and B's session token");
	is_str(g.key, "ASIAAR2", "chain: A's keys");
	is_str(g.token, "SeCrEtArTok2", "chain: A's token");
	ok(g.exp > time(NULL) + 3000, "chain: expiration");
	is_str(s.ar_body,
	    "Action=AssumeRole&DurationSeconds=3600"
	    "&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fa"
	    "&RoleSessionName=sess-a&ExternalId=ext-a&Version=2011-06-15",
	    "chain: A's body, external_id and session name from the profile");
	is_str(s.ar_ctype, "application/x-www-form-urlencoded; charset=utf-8",
	    "AssumeRole content type");
	ok(strncmp(s.ar_auth, "AWS4-HMAC-SHA256 Credential=ASIAAR1/", 36) ==
		    0 &&
		strstr(s.ar_auth,
		    "/us-east-1/sts/aws4_request, SignedHeaders=content-type;"
		    "host;x-amz-date;x-amz-security-token, Signature=") != NULL,
	    "chain: SigV4 for sts, global region us-east-1 (%s)", s.ar_auth);

	/* A source profile's static keys win over its own role_arn. */
	s.ar_hits = 0;
	o.profile = "keys-win";
	resolve(&o, &g, "keys win");
	is_int(g.r, 0, "keys-win: resolved");
	is_int(s.ar_hits, 1, "keys-win: one AssumeRole");
	is_str(s.ar_creds[0], "AKIAKEYED", "keys-win: keyed's static keys");

	/* ... but its web_identity_token_file comes first (botocore). */
	s.ar_hits = 0;
	s.sts_hits = 0;
	o.profile = "from-wi";
	resolve(&o, &g, "from wi");
	is_int(g.r, 0, "source with web identity and keys: resolved");
	is_int(s.sts_hits, 1, "source: AssumeRoleWithWebIdentity first");
	is_str(s.ar_creds[0], "ASIASTS1", "then A with the web identity keys");
	(void)unlink(path_in("jwt"));

	/* credential_source Environment. */
	o.profile = "envsrc";
	resolve(&o, &g, "envsrc unset");
	is_int(g.r, -ENOKEY, "credential_source Environment, unset: -ENOKEY");
	is_str(g.msg,
	    "profile 'envsrc': credential_source Environment: no credentials: "
	    "environment (unset)",
	    "credential_source: its failure, prefixed");
	setenv("AWS_ACCESS_KEY_ID", "AKIAENVSRC", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SeCrEtEnvSrc", 1);
	s.ar_hits = 0;
	resolve(&o, &g, "envsrc");
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	is_int(g.r, 0, "credential_source Environment: resolved");
	is_str(s.ar_creds[0], "AKIAENVSRC", "the environment's keys signed");
	is_str(s.ar_token, "", "no session token sent for long-term keys");
	ok(strstr(s.ar_body, "&RoleSessionName=smtrail-") != NULL,
	    "default session name smtrail-<host>");
	aws_file("config", NULL);
	aws_file("credentials", NULL);
}

static void
test_role_opt(void)
{
	struct creds_opts o;
	struct creds *c = NULL;
	struct got g;
	char sts[128];

	memset(&o, 0, sizeof(o));
	/* Refused by creds_new. */
	o.external_id = "ext-1";
	is_int(creds_new(base, http, &o, &c), -EINVAL,
	    "external_id without role_arn: -EINVAL");
	o.role_arn = "arn:aws:iam::123456789012:user/u";
	is_int(creds_new(base, http, &o, &c), -EINVAL, "a user's ARN: -EINVAL");
	o.role_arn = ROLE_A;
	o.role_session_name = "x";
	is_int(creds_new(base, http, &o, &c), -EINVAL,
	    "a 1-character session name: -EINVAL");
	o.role_session_name = "smtrail-test";

	/* No source credentials: the chain's diag, under the role. */
	setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1/ignored", 1);
	resolve(&o, &g, "role opt no source");
	is_int(g.r, -ENOKEY, "aws.role_arn without source: -ENOKEY");
	ok(strncmp(g.msg,
	       "assume-role " ROLE_A ": source credentials: no credentials: "
	       "environment (unset), profile 'default' (not found)",
	       strlen("assume-role " ROLE_A ": source credentials: no "
		      "credentials: environment (unset), profile 'default' "
		      "(not found)")) == 0,
	    "names the role and every provider (%s)", g.msg);

	/* From the environment, the endpoint from aws.endpoint_url (after
	 * AWS_ENDPOINT_URL_STS, which is unset now). */
	unsetenv("AWS_ENDPOINT_URL_STS");
	setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1/not-this", 1);
	{
		snprintf(sts, sizeof(sts), "%s/sts", s.srv.url);
		o.endpoint_url = sts;
		setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
		setenv("AWS_SECRET_ACCESS_KEY", "SeCrEtEnv", 1);
		setenv("AWS_SESSION_TOKEN", "SeCrEtEnvTok", 1);
		setenv("AWS_REGION", "eu-west-1", 1);
		s.ar_hits = 0;
		resolve(&o, &g, "role opt");
		is_int(g.r, 0, "aws.role_arn: resolved");
		is_str(g.provider, "assume-role", "aws.role_arn: provider");
		is_str(g.key, "ASIAAR1", "aws.role_arn: the role's keys");
		is_str(s.ar_creds[0], "AKIAENV", "signed with the env keys");
		is_str(s.ar_token, "SeCrEtEnvTok", "and the env session token");
		ok(strstr(s.ar_auth, "/eu-west-1/sts/aws4_request") != NULL,
		    "signed for the region (%s)", s.ar_auth);
		is_str(s.ar_body,
		    "Action=AssumeRole&DurationSeconds=3600"
		    "&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fa"
		    "&RoleSessionName=smtrail-test&ExternalId=ext-1"
		    "&Version=2011-06-15",
		    "aws.role_arn: the body");

		/* Refused: names the role and STS's code. */
		s.ar_status = 403;
		s.ar_code = "AccessDenied";
		resolve(&o, &g, "role opt denied");
		is_int(g.r, -EACCES, "aws.role_arn refused: -EACCES");
		is_str(g.msg,
		    "assume-role " ROLE_A ": STS AssumeRole failed: HTTP 403 "
		    "AccessDenied",
		    "aws.role_arn refused: the diag");
		s.ar_status = 0;
		unsetenv("AWS_SESSION_TOKEN");
		unsetenv("AWS_REGION");
		unsetenv("AWS_ENDPOINT_URL");
	}

	/* The role over a credential_process profile. */
	{
		const char *sh = proc_script("proc.sh",
		    "echo '{\"Version\": 1, \"AccessKeyId\": \"AKIAPROCSRC\", "
		    "\"SecretAccessKey\": \"SeCrEtProcSrc\"}'\n");
		char cfg[512];

		unsetenv("AWS_ACCESS_KEY_ID");
		unsetenv("AWS_SECRET_ACCESS_KEY");
		snprintf(cfg, sizeof(cfg),
		    "[default]\ncredential_process = %s\n", sh);
		aws_file("config", cfg);
		s.ar_hits = 0;
		resolve(&o, &g, "role over process");
		is_int(g.r, 0,
		    "aws.role_arn over credential_process: resolved");
		is_str(s.ar_creds[0], "AKIAPROCSRC",
		    "the process's keys signed AssumeRole");
		aws_file("config", NULL);
	}
	o.endpoint_url = NULL;
}

static void
test_role_refresh(void)
{
	struct creds_opts o;
	struct creds *c = NULL;
	struct sampler sm;
	struct got g;
	struct timespec start;
	char sts[128];

	snprintf(sts, sizeof(sts), "%s/sts", s.srv.url);
	memset(&o, 0, sizeof(o));
	o.sts_endpoint = sts;
	o.role_arn = ROLE_A;
	o.refresh_margin_s = 2;
	setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SeCrEtEnv", 1);

	/* Expiring in 4 s: a new AssumeRole at ~2.7 s, never NULL. */
	s.ar_hits = 0;
	s.ar_short = 1;
	s.ar_short_s = 4;
	memset(&g, 0, sizeof(g));
	is_int(creds_new(base, http, &o, &c), 0, "role refresh: creds_new");
	is_int(creds_get(c, got_cb, &g), 0, "role refresh: creds_get");
	tl_run_until(base, &g.n, 1, 3000);
	is_str(g.key, "ASIAAR1", "role refresh: first credentials");
	sampler_start(&sm, c);
	clock_gettime(CLOCK_MONOTONIC, &start);
	tl_run_until(base, &sm.changes, 1, 5000);
	is_int(sm.changes, 1, "role refresh: the keys changed once");
	is_str(sm.last, "ASIAAR2", "role refresh: the new role keys");
	is_int(sm.nulls, 0, "role refresh: creds_current never NULL");
	ok(tl_ms_since(&start) > 1500, "role refresh: ahead of expiry");
	is_int(s.ar_hits, 2, "role refresh: a second AssumeRole");
	is_str(s.ar_creds[1], "AKIAENV", "role refresh: signed by the source");
	ok(creds_current(c) != NULL &&
		strcmp(creds_current(c)->provider, "assume-role") == 0,
	    "role refresh: still assume-role");
	event_free(sm.ev);
	creds_free(c);

	/* Freed while waiting for STS: no callback, nothing leaks. */
	memset(&g, 0, sizeof(g));
	is_int(creds_new(base, http, &o, &c), 0, "role cancel: creds_new");
	is_int(creds_get(c, got_cb, &g), 0, "role cancel: creds_get");
	for (int i = 0; i < 1000 && http_in_flight(http) == 0 && g.n == 0; i++)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	is_int((long long)http_in_flight(http), 1,
	    "role cancel: STS in flight");
	creds_free(c);
	event_base_loop(base, EVLOOP_NONBLOCK);
	is_int((long long)http_in_flight(http), 0,
	    "role cancel: nothing in "
	    "flight");
	is_int(g.n, 0, "role cancel: no callback (%d %s)", g.r, g.msg);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");

	/* A credential_process with an Expiration is run again before it. */
	{
		char body[512];
		char cfg[512];
		const char *sh;

		snprintf(body, sizeof(body),
		    "n=$(cat \"$0.n\" 2>/dev/null || echo 0); n=$((n+1)); "
		    "echo $n >\"$0.n\"\n"
		    "exp=$(date -u -d @$(( $(date +%%s) + 4 )) "
		    "+%%Y-%%m-%%dT%%H:%%M:%%SZ)\n"
		    "echo \"{\\\"Version\\\": 1, \\\"AccessKeyId\\\": "
		    "\\\"AKIAPROC$n\\\", \\\"SecretAccessKey\\\": \\\"SeCrEt\\\", "
		    "\\\"Expiration\\\": \\\"$exp\\\"}\"\n");
		sh = proc_script("proc-exp.sh", body);
		snprintf(cfg, sizeof(cfg),
		    "[default]\ncredential_process = %s\n", sh);
		aws_file("config", cfg);
		memset(&o, 0, sizeof(o));
		o.refresh_margin_s = 2;
		memset(&g, 0, sizeof(g));
		is_int(creds_new(base, http, &o, &c), 0, "proc refresh: new");
		is_int(creds_get(c, got_cb, &g), 0, "proc refresh: get");
		tl_run_until(base, &g.n, 1, 3000);
		is_str(g.key, "AKIAPROC1", "proc refresh: first run");
		sampler_start(&sm, c);
		tl_run_until(base, &sm.changes, 1, 5000);
		is_str(sm.last, "AKIAPROC2", "proc refresh: run again");
		is_int(sm.nulls, 0, "proc refresh: never NULL");
		event_free(sm.ev);
		creds_free(c);

		/* A role over it: the source renews itself (at ~2.7 s), the
		 * role later (at ~4 s of 6) is signed with the new keys. */
		(void)unlink(path_in("proc-exp.sh.n"));
		o.role_arn = ROLE_A;
		o.sts_endpoint = sts;
		s.ar_hits = 0;
		s.ar_short = 1;
		s.ar_short_s = 6;
		memset(&g, 0, sizeof(g));
		is_int(creds_new(base, http, &o, &c), 0, "chain refresh: new");
		is_int(creds_get(c, got_cb, &g), 0, "chain refresh: get");
		tl_run_until(base, &g.n, 1, 3000);
		is_str(s.ar_creds[0], "AKIAPROC1", "chain refresh: source 1");
		sampler_start(&sm, c);
		tl_run_until(base, &sm.changes, 1, 7000);
		is_str(sm.last, "ASIAAR2", "chain refresh: the role renewed");
		is_int(sm.nulls, 0, "chain refresh: never NULL");
		is_str(s.ar_creds[1], "AKIAPROC2",
		    "chain refresh: with the renewed source's keys");
		event_free(sm.ev);
		creds_free(c);
		aws_file("config", NULL);
	}
}

int
main(void)
{
	clear_aws_env();
	tmp = tl_tmpdir("test_creds");
	setenv("HOME", tmp, 1);
	snprintf(home_aws, sizeof(home_aws), "%s/.aws", tmp);
	mkdir(home_aws, 0700);

	base = event_base_new();
	ok(tl_srv_start(&s.srv, base, srv_cb, &s) == 0, "test server listens");
	is_int(http_new(base, NULL, &http), 0, "http_new");

	test_profile_hostile();
	test_profile();
	test_time();
	test_env_and_profile();
	test_nothing();
	test_web_identity();
	test_container();
	test_imds();
	test_refresh();
	test_proc_split();
	test_proc_excerpt();
	test_process();
	test_roles_profile();
	test_role_opt();
	test_role_refresh();
	is_int(leaks, 0, "no secret in any diag");

	http_free(http);
	tl_srv_stop(&s.srv);
	event_base_free(base);
	(void)tl_tmpdir_free(tmp);
	return done_testing();
}
