// SPDX-License-Identifier: GPL-2.0
/*
 * kvmtrust evidence: export a VM's evidence bundle from the ledger and
 * verify one with trust anchors alone. See kvmtrust-evidence(8) and
 * Documentation/evidence.rst.
 */
#include <dirent.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cli_util.h"
#include "common/secfile.h"
#include "evidence/evidence.h"
#include "grant_common.h"
#include "ledger_cli.h"
#include "subcommands.h"

#define INPUTS_MAX 256
#define REPORT_MAX (64u << 20)
#define SMALL_MAX (1u << 20)

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s evidence export --vm UUID -o FILE [--report FILE]... [--reports DIR]\n"
		"              [--crl FILE]... [--grant FILE]... [--ledger SPEC] [--ledger-ca FILE|DIR]\n"
		"              [--owner-anchors DIR] [--json | --script]\n"
		"       %s evidence verify FILE --anchors FILE|DIR [--owner-anchors DIR]\n"
		"              [--json | --script]\n"
		"export writes one self-contained bundle of the VM's ledger entries with their proofs,\n"
		"the signers' chains, CRLs, grants and reports; verify checks it with no ledger and\n"
		"names the first failing check (exit 1).\n", prog, prog);
	cli_usage_exits(f, CLI_EXITS_BASE | CLI_EXIT(KT_EXIT_NOT_FOUND) | CLI_EXIT(KT_EXIT_PERM) |
			CLI_EXIT(KT_EXIT_UNAVAILABLE));
}

#define bad_usage(...) cli_bad_usage("evidence", usage, __VA_ARGS__)

enum { O_VM = 256, O_OUT, O_REPORT, O_REPORTS, O_CRL, O_GRANT, O_ANCHORS };

struct files {
	const char *path[INPUTS_MAX];
	size_t n;
};

static int add_file(struct files *f, const char *opt, const char *path)
{
	if (f->n == INPUTS_MAX)
		return bad_usage("more than %d %s files", INPUTS_MAX, opt);
	f->path[f->n++] = path;
	return 0;
}

static int read_file(const char *path, size_t max, uint8_t **buf, size_t *len)
{
	struct kt_err err = { 0 };

	if (kt_file_read(path, max, 0, buf, len, &err))
		return cli_error("evidence", &err, access(path, F_OK) ? KT_EXIT_NOT_FOUND :
				 KT_EXIT_FAILURE);
	return 0;
}

/* A CRL file in PEM or DER, as DER. */
static int crl_der(const char *path, struct kt_evidence_blob *out)
{
	uint8_t *buf, *der = NULL;
	const uint8_t *p;
	X509_CRL *crl;
	size_t len;
	BIO *bio;
	int n, ret;

	if ((ret = read_file(path, SMALL_MAX, &buf, &len)))
		return ret;
	bio = BIO_new_mem_buf(buf, (int)len);
	crl = bio ? PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL) : NULL;
	p = buf;
	if (!crl)
		crl = d2i_X509_CRL(NULL, &p, (long)len);
	n = crl ? i2d_X509_CRL(crl, &der) : -1;
	BIO_free(bio);
	X509_CRL_free(crl);
	free(buf);
	if (n <= 0)
		return cli_error("evidence", &(struct kt_err){ .check = "crl",
				 .msg = "not a CRL (PEM or DER)" }, KT_EXIT_FAILURE);
	out->data = der;
	out->len = (size_t)n;
	return 0;
}

struct export_args {
	char vm[KT_UUID_STR_LEN + 1];
	const char *out, *reports_dir;
	struct files reports, crls, grants;
};

/*
 * --reports DIR: kvmtrustd keeps each signed report as DIR/UUID-TIME-NONCE.jwt;
 * the VM's (names starting "UUID-") are read, export keeps those an entry names.
 */
static int load_found(const char *dir, const char *vm, struct kt_evidence_blob **found,
		      size_t *n)
{
	struct kt_evidence_blob *grown;
	struct dirent **names;
	char path[4096];
	struct stat st;
	int k, count = scandir(dir, &names, NULL, alphasort), ret = 0;

	if (count < 0)
		return cli_error("evidence", &(struct kt_err){ .check = "file",
				 .msg = "cannot read the --reports directory" },
				 access(dir, F_OK) ? KT_EXIT_NOT_FOUND : KT_EXIT_FAILURE);
	for (k = 0; k < count; k++) {
		const char *name = names[k]->d_name;

		if (ret || strncmp(name, vm, strlen(vm)) || name[strlen(vm)] != '-' ||
		    snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path) ||
		    lstat(path, &st) || !S_ISREG(st.st_mode))
			goto next;
		grown = realloc(*found, (*n + 1) * sizeof(*grown));
		if (!grown) {
			ret = cli_error("evidence", &(struct kt_err){ .msg = "out of memory" },
					KT_EXIT_FAILURE);
			goto next;
		}
		*found = grown;
		ret = read_file(path, REPORT_MAX, (uint8_t **)&grown[*n].data, &grown[*n].len);
		*n += !ret;
next:
		free(names[k]);
	}
	free(names);
	return ret;
}

static int load_inputs(const struct export_args *a, struct kt_evidence_blob *reports,
		       struct kt_evidence_blob *crls, char **grants)
{
	size_t i, len;
	int ret = 0;

	for (i = 0; i < a->reports.n && !ret; i++)
		ret = read_file(a->reports.path[i], REPORT_MAX, (uint8_t **)&reports[i].data,
				&reports[i].len);
	for (i = 0; i < a->crls.n && !ret; i++)
		ret = crl_der(a->crls.path[i], &crls[i]);
	for (i = 0; i < a->grants.n && !ret; i++) {
		ret = read_file(a->grants.path[i], SMALL_MAX, (uint8_t **)&grants[i], &len);
		while (!ret && len && strchr(" \t\r\n", grants[i][len - 1]))
			grants[i][--len] = '\0';
	}
	return ret;
}

static int cmd_export(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "vm", required_argument, NULL, O_VM },
		{ "output", required_argument, NULL, 'o' },
		{ "report", required_argument, NULL, O_REPORT },
		{ "reports", required_argument, NULL, O_REPORTS },
		{ "crl", required_argument, NULL, O_CRL },
		{ "grant", required_argument, NULL, O_GRANT },
		LEDGER_CLI_OPTIONS, { 0 },
	};
	static struct kt_evidence_blob reports[INPUTS_MAX], crls[INPUTS_MAX];
	static char *grants[INPUTS_MAX];
	struct kt_evidence_blob *found = NULL;
	struct kt_evidence_inputs in = { 0 };
	struct export_args a = { 0 };
	struct ledger_opts o = { 0 };
	struct kt_err err = { 0 };
	struct kt_history h;
	uint8_t *bundle = NULL;
	size_t len = 0, i, n_found = 0;
	int c, ret = 0;

	optind = 0;
	while (!ret && (c = cli_getopt(argc, argv, "ho:", opts)) != -1) {
		switch (c) {
		case O_VM: ret = ledger_parse_vm("evidence", optarg, a.vm); break;
		case 'o': a.out = optarg; break;
		case O_REPORT: ret = add_file(&a.reports, "--report", optarg); break;
		case O_REPORTS: a.reports_dir = optarg; break;
		case O_CRL: ret = add_file(&a.crls, "--crl", optarg); break;
		case O_GRANT: ret = add_file(&a.grants, "--grant", optarg); break;
		default:
			if (!ledger_opt(&o, c, optarg))
				return cli_option_usage(usage, c);
		}
	}
	if (ret)
		return ret;
	if (optind != argc)
		return bad_usage("unexpected argument '%s'", argv[optind]);
	if (!a.vm[0] || !a.out)
		return bad_usage("%s", "export needs --vm UUID and -o FILE");
	if (cli_output_check(a.out, false, &err))
		return cli_error("evidence", &err, KT_EXIT_FAILURE);
	if ((ret = load_inputs(&a, reports, crls, grants)) ||
	    (a.reports_dir && (ret = load_found(a.reports_dir, a.vm, &found, &n_found))) ||
	    (ret = ledger_opts_open(&o, KT_LEDGER_READ, true)))
		goto out;
	in = (struct kt_evidence_inputs){
		.ledger_ca = grant_cli_path(o.ca, KT_LEDGER_CA_ENV, NULL),
		.reports = reports, .n_reports = a.reports.n,
		.found = found, .n_found = n_found,
		.crls = crls, .n_crls = a.crls.n,
		.grants = (const char *const *)grants, .n_grants = a.grants.n,
	};
	if (kt_history_read(o.log, a.vm, KT_HISTORY_REVOCATIONS, &h, &err)) {
		ret = ledger_error(&err);
	} else {
		if (kt_evidence_export(o.log, &h, &in, &bundle, &len, &err) ||
		    cli_write_arg(a.out, bundle, len, 0644, &err))
			ret = ledger_error(&err);
		else if (strcmp(a.out, "-")) {	/* the bundle alone on standard output */
			kt_print_open_object(NULL);
			kt_print_string("vm", "evidence for VM %s", a.vm);
			kt_print_u64("size", " at a head of %s entries", h.size);
			kt_print_u64("bytes", ": %s bytes", len);
			kt_print_string("file", " in %s\n", a.out);
			kt_print_close_object();
		}
		kt_history_free(&h);
	}
	if (kt_print_end() && !ret)
		ret = KT_EXIT_FAILURE;
	ledger_opts_close(&o);
out:
	for (i = 0; i < INPUTS_MAX; i++) {
		free((void *)reports[i].data);
		OPENSSL_free((void *)crls[i].data);
		free(grants[i]);
	}
	for (i = 0; i < n_found; i++)
		free((void *)found[i].data);
	free(found);
	free(bundle);
	return ret;
}

static void print_summary(const struct kt_evidence_summary *s)
{
	size_t i;

	kt_print_open_object(NULL);
	kt_print_bool("verified", "evidence verified: %s\n", true);
	kt_print_string("vm", "vm: %s\n", s->vm);
	kt_print_u64("size", "signed head: %s entries", s->size);
	kt_print_time("head_time", " at %s", (int64_t)s->head_time);
	kt_print_hex("root", ", root %s\n", s->root, KT_HASH_LEN);
	kt_print_u64("entries", "entries: %s", s->entries);
	kt_print_u64("attests", " (%s attestations", s->attests);
	kt_print_u64("moves", ", %s moves", s->moves);
	kt_print_u64("revocations", ", %s revocations)", s->revocations);
	kt_print_u64("first_index", ", first at index %s\n", s->first_index);
	kt_print_u64("batched", "batched results: %s\n", s->batched);
	kt_print_bool("vm_revoked", "vm revoked: %s\n", s->vm_revoked);
	kt_print_text("hosts:\n");
	kt_print_open_array("hosts");
	for (i = 0; i < s->n_runs; i++)
		ledger_print_run(s->runs[i].host, s->runs[i].from, s->runs[i].to,
				 s->runs[i].first_index, s->runs[i].last_index);
	kt_print_close_array();
	kt_print_u64("chains", "certificate chains: %s", s->chains);
	kt_print_u64("crls", ", CRLs: %s", s->crls);
	kt_print_u64("grants", ", grants: %s", s->grants);
	kt_print_u64("moves_without_grant", " (moves naming none: %s)\n", s->moves_without_grant);
	kt_print_u64("reports", "reports: %s", s->reports);
	kt_print_u64("reports_missing", " (digests without their report: %s)\n",
		     s->reports_missing);
	kt_print_close_object();
}

static int cmd_verify(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "anchors", required_argument, NULL, O_ANCHORS },
		{ "owner-anchors", required_argument, NULL, LEDGER_O_OWNERS },
		CLI_OUTPUT_OPTIONS,
		{ "help", no_argument, NULL, 'h' }, { 0 },
	};
	const char *anchors = NULL, *owners = NULL;
	enum kt_print_mode mode = KT_PRINT_TEXT;
	struct kt_evidence_summary s;
	struct kt_err err = { 0 };
	uint8_t *buf;
	size_t len;
	int c, ret;

	optind = 0;
	while ((c = cli_getopt(argc, argv, "h", opts)) != -1) {
		if (c == O_ANCHORS)
			anchors = optarg;
		else if (c == LEDGER_O_OWNERS)
			owners = optarg;
		else if (!cli_output_option(c, &mode))
			return cli_option_usage(usage, c);
	}
	if (optind + 1 != argc)
		return bad_usage("%s", "verify takes one FILE");
	if (!anchors)
		return bad_usage("%s", "verify needs --anchors FILE|DIR");
	if ((ret = read_file(argv[optind], KT_EVIDENCE_MAX, &buf, &len)))
		return ret;
	if (kt_evidence_verify(buf, len, anchors, owners, &s, &err)) {
		free(buf);
		return cli_error(NULL, &err, KT_EXIT_FAILURE);
	}
	free(buf);
	kt_print_start(mode);
	print_summary(&s);
	kt_evidence_summary_free(&s);
	return kt_print_end() ? KT_EXIT_FAILURE : KT_EXIT_OK;
}

int evidence_main(int argc, char *argv[])
{
	static const struct cli_command cmds[] = {
		{ "export", cmd_export }, { "verify", cmd_verify },
	};

	return cli_dispatch("evidence", usage, cmds, sizeof(cmds) / sizeof(cmds[0]), argc, argv);
}
