/*
 * main.c: the command line. Parses options, dispatches to a command, prints
 * what modules return, and maps outcomes to exit codes:
 * 0 success, 1 a file or check failed, 2 usage or configuration error.
 */
#include "config.h"

#include "commit.h" /* SMTRAIL_COMMIT, made by make */

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
#include "awscheck.h"
#include "backfill.h"
#include "buf.h"
#include "cfg.h"
#include "clock.h"
#include "daemon.h"
#include "diag.h"
#include "http.h"
#include "files.h"
#include "replay.h"
#include "bounds.h"
#include "log.h"
#include "quote.h"
#include "record.h"
#include "rules.h"
#include "ruletest.h"
#include "secret.h"
#include "sink.h"
#include "sigma.h"
#include "sink_kind.h"
#include "spoolcmd.h"
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
static const char *arg_state;
static bool arg_no_state;
static const char *arg_explain;
/* test-destination: report every outcome (replay: only failures). */
static bool arg_verbose_delivery;
static enum log_level arg_log_level = LOG_LEVEL_NOTICE;
/* check: as the service will run. */
static const char *arg_credentials_dir;
static const char *arg_as_user;
static bool arg_rules_only;
/* spool list, retry, purge */
static bool arg_failed;
static bool arg_pending;
static bool arg_json;
static bool arg_all_failed;
static const char *arg_older_than;
/* backfill */
static const char *arg_bucket;
static const char *arg_prefix;
static const char *arg_since;
static const char *arg_until;
static bool arg_dry_run;
static const char *arg_jobs;
static const char *arg_checkpoint;

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
	    "  check [--strict]    validate the configuration and the rules as\n"
	    "                      run will use them\n"
	    "  replay PATH...      scan CloudTrail log files or directories and\n"
	    "                      print one JSON alert per line\n"
	    "  test [--rules FILE] TESTFILE...\n"
	    "                      run rule test cases (smtrail-test(5))\n"
	    "  aws-check           show regions, endpoints and credentials, and\n"
	    "                      test the queue and buckets as run uses them\n"
	    "  test-destination NAME\n"
	    "                      send a test alert to a configured destination\n"
	    "  spool list [--failed|--pending] [--json]\n"
	    "                      the alerts the spool keeps, and where each\n"
	    "                      destination stands\n"
	    "  spool retry ID...|--all-failed\n"
	    "                      deliver failed alerts again\n"
	    "  spool purge [--older-than D] [ID...]\n"
	    "                      drop failed alerts\n"
	    "  sigma-import FILE...\n"
	    "                      translate Sigma rules for AWS CloudTrail\n"
	    "                      into smtrail rules, on standard output\n"
	    "  backfill --bucket B [--prefix P] --since T [--until T]\n"
	    "           [--dry-run] [--jobs N] [--checkpoint FILE]\n"
	    "                      scan a trail's bucket over past days and\n"
	    "                      deliver (or print) the alerts, resumably\n"
	    "  version             print the version and build features\n"
	    "\n"
	    "Options (before or after the command):\n"
	    "  -c, --config FILE   configuration (default %s)\n"
	    "  -r, --rules FILE    rules (default %s)\n"
	    "      --strict        check: every warning is an error (unknown\n"
	    "                      event names, advice on the configuration)\n"
	    "      --rules-only    check: the rules and their destinations,\n"
	    "                      not what run needs of the configuration\n"
	    "      --credentials-dir DIR\n"
	    "                      check: read credential:NAME secrets from DIR\n"
	    "                      (default $CREDENTIALS_DIRECTORY; neither:\n"
	    "                      not checked)\n"
	    "      --as-user USER  check: secret files must be readable by USER\n"
	    "                      (a name or a uid), the service's user\n"
	    "      --stats         print statistics to stderr (replay)\n"
	    "      --deliver       also send the alerts to their destinations\n"
	    "                      (replay)\n"
	    "      --state DIR     keep replay's state (spool, windows) in DIR,\n"
	    "                      to continue it later (default: a temporary\n"
	    "                      directory)\n"
	    "      --no-state      replay: print every match as it is (no\n"
	    "                      throttle, grouping, resolves or dedup)\n"
	    "      --explain RULE  replay: for each event, whether RULE\n"
	    "                      matched and, if not, the first condition\n"
	    "                      that failed and the value found\n"
	    "      --failed, --pending, --json, --all-failed, --older-than D\n"
	    "                      spool commands: see smtrail(8)\n"
	    "  -l, --log-level L   err, warning, notice, info or debug\n"
	    "  -h, --help          this text\n"
	    "  -V, --version       same as the version command\n"
	    "\n"
	    "See smtrail(8), smtrail-rules(5) and smtrail-test(5).\n",
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
 * ret_present says which. o: as check loads it (NULL: as run does).
 */
static int
load_config_opts(const struct cfg_opts *o, struct cfg **ret, bool *ret_present)
{
	struct diag_list dl;
	int r;

	*ret_present = false;
	if (access(arg_config, F_OK) < 0 && errno == ENOENT &&
	    !arg_config_given)
		return cfg_default(ret);
	memset(&dl, 0, sizeof(dl));
	r = cfg_load_opts(arg_config, o, ret, &dl);
	print_diags(&dl);
	if (r < 0 && dl.n == 0)
		(void)fprintf(stderr, "%s: %s\n", arg_config, strerror(-r));
	if (r == 0)
		*ret_present = true;
	return r;
}

static int
load_config(struct cfg **ret, bool *ret_present)
{
	return load_config_opts(NULL, ret, ret_present);
}

/*
 * check loads the configuration as the service will run it: credentials
 * from --credentials-dir or $CREDENTIALS_DIRECTORY (neither: not checked,
 * a warning), secret files as --as-user would read them (run as root
 * without it: a warning for those only root may read), and, unless
 * --rules-only, what run needs (a source) and advice. -EINVAL: a bad
 * --as-user, said.
 */
static int
check_opts(struct cfg_opts *o, struct secret_reader *reader)
{
	struct diag d;
	int r;

	memset(o, 0, sizeof(*o));
	o->credentials_dir = arg_credentials_dir;
	o->credentials_unread = true;
	o->strict = arg_strict;
	o->run = !arg_rules_only;
	o->advise = !arg_rules_only;
	if (arg_as_user == NULL && geteuid() == 0) {
		/* The service's user is not known: a file another user owns
		 * may be its; one only root may read is not. */
		memset(reader, 0, sizeof(*reader));
		reader->uid = SECRET_ANY_UID;
		(void)snprintf(reader->name, sizeof(reader->name),
		    "the service's user");
		o->reader = reader;
		o->warn_root_only = !arg_rules_only;
		return 0;
	}
	if (arg_as_user == NULL)
		return 0;
	memset(&d, 0, sizeof(d));
	r = secret_reader_user(arg_as_user, reader, &d);
	if (r < 0) {
		(void)fprintf(stderr, "smtrail: --as-user: %s\n", d.msg);
		return r;
	}
	o->reader = reader;
	return 0;
}

static int
cmd_check(int argc, char **argv)
{
	struct secret_reader reader;
	struct rules *rs = NULL;
	struct cfg *c = NULL;
	struct cfg_opts co;
	struct buf sum;
	bool present;
	bool failed = false;
	size_t i;
	int r;

	UNUSED(argc);
	UNUSED(argv);
	if (check_opts(&co, &reader) < 0)
		return EXIT_USAGE;
	if (load_config_opts(&co, &c, &present) < 0)
		return EXIT_FILE_ERROR;
	if (!present && co.run) {
		struct diag_list dl;

		/* What run, which wants the file, would lack; the rules are
		 * still checked. */
		memset(&dl, 0, sizeof(dl));
		failed = cfg_check_run(c, arg_config, &dl) < 0;
		print_diags(&dl);
	}
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
	return failed ? EXIT_FILE_ERROR : 0;
}

/* ---- replay and test-destination ------------------------------------- */

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

/* A delivery that ended, as the command line reports it. */
static void
cli_delivered(const char *dest, const struct sink_outcome *o, void *arg)
{
	const struct cfg *c = arg;
	const struct cfg_dest *cd = cfg_dest_find(c, dest);
	bool ok = o->result == SINK_DELIVERED;

	if (ok && !arg_verbose_delivery)
		return;
	printf("%s (%s): %s%s%s%s\n", dest, cd != NULL ? cd->kind->name : "?",
	    ok ? "delivered" : "failed", o->detail[0] ? " (" : "", o->detail,
	    o->detail[0] ? ")" : "");
}

static int
replay_open_opts(const struct replay_opts *ro, struct replay **ret)
{
	struct diag d;
	char msg[600];
	int r;

	memset(&d, 0, sizeof(d));
	r = replay_new(ro, ret, &d);
	if (r < 0)
		(void)fprintf(stderr, "smtrail: %s\n",
		    d.msg[0] != '\0' ? diag_format(&d, msg, sizeof(msg))
				     : strerror(-r));
	return r;
}

/* replay's print hook: an alert line on standard output. */
static int
cli_print(const char *line, size_t len, void *arg)
{
	UNUSED(arg);
	if (fwrite(line, 1, len, stdout) != len || putchar('\n') == EOF)
		return -EIO;
	return 0;
}

static int
replay_open(const struct cfg *cfg, const struct rules *rs, bool deliver,
    struct replay **ret)
{
	struct replay_opts ro;

	ro = (struct replay_opts){.cfg = cfg,
	    .rules = rs,
	    .state_dir = arg_state,
	    .no_state = arg_no_state,
	    .deliver = deliver,
	    .print = deliver && arg_verbose_delivery ? NULL : cli_print,
	    .delivered = cli_delivered,
	    .arg = (void *)cfg};
	return replay_open_opts(&ro, ret);
}

/* ---- replay --explain ---------------------------------------------------- */

/* What --explain knows while the engine takes one record. */
struct explain {
	const struct rule *rule;
	const char *file;   /* the rules file */
	struct buf alerted; /* eventIDs the rule alerted on, "\n"-ended */
	bool alerted_other; /* an alert without eventID */
};

/* replay's print hook with --explain: notes the rule's alerts. */
static int
explain_print(const char *line, size_t len, void *arg)
{
	struct explain *ex = arg;
	struct json_object *o;
	struct json_object *v;
	const char *id;
	int r = 0;

	/* Our own one-line JSON; if it could not be read, the line would
	 * only miss its state's word: not worth stopping the replay. */
	o = json_tokener_parse(line);
	UNUSED(len);
	if (o == NULL)
		return 0;
	if (json_object_object_get_ex(o, "rule", &v) &&
	    strcmp(json_object_get_string(v), ex->rule->id) == 0) {
		id = json_object_object_get_ex(o, "eventID", &v)
		    ? json_object_get_string(v)
		    : NULL;
		if (id == NULL)
			ex->alerted_other = true;
		else
			r = buf_printf(&ex->alerted, "%s\n", id);
	}
	json_object_put(o);
	return r;
}

/* Whether the rule alerted on the event id during the last feed. */
static bool
explain_alerted(const struct explain *ex, const char *id)
{
	const char *p = ex->alerted.data;
	size_t n = strlen(id);

	if (id[0] == '\0' || p == NULL)
		return ex->alerted_other;
	while (p < ex->alerted.data + ex->alerted.len) {
		const char *nl = strchr(p, '\n');

		if (nl == NULL)
			break;
		if ((size_t)(nl - p) == n && memcmp(p, id, n) == 0)
			return true;
		p = nl + 1;
	}
	return false;
}

/* What the rule's state did with a match (smtrail(8), --explain). */
static const char *
explain_state(const struct rule *ru, bool alerted)
{
	if (!ru->enabled)
		return " (disabled: no alert)";
	if (arg_no_state)
		return "";
	switch (ru->kind) {
	case RULES_KIND_EVENT:
		return alerted ? ""
			       : " (no alert now: throttled, held for "
				 "group_wait, or a duplicate)";
	case RULES_KIND_THRESHOLD:
		return alerted ? " (threshold: fired)"
			       : " (threshold: counted)";
	case RULES_KIND_DISTINCT:
		return alerted ? " (distinct: fired)" : " (distinct: counted)";
	case RULES_KIND_FIRST_SEEN:
		return alerted ? " (first_seen: fired)"
			       : " (first_seen: learning, or seen before)";
	case RULES_KIND_EXPECT:
		return " (expect: waiting for expect.match)";
	case RULES_KIND_COUNT:
		break;
	}
	return "";
}

/* replay's hook after each record: one line on standard output. */
static int
explain_fed(struct json_object *rec, void *arg)
{
	struct explain *ex = arg;
	char id[QUOTE_SIZE(RULES_WHY_VALUE)];
	char when[QUOTE_SIZE(64)];
	char name[QUOTE_SIZE(64)];
	char text[2048];
	struct rules_why why;
	const char *s;
	const char *extra = "";
	int m;

	s = record_string(rec, "eventID");
	quote_bytes(id, sizeof(id), s != NULL ? s : "-",
	    strlen(s != NULL ? s : "-"), RULES_WHY_VALUE);
	s = record_string(rec, "eventTime");
	quote_bytes(when, sizeof(when), s != NULL ? s : "-",
	    strlen(s != NULL ? s : "-"), 64);
	s = record_string(rec, "eventName");
	quote_bytes(name, sizeof(name), s != NULL ? s : "-",
	    strlen(s != NULL ? s : "-"), 64);
	m = rules_explain(ex->rule, rec, &why);
	if (m == 1) {
		s = record_string(rec, "eventID");
		printf("%s %s %s: match%s\n", id, when, name,
		    explain_state(ex->rule,
			explain_alerted(ex, s != NULL ? s : "")));
	} else {
		if (ex->rule->expected != NULL &&
		    rules_match_eval(ex->rule->expected, rec))
			extra = " (but expect.match: met)";
		else if (ex->rule->resolve_on != NULL &&
		    rules_match_eval(ex->rule->resolve_on, rec))
			extra = " (but resolve_on: matched)";
		printf("%s %s %s: no match: %s%s\n", id, when, name,
		    rules_why_format(&why, ex->file, text, sizeof(text)),
		    extra);
	}
	buf_reset(&ex->alerted);
	ex->alerted_other = false;
	return ferror(stdout) ? -EIO : 0;
}

/* --explain RULE: the rule, or a usage error naming the closest id. */
static int
explain_init(struct explain *ex, const struct rules *rs, const char *file)
{
	char hint[200];
	const char *best;

	memset(ex, 0, sizeof(*ex));
	ex->file = file;
	ex->rule = rules_find(rs, arg_explain);
	if (ex->rule == NULL) {
		best = rules_suggest_id(rs, arg_explain);
		if (best != NULL)
			(void)snprintf(hint, sizeof(hint),
			    " (did you mean '%s'?)", best);
		else
			hint[0] = '\0';
		(void)fprintf(stderr,
		    "smtrail: --explain: no rule '%s' in %s%s\n", arg_explain,
		    file, hint);
		return -EINVAL;
	}
	if (arg_deliver) {
		(void)fprintf(stderr,
		    "smtrail: --explain does not deliver (--deliver given)\n");
		return -EINVAL;
	}
	if (!ex->rule->enabled)
		(void)fprintf(stderr,
		    "smtrail: warning: rule '%s' is disabled: it never "
		    "alerts\n",
		    ex->rule->id);
	buf_init(&ex->alerted, 1u << 20);
	return 0;
}

static int
replay_open_explain(const struct cfg *cfg, const struct rules *rs,
    struct explain *ex, struct replay **ret)
{
	struct replay_opts ro;

	ro = (struct replay_opts){.cfg = cfg,
	    .rules = rs,
	    .state_dir = arg_state,
	    .no_state = arg_no_state,
	    .print = explain_print,
	    .fed = explain_fed,
	    .arg = ex};
	return replay_open_opts(&ro, ret);
}

static int
cmd_replay(int argc, char **argv)
{
	struct replay_totals tot;
	struct replay_stats rs_st;
	struct files_list fl = {0};
	struct replay *rp = NULL;
	struct rules *rs = NULL;
	struct cfg *cfg = NULL;
	struct explain ex;
	bool present;
	double start;
	size_t i;
	int r;

	memset(&ex, 0, sizeof(ex));
	if (load_config(&cfg, &present) < 0)
		return EXIT_USAGE;
	r = load_rules(cfg, false, &rs);
	if (r < 0) {
		cfg_free(cfg);
		return EXIT_USAGE;
	}
	if (arg_deliver && arg_no_state) {
		(void)fprintf(stderr,
		    "smtrail: --deliver needs the state (--no-state given)\n");
		r = -EINVAL;
	}
	if (r == 0 && arg_explain != NULL)
		r = explain_init(&ex, rs, rules_path(cfg));
	if (r == 0)
		r = files_expand(argv, (size_t)argc, &fl);
	if (r == 0 && arg_explain != NULL)
		r = replay_open_explain(cfg, rs, &ex, &rp);
	else if (r == 0)
		r = replay_open(cfg, rs, arg_deliver, &rp);
	if (r < 0) {
		buf_done(&ex.alerted);
		files_list_done(&fl);
		rules_free(rs);
		cfg_free(cfg);
		return EXIT_USAGE;
	}
	memset(&tot, 0, sizeof(tot));
	start = now_s();
	for (i = 0; i < fl.n; i++) {
		struct trail_stats st;
		struct diag d;
		char msg[600];

		memset(&d, 0, sizeof(d));
		memset(&st, 0, sizeof(st));
		r = replay_file(rp, fl.paths[i], &st, &d);
		tot.files++;
		replay_add(&tot, &st);
		if (st.skipped > 0)
			(void)fprintf(stderr,
			    "smtrail: %s: warning: %llu record(s) skipped, "
			    "unread\n",
			    fl.paths[i], (unsigned long long)st.skipped);
		if (r < 0) {
			tot.failed++;
			(void)fprintf(stderr, "smtrail: %s\n",
			    diag_format(&d, msg, sizeof(msg)));
		}
	}
	r = replay_finish(rp);
	if (r < 0) {
		(void)fprintf(stderr, "smtrail: %s\n", strerror(-r));
		tot.failed++;
	}
	replay_stats(rp, &rs_st);
	if (arg_deliver) {
		(void)fprintf(stderr,
		    "deliveries: %llu delivered, %llu failed\n",
		    (unsigned long long)rs_st.delivered,
		    (unsigned long long)rs_st.failed);
		if (rs_st.failed > 0)
			tot.failed++;
	}
	(void)fflush(stdout);
	if (arg_stats)
		replay_print_stats(&tot, rs_st.alerts, now_s() - start);
	replay_free(rp);
	buf_done(&ex.alerted);
	cfg_free(cfg);
	files_list_done(&fl);
	rules_free(rs);
	return tot.failed != 0 ? EXIT_FILE_ERROR : 0;
}

static int
cmd_test_destination(int argc, char **argv)
{
	struct replay_stats rs_st;
	const struct cfg_dest *cd;
	struct replay *rp = NULL;
	struct cfg *c = NULL;
	struct buf json;
	char host[256];
	char when[32];
	char id[64];
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
	(void)snprintf(id, sizeof(id), "smtrail-test-%lld", (long long)now);
	/* A clearly marked alert with every member a real one has. */
	buf_init(&json, 64u << 10);
	r = buf_printf(&json,
	    "{\"rule\":\"smtrail-test\",\"title\":\"smtrail test alert\","
	    "\"severity\":\"info\",\"summary\":\"TEST: if you can read this, "
	    "smtrail on %s can deliver to '%s'. Nothing happened to any "
	    "secret.\",\"eventID\":\"%s\","
	    "\"eventName\":\"TestDestination\",\"eventTime\":\"%s\","
	    "\"awsRegion\":\"%s\",\"recipientAccountId\":null,"
	    "\"secretId\":null,\"principal\":null,\"sourceIPAddress\":null,"
	    "\"errorCode\":null,\"group\":\"smtrail-test\",\"test\":true,"
	    "\"record\":{}}",
	    host, cd->name, id, when,
	    c->aws.region != NULL ? c->aws.region : "us-east-1");
	/* The daemon's delivery path: its backoff, Retry-After and the
	 * destination's deadline. */
	arg_verbose_delivery = true;
	arg_state = NULL;
	arg_no_state = false;
	if (r == 0)
		r = replay_open(c, NULL, true, &rp);
	if (r == 0)
		r = replay_send(rp, "smtrail-test", id, json.data, json.len,
		    cd->name);
	if (r == 0)
		r = replay_finish(rp);
	(void)fflush(stdout);
	if (rp != NULL)
		replay_stats(rp, &rs_st);
	r = r < 0 || rs_st.failed > 0 || rs_st.delivered != 1 ? EXIT_FILE_ERROR
							      : 0;
	replay_free(rp);
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
	printf("commit: %s\n", SMTRAIL_COMMIT);
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
	o = (struct daemon_opts){.config_path = arg_config,
	    .rules_path = arg_rules_given ? arg_rules : NULL,
	    .log_level = arg_log_level,
	    .log_level_given = arg_log_level_given};
	return daemon_run(&o);
}

/* ---- aws-check ---------------------------------------------------------- */

static void
cli_line(const char *line, void *arg)
{
	UNUSED(arg);
	printf("%s\n", line);
}

static int
cmd_aws_check(int argc, char **argv)
{
	struct cfg *c = NULL;
	bool present;
	int r;

	UNUSED(argc);
	UNUSED(argv);
	if (load_config(&c, &present) < 0)
		return EXIT_USAGE;
	r = awscheck_run(c, present ? c->file : "(absent, defaults)", cli_line,
	    NULL);
	(void)fflush(stdout);
	if (r < 0)
		(void)fprintf(stderr, "smtrail: aws-check: %s\n", strerror(-r));
	cfg_free(c);
	return r != 0 ? EXIT_FILE_ERROR : 0;
}

/* ---- spool --------------------------------------------------------------- */

static void
cli_err_line(const char *line, void *arg)
{
	UNUSED(arg);
	(void)fprintf(stderr, "smtrail: %s\n", line);
}

static int
cmd_spool(int argc, char **argv)
{
	struct spoolcmd_opts so;
	struct cfg *c = NULL;
	const char *sub = argv[0];
	struct diag d;
	char msg[600];
	bool present;
	int r;

	memset(&so, 0, sizeof(so));
	so.ids = argv + 1;
	so.n_ids = (size_t)argc - 1;
	so.json = arg_json;
	so.all_failed = arg_all_failed;
	so.filter = arg_failed ? SPOOLCMD_FAILED
	    : arg_pending      ? SPOOLCMD_PENDING
			       : SPOOLCMD_ALL;
	so.out = cli_line;
	so.err = cli_err_line;
	if (arg_older_than != NULL) {
		so.older_than_given = true;
		if (spoolcmd_duration(arg_older_than, &so.older_than_s) < 0) {
			(void)fprintf(stderr,
			    "smtrail: spool: --older-than '%s': not a "
			    "duration (e.g. 90m, 36h, 7d)\n",
			    arg_older_than);
			return EXIT_USAGE;
		}
	}
	if ((strcmp(sub, "list") == 0 &&
		(argc > 1 || (arg_failed && arg_pending))) ||
	    (strcmp(sub, "list") != 0 &&
		(arg_failed || arg_pending || arg_json)) ||
	    (strcmp(sub, "retry") != 0 && arg_all_failed) ||
	    (strcmp(sub, "purge") != 0 && arg_older_than != NULL)) {
		(void)fprintf(stderr,
		    "smtrail: spool %s: wrong arguments or options\n", sub);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (load_config(&c, &present) < 0)
		return EXIT_USAGE;
	so.state_dir = arg_state != NULL ? arg_state : c->state_dir;
	memset(&d, 0, sizeof(d));
	if (strcmp(sub, "list") == 0)
		r = spoolcmd_list(&so, &d);
	else if (strcmp(sub, "retry") == 0)
		r = spoolcmd_retry(&so, &d);
	else if (strcmp(sub, "purge") == 0)
		r = spoolcmd_purge(&so, &d);
	else
		r = diag_set(&d, -EINVAL, NULL, 0, 0,
		    "unknown spool command '%s' (list, retry or purge)", sub);
	(void)fflush(stdout);
	if (r < 0)
		(void)fprintf(stderr, "smtrail: spool %s: %s\n", sub,
		    d.msg[0] != '\0' ? diag_format(&d, msg, sizeof(msg))
				     : strerror(-r));
	cfg_free(c);
	return r == -EINVAL ? EXIT_USAGE : r != 0 ? EXIT_FILE_ERROR : 0;
}

/* ---- test ------------------------------------------------------------ */

static int
test_report_line(const char *s, void *arg)
{
	UNUSED(arg);
	return puts(s) == EOF ? -EIO : 0;
}

/*
 * One test file: loaded, its rules (--rules, else its "rules:", else
 * the default) loaded and bound, its cases run. 0 ran (failures counted),
 * EXIT_USAGE: the test file or the rules are wrong, EXIT_FILE_ERROR: the
 * run broke.
 */
static int
test_file(const char *path, size_t *number, struct ruletest_stats *st)
{
	struct ruletest_hooks h = {.line = test_report_line};
	struct ruletest *t = NULL;
	struct rules *rs = NULL;
	struct diag_list dl;
	const char *rules;
	char msg[800] = "";
	int r;

	memset(&dl, 0, sizeof(dl));
	r = ruletest_load(path, &t, &dl);
	print_diags(&dl);
	if (r < 0) {
		if (dl.n == 0)
			(void)fprintf(stderr, "%s: %s\n", path, strerror(-r));
		return EXIT_USAGE;
	}
	rules = arg_rules_given || ruletest_rules(t) == NULL
	    ? arg_rules
	    : ruletest_rules(t);
	h.rules_file = rules;
	memset(&dl, 0, sizeof(dl));
	r = rules_load(rules, false, &rs, &dl);
	print_diags(&dl);
	if (r < 0 && dl.n == 0)
		(void)fprintf(stderr, "%s: %s\n", rules, strerror(-r));
	if (r == 0) {
		memset(&dl, 0, sizeof(dl));
		r = ruletest_bind(t, rs, &dl);
		print_diags(&dl);
	}
	if (r < 0) {
		rules_free(rs);
		ruletest_free(t);
		return EXIT_USAGE;
	}
	printf("# %s (rules %s)\n", path, rules);
	r = ruletest_run(t, rs, &h, number, st, msg, sizeof(msg));
	if (r < 0)
		(void)fprintf(stderr, "smtrail: %s\n", msg);
	rules_free(rs);
	ruletest_free(t);
	return r < 0 ? EXIT_FILE_ERROR : 0;
}

static int
cmd_test(int argc, char **argv)
{
	struct ruletest_stats st = {0};
	size_t number = 0;
	int i, r = 0;

	for (i = 0; i < argc && r == 0; i++)
		r = test_file(argv[i], &number, &st);
	if (r != 0)
		return r;
	printf("%zu passed, %zu failed\n", st.passed, st.failed);
	if (fflush(stdout) == EOF)
		return EXIT_FILE_ERROR;
	return st.failed != 0 ? EXIT_FILE_ERROR : 0;
}

/* ---- sigma-import ------------------------------------------------------- */

static void
sigma_diag_print(const struct diag *d, void *arg)
{
	char line[600];

	UNUSED(arg);
	(void)fprintf(stderr, "%s\n", diag_format(d, line, sizeof(line)));
}

/* 0: every rule translated; 1: some refused or a file unreadable (the
 * rest still printed). */
static int
cmd_sigma_import(int argc, char **argv)
{
	struct sigma_stats st;
	struct sigma *s;
	struct buf out;
	int i;
	int r = 0;

	s = sigma_new(sigma_diag_print, NULL);
	if (s == NULL) {
		(void)fprintf(stderr, "smtrail: sigma-import: %s\n",
		    strerror(ENOMEM));
		return EXIT_FILE_ERROR;
	}
	for (i = 0; i < argc && r != -ENOMEM; i++)
		r = sigma_add_file(s, argv[i]);
	buf_init(&out, 64u << 20);
	memset(&st, 0, sizeof(st));
	if (r != -ENOMEM)
		r = sigma_emit(s, &out, &st);
	if (r == -ENOMEM) {
		(void)fprintf(stderr, "smtrail: sigma-import: %s\n",
		    strerror(ENOMEM));
		buf_done(&out);
		sigma_free(s);
		return EXIT_FILE_ERROR;
	}
	(void)fwrite(out.data, 1, out.len, stdout);
	(void)fflush(stdout);
	(void)fprintf(stderr,
	    "smtrail: sigma-import: %u translated, %u refused, %u unreadable"
	    "\n",
	    st.translated, st.refused, st.errors);
	buf_done(&out);
	sigma_free(s);
	return st.refused != 0 || st.errors != 0 ? EXIT_FILE_ERROR : 0;
}

/* ---- backfill ------------------------------------------------------------ */

/* "2026-11-01", "2026-11-01T12:00:00Z", or a duration ago ("7d", "36h"). */
static int
backfill_time(const char *s, int64_t *ret)
{
	uint64_t ago;
	time_t t;
	int y;
	int mo;
	int d;
	int n = 0;

	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) == 3 && s[n] == '\0') {
		if (clock_make_time(y, mo, d, 0, 0, 0, &t) < 0)
			return -EINVAL;
	} else if (clock_parse_iso8601(s, &t) < 0) {
		if (spoolcmd_duration(s, &ago) < 0 ||
		    ago > (uint64_t)time(NULL))
			return -EINVAL;
		t = time(NULL) - (time_t)ago;
	}
	*ret = (int64_t)t;
	return 0;
}

/* backfill's print hook: the line is out (flushed) when it returns, since
 * the checkpoint that follows says it was printed. */
static int
backfill_print_line(const char *line, size_t len, void *arg)
{
	int r = cli_print(line, len, arg);

	if (r == 0 && fflush(stdout) == EOF)
		r = -EIO;
	return r;
}

/* On a terminal one line, rewritten; otherwise a log line each 10 s. */
static void
backfill_progress_line(const struct backfill_stats *st, bool final, void *arg)
{
	static double last_log;
	uint64_t todo = st->objects - st->resumed;
	uint64_t seen = st->done + st->failed;
	double eta = seen > 0 && todo > seen
	    ? st->elapsed_s * (double)(todo - seen) / (double)seen
	    : 0;
	double eps =
	    st->elapsed_s > 0 ? (double)st->records / st->elapsed_s : 0;
	char line[256];

	UNUSED(arg);
	(void)snprintf(line, sizeof(line),
	    "objects %llu/%llu, %.1f MB, %.0f events/s, %llu alerts, ETA %.0fs",
	    (unsigned long long)(seen + st->resumed),
	    (unsigned long long)st->objects, (double)st->bytes / 1e6, eps,
	    (unsigned long long)st->alerts, eta);
	if (isatty(STDERR_FILENO)) {
		(void)fprintf(stderr, "\r\033[K%s", final ? "" : line);
		(void)fflush(stderr);
		return;
	}
	if (!final && st->elapsed_s - last_log >= 10) {
		last_log = st->elapsed_s;
		log_notice("backfill: %s", line);
	}
}

static int
cmd_backfill(int argc, char **argv)
{
	struct backfill_opts bo;
	struct backfill_stats st;
	struct rules *rs = NULL;
	struct cfg *cfg = NULL;
	struct diag d;
	char msg[600];
	bool present;
	char *end;
	int r;

	UNUSED(argc);
	UNUSED(argv);
	memset(&bo, 0, sizeof(bo));
	bo.until_s = (int64_t)time(NULL);
	if (arg_bucket == NULL || arg_since == NULL) {
		(void)fprintf(stderr,
		    "smtrail: backfill: --bucket and --since are required\n");
		return EXIT_USAGE;
	}
	if (backfill_time(arg_since, &bo.since_s) < 0 ||
	    (arg_until != NULL && backfill_time(arg_until, &bo.until_s) < 0)) {
		(void)fprintf(stderr,
		    "smtrail: backfill: '%s' is not a time (2026-11-01, "
		    "2026-11-01T12:00:00Z or a duration ago such as 7d)\n",
		    arg_until != NULL &&
			    backfill_time(arg_since, &bo.since_s) == 0
			? arg_until
			: arg_since);
		return EXIT_USAGE;
	}
	if (arg_jobs != NULL) {
		unsigned long j = strtoul(arg_jobs, &end, 10);

		if (*arg_jobs == '\0' || *end != '\0' || j == 0 ||
		    j > BACKFILL_MAX_JOBS) {
			(void)fprintf(stderr,
			    "smtrail: backfill: --jobs takes 1 to %d\n",
			    BACKFILL_MAX_JOBS);
			return EXIT_USAGE;
		}
		bo.jobs = (unsigned)j;
	}
	if (load_config(&cfg, &present) < 0)
		return EXIT_USAGE;
	if (load_rules(cfg, false, &rs) < 0) {
		cfg_free(cfg);
		return EXIT_USAGE;
	}
	bo.cfg = cfg;
	bo.rules = rs;
	bo.bucket = arg_bucket;
	bo.prefix = arg_prefix;
	bo.dry_run = arg_dry_run;
	bo.state_dir = arg_state;
	bo.checkpoint = arg_checkpoint;
	bo.print = backfill_print_line;
	bo.delivered = cli_delivered;
	bo.progress = backfill_progress_line;
	bo.arg = cfg;
	memset(&d, 0, sizeof(d));
	memset(&st, 0, sizeof(st));
	r = backfill_run(&bo, &st, &d);
	(void)fflush(stdout);
	if (r == -EBUSY)
		(void)fprintf(stderr,
		    "smtrail: backfill: the state directory %s is held by "
		    "another process (the daemon?): stop it first, or use "
		    "--dry-run\n",
		    arg_state != NULL ? arg_state : cfg->state_dir);
	else if (r < 0)
		(void)fprintf(stderr, "smtrail: backfill: %s\n",
		    d.msg[0] != '\0' ? diag_format(&d, msg, sizeof(msg))
				     : strerror(-r));
	(void)fprintf(stderr,
	    "backfill: %llu accounts, %llu regions, %llu listings\n"
	    "objects: %llu in range, %llu scanned, %llu resumed (checkpoint), "
	    "%llu failed\n"
	    "bytes: %llu fetched, %llu JSON\n"
	    "records: %llu scanned, %llu Secrets Manager\n"
	    "alerts: %llu\n",
	    (unsigned long long)st.accounts, (unsigned long long)st.regions,
	    (unsigned long long)st.listings, (unsigned long long)st.objects,
	    (unsigned long long)st.done, (unsigned long long)st.resumed,
	    (unsigned long long)st.failed, (unsigned long long)st.bytes,
	    (unsigned long long)st.bytes_json, (unsigned long long)st.records,
	    (unsigned long long)st.matched, (unsigned long long)st.alerts);
	if (!arg_dry_run)
		(void)fprintf(stderr,
		    "deliveries: %llu delivered, %llu failed\n",
		    (unsigned long long)st.delivered,
		    (unsigned long long)st.delivery_failed);
	(void)fprintf(stderr,
	    "time: %.3f s, %.1f objects/s, %.2f MB/s, %.0f events/s\n",
	    st.elapsed_s, st.elapsed_s > 0 ? (double)st.done / st.elapsed_s : 0,
	    st.elapsed_s > 0 ? (double)st.bytes / 1e6 / st.elapsed_s : 0,
	    st.elapsed_s > 0 ? (double)st.records / st.elapsed_s : 0);
	rules_free(rs);
	cfg_free(cfg);
	if (r < 0)
		return r == -EINVAL && d.msg[0] == '\0' ? EXIT_USAGE
							: EXIT_FILE_ERROR;
	return r > 0 || st.delivery_failed > 0 ? EXIT_FILE_ERROR : 0;
}

static const struct command commands[] = {
    {"run", cmd_run, 0, 0},
    {"check", cmd_check, 0, 0},
    {"replay", cmd_replay, 1, -1},
    {"version", cmd_version, 0, 0},
    {"aws-check", cmd_aws_check, 0, 0},
    {"test-destination", cmd_test_destination, 1, 1},
    {"spool", cmd_spool, 1, -1},
    {"test", cmd_test, 1, -1},
    {"sigma-import", cmd_sigma_import, 1, -1},
    {"backfill", cmd_backfill, 0, 0},
};

enum {
	OPT_STRICT = 256,
	OPT_STATS,
	OPT_DELIVER,
	OPT_STATE,
	OPT_NO_STATE,
	OPT_CREDENTIALS_DIR,
	OPT_AS_USER,
	OPT_RULES_ONLY,
	OPT_FAILED,
	OPT_PENDING,
	OPT_JSON,
	OPT_ALL_FAILED,
	OPT_OLDER_THAN,
	OPT_EXPLAIN,
	OPT_BUCKET,
	OPT_PREFIX,
	OPT_SINCE,
	OPT_UNTIL,
	OPT_DRY_RUN,
	OPT_JOBS,
	OPT_CHECKPOINT,
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
	    {"state", required_argument, NULL, OPT_STATE},
	    {"no-state", no_argument, NULL, OPT_NO_STATE},
	    {"credentials-dir", required_argument, NULL, OPT_CREDENTIALS_DIR},
	    {"as-user", required_argument, NULL, OPT_AS_USER},
	    {"rules-only", no_argument, NULL, OPT_RULES_ONLY},
	    {"failed", no_argument, NULL, OPT_FAILED},
	    {"pending", no_argument, NULL, OPT_PENDING},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"all-failed", no_argument, NULL, OPT_ALL_FAILED},
	    {"older-than", required_argument, NULL, OPT_OLDER_THAN},
	    {"explain", required_argument, NULL, OPT_EXPLAIN},
	    {"bucket", required_argument, NULL, OPT_BUCKET},
	    {"prefix", required_argument, NULL, OPT_PREFIX},
	    {"since", required_argument, NULL, OPT_SINCE},
	    {"until", required_argument, NULL, OPT_UNTIL},
	    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
	    {"jobs", required_argument, NULL, OPT_JOBS},
	    {"checkpoint", required_argument, NULL, OPT_CHECKPOINT},
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
		case OPT_STATE:
			arg_state = optarg;
			break;
		case OPT_NO_STATE:
			arg_no_state = true;
			break;
		case OPT_CREDENTIALS_DIR:
			arg_credentials_dir = optarg;
			break;
		case OPT_AS_USER:
			arg_as_user = optarg;
			break;
		case OPT_RULES_ONLY:
			arg_rules_only = true;
			break;
		case OPT_FAILED:
			arg_failed = true;
			break;
		case OPT_PENDING:
			arg_pending = true;
			break;
		case OPT_JSON:
			arg_json = true;
			break;
		case OPT_ALL_FAILED:
			arg_all_failed = true;
			break;
		case OPT_OLDER_THAN:
			arg_older_than = optarg;
			break;
		case OPT_EXPLAIN:
			arg_explain = optarg;
			break;
		case OPT_BUCKET:
			arg_bucket = optarg;
			break;
		case OPT_PREFIX:
			arg_prefix = optarg;
			break;
		case OPT_SINCE:
			arg_since = optarg;
			break;
		case OPT_UNTIL:
			arg_until = optarg;
			break;
		case OPT_DRY_RUN:
			arg_dry_run = true;
			break;
		case OPT_JOBS:
			arg_jobs = optarg;
			break;
		case OPT_CHECKPOINT:
			arg_checkpoint = optarg;
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
