/*
 * sns.h: SNS message signature verification, on the loop.
 *
 * SNS signs Key\nValue\n pairs of the envelope: for a Notification
 * Message, MessageId, Subject (only if present), Timestamp, TopicArn, Type;
 * for (Un)SubscriptionConfirmation Message, MessageId, SubscribeURL,
 * Timestamp, Token, TopicArn, Type. MessageAttributes are not signed.
 * SignatureVersion "1" is SHA1withRSA, "2" SHA256withRSA; the signature is
 * base64. The certificate is fetched from SigningCertURL, which must match
 * the pattern (a POSIX ERE; the default allows only
 * https://sns.<region>.amazonaws.com[.cn]/), with our http client (TLS
 * verified, 64 KiB, 10 s), once per URL: the cache holds SNS_CERT_CACHE
 * certificates (least recently used goes), and verifies of a URL being
 * fetched wait for that one fetch. The certificate's validity is checked
 * against the wall clock (certificates are dated in wall time). The chain is
 * not: TLS to the pattern's host is what vouches for the certificate.
 *
 * Results: 0 valid; -EPROTO unsigned (a FIFO topic's envelope can be; the
 * caller decides), bad or missing signature fields, unknown
 * SignatureVersion, a Type other than the three, a signed field missing, or
 * the signature does not match; -EACCES SigningCertURL does not match the
 * pattern (never fetched); -EBADMSG the certificate is unparseable, not a
 * certificate, not RSA of at least 2048 bits, not yet valid or expired;
 * -ENOENT the certificate URL answered 404 or another 4xx/3xx; -EAGAIN 5xx,
 * 429, or SNS_CERT_CACHE certificates already being fetched; transport
 * errors as http.h gives them (-ETIMEDOUT, -ECONNREFUSED, -E2BIG...).
 * The diag says which field or what the server answered; untrusted text in
 * it is escaped and cut. Never prints. Loop thread only.
 */
#ifndef SMTRAIL_SNS_H
#define SMTRAIL_SNS_H

#include <stddef.h>
#include <time.h>

#include "common.h"

struct buf;
struct diag;
struct event_base;
struct http;
struct json_object;
struct sns_verifier; /* opaque */

#define SNS_DEFAULT_CERT_URL_PATTERN                                           \
	"^https://sns\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/"
/* Certificates kept; SNS signs with one per region at a time. */
#define SNS_CERT_CACHE 16
/* A PEM certificate is 2-3 KiB; anything much larger is not one. */
#define SNS_CERT_MAX (64u << 10)
#define SNS_CERT_TIMEOUT_MS 10000L

/* r as above; d (borrowed for the call) is set when r < 0. */
typedef void sns_verify_cb(int r, const struct diag *d, void *arg);

/* cert_url_pattern NULL: SNS_DEFAULT_CERT_URL_PATTERN. A bad pattern is
 * -EINVAL with regerror's text in reterr. http is borrowed and must outlive
 * the verifier. */
int sns_verifier_new(struct event_base *base, struct http *http,
    const char *cert_url_pattern, struct sns_verifier **ret,
    struct diag *reterr) MUST_CHECK;
/* NULL ok. Fetches in flight are cancelled; pending callbacks never run. */
void sns_verifier_free(struct sns_verifier *v);

/* Checks envelope (an SNS message as notif_parse hands it out; a reference
 * is held until the callback). On 0, cb runs exactly once, later, from the
 * loop, never from inside sns_verify; it may free the verifier. On < 0
 * (-ENOMEM, -EINVAL) nothing was started and cb will not run. */
int sns_verify(struct sns_verifier *v, struct json_object *envelope,
    sns_verify_cb *cb, void *arg) MUST_CHECK;

/* Pure parts, for tests and tools. */
/* Appends the string SNS signed to out; -EPROTO if Type is not one of the
 * three or a signed field is missing or not a string. */
int sns_string_to_sign(struct json_object *envelope, struct buf *out,
    struct diag *reterr) MUST_CHECK;
/* Verifies envelope against a PEM certificate (len bytes) at time now. */
int sns_verify_with_pem(struct json_object *envelope, const char *pem,
    size_t len, time_t now, struct diag *reterr) MUST_CHECK;
/* The wall clock the certificate validity is checked against (tests);
 * NULL: time(NULL). */
void sns_verifier_set_clock(struct sns_verifier *v, time_t (*now)(void));

#endif
