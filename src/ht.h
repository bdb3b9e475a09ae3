/*
 * ht.h: the string-keyed hash table and the hashing that spool.c (its
 * dedup set) and incident.c (its keys, and each key's eventIDs) share.
 *
 * A table holds pointers to entries that start with a struct ht_entry:
 * the key, its length and its hash; the caller allocates the entries, and
 * frees them through the drop callback. Open addressing, linear probing,
 * load at most 1/2. Nothing is deleted in place: ht_rebuild() leaves out
 * what its keep callback refuses (expired state), so probes never meet a
 * tombstone. Hashes are seeded FNV-1a: the keys come from AWS, not from
 * whoever can write to us, so a keyed hash is not worth its cost.
 *
 * Errors: -ENOMEM only; a failed rebuild leaves the table as it was. Keys
 * "<rule id>\t<rest>" are unambiguous because rule ids hold no control
 * character (ht_key_rule_ok()). Not thread-safe; never prints.
 */
#ifndef SMTRAIL_HT_H
#define SMTRAIL_HT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

/* "sha256:" and 64 hex digits: ht_digest()'s length, NUL excluded. */
#define HT_DIGEST_LEN 71

/* The first member of every entry. */
struct ht_entry {
	const char *key; /* the entry's own memory */
	size_t len;
	uint64_t hash;
};

/* Embedded by its owner, who may read (not write) the fields. */
struct ht {
	struct ht_entry **tab; /* cap slots; NULL: free */
	size_t cap;            /* 0 or a power of two */
	size_t n;
	size_t min_cap; /* the smallest table; rebuilds happen when it fills */
};

/* Whether a rebuild keeps e. Called twice for each entry: once to count,
 * once to move; it must answer the same both times. */
typedef bool ht_keep_cb(struct ht_entry *e, void *arg);
/* Takes e out of the owner's hands: a rebuild left it out, or ht_done(). */
typedef void ht_drop_cb(struct ht_entry *e, void *arg);
/* An extra test for ht_find_if(), after the key matched. */
typedef bool ht_match_cb(const struct ht_entry *e, const void *arg);

uint64_t ht_seed(void); /* random, for ht_hash() */
uint64_t ht_hash(uint64_t seed, const char *s, size_t len);
/* "sha256:<hex>" of p's SHA-256 into out, NUL-terminated. */
int ht_digest(const void *p, size_t len,
    char out[HT_DIGEST_LEN + 1]) MUST_CHECK;
/* 1 to max bytes, no control character: a rule id fit to start a key. */
bool ht_key_rule_ok(const char *s, size_t len, size_t max);

/* Empty, no memory yet; min_cap is a power of two. */
void ht_init(struct ht *t, size_t min_cap);
/* The entry for (key, len) whose hash is hash; NULL: none. */
struct ht_entry *ht_find(const struct ht *t, const char *key, size_t len,
    uint64_t hash);
/* The same, for an entry match() also accepts (match NULL: any). */
struct ht_entry *ht_find_if(const struct ht *t, const char *key, size_t len,
    uint64_t hash, ht_match_cb *match, const void *arg);
/*
 * A new table with room for extra more entries than keep (NULL: all)
 * accepts; the others go to drop (NULL: nobody). No entries and no room
 * wanted: no table at all.
 */
int ht_rebuild(struct ht *t, size_t extra, ht_keep_cb *keep, ht_drop_cb *drop,
    void *arg) MUST_CHECK;
/* Room for extra more: nothing, or a rebuild (see above) that doubles. */
int ht_reserve(struct ht *t, size_t extra, ht_keep_cb *keep, ht_drop_cb *drop,
    void *arg) MUST_CHECK;
/* Adds e, known to be absent; room was reserved. Cannot fail. */
void ht_add(struct ht *t, struct ht_entry *e);
/* The entry at or after slot *pos, *pos moved past it; NULL at the end.
 * Start at 0. */
struct ht_entry *ht_next(const struct ht *t, size_t *pos);
/* Hands every entry to drop (NULL: nobody) and frees the table, which is
 * then empty as after ht_init(). */
void ht_done(struct ht *t, ht_drop_cb *drop, void *arg);

#endif
