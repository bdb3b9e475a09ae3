/*
 * sns.c: see sns.h. A verify is a struct sns_op with its own (fd-less)
 * event: every result, even one known at once, is delivered by activating
 * that event, so callbacks always come from the loop, once, and a callback
 * that frees the verifier frees nothing the loop still walks. An op waiting
 * for a certificate points at its cache slot (a slot being fetched is never
 * evicted); an op ready to run holds its own reference to the X509, so an
 * eviction in between cannot pull it away.
 */
#include <assert.h>
#include <errno.h>
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "buf.h"
#include "diag.h"
#include "http.h"
#include "quote.h"
#include "sns.h"

/* RSA 8192 signs in 1024 bytes; SNS uses 2048-bit keys (256 bytes). */
#define SNS_MAX_SIG 1024u
/* The string to sign holds the Message (256 KiB at most) and a few ids. */
#define SNS_MAX_TO_SIGN (512u << 10)
#define SNS_MAX_URL 2048u
#define SNS_MIN_RSA_BITS 2048
/* Untrusted text quoted in a diag. */
#define SNS_QUOTE_MAX 120

struct sns_verifier;

struct sns_cert {
	struct sns_verifier *v;
	char *url;            /* NULL: a free slot */
	X509 *x509;           /* NULL while the fetch is in flight */
	struct http_req *req; /* the fetch in flight */
	uint64_t used;        /* last use, for LRU eviction */
};

struct sns_op {
	struct sns_verifier *v;
	struct json_object *env; /* our reference */
	sns_verify_cb *cb;
	void *arg;
	struct event *ev;
	struct sns_cert *wait; /* the slot being fetched for us */
	X509 *x509;            /* ready: our reference to the certificate */
	int r;                 /* < 0: the result, known before any check */
	struct diag d;
	struct sns_op *prev;
	struct sns_op *next;
};

struct sns_verifier {
	struct event_base *base;
	struct http *http;
	regex_t re;
	time_t (*now)(void);
	struct sns_cert certs[SNS_CERT_CACHE];
	uint64_t tick;
	struct sns_op *ops;
};

/* What a signature check needs, taken from the envelope. */
struct sns_sig {
	const EVP_MD *md;
	unsigned char sig[SNS_MAX_SIG];
	size_t sig_len;
	const char *cert_url;
	size_t cert_url_len;
};

/* A string member: 1 present, 0 absent or null, -EPROTO another type. */
static int
sns_field(struct json_object *env, const char *key, const char **ret,
    size_t *ret_len, struct diag *reterr)
{
	struct json_object *v;

	if (!json_object_object_get_ex(env, key, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return diag_set(reterr, -EPROTO, NULL, 0, 0,
		    "SNS message field '%s' is not a string", key);
	*ret = json_object_get_string(v);
	*ret_len = (size_t)json_object_get_string_len(v);
	return 1;
}

int
sns_string_to_sign(struct json_object *envelope, struct buf *out,
    struct diag *reterr)
{
	static const char *const notification[] = {"Message", "MessageId",
	    "Subject", "Timestamp", "TopicArn", "Type"};
	static const char *const confirmation[] = {"Message", "MessageId",
	    "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"};
	const char *const *keys;
	const char *type = NULL;
	size_t n;
	size_t len = 0;
	size_t i;
	char q[QUOTE_SIZE(SNS_QUOTE_MAX)];
	int r;

	if (!json_object_is_type(envelope, json_type_object))
		return diag_set(reterr, -EPROTO, NULL, 0, 0,
		    "SNS message is not a JSON object");
	r = sns_field(envelope, "Type", &type, &len, reterr);
	if (r == 0)
		return diag_set(reterr, -EPROTO, NULL, 0, 0,
		    "SNS message lacks 'Type'");
	if (r < 0)
		return r;
	if (strcmp(type, "Notification") == 0) {
		keys = notification;
		n = ARRAY_SIZE(notification);
	} else if (strcmp(type, "SubscriptionConfirmation") == 0 ||
	    strcmp(type, "UnsubscribeConfirmation") == 0) {
		keys = confirmation;
		n = ARRAY_SIZE(confirmation);
	} else {
		return diag_set(reterr, -EPROTO, NULL, 0, 0,
		    "SNS message Type '%s' is not one SNS signs",
		    quote_bytes(q, sizeof(q), type, len, SNS_QUOTE_MAX));
	}
	for (i = 0; i < n; i++) {
		const char *val = NULL;

		r = sns_field(envelope, keys[i], &val, &len, reterr);
		if (r < 0)
			return r;
		if (r == 0 && strcmp(keys[i], "Subject") == 0)
			continue; /* signed only when present */
		if (r == 0)
			return diag_set(reterr, -EPROTO, NULL, 0, 0,
			    "SNS %s lacks '%s'", type, keys[i]);
		r = buf_puts(out, keys[i]);
		r = r < 0 ? r : buf_putc(out, '\n');
		r = r < 0 ? r : buf_append(out, val, len);
		r = r < 0 ? r : buf_putc(out, '\n');
		if (r < 0)
			return diag_set(reterr, r, NULL, 0, 0,
			    "SNS string to sign: %s", strerror(-r));
	}
	return 0;
}

static int
sns_b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict RFC 4648 base64, padding required: no whitespace, no URL-safe
 * alphabet. -1 if malformed or longer than max once decoded. */
static int
sns_b64decode(const char *s, size_t len, unsigned char *out, size_t max,
    size_t *ret_len)
{
	size_t pad = 0;
	size_t n = 0;
	size_t i;
	size_t o = 0;
	uint32_t acc = 0;

	if (len == 0 || len % 4 != 0)
		return -1;
	if (s[len - 1] == '=')
		pad = s[len - 2] == '=' ? 2 : 1;
	n = len / 4 * 3 - pad;
	if (n > max)
		return -1;
	for (i = 0; i < len - pad; i++) {
		int c = sns_b64val((unsigned char)s[i]);

		if (c < 0)
			return -1; /* also a '=' before the end */
		acc = acc << 6 | (uint32_t)c;
		if (i % 4 == 3) {
			out[o++] = (unsigned char)(acc >> 16);
			out[o++] = (unsigned char)(acc >> 8);
			out[o++] = (unsigned char)acc;
			acc = 0;
		}
	}
	/* The bits a short last group leaves over must be zero. */
	if (pad == 2) {
		if ((acc & 0xf) != 0)
			return -1;
		out[o++] = (unsigned char)(acc >> 4);
	} else if (pad == 1) {
		if ((acc & 0x3) != 0)
			return -1;
		out[o++] = (unsigned char)(acc >> 10);
		out[o++] = (unsigned char)(acc >> 2);
	}
	*ret_len = o;
	return 0;
}

/* The signature fields, checked; the certificate URL is not matched here. */
static int
sns_sig_parse(struct json_object *env, struct sns_sig *s, struct diag *reterr)
{
	const char *ver = NULL;
	const char *sig = NULL;
	const char *url = NULL;
	size_t ver_len = 0;
	size_t sig_len = 0;
	size_t url_len = 0;
	char q[QUOTE_SIZE(SNS_QUOTE_MAX)];
	int rv;
	int rs;
	int ru;

	if (!json_object_is_type(env, json_type_object))
		return diag_set(reterr, -EPROTO, NULL, 0, 0,
		    "SNS message is not a JSON object");
	rv = sns_field(env, "SignatureVersion", &ver, &ver_len, reterr);
	if (rv < 0)
		return rv;
	rs = sns_field(env, "Signature", &sig, &sig_len, reterr);
	if (rs < 0)
		return rs;
	ru = sns_field(env, "SigningCertURL", &url, &url_len, reterr);
	if (ru < 0)
		return ru;
	if (rv == 0 && rs == 0 && ru == 0)
		return diag_set(reterr, -EPROTO, NULL, 0, 0,
		    "unsigned SNS message (no Signature, SignatureVersion, "
		    "SigningCertURL)");
	if (rv == 0)
		return diag_set(reterr, -EPROTO, NULL, 0, 0,
		    "SNS message lacks 'SignatureVersion'");
	if (rs == 0)
		return diag_set(reterr, -EPROTO, NULL, 0, 0,
		    "SNS message lacks 'Signature'");
	if (ru == 0)
		return diag_set(reterr, -EPROTO, NULL, 0, 0,
		    "SNS message lacks 'SigningCertURL'");
	if (strcmp(ver, "1") == 0)
		s->md = EVP_sha1();
	else if (strcmp(ver, "2") == 0)
		s->md = EVP_sha256();
	else
		return diag_set(reterr, -EPROTO, NULL, 0, 0,
		    "unknown SNS SignatureVersion '%s' (want 1 or 2)",
		    quote_bytes(q, sizeof(q), ver, ver_len, SNS_QUOTE_MAX));
	if (sns_b64decode(sig, sig_len, s->sig, sizeof(s->sig), &s->sig_len) <
	    0)
		return diag_set(reterr, -EPROTO, NULL, 0, 0,
		    "SNS Signature is not base64 of at most %u bytes",
		    SNS_MAX_SIG);
	s->cert_url = url;
	s->cert_url_len = url_len;
	return 0;
}

static int
sns_pem_pass(char *buf, int size, int rwflag, void *arg)
{
	UNUSED(buf);
	UNUSED(size);
	UNUSED(rwflag);
	UNUSED(arg);
	return -1; /* a certificate needs no passphrase; never prompt */
}

static int
sns_parse_pem(const char *pem, size_t len, X509 **ret, struct diag *reterr)
{
	BIO *bio;
	X509 *x = NULL;

	if (len == 0 || len > SNS_CERT_MAX)
		return diag_set(reterr, -EBADMSG, NULL, 0, 0,
		    "certificate is %zu bytes, not a PEM certificate", len);
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL)
		return -ENOMEM;
	x = PEM_read_bio_X509(bio, NULL, sns_pem_pass, NULL);
	BIO_free(bio);
	ERR_clear_error();
	if (x == NULL)
		return diag_set(reterr, -EBADMSG, NULL, 0, 0,
		    "certificate unparseable: no PEM CERTIFICATE in %zu bytes",
		    len);
	*ret = x;
	return 0;
}

static const char *
sns_asn1_time_str(const ASN1_TIME *t, char *buf, size_t size)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1 ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)snprintf(buf, size, "(bad time)");
	return buf;
}

static int
sns_check_cert(X509 *x, time_t now, struct diag *reterr)
{
	const ASN1_TIME *nb = X509_get0_notBefore(x);
	const ASN1_TIME *na = X509_get0_notAfter(x);
	EVP_PKEY *pkey;
	char when[64];

	if (nb == NULL || na == NULL || X509_cmp_time(nb, &now) == 0 ||
	    X509_cmp_time(na, &now) == 0)
		return diag_set(reterr, -EBADMSG, NULL, 0, 0,
		    "certificate has unreadable validity dates");
	if (X509_cmp_time(nb, &now) > 0)
		return diag_set(reterr, -EBADMSG, NULL, 0, 0,
		    "certificate is not valid before %s",
		    sns_asn1_time_str(nb, when, sizeof(when)));
	if (X509_cmp_time(na, &now) < 0)
		return diag_set(reterr, -EBADMSG, NULL, 0, 0,
		    "certificate expired at %s",
		    sns_asn1_time_str(na, when, sizeof(when)));
	pkey = X509_get0_pubkey(x);
	if (pkey == NULL || EVP_PKEY_base_id(pkey) != EVP_PKEY_RSA)
		return diag_set(reterr, -EBADMSG, NULL, 0, 0,
		    "certificate key is not RSA");
	if (EVP_PKEY_bits(pkey) < SNS_MIN_RSA_BITS)
		return diag_set(reterr, -EBADMSG, NULL, 0, 0,
		    "certificate key is RSA %d, under %d bits",
		    EVP_PKEY_bits(pkey), SNS_MIN_RSA_BITS);
	return 0;
}

static int
sns_verify_x509(struct json_object *env, X509 *x, time_t now,
    struct diag *reterr)
{
	struct sns_sig s;
	struct buf tbs;
	EVP_MD_CTX *ctx = NULL;
	EVP_PKEY *pkey;
	int ok;
	int r;

	buf_init(&tbs, SNS_MAX_TO_SIGN);
	r = sns_sig_parse(env, &s, reterr);
	if (r == 0)
		r = sns_string_to_sign(env, &tbs, reterr);
	if (r == 0)
		r = sns_check_cert(x, now, reterr);
	if (r < 0)
		goto done;
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL) {
		r = -ENOMEM;
		goto done;
	}
	pkey = X509_get0_pubkey(x);
	if (EVP_DigestVerifyInit(ctx, NULL, s.md, NULL, pkey) != 1) {
		r = diag_set(reterr, -EBADMSG, NULL, 0, 0,
		    "certificate key cannot verify %s signatures",
		    EVP_MD_name(s.md));
		goto done;
	}
	ok = EVP_DigestVerify(ctx, s.sig, s.sig_len,
	    (const unsigned char *)tbs.data, tbs.len);
	if (ok != 1)
		r = diag_set(reterr, -EPROTO, NULL, 0, 0,
		    "SNS signature does not match (SignatureVersion %s)",
		    s.md == EVP_sha1() ? "1" : "2");
done:
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	buf_done(&tbs);
	return r;
}

int
sns_verify_with_pem(struct json_object *envelope, const char *pem, size_t len,
    time_t now, struct diag *reterr)
{
	struct sns_sig s;
	X509 *x = NULL;
	int r;

	/* Message faults first, as sns_verify reports them. */
	r = sns_sig_parse(envelope, &s, reterr);
	if (r < 0)
		return r;
	r = sns_parse_pem(pem, len, &x, reterr);
	if (r < 0)
		return r;
	r = sns_verify_x509(envelope, x, now, reterr);
	X509_free(x);
	return r;
}

static time_t
sns_wall_now(void)
{
	return time(NULL);
}

int
sns_verifier_new(struct event_base *base, struct http *http,
    const char *cert_url_pattern, struct sns_verifier **ret,
    struct diag *reterr)
{
	struct sns_verifier *v;
	char err[128];
	int rc;
	size_t i = 0;

	if (base == NULL || http == NULL)
		return -EINVAL;
	v = calloc(1, sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	v->base = base;
	v->http = http;
	v->now = sns_wall_now;
	if (cert_url_pattern == NULL)
		cert_url_pattern = SNS_DEFAULT_CERT_URL_PATTERN;
	rc = regcomp(&v->re, cert_url_pattern, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		(void)regerror(rc, &v->re, err, sizeof(err));
		free(v);
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "bad certificate URL pattern: %s", err);
	}
	for (i = 0; i < SNS_CERT_CACHE; i++)
		v->certs[i].v = v;
	*ret = v;
	return 0;
}

void
sns_verifier_set_clock(struct sns_verifier *v, time_t (*now)(void))
{
	v->now = now != NULL ? now : sns_wall_now;
}

static void
sns_cert_clear(struct sns_cert *c)
{
	if (c->req != NULL)
		http_cancel(c->req);
	c->req = NULL;
	X509_free(c->x509);
	c->x509 = NULL;
	free(c->url);
	c->url = NULL;
	c->used = 0;
}

static void
sns_op_unlink(struct sns_op *op)
{
	struct sns_verifier *v = op->v;

	if (op->prev != NULL)
		op->prev->next = op->next;
	else
		v->ops = op->next;
	if (op->next != NULL)
		op->next->prev = op->prev;
}

static void
sns_op_free(struct sns_op *op)
{
	if (op->ev != NULL)
		event_free(op->ev);
	json_object_put(op->env);
	X509_free(op->x509);
	free(op);
}

void
sns_verifier_free(struct sns_verifier *v)
{
	size_t i = 0;

	if (v == NULL)
		return;
	while (v->ops != NULL) {
		struct sns_op *op = v->ops;

		sns_op_unlink(op);
		sns_op_free(op);
	}
	for (i = 0; i < SNS_CERT_CACHE; i++)
		sns_cert_clear(&v->certs[i]);
	regfree(&v->re);
	free(v);
}

static void
sns_op_ready(struct sns_op *op)
{
	event_active(op->ev, EV_TIMEOUT, 1);
}

static void
sns_op_fail(struct sns_op *op, int r, const struct diag *d)
{
	op->r = r;
	if (d != NULL)
		op->d = *d;
	sns_op_ready(op);
}

static void
sns_op_run(evutil_socket_t fd, short what, void *arg)
{
	struct sns_op *op = arg;
	struct sns_verifier *v = op->v;
	sns_verify_cb *cb = op->cb;
	void *cb_arg = op->arg;
	struct diag d;
	int r;

	UNUSED(fd);
	UNUSED(what);
	memset(&d, 0, sizeof(d));
	if (op->r < 0) {
		r = op->r;
		d = op->d;
	} else {
		assert(op->x509 != NULL);
		r = sns_verify_x509(op->env, op->x509, v->now(), &d);
	}
	sns_op_unlink(op);
	sns_op_free(op);
	cb(r, &d, cb_arg); /* last: it may free v */
}

static int
sns_http_status(long status)
{
	if (status == 408 || status == 429 || status >= 500)
		return -EAGAIN;
	return -ENOENT;
}

static void
sns_cert_done(struct http_response *resp, void *arg)
{
	struct sns_cert *c = arg;
	struct sns_verifier *v = c->v;
	struct sns_op *op;
	struct diag d;
	char q[QUOTE_SIZE(SNS_QUOTE_MAX)];
	X509 *x = NULL;
	int r = 0;

	c->req = NULL; /* http frees it after we return */
	memset(&d, 0, sizeof(d));
	quote_bytes(q, sizeof(q), c->url, strlen(c->url), SNS_QUOTE_MAX);
	if (resp->error != 0)
		r = diag_set(&d, resp->error, NULL, 0, 0,
		    "fetching certificate '%s': %s", q, resp->errmsg);
	else if (resp->status != 200)
		r = diag_set(&d, sns_http_status(resp->status), NULL, 0, 0,
		    "fetching certificate '%s': HTTP %ld", q, resp->status);
	else if (sns_parse_pem(resp->body.data, resp->body.len, &x, NULL) < 0)
		r = diag_set(&d, -EBADMSG, NULL, 0, 0,
		    "certificate from '%s' is not a PEM certificate", q);
	if (r == 0) {
		c->x509 = x;
		c->used = ++v->tick;
	}
	for (op = v->ops; op != NULL; op = op->next) {
		if (op->wait != c)
			continue;
		op->wait = NULL;
		if (r < 0) {
			sns_op_fail(op, r, &d);
			continue;
		}
		if (X509_up_ref(x) != 1) {
			sns_op_fail(op, -ENOMEM, NULL);
			continue;
		}
		op->x509 = x;
		sns_op_ready(op);
	}
	if (r < 0)
		sns_cert_clear(c); /* failures are not cached */
}

/* The slot for url: cached, being fetched, or a new fetch. NULL: every
 * slot is busy fetching (-EAGAIN) or r says why. */
static struct sns_cert *
sns_cert_get(struct sns_verifier *v, const char *url, int *r,
    struct diag *reterr)
{
	struct sns_cert *c = NULL;
	struct http_request rq;
	size_t i = 0;

	for (i = 0; i < SNS_CERT_CACHE; i++)
		if (v->certs[i].url != NULL &&
		    strcmp(v->certs[i].url, url) == 0)
			return &v->certs[i];
	for (i = 0; i < SNS_CERT_CACHE; i++) {
		struct sns_cert *e = &v->certs[i];

		if (e->url == NULL) {
			c = e;
			break;
		}
		if (e->x509 != NULL && (c == NULL || e->used < c->used))
			c = e; /* least recently used, not being fetched */
	}
	if (c == NULL) {
		*r = diag_set(reterr, -EAGAIN, NULL, 0, 0,
		    "%d certificates are being fetched already",
		    SNS_CERT_CACHE);
		return NULL;
	}
	sns_cert_clear(c);
	c->url = strdup(url);
	if (c->url == NULL) {
		*r = -ENOMEM;
		return NULL;
	}
	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.url = url;
	rq.timeout_ms = SNS_CERT_TIMEOUT_MS;
	rq.max_body = SNS_CERT_MAX;
	rq.on_done = sns_cert_done;
	rq.arg = c;
	*r = http_start(v->http, &rq, &c->req);
	if (*r < 0) {
		(void)diag_set(reterr, *r, NULL, 0, 0,
		    "cannot fetch the certificate: %s", strerror(-*r));
		sns_cert_clear(c);
		return NULL;
	}
	return c;
}

/* A URL we would hand to curl: printable ASCII, no spaces. */
static bool
sns_url_plain(const char *url)
{
	size_t i = 0;

	for (i = 0; url[i] != '\0'; i++)
		if ((unsigned char)url[i] <= 0x20 ||
		    (unsigned char)url[i] >= 0x7f)
			return false;
	return i > 0 && i <= SNS_MAX_URL;
}

int
sns_verify(struct sns_verifier *v, struct json_object *envelope,
    sns_verify_cb *cb, void *arg)
{
	struct sns_op *op;
	struct sns_sig s;
	struct sns_cert *c;
	struct buf tbs;
	char q[QUOTE_SIZE(SNS_QUOTE_MAX)];
	int r;

	if (v == NULL || envelope == NULL || cb == NULL)
		return -EINVAL;
	op = calloc(1, sizeof(*op));
	if (op == NULL)
		return -ENOMEM;
	op->ev = event_new(v->base, -1, 0, sns_op_run, op);
	if (op->ev == NULL) {
		free(op);
		return -ENOMEM;
	}
	op->v = v;
	op->env = json_object_get(envelope);
	op->cb = cb;
	op->arg = arg;
	op->next = v->ops;
	if (v->ops != NULL)
		v->ops->prev = op;
	v->ops = op;

	/* Everything wrong with the message itself, before any fetch. */
	buf_init(&tbs, SNS_MAX_TO_SIGN);
	r = sns_sig_parse(envelope, &s, &op->d);
	if (r == 0)
		r = sns_string_to_sign(envelope, &tbs, &op->d);
	buf_done(&tbs);
	if (r < 0) {
		sns_op_fail(op, r, NULL);
		return 0;
	}
	if (strlen(s.cert_url) != s.cert_url_len ||
	    !sns_url_plain(s.cert_url) ||
	    regexec(&v->re, s.cert_url, 0, NULL, 0) != 0) {
		(void)diag_set(&op->d, -EACCES, NULL, 0, 0,
		    "SigningCertURL '%s' does not match the certificate URL "
		    "pattern",
		    quote_bytes(q, sizeof(q), s.cert_url, s.cert_url_len,
			SNS_QUOTE_MAX));
		sns_op_fail(op, -EACCES, NULL);
		return 0;
	}
	c = sns_cert_get(v, s.cert_url, &r, &op->d);
	if (c == NULL) {
		sns_op_fail(op, r, NULL);
		return 0;
	}
	if (c->x509 == NULL) {
		op->wait = c; /* sns_cert_done wakes us */
		return 0;
	}
	c->used = ++v->tick;
	if (X509_up_ref(c->x509) != 1) {
		sns_op_fail(op, -ENOMEM, NULL);
		return 0;
	}
	op->x509 = c->x509;
	sns_op_ready(op);
	return 0;
}
