/*
 * cfg.c: see cfg.h; the format is smtrail.yaml(5).
 *
 * The file goes through yamlx (the same tree, ceilings and messages as the
 * rules file). Each mapping's keys are collected first (duplicates and
 * unknown keys reported there), then the sections are checked: http before
 * the destinations (their default timeout), the destinations before
 * default_destinations and route (which must name them). Messages are put
 * back in file order at the end. Secrets are read as they are met and are
 * never quoted: a message names the key, the destination and the file.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "aws/aws.h"
#include "aws/creds.h"
#include "aws/s3.h"
#include "buf.h"
#include "cfg.h"
#include "clock.h"
#include "diag.h"
#include "http.h"
#include "bounds.h"
#include "log.h"
#include "rules.h"
#include "rx.h"
#include "secret.h"
#include "sink_kind.h"
#include "yamlx.h"

/* From the build (Makefile.am, config.h); these for a bare compile. */
#ifndef SMTRAIL_DEFAULT_RULES
#define SMTRAIL_DEFAULT_RULES "/etc/smtrail/rules.yaml"
#endif
#ifndef SMTRAIL_STATEDIR
#define SMTRAIL_STATEDIR "/var/lib/smtrail"
#endif

/*
 * Destination names end up in logs, metrics labels and the spool, like
 * rule ids. The certificate pattern is the operator's, but still bounded
 * like a rule's regex (rx.h). A credential name is a file name.
 */
#define CFG_MAX_NAME 128
#define CFG_MAX_CREDENTIAL 255
#define CFG_MAX_RATE 1000000u
#define CFG_DEFAULT_DEADLINE_US (3600 * US_PER_S)

#define CFG_SEV_ALL ((1u << RULES_SEV_COUNT) - 1)

enum cfg_key {
	CFG_KEY_AWS,
	CFG_KEY_SQS,
	CFG_KEY_LOOKUP,
	CFG_KEY_S3,
	CFG_KEY_SNS,
	CFG_KEY_HTTP,
	CFG_KEY_RULES,
	CFG_KEY_STATE_DIR,
	CFG_KEY_LOG_LEVEL,
	CFG_KEY_METRICS,
	CFG_KEY_SPOOL,
	CFG_KEY_WINDOWS,
	CFG_KEY_ACCOUNTS,
	CFG_KEY_DEFAULT_DESTINATIONS,
	CFG_KEY_ROUTE,
	CFG_KEY_DESTINATIONS,
	CFG_KEY_COUNT
};

static const char *const cfg_key_names[CFG_KEY_COUNT] = {
    [CFG_KEY_AWS] = "aws",
    [CFG_KEY_SQS] = "sqs",
    [CFG_KEY_LOOKUP] = "lookup",
    [CFG_KEY_S3] = "s3",
    [CFG_KEY_SNS] = "sns",
    [CFG_KEY_HTTP] = "http",
    [CFG_KEY_RULES] = "rules",
    [CFG_KEY_STATE_DIR] = "state_dir",
    [CFG_KEY_LOG_LEVEL] = "log_level",
    [CFG_KEY_METRICS] = "metrics",
    [CFG_KEY_SPOOL] = "spool",
    [CFG_KEY_WINDOWS] = "windows",
    [CFG_KEY_ACCOUNTS] = "accounts",
    [CFG_KEY_DEFAULT_DESTINATIONS] = "default_destinations",
    [CFG_KEY_ROUTE] = "route",
    [CFG_KEY_DESTINATIONS] = "destinations",
};

enum cfg_aws_key {
	CFG_AWS_REGION,
	CFG_AWS_PROFILE,
	CFG_AWS_ENDPOINT_URL,
	CFG_AWS_ROLE_ARN,
	CFG_AWS_EXTERNAL_ID,
	CFG_AWS_ROLE_SESSION_NAME
};
static const char *const cfg_aws_names[] = {"region", "profile", "endpoint_url",
    "role_arn", "external_id", "role_session_name"};

enum cfg_sqs_key {
	CFG_SQS_QUEUE_URL,
	CFG_SQS_WAIT_TIME,
	CFG_SQS_VISIBILITY_TIMEOUT,
	CFG_SQS_MAX_MESSAGES,
	CFG_SQS_MAX_RECEIVE_COUNT
};
static const char *const cfg_sqs_names[] = {"queue_url", "wait_time",
    "visibility_timeout", "max_messages", "max_receive_count"};

enum cfg_lookup_key {
	CFG_LOOKUP_REGIONS,
	CFG_LOOKUP_INTERVAL,
	CFG_LOOKUP_SINCE,
	CFG_LOOKUP_OVERLAP
};
static const char *const cfg_lookup_names[] = {"regions", "interval", "since",
    "overlap"};

enum cfg_s3_key { CFG_S3_ALLOWED_BUCKETS, CFG_S3_MAX_OBJECT_SIZE };
static const char *const cfg_s3_names[] = {"allowed_buckets",
    "max_object_size"};

enum cfg_sns_key {
	CFG_SNS_VERIFY_SIGNATURES,
	CFG_SNS_CERT_URL_PATTERN,
	CFG_SNS_TOPIC_ARNS,
	CFG_SNS_CONFIRM_SUBSCRIPTIONS,
	CFG_SNS_SUBSCRIBE_URL_PATTERN
};
static const char *const cfg_sns_names[] = {"verify_signatures",
    "cert_url_pattern", "topic_arns", "confirm_subscriptions",
    "subscribe_url_pattern"};

enum cfg_http_key { CFG_HTTP_CA_FILE, CFG_HTTP_CA_PATH, CFG_HTTP_TIMEOUT };
static const char *const cfg_http_names[] = {"ca_file", "ca_path", "timeout"};

enum cfg_metrics_key {
	CFG_METRICS_LISTEN,
	CFG_METRICS_QUEUE_INTERVAL,
	CFG_METRICS_DELIVERY_FAILING_AFTER
};
static const char *const cfg_metrics_names[] = {"listen", "queue_interval",
    "delivery_failing_after"};

enum cfg_spool_key { CFG_SPOOL_MAX_PENDING, CFG_SPOOL_PAUSE_AT };
static const char *const cfg_spool_names[] = {"max_pending", "pause_at"};

enum cfg_windows_key {
	CFG_WINDOWS_LATE,
	CFG_WINDOWS_MAX_KEYS,
	CFG_WINDOWS_MAX_BYTES
};
static const char *const cfg_windows_names[] = {"late", "max_keys",
    "max_bytes"};

enum cfg_route_key {
	CFG_ROUTE_SEVERITY,
	CFG_ROUTE_MIN_SEVERITY,
	CFG_ROUTE_DESTINATIONS,
	CFG_ROUTE_CONTINUE
};
static const char *const cfg_route_names[] = {"severity", "min_severity",
    "destinations", "continue"};

/*
 * The keys every destination may have beside its kind's (sink_kind.h):
 * type, then for a network kind timeout, deadline and rate.
 */
enum cfg_dkey {
	CFG_DKEY_TYPE,
	CFG_DKEY_TIMEOUT,
	CFG_DKEY_DEADLINE,
	CFG_DKEY_RATE,
	CFG_DKEY_COUNT
};
static const char *const cfg_dkey_names[] = {"type", "timeout", "deadline",
    "rate"};

/* A destination key's longest name ("routing_key_file"), with room. */
#define CFG_MAX_DKEY 48
#define CFG_MAX_DKEYS (2 * SINK_MAX_OPTS + CFG_DKEY_COUNT)

/* A destination's values, by key: the common ones, and per option of its
 * kind the inline value and the _file form's. */
struct cfg_dvals {
	const struct yamlx_node *common[CFG_DKEY_COUNT];
	const struct yamlx_node *inl[SINK_MAX_OPTS];
	const struct yamlx_node *file[SINK_MAX_OPTS];
};

/*
 * The keys a destination of one kind takes, in the order messages suggest
 * them: type, the kind's own (a secret's _file form after it), then
 * timeout, deadline and rate for a network kind; each with where its value
 * goes.
 */
struct cfg_dkeys {
	const char *names[CFG_MAX_DKEYS];
	const struct yamlx_node **slot[CFG_MAX_DKEYS];
	char file_names[SINK_MAX_OPTS][CFG_MAX_DKEY];
	size_t n;
};

struct cfg_ctx {
	struct yamlx y;
	struct cfg *cfg;
	const struct cfg_opts *o; /* never NULL */
	const char **dnames;      /* the destinations' names, NULL-terminated */
};

/* ---- freeing and defaults --------------------------------------------- */

static void
cfg_strv_free(char **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
cfg_dest_done(struct cfg_dest *d)
{
	size_t i;

	free(d->name);
	for (i = 0; i < SINK_MAX_OPTS; i++)
		secret_free(d->opts[i]);
	memset(d, 0, sizeof(*d));
}

void
cfg_free(struct cfg *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	free(cfg->file);
	free(cfg->aws.region);
	free(cfg->aws.profile);
	free(cfg->aws.endpoint_url);
	free(cfg->aws.role_arn);
	free(cfg->aws.external_id);
	free(cfg->aws.role_session_name);
	free(cfg->sqs.queue_url);
	cfg_strv_free(cfg->lookup.regions, cfg->lookup.n_regions);
	cfg_strv_free(cfg->s3.allowed_buckets, cfg->s3.n_allowed_buckets);
	cfg_strv_free(cfg->sns.topic_arns, cfg->sns.n_topic_arns);
	free(cfg->sns.cert_url_pattern);
	if (cfg->sns.cert_url_re_ok)
		regfree(&cfg->sns.cert_url_re);
	free(cfg->sns.subscribe_url_pattern);
	if (cfg->sns.subscribe_url_re_ok)
		regfree(&cfg->sns.subscribe_url_re);
	free(cfg->http.ca_file);
	free(cfg->http.ca_path);
	free(cfg->rules);
	free(cfg->state_dir);
	free(cfg->metrics.listen);
	free(cfg->metrics.host);
	cfg_strv_free(cfg->default_destinations, cfg->n_default_destinations);
	for (i = 0; i < cfg->n_routes; i++)
		cfg_strv_free(cfg->routes[i].destinations,
		    cfg->routes[i].n_destinations);
	free(cfg->routes);
	for (i = 0; i < cfg->n_destinations; i++)
		cfg_dest_done(&cfg->destinations[i]);
	free(cfg->destinations);
	for (i = 0; i < cfg->n_accounts; i++) {
		free(cfg->accounts[i].id);
		free(cfg->accounts[i].alias);
	}
	free(cfg->accounts);
	free(cfg);
}

/*
 * host:port or [v6]:port; host an IPv4 address or localhost (127.0.0.1:
 * other names are not resolved, which could block).
 */
static bool
cfg_listen_parse(const char *s, char **ret_host, unsigned *ret_port)
{
	struct in6_addr a6;
	const char *colon;
	const char *host = s;
	size_t hlen;
	char tmp[INET6_ADDRSTRLEN + 1];
	unsigned long port = 0;
	size_t i;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (end == NULL || end[1] != ':')
			return false;
		host = s + 1;
		hlen = (size_t)(end - host);
		if (hlen == 0 || hlen >= sizeof(tmp))
			return false;
		memcpy(tmp, host, hlen);
		tmp[hlen] = '\0';
		if (inet_pton(AF_INET6, tmp, &a6) != 1)
			return false;
		colon = end + 1;
	} else {
		colon = strchr(s, ':');
		if (colon == NULL || strchr(colon + 1, ':') != NULL)
			return false;
		hlen = (size_t)(colon - s);
		if (hlen == 0 || hlen >= sizeof(tmp))
			return false;
		/* An address, not a name: resolving one would block. */
		memcpy(tmp, s, hlen);
		tmp[hlen] = '\0';
		if (strcmp(tmp, "localhost") == 0) {
			host = "127.0.0.1";
			hlen = strlen(host);
		} else if (inet_pton(AF_INET, tmp, &a6) != 1) {
			return false;
		}
	}
	if (colon[1] == '\0' || strlen(colon + 1) > 5)
		return false;
	for (i = 1; colon[i] != '\0'; i++) {
		if (colon[i] < '0' || colon[i] > '9')
			return false;
		port = port * 10 + (unsigned long)(colon[i] - '0');
	}
	if (port > 65535) /* 0: any free port (tests) */
		return false;
	*ret_host = strndup(host, hlen);
	*ret_port = (unsigned)port;
	return true;
}

static int
cfg_new(struct cfg **ret)
{
	struct cfg *cfg = calloc(1, sizeof(*cfg));

	if (cfg == NULL)
		return -ENOMEM;
	cfg->sqs.wait_time_s = 20;
	cfg->sqs.visibility_timeout_s = 300;
	cfg->sqs.max_messages = 10;
	cfg->sqs.max_receive_count = 0;
	cfg->lookup.interval_s = 60;
	cfg->lookup.since_s = 86400;
	cfg->lookup.overlap_s = 900;
	cfg->s3.max_object_size = 512ull << 20;
	cfg->spool.max_pending = CFG_DEFAULT_SPOOL_MAX_PENDING;
	cfg->spool.pause_at = CFG_DEFAULT_SPOOL_PAUSE_AT;
	cfg->windows.late_s = CFG_DEFAULT_WINDOWS_LATE_S;
	cfg->windows.max_keys = CFG_DEFAULT_WINDOWS_MAX_KEYS;
	cfg->windows.max_bytes = CFG_DEFAULT_WINDOWS_MAX_BYTES;
	cfg->sns.verify_signatures = true;
	cfg->http.timeout_ms = 30000;
	cfg->log_level = LOG_LEVEL_NOTICE;
	cfg->sns.cert_url_pattern = strdup(CFG_DEFAULT_CERT_URL_PATTERN);
	cfg->sns.subscribe_url_pattern =
	    strdup(CFG_DEFAULT_SUBSCRIBE_URL_PATTERN);
	cfg->rules = strdup(SMTRAIL_DEFAULT_RULES);
	cfg->state_dir = strdup(SMTRAIL_STATEDIR);
	cfg->metrics.listen = strdup(CFG_DEFAULT_METRICS_LISTEN);
	cfg->metrics.queue_interval_s = CFG_DEFAULT_METRICS_QUEUE_INTERVAL_S;
	cfg->metrics.delivery_failing_s =
	    CFG_DEFAULT_METRICS_DELIVERY_FAILING_S;
	if (!cfg_listen_parse(CFG_DEFAULT_METRICS_LISTEN, &cfg->metrics.host,
		&cfg->metrics.port))
		cfg->metrics.host = NULL; /* cannot happen */
	if (cfg->sns.cert_url_pattern == NULL ||
	    cfg->sns.subscribe_url_pattern == NULL || cfg->rules == NULL ||
	    cfg->state_dir == NULL || cfg->metrics.listen == NULL ||
	    cfg->metrics.host == NULL) {
		cfg_free(cfg);
		return -ENOMEM;
	}
	*ret = cfg;
	return 0;
}

/* Compiles the SNS URL patterns in place (the defaults are known good). */
static int
cfg_compile_cert_re(struct cfg *cfg)
{
	int r;

	r = regcomp(&cfg->sns.cert_url_re, cfg->sns.cert_url_pattern,
	    REG_EXTENDED | REG_NOSUB);
	if (r != 0)
		return r == REG_ESPACE ? -ENOMEM : -EINVAL;
	cfg->sns.cert_url_re_ok = true;
	r = regcomp(&cfg->sns.subscribe_url_re, cfg->sns.subscribe_url_pattern,
	    REG_EXTENDED | REG_NOSUB);
	if (r != 0)
		return r == REG_ESPACE ? -ENOMEM : -EINVAL;
	cfg->sns.subscribe_url_re_ok = true;
	return 0;
}

int
cfg_default(struct cfg **ret)
{
	struct cfg *cfg;
	int r;

	r = cfg_new(&cfg);
	if (r < 0)
		return r;
	r = cfg_compile_cert_re(cfg);
	if (r < 0) {
		cfg_free(cfg);
		return r;
	}
	*ret = cfg;
	return 0;
}

/* ---- formatting -------------------------------------------------------- */

/* "20s", "5m", "1h", "7d": the largest unit that divides us evenly. */
static const char *
cfg_fmt_duration(uint64_t us, char *buf, size_t size)
{
	uint64_t s = us / US_PER_S;

	if (s != 0 && s % 86400 == 0)
		(void)snprintf(buf, size, "%llud",
		    (unsigned long long)s / 86400);
	else if (s != 0 && s % 3600 == 0)
		(void)snprintf(buf, size, "%lluh",
		    (unsigned long long)s / 3600);
	else if (s != 0 && s % 60 == 0)
		(void)snprintf(buf, size, "%llum", (unsigned long long)s / 60);
	else
		(void)snprintf(buf, size, "%llus", (unsigned long long)s);
	return buf;
}

/* "512MiB", "1000": the largest binary unit that divides v evenly. */
static const char *
cfg_fmt_size(uint64_t v, char *buf, size_t size)
{
	if (v != 0 && v % (1ull << 30) == 0)
		(void)snprintf(buf, size, "%lluGiB",
		    (unsigned long long)(v >> 30));
	else if (v != 0 && v % (1ull << 20) == 0)
		(void)snprintf(buf, size, "%lluMiB",
		    (unsigned long long)(v >> 20));
	else if (v != 0 && v % (1ull << 10) == 0)
		(void)snprintf(buf, size, "%lluKiB",
		    (unsigned long long)(v >> 10));
	else
		(void)snprintf(buf, size, "%llu", (unsigned long long)v);
	return buf;
}

/* ---- scalars ----------------------------------------------------------- */

/* A section: a mapping, or null (every key commented out). */
static bool
cfg_section(struct cfg_ctx *c, const struct yamlx_node *n, const char *what,
    const char *const *names, size_t count, const struct yamlx_node **vals)
{
	memset(vals, 0, count * sizeof(*vals));
	if (yamlx_is_null(n))
		return true;
	if (!yamlx_map(&c->y, n, what))
		return false;
	yamlx_keys(&c->y, n, what, names, count, vals);
	return true;
}

/* A non-empty string without NULs, replacing *dst. */
static bool
cfg_string(struct cfg_ctx *c, const struct yamlx_node *n, const char *what,
    char **dst)
{
	const char *s = yamlx_str(&c->y, n, what);
	char *p;

	if (s == NULL)
		return false;
	if (n->len == 0) {
		yamlx_err(&c->y, n, "empty value for '%s'", what);
		return false;
	}
	if (strlen(s) != n->len) {
		yamlx_err(&c->y, n, "NUL byte in '%s'", what);
		return false;
	}
	p = yamlx_strdup(&c->y, s, n->len);
	if (p == NULL)
		return false;
	free(*dst);
	*dst = p;
	return true;
}

/* A whole number in [min, max], quoted or not. */
static bool
cfg_uint(struct cfg_ctx *c, const struct yamlx_node *n, const char *what,
    unsigned min, unsigned max, unsigned *ret)
{
	char q[YAMLX_Q_SIZE];
	unsigned long long v = 0;
	size_t i = 0;

	if (n->type == YAMLX_NODE_BAD)
		return false;
	if (n->type == YAMLX_NODE_SCALAR && n->len > 0 && n->s[0] == '-')
		i = 1;
	if (n->type != YAMLX_NODE_SCALAR || i == n->len) {
		yamlx_err(&c->y, n, "expected a whole number for '%s'", what);
		return false;
	}
	for (; i < n->len; i++) {
		if (n->s[i] < '0' || n->s[i] > '9') {
			yamlx_err(&c->y, n, "expected a whole number for '%s'",
			    what);
			return false;
		}
		if (v <= UINT32_MAX)
			v = v * 10 + (unsigned long long)(n->s[i] - '0');
	}
	if (n->s[0] == '-' || v < min || v > max) {
		yamlx_err(&c->y, n,
		    "bad value '%s' for '%s' (expected %u to %u)",
		    YAMLX_QN(q, n), what, min, max);
		return false;
	}
	*ret = (unsigned)v;
	return true;
}

/* A duration in [min_s, max_s] seconds, in microseconds. */
static bool
cfg_duration(struct cfg_ctx *c, const struct yamlx_node *n, const char *what,
    uint64_t min_s, uint64_t max_s, uint64_t *ret_us)
{
	char q[YAMLX_Q_SIZE];
	char lo[32];
	char hi[32];
	uint64_t us;

	if (!yamlx_duration(&c->y, n, what, &us))
		return false;
	if (us < min_s * US_PER_S || us > max_s * US_PER_S) {
		yamlx_err(&c->y, n,
		    "bad value '%s' for '%s' (expected %s to %s)",
		    YAMLX_QN(q, n), what,
		    cfg_fmt_duration(min_s * US_PER_S, lo, sizeof(lo)),
		    cfg_fmt_duration(max_s * US_PER_S, hi, sizeof(hi)));
		return false;
	}
	*ret_us = us;
	return true;
}

/*
 * A size: bytes, or a number followed by KiB, MiB, GiB (powers of 1024) or
 * KB, MB, GB (of 1000); in [min, max].
 */
static bool
cfg_size(struct cfg_ctx *c, const struct yamlx_node *n, const char *what,
    uint64_t min, uint64_t max, uint64_t *ret)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} units[] = {{"", 1}, {"KiB", 1ull << 10}, {"MiB", 1ull << 20},
	    {"GiB", 1ull << 30}, {"KB", 1000}, {"MB", 1000000},
	    {"GB", 1000000000}};
	char q[YAMLX_Q_SIZE];
	char lo[32];
	char hi[32];
	uint64_t v = 0;
	size_t i;
	size_t u;
	bool big = false;

	if (n->type == YAMLX_NODE_BAD)
		return false;
	if (n->type != YAMLX_NODE_SCALAR || yamlx_is_null(n)) {
		yamlx_err(&c->y, n,
		    "expected a size for '%s' (bytes, or a number followed by KiB, MiB, GiB, KB, MB or GB)",
		    what);
		return false;
	}
	for (i = 0; i < n->len && n->s[i] >= '0' && n->s[i] <= '9'; i++) {
		if (v > UINT64_MAX / 10 - 9)
			big = true;
		else
			v = v * 10 + (uint64_t)(n->s[i] - '0');
	}
	for (u = 0; u < ARRAY_SIZE(units); u++)
		if (strcmp(n->s + i, units[u].suffix) == 0)
			break;
	if (i == 0 || u == ARRAY_SIZE(units) || strlen(n->s) != n->len) {
		yamlx_err(&c->y, n,
		    "bad size '%s' for '%s' (expected bytes, or a number followed by KiB, MiB, GiB, KB, MB or GB)",
		    YAMLX_QN(q, n), what);
		return false;
	}
	if (big || v > max / units[u].mult || v * units[u].mult < min) {
		yamlx_err(&c->y, n,
		    "bad value '%s' for '%s' (expected %s to %s)",
		    YAMLX_QN(q, n), what, cfg_fmt_size(min, lo, sizeof(lo)),
		    cfg_fmt_size(max, hi, sizeof(hi)));
		return false;
	}
	*ret = v * units[u].mult;
	return true;
}

/*
 * Why s (len bytes) is not an http:// or https:// URL with a host, or NULL.
 * The reason never quotes s.
 */
static const char *
cfg_url_why(const char *s, size_t len)
{
	size_t i;
	size_t skip;

	if (strlen(s) != len)
		return "holds a NUL byte";
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return "holds a space or control character";
	if (strncasecmp(s, "https://", 8) == 0)
		skip = 8;
	else if (strncasecmp(s, "http://", 7) == 0)
		skip = 7;
	else
		return "expected http:// or https://";
	if (strcspn(s + skip, "/?#") == 0)
		return "no host";
	return NULL;
}

/* A URL setting that is not a secret: quoted in messages. */
static bool
cfg_url(struct cfg_ctx *c, const struct yamlx_node *n, const char *what,
    char **dst)
{
	const char *why;
	char q[YAMLX_Q_SIZE];

	if (!cfg_string(c, n, what, dst))
		return false;
	why = cfg_url_why(n->s, n->len);
	if (why != NULL) {
		yamlx_err(&c->y, n, "bad URL '%s' for '%s' (%s)",
		    YAMLX_QN(q, n), what, why);
		return false;
	}
	return true;
}

/* ---- sections ---------------------------------------------------------- */

/* role_arn, external_id, role_session_name: what STS accepts (creds.h
 * has the rules); the last two only with the first. The external ID is
 * not quoted: some treat it as a shared secret. */
static void
cfg_aws_role(struct cfg_ctx *c, const struct yamlx_node *const *v)
{
	struct cfg_aws *a = &c->cfg->aws;
	const struct yamlx_node *n;
	char q[YAMLX_Q_SIZE];
	const char *why;

	n = v[CFG_AWS_ROLE_ARN];
	if (n != NULL && cfg_string(c, n, "role_arn", &a->role_arn)) {
		why = creds_role_arn_why(a->role_arn);
		if (why != NULL)
			yamlx_err(&c->y, n, "bad role_arn '%s' (%s)",
			    YAMLX_QN(q, n), why);
	}
	n = v[CFG_AWS_EXTERNAL_ID];
	if (n != NULL && cfg_string(c, n, "external_id", &a->external_id)) {
		why = creds_external_id_why(a->external_id);
		if (why != NULL)
			yamlx_err(&c->y, n, "bad external_id (%s)", why);
		else if (v[CFG_AWS_ROLE_ARN] == NULL)
			yamlx_err(&c->y, n, "external_id without role_arn");
	}
	n = v[CFG_AWS_ROLE_SESSION_NAME];
	if (n != NULL &&
	    cfg_string(c, n, "role_session_name", &a->role_session_name)) {
		why = creds_session_name_why(a->role_session_name);
		if (why != NULL)
			yamlx_err(&c->y, n, "bad role_session_name '%s' (%s)",
			    YAMLX_QN(q, n), why);
		else if (v[CFG_AWS_ROLE_ARN] == NULL)
			yamlx_err(&c->y, n,
			    "role_session_name without role_arn");
	}
}

static void
cfg_aws(struct cfg_ctx *c, const struct yamlx_node *n)
{
	const struct yamlx_node *v[ARRAY_SIZE(cfg_aws_names)];
	struct cfg_aws *a = &c->cfg->aws;
	char q[YAMLX_Q_SIZE];
	size_t i;

	if (!cfg_section(c, n, "aws", cfg_aws_names, ARRAY_SIZE(v), v))
		return;
	if (v[CFG_AWS_REGION] != NULL &&
	    cfg_string(c, v[CFG_AWS_REGION], "region", &a->region)) {
		for (i = 0; a->region[i] != '\0'; i++)
			if (strchr("abcdefghijklmnopqrstuvwxyz0123456789-",
				a->region[i]) == NULL)
				break;
		if (a->region[i] != '\0' || i > 64)
			yamlx_err(&c->y, v[CFG_AWS_REGION],
			    "bad region '%s' (expected a name such as 'eu-west-1')",
			    YAMLX_QN(q, v[CFG_AWS_REGION]));
	}
	if (v[CFG_AWS_PROFILE] != NULL)
		(void)cfg_string(c, v[CFG_AWS_PROFILE], "profile", &a->profile);
	if (v[CFG_AWS_ENDPOINT_URL] != NULL)
		(void)cfg_url(c, v[CFG_AWS_ENDPOINT_URL], "endpoint_url",
		    &a->endpoint_url);
	cfg_aws_role(c, v);
}

/*
 * A queue's ARN (arn:PARTITION:sqs:REGION:ACCOUNT:NAME) written where its
 * URL belongs: true with the URL in buf.
 */
static bool
cfg_queue_arn_url(const char *s, char *buf, size_t size)
{
	static const char name_chars[] =
	    "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
	const char *f[6];
	size_t len[6];
	const char *domain;
	const char *p = s;
	size_t i;
	size_t n;

	for (i = 0; i < 6; i++) {
		f[i] = p;
		len[i] = i < 5 ? strcspn(p, ":") : strlen(p);
		if (i < 5 && p[len[i]] != ':')
			return false;
		p += len[i] + 1;
	}
	if (len[0] != 3 || strncmp(f[0], "arn", 3) != 0 || len[2] != 3 ||
	    strncmp(f[2], "sqs", 3) != 0)
		return false;
	if (len[1] == 3 && strncmp(f[1], "aws", 3) == 0)
		domain = "amazonaws.com";
	else if (len[1] == 10 && strncmp(f[1], "aws-us-gov", 10) == 0)
		domain = "amazonaws.com";
	else if (len[1] == 6 && strncmp(f[1], "aws-cn", 6) == 0)
		domain = "amazonaws.com.cn";
	else
		return false;
	if (len[3] == 0 || len[3] > 32 ||
	    strspn(f[3], "abcdefghijklmnopqrstuvwxyz0123456789-") != len[3])
		return false;
	if (len[4] != 12 || strspn(f[4], "0123456789") != 12)
		return false;
	n = len[5];
	if (n > 5 && strcmp(f[5] + n - 5, ".fifo") == 0)
		n -= 5;
	if (n == 0 || len[5] > 80 || strspn(f[5], name_chars) != n)
		return false;
	return (size_t)snprintf(buf, size, "https://sqs.%.*s.%s/%.*s/%s",
		   (int)len[3], f[3], domain, (int)len[4], f[4], f[5]) < size;
}

/* queue_url: a URL, or a queue's ARN (taken as its URL, with a warning). */
static void
cfg_queue_url(struct cfg_ctx *c, const struct yamlx_node *n, char **dst)
{
	char url[200];
	char *p;

	if (n->type == YAMLX_NODE_SCALAR && strlen(n->s) == n->len &&
	    cfg_queue_arn_url(n->s, url, sizeof(url))) {
		p = yamlx_strdup(&c->y, url, strlen(url));
		if (p == NULL)
			return;
		free(*dst);
		*dst = p;
		yamlx_warn(&c->y, n,
		    "'queue_url' is a queue ARN; its URL is '%s' (used instead: write that)",
		    url);
		return;
	}
	(void)cfg_url(c, n, "queue_url", dst);
}

static void
cfg_sqs(struct cfg_ctx *c, const struct yamlx_node *n)
{
	const struct yamlx_node *v[ARRAY_SIZE(cfg_sqs_names)];
	struct cfg_sqs *s = &c->cfg->sqs;
	uint64_t us;

	if (!cfg_section(c, n, "sqs", cfg_sqs_names, ARRAY_SIZE(v), v))
		return;
	if (v[CFG_SQS_QUEUE_URL] != NULL)
		cfg_queue_url(c, v[CFG_SQS_QUEUE_URL], &s->queue_url);
	/* SQS's own limits: a long poll of at most 20 s, 12 h visibility. */
	if (v[CFG_SQS_WAIT_TIME] != NULL &&
	    cfg_duration(c, v[CFG_SQS_WAIT_TIME], "wait_time", 0, 20, &us))
		s->wait_time_s = (unsigned)(us / US_PER_S);
	if (v[CFG_SQS_VISIBILITY_TIMEOUT] != NULL &&
	    cfg_duration(c, v[CFG_SQS_VISIBILITY_TIMEOUT], "visibility_timeout",
		0, 43200, &us))
		s->visibility_timeout_s = (unsigned)(us / US_PER_S);
	if (v[CFG_SQS_MAX_MESSAGES] != NULL)
		(void)cfg_uint(c, v[CFG_SQS_MAX_MESSAGES], "max_messages", 1,
		    10, &s->max_messages);
	if (v[CFG_SQS_MAX_RECEIVE_COUNT] != NULL)
		(void)cfg_uint(c, v[CFG_SQS_MAX_RECEIVE_COUNT],
		    "max_receive_count", 0, 1000, &s->max_receive_count);
}

/*
 * lookup: the regions to poll (AWS's spelling, each once, at least one),
 * how often, how far back the first poll goes (LookupEvents keeps 90 days)
 * and how far before its checkpoint each later one starts.
 */
static void
cfg_lookup(struct cfg_ctx *c, const struct yamlx_node *n)
{
	const struct yamlx_node *v[ARRAY_SIZE(cfg_lookup_names)];
	struct cfg_lookup *l = &c->cfg->lookup;
	const struct yamlx_node *const *items;
	const struct yamlx_node *b;
	char q[YAMLX_Q_SIZE];
	char **names = NULL;
	size_t count = 0;
	size_t ni;
	size_t i;
	size_t j;
	bool ok = true;
	uint64_t us;

	if (!cfg_section(c, n, "lookup", cfg_lookup_names, ARRAY_SIZE(v), v))
		return;
	b = v[CFG_LOOKUP_REGIONS];
	if (b == NULL || yamlx_is_null(b)) {
		yamlx_err(&c->y, b != NULL ? b : n,
		    "lookup.regions is not set (list the regions to poll, e.g. [us-east-1])");
		ok = false;
	} else {
		ni = yamlx_items(&b, &items);
		for (i = 0; i < ni; i++) {
			const struct yamlx_node *it = items[i];

			if (it->type != YAMLX_NODE_SCALAR ||
			    strlen(it->s) != it->len)
				continue; /* yamlx_str_list says so */
			if (!aws_region_name_ok(it->s)) {
				yamlx_err(&c->y, it,
				    "bad region '%s' (expected an AWS region such as us-east-1)",
				    YAMLX_QN(q, it));
				ok = false;
				continue;
			}
			for (j = 0; j < i; j++)
				if (items[j]->type == YAMLX_NODE_SCALAR &&
				    strcmp(items[j]->s, it->s) == 0)
					break;
			if (j < i) {
				yamlx_err(&c->y, it,
				    "region '%s' is listed twice",
				    YAMLX_QN(q, it));
				ok = false;
			}
		}
		if (yamlx_str_list(&c->y, b, "regions", &names, &count)) {
			if (count == 0) {
				yamlx_err(&c->y, b,
				    "lookup.regions is empty (list the regions to poll, or remove the lookup section)");
				ok = false;
			}
			if (ok) {
				l->regions = names;
				l->n_regions = count;
			} else {
				cfg_strv_free(names, count);
			}
		}
	}
	if (v[CFG_LOOKUP_INTERVAL] != NULL &&
	    cfg_duration(c, v[CFG_LOOKUP_INTERVAL], "interval", 1, 86400, &us))
		l->interval_s = (unsigned)(us / US_PER_S);
	/* LookupEvents answers for the last 90 days only. */
	if (v[CFG_LOOKUP_SINCE] != NULL &&
	    cfg_duration(c, v[CFG_LOOKUP_SINCE], "since", 0, 90 * 86400, &us))
		l->since_s = us / US_PER_S;
	if (v[CFG_LOOKUP_OVERLAP] != NULL &&
	    cfg_duration(c, v[CFG_LOOKUP_OVERLAP], "overlap", 0, 86400, &us))
		l->overlap_s = us / US_PER_S;
}

/* The i-th item of a list that may be written as one scalar. */
static const struct yamlx_node *
cfg_item(const struct yamlx_node *n, size_t i)
{
	return n->type == YAMLX_NODE_SEQ ? n->kid[i] : n;
}

static void
cfg_s3(struct cfg_ctx *c, const struct yamlx_node *n)
{
	const struct yamlx_node *v[ARRAY_SIZE(cfg_s3_names)];
	const struct yamlx_node *b;
	const struct yamlx_node *it;
	struct cfg_s3 *s = &c->cfg->s3;
	char q[YAMLX_Q_SIZE];
	char **names;
	size_t count;
	size_t i;
	bool ok = true;

	if (!cfg_section(c, n, "s3", cfg_s3_names, ARRAY_SIZE(v), v))
		return;
	b = v[CFG_S3_ALLOWED_BUCKETS];
	if (b != NULL && !yamlx_is_null(b)) {
		/* Every name, even when another item is not a string. */
		for (i = 0; i < (b->type == YAMLX_NODE_SEQ ? b->n : 1); i++) {
			it = cfg_item(b, i);
			if (it->type != YAMLX_NODE_SCALAR || it->len == 0 ||
			    strlen(it->s) != it->len ||
			    s3_bucket_name_ok(it->s))
				continue;
			yamlx_err(&c->y, it,
			    "bad bucket name '%s' (expected 3 to 63 lowercase letters, digits, '.' and '-')",
			    YAMLX_QN(q, it));
			ok = false;
		}
		if (yamlx_str_list(&c->y, b, "allowed_buckets", &names,
			&count)) {
			if (count == 0) {
				/* [] would read as "any bucket": say so. */
				yamlx_err(&c->y, b,
				    "allowed_buckets is empty (list the trail's buckets, or remove the key to allow any bucket)");
				ok = false;
			}
			if (ok) {
				s->allowed_buckets = names;
				s->n_allowed_buckets = count;
			} else {
				cfg_strv_free(names, count);
			}
		}
	}
	/* Anything larger could not be inflated anyway. */
	if (v[CFG_S3_MAX_OBJECT_SIZE] != NULL)
		(void)cfg_size(c, v[CFG_S3_MAX_OBJECT_SIZE], "max_object_size",
		    1, TRAIL_MAX_INFLATED, &s->max_object_size);
}

/* A URL pattern (POSIX ERE): checked here for the message; compiled
 * again once the whole load is good (cfg_compile_cert_re). */
static void
cfg_sns_pattern(struct cfg_ctx *c, const struct yamlx_node *p, const char *name,
    char **pattern)
{
	regex_t re;
	char err[200];
	int r;

	if (p == NULL || !cfg_string(c, p, name, pattern))
		return;
	r = rx_compile(&re, *pattern, p->len, NULL, err, sizeof(err));
	if (r == -ENOMEM) {
		c->y.oom = true;
		return;
	}
	if (r < 0) {
		yamlx_err(&c->y, p, "bad regex for '%s': %s", name, err);
		return;
	}
	regfree(&re);
}

static void
cfg_sns(struct cfg_ctx *c, const struct yamlx_node *n)
{
	const struct yamlx_node *v[ARRAY_SIZE(cfg_sns_names)];
	const struct yamlx_node *p;
	struct cfg_sns *s = &c->cfg->sns;

	if (!cfg_section(c, n, "sns", cfg_sns_names, ARRAY_SIZE(v), v))
		return;
	if (v[CFG_SNS_VERIFY_SIGNATURES] != NULL)
		(void)yamlx_bool(&c->y, v[CFG_SNS_VERIFY_SIGNATURES],
		    "verify_signatures", &s->verify_signatures);
	p = v[CFG_SNS_TOPIC_ARNS];
	if (p != NULL && !yamlx_is_null(p)) {
		char **names = NULL;
		size_t count = 0;

		/* Any topic's messages carry a valid SNS signature: the
		 * signature proves SNS sent it, this proves whose topic. */
		if (yamlx_str_list(&c->y, p, "topic_arns", &names, &count)) {
			for (size_t i = 0; i < count; i++)
				if (strncmp(names[i], "arn:", 4) != 0)
					yamlx_err(&c->y, p,
					    "'%s' in 'topic_arns' is not an ARN",
					    names[i]);
			s->topic_arns = names;
			s->n_topic_arns = count;
		}
	}
	p = v[CFG_SNS_CONFIRM_SUBSCRIPTIONS];
	if (p != NULL &&
	    yamlx_bool(&c->y, p, "confirm_subscriptions",
		&s->confirm_subscriptions) &&
	    s->confirm_subscriptions && s->n_topic_arns == 0)
		yamlx_warn(&c->y, p,
		    "'confirm_subscriptions' confirms only topics in "
		    "'topic_arns', and there are none: nothing will be "
		    "confirmed");
	cfg_sns_pattern(c, v[CFG_SNS_CERT_URL_PATTERN], "cert_url_pattern",
	    &s->cert_url_pattern);
	cfg_sns_pattern(c, v[CFG_SNS_SUBSCRIBE_URL_PATTERN],
	    "subscribe_url_pattern", &s->subscribe_url_pattern);
}

static void
cfg_http(struct cfg_ctx *c, const struct yamlx_node *n)
{
	const struct yamlx_node *v[ARRAY_SIZE(cfg_http_names)];
	struct cfg_http *h = &c->cfg->http;
	uint64_t us;

	if (!cfg_section(c, n, "http", cfg_http_names, ARRAY_SIZE(v), v))
		return;
	if (v[CFG_HTTP_CA_FILE] != NULL)
		(void)cfg_string(c, v[CFG_HTTP_CA_FILE], "ca_file",
		    &h->ca_file);
	if (v[CFG_HTTP_CA_PATH] != NULL)
		(void)cfg_string(c, v[CFG_HTTP_CA_PATH], "ca_path",
		    &h->ca_path);
	if (v[CFG_HTTP_TIMEOUT] != NULL &&
	    cfg_duration(c, v[CFG_HTTP_TIMEOUT], "timeout", 1, 3600, &us))
		h->timeout_ms = (long)(us / US_PER_MS);
}

static void
cfg_metrics(struct cfg_ctx *c, const struct yamlx_node *n)
{
	const struct yamlx_node *v[ARRAY_SIZE(cfg_metrics_names)];
	struct cfg_metrics *m = &c->cfg->metrics;
	const char *s;
	char q[YAMLX_Q_SIZE];
	char *host = NULL;
	unsigned port;
	uint64_t us;

	if (!cfg_section(c, n, "metrics", cfg_metrics_names, ARRAY_SIZE(v), v))
		return;
	if (v[CFG_METRICS_QUEUE_INTERVAL] != NULL &&
	    cfg_duration(c, v[CFG_METRICS_QUEUE_INTERVAL], "queue_interval", 0,
		3600, &us))
		m->queue_interval_s = (unsigned)(us / US_PER_S);
	if (v[CFG_METRICS_DELIVERY_FAILING_AFTER] != NULL &&
	    cfg_duration(c, v[CFG_METRICS_DELIVERY_FAILING_AFTER],
		"delivery_failing_after", 1, 7 * 86400, &us))
		m->delivery_failing_s = (unsigned)(us / US_PER_S);
	if (v[CFG_METRICS_LISTEN] == NULL)
		return;
	s = yamlx_str(&c->y, v[0], "listen");
	if (s == NULL)
		return;
	free(m->listen);
	free(m->host);
	m->listen = NULL;
	m->host = NULL;
	m->port = 0;
	if (v[0]->len == 0 || strcmp(s, "off") == 0)
		return;
	if (strlen(s) != v[0]->len || !cfg_listen_parse(s, &host, &port)) {
		yamlx_err(&c->y, v[0],
		    "bad address '%s' for 'listen' (expected IPv4:port, [IPv6]:port, localhost:port, or off; other host names are not resolved)",
		    YAMLX_QN(q, v[0]));
		return;
	}
	m->listen = yamlx_strdup(&c->y, s, v[0]->len);
	m->host = host;
	m->port = port;
	if (host == NULL)
		c->y.oom = true;
}

static void
cfg_log_level(struct cfg_ctx *c, const struct yamlx_node *n)
{
	const char *s = yamlx_str(&c->y, n, "log_level");
	char q[YAMLX_Q_SIZE];

	if (s == NULL)
		return;
	if (strlen(s) != n->len || log_level_parse(s, &c->cfg->log_level) < 0)
		yamlx_err(&c->y, n,
		    "unknown log level '%s' (expected err, warning, notice, info or debug)",
		    YAMLX_QN(q, n));
}

/* ---- destinations ------------------------------------------------------ */

/* A systemd credential's name: a file name in $CREDENTIALS_DIRECTORY. */
static bool
cfg_credential_ok(const char *s, size_t len)
{
	return len > 0 && len <= CFG_MAX_CREDENTIAL && strlen(s) == len &&
	    strchr(s, '/') == NULL && strcmp(s, ".") != 0 &&
	    strcmp(s, "..") != 0;
}

/* A secret file for the service's user (cfg_opts): read as it would,
 * and one only root may read is worth a word when check runs as root. */
static bool
cfg_secret_file(struct cfg_ctx *c, const struct cfg_dest *d,
    const struct yamlx_node *n_file, const char *path, struct secret **ret,
    const char *src)
{
	struct stat st;
	struct diag e;
	int r;

	r = secret_read_file_as(path, SECRET_MAX_FILE, c->o->reader, ret, &st,
	    &e);
	if (r == -ENOMEM)
		c->y.oom = true;
	else if (r < 0)
		yamlx_err(&c->y, n_file, "%s of destination '%s': %s", src,
		    d->name, e.msg);
	if (r >= 0 && c->o->warn_root_only && secret_root_only(&st))
		yamlx_warn(&c->y, n_file,
		    "%s of destination '%s': only root may read it (owner uid %u, group %u, mode %04o), not the service's user: use credential:NAME, or check with --as-user USER",
		    src, d->name, (unsigned)st.st_uid, (unsigned)st.st_gid,
		    (unsigned)st.st_mode & 07777);
	return r >= 0;
}

/*
 * One secret of destination d, key kname: inline (n_inl, where
 * "credential:NAME" reads NAME in the credentials directory) or from a
 * file (n_file, key fname). Errors are reported at the value and name the
 * key and the file, never the value. src says where the secret came from,
 * for later messages. A credential left unread (cfg_opts): true, *ret
 * NULL and *ret_unread set.
 */
static bool
cfg_secret(struct cfg_ctx *c, const struct cfg_dest *d, const char *kname,
    const char *fname, const struct yamlx_node *n_inl,
    const struct yamlx_node *n_file, struct secret **ret, bool *ret_unread,
    char *src, size_t srcsize)
{
	static const char cred[] = "credential:";
	const char *s;
	const char *dir;
	const char *name;
	char path[4096];
	char q[YAMLX_Q_SIZE];
	struct diag e;
	int r;

	if (n_inl != NULL && n_file != NULL) {
		yamlx_err(&c->y, n_file,
		    "both '%s' and '%s' in destination '%s'; use one", kname,
		    fname, d->name);
		return false;
	}
	if (n_file != NULL) {
		s = yamlx_str(&c->y, n_file, fname);
		if (s == NULL)
			return false;
		if (n_file->len == 0) {
			yamlx_err(&c->y, n_file, "empty value for '%s'", fname);
			return false;
		}
		if (strlen(s) != n_file->len) {
			yamlx_err(&c->y, n_file, "NUL byte in '%s'", fname);
			return false;
		}
		(void)snprintf(src, srcsize, "secret file '%s' for '%s'",
		    yamlx_q(q, sizeof(q), s, n_file->len), fname);
		return cfg_secret_file(c, d, n_file, s, ret, src);
	}
	s = yamlx_str(&c->y, n_inl, kname);
	if (s == NULL)
		return false;
	if (n_inl->len == 0 || strlen(s) != n_inl->len) {
		yamlx_err(&c->y, n_inl,
		    "'%s' of destination '%s' is empty or holds a NUL byte",
		    kname, d->name);
		return false;
	}
	if (strncmp(s, cred, sizeof(cred) - 1) != 0) {
		(void)snprintf(src, srcsize, "'%s'", kname);
		*ret = secret_new(s, n_inl->len);
		if (*ret == NULL)
			c->y.oom = true;
		return *ret != NULL;
	}
	name = s + sizeof(cred) - 1;
	if (!cfg_credential_ok(name, n_inl->len - (sizeof(cred) - 1))) {
		yamlx_err(&c->y, n_inl,
		    "bad credential name '%s' in '%s' of destination '%s' (expected credential:NAME, NAME a file in $CREDENTIALS_DIRECTORY)",
		    yamlx_q(q, sizeof(q), name,
			n_inl->len - (sizeof(cred) - 1)),
		    kname, d->name);
		return false;
	}
	(void)snprintf(src, srcsize, "credential '%s' for '%s'", name, kname);
	dir = c->o->credentials_dir;
	if (dir == NULL || dir[0] == '\0')
		dir = getenv("CREDENTIALS_DIRECTORY");
	if ((dir == NULL || dir[0] == '\0') && c->o->credentials_unread) {
		yamlx_note(&c->y, n_inl,
		    "%s of destination '%s': not checked (systemd credential; no --credentials-dir, and $CREDENTIALS_DIRECTORY is not set)",
		    src, d->name);
		*ret_unread = true;
		return true;
	}
	if (dir == NULL || dir[0] == '\0') {
		yamlx_err(&c->y, n_inl,
		    "%s of destination '%s': $CREDENTIALS_DIRECTORY is not set (see systemd's LoadCredential=)",
		    src, d->name);
		return false;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path)) {
		yamlx_err(&c->y, n_inl, "%s of destination '%s': path too long",
		    src, d->name);
		return false;
	}
	r = secret_read_file(path, SECRET_MAX_FILE, ret, &e);
	if (r == -ENOMEM)
		c->y.oom = true;
	else if (r < 0)
		yamlx_err(&c->y, n_inl, "%s of destination '%s': %s: %s", src,
		    d->name, e.file, e.msg);
	return r >= 0;
}

/* "N/s", "N/m", "N/h" or "N/d": at most N per second, minute, ... */
static bool
cfg_rate(struct cfg_ctx *c, const struct yamlx_node *n, struct cfg_dest *d)
{
	static const char units[] = "smhd";
	static const uint64_t per[] = {1, 60, 3600, 86400};
	const char *s = yamlx_str(&c->y, n, "rate");
	const char *u;
	char q[YAMLX_Q_SIZE];
	unsigned long v = 0;
	size_t i;

	if (s == NULL)
		return false;
	for (i = 0; i < n->len && s[i] >= '0' && s[i] <= '9' && i < 8; i++)
		v = v * 10 + (unsigned long)(s[i] - '0');
	u = s[i] == '/' && s[i + 1] != '\0' && s[i + 2] == '\0'
	    ? strchr(units, s[i + 1])
	    : NULL;
	if (i == 0 || u == NULL || v == 0 || v > CFG_MAX_RATE ||
	    strlen(s) != n->len) {
		yamlx_err(&c->y, n,
		    "bad rate '%s' for 'rate' (expected a count per second, minute, hour or day, such as '1/s' or '20/m')",
		    YAMLX_QN(q, n));
		return false;
	}
	d->rate_count = (unsigned)v;
	d->rate_period_us = per[u - units] * US_PER_S;
	return true;
}

/* "webhook, stdout, slack or pagerduty": every kind, for messages. */
static const char *
cfg_kind_list(char *buf, size_t size)
{
	size_t o = 0;
	size_t i;

	buf[0] = '\0';
	for (i = 0; sink_kinds[i] != NULL && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s%s",
		    i == 0                          ? ""
			: sink_kinds[i + 1] == NULL ? " or "
						    : ", ",
		    sink_kinds[i]->name);
	return buf;
}

/* The destination's kind, from its 'type' key; NULL if bad. */
static const struct sink_kind *
cfg_dest_kind(struct cfg_ctx *c, const struct yamlx_node *map, const char *name)
{
	const struct yamlx_node *t = NULL;
	const char *names[SINK_MAX_KINDS];
	const char *s;
	const char *sug;
	char hint[96];
	char kinds[256];
	char q[YAMLX_Q_SIZE];
	size_t i;

	for (i = 0; i + 1 < map->n && t == NULL; i += 2)
		if (map->kid[i]->type == YAMLX_NODE_SCALAR &&
		    strcmp(map->kid[i]->s, "type") == 0)
			t = map->kid[i + 1];
	if (t == NULL) {
		yamlx_err(&c->y, map,
		    "missing 'type' in destination '%s' (expected %s)", name,
		    cfg_kind_list(kinds, sizeof(kinds)));
		return NULL;
	}
	s = yamlx_str(&c->y, t, "type");
	if (s == NULL)
		return NULL;
	for (i = 0; sink_kinds[i] != NULL; i++) {
		names[i] = sink_kinds[i]->name;
		if (strcmp(s, names[i]) == 0 && strlen(s) == t->len)
			return sink_kinds[i];
	}
	sug = yamlx_suggest(&c->y, s, names, i, false);
	if (sug != NULL)
		(void)yamlx_hint(hint, sizeof(hint), sug);
	else
		(void)snprintf(hint, sizeof(hint), " (expected %s)",
		    cfg_kind_list(kinds, sizeof(kinds)));
	yamlx_err(&c->y, t, "unknown destination type '%s'%s", YAMLX_QN(q, t),
	    hint);
	return NULL;
}

static void
cfg_dkey_add(struct cfg_dkeys *ks, const char *name,
    const struct yamlx_node **slot)
{
	assert(ks->n < CFG_MAX_DKEYS);
	ks->names[ks->n] = name;
	ks->slot[ks->n++] = slot;
}

/* The keys of kind k, their values to go into v. */
static void
cfg_dkeys_init(struct cfg_dkeys *ks, const struct sink_kind *k,
    struct cfg_dvals *v)
{
	size_t i;

	memset(ks, 0, sizeof(*ks));
	memset(v, 0, sizeof(*v));
	assert(k->n_opts <= SINK_MAX_OPTS);
	cfg_dkey_add(ks, cfg_dkey_names[CFG_DKEY_TYPE],
	    &v->common[CFG_DKEY_TYPE]);
	for (i = 0; i < k->n_opts; i++) {
		const struct sink_opt *o = &k->opts[i];

		cfg_dkey_add(ks, o->key, &v->inl[i]);
		if (o->form == SINK_OPT_TEXT || o->no_file)
			continue;
		(void)snprintf(ks->file_names[i], CFG_MAX_DKEY, "%s_file",
		    o->key);
		cfg_dkey_add(ks, ks->file_names[i], &v->file[i]);
	}
	if (!k->network)
		return;
	for (i = CFG_DKEY_TIMEOUT; i < CFG_DKEY_COUNT; i++)
		cfg_dkey_add(ks, cfg_dkey_names[i], &v->common[i]);
}

/* Whether some kind takes key: "does not apply", not "unknown". */
static bool
cfg_dkey_known(const char *key)
{
	struct cfg_dkeys ks;
	struct cfg_dvals v;
	size_t i;
	size_t j;

	for (i = 0; sink_kinds[i] != NULL; i++) {
		cfg_dkeys_init(&ks, sink_kinds[i], &v);
		for (j = 0; j < ks.n; j++)
			if (strcmp(ks.names[j], key) == 0)
				return true;
	}
	return false;
}

/* A secret URL: http(s) with a host, never quoted. */
static void
cfg_dest_url_check(struct cfg_ctx *c, const struct yamlx_node *at,
    const struct cfg_dest *d, const struct secret *url, const char *src)
{
	const char *why = cfg_url_why(secret_value(url), secret_len(url));

	if (why != NULL)
		yamlx_err(&c->y, at,
		    "bad URL in %s of destination '%s' (%s; the value is not shown)",
		    src, d->name, why);
}

static void
cfg_dest_set(struct cfg_ctx *c, struct cfg_dest *d, size_t i, const char *val)
{
	d->opts[i] = secret_new(val, strlen(val));
	if (d->opts[i] == NULL)
		c->y.oom = true;
}

/* Option i of d's kind into d->opts[i]: read as its form says, else its
 * default, else (if required) an error at the destination. */
static void
cfg_dest_opt_read(struct cfg_ctx *c, struct cfg_dest *d, size_t i,
    const struct cfg_dkeys *ks, const struct cfg_dvals *v,
    const struct yamlx_node *map)
{
	const struct sink_opt *o = &d->kind->opts[i];
	const struct yamlx_node *inl = v->inl[i];
	const struct yamlx_node *file = v->file[i];
	const char *fname = ks->file_names[i]; /* "": no file form */
	char src[YAMLX_Q_SIZE + 64];
	char *t = NULL;
	bool unread = false;

	if (inl == NULL && file == NULL) {
		if (o->def != NULL)
			cfg_dest_set(c, d, i, o->def);
		else if (o->required && fname[0] != '\0')
			yamlx_err(&c->y, map,
			    "missing '%s' or '%s' in %s destination '%s'",
			    o->key, fname, d->kind->name, d->name);
		else if (o->required)
			yamlx_err(&c->y, map,
			    "missing '%s' in %s destination '%s'", o->key,
			    d->kind->name, d->name);
		return;
	}
	if (o->form == SINK_OPT_TEXT) {
		if (cfg_string(c, inl, o->key, &t))
			cfg_dest_set(c, d, i, t);
		free(t);
		return;
	}
	if (!cfg_secret(c, d, o->key, fname, inl, file, &d->opts[i], &unread,
		src, sizeof(src)))
		return;
	if (unread)
		d->unread |= 1u << i;
	else if (o->form == SINK_OPT_URL)
		cfg_dest_url_check(c, file != NULL ? file : inl, d, d->opts[i],
		    src);
}

/*
 * Advice on a destination that loaded (cfg_opts.advise): its URL option
 * is http:// to a host that is not this one (the alert, and a Slack URL's
 * credential, in clear text), then the kind's own advice. Reported at the
 * option; secrets are named, never shown.
 */
static void
cfg_dest_advise(struct cfg_ctx *c, const struct cfg_dest *d,
    const struct cfg_dvals *v, const struct yamlx_node *map)
{
	const struct sink_kind *k = d->kind;
	const struct yamlx_node *at;
	const char *vals[SINK_MAX_OPTS];
	char host[256];
	struct diag e;
	size_t opt = k->n_opts;
	size_t i;

	for (i = 0; i < k->n_opts; i++) {
		const char *u = secret_value(d->opts[i]);

		vals[i] = u;
		if (k->opts[i].form != SINK_OPT_URL || u == NULL ||
		    strncasecmp(u, "http://", 7) != 0 ||
		    http_host_is_loopback(http_url_host(u, host, sizeof(host))))
			continue;
		at = v->file[i] != NULL ? v->file[i]
		    : v->inl[i] != NULL ? v->inl[i]
					: map;
		yamlx_warn(&c->y, at,
		    "destination '%s': '%s' is http://, not https:// (the alert and the URL travel in clear text)",
		    d->name, k->opts[i].key);
	}
	memset(&e, 0, sizeof(e));
	if (k->advise == NULL || k->advise(vals, &opt, &e) == 0)
		return;
	at = map;
	if (opt < k->n_opts && v->file[opt] != NULL)
		at = v->file[opt];
	else if (opt < k->n_opts && v->inl[opt] != NULL)
		at = v->inl[opt];
	yamlx_warn(&c->y, at, "destination '%s': %s", d->name, e.msg);
}

/* The kind's own rules, reported at the option at fault. */
static void
cfg_dest_check(struct cfg_ctx *c, const struct cfg_dest *d,
    const struct cfg_dvals *v, const struct yamlx_node *map)
{
	const struct sink_kind *k = d->kind;
	const struct yamlx_node *at = map;
	const char *vals[SINK_MAX_OPTS];
	struct diag e;
	size_t opt = k->n_opts;
	size_t i;

	if (k->check == NULL)
		return;
	for (i = 0; i < k->n_opts; i++)
		vals[i] = secret_value(d->opts[i]);
	memset(&e, 0, sizeof(e));
	if (k->check(vals, &opt, &e) == 0)
		return;
	if (opt < k->n_opts && v->file[opt] != NULL)
		at = v->file[opt];
	else if (opt < k->n_opts && v->inl[opt] != NULL)
		at = v->inl[opt];
	yamlx_err(&c->y, at, "destination '%s': %s", d->name, e.msg);
}

/* Checks one destination's keys and reads its options into d. */
static void
cfg_dest_fill(struct cfg_ctx *c, const struct yamlx_node *map,
    struct cfg_dest *d)
{
	const struct sink_kind *k = d->kind;
	unsigned errors = c->y.errors;
	struct cfg_dkeys ks;
	struct cfg_dvals v;
	char what[64];
	uint64_t us;
	size_t i;
	size_t j;

	cfg_dkeys_init(&ks, k, &v);
	(void)snprintf(what, sizeof(what), "%s destination", k->name);
	for (i = 0; i + 1 < map->n; i += 2) {
		const struct yamlx_node *kn = map->kid[i];

		for (j = 0; kn->type == YAMLX_NODE_SCALAR && j < ks.n; j++)
			if (strcmp(kn->s, ks.names[j]) == 0)
				break;
		if (kn->type == YAMLX_NODE_SCALAR && j == ks.n &&
		    cfg_dkey_known(kn->s)) {
			yamlx_err(&c->y, kn,
			    "'%s' does not apply to a %s destination", kn->s,
			    k->name);
			continue;
		}
		j = yamlx_key(&c->y, kn, ks.names, ks.n, what);
		if (j < ks.n && *ks.slot[j] == NULL)
			*ks.slot[j] = map->kid[i + 1];
	}

	d->deadline_us = CFG_DEFAULT_DEADLINE_US;
	if (k->network) {
		d->timeout_ms = c->cfg->http.timeout_ms;
		d->rate_count = k->rate_count;
		d->rate_period_us = k->rate_period_us;
	}
	for (i = 0; i < k->n_opts && !c->y.oom; i++)
		cfg_dest_opt_read(c, d, i, &ks, &v, map);
	/* A credential left unread: nothing to check it against. */
	if (c->y.errors == errors && !c->y.oom && d->unread == 0)
		cfg_dest_check(c, d, &v, map);
	if (c->y.errors == errors && !c->y.oom && d->unread == 0 &&
	    c->o->advise)
		cfg_dest_advise(c, d, &v, map);

	if (v.common[CFG_DKEY_TIMEOUT] != NULL &&
	    cfg_duration(c, v.common[CFG_DKEY_TIMEOUT], "timeout", 1, 3600,
		&us))
		d->timeout_ms = (long)(us / US_PER_MS);
	if (v.common[CFG_DKEY_DEADLINE] != NULL)
		(void)cfg_duration(c, v.common[CFG_DKEY_DEADLINE], "deadline",
		    1, 7 * 86400, &d->deadline_us);
	if (v.common[CFG_DKEY_RATE] != NULL)
		(void)cfg_rate(c, v.common[CFG_DKEY_RATE], d);
}

static void
cfg_dest(struct cfg_ctx *c, const struct yamlx_node *k,
    const struct yamlx_node *map)
{
	struct cfg *cfg = c->cfg;
	struct cfg_dest *d;

	if (k->type == YAMLX_NODE_BAD)
		return;
	if (k->type != YAMLX_NODE_SCALAR) {
		yamlx_err(&c->y, k, "expected a destination name");
		return;
	}
	if (!yamlx_name(&c->y, k, "destination name", CFG_MAX_NAME))
		return;
	if (cfg_dest_find(cfg, k->s) != NULL)
		return; /* a duplicate key, already reported */
	d = &cfg->destinations[cfg->n_destinations];
	memset(d, 0, sizeof(*d));
	d->name = yamlx_strdup(&c->y, k->s, k->len);
	if (d->name == NULL)
		return;
	d->line = k->line;
	cfg->n_destinations++;
	if (!yamlx_map(&c->y, map, d->name))
		return;
	yamlx_map_dups(&c->y, map);
	d->kind = cfg_dest_kind(c, map, d->name);
	if (d->kind != NULL)
		cfg_dest_fill(c, map, d);
}

static void
cfg_dests(struct cfg_ctx *c, const struct yamlx_node *n)
{
	struct cfg *cfg = c->cfg;
	size_t i;

	if (yamlx_is_null(n) || !yamlx_map(&c->y, n, "destinations"))
		return;
	yamlx_map_dups(&c->y, n);
	cfg->destinations = calloc(n->n / 2 + 1, sizeof(*cfg->destinations));
	c->dnames = calloc(n->n / 2 + 1, sizeof(*c->dnames));
	if (cfg->destinations == NULL || c->dnames == NULL) {
		c->y.oom = true;
		return;
	}
	for (i = 0; i + 1 < n->n && !c->y.oom; i += 2)
		cfg_dest(c, n->kid[i], n->kid[i + 1]);
	for (i = 0; i < cfg->n_destinations; i++)
		c->dnames[i] = cfg->destinations[i].name;
}

/* A list of defined destinations (or one), each checked where it is. */
static bool
cfg_dest_refs(struct cfg_ctx *c, const struct yamlx_node *n, const char *what,
    char ***ret, size_t *ret_n)
{
	char hint[96];
	char q[YAMLX_Q_SIZE];
	char **v;
	size_t count;
	size_t i;
	bool ok = true;

	if (!yamlx_str_list(&c->y, n, what, &v, &count))
		return false;
	for (i = 0; i < count; i++) {
		if (cfg_dest_find(c->cfg, v[i]) != NULL)
			continue;
		yamlx_err(&c->y, cfg_item(n, i), "unknown destination '%s'%s",
		    YAMLX_QN(q, cfg_item(n, i)),
		    yamlx_hint(hint, sizeof(hint),
			c->dnames == NULL
			    ? NULL
			    : yamlx_suggest(&c->y, v[i], c->dnames,
				  c->cfg->n_destinations, false)));
		ok = false;
	}
	if (!ok) {
		cfg_strv_free(v, count);
		return false;
	}
	*ret = v;
	*ret_n = count;
	return true;
}

/* ---- routes ------------------------------------------------------------ */

static bool
cfg_severity(struct cfg_ctx *c, const struct yamlx_node *n, const char *s,
    enum rules_severity *ret)
{
	char q[YAMLX_Q_SIZE];

	if (strlen(s) == n->len && rules_severity_parse(s, ret) == 0)
		return true;
	yamlx_err(&c->y, n,
	    "unknown severity '%s' (expected info, warning, error or critical)",
	    YAMLX_QN(q, n));
	return false;
}

static void
cfg_route(struct cfg_ctx *c, const struct yamlx_node *n, struct cfg_route *rt)
{
	const struct yamlx_node *v[ARRAY_SIZE(cfg_route_names)];
	const struct yamlx_node *sv;
	enum rules_severity sev;
	const char *s;
	char **names;
	size_t count;
	size_t i;

	rt->line = n->line;
	rt->severities = CFG_SEV_ALL;
	if (n->type == YAMLX_NODE_BAD)
		return;
	if (n->type != YAMLX_NODE_MAP) {
		yamlx_err(&c->y, n,
		    "expected a mapping for a route (with 'destinations')");
		return;
	}
	yamlx_keys(&c->y, n, "route", cfg_route_names, ARRAY_SIZE(v), v);
	sv = v[CFG_ROUTE_SEVERITY];
	if (sv != NULL && v[CFG_ROUTE_MIN_SEVERITY] != NULL)
		yamlx_err(&c->y, v[CFG_ROUTE_MIN_SEVERITY],
		    "both 'severity' and 'min_severity' in a route; use one");
	else if (sv != NULL &&
	    yamlx_str_list(&c->y, sv, "severity", &names, &count)) {
		rt->severities = 0;
		for (i = 0; i < count; i++)
			if (cfg_severity(c, cfg_item(sv, i), names[i], &sev))
				rt->severities |= 1u << sev;
		cfg_strv_free(names, count);
		if (count == 0)
			yamlx_err(&c->y, sv, "empty list for 'severity'");
	} else if (v[CFG_ROUTE_MIN_SEVERITY] != NULL) {
		sv = v[CFG_ROUTE_MIN_SEVERITY];
		s = yamlx_str(&c->y, sv, "min_severity");
		if (s != NULL && cfg_severity(c, sv, s, &sev))
			rt->severities = CFG_SEV_ALL & ~((1u << sev) - 1);
	}
	if (v[CFG_ROUTE_DESTINATIONS] == NULL)
		yamlx_err(&c->y, n, "missing 'destinations' in route");
	else if (cfg_dest_refs(c, v[CFG_ROUTE_DESTINATIONS], "destinations",
		     &rt->destinations, &rt->n_destinations) &&
	    rt->n_destinations == 0)
		yamlx_err(&c->y, v[CFG_ROUTE_DESTINATIONS],
		    "empty list for 'destinations'");
	if (v[CFG_ROUTE_CONTINUE] != NULL)
		(void)yamlx_bool(&c->y, v[CFG_ROUTE_CONTINUE], "continue",
		    &rt->cont);
}

static void
cfg_routes(struct cfg_ctx *c, const struct yamlx_node *n)
{
	struct cfg *cfg = c->cfg;
	size_t i;

	if (yamlx_is_null(n) || !yamlx_seq(&c->y, n, "route"))
		return;
	cfg->routes = calloc(n->n + 1, sizeof(*cfg->routes));
	if (cfg->routes == NULL) {
		c->y.oom = true;
		return;
	}
	for (i = 0; i < n->n && !c->y.oom; i++)
		cfg_route(c, n->kid[i], &cfg->routes[cfg->n_routes++]);
}

/*
 * How many alerts may wait for delivery, and where receiving pauses so
 * that one more batch of messages still fits under the ceiling.
 */
static void
cfg_spool(struct cfg_ctx *c, const struct yamlx_node *n)
{
	const struct yamlx_node *v[ARRAY_SIZE(cfg_spool_names)];
	struct cfg_spool *s = &c->cfg->spool;
	unsigned u;

	if (!cfg_section(c, n, "spool", cfg_spool_names, ARRAY_SIZE(v), v))
		return;
	if (v[CFG_SPOOL_MAX_PENDING] != NULL &&
	    cfg_uint(c, v[CFG_SPOOL_MAX_PENDING], "max_pending", 2, 10000000,
		&u))
		s->max_pending = u;
	if (v[CFG_SPOOL_PAUSE_AT] == NULL) {
		if (s->pause_at >= s->max_pending)
			s->pause_at = s->max_pending / 2;
		return;
	}
	if (!cfg_uint(c, v[CFG_SPOOL_PAUSE_AT], "pause_at", 1, 10000000, &u))
		return;
	s->pause_at = u;
	if (s->pause_at >= s->max_pending)
		yamlx_err(&c->y, v[CFG_SPOOL_PAUSE_AT],
		    "spool.pause_at (%u) must be below spool.max_pending (%u)",
		    s->pause_at, s->max_pending);
}

/* How late an event may come, and how much state the windows keep. */
static void
cfg_windows(struct cfg_ctx *c, const struct yamlx_node *n)
{
	const struct yamlx_node *v[ARRAY_SIZE(cfg_windows_names)];
	struct cfg_windows *w = &c->cfg->windows;
	uint64_t us;
	unsigned u;

	if (!cfg_section(c, n, "windows", cfg_windows_names, ARRAY_SIZE(v), v))
		return;
	if (v[CFG_WINDOWS_LATE] != NULL &&
	    cfg_duration(c, v[CFG_WINDOWS_LATE], "late", 0, 7 * 86400, &us))
		w->late_s = us / US_PER_S;
	if (v[CFG_WINDOWS_MAX_KEYS] != NULL &&
	    cfg_uint(c, v[CFG_WINDOWS_MAX_KEYS], "max_keys", 1000, 100000000,
		&u))
		w->max_keys = u;
	if (v[CFG_WINDOWS_MAX_BYTES] != NULL)
		(void)cfg_size(c, v[CFG_WINDOWS_MAX_BYTES], "max_bytes",
		    1u << 20, 64ull << 30, &w->max_bytes);
}

/* An account ID: 12 digits. */
static bool
cfg_account_id_ok(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return len == 12;
}

/* accounts: {"123456789012": prod, ...}: the aliases shown in alerts. */
static void
cfg_accounts(struct cfg_ctx *c, const struct yamlx_node *n)
{
	struct cfg *cfg = c->cfg;
	size_t i, k;

	if (yamlx_is_null(n) || !yamlx_map(&c->y, n, "accounts"))
		return;
	cfg->accounts = calloc(n->n / 2 + 1, sizeof(*cfg->accounts));
	if (cfg->accounts == NULL) {
		c->y.oom = true;
		return;
	}
	for (i = 0; i + 1 < n->n && !c->y.oom; i += 2) {
		const struct yamlx_node *key = n->kid[i];
		struct cfg_account *a = &cfg->accounts[cfg->n_accounts];

		if (key->type != YAMLX_NODE_SCALAR ||
		    !cfg_account_id_ok(key->s, key->len)) {
			yamlx_err(&c->y, key,
			    "expected an account ID (12 digits; quote it) as a key of 'accounts'");
			continue;
		}
		for (k = 0; k < cfg->n_accounts; k++)
			if (strcmp(cfg->accounts[k].id, key->s) == 0)
				break;
		if (k < cfg->n_accounts) {
			yamlx_err(&c->y, key, "account '%s' listed twice",
			    key->s);
			continue;
		}
		if (!cfg_string(c, n->kid[i + 1], "accounts", &a->alias))
			continue;
		if (strlen(a->alias) > 64) {
			yamlx_err(&c->y, n->kid[i + 1],
			    "an account alias has at most 64 bytes");
			free(a->alias);
			a->alias = NULL;
			continue;
		}
		a->id = yamlx_strdup(&c->y, key->s, key->len);
		if (a->id == NULL) {
			free(a->alias);
			a->alias = NULL;
			continue;
		}
		cfg->n_accounts++;
	}
}

const char *
cfg_account_alias(const struct cfg *cfg, const char *id)
{
	size_t i;

	for (i = 0; cfg != NULL && id != NULL && i < cfg->n_accounts; i++)
		if (strcmp(cfg->accounts[i].id, id) == 0)
			return cfg->accounts[i].alias;
	return NULL;
}

/* ---- the file ---------------------------------------------------------- */

#define CFG_MSG_NO_SOURCE                                                      \
	"no source configured for run: neither sqs.queue_url nor lookup is "   \
	"set"

/* The key node of key in map, or NULL. */
static const struct yamlx_node *
cfg_key_node(const struct yamlx_node *map, const char *key)
{
	size_t i;

	if (map == NULL || map->type != YAMLX_NODE_MAP)
		return NULL;
	for (i = 0; i + 1 < map->n; i += 2)
		if (map->kid[i]->type == YAMLX_NODE_SCALAR &&
		    strcmp(map->kid[i]->s, key) == 0)
			return map->kid[i];
	return NULL;
}

/*
 * Where to report that section.key is unset: at the key if it is written
 * (null or empty), else at the section, else nowhere (the file).
 */
static void
cfg_unset_at(const struct yamlx_node *root, const char *section,
    const char *key, unsigned *ret_line, unsigned *ret_col)
{
	const struct yamlx_node *sk = cfg_key_node(root, section);
	const struct yamlx_node *k = NULL;
	size_t i;

	*ret_line = 0;
	*ret_col = 0;
	if (sk == NULL)
		return;
	for (i = 0; i + 1 < root->n; i += 2)
		if (root->kid[i] == sk)
			k = cfg_key_node(root->kid[i + 1], key);
	if (k == NULL)
		k = sk;
	*ret_line = k->line;
	*ret_col = k->col;
}

/* What run needs beyond a valid file, and advice (cfg_opts). */
static void
cfg_run_checks(struct cfg_ctx *c, const struct yamlx_node *root)
{
	const struct cfg *cfg = c->cfg;
	unsigned line;
	unsigned col;

	if (c->o->run && cfg->sqs.queue_url == NULL &&
	    cfg->lookup.n_regions == 0 &&
	    cfg_key_node(root, "lookup") == NULL) {
		cfg_unset_at(root, "sqs", "queue_url", &line, &col);
		yamlx_err_at(&c->y, line, col, CFG_MSG_NO_SOURCE);
	}
	if (!c->o->advise)
		return;
	if (cfg->s3.n_allowed_buckets == 0) {
		cfg_unset_at(root, "s3", "allowed_buckets", &line, &col);
		yamlx_warn_at(&c->y, line, col,
		    "s3.allowed_buckets is not set: objects are fetched from any bucket a notification names (list the trail's buckets)");
	}
	if (cfg->sns.n_topic_arns == 0) {
		cfg_unset_at(root, "sns", "topic_arns", &line, &col);
		yamlx_warn_at(&c->y, line, col,
		    "sns.topic_arns is not set: notifications from any SNS topic are accepted (list the trail's topics)");
	}
}

/* The top-level mapping (yamlx_top_cb). */
static void
cfg_top(const struct yamlx_node *root, void *arg)
{
	const struct yamlx_node *v[CFG_KEY_COUNT];
	struct cfg_ctx *c = arg;
	struct cfg *cfg = c->cfg;

	yamlx_keys(&c->y, root, "top-level", cfg_key_names, CFG_KEY_COUNT, v);
	if (v[CFG_KEY_HTTP] != NULL)
		cfg_http(c, v[CFG_KEY_HTTP]);
	if (v[CFG_KEY_DESTINATIONS] != NULL)
		cfg_dests(c, v[CFG_KEY_DESTINATIONS]);
	if (v[CFG_KEY_AWS] != NULL)
		cfg_aws(c, v[CFG_KEY_AWS]);
	if (v[CFG_KEY_SQS] != NULL)
		cfg_sqs(c, v[CFG_KEY_SQS]);
	if (v[CFG_KEY_LOOKUP] != NULL && !yamlx_is_null(v[CFG_KEY_LOOKUP]))
		cfg_lookup(c, v[CFG_KEY_LOOKUP]);
	if (v[CFG_KEY_S3] != NULL)
		cfg_s3(c, v[CFG_KEY_S3]);
	if (v[CFG_KEY_SNS] != NULL)
		cfg_sns(c, v[CFG_KEY_SNS]);
	if (v[CFG_KEY_RULES] != NULL)
		(void)cfg_string(c, v[CFG_KEY_RULES], "rules", &cfg->rules);
	if (v[CFG_KEY_STATE_DIR] != NULL)
		(void)cfg_string(c, v[CFG_KEY_STATE_DIR], "state_dir",
		    &cfg->state_dir);
	if (v[CFG_KEY_LOG_LEVEL] != NULL)
		cfg_log_level(c, v[CFG_KEY_LOG_LEVEL]);
	if (v[CFG_KEY_METRICS] != NULL)
		cfg_metrics(c, v[CFG_KEY_METRICS]);
	if (v[CFG_KEY_SPOOL] != NULL)
		cfg_spool(c, v[CFG_KEY_SPOOL]);
	if (v[CFG_KEY_WINDOWS] != NULL)
		cfg_windows(c, v[CFG_KEY_WINDOWS]);
	if (v[CFG_KEY_ACCOUNTS] != NULL)
		cfg_accounts(c, v[CFG_KEY_ACCOUNTS]);
	if (v[CFG_KEY_DEFAULT_DESTINATIONS] != NULL &&
	    !yamlx_is_null(v[CFG_KEY_DEFAULT_DESTINATIONS]))
		(void)cfg_dest_refs(c, v[CFG_KEY_DEFAULT_DESTINATIONS],
		    "default_destinations", &cfg->default_destinations,
		    &cfg->n_default_destinations);
	if (v[CFG_KEY_ROUTE] != NULL)
		cfg_routes(c, v[CFG_KEY_ROUTE]);
	if (!c->y.oom)
		cfg_run_checks(c, root);
}

/* Puts l's items from first on in file order (stable: an insertion sort). */
static void
cfg_sort_diags(struct diag_list *l, unsigned first)
{
	struct diag tmp;
	unsigned i;
	unsigned j;

	if (l == NULL)
		return;
	for (i = first + 1; i < l->n; i++) {
		tmp = l->items[i];
		for (j = i; j > first; j--) {
			const struct diag *p = &l->items[j - 1];

			if (p->line < tmp.line ||
			    (p->line == tmp.line && p->col <= tmp.col))
				break;
			l->items[j] = *p;
		}
		l->items[j] = tmp;
	}
}

int
cfg_load_buffer(const char *name, const char *text, size_t len,
    struct cfg **ret, struct diag_list *diags)
{
	return cfg_load_buffer_opts(name, text, len, NULL, ret, diags);
}

int
cfg_load_buffer_opts(const char *name, const char *text, size_t len,
    const struct cfg_opts *o, struct cfg **ret, struct diag_list *diags)
{
	static const struct cfg_opts none;
	struct cfg_ctx c;
	unsigned first = diags != NULL ? diags->n : 0;
	int r;

	memset(&c, 0, sizeof(c));
	c.o = o != NULL ? o : &none;
	/* RULES_MAX_FILE: "a rules or config file" (bounds.h). */
	r = yamlx_init(&c.y, name, text, len, RULES_MAX_FILE, diags);
	if (r < 0)
		return r;
	c.y.strict = c.o->strict;
	r = cfg_new(&c.cfg);
	if (r < 0)
		return diag_list_add(diags, r, name, 0, 0, "out of memory");
	c.cfg->file = strdup(name);
	if (c.cfg->file == NULL)
		c.y.oom = true;
	yamlx_load_map(&c.y, "configuration", "a mapping of settings", cfg_top,
	    &c);
	free(c.dnames);
	if (!c.y.oom && c.y.errors == 0) {
		r = cfg_compile_cert_re(c.cfg);
		if (r == -ENOMEM)
			c.y.oom = true;
		else if (r < 0) /* cannot happen: checked above */
			yamlx_err_at(&c.y, 0, 0, "bad SNS URL pattern");
	}
	cfg_sort_diags(diags, first);
	r = yamlx_verdict(&c.y);
	if (r < 0) {
		cfg_free(c.cfg);
		return r;
	}
	*ret = c.cfg;
	return 0;
}

int
cfg_load(const char *path, struct cfg **ret, struct diag_list *diags)
{
	return cfg_load_opts(path, NULL, ret, diags);
}

int
cfg_load_opts(const char *path, const struct cfg_opts *o, struct cfg **ret,
    struct diag_list *diags)
{
	char *text;
	size_t len;
	int r;

	r = yamlx_read_file(path, RULES_MAX_FILE, &text, &len, diags);
	if (r < 0)
		return r;
	r = cfg_load_buffer_opts(path, text, len, o, ret, diags);
	free(text);
	return r;
}

int
cfg_check_run(const struct cfg *cfg, const char *file, struct diag_list *diags)
{
	if (cfg->sqs.queue_url == NULL && cfg->lookup.n_regions == 0)
		return diag_list_add(diags, -EINVAL, file, 0, 0, "%s",
		    CFG_MSG_NO_SOURCE);
	return 0;
}

const struct cfg_dest *
cfg_dest_find(const struct cfg *cfg, const char *name)
{
	size_t i;

	if (cfg == NULL || name == NULL)
		return NULL;
	for (i = 0; i < cfg->n_destinations; i++)
		if (strcmp(cfg->destinations[i].name, name) == 0)
			return &cfg->destinations[i];
	return NULL;
}

const char *
cfg_dest_opt(const struct cfg_dest *d, const char *key)
{
	size_t i;

	if (d == NULL || d->kind == NULL)
		return NULL;
	i = sink_kind_opt(d->kind, key);
	return i < d->kind->n_opts ? secret_value(d->opts[i]) : NULL;
}

/* ---- summary ----------------------------------------------------------- */

static int
cfg_put_list(struct buf *out, const char *key, char *const *v, size_t n,
    const char *none)
{
	size_t i;
	int r;

	r = buf_printf(out, "%s: ", key);
	for (i = 0; i < n && r >= 0; i++)
		r = buf_printf(out, "%s%s", i > 0 ? ", " : "", v[i]);
	if (r >= 0 && n == 0)
		r = buf_puts(out, none);
	return r < 0 ? r : buf_putc(out, '\n');
}

static int
cfg_put_url(struct buf *out, const char *key, const char *url, const char *none)
{
	char red[300];

	if (url == NULL)
		return buf_printf(out, "%s: %s\n", key, none);
	return buf_printf(out, "%s: %s\n", key,
	    http_url_redact(url, red, sizeof(red)));
}

/* One option of a destination as check shows it: secrets never. */
static int
cfg_put_opt(struct buf *out, const struct sink_opt *o, const struct secret *v)
{
	char red[300];
	char q[YAMLX_Q_SIZE];

	switch (o->form) {
	case SINK_OPT_TEXT:
		return buf_printf(out, " %s '%s'", o->key,
		    yamlx_q(q, sizeof(q), secret_value(v), secret_len(v)));
	case SINK_OPT_SECRET:
		return buf_printf(out, " %s (secret)", o->key);
	case SINK_OPT_URL:
		return buf_printf(out, " %s %s (secret)", o->key,
		    http_url_redact(secret_value(v), red, sizeof(red)));
	}
	return 0;
}

static int
cfg_put_dest(struct buf *out, const struct cfg_dest *d)
{
	static const char *const units[] = {"s", "m", "h", "d"};
	static const uint64_t per[] = {1, 60, 3600, 86400};
	const struct sink_kind *k = d->kind;
	char t1[32];
	char t2[32];
	const char *unit = NULL;
	size_t i;
	int r;

	r = buf_printf(out, "destination %s: %s", d->name, k->name);
	for (i = 0; i < k->n_opts && r >= 0; i++)
		if ((d->unread & (1u << i)) != 0)
			r = buf_printf(out, " %s (credential, not checked)",
			    k->opts[i].key);
		else if (d->opts[i] != NULL)
			r = cfg_put_opt(out, &k->opts[i], d->opts[i]);
	if (r >= 0 && k->network)
		r = buf_printf(out, " timeout %s deadline %s",
		    cfg_fmt_duration((uint64_t)d->timeout_ms * US_PER_MS, t1,
			sizeof(t1)),
		    cfg_fmt_duration(d->deadline_us, t2, sizeof(t2)));
	for (i = 0; i < ARRAY_SIZE(per); i++)
		if (d->rate_period_us == per[i] * US_PER_S)
			unit = units[i];
	if (r >= 0 && d->rate_count != 0 && unit != NULL)
		r = buf_printf(out, " rate %u/%s", d->rate_count, unit);
	return r < 0 ? r : buf_putc(out, '\n');
}

static int
cfg_put_route(struct buf *out, size_t i, const struct cfg_route *rt)
{
	const char *sep = "";
	unsigned sev;
	int r;

	r = buf_printf(out, "route %zu: ", i + 1);
	if (r >= 0 && rt->severities == CFG_SEV_ALL)
		r = buf_puts(out, "any severity");
	for (sev = 0;
	     sev < RULES_SEV_COUNT && r >= 0 && rt->severities != CFG_SEV_ALL;
	     sev++) {
		if ((rt->severities & (1u << sev)) == 0)
			continue;
		r = buf_printf(out, "%s%s", sep,
		    rules_severity_str((enum rules_severity)sev));
		sep = ", ";
	}
	sep = " -> ";
	for (i = 0; i < rt->n_destinations && r >= 0; i++) {
		r = buf_printf(out, "%s%s", sep, rt->destinations[i]);
		sep = ", ";
	}
	if (r >= 0 && rt->cont)
		r = buf_puts(out, " (continue)");
	return r < 0 ? r : buf_putc(out, '\n');
}

int
cfg_summary(const struct cfg *cfg, struct buf *out)
{
	char q[YAMLX_Q_SIZE];
	char t1[32];
	char t2[32];
	char t3[32];
	char t4[32];
	size_t i;
	int r;

	r = buf_printf(out, "config: %s\n",
	    cfg->file != NULL ? cfg->file : "(defaults)");
	if (r >= 0)
		r = buf_printf(out, "aws.region: %s\naws.profile: %s\n",
		    cfg->aws.region != NULL ? cfg->aws.region
					    : "(environment or profile)",
		    cfg->aws.profile != NULL ? cfg->aws.profile
					     : "(AWS_PROFILE, else default)");
	if (r >= 0)
		r = cfg_put_url(out, "aws.endpoint_url", cfg->aws.endpoint_url,
		    "(environment, else AWS)");
	if (r >= 0 && cfg->aws.role_arn != NULL)
		r = buf_printf(out,
		    "aws.role_arn: %s\naws.external_id: %s\n"
		    "aws.role_session_name: %s\n",
		    cfg->aws.role_arn,
		    cfg->aws.external_id != NULL ? "(set)" : "(none)",
		    cfg->aws.role_session_name != NULL
			? cfg->aws.role_session_name
			: "(smtrail-<host name>)");
	if (r >= 0)
		r = cfg_put_url(out, "sqs.queue_url", cfg->sqs.queue_url,
		    "(none)");
	if (r >= 0)
		r = buf_printf(out,
		    "sqs.wait_time: %s\nsqs.visibility_timeout: %s\n"
		    "sqs.max_messages: %u\nsqs.max_receive_count: %u%s\n",
		    cfg_fmt_duration(cfg->sqs.wait_time_s * US_PER_S, t1,
			sizeof(t1)),
		    cfg_fmt_duration(cfg->sqs.visibility_timeout_s * US_PER_S,
			t2, sizeof(t2)),
		    cfg->sqs.max_messages, cfg->sqs.max_receive_count,
		    cfg->sqs.max_receive_count == 0 ? " (off)" : "");
	if (r >= 0)
		r = cfg_put_list(out, "lookup.regions", cfg->lookup.regions,
		    cfg->lookup.n_regions, "(none: no lookup)");
	if (r >= 0 && cfg->lookup.n_regions > 0)
		r = buf_printf(out,
		    "lookup.interval: %s\nlookup.since: %s\n"
		    "lookup.overlap: %s\n",
		    cfg_fmt_duration(cfg->lookup.interval_s * US_PER_S, t1,
			sizeof(t1)),
		    cfg_fmt_duration(cfg->lookup.since_s * US_PER_S, t2,
			sizeof(t2)),
		    cfg_fmt_duration(cfg->lookup.overlap_s * US_PER_S, t3,
			sizeof(t3)));
	if (r >= 0)
		r = cfg_put_list(out, "s3.allowed_buckets",
		    cfg->s3.allowed_buckets, cfg->s3.n_allowed_buckets,
		    "(any bucket)");
	if (r >= 0)
		r = buf_printf(out,
		    "s3.max_object_size: %s\nsns.verify_signatures: %s\n"
		    "sns.cert_url_pattern: %s\n",
		    cfg_fmt_size(cfg->s3.max_object_size, t1, sizeof(t1)),
		    cfg->sns.verify_signatures ? "true" : "false",
		    yamlx_q(q, sizeof(q), cfg->sns.cert_url_pattern,
			strlen(cfg->sns.cert_url_pattern)));
	if (r >= 0)
		r = cfg_put_list(out, "sns.topic_arns", cfg->sns.topic_arns,
		    cfg->sns.n_topic_arns, "(any topic)");
	if (r >= 0)
		r = buf_printf(out,
		    "sns.confirm_subscriptions: %s%s\n"
		    "sns.subscribe_url_pattern: %s\n",
		    cfg->sns.confirm_subscriptions ? "true" : "false",
		    cfg->sns.confirm_subscriptions && cfg->sns.n_topic_arns == 0
			? " (no topic_arns: none confirmed)"
			: "",
		    yamlx_q(q, sizeof(q), cfg->sns.subscribe_url_pattern,
			strlen(cfg->sns.subscribe_url_pattern)));
	if (r >= 0)
		r = buf_printf(out,
		    "http.ca_file: %s\nhttp.ca_path: %s\nhttp.timeout: %s\n",
		    cfg->http.ca_file != NULL ? cfg->http.ca_file
					      : "(system default)",
		    cfg->http.ca_path != NULL ? cfg->http.ca_path
					      : "(system default)",
		    cfg_fmt_duration((uint64_t)cfg->http.timeout_ms * US_PER_MS,
			t1, sizeof(t1)));
	if (r >= 0)
		r = buf_printf(out,
		    "rules: %s\nstate_dir: %s\nlog_level: %s\n"
		    "metrics.listen: %s\nmetrics.queue_interval: %s\n"
		    "metrics.delivery_failing_after: %s\nspool.max_pending: %u\n"
		    "spool.pause_at: %u\nwindows.late: %s\n"
		    "windows.max_keys: %" PRIu64 "\nwindows.max_bytes: %s\n",
		    cfg->rules, cfg->state_dir, log_level_str(cfg->log_level),
		    cfg->metrics.listen != NULL ? cfg->metrics.listen : "off",
		    cfg_fmt_duration((uint64_t)cfg->metrics.queue_interval_s *
			    US_PER_S,
			t3, sizeof(t3)),
		    cfg_fmt_duration((uint64_t)cfg->metrics.delivery_failing_s *
			    US_PER_S,
			t4, sizeof(t4)),
		    cfg->spool.max_pending, cfg->spool.pause_at,
		    cfg_fmt_duration(cfg->windows.late_s * US_PER_S, t1,
			sizeof(t1)),
		    cfg->windows.max_keys,
		    cfg_fmt_size(cfg->windows.max_bytes, t2, sizeof(t2)));
	for (i = 0; i < cfg->n_accounts && r >= 0; i++)
		r = buf_printf(out, "accounts.%s: %s\n", cfg->accounts[i].id,
		    cfg->accounts[i].alias);
	if (r >= 0)
		r = cfg_put_list(out, "default_destinations",
		    cfg->default_destinations, cfg->n_default_destinations,
		    "(none)");
	for (i = 0; i < cfg->n_routes && r >= 0; i++)
		r = cfg_put_route(out, i, &cfg->routes[i]);
	for (i = 0; i < cfg->n_destinations && r >= 0; i++)
		r = cfg_put_dest(out, &cfg->destinations[i]);
	return r < 0 ? r : 0;
}

int
cfg_check_rules(const struct cfg *cfg, const struct rules *rs,
    const char *rules_file, struct diag_list *diags)
{
	size_t i;
	size_t j;
	int r = 0;

	for (i = 0; i < rules_count(rs); i++) {
		const struct rule *ru = rules_get(rs, i);

		for (j = 0; j < ru->n_destinations; j++)
			if (cfg_dest_find(cfg, ru->destinations[j]) == NULL)
				r = diag_list_add(diags, -EINVAL, rules_file,
				    ru->line, 0,
				    "rule '%s': destination '%s' is not defined in %s",
				    ru->id, ru->destinations[j],
				    cfg->file != NULL ? cfg->file
						      : "the configuration");
	}
	return r;
}

int
cfg_check_routes(const struct cfg *cfg, const struct rules *rs,
    const char *rules_file, struct diag_list *diags)
{
	const char *dests[1];
	size_t i;
	int r = 0;

	for (i = 0; i < rules_count(rs); i++) {
		const struct rule *ru = rules_get(rs, i);

		if (!ru->enabled || cfg_destinations(cfg, ru, dests, 1) > 0)
			continue;
		r = diag_list_add(diags, -EINVAL, rules_file, ru->line, 0,
		    "rule '%s' has no destination: name some in the rule, or "
		    "add a route for severity %s or default_destinations to %s",
		    ru->id, rules_severity_str(ru->severity),
		    cfg->file != NULL ? cfg->file : "the configuration");
	}
	return r;
}

size_t
cfg_destinations(const struct cfg *cfg, const struct rule *r, const char **out,
    size_t max)
{
	size_t n = 0;
	size_t i;
	size_t j;

	if (r == NULL)
		goto fallback;
	if (r->n_destinations > 0) {
		for (i = 0; i < r->n_destinations && n < max; i++)
			out[n++] = r->destinations[i];
		return n;
	}
	for (i = 0; i < cfg->n_routes; i++) {
		const struct cfg_route *rt = &cfg->routes[i];

		if ((rt->severities & (1u << r->severity)) == 0)
			continue;
		for (j = 0; j < rt->n_destinations && n < max; j++)
			out[n++] = rt->destinations[j];
		if (!rt->cont)
			return n;
	}
	if (n > 0)
		return n;
fallback:
	for (i = 0; i < cfg->n_default_destinations && n < max; i++)
		out[n++] = cfg->default_destinations[i];
	return n;
}
