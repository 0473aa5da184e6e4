// SPDX-License-Identifier: GPL-2.0
/*
 * Identity benchmark, built and run by scripts/bench-identity (not a test).
 * Prints each operation's rate next to a baseline that does only the
 * cryptographic core of it, so the ratio is the cost of everything else
 * (parsing, chain building, CRL and list checks, framing).
 *
 *   usage: identity_bench TREE_DIR   (made by bench-identity)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/secfile.h"
#include "identity/aead.h"
#include "identity/channel.h"
#include "identity/handshake.h"
#include "identity/jws.h"
#include "identity/pki.h"
#include "identity/token.h"

#define AUD "kvmtrust:bench"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void row(const char *what, double rate, const char *unit, double base)
{
	printf("%-44s %12.1f %-6s  baseline %12.1f  ratio %.2f\n", what, rate, unit, base,
	       rate / base);
}

static char *path(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		exit(1);
	return p;
}

int main(int argc, char *argv[])
{
	struct kt_token_verify_opts opts = { .audience = AUD, .skew = 60 };
	struct kt_token_claims c = { 0 };
	struct kt_err err = { 0 };
	struct kt_cred host_a, host_b;
	struct kt_jws jws;
	struct kt_token tok;
	EVP_PKEY *guest;
	char *token;
	double t0, verify_rate, sig_rate;
	int i, n;

	if (argc != 2)
		return 2;
	if (kt_cred_load(path(argv[1], "hostA"), &host_a, &err) ||
	    kt_cred_load(path(argv[1], "hostB"), &host_b, &err) ||
	    kt_pki_dir_open(path(argv[1], "anchors"), &opts.anchors, &err) ||
	    kt_pki_dir_open(path(argv[1], "rev"), &opts.crls, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	opts.trl_dir = path(argv[1], "rev");
	guest = kt_pki_new_key(NULL);
	strcpy(c.sub, "7d4f2b1a-3c5e-4f60-8a9b-0c1d2e3f4a5b");
	strcpy(c.aud, AUD);
	c.exp = time(NULL) + 3600;
	c.cnf = guest;
	if (kt_token_issue(&host_a, &c, &token, &err))
		return 1;

	/* token verification against one ES256 signature check */
	n = 300;
	t0 = now_s();
	for (i = 0; i < n; i++) {
		if (kt_token_verify(token, &opts, &tok, &err)) {
			fprintf(stderr, "%s: %s\n", err.check, err.msg);
			return 1;
		}
		kt_token_free(&tok);
	}
	verify_rate = n / (now_s() - t0);
	kt_jws_parse(token, &jws, NULL);
	t0 = now_s();
	for (i = 0; i < n; i++)
		kt_jws_verify(&jws, X509_get0_pubkey(host_a.cert), NULL);
	sig_rate = n / (now_s() - t0);
	kt_jws_free(&jws);
	row("token verify (all checks) vs ES256 verify", verify_rate, "ops/s", sig_rate);

	/* handshakes over a socketpair, host in a child process */
	{
		struct kt_hs_guest_cfg g = {
			.token = token, .guest_key = guest, .anchors = opts.anchors,
			.crls = opts.crls,
		};
		struct kt_hs_host_cfg h = { .host = &host_b, .verify = opts };
		struct kt_hs_result res;
		int sv[2], hs = 50;
		pid_t pid;

		t0 = now_s();
		for (i = 0; i < hs; i++) {
			if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
				return 1;
			pid = fork();
			if (!pid) {
				close(sv[0]);
				_exit(kt_handshake_host(sv[1], &h, &res, NULL) ? 1 : 0);
			}
			close(sv[1]);
			if (kt_handshake_guest(sv[0], &g, &res, &err)) {
				fprintf(stderr, "%s: %s\n", err.check, err.msg);
				return 1;
			}
			kt_hs_result_free(&res);
			close(sv[0]);
			waitpid(pid, NULL, 0);
		}
		row("handshake (fork + both sides) vs token verify", hs / (now_s() - t0), "ops/s",
		    verify_rate);
	}

	/* channel throughput against bare AES-256-GCM on the same record size */
	{
		static uint8_t buf[KT_CHANNEL_MAX_DATA], out[KT_CHANNEL_MAX_DATA];
		struct kt_channel_keys keys = { 0 };
		uint8_t tag[KT_AEAD_TAG_LEN], nonce[KT_AEAD_NONCE_LEN] = { 0 };
		size_t total = 256u << 20, done;
		struct kt_channel *ch;
		double chan, raw;
		int sv[2];
		pid_t pid;

		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
			return 1;
		pid = fork();
		if (!pid) {
			struct kt_channel_keys rk = keys;

			close(sv[0]);
			ch = kt_channel_new(sv[1], &rk);
			while (kt_channel_recv(ch, buf, sizeof(buf), NULL) > 0)
				;
			_exit(0);
		}
		close(sv[1]);
		ch = kt_channel_new(sv[0], &keys);
		t0 = now_s();
		for (done = 0; done < total; done += sizeof(buf))
			kt_channel_send(ch, buf, sizeof(buf), NULL);
		kt_channel_close(ch, NULL);
		waitpid(pid, NULL, 0);
		chan = total / (now_s() - t0) / 1e6;
		kt_channel_free(ch);
		close(sv[0]);
		t0 = now_s();
		for (done = 0; done < total; done += sizeof(buf))
			kt_aead_seal(keys.tx_key, nonce, NULL, 0, buf, sizeof(buf), out, tag, NULL);
		raw = total / (now_s() - t0) / 1e6;
		row("channel send->recv (2 processes) vs AES-GCM", chan, "MB/s", raw);
	}
	return 0;
}
