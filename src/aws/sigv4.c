/*
 * sigv4.c: see sigv4.h. One builder (sigv4_ctx_build) makes the canonical
 * request for both header signing and presigning, in bounded scratch
 * buffers; the public steps and the two signers are thin wrappers, so the
 * tests exercise the code the daemon runs. Checked against AWS's two SigV4
 * suites (tests/test_sigv4.c) and botocore.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "buf.h"
#include "clock.h"
#include "diag.h"
#include "sigv4.h"

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_TERMINATOR "aws4_request"
#define SIGV4_SHA256_LEN 32
#define SIGV4_DATE_LEN 8 /* "20150830", the scope's date */

/* The parameters presigning adds, refused from the caller's query. */
static const char *const sigv4_query_owned[] = {
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-Security-Token",
    "X-Amz-Signature",
    "X-Amz-SignedHeaders",
};

/* The headers the signer adds or the caller adds from our result. */
static const char *const sigv4_header_owned[] = {
    "authorization",
    "x-amz-content-sha256",
    "x-amz-date",
    "x-amz-security-token",
};

struct sigv4_hent {
	const char *name;
	const char *value;
};

/* A query parameter: both halves encoded, stored in a scratch buffer. */
struct sigv4_qent {
	size_t koff;
	size_t klen;
	size_t voff;
	size_t vlen;
};

struct sigv4_ctx {
	char amz_date[SIGV4_AMZ_DATE_SIZE];
	char payload_hash[SIGV4_HEX_SIZE];
	struct buf creq;           /* the canonical request */
	struct buf uri;            /* canonical URI */
	struct buf headers;        /* canonical headers, one per line */
	struct buf signed_headers; /* "host;x-amz-date" */
	struct buf query;          /* canonical query string */
	struct buf scratch;        /* parameters as encoded, then joined */
	struct buf tmp;            /* one decoded parameter half */
};

const char *
sigv4_mode_str(enum sigv4_mode m)
{
	/* No default: -Wswitch names a mode left out. */
	switch (m) {
	case SIGV4_MODE_HEADER:
		return "header";
	case SIGV4_MODE_QUERY:
		return "query";
	case SIGV4_MODE_COUNT:
		break;
	}
	return "invalid";
}

static bool
sigv4_is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
	    c == '~';
}

/* RFC 9110 tchar: what a header name is made of. */
static bool
sigv4_is_tchar(unsigned char c)
{
	return c != '\0' &&
	    (sigv4_is_unreserved(c) || strchr("!#$%&'*+^`|", c) != NULL);
}

static bool
sigv4_is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static int
sigv4_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static unsigned char
sigv4_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* Byte order of the lowercased names: the canonical header order. */
static int
sigv4_name_cmp(const char *a, const char *b)
{
	unsigned char ca;
	unsigned char cb;

	do {
		ca = sigv4_lower((unsigned char)*a++);
		cb = sigv4_lower((unsigned char)*b++);
	} while (ca != '\0' && ca == cb);
	return (int)ca - (int)cb;
}

static void
sigv4_hex(const unsigned char *p, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * len] = '\0';
}

static void
sigv4_buf_truncate(struct buf *b, size_t len)
{
	b->len = len;
	if (b->data != NULL)
		b->data[len] = '\0';
}

static int
sigv4_sha256_hex(const void *p, size_t len, char out[SIGV4_HEX_SIZE])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_Digest(p != NULL ? p : "", len, md, &n, EVP_sha256(), NULL) !=
		1 ||
	    n != SIGV4_SHA256_LEN)
		return -ENOMEM;
	sigv4_hex(md, SIGV4_SHA256_LEN, out);
	return 0;
}

static int
sigv4_hmac(const void *key, size_t klen, const void *msg, size_t mlen,
    unsigned char out[SIGV4_SHA256_LEN])
{
	unsigned int n = 0;

	/* Keys here are "AWS4" + secret or a 32-byte HMAC: far from INT_MAX
	 * (not <limits.h>: -Isrc makes that name src/limits.h). */
	if (klen > 4 + SIGV4_MAX_SECRET)
		return -E2BIG;
	if (HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &n) == NULL ||
	    n != SIGV4_SHA256_LEN)
		return -ENOMEM;
	return 0;
}

int
sigv4_uri_encode(const char *s, size_t len, bool encode_slash, struct buf *out)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t need = 0;
	size_t i;
	int r;

	if (out == NULL || (s == NULL && len != 0))
		return -EINVAL;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool keep =
		    sigv4_is_unreserved(c) || (c == '/' && !encode_slash);

		if (need > SIZE_MAX - 3)
			return -E2BIG;
		need += keep ? 1 : 3;
	}
	if (need == 0)
		return 0;
	/* Reserve it all first, so nothing below can fail half-way. */
	r = buf_reserve(out, need);
	if (r < 0)
		return r;
	for (i = 0; r == 0 && i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[3] = {'%', digits[c >> 4], digits[c & 15]};

		if (sigv4_is_unreserved(c) || (c == '/' && !encode_slash))
			r = buf_putc(out, (char)c);
		else
			r = buf_append(out, esc, sizeof(esc));
	}
	return r;
}

/* Appends the %XX-decoded bytes of s; a '%' not before two hex digits
 * is -EINVAL. '+' stays '+': AWS does not read it as a space. */
static int
sigv4_uri_decode(const char *s, size_t len, struct buf *out)
{
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < len; i++) {
		int hi;
		int lo;

		if (s[i] != '%') {
			r = buf_putc(out, s[i]);
			continue;
		}
		if (len - i < 3)
			return -EINVAL;
		hi = sigv4_hexval((unsigned char)s[i + 1]);
		lo = sigv4_hexval((unsigned char)s[i + 2]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		r = buf_putc(out, (char)(hi << 4 | lo));
		i += 2;
	}
	return r;
}

/* 1-SIGV4_MAX_NAME characters of [A-Za-z0-9._-]. */
static bool
sigv4_valid_name(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0')
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i == SIGV4_MAX_NAME || !sigv4_is_unreserved(c) || c == '~')
			return false;
	}
	return true;
}

static bool
sigv4_has_token(const struct sigv4_creds *creds)
{
	return creds->session_token != NULL && creds->session_token[0] != '\0';
}

/* Region, service and time: what the scope and X-Amz-Date need. */
static int
sigv4_check_params(const struct sigv4_params *p,
    char amz_date[SIGV4_AMZ_DATE_SIZE], struct diag *reterr)
{
	if (p == NULL)
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "sigv4: no params");
	if (!sigv4_valid_name(p->region))
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "sigv4: region must be 1-%d of [A-Za-z0-9._-]",
		    SIGV4_MAX_NAME);
	if (!sigv4_valid_name(p->service))
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "sigv4: service must be 1-%d of [A-Za-z0-9._-]",
		    SIGV4_MAX_NAME);
	if (sigv4_amz_date(p->now, amz_date) < 0)
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "sigv4: signing time %lld is outside years 1970-9999",
		    (long long)p->now);
	return 0;
}

static int
sigv4_check_secret(const struct sigv4_creds *creds, struct diag *reterr)
{
	size_t len;

	if (creds == NULL)
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "sigv4: no credentials");
	if (creds->secret_access_key == NULL ||
	    creds->secret_access_key[0] == '\0')
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "sigv4: empty secret access key");
	len = strnlen(creds->secret_access_key, SIGV4_MAX_SECRET + 1);
	if (len > SIGV4_MAX_SECRET)
		return diag_set(reterr, -E2BIG, NULL, 0, 0,
		    "sigv4: secret access key longer than %d bytes",
		    SIGV4_MAX_SECRET);
	return 0;
}

static int
sigv4_check_creds(const struct sigv4_creds *creds, struct diag *reterr)
{
	const char *t;
	size_t i;
	int r;

	r = sigv4_check_secret(creds, reterr);
	if (r < 0)
		return r;
	if (!sigv4_valid_name(creds->access_key_id))
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "sigv4: access key id must be 1-%d of [A-Za-z0-9._-]",
		    SIGV4_MAX_NAME);
	if (!sigv4_has_token(creds))
		return 0;
	/* It goes into a header: printable ASCII only, no spaces. */
	t = creds->session_token;
	for (i = 0; t[i] != '\0'; i++) {
		if (i == SIGV4_MAX_TOKEN)
			return diag_set(reterr, -E2BIG, NULL, 0, 0,
			    "sigv4: session token longer than %u bytes",
			    SIGV4_MAX_TOKEN);
		if ((unsigned char)t[i] <= ' ' || (unsigned char)t[i] >= 0x7f)
			return diag_set(reterr, -EINVAL, NULL, 0, 0,
			    "sigv4: session token has a byte outside "
			    "printable ASCII at offset %zu",
			    i);
	}
	return 0;
}

static bool
sigv4_valid_payload_hash(const char *h)
{
	size_t i;

	if (strcmp(h, SIGV4_UNSIGNED_PAYLOAD) == 0)
		return true;
	for (i = 0; i < 2 * SIGV4_SHA256_LEN; i++)
		if (!((h[i] >= '0' && h[i] <= '9') ||
			(h[i] >= 'a' && h[i] <= 'f')))
			return false;
	return h[i] == '\0';
}

static int
sigv4_check_request(const struct sigv4_request *req, struct diag *reterr)
{
	size_t i;

	if (req == NULL)
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "sigv4: no request");
	if (req->method == NULL || req->method[0] == '\0')
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "sigv4: no method");
	for (i = 0; req->method[i] != '\0'; i++)
		if (i == 16 || req->method[i] < 'A' || req->method[i] > 'Z')
			return diag_set(reterr, -EINVAL, NULL, 0, 0,
			    "sigv4: method must be 1-16 of A-Z");
	if (req->n_headers != 0 && req->headers == NULL)
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "sigv4: %zu headers but no array", req->n_headers);
	if (req->n_headers > SIGV4_MAX_HEADERS)
		return diag_set(reterr, -E2BIG, NULL, 0, 0,
		    "sigv4: %zu headers, at most %d", req->n_headers,
		    SIGV4_MAX_HEADERS);
	if (req->body == NULL && req->body_len != 0)
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "sigv4: body length %zu but no body", req->body_len);
	if (req->payload_hash != NULL &&
	    !sigv4_valid_payload_hash(req->payload_hash))
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "sigv4: payload hash must be " SIGV4_UNSIGNED_PAYLOAD
		    " or 64 lowercase hex digits");
	return 0;
}

/*
 * Removes empty, "." and ".." segments as botocore's remove_dot_segments()
 * and aws-c-auth do (a ".." at the root stays at the root); the result
 * starts with '/' and ends with one if s did and something is left.
 */
static int
sigv4_normalize_path(const char *s, size_t len, struct buf *out)
{
	size_t start = 0;
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i <= len; i++) {
		const char *seg = s + start;
		size_t n = i - start;

		if (i < len && s[i] != '/')
			continue;
		start = i + 1;
		if (n == 0 || (n == 1 && seg[0] == '.'))
			continue;
		if (n == 2 && seg[0] == '.' && seg[1] == '.') {
			size_t l = out->len;

			while (l > 0 && out->data[l - 1] != '/')
				l--;
			sigv4_buf_truncate(out, l > 0 ? l - 1 : 0);
			continue;
		}
		r = buf_putc(out, '/');
		if (r == 0)
			r = buf_append(out, seg, n);
	}
	if (r == 0 && out->len == 0)
		r = buf_putc(out, '/');
	else if (r == 0 && len > 0 && s[len - 1] == '/')
		r = buf_putc(out, '/');
	return r;
}

static int
sigv4_canonical_uri(struct sigv4_ctx *c, const struct sigv4_request *req,
    const struct sigv4_params *p, struct diag *reterr)
{
	const char *path = req->path;
	size_t len;
	size_t i;
	int r;

	if (path == NULL || path[0] == '\0')
		path = "/";
	len = strnlen(path, SIGV4_MAX_CANONICAL + 1);
	if (len > SIGV4_MAX_CANONICAL)
		return diag_set(reterr, -E2BIG, NULL, 0, 0,
		    "sigv4: path longer than %u bytes", SIGV4_MAX_CANONICAL);
	if (path[0] != '/')
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "sigv4: path must start with '/'");
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)path[i];

		if (sigv4_is_ctl(ch) || ch == '?' || ch == '#')
			return diag_set(reterr, -EINVAL, NULL, 0, 0,
			    "sigv4: path byte %zu is a control character, "
			    "'?' or '#'",
			    i + 1);
	}
	if (p->normalize_path) {
		r = sigv4_normalize_path(path, len, &c->tmp);
		if (r < 0)
			return r;
		path = c->tmp.data;
		len = c->tmp.len;
	}
	if (p->double_encode_path)
		return sigv4_uri_encode(path, len, false, &c->uri);
	/* S3: signed as sent, so it must already be in canonical form. */
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)path[i];

		if (sigv4_is_unreserved(ch) || ch == '/')
			continue;
		if (ch == '%' && len - i >= 3 &&
		    sigv4_hexval((unsigned char)path[i + 1]) >= 0 &&
		    sigv4_hexval((unsigned char)path[i + 2]) >= 0 &&
		    !(path[i + 1] >= 'a' && path[i + 1] <= 'f') &&
		    !(path[i + 2] >= 'a' && path[i + 2] <= 'f')) {
			i += 2;
			continue;
		}
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "sigv4: path byte %zu is not URI-encoded as S3 signs it "
		    "(build the path with sigv4_uri_encode)",
		    i + 1);
	}
	return buf_append(&c->uri, path, len);
}

static bool
sigv4_header_owned_by_us(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(sigv4_header_owned); i++)
		if (sigv4_name_cmp(name, sigv4_header_owned[i]) == 0)
			return true;
	return false;
}

static int
sigv4_check_header(const struct sigv4_header *h, size_t idx,
    struct diag *reterr)
{
	size_t i;

	if (h->name == NULL || h->name[0] == '\0' || h->value == NULL)
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "sigv4: header %zu: no name or no value", idx + 1);
	for (i = 0; h->name[i] != '\0'; i++)
		if (i == SIGV4_MAX_NAME || !sigv4_is_tchar(h->name[i]))
			return diag_set(reterr, -EINVAL, NULL, 0, 0,
			    "sigv4: header %zu: name is not an HTTP token of "
			    "at most %d characters",
			    idx + 1, SIGV4_MAX_NAME);
	if (sigv4_header_owned_by_us(h->name))
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "sigv4: header '%s' is the signer's to add", h->name);
	for (i = 0; h->value[i] != '\0'; i++)
		if (sigv4_is_ctl((unsigned char)h->value[i]) &&
		    h->value[i] != '\t')
			return diag_set(reterr, -EINVAL, NULL, 0, 0,
			    "sigv4: header '%s': control character in value",
			    h->name);
	return 0;
}

/* The value with leading and trailing blanks gone, inner runs one SP. */
static int
sigv4_put_trimmed(struct buf *b, const char *v)
{
	bool blank = false;
	bool started = false;
	int r = 0;

	for (; r == 0 && *v != '\0'; v++) {
		if (*v == ' ' || *v == '\t') {
			blank = started;
			continue;
		}
		if (blank)
			r = buf_putc(b, ' ');
		if (r == 0)
			r = buf_putc(b, *v);
		blank = false;
		started = true;
	}
	return r;
}

static int
sigv4_put_lower(struct buf *b, const char *s)
{
	int r = 0;

	for (; r == 0 && *s != '\0'; s++)
		r = buf_putc(b, (char)sigv4_lower((unsigned char)*s));
	return r;
}

/*
 * Canonical headers and the signed header list. Names sort by their
 * lowercase bytes; a repeated name becomes one line, its values joined
 * with ',' in the order given (a stable sort keeps that order).
 */
static int
sigv4_canonical_headers(struct sigv4_ctx *c, const struct sigv4_request *req,
    const struct sigv4_creds *creds, const struct sigv4_params *p,
    enum sigv4_mode mode, struct diag *reterr)
{
	struct sigv4_hent ents[SIGV4_MAX_HEADERS + 3];
	bool have_host = false;
	size_t n = 0;
	size_t i;
	size_t j;
	int r;

	for (i = 0; i < req->n_headers; i++) {
		r = sigv4_check_header(&req->headers[i], i, reterr);
		if (r < 0)
			return r;
		if (sigv4_name_cmp(req->headers[i].name, "host") == 0)
			have_host = true;
		ents[n].name = req->headers[i].name;
		ents[n++].value = req->headers[i].value;
	}
	if (!have_host)
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "sigv4: no host header");
	if (mode == SIGV4_MODE_HEADER) {
		ents[n].name = "x-amz-date";
		ents[n++].value = c->amz_date;
		if (sigv4_has_token(creds) && !p->omit_session_token) {
			ents[n].name = "x-amz-security-token";
			ents[n++].value = creds->session_token;
		}
		if (p->sign_payload_header) {
			ents[n].name = "x-amz-content-sha256";
			ents[n++].value = c->payload_hash;
		}
	}
	/* Insertion sort: stable, and n is small. */
	for (i = 1; i < n; i++) {
		struct sigv4_hent e = ents[i];

		for (j = i;
		     j > 0 && sigv4_name_cmp(ents[j - 1].name, e.name) > 0; j--)
			ents[j] = ents[j - 1];
		ents[j] = e;
	}
	r = 0;
	for (i = 0; r == 0 && i < n; i = j) {
		if (i > 0)
			r = buf_putc(&c->signed_headers, ';');
		if (r == 0)
			r = sigv4_put_lower(&c->signed_headers, ents[i].name);
		if (r == 0)
			r = sigv4_put_lower(&c->headers, ents[i].name);
		if (r == 0)
			r = buf_putc(&c->headers, ':');
		for (j = i; r == 0 && j < n &&
		     sigv4_name_cmp(ents[j].name, ents[i].name) == 0;
		     j++) {
			if (j > i)
				r = buf_putc(&c->headers, ',');
			if (r == 0)
				r = sigv4_put_trimmed(&c->headers,
				    ents[j].value);
		}
		if (r == 0)
			r = buf_putc(&c->headers, '\n');
	}
	return r;
}

/* Encodes a decoded key and value into c->scratch and records them. */
static int
sigv4_query_add(struct sigv4_ctx *c, struct sigv4_qent *ents, size_t *n,
    const char *k, size_t klen, const char *v, size_t vlen)
{
	struct sigv4_qent *e = &ents[*n];
	int r;

	e->koff = c->scratch.len;
	r = sigv4_uri_encode(k, klen, true, &c->scratch);
	if (r < 0)
		return r;
	e->klen = c->scratch.len - e->koff;
	e->voff = c->scratch.len;
	r = sigv4_uri_encode(v, vlen, true, &c->scratch);
	if (r < 0)
		return r;
	e->vlen = c->scratch.len - e->voff;
	(*n)++;
	return 0;
}

static int
sigv4_span_cmp(const char *base, size_t aoff, size_t alen, size_t boff,
    size_t blen)
{
	int d = memcmp(base + aoff, base + boff, alen < blen ? alen : blen);

	if (d != 0)
		return d;
	return alen < blen ? -1 : alen > blen;
}

/* By encoded key, then encoded value: Param < Param-3, not the reverse
 * that sorting whole "key=value" strings would give. */
static int
sigv4_qent_cmp(const char *base, const struct sigv4_qent *a,
    const struct sigv4_qent *b)
{
	int d = sigv4_span_cmp(base, a->koff, a->klen, b->koff, b->klen);

	return d != 0
	    ? d
	    : sigv4_span_cmp(base, a->voff, a->vlen, b->voff, b->vlen);
}

static bool
sigv4_query_owned_by_us(const char *k, size_t klen)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(sigv4_query_owned); i++) {
		const char *o = sigv4_query_owned[i];
		size_t j;

		if (strlen(o) != klen)
			continue;
		for (j = 0; j < klen; j++)
			if (sigv4_lower((unsigned char)o[j]) !=
			    sigv4_lower((unsigned char)k[j]))
				break;
		if (j == klen)
			return true;
	}
	return false;
}

/*
 * The caller's parameters: split on '&', then on the first '='; each half
 * %-decoded, then encoded again the AWS way, so "%E1%88%B4" and the raw
 * UTF-8 bytes sign alike. Empty pieces ("a=1&&b=2") are dropped; a name
 * without '=' gets an empty value ("a" signs as "a=").
 */
static int
sigv4_query_parse(struct sigv4_ctx *c, const char *q, struct sigv4_qent *ents,
    size_t *n, enum sigv4_mode mode, struct diag *reterr)
{
	size_t len = strnlen(q, SIGV4_MAX_CANONICAL + 1);
	size_t start = 0;
	size_t i;
	int r;

	if (len > SIGV4_MAX_CANONICAL)
		return diag_set(reterr, -E2BIG, NULL, 0, 0,
		    "sigv4: query longer than %u bytes", SIGV4_MAX_CANONICAL);
	for (i = 0; i < len; i++)
		if (sigv4_is_ctl((unsigned char)q[i]) || q[i] == '#')
			return diag_set(reterr, -EINVAL, NULL, 0, 0,
			    "sigv4: query byte %zu is a control character or "
			    "'#'",
			    i + 1);
	for (i = 0; i <= len; i++) {
		const char *piece = q + start;
		size_t plen = i - start;
		const char *eq;
		size_t klen;

		if (i < len && q[i] != '&')
			continue;
		start = i + 1;
		if (plen == 0)
			continue;
		if (*n == SIGV4_MAX_QUERY_PARAMS)
			return diag_set(reterr, -E2BIG, NULL, 0, 0,
			    "sigv4: more than %d query parameters",
			    SIGV4_MAX_QUERY_PARAMS);
		eq = memchr(piece, '=', plen);
		buf_reset(&c->tmp);
		r = sigv4_uri_decode(piece,
		    eq != NULL ? (size_t)(eq - piece) : plen, &c->tmp);
		klen = c->tmp.len;
		if (r == 0 && eq != NULL)
			r = sigv4_uri_decode(eq + 1,
			    plen - (size_t)(eq - piece) - 1, &c->tmp);
		if (r == -EINVAL)
			return diag_set(reterr, r, NULL, 0, 0,
			    "sigv4: query parameter %zu: '%%' not followed "
			    "by two hex digits",
			    *n + 1);
		if (r < 0)
			return r;
		if (mode == SIGV4_MODE_QUERY &&
		    sigv4_query_owned_by_us(c->tmp.data, klen))
			return diag_set(reterr, -EINVAL, NULL, 0, 0,
			    "sigv4: query parameter %zu is one the signer "
			    "adds",
			    *n + 1);
		r = sigv4_query_add(c, ents, n, c->tmp.data, klen,
		    c->tmp.data + klen, c->tmp.len - klen);
		if (r < 0)
			return r;
	}
	return 0;
}

static int
sigv4_query_add_str(struct sigv4_ctx *c, struct sigv4_qent *ents, size_t *n,
    const char *k, const char *v)
{
	return sigv4_query_add(c, ents, n, k, strlen(k), v, strlen(v));
}

/* The canonical query; presigning adds its X-Amz-* parameters first. */
static int
sigv4_canonical_query(struct sigv4_ctx *c, const struct sigv4_request *req,
    const struct sigv4_creds *creds, const struct sigv4_params *p,
    enum sigv4_mode mode, struct diag *reterr)
{
	struct sigv4_qent ents[SIGV4_MAX_QUERY_PARAMS + 6];
	char expires[16];
	size_t n = 0;
	size_t i;
	size_t j;
	int r = 0;

	if (req->query != NULL) {
		r = sigv4_query_parse(c, req->query, ents, &n, mode, reterr);
		if (r < 0)
			return r;
	}
	if (mode == SIGV4_MODE_QUERY) {
		buf_reset(&c->tmp);
		r = buf_printf(&c->tmp, "%s/%.8s/%s/%s/" SIGV4_TERMINATOR,
		    creds->access_key_id, c->amz_date, p->region, p->service);
		(void)snprintf(expires, sizeof(expires), "%u", p->expires_s);
		if (r == 0)
			r = sigv4_query_add_str(c, ents, &n, "X-Amz-Algorithm",
			    SIGV4_ALGORITHM);
		if (r == 0)
			r = sigv4_query_add_str(c, ents, &n, "X-Amz-Credential",
			    c->tmp.data);
		if (r == 0)
			r = sigv4_query_add_str(c, ents, &n, "X-Amz-Date",
			    c->amz_date);
		if (r == 0)
			r = sigv4_query_add_str(c, ents, &n, "X-Amz-Expires",
			    expires);
		if (r == 0 && sigv4_has_token(creds) && !p->omit_session_token)
			r = sigv4_query_add_str(c, ents, &n,
			    "X-Amz-Security-Token", creds->session_token);
		if (r == 0)
			r = sigv4_query_add_str(c, ents, &n,
			    "X-Amz-SignedHeaders", c->signed_headers.data);
		if (r < 0)
			return r;
	}
	for (i = 1; i < n; i++) {
		struct sigv4_qent e = ents[i];

		for (j = i; j > 0 &&
		     sigv4_qent_cmp(c->scratch.data, &ents[j - 1], &e) > 0;
		     j--)
			ents[j] = ents[j - 1];
		ents[j] = e;
	}
	for (i = 0; r == 0 && i < n; i++) {
		if (i > 0)
			r = buf_putc(&c->query, '&');
		if (r == 0)
			r = buf_append(&c->query,
			    c->scratch.data + ents[i].koff, ents[i].klen);
		if (r == 0)
			r = buf_putc(&c->query, '=');
		if (r == 0)
			r = buf_append(&c->query,
			    c->scratch.data + ents[i].voff, ents[i].vlen);
	}
	return r;
}

static void
sigv4_ctx_init(struct sigv4_ctx *c)
{
	memset(c, 0, sizeof(*c));
	buf_init(&c->creq, SIGV4_MAX_CANONICAL);
	buf_init(&c->uri, SIGV4_MAX_CANONICAL);
	buf_init(&c->headers, SIGV4_MAX_CANONICAL);
	buf_init(&c->signed_headers, SIGV4_MAX_CANONICAL);
	buf_init(&c->query, SIGV4_MAX_CANONICAL);
	buf_init(&c->scratch, SIGV4_MAX_CANONICAL);
	buf_init(&c->tmp, SIGV4_MAX_CANONICAL);
}

static void
sigv4_ctx_done(struct sigv4_ctx *c)
{
	/* The token may have passed through tmp, scratch and creq. */
	if (c->tmp.data != NULL)
		OPENSSL_cleanse(c->tmp.data, c->tmp.cap);
	if (c->scratch.data != NULL)
		OPENSSL_cleanse(c->scratch.data, c->scratch.cap);
	if (c->headers.data != NULL)
		OPENSSL_cleanse(c->headers.data, c->headers.cap);
	if (c->query.data != NULL)
		OPENSSL_cleanse(c->query.data, c->query.cap);
	if (c->creq.data != NULL)
		OPENSSL_cleanse(c->creq.data, c->creq.cap);
	buf_done(&c->creq);
	buf_done(&c->uri);
	buf_done(&c->headers);
	buf_done(&c->signed_headers);
	buf_done(&c->query);
	buf_done(&c->scratch);
	buf_done(&c->tmp);
}

/* Checks everything, then builds c->creq. Errors as sigv4.h says. */
static int
sigv4_ctx_build(struct sigv4_ctx *c, const struct sigv4_request *req,
    const struct sigv4_creds *creds, const struct sigv4_params *p,
    enum sigv4_mode mode, struct diag *reterr)
{
	int r;

	if (mode != SIGV4_MODE_HEADER && mode != SIGV4_MODE_QUERY)
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "sigv4: bad mode %d", (int)mode);
	r = sigv4_check_request(req, reterr);
	if (r == 0)
		r = sigv4_check_creds(creds, reterr);
	if (r == 0)
		r = sigv4_check_params(p, c->amz_date, reterr);
	if (r < 0)
		return r;
	if (mode == SIGV4_MODE_QUERY &&
	    (p->expires_s == 0 || p->expires_s > SIGV4_MAX_EXPIRES))
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "sigv4: expiry must be 1-%u seconds", SIGV4_MAX_EXPIRES);
	if (req->payload_hash != NULL)
		(void)snprintf(c->payload_hash, sizeof(c->payload_hash), "%s",
		    req->payload_hash);
	else if (sigv4_sha256_hex(req->body, req->body_len, c->payload_hash) <
	    0)
		return diag_set(reterr, -ENOMEM, NULL, 0, 0,
		    "sigv4: libcrypto SHA-256 failed");

	r = sigv4_canonical_uri(c, req, p, reterr);
	if (r == 0)
		r = sigv4_canonical_headers(c, req, creds, p, mode, reterr);
	if (r == 0)
		r = sigv4_canonical_query(c, req, creds, p, mode, reterr);
	if (r == 0)
		r = buf_printf(&c->creq, "%s\n%s\n%s\n%s\n%s\n%s", req->method,
		    c->uri.data, c->query.len > 0 ? c->query.data : "",
		    c->headers.data, c->signed_headers.data, c->payload_hash);
	if (r == -E2BIG)
		return diag_set(reterr, r, NULL, 0, 0,
		    "sigv4: canonical request over %u bytes",
		    SIGV4_MAX_CANONICAL);
	return r;
}

static int
sigv4_sts_append(const char *amz_date, const struct sigv4_params *p,
    const char *creq, size_t len, struct buf *out)
{
	char hash[SIGV4_HEX_SIZE];
	int r;

	r = sigv4_sha256_hex(creq, len, hash);
	if (r < 0)
		return r;
	return buf_printf(out,
	    SIGV4_ALGORITHM "\n%s\n%.8s/%s/%s/" SIGV4_TERMINATOR "\n%s",
	    amz_date, amz_date, p->region, p->service, hash);
}

/* kSigning = HMAC chain from "AWS4" + secret over date, region, service,
 * "aws4_request"; then the signature over sts. */
static int
sigv4_sign(const char *secret, const char *amz_date,
    const struct sigv4_params *p, const char *sts, size_t len,
    char ret[SIGV4_HEX_SIZE])
{
	unsigned char key[4 + SIGV4_MAX_SECRET];
	unsigned char a[SIGV4_SHA256_LEN];
	unsigned char b[SIGV4_SHA256_LEN];
	size_t slen = strlen(secret);
	int r;

	memcpy(key, "AWS4", 4);
	memcpy(key + 4, secret, slen);
	r = sigv4_hmac(key, 4 + slen, amz_date, SIGV4_DATE_LEN, a);
	if (r == 0)
		r = sigv4_hmac(a, sizeof(a), p->region, strlen(p->region), b);
	if (r == 0)
		r = sigv4_hmac(b, sizeof(b), p->service, strlen(p->service), a);
	if (r == 0)
		r = sigv4_hmac(a, sizeof(a), SIGV4_TERMINATOR,
		    strlen(SIGV4_TERMINATOR), b);
	if (r == 0)
		r = sigv4_hmac(b, sizeof(b), sts, len, a);
	if (r == 0)
		sigv4_hex(a, sizeof(a), ret);
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(a, sizeof(a));
	OPENSSL_cleanse(b, sizeof(b));
	return r;
}

int
sigv4_canonical_request(const struct sigv4_request *req,
    const struct sigv4_creds *creds, const struct sigv4_params *p,
    enum sigv4_mode mode, struct buf *out, struct diag *reterr)
{
	struct sigv4_ctx c;
	int r;

	if (out == NULL)
		return -EINVAL;
	sigv4_ctx_init(&c);
	r = sigv4_ctx_build(&c, req, creds, p, mode, reterr);
	if (r == 0)
		r = buf_append(out, c.creq.data, c.creq.len);
	if (r == -E2BIG)
		(void)diag_set(reterr, r, NULL, 0, 0,
		    "sigv4: output buffer too small");
	sigv4_ctx_done(&c);
	return r;
}

int
sigv4_string_to_sign(const struct sigv4_params *p, const char *creq, size_t len,
    struct buf *out, struct diag *reterr)
{
	char amz_date[SIGV4_AMZ_DATE_SIZE];
	size_t len0;
	int r;

	if (out == NULL || (creq == NULL && len != 0))
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "sigv4: no canonical request or output");
	r = sigv4_check_params(p, amz_date, reterr);
	if (r < 0)
		return r;
	len0 = out->len;
	r = sigv4_sts_append(amz_date, p, creq, len, out);
	if (r < 0) {
		sigv4_buf_truncate(out, len0);
		return diag_set(reterr, r, NULL, 0, 0,
		    "sigv4: cannot make the string to sign");
	}
	return 0;
}

int
sigv4_signature(const struct sigv4_creds *creds, const struct sigv4_params *p,
    const char *sts, size_t len, char ret[SIGV4_HEX_SIZE], struct diag *reterr)
{
	char amz_date[SIGV4_AMZ_DATE_SIZE];
	char sig[SIGV4_HEX_SIZE];
	int r;

	if (ret == NULL || (sts == NULL && len != 0))
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "sigv4: no string to sign or output");
	r = sigv4_check_secret(creds, reterr);
	if (r == 0)
		r = sigv4_check_params(p, amz_date, reterr);
	if (r < 0)
		return r;
	r = sigv4_sign(creds->secret_access_key, amz_date, p,
	    sts != NULL ? sts : "", len, sig);
	if (r < 0)
		return diag_set(reterr, r, NULL, 0, 0,
		    "sigv4: libcrypto HMAC-SHA256 failed");
	memcpy(ret, sig, sizeof(sig));
	return 0;
}

/* Canonical request, string to sign, signature: c->creq and sig. */
static int
sigv4_run(struct sigv4_ctx *c, const struct sigv4_request *req,
    const struct sigv4_creds *creds, const struct sigv4_params *p,
    enum sigv4_mode mode, char sig[SIGV4_HEX_SIZE], struct diag *reterr)
{
	int r;

	r = sigv4_ctx_build(c, req, creds, p, mode, reterr);
	if (r < 0)
		return r;
	buf_reset(&c->tmp);
	r = sigv4_sts_append(c->amz_date, p, c->creq.data, c->creq.len,
	    &c->tmp);
	if (r == 0)
		r = sigv4_sign(creds->secret_access_key, c->amz_date, p,
		    c->tmp.data, c->tmp.len, sig);
	if (r < 0)
		return diag_set(reterr, r, NULL, 0, 0,
		    "sigv4: cannot sign the string to sign");
	return 0;
}

int
sigv4_sign_headers(const struct sigv4_request *req,
    const struct sigv4_creds *creds, const struct sigv4_params *p,
    struct sigv4_result *ret, struct diag *reterr)
{
	struct sigv4_result res;
	struct sigv4_ctx c;
	int n;
	int r;

	if (ret == NULL)
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "sigv4: no result");
	sigv4_ctx_init(&c);
	r = sigv4_run(&c, req, creds, p, SIGV4_MODE_HEADER, res.signature,
	    reterr);
	if (r < 0)
		goto fail;
	memcpy(res.amz_date, c.amz_date, sizeof(res.amz_date));
	memcpy(res.payload_hash, c.payload_hash, sizeof(res.payload_hash));
	n = snprintf(res.authorization, sizeof(res.authorization),
	    SIGV4_ALGORITHM " Credential=%s/%.8s/%s/%s/" SIGV4_TERMINATOR
			    ", SignedHeaders=%s, Signature=%s",
	    creds->access_key_id, c.amz_date, p->region, p->service,
	    c.signed_headers.data, res.signature);
	if (n < 0 || (size_t)n >= sizeof(res.authorization)) {
		r = diag_set(reterr, -E2BIG, NULL, 0, 0,
		    "sigv4: Authorization longer than %d bytes",
		    SIGV4_AUTH_SIZE - 1);
		goto fail;
	}
	*ret = res;
fail:
	sigv4_ctx_done(&c);
	return r;
}

int
sigv4_presign_query(const struct sigv4_request *req,
    const struct sigv4_creds *creds, const struct sigv4_params *p,
    struct buf *ret_query, struct diag *reterr)
{
	char sig[SIGV4_HEX_SIZE];
	struct sigv4_ctx c;
	size_t len0;
	int r;

	if (ret_query == NULL)
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "sigv4: no output buffer");
	len0 = ret_query->len;
	sigv4_ctx_init(&c);
	r = sigv4_run(&c, req, creds, p, SIGV4_MODE_QUERY, sig, reterr);
	if (r < 0)
		goto fail;
	r = buf_append(ret_query, c.query.data, c.query.len);
	if (r == 0)
		r = buf_printf(ret_query, "&X-Amz-Signature=%s", sig);
	if (r == 0 && sigv4_has_token(creds) && p->omit_session_token) {
		r = buf_puts(ret_query, "&X-Amz-Security-Token=");
		if (r == 0)
			r = sigv4_uri_encode(creds->session_token,
			    strlen(creds->session_token), true, ret_query);
	}
	if (r < 0) {
		sigv4_buf_truncate(ret_query, len0);
		(void)diag_set(reterr, r, NULL, 0, 0,
		    "sigv4: presigned query does not fit the output buffer");
	}
fail:
	sigv4_ctx_done(&c);
	return r;
}

/* "20150830T123600Z": digits where shape has 'd', else its character. */
int
sigv4_parse_amz_date(const char *s, time_t *ret)
{
	static const char shape[] = "ddddddddTddddddZ";
	static const int width[6] = {4, 2, 2, 2, 2, 2};
	int f[6] = {0, 0, 0, 0, 0, 0}; /* year, month, day, h, m, s */
	size_t i;
	size_t k = 0;
	int n = 0;

	if (s == NULL || ret == NULL || strlen(s) != sizeof(shape) - 1)
		return -EINVAL;
	for (i = 0; i < sizeof(shape) - 1; i++) {
		if (shape[i] != 'd') {
			if (s[i] != shape[i])
				return -EINVAL;
			continue;
		}
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		f[k] = f[k] * 10 + (s[i] - '0');
		if (++n == width[k]) {
			k++;
			n = 0;
		}
	}
	if (f[5] > 59)
		return -EINVAL;
	return clock_make_time(f[0], f[1], f[2], f[3], f[4], f[5], ret);
}

int
sigv4_amz_date(time_t t, char ret[SIGV4_AMZ_DATE_SIZE])
{
	char out[SIGV4_AMZ_DATE_SIZE];
	struct tm tm;

	if (ret == NULL || gmtime_r(&t, &tm) == NULL || tm.tm_year < 70 ||
	    tm.tm_year > 9999 - 1900)
		return -EINVAL;
	if (strftime(out, sizeof(out), "%Y%m%dT%H%M%SZ", &tm) !=
	    SIGV4_AMZ_DATE_SIZE - 1)
		return -EINVAL;
	memcpy(ret, out, sizeof(out));
	return 0;
}
