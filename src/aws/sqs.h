/*
 * sqs.h: the SQS calls smtrail makes, in the JSON protocol
 * (X-Amz-Target: AmazonSQS.<Action>, application/x-amz-json-1.0), on the
 * loop through aws.h (signing, retries, error codes). Each call ends once
 * with its callback unless cancelled. Received messages are handed over:
 * the callback owns them (sqs_msgs_free). Never prints.
 *
 * Region and endpoint come from the queue URL (sqs_queue_endpoint):
 *   https://sqs.<region>.amazonaws.com/<account>/<name>      standard
 *   https://sqs-fips.<region>.amazonaws.com/...              FIPS
 *   https://sqs.<region>.amazonaws.com.cn/...                China
 *   https://sqs.<region>.api.aws/...                         dual-stack
 *   https://vpce-<id>.sqs.<region>.vpce.amazonaws.com/...    VPC endpoint
 *   https://<region>.queue.amazonaws.com/...                 legacy
 *   https://queue.amazonaws.com/...                          legacy, us-east-1
 * Requests are signed for that region whatever aws.region says. They go to
 * a custom SQS endpoint when one is set (aws.h: a local emulator, tests);
 * else to the URL's own host, a valid endpoint for all but the legacy forms
 * (which go to https://sqs.<region>.amazonaws.com) -- what makes VPC
 * endpoints work -- always over https. A URL whose host is not AWS's (a
 * local emulator's http://127.0.0.1:4566/000000000000/q) is signed with the
 * default region (none: -EINVAL with a diag) and sent to the custom
 * endpoint, else to the URL's own scheme, host and port.
 */
#ifndef SMTRAIL_SQS_H
#define SMTRAIL_SQS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aws.h"
#include "common.h"

struct diag;
struct json_object;

#define SQS_MAX_BATCH 10

struct sqs_msg {
	char *message_id;
	char *receipt_handle;
	char *body;
	unsigned receive_count;     /* ApproximateReceiveCount, 0: unknown */
	uint64_t sent_timestamp_ms; /* SentTimestamp, 0: unknown */
};

struct sqs_receive_opts {
	unsigned max_messages;         /* 1-10 */
	unsigned wait_time_s;          /* long poll, 0-20 */
	unsigned visibility_timeout_s; /* 0: the queue's */
	bool visibility_given;         /* send it even when 0 */
};

typedef void sqs_receive_cb(const struct aws_result *res, struct sqs_msg *msgs,
    size_t n, void *arg);
/* results[i]: 0 deleted/changed, or -ENOENT, -EINVAL... for entry i. */
typedef void sqs_batch_cb(const struct aws_result *res, const int *results,
    size_t n, void *arg);
/* attrs: the "Attributes" object (borrowed), NULL on error. */
typedef void sqs_attrs_cb(const struct aws_result *res,
    struct json_object *attrs, void *arg);

/* Where a queue's requests go and the region they are signed with. */
struct sqs_endpoint {
	char url[320];                       /* "scheme://host[:port]" */
	char region[AWS_MAX_REGION + 1];     /* never empty */
	char url_region[AWS_MAX_REGION + 1]; /* the URL's, "" if none */
	bool custom;                         /* url is the custom endpoint */
};

/* The queue URL's region into region[] and 1 when its host is one of
 * AWS's forms above; 0 (region[] "") when the host is not AWS's; -EINVAL
 * when the URL is malformed (no http(s) scheme, no host, bytes outside
 * [A-Za-z0-9.-] in the host, an AWS form with a malformed region). */
int sqs_url_region(const char *queue_url,
    char region[AWS_MAX_REGION + 1]) MUST_CHECK;
int sqs_queue_endpoint(const struct aws *a, const char *queue_url,
    struct sqs_endpoint *ret, struct diag *reterr) MUST_CHECK;

int sqs_receive(struct aws *a, const char *queue_url,
    const struct sqs_receive_opts *o, sqs_receive_cb *cb, void *arg,
    struct aws_op **ret) MUST_CHECK;
void sqs_msgs_free(struct sqs_msg *msgs, size_t n);
/* Frees one message's strings (not the message). */
void sqs_msg_done(struct sqs_msg *m);

int sqs_delete_batch(struct aws *a, const char *queue_url,
    const char *const *receipt_handles, size_t n, sqs_batch_cb *cb, void *arg,
    struct aws_op **ret) MUST_CHECK;
int sqs_change_visibility_batch(struct aws *a, const char *queue_url,
    const char *const *receipt_handles, size_t n, unsigned timeout_s,
    sqs_batch_cb *cb, void *arg, struct aws_op **ret) MUST_CHECK;
int sqs_get_queue_attributes(struct aws *a, const char *queue_url,
    const char *const *names, size_t n, sqs_attrs_cb *cb, void *arg,
    struct aws_op **ret) MUST_CHECK;

#endif
