/*
 * sink_slack.c: see sink_slack.h. Each text is composed in a scratch buffer
 * (already escaped and cut: what Slack will count) and then written as one JSON
 * string, so a limit is checked where the text is made.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "alert.h"
#include "buf.h"
#include "clock.h"
#include "diag.h"
#include "http.h"
#include "sink_kind.h"
#include "sink_slack.h"
#include "text.h"

#define SLACK_MRKDWN TEXT_MRKDWN
/* A distinct rule's values, and a secret's readers, as a field: what the
 * block text budget leaves (SLACK_MAX_BLOCK_TEXT). */
#define SLACK_MAX_LIST_TEXT 300
/* Longest eventID kept in the grouped list; real ones are 36. */
#define SLACK_MAX_EVENT_ID 100

struct slack_msg {
	struct buf *out;
	struct buf t; /* the text being composed */
	unsigned blocks;
	size_t block_text; /* block text so far, against SLACK_MAX_BLOCK_TEXT */
};

/* The next piece of text, unless an earlier one failed or was cut. */
static int
slack_add(struct slack_msg *m, int r, const char *s, size_t max, unsigned flags)
{
	if (r != 0 || s == NULL)
		return r;
	return text_append(&m->t, s, strlen(s), max, flags);
}

static const char *
slack_emoji(const char *severity)
{
	if (strcmp(severity, "critical") == 0)
		return ":rotating_light:";
	if (strcmp(severity, "error") == 0)
		return ":red_circle:";
	if (strcmp(severity, "warning") == 0)
		return ":warning:";
	return ":information_source:";
}

static const char *
slack_label(const char *severity)
{
	if (strcmp(severity, "critical") == 0)
		return "CRITICAL";
	if (strcmp(severity, "error") == 0)
		return "ERROR";
	if (strcmp(severity, "warning") == 0)
		return "WARNING";
	return "INFO";
}

/* Starts a block: {"type":"<type>", */
static int
slack_block(struct slack_msg *m, const char *type)
{
	if (m->blocks >= SLACK_MAX_BLOCKS)
		return -E2BIG; /* not reached: we make at most 8 */
	m->blocks++;
	return buf_printf(m->out, "%s{\"type\":\"%s\",",
	    m->blocks > 1 ? "," : "", type);
}

/* The composed text as a text object; resets it for the next. */
static int
slack_text_obj(struct slack_msg *m, const char *type)
{
	int r;

	r = buf_printf(m->out, "{\"type\":\"%s\",\"text\":", type);
	r = r < 0 ? r : buf_json_str(m->out, m->t.data, m->t.len);
	if (r == 0 && strcmp(type, "plain_text") == 0)
		r = buf_puts(m->out, ",\"emoji\":true");
	r = r < 0 ? r : buf_putc(m->out, '}');
	m->block_text += m->t.len;
	buf_reset(&m->t);
	return r;
}

/* A block holding the composed text as a section's or context's. */
static int
slack_text_block(struct slack_msg *m, const char *type)
{
	int r;

	r = slack_block(m, type);
	r = r < 0 ? r
		  : buf_puts(m->out,
			strcmp(type, "context") == 0 ? "\"elements\":["
						     : "\"text\":");
	r = r < 0 ? r : slack_text_obj(m, "mrkdwn");
	if (r == 0 && strcmp(type, "context") == 0)
		r = buf_putc(m->out, ']');
	return r < 0 ? r : buf_putc(m->out, '}');
}

static int
slack_header(struct slack_msg *m, const struct alert_view *a)
{
	int r = 0;

	if (a->test)
		r = slack_add(m, r, "[TEST] ", SLACK_MAX_HEADER, 0);
	if (a->resolved) {
		r = slack_add(m, r,
		    ":white_check_mark: Resolved: ", SLACK_MAX_HEADER, 0);
	} else {
		r = slack_add(m, r, slack_emoji(a->severity), SLACK_MAX_HEADER,
		    0);
		r = slack_add(m, r, " ", SLACK_MAX_HEADER, 0);
		r = slack_add(m, r, slack_label(a->severity), SLACK_MAX_HEADER,
		    0);
		r = slack_add(m, r, ": ", SLACK_MAX_HEADER, 0);
	}
	r = slack_add(m, r, a->title, SLACK_MAX_HEADER, TEXT_ONELINE);
	if (r < 0)
		return r;
	r = slack_block(m, "header");
	r = r < 0 ? r : buf_puts(m->out, "\"text\":");
	r = r < 0 ? r : slack_text_obj(m, "plain_text");
	return r < 0 ? r : buf_putc(m->out, '}');
}

static int
slack_summary(struct slack_msg *m, const struct alert_view *a,
    const struct slack_opts *o)
{
	int r = 0;

	if (o->mention != NULL && *o->mention != '\0') {
		r = slack_add(m, r, o->mention, SLACK_MAX_SECTION, 0);
		if (a->summary != NULL)
			r = slack_add(m, r, " ", SLACK_MAX_SECTION, 0);
	}
	r = slack_add(m, r, a->summary, SLACK_MAX_SECTION, SLACK_MRKDWN);
	if (r < 0)
		return r;
	if (m->t.len == 0)
		return 0; /* Slack refuses an empty section */
	return slack_text_block(m, "section");
}

static int
slack_events(struct slack_msg *m, const struct alert_view *a)
{
	char num[32];
	size_t n = a->events != NULL ? json_object_array_length(a->events) : 0;
	size_t shown = 0;
	size_t i;
	int r = 0;

	if (a->count == 0)
		return 0;
	(void)snprintf(num, sizeof(num), "*%" PRIu64 " events*", a->count);
	r = slack_add(m, r, num, SLACK_MAX_EVENTS_TEXT, 0);
	for (i = 0; r == 0 && i < n && shown < SLACK_MAX_EVENT_IDS; i++) {
		struct json_object *e = json_object_array_get_idx(a->events, i);
		const char *id;
		size_t lim;

		if (!json_object_is_type(e, json_type_string))
			continue;
		id = json_object_get_string(e);
		r = slack_add(m, r, shown == 0 ? ": " : ", ",
		    SLACK_MAX_EVENTS_TEXT, 0);
		lim = m->t.len + SLACK_MAX_EVENT_ID;
		if (lim > SLACK_MAX_EVENTS_TEXT)
			lim = SLACK_MAX_EVENTS_TEXT;
		if (r == 0)
			r = text_append(&m->t, id, strlen(id), lim,
			    SLACK_MRKDWN);
		if (r == 1 && lim < SLACK_MAX_EVENTS_TEXT)
			r = 0; /* only this id was cut */
		shown++;
	}
	if (r == 0 && a->count > shown && shown > 0) {
		(void)snprintf(num, sizeof(num), " and %" PRIu64 " more",
		    a->count - shown);
		r = slack_add(m, r, num, SLACK_MAX_EVENTS_TEXT, 0);
	}
	return r < 0 ? r : slack_text_block(m, "section");
}

static int
slack_suppressed(struct slack_msg *m, const struct alert_view *a)
{
	char text[ALERT_MAX_SUPPRESSED_TEXT];
	int r = 0;

	if (a->suppressed == 0)
		return 0;
	r = slack_add(m, r, ":mute: ", SLACK_MAX_CONTEXT_TEXT, 0);
	r = slack_add(m, r, alert_suppressed_text(a, text, sizeof(text)),
	    SLACK_MAX_CONTEXT_TEXT, SLACK_MRKDWN | TEXT_ONELINE);
	if (a->suppressed_since == NULL)
		r = slack_add(m, r, " suppressed", SLACK_MAX_CONTEXT_TEXT, 0);
	return r < 0 ? r : slack_text_block(m, "context");
}

/* One field: "*Label*\n" and the value (and "(more)" after it). */
static int
slack_field(struct slack_msg *m, unsigned *n, const char *label,
    const char *value, const char *more)
{
	int r = 0;

	if (value == NULL && more == NULL)
		return 0;
	if (*n >= SLACK_MAX_FIELDS)
		return -E2BIG; /* not reached: there are 10 */
	r = slack_add(m, r, "*", SLACK_MAX_FIELD_TEXT, 0);
	r = slack_add(m, r, label, SLACK_MAX_FIELD_TEXT, 0);
	r = slack_add(m, r, "*\n", SLACK_MAX_FIELD_TEXT, 0);
	r = slack_add(m, r, value, SLACK_MAX_FIELD_TEXT, SLACK_MRKDWN);
	if (more != NULL) {
		r = slack_add(m, r, value != NULL ? " (" : "(",
		    SLACK_MAX_FIELD_TEXT, 0);
		r = slack_add(m, r, more, SLACK_MAX_FIELD_TEXT - 1,
		    SLACK_MRKDWN);
		r = slack_add(m, r, ")", SLACK_MAX_FIELD_TEXT, 0);
	}
	if (r < 0)
		return r;
	r = buf_puts(m->out, *n > 0 ? "," : "");
	(*n)++;
	return r < 0 ? r : slack_text_obj(m, "mrkdwn");
}

static int
slack_fields(struct slack_msg *m, const struct alert_view *a)
{
	unsigned n = 0;
	int r;

	struct buf values;
	struct buf readers;

	if (a->account == NULL && a->account_alias == NULL &&
	    a->region == NULL && a->secret_id == NULL && a->principal == NULL &&
	    a->source_ip == NULL && a->event_time == NULL &&
	    a->event_name == NULL && a->error_code == NULL &&
	    a->values == NULL && a->readers == NULL)
		return 0; /* Slack refuses an empty fields list */
	buf_init(&values, SLACK_MAX_FIELD_TEXT + 1);
	buf_init(&readers, SLACK_MAX_FIELD_TEXT + 1);
	r = slack_block(m, "section");
	r = r < 0 ? r : buf_puts(m->out, "\"fields\":[");
	r = r < 0 ? r
		  : slack_field(m, &n, "Account", a->account, a->account_alias);
	r = r < 0 ? r : slack_field(m, &n, "Region", a->region, NULL);
	r = r < 0 ? r : slack_field(m, &n, "Secret", a->secret_id, NULL);
	r = r < 0 ? r : slack_field(m, &n, "Principal", a->principal, NULL);
	r = r < 0 ? r : slack_field(m, &n, "Source IP", a->source_ip, NULL);
	r = r < 0 ? r : slack_field(m, &n, "Event time", a->event_time, NULL);
	r = r < 0 ? r : slack_field(m, &n, "Event", a->event_name, NULL);
	r = r < 0 ? r : slack_field(m, &n, "Error", a->error_code, NULL);
	r = r < 0 ? r : alert_values_text(a, &values, SLACK_MAX_LIST_TEXT);
	r = r < 0 ? r
		  : slack_field(m, &n, "Distinct values",
			values.len > 0 ? values.data : NULL, NULL);
	r = r < 0 ? r : alert_readers_text(a, &readers, SLACK_MAX_LIST_TEXT);
	r = r < 0 ? r
		  : slack_field(m, &n, "Read lately by",
			readers.len > 0 ? readers.data : NULL, NULL);
	buf_done(&values);
	buf_done(&readers);
	return r < 0 ? r : buf_puts(m->out, "]}");
}

/* "<url|text>", url escaped for mrkdwn; 1 (and nothing added) if the
 * whole link does not fit. */
static int
slack_link(struct slack_msg *m, const char *sep, const struct buf *url,
    const char *text)
{
	size_t start = m->t.len;
	int r = 0;

	r = slack_add(m, r, sep, SLACK_MAX_LINKS_TEXT, 0);
	r = slack_add(m, r, "<", SLACK_MAX_LINKS_TEXT, 0);
	if (r == 0)
		r = text_append(&m->t, url->data, url->len,
		    SLACK_MAX_LINKS_TEXT, SLACK_MRKDWN);
	r = slack_add(m, r, "|", SLACK_MAX_LINKS_TEXT, 0);
	r = slack_add(m, r, text, SLACK_MAX_LINKS_TEXT, 0);
	r = slack_add(m, r, ">", SLACK_MAX_LINKS_TEXT, 0);
	if (r == 1) {
		buf_truncate(&m->t, start); /* a cut link is a broken link */
	}
	return r;
}

static int
slack_links(struct slack_msg *m, const struct alert_view *a)
{
	struct buf url;
	int r = 0;

	buf_init(&url, SLACK_MAX_LINKS_TEXT);
	if (alert_console_event_url(&url, a->region, a->event_id) == 0)
		r = slack_link(m, "", &url, "CloudTrail event");
	if (r >= 0) {
		buf_reset(&url);
		if (alert_console_secret_url(&url, a->region, a->secret_id) ==
		    0)
			r = slack_link(m, m->t.len > 0 ? "  |  " : "", &url,
			    "Secret in Secrets Manager");
	}
	buf_done(&url);
	if (r < 0)
		return r;
	if (m->t.len == 0)
		return 0;
	return slack_text_block(m, "section");
}

static int
slack_context(struct slack_msg *m, const struct alert_view *a)
{
	int r = 0;

	r = slack_block(m, "context");
	r = r < 0 ? r : buf_puts(m->out, "\"elements\":[");
	r = slack_add(m, r, "Rule: ", SLACK_MAX_CONTEXT_TEXT, 0);
	r = slack_add(m, r, a->rule, SLACK_MAX_CONTEXT_TEXT,
	    SLACK_MRKDWN | TEXT_ONELINE);
	r = r < 0 ? r : slack_text_obj(m, "mrkdwn");
	if (r == 0 && a->event_id != NULL) {
		r = buf_putc(m->out, ',');
		r = slack_add(m, r, "Event: ", SLACK_MAX_CONTEXT_TEXT, 0);
		r = slack_add(m, r, a->event_id, SLACK_MAX_CONTEXT_TEXT,
		    SLACK_MRKDWN | TEXT_ONELINE);
		r = r < 0 ? r : slack_text_obj(m, "mrkdwn");
	}
	return r < 0 ? r : buf_puts(m->out, "]}");
}

/* The top-level "text": what a notification shows. */
static int
slack_fallback(struct slack_msg *m, const struct alert_view *a,
    const struct slack_opts *o)
{
	char num[32];
	int r = 0;

	if (o->mention != NULL && *o->mention != '\0') {
		r = slack_add(m, r, o->mention, SLACK_MAX_FALLBACK, 0);
		r = slack_add(m, r, " ", SLACK_MAX_FALLBACK, 0);
	}
	if (a->test)
		r = slack_add(m, r, "[TEST] ", SLACK_MAX_FALLBACK, 0);
	if (a->resolved) {
		r = slack_add(m, r, "Resolved: ", SLACK_MAX_FALLBACK, 0);
	} else {
		r = slack_add(m, r, slack_label(a->severity),
		    SLACK_MAX_FALLBACK, 0);
		r = slack_add(m, r, ": ", SLACK_MAX_FALLBACK, 0);
	}
	r = slack_add(m, r, a->title, SLACK_MAX_FALLBACK,
	    SLACK_MRKDWN | TEXT_ONELINE);
	r = slack_add(m, r, alert_count_text(a, num, sizeof(num)),
	    SLACK_MAX_FALLBACK, 0);
	if (a->summary != NULL) {
		r = slack_add(m, r, ": ", SLACK_MAX_FALLBACK, 0);
		r = slack_add(m, r, a->summary, SLACK_MAX_FALLBACK,
		    SLACK_MRKDWN | TEXT_ONELINE);
	}
	if (r < 0)
		return r;
	r = buf_json_str(m->out, m->t.data, m->t.len);
	buf_reset(&m->t);
	return r;
}

/* "name":"value", for the options that are set. */
static int
slack_opt(struct buf *out, const char *name, const char *value)
{
	int r;

	if (value == NULL || *value == '\0')
		return 0;
	r = buf_printf(out, "\"%s\":", name);
	r = r < 0 ? r
		  : text_json(out, value, strlen(value), SLACK_MAX_OPTION,
			TEXT_ONELINE);
	return r < 0 ? r : buf_putc(out, ',');
}

int
slack_payload(const char *alert_json, size_t len, const struct slack_opts *o,
    struct buf *out, struct diag *reterr)
{
	static const struct slack_opts none;
	const char *opts[4];
	struct alert_view a;
	struct slack_msg m;
	size_t start = out->len;
	size_t i;
	int r;

	if (o == NULL)
		o = &none;
	opts[0] = o->channel;
	opts[1] = o->username;
	opts[2] = o->icon_emoji;
	opts[3] = o->mention;
	for (i = 0; i < ARRAY_SIZE(opts); i++)
		if (opts[i] != NULL && strlen(opts[i]) > SLACK_MAX_OPTION)
			return -EINVAL;
	r = alert_parse(alert_json, len, &a, reterr);
	if (r < 0)
		return r;
	memset(&m, 0, sizeof(m));
	m.out = out;
	buf_init(&m.t, SLACK_MAX_SECTION);
	r = buf_putc(out, '{');
	r = r < 0 ? r : slack_opt(out, "channel", o->channel);
	r = r < 0 ? r : slack_opt(out, "username", o->username);
	r = r < 0 ? r : slack_opt(out, "icon_emoji", o->icon_emoji);
	r = r < 0 ? r : buf_puts(out, "\"text\":");
	r = r < 0 ? r : slack_fallback(&m, &a, o);
	r = r < 0 ? r : buf_puts(out, ",\"blocks\":[");
	r = r < 0 ? r : slack_header(&m, &a);
	if (r == 0 && a.test) {
		r = slack_add(&m, r,
		    "This is a test message from `smtrail test-destination`; no rule fired.",
		    SLACK_MAX_CONTEXT_TEXT, 0);
		r = r < 0 ? r : slack_text_block(&m, "context");
	}
	r = r < 0 ? r : slack_summary(&m, &a, o);
	r = r < 0 ? r : slack_events(&m, &a);
	r = r < 0 ? r : slack_suppressed(&m, &a);
	r = r < 0 ? r : slack_fields(&m, &a);
	r = r < 0 ? r : slack_links(&m, &a);
	r = r < 0 ? r : slack_context(&m, &a);
	r = r < 0 ? r : buf_puts(out, "]}");
	assert(r < 0 || m.block_text <= SLACK_MAX_BLOCK_TEXT);
	buf_done(&m.t);
	alert_view_done(&a);
	if (r < 0) {
		buf_truncate(out, start);
	}
	return r;
}

/* ---- the kind ---------------------------------------------------------- */

enum slack_opt {
	SLACK_URL,
	SLACK_CHANNEL,
	SLACK_USERNAME,
	SLACK_ICON_EMOJI,
	SLACK_MENTION
};

static const struct sink_opt slack_kind_opts[] = {
    [SLACK_URL] = {.key = "url", .form = SINK_OPT_URL, .required = true},
    [SLACK_CHANNEL] = {.key = "channel", .form = SINK_OPT_TEXT},
    [SLACK_USERNAME] = {.key = "username", .form = SINK_OPT_TEXT},
    [SLACK_ICON_EMOJI] = {.key = "icon_emoji", .form = SINK_OPT_TEXT},
    [SLACK_MENTION] = {.key = "mention", .form = SINK_OPT_TEXT},
};

static int
slack_check(const char *const *v, size_t *ret_opt, struct diag *reterr)
{
	size_t i;

	for (i = SLACK_CHANNEL; i <= SLACK_MENTION; i++) {
		if (v[i] == NULL || strlen(v[i]) <= SLACK_MAX_OPTION)
			continue;
		*ret_opt = i;
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "'%s' is longer than %u bytes", slack_kind_opts[i].key,
		    SLACK_MAX_OPTION);
	}
	return 0;
}

/* An incoming webhook lives on hooks.slack.com; a loopback host is a
 * relay or a test receiver. The host is shown, never the path. */
static int
slack_advise(const char *const *v, size_t *ret_opt, struct diag *reterr)
{
	char host[256];

	if (v[SLACK_URL] == NULL)
		return 0;
	(void)http_url_host(v[SLACK_URL], host, sizeof(host));
	if (strcmp(host, "hooks.slack.com") == 0 || http_host_is_loopback(host))
		return 0;
	*ret_opt = SLACK_URL;
	(void)diag_set(reterr, -EINVAL, NULL, 0, 0,
	    "'url' is on '%.64s', not hooks.slack.com (a Slack incoming "
	    "webhook is https://hooks.slack.com/services/...)",
	    host);
	return 1;
}

static int
slack_render(const char *const *v, const char *alert_json, size_t len,
    struct sink_request *out, struct diag *reterr)
{
	const struct slack_opts o = {.channel = v[SLACK_CHANNEL],
	    .username = v[SLACK_USERNAME],
	    .icon_emoji = v[SLACK_ICON_EMOJI],
	    .mention = v[SLACK_MENTION]};

	return slack_payload(alert_json, len, &o, &out->body, reterr);
}

const struct sink_kind slack_kind = {
    SINK_KIND_OPTS(slack_kind_opts), .name = "slack", .network = true,
    .max_body = SLACK_MAX_PAYLOAD,
    .rate_count = 1, /* Slack's limit for an incoming webhook: 1/s */
    .rate_period_us = US_PER_S, .retry_after = true, .pause_on_429 = true,
    .check = slack_check, .advise = slack_advise, .render = slack_render,
    .reply_body = true, /* a word: invalid_payload, no_service... */
};
