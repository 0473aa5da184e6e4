/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvmtrustd as the destination of verified migrations (the [receive]
 * section, Documentation/kvmtrustd.rst). The daemon owns the listening
 * socket; each connection it accepts is one session of
 * `kvmtrust migrate receive --accepted-fd`, a child process offered every
 * awaiting guest (--expect), which picks the one the guest's token names
 * after the handshake, so the receive code is the CLI's and a session that
 * crashes or hangs never takes the daemon down. The daemon reaps it, logs
 * its verdict (the session writes the ledger) and lets an arrived guest
 * join the rounds.
 */
#ifndef KVMTRUSTD_RECEIVE_H
#define KVMTRUSTD_RECEIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "common/error.h"
#include "config.h"
#include "guest.h"

#define KTD_SESSIONS_MAX KTD_INCOMING_MAX	/* one per awaiting guest at most */

struct ktd_session {
	pid_t pid;
	int out;		/* its --json verdict (standard output) */
	uint64_t deadline_ms;	/* CLOCK_MONOTONIC; then SIGKILL */
	bool killed;
};

struct ktd_receiver {
	int fd;			/* listening, -1: no [receive] */
	char *listen;		/* what fd listens on */
	struct ktd_session s[KTD_SESSIONS_MAX];
	size_t n;
	uint64_t accepted, refused, arrived;
};

void ktd_receiver_init(struct ktd_receiver *r);

/*
 * The listening socket for c's [receive]: r's own when it listens there
 * already, a new one otherwise, -1 without [receive]; -2 with err set when
 * it cannot listen. Nothing of r changes until ktd_receiver_commit().
 */
int ktd_receiver_prepare(const struct ktd_receiver *r, const struct ktd_config *c,
			 struct kt_err *err);
/* Takes fd (from prepare) for c's listen; a replaced socket is closed. */
void ktd_receiver_commit(struct ktd_receiver *r, const struct ktd_config *c, int fd);
/* Drops a prepared fd that was not committed. */
void ktd_receiver_discard(const struct ktd_receiver *r, int fd);

/*
 * Accepts one connection: a session for the awaiting guests among g, or,
 * when none awaits or each has its session, refused (closed at once, "busy").
 */
void ktd_receiver_accept(struct ktd_receiver *r, const struct ktd_config *c,
			 struct ktd_guest *g, size_t n);

/*
 * A child the daemon reaped: false when it is not a session; else its
 * verdict is logged, kept in the guest's "received", and a guest that
 * arrived stops awaiting (its QEMU's pid read from its QMP socket).
 */
bool ktd_receiver_reaped(struct ktd_receiver *r, pid_t pid, int status, struct ktd_guest *g,
			 size_t n);

/* SIGKILL for sessions past session_timeout; 1000 (ms) while any runs, else -1. */
int ktd_receiver_expire(struct ktd_receiver *r);

/* {"listen", "sessions", "accepted", "refused", "arrived"}, or JSON null. */
json_t *ktd_receiver_json(const struct ktd_receiver *r);

/* Closes the socket (a unix one's file removed); sessions keep running. */
void ktd_receiver_close(struct ktd_receiver *r);

#endif
