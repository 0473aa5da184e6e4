/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The federated handshake a destination host runs before it accepts a guest.
 * The guest side (the guest, or the source host acting for it) holds an
 * identity token and the private key named in its cnf claim; the host side
 * holds a host certificate and its key.
 *
 *   guest -> host  F1 {"v":1, "token":JWT, "eph":X25519 pub, "nonce":32 bytes}
 *   host           verifies the token (token.h: every check, its audience),
 *                  refuses a nonce it has seen (replay cache)
 *   host -> guest  F2 {"v":1, "eph":X25519 pub, "nonce":32 bytes, "x5c":[host chain]}
 *   host -> guest  F3 {"sig": ES256_host("kvmtrust handshake v1 host" || 0 || H(F1,F2))}
 *   guest          verifies the host chain (host certificate, anchors, CRLs),
 *                  the expected host UUID if any, and F3
 *   guest -> host  F4 {"sig": ES256_guest("kvmtrust handshake v1 guest" || 0 || H(F1..F3))}
 *   host           verifies F4 with the token's cnf key
 *   host -> guest  F5 {"status":"ok"} or {"error": check name}, then
 *                  one channel record holding H(F1..F4) (key confirmation)
 *
 * H is SHA-256 over each frame as u32 length || bytes. Session keys:
 * HKDF-SHA256(ikm = X25519(eph_g, eph_h), salt = H(F1..F4), info =
 * "kvmtrust channel v1 guest->host" or "... host->guest"), 32 key bytes and
 * 12 IV bytes per direction (channel.h).
 *
 * Replay: every signature covers both fresh nonces and both ephemeral keys,
 * so recorded frames are useless in a new session ("guest-signature" /
 * "host-signature"); the host also remembers nonces it has seen until the
 * token could no longer be accepted ("replay"). A man in the middle that
 * substitutes an ephemeral key or the guest key breaks a signature.
 *
 * Failures name the check: the token's checks (token.h), "protocol",
 * "replay", "guest-signature", "host-signature", "host-chain" (with the
 * pki.h name in the message), "host-identity" (not the expected host),
 * "refused" (guest side: the host said no; the message names its check),
 * and the channel's "channel", "truncated", "decrypt".
 */
#ifndef KVMTRUST_HANDSHAKE_H
#define KVMTRUST_HANDSHAKE_H

#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>

#include "common/error.h"
#include "identity/channel.h"
#include "identity/pki.h"
#include "identity/token.h"

#define KT_HS_NONCE_LEN 32

struct kt_replay_cache;

/* A cache of at most capacity nonces; the oldest beyond it are forgotten. */
struct kt_replay_cache *kt_replay_cache_new(unsigned int capacity);
void kt_replay_cache_free(struct kt_replay_cache *cache);

struct kt_hs_guest_cfg {
	const char *token;
	EVP_PKEY *guest_key;		/* the private key for the token's cnf */
	struct kt_pki_dir *anchors;	/* to verify the host certificate */
	struct kt_pki_dir *crls;	/* CRLs for it; NULL skips host revocation */
	const char *expect_host;	/* host UUID, or NULL for any certified host */
	/*
	 * Asked with the host's verified chain (leaf first) once it passed;
	 * nonzero (check "revocation") refuses the host. NULL: not asked.
	 */
	int (*host_revoked)(void *arg, STACK_OF(X509) *path, const char *what,
			    struct kt_err *err);
	void *host_revoked_arg;
};

struct kt_hs_host_cfg {
	const struct kt_cred *host;	/* host certificate, chain and key */
	struct kt_token_verify_opts verify;
	struct kt_replay_cache *replay;	/* may be NULL (signatures still bind) */
};

struct kt_hs_result {
	struct kt_channel *channel;
	uint8_t transcript[32];
	struct kt_token token;		/* host side: the verified token */
	struct kt_cert_info peer;	/* guest side: the verified host certificate */
};

int kt_handshake_guest(int fd, const struct kt_hs_guest_cfg *cfg, struct kt_hs_result *res,
		       struct kt_err *err);
int kt_handshake_host(int fd, const struct kt_hs_host_cfg *cfg, struct kt_hs_result *res,
		      struct kt_err *err);
void kt_hs_result_free(struct kt_hs_result *res);

#endif
