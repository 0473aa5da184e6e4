// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "identity/chanmsg.h"

enum { MSG_JSON = 1, MSG_DATA = 2, MSG_END = 3, MSG_MARK = 4 };

static int send_msg(struct kt_channel *ch, uint8_t type, const void *body, size_t len,
		    struct kt_err *err)
{
	uint8_t rec[5 + KT_CHMSG_DATA_MAX] = { type, (uint8_t)(len >> 24), (uint8_t)(len >> 16),
					       (uint8_t)(len >> 8), (uint8_t)len };

	/* Header and body in one record where they fit: half the records, and no tiny ones. */
	if (len <= KT_CHMSG_DATA_MAX) {
		if (len)
			memcpy(rec + 5, body, len);
		return kt_channel_send(ch, rec, 5 + len, err);
	}
	if (kt_channel_send(ch, rec, 5, err))
		return -1;
	return kt_channel_send(ch, body, len, err);
}

static int recv_hdr(struct kt_channel *ch, uint8_t *type, uint32_t *len, struct kt_err *err)
{
	uint8_t hdr[5];

	if (kt_channel_recv_all(ch, hdr, sizeof(hdr), err))
		return -1;
	*type = hdr[0];
	*len = (uint32_t)hdr[1] << 24 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 8 | hdr[4];
	return 0;
}

int kt_chmsg_send_json(struct kt_channel *ch, const json_t *obj, struct kt_err *err)
{
	char *text = json_dumps(obj, JSON_COMPACT);
	int ret;

	if (!text || strlen(text) > KT_CHMSG_JSON_MAX) {
		free(text);
		return kt_fail(err, "protocol", "message too large to send");
	}
	ret = send_msg(ch, MSG_JSON, text, strlen(text), err);
	free(text);
	return ret;
}

json_t *kt_chmsg_recv_json(struct kt_channel *ch, struct kt_err *err)
{
	json_error_t je;
	uint8_t type;
	uint32_t len;
	char *text;
	json_t *obj;

	if (recv_hdr(ch, &type, &len, err))
		return NULL;
	if (type != MSG_JSON || !len || len > KT_CHMSG_JSON_MAX) {
		kt_fail(err, "protocol", "expected a control message, got type %u of %u bytes", type, len);
		return NULL;
	}
	text = malloc(len);
	if (!text || kt_channel_recv_all(ch, text, len, err)) {
		if (!text)
			kt_fail(err, "protocol", "out of memory");
		free(text);
		return NULL;
	}
	obj = json_loadb(text, len, 0, &je);
	free(text);
	if (!json_is_object(obj)) {
		json_decref(obj);
		kt_fail(err, "protocol", "a control message is not a JSON object");
		return NULL;
	}
	return obj;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Calls the tick when it is due; *wait_ms: until the next one (-1: no tick). */
static int tick_due(struct kt_channel *ch, const struct kt_chmsg_tick *tick, uint64_t *next,
		    int *wait_ms, struct kt_err *err)
{
	uint64_t now;
	int rc;

	*wait_ms = -1;
	if (!tick)
		return 0;
	now = now_ms();
	if (now >= *next) {
		rc = tick->fn(tick->ctx, err);
		if (rc < 0 || (rc > 0 && send_msg(ch, MSG_MARK, NULL, 0, err)))
			return -1;
		*next = now + tick->interval_ms;
	}
	*wait_ms = (int)(*next - now);
	return 0;
}

int kt_chmsg_relay_out(struct kt_channel *ch, int fd, uint64_t *bytes,
		       const struct kt_chmsg_tick *tick, struct kt_err *err)
{
	uint8_t buf[KT_CHMSG_DATA_MAX];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t next = 0;
	int wait_ms, rc;
	ssize_t n;

	for (;;) {
		if (tick_due(ch, tick, &next, &wait_ms, err))
			return -1;
		if (tick) {
			rc = poll(&pfd, 1, wait_ms);
			if (rc < 0 && errno != EINTR)
				return kt_fail(err, "stream", "cannot poll the stream: %s",
					       strerror(errno));
			if (rc <= 0)
				continue;
		}
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kt_fail(err, "stream", "cannot read the stream: %s", strerror(errno));
		if (!n)
			return kt_chmsg_send_end(ch, err);
		if (kt_chmsg_send_data(ch, buf, (size_t)n, err))
			return -1;
		*bytes += (uint64_t)n;
	}
}

int kt_chmsg_send_data(struct kt_channel *ch, const void *buf, size_t len, struct kt_err *err)
{
	if (!len || len > KT_CHMSG_DATA_MAX)
		return kt_fail(err, "protocol", "stream data of %zu bytes", len);
	return send_msg(ch, MSG_DATA, buf, len, err);
}

int kt_chmsg_send_end(struct kt_channel *ch, struct kt_err *err)
{
	return send_msg(ch, MSG_END, NULL, 0, err);
}

static int write_all(int fd, const uint8_t *p, size_t len, struct kt_err *err)
{
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return kt_fail(err, "stream", "cannot write the stream: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t kt_chmsg_recv_data(struct kt_channel *ch, void *buf, size_t max, struct kt_err *err)
{
	uint8_t type;
	uint32_t len;

	if (recv_hdr(ch, &type, &len, err))
		return -1;
	if (type == MSG_END && !len)
		return 0;
	if (type != MSG_DATA || !len || len > max)
		return kt_fail(err, "protocol", "expected stream data, got type %u of %u bytes",
			       type, len);
	if (kt_channel_recv_all(ch, buf, len, err))
		return -1;
	return len;
}

int kt_chmsg_relay_in(struct kt_channel *ch, int fd, uint64_t *bytes, struct kt_err *err)
{
	uint8_t buf[KT_CHMSG_DATA_MAX];
	uint8_t type;
	uint32_t len;

	for (;;) {
		if (recv_hdr(ch, &type, &len, err))
			return -1;
		if (type == MSG_END && !len)
			return 0;
		if (type == MSG_MARK && !len)
			return 1;
		if (type != MSG_DATA || !len || len > sizeof(buf))
			return kt_fail(err, "protocol", "expected stream data, got type %u of %u bytes",
				       type, len);
		if (kt_channel_recv_all(ch, buf, len, err) || write_all(fd, buf, len, err))
			return -1;
		*bytes += len;
	}
}
