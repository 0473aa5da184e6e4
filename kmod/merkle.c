// SPDX-License-Identifier: GPL-2.0
/*
 * SHA-256 through the kernel crypto API and the RFC 9162 Merkle trees that
 * both roots of a measurement use (Documentation/measurement.rst): streamed
 * with a stack of subtree roots, or kept whole for later updates.
 */
#include <linux/bitmap.h>
#include <linux/err.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/overflow.h>
#include <linux/sched.h>
#include <linux/random.h>
#include <linux/siphash.h>
#include <linux/slab.h>
#include <linux/unaligned.h>

#include "merkle.h"

/*
 * One transform for the module: a shash tfm without a key is safe to share,
 * each user hashes through its own descriptor.
 */
static struct crypto_shash *sha256_tfm __ro_after_init;

/*
 * The hash state after 0x00 || 4096 zero bytes, exported once: a leaf of a
 * zero page is then one import, eight bytes and the final block, instead
 * of 65 blocks (why the address follows the page in leaf format 2).
 */
static void *zero_leaf_state __ro_after_init;

static const u8 leaf_tag;

/*
 * The fingerprint key: random per module load, never leaves the kernel
 * (no attribute, no log), so nobody can aim a page at another's
 * fingerprint (Documentation/measurement.rst).
 */
static siphash_key_t fp_key __ro_after_init;
static u64 zero_fp __ro_after_init;

u64 kvmtrust_fingerprint(const void *page)
{
	return page ? siphash(page, PAGE_SIZE, &fp_key) : zero_fp;
}

static int init_zero_leaf_state(void)
{
	struct shash_desc *desc = kvmtrust_hash_desc_alloc();
	int err;

	if (!desc)
		return -ENOMEM;
	zero_leaf_state = kmalloc(crypto_shash_statesize(sha256_tfm), GFP_KERNEL);
	err = zero_leaf_state ? crypto_shash_init(desc) : -ENOMEM;
	if (!err)
		err = crypto_shash_update(desc, &leaf_tag, 1);
	if (!err)
		err = crypto_shash_update(desc, page_address(ZERO_PAGE(0)),
					  PAGE_SIZE);
	if (!err)
		err = crypto_shash_export(desc, zero_leaf_state);
	kvmtrust_hash_desc_free(desc);
	return err;
}

static char *hash_driver = "";
module_param(hash_driver, charp, 0444);
MODULE_PARM_DESC(hash_driver,
		 "sha256 driver to hash with, e.g. sha256-generic (default: the fastest the cpu has)");

/*
 * Debian builds sha256-generic in and the SIMD drivers (sha256-ni, -avx2,
 * -avx, -ssse3) as sha256_ssse3.ko, which nothing loads first: "sha256"
 * alone would bind the generic C code, about four times slower than
 * SHA-NI. Asking for the fastest driver by name makes the crypto API load
 * that module (its alias crypto-sha256-ni), which registers every driver
 * the CPU can run; "sha256" is then the highest-priority one registered.
 * Bound once, at load: a later module never changes a running module's
 * choice.
 */
static struct crypto_shash *alloc_sha256(void)
{
	struct crypto_shash *tfm;

	if (hash_driver[0])
		return crypto_alloc_shash(hash_driver, 0, 0);
	tfm = crypto_alloc_shash("sha256-ni", 0, 0);
	if (!IS_ERR(tfm))
		return tfm;
	return crypto_alloc_shash("sha256", 0, 0);
}

int __init kvmtrust_merkle_init(void)
{
	struct crypto_shash *tfm;
	int err;

	tfm = alloc_sha256();
	if (IS_ERR(tfm)) {
		pr_err("cannot allocate sha256 driver '%s': %ld\n",
		       hash_driver[0] ? hash_driver : "sha256", PTR_ERR(tfm));
		return PTR_ERR(tfm);
	}
	if (strcmp(crypto_tfm_alg_name(crypto_shash_tfm(tfm)), "sha256")) {
		pr_err("'%s' is not a sha256 driver\n", hash_driver);
		crypto_free_shash(tfm);
		return -EINVAL;
	}
	if (crypto_shash_digestsize(tfm) != KVMTRUST_HASH_LEN) {
		crypto_free_shash(tfm);
		return -EINVAL;
	}
	sha256_tfm = tfm;
	get_random_bytes(&fp_key, sizeof(fp_key));
	zero_fp = siphash(page_address(ZERO_PAGE(0)), PAGE_SIZE, &fp_key);
	err = init_zero_leaf_state();
	if (err)
		kvmtrust_merkle_exit();
	return err;
}

void kvmtrust_merkle_exit(void)
{
	kfree(zero_leaf_state);
	crypto_free_shash(sha256_tfm);
}

const char *kvmtrust_hash_driver(void)
{
	return crypto_shash_driver_name(sha256_tfm);
}

size_t kvmtrust_hash_desc_size(void)
{
	return sizeof(struct shash_desc) + crypto_shash_descsize(sha256_tfm);
}

struct shash_desc *kvmtrust_hash_desc_alloc(void)
{
	struct shash_desc *desc;

	desc = kmalloc(kvmtrust_hash_desc_size(), GFP_KERNEL);
	if (!desc)
		return NULL;
	desc->tfm = sha256_tfm;
	return desc;
}

void kvmtrust_hash_desc_free(struct shash_desc *desc)
{
	kfree_sensitive(desc);
}

int kvmtrust_merkle_leaf_hash(struct shash_desc *desc, const void *data,
			      size_t len, u8 out[KVMTRUST_HASH_LEN])
{
	int err;

	err = crypto_shash_init(desc);
	if (!err)
		err = crypto_shash_update(desc, &leaf_tag, 1);
	if (!err)
		err = crypto_shash_finup(desc, data, len, out);
	return err;
}

int kvmtrust_memory_leaf(struct shash_desc *desc, const void *page, u64 gpa,
			 u8 out[KVMTRUST_HASH_LEN])
{
	u8 addr[8];
	int err;

	put_unaligned_le64(gpa, addr);
	if (page) {
		err = crypto_shash_init(desc);
		if (!err)
			err = crypto_shash_update(desc, &leaf_tag, 1);
		if (!err)
			err = crypto_shash_update(desc, page, PAGE_SIZE);
	} else {
		err = crypto_shash_import(desc, zero_leaf_state);
	}
	if (!err)
		err = crypto_shash_finup(desc, addr, sizeof(addr), out);
	return err;
}

int kvmtrust_node_hash(struct shash_desc *desc, const u8 *left, const u8 *right,
		       u8 *out)
{
	u8 buf[1 + 2 * KVMTRUST_HASH_LEN];

	buf[0] = 0x01;
	memcpy(buf + 1, left, KVMTRUST_HASH_LEN);
	memcpy(buf + 1 + KVMTRUST_HASH_LEN, right, KVMTRUST_HASH_LEN);
	return crypto_shash_digest(desc, buf, sizeof(buf), out);
}

void kvmtrust_mth_init(struct kvmtrust_mth *s)
{
	s->depth = 0;
}

int kvmtrust_mth_push(struct kvmtrust_mth *s, struct shash_desc *desc,
		      const u8 hash[KVMTRUST_HASH_LEN], unsigned int height)
{
	unsigned int top;
	int err;

	/* Heights strictly fall from the bottom: at most one per height. */
	if (s->depth == KVMTRUST_MTH_DEPTH)
		return -EOVERFLOW;
	memcpy(s->node[s->depth], hash, KVMTRUST_HASH_LEN);
	s->height[s->depth++] = height;
	while (s->depth >= 2 &&
	       s->height[s->depth - 2] == s->height[s->depth - 1]) {
		top = s->depth - 1;
		err = kvmtrust_node_hash(desc, s->node[top - 1], s->node[top],
					 s->node[top - 1]);
		if (err)
			return err;
		s->height[top - 1]++;
		s->depth--;
	}
	return 0;
}

int kvmtrust_mth_root(struct kvmtrust_mth *s, struct shash_desc *desc,
		      u8 root[KVMTRUST_HASH_LEN])
{
	u8 acc[KVMTRUST_HASH_LEN];
	unsigned int i;
	int err;

	if (!s->depth)
		return crypto_shash_digest(desc, NULL, 0, root);
	memcpy(acc, s->node[s->depth - 1], KVMTRUST_HASH_LEN);
	for (i = s->depth - 1; i > 0; i--) {
		err = kvmtrust_node_hash(desc, s->node[i - 1], acc, acc);
		if (err)
			return err;
	}
	memcpy(root, acc, KVMTRUST_HASH_LEN);
	return 0;
}

static unsigned int tree_levels(u64 leaves, unsigned int base, u64 *level_len,
				u64 *total)
{
	unsigned int k = 0;
	u64 len;

	*total = 0;
	for (len = leaves; len; len = len > 1 ? DIV_ROUND_UP_ULL(len, 2) : 0) {
		if (level_len)
			level_len[k] = len;
		if (k >= base)
			*total += len;
		k++;
	}
	return k;
}

size_t kvmtrust_merkle_bytes(u64 leaves, unsigned int base)
{
	size_t bytes;
	u64 total;

	tree_levels(leaves, base, NULL, &total);
	if (check_mul_overflow((size_t)total, (size_t)KVMTRUST_HASH_LEN, &bytes) ||
	    total > SIZE_MAX)
		return 0;
	return bytes;
}

/*
 * gfp decides who pays: the retained tree is charged to the VMM's memory
 * cgroup by the caller. Callers bound leaves so that the size stays far
 * below what kvmalloc refuses with a WARN (INT_MAX).
 */
struct kvmtrust_merkle *kvmtrust_merkle_alloc(u64 leaves, unsigned int base,
					      size_t extra_bytes, gfp_t gfp)
{
	struct kvmtrust_merkle *tree;
	size_t node_bytes;
	u64 total = 0;
	unsigned int k;

	tree = kzalloc(sizeof(*tree), gfp);
	if (!tree)
		return NULL;
	tree->leaves = leaves;
	tree->nr_levels = tree_levels(leaves, 0, tree->level_len, &total);
	tree->base = min(base, tree->nr_levels ? tree->nr_levels - 1 : 0);
	node_bytes = kvmtrust_merkle_bytes(leaves, tree->base);
	if (check_add_overflow(node_bytes, extra_bytes, &tree->bytes))
		goto err_free;
	if (leaves && (!node_bytes || tree->bytes > INT_MAX))
		goto err_free;
	if (tree->bytes) {
		tree->nodes = kvmalloc(tree->bytes, gfp);
		if (!tree->nodes)
			goto err_free;
	}
	tree->extra = tree->nodes + node_bytes;
	total = 0;
	for (k = tree->base; k < tree->nr_levels; k++) {
		tree->level[k] = tree->nodes + total * KVMTRUST_HASH_LEN;
		total += tree->level_len[k];
	}
	return tree;

err_free:
	kfree(tree);
	return NULL;
}

void kvmtrust_merkle_free(struct kvmtrust_merkle *tree)
{
	if (!tree)
		return;
	kvfree(tree->nodes);
	kfree(tree);
}

/* Node i of level k from its children. */
static int merkle_node(struct kvmtrust_merkle *tree, struct shash_desc *desc,
		       unsigned int k, u64 i)
{
	const u8 *left = kvmtrust_merkle_node(tree, k - 1, 2 * i);
	u8 *out = kvmtrust_merkle_node(tree, k, i);

	if (2 * i + 1 == tree->level_len[k - 1]) {
		memcpy(out, left, KVMTRUST_HASH_LEN);
		return 0;
	}
	return kvmtrust_node_hash(desc, left, left + KVMTRUST_HASH_LEN, out);
}

int kvmtrust_merkle_update(struct kvmtrust_merkle *tree, struct shash_desc *desc,
			   unsigned long *changed)
{
	unsigned long len = tree->level_len[tree->base];
	unsigned long i, p;
	unsigned int k;
	int err;

	/* A parent's index never exceeds its child's: one bitmap serves all. */
	for (k = tree->base + 1; k < tree->nr_levels; k++) {
		for_each_set_bit(i, changed, len) {
			__clear_bit(i, changed);
			p = i / 2;
			if (test_bit(p, changed))
				continue;
			__set_bit(p, changed);
			err = merkle_node(tree, desc, k, p);
			if (err)
				return err;
		}
		len = tree->level_len[k];
	}
	bitmap_zero(changed, tree->level_len[tree->base]);
	return 0;
}

int kvmtrust_merkle_build(struct kvmtrust_merkle *tree, struct shash_desc *desc,
			  unsigned int from, unsigned int to, u64 first, u64 end)
{
	unsigned int k;
	u64 i;
	int err;

	for (k = from + 1; k <= to && k < tree->nr_levels; k++) {
		first /= 2;
		end = min(DIV_ROUND_UP_ULL(end, 2), tree->level_len[k]);
		for (i = first; i < end; i++) {
			err = merkle_node(tree, desc, k, i);
			if (err)
				return err;
			if (!(i & 1023))
				cond_resched();
		}
	}
	return 0;
}
