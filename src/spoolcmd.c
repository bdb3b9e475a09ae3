/*
 * spoolcmd.c: see spoolcmd.h. The pieces:
 *
 *   spoolcmd_list        the table or JSON lines of what the spool keeps
 *   spoolcmd_apply       a retry or purge on an open, locked spool (the
 *                        command's own, or the daemon's): the one place
 *                        that decides what a request does and says
 *   spoolcmd_retry/purge the command: lock and apply, or ask the daemon
 *   spoolcmd_take        the daemon: requests in, answers out
 *
 * A request, NAME.req (one JSON object):
 *   {"op":"retry"|"purge","ids":["<32 hex>",...],"all_failed":bool,
 *    "older_than_s":N}   (older_than_s absent: not given)
 * Its answer, NAME.done: lines "o TEXT" (standard output) and "e TEXT"
 * (standard error), then "status N": 0 done, 1 partly, 2 unknown ids.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "buf.h"
#include "diag.h"
#include "log.h"
#include "spool.h"
#include "spoolcmd.h"

/* A request or an answer is small; a bigger file is not ours. */
#define SPOOLCMD_MAX_FILE (256u << 10)
/* Answers nobody collected (the command was killed) go after this. */
#define SPOOLCMD_STALE_S 3600
/* Shown of a rule id or eventID in the table. */
#define SPOOLCMD_MAX_FIELD 256
/* Records nest up to 512 deep (trail.c); the alert adds a level. */
#define SPOOLCMD_MAX_DEPTH 520
/* --older-than beyond this is a typo. */
#define SPOOLCMD_MAX_DURATION_S (100ull * 366 * 86400)

struct spoolcmd_req {
	bool purge;
	bool all_failed;
	bool older_than_given;
	uint64_t older_than_s;
	char (*ids)[SPOOL_ALERT_ID_SIZE];
	size_t n_ids;
};

/* What an alert's text says, for the lines; fields it lacks (or text that
 * does not parse: the spool keeps it byte for byte) are empty. */
struct spoolcmd_desc {
	char rule[SPOOLCMD_MAX_FIELD];
	char event_id[SPOOLCMD_MAX_FIELD];
	char event_name[SPOOLCMD_MAX_FIELD];
	char severity[32];
};

static uint64_t
spoolcmd_now(void)
{
	return (uint64_t)time(NULL);
}

/* ---- durations, ids ------------------------------------------------------ */

int
spoolcmd_duration(const char *s, uint64_t *ret_s)
{
	uint64_t total = 0;
	uint64_t n;
	uint64_t mul;
	bool any = false;

	if (s == NULL || *s == '\0')
		return -EINVAL;
	while (*s != '\0') {
		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		n = 0;
		while (isdigit((unsigned char)*s)) {
			if (n > UINT32_MAX)
				return -EINVAL;
			n = n * 10 + (uint64_t)(*s++ - '0');
		}
		switch (*s) {
		case '\0':
			mul = any ? 0 : 1; /* a bare number: seconds */
			break;
		case 's':
			mul = 1;
			break;
		case 'm':
			mul = 60;
			break;
		case 'h':
			mul = 3600;
			break;
		case 'd':
			mul = 86400;
			break;
		case 'w':
			mul = 7 * 86400;
			break;
		default:
			return -EINVAL;
		}
		if (mul == 0)
			return -EINVAL;
		if (*s != '\0')
			s++;
		total += n * mul;
		if (total > SPOOLCMD_MAX_DURATION_S)
			return -EINVAL;
		any = true;
	}
	*ret_s = total;
	return 0;
}

static bool
spoolcmd_id_ok(const char *id)
{
	size_t i;

	for (i = 0; id[i] != '\0'; i++)
		if (!isxdigit((unsigned char)id[i]))
			return false;
	return i == SPOOL_ALERT_ID_SIZE - 1;
}

/* A valid id, lowercased as spool_alert_id() writes them. */
static void
spoolcmd_id_copy(char out[SPOOL_ALERT_ID_SIZE], const char *id)
{
	size_t i;

	for (i = 0; i + 1 < SPOOL_ALERT_ID_SIZE; i++)
		out[i] = (char)tolower((unsigned char)id[i]);
	out[SPOOL_ALERT_ID_SIZE - 1] = '\0';
}

/* ---- describing an alert ------------------------------------------------- */

static void
spoolcmd_field(struct json_object *o, const char *name, char *out, size_t size)
{
	struct json_object *v;
	const char *s;
	size_t i;

	out[0] = '\0';
	if (!json_object_object_get_ex(o, name, &v) ||
	    !json_object_is_type(v, json_type_string))
		return;
	s = json_object_get_string(v);
	/* One line, one cell: control characters become '?'. */
	for (i = 0; s[i] != '\0' && i + 1 < size; i++)
		out[i] =
		    (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	out[i] = '\0';
}

static int
spoolcmd_describe(const struct spool *sp, int64_t job, struct buf *scratch,
    struct spoolcmd_desc *ret)
{
	struct json_tokener *tok;
	struct json_object *o;
	int r;

	memset(ret, 0, sizeof(*ret));
	buf_reset(scratch);
	r = spool_alert_text(sp, job, scratch);
	if (r < 0)
		return r;
	tok = json_tokener_new_ex(SPOOLCMD_MAX_DEPTH);
	if (tok == NULL)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, scratch->data, (int)scratch->len);
	json_tokener_free(tok);
	if (o == NULL)
		return 0;
	spoolcmd_field(o, "rule", ret->rule, sizeof(ret->rule));
	spoolcmd_field(o, "eventID", ret->event_id, sizeof(ret->event_id));
	spoolcmd_field(o, "eventName", ret->event_name,
	    sizeof(ret->event_name));
	spoolcmd_field(o, "severity", ret->severity, sizeof(ret->severity));
	json_object_put(o);
	return 0;
}

static void
spoolcmd_age(uint64_t s, char *out, size_t size)
{
	if (s < 120)
		(void)snprintf(out, size, "%llus", (unsigned long long)s);
	else if (s < 2 * 3600)
		(void)snprintf(out, size, "%llum",
		    (unsigned long long)(s / 60));
	else if (s < 2 * 86400)
		(void)snprintf(out, size, "%lluh",
		    (unsigned long long)(s / 3600));
	else
		(void)snprintf(out, size, "%llud",
		    (unsigned long long)(s / 86400));
}

static void
spoolcmd_time(uint64_t t, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)snprintf(out, size, "%llu", (unsigned long long)t);
}

/* ---- opening the state --------------------------------------------------- */

/* The state directory and its journal exist and can be read. */
static int
spoolcmd_state_ok(const char *dir, struct diag *reterr)
{
	char path[4096];
	int fd;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return diag_set(reterr, -errno, dir, 0, 0,
		    "cannot read the state directory: %s", strerror(errno));
	(void)close(fd);
	(void)snprintf(path, sizeof(path), "%s/spool.journal", dir);
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return diag_set(reterr, -ENOENT, dir, 0, 0,
		    "no spool here (smtrail run has not used this state "
		    "directory)");
	if (access(path, R_OK) < 0)
		return diag_set(reterr, -errno, path, 0, 0, "cannot read: %s",
		    strerror(errno));
	return 0;
}

static int
spoolcmd_open(const char *dir, bool read_only, struct spool **ret,
    struct diag *reterr)
{
	struct spool_opts so;
	int r;

	r = spoolcmd_state_ok(dir, reterr);
	if (r < 0)
		return r;
	memset(&so, 0, sizeof(so));
	so.read_only = read_only;
	return spool_open(dir, &so, ret, reterr);
}

/* ---- list ---------------------------------------------------------------- */

struct spoolcmd_list {
	const struct spoolcmd_opts *o;
	struct spool *sp;
	struct buf line;
	struct buf scratch;
	uint64_t now;
	size_t shown;
};

static bool
spoolcmd_listed(const struct spoolcmd_list *l, const struct spool_alert_info *a)
{
	enum spool_pair want;
	size_t i;

	if (l->o->filter == SPOOLCMD_ALL)
		return true;
	want = l->o->filter == SPOOLCMD_FAILED ? SPOOL_PAIR_FAILED
					       : SPOOL_PAIR_PENDING;
	for (i = 0; i < a->n_dests; i++)
		if (a->state[i] == want)
			return true;
	return false;
}

/* "null" or the string, JSON-escaped. */
static int
spoolcmd_json_opt(struct buf *b, const char *s)
{
	if (s == NULL || s[0] == '\0')
		return buf_puts(b, "null");
	return buf_json_str(b, s, strlen(s));
}

static int
spoolcmd_list_json(struct spoolcmd_list *l, const struct spool_alert_info *a,
    const struct spoolcmd_desc *d, const char *created)
{
	struct buf *b = &l->line;
	size_t i;
	int r;

	r = buf_printf(b, "{\"id\":\"%s\",\"job\":%" PRId64 ",\"rule\":", a->id,
	    a->job);
	r = r < 0 ? r : spoolcmd_json_opt(b, d->rule);
	r = r < 0 ? r : buf_puts(b, ",\"eventID\":");
	r = r < 0 ? r : spoolcmd_json_opt(b, d->event_id);
	r = r < 0 ? r : buf_puts(b, ",\"eventName\":");
	r = r < 0 ? r : spoolcmd_json_opt(b, d->event_name);
	r = r < 0 ? r : buf_puts(b, ",\"severity\":");
	r = r < 0 ? r : spoolcmd_json_opt(b, d->severity);
	r = r < 0 ? r
		  : buf_printf(b,
			",\"created\":\"%s\",\"created_unix\":%" PRIu64
			",\"age_s\":%" PRIu64 ",\"destinations\":[",
			created, a->t, l->now > a->t ? l->now - a->t : 0);
	for (i = 0; r == 0 && i < a->n_dests; i++) {
		r = buf_puts(b, i == 0 ? "{\"name\":" : ",{\"name\":");
		r = r < 0 ? r : buf_json_str(b, a->dest[i], strlen(a->dest[i]));
		r = r < 0 ? r
			  : buf_printf(b, ",\"state\":\"%s\",\"error\":",
				spool_pair_str(a->state[i]));
		r = r < 0 ? r : spoolcmd_json_opt(b, a->error[i]);
		r = r < 0 ? r : buf_putc(b, '}');
	}
	return r < 0 ? r : buf_puts(b, "]}");
}

static int
spoolcmd_list_text(struct spoolcmd_list *l, const struct spool_alert_info *a,
    const struct spoolcmd_desc *d, const char *created)
{
	struct buf *b = &l->line;
	char age[32];
	size_t i;
	int r;

	spoolcmd_age(l->now > a->t ? l->now - a->t : 0, age, sizeof(age));
	r = buf_printf(b, "%s  %-24s %-38s %s %5s  ", a->id,
	    d->rule[0] ? d->rule : "-", d->event_id[0] ? d->event_id : "-",
	    created, age);
	for (i = 0; r == 0 && i < a->n_dests; i++) {
		r = buf_printf(b, "%s%s=%s", i == 0 ? "" : ", ", a->dest[i],
		    spool_pair_str(a->state[i]));
		if (r == 0 && a->error[i] != NULL)
			r = buf_printf(b, " (%s)", a->error[i]);
	}
	return r;
}

static int
spoolcmd_list_cb(const struct spool_alert_info *a, void *arg)
{
	struct spoolcmd_list *l = arg;
	struct spoolcmd_desc d;
	char created[32];
	int r;

	if (!spoolcmd_listed(l, a))
		return 0;
	r = spoolcmd_describe(l->sp, a->job, &l->scratch, &d);
	if (r < 0)
		return r;
	spoolcmd_time(a->t, created, sizeof(created));
	buf_reset(&l->line);
	if (l->o->json)
		r = spoolcmd_list_json(l, a, &d, created);
	else
		r = spoolcmd_list_text(l, a, &d, created);
	if (r < 0)
		return r;
	if (l->shown++ == 0 && !l->o->json)
		l->o->out(
		    "ID                                RULE                     "
		    "EVENT ID                               CREATED              "
		    "  AGE  DESTINATIONS",
		    l->o->arg);
	l->o->out(l->line.data, l->o->arg);
	return 0;
}

int
spoolcmd_list(const struct spoolcmd_opts *o, struct diag *reterr)
{
	struct spoolcmd_list l;
	int r;

	memset(&l, 0, sizeof(l));
	l.o = o;
	l.now = spoolcmd_now();
	r = spoolcmd_open(o->state_dir, true, &l.sp, reterr);
	if (r < 0)
		return r;
	buf_init(&l.line, SPOOL_MAX_LINE);
	buf_init(&l.scratch, SPOOL_MAX_LINE);
	r = spool_foreach_alert(l.sp, spoolcmd_list_cb, &l);
	if (r < 0)
		r = diag_set(reterr, r, o->state_dir, 0, 0,
		    "cannot read the spool: %s", strerror(-r));
	else if (l.shown == 0 && !o->json)
		o->out(o->filter == SPOOLCMD_FAILED     ? "no failed alerts"
			: o->filter == SPOOLCMD_PENDING ? "no pending alerts"
							: "the spool is empty",
		    o->arg);
	buf_done(&l.line);
	buf_done(&l.scratch);
	spool_free(l.sp);
	return r;
}

/* ---- applying a request -------------------------------------------------- */

struct spoolcmd_apply {
	struct spool *sp;
	const struct spoolcmd_req *rq;
	struct buf *ans; /* "o ..." and "e ..." lines */
	struct buf scratch;
	int64_t *jobs;
	size_t n_jobs;
	size_t cap_jobs;
	uint64_t now;
	spoolcmd_requeued_cb *cb;
	void *arg;
};

static bool
spoolcmd_old_enough(const struct spoolcmd_apply *ap, uint64_t t)
{
	const struct spoolcmd_req *rq = ap->rq;

	return !rq->older_than_given ||
	    (ap->now >= t && ap->now - t >= rq->older_than_s);
}

static int
spoolcmd_collect_cb(const struct spool_alert_info *a, void *arg)
{
	struct spoolcmd_apply *ap = arg;
	int64_t *p;
	size_t cap;
	size_t i;

	for (i = 0; i < a->n_dests; i++)
		if (a->state[i] == SPOOL_PAIR_FAILED)
			break;
	if (i == a->n_dests || !spoolcmd_old_enough(ap, a->t))
		return 0;
	if (ap->n_jobs == ap->cap_jobs) {
		cap = ap->cap_jobs != 0 ? ap->cap_jobs * 2 : 64;
		p = realloc(ap->jobs, cap * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		ap->jobs = p;
		ap->cap_jobs = cap;
	}
	ap->jobs[ap->n_jobs++] = a->job;
	return 0;
}

/* Orders indexes into the request's ids by id (qsort_r). */
static int
spoolcmd_cmp_idx(const void *a, const void *b, void *arg)
{
	const struct spoolcmd_req *rq = arg;

	return strcmp(rq->ids[*(const size_t *)a], rq->ids[*(const size_t *)b]);
}

struct spoolcmd_resolve {
	struct spoolcmd_apply *ap;
	size_t *sorted; /* indexes into ids, by id */
};

/* One kept alert: the requested ids that name it get its job. */
static int
spoolcmd_resolve_cb(const struct spool_alert_info *a, void *arg)
{
	struct spoolcmd_resolve *rs = arg;
	const struct spoolcmd_req *rq = rs->ap->rq;
	size_t lo = 0;
	size_t hi = rq->n_ids;
	size_t mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (strcmp(rq->ids[rs->sorted[mid]], a->id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < rq->n_ids && strcmp(rq->ids[rs->sorted[lo]], a->id) == 0;
	     lo++)
		rs->ap->jobs[rs->sorted[lo]] = a->job;
	return 0;
}

/*
 * The named alerts, in the order named, into ap->jobs; false if one is
 * unknown (said in the answer). One pass over the spool, one digest per
 * alert kept: the daemon's loop waits for it.
 */
static int
spoolcmd_resolve(struct spoolcmd_apply *ap, bool *ret_all_known)
{
	const struct spoolcmd_req *rq = ap->rq;
	struct spoolcmd_resolve rs;
	bool known = true;
	size_t i;
	int r;

	ap->jobs = calloc(rq->n_ids, sizeof(*ap->jobs));
	rs.ap = ap;
	rs.sorted = calloc(rq->n_ids, sizeof(*rs.sorted));
	if (ap->jobs == NULL || rs.sorted == NULL) {
		free(rs.sorted);
		return -ENOMEM;
	}
	for (i = 0; i < rq->n_ids; i++)
		rs.sorted[i] = i;
	qsort_r(rs.sorted, rq->n_ids, sizeof(*rs.sorted), spoolcmd_cmp_idx,
	    (void *)rq);
	r = spool_foreach_alert(ap->sp, spoolcmd_resolve_cb, &rs);
	free(rs.sorted);
	if (r < 0)
		return r;
	ap->n_jobs = rq->n_ids;
	for (i = 0; i < rq->n_ids; i++) {
		if (ap->jobs[i] != 0)
			continue;
		known = false;
		r = buf_printf(ap->ans,
		    "e %s: no such alert in the spool (see smtrail spool "
		    "list)\n",
		    rq->ids[i]);
		if (r < 0)
			return r;
	}
	*ret_all_known = known;
	return 0;
}

/* Retries or purges the failed destinations of one alert; how many. */
static int
spoolcmd_apply_job(struct spoolcmd_apply *ap, int64_t job, bool named,
    bool *ret_partly)
{
	char dest[SPOOL_MAX_DESTS][SPOOL_MAX_DEST + 1];
	const struct spoolcmd_req *rq = ap->rq;
	struct spool_alert_info a;
	struct spoolcmd_desc d;
	struct buf names;
	size_t done = 0;
	size_t i;
	int r;

	r = spool_alert_get(ap->sp, job, &a);
	if (r < 0)
		return r;
	r = spoolcmd_describe(ap->sp, job, &ap->scratch, &d);
	if (r < 0)
		return r;
	if (named && !spoolcmd_old_enough(ap, a.t)) {
		*ret_partly = true;
		return buf_printf(ap->ans,
		    "e %s %s %s: newer than --older-than, kept\n", a.id, d.rule,
		    d.event_id);
	}
	/* Copied: purging the last failed one frees the job's names. */
	for (i = 0; i < a.n_dests; i++) {
		(void)snprintf(dest[i], sizeof(dest[i]), "%s", a.dest[i]);
		a.dest[i] = dest[i];
		a.error[i] = NULL;
	}
	buf_init(&names, SPOOL_MAX_DESTS * (SPOOL_MAX_DEST + 2) + 1);
	for (i = 0; i < a.n_dests; i++) {
		if (a.state[i] != SPOOL_PAIR_FAILED)
			continue;
		r = rq->purge ? spool_purge(ap->sp, job, a.dest[i])
			      : spool_retry(ap->sp, job, a.dest[i]);
		if (r < 0)
			break;
		if (!rq->purge && ap->cb != NULL)
			ap->cb(job, a.dest[i], ap->arg);
		r = buf_printf(&names, "%s%s", done == 0 ? "" : ", ",
		    a.dest[i]);
		if (r < 0)
			break;
		done++;
	}
	if (r >= 0 && done > 0)
		r = buf_printf(ap->ans, "o %s %s %s: %s %s\n", a.id, d.rule,
		    d.event_id, rq->purge ? "purged for" : "re-queued for",
		    names.data);
	else if (r >= 0) {
		*ret_partly = true;
		buf_reset(&names);
		for (i = 0; r >= 0 && i < a.n_dests; i++)
			r = buf_printf(&names, "%s%s %s", i == 0 ? "" : ", ",
			    a.dest[i], spool_pair_str(a.state[i]));
		r = r < 0
		    ? r
		    : buf_printf(ap->ans, "e %s %s %s: nothing failed (%s)\n",
			  a.id, d.rule, d.event_id, names.data);
	}
	buf_done(&names);
	return r < 0 ? r : (int)done;
}

/*
 * Applies rq to sp (open, locked); the answer's lines into ans. Returns
 * the status (0, 1 partly, 2 unknown ids) or the spool's error.
 */
static int
spoolcmd_apply(struct spool *sp, const struct spoolcmd_req *rq, bool by_daemon,
    spoolcmd_requeued_cb *cb, void *arg, struct buf *ans)
{
	struct spoolcmd_apply ap;
	bool partly = false;
	bool known = true;
	size_t total = 0;
	size_t i;
	int r;

	memset(&ap, 0, sizeof(ap));
	ap.sp = sp;
	ap.rq = rq;
	ap.ans = ans;
	ap.now = spoolcmd_now();
	ap.cb = cb;
	ap.arg = arg;
	buf_init(&ap.scratch, SPOOL_MAX_LINE);
	if (rq->n_ids > 0)
		r = spoolcmd_resolve(&ap, &known);
	else
		r = spool_foreach_alert(sp, spoolcmd_collect_cb, &ap);
	if (r < 0 || !known)
		goto out;
	for (i = 0; i < ap.n_jobs; i++) {
		r = spoolcmd_apply_job(&ap, ap.jobs[i], rq->n_ids > 0, &partly);
		if (r < 0)
			break;
		total += (size_t)r;
	}
	if (r >= 0)
		r = spool_sync(sp);
	if (r < 0)
		goto out;
	if (total == 0 && rq->n_ids == 0 && !rq->purge) {
		partly = true;
		r = buf_puts(ans, "e nothing failed in the spool\n");
	} else if (total == 0 && rq->n_ids == 0) {
		r = buf_puts(ans, "o nothing to purge\n");
	} else if (total > 0 && !rq->purge) {
		r = buf_printf(ans, "o %zu delivery(ies) re-queued: %s\n",
		    total,
		    by_daemon ? "the running daemon sends them now"
			      : "smtrail run sends them when it starts");
	} else if (total > 0) {
		r = buf_printf(ans, "o %zu failed delivery(ies) purged\n",
		    total);
	}
out:
	buf_done(&ap.scratch);
	free(ap.jobs);
	if (r < 0)
		return r;
	return !known ? 2 : partly ? SPOOLCMD_PARTLY : 0;
}

/* Prints an answer's lines; its status as spoolcmd_retry() returns it. */
static int
spoolcmd_say(const struct spoolcmd_opts *o, const char *ans, int status,
    struct diag *reterr)
{
	const char *p = ans;
	const char *nl;
	char line[1024];

	while (*p != '\0') {
		nl = strchr(p, '\n');
		if (nl == NULL)
			nl = p + strlen(p);
		(void)snprintf(line, sizeof(line), "%.*s", (int)(nl - p), p);
		if (line[0] == 'o' && line[1] == ' ')
			o->out(line + 2, o->arg);
		else if (line[0] == 'e' && line[1] == ' ')
			o->err(line + 2, o->arg);
		p = *nl != '\0' ? nl + 1 : nl;
	}
	if (status == 2)
		return diag_set(reterr, -EINVAL, o->state_dir, 0, 0,
		    "unknown alert id(s): nothing done");
	return status;
}

/* ---- files ----------------------------------------------------------------
 */

/* Reads dirfd/name whole (at most SPOOLCMD_MAX_FILE) into out. */
static int
spoolcmd_read(int dirfd, const char *name, struct buf *out)
{
	char chunk[4096];
	ssize_t n;
	int fd;
	int r = 0;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	buf_reset(out);
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = -errno;
		if (n <= 0)
			break;
		r = buf_append(out, chunk, (size_t)n);
		if (r < 0)
			break;
	}
	(void)close(fd);
	return r;
}

/*
 * Writes data as dirfd/name: into ".name.tmp", synced, then renamed, so
 * a reader never sees it half-written. Run as root into the daemon's
 * directory (owned by its user, maybe a DynamicUser), the file is given
 * to the directory's owner, who must read it.
 */
static int
spoolcmd_write(int dirfd, const char *name, const char *data, size_t len)
{
	char tmp[300];
	struct stat st;
	ssize_t n;
	int fd;
	int r = 0;

	(void)snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	fd = openat(dirfd, tmp,
	    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (geteuid() == 0 && fstat(dirfd, &st) == 0 && st.st_uid != 0 &&
	    fchown(fd, st.st_uid, st.st_gid) < 0)
		r = -errno;
	while (r == 0 && len > 0) {
		n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			break;
		}
		data += n;
		len -= (size_t)n;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	(void)close(fd);
	if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	if (r < 0)
		(void)unlinkat(dirfd, tmp, 0);
	return r;
}

static int
spoolcmd_req_json(const struct spoolcmd_req *rq, struct buf *out)
{
	size_t i;
	int r;

	r = buf_printf(out, "{\"op\":\"%s\",\"all_failed\":%s,\"ids\":[",
	    rq->purge ? "purge" : "retry", rq->all_failed ? "true" : "false");
	for (i = 0; r == 0 && i < rq->n_ids; i++)
		r = buf_printf(out, "%s\"%s\"", i == 0 ? "" : ",", rq->ids[i]);
	r = r < 0 ? r : buf_putc(out, ']');
	if (r == 0 && rq->older_than_given)
		r = buf_printf(out, ",\"older_than_s\":%" PRIu64,
		    rq->older_than_s);
	return r < 0 ? r : buf_puts(out, "}\n");
}

/* Parses a request; -EBADMSG if it is not one. ids: SPOOLCMD_MAX_IDS. */
static int
spoolcmd_req_parse(const struct buf *in, struct spoolcmd_req *rq)
{
	struct json_object *o;
	struct json_object *v;
	const char *op;
	size_t i;
	size_t n;
	int r = -EBADMSG;

	o = json_tokener_parse(in->data);
	if (o == NULL || !json_object_is_type(o, json_type_object))
		goto out;
	if (!json_object_object_get_ex(o, "op", &v) ||
	    !json_object_is_type(v, json_type_string))
		goto out;
	op = json_object_get_string(v);
	if (strcmp(op, "purge") != 0 && strcmp(op, "retry") != 0)
		goto out;
	rq->purge = strcmp(op, "purge") == 0;
	if (json_object_object_get_ex(o, "all_failed", &v))
		rq->all_failed = json_object_get_boolean(v);
	if (json_object_object_get_ex(o, "older_than_s", &v)) {
		if (!json_object_is_type(v, json_type_int) ||
		    json_object_get_int64(v) < 0)
			goto out;
		rq->older_than_given = true;
		rq->older_than_s = (uint64_t)json_object_get_int64(v);
	}
	if (!json_object_object_get_ex(o, "ids", &v) ||
	    !json_object_is_type(v, json_type_array))
		goto out;
	n = json_object_array_length(v);
	if (n > SPOOLCMD_MAX_IDS)
		goto out;
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);

		if (!json_object_is_type(e, json_type_string) ||
		    !spoolcmd_id_ok(json_object_get_string(e)))
			goto out;
		spoolcmd_id_copy(rq->ids[i], json_object_get_string(e));
	}
	rq->n_ids = n;
	/* Nothing named is nothing to do, never "everything". */
	if (n == 0 && !(rq->purge ? rq->older_than_given : rq->all_failed))
		goto out;
	r = 0;
out:
	json_object_put(o);
	return r;
}

/* ---- the command ----------------------------------------------------------
 */

static void
spoolcmd_sleep_ms(unsigned ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Hands rq to the daemon holding the spool and prints its answer. */
static int
spoolcmd_ask(const struct spoolcmd_opts *o, const struct spoolcmd_req *rq,
    struct diag *reterr)
{
	unsigned wait_ms = o->wait_ms != 0 ? o->wait_ms : SPOOLCMD_WAIT_MS;
	char name[128];
	char done[160];
	char path[4096];
	struct timespec ts;
	struct buf b;
	unsigned waited;
	int dirfd;
	int status;
	int r;

	(void)snprintf(path, sizeof(path), "%s/%s", o->state_dir, SPOOLCMD_DIR);
	dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return diag_set(reterr, -errno, path, 0, 0,
		    "the spool is held by a running smtrail, which takes no "
		    "requests here (%s); restart it with this version",
		    strerror(errno));
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	(void)snprintf(name, sizeof(name), "%lld.%09ld-%ld.req",
	    (long long)ts.tv_sec, ts.tv_nsec, (long)getpid());
	(void)snprintf(done, sizeof(done), "%.*s.done", (int)(strlen(name) - 4),
	    name);
	buf_init(&b, SPOOLCMD_MAX_FILE);
	r = spoolcmd_req_json(rq, &b);
	if (r == 0)
		r = spoolcmd_write(dirfd, name, b.data, b.len);
	if (r < 0) {
		r = diag_set(reterr, r, path, 0, 0,
		    "cannot write a request for the running daemon: %s",
		    strerror(-r));
		goto out;
	}
	for (waited = 0;; waited += 100) {
		r = spoolcmd_read(dirfd, done, &b);
		if (r != -ENOENT || waited >= wait_ms)
			break;
		spoolcmd_sleep_ms(100);
	}
	if (r == -ENOENT) {
		/* Still ours if the daemon has not renamed it. */
		if (unlinkat(dirfd, name, 0) == 0)
			r = diag_set(reterr, -ETIMEDOUT, path, 0, 0,
			    "the running daemon did not take the request "
			    "within %u s; withdrawn, nothing done",
			    wait_ms / 1000);
		else
			r = diag_set(reterr, -ETIMEDOUT, path, 0, 0,
			    "the running daemon took the request but did not "
			    "answer within %u s; see its log",
			    wait_ms / 1000);
		goto out;
	}
	if (r < 0) {
		r = diag_set(reterr, r, path, 0, 0,
		    "cannot read the daemon's answer: %s", strerror(-r));
		goto out;
	}
	(void)unlinkat(dirfd, done, 0);
	status = -1;
	{
		const char *s = strstr(b.data, "status ");

		if (s != NULL && (s == b.data || s[-1] == '\n'))
			status = (int)strtol(s + 7, NULL, 10);
	}
	if (status < 0 || status > 2) {
		r = diag_set(reterr, -EBADMSG, path, 0, 0,
		    "the daemon's answer is malformed");
		goto out;
	}
	r = spoolcmd_say(o, b.data, status, reterr);
out:
	buf_done(&b);
	(void)close(dirfd);
	return r;
}

/* retry and purge: the lock if free, else the daemon. */
static int
spoolcmd_act(const struct spoolcmd_opts *o, struct spoolcmd_req *rq,
    struct diag *reterr)
{
	char ids[SPOOLCMD_MAX_IDS][SPOOL_ALERT_ID_SIZE];
	struct spool *sp = NULL;
	struct buf ans;
	size_t i;
	int r;

	if (o->n_ids > SPOOLCMD_MAX_IDS)
		return diag_set(reterr, -EINVAL, o->state_dir, 0, 0,
		    "at most %d alert ids at once", SPOOLCMD_MAX_IDS);
	for (i = 0; i < o->n_ids; i++) {
		if (!spoolcmd_id_ok(o->ids[i]))
			return diag_set(reterr, -EINVAL, o->state_dir, 0, 0,
			    "'%.64s' is not an alert id (32 hex digits, as "
			    "smtrail spool list shows)",
			    o->ids[i]);
		spoolcmd_id_copy(ids[i], o->ids[i]);
	}
	rq->ids = ids;
	rq->n_ids = o->n_ids;
	r = spoolcmd_open(o->state_dir, false, &sp, reterr);
	if (r == -EBUSY)
		return spoolcmd_ask(o, rq, reterr);
	if (r < 0)
		return r;
	buf_init(&ans, SPOOL_MAX_LINE);
	r = spoolcmd_apply(sp, rq, false, NULL, NULL, &ans);
	if (r < 0)
		r = diag_set(reterr, r, o->state_dir, 0, 0,
		    "cannot write the spool: %s", strerror(-r));
	else
		r = spoolcmd_say(o, ans.data != NULL ? ans.data : "", r,
		    reterr);
	buf_done(&ans);
	spool_free(sp);
	return r;
}

int
spoolcmd_retry(const struct spoolcmd_opts *o, struct diag *reterr)
{
	struct spoolcmd_req rq;

	memset(&rq, 0, sizeof(rq));
	rq.all_failed = o->all_failed;
	if ((o->n_ids == 0) == !o->all_failed)
		return diag_set(reterr, -EINVAL, o->state_dir, 0, 0,
		    "retry: give alert ids or --all-failed (not both)");
	return spoolcmd_act(o, &rq, reterr);
}

int
spoolcmd_purge(const struct spoolcmd_opts *o, struct diag *reterr)
{
	struct spoolcmd_req rq;

	memset(&rq, 0, sizeof(rq));
	rq.purge = true;
	rq.older_than_given = o->older_than_given;
	rq.older_than_s = o->older_than_s;
	if (o->n_ids == 0 && !o->older_than_given)
		return diag_set(reterr, -EINVAL, o->state_dir, 0, 0,
		    "purge: give alert ids, --older-than D, or both");
	return spoolcmd_act(o, &rq, reterr);
}

/* ---- the daemon -----------------------------------------------------------
 */

int
spoolcmd_init(const char *state_dir)
{
	char path[4096];

	(void)snprintf(path, sizeof(path), "%s/%s", state_dir, SPOOLCMD_DIR);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Answers leaving no one to read them: the command gave up or died. */
static void
spoolcmd_sweep(int dirfd, const char *name)
{
	struct stat st;
	size_t len = strlen(name);

	if (len < 5 || strcmp(name + len - 5, ".done") != 0)
		return;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    (uint64_t)st.st_mtime + SPOOLCMD_STALE_S < spoolcmd_now())
		(void)unlinkat(dirfd, name, 0);
}

/* One request: claimed (renamed to .work), applied, answered. */
static int
spoolcmd_take_one(int dirfd, const char *name, struct spool *sp,
    spoolcmd_requeued_cb *cb, void *arg)
{
	char ids[SPOOLCMD_MAX_IDS][SPOOL_ALERT_ID_SIZE];
	char work[300];
	char done[300];
	size_t base = strlen(name) - 4;
	struct spoolcmd_req rq;
	struct buf in;
	struct buf ans;
	int status;
	int r;

	(void)snprintf(work, sizeof(work), "%.*s.work", (int)base, name);
	(void)snprintf(done, sizeof(done), "%.*s.done", (int)base, name);
	if (renameat(dirfd, name, dirfd, work) < 0)
		return 0; /* withdrawn meanwhile */
	buf_init(&in, SPOOLCMD_MAX_FILE);
	buf_init(&ans, SPOOL_MAX_LINE);
	memset(&rq, 0, sizeof(rq));
	rq.ids = ids;
	r = spoolcmd_read(dirfd, work, &in);
	if (r == 0 && in.data == NULL)
		r = -EBADMSG;
	if (r == 0)
		r = spoolcmd_req_parse(&in, &rq);
	if (r < 0) {
		log_warn("spool: request %s: %s, refused", name,
		    r == -EBADMSG ? "malformed" : strerror(-r));
		status = 2;
		r = buf_puts(&ans,
		    "e the daemon refused a malformed request\n");
	} else {
		status = spoolcmd_apply(sp, &rq, true, cb, arg, &ans);
		r = 0;
		if (status >= 0)
			log_notice("spool: request %s: %s%s, status %d", name,
			    rq.purge ? "purge" : "retry",
			    rq.all_failed ? " --all-failed" : "", status);
		else
			r = buf_printf(&ans,
			    "e the running daemon cannot write the spool (%s); "
			    "see its log\n",
			    strerror(-status));
	}
	if (r == 0)
		r = buf_printf(&ans, "status %d\n", status < 0 ? 1 : status);
	if (r == 0)
		r = spoolcmd_write(dirfd, done, ans.data, ans.len);
	if (r < 0)
		log_warn_errno(r, "spool: cannot answer request %s", name);
	(void)unlinkat(dirfd, work, 0);
	buf_done(&in);
	buf_done(&ans);
	/* A spool error is the daemon's to handle; the rest is said. */
	return status < 0 ? status : 0;
}

int
spoolcmd_take(const char *state_dir, struct spool *sp, spoolcmd_requeued_cb *cb,
    void *arg)
{
	char path[4096];
	struct dirent *de;
	size_t len;
	DIR *d;
	int dfd;
	int n = 0;
	int r = 0;

	(void)snprintf(path, sizeof(path), "%s/%s", state_dir, SPOOLCMD_DIR);
	d = opendir(path);
	if (d == NULL)
		return errno == ENOENT ? 0 : -errno;
	dfd = dirfd(d);
	while (r >= 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		len = strlen(de->d_name);
		if (len < 5 || len > 200 ||
		    strcmp(de->d_name + len - 4, ".req") != 0) {
			spoolcmd_sweep(dfd, de->d_name);
			continue;
		}
		r = spoolcmd_take_one(dfd, de->d_name, sp, cb, arg);
		n++;
	}
	(void)closedir(d);
	return r < 0 ? r : n;
}
