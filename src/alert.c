/*
 * alert.c: see alert.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "alert.h"
#include "buf.h"
#include "limits.h"
#include "record.h"

static int
alert_dup(const char *s, char **ret)
{
	if (s == NULL) {
		*ret = NULL;
		return 0;
	}
	*ret = strdup(s);
	return *ret == NULL ? -ENOMEM : 0;
}

/*
 * A record's fields are the sender's text: one huge errorMessage must not
 * cost the alert, so text over the ceiling is cut, and says so.
 */
static int
alert_render(int r, struct buf *b)
{
	static const char cut[] = "...";

	if (r != -E2BIG)
		return r;
	while (b->len > 0 && b->len + sizeof(cut) - 1 > b->max)
		b->len--;
	/* Do not leave half of a UTF-8 sequence before the marker. */
	while (
	    b->len > 0 && ((unsigned char)b->data[b->len - 1] & 0xc0) == 0x80)
		b->len--;
	if (b->len > 0 && ((unsigned char)b->data[b->len - 1] & 0xc0) == 0xc0)
		b->len--;
	b->data[b->len] = '\0';
	return buf_append(b, cut, sizeof(cut) - 1);
}

int
alert_build(const struct rule *r, struct json_object *rec, struct alert *ret)
{
	struct alert a;
	struct buf b;
	int rc;

	memset(&a, 0, sizeof(a));
	buf_init(&b, ALERT_MAX_TEXT);
	a.severity = r->severity;
	rc = alert_dup(r->id, &a.rule_id);
	rc = rc < 0 ? rc : alert_dup(r->title, &a.title);
	rc =
	    rc < 0 ? rc : alert_dup(record_string(rec, "eventID"), &a.event_id);
	rc = rc < 0 ? rc
		    : alert_dup(record_string(rec, "eventName"), &a.event_name);
	rc = rc < 0 ? rc
		    : alert_dup(record_string(rec, "eventTime"), &a.event_time);
	rc =
	    rc < 0 ? rc : alert_dup(record_string(rec, "awsRegion"), &a.region);
	rc = rc < 0
	    ? rc
	    : alert_dup(record_string(rec, "recipientAccountId"), &a.account);
	rc = rc < 0 ? rc : alert_dup(record_secret_id(rec), &a.secret_id);
	rc = rc < 0 ? rc : alert_dup(record_principal(rec), &a.principal);
	rc = rc < 0
	    ? rc
	    : alert_dup(record_string(rec, "sourceIPAddress"), &a.source_ip);
	rc = rc < 0 ? rc
		    : alert_dup(record_string(rec, "errorCode"), &a.error_code);
	if (rc < 0)
		goto fail;
	rc = alert_render(rules_render_summary(r, rec, &b), &b);
	if (rc < 0)
		goto fail;
	a.summary = buf_steal(&b);
	rc = alert_render(rules_group_key(r, rec, &b), &b);
	if (rc < 0)
		goto fail;
	a.group = buf_steal(&b);
	if (a.summary == NULL || a.group == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	a.record = json_object_get(rec);
	*ret = a;
	return 0;
fail:
	buf_done(&b);
	alert_done(&a);
	return rc;
}

void
alert_done(struct alert *a)
{
	free(a->rule_id);
	free(a->title);
	free(a->summary);
	free(a->group);
	free(a->event_id);
	free(a->event_name);
	free(a->event_time);
	free(a->region);
	free(a->account);
	free(a->secret_id);
	free(a->principal);
	free(a->source_ip);
	free(a->error_code);
	json_object_put(a->record);
	memset(a, 0, sizeof(*a));
}

static int
alert_field(struct buf *out, const char *name, const char *value)
{
	int r;

	r = buf_printf(out, "%s\"%s\":", out->len > 1 ? "," : "", name);
	if (r < 0)
		return r;
	if (value == NULL)
		return buf_puts(out, "null");
	return buf_json_str(out, value, strlen(value));
}

int
alert_json(const struct alert *a, bool with_record, struct buf *out)
{
	size_t start = out->len;
	struct buf obj;
	int r;

	buf_init(&obj, ALERT_MAX_JSON + 2 * (size_t)TRAIL_MAX_RECORD);
	r = buf_putc(&obj, '{');
	r = r < 0 ? r : alert_field(&obj, "rule", a->rule_id);
	r = r < 0 ? r : alert_field(&obj, "title", a->title);
	r = r < 0
	    ? r
	    : alert_field(&obj, "severity", rules_severity_str(a->severity));
	r = r < 0 ? r : alert_field(&obj, "summary", a->summary);
	r = r < 0 ? r : alert_field(&obj, "eventID", a->event_id);
	r = r < 0 ? r : alert_field(&obj, "eventName", a->event_name);
	r = r < 0 ? r : alert_field(&obj, "eventTime", a->event_time);
	r = r < 0 ? r : alert_field(&obj, "awsRegion", a->region);
	r = r < 0 ? r : alert_field(&obj, "recipientAccountId", a->account);
	r = r < 0 ? r : alert_field(&obj, "secretId", a->secret_id);
	r = r < 0 ? r : alert_field(&obj, "principal", a->principal);
	r = r < 0 ? r : alert_field(&obj, "sourceIPAddress", a->source_ip);
	r = r < 0 ? r : alert_field(&obj, "errorCode", a->error_code);
	r = r < 0 ? r : alert_field(&obj, "group", a->group);
	if (r == 0 && with_record && a->record != NULL) {
		const char *raw = json_object_to_json_string_ext(a->record,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

		r = buf_puts(&obj, ",\"record\":");
		r = r < 0 ? r : buf_puts(&obj, raw);
	}
	r = r < 0 ? r : buf_putc(&obj, '}');
	r = r < 0 ? r : buf_append(out, obj.data, obj.len);
	buf_done(&obj);
	if (r < 0)
		out->len = start;
	return r;
}
