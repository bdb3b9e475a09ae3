/*
 * notif.c: see notif.h. One json-c parse of the body (and one of an SNS
 * Message), then a walk that checks every type it relies on. Duplicates are
 * found through a hash per object, so 1000 keys cost 1000 hashes and about
 * half a million integer comparisons, not string comparisons.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "diag.h"
#include "notif.h"
#include "quote.h"

/* Body bytes a diag may quote, and per quoted string (keys, types). */
#define NOTIF_QUOTE_MAX 100
#define NOTIF_QUOTE_KEY 16
#define NOTIF_QUOTE_LIST 5

struct notif_ctx {
	const struct notif_opts *o;
	struct notif *n;
	uint32_t *hashes; /* parallel to n->objects */
	size_t cap;
	const char *where; /* "" or "SNS Message: " */
	struct diag *reterr;
};

static int notif_classify(struct notif_ctx *c, struct json_object *root,
    bool enveloped);

const char *
notif_shape_str(enum notif_shape s)
{
	switch (s) {
	case NOTIF_SHAPE_SNS:
		return "sns";
	case NOTIF_SHAPE_CLOUDTRAIL:
		return "cloudtrail";
	case NOTIF_SHAPE_S3_EVENT:
		return "s3-event";
	case NOTIF_SHAPE_S3_TEST:
		return "s3-test";
	case NOTIF_SHAPE_EVENTBRIDGE:
		return "eventbridge";
	case NOTIF_SHAPE_SNS_CONFIRMATION:
		return "sns-confirmation";
	case NOTIF_SHAPE_COUNT:
		break;
	}
	return "?";
}

static const char *
notif_type_name(struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		return "null";
	case json_type_boolean:
		return "a boolean";
	case json_type_double:
	case json_type_int:
		return "a number";
	case json_type_object:
		return "an object";
	case json_type_array:
		return "an array";
	case json_type_string:
		return "a string";
	}
	return "?";
}

static int
notif_json(const char *p, size_t len, const char *what,
    struct json_object **ret, struct diag *reterr)
{
	struct json_tokener *tok;
	struct json_object *o;
	enum json_tokener_error e;
	size_t end = 0;

	if (len == 0)
		return diag_set(reterr, -EBADMSG, NULL, 0, 0, "%s is empty",
		    what);
	if (memchr(p, '\0', len) != NULL)
		return diag_set(reterr, -EBADMSG, NULL, 0, 0,
		    "%s holds a NUL byte", what);
	tok = json_tokener_new();
	if (tok == NULL)
		return -ENOMEM;
	json_tokener_set_flags(tok,
	    JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, p, (int)len);
	e = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (o == NULL && e == json_tokener_continue) {
		/* A NUL says "no more input": it ends a bare number or
		 * literal at the very end ("42", "null": success, o NULL). */
		o = json_tokener_parse_ex(tok, "", 1);
		e = json_tokener_get_error(tok);
		end = len;
		if (e != json_tokener_success) {
			json_tokener_free(tok);
			return diag_set(reterr, -EBADMSG, NULL, 0, 0,
			    "%s is not JSON: truncated after %zu bytes", what,
			    len);
		}
	}
	json_tokener_free(tok);
	if (e != json_tokener_success) {
		json_object_put(o);
		return diag_set(reterr, -EBADMSG, NULL, 0, 0,
		    "%s is not JSON: %s at byte %zu", what,
		    json_tokener_error_desc(e), end);
	}
	/* Strict mode refuses trailing bytes; this is belt and braces. */
	while (end < len &&
	    (p[end] == ' ' || p[end] == '\t' || p[end] == '\n' ||
		p[end] == '\r'))
		end++;
	if (end < len) {
		json_object_put(o);
		return diag_set(reterr, -EBADMSG, NULL, 0, 0,
		    "%s is not JSON: trailing bytes at byte %zu", what, end);
	}
	*ret = o;
	return 0;
}

/* A string member: 1 and *ret set, 0 absent (or null), -EBADMSG another
 * type or a NUL inside. */
static int
notif_str(struct notif_ctx *c, struct json_object *o, const char *key,
    const char *path, const char **ret, size_t *ret_len)
{
	struct json_object *v;
	const char *s = NULL;
	size_t len;

	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return diag_set(c->reterr, -EBADMSG, NULL, 0, 0,
		    "%s%s must be a string, not %s", c->where, path,
		    notif_type_name(v));
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (memchr(s, '\0', len) != NULL)
		return diag_set(c->reterr, -EBADMSG, NULL, 0, 0,
		    "%s%s holds a NUL byte", c->where, path);
	*ret = s;
	if (ret_len != NULL)
		*ret_len = len;
	return 1;
}

static int
notif_need_str(struct notif_ctx *c, struct json_object *o, const char *key,
    const char *path, const char **ret, size_t *ret_len)
{
	int r;

	r = notif_str(c, o, key, path, ret, ret_len);
	if (r == 0)
		return diag_set(c->reterr, -EBADMSG, NULL, 0, 0,
		    "%s%s is missing", c->where, path);
	return r < 0 ? r : 0;
}

/* An object member, or NULL with a diag. */
static struct json_object *
notif_obj(struct notif_ctx *c, struct json_object *o, const char *key,
    const char *path, int *r)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || v == NULL) {
		*r = diag_set(c->reterr, -EBADMSG, NULL, 0, 0,
		    "%s%s is missing", c->where, path);
		return NULL;
	}
	if (!json_object_is_type(v, json_type_object)) {
		*r = diag_set(c->reterr, -EBADMSG, NULL, 0, 0,
		    "%s%s must be an object, not %s", c->where, path,
		    notif_type_name(v));
		return NULL;
	}
	return v;
}

/* Bucket names: 3-63 of [a-z0-9.-] today; legacy us-east-1 buckets allow
 * capitals and '_' up to 255. Nothing else may reach a request path. */
static int
notif_check_bucket(struct notif_ctx *c, const char *b, size_t len)
{
	char q[QUOTE_SIZE(NOTIF_QUOTE_MAX)];
	size_t i = 0;

	if (len == 0)
		return diag_set(c->reterr, -EBADMSG, NULL, 0, 0,
		    "%sempty bucket name", c->where);
	for (i = 0; i < len; i++) {
		char ch = b[i];

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' ||
		    ch == '_')
			continue;
		break;
	}
	if (i < len || len > 255)
		return diag_set(c->reterr, -EBADMSG, NULL, 0, 0,
		    "%sbad bucket name '%s'", c->where,
		    quote_bytes(q, sizeof(q), b, len, NOTIF_QUOTE_MAX));
	if (c->o == NULL || c->o->n_allowed == 0)
		return 0;
	for (i = 0; i < c->o->n_allowed; i++)
		if (strlen(c->o->allowed_buckets[i]) == len &&
		    memcmp(c->o->allowed_buckets[i], b, len) == 0)
			return 0;
	return diag_set(c->reterr, -EACCES, NULL, 0, 0,
	    "bucket '%s' is not in s3.allowed_buckets",
	    quote_bytes(q, sizeof(q), b, len, NOTIF_QUOTE_MAX));
}

static int
notif_hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* S3 event keys are URL-encoded form style: '+' is a space, %XX a byte.
 * Decodes in place (the result is never longer). */
static int
notif_form_decode(struct notif_ctx *c, char *s, size_t *len, const char *path)
{
	size_t i = 0;
	size_t o = 0;

	for (i = 0; i < *len; i++) {
		int hi;
		int lo;

		if (s[i] == '+') {
			s[o++] = ' ';
			continue;
		}
		if (s[i] != '%') {
			s[o++] = s[i];
			continue;
		}
		hi = i + 2 < *len ? notif_hexval(s[i + 1]) : -1;
		lo = i + 2 < *len ? notif_hexval(s[i + 2]) : -1;
		if (hi < 0 || lo < 0)
			return diag_set(c->reterr, -EBADMSG, NULL, 0, 0,
			    "%s%s: bad %%-escape at byte %zu", c->where, path,
			    i);
		if (hi == 0 && lo == 0)
			return diag_set(c->reterr, -EBADMSG, NULL, 0, 0,
			    "%s%s: %%00 (a NUL byte) at byte %zu", c->where,
			    path, i);
		s[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	s[o] = '\0';
	*len = o;
	return 0;
}

static bool
notif_ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

static uint32_t
notif_hash(const char *bucket, const char *key)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *bucket != '\0'; bucket++)
		h = (h ^ (unsigned char)*bucket) * 16777619u;
	h = (h ^ 0xffu) * 16777619u; /* a separator no name holds */
	for (; *key != '\0'; key++)
		h = (h ^ (unsigned char)*key) * 16777619u;
	return h;
}

/* Takes key (heap, NUL-terminated, len bytes): adds, skips or drops it. */
static int
notif_add(struct notif_ctx *c, const char *bucket, char *key, size_t len)
{
	struct notif *n = c->n;
	struct notif_object *ob;
	uint32_t h;
	size_t i = 0;

	if (strncmp(key, "CloudTrail-Digest/", 18) == 0 ||
	    strstr(key, "/CloudTrail-Digest/") != NULL) {
		n->skipped_digest++;
		free(key);
		return 0;
	}
	if (!notif_ends_with(key, len, ".json.gz") &&
	    !notif_ends_with(key, len, ".json")) {
		n->skipped_other++;
		free(key);
		return 0;
	}
	h = notif_hash(bucket, key);
	for (i = 0; i < n->n_objects; i++) {
		if (c->hashes[i] == h && strcmp(n->objects[i].key, key) == 0 &&
		    strcmp(n->objects[i].bucket, bucket) == 0) {
			free(key);
			return 0;
		}
	}
	if (n->n_objects == c->cap) {
		size_t cap = c->cap != 0 ? c->cap * 2 : 4;
		struct notif_object *no;
		uint32_t *nh;

		no = realloc(n->objects, cap * sizeof(*no));
		if (no == NULL)
			goto oom;
		n->objects = no;
		nh = realloc(c->hashes, cap * sizeof(*nh));
		if (nh == NULL)
			goto oom;
		c->hashes = nh;
		c->cap = cap;
	}
	ob = &n->objects[n->n_objects];
	ob->bucket = strdup(bucket);
	if (ob->bucket == NULL)
		goto oom;
	ob->key = key;
	c->hashes[n->n_objects] = h;
	n->n_objects++;
	return 0;
oom:
	free(key);
	return -ENOMEM;
}

static char *
notif_strndup(const char *s, size_t len)
{
	char *p = malloc(len + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

static int
notif_check_key(struct notif_ctx *c, size_t len, const char *path)
{
	if (len == 0)
		return diag_set(c->reterr, -EBADMSG, NULL, 0, 0,
		    "%s%s is empty", c->where, path);
	if (len > NOTIF_MAX_KEY)
		return diag_set(c->reterr, -EBADMSG, NULL, 0, 0,
		    "%s%s is %zu bytes, over S3's %u", c->where, path, len,
		    NOTIF_MAX_KEY);
	return 0;
}

static int
notif_check_count(struct notif_ctx *c, size_t n, const char *what)
{
	if (n == 0)
		return diag_set(c->reterr, -EBADMSG, NULL, 0, 0,
		    "%s%s is empty", c->where, what);
	if (n > NOTIF_MAX_OBJECTS)
		return diag_set(c->reterr, -E2BIG, NULL, 0, 0,
		    "%s%s lists %zu entries, over %u", c->where, what, n,
		    NOTIF_MAX_OBJECTS);
	return 0;
}

/* {"s3Bucket":"b","s3ObjectKey":["k",...]}: keys are not encoded. */
static int
notif_cloudtrail(struct notif_ctx *c, struct json_object *root)
{
	struct json_object *keys;
	const char *bucket = NULL;
	size_t blen;
	size_t n = 0;
	size_t i;
	int r;

	r = notif_need_str(c, root, "s3Bucket", "s3Bucket", &bucket, &blen);
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(root, "s3ObjectKey", &keys) ||
	    keys == NULL)
		return diag_set(c->reterr, -EBADMSG, NULL, 0, 0,
		    "%ss3ObjectKey is missing", c->where);
	if (!json_object_is_type(keys, json_type_array))
		return diag_set(c->reterr, -EBADMSG, NULL, 0, 0,
		    "%ss3ObjectKey must be an array of strings, not %s",
		    c->where, notif_type_name(keys));
	n = json_object_array_length(keys);
	r = notif_check_count(c, n, "s3ObjectKey");
	if (r < 0)
		return r;
	/* The whole message is refused before anything is kept. */
	for (i = 0; i < n; i++) {
		struct json_object *k = json_object_array_get_idx(keys, i);
		const char *s = NULL;
		size_t len;
		char path[48];

		(void)snprintf(path, sizeof(path), "s3ObjectKey[%zu]", i);
		if (!json_object_is_type(k, json_type_string))
			return diag_set(c->reterr, -EBADMSG, NULL, 0, 0,
			    "%s%s must be a string, not %s", c->where, path,
			    notif_type_name(k));
		s = json_object_get_string(k);
		len = (size_t)json_object_get_string_len(k);
		if (memchr(s, '\0', len) != NULL)
			return diag_set(c->reterr, -EBADMSG, NULL, 0, 0,
			    "%s%s holds a NUL byte", c->where, path);
		r = notif_check_key(c, len, path);
		if (r < 0)
			return r;
	}
	r = notif_check_bucket(c, bucket, blen);
	if (r < 0)
		return r;
	for (i = 0; i < n; i++) {
		struct json_object *k = json_object_array_get_idx(keys, i);
		size_t len = (size_t)json_object_get_string_len(k);
		char *key = notif_strndup(json_object_get_string(k), len);

		if (key == NULL)
			return -ENOMEM;
		r = notif_add(c, bucket, key, len);
		if (r < 0)
			return r;
	}
	c->n->inner = NOTIF_SHAPE_CLOUDTRAIL;
	return 0;
}

/* One Records[i] of an S3 event: bucket checked, key decoded. */
static int
notif_s3_record(struct notif_ctx *c, struct json_object *rec, size_t i,
    const char **ret_bucket, char **ret_key, size_t *ret_len)
{
	struct json_object *s3;
	struct json_object *bo;
	struct json_object *oo;
	const char *src = NULL;
	const char *name;
	const char *bucket = NULL;
	const char *key;
	size_t blen = 0;
	size_t klen;
	char path[64];
	char q[QUOTE_SIZE(NOTIF_QUOTE_KEY)];
	char *dec = NULL;
	int has_name;
	int r;

	*ret_key = NULL;
	(void)snprintf(path, sizeof(path), "Records[%zu]", i);
	if (!json_object_is_type(rec, json_type_object))
		return diag_set(c->reterr, -EBADMSG, NULL, 0, 0,
		    "%s%s must be an object, not %s", c->where, path,
		    notif_type_name(rec));
	(void)snprintf(path, sizeof(path), "Records[%zu].eventSource", i);
	r = notif_need_str(c, rec, "eventSource", path, &src, &klen);
	if (r < 0)
		return r;
	if (strcmp(src, "aws:s3") != 0)
		return diag_set(c->reterr, -EBADMSG, NULL, 0, 0,
		    "%sRecords[%zu] is not an S3 event (eventSource '%s')",
		    c->where, i,
		    quote_bytes(q, sizeof(q), src, klen, NOTIF_QUOTE_KEY));
	(void)snprintf(path, sizeof(path), "Records[%zu].eventName", i);
	has_name = notif_str(c, rec, "eventName", path, &name, NULL);
	if (has_name < 0)
		return has_name;
	(void)snprintf(path, sizeof(path), "Records[%zu].s3", i);
	s3 = notif_obj(c, rec, "s3", path, &r);
	if (s3 == NULL)
		return r;
	(void)snprintf(path, sizeof(path), "Records[%zu].s3.bucket", i);
	bo = notif_obj(c, s3, "bucket", path, &r);
	if (bo == NULL)
		return r;
	(void)snprintf(path, sizeof(path), "Records[%zu].s3.object", i);
	oo = notif_obj(c, s3, "object", path, &r);
	if (oo == NULL)
		return r;
	(void)snprintf(path, sizeof(path), "Records[%zu].s3.bucket.name", i);
	r = notif_need_str(c, bo, "name", path, &bucket, &blen);
	if (r < 0)
		return r;
	(void)snprintf(path, sizeof(path), "Records[%zu].s3.object.key", i);
	r = notif_need_str(c, oo, "key", path, &key, &klen);
	if (r < 0)
		return r;
	r = notif_check_bucket(c, bucket, blen);
	if (r < 0)
		return r;
	dec = notif_strndup(key, klen);
	if (dec == NULL)
		return -ENOMEM;
	r = notif_form_decode(c, dec, &klen, path);
	if (r == 0)
		r = notif_check_key(c, klen, path);
	if (r < 0) {
		free(dec);
		return r;
	}
	/* Only a created object is a log file to read; a removal (lifecycle
	 * expiry, say) names one that is gone. */
	if (has_name == 1 && strncmp(name, "ObjectCreated:", 14) != 0) {
		free(dec);
		c->n->skipped_other++;
		return 0;
	}
	*ret_bucket = bucket;
	*ret_key = dec;
	*ret_len = klen;
	return 0;
}

static int
notif_s3_event(struct notif_ctx *c, struct json_object *recs)
{
	char **keys = NULL;
	const char **buckets = NULL;
	size_t *lens = NULL;
	size_t n = 0;
	size_t i;
	int r;

	if (!json_object_is_type(recs, json_type_array))
		return diag_set(c->reterr, -EBADMSG, NULL, 0, 0,
		    "%sRecords must be an array of S3 events, not %s", c->where,
		    notif_type_name(recs));
	n = json_object_array_length(recs);
	r = notif_check_count(c, n, "Records");
	if (r < 0)
		return r;
	keys = calloc(n, sizeof(*keys));
	buckets = calloc(n, sizeof(*buckets));
	lens = calloc(n, sizeof(*lens));
	if (keys == NULL || buckets == NULL || lens == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	/* Every record is checked (and every bucket allowed) first. */
	for (i = 0; i < n; i++) {
		r = notif_s3_record(c, json_object_array_get_idx(recs, i), i,
		    &buckets[i], &keys[i], &lens[i]);
		if (r < 0)
			goto fail;
	}
	for (i = 0; i < n; i++) {
		if (keys[i] == NULL)
			continue;
		r = notif_add(c, buckets[i], keys[i], lens[i]);
		keys[i] = NULL;
		if (r < 0)
			goto fail;
	}
	c->n->inner = NOTIF_SHAPE_S3_EVENT;
	r = 0;
fail:
	for (i = 0; keys != NULL && i < n; i++)
		free(keys[i]);
	free(keys);
	free(buckets);
	free(lens);
	return r;
}

static int
notif_s3_test(struct notif_ctx *c, struct json_object *root)
{
	const char *ev = NULL;
	const char *svc;
	int r;

	r = notif_need_str(c, root, "Event", "Event", &ev, NULL);
	if (r == 0)
		r = notif_need_str(c, root, "Service", "Service", &svc, NULL);
	if (r < 0)
		return r;
	if (strcmp(ev, "s3:TestEvent") != 0 || strcmp(svc, "Amazon S3") != 0)
		return diag_set(c->reterr, -EBADMSG, NULL, 0, 0,
		    "%sunknown notification shape: expected "
		    "{\"Service\":\"Amazon S3\",\"Event\":\"s3:TestEvent\"}",
		    c->where);
	c->n->inner = NOTIF_SHAPE_S3_TEST;
	return 0;
}

/* The detail-types whose detail is a CloudTrail record (EventBridge user
 * guide, "AWS service events delivered via AWS CloudTrail"; Insights events
 * are not records). Real sign-in events spell "Sign In". */
static const char *const notif_eb_types[] = {
    "AWS API Call via CloudTrail",
    "AWS Service Event via CloudTrail",
    "AWS Console Action via CloudTrail",
    "AWS Console Signin via CloudTrail",
    "AWS Console Sign In via CloudTrail",
};

static int
notif_eventbridge(struct notif_ctx *c, struct json_object *root)
{
	struct json_object *detail;
	struct json_object *v;
	const char *type = NULL;
	const char *acct;
	const char *s = NULL;
	size_t len;
	size_t i = 0;
	char q[QUOTE_SIZE(NOTIF_QUOTE_MAX)];
	int r;

	r = notif_need_str(c, root, "detail-type", "detail-type", &type, &len);
	if (r < 0)
		return r;
	for (i = 0; i < ARRAY_SIZE(notif_eb_types); i++)
		if (strcmp(type, notif_eb_types[i]) == 0)
			break;
	if (i == ARRAY_SIZE(notif_eb_types))
		return diag_set(c->reterr, -EBADMSG, NULL, 0, 0,
		    "%sEventBridge detail-type '%s' is not a CloudTrail "
		    "record (want 'AWS API Call via CloudTrail', ...)",
		    c->where,
		    quote_bytes(q, sizeof(q), type, len, NOTIF_QUOTE_MAX / 2));
	detail = notif_obj(c, root, "detail", "detail", &r);
	if (detail == NULL)
		return r;
	r = notif_need_str(c, detail, "eventSource", "detail.eventSource", &s,
	    NULL);
	if (r == 0)
		r = notif_need_str(c, detail, "eventName", "detail.eventName",
		    &s, NULL);
	if (r < 0)
		return r;
	/* CloudTrail records carry recipientAccountId (alerts and rules
	 * use it); EventBridge's detail may not, its envelope's "account"
	 * is the same account. */
	if (!json_object_object_get_ex(detail, "recipientAccountId", &v)) {
		r = notif_str(c, root, "account", "account", &acct, &len);
		if (r < 0)
			return r;
		if (r == 1) {
			v = json_object_new_string_len(acct, (int)len);
			if (v == NULL ||
			    json_object_object_add(detail, "recipientAccountId",
				v) < 0) {
				json_object_put(v);
				return -ENOMEM;
			}
		}
	}
	c->n->record = json_object_get(detail);
	c->n->inner = NOTIF_SHAPE_EVENTBRIDGE;
	return 0;
}

/* A confirmation: its fields, borrowed from the envelope it keeps. Which
 * may be acted on is the intake's call (after the signature check). */
static int
notif_sns_confirm(struct notif_ctx *c, struct json_object *root,
    const char *type)
{
	struct notif_confirm *cf = &c->n->confirm;
	int r;

	cf->subscribe = strcmp(type, "SubscriptionConfirmation") == 0;
	r = notif_str(c, root, "TopicArn", "TopicArn", &cf->topic_arn, NULL);
	if (r >= 0)
		r = notif_str(c, root, "SubscribeURL", "SubscribeURL",
		    &cf->subscribe_url, NULL);
	if (r >= 0)
		r = notif_str(c, root, "Token", "Token", &cf->token, NULL);
	if (r < 0) {
		memset(cf, 0, sizeof(*cf));
		return r;
	}
	c->n->shape = NOTIF_SHAPE_SNS_CONFIRMATION;
	c->n->inner = NOTIF_SHAPE_SNS_CONFIRMATION;
	c->n->sns = json_object_get(root);
	return 0;
}

static int
notif_sns(struct notif_ctx *c, struct json_object *root, const char *type,
    size_t tlen)
{
	struct json_object *inner = NULL;
	const char *msg = NULL;
	size_t len;
	char q[QUOTE_SIZE(NOTIF_QUOTE_MAX)];
	int r;

	if (strcmp(type, "SubscriptionConfirmation") == 0 ||
	    strcmp(type, "UnsubscribeConfirmation") == 0)
		return notif_sns_confirm(c, root, type);
	if (strcmp(type, "Notification") != 0)
		return diag_set(c->reterr, -EBADMSG, NULL, 0, 0,
		    "unknown SNS message Type '%s' (want Notification, "
		    "SubscriptionConfirmation or UnsubscribeConfirmation)",
		    quote_bytes(q, sizeof(q), type, tlen, NOTIF_QUOTE_MAX / 2));
	r = notif_need_str(c, root, "Message", "SNS Message", &msg, &len);
	if (r < 0)
		return r;
	r = notif_json(msg, len, "SNS Message", &inner, c->reterr);
	if (r < 0)
		return r;
	c->n->shape = NOTIF_SHAPE_SNS;
	c->where = "SNS Message: ";
	r = notif_classify(c, inner, true);
	json_object_put(inner);
	if (r < 0)
		return r;
	c->n->sns = json_object_get(root);
	return 0;
}

static int
notif_unknown(struct notif_ctx *c, struct json_object *root)
{
	char list[NOTIF_QUOTE_LIST * (4 * NOTIF_QUOTE_KEY + 8) + 8];
	size_t o = 0;
	size_t n = 0;

	if (!json_object_is_type(root, json_type_object))
		return diag_set(c->reterr, -EBADMSG, NULL, 0, 0,
		    "%sunknown notification shape: expected a JSON object, "
		    "got %s",
		    c->where, notif_type_name(root));
	list[0] = '\0';
	json_object_object_foreach(root, k, v)
	{
		char q[QUOTE_SIZE(NOTIF_QUOTE_KEY)];

		UNUSED(v);
		if (n == NOTIF_QUOTE_LIST) {
			(void)snprintf(list + o, sizeof(list) - o, ", ...");
			break;
		}
		(void)snprintf(list + o, sizeof(list) - o, "%s%s",
		    n != 0 ? ", " : "",
		    quote_bytes(q, sizeof(q), k, strlen(k), NOTIF_QUOTE_KEY));
		o += strlen(list + o);
		n++;
	}
	if (n == 0)
		return diag_set(c->reterr, -EBADMSG, NULL, 0, 0,
		    "%sunknown notification shape: an empty object", c->where);
	return diag_set(c->reterr, -EBADMSG, NULL, 0, 0,
	    "%sunknown notification shape: an object with keys %s", c->where,
	    list);
}

static int
notif_classify(struct notif_ctx *c, struct json_object *root, bool enveloped)
{
	struct json_object *v;
	const char *type = NULL;
	size_t len;
	int r;

	if (!json_object_is_type(root, json_type_object))
		return notif_unknown(c, root);
	r = notif_str(c, root, "Type", "Type", &type, &len);
	if (r < 0)
		return r;
	if (r == 1) {
		if (enveloped)
			return diag_set(c->reterr, -EBADMSG, NULL, 0, 0,
			    "%san SNS envelope inside an SNS message",
			    c->where);
		return notif_sns(c, root, type, len);
	}
	if (json_object_object_get_ex(root, "s3Bucket", NULL) ||
	    json_object_object_get_ex(root, "s3ObjectKey", NULL))
		return notif_cloudtrail(c, root);
	if (json_object_object_get_ex(root, "Records", &v))
		return notif_s3_event(c, v);
	if (json_object_object_get_ex(root, "Event", NULL))
		return notif_s3_test(c, root);
	if (json_object_object_get_ex(root, "detail-type", NULL))
		return notif_eventbridge(c, root);
	return notif_unknown(c, root);
}

void
notif_free(struct notif *n)
{
	size_t i = 0;

	if (n == NULL)
		return;
	for (i = 0; i < n->n_objects; i++) {
		free(n->objects[i].bucket);
		free(n->objects[i].key);
	}
	free(n->objects);
	json_object_put(n->record);
	json_object_put(n->sns);
	free(n);
}

int
notif_parse(const char *body, size_t len, const struct notif_opts *o,
    struct notif **ret, struct diag *reterr)
{
	struct json_object *root = NULL;
	struct notif_ctx c;
	struct diag d;
	int r;

	if (len > NOTIF_MAX_BODY)
		return diag_set(reterr, -E2BIG, NULL, 0, 0,
		    "message body is %zu bytes, over %u", len, NOTIF_MAX_BODY);
	memset(&c, 0, sizeof(c));
	c.o = o;
	c.where = "";
	c.reterr = &d; /* reterr is written only on failure */
	c.n = calloc(1, sizeof(*c.n));
	if (c.n == NULL)
		return -ENOMEM;
	c.n->shape = NOTIF_SHAPE_COUNT; /* set by notif_sns if enveloped */
	r = notif_json(body, len, "message body", &root, &d);
	if (r == 0)
		r = notif_classify(&c, root, false);
	json_object_put(root);
	free(c.hashes);
	if (r < 0) {
		if (reterr != NULL && r != -ENOMEM)
			*reterr = d;
		notif_free(c.n);
		return r;
	}
	if (c.n->shape == NOTIF_SHAPE_COUNT)
		c.n->shape = c.n->inner;
	*ret = c.n;
	return 0;
}

/* One name or value of a query (len < size bytes: the URL's length is
 * checked first), %-decoded into buf, NUL-terminated. No allocation. */
static int
notif_query_param(const char *p, size_t len, char *buf, size_t size,
    struct diag *reterr)
{
	struct notif_ctx c;

	if (len >= size) /* cannot happen: the whole URL is shorter */
		return diag_set(reterr, -EACCES, NULL, 0, 0,
		    "SubscribeURL parameter too long");
	memset(&c, 0, sizeof(c));
	c.where = "";
	c.reterr = reterr;
	memcpy(buf, p, len);
	buf[len] = '\0';
	return notif_form_decode(&c, buf, &len, "SubscribeURL");
}

/* Counts and checks the query's Action, TopicArn and Token. */
static int
notif_subscribe_query(const char *q, const char *topic_arn, struct diag *reterr)
{
	char name[NOTIF_MAX_SUBSCRIBE_URL + 1];
	char value[NOTIF_MAX_SUBSCRIBE_URL + 1];
	char qq[QUOTE_SIZE(NOTIF_QUOTE_MAX)];
	unsigned n_action = 0;
	unsigned n_topic = 0;
	unsigned n_token = 0;
	int r = 0;

	while (r == 0 && *q != '\0') {
		size_t len = strcspn(q, "&");
		const char *eq = memchr(q, '=', len);

		name[0] = value[0] = '\0';
		if (eq != NULL) {
			r = notif_query_param(q, (size_t)(eq - q), name,
			    sizeof(name), reterr);
			if (r == 0)
				r = notif_query_param(eq + 1,
				    len - (size_t)(eq - q) - 1, value,
				    sizeof(value), reterr);
		}
		if (r == 0 && strcmp(name, "Action") == 0) {
			n_action++;
			if (strcmp(value, "ConfirmSubscription") != 0)
				r = diag_set(reterr, -EACCES, NULL, 0, 0,
				    "SubscribeURL's Action is '%s', not "
				    "ConfirmSubscription",
				    quote_bytes(qq, sizeof(qq), value,
					strlen(value), NOTIF_QUOTE_MAX / 2));
		} else if (r == 0 && strcmp(name, "TopicArn") == 0) {
			n_topic++;
			if (topic_arn == NULL || strcmp(value, topic_arn) != 0)
				r = diag_set(reterr, -EACCES, NULL, 0, 0,
				    "SubscribeURL's TopicArn '%s' is not the "
				    "message's TopicArn",
				    quote_bytes(qq, sizeof(qq), value,
					strlen(value), NOTIF_QUOTE_MAX / 2));
		} else if (r == 0 && strcmp(name, "Token") == 0) {
			n_token++;
			if (value[0] == '\0')
				r = diag_set(reterr, -EACCES, NULL, 0, 0,
				    "SubscribeURL's Token is empty");
		}
		q += len;
		if (*q == '&')
			q++;
	}
	if (r == -EBADMSG) /* a bad %-escape: not a URL we would visit */
		r = -EACCES;
	if (r < 0)
		return r;
	if (n_action != 1 || n_topic != 1 || n_token != 1)
		return diag_set(reterr, -EACCES, NULL, 0, 0,
		    "SubscribeURL must hold one each of Action, TopicArn and "
		    "Token (it has %u, %u, %u)",
		    n_action, n_topic, n_token);
	return 0;
}

int
notif_subscribe_url_check(const char *url, const regex_t *pattern,
    const char *topic_arn, struct diag *reterr)
{
	char q[QUOTE_SIZE(NOTIF_QUOTE_MAX)];
	const char *query;
	size_t len;
	size_t i;

	if (url == NULL || url[0] == '\0')
		return diag_set(reterr, -EACCES, NULL, 0, 0, "no SubscribeURL");
	len = strlen(url);
	if (len > NOTIF_MAX_SUBSCRIBE_URL)
		return diag_set(reterr, -EACCES, NULL, 0, 0,
		    "SubscribeURL is %zu bytes, over %u", len,
		    NOTIF_MAX_SUBSCRIBE_URL);
	for (i = 0; i < len; i++)
		if (url[i] <= ' ' || url[i] > '~' || url[i] == '#' ||
		    url[i] == '\\')
			return diag_set(reterr, -EACCES, NULL, 0, 0,
			    "SubscribeURL holds a byte it must not at %zu: "
			    "'%s'",
			    i, quote_bytes(q, sizeof(q), url + i, len - i, 8));
	if (regexec(pattern, url, 0, NULL, 0) != 0)
		return diag_set(reterr, -EACCES, NULL, 0, 0,
		    "SubscribeURL does not match sns.subscribe_url_pattern");
	query = strchr(url, '?');
	if (query == NULL)
		return diag_set(reterr, -EACCES, NULL, 0, 0,
		    "SubscribeURL has no query");
	return notif_subscribe_query(query + 1, topic_arn, reterr);
}
