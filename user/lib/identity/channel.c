// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "identity/channel.h"

#define REC_AAD_LABEL "kvmtrust record v1"
#define REC_DATA 0
#define REC_CLOSE 1

struct kt_channel {
	int fd;
	struct kt_channel_keys keys;
	struct kt_aead *tx_aead, *rx_aead;	/* each key scheduled once */
	uint64_t tx_seq, rx_seq;
	bool tx_closed, rx_closed;
	uint8_t plain[1 + KT_CHANNEL_MAX_DATA];	/* last record received */
	size_t plain_len, plain_off;
};

static int io_all(int fd, void *buf, size_t len, bool rd, struct kt_err *err)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len) {
		n = rd ? read(fd, p, len) : write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		/* A peer that went away mid-stream is a truncation, not a local fault. */
		if (n < 0 && errno != EPIPE && errno != ECONNRESET)
			return kt_fail(err, "channel", "%s failed: %s", rd ? "read" : "write",
				       strerror(errno));
		if (n <= 0)
			return kt_fail(err, "truncated", "connection closed by the peer");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int kt_frame_send(int fd, const void *buf, size_t len, struct kt_err *err)
{
	uint32_t be = htonl((uint32_t)len);

	struct iovec iov[2] = {
		{ .iov_base = &be, .iov_len = sizeof(be) },
		{ .iov_base = (void *)buf, .iov_len = len },
	};
	struct iovec *v = iov;
	int nv = 2;
	ssize_t n;

	if (len == 0 || len > KT_FRAME_MAX)
		return kt_fail(err, "channel", "frame of %zu bytes out of range", len);
	/*
	 * One writev: a length written apart from its body is a small write
	 * before a large one, which Nagle's algorithm and a delayed ACK turn
	 * into a stall of up to 40 ms a frame on TCP.
	 */
	while (nv) {
		n = writev(fd, v, nv);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EPIPE && errno != ECONNRESET)
			return kt_fail(err, "channel", "write failed: %s", strerror(errno));
		if (n <= 0)
			return kt_fail(err, "truncated", "connection closed by the peer");
		while (nv && (size_t)n >= v->iov_len) {
			n -= (ssize_t)v->iov_len;
			v++;
			nv--;
		}
		if (nv) {
			v->iov_base = (uint8_t *)v->iov_base + n;
			v->iov_len -= (size_t)n;
		}
	}
	return 0;
}

int kt_frame_recv(int fd, size_t max, uint8_t **buf, size_t *len, struct kt_err *err)
{
	uint32_t be;
	size_t n;

	if (io_all(fd, &be, sizeof(be), true, err))
		return -1;
	n = ntohl(be);
	if (n == 0 || n > max || n > KT_FRAME_MAX)
		return kt_fail(err, "channel", "frame of %zu bytes refused (limit %zu)", n, max);
	*buf = malloc(n + 1);
	if (!*buf)
		return kt_fail(err, "channel", "out of memory");
	if (io_all(fd, *buf, n, true, err)) {
		free(*buf);
		*buf = NULL;
		return -1;
	}
	(*buf)[n] = '\0';
	*len = n;
	return 0;
}

struct kt_channel *kt_channel_new(int fd, const struct kt_channel_keys *keys)
{
	struct kt_channel *ch = calloc(1, sizeof(*ch));

	if (!ch)
		return NULL;
	ch->fd = fd;
	ch->keys = *keys;
	return ch;
}

void kt_channel_free(struct kt_channel *ch)
{
	if (!ch)
		return;
	kt_aead_free(ch->tx_aead);
	kt_aead_free(ch->rx_aead);
	OPENSSL_cleanse(ch, sizeof(*ch));
	free(ch);
}

uint64_t kt_channel_records_sent(const struct kt_channel *ch)
{
	return ch->tx_seq;
}

static void record_params(const uint8_t iv[KT_AEAD_NONCE_LEN], uint64_t seq, uint32_t len,
			  uint8_t nonce[KT_AEAD_NONCE_LEN], uint8_t aad[sizeof(REC_AAD_LABEL) + 11])
{
	size_t i;

	memcpy(nonce, iv, KT_AEAD_NONCE_LEN);
	for (i = 0; i < 8; i++)
		nonce[KT_AEAD_NONCE_LEN - 1 - i] ^= (uint8_t)(seq >> (8 * i));
	memcpy(aad, REC_AAD_LABEL, sizeof(REC_AAD_LABEL) - 1);
	for (i = 0; i < 8; i++)
		aad[sizeof(REC_AAD_LABEL) - 1 + i] = (uint8_t)(seq >> (56 - 8 * i));
	for (i = 0; i < 4; i++)
		aad[sizeof(REC_AAD_LABEL) + 7 + i] = (uint8_t)(len >> (24 - 8 * i));
}

static int send_record(struct kt_channel *ch, uint8_t type, const void *data, size_t len,
		       struct kt_err *err)
{
	uint8_t nonce[KT_AEAD_NONCE_LEN], aad[sizeof(REC_AAD_LABEL) + 11];
	uint8_t plain[1 + KT_CHANNEL_MAX_DATA], body[1 + KT_CHANNEL_MAX_DATA + KT_AEAD_TAG_LEN];
	size_t body_len = 1 + len + KT_AEAD_TAG_LEN;
	int ret;

	if (ch->tx_closed)
		return kt_fail(err, "channel", "the channel is closed for sending");
	if (ch->tx_seq == UINT64_MAX)
		return kt_fail(err, "channel", "sequence numbers exhausted");
	plain[0] = type;
	if (len) /* the close record has no data, and data may be NULL */
		memcpy(plain + 1, data, len);
	if (!ch->tx_aead && !(ch->tx_aead = kt_aead_new(ch->keys.tx_key, true)))
		return kt_fail(err, "encrypt", "cannot set up AES-256-GCM");
	record_params(ch->keys.tx_iv, ch->tx_seq, (uint32_t)body_len, nonce, aad);
	ret = kt_aead_seal_with(ch->tx_aead, nonce, aad, sizeof(aad), plain, 1 + len, body,
				body + 1 + len, err);
	OPENSSL_cleanse(plain, 1 + len);
	if (ret || kt_frame_send(ch->fd, body, body_len, err))
		return -1;
	ch->tx_seq++;
	return 0;
}

int kt_channel_send(struct kt_channel *ch, const void *buf, size_t len, struct kt_err *err)
{
	const uint8_t *p = buf;
	size_t n;

	while (len) {
		n = len < KT_CHANNEL_MAX_DATA ? len : KT_CHANNEL_MAX_DATA;
		if (send_record(ch, REC_DATA, p, n, err))
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

int kt_channel_close(struct kt_channel *ch, struct kt_err *err)
{
	int ret = send_record(ch, REC_CLOSE, NULL, 0, err);

	ch->tx_closed = true;
	return ret;
}

/* Reads and authenticates the next record into ch->plain. */
static int recv_record(struct kt_channel *ch, struct kt_err *err)
{
	uint8_t nonce[KT_AEAD_NONCE_LEN], aad[sizeof(REC_AAD_LABEL) + 11], *body;
	size_t len;

	if (kt_frame_recv(ch->fd, 1 + KT_CHANNEL_MAX_DATA + KT_AEAD_TAG_LEN, &body, &len, err)) {
		if (err && err->check && !strcmp(err->check, "truncated"))
			kt_fail(err, "truncated", "stream ended without a close record");
		return -1;
	}
	if (len < 1 + KT_AEAD_TAG_LEN) {
		free(body);
		return kt_fail(err, "decrypt", "record too short");
	}
	if (!ch->rx_aead && !(ch->rx_aead = kt_aead_new(ch->keys.rx_key, false))) {
		free(body);
		return kt_fail(err, "decrypt", "cannot set up AES-256-GCM");
	}
	record_params(ch->keys.rx_iv, ch->rx_seq, (uint32_t)len, nonce, aad);
	if (kt_aead_open_with(ch->rx_aead, nonce, aad, sizeof(aad), body, len - KT_AEAD_TAG_LEN,
			      body + len - KT_AEAD_TAG_LEN, ch->plain, err)) {
		free(body);
		return kt_fail(err, "decrypt", "record %llu does not authenticate",
			       (unsigned long long)ch->rx_seq);
	}
	free(body);
	ch->rx_seq++;
	ch->plain_len = len - KT_AEAD_TAG_LEN;
	ch->plain_off = 1;
	if (ch->plain[0] == REC_CLOSE)
		ch->rx_closed = true;
	else if (ch->plain[0] != REC_DATA)
		return kt_fail(err, "decrypt", "unknown record type %u", ch->plain[0]);
	return 0;
}

ssize_t kt_channel_recv(struct kt_channel *ch, void *buf, size_t len, struct kt_err *err)
{
	size_t n;

	while (!ch->rx_closed && ch->plain_off >= ch->plain_len) {
		if (recv_record(ch, err))
			return -1;
	}
	if (ch->rx_closed)
		return 0;
	n = ch->plain_len - ch->plain_off;
	if (n > len)
		n = len;
	memcpy(buf, ch->plain + ch->plain_off, n);
	ch->plain_off += n;
	return (ssize_t)n;
}

int kt_channel_recv_all(struct kt_channel *ch, void *buf, size_t len, struct kt_err *err)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len) {
		n = kt_channel_recv(ch, p, len, err);
		if (n < 0)
			return -1;
		if (n == 0)
			return kt_fail(err, "truncated", "peer closed with %zu bytes outstanding", len);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
