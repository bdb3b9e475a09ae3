/*
 * sqs.h: the SQS calls smtrail makes, in the JSON protocol
 * (X-Amz-Target: AmazonSQS.<Action>, application/x-amz-json-1.0), on the
 * loop through aws.h (signing, retries, error codes). Each call ends once
 * with its callback unless cancelled. Received messages are handed over:
 * the callback owns them (sqs_msgs_free). Never prints.
 */
#ifndef SMTRAIL_SQS_H
#define SMTRAIL_SQS_H

#include <stddef.h>
#include <stdint.h>

#include "aws.h"
#include "common.h"

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
};

typedef void sqs_receive_cb(const struct aws_result *res, struct sqs_msg *msgs,
    size_t n, void *arg);
/* results[i]: 0 deleted/changed, or -ENOENT, -EINVAL... for entry i. */
typedef void sqs_batch_cb(const struct aws_result *res, const int *results,
    size_t n, void *arg);
/* attrs: the "Attributes" object (borrowed), NULL on error. */
typedef void sqs_attrs_cb(const struct aws_result *res,
    struct json_object *attrs, void *arg);

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
