/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A signed migration order: the administrator's proof that they, and not
 * whoever forwards their certificate, asked to move this VM to this host
 * under this grant, now. A compact ES256 JWS (jws.h), header typ
 * "kvmtrust-migration-order" with the administrator's certificate as the
 * only x5c entry, claims
 *
 *   jti    random UUID (a nonce, for logs)
 *   vm     guest UUID          grant  grant id (the grant's jti)
 *   host   destination host UUID
 *   iat, exp   seconds since the epoch, exp - iat <= KT_MIGRATE_ORDER_MAX_LIFETIME
 *
 * No chain is checked here: the grant pins the administrator's certificate
 * or key, and the policy's delegate rule matches x5c[0] against it. The
 * certificate must still be allowed to sign (kt_pki_check_signer()).
 */
#ifndef KVMTRUST_MIGRATE_ORDER_H
#define KVMTRUST_MIGRATE_ORDER_H

#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/error.h"
#include "identity/pki.h"

#define KT_MIGRATE_ORDER_TYP "kvmtrust-migration-order"
#define KT_MIGRATE_ORDER_LIFETIME 300		/* default, seconds */
#define KT_MIGRATE_ORDER_MAX_LIFETIME 3600
#define KT_MIGRATE_ORDER_SKEW 60		/* iat may be this far ahead of our clock */

struct kt_migrate_intent {
	char nonce[KT_UUID_STR_LEN + 1];
	char vm[KT_UUID_STR_LEN + 1];
	char grant[KT_UUID_STR_LEN + 1];
	char host[KT_UUID_STR_LEN + 1];
	int64_t iat, exp;
};

/* Signs intent (nonce filled in if empty) with key, whose certificate is cert. */
int kt_migrate_order_sign(struct kt_migrate_intent *intent, EVP_PKEY *key, X509 *cert,
			    char **out, struct kt_err *err);

/*
 * Parses the order and checks its signature against its own certificate
 * (check "order" for everything but "key-usage"); *signer gets that
 * certificate (a new reference). Freshness is checked against now.
 */
int kt_migrate_order_verify(const char *compact, time_t now, struct kt_migrate_intent *intent,
			      X509 **signer, struct kt_err *err);

#endif
