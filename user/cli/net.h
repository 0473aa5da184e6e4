/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The addresses the network commands take: ADDR:PORT ("127.0.0.1:4000",
 * "[::1]:4000", "localhost:4000") or unix:PATH. Failures are printed.
 */
#ifndef KVMTRUST_CLI_NET_H
#define KVMTRUST_CLI_NET_H

/* Listens; prints "listening on ADDR" to stderr (port 0 picks a free port). */
int net_listen(const char *arg);
int net_connect(const char *arg, unsigned long timeout);
/* SO_RCVTIMEO and SO_SNDTIMEO, so a silent peer cannot hang a command. */
void net_set_timeouts(int fd, unsigned long secs);

#endif
