// SPDX-License-Identifier: GPL-2.0
/*
 * kvmtrust tpm: provisions the host's attestation key, in the TPM when the
 * host has one, in a software key file otherwise (and then says so).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest/hostkey.h"
#include "attest_cli.h"
#include "cli_util.h"
#include "exitcodes.h"
#include "identity/pki.h"
#include "print.h"
#include "subcommands.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s tpm init [--tcti TCTI | --software] [--host-id ID] [--pcr N] [--force]\n"
		"       %s tpm show [--json | --script]\n"
		"       %s tpm pubkey\n"
		"       %s tpm csr\n"
		"Common: [--key-dir DIR] (default $KVMTRUST_KEY_DIR or /var/lib/kvmtrust/hostkey)\n"
		"        [--tcti TCTI] (default $KVMTRUST_TCTI, e.g. swtpm:host=127.0.0.1,port=2321)\n",
		prog, prog, prog, prog);
	cli_usage_exits(f, CLI_EXITS_BASE | CLI_EXIT(KT_EXIT_NOT_FOUND) |
			CLI_EXIT(KT_EXIT_UNAVAILABLE));
}

enum { OPT_TCTI = 256, OPT_SOFTWARE, OPT_HOST_ID, OPT_PCR, OPT_FORCE, OPT_KEY_DIR };

static const struct option options[] = {
	{ "tcti", required_argument, NULL, OPT_TCTI },
	{ "software", no_argument, NULL, OPT_SOFTWARE },
	{ "host-id", required_argument, NULL, OPT_HOST_ID },
	{ "pcr", required_argument, NULL, OPT_PCR },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "key-dir", required_argument, NULL, OPT_KEY_DIR },
	CLI_OUTPUT_OPTIONS,
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct tpm_args {
	struct kt_hostkey_params p;
	enum kt_print_mode mode;
};

static int tpm_init(struct tpm_args *a)
{
	struct kt_err err = { 0 };

	if (!a->p.software && !a->p.tcti) {
		if (access("/dev/tpmrm0", F_OK) == 0) {
			a->p.tcti = "device:/dev/tpmrm0";
		} else {
			fprintf(stderr, "%s: no TPM (no --tcti, $KVMTRUST_TCTI or /dev/tpmrm0): "
				"using a software key; every report will say \"key\": \"software\"\n",
				prog);
			a->p.software = true;
		}
	}
	if (kt_hostkey_init(&a->p, &err))
		return attest_hostkey_error("create the host key", &err);
	printf("created %s key in %s (public.pem, host.csr)\n",
	       a->p.software ? "software" : "TPM", a->p.dir);
	return KT_EXIT_OK;
}

static int tpm_show(struct tpm_args *a, struct kt_hostkey *hk)
{
	unsigned char *spki = NULL;
	struct kt_cert_info cert = { 0 };
	struct kt_err err = { 0 };
	kt_hash fpr, pcr;
	int len;

	len = i2d_PUBKEY(hk->pub, &spki);
	if (len <= 0)
		return KT_EXIT_FAILURE;
	kt_sha256(spki, (size_t)len, fpr);
	OPENSSL_free(spki);
	/* The subject in RFC 4514 form, as every command prints a DN. */
	if (hk->chain && kt_pki_cert_info(sk_X509_value(hk->chain, 0), &cert, &err))
		return attest_hostkey_error("read the host certificate", &err);
	kt_print_start(a->mode);
	kt_print_open_object(NULL);
	kt_print_string("key", "key: %s\n", kt_key_origin_name(hk->origin));
	kt_print_string("host_id", "host id: %s\n", hk->host_id);
	kt_print_string("key_dir", "key directory: %s\n", hk->dir);
	kt_print_hex("public_key_sha256", "public key SHA-256: %s\n", fpr, sizeof(fpr));
	kt_print_string("certificate", "certificate: %s\n", hk->chain ? cert.subject : NULL);
	if (hk->origin == KT_KEY_TPM) {
		kt_print_string("tcti", "TCTI: %s\n", hk->tcti ? hk->tcti : "(default)");
		kt_print_u64("pcr", "report PCR: %s\n", hk->pcr);
		if (kt_tpm_pcr_read(hk->tpm, hk->pcr, pcr, &err))
			return attest_hostkey_error("read the report PCR", &err);
		kt_print_hex("pcr_value", "PCR value: %s\n", pcr, sizeof(pcr));
	}
	kt_print_close_object();
	return kt_print_end() ? KT_EXIT_FAILURE : KT_EXIT_OK;
}

static int tpm_pubkey(struct kt_hostkey *hk)
{
	return PEM_write_PUBKEY(stdout, hk->pub) == 1 ? KT_EXIT_OK : KT_EXIT_FAILURE;
}

static int tpm_csr(struct kt_hostkey *hk)
{
	struct kt_err err = { 0 };
	X509_REQ *req;
	int ok;

	if (kt_hostkey_csr(hk, &req, &err))
		return attest_hostkey_error("make a CSR", &err);
	ok = PEM_write_X509_REQ(stdout, req);
	X509_REQ_free(req);
	return ok == 1 ? KT_EXIT_OK : KT_EXIT_FAILURE;
}

int tpm_main(int argc, char *argv[])
{
	struct tpm_args a = {
		.p = { .dir = kt_hostkey_default_dir(), .tcti = kt_hostkey_default_tcti(),
		       .pcr = KT_TPM_DEFAULT_PCR },
	};
	struct kt_err err = { 0 };
	struct kt_hostkey *hk;
	const char *cmd;
	int c, ret;
	char *end;

	if (cli_group_usage(argc, argv, usage, &ret))
		return ret;
	cmd = argv[1];
	optind = 2;
	while ((c = cli_getopt(argc, argv, "h", options)) != -1) {
		switch (c) {
		case OPT_TCTI: a.p.tcti = optarg; break;
		case OPT_SOFTWARE: a.p.software = true; break;
		case OPT_HOST_ID: a.p.host_id = optarg; break;
		case OPT_FORCE: a.p.force = true; break;
		case OPT_KEY_DIR: a.p.dir = optarg; break;
		case OPT_PCR:
			a.p.pcr = (unsigned int)strtoul(optarg, &end, 10);
			if (*end || a.p.pcr > 23)
				return cli_bad_usage(NULL, NULL, "--pcr takes 0-23");
			break;
		default:
			if (cli_output_option(c, &a.mode))
				break;
			return cli_option_usage(usage, c);
		}
	}
	if (optind != argc) {
		usage(stderr);
		return KT_EXIT_USAGE;
	}
	if (!strcmp(cmd, "init"))
		return tpm_init(&a);
	if (strcmp(cmd, "show") && strcmp(cmd, "pubkey") && strcmp(cmd, "csr"))
		return cli_bad_usage("tpm", usage, "unknown command '%s'", cmd);
	if (kt_hostkey_open(a.p.dir, a.p.tcti, &hk, &err))
		return attest_hostkey_error("open the host key", &err);
	if (!strcmp(cmd, "show"))
		ret = tpm_show(&a, hk);
	else if (!strcmp(cmd, "pubkey"))
		ret = tpm_pubkey(hk);
	else
		ret = tpm_csr(hk);
	kt_hostkey_close(hk);
	return ret;
}
