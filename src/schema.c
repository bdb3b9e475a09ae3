/*
 * schema.c: see schema.h. The table is scripts/schema-gen's output.
 */
#include <errno.h>
#include <string.h>

#include "schema.h"

struct schema_event {
	const char *name;
	unsigned short request;
	unsigned short response;
};

#include "schema_fields.h"

const struct schema_field *
schema_record(void)
{
	return &schema_fields[SCHEMA_ROOT];
}

const struct schema_field *
schema_event(const char *event, bool response)
{
	const struct schema_field *f;
	size_t i;

	for (i = 0; i < sizeof(schema_events) / sizeof(schema_events[0]); i++) {
		if (strcmp(schema_events[i].name, event) != 0)
			continue;
		f = &schema_fields[response ? schema_events[i].response
					    : schema_events[i].request];
		return f->n > 0 ? f : NULL;
	}
	return NULL;
}

const struct schema_field *
schema_member(const struct schema_field *f, size_t i)
{
	return &schema_fields[f->first + i];
}

/* The member of f named by len bytes of s, or NULL. */
static const struct schema_field *
schema_find(const struct schema_field *f, const char *s, size_t len)
{
	const struct schema_field *m;
	size_t i;

	for (i = 0; i < f->n; i++) {
		m = schema_member(f, i);
		if (strlen(m->name) == len && memcmp(m->name, s, len) == 0)
			return m;
	}
	return NULL;
}

static bool
schema_is_index(const char *s, size_t len)
{
	size_t i;

	if (len == 1 && s[0] == '*')
		return true;
	for (i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return len > 0;
}

/* What a LIST's element is. */
static const struct schema_field schema_value = {"", SCHEMA_LEAF, 0, 0};

int
schema_walk(const struct schema_field *f, const char *path, size_t len,
    size_t *ret_off, size_t *ret_len, const struct schema_field **ret_parent)
{
	const struct schema_field *m = NULL;
	const char *end = path + len;
	const char *p = path;
	const char *dot;
	size_t slen;
	bool elem = false; /* f is an ARRAY and its index was given */

	for (;;) {
		dot = memchr(p, '.', (size_t)(end - p));
		slen = dot != NULL ? (size_t)(dot - p) : (size_t)(end - p);
		if (f->kind == SCHEMA_OPEN)
			return 0;
		if (f->kind == SCHEMA_ARRAY && !elem &&
		    schema_is_index(p, slen)) {
			elem = true;
		} else if (f->kind == SCHEMA_LIST && schema_is_index(p, slen)) {
			f = &schema_value;
		} else {
			if (f->kind == SCHEMA_OBJECT && slen == 1 && *p == '*')
				return 0; /* any member: then anything */
			if (f->kind == SCHEMA_OBJECT ||
			    (f->kind == SCHEMA_ARRAY && elem))
				m = schema_find(f, p, slen);
			if (m == NULL) {
				*ret_off = (size_t)(p - path);
				*ret_len = slen;
				*ret_parent = f;
				return -ENOENT;
			}
			f = m;
			m = NULL;
			elem = false;
		}
		if (dot == NULL)
			return 0;
		p = dot + 1;
	}
}
