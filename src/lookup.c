/*
 * lookup.c: see lookup.h. One struct lookup_region per region, each with
 * its own window, timer and spacing; a region's life is
 *
 *   WAIT --(timer: due, spaced, not paused)--> CALLING --(last page)-->
 *   SYNCING --(lookup_synced: checkpoint written)--> WAIT
 *
 * with CALLING back to WAIT between pages (the spacing) and after a
 * failure (backoff). The collected events are fed from the WAIT that
 * follows the last page, so a pause (a full spool) holds them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "aws/aws.h"
#include "aws/cloudtrail.h"
#include "backoff.h"
#include "buf.h"
#include "cfg.h"
#include "clock.h"
#include "diag.h"
#include "log.h"
#include "lookup.h"
#include "metrics.h"
#include "quote.h"

/* LookupEvents answers for 90 days; a start this much inside them. */
#define LOOKUP_MAX_AGE_S (90ull * 86400 - 3600)
#define LOOKUP_RETRY_BASE_MS 1000
#define LOOKUP_RETRY_CAP_MS (5 * 60 * MS_PER_S)
#define LOOKUP_PAUSE_MS 1000
#define LOOKUP_MAX_RECORD_DEPTH 64
#define LOOKUP_FILE_MAX 4096
/* Records fed per loop turn (bounded work per callback). */
#define LOOKUP_FEED_BUDGET 256

enum lookup_state {
	LOOKUP_WAIT,    /* the timer says when to go on */
	LOOKUP_CALLING, /* a page in flight */
	LOOKUP_SYNCING, /* fed; the checkpoint waits for lookup_synced() */
	LOOKUP_STATE_COUNT
};

enum lookup_result {
	LOOKUP_RESULT_OK,
	LOOKUP_RESULT_THROTTLED,
	LOOKUP_RESULT_ERROR,
	LOOKUP_RESULT_COUNT
};

struct lookup_ev {
	uint64_t t;
	size_t seq; /* arrival order: newest first */
	char *id;
	char *rec;
	size_t len;
};

struct lookup_region {
	struct lookup *lk;
	char name[AWS_MAX_REGION + 1];
	enum lookup_state state;
	struct event *timer;
	struct aws_op *op;

	bool have_checkpoint;
	uint64_t until_s;  /* read up to here (the last window's end) */
	uint64_t newest_s; /* the newest event time seen, 0: none */
	bool caught_up;    /* a window ended at the present */

	/* The window. */
	bool in_window;
	bool complete; /* every page read: feed next */
	bool halved;   /* the window ends before the present */
	uint64_t start_s;
	uint64_t end_s;
	uint64_t began_us;
	char *token;
	struct lookup_ev *evs;
	size_t n_evs;
	size_t cap_evs;
	size_t seq;
	size_t fed; /* records handed over so far */

	/* When the last request was sent or answered, whichever is later:
	 * the next goes LOOKUP_SPACING_MS after it, so requests reach the
	 * server at least that far apart whatever the network's delays. */
	uint64_t last_send_us;
	unsigned attempt; /* failures in a row */
	uint64_t failing_since_us;
	uint64_t last_ok_us;
	uint64_t last_log_us;
	char last_error[512];

	struct metrics_counter *m_requests[LOOKUP_RESULT_COUNT];
	struct metrics_gauge *m_last_ok;
	struct metrics_gauge *m_checkpoint;
};

struct lookup {
	struct event_base *base;
	struct aws *aws;
	const struct cfg *cfg;
	struct lookup_hooks hooks;
	struct lookup_region *regions;
	size_t n_regions;
	bool stopped;
	bool started;
};

static const char *const lookup_result_names[LOOKUP_RESULT_COUNT] = {
    [LOOKUP_RESULT_OK] = "ok",
    [LOOKUP_RESULT_THROTTLED] = "throttled",
    [LOOKUP_RESULT_ERROR] = "error",
};

static const char *
lookup_state_str(enum lookup_state s)
{
	switch (s) {
	case LOOKUP_WAIT:
		return "wait";
	case LOOKUP_CALLING:
		return "calling";
	case LOOKUP_SYNCING:
		return "syncing";
	case LOOKUP_STATE_COUNT:
		break;
	}
	return "?";
}

static void
lookup_set_state(struct lookup_region *rg, enum lookup_state s)
{
	static const bool legal[LOOKUP_STATE_COUNT][LOOKUP_STATE_COUNT] = {
	    [LOOKUP_WAIT] = {[LOOKUP_CALLING] = true,
		[LOOKUP_SYNCING] = true,
		[LOOKUP_WAIT] = true},
	    [LOOKUP_CALLING] = {[LOOKUP_WAIT] = true},
	    [LOOKUP_SYNCING] = {[LOOKUP_WAIT] = true},
	};

	if (!legal[rg->state][s])
		log_err("lookup %s: illegal transition %s -> %s", rg->name,
		    lookup_state_str(rg->state), lookup_state_str(s));
	log_debug("lookup %s: %s -> %s", rg->name, lookup_state_str(rg->state),
	    lookup_state_str(s));
	rg->state = s;
}

static void
lookup_window_drop(struct lookup_region *rg)
{
	size_t i;

	for (i = 0; i < rg->n_evs; i++) {
		free(rg->evs[i].id);
		free(rg->evs[i].rec);
	}
	rg->n_evs = 0;
	rg->seq = 0;
	rg->fed = 0;
	free(rg->token);
	rg->token = NULL;
	rg->complete = false;
}

/* ---- the checkpoint ----------------------------------------------------- */

static int
lookup_path(const struct lookup *lk, const struct lookup_region *rg,
    const char *suffix, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/lookup-%s.json%s", lk->cfg->state_dir,
	    rg->name, suffix);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Reads a region's checkpoint; none is fine. */
static int
lookup_read_checkpoint(struct lookup_region *rg, struct diag *reterr)
{
	char path[4096];
	char text[LOOKUP_FILE_MAX + 1];
	struct json_object *o;
	struct json_object *v;
	ssize_t n;
	int fd;
	int r;

	r = lookup_path(rg->lk, rg, "", path, sizeof(path));
	if (r < 0)
		return diag_set(reterr, r, NULL, 0, 0, "state_dir too long");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		r = -errno;
		return diag_set(reterr, r, path, 0, 0, "cannot open: %s",
		    strerror(-r));
	}
	n = read(fd, text, sizeof(text) - 1);
	r = n < 0 ? -errno : 0;
	(void)close(fd);
	if (r < 0)
		return diag_set(reterr, r, path, 0, 0, "cannot read: %s",
		    strerror(-r));
	text[n] = '\0';
	o = json_tokener_parse(text);
	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "until", &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0) {
		json_object_put(o);
		return diag_set(reterr, -EBADMSG, path, 0, 0,
		    "malformed lookup checkpoint (remove it to read from "
		    "lookup.since again)");
	}
	rg->until_s = (uint64_t)json_object_get_int64(v);
	if (json_object_object_get_ex(o, "newest", &v) &&
	    json_object_is_type(v, json_type_int) &&
	    json_object_get_int64(v) > 0)
		rg->newest_s = (uint64_t)json_object_get_int64(v);
	rg->have_checkpoint = true;
	json_object_put(o);
	return 0;
}

/* Written whole: a temporary file, fsync'd, renamed, the directory
 * fsync'd. One small write per window. */
static int
lookup_write_checkpoint(struct lookup_region *rg, uint64_t until,
    uint64_t newest)
{
	char path[4096];
	char tmp[4096];
	char text[256];
	int len;
	int fd;
	int dfd;
	int r = 0;

	if (lookup_path(rg->lk, rg, "", path, sizeof(path)) < 0 ||
	    lookup_path(rg->lk, rg, ".tmp", tmp, sizeof(tmp)) < 0)
		return -ENAMETOOLONG;
	len = snprintf(text, sizeof(text),
	    "{\"region\":\"%s\",\"until\":%llu,\"newest\":%llu}\n", rg->name,
	    (unsigned long long)until, (unsigned long long)newest);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd < 0)
		return -errno;
	if (write(fd, text, (size_t)len) != len)
		r = errno != 0 ? -errno : -ENOSPC;
	if (r == 0 && fsync(fd) != 0)
		r = -errno;
	if (close(fd) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) != 0)
		r = -errno;
	if (r < 0) {
		(void)unlink(tmp);
		return r;
	}
	dfd = open(rg->lk->cfg->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fsync(dfd) != 0)
		r = -errno;
	(void)close(dfd);
	return r;
}

/* ---- polling ------------------------------------------------------------ */

static void lookup_send(struct lookup_region *rg);

static void
lookup_arm(struct lookup_region *rg, uint64_t delay_ms)
{
	struct timeval tv = clock_tv_ms(delay_ms);

	if (rg->lk->stopped)
		return;
	(void)evtimer_del(rg->timer);
	(void)evtimer_add(rg->timer, &tv);
}

static void
lookup_count(struct lookup_region *rg, enum lookup_result res)
{
	metrics_inc(rg->m_requests[res], 1);
}

/* A new window: from the checkpoint less the overlap (or since) to now. */
static void
lookup_window_begin(struct lookup_region *rg)
{
	const struct cfg_lookup *c = &rg->lk->cfg->lookup;
	uint64_t now = (uint64_t)time(NULL);
	uint64_t oldest = now > LOOKUP_MAX_AGE_S ? now - LOOKUP_MAX_AGE_S : 0;
	uint64_t start;

	if (rg->have_checkpoint)
		start =
		    rg->until_s > c->overlap_s ? rg->until_s - c->overlap_s : 0;
	else
		start = now > c->since_s ? now - c->since_s : 0;
	if (start < oldest)
		start = oldest;
	if (start > now)
		start = now;
	lookup_window_drop(rg);
	rg->halved = false;
	rg->in_window = true;
	rg->start_s = start;
	rg->end_s = now;
	rg->began_us = now_us();
}

static int
lookup_ev_cmp(const void *a, const void *b)
{
	const struct lookup_ev *x = a;
	const struct lookup_ev *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	/* The same second: the older one came later in the pages. */
	return x->seq > y->seq ? -1 : x->seq < y->seq;
}

/* The window's next LOOKUP_FEED_BUDGET records, oldest first, to
 * hooks.record: 1 when more remain, 0 when all are in, < 0 when a record
 * hook failed (the window is read again later). */
static int
lookup_feed(struct lookup_region *rg)
{
	struct lookup *lk = rg->lk;
	size_t end = rg->fed + LOOKUP_FEED_BUDGET;
	size_t bad = 0;
	size_t i;
	int r;

	/* evs is NULL before the first event */
	if (rg->fed == 0 && rg->n_evs > 1)
		qsort(rg->evs, rg->n_evs, sizeof(*rg->evs), lookup_ev_cmp);
	if (end > rg->n_evs)
		end = rg->n_evs;
	for (i = rg->fed; i < end; i++) {
		struct lookup_ev *ev = &rg->evs[i];
		struct log_ctx ctx = {.event_id = ev->id};
		struct json_tokener *tok =
		    json_tokener_new_ex(LOOKUP_MAX_RECORD_DEPTH);
		struct json_object *rec;

		if (tok == NULL)
			return -ENOMEM;
		rec = json_tokener_parse_ex(tok, ev->rec, (int)ev->len);
		if (rec == NULL ||
		    json_tokener_get_error(tok) != json_tokener_success ||
		    !json_object_is_type(rec, json_type_object)) {
			json_tokener_free(tok);
			json_object_put(rec);
			if (bad++ == 0)
				log_ctx_warn(&ctx,
				    "lookup %s: CloudTrailEvent is not a JSON "
				    "object, skipping the event",
				    rg->name);
			continue;
		}
		json_tokener_free(tok);
		r = lk->hooks.record(rec, &ctx, lk->hooks.arg);
		json_object_put(rec);
		if (r < 0 && r != -EEXIST)
			return r;
	}
	rg->fed = end;
	return end < rg->n_evs ? 1 : 0;
}

/* Failed requests: logged at the first and then once a minute. */
static void
lookup_failed(struct lookup_region *rg, const struct aws_result *res)
{
	uint64_t now = now_us();
	uint64_t delay;

	if (rg->attempt == 0)
		rg->failing_since_us = now;
	delay = backoff_next_ms(rg->attempt, LOOKUP_RETRY_BASE_MS,
	    LOOKUP_RETRY_CAP_MS);
	rg->attempt++;
	{
		char q[QUOTE_SIZE(100)];

		/* AWS's words are untrusted: quoted, cut. */
		(void)snprintf(rg->last_error, sizeof(rg->last_error),
		    "%.64s%s%s%s",
		    res->code[0] ? res->code : strerror(-res->error),
		    res->message[0] ? ": '" : "",
		    quote_bytes(q, sizeof(q), res->message,
			strlen(res->message), 80),
		    res->message[0] ? "'" : "");
	}
	if (rg->attempt == 1 || now - rg->last_log_us >= 60 * US_PER_S) {
		log_warn("lookup %s: LookupEvents failed (%u in a row): %s; "
			 "retrying in %llu ms",
		    rg->name, rg->attempt, rg->last_error,
		    (unsigned long long)delay);
		rg->last_log_us = now;
	}
	lookup_arm(rg, delay);
}

static void
lookup_page_cb(const struct aws_result *res, struct cloudtrail_page *page,
    void *arg)
{
	struct lookup_region *rg = arg;
	size_t i;

	rg->op = NULL;
	rg->last_send_us = now_us();
	lookup_set_state(rg, LOOKUP_WAIT);
	if (res->error == -EAGAIN && res->status == 400) {
		lookup_count(rg, LOOKUP_RESULT_THROTTLED);
		lookup_failed(rg, res);
		return;
	}
	if (res->error != 0)
		lookup_count(rg, LOOKUP_RESULT_ERROR);
	if (res->error == -ESTALE) {
		/* The token is no good: the window from its first page. */
		lookup_window_drop(rg);
		lookup_failed(rg, res);
		return;
	}
	if (res->error == -ERANGE) {
		lookup_window_begin(rg); /* starts inside the 90 days */
		lookup_failed(rg, res);
		return;
	}
	if (res->error != 0) {
		lookup_failed(rg, res);
		return;
	}
	lookup_count(rg, LOOKUP_RESULT_OK);
	rg->attempt = 0;
	rg->last_ok_us = now_us();
	rg->last_error[0] = '\0';
	metrics_gauge_set(rg->m_last_ok, (double)time(NULL));
	if (rg->n_evs + page->n > LOOKUP_MAX_WINDOW &&
	    rg->end_s > rg->start_s) {
		uint64_t end = rg->start_s + (rg->end_s - rg->start_s) / 2;

		log_info("lookup %s: over %d events from %llu to %llu, "
			 "reading up to %llu first",
		    rg->name, LOOKUP_MAX_WINDOW,
		    (unsigned long long)rg->start_s,
		    (unsigned long long)rg->end_s, (unsigned long long)end);
		lookup_window_drop(rg);
		rg->end_s = end;
		rg->halved = true;
		lookup_arm(rg, 0);
		return;
	}
	if (rg->n_evs + page->n > rg->cap_evs) {
		size_t cap = rg->cap_evs ? rg->cap_evs : 64;
		struct lookup_ev *a;

		while (cap < rg->n_evs + page->n)
			cap *= 2;
		a = realloc(rg->evs, cap * sizeof(*a));
		if (a == NULL) {
			struct aws_result r2 = *res;

			r2.error = -ENOMEM;
			lookup_failed(rg, &r2);
			return;
		}
		rg->evs = a;
		rg->cap_evs = cap;
	}
	for (i = 0; i < page->n; i++) {
		struct lookup_ev *ev = &rg->evs[rg->n_evs++];

		/* Taken from the page: cloudtrail_page_done() frees NULLs. */
		ev->t = page->events[i].event_time;
		ev->seq = rg->seq++;
		ev->id = page->events[i].event_id;
		ev->rec = page->events[i].record;
		ev->len = page->events[i].record_len;
		page->events[i].event_id = NULL;
		page->events[i].record = NULL;
	}
	free(rg->token);
	rg->token = page->next_token;
	page->next_token = NULL;
	if (rg->token == NULL)
		rg->complete = true;
	lookup_arm(rg, 0); /* the next page, or the feed, when spaced */
}

static void
lookup_send(struct lookup_region *rg)
{
	struct lookup *lk = rg->lk;
	struct cloudtrail_lookup q = {.region = rg->name,
	    .event_source = LOOKUP_EVENT_SOURCE,
	    .start_s = rg->start_s,
	    .end_s = rg->end_s,
	    .max_results = CLOUDTRAIL_MAX_RESULTS,
	    .next_token = rg->token,
	    .max_attempts = 1};
	int r;

	lookup_set_state(rg, LOOKUP_CALLING);
	rg->last_send_us = now_us();
	r = cloudtrail_lookup_events(lk->aws, &q, lookup_page_cb, rg, &rg->op);
	if (r < 0) {
		struct aws_result res;

		memset(&res, 0, sizeof(res));
		res.error = r;
		rg->op = NULL;
		lookup_set_state(rg, LOOKUP_WAIT);
		lookup_count(rg, LOOKUP_RESULT_ERROR);
		lookup_failed(rg, &res);
	}
}

static void
lookup_fed_all(struct lookup_region *rg)
{
	struct lookup *lk = rg->lk;
	int r;

	r = lookup_feed(rg);
	if (r > 0) {
		lookup_arm(rg, 0); /* the rest at the next turn */
		return;
	}
	if (r < 0) {
		struct aws_result res;

		memset(&res, 0, sizeof(res));
		res.error = r;
		(void)snprintf(res.message, sizeof(res.message),
		    "the records could not be kept");
		log_warn_errno(r,
		    "lookup %s: %zu record(s) from %llu to %llu could not "
		    "be kept; the window is read again later",
		    rg->name, rg->n_evs, (unsigned long long)rg->start_s,
		    (unsigned long long)rg->end_s);
		lookup_window_drop(rg);
		rg->in_window = false;
		lookup_failed(rg, &res);
		return;
	}
	log_info("lookup %s: %zu event(s) from %llu to %llu", rg->name,
	    rg->n_evs, (unsigned long long)rg->start_s,
	    (unsigned long long)rg->end_s);
	lookup_set_state(rg, LOOKUP_SYNCING);
	lk->hooks.fed(lk->hooks.arg);
}

/* The region's timer: the next step, when spaced and not paused. */
static void
lookup_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lookup_region *rg = arg;
	struct lookup *lk = rg->lk;
	uint64_t now = now_us();
	uint64_t next;
	const char *why;

	UNUSED(fd);
	UNUSED(what);
	if (lk->stopped || rg->state != LOOKUP_WAIT)
		return;
	if (rg->complete) {
		why = lk->hooks.pause != NULL ? lk->hooks.pause(lk->hooks.arg)
					      : NULL;
		if (why != NULL) {
			log_debug("lookup %s: waiting: %s", rg->name, why);
			lookup_arm(rg, LOOKUP_PAUSE_MS);
			return;
		}
		lookup_fed_all(rg);
		return;
	}
	next = rg->last_send_us + LOOKUP_SPACING_MS * (US_PER_S / MS_PER_S);
	if (rg->last_send_us != 0 && now < next) {
		lookup_arm(rg, (next - now + 999) / 1000);
		return;
	}
	if (!rg->in_window)
		lookup_window_begin(rg);
	lookup_send(rg);
}

/* ---- the API --------------------------------------------------------------
 */

static bool
lookup_all_caught_up(const struct lookup *lk)
{
	size_t i;

	for (i = 0; i < lk->n_regions; i++)
		if (!lk->regions[i].caught_up)
			return false;
	return true;
}

void
lookup_synced(struct lookup *lk)
{
	size_t i;
	int r;

	if (lk == NULL)
		return;
	for (i = 0; i < lk->n_regions; i++) {
		struct lookup_region *rg = &lk->regions[i];
		uint64_t newest = rg->newest_s;
		uint64_t interval_us;
		uint64_t spent;
		size_t k;

		if (rg->state != LOOKUP_SYNCING)
			continue;
		for (k = 0; k < rg->n_evs; k++)
			if (rg->evs[k].t > newest)
				newest = rg->evs[k].t;
		r = lookup_write_checkpoint(rg, rg->end_s, newest);
		if (r < 0)
			log_err_errno(r,
			    "lookup %s: cannot write the checkpoint; a restart "
			    "reads this window again (no alert is sent twice)",
			    rg->name);
		rg->have_checkpoint = true;
		rg->until_s = rg->end_s;
		rg->newest_s = newest;
		if (!rg->halved)
			rg->caught_up = true;
		metrics_gauge_set(rg->m_checkpoint, (double)rg->until_s);
		lookup_window_drop(rg);
		rg->in_window = false;
		lookup_set_state(rg, LOOKUP_WAIT);
		interval_us = (uint64_t)lk->cfg->lookup.interval_s * US_PER_S;
		spent = now_us() - rg->began_us;
		lookup_arm(rg,
		    spent >= interval_us || rg->halved /* behind: at once */
			? 0
			: (interval_us - spent) / (US_PER_S / MS_PER_S));
		if (lk->hooks.polled != NULL)
			lk->hooks.polled(lookup_all_caught_up(lk),
			    lk->hooks.arg);
	}
}

int
lookup_new(struct event_base *base, struct aws *aws, struct metrics *metrics,
    const struct cfg *cfg, const struct lookup_hooks *hooks,
    struct lookup **ret, struct diag *reterr)
{
	struct lookup *lk;
	size_t i;
	int k;
	int r;

	lk = calloc(1, sizeof(*lk));
	if (lk == NULL)
		return -ENOMEM;
	lk->base = base;
	lk->aws = aws;
	lk->cfg = cfg;
	lk->hooks = *hooks;
	lk->n_regions = cfg->lookup.n_regions;
	lk->regions =
	    calloc(lk->n_regions ? lk->n_regions : 1, sizeof(*lk->regions));
	if (lk->regions == NULL) {
		free(lk);
		return -ENOMEM;
	}
	for (i = 0; i < lk->n_regions; i++) {
		struct lookup_region *rg = &lk->regions[i];

		rg->lk = lk;
		(void)snprintf(rg->name, sizeof(rg->name), "%s",
		    cfg->lookup.regions[i]);
		rg->timer = evtimer_new(base, lookup_timer_cb, rg);
		if (rg->timer == NULL) {
			lookup_free(lk);
			return -ENOMEM;
		}
		for (k = 0; k < LOOKUP_RESULT_COUNT; k++) {
			const char *labels[4] = {"region", rg->name, "result",
			    lookup_result_names[k]};

			rg->m_requests[k] = metrics_counter_pair(metrics,
			    "smtrail_lookup_requests_total",
			    "LookupEvents requests, by region and result (ok, "
			    "throttled, error).",
			    labels);
		}
		rg->m_last_ok = metrics_gauge(metrics,
		    "smtrail_lookup_last_success_timestamp_seconds",
		    "When a region's last LookupEvents request succeeded.",
		    "region", rg->name);
		rg->m_checkpoint = metrics_gauge(metrics,
		    "smtrail_lookup_checkpoint_timestamp_seconds",
		    "Event time up to which a region has been read and its "
		    "alerts made durable.",
		    "region", rg->name);
		r = lookup_read_checkpoint(rg, reterr);
		if (r < 0) {
			lookup_free(lk);
			return r;
		}
		if (rg->have_checkpoint)
			metrics_gauge_set(rg->m_checkpoint,
			    (double)rg->until_s);
	}
	*ret = lk;
	return 0;
}

void
lookup_free(struct lookup *lk)
{
	size_t i;

	if (lk == NULL)
		return;
	for (i = 0; i < lk->n_regions; i++) {
		struct lookup_region *rg = &lk->regions[i];

		aws_call_cancel(rg->op);
		if (rg->timer != NULL)
			event_free(rg->timer);
		lookup_window_drop(rg);
		free(rg->evs);
	}
	free(lk->regions);
	free(lk);
}

void
lookup_set_cfg(struct lookup *lk, const struct cfg *cfg)
{
	if (lk != NULL)
		lk->cfg = cfg;
}

void
lookup_start(struct lookup *lk)
{
	size_t i;

	if (lk == NULL || lk->started)
		return;
	lk->started = true;
	for (i = 0; i < lk->n_regions; i++) {
		/* A previous process may have just sent one. */
		lk->regions[i].last_send_us = now_us();
		log_info("lookup %s: reading from %s", lk->regions[i].name,
		    lk->regions[i].have_checkpoint
			? "the checkpoint less lookup.overlap"
			: "lookup.since ago");
		lookup_arm(&lk->regions[i], 0);
	}
}

void
lookup_stop(struct lookup *lk)
{
	size_t i;

	if (lk == NULL)
		return;
	lk->stopped = true;
	for (i = 0; i < lk->n_regions; i++) {
		struct lookup_region *rg = &lk->regions[i];

		(void)evtimer_del(rg->timer);
		if (rg->op != NULL) {
			aws_call_cancel(rg->op);
			rg->op = NULL;
			rg->state = LOOKUP_WAIT;
		}
	}
}

bool
lookup_idle(const struct lookup *lk)
{
	size_t i;

	for (i = 0; lk != NULL && i < lk->n_regions; i++)
		if (lk->regions[i].state == LOOKUP_SYNCING)
			return false;
	return true;
}

void
lookup_stats(const struct lookup *lk, struct lookup_stats *ret)
{
	size_t i;

	memset(ret, 0, sizeof(*ret));
	ret->last_error = "";
	for (i = 0; lk != NULL && i < lk->n_regions; i++) {
		ret->regions++;
		if (lk->regions[i].attempt > 0) {
			ret->failing++;
			ret->last_error = lk->regions[i].last_error;
		}
	}
}

int
lookup_health(const struct lookup *lk, struct buf *out)
{
	uint64_t now = now_us();
	uint64_t bound;
	int r = 0;
	size_t i;

	if (lk == NULL)
		return 0;
	bound = 3ull * lk->cfg->lookup.interval_s;
	if (bound < LOOKUP_FAILING_MIN_S)
		bound = LOOKUP_FAILING_MIN_S;
	for (i = 0; i < lk->n_regions; i++) {
		const struct lookup_region *rg = &lk->regions[i];

		if (rg->attempt > 0 &&
		    now - rg->failing_since_us > bound * US_PER_S) {
			if (buf_printf(out,
				"lookup %s: LookupEvents failing for %llu s: "
				"%s\n",
				rg->name,
				(unsigned long long)((now -
							 rg->failing_since_us) /
				    US_PER_S),
				rg->last_error) < 0)
				return -ENOMEM;
			r = -EIO;
		} else if (rg->have_checkpoint) {
			if (buf_printf(out, "lookup %s: read up to %llu\n",
				rg->name, (unsigned long long)rg->until_s) < 0)
				return -ENOMEM;
		}
	}
	return r;
}
