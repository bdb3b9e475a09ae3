/*
 * sink_kind.h: the sink kinds, as data (DESIGN.md "Sinks", STYLE.md
 * "Variants behind a table").
 *
 * A kind is one const struct sink_kind in a file of its own, sink_<kind>.c:
 * its name (the config's `type:`), the options it takes beyond the common
 * ones and how each is read, its defaults, a config check, and pure hooks
 * that turn an alert into a request and a refused request's reply into a
 * detail worth logging. sink_kinds[] (sink_kind.c) lists them; cfg.c reads
 * it to parse, check and summarise destinations, sink.c to build and run
 * sinks. Nothing else names a kind. A kind includes this header and what
 * lies below it (buf, text, alert), never sink.h: it does not send, log or
 * see a sink.
 *
 * The common options are not listed by a kind: `type`, and for a network
 * kind `timeout`, `deadline` and `rate` (cfg.h). A network kind's request
 * is POSTed to the value of its SINK_OPT_URL option; a local kind's (stdout)
 * is written to the sink's fd.
 *
 * Option values travel as an array in the kind's option order (const char
 * *v[], NULL for absent), so neither cfg.h nor sink.h has a member per
 * option. Secrets never hold a NUL (cfg refuses one).
 *
 * Adding a kind: a file sink_<kind>.c defining `const struct sink_kind
 * <kind>_kind` (its option table, hooks and defaults; a header only if it
 * has pure functions worth testing alone, like slack_payload()); in
 * sink_kind.c, its declaration and its entry in sink_kinds[] (where it
 * goes is where messages list it); its line in Makefile.am. Nothing else
 * changes.
 */
#ifndef SMTRAIL_SINK_KIND_H
#define SMTRAIL_SINK_KIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "common.h"

struct diag;

/* Kinds in sink_kinds[], and options a kind takes beyond the common
 * ones, at most. */
#define SINK_MAX_KINDS 16
#define SINK_MAX_OPTS 8
/* Header lines a render hook may add, and the longest. */
#define SINK_MAX_HEADERS 2
#define SINK_MAX_HEADER_LINE 160

/* How cfg reads an option, shows it (`smtrail check`) and sink.c treats it. */
enum sink_opt_form {
	/* Plain text: quoted in check's summary and in messages. */
	SINK_OPT_TEXT,
	/* A secret: inline, from KEY_file (unless no_file), or
	 * "credential:NAME" from $CREDENTIALS_DIRECTORY; never shown or
	 * logged, and scrubbed from every outcome's detail. */
	SINK_OPT_SECRET,
	/* A secret that must be an http(s) URL with a host: shown as its
	 * scheme and host only (http_url_redact()); its path and query, and
	 * each long part of them, are scrubbed too. A network kind POSTs to
	 * it; at most one per kind. */
	SINK_OPT_URL
};

struct sink_opt {
	const char *key; /* the config's key; a secret's file form adds _file */
	enum sink_opt_form form;
	bool required;   /* absent (or empty) and without a default: refused */
	bool no_file;    /* a secret without the KEY_file form */
	const char *def; /* the value when absent; NULL: none */
};

/* What a render hook makes of one alert. */
struct sink_request {
	struct buf body; /* ready, its ceiling max_body (or the alert's
			    length and a line feed, when 0) */
	char headers[SINK_MAX_HEADERS][SINK_MAX_HEADER_LINE]; /* "Name: v" */
	size_t n_headers;
};

struct sink_kind {
	const char *name; /* the config's `type:` */
	const struct sink_opt *opts;
	size_t n_opts;   /* at most SINK_MAX_OPTS */
	bool network;    /* POSTs; takes timeout, deadline and rate */
	size_t max_body; /* the rendered request's ceiling; 0: as above */
	/* The default rate: at most rate_count starts per rate_period_us;
	 * 0/0: no limit. */
	unsigned rate_count;
	uint64_t rate_period_us;
	/* A Retry-After on a refusal becomes the outcome's retry_after_ms;
	 * false: it is ignored, the caller's backoff decides. */
	bool retry_after;
	/* A 429 with Retry-After pauses the whole sink, not one delivery. */
	bool pause_on_429;
	/*
	 * Rules beyond "required", on values with defaults applied: 0, or
	 * -EINVAL with the reason in reterr's msg (a sentence about the
	 * option, never its value) and in *ret_opt the index of the option
	 * at fault (n_opts: the destination as a whole). Run by cfg_load()
	 * (reported at the option) and sink_new(). NULL: no rules.
	 */
	int (
	    *check)(const char *const *v, size_t *ret_opt, struct diag *reterr);
	/*
	 * Advice on values that load but are likely wrong (smtrail check's
	 * warnings, errors under --strict; never run by the daemon): 0, or
	 * 1 with the advice in reterr's msg (a sentence about the option,
	 * never a secret's value) and in *ret_opt the option it is about.
	 * Called only when check passed and every option was read. NULL:
	 * none.
	 */
	int (*advise)(const char *const *v, size_t *ret_opt,
	    struct diag *reterr);
	/*
	 * The request for one alert's JSON text (as the spool holds it) into
	 * out, which the caller zeroed and will wipe and free whatever the
	 * result. -EBADMSG or -E2BIG (with reterr): this alert can never be
	 * sent (SINK_PERMANENT); -ENOMEM.
	 */
	int (*render)(const char *const *v, const char *alert_json, size_t len,
	    struct sink_request *out, struct diag *reterr);
	/*
	 * What of a refused request's reply (status not 2xx) is worth
	 * logging, appended to out as text; the caller makes it printable
	 * ASCII, scrubs and cuts it. < 0 or nothing appended: the body as
	 * it is if reply_body, else the status alone. NULL: the same.
	 */
	int (*reply)(const char *body, size_t len, struct buf *out);
	bool reply_body; /* a refusal's body says why (Slack's one word) */
};

/* A kind's option table, in its initializer. */
#define SINK_KIND_OPTS(a) .opts = (a), .n_opts = ARRAY_SIZE(a)

/* Every kind, in the order messages list them; NULL-terminated. */
extern const struct sink_kind *const sink_kinds[SINK_MAX_KINDS + 1];

/* The kind called name (`type:`), or NULL. */
const struct sink_kind *sink_kind_find(const char *name);
/* The index of k's option key, or k->n_opts when it has none. */
size_t sink_kind_opt(const struct sink_kind *k, const char *key);

#endif
