/*
 * cfg.h: the daemon's configuration file, /etc/smtrail/smtrail.yaml; the
 * format is smtrail.yaml(5).
 *
 * cfg_load() reads and checks the whole file and adds every problem to
 * diags ("file:line:col: message", in file order); if there is any it
 * installs nothing and returns -EINVAL (or -ENOENT, -EACCES... when the
 * file cannot be read, -ENOMEM). The secrets it names (inline, *_file, or
 * credential:NAME from $CREDENTIALS_DIRECTORY) are read during the load, so
 * a loaded cfg holds everything the sinks need; no diagnostic ever holds a
 * secret's value. cfg_default() is the configuration of an empty mapping,
 * for when the default file is absent. A struct cfg is read-only once
 * loaded and lives until cfg_free(). Never prints.
 *
 * cfg_load_opts() loads it as `smtrail check` does (struct cfg_opts):
 * credentials from a given directory or left unread, secret files read on
 * behalf of the service's user, what `run` needs beyond a valid file (a
 * source) as errors, and advice as warnings (errors when strict). A cfg
 * loaded with credentials left unread is for printing only.
 */
#ifndef SMTRAIL_CFG_H
#define SMTRAIL_CFG_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "log.h"
#include "sink_kind.h"

struct buf;
struct diag_list;
struct secret;        /* secret.h */
struct secret_reader; /* secret.h */

#define CFG_DEFAULT_CERT_URL_PATTERN                                           \
	"^https://sns\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/"
/* Where a SubscribeURL may point (notif_subscribe_url_check() also wants
 * Action=ConfirmSubscription, the topic and a token in its query). */
#define CFG_DEFAULT_SUBSCRIBE_URL_PATTERN                                      \
	"^https://sns\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/\\?"
#define CFG_DEFAULT_METRICS_LISTEN "127.0.0.1:9410"
/* The queue's backlog is read this often (smtrail_queue_messages). */
#define CFG_DEFAULT_METRICS_QUEUE_INTERVAL_S 60
/* /healthz is 503 once every destination has failed for this long: longer
 * than a receiver's restart or a short outage, well under the 1 h
 * delivery deadline, so the page comes before alerts are given up. */
#define CFG_DEFAULT_METRICS_DELIVERY_FAILING_S (15 * 60)
/* Alerts awaiting delivery: the spool's ceiling, and where receiving
 * pauses (the sinks are behind; messages wait in the queue meanwhile). */
#define CFG_DEFAULT_SPOOL_MAX_PENDING 100000u
#define CFG_DEFAULT_SPOOL_PAUSE_AT 50000u
/* The stateful rules' windows: how late an event may come, and the
 * state's ceilings (store.h says what happens beyond them). */
#define CFG_DEFAULT_WINDOWS_LATE_S (15 * 60)
#define CFG_DEFAULT_WINDOWS_MAX_KEYS 4000000u
#define CFG_DEFAULT_WINDOWS_MAX_BYTES (256ull << 20)

/*
 * A destination: a sink kind (sink_kind.h, its `type:`) and the kind's
 * options, read as the kind says (secrets from inline text, a file or a
 * credential) and held by the kind's option index, its defaults applied.
 * The common settings follow; a local kind (stdout) takes none of them
 * but the deadline.
 */
struct cfg_dest {
	char *name;
	const struct sink_kind *kind;
	unsigned line; /* where it is defined */
	/* Each option's value, NULL when absent; held as secrets (wiped
	 * when freed) whether the kind says secret or not. */
	struct secret *opts[SINK_MAX_OPTS];
	long timeout_ms;      /* per request; default http.timeout; local 0 */
	uint64_t deadline_us; /* retries end; default 1 h */
	unsigned rate_count;  /* at most this many per rate_period_us; */
	uint64_t rate_period_us; /* 0: no limit; default the kind's */
	/* Bit i: opts[i] is a credential:NAME left unread (cfg_opts), NULL. */
	unsigned unread;
};

/* A route sends alerts of some severities to some destinations. */
struct cfg_route {
	unsigned severities; /* bit 1u << enum rules_severity, per match */
	char **destinations; /* defined ones, at least one */
	size_t n_destinations;
	bool cont; /* "continue": later routes are tried too */
	unsigned line;
};

struct cfg_aws {
	char *region;       /* NULL: environment, then profile */
	char *profile;      /* NULL: AWS_PROFILE, then "default" */
	char *endpoint_url; /* NULL: environment, then AWS */
	char *role_arn;     /* NULL: use the chain's credentials as they are */
	char *external_id;  /* NULL: none; only with role_arn */
	char *role_session_name; /* NULL: creds.h's default */
};

struct cfg_sqs {
	char *queue_url; /* NULL: none (run and check refuse; replay not) */
	unsigned wait_time_s;          /* 0-20, default 20 */
	unsigned visibility_timeout_s; /* 0 (the queue's)-43200, default 300 */
	unsigned max_messages;         /* 1-10, default 10 */
	unsigned max_receive_count;    /* 0 (off)-1000, default 0 */
};

/* lookup: CloudTrail LookupEvents polling (lookup.h), per region. */
struct cfg_lookup {
	char **regions; /* none: no lookup source */
	size_t n_regions;
	unsigned interval_s; /* between polls of a region, default 1m */
	uint64_t since_s;    /* first start: this far back, default 24h */
	uint64_t overlap_s;  /* polls start this before the checkpoint
				(events show up late), default 15m */
};

struct cfg_s3 {
	char **allowed_buckets; /* none by default: any bucket */
	size_t n_allowed_buckets;
	uint64_t max_object_size; /* bytes, default 512 MiB */
};

struct cfg_sns {
	bool verify_signatures; /* default true */
	char *cert_url_pattern; /* default CFG_DEFAULT_CERT_URL_PATTERN */
	regex_t cert_url_re;    /* it, REG_EXTENDED | REG_NOSUB */
	char **topic_arns;      /* SNS envelopes from other topics are
				   refused; none: any topic */
	size_t n_topic_arns;
	/* GET a SubscriptionConfirmation's SubscribeURL (after its signature
	 * check) when its topic is in topic_arns; default false: logged. */
	bool confirm_subscriptions;
	char *subscribe_url_pattern; /* CFG_DEFAULT_SUBSCRIBE_URL_PATTERN */
	regex_t subscribe_url_re;    /* it, REG_EXTENDED | REG_NOSUB */
	bool cert_url_re_ok;         /* private: for cfg_free() */
	bool subscribe_url_re_ok;    /* private: for cfg_free() */
};

struct cfg_http {
	char *ca_file; /* NULL: the system's */
	char *ca_path;
	long timeout_ms; /* default 30 s */
};

struct cfg_spool {
	unsigned max_pending; /* alerts awaiting delivery, at most */
	unsigned pause_at;    /* receiving pauses at this many; < max */
};

struct cfg_windows {
	uint64_t late_s;    /* tolerance for events that arrive late */
	uint64_t max_keys;  /* keys the state may hold */
	uint64_t max_bytes; /* bytes of values it may hold */
};

/* An AWS account's alias (accounts:), shown beside its ID. */
struct cfg_account {
	char *id; /* 12 digits */
	char *alias;
};

struct cfg_metrics {
	char *listen; /* as written; NULL: off */
	char *host;   /* IPv6 without brackets; NULL: off */
	unsigned port;
	unsigned queue_interval_s;   /* GetQueueAttributes; 0: never */
	unsigned delivery_failing_s; /* /healthz bound, deliveries failing */
};

struct cfg {
	char *file; /* what was loaded, NULL for cfg_default() */
	struct cfg_aws aws;
	struct cfg_sqs sqs;
	struct cfg_lookup lookup;
	struct cfg_s3 s3;
	struct cfg_sns sns;
	struct cfg_http http;
	char *rules;     /* default SMTRAIL_DEFAULT_RULES */
	char *state_dir; /* default SMTRAIL_STATEDIR */
	enum log_level log_level;
	struct cfg_metrics metrics;
	struct cfg_spool spool;
	struct cfg_windows windows;
	struct cfg_account *accounts; /* in file order */
	size_t n_accounts;
	char **default_destinations; /* defined ones; default none */
	size_t n_default_destinations;
	struct cfg_route *routes; /* in file order; first match wins */
	size_t n_routes;
	struct cfg_dest *destinations; /* in file order */
	size_t n_destinations;
};

/* The alias of an account ID, or NULL. */
const char *cfg_account_alias(const struct cfg *cfg, const char *id);

int cfg_load(const char *path, struct cfg **ret,
    struct diag_list *diags) MUST_CHECK;
/* Same, from memory; name is used in diagnostics. */
int cfg_load_buffer(const char *name, const char *text, size_t len,
    struct cfg **ret, struct diag_list *diags) MUST_CHECK;

/* How smtrail check loads the file; all zero: as cfg_load(). */
struct cfg_opts {
	/* Where credential:NAME is read; NULL: $CREDENTIALS_DIRECTORY. */
	const char *credentials_dir;
	/* When neither names a directory: each credential is left unread,
	 * with the warning "not checked (systemd credential)" (a warning
	 * under strict too: it is about check, not the file), not an error. */
	bool credentials_unread;
	/* Who reads the *_file secrets (secret_read_file_as(); uid
	 * SECRET_ANY_UID: not known); NULL: this process. Credentials are
	 * read as this process: systemd reads them for the service. */
	const struct secret_reader *reader;
	/* Warn about a secret file no user but root may read (for check run
	 * as root without --as-user: the service does not run as root). */
	bool warn_root_only;
	/* What run needs beyond a valid file (an error each): a source
	 * (sqs.queue_url, lookup, or both). */
	bool run;
	/* Advice (a warning each): http:// to a network destination (but to
	 * a loopback host), the kinds' advise hooks, s3.allowed_buckets and
	 * sns.topic_arns unset. */
	bool advise;
	/* Every warning (but the credentials' above) is an error. */
	bool strict;
};

int cfg_load_opts(const char *path, const struct cfg_opts *o, struct cfg **ret,
    struct diag_list *diags) MUST_CHECK;
int cfg_load_buffer_opts(const char *name, const char *text, size_t len,
    const struct cfg_opts *o, struct cfg **ret,
    struct diag_list *diags) MUST_CHECK;

/*
 * For a configuration file that is absent (defaults apply): what run
 * would say of it, as cfg_opts.run does for a loaded one, an error each
 * at file into diags. -EINVAL if any.
 */
int cfg_check_run(const struct cfg *cfg, const char *file,
    struct diag_list *diags) MUST_CHECK;
/* Every default (as for "{}"); -ENOMEM only. */
int cfg_default(struct cfg **ret) MUST_CHECK;
void cfg_free(struct cfg *cfg); /* NULL ok; wipes the secrets */

/* The destination called name, or NULL. Borrowed from cfg. */
const struct cfg_dest *cfg_dest_find(const struct cfg *cfg, const char *name);
/* The value of d's option key (a secret's too), or NULL when d's kind has
 * no such option or it is absent. Borrowed from d. */
const char *cfg_dest_opt(const struct cfg_dest *d, const char *key);

/*
 * Every destination a rule names must be defined here: one error per
 * unknown name (at the rule's line in its file) into diags. -EINVAL if any.
 */
struct rules;
int cfg_check_rules(const struct cfg *cfg, const struct rules *rs,
    const char *rules_file, struct diag_list *diags) MUST_CHECK;

/*
 * Every enabled rule must have somewhere to go (its own destinations, a
 * route for its severity, or default_destinations), or its alerts would be
 * dropped: one error per such rule (at its line) into diags. -EINVAL if
 * any. For `run` and `check`; `replay` prints what it finds.
 */
int cfg_check_routes(const struct cfg *cfg, const struct rules *rs,
    const char *rules_file, struct diag_list *diags) MUST_CHECK;

/*
 * Where an alert of rule r goes: the rule's own destinations, else the
 * routes matching its severity (first match, or more with "continue"),
 * else default_destinations (also for r NULL: a rule a reload removed).
 * Fills out (borrowed names) up to max; returns how many.
 */
struct rule;
size_t cfg_destinations(const struct cfg *cfg, const struct rule *r,
    const char **out, size_t max);

/*
 * For "smtrail check": one "key: value" line per setting and destination,
 * appended to out. Secrets show as "(secret)", URLs as scheme://host/...
 */
int cfg_summary(const struct cfg *cfg, struct buf *out) MUST_CHECK;

#endif
