// SPDX-License-Identifier: GPL-2.0
/*
 * kvmtrust ledger: append to, read, prove and verify the trust ledger.
 * See kvmtrust-ledger(8) and Documentation/ledger.rst.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "common/encoding.h"
#include "ledger_cli.h"
#include "subcommands.h"

#define BATCH_WORDS 16

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s ledger [--ledger SPEC] [--ca FILE|DIR] [--key KEY --cert CERT]\n"
		"                [--json | --script] <command>\n"
		"Commands:\n"
		"  append attest VM pass|fail [measurement HEX] [host UUID] [time UNIX]\n"
		"  append move VM HOST [time UNIX]\n"
		"  append compromise HOST [time UNIX]\n"
		"  append revoke vm VM | revoke host HOST [time UNIX]\n"
		"  append -                      one entry a line from stdin, same words\n"
		"  get INDEX [raw]\n"
		"  head\n"
		"  prove inclusion INDEX [size N]\n"
		"  prove consistency M [N]\n"
		"  verify [pin FILE]             FILE: last state accepted, refuses rollbacks\n"
		"SPEC is sqlite:PATH or etcd:http://HOST:PORT[,http://...] (default\n"
		"$KVMTRUST_LEDGER, else %s).\n",
		prog, KT_LEDGER_DEFAULT);
}

/* A usage error: the message alone, exit status 2. */
#define bad_usage(...) cli_bad_usage("ledger", NULL, __VA_ARGS__)

/* "key value" pairs after the fixed words of an entry. */
static int parse_extras(int argc, char *argv[], struct kt_ledger_entry *e, bool attest)
{
	int i;

	for (i = 0; i < argc; i += 2) {
		if (i + 1 >= argc)
			return bad_usage("'%s' needs a value", argv[i]);
		if (!strcmp(argv[i], "time")) {
			if (cli_parse_uint(argv[i + 1], UINT64_MAX, &e->time) || !e->time)
				return bad_usage("time '%s' is not seconds since the epoch", argv[i + 1]);
		} else if (attest && !strcmp(argv[i], "measurement")) {
			if (strlen(argv[i + 1]) != 2 * KT_HASH_LEN ||
			    kt_hex_decode(argv[i + 1], e->measurement, KT_HASH_LEN))
				return bad_usage("measurement '%s' is not 64 hex digits", argv[i + 1]);
		} else if (attest && !strcmp(argv[i], "host")) {
			if (kt_uuid_parse(argv[i + 1], e->host_id))
				return bad_usage("host '%s' is not a UUID", argv[i + 1]);
		} else {
			return bad_usage("unknown word '%s'", argv[i]);
		}
	}
	return 0;
}

static int set_vm(struct kt_ledger_entry *e, const char *vm)
{
	if (strlen(vm) > KT_LEDGER_VM_MAX)
		return bad_usage("VM id '%s' is longer than 64 characters", vm);
	strcpy(e->vm_id, vm);
	return 0;
}

static int set_host(struct kt_ledger_entry *e, const char *host)
{
	return kt_uuid_parse(host, e->host_id) ? bad_usage("host '%s' is not a UUID", host) : 0;
}

/* Turns the words of one entry into a kt_ledger_entry; exit code on error. */
static int parse_entry(int argc, char *argv[], struct kt_ledger_entry *e)
{
	int kind = argc ? kt_ledger_kind_parse(argv[0]) : -1;

	memset(e, 0, sizeof(*e));
	if (kind < 0)
		return bad_usage("unknown entry kind '%s'", argc ? argv[0] : "");
	e->kind = (uint8_t)kind;
	switch (kind) {
	case KT_LEDGER_ATTEST:
		if (argc < 3)
			return bad_usage("%s: attest VM pass|fail", "usage");
		if (strcmp(argv[2], "pass") && strcmp(argv[2], "fail"))
			return bad_usage("result '%s' is neither pass nor fail", argv[2]);
		e->result = strcmp(argv[2], "pass") ? KT_LEDGER_FAIL : KT_LEDGER_PASS;
		return set_vm(e, argv[1]) ?: parse_extras(argc - 3, argv + 3, e, true);
	case KT_LEDGER_MOVE:
		if (argc < 3)
			return bad_usage("%s: move VM HOST", "usage");
		return set_vm(e, argv[1]) ?: set_host(e, argv[2]) ?:
		       parse_extras(argc - 3, argv + 3, e, false);
	case KT_LEDGER_COMPROMISE:
		if (argc < 2)
			return bad_usage("%s: compromise HOST", "usage");
		return set_host(e, argv[1]) ?: parse_extras(argc - 2, argv + 2, e, false);
	default:
		if (argc < 3 || (strcmp(argv[1], "vm") && strcmp(argv[1], "host")))
			return bad_usage("%s: revoke vm VM | revoke host HOST", "usage");
		return (!strcmp(argv[1], "vm") ? set_vm(e, argv[2]) : set_host(e, argv[2])) ?:
		       parse_extras(argc - 3, argv + 3, e, false);
	}
}

static void print_appended(const struct kt_ledger_entry *e, const kt_hash leaf)
{
	kt_print_open_object(NULL);
	kt_print_u64("index", "appended entry %s", e->index);
	kt_print_hex("leaf_hash", " leaf %s\n", leaf, KT_HASH_LEN);
	kt_print_close_object();
}

static int append_one(struct ledger_opts *o, struct kt_ledger_signer *s, int argc, char *argv[])
{
	struct kt_ledger_entry e;
	struct kt_err err = { 0 };
	kt_hash leaf;
	int ret = parse_entry(argc, argv, &e);

	if (ret)
		return ret;
	/* Words checked before the key is even loaded: usage errors stay usage errors. */
	if (!s)
		return 0;
	if (kt_ledger_append(o->log, s, &e, leaf, &err))
		return ledger_error(&err);
	print_appended(&e, leaf);
	return 0;
}

/* Each line is acknowledged (and flushed) only once its entry is committed. */
static int append_batch(struct ledger_opts *o, struct kt_ledger_signer *s)
{
	char *line = NULL, *words[BATCH_WORDS], *save;
	size_t cap = 0;
	int n, ret = 0;
	unsigned long lineno = 0;

	kt_print_open_array(NULL);
	while (!ret && getline(&line, &cap, stdin) > 0) {
		lineno++;
		for (n = 0, words[0] = strtok_r(line, " \t\r\n", &save); words[n] && n < BATCH_WORDS - 1;)
			words[++n] = strtok_r(NULL, " \t\r\n", &save);
		if (!n || words[0][0] == '#')
			continue;
		ret = append_one(o, s, n, words);
		if (ret)
			fprintf(stderr, "%s ledger: stopped at line %lu of stdin\n", prog, lineno);
		else if (!kt_print_is_json())
			fflush(stdout);
	}
	kt_print_close_array();
	free(line);
	return ret;
}

static int cmd_append(struct ledger_opts *o, int argc, char *argv[])
{
	struct kt_ledger_signer signer;
	struct kt_err err = { 0 };
	bool batch = argc == 1 && !strcmp(argv[0], "-");
	int ret;

	if (!batch) {
		ret = append_one(o, NULL, argc, argv);
		if (ret)
			return ret;
	}
	if (kt_ledger_signer_load(o->key, o->cert, &signer, &err))
		return ledger_error(&err);
	if (batch)
		ret = append_batch(o, &signer);
	else
		ret = append_one(o, &signer, argc, argv);
	kt_ledger_signer_free(&signer);
	return ret;
}

static void print_signer(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *cert = d2i_X509(NULL, &p, (long)len);
	char *subject = cert ? X509_NAME_oneline(X509_get_subject_name(cert), NULL, 0) : NULL;

	kt_print_string("signer", "signer: %s\n", subject ? subject : "(unreadable certificate)");
	OPENSSL_free(subject);
	X509_free(cert);
}

static int cmd_get(struct ledger_opts *o, int argc, char *argv[])
{
	struct kt_ledger_entry e;
	struct kt_err err = { 0 };
	uint8_t *raw;
	size_t len;
	uint64_t index;
	kt_hash leaf;
	char host[37];

	if (argc < 1 || cli_parse_uint(argv[0], UINT64_MAX, &index) || argc > 2 ||
	    (argc == 2 && strcmp(argv[1], "raw")))
		return bad_usage("%s: get INDEX [raw]", "usage");
	if (kt_ledger_get(o->log, index, &e, &raw, &len, &err))
		return ledger_error(&err);
	kt_merkle_leaf_hash(raw, len, leaf);
	kt_print_open_object(NULL);
	if (argc == 2) {
		kt_print_hex("data", "%s\n", raw, len);
	} else {
		kt_uuid_format(e.host_id, host);
		kt_print_u64("index", "entry %s\n", e.index);
		kt_print_string("kind", "kind: %s\n", kt_ledger_kind_name(e.kind));
		kt_print_string("result", "result: %s\n", kt_ledger_result_name(e.result));
		kt_print_u64("time", "time: %s\n", e.time);
		kt_print_string("vm", "vm: %s\n", e.vm_id[0] ? e.vm_id : "-");
		kt_print_string("host", "host: %s\n", host);
		kt_print_hex("measurement", "measurement: %s\n", e.measurement, KT_HASH_LEN);
		kt_print_hex("prev_root", "prev root: %s\n", e.prev_root, KT_HASH_LEN);
		kt_print_hex("leaf_hash", "leaf hash: %s\n", leaf, KT_HASH_LEN);
		print_signer(e.cert, e.cert_len);
	}
	kt_print_close_object();
	free(raw);
	return 0;
}

static int cmd_head(struct ledger_opts *o)
{
	struct kt_ledger_sth sth;
	struct kt_err err = { 0 };
	uint8_t *raw;

	if (kt_ledger_head(o->log, &sth, &raw, &err))
		return ledger_error(&err);
	kt_print_open_object(NULL);
	kt_print_u64("size", "size: %s\n", sth.size);
	kt_print_u64("time", "time: %s\n", sth.time);
	kt_print_hex("root", "root: %s\n", sth.root, KT_HASH_LEN);
	if (raw)
		print_signer(sth.cert, sth.cert_len);
	kt_print_close_object();
	free(raw);
	return 0;
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

static int cmd_prove(struct ledger_opts *o, int argc, char *argv[])
{
	kt_hash proof[KT_MERKLE_MAX_PROOF], a, b;
	uint64_t x = 0, y = 0;
	struct kt_err err = { 0 };
	size_t len;
	bool incl = argc >= 2 && !strcmp(argv[0], "inclusion");

	if (argc < 2 || (!incl && strcmp(argv[0], "consistency")) ||
	    cli_parse_uint(argv[1], UINT64_MAX, &x) ||
	    (incl && argc != 2 && (argc != 4 || strcmp(argv[2], "size") ||
				   cli_parse_uint(argv[3], UINT64_MAX, &y) || !y)) ||
	    (!incl && (argc > 3 || (argc == 3 && (cli_parse_uint(argv[2], UINT64_MAX, &y) || !y)))))
		return bad_usage("%s: prove inclusion INDEX [size N] | prove consistency M [N]",
				 "usage");
	if (incl ? kt_ledger_prove_inclusion(o->log, x, y, a, b, proof, &len, &err) :
		   kt_ledger_prove_consistency(o->log, x, y, a, b, proof, &len, &err))
		return ledger_error(&err);
	kt_print_open_object(NULL);
	if (incl) {
		kt_print_u64("index", "index: %s\n", x);
		kt_print_hex("leaf_hash", "leaf hash: %s\n", a, KT_HASH_LEN);
		kt_print_hex("root", "root: %s\n", b, KT_HASH_LEN);
	} else {
		kt_print_u64("first_size", "first size: %s\n", x);
		kt_print_hex("first_root", "first root: %s\n", a, KT_HASH_LEN);
		kt_print_hex("root", "root: %s\n", b, KT_HASH_LEN);
	}
	print_path(proof, len);
	kt_print_close_object();
	return 0;
}

/* Long verifies report progress on a terminal. */
static int progress(const struct kt_ledger_entry *e, void *arg)
{
	(void)arg;
	if (e->index && e->index % 10000 == 0)
		fprintf(stderr, "\rverified %llu entries...", (unsigned long long)e->index);
	return 0;
}

static int cmd_verify(struct ledger_opts *o, int argc, char *argv[])
{
	struct kt_err err = { 0 };
	uint64_t size = 0, bad;
	bool tty = isatty(STDERR_FILENO);
	const char *pin = NULL;
	kt_hash root;
	int ret;

	if (argc == 2 && !strcmp(argv[0], "pin"))
		pin = argv[1];
	else if (argc)
		return bad_usage("%s: verify [pin FILE]", "usage");
	if (pin && ledger_state_read(pin, o->log, false))
		return KT_EXIT_FAILURE;
	ret = kt_ledger_walk(o->log, tty ? progress : NULL, NULL, &size, root, &bad, &err);
	if (!ret && pin && ledger_state_write(pin, size, root))
		return KT_EXIT_FAILURE;

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
	}
	kt_print_close_object();
	if (!ret)
		return 0;
	fprintf(stderr, "Error: %s\n", err.msg);
	return err.check && !strcmp(err.check, "unavailable") ? KT_EXIT_UNAVAILABLE :
	       KT_EXIT_REFUSED;
}

int ledger_main(int argc, char *argv[])
{
	struct ledger_opts o;
	const char *cmd;
	int status, i, ret;

	i = ledger_opts_parse(argc, argv, &o, usage, &status);
	if (i < 0)
		return status;
	cmd = argv[i++];
	if (strcmp(cmd, "append") && strcmp(cmd, "get") && strcmp(cmd, "head") &&
	    strcmp(cmd, "prove") && strcmp(cmd, "verify"))
		return cli_bad_usage("ledger", usage, "unknown command '%s'", cmd);
	ret = ledger_opts_open(&o, !strcmp(cmd, "append") || !strcmp(cmd, "verify"));
	if (ret)
		return ret;
	if (!strcmp(cmd, "append"))
		ret = cmd_append(&o, argc - i, argv + i);
	else if (!strcmp(cmd, "get"))
		ret = cmd_get(&o, argc - i, argv + i);
	else if (!strcmp(cmd, "head"))
		ret = argc == i ? cmd_head(&o) : bad_usage("%s: head takes no argument", "usage");
	else if (!strcmp(cmd, "prove"))
		ret = cmd_prove(&o, argc - i, argv + i);
	else
		ret = cmd_verify(&o, argc - i, argv + i);
	if (kt_print_end() && !ret)
		ret = KT_EXIT_FAILURE;
	ledger_opts_close(&o);
	return ret;
}
