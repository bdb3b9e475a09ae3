/*
 * store.h: the engine's state, per key, behind a small interface
 * (DESIGN.md, "Engine"): get, put, delete, expire. The windows of the
 * stateful rules (threshold, distinct, first_seen, expect) and the
 * readers of each secret live here; a shared store (DynamoDB, so that
 * several instances on one queue share windows) is another implementation
 * of the same table of operations (struct store_ops).
 *
 * Keys are 64-bit hashes the caller makes of what it counts (store_key():
 * the rule, its definition's fingerprint, the kind, the group key): two
 * keys that collide share their state, about once in 10^7 at a million
 * keys. A value is a short byte string (the caller's text) with an expiry
 * in Unix seconds of event time (0: never; kept to 2^32 - 1, in 2106);
 * the store keeps it until the caller deletes it, store_expire() drops
 * it, or it is evicted for room.
 *
 * Limits: at most max_keys keys and max_bytes of values. A put beyond them
 * evicts, one at a time, the key closest to expiring among a sample (as
 * Redis does; what never expires last, never the key being put), counted
 * in stats: an evicted window starts afresh (a first_seen key can alert
 * again; a threshold may count less).
 *
 * The local store (store_local_open) keeps everything in memory, journaled
 * in <dir>/state.journal (journal.h): a put or a delete is one line,
 * buffered, written and made durable by sync() (in the same pass as the
 * spool's sync); what changed since the last sync() may be lost at
 * free() or a crash. The journal is replayed at open and rewritten by
 * compact() when mostly dead. Once a write or sync has failed for good
 * (journal.h: broken) every put, del and sync fails with that code.
 * Loop thread only; never prints.
 */
#ifndef SMTRAIL_STORE_H
#define SMTRAIL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct diag;
struct store; /* opaque beyond its ops */

/* A value longer than this is refused (-E2BIG). */
#define STORE_MAX_VALUE (1u << 20)

struct store_stats {
	uint64_t keys;
	uint64_t bytes;   /* of values */
	uint64_t evicted; /* keys dropped for room, since open */
	uint64_t expired; /* keys dropped by store_expire(), since open */
	uint64_t journal_bytes;
};

/* Called with each key and value (borrowed); true stops. */
typedef bool store_each_cb(uint64_t key, const char *val, size_t len,
    uint64_t expires, void *arg);

struct store_ops {
	const char *name;
	/* 1 and the value (borrowed until the next call that changes the
	 * store; any ret_ may be NULL) when key is held; 0 when not; < 0 on
	 * error. */
	int (*get)(struct store *s, uint64_t key, const char **ret_val,
	    size_t *ret_len, uint64_t *ret_expires);
	/* Sets key's value (copied) and expiry. -EINVAL: key 0; -E2BIG:
	 * over STORE_MAX_VALUE or max_bytes; -errno when it cannot be
	 * kept. */
	int (*put)(struct store *s, uint64_t key, const void *val, size_t len,
	    uint64_t expires);
	int (*del)(struct store *s, uint64_t key); /* 1; absent: 0 */
	/* Drops every key whose expiry is before now (0 never expires);
	 * how many. */
	size_t (*expire)(struct store *s, uint64_t now);
	/* Every key, in no order, until cb returns true; the callback may
	 * not change the store (put, del, compact: -EBUSY). */
	void (*each)(struct store *s, store_each_cb *cb, void *arg);
	int (*sync)(struct store *s);    /* >= 0: durable (lines synced) */
	int (*compact)(struct store *s); /* 1 rewritten, 0 not, < 0 */
	void (*stats)(const struct store *s, struct store_stats *ret);
	void (*free)(struct store *s); /* does not sync */
};

/* Every store starts with this; its ops are its implementation. */
struct store {
	const struct store_ops *ops;
};

struct store_opts {
	uint64_t max_keys;  /* 0: STORE_DEFAULT_MAX_KEYS */
	uint64_t max_bytes; /* 0: STORE_DEFAULT_MAX_BYTES */
};

#define STORE_DEFAULT_MAX_KEYS 4000000u
#define STORE_DEFAULT_MAX_BYTES (256ull << 20)

/* The local store in dir (state.journal, created 0600; held under a
 * flock: -EBUSY for a second process). -EBADMSG with reterr for a
 * malformed journal; -EINVAL: max_keys over 2^30. */
int store_local_open(const char *dir, const struct store_opts *o,
    struct store **ret, struct diag *reterr) MUST_CHECK;

/* A key for the parts (NUL-separated, in order): FNV-1a 64, never 0. */
uint64_t store_key(const char *const *parts, size_t n);

static inline int
store_get(struct store *s, uint64_t key, const char **ret_val, size_t *ret_len,
    uint64_t *ret_expires)
{
	return s->ops->get(s, key, ret_val, ret_len, ret_expires);
}

static inline int
store_put(struct store *s, uint64_t key, const void *val, size_t len,
    uint64_t expires)
{
	return s->ops->put(s, key, val, len, expires);
}

static inline int
store_del(struct store *s, uint64_t key)
{
	return s->ops->del(s, key);
}

static inline size_t
store_expire(struct store *s, uint64_t now)
{
	return s->ops->expire(s, now);
}

static inline void
store_each(struct store *s, store_each_cb *cb, void *arg)
{
	s->ops->each(s, cb, arg);
}

static inline int
store_sync(struct store *s)
{
	return s->ops->sync(s);
}

static inline int
store_compact(struct store *s)
{
	return s->ops->compact(s);
}

static inline void
store_stats(const struct store *s, struct store_stats *ret)
{
	s->ops->stats(s, ret);
}

static inline void
store_free(struct store *s)
{
	if (s != NULL)
		s->ops->free(s);
}

#endif
