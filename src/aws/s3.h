/*
 * s3.h: S3 GetObject on the loop through aws.h. The object is streamed to
 * on_data as it arrives (so memory does not grow with its size), or
 * collected into the response body when on_data is NULL. The bytes are
 * handed over as stored: no Accept-Encoding is sent, so an object uploaded
 * with Content-Encoding: gzip arrives as gzip; callers decide by the bytes.
 * Over max_size: -E2BIG. 404 → -ENOENT, 403 → -EACCES (permanent, not
 * retried); 5xx and timeouts are retried, and on_restart is called before a
 * retry streams the object again. A bucket in another region than the one
 * tried is found and remembered as aws.h describes. Never prints.
 *
 * Also what `smtrail aws-check` needs to prove access: HeadObject,
 * ListObjectsV2 and a ranged GetObject.
 */
#ifndef SMTRAIL_S3_H
#define SMTRAIL_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aws.h"
#include "common.h"

struct s3_get_opts {
	uint64_t max_size;     /* 0: 512 MiB */
	long timeout_ms;       /* per attempt; 0: 5 min */
	http_data_cb *on_data; /* NULL: collect (max_size still applies) */
	aws_restart_cb *on_restart;
	const char *range; /* "bytes=0-15", or NULL: all */
};

/* ListObjectsV2's answer, parsed: keys and common prefixes in S3's order,
 * XML entities decoded, the first S3_MAX_LIST of each (a page holds at most
 * max_keys of both together). When truncated, next_token (NextContinuation
 * Token, NULL if S3 sent none) asks for the next page. */
#define S3_MAX_LIST 1000
struct s3_list {
	char **keys;
	size_t n_keys;
	char **prefixes;
	size_t n_prefixes;
	bool truncated;
	char *next_token;
};

/* l is borrowed for the call (NULL on error). */
typedef void s3_list_cb(const struct aws_result *res, const struct s3_list *l,
    void *arg);

/* The key is requested as written ("a/../b" is that key: the path is not
 * normalised); a bucket that breaks S3's naming rules is -EINVAL. */
int s3_get_object(struct aws *a, const char *bucket, const char *key,
    const struct s3_get_opts *o, aws_done_cb *cb, void *arg,
    struct aws_op **ret) MUST_CHECK;

/* HEAD of an object: its headers are in res->resp (x-amz-server-side-
 * encryption, x-amz-server-side-encryption-aws-kms-key-id). */
int s3_head_object(struct aws *a, const char *bucket, const char *key,
    aws_done_cb *cb, void *arg, struct aws_op **ret) MUST_CHECK;

/* One page of ListObjectsV2 under prefix ("" all), delimiter NULL or "/",
 * at most max_keys (1-1000); token: the previous page's next_token with the
 * same other arguments, NULL for the first page. */
int s3_list_objects(struct aws *a, const char *bucket, const char *prefix,
    const char *delimiter, unsigned max_keys, const char *token, s3_list_cb *cb,
    void *arg, struct aws_op **ret) MUST_CHECK;
/* Parses a ListObjectsV2 XML body into l (s3_list_done frees it). */
int s3_list_parse(const char *xml, struct s3_list *l) MUST_CHECK;
void s3_list_done(struct s3_list *l);

/* True when an AccessDenied reading an object names KMS: the object is
 * SSE-KMS encrypted and the caller may not use its key. */
bool s3_denied_is_kms(const struct aws_result *res);
/* What to grant after an AccessDenied on GetObject of bucket/key, into buf:
 * "grant kms:Decrypt on KEY" (kms_key: the key's ARN or id when known,
 * NULL: "the trail's KMS key") when kms, else "grant s3:GetObject on
 * arn:aws:s3:::BUCKET/RESOURCE" (resource: key, or a pattern such as
 * "AWSLogs/\*"). The partition follows the bucket's region. */
const char *s3_denied_hint(const struct aws *a, const char *bucket,
    const char *resource, bool kms, const char *kms_key, char *buf,
    size_t size);
/* "arn:aws:s3:::bucket" (aws-cn, aws-us-gov by the bucket's region). */
const char *s3_arn(const struct aws *a, const char *bucket, const char *key,
    char *buf, size_t size);

/* 3 to 63 of [a-z0-9.-]. */
bool s3_bucket_name_ok(const char *bucket);

/* The request path for a key: "/bucket/key" path-style, "/key" otherwise,
 * percent-encoded as S3 signs it. Exported for tests. */
int s3_object_path(const char *bucket, const char *key, int path_style,
    struct buf *out) MUST_CHECK;

#endif
