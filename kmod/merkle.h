/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KVMTRUST_MERKLE_H
#define _KVMTRUST_MERKLE_H

#include <linux/types.h>
#include <crypto/hash.h>
#include <uapi/linux/kvmtrust.h>

/*
 * An RFC 9162 Merkle tree that keeps every level, so that changing one leaf
 * costs one path (log n hashes) instead of the whole tree. Level 0 holds the
 * n leaf hashes; level k+1 holds H(0x01 || left || right) of each pair of
 * level k, and an unpaired last node moves up unchanged. For any n this root
 * equals RFC 9162's MTH (split at the largest power of two below n).
 */
struct kvmtrust_merkle {
	u64 leaves;
	unsigned int nr_levels;
	u8 *level[65];		/* level[k] + i * KVMTRUST_HASH_LEN: node i */
	u64 level_len[65];
	u8 *nodes;		/* one allocation for every level */
};

int kvmtrust_merkle_init(void);
void kvmtrust_merkle_exit(void);
const char *kvmtrust_hash_driver(void);

struct shash_desc *kvmtrust_hash_desc_alloc(void);
void kvmtrust_hash_desc_free(struct shash_desc *desc);

int kvmtrust_merkle_leaf_hash(struct shash_desc *desc, const void *prefix,
			      size_t prefix_len, const void *data, size_t len,
			      u8 out[KVMTRUST_HASH_LEN]);

struct kvmtrust_merkle *kvmtrust_merkle_alloc(u64 leaves);
void kvmtrust_merkle_free(struct kvmtrust_merkle *tree);

static inline u8 *kvmtrust_merkle_leaf(struct kvmtrust_merkle *tree, u64 i)
{
	return tree->level[0] + i * KVMTRUST_HASH_LEN;
}

int kvmtrust_merkle_build(struct kvmtrust_merkle *tree, struct shash_desc *desc,
			  u8 root[KVMTRUST_HASH_LEN]);

#endif
