/*
 * creds_int.h: the inside of struct creds, shared by creds.c (the
 * machinery, the environment, profiles, credential_process, container and
 * IMDS) and creds_sts.c (the STS providers: web identity and assume
 * role). Private to creds: no other module includes it.
 *
 * A provider (struct creds_provider) is a name and up to three
 * operations; creds.c holds the table, one entry per enum creds_src, and
 * is the only one to switch on it. Each operation returns CREDS_GOT (with
 * *nc filled), CREDS_ASYNC (a request or process is running; its end calls
 * creds_after), CREDS_SKIP (not configured: next provider), or fails with
 * a negative errno and a diag.
 */
#ifndef SMTRAIL_CREDS_INT_H
#define SMTRAIL_CREDS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "creds.h"
#include "diag.h"

struct buf;
struct creds_proc;
struct event;
struct http_req;
struct http_response;
struct profile;

/* Ceilings on what we hold: AWS's are far shorter (ids are 20 characters,
 * secrets 40, session tokens about 1 KB), and sigv4.h refuses longer. */
#define CREDS_MAX_KEY_ID 128
#define CREDS_MAX_SECRET 128
#define CREDS_MAX_TOKEN (8u << 10)
/* A web identity (a JWT) or container token file: a few KB in practice. */
#define CREDS_MAX_TOKEN_FILE (64u << 10)
/* Any answer from STS, a container endpoint or IMDS. */
#define CREDS_MAX_BODY (64u << 10)
/* The IMDSv2 session token (about 56 bytes) and an instance role name. */
#define CREDS_MAX_IMDS_TOKEN 1024
#define CREDS_MAX_ROLE 128
#define CREDS_MAX_ARN 2048

/* IMDS is a link-local hop: a machine that is not on EC2 must fail fast
 * (the SDKs' 1 s), a container endpoint is local too, STS is remote. */
#define CREDS_IMDS_TIMEOUT_MS 1000L
#define CREDS_CONTAINER_TIMEOUT_MS 2000L
#define CREDS_STS_TIMEOUT_MS 10000L
#define CREDS_IMDS_TOKEN_TTL_S 21600
#define CREDS_RETRY_BASE_MS 1000u
#define CREDS_RETRY_CAP_MS 60000u
#define CREDS_RETRY_MIN_MS 100

#define CREDS_IMDS_ENDPOINT "http://169.254.169.254"
#define CREDS_IMDS_ENDPOINT_V6 "http://[fd00:ec2::254]"
#define CREDS_ECS_ENDPOINT "http://169.254.170.2"

/* AssumeRole: one hour. Every role allows it (MaxSessionDuration is 1 to
 * 12 hours), role chaining allows no more, and we renew ahead of expiry
 * anyway, so a longer session would only make renewals rarer. */
#define CREDS_ASSUME_DURATION_S 3600
/* A credential_process that has not answered by then is killed. */
#define CREDS_PROC_TIMEOUT_MS 60000L
/* Profiles in a source_profile chain (a loop is caught before this). */
#define CREDS_MAX_CHAIN 16

/* What a provider attempt did, besides failing (< 0). */
#define CREDS_ASYNC 0 /* a request is in flight */
#define CREDS_GOT 1   /* new credentials are ready */
#define CREDS_SKIP 2  /* not configured here: next provider */

/*
 * The providers. A creds object walks the ones in its srcs mask, in this
 * order: the top one has the default chain (environment .. IMDS), or only
 * ASSUME_ROLE when creds_opts.role_arn is set (its source is a child with
 * the default chain). ASSUME_ROLE and PROCESS are otherwise entered from a
 * profile, like WEB_IDENTITY; a refresh re-runs the one that answered.
 */
enum creds_src {
	CREDS_SRC_ASSUME_ROLE,
	CREDS_SRC_ENV,
	CREDS_SRC_PROFILE,
	CREDS_SRC_WEB_IDENTITY,
	CREDS_SRC_PROCESS,
	CREDS_SRC_CONTAINER,
	CREDS_SRC_IMDS,
	CREDS_SRC_COUNT
};

#define CREDS_BIT(s) (1u << (s))
#define CREDS_SRCS_DEFAULT                                                     \
	(CREDS_BIT(CREDS_SRC_ENV) | CREDS_BIT(CREDS_SRC_PROFILE) |             \
	    CREDS_BIT(CREDS_SRC_WEB_IDENTITY) |                                \
	    CREDS_BIT(CREDS_SRC_CONTAINER) | CREDS_BIT(CREDS_SRC_IMDS))

/* The request in flight, if any. */
enum creds_step {
	CREDS_STEP_IDLE,
	CREDS_STEP_STS,
	CREDS_STEP_CONTAINER,
	CREDS_STEP_IMDS_TOKEN,
	CREDS_STEP_IMDS_ROLE,
	CREDS_STEP_IMDS_CREDS,
	CREDS_STEP_SOURCE,  /* assume role: waiting for the source creds */
	CREDS_STEP_ASSUME,  /* assume role: STS AssumeRole in flight */
	CREDS_STEP_PROCESS, /* credential_process running */
	CREDS_STEP_COUNT
};

struct creds_waiter {
	creds_cb *cb;
	void *arg;
	bool ready; /* r and d are set; runs at the next delivery */
	int r;
	struct diag d;
	struct creds_waiter *next;
};

struct creds {
	struct event_base *base;
	struct http *http;
	char *profile; /* options, copied */
	char *sts_endpoint;
	char *region;
	char *ecs_endpoint;
	char *endpoint_url;
	char *role_arn; /* aws.role_arn and its settings */
	char *external_id;
	char *session_name;
	long proc_timeout_ms;
	int64_t margin_ms;
	int64_t skew_ms;
	unsigned srcs;    /* the providers walked (CREDS_BIT) */
	bool source_mode; /* a source_profile: static keys beat role_arn */
	char **visited;   /* the profiles above a source_profile, in order */
	size_t n_visited;

	struct aws_creds cur; /* valid when have */
	bool have;
	enum creds_src cur_src;
	int64_t refresh_at_ms; /* wall clock */
	unsigned fails;        /* refreshes failed in a row */

	bool busy;       /* a resolution or refresh is running */
	bool refreshing; /* re-running cur_src only */
	enum creds_src src;
	enum creds_step step;
	struct http_req *req;
	char notes[200]; /* providers skipped, for the -ENOKEY diag */
	char *profile_region;

	/* Web identity, kept for refreshes. */
	char *wi_role;
	char *wi_token_file;
	char *wi_session;
	char *wi_url;

	/* Assume role, kept for refreshes. */
	char *ar_role;
	char *ar_external_id;
	char *ar_session;
	char *ar_url;          /* computed once the source has answered */
	char *ar_region;       /* signing region */
	char ar_what[224];     /* "profile 'x': assume-role <arn>" */
	char ar_src_what[224]; /* prefixes the source's diags; "": none */
	struct creds *ar_src;

	/* credential_process, kept for refreshes. */
	char *proc_cmd;
	char proc_what[96];
	unsigned proc_line;
	char *proc_file;
	struct creds_proc *proc;

	/* IMDS, during one pass. */
	char *imds_base;
	char *imds_token;
	char *imds_role;

	struct creds_waiter *waiters; /* in creds_get order */
	struct event *deliver_ev;
	struct event *refresh_ev;
	bool delivering;
	bool dead; /* freed by a callback; destroyed after delivery */
};

struct creds_provider {
	const char *name; /* aws_creds.provider */
	/* In the walk; NULL: entered only from a profile. */
	int (*try)(struct creds *c, struct aws_creds *nc, struct diag *d);
	/* Again, from what the first time saved; NULL: try. */
	int (*refresh)(struct creds *c, struct aws_creds *nc, struct diag *d);
	/* An HTTP answer to one of its requests; NULL: it sends none. */
	int (*done)(struct creds *c, const struct http_response *resp,
	    struct aws_creds *nc, struct diag *d);
};

/* creds_sts.c */
extern const struct creds_provider creds_web_identity;
extern const struct creds_provider creds_assume_role;
int creds_wi_setup(struct creds *c, const char *origin, const char *role,
    const char *file, const char *session, struct diag *d);
int creds_wi_start(struct creds *c, struct diag *d);
int creds_profile_role(struct creds *c, const struct profile *p,
    const char *what, const char *role, struct diag *d);

/* creds.c */
const char *creds_env(const char *name);
bool creds_valid(const char *s, size_t len, size_t max);
const char *creds_bad_field(const char *id, const char *secret,
    const char *token, const char *const names[3]);
int creds_dup(struct aws_creds *a, const char *id, const char *secret,
    const char *token, time_t expiration);
const char *creds_clean(const char *s, size_t len, char *buf, size_t size);
const char *creds_errtext(int r);
int creds_status_error(long status);
int creds_skip(struct creds *c, int r, struct diag *d, const char *what,
    const char *why);
int creds_read_token(const char *what, const char *path, char **ret,
    struct diag *d);
int creds_form_put(struct buf *b, const char *s);
int creds_request(struct creds *c, enum creds_step step, const char *method,
    const char *url, const char *const *hdrs, size_t n_hdrs,
    const struct buf *body, long timeout_ms);
void creds_set_step(struct creds *c, enum creds_step s);
void creds_after(struct creds *c, int r, struct aws_creds *nc, struct diag *d);
void creds_wipe_str(char **s);
int creds_profile_err(struct diag *d, int r, const struct profile *p,
    const char *key, const char *msg);
int creds_child_new(struct creds *c, unsigned srcs, const char *profile,
    bool source_mode, struct creds **ret);

#endif
