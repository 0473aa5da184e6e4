/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KVMTRUST_MERKLE_H
#define _KVMTRUST_MERKLE_H

#include <linux/types.h>
#include <crypto/hash.h>
#include <uapi/linux/kvmtrust.h>

/* The memory leaf layout this module hashes (Documentation/measurement.rst). */
#define KVMTRUST_LEAF_FORMAT KVMTRUST_LEAF_FORMAT_GPA_LAST

int kvmtrust_merkle_init(void);
void kvmtrust_merkle_exit(void);
const char *kvmtrust_hash_driver(void);

struct shash_desc *kvmtrust_hash_desc_alloc(void);
void kvmtrust_hash_desc_free(struct shash_desc *desc);
size_t kvmtrust_hash_desc_size(void);

/*
 * SipHash-2-4 of a page under the module's secret key (page NULL: of a
 * zero page): tells whether a page changed, never what it holds.
 */
u64 kvmtrust_fingerprint(const void *page);

/* H(0x00 || data): the RFC 9162 leaf hash. */
int kvmtrust_merkle_leaf_hash(struct shash_desc *desc, const void *data,
			      size_t len, u8 out[KVMTRUST_HASH_LEN]);
/* A memory leaf: H(0x00 || page || le64(gpa)); page NULL for all zeros. */
int kvmtrust_memory_leaf(struct shash_desc *desc, const void *page, u64 gpa,
			 u8 out[KVMTRUST_HASH_LEN]);

/*
 * RFC 9162's Merkle Tree Hash, streamed: perfect subtrees are pushed left
 * to right (a leaf is a subtree of height 0) and merged as soon as two of
 * equal height meet, so the stack never holds more than one per height.
 * The last subtree pushed may be partial (its own MTH, labelled with the
 * height of a full one): folding the stack from the right still gives
 * MTH, because RFC 9162 splits every range at a power of two.
 */
#define KVMTRUST_MTH_DEPTH 64

struct kvmtrust_mth {
	unsigned int depth;
	u8 height[KVMTRUST_MTH_DEPTH];
	u8 node[KVMTRUST_MTH_DEPTH][KVMTRUST_HASH_LEN];
};

void kvmtrust_mth_init(struct kvmtrust_mth *s);
int kvmtrust_mth_push(struct kvmtrust_mth *s, struct shash_desc *desc,
		      const u8 hash[KVMTRUST_HASH_LEN], unsigned int height);
int kvmtrust_mth_root(struct kvmtrust_mth *s, struct shash_desc *desc,
		      u8 root[KVMTRUST_HASH_LEN]);

/*
 * An RFC 9162 Merkle tree that keeps every level from base up, so that
 * changing one leaf costs one path (log n hashes) plus the 2^base leaves
 * under its level-base node instead of the whole tree. Level 0 holds the
 * n leaf hashes; level k+1 holds H(0x01 || left || right) of each pair of
 * level k, and an unpaired last node moves up unchanged. For any n this root
 * equals RFC 9162's MTH (split at the largest power of two below n), and
 * node i of level k is the MTH of leaves [i * 2^k, min((i + 1) * 2^k, n)).
 * Levels below base are not stored (level[k] is NULL): their lengths are.
 */
struct kvmtrust_merkle {
	u64 leaves;
	unsigned int nr_levels;
	unsigned int base;	/* lowest level stored */
	u8 *level[65];		/* level[k] + i * KVMTRUST_HASH_LEN: node i */
	u64 level_len[65];
	u8 *nodes;		/* one allocation for every level, then extra */
	void *extra;		/* extra_bytes for the caller, after the nodes */
	size_t bytes;		/* nodes and extra */
};

/* Bytes of a tree of that many leaves, or 0 when that overflows. */
size_t kvmtrust_merkle_bytes(u64 leaves, unsigned int base);
struct kvmtrust_merkle *kvmtrust_merkle_alloc(u64 leaves, unsigned int base,
					      size_t extra_bytes, gfp_t gfp);
void kvmtrust_merkle_free(struct kvmtrust_merkle *tree);

static inline u8 *kvmtrust_merkle_node(struct kvmtrust_merkle *tree,
				       unsigned int level, u64 i)
{
	return tree->level[level] + i * KVMTRUST_HASH_LEN;
}

/*
 * Computes levels from+1 .. to over the nodes [first, end) of level from
 * (first a multiple of 2^(to - from)); from 0 to nr_levels - 1 over every
 * leaf it builds the whole tree, whose root is then the one top node.
 */
int kvmtrust_merkle_build(struct kvmtrust_merkle *tree, struct shash_desc *desc,
			  unsigned int from, unsigned int to, u64 first, u64 end);

/*
 * Recomputes the ancestors, up to the root, of the level-base nodes whose
 * bits are set in changed (level_len[base] bits; cleared on return).
 */
int kvmtrust_merkle_update(struct kvmtrust_merkle *tree, struct shash_desc *desc,
			   unsigned long *changed);

/* H(0x01 || left || right) */
int kvmtrust_node_hash(struct shash_desc *desc, const u8 *left, const u8 *right,
		       u8 *out);

#endif
