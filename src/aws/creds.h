/*
 * creds.h: AWS credentials from the SDKs' default chain, resolved on the
 * loop and kept fresh.
 *
 * The chain, first match wins:
 *   1. environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY
 *      (+ AWS_SESSION_TOKEN);
 *   2. profile (profile.h): static keys; role_arn + web_identity_token_file
 *      (+ role_session_name) is web identity;
 *   3. web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN
 *      (+ AWS_ROLE_SESSION_NAME, default "smtrail-<pid>"): an unsigned STS
 *      AssumeRoleWithWebIdentity at o->sts_endpoint, else
 *      $AWS_ENDPOINT_URL_STS, else $AWS_ENDPOINT_URL, else
 *      https://sts.<region>.amazonaws.com (region: o->region, AWS_REGION,
 *      AWS_DEFAULT_REGION, the profile's; none: sts.amazonaws.com);
 *   4. container: http://169.254.170.2 + AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
 *      or AWS_CONTAINER_CREDENTIALS_FULL_URI (https, or http to a loopback
 *      or ECS/EKS link-local address only), with an Authorization header
 *      from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (re-read each time) or
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN;
 *   5. EC2 instance metadata, IMDSv2 only (token PUT, then the role), at
 *      AWS_EC2_METADATA_SERVICE_ENDPOINT or http://169.254.169.254 (with
 *      AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6: http://[fd00:ec2::254]),
 *      1 s per request; skipped if AWS_EC2_METADATA_DISABLED=true.
 * A provider that is not configured is skipped and noted; one that is
 * configured but fails ends the chain with its error, rather than falling
 * through to other, possibly more privileged, credentials. IMDS being
 * unreachable or having no role counts as not configured. The environment
 * is read (getenv) when resolving, not by creds_new.
 *
 * Errors (r in the callback): -ENOKEY nothing configured (the diag lists
 * every provider and why: "no credentials: environment (unset), profile
 * 'default' (not found), web identity (unset), container (unset), imds
 * (connection refused)"); -ENOENT an explicitly named profile (o->profile or
 * AWS_PROFILE) exists in neither file; -ENOTSUP a profile that needs what
 * we do not implement (credential_process, SSO, role_arn with
 * source_profile or credential_source); -EINVAL half-set or malformed
 * settings; -EBADMSG a malformed answer; -EACCES STS refused; -EAGAIN STS
 * throttled or failing; a transport error (-ECONNREFUSED, -ETIMEDOUT...);
 * profile.h's errors for the shared files. The diag names the provider,
 * variable, file and line, never a key, secret or token.
 *
 * Refresh: credentials with an expiration are fetched again from the same
 * provider ahead of it, at max(expiration - margin, 2/3 of the lifetime);
 * until the new ones arrive the old ones stay current. A failed refresh is
 * retried with backoff (backoff.h, sooner if the old ones are about to
 * expire) and the old ones are kept while valid. creds_current() returns
 * NULL within min(10 s, margin / 4) of the expiration; creds_get() then
 * refreshes at once. A failure of the first resolution is not retried:
 * the next creds_get() runs the chain again.
 *
 * Loop thread only. Callbacks run from the loop, never inside creds_get().
 * Free the creds before the struct http they were given. Secrets are wiped
 * from our memory when replaced or freed.
 */
#ifndef SMTRAIL_CREDS_H
#define SMTRAIL_CREDS_H

#include <stddef.h>
#include <time.h>

#include "common.h"

struct creds; /* opaque */
struct diag;
struct event_base;
struct http;

/* Refresh this long before the expiration (or at 2/3 of a shorter life). */
#define CREDS_REFRESH_MARGIN_S 300
/* creds_current() gives up on credentials this close to their expiration. */
#define CREDS_EXPIRY_SKEW_S 10

struct aws_creds {
	char *access_key_id;
	char *secret_access_key;
	char *session_token;  /* NULL if none */
	time_t expiration;    /* 0: does not expire */
	const char *provider; /* "environment", "profile", "web-identity",
				 "container", "imds" */
};

struct creds_opts {
	const char *profile;      /* NULL: AWS_PROFILE, else "default" */
	const char *sts_endpoint; /* NULL: see above */
	const char *region;       /* NULL: see above */
	/* Tests: 0 for the defaults. */
	long refresh_margin_s;    /* 0: CREDS_REFRESH_MARGIN_S */
	const char *ecs_endpoint; /* base for the relative URI (no '/') */
};

/* r == 0: c is borrowed until the next refresh (copy what you keep), d is
 * NULL. r < 0: c is NULL, d says why. */
typedef void creds_cb(const struct aws_creds *c, int r, const struct diag *d,
    void *arg);

/* Copies o (NULL: defaults). -EINVAL, -ENOMEM. Resolves nothing yet. */
int creds_new(struct event_base *base, struct http *http,
    const struct creds_opts *o, struct creds **ret) MUST_CHECK;
/* Cancels what is in flight; pending callbacks are dropped. NULL ok; may be
 * called from a creds callback. */
void creds_free(struct creds *c);

/* Resolve (first time) or return cached: cb is always called from the loop
 * (never inside creds_get), once. -ENOMEM (then cb is not called). */
int creds_get(struct creds *c, creds_cb *cb, void *arg) MUST_CHECK;

/* Cached and not about to expire, or NULL; borrowed until the next refresh.
 */
const struct aws_creds *creds_current(const struct creds *c);

#endif
