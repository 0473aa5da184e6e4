// SPDX-License-Identifier: GPL-2.0
/*
 * The encrypted channel alone, for scripts/bench-migrate-live: MIB MiB of
 * bytes from a writer (as QEMU's outgoing migration) through
 * kt_chmsg_relay_out, a socketpair, kt_chmsg_relay_in, to a reader (as
 * QEMU's incoming side), four processes as in a verified migration, no
 * guest. Prints "MIB MiB in S s: R MB/s". OPENSSL_ia32cap in the
 * environment picks OpenSSL's AES-256-GCM code path.
 *
 *   channel_bench [MIB]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "identity/chanmsg.h"

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void relay(int out, struct kt_channel_keys *k, int sock, int fd)
{
	struct kt_channel *ch = kt_channel_new(sock, k);
	struct kt_err err = { 0 };
	uint64_t bytes = 0;
	int rc = !ch ? -1 : out ? kt_chmsg_relay_out(ch, fd, &bytes, NULL, &err) :
		 kt_chmsg_relay_in(ch, fd, &bytes, &err);

	if (rc)
		fprintf(stderr, "relay %s: %s\n", out ? "out" : "in", err.msg);
	_exit(rc ? 1 : 0);
}

int main(int argc, char *argv[])
{
	static uint8_t buf[1 << 16];
	uint64_t left = (uint64_t)(argc > 1 ? atoi(argv[1]) : 256) << 20, got = 0;
	struct kt_channel_keys a = { 0 }, b;
	int sv[2], src[2], dst[2], status, failed = 0;
	double t0;
	ssize_t n;
	size_t i;

	memset(a.tx_key, 1, sizeof(a.tx_key));
	memset(a.rx_key, 2, sizeof(a.rx_key));
	b = a;
	memcpy(b.rx_key, a.tx_key, sizeof(b.rx_key));
	memcpy(b.tx_key, a.rx_key, sizeof(b.tx_key));
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131 + (i >> 8));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || socketpair(AF_UNIX, SOCK_STREAM, 0, src) ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, dst)) {
		perror("socketpair");
		return 1;
	}
	t0 = now();
	if (!fork()) {
		while (left) {
			n = write(src[1], buf, left < sizeof(buf) ? left : sizeof(buf));
			if (n <= 0)
				_exit(1);
			left -= (uint64_t)n;
		}
		_exit(0);
	}
	close(src[1]);
	if (!fork())
		relay(1, &a, sv[0], src[0]);
	if (!fork())
		relay(0, &b, sv[1], dst[1]);
	close(dst[1]);
	close(sv[0]);
	close(sv[1]);
	close(src[0]);
	while ((n = read(dst[0], buf, sizeof(buf))) > 0)
		got += (uint64_t)n;
	while (wait(&status) > 0)
		failed |= !WIFEXITED(status) || WEXITSTATUS(status);
	printf("%llu MiB in %.2f s: %.1f MB/s\n", (unsigned long long)(got >> 20), now() - t0,
	       (double)got / (now() - t0) / 1e6);
	return failed;
}
