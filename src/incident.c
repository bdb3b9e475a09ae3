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
 * Memory: keys are an open-addressing table of pointers (linear probing,
 * load at most 1/2, seeded FNV-1a, as in spool.c); each key has its own
 * such table of eventIDs. Nothing is deleted in place: tables are rebuilt
 * without what expired (growth, sweeps, compaction). Keys with a group are
 * also on a list, so finding due groups costs O(groups), not O(keys).
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
#include <openssl/evp.h>

#include "buf.h"
#include "diag.h"
#include "incident.h"
#include "journal.h"
#include "limits.h"
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
#define INCIDENT_ALERT_FIELD ",\"alert\":"
/* When a cap is hit, sweep expired state at most this often: a sweep is
 * O(state), and at a cap of live state it frees nothing. */
#define INCIDENT_SWEEP_S 60
/* Evict this share of the keys at once, so eviction is amortised. */
#define INCIDENT_EVICT_DIV 16
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
	char *ev; /* NULL: a free slot */
	size_t len;
	uint64_t hash; /* covers whether it is a resolve */
	uint64_t t;
	uint64_t n; /* SENT, RESOLVED: the suppressed count it carried */
	uint64_t since;
	uint8_t kind;
};

struct incident_ids {
	struct incident_id *tab;
	size_t cap; /* 0 or a power of two */
	size_t n;
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
	char *key; /* "<rule id>\t<group key>" */
	size_t len;
	uint64_t hash;
	char *rule;        /* the rule id alone */
	const char *group; /* in key */
	uint64_t last_t;   /* the last match */
	uint64_t until;    /* the throttle window ends */
	uint64_t supp;     /* matches counted since the last alert */
	uint64_t since;    /* when the first of them was */
	bool open;         /* an incident: triggered, not resolved */
	uint64_t open_t;   /* its last trigger */
	bool dropped;      /* evicted; its slot goes at the next rebuild */
	struct incident_ids ids;
	struct incident_group *g;
	struct incident_key *gnext; /* keys with a group */
	struct incident_key *gprev;
};

struct incident {
	struct journal j;
	uint64_t (*clock_s)(void *arg);
	void *clock_arg;
	uint64_t compact_min;
	uint64_t seed;
	struct json_tokener *tok;

	struct incident_key **keys;
	size_t keys_cap; /* 0 or a power of two */
	size_t n_keys;
	struct incident_key *groups;
	size_t n_groups;
	uint64_t n_ids;
	uint64_t n_open;
	uint64_t held;
	uint64_t held_bytes;
	uint64_t last_sweep;
	bool replaying; /* keep everything until the end of the replay */

	bool iterating;
	struct buf line;
	struct buf key; /* scratch for lookups */

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
	char *ev; /* NULL: not remembered (present, or the cap) */
	size_t len;
	uint64_t hash;
	uint8_t kind;
	bool present; /* already there: updated in place */
};

struct incident_replay {
	struct incident *inc;
	struct buf hdr;
	struct diag *reterr;
};

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
	if (inc->clock_s != NULL)
		return inc->clock_s(inc->clock_arg);
	return (uint64_t)time(NULL);
}

/* Durations are whole seconds in rules files; round up anyway. */
static uint64_t
incident_secs(uint64_t us)
{
	return us / 1000000 + (us % 1000000 != 0);
}

static uint64_t
incident_hash(uint64_t seed, const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull ^ seed;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t
incident_id_hash(const struct incident *inc, const char *ev, size_t len,
    bool res)
{
	return incident_hash(inc->seed ^ (res ? 0x9e3779b97f4a7c15ull : 0), ev,
	    len);
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

/* One whole JSON object, nothing after it. */
static int
incident_json_parse(struct incident *inc, const char *s, size_t len)
{
	struct json_object *o;
	bool good;

	if (len > INT_MAX)
		return -EBADMSG;
	json_tokener_reset(inc->tok);
	o = json_tokener_parse_ex(inc->tok, s, (int)len);
	good = o != NULL && json_tokener_get_parse_end(inc->tok) == len &&
	    json_object_is_type(o, json_type_object);
	json_object_put(o);
	return good ? 0 : -EBADMSG;
}

static int
incident_sha256_hex(const void *p, size_t len, char *out, size_t *ret_len)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n;
	unsigned int i;

	if (EVP_Digest(p, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return -ENOMEM;
	memcpy(out, "sha256:", 7);
	for (i = 0; i < n; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[7 + 2 * i + 1] = hex[md[i] & 15];
	}
	out[7 + 2 * n] = '\0';
	*ret_len = 7 + 2 * n;
	return 0;
}

/* The eventID as this module knows it (see the top of the file). */
static int
incident_ev(const char *event_id, const struct span *json,
    char out[INCIDENT_EV_SIZE], size_t *ret_len)
{
	size_t len;

	if (event_id == NULL || event_id[0] == '\0')
		return incident_sha256_hex(json->p, json->len, out, ret_len);
	len = strlen(event_id);
	if (len > INCIDENT_MAX_EV)
		return incident_sha256_hex(event_id, len, out, ret_len);
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
	size_t i;
	int r;

	if (rule_id == NULL || group == NULL)
		return -EINVAL;
	rlen = strlen(rule_id);
	if (rlen == 0 || rlen > INCIDENT_MAX_RULE_ID)
		return -EINVAL;
	for (i = 0; i < rlen; i++)
		if ((unsigned char)rule_id[i] < 0x20 || rule_id[i] == 0x7f)
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
	size_t i;

	if (tab == NULL || tab == key || tab - key > INCIDENT_MAX_RULE_ID ||
	    len > INCIDENT_MAX_KEY || memchr(key, '\0', len) != NULL)
		return false;
	for (i = 0; key + i < tab; i++)
		if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f)
			return false;
	return true;
}

/* ---- eventIDs -------------------------------------------------------- */

static struct incident_id *
incident_id_find(const struct incident_key *k, const char *ev, size_t len,
    bool res, uint64_t h)
{
	struct incident_id *id;
	size_t mask;
	size_t i;

	if (k->ids.cap == 0)
		return NULL;
	mask = k->ids.cap - 1;
	for (i = h & mask;; i = (i + 1) & mask) {
		id = &k->ids.tab[i];
		if (id->ev == NULL)
			return NULL;
		if (id->hash == h && id->len == len &&
		    incident_kind_res(id->kind) == res &&
		    memcmp(id->ev, ev, len) == 0)
			return id;
	}
}

static void
incident_id_place(struct incident_id *tab, size_t cap,
    const struct incident_id *id)
{
	size_t i;

	for (i = id->hash & (cap - 1); tab[i].ev != NULL;
	     i = (i + 1) & (cap - 1))
		;
	tab[i] = *id;
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

/* Rebuilds k's table with room for extra more, dropping the expired. */
static int
incident_ids_rebuild(struct incident *inc, struct incident_key *k, size_t extra,
    uint64_t now)
{
	struct incident_id *tab;
	struct incident_id *id;
	size_t keep = 0;
	size_t cap = 8;
	size_t i;

	for (i = 0; i < k->ids.cap; i++)
		if (k->ids.tab[i].ev != NULL &&
		    !incident_id_expired(inc, k, &k->ids.tab[i], now))
			keep++;
	if (keep + extra == 0) {
		cap = 0;
		tab = NULL;
	} else {
		if (keep + extra > SIZE_MAX / 4 / sizeof(*tab))
			return -ENOMEM;
		while (cap < 2 * (keep + extra))
			cap *= 2;
		tab = calloc(cap, sizeof(*tab));
		if (tab == NULL)
			return -ENOMEM;
	}
	for (i = 0; i < k->ids.cap; i++) {
		id = &k->ids.tab[i];
		if (id->ev == NULL)
			continue;
		if (incident_id_expired(inc, k, id, now)) {
			free(id->ev);
			inc->n_ids--;
			continue;
		}
		incident_id_place(tab, cap, id);
	}
	free(k->ids.tab);
	k->ids.tab = tab;
	k->ids.cap = cap;
	k->ids.n = keep;
	return 0;
}

static void
incident_ids_free(struct incident *inc, struct incident_key *k)
{
	size_t i;

	for (i = 0; i < k->ids.cap; i++)
		free(k->ids.tab[i].ev);
	free(k->ids.tab);
	inc->n_ids -= k->ids.n;
	memset(&k->ids, 0, sizeof(k->ids));
}

/* Drops expired eventIDs of every key: when INCIDENT_MAX_IDS is hit, at
 * most once per INCIDENT_SWEEP_S. */
static void
incident_ids_sweep(struct incident *inc, uint64_t now)
{
	size_t i;

	if (inc->replaying ||
	    (inc->last_sweep != 0 && now >= inc->last_sweep &&
		now - inc->last_sweep < INCIDENT_SWEEP_S))
		return;
	inc->last_sweep = now;
	for (i = 0; i < inc->keys_cap; i++)
		if (inc->keys[i] != NULL)
			(void)incident_ids_rebuild(inc, inc->keys[i], 0, now);
}

static int
incident_newid_prep(struct incident *inc, struct incident_key *k,
    const char *ev, size_t len, uint8_t kind, uint64_t now,
    struct incident_newid *ret)
{
	bool res = incident_kind_res(kind);
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
	if (2 * (k->ids.n + 1) > k->ids.cap) {
		r = incident_ids_rebuild(inc, k, k->ids.n + 1, now);
		if (r < 0)
			return r;
	}
	ret->ev = strndup(ev, len);
	return ret->ev == NULL ? -ENOMEM : 0;
}

static void
incident_newid_done(struct incident_newid *nid)
{
	free(nid->ev);
	nid->ev = NULL;
}

/* Remembers (or updates) the prepared eventID; cannot fail. */
static void
incident_newid_put(struct incident *inc, struct incident_key *k,
    struct incident_newid *nid, const char *ev, uint64_t t, uint64_t n,
    uint64_t since)
{
	struct incident_id id;
	struct incident_id *p;

	if (nid->present) {
		p = incident_id_find(k, ev, nid->len,
		    incident_kind_res(nid->kind), nid->hash);
		if (p != NULL) {
			p->kind = nid->kind;
			p->t = t;
			p->n = n;
			p->since = since;
		}
		return;
	}
	if (nid->ev == NULL)
		return;
	id.ev = nid->ev;
	id.len = nid->len;
	id.hash = nid->hash;
	id.t = t;
	id.n = n;
	id.since = since;
	id.kind = nid->kind;
	incident_id_place(k->ids.tab, k->ids.cap, &id);
	k->ids.n++;
	inc->n_ids++;
	nid->ev = NULL;
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
	free(k->key);
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

static struct incident_key *
incident_key_find(const struct incident *inc, const char *key, size_t len,
    uint64_t h)
{
	struct incident_key *k;
	size_t mask;
	size_t i;

	if (inc->keys_cap == 0)
		return NULL;
	mask = inc->keys_cap - 1;
	for (i = h & mask;; i = (i + 1) & mask) {
		k = inc->keys[i];
		if (k == NULL)
			return NULL;
		if (k->hash == h && k->len == len &&
		    memcmp(k->key, key, len) == 0)
			return k;
	}
}

static void
incident_key_place(struct incident_key **tab, size_t cap,
    struct incident_key *k)
{
	size_t i;

	for (i = k->hash & (cap - 1); tab[i] != NULL; i = (i + 1) & (cap - 1))
		;
	tab[i] = k;
}

/*
 * Rebuilds the key table with room for extra more, freeing the keys that
 * can go (and ageing open incidents). Frees keys: callers hold no key.
 */
static int
incident_keys_rebuild(struct incident *inc, size_t extra, uint64_t now)
{
	struct incident_key **tab;
	struct incident_key *k;
	size_t keep = 0;
	size_t cap = 16;
	size_t i;

	for (i = 0; i < inc->keys_cap; i++) {
		k = inc->keys[i];
		if (k == NULL)
			continue;
		if (!inc->replaying)
			incident_key_age(inc, k, now);
		if (!incident_key_removable(inc, k, now))
			keep++;
	}
	if (keep + extra > SIZE_MAX / 4 / sizeof(*tab))
		return -ENOMEM;
	while (cap < 2 * (keep + extra))
		cap *= 2;
	tab = calloc(cap, sizeof(*tab));
	if (tab == NULL)
		return -ENOMEM;
	for (i = 0; i < inc->keys_cap; i++) {
		k = inc->keys[i];
		if (k == NULL)
			continue;
		if (incident_key_removable(inc, k, now)) {
			incident_key_free(inc, k);
			continue;
		}
		incident_key_place(tab, cap, k);
	}
	free(inc->keys);
	inc->keys = tab;
	inc->keys_cap = cap;
	inc->n_keys = keep;
	return 0;
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
	struct buf b;
	size_t n = 0;
	size_t want;
	size_t i;
	int r = 0;

	if (inc->n_keys < INCIDENT_MAX_KEYS || inc->replaying)
		return 0;
	if (inc->last_sweep == 0 || now < inc->last_sweep ||
	    now - inc->last_sweep >= INCIDENT_SWEEP_S) {
		incident_ids_sweep(inc, now);
		inc->last_sweep = now;
		r = incident_keys_rebuild(inc, 0, now);
		if (r < 0)
			return r;
		if (inc->n_keys < INCIDENT_MAX_KEYS)
			return 0;
	}
	cand = calloc(inc->n_keys, sizeof(*cand));
	if (cand == NULL)
		return -ENOMEM;
	for (i = 0; i < inc->keys_cap; i++) {
		struct incident_key *k = inc->keys[i];

		if (k != NULL && k->g == NULL && !k->open && !k->dropped)
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

		r = buf_puts(&b, "{\"op\":\"drop\",\"k\":");
		r = r < 0 ? r : buf_json_str(&b, cand[i]->key, cand[i]->len);
		r = r < 0 ? r : buf_printf(&b, ",\"t\":%" PRIu64 "}\n", now);
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
	struct incident_key *k;
	const char *tab;
	uint64_t h = incident_hash(inc->seed, key, len);
	int r;

	k = incident_key_find(inc, key, len, h);
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
	if (2 * (inc->n_keys + 1) > inc->keys_cap) {
		r = incident_keys_rebuild(inc, inc->n_keys + 1, now);
		if (r < 0)
			return r;
	}
	k = calloc(1, sizeof(*k));
	if (k == NULL)
		return -ENOMEM;
	tab = memchr(key, '\t', len);
	k->key = strndup(key, len);
	k->rule = strndup(key, (size_t)(tab - key));
	if (k->key == NULL || k->rule == NULL) {
		free(k->key);
		free(k->rule);
		free(k);
		return -ENOMEM;
	}
	k->len = len;
	k->hash = h;
	k->group = k->key + (tab - key) + 1;
	incident_key_place(inc->keys, inc->keys_cap, k);
	inc->n_keys++;
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
		r = buf_printf(&b, "%s\"count\":%" PRIu64 ",\"events\":[", sep,
		    x->count);
		for (i = 0; r == 0 && i < x->n_events; i++) {
			r = i == 0 ? 0 : buf_putc(&b, ',');
			r = r < 0 ? r
				  : buf_json_str(&b, x->events[i],
					strlen(x->events[i]));
		}
		r = r < 0 ? r : buf_putc(&b, ']');
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

/* An alert sent again (a redelivery of what it was sent for). */
static int
incident_out_again(const char *json, size_t len, const struct incident_id *id,
    bool resolved, struct incident_out *ret)
{
	struct incident_extra x;

	memset(&x, 0, sizeof(x));
	x.suppressed = id->n;
	x.since = id->since;
	x.resolved = resolved;
	return incident_annotate(json, len, &x, ret);
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

/* ---- lines ----------------------------------------------------------- */

static int
incident_line_head(struct buf *b, const char *op, const struct incident_key *k,
    const char *ev, size_t evlen, uint64_t t)
{
	int r;

	buf_reset(b);
	r = buf_printf(b, "{\"op\":\"%s\",\"k\":", op);
	r = r < 0 ? r : buf_json_str(b, k->key, k->len);
	if (r == 0 && ev != NULL) {
		r = buf_puts(b, ",\"e\":");
		r = r < 0 ? r : buf_json_str(b, ev, evlen);
	}
	r = r < 0 ? r : buf_printf(b, ",\"t\":%" PRIu64, t);
	return r;
}

static int
incident_line_tail(struct buf *b, const char *alert, size_t len)
{
	int r = 0;

	if (alert != NULL) {
		r = buf_puts(b, INCIDENT_ALERT_FIELD);
		r = r < 0 ? r : buf_append(b, alert, len);
	}
	return r < 0 ? r : buf_puts(b, "}\n");
}

static int
incident_line_write(struct incident *inc)
{
	int r;

	r = journal_append(&inc->j, inc->line.data, inc->line.len, 1);
	journal_buf_reset(&inc->line);
	return r;
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
incident_do_supp(struct incident *inc, struct incident_key *k, const char *ev,
    size_t evlen, uint64_t now)
{
	struct incident_newid nid;
	int r;

	r = incident_newid_prep(inc, k, ev, evlen, INCIDENT_ID_SUPP, now, &nid);
	r = r < 0 ? r
		  : incident_line_head(&inc->line, "supp", k, ev, evlen, now);
	r = r < 0 ? r : incident_line_tail(&inc->line, NULL, 0);
	r = r < 0 ? r : incident_line_write(inc);
	if (r < 0) {
		journal_buf_reset(&inc->line);
		incident_newid_done(&nid);
		return r;
	}
	incident_apply_supp(inc, k, &nid, ev, now);
	inc->suppressed_total++;
	return 0;
}

static int
incident_do_member(struct incident *inc, struct incident_key *k, const char *ev,
    size_t evlen, uint64_t now)
{
	struct incident_newid nid;
	char *copy = NULL;
	int r;

	r = incident_newid_prep(inc, k, ev, evlen, INCIDENT_ID_MEMBER, now,
	    &nid);
	if (r < 0)
		return r;
	if (k->g->n_events < INCIDENT_MAX_EVENTS) {
		r = incident_group_reserve(k->g);
		copy = r < 0 ? NULL : strndup(ev, evlen);
		r = copy == NULL ? -ENOMEM : 0;
	}
	r = r < 0 ? r
		  : incident_line_head(&inc->line, "member", k, ev, evlen, now);
	r = r < 0 ? r : incident_line_tail(&inc->line, NULL, 0);
	r = r < 0 ? r : incident_line_write(inc);
	if (r < 0) {
		journal_buf_reset(&inc->line);
		incident_newid_done(&nid);
		free(copy);
		return r;
	}
	incident_apply_member(inc, k, &nid, ev, copy, now);
	return 0;
}

/* 1: no room to hold it (the caller sends it as is). */
static int
incident_do_group(struct incident *inc, struct incident_key *k,
    const struct rule *rule, const char *ev, size_t evlen,
    const struct span *js, uint64_t now)
{
	struct incident_group *g = NULL;
	struct incident_newid nid;
	int r;

	if (inc->held_bytes + js->len > INCIDENT_MAX_HELD_BYTES)
		return 1;
	r = incident_json_parse(inc, js->p, js->len);
	if (r < 0)
		return -EINVAL;
	r = incident_newid_prep(inc, k, ev, evlen, INCIDENT_ID_MEMBER, now,
	    &nid);
	if (r < 0)
		return r;
	r = incident_group_new(js->p, js->len, ev, evlen, &g);
	if (r == 0) {
		g->opened = now;
		g->due = now + incident_secs(rule->group_wait_us);
		g->throttle_s = incident_secs(rule->throttle_us);
		g->resolve_on = rule->resolve_on != NULL;
	}
	r = r < 0 ? r
		  : incident_line_head(&inc->line, "group", k, ev, evlen, now);
	r = r < 0
	    ? r
	    : buf_printf(&inc->line,
		  ",\"due\":%" PRIu64 ",\"thr\":%" PRIu64 ",\"res\":%s", g->due,
		  g->throttle_s, g->resolve_on ? "true" : "false");
	r = r < 0 ? r : incident_line_tail(&inc->line, js->p, js->len);
	r = r < 0 ? r : incident_line_write(inc);
	if (r < 0) {
		journal_buf_reset(&inc->line);
		incident_newid_done(&nid);
		incident_group_free(g);
		return r;
	}
	incident_apply_group(inc, k, g, &nid, ev, now);
	return 0;
}

static int
incident_do_send(struct incident *inc, struct incident_key *k,
    const struct rule *rule, const char *ev, size_t evlen, const char *json,
    size_t len, uint64_t now, struct incident_out *ret)
{
	struct incident_extra x;
	struct incident_newid nid;
	struct incident_out out;
	uint64_t thr = incident_secs(rule->throttle_us);
	uint64_t until = thr != 0 ? now + thr : 0;
	bool open = rule->resolve_on != NULL;
	int r;

	memset(&x, 0, sizeof(x));
	x.suppressed = k->supp;
	x.since = k->since;
	r = incident_annotate(json, len, &x, &out);
	if (r < 0)
		return r;
	r = incident_newid_prep(inc, k, ev, evlen, INCIDENT_ID_SENT, now, &nid);
	r = r < 0 ? r
		  : incident_line_head(&inc->line, "send", k, ev, evlen, now);
	r = r < 0 ? r
		  : buf_printf(&inc->line,
			",\"until\":%" PRIu64 ",\"open\":%s,\"n\":%" PRIu64
			",\"since\":%" PRIu64,
			until, open ? "true" : "false", k->supp, k->since);
	r = r < 0 ? r : incident_line_tail(&inc->line, NULL, 0);
	r = r < 0 ? r : incident_line_write(inc);
	if (r < 0) {
		journal_buf_reset(&inc->line);
		incident_newid_done(&nid);
		incident_out_done(&out);
		return r;
	}
	incident_apply_send(inc, k, &nid, ev, now, until, open, k->supp,
	    k->since);
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

int
incident_trigger(struct incident *inc, const struct rule *r,
    const char *group_key, const char *event_id, const char *alert_json,
    size_t len, struct incident_out *ret)
{
	char ev[INCIDENT_EV_SIZE];
	struct incident_key *k = NULL;
	struct incident_id *id;
	struct span js;
	size_t evlen;
	uint64_t now;
	int rc;

	rc = incident_check(inc, r, group_key, alert_json, ret);
	if (rc < 0)
		return rc;
	if (r->throttle_us == 0 && r->group_wait_us == 0 &&
	    r->resolve_on == NULL) {
		incident_out_verdict(ret, INCIDENT_SEND);
		return 0;
	}
	rc = incident_json_span(alert_json, len, &js);
	rc = rc < 0 ? rc : incident_ev(event_id, &js, ev, &evlen);
	if (rc < 0)
		return rc;
	now = incident_now(inc);
	rc = incident_key_get(inc, r->id, group_key, true, now, &k);
	if (rc < 0)
		return rc;
	if (rc > 0)
		goto untracked;
	id = incident_id_find(k, ev, evlen, false,
	    incident_id_hash(inc, ev, evlen, false));
	if (id != NULL && id->kind == INCIDENT_ID_SENT)
		return incident_out_again(alert_json, len, id, false, ret);
	if (id != NULL) {
		incident_out_verdict(ret, INCIDENT_DUPLICATE);
		return 0;
	}
	if (k->g != NULL) {
		rc = incident_do_member(inc, k, ev, evlen, now);
		if (rc == 0)
			incident_out_verdict(ret, INCIDENT_HELD);
		return rc;
	}
	if (now < k->until) {
		rc = incident_do_supp(inc, k, ev, evlen, now);
		if (rc == 0)
			incident_out_verdict(ret, INCIDENT_SUPPRESSED);
		return rc;
	}
	if (r->group_wait_us != 0) {
		rc = incident_do_group(inc, k, r, ev, evlen, &js, now);
		if (rc > 0)
			goto untracked;
		if (rc == 0)
			incident_out_verdict(ret, INCIDENT_HELD);
		return rc;
	}
	return incident_do_send(inc, k, r, ev, evlen, alert_json, len, now,
	    ret);
untracked:
	inc->untracked++;
	incident_out_verdict(ret, INCIDENT_SEND);
	return 1;
}

/* A resolve held with the key's group. 1: no room to hold it. */
static int
incident_do_gres(struct incident *inc, struct incident_key *k, const char *ev,
    size_t evlen, const struct span *js, uint64_t now)
{
	struct incident_newid nid;
	char *evc = NULL;
	char *json = NULL;
	int r;

	if (inc->held_bytes + js->len > INCIDENT_MAX_HELD_BYTES)
		return 1;
	r = incident_json_parse(inc, js->p, js->len);
	if (r < 0)
		return -EINVAL;
	r = incident_newid_prep(inc, k, ev, evlen, INCIDENT_ID_HELD_RESOLVE,
	    now, &nid);
	if (r < 0)
		return r;
	evc = strndup(ev, evlen);
	json = strndup(js->p, js->len);
	r = evc == NULL || json == NULL ? -ENOMEM : 0;
	r = r < 0 ? r
		  : incident_line_head(&inc->line, "gres", k, ev, evlen, now);
	r = r < 0 ? r : incident_line_tail(&inc->line, js->p, js->len);
	r = r < 0 ? r : incident_line_write(inc);
	if (r < 0) {
		journal_buf_reset(&inc->line);
		incident_newid_done(&nid);
		free(evc);
		free(json);
		return r;
	}
	incident_apply_gres(inc, k, &nid, evc, json, js->len, now);
	return 0;
}

static int
incident_do_resolve(struct incident *inc, struct incident_key *k,
    const char *ev, size_t evlen, const char *json, size_t len, uint64_t now,
    struct incident_out *ret)
{
	struct incident_extra x;
	struct incident_newid nid;
	struct incident_out out;
	int r;

	memset(&x, 0, sizeof(x));
	x.suppressed = k->supp;
	x.since = k->since;
	x.resolved = true;
	r = incident_annotate(json, len, &x, &out);
	if (r < 0)
		return r;
	r = incident_newid_prep(inc, k, ev, evlen, INCIDENT_ID_RESOLVED, now,
	    &nid);
	r = r < 0
	    ? r
	    : incident_line_head(&inc->line, "resolve", k, ev, evlen, now);
	r = r < 0
	    ? r
	    : buf_printf(&inc->line, ",\"n\":%" PRIu64 ",\"since\":%" PRIu64,
		  k->supp, k->since);
	r = r < 0 ? r : incident_line_tail(&inc->line, NULL, 0);
	r = r < 0 ? r : incident_line_write(inc);
	if (r < 0) {
		journal_buf_reset(&inc->line);
		incident_newid_done(&nid);
		incident_out_done(&out);
		return r;
	}
	incident_apply_resolve(inc, k, &nid, ev, now, k->supp, k->since);
	*ret = out;
	return 0;
}

int
incident_resolve(struct incident *inc, const struct rule *r,
    const char *group_key, const char *event_id, const char *alert_json,
    size_t len, struct incident_out *ret)
{
	char ev[INCIDENT_EV_SIZE];
	struct incident_key *k = NULL;
	struct incident_id *id;
	struct incident_extra x;
	struct span js;
	size_t evlen;
	uint64_t now;
	int rc;

	rc = incident_check(inc, r, group_key, alert_json, ret);
	if (rc < 0)
		return rc;
	rc = incident_json_span(alert_json, len, &js);
	rc = rc < 0 ? rc : incident_ev(event_id, &js, ev, &evlen);
	if (rc < 0)
		return rc;
	now = incident_now(inc);
	rc = incident_key_get(inc, r->id, group_key, false, now, &k);
	if (rc < 0)
		return rc;
	if (k == NULL) {
		incident_out_verdict(ret, INCIDENT_SUPPRESSED);
		return 0;
	}
	id = incident_id_find(k, ev, evlen, true,
	    incident_id_hash(inc, ev, evlen, true));
	if (id != NULL && id->kind == INCIDENT_ID_RESOLVED)
		return incident_out_again(alert_json, len, id, true, ret);
	if (id != NULL) {
		incident_out_verdict(ret, INCIDENT_DUPLICATE);
		return 0;
	}
	if (k->g != NULL && k->g->resolve_on && k->g->res_ev == NULL) {
		rc = incident_do_gres(inc, k, ev, evlen, &js, now);
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
	if (k->open)
		return incident_do_resolve(inc, k, ev, evlen, alert_json, len,
		    now, ret);
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
	struct buf *b = &inc->line;
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < n; i++) {
		struct incident_key *k = keys[i];

		r = incident_line_head(b, "emit", k, NULL, 0, now);
		r = r < 0 ? r
			  : buf_printf(b,
				",\"n\":%" PRIu64 ",\"since\":%" PRIu64 "}\n",
				k->supp, k->since);
		r = r < 0 ? r : journal_append(&inc->j, b->data, b->len, 1);
		if (r == 0)
			incident_apply_emit(inc, k, now);
	}
	journal_buf_reset(&inc->line);
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
	ret->keys = inc->n_keys;
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
	struct json_object *v;
	int64_t i;

	if (!json_object_object_get_ex(o, name, &v) ||
	    !json_object_is_type(v, json_type_int))
		return false;
	i = json_object_get_int64(v);
	if (i < 0 || i == INT64_MAX)
		return false;
	*ret = (uint64_t)i;
	return true;
}

static bool
incident_get_bool(struct json_object *o, const char *name, bool *ret)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, name, &v) ||
	    !json_object_is_type(v, json_type_boolean))
		return false;
	*ret = json_object_get_boolean(v);
	return true;
}

static const char *
incident_str(struct json_object *v, size_t max, size_t *ret_len)
{
	const char *s;
	size_t len;

	if (v == NULL || !json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (len == 0 || len > max || memchr(s, '\0', len) != NULL)
		return NULL;
	*ret_len = len;
	return s;
}

static const char *
incident_get_str(struct json_object *o, const char *name, size_t max,
    size_t *ret_len)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, name, &v))
		return NULL;
	return incident_str(v, max, ret_len);
}

/* The fields most lines have: "e" (when ev is wanted) and "t". */
static int
incident_replay_et(struct incident_replay *rp, struct json_object *hdr,
    const char **ev, size_t *evlen, uint64_t *t)
{
	if (ev != NULL) {
		*ev = incident_get_str(hdr, "e", INCIDENT_MAX_EV, evlen);
		if (*ev == NULL)
			return incident_bad(rp, "\"e\" missing or bad");
	}
	if (!incident_get_u64(hdr, "t", t))
		return incident_bad(rp, "\"t\" missing or negative");
	return 0;
}

static int
incident_replay_send(struct incident_replay *rp, struct incident_key *k,
    struct json_object *hdr)
{
	struct incident_newid nid;
	const char *ev;
	size_t evlen;
	uint64_t t;
	uint64_t until;
	uint64_t n;
	uint64_t since;
	bool open;
	int r;

	r = incident_replay_et(rp, hdr, &ev, &evlen, &t);
	if (r < 0)
		return r;
	if (!incident_get_u64(hdr, "until", &until) ||
	    !incident_get_bool(hdr, "open", &open) ||
	    !incident_get_u64(hdr, "n", &n) ||
	    !incident_get_u64(hdr, "since", &since))
		return incident_bad(rp,
		    "\"until\", \"open\", \"n\" or "
		    "\"since\" missing or bad");
	if (k->g != NULL)
		return incident_bad(rp, "\"send\" while a group is held");
	r = incident_newid_prep(rp->inc, k, ev, evlen, INCIDENT_ID_SENT, t,
	    &nid);
	if (r < 0)
		return r;
	incident_apply_send(rp->inc, k, &nid, ev, t, until, open, n, since);
	return 0;
}

static int
incident_replay_supp(struct incident_replay *rp, struct incident_key *k,
    struct json_object *hdr)
{
	struct incident_newid nid;
	const char *ev;
	size_t evlen;
	uint64_t t;
	int r;

	r = incident_replay_et(rp, hdr, &ev, &evlen, &t);
	if (r < 0)
		return r;
	r = incident_newid_prep(rp->inc, k, ev, evlen, INCIDENT_ID_SUPP, t,
	    &nid);
	if (r < 0)
		return r;
	incident_apply_supp(rp->inc, k, &nid, ev, t);
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
			s = incident_str(json_object_array_get_idx(arr, i),
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
    struct json_object *hdr, const char *json, size_t json_len)
{
	struct incident_group *g = NULL;
	struct incident_newid nid;
	const char *ev;
	size_t evlen;
	uint64_t t;
	int r;

	r = incident_replay_et(rp, hdr, &ev, &evlen, &t);
	if (r < 0)
		return r;
	if (json == NULL)
		return incident_bad(rp, "\"alert\" missing or not last");
	if (k->g != NULL)
		return incident_bad(rp, "a second group for a key");
	r = incident_group_new(json, json_len, ev, evlen, &g);
	if (r < 0)
		return r;
	g->opened = t;
	if (!incident_get_u64(hdr, "due", &g->due) ||
	    !incident_get_u64(hdr, "thr", &g->throttle_s) ||
	    !incident_get_bool(hdr, "res", &g->resolve_on))
		r = incident_bad(rp,
		    "\"due\", \"thr\" or \"res\" missing or "
		    "bad");
	r = r < 0 ? r : incident_replay_events(rp, hdr, g);
	r = r < 0 ? r
		  : incident_newid_prep(rp->inc, k, ev, evlen,
			INCIDENT_ID_MEMBER, t, &nid);
	if (r < 0) {
		incident_group_free(g);
		return r;
	}
	incident_apply_group(rp->inc, k, g, &nid, ev, t);
	return 0;
}

static int
incident_replay_member(struct incident_replay *rp, struct incident_key *k,
    struct json_object *hdr)
{
	struct incident_newid nid;
	const char *ev;
	char *copy = NULL;
	size_t evlen;
	uint64_t t;
	int r;

	r = incident_replay_et(rp, hdr, &ev, &evlen, &t);
	if (r < 0)
		return r;
	if (k->g == NULL)
		return incident_bad(rp, "\"member\" with no group");
	if (k->g->n_events < INCIDENT_MAX_EVENTS) {
		if (incident_group_reserve(k->g) < 0)
			return -ENOMEM;
		copy = strndup(ev, evlen);
		if (copy == NULL)
			return -ENOMEM;
	}
	r = incident_newid_prep(rp->inc, k, ev, evlen, INCIDENT_ID_MEMBER, t,
	    &nid);
	if (r < 0) {
		free(copy);
		return r;
	}
	incident_apply_member(rp->inc, k, &nid, ev, copy, t);
	return 0;
}

static int
incident_replay_gres(struct incident_replay *rp, struct incident_key *k,
    struct json_object *hdr, const char *json, size_t json_len)
{
	struct incident_newid nid;
	const char *ev;
	char *evc;
	char *jc;
	size_t evlen;
	uint64_t t;
	int r;

	r = incident_replay_et(rp, hdr, &ev, &evlen, &t);
	if (r < 0)
		return r;
	if (json == NULL)
		return incident_bad(rp, "\"alert\" missing or not last");
	if (k->g == NULL || k->g->res_ev != NULL)
		return incident_bad(rp, "\"gres\" with no group, or twice");
	evc = strndup(ev, evlen);
	jc = strndup(json, json_len);
	r = evc == NULL || jc == NULL ? -ENOMEM : 0;
	r = r < 0 ? r
		  : incident_newid_prep(rp->inc, k, ev, evlen,
			INCIDENT_ID_HELD_RESOLVE, t, &nid);
	if (r < 0) {
		free(evc);
		free(jc);
		return r;
	}
	incident_apply_gres(rp->inc, k, &nid, evc, jc, json_len, t);
	return 0;
}

static int
incident_replay_resolve(struct incident_replay *rp, struct incident_key *k,
    struct json_object *hdr)
{
	struct incident_newid nid;
	const char *ev;
	size_t evlen;
	uint64_t t;
	uint64_t n;
	uint64_t since;
	int r;

	r = incident_replay_et(rp, hdr, &ev, &evlen, &t);
	if (r < 0)
		return r;
	if (!incident_get_u64(hdr, "n", &n) ||
	    !incident_get_u64(hdr, "since", &since))
		return incident_bad(rp, "\"n\" or \"since\" missing or bad");
	if (!k->open)
		return incident_bad(rp, "\"resolve\" with no open incident");
	r = incident_newid_prep(rp->inc, k, ev, evlen, INCIDENT_ID_RESOLVED, t,
	    &nid);
	if (r < 0)
		return r;
	incident_apply_resolve(rp->inc, k, &nid, ev, t, n, since);
	return 0;
}

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
	    !incident_get_bool(hdr, "open", &open) ||
	    !incident_get_u64(hdr, "open_t", &open_t))
		return incident_bad(rp, "a \"key\" field is missing or bad");
	k->last_t = t;
	incident_key_set_open(rp->inc, k, open, open_t);
	return 0;
}

static int
incident_replay_id(struct incident_replay *rp, struct incident_key *k,
    struct json_object *hdr)
{
	struct incident_newid nid;
	const char *ev;
	const char *kind;
	size_t evlen;
	size_t klen;
	uint64_t t;
	uint64_t n;
	uint64_t since;
	int i;
	int r;

	r = incident_replay_et(rp, hdr, &ev, &evlen, &t);
	if (r < 0)
		return r;
	kind = incident_get_str(hdr, "kind", 16, &klen);
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
	r = incident_newid_prep(rp->inc, k, ev, evlen, (uint8_t)i, t, &nid);
	if (r < 0)
		return r;
	incident_newid_put(rp->inc, k, &nid, ev, t, n, since);
	return 0;
}

static int
incident_replay_op(struct incident_replay *rp, const char *op,
    struct incident_key *k, struct json_object *hdr, const char *json,
    size_t json_len)
{
	uint64_t t;

	if (json != NULL && strcmp(op, "group") != 0 && strcmp(op, "gres") != 0)
		return incident_bad(rp, "\"alert\" where none belongs");
	if (strcmp(op, "send") == 0)
		return incident_replay_send(rp, k, hdr);
	if (strcmp(op, "supp") == 0)
		return incident_replay_supp(rp, k, hdr);
	if (strcmp(op, "group") == 0)
		return incident_replay_group(rp, k, hdr, json, json_len);
	if (strcmp(op, "member") == 0)
		return incident_replay_member(rp, k, hdr);
	if (strcmp(op, "gres") == 0)
		return incident_replay_gres(rp, k, hdr, json, json_len);
	if (strcmp(op, "resolve") == 0)
		return incident_replay_resolve(rp, k, hdr);
	if (strcmp(op, "key") == 0)
		return incident_replay_key(rp, k, hdr);
	if (strcmp(op, "id") == 0)
		return incident_replay_id(rp, k, hdr);
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

/* One line (journal_line_cb). */
static int
incident_replay_line(const char *line, size_t len, void *arg)
{
	static const char field[] = INCIDENT_ALERT_FIELD;
	struct incident_replay *rp = arg;
	struct incident *inc = rp->inc;
	struct json_object *hdr = NULL;
	struct incident_key *k = NULL;
	const char *json = NULL;
	const char *key;
	const char *op;
	const char *p;
	size_t json_len = 0;
	size_t klen;
	size_t oplen;
	int r;

	/* Strings in the header are escaped: no '"' of theirs can start
	 * the field's name, so its first occurrence is the field. */
	p = memmem(line, len, field, sizeof(field) - 1);
	buf_reset(&rp->hdr);
	if (p == NULL) {
		r = buf_append(&rp->hdr, line, len);
	} else {
		json = p + sizeof(field) - 1;
		json_len = (size_t)(line + len - 1 - json);
		if (line[len - 1] != '}' ||
		    (size_t)(p - line) > INCIDENT_MAX_HEADER)
			return incident_bad(rp, "not a journal entry");
		if (incident_json_parse(inc, json, json_len) < 0)
			return incident_bad(rp,
			    "\"alert\" is not a JSON object");
		r = buf_append(&rp->hdr, line, (size_t)(p - line));
		r = r < 0 ? r : buf_putc(&rp->hdr, '}');
	}
	if (r == -E2BIG)
		return incident_bad(rp, "header too long");
	if (r < 0)
		return r;
	json_tokener_reset(inc->tok);
	hdr = json_tokener_parse_ex(inc->tok, rp->hdr.data, (int)rp->hdr.len);
	if (hdr == NULL ||
	    json_tokener_get_parse_end(inc->tok) != rp->hdr.len ||
	    !json_object_is_type(hdr, json_type_object)) {
		json_object_put(hdr);
		return incident_bad(rp, "not a JSON object");
	}
	op = incident_get_str(hdr, "op", 16, &oplen);
	key = incident_get_str(hdr, "k", INCIDENT_MAX_KEY, &klen);
	if (op == NULL)
		r = incident_bad(rp, "\"op\" missing");
	else if (key == NULL || !incident_key_valid(key, klen))
		r = incident_bad(rp, "\"k\" missing or bad");
	else
		r = incident_key_raw(inc, key, klen, true, 0, &k);
	r = r < 0 ? r : incident_replay_op(rp, op, k, hdr, json, json_len);
	json_object_put(hdr);
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
	size_t i;
	int r;

	if (dir == NULL || ret == NULL)
		return -EINVAL;
	inc = calloc(1, sizeof(*inc));
	if (inc == NULL)
		return -ENOMEM;
	journal_init(&inc->j);
	inc->compact_min = INCIDENT_COMPACT_MIN;
	inc->seed = (uint64_t)arc4random() << 32 | arc4random();
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
	r = incident_keys_rebuild(inc, 0, incident_now(inc));
	for (i = 0; r == 0 && i < inc->keys_cap; i++)
		if (inc->keys[i] != NULL)
			r = incident_ids_rebuild(inc, inc->keys[i], 0,
			    incident_now(inc));
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
	size_t i;

	if (inc == NULL)
		return;
	for (i = 0; i < inc->keys_cap; i++)
		incident_key_free(inc, inc->keys[i]);
	free(inc->keys);
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
	uint64_t n = INCIDENT_LINE_BYTES + k->len;
	size_t i;

	for (i = 0; i < k->ids.cap; i++)
		if (k->ids.tab[i].ev != NULL)
			n += INCIDENT_LINE_BYTES + k->len + k->ids.tab[i].len;
	if (g == NULL)
		return n;
	n += INCIDENT_LINE_BYTES + k->len + g->json_len;
	for (i = 0; i < g->n_events; i++)
		n += strlen(g->events[i]) + 3;
	if (g->res_json != NULL)
		n += INCIDENT_LINE_BYTES + k->len + g->res_len;
	return n;
}

/* The key's state as compaction lines (see the top of the file). */
static int
incident_snapshot(struct buf *b, const struct incident_key *k)
{
	const struct incident_group *g = k->g;
	const struct incident_id *id;
	size_t i;
	int r;

	r = buf_puts(b, "{\"op\":\"key\",\"k\":");
	r = r < 0 ? r : buf_json_str(b, k->key, k->len);
	r = r < 0 ? r
		  : buf_printf(b,
			",\"t\":%" PRIu64 ",\"until\":%" PRIu64
			",\"supp\":%" PRIu64 ",\"since\":%" PRIu64
			",\"open\":%s,\"open_t\":%" PRIu64 "}\n",
			k->last_t, k->until, k->supp, k->since,
			k->open ? "true" : "false", k->open_t);
	for (i = 0; r == 0 && i < k->ids.cap; i++) {
		id = &k->ids.tab[i];
		if (id->ev == NULL)
			continue;
		r = buf_puts(b, "{\"op\":\"id\",\"k\":");
		r = r < 0 ? r : buf_json_str(b, k->key, k->len);
		r = r < 0 ? r : buf_puts(b, ",\"e\":");
		r = r < 0 ? r : buf_json_str(b, id->ev, id->len);
		r = r < 0
		    ? r
		    : buf_printf(b,
			  ",\"t\":%" PRIu64 ",\"kind\":\"%s\",\"n\":%" PRIu64
			  ",\"since\":%" PRIu64 "}\n",
			  id->t, incident_kind_str(id->kind), id->n, id->since);
	}
	if (r < 0 || g == NULL)
		return r;
	r = buf_puts(b, "{\"op\":\"group\",\"k\":");
	r = r < 0 ? r : buf_json_str(b, k->key, k->len);
	r = r < 0 ? r : buf_puts(b, ",\"e\":");
	r = r < 0 ? r : buf_json_str(b, g->events[0], strlen(g->events[0]));
	r = r < 0
	    ? r
	    : buf_printf(b,
		  ",\"t\":%" PRIu64 ",\"due\":%" PRIu64 ",\"thr\":%" PRIu64
		  ",\"res\":%s,\"count\":%" PRIu64 ",\"events\":[",
		  g->opened, g->due, g->throttle_s,
		  g->resolve_on ? "true" : "false", g->count);
	for (i = 0; r == 0 && i < g->n_events; i++) {
		r = i == 0 ? 0 : buf_putc(b, ',');
		r = r < 0 ? r
			  : buf_json_str(b, g->events[i], strlen(g->events[i]));
	}
	r = r < 0 ? r : buf_putc(b, ']');
	r = r < 0 ? r : incident_line_tail(b, g->json, g->json_len);
	if (r < 0 || g->res_json == NULL)
		return r;
	r = buf_puts(b, "{\"op\":\"gres\",\"k\":");
	r = r < 0 ? r : buf_json_str(b, k->key, k->len);
	r = r < 0 ? r : buf_puts(b, ",\"e\":");
	r = r < 0 ? r : buf_json_str(b, g->res_ev, strlen(g->res_ev));
	r = r < 0 ? r : buf_printf(b, ",\"t\":%" PRIu64, g->res_t);
	r = r < 0 ? r : incident_line_tail(b, g->res_json, g->res_len);
	return r;
}

static int
incident_rewrite(struct incident *inc)
{
	struct journal_rewrite w;
	size_t i;
	int r;

	r = journal_rewrite_begin(&inc->j, &w, 2 * (size_t)INCIDENT_MAX_LINE);
	if (r < 0)
		return r;
	for (i = 0; r == 0 && i < inc->keys_cap; i++) {
		if (inc->keys[i] == NULL)
			continue;
		r = incident_snapshot(&w.out, inc->keys[i]);
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
	uint64_t now;
	uint64_t live = 0;
	size_t i;
	int r = 0;

	if (inc->j.broken < 0)
		return inc->j.broken;
	if (inc->iterating)
		return -EBUSY;
	now = incident_now(inc);
	/* Ids first: a key whose ids all expired may then go too. */
	for (i = 0; r == 0 && i < inc->keys_cap; i++)
		if (inc->keys[i] != NULL)
			r = incident_ids_rebuild(inc, inc->keys[i], 0, now);
	r = r < 0 ? r : incident_keys_rebuild(inc, 0, now);
	if (r < 0)
		return r;
	inc->last_sweep = now;
	if (inc->j.size < inc->compact_min)
		return 0;
	for (i = 0; i < inc->keys_cap; i++)
		if (inc->keys[i] != NULL)
			live += incident_key_bytes(inc->keys[i]);
	if (live > inc->j.size / 2)
		return 0;
	return incident_rewrite(inc);
}
