/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Who owns a VM, by the ledger: the signer of the first register entry that
 * names it (ledger_auth.h: a user certificate under the owner anchors).
 * kt_ledger_append() refuses a second register of a VM; should a writer
 * bypass it, this fold keeps the first owner and counts the later claims as
 * ignored, so every reader agrees on one owner.
 *
 * The owner is their key: the SHA-256 of the SubjectPublicKeyInfo of the
 * registering certificate, in lowercase hex (the form of a grant's
 * delegates.spki_sha256). A renewed certificate for the same key still owns
 * the VM; a new key does not.
 */
#ifndef KVMTRUST_LEDGER_OWNER_H
#define KVMTRUST_LEDGER_OWNER_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/error.h"
#include "ledger/ledger.h"

#define KT_OWNER_KEY_HEX 64

struct kt_owner {
	bool registered;
	uint64_t index;				/* the register entry */
	char key[KT_OWNER_KEY_HEX + 1];		/* owner's key (see above) */
	char subject[256];			/* of the registering certificate */
	uint64_t ignored;			/* later registers by another key */
};

/* SHA-256 of the key's SubjectPublicKeyInfo DER, lowercase hex. */
int kt_owner_key_id(EVP_PKEY *key, char out[KT_OWNER_KEY_HEX + 1]);

/*
 * Feeds one entry of a verified walk (only register entries naming vm
 * count); -1 when its certificate cannot be read.
 */
int kt_owner_feed(struct kt_owner *o, const char *vm, const struct kt_ledger_entry *e);

/*
 * vm's owner from a verified walk of the whole log; *size (if not NULL)
 * gets the number of entries read.
 */
int kt_owner_read(struct kt_ledger *log, const char *vm, struct kt_owner *o, uint64_t *size,
		  struct kt_err *err);

#endif
