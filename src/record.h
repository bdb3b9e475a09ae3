/*
 * record.h: reading fields out of one parsed CloudTrail record.
 *
 * A field path is dotted ("userIdentity.arn", "resources.0.ARN": a numeric
 * segment indexes an array). The synthetic top-level field "secretId" is the
 * secret's normalised identity: the first non-empty of
 * responseElements.arn, responseElements.aRN, additionalEventData.SecretId,
 * requestParameters.secretId, requestParameters.name, responseElements.name
 * (the ARN first, so that events naming one secret differently agree;
 * Secrets Manager has spelt "aRN" for "arn").
 * Paths are compiled once (record_path_compile) and evaluated often without
 * allocating. Everything returned is borrowed from the record.
 */
#ifndef SMTRAIL_RECORD_H
#define SMTRAIL_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

struct buf;
struct json_object;
struct record_path; /* opaque */

int record_path_compile(const char *dotted, struct record_path **ret)
    MUST_CHECK; /* -EINVAL empty path or empty segment */
void record_path_free(struct record_path *p);
const char *record_path_str(const struct record_path *p);

/* The value at p, or NULL when absent (JSON null is returned as NULL too,
 * with *ret_present set to true when given). */
struct json_object *record_get(struct json_object *rec,
    const struct record_path *p, bool *ret_present);

/* One-off lookup by dotted path (compiles on the fly; for cold paths). */
struct json_object *record_get_str(struct json_object *rec, const char *dotted);

/* The normalised secret identity, or NULL. Borrowed. */
const char *record_secret_id(struct json_object *rec);

/* A top-level string field ("eventID", ...) or NULL. Borrowed. */
const char *record_string(struct json_object *rec, const char *key);

/*
 * Appends the text form of v to out: strings as-is, numbers and booleans as
 * JSON writes them, objects and arrays as compact JSON, NULL as nothing.
 */
int record_value_text(struct json_object *v, struct buf *out) MUST_CHECK;

#endif
