/*
 * test_cfg.c: the daemon's configuration file. Hostile input first, each
 * with its exact "file:line:col: message" and a check that no secret
 * reached a diagnostic (every secret in these cases holds CANARY); then
 * every key read back, secrets from files and systemd credentials,
 * cfg_default(), the summary, and the shipped etc/smtrail/smtrail.yaml.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cfg.h"
#include "diag.h"
#include "bounds.h"
#include "rules.h"
#include "secret.h"
#include "tap.h"
#include "testlib.h"

/* The build's defaults (Makefile.am, config.h), as cfg.c takes them. */
#ifndef SMTRAIL_DEFAULT_RULES
#define SMTRAIL_DEFAULT_RULES "/etc/smtrail/rules.yaml"
#endif
#ifndef SMTRAIL_STATEDIR
#define SMTRAIL_STATEDIR "/var/lib/smtrail"
#endif

#define CANARY "SeCrEt-CaNaRy-42"

static struct diag_list dl;
static char dtext[16384];
static char *tmpdir;

/* printf into one of a few rotating buffers (tests only). */
static const char *xf(const char *fmt, ...) PRINTF_LIKE(1, 2);
static const char *
xf(const char *fmt, ...)
{
	static char bufs[16][8192];
	static unsigned next;
	char *b = bufs[next++ % 16];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(b, sizeof(bufs[0]), fmt, ap);
	va_end(ap);
	return b;
}

/* Every diagnostic, formatted, one per line. */
static const char *
diags(void)
{
	return tl_diags(&dl, dtext, sizeof(dtext));
}

static int
load(const char *text, struct cfg **ret)
{
	memset(&dl, 0, sizeof(dl));
	return cfg_load_buffer("smtrail.yaml", text, strlen(text), ret, &dl);
}

/* Fails with -EINVAL, touches nothing, says exactly want, leaks nothing. */
static void
load_err(const char *text, const char *want, const char *name)
{
	struct cfg *sentinel = (struct cfg *)&dl;
	struct cfg *cfg = sentinel;

	is_int(load(text, &cfg), -EINVAL, "%s: -EINVAL", name);
	ok(cfg == sentinel, "%s: ret untouched", name);
	is_str(diags(), want, "%s: diagnostics", name);
	ok(strstr(dtext, CANARY) == NULL, "%s: no secret in diagnostics", name);
}

static struct cfg *
load_ok(const char *text, const char *name)
{
	struct cfg *cfg = NULL;

	if (!is_int(load(text, &cfg), 0, "%s: loads", name))
		diag_note("%s", diags());
	is_int(dl.n, 0, "%s: no diagnostics", name);
	return cfg;
}

/* A file in tmpdir with exactly this mode; returns its path. */
static const char *
put(const char *name, const char *content, mode_t mode)
{
	const char *path = xf("%s/%s", tmpdir, name);

	if (tl_write_file(path, content, strlen(content), false) < 0 ||
	    chmod(path, mode) < 0)
		tl_bail("cannot write %s", path);
	return path;
}

/* ---- hostile ------------------------------------------------------------ */

static void
test_syntax(void)
{
	char *big;
	struct cfg *cfg = NULL;
	int r;

	load_err("",
	    "smtrail.yaml: empty configuration file (expected a mapping of settings)",
	    "empty file");
	load_err("# only a comment\n\n",
	    "smtrail.yaml: empty configuration file (expected a mapping of settings)",
	    "only comments");
	load_err("- sqs\n- sns\n",
	    "smtrail.yaml:1:1: expected a mapping of settings at the top level",
	    "a list");
	load_err("just text\n",
	    "smtrail.yaml:1:1: expected a mapping of settings at the top level",
	    "a scalar");
	load_err("sqs: {queue_url: https://q/1\nrules: x\n",
	    "smtrail.yaml:2:6: YAML syntax error: did not find expected ',' or '}' (while parsing a flow mapping started at line 1)",
	    "unclosed flow mapping");
	load_err("sqs:\n  wait_time: 20s\n wait_time: 1s\n",
	    "smtrail.yaml:3:2: YAML syntax error: did not find expected key (while parsing a block mapping started at line 1)",
	    "bad indentation");
	load_err("destinations:\n"
		 "  h: {type: webhook, url: 'https://x/" CANARY "'}\n"
		 "  \"unterminated: [\n",
	    "smtrail.yaml:4:1: YAML syntax error: found unexpected end of stream (while scanning a quoted scalar started at line 3)",
	    "syntax error after a secret");
	load_err("sqs:\n\twait_time: 20s\n",
	    "smtrail.yaml:2:1: YAML syntax error: tabs are not allowed in YAML indentation",
	    "a tab in indentation");
	load_err("rules: \xff\n",
	    "smtrail.yaml:1:8: YAML syntax error: invalid leading UTF-8 octet (byte 0xff)",
	    "bad UTF-8");
	load_err("log_level: &l debug\nrules: *l\n",
	    "smtrail.yaml:2:8: YAML aliases are not supported ('*l')", "alias");
	load_err("rules: !!str /x\n",
	    "smtrail.yaml:1:8: YAML tags are not supported ('!!str')", "tag");
	load_err("log_level: info\n---\nlog_level: debug\n",
	    "smtrail.yaml:2:1: more than one YAML document", "two documents");

	big = malloc(RULES_MAX_FILE + 2);
	if (big == NULL)
		exit(1);
	memset(big, '#', RULES_MAX_FILE + 1);
	big[RULES_MAX_FILE + 1] = '\0';
	memset(&dl, 0, sizeof(dl));
	r = cfg_load_buffer("smtrail.yaml", big, RULES_MAX_FILE + 1, &cfg, &dl);
	is_int(r, -EINVAL, "too large: -EINVAL");
	is_str(diags(), "smtrail.yaml: file larger than 4194304 bytes",
	    "too large: diagnostics");
	free(big);

	memset(&dl, 0, sizeof(dl));
	r = cfg_load(xf("%s/absent.yaml", tmpdir), &cfg, &dl);
	is_int(r, -ENOENT, "missing file: -ENOENT");
	is_str(diags(), xf("%s/absent.yaml: No such file or directory", tmpdir),
	    "missing file: diagnostics");
	ok(cfg == NULL, "missing file: ret untouched");
}

static void
test_keys(void)
{
	load_err("log_lvel: debug\n",
	    "smtrail.yaml:1:1: unknown top-level key 'log_lvel' (did you mean 'log_level'?)",
	    "unknown top-level key");
	load_err("destination:\n  console: {type: stdout}\n",
	    "smtrail.yaml:1:1: unknown top-level key 'destination' (did you mean 'destinations'?)",
	    "destination for destinations");
	load_err("colour: blue\n",
	    "smtrail.yaml:1:1: unknown top-level key 'colour'",
	    "unknown key, nothing close");
	load_err("sqs:\n  wait_tme: 20s\n",
	    "smtrail.yaml:2:3: unknown sqs key 'wait_tme' (did you mean 'wait_time'?)",
	    "unknown sqs key");
	load_err("aws: {regoin: eu-west-1}\n",
	    "smtrail.yaml:1:7: unknown aws key 'regoin' (did you mean 'region'?)",
	    "unknown aws key");
	load_err("metrics: {listn: off}\n",
	    "smtrail.yaml:1:11: unknown metrics key 'listn' (did you mean 'listen'?)",
	    "unknown metrics key");
	load_err("log_level: info\nlog_level: debug\n",
	    "smtrail.yaml:2:1: duplicate key 'log_level' (first at line 1)",
	    "duplicate top-level key");
	load_err("? [a]\n: b\n", "smtrail.yaml:1:3: expected a top-level key",
	    "a key that is a list");
	load_err("log_lvel: debug\nsqs: {max_messages: 11}\nstate_dir: [a]\n",
	    "smtrail.yaml:1:1: unknown top-level key 'log_lvel' (did you mean 'log_level'?)\n"
	    "smtrail.yaml:2:21: bad value '11' for 'max_messages' (expected 1 to 10)\n"
	    "smtrail.yaml:3:12: expected a string for 'state_dir'",
	    "every error, in file order");
	load_err("log_level: loud\n"
		 "destinations:\n"
		 "  a: {type: webhok}\n"
		 "default_destinations: [b]\n",
	    "smtrail.yaml:1:12: unknown log level 'loud' (expected err, warning, notice, info or debug)\n"
	    "smtrail.yaml:3:13: unknown destination type 'webhok' (did you mean 'webhook'?)\n"
	    "smtrail.yaml:4:24: unknown destination 'b'",
	    "destinations checked first, reported in file order");
}

static void
test_types(void)
{
	load_err("sqs: [1]\n", "smtrail.yaml:1:6: expected a mapping for 'sqs'",
	    "section not a mapping");
	load_err("sqs: 20s\n", "smtrail.yaml:1:6: expected a mapping for 'sqs'",
	    "section a scalar");
	load_err("rules: [a]\n",
	    "smtrail.yaml:1:8: expected a string for 'rules'", "rules a list");
	load_err("rules:\n", "smtrail.yaml:1:7: expected a string for 'rules'",
	    "rules null");
	load_err("state_dir: ''\n",
	    "smtrail.yaml:1:12: empty value for 'state_dir'",
	    "state_dir empty");
	load_err("rules: \"a\\0b\"\n", "smtrail.yaml:1:8: NUL byte in 'rules'",
	    "NUL in a path");
	load_err("sns: {verify_signatures: yes}\n",
	    "smtrail.yaml:1:26: expected true or false for 'verify_signatures'",
	    "bool as yes");
	load_err("route: {a: b}\n",
	    "smtrail.yaml:1:8: expected a list for 'route'", "route a mapping");
	load_err("s3: {allowed_buckets: []}\n",
	    "smtrail.yaml:1:23: allowed_buckets is empty (list the trail's buckets, or remove the key to allow any bucket)",
	    "allowed_buckets: [] is an error, not 'any bucket'");
	load_err("s3: {allowed_buckets: {a: b}}\n",
	    "smtrail.yaml:1:23: expected a string for 'allowed_buckets'",
	    "buckets a mapping");
	load_err("destinations: [console]\n",
	    "smtrail.yaml:1:15: expected a mapping for 'destinations'",
	    "destinations a list");
	load_err("log_level: verbose\n",
	    "smtrail.yaml:1:12: unknown log level 'verbose' (expected err, warning, notice, info or debug)",
	    "unknown log level");
	load_err("aws: {region: EU_West}\n",
	    "smtrail.yaml:1:15: bad region 'EU_West' (expected a name such as 'eu-west-1')",
	    "bad region");
}

/* The metrics section's durations, and listen beside them. */
static void
test_metrics_keys(void)
{
	struct cfg *cfg;

	cfg = load_ok(
	    "metrics: {queue_interval: 0s, delivery_failing_after: 90s}\n",
	    "metrics: queue_interval off");
	ok(cfg != NULL && cfg->metrics.queue_interval_s == 0 &&
		cfg->metrics.delivery_failing_s == 90 &&
		cfg->metrics.listen != NULL &&
		strcmp(cfg->metrics.listen, CFG_DEFAULT_METRICS_LISTEN) == 0,
	    "metrics: 0s, 90s, the default listen");
	cfg_free(cfg);
	cfg = load_ok("metrics: {listen: off, queue_interval: 5m}\n",
	    "metrics: listen off");
	ok(cfg != NULL && cfg->metrics.listen == NULL &&
		cfg->metrics.queue_interval_s == 300 &&
		cfg->metrics.delivery_failing_s ==
		    CFG_DEFAULT_METRICS_DELIVERY_FAILING_S,
	    "metrics: off, 5m, the default bound");
	cfg_free(cfg);
}

static void
test_ranges(void)
{
	load_err("sqs: {wait_time: 30s}\n",
	    "smtrail.yaml:1:18: bad value '30s' for 'wait_time' (expected 0s to 20s)",
	    "wait_time over 20s");
	load_err("sqs: {wait_time: 5x}\n",
	    "smtrail.yaml:1:18: bad duration '5x' for 'wait_time' (expected seconds, or a number followed by s, m, h or d)",
	    "bad duration unit");
	load_err("sqs: {wait_time: -1}\n",
	    "smtrail.yaml:1:18: bad duration '-1' for 'wait_time' (expected seconds, or a number followed by s, m, h or d)",
	    "negative duration");
	load_err("sqs: {visibility_timeout: 13h}\n",
	    "smtrail.yaml:1:27: bad value '13h' for 'visibility_timeout' (expected 0s to 12h)",
	    "visibility_timeout over 12h");
	load_err("sqs: {visibility_timeout: 400d}\n",
	    "smtrail.yaml:1:27: duration '400d' for 'visibility_timeout' is longer than 365d",
	    "duration over a year");
	load_err("http: {timeout: 0}\n",
	    "smtrail.yaml:1:17: bad value '0' for 'timeout' (expected 1s to 1h)",
	    "http timeout 0");
	load_err("sqs: {max_messages: 11}\n",
	    "smtrail.yaml:1:21: bad value '11' for 'max_messages' (expected 1 to 10)",
	    "max_messages 11");
	load_err("sqs: {max_messages: 0}\n",
	    "smtrail.yaml:1:21: bad value '0' for 'max_messages' (expected 1 to 10)",
	    "max_messages 0");
	load_err("metrics: {queue_interval: 2h, delivery_failing_after: 0}\n",
	    "smtrail.yaml:1:27: bad value '2h' for 'queue_interval' (expected 0s to 1h)\n"
	    "smtrail.yaml:1:55: bad value '0' for 'delivery_failing_after' (expected 1s to 7d)",
	    "metrics: queue_interval over 1h, delivery_failing_after 0");
	load_err("sqs: {max_messages: -3}\n",
	    "smtrail.yaml:1:21: bad value '-3' for 'max_messages' (expected 1 to 10)",
	    "max_messages negative");
	load_err("sqs: {max_messages: ten}\n",
	    "smtrail.yaml:1:21: expected a whole number for 'max_messages'",
	    "max_messages a word");
	load_err("sqs: {max_messages: 99999999999999999999999}\n",
	    "smtrail.yaml:1:21: bad value '99999999999999999999999' for 'max_messages' (expected 1 to 10)",
	    "max_messages huge");
	load_err("sqs: {max_receive_count: 1001}\n",
	    "smtrail.yaml:1:26: bad value '1001' for 'max_receive_count' (expected 0 to 1000)",
	    "max_receive_count over 1000");
	load_err("s3: {max_object_size: 512 MiB}\n",
	    "smtrail.yaml:1:23: bad size '512 MiB' for 'max_object_size' (expected bytes, or a number followed by KiB, MiB, GiB, KB, MB or GB)",
	    "size with a space");
	load_err("s3: {max_object_size: 512mib}\n",
	    "smtrail.yaml:1:23: bad size '512mib' for 'max_object_size' (expected bytes, or a number followed by KiB, MiB, GiB, KB, MB or GB)",
	    "size unit in lower case");
	load_err("s3: {max_object_size: 1.5GiB}\n",
	    "smtrail.yaml:1:23: bad size '1.5GiB' for 'max_object_size' (expected bytes, or a number followed by KiB, MiB, GiB, KB, MB or GB)",
	    "fractional size");
	load_err("s3: {max_object_size: 3GiB}\n",
	    "smtrail.yaml:1:23: bad value '3GiB' for 'max_object_size' (expected 1 to 2GiB)",
	    "size over the inflate cap");
	load_err("s3: {max_object_size: 0}\n",
	    "smtrail.yaml:1:23: bad value '0' for 'max_object_size' (expected 1 to 2GiB)",
	    "size 0");
	load_err("s3: {max_object_size: 99999999999999999999999GB}\n",
	    "smtrail.yaml:1:23: bad value '99999999999999999999999GB' for 'max_object_size' (expected 1 to 2GiB)",
	    "size overflowing");
	load_err("s3: {allowed_buckets: [ok-bucket, Bad_Bucket, '']}\n",
	    "smtrail.yaml:1:35: bad bucket name 'Bad_Bucket' (expected 3 to 63 lowercase letters, digits, '.' and '-')\n"
	    "smtrail.yaml:1:47: empty name in 'allowed_buckets'",
	    "bad bucket names");
}

static void
test_aws_role(void)
{
	struct cfg *cfg;
	struct buf b;

	/* Hostile first. */
	load_err("aws: {role_arn: arn:aws:iam::12345678901:role/r}\n",
	    "smtrail.yaml:1:17: bad role_arn 'arn:aws:iam::12345678901:role/r' (the account must be 12 digits)",
	    "role_arn: 11-digit account");
	load_err("aws: {role_arn: 'arn:aws:iam::123456789012:user/u'}\n",
	    "smtrail.yaml:1:17: bad role_arn 'arn:aws:iam::123456789012:user/u' (not a role (expected :role/<name>))",
	    "role_arn: a user");
	load_err("aws: {role_arn: 'arn:aws:sts::123456789012:role/r'}\n",
	    "smtrail.yaml:1:17: bad role_arn 'arn:aws:sts::123456789012:role/r' (expected arn:<partition>:iam::<account>:role/<name>)",
	    "role_arn: not iam");
	load_err("aws: {role_arn: 'arn:aws:iam::123456789012:role/a b'}\n",
	    "smtrail.yaml:1:17: bad role_arn 'arn:aws:iam::123456789012:role/a b' (too long, or with spaces or control characters)",
	    "role_arn: a space");
	load_err("aws: {role_arn: 'arn:aws:iam::123456789012:role/'}\n",
	    "smtrail.yaml:1:17: bad role_arn 'arn:aws:iam::123456789012:role/' (not a role (expected :role/<name>))",
	    "role_arn: no name");
	load_err("aws: {role_arn: ''}\n",
	    "smtrail.yaml:1:17: empty value for 'role_arn'", "role_arn: empty");
	load_err("aws:\n  external_id: " CANARY "\n",
	    "smtrail.yaml:2:16: external_id without role_arn",
	    "external_id without role_arn");
	load_err("aws:\n  role_session_name: me\n",
	    "smtrail.yaml:2:22: role_session_name without role_arn",
	    "role_session_name without role_arn");
	load_err("aws:\n  role_arn: arn:aws:iam::123456789012:role/r\n"
		 "  external_id: '" CANARY " x'\n",
	    "smtrail.yaml:3:16: bad external_id (expected 2 to 1224 characters of letters, digits and _+=,.@:/-)",
	    "external_id with a space, not quoted back");
	load_err("aws:\n  role_arn: arn:aws:iam::123456789012:role/r\n"
		 "  external_id: x\n",
	    "smtrail.yaml:3:16: bad external_id (expected 2 to 1224 characters of letters, digits and _+=,.@:/-)",
	    "external_id of 1 character");
	load_err(xf("aws:\n  role_arn: arn:aws:iam::123456789012:role/r\n"
		    "  external_id: %01225d\n",
		     0),
	    "smtrail.yaml:3:16: bad external_id (expected 2 to 1224 characters of letters, digits and _+=,.@:/-)",
	    "external_id of 1225 characters");
	load_err("aws:\n  role_arn: arn:aws:iam::123456789012:role/r\n"
		 "  role_session_name: a\n",
	    "smtrail.yaml:3:22: bad role_session_name 'a' (expected 2 to 64 characters of letters, digits and _+=,.@-)",
	    "role_session_name of 1 character");
	load_err("aws:\n  role_arn: arn:aws:iam::123456789012:role/r\n"
		 "  role_session_name: a/b\n",
	    "smtrail.yaml:3:22: bad role_session_name 'a/b' (expected 2 to 64 characters of letters, digits and _+=,.@-)",
	    "role_session_name with '/'");
	load_err(xf("aws:\n  role_arn: arn:aws:iam::123456789012:role/r\n"
		    "  role_session_name: %065d\n",
		     0),
	    "smtrail.yaml:3:22: bad role_session_name '"
	    "0000000000000000000000000000000000000000000000000000000000000000"
	    "...' (expected 2 to 64 characters of letters, digits and _+=,.@-)",
	    "role_session_name of 65 characters");

	/* The happy path. */
	cfg = load_ok("aws:\n"
		      "  role_arn: arn:aws-cn:iam::123456789012:role/path/to/"
		      "reader+x=y,z.a@b-c_d\n"
		      "  external_id: 'Ext_ID+=,.@:/-9'\n"
		      "  role_session_name: host_1+=,.@-x\n",
	    "role with everything");
	if (cfg == NULL)
		return;
	is_str(cfg->aws.role_arn,
	    "arn:aws-cn:iam::123456789012:role/path/to/reader+x=y,z.a@b-c_d",
	    "aws.role_arn");
	is_str(cfg->aws.external_id, "Ext_ID+=,.@:/-9", "aws.external_id");
	is_str(cfg->aws.role_session_name, "host_1+=,.@-x",
	    "aws.role_session_name");
	buf_init(&b, 1u << 16);
	is_int(cfg_summary(cfg, &b), 0, "role: summary");
	ok(strstr(b.data,
	       "aws.endpoint_url: (environment, else AWS)\n"
	       "aws.role_arn: arn:aws-cn:iam::123456789012:role/path/to/"
	       "reader+x=y,z.a@b-c_d\n"
	       "aws.external_id: (set)\n"
	       "aws.role_session_name: host_1+=,.@-x\n"
	       "sqs.queue_url:") != NULL,
	    "role: summary lines, the external ID not shown");
	buf_done(&b);
	cfg_free(cfg);
	cfg = load_ok("aws: {role_arn: 'arn:aws:iam::123456789012:role/r'}\n",
	    "role alone");
	if (cfg == NULL)
		return;
	ok(cfg->aws.external_id == NULL && cfg->aws.role_session_name == NULL,
	    "role alone: no external ID, the default session name");
	buf_init(&b, 1u << 16);
	is_int(cfg_summary(cfg, &b), 0, "role alone: summary");
	ok(strstr(b.data,
	       "aws.role_arn: arn:aws:iam::123456789012:role/r\n"
	       "aws.external_id: (none)\n"
	       "aws.role_session_name: (smtrail-<host name>)\n") != NULL,
	    "role alone: summary");
	buf_done(&b);
	cfg_free(cfg);
}

static void
test_urls(void)
{
	load_err("sqs: {queue_url: ftp://q/1}\n",
	    "smtrail.yaml:1:18: bad URL 'ftp://q/1' for 'queue_url' (expected http:// or https://)",
	    "queue_url ftp");
	load_err("sqs: {queue_url: sqs.eu-west-1.amazonaws.com/1/q}\n",
	    "smtrail.yaml:1:18: bad URL 'sqs.eu-west-1.amazonaws.com/1/q' for 'queue_url' (expected http:// or https://)",
	    "queue_url without a scheme");
	load_err("aws: {endpoint_url: 'http:///path'}\n",
	    "smtrail.yaml:1:21: bad URL 'http:///path' for 'endpoint_url' (no host)",
	    "endpoint_url without a host");
	load_err("aws: {endpoint_url: 'http://a b'}\n",
	    "smtrail.yaml:1:21: bad URL 'http://a b' for 'endpoint_url' (holds a space or control character)",
	    "endpoint_url with a space");
	load_err("sns: {cert_url_pattern: '^https://(sns'}\n",
	    "smtrail.yaml:1:25: bad regex for 'cert_url_pattern': Unmatched ( or \\(",
	    "bad regex");
	load_err("sns: {cert_url_pattern: 'a{2,1}'}\n",
	    "smtrail.yaml:1:25: bad regex for 'cert_url_pattern': Invalid content of \\{\\}",
	    "bad regex repetition");
	load_err(xf("sns: {cert_url_pattern: '%01025d'}\n", 0),
	    "smtrail.yaml:1:25: bad regex for 'cert_url_pattern': longer than 1024 bytes",
	    "regex too long");
	load_err("sns: {subscribe_url_pattern: '^https://(sns'}\n",
	    "smtrail.yaml:1:30: bad regex for 'subscribe_url_pattern': Unmatched ( or \\(",
	    "bad subscribe_url_pattern");
	load_err("sns: {confirm_subscriptions: maybe}\n",
	    "smtrail.yaml:1:30: expected true or false for 'confirm_subscriptions'",
	    "confirm_subscriptions not a boolean");
	load_err("metrics: {listen: localhost}\n",
	    "smtrail.yaml:1:19: bad address 'localhost' for 'listen' (expected IPv4:port, [IPv6]:port, localhost:port, or off; other host names are not resolved)",
	    "listen without a port");
	load_err("metrics: {listen: 'metrics.example:9410'}\n",
	    "smtrail.yaml:1:19: bad address 'metrics.example:9410' for 'listen' (expected IPv4:port, [IPv6]:port, localhost:port, or off; other host names are not resolved)",
	    "listen on a name: refused (resolving would block)");
	load_err("metrics: {listen: 'localhost.:9410'}\n",
	    "smtrail.yaml:1:19: bad address 'localhost.:9410' for 'listen' (expected IPv4:port, [IPv6]:port, localhost:port, or off; other host names are not resolved)",
	    "listen on 'localhost.': a name like any other");
	load_err("metrics: {listen: '127.0.0.1:65536'}\n",
	    "smtrail.yaml:1:19: bad address '127.0.0.1:65536' for 'listen' (expected IPv4:port, [IPv6]:port, localhost:port, or off; other host names are not resolved)",
	    "listen port too big");
	load_err("metrics: {listen: '::1:9410'}\n",
	    "smtrail.yaml:1:19: bad address '::1:9410' for 'listen' (expected IPv4:port, [IPv6]:port, localhost:port, or off; other host names are not resolved)",
	    "IPv6 without brackets");
	load_err("metrics: {listen: '[zz::1]:9410'}\n",
	    "smtrail.yaml:1:19: bad address '[zz::1]:9410' for 'listen' (expected IPv4:port, [IPv6]:port, localhost:port, or off; other host names are not resolved)",
	    "bad IPv6");
	load_err("metrics: {listen: ':9410'}\n",
	    "smtrail.yaml:1:19: bad address ':9410' for 'listen' (expected IPv4:port, [IPv6]:port, localhost:port, or off; other host names are not resolved)",
	    "listen without a host");
}

static void
test_destinations(void)
{
	load_err("destinations:\n  pager: {type: pagerduty}\n",
	    "smtrail.yaml:2:10: missing 'routing_key' or 'routing_key_file' in pagerduty destination 'pager'",
	    "pagerduty without a key");
	load_err("destinations:\n  x: {type: email, url: 'https://" CANARY
		 "'}\n",
	    "smtrail.yaml:2:13: unknown destination type 'email' (expected webhook, stdout, slack or pagerduty)",
	    "unknown destination type");
	load_err("destinations:\n  x: {type: slak}\n",
	    "smtrail.yaml:2:13: unknown destination type 'slak' (did you mean 'slack'?)",
	    "destination type typo");
	load_err("destinations:\n  x: {url: 'https://h/" CANARY "'}\n",
	    "smtrail.yaml:2:6: missing 'type' in destination 'x' (expected webhook, stdout, slack or pagerduty)",
	    "missing type");
	load_err("destinations:\n  x:\n",
	    "smtrail.yaml:2:5: expected a mapping for 'x'", "destination null");
	load_err("destinations:\n  hook:\n    type: webhook\n    timeout: 5s\n",
	    "smtrail.yaml:3:5: missing 'url' or 'url_file' in webhook destination 'hook'",
	    "webhook without a url");
	load_err("destinations:\n  s: {type: slack, channel: '#ops'}\n",
	    "smtrail.yaml:2:6: missing 'url' or 'url_file' in slack destination 's'",
	    "slack without a url");
	load_err(
	    xf("destinations:\n"
	       "  s:\n"
	       "    type: slack\n"
	       "    url: 'https://hooks.slack.com/" CANARY "'\n"
	       "    url_file: %s\n",
		put("both.url", "https://hooks.slack.com/" CANARY "\n", 0600)),
	    "smtrail.yaml:5:15: both 'url' and 'url_file' in destination 's'; use one",
	    "both url and url_file");
	load_err("destinations:\n"
		 "  p:\n"
		 "    type: pagerduty\n"
		 "    routing_key: " CANARY "\n"
		 "    routing_key_file: /nonexistent\n",
	    "smtrail.yaml:5:23: both 'routing_key' and 'routing_key_file' in destination 'p'; use one",
	    "both routing_key and routing_key_file");
	load_err("destinations:\n"
		 "  s: {type: slack, url: 'https://h/" CANARY "', chanel: x}\n",
	    "smtrail.yaml:2:55: unknown slack destination key 'chanel' (did you mean 'channel'?)",
	    "unknown destination key");
	load_err("destinations:\n"
		 "  s: {type: slack, url: 'https://h/x', hmac_secret: " CANARY
		 "}\n",
	    "smtrail.yaml:2:40: 'hmac_secret' does not apply to a slack destination",
	    "key of another type");
	load_err("destinations:\n  c: {type: stdout, url: 'https://" CANARY
		 "'}\n",
	    "smtrail.yaml:2:21: 'url' does not apply to a stdout destination",
	    "stdout with a url");
	load_err(
	    xf("destinations:\n"
	       "  s: {type: slack, url: 'https://h/x', channel: '%0300d'}\n",
		0),
	    "smtrail.yaml:2:49: destination 's': 'channel' is longer than 256 bytes",
	    "the kind's check, at the option");
	load_err("destinations:\n"
		 "  p: {type: pagerduty, url_file: /x, routing_key: " CANARY
		 "}\n",
	    "smtrail.yaml:2:24: 'url_file' does not apply to a pagerduty destination",
	    "pagerduty's url has no file form");
	load_err("destinations:\n"
		 "  h: {type: webhook, url: 'https://h/" CANARY "',\n"
		 "      url: 'https://h/" CANARY "'}\n",
	    "smtrail.yaml:3:7: duplicate key 'url' (first at line 2)",
	    "duplicate url");
	load_err("destinations:\n  ops hook: {type: stdout}\n",
	    "smtrail.yaml:2:3: bad destination name 'ops hook' (use letters, digits, '.', '_' and '-', at most 128)",
	    "bad destination name");
	load_err("destinations:\n  h: {type: webhook, url: 'ftp://" CANARY
		 "'}\n",
	    "smtrail.yaml:2:27: bad URL in 'url' of destination 'h' (expected http:// or https://; the value is not shown)",
	    "inline url not http");
	load_err("destinations:\n  h: {type: webhook, url: " CANARY "}\n",
	    "smtrail.yaml:2:27: bad URL in 'url' of destination 'h' (expected http:// or https://; the value is not shown)",
	    "inline url a bare word");
	load_err("destinations:\n  h: {type: webhook, url: {" CANARY ": 1}}\n",
	    "smtrail.yaml:2:27: expected a string for 'url'", "url a mapping");
	load_err("destinations:\n"
		 "  h: {type: webhook, url: 'https://h/x', hmac_secret: ''}\n",
	    "smtrail.yaml:2:55: 'hmac_secret' of destination 'h' is empty or holds a NUL byte",
	    "empty hmac_secret");
	load_err("destinations:\n"
		 "  h: {type: webhook, url: 'https://h/" CANARY
		 "', timeout: 2h, deadline: 8d, rate: 1/w}\n",
	    "smtrail.yaml:2:66: bad value '2h' for 'timeout' (expected 1s to 1h)\n"
	    "smtrail.yaml:2:80: bad value '8d' for 'deadline' (expected 1s to 7d)\n"
	    "smtrail.yaml:2:90: bad rate '1/w' for 'rate' (expected a count per second, minute, hour or day, such as '1/s' or '20/m')",
	    "timeout, deadline and rate out of range");
	load_err(
	    "destinations:\n  s: {type: slack, url: 'https://h/x', rate: 0/s}\n",
	    "smtrail.yaml:2:46: bad rate '0/s' for 'rate' (expected a count per second, minute, hour or day, such as '1/s' or '20/m')",
	    "rate 0");
}

static void
test_references(void)
{
	const char *dests =
	    "destinations:\n"
	    "  console: {type: stdout}\n"
	    "  pager: {type: pagerduty, routing_key: " CANARY "}\n";

	load_err(xf("%sdefault_destinations: [console, consol]\n", dests),
	    "smtrail.yaml:4:33: unknown destination 'consol' (did you mean 'console'?)",
	    "unknown default destination");
	load_err("default_destinations: console\n",
	    "smtrail.yaml:1:23: unknown destination 'console'",
	    "no destinations defined");
	load_err(xf("%sroute:\n"
		    "  - {severity: [critical], destinations: [pagr]}\n",
		     dests),
	    "smtrail.yaml:5:43: unknown destination 'pagr' (did you mean 'pager'?)",
	    "unknown route destination");
	load_err(xf("%sroute:\n"
		    "  - {severity: [critical, severe], destinations: pager}\n",
		     dests),
	    "smtrail.yaml:5:27: unknown severity 'severe' (expected info, warning, error or critical)",
	    "unknown route severity");
	load_err(
	    xf("%sroute:\n"
	       "  - {severity: error, min_severity: warning, destinations: pager}\n",
		dests),
	    "smtrail.yaml:5:37: both 'severity' and 'min_severity' in a route; use one",
	    "severity and min_severity");
	load_err(xf("%sroute:\n  - {min_severity: warn, destinations: pager}\n",
		     dests),
	    "smtrail.yaml:5:20: unknown severity 'warn' (expected info, warning, error or critical)",
	    "unknown min_severity");
	load_err(xf("%sroute:\n  - {severity: critical}\n", dests),
	    "smtrail.yaml:5:5: missing 'destinations' in route",
	    "route without destinations");
	load_err(xf("%sroute:\n  - {destinations: []}\n", dests),
	    "smtrail.yaml:5:20: empty list for 'destinations'",
	    "route with no destination");
	load_err(xf("%sroute:\n  - pager\n", dests),
	    "smtrail.yaml:5:5: expected a mapping for a route (with 'destinations')",
	    "route item a scalar");
	load_err(
	    xf("%sroute:\n  - {destinations: pager, continue: maybe}\n", dests),
	    "smtrail.yaml:5:37: expected true or false for 'continue'",
	    "continue not a bool");
	load_err(
	    xf("%sroute:\n  - {destinations: pager, contine: true}\n", dests),
	    "smtrail.yaml:5:27: unknown route key 'contine' (did you mean 'continue'?)",
	    "unknown route key");
}

static void
test_secret_files(void)
{
	const char *open_path = put("open.key", CANARY "\n", 0644);
	const char *gw_path = put("gw.key", CANARY "\n", 0620);
	const char *empty_path = put("empty.key", "\n", 0600);
	const char *notaurl = put("notaurl.url", "ftp://" CANARY "\n", 0600);
	const char *credfile = put("cred-open", CANARY "\n", 0604);

	load_err(xf("destinations:\n"
		    "  ops: {type: webhook, url: 'https://h/x', "
		    "hmac_secret_file: %s}\n",
		     open_path),
	    xf("smtrail.yaml:2:62: secret file '%s' for 'hmac_secret_file' of destination 'ops': open to others (mode 0644; chmod o-rwx it)",
		open_path),
	    "world-readable secret file");
	load_err(xf("destinations:\n"
		    "  pd: {type: pagerduty, routing_key_file: %s}\n",
		     gw_path),
	    xf("smtrail.yaml:2:43: secret file '%s' for 'routing_key_file' of destination 'pd': writable by its group (mode 0620; chmod g-w it)",
		gw_path),
	    "group-writable secret file");
	load_err(xf("destinations:\n"
		    "  s: {type: slack, url_file: %s/missing.url}\n",
		     tmpdir),
	    xf("smtrail.yaml:2:30: secret file '%s/missing.url' for 'url_file' of destination 's': No such file or directory",
		tmpdir),
	    "missing secret file");
	load_err(xf("destinations:\n"
		    "  s: {type: slack, url_file: %s}\n",
		     empty_path),
	    xf("smtrail.yaml:2:30: secret file '%s' for 'url_file' of destination 's': empty",
		empty_path),
	    "empty secret file");
	load_err(xf("destinations:\n"
		    "  s: {type: slack, url_file: %s}\n",
		     tmpdir),
	    xf("smtrail.yaml:2:30: secret file '%s' for 'url_file' of destination 's': not a regular file",
		tmpdir),
	    "a directory as secret file");
	load_err(xf("destinations:\n"
		    "  s: {type: slack, url_file: %s}\n",
		     notaurl),
	    xf("smtrail.yaml:2:30: bad URL in secret file '%s' for 'url_file' of destination 's' (expected http:// or https://; the value is not shown)",
		notaurl),
	    "secret file not holding a URL");

	load_err("destinations:\n"
		 "  s: {type: slack, url_file: \"/etc/a\\0b\"}\n",
	    "smtrail.yaml:2:30: NUL byte in 'url_file'",
	    "NUL in a secret file's path");
	(void)unsetenv("CREDENTIALS_DIRECTORY");
	load_err("destinations:\n"
		 "  s: {type: slack, url: 'credential:slack-url'}\n",
	    "smtrail.yaml:2:25: credential 'slack-url' for 'url' of destination 's': $CREDENTIALS_DIRECTORY is not set (see systemd's LoadCredential=)",
	    "credential without CREDENTIALS_DIRECTORY");
	load_err("destinations:\n"
		 "  s: {type: slack, url: 'credential:../etc/passwd'}\n",
	    "smtrail.yaml:2:25: bad credential name '../etc/passwd' in 'url' of destination 's' (expected credential:NAME, NAME a file in $CREDENTIALS_DIRECTORY)",
	    "credential name with a slash");
	load_err("destinations:\n"
		 "  s: {type: slack, url: 'credential:'}\n",
	    "smtrail.yaml:2:25: bad credential name '' in 'url' of destination 's' (expected credential:NAME, NAME a file in $CREDENTIALS_DIRECTORY)",
	    "empty credential name");
	(void)setenv("CREDENTIALS_DIRECTORY", tmpdir, 1);
	load_err("destinations:\n"
		 "  p: {type: pagerduty, routing_key: 'credential:nope'}\n",
	    xf("smtrail.yaml:2:37: credential 'nope' for 'routing_key' of destination 'p': %s/nope: No such file or directory",
		tmpdir),
	    "missing credential");
	load_err(
	    "destinations:\n"
	    "  p: {type: pagerduty, routing_key: 'credential:cred-open'}\n",
	    xf("smtrail.yaml:2:37: credential 'cred-open' for 'routing_key' of destination 'p': %s: open to others (mode 0604; chmod o-rwx it)",
		credfile),
	    "world-readable credential");
	(void)unsetenv("CREDENTIALS_DIRECTORY");
}

/* secret.c on its own. */
static void
test_secret(void)
{
	struct secret *s;
	struct diag d;
	char src[] = "abc";
	char *big;
	int r;

	s = secret_new(src, 3);
	src[0] = 'x';
	is_str(secret_value(s), "abc", "secret_new copies");
	is_int((long long)secret_len(s), 3, "secret_len");
	secret_free(s);
	s = secret_new("", 0);
	is_str(secret_value(s), "", "empty secret");
	secret_free(s);
	ok(secret_value(NULL) == NULL, "secret_value(NULL)");
	is_int((long long)secret_len(NULL), 0, "secret_len(NULL)");
	secret_free(NULL);

	s = NULL;
	r = secret_read_file(put("crlf.key", "k1\r\n", 0600), 64, &s, &d);
	is_int(r, 0, "CRLF file: read");
	is_str(secret_value(s), "k1", "CRLF file: one newline trimmed");
	secret_free(s);
	r = secret_read_file(put("two.key", "k2\n\n", 0440), 64, &s, &d);
	is_int(r, 0, "two newlines: read (0440 is fine)");
	is_str(secret_value(s), "k2\n", "two newlines: only one trimmed");
	secret_free(s);
	r = secret_read_file(put("cr.key", "k3\r", 0600), 64, &s, &d);
	is_int(r, 0, "a lone CR: read");
	is_str(secret_value(s), "k3\r", "a lone CR: kept");
	secret_free(s);

	s = NULL;
	big = malloc(100);
	if (big == NULL)
		exit(1);
	memset(big, 'k', 99);
	big[99] = '\0';
	r = secret_read_file(put("big.key", big, 0600), 64, &s, &d);
	free(big);
	is_int(r, -E2BIG, "over max: -E2BIG");
	is_str(d.msg, "larger than 64 bytes", "over max: why");
	ok(s == NULL, "over max: ret untouched");
	r = secret_read_file(put("open2.key", "x\n", 0604), 64, &s, &d);
	is_int(r, -EPERM, "others may read: -EPERM");
	is_str(d.file, xf("%s/open2.key", tmpdir), "diag names the file");
	r = secret_read_file(put("gw2.key", "x\n", 0660), 64, &s, &d);
	is_int(r, -EPERM, "group may write: -EPERM");
	r = secret_read_file(put("gr.key", "x\n", 0640), 64, &s, &d);
	is_int(r, 0, "group may read: allowed");
	secret_free(s);
	s = NULL;
	if (mkfifo(xf("%s/fifo", tmpdir), 0600) == 0) {
		r = secret_read_file(xf("%s/fifo", tmpdir), 64, &s, &d);
		is_int(r, -EINVAL, "a FIFO: -EINVAL, without hanging");
		is_str(d.msg, "not a regular file", "a FIFO: why");
	}
}

/* ---- as smtrail check loads it ----------------------------------------- */

/* A configuration run would take: a source, the buckets and the topics. */
#define RUNNABLE                                                                   \
	"sqs: {queue_url: 'https://sqs.eu-west-1.amazonaws.com/123456789012/q'}\n" \
	"s3: {allowed_buckets: [trail-bucket]}\n"                                  \
	"sns: {topic_arns: ['arn:aws:sns:eu-west-1:123456789012:ct']}\n"

/* Loads text with o: the return code, the diagnostics exactly (warnings
 * marked "W "), and no secret in them. Returns the cfg (or NULL). */
static struct cfg *
check_is(const char *text, const struct cfg_opts *o, int want_r,
    const char *want, const char *name)
{
	char line[700];
	struct cfg *cfg = NULL;
	size_t off = 0;
	unsigned i;

	memset(&dl, 0, sizeof(dl));
	is_int(cfg_load_buffer_opts("smtrail.yaml", text, strlen(text), o, &cfg,
		   &dl),
	    want_r, "%s: %d", name, want_r);
	dtext[0] = '\0';
	for (i = 0; i < dl.n && off < sizeof(dtext); i++)
		off +=
		    (size_t)snprintf(dtext + off, sizeof(dtext) - off, "%s%s%s",
			i > 0 ? "\n" : "", dl.items[i].warning ? "W " : "",
			diag_format(&dl.items[i], line, sizeof(line)));
	is_str(dtext, want, "%s: diagnostics", name);
	ok(strstr(dtext, CANARY) == NULL, "%s: no secret in diagnostics", name);
	return cfg;
}

#define HTTP_WHY "(the alert and the URL travel in clear text)"
#define NO_SOURCE                                                              \
	"no source configured for run: neither sqs.queue_url nor lookup is set"
#define NO_BUCKETS                                                             \
	"s3.allowed_buckets is not set: objects are fetched from any bucket a notification names (list the trail's buckets)"
#define NO_TOPICS                                                              \
	"sns.topic_arns is not set: notifications from any SNS topic are accepted (list the trail's topics)"

/* lookup: regions, durations, and a source for run. */
static void
test_lookup(void)
{
	const struct cfg_opts run = {.run = true};
	struct cfg *cfg;

	load_err("lookup: {interval: 1m}\n",
	    "smtrail.yaml:1:9: lookup.regions is not set (list the regions to poll, e.g. [us-east-1])",
	    "lookup without regions");
	load_err("lookup: {regions: []}\n",
	    "smtrail.yaml:1:19: lookup.regions is empty (list the regions to poll, or remove the lookup section)",
	    "lookup with no regions");
	load_err("lookup:\n  regions: [us-east-1, EU-West-1, us-east-1, 7]\n",
	    "smtrail.yaml:2:24: bad region 'EU-West-1' (expected an AWS region such as us-east-1)\n"
	    "smtrail.yaml:2:35: region 'us-east-1' is listed twice\n"
	    "smtrail.yaml:2:46: bad region '7' (expected an AWS region such as us-east-1)",
	    "bad and repeated regions");
	load_err("lookup: {regions: [us-east-1], since: 91d, interval: 0, "
		 "overlap: 2d, every: 1m}\n",
	    "smtrail.yaml:1:39: bad value '91d' for 'since' (expected 0s to 90d)\n"
	    "smtrail.yaml:1:54: bad value '0' for 'interval' (expected 1s to 1d)\n"
	    "smtrail.yaml:1:66: bad value '2d' for 'overlap' (expected 0s to 1d)\n"
	    "smtrail.yaml:1:70: unknown lookup key 'every'",
	    "lookup ranges and keys");
	cfg = load_ok("lookup: {regions: [eu-west-1, us-east-1]}\n",
	    "lookup defaults");
	if (cfg != NULL) {
		is_int((long long)cfg->lookup.n_regions, 2, "two regions");
		is_str(cfg->lookup.regions[1], "us-east-1", "in file order");
		is_int(cfg->lookup.interval_s, 60, "interval 1m");
		is_int((long long)cfg->lookup.since_s, 86400, "since 24h");
		is_int((long long)cfg->lookup.overlap_s, 900, "overlap 15m");
	}
	cfg_free(cfg);
	cfg = load_ok("lookup: {regions: us-west-2, interval: 30s, since: 7d, "
		      "overlap: 0}\n",
	    "lookup set");
	if (cfg != NULL) {
		is_str(cfg->lookup.regions[0], "us-west-2", "one region");
		is_int(cfg->lookup.interval_s, 30, "interval 30s");
		is_int((long long)cfg->lookup.since_s, 7 * 86400, "since 7d");
		is_int((long long)cfg->lookup.overlap_s, 0, "overlap 0");
	}
	cfg_free(cfg);
	cfg_free(check_is("lookup: {regions: [us-east-1]}\n", &run, 0, "",
	    "run: lookup alone is a source"));
	cfg_free(check_is("lookup: {regions: [US]}\n", &run, -EINVAL,
	    "smtrail.yaml:1:20: bad region 'US' (expected an AWS region such as us-east-1)",
	    "run: a bad lookup section says why, not 'no source'"));
}

/* What run needs (a source), and the advice on s3 and sns. */
static void
test_check_run(void)
{
	const struct cfg_opts run = {.run = true};
	const struct cfg_opts adv = {.advise = true};
	const struct cfg_opts strict = {.run = true,
	    .advise = true,
	    .strict = true};

	cfg_free(check_is("log_level: info\n", &run, -EINVAL,
	    "smtrail.yaml: " NO_SOURCE, "no sqs section: file-wide"));
	cfg_free(check_is("log_level: info\nsqs: {wait_time: 5s}\n", &run,
	    -EINVAL, "smtrail.yaml:2:1: " NO_SOURCE, "an sqs section: at it"));
	cfg_free(check_is("log_level: info\n", NULL, 0, "",
	    "not asked: no source is fine (replay, test-destination)"));
	cfg_free(
	    check_is(RUNNABLE, &strict, 0, "", "runnable: nothing to say"));
	cfg_free(check_is("log_level: info\n", &adv, 0,
	    "W smtrail.yaml: " NO_BUCKETS "\nW smtrail.yaml: " NO_TOPICS,
	    "no s3 nor sns section: file-wide warnings"));
	cfg_free(check_is("s3: {max_object_size: 1MiB}\n"
			  "sns:\n"
			  "  verify_signatures: true\n",
	    &adv, 0,
	    "W smtrail.yaml:1:1: " NO_BUCKETS
	    "\nW smtrail.yaml:2:1: " NO_TOPICS,
	    "sections without the keys: at the sections"));
	cfg_free(check_is("s3: {allowed_buckets: null}\n"
			  "sns: {topic_arns: []}\n",
	    &adv, 0,
	    "W smtrail.yaml:1:6: " NO_BUCKETS
	    "\nW smtrail.yaml:2:7: " NO_TOPICS,
	    "keys null or empty: at the keys"));
	cfg_free(check_is("sqs: {wait_time: 5s}\n", &strict, -EINVAL,
	    "smtrail.yaml: " NO_BUCKETS "\nsmtrail.yaml: " NO_TOPICS
	    "\nsmtrail.yaml:1:1: " NO_SOURCE,
	    "strict: the advice is errors"));
}

/* A queue's ARN where its URL belongs: taken, with the URL to write. */
static void
test_check_queue_arn(void)
{
	const struct cfg_opts strict = {.strict = true};
	struct cfg *cfg;

	cfg = check_is(
	    "sqs: {queue_url: 'arn:aws:sqs:eu-west-1:123456789012:smtrail'}\n",
	    NULL, 0,
	    "W smtrail.yaml:1:18: 'queue_url' is a queue ARN; its URL is 'https://sqs.eu-west-1.amazonaws.com/123456789012/smtrail' (used instead: write that)",
	    "queue ARN");
	ok(cfg != NULL &&
		strcmp(cfg->sqs.queue_url,
		    "https://sqs.eu-west-1.amazonaws.com/123456789012/smtrail") ==
		    0,
	    "queue ARN: its URL is used");
	cfg_free(cfg);
	cfg = check_is(
	    "sqs:\n  queue_url: arn:aws-cn:sqs:cn-north-1:123456789012:q.fifo\n",
	    NULL, 0,
	    "W smtrail.yaml:2:14: 'queue_url' is a queue ARN; its URL is 'https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q.fifo' (used instead: write that)",
	    "China, FIFO queue ARN");
	cfg_free(cfg);
	cfg_free(check_is(
	    "sqs: {queue_url: 'arn:aws:sqs:eu-west-1:123456789012:smtrail'}\n",
	    &strict, -EINVAL,
	    "smtrail.yaml:1:18: 'queue_url' is a queue ARN; its URL is 'https://sqs.eu-west-1.amazonaws.com/123456789012/smtrail' (used instead: write that)",
	    "queue ARN, strict: an error"));
	cfg_free(check_is(
	    "sqs: {queue_url: 'arn:aws:sns:eu-west-1:123456789012:topic'}\n",
	    NULL, -EINVAL,
	    "smtrail.yaml:1:18: bad URL 'arn:aws:sns:eu-west-1:123456789012:topic' for 'queue_url' (expected http:// or https://)",
	    "a topic's ARN: a bad URL"));
	cfg_free(check_is("sqs: {queue_url: 'arn:aws:sqs:eu-west-1:1234:q'}\n",
	    NULL, -EINVAL,
	    "smtrail.yaml:1:18: bad URL 'arn:aws:sqs:eu-west-1:1234:q' for 'queue_url' (expected http:// or https://)",
	    "a queue ARN with a short account: a bad URL"));
	cfg_free(check_is(
	    "sqs: {queue_url: 'arn:aws-iso:sqs:us-iso-east-1:123456789012:q'}\n",
	    NULL, -EINVAL,
	    "smtrail.yaml:1:18: bad URL 'arn:aws-iso:sqs:us-iso-east-1:123456789012:q' for 'queue_url' (expected http:// or https://)",
	    "a partition whose domain we do not know: a bad URL"));
	cfg_free(check_is(
	    "sqs: {queue_url: 'arn:aws:sqs:eu-west-1:123456789012:a/b'}\n",
	    NULL, -EINVAL,
	    "smtrail.yaml:1:18: bad URL 'arn:aws:sqs:eu-west-1:123456789012:a/b' for 'queue_url' (expected http:// or https://)",
	    "a queue name with a slash: a bad URL"));
}

/* Advice on destinations: http://, Slack's host, PagerDuty's key. */
static void
test_check_dests(void)
{
	const struct cfg_opts adv = {.advise = true};
	const struct cfg_opts strict = {.advise = true, .strict = true};
	const char *slack_file = put("slack-other.url",
	    "https://chat.example.net/" CANARY "\n", 0600);
	const char *pd_file =
	    put("pd.key", "0123456789abcdef0123456789abcdef\n", 0600);

	cfg_free(check_is(RUNNABLE "destinations:\n"
				   "  hook: {type: webhook, url: "
				   "'http://hooks.example.com/" CANARY "'}\n",
	    &adv, 0,
	    "W smtrail.yaml:5:30: destination 'hook': 'url' is http://, not https:// " HTTP_WHY,
	    "webhook over http://"));
	cfg_free(check_is(RUNNABLE "destinations:\n"
				   "  hook: {type: webhook, url: "
				   "'HTTP://hooks.example.com/" CANARY "'}\n",
	    &adv, 0,
	    "W smtrail.yaml:5:30: destination 'hook': 'url' is http://, not https:// " HTTP_WHY,
	    "HTTP:// in capitals"));
	cfg_free(check_is(RUNNABLE "destinations:\n"
				   "  hook: {type: webhook, url: "
				   "'http://hooks.example.com/" CANARY "'}\n",
	    &strict, -EINVAL,
	    "smtrail.yaml:5:30: destination 'hook': 'url' is http://, not https:// " HTTP_WHY,
	    "webhook over http://, strict: an error"));
	cfg_free(
	    check_is(RUNNABLE "destinations:\n"
			      "  a: {type: webhook, url: "
			      "'http://127.0.0.1:8080/" CANARY "'}\n"
			      "  b: {type: webhook, url: "
			      "'http://127.9.9.9/" CANARY "'}\n"
			      "  c: {type: webhook, url: "
			      "'http://[::1]:9/" CANARY "'}\n"
			      "  d: {type: webhook, url: "
			      "'http://user@LocalHost:80/" CANARY "'}\n"
			      "  e: {type: slack, url: "
			      "'http://127.0.0.1:1/services/" CANARY "'}\n",
		&strict, 0, "", "http:// to this host: fine, even strict"));
	cfg_free(check_is(RUNNABLE "destinations:\n"
				   "  a: {type: webhook, url: "
				   "'http://128.0.0.1/" CANARY "'}\n"
				   "  b: {type: webhook, url: "
				   "'http://localhost.example.com/" CANARY
				   "'}\n",
	    &adv, 0,
	    "W smtrail.yaml:5:27: destination 'a': 'url' is http://, not https:// " HTTP_WHY
	    "\nW smtrail.yaml:6:27: destination 'b': 'url' is http://, not https:// " HTTP_WHY,
	    "http:// to hosts that only look local"));
	cfg_free(check_is(RUNNABLE
	    "destinations:\n"
	    "  s: {type: slack, url: "
	    "'https://chat.example.net/services/" CANARY "'}\n"
	    "  ok: {type: slack, url: "
	    "'https://hooks.slack.com/services/" CANARY "'}\n",
	    &adv, 0,
	    "W smtrail.yaml:5:25: destination 's': 'url' is on 'chat.example.net', not hooks.slack.com (a Slack incoming webhook is https://hooks.slack.com/services/...)",
	    "Slack on another host"));
	cfg_free(check_is(RUNNABLE "destinations:\n"
				   "  s: {type: slack, url: "
				   "'http://Hooks.Slack.com:80/services/" CANARY
				   "'}\n",
	    &adv, 0,
	    "W smtrail.yaml:5:25: destination 's': 'url' is http://, not https:// " HTTP_WHY,
	    "Slack over http://: one warning (its host is Slack's)"));
	cfg_free(check_is(xf(RUNNABLE "destinations:\n"
				      "  s: {type: slack, url_file: %s}\n",
			      slack_file),
	    &adv, 0,
	    "W smtrail.yaml:5:30: destination 's': 'url' is on 'chat.example.net', not hooks.slack.com (a Slack incoming webhook is https://hooks.slack.com/services/...)",
	    "Slack's URL from a file: at url_file"));
	cfg_free(check_is(RUNNABLE "destinations:\n"
				   "  p: {type: pagerduty, routing_key: abc}\n",
	    &adv, 0,
	    "W smtrail.yaml:5:37: destination 'p': 'routing_key' is not 32 characters long (a PagerDuty Events API v2 integration key is)",
	    "PagerDuty key of 3 characters"));
	cfg_free(check_is(RUNNABLE "destinations:\n"
				   "  p: {type: pagerduty, routing_key: " CANARY
				   "}\n",
	    &strict, -EINVAL,
	    "smtrail.yaml:5:37: destination 'p': 'routing_key' is not 32 characters long (a PagerDuty Events API v2 integration key is)",
	    "PagerDuty key, strict: an error"));
	cfg_free(check_is(xf(RUNNABLE
			      "destinations:\n"
			      "  p: {type: pagerduty, routing_key_file: "
			      "%s}\n"
			      "  q: {type: pagerduty, url: "
			      "'http://events.example.com/x', "
			      "routing_key: "
			      "0123456789abcdef0123456789abcdef}\n",
			      pd_file),
	    &adv, 0,
	    "W smtrail.yaml:6:29: destination 'q': 'url' is http://, not https:// " HTTP_WHY,
	    "PagerDuty: a key of 32; its url over http://"));
	cfg_free(check_is(RUNNABLE "destinations:\n"
				   "  hook: {type: webhook, url: "
				   "'http://hooks.example.com/" CANARY "'}\n",
	    NULL, 0, "", "not asked: no advice (run, replay)"));
}

/* credential:NAME from --credentials-dir, or left unread. */
static void
test_check_credentials(void)
{
	const struct cfg_opts unread = {.credentials_unread = true,
	    .advise = true};
	const struct cfg_opts unread_strict = {.credentials_unread = true,
	    .advise = true,
	    .strict = true};
	struct cfg_opts dir = {.credentials_unread = true, .advise = true};
	const char *credir = xf("%s/creds", tmpdir);
	struct cfg *cfg;
	struct buf b;

	(void)unsetenv("CREDENTIALS_DIRECTORY");
	cfg = check_is(RUNNABLE "destinations:\n"
				"  p: {type: pagerduty, routing_key: "
				"'credential:pd-key'}\n",
	    &unread, 0,
	    "W smtrail.yaml:5:37: credential 'pd-key' for 'routing_key' of destination 'p': not checked (systemd credential; no --credentials-dir, and $CREDENTIALS_DIRECTORY is not set)",
	    "credential, no directory: not checked");
	ok(cfg != NULL && cfg->destinations[0].unread == 2 &&
		cfg_dest_opt(&cfg->destinations[0], "routing_key") == NULL,
	    "not checked: marked, no value");
	buf_init(&b, 1u << 20);
	ok(cfg != NULL && cfg_summary(cfg, &b) == 0 &&
		strstr(b.data,
		    "destination p: pagerduty url https://events.pagerduty.com/... (secret) routing_key (credential, not checked) timeout 30s") !=
		    NULL,
	    "summary: (credential, not checked)");
	buf_done(&b);
	cfg_free(cfg);
	cfg_free(check_is(RUNNABLE "destinations:\n"
				   "  s: {type: slack, url: "
				   "'credential:slack-url'}\n",
	    &unread_strict, 0,
	    "W smtrail.yaml:5:25: credential 'slack-url' for 'url' of destination 's': not checked (systemd credential; no --credentials-dir, and $CREDENTIALS_DIRECTORY is not set)",
	    "not checked: a warning even strict (check could not see it)"));
	if (mkdir(credir, 0700) < 0)
		tl_bail("cannot make %s", credir);
	(void)put("creds/pd-key", "abc\n", 0600);
	dir.credentials_dir = credir;
	(void)setenv("CREDENTIALS_DIRECTORY", "/nonexistent", 1);
	cfg = check_is(RUNNABLE "destinations:\n"
				"  p: {type: pagerduty, routing_key: "
				"'credential:pd-key'}\n",
	    &dir, 0,
	    "W smtrail.yaml:5:37: destination 'p': 'routing_key' is not 32 characters long (a PagerDuty Events API v2 integration key is)",
	    "--credentials-dir: read there (not the environment's), checked");
	ok(cfg != NULL &&
		strcmp(cfg_dest_opt(&cfg->destinations[0], "routing_key"),
		    "abc") == 0,
	    "--credentials-dir: the value read");
	cfg_free(cfg);
	dir.credentials_dir = NULL;
	(void)setenv("CREDENTIALS_DIRECTORY", credir, 1);
	cfg_free(check_is(RUNNABLE "destinations:\n"
				   "  p: {type: pagerduty, routing_key: "
				   "'credential:nope'}\n",
	    &dir, -EINVAL,
	    xf("smtrail.yaml:5:37: credential 'nope' for 'routing_key' of destination 'p': %s/nope: No such file or directory",
		credir),
	    "$CREDENTIALS_DIRECTORY: read there; a missing one is an error"));
	(void)unsetenv("CREDENTIALS_DIRECTORY");
}

/* Secret files as the service's user reads them. */
static void
test_check_reader(void)
{
	struct secret_reader rd;
	struct cfg_opts o = {.advise = true};
	struct secret *s = NULL;
	struct stat st;
	struct diag d;
	const char *mine = put("mine.url", "https://hooks.slack.com/x\n", 0600);
	const char *other;
	uid_t me = geteuid();
	int r;

	/* The permission bits, alone. */
	memset(&st, 0, sizeof(st));
	memset(&rd, 0, sizeof(rd));
	rd.uid = 998;
	rd.gids[rd.n_gids++] = 997;
	st.st_uid = 0;
	st.st_gid = 0;
	st.st_mode = S_IFREG | 0600;
	ok(!secret_readable_by(&st, &rd), "root's 0600: not for uid 998");
	ok(secret_root_only(&st), "root's 0600: root only");
	st.st_gid = 997;
	st.st_mode = S_IFREG | 0640;
	ok(secret_readable_by(&st, &rd), "root:997 0640: uid 998 in 997 reads");
	ok(!secret_root_only(&st), "root:997 0640: not root only");
	st.st_gid = 0;
	ok(secret_root_only(&st), "root:root 0640: root only");
	st.st_uid = 998;
	st.st_mode = S_IFREG | 0040;
	st.st_gid = 997;
	ok(!secret_readable_by(&st, &rd),
	    "998:997 0040: the owner's bits decide, not the group's");
	st.st_mode = S_IFREG | 0400;
	ok(secret_readable_by(&st, &rd), "998 0400: its owner reads");
	ok(!secret_root_only(&st), "998 0400: not root only");
	rd.uid = 0;
	st.st_mode = S_IFREG | 0000;
	ok(secret_readable_by(&st, &rd), "uid 0 reads anything");

	/* secret_reader_user(). */
	memset(&d, 0, sizeof(d));
	is_int(secret_reader_user("root", &rd, &d), 0, "user root");
	ok(rd.uid == 0 && rd.n_gids >= 1 && rd.gids[0] == 0,
	    "user root: uid 0, group 0 first");
	is_str(rd.name, "user 'root' (uid 0)", "user root: named");
	is_int(secret_reader_user("0", &rd, &d), 0, "uid 0");
	is_str(rd.name, "user 'root' (uid 0)", "uid 0: its name");
	is_int(secret_reader_user("3999999999", &rd, &d), 0,
	    "a uid without a passwd entry (a DynamicUser's)");
	ok(rd.uid == 3999999999u && rd.n_gids == 1 && rd.gids[0] == 3999999999u,
	    "DynamicUser: the group of the same number");
	is_str(rd.name, "uid 3999999999", "DynamicUser: named by its uid");
	is_int(secret_reader_user("no-such-user-smtrail", &rd, &d), -ENOENT,
	    "no such user: -ENOENT");
	is_str(d.msg,
	    "no user 'no-such-user-smtrail' (a DynamicUser= exists only while its service runs: give its uid)",
	    "no such user: why");
	is_int(secret_reader_user("12ab", &rd, &d), -EINVAL, "12ab: -EINVAL");
	is_str(d.msg, "bad user '12ab' (expected a user name or a uid)",
	    "12ab: why");
	is_int(secret_reader_user("", &rd, &d), -EINVAL, "'': -EINVAL");

	/* Reading as another user. */
	memset(&rd, 0, sizeof(rd));
	rd.uid = me + 1;
	rd.gids[rd.n_gids++] = me + 1;
	(void)snprintf(rd.name, sizeof(rd.name), "uid %u", (unsigned)me + 1);
	o.reader = &rd;
	r = secret_read_file_as(mine, 64, &rd, &s, NULL, &d);
	if (me == 0) {
		is_int(r, -EACCES, "root's 0600 as uid 1: -EACCES");
		is_str(d.msg,
		    "not readable by uid 1: owner uid 0, group 0, mode 0600",
		    "root's 0600 as uid 1: why");
		cfg_free(check_is(xf(RUNNABLE "destinations:\n"
					      "  s: {type: slack, url_file: "
					      "%s}\n",
				      mine),
		    &o, -EINVAL,
		    xf("smtrail.yaml:5:30: secret file '%s' for 'url_file' of destination 's': not readable by uid 1: owner uid 0, group 0, mode 0600",
			mine),
		    "--as-user that cannot read it: an error"));
	} else {
		is_int(r, -EPERM, "mine as another uid: -EPERM");
		is_str(d.msg,
		    xf("owned by uid %u, neither root nor uid %u", (unsigned)me,
			(unsigned)me + 1),
		    "mine as another uid: why");
	}
	rd.uid = me;
	r = secret_read_file_as(mine, 64, &rd, &s, &st, &d);
	is_int(r, 0, "mine as me: read");
	ok(r == 0 && st.st_uid == me, "and its status returned");
	secret_free(s);

	/* As root without --as-user: a file only root may read; another
	 * user's may be the service's. */
	memset(&rd, 0, sizeof(rd));
	rd.uid = SECRET_ANY_UID;
	o.reader = &rd;
	o.warn_root_only = true;
	other = put("other.url", "x\n", 0600);
	if (me == 0 && chown(other, 61234, 61234) < 0)
		tl_bail("cannot chown %s", other);
	is_int(secret_read_file_as(other, 64, &rd, &s, NULL, &d), 0,
	    "reader not known: any owner (here uid %u)",
	    me == 0 ? 61234u : (unsigned)me);
	secret_free(s);
	if (me == 0)
		cfg_free(check_is(xf(RUNNABLE "destinations:\n"
					      "  s: {type: slack, url_file: "
					      "%s}\n",
				      mine),
		    &o, 0,
		    xf("W smtrail.yaml:5:30: secret file '%s' for 'url_file' of destination 's': only root may read it (owner uid 0, group 0, mode 0600), not the service's user: use credential:NAME, or check with --as-user USER",
			mine),
		    "root only: a warning"));
	else
		cfg_free(check_is(xf(RUNNABLE "destinations:\n"
					      "  s: {type: slack, url_file: "
					      "%s}\n",
				      mine),
		    &o, 0, "", "not root: its owner reads it, no warning"));
}

/* ---- happy ------------------------------------------------------------- */

static void
test_default(void)
{
	struct cfg *cfg = NULL;
	struct buf b;

	is_int(cfg_default(&cfg), 0, "cfg_default");
	if (cfg == NULL)
		return;
	ok(cfg->file == NULL, "default: no file");
	ok(cfg->aws.region == NULL && cfg->aws.profile == NULL &&
		cfg->aws.endpoint_url == NULL,
	    "default: aws from the environment");
	ok(cfg->sqs.queue_url == NULL, "default: no queue_url");
	is_int(cfg->sqs.wait_time_s, 20, "default: wait_time");
	is_int(cfg->sqs.visibility_timeout_s, 300, "default: visibility");
	is_int(cfg->sqs.max_messages, 10, "default: max_messages");
	is_int(cfg->sqs.max_receive_count, 0, "default: max_receive_count");
	is_int((long long)cfg->s3.n_allowed_buckets, 0,
	    "default: no list (any bucket)");
	is_int((long long)cfg->s3.max_object_size, 512ll << 20,
	    "default: max_object_size");
	ok(cfg->sns.verify_signatures, "default: verify_signatures");
	is_str(cfg->sns.cert_url_pattern,
	    "^https://sns\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/",
	    "default: cert_url_pattern");
	ok(regexec(&cfg->sns.cert_url_re,
	       "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem",
	       0, NULL, 0) == 0,
	    "default: pattern compiled, matches AWS");
	ok(regexec(&cfg->sns.cert_url_re,
	       "https://sns.cn-north-1.amazonaws.com.cn/x.pem", 0, NULL,
	       0) == 0,
	    "default: matches AWS China");
	ok(!cfg->sns.confirm_subscriptions,
	    "default: confirm_subscriptions off");
	ok(regexec(&cfg->sns.subscribe_url_re,
	       "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription",
	       0, NULL, 0) == 0 &&
		regexec(&cfg->sns.subscribe_url_re,
		    "https://sns.cn-north-1.amazonaws.com.cn/?Action=x", 0,
		    NULL, 0) == 0,
	    "default: subscribe_url_pattern matches AWS and AWS China");
	ok(regexec(&cfg->sns.subscribe_url_re,
	       "https://sns.us-west-2.amazonaws.com.evil.example/?Action=x", 0,
	       NULL, 0) != 0 &&
		regexec(&cfg->sns.subscribe_url_re,
		    "http://sns.us-west-2.amazonaws.com/?Action=x", 0, NULL,
		    0) != 0 &&
		regexec(&cfg->sns.subscribe_url_re,
		    "https://sns.us-west-2.amazonaws.com/x.pem?Action=x", 0,
		    NULL, 0) != 0,
	    "default: subscribe_url_pattern refuses other hosts, http, "
	    "other paths");
	ok(regexec(&cfg->sns.cert_url_re,
	       "https://sns.eu-west-1.amazonaws.com.evil.example/x.pem", 0,
	       NULL, 0) != 0,
	    "default: refuses a look-alike host");
	ok(cfg->http.ca_file == NULL && cfg->http.ca_path == NULL,
	    "default: system CAs");
	is_int(cfg->http.timeout_ms, 30000, "default: http timeout");
	is_str(cfg->rules, SMTRAIL_DEFAULT_RULES, "default: rules");
	is_str(cfg->state_dir, SMTRAIL_STATEDIR, "default: state_dir");
	is_int(cfg->log_level, LOG_LEVEL_NOTICE, "default: log_level");
	is_str(cfg->metrics.listen, "127.0.0.1:9410", "default: listen");
	is_str(cfg->metrics.host, "127.0.0.1", "default: metrics host");
	is_int(cfg->metrics.port, 9410, "default: metrics port");
	ok(cfg->n_default_destinations == 0 && cfg->n_routes == 0 &&
		cfg->n_destinations == 0,
	    "default: no destinations or routes");
	ok(cfg_dest_find(cfg, "console") == NULL, "default: find nothing");

	buf_init(&b, 1u << 16);
	is_int(cfg_summary(cfg, &b), 0, "default: summary");
	is_str(b.data,
	    xf("config: (defaults)\n"
	       "aws.region: (environment or profile)\n"
	       "aws.profile: (AWS_PROFILE, else default)\n"
	       "aws.endpoint_url: (environment, else AWS)\n"
	       "sqs.queue_url: (none)\n"
	       "sqs.wait_time: 20s\n"
	       "sqs.visibility_timeout: 5m\n"
	       "sqs.max_messages: 10\n"
	       "sqs.max_receive_count: 0 (off)\n"
	       "lookup.regions: (none: no lookup)\n"
	       "s3.allowed_buckets: (any bucket)\n"
	       "s3.max_object_size: 512MiB\n"
	       "sns.verify_signatures: true\n"
	       "sns.cert_url_pattern: ^https://sns\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/\n"
	       "sns.topic_arns: (any topic)\n"
	       "sns.confirm_subscriptions: false\n"
	       "sns.subscribe_url_pattern: ^https://sns\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/\\?\n"
	       "http.ca_file: (system default)\n"
	       "http.ca_path: (system default)\n"
	       "http.timeout: 30s\n"
	       "rules: %s\n"
	       "state_dir: %s\n"
	       "log_level: notice\n"
	       "metrics.listen: 127.0.0.1:9410\n"
	       "metrics.queue_interval: 1m\n"
	       "metrics.delivery_failing_after: 15m\n"
	       "spool.max_pending: 100000\n"
	       "spool.pause_at: 50000\n"
	       "windows.late: 15m\n"
	       "windows.max_keys: 4000000\n"
	       "windows.max_bytes: 256MiB\n"
	       "default_destinations: (none)\n",
		SMTRAIL_DEFAULT_RULES, SMTRAIL_STATEDIR),
	    "default: summary text");
	buf_done(&b);
	cfg_free(cfg);

	cfg = load_ok("{}\n", "empty mapping");
	ok(cfg != NULL && cfg->sqs.wait_time_s == 20 &&
		strcmp(cfg->rules, SMTRAIL_DEFAULT_RULES) == 0,
	    "empty mapping: the defaults");
	cfg_free(cfg);
	cfg = load_ok("aws:\nsqs:\ns3:\nsns:\nhttp:\nmetrics:\nroute:\n"
		      "destinations:\ndefault_destinations:\n",
	    "every section empty");
	ok(cfg != NULL && cfg->sqs.max_messages == 10 &&
		cfg->metrics.port == 9410,
	    "every section empty: the defaults");
	cfg_free(cfg);
}

static void
test_full(void)
{
	const char *hook_key = put("hook.key", "hmac-from-file\n", 0600);
	const char *slack_url = put("slack.url",
	    "https://hooks.slack.com/services/T0/B0/XyZ\r\n", 0640);
	const char *pd_key = put("pd.key", "pd-routing-key", 0400);
	const struct cfg_dest *d;
	struct cfg *cfg;
	struct buf b;
	const char *text;

	(void)put("hook-url", "https://hooks.example.org/cred-path\n", 0600);
	(void)put("pd-key", "pd-from-credential\n", 0600);
	(void)setenv("CREDENTIALS_DIRECTORY", tmpdir, 1);
	text = xf(
	    "aws:\n"
	    "  region: eu-west-1\n"
	    "  profile: prod\n"
	    "  endpoint_url: http://127.0.0.1:5000\n"
	    "sqs:\n"
	    "  queue_url: https://sqs.eu-west-1.amazonaws.com/123456789012/trail\n"
	    "  wait_time: 10\n"
	    "  visibility_timeout: 2h\n"
	    "  max_messages: \"5\"\n"
	    "  max_receive_count: 7\n"
	    "s3:\n"
	    "  allowed_buckets: [my-trail-bucket, other.bucket]\n"
	    "  max_object_size: 1GB\n"
	    "sns:\n"
	    "  verify_signatures: false\n"
	    "  cert_url_pattern: '^https://sns\\.example\\.com/'\n"
	    "  topic_arns: [arn:aws:sns:us-east-1:123456789012:trail]\n"
	    "  confirm_subscriptions: true\n"
	    "  subscribe_url_pattern: '^http://127\\.0\\.0\\.1:[0-9]+/confirm\\?'\n"
	    "http:\n"
	    "  ca_file: /etc/ssl/ca.pem\n"
	    "  ca_path: /etc/ssl/certs\n"
	    "  timeout: 45s\n"
	    "rules: /srv/rules.yaml\n"
	    "state_dir: /srv/state\n"
	    "log_level: debug\n"
	    "metrics: {listen: '[::1]:9999'}\n"
	    "default_destinations: [ops-webhook, console]\n"
	    "route:\n"
	    "  - {severity: [critical], destinations: [pager]}\n"
	    "  - {min_severity: warning, destinations: [slack-ops], "
	    "continue: true}\n"
	    "  - {severity: info, destinations: console}\n"
	    "  - {destinations: [console, pd2]}\n"
	    "destinations:\n"
	    "  ops-webhook: {type: webhook, url: "
	    "'https://example.net/hook?token=t0k', hmac_secret_file: %s, "
	    "timeout: 10s, deadline: 2h}\n"
	    "  console: {type: stdout}\n"
	    "  slack-ops:\n"
	    "    type: slack\n"
	    "    url_file: %s\n"
	    "    channel: '#ops'\n"
	    "    username: smtrail\n"
	    "    icon_emoji: ':rotating_light:'\n"
	    "    mention: '<!here>'\n"
	    "    rate: 20/m\n"
	    "  pager: {type: pagerduty, routing_key_file: %s}\n"
	    "  cred-hook: {type: webhook, url: 'credential:hook-url', "
	    "hmac_secret: inline-key}\n"
	    "  pd2: {type: pagerduty, routing_key: credential:pd-key, "
	    "url: 'https://pd.example/v2/enqueue'}\n",
	    hook_key, slack_url, pd_key);
	cfg = load_ok(text, "full");
	(void)unsetenv("CREDENTIALS_DIRECTORY");
	if (cfg == NULL)
		return;
	is_str(cfg->file, "smtrail.yaml", "file");
	is_str(cfg->aws.region, "eu-west-1", "aws.region");
	is_str(cfg->aws.profile, "prod", "aws.profile");
	is_str(cfg->aws.endpoint_url, "http://127.0.0.1:5000",
	    "aws.endpoint_url");
	is_str(cfg->sqs.queue_url,
	    "https://sqs.eu-west-1.amazonaws.com/123456789012/trail",
	    "sqs.queue_url");
	is_int(cfg->sqs.wait_time_s, 10, "sqs.wait_time: plain seconds");
	is_int(cfg->sqs.visibility_timeout_s, 7200, "sqs.visibility_timeout");
	is_int(cfg->sqs.max_messages, 5, "sqs.max_messages, quoted");
	is_int(cfg->sqs.max_receive_count, 7, "sqs.max_receive_count");
	is_int((long long)cfg->s3.n_allowed_buckets, 2, "s3: two buckets");
	is_str(cfg->s3.allowed_buckets[0], "my-trail-bucket", "s3: bucket 1");
	is_str(cfg->s3.allowed_buckets[1], "other.bucket", "s3: bucket 2");
	is_int((long long)cfg->s3.max_object_size, 1000000000,
	    "s3.max_object_size: GB is 1000^3");
	ok(!cfg->sns.verify_signatures, "sns.verify_signatures");
	is_str(cfg->sns.cert_url_pattern, "^https://sns\\.example\\.com/",
	    "sns.cert_url_pattern");
	ok(regexec(&cfg->sns.cert_url_re, "https://sns.example.com/c.pem", 0,
	       NULL, 0) == 0 &&
		regexec(&cfg->sns.cert_url_re,
		    "https://sns.eu-west-1.amazonaws.com/c.pem", 0, NULL,
		    0) != 0,
	    "sns: the configured pattern is the compiled one");
	ok(cfg->sns.confirm_subscriptions, "sns.confirm_subscriptions");
	ok(regexec(&cfg->sns.subscribe_url_re,
	       "http://127.0.0.1:8080/confirm?Action=ConfirmSubscription", 0,
	       NULL, 0) == 0 &&
		regexec(&cfg->sns.subscribe_url_re,
		    "https://sns.us-east-1.amazonaws.com/?Action=x", 0, NULL,
		    0) != 0,
	    "sns: subscribe_url_pattern is the compiled one");
	is_str(cfg->http.ca_file, "/etc/ssl/ca.pem", "http.ca_file");
	is_str(cfg->http.ca_path, "/etc/ssl/certs", "http.ca_path");
	is_int(cfg->http.timeout_ms, 45000, "http.timeout");
	is_str(cfg->rules, "/srv/rules.yaml", "rules");
	is_str(cfg->state_dir, "/srv/state", "state_dir");
	is_int(cfg->log_level, LOG_LEVEL_DEBUG, "log_level");
	is_str(cfg->metrics.listen, "[::1]:9999", "metrics.listen");
	is_str(cfg->metrics.host, "::1", "metrics host, brackets off");
	is_int(cfg->metrics.port, 9999, "metrics port");
	is_int((long long)cfg->n_default_destinations, 2,
	    "default_destinations: two");
	is_str(cfg->default_destinations[0], "ops-webhook",
	    "default_destinations[0]");
	is_str(cfg->default_destinations[1], "console",
	    "default_destinations[1]");

	is_int((long long)cfg->n_routes, 4, "four routes");
	is_int(cfg->routes[0].severities, 1 << RULES_SEV_CRITICAL,
	    "route 1: critical");
	ok(cfg->routes[0].n_destinations == 1 &&
		strcmp(cfg->routes[0].destinations[0], "pager") == 0 &&
		!cfg->routes[0].cont,
	    "route 1: pager, stop");
	is_int(cfg->routes[0].line, 30, "route 1: line");
	is_int(cfg->routes[1].severities,
	    (1 << RULES_SEV_WARNING) | (1 << RULES_SEV_ERROR) |
		(1 << RULES_SEV_CRITICAL),
	    "route 2: warning and above");
	ok(cfg->routes[1].cont, "route 2: continue");
	is_int(cfg->routes[2].severities, 1 << RULES_SEV_INFO,
	    "route 3: one severity as a scalar");
	ok(cfg->routes[2].n_destinations == 1 &&
		strcmp(cfg->routes[2].destinations[0], "console") == 0,
	    "route 3: one destination as a scalar");
	is_int(cfg->routes[3].severities, 15, "route 4: every severity");
	is_int((long long)cfg->routes[3].n_destinations, 2,
	    "route 4: two destinations");

	is_int((long long)cfg->n_destinations, 6, "six destinations");
	d = cfg_dest_find(cfg, "ops-webhook");
	ok(d != NULL && d->kind == sink_kind_find("webhook"),
	    "ops-webhook: webhook");
	if (d != NULL) {
		is_str(cfg_dest_opt(d, "url"),
		    "https://example.net/hook?token=t0k",
		    "ops-webhook: url inline");
		is_str(cfg_dest_opt(d, "hmac_secret"), "hmac-from-file",
		    "ops-webhook: hmac_secret from a file, newline trimmed");
		is_int(d->timeout_ms, 10000, "ops-webhook: timeout");
		is_int((long long)d->deadline_us, 7200000000ll,
		    "ops-webhook: deadline");
		is_int(d->rate_count, 0, "ops-webhook: no rate limit");
		is_int(d->line, 35, "ops-webhook: line");
	}
	d = cfg_dest_find(cfg, "console");
	ok(d != NULL && d->kind == sink_kind_find("stdout") &&
		cfg_dest_opt(d, "url") == NULL && d->timeout_ms == 0,
	    "console: stdout");
	d = cfg_dest_find(cfg, "slack-ops");
	ok(d != NULL && d->kind == sink_kind_find("slack"), "slack-ops: slack");
	if (d != NULL) {
		is_str(cfg_dest_opt(d, "url"),
		    "https://hooks.slack.com/services/T0/B0/XyZ",
		    "slack-ops: url from a 0640 file, CRLF trimmed");
		is_str(cfg_dest_opt(d, "channel"), "#ops",
		    "slack-ops: channel");
		is_str(cfg_dest_opt(d, "username"), "smtrail",
		    "slack-ops: username");
		is_str(cfg_dest_opt(d, "icon_emoji"),
		    ":rotating_light:", "slack-ops: icon");
		is_str(cfg_dest_opt(d, "mention"), "<!here>",
		    "slack-ops: mention");
		is_int(d->rate_count, 20, "slack-ops: rate count");
		is_int((long long)d->rate_period_us, 60000000,
		    "slack-ops: rate period");
		is_int(d->timeout_ms, 45000, "slack-ops: http.timeout");
		is_int((long long)d->deadline_us, 3600000000ll,
		    "slack-ops: default deadline");
	}
	d = cfg_dest_find(cfg, "pager");
	ok(d != NULL && d->kind == sink_kind_find("pagerduty"),
	    "pager: pagerduty");
	if (d != NULL) {
		is_str(cfg_dest_opt(d, "routing_key"), "pd-routing-key",
		    "pager: routing key from a 0400 file, no newline");
		is_str(cfg_dest_opt(d, "url"),
		    "https://events.pagerduty.com/v2/enqueue",
		    "pager: default url");
	}
	d = cfg_dest_find(cfg, "cred-hook");
	if (ok(d != NULL, "cred-hook")) {
		is_str(cfg_dest_opt(d, "url"),
		    "https://hooks.example.org/cred-path",
		    "cred-hook: url from a credential");
		is_str(cfg_dest_opt(d, "hmac_secret"), "inline-key",
		    "cred-hook: hmac_secret inline");
	}
	d = cfg_dest_find(cfg, "pd2");
	if (ok(d != NULL, "pd2")) {
		is_str(cfg_dest_opt(d, "routing_key"), "pd-from-credential",
		    "pd2: routing key from a credential");
		is_str(cfg_dest_opt(d, "url"), "https://pd.example/v2/enqueue",
		    "pd2: url");
	}
	ok(cfg_dest_find(cfg, "nope") == NULL, "find: unknown name");

	buf_init(&b, 1u << 16);
	is_int(cfg_summary(cfg, &b), 0, "summary");
	is_str(b.data,
	    "config: smtrail.yaml\n"
	    "aws.region: eu-west-1\n"
	    "aws.profile: prod\n"
	    "aws.endpoint_url: http://127.0.0.1:5000\n"
	    "sqs.queue_url: https://sqs.eu-west-1.amazonaws.com/...\n"
	    "sqs.wait_time: 10s\n"
	    "sqs.visibility_timeout: 2h\n"
	    "sqs.max_messages: 5\n"
	    "sqs.max_receive_count: 7\n"
	    "lookup.regions: (none: no lookup)\n"
	    "s3.allowed_buckets: my-trail-bucket, other.bucket\n"
	    "s3.max_object_size: 1000000000\n"
	    "sns.verify_signatures: false\n"
	    "sns.cert_url_pattern: ^https://sns\\.example\\.com/\n"
	    "sns.topic_arns: arn:aws:sns:us-east-1:123456789012:trail\n"
	    "sns.confirm_subscriptions: true\n"
	    "sns.subscribe_url_pattern: ^http://127\\.0\\.0\\.1:[0-9]+/confirm\\?\n"
	    "http.ca_file: /etc/ssl/ca.pem\n"
	    "http.ca_path: /etc/ssl/certs\n"
	    "http.timeout: 45s\n"
	    "rules: /srv/rules.yaml\n"
	    "state_dir: /srv/state\n"
	    "log_level: debug\n"
	    "metrics.listen: [::1]:9999\n"
	    "metrics.queue_interval: 1m\n"
	    "metrics.delivery_failing_after: 15m\n"
	    "spool.max_pending: 100000\n"
	    "spool.pause_at: 50000\n"
	    "windows.late: 15m\n"
	    "windows.max_keys: 4000000\n"
	    "windows.max_bytes: 256MiB\n"
	    "default_destinations: ops-webhook, console\n"
	    "route 1: critical -> pager\n"
	    "route 2: warning, error, critical -> slack-ops (continue)\n"
	    "route 3: info -> console\n"
	    "route 4: any severity -> console, pd2\n"
	    "destination ops-webhook: webhook url https://example.net/... (secret) hmac_secret (secret) timeout 10s deadline 2h\n"
	    "destination console: stdout\n"
	    "destination slack-ops: slack url https://hooks.slack.com/... (secret) channel '#ops' username 'smtrail' icon_emoji ':rotating_light:' mention '<!here>' timeout 45s deadline 1h rate 20/m\n"
	    "destination pager: pagerduty url https://events.pagerduty.com/... (secret) routing_key (secret) timeout 45s deadline 1h\n"
	    "destination cred-hook: webhook url https://hooks.example.org/... (secret) hmac_secret (secret) timeout 45s deadline 1h\n"
	    "destination pd2: pagerduty url https://pd.example/... (secret) routing_key (secret) timeout 45s deadline 1h\n",
	    "summary text");
	ok(strstr(b.data, "t0k") == NULL && strstr(b.data, "XyZ") == NULL &&
		strstr(b.data, "hmac-from-file") == NULL &&
		strstr(b.data, "pd-routing-key") == NULL &&
		strstr(b.data, "cred-path") == NULL &&
		strstr(b.data, "inline-key") == NULL &&
		strstr(b.data, "pd-from-credential") == NULL,
	    "summary: no secret");
	buf_done(&b);
	cfg_free(cfg);
}

static void
test_misc_ok(void)
{
	struct cfg *cfg;
	const char *path;
	int r;

	/* Confirming with no topic listed confirms nothing: loads, with a
	 * warning saying so (smtrail check prints it). */
	cfg = NULL;
	is_int(load("sns: {confirm_subscriptions: true}\n", &cfg), 0,
	    "confirm_subscriptions without topic_arns: loads");
	is_int(dl.n, 1, "confirm_subscriptions without topic_arns: one diag");
	ok(dl.n == 1 && dl.items[0].warning,
	    "confirm_subscriptions without topic_arns: a warning");
	is_str(diags(),
	    "smtrail.yaml:1:30: 'confirm_subscriptions' confirms only topics "
	    "in 'topic_arns', and there are none: nothing will be confirmed",
	    "confirm_subscriptions without topic_arns: says why");
	if (cfg != NULL) {
		struct buf b;

		buf_init(&b, 1u << 16);
		ok(cfg_summary(cfg, &b) == 0 &&
			strstr(b.data,
			    "sns.confirm_subscriptions: true (no topic_arns: "
			    "none confirmed)\n") != NULL,
		    "confirm_subscriptions without topic_arns: the summary "
		    "says so");
		buf_done(&b);
		cfg_free(cfg);
	}
	cfg = load_ok("sns: {topic_arns: [arn:aws:sns:us-east-1:1:t], "
		      "confirm_subscriptions: true}\n",
	    "confirm_subscriptions with topic_arns");
	cfg_free(cfg);
	cfg =
	    load_ok("metrics: {listen: off}\nlog_level: warn\n", "metrics off");
	if (cfg != NULL) {
		ok(cfg->metrics.listen == NULL && cfg->metrics.host == NULL &&
			cfg->metrics.port == 0,
		    "metrics off: disabled");
		is_int(cfg->log_level, LOG_LEVEL_WARNING, "log_level warn");
	}
	cfg_free(cfg);
	cfg = load_ok("metrics: {listen: ''}\n", "metrics empty");
	ok(cfg != NULL && cfg->metrics.listen == NULL, "metrics '': off");
	cfg_free(cfg);
	cfg = load_ok("metrics: {listen: 'localhost:9410'}\n",
	    "listen localhost");
	ok(cfg != NULL && strcmp(cfg->metrics.listen, "localhost:9410") == 0 &&
		strcmp(cfg->metrics.host, "127.0.0.1") == 0 &&
		cfg->metrics.port == 9410,
	    "listen localhost:9410: 127.0.0.1, port 9410, shown as written");
	cfg_free(cfg);
	cfg = load_ok("metrics: {listen: '127.0.0.1:0'}\n"
		      "s3: {allowed_buckets: one-bucket, max_object_size: "
		      "2GiB}\n"
		      "sqs: {wait_time: 0, visibility_timeout: 0}\n",
	    "edges");
	if (cfg != NULL) {
		is_str(cfg->metrics.host, "127.0.0.1", "listen: address");
		is_int(cfg->metrics.port, 0, "listen: port 0, any free port");
		is_int((long long)cfg->s3.n_allowed_buckets, 1,
		    "one bucket as a scalar");
		is_int((long long)cfg->s3.max_object_size, 2ll << 30,
		    "2GiB: the cap itself");
		is_int(cfg->sqs.wait_time_s, 0, "wait_time 0: short polling");
		is_int(cfg->sqs.visibility_timeout_s, 0,
		    "visibility_timeout 0: the queue's");
	}
	cfg_free(cfg);

	/* cfg_load() from a file. */
	path = put("smtrail.yaml", "log_level: info\n", 0644);
	memset(&dl, 0, sizeof(dl));
	cfg = NULL;
	r = cfg_load(path, &cfg, &dl);
	is_int(r, 0, "cfg_load: a file");
	ok(cfg != NULL && cfg->log_level == LOG_LEVEL_INFO &&
		strcmp(cfg->file, path) == 0,
	    "cfg_load: read, named by its path");
	cfg_free(cfg);
	(void)put("bad.yaml", "log_level: [info]\n", 0644);
	memset(&dl, 0, sizeof(dl));
	r = cfg_load(xf("%s/bad.yaml", tmpdir), &cfg, &dl);
	is_int(r, -EINVAL, "cfg_load: bad file");
	is_str(diags(),
	    xf("%s/bad.yaml:1:12: expected a string for 'log_level'", tmpdir),
	    "cfg_load: diagnostics name the path");
}

/* windows: and accounts:, the rules over time's settings. */
static void
test_windows_accounts(void)
{
	struct cfg *cfg;

	cfg = load_ok("windows: {late: 0s, max_keys: 1000, max_bytes: 1MiB}\n"
		      "accounts:\n"
		      "  \"111122223333\": prod\n"
		      "  '444455556666': staging eu\n",
	    "windows, accounts");
	if (cfg != NULL) {
		is_int((long long)cfg->windows.late_s, 0, "late: 0s");
		is_int((long long)cfg->windows.max_keys, 1000, "max_keys");
		is_int((long long)cfg->windows.max_bytes, 1 << 20, "max_bytes");
		is_int((long long)cfg->n_accounts, 2, "two accounts");
		is_str(cfg_account_alias(cfg, "111122223333"), "prod",
		    "alias of the first");
		is_str(cfg_account_alias(cfg, "444455556666"), "staging eu",
		    "alias of the second");
		ok(cfg_account_alias(cfg, "999999999999") == NULL,
		    "no alias for another");
	}
	cfg_free(cfg);
	cfg = load_ok("windows:\naccounts:\n", "null sections");
	ok(cfg != NULL && cfg->windows.late_s == 900 && cfg->n_accounts == 0,
	    "null sections: the defaults");
	cfg_free(cfg);
	load_err("windows: {late: 8d}\n",
	    "smtrail.yaml:1:17: bad value '8d' for 'late' (expected 0s to 7d)",
	    "late too long");
	load_err("windows: {max_keys: 10}\n",
	    "smtrail.yaml:1:21: bad value '10' for 'max_keys' (expected 1000 to "
	    "100000000)",
	    "max_keys too small");
	load_err("windows: {size: 1}\n",
	    "smtrail.yaml:1:11: unknown windows key 'size'",
	    "unknown windows key");
	load_err("accounts:\n  1234: prod\n",
	    "smtrail.yaml:2:3: expected an account ID (12 digits; quote it) as "
	    "a key of 'accounts'",
	    "short account ID");
	load_err("accounts:\n  '111122223333': a\n  '111122223333': b\n",
	    "smtrail.yaml:3:3: account '111122223333' listed twice",
	    "account twice");
	load_err("accounts:\n  '111122223333': ''\n",
	    "smtrail.yaml:2:19: empty value for 'accounts'", "empty alias");
	load_err("accounts: [prod]\n",
	    "smtrail.yaml:1:11: expected a mapping for 'accounts'",
	    "accounts not a mapping");
}

static void
test_shipped(void)
{
	const struct cfg_dest *d;
	struct cfg *cfg = NULL;
	struct cfg *def = NULL;
	char path[4096];
	int r;

	memset(&dl, 0, sizeof(dl));
	r = cfg_load(
	    tl_src_path("etc/smtrail/smtrail.yaml", path, sizeof(path)), &cfg,
	    &dl);
	if (!is_int(r, 0, "shipped smtrail.yaml loads"))
		diag_note("%s", diags());
	is_int(dl.n, 0, "shipped: no diagnostics");
	if (cfg == NULL || cfg_default(&def) < 0)
		return;
	d = cfg_dest_find(cfg, "console");
	ok(d != NULL && d->kind == sink_kind_find("stdout"),
	    "shipped: console");
	is_int((long long)cfg->n_destinations, 1, "shipped: one destination");
	ok(cfg->n_default_destinations == 1 &&
		strcmp(cfg->default_destinations[0], "console") == 0,
	    "shipped: default_destinations [console]");
	ok(cfg->sqs.queue_url == NULL, "shipped: no queue_url");
	/* Every value it spells out is the default. */
	ok(cfg->sqs.wait_time_s == def->sqs.wait_time_s &&
		cfg->sqs.visibility_timeout_s ==
		    def->sqs.visibility_timeout_s &&
		cfg->sqs.max_messages == def->sqs.max_messages &&
		cfg->sqs.max_receive_count == def->sqs.max_receive_count,
	    "shipped: sqs defaults");
	ok(cfg->s3.max_object_size == def->s3.max_object_size &&
		cfg->s3.n_allowed_buckets == 0,
	    "shipped: s3 defaults");
	ok(cfg->sns.verify_signatures &&
		strcmp(cfg->sns.cert_url_pattern, def->sns.cert_url_pattern) ==
		    0 &&
		!cfg->sns.confirm_subscriptions &&
		strcmp(cfg->sns.subscribe_url_pattern,
		    def->sns.subscribe_url_pattern) == 0,
	    "shipped: sns defaults");
	ok(cfg->http.timeout_ms == def->http.timeout_ms &&
		cfg->http.ca_file == NULL && cfg->http.ca_path == NULL,
	    "shipped: http defaults");
	/* As installed by default; a build with other directories edits it. */
	ok(strcmp(cfg->rules, "/etc/smtrail/rules.yaml") == 0 &&
		strcmp(cfg->state_dir, "/var/lib/smtrail") == 0 &&
		cfg->log_level == def->log_level &&
		strcmp(cfg->metrics.listen, def->metrics.listen) == 0,
	    "shipped: rules, state_dir, log_level, metrics defaults");
	ok(cfg->n_routes == 0, "shipped: no routes");
	cfg_free(def);
	cfg_free(cfg);
}

int
main(void)
{
	tmpdir = tl_tmpdir("test_cfg");
	test_syntax();
	test_windows_accounts();
	test_keys();
	test_types();
	test_ranges();
	test_metrics_keys();
	test_urls();
	test_aws_role();
	test_destinations();
	test_references();
	test_secret_files();
	test_secret();
	test_check_run();
	test_lookup();
	test_check_queue_arn();
	test_check_dests();
	test_check_credentials();
	test_check_reader();
	test_default();
	test_full();
	test_misc_ok();
	test_shipped();
	ok(tl_tmpdir_free(tmpdir) == 0, "temporary directory cleaned up");
	return done_testing();
}
