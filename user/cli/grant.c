// SPDX-License-Identifier: GPL-2.0
/*
 * kvmtrust grant issue|show|verify|revoke: the VM owner's migration grants
 * (grant.h). Output goes through print.h; the column order of the script
 * form is documented in kvmtrust-grant(8).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "exitcodes.h"
#include "grant_common.h"
#include "identity/pki.h"
#include "ledger/ledger.h"
#include "ledger_cli.h"
#include "policy/grant.h"
#include "policy/grant_ledger.h"
#include "print.h"
#include "subcommands.h"
#include "vm_ref.h"

static void usage(FILE *file)
{
	fprintf(file,
		"Usage: %s grant issue --key KEY --cert CERT " VM_REF_USAGE "\n"
		"                      --host-ca CERT|KEYID... --delegate CERT...\n"
		"                      [--delegate-key CERT|PUBKEY]... [--region NAME]... [--site NAME]...\n"
		"                      [--allow-host UUID]... [--deny-host UUID]... [--id UUID]\n"
		"                      [--not-before TIME] (--not-after TIME | --days N) [-o FILE]\n"
		"       %s grant show GRANT [--json | --script]\n"
		"       %s grant verify GRANT [--owner-anchors DIR] [--owner-crls DIR]\n"
		"                      [--host-anchors DIR] [--ledger SPEC] [--ledger-ca PATH]\n"
		"                      [--offline] [--at TIME] [--json | --script]\n"
		"       %s grant revoke GRANT|--id UUID [--key KEY --cert CERT] [--ledger SPEC]\n"
		"                      [--ledger-ca PATH] [--owner-anchors DIR]\n"
		"\n" CLI_TIME_USAGE "GRANT is a file or '-'.\n"
		"See kvmtrust-grant(8).\n", prog, prog, prog, prog);
	cli_usage_exits(file, CLI_EXITS_BASE | CLI_EXIT(KT_EXIT_NOT_FOUND) | CLI_EXIT(KT_EXIT_PERM) |
			CLI_EXIT(KT_EXIT_UNAVAILABLE) | CLI_EXIT(KT_EXIT_REFUSED));
}

/* A usage error: the message, then the usage, exit status 2. */
#define bad_usage(...) cli_bad_usage("grant", usage, __VA_ARGS__)

static bool is_keyid(const char *arg)
{
	return strlen(arg) == 2 * KT_KEYID_LEN && strspn(arg, "0123456789abcdef") == strlen(arg);
}

/* --host-ca: a CA certificate file, or its key identifier in hex. */
static int add_ca(struct kt_grant *g, const char *arg, struct kt_err *err)
{
	char keyid[2 * KT_KEYID_LEN + 1];
	struct kt_cert_info info;
	X509 *cert;

	if (is_keyid(arg))
		return kt_strlist_add(&g->ca_keyids, arg) ? kt_fail(err, "usage", "too many CAs") : 0;
	cert = kt_pki_load_cert(arg, err);
	if (!cert)
		return -1;
	if (kt_pki_cert_info(cert, &info, err) ||
	    (info.kind != KT_CERT_ROOT && info.kind != KT_CERT_CA)) {
		X509_free(cert);
		return err->msg[0] ? -1 : kt_fail(err, "usage", "'%s' is not a CA certificate", arg);
	}
	kt_cert_keyid(cert, keyid);
	X509_free(cert);
	return kt_strlist_add(&g->ca_keyids, keyid) ? kt_fail(err, "usage", "too many CAs") : 0;
}

/* --allow-host, --deny-host: a host UUID in either case, kept lowercase. */
static int add_host(struct kt_strlist *l, const char *arg, struct kt_err *err)
{
	char uuid[KT_UUID_STR_LEN + 1];

	if (kt_uuid_canonical(arg, uuid))
		return kt_fail(err, "usage", "host '%s' is not a UUID", arg);
	return kt_strlist_add(l, uuid);
}

/* --delegate CERT pins a certificate; --delegate-key CERT|PUBKEY pins its key. */
static int add_delegate(struct kt_grant *g, const char *arg, bool by_key, struct kt_err *err)
{
	struct kt_err ignored;
	char hash[65];
	EVP_PKEY *pub;
	X509 *cert;

	cert = kt_pki_load_cert(arg, by_key ? &ignored : err);
	if (cert) {
		if (by_key ? kt_cert_spki_sha256(cert, hash) : kt_cert_sha256(cert, hash))
			hash[0] = '\0';
		X509_free(cert);
	} else if (by_key && (pub = kt_pki_load_pubkey(arg, err))) {
		if (kt_pubkey_sha256(pub, hash))
			hash[0] = '\0';
		EVP_PKEY_free(pub);
	} else {
		return -1;
	}
	if (!hash[0] || kt_strlist_add(by_key ? &g->delegate_spkis : &g->delegate_certs, hash))
		return kt_fail(err, "usage", "cannot add delegate '%s'", arg);
	return 0;
}

static int do_issue(int argc, char *argv[])
{
	enum { O_KEY = 256, O_CERT, O_CA, O_DELEGATE, O_DELEGATE_KEY, O_REGION, O_SITE,
	       O_ALLOW, O_DENY, O_ID, O_NBF, O_NAF, O_DAYS };
	static const struct option opts[] = {
		{ "key", required_argument, NULL, O_KEY },
		{ "cert", required_argument, NULL, O_CERT },
		{ "host-ca", required_argument, NULL, O_CA },
		{ "delegate", required_argument, NULL, O_DELEGATE },
		{ "delegate-key", required_argument, NULL, O_DELEGATE_KEY },
		{ "region", required_argument, NULL, O_REGION },
		{ "site", required_argument, NULL, O_SITE },
		{ "allow-host", required_argument, NULL, O_ALLOW },
		{ "deny-host", required_argument, NULL, O_DENY },
		{ "id", required_argument, NULL, O_ID },
		{ "not-before", required_argument, NULL, O_NBF },
		{ "not-after", required_argument, NULL, O_NAF },
		{ "days", required_argument, NULL, O_DAYS },
		VM_REF_OPTIONS,
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *key = NULL, *cert = NULL, *output = NULL;
	struct vm_ref ref = { 0 };
	struct vm_name vm;
	struct kt_grant g = { 0 };
	struct kt_cred cred = { 0 };
	struct kt_err err = { 0 };
	time_t nbf = time(NULL), naf = 0;
	long days = 0;
	char *token = NULL, *end;
	int opt, ret = KT_EXIT_FAILURE;

	while ((opt = cli_getopt(argc, argv, "o:h", opts)) != -1) {
		int bad = 0;

		/* A certificate that is not there is "not found", not bad usage. */
		if ((opt == O_CA && !is_keyid(optarg)) || opt == O_DELEGATE || opt == O_DELEGATE_KEY) {
			ret = cli_need_files(optarg);
			if (ret)
				goto out;
			ret = KT_EXIT_FAILURE;
		}
		if (vm_ref_option(&ref, opt, optarg))
			continue;
		switch (opt) {
		case O_KEY: key = optarg; break;
		case O_CERT: cert = optarg; break;
		case O_ID:
			if (kt_uuid_canonical(optarg, g.id))
				return bad_usage("grant id '%s' is not a UUID", optarg);
			break;
		case O_CA: bad = add_ca(&g, optarg, &err); break;
		case O_DELEGATE: bad = add_delegate(&g, optarg, false, &err); break;
		case O_DELEGATE_KEY: bad = add_delegate(&g, optarg, true, &err); break;
		case O_REGION: bad = kt_strlist_add(&g.regions, optarg); break;
		case O_SITE: bad = kt_strlist_add(&g.sites, optarg); break;
		case O_ALLOW: bad = add_host(&g.hosts_allow, optarg, &err); break;
		case O_DENY: bad = add_host(&g.hosts_deny, optarg, &err); break;
		case O_NBF:
			if (cli_parse_time(optarg, &nbf))
				return bad_usage("bad time '%s'", optarg);
			break;
		case O_NAF:
			if (cli_parse_time(optarg, &naf))
				return bad_usage("bad time '%s'", optarg);
			break;
		case O_DAYS:
			days = strtol(optarg, &end, 10);
			if (*end || days <= 0 || days > 3650)
				return bad_usage("--days wants 1 to 3650, not '%s'", optarg);
			break;
		case 'o': output = optarg; break;
		default: ret = cli_option_usage(usage, opt); goto out;
		}
		if (bad) {
			if (!err.msg[0])
				kt_fail(&err, "usage", "too many values for --%s (at most %d)",
					opts[opt - O_KEY].name, KT_GRANT_MAX_ITEMS);
			ret = cli_error(NULL, &err, KT_EXIT_USAGE);
			goto out;
		}
	}
	if (!key || !cert || !vm_ref_given(&ref) || (!naf && !days) || (naf && days) ||
	    optind != argc) {
		ret = bad_usage("%s", "issue needs --key, --cert, the VM and one of --not-after or --days");
		goto out;
	}
	ret = vm_ref_resolve(&ref, VM_REF_UUID, &vm);
	if (ret)
		goto out;
	memcpy(g.vm, vm.uuid, sizeof(vm.uuid));
	if (!g.id[0] && kt_uuid_random(g.id)) {
		kt_fail(&err, "random", "no random bytes for a grant id");
		ret = cli_error(NULL, &err, KT_EXIT_FAILURE);
		goto out;
	}
	ret = cli_need_files(key, cert);
	if (ret)
		goto out;
	ret = KT_EXIT_FAILURE;
	g.iat = time(NULL);
	g.nbf = nbf;
	g.exp = naf ? naf : nbf + days * 86400;
	if (kt_cred_load_files(key, cert, &cred, &err) ||
	    kt_grant_issue(&g, cred.key, cred.chain, &token, &err)) {
		ret = cli_error(NULL, &err, KT_EXIT_FAILURE);
		goto out;
	}
	if (grant_cli_write(output, token, "the grant"))
		goto out;
	if (output && strcmp(output, "-"))
		fprintf(stderr, "grant %s for VM %s written to %s\n", g.id, g.vm, output);
	ret = KT_EXIT_OK;
out:
	free(token);
	kt_cred_free(&cred);
	kt_grant_free(&g);
	return ret;
}

/* An empty list reads "empty" as text, "-" in the script form, [] in JSON. */
static void print_list(const char *key, const char *label, const struct kt_strlist *l,
		       const char *empty)
{
	size_t i;

	kt_print_open_array(key);
	kt_print_text("  %-15s", label);
	for (i = 0; i < l->n; i++)
		kt_print_string(NULL, i ? ", %s" : "%s", l->v[i]);
	if (!l->n && !kt_print_is_json())
		kt_print_string(NULL, empty, NULL);
	kt_print_text("\n");
	kt_print_close_array();
}

static void print_time(const char *key, const char *label, int64_t t)
{
	kt_print_text("  %-15s", label);
	kt_print_time(key, "%s\n", t);
}

/*
 * Script form: "id vm issuer iat nbf exp", then one line per list in the
 * order ca_keyids regions sites hosts_allow hosts_deny delegate_certs
 * delegate_keys ("-" when empty).
 */
static void print_grant(const struct kt_grant *g)
{
	kt_print_string("id", "grant %s\n", g->id);
	kt_print_string("vm", "  vm             %s\n", g->vm);
	kt_print_string("issuer", "  issuer         %s\n", g->issuer);
	print_time("iat", "issued", g->iat);
	print_time("nbf", "not before", g->nbf);
	print_time("exp", "not after", g->exp);
	print_list("ca_keyids", "host CAs", &g->ca_keyids, "(none)");
	print_list("regions", "regions", &g->regions, "(any)");
	print_list("sites", "sites", &g->sites, "(any)");
	print_list("hosts_allow", "allowed hosts", &g->hosts_allow, "(any)");
	print_list("hosts_deny", "denied hosts", &g->hosts_deny, "(none)");
	print_list("delegate_certs", "delegate certs", &g->delegate_certs, "(none)");
	print_list("delegate_keys", "delegate keys", &g->delegate_spkis, "(none)");
}

static int do_show(int argc, char *argv[])
{
	static const struct option opts[] = {
		CLI_OUTPUT_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	enum kt_print_mode mode = KT_PRINT_TEXT;
	struct kt_err err = { 0 };
	const char *path;
	struct kt_grant g;
	char *text;
	int opt, ret;

	while ((opt = cli_getopt(argc, argv, "h", opts)) != -1)
		if (!cli_output_option(opt, &mode))
			return cli_option_usage(usage, opt);
	if (optind != argc - 1)
		return bad_usage("%s", "show needs exactly one grant file");
	path = argv[optind];
	ret = cli_need_files(path);
	if (ret)
		return ret;
	text = cli_read_arg(path, KT_JWS_MAX_LEN, &err);
	if (!text || kt_grant_parse(text, &g, &err)) {
		free(text);
		return cli_error(NULL, &err, KT_EXIT_FAILURE);
	}
	free(text);
	kt_print_start(mode);
	kt_print_open_object(NULL);
	print_grant(&g);
	kt_print_text("  (not verified: use 'kvmtrust grant verify')\n");
	kt_print_close_object();
	kt_grant_free(&g);
	return kt_print_end() ? KT_EXIT_FAILURE : KT_EXIT_OK;
}

/*
 * Signature, chain and window; then, from the ledger, revocation and the
 * VM's registered owner. Offline (on the owner's own machine) the ledger
 * is not read, and the output says so. Returns -1 for a refusal (err says
 * why), else an exit status: a ledger that cannot be read decides nothing.
 */
static int check_grant(const struct kt_grant *g, const struct kt_grant_trust *trust, time_t now,
		       const struct grant_cli_trust_opts *t, bool offline, struct kt_err *err)
{
	struct grant_cli_ledger ledger;
	struct kt_migrate_facts facts;
	struct kt_err lerr = { 0 };
	int ret;

	if (kt_grant_verify(g, trust, now, err) || kt_grant_check_window(g, now, err))
		return -1;
	if (offline)
		return KT_EXIT_OK;
	if (grant_cli_ledger_open(t->ledger, t->ledger_ca, t->owner_anchors, KT_LEDGER_READ,
				  &ledger, &lerr))
		return ledger_error(&lerr);
	ret = kt_migrate_facts_read(ledger.log, g->vm, &(struct kt_migrate_keys){ .grant_id = g->id },
				    now, &facts, &lerr);
	grant_cli_ledger_close(&ledger);
	if (ret)
		return ledger_error(&lerr);
	if (facts.grant_revoked)
		return kt_fail(err, "revoked", "grant %s is revoked (ledger entry %llu)", g->id,
			       (unsigned long long)facts.grant_revoked_at);
	return kt_grant_check_owner(g, g->vm, &facts, err);
}

static int do_verify(int argc, char *argv[])
{
	enum { O_AT = 256, O_OFFLINE };
	static const struct option opts[] = {
		GRANT_CLI_TRUST_OPTIONS,
		{ "at", required_argument, NULL, O_AT },
		{ "offline", no_argument, NULL, O_OFFLINE },
		CLI_OUTPUT_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct grant_cli_trust_opts t = { 0 };
	struct kt_pki_dir *oa = NULL, *oc = NULL, *ha = NULL;
	enum kt_print_mode mode = KT_PRINT_TEXT;
	bool offline = false;
	struct kt_grant g = { 0 };
	struct kt_err err = { 0 };
	time_t now = time(NULL);
	char *text = NULL;
	int opt, ret;

	while ((opt = cli_getopt(argc, argv, "h", opts)) != -1) {
		switch (opt) {
		case O_AT:
			if (cli_parse_time(optarg, &now))
				return bad_usage("bad time '%s'", optarg);
			break;
		case O_OFFLINE: offline = true; break;
		default:
			if (grant_cli_trust_option(opt, optarg, &t) || cli_output_option(opt, &mode))
				break;
			return cli_option_usage(usage, opt);
		}
	}
	if (optind != argc - 1)
		return bad_usage("%s", "verify needs exactly one grant file");
	if (offline && (t.ledger || t.ledger_ca))
		return bad_usage("%s", "--offline reads no ledger: drop --ledger and --ledger-ca");
	t.owner_anchors = grant_cli_path(t.owner_anchors, KT_OWNER_ANCHORS_ENV,
					 KT_OWNER_ANCHORS_DEFAULT);
	/* Optional here: only the "no host CA vouches for the signer" check needs them. */
	t.host_anchors = grant_cli_path(t.host_anchors, KT_HOST_ANCHORS_ENV, NULL);
	ret = cli_need_files(argv[optind], t.owner_anchors, t.owner_crls, t.host_anchors);
	if (ret)
		return ret;
	text = cli_read_arg(argv[optind], KT_JWS_MAX_LEN, &err);
	if (!text || kt_pki_dir_open(t.owner_anchors, &oa, &err) ||
	    (t.owner_crls && kt_pki_dir_open(t.owner_crls, &oc, &err)) ||
	    (t.host_anchors && kt_pki_dir_open(t.host_anchors, &ha, &err))) {
		ret = cli_error(NULL, &err, KT_EXIT_FAILURE);
		goto out;
	}
	kt_print_start(mode);
	kt_print_open_object(NULL);
	{
		const struct kt_grant_trust trust = { oa, oc, ha };

		ret = kt_grant_parse(text, &g, &err) ? -1 :
		      check_grant(&g, &trust, now, &t, offline, &err);
	}
	if (ret) {
		if (ret < 0)
			ret = cli_print_refused(&err);
		goto out;
	}
	print_grant(&g);
	kt_print_text("  %-15s", "verdict");
	cli_print_verdict(CLI_VERIFIED, "%s: ");
	kt_print_text(offline ? "signed under the owner anchors, valid now (offline: revocation "
				"and owner not checked)\n" :
				"signed by the VM's registered owner, valid now, not revoked\n");
	kt_print_bool("revocation_checked", NULL, !offline);
	kt_print_bool("owner_checked", NULL, !offline);
	kt_print_close_object();
	ret = kt_print_end() ? KT_EXIT_FAILURE : KT_EXIT_OK;
out:
	kt_grant_free(&g);
	free(text);
	kt_pki_dir_free(oa);
	kt_pki_dir_free(oc);
	kt_pki_dir_free(ha);
	return ret;
}

static int do_revoke(int argc, char *argv[])
{
	enum { O_ID = 256, O_KEY, O_CERT, O_LEDGER, O_LEDGER_CA, O_OWNERS };
	static const struct option opts[] = {
		{ "id", required_argument, NULL, O_ID },
		{ "key", required_argument, NULL, O_KEY },
		{ "cert", required_argument, NULL, O_CERT },
		{ "ledger", required_argument, NULL, O_LEDGER },
		{ "ledger-ca", required_argument, NULL, O_LEDGER_CA },
		{ "owner-anchors", required_argument, NULL, O_OWNERS },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *id = NULL, *key = NULL, *cert = NULL, *spec = NULL, *ca = NULL, *owners = NULL;
	struct kt_ledger_signer signer = { 0 };
	struct grant_cli_ledger ledger = { 0 };
	struct kt_err err = { 0 };
	struct kt_grant g = { 0 };
	char *text = NULL;
	uint64_t index;
	int opt, ret = KT_EXIT_FAILURE;

	while ((opt = cli_getopt(argc, argv, "h", opts)) != -1) {
		switch (opt) {
		case O_ID: id = optarg; break;
		case O_KEY: key = optarg; break;
		case O_CERT: cert = optarg; break;
		case O_LEDGER: spec = optarg; break;
		case O_LEDGER_CA: ca = optarg; break;
		case O_OWNERS: owners = optarg; break;
		default: return cli_option_usage(usage, opt);
		}
	}
	if ((!id) == (optind == argc) || argc - optind > 1)
		return bad_usage("%s", "revoke needs either a grant file or --id");
	if (!id) {
		ret = cli_need_files(argv[optind]);
		if (ret)
			return ret;
		/* Revoking needs no trust in the grant: whatever id it names may go. */
		text = cli_read_arg(argv[optind], KT_JWS_MAX_LEN, &err);
		if (!text || kt_grant_parse(text, &g, &err))
			goto fail;
		id = g.id;
	} else if (kt_uuid_canonical(id, g.id)) {
		return bad_usage("grant id '%s' is not a UUID", id);
	} else {
		id = g.id;
	}
	if (kt_ledger_signer_load(grant_cli_path(key, KT_LEDGER_KEY_ENV, NULL),
				  grant_cli_path(cert, KT_LEDGER_CERT_ENV, NULL), &signer, &err) ||
	    grant_cli_ledger_open(spec, ca, owners, KT_LEDGER_WRITE, &ledger, &err) ||
	    kt_grant_ledger_revoke(ledger.log, &signer, id, time(NULL), &index, &err))
		goto fail;
	printf("grant %s revoked (ledger entry %llu)\n", id, (unsigned long long)index);
	ret = KT_EXIT_OK;
	goto out;
fail:
	ret = ledger_error(&err);
out:
	grant_cli_ledger_close(&ledger);
	kt_ledger_signer_free(&signer);
	kt_grant_free(&g);
	free(text);
	return ret;
}

int grant_main(int argc, char *argv[])
{
	static const struct cli_command cmds[] = {
		{ "issue", do_issue }, { "show", do_show },
		{ "verify", do_verify }, { "revoke", do_revoke },
	};

	return cli_dispatch("grant", usage, cmds, sizeof(cmds) / sizeof(cmds[0]), argc, argv);
}
