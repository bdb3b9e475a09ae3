/*
 * incident.c: see incident.h.
 *
 * The journal, <dir>/incidents.journal, is JSON lines, each appended with
 * one write(2) (evicting keys writes its "drop" lines in one), so a
 * crash leaves at most one torn line, the last: it was never synced, so
 * the SQS message behind it was never deleted, and cutting it off at open
 * loses nothing acknowledged. K is the key "<rule id>\t<group key>", E a
 * normalised eventID (the record's, or "sha256:<hex>" of the alert text
 * when it has none, or of the eventID when over 256 bytes), T a time in
 * Unix seconds. The lines, in any mix:
 *
 * {"op":"send","k":K,"e":E,"t":T,"until":U,"open":B,"n":N,"since":S}
 *	E's alert was sent, carrying N throttled matches counted since S
 *	(N 0: none). U: the end of the throttle window it starts (0: none);
 *	B: it opened (or renewed) the key's incident.
 * {"op":"supp","k":K,"e":E,"t":T}
 *	E was counted, not sent, inside the key's window.
 * {"op":"group","k":K,"e":E,"t":T,"due":D,"thr":W,"res":B,"alert":{...}}
 *	E opened the key's group, due at D; its emission starts a W-second
 *	throttle window (0: none) and, B, opens an incident. "alert" is the
 *	first match's alert text, byte for byte, and always the last field.
 *	Compaction adds "count":N and "events":[E,...].
 * {"op":"member","k":K,"e":E,"t":T}
 *	E joined the key's group.
 * {"op":"gres","k":K,"e":E,"t":T,"alert":{...}}
 *	E resolves the incident the group will open: held with it.
 * {"op":"emit","k":K,"t":T,"n":N,"since":S}
 *	The group (and its resolve) were spooled, durably, and are closed.
 * {"op":"resolve","k":K,"e":E,"t":T,"n":N,"since":S}
 *	E resolved the key's open incident.
 * {"op":"drop","k":K,"t":T}
 *	The key was evicted for room: forget it.
 * {"op":"key","k":K,"t":T,"until":U,"supp":N,"since":S,"open":B,"open_t":O}
 * {"op":"id","k":K,"e":E,"t":T,"kind":"sent","n":N,"since":S}
 *	Compaction: a key's state (T: its last match) and each eventID it
 *	remembers (kind: sent, supp, member, resolved, held-resolve); a
 *	"group" and a "gres" line follow for a held group.
 *
 * Unknown fields are ignored; an unknown op, a missing or mistyped field,
 * and a line the state does not allow (a "member" with no group, a
 * "resolve" with no open incident...) are -EBADMSG. The file mechanics
 * (lock, append, sync, torn line, compaction's rename) are journal.c's.
 *
 * Memory: keys are an ht.h table; each key has its own such table of
 * eventIDs. Nothing is deleted in place: tables are rebuilt without what
 * expired (growth, sweeps, compaction). Keys with a group are also on a
 * list, so finding due groups costs O(groups), not O(keys).
 * Every state change is prepared first (copies made, room reserved), then
 * written, then applied, which cannot fail: memory matches the journal.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "buf.h"
#include "clock.h"
#include "diag.h"
#include "ht.h"
#include "incident.h"
#include "journal.h"
#include "bounds.h"
#include "rules.h"

#define INCIDENT_JOURNAL "incidents.journal"
/* Compaction: not below this size, and only when at most half is live. */
#define INCIDENT_COMPACT_MIN (1u << 20)
/* Records nest up to 512 deep (trail.c); a line adds two levels. */
#define INCIDENT_MAX_DEPTH 520
/* Rule ids: rules.c allows 128 bytes. Group keys: alert.c cuts them at
 * ALERT_MAX_TEXT, "..." included. */
#define INCIDENT_MAX_RULE_ID 128
#define INCIDENT_MAX_GROUP (ALERT_MAX_TEXT + 16)
#define INCIDENT_MAX_KEY (INCIDENT_MAX_RULE_ID + 1 + INCIDENT_MAX_GROUP)
/* EventIDs are UUIDs; a longer one is hashed. */
#define INCIDENT_MAX_EV 256
#define INCIDENT_EV_SIZE (INCIDENT_MAX_EV + 1)
/* Everything before "alert": a key and the eventIDs of a group, escaped. */
#define INCIDENT_MAX_HEADER (4u << 20)
/* When a cap is hit, sweep expired state at most this often: a sweep is
 * O(state), and at a cap of live state it frees nothing. */
#define INCIDENT_SWEEP_S 60
/* Evict this share of the keys at once, so eviction is amortised. */
#define INCIDENT_EVICT_DIV 16
/* The smallest tables of keys and of a key's eventIDs (most have few). */
#define INCIDENT_KEYS_MIN 16
#define INCIDENT_IDS_MIN 8
/* About what a line costs in the journal beyond its strings. */
#define INCIDENT_LINE_BYTES 96

enum incident_kind {
	INCIDENT_ID_SENT,         /* its alert was sent: send it again */
	INCIDENT_ID_SUPP,         /* counted in a window */
	INCIDENT_ID_MEMBER,       /* held in a group, or emitted with one */
	INCIDENT_ID_RESOLVED,     /* its resolve was sent: send it again */
	INCIDENT_ID_HELD_RESOLVE, /* a resolve held with a group */
	INCIDENT_ID_COUNT
};

struct incident_id {
	/* First: the key is ev; its hash covers whether it is a resolve. */
	struct ht_entry e;
	uint64_t t;
	uint64_t n; /* SENT, RESOLVED: the suppressed count it carried */
	uint64_t since;
	uint8_t kind;
	char ev[];
};

struct incident_group {
	uint64_t opened;
	uint64_t due;
	uint64_t throttle_s; /* the window its emission starts */
	bool resolve_on;     /* its emission opens an incident */
	uint64_t count;      /* matches held */
	char **events;       /* eventIDs, at most INCIDENT_MAX_EVENTS */
	size_t n_events;
	size_t events_cap;
	char *json; /* the first match's alert */
	size_t json_len;
	char *res_ev; /* a resolve held with it */
	char *res_json;
	size_t res_len;
	uint64_t res_t;
};

struct incident_key {
	struct ht_entry e; /* first: the key is "<rule id>\t<group key>" */
	char *rule;        /* the rule id alone */
	const char *group; /* in key */
	uint64_t last_t;   /* the last match */
	uint64_t until;    /* the throttle window ends */
	uint64_t supp;     /* matches counted since the last alert */
	uint64_t since;    /* when the first of them was */
	bool open;         /* an incident: triggered, not resolved */
	uint64_t open_t;   /* its last trigger */
	bool dropped;      /* evicted; its slot goes at the next rebuild */
	struct ht ids;     /* of struct incident_id */
	struct incident_group *g;
	struct incident_key *gnext; /* keys with a group */
	struct incident_key *gprev;
	char text[]; /* the key */
};

struct incident {
	struct journal j;
	uint64_t (*clock_s)(void *arg);
	void *clock_arg;
	uint64_t compact_min;
	uint64_t seed;
	struct json_tokener *tok;

	struct ht keys; /* of struct incident_key */
	struct incident_key *groups;
	size_t n_groups;
	uint64_t n_ids;
	uint64_t n_open;
	uint64_t held;
	uint64_t held_bytes;
	uint64_t last_sweep;
	bool replaying; /* keep everything until the end of the replay */

	bool iterating;
	struct buf line; /* the line being built; empty between calls */
	struct buf key;  /* scratch for lookups */

	uint64_t suppressed_total;
	uint64_t untracked;
	uint64_t evicted;
};

/* What a SEND or an emission adds to the alert's JSON. */
struct incident_extra {
	uint64_t count; /* a group: the matches held; 0: not a group */
	char *const *events;
	size_t n_events;
	uint64_t suppressed;
	uint64_t since;
	bool resolved;
};

/* An eventID about to be remembered: a copy and room, made up front. */
struct incident_newid {
	struct incident_id *id; /* NULL: not remembered (present, or the cap) */
	size_t len;
	uint64_t hash;
	uint8_t kind;
	bool present; /* already there: updated in place */
};

/* What a rebuild of the keys (k NULL) or of k's eventIDs needs. */
struct incident_sweep {
	struct incident *inc;
	struct incident_key *k;
	uint64_t now;
};

/* A match being handled: its key, eventID, alert and time. */
struct incident_match {
	struct incident_key *k;    /* NULL: none (not created) */
	struct incident_id *id;    /* what k remembers of ev; NULL: nothing */
	char ev[INCIDENT_EV_SIZE]; /* as incident_ev() makes it */
	size_t evlen;
	const char *json; /* the alert, as given */
	size_t len;
	struct span js; /* the same, trimmed to its braces */
	uint64_t now;
};

struct incident_replay {
	struct incident *inc;
	struct buf hdr;
	struct diag *reterr;
};

/* What a line naming an eventID carries besides its own fields. */
struct incident_rec {
	const char *ev;
	size_t evlen;
	uint64_t t;
	const char *json; /* "group", "gres": the alert */
	size_t json_len;
};

/* Replays a line naming an eventID, its "e" and "t" read. */
typedef int incident_replay_fn(struct incident_replay *rp,
    struct incident_key *k, struct json_object *hdr,
    const struct incident_rec *rec);

const char *
incident_verdict_str(enum incident_verdict v)
{
	switch (v) {
	case INCIDENT_SEND:
		return "send";
	case INCIDENT_SUPPRESSED:
		return "suppressed";
	case INCIDENT_HELD:
		return "held";
	case INCIDENT_DUPLICATE:
		return "duplicate";
	case INCIDENT_VERDICT_COUNT:
		break;
	}
	return "?";
}

static const char *
incident_kind_str(enum incident_kind k)
{
	switch (k) {
	case INCIDENT_ID_SENT:
		return "sent";
	case INCIDENT_ID_SUPP:
		return "supp";
	case INCIDENT_ID_MEMBER:
		return "member";
	case INCIDENT_ID_RESOLVED:
		return "resolved";
	case INCIDENT_ID_HELD_RESOLVE:
		return "held-resolve";
	case INCIDENT_ID_COUNT:
		break;
	}
	return "?";
}

static bool
incident_kind_res(uint8_t kind)
{
	return kind == INCIDENT_ID_RESOLVED || kind == INCIDENT_ID_HELD_RESOLVE;
}

static uint64_t
incident_now(const struct incident *inc)
{
	return clock_wall_s(inc->clock_s, inc->clock_arg);
}

/* Durations are whole seconds in rules files; round up anyway. */
static uint64_t
incident_secs(uint64_t us)
{
	return us / 1000000 + (us % 1000000 != 0);
}

static uint64_t
incident_id_hash(const struct incident *inc, const char *ev, size_t len,
    bool res)
{
	return ht_hash(inc->seed ^ (res ? 0x9e3779b97f4a7c15ull : 0), ev, len);
}

static bool
incident_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* ---- arguments ------------------------------------------------------- */

/* The alert text trimmed to its braces: one JSON object on one line, as
 * far as its ends tell (what goes into the journal is parsed too). */
static int
incident_json_span(const char *json, size_t len, struct span *ret)
{
	size_t s = 0;
	size_t e = len;

	if (json == NULL || len == 0)
		return -EINVAL;
	if (len > INCIDENT_MAX_ALERT)
		return -E2BIG;
	if (memchr(json, '\n', len) != NULL || memchr(json, '\0', len) != NULL)
		return -EINVAL;
	while (s < len && incident_ws(json[s]))
		s++;
	while (e > s && incident_ws(json[e - 1]))
		e--;
	if (e - s < 2 || json[s] != '{' || json[e - 1] != '}')
		return -EINVAL;
	ret->p = json + s;
	ret->len = e - s;
	return 0;
}

/* "sha256:<hex>" of p, as an eventID. */
static int
incident_digest(const void *p, size_t len, char out[INCIDENT_EV_SIZE],
    size_t *ret_len)
{
	int r;

	r = ht_digest(p, len, out);
	if (r < 0)
		return r;
	*ret_len = HT_DIGEST_LEN;
	return 0;
}

/* The eventID as this module knows it (see the top of the file). */
static int
incident_ev(const char *event_id, const struct span *json,
    char out[INCIDENT_EV_SIZE], size_t *ret_len)
{
	size_t len;

	if (event_id == NULL || event_id[0] == '\0')
		return incident_digest(json->p, json->len, out, ret_len);
	len = strlen(event_id);
	if (len > INCIDENT_MAX_EV)
		return incident_digest(event_id, len, out, ret_len);
	memcpy(out, event_id, len + 1);
	*ret_len = len;
	return 0;
}

/* "<rule id>\t<group key>" into b. Rule ids have no control characters
 * (rules.c), so the tab makes the key unambiguous. */
static int
incident_key_build(struct buf *b, const char *rule_id, const char *group)
{
	size_t rlen;
	int r;

	if (rule_id == NULL || group == NULL)
		return -EINVAL;
	rlen = strlen(rule_id);
	if (!ht_key_rule_ok(rule_id, rlen, INCIDENT_MAX_RULE_ID))
		return -EINVAL;
	if (strlen(group) > INCIDENT_MAX_GROUP)
		return -E2BIG;
	buf_reset(b);
	r = buf_append(b, rule_id, rlen);
	r = r < 0 ? r : buf_putc(b, '\t');
	r = r < 0 ? r : buf_puts(b, group);
	return r;
}

/* A key from the journal: a valid rule id, a tab, a group key. */
static bool
incident_key_valid(const char *key, size_t len)
{
	const char *tab = memchr(key, '\t', len);

	return tab != NULL && len <= INCIDENT_MAX_KEY &&
	    memchr(key, '\0', len) == NULL &&
	    ht_key_rule_ok(key, (size_t)(tab - key), INCIDENT_MAX_RULE_ID);
}

/* ---- eventIDs -------------------------------------------------------- */

static bool
incident_id_res_is(const struct ht_entry *e, const void *arg)
{
	const bool *res = arg;

	return incident_kind_res(((const struct incident_id *)e)->kind) == *res;
}

static struct incident_id *
incident_id_find(const struct incident_key *k, const char *ev, size_t len,
    bool res, uint64_t h)
{
	return (struct incident_id *)ht_find_if(&k->ids, ev, len, h,
	    incident_id_res_is, &res);
}

/*
 * Members and a held resolve stay while the key has a group: they are
 * what keeps a redelivered match out of it. A clock that went back keeps
 * everything: better a miscount than a page twice.
 */
static bool
incident_id_expired(const struct incident *inc, const struct incident_key *k,
    const struct incident_id *id, uint64_t now)
{
	if (inc->replaying)
		return false;
	if (k->g != NULL &&
	    (id->kind == INCIDENT_ID_MEMBER ||
		id->kind == INCIDENT_ID_HELD_RESOLVE))
		return false;
	return now > id->t && now - id->t >= INCIDENT_REMEMBER_S;
}

static bool
incident_id_keep(struct ht_entry *e, void *arg)
{
	const struct incident_sweep *sw = arg;

	return !incident_id_expired(sw->inc, sw->k,
	    (const struct incident_id *)e, sw->now);
}

static void
incident_id_drop(struct ht_entry *e, void *arg)
{
	struct incident_sweep *sw = arg;

	free(e);
	sw->inc->n_ids--;
}

/* Rebuilds k's table with room for extra more, dropping the expired. */
static int
incident_ids_rebuild(struct incident *inc, struct incident_key *k, size_t extra,
    uint64_t now)
{
	struct incident_sweep sw = {inc, k, now};

	return ht_rebuild(&k->ids, extra, incident_id_keep, incident_id_drop,
	    &sw);
}

static void
incident_ids_free(struct incident *inc, struct incident_key *k)
{
	struct incident_sweep sw = {inc, k, 0};

	ht_done(&k->ids, incident_id_drop, &sw);
}

/* Drops expired eventIDs of every key: when INCIDENT_MAX_IDS is hit, at
 * most once per INCIDENT_SWEEP_S. */
static void
incident_ids_sweep(struct incident *inc, uint64_t now)
{
	struct ht_entry *e;
	size_t i = 0;

	if (inc->replaying ||
	    (inc->last_sweep != 0 && now >= inc->last_sweep &&
		now - inc->last_sweep < INCIDENT_SWEEP_S))
		return;
	inc->last_sweep = now;
	while ((e = ht_next(&inc->keys, &i)) != NULL)
		(void)incident_ids_rebuild(inc, (struct incident_key *)e, 0,
		    now);
}

static int
incident_newid_prep(struct incident *inc, struct incident_key *k,
    const char *ev, size_t len, uint8_t kind, uint64_t now,
    struct incident_newid *ret)
{
	struct incident_sweep sw = {inc, k, now};
	bool res = incident_kind_res(kind);
	struct incident_id *id;
	int r;

	memset(ret, 0, sizeof(*ret));
	ret->kind = kind;
	ret->len = len;
	ret->hash = incident_id_hash(inc, ev, len, res);
	if (incident_id_find(k, ev, len, res, ret->hash) != NULL) {
		ret->present = true;
		return 0;
	}
	if (inc->n_ids >= INCIDENT_MAX_IDS)
		incident_ids_sweep(inc, now);
	if (inc->n_ids >= INCIDENT_MAX_IDS && !inc->replaying)
		return 0; /* not remembered: a redelivery counts twice */
	r = ht_reserve(&k->ids, 1, incident_id_keep, incident_id_drop, &sw);
	if (r < 0)
		return r;
	id = calloc(1, sizeof(*id) + len + 1);
	if (id == NULL)
		return -ENOMEM;
	memcpy(id->ev, ev, len);
	id->e.key = id->ev;
	id->e.len = len;
	id->e.hash = ret->hash;
	ret->id = id;
	return 0;
}

static void
incident_newid_done(struct incident_newid *nid)
{
	free(nid->id);
	nid->id = NULL;
}

/* Remembers (or updates) the prepared eventID; cannot fail. */
static void
incident_newid_put(struct incident *inc, struct incident_key *k,
    struct incident_newid *nid, const char *ev, uint64_t t, uint64_t n,
    uint64_t since)
{
	struct incident_id *id = nid->id;

	if (nid->present)
		id = incident_id_find(k, ev, nid->len,
		    incident_kind_res(nid->kind), nid->hash);
	if (id == NULL)
		return;
	id->kind = nid->kind;
	id->t = t;
	id->n = n;
	id->since = since;
	if (nid->present)
		return;
	ht_add(&k->ids, &id->e);
	inc->n_ids++;
	nid->id = NULL;
}

/* ---- groups ---------------------------------------------------------- */

static void
incident_group_free(struct incident_group *g)
{
	size_t i;

	if (g == NULL)
		return;
	for (i = 0; i < g->n_events; i++)
		free(g->events[i]);
	free(g->events);
	free(g->json);
	free(g->res_ev);
	free(g->res_json);
	free(g);
}

/* Room for one more listed eventID (none needed once the list is full). */
static int
incident_group_reserve(struct incident_group *g)
{
	size_t cap;
	char **p;

	if (g->n_events < g->events_cap || g->n_events >= INCIDENT_MAX_EVENTS)
		return 0;
	cap = g->events_cap != 0 ? g->events_cap * 2 : 4;
	if (cap > INCIDENT_MAX_EVENTS)
		cap = INCIDENT_MAX_EVENTS;
	p = realloc(g->events, cap * sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	g->events = p;
	g->events_cap = cap;
	return 0;
}

static int
incident_group_new(const char *json, size_t json_len, const char *ev,
    size_t evlen, struct incident_group **ret)
{
	struct incident_group *g;

	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return -ENOMEM;
	g->json = strndup(json, json_len);
	g->json_len = json_len;
	if (g->json == NULL || incident_group_reserve(g) < 0)
		goto fail;
	g->events[0] = strndup(ev, evlen);
	if (g->events[0] == NULL)
		goto fail;
	g->n_events = 1;
	g->count = 1;
	*ret = g;
	return 0;
fail:
	incident_group_free(g);
	return -ENOMEM;
}

static void
incident_group_link(struct incident *inc, struct incident_key *k,
    struct incident_group *g)
{
	k->g = g;
	k->gprev = NULL;
	k->gnext = inc->groups;
	if (inc->groups != NULL)
		inc->groups->gprev = k;
	inc->groups = k;
	inc->n_groups++;
	inc->held += g->count;
	inc->held_bytes += g->json_len + g->res_len;
}

static void
incident_group_unlink(struct incident *inc, struct incident_key *k)
{
	struct incident_group *g = k->g;

	if (k->gprev != NULL)
		k->gprev->gnext = k->gnext;
	else
		inc->groups = k->gnext;
	if (k->gnext != NULL)
		k->gnext->gprev = k->gprev;
	k->gnext = NULL;
	k->gprev = NULL;
	inc->n_groups--;
	inc->held -= g->count;
	inc->held_bytes -= g->json_len + g->res_len;
	incident_group_free(g);
	k->g = NULL;
}

/* ---- lines ----------------------------------------------------------- */

/* Starts a line: {"op":op,"k":K,"e":E,"t":T, "e" left out for ev NULL. */
static int
incident_put_head(struct buf *b, const char *op, const struct incident_key *k,
    const char *ev, size_t evlen, uint64_t t)
{
	int r;

	r = buf_printf(b, "{\"op\":\"%s\",\"k\":", op);
	r = r < 0 ? r : buf_json_str(b, k->e.key, k->e.len);
	if (r == 0 && ev != NULL) {
		r = buf_puts(b, ",\"e\":");
		r = r < 0 ? r : buf_json_str(b, ev, evlen);
	}
	r = r < 0 ? r : buf_printf(b, ",\"t\":%" PRIu64, t);
	return r;
}

/* Ends a line, with the alert (NULL: none) as its last field. */
static int
incident_put_tail(struct buf *b, const char *alert, size_t len)
{
	int r = 0;

	if (alert != NULL) {
		r = buf_puts(b, JOURNAL_ALERT_FIELD);
		r = r < 0 ? r : buf_append(b, alert, len);
	}
	return r < 0 ? r : buf_puts(b, "}\n");
}

/* The matches k counted since its last alert, and since when. */
static int
incident_put_supp(struct buf *b, const struct incident_key *k)
{
	return buf_printf(b, ",\"n\":%" PRIu64 ",\"since\":%" PRIu64, k->supp,
	    k->since);
}

/* A JSON array of the eventIDs. */
static int
incident_put_events(struct buf *b, char *const *events, size_t n)
{
	size_t i;
	int r;

	r = buf_putc(b, '[');
	for (i = 0; r == 0 && i < n; i++) {
		r = i == 0 ? 0 : buf_putc(b, ',');
		r = r < 0 ? r : buf_json_str(b, events[i], strlen(events[i]));
	}
	return r < 0 ? r : buf_putc(b, ']');
}

/*
 * Ends the line begun in inc->line with the alert (NULL: none) and
 * appends it; r is how beginning it went. inc->line is emptied either way.
 */
static int
incident_line_end(struct incident *inc, int r, const char *alert, size_t len)
{
	r = r < 0 ? r : incident_put_tail(&inc->line, alert, len);
	r = r < 0 ? r
		  : journal_append(&inc->j, inc->line.data, inc->line.len, 1);
	journal_buf_reset(&inc->line);
	return r;
}

/* ---- keys ------------------------------------------------------------ */

static void
incident_key_touch(struct incident_key *k, uint64_t t)
{
	if (t > k->last_t)
		k->last_t = t;
}

static void
incident_key_set_open(struct incident *inc, struct incident_key *k, bool open,
    uint64_t t)
{
	if (open && !k->open)
		inc->n_open++;
	if (!open && k->open)
		inc->n_open--;
	k->open = open;
	if (open)
		k->open_t = t;
}

/* Back to nothing, but for its name; a group is never dropped. */
static void
incident_key_clear(struct incident *inc, struct incident_key *k)
{
	incident_ids_free(inc, k);
	incident_key_set_open(inc, k, false, 0);
	k->last_t = 0;
	k->until = 0;
	k->supp = 0;
	k->since = 0;
	k->open_t = 0;
}

static void
incident_key_free(struct incident *inc, struct incident_key *k)
{
	if (k == NULL)
		return;
	if (k->g != NULL)
		incident_group_unlink(inc, k);
	incident_key_clear(inc, k);
	free(k->rule);
	free(k);
}

/* An incident never resolved is forgotten after INCIDENT_MAX_OPEN_S. */
static void
incident_key_age(struct incident *inc, struct incident_key *k, uint64_t now)
{
	if (k->open && now > k->open_t &&
	    now - k->open_t >= INCIDENT_MAX_OPEN_S)
		incident_key_set_open(inc, k, false, 0);
}

static bool
incident_key_removable(const struct incident *inc, const struct incident_key *k,
    uint64_t now)
{
	if (inc->replaying || k->g != NULL)
		return false;
	if (k->dropped)
		return true;
	if (k->open || now < k->until)
		return false;
	return now >= k->last_t && now - k->last_t >= INCIDENT_REMEMBER_S;
}

/* Ages open incidents too; called twice per key, which ages it once. */
static bool
incident_key_keep(struct ht_entry *e, void *arg)
{
	const struct incident_sweep *sw = arg;
	struct incident_key *k = (struct incident_key *)e;

	if (!sw->inc->replaying)
		incident_key_age(sw->inc, k, sw->now);
	return !incident_key_removable(sw->inc, k, sw->now);
}

static void
incident_key_drop(struct ht_entry *e, void *arg)
{
	const struct incident_sweep *sw = arg;

	incident_key_free(sw->inc, (struct incident_key *)e);
}

/*
 * Rebuilds the key table with room for extra more, freeing the keys that
 * can go (and ageing open incidents). Frees keys: callers hold no key.
 */
static int
incident_keys_rebuild(struct incident *inc, size_t extra, uint64_t now)
{
	struct incident_sweep sw = {inc, NULL, now};

	return ht_rebuild(&inc->keys, extra, incident_key_keep,
	    incident_key_drop, &sw);
}

/* Forgets what expired: eventIDs first, so that a key whose eventIDs all
 * expired may then go too. */
static int
incident_forget(struct incident *inc, uint64_t now)
{
	struct ht_entry *e;
	size_t i = 0;
	int r = 0;

	while (r == 0 && (e = ht_next(&inc->keys, &i)) != NULL)
		r = incident_ids_rebuild(inc, (struct incident_key *)e, 0, now);
	return r < 0 ? r : incident_keys_rebuild(inc, 0, now);
}

static int
incident_cmp_last(const void *a, const void *b)
{
	const struct incident_key *x = *(struct incident_key *const *)a;
	const struct incident_key *y = *(struct incident_key *const *)b;

	if (x->last_t != y->last_t)
		return x->last_t < y->last_t ? -1 : 1;
	return 0;
}

/*
 * Makes room for a key at INCIDENT_MAX_KEYS: drops what expired, else
 * evicts the least recently matched keys that hold no group and no open
 * incident, writing a "drop" line for each. 0: room; 1: none.
 */
static int
incident_keys_room(struct incident *inc, uint64_t now)
{
	struct incident_key **cand;
	struct ht_entry *e;
	struct buf b;
	size_t n = 0;
	size_t want;
	size_t i;
	int r = 0;

	if (inc->keys.n < INCIDENT_MAX_KEYS || inc->replaying)
		return 0;
	if (inc->last_sweep == 0 || now < inc->last_sweep ||
	    now - inc->last_sweep >= INCIDENT_SWEEP_S) {
		incident_ids_sweep(inc, now);
		inc->last_sweep = now;
		r = incident_keys_rebuild(inc, 0, now);
		if (r < 0)
			return r;
		if (inc->keys.n < INCIDENT_MAX_KEYS)
			return 0;
	}
	cand = calloc(inc->keys.n, sizeof(*cand));
	if (cand == NULL)
		return -ENOMEM;
	i = 0;
	while ((e = ht_next(&inc->keys, &i)) != NULL) {
		struct incident_key *k = (struct incident_key *)e;

		if (k->g == NULL && !k->open && !k->dropped)
			cand[n++] = k;
	}
	if (n == 0) {
		free(cand);
		return 1;
	}
	qsort(cand, n, sizeof(*cand), incident_cmp_last);
	want = INCIDENT_MAX_KEYS / INCIDENT_EVICT_DIV;
	if (want > n)
		want = n;
	buf_init(&b, INCIDENT_MAX_LINE);
	for (i = 0; r == 0 && i < want; i++) {
		size_t mark = b.len;

		r = incident_put_head(&b, "drop", cand[i], NULL, 0, now);
		r = r < 0 ? r : buf_puts(&b, "}\n");
		if (r == -E2BIG && i > 0) { /* enough for one write */
			b.len = mark;
			want = i;
			r = 0;
			break;
		}
	}
	r = r < 0 ? r : journal_append(&inc->j, b.data, b.len, want);
	buf_done(&b);
	if (r < 0) {
		free(cand);
		return r;
	}
	for (i = 0; i < want; i++) {
		incident_key_clear(inc, cand[i]);
		cand[i]->dropped = true;
		inc->evicted++;
	}
	free(cand);
	/* Cannot fail for lack of memory in a way that matters: the dropped
	 * keys are empty, and the next rebuild takes them. */
	(void)incident_keys_rebuild(inc, 0, now);
	return 0;
}

/*
 * The key for key/len (validated); created if create is set. *ret NULL:
 * not there (not created). 1: no room for it.
 */
static int
incident_key_raw(struct incident *inc, const char *key, size_t len, bool create,
    uint64_t now, struct incident_key **ret)
{
	struct incident_sweep sw = {inc, NULL, now};
	struct incident_key *k;
	const char *tab;
	uint64_t h = ht_hash(inc->seed, key, len);
	int r;

	k = (struct incident_key *)ht_find(&inc->keys, key, len, h);
	if (k != NULL && k->dropped) {
		if (!create)
			k = NULL;
		else
			k->dropped = false;
	}
	if (k != NULL || !create) {
		*ret = k;
		return 0;
	}
	r = incident_keys_room(inc, now);
	if (r != 0)
		return r;
	r = ht_reserve(&inc->keys, 1, incident_key_keep, incident_key_drop,
	    &sw);
	if (r < 0)
		return r;
	k = calloc(1, sizeof(*k) + len + 1);
	if (k == NULL)
		return -ENOMEM;
	tab = memchr(key, '\t', len);
	k->rule = strndup(key, (size_t)(tab - key));
	if (k->rule == NULL) {
		free(k);
		return -ENOMEM;
	}
	ht_init(&k->ids, INCIDENT_IDS_MIN);
	memcpy(k->text, key, len);
	k->e.key = k->text;
	k->e.len = len;
	k->e.hash = h;
	k->group = k->text + (tab - key) + 1;
	ht_add(&inc->keys, &k->e);
	*ret = k;
	return 0;
}

static int
incident_key_get(struct incident *inc, const char *rule_id, const char *group,
    bool create, uint64_t now, struct incident_key **ret)
{
	int r;

	r = incident_key_build(&inc->key, rule_id, group);
	if (r < 0)
		return r;
	return incident_key_raw(inc, inc->key.data, inc->key.len, create, now,
	    ret);
}

/* ---- output ---------------------------------------------------------- */

static int
incident_put_time(struct buf *b, uint64_t t)
{
	char s[64];
	struct tm tm;
	time_t tt = (time_t)t;

	if (t > (uint64_t)INT64_MAX || gmtime_r(&tt, &tm) == NULL ||
	    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return -EINVAL;
	return buf_printf(b, "\"%s\"", s);
}

/*
 * The alert text with x's fields added before its closing brace; NULL
 * (ret->alert_json) when there is nothing to add. json was checked by
 * incident_json_span().
 */
static int
incident_annotate(const char *json, size_t len, const struct incident_extra *x,
    struct incident_out *ret)
{
	const char *sep = ",";
	struct buf b;
	size_t end = len;
	size_t i = 0;
	int r;

	ret->verdict = INCIDENT_SEND;
	ret->alert_json = NULL;
	ret->len = 0;
	if (x->count == 0 && x->suppressed == 0 && !x->resolved)
		return 0;
	while (end > 0 && incident_ws(json[end - 1]))
		end--;
	end--; /* the closing brace */
	while (incident_ws(json[i]))
		i++;
	for (i++; i < end && incident_ws(json[i]); i++)
		;
	if (i == end)
		sep = ""; /* {} */
	buf_init(&b, INCIDENT_MAX_LINE);
	r = buf_append(&b, json, end);
	if (r == 0 && x->count != 0) {
		r = buf_printf(&b, "%s\"count\":%" PRIu64 ",\"events\":", sep,
		    x->count);
		r = r < 0 ? r : incident_put_events(&b, x->events, x->n_events);
		sep = ",";
	}
	if (r == 0 && x->suppressed != 0) {
		r = buf_printf(&b,
		    "%s\"suppressed\":%" PRIu64 ",\"suppressed_since\":", sep,
		    x->suppressed);
		r = r < 0 ? r : incident_put_time(&b, x->since);
		sep = ",";
	}
	if (r == 0 && x->resolved)
		r = buf_printf(&b, "%s\"status\":\"resolved\"", sep);
	r = r < 0 ? r : buf_append(&b, json + end, len - end);
	if (r < 0) {
		buf_done(&b);
		return r;
	}
	ret->len = b.len;
	ret->alert_json = buf_steal(&b);
	return ret->alert_json == NULL ? -ENOMEM : 0;
}

static void
incident_out_verdict(struct incident_out *ret, enum incident_verdict v)
{
	ret->verdict = v;
	ret->alert_json = NULL;
	ret->len = 0;
}

/*
 * A redelivered match (m->id set): DUPLICATE, or, if its alert (resolve:
 * its resolve) was sent, SEND with the same text again.
 */
static int
incident_redelivery(const struct incident_match *m, bool resolve,
    struct incident_out *ret)
{
	struct incident_extra x;

	if (m->id->kind !=
	    (resolve ? INCIDENT_ID_RESOLVED : INCIDENT_ID_SENT)) {
		incident_out_verdict(ret, INCIDENT_DUPLICATE);
		return 0;
	}
	memset(&x, 0, sizeof(x));
	x.suppressed = m->id->n;
	x.since = m->id->since;
	x.resolved = resolve;
	return incident_annotate(m->json, m->len, &x, ret);
}

void
incident_out_done(struct incident_out *o)
{
	if (o == NULL)
		return;
	free(o->alert_json);
	o->alert_json = NULL;
	o->len = 0;
}

/* ---- state changes (live and replay) -------------------------------- */

static void
incident_apply_send(struct incident *inc, struct incident_key *k,
    struct incident_newid *nid, const char *ev, uint64_t t, uint64_t until,
    bool open, uint64_t n, uint64_t since)
{
	k->until = until;
	if (open)
		incident_key_set_open(inc, k, true, t);
	k->supp = 0;
	k->since = 0;
	incident_newid_put(inc, k, nid, ev, t, n, since);
	incident_key_touch(k, t);
}

static void
incident_apply_supp(struct incident *inc, struct incident_key *k,
    struct incident_newid *nid, const char *ev, uint64_t t)
{
	if (k->supp++ == 0)
		k->since = t;
	incident_newid_put(inc, k, nid, ev, t, 0, 0);
	incident_key_touch(k, t);
}

static void
incident_apply_group(struct incident *inc, struct incident_key *k,
    struct incident_group *g, struct incident_newid *nid, const char *ev,
    uint64_t t)
{
	incident_group_link(inc, k, g);
	incident_newid_put(inc, k, nid, ev, t, 0, 0);
	incident_key_touch(k, t);
}

/* copy: the eventID for the list (NULL once the list is full). */
static void
incident_apply_member(struct incident *inc, struct incident_key *k,
    struct incident_newid *nid, const char *ev, char *copy, uint64_t t)
{
	struct incident_group *g = k->g;

	g->count++;
	inc->held++;
	if (copy != NULL)
		g->events[g->n_events++] = copy;
	if (g->count >= INCIDENT_MAX_EVENTS && g->due > t)
		g->due = t; /* full: out at the next flush */
	incident_newid_put(inc, k, nid, ev, t, 0, 0);
	incident_key_touch(k, t);
}

static void
incident_apply_gres(struct incident *inc, struct incident_key *k,
    struct incident_newid *nid, char *ev, char *json, size_t len, uint64_t t)
{
	struct incident_group *g = k->g;

	g->res_ev = ev;
	g->res_json = json;
	g->res_len = len;
	g->res_t = t;
	inc->held_bytes += len;
	if (g->due > t)
		g->due = t; /* resolved: no point in waiting */
	incident_newid_put(inc, k, nid, ev, t, 0, 0);
	incident_key_touch(k, t);
}

static void
incident_apply_emit(struct incident *inc, struct incident_key *k, uint64_t t)
{
	struct incident_group *g = k->g;
	struct incident_id *id;
	size_t len;

	if (g->res_ev != NULL) {
		/* Triggered and resolved at once. */
		incident_key_set_open(inc, k, false, 0);
		k->until = 0;
		len = strlen(g->res_ev);
		id = incident_id_find(k, g->res_ev, len, true,
		    incident_id_hash(inc, g->res_ev, len, true));
		if (id != NULL) {
			id->kind = INCIDENT_ID_RESOLVED;
			id->n = 0;
			id->since = 0;
		}
	} else {
		k->until = g->throttle_s != 0 ? t + g->throttle_s : 0;
		if (g->resolve_on)
			incident_key_set_open(inc, k, true, t);
	}
	k->supp = 0;
	k->since = 0;
	incident_group_unlink(inc, k);
	incident_key_touch(k, t);
}

static void
incident_apply_resolve(struct incident *inc, struct incident_key *k,
    struct incident_newid *nid, const char *ev, uint64_t t, uint64_t n,
    uint64_t since)
{
	incident_key_set_open(inc, k, false, 0);
	k->until = 0; /* the next trigger is a new incident: page it */
	k->supp = 0;
	k->since = 0;
	incident_newid_put(inc, k, nid, ev, t, n, since);
	incident_key_touch(k, t);
}

/* ---- the live operations --------------------------------------------- */

static int
incident_do_supp(struct incident *inc, const struct incident_match *m)
{
	struct incident_newid nid;
	int r;

	r = incident_newid_prep(inc, m->k, m->ev, m->evlen, INCIDENT_ID_SUPP,
	    m->now, &nid);
	r = r < 0 ? r
		  : incident_put_head(&inc->line, "supp", m->k, m->ev, m->evlen,
			m->now);
	r = incident_line_end(inc, r, NULL, 0);
	if (r < 0) {
		incident_newid_done(&nid);
		return r;
	}
	incident_apply_supp(inc, m->k, &nid, m->ev, m->now);
	inc->suppressed_total++;
	return 0;
}

static int
incident_do_member(struct incident *inc, const struct incident_match *m)
{
	struct incident_group *g = m->k->g;
	struct incident_newid nid;
	char *copy = NULL;
	int r;

	r = incident_newid_prep(inc, m->k, m->ev, m->evlen, INCIDENT_ID_MEMBER,
	    m->now, &nid);
	if (r < 0)
		return r;
	if (g->n_events < INCIDENT_MAX_EVENTS) {
		r = incident_group_reserve(g);
		copy = r < 0 ? NULL : strndup(m->ev, m->evlen);
		r = copy == NULL ? -ENOMEM : 0;
	}
	r = r < 0 ? r
		  : incident_put_head(&inc->line, "member", m->k, m->ev,
			m->evlen, m->now);
	r = incident_line_end(inc, r, NULL, 0);
	if (r < 0) {
		incident_newid_done(&nid);
		free(copy);
		return r;
	}
	incident_apply_member(inc, m->k, &nid, m->ev, copy, m->now);
	return 0;
}

/* Whether m's alert can be held: 1 when held alerts would pass their
 * cap, -EINVAL when it is not one JSON object. */
static int
incident_hold_check(struct incident *inc, const struct incident_match *m)
{
	if (inc->held_bytes + m->js.len > INCIDENT_MAX_HELD_BYTES)
		return 1;
	if (journal_parse_object(inc->tok, m->js.p, m->js.len, NULL) < 0)
		return -EINVAL;
	return 0;
}

/* A "group" line for g but its tail; with its events listed for
 * compaction. */
static int
incident_put_group(struct buf *b, const struct incident_key *k,
    const struct incident_group *g, bool listed)
{
	int r;

	r = incident_put_head(b, "group", k, g->events[0], strlen(g->events[0]),
	    g->opened);
	r = r < 0
	    ? r
	    : buf_printf(b,
		  ",\"due\":%" PRIu64 ",\"thr\":%" PRIu64 ",\"res\":%s", g->due,
		  g->throttle_s, g->resolve_on ? "true" : "false");
	if (r == 0 && listed) {
		r = buf_printf(b,
		    ",\"count\":%" PRIu64 ",\"events\":", g->count);
		r = r < 0 ? r : incident_put_events(b, g->events, g->n_events);
	}
	return r;
}

/* 1: no room to hold it (the caller sends it as is). */
static int
incident_do_group(struct incident *inc, const struct incident_match *m,
    const struct rule *rule)
{
	struct incident_group *g = NULL;
	struct incident_newid nid;
	int r;

	r = incident_hold_check(inc, m);
	if (r != 0)
		return r;
	r = incident_newid_prep(inc, m->k, m->ev, m->evlen, INCIDENT_ID_MEMBER,
	    m->now, &nid);
	if (r < 0)
		return r;
	r = incident_group_new(m->js.p, m->js.len, m->ev, m->evlen, &g);
	if (r == 0) {
		g->opened = m->now;
		g->due = m->now + incident_secs(rule->group_wait_us);
		g->throttle_s = incident_secs(rule->throttle_us);
		g->resolve_on = rule->resolve_on != NULL;
		r = incident_put_group(&inc->line, m->k, g, false);
	}
	r = incident_line_end(inc, r, m->js.p, m->js.len);
	if (r < 0) {
		incident_newid_done(&nid);
		incident_group_free(g);
		return r;
	}
	incident_apply_group(inc, m->k, g, &nid, m->ev, m->now);
	return 0;
}

/*
 * Sends m's alert now, with the matches throttled since the last one: a
 * "send" line, whose alert starts rule's throttle window and opens an
 * incident for a rule with resolve_on; or, resolve set, a "resolve" line,
 * which closes the key's incident and ends its window.
 */
static int
incident_do_send(struct incident *inc, const struct incident_match *m,
    const struct rule *rule, bool resolve, struct incident_out *ret)
{
	struct incident_key *k = m->k;
	struct incident_extra x;
	struct incident_newid nid;
	struct incident_out out;
	uint64_t thr = resolve ? 0 : incident_secs(rule->throttle_us);
	uint64_t until = thr != 0 ? m->now + thr : 0;
	bool open = !resolve && rule->resolve_on != NULL;
	int r;

	memset(&x, 0, sizeof(x));
	x.suppressed = k->supp;
	x.since = k->since;
	x.resolved = resolve;
	r = incident_annotate(m->json, m->len, &x, &out);
	if (r < 0)
		return r;
	r = incident_newid_prep(inc, k, m->ev, m->evlen,
	    resolve ? INCIDENT_ID_RESOLVED : INCIDENT_ID_SENT, m->now, &nid);
	r = r < 0 ? r
		  : incident_put_head(&inc->line, resolve ? "resolve" : "send",
			k, m->ev, m->evlen, m->now);
	if (r == 0 && !resolve)
		r = buf_printf(&inc->line, ",\"until\":%" PRIu64 ",\"open\":%s",
		    until, open ? "true" : "false");
	r = r < 0 ? r : incident_put_supp(&inc->line, k);
	r = incident_line_end(inc, r, NULL, 0);
	if (r < 0) {
		incident_newid_done(&nid);
		incident_out_done(&out);
		return r;
	}
	if (resolve)
		incident_apply_resolve(inc, k, &nid, m->ev, m->now, k->supp,
		    k->since);
	else
		incident_apply_send(inc, k, &nid, m->ev, m->now, until, open,
		    k->supp, k->since);
	*ret = out;
	return 0;
}

static int
incident_check(const struct incident *inc, const struct rule *r,
    const char *group_key, const char *alert_json, struct incident_out *ret)
{
	if (inc->j.broken < 0)
		return inc->j.broken;
	if (inc->iterating)
		return -EBUSY;
	if (r == NULL || r->id == NULL || group_key == NULL ||
	    alert_json == NULL || ret == NULL)
		return -EINVAL;
	return 0;
}

/*
 * Sets m up for a match of r: a trigger's key is created (1: no room for
 * it), a resolve's only looked up; m->id is what the key remembers of the
 * eventID as a trigger's, or as a resolve's.
 */
static int
incident_match_init(struct incident *inc, const struct rule *r,
    const char *group_key, const char *event_id, const char *alert_json,
    size_t len, bool resolve, struct incident_match *m)
{
	int rc;

	memset(m, 0, sizeof(*m));
	m->json = alert_json;
	m->len = len;
	rc = incident_json_span(alert_json, len, &m->js);
	rc = rc < 0 ? rc : incident_ev(event_id, &m->js, m->ev, &m->evlen);
	if (rc < 0)
		return rc;
	m->now = incident_now(inc);
	rc = incident_key_get(inc, r->id, group_key, !resolve, m->now, &m->k);
	if (rc != 0 || m->k == NULL)
		return rc;
	m->id = incident_id_find(m->k, m->ev, m->evlen, resolve,
	    incident_id_hash(inc, m->ev, m->evlen, resolve));
	return 0;
}

int
incident_trigger(struct incident *inc, const struct rule *r,
    const char *group_key, const char *event_id, const char *alert_json,
    size_t len, struct incident_out *ret)
{
	struct incident_match m;
	int rc;

	rc = incident_check(inc, r, group_key, alert_json, ret);
	if (rc < 0)
		return rc;
	if (r->throttle_us == 0 && r->group_wait_us == 0 &&
	    r->resolve_on == NULL) {
		incident_out_verdict(ret, INCIDENT_SEND);
		return 0;
	}
	rc = incident_match_init(inc, r, group_key, event_id, alert_json, len,
	    false, &m);
	if (rc < 0)
		return rc;
	if (rc > 0)
		goto untracked;
	if (m.id != NULL)
		return incident_redelivery(&m, false, ret);
	if (m.k->g != NULL) {
		rc = incident_do_member(inc, &m);
		if (rc == 0)
			incident_out_verdict(ret, INCIDENT_HELD);
		return rc;
	}
	if (m.now < m.k->until) {
		rc = incident_do_supp(inc, &m);
		if (rc == 0)
			incident_out_verdict(ret, INCIDENT_SUPPRESSED);
		return rc;
	}
	if (r->group_wait_us != 0) {
		rc = incident_do_group(inc, &m, r);
		if (rc > 0)
			goto untracked;
		if (rc == 0)
			incident_out_verdict(ret, INCIDENT_HELD);
		return rc;
	}
	return incident_do_send(inc, &m, r, false, ret);
untracked:
	inc->untracked++;
	incident_out_verdict(ret, INCIDENT_SEND);
	return 1;
}

/* A resolve held with the key's group. 1: no room to hold it. */
static int
incident_do_gres(struct incident *inc, const struct incident_match *m)
{
	struct incident_newid nid;
	char *evc = NULL;
	char *json = NULL;
	int r;

	r = incident_hold_check(inc, m);
	if (r != 0)
		return r;
	r = incident_newid_prep(inc, m->k, m->ev, m->evlen,
	    INCIDENT_ID_HELD_RESOLVE, m->now, &nid);
	if (r < 0)
		return r;
	evc = strndup(m->ev, m->evlen);
	json = strndup(m->js.p, m->js.len);
	r = evc == NULL || json == NULL ? -ENOMEM : 0;
	r = r < 0 ? r
		  : incident_put_head(&inc->line, "gres", m->k, m->ev, m->evlen,
			m->now);
	r = incident_line_end(inc, r, m->js.p, m->js.len);
	if (r < 0) {
		incident_newid_done(&nid);
		free(evc);
		free(json);
		return r;
	}
	incident_apply_gres(inc, m->k, &nid, evc, json, m->js.len, m->now);
	return 0;
}

int
incident_resolve(struct incident *inc, const struct rule *r,
    const char *group_key, const char *event_id, const char *alert_json,
    size_t len, struct incident_out *ret)
{
	struct incident_match m;
	struct incident_extra x;
	int rc;

	rc = incident_check(inc, r, group_key, alert_json, ret);
	if (rc < 0)
		return rc;
	rc = incident_match_init(inc, r, group_key, event_id, alert_json, len,
	    true, &m);
	if (rc < 0)
		return rc;
	if (m.k == NULL) {
		incident_out_verdict(ret, INCIDENT_SUPPRESSED);
		return 0;
	}
	if (m.id != NULL)
		return incident_redelivery(&m, true, ret);
	if (m.k->g != NULL && m.k->g->resolve_on && m.k->g->res_ev == NULL) {
		rc = incident_do_gres(inc, &m);
		if (rc == 0)
			incident_out_verdict(ret, INCIDENT_HELD);
		if (rc <= 0)
			return rc;
		/* No room to hold it: send it now, out of order, rather
		 * than lose it. */
		inc->untracked++;
		memset(&x, 0, sizeof(x));
		x.resolved = true;
		rc = incident_annotate(alert_json, len, &x, ret);
		return rc < 0 ? rc : 1;
	}
	if (m.k->open)
		return incident_do_send(inc, &m, r, true, ret);
	incident_out_verdict(ret, INCIDENT_SUPPRESSED);
	return 0;
}

/* ---- groups due ------------------------------------------------------- */

/* Calls emit for k's group and its resolve, if any. */
static int
incident_emit_one(struct incident_key *k, incident_emit_cb *emit, void *arg)
{
	struct incident_group *g = k->g;
	struct incident_extra x;
	struct incident_out out;
	int r;

	memset(&x, 0, sizeof(x));
	x.count = g->count;
	x.events = g->events;
	x.n_events = g->n_events;
	x.suppressed = k->supp;
	x.since = k->since;
	r = incident_annotate(g->json, g->json_len, &x, &out);
	if (r < 0)
		return r;
	r = emit(k->rule, k->group, g->events[0],
	    out.alert_json != NULL ? out.alert_json : g->json,
	    out.alert_json != NULL ? out.len : g->json_len, arg);
	incident_out_done(&out);
	if (r < 0 || g->res_json == NULL)
		return r;
	memset(&x, 0, sizeof(x));
	x.resolved = true;
	r = incident_annotate(g->res_json, g->res_len, &x, &out);
	if (r < 0)
		return r;
	r = emit(k->rule, k->group, g->res_ev, out.alert_json, out.len, arg);
	incident_out_done(&out);
	return r;
}

/* Writes an "emit" line for each of keys[0..n) and closes its group; stops
 * at the first failure (the rest stay open). */
static int
incident_close_groups(struct incident *inc, struct incident_key **keys,
    size_t n, uint64_t now)
{
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < n; i++) {
		struct incident_key *k = keys[i];

		r = incident_put_head(&inc->line, "emit", k, NULL, 0, now);
		r = r < 0 ? r : incident_put_supp(&inc->line, k);
		r = incident_line_end(inc, r, NULL, 0);
		if (r == 0)
			incident_apply_emit(inc, k, now);
	}
	return r;
}

int
incident_flush_due(struct incident *inc, incident_emit_cb *emit,
    incident_sync_cb *sync, void *arg)
{
	struct incident_key **due = NULL;
	struct incident_key *k;
	size_t n = 0;
	uint64_t now;
	int r = 0;

	if (inc->j.broken < 0)
		return inc->j.broken;
	if (inc->iterating)
		return -EBUSY;
	if (emit == NULL)
		return -EINVAL;
	if (inc->n_groups == 0)
		return 0;
	now = incident_now(inc);
	due = calloc(inc->n_groups, sizeof(*due));
	if (due == NULL)
		return -ENOMEM;
	inc->iterating = true;
	for (k = inc->groups; k != NULL; k = k->gnext) {
		if (k->g->due > now)
			continue;
		r = incident_emit_one(k, emit, arg);
		if (r < 0)
			break;
		due[n++] = k;
	}
	inc->iterating = false;
	if (n == 0) {
		free(due);
		return r;
	}
	r = sync != NULL ? sync(arg) : 0;
	if (r < 0) {
		free(due);
		return r;
	}
	r = incident_close_groups(inc, due, n, now);
	free(due);
	return r < 0 ? r : (n > INT_MAX ? INT_MAX : (int)n);
}

long
incident_next_due_s(const struct incident *inc)
{
	const struct incident_key *k;
	uint64_t now;
	uint64_t min = UINT64_MAX;

	if (inc->groups == NULL)
		return -1;
	for (k = inc->groups; k != NULL; k = k->gnext)
		if (k->g->due < min)
			min = k->g->due;
	now = incident_now(inc);
	if (min <= now)
		return 0;
	return min - now > LONG_MAX ? LONG_MAX : (long)(min - now);
}

int
incident_sync(struct incident *inc)
{
	return journal_sync(&inc->j);
}

void
incident_stats(const struct incident *inc, struct incident_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->open_incidents = inc->n_open;
	ret->open_groups = inc->n_groups;
	ret->held_matches = inc->held;
	ret->suppressed_total = inc->suppressed_total;
	ret->keys = inc->keys.n;
	ret->ids = inc->n_ids;
	ret->untracked = inc->untracked;
	ret->evicted = inc->evicted;
	ret->torn_tail = inc->j.torn_tail;
	ret->journal_bytes = inc->j.size;
}

/* ---- replay ---------------------------------------------------------- */

static int
incident_bad(struct incident_replay *rp, const char *why)
{
	return journal_bad(&rp->inc->j, rp->reterr, why);
}

static bool
incident_get_u64(struct json_object *o, const char *name, uint64_t *ret)
{
	int64_t i;

	if (!journal_get_int(o, name, 0, &i))
		return false;
	*ret = (uint64_t)i;
	return true;
}

static int
incident_replay_send(struct incident_replay *rp, struct incident_key *k,
    struct json_object *hdr, const struct incident_rec *rec)
{
	struct incident_newid nid;
	uint64_t until;
	uint64_t n;
	uint64_t since;
	bool open;
	int r;

	if (!incident_get_u64(hdr, "until", &until) ||
	    !journal_get_bool(hdr, "open", &open) ||
	    !incident_get_u64(hdr, "n", &n) ||
	    !incident_get_u64(hdr, "since", &since))
		return incident_bad(rp,
		    "\"until\", \"open\", \"n\" or "
		    "\"since\" missing or bad");
	if (k->g != NULL)
		return incident_bad(rp, "\"send\" while a group is held");
	r = incident_newid_prep(rp->inc, k, rec->ev, rec->evlen,
	    INCIDENT_ID_SENT, rec->t, &nid);
	if (r < 0)
		return r;
	incident_apply_send(rp->inc, k, &nid, rec->ev, rec->t, until, open, n,
	    since);
	return 0;
}

static int
incident_replay_supp(struct incident_replay *rp, struct incident_key *k,
    struct json_object *hdr, const struct incident_rec *rec)
{
	struct incident_newid nid;
	int r;

	(void)hdr;
	r = incident_newid_prep(rp->inc, k, rec->ev, rec->evlen,
	    INCIDENT_ID_SUPP, rec->t, &nid);
	if (r < 0)
		return r;
	incident_apply_supp(rp->inc, k, &nid, rec->ev, rec->t);
	return 0;
}

/* A "group" line's optional "count" and "events" (compaction). */
static int
incident_replay_events(struct incident_replay *rp, struct json_object *hdr,
    struct incident_group *g)
{
	struct json_object *arr;
	const char *s;
	size_t len;
	size_t n;
	size_t i;

	if (json_object_object_get_ex(hdr, "events", &arr)) {
		if (!json_object_is_type(arr, json_type_array))
			return incident_bad(rp, "\"events\" not an array");
		n = json_object_array_length(arr);
		if (n == 0 || n > INCIDENT_MAX_EVENTS)
			return incident_bad(rp, "bad number of \"events\"");
		for (i = 0; i < n; i++) {
			s = journal_str(json_object_array_get_idx(arr, i),
			    INCIDENT_MAX_EV, &len);
			if (s == NULL)
				return incident_bad(rp, "an event is bad");
			if (i == 0) {
				if (len != strlen(g->events[0]) ||
				    memcmp(s, g->events[0], len) != 0)
					return incident_bad(rp,
					    "\"events\" does not start with "
					    "\"e\"");
				continue;
			}
			if (incident_group_reserve(g) < 0)
				return -ENOMEM;
			g->events[g->n_events] = strndup(s, len);
			if (g->events[g->n_events] == NULL)
				return -ENOMEM;
			g->n_events++;
		}
	}
	g->count = g->n_events;
	if (json_object_object_get_ex(hdr, "count", NULL) &&
	    (!incident_get_u64(hdr, "count", &g->count) ||
		g->count < g->n_events))
		return incident_bad(rp, "bad \"count\"");
	return 0;
}

static int
incident_replay_group(struct incident_replay *rp, struct incident_key *k,
    struct json_object *hdr, const struct incident_rec *rec)
{
	struct incident_group *g = NULL;
	struct incident_newid nid;
	int r;

	if (k->g != NULL)
		return incident_bad(rp, "a second group for a key");
	r = incident_group_new(rec->json, rec->json_len, rec->ev, rec->evlen,
	    &g);
	if (r < 0)
		return r;
	g->opened = rec->t;
	if (!incident_get_u64(hdr, "due", &g->due) ||
	    !incident_get_u64(hdr, "thr", &g->throttle_s) ||
	    !journal_get_bool(hdr, "res", &g->resolve_on))
		r = incident_bad(rp,
		    "\"due\", \"thr\" or \"res\" missing or "
		    "bad");
	r = r < 0 ? r : incident_replay_events(rp, hdr, g);
	r = r < 0 ? r
		  : incident_newid_prep(rp->inc, k, rec->ev, rec->evlen,
			INCIDENT_ID_MEMBER, rec->t, &nid);
	if (r < 0) {
		incident_group_free(g);
		return r;
	}
	incident_apply_group(rp->inc, k, g, &nid, rec->ev, rec->t);
	return 0;
}

static int
incident_replay_member(struct incident_replay *rp, struct incident_key *k,
    struct json_object *hdr, const struct incident_rec *rec)
{
	struct incident_newid nid;
	char *copy = NULL;
	int r;

	(void)hdr;
	if (k->g == NULL)
		return incident_bad(rp, "\"member\" with no group");
	if (k->g->n_events < INCIDENT_MAX_EVENTS) {
		if (incident_group_reserve(k->g) < 0)
			return -ENOMEM;
		copy = strndup(rec->ev, rec->evlen);
		if (copy == NULL)
			return -ENOMEM;
	}
	r = incident_newid_prep(rp->inc, k, rec->ev, rec->evlen,
	    INCIDENT_ID_MEMBER, rec->t, &nid);
	if (r < 0) {
		free(copy);
		return r;
	}
	incident_apply_member(rp->inc, k, &nid, rec->ev, copy, rec->t);
	return 0;
}

static int
incident_replay_gres(struct incident_replay *rp, struct incident_key *k,
    struct json_object *hdr, const struct incident_rec *rec)
{
	struct incident_newid nid;
	char *evc;
	char *jc;
	int r;

	(void)hdr;
	if (k->g == NULL || k->g->res_ev != NULL)
		return incident_bad(rp, "\"gres\" with no group, or twice");
	evc = strndup(rec->ev, rec->evlen);
	jc = strndup(rec->json, rec->json_len);
	r = evc == NULL || jc == NULL ? -ENOMEM : 0;
	r = r < 0 ? r
		  : incident_newid_prep(rp->inc, k, rec->ev, rec->evlen,
			INCIDENT_ID_HELD_RESOLVE, rec->t, &nid);
	if (r < 0) {
		free(evc);
		free(jc);
		return r;
	}
	incident_apply_gres(rp->inc, k, &nid, evc, jc, rec->json_len, rec->t);
	return 0;
}

static int
incident_replay_resolve(struct incident_replay *rp, struct incident_key *k,
    struct json_object *hdr, const struct incident_rec *rec)
{
	struct incident_newid nid;
	uint64_t n;
	uint64_t since;
	int r;

	if (!incident_get_u64(hdr, "n", &n) ||
	    !incident_get_u64(hdr, "since", &since))
		return incident_bad(rp, "\"n\" or \"since\" missing or bad");
	if (!k->open)
		return incident_bad(rp, "\"resolve\" with no open incident");
	r = incident_newid_prep(rp->inc, k, rec->ev, rec->evlen,
	    INCIDENT_ID_RESOLVED, rec->t, &nid);
	if (r < 0)
		return r;
	incident_apply_resolve(rp->inc, k, &nid, rec->ev, rec->t, n, since);
	return 0;
}

static int
incident_replay_id(struct incident_replay *rp, struct incident_key *k,
    struct json_object *hdr, const struct incident_rec *rec)
{
	struct incident_newid nid;
	const char *kind;
	size_t klen;
	uint64_t n;
	uint64_t since;
	int i;
	int r;

	kind = journal_get_str(hdr, "kind", 16, &klen);
	if (kind == NULL || !incident_get_u64(hdr, "n", &n) ||
	    !incident_get_u64(hdr, "since", &since))
		return incident_bad(rp,
		    "\"kind\", \"n\" or \"since\" missing "
		    "or bad");
	for (i = 0; i < INCIDENT_ID_COUNT; i++)
		if (strcmp(kind, incident_kind_str(i)) == 0)
			break;
	if (i == INCIDENT_ID_COUNT)
		return incident_bad(rp, "unknown \"kind\"");
	r = incident_newid_prep(rp->inc, k, rec->ev, rec->evlen, (uint8_t)i,
	    rec->t, &nid);
	if (r < 0)
		return r;
	incident_newid_put(rp->inc, k, &nid, rec->ev, rec->t, n, since);
	return 0;
}

/* The lines that name an eventID; alert: theirs carry one. */
static const struct incident_rec_op {
	const char *op;
	incident_replay_fn *fn;
	bool alert;
} incident_rec_ops[] = {
    {"send", incident_replay_send, false},
    {"supp", incident_replay_supp, false},
    {"group", incident_replay_group, true},
    {"member", incident_replay_member, false},
    {"gres", incident_replay_gres, true},
    {"resolve", incident_replay_resolve, false},
    {"id", incident_replay_id, false},
};

static int
incident_replay_key(struct incident_replay *rp, struct incident_key *k,
    struct json_object *hdr)
{
	uint64_t t;
	uint64_t open_t;
	bool open;

	if (!incident_get_u64(hdr, "t", &t) ||
	    !incident_get_u64(hdr, "until", &k->until) ||
	    !incident_get_u64(hdr, "supp", &k->supp) ||
	    !incident_get_u64(hdr, "since", &k->since) ||
	    !journal_get_bool(hdr, "open", &open) ||
	    !incident_get_u64(hdr, "open_t", &open_t))
		return incident_bad(rp, "a \"key\" field is missing or bad");
	k->last_t = t;
	incident_key_set_open(rp->inc, k, open, open_t);
	return 0;
}

/* A line that names no eventID. */
static int
incident_replay_other(struct incident_replay *rp, const char *op,
    struct incident_key *k, struct json_object *hdr)
{
	uint64_t t;

	if (strcmp(op, "key") == 0)
		return incident_replay_key(rp, k, hdr);
	if (strcmp(op, "emit") == 0) {
		if (!incident_get_u64(hdr, "t", &t))
			return incident_bad(rp, "\"t\" missing or negative");
		if (k->g == NULL)
			return incident_bad(rp, "\"emit\" with no group");
		incident_apply_emit(rp->inc, k, t);
		return 0;
	}
	if (strcmp(op, "drop") == 0) {
		if (k->g != NULL)
			return incident_bad(rp,
			    "\"drop\" of a key with a "
			    "group");
		incident_key_clear(rp->inc, k);
		return 0;
	}
	return incident_bad(rp, "unknown op");
}

/* Every line naming an eventID starts with "e" and "t". */
static int
incident_replay_op(struct incident_replay *rp, const char *op,
    struct incident_key *k, struct json_object *hdr, const char *json,
    size_t json_len)
{
	const struct incident_rec_op *ro = NULL;
	struct incident_rec rec = {NULL, 0, 0, json, json_len};
	size_t i;

	for (i = 0; ro == NULL && i < ARRAY_SIZE(incident_rec_ops); i++)
		if (strcmp(op, incident_rec_ops[i].op) == 0)
			ro = &incident_rec_ops[i];
	if (json != NULL && (ro == NULL || !ro->alert))
		return incident_bad(rp, "\"alert\" where none belongs");
	if (ro == NULL)
		return incident_replay_other(rp, op, k, hdr);
	rec.ev = journal_get_str(hdr, "e", INCIDENT_MAX_EV, &rec.evlen);
	if (rec.ev == NULL)
		return incident_bad(rp, "\"e\" missing or bad");
	if (!incident_get_u64(hdr, "t", &rec.t))
		return incident_bad(rp, "\"t\" missing or negative");
	if (ro->alert && json == NULL)
		return incident_bad(rp, "\"alert\" missing or not last");
	return ro->fn(rp, k, hdr, &rec);
}

/* One line (journal_line_cb). */
static int
incident_replay_line(const char *line, size_t len, void *arg)
{
	struct incident_replay *rp = arg;
	struct incident *inc = rp->inc;
	struct incident_key *k = NULL;
	struct journal_line jl;
	const char *key;
	const char *op;
	size_t klen;
	size_t oplen;
	int r;

	r = journal_parse_line(&inc->j, inc->tok, &rp->hdr, INCIDENT_MAX_HEADER,
	    line, len, &jl, rp->reterr);
	if (r < 0)
		return r;
	op = journal_get_str(jl.hdr, "op", 16, &oplen);
	key = journal_get_str(jl.hdr, "k", INCIDENT_MAX_KEY, &klen);
	if (op == NULL)
		r = incident_bad(rp, "\"op\" missing");
	else if (key == NULL || !incident_key_valid(key, klen))
		r = incident_bad(rp, "\"k\" missing or bad");
	else
		r = incident_key_raw(inc, key, klen, true, 0, &k);
	r = r < 0
	    ? r
	    : incident_replay_op(rp, op, k, jl.hdr, jl.alert, jl.alert_len);
	json_object_put(jl.hdr);
	return r;
}

/* Rebuilds the state from the journal (a torn last line cut off). */
static int
incident_replay(struct incident *inc, struct diag *reterr)
{
	struct incident_replay rp;
	int r;

	memset(&rp, 0, sizeof(rp));
	rp.inc = inc;
	rp.reterr = reterr;
	buf_init(&rp.hdr, INCIDENT_MAX_HEADER + 1);
	inc->replaying = true;
	r = journal_replay(&inc->j, INCIDENT_MAX_LINE, incident_replay_line,
	    &rp, reterr);
	inc->replaying = false;
	buf_done(&rp.hdr);
	return r;
}

/* ---- open, free ------------------------------------------------------ */

int
incident_open(const char *dir, const struct incident_opts *o,
    struct incident **ret, struct diag *reterr)
{
	struct incident *inc;
	int r;

	if (dir == NULL || ret == NULL)
		return -EINVAL;
	inc = calloc(1, sizeof(*inc));
	if (inc == NULL)
		return -ENOMEM;
	journal_init(&inc->j);
	ht_init(&inc->keys, INCIDENT_KEYS_MIN);
	inc->compact_min = INCIDENT_COMPACT_MIN;
	inc->seed = ht_seed();
	buf_init(&inc->line, INCIDENT_MAX_LINE);
	buf_init(&inc->key, INCIDENT_MAX_KEY);
	if (o != NULL) {
		inc->clock_s = o->clock_s;
		inc->clock_arg = o->clock_arg;
		if (o->compact_min_bytes != 0)
			inc->compact_min = o->compact_min_bytes;
	}
	inc->tok = json_tokener_new_ex(INCIDENT_MAX_DEPTH);
	if (inc->tok == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	r = journal_open(&inc->j, dir, INCIDENT_JOURNAL, reterr);
	if (r < 0)
		goto fail;
	r = incident_replay(inc, reterr);
	if (r < 0)
		goto fail;
	/* Forget what expired while we were off. */
	r = incident_forget(inc, incident_now(inc));
	if (r < 0)
		goto fail;
	*ret = inc;
	return 0;
fail:
	incident_free(inc);
	return r;
}

void
incident_free(struct incident *inc)
{
	struct incident_sweep sw = {inc, NULL, 0};

	if (inc == NULL)
		return;
	ht_done(&inc->keys, incident_key_drop, &sw);
	if (inc->tok != NULL)
		json_tokener_free(inc->tok);
	journal_done(&inc->j);
	buf_done(&inc->line);
	buf_done(&inc->key);
	free(inc);
}

/* ---- compaction ------------------------------------------------------ */

/* About what the key's lines take after compaction. */
static uint64_t
incident_key_bytes(const struct incident_key *k)
{
	const struct incident_group *g = k->g;
	uint64_t n = INCIDENT_LINE_BYTES + k->e.len;
	struct ht_entry *e;
	size_t i = 0;

	while ((e = ht_next(&k->ids, &i)) != NULL)
		n += INCIDENT_LINE_BYTES + k->e.len + e->len;
	if (g == NULL)
		return n;
	n += INCIDENT_LINE_BYTES + k->e.len + g->json_len;
	for (i = 0; i < g->n_events; i++)
		n += strlen(g->events[i]) + 3;
	if (g->res_json != NULL)
		n += INCIDENT_LINE_BYTES + k->e.len + g->res_len;
	return n;
}

/* The key's state as compaction lines (see the top of the file). */
static int
incident_snapshot(struct buf *b, const struct incident_key *k)
{
	const struct incident_group *g = k->g;
	const struct incident_id *id;
	struct ht_entry *e;
	size_t i = 0;
	int r;

	r = incident_put_head(b, "key", k, NULL, 0, k->last_t);
	r = r < 0 ? r
		  : buf_printf(b,
			",\"until\":%" PRIu64 ",\"supp\":%" PRIu64
			",\"since\":%" PRIu64 ",\"open\":%s,\"open_t\":%" PRIu64
			"}\n",
			k->until, k->supp, k->since, k->open ? "true" : "false",
			k->open_t);
	while (r == 0 && (e = ht_next(&k->ids, &i)) != NULL) {
		id = (const struct incident_id *)e;
		r = incident_put_head(b, "id", k, id->ev, e->len, id->t);
		r = r < 0 ? r
			  : buf_printf(b,
				",\"kind\":\"%s\",\"n\":%" PRIu64
				",\"since\":%" PRIu64 "}\n",
				incident_kind_str(id->kind), id->n, id->since);
	}
	if (r < 0 || g == NULL)
		return r;
	r = incident_put_group(b, k, g, true);
	r = r < 0 ? r : incident_put_tail(b, g->json, g->json_len);
	if (r < 0 || g->res_json == NULL)
		return r;
	r = incident_put_head(b, "gres", k, g->res_ev, strlen(g->res_ev),
	    g->res_t);
	return r < 0 ? r : incident_put_tail(b, g->res_json, g->res_len);
}

static int
incident_rewrite(struct incident *inc)
{
	struct journal_rewrite w;
	struct ht_entry *e;
	size_t i = 0;
	int r;

	r = journal_rewrite_begin(&inc->j, &w, 2 * (size_t)INCIDENT_MAX_LINE);
	if (r < 0)
		return r;
	while (r == 0 && (e = ht_next(&inc->keys, &i)) != NULL) {
		r = incident_snapshot(&w.out, (const struct incident_key *)e);
		r = r < 0 ? r : journal_rewrite_flush(&w);
	}
	if (r < 0) {
		journal_rewrite_abort(&inc->j, &w);
		return r;
	}
	return journal_rewrite_commit(&inc->j, &w);
}

int
incident_compact(struct incident *inc)
{
	struct ht_entry *e;
	uint64_t now;
	uint64_t live = 0;
	size_t i = 0;
	int r;

	if (inc->j.broken < 0)
		return inc->j.broken;
	if (inc->iterating)
		return -EBUSY;
	now = incident_now(inc);
	r = incident_forget(inc, now);
	if (r < 0)
		return r;
	inc->last_sweep = now;
	if (inc->j.size < inc->compact_min)
		return 0;
	while ((e = ht_next(&inc->keys, &i)) != NULL)
		live += incident_key_bytes((const struct incident_key *)e);
	if (live > inc->j.size / 2)
		return 0;
	return incident_rewrite(inc);
}
