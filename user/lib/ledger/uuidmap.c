// SPDX-License-Identifier: GPL-2.0
/* A 16-byte-key hash map (uuidmap.h). UUIDs are random enough to index by their bytes. */
#include <stdlib.h>
#include <string.h>

#include "common/encoding.h"
#include "ledger/uuidmap.h"

static size_t slot_of(const struct kt_uuidmap *m, const uint8_t *key)
{
	uint64_t h = kt_be_get(key, 8) ^ (kt_be_get(key + 8, 8) * 0x9e3779b97f4a7c15ULL);

	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 32;
	return (size_t)h & (m->cap - 1);
}

uint8_t *kt_uuidmap_get(const struct kt_uuidmap *m, const uint8_t key[KT_UUID_LEN])
{
	size_t i;

	if (!m->cap)
		return NULL;
	for (i = slot_of(m, key); m->slot[i].used; i = (i + 1) & (m->cap - 1))
		if (!memcmp(m->slot[i].key, key, KT_UUID_LEN))
			return m->slot[i].val;
	return NULL;
}

static int grow(struct kt_uuidmap *m)
{
	struct kt_uuidmap old = *m;
	size_t i;

	m->cap = old.cap ? 2 * old.cap : 64;
	m->n = 0;
	m->slot = calloc(m->cap, sizeof(*m->slot));
	if (!m->slot) {
		*m = old;
		return -1;
	}
	for (i = 0; i < old.cap; i++)
		if (old.slot[i].used)
			kt_uuidmap_put(m, old.slot[i].key, old.slot[i].val);
	free(old.slot);
	return 0;
}

uint8_t *kt_uuidmap_put(struct kt_uuidmap *m, const uint8_t key[KT_UUID_LEN],
			const uint8_t *val)
{
	uint8_t *have = kt_uuidmap_get(m, key);
	size_t i;

	if (!have) {
		if (2 * (m->n + 1) > m->cap && grow(m))
			return NULL;
		for (i = slot_of(m, key); m->slot[i].used; i = (i + 1) & (m->cap - 1))
			;
		m->slot[i].used = 1;
		memcpy(m->slot[i].key, key, KT_UUID_LEN);
		m->n++;
		have = m->slot[i].val;
	}
	if (val)
		memcpy(have, val, KT_UUID_LEN);
	else
		memset(have, 0, KT_UUID_LEN);
	return have;
}

void kt_uuidmap_free(struct kt_uuidmap *m)
{
	free(m->slot);
	memset(m, 0, sizeof(*m));
}
