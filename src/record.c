/*
 * record.c: see record.h.
 *
 * A compiled path is one allocation: the header, the segment table, the
 * dotted text and a copy of it with each '.' turned into a NUL, which the
 * segments point into. Lookups walk json-c objects and allocate nothing;
 * record_get_str() walks the dotted text directly for the same reason.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "record.h"

/* Segments longer than this are looked up by iterating the object. */
#define RECORD_KEY_STACK 256

/* The synthetic top-level field. */
#define RECORD_SECRET_ID "secretId"

struct record_seg {
	const char *key; /* NUL-terminated, inside the path's block */
	size_t len;
	size_t index; /* valid when is_index */
	bool is_index;
};

struct record_path {
	const char *str; /* the dotted form, inside the block */
	size_t n;
	struct record_seg seg[];
};

/*
 * Where the secret's identity may be, in order of preference. The full ARN
 * comes first when the event has one: callers may name a secret by name or
 * by ARN, and an incident opened by one event (DeleteSecret) must get the
 * same group key as the event that resolves it (RestoreSecret).
 */
static const char *const record_secret_src[][2] = {
    {"responseElements", "arn"},
    {"responseElements", "aRN"},
    {"additionalEventData", "SecretId"},
    {"requestParameters", "secretId"},
    {"requestParameters", "name"},
    {"responseElements", "name"},
};

/* A segment made only of digits indexes arrays (it is a key for objects). */
static bool
record_seg_index(const char *s, size_t len, size_t *ret)
{
	size_t v = 0;
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (v > (SIZE_MAX - 9) / 10)
			return false;
		v = v * 10 + (size_t)(s[i] - '0');
	}
	*ret = v;
	return true;
}

int
record_path_compile(const char *dotted, struct record_path **ret)
{
	struct record_path *p;
	size_t len;
	size_t n;
	size_t i;
	size_t start;
	size_t k;
	char *str;
	char *keys;

	len = strlen(dotted);
	if (len == 0)
		return -EINVAL;
	n = 1;
	for (i = 0; i < len; i++) {
		if (dotted[i] != '.')
			continue;
		if (i == 0 || dotted[i - 1] == '.' || i + 1 == len)
			return -EINVAL;
		n++;
	}
	p = malloc(sizeof(*p) + n * sizeof(p->seg[0]) + 2 * (len + 1));
	if (p == NULL)
		return -ENOMEM;
	str = (char *)&p->seg[n];
	keys = str + len + 1;
	memcpy(str, dotted, len + 1);
	memcpy(keys, dotted, len + 1);
	p->str = str;
	p->n = n;
	start = 0;
	k = 0;
	for (i = 0; i <= len; i++) {
		struct record_seg *s;

		if (keys[i] != '.' && keys[i] != '\0')
			continue;
		keys[i] = '\0';
		s = &p->seg[k++];
		s->key = keys + start;
		s->len = i - start;
		s->is_index = record_seg_index(s->key, s->len, &s->index);
		if (!s->is_index)
			s->index = 0;
		start = i + 1;
	}
	*ret = p;
	return 0;
}

void
record_path_free(struct record_path *p)
{
	free(p);
}

const char *
record_path_str(const struct record_path *p)
{
	return p->str;
}

/*
 * The member key (len bytes, not necessarily NUL-terminated) of obj.
 * Returns whether it exists; *ret is NULL for a JSON null.
 */
static bool
record_member(struct json_object *obj, const char *key, size_t len,
    struct json_object **ret)
{
	char tmp[RECORD_KEY_STACK];

	if (key[len] == '\0')
		return json_object_object_get_ex(obj, key, ret);
	if (len < sizeof(tmp)) {
		memcpy(tmp, key, len);
		tmp[len] = '\0';
		return json_object_object_get_ex(obj, tmp, ret);
	}
	/* A key too long for the stack: compare each member's name. */
	json_object_object_foreach(obj, k, v)
	{
		if (strlen(k) == len && memcmp(k, key, len) == 0) {
			*ret = v;
			return true;
		}
	}
	return false;
}

/* One step down; false when the segment is absent. */
static bool
record_step(struct json_object *cur, const char *key, size_t len, bool is_index,
    size_t index, struct json_object **ret)
{
	if (cur == NULL)
		return false; /* JSON null has no members */
	switch (json_object_get_type(cur)) {
	case json_type_object:
		return record_member(cur, key, len, ret);
	case json_type_array:
		if (!is_index || index >= json_object_array_length(cur))
			return false;
		*ret = json_object_array_get_idx(cur, index);
		return true;
	case json_type_null:
	case json_type_boolean:
	case json_type_double:
	case json_type_int:
	case json_type_string:
		break;
	}
	return false;
}

/* The string object holding the secret's identity, or NULL. */
static struct json_object *
record_secret_obj(struct json_object *rec)
{
	struct json_object *a;
	struct json_object *b;
	size_t i;

	if (rec == NULL || !json_object_is_type(rec, json_type_object))
		return NULL;
	for (i = 0; i < ARRAY_SIZE(record_secret_src); i++) {
		if (!json_object_object_get_ex(rec, record_secret_src[i][0],
			&a) ||
		    a == NULL || !json_object_is_type(a, json_type_object))
			continue;
		if (!json_object_object_get_ex(a, record_secret_src[i][1],
			&b) ||
		    b == NULL || !json_object_is_type(b, json_type_string))
			continue;
		if (json_object_get_string_len(b) > 0)
			return b;
	}
	return NULL;
}

struct json_object *
record_get(struct json_object *rec, const struct record_path *p,
    bool *ret_present)
{
	struct json_object *cur = rec;
	size_t i = 0;

	if (ret_present != NULL)
		*ret_present = false;
	if (rec == NULL)
		return NULL;
	if (strcmp(p->seg[0].key, RECORD_SECRET_ID) == 0) {
		cur = record_secret_obj(rec);
		if (cur == NULL)
			return NULL;
		i = 1;
	}
	for (; i < p->n; i++) {
		const struct record_seg *s = &p->seg[i];

		if (!record_step(cur, s->key, s->len, s->is_index, s->index,
			&cur))
			return NULL;
	}
	if (ret_present != NULL)
		*ret_present = true;
	return cur;
}

struct json_object *
record_get_str(struct json_object *rec, const char *dotted)
{
	struct json_object *cur = rec;
	const char *s = dotted;
	const char *dot;
	size_t len;
	size_t index = 0;
	bool is_index;

	if (rec == NULL || *dotted == '\0')
		return NULL;
	for (;;) {
		dot = strchr(s, '.');
		len = dot != NULL ? (size_t)(dot - s) : strlen(s);
		if (len == 0)
			return NULL;
		if (s == dotted && len == strlen(RECORD_SECRET_ID) &&
		    memcmp(s, RECORD_SECRET_ID, len) == 0) {
			cur = record_secret_obj(rec);
			if (cur == NULL)
				return NULL;
		} else {
			is_index = record_seg_index(s, len, &index);
			if (!record_step(cur, s, len, is_index, index, &cur))
				return NULL;
		}
		if (dot == NULL)
			return cur;
		s = dot + 1;
	}
}

const char *
record_secret_id(struct json_object *rec)
{
	struct json_object *v = record_secret_obj(rec);

	return v != NULL ? json_object_get_string(v) : NULL;
}

const char *
record_string(struct json_object *rec, const char *key)
{
	struct json_object *v;

	if (rec == NULL || !json_object_is_type(rec, json_type_object))
		return NULL;
	if (!json_object_object_get_ex(rec, key, &v) || v == NULL ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int
record_value_text(struct json_object *v, struct buf *out)
{
	const char *s;

	if (v == NULL)
		return 0;
	if (json_object_is_type(v, json_type_string))
		return buf_append(out, json_object_get_string(v),
		    (size_t)json_object_get_string_len(v));
	s = json_object_to_json_string_ext(v,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s == NULL)
		return -ENOMEM;
	return buf_puts(out, s);
}
