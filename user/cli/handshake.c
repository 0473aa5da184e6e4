// SPDX-License-Identifier: GPL-2.0
/*
 * kvmtrust handshake: the federated handshake (handshake.h) over TCP. The
 * listening side is the destination host; the connecting side presents the
 * guest's token and proves its key. After the handshake the guest sends a
 * file (or nothing) over the encrypted channel and the host echoes it back,
 * which checks the channel end to end.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cli_util.h"
#include "common/encoding.h"
#include "common/secfile.h"
#include "identity/handshake.h"
#include "identity_cli.h"
#include "ledger_cli.h"
#include "net.h"
#include "print.h"
#include "subcommands.h"

#define SEND_MAX (64 * 1024 * 1024)
#define REPLAY_CACHE 4096

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s handshake --listen ADDR:PORT --key KEY --cert CERT --anchors DIR\n"
		"              --crls DIR --aud AUDIENCE [--skew SECONDS] [--count N]\n"
		"              [--ledger SPEC [--ledger-ca FILE|DIR]] [--timeout SECONDS] [--json|--script]\n"
		"       %s handshake --connect ADDR:PORT --anchors DIR [--crls DIR]\n"
		"              (--keystore FILE (--keyfile F | --passphrase-file F | --tpm TCTI) |\n"
		"               --token FILE --guest-key FILE)\n"
		"              [--expect-host UUID] [--ledger SPEC [--ledger-ca FILE|DIR]]\n"
		"              [--send FILE] [--timeout SECONDS] [--json|--script]\n"
		"See kvmtrust-handshake(8).\n", prog, prog);
	cli_usage_exits(f, CLI_EXITS_BASE | CLI_EXIT(KT_EXIT_NOT_FOUND) | CLI_EXIT(KT_EXIT_PERM) |
			CLI_EXIT(KT_EXIT_REFUSED));
}

struct hs_args {
	const char *listen, *connect, *key, *cert, *anchors, *crls, *aud, *keystore, *keyfile;
	const char *passfile, *token, *guest_key, *expect_host, *send, *tpm, *ledger, *ledger_ca;
	uint64_t skew, count, timeout;
	enum kt_print_mode mode;
};

enum { O_LISTEN = 256, O_CONNECT, O_KEY, O_CERT, O_ANCH, O_CRLS, O_AUD, O_SKEW, O_COUNT, O_TIMEOUT,
       O_KS, O_KF, O_PF, O_TOKEN, O_GKEY, O_EXPECT, O_SEND, O_TPM, O_LEDGER, O_LEDGER_CA };

static const struct option options[] = {
	{ "listen", required_argument, NULL, O_LISTEN },
	{ "connect", required_argument, NULL, O_CONNECT },
	{ "key", required_argument, NULL, O_KEY }, { "cert", required_argument, NULL, O_CERT },
	{ "anchors", required_argument, NULL, O_ANCH },
	{ "crls", required_argument, NULL, O_CRLS }, { "aud", required_argument, NULL, O_AUD },
	{ "skew", required_argument, NULL, O_SKEW }, { "count", required_argument, NULL, O_COUNT },
	{ "timeout", required_argument, NULL, O_TIMEOUT }, CLI_OUTPUT_OPTIONS,
	{ "keystore", required_argument, NULL, O_KS }, { "keyfile", required_argument, NULL, O_KF },
	{ "passphrase-file", required_argument, NULL, O_PF },
	{ "tpm", required_argument, NULL, O_TPM },
	{ "token", required_argument, NULL, O_TOKEN },
	{ "guest-key", required_argument, NULL, O_GKEY },
	{ "expect-host", required_argument, NULL, O_EXPECT },
	{ "send", required_argument, NULL, O_SEND }, { "help", no_argument, NULL, 'h' },
	{ "ledger", required_argument, NULL, O_LEDGER },
	{ "ledger-ca", required_argument, NULL, O_LEDGER_CA },
	{ NULL, 0, NULL, 0 },
};

static int parse(int argc, char *argv[], struct hs_args *a)
{
	int c, bad = 0;

	memset(a, 0, sizeof(*a));
	a->skew = 60;
	a->count = 1;
	a->timeout = 30;
	while (!bad && (c = cli_getopt(argc, argv, "h", options)) != -1) {
		switch (c) {
		case O_LISTEN: a->listen = optarg; break;
		case O_CONNECT: a->connect = optarg; break;
		case O_KEY: a->key = optarg; break;
		case O_CERT: a->cert = optarg; break;
		case O_ANCH: a->anchors = optarg; break;
		case O_CRLS: a->crls = optarg; break;
		case O_AUD: a->aud = optarg; break;
		case O_KS: a->keystore = optarg; break;
		case O_KF: a->keyfile = optarg; break;
		case O_PF: a->passfile = optarg; break;
		case O_TOKEN: a->token = optarg; break;
		case O_TPM: a->tpm = optarg; break;
		case O_GKEY: a->guest_key = optarg; break;
		case O_EXPECT: a->expect_host = optarg; break;
		case O_SEND: a->send = optarg; break;
		case O_LEDGER: a->ledger = optarg; break;
		case O_LEDGER_CA: a->ledger_ca = optarg; break;
		case O_SKEW: bad = cli_parse_uint(optarg, KT_TOKEN_MAX_SKEW, &a->skew); break;
		case O_COUNT: bad = cli_parse_uint(optarg, 1000000, &a->count) || !a->count; break;
		case O_TIMEOUT: bad = cli_parse_uint(optarg, 3600, &a->timeout) || !a->timeout; break;
		case 'h': usage(stdout); return 1;
		default: bad = !cli_output_option(c, &a->mode);
		}
	}
	if (cli_parse_done("handshake", usage, bad, c))
		return -1;
	if (!a->listen == !a->connect) {
		fprintf(stderr, "%s handshake: give one of --listen and --connect\n", prog);
		usage(stderr);
		return -1;
	}
	return 0;
}

#define need(value, option) cli_need("handshake", usage, value, option)

static void print_digest(const char *key, const char *fmt, EVP_MD_CTX *md)
{
	uint8_t digest[32];

	EVP_DigestFinal_ex(md, digest, NULL);
	kt_print_hex(key, fmt, digest, sizeof(digest));
}

/* Host side: reads everything until the guest closes, echoing it back. */
static int echo(struct kt_channel *ch, uint64_t *bytes, EVP_MD_CTX *md, struct kt_err *err)
{
	uint8_t buf[KT_CHANNEL_MAX_DATA];
	ssize_t n;

	while ((n = kt_channel_recv(ch, buf, sizeof(buf), err)) > 0) {
		EVP_DigestUpdate(md, buf, (size_t)n);
		*bytes += (uint64_t)n;
		if (kt_channel_send(ch, buf, (size_t)n, err))
			return -1;
	}
	return n < 0 ? -1 : kt_channel_close(ch, err);
}

static int serve_one(int fd, const struct kt_hs_host_cfg *cfg)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	struct kt_err err = { 0 };
	struct kt_hs_result res;
	uint64_t bytes = 0;
	int ret;

	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	kt_print_open_object(NULL);
	if (kt_handshake_host(fd, cfg, &res, &err) ||
	    echo(res.channel, &bytes, md, &err)) {
		cli_print_verdict(CLI_REFUSED, NULL);
		kt_print_string("check", NULL, err.check);
		kt_print_string("message", NULL, err.msg);
		kt_print_close_object();
		ret = cli_refused(&err);
	} else {
		cli_print_verdict(CLI_VERIFIED, "verdict:     %s\n");
		kt_print_string("guest", "guest:       %s\n", res.token.claims.sub);
		kt_print_string("issuing_host", "issued by:   %s\n", res.token.claims.host);
		kt_print_string("jti", "token jti:   %s\n", res.token.claims.jti);
		kt_print_hex("transcript", "transcript:  %s\n", res.transcript, sizeof(res.transcript));
		kt_print_u64("bytes", "received:    %s bytes\n", bytes);
		print_digest("sha256", "sha256:      %s\n", md);
		kt_print_close_object();
		ret = KT_EXIT_OK;
	}
	fflush(stdout);
	kt_hs_result_free(&res);
	EVP_MD_CTX_free(md);
	return ret;
}

static int cmd_listen(struct hs_args *a)
{
	struct kt_hs_host_cfg cfg = { 0 };
	struct ledger_revocations rev = { 0 };
	struct kt_err err = { 0 };
	struct kt_cred host = { 0 };
	unsigned long i;
	int lfd = -1, fd, ret = KT_EXIT_FAILURE, rc;

	if (need(a->key, "--key") || need(a->cert, "--cert") || need(a->anchors, "--anchors") ||
	    need(a->crls, "--crls") || need(a->aud, "--aud"))
		return KT_EXIT_USAGE;
	cfg.verify.audience = a->aud;
	cfg.verify.skew = (unsigned int)a->skew;
	cfg.verify.trl_dir = a->crls;
	if (a->ledger) {
		/* Each guest's token is checked against the ledger as it is then. */
		cfg.verify.revoked = ledger_token_revoked;
		cfg.verify.revoked_arg = &rev;
	}
	cfg.replay = kt_replay_cache_new(REPLAY_CACHE);
	if (!cfg.replay || kt_cred_load_files(a->key, a->cert, &host, &err) ||
	    (a->ledger && ledger_revocations_open(a->ledger, a->ledger_ca, &rev, &err)) ||
	    kt_pki_dir_open(a->anchors, &cfg.verify.anchors, &err) ||
	    kt_pki_dir_open(a->crls, &cfg.verify.crls, &err)) {
		ret = kt_cli_error("cannot load", &err);
		goto out;
	}
	cfg.host = &host;
	lfd = net_listen(a->listen);
	if (lfd < 0)
		goto out;
	kt_print_start(a->mode);
	kt_print_open_array(NULL);
	ret = KT_EXIT_OK;
	for (i = 0; i < a->count; i++) {
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "Unable to accept: %m\n");
			ret = KT_EXIT_FAILURE;
			break;
		}
		net_set_timeouts(fd, a->timeout);
		rc = serve_one(fd, &cfg);
		close(fd);
		if (rc && ret == KT_EXIT_OK)
			ret = rc;
	}
	kt_print_close_array();
	kt_print_end();
out:
	if (lfd >= 0)
		close(lfd);
	kt_cred_free(&host);
	kt_pki_dir_free(cfg.verify.anchors);
	kt_pki_dir_free(cfg.verify.crls);
	kt_replay_cache_free(cfg.replay);
	ledger_revocations_close(&rev);
	return ret;
}

/* The guest's token and key: from the keystore, or from two files. */
static int guest_identity(struct hs_args *a, char **token, EVP_PKEY **key, struct kt_err *err)
{
	struct kt_keystore_unlock unlock;
	char *secret = NULL;
	int ret;

	if (!a->keystore == !(a->token && a->guest_key))
		return kt_fail(err, "request", "give --keystore, or --token and --guest-key");
	if (a->keystore) {
		ret = kt_cli_unlock(a->keyfile, a->passfile, a->tpm, &unlock, &secret, err) ||
		      kt_keystore_load(a->keystore, &unlock, token, key, err) ? -1 : 0;
		kt_cli_drop_secret(&secret);
		return ret;
	}
	*token = cli_read_arg(a->token, KT_CLI_TOKEN_MAX, err);
	*key = *token ? kt_pki_load_key(a->guest_key, err) : NULL;
	return *key ? 0 : -1;
}

static int send_file(struct kt_channel *ch, const char *path, uint8_t **data, size_t *len,
		     struct kt_err *err)
{
	*data = NULL;
	*len = 0;
	if (path && kt_file_read(path, SEND_MAX, 0, data, len, err))
		return -1;
	if (*len && kt_channel_send(ch, *data, *len, err))
		return -1;
	return kt_channel_close(ch, err);
}

static int cmd_connect(struct hs_args *a)
{
	struct kt_hs_guest_cfg cfg = { .expect_host = a->expect_host };
	struct ledger_revocations rev = { 0 };
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	struct kt_err err = { 0 };
	struct kt_hs_result res = { 0 };
	uint8_t *data = NULL, *back = NULL;
	char *token = NULL;
	EVP_PKEY *key = NULL;
	size_t len;
	int fd = -1, ret = KT_EXIT_FAILURE;
	bool echoed;

	if (need(a->anchors, "--anchors"))
		return KT_EXIT_USAGE;
	if (a->ledger) {
		/* The host's certificate, checked against the ledger as it is then. */
		cfg.host_revoked = ledger_cert_revoked;
		cfg.host_revoked_arg = &rev;
	}
	if (guest_identity(a, &token, &key, &err) ||
	    (a->ledger && ledger_revocations_open(a->ledger, a->ledger_ca, &rev, &err)) ||
	    kt_pki_dir_open(a->anchors, &cfg.anchors, &err) ||
	    (a->crls && kt_pki_dir_open(a->crls, &cfg.crls, &err))) {
		ret = kt_cli_error("cannot load", &err);
		goto out;
	}
	cfg.token = token;
	cfg.guest_key = key;
	fd = net_connect(a->connect, a->timeout);
	if (fd < 0)
		goto out;
	kt_print_start(a->mode);
	kt_print_open_object(NULL);
	if (kt_handshake_guest(fd, &cfg, &res, &err) || send_file(res.channel, a->send, &data, &len, &err) ||
	    !(back = malloc(len + 1)) || kt_channel_recv_all(res.channel, back, len, &err) ||
	    kt_channel_recv(res.channel, back, 1, &err) != 0) {
		cli_print_verdict(CLI_REFUSED, NULL);
		kt_print_string("check", NULL, err.check);
		kt_print_string("message", NULL, err.msg);
		kt_print_close_object();
		kt_print_end();
		ret = err.check ? cli_refused(&err) : KT_EXIT_FAILURE;
		goto out;
	}
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	EVP_DigestUpdate(md, data, len);
	cli_print_verdict(CLI_VERIFIED, "verdict:     %s\n");
	kt_print_string("host", "host:        %s\n", res.peer.host_uuid);
	kt_print_string("region", "region:      %s\n", res.peer.region);
	kt_print_string("site", "site:        %s\n", res.peer.site);
	kt_print_hex("transcript", "transcript:  %s\n", res.transcript, sizeof(res.transcript));
	kt_print_u64("bytes", "sent:        %s bytes\n", len);
	print_digest("sha256", "sha256:      %s\n", md);
	/* Nothing sent: data is NULL, and an empty echo matches. */
	echoed = !len || !memcmp(data, back, len);
	kt_print_bool("echo", "echoed:      %s\n", echoed);
	kt_print_close_object();
	kt_print_end();
	ret = echoed ? KT_EXIT_OK : KT_EXIT_FAILURE;
out:
	if (fd >= 0)
		close(fd);
	kt_hs_result_free(&res);
	kt_pki_dir_free(cfg.anchors);
	kt_pki_dir_free(cfg.crls);
	ledger_revocations_close(&rev);
	EVP_PKEY_free(key);
	EVP_MD_CTX_free(md);
	free(token);
	free(data);
	free(back);
	return ret;
}

int handshake_main(int argc, char *argv[])
{
	char expect_host[KT_UUID_STR_LEN + 1];
	struct hs_args a;
	int rc;

	if (cli_group_usage(argc, argv, usage, &rc))
		return rc;
	rc = parse(argc, argv, &a);
	if (rc)
		return rc > 0 ? KT_EXIT_OK : KT_EXIT_USAGE;
	if (optind < argc)
		return cli_bad_usage("handshake", NULL, "unexpected argument '%s'", argv[optind]);
	rc = cli_need_files(a.key, a.cert, a.anchors, a.crls, a.keystore, a.keyfile, a.passfile,
			    a.token, a.guest_key, a.send);
	if (rc)
		return rc;
	if (a.expect_host && kt_uuid_canonical(a.expect_host, expect_host))
		return cli_bad_usage("handshake", NULL, "--expect-host '%s' is not a UUID",
				     a.expect_host);
	if (a.expect_host)
		a.expect_host = expect_host;
	/* A peer that disappears must fail a write, not kill the process. */
	signal(SIGPIPE, SIG_IGN);
	return a.listen ? cmd_listen(&a) : cmd_connect(&a);
}
