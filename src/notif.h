/*
 * notif.h: what an SQS message body says (pure parsing, no I/O).
 *
 * A body is one of (DESIGN.md, "Notifications"):
 *  - an SNS envelope, "Type":"Notification", whose Message (a JSON string)
 *    holds one of the shapes below; "SubscriptionConfirmation" and
 *    "UnsubscribeConfirmation" envelopes are NOTIF_SHAPE_SNS_CONFIRMATION
 *    with no objects and their fields in n->confirm (the intake logs
 *    them, and confirms a subscription only when configured to and
 *    notif_subscribe_url_check() passes);
 *  - CloudTrail's {"s3Bucket":"b","s3ObjectKey":["k",...]} (raw delivery);
 *  - an S3 event notification, {"Records":[{"eventSource":"aws:s3",...}]}
 *    (keys URL-encoded form style: '+' is a space, %XX a byte), or S3's
 *    {"Service":"Amazon S3","Event":"s3:TestEvent"} (no objects);
 *  - an EventBridge event whose detail is a CloudTrail record ("AWS API Call
 *    via CloudTrail", "AWS Service Event via CloudTrail", "AWS Console
 *    Action via CloudTrail", "AWS Console Signin via CloudTrail"): the
 *    record is handed out as is, plus "recipientAccountId" from the
 *    envelope's "account" when the detail lacks it (the EventBridge guide's
 *    sample does).
 *
 * The objects are the log files to fetch, in message order, duplicates
 * removed. Keys under a "CloudTrail-Digest/" path segment, keys that do not
 * end in ".json.gz" or ".json", and S3 events other than ObjectCreated:* are
 * counted and skipped; a message may thus be valid with no objects.
 *
 * Errors (reterr says what was expected, quoting at most 100 bytes of the
 * body): -EBADMSG not JSON or not a known shape, wrong types, empty
 * key list, empty or malformed bucket name, a key that is empty, longer
 * than 1024 bytes, badly %-encoded or holds a NUL; -E2BIG a body over
 * NOTIF_MAX_BODY or more than NOTIF_MAX_OBJECTS keys; -EACCES a bucket not in
 * the allow-list (any one refuses the whole message: a forged message must
 * not make us fetch arbitrary objects); -ENOMEM. JSON objects with a
 * repeated key keep the last value (json-c), and that is the value checked
 * against the allow-list. Never prints; no I/O; any thread.
 */
#ifndef SMTRAIL_NOTIF_H
#define SMTRAIL_NOTIF_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "common.h"

struct diag;
struct json_object;

/* SQS caps a message at 256 KiB. */
#define NOTIF_MAX_BODY (256u << 10)
/* Keys (or S3 event records) in one message; CloudTrail lists a few. */
#define NOTIF_MAX_OBJECTS 1000u
/* S3's own limit on a key, in bytes. */
#define NOTIF_MAX_KEY 1024u
/* A SubscribeURL we would visit (SNS's are about 350 bytes: host, topic
 * ARN, a 256-hex-digit token); also what a log line quotes of one. */
#define NOTIF_MAX_SUBSCRIBE_URL 1024u

enum notif_shape {
	NOTIF_SHAPE_SNS,
	NOTIF_SHAPE_CLOUDTRAIL,
	NOTIF_SHAPE_S3_EVENT,
	NOTIF_SHAPE_S3_TEST,
	NOTIF_SHAPE_EVENTBRIDGE,
	NOTIF_SHAPE_SNS_CONFIRMATION,
	NOTIF_SHAPE_COUNT
};

struct notif_object {
	char *bucket;
	char *key; /* decoded */
};

/*
 * An SNS SubscriptionConfirmation or UnsubscribeConfirmation: each string
 * is borrowed from n->sns (NULL when the envelope lacks it; a present
 * field of another type is -EBADMSG). Unverified until sns_verify says so.
 */
struct notif_confirm {
	bool subscribe; /* SubscriptionConfirmation, else Unsubscribe... */
	const char *topic_arn;
	const char *subscribe_url;
	const char *token;
};

struct notif {
	enum notif_shape shape; /* outermost shape (SNS if enveloped) */
	enum notif_shape inner; /* what the SNS Message held, else == shape */
	struct notif_object *objects; /* log files to fetch, in order */
	size_t n_objects;
	size_t skipped_digest; /* CloudTrail-Digest/ keys skipped */
	size_t skipped_other;  /* not *.json.gz / *.json, or not created */
	/* EventBridge: the detail, as a CloudTrail record; else NULL. */
	struct json_object *record;
	/* The SNS envelope (for sns_verify) when shape is NOTIF_SHAPE_SNS or
	 * NOTIF_SHAPE_SNS_CONFIRMATION; else NULL. */
	struct json_object *sns;
	struct notif_confirm confirm; /* NOTIF_SHAPE_SNS_CONFIRMATION only */
};

struct notif_opts {
	const char *const *allowed_buckets;
	size_t n_allowed; /* 0: any bucket */
};

const char *notif_shape_str(enum notif_shape s);

/* Parses len bytes of body (no NUL needed). o may be NULL (any bucket).
 * On success *ret is the caller's (notif_free). */
int notif_parse(const char *body, size_t len, const struct notif_opts *o,
    struct notif **ret, struct diag *reterr) MUST_CHECK;
void notif_free(struct notif *n); /* NULL ok */

/*
 * Whether url may be visited to confirm a subscription to topic_arn:
 * at most NOTIF_MAX_SUBSCRIBE_URL bytes of printable ASCII (no space, no
 * '#'), matched by pattern (sns.subscribe_url_pattern: which hosts), and a
 * query holding exactly one Action=ConfirmSubscription, one TopicArn equal
 * to topic_arn (after %-decoding) and one non-empty Token. 0 if so; else
 * -EACCES with what failed in reterr (untrusted text quoted). Pure.
 */
int notif_subscribe_url_check(const char *url, const regex_t *pattern,
    const char *topic_arn, struct diag *reterr) MUST_CHECK;

#endif
