/*
 * cloudtrail.c: see cloudtrail.h. Requests are built with json-c; replies
 * parsed with it, all of a page or none of it.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cloudtrail.h"

#define CLOUDTRAIL_TARGET                                                      \
	"X-Amz-Target: "                                                       \
	"com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"
/* A reply nests four deep; anything much deeper is not one. */
#define CLOUDTRAIL_MAX_DEPTH 16

struct cloudtrail_call {
	cloudtrail_lookup_cb *cb;
	void *arg;
};

void
cloudtrail_page_done(struct cloudtrail_page *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++) {
		free(p->events[i].event_id);
		free(p->events[i].record);
	}
	free(p->events);
	free(p->next_token);
	memset(p, 0, sizeof(*p));
}

int
cloudtrail_request_body(const struct cloudtrail_lookup *q, char **ret)
{
	struct json_object *req = json_object_new_object();
	struct json_object *attrs = json_object_new_array();
	struct json_object *attr = json_object_new_object();
	char *s;

	if (req == NULL || attrs == NULL || attr == NULL) {
		json_object_put(req);
		json_object_put(attrs);
		json_object_put(attr);
		return -ENOMEM;
	}
	json_object_object_add(attr, "AttributeKey",
	    json_object_new_string("EventSource"));
	json_object_object_add(attr, "AttributeValue",
	    json_object_new_string(q->event_source));
	json_object_array_add(attrs, attr);
	json_object_object_add(req, "LookupAttributes", attrs);
	json_object_object_add(req, "StartTime",
	    json_object_new_int64((int64_t)q->start_s));
	json_object_object_add(req, "EndTime",
	    json_object_new_int64((int64_t)q->end_s));
	json_object_object_add(req, "MaxResults",
	    json_object_new_int(q->max_results != 0 ? (int)q->max_results
						    : CLOUDTRAIL_MAX_RESULTS));
	if (q->next_token != NULL)
		json_object_object_add(req, "NextToken",
		    json_object_new_string(q->next_token));
	s = strdup(json_object_to_json_string_ext(req,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(req);
	if (s == NULL)
		return -ENOMEM;
	*ret = s;
	return 0;
}

/* A string member, or NULL (absent or another type). */
static const char *
cloudtrail_str(struct json_object *o, const char *key, size_t *ret_len)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	if (ret_len != NULL)
		*ret_len = (size_t)json_object_get_string_len(v);
	return json_object_get_string(v);
}

/* EventTime: epoch seconds, an integer or a fraction (kept whole). */
static int
cloudtrail_time(struct json_object *ev, uint64_t *ret)
{
	struct json_object *v;
	double d;

	if (!json_object_object_get_ex(ev, "EventTime", &v))
		return -EBADMSG;
	if (json_object_is_type(v, json_type_int)) {
		int64_t i = json_object_get_int64(v);

		if (i < 0)
			return -EBADMSG;
		*ret = (uint64_t)i;
		return 0;
	}
	if (!json_object_is_type(v, json_type_double))
		return -EBADMSG;
	d = json_object_get_double(v);
	if (!isfinite(d) || d < 0 || d > 1e15)
		return -EBADMSG;
	*ret = (uint64_t)d; /* d >= 0: truncation is floor */
	return 0;
}

static int
cloudtrail_parse_event(struct json_object *ev, struct cloudtrail_event *out)
{
	const char *id;
	const char *rec;
	size_t len = 0;
	int r;

	if (!json_object_is_type(ev, json_type_object))
		return -EBADMSG;
	rec = cloudtrail_str(ev, "CloudTrailEvent", &len);
	if (rec == NULL || len == 0 || memchr(rec, '\0', len) != NULL)
		return -EBADMSG;
	r = cloudtrail_time(ev, &out->event_time);
	if (r < 0)
		return r;
	id = cloudtrail_str(ev, "EventId", NULL);
	out->event_id = strdup(id != NULL ? id : "");
	out->record = malloc(len + 1);
	if (out->event_id == NULL || out->record == NULL)
		return -ENOMEM;
	memcpy(out->record, rec, len);
	out->record[len] = '\0';
	out->record_len = len;
	return 0;
}

int
cloudtrail_parse_page(const char *body, size_t len, struct cloudtrail_page *ret)
{
	struct cloudtrail_page p;
	struct json_tokener *tok;
	struct json_object *root;
	struct json_object *arr = NULL;
	const char *next;
	size_t tlen = 0;
	size_t n = 0;
	size_t i;
	int r = 0;

	if (body == NULL || len == 0)
		return -EBADMSG;
	if (len > CLOUDTRAIL_MAX_REPLY)
		return -E2BIG;
	if (memchr(body, '\0', len) != NULL)
		return -EBADMSG;
	tok = json_tokener_new_ex(CLOUDTRAIL_MAX_DEPTH);
	if (tok == NULL)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, body, (int)len);
	if (root == NULL ||
	    json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		json_object_put(root);
		json_tokener_free(tok);
		return -EBADMSG;
	}
	json_tokener_free(tok);
	memset(&p, 0, sizeof(p));
	if (!json_object_is_type(root, json_type_object)) {
		r = -EBADMSG;
		goto fail;
	}
	if (json_object_object_get_ex(root, "Events", &arr)) {
		if (!json_object_is_type(arr, json_type_array)) {
			r = -EBADMSG;
			goto fail;
		}
		n = json_object_array_length(arr);
	}
	if (n > CLOUDTRAIL_MAX_RESULTS) {
		r = -E2BIG;
		goto fail;
	}
	if (n > 0) {
		p.events = calloc(n, sizeof(*p.events));
		if (p.events == NULL) {
			r = -ENOMEM;
			goto fail;
		}
	}
	for (i = 0; i < n; i++) {
		p.n = i + 1; /* what cloudtrail_page_done() frees */
		r = cloudtrail_parse_event(json_object_array_get_idx(arr, i),
		    &p.events[i]);
		if (r < 0)
			goto fail;
	}
	p.n = n;
	if (json_object_object_get_ex(root, "NextToken", NULL) &&
	    !json_object_is_type(json_object_object_get(root, "NextToken"),
		json_type_null)) {
		next = cloudtrail_str(root, "NextToken", &tlen);
		if (next == NULL || tlen == 0 || tlen > CLOUDTRAIL_MAX_TOKEN ||
		    memchr(next, '\0', tlen) != NULL) {
			r = next != NULL && tlen > CLOUDTRAIL_MAX_TOKEN
			    ? -E2BIG
			    : -EBADMSG;
			goto fail;
		}
		p.next_token = strdup(next);
		if (p.next_token == NULL) {
			r = -ENOMEM;
			goto fail;
		}
	}
	json_object_put(root);
	*ret = p;
	return 0;
fail:
	json_object_put(root);
	cloudtrail_page_done(&p);
	return r;
}

static void
cloudtrail_done(const struct aws_result *res, void *arg)
{
	struct cloudtrail_call *cc = arg;
	struct cloudtrail_page page;
	struct aws_result r2 = *res;

	memset(&page, 0, sizeof(page));
	if (res->error == 0) {
		if (res->resp == NULL || res->resp->body.data == NULL)
			r2.error = -EBADMSG;
		else
			r2.error = cloudtrail_parse_page(res->resp->body.data,
			    res->resp->body.len, &page);
	} else if (strcmp(res->code, "InvalidTimeRangeException") == 0) {
		r2.error = -ERANGE;
	} else if (strcmp(res->code, "InvalidNextTokenException") == 0) {
		r2.error = -ESTALE;
	}
	cc->cb(&r2, &page, cc->arg);
	cloudtrail_page_done(&page);
	free(cc);
}

int
cloudtrail_lookup_events(struct aws *a, const struct cloudtrail_lookup *q,
    cloudtrail_lookup_cb *cb, void *arg, struct aws_op **ret)
{
	const char *hdrs[2];
	struct cloudtrail_call *cc;
	struct aws_call c;
	char *body = NULL;
	int r;

	if (q->region == NULL || !aws_region_name_ok(q->region) ||
	    q->event_source == NULL || q->start_s > q->end_s ||
	    q->max_results > CLOUDTRAIL_MAX_RESULTS)
		return -EINVAL;
	r = cloudtrail_request_body(q, &body);
	if (r < 0)
		return r;
	cc = calloc(1, sizeof(*cc));
	if (cc == NULL) {
		free(body);
		return -ENOMEM;
	}
	cc->cb = cb;
	cc->arg = arg;
	hdrs[0] = "Content-Type: application/x-amz-json-1.1";
	hdrs[1] = CLOUDTRAIL_TARGET;
	memset(&c, 0, sizeof(c));
	c.service = "cloudtrail";
	c.method = "POST";
	c.path = "/";
	c.region = q->region;
	c.headers = hdrs;
	c.n_headers = 2;
	c.body = body;
	c.body_len = strlen(body);
	c.max_body = CLOUDTRAIL_MAX_REPLY;
	c.max_attempts = q->max_attempts;
	c.on_done = cloudtrail_done;
	c.on_cancel = free;
	c.arg = cc;
	r = aws_call_start(a, &c, ret);
	free(body); /* aws_call_start copies the body */
	if (r < 0)
		free(cc);
	return r;
}
