/*
 * sink_pd.c: see sink_pd.h. The event is written straight into the caller's
 * buffer; the few composed texts (summary, source) go through a scratch buffer
 * so that their limits hold on what PagerDuty will count.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "alert.h"
#include "buf.h"
#include "diag.h"
#include "sink_kind.h"
#include "sink_pd.h"
#include "text.h"

/* Deeper requestParameters are kept as (cut) JSON text in a string, so
 * the event nests at most 20 deep (parsers commonly stop at 32). */
#define PD_MAX_DEPTH 16
/* "<rule id, cut>:<64 hex digits>" fits in PD_MAX_DEDUP_KEY. */
#define PD_DEDUP_PREFIX (PD_MAX_DEDUP_KEY - 1 - 64)
/* A JSON object key inside requestParameters. */
#define PD_MAX_KEY 256
/* The source: an account id and a region; leave room for odd ones. */
#define PD_MAX_SOURCE 255

int
pd_dedup_key(const char *rule, const char *group, struct buf *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	size_t rlen = strlen(rule);
	size_t glen = group != NULL ? strlen(group) : 0;
	size_t start = out->len;
	size_t cut;
	EVP_MD_CTX *ctx;
	char h[2 * 32];
	unsigned int i;
	int ok;
	int r;

	if (rlen + 1 + glen <= PD_MAX_DEDUP_KEY && text_clean(rule, rlen) &&
	    text_clean(group != NULL ? group : "", glen)) {
		r = buf_append(out, rule, rlen);
		r = r < 0 ? r : buf_putc(out, ':');
		r = r < 0 ? r : buf_append(out, group, glen);
		goto done;
	}
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		return -ENOMEM;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, rule, rlen) == 1 &&
	    EVP_DigestUpdate(ctx, ":", 1) == 1 &&
	    (glen == 0 || EVP_DigestUpdate(ctx, group, glen) == 1) &&
	    EVP_DigestFinal_ex(ctx, md, &md_len) == 1 && md_len == 32;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -ENOMEM;
	for (i = 0; i < md_len; i++) {
		h[2 * i] = hex[md[i] >> 4];
		h[2 * i + 1] = hex[md[i] & 15];
	}
	/* The rule id stays readable, cut on a character boundary. */
	cut = 0;
	if (text_clean(rule, rlen)) {
		cut = rlen < PD_DEDUP_PREFIX ? rlen : PD_DEDUP_PREFIX;
		while (cut > 0 && cut < rlen &&
		    ((unsigned char)rule[cut] & 0xc0) == 0x80)
			cut--;
	}
	r = buf_append(out, rule, cut);
	r = r < 0 ? r : buf_putc(out, ':');
	r = r < 0 ? r : buf_append(out, h, sizeof(h));
done:
	if (r < 0) {
		buf_truncate(out, start);
	}
	return r;
}

int
pd_reply_errors(const char *body, size_t len, struct buf *out)
{
	struct json_tokener *tok;
	struct json_object *o;
	struct json_object *v = NULL;
	size_t start = out->len;
	size_t i;
	size_t n;
	int r = 0;

	if (len == 0 || len > INT_MAX)
		return -EBADMSG;
	tok = json_tokener_new();
	if (tok == NULL)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, body, (int)len);
	json_tokener_free(tok);
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return -EBADMSG;
	}
	if (json_object_object_get_ex(o, "errors", &v) &&
	    json_object_is_type(v, json_type_array) &&
	    json_object_array_length(v) > 0) {
		n = json_object_array_length(v);
		for (i = 0; r == 0 && i < n; i++) {
			struct json_object *e = json_object_array_get_idx(v, i);
			const char *s = json_object_get_string(e);

			if (s == NULL)
				continue;
			if (out->len > start)
				r = text_append(out, "; ", 2, out->max, 0);
			if (r == 0)
				r = text_append(out, s, strlen(s), out->max,
				    TEXT_ONELINE);
		}
	} else if (json_object_object_get_ex(o, "message", &v) &&
	    json_object_is_type(v, json_type_string)) {
		r = text_append(out, json_object_get_string(v),
		    (size_t)json_object_get_string_len(v), out->max,
		    TEXT_ONELINE);
	} else {
		r = -EBADMSG;
	}
	json_object_put(o);
	if (r < 0) {
		buf_truncate(out, start);
		return r;
	}
	return 0;
}

static bool
pd_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* YYYY-MM-DDThh:mm:ss[.fff](Z|+hh:mm|-hh:mm), as CloudTrail writes. */
static bool
pd_iso8601(const char *s)
{
	if (s == NULL || strlen(s) < 20 || !pd_digits(s, 4) || s[4] != '-' ||
	    !pd_digits(s + 5, 2) || s[7] != '-' || !pd_digits(s + 8, 2) ||
	    s[10] != 'T' || !pd_digits(s + 11, 2) || s[13] != ':' ||
	    !pd_digits(s + 14, 2) || s[16] != ':' || !pd_digits(s + 17, 2))
		return false;
	s += 19;
	if (*s == '.') {
		if (!pd_digits(++s, 1))
			return false;
		while (pd_digits(s, 1))
			s++;
	}
	if (*s == 'Z')
		return s[1] == '\0';
	return (*s == '+' || *s == '-') && strlen(s) == 6 &&
	    pd_digits(s + 1, 2) && s[3] == ':' && pd_digits(s + 4, 2);
}

/* ,"key": (no comma before the first of an object). */
static int
pd_key(struct buf *out, bool *first, const char *key)
{
	int r;

	r = buf_printf(out, "%s\"%s\":", *first ? "" : ",", key);
	*first = false;
	return r;
}

static int
pd_str(struct buf *out, bool *first, const char *key, const char *value,
    size_t max)
{
	int r;

	if (value == NULL)
		return 0;
	r = pd_key(out, first, key);
	return r < 0 ? r : text_json(out, value, strlen(value), max, 0);
}

static int pd_json_value(struct buf *b, struct json_object *v, unsigned depth);

static int
pd_json_object(struct buf *b, struct json_object *v, unsigned depth)
{
	struct json_object_iterator it = json_object_iter_begin(v);
	struct json_object_iterator end = json_object_iter_end(v);
	bool first = true;
	int r;

	r = buf_putc(b, '{');
	while (r == 0 && !json_object_iter_equal(&it, &end)) {
		const char *k = json_object_iter_peek_name(&it);

		r = buf_puts(b, first ? "" : ",");
		r = r < 0 ? r : text_json(b, k, strlen(k), PD_MAX_KEY, 0);
		r = r < 0 ? r : buf_putc(b, ':');
		r = r < 0 ? r
			  : pd_json_value(b, json_object_iter_peek_value(&it),
				depth + 1);
		first = false;
		json_object_iter_next(&it);
	}
	return r < 0 ? r : buf_putc(b, '}');
}

/* v as JSON whose strings are valid UTF-8 (json-c passes bytes through). */
static int
pd_json_value(struct buf *b, struct json_object *v, unsigned depth)
{
	const char *raw;
	size_t i;
	size_t n;
	int r;

	if (v == NULL)
		return buf_puts(b, "null");
	switch (json_object_get_type(v)) {
	case json_type_null:
		return buf_puts(b, "null");
	case json_type_boolean:
		return buf_puts(b,
		    json_object_get_boolean(v) ? "true" : "false");
	case json_type_int:
	case json_type_double:
		return buf_puts(b,
		    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	case json_type_string:
		return text_json(b, json_object_get_string(v),
		    (size_t)json_object_get_string_len(v), PD_MAX_PARAMS, 0);
	case json_type_object:
	case json_type_array:
		break;
	}
	if (depth >= PD_MAX_DEPTH) {
		raw = json_object_to_json_string_ext(v,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		return text_json(b, raw, strlen(raw), PD_MAX_DETAIL, 0);
	}
	if (json_object_is_type(v, json_type_object))
		return pd_json_object(b, v, depth);
	n = json_object_array_length(v);
	r = buf_putc(b, '[');
	for (i = 0; r == 0 && i < n; i++) {
		r = buf_puts(b, i > 0 ? "," : "");
		r = r < 0 ? r
			  : pd_json_value(b, json_object_array_get_idx(v, i),
				depth + 1);
	}
	return r < 0 ? r : buf_putc(b, ']');
}

/* requestParameters: as JSON up to PD_MAX_PARAMS, else as cut text. */
static int
pd_params(struct buf *out, bool *first, struct json_object *v)
{
	const char *raw;
	struct buf tmp;
	int r;

	if (v == NULL)
		return 0;
	r = pd_key(out, first, "requestParameters");
	if (r < 0)
		return r;
	buf_init(&tmp, PD_MAX_PARAMS);
	r = pd_json_value(&tmp, v, 0);
	if (r == 0) {
		r = buf_append(out, tmp.data, tmp.len);
	} else if (r == -E2BIG) {
		raw = json_object_to_json_string_ext(v,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		r = text_json(out, raw, strlen(raw), PD_MAX_PARAMS, 0);
	}
	buf_done(&tmp);
	return r;
}

static int
pd_events(struct buf *out, bool *first, const struct alert_view *a)
{
	size_t n;
	size_t i;
	size_t shown = 0;
	int r;

	if (a->count == 0)
		return 0;
	r = pd_key(out, first, "count");
	r = r < 0 ? r : buf_printf(out, "%" PRIu64, a->count);
	if (r < 0 || a->events == NULL)
		return r;
	r = pd_key(out, first, "events");
	r = r < 0 ? r : buf_putc(out, '[');
	n = json_object_array_length(a->events);
	for (i = 0; r == 0 && i < n && shown < PD_MAX_EVENTS; i++) {
		struct json_object *e = json_object_array_get_idx(a->events, i);

		if (!json_object_is_type(e, json_type_string))
			continue;
		r = buf_puts(out, shown > 0 ? "," : "");
		r = r < 0
		    ? r
		    : text_json(out, json_object_get_string(e),
			  strlen(json_object_get_string(e)), 128, TEXT_ONELINE);
		shown++;
	}
	return r < 0 ? r : buf_putc(out, ']');
}

static const char *
pd_or(const char *a, const char *b)
{
	return a != NULL ? a : b;
}

/* A distinct rule's values (strings, at most PD_MAX_EVENTS). */
static int
pd_values(struct buf *out, bool *first, const struct alert_view *a)
{
	size_t i, shown = 0;
	int r;

	if (a->values == NULL)
		return 0;
	r = pd_key(out, first, "values");
	r = r < 0 ? r : buf_putc(out, '[');
	for (i = 0; r == 0 && i < json_object_array_length(a->values) &&
	     shown < PD_MAX_EVENTS;
	     i++) {
		struct json_object *v = json_object_array_get_idx(a->values, i);

		if (!json_object_is_type(v, json_type_string))
			continue;
		r = buf_puts(out, shown++ > 0 ? "," : "");
		r = r < 0
		    ? r
		    : text_json(out, json_object_get_string(v),
			  strlen(json_object_get_string(v)), 256, TEXT_ONELINE);
	}
	return r < 0 ? r : buf_putc(out, ']');
}

/* Who read the secret lately: [{"principal", "lastRead"}], as given. */
static int
pd_readers(struct buf *out, bool *first, const struct alert_view *a)
{
	size_t i, shown = 0;
	int r;

	if (a->readers == NULL)
		return 0;
	r = pd_key(out, first, "readers");
	r = r < 0 ? r : buf_putc(out, '[');
	for (i = 0;
	     r == 0 && i < json_object_array_length(a->readers) && shown < 5;
	     i++) {
		struct json_object *e =
		    json_object_array_get_idx(a->readers, i);
		struct json_object *p = NULL, *t = NULL;

		if (!json_object_object_get_ex(e, "principal", &p) ||
		    !json_object_is_type(p, json_type_string))
			continue;
		(void)json_object_object_get_ex(e, "lastRead", &t);
		r = buf_puts(out, shown++ > 0 ? ",{" : "{");
		r = r < 0 ? r : buf_puts(out, "\"principal\":");
		r = r < 0
		    ? r
		    : text_json(out, json_object_get_string(p),
			  strlen(json_object_get_string(p)), 256, TEXT_ONELINE);
		if (r == 0 && json_object_is_type(t, json_type_string)) {
			r = buf_puts(out, ",\"lastRead\":");
			r = r < 0 ? r
				  : text_json(out, json_object_get_string(t),
					strlen(json_object_get_string(t)), 64,
					TEXT_ONELINE);
		}
		r = r < 0 ? r : buf_putc(out, '}');
	}
	return r < 0 ? r : buf_putc(out, ']');
}

static int
pd_details(struct buf *out, const struct alert_view *a)
{
	struct json_object *params = NULL;
	const char *arn = alert_record_str(a, "userIdentity.arn");
	bool first = true;
	int r;

	if (a->record != NULL)
		(void)json_object_object_get_ex(a->record, "requestParameters",
		    &params);
	r = buf_putc(out, '{');
	r = r < 0 ? r : pd_str(out, &first, "rule", a->rule, PD_MAX_DETAIL);
	r = r < 0 ? r
		  : pd_str(out, &first, "eventName",
			pd_or(a->event_name, alert_record_str(a, "eventName")),
			PD_MAX_DETAIL);
	r = r < 0 ? r
		  : pd_str(out, &first, "eventSource",
			alert_record_str(a, "eventSource"), PD_MAX_DETAIL);
	r = r < 0 ? r
		  : pd_str(out, &first, "eventID",
			pd_or(a->event_id, alert_record_str(a, "eventID")),
			PD_MAX_DETAIL);
	r = r < 0 ? r
		  : pd_str(out, &first, "userIdentity.arn", arn, PD_MAX_DETAIL);
	if (arn == NULL)
		r = r < 0 ? r
			  : pd_str(out, &first, "principal", a->principal,
				PD_MAX_DETAIL);
	r = r < 0
	    ? r
	    : pd_str(out, &first, "sourceIPAddress",
		  pd_or(a->source_ip, alert_record_str(a, "sourceIPAddress")),
		  PD_MAX_DETAIL);
	r = r < 0 ? r
		  : pd_str(out, &first, "errorCode",
			pd_or(a->error_code, alert_record_str(a, "errorCode")),
			PD_MAX_DETAIL);
	r = r < 0 ? r
		  : pd_str(out, &first, "errorMessage",
			alert_record_str(a, "errorMessage"), PD_MAX_DETAIL);
	r = r < 0 ? r
		  : pd_str(out, &first, "awsRegion",
			pd_or(a->region, alert_record_str(a, "awsRegion")),
			PD_MAX_DETAIL);
	r = r < 0
	    ? r
	    : pd_str(out, &first, "recipientAccountId",
		  pd_or(a->account, alert_record_str(a, "recipientAccountId")),
		  PD_MAX_DETAIL);
	r = r < 0 ? r
		  : pd_str(out, &first, "accountAlias", a->account_alias,
			PD_MAX_DETAIL);
	r = r < 0
	    ? r
	    : pd_str(out, &first, "secretId", a->secret_id, PD_MAX_DETAIL);
	r = r < 0 ? r : pd_params(out, &first, params);
	r = r < 0 ? r : pd_events(out, &first, a);
	r = r < 0 ? r : pd_values(out, &first, a);
	r = r < 0 ? r : pd_readers(out, &first, a);
	if (r == 0 && a->suppressed > 0) {
		r = pd_key(out, &first, "suppressed");
		r = r < 0 ? r : buf_printf(out, "%" PRIu64, a->suppressed);
		r = r < 0 ? r
			  : pd_str(out, &first, "suppressed_since",
				a->suppressed_since, 64);
	}
	if (r == 0 && a->test) {
		r = pd_key(out, &first, "test");
		r = r < 0 ? r : buf_puts(out, "true");
	}
	return r < 0 ? r : buf_putc(out, '}');
}

/* The next piece of a composed text, unless one failed or was cut. */
static int
pd_add(struct buf *t, int r, const char *s, size_t max, unsigned flags)
{
	if (r != 0 || s == NULL)
		return r;
	return text_append(t, s, strlen(s), max, flags);
}

static int
pd_summary(struct buf *out, struct buf *t, const struct alert_view *a)
{
	char num[48];
	char since[ALERT_MAX_SUPPRESSED_TEXT];
	int r = 0;

	buf_reset(t);
	if (a->test)
		r = pd_add(t, r, "[TEST] ", PD_MAX_SUMMARY, 0);
	r = pd_add(t, r, a->title, PD_MAX_SUMMARY, TEXT_ONELINE);
	r = pd_add(t, r, alert_count_text(a, num, sizeof(num)), PD_MAX_SUMMARY,
	    0);
	if (a->suppressed > 0) {
		r = pd_add(t, r, " (", PD_MAX_SUMMARY, 0);
		r = pd_add(t, r, alert_suppressed_text(a, since, sizeof(since)),
		    PD_MAX_SUMMARY, TEXT_ONELINE);
		r = pd_add(t, r, ")", PD_MAX_SUMMARY, 0);
	}
	if (a->summary != NULL && strcmp(a->summary, a->title) != 0) {
		r = pd_add(t, r, ": ", PD_MAX_SUMMARY, 0);
		r = pd_add(t, r, a->summary, PD_MAX_SUMMARY, TEXT_ONELINE);
	}
	if (r < 0)
		return r;
	return buf_json_str(out, t->data, t->len);
}

static int
pd_source(struct buf *out, struct buf *t, const struct alert_view *a)
{
	int r = 0;

	buf_reset(t);
	r = pd_add(t, r, pd_or(a->account, "unknown"), PD_MAX_SOURCE,
	    TEXT_ONELINE);
	r = pd_add(t, r, "/", PD_MAX_SOURCE, 0);
	r = pd_add(t, r, pd_or(a->region, "unknown"), PD_MAX_SOURCE,
	    TEXT_ONELINE);
	return r < 0 ? r : buf_json_str(out, t->data, t->len);
}

static int
pd_link(struct buf *out, bool *first, const struct buf *url, const char *text)
{
	int r;

	r = buf_puts(out, *first ? ",\"links\":[" : ",");
	*first = false;
	r = r < 0 ? r : buf_puts(out, "{\"href\":");
	r = r < 0 ? r : buf_json_str(out, url->data, url->len);
	r = r < 0 ? r : buf_printf(out, ",\"text\":\"%s\"}", text);
	return r;
}

static int
pd_links(struct buf *out, const struct alert_view *a)
{
	struct buf url;
	bool first = true;
	int r = 0;

	buf_init(&url, PD_MAX_PARAMS);
	if (alert_console_event_url(&url, a->region, a->event_id) == 0)
		r = pd_link(out, &first, &url, "CloudTrail event");
	buf_reset(&url);
	if (r == 0 &&
	    alert_console_secret_url(&url, a->region, a->secret_id) == 0)
		r = pd_link(out, &first, &url, "Secret in Secrets Manager");
	buf_done(&url);
	if (r == 0 && !first)
		r = buf_putc(out, ']');
	return r;
}

static int
pd_trigger(struct buf *out, const struct alert_view *a, const struct pd_opts *o)
{
	struct buf t;
	bool first = false;
	int r;

	buf_init(&t, PD_MAX_SUMMARY);
	r = buf_puts(out, ",\"payload\":{\"summary\":");
	r = r < 0 ? r : pd_summary(out, &t, a);
	r = r < 0 ? r : buf_puts(out, ",\"source\":");
	r = r < 0 ? r : pd_source(out, &t, a);
	r = r < 0 ? r : buf_printf(out, ",\"severity\":\"%s\"", a->severity);
	if (r == 0 && pd_iso8601(a->event_time)) {
		r = buf_puts(out, ",\"timestamp\":");
		r = r < 0
		    ? r
		    : buf_json_str(out, a->event_time, strlen(a->event_time));
	}
	r = r < 0
	    ? r
	    : pd_str(out, &first, "component", a->secret_id, PD_MAX_DETAIL);
	r = r < 0 ? r : pd_str(out, &first, "group", a->rule, PD_MAX_DETAIL);
	r = r < 0 ? r
		  : pd_str(out, &first, "class", a->event_name, PD_MAX_DETAIL);
	r = r < 0 ? r : buf_puts(out, ",\"custom_details\":");
	r = r < 0 ? r : pd_details(out, a);
	r = r < 0 ? r : buf_putc(out, '}');
	r = r < 0 ? r : pd_links(out, a);
	r = r < 0 ? r : buf_puts(out, ",\"client\":\"smtrail\"");
	if (r == 0 && o->client_url != NULL) {
		r = buf_puts(out, ",\"client_url\":");
		r = r < 0 ? r
			  : text_json(out, o->client_url, strlen(o->client_url),
				PD_MAX_DETAIL, TEXT_ONELINE);
	}
	buf_done(&t);
	return r;
}

int
pd_payload(const char *alert_json, size_t len, const struct pd_opts *o,
    struct buf *out, struct diag *reterr)
{
	struct alert_view a;
	struct buf key;
	size_t start = out->len;
	int r;

	if (o == NULL || o->routing_key == NULL || *o->routing_key == '\0')
		return -EINVAL;
	r = alert_parse(alert_json, len, &a, reterr);
	if (r < 0)
		return r;
	buf_init(&key, PD_MAX_DEDUP_KEY);
	r = pd_dedup_key(a.rule, pd_or(a.group, a.event_id), &key);
	r = r < 0 ? r : buf_puts(out, "{\"routing_key\":");
	r = r < 0 ? r
		  : buf_json_str(out, o->routing_key, strlen(o->routing_key));
	r = r < 0 ? r
		  : buf_printf(out, ",\"event_action\":\"%s\",\"dedup_key\":",
			a.resolved ? "resolve" : "trigger");
	r = r < 0 ? r : buf_json_str(out, key.data, key.len);
	if (r == 0 && !a.resolved)
		r = pd_trigger(out, &a, o);
	r = r < 0 ? r : buf_putc(out, '}');
	buf_done(&key);
	alert_view_done(&a);
	if (r < 0) {
		if (out->data != NULL)
			explicit_bzero(out->data + start, out->len - start);
		buf_truncate(out, start);
	}
	return r;
}

/* ---- the kind ---------------------------------------------------------- */

enum pd_opt { PD_URL, PD_ROUTING_KEY };

static const struct sink_opt pd_kind_opts[] = {
    [PD_URL] = {.key = "url",
	.form = SINK_OPT_URL,
	.no_file = true,
	.def = "https://events.pagerduty.com/v2/enqueue"},
    [PD_ROUTING_KEY] = {.key = "routing_key",
	.form = SINK_OPT_SECRET,
	.required = true},
};

/* An Events API v2 integration (routing) key has 32 characters. Its
 * length is not shown either. */
static int
pd_advise(const char *const *v, size_t *ret_opt, struct diag *reterr)
{
	if (v[PD_ROUTING_KEY] == NULL || strlen(v[PD_ROUTING_KEY]) == 32)
		return 0;
	*ret_opt = PD_ROUTING_KEY;
	(void)diag_set(reterr, -EINVAL, NULL, 0, 0,
	    "'routing_key' is not 32 characters long (a PagerDuty Events API "
	    "v2 integration key is)");
	return 1;
}

static int
pd_render(const char *const *v, const char *alert_json, size_t len,
    struct sink_request *out, struct diag *reterr)
{
	const struct pd_opts o = {.routing_key = v[PD_ROUTING_KEY]};

	return pd_payload(alert_json, len, &o, &out->body, reterr);
}

const struct sink_kind pd_kind = {
    .name = "pagerduty",
    SINK_KIND_OPTS(pd_kind_opts),
    .network = true,
    .max_body = PD_MAX_PAYLOAD,
    .advise = pd_advise,
    .render = pd_render,
    .reply = pd_reply_errors, /* else the body as it is */
    .reply_body = true,
};
