/*
 * record.h: reading fields out of one parsed CloudTrail record.
 *
 * A field path is dotted ("userIdentity.arn", "resources.0.ARN": a numeric
 * segment indexes an array; "requestParameters.filters.*.key": a "*"
 * segment stands for every element of an array, or every member of an
 * object). A path whose first segment is a derived field reads it, and
 * goes on below it:
 *   secretId            the secret's normalised identity: the first
 *                       non-empty of responseElements.arn, .aRN,
 *                       additionalEventData.SecretId,
 *                       requestParameters.secretId, requestParameters.name,
 *                       responseElements.name (the ARN first, so events
 *                       naming one secret differently agree);
 *   principal           the caller's best identity: for an AssumedRole the
 *                       session issuer's ARN (the role, whoever assumed
 *                       it), else userIdentity.arn, else
 *                       userIdentity.invokedBy (service events);
 *   isServiceEvent      true for eventType AwsServiceEvent or an
 *                       AWSService identity, else false;
 *   policyAllowsPublic  for a record with requestParameters.resourcePolicy
 *                       (PutResourcePolicy): whether an Allow statement
 *                       grants Principal "*" (or {"AWS": "*"}) with no
 *                       aws:PrincipalOrgID, aws:PrincipalAccount,
 *                       aws:SourceAccount, aws:SourceOrgID or
 *                       aws:PrincipalOrgPaths condition; absent otherwise;
 *   accountAlias        recipientAccountId's alias, from what the caller
 *                       attached to the record (record_env_set()).
 * Paths are compiled once (record_path_compile) and evaluated often; only
 * policyAllowsPublic allocates (it parses the policy). Everything returned
 * is borrowed from the record (derived booleans from this module).
 */
#ifndef SMTRAIL_RECORD_H
#define SMTRAIL_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

struct buf;
struct json_object;
struct record_path; /* opaque */

enum record_derived {
	RECORD_D_NONE,
	RECORD_D_SECRET_ID,
	RECORD_D_PRINCIPAL,
	RECORD_D_IS_SERVICE,
	RECORD_D_POLICY_PUBLIC,
	RECORD_D_ACCOUNT_ALIAS,
	RECORD_D_COUNT
};

/* The derived field's name ("principal"), NULL for NONE. */
const char *record_derived_str(enum record_derived d);

/* What a caller attaches to a record for the fields it alone knows. */
struct record_env {
	/* The alias of an account ID, as a string object the caller keeps
	 * alive; NULL: none. */
	struct json_object *(*alias)(const char *account, void *arg);
	void *arg;
};

int record_path_compile(const char *dotted, struct record_path **ret)
    MUST_CHECK; /* -EINVAL empty path or empty segment */
void record_path_free(struct record_path *p);
const char *record_path_str(const struct record_path *p);

/* The value at p, or NULL when absent (JSON null is returned as NULL too,
 * with *ret_present set to true when given). With "*" segments: the
 * first value reached. */
struct json_object *record_get(struct json_object *rec,
    const struct record_path *p, bool *ret_present);

/*
 * Calls cb for every value p reaches (one, or with "*" segments as many
 * as there are elements), in document order, until cb returns true;
 * returns whether one did. ret_n (may be NULL): how many were visited.
 */
typedef bool record_visit_cb(struct json_object *v, void *arg);
bool record_visit(struct json_object *rec, const struct record_path *p,
    record_visit_cb *cb, void *arg, size_t *ret_n);
/* Whether p has a "*" segment. */
bool record_path_wild(const struct record_path *p);

/* Attaches env (borrowed; NULL detaches) to rec for derived fields. */
void record_env_set(struct json_object *rec, const struct record_env *env);

/* One-off lookup by dotted path (compiles on the fly; for cold paths). */
struct json_object *record_get_str(struct json_object *rec, const char *dotted);

/* The caller's best identity (see "principal" above), or NULL. */
const char *record_principal(struct json_object *rec);

/* recipientAccountId's alias (record_env_set()), or NULL. Borrowed. */
const char *record_account_alias(struct json_object *rec);

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
