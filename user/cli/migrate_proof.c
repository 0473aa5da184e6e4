// SPDX-License-Identifier: GPL-2.0
/*
 * The reports a migration rests on: the source signs them with its host
 * key (attest/hostkey.h), the destination verifies them against the host
 * that issued the guest's token, the one the handshake proved: the report's
 * x5c chains to the host CAs and its leaf names that host's UUID.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

#include "attest/hostkey.h"
#include "common/encoding.h"
#include "migrate_cli.h"

int migrate_nonce(char out[65], struct kt_err *err)
{
	uint8_t rnd[32];

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return kt_fail_ssl(err, "nonce", "no randomness for the challenge");
	kt_hex_encode(rnd, sizeof(rnd), out);
	return 0;
}

int migrate_sign_state(const char *key_dir, const char *tcti, const char *vm,
		       const struct migrate_roots *r, const char *nonce, const char *config_root,
		       char **jwt, struct kt_err *err)
{
	struct kt_hostkey *hk = NULL;
	kt_hash config;
	json_t *claims;
	int ret = -1;

	if (config_root && (strlen(config_root) != 64 ||
			    kt_hex_decode(config_root, config, sizeof(config))))
		return kt_fail(err, "report", "the launch report's config_root is not a hash");
	if (kt_hostkey_open(key_dir, tcti, &hk, err))
		return -1;
	claims = kt_report_vm_claims(vm, &r->state, nonce, config_root ? config : NULL);
	if (!claims)
		kt_fail(err, "report", "out of memory");
	else
		ret = kt_report_sign(hk, claims, jwt, err);
	json_decref(claims);
	kt_hostkey_close(hk);
	return ret;
}

int migrate_verify_report(const char *jwt, const char *source, const char *anchors,
			  const char *crls, const char *kind, const char *vm, const char *nonce,
			  json_t **claims, struct kt_err *err)
{
	struct kt_report_policy p = {
		.anchors = anchors,
		.crls = crls,
		.kind = kind,
		.nonce = nonce,
		.max_age = nonce ? 0 : -1,	/* a launch report dates from the launch */
	};
	const char *id, *host;

	*claims = NULL;
	if (!jwt)
		return kt_fail(err, "report", "no %s report", kind);
	if (kt_report_verify(jwt, &p, claims, err))
		return -1;
	id = json_string_value(json_object_get(*claims, "vm_id"));
	host = json_string_value(json_object_get(*claims, "host_id"));
	if (!id || strcmp(id, vm))
		kt_fail(err, "report", "the %s report is for VM %s, not %s", kind, id ?: "(none)", vm);
	else if (!host || strcasecmp(host, source))
		kt_fail(err, "report-host", "the %s report is signed by host %s, the guest's token "
			"by host %s", kind, host ?: "(none)", source);
	else
		return 0;
	{
		json_decref(*claims);
		*claims = NULL;
		return -1;
	}
	return 0;
}

void migrate_report_digest(const char *jwt, kt_hash out, char hex[65])
{
	kt_sha256(jwt, strlen(jwt), out);
	if (hex)
		kt_hex_encode(out, KT_HASH_LEN, hex);
}
