// SPDX-License-Identifier: GPL-2.0
/*
 * kvmtrust ledger: create, append to, read, prove and verify the trust
 * ledger, and register a VM's owner. See kvmtrust-ledger(8) and
 * Documentation/ledger.rst.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attest/hostkey.h"
#include "common/encoding.h"
#include "ledger/batch.h"
#include "ledger/history.h"
#include "common/merkle.h"
#include "common/secfile.h"
#include "grant_common.h"
#include "identity/pki.h"
#include "ledger_cli.h"
#include "subcommands.h"

#define BATCH_WORDS 16
#define KT_UUID_NIL "00000000-0000-0000-0000-000000000000"

static const char *const synopsis[] = {
	"init [--ledger SPEC]",
	"append attest --vm UUID --result pass|fail [--measurement HEX] [--host UUID]",
	"              [--time TIME] WRITER",
	"append move --vm UUID --host UUID [--time TIME] WRITER",
	"append compromise --host UUID [--time TIME] WRITER",
	"append revoke (--vm UUID | --host UUID) [--time TIME] WRITER",
	"append rollback --vm UUID --measurement HEX --detail SNAPSHOT --report FILE",
	"              [--host UUID] [--time TIME] WRITER",
	"append KIND ... [--report FILE] [--detail TEXT]   evidence digest and note (format 3)",
	"append - WRITER      one entry a line from stdin: KIND OPTIONS, as above",
	"register --vm UUID --key KEY --cert CERT [--time TIME] READER",
	"get --index N [--raw] READER",
	"head READER",
	"prove inclusion --index N [--size N] READER",
	"prove consistency --from M [--size N] READER",
	"verify [--pin FILE] [--require-tpm] READER",
	"batch [--file FILE] [--time TIME] [--queue] [--key-dir DIR [--tcti TCTI]] WRITER",
	"              a host batch: lines VM pass|fail [report=HEX] [memory=HEX] [vcpu=HEX];",
	"              --key-dir: signed by the host key there (a TPM key quotes the batch)",
	"integrate [--max N] [--ticks N] [--interval SECONDS] WRITER",
	"provenance --vm UUID [--from SIZE] READER",
};

static void usage(FILE *f)
{
	size_t i;

	/* A line starting with a space continues the one before it. */
	for (i = 0; i < sizeof(synopsis) / sizeof(synopsis[0]); i++) {
		if (synopsis[i][0] == ' ')
			fprintf(f, "%*s%s\n", (int)strlen(prog) + 15, "", synopsis[i]);
		else
			fprintf(f, "%s %s ledger %s\n", i ? "      " : "Usage:", prog, synopsis[i]);
	}
	fprintf(f,
		"READER: [--ledger SPEC] [--ledger-ca FILE|DIR] [--owner-anchors DIR] [--json | --script]\n"
		"WRITER: READER and --key KEY --cert CERT, the writing host's\n"
		"SPEC is sqlite:PATH or etcd:http://HOST:PORT[,http://...][?prefix=NAME] (default\n"
		"$KVMTRUST_LEDGER, "
		"else %s). TIME is 2026-11-23T04:00:00Z, @SECONDS or now.\n",
		KT_LEDGER_DEFAULT);
}

/* A usage error: the message alone, exit status 2. */
#define bad_usage(...) cli_bad_usage("ledger", NULL, __VA_ARGS__)

enum { O_VM = 256, O_RESULT, O_MEASUREMENT, O_HOST, O_TIME, O_INDEX, O_RAW, O_SIZE, O_FROM,
       O_PIN, O_REPORT, O_DETAIL, O_FILE, O_QUEUE, O_MAX, O_TICKS, O_INTERVAL, O_KEY_DIR,
       O_TCTI, O_REQUIRE_TPM };
/* provenance's own, above the entry options' */
enum { O_PVM = 512, O_PFROM };

/* What each entry option sets, for the per-kind shapes below. */
enum { F_VM = 1 << 0, F_RESULT = 1 << 1, F_MEASUREMENT = 1 << 2, F_HOST = 1 << 3,
       F_TIME = 1 << 4, F_REPORT = 1 << 5, F_DETAIL = 1 << 6 };

/* Every kind may carry the evidence digest and a note (format version 3). */
#define F_EVIDENCE (F_REPORT | F_DETAIL)

/* The largest evidence file --report hashes. */
#define REPORT_MAX (64u << 20)

#define ENTRY_OPTIONS							\
	{ "vm", required_argument, NULL, O_VM },			\
	{ "result", required_argument, NULL, O_RESULT },		\
	{ "measurement", required_argument, NULL, O_MEASUREMENT },	\
	{ "host", required_argument, NULL, O_HOST },			\
	{ "time", required_argument, NULL, O_TIME },			\
	{ "report", required_argument, NULL, O_REPORT },		\
	{ "detail", required_argument, NULL, O_DETAIL }

static const struct {
	const char *usage;
	unsigned int required, allowed;
} shapes[] = {
	[KT_LEDGER_ATTEST] = { "attest --vm UUID --result pass|fail [--measurement HEX] "
			       "[--host UUID] [--time TIME]", F_VM | F_RESULT,
			       F_VM | F_RESULT | F_MEASUREMENT | F_HOST | F_TIME | F_EVIDENCE },
	[KT_LEDGER_MOVE] = { "move --vm UUID --host UUID [--time TIME]", F_VM | F_HOST,
			     F_VM | F_HOST | F_TIME | F_EVIDENCE },
	[KT_LEDGER_COMPROMISE] = { "compromise --host UUID [--time TIME]", F_HOST,
				   F_HOST | F_TIME | F_EVIDENCE },
	[KT_LEDGER_REVOKE] = { "revoke (--vm UUID | --host UUID) [--time TIME]", 0,
			       F_VM | F_HOST | F_TIME | F_EVIDENCE },
	[KT_LEDGER_REGISTER] = { NULL, 0, 0 },
	[KT_LEDGER_ROLLBACK] = { "rollback --vm UUID --measurement HEX --detail SNAPSHOT "
				 "--report FILE [--host UUID] [--time TIME]",
				 F_VM | F_MEASUREMENT | F_EVIDENCE,
				 F_VM | F_MEASUREMENT | F_HOST | F_TIME | F_EVIDENCE },
};

static bool printable_ascii(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

/* --report FILE: the SHA-256 of the evidence file's bytes. */
static int parse_report(const char *path, kt_hash out)
{
	struct kt_err err = { 0 };
	uint8_t *buf;
	size_t len;

	if (kt_file_read(path, REPORT_MAX, 0, &buf, &len, &err))
		return cli_error("ledger", &err, KT_EXIT_NOT_FOUND);
	kt_sha256(buf, len, out);
	free(buf);
	return 0;
}

/* One entry option into e: 0, a usage exit code, or -1 when opt is none of them. */
static int entry_option(int opt, const char *arg, struct kt_ledger_entry *e, unsigned int *seen)
{
	switch (opt) {
	case O_VM:
		*seen |= F_VM;
		return ledger_parse_vm("ledger", arg, e->vm_id);
	case O_RESULT:
		*seen |= F_RESULT;
		if (strcmp(arg, "pass") && strcmp(arg, "fail"))
			return bad_usage("--result '%s' is neither pass nor fail", arg);
		e->result = strcmp(arg, "pass") ? KT_LEDGER_FAIL : KT_LEDGER_PASS;
		return 0;
	case O_MEASUREMENT:
		*seen |= F_MEASUREMENT;
		if (strlen(arg) != 2 * KT_HASH_LEN || kt_hex_decode(arg, e->measurement, KT_HASH_LEN))
			return bad_usage("--measurement '%s' is not 64 hex digits", arg);
		return 0;
	case O_HOST:
		*seen |= F_HOST;
		return kt_uuid_parse(arg, e->host_id) ? bad_usage("--host '%s' is not a UUID", arg) : 0;
	case O_TIME:
		*seen |= F_TIME;
		return ledger_parse_time("ledger", "--time", arg, &e->time);
	case O_REPORT:
		*seen |= F_REPORT;
		return parse_report(arg, e->report);
	case O_DETAIL:
		*seen |= F_DETAIL;
		if (!*arg || strlen(arg) > KT_LEDGER_DETAIL_MAX ||
		    !printable_ascii(arg))
			return bad_usage("--detail must be 1 to %d printable ASCII characters",
					 KT_LEDGER_DETAIL_MAX);
		strcpy(e->detail, arg);
		return 0;
	}
	return -1;
}

/* The kind word and the options given must make one of the shapes. */
static int entry_shape(const char *word, unsigned int seen, struct kt_ledger_entry *e)
{
	int kind = word ? kt_ledger_kind_parse(word) : -1;

	if (kind == KT_LEDGER_REGISTER)
		return bad_usage("%s", "a VM's owner registers it with 'kvmtrust ledger register'");
	if (kind < 0 || kind >= (int)(sizeof(shapes) / sizeof(shapes[0])) || !shapes[kind].usage)
		return bad_usage("unknown entry kind '%s': attest, move, compromise, revoke or "
				 "rollback", word ? word : "");
	e->kind = (uint8_t)kind;
	if ((seen & shapes[kind].required) != shapes[kind].required ||
	    (seen & ~shapes[kind].allowed) ||
	    (kind == KT_LEDGER_REVOKE && !(seen & F_VM) == !(seen & F_HOST)))
		return bad_usage("usage: %s", shapes[kind].usage);
	return 0;
}

/*
 * Parses an entry: one kind word and its options, in any order. On the
 * command line (o set) the reader and writer options may be mixed in; a
 * batch line holds the entry alone. *word is the kind, or "-" for a batch.
 */
static int parse_entry(int argc, char *argv[], struct ledger_opts *o, struct kt_ledger_entry *e,
		       const char **word, unsigned int *seen)
{
	static const struct option cmdline[] = {
		ENTRY_OPTIONS, LEDGER_CLI_OPTIONS, LEDGER_CLI_SIGNER_OPTIONS, { 0 },
	};
	static const struct option line[] = { ENTRY_OPTIONS, { 0 } };
	int c, ret;

	memset(e, 0, sizeof(*e));
	*seen = 0;
	/* 0, not 1: GNU getopt starts over, as each batch line needs. */
	optind = 0;
	while ((c = cli_getopt(argc, argv, o ? "h" : "", o ? cmdline : line)) != -1) {
		ret = entry_option(c, optarg, e, seen);
		if (ret < 0 && o && ledger_opt(o, c, optarg))
			continue;
		if (ret < 0)
			return o ? cli_option_usage(usage, c) : KT_EXIT_USAGE;
		if (ret)
			return ret;
	}
	if (optind != argc - 1)
		return bad_usage("%s", "an entry is one KIND and its options");
	*word = argv[optind];
	return 0;
}

static void print_appended(const struct kt_ledger_entry *e, const kt_hash leaf)
{
	kt_print_open_object(NULL);
	kt_print_u64("index", "appended entry %s", e->index);
	kt_print_hex("leaf_hash", " leaf %s\n", leaf, KT_HASH_LEN);
	kt_print_close_object();
}

/* The end of every command that printed: a failed write to stdout is a failure too. */
static int finish(struct ledger_opts *o, int ret)
{
	if (kt_print_end() && !ret)
		ret = KT_EXIT_FAILURE;
	ledger_opts_close(o);
	return ret;
}

static int append_entry(struct ledger_opts *o, const struct kt_ledger_signer *s,
			struct kt_ledger_entry *e)
{
	struct kt_err err = { 0 };
	kt_hash leaf;

	if (kt_ledger_append(o->log, s, e, leaf, &err))
		return ledger_error(&err);
	print_appended(e, leaf);
	return 0;
}

/* Each line is acknowledged (and flushed) only once its entry is committed. */
static int append_batch(struct ledger_opts *o, struct kt_ledger_signer *s)
{
	char *line = NULL, *words[BATCH_WORDS + 1], *save, label[64];
	struct kt_ledger_entry e;
	unsigned long lineno = 0;
	const char *kind;
	unsigned int seen;
	size_t cap = 0;
	int n, ret = 0;

	kt_print_open_array(NULL);
	while (!ret && getline(&line, &cap, stdin) > 0) {
		snprintf(label, sizeof(label), "stdin line %lu", ++lineno);
		words[0] = label;
		for (n = 1, words[1] = strtok_r(line, " \t\r\n", &save); words[n] && n < BATCH_WORDS;)
			words[++n] = strtok_r(NULL, " \t\r\n", &save);
		if (n == 1 || words[1][0] == '#')
			continue;
		if (words[n]) {
			ret = bad_usage("more than %d words", BATCH_WORDS - 1);
		} else {
			ret = parse_entry(n, words, NULL, &e, &kind, &seen) ?:
			      entry_shape(kind, seen, &e) ?: append_entry(o, s, &e);
		}
		if (ret)
			fprintf(stderr, "%s ledger: stopped at line %lu of stdin\n", prog, lineno);
		else if (!kt_print_is_json())
			fflush(stdout);
	}
	kt_print_close_array();
	free(line);
	return ret;
}

static int load_signer(const char *key, const char *cert, struct kt_ledger_signer *s)
{
	struct kt_err err = { 0 };

	return kt_ledger_signer_load(key, cert, s, &err) ? ledger_error(&err) : 0;
}

static int cmd_append(int argc, char *argv[])
{
	struct ledger_opts o = { 0 };
	struct kt_ledger_signer signer;
	struct kt_ledger_entry e;
	const char *kind;
	unsigned int seen;
	bool batch;
	int ret;

	ret = parse_entry(argc, argv, &o, &e, &kind, &seen);
	if (ret)
		return ret;
	batch = !strcmp(kind, "-");
	if (batch && seen)
		return bad_usage("%s", "append - reads the entries from stdin: no entry options");
	/* Checked before the key is even loaded: usage errors stay usage errors. */
	if (!batch && (ret = entry_shape(kind, seen, &e)))
		return ret;
	ret = load_signer(grant_cli_path(o.key, KT_LEDGER_KEY_ENV, NULL),
			  grant_cli_path(o.cert, KT_LEDGER_CERT_ENV, NULL), &signer) ?:
	      ledger_opts_open(&o, KT_LEDGER_WRITE, true);
	if (!ret)
		ret = batch ? append_batch(&o, &signer) : append_entry(&o, &signer, &e);
	kt_ledger_signer_free(&signer);
	return finish(&o, ret);
}

/*
 * Signed by the owner, never by a host: the key and certificate are not
 * taken from the host's $KVMTRUST_LEDGER_KEY and _CERT.
 */
static int cmd_register(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "vm", required_argument, NULL, O_VM },
		{ "time", required_argument, NULL, O_TIME },
		LEDGER_CLI_OPTIONS, LEDGER_CLI_SIGNER_OPTIONS, { 0 },
	};
	struct kt_ledger_entry e = { .kind = KT_LEDGER_REGISTER };
	struct kt_ledger_signer signer = { 0 };
	struct ledger_opts o = { 0 };
	int c, ret = 0;

	optind = 0;
	while (!ret && (c = cli_getopt(argc, argv, "h", opts)) != -1) {
		if (c == O_VM)
			ret = ledger_parse_vm("ledger", optarg, e.vm_id);
		else if (c == O_TIME)
			ret = ledger_parse_time("ledger", "--time", optarg, &e.time);
		else if (!ledger_opt(&o, c, optarg))
			return cli_option_usage(usage, c);
	}
	if (ret)
		return ret;
	if (!e.vm_id[0] || !o.key || !o.cert || optind != argc)
		return bad_usage("%s", "register needs --vm, and the owner's --key and --cert");
	ret = load_signer(o.key, o.cert, &signer) ?: ledger_opts_open(&o, KT_LEDGER_WRITE, true);
	if (!ret)
		ret = append_entry(&o, &signer, &e);
	kt_ledger_signer_free(&signer);
	return finish(&o, ret);
}

static void print_signer(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *cert = d2i_X509(NULL, &p, (long)len);
	struct kt_cert_info info;
	bool ok = cert && !kt_pki_cert_info(cert, &info, NULL);

	kt_print_string("signer", "signer: %s\n", ok ? info.subject : "(unreadable certificate)");
	X509_free(cert);
}

static bool hash_is_zero(const kt_hash h)
{
	size_t i;

	for (i = 0; i < KT_HASH_LEN; i++)
		if (h[i])
			return false;
	return true;
}

static void print_entry(const struct kt_ledger_entry *e, const kt_hash leaf)
{
	char host[KT_UUID_STR_LEN + 1];

	kt_uuid_format(e->host_id, host);
	kt_print_u64("index", "entry %s\n", e->index);
	kt_print_string("kind", "kind: %s\n", kt_ledger_kind_name(e->kind));
	kt_print_string("result", "result: %s\n", kt_ledger_result_name(e->result));
	kt_print_time("time", "time: %s\n", (int64_t)e->time);
	kt_print_string("vm", "vm: %s\n", e->vm_id[0] ? e->vm_id : "-");
	kt_print_string("host", "host: %s\n", strcmp(host, KT_UUID_NIL) ? host : NULL);
	kt_print_hex("measurement", "measurement: %s\n", e->measurement, KT_HASH_LEN);
	kt_print_hex("prev_root", "prev root: %s\n", e->prev_root, KT_HASH_LEN);
	kt_print_hex("leaf_hash", "leaf hash: %s\n", leaf, KT_HASH_LEN);
	print_signer(e->cert, e->cert_len);
	/* Format 3's fields last, so that the script columns before them stay put. */
	kt_print_string("detail", "detail: %s\n", e->detail[0] ? e->detail : NULL);
	if (hash_is_zero(e->report))
		kt_print_string("report", "report: %s\n", NULL);
	else
		kt_print_hex("report", "report: %s\n", e->report, KT_HASH_LEN);
}

/* --index, --size, --from: entry numbers and tree sizes. */
static int parse_count(const char *option, const char *arg, bool positive, uint64_t *out)
{
	if (cli_parse_uint(arg, UINT64_MAX, out) || (positive && !*out))
		return bad_usage("%s '%s' is not a%s number", option, arg,
				 positive ? " positive" : "");
	return 0;
}

/* The option loop of the reading commands: their own options through `own`. */
static int read_options(int argc, char *argv[], const struct option *opts,
			struct ledger_opts *o, int (*own)(int opt, const char *arg, void *arg2),
			void *arg2)
{
	int c, ret;

	optind = 0;
	while ((c = cli_getopt(argc, argv, "h", opts)) != -1) {
		if (own && (ret = own(c, optarg, arg2)) >= 0) {
			if (ret)
				return ret;
			continue;
		}
		if (!ledger_opt(o, c, optarg))
			return cli_option_usage(usage, c);
	}
	return optind == argc ? 0 : bad_usage("unexpected argument '%s'", argv[optind]);
}

struct get_args {
	uint64_t index;
	bool have_index, raw;
};

static int get_option(int opt, const char *arg, void *p)
{
	struct get_args *a = p;

	if (opt == O_RAW)
		a->raw = true;
	else if (opt == O_INDEX)
		a->have_index = true;
	else
		return -1;
	return opt == O_INDEX ? parse_count("--index", arg, false, &a->index) : 0;
}

static int cmd_get(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "index", required_argument, NULL, O_INDEX },
		{ "raw", no_argument, NULL, O_RAW },
		LEDGER_CLI_OPTIONS, { 0 },
	};
	struct ledger_opts o = { 0 };
	struct get_args a = { 0 };
	struct kt_ledger_entry e;
	struct kt_err err = { 0 };
	uint8_t *raw;
	size_t len;
	kt_hash leaf;
	int ret;

	ret = read_options(argc, argv, opts, &o, get_option, &a);
	if (!ret && !a.have_index)
		ret = bad_usage("%s", "get needs --index N");
	if (ret || (ret = ledger_opts_open(&o, KT_LEDGER_READ, false)))
		return ret;
	if (kt_ledger_get(o.log, a.index, &e, &raw, &len, &err)) {
		ret = ledger_error(&err);
		goto out;
	}
	kt_ledger_leaf_hash(raw, len, leaf);
	kt_print_open_object(NULL);
	if (a.raw)
		kt_print_hex("data", "%s\n", raw, len);
	else
		print_entry(&e, leaf);
	kt_print_close_object();
	free(raw);
out:
	return finish(&o, ret);
}

static int cmd_head(int argc, char *argv[])
{
	static const struct option opts[] = { LEDGER_CLI_OPTIONS, { 0 } };
	struct ledger_opts o = { 0 };
	struct kt_ledger_sth sth;
	struct kt_err err = { 0 };
	uint8_t *raw;
	int ret;

	ret = read_options(argc, argv, opts, &o, NULL, NULL);
	if (ret || (ret = ledger_opts_open(&o, KT_LEDGER_READ, false)))
		return ret;
	if (kt_ledger_head(o.log, &sth, &raw, &err)) {
		ret = ledger_error(&err);
		goto out;
	}
	kt_print_open_object(NULL);
	kt_print_u64("size", "size: %s\n", sth.size);
	if (raw)
		kt_print_time("time", "time: %s\n", (int64_t)sth.time);
	else
		kt_print_string("time", "time: %s\n", NULL);
	kt_print_hex("root", "root: %s\n", sth.root, KT_HASH_LEN);
	if (raw)
		print_signer(sth.cert, sth.cert_len);
	kt_print_close_object();
	free(raw);
out:
	return finish(&o, ret);
}

static void print_path(const kt_hash *proof, size_t len)
{
	size_t i;

	kt_print_text("proof:\n");
	kt_print_open_array("proof");
	for (i = 0; i < len; i++)
		kt_print_hex(NULL, "  %s\n", proof[i], KT_HASH_LEN);
	kt_print_close_array();
}

struct prove_args {
	bool inclusion, have_first;
	uint64_t first, size;	/* --index or --from; --size (0: the whole log) */
};

static int prove_option(int opt, const char *arg, void *p)
{
	struct prove_args *a = p;

	if (opt == O_SIZE)
		return parse_count("--size", arg, true, &a->size);
	if ((opt == O_INDEX && a->inclusion) || (opt == O_FROM && !a->inclusion)) {
		a->have_first = true;
		return parse_count(a->inclusion ? "--index" : "--from", arg, false, &a->first);
	}
	return -1;
}

static int cmd_prove(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "index", required_argument, NULL, O_INDEX },
		{ "from", required_argument, NULL, O_FROM },
		{ "size", required_argument, NULL, O_SIZE },
		LEDGER_CLI_OPTIONS, { 0 },
	};
	kt_hash proof[KT_MERKLE_MAX_PROOF], a, b;
	struct prove_args p = { 0 };
	struct ledger_opts o = { 0 };
	struct kt_err err = { 0 };
	size_t len;
	int ret;

	if (argc < 2 || (strcmp(argv[1], "inclusion") && strcmp(argv[1], "consistency")))
		return bad_usage("%s", "prove inclusion --index N [--size N] | "
				 "prove consistency --from M [--size N]");
	p.inclusion = !strcmp(argv[1], "inclusion");
	ret = read_options(argc - 1, argv + 1, opts, &o, prove_option, &p);
	if (!ret && !p.have_first)
		ret = bad_usage("prove %s needs %s", argv[1], p.inclusion ? "--index N" : "--from M");
	if (ret || (ret = ledger_opts_open(&o, KT_LEDGER_READ, false)))
		return ret;
	if (p.inclusion ? kt_ledger_prove_inclusion(o.log, p.first, p.size, a, b, proof, &len, &err) :
	    kt_ledger_prove_consistency(o.log, p.first, p.size, a, b, proof, &len, &err)) {
		ret = ledger_error(&err);
		goto out;
	}
	kt_print_open_object(NULL);
	if (p.inclusion) {
		kt_print_u64("index", "index: %s\n", p.first);
		kt_print_hex("leaf_hash", "leaf hash: %s\n", a, KT_HASH_LEN);
	} else {
		kt_print_u64("first_size", "first size: %s\n", p.first);
		kt_print_hex("first_root", "first root: %s\n", a, KT_HASH_LEN);
	}
	kt_print_hex("root", "root: %s\n", b, KT_HASH_LEN);
	print_path(proof, len);
	kt_print_close_object();
out:
	return finish(&o, ret);
}

/* Long verifies report progress on a terminal. */
static int progress(const struct kt_ledger_entry *e, void *arg)
{
	(void)arg;
	if (e->index && e->index % 10000 == 0)
		fprintf(stderr, "\rverified %llu entries...", (unsigned long long)e->index);
	return 0;
}

struct verify_args {
	const char *pin;
	bool require_tpm;
};

static int verify_option(int opt, const char *arg, void *p)
{
	struct verify_args *a = p;

	if (opt == O_PIN)
		a->pin = arg;
	else if (opt == O_REQUIRE_TPM)
		a->require_tpm = true;
	else
		return -1;
	return 0;
}

/*
 * Entries (and host batches) signed by a certificate revoked earlier in the
 * log: verified, but counted for nothing; one line (script: one row) each.
 */
static void print_not_counted(const struct kt_ledger *log)
{
	const struct kt_ledger_not_counted *nc;
	size_t n = kt_ledger_not_counted(log, &nc), i;

	if (!n)
		return;
	kt_print_open_array("not_counted");
	for (i = 0; i < n; i++) {
		kt_print_open_object(NULL);
		kt_print_u64("index", "entry %s", nc[i].index);
		kt_print_s64("batch", nc[i].batch_no < 0 ? NULL : ", host batch %s", nc[i].batch_no);
		kt_print_string("certificate", ": signed by a revoked certificate (%s)",
				nc[i].cert_id);
		kt_print_u64("revoked_in", ", revoked in entry %s: not counted\n", nc[i].revoked_in);
		kt_print_close_object();
	}
	kt_print_close_array();
}

static int cmd_verify(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "pin", required_argument, NULL, O_PIN },
		{ "require-tpm", no_argument, NULL, O_REQUIRE_TPM },
		LEDGER_CLI_OPTIONS, { 0 },
	};
	bool tty = isatty(STDERR_FILENO);
	struct ledger_opts o = { 0 };
	struct verify_args a = { 0 };
	struct kt_err err = { 0 };
	uint64_t size = 0, bad;
	const char *pin;
	kt_hash root;
	int ret;

	ret = read_options(argc, argv, opts, &o, verify_option, &a);
	if (ret || (ret = ledger_opts_open(&o, KT_LEDGER_READ, true)))
		return ret;
	pin = a.pin;
	kt_ledger_require_tpm(o.log, a.require_tpm);
	if (pin && ledger_state_read(pin, o.log)) {
		ledger_opts_close(&o);
		return KT_EXIT_FAILURE;
	}
	ret = kt_ledger_walk(o.log, tty ? progress : NULL, NULL, &size, root, &bad, &err);
	if (tty && size >= 10000)
		fprintf(stderr, "\r\033[K");
	kt_print_open_object(NULL);
	kt_print_bool("verified", NULL, ret == 0);
	kt_print_u64("size", ret ? NULL : "ledger verified: %s entries\n", size);
	if (ret) {
		if (bad != UINT64_MAX)
			kt_print_u64("bad_index", NULL, bad);
		kt_print_string("check", NULL, err.check);
		kt_print_string("error", NULL, err.msg);
	} else {
		print_not_counted(o.log);
	}
	kt_print_close_object();
	if (ret) {
		fprintf(stderr, "Error: %s\n", err.msg);
		ret = err.check && !strcmp(err.check, "unavailable") ? KT_EXIT_UNAVAILABLE :
		      KT_EXIT_REFUSED;
	} else if (pin && ledger_state_write(pin, size, root)) {
		ret = KT_EXIT_FAILURE;
	}
	return finish(&o, ret);
}

/* "report=HEX" and the like on a batch line: 1 when the word is not this key's. */
static int batch_field(const char *word, const char *key, kt_hash out, int *ret)
{
	size_t n = strlen(key);

	if (strncmp(word, key, n) || word[n] != '=')
		return 1;
	if (strlen(word + n + 1) != 2 * KT_HASH_LEN || kt_hex_decode(word + n + 1, out, KT_HASH_LEN))
		*ret = bad_usage("%s must be %d hex digits", key, 2 * KT_HASH_LEN);
	return 0;
}

/* One line of a batch file into r: 0, or the usage error printed (exit 2). */
static int batch_line(char *line, unsigned long lineno, struct kt_batch_result *r)
{
	char *save, *w = strtok_r(line, " \t\r\n", &save);
	int ret = 0;

	memset(r, 0, sizeof(*r));
	if (!w || kt_uuid_canonical(w, r->vm_id))
		return bad_usage("line %lu: '%s' is not a VM UUID", lineno, w ? w : "");
	w = strtok_r(NULL, " \t\r\n", &save);
	r->result = w && !strcmp(w, "pass") ? KT_LEDGER_PASS : w && !strcmp(w, "fail") ?
		    KT_LEDGER_FAIL : 0;
	if (!r->result)
		return bad_usage("line %lu: the result must be pass or fail", lineno);
	while (!ret && (w = strtok_r(NULL, " \t\r\n", &save))) {
		if (batch_field(w, "report", r->report, &ret) &&
		    batch_field(w, "memory", r->memory_root, &ret) &&
		    batch_field(w, "vcpu", r->vcpu_root, &ret))
			ret = bad_usage("line %lu: unknown field '%s'", lineno, w);
	}
	return ret;
}

static int read_batch(FILE *f, struct kt_batch_builder *b)
{
	struct kt_batch_result r;
	struct kt_err err = { 0 };
	unsigned long lineno = 0;
	char *line = NULL;
	size_t cap = 0;
	int ret = 0;

	while (!ret && getline(&line, &cap, f) > 0) {
		lineno++;
		if (line[strspn(line, " \t\r\n")] == '\0' || line[strspn(line, " \t")] == '#')
			continue;
		ret = batch_line(line, lineno, &r);
		if (!ret && kt_batch_builder_add(b, &r, &err))
			ret = ledger_error(&err);
	}
	free(line);
	if (!ret && !kt_batch_builder_count(b))
		ret = bad_usage("%s", "the batch holds no results");
	return ret;
}

struct batch_args {
	const char *file, *checkpoint, *key_dir, *tcti;
	uint64_t time;
	bool queue;
};

static int batch_option(int opt, const char *arg, void *p)
{
	struct batch_args *a = p;

	if (opt == O_FILE)
		a->file = arg;
	else if (opt == O_QUEUE)
		a->queue = true;
	else if (opt == LEDGER_O_CHECKPOINT)
		a->checkpoint = arg;
	else if (opt == O_KEY_DIR)
		a->key_dir = arg;
	else if (opt == O_TCTI)
		a->tcti = arg;
	else if (opt == O_TIME)
		return ledger_parse_time("ledger", "--time", arg, &a->time);
	else
		return -1;
	return 0;
}

/*
 * With --checkpoint, the walk before a direct append starts from that
 * checkpoint (its placements and batch times folded) and verifies only
 * the entries after it, then moves it on: an append costs what is new.
 */
static int batch_checkpoint(struct ledger_opts *o, const struct batch_args *a)
{
	struct kt_err err = { 0 };

	if (!a->checkpoint)
		return 0;
	if (a->queue)
		return bad_usage("%s", "--checkpoint is for direct appends, not --queue");
	return kt_ledger_checkpoint_use(o->log, a->checkpoint, false, &err) ?
	       ledger_error(&err) : 0;
}

static int hostkey_quote(void *hk, const kt_hash digest, struct kt_quote *q, struct kt_err *err)
{
	return kt_hostkey_extend_quote(hk, digest, q, err);
}

/*
 * --key-dir: the host key there signs (attest/hostkey.h), with --cert its
 * certificate under the ledger CA; a TPM key also quotes each batch.
 * Else --key and --cert.
 */
static int batch_signer(const struct ledger_opts *o, const struct batch_args *a,
			struct kt_hostkey **hk, struct kt_ledger_signer *s)
{
	const char *cert = grant_cli_path(o->cert, KT_LEDGER_CERT_ENV, NULL);
	struct kt_err err = { 0 };

	if (!a->key_dir)
		return a->tcti ? bad_usage("%s", "--tcti is for --key-dir") :
		       load_signer(grant_cli_path(o->key, KT_LEDGER_KEY_ENV, NULL), cert, s);
	if (o->key)
		return bad_usage("%s", "give --key or --key-dir, not both");
	memset(s, 0, sizeof(*s));
	if (kt_hostkey_open(a->key_dir, a->tcti ? a->tcti : kt_hostkey_default_tcti(), hk, &err))
		return ledger_error(&err);
	s->key = (*hk)->pub;
	EVP_PKEY_up_ref(s->key);
	s->sign = kt_hostkey_sign;
	s->quote = (*hk)->origin == KT_KEY_TPM ? hostkey_quote : NULL;
	s->ctx = *hk;
	return kt_ledger_signer_cert(s, cert, a->key_dir, &err) ? ledger_error(&err) : 0;
}

/* The host's UUID, from its certificate under the ledger CA. */
static int signer_host(struct ledger_opts *o, const struct kt_ledger_signer *s,
		       uint8_t host[KT_UUID_LEN])
{
	struct kt_ledger_writer w;
	struct kt_err err = { 0 };

	if (kt_ledger_auth_check(o->auth, s->cert, s->cert_len, (uint64_t)time(NULL),
				 KT_LEDGER_HOST, &w, &err))
		return ledger_error(&err);
	memcpy(host, w.host_id, KT_UUID_LEN);
	return 0;
}

/*
 * A host batch from a file of results, sealed by the writing host and
 * appended as its own batch entry, or queued for a sequencer.
 */
static int cmd_batch(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, O_FILE },
		{ "time", required_argument, NULL, O_TIME },
		{ "queue", no_argument, NULL, O_QUEUE },
		{ "checkpoint", required_argument, NULL, LEDGER_O_CHECKPOINT },
		{ "key-dir", required_argument, NULL, O_KEY_DIR },
		{ "tcti", required_argument, NULL, O_TCTI },
		LEDGER_CLI_OPTIONS, LEDGER_CLI_SIGNER_OPTIONS, { 0 },
	};
	struct kt_batch_builder *b = kt_batch_builder_new();
	struct kt_hostkey *hk = NULL;
	struct kt_ledger_signer signer = { 0 };
	struct batch_args a = { .file = "-" };
	struct ledger_opts o = { 0 };
	struct kt_ledger_entry e;
	struct kt_err err = { 0 };
	uint8_t host[KT_UUID_LEN], *sealed = NULL;
	size_t len = 0, n;
	FILE *f;
	kt_hash leaf;
	int ret;

	if (!b)
		return KT_EXIT_FAILURE;
	ret = read_options(argc, argv, opts, &o, batch_option, &a);
	if (!ret && optind != argc)
		ret = bad_usage("%s", "batch takes no arguments: the results come from --file");
	f = ret ? NULL : strcmp(a.file, "-") ? fopen(a.file, "r") : stdin;
	if (!ret && !f)
		ret = cli_error(NULL, &(struct kt_err){ .check = "missing",
			.msg = "cannot open the results file" }, KT_EXIT_NOT_FOUND);
	if (!ret)
		ret = read_batch(f, b);
	if (f && f != stdin)
		fclose(f);
	if (!ret)
		ret = batch_signer(&o, &a, &hk, &signer) ?:
		      ledger_opts_open(&o, KT_LEDGER_WRITE, true) ?: signer_host(&o, &signer, host) ?:
		      batch_checkpoint(&o, &a);
	n = kt_batch_builder_count(b);
	if (!ret && kt_batch_builder_seal(b, &signer, host, a.time ? a.time : (uint64_t)time(NULL),
					  &sealed, &len, &err))
		ret = ledger_error(&err);
	if (!ret && a.queue) {
		if (kt_ledger_enqueue_batch(o.log, sealed, len, &err)) {
			ret = ledger_error(&err);
		} else {
			kt_print_open_object(NULL);
			kt_print_u64("queued", "queued a batch of %s results\n", n);
			kt_print_close_object();
		}
	} else if (!ret) {
		const uint8_t *one = sealed;

		if (kt_ledger_append_batch(o.log, &signer, &one, &len, 1, &e, leaf, &err)) {
			ret = ledger_error(&err);
		} else {
			if (a.checkpoint)
				ledger_checkpoint_save(o.log);
			kt_print_open_object(NULL);
			kt_print_u64("index", "appended batch entry %s", e.index);
			kt_print_hex("leaf_hash", " leaf %s", leaf, KT_HASH_LEN);
			kt_print_u64("results", " with %s results\n", n);
			kt_print_close_object();
		}
	}
	free(sealed);
	kt_batch_builder_free(b);
	kt_ledger_signer_free(&signer);
	kt_hostkey_close(hk);
	return finish(&o, ret);
}

struct integrate_args {
	uint64_t max, ticks;
	double interval;
};

static int integrate_option(int opt, const char *arg, void *p)
{
	struct integrate_args *a = p;
	char *end;

	if (opt == O_MAX)
		return parse_count("--max", arg, true, &a->max);
	if (opt == O_TICKS)
		return parse_count("--ticks", arg, false, &a->ticks);
	if (opt != O_INTERVAL)
		return -1;
	a->interval = strtod(arg, &end);
	if (end == arg || *end || !(a->interval >= 0) || a->interval > 3600)
		return bad_usage("--interval '%s' is not a number of seconds (0 to 3600)", arg);
	return 0;
}

/*
 * The sequencer: each tick appends the queued host batches as one batch
 * entry. --ticks 0 runs until stopped; each tick that stored or dropped
 * something prints a line.
 */
static int cmd_integrate(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "max", required_argument, NULL, O_MAX },
		{ "ticks", required_argument, NULL, O_TICKS },
		{ "interval", required_argument, NULL, O_INTERVAL },
		LEDGER_CLI_OPTIONS, LEDGER_CLI_SIGNER_OPTIONS, { 0 },
	};
	/* 63: a tick dropping all it read stays within etcd's default 128 txn ops. */
	struct integrate_args a = { .max = 63, .ticks = 1, .interval = 1 };
	struct kt_ledger_signer signer = { 0 };
	struct ledger_opts o = { 0 };
	struct kt_ledger_entry e;
	size_t taken, dropped;
	struct timespec t0, t1;
	uint64_t tick;
	kt_hash leaf;
	int ret;

	ret = read_options(argc, argv, opts, &o, integrate_option, &a);
	if (!ret && optind != argc)
		ret = bad_usage("%s", "integrate takes no arguments");
	if (!ret && a.max > KT_BATCH_ENTRY_MAX)
		ret = bad_usage("--max is at most %d", KT_BATCH_ENTRY_MAX);
	if (ret)
		return ret;
	ret = load_signer(grant_cli_path(o.key, KT_LEDGER_KEY_ENV, NULL),
			  grant_cli_path(o.cert, KT_LEDGER_CERT_ENV, NULL), &signer) ?:
	      ledger_opts_open(&o, KT_LEDGER_WRITE, true);
	kt_print_open_array(NULL);
	for (tick = 0; !ret && (!a.ticks || tick < a.ticks); tick++) {
		struct kt_err err = { 0 };

		if (tick && a.interval > 0)
			usleep((useconds_t)(a.interval * 1e6));
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (kt_ledger_integrate(o.log, &signer, a.max, &taken, &dropped, &e, leaf, &err)) {
			ret = ledger_error(&err);
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (dropped)
			fprintf(stderr, "%s ledger: dropped %zu queued batches; first: %s (check %s)\n",
				prog, dropped, err.msg, err.check ? err.check : "?");
		if (!taken && !dropped)
			continue;
		kt_print_open_object(NULL);
		kt_print_u64("index", "entry %s:", taken ? e.index : 0);
		kt_print_u64("batches", " %s host batches", taken);
		kt_print_u64("dropped", ", %s dropped", dropped);
		kt_print_u64("ms", " in %s ms\n", (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000 +
							(t1.tv_nsec - t0.tv_nsec) / 1000000));
		kt_print_close_object();
		if (!kt_print_is_json())
			fflush(stdout);
	}
	kt_print_close_array();
	kt_ledger_signer_free(&signer);
	return finish(&o, ret);
}

/* Where the VM ran: runs of entries on one host, with their first and last times. */
static void print_hosts(const struct kt_history *p)
{
	size_t i, j;

	kt_print_text("hosts:\n");
	kt_print_open_array("hosts");
	for (i = 0; i < p->n; i = j) {
		for (j = i + 1; j < p->n && !memcmp(p->e[j].host, p->e[i].host, KT_UUID_LEN); j++)
			;
		ledger_print_run(p->e[i].host, p->e[i].time, p->e[j - 1].time, p->e[i].index,
				 p->e[j - 1].index);
	}
	kt_print_close_array();
}

static void print_hashes(const char *key, const kt_hash *h, size_t n)
{
	size_t i;

	kt_print_open_array(key);
	for (i = 0; i < n; i++)
		kt_print_hex(NULL, "    %s\n", h[i], KT_HASH_LEN);
	kt_print_close_array();
}

/*
 * A batched result's own proof: the record and its path to the host
 * batch's signed root, the signed header and its path to the entry's
 * measurement field, and the entry (without its body), whose leaf hash the
 * log proves.
 */
static int print_batch_proof(struct kt_ledger *log, const struct kt_history_entry *pe,
			     struct kt_err *err)
{
	struct kt_history_batch_proof p;

	if (kt_history_batch_proof(log, pe, &p, err))
		return -1;
	kt_print_hex("entry", "  entry bytes: %s\n", p.raw, p.span);
	kt_print_hex("batch_header", "  batch header: %s\n", p.b.raw, p.b.header_len);
	kt_print_u64("batch_size", "  record %s", p.b.n);
	kt_print_u64("record_index", " of which this is %s:", pe->record_no);
	kt_print_hex("record", " %s\n", p.record, KT_BATCH_RECORD_LEN);
	kt_print_text("  record path:\n");
	print_hashes("record_path", p.record_path, p.record_plen);
	kt_print_u64("batches", "  header %s", p.k);
	kt_print_u64("batch_index", " of which this is %s; header path:\n", pe->batch_no);
	print_hashes("header_path", p.header_path, p.header_plen);
	kt_history_batch_proof_free(&p);
	return 0;
}

/* A single entry's encoding, whose leaf hash the log proves. */
static int print_entry_bytes(struct kt_ledger *log, const struct kt_history_entry *pe,
			     struct kt_err *err)
{
	struct kt_ledger_entry e;
	uint8_t *raw;
	size_t len;

	if (kt_ledger_get(log, pe->index, &e, &raw, &len, err))
		return -1;
	kt_print_hex("entry", "  entry bytes: %s\n", raw, len);
	free(raw);
	return 0;
}

struct prov_args {
	char vm[KT_UUID_STR_LEN + 1];
	uint64_t from;
	bool have_from;
};

static int prov_option(int opt, const char *arg, void *p)
{
	struct prov_args *a = p;

	if (opt == O_PVM)
		return ledger_parse_vm("ledger", arg, a->vm);
	if (opt != O_PFROM)
		return -1;
	a->have_from = true;
	return parse_count("--from", arg, false, &a->from);
}

/*
 * Where a VM ran and the proofs of it: every entry about the VM from a
 * verified walk (attestations, batched results, moves, rollbacks), the
 * hosts in order with dates, each entry's inclusion proof in the signed
 * head printed with it, batched results' proofs down to the record, and
 * with --from the consistency proof from a head seen before. Checked
 * offline by scripts/provenance-check.
 */
static int cmd_provenance(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "vm", required_argument, NULL, O_PVM },
		{ "from", required_argument, NULL, O_PFROM },
		LEDGER_CLI_OPTIONS, { 0 },
	};
	kt_hash proof[KT_MERKLE_MAX_PROOF], a_root, b_root;
	char host[KT_UUID_STR_LEN + 1];
	struct prov_args a = { 0 };
	struct ledger_opts o = { 0 };
	struct kt_err err = { 0 };
	struct kt_history p;
	size_t i, plen;
	int len, ret;

	ret = read_options(argc, argv, opts, &o, prov_option, &a);
	if (!ret && (!a.vm[0] || optind != argc))
		ret = bad_usage("%s", "provenance needs --vm UUID and takes no arguments");
	if (ret || (ret = ledger_opts_open(&o, KT_LEDGER_READ, true)))
		return ret;
	if (kt_history_read(o.log, a.vm, 0, &p, &err))
		return finish(&o, ledger_error(&err));
	kt_print_open_object(NULL);
	kt_print_string("vm", "vm: %s\n", a.vm);
	kt_print_u64("size", "signed head: %s entries", p.size);
	kt_print_hex("root", ", root %s\n", p.root, KT_HASH_LEN);
	kt_print_hex("sth", "signed tree head: %s\n", p.head + 2, kt_be_get(p.head, 2));
	print_hosts(&p);
	kt_print_text("entries:\n");
	kt_print_open_array("entries");
	for (i = 0; i < p.n && !ret; i++) {
		const struct kt_history_entry *pe = &p.e[i];

		kt_uuid_format(pe->host, host);
		kt_print_open_object(NULL);
		kt_print_u64("index", "#%s", pe->index);
		kt_print_string("kind", " %s", pe->in_batch ? "batched" : kt_ledger_kind_name(pe->kind));
		kt_print_string("result", " %s", kt_ledger_result_name(pe->result));
		kt_print_time("time", " %s", (int64_t)pe->time);
		kt_print_string("host", " on %s\n", host);
		if (hash_is_zero(pe->report))
			kt_print_string("report", NULL, NULL);
		else
			kt_print_hex("report", "  report: %s\n", pe->report, KT_HASH_LEN);
		kt_print_string("detail", pe->detail[0] ? "  detail: %s\n" : NULL,
				pe->detail[0] ? pe->detail : NULL);
		len = kt_history_prove(&p, pe->index, proof);
		plen = len < 0 ? 0 : (size_t)len;
		kt_print_hex("leaf_hash", "  leaf %s; inclusion path:\n", p.leaves[pe->index],
			     KT_HASH_LEN);
		print_hashes("inclusion_path", proof, plen);
		if (pe->in_batch ? print_batch_proof(o.log, pe, &err) : print_entry_bytes(o.log, pe, &err))
			ret = ledger_error(&err);
		kt_print_close_object();
	}
	kt_print_close_array();
	if (!ret && a.have_from) {
		if (kt_ledger_prove_consistency(o.log, a.from, p.size, a_root, b_root, proof, &plen,
						&err)) {
			ret = ledger_error(&err);
		} else {
			kt_print_u64("from_size", "consistency from %s entries", a.from);
			kt_print_hex("from_root", " (root %s):\n", a_root, KT_HASH_LEN);
			print_hashes("consistency_path", proof, plen);
		}
	}
	kt_print_close_object();
	kt_history_free(&p);
	return finish(&o, ret);
}

/* Creates the ledger: the only command that may, so a typo never makes an empty one. */
static int cmd_init(int argc, char *argv[])
{
	static const struct option opts[] = { LEDGER_CLI_OPTIONS, { 0 } };
	struct ledger_opts o = { 0 };
	int ret;

	ret = read_options(argc, argv, opts, &o, NULL, NULL);
	if (ret || (ret = ledger_opts_open(&o, KT_LEDGER_CREATE, false)))
		return ret;
	kt_print_open_object(NULL);
	kt_print_string("ledger", "created ledger %s\n",
			grant_cli_path(o.spec, "KVMTRUST_LEDGER", KT_LEDGER_DEFAULT));
	kt_print_close_object();
	return finish(&o, 0);
}

int ledger_main(int argc, char *argv[])
{
	static const struct cli_command cmds[] = {
		{ "init", cmd_init }, { "append", cmd_append }, { "register", cmd_register },
		{ "get", cmd_get }, { "head", cmd_head }, { "prove", cmd_prove },
		{ "verify", cmd_verify }, { "batch", cmd_batch }, { "integrate", cmd_integrate },
		{ "provenance", cmd_provenance },
	};

	return cli_dispatch("ledger", usage, cmds, sizeof(cmds) / sizeof(cmds[0]), argc, argv);
}
