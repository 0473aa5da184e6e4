// SPDX-License-Identifier: GPL-2.0
/* RFC 9162 section 2.1: tree hash, audit paths and consistency proofs. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/merkle.h"

void kt_sha256(const void *data, size_t len, kt_hash out)
{
	EVP_Digest(data, len, out, NULL, EVP_sha256(), NULL);
}

static void prefixed_hash(uint8_t prefix, const void *a, size_t alen,
			  const void *b, size_t blen, kt_hash out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	/* Allocation failure here leaves no sane way on; abort like OOM. */
	if (!ctx)
		abort();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, &prefix, 1);
	EVP_DigestUpdate(ctx, a, alen);
	if (blen)
		EVP_DigestUpdate(ctx, b, blen);
	EVP_DigestFinal_ex(ctx, out, NULL);
	EVP_MD_CTX_free(ctx);
}

void kt_merkle_leaf_hash(const void *data, size_t len, kt_hash out)
{
	prefixed_hash(0x00, data, len, NULL, 0, out);
}

void kt_merkle_node_hash(const kt_hash left, const kt_hash right, kt_hash out)
{
	prefixed_hash(0x01, left, KT_HASH_LEN, right, KT_HASH_LEN, out);
}

/* Largest power of two strictly below n (n >= 2). */
static uint64_t split_point(uint64_t n)
{
	uint64_t k = 1;

	while (k << 1 < n)
		k <<= 1;
	return k;
}

void kt_merkle_root(const kt_hash *leaves, uint64_t n, kt_hash out)
{
	kt_hash left, right;
	uint64_t k;

	if (n == 0) {
		kt_sha256("", 0, out);
		return;
	}
	if (n == 1) {
		memcpy(out, leaves[0], KT_HASH_LEN);
		return;
	}
	k = split_point(n);
	kt_merkle_root(leaves, k, left);
	kt_merkle_root(leaves + k, n - k, right);
	kt_merkle_node_hash(left, right, out);
}

static int path(const kt_hash *leaves, uint64_t n, uint64_t m, kt_hash *proof, int len)
{
	uint64_t k;

	if (n <= 1)
		return len;
	if (len >= KT_MERKLE_MAX_PROOF)
		return -1;
	k = split_point(n);
	if (m < k) {
		len = path(leaves, k, m, proof, len);
		if (len >= 0)
			kt_merkle_root(leaves + k, n - k, proof[len++]);
	} else {
		len = path(leaves + k, n - k, m - k, proof, len);
		if (len >= 0)
			kt_merkle_root(leaves, k, proof[len++]);
	}
	return len;
}

int kt_merkle_inclusion_proof(const kt_hash *leaves, uint64_t n, uint64_t index,
			      kt_hash *proof)
{
	if (index >= n)
		return -1;
	return path(leaves, n, index, proof, 0);
}

int kt_merkle_verify_inclusion(const kt_hash leaf, uint64_t index, uint64_t size,
			       const kt_hash *proof, size_t proof_len, const kt_hash root)
{
	uint64_t fn = index, sn;
	kt_hash r;
	size_t i;

	if (index >= size)
		return -1;
	sn = size - 1;
	memcpy(r, leaf, KT_HASH_LEN);
	for (i = 0; i < proof_len; i++) {
		if (sn == 0)
			return -1;
		if ((fn & 1) || fn == sn) {
			kt_merkle_node_hash(proof[i], r, r);
			while (!(fn & 1) && fn) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			kt_merkle_node_hash(r, proof[i], r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && !CRYPTO_memcmp(r, root, KT_HASH_LEN) ? 0 : -1;
}

static int subproof(const kt_hash *leaves, uint64_t m, uint64_t n, int complete,
		    kt_hash *proof, int len)
{
	uint64_t k;

	if (len < 0)
		return -1;
	if (m == n) {
		if (!complete)
			kt_merkle_root(leaves, n, proof[len++]);
		return len;
	}
	if (len >= KT_MERKLE_MAX_PROOF - 1)
		return -1;
	k = split_point(n);
	if (m <= k) {
		len = subproof(leaves, m, k, complete, proof, len);
		if (len >= 0)
			kt_merkle_root(leaves + k, n - k, proof[len++]);
	} else {
		len = subproof(leaves + k, m - k, n - k, 0, proof, len);
		if (len >= 0)
			kt_merkle_root(leaves, k, proof[len++]);
	}
	return len;
}

int kt_merkle_consistency_proof(const kt_hash *leaves, uint64_t m, uint64_t n,
				kt_hash *proof)
{
	if (m > n)
		return -1;
	if (m == 0 || m == n)
		return 0;
	return subproof(leaves, m, n, 1, proof, 0);
}

void kt_merkle_fold(const kt_hash *frontier, size_t nf, kt_hash out)
{
	size_t i;

	if (!nf) {
		kt_sha256("", 0, out);
		return;
	}
	memcpy(out, frontier[nf - 1], KT_HASH_LEN);
	for (i = nf - 1; i-- > 0;)
		kt_merkle_node_hash(frontier[i], out, out);
}

/*
 * The RFC's proof needs, on the old side, only the perfect subtrees the old
 * tree decomposes into (its frontier): a verifier that kept those and reads
 * the new leaves can build and check the proof without the old leaves.
 */
struct compact {
	const kt_hash *frontier, *added;
	size_t nf;
	uint64_t m;
};

static int compact_node(const struct compact *c, uint64_t off, uint64_t len, kt_hash out)
{
	uint64_t at = 0, size;
	size_t i;

	if (off >= c->m) {
		kt_merkle_root(c->added + (off - c->m), len, out);
		return 0;
	}
	for (i = 0; i < c->nf; i++, at += size) {
		size = 1ULL << (63 - __builtin_clzll(c->m - at));
		if (at == off && size == len) {
			memcpy(out, c->frontier[i], KT_HASH_LEN);
			return 0;
		}
	}
	return -1;
}

static int compact_subproof(const struct compact *c, uint64_t off, uint64_t m, uint64_t n,
			    int complete, kt_hash *proof, int len)
{
	uint64_t k;

	if (len < 0)
		return -1;
	if (m == n)
		return complete ? len : compact_node(c, off, n, proof[len]) ? -1 : len + 1;
	if (len >= KT_MERKLE_MAX_PROOF - 1)
		return -1;
	k = split_point(n);
	if (m <= k) {
		len = compact_subproof(c, off, m, k, complete, proof, len);
		return len < 0 || compact_node(c, off + k, n - k, proof[len]) ? -1 : len + 1;
	}
	len = compact_subproof(c, off + k, m - k, n - k, 0, proof, len);
	return len < 0 || compact_node(c, off, k, proof[len]) ? -1 : len + 1;
}

int kt_merkle_consistency_proof_compact(const kt_hash *frontier, size_t nf, uint64_t m,
					const kt_hash *added, uint64_t n, kt_hash *proof)
{
	struct compact c = { .frontier = frontier, .added = added, .nf = nf, .m = m };

	if (m > n || nf != (size_t)__builtin_popcountll(m))
		return -1;
	if (m == 0 || m == n)
		return 0;
	return compact_subproof(&c, 0, m, n, 1, proof, 0);
}

int kt_merkle_verify_consistency(uint64_t m, uint64_t n, const kt_hash root_m,
				 const kt_hash root_n, const kt_hash *proof, size_t proof_len)
{
	kt_hash fr, sr;
	uint64_t fn, sn;
	size_t i = 0;

	if (m > n)
		return -1;
	if (m == n)
		return proof_len == 0 && !CRYPTO_memcmp(root_m, root_n, KT_HASH_LEN) ? 0 : -1;
	if (m == 0)
		return proof_len == 0 ? 0 : -1;
	if (proof_len == 0)
		return -1;
	fn = m - 1;
	sn = n - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	/* When m is a power of two the proof starts implicitly with root_m. */
	if (fn == 0 && !(m & (m - 1))) {
		memcpy(fr, root_m, KT_HASH_LEN);
	} else {
		memcpy(fr, proof[0], KT_HASH_LEN);
		i = 1;
	}
	memcpy(sr, fr, KT_HASH_LEN);
	for (; i < proof_len; i++) {
		if (sn == 0)
			return -1;
		if ((fn & 1) || fn == sn) {
			kt_merkle_node_hash(proof[i], fr, fr);
			kt_merkle_node_hash(proof[i], sr, sr);
			while (!(fn & 1) && fn) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			kt_merkle_node_hash(sr, proof[i], sr);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return -1;
	if (CRYPTO_memcmp(fr, root_m, KT_HASH_LEN) || CRYPTO_memcmp(sr, root_n, KT_HASH_LEN))
		return -1;
	return 0;
}
