/*
 * sigv4.h: AWS Signature Version 4 (AWS4-HMAC-SHA256) for our own SQS and S3
 * requests, on libcrypto. Pure functions: no I/O, no clock, no globals, no
 * logging; any thread. The caller gives the signing time (wall clock plus any
 * skew learnt from a server's Date, see clock_parse_http_date()).
 *
 * A request is borrowed strings (struct sigv4_request). Its path and query
 * are what goes on the wire: the query without '?', the path already
 * percent-encoded for S3 (sigv4_uri_encode(key, len, false, ...)). Every
 * header given is signed, so give only those that reach the server unchanged
 * (host, content-type, x-amz-target...; not User-Agent or Expect). The signer
 * owns, and refuses from the caller: Authorization, X-Amz-Date,
 * X-Amz-Security-Token, x-amz-content-sha256.
 *
 * Header signing (sigv4_sign_headers): send X-Amz-Date: ret->amz_date,
 * Authorization: ret->authorization, x-amz-content-sha256: ret->payload_hash
 * if sign_payload_header, and X-Amz-Security-Token: <token> if the
 * credentials have one (signed unless omit_session_token).
 * Presigning (sigv4_presign_query): send path '?' the query it returns.
 *
 * Errors: -EINVAL bad input (no host header, a control character in a header
 * value, a header the signer owns, a malformed path, query or payload hash, a
 * bad region, service or key id, a time outside years 1970-9999), -E2BIG
 * over a SIGV4_MAX_* ceiling or an output buffer's, -ENOMEM (also a libcrypto
 * failure). reterr (NULL allowed) names the header, parameter or field at
 * fault but never quotes a value, a key or a token. Outputs are written only
 * on success: a struct buf passed in is appended to, and left as it was on
 * failure. The secret is wiped from our stack after use.
 */
#ifndef SMTRAIL_SIGV4_H
#define SMTRAIL_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "common.h"

struct buf;
struct diag;

/* Caller headers per request: ours carry three or four. */
#define SIGV4_MAX_HEADERS 64
/* Caller query parameters per request: ours carry none or a few. */
#define SIGV4_MAX_QUERY_PARAMS 64
/* The canonical request and each part (an S3 key is <= 1024 bytes). */
#define SIGV4_MAX_CANONICAL (64u << 10)
/* Access key id, region, service, a header name: AWS's are far shorter. */
#define SIGV4_MAX_NAME 128
/* Secret access key (AWS's are 40 characters). */
#define SIGV4_MAX_SECRET 128
/* Session token (STS tokens run to a few KB). */
#define SIGV4_MAX_TOKEN (8u << 10)
/* X-Amz-Expires: AWS refuses presigned URLs valid for more than 7 days. */
#define SIGV4_MAX_EXPIRES 604800u

#define SIGV4_AMZ_DATE_SIZE 17 /* "20150830T123600Z" and its NUL */
#define SIGV4_HEX_SIZE 65      /* SHA-256 as lowercase hex and its NUL */
#define SIGV4_AUTH_SIZE 1024   /* the Authorization value; longer: -E2BIG */
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

struct sigv4_header {
	const char *name;  /* an HTTP token, any case */
	const char *value; /* trimmed and its blank runs squeezed to one SP */
};

struct sigv4_request {
	const char *method; /* "GET", "POST": 1-16 of A-Z */
	const char *path;   /* wire path from '/'; NULL or "": "/" */
	const char *query;  /* wire query without '?'; NULL or "": none */
	const struct sigv4_header *headers;
	size_t n_headers; /* must include host */
	const void *body; /* hashed when payload_hash is NULL */
	size_t body_len;
	/* NULL: SHA-256 of body; else SIGV4_UNSIGNED_PAYLOAD or 64 hex. */
	const char *payload_hash;
};

struct sigv4_creds {
	const char *access_key_id;     /* 1-128 of [A-Za-z0-9._-] */
	const char *secret_access_key; /* secret */
	const char *session_token;     /* secret; NULL or "": none */
};

struct sigv4_params {
	const char *region;  /* "us-east-1": 1-128 of [A-Za-z0-9._-] */
	const char *service; /* "sqs", "s3" */
	time_t now;          /* signing time, seconds since the epoch */
	unsigned expires_s; /* presigning: X-Amz-Expires, 1-SIGV4_MAX_EXPIRES */
	/*
	 * Drop empty, "." and ".." path segments before signing (the trailing
	 * slash stays). Every service but S3, whose keys may hold "//".
	 */
	bool normalize_path;
	/*
	 * Percent-encode the wire path again to sign it (every service but
	 * S3). False (S3): the path is signed as sent, so it must already be
	 * canonical (unreserved, '/', %XX uppercase) or -EINVAL.
	 */
	bool double_encode_path;
	/* Header signing: add and sign x-amz-content-sha256 (S3 wants it). */
	bool sign_payload_header;
	/* The session token is sent but not signed (a few older services). */
	bool omit_session_token;
};

struct sigv4_result {
	char amz_date[SIGV4_AMZ_DATE_SIZE];  /* X-Amz-Date */
	char payload_hash[SIGV4_HEX_SIZE];   /* x-amz-content-sha256 */
	char signature[SIGV4_HEX_SIZE];      /* lowercase hex */
	char authorization[SIGV4_AUTH_SIZE]; /* Authorization: never log it */
};

enum sigv4_mode {
	SIGV4_MODE_HEADER, /* Authorization header (sigv4_sign_headers) */
	SIGV4_MODE_QUERY,  /* presigned URL (sigv4_presign_query) */
	SIGV4_MODE_COUNT
};

const char *sigv4_mode_str(enum sigv4_mode m);

int sigv4_sign_headers(const struct sigv4_request *req,
    const struct sigv4_creds *creds, const struct sigv4_params *p,
    struct sigv4_result *ret, struct diag *reterr) MUST_CHECK;

/* Appends the query to send: canonical, then X-Amz-Signature (and the
 * token last if omit_session_token). */
int sigv4_presign_query(const struct sigv4_request *req,
    const struct sigv4_creds *creds, const struct sigv4_params *p,
    struct buf *ret_query, struct diag *reterr) MUST_CHECK;

/* The steps, for tests and debugging. Each appends to out. */
int sigv4_canonical_request(const struct sigv4_request *req,
    const struct sigv4_creds *creds, const struct sigv4_params *p,
    enum sigv4_mode mode, struct buf *out, struct diag *reterr) MUST_CHECK;
int sigv4_string_to_sign(const struct sigv4_params *p, const char *creq,
    size_t len, struct buf *out, struct diag *reterr) MUST_CHECK;
int sigv4_signature(const struct sigv4_creds *creds,
    const struct sigv4_params *p, const char *sts, size_t len,
    char ret[SIGV4_HEX_SIZE], struct diag *reterr) MUST_CHECK;

/*
 * RFC 3986 encoding as AWS wants it: A-Z a-z 0-9 - _ . ~ kept, every other
 * byte %XX (uppercase); '/' kept unless encode_slash. An S3 key becomes a
 * path with encode_slash false. Appends to out; -E2BIG leaves it unchanged.
 */
int sigv4_uri_encode(const char *s, size_t len, bool encode_slash,
    struct buf *out) MUST_CHECK;

/* "20150830T123600Z" (ISO 8601 basic, UTC), both ways; years 1970-9999
 * for formatting. */
int sigv4_amz_date(time_t t, char ret[SIGV4_AMZ_DATE_SIZE]) MUST_CHECK;
int sigv4_parse_amz_date(const char *s, time_t *ret) MUST_CHECK;

#endif
