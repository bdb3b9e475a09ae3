/*
 * alert.h: one rule matched one record; what sinks and `replay` print.
 *
 * alert_build() copies out everything it needs from the record (which is
 * borrowed from the scanner), renders the summary and the group key, and
 * holds a reference on the record for sinks that send it raw. The identity
 * of an alert is (rule id, eventID). alert_json() writes the alert as one
 * JSON object without a newline; field names are a contract (see
 * smtrail(8), "OUTPUT"). Never prints.
 */
#ifndef SMTRAIL_ALERT_H
#define SMTRAIL_ALERT_H

#include <stdbool.h>

#include "common.h"
#include "rules.h"

struct buf;
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
	char *account;   /* recipientAccountId */
	char *secret_id; /* normalised, see record.h */
	char *principal; /* userIdentity.arn, else invokedBy */
	char *source_ip;
	char *error_code;
	struct json_object *record; /* a reference; NULL once dropped */
};

int alert_build(const struct rule *r, struct json_object *rec,
    struct alert *ret) MUST_CHECK;
void alert_done(struct alert *a);

/* with_record: add "record", the raw CloudTrail record (webhook sink). */
int alert_json(const struct alert *a, bool with_record,
    struct buf *out) MUST_CHECK;

#endif
