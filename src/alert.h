/*
 * alert.h: one rule matched one record; what sinks and `replay` print.
 *
 * alert_build() copies out everything it needs from the record (which is
 * borrowed from the scanner), renders the summary and the group key, and
 * holds a reference on the record for sinks that send it raw. The identity
 * of an alert is (rule id, eventID). alert_json() writes the alert as one
 * JSON object without a newline; field names are a contract (see
 * smtrail(8), "OUTPUT"). alert_parse() reads that text back (as the spool
 * holds it, with "record") for the sink renderers. Never prints.
 */
#ifndef SMTRAIL_ALERT_H
#define SMTRAIL_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "rules.h"

struct buf;
struct diag;
struct json_object;

struct alert {
	char *rule_id;
	char *title;
	enum rules_severity severity;
	char *summary;
	char *group;
	char *event_id; /* NULL when the record has none */
	char *event_name;
	char *event_time;
	char *region;
	char *account;       /* recipientAccountId */
	char *account_alias; /* smtrail.yaml accounts:, or NULL */
	char *secret_id;     /* normalised, see record.h */
	char *principal;     /* userIdentity.arn, else invokedBy */
	char *source_ip;
	char *error_code;
	/* Members a stateful rule adds ("count", "events", "values",
	 * "readers"): JSON text without braces, borrowed; NULL: none. */
	const char *extra;
	struct json_object *record; /* a reference; NULL once dropped */
};

int alert_build(const struct rule *r, struct json_object *rec,
    struct alert *ret) MUST_CHECK;
void alert_done(struct alert *a);

/* with_record: add "record", the raw CloudTrail record (webhook sink). */
int alert_json(const struct alert *a, bool with_record,
    struct buf *out) MUST_CHECK;

/*
 * struct alert_view is a parsed view of an alert's JSON text. Members
 * beyond alert_json()'s, set by grouping, throttling and test-destination:
 *   "status": "firing" (when absent) or "resolved";
 *   "count": N, "events": [eventID, ...]   several matches as one alert
 *                                            (grouped, or a threshold's);
 *   "values": [text, ...]                    a distinct rule's values;
 *   "readers": [{"principal": P, "lastRead": ISO}, ...]  who read the
 *                                            secret lately (readers: true);
 *   "suppressed": N, "suppressed_since": "<ISO 8601>"  after a throttle;
 *   "test": true                             smtrail test-destination;
 *   "accountAlias": "<alias>"                shown next to the account.
 * A string member that is absent, null or "" reads as NULL. -EBADMSG (with
 * reterr) when the text is not a JSON object, "rule" is not a non-empty
 * string, a member has the wrong type, or "severity" or "status" is not
 * one of its values; an absent severity is "warning" (the rules' default).
 */
struct alert_view {
	struct json_object *root;   /* owned; the strings borrow from it */
	struct json_object *record; /* the CloudTrail record, or NULL */
	const char *rule;
	const char *title; /* the rule id when absent */
	const char *severity;
	const char *summary;
	const char *event_id;
	const char *event_name;
	const char *event_time;
	const char *region;
	const char *account;
	const char *account_alias;
	const char *secret_id;
	const char *principal;
	const char *source_ip;
	const char *error_code;
	const char *group;
	bool resolved;
	bool test;
	uint64_t count;              /* >= 2: grouped; else 0 */
	struct json_object *events;  /* array of eventIDs, or NULL */
	struct json_object *values;  /* array, or NULL */
	struct json_object *readers; /* array of objects, or NULL */
	uint64_t suppressed;         /* 0: none */
	const char *suppressed_since;
};

/* "N more since <suppressed_since>", or "N more" without it: what a
 * receiver says of the matches a throttle held back. Into buf (at least
 * ALERT_MAX_SUPPRESSED_TEXT bytes to hold any). */
#define ALERT_MAX_SUPPRESSED_TEXT 320
const char *alert_suppressed_text(const struct alert_view *a, char *buf,
    size_t size);
/* " (N events)" for an alert of N >= 2 grouped matches, else "": what a
 * receiver's one-line summary says after the title. Into buf. */
const char *alert_count_text(const struct alert_view *a, char *buf,
    size_t size);
/* "v1, v2, ..." of the values, or "P1 (ISO), P2 (ISO), ..." of the
 * readers ("" when none; "nobody lately" for an empty readers list), into
 * out, cut at max bytes with "...". */
int alert_values_text(const struct alert_view *a, struct buf *out,
    size_t max) MUST_CHECK;
int alert_readers_text(const struct alert_view *a, struct buf *out,
    size_t max) MUST_CHECK;
int alert_parse(const char *json, size_t len, struct alert_view *ret,
    struct diag *reterr) MUST_CHECK;
void alert_view_done(struct alert_view *v);
/* A string member of the record ("eventSource", "userIdentity.arn": one
 * dot level), or NULL. Borrowed. */
const char *alert_record_str(const struct alert_view *v, const char *key);

/*
 * AWS console links: the CloudTrail event and the secret, on the host of
 * the region's partition (cn-*: <region>.console.amazonaws.cn, us-gov-*:
 * console.amazonaws-us-gov.com, else <region>.console.aws.amazon.com).
 * -EINVAL (nothing appended) when the region does not look like one
 * ([a-z][a-z0-9-]*, at most 32) or the eventID or secret is missing.
 */
int alert_console_event_url(struct buf *b, const char *region,
    const char *event_id) MUST_CHECK;
int alert_console_secret_url(struct buf *b, const char *region,
    const char *secret) MUST_CHECK;

#endif
