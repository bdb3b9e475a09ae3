/*
 * main.c: the command line. Parses options, dispatches to a command, prints
 * what modules return, and maps outcomes to exit codes:
 * 0 success, 1 a file or check failed, 2 usage or configuration error.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include <event2/event.h>

#include "alert.h"
#include "aws/aws.h"
#include "aws/creds.h"
#include "aws/sqs.h"
#include "buf.h"
#include "cfg.h"
#include "daemon.h"
#include "deliver.h"
#include "diag.h"
#include "http.h"
#include "files.h"
#include "limits.h"
#include "log.h"
#include "rules.h"
#include "sink.h"
#include "trail.h"

#define EXIT_FILE_ERROR 1
#define EXIT_USAGE 2

static const char *arg_config = SMTRAIL_DEFAULT_CONFIG;
static bool arg_config_given;
static const char *arg_rules = SMTRAIL_DEFAULT_RULES;
static bool arg_rules_given;
static bool arg_log_level_given;
static bool arg_strict;
static bool arg_stats;
static bool arg_deliver;
static enum log_level arg_log_level = LOG_LEVEL_NOTICE;

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	int min_args;
	int max_args; /* -1: any */
};

static void
usage(FILE *f)
{
	(void)fprintf(f,
	    "usage: smtrail [OPTIONS] COMMAND [ARGS]\n"
	    "\n"
	    "Watch AWS Secrets Manager through CloudTrail and alert on rules.\n"
	    "\n"
	    "Commands:\n"
	    "  run                 run the daemon (SQS -> S3 -> rules -> sinks)\n"
	    "  check [--strict]    validate the configuration and the rules\n"
	    "  replay PATH...      scan CloudTrail log files or directories and\n"
	    "                      print one JSON alert per line\n"
	    "  aws-check           show region, credentials and endpoints, and\n"
	    "                      read the configured queue's attributes\n"
	    "  test-destination NAME\n"
	    "                      send a test alert to a configured destination\n"
	    "  version             print the version and build features\n"
	    "\n"
	    "Options (before or after the command):\n"
	    "  -c, --config FILE   configuration (default %s)\n"
	    "  -r, --rules FILE    rules (default %s)\n"
	    "      --strict        unknown event names are errors (check)\n"
	    "      --stats         print statistics to stderr (replay)\n"
	    "      --deliver       also send the alerts to their destinations\n"
	    "                      (replay)\n"
	    "  -l, --log-level L   err, warning, notice, info or debug\n"
	    "  -h, --help          this text\n"
	    "  -V, --version       same as the version command\n"
	    "\n"
	    "See smtrail(8) and smtrail-rules(5).\n",
	    SMTRAIL_DEFAULT_CONFIG, SMTRAIL_DEFAULT_RULES);
}

static void
print_diags(const struct diag_list *dl)
{
	char line[600];
	unsigned i;

	for (i = 0; i < dl->n; i++)
		(void)fprintf(stderr, "%s%s\n",
		    dl->items[i].warning ? "warning: " : "",
		    diag_format(&dl->items[i], line, sizeof(line)));
	if (dl->dropped != 0)
		(void)fprintf(stderr, "(%u more not shown)\n", dl->dropped);
}

/* --rules wins over the configuration's "rules". */
static const char *
rules_path(const struct cfg *c)
{
	return arg_rules_given || c == NULL ? arg_rules : c->rules;
}

static int
load_rules(const struct cfg *c, bool strict, struct rules **ret)
{
	const char *path = rules_path(c);
	struct diag_list dl;
	int r;

	memset(&dl, 0, sizeof(dl));
	r = rules_load(path, strict, ret, &dl);
	if (r == 0 && c != NULL)
		r = cfg_check_rules(c, *ret, path, &dl);
	print_diags(&dl);
	if (r < 0 && dl.n == 0)
		(void)fprintf(stderr, "%s: %s\n", path, strerror(-r));
	if (r < 0 && *ret != NULL) {
		rules_free(*ret);
		*ret = NULL;
	}
	return r;
}

/*
 * The configuration file: an explicit --config must exist; the default one
 * may be absent for the offline commands, which then use the defaults.
 * ret_present says which.
 */
static int
load_config(struct cfg **ret, bool *ret_present)
{
	struct diag_list dl;
	int r;

	*ret_present = false;
	if (access(arg_config, F_OK) < 0 && errno == ENOENT &&
	    !arg_config_given)
		return cfg_default(ret);
	memset(&dl, 0, sizeof(dl));
	r = cfg_load(arg_config, ret, &dl);
	print_diags(&dl);
	if (r < 0 && dl.n == 0)
		(void)fprintf(stderr, "%s: %s\n", arg_config, strerror(-r));
	if (r == 0)
		*ret_present = true;
	return r;
}

static int
cmd_check(int argc, char **argv)
{
	struct rules *rs = NULL;
	struct cfg *c = NULL;
	struct buf sum;
	bool present;
	size_t i;
	int r;

	UNUSED(argc);
	UNUSED(argv);
	if (load_config(&c, &present) < 0)
		return EXIT_FILE_ERROR;
	if (load_rules(c, arg_strict, &rs) < 0) {
		cfg_free(c);
		return EXIT_FILE_ERROR;
	}
	if (present) {
		struct diag_list dl;

		/* What run would do with these rules: somewhere to go. */
		memset(&dl, 0, sizeof(dl));
		r = cfg_check_routes(c, rs, rules_path(c), &dl);
		print_diags(&dl);
		if (r < 0) {
			rules_free(rs);
			cfg_free(c);
			return EXIT_FILE_ERROR;
		}
	}
	for (i = 0; i < rules_count(rs); i++) {
		const struct rule *ru = rules_get(rs, i);

		printf("%-32s %-8s %s%s\n", ru->id,
		    rules_severity_str(ru->severity), ru->title,
		    ru->enabled ? "" : " (disabled)");
	}
	printf("%s: %zu rules OK\n", rules_path(c), rules_count(rs));
	if (present) {
		buf_init(&sum, 1u << 20);
		r = cfg_summary(c, &sum);
		if (r == 0)
			printf("%s%s: configuration OK\n", sum.data, c->file);
		buf_done(&sum);
	} else {
		printf("%s: absent, defaults apply\n", arg_config);
	}
	rules_free(rs);
	cfg_free(c);
	return 0;
}

/* ---- sending alerts outside the daemon --------------------------------- */

/*
 * A small, synchronous-looking delivery pool for the CLI: each alert goes
 * to its destinations with a few retries (no spool: what fails is
 * reported and the exit status says so).
 */
#define CLI_SEND_ATTEMPTS 3

struct cli_sinks {
	struct event_base *base;
	struct http *http;
	const struct cfg *cfg;
	struct sink **sinks; /* by destination index, built on first use */
	unsigned in_flight;
	unsigned delivered;
	unsigned failed;
	bool verbose;
};

struct cli_send {
	struct cli_sinks *cs;
	struct sink *sink;
	char *json;
	size_t len;
	unsigned attempt;
	struct event *timer;
};

static int
cli_sinks_init(struct cli_sinks *cs, const struct cfg *c)
{
	memset(cs, 0, sizeof(*cs));
	cs->cfg = c;
	cs->base = http_base_new();
	if (cs->base == NULL)
		return -ENOMEM;
	cs->sinks = calloc(c->n_destinations + 1, sizeof(*cs->sinks));
	if (cs->sinks == NULL)
		return -ENOMEM;
	return http_new(cs->base, NULL, &cs->http);
}

static void
cli_sinks_done(struct cli_sinks *cs)
{
	size_t i;

	for (i = 0; cs->sinks != NULL && i < cs->cfg->n_destinations; i++)
		sink_free(cs->sinks[i]);
	free(cs->sinks);
	http_free(cs->http);
	if (cs->base != NULL)
		event_base_free(cs->base);
}

static struct sink *
cli_sink(struct cli_sinks *cs, const char *name)
{
	struct diag dg;
	size_t i;

	for (i = 0; i < cs->cfg->n_destinations; i++) {
		if (strcmp(cs->cfg->destinations[i].name, name) != 0)
			continue;
		if (cs->sinks[i] == NULL) {
			memset(&dg, 0, sizeof(dg));
			if (deliver_sink_new(&cs->cfg->destinations[i],
				cs->base, cs->http, &cs->sinks[i], &dg) < 0)
				(void)fprintf(stderr, "smtrail: %s\n", dg.msg);
		}
		return cs->sinks[i];
	}
	return NULL;
}

static void cli_send_done(const struct sink_outcome *o, void *arg);

static void
cli_send_free(struct cli_send *cd)
{
	if (cd->timer != NULL)
		event_free(cd->timer);
	free(cd->json);
	free(cd);
}

static void
cli_send_start(struct cli_send *cd)
{
	int r = sink_send(cd->sink, cd->json, cd->len, cli_send_done, cd);

	if (r < 0) {
		(void)fprintf(stderr, "smtrail: %s: %s\n", sink_name(cd->sink),
		    strerror(-r));
		cd->cs->failed++;
		cd->cs->in_flight--;
		cli_send_free(cd);
	}
}

static void
cli_send_retry(evutil_socket_t fd, short what, void *arg)
{
	UNUSED(fd);
	UNUSED(what);
	cli_send_start(arg);
}

static void
cli_send_done(const struct sink_outcome *o, void *arg)
{
	struct cli_send *cd = arg;
	struct cli_sinks *cs = cd->cs;

	cd->attempt++;
	if (o->result == SINK_RETRY && cd->attempt < CLI_SEND_ATTEMPTS) {
		struct timeval tv = {1, 0};

		if (o->retry_after_ms > 1000)
			tv.tv_sec = (time_t)(o->retry_after_ms / 1000);
		if (cd->timer == NULL)
			cd->timer = evtimer_new(cs->base, cli_send_retry, cd);
		if (cd->timer != NULL && evtimer_add(cd->timer, &tv) == 0)
			return;
	}
	if (cs->verbose || o->result != SINK_DELIVERED)
		printf("%s (%s): %s (%s)\n", sink_name(cd->sink),
		    sink_type_str(sink_type(cd->sink)),
		    o->result == SINK_DELIVERED ? "delivered" : "failed",
		    o->detail[0] ? o->detail : sink_result_str(o->result));
	if (o->result == SINK_DELIVERED)
		cs->delivered++;
	else
		cs->failed++;
	cs->in_flight--;
	cli_send_free(cd);
	if (cs->in_flight == 0)
		(void)event_base_loopbreak(cs->base);
}

/* Queues one alert (JSON text, copied) for one destination. */
static int
cli_send(struct cli_sinks *cs, const char *dest, const char *json, size_t len)
{
	struct sink *sk = cli_sink(cs, dest);
	struct cli_send *cd;

	if (sk == NULL) {
		cs->failed++;
		return -ENOENT;
	}
	cd = calloc(1, sizeof(*cd));
	if (cd == NULL)
		return -ENOMEM;
	cd->cs = cs;
	cd->sink = sk;
	cd->json = strndup(json, len);
	cd->len = len;
	if (cd->json == NULL) {
		free(cd);
		return -ENOMEM;
	}
	cs->in_flight++;
	cli_send_start(cd);
	return 0;
}

static void
cli_sinks_wait(struct cli_sinks *cs)
{
	if (cs->in_flight > 0)
		(void)event_base_dispatch(cs->base);
}

struct replay {
	const struct rules *rules;
	const struct cfg *cfg;
	struct cli_sinks *deliver; /* --deliver, else NULL */
	struct buf line;
	uint64_t alerts;
	int error;
};

/* Sends the alert to its destinations (replay --deliver), keeping at most
 * a few dozen deliveries in flight. */
static int
replay_deliver(struct replay *rp, const struct rule *rule,
    const struct alert *a)
{
	const char *dests[32];
	struct buf json;
	size_t n;
	size_t i;
	int r;

	n = cfg_destinations(rp->cfg, rule, dests, ARRAY_SIZE(dests));
	if (n == 0)
		return 0;
	buf_init(&json, ALERT_MAX_JSON + 2 * (size_t)TRAIL_MAX_RECORD);
	r = alert_json(a, true, &json);
	for (i = 0; r == 0 && i < n; i++)
		r = cli_send(rp->deliver, dests[i], json.data, json.len);
	buf_done(&json);
	while (rp->deliver->in_flight > 32)
		(void)event_base_loop(rp->deliver->base, EVLOOP_ONCE);
	(void)event_base_loop(rp->deliver->base, EVLOOP_NONBLOCK);
	return r == -ENOENT ? 0 : r;
}

static int
replay_record(struct json_object *rec, struct span raw, void *arg)
{
	struct replay *rp = arg;
	size_t i;
	int r;

	UNUSED(raw);
	for (i = 0; i < rules_count(rp->rules); i++) {
		const struct rule *rule = rules_get(rp->rules, i);
		struct alert a;

		if (!rule->enabled || !rules_match_eval(rule->match, rec))
			continue;
		r = alert_build(rule, rec, &a);
		if (r < 0)
			return r;
		buf_reset(&rp->line);
		r = alert_json(&a, false, &rp->line);
		if (r == 0 && rp->deliver != NULL)
			r = replay_deliver(rp, rule, &a);
		alert_done(&a);
		if (r < 0)
			return r;
		r = buf_putc(&rp->line, '\n');
		if (r < 0)
			return r;
		if (fwrite(rp->line.data, 1, rp->line.len, stdout) !=
		    rp->line.len)
			return -EIO;
		rp->alerts++;
	}
	return 0;
}

static double
now_s(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct replay_totals {
	uint64_t files;
	uint64_t failed;
	struct trail_stats st;
};

static void
replay_add(struct replay_totals *tot, const struct trail_stats *st)
{
	tot->st.bytes_in += st->bytes_in;
	tot->st.bytes_json += st->bytes_json;
	tot->st.records += st->records;
	tot->st.candidates += st->candidates;
	tot->st.matched += st->matched;
	tot->st.skipped += st->skipped;
}

static void
replay_print_stats(const struct replay_totals *tot, uint64_t alerts,
    double secs)
{
	double mb = (double)tot->st.bytes_json / 1e6;

	(void)fprintf(stderr,
	    "files: %llu (%llu failed)\n"
	    "bytes: %llu read, %llu JSON\n"
	    "records: %llu scanned, %llu candidates, %llu Secrets Manager\n"
	    "skipped: %llu records over the size or nesting limit\n"
	    "alerts: %llu\n"
	    "time: %.3f s, %.1f MB/s of JSON, %.0f records/s\n"
	    "inflater: %s\n",
	    (unsigned long long)tot->files, (unsigned long long)tot->failed,
	    (unsigned long long)tot->st.bytes_in,
	    (unsigned long long)tot->st.bytes_json,
	    (unsigned long long)tot->st.records,
	    (unsigned long long)tot->st.candidates,
	    (unsigned long long)tot->st.matched,
	    (unsigned long long)tot->st.skipped, (unsigned long long)alerts,
	    secs, secs > 0 ? mb / secs : 0.0,
	    secs > 0 ? (double)tot->st.records / secs : 0.0, trail_inflater());
}

static int
cmd_replay(int argc, char **argv)
{
	struct replay_totals tot;
	struct files_list fl = {0};
	struct replay rp;
	struct rules *rs = NULL;
	struct trail *t = NULL;
	struct cfg *cfg = NULL;
	struct cli_sinks deliver;
	bool present;
	double start;
	size_t i;
	int r;

	if (load_config(&cfg, &present) < 0)
		return EXIT_USAGE;
	r = load_rules(cfg, false, &rs);
	if (r < 0) {
		cfg_free(cfg);
		return EXIT_USAGE;
	}
	r = files_expand(argv, (size_t)argc, &fl);
	if (r == 0)
		r = trail_new(&t);
	if (r < 0) {
		(void)fprintf(stderr, "smtrail: %s\n", strerror(-r));
		files_list_done(&fl);
		rules_free(rs);
		cfg_free(cfg);
		return EXIT_USAGE;
	}
	memset(&tot, 0, sizeof(tot));
	memset(&rp, 0, sizeof(rp));
	rp.rules = rs;
	rp.cfg = cfg;
	if (arg_deliver) {
		r = cli_sinks_init(&deliver, cfg);
		if (r < 0) {
			(void)fprintf(stderr, "smtrail: %s\n", strerror(-r));
			cli_sinks_done(&deliver);
			trail_free(t);
			files_list_done(&fl);
			rules_free(rs);
			cfg_free(cfg);
			return EXIT_USAGE;
		}
		rp.deliver = &deliver;
	}
	buf_init(&rp.line, ALERT_MAX_JSON);
	start = now_s();
	for (i = 0; i < fl.n; i++) {
		struct diag d;
		char msg[600];

		memset(&d, 0, sizeof(d));
		r = files_scan(fl.paths[i], t, replay_record, &rp, &d);
		tot.files++;
		replay_add(&tot, trail_stats(t));
		if (trail_skipped_first(t) != NULL)
			(void)fprintf(stderr,
			    "smtrail: %s: warning: %llu record(s) skipped, unread "
			    "(first: %s)\n",
			    fl.paths[i],
			    (unsigned long long)trail_stats(t)->skipped,
			    trail_skipped_first(t)->msg);
		if (r < 0) {
			tot.failed++;
			(void)fprintf(stderr, "smtrail: %s\n",
			    diag_format(&d, msg, sizeof(msg)));
		}
	}
	if (rp.deliver != NULL) {
		cli_sinks_wait(rp.deliver);
		(void)fprintf(stderr, "deliveries: %u delivered, %u failed\n",
		    deliver.delivered, deliver.failed);
		if (deliver.failed > 0)
			tot.failed++;
		cli_sinks_done(rp.deliver);
	}
	(void)fflush(stdout);
	if (arg_stats)
		replay_print_stats(&tot, rp.alerts, now_s() - start);
	cfg_free(cfg);
	buf_done(&rp.line);
	trail_free(t);
	files_list_done(&fl);
	rules_free(rs);
	return tot.failed != 0 ? EXIT_FILE_ERROR : 0;
}

static int
cmd_test_destination(int argc, char **argv)
{
	const struct cfg_dest *cd;
	struct cli_sinks cs = {0};
	struct cfg *c = NULL;
	struct buf json;
	char host[256];
	char when[32];
	time_t now = time(NULL);
	bool present;
	int r;

	UNUSED(argc);
	if (load_config(&c, &present) < 0)
		return EXIT_USAGE;
	cd = cfg_dest_find(c, argv[0]);
	if (cd == NULL) {
		(void)fprintf(stderr, "smtrail: no destination '%s' in %s\n",
		    argv[0], present ? c->file : arg_config);
		cfg_free(c);
		return EXIT_USAGE;
	}
	if (gethostname(host, sizeof(host)) < 0)
		(void)snprintf(host, sizeof(host), "this host");
	host[sizeof(host) - 1] = '\0';
	(void)strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	/* A clearly marked alert with every member a real one has. */
	buf_init(&json, 64u << 10);
	r = buf_printf(&json,
	    "{\"rule\":\"smtrail-test\",\"title\":\"smtrail test alert\","
	    "\"severity\":\"info\",\"summary\":\"TEST: if you can read this, "
	    "smtrail on %s can deliver to '%s'. Nothing happened to any "
	    "secret.\",\"eventID\":\"smtrail-test-%lld\","
	    "\"eventName\":\"TestDestination\",\"eventTime\":\"%s\","
	    "\"awsRegion\":\"%s\",\"recipientAccountId\":null,"
	    "\"secretId\":null,\"principal\":null,\"sourceIPAddress\":null,"
	    "\"errorCode\":null,\"group\":\"smtrail-test\",\"test\":true,"
	    "\"record\":{}}",
	    host, cd->name, (long long)now, when,
	    c->aws.region != NULL ? c->aws.region : "us-east-1");
	if (r == 0)
		r = cli_sinks_init(&cs, c);
	if (r == 0) {
		cs.verbose = true;
		r = cli_send(&cs, cd->name, json.data, json.len);
		cli_sinks_wait(&cs);
	}
	(void)fflush(stdout);
	r = r < 0 || cs.failed > 0 || cs.delivered != 1 ? EXIT_FILE_ERROR : 0;
	cli_sinks_done(&cs);
	buf_done(&json);
	cfg_free(c);
	return r;
}

static int
cmd_version(int argc, char **argv)
{
	UNUSED(argc);
	UNUSED(argv);
	printf("smtrail %s\n", PACKAGE_VERSION);
	printf("inflater: %s\n", trail_inflater());
	printf("scan kernel: %s\n", trail_kernel_str(trail_kernel_best()));
	printf("json-c: %s\n", json_c_version());
	printf("config: %s\nrules: %s\n", SMTRAIL_DEFAULT_CONFIG,
	    SMTRAIL_DEFAULT_RULES);
	return 0;
}

static int
cmd_run(int argc, char **argv)
{
	struct daemon_opts o;

	UNUSED(argc);
	UNUSED(argv);
	memset(&o, 0, sizeof(o));
	o.config_path = arg_config;
	o.rules_path = arg_rules_given ? arg_rules : NULL;
	o.log_level = arg_log_level;
	o.log_level_given = arg_log_level_given;
	return daemon_run(&o);
}

/* ---- aws-check ---------------------------------------------------------- */

struct awscheck {
	struct event_base *base;
	int done;
	int status;
	struct json_object *attrs;
};

static void
awscheck_creds(const struct aws_creds *c, int r, const struct diag *d,
    void *arg)
{
	struct awscheck *ac = arg;

	ac->done = 1;
	if (r < 0) {
		printf("credentials: none (%s)\n", d != NULL ? d->msg : "");
		ac->status = EXIT_FILE_ERROR;
	} else {
		/* The provider and the key id's first characters, never the
		 * secret or the token. */
		printf("credentials: from %s (key %.4s..., %s)\n", c->provider,
		    c->access_key_id,
		    c->session_token != NULL ? "temporary, with a session token"
					     : "long-term");
	}
	(void)event_base_loopbreak(ac->base);
}

static void
awscheck_attrs(const struct aws_result *res, struct json_object *attrs,
    void *arg)
{
	struct awscheck *ac = arg;
	struct json_object *v;

	ac->done = 1;
	if (res->error != 0) {
		printf("queue: GetQueueAttributes failed: %s%s%s (%s)\n",
		    res->code, res->code[0] ? ": " : "", res->message,
		    strerror(-res->error));
		if (res->error == -EACCES)
			printf("hint: the credentials above need "
			       "sqs:ReceiveMessage, sqs:DeleteMessage, "
			       "sqs:ChangeMessageVisibility and "
			       "sqs:GetQueueAttributes on this queue, and "
			       "s3:GetObject on the trail's bucket\n");
		ac->status = EXIT_FILE_ERROR;
	} else {
		if (json_object_object_get_ex(attrs, "QueueArn", &v))
			printf("queue: %s\n", json_object_get_string(v));
		if (json_object_object_get_ex(attrs,
			"ApproximateNumberOfMessages", &v))
			printf("queue: %s message(s) waiting\n",
			    json_object_get_string(v));
		if (json_object_object_get_ex(attrs, "VisibilityTimeout", &v))
			printf("queue: visibility timeout %ss\n",
			    json_object_get_string(v));
		printf("queue: redrive policy %s\n",
		    json_object_object_get_ex(attrs, "RedrivePolicy", &v)
			? json_object_get_string(v)
			: "none (set sqs.max_receive_count, or give the queue "
			  "a dead-letter queue)");
	}
	(void)event_base_loopbreak(ac->base);
}

static int
cmd_aws_check(int argc, char **argv)
{
	static const char *const names[] = {"All"};
	struct awscheck ac;
	struct http *http = NULL;
	struct creds *cr = NULL;
	struct aws *aws = NULL;
	struct cfg *c = NULL;
	struct creds_opts co;
	struct aws_opts ao;
	struct diag dg;
	bool present;
	int r;

	UNUSED(argc);
	UNUSED(argv);
	if (load_config(&c, &present) < 0)
		return EXIT_USAGE;
	memset(&ac, 0, sizeof(ac));
	memset(&dg, 0, sizeof(dg));
	ac.base = http_base_new();
	r = ac.base == NULL ? -ENOMEM : http_new(ac.base, NULL, &http);
	memset(&co, 0, sizeof(co));
	co.profile = c->aws.profile;
	co.region = c->aws.region;
	if (r == 0)
		r = creds_new(ac.base, http, &co, &cr);
	memset(&ao, 0, sizeof(ao));
	ao.region = c->aws.region;
	ao.profile = c->aws.profile;
	ao.endpoint_url = c->aws.endpoint_url;
	ao.max_attempts = 2;
	if (r == 0)
		r = aws_new(ac.base, http, cr, &ao, &aws, &dg);
	if (r < 0) {
		printf("region: %s\n", dg.msg[0] ? dg.msg : strerror(-r));
		ac.status = EXIT_FILE_ERROR;
		goto out;
	}
	printf("config: %s\n", present ? c->file : "(absent, defaults)");
	printf("region: %s\n", aws_region(aws));
	printf("endpoint: sqs %s\n", aws_endpoint(aws, "sqs"));
	printf("endpoint: s3 %s (%s)\n", aws_endpoint(aws, "s3"),
	    aws_s3_path_style(aws) ? "path-style" : "virtual-hosted");
	r = creds_get(cr, awscheck_creds, &ac);
	if (r == 0)
		(void)event_base_dispatch(ac.base);
	if (r < 0 || ac.status != 0) {
		ac.status = EXIT_FILE_ERROR;
		goto out;
	}
	if (c->sqs.queue_url == NULL) {
		printf("queue: sqs.queue_url is not set in %s\n", arg_config);
		ac.status = EXIT_FILE_ERROR;
		goto out;
	}
	printf("queue: %s\n", c->sqs.queue_url);
	ac.done = 0;
	r = sqs_get_queue_attributes(aws, c->sqs.queue_url, names, 1,
	    awscheck_attrs, &ac, NULL);
	if (r == 0)
		(void)event_base_dispatch(ac.base);
	else
		ac.status = EXIT_FILE_ERROR;
out:
	(void)fflush(stdout);
	aws_free(aws);
	creds_free(cr);
	http_free(http);
	if (ac.base != NULL)
		event_base_free(ac.base);
	cfg_free(c);
	return ac.status;
}

static const struct command commands[] = {
    {"run", cmd_run, 0, 0},
    {"check", cmd_check, 0, 0},
    {"replay", cmd_replay, 1, -1},
    {"version", cmd_version, 0, 0},
    {"aws-check", cmd_aws_check, 0, 0},
    {"test-destination", cmd_test_destination, 1, 1},
};

enum {
	OPT_STRICT = 256,
	OPT_STATS,
	OPT_DELIVER,
};

static int
parse_options(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"rules", required_argument, NULL, 'r'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"strict", no_argument, NULL, OPT_STRICT},
	    {"stats", no_argument, NULL, OPT_STATS},
	    {"deliver", no_argument, NULL, OPT_DELIVER},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:r:l:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			arg_config = optarg;
			arg_config_given = true;
			break;
		case 'r':
			arg_rules = optarg;
			arg_rules_given = true;
			break;
		case 'l':
			arg_log_level_given = true;
			if (log_level_parse(optarg, &arg_log_level) < 0) {
				(void)fprintf(stderr,
				    "smtrail: unknown log level '%s'\n",
				    optarg);
				return -EINVAL;
			}
			break;
		case OPT_STRICT:
			arg_strict = true;
			break;
		case OPT_STATS:
			arg_stats = true;
			break;
		case OPT_DELIVER:
			arg_deliver = true;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'V':
			return 2;
		default:
			return -EINVAL;
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	const struct command *cmd = NULL;
	int nargs;
	size_t i;
	int r;

	r = parse_options(argc, argv);
	if (r < 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (r == 1)
		return 0;
	if (r == 2)
		return cmd_version(0, NULL);
	log_init("smtrail", arg_log_level, log_stderr_is_journal());
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[optind], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (i = 0; i < ARRAY_SIZE(commands); i++)
		if (strcmp(argv[optind], commands[i].name) == 0)
			cmd = &commands[i];
	if (cmd == NULL) {
		(void)fprintf(stderr, "smtrail: unknown command '%s'\n",
		    argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	nargs = argc - optind - 1;
	if (nargs < cmd->min_args ||
	    (cmd->max_args >= 0 && nargs > cmd->max_args)) {
		(void)fprintf(stderr,
		    "smtrail: %s: wrong number of arguments\n", cmd->name);
		usage(stderr);
		return EXIT_USAGE;
	}
	return cmd->fn(nargs, argv + optind + 1);
}
