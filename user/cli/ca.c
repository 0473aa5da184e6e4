// SPDX-License-Identifier: GPL-2.0
/*
 * kvmtrust ca: the CA hierarchy (pki.h). Creates root CAs, issues
 * intermediate CAs, host and user certificates into credential directories,
 * revokes them, signs CRLs, shows and verifies certificates.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cli_util.h"
#include "common/outfile.h"
#include "identity/pki.h"
#include "identity_cli.h"
#include "ledger/revocation.h"
#include "ledger_cli.h"
#include "print.h"
#include "subcommands.h"

#define MAX_NAMES 16
#define DAY 86400
/* Backdated so hosts with slightly slow clocks accept a fresh certificate. */
#define BACKDATE 300

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s ca init -o DIR --cn NAME [--days N] [--pathlen N]\n"
		"       %s ca issue ca|host|user --ca DIR -o DIR --cn NAME [--days N]\n"
		"              [--not-before TIME] [--not-after TIME] [--pathlen N]\n"
		"              [--permit-dns NAME]... [--exclude-dns NAME]...\n"
		"              [--host-uuid UUID --region REGION --site SITE] [--dns NAME]...\n"
		"              [--pubkey FILE]\n"
		"       %s ca revoke --ca DIR [--reason REASON]\n"
		"              [--ledger SPEC [--ledger-ca FILE|DIR]] CERT\n"
		"       %s ca crl --ca DIR [--days N] [-o FILE]\n"
		"       %s ca show [--json|--script] CERT|DIR\n"
		"       %s ca verify --anchors DIR --crls DIR [--kind root|ca|host|user]\n"
		"              [--at TIME] [--json|--script] CERT|DIR\n"
		CLI_TIME_USAGE "See kvmtrust-ca(8).\n", prog, prog, prog, prog, prog, prog);
	cli_usage_exits(f, CLI_EXITS_BASE | CLI_EXIT(KT_EXIT_NOT_FOUND) | CLI_EXIT(KT_EXIT_PERM) |
			CLI_EXIT(KT_EXIT_REFUSED));
}

struct ca_args {
	const char *ca, *out, *cn, *uuid, *region, *site, *pubkey, *reason;
	const char *anchors, *crls, *kind, *at, *ledger, *ledger_ca;
	const char *permit[MAX_NAMES + 1], *exclude[MAX_NAMES + 1], *dns[MAX_NAMES + 1];
	int npermit, nexclude, ndns;
	uint64_t days;
	long pathlen;
	time_t not_before, not_after;
	enum kt_print_mode mode;
};

enum { O_CN = 256, O_DAYS, O_PATHLEN, O_PERMIT, O_EXCLUDE, O_UUID, O_REGION, O_SITE, O_DNS,
       O_PUBKEY, O_REASON, O_NB, O_NA, O_ANCHORS, O_CRLS, O_KIND, O_AT,
       O_CA, O_LEDGER, O_LEDGER_CA };

static const struct option options[] = {
	{ "ca", required_argument, NULL, O_CA },
	{ "output", required_argument, NULL, 'o' }, { "cn", required_argument, NULL, O_CN },
	{ "days", required_argument, NULL, O_DAYS }, { "pathlen", required_argument, NULL, O_PATHLEN },
	{ "permit-dns", required_argument, NULL, O_PERMIT },
	{ "exclude-dns", required_argument, NULL, O_EXCLUDE },
	{ "host-uuid", required_argument, NULL, O_UUID },
	{ "region", required_argument, NULL, O_REGION },
	{ "site", required_argument, NULL, O_SITE }, { "dns", required_argument, NULL, O_DNS },
	{ "pubkey", required_argument, NULL, O_PUBKEY }, { "reason", required_argument, NULL, O_REASON },
	{ "not-before", required_argument, NULL, O_NB }, { "not-after", required_argument, NULL, O_NA },
	{ "anchors", required_argument, NULL, O_ANCHORS }, { "crls", required_argument, NULL, O_CRLS },
	{ "kind", required_argument, NULL, O_KIND }, { "at", required_argument, NULL, O_AT },
	{ "ledger", required_argument, NULL, O_LEDGER },
	{ "ledger-ca", required_argument, NULL, O_LEDGER_CA },
	CLI_OUTPUT_OPTIONS, { "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int add_name(const char **list, int *n, const char *name)
{
	if (*n >= MAX_NAMES)
		return -1;
	list[(*n)++] = name;
	return 0;
}

/* Returns -1 on a bad option (usage printed), 1 for --help, 0 otherwise. */
static int parse(int argc, char *argv[], struct ca_args *a)
{
	uint64_t v;
	int c, bad = 0;

	memset(a, 0, sizeof(*a));
	a->pathlen = -1;
	optind = 1;
	while (!bad && (c = cli_getopt(argc, argv, "ho:", options)) != -1) {
		switch (c) {
		case O_CA: a->ca = optarg; break;
		case 'o': a->out = optarg; break;
		case O_CN: a->cn = optarg; break;
		case O_UUID: a->uuid = optarg; break;
		case O_REGION: a->region = optarg; break;
		case O_SITE: a->site = optarg; break;
		case O_PUBKEY: a->pubkey = optarg; break;
		case O_REASON: a->reason = optarg; break;
		case O_ANCHORS: a->anchors = optarg; break;
		case O_CRLS: a->crls = optarg; break;
		case O_KIND: a->kind = optarg; break;
		case O_AT: a->at = optarg; break;
		case O_LEDGER: a->ledger = optarg; break;
		case O_LEDGER_CA: a->ledger_ca = optarg; break;
		case O_DAYS: bad = cli_parse_uint(optarg, 100 * 366, &a->days) || !a->days; break;
		case O_PATHLEN: bad = cli_parse_uint(optarg, 16, &v); a->pathlen = (long)v; break;
		case O_PERMIT: bad = add_name(a->permit, &a->npermit, optarg); break;
		case O_EXCLUDE: bad = add_name(a->exclude, &a->nexclude, optarg); break;
		case O_DNS: bad = add_name(a->dns, &a->ndns, optarg); break;
		case O_NB: bad = cli_parse_time(optarg, &a->not_before); break;
		case O_NA: bad = cli_parse_time(optarg, &a->not_after); break;
		case 'h': usage(stdout); return 1;
		default: bad = !cli_output_option(c, &a->mode);
		}
	}
	return cli_parse_done("ca", usage, bad, c);
}

#define need(value, option) cli_need("ca", usage, value, option)

/* The validity window: explicit times, else now-5min .. now+days (default def_days). */
static void window(const struct ca_args *a, unsigned long def_days, time_t cap,
		   struct kt_cert_req *req)
{
	time_t now = time(NULL);

	req->not_before = a->not_before ? a->not_before : now - BACKDATE;
	req->not_after = a->not_after ? a->not_after :
			 req->not_before + BACKDATE + (time_t)(a->days ? a->days : def_days) * DAY;
	/* By default nothing outlives its issuer; explicit times are taken as given. */
	if (!a->not_after && cap && req->not_after > cap)
		req->not_after = cap;
}

static int write_crl(const char *dir, const struct kt_cred *ca)
{
	struct kt_err err = { 0 };

	if (kt_ca_crl(dir, ca, 0, NULL, &err))
		return kt_cli_error("cannot sign the CRL", &err);
	return 0;
}

/*
 * Refuses a credential directory whose files cannot all be written (a
 * link, a device, a FIFO in their place) before the first one is.
 */
static int check_cred_dir(const char *dir, bool ca, struct kt_err *err)
{
	static const char *const files[] = { "key.pem", "cert.pem", "chain.pem",
					     "revoked.json", "crl.pem" };
	char path[4096];
	struct stat st;
	size_t i;

	if (lstat(dir, &st) && errno == ENOENT)
		return kt_file_replaceable(dir, err);
	for (i = 0; i < (ca ? 5 : 3); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		if (kt_file_replaceable(path, err))
			return -1;
	}
	return 0;
}

static int cmd_init(struct ca_args *a)
{
	struct kt_cert_req req = { .kind = KT_CERT_ROOT, .pathlen = (int)a->pathlen };
	struct kt_err err = { 0 };
	struct kt_cred root;
	struct stat st;
	char key[4096];
	int ret;

	if (need(a->out, "-o") || need(a->cn, "--cn"))
		return KT_EXIT_USAGE;
	snprintf(key, sizeof(key), "%s/key.pem", a->out);
	if (!lstat(key, &st) && S_ISREG(st.st_mode)) {
		fprintf(stderr, "Error: '%s' already holds a CA; refusing to overwrite it\n", a->out);
		return KT_EXIT_FAILURE;
	}
	if (check_cred_dir(a->out, true, &err))
		return kt_cli_error("cannot create the root CA", &err);
	req.cn = a->cn;
	req.permit_dns = a->npermit ? a->permit : NULL;
	req.exclude_dns = a->nexclude ? a->exclude : NULL;
	window(a, 3650, 0, &req);
	if (kt_ca_init(a->out, &req, &err) || kt_cred_load(a->out, &root, &err))
		return kt_cli_error("cannot create the root CA", &err);
	ret = write_crl(a->out, &root);
	kt_cred_free(&root);
	if (!ret)
		printf("root CA '%s' created in %s (anchor: %s/cert.pem, CRL: %s/crl.pem)\n",
		       a->cn, a->out, a->out, a->out);
	return ret;
}

static int kind_of(const char *name)
{
	static const char *const kinds[] = { "root", "ca", "host", "user" };
	int i;

	for (i = 0; name && i < 4; i++) {
		if (!strcmp(name, kinds[i]))
			return i;
	}
	return -1;
}

static int cmd_issue(struct ca_args *a, const char *kind_name)
{
	struct kt_cert_req req = { .pathlen = (int)a->pathlen };
	struct kt_cred ca = { 0 }, out = { 0 };
	struct kt_cert_info ca_info, info;
	struct kt_err err = { 0 };
	char host_uuid[KT_UUID_STR_LEN + 1];
	EVP_PKEY *key = NULL;
	int kind = kind_of(kind_name), ret = KT_EXIT_FAILURE;

	if (kind <= KT_CERT_ROOT)
		return cli_bad_usage("ca issue", NULL, "kind must be ca, host or user");
	if (a->uuid && kt_uuid_canonical(a->uuid, host_uuid))
		return cli_bad_usage("ca issue", NULL, "--host-uuid '%s' is not a UUID", a->uuid);
	if (need(a->ca, "--ca") || need(a->out, "-o") || need(a->cn, "--cn") ||
	    (kind == KT_CERT_HOST && (need(a->uuid, "--host-uuid") || need(a->region, "--region") ||
				      need(a->site, "--site"))))
		return KT_EXIT_USAGE;
	ret = cli_need_files(a->ca, a->pubkey);
	if (ret)
		return ret;
	ret = KT_EXIT_FAILURE;
	if (check_cred_dir(a->out, kind == KT_CERT_CA, &err))
		return kt_cli_error("cannot save the credential", &err);
	if (kt_cred_load(a->ca, &ca, &err) || kt_pki_cert_info(ca.cert, &ca_info, &err))
		return kt_cli_error("cannot load the issuing CA", &err);
	req.kind = (enum kt_cert_kind)kind;
	req.cn = a->cn;
	req.permit_dns = a->npermit ? a->permit : NULL;
	req.exclude_dns = a->nexclude ? a->exclude : NULL;
	req.dns = a->ndns ? a->dns : NULL;
	req.host_uuid = a->uuid ? host_uuid : NULL;
	req.region = a->region;
	req.site = a->site;
	window(a, kind == KT_CERT_CA ? 1825 : 365, ca_info.not_after, &req);
	key = a->pubkey ? kt_pki_load_pubkey(a->pubkey, &err) : kt_pki_new_key(&err);
	if (!key || kt_ca_issue(&ca, &req, key, &out, &err)) {
		ret = kt_cli_error("cannot issue the certificate", &err);
		goto out;
	}
	if (!a->pubkey) {
		out.key = key;
		key = NULL;
	}
	if (kt_cred_save(a->out, &out, &err)) {
		ret = kt_cli_error("cannot save the credential", &err);
		goto out;
	}
	if (kind == KT_CERT_CA) {
		kt_cred_free(&out);
		if (kt_cred_load(a->out, &out, &err)) {
			ret = kt_cli_error("cannot reload the new CA", &err);
			goto out;
		}
		if (write_crl(a->out, &out))
			goto out;
	}
	kt_pki_cert_info(out.cert, &info, NULL);
	printf("%s certificate '%s' serial %s issued into %s\n", kind_name, a->cn, info.serial, a->out);
	ret = KT_EXIT_OK;
out:
	EVP_PKEY_free(key);
	kt_cred_free(&out);
	kt_cred_free(&ca);
	return ret;
}

/*
 * Publishes the revocation as a ledger entry signed by the CA itself
 * (revocation.h): every host naming the ledger refuses the certificate.
 */
static int revoke_in_ledger(const struct ca_args *a, X509 *cert)
{
	struct kt_ledger_entry e;
	struct kt_err err = { 0 };
	char key[4096], crt[4096];

	snprintf(key, sizeof(key), "%s/key.pem", a->ca);
	snprintf(crt, sizeof(crt), "%s/cert.pem", a->ca);
	if (kt_ledger_cert_revoke_entry(cert, a->reason, &e, &err) ||
	    ledger_publish(a->ledger, a->ledger_ca, key, crt, &e, &err))
		return ledger_error(&err);
	printf("revoked %s in ledger entry %llu: every host naming the ledger refuses it\n",
	       e.vm_id, (unsigned long long)e.index);
	return 0;
}

static int cmd_revoke(struct ca_args *a, const char *cert_file)
{
	struct kt_err err = { 0 };
	struct kt_cert_info info;
	struct kt_cred ca;
	int reason = a->reason ? kt_crl_reason(a->reason) : 0, ret = KT_EXIT_OK, failed;
	X509 *cert;

	if (need(a->ca, "--ca") || need(cert_file, "CERT"))
		return KT_EXIT_USAGE;
	if (a->ledger_ca && !a->ledger)
		return cli_bad_usage("ca revoke", NULL, "--ledger-ca names the CA of a --ledger");
	if (reason < 0) {
		fprintf(stderr, "%s ca revoke: unknown reason '%s' (keyCompromise, cACompromise, "
			"superseded, cessationOfOperation, ...)\n", prog, a->reason);
		return KT_EXIT_USAGE;
	}
	ret = cli_need_files(a->ca, cert_file);
	if (ret)
		return ret;
	cert = kt_pki_load_cert(cert_file, &err);
	if (!cert)
		return kt_cli_error("cannot read the certificate", &err);
	if (kt_cred_load(a->ca, &ca, &err)) {
		X509_free(cert);
		return kt_cli_error("cannot load the CA", &err);
	}
	/* The ledger first: a refused entry leaves the CA's own list as it was. */
	if (a->ledger) {
		ret = revoke_in_ledger(a, cert);
		if (ret)
			goto out;
	}
	failed = kt_ca_revoke(a->ca, &ca, cert, reason, &err);
	if (failed && a->ledger && err.check && !strcmp(err.check, "revoked")) {
		/* Published to another ledger: the CA's own list has it already. */
		printf("%s; the CA's list had it already\n", err.msg);
	} else if (failed || kt_pki_cert_info(cert, &info, &err)) {
		ret = kt_cli_error("cannot revoke", &err);
	} else {
		printf("revoked serial %s; new CRL in %s/crl.pem%s\n", info.serial, a->ca,
		       a->ledger ? "" : ": copy it to every verifier");
	}
out:
	kt_cred_free(&ca);
	X509_free(cert);
	return ret;
}

/* The CRL as PEM to path ("-": standard output). */
static int write_crl_to(const char *path, X509_CRL *crl, struct kt_err *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem;
	long len;
	int ret;

	if (!bio || !PEM_write_bio_X509_CRL(bio, crl)) {
		BIO_free(bio);
		return kt_fail_ssl(err, "revocation", "cannot encode the CRL");
	}
	len = BIO_get_mem_data(bio, &pem);
	ret = cli_write_arg(path, pem, (size_t)len, 0644, err);
	BIO_free(bio);
	return ret;
}

static int cmd_crl(struct ca_args *a)
{
	struct kt_err err = { 0 };
	X509_CRL *crl = NULL;
	struct kt_cred ca;
	int ret = KT_EXIT_OK;

	if (need(a->ca, "--ca"))
		return KT_EXIT_USAGE;
	ret = cli_need_files(a->ca);
	if (ret)
		return ret;
	/* Checked first: a CRL signed and then not written would still be counted. */
	if (a->out && cli_output_check(a->out, false, &err))
		return kt_cli_error("cannot write the CRL", &err);
	if (kt_cred_load(a->ca, &ca, &err))
		return kt_cli_error("cannot load the CA", &err);
	if (kt_ca_crl(a->ca, &ca, (unsigned int)a->days, &crl, &err))
		ret = kt_cli_error("cannot sign the CRL", &err);
	else if (a->out && write_crl_to(a->out, crl, &err))
		ret = kt_cli_error("cannot write the CRL", &err);
	X509_CRL_free(crl);
	kt_cred_free(&ca);
	return ret;
}

/* A certificate file, or a credential directory's chain.pem; leaf first. */
static STACK_OF(X509) *load_subject(const char *arg, struct kt_err *err)
{
	char path[4096];
	struct stat st;

	if (!stat(arg, &st) && S_ISDIR(st.st_mode)) {
		snprintf(path, sizeof(path), "%s/chain.pem", arg);
		return kt_pki_load_certs(path, err);
	}
	return kt_pki_load_certs(arg, err);
}

/*
 * One certificate. Every field is always emitted, so JSON members and script
 * columns are fixed (kvmtrust-ca(8)); text hides what does not apply.
 */
static void print_cert(const struct kt_cert_info *info)
{
	bool ca = info->kind == KT_CERT_ROOT || info->kind == KT_CERT_CA;
	bool host = info->host_uuid[0];

	kt_print_string("kind", "kind:        %s\n", kt_cert_kind_name(info->kind));
	kt_print_string("subject", "subject:     %s\n", info->subject);
	kt_print_string("issuer", "issuer:      %s\n", info->issuer);
	kt_print_string("serial", "serial:      %s\n", info->serial);
	kt_print_time("not_before", "not before:  %s\n", info->not_before);
	kt_print_time("not_after", "not after:   %s\n", info->not_after);
	kt_print_s64("pathlen", ca ? "pathlen:     %s\n" : NULL, info->pathlen);
	kt_print_string("host_uuid", host ? "host uuid:   %s\n" : NULL, host ? info->host_uuid : NULL);
	kt_print_string("region", host ? "region:      %s\n" : NULL, info->region[0] ? info->region : NULL);
	kt_print_string("site", host ? "site:        %s\n" : NULL, info->site[0] ? info->site : NULL);
	kt_print_string("ski", "key id:      %s\n", info->ski);
	kt_print_string("aki", "issuer key:  %s\n", info->aki[0] ? info->aki : NULL);
}

static int cmd_show(struct ca_args *a, const char *arg)
{
	STACK_OF(X509) *certs;
	struct kt_cert_info info;
	struct kt_err err = { 0 };
	int i, ret;

	if (need(arg, "CERT"))
		return KT_EXIT_USAGE;
	ret = cli_need_files(arg);
	if (ret)
		return ret;
	certs = load_subject(arg, &err);
	if (!certs)
		return kt_cli_error("cannot read certificates", &err);
	kt_print_start(a->mode);
	kt_print_open_array(NULL);
	for (i = 0; i < sk_X509_num(certs); i++) {
		if (kt_pki_cert_info(sk_X509_value(certs, i), &info, &err))
			break;
		kt_print_text(i ? "\n" : "");
		kt_print_open_object(NULL);
		print_cert(&info);
		kt_print_close_object();
	}
	kt_print_close_array();
	kt_print_end();
	sk_X509_pop_free(certs, X509_free);
	return err.check ? kt_cli_error("cannot read a certificate", &err) : KT_EXIT_OK;
}

static int cmd_verify(struct ca_args *a, const char *arg)
{
	struct kt_pki_verify_opts opts = { .require_kind = -1 };
	STACK_OF(X509) *certs = NULL, *path = NULL;
	struct kt_err err = { 0 };
	struct kt_cert_info info;
	int ret = KT_EXIT_FAILURE, i;

	if (need(a->anchors, "--anchors") || need(a->crls, "--crls") || need(arg, "CERT"))
		return KT_EXIT_USAGE;
	if (a->kind && (opts.require_kind = kind_of(a->kind)) < 0)
		return cli_bad_usage("ca verify", NULL, "--kind is root, ca, host or user");
	if (a->at && cli_parse_time(a->at, &opts.at))
		return cli_bad_usage("ca verify", NULL, "bad --at time '%s'", a->at);
	ret = cli_need_files(a->anchors, a->crls, arg);
	if (ret)
		return ret;
	ret = KT_EXIT_FAILURE;
	certs = load_subject(arg, &err);
	if (!certs || kt_pki_dir_open(a->anchors, &opts.anchors, &err) ||
	    kt_pki_dir_open(a->crls, &opts.crls, &err)) {
		ret = kt_cli_error("cannot load", &err);
		goto out;
	}
	opts.untrusted = certs;
	/* A CA certificate signs certificates and CRLs only, which the path check covers. */
	if (X509_check_ca(sk_X509_value(certs, 0)))
		opts.flags |= KT_PKI_NOT_SIGNER;
	kt_print_start(a->mode);
	kt_print_open_object(NULL);
	if (kt_pki_verify(sk_X509_value(certs, 0), &opts, &path, &err)) {
		ret = cli_print_refused(&err);
		goto out;
	}
	cli_print_verdict(CLI_VERIFIED, "verdict:     %s\n");
	kt_print_open_array("path");
	for (i = 0; i < sk_X509_num(path); i++) {
		kt_pki_cert_info(sk_X509_value(path, i), &info, NULL);
		kt_print_string(NULL, "path:        %s\n", info.subject);
	}
	kt_print_close_array();
	kt_print_close_object();
	kt_print_end();
	ret = KT_EXIT_OK;
out:
	sk_X509_pop_free(path, X509_free);
	sk_X509_pop_free(certs, X509_free);
	kt_pki_dir_free(opts.anchors);
	kt_pki_dir_free(opts.crls);
	return ret;
}

int ca_main(int argc, char *argv[])
{
	const char *cmd = argc > 1 ? argv[1] : NULL;
	struct ca_args a;
	int rc;

	if (cli_group_usage(argc, argv, usage, &rc))
		return rc;
	rc = parse(argc - 1, argv + 1, &a);
	if (rc)
		return rc > 0 ? KT_EXIT_OK : KT_EXIT_USAGE;
	/* After getopt_long, argv + 1 + optind holds the positional arguments. */
	if (!strcmp(cmd, "init"))
		return cmd_init(&a);
	if (!strcmp(cmd, "issue"))
		return cmd_issue(&a, optind < argc - 1 ? argv[1 + optind] : NULL);
	if (!strcmp(cmd, "revoke"))
		return cmd_revoke(&a, optind < argc - 1 ? argv[1 + optind] : NULL);
	if (!strcmp(cmd, "crl"))
		return cmd_crl(&a);
	if (!strcmp(cmd, "show"))
		return cmd_show(&a, optind < argc - 1 ? argv[1 + optind] : NULL);
	if (!strcmp(cmd, "verify"))
		return cmd_verify(&a, optind < argc - 1 ? argv[1 + optind] : NULL);
	return cli_bad_usage("ca", usage, "unknown command '%s'", cmd);
}
