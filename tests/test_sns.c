/*
 * test_sns.c: SNS signature verification. First the pure parts: the string
 * to sign, byte for byte; the six real signed messages in
 * ../shared/data/notifications/sns-signature/ against their real
 * certificates (v1 and v2, at a time inside each certificate's validity,
 * and the 2016 one refused as expired by the real clock); tampering with
 * each signed field, wrong versions, missing and malformed signatures, bad
 * certificates. Then the loop: a key and self-signed certificate made here
 * with OpenSSL (no fixture to go stale), served by an evhttp server in the
 * same event base, checking what is fetched and when: never for a URL off
 * the pattern, once per URL, once for concurrent verifies, again after an
 * error or an eviction.
 */
#include <errno.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <json-c/json.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "buf.h"
#include "diag.h"
#include "http.h"
#include "sns.h"
#include "tap.h"
#include "testlib.h"

#define SIG_DIR "notifications/sns-signature"
#define V1_DIR SIG_DIR "/aws-sdk-java-v1"
#define V2_DIR SIG_DIR "/aws-sdk-java-v2"
#define V1_PEM                                                                 \
	V1_DIR "/SimpleNotificationService-bb750dd426d95ee9390147a5624348ee.pem"
#define V2_PEM                                                                 \
	V2_DIR "/SimpleNotificationService-7506a1e35b36ef5a444dd1a8e7cc3ed8.pem"
#define V1_NOW ((time_t)1442712134) /* 2015-09-20T01:22:14Z, its Timestamp */
#define V2_NOW ((time_t)1772827226) /* 2026-03-06T20:00:26Z */
#define V1_EXPIRED ((time_t)1471823999 + 1) /* just after 2016-08-21 */
#define BEFORE_V2 ((time_t)1762646400)      /* 2025-11-09, day before */

/* ---- helpers ------------------------------------------------------- */

static char *
shared(const char *rel, size_t *ret_len)
{
	char path[1024];
	char *s;

	s = tl_slurp(tl_data_path(rel, path, sizeof(path)), 1u << 20, ret_len);
	if (!ok(s != NULL, "shared data %s is there", rel))
		diag_note("missing: %s", path);
	return s;
}

static struct json_object *
shared_json(const char *rel)
{
	size_t len;
	char *s = shared(rel, &len);
	struct json_object *o;

	if (s == NULL)
		return NULL;
	o = json_tokener_parse(s);
	free(s);
	return o;
}

static void
set_str(struct json_object *o, const char *key, const char *val)
{
	if (val == NULL)
		json_object_object_del(o, key);
	else
		json_object_object_add(o, key, json_object_new_string(val));
}

static struct json_object *
copy_with(struct json_object *o, const char *key, const char *val)
{
	struct json_object *c = NULL;

	if (json_object_deep_copy(o, &c, NULL) != 0)
		return NULL;
	set_str(c, key, val);
	return c;
}

static struct diag last;

static int
vpem(struct json_object *env, const char *pem, size_t len, time_t now)
{
	memset(&last, 0, sizeof(last));
	return sns_verify_with_pem(env, pem, len, now, &last);
}

static void
want_pem(struct json_object *env, const char *pem, size_t len, time_t now,
    int want, const char *msg, const char *name)
{
	int r = vpem(env, pem, len, now);

	is_int(r, want, "%s", name);
	if (msg != NULL &&
	    !ok(strstr(last.msg, msg) != NULL, "%s: diag says '%s'", name, msg))
		diag_note("got: '%s'", last.msg);
}

/* ---- keys and certificates made here --------------------------------- */

/* A new key: RSA of param bits, or EC on the curve param names. */
static EVP_PKEY *
gen_key(int type, int param)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(type, NULL);
	EVP_PKEY *k = NULL;
	int r = ctx != NULL ? EVP_PKEY_keygen_init(ctx) : 0;

	if (r == 1 && type == EVP_PKEY_RSA)
		r = EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, param);
	else if (r == 1)
		r = EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx, param);
	if (r != 1 || EVP_PKEY_keygen(ctx, &k) != 1)
		k = NULL;
	EVP_PKEY_CTX_free(ctx);
	return k;
}

static EVP_PKEY *
gen_rsa(int bits)
{
	return gen_key(EVP_PKEY_RSA, bits);
}

static EVP_PKEY *
gen_ec(void)
{
	return gen_key(EVP_PKEY_EC, NID_X9_62_prime256v1);
}

/* What was written to a memory BIO, as a C string; frees the BIO. */
static char *
bio_text(BIO *bio, size_t *ret_len)
{
	char *data;
	long n = BIO_get_mem_data(bio, &data);
	char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;

	if (s != NULL) {
		memcpy(s, data, (size_t)n);
		s[n] = '\0';
		*ret_len = (size_t)n;
	}
	BIO_free(bio);
	return s;
}

/* Self-signed, CN=sns.amazonaws.com, valid from now + from_s for days. */
static char *
make_cert_pem(EVP_PKEY *k, long from_s, long days, size_t *ret_len)
{
	X509 *x = X509_new();
	X509_NAME *name;
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem = NULL;

	if (x == NULL || bio == NULL)
		goto done;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), from_s);
	X509_time_adj_ex(X509_getm_notAfter(x), (int)days, from_s, NULL);
	X509_set_pubkey(x, k);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"sns.amazonaws.com", -1, -1, 0);
	X509_set_issuer_name(x, name);
	if (X509_sign(x, k, EVP_sha256()) != 0 && PEM_write_bio_X509(bio, x)) {
		pem = bio_text(bio, ret_len);
		bio = NULL;
	}
done:
	X509_free(x);
	BIO_free(bio);
	return pem;
}

static char *
make_key_pem(EVP_PKEY *k, size_t *ret_len)
{
	BIO *bio = BIO_new(BIO_s_mem());

	PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL);
	return bio_text(bio, ret_len);
}

/* Signs env in place as SNS would with version "1" or "2". */
static void
sign_env(struct json_object *env, EVP_PKEY *k, const char *version)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	struct buf tbs;
	unsigned char sig[1024];
	unsigned char b64[2048];
	size_t sig_len = sizeof(sig);
	int r;

	set_str(env, "SignatureVersion", version);
	buf_init(&tbs, 1u << 20);
	r = sns_string_to_sign(env, &tbs, NULL);
	if (r < 0 ||
	    EVP_DigestSignInit(ctx, NULL,
		strcmp(version, "2") == 0 ? EVP_sha256() : EVP_sha1(), NULL,
		k) != 1 ||
	    EVP_DigestSign(ctx, sig, &sig_len, (unsigned char *)tbs.data,
		tbs.len) != 1) {
		ok(0, "signing a test envelope");
	} else {
		EVP_EncodeBlock(b64, sig, (int)sig_len);
		set_str(env, "Signature", (const char *)b64);
	}
	EVP_MD_CTX_free(ctx);
	buf_done(&tbs);
}

static struct json_object *
make_env(const char *url, const char *message, const char *subject)
{
	struct json_object *o = json_object_new_object();

	set_str(o, "Type", "Notification");
	set_str(o, "MessageId", "0d8f5b3e-1111-2222-3333-444455556666");
	set_str(o, "TopicArn", "arn:aws:sns:us-east-1:123456789012:trail");
	set_str(o, "Subject", subject);
	set_str(o, "Message", message);
	set_str(o, "Timestamp", "2026-11-25T09:10:11.123Z");
	set_str(o, "SigningCertURL", url);
	set_str(o, "UnsubscribeURL", "https://sns.us-east-1.amazonaws.com/?x");
	return o;
}

/* ---- the pure parts -------------------------------------------------- */

static void
test_string_to_sign(void)
{
	struct json_object *o;
	struct buf b;
	struct diag d;

	buf_init(&b, 1u << 20);
	o = json_tokener_parse(
	    "{\"Type\":\"Notification\",\"MessageId\":\"id\","
	    "\"TopicArn\":\"arn\",\"Subject\":\"S\\nx\",\"Message\":"
	    "\"{\\\"s3Bucket\\\":\\\"b\\\"}\",\"Timestamp\":\"T\","
	    "\"SignatureVersion\":\"1\",\"Signature\":\"x\","
	    "\"MessageAttributes\":{\"a\":{\"Type\":\"String\"}},"
	    "\"UnsubscribeURL\":\"u\"}");
	is_int(sns_string_to_sign(o, &b, NULL), 0, "to sign: notification");
	is_str(b.data,
	    "Message\n{\"s3Bucket\":\"b\"}\nMessageId\nid\nSubject\nS\nx\n"
	    "Timestamp\nT\nTopicArn\narn\nType\nNotification\n",
	    "to sign: notification fields in order, JSON escapes undone, "
	    "MessageAttributes left out");
	buf_reset(&b);
	json_object_object_del(o, "Subject");
	is_int(sns_string_to_sign(o, &b, NULL), 0, "to sign: no Subject");
	is_str(b.data,
	    "Message\n{\"s3Bucket\":\"b\"}\nMessageId\nid\nTimestamp\nT\n"
	    "TopicArn\narn\nType\nNotification\n",
	    "to sign: Subject only when present");
	buf_reset(&b);
	json_object_object_add(o, "Subject", NULL);
	is_int(sns_string_to_sign(o, &b, NULL), 0, "to sign: Subject null");
	ok(strstr(b.data, "Subject") == NULL, "to sign: null Subject absent");
	buf_reset(&b);
	json_object_object_add(o, "Subject", json_object_new_int(3));
	is_int(sns_string_to_sign(o, &b, &d), -EPROTO,
	    "to sign: Subject a number");
	is_str(d.msg, "SNS message field 'Subject' is not a string",
	    "to sign: Subject a number: diag");
	json_object_put(o);

	o = json_tokener_parse(
	    "{\"Type\":\"SubscriptionConfirmation\",\"MessageId\":\"id\","
	    "\"Token\":\"tok\",\"TopicArn\":\"arn\",\"Message\":\"m\","
	    "\"SubscribeURL\":\"https://x/\",\"Timestamp\":\"T\"}");
	buf_reset(&b);
	is_int(sns_string_to_sign(o, &b, NULL), 0, "to sign: confirmation");
	is_str(b.data,
	    "Message\nm\nMessageId\nid\nSubscribeURL\nhttps://x/\nTimestamp\n"
	    "T\nToken\ntok\nTopicArn\narn\nType\nSubscriptionConfirmation\n",
	    "to sign: confirmation fields in order");
	json_object_object_del(o, "Token");
	buf_reset(&b);
	is_int(sns_string_to_sign(o, &b, &d), -EPROTO,
	    "to sign: confirmation without Token");
	is_str(d.msg, "SNS SubscriptionConfirmation lacks 'Token'",
	    "to sign: without Token: diag");
	set_str(o, "Type", "Foo\n");
	is_int(sns_string_to_sign(o, &b, &d), -EPROTO, "to sign: Type Foo");
	is_str(d.msg, "SNS message Type 'Foo\\x0a' is not one SNS signs",
	    "to sign: Type Foo: diag, escaped");
	json_object_object_del(o, "Type");
	is_int(sns_string_to_sign(o, &b, &d), -EPROTO, "to sign: no Type");
	json_object_put(o);
	o = json_object_new_array();
	is_int(sns_string_to_sign(o, &b, NULL), -EPROTO, "to sign: an array");
	json_object_put(o);
	buf_done(&b);
}

/* A field set to a value (NULL: removed), and what verifying says then. */
struct tamper {
	const char *key;
	const char *val;
	int want;
	const char *msg;
	const char *name;
};

static void
want_tampered(struct json_object *env, const char *pem, size_t len, time_t now,
    const struct tamper *c, size_t n)
{
	struct json_object *t;
	size_t i;

	for (i = 0; i < n; i++) {
		t = copy_with(env, c[i].key, c[i].val);
		want_pem(t, pem, len, now, c[i].want, c[i].msg, c[i].name);
		json_object_put(t);
	}
}

static const char *const v2_msgs[] = {
    V2_DIR "/test-notification-no-subject.json",
    V2_DIR "/test-notification-with-subject.json",
    V2_DIR "/test-notification-signature-v2.json",
    V2_DIR "/test-subscription-confirmation.json",
    V2_DIR "/test-unsubscribe-confirmation.json",
};

static void
test_real(void)
{
	/* The real v1 message with one field changed (NULL: removed). */
	static const struct tamper tampered1[] = {
	    {"Message", "boo!", -EPROTO,
		"SNS signature does not match (SignatureVersion 1)",
		"v1: tampered Message"},
	    {"Subject", "this is cooked", -EPROTO, NULL,
		"v1: tampered Subject"},
	    {"Subject", NULL, -EPROTO, NULL, "v1: Subject removed"},
	    {"Timestamp", "2015-09-20T01:22:15.001Z", -EPROTO, NULL,
		"v1: tampered Timestamp"},
	    {"TopicArn", "arn:aws:sns:us-east-1:810605503585:just_testinG",
		-EPROTO, NULL, "v1: tampered TopicArn"},
	    {"MessageId", "d39649d4-bf5b-5b80-af75-07acb3dd9b4b", -EPROTO, NULL,
		"v1: tampered MessageId"},
	    {"UnsubscribeURL", "https://evil.example/", 0, NULL,
		"v1: UnsubscribeURL is not signed"},
	    {"MessageAttributes", "changed", 0, NULL,
		"v1: MessageAttributes are not signed"},
	    {"SignatureVersion", "2", -EPROTO,
		"does not match (SignatureVersion 2)",
		"v1 signature relabelled as v2"},
	    {"SignatureVersion", "3", -EPROTO,
		"unknown SNS SignatureVersion '3' (want 1 or 2)",
		"SignatureVersion 3"},
	    {"SignatureVersion", "", -EPROTO, "unknown SNS SignatureVersion ''",
		"SignatureVersion empty"},
	};
	/* ... and, after SignatureVersion as a number, the signature. */
	static const struct tamper tampered2[] = {
	    {"SignatureVersion", NULL, -EPROTO,
		"SNS message lacks 'SignatureVersion'",
		"SignatureVersion missing"},
	    {"Signature", NULL, -EPROTO, "SNS message lacks 'Signature'",
		"Signature missing"},
	    {"SigningCertURL", NULL, -EPROTO,
		"SNS message lacks 'SigningCertURL'", "SigningCertURL missing"},
	    {"Signature", "", -EPROTO, "not base64", "Signature empty"},
	    {"Signature", "fQh5DUyhpw41y6tx/BJuqK2C lvs=", -EPROTO,
		"not base64", "Signature with a space"},
	    {"Signature", "fQh5DUyh-w41y6tx_BJuqK2Clvs=", -EPROTO, "not base64",
		"Signature in the URL-safe alphabet"},
	    {"Signature", "fQ=h", -EPROTO, "not base64",
		"Signature with '=' inside"},
	    {"Signature", "AAAA", -EPROTO, "does not match",
		"Signature three zero bytes"},
	};
	struct json_object *env;
	struct json_object *t;
	char *v1_pem;
	char *v2_pem;
	size_t v1_len;
	size_t v2_len;
	size_t i;

	v1_pem = shared(V1_PEM, &v1_len);
	v2_pem = shared(V2_PEM, &v2_len);
	if (v1_pem == NULL || v2_pem == NULL)
		goto done;

	/* v1 (SHA1withRSA), a 2015 message; its certificate expired 2016. */
	env = shared_json(V1_DIR "/message.json");
	if (env != NULL) {
		want_pem(env, v1_pem, v1_len, V1_NOW, 0, NULL,
		    "real v1 message verifies (at its own Timestamp)");
		want_pem(env, v1_pem, v1_len, time(NULL), -EBADMSG,
		    "certificate expired at 2016-08-21T23:59:59Z",
		    "real v1 message, real clock: certificate expired");
		want_pem(env, v1_pem, v1_len, V1_EXPIRED, -EBADMSG, "expired",
		    "one second after notAfter: expired");
		want_pem(env, v1_pem, v1_len, (time_t)1438905600 - 1, -EBADMSG,
		    "certificate is not valid before 2015-08-07T00:00:00Z",
		    "one second before notBefore: not yet valid");
		want_pem(env, v2_pem, v2_len, V2_NOW, -EPROTO,
		    "SNS signature does not match",
		    "real v1 message against the other certificate");
		want_tampered(env, v1_pem, v1_len, V1_NOW, tampered1,
		    ARRAY_SIZE(tampered1));
		t = copy_with(env, "SignatureVersion", NULL);
		json_object_object_add(t, "SignatureVersion",
		    json_object_new_int(1));
		want_pem(t, v1_pem, v1_len, V1_NOW, -EPROTO,
		    "'SignatureVersion' is not a string",
		    "SignatureVersion a number");
		json_object_put(t);
		want_tampered(env, v1_pem, v1_len, V1_NOW, tampered2,
		    ARRAY_SIZE(tampered2));
		{
			char big[2000];

			memset(big, 'A', sizeof(big) - 1);
			big[sizeof(big) - 1] = '\0';
			t = copy_with(env, "Signature", big);
			want_pem(t, v1_pem, v1_len, V1_NOW, -EPROTO,
			    "not base64 of at most 1024 bytes",
			    "Signature of 1500 bytes");
			json_object_put(t);
		}
		t = copy_with(env, "Signature", NULL);
		json_object_object_del(t, "SignatureVersion");
		json_object_object_del(t, "SigningCertURL");
		want_pem(t, v1_pem, v1_len, V1_NOW, -EPROTO,
		    "unsigned SNS message", "no signature fields at all");
		json_object_put(t);
		json_object_put(env);
	}

	/* v2's certificate (valid 2025-11-10 .. 2026-10-14): five messages,
	 * SignatureVersion 1 and 2, notifications and confirmations. */
	for (i = 0; i < ARRAY_SIZE(v2_msgs); i++) {
		const char *f = strrchr(v2_msgs[i], '/') + 1;
		const char *fields[] = {"Message", "Timestamp", "MessageId",
		    "Token", "SubscribeURL"};
		struct json_object *v;
		size_t j;

		env = shared_json(v2_msgs[i]);
		if (env == NULL)
			continue;
		want_pem(env, v2_pem, v2_len, V2_NOW, 0, NULL, f);
		want_pem(env, v2_pem, v2_len, BEFORE_V2, -EBADMSG,
		    "not valid before 2025-11-10", "before its certificate");
		want_pem(env, v1_pem, v1_len, V1_NOW, -EPROTO, "does not match",
		    "against the 2015 certificate");
		for (j = 0; j < ARRAY_SIZE(fields); j++) {
			if (!json_object_object_get_ex(env, fields[j], &v))
				continue;
			char name[160];

			(void)snprintf(name, sizeof(name), "%s: tampered %s", f,
			    fields[j]);
			t = copy_with(env, fields[j], "tampered");
			want_pem(t, v2_pem, v2_len, V2_NOW, -EPROTO,
			    "does not match", name);
			json_object_put(t);
		}
		json_object_put(env);
	}
	/* The FIFO topic's envelope, as published: no signature fields. */
	{
		struct json_object *lambda = shared_json(
		    "notifications/lambda-event-fixtures/"
		    "powertools-lambda-python/snsSqsFifoEvent.json");
		struct json_object *recs;
		struct json_object *body;

		if (lambda != NULL &&
		    json_object_object_get_ex(lambda, "Records", &recs) &&
		    json_object_object_get_ex(
			json_object_array_get_idx(recs, 0), "body", &body)) {
			env = json_tokener_parse(json_object_get_string(body));
			want_pem(env, v2_pem, v2_len, V2_NOW, -EPROTO,
			    "unsigned SNS message",
			    "FIFO topic envelope: unsigned");
			json_object_put(env);
		}
		json_object_put(lambda);
	}
done:
	free(v1_pem);
	free(v2_pem);
}

static void
test_bad_certs(EVP_PKEY *k, const char *pem, size_t pem_len)
{
	struct json_object *env = make_env("http://x/c.pem", "{}", NULL);
	EVP_PKEY *ec = gen_ec();
	EVP_PKEY *small = gen_rsa(1024);
	char *p;
	size_t len = 0;

	sign_env(env, k, "2");
	want_pem(env, pem, pem_len, time(NULL), 0, NULL,
	    "own key, own certificate: verifies");
	want_pem(env, "", 0, time(NULL), -EBADMSG, "not a PEM certificate",
	    "empty certificate");
	want_pem(env, "hello", 5, time(NULL), -EBADMSG,
	    "certificate unparseable", "not PEM");
	want_pem(env, pem, pem_len / 2, time(NULL), -EBADMSG,
	    "certificate unparseable", "half a PEM certificate");
	p = make_key_pem(k, &len);
	want_pem(env, p, len, time(NULL), -EBADMSG, "certificate unparseable",
	    "a private key, not a certificate");
	free(p);
	p = make_cert_pem(ec, 0, 30, &len);
	want_pem(env, p, len, time(NULL), -EBADMSG,
	    "certificate key is not RSA", "an EC certificate");
	free(p);
	p = make_cert_pem(small, 0, 30, &len);
	want_pem(env, p, len, time(NULL), -EBADMSG,
	    "certificate key is RSA 1024, under 2048 bits",
	    "an RSA 1024 certificate");
	free(p);
	p = make_cert_pem(k, -86400 * 10, 1, &len);
	want_pem(env, p, len, time(NULL), -EBADMSG, "certificate expired at",
	    "own certificate, expired");
	free(p);
	p = make_cert_pem(k, 86400, 30, &len);
	want_pem(env, p, len, time(NULL), -EBADMSG, "not valid before",
	    "own certificate, not yet valid");
	free(p);
	{
		char *big = malloc(SNS_CERT_MAX + 1);

		memset(big, 'x', SNS_CERT_MAX + 1);
		want_pem(env, big, SNS_CERT_MAX + 1, time(NULL), -EBADMSG,
		    "not a PEM certificate", "a certificate over 64 KiB");
		free(big);
	}
	json_object_put(env);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(small);
}

/* ---- the loop -------------------------------------------------------- */

struct srv {
	struct tl_srv srv;
	int hits;
	char last_uri[256];
	const char *pem;
	size_t pem_len;
	int slow; /* requests left unanswered (evhttp_free drops them) */
};

static void
srv_cb(struct evhttp_request *req, void *arg)
{
	struct srv *s = arg;
	const char *uri = evhttp_request_get_uri(req);
	struct evbuffer *out = evbuffer_new();

	s->hits++;
	(void)snprintf(s->last_uri, sizeof(s->last_uri), "%s", uri);
	if (strcmp(uri, "/missing.pem") == 0) {
		evhttp_send_reply(req, 404, "Not Found", out);
	} else if (strcmp(uri, "/busy.pem") == 0) {
		evhttp_send_reply(req, 503, "Unavailable", out);
	} else if (strcmp(uri, "/notcert.pem") == 0) {
		evbuffer_add_printf(out, "<html>hello</html>");
		evhttp_send_reply(req, 200, "OK", out);
	} else if (strcmp(uri, "/big.pem") == 0) {
		char chunk[1024];

		memset(chunk, 'x', sizeof(chunk));
		for (int i = 0; i < 70; i++)
			evbuffer_add(out, chunk, sizeof(chunk));
		evhttp_send_reply(req, 200, "OK", out);
	} else if (strncmp(uri, "/slow", 5) == 0) {
		s->slow++; /* never answered */
	} else {
		evbuffer_add(out, s->pem, s->pem_len);
		evhttp_send_reply(req, 200, "OK", out);
	}
	evbuffer_free(out);
}

struct result {
	int done;
	int r;
	char msg[256];
	struct sns_verifier **free_me; /* freed from inside the callback */
};

static void
on_verify(int r, const struct diag *d, void *arg)
{
	struct result *res = arg;

	res->done++;
	res->r = r;
	(void)snprintf(res->msg, sizeof(res->msg), "%s", d->msg);
	if (res->free_me != NULL) {
		sns_verifier_free(*res->free_me);
		*res->free_me = NULL;
	}
}

static time_t
far_future(void)
{
	return time(NULL) + 86400L * 365 * 200;
}

/* Verifies env through v and runs the loop until the callback. */
static int
verify_now(struct event_base *base, struct sns_verifier *v,
    struct json_object *env, struct result *res, const char *name)
{
	int r;

	memset(res, 0, sizeof(*res));
	r = sns_verify(v, env, on_verify, res);
	is_int(r, 0, "%s: started", name);
	is_int(res->done, 0, "%s: no callback from inside sns_verify", name);
	if (r == 0)
		tl_run_until(base, &res->done, 1, 10000);
	is_int(res->done, 1, "%s: one callback", name);
	return res->r;
}

static struct json_object *
signed_env(EVP_PKEY *k, const char *url, const char *version, const char *msg)
{
	struct json_object *env = make_env(url, msg, "subject");

	sign_env(env, k, version);
	return env;
}

static void
test_async(EVP_PKEY *k, const char *pem, size_t pem_len)
{
	struct event_base *base = event_base_new();
	struct srv s = {0};
	struct http *h = NULL;
	struct sns_verifier *v = NULL;
	struct json_object *env;
	struct json_object *t;
	struct result r1;
	struct result r2;
	struct result r3;
	struct diag d;
	char url[256];
	int hits;
	int i;

	s.pem = pem;
	s.pem_len = pem_len;
	ok(tl_srv_start(&s.srv, base, srv_cb, &s) == 0, "test server listens");
	is_int(http_new(base, NULL, &h), 0, "http_new");

	memset(&d, 0, sizeof(d));
	is_int(sns_verifier_new(base, h, "^http://(", &v, &d), -EINVAL,
	    "a bad pattern is refused");
	ok(strstr(d.msg, "bad certificate URL pattern: ") == d.msg,
	    "a bad pattern: diag '%s'", d.msg);
	is_int(sns_verifier_new(base, h, "^http://127\\.0\\.0\\.1:[0-9]+/", &v,
		   &d),
	    0, "verifier for the local server");

	/* Hostile first: nothing may be fetched for these. */
	(void)snprintf(url, sizeof(url), "http://localhost:%d/cert.pem",
	    s.srv.port);
	env = signed_env(k, url, "2", "{}");
	is_int(verify_now(base, v, env, &r1, "URL off the pattern"), -EACCES,
	    "URL off the pattern: -EACCES");
	ok(strstr(r1.msg, "SigningCertURL 'http://localhost:") != NULL &&
		strstr(r1.msg, "does not match") != NULL,
	    "URL off the pattern: diag '%s'", r1.msg);
	json_object_put(env);
	(void)snprintf(url, sizeof(url),
	    "http://127.0.0.1:%d/cert.pem\n@evil.example/", s.srv.port);
	env = signed_env(k, url, "2", "{}");
	is_int(verify_now(base, v, env, &r1, "URL with a newline"), -EACCES,
	    "URL with a newline: -EACCES");
	json_object_put(env);
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/cert.pem",
	    s.srv.port);
	env = signed_env(k, url, "2", "{}");
	t = copy_with(env, "Signature", NULL);
	json_object_object_del(t, "SignatureVersion");
	json_object_object_del(t, "SigningCertURL");
	is_int(verify_now(base, v, t, &r1, "unsigned"), -EPROTO,
	    "unsigned: -EPROTO");
	is_str(r1.msg,
	    "unsigned SNS message (no Signature, SignatureVersion, "
	    "SigningCertURL)",
	    "unsigned: diag");
	json_object_put(t);
	t = copy_with(env, "SignatureVersion", "9");
	is_int(verify_now(base, v, t, &r1, "SignatureVersion 9"), -EPROTO,
	    "SignatureVersion 9: -EPROTO");
	json_object_put(t);
	t = copy_with(env, "MessageId", NULL);
	is_int(verify_now(base, v, t, &r1, "no MessageId"), -EPROTO,
	    "no MessageId: -EPROTO before any fetch");
	json_object_put(t);
	tl_run_for(base, 50);
	is_int(s.hits, 0, "the server saw no request for any of them");

	/* Fetched once, then cached. */
	is_int(verify_now(base, v, env, &r1, "valid v2"), 0, "valid v2: 0");
	is_int(s.hits, 1, "valid v2: the certificate was fetched");
	is_str(s.last_uri, "/cert.pem", "valid v2: from SigningCertURL");
	is_int(verify_now(base, v, env, &r1, "again"), 0, "again: 0");
	is_int(s.hits, 1, "again: cached, no new request");
	t = signed_env(k, url, "1", "{\"s3Bucket\":\"b\"}");
	is_int(verify_now(base, v, t, &r1, "valid v1"), 0, "valid v1: 0");
	json_object_put(t);
	t = copy_with(env, "Message", "{\"s3Bucket\":\"evil\"}");
	is_int(verify_now(base, v, t, &r1, "tampered, cached cert"), -EPROTO,
	    "tampered Message with a cached certificate: -EPROTO");
	is_str(r1.msg, "SNS signature does not match (SignatureVersion 2)",
	    "tampered: diag");
	json_object_put(t);
	is_int(s.hits, 1, "still one request");

	/* The injectable clock. */
	sns_verifier_set_clock(v, far_future);
	is_int(verify_now(base, v, env, &r1, "clock in 200 years"), -EBADMSG,
	    "clock 200 years on: certificate expired, -EBADMSG");
	ok(strstr(r1.msg, "certificate expired at") != NULL,
	    "expired: diag '%s'", r1.msg);
	sns_verifier_set_clock(v, NULL);
	is_int(verify_now(base, v, env, &r1, "clock back"), 0, "clock back: 0");
	json_object_put(env);

	/* Errors are reported and not cached. */
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/missing.pem",
	    s.srv.port);
	env = signed_env(k, url, "2", "{}");
	hits = s.hits;
	is_int(verify_now(base, v, env, &r1, "404"), -ENOENT, "404: -ENOENT");
	ok(strstr(r1.msg, "HTTP 404") != NULL, "404: diag '%s'", r1.msg);
	is_int(verify_now(base, v, env, &r1, "404 again"), -ENOENT,
	    "404 again: -ENOENT");
	is_int(s.hits - hits, 2, "a failed fetch is not cached");
	json_object_put(env);
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/busy.pem",
	    s.srv.port);
	env = signed_env(k, url, "2", "{}");
	is_int(verify_now(base, v, env, &r1, "503"), -EAGAIN, "503: -EAGAIN");
	json_object_put(env);
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/notcert.pem",
	    s.srv.port);
	env = signed_env(k, url, "2", "{}");
	is_int(verify_now(base, v, env, &r1, "not a certificate"), -EBADMSG,
	    "not a certificate: -EBADMSG");
	ok(strstr(r1.msg, "is not a PEM certificate") != NULL,
	    "not a certificate: diag '%s'", r1.msg);
	json_object_put(env);
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/big.pem",
	    s.srv.port);
	env = signed_env(k, url, "2", "{}");
	is_int(verify_now(base, v, env, &r1, "70 KiB"), -E2BIG,
	    "a 70 KiB certificate: -E2BIG");
	json_object_put(env);
	env = signed_env(k, "http://127.0.0.1:1/cert.pem", "2", "{}");
	is_int(verify_now(base, v, env, &r1, "refused"), -ECONNREFUSED,
	    "connection refused: -ECONNREFUSED");
	json_object_put(env);

	/* Concurrent verifies of one URL share one fetch; each gets its own
	 * verdict. */
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/cert2.pem",
	    s.srv.port);
	env = signed_env(k, url, "2", "{}");
	t = copy_with(env, "Subject", "tampered");
	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	memset(&r3, 0, sizeof(r3));
	hits = s.hits;
	is_int(sns_verify(v, env, on_verify, &r1), 0, "concurrent 1");
	is_int(sns_verify(v, env, on_verify, &r2), 0, "concurrent 2");
	is_int(sns_verify(v, t, on_verify, &r3), 0, "concurrent 3 (tampered)");
	json_object_put(t);
	json_object_put(env); /* the verifier holds its own references */
	tl_run_until(base, &r3.done, 1, 10000);
	tl_run_until(base, &r2.done, 1, 10000);
	tl_run_until(base, &r1.done, 1, 10000);
	ok(r1.done == 1 && r2.done == 1 && r3.done == 1,
	    "concurrent: each callback once");
	ok(r1.r == 0 && r2.r == 0, "concurrent: both valid");
	is_int(r3.r, -EPROTO, "concurrent: the tampered one refused");
	is_int(s.hits - hits, 1, "concurrent: one fetch");

	/* The cache is bounded: 17 more URLs push out the oldest. */
	hits = s.hits;
	for (i = 0; i <= SNS_CERT_CACHE; i++) {
		char name[32];

		(void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/c%d.pem",
		    s.srv.port, i);
		(void)snprintf(name, sizeof(name), "cache fill %d", i);
		env = signed_env(k, url, "1", "{}");
		is_int(verify_now(base, v, env, &r1, name), 0, "%s: 0", name);
		json_object_put(env);
	}
	is_int(s.hits - hits, SNS_CERT_CACHE + 1, "17 URLs, 17 fetches");
	hits = s.hits;
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/c%d.pem",
	    s.srv.port, SNS_CERT_CACHE);
	env = signed_env(k, url, "1", "{}");
	is_int(verify_now(base, v, env, &r1, "newest"), 0, "newest: 0");
	json_object_put(env);
	is_int(s.hits - hits, 0, "the newest is still cached");
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/c0.pem",
	    s.srv.port);
	env = signed_env(k, url, "1", "{}");
	is_int(verify_now(base, v, env, &r1, "oldest"), 0, "oldest: 0");
	json_object_put(env);
	is_int(s.hits - hits, 1, "the oldest was evicted and fetched again");

	/* A callback may free the verifier; the rest never run. */
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/cert.pem",
	    s.srv.port);
	env = signed_env(k, url, "2", "{}");
	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	r1.free_me = &v;
	r2.free_me = &v;
	is_int(sns_verify(v, env, on_verify, &r1), 0, "free in callback: 1");
	is_int(sns_verify(v, env, on_verify, &r2), 0, "free in callback: 2");
	tl_run_for(base, 100);
	is_int(r1.done + r2.done, 1, "the first callback freed it: one ran");
	ok(v == NULL, "the verifier is gone");
	json_object_put(env);

	/* Freed with a fetch in flight and a result pending: no callbacks. */
	is_int(sns_verifier_new(base, h, "^http://127\\.0\\.0\\.1:[0-9]+/", &v,
		   NULL),
	    0, "a new verifier");
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/slow.pem",
	    s.srv.port);
	env = signed_env(k, url, "2", "{}");
	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	is_int(sns_verify(v, env, on_verify, &r1), 0, "pending: a fetch");
	json_object_put(env);
	env = signed_env(k, "https://elsewhere.example/x.pem", "2", "{}");
	is_int(sns_verify(v, env, on_verify, &r2), 0, "pending: a refusal");
	json_object_put(env);
	event_base_loop(base, EVLOOP_NONBLOCK); /* the fetch starts */
	tl_run_until(base, &r2.done, 1, 10000);
	is_int(r2.done, 1, "the refusal is delivered");
	tl_run_for(base, 200);
	is_int(s.slow, 1, "the server got the slow request");
	is_int((long long)http_in_flight(h), 1, "one fetch in flight");
	sns_verifier_free(v);
	is_int((long long)http_in_flight(h), 0, "free cancels the fetch");
	tl_run_for(base, 200);
	is_int(r1.done, 0, "free: the pending callback never runs");
	sns_verifier_free(NULL);

	/* Every slot fetching: the next URL waits for none, -EAGAIN. */
	is_int(sns_verifier_new(base, h, "^http://127\\.0\\.0\\.1:[0-9]+/", &v,
		   NULL),
	    0, "a verifier to fill with fetches");
	memset(&r1, 0, sizeof(r1));
	for (i = 0; i < SNS_CERT_CACHE; i++) {
		(void)snprintf(url, sizeof(url),
		    "http://127.0.0.1:%d/slow%d.pem", s.srv.port, i);
		env = signed_env(k, url, "2", "{}");
		if (sns_verify(v, env, on_verify, &r1) != 0)
			ok(0, "slow verify %d started", i);
		json_object_put(env);
	}
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/cert.pem",
	    s.srv.port);
	env = signed_env(k, url, "2", "{}");
	is_int(verify_now(base, v, env, &r2, "17th URL"), -EAGAIN,
	    "16 fetches in flight, a 17th URL: -EAGAIN");
	is_str(r2.msg, "16 certificates are being fetched already",
	    "17th URL: diag");
	json_object_put(env);
	is_int(r1.done, 0, "the 16 still wait");
	sns_verifier_free(v);
	is_int((long long)http_in_flight(h), 0, "free cancels all 16");
	tl_run_for(base, 100);
	is_int(r1.done, 0, "and none of them calls back");

	/* The default pattern: SNS over https only. */
	is_int(sns_verifier_new(base, h, NULL, &v, NULL), 0,
	    "verifier with the default pattern");
	{
		const char *bad[] = {
		    "http://sns.us-east-1.amazonaws.com/x.pem",
		    "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
		    "https://sns.us-east-1.amazonaws.com@evil.example/x.pem",
		    "https://evil.example/https://sns.us-east-1.amazonaws.com/",
		    "https://SNS.us-east-1.amazonaws.com/x.pem",
		    "https://sns.us-east-1.amazonaws.com:8443/x.pem",
		    "https://sqs.us-east-1.amazonaws.com/x.pem",
		    "https://sns.us_east-1.amazonaws.com/x.pem",
		    "https://sns.us-east-1.amazonaws.com",
		    "https://sns.us-east-1.amazonaws.com/ x.pem",
		    "file:///etc/passwd",
		};

		hits = s.hits;
		for (size_t j = 0; j < ARRAY_SIZE(bad); j++) {
			env = signed_env(k, bad[j], "2", "{}");
			is_int(verify_now(base, v, env, &r1, bad[j]), -EACCES,
			    "default pattern refuses %s", bad[j]);
			json_object_put(env);
		}
		is_int(s.hits - hits, 0, "and fetches none of them");
	}
	sns_verifier_free(v);

	http_free(h);
	tl_srv_stop(&s.srv);
	event_base_free(base);
}

/* The default pattern, matched here directly, against real URLs. */
static void
test_default_pattern(void)
{
	regex_t re;
	const char *good[] = {
	    "https://sns.us-west-2.amazonaws.com/"
	    "SimpleNotificationService-7506a1e35b36ef5a444dd1a8e7cc3ed8.pem",
	    "https://sns.us-east-1.amazonaws.com/"
	    "SimpleNotificationService-bb750dd426d95ee9390147a5624348ee.pem",
	    "https://sns.eu-west-1.amazonaws.com/"
	    "SimpleNotificationService-010a507c1833636cd94bdb98bd93083a.pem",
	    "https://sns.cn-north-1.amazonaws.com.cn/"
	    "SimpleNotificationService-x.pem",
	    "https://sns.us-gov-west-1.amazonaws.com/"
	    "SimpleNotificationService-x.pem",
	};
	size_t i;

	is_int(regcomp(&re, SNS_DEFAULT_CERT_URL_PATTERN,
		   REG_EXTENDED | REG_NOSUB),
	    0, "the default pattern compiles");
	for (i = 0; i < ARRAY_SIZE(good); i++)
		is_int(regexec(&re, good[i], 0, NULL, 0), 0,
		    "default pattern takes %.40s...", good[i]);
	regfree(&re);
}

int
main(void)
{
	EVP_PKEY *k;
	char *pem;
	size_t pem_len = 0;

	test_string_to_sign();
	test_real();
	test_default_pattern();
	k = gen_rsa(2048);
	ok(k != NULL, "an RSA 2048 key for the tests");
	pem = make_cert_pem(k, -3600, 365, &pem_len);
	ok(pem != NULL, "a self-signed certificate for it");
	if (k != NULL && pem != NULL) {
		test_bad_certs(k, pem, pem_len);
		test_async(k, pem, pem_len);
	}
	free(pem);
	EVP_PKEY_free(k);
	return done_testing();
}
