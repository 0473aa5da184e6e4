// SPDX-License-Identifier: GPL-2.0
/*
 * The transport of a verified migration, for scripts/bench-migrate-host
 * (not a test): the federated handshake (handshake.h) between a source
 * (guest side, acting for the guest with its token) and a destination
 * (host side) over TCP loopback, then the stream QEMU writes to SRC_SOCK
 * through kt_chmsg_relay_out, the channel keyed by that handshake,
 * kt_chmsg_relay_in, into the destination QEMU's incoming socket DST_SOCK:
 * the calls and the tick interval `migrate start` and `migrate receive`
 * make (user/cli/migrate_start.c transfer(), migrate_receive.c receive()),
 * without what needs kvmtrust.ko (the measurements, the report) and the
 * decision. The tick never asks for a mark (no measurement to make room
 * for) but keeps start's poll before each read.
 *
 *   migrate_host_bench TREE SRC_SOCK DST_SOCK
 *
 * TREE holds hostA, hostB (credential directories), anchors/ and rev/ as
 * scripts/bench-identity makes them. Prints "ready HS_MS" once the
 * handshake is done and SRC_SOCK listens (the driver then issues QMP
 * migrate to it), and at the end one line of key=value figures: the stream
 * bytes each relay moved, the records the source sent, the TCP bytes of
 * the channel both ways (TCP_INFO of the destination's socket: handshake,
 * framing, tags, all of it) and each relay's CPU time during the stream.
 */
#include <netinet/in.h>
#include <errno.h>
#include <linux/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "identity/chanmsg.h"
#include "identity/handshake.h"
#include "identity/pki.h"
#include "identity/token.h"

#define AUD "kvmtrust:bench"
#define TICK_MS 20	/* MIGRATE_TICK_MS in user/cli/migrate_cli.h */

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static unsigned long long cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (unsigned long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
	       (unsigned long long)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

static void die(const char *what, const struct kt_err *err)
{
	fprintf(stderr, "migrate_host_bench: %s: %s%s%s\n", what, err ? err->check ?: "" : "",
		err ? ": " : "", err ? err->msg : strerror(errno));
	_exit(1);
}

static char *path(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		die("asprintf", NULL);
	return p;
}

static int unix_sock(const char *file, int listening)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(file) >= sizeof(a.sun_path))
		die(file, NULL);
	strcpy(a.sun_path, file);
	if (listening)
		unlink(file);
	if (listening ? bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 1) :
	    connect(fd, (struct sockaddr *)&a, sizeof(a)))
		die(file, NULL);
	return fd;
}

static int no_mark(void *ctx, struct kt_err *err)
{
	(void)ctx;
	(void)err;
	return 0;
}

/* Source: handshake as the guest, then QEMU's outgoing stream into the channel. */
static void source(const struct kt_hs_guest_cfg *g, int port, int lfd, int out)
{
	struct kt_chmsg_tick tick = { .fn = no_mark, .interval_ms = TICK_MS };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct kt_hs_result res;
	struct kt_err err = { 0 };
	unsigned long long c0;
	uint64_t bytes = 0;
	double t0 = now_ms();
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), qfd;

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)))
		die("connect", NULL);
	if (kt_handshake_guest(fd, g, &res, &err))
		die("handshake (source)", &err);
	printf("ready %.1f\n", now_ms() - t0);
	fflush(stdout);
	qfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (qfd < 0)
		die("accept QEMU", NULL);
	c0 = cpu_ms();
	if (kt_chmsg_relay_out(res.channel, qfd, &bytes, &tick, &err))
		die("relay_out", &err);
	dprintf(out, "src_bytes=%llu records=%llu src_cpu_ms=%llu ",
		(unsigned long long)bytes,
		(unsigned long long)kt_channel_records_sent(res.channel), cpu_ms() - c0);
	close(qfd);
	kt_hs_result_free(&res);
	close(fd);
	_exit(0);
}

/* Destination: handshake as the host, then the channel into QEMU's incoming socket. */
static void destination(const struct kt_hs_host_cfg *h, int tfd, const char *dst, int out)
{
	struct kt_hs_result res;
	struct kt_err err = { 0 };
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	unsigned long long c0;
	uint64_t bytes = 0;
	int fd = accept4(tfd, NULL, NULL, SOCK_CLOEXEC), qfd, rc;

	if (fd < 0)
		die("accept", NULL);
	if (kt_handshake_host(fd, h, &res, &err))
		die("handshake (destination)", &err);
	qfd = unix_sock(dst, 0);
	c0 = cpu_ms();
	while ((rc = kt_chmsg_relay_in(res.channel, qfd, &bytes, &err)) == 1)
		;	/* a mark: receive would measure here; the source sends none */
	if (rc)
		die("relay_in", &err);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
		die("TCP_INFO", NULL);
	dprintf(out, "dst_bytes=%llu dst_cpu_ms=%llu wire_bytes=%llu ",
		(unsigned long long)bytes, cpu_ms() - c0,
		(unsigned long long)(ti.tcpi_bytes_received + ti.tcpi_bytes_acked));
	close(qfd);
	kt_hs_result_free(&res);
	close(fd);
	_exit(0);
}

int main(int argc, char *argv[])
{
	struct kt_token_verify_opts opts = { .audience = AUD, .skew = 60 };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	struct kt_token_claims c = { 0 };
	struct kt_err err = { 0 };
	struct kt_cred host_a, host_b;
	int tfd, lfd, pipefd[2], status, failed = 0;
	char line[512];
	ssize_t n, got = 0;
	char *token;

	if (argc != 4) {
		fprintf(stderr, "usage: migrate_host_bench TREE SRC_SOCK DST_SOCK\n");
		return 2;
	}
	if (kt_cred_load(path(argv[1], "hostA"), &host_a, &err) ||
	    kt_cred_load(path(argv[1], "hostB"), &host_b, &err) ||
	    kt_pki_dir_open(path(argv[1], "anchors"), &opts.anchors, &err) ||
	    kt_pki_dir_open(path(argv[1], "rev"), &opts.crls, &err))
		die("credentials", &err);
	opts.trl_dir = path(argv[1], "rev");
	/* The guest's token, issued by its current host, bound to its key. */
	c.cnf = kt_pki_new_key(&err);
	if (!c.cnf)
		die("guest key", &err);
	strcpy(c.sub, "7d4f2b1a-3c5e-4f60-8a9b-0c1d2e3f4a5b");
	strcpy(c.aud, AUD);
	c.exp = time(NULL) + 3600;
	if (kt_token_issue(&host_a, &c, &token, &err))
		die("token", &err);

	tfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (tfd < 0 || bind(tfd, (struct sockaddr *)&a, sizeof(a)) || listen(tfd, 1) ||
	    getsockname(tfd, (struct sockaddr *)&a, &alen) || pipe(pipefd))
		die("TCP listener", NULL);
	lfd = unix_sock(argv[2], 1);
	if (!fork()) {
		struct kt_hs_host_cfg h = { .host = &host_b, .verify = opts };

		destination(&h, tfd, argv[3], pipefd[1]);
	}
	if (!fork()) {
		struct kt_hs_guest_cfg g = {
			.token = token, .guest_key = c.cnf, .anchors = opts.anchors,
			.crls = opts.crls,
		};

		source(&g, ntohs(a.sin_port), lfd, pipefd[1]);
	}
	close(pipefd[1]);
	close(tfd);
	close(lfd);
	while (got < (ssize_t)sizeof(line) - 1 &&
	       (n = read(pipefd[0], line + got, sizeof(line) - 1 - (size_t)got)) > 0)
		got += n;
	line[got] = 0;
	while (wait(&status) > 0)
		failed |= !WIFEXITED(status) || WEXITSTATUS(status);
	unlink(argv[2]);
	if (failed)
		return 1;
	printf("%s\n", line);
	return 0;
}
