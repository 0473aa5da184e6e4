// SPDX-License-Identifier: GPL-2.0
/*
 * kvmtrust token: guest identity tokens (token.h) and the guest keystore
 * (keystore.h). Issues, verifies, revokes and shows tokens; stores a token
 * and its guest key encrypted at rest.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "common/encoding.h"
#include "identity/keystore.h"
#include "identity/pki.h"
#include "identity/token.h"
#include "identity_cli.h"
#include "print.h"
#include "subcommands.h"
#include "grant_common.h"
#include "ledger/revocation.h"
#include "ledger_cli.h"
#include "vm_ref.h"

#define DEFAULT_LIFETIME 3600
#define DEFAULT_SKEW 60

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s token issue --key KEY --cert CERT " VM_REF_USAGE " --aud AUDIENCE\n"
		"              (--guest-key FILE | --guest-pubkey FILE | --new-guest-key FILE)\n"
		"              [--lifetime SECONDS] [--not-before TIME] [--jti ID] [-o FILE]\n"
		"              [--keystore FILE (--keyfile FILE | --passphrase-file FILE | --tpm TCTI)]\n"
		"       %s token verify --anchors DIR --crls DIR --aud AUDIENCE\n"
		"              [--skew SECONDS] [--at TIME] [--ledger SPEC [--ledger-ca FILE|DIR]]\n"
		"              [--json|--script] TOKEN|-\n"
		"       %s token revoke --key KEY --cert CERT (--trl FILE | --ledger SPEC\n"
		"              [--ledger-ca FILE|DIR]) (TOKEN | --jti ID --not-after TIME)\n"
		"       %s token show [--json|--script] (TOKEN|- | --keystore FILE (--keyfile F | --passphrase-file F | --tpm TCTI))\n"
		"       %s token store --keystore FILE (--keyfile F | --passphrase-file F | --tpm TCTI)\n"
		"              --token TOKEN --guest-key FILE\n"
		"       %s token keyfile -o FILE\n"
		CLI_TIME_USAGE "See kvmtrust-token(8).\n", prog, prog, prog, prog, prog, prog);
	cli_usage_exits(f, CLI_EXITS_BASE | CLI_EXIT(KT_EXIT_NOT_FOUND) | CLI_EXIT(KT_EXIT_PERM) |
			CLI_EXIT(KT_EXIT_REFUSED));
}

struct token_args {
	struct vm_ref guest;	/* the guest VM the token names */
	const char *key, *cert, *aud, *guest_key, *guest_pub, *new_guest_key, *not_before, *jti;
	const char *out, *keystore, *keyfile, *passfile, *anchors, *crls, *at, *trl;
	const char *not_after, *token, *tpm, *ledger, *ledger_ca;
	uint64_t lifetime, skew;
	enum kt_print_mode mode;
	char *passphrase;
};

enum { O_KEY = 256, O_CERT, O_AUD, O_GKEY, O_GPUB, O_NEWKEY, O_LIFE, O_NBF, O_JTI,
       O_KS, O_KF, O_PF, O_ANCH, O_CRLS, O_SKEW, O_AT, O_TRL, O_NAF, O_TOKEN,
       O_TPM, O_LEDGER, O_LEDGER_CA };

static const struct option options[] = {
	{ "key", required_argument, NULL, O_KEY }, { "cert", required_argument, NULL, O_CERT },
	VM_REF_OPTIONS,
	{ "aud", required_argument, NULL, O_AUD }, { "guest-key", required_argument, NULL, O_GKEY },
	{ "guest-pubkey", required_argument, NULL, O_GPUB },
	{ "new-guest-key", required_argument, NULL, O_NEWKEY },
	{ "lifetime", required_argument, NULL, O_LIFE },
	{ "not-before", required_argument, NULL, O_NBF },
	{ "jti", required_argument, NULL, O_JTI }, { "output", required_argument, NULL, 'o' },
	{ "keystore", required_argument, NULL, O_KS }, { "keyfile", required_argument, NULL, O_KF },
	{ "passphrase-file", required_argument, NULL, O_PF },
	{ "tpm", required_argument, NULL, O_TPM },
	{ "anchors", required_argument, NULL, O_ANCH },
	{ "crls", required_argument, NULL, O_CRLS },
	{ "skew", required_argument, NULL, O_SKEW }, { "at", required_argument, NULL, O_AT },
	CLI_OUTPUT_OPTIONS, { "trl", required_argument, NULL, O_TRL },
	{ "not-after", required_argument, NULL, O_NAF },
	{ "token", required_argument, NULL, O_TOKEN },
	{ "ledger", required_argument, NULL, O_LEDGER },
	{ "ledger-ca", required_argument, NULL, O_LEDGER_CA },
	{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
};

static int parse(int argc, char *argv[], struct token_args *a)
{
	int c, bad = 0;

	memset(a, 0, sizeof(*a));
	a->lifetime = DEFAULT_LIFETIME;
	a->skew = DEFAULT_SKEW;
	optind = 1;
	while (!bad && (c = cli_getopt(argc, argv, "ho:", options)) != -1) {
		if (vm_ref_option(&a->guest, c, optarg))
			continue;
		switch (c) {
		case O_KEY: a->key = optarg; break;
		case O_CERT: a->cert = optarg; break;
		case O_AUD: a->aud = optarg; break;
		case O_GKEY: a->guest_key = optarg; break;
		case O_GPUB: a->guest_pub = optarg; break;
		case O_NEWKEY: a->new_guest_key = optarg; break;
		case O_NBF: a->not_before = optarg; break;
		case O_JTI: a->jti = optarg; break;
		case 'o': a->out = optarg; break;
		case O_KS: a->keystore = optarg; break;
		case O_KF: a->keyfile = optarg; break;
		case O_PF: a->passfile = optarg; break;
		case O_ANCH: a->anchors = optarg; break;
		case O_CRLS: a->crls = optarg; break;
		case O_AT: a->at = optarg; break;
		case O_TRL: a->trl = optarg; break;
		case O_NAF: a->not_after = optarg; break;
		case O_TOKEN: a->token = optarg; break;
		case O_TPM: a->tpm = optarg; break;
		case O_LEDGER: a->ledger = optarg; break;
		case O_LEDGER_CA: a->ledger_ca = optarg; break;
		case O_LIFE: bad = cli_parse_uint(optarg, KT_TOKEN_MAX_LIFETIME, &a->lifetime) ||
				   !a->lifetime; break;
		case O_SKEW: bad = cli_parse_uint(optarg, KT_TOKEN_MAX_SKEW, &a->skew); break;
		case 'h': usage(stdout); return 1;
		default: bad = !cli_output_option(c, &a->mode);
		}
	}
	if (cli_parse_done("token", usage, bad, c))
		return -1;
	return vm_ref_given(&a->guest) && vm_ref_check(&a->guest) ? -1 : 0;
}

#define need(value, option) cli_need("token", usage, value, option)

/* The files every command reads must be there: KT_EXIT_NOT_FOUND names the first that is not. */
static int need_inputs(const struct token_args *a, const char *file)
{
	return cli_need_files(a->key, a->cert, a->guest_key, a->guest_pub, a->anchors, a->crls,
			      a->keyfile, a->passfile, a->token, file);
}

static int unlock_of(struct token_args *a, struct kt_keystore_unlock *u, struct kt_err *err)
{
	return kt_cli_unlock(a->keyfile, a->passfile, a->tpm, u, &a->passphrase, err);
}

static void drop_passphrase(struct token_args *a)
{
	kt_cli_drop_secret(&a->passphrase);
}

/* The guest key for a new token: given, or generated (and saved 0600). */
static EVP_PKEY *guest_key_of(struct token_args *a, bool *private, struct kt_err *err)
{
	EVP_PKEY *key;

	*private = !a->guest_pub;
	if ((a->guest_key != NULL) + (a->guest_pub != NULL) + (a->new_guest_key != NULL) != 1) {
		kt_fail(err, "request", "give one of --guest-key, --guest-pubkey, --new-guest-key");
		return NULL;
	}
	if (a->guest_key)
		return kt_pki_load_key(a->guest_key, err);
	if (a->guest_pub)
		return kt_pki_load_pubkey(a->guest_pub, err);
	key = kt_pki_new_key(err);
	if (key && kt_pki_save_key(a->new_guest_key, key, err)) {
		EVP_PKEY_free(key);
		key = NULL;
	}
	return key;
}

static int cmd_issue(struct token_args *a, const char *file)
{
	struct kt_token_claims c = { 0 };
	struct kt_keystore_unlock unlock;
	struct kt_err err = { 0 };
	struct kt_cred cred = { 0 };
	struct vm_name guest;
	char *token = NULL, until[KT_TIME_ISO_LEN];
	time_t nbf = 0, now = time(NULL);
	bool private;
	int ret = KT_EXIT_FAILURE;

	(void)file;	/* takes none: token_main() refused one */
	if (need(a->key, "--key") || need(a->cert, "--cert") || need(a->aud, "--aud"))
		return KT_EXIT_USAGE;
	if (!vm_ref_given(&a->guest))
		return cli_bad_usage("token issue", usage, "name the guest with --pid, --uuid or --domain");
	if (a->not_before && cli_parse_time(a->not_before, &nbf))
		return cli_bad_usage("token issue", NULL, "bad --not-before time '%s'", a->not_before);
	if (strlen(a->aud) >= sizeof(c.aud) || (a->jti && strlen(a->jti) > KT_TOKEN_JTI_MAX))
		return cli_bad_usage("token issue", NULL, "--aud or --jti too long");
	ret = vm_ref_resolve(&a->guest, VM_REF_UUID, &guest);
	if (ret)
		return ret;
	ret = KT_EXIT_FAILURE;
	strcpy(c.sub, guest.uuid);
	strcpy(c.aud, a->aud);
	if (a->jti)
		strcpy(c.jti, a->jti);
	c.iat = (int64_t)now;
	c.nbf = nbf ? (int64_t)nbf : c.iat;
	c.exp = c.nbf + (int64_t)a->lifetime;
	/* Every file this writes is checked before the first one is. */
	if ((a->out && cli_output_check(a->out, false, &err)) ||
	    (a->new_guest_key && cli_output_check(a->new_guest_key, true, &err)) ||
	    (a->keystore && cli_output_check(a->keystore, true, &err)))
		return kt_cli_error("cannot write the token", &err);
	if (kt_cred_load_files(a->key, a->cert, &cred, &err))
		return kt_cli_error("cannot load the host credential", &err);
	c.cnf = guest_key_of(a, &private, &err);
	if (!c.cnf || kt_token_issue(&cred, &c, &token, &err)) {
		ret = kt_cli_error("cannot issue the token", &err);
		goto out;
	}
	if (a->keystore) {
		if (!private) {
			fprintf(stderr, "%s token issue: --keystore needs the guest's private key\n", prog);
			ret = KT_EXIT_USAGE;
			goto out;
		}
		if (unlock_of(a, &unlock, &err) ||
		    kt_keystore_save(a->keystore, &unlock, token, c.cnf, &err)) {
			ret = kt_cli_error("cannot write the keystore", &err);
			goto out;
		}
	}
	if (a->out) {
		if (cli_write_line(a->out, token, &err)) {
			ret = kt_cli_error("cannot write the token", &err);
			goto out;
		}
	} else if (!a->keystore) {
		printf("%s\n", token);
	}
	fprintf(stderr, "token %s for guest %s, audience \"%s\", valid until %s\n",
		c.jti, c.sub, c.aud, kt_time_iso(c.exp, until));
	ret = KT_EXIT_OK;
out:
	drop_passphrase(a);
	free(token);
	EVP_PKEY_free(c.cnf);
	kt_cred_free(&cred);
	return ret;
}

static void print_token(const struct kt_token *tok)
{
	kt_print_string("sub", "guest:       %s\n", tok->claims.sub);
	kt_print_string("host", "host:        %s\n", tok->claims.host);
	kt_print_string("iss", "issuer:      %s\n", tok->claims.iss);
	kt_print_string("aud", "audience:    %s\n", tok->claims.aud);
	kt_print_string("jti", "jti:         %s\n", tok->claims.jti);
	kt_print_time("iat", "issued:      %s\n", tok->claims.iat);
	kt_print_time("nbf", "not before:  %s\n", tok->claims.nbf);
	kt_print_time("exp", "expires:     %s\n", tok->claims.exp);
	kt_print_string("region", "region:      %s\n", tok->signer.region[0] ? tok->signer.region : NULL);
	kt_print_string("site", "site:        %s\n", tok->signer.site[0] ? tok->signer.site : NULL);
	kt_print_string("signer", "signed by:   %s\n", tok->signer.subject);
	kt_print_string("signer_ski", "signer key:  %s\n", tok->signer.ski);
}

static int cmd_verify(struct token_args *a, const char *file)
{
	struct kt_token_verify_opts opts = { .skew = (unsigned int)a->skew };
	struct ledger_revocations rev = { 0 };
	struct kt_err err = { 0 };
	struct kt_token tok;
	char *token = NULL;
	int ret = KT_EXIT_FAILURE;

	if (need(a->anchors, "--anchors") || need(a->crls, "--crls") ||
	    need(a->aud, "--aud") || need(file, "TOKEN"))
		return KT_EXIT_USAGE;
	if (a->at && cli_parse_time(a->at, &opts.now))
		return cli_bad_usage("token verify", NULL, "bad --at time '%s'", a->at);
	opts.audience = a->aud;
	opts.trl_dir = a->crls;
	if (a->ledger) {
		opts.revoked = ledger_token_revoked;
		opts.revoked_arg = &rev;
	}
	if (a->ledger && ledger_revocations_open(a->ledger, a->ledger_ca, &rev, &err)) {
		/* Named and unreadable: the token cannot be cleared, so it is refused. */
		kt_print_start(a->mode);
		kt_print_open_object(NULL);
		ret = cli_print_refused(&err);
		goto out;
	}
	token = cli_read_arg(file, KT_CLI_TOKEN_MAX, &err);
	if (!token || kt_pki_dir_open(a->anchors, &opts.anchors, &err) ||
	    kt_pki_dir_open(a->crls, &opts.crls, &err)) {
		ret = kt_cli_error("cannot load", &err);
		goto out;
	}
	kt_print_start(a->mode);
	kt_print_open_object(NULL);
	if (kt_token_verify(token, &opts, &tok, &err)) {
		ret = cli_print_refused(&err);
		goto out;
	}
	cli_print_verdict(CLI_VERIFIED, "verdict:     %s\n");
	print_token(&tok);
	kt_print_close_object();
	kt_print_end();
	kt_token_free(&tok);
	ret = KT_EXIT_OK;
out:
	free(token);
	kt_pki_dir_free(opts.anchors);
	kt_pki_dir_free(opts.crls);
	ledger_revocations_close(&rev);
	return ret;
}

/* Publishes the revocation as a ledger entry signed by the issuing host. */
static int revoke_in_ledger(struct token_args *a, const char *jti, struct kt_err *err)
{
	uint64_t index;

	if (ledger_revoke_token(a->ledger, a->ledger_ca, a->key, a->cert, jti, NULL, NULL, &index,
				err))
		return -1;
	printf("token %s revoked in ledger entry %llu: every verifier naming the ledger "
	       "refuses it\n", jti, (unsigned long long)index);
	return 0;
}

static int cmd_revoke(struct token_args *a, const char *file)
{
	struct kt_err err = { 0 };
	struct kt_cred cred;
	struct kt_token tok = { 0 };
	const char *jti = a->jti;
	char *token = NULL;
	time_t exp = 0;
	int ret = KT_EXIT_FAILURE;

	if (need(a->key, "--key") || need(a->cert, "--cert"))
		return KT_EXIT_USAGE;
	if (!a->trl == !a->ledger)
		return cli_bad_usage("token revoke", NULL, "give --trl FILE or --ledger SPEC");
	if (!file == !a->jti || (a->jti && (!a->not_after || cli_parse_time(a->not_after, &exp))))
		return cli_bad_usage("token revoke", NULL, "give a TOKEN, or --jti and --not-after");
	if (file) {
		token = cli_read_arg(file, KT_CLI_TOKEN_MAX, &err);
		if (!token || kt_token_decode(token, &tok, &err)) {
			ret = kt_cli_error("cannot read the token", &err);
			goto out;
		}
		jti = tok.claims.jti;
		exp = (time_t)tok.claims.exp;
	}
	if (a->ledger) {
		ret = revoke_in_ledger(a, jti, &err) ? ledger_error(&err) : KT_EXIT_OK;
		goto out;
	}
	if (kt_cred_load_files(a->key, a->cert, &cred, &err)) {
		ret = kt_cli_error("cannot load the signing credential", &err);
		goto out;
	}
	if (kt_trl_revoke(a->trl, &cred, jti, exp, &err))
		ret = kt_cli_error("cannot revoke", &err);
	else
		ret = KT_EXIT_OK;
	if (!ret)
		printf("token %s revoked in %s: copy it into every verifier's revocation directory\n",
		       jti, a->trl);
	kt_cred_free(&cred);
out:
	kt_token_free(&tok);
	free(token);
	return ret;
}

static int cmd_show(struct token_args *a, const char *file)
{
	struct kt_keystore_unlock unlock;
	struct kt_err err = { 0 };
	struct kt_token tok;
	EVP_PKEY *key = NULL;
	char *token = NULL;
	int ret = KT_EXIT_FAILURE;

	if (!file == !a->keystore)
		return cli_bad_usage("token show", NULL, "give a TOKEN or --keystore");
	if (a->keystore && (unlock_of(a, &unlock, &err) ||
			    kt_keystore_load(a->keystore, &unlock, &token, &key, &err))) {
		ret = kt_cli_error("cannot open the keystore", &err);
		goto out;
	}
	if (file && !(token = cli_read_arg(file, KT_CLI_TOKEN_MAX, &err))) {
		ret = kt_cli_error("cannot read the token", &err);
		goto out;
	}
	if (kt_token_decode(token, &tok, &err)) {
		ret = kt_cli_error("not a token", &err);
		goto out;
	}
	kt_print_start(a->mode);
	kt_print_open_object(NULL);
	kt_print_text("(not verified: use 'kvmtrust token verify')\n");
	print_token(&tok);
	if (key)
		kt_print_string("guest_key", "guest key:   %s\n", "(hidden)");
	kt_print_close_object();
	kt_print_end();
	kt_token_free(&tok);
	ret = KT_EXIT_OK;
out:
	drop_passphrase(a);
	EVP_PKEY_free(key);
	free(token);
	return ret;
}

static int cmd_store(struct token_args *a, const char *file)
{
	struct kt_keystore_unlock unlock;
	struct kt_err err = { 0 };
	struct kt_token tok;
	EVP_PKEY *key = NULL;
	char *token = NULL;
	int ret = KT_EXIT_FAILURE;

	(void)file;	/* takes none: token_main() refused one */
	if (need(a->keystore, "--keystore") || need(a->token, "--token") ||
	    need(a->guest_key, "--guest-key"))
		return KT_EXIT_USAGE;
	token = cli_read_arg(a->token, KT_CLI_TOKEN_MAX, &err);
	key = token ? kt_pki_load_key(a->guest_key, &err) : NULL;
	if (!key || kt_token_decode(token, &tok, &err)) {
		ret = kt_cli_error("cannot read the token and key", &err);
		goto out;
	}
	if (EVP_PKEY_eq(key, tok.claims.cnf) != 1) {
		fprintf(stderr, "Error: the guest key is not the key in the token's cnf claim\n");
		kt_token_free(&tok);
		goto out;
	}
	kt_token_free(&tok);
	if (unlock_of(a, &unlock, &err) || kt_keystore_save(a->keystore, &unlock, token, key, &err)) {
		ret = kt_cli_error("cannot write the keystore", &err);
		goto out;
	}
	ret = KT_EXIT_OK;
out:
	drop_passphrase(a);
	EVP_PKEY_free(key);
	free(token);
	return ret;
}

static int cmd_keyfile(struct token_args *a, const char *file)
{
	struct kt_err err = { 0 };

	(void)file;	/* takes none: token_main() refused one */
	if (need(a->out, "-o"))
		return KT_EXIT_USAGE;
	if (cli_output_check(a->out, true, &err) || kt_keyfile_create(a->out, &err))
		return kt_cli_error("cannot create the keyfile", &err);
	return KT_EXIT_OK;
}

int token_main(int argc, char *argv[])
{
	static const struct {
		const char *name;
		int (*fn)(struct token_args *a, const char *file);
		bool takes_file;
	} cmds[] = {
		{ "issue", cmd_issue, false }, { "verify", cmd_verify, true },
		{ "revoke", cmd_revoke, true }, { "show", cmd_show, true },
		{ "store", cmd_store, false }, { "keyfile", cmd_keyfile, false },
	};
	struct token_args a;
	const char *arg;
	size_t i;
	int rc;

	if (cli_group_usage(argc, argv, usage, &rc))
		return rc;
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			break;
	if (i == sizeof(cmds) / sizeof(cmds[0]))
		return cli_bad_usage("token", usage, "unknown command '%s'", argv[1]);
	rc = parse(argc - 1, argv + 1, &a);
	if (rc)
		return rc > 0 ? KT_EXIT_OK : KT_EXIT_USAGE;
	if (argc - 1 - optind > cmds[i].takes_file)
		return cli_bad_usage("token", NULL, "unexpected argument '%s'",
				     argv[1 + optind + cmds[i].takes_file]);
	arg = optind < argc - 1 ? argv[1 + optind] : NULL;
	rc = need_inputs(&a, arg);
	if (rc)
		return rc;
	return cmds[i].fn(&a, arg);
}
