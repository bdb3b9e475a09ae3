/*
 * backfill.c: see backfill.h. Three phases on one loop: discovery (one
 * listing at a time, waited for), the fetch pump (at most `jobs` objects in
 * flight; finished ones are reaped after each loop turn: synced, printed,
 * checkpointed), and replay_finish().
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "aws/aws.h"
#include "aws/creds.h"
#include "aws/s3.h"
#include "backfill.h"
#include "buf.h"
#include "cfg.h"
#include "clock.h"
#include "diag.h"
#include "http.h"
#include "log.h"
#include "replay.h"
#include "trail.h"

/* Longest key kept (S3's own limit is 1024 bytes). */
#define BACKFILL_MAX_KEY 1024
/* Days in one range, at most (a listing each, per account and region). */
#define BACKFILL_MAX_DAYS 3660

struct backfill_strv {
	char **v;
	size_t n;
	size_t cap;
};

enum backfill_job_state {
	BACKFILL_JOB_IDLE,
	BACKFILL_JOB_FETCHING,
	BACKFILL_JOB_DONE,
};

struct backfill;

struct backfill_job {
	struct backfill *bf;
	enum backfill_job_state state;
	size_t obj; /* index in objects */
	struct trail *trail;
	int scan_error;
	struct diag d;
	struct aws_result res;
};

struct backfill {
	const struct backfill_opts *o;
	struct event_base *base;
	struct http *http;
	struct creds *cr;
	struct aws *aws;
	struct replay *rp;
	struct backfill_stats st;
	char root[BACKFILL_MAX_KEY]; /* "[prefix/]AWSLogs/" */
	/* the listing being waited for */
	bool list_waiting;
	struct aws_result list_res;
	struct backfill_strv list_keys;
	struct backfill_strv list_prefixes;
	char *list_token;
	/* objects and the checkpoint */
	struct backfill_strv objects;
	struct backfill_strv finished; /* sorted, from the checkpoint */
	int ckpt_fd;
	struct backfill_job *jobs;
	unsigned n_jobs;
	uint64_t started_us;
	uint64_t progress_us;
};

/* ---- string vectors ------------------------------------------------------ */

static int
backfill_strv_add(struct backfill_strv *sv, const char *s)
{
	char *d;

	if (sv->n == sv->cap) {
		size_t cap = sv->cap ? sv->cap * 2 : 64;
		char **v = realloc(sv->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		sv->v = v;
		sv->cap = cap;
	}
	d = strdup(s);
	if (d == NULL)
		return -ENOMEM;
	sv->v[sv->n++] = d;
	return 0;
}

static void
backfill_strv_reset(struct backfill_strv *sv)
{
	size_t i;

	for (i = 0; i < sv->n; i++)
		free(sv->v[i]);
	sv->n = 0;
}

static void
backfill_strv_done(struct backfill_strv *sv)
{
	backfill_strv_reset(sv);
	free(sv->v);
	memset(sv, 0, sizeof(*sv));
}

static int
backfill_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- listing ---------------------------------------------------------------
 */

static void
backfill_list_cb(const struct aws_result *res, const struct s3_list *l,
    void *arg)
{
	struct backfill *bf = arg;
	size_t i;
	int r = 0;

	bf->list_waiting = false;
	bf->list_res = *res;
	bf->list_res.resp = NULL;
	free(bf->list_token);
	bf->list_token = NULL;
	if (l == NULL)
		return;
	for (i = 0; r == 0 && i < l->n_keys; i++)
		r = backfill_strv_add(&bf->list_keys, l->keys[i]);
	for (i = 0; r == 0 && i < l->n_prefixes; i++)
		r = backfill_strv_add(&bf->list_prefixes, l->prefixes[i]);
	if (r == 0 && l->truncated && l->next_token == NULL)
		r = -EBADMSG; /* more, but no way to ask for it */
	if (r == 0 && l->truncated) {
		bf->list_token = strdup(l->next_token);
		if (bf->list_token == NULL)
			r = -ENOMEM;
	}
	if (r < 0)
		bf->list_res.error = r;
}

/* Every page under prefix into list_keys and list_prefixes. */
static int
backfill_list(struct backfill *bf, const char *prefix, bool delimited,
    struct diag *reterr)
{
	int r;

	backfill_strv_reset(&bf->list_keys);
	backfill_strv_reset(&bf->list_prefixes);
	free(bf->list_token);
	bf->list_token = NULL;
	do {
		char *token = bf->list_token;

		bf->list_token = NULL;
		bf->list_waiting = true;
		r = s3_list_objects(bf->aws, bf->o->bucket, prefix,
		    delimited ? "/" : NULL, 1000, token, backfill_list_cb, bf,
		    NULL);
		free(token);
		if (r < 0)
			return diag_set(reterr, r, "", 0, 0,
			    "s3://%s/%s: listing: %s", bf->o->bucket, prefix,
			    strerror(-r));
		while (bf->list_waiting)
			if (event_base_loop(bf->base, EVLOOP_ONCE) < 0)
				return -EIO;
		bf->st.listings++;
		if (bf->list_res.error < 0)
			return diag_set(reterr, bf->list_res.error, "", 0, 0,
			    "s3://%s/%s: listing: %s%s%s", bf->o->bucket,
			    prefix,
			    bf->list_res.code[0] != '\0'
				? bf->list_res.code
				: strerror(-bf->list_res.error),
			    bf->list_res.message[0] != '\0' ? ": " : "",
			    bf->list_res.message);
	} while (bf->list_token != NULL);
	return 0;
}

/* The last folder name of a common prefix ("a/b/c/" → "c"), in buf. */
static const char *
backfill_leaf(const char *prefix, char *buf, size_t size)
{
	size_t n = strlen(prefix);
	size_t s;

	if (n > 0 && prefix[n - 1] == '/')
		n--;
	s = n;
	while (s > 0 && prefix[s - 1] != '/')
		s--;
	(void)snprintf(buf, size, "%.*s", (int)(n - s), prefix + s);
	return buf;
}

static bool
backfill_is_account(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return i == 12;
}

/* o- and 10 to 32 lowercase letters or digits (AWS Organizations' ids). */
static bool
backfill_is_org(const char *s)
{
	size_t i;

	if (strncmp(s, "o-", 2) != 0)
		return false;
	for (i = 2; s[i] != '\0'; i++)
		if (!islower((unsigned char)s[i]) &&
		    !isdigit((unsigned char)s[i]))
			return false;
	return i >= 12 && i <= 34;
}

/* Region names: lowercase letters, digits and '-', with a '-'. */
static bool
backfill_is_region(const char *s)
{
	size_t i;

	if (strchr(s, '-') == NULL)
		return false;
	for (i = 0; s[i] != '\0'; i++)
		if (!islower((unsigned char)s[i]) &&
		    !isdigit((unsigned char)s[i]) && s[i] != '-')
			return false;
	return i > 0 && i < 32;
}

static bool
backfill_is_log(const char *key)
{
	size_t n = strlen(key);

	return (n > 8 && strcmp(key + n - 8, ".json.gz") == 0) ||
	    (n > 5 && strcmp(key + n - 5, ".json") == 0);
}

/* The day folders of one region: each day's keys into objects. */
static int
backfill_region(struct backfill *bf, const char *region_prefix,
    struct diag *reterr)
{
	int64_t day;
	int r;

	for (day = bf->o->since_s - bf->o->since_s % 86400;
	     day <= bf->o->until_s; day += 86400) {
		char prefix[BACKFILL_MAX_KEY + 16];
		time_t t = (time_t)day;
		struct tm tm;
		size_t i;

		if (gmtime_r(&t, &tm) == NULL)
			return -EINVAL;
		(void)snprintf(prefix, sizeof(prefix), "%s%04d/%02d/%02d/",
		    region_prefix, tm.tm_year + 1900, tm.tm_mon + 1,
		    tm.tm_mday);
		r = backfill_list(bf, prefix, false, reterr);
		if (r < 0)
			return r;
		for (i = 0; i < bf->list_keys.n; i++) {
			const char *k = bf->list_keys.v[i];

			if (!backfill_is_log(k) ||
			    strlen(k) >= BACKFILL_MAX_KEY) {
				log_debug("backfill: s3://%s/%s: not a log "
					  "file, skipped",
				    bf->o->bucket, k);
				continue;
			}
			r = backfill_strv_add(&bf->objects, k);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* An account folder ("...AWSLogs/[o-x/]123456789012/"): its regions. */
static int
backfill_account(struct backfill *bf, const char *acct_prefix,
    struct diag *reterr)
{
	struct backfill_strv regions = {0};
	char prefix[BACKFILL_MAX_KEY + 16];
	char leaf[256];
	size_t i;
	int r;

	bf->st.accounts++;
	(void)snprintf(prefix, sizeof(prefix), "%sCloudTrail/", acct_prefix);
	r = backfill_list(bf, prefix, true, reterr);
	for (i = 0; r == 0 && i < bf->list_prefixes.n; i++)
		if (backfill_is_region(backfill_leaf(bf->list_prefixes.v[i],
			leaf, sizeof(leaf))))
			r = backfill_strv_add(&regions, bf->list_prefixes.v[i]);
	for (i = 0; r == 0 && i < regions.n; i++) {
		bf->st.regions++;
		r = backfill_region(bf, regions.v[i], reterr);
	}
	backfill_strv_done(&regions);
	return r;
}

/* "YYYYMMDDTHHMMZ" in a CloudTrail file name, or "" (sorted first). */
static const char *
backfill_key_time(const char *key, char *buf, size_t size)
{
	const char *base = strrchr(key, '/');
	const char *p;

	base = base != NULL ? base + 1 : key;
	buf[0] = '\0';
	for (p = base; (p = strchr(p, '_')) != NULL; p++) {
		size_t i;

		for (i = 1; i <= 14; i++)
			if (i == 9        ? p[i] != 'T'
				: i == 14 ? p[i] != 'Z'
					  : !isdigit((unsigned char)p[i]))
				break;
		if (i == 15) {
			(void)snprintf(buf, size, "%.14s", p + 1);
			break;
		}
	}
	return buf;
}

static int
backfill_objcmp(const void *a, const void *b)
{
	const char *ka = *(char *const *)a;
	const char *kb = *(char *const *)b;
	char ta[16];
	char tb[16];
	int c;

	c = strcmp(backfill_key_time(ka, ta, sizeof(ta)),
	    backfill_key_time(kb, tb, sizeof(tb)));
	return c != 0 ? c : strcmp(ka, kb);
}

static int
backfill_discover(struct backfill *bf, struct diag *reterr)
{
	struct backfill_strv top = {0};
	struct backfill_strv accts = {0};
	char leaf[256];
	size_t i;
	size_t j;
	int r;

	r = backfill_list(bf, bf->root, true, reterr);
	for (i = 0; r == 0 && i < bf->list_prefixes.n; i++)
		r = backfill_strv_add(&top, bf->list_prefixes.v[i]);
	for (i = 0; r == 0 && i < top.n; i++) {
		const char *name = backfill_leaf(top.v[i], leaf, sizeof(leaf));

		if (backfill_is_account(name)) {
			r = backfill_strv_add(&accts, top.v[i]);
			continue;
		}
		if (!backfill_is_org(name)) {
			log_debug("backfill: s3://%s/%s: not an account, "
				  "skipped",
			    bf->o->bucket, top.v[i]);
			continue;
		}
		r = backfill_list(bf, top.v[i], true, reterr);
		for (j = 0; r == 0 && j < bf->list_prefixes.n; j++)
			if (backfill_is_account(backfill_leaf(
				bf->list_prefixes.v[j], leaf, sizeof(leaf))))
				r = backfill_strv_add(&accts,
				    bf->list_prefixes.v[j]);
	}
	for (i = 0; r == 0 && i < accts.n; i++)
		r = backfill_account(bf, accts.v[i], reterr);
	backfill_strv_done(&top);
	backfill_strv_done(&accts);
	if (r == 0 && bf->objects.n > 1)
		qsort(bf->objects.v, bf->objects.n, sizeof(char *),
		    backfill_objcmp);
	bf->st.objects = bf->objects.n;
	return r;
}

/* ---- the checkpoint ------------------------------------------------------ */

/* Reads the finished objects ("bucket/key" a line; a torn last line, from
 * a crash mid-write, is ignored and ended) and opens the file to append. */
static int
backfill_ckpt_open(struct backfill *bf, const char *path, struct diag *reterr)
{
	size_t blen = strlen(bf->o->bucket);
	struct buf b;
	char chunk[65536];
	size_t start = 0;
	size_t i;
	ssize_t n;
	int r = 0;

	bf->ckpt_fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (bf->ckpt_fd < 0)
		return diag_set(reterr, -errno, path, 0, 0,
		    "cannot open the checkpoint: %s", strerror(errno));
	buf_init(&b, 1u << 30);
	while ((n = read(bf->ckpt_fd, chunk, sizeof(chunk))) > 0)
		if ((r = buf_append(&b, chunk, (size_t)n)) < 0)
			break;
	if (n < 0)
		r = -errno;
	for (i = 0; r == 0 && i < b.len; i++) {
		if (b.data[i] != '\n')
			continue;
		b.data[i] = '\0';
		/* Another bucket's objects are not this one's. */
		if (strncmp(b.data + start, bf->o->bucket, blen) == 0 &&
		    b.data[start + blen] == '/' && i > start + blen + 1)
			r = backfill_strv_add(&bf->finished,
			    b.data + start + blen + 1);
		start = i + 1;
	}
	if (r == 0 && start < b.len && write(bf->ckpt_fd, "\n", 1) != 1)
		r = -errno;
	buf_done(&b);
	if (r < 0)
		return diag_set(reterr, r, path, 0, 0,
		    "cannot read the checkpoint: %s", strerror(-r));
	if (bf->finished.n > 1)
		qsort(bf->finished.v, bf->finished.n, sizeof(char *),
		    backfill_strcmp);
	return 0;
}

static bool
backfill_ckpt_has(const struct backfill *bf, const char *key)
{
	return bf->finished.n > 0 &&
	    bsearch(&key, bf->finished.v, bf->finished.n, sizeof(char *),
		backfill_strcmp) != NULL;
}

/* ---- fetching ------------------------------------------------------------ */

static int
backfill_rec(struct json_object *rec, struct span raw, void *arg)
{
	struct backfill *bf = arg;

	UNUSED(raw);
	return replay_feed(bf->rp, rec);
}

static int
backfill_data(const void *p, size_t len, void *arg)
{
	struct backfill_job *j = arg;
	int r;

	if (j->scan_error < 0)
		return j->scan_error;
	r = trail_feed(j->trail, p, len, backfill_rec, j->bf, &j->d);
	if (r < 0)
		j->scan_error = r;
	return r;
}

/* A retry streams the object again: its records go to the engine twice,
 * and the spool drops the second alerts. */
static void
backfill_restart(void *arg)
{
	struct backfill_job *j = arg;

	trail_reset(j->trail);
	j->scan_error = 0;
	memset(&j->d, 0, sizeof(j->d));
}

static void
backfill_got(const struct aws_result *res, void *arg)
{
	struct backfill_job *j = arg;

	j->res = *res;
	j->res.resp = NULL;
	if (res->error == 0 && j->scan_error == 0)
		j->scan_error =
		    trail_finish(j->trail, backfill_rec, j->bf, &j->d);
	j->state = BACKFILL_JOB_DONE;
}

static int
backfill_start(struct backfill *bf, struct backfill_job *j, size_t obj)
{
	struct s3_get_opts go;
	int r;

	memset(&go, 0, sizeof(go));
	go.max_size = UINT64_MAX;
	go.on_data = backfill_data;
	go.on_restart = backfill_restart;
	trail_reset(j->trail);
	j->obj = obj;
	j->scan_error = 0;
	memset(&j->d, 0, sizeof(j->d));
	memset(&j->res, 0, sizeof(j->res));
	j->state = BACKFILL_JOB_FETCHING;
	r = s3_get_object(bf->aws, bf->o->bucket, bf->objects.v[obj], &go,
	    backfill_got, j, NULL);
	if (r < 0) {
		j->res.error = r;
		j->state = BACKFILL_JOB_DONE;
	}
	return 0;
}

/* Alert lines: out as the engine makes them (replay spools, prints, then
 * marks each printed). */
static int
backfill_print(const char *line, size_t len, void *arg)
{
	struct backfill *bf = arg;

	return bf->o->print != NULL ? bf->o->print(line, len, bf->o->arg) : 0;
}

static void
backfill_count(struct backfill *bf, const struct backfill_job *j)
{
	const struct trail_stats *ts = trail_stats(j->trail);

	bf->st.bytes += ts->bytes_in;
	bf->st.bytes_json += ts->bytes_json;
	bf->st.records += ts->records;
	bf->st.matched += ts->matched;
}

/* The finished jobs: sync once, checkpoint them. */
static int
backfill_reap(struct backfill *bf)
{
	struct buf line;
	unsigned i;
	int r;

	for (i = 0; i < bf->n_jobs; i++)
		if (bf->jobs[i].state == BACKFILL_JOB_DONE)
			break;
	if (i == bf->n_jobs)
		return 0;
	r = replay_sync(bf->rp);
	if (r < 0)
		return r;
	buf_init(&line, 1u << 20);
	for (; i < bf->n_jobs; i++) {
		struct backfill_job *j = &bf->jobs[i];
		const char *key;

		if (j->state != BACKFILL_JOB_DONE)
			continue;
		key = bf->objects.v[j->obj];
		j->state = BACKFILL_JOB_IDLE;
		backfill_count(bf, j);
		if (j->res.error < 0 && j->res.error != j->scan_error) {
			bf->st.failed++;
			log_warn("backfill: s3://%s/%s: %s%s%s, skipping "
				 "object (the next run tries it again)",
			    bf->o->bucket, key,
			    j->res.code[0] != '\0' ? j->res.code
						   : strerror(-j->res.error),
			    j->res.message[0] != '\0' ? ": " : "",
			    j->res.message);
			continue;
		}
		if (j->scan_error < 0) {
			char msg[600];

			bf->st.failed++;
			log_warn("backfill: s3://%s/%s: %s, skipping object",
			    bf->o->bucket, key,
			    j->d.msg[0] != '\0'
				? diag_format(&j->d, msg, sizeof(msg))
				: strerror(-j->scan_error));
			continue;
		}
		bf->st.done++;
		r = buf_printf(&line, "%s/%s", bf->o->bucket, key);
		if (r == 0)
			r = buf_putc(&line, '\n');
		if (r < 0)
			break;
	}
	if (r == 0 && line.len > 0 &&
	    (write(bf->ckpt_fd, line.data, line.len) != (ssize_t)line.len ||
		fdatasync(bf->ckpt_fd) < 0))
		r = -errno != 0 ? -errno : -EIO;
	buf_done(&line);
	return r;
}

static void
backfill_progress(struct backfill *bf, bool final)
{
	struct replay_stats rs;
	unsigned i;

	replay_stats(bf->rp, &rs);
	bf->st.alerts = rs.alerts;
	bf->st.delivered = rs.delivered;
	bf->st.delivery_failed = rs.failed;
	bf->st.elapsed_s = (double)(now_us() - bf->started_us) / 1e6;
	if (bf->o->progress == NULL)
		return;
	if (!final) {
		/* In flight too, so the figures move with big objects. */
		struct backfill_stats st = bf->st;

		for (i = 0; i < bf->n_jobs; i++) {
			const struct trail_stats *ts;

			if (bf->jobs[i].state != BACKFILL_JOB_FETCHING)
				continue;
			ts = trail_stats(bf->jobs[i].trail);
			st.bytes += ts->bytes_in;
			st.bytes_json += ts->bytes_json;
			st.records += ts->records;
		}
		bf->o->progress(&st, false, bf->o->arg);
		return;
	}
	bf->o->progress(&bf->st, true, bf->o->arg);
}

static int
backfill_fetch(struct backfill *bf)
{
	size_t next = 0;
	unsigned active = 0;
	unsigned i;
	int r = 0;

	for (;;) {
		for (i = 0; i < bf->n_jobs && next < bf->objects.n; i++) {
			if (bf->jobs[i].state != BACKFILL_JOB_IDLE)
				continue;
			while (next < bf->objects.n &&
			    backfill_ckpt_has(bf, bf->objects.v[next])) {
				bf->st.resumed++;
				next++;
			}
			if (next == bf->objects.n)
				break;
			r = backfill_start(bf, &bf->jobs[i], next++);
			if (r < 0)
				return r;
		}
		active = 0;
		for (i = 0; i < bf->n_jobs; i++)
			if (bf->jobs[i].state != BACKFILL_JOB_IDLE)
				active++;
		if (active == 0)
			break;
		for (i = 0; i < bf->n_jobs; i++)
			if (bf->jobs[i].state == BACKFILL_JOB_DONE)
				break;
		if (i == bf->n_jobs &&
		    event_base_loop(bf->base, EVLOOP_ONCE) < 0)
			return -EIO;
		r = backfill_reap(bf);
		if (r < 0)
			return r;
		if (now_us() - bf->progress_us >= US_PER_S) {
			bf->progress_us = now_us();
			backfill_progress(bf, false);
		}
	}
	return 0;
}

/* ---- setup --------------------------------------------------------------- */

static int
backfill_aws(struct backfill *bf, struct diag *reterr)
{
	const struct cfg *c = bf->o->cfg;
	struct http_opts ho;
	struct creds_opts co;
	struct aws_opts ao;
	int r;

	bf->base = http_base_new();
	if (bf->base == NULL)
		return -ENOMEM;
	ho = (struct http_opts){.ca_file = c->http.ca_file,
	    .ca_path = c->http.ca_path};
	r = http_new(bf->base, &ho, &bf->http);
	co = (struct creds_opts){.profile = c->aws.profile,
	    .region = c->aws.region,
	    .endpoint_url = c->aws.endpoint_url,
	    .role_arn = c->aws.role_arn,
	    .external_id = c->aws.external_id,
	    .role_session_name = c->aws.role_session_name};
	if (r == 0)
		r = creds_new(bf->base, bf->http, &co, &bf->cr);
	ao = (struct aws_opts){.region = c->aws.region,
	    .profile = c->aws.profile,
	    .endpoint_url = c->aws.endpoint_url};
	if (r == 0)
		r = aws_new(bf->base, bf->http, bf->cr, &ao, &bf->aws, reterr);
	return r;
}

static void
backfill_delivered(const char *dest, const struct sink_outcome *so, void *arg)
{
	struct backfill *bf = arg;

	bf->o->delivered(dest, so, bf->o->arg);
}

static int
backfill_open(struct backfill *bf, struct diag *reterr)
{
	const struct backfill_opts *o = bf->o;
	struct replay_opts ro;
	char state[4096];
	char ckpt[4096 + sizeof(BACKFILL_CHECKPOINT) + 1];
	const char *p = o->prefix != NULL ? o->prefix : "";
	size_t n;
	unsigned i;
	int r;

	if (!s3_bucket_name_ok(o->bucket))
		return diag_set(reterr, -EINVAL, "", 0, 0,
		    "'%s' is not a bucket name", o->bucket);
	if (o->until_s < o->since_s)
		return diag_set(reterr, -EINVAL, "", 0, 0,
		    "--until is before --since");
	if ((o->until_s - o->since_s) / 86400 >= BACKFILL_MAX_DAYS)
		return diag_set(reterr, -EINVAL, "", 0, 0,
		    "a range over %d days", BACKFILL_MAX_DAYS);
	while (*p == '/')
		p++;
	n = strlen(p);
	while (n > 0 && p[n - 1] == '/')
		n--;
	if (n + 16 >= sizeof(bf->root))
		return diag_set(reterr, -EINVAL, "", 0, 0, "prefix too long");
	(void)snprintf(bf->root, sizeof(bf->root), "%.*s%sAWSLogs/", (int)n, p,
	    n > 0 ? "/" : "");
	if (o->state_dir != NULL)
		(void)snprintf(state, sizeof(state), "%s", o->state_dir);
	else
		(void)snprintf(state, sizeof(state), "%s%s", o->cfg->state_dir,
		    o->dry_run ? "/backfill-dry-run" : "");
	ro = (struct replay_opts){.cfg = o->cfg,
	    .rules = o->rules,
	    .state_dir = state,
	    .deliver = !o->dry_run,
	    .print = backfill_print,
	    .delivered = o->delivered != NULL ? backfill_delivered : NULL,
	    .arg = bf};
	r = replay_new(&ro, &bf->rp, reterr);
	if (r < 0)
		return r;
	if (o->checkpoint != NULL)
		(void)snprintf(ckpt, sizeof(ckpt), "%s", o->checkpoint);
	else
		(void)snprintf(ckpt, sizeof(ckpt), "%s/%s", state,
		    BACKFILL_CHECKPOINT);
	r = backfill_ckpt_open(bf, ckpt, reterr);
	if (r < 0)
		return r;
	bf->n_jobs = o->jobs != 0 ? o->jobs : BACKFILL_DEFAULT_JOBS;
	if (bf->n_jobs > BACKFILL_MAX_JOBS)
		bf->n_jobs = BACKFILL_MAX_JOBS;
	bf->jobs = calloc(bf->n_jobs, sizeof(*bf->jobs));
	if (bf->jobs == NULL)
		return -ENOMEM;
	for (i = 0; i < bf->n_jobs; i++) {
		bf->jobs[i].bf = bf;
		r = trail_new(&bf->jobs[i].trail);
		if (r < 0)
			return r;
	}
	return backfill_aws(bf, reterr);
}

static void
backfill_close(struct backfill *bf)
{
	unsigned i;

	aws_free(bf->aws);
	creds_free(bf->cr);
	http_free(bf->http);
	if (bf->base != NULL)
		event_base_free(bf->base);
	replay_free(bf->rp);
	for (i = 0; bf->jobs != NULL && i < bf->n_jobs; i++)
		trail_free(bf->jobs[i].trail);
	free(bf->jobs);
	if (bf->ckpt_fd >= 0)
		(void)close(bf->ckpt_fd);
	backfill_strv_done(&bf->list_keys);
	backfill_strv_done(&bf->list_prefixes);
	backfill_strv_done(&bf->objects);
	backfill_strv_done(&bf->finished);
	free(bf->list_token);
}

int
backfill_run(const struct backfill_opts *o, struct backfill_stats *ret,
    struct diag *reterr)
{
	struct backfill bf;
	int r;

	memset(&bf, 0, sizeof(bf));
	bf.o = o;
	bf.ckpt_fd = -1;
	bf.started_us = bf.progress_us = now_us();
	r = backfill_open(&bf, reterr);
	if (r == 0)
		r = replay_resume(bf.rp);
	if (r == 0)
		r = backfill_discover(&bf, reterr);
	if (r == 0)
		r = backfill_fetch(&bf);
	if (r == 0)
		r = replay_finish(bf.rp);
	if (bf.rp != NULL)
		backfill_progress(&bf, true);
	if (ret != NULL)
		*ret = bf.st;
	backfill_close(&bf);
	if (r < 0)
		return r;
	return bf.st.failed > INT32_MAX ? INT32_MAX : (int)bf.st.failed;
}
