/*
 * creds.h: AWS credentials from the SDKs' default chain, resolved on the
 * loop and kept fresh, optionally used to assume a role.
 *
 * With creds_opts.role_arn (aws.role_arn), the chain below gives the source
 * credentials, and the result is STS AssumeRole (RoleArn, RoleSessionName
 * role_session_name or "smtrail-<host name>", ExternalId if set,
 * DurationSeconds 3600) signed with them (SigV4, service "sts", the STS
 * region below, us-east-1 without one): provider "assume-role".
 *
 * The chain, first match wins:
 *   1. environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY
 *      (+ AWS_SESSION_TOKEN); skipped when o->profile is set (botocore
 *      skips it for a profile given explicitly; $AWS_PROFILE is not);
 *   2. profile (profile.h), in this order:
 *      - role_arn + web_identity_token_file (+ role_session_name): web
 *        identity as in 3;
 *      - role_arn + source_profile or credential_source (not both; +
 *        external_id, role_session_name): AssumeRole as above, signed with
 *        the source's credentials: source_profile names a profile resolved
 *        the same way, except that its static keys win over its own
 *        role_arn (botocore's _resolve_credentials_from_profile; its
 *        web_identity_token_file still comes first), so chains may be any
 *        depth; a profile met twice is a loop (-ELOOP, "profile a → b →
 *        a"), except one naming itself that has static keys (botocore's
 *        _validate_source_profile). credential_source is
 *        Environment, Ec2InstanceMetadata or EcsContainer: that provider
 *        (1, 5, 4) alone. mfa_serial and duration_seconds are refused
 *        (-ENOTSUP: a daemon cannot prompt; we ask for 3600 s, which
 *        every role allows);
 *      - static keys: aws_access_key_id + aws_secret_access_key
 *        (+ aws_session_token);
 *      - credential_process: run without a shell (creds_proc.h), killed
 *        after 60 s; its stdout must be JSON {"Version": 1, "AccessKeyId",
 *        "SecretAccessKey"[, "SessionToken"][, "Expiration"]}: provider
 *        "process". It is never logged; a diag names the bad field, or the
 *        exit status with a short, masked excerpt of stderr;
 *      - SSO (sso_session, sso_start_url): refused (-ENOTSUP);
 *   3. web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN
 *      (+ AWS_ROLE_SESSION_NAME, default "smtrail-<pid>"): an unsigned STS
 *      AssumeRoleWithWebIdentity;
 *   4. container: http://169.254.170.2 + AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
 *      or AWS_CONTAINER_CREDENTIALS_FULL_URI (https, or http to a loopback
 *      or ECS/EKS link-local address only), with an Authorization header
 *      from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (re-read each time) or
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN;
 *   5. EC2 instance metadata, IMDSv2 only (token PUT, then the role), at
 *      AWS_EC2_METADATA_SERVICE_ENDPOINT or http://169.254.169.254 (with
 *      AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6: http://[fd00:ec2::254]),
 *      1 s per request; skipped if AWS_EC2_METADATA_DISABLED=true.
 * STS, for all of them: o->sts_endpoint, else $AWS_ENDPOINT_URL_STS, else
 * o->endpoint_url, else $AWS_ENDPOINT_URL, else https://sts.<region>.
 * amazonaws.com (region: o->region, AWS_REGION, AWS_DEFAULT_REGION, the
 * profile's, the source profile's; none: the global sts.amazonaws.com).
 * A provider that is not configured is skipped and noted; one that is
 * configured but fails ends the chain with its error, rather than falling
 * through to other, possibly more privileged, credentials. IMDS being
 * unreachable or having no role counts as not configured. The environment
 * is read (getenv) when resolving, not by creds_new.
 *
 * Errors (r in the callback): -ENOKEY nothing configured (the diag lists
 * every provider and why: "no credentials: environment (unset), profile
 * 'default' (not found), web identity (unset), container (unset), imds
 * (connection refused)"); -ENOENT an explicitly named profile (o->profile,
 * AWS_PROFILE or a source_profile) exists in neither file; -ENOTSUP a
 * profile that needs what we do not implement (SSO, mfa_serial,
 * duration_seconds); -ELOOP a source_profile loop; -EINVAL half-set or
 * malformed settings; -EBADMSG a malformed answer (or credential_process
 * output); -EACCES STS refused ("assume-role <ARN>: STS AssumeRole failed:
 * HTTP 403 AccessDenied"); -EAGAIN STS throttled or failing; -EIO
 * credential_process failed; -ETIMEDOUT; a transport error
 * (-ECONNREFUSED...); profile.h's errors for the shared files. The diag
 * names the provider, profile, role, variable, file and line, never a key,
 * secret or token. A source's failure is the assume-role's: as it is for a
 * source_profile (it names its profile), prefixed for aws.role_arn
 * ("assume-role <ARN>: source credentials: ...") and a credential_source
 * ("profile 'x': credential_source Environment: ...").
 *
 * Refresh: credentials with an expiration are fetched again from the same
 * provider ahead of it, at max(expiration - margin, 2/3 of the lifetime);
 * until the new ones arrive the old ones stay current. An assumed role asks
 * its source again (which refreshes itself the same way) and then STS. A
 * failed refresh is retried with backoff (backoff.h, sooner if the old
 * ones are about to expire) and the old ones are kept while valid.
 * creds_current() returns NULL within min(10 s, margin / 4) of the
 * expiration; creds_get() then refreshes at once. A failure of the first
 * resolution is not retried: the next creds_get() runs the chain again.
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
				 "process", "assume-role", "container",
				 "imds" */
};

struct creds_opts {
	const char *profile;      /* NULL: AWS_PROFILE, else "default" */
	const char *region;       /* NULL: see above */
	const char *endpoint_url; /* aws.endpoint_url: STS too; NULL: none */
	/* aws.role_arn: assume it over the chain. NULL: none (and then
	 * external_id and role_session_name must be NULL too). */
	const char *role_arn;
	const char *external_id;       /* NULL: none */
	const char *role_session_name; /* NULL: "smtrail-<host name>" */
	/* Tests: 0 for the defaults. */
	const char *sts_endpoint; /* before everything above */
	long refresh_margin_s;    /* 0: CREDS_REFRESH_MARGIN_S */
	const char *ecs_endpoint; /* base for the relative URI (no '/') */
	long process_timeout_ms;  /* 0: 60 s */
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

/* Why s is not what STS accepts, or NULL (the reason never quotes s): an
 * IAM role ARN, arn:<partition>:iam::<12 digits>:role/<path and name>
 * (printable, no spaces, at most 2048 bytes); an external ID, 2-1224
 * characters of letters, digits and _+=,.@:/-; a role session name, 2-64
 * of letters, digits and _+=,.@-. creds_new() refuses bad options with
 * -EINVAL, so cfg.c checks them with these first. */
const char *creds_role_arn_why(const char *s);
const char *creds_external_id_why(const char *s);
const char *creds_session_name_why(const char *s);

#endif
