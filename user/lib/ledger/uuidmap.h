/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A hash map from a 16-byte key (a binary UUID) to a 16-byte value, for the
 * state a walk of the ledger keeps about every VM and host (where each VM
 * runs, each host's last batch time). Open addressing, grows at half full.
 */
#ifndef KVMTRUST_LEDGER_UUIDMAP_H
#define KVMTRUST_LEDGER_UUIDMAP_H

#include <stddef.h>
#include <stdint.h>

#include "common/uuid.h"

struct kt_uuidmap {
	struct kt_uuidmap_slot {
		uint8_t key[KT_UUID_LEN];
		uint8_t val[KT_UUID_LEN];
		uint8_t used;
	} *slot;
	size_t cap, n;
};

/* The value stored for key, or NULL. */
uint8_t *kt_uuidmap_get(const struct kt_uuidmap *m, const uint8_t key[KT_UUID_LEN]);
/* Stores val for key (NULL: zeros), replacing any; returns the value's storage, NULL when out of memory. */
uint8_t *kt_uuidmap_put(struct kt_uuidmap *m, const uint8_t key[KT_UUID_LEN],
			const uint8_t *val);
void kt_uuidmap_free(struct kt_uuidmap *m);

#endif
