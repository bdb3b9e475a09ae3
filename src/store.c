/*
 * store.c: see store.h. The local store: a hash table in memory, a
 * journal on disk.
 *
 * The table: open addressing, linear probing, a power of two of 16-byte
 * slots, at most 3/4 full (a million keys fit in 2^21 slots, 32 MB; growth
 * doubles it, old and new both live while the keys move). Key 0 marks an
 * empty slot, which is why store_key() never makes it. A slot's home is
 * the key times 2^64 / phi, its top bits (the keys are FNV-1a, whose low
 * bits are the weak ones). Deletion shifts the rest of the probe chain
 * back (no tombstones), so a lookup stops at the first empty slot.
 *
 * Values: an array of {pointer, length}, slot 0 unused, freed entries on a
 * list; a slot's val indexes it, 0 for an empty value (no allocation: a
 * first_seen key costs its 16-byte slot and nothing else). Each value is
 * its own malloc'd copy, NUL-terminated for the caller's convenience.
 *
 * The journal, <dir>/state.journal (journal.h does the file mechanics),
 * JSON lines, K the key as 16 lowercase hex digits, E its expiry (Unix
 * seconds, 0 never, at most 2^32 - 1):
 *
 * {"k":K,"e":E,"v":V}	K's value is the string V ("v" left out: empty).
 * {"k":K,"d":1}	K was deleted, expired or evicted.
 *
 * Unknown fields are ignored; anything else is -EBADMSG. Lines are
 * buffered (pending) by put and del and written by sync in one append
 * (group commit), or earlier, without fsync, once the buffer holds
 * STORE_FLUSH_AT bytes: whatever changed the table is in the journal or in
 * pending, in order, at all times. Everything a change needs (memory, the
 * line) is made ready first; then it is applied, which cannot fail.
 *
 * Room: a put that would go over max_keys or max_bytes evicts first, one
 * key at a time: from a random slot, the next STORE_SAMPLES keys are looked
 * at and the one expiring first goes (never expiring: last). A run of
 * slots is as random a sample as scattered ones (slot order is hash
 * order), costs one or two cache lines, and with few keys sees them all.
 *
 * Compaction rewrites the table, pending lines included, when the journal
 * is over STORE_COMPACT_MIN and more than twice what a rewrite would
 * write (live: the exact size of each key's line, kept up to date).
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <json-c/json.h>

#include "buf.h"
#include "diag.h"
#include "journal.h"
#include "store.h"

#define STORE_JOURNAL "state.journal"
#define STORE_MIN_SLOTS 16
/* max_keys above this is a mistake (and val indexes are 32 bits). */
#define STORE_KEYS_CEILING (1u << 30)
/* A line: a value escaped at worst 6 bytes a byte, and the rest. */
#define STORE_MAX_LINE (6 * (size_t)STORE_MAX_VALUE + 64)
/* put and del write the pending lines out (no fsync) past this. */
#define STORE_FLUSH_AT (1u << 20)
/* Compaction: not below this, and only when at most half is live. */
#define STORE_COMPACT_MIN (1u << 20)
/* Keys looked at to pick one to evict. */
#define STORE_SAMPLES 16
/* 2^64 / phi, for Fibonacci hashing; and the eviction sampler's seed. */
#define STORE_PHI 0x9e3779b97f4a7c15ull
#define STORE_RNG_SEED 0x853c49e6748fea9bull
/* The fixed part of a put line, expiry digits and value excluded. */
#define STORE_LINE_FIXED (sizeof("{\"k\":\"0123456789abcdef\",\"e\":}\n") - 1)

struct store_slot {
	uint64_t key; /* 0: empty */
	uint32_t expires;
	uint32_t val; /* index into vals; 0: empty value */
};

struct store_val {
	char *p;
	uint32_t len;
	uint32_t next; /* on the free list: the next free entry, 0 ends */
};

struct store_local {
	struct store base; /* first: struct store * points here */
	struct journal j;

	struct store_slot *tab;
	size_t mask; /* slots - 1 */
	unsigned shift;
	size_t n;

	struct store_val *vals;
	size_t n_vals; /* entries in use or freed, 0 included */
	size_t cap_vals;
	uint32_t free_val;

	uint64_t bytes;
	uint64_t live; /* bytes a rewrite would write */
	uint64_t max_keys;
	uint64_t max_bytes;
	uint64_t rng;
	uint64_t evicted;
	uint64_t expired;
	bool iterating;

	struct buf pending; /* whole lines, not yet written */
	size_t pending_lines;
};

static const struct store_ops store_local_ops;

static struct store_local *
store_of(struct store *s)
{
	return (struct store_local *)s;
}

uint64_t
store_key(const char *const *parts, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	const char *p;
	size_t i;

	for (i = 0; i < n; i++) {
		for (p = parts[i]; *p != '\0'; p++) {
			h ^= (unsigned char)*p;
			h *= 0x100000001b3ull;
		}
		h *= 0x100000001b3ull; /* the NUL after each part: h ^= 0 */
	}
	return h != 0 ? h : 1;
}

/* xorshift64*: deterministic, so evictions repeat from run to run. */
static uint64_t
store_random(struct store_local *s)
{
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return s->rng * 0x2545f4914f6cdd1dull;
}

/* ---- lines ------------------------------------------------------------ */

/* What buf_json_str() writes for p, quotes included. */
static size_t
store_json_len(const char *p, size_t len)
{
	size_t n = 2;
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '"' || c == '\\' || c == '\n' || c == '\t' ||
		    c == '\r')
			n += 2;
		else if (c < 0x20 || c == 0x7f)
			n += 6;
		else
			n++;
	}
	return n;
}

/* The length of a put line for this expiry and value. */
static uint64_t
store_line_len(uint32_t expires, const char *val, size_t len)
{
	uint64_t n = STORE_LINE_FIXED + 1;

	for (; expires >= 10; expires /= 10)
		n++;
	if (len > 0)
		n += sizeof(",\"v\":") - 1 + store_json_len(val, len);
	return n;
}

static int
store_line_put(struct buf *b, uint64_t key, uint32_t expires, const char *val,
    size_t len)
{
	int r;

	r = buf_printf(b, "{\"k\":\"%016" PRIx64 "\",\"e\":%" PRIu32, key,
	    expires);
	if (r == 0 && len > 0) {
		r = buf_puts(b, ",\"v\":");
		r = r < 0 ? r : buf_json_str(b, val, len);
	}
	return r < 0 ? r : buf_puts(b, "}\n");
}

/* Writes the pending lines (no fsync). */
static int
store_write(struct store_local *s)
{
	int r;

	if (s->pending_lines == 0)
		return 0;
	r = journal_append(&s->j, s->pending.data, s->pending.len,
	    s->pending_lines);
	if (r < 0)
		return r;
	journal_buf_reset(&s->pending);
	s->pending_lines = 0;
	return 0;
}

/* Adds a put line (del false) or a delete line to pending; nothing on
 * failure. */
static int
store_log(struct store_local *s, bool del, uint64_t key, uint32_t expires,
    const char *val, size_t len)
{
	struct buf *b = &s->pending;
	size_t mark;
	int r = 0;

	if (b->len >= STORE_FLUSH_AT)
		r = store_write(s);
	if (r < 0)
		return r;
	mark = b->len;
	if (del)
		r = buf_printf(b, "{\"k\":\"%016" PRIx64 "\",\"d\":1}\n", key);
	else
		r = store_line_put(b, key, expires, val, len);
	if (r < 0) {
		buf_truncate(b, mark);
		return r;
	}
	assert(del || b->len - mark == store_line_len(expires, val, len));
	s->pending_lines++;
	return 0;
}

/* ---- the table -------------------------------------------------------- */

static size_t
store_home(const struct store_local *s, uint64_t key)
{
	return (size_t)((key * STORE_PHI) >> s->shift);
}

/* The slot holding key, or the empty one where it would go. */
static struct store_slot *
store_probe(const struct store_local *s, uint64_t key)
{
	size_t i = store_home(s, key);

	while (s->tab[i].key != key && s->tab[i].key != 0)
		i = (i + 1) & s->mask;
	return &s->tab[i];
}

static struct store_slot *
store_find(const struct store_local *s, uint64_t key)
{
	struct store_slot *sl;

	if (key == 0)
		return NULL;
	sl = store_probe(s, key);
	return sl->key == key ? sl : NULL;
}

static const char *
store_val(const struct store_local *s, const struct store_slot *sl,
    size_t *ret_len)
{
	if (sl->val == 0) {
		*ret_len = 0;
		return "";
	}
	*ret_len = s->vals[sl->val].len;
	return s->vals[sl->val].p;
}

/*
 * Tables come straight from mmap(2): zeroed, and given back whole by
 * munmap(2). From malloc, a freed table could stay resident (glibc raises
 * its mmap threshold as big blocks are freed, up to 32 MB, and serves the
 * next ones from the heap), so a grown store would keep its old tables.
 */
static struct store_slot *
store_tab_new(size_t slots)
{
	void *p = mmap(NULL, slots * sizeof(struct store_slot),
	    PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p != MAP_FAILED ? p : NULL;
}

static void
store_tab_free(struct store_slot *tab, size_t slots)
{
	if (tab != NULL)
		(void)munmap(tab, slots * sizeof(*tab));
}

static int
store_grow(struct store_local *s, size_t slots)
{
	struct store_slot *old = s->tab;
	size_t n_old = old != NULL ? s->mask + 1 : 0;
	size_t i;

	s->tab = store_tab_new(slots);
	if (s->tab == NULL) {
		s->tab = old;
		return -ENOMEM;
	}
	s->mask = slots - 1;
	s->shift = 64 - (unsigned)__builtin_ctzll(slots);
	for (i = 0; i < n_old; i++)
		if (old[i].key != 0)
			*store_probe(s, old[i].key) = old[i];
	store_tab_free(old, n_old);
	return 0;
}

/* Room for one more value entry. */
static int
store_vals_reserve(struct store_local *s)
{
	struct store_val *p;
	size_t cap;

	if (s->free_val != 0 || s->n_vals < s->cap_vals)
		return 0;
	cap = s->cap_vals != 0 ? s->cap_vals * 2 : 64;
	if (cap > (size_t)UINT32_MAX + 1)
		return -ENOMEM;
	p = realloc(s->vals, cap * sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	s->vals = p;
	s->cap_vals = cap;
	return 0;
}

/* An entry, from the free list or past the used ones: reserved. */
static uint32_t
store_val_take(struct store_local *s)
{
	uint32_t v = s->free_val;

	if (v != 0)
		s->free_val = s->vals[v].next;
	else
		v = (uint32_t)s->n_vals++;
	s->vals[v].next = 0;
	return v;
}

static void
store_val_drop(struct store_local *s, uint32_t v)
{
	free(s->vals[v].p);
	s->vals[v].p = NULL;
	s->vals[v].len = 0;
	s->vals[v].next = s->free_val;
	s->free_val = v;
}

/*
 * Makes ready what store_set() needs for key: a slot (the table grown if
 * key is new), a value entry and copy (len > 0). On failure nothing
 * changed.
 */
static int
store_prepare(struct store_local *s, uint64_t key, const void *val, size_t len,
    char **ret_copy)
{
	char *copy;
	int r = 0;

	*ret_copy = NULL;
	if (store_find(s, key) == NULL && (s->n + 1) * 4 > (s->mask + 1) * 3)
		r = store_grow(s, (s->mask + 1) * 2);
	if (r == 0 && len > 0)
		r = store_vals_reserve(s);
	if (r < 0 || len == 0)
		return r;
	copy = malloc(len + 1);
	if (copy == NULL)
		return -ENOMEM;
	memcpy(copy, val, len);
	copy[len] = '\0';
	*ret_copy = copy;
	return 0;
}

/* Sets key to copy (taken; NULL when len is 0); store_prepare() first. */
static void
store_set(struct store_local *s, uint64_t key, char *copy, size_t len,
    uint32_t expires)
{
	struct store_slot *sl = store_probe(s, key);
	const char *old;
	size_t old_len;

	if (sl->key == 0) {
		sl->key = key;
		sl->val = 0;
		s->n++;
	} else {
		old = store_val(s, sl, &old_len);
		s->live -= store_line_len(sl->expires, old, old_len);
		s->bytes -= old_len;
	}
	if (len == 0 && sl->val != 0) {
		store_val_drop(s, sl->val);
		sl->val = 0;
	} else if (len > 0) {
		if (sl->val == 0)
			sl->val = store_val_take(s);
		else
			free(s->vals[sl->val].p);
		s->vals[sl->val].p = copy;
		s->vals[sl->val].len = (uint32_t)len;
	}
	sl->expires = expires;
	s->bytes += len;
	s->live += store_line_len(expires, copy, len);
}

/* Empties sl, then moves back what follows it in its probe chain: each
 * entry whose home is not between the hole and itself fills the hole. */
static void
store_remove(struct store_local *s, struct store_slot *sl)
{
	size_t i = (size_t)(sl - s->tab);
	size_t j = i;
	size_t home;
	const char *val;
	size_t len;

	val = store_val(s, sl, &len);
	s->live -= store_line_len(sl->expires, val, len);
	s->bytes -= len;
	if (sl->val != 0)
		store_val_drop(s, sl->val);
	s->n--;
	for (;;) {
		j = (j + 1) & s->mask;
		if (s->tab[j].key == 0)
			break;
		home = store_home(s, s->tab[j].key);
		if (((j - home) & s->mask) < ((j - i) & s->mask))
			continue; /* its home is in (i, j]: it stays */
		s->tab[i] = s->tab[j];
		i = j;
	}
	memset(&s->tab[i], 0, sizeof(s->tab[i]));
}

/* Deletes sl's key, journaled. */
static int
store_drop(struct store_local *s, struct store_slot *sl)
{
	int r;

	r = store_log(s, true, sl->key, 0, NULL, 0);
	if (r < 0)
		return r;
	store_remove(s, sl);
	return 0;
}

/* Expiry as a rank: never expiring (0) comes last. */
static uint64_t
store_rank(const struct store_slot *sl)
{
	return sl->expires != 0 ? sl->expires : UINT64_MAX;
}

/* Evicts one key other than except (0: none), which is not the only one. */
static int
store_evict(struct store_local *s, uint64_t except)
{
	struct store_slot *best = NULL;
	size_t left = s->n - (store_find(s, except) != NULL);
	size_t i = (size_t)(store_random(s) >> 11) & s->mask;
	int r;

	assert(left > 0);
	if (left > STORE_SAMPLES)
		left = STORE_SAMPLES;
	for (; left > 0; i = (i + 1) & s->mask) {
		struct store_slot *sl = &s->tab[i];

		if (sl->key == 0 || sl->key == except)
			continue;
		if (best == NULL || store_rank(sl) < store_rank(best))
			best = sl;
		left--;
	}
	r = store_drop(s, best);
	if (r == 0)
		s->evicted++;
	return r;
}

/* Evicts until key's new value of len bytes fits. */
static int
store_room(struct store_local *s, uint64_t key, size_t len)
{
	struct store_slot *sl = store_find(s, key);
	bool held = sl != NULL;
	size_t old = 0;
	int r;

	if (held)
		(void)store_val(s, sl, &old);
	while ((!held && s->n >= s->max_keys) ||
	    s->bytes - old + len > s->max_bytes) {
		r = store_evict(s, key);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- the operations --------------------------------------------------- */

static int
store_local_get(struct store *base, uint64_t key, const char **ret_val,
    size_t *ret_len, uint64_t *ret_expires)
{
	struct store_local *s = store_of(base);
	struct store_slot *sl = store_find(s, key);
	const char *val;
	size_t len;

	if (sl == NULL)
		return 0;
	val = store_val(s, sl, &len);
	if (ret_val != NULL)
		*ret_val = val;
	if (ret_len != NULL)
		*ret_len = len;
	if (ret_expires != NULL)
		*ret_expires = sl->expires;
	return 1;
}

static int
store_local_put(struct store *base, uint64_t key, const void *val, size_t len,
    uint64_t expires)
{
	struct store_local *s = store_of(base);
	uint32_t e = expires < UINT32_MAX ? (uint32_t)expires : UINT32_MAX;
	char *copy;
	int r;

	if (key == 0 || (val == NULL && len > 0))
		return -EINVAL;
	if (s->iterating)
		return -EBUSY;
	if (len > STORE_MAX_VALUE || len > s->max_bytes)
		return -E2BIG;
	if (s->j.broken < 0)
		return s->j.broken;
	r = store_room(s, key, len);
	if (r < 0)
		return r;
	r = store_prepare(s, key, val, len, &copy);
	if (r == 0)
		r = store_log(s, false, key, e, val, len);
	if (r < 0) {
		free(copy);
		return r;
	}
	store_set(s, key, copy, len, e);
	return 0;
}

static int
store_local_del(struct store *base, uint64_t key)
{
	struct store_local *s = store_of(base);
	struct store_slot *sl;
	int r;

	if (s->iterating)
		return -EBUSY;
	if (s->j.broken < 0)
		return s->j.broken;
	sl = store_find(s, key);
	if (sl == NULL)
		return 0;
	r = store_drop(s, sl);
	return r < 0 ? r : 1;
}

/*
 * Scans from an empty slot round to it: entries never move past an empty
 * slot, so each is seen once, and after a removal the slot is looked at
 * again (what moved back into it is yet to be seen). Stops at the first
 * delete that cannot be journaled.
 */
static size_t
store_local_expire(struct store *base, uint64_t now)
{
	struct store_local *s = store_of(base);
	struct store_slot *sl;
	size_t i = 0;
	size_t left;
	size_t n = 0;

	if (s->iterating)
		return 0;
	while (s->tab[i].key != 0)
		i++;
	for (left = s->mask + 1; left > 0;) {
		sl = &s->tab[i];
		if (sl->key != 0 && sl->expires != 0 && sl->expires < now) {
			if (store_drop(s, sl) < 0)
				break;
			n++;
			continue;
		}
		i = (i + 1) & s->mask;
		left--;
	}
	s->expired += n;
	return n;
}

static void
store_local_each(struct store *base, store_each_cb *cb, void *arg)
{
	struct store_local *s = store_of(base);
	const char *val;
	size_t len;
	size_t i;

	s->iterating = true;
	for (i = 0; i <= s->mask; i++) {
		if (s->tab[i].key == 0)
			continue;
		val = store_val(s, &s->tab[i], &len);
		if (cb(s->tab[i].key, val, len, s->tab[i].expires, arg))
			break;
	}
	s->iterating = false;
}

static int
store_local_sync(struct store *base)
{
	struct store_local *s = store_of(base);
	int r;

	r = store_write(s);
	return r < 0 ? r : journal_sync(&s->j);
}

/* The table as put lines, pending ones included (they are in it). */
static int
store_rewrite(struct store_local *s)
{
	struct journal_rewrite w;
	const struct store_slot *sl;
	const char *val;
	size_t len;
	size_t i;
	int r;

	r = journal_rewrite_begin(&s->j, &w, STORE_MAX_LINE);
	if (r < 0)
		return r;
	for (i = 0; r == 0 && i <= s->mask; i++) {
		sl = &s->tab[i];
		if (sl->key == 0)
			continue;
		val = store_val(s, sl, &len);
		r = store_line_put(&w.out, sl->key, sl->expires, val, len);
		r = r < 0 ? r : journal_rewrite_flush(&w);
	}
	if (r < 0) {
		journal_rewrite_abort(&s->j, &w);
		return r;
	}
	r = journal_rewrite_commit(&s->j, &w);
	if (r < 0)
		return r;
	journal_buf_reset(&s->pending);
	s->pending_lines = 0;
	assert(s->live == s->j.size);
	return 1;
}

static int
store_local_compact(struct store *base)
{
	struct store_local *s = store_of(base);
	uint64_t size = s->j.size + s->pending.len;

	if (s->j.broken < 0)
		return s->j.broken;
	if (s->iterating)
		return -EBUSY;
	if (size < STORE_COMPACT_MIN || s->live > size / 2)
		return 0;
	return store_rewrite(s);
}

static void
store_local_stats(const struct store *base, struct store_stats *ret)
{
	const struct store_local *s = (const struct store_local *)base;

	ret->keys = s->n;
	ret->bytes = s->bytes;
	ret->evicted = s->evicted;
	ret->expired = s->expired;
	ret->journal_bytes = s->j.size;
}

static void
store_local_free(struct store *base)
{
	struct store_local *s = store_of(base);
	size_t i;

	for (i = 1; i < s->n_vals; i++)
		free(s->vals[i].p);
	free(s->vals);
	store_tab_free(s->tab, s->mask + 1);
	journal_done(&s->j);
	buf_done(&s->pending);
	free(s);
}

static const struct store_ops store_local_ops = {
    .name = "local",
    .get = store_local_get,
    .put = store_local_put,
    .del = store_local_del,
    .expire = store_local_expire,
    .each = store_local_each,
    .sync = store_local_sync,
    .compact = store_local_compact,
    .stats = store_local_stats,
    .free = store_local_free,
};

/* ---- open: replay ----------------------------------------------------- */

struct store_replay {
	struct store_local *s;
	struct json_tokener *tok;
	struct diag *reterr;
};

/* 16 lowercase hex digits, not all zero. */
static bool
store_parse_key(const char *p, size_t len, uint64_t *ret)
{
	uint64_t k = 0;
	size_t i;

	if (len != 16)
		return false;
	for (i = 0; i < len; i++) {
		if (p[i] >= '0' && p[i] <= '9')
			k = k << 4 | (uint64_t)(p[i] - '0');
		else if (p[i] >= 'a' && p[i] <= 'f')
			k = k << 4 | (uint64_t)(p[i] - 'a' + 10);
		else
			return false;
	}
	*ret = k;
	return k != 0;
}

static int
store_replay_obj(struct store_replay *rp, struct json_object *o)
{
	struct store_local *s = rp->s;
	struct json_object *v = NULL;
	struct store_slot *sl;
	const char *k;
	const char *val = NULL;
	size_t klen;
	size_t len = 0;
	uint64_t key;
	int64_t i;
	char *copy;
	int r;

	k = journal_get_str(o, "k", 16, &klen);
	if (k == NULL || !store_parse_key(k, klen, &key))
		return journal_bad(&s->j, rp->reterr,
		    "\"k\" missing or not 16 hex digits");
	if (json_object_object_get_ex(o, "d", NULL)) {
		if (!journal_get_int(o, "d", 1, &i) || i != 1)
			return journal_bad(&s->j, rp->reterr, "\"d\" not 1");
		sl = store_find(s, key);
		if (sl != NULL)
			store_remove(s, sl);
		return 0;
	}
	if (!journal_get_int(o, "e", 0, &i))
		return journal_bad(&s->j, rp->reterr,
		    "\"e\" missing or negative");
	if (json_object_object_get_ex(o, "v", &v)) {
		if (!json_object_is_type(v, json_type_string))
			return journal_bad(&s->j, rp->reterr,
			    "\"v\" not a string");
		val = json_object_get_string(v);
		len = (size_t)json_object_get_string_len(v);
		if (len > STORE_MAX_VALUE)
			return journal_bad(&s->j, rp->reterr, "\"v\" too long");
	}
	r = store_prepare(s, key, val, len, &copy);
	if (r < 0)
		return r;
	store_set(s, key, copy, len, i < UINT32_MAX ? (uint32_t)i : UINT32_MAX);
	return 0;
}

/* One line (journal_line_cb): applied as it was when written. */
static int
store_replay_line(const char *line, size_t len, void *arg)
{
	struct store_replay *rp = arg;
	struct json_object *o;
	int r;

	if (journal_parse_object(rp->tok, line, len, &o) < 0)
		return journal_bad(&rp->s->j, rp->reterr, "not a JSON object");
	r = store_replay_obj(rp, o);
	json_object_put(o);
	return r;
}

static int
store_replay(struct store_local *s, struct diag *reterr)
{
	struct store_replay rp;
	int r;

	rp.s = s;
	rp.reterr = reterr;
	rp.tok = json_tokener_new_ex(8);
	if (rp.tok == NULL)
		return -ENOMEM;
	r = journal_replay(&s->j, STORE_MAX_LINE, store_replay_line, &rp,
	    reterr);
	json_tokener_free(rp.tok);
	return r;
}

int
store_local_open(const char *dir, const struct store_opts *o,
    struct store **ret, struct diag *reterr)
{
	struct store_local *s;
	int r;

	if (dir == NULL || ret == NULL)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->base.ops = &store_local_ops;
	journal_init(&s->j);
	buf_init(&s->pending, STORE_FLUSH_AT + STORE_MAX_LINE);
	s->n_vals = 1;
	s->rng = STORE_RNG_SEED;
	s->max_keys = STORE_DEFAULT_MAX_KEYS;
	s->max_bytes = STORE_DEFAULT_MAX_BYTES;
	if (o != NULL && o->max_keys != 0)
		s->max_keys = o->max_keys;
	if (o != NULL && o->max_bytes != 0)
		s->max_bytes = o->max_bytes;
	r = s->max_keys > STORE_KEYS_CEILING ? -EINVAL : 0;
	r = r < 0 ? r : store_grow(s, STORE_MIN_SLOTS);
	r = r < 0 ? r : store_vals_reserve(s);
	r = r < 0 ? r : journal_open(&s->j, dir, STORE_JOURNAL, reterr);
	r = r < 0 ? r : store_replay(s, reterr);
	/* Tighter limits than when the journal was written. */
	while (r == 0 && (s->n > s->max_keys || s->bytes > s->max_bytes))
		r = store_evict(s, 0);
	if (r < 0) {
		store_local_free(&s->base);
		return r;
	}
	*ret = &s->base;
	return 0;
}
