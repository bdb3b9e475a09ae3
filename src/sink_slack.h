/*
 * sink_slack.h: the slack kind (sink_kind.h): an alert as a Slack
 * incoming-webhook message (Block Kit), POSTed to the hook's url (a
 * secret: its path is the credential). Options channel, username,
 * icon_emoji and mention (each at most SLACK_MAX_OPTION bytes, else the
 * destination is refused); at most one message a second unless `rate` says
 * otherwise (Slack's limit for incoming webhooks); a 429 with Retry-After
 * pauses the destination; a refusal's detail is Slack's one-word reply.
 *
 * slack_payload() is pure: it parses the alert's JSON text (as the spool
 * holds it; see struct alert_view in alert.h for the members it reads) and
 * appends the message to out, or leaves out as it was and returns -EBADMSG
 * (with reterr) for an alert it cannot render, -EINVAL for an option over
 * SLACK_MAX_OPTION, -E2BIG when out's ceiling is too small (the
 * message never exceeds SLACK_MAX_PAYLOAD), -ENOMEM.
 *
 * The message, in order:
 *   "channel", "username", "icon_emoji": only the options that are set;
 *   "text": the notification fallback, at most SLACK_MAX_FALLBACK bytes;
 *   "blocks":
 *     header    severity emoji and name, then the title (plain_text, at
 *               most SLACK_MAX_HEADER); "Resolved: <title>" with
 *               :white_check_mark: for "status": "resolved"; "[TEST] "
 *               first for "test": true;
 *     context   (test only) that this is a test from test-destination;
 *     section   the mention, then the summary (mrkdwn, SLACK_MAX_SECTION);
 *     section   (grouped) "*N events*" and up to SLACK_MAX_EVENT_IDS ids;
 *     context   (suppressed) "N more since <suppressed_since>";
 *     section   fields: Account (and alias), Region, Secret, Principal,
 *               Source IP, Event time, Event, Error, Distinct values
 *               (a distinct rule's), Read lately by (readers: true),
 *               those known, each at most SLACK_MAX_FIELD_TEXT (the last
 *               two at most 300 bytes);
 *     section   links to the CloudTrail console event and the secret
 *               (when the region and the eventID or secret are known);
 *     context   the rule id and the eventID.
 * Texts from the alert are escaped for mrkdwn (&, <, >), invalid UTF-8
 * becomes U+FFFD, and every text is cut on a character boundary to its
 * limit, so the payload is always one Slack accepts: our caps keep all
 * block text under SLACK_MAX_BLOCK_TEXT (Slack has refused messages of
 * ~13k characters of blocks below any documented per-block limit).
 *
 * The mention (operator text, such as "<!here>", not escaped) goes before
 * the text of every message this destination sends, whatever the severity
 * or status: to page only on critical alerts, route only those to a
 * destination with a mention (smtrail.yaml(5), "route").
 */
#ifndef SMTRAIL_SINK_SLACK_H
#define SMTRAIL_SINK_SLACK_H

#include <stddef.h>

#include "common.h"

struct buf;
struct diag;

/* Slack's documented limits (characters; we count bytes, which is safe). */
#define SLACK_MAX_BLOCKS 50
#define SLACK_MAX_HEADER 150
#define SLACK_MAX_SECTION 3000
#define SLACK_MAX_FIELDS 10
#define SLACK_MAX_FIELD 2000
/* Ours, below Slack's, so that the whole stays well under ~13k. */
#define SLACK_MAX_FIELD_TEXT 500
#define SLACK_MAX_EVENTS_TEXT 1000
#define SLACK_MAX_LINKS_TEXT 2000
#define SLACK_MAX_CONTEXT_TEXT 300
#define SLACK_MAX_EVENT_IDS 10
#define SLACK_MAX_FALLBACK 1000
#define SLACK_MAX_BLOCK_TEXT 12000
/* The JSON of a message: block text plus escapes, with room to spare. */
#define SLACK_MAX_PAYLOAD (256u << 10)
/* Options longer than this are refused (a mistake, not a name). */
#define SLACK_MAX_OPTION 256u

struct slack_opts {
	const char *channel; /* NULL: the webhook's own */
	const char *username;
	const char *icon_emoji;
	const char *mention; /* NULL: none; see above */
};

int slack_payload(const char *alert_json, size_t len,
    const struct slack_opts *o, struct buf *out,
    struct diag *reterr) MUST_CHECK;

#endif
