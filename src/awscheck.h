/*
 * awscheck.h: `smtrail aws-check`: with the daemon's configuration,
 * credentials and AWS code, checks that it can do what `smtrail run` will
 * do, and says what to grant when it cannot.
 *
 * In order: the regions and endpoints of SQS (from the queue URL), S3 (per
 * bucket, learnt as aws.h describes) and STS, warning when aws.region is
 * not the queue URL's; the credentials; GetQueueAttributes (the redrive
 * policy); a zero-wait ReceiveMessage (MaxNumberOfMessages 1,
 * WaitTimeSeconds 0, VisibilityTimeout 0: a message received stays
 * visible, but its receive count goes up by one), and, when a message came,
 * ChangeMessageVisibility to 0 on it; then for each s3.allowed_buckets
 * bucket: ListObjectsV2 under AWSLogs/, a walk down the newest prefixes to
 * the newest log file, HeadObject and a 16-byte ranged GetObject of it.
 *
 * Every line goes to out() (nothing is printed here); a check's line is
 *   "ok   ACTION on RESOURCE[ (detail)]"
 *   "FAIL ACTION on RESOURCE: CODE: MESSAGE; grant ACTION on RESOURCE"
 *   "warn WHAT: why"
 * and the others are "name: value" facts. Secrets are never written.
 * Loop: its own; blocks until done (a command, not the daemon).
 */
#ifndef SMTRAIL_AWSCHECK_H
#define SMTRAIL_AWSCHECK_H

#include "common.h"

struct cfg;

typedef void awscheck_out_cb(const char *line, void *arg);

/* Returns the number of failed checks (0: all passed), or a negative errno
 * when it could not start (no memory, no event loop). */
int awscheck_run(const struct cfg *c, const char *config_name,
    awscheck_out_cb *out, void *arg) MUST_CHECK;

#endif
