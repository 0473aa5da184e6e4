// SPDX-License-Identifier: GPL-2.0
/* Options and errors shared by 'kvmtrust ledger' and 'kvmtrust score'. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_util.h"
#include "common/encoding.h"
#include "common/outfile.h"
#include "grant_common.h"
#include "identity/token.h"
#include "ledger/revocation.h"
#include "ledger_cli.h"
#include "subcommands.h"

bool ledger_opt(struct ledger_opts *o, int opt, const char *arg)
{
	switch (opt) {
	case LEDGER_O_LEDGER: o->spec = arg; return true;
	case LEDGER_O_CA: o->ca = arg; return true;
	case LEDGER_O_OWNERS: o->owners = arg; return true;
	case LEDGER_O_KEY: o->key = arg; return true;
	case LEDGER_O_CERT: o->cert = arg; return true;
	default: return cli_output_option(opt, &o->mode);
	}
}

int ledger_opts_open(struct ledger_opts *o, enum kt_ledger_mode mode, bool need_ca)
{
	const char *ca = grant_cli_path(o->ca, KT_LEDGER_CA_ENV, NULL);
	struct kt_err err = { 0 };

	if ((need_ca || o->ca) &&
	    kt_ledger_auth_load(ca, grant_cli_path(o->owners, KT_OWNER_ANCHORS_ENV,
						   KT_OWNER_ANCHORS_DEFAULT), &o->auth, &err))
		return ledger_error(&err);
	if (kt_ledger_open(o->spec, o->auth, mode, &o->log, &err)) {
		kt_ledger_auth_free(o->auth);
		o->auth = NULL;
		return ledger_error(&err);
	}
	kt_print_start(o->mode);
	return 0;
}

void ledger_opts_close(struct ledger_opts *o)
{
	kt_ledger_close(o->log);
	kt_ledger_auth_free(o->auth);
	o->log = NULL;
	o->auth = NULL;
}

void ledger_print_run(const uint8_t host[KT_UUID_LEN], uint64_t from, uint64_t to,
		      uint64_t first_index, uint64_t last_index)
{
	char text[KT_UUID_STR_LEN + 1];

	kt_uuid_format(host, text);
	kt_print_open_object(NULL);
	kt_print_string("host", "  %s", text);
	kt_print_time("from", " from %s", (int64_t)from);
	kt_print_time("to", " to %s", (int64_t)to);
	kt_print_u64("first_index", " (entries %s", first_index);
	kt_print_u64("last_index", "..%s)\n", last_index);
	kt_print_close_object();
}

int ledger_error(const struct kt_err *err)
{
	const char *check = err->check ? err->check : "";
	int status = KT_EXIT_FAILURE;

	if (!strcmp(check, "missing") || !strcmp(check, "vm") || !strcmp(check, "no-ledger"))
		status = KT_EXIT_NOT_FOUND;
	else if (!strcmp(check, "unavailable"))
		status = KT_EXIT_UNAVAILABLE;
	else if (!strcmp(check, "authorization") || !strcmp(check, "key"))
		status = KT_EXIT_PERM;
	else if (!strcmp(check, "spec"))
		status = KT_EXIT_USAGE;
	else if (!strcmp(check, "owner") || !strcmp(check, "registered") ||
		 !strcmp(check, "placement") || !strcmp(check, "replay") ||
		 !strcmp(check, "revocation"))
		status = KT_EXIT_REFUSED;
	return cli_error(NULL, err, status);
}

int ledger_parse_vm(const char *group, const char *arg, char out[KT_UUID_STR_LEN + 1])
{
	if (kt_uuid_canonical(arg, out))
		return cli_bad_usage(group, NULL, "VM '%s' is not a UUID", arg);
	return 0;
}

int ledger_parse_time(const char *group, const char *option, const char *arg, uint64_t *out)
{
	time_t t;

	if (cli_parse_time(arg, &t) || t <= 0)
		return cli_bad_usage(group, NULL, "%s '%s' is not a time: use "
				     "2026-11-23T04:00:00Z, @SECONDS, now or now-1h", option, arg);
	*out = (uint64_t)t;
	return 0;
}

int ledger_state_read(const char *path, struct kt_ledger *log)
{
	char hex[2 * KT_HASH_LEN + 2];
	unsigned long long size;
	kt_hash root;
	FILE *f = fopen(path, "r");
	int ok;

	if (!f)
		return 0;	/* first run: nothing recorded yet */
	ok = fscanf(f, "%llu %65s", &size, hex) == 2 && strlen(hex) == 2 * KT_HASH_LEN &&
	     !kt_hex_decode(hex, root, KT_HASH_LEN);
	fclose(f);
	if (!ok) {
		fprintf(stderr, "Error: state file '%s' is not \"SIZE ROOT\"\n", path);
		return -1;
	}
	kt_ledger_pin(log, size, root);
	return 0;
}

int ledger_state_write(const char *path, uint64_t size, const kt_hash root)
{
	char hex[2 * KT_HASH_LEN + 1], line[32 + sizeof(hex)];
	struct kt_err err = { 0 };

	kt_hex_encode(root, KT_HASH_LEN, hex);
	snprintf(line, sizeof(line), "%llu %s\n", (unsigned long long)size, hex);
	if (kt_file_write(path, line, strlen(line), 0644, &err)) {
		fprintf(stderr, "Error: cannot write state file: %s\n", err.msg);
		return -1;
	}
	return 0;
}

bool ledger_checkpoint_option(struct ledger_checkpoint_opts *c, int opt, const char *arg)
{
	if (opt == LEDGER_O_CHECKPOINT)
		c->path = arg;
	else if (opt == LEDGER_O_FULL)
		c->full = true;
	else
		return false;
	return true;
}

int ledger_checkpoint_use(struct kt_ledger *log, const struct ledger_checkpoint_opts *c,
			  struct kt_err *err)
{
	return kt_ledger_checkpoint_use(log, c->path, c->full, err);
}

void ledger_checkpoint_save(struct kt_ledger *log)
{
	struct kt_err err = { 0 };

	if (kt_ledger_checkpoint_save(log, &err))
		fprintf(stderr, "Warning: checkpoint '%s' not written: %s\n",
			kt_ledger_checkpoint_path(log), err.msg);
}

int ledger_revocations_open(const char *spec, const char *ca, struct ledger_revocations *r,
			    struct kt_err *err)
{
	/* Owners' register entries verify too: their anchors are read when the first is met. */
	memset(r, 0, sizeof(*r));
	if (kt_ledger_auth_load(grant_cli_path(ca, KT_LEDGER_CA_ENV, NULL),
				grant_cli_path(NULL, KT_OWNER_ANCHORS_ENV, KT_OWNER_ANCHORS_DEFAULT),
				&r->auth, err) ||
	    kt_ledger_open(spec, r->auth, KT_LEDGER_READ, &r->log, err)) {
		char msg[sizeof(err->msg)];

		memcpy(msg, err->msg, sizeof(msg));
		kt_ledger_auth_free(r->auth);
		r->auth = NULL;
		return kt_fail(err, "revocation", "the revocation ledger cannot be read: %s", msg);
	}
	return 0;
}

/* check "revocation" for the certificate at which in chain, revoked in entry index. */
static int cert_refused(STACK_OF(X509) *chain, int which, uint64_t index, const char *what,
			struct kt_err *err)
{
	struct kt_cert_info info;

	memset(&info, 0, sizeof(info));
	kt_pki_cert_info(sk_X509_value(chain, which), &info, NULL);
	return kt_fail(err, "revocation", "%s certificate \"%s\" (serial %s) was revoked by its "
		       "CA in ledger entry %llu", what, info.subject, info.serial,
		       (unsigned long long)index);
}

static int lookup_failed(struct kt_err *err)
{
	char msg[sizeof(err->msg)];

	memcpy(msg, err->msg, sizeof(msg));
	return kt_fail(err, "revocation", "cannot check the ledger for revocations: %s", msg);
}

/*
 * The token by its issuing host, and the issuing host's certificate and
 * its CAs (the path token verification placed them on) by their CAs: one
 * walk of the ledger.
 */
int ledger_token_revoked(void *arg, const struct kt_token *tok, struct kt_err *err)
{
	struct ledger_revocations *r = arg;
	struct kt_ledger_token_key key, *k = &key;
	struct kt_ledger_entry e;
	uint64_t index;
	int which, ret;

	/* A jti no entry can name was not revoked here: its certificates still may be. */
	if (kt_ledger_token_revoke_entry(tok->claims.jti, &e, NULL))
		k = NULL;
	else if (kt_ledger_token_key(tok->claims.jti, tok->claims.host, &key))
		return kt_fail(err, "revocation", "the token names no issuing host");
	ret = kt_ledger_revoked(r->log, k, tok->path, &which, &index, err);
	if (ret < 0)
		return lookup_failed(err);
	if (ret && which < 0)
		return kt_fail(err, "revocation", "token %s was revoked by its issuer in ledger "
			       "entry %llu", tok->claims.jti, (unsigned long long)index);
	if (ret)
		return cert_refused(tok->path, which, index, "the token's issuing host or CA", err);
	return 0;
}

int ledger_publish(const char *spec, const char *ca, const char *key, const char *cert,
		   struct kt_ledger_entry *e, struct kt_err *err)
{
	struct ledger_revocations w = { 0 };
	struct kt_ledger_signer signer = { 0 };
	kt_hash leaf;
	int ret = -1;

	if (kt_ledger_signer_load(key, cert, &signer, err) ||
	    kt_ledger_auth_load(grant_cli_path(ca, KT_LEDGER_CA_ENV, NULL), NULL, &w.auth, err) ||
	    kt_ledger_open(spec, w.auth, KT_LEDGER_WRITE, &w.log, err))
		goto out;
	ret = kt_ledger_append(w.log, &signer, e, leaf, err);
out:
	kt_ledger_signer_free(&signer);
	ledger_revocations_close(&w);
	return ret;
}

int ledger_revoke_token(const char *spec, const char *ca, const char *key, const char *cert,
			const char *jti, const char *reason, const kt_hash report, uint64_t *index,
			struct kt_err *err)
{
	struct kt_ledger_entry e;

	if (kt_ledger_token_revoke_entry(jti, &e, err))
		return -1;
	if (reason && strlen(reason) > KT_LEDGER_DETAIL_MAX)
		return kt_fail(err, "request", "reason longer than %d bytes", KT_LEDGER_DETAIL_MAX);
	if (reason)
		snprintf(e.detail, sizeof(e.detail), "%s", reason);
	if (report)
		memcpy(e.report, report, KT_HASH_LEN);
	if (ledger_publish(spec, ca, key, cert, &e, err))
		return -1;
	if (index)
		*index = e.index;
	return 0;
}

int ledger_cert_revoked(void *arg, STACK_OF(X509) *chain, const char *what, struct kt_err *err)
{
	struct ledger_revocations *r = arg;
	uint64_t index;
	int which, ret;

	ret = kt_ledger_certs_revoked(r->log, chain, &which, &index, err);
	if (ret < 0)
		return lookup_failed(err);
	return ret ? cert_refused(chain, which, index, what, err) : 0;
}

void ledger_revocations_close(struct ledger_revocations *r)
{
	kt_ledger_close(r->log);
	kt_ledger_auth_free(r->auth);
	memset(r, 0, sizeof(*r));
}
