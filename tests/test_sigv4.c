/*
 * test_sigv4.c: the SigV4 signer. Hostile inputs first; then the helpers;
 * then requests like ours checked against botocore; then every case
 * directory of AWS's two SigV4 suites in ../shared/data/sigv4 (found by
 * listing the directories, so a case added there is run, and a missing
 * directory fails), compared byte for byte.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <json-c/json.h>

#include "buf.h"
#include "clock.h"
#include "diag.h"
#include "sigv4.h"
#include "tap.h"
#include "testlib.h"

/* What every case of both suites uses (sigv4/README.md). */
#define SUITE_AKID "AKIDEXAMPLE"
#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_REGION "us-east-1"
#define SUITE_SERVICE "service"
#define SUITE_TIME ((time_t)1440938160) /* 2015-08-30T12:36:00Z */
#define SUITE_C_AUTH_CASES 38
#define SUITE_CLASSIC_CASES 31

#define EMPTY_SHA256                                                           \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define TEST_TOKEN "FwoGZXIvYXdzEXAMPLE/token+=="
#define TEST_TIME ((time_t)1704164645) /* 2024-01-02T03:04:05Z */

static char *sorted_params(const char *query, const char *prefix);

static const struct sigv4_header vanilla_headers[] = {
    {"Host", "example.amazonaws.com"},
};

/* A valid GET /, the suites' get-vanilla, for the hostile cases to break. */
static void
vanilla(struct sigv4_request *req, struct sigv4_creds *creds,
    struct sigv4_params *p)
{
	memset(req, 0, sizeof(*req));
	req->method = "GET";
	req->path = "/";
	req->headers = vanilla_headers;
	req->n_headers = ARRAY_SIZE(vanilla_headers);
	memset(creds, 0, sizeof(*creds));
	creds->access_key_id = SUITE_AKID;
	creds->secret_access_key = SUITE_SECRET;
	creds->session_token = TEST_TOKEN;
	memset(p, 0, sizeof(*p));
	p->region = SUITE_REGION;
	p->service = SUITE_SERVICE;
	p->now = SUITE_TIME;
	p->expires_s = 3600;
	p->normalize_path = true;
	p->double_encode_path = true;
}

/* Signs both ways; wants r from each, a message, and no secret in it. */
static void
want_fail(const struct sigv4_request *req, const struct sigv4_creds *creds,
    const struct sigv4_params *p, int want, const char *what)
{
	struct sigv4_result res;
	struct diag d;
	struct buf q;
	int r;

	memset(&d, 0, sizeof(d));
	memset(&res, 0x5a, sizeof(res));
	r = sigv4_sign_headers(req, creds, p, &res, &d);
	is_int(r, want, "hostile: %s: header signing refused", what);
	ok(d.msg[0] != '\0' && strstr(d.msg, SUITE_SECRET) == NULL &&
		strstr(d.msg, TEST_TOKEN) == NULL,
	    "hostile: %s: says why, no secret ('%s')", what, d.msg);
	ok((unsigned char)res.authorization[0] == 0x5a,
	    "hostile: %s: result untouched", what);

	memset(&d, 0, sizeof(d));
	buf_init(&q, 1 << 20);
	r = buf_puts(&q, "keep");
	if (r == 0)
		r = sigv4_presign_query(req, creds, p, &q, &d);
	is_int(r, want, "hostile: %s: presigning refused", what);
	is_str(q.data, "keep", "hostile: %s: output buffer as it was", what);
	ok(strstr(d.msg, SUITE_SECRET) == NULL &&
		strstr(d.msg, TEST_TOKEN) == NULL,
	    "hostile: %s: presign diag has no secret", what);
	buf_done(&q);
}

static void
test_hostile(void)
{
	static struct sigv4_header many[SIGV4_MAX_HEADERS + 1];
	static char long_names[60][SIGV4_MAX_NAME + 1];
	struct sigv4_header long_hdrs[61];
	struct sigv4_header one[2];
	char secret[SIGV4_MAX_SECRET + 2];
	char name[SIGV4_MAX_NAME + 2];
	char *token;
	struct sigv4_request req;
	struct sigv4_creds creds;
	struct sigv4_params p;
	struct sigv4_result res;
	struct buf b;
	struct buf q;
	size_t i;
	int r;

	vanilla(&req, &creds, &p);
	want_fail(NULL, &creds, &p, -EINVAL, "no request");
	want_fail(&req, NULL, &p, -EINVAL, "no credentials");
	want_fail(&req, &creds, NULL, -EINVAL, "no params");
	is_int(sigv4_sign_headers(&req, &creds, &p, NULL, NULL), -EINVAL,
	    "hostile: no result, no diag");

	req.method = "";
	want_fail(&req, &creds, &p, -EINVAL, "empty method");
	req.method = "get";
	want_fail(&req, &creds, &p, -EINVAL, "lowercase method");
	req.method = "GET / HTTP/1.1\r\nX:";
	want_fail(&req, &creds, &p, -EINVAL, "method with CRLF");
	req.method = "GETGETGETGETGETGE";
	want_fail(&req, &creds, &p, -EINVAL, "17-letter method");

	vanilla(&req, &creds, &p);
	req.n_headers = 0;
	want_fail(&req, &creds, &p, -EINVAL, "no host header");
	req.n_headers = 1;
	req.headers = NULL;
	want_fail(&req, &creds, &p, -EINVAL, "header count, no array");
	one[0] = vanilla_headers[0];
	req.headers = one;
	req.n_headers = 2;
	one[1].name = "Bad Name";
	one[1].value = "v";
	want_fail(&req, &creds, &p, -EINVAL, "header name with a space");
	one[1].name = "X:Y";
	want_fail(&req, &creds, &p, -EINVAL, "header name with a colon");
	one[1].name = "";
	want_fail(&req, &creds, &p, -EINVAL, "empty header name");
	one[1].name = NULL;
	want_fail(&req, &creds, &p, -EINVAL, "NULL header name");
	one[1].name = "X-Ok";
	one[1].value = NULL;
	want_fail(&req, &creds, &p, -EINVAL, "NULL header value");
	one[1].value = "a\r\nX-Injected: 1";
	want_fail(&req, &creds, &p, -EINVAL, "CRLF in a header value");
	one[1].value = "a\nb";
	want_fail(&req, &creds, &p, -EINVAL, "LF in a header value");
	one[1].value = "a\x7f";
	want_fail(&req, &creds, &p, -EINVAL, "DEL in a header value");
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	one[1].name = name;
	one[1].value = "v";
	want_fail(&req, &creds, &p, -EINVAL, "129-byte header name");
	one[1].name = "Authorization";
	want_fail(&req, &creds, &p, -EINVAL, "caller's Authorization");
	one[1].name = "X-Amz-Date";
	want_fail(&req, &creds, &p, -EINVAL, "caller's X-Amz-Date");
	one[1].name = "x-amz-security-token";
	want_fail(&req, &creds, &p, -EINVAL, "caller's X-Amz-Security-Token");
	one[1].name = "X-AMZ-CONTENT-SHA256";
	want_fail(&req, &creds, &p, -EINVAL, "caller's x-amz-content-sha256");
	for (i = 0; i < ARRAY_SIZE(many); i++)
		many[i] = vanilla_headers[0];
	req.headers = many;
	req.n_headers = ARRAY_SIZE(many);
	want_fail(&req, &creds, &p, -E2BIG, "65 headers");

	vanilla(&req, &creds, &p);
	req.path = "example";
	want_fail(&req, &creds, &p, -EINVAL, "relative path");
	req.path = "/a?b=c";
	want_fail(&req, &creds, &p, -EINVAL, "'?' in path");
	req.path = "/a#frag";
	want_fail(&req, &creds, &p, -EINVAL, "'#' in path");
	req.path = "/a\r\nHost: evil";
	want_fail(&req, &creds, &p, -EINVAL, "CRLF in path");
	p.normalize_path = false;
	p.double_encode_path = false;
	req.path = "/bucket/my key";
	want_fail(&req, &creds, &p, -EINVAL, "S3: raw space in path");
	req.path = "/bucket/a+b";
	want_fail(&req, &creds, &p, -EINVAL, "S3: raw '+' in path");
	req.path = "/bucket/caf\xc3\xa9";
	want_fail(&req, &creds, &p, -EINVAL, "S3: raw UTF-8 in path");
	req.path = "/bucket/a%2fb";
	want_fail(&req, &creds, &p, -EINVAL, "S3: lowercase %-escape");
	req.path = "/bucket/%G0";
	want_fail(&req, &creds, &p, -EINVAL, "S3: non-hex %-escape");
	req.path = "/bucket/a%2";
	want_fail(&req, &creds, &p, -EINVAL, "S3: truncated %-escape");

	vanilla(&req, &creds, &p);
	req.query = "a=%ZZ";
	want_fail(&req, &creds, &p, -EINVAL, "query: non-hex %-escape");
	req.query = "a=%";
	want_fail(&req, &creds, &p, -EINVAL, "query: lone '%'");
	req.query = "%4=a";
	want_fail(&req, &creds, &p, -EINVAL, "query: truncated escape in name");
	req.query = "a=b\nc";
	want_fail(&req, &creds, &p, -EINVAL, "query: LF");
	req.query = "a=b#c";
	want_fail(&req, &creds, &p, -EINVAL, "query: '#'");
	req.query = "a&b&c&d&e&f&g&h&i&j&k&l&m&n&o&p&q&r&s&t&u&v&w&x&y&z&"
		    "a&b&c&d&e&f&g&h&i&j&k&l&m&n&o&p&q&r&s&t&u&v&w&x&y&z&"
		    "a&b&c&d&e&f&g&h&i&j&k&l&m";
	want_fail(&req, &creds, &p, -E2BIG, "query: 65 parameters");

	vanilla(&req, &creds, &p);
	req.payload_hash = "abc";
	want_fail(&req, &creds, &p, -EINVAL, "short payload hash");
	req.payload_hash =
	    "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
	want_fail(&req, &creds, &p, -EINVAL, "uppercase payload hash");
	req.payload_hash = EMPTY_SHA256 "0";
	want_fail(&req, &creds, &p, -EINVAL, "65-digit payload hash");
	req.payload_hash = "unsigned-payload";
	want_fail(&req, &creds, &p, -EINVAL, "lowercase unsigned-payload");
	req.payload_hash = NULL;
	req.body_len = 3;
	want_fail(&req, &creds, &p, -EINVAL, "body length without body");

	vanilla(&req, &creds, &p);
	p.region = "";
	want_fail(&req, &creds, &p, -EINVAL, "empty region");
	p.region = "us-east-1/evil";
	want_fail(&req, &creds, &p, -EINVAL, "'/' in region");
	p.region = "us east";
	want_fail(&req, &creds, &p, -EINVAL, "space in region");
	p.region = SUITE_REGION;
	p.service = NULL;
	want_fail(&req, &creds, &p, -EINVAL, "no service");
	p.service = SUITE_SERVICE;
	p.now = (time_t)253402300800; /* 10000-01-01 */
	want_fail(&req, &creds, &p, -EINVAL, "year 10000");
	p.now = -1;
	want_fail(&req, &creds, &p, -EINVAL, "1969");

	vanilla(&req, &creds, &p);
	creds.access_key_id = "AKID, Signature=0";
	want_fail(&req, &creds, &p, -EINVAL, "',' and ' ' in key id");
	creds.access_key_id = "AKID/x";
	want_fail(&req, &creds, &p, -EINVAL, "'/' in key id");
	creds.access_key_id = NULL;
	want_fail(&req, &creds, &p, -EINVAL, "no key id");
	creds.access_key_id = SUITE_AKID;
	creds.secret_access_key = "";
	want_fail(&req, &creds, &p, -EINVAL, "empty secret");
	creds.secret_access_key = NULL;
	want_fail(&req, &creds, &p, -EINVAL, "no secret");
	memset(secret, 's', sizeof(secret) - 1);
	secret[sizeof(secret) - 1] = '\0';
	creds.secret_access_key = secret;
	want_fail(&req, &creds, &p, -E2BIG, "129-byte secret");
	creds.secret_access_key = SUITE_SECRET;
	creds.session_token = TEST_TOKEN "\r\nX-Evil: 1";
	want_fail(&req, &creds, &p, -EINVAL, "CRLF in session token");
	creds.session_token = TEST_TOKEN " x";
	want_fail(&req, &creds, &p, -EINVAL, "space in session token");
	token = malloc(SIGV4_MAX_TOKEN + 2);
	if (token != NULL) {
		memset(token, 't', SIGV4_MAX_TOKEN + 1);
		token[SIGV4_MAX_TOKEN + 1] = '\0';
	}
	creds.session_token = token;
	want_fail(&req, &creds, &p, -E2BIG, "8 KiB + 1 session token");
	free(token);

	/* Presigning only. */
	vanilla(&req, &creds, &p);
	buf_init(&q, 1 << 20);
	req.query = "X-Amz-Signature=0";
	is_int(sigv4_presign_query(&req, &creds, &p, &q, NULL), -EINVAL,
	    "hostile: presign: caller's X-Amz-Signature");
	req.query = "a=1&x-amz-credential=AKID%2Fx";
	is_int(sigv4_presign_query(&req, &creds, &p, &q, NULL), -EINVAL,
	    "hostile: presign: caller's X-Amz-Credential, any case, encoded");
	req.query = "X-Amz-%53ignature=0";
	is_int(sigv4_presign_query(&req, &creds, &p, &q, NULL), -EINVAL,
	    "hostile: presign: caller's X-Amz-Signature, %%-encoded");
	req.query = NULL;
	p.expires_s = 0;
	is_int(sigv4_presign_query(&req, &creds, &p, &q, NULL), -EINVAL,
	    "hostile: presign: 0 s expiry");
	p.expires_s = SIGV4_MAX_EXPIRES + 1;
	is_int(sigv4_presign_query(&req, &creds, &p, &q, NULL), -EINVAL,
	    "hostile: presign: expiry over 7 days");
	is_int((long long)q.len, 0, "hostile: presign: nothing written");
	buf_done(&q);

	/* Ceilings: the caller's buffer, the Authorization field. */
	vanilla(&req, &creds, &p);
	buf_init(&b, 16);
	r = buf_puts(&b, "keep");
	if (r == 0)
		r = sigv4_canonical_request(&req, &creds, &p, SIGV4_MODE_HEADER,
		    &b, NULL);
	is_int(r, -E2BIG, "hostile: canonical request over the buffer");
	is_str(b.data, "keep", "hostile: buffer as it was");
	r = sigv4_string_to_sign(&p, "x", 1, &b, NULL);
	is_int(r, -E2BIG, "hostile: string to sign over the buffer");
	is_str(b.data, "keep", "hostile: buffer as it was");
	buf_done(&b);
	buf_init(&q, 64);
	is_int(sigv4_presign_query(&req, &creds, &p, &q, NULL), -E2BIG,
	    "hostile: presigned query over the buffer");
	is_int((long long)q.len, 0, "hostile: presign buffer as it was");
	buf_done(&q);
	long_hdrs[0] = vanilla_headers[0];
	for (i = 0; i < 60; i++) {
		memset(long_names[i], 'a', SIGV4_MAX_NAME);
		long_names[i][SIGV4_MAX_NAME] = '\0';
		long_names[i][0] = (char)('A' + i % 26);
		long_names[i][1] = (char)('a' + i / 26);
		long_hdrs[i + 1].name = long_names[i];
		long_hdrs[i + 1].value = "v";
	}
	req.headers = long_hdrs;
	req.n_headers = ARRAY_SIZE(long_hdrs);
	r = sigv4_sign_headers(&req, &creds, &p, &res, NULL);
	is_int(r, -E2BIG, "hostile: Authorization over %d bytes",
	    SIGV4_AUTH_SIZE);

	is_int(sigv4_mode_str(SIGV4_MODE_COUNT)[0] != '\0', 1,
	    "sigv4_mode_str(COUNT) is a name");
}

static void
encode_is(const char *s, size_t len, bool encode_slash, const char *want,
    const char *what)
{
	struct buf b;
	int r;

	buf_init(&b, 1 << 16);
	r = buf_puts(&b, "<");
	if (r == 0)
		r = sigv4_uri_encode(s, len, encode_slash, &b);
	is_int(r, 0, "uri_encode %s: ok", what);
	is_str(b.data + 1, want, "uri_encode %s", what);
	buf_done(&b);
}

static void
test_uri_encode(void)
{
	struct buf b;

	is_int(sigv4_uri_encode(NULL, 1, false, NULL), -EINVAL,
	    "uri_encode: NULL");
	buf_init(&b, 8);
	is_int(sigv4_uri_encode("a b", 3, false, &b), 0,
	    "uri_encode: 5 bytes under a ceiling of 8");
	is_int(sigv4_uri_encode("a b", 3, false, &b), -E2BIG,
	    "uri_encode: 10 bytes over a ceiling of 8");
	is_str(b.data, "a%20b", "uri_encode: -E2BIG appends nothing");
	buf_done(&b);

	buf_init(&b, 8);
	is_int(sigv4_uri_encode("", 0, true, &b), 0, "uri_encode: empty, ok");
	ok(b.len == 0 && (b.data == NULL || b.data[0] == '\0'),
	    "uri_encode: empty into a fresh buffer leaves it empty");
	buf_done(&b);
	encode_is("", 0, false, "", "empty");
	encode_is("my key", 6, false, "my%20key", "space");
	encode_is("a+b=c&d", 7, false, "a%2Bb%3Dc%26d", "'+', '=', '&'");
	encode_is("caf\xc3\xa9 \xe1\x88\xb4", 9, false, "caf%C3%A9%20%E1%88%B4",
	    "UTF-8");
	encode_is("100%", 4, false, "100%25", "'%'");
	encode_is("%20", 3, false, "%2520", "an escape, again");
	encode_is("~user", 5, false, "~user", "'~' kept");
	encode_is("-._~AZaz09", 10, true, "-._~AZaz09", "unreserved kept");
	encode_is("a/b//c", 6, false, "a/b//c", "'/' kept");
	encode_is("a/b", 3, true, "a%2Fb", "'/' encoded");
	encode_is("a\0b", 3, false, "a%00b", "NUL byte by length");
	encode_is("!*'();:@$,?#[]\"<>\\^`{|}", 23, true,
	    "%21%2A%27%28%29%3B%3A%40%24%2C%3F%23%5B%5D%22%3C%3E%5C%5E%60%7B%"
	    "7C%7D",
	    "reserved and unsafe ASCII");
	encode_is("\x7f\x80\xff", 3, false, "%7F%80%FF", "high bytes");
}

static void
date_is(const char *s, long long want, const char *what)
{
	time_t t = 12345;
	int r;

	r = clock_parse_http_date(s, &t);
	if (want < 0) {
		is_int(r, -EINVAL, "http date %s: refused", what);
		is_int((long long)t, 12345, "http date %s: output untouched",
		    what);
		return;
	}
	is_int(r, 0, "http date %s: ok", what);
	is_int((long long)t, want, "http date %s", what);
}

static void
test_dates(void)
{
	char out[SIGV4_AMZ_DATE_SIZE];
	time_t t = 0;

	/* Hostile first. */
	is_int(clock_parse_http_date(NULL, &t), -EINVAL, "http date: NULL");
	date_is("", -1, "empty");
	date_is("Sun, 06 Nov 1994 08:49:37", -1, "no zone");
	date_is("Sun, 06 Nov 1994 08:49:37 UTC", -1, "UTC, not GMT");
	date_is("Sun, 06 Nov 1994 08:49:37 GMT ", -1, "trailing space");
	date_is("Sun, 6 Nov 1994 08:49:37 GMT", -1, "1-digit day");
	date_is("Sun, 06 nov 1994 08:49:37 GMT", -1, "lowercase month");
	date_is("Sun, 06 Nox 1994 08:49:37 GMT", -1, "no such month");
	date_is("Xyz, 06 Nov 1994 08:49:37 GMT", -1, "no such day");
	date_is("Sun, 31 Nov 1994 08:49:37 GMT", -1, "31 November");
	date_is("Thu, 29 Feb 2023 00:00:00 GMT", -1, "29 Feb 2023");
	date_is("Sun, 06 Nov 1994 24:00:00 GMT", -1, "hour 24");
	date_is("Sun, 06 Nov 1994 08:60:00 GMT", -1, "minute 60");
	date_is("Sun, 06 Nov 1994 08:49:61 GMT", -1, "second 61");
	date_is("Sun, 06 Nov 1994 08:49:3 GMT", -1, "truncated");
	date_is("Sun, 06 Nov 1994 08:49:37 GMT\r\nX: y", -1, "CRLF tail");
	date_is("Sun, 06 Nov -994 08:49:37 GMT", -1, "negative year");

	/* RFC 9110's three spellings of one instant. */
	date_is("Sun, 06 Nov 1994 08:49:37 GMT", 784111777, "IMF-fixdate");
	date_is("Sunday, 06-Nov-94 08:49:37 GMT", 784111777, "RFC 850");
	date_is("Sun Nov  6 08:49:37 1994", 784111777, "asctime");
	date_is("Sun Nov 06 08:49:37 1994", 784111777, "asctime, 2 digits");
	date_is("Thu, 01 Jan 1970 00:00:00 GMT", 0, "the epoch");
	date_is("Thu, 29 Feb 2024 23:59:59 GMT", 1709251199, "leap day");
	date_is("Wed, 01 Mar 2000 00:00:00 GMT", 951868800,
	    "after 29 Feb 2000");
	date_is("Tue, 02 Jan 2024 03:04:05 GMT", 1704164645, "an S3 Date");
	date_is("Tuesday, 02-Jan-24 03:04:05 GMT", 1704164645, "RFC 850, 20xx");
	date_is("Sat, 31 Dec 2016 23:59:60 GMT", 1483228800, "leap second");

	is_int(sigv4_amz_date(SUITE_TIME, out), 0, "amz date: ok");
	is_str(out, "20150830T123600Z", "amz date: the suites' time");
	is_int(sigv4_amz_date(0, out), 0, "amz date: epoch ok");
	is_str(out, "19700101T000000Z", "amz date: the epoch");
	is_int(sigv4_amz_date((time_t)253402300799, out), 0,
	    "amz date: 9999-12-31T23:59:59Z ok");
	is_str(out, "99991231T235959Z", "amz date: the last second");
	is_int(sigv4_amz_date((time_t)253402300800, out), -EINVAL,
	    "amz date: year 10000 refused");
	is_int(sigv4_amz_date(-1, out), -EINVAL, "amz date: 1969 refused");

	is_int(sigv4_parse_amz_date("20150830T123600", &t), -EINVAL,
	    "parse amz date: no Z");
	is_int(sigv4_parse_amz_date("2015-08-30T12:36:00Z", &t), -EINVAL,
	    "parse amz date: extended form");
	is_int(sigv4_parse_amz_date("20151330T123600Z", &t), -EINVAL,
	    "parse amz date: month 13");
	is_int(sigv4_parse_amz_date("20150830T123660Z", &t), -EINVAL,
	    "parse amz date: second 60");
	is_int(sigv4_parse_amz_date("20150830T123600Z ", &t), -EINVAL,
	    "parse amz date: trailing space");
	is_int(sigv4_parse_amz_date("20150830T123600Z", &t), 0,
	    "parse amz date: ok");
	is_int((long long)t, (long long)SUITE_TIME, "parse amz date: value");
}

/* Canonical request of req, for the small happy-path checks. */
static char *
creq_of(const struct sigv4_request *req, const struct sigv4_creds *creds,
    const struct sigv4_params *p, enum sigv4_mode mode)
{
	struct buf b;

	buf_init(&b, SIGV4_MAX_CANONICAL);
	if (sigv4_canonical_request(req, creds, p, mode, &b, NULL) < 0) {
		buf_done(&b);
		return NULL;
	}
	return buf_steal(&b);
}

/* Line n (0-based) of a canonical request. */
static char *
line_of(const char *s, int n)
{
	const char *e;

	if (s == NULL)
		return NULL;
	for (; n > 0; n--) {
		s = strchr(s, '\n');
		if (s == NULL)
			return NULL;
		s++;
	}
	e = strchr(s, '\n');
	return e != NULL ? strndup(s, (size_t)(e - s)) : strdup(s);
}

static void
creq_line_is(const struct sigv4_request *req, const struct sigv4_params *p,
    int line, const char *want, const char *what)
{
	struct sigv4_creds creds = {SUITE_AKID, SUITE_SECRET, NULL};
	char *c = creq_of(req, &creds, p, SIGV4_MODE_HEADER);
	char *l = line_of(c, line);

	is_str(l, want, "%s", what);
	free(l);
	free(c);
}

static void
test_canonical_parts(void)
{
	static const struct sigv4_header hs[] = {
	    {"Host", "example.amazonaws.com"},
	    {"X-Tab", " \t a \t\t b \t "},
	    {"x-dup", "2"},
	    {"X-Dup", " 1 "},
	    {"X-Empty", ""},
	};
	struct sigv4_request req;
	struct sigv4_creds creds;
	struct sigv4_params p;
	struct buf b;
	int r;

	vanilla(&req, &creds, &p);
	req.path = "/a/b/../c/./d//";
	creq_line_is(&req, &p, 1, "/a/c/d/", "normalize: dot segments, //");
	req.path = "/a/b/..";
	creq_line_is(&req, &p, 1, "/a", "normalize: '..' last drops the '/'");
	req.path = "/../..";
	creq_line_is(&req, &p, 1, "/", "normalize: '..' above the root");
	req.path = "/.../a";
	creq_line_is(&req, &p, 1, "/.../a", "normalize: '...' is a name");
	req.path = "/a%20b";
	creq_line_is(&req, &p, 1, "/a%2520b", "double encoding: '%%' again");
	req.path = NULL;
	creq_line_is(&req, &p, 1, "/", "no path: '/'");
	p.normalize_path = false;
	p.double_encode_path = false;
	req.path = "/bucket/a//b/./c/../%E2%82%AC~";
	creq_line_is(&req, &p, 1, "/bucket/a//b/./c/../%E2%82%AC~",
	    "S3: signed as sent");

	vanilla(&req, &creds, &p);
	req.query = "b=2&a=1&a=0&c&&=e&A=3";
	creq_line_is(&req, &p, 2, "=e&A=3&a=0&a=1&b=2&c=",
	    "query: by key then value, bytes, empty key, bare key");
	req.query = "a+b=c d&k=%7e%2f%41";
	creq_line_is(&req, &p, 2, "a%2Bb=c%20d&k=~%2FA",
	    "query: '+' is not a space; escapes decoded then re-encoded");
	req.query = "k=v=w";
	creq_line_is(&req, &p, 2, "k=v%3Dw", "query: the first '=' splits");

	vanilla(&req, &creds, &p);
	req.headers = hs;
	req.n_headers = ARRAY_SIZE(hs);
	creq_line_is(&req, &p, 3, "host:example.amazonaws.com",
	    "headers: host first");
	creq_line_is(&req, &p, 4, "x-amz-date:20150830T123600Z",
	    "headers: x-amz-date added in order");
	creq_line_is(&req, &p, 5, "x-dup:2,1",
	    "headers: repeated name joined in given order, trimmed");
	creq_line_is(&req, &p, 6, "x-empty:", "headers: empty value");
	creq_line_is(&req, &p, 7, "x-tab:a b", "headers: tabs squeezed");
	creq_line_is(&req, &p, 9, "host;x-amz-date;x-dup;x-empty;x-tab",
	    "headers: signed list");

	vanilla(&req, &creds, &p);
	req.payload_hash = SIGV4_UNSIGNED_PAYLOAD;
	creq_line_is(&req, &p, 7, SIGV4_UNSIGNED_PAYLOAD,
	    "payload: UNSIGNED-PAYLOAD as given");
	req.payload_hash = NULL;
	creq_line_is(&req, &p, 7, EMPTY_SHA256, "payload: empty body hash");

	/* Output is appended. */
	buf_init(&b, 1 << 16);
	r = buf_puts(&b, "X");
	if (r == 0)
		r = sigv4_canonical_request(&req, &creds, &p, SIGV4_MODE_HEADER,
		    &b, NULL);
	is_int(r, 0, "canonical request appends: ok");
	ok(b.len > 1 && strncmp(b.data, "XGET\n/\n", 7) == 0,
	    "canonical request appends");
	buf_done(&b);
}

/*
 * Our own kinds of request, signed by botocore 1.43.11 at 2024-01-02
 * 03:04:05Z with the suites' example key (python3, botocore.auth with
 * get_current_datetime mocked):
 *   S3SigV4Auth(Credentials(akid, secret[, token]), "s3", "eu-west-1")
 *     .add_auth(AWSRequest("GET", "http://127.0.0.1:9000" + path))
 *   and https + Config(s3={"payload_signing_enabled": False}) for
 *   UNSIGNED-PAYLOAD; path = "/my-bucket/" + quote(key, safe="/~");
 *   S3SigV4QueryAuth(creds, "s3", "eu-west-1", expires=900) for presigning;
 *   SigV4Auth(creds, "sqs", "us-east-1") for the SQS JSON POST.
 */
/* botocore puts the caller's parameters first, ours sorts them all: the
 * same canonical request, so compare the parameter sets. */
static void
query_set_is(const char *got, const char *want, const char *what)
{
	char *g = sorted_params(got, "");
	char *w = sorted_params(want, "");

	is_str(g, w, "%s", what);
	free(g);
	free(w);
}

#define BOTO_KEY                                                               \
	"AWSLogs//123456789012/./CloudTrail/a b+c=d~e%f \xc3\xbc!'.json.gz"
#define BOTO_PATH                                                              \
	"/my-bucket/AWSLogs//123456789012/./CloudTrail/"                       \
	"a%20b%2Bc%3Dd~e%25f%20%C3%BC%21%27.json.gz"

static void
test_botocore(void)
{
	static const char sqs_body[] =
	    "{\"QueueUrl\":\"http://127.0.0.1:9324/123456789012/trail\","
	    "\"MaxNumberOfMessages\":10,\"WaitTimeSeconds\":20}";
	struct sigv4_header s3_local[] = {{"Host", "127.0.0.1:9000"}};
	struct sigv4_header s3_aws[] = {
	    {"Host", "my-bucket.s3.eu-west-1.amazonaws.com"}};
	struct sigv4_header s3_pre[] = {{"Host", "s3.eu-west-1.amazonaws.com"}};
	struct sigv4_header sqs[] = {
	    {"Host", "127.0.0.1:9324"},
	    {"Content-Type", "application/x-amz-json-1.0"},
	    {"X-Amz-Target", "AmazonSQS.ReceiveMessage"},
	};
	struct sigv4_creds creds = {SUITE_AKID, SUITE_SECRET, NULL};
	struct sigv4_params p;
	struct sigv4_request req;
	struct sigv4_result res;
	struct buf b;
	int r;

	/* The key encoded as an S3 path: what s3_ will do. */
	buf_init(&b, 1 << 16);
	r = buf_puts(&b, "/my-bucket/");
	if (r == 0)
		r = sigv4_uri_encode(BOTO_KEY, strlen(BOTO_KEY), false, &b);
	is_int(r, 0, "S3 key to path: ok");
	is_str(b.data, BOTO_PATH, "S3 key to path: as botocore quotes it");
	buf_done(&b);

	memset(&p, 0, sizeof(p));
	p.region = "eu-west-1";
	p.service = "s3";
	p.now = TEST_TIME;
	p.sign_payload_header = true;
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.path = BOTO_PATH;
	req.headers = s3_local;
	req.n_headers = ARRAY_SIZE(s3_local);
	r = sigv4_sign_headers(&req, &creds, &p, &res, NULL);
	is_int(r, 0, "S3 GET, empty-body hash: ok");
	is_str(res.authorization,
	    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/eu-west-1/s3/"
	    "aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
	    "Signature="
	    "e761e39f6add11144727d797c8c82d3b74f82a313766f979c4d7078ebb30c606",
	    "S3 GET, empty-body hash: botocore's Authorization");
	is_str(res.payload_hash, EMPTY_SHA256,
	    "S3 GET: x-amz-content-sha256 is the empty-body hash");
	is_str(res.amz_date, "20240102T030405Z", "S3 GET: X-Amz-Date");

	creds.session_token = TEST_TOKEN;
	req.headers = s3_aws;
	req.payload_hash = SIGV4_UNSIGNED_PAYLOAD;
	r = sigv4_sign_headers(&req, &creds, &p, &res, NULL);
	is_int(r, 0, "S3 GET, UNSIGNED-PAYLOAD, token: ok");
	is_str(res.authorization,
	    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/eu-west-1/s3/"
	    "aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date;"
	    "x-amz-security-token, Signature="
	    "b6dd5c3bb3f9503d47013095e21d9a259f63d3ee4a19b844e95e7e1a6c01d8d4",
	    "S3 GET, UNSIGNED-PAYLOAD, token: botocore's Authorization");
	is_str(res.payload_hash, SIGV4_UNSIGNED_PAYLOAD,
	    "S3 GET: x-amz-content-sha256 UNSIGNED-PAYLOAD");

	/* Presigned S3 GET with a query parameter, with and without token. */
	p.sign_payload_header = false;
	p.expires_s = 900;
	req.path = "/my-bucket/AWSLogs/123456789012/CloudTrail/a%20b.json.gz";
	req.query = "versionId=3%2F4";
	req.headers = s3_pre;
	creds.session_token = NULL;
	buf_init(&b, 1 << 16);
	r = sigv4_presign_query(&req, &creds, &p, &b, NULL);
	is_int(r, 0, "S3 presigned GET: ok");
	query_set_is(b.data,
	    "versionId=3%2F4&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
	    "AKIDEXAMPLE%2F20240102%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Date="
	    "20240102T030405Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&"
	    "X-Amz-Signature="
	    "a5d3627e3eb81cd3c578204edacd5063fd3fa31a06eaecc61b062e01448d2e2a",
	    "S3 presigned GET: botocore's query");
	buf_reset(&b);
	creds.session_token = TEST_TOKEN;
	r = sigv4_presign_query(&req, &creds, &p, &b, NULL);
	is_int(r, 0, "S3 presigned GET, token: ok");
	query_set_is(b.data,
	    "versionId=3%2F4&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
	    "AKIDEXAMPLE%2F20240102%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Date="
	    "20240102T030405Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&"
	    "X-Amz-Security-Token=FwoGZXIvYXdzEXAMPLE%2Ftoken%2B%3D%3D&"
	    "X-Amz-Signature="
	    "fa89ceeeba124f7a356c10093610fb65b63c7413819d8e91821ca26a81ffd885",
	    "S3 presigned GET, token: botocore's query");
	buf_done(&b);

	/* SQS JSON protocol: normalised, double-encoded, body hashed. */
	creds.session_token = NULL;
	memset(&p, 0, sizeof(p));
	p.region = "us-east-1";
	p.service = "sqs";
	p.now = TEST_TIME;
	p.normalize_path = true;
	p.double_encode_path = true;
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.path = "/";
	req.headers = sqs;
	req.n_headers = ARRAY_SIZE(sqs);
	req.body = sqs_body;
	req.body_len = strlen(sqs_body);
	r = sigv4_sign_headers(&req, &creds, &p, &res, NULL);
	is_int(r, 0, "SQS ReceiveMessage: ok");
	is_str(res.authorization,
	    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/us-east-1/sqs/"
	    "aws4_request, SignedHeaders=content-type;host;x-amz-date;"
	    "x-amz-target, Signature="
	    "ea20c9ab1d9eda647d18a176720a7af55ee5defc3e0de823ab126f7cbad925d2",
	    "SQS ReceiveMessage: botocore's Authorization");
}

/* ---- The suites ---------------------------------------------------- */

static char *
path_join(const char *a, const char *b)
{
	char *p;

	if (asprintf(&p, "%s/%s", a, b) < 0)
		return NULL;
	return p;
}

static char *
read_text(const char *dir, const char *name, size_t *ret_len)
{
	char *path = path_join(dir, name);
	char *s = path != NULL ? tl_slurp(path, 1 << 20, ret_len) : NULL;

	free(path);
	return s;
}

static bool
is_dir(const char *dir, const char *name)
{
	char *path = path_join(dir, name);
	struct stat st;
	bool yes;

	yes = path != NULL && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
	free(path);
	return yes;
}

static int
no_dots(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* Sorted entries of dir; -1 if it cannot be read. */
static int
list_dir(const char *dir, struct dirent ***ret)
{
	return scandir(dir, ret, no_dots, alphasort);
}

static void
free_list(struct dirent **list, int n)
{
	int i;

	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

#define TREQ_MAX_HEADERS 32

/* A request.txt / .req file, parsed. */
struct treq {
	char *method;
	char *path;
	char *query;
	char *names[TREQ_MAX_HEADERS];
	char *values[TREQ_MAX_HEADERS];
	size_t n;
	const char *body;
	size_t body_len;
};

static void
treq_free(struct treq *t)
{
	size_t i;

	free(t->method);
	free(t->path);
	free(t->query);
	for (i = 0; i < t->n; i++) {
		free(t->names[i]);
		free(t->values[i]);
	}
	memset(t, 0, sizeof(*t));
}

/*
 * "METHOD target HTTP/1.1", header lines, a blank line, the body. The
 * target may hold spaces ("/example space/"). A line starting with a blank
 * continues the previous header: aws-c-auth's suite wants it folded into
 * the value with a space (RFC 9112 obs-fold); the classic suite signs it
 * as another value of the same header (joined with ',').
 */
static int
treq_parse(const char *s, size_t len, bool fold_with_space, struct treq *t)
{
	const char *end = s + len;
	const char *nl;
	const char *sp1;
	const char *sp2;
	const char *q;

	memset(t, 0, sizeof(*t));
	nl = memchr(s, '\n', len);
	if (nl == NULL)
		nl = end;
	sp1 = memchr(s, ' ', (size_t)(nl - s));
	sp2 = nl;
	while (sp2 > s && sp2[-1] != ' ')
		sp2--;
	if (sp1 == NULL || sp2 <= sp1 + 1)
		return -EBADMSG;
	sp2--;
	t->method = strndup(s, (size_t)(sp1 - s));
	q = memchr(sp1 + 1, '?', (size_t)(sp2 - sp1 - 1));
	if (q != NULL) {
		t->path = strndup(sp1 + 1, (size_t)(q - sp1 - 1));
		t->query = strndup(q + 1, (size_t)(sp2 - q - 1));
	} else {
		t->path = strndup(sp1 + 1, (size_t)(sp2 - sp1 - 1));
	}
	s = nl < end ? nl + 1 : end;
	while (s < end) {
		const char *colon;
		size_t l;

		nl = memchr(s, '\n', (size_t)(end - s));
		if (nl == NULL)
			nl = end;
		l = (size_t)(nl - s);
		if (l == 0) {
			t->body = nl + 1 <= end ? nl + 1 : end;
			t->body_len = (size_t)(end - t->body);
			break;
		}
		if (t->n == TREQ_MAX_HEADERS)
			return -E2BIG;
		if (s[0] == ' ' || s[0] == '\t') {
			char *v;

			if (t->n == 0)
				return -EBADMSG;
			if (fold_with_space) {
				if (asprintf(&v, "%s %.*s", t->values[t->n - 1],
					(int)l, s) < 0)
					return -ENOMEM;
				free(t->values[t->n - 1]);
				t->values[t->n - 1] = v;
			} else {
				t->names[t->n] = strdup(t->names[t->n - 1]);
				t->values[t->n++] = strndup(s, l);
			}
		} else {
			colon = memchr(s, ':', l);
			if (colon == NULL)
				return -EBADMSG;
			t->names[t->n] = strndup(s, (size_t)(colon - s));
			t->values[t->n++] =
			    strndup(colon + 1, (size_t)(nl - colon - 1));
		}
		s = nl < end ? nl + 1 : end;
	}
	return 0;
}

/* The value of header name in a signed-request file; NULL if absent. */
static char *
header_in(const char *text, const char *name)
{
	size_t n = strlen(name);
	const char *s = strchr(text, '\n');

	while (s != NULL && s[1] != '\0' && s[1] != '\n') {
		const char *l = s + 1;
		const char *e = strchr(l, '\n');
		size_t ll = e != NULL ? (size_t)(e - l) : strlen(l);

		if (ll > n && l[n] == ':' && strncasecmp(l, name, n) == 0) {
			l += n + 1;
			ll -= n + 1;
			while (ll > 0 && *l == ' ') {
				l++;
				ll--;
			}
			return strndup(l, ll);
		}
		s = e;
	}
	return NULL;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The parameters of a query starting with prefix, sorted, joined with
 * '&': URLs compared regardless of the order on the wire. */
static char *
sorted_params(const char *query, const char *prefix)
{
	char *copy = strdup(query != NULL ? query : "");
	char *parts[64];
	char *save = NULL;
	char *tok;
	struct buf b;
	size_t n = 0;
	size_t i;
	int r = 0;

	if (copy == NULL)
		return NULL;
	for (tok = strtok_r(copy, "&", &save); tok != NULL && n < 64;
	     tok = strtok_r(NULL, "&", &save))
		if (strncmp(tok, prefix, strlen(prefix)) == 0)
			parts[n++] = tok;
	qsort(parts, n, sizeof(parts[0]), cmp_str);
	buf_init(&b, 1 << 16);
	for (i = 0; r == 0 && i < n; i++)
		r = buf_printf(&b, "%s%s", i > 0 ? "&" : "", parts[i]);
	free(copy);
	if (r < 0) {
		buf_done(&b);
		return NULL;
	}
	return buf_steal(&b);
}

/* The query of the request line of a signed-request file. */
static char *
query_in(const char *text)
{
	const char *q = strchr(text, '?');
	const char *e = strstr(text, " HTTP/1.1\n");

	if (q == NULL || e == NULL || q > e)
		return NULL;
	return strndup(q + 1, (size_t)(e - q - 1));
}

static bool
check_file(const char *got, const char *dir, const char *file, const char *what)
{
	char *want = read_text(dir, file, NULL);
	bool pass = is_str(got, want, "%s", what);

	free(want);
	return pass;
}

/* The three steps against <prefix>canonical-request etc. */
static bool
check_steps(const struct sigv4_request *req, const struct sigv4_creds *creds,
    const struct sigv4_params *p, enum sigv4_mode mode, const char *dir,
    const char *creq_file, const char *sts_file, const char *sig_file,
    const char *label)
{
	char sig[SIGV4_HEX_SIZE] = "";
	char what[512];
	struct diag d;
	struct buf creq;
	struct buf sts;
	bool pass = true;
	int r;

	memset(&d, 0, sizeof(d));
	buf_init(&creq, SIGV4_MAX_CANONICAL);
	buf_init(&sts, SIGV4_MAX_CANONICAL);
	r = sigv4_canonical_request(req, creds, p, mode, &creq, &d);
	if (r < 0)
		diag_note("%s: %s", label, d.msg);
	(void)snprintf(what, sizeof(what), "%s: canonical request", label);
	pass &= check_file(r == 0 ? creq.data : NULL, dir, creq_file, what);
	r = sigv4_string_to_sign(p, creq.data, creq.len, &sts, NULL);
	(void)snprintf(what, sizeof(what), "%s: string to sign", label);
	pass &= check_file(r == 0 ? sts.data : NULL, dir, sts_file, what);
	r = sigv4_signature(creds, p, sts.data, sts.len, sig, NULL);
	if (sig_file != NULL) {
		(void)snprintf(what, sizeof(what), "%s: signature", label);
		pass &= check_file(r == 0 ? sig : NULL, dir, sig_file, what);
	}
	buf_done(&creq);
	buf_done(&sts);
	return pass;
}

static void
treq_to_request(const struct treq *t, struct sigv4_header *hs,
    struct sigv4_request *req)
{
	size_t i;

	memset(req, 0, sizeof(*req));
	req->method = t->method;
	req->path = t->path;
	req->query = t->query;
	req->body = t->body;
	req->body_len = t->body_len;
	req->headers = hs;
	for (i = 0; i < t->n; i++) {
		hs[req->n_headers].name = t->names[i];
		hs[req->n_headers++].value = t->values[i];
	}
}

static const char *
ctx_str(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static bool
ctx_bool(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) &&
	    json_object_get_boolean(v);
}

/* One aws-c-auth case, both modes: passes counted into *ret_pass. */
static void
run_c_auth_case(const char *dir, const char *name, int *ret_pass)
{
	struct sigv4_header hs[TREQ_MAX_HEADERS];
	char stamp[SIGV4_AMZ_DATE_SIZE];
	char label[300];
	struct sigv4_request req;
	struct sigv4_creds creds;
	struct sigv4_params p;
	struct sigv4_result res;
	struct treq t;
	json_object *ctx;
	json_object *cr = NULL;
	const char *ts;
	char *path = path_join(dir, "context.json");
	char *text;
	char *signed_req;
	char *v;
	size_t len = 0;
	size_t i;
	size_t j;
	bool pass;
	int r;

	ctx = path != NULL ? json_object_from_file(path) : NULL;
	free(path);
	text = read_text(dir, "request.txt", &len);
	r = text != NULL && ctx != NULL ? treq_parse(text, len, true, &t)
					: -ENOENT;
	memset(&creds, 0, sizeof(creds));
	memset(&p, 0, sizeof(p));
	if (ctx != NULL)
		(void)json_object_object_get_ex(ctx, "credentials", &cr);
	creds.access_key_id = ctx_str(cr, "access_key_id");
	creds.secret_access_key = ctx_str(cr, "secret_access_key");
	creds.session_token = ctx_str(cr, "token");
	p.region = ctx_str(ctx, "region");
	p.service = ctx_str(ctx, "service");
	p.normalize_path = ctx_bool(ctx, "normalize");
	p.double_encode_path = true; /* service "service": not S3 */
	p.sign_payload_header = ctx_bool(ctx, "sign_body");
	p.omit_session_token = ctx_bool(ctx, "omit_session_token");
	if (ctx != NULL &&
	    json_object_object_get_ex(ctx, "expiration_in_seconds", &cr))
		p.expires_s = (unsigned)json_object_get_int(cr);
	/* "2015-08-30T12:36:00Z" to the basic form, then to time_t. */
	ts = ctx_str(ctx, "timestamp");
	for (i = 0, j = 0; ts != NULL && ts[i] != '\0' && j + 1 < sizeof(stamp);
	     i++)
		if (ts[i] != '-' && ts[i] != ':')
			stamp[j++] = ts[i];
	stamp[j] = '\0';
	if (!ok(r == 0 && sigv4_parse_amz_date(stamp, &p.now) == 0,
		"aws-c-auth %s: request.txt and context.json read", name)) {
		if (r == 0)
			treq_free(&t);
		free(text);
		json_object_put(ctx);
		return;
	}
	treq_to_request(&t, hs, &req);

	(void)snprintf(label, sizeof(label), "aws-c-auth %s header", name);
	pass = check_steps(&req, &creds, &p, SIGV4_MODE_HEADER, dir,
	    "header-canonical-request.txt", "header-string-to-sign.txt",
	    "header-signature.txt", label);
	r = sigv4_sign_headers(&req, &creds, &p, &res, NULL);
	pass &= is_int(r, 0, "%s: signed", label);
	signed_req = read_text(dir, "header-signed-request.txt", NULL);
	/* What the signed request adds is what we told the caller to add. */
	v = signed_req != NULL ? header_in(signed_req, "Authorization") : NULL;
	pass &= is_str(r == 0 ? res.authorization : NULL, v,
	    "%s: Authorization", label);
	free(v);
	v = signed_req != NULL ? header_in(signed_req, "X-Amz-Date") : NULL;
	pass &=
	    is_str(r == 0 ? res.amz_date : NULL, v, "%s: X-Amz-Date", label);
	free(v);
	v = signed_req != NULL ? header_in(signed_req, "x-amz-content-sha256")
			       : NULL;
	pass &=
	    is_str(r == 0 && p.sign_payload_header ? res.payload_hash : NULL, v,
		"%s: x-amz-content-sha256", label);
	free(v);
	v = signed_req != NULL ? header_in(signed_req, "X-Amz-Security-Token")
			       : NULL;
	pass &=
	    is_str(creds.session_token, v, "%s: X-Amz-Security-Token", label);
	free(v);
	free(signed_req);
	*ret_pass += pass;

	(void)snprintf(label, sizeof(label), "aws-c-auth %s query", name);
	pass = check_steps(&req, &creds, &p, SIGV4_MODE_QUERY, dir,
	    "query-canonical-request.txt", "query-string-to-sign.txt",
	    "query-signature.txt", label);
	{
		struct buf q;
		char *want_q;
		char *got;
		char *want;

		buf_init(&q, 1 << 16);
		r = sigv4_presign_query(&req, &creds, &p, &q, NULL);
		pass &= is_int(r, 0, "%s: presigned", label);
		signed_req = read_text(dir, "query-signed-request.txt", NULL);
		want_q = signed_req != NULL ? query_in(signed_req) : NULL;
		got = sorted_params(q.data, "X-Amz-");
		want = sorted_params(want_q, "X-Amz-");
		pass &= is_str(r == 0 ? got : NULL, want,
		    "%s: X-Amz-* parameters of the URL", label);
		free(got);
		free(want);
		free(want_q);
		free(signed_req);
		buf_done(&q);
	}
	*ret_pass += pass;

	treq_free(&t);
	free(text);
	json_object_put(ctx);
}

static void
test_suite_c_auth(int *ret_cases, int *ret_pass)
{
	char *root = NULL;
	struct dirent **list = NULL;
	int n;
	int i;

	*ret_cases = 0;
	*ret_pass = 0;
	if (asprintf(&root,
		"%s/sigv4/aws-c-auth/tests/aws-signing-test-suite/v4",
		tap_shared_data()) < 0)
		return;
	n = list_dir(root, &list);
	ok(n >= 0, "aws-c-auth suite directory %s is there", root);
	for (i = 0; i < n; i++) {
		char *dir;

		if (!is_dir(root, list[i]->d_name))
			continue;
		dir = path_join(root, list[i]->d_name);
		if (dir == NULL)
			continue;
		(*ret_cases)++;
		run_c_auth_case(dir, list[i]->d_name, ret_pass);
		free(dir);
	}
	if (n >= 0)
		free_list(list, n);
	free(root);
}

/* One classic case: <dir>/<name>.req against .creq, .sts, .authz. */
static bool
run_classic_case(const char *dir, const char *name)
{
	struct sigv4_header hs[TREQ_MAX_HEADERS];
	char label[300];
	char file[4][300];
	struct sigv4_request req;
	struct sigv4_creds creds = {SUITE_AKID, SUITE_SECRET, NULL};
	struct sigv4_params p;
	struct sigv4_result res;
	struct treq t;
	struct treq kept;
	char *text;
	size_t len = 0;
	size_t i;
	bool pass = true;
	int dates = 0;
	int r;

	(void)snprintf(label, sizeof(label), "classic %s", name);
	(void)snprintf(file[0], sizeof(file[0]), "%s.req", name);
	(void)snprintf(file[1], sizeof(file[1]), "%s.creq", name);
	(void)snprintf(file[2], sizeof(file[2]), "%s.sts", name);
	(void)snprintf(file[3], sizeof(file[3]), "%s.authz", name);
	text = read_text(dir, file[0], &len);
	r = text != NULL ? treq_parse(text, len, false, &t) : -ENOENT;
	if (!ok(r == 0, "%s: .req read", label)) {
		if (r != -ENOENT)
			treq_free(&t);
		free(text);
		return false;
	}
	memset(&p, 0, sizeof(p));
	p.region = SUITE_REGION;
	p.service = SUITE_SERVICE;
	p.normalize_path = true;
	p.double_encode_path = true;
	/*
	 * The .req files carry X-Amz-Date (and X-Amz-Security-Token in
	 * post-sts-header-before): headers the signer adds itself. Take the
	 * time and the token from them and sign the rest.
	 */
	kept = t;
	kept.n = 0;
	for (i = 0; i < t.n; i++) {
		if (strcasecmp(t.names[i], "X-Amz-Date") == 0) {
			dates++;
			if (sigv4_parse_amz_date(t.values[i], &p.now) < 0)
				p.now = 0;
		} else if (strcasecmp(t.names[i], "X-Amz-Security-Token") ==
		    0) {
			creds.session_token = t.values[i];
		} else {
			kept.names[kept.n] = t.names[i];
			kept.values[kept.n++] = t.values[i];
		}
	}
	pass &=
	    is_int(dates == 1 ? (long long)p.now : -1, (long long)SUITE_TIME,
		"%s: one X-Amz-Date, the suite's time", label);
	treq_to_request(&kept, hs, &req);
	pass &= check_steps(&req, &creds, &p, SIGV4_MODE_HEADER, dir, file[1],
	    file[2], NULL, label);
	r = sigv4_sign_headers(&req, &creds, &p, &res, NULL);
	(void)snprintf(label, sizeof(label), "classic %s: Authorization", name);
	pass &=
	    check_file(r == 0 ? res.authorization : NULL, dir, file[3], label);
	treq_free(&t);
	free(text);
	return pass;
}

/* A directory holding <name>/<name>.req is a case; others are groups
 * (normalize-path/, post-sts-token/) to walk into. */
static void
walk_classic(const char *root, const char *rel, int *ret_cases, int *ret_pass)
{
	struct dirent **list = NULL;
	int n;
	int i;

	n = list_dir(root, &list);
	if (rel[0] == '\0')
		ok(n >= 0, "classic suite directory %s is there", root);
	for (i = 0; i < n; i++) {
		const char *name = list[i]->d_name;
		char *dir;
		char *req;
		char *sub = NULL;
		struct stat st;

		if (!is_dir(root, name))
			continue;
		dir = path_join(root, name);
		if (dir == NULL || asprintf(&req, "%s/%s.req", dir, name) < 0) {
			free(dir);
			continue;
		}
		if (stat(req, &st) == 0) {
			(*ret_cases)++;
			*ret_pass += run_classic_case(dir, name);
		} else if (asprintf(&sub, "%s%s/", rel, name) >= 0) {
			walk_classic(dir, sub, ret_cases, ret_pass);
		}
		free(sub);
		free(req);
		free(dir);
	}
	if (n >= 0)
		free_list(list, n);
}

int
main(void)
{
	char *root = NULL;
	int c_cases;
	int c_pass;
	int k_cases = 0;
	int k_pass = 0;

	test_hostile();
	test_uri_encode();
	test_dates();
	test_canonical_parts();
	test_botocore();

	test_suite_c_auth(&c_cases, &c_pass);
	if (asprintf(&root, "%s/sigv4/aws-sig-v4-test-suite-classic",
		tap_shared_data()) >= 0)
		walk_classic(root, "", &k_cases, &k_pass);
	free(root);

	is_int(c_cases, SUITE_C_AUTH_CASES, "aws-c-auth: every case found");
	is_int(c_pass, 2 * SUITE_C_AUTH_CASES,
	    "aws-c-auth: every case passes, header and query");
	is_int(k_cases, SUITE_CLASSIC_CASES, "classic: every case found");
	is_int(k_pass, SUITE_CLASSIC_CASES, "classic: every case passes");
	diag_note("sigv4 suite: aws-c-auth %d/%d (header+query), classic %d/%d",
	    c_pass, 2 * c_cases, k_pass, k_cases);
	return done_testing();
}
