/*
 * alert.c: see alert.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "alert.h"
#include "buf.h"
#include "diag.h"
#include "bounds.h"
#include "record.h"
#include "text.h"

/* Records nest up to TRAIL_MAX_DEPTH; the alert adds a level. */
#define ALERT_VIEW_MAX_DEPTH (TRAIL_MAX_DEPTH + 8)

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
	rc = rc < 0 ? rc
		    : alert_dup(record_account_alias(rec), &a.account_alias);
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
	free(a->account_alias);
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
	if (a->account_alias != NULL)
		r = r < 0 ? r
			  : alert_field(&obj, "accountAlias", a->account_alias);
	r = r < 0 ? r : alert_field(&obj, "secretId", a->secret_id);
	r = r < 0 ? r : alert_field(&obj, "principal", a->principal);
	r = r < 0 ? r : alert_field(&obj, "sourceIPAddress", a->source_ip);
	r = r < 0 ? r : alert_field(&obj, "errorCode", a->error_code);
	r = r < 0 ? r : alert_field(&obj, "group", a->group);
	if (r == 0 && a->extra != NULL && a->extra[0] != '\0') {
		r = buf_putc(&obj, ',');
		r = r < 0 ? r : buf_puts(&obj, a->extra);
	}
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
		buf_truncate(out, start);
	return r;
}

/* ---- AWS console links ------------------------------------------------ */

static bool
alert_region_ok(const char *region)
{
	size_t i;

	if (region == NULL || region[0] < 'a' || region[0] > 'z')
		return false;
	for (i = 0; region[i] != '\0'; i++) {
		char c = region[i];

		if (i >= 32 ||
		    !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			c == '-'))
			return false;
	}
	return true;
}

/*
 * The console's host for the region's partition: China regions have their
 * own regional hosts, GovCloud one global host (the region goes in the
 * query), everything else the commercial regional hosts.
 */
static int
alert_console_host(struct buf *b, const char *region)
{
	if (strncmp(region, "cn-", 3) == 0)
		return buf_printf(b, "https://%s.console.amazonaws.cn", region);
	if (strncmp(region, "us-gov-", 7) == 0)
		return buf_puts(b, "https://console.amazonaws-us-gov.com");
	return buf_printf(b, "https://%s.console.aws.amazon.com", region);
}

int
alert_console_event_url(struct buf *b, const char *region, const char *event_id)
{
	size_t start = b->len;
	int r;

	if (!alert_region_ok(region) || event_id == NULL || *event_id == '\0')
		return -EINVAL;
	r = alert_console_host(b, region);
	if (r == 0)
		r = buf_printf(b, "/cloudtrail/home?region=%s#/events/",
		    region);
	if (r == 0)
		r = text_url_encode(b, event_id);
	if (r < 0) {
		buf_truncate(b, start);
	}
	return r;
}

int
alert_console_secret_url(struct buf *b, const char *region, const char *secret)
{
	size_t start = b->len;
	int r;

	if (!alert_region_ok(region) || secret == NULL || *secret == '\0')
		return -EINVAL;
	r = alert_console_host(b, region);
	if (r == 0)
		r = buf_puts(b, "/secretsmanager/secret?name=");
	if (r == 0)
		r = text_url_encode(b, secret);
	if (r == 0)
		r = buf_printf(b, "&region=%s", region);
	if (r < 0) {
		buf_truncate(b, start);
	}
	return r;
}

/* ---- the alert, parsed back (alert_parse) ------------------------------ */

static int
alert_view_member(struct json_object *root, const char *key,
    enum json_type want, struct json_object **ret, struct diag *reterr)
{
	struct json_object *v = NULL;

	*ret = NULL;
	if (!json_object_object_get_ex(root, key, &v) || v == NULL)
		return 0; /* absent, or null */
	if (!json_object_is_type(v, want))
		return diag_set(reterr, -EBADMSG, NULL, 0, 0,
		    "alert: '%s' is not %s", key,
		    want == json_type_string        ? "a string"
			: want == json_type_int     ? "an integer"
			: want == json_type_boolean ? "a boolean"
			: want == json_type_array   ? "an array"
						    : "an object");
	*ret = v;
	return 0;
}

static int
alert_view_str(struct json_object *root, const char *key, const char **ret,
    struct diag *reterr)
{
	struct json_object *v;
	int r;

	*ret = NULL;
	r = alert_view_member(root, key, json_type_string, &v, reterr);
	if (r == 0 && v != NULL && json_object_get_string_len(v) > 0)
		*ret = json_object_get_string(v);
	return r;
}

static int
alert_view_count(struct json_object *root, const char *key, uint64_t *ret,
    struct diag *reterr)
{
	struct json_object *v;
	int r;

	*ret = 0;
	r = alert_view_member(root, key, json_type_int, &v, reterr);
	if (r < 0 || v == NULL)
		return r;
	if (json_object_get_int64(v) < 0)
		return diag_set(reterr, -EBADMSG, NULL, 0, 0,
		    "alert: '%s' is negative", key);
	*ret = (uint64_t)json_object_get_int64(v);
	return 0;
}

static int
alert_view_fields(struct alert_view *a, struct diag *reterr)
{
	static const char *const sev[] = {"info", "warning", "error",
	    "critical"};
	struct json_object *o = a->root;
	struct json_object *v = NULL;
	const char *status = NULL;
	size_t i;
	int r;

	r = alert_view_str(o, "rule", &a->rule, reterr);
	if (r == 0 && a->rule == NULL)
		return diag_set(reterr, -EBADMSG, NULL, 0, 0,
		    "alert: no rule id");
	r = r < 0 ? r : alert_view_str(o, "title", &a->title, reterr);
	r = r < 0 ? r : alert_view_str(o, "severity", &a->severity, reterr);
	r = r < 0 ? r : alert_view_str(o, "summary", &a->summary, reterr);
	r = r < 0 ? r : alert_view_str(o, "eventID", &a->event_id, reterr);
	r = r < 0 ? r : alert_view_str(o, "eventName", &a->event_name, reterr);
	r = r < 0 ? r : alert_view_str(o, "eventTime", &a->event_time, reterr);
	r = r < 0 ? r : alert_view_str(o, "awsRegion", &a->region, reterr);
	r = r < 0
	    ? r
	    : alert_view_str(o, "recipientAccountId", &a->account, reterr);
	r = r < 0
	    ? r
	    : alert_view_str(o, "accountAlias", &a->account_alias, reterr);
	r = r < 0 ? r : alert_view_str(o, "secretId", &a->secret_id, reterr);
	r = r < 0 ? r : alert_view_str(o, "principal", &a->principal, reterr);
	r = r < 0 ? r
		  : alert_view_str(o, "sourceIPAddress", &a->source_ip, reterr);
	r = r < 0 ? r : alert_view_str(o, "errorCode", &a->error_code, reterr);
	r = r < 0 ? r : alert_view_str(o, "group", &a->group, reterr);
	r = r < 0 ? r
		  : alert_view_str(o, "suppressed_since", &a->suppressed_since,
			reterr);
	r = r < 0 ? r : alert_view_str(o, "status", &status, reterr);
	r = r < 0 ? r : alert_view_count(o, "count", &a->count, reterr);
	r = r < 0 ? r
		  : alert_view_count(o, "suppressed", &a->suppressed, reterr);
	r = r < 0 ? r
		  : alert_view_member(o, "events", json_type_array, &a->events,
			reterr);
	r = r < 0 ? r
		  : alert_view_member(o, "values", json_type_array, &a->values,
			reterr);
	r = r < 0 ? r
		  : alert_view_member(o, "readers", json_type_array,
			&a->readers, reterr);
	r = r < 0 ? r
		  : alert_view_member(o, "record", json_type_object, &a->record,
			reterr);
	r = r < 0 ? r
		  : alert_view_member(o, "test", json_type_boolean, &v, reterr);
	if (r < 0)
		return r;
	a->test = v != NULL && json_object_get_boolean(v);
	if (a->title == NULL)
		a->title = a->rule;
	if (a->severity == NULL)
		a->severity = "warning";
	for (i = 0; i < ARRAY_SIZE(sev); i++)
		if (strcmp(a->severity, sev[i]) == 0)
			break;
	if (i == ARRAY_SIZE(sev))
		return diag_set(reterr, -EBADMSG, NULL, 0, 0,
		    "alert: unknown severity");
	a->severity = sev[i]; /* static: the alert's may be cut below */
	if (status != NULL && strcmp(status, "resolved") == 0)
		a->resolved = true;
	else if (status != NULL && strcmp(status, "firing") != 0)
		return diag_set(reterr, -EBADMSG, NULL, 0, 0,
		    "alert: unknown status");
	if (a->count < 2 && a->events != NULL &&
	    json_object_array_length(a->events) >= 2)
		a->count = json_object_array_length(a->events);
	if (a->count < 2)
		a->count = 0;
	return 0;
}

/* Appends s, and sep before it unless first, keeping what was appended
 * since start within max bytes (then cut, with "..."); 1 once cut. */
static int
alert_list_add(struct buf *out, size_t start, size_t max, const char *sep,
    const char *s)
{
	size_t used = out->len - start;
	size_t len = strlen(s);
	int r = 0;

	if (used > 0) {
		r = buf_puts(out, sep);
		used += strlen(sep);
	}
	if (r < 0 || used + len <= max)
		return r < 0 ? r : buf_append(out, s, len);
	len = max > used + 3 ? max - used - 3 : 0;
	while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
		len--; /* a character's first byte */
	buf_truncate(out, used > max - 3 ? start + max - 3 : out->len);
	r = buf_append(out, s, len);
	r = r < 0 ? r : buf_puts(out, "...");
	return r < 0 ? r : 1;
}

int
alert_values_text(const struct alert_view *a, struct buf *out, size_t max)
{
	size_t start = out->len;
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && a->values != NULL &&
	     i < json_object_array_length(a->values);
	     i++) {
		struct json_object *v = json_object_array_get_idx(a->values, i);

		if (json_object_is_type(v, json_type_string))
			r = alert_list_add(out, start, max, ", ",
			    json_object_get_string(v));
	}
	return r < 0 ? r : 0;
}

int
alert_readers_text(const struct alert_view *a, struct buf *out, size_t max)
{
	size_t start = out->len;
	size_t i;
	int r = 0;

	if (a->readers != NULL && json_object_array_length(a->readers) == 0)
		return buf_puts(out, "nobody lately");
	for (i = 0; r == 0 && a->readers != NULL &&
	     i < json_object_array_length(a->readers);
	     i++) {
		struct json_object *e =
		    json_object_array_get_idx(a->readers, i);
		struct json_object *p = NULL, *t = NULL;
		char one[512];

		if (!json_object_object_get_ex(e, "principal", &p) ||
		    !json_object_is_type(p, json_type_string))
			continue;
		(void)json_object_object_get_ex(e, "lastRead", &t);
		(void)snprintf(one, sizeof(one), "%s (%s)",
		    json_object_get_string(p),
		    json_object_is_type(t, json_type_string)
			? json_object_get_string(t)
			: "?");
		r = alert_list_add(out, start, max, ", ", one);
	}
	return r < 0 ? r : 0;
}

int
alert_parse(const char *json, size_t len, struct alert_view *ret,
    struct diag *reterr)
{
	struct alert_view a;
	struct json_tokener *tok;
	enum json_tokener_error e;
	size_t end;
	int r;

	memset(&a, 0, sizeof(a));
	if (len == 0 || len > INT_MAX)
		return diag_set(reterr, -EBADMSG, NULL, 0, 0, "alert: %s",
		    len == 0 ? "empty" : "too large");
	if (memchr(json, '\0', len) != NULL)
		return diag_set(reterr, -EBADMSG, NULL, 0, 0,
		    "alert: holds a NUL byte");
	tok = json_tokener_new_ex(ALERT_VIEW_MAX_DEPTH);
	if (tok == NULL)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	a.root = json_tokener_parse_ex(tok, json, (int)len);
	e = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (e != json_tokener_success) {
		json_object_put(a.root);
		return diag_set(reterr, -EBADMSG, NULL, 0, 0,
		    "alert: not JSON: %s at byte %zu",
		    e == json_tokener_continue ? "truncated"
					       : json_tokener_error_desc(e),
		    end);
	}
	if (!json_object_is_type(a.root, json_type_object)) {
		json_object_put(a.root);
		return diag_set(reterr, -EBADMSG, NULL, 0, 0,
		    "alert: not a JSON object");
	}
	r = alert_view_fields(&a, reterr);
	if (r < 0) {
		json_object_put(a.root);
		return r;
	}
	*ret = a;
	return 0;
}

void
alert_view_done(struct alert_view *a)
{
	json_object_put(a->root);
	memset(a, 0, sizeof(*a));
}

const char *
alert_record_str(const struct alert_view *a, const char *key)
{
	struct json_object *o = a->record;
	struct json_object *v = NULL;
	const char *dot = strchr(key, '.');
	char head[64];

	if (o == NULL)
		return NULL;
	if (dot != NULL) {
		if ((size_t)(dot - key) >= sizeof(head))
			return NULL;
		memcpy(head, key, (size_t)(dot - key));
		head[dot - key] = '\0';
		if (!json_object_object_get_ex(o, head, &o) ||
		    !json_object_is_type(o, json_type_object))
			return NULL;
		key = dot + 1;
	}
	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    json_object_get_string_len(v) == 0)
		return NULL;
	return json_object_get_string(v);
}

const char *
alert_count_text(const struct alert_view *a, char *buf, size_t size)
{
	if (a->count == 0 || size == 0) {
		if (size > 0)
			buf[0] = '\0';
		return size > 0 ? buf : "";
	}
	(void)snprintf(buf, size, " (%" PRIu64 " events)", a->count);
	return buf;
}

const char *
alert_suppressed_text(const struct alert_view *a, char *buf, size_t size)
{
	if (a->suppressed_since != NULL)
		(void)snprintf(buf, size, "%" PRIu64 " more since %s",
		    a->suppressed, a->suppressed_since);
	else
		(void)snprintf(buf, size, "%" PRIu64 " more", a->suppressed);
	return buf;
}
