// SPDX-License-Identifier: GPL-2.0
/*
 * SHA-256 through the kernel crypto API and the RFC 9162 Merkle tree that
 * both roots of a measurement use (Documentation/measurement.rst).
 */
#include <linux/err.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/slab.h>

#include "merkle.h"

/*
 * One transform for the module: a shash tfm without a key is safe to share,
 * each user hashes through its own descriptor.
 */
static struct crypto_shash *sha256_tfm __ro_after_init;

int __init kvmtrust_merkle_init(void)
{
	struct crypto_shash *tfm;

	tfm = crypto_alloc_shash("sha256", 0, 0);
	if (IS_ERR(tfm)) {
		pr_err("cannot allocate sha256: %ld\n", PTR_ERR(tfm));
		return PTR_ERR(tfm);
	}
	if (crypto_shash_digestsize(tfm) != KVMTRUST_HASH_LEN) {
		crypto_free_shash(tfm);
		return -EINVAL;
	}
	sha256_tfm = tfm;
	return 0;
}

void kvmtrust_merkle_exit(void)
{
	crypto_free_shash(sha256_tfm);
}

const char *kvmtrust_hash_driver(void)
{
	return crypto_shash_driver_name(sha256_tfm);
}

struct shash_desc *kvmtrust_hash_desc_alloc(void)
{
	struct shash_desc *desc;

	desc = kmalloc(sizeof(*desc) + crypto_shash_descsize(sha256_tfm),
		       GFP_KERNEL);
	if (!desc)
		return NULL;
	desc->tfm = sha256_tfm;
	return desc;
}

void kvmtrust_hash_desc_free(struct shash_desc *desc)
{
	kfree_sensitive(desc);
}

/* H(0x00 || prefix || data): the RFC 9162 leaf hash of prefix || data. */
int kvmtrust_merkle_leaf_hash(struct shash_desc *desc, const void *prefix,
			      size_t prefix_len, const void *data, size_t len,
			      u8 out[KVMTRUST_HASH_LEN])
{
	static const u8 leaf_tag;
	int err;

	err = crypto_shash_init(desc);
	if (!err)
		err = crypto_shash_update(desc, &leaf_tag, 1);
	if (!err && prefix_len)
		err = crypto_shash_update(desc, prefix, prefix_len);
	if (!err)
		err = crypto_shash_update(desc, data, len);
	if (!err)
		err = crypto_shash_final(desc, out);
	return err;
}

/* H(0x01 || left || right) */
static int node_hash(struct shash_desc *desc, const u8 *left, const u8 *right,
		     u8 *out)
{
	u8 buf[1 + 2 * KVMTRUST_HASH_LEN];

	buf[0] = 0x01;
	memcpy(buf + 1, left, KVMTRUST_HASH_LEN);
	memcpy(buf + 1 + KVMTRUST_HASH_LEN, right, KVMTRUST_HASH_LEN);
	return crypto_shash_digest(desc, buf, sizeof(buf), out);
}

struct kvmtrust_merkle *kvmtrust_merkle_alloc(u64 leaves)
{
	struct kvmtrust_merkle *tree;
	u64 len, total = 0;
	unsigned int k;

	tree = kzalloc(sizeof(*tree), GFP_KERNEL);
	if (!tree)
		return NULL;
	tree->leaves = leaves;
	for (len = leaves; len; len = len > 1 ? DIV_ROUND_UP_ULL(len, 2) : 0) {
		tree->level_len[tree->nr_levels++] = len;
		total += len;
	}
	if (total) {
		tree->nodes = kvmalloc_array(total, KVMTRUST_HASH_LEN,
					     GFP_KERNEL_ACCOUNT);
		if (!tree->nodes) {
			kfree(tree);
			return NULL;
		}
	}
	total = 0;
	for (k = 0; k < tree->nr_levels; k++) {
		tree->level[k] = tree->nodes + total * KVMTRUST_HASH_LEN;
		total += tree->level_len[k];
	}
	return tree;
}

void kvmtrust_merkle_free(struct kvmtrust_merkle *tree)
{
	if (!tree)
		return;
	kvfree(tree->nodes);
	kfree(tree);
}

/*
 * Computes every interior level from the leaf hashes already stored in
 * level 0 and returns the root; an empty tree's root is SHA-256("").
 */
int kvmtrust_merkle_build(struct kvmtrust_merkle *tree, struct shash_desc *desc,
			  u8 root[KVMTRUST_HASH_LEN])
{
	unsigned int k;
	u64 i;
	int err;

	if (!tree->leaves)
		return crypto_shash_digest(desc, NULL, 0, root);

	for (k = 1; k < tree->nr_levels; k++) {
		const u8 *below = tree->level[k - 1];
		u64 below_len = tree->level_len[k - 1];
		u8 *out = tree->level[k];

		for (i = 0; i < tree->level_len[k]; i++) {
			const u8 *left = below + 2 * i * KVMTRUST_HASH_LEN;

			if (2 * i + 1 == below_len) {
				memcpy(out, left, KVMTRUST_HASH_LEN);
				break;
			}
			err = node_hash(desc, left, left + KVMTRUST_HASH_LEN, out);
			if (err)
				return err;
			out += KVMTRUST_HASH_LEN;
			if (!(i & 1023))
				cond_resched();
		}
	}
	memcpy(root, tree->level[tree->nr_levels - 1], KVMTRUST_HASH_LEN);
	return 0;
}
