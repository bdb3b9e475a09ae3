/*
 * s3.h: S3 GetObject on the loop through aws.h. The object is streamed to
 * on_data as it arrives (so memory does not grow with its size), or
 * collected into the response body when on_data is NULL. The bytes are
 * handed over as stored: no Accept-Encoding is sent, so an object uploaded
 * with Content-Encoding: gzip arrives as gzip; callers decide by the bytes.
 * Over max_size: -E2BIG. 404 → -ENOENT, 403 → -EACCES (permanent, not
 * retried); 5xx and timeouts are retried, and on_restart is called before a
 * retry streams the object again. Never prints.
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
};

/* The key is requested as written ("a/../b" is that key: the path is not
 * normalised); a bucket that breaks S3's naming rules is -EINVAL. */
int s3_get_object(struct aws *a, const char *bucket, const char *key,
    const struct s3_get_opts *o, aws_done_cb *cb, void *arg,
    struct aws_op **ret) MUST_CHECK;

/* 3 to 63 of [a-z0-9.-]. */
bool s3_bucket_name_ok(const char *bucket);

/* The request path for a key: "/bucket/key" path-style, "/key" otherwise,
 * percent-encoded as S3 signs it. Exported for tests. */
int s3_object_path(const char *bucket, const char *key, int path_style,
    struct buf *out) MUST_CHECK;

#endif
