/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest pages of a snapshot: the leaf of an all-zero page (hashed from the
 * state after 0x00 and 4096 zero bytes, as the module does), and reading a
 * page back from the store, checked against its leaf.
 */
#ifndef KVMTRUST_SNAPSHOT_PAGES_H
#define KVMTRUST_SNAPSHOT_PAGES_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/error.h"
#include "common/merkle.h"
#include "snapshot/snapshot.h"

struct kt_snap_zero {
	EVP_MD_CTX *ctx;	/* after 0x00 || 4096 zero bytes */
	EVP_MD_CTX *tmp;
};

int kt_snap_zero_init(struct kt_snap_zero *z);
void kt_snap_zero_free(struct kt_snap_zero *z);
void kt_snap_zero_leaf(struct kt_snap_zero *z, uint64_t gpa, kt_hash out);
bool kt_snap_page_is_zero(const uint8_t *page);

/*
 * The page of leaf l: zeros when l is the zero page's leaf at its GPA, else
 * the stored file, which must hash to l ("page" check names the GPA).
 */
int kt_snap_page_read(const char *store, struct kt_snap_zero *z, const struct kt_snap_leaf *l,
		      uint8_t page[KT_SNAP_PAGE], struct kt_err *err);

/* RFC 9162 root over s->leaves; -1 when out of memory. */
int kt_snap_memory_root(const struct kt_snapshot *s, kt_hash out);

#endif
