/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The control socket `kvmtrust daemon` talks to: a Unix stream socket,
 * mode 0600, one request line ("status" or "attest-now") per connection
 * answered with one JSON object line (Documentation/kvmtrustd.rst).
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

/* The status object for every guest (t may be NULL); NULL when out of memory. */
json_t *ktd_status_json(const struct ktd_config *c, const struct ktd_triggers *t,
			const struct ktd_guest *guests, size_t n);

/*
 * Reads the request on an accepted connection: 0 status, 1 attest-now,
 * -1 anything else (answered with an error and closed here).
 */
int ktd_control_request(int conn);
/* Sends obj as one line and closes conn; obj is released. */
void ktd_control_reply(int conn, json_t *obj);

#endif
