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

#include "alert.h"
#include "buf.h"
#include "diag.h"
#include "files.h"
#include "limits.h"
#include "log.h"
#include "rules.h"
#include "trail.h"

#define EXIT_FILE_ERROR 1
#define EXIT_USAGE 2

static const char *arg_config = SMTRAIL_DEFAULT_CONFIG;
static bool arg_config_given;
static const char *arg_rules = SMTRAIL_DEFAULT_RULES;
static bool arg_strict;
static bool arg_stats;
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
	    "  version             print the version and build features\n"
	    "\n"
	    "Options (before or after the command):\n"
	    "  -c, --config FILE   configuration (default %s)\n"
	    "  -r, --rules FILE    rules (default %s)\n"
	    "      --strict        unknown event names are errors (check)\n"
	    "      --stats         print statistics to stderr (replay)\n"
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

static int
load_rules(bool strict, struct rules **ret)
{
	struct diag_list dl;
	int r;

	memset(&dl, 0, sizeof(dl));
	r = rules_load(arg_rules, strict, ret, &dl);
	print_diags(&dl);
	if (r < 0 && dl.n == 0)
		(void)fprintf(stderr, "%s: %s\n", arg_rules, strerror(-r));
	return r;
}

/*
 * The configuration file: an explicit --config must exist; the default one
 * may be absent for the offline commands.
 */
static int
check_config_present(void)
{
	if (access(arg_config, R_OK) == 0)
		return 1;
	if (!arg_config_given && errno == ENOENT)
		return 0;
	(void)fprintf(stderr, "%s: %s\n", arg_config, strerror(errno));
	return -errno;
}

static int
cmd_check(int argc, char **argv)
{
	struct rules *rs = NULL;
	size_t i;
	int have_cfg;

	UNUSED(argc);
	UNUSED(argv);
	have_cfg = check_config_present();
	if (have_cfg < 0)
		return EXIT_FILE_ERROR;
	if (load_rules(arg_strict, &rs) < 0)
		return EXIT_FILE_ERROR;
	for (i = 0; i < rules_count(rs); i++) {
		const struct rule *r = rules_get(rs, i);

		printf("%-32s %-8s %s%s\n", r->id,
		    rules_severity_str(r->severity), r->title,
		    r->enabled ? "" : " (disabled)");
	}
	printf("%s: %zu rules OK\n", arg_rules, rules_count(rs));
	rules_free(rs);
	return 0;
}

struct replay {
	const struct rules *rules;
	struct buf line;
	uint64_t alerts;
	int error;
};

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
	    "alerts: %llu\n"
	    "time: %.3f s, %.1f MB/s of JSON, %.0f records/s\n"
	    "inflater: %s\n",
	    (unsigned long long)tot->files, (unsigned long long)tot->failed,
	    (unsigned long long)tot->st.bytes_in,
	    (unsigned long long)tot->st.bytes_json,
	    (unsigned long long)tot->st.records,
	    (unsigned long long)tot->st.candidates,
	    (unsigned long long)tot->st.matched, (unsigned long long)alerts,
	    secs, secs > 0 ? mb / secs : 0.0,
	    secs > 0 ? (double)tot->st.records / secs : 0.0, trail_inflater());
}

static int
cmd_replay(int argc, char **argv)
{
	struct replay_totals tot;
	struct files_list fl;
	struct replay rp;
	struct rules *rs = NULL;
	struct trail *t = NULL;
	double start;
	size_t i;
	int r;

	if (check_config_present() < 0)
		return EXIT_USAGE;
	if (load_rules(false, &rs) < 0)
		return EXIT_USAGE;
	r = files_expand(argv, (size_t)argc, &fl);
	if (r == 0)
		r = trail_new(&t);
	if (r < 0) {
		(void)fprintf(stderr, "smtrail: %s\n", strerror(-r));
		rules_free(rs);
		return EXIT_USAGE;
	}
	memset(&tot, 0, sizeof(tot));
	memset(&rp, 0, sizeof(rp));
	rp.rules = rs;
	buf_init(&rp.line, ALERT_MAX_JSON);
	start = now_s();
	for (i = 0; i < fl.n; i++) {
		struct diag d;
		char msg[600];

		memset(&d, 0, sizeof(d));
		r = files_scan(fl.paths[i], t, replay_record, &rp, &d);
		tot.files++;
		replay_add(&tot, trail_stats(t));
		if (r < 0) {
			tot.failed++;
			(void)fprintf(stderr, "smtrail: %s\n",
			    diag_format(&d, msg, sizeof(msg)));
		}
	}
	(void)fflush(stdout);
	if (arg_stats)
		replay_print_stats(&tot, rp.alerts, now_s() - start);
	buf_done(&rp.line);
	trail_free(t);
	files_list_done(&fl);
	rules_free(rs);
	return tot.failed != 0 ? EXIT_FILE_ERROR : 0;
}

static int
cmd_version(int argc, char **argv)
{
	UNUSED(argc);
	UNUSED(argv);
	printf("smtrail %s\n", PACKAGE_VERSION);
	printf("inflater: %s\n", trail_inflater());
	printf("json-c: %s\n", json_c_version());
	printf("config: %s\nrules: %s\n", SMTRAIL_DEFAULT_CONFIG,
	    SMTRAIL_DEFAULT_RULES);
	return 0;
}

static int
cmd_run(int argc, char **argv)
{
	UNUSED(argc);
	UNUSED(argv);
	(void)fprintf(stderr, "smtrail: run: not built yet\n");
	return EXIT_USAGE;
}

static const struct command commands[] = {
    {"run", cmd_run, 0, 0},
    {"check", cmd_check, 0, 0},
    {"replay", cmd_replay, 1, -1},
    {"version", cmd_version, 0, 0},
};

enum {
	OPT_STRICT = 256,
	OPT_STATS,
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
			break;
		case 'l':
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
