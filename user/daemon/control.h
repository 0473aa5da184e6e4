/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The control socket `kvmtrust daemon` talks to: a Unix stream socket,
 * mode 0600, one request line ("status" or "attest-now") per connection
 * answered with one JSON object line, or "watch": the connection is kept
 * and sent one JSON object line per result and per action as they happen
 * (Documentation/kvmtrustd.rst).
 */
#ifndef KVMTRUSTD_CONTROL_H
#define KVMTRUSTD_CONTROL_H

#include <stddef.h>

#include <jansson.h>

#include "common/error.h"
#include "guest.h"
#include "trigger.h"

/* The listening socket: fd, or -1 with err set. A stale socket file is replaced. */
int ktd_control_listen(const char *path, struct kt_err *err);

/* What the last discovery scan found (discover = yes). */
struct ktd_discovery {
	size_t found;		/* VMMs running, configured ones included */
	size_t skipped;		/* found but not attested: beyond discover_max */
};

/*
 * The status object for every guest (t may be NULL), with receive (taken:
 * receive.h's ktd_receiver_json); NULL when out of memory.
 */
json_t *ktd_status_json(const struct ktd_config *c, const struct ktd_triggers *t,
			const struct ktd_discovery *disc, json_t *receive,
			const struct ktd_guest *guests, size_t n);

enum ktd_request { KTD_REQ_STATUS, KTD_REQ_ATTEST_NOW, KTD_REQ_WATCH };

/*
 * Reads the request on an accepted connection: enum ktd_request, or -1 for
 * anything else (answered with an error and closed here).
 */
int ktd_control_request(int conn);
/* Sends obj as one line and closes conn; obj is released. */
void ktd_control_reply(int conn, json_t *obj);

/* The connections that asked to watch. */
#define KTD_MAX_WATCHERS 16
struct ktd_watchers {
	int fd[KTD_MAX_WATCHERS];
	size_t n;
};

/* Keeps conn as a watcher; refused with an error and closed when all are taken. */
void ktd_watch_add(struct ktd_watchers *w, int conn);
/*
 * Sends obj (released) as one line to every watcher, without waiting: one
 * that has gone, or whose socket buffer is full (it does not keep up), is
 * closed and dropped, so a watcher never stalls the attestation loop.
 */
void ktd_watch_send(struct ktd_watchers *w, json_t *obj);
void ktd_watch_close(struct ktd_watchers *w);

/*
 * The event of g's round started by kind: "result" (pass, fail, or error
 * when nothing was appended, with the reason), and "action" for each
 * event in fired (bit 1 << enum ktd_action_event) with the actions the
 * configuration runs for it. NULL when out of memory.
 */
json_t *ktd_result_event(const struct ktd_guest *g, unsigned int kind, bool appended);
json_t *ktd_action_event(const struct ktd_config *c, const struct ktd_guest *g, int event);

#endif
