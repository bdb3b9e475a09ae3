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
#include <strings.h>

#include <json-c/json.h>

#include "buf.h"
#include "record.h"

/* Segments longer than this are looked up by iterating the object. */
#define RECORD_KEY_STACK 256

/* The derived top-level fields (record.h), by enum record_derived. */
static const char *const record_derived_names[RECORD_D_COUNT] = {
    [RECORD_D_NONE] = NULL,
    [RECORD_D_SECRET_ID] = "secretId",
    [RECORD_D_PRINCIPAL] = "principal",
    [RECORD_D_IS_SERVICE] = "isServiceEvent",
    [RECORD_D_POLICY_PUBLIC] = "policyAllowsPublic",
    [RECORD_D_ACCOUNT_ALIAS] = "accountAlias",
};

/* Conditions that keep a policy's "*" principal inside an organisation
 * or an account (compared without case, as IAM compares keys). */
static const char *const record_scoping_keys[] = {
    "aws:PrincipalOrgID",
    "aws:PrincipalAccount",
    "aws:SourceAccount",
    "aws:SourceOrgID",
    "aws:PrincipalOrgPaths",
};

/* What a derived boolean reads as: two objects no caller owns. */
static struct json_object *record_bools[2];

__attribute__((destructor)) static void
record_bools_free(void)
{
	json_object_put(record_bools[0]);
	json_object_put(record_bools[1]);
	record_bools[0] = record_bools[1] = NULL;
}

static struct json_object *
record_bool(bool b)
{
	if (record_bools[b] == NULL)
		record_bools[b] = json_object_new_boolean(b);
	return record_bools[b]; /* NULL when out of memory: absent */
}

struct record_seg {
	const char *key; /* NUL-terminated, inside the path's block */
	size_t len;
	size_t index; /* valid when is_index */
	bool is_index;
	bool is_wild; /* "*": every element or member */
};

struct record_path {
	const char *str; /* the dotted form, inside the block */
	size_t n;
	bool wild;                   /* a segment is "*" */
	enum record_derived derived; /* the first segment's, or NONE */
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

static enum record_derived
record_derived_find(const char *name)
{
	enum record_derived d;

	for (d = RECORD_D_SECRET_ID; d < RECORD_D_COUNT; d++)
		if (strcmp(name, record_derived_names[d]) == 0)
			return d;
	return RECORD_D_NONE;
}

/* The derived field named by len bytes of s. */
static enum record_derived
record_derived_len(const char *s, size_t len)
{
	enum record_derived d;

	for (d = RECORD_D_SECRET_ID; d < RECORD_D_COUNT; d++)
		if (strlen(record_derived_names[d]) == len &&
		    memcmp(s, record_derived_names[d], len) == 0)
			return d;
	return RECORD_D_NONE;
}

const char *
record_derived_str(enum record_derived d)
{
	return d < RECORD_D_COUNT ? record_derived_names[d] : NULL;
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
	p->wild = false;
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
		s->is_wild = s->len == 1 && s->key[0] == '*';
		p->wild = p->wild || s->is_wild;
		start = i + 1;
	}
	p->derived = record_derived_find(p->seg[0].key);
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

/* A member of an object, or NULL (absent, null, or not an object). */
static struct json_object *
record_obj_get(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

/* A non-empty string member, or NULL. */
static struct json_object *
record_obj_str(struct json_object *o, const char *key)
{
	struct json_object *v = record_obj_get(o, key);

	if (v == NULL || !json_object_is_type(v, json_type_string) ||
	    json_object_get_string_len(v) == 0)
		return NULL;
	return v;
}

/*
 * The caller's best identity: for an assumed role the role itself (the
 * session issuer's ARN, the same whoever assumed it), else the identity's
 * ARN, else the service that acted (service events).
 */
static struct json_object *
record_principal_obj(struct json_object *rec)
{
	struct json_object *uid = record_obj_get(rec, "userIdentity");
	struct json_object *type = record_obj_str(uid, "type");
	struct json_object *v;

	if (type != NULL &&
	    strcmp(json_object_get_string(type), "AssumedRole") == 0) {
		v = record_obj_str(
		    record_obj_get(record_obj_get(uid, "sessionContext"),
			"sessionIssuer"),
		    "arn");
		if (v != NULL)
			return v;
	}
	v = record_obj_str(uid, "arn");
	return v != NULL ? v : record_obj_str(uid, "invokedBy");
}

static bool
record_is_service(struct json_object *rec)
{
	struct json_object *t = record_obj_str(rec, "eventType");
	struct json_object *u =
	    record_obj_str(record_obj_get(rec, "userIdentity"), "type");

	return (t != NULL &&
		   strcmp(json_object_get_string(t), "AwsServiceEvent") == 0) ||
	    (u != NULL && strcmp(json_object_get_string(u), "AWSService") == 0);
}

/* "*", {"AWS": "*"} or {"AWS": [..., "*", ...]}. */
static bool
record_principal_any(struct json_object *p)
{
	struct json_object *aws;
	size_t i;

	if (p == NULL)
		return false;
	if (json_object_is_type(p, json_type_string))
		return strcmp(json_object_get_string(p), "*") == 0;
	aws = record_obj_get(p, "AWS");
	if (aws == NULL)
		return false;
	if (json_object_is_type(aws, json_type_string))
		return strcmp(json_object_get_string(aws), "*") == 0;
	if (!json_object_is_type(aws, json_type_array))
		return false;
	for (i = 0; i < json_object_array_length(aws); i++) {
		struct json_object *e = json_object_array_get_idx(aws, i);

		if (e != NULL && json_object_is_type(e, json_type_string) &&
		    strcmp(json_object_get_string(e), "*") == 0)
			return true;
	}
	return false;
}

/* A Condition block naming one of record_scoping_keys, under any
 * operator. */
static bool
record_scoped(struct json_object *cond)
{
	size_t i;

	if (cond == NULL || !json_object_is_type(cond, json_type_object))
		return false;
	json_object_object_foreach(cond, op, keys)
	{
		UNUSED(op);
		if (keys == NULL ||
		    !json_object_is_type(keys, json_type_object))
			continue;
		json_object_object_foreach(keys, k, v)
		{
			UNUSED(v);
			for (i = 0; i < ARRAY_SIZE(record_scoping_keys); i++)
				if (strcasecmp(k, record_scoping_keys[i]) == 0)
					return true;
		}
	}
	return false;
}

static bool
record_statement_public(struct json_object *st)
{
	struct json_object *eff = record_obj_str(st, "Effect");

	return eff != NULL &&
	    strcmp(json_object_get_string(eff), "Allow") == 0 &&
	    record_principal_any(record_obj_get(st, "Principal")) &&
	    !record_scoped(record_obj_get(st, "Condition"));
}

/*
 * PutResourcePolicy's requestParameters.resourcePolicy (a JSON text)
 * allows anyone: an Allow statement to Principal "*" (or {"AWS": "*"})
 * with no organisation or account condition. -1: no policy to read.
 */
static int
record_policy_public(struct json_object *rec)
{
	struct json_object *text = record_obj_str(
	    record_obj_get(rec, "requestParameters"), "resourcePolicy");
	struct json_object *pol;
	struct json_object *st;
	size_t i;
	int r = 0;

	if (text == NULL)
		return -1;
	pol = json_tokener_parse(json_object_get_string(text));
	if (pol == NULL)
		return -1;
	st = record_obj_get(pol, "Statement");
	if (st != NULL && json_object_is_type(st, json_type_array)) {
		for (i = 0; r == 0 && i < json_object_array_length(st); i++)
			r = record_statement_public(
			    json_object_array_get_idx(st, i));
	} else if (st != NULL) {
		r = record_statement_public(st);
	}
	json_object_put(pol);
	return r;
}

/* The account's alias, from what the caller attached (record_env_set). */
static struct json_object *
record_alias_obj(struct json_object *rec)
{
	const struct record_env *env = json_object_get_userdata(rec);
	struct json_object *acct = record_obj_str(rec, "recipientAccountId");

	if (env == NULL || env->alias == NULL || acct == NULL)
		return NULL;
	return env->alias(json_object_get_string(acct), env->arg);
}

const char *
record_account_alias(struct json_object *rec)
{
	struct json_object *o = record_alias_obj(rec);

	return o != NULL ? json_object_get_string(o) : NULL;
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

/* The value of a derived field, or NULL when the record has none. */
static struct json_object *
record_derived_value(struct json_object *rec, enum record_derived d)
{
	int pub;

	switch (d) {
	case RECORD_D_SECRET_ID:
		return record_secret_obj(rec);
	case RECORD_D_PRINCIPAL:
		return record_principal_obj(rec);
	case RECORD_D_IS_SERVICE:
		return record_bool(record_is_service(rec));
	case RECORD_D_POLICY_PUBLIC:
		pub = record_policy_public(rec);
		return pub < 0 ? NULL : record_bool(pub != 0);
	case RECORD_D_ACCOUNT_ALIAS:
		return record_alias_obj(rec);
	case RECORD_D_NONE:
	case RECORD_D_COUNT:
		break;
	}
	return NULL;
}

/* From segment i of p on, below cur: cb for each value reached. */
static bool
record_walk(struct json_object *cur, const struct record_path *p, size_t i,
    record_visit_cb *cb, void *arg, size_t *n)
{
	struct json_object *next;
	size_t k;

	for (; i < p->n; i++) {
		const struct record_seg *s = &p->seg[i];

		if (s->is_wild) {
			if (cur != NULL &&
			    json_object_is_type(cur, json_type_array)) {
				for (k = 0; k < json_object_array_length(cur);
				     k++)
					if (record_walk(
						json_object_array_get_idx(cur,
						    k),
						p, i + 1, cb, arg, n))
						return true;
			} else if (cur != NULL &&
			    json_object_is_type(cur, json_type_object)) {
				json_object_object_foreach(cur, key, v)
				{
					UNUSED(key);
					if (record_walk(v, p, i + 1, cb, arg,
						n))
						return true;
				}
			}
			return false;
		}
		if (!record_step(cur, s->key, s->len, s->is_index, s->index,
			&next))
			return false;
		cur = next;
	}
	(*n)++;
	return cb(cur, arg);
}

bool
record_visit(struct json_object *rec, const struct record_path *p,
    record_visit_cb *cb, void *arg, size_t *ret_n)
{
	struct json_object *cur = rec;
	size_t n = 0;
	bool stopped = false;

	if (rec != NULL && p->derived != RECORD_D_NONE) {
		cur = record_derived_value(rec, p->derived);
		if (cur != NULL)
			stopped = record_walk(cur, p, 1, cb, arg, &n);
	} else if (rec != NULL) {
		stopped = record_walk(cur, p, 0, cb, arg, &n);
	}
	if (ret_n != NULL)
		*ret_n = n;
	return stopped;
}

static bool
record_first_cb(struct json_object *v, void *arg)
{
	*(struct json_object **)arg = v;
	return true;
}

struct json_object *
record_get(struct json_object *rec, const struct record_path *p,
    bool *ret_present)
{
	struct json_object *v = NULL;
	bool found;

	found = record_visit(rec, p, record_first_cb, &v, NULL);
	if (ret_present != NULL)
		*ret_present = found;
	return found ? v : NULL;
}

bool
record_path_wild(const struct record_path *p)
{
	return p->wild;
}

void
record_env_set(struct json_object *rec, const struct record_env *env)
{
	json_object_set_userdata(rec, (void *)env, NULL);
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
		if (s == dotted &&
		    record_derived_len(s, len) != RECORD_D_NONE) {
			cur = record_derived_value(rec,
			    record_derived_len(s, len));
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
record_principal(struct json_object *rec)
{
	struct json_object *v = record_principal_obj(rec);

	return v != NULL ? json_object_get_string(v) : NULL;
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
