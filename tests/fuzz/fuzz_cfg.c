/*
 * fuzz_cfg.c: the configuration loader (cfg.h) on any bytes as
 * smtrail.yaml, from memory (cfg_load_buffer()), and, when it loads,
 * everything the daemon asks of a cfg: the summary `smtrail check`
 * prints, destination lookup, routing by severity, and the check of a
 * fixed rule set's destinations. Then the same bytes as `smtrail check`
 * loads them (cfg_load_buffer_opts(): run's needs, the advice, strict,
 * credentials left unread), under the same promises.
 *
 * The loader reads the secrets a file names (*_file paths, and
 * credential:NAME under $CREDENTIALS_DIRECTORY, pointed here at a
 * directory that does not exist): only opened and read, non-blocking, so
 * it can neither hang nor write. Loaders count and discard: a failed load
 * must leave *ret alone, a good one must have reported no error; a broken
 * promise aborts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cfg.h"
#include "diag.h"
#include "fuzz.h"
#include "rules.h"

/* Names the seeds define, and one they do not. */
static const char fc_rules_yaml[] =
    "rules:\n"
    "  - {id: a, match: {eventName: DeleteSecret}, destinations: "
    "[console, pager]}\n"
    "  - {id: b, match: {eventName: GetSecretValue}, destinations: "
    "ops-webhook}\n"
    "  - {id: c, match: {eventName: PutSecretValue}, destinations: "
    "[nowhere]}\n"
    "  - {id: d, match: {eventName: TagResource}}\n";

static struct rules *fc_rules;
/* Calls that refused (allowed): a counter, for a debugger. */
static unsigned long fc_failed;

static void
fc_teardown(void)
{
	rules_free(fc_rules);
	fc_rules = NULL;
}

static void
fc_setup(void)
{
	struct diag_list *dl;
	int r;

	if (fc_rules != NULL)
		return;
	/* Not the loaders' business: keep the run the same everywhere. */
	(void)setenv("CREDENTIALS_DIRECTORY", "/nonexistent/smtrail-fuzz", 1);
	dl = calloc(1, sizeof(*dl));
	r = dl == NULL ? -1
		       : rules_load_buffer("fuzz-cfg-rules.yaml", fc_rules_yaml,
			     sizeof(fc_rules_yaml) - 1, false, &fc_rules, dl);
	free(dl);
	if (r < 0) {
		(void)fprintf(stderr, "fuzz_cfg: setup: rules: %d\n", r);
		abort();
	}
	(void)atexit(fc_teardown);
}

static void
fc_broken(const char *what, const char *detail)
{
	(void)fprintf(stderr, "fuzz_cfg: %s: '%s'\n", what, detail);
	abort();
}

/* Routing: a rule per severity with no destinations of its own. */
static void
fc_route(const struct cfg *cfg)
{
	const char *out[8];
	struct rule r;
	size_t n;
	size_t i;
	int s;

	memset(&r, 0, sizeof(r));
	r.id = "fuzz";
	r.title = "fuzz";
	r.enabled = true;
	for (s = 0; s < RULES_SEV_COUNT; s++) {
		r.severity = (enum rules_severity)s;
		n = cfg_destinations(cfg, &r, out,
		    sizeof(out) / sizeof(out[0]));
		if (n > sizeof(out) / sizeof(out[0]))
			fc_broken("cfg_destinations() overflows", "");
		for (i = 0; i < n; i++)
			if (out[i] == NULL ||
			    cfg_dest_find(cfg, out[i]) == NULL)
				fc_broken("routed to an undefined destination",
				    out[i] != NULL ? out[i] : "(null)");
	}
}

static void
fc_use(const struct cfg *cfg, struct diag_list *dl)
{
	struct buf b;
	size_t i;

	for (i = 0; i < cfg->n_destinations; i++) {
		const struct cfg_dest *d = &cfg->destinations[i];

		if (cfg_dest_find(cfg, d->name) == NULL)
			fc_broken("cfg_dest_find() misses", d->name);
		if (d->kind == NULL)
			fc_broken("a destination without a kind", d->name);
	}
	fc_route(cfg);
	buf_init(&b, 1u << 20);
	fc_failed += cfg_summary(cfg, &b) < 0;
	buf_done(&b);
	memset(dl, 0, sizeof(*dl));
	/* Rule c names a destination no seed defines: mostly -EINVAL. */
	fc_failed +=
	    cfg_check_rules(cfg, fc_rules, "fuzz-cfg-rules.yaml", dl) < 0;
}

/* One load: its promises, and the cfg used when it loaded. */
static void
fc_load(const uint8_t *data, size_t size, const struct cfg_opts *o)
{
	static struct diag_list dl; /* 26 KB: not on the stack */
	struct cfg *cfg = NULL;
	char line[700];
	unsigned i;
	int r;

	memset(&dl, 0, sizeof(dl));
	r = cfg_load_buffer_opts("fuzz-smtrail.yaml", (const char *)data, size,
	    o, &cfg, &dl);
	for (i = 0; i < dl.n; i++)
		(void)diag_format(&dl.items[i], line, sizeof(line));
	if (r < 0) {
		if (cfg != NULL)
			fc_broken("refused, yet *ret was set", "");
		return;
	}
	if (cfg == NULL || dl.errors != 0)
		fc_broken("loaded, yet NULL or with errors", "");
	fc_use(cfg, &dl);
	cfg_free(cfg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* As check: unread credentials, run's needs, advice; strict. */
	static const struct cfg_opts check = {.credentials_unread = true,
	    .warn_root_only = true,
	    .run = true,
	    .advise = true};
	static const struct cfg_opts strict = {.credentials_unread = true,
	    .run = true,
	    .advise = true,
	    .strict = true};

	fc_setup();
	fc_load(data, size, NULL);
	(void)unsetenv("CREDENTIALS_DIRECTORY");
	fc_load(data, size, size > 0 && data[0] % 2 == 0 ? &check : &strict);
	(void)setenv("CREDENTIALS_DIRECTORY", "/nonexistent/smtrail-fuzz", 1);
	return 0;
}
