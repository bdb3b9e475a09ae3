/*
 * intake.h: the daemon's front half (DESIGN.md, "Intake"): SQS messages in,
 * Secrets Manager records out, and each message deleted once what it gave
 * is durable.
 *
 * One ReceiveMessage long poll at a time. Each message goes through an
 * explicit state machine (intake.c, msg_next[]): received -> verifying
 * (SNS signature) -> fetching (its S3 objects, streamed into scanners, at
 * most INTAKE_MAX_FETCHES at once over all messages) -> scanned (every
 * record handed to hooks.record) -> spooled (the caller's sync made it
 * durable: intake_synced()) -> deleting -> done; or parked (failed). Every
 * state change re-runs one deferred pass that starts waiting fetches,
 * sends the deletes and re-arms receiving: no message waits for another
 * one's success to move on.
 *
 * An SNS SubscriptionConfirmation (after its signature check, when
 * sns.verify_signatures is on) is logged at notice with its topic and
 * SubscribeURL; with sns.confirm_subscriptions, a topic in sns.topic_arns
 * and a URL notif_subscribe_url_check() passes, it is confirmed (a GET of
 * the SubscribeURL, state "confirming"). Confirmed, logged or refused: the
 * message is deleted; a failed GET is transient (sns_confirm). An
 * UnsubscribeConfirmation is logged at notice and deleted. Counted in
 * smtrail_sns_subscriptions_total{result}.
 *
 * Backpressure: receiving pauses while 2 x max_messages messages are in
 * work, or while hooks.pause names a reason (the sinks are behind, the
 * spool cannot be written); intake_kick() resumes it from the event that
 * relieves it, and a one-second timer looks again as a safety net.
 *
 * Failures are classified once (intake.c, intake_reasons[]): transient
 * ones (network, 5xx, throttling, a full or unwritable spool, our own
 * limits) leave the message for redelivery after a short backoff, nothing
 * deleted; permanent ones (a malformed body, a missing or denied object,
 * a bucket or topic not allowed, a bad SNS signature) are counted, logged
 * with the MessageId, and left to the queue's redrive policy, or at
 * sqs.max_receive_count logged in full and deleted.
 *
 * Receiving is counted in metrics: a failed ReceiveMessage in
 * smtrail_receive_errors_total{reason} (its cause from aws.h's result:
 * credentials, denied, queue_missing, throttled, server_error, timeout,
 * network, protocol); each successful one sets
 * smtrail_queue_oldest_message_age_seconds to the age of its oldest
 * message by SentTimestamp (0 when it returned none).
 *
 * Health (intake_health): unhealthy when ReceiveMessage keeps failing,
 * when receiving has been paused, or messages have failed without one
 * completing, for longer than 2 x the visibility timeout, or when a
 * message has been in work that long.
 *
 * Part of the daemon: it logs (one line per message and object) and
 * counts in metrics. Loop thread only; hooks are never called from inside
 * an intake_*() call. Without a queue (a lookup-only configuration) the
 * daemon has no intake: every call below takes NULL as a no-op (idle,
 * healthy, zero stats).
 */
#ifndef SMTRAIL_INTAKE_H
#define SMTRAIL_INTAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct aws;
struct buf;
struct cfg;
struct event_base;
struct http;
struct json_object;
struct log_ctx;
struct metrics;
struct sns_verifier;
struct intake; /* opaque */

/* Objects fetched and scanned at once: S3 is fast, the scan is the cost. */
#define INTAKE_MAX_FETCHES 4

struct intake_hooks {
	/*
	 * A Secrets Manager record (borrowed for the call) of the message
	 * ctx names. < 0 fails the message with that code: -E2BIG (the
	 * spool is full), -ENOSPC, -EIO, -ENOMEM... are all transient.
	 */
	int (*record)(struct json_object *rec, const struct log_ctx *ctx,
	    void *arg);
	/* A message is scanned: make its alerts durable, then call
	 * intake_synced() (from the loop, not from inside this hook). */
	void (*scanned)(void *arg);
	/* Why receiving must wait (a short phrase), or NULL. */
	const char *(*pause)(void *arg);
	/* ReceiveMessage succeeded (each time), with n messages; idle: none
	 * came and none is in work (the queue is drained). NULL: nothing. */
	void (*received)(size_t n, bool idle, void *arg);
	void *arg;
};

struct intake_stats {
	size_t in_work;       /* messages received and not yet deleted/parked */
	unsigned fetching;    /* objects in flight */
	unsigned recv_errors; /* ReceiveMessage failures in a row */
	bool paused;
	const char *last_error; /* a short phrase, "" if none */
};

/* Everything borrowed until intake_free() (cfg until intake_set_cfg()). */
int intake_new(struct event_base *base, struct aws *aws,
    struct sns_verifier *sns, struct http *http, struct metrics *metrics,
    const struct cfg *cfg, const struct intake_hooks *hooks,
    struct intake **ret) MUST_CHECK;
/* Cancels what is in flight (the messages come back after their
 * visibility timeout). NULL ok. */
void intake_free(struct intake *in);

/* A reloaded configuration; the queue is the one intake_new() had. */
void intake_set_cfg(struct intake *in, const struct cfg *cfg);
/* Starts receiving. */
void intake_start(struct intake *in);
/* What hooks.record took so far is durable: scanned messages are deleted. */
void intake_synced(struct intake *in);
/* Something that held receiving back may have eased: look again. */
void intake_kick(struct intake *in);
/* Shutdown: stops receiving (the long poll is cancelled); work in
 * flight goes on. */
void intake_stop(struct intake *in);
/* Nothing in flight that must finish before exit (fetches, deletes,
 * signature checks). */
bool intake_idle(const struct intake *in);

void intake_stats(const struct intake *in, struct intake_stats *ret);
/* Appends a line saying how receiving goes; < 0 when unhealthy. */
int intake_health(const struct intake *in, struct buf *out) MUST_CHECK;

#endif
