/*
 * sink_pd.h: the pagerduty kind (sink_kind.h): an alert as a PagerDuty
 * Events API v2 event, POSTed to url (default: PagerDuty's endpoint) with
 * the routing_key (a secret, required). PagerDuty sends no Retry-After:
 * a 429 is left to the caller's backoff. A refusal's detail is the reply's
 * "errors" (pd_reply_errors()), else its body.
 *
 * pd_payload() is pure: it parses the alert's JSON text (as the spool holds
 * it; see struct alert_view in alert.h) and appends the event to out, or
 * leaves out as it was and returns -EBADMSG (with reterr, which never holds
 * the key) for an alert it cannot render, -EINVAL without a routing key,
 * -E2BIG when out's ceiling is too small (an event never exceeds
 * PD_MAX_PAYLOAD), -ENOMEM.
 *
 * A firing alert is a trigger:
 *   {"routing_key", "event_action": "trigger", "dedup_key",
 *    "payload": {"summary" (at most PD_MAX_SUMMARY bytes: "[TEST] " for a
 *                 test, the title, "(N events)", "(N more since T)", ": "
 *                 and the alert's summary), "source" ("<account>/<region>",
 *                 "unknown" for either), "severity" (the alert's, 1:1),
 *                 "timestamp" (eventTime, when ISO 8601), "component" (the
 *                 secret), "group" (the rule id), "class" (eventName),
 *                 "custom_details" (the rule id, the record's eventName,
 *                 eventSource, eventID, userIdentity.arn, sourceIPAddress,
 *                 errorCode, errorMessage, awsRegion, recipientAccountId,
 *                 accountAlias, requestParameters; secretId; count and
 *                 events, values (a distinct rule's), readers (who read
 *                 the secret lately: principal, lastRead), suppressed
 *                 and suppressed_since, test: those present)},
 *    "links": [{"href", "text"}] (the CloudTrail event and the secret in
 *                 the AWS console, when the region is known),
 *    "client": "smtrail", "client_url" (only when set)}.
 * A resolved alert ("status": "resolved") is only
 *   {"routing_key", "event_action": "resolve", "dedup_key"}.
 * Strings are valid UTF-8 (invalid bytes become U+FFFD) and cut: each
 * detail string at PD_MAX_DETAIL, requestParameters at PD_MAX_PARAMS (then
 * as cut JSON text, in a string; so are its objects below 16 levels, so
 * the event nests at most 20 deep), events at PD_MAX_EVENTS ids.
 *
 * The dedup_key is "<rule id>:<group>" (the alert's "group"; its eventID
 * when it has none), so a resolve finds its trigger and a repeat joins the
 * open incident. When that is over PD_MAX_DEDUP_KEY bytes, or not clean
 * text (text_clean()), it is "<rule id, cut>:<sha256 hex of the
 * whole>", still unique and stable.
 */
#ifndef SMTRAIL_SINK_PD_H
#define SMTRAIL_SINK_PD_H

#include <stddef.h>

#include "common.h"

struct buf;
struct diag;

/* PagerDuty's limits. */
#define PD_MAX_SUMMARY 1024
#define PD_MAX_DEDUP_KEY 255
#define PD_MAX_PAYLOAD (512u << 10)
/* Ours, so that an event stays far below PD_MAX_PAYLOAD. */
#define PD_MAX_DETAIL 2048
#define PD_MAX_PARAMS (64u << 10)
#define PD_MAX_EVENTS 100

struct pd_opts {
	const char *routing_key; /* required; secret */
	const char *client_url;  /* NULL: none */
};

int pd_payload(const char *alert_json, size_t len, const struct pd_opts *o,
    struct buf *out, struct diag *reterr) MUST_CHECK;

/* Appends the dedup key (text, not JSON) for rule and group to out. */
int pd_dedup_key(const char *rule, const char *group,
    struct buf *out) MUST_CHECK;

/*
 * What a 400 reply says: its "errors" joined by "; " (else its "message")
 * appended to out as text. -EBADMSG when body is not such a reply.
 */
int pd_reply_errors(const char *body, size_t len, struct buf *out) MUST_CHECK;

#endif
