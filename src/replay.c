/*
 * replay.c: see replay.h. The engine's alert hook spools each alert (so
 * that duplicates are dropped exactly as the daemon drops them), prints
 * it, and either marks it done (print only) or leaves it to deliver.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "buf.h"
#include "cfg.h"
#include "deliver.h"
#include "diag.h"
#include "engine.h"
#include "files.h"
#include "http.h"
#include "log.h"
#include "replay.h"
#include "rules.h"
#include "sink.h"
#include "spool.h"
#include "trail.h"

/* The one destination of a print-only replay's spool. */
#define REPLAY_DEST "replay"
/* Records nest up to 512 deep (trail.c); the alert adds a level. */
#define REPLAY_MAX_DEPTH 520
/* At most this many deliveries queued before the scan waits for some. */
#define REPLAY_MAX_QUEUED 64

struct replay {
	struct replay_opts o;
	char *tmpdir; /* removed at the end; NULL: state_dir is the user's */
	struct engine *engine;
	struct spool *spool; /* NULL: stateless */
	struct trail *trail;
	struct event_base *base;
	struct http *http;
	struct deliver *deliver;
	int64_t first_new_job;
	struct replay_stats st;
};

/* ---- printing ------------------------------------------------------------ */

/* The alert as `replay` prints it: without "record", one line. */
static int
replay_print(struct replay *rp, const char *json, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o;
	const char *text;
	int r = 0;

	if (rp->o.print == NULL)
		return 0;
	tok = json_tokener_new_ex(REPLAY_MAX_DEPTH);
	if (tok == NULL)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, json, (int)len);
	json_tokener_free(tok);
	if (o == NULL)
		return -EBADMSG;
	json_object_object_del(o, "record");
	text = json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (text == NULL)
		r = -ENOMEM;
	else
		r = rp->o.print(text, strlen(text), rp->o.arg);
	json_object_put(o);
	if (r == 0)
		rp->st.alerts++;
	return r;
}

/* ---- the engine's hooks -------------------------------------------------- */

static int
replay_keep(const struct rule *rule, const char *rule_id, const char *event_id,
    const char *json, size_t len, const struct log_ctx *ctx, void *arg)
{
	struct replay *rp = arg;
	int64_t job;
	int r;

	UNUSED(ctx);
	if (rp->spool == NULL)
		return replay_print(rp, json, len);
	/* Printing only (or nowhere to deliver): one pseudo destination,
	 * done at once, keeps the dedup memory. */
	job = deliver_spool(rp->spool, rp->deliver != NULL ? rp->o.cfg : NULL,
	    rule, rule_id, event_id, json, len, REPLAY_DEST, NULL);
	if (job < 0)
		return (int)job; /* -EEXIST: a duplicate, not printed */
	r = replay_print(rp, json, len);
	if (r < 0)
		return r;
	/* Printed is done, for the pseudo destination; -ENOENT: the job
	 * went to real ones, which deliver.c sends. */
	r = spool_mark(rp->spool, job, REPLAY_DEST, SPOOL_DELIVERED);
	if (r != -ENOENT)
		return r < 0 ? -EIO : 0;
	if (rp->first_new_job == 0)
		rp->first_new_job = job;
	return 0;
}

static bool
replay_seen(const char *rule_id, const char *event_id, void *arg)
{
	struct replay *rp = arg;

	return rp->spool != NULL && spool_seen(rp->spool, rule_id, event_id);
}

static int
replay_fed(struct json_object *rec, void *arg)
{
	struct replay *rp = arg;

	return rp->o.fed(rec, rp->o.arg);
}

static int
replay_sync_spool(void *arg)
{
	struct replay *rp = arg;

	return rp->spool != NULL ? spool_sync(rp->spool) : 0;
}

/* ---- deliveries ---------------------------------------------------------- */

static void
replay_outcome(int64_t job, const char *dest, const struct sink_outcome *o,
    bool final, void *arg)
{
	struct replay *rp = arg;

	UNUSED(job);
	if (!final)
		return;
	if (o->result == SINK_DELIVERED)
		rp->st.delivered++;
	else
		rp->st.failed++;
	if (rp->o.delivered != NULL)
		rp->o.delivered(dest, o, rp->o.arg);
}

static size_t
replay_queued(const struct replay *rp)
{
	struct deliver_stats ds;

	deliver_stats(rp->deliver, &ds);
	return ds.queued;
}

/* What was spooled since the last call is durable and queued; the loop
 * runs until at most max deliveries are left. */
static int
replay_pump(struct replay *rp, size_t max)
{
	int r;

	r = spool_sync(rp->spool);
	if (r >= 0)
		r = engine_sync(rp->engine);
	if (r < 0)
		return r;
	if (rp->deliver == NULL)
		return 0;
	if (rp->first_new_job > 0) {
		r = deliver_queue(rp->deliver, rp->first_new_job);
		rp->first_new_job = 0;
		if (r < 0)
			return r;
	}
	while (replay_queued(rp) > max)
		(void)event_base_loop(rp->base, EVLOOP_ONCE);
	(void)event_base_loop(rp->base, EVLOOP_NONBLOCK);
	return spool_sync(rp->spool) < 0 ? -EIO : 0;
}

/* ---- state --------------------------------------------------------------- */

static int
replay_state_dir(struct replay *rp, const char **ret, struct diag *reterr)
{
	const char *tmp = getenv("TMPDIR");
	char path[4096];

	if (rp->o.state_dir != NULL) {
		if (mkdir(rp->o.state_dir, 0700) < 0 && errno != EEXIST)
			return diag_set(reterr, -errno, rp->o.state_dir, 0, 0,
			    "cannot create the state directory: %s",
			    strerror(errno));
		*ret = rp->o.state_dir;
		return 0;
	}
	(void)snprintf(path, sizeof(path), "%s/smtrail-replay.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(path) == NULL)
		return diag_set(reterr, -errno, path, 0, 0,
		    "cannot create a temporary state directory: %s",
		    strerror(errno));
	rp->tmpdir = strdup(path);
	if (rp->tmpdir == NULL) {
		(void)rmdir(path);
		return -ENOMEM;
	}
	*ret = rp->tmpdir;
	return 0;
}

static void
replay_remove_tmp(struct replay *rp)
{
	static const char *const files[] = {"spool.journal",
	    "spool.journal.tmp", "incidents.journal", "incidents.journal.tmp",
	    "state.journal", "state.journal.tmp"};
	char path[4096];
	size_t i;

	if (rp->tmpdir == NULL)
		return;
	for (i = 0; i < ARRAY_SIZE(files); i++) {
		(void)snprintf(path, sizeof(path), "%s/%s", rp->tmpdir,
		    files[i]);
		(void)unlink(path);
	}
	(void)rmdir(rp->tmpdir);
	free(rp->tmpdir);
	rp->tmpdir = NULL;
}

static int
replay_open_deliver(struct replay *rp, struct diag *reterr)
{
	struct deliver_hooks dh;
	int r;

	rp->base = http_base_new();
	if (rp->base == NULL)
		return -ENOMEM;
	r = http_new(rp->base, NULL, &rp->http);
	if (r < 0)
		return r;
	dh = (struct deliver_hooks){.outcome = replay_outcome, .arg = rp};
	r = deliver_new(rp->base, rp->http, rp->spool, NULL, &dh, &rp->deliver);
	if (r < 0)
		return r;
	return deliver_configure(rp->deliver, rp->o.cfg, reterr);
}

int
replay_new(const struct replay_opts *o, struct replay **ret,
    struct diag *reterr)
{
	struct engine_opts eo;
	struct engine_hooks eh;
	struct replay *rp;
	const char *dir = NULL;
	int r;

	rp = calloc(1, sizeof(*rp));
	if (rp == NULL)
		return -ENOMEM;
	rp->o = *o;
	r = trail_new(&rp->trail);
	if (r == 0 && !o->no_state) {
		r = replay_state_dir(rp, &dir, reterr);
		if (r == 0)
			r = spool_open(dir, NULL, &rp->spool, reterr);
	}
	if (r == 0 && o->deliver && rp->spool != NULL)
		r = replay_open_deliver(rp, reterr);
	if (r < 0)
		goto fail;
	memset(&eo, 0, sizeof(eo));
	eo.state_dir = dir;
	eo.late_s = CFG_DEFAULT_WINDOWS_LATE_S;
	if (o->cfg != NULL) {
		eo.late_s = o->cfg->windows.late_s;
		eo.max_keys = o->cfg->windows.max_keys;
		eo.max_bytes = o->cfg->windows.max_bytes;
		eo.accounts = o->cfg->accounts;
		eo.n_accounts = o->cfg->n_accounts;
	}
	eh = (struct engine_hooks){.alert = replay_keep,
	    .seen = replay_seen,
	    .sync = replay_sync_spool,
	    .fed = o->fed != NULL ? replay_fed : NULL,
	    .arg = rp};
	r = engine_open(o->rules, &eo, &eh, &rp->engine, reterr);
	if (r < 0)
		goto fail;
	*ret = rp;
	return 0;
fail:
	replay_free(rp);
	return r;
}

void
replay_free(struct replay *rp)
{
	if (rp == NULL)
		return;
	engine_free(rp->engine);
	deliver_free(rp->deliver);
	spool_free(rp->spool);
	http_free(rp->http);
	if (rp->base != NULL)
		event_base_free(rp->base);
	trail_free(rp->trail);
	replay_remove_tmp(rp);
	free(rp);
}

/* ---- input --------------------------------------------------------------- */

static int
replay_scan_cb(struct json_object *rec, struct span raw, void *arg)
{
	struct replay *rp = arg;

	UNUSED(raw);
	return engine_feed(rp->engine, rec, NULL);
}

int
replay_file(struct replay *rp, const char *path, struct trail_stats *st,
    struct diag *reterr)
{
	int r;

	r = files_scan(path, rp->trail, replay_scan_cb, rp, reterr);
	if (st != NULL)
		*st = *trail_stats(rp->trail);
	if (rp->spool != NULL) {
		int rs = replay_pump(rp, REPLAY_MAX_QUEUED);

		if (r == 0 && rs < 0)
			r = diag_set(reterr, rs, path, 0, 0, "state: %s",
			    strerror(-rs));
	}
	return r;
}

int
replay_feed(struct replay *rp, struct json_object *rec)
{
	return engine_feed(rp->engine, rec, NULL);
}

int
replay_sync(struct replay *rp)
{
	return rp->spool != NULL ? replay_pump(rp, REPLAY_MAX_QUEUED) : 0;
}

static int
replay_resume_cb(int64_t job, const char *dest, const char *json, size_t len,
    void *arg)
{
	struct replay *rp = arg;
	int r;

	if (strcmp(dest, REPLAY_DEST) != 0)
		return 0;
	r = replay_print(rp, json, len);
	if (r == 0 &&
	    spool_mark(rp->spool, job, REPLAY_DEST, SPOOL_DELIVERED) < 0)
		r = -EIO;
	return r;
}

int
replay_resume(struct replay *rp)
{
	int r;

	if (rp->spool == NULL)
		return 0;
	r = spool_foreach_pending(rp->spool, replay_resume_cb, rp);
	if (r >= 0 && rp->deliver != NULL)
		r = deliver_queue(rp->deliver, 1);
	return r < 0 ? r : 0;
}

int
replay_record(struct replay *rp, struct json_object *rec)
{
	int r = engine_feed(rp->engine, rec, NULL);

	if (r == 0 && rp->spool != NULL)
		r = replay_pump(rp, REPLAY_MAX_QUEUED);
	return r;
}

int
replay_send(struct replay *rp, const char *rule_id, const char *event_id,
    const char *json, size_t len, const char *dest)
{
	const char *dests[1] = {dest};
	int64_t job;

	if (rp->deliver == NULL)
		return -EINVAL;
	job = spool_append_json(rp->spool, rule_id, event_id, json, len, dests,
	    1);
	if (job < 0)
		return (int)job;
	if (rp->first_new_job == 0)
		rp->first_new_job = job;
	return replay_pump(rp, REPLAY_MAX_QUEUED);
}

int
replay_finish(struct replay *rp)
{
	int r;

	r = engine_finish(rp->engine);
	if (r < 0 || rp->spool == NULL)
		return r < 0 ? r : 0;
	return replay_pump(rp, 0);
}

void
replay_stats(const struct replay *rp, struct replay_stats *ret)
{
	*ret = rp->st;
}
