/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Typed messages inside an encrypted channel (channel.h), so that one
 * channel can carry control messages and a byte stream between them (the
 * migration protocol, Documentation/migration.rst):
 *
 *   message = type (u8) || length (u32, big endian) || body
 *   type 1  JSON object (length <= KT_CHMSG_JSON_MAX)
 *   type 2  stream data (1..KT_CHMSG_DATA_MAX bytes)
 *   type 3  end of stream (length 0)
 *   type 4  mark (length 0): a point inside the stream the sender names
 *           (migration: QEMU's first pass is nearly over)
 *
 * The channel authenticates order and completeness; this layer only refuses
 * what the protocol does not expect ("protocol").
 */
#ifndef KVMTRUST_CHANMSG_H
#define KVMTRUST_CHANMSG_H

#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "common/error.h"
#include "identity/channel.h"

#define KT_CHMSG_JSON_MAX (256 * 1024)
#define KT_CHMSG_DATA_MAX (KT_CHANNEL_MAX_DATA - 5)

int kt_chmsg_send_json(struct kt_channel *ch, const json_t *obj, struct kt_err *err);

/* The next message, which must be a JSON object; a new reference. */
json_t *kt_chmsg_recv_json(struct kt_channel *ch, struct kt_err *err);

/*
 * Called by kt_chmsg_relay_out every interval_ms while the stream lasts
 * (also while fd has nothing to read): 1 sends a mark at that point of the
 * stream, 0 nothing, -1 fails the relay (err set).
 */
struct kt_chmsg_tick {
	int (*fn)(void *ctx, struct kt_err *err);
	void *ctx;
	unsigned int interval_ms;
};

/*
 * Sends everything read from fd until EOF as data messages, then the end;
 * marks where tick (NULL: none) asks for them.
 */
int kt_chmsg_relay_out(struct kt_channel *ch, int fd, uint64_t *bytes,
		       const struct kt_chmsg_tick *tick, struct kt_err *err);

/*
 * Writes data messages to fd until the end of the stream (0) or a mark (1):
 * the caller may then do something between two messages and call again to
 * go on.
 */
int kt_chmsg_relay_in(struct kt_channel *ch, int fd, uint64_t *bytes, struct kt_err *err);

/* Stream data from memory: one data message (1..KT_CHMSG_DATA_MAX bytes). */
int kt_chmsg_send_data(struct kt_channel *ch, const void *buf, size_t len, struct kt_err *err);
/* The end of the stream. */
int kt_chmsg_send_end(struct kt_channel *ch, struct kt_err *err);
/*
 * The next data message into buf (at most max bytes, else "protocol"): its
 * length, 0 at the end of the stream, -1 on error.
 */
ssize_t kt_chmsg_recv_data(struct kt_channel *ch, void *buf, size_t max, struct kt_err *err);

#endif
