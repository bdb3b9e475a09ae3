/*
 * ht.c: see ht.h.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ht.h"

uint64_t
ht_seed(void)
{
	return (uint64_t)arc4random() << 32 | arc4random();
}

uint64_t
ht_hash(uint64_t seed, const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull ^ seed;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

int
ht_digest(const void *p, size_t len, char out[HT_DIGEST_LEN + 1])
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
	out[HT_DIGEST_LEN] = '\0';
	return 0;
}

bool
ht_key_rule_ok(const char *s, size_t len, size_t max)
{
	size_t i;

	if (len == 0 || len > max)
		return false;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

void
ht_init(struct ht *t, size_t min_cap)
{
	memset(t, 0, sizeof(*t));
	t->min_cap = min_cap;
}

struct ht_entry *
ht_find(const struct ht *t, const char *key, size_t len, uint64_t hash)
{
	return ht_find_if(t, key, len, hash, NULL, NULL);
}

struct ht_entry *
ht_find_if(const struct ht *t, const char *key, size_t len, uint64_t hash,
    ht_match_cb *match, const void *arg)
{
	struct ht_entry *e;
	size_t mask;
	size_t i;

	if (t->cap == 0)
		return NULL;
	mask = t->cap - 1;
	for (i = hash & mask;; i = (i + 1) & mask) {
		e = t->tab[i];
		if (e == NULL)
			return NULL;
		if (e->hash == hash && e->len == len &&
		    memcmp(e->key, key, len) == 0 &&
		    (match == NULL || match(e, arg)))
			return e;
	}
}

/* Puts e, known to be absent, into a table with room. */
static void
ht_place(struct ht_entry **tab, size_t cap, struct ht_entry *e)
{
	size_t i;

	for (i = e->hash & (cap - 1); tab[i] != NULL; i = (i + 1) & (cap - 1))
		;
	tab[i] = e;
}

int
ht_rebuild(struct ht *t, size_t extra, ht_keep_cb *keep, ht_drop_cb *drop,
    void *arg)
{
	struct ht_entry **tab = NULL;
	struct ht_entry *e;
	size_t n = 0;
	size_t cap = 0;
	size_t i;

	for (i = 0; i < t->cap; i++)
		if (t->tab[i] != NULL && (keep == NULL || keep(t->tab[i], arg)))
			n++;
	if (n + extra > SIZE_MAX / 4 / sizeof(*tab))
		return -ENOMEM;
	if (n + extra > 0) {
		assert(t->min_cap != 0);
		cap = t->min_cap;
		while (cap < 2 * (n + extra))
			cap *= 2;
		tab = calloc(cap, sizeof(*tab));
		if (tab == NULL)
			return -ENOMEM;
	}
	for (i = 0; i < t->cap; i++) {
		e = t->tab[i];
		if (e == NULL)
			continue;
		if (keep == NULL || keep(e, arg))
			ht_place(tab, cap, e);
		else if (drop != NULL)
			drop(e, arg);
	}
	free(t->tab);
	t->tab = tab;
	t->cap = cap;
	t->n = n;
	return 0;
}

int
ht_reserve(struct ht *t, size_t extra, ht_keep_cb *keep, ht_drop_cb *drop,
    void *arg)
{
	if (2 * (t->n + extra) <= t->cap)
		return 0;
	return ht_rebuild(t, t->n + extra, keep, drop, arg);
}

void
ht_add(struct ht *t, struct ht_entry *e)
{
	ht_place(t->tab, t->cap, e);
	t->n++;
}

struct ht_entry *
ht_next(const struct ht *t, size_t *pos)
{
	struct ht_entry *e;

	while (*pos < t->cap) {
		e = t->tab[*pos];
		(*pos)++;
		if (e != NULL)
			return e;
	}
	return NULL;
}

void
ht_done(struct ht *t, ht_drop_cb *drop, void *arg)
{
	size_t i;

	for (i = 0; drop != NULL && i < t->cap; i++)
		if (t->tab[i] != NULL)
			drop(t->tab[i], arg);
	free(t->tab);
	ht_init(t, t->min_cap);
}
