/*
 * fuzz_notif.c: SQS message bodies (notif.h) on any bytes, once with any
 * bucket allowed and once with an allow-list, and what a parse hands out
 * read back in full.
 *
 * Besides not crashing, a parse that succeeds must keep notif.h's
 * promises, checked here (a broken one aborts): at most NOTIF_MAX_OBJECTS
 * objects, each with a bucket and a non-empty key of at most NOTIF_MAX_KEY
 * bytes; and with the allow-list, no bucket outside it (a forged message
 * must not make us fetch arbitrary objects). A refused body leaves *ret
 * alone. A confirmation's SubscribeURL goes through
 * notif_subscribe_url_check() with the default pattern: one it passes is
 * at most NOTIF_MAX_SUBSCRIBE_URL bytes and matches the pattern.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <regex.h>

#include "cfg.h"
#include "diag.h"
#include "fuzz.h"
#include "notif.h"
#include "record.h"

/* The seeds' buckets, so that mutations reach past the allow-list. */
static const char *const fn_buckets[] = {"your-bucket-name", "mybucket",
    "sourcebucket", "xxx"};
#define FN_NBUCKETS (sizeof(fn_buckets) / sizeof(fn_buckets[0]))

static void
fn_broken(const char *what, const char *detail)
{
	(void)fprintf(stderr, "fuzz_notif: %s: '%s'\n", what, detail);
	abort();
}

static bool
fn_allowed(const char *bucket)
{
	size_t i;

	for (i = 0; i < FN_NBUCKETS; i++)
		if (strcmp(bucket, fn_buckets[i]) == 0)
			return true;
	return false;
}

/* The SubscribeURL check, against the default pattern (compiled once). */
static void
fn_confirm(const struct notif_confirm *cf)
{
	static regex_t re;
	static bool compiled;
	struct diag d;

	if (!compiled) {
		if (regcomp(&re, CFG_DEFAULT_SUBSCRIBE_URL_PATTERN,
			REG_EXTENDED | REG_NOSUB) != 0)
			fn_broken("the default pattern", "does not compile");
		compiled = true;
	}
	memset(&d, 0, sizeof(d));
	if (notif_subscribe_url_check(cf->subscribe_url, &re, cf->topic_arn,
		&d) < 0)
		return;
	if (cf->subscribe_url == NULL ||
	    strlen(cf->subscribe_url) > NOTIF_MAX_SUBSCRIBE_URL ||
	    regexec(&re, cf->subscribe_url, 0, NULL, 0) != 0)
		fn_broken("a SubscribeURL passed that must not", "");
}

/* Reads every byte handed out; checks the promises above. */
static void
fn_check(const struct notif *n, bool listed)
{
	size_t i;

	(void)notif_shape_str(n->shape);
	(void)notif_shape_str(n->inner);
	if (n->n_objects > NOTIF_MAX_OBJECTS)
		fn_broken("too many objects", "");
	for (i = 0; i < n->n_objects; i++) {
		const struct notif_object *o = &n->objects[i];
		size_t len = strlen(o->key);

		if (strlen(o->bucket) == 0)
			fn_broken("empty bucket", o->key);
		if (len == 0 || len > NOTIF_MAX_KEY)
			fn_broken("bad key length", o->bucket);
		if (listed && !fn_allowed(o->bucket))
			fn_broken("bucket not in the allow-list", o->bucket);
	}
	if (n->record != NULL) {
		(void)json_object_to_json_string(n->record);
		(void)record_secret_id(n->record);
		(void)record_string(n->record, "recipientAccountId");
	}
	if (n->sns != NULL)
		(void)json_object_to_json_string(n->sns);
	if (n->shape == NOTIF_SHAPE_SNS_CONFIRMATION)
		fn_confirm(&n->confirm);
}

static void
fn_parse(const uint8_t *data, size_t size, const struct notif_opts *o)
{
	struct notif *n = NULL;
	struct diag d;
	char line[700];
	int r;

	memset(&d, 0, sizeof(d));
	r = notif_parse((const char *)data, size, o, &n, &d);
	if (r < 0) {
		if (n != NULL)
			fn_broken("refused, yet *ret was set", d.msg);
		(void)diag_format(&d, line, sizeof(line));
		return;
	}
	if (n == NULL)
		fn_broken("accepted, yet *ret is NULL", "");
	fn_check(n, o != NULL && o->n_allowed > 0);
	notif_free(n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct notif_opts o = {fn_buckets, FN_NBUCKETS};

	fn_parse(data, size, NULL);
	fn_parse(data, size, &o);
	return 0;
}
