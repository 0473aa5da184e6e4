/* SPDX-License-Identifier: GPL-2.0 */
/*
 * An encrypted byte stream over a file descriptor: AES-256-GCM records with
 * implicit sequence numbers, keyed by the handshake (handshake.h) and reused
 * by migration to carry guest state.
 *
 * Wire format, both for handshake frames and for records:
 *   frame   = length (u32, big endian, 1..KT_FRAME_MAX) || body
 *   record  = frame whose body is ciphertext || tag (16)
 *   plain   = type (1: 0 data, 1 close) || data (<= KT_CHANNEL_MAX_DATA)
 *   nonce   = iv XOR (0^32 || seq, u64 big endian); seq starts at 0 per direction
 *   aad     = "kvmtrust record v1" || seq (u64 be) || length (u32 be)
 *
 * Because the sequence number is never sent, a dropped, repeated, reordered
 * or spliced-in record fails authentication ("decrypt"). The stream ends
 * only with an authenticated close record: an EOF before it is "truncated",
 * so an attacker cannot cut a transfer short unnoticed.
 */
#ifndef KVMTRUST_CHANNEL_H
#define KVMTRUST_CHANNEL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "identity/aead.h"

#define KT_FRAME_MAX (1024 * 1024)
#define KT_CHANNEL_MAX_DATA 16384

struct kt_channel_keys {
	uint8_t tx_key[KT_AEAD_KEY_LEN], tx_iv[KT_AEAD_NONCE_LEN];
	uint8_t rx_key[KT_AEAD_KEY_LEN], rx_iv[KT_AEAD_NONCE_LEN];
};

struct kt_channel;

/* Frames (used by the handshake before any key exists). Check "channel". */
int kt_frame_send(int fd, const void *buf, size_t len, struct kt_err *err);
/* *buf is malloc'd; frames longer than max are refused. */
int kt_frame_recv(int fd, size_t max, uint8_t **buf, size_t *len, struct kt_err *err);

/* The channel copies keys (the caller wipes its copy) and does not own fd. */
struct kt_channel *kt_channel_new(int fd, const struct kt_channel_keys *keys);
/* Sends all of buf, split into records. */
int kt_channel_send(struct kt_channel *ch, const void *buf, size_t len, struct kt_err *err);
/* Returns bytes read (> 0), 0 after the peer's close record, -1 on error. */
ssize_t kt_channel_recv(struct kt_channel *ch, void *buf, size_t len, struct kt_err *err);
/* Reads exactly len bytes (an early close is "truncated"). */
int kt_channel_recv_all(struct kt_channel *ch, void *buf, size_t len, struct kt_err *err);
/* Sends the close record; no send is possible afterwards. */
int kt_channel_close(struct kt_channel *ch, struct kt_err *err);
/* Wipes the keys and frees; does not close fd. */
void kt_channel_free(struct kt_channel *ch);

/* How many records this end has sent (each costs 21 bytes of framing and tag). */
uint64_t kt_channel_records_sent(const struct kt_channel *ch);

#endif
