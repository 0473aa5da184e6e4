/* SPDX-License-Identifier: GPL-2.0 */
/*
 * RFC 9162 (RFC 6962) Merkle Tree Hash with SHA-256: leaf = H(0x00 || data),
 * node = H(0x01 || left || right), split at the largest power of two below n,
 * empty tree = H(""). One implementation serves the memory tree
 * recomputation, the configuration tree and the ledger, so every root in
 * kvmtrust is computed the same way (Documentation/measurement.rst).
 *
 * Proof arrays hold at most KT_MERKLE_MAX_PROOF hashes (trees up to 2^64).
 */
#ifndef KVMTRUST_MERKLE_H
#define KVMTRUST_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#define KT_HASH_LEN 32
#define KT_MERKLE_MAX_PROOF 128

typedef uint8_t kt_hash[KT_HASH_LEN];

void kt_sha256(const void *data, size_t len, kt_hash out);
void kt_merkle_leaf_hash(const void *data, size_t len, kt_hash out);
void kt_merkle_node_hash(const kt_hash left, const kt_hash right, kt_hash out);

/* Root over n leaf hashes (already prefixed with 0x00 and hashed). */
void kt_merkle_root(const kt_hash *leaves, uint64_t n, kt_hash out);

/*
 * Root of a tree given as its frontier: the roots of the perfect subtrees
 * its leaves decompose into, largest first (nf of them; none: empty tree).
 */
void kt_merkle_fold(const kt_hash *frontier, size_t nf, kt_hash out);

/* Audit path for leaf `index` in a tree of n leaves; returns its length or -1. */
int kt_merkle_inclusion_proof(const kt_hash *leaves, uint64_t n, uint64_t index,
			      kt_hash *proof);
/* 0 if `leaf` at `index` is in the tree of `size` leaves with `root`. */
int kt_merkle_verify_inclusion(const kt_hash leaf, uint64_t index, uint64_t size,
			       const kt_hash *proof, size_t proof_len, const kt_hash root);

/* Proof that the first m leaves are a prefix of the n leaves; length or -1. */
int kt_merkle_consistency_proof(const kt_hash *leaves, uint64_t m, uint64_t n,
				kt_hash *proof);
/*
 * The same proof from the old tree's frontier (the roots of the perfect
 * subtrees its m leaves decompose into, largest first; nf of them) and the
 * n - m leaf hashes added since: what a verifier that checkpointed the old
 * tree has. Length or -1.
 */
int kt_merkle_consistency_proof_compact(const kt_hash *frontier, size_t nf, uint64_t m,
					const kt_hash *added, uint64_t n, kt_hash *proof);
/* 0 if a tree of size m with root_m is a prefix of size n with root_n. */
int kt_merkle_verify_consistency(uint64_t m, uint64_t n, const kt_hash root_m,
				 const kt_hash root_n, const kt_hash *proof, size_t proof_len);

#endif
