/*
 * spool.c: see spool.h.
 *
 * The journal, <dir>/spool.journal, is JSON lines: one object per line,
 * each appended with one write(2) (continued only after a short write), so
 * a crash leaves at most one torn line, the last. A torn line was never
 * synced, so its alert's SQS message was never deleted: cutting it off at
 * open loses nothing that was acknowledged. The lines, in any mix:
 *
 * {"op":"alert","job":N,"key":K,"t":T,"dests":["slack",...],"alert":{...}}
 *	Job N (greater than every id before it) for the alert with identity
 *	K, first seen at T (Unix seconds). K is "<rule id>\t<eventID>", or
 *	"<rule id>\tsha256:<64 hex>": of the record's JSON text when it has
 *	no eventID, of the eventID when that is over SPOOL_MAX_EVENT_ID
 *	bytes. "alert" is alert_json() with "record" (without, should that
 *	be over alert_json's ceiling), byte for byte the text sinks get, and
 *	always the last field: replay takes it as text.
 * {"op":"done","job":N,"dest":"slack","ok":true}
 *	The outcome for one destination of job N; false: failed, given up,
 *	then optionally with "error":"HTTP 404" (the sink's last answer,
 *	at most SPOOL_MAX_ERROR bytes: what `smtrail spool list` shows) and
 *	"def":"<16 hex>" (a fingerprint of the destination's definition when
 *	it failed: a start with another definition retries it).
 * {"op":"retry","job":N,"dest":"slack"}
 *	A failed (job, destination) is pending again (`smtrail spool retry`,
 *	or a reload that changed the destination): delivered anew, with the
 *	same delivery id; its next "done" line is its new outcome.
 * {"op":"purge","job":N,"dest":"slack"}
 *	A failed (job, destination) is dropped (`smtrail spool purge`): no
 *	longer failed, never sent; the job goes once nothing of it is failed
 *	or pending. Its identity stays in the dedup set.
 * {"op":"seen","key":K,"t":T}
 *	An identity whose alert is gone (written by compaction).
 * {"op":"next","job":N}
 *	Ids below N were used (first line after compaction: ids are never
 *	reused, so logs stay unambiguous).
 *
 * Unknown fields are ignored; an unknown op, a missing or mistyped field,
 * an id out of order, and a "done" for an unknown job or destination, or
 * twice, a "retry" or "purge" for a destination that is not failed, are
 * -EBADMSG. Opening, locking, appending, syncing, cutting a
 * torn line and the compaction's rename dance are journal.c's.
 *
 * Memory: the dedup set is an ht.h table; it drops expired keys whenever
 * it is rebuilt (growth, open, compaction). Jobs are an array sorted by id
 * (ids only grow); a finished job is freed at once and its slot swept
 * later, so spool_mark() from inside spool_foreach_pending() is safe. A
 * pending alert's JSON stays in memory (spool_alert_json() hands it out),
 * so memory is about max_pending times the size of an alert; a failed one
 * keeps its destinations and offset; a retry reads its alert back from
 * the journal (pread at that offset).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "alert.h"
#include "buf.h"
#include "clock.h"
#include "diag.h"
#include "ht.h"
#include "journal.h"
#include "spool.h"

#define SPOOL_JOURNAL "spool.journal"
#define SPOOL_DEFAULT_RETENTION_S (7 * 24 * 3600)
#define SPOOL_DEFAULT_MAX_PENDING 100000
/* Compaction: not below this size, and only when at most half is live;
 * its cost is then at most one write of every appended byte. */
#define SPOOL_COMPACT_MIN (1u << 20)
/* Records nest up to 512 deep (trail.c); a line adds two levels. */
#define SPOOL_MAX_DEPTH 520
/* Everything before "alert": op, job, key, t and the destinations. */
#define SPOOL_MAX_HEADER (SPOOL_MAX_DESTS * (SPOOL_MAX_DEST * 6 + 3) + 4096)
/* "<rule id>\t<eventID>" and its NUL. */
#define SPOOL_KEY_SIZE (SPOOL_MAX_RULE_ID + 1 + SPOOL_MAX_EVENT_ID + 1)
/* The dedup set's smallest table. */
#define SPOOL_KEYS_MIN 16
/* About the size of a "seen" line, beyond its key. */
#define SPOOL_SEEN_BYTES 40

struct spool_key {
	struct ht_entry e; /* first: the key is text */
	uint64_t t;        /* first seen, Unix seconds */
	char text[];
};

struct spool_job {
	int64_t id;
	char *key;       /* its identity, while pending or failed */
	uint64_t off;    /* of its "alert" line */
	size_t line_len; /* '\n' included */
	uint64_t bytes;  /* its lines in the journal */
	char **dests;
	uint8_t *state; /* enum spool_pair, per destination */
	char **errors;  /* a failed one's error, if recorded; else NULL */
	uint64_t *defs; /* a failed one's destination fingerprint; else 0 */
	uint64_t t;     /* spooled, Unix seconds */
	size_t n_dests;
	size_t n_pending;
	char *json; /* the alert, while a destination is pending */
	size_t json_len;
	bool dead;          /* all delivered; its slot goes at the next sweep */
	uint64_t new_off;   /* compaction scratch */
	uint64_t new_bytes; /* compaction scratch */
};

/* An outcome recorded in memory whose line could not be written yet. */
struct spool_held {
	int64_t job;
	char *dest;
	char *error; /* NULL: none */
	uint64_t def;
	bool ok;
};

struct spool {
	struct journal j;
	uint64_t retention_s;
	size_t max_pending;
	uint64_t (*clock_s)(void *arg);
	void *clock_arg;
	uint64_t seed;

	struct ht keys; /* of struct spool_key */

	struct spool_job **jobs; /* sorted by id */
	size_t n_jobs;
	size_t jobs_cap;
	size_t n_dead;
	size_t n_pending; /* jobs with a destination pending */
	int64_t next_job;

	uint64_t live; /* about what compaction would keep of the journal */
	bool iterating;
	struct buf line;

	uint64_t delivered;
	uint64_t failed;
	uint64_t deduplicated;

	struct spool_held *held; /* written by the next spool_sync() */
	size_t n_held;
	size_t cap_held;
};

/* What a rebuild of the keys needs to tell an expired one. */
struct spool_keys_arg {
	struct spool *sp;
	uint64_t now;
};

/* What replaying needs besides the spool. */
struct spool_replay {
	struct spool *sp;
	struct json_tokener *tok;
	struct buf hdr;
	uint64_t now;
	int64_t last_job; /* ids of "alert" lines only grow */
	struct diag *reterr;
};

const char *
spool_pair_str(enum spool_pair p)
{
	switch (p) {
	case SPOOL_PAIR_PENDING:
		return "pending";
	case SPOOL_PAIR_DELIVERED:
		return "delivered";
	case SPOOL_PAIR_FAILED:
		return "failed";
	case SPOOL_PAIR_PURGED:
		return "purged";
	case SPOOL_PAIR_COUNT:
		break;
	}
	return "?";
}

const char *
spool_outcome_str(enum spool_outcome o)
{
	switch (o) {
	case SPOOL_DELIVERED:
		return "delivered";
	case SPOOL_FAILED:
		return "failed";
	case SPOOL_OUTCOME_COUNT:
		break;
	}
	return "?";
}

static uint64_t
spool_now(const struct spool *sp)
{
	return clock_wall_s(sp->clock_s, sp->clock_arg);
}

static uint64_t
spool_sub(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/* ---- I/O ------------------------------------------------------------ */

static int
spool_pread_all(int fd, char *p, size_t len, uint64_t off)
{
	ssize_t n;

	while (len > 0) {
		n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* the journal is shorter than we think */
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* ---- identities ------------------------------------------------------ */

/*
 * "<rule>\t<tail>", or "<rule>\tsha256:<hex of tail>" when hash is set.
 * Rule ids are [A-Za-z0-9._-] (rules.c); no control character, so the
 * tab cannot be part of one and the key is unambiguous.
 */
static int
spool_key_build(const char *rule, const char *tail, size_t tail_len, bool hash,
    char out[SPOOL_KEY_SIZE], size_t *ret_len)
{
	size_t rlen;
	int r;

	if (rule == NULL)
		return -EINVAL;
	rlen = strlen(rule);
	if (!ht_key_rule_ok(rule, rlen, SPOOL_MAX_RULE_ID))
		return -EINVAL;
	memcpy(out, rule, rlen);
	out[rlen] = '\t';
	if (!hash) {
		memcpy(out + rlen + 1, tail, tail_len);
		out[rlen + 1 + tail_len] = '\0';
		*ret_len = rlen + 1 + tail_len;
		return 0;
	}
	r = ht_digest(tail, tail_len, out + rlen + 1);
	if (r < 0)
		return r;
	*ret_len = rlen + 1 + HT_DIGEST_LEN;
	return 0;
}

static int
spool_key_event(const char *rule, const char *event_id,
    char out[SPOOL_KEY_SIZE], size_t *ret_len)
{
	size_t len = strlen(event_id);

	return spool_key_build(rule, event_id, len, len > SPOOL_MAX_EVENT_ID,
	    out, ret_len);
}

static int
spool_key_alert(const struct alert *a, char out[SPOOL_KEY_SIZE],
    size_t *ret_len)
{
	const char *text;

	if (a->event_id != NULL && a->event_id[0] != '\0')
		return spool_key_event(a->rule_id, a->event_id, out, ret_len);
	if (a->record == NULL)
		return -EINVAL;
	text = json_object_to_json_string_ext(a->record,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (text == NULL)
		return -ENOMEM;
	return spool_key_build(a->rule_id, text, strlen(text), true, out,
	    ret_len);
}

/* ---- the dedup set --------------------------------------------------- */

static bool
spool_key_expired(const struct spool *sp, const struct spool_key *k,
    uint64_t now)
{
	/* A clock that went back keeps keys: better a missed duplicate
	 * check than a page sent twice. */
	return now > k->t && now - k->t >= sp->retention_s;
}

static struct spool_key *
spool_key_find(const struct spool *sp, const char *key, size_t len, uint64_t h)
{
	return (struct spool_key *)ht_find(&sp->keys, key, len, h);
}

static bool
spool_key_keep(struct ht_entry *e, void *arg)
{
	const struct spool_keys_arg *ka = arg;

	return !spool_key_expired(ka->sp, (struct spool_key *)e, ka->now);
}

static void
spool_key_drop(struct ht_entry *e, void *arg)
{
	struct spool_keys_arg *ka = arg;

	ka->sp->live = spool_sub(ka->sp->live, e->len + SPOOL_SEEN_BYTES);
	free(e);
}

/* Rebuilds the table with room for extra more keys, dropping the expired. */
static int
spool_keys_rebuild(struct spool *sp, size_t extra)
{
	struct spool_keys_arg ka = {sp, spool_now(sp)};

	return ht_rebuild(&sp->keys, extra, spool_key_keep, spool_key_drop,
	    &ka);
}

static int
spool_keys_reserve(struct spool *sp, size_t extra)
{
	struct spool_keys_arg ka = {sp, spool_now(sp)};

	return ht_reserve(&sp->keys, extra, spool_key_keep, spool_key_drop,
	    &ka);
}

/* A key not yet in the table; NULL: out of memory. */
static struct spool_key *
spool_key_new(const char *key, size_t len, uint64_t h)
{
	struct spool_key *k;

	k = malloc(sizeof(*k) + len + 1);
	if (k == NULL)
		return NULL;
	memcpy(k->text, key, len);
	k->text[len] = '\0';
	k->e.key = k->text;
	k->e.len = len;
	k->e.hash = h;
	k->t = 0;
	return k;
}

static void
spool_key_free(struct ht_entry *e, void *arg)
{
	(void)arg;
	free(e);
}

/* Adds k (taken), known to be absent; room was reserved. */
static void
spool_key_add(struct spool *sp, struct spool_key *k, uint64_t t)
{
	k->t = t;
	ht_add(&sp->keys, &k->e);
	sp->live += k->e.len + SPOOL_SEEN_BYTES;
}

/* Replay: a key read from the journal; the latest time wins. */
static int
spool_key_put(struct spool *sp, const char *key, size_t len, uint64_t t)
{
	uint64_t h = ht_hash(sp->seed, key, len);
	struct spool_key *k;
	int r;

	k = spool_key_find(sp, key, len, h);
	if (k != NULL) {
		if (t > k->t)
			k->t = t;
		return 0;
	}
	r = spool_keys_reserve(sp, 1);
	if (r < 0)
		return r;
	k = spool_key_new(key, len, h);
	if (k == NULL)
		return -ENOMEM;
	spool_key_add(sp, k, t);
	return 0;
}

/* ---- jobs ------------------------------------------------------------ */

static void
spool_job_strip(struct spool_job *job)
{
	size_t i;

	for (i = 0; i < job->n_dests; i++) {
		free(job->dests[i]);
		if (job->errors != NULL)
			free(job->errors[i]);
	}
	free(job->dests);
	free(job->errors);
	free(job->defs);
	job->errors = NULL;
	job->defs = NULL;
	free(job->state);
	free(job->json);
	free(job->key);
	job->key = NULL;
	job->dests = NULL;
	job->state = NULL;
	job->json = NULL;
	job->n_dests = 0;
	job->json_len = 0;
}

static void
spool_job_free(struct spool_job *job)
{
	if (job == NULL)
		return;
	spool_job_strip(job);
	free(job);
}

/* A job with its destinations (copied) pending. */
static struct spool_job *
spool_job_new(int64_t id, const char *const *dests, size_t n)
{
	struct spool_job *job;
	size_t i;

	job = calloc(1, sizeof(*job));
	if (job == NULL)
		return NULL;
	job->id = id;
	job->dests = calloc(n, sizeof(*job->dests));
	job->errors = calloc(n, sizeof(*job->errors));
	job->defs = calloc(n, sizeof(*job->defs));
	job->state = calloc(n, sizeof(*job->state));
	if (job->dests == NULL || job->errors == NULL || job->defs == NULL ||
	    job->state == NULL)
		goto fail;
	for (i = 0; i < n; i++) {
		job->dests[i] = strdup(dests[i]);
		if (job->dests[i] == NULL)
			goto fail;
		job->n_dests++;
	}
	job->n_pending = n;
	return job;
fail:
	/* n_dests counts the copies made, so strip frees just those. */
	spool_job_free(job);
	return NULL;
}

static struct spool_job *
spool_job_find(const struct spool *sp, int64_t id)
{
	size_t lo = 0;
	size_t hi = sp->n_jobs;
	size_t mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (sp->jobs[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < sp->n_jobs && sp->jobs[lo]->id == id && !sp->jobs[lo]->dead)
		return sp->jobs[lo];
	return NULL;
}

static int
spool_job_dest(const struct spool_job *job, const char *dest)
{
	size_t i;

	for (i = 0; i < job->n_dests; i++)
		if (strcmp(job->dests[i], dest) == 0)
			return (int)i;
	return -ENOENT;
}

static int
spool_jobs_reserve(struct spool *sp)
{
	struct spool_job **p;
	size_t cap;

	if (sp->n_jobs < sp->jobs_cap)
		return 0;
	cap = sp->jobs_cap != 0 ? sp->jobs_cap * 2 : 64;
	if (cap > SIZE_MAX / sizeof(*p))
		return -ENOMEM;
	p = realloc(sp->jobs, cap * sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	sp->jobs = p;
	sp->jobs_cap = cap;
	return 0;
}

/* Drops the slots of dead jobs; never while iterating. */
static void
spool_jobs_sweep(struct spool *sp)
{
	size_t i;
	size_t n = 0;

	if (sp->n_dead == 0 || sp->iterating)
		return;
	for (i = 0; i < sp->n_jobs; i++) {
		if (sp->jobs[i]->dead)
			spool_job_free(sp->jobs[i]);
		else
			sp->jobs[n++] = sp->jobs[i];
	}
	sp->n_jobs = n;
	sp->n_dead = 0;
}

/* Nothing of job pending: it goes unless something of it failed. */
static void
spool_job_end(struct spool *sp, struct spool_job *job)
{
	size_t k;

	for (k = 0; k < job->n_dests; k++)
		if (job->state[k] == SPOOL_PAIR_FAILED)
			return; /* kept, in memory and in the journal */
	sp->live = spool_sub(sp->live, job->bytes);
	spool_job_strip(job);
	job->dead = true;
	sp->n_dead++;
}

/* Records destination i's outcome, whose line took line_len bytes. */
static void
spool_job_set(struct spool *sp, struct spool_job *job, size_t i,
    enum spool_pair st, size_t line_len)
{
	job->state[i] = (uint8_t)st;
	job->bytes += line_len;
	sp->live += line_len;
	if (--job->n_pending > 0)
		return;
	sp->n_pending--;
	free(job->json);
	job->json = NULL;
	job->json_len = 0;
	spool_job_end(sp, job);
}

/* Failed destination i is pending again ("retry", line_len bytes); the
 * job's alert is in memory (spool_job_read()). */
static void
spool_job_reopen(struct spool *sp, struct spool_job *job, size_t i,
    size_t line_len)
{
	job->state[i] = SPOOL_PAIR_PENDING;
	free(job->errors[i]);
	job->errors[i] = NULL;
	job->defs[i] = 0;
	job->bytes += line_len;
	sp->live += line_len;
	if (job->n_pending++ == 0)
		sp->n_pending++;
	sp->failed = spool_sub(sp->failed, 1);
}

/* Failed destination i is dropped ("purge", line_len bytes). */
static void
spool_job_purged(struct spool *sp, struct spool_job *job, size_t i,
    size_t line_len)
{
	job->state[i] = SPOOL_PAIR_PURGED;
	free(job->errors[i]);
	job->errors[i] = NULL;
	job->defs[i] = 0;
	job->bytes += line_len;
	sp->live += line_len;
	sp->failed = spool_sub(sp->failed, 1);
	if (job->n_pending == 0)
		spool_job_end(sp, job);
}

/*
 * The alert of job, read back from its line in the journal: what follows
 * JOURNAL_ALERT_FIELD up to the closing "}\n" (the field is always last,
 * and the header before it holds JSON strings only, whose quotes are
 * escaped: its first occurrence is the field). -EIO: not there.
 */
static int
spool_job_read(const struct spool *sp, const struct spool_job *job, char **ret,
    size_t *ret_len)
{
	static const char field[] = JOURNAL_ALERT_FIELD;
	size_t len = job->line_len;
	const char *p = NULL;
	size_t alen;
	char *line;
	int r;

	if (len < sizeof(field) + 3)
		return -EIO;
	line = malloc(len + 1);
	if (line == NULL)
		return -ENOMEM;
	r = spool_pread_all(sp->j.fd, line, len, job->off);
	if (r == 0 &&
	    (line[0] != '{' || line[len - 1] != '\n' || line[len - 2] != '}'))
		r = -EIO;
	if (r == 0)
		p = memmem(line, len, field, sizeof(field) - 1);
	if (r == 0 && p == NULL)
		r = -EIO;
	if (r < 0) {
		free(line);
		return r;
	}
	p += sizeof(field) - 1;
	alen = (size_t)(line + len - 2 - p);
	memmove(line, p, alen);
	line[alen] = '\0';
	*ret = line;
	*ret_len = alen;
	return 0;
}

/* Adds a new job at the end; room was reserved. */
static void
spool_jobs_add(struct spool *sp, struct spool_job *job)
{
	sp->jobs[sp->n_jobs++] = job;
	sp->n_pending++;
	if (job->id >= sp->next_job)
		sp->next_job = job->id + 1;
	sp->live += job->bytes;
}

/* ---- lines ----------------------------------------------------------- */

static int
spool_done_line(struct buf *b, int64_t job, const char *dest, bool ok,
    const char *error, uint64_t def)
{
	int r;

	r = buf_printf(b,
	    "{\"op\":\"done\",\"job\":%" PRId64 ",\"dest\":", job);
	r = r < 0 ? r : buf_json_str(b, dest, strlen(dest));
	r = r < 0 ? r : buf_printf(b, ",\"ok\":%s", ok ? "true" : "false");
	if (r == 0 && !ok && error != NULL) {
		r = buf_puts(b, ",\"error\":");
		r = r < 0 ? r : buf_json_str(b, error, strlen(error));
	}
	if (r == 0 && !ok && def != 0)
		r = buf_printf(b, ",\"def\":\"%016" PRIx64 "\"", def);
	return r < 0 ? r : buf_puts(b, "}\n");
}

/* A "def" fingerprint: 16 hex digits; 0 (none) for anything else. */
static uint64_t
spool_def_parse(const char *s, size_t len)
{
	uint64_t v = 0;
	size_t i;

	if (s == NULL || len != 16)
		return 0;
	for (i = 0; i < len; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return 0;
		v = v << 4 |
		    (uint64_t)(isdigit((unsigned char)s[i])
			    ? s[i] - '0'
			    : (tolower((unsigned char)s[i]) - 'a' + 10));
	}
	return v;
}

/* A "retry" or "purge" line for (job, dest). */
static int
spool_pair_line(struct buf *b, const char *op, int64_t job, const char *dest)
{
	int r;

	r = buf_printf(b, "{\"op\":\"%s\",\"job\":%" PRId64 ",\"dest\":", op,
	    job);
	r = r < 0 ? r : buf_json_str(b, dest, strlen(dest));
	return r < 0 ? r : buf_puts(b, "}\n");
}

/* A copy of a failure's error, cut at SPOOL_MAX_ERROR bytes (not inside
 * a UTF-8 sequence); NULL for none (or no memory: it is optional). */
static char *
spool_error_dup(const char *error)
{
	size_t len;

	if (error == NULL || error[0] == '\0')
		return NULL;
	len = strnlen(error, SPOOL_MAX_ERROR + 1);
	if (len > SPOOL_MAX_ERROR) {
		len = SPOOL_MAX_ERROR;
		while (len > 0 && ((unsigned char)error[len] & 0xc0) == 0x80)
			len--;
	}
	return strndup(error, len);
}

static int
spool_seen_line(struct buf *b, const struct spool_key *k)
{
	int r;

	r = buf_puts(b, "{\"op\":\"seen\",\"key\":");
	r = r < 0 ? r : buf_json_str(b, k->e.key, k->e.len);
	r = r < 0 ? r : buf_printf(b, ",\"t\":%" PRIu64 "}\n", k->t);
	return r;
}

static int
spool_dests_ok(const char *const *dests, size_t n)
{
	size_t len;
	size_t i;
	size_t j;

	if (n == 0 || n > SPOOL_MAX_DESTS || dests == NULL)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (dests[i] == NULL)
			return -EINVAL;
		len = strlen(dests[i]);
		if (len == 0 || len > SPOOL_MAX_DEST)
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (strcmp(dests[i], dests[j]) == 0)
				return -EINVAL;
	}
	return 0;
}

/* ---- replay ---------------------------------------------------------- */

static int
spool_bad(struct spool_replay *rp, const char *why)
{
	return journal_bad(&rp->sp->j, rp->reterr, why);
}

static int
spool_replay_alert(struct spool_replay *rp, struct json_object *hdr,
    const char *json, size_t json_len, size_t line_len)
{
	struct spool *sp = rp->sp;
	const char *dests[SPOOL_MAX_DESTS];
	struct spool_job *job;
	struct json_object *arr;
	const char *key;
	size_t klen;
	size_t n;
	size_t i;
	int64_t id;
	int64_t t;
	int r;

	if (json == NULL)
		return spool_bad(rp, "\"alert\" missing or not the last field");
	if (!journal_get_int(hdr, "job", 1, &id))
		return spool_bad(rp,
		    "\"job\" missing or not a positive integer");
	if (id <= rp->last_job)
		return spool_bad(rp, "job id out of order");
	rp->last_job = id;
	key = journal_get_str(hdr, "key", SPOOL_KEY_SIZE - 1, &klen);
	if (key == NULL)
		return spool_bad(rp, "\"key\" missing or bad");
	if (!journal_get_int(hdr, "t", 0, &t))
		return spool_bad(rp, "\"t\" missing or negative");
	if (!json_object_object_get_ex(hdr, "dests", &arr) ||
	    !json_object_is_type(arr, json_type_array))
		return spool_bad(rp, "\"dests\" missing or not an array");
	n = json_object_array_length(arr);
	if (n == 0 || n > SPOOL_MAX_DESTS)
		return spool_bad(rp, "bad number of destinations");
	for (i = 0; i < n; i++) {
		struct json_object *d = json_object_array_get_idx(arr, i);

		if (!json_object_is_type(d, json_type_string))
			return spool_bad(rp, "a destination is not a string");
		dests[i] = json_object_get_string(d);
		if ((size_t)json_object_get_string_len(d) != strlen(dests[i]))
			return spool_bad(rp, "NUL in a destination");
	}
	if (spool_dests_ok(dests, n) < 0)
		return spool_bad(rp, "bad or repeated destination");

	r = spool_jobs_reserve(sp);
	if (r < 0)
		return r;
	job = spool_job_new(id, dests, n);
	if (job == NULL)
		return -ENOMEM;
	job->json = strndup(json, json_len);
	job->key = strndup(key, klen);
	if (job->json == NULL || job->key == NULL) {
		spool_job_free(job);
		return -ENOMEM;
	}
	job->json_len = json_len;
	job->t = (uint64_t)t;
	job->off = sp->j.off;
	job->line_len = line_len;
	job->bytes = line_len;
	spool_jobs_add(sp, job);
	/* A time in the future (a clock set wrong then) would pin the key. */
	return spool_key_put(sp, key, klen,
	    (uint64_t)t < rp->now ? (uint64_t)t : rp->now);
}

static int
spool_replay_done(struct spool_replay *rp, struct json_object *hdr,
    size_t line_len)
{
	struct spool_job *job;
	const char *dest;
	size_t len;
	int64_t id;
	bool ok;
	int i;

	if (!journal_get_int(hdr, "job", 1, &id))
		return spool_bad(rp,
		    "\"job\" missing or not a positive integer");
	dest = journal_get_str(hdr, "dest", SPOOL_MAX_DEST, &len);
	if (dest == NULL)
		return spool_bad(rp, "\"dest\" missing or bad");
	if (!journal_get_bool(hdr, "ok", &ok))
		return spool_bad(rp, "\"ok\" missing or not a boolean");
	job = spool_job_find(rp->sp, id);
	if (job == NULL)
		return spool_bad(rp, "outcome for an unknown or finished job");
	i = spool_job_dest(job, dest);
	if (i < 0)
		return spool_bad(rp, "outcome for an unknown destination");
	if (job->state[i] != SPOOL_PAIR_PENDING)
		return spool_bad(rp, "outcome recorded twice");
	if (!ok) {
		struct json_object *v;
		const char *err = NULL;
		size_t elen = 0;

		rp->sp->failed++;
		/* Optional, informative only: a bad one is left out. */
		if (json_object_object_get_ex(hdr, "error", &v))
			err = journal_str(v, 4 * SPOOL_MAX_ERROR, &elen);
		job->errors[i] = spool_error_dup(err);
		err = journal_get_str(hdr, "def", 16, &elen);
		job->defs[i] = spool_def_parse(err, elen);
	}
	spool_job_set(rp->sp, job, (size_t)i,
	    ok ? SPOOL_PAIR_DELIVERED : SPOOL_PAIR_FAILED, line_len);
	return 0;
}

/* A "retry" or "purge" line: the job and failed destination it names. */
static int
spool_replay_pair(struct spool_replay *rp, struct json_object *hdr,
    struct spool_job **ret_job, size_t *ret_i)
{
	struct spool_job *job;
	const char *dest;
	size_t len;
	int64_t id;
	int i;

	if (!journal_get_int(hdr, "job", 1, &id))
		return spool_bad(rp,
		    "\"job\" missing or not a positive integer");
	dest = journal_get_str(hdr, "dest", SPOOL_MAX_DEST, &len);
	if (dest == NULL)
		return spool_bad(rp, "\"dest\" missing or bad");
	job = spool_job_find(rp->sp, id);
	if (job == NULL)
		return spool_bad(rp, "retry or purge of an unknown job");
	i = spool_job_dest(job, dest);
	if (i < 0)
		return spool_bad(rp,
		    "retry or purge for an unknown destination");
	if (job->state[i] != SPOOL_PAIR_FAILED)
		return spool_bad(rp,
		    "retry or purge for a destination not failed");
	*ret_job = job;
	*ret_i = (size_t)i;
	return 0;
}

static int
spool_replay_retry(struct spool_replay *rp, struct json_object *hdr,
    size_t line_len)
{
	struct spool_job *job;
	size_t i;
	int r;

	r = spool_replay_pair(rp, hdr, &job, &i);
	if (r < 0)
		return r;
	if (job->json == NULL) {
		r = spool_job_read(rp->sp, job, &job->json, &job->json_len);
		if (r == -EIO)
			return spool_bad(rp,
			    "retry: the alert's line is "
			    "not where it was written");
		if (r < 0)
			return r;
	}
	spool_job_reopen(rp->sp, job, i, line_len);
	return 0;
}

static int
spool_replay_purge(struct spool_replay *rp, struct json_object *hdr,
    size_t line_len)
{
	struct spool_job *job;
	size_t i;
	int r;

	r = spool_replay_pair(rp, hdr, &job, &i);
	if (r < 0)
		return r;
	spool_job_purged(rp->sp, job, i, line_len);
	return 0;
}

static int
spool_replay_seen(struct spool_replay *rp, struct json_object *hdr)
{
	const char *key;
	size_t len;
	int64_t t;

	key = journal_get_str(hdr, "key", SPOOL_KEY_SIZE - 1, &len);
	if (key == NULL)
		return spool_bad(rp, "\"key\" missing or bad");
	if (!journal_get_int(hdr, "t", 0, &t))
		return spool_bad(rp, "\"t\" missing or negative");
	return spool_key_put(rp->sp, key, len,
	    (uint64_t)t < rp->now ? (uint64_t)t : rp->now);
}

/* One line (journal_line_cb); an "alert" line's alert is kept as text. */
static int
spool_replay_line(const char *line, size_t len, void *arg)
{
	struct spool_replay *rp = arg;
	struct journal_line jl;
	struct json_object *hdr;
	const char *op;
	size_t oplen;
	int64_t id;
	int r;

	r = journal_parse_line(&rp->sp->j, rp->tok, &rp->hdr, SPOOL_MAX_HEADER,
	    line, len, &jl, rp->reterr);
	if (r < 0)
		return r;
	hdr = jl.hdr;
	op = journal_get_str(hdr, "op", 16, &oplen);
	if (op == NULL)
		r = spool_bad(rp, "\"op\" missing");
	else if (strcmp(op, "alert") == 0)
		r = spool_replay_alert(rp, hdr, jl.alert, jl.alert_len,
		    len + 1);
	else if (strcmp(op, "done") == 0)
		r = spool_replay_done(rp, hdr, len + 1);
	else if (strcmp(op, "seen") == 0)
		r = spool_replay_seen(rp, hdr);
	else if (strcmp(op, "retry") == 0)
		r = spool_replay_retry(rp, hdr, len + 1);
	else if (strcmp(op, "purge") == 0)
		r = spool_replay_purge(rp, hdr, len + 1);
	else if (strcmp(op, "next") != 0)
		r = spool_bad(rp, "unknown op");
	else if (!journal_get_int(hdr, "job", 1, &id))
		r = spool_bad(rp, "\"job\" missing or not positive");
	else if (id > rp->sp->next_job)
		rp->sp->next_job = id;
	json_object_put(hdr);
	return r;
}

/* Rebuilds jobs and keys from the journal (a torn last line cut off). */
static int
spool_replay(struct spool *sp, struct diag *reterr)
{
	struct spool_replay rp;
	int r;

	memset(&rp, 0, sizeof(rp));
	rp.sp = sp;
	rp.now = spool_now(sp);
	rp.reterr = reterr;
	/* A line without an alert is its own header. */
	buf_init(&rp.hdr, SPOOL_MAX_LINE);
	rp.tok = json_tokener_new_ex(SPOOL_MAX_DEPTH);
	if (rp.tok == NULL)
		r = -ENOMEM;
	else
		r = journal_replay(&sp->j, SPOOL_MAX_LINE, spool_replay_line,
		    &rp, reterr);
	if (rp.tok != NULL)
		json_tokener_free(rp.tok);
	buf_done(&rp.hdr);
	return r;
}

/* ---- outcomes not yet written ----------------------------------------- */

static void
spool_held_clear(struct spool *sp)
{
	size_t i;

	for (i = 0; i < sp->n_held; i++) {
		free(sp->held[i].dest);
		free(sp->held[i].error);
	}
	sp->n_held = 0;
}

/* Keeps (job, dest, ok, error, def) for a later write; -ENOMEM: cannot. */
static int
spool_held_add(struct spool *sp, int64_t job, const char *dest, bool ok,
    const char *error, uint64_t def)
{
	struct spool_held *p;
	size_t cap;
	char *d;

	if (sp->n_held == sp->cap_held) {
		cap = sp->cap_held != 0 ? sp->cap_held * 2 : 16;
		p = realloc(sp->held, cap * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		sp->held = p;
		sp->cap_held = cap;
	}
	d = strdup(dest);
	if (d == NULL)
		return -ENOMEM;
	sp->held[sp->n_held].job = job;
	sp->held[sp->n_held].dest = d;
	sp->held[sp->n_held].error = ok ? NULL : spool_error_dup(error);
	sp->held[sp->n_held].def = ok ? 0 : def;
	sp->held[sp->n_held].ok = ok;
	sp->n_held++;
	return 0;
}

/* Writes the held outcomes, in the order they happened, in one append. */
static int
spool_held_write(struct spool *sp)
{
	struct buf *b = &sp->line;
	size_t i;
	int r = 0;

	if (sp->n_held == 0)
		return 0;
	buf_reset(b);
	for (i = 0; r == 0 && i < sp->n_held; i++)
		r = spool_done_line(b, sp->held[i].job, sp->held[i].dest,
		    sp->held[i].ok, sp->held[i].error, sp->held[i].def);
	if (r == 0)
		r = journal_append(&sp->j, b->data, b->len, sp->n_held);
	journal_buf_reset(b);
	if (r < 0)
		return r;
	spool_held_clear(sp);
	return 0;
}

/* ---- open, free ------------------------------------------------------ */

int
spool_open(const char *dir, const struct spool_opts *o, struct spool **ret,
    struct diag *reterr)
{
	struct spool *sp;
	int r;

	sp = calloc(1, sizeof(*sp));
	if (sp == NULL)
		return -ENOMEM;
	journal_init(&sp->j);
	ht_init(&sp->keys, SPOOL_KEYS_MIN);
	sp->next_job = 1;
	sp->retention_s = SPOOL_DEFAULT_RETENTION_S;
	sp->max_pending = SPOOL_DEFAULT_MAX_PENDING;
	sp->seed = ht_seed();
	buf_init(&sp->line, SPOOL_MAX_LINE);
	if (o != NULL) {
		if (o->dedup_retention_s != 0)
			sp->retention_s = o->dedup_retention_s;
		if (o->max_pending != 0)
			sp->max_pending = o->max_pending;
		sp->clock_s = o->clock_s;
		sp->clock_arg = o->clock_arg;
	}
	if (o != NULL && o->read_only)
		r = journal_open_ro(&sp->j, dir, SPOOL_JOURNAL, reterr);
	else
		r = journal_open(&sp->j, dir, SPOOL_JOURNAL, reterr);
	if (r < 0)
		goto fail;
	r = spool_replay(sp, reterr);
	if (r < 0)
		goto fail;
	r = spool_keys_rebuild(sp, 0); /* drop what expired while we were off */
	if (r < 0)
		goto fail;
	spool_jobs_sweep(sp);
	*ret = sp;
	return 0;
fail:
	spool_free(sp);
	return r;
}

void
spool_free(struct spool *sp)
{
	size_t i;

	if (sp == NULL)
		return;
	ht_done(&sp->keys, spool_key_free, NULL);
	for (i = 0; i < sp->n_jobs; i++)
		spool_job_free(sp->jobs[i]);
	free(sp->jobs);
	spool_held_clear(sp);
	free(sp->held);
	journal_done(&sp->j);
	buf_done(&sp->line);
	free(sp);
}

/* ---- the API --------------------------------------------------------- */

/*
 * Everything that can fail happens before the write, so that a written
 * alert is always in memory too: the key copy and the job are allocated,
 * and the table and the array have room.
 */
/* The one writer: an alert from a struct alert, or as JSON text. */
static int64_t
spool_append_any(struct spool *sp, const struct alert *a, const char *rule_id,
    const char *event_id, const char *text, size_t text_len,
    const char *const *dests, size_t n_dests)
{
	char key[SPOOL_KEY_SIZE];
	struct spool_job *job = NULL;
	struct spool_key *k;
	struct spool_key *knew = NULL;
	struct buf *b = &sp->line;
	size_t klen;
	size_t start;
	size_t i;
	uint64_t now;
	uint64_t h;
	int r;

	if (sp->j.broken < 0)
		return sp->j.broken;
	if (sp->iterating)
		return -EBUSY;
	r = spool_dests_ok(dests, n_dests);
	if (r == 0 && a != NULL)
		r = spool_key_alert(a, key, &klen);
	else if (r == 0 && event_id != NULL && event_id[0] != '\0')
		r = spool_key_event(rule_id, event_id, key, &klen);
	else if (r == 0)
		r = spool_key_build(rule_id, text, text_len, true, key, &klen);
	if (r < 0)
		return r;
	now = spool_now(sp);
	h = ht_hash(sp->seed, key, klen);
	k = spool_key_find(sp, key, klen, h);
	if (k != NULL && !spool_key_expired(sp, k, now)) {
		sp->deduplicated++;
		return -EEXIST;
	}
	if (sp->n_pending >= sp->max_pending)
		return -E2BIG;
	spool_jobs_sweep(sp);
	if (k == NULL) {
		r = spool_keys_reserve(sp, 1);
		if (r < 0)
			return r;
		knew = spool_key_new(key, klen, h);
		if (knew == NULL)
			return -ENOMEM;
	}
	r = spool_jobs_reserve(sp);
	job = r < 0 ? NULL : spool_job_new(sp->next_job, dests, n_dests);
	if (job == NULL) {
		r = r < 0 ? r : -ENOMEM;
		goto fail;
	}

	buf_reset(b);
	r = buf_printf(b,
	    "{\"op\":\"alert\",\"job\":%" PRId64 ",\"key\":", job->id);
	r = r < 0 ? r : buf_json_str(b, key, klen);
	r = r < 0 ? r : buf_printf(b, ",\"t\":%" PRIu64 ",\"dests\":[", now);
	for (i = 0; r == 0 && i < n_dests; i++) {
		r = i == 0 ? 0 : buf_putc(b, ',');
		r = r < 0 ? r : buf_json_str(b, dests[i], strlen(dests[i]));
	}
	r = r < 0 ? r : buf_puts(b, "]" JOURNAL_ALERT_FIELD);
	if (r < 0)
		goto fail;
	start = b->len;
	if (a != NULL) {
		r = alert_json(a, true, b);
		if (r == -E2BIG) /* never lose an alert for its raw record */
			r = alert_json(a, false, b);
	} else {
		r = buf_append(b, text, text_len);
	}
	if (r < 0)
		goto fail;
	job->json_len = b->len - start;
	r = buf_puts(b, "}\n");
	if (r < 0)
		goto fail;
	/* Both writers escape control characters; one line stays one. */
	if (memchr(b->data, '\n', b->len - 1) != NULL) {
		r = -EINVAL;
		goto fail;
	}
	job->json = strndup(b->data + start, job->json_len);
	job->key = strndup(key, klen);
	if (job->json == NULL || job->key == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	job->t = now;
	job->off = sp->j.size;
	job->line_len = b->len;
	job->bytes = b->len;
	r = journal_append(&sp->j, b->data, b->len, 1);
	if (r < 0)
		goto fail;

	if (k == NULL)
		spool_key_add(sp, knew, now);
	else
		k->t = now; /* expired: seen anew */
	spool_jobs_add(sp, job);
	journal_buf_reset(&sp->line);
	return job->id;
fail:
	journal_buf_reset(&sp->line);
	spool_job_free(job);
	free(knew);
	return r;
}

int64_t
spool_append(struct spool *sp, const struct alert *a, const char *const *dests,
    size_t n_dests)
{
	return spool_append_any(sp, a, NULL, NULL, NULL, 0, dests, n_dests);
}

int64_t
spool_append_json(struct spool *sp, const char *rule_id, const char *event_id,
    const char *json, size_t len, const char *const *dests, size_t n_dests)
{
	if (rule_id == NULL || json == NULL || len == 0 || json[0] != '{')
		return -EINVAL;
	return spool_append_any(sp, NULL, rule_id, event_id, json, len, dests,
	    n_dests);
}

int
spool_sync(struct spool *sp)
{
	/* Held outcomes first: still failing, they stay held (counted in
	 * spool_stats()); what was written before is synced either way. */
	if (sp->j.broken == 0 && !sp->iterating)
		(void)spool_held_write(sp);
	return journal_sync(&sp->j);
}

int
spool_mark(struct spool *sp, int64_t id, const char *dest,
    enum spool_outcome outcome)
{
	return spool_mark_detail(sp, id, dest, outcome, NULL, 0);
}

int
spool_mark_detail(struct spool *sp, int64_t id, const char *dest,
    enum spool_outcome outcome, const char *error, uint64_t def)
{
	bool ok = outcome == SPOOL_DELIVERED;
	struct spool_job *job;
	char *err = NULL;
	size_t len;
	bool held;
	int i;
	int r;

	if (sp->j.broken < 0)
		return sp->j.broken;
	if ((outcome != SPOOL_DELIVERED && outcome != SPOOL_FAILED) ||
	    dest == NULL)
		return -EINVAL;
	job = spool_job_find(sp, id);
	if (job == NULL)
		return -ENOENT;
	i = spool_job_dest(job, dest);
	if (i < 0)
		return i;
	if (job->state[i] != SPOOL_PAIR_PENDING)
		return -EALREADY;
	if (!ok) {
		err = spool_error_dup(error);
		error = err; /* as it is kept: cut */
	}
	buf_reset(&sp->line);
	r = spool_done_line(&sp->line, id, dest, ok, error, def);
	len = sp->line.len;
	/* After a held one, in order: never a line ahead of an older one. */
	if (r == 0 && sp->n_held > 0)
		r = -EAGAIN;
	else if (r == 0)
		r = journal_append(&sp->j, sp->line.data, len, 1);
	journal_buf_reset(&sp->line);
	held = r < 0 && r != -ENOMEM && sp->j.broken == 0;
	if (held)
		held = spool_held_add(sp, id, dest, ok, error, def) == 0;
	if (r < 0 && !held) {
		free(err);
		return r;
	}
	if (ok)
		sp->delivered++;
	else
		sp->failed++;
	job->errors[i] = err;
	job->defs[i] = ok ? 0 : def;
	spool_job_set(sp, job, (size_t)i,
	    outcome == SPOOL_DELIVERED ? SPOOL_PAIR_DELIVERED
				       : SPOOL_PAIR_FAILED,
	    len);
	return held ? 1 : 0;
}

/* Writes a "retry" or "purge" line for failed (id, dest); 0, or an error
 * with nothing changed. */
static int
spool_pair_op(struct spool *sp, const char *op, int64_t id, const char *dest,
    struct spool_job **ret_job, size_t *ret_i, size_t *ret_len)
{
	struct spool_job *job;
	size_t len;
	int i;
	int r;

	if (sp->j.broken < 0)
		return sp->j.broken;
	if (dest == NULL)
		return -EINVAL;
	job = spool_job_find(sp, id);
	if (job == NULL)
		return -ENOENT;
	i = spool_job_dest(job, dest);
	if (i < 0)
		return i;
	if (job->state[i] != SPOOL_PAIR_FAILED)
		return -EALREADY;
	/* Its "done" line, if held, must come first. */
	r = spool_held_write(sp);
	if (r < 0)
		return r;
	if (strcmp(op, "retry") == 0 && job->json == NULL) {
		r = spool_job_read(sp, job, &job->json, &job->json_len);
		if (r < 0)
			return r;
	}
	buf_reset(&sp->line);
	r = spool_pair_line(&sp->line, op, id, dest);
	len = sp->line.len;
	if (r == 0)
		r = journal_append(&sp->j, sp->line.data, len, 1);
	journal_buf_reset(&sp->line);
	if (r < 0) {
		if (job->n_pending == 0) { /* read back for nothing */
			free(job->json);
			job->json = NULL;
			job->json_len = 0;
		}
		return r;
	}
	*ret_job = job;
	*ret_i = (size_t)i;
	*ret_len = len;
	return 0;
}

int
spool_retry(struct spool *sp, int64_t id, const char *dest)
{
	struct spool_job *job;
	size_t len;
	size_t i;
	int r;

	r = spool_pair_op(sp, "retry", id, dest, &job, &i, &len);
	if (r < 0)
		return r;
	spool_job_reopen(sp, job, i, len);
	return 0;
}

int
spool_purge(struct spool *sp, int64_t id, const char *dest)
{
	struct spool_job *job;
	size_t len;
	size_t i;
	int r;

	r = spool_pair_op(sp, "purge", id, dest, &job, &i, &len);
	if (r < 0)
		return r;
	spool_job_purged(sp, job, i, len);
	return 0;
}

static int
spool_job_id(const struct spool_job *job, char out[SPOOL_ALERT_ID_SIZE])
{
	char digest[HT_DIGEST_LEN + 1];
	int r;

	if (job->key == NULL)
		return -ENOENT;
	r = ht_digest(job->key, strlen(job->key), digest);
	if (r < 0)
		return r;
	/* "sha256:" and the first 128 bits: unique enough, short enough. */
	memcpy(out, digest + 7, SPOOL_ALERT_ID_SIZE - 1);
	out[SPOOL_ALERT_ID_SIZE - 1] = '\0';
	return 0;
}

static int
spool_job_info(const struct spool_job *job, struct spool_alert_info *a)
{
	size_t i;

	memset(a, 0, sizeof(*a));
	a->job = job->id;
	a->t = job->t;
	a->n_dests = job->n_dests;
	for (i = 0; i < job->n_dests; i++) {
		a->dest[i] = job->dests[i];
		a->state[i] = (enum spool_pair)job->state[i];
		a->error[i] = job->errors[i];
		a->def[i] = job->defs[i];
	}
	return spool_job_id(job, a->id);
}

int
spool_alert_get(const struct spool *sp, int64_t id,
    struct spool_alert_info *ret)
{
	const struct spool_job *job = spool_job_find(sp, id);

	if (job == NULL)
		return -ENOENT;
	return spool_job_info(job, ret);
}

int
spool_foreach_alert(struct spool *sp, spool_alert_cb *cb, void *arg)
{
	struct spool_alert_info a;
	struct spool_job *job;
	bool was = sp->iterating;
	size_t j;
	int r = 0;

	sp->iterating = true;
	for (j = 0; r >= 0 && j < sp->n_jobs; j++) {
		job = sp->jobs[j];
		if (job->dead)
			continue;
		r = spool_job_info(job, &a);
		if (r >= 0)
			r = cb(&a, arg);
	}
	sp->iterating = was;
	return r < 0 ? r : 0;
}

int
spool_find_alert(const struct spool *sp, const char *id, int64_t *ret_job)
{
	char have[SPOOL_ALERT_ID_SIZE];
	size_t j;

	if (strlen(id) != SPOOL_ALERT_ID_SIZE - 1)
		return -ENOENT;
	for (j = 0; j < sp->n_jobs; j++) {
		if (sp->jobs[j]->dead || spool_job_id(sp->jobs[j], have) < 0)
			continue;
		if (strcasecmp(have, id) == 0) {
			*ret_job = sp->jobs[j]->id;
			return 0;
		}
	}
	return -ENOENT;
}

int
spool_alert_text(const struct spool *sp, int64_t id, struct buf *out)
{
	const struct spool_job *job = spool_job_find(sp, id);
	char *text;
	size_t len;
	int r;

	if (job == NULL || job->key == NULL)
		return -ENOENT;
	if (job->json != NULL)
		return buf_append(out, job->json, job->json_len);
	r = spool_job_read(sp, job, &text, &len);
	if (r < 0)
		return r;
	r = buf_append(out, text, len);
	free(text);
	return r;
}

int
spool_foreach_pending(struct spool *sp, spool_pending_cb *cb, void *arg)
{
	return spool_foreach_pending_from(sp, 1, cb, arg);
}

int
spool_foreach_pending_from(struct spool *sp, int64_t first,
    spool_pending_cb *cb, void *arg)
{
	struct spool_job *job;
	size_t lo = 0;
	size_t hi = sp->n_jobs;
	size_t mid;
	size_t j;
	size_t i;
	int r = 0;

	if (sp->iterating)
		return -EBUSY;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (sp->jobs[mid]->id < first)
			lo = mid + 1;
		else
			hi = mid;
	}
	sp->iterating = true;
	/* n_jobs is read each time: a marked job only changes in place. */
	for (j = lo; r >= 0 && j < sp->n_jobs; j++) {
		job = sp->jobs[j];
		for (i = 0; r >= 0 && job->json != NULL && i < job->n_dests;
		     i++) {
			if (job->state[i] != SPOOL_PAIR_PENDING)
				continue;
			r = cb(job->id, job->dests[i], job->json, job->json_len,
			    arg);
		}
	}
	sp->iterating = false;
	return r < 0 ? r : 0;
}

const char *
spool_alert_json(const struct spool *sp, int64_t id)
{
	const struct spool_job *job = spool_job_find(sp, id);

	return job != NULL ? job->json : NULL;
}

void
spool_stats(const struct spool *sp, struct spool_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->pending = sp->n_pending;
	ret->delivered = sp->delivered;
	ret->failed = sp->failed;
	ret->deduplicated = sp->deduplicated;
	ret->torn_tail = sp->j.torn_tail;
	ret->journal_bytes = sp->j.size;
	ret->dedup_keys = sp->keys.n;
	ret->unwritten = sp->n_held;
}

int
spool_probe(struct spool *sp)
{
	struct buf *b = &sp->line;
	int r;

	if (sp->j.broken < 0)
		return sp->j.broken;
	buf_reset(b);
	/* A "next" line at the id in use changes nothing at replay. */
	r = buf_printf(b, "{\"op\":\"next\",\"job\":%" PRId64 "}\n",
	    sp->next_job);
	if (r == 0)
		r = journal_append(&sp->j, b->data, b->len, 1);
	journal_buf_reset(b);
	return r;
}

int
spool_alert_id(const struct spool *sp, int64_t id,
    char out[SPOOL_ALERT_ID_SIZE])
{
	const struct spool_job *job = spool_job_find(sp, id);

	if (job == NULL)
		return -ENOENT;
	return spool_job_id(job, out);
}

bool
spool_seen(const struct spool *sp, const char *rule_id, const char *event_id)
{
	char key[SPOOL_KEY_SIZE];
	const struct spool_key *k;
	size_t len;

	if (event_id == NULL ||
	    spool_key_event(rule_id, event_id, key, &len) < 0)
		return false;
	k = spool_key_find(sp, key, len, ht_hash(sp->seed, key, len));
	return k != NULL && !spool_key_expired(sp, k, spool_now(sp));
}

/* ---- compaction ------------------------------------------------------ */

/* Copies job's alert line from the journal, then its outcomes. */
static int
spool_copy_job(struct spool *sp, struct spool_job *job, struct buf *out)
{
	size_t i;
	int r;

	r = buf_reserve(out, job->line_len);
	if (r < 0)
		return r;
	r = spool_pread_all(sp->j.fd, out->data + out->len, job->line_len,
	    job->off);
	if (r < 0)
		return r;
	if (out->data[out->len] != '{' ||
	    out->data[out->len + job->line_len - 1] != '\n')
		return -EIO; /* not where we wrote it: do not go on */
	out->len += job->line_len;
	out->data[out->len] = '\0';
	/* A purged one was failed first; a retried one is pending. */
	for (i = 0; r == 0 && i < job->n_dests; i++) {
		if (job->state[i] == SPOOL_PAIR_PENDING)
			continue;
		r = spool_done_line(out, job->id, job->dests[i],
		    job->state[i] == SPOOL_PAIR_DELIVERED, job->errors[i],
		    job->defs[i]);
		if (r == 0 && job->state[i] == SPOOL_PAIR_PURGED)
			r = spool_pair_line(out, "purge", job->id,
			    job->dests[i]);
	}
	return r;
}

static int
spool_rewrite(struct spool *sp)
{
	struct journal_rewrite w;
	struct buf *out = &w.out;
	struct ht_entry *e;
	size_t i;
	int r;

	r = spool_keys_rebuild(sp, 0);
	if (r < 0)
		return r;
	spool_jobs_sweep(sp);
	r = journal_rewrite_begin(&sp->j, &w, SPOOL_MAX_LINE);
	if (r < 0)
		return r;
	r = buf_printf(out, "{\"op\":\"next\",\"job\":%" PRId64 "}\n",
	    sp->next_job);
	for (i = 0; r == 0 && i < sp->n_jobs; i++) {
		struct spool_job *job = sp->jobs[i];

		job->new_off = journal_rewrite_off(&w);
		r = spool_copy_job(sp, job, out);
		job->new_bytes = journal_rewrite_off(&w) - job->new_off;
		r = r < 0 ? r : journal_rewrite_flush(&w);
	}
	i = 0;
	while (r == 0 && (e = ht_next(&sp->keys, &i)) != NULL) {
		r = spool_seen_line(out, (const struct spool_key *)e);
		r = r < 0 ? r : journal_rewrite_flush(&w);
	}
	if (r < 0) {
		journal_rewrite_abort(&sp->j, &w);
		return r;
	}
	r = journal_rewrite_commit(&sp->j, &w);
	if (r < 0)
		return r;
	/* The new journal holds every outcome, the held ones too. */
	spool_held_clear(sp);
	sp->live = sp->j.size;
	for (i = 0; i < sp->n_jobs; i++) {
		sp->jobs[i]->off = sp->jobs[i]->new_off;
		sp->jobs[i]->bytes = sp->jobs[i]->new_bytes;
	}
	return 1;
}

int
spool_compact(struct spool *sp)
{
	if (sp->j.broken < 0)
		return sp->j.broken;
	if (sp->iterating)
		return -EBUSY;
	if (sp->j.size < SPOOL_COMPACT_MIN || sp->live > sp->j.size / 2)
		return 0;
	return spool_rewrite(sp);
}
