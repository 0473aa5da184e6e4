// SPDX-License-Identifier: GPL-2.0
/*
 * kvmtrust snapshot save|list|show|verify|prune: attested snapshots of a
 * guest (Documentation/snapshots.rst).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "attest/hostkey.h"
#include "attest_cli.h"
#include "cli_util.h"
#include "common/encoding.h"
#include "common/outfile.h"
#include "common/qmp.h"
#include "measure/guest_pause.h"
#include "measure/kt_attach.h"
#include "measure/kt_nl.h"
#include "snapshot/snapshot.h"
#include "subcommands.h"
#include "vm_ref.h"

#define MIGRATE_TIMEOUT_MS (10 * 60 * 1000)

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s snapshot save " VM_REF_USAGE " [--qmp SOCKET] [--store DIR]\n"
		"                [--key-dir DIR] [--tcti TCTI] [--json | --script]\n"
		"       %s snapshot list [--uuid UUID] [--store DIR] [--json | --script]\n"
		"       %s snapshot show ID [--store DIR] [--json | --script]\n"
		"       %s snapshot verify ID (--pubkey PEM | --anchors FILE|DIR) [options]\n"
		"                [--store DIR] [--json | --script]\n"
		"       %s snapshot prune (ID | --keep N [--uuid UUID]) [--store DIR] [--json | --script]\n"
		"Saves a paused guest's pages (deduplicated by leaf hash), layout and roots with a\n"
		"report signed by the host key; QEMU guests (--qmp) also keep QEMU's migration stream.\n"
		"verify checks a snapshot offline; the report's age is not checked unless --max-age.\n"
		ATTEST_POLICY_USAGE
		"The store is $KVMTRUST_SNAPSHOT_DIR or " KT_SNAP_DEFAULT_STORE ".\n",
		prog, prog, prog, prog, prog);
	cli_usage_exits(f, CLI_EXITS_BASE | CLI_EXIT(KT_EXIT_NOT_FOUND) | CLI_EXIT(KT_EXIT_PERM) |
			CLI_EXIT(KT_EXIT_UNAVAILABLE) | CLI_EXIT(KT_EXIT_REFUSED));
}

enum { OPT_QMP = 256, OPT_STORE, OPT_KEY_DIR, OPT_TCTI, OPT_KEEP };

static const struct option options[] = {
	VM_REF_OPTIONS,
	{ "qmp", required_argument, NULL, OPT_QMP },
	{ "store", required_argument, NULL, OPT_STORE },
	{ "key-dir", required_argument, NULL, OPT_KEY_DIR },
	{ "tcti", required_argument, NULL, OPT_TCTI },
	{ "keep", required_argument, NULL, OPT_KEEP },
	ATTEST_POLICY_OPTIONS,
	CLI_OUTPUT_OPTIONS,
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct snap_args {
	struct vm_ref ref;
	const char *qmp, *store, *key_dir, *tcti;
	uint64_t keep;
	bool has_keep;
	struct attest_policy_args policy;
	enum kt_print_mode mode;
	char **pos;		/* positional arguments after the command */
	int nr_pos;
};

static void print_snapshot(const struct kt_snapshot *s, bool full)
{
	kt_print_open_object(NULL);
	kt_print_string("id", "snapshot: %s\n", s->id);
	kt_print_string("vm", "vm: %s\n", s->vm_id);
	kt_print_time("created", "created: %s\n", s->created);
	kt_print_string("vmm", "vmm: %s\n", s->vmm);
	kt_print_u64("seq", "seq: %s\n", s->seq);
	kt_print_u64("pages", "pages: %s\n", s->pages);
	kt_print_u64("zero_pages", "zero pages: %s\n", s->zero_pages);
	kt_print_u64("new_pages", "new pages stored: %s\n", s->new_pages);
	kt_print_hex("memory_root", "memory root: %s\n", s->memory_root, KT_HASH_LEN);
	if (s->has_vcpu_root)
		kt_print_hex("vcpu_root", "vcpu root: %s\n", s->vcpu_root, KT_HASH_LEN);
	if (full) {
		kt_print_u64("vcpus", "vcpus: %s\n", s->vcpus);
		kt_print_bool("stream", "qemu stream: %s\n", s->has_stream);
		kt_print_u64("stream_bytes", "stream bytes: %s\n", s->stream_bytes);
		kt_print_open_array("slots");
		for (size_t i = 0; i < s->nr_slots; i++) {
			kt_print_open_object(NULL);
			kt_print_u64("slot", "slot %s:", s->slots[i].id);
			kt_print_u64("gpa", NULL, s->slots[i].gpa);
			kt_print_text(" gpa 0x%llx", (unsigned long long)s->slots[i].gpa);
			kt_print_u64("size", " size %s", s->slots[i].size);
			kt_print_u64("hva", NULL, s->slots[i].hva);
			kt_print_text("\n");
			kt_print_close_object();
		}
		kt_print_close_array();
	}
	kt_print_close_object();
}

/* Exit status for a library failure: refusals of the snapshot's content are 10. */
static int snap_fail(const char *what, const struct kt_err *err)
{
	if (err->check && !strcmp(err->check, "snapshot"))
		return cli_error(what, err, KT_EXIT_NOT_FOUND);
	return cli_error(what, err, KT_EXIT_FAILURE);
}

/* QEMU's command line as a JSON array text (what a restore starts again). */
static char *qemu_argv_json(pid_t pid)
{
	char path[64], buf[65536], *text;
	json_t *arr = json_array();
	size_t len, off;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	f = fopen(path, "r");
	if (!f || !arr) {
		if (f)
			fclose(f);
		json_decref(arr);
		return NULL;
	}
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = 0;
	for (off = 0; off < len; off += strlen(buf + off) + 1)
		json_array_append_new(arr, json_string(buf + off));
	text = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	return text;
}

/* Writes QEMU's migration stream of the paused guest to path, hashing it. */
static int save_stream(struct kt_qmp *qmp, const char *path, struct kt_snapshot *s,
		       struct kt_err *err)
{
	char *uri;
	json_t *r;
	uint8_t buf[1 << 16];
	EVP_MD_CTX *ctx;
	unsigned int len;
	ssize_t got;
	FILE *f;

	if (strchr(path, '\''))
		return kt_fail(err, "stream", "the store's path holds a quote");
	if (asprintf(&uri, "exec:cat > '%s'", path) < 0)
		return kt_fail(err, "stream", "out of memory");
	r = kt_qmp_exec(qmp, "migrate", json_pack("{s:s}", "uri", uri), err);
	free(uri);
	if (!r || kt_qmp_wait_migrated(qmp, MIGRATE_TIMEOUT_MS, err)) {
		json_decref(r);
		return -1;
	}
	json_decref(r);
	f = fopen(path, "rb");
	ctx = EVP_MD_CTX_new();
	if (!f || !ctx) {
		if (f)
			fclose(f);
		EVP_MD_CTX_free(ctx);
		return kt_fail(err, "stream", "cannot read the migration stream: %s", strerror(errno));
	}
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while ((got = fread(buf, 1, sizeof(buf), f)) > 0) {
		EVP_DigestUpdate(ctx, buf, got);
		s->stream_bytes += got;
	}
	fclose(f);
	EVP_DigestFinal_ex(ctx, s->stream_sha256, &len);
	EVP_MD_CTX_free(ctx);
	s->has_stream = true;
	return 0;
}

/* The registers behind vcpu_root, which they must recompute. */
static int capture_vcpus(struct kt_nl *nl, uint32_t vm_id, struct kt_snapshot *s,
			 struct kt_err *err)
{
	kt_hash root;
	int ret;

	if (!s->has_vcpu_root)
		return 0;
	ret = kt_nl_vcpu_get(nl, vm_id, &s->vcpu_regs, &s->nr_vcpu_regs, err);
	if (ret)
		return ret;
	if (kt_snap_vcpu_root(s->vcpu_regs, s->nr_vcpu_regs, root))
		return -ENOMEM;
	if (s->nr_vcpu_regs != s->vcpus || memcmp(root, s->vcpu_root, KT_HASH_LEN)) {
		kt_fail(err, "vcpu_root", "the vcpu registers read do not hash to the module's "
			"vcpu_root");
		return -EIO;
	}
	return 0;
}

static bool same_slots(const struct kt_memslot *a, size_t na, const struct kt_memslot *b,
		       size_t nb)
{
	return na == nb && !memcmp(a, b, na * sizeof(*a));
}

/*
 * While the guest is paused: layout, the module's measurement, every page
 * through /proc/PID/mem (its root must be the module's), the layout again,
 * and QEMU's stream.
 */
static int capture(struct kt_nl *nl, const struct kt_vm *vm, struct snap_args *a,
		   struct kt_qmp *qmp, struct kt_snapshot *s, const char *stream,
		   struct kt_err *err)
{
	struct kt_memslot *slots = NULL, *again = NULL;
	struct kt_measurement m;
	size_t nr = 0, nr_again = 0, i;
	int ret;

	ret = kt_nl_memslots(nl, vm->vm_id, &slots, &nr, err);
	if (!ret)
		ret = kt_nl_measure(nl, vm->vm_id, KVMTRUST_MEASURE_F_FREEZE, &m, err);
	if (ret)
		goto out;
	s->slots = calloc(nr ?: 1, sizeof(*s->slots));
	ret = -ENOMEM;
	if (!s->slots)
		goto out;
	for (i = 0; i < nr; i++)
		s->slots[i] = (struct kt_snap_slot){ .gpa = slots[i].gpa, .size = slots[i].size,
			.hva = slots[i].hva, .id = slots[i].id, .flags = slots[i].flags };
	s->nr_slots = nr;
	ret = -EIO;
	if (kt_snap_capture(a->store, vm->vmm_pid, s, err))
		goto out;
	ret = kt_nl_memslots(nl, vm->vm_id, &again, &nr_again, err);
	if (ret)
		goto out;
	ret = -EAGAIN;
	if (!same_slots(slots, nr, again, nr_again)) {
		kt_fail(err, "layout", "the guest's memory layout changed during the capture");
		goto out;
	}
	if (memcmp(s->memory_root, m.memory_root, KT_HASH_LEN) || s->pages != m.pages) {
		kt_fail(err, "memory_root", "the pages read through /proc/%u/mem do not hash to "
			"the module's memory_root", vm->vmm_pid);
		goto out;
	}
	s->seq = m.seq;
	s->leaf_format = m.leaf_format;
	s->has_vcpu_root = m.has_vcpu_root;
	memcpy(s->vcpu_root, m.vcpu_root, KT_HASH_LEN);
	s->vcpus = m.vcpus;
	ret = capture_vcpus(nl, vm->vm_id, s, err);
	if (ret)
		goto out;
	ret = qmp ? (save_stream(qmp, stream, s, err) ? -EIO : 0) : 0;
out:
	free(slots);
	free(again);
	return ret;
}

static int cmd_save(struct snap_args *a)
{
	struct kt_snapshot s = { 0 };
	struct kt_guest_pause g = { 0 };
	struct kt_hostkey *hk = NULL;
	struct kt_err err = { 0 }, rerr = { 0 };
	struct kt_nl *nl = NULL;
	struct vm_name vm;
	struct kt_vm kvm;
	char stream[PATH_MAX] = "";
	bool attached;
	int ret;

	ret = vm_ref_check(&a->ref);
	if (!ret)
		ret = vm_ref_resolve(&a->ref, VM_REF_PROCESS, &vm);
	if (ret)
		return ret;
	if (kt_hostkey_open(a->key_dir, a->tcti, &hk, &err))
		return attest_hostkey_error("open the host key", &err);
	ret = KT_EXIT_FAILURE;
	if (a->qmp && !(g.qmp = kt_qmp_open(a->qmp, &err))) {
		cli_error("connect to QEMU", &err, KT_EXIT_FAILURE);
		goto out;
	}
	if (g.qmp && kt_qmp_pid(g.qmp) != vm.pid) {
		fprintf(stderr, "%s: the QMP socket belongs to process %d, not %d\n", prog,
			(int)kt_qmp_pid(g.qmp), (int)vm.pid);
		ret = KT_EXIT_USAGE;
		goto out;
	}
	nl = cli_nl_open();
	if (!nl) {
		ret = KT_EXIT_UNAVAILABLE;
		goto out;
	}
	ret = kt_vm_attach_pid(nl, vm.pid, &kvm, &attached, &err);
	if (ret) {
		ret = cli_fail(&err, ret);
		goto out;
	}
	strcpy(s.vm_id, vm.uuid);
	strcpy(s.vmm, g.qmp ? "qemu" : "other");
	if (g.qmp) {
		s.qemu_argv = qemu_argv_json(vm.pid);
		snprintf(stream, sizeof(stream), "%s/snapshots/.stream.%d", a->store, (int)getpid());
		if (kt_dir_make(a->store, 0755, &err) || kt_dir_make_in(a->store, "snapshots", &err)) {
			ret = cli_error(NULL, &err, KT_EXIT_FAILURE);
			goto out;
		}
	}
	g.pid = vm.pid;
	ret = kt_guest_pause(&g, &err);
	if (!ret)
		ret = capture(nl, &kvm, a, g.qmp, &s, stream, &err);
	if (kt_guest_resume(&g, &rerr))
		fprintf(stderr, "%s: unable to continue the guest: %s\n", prog, rerr.msg);
	if (ret) {
		ret = ret == -EIO || ret == -EAGAIN || ret == -ENOMEM ?
		      cli_error("snapshot", &err, KT_EXIT_FAILURE) : cli_fail(&err, ret);
		goto out;
	}
	if (kt_snap_commit(a->store, &s, stream[0] ? stream : NULL, hk, &err)) {
		ret = cli_error("snapshot", &err, KT_EXIT_FAILURE);
		goto out;
	}
	stream[0] = 0;
	kt_print_start(a->mode);
	print_snapshot(&s, false);
	ret = kt_print_end() ? KT_EXIT_FAILURE : KT_EXIT_OK;
out:
	if (stream[0])
		unlink(stream);
	kt_snap_free(&s);
	kt_nl_close(nl);
	kt_qmp_close(g.qmp);
	kt_hostkey_close(hk);
	return ret;
}

static int cmd_list(struct snap_args *a)
{
	struct kt_err err = { 0 };
	struct kt_snapshot s;
	char **ids, uuid[KT_UUID_STR_LEN + 1];
	size_t nr, i;
	int ret = KT_EXIT_OK;

	if (a->nr_pos)
		return cli_bad_usage("snapshot", usage, "unexpected argument '%s'", a->pos[0]);
	if (a->ref.uuid && kt_uuid_canonical(a->ref.uuid, uuid))
		return cli_bad_usage("snapshot", NULL, "--uuid '%s' is not a UUID", a->ref.uuid);
	if (kt_snap_list(a->store, &ids, &nr, &err))
		return snap_fail(NULL, &err);
	kt_print_start(a->mode);
	kt_print_open_array("snapshots");
	for (i = 0; i < nr; i++) {
		if (kt_snap_load(a->store, ids[i], &s, &err)) {
			fprintf(stderr, "%s: snapshot %s: %s\n", prog, ids[i], err.msg);
			ret = KT_EXIT_FAILURE;
			continue;
		}
		if (!a->ref.uuid || !strcmp(s.vm_id, uuid))
			print_snapshot(&s, false);
		kt_snap_free(&s);
	}
	kt_print_close_array();
	if (kt_print_end())
		ret = KT_EXIT_FAILURE;
	kt_snap_list_free(ids, nr);
	return ret;
}

static int cmd_show(struct snap_args *a)
{
	struct kt_err err = { 0 };
	struct kt_snapshot s;

	if (a->nr_pos != 1)
		return cli_bad_usage("snapshot", usage, "show takes one snapshot id");
	if (kt_snap_load(a->store, a->pos[0], &s, &err))
		return snap_fail(NULL, &err);
	kt_print_start(a->mode);
	print_snapshot(&s, true);
	kt_snap_free(&s);
	return kt_print_end() ? KT_EXIT_FAILURE : KT_EXIT_OK;
}

static int cmd_verify(struct snap_args *a)
{
	struct kt_err err = { 0 };
	struct kt_snapshot s;
	int ret;

	if (a->nr_pos != 1)
		return cli_bad_usage("snapshot", usage, "verify takes one snapshot id");
	if (!a->policy.key_file && !a->policy.policy.anchors)
		return cli_bad_usage("snapshot", usage, "verify needs --pubkey or --anchors");
	ret = attest_policy_ready(&a->policy);
	if (ret)
		return ret;
	if (!a->policy.policy.max_age)
		a->policy.policy.max_age = -1;
	ret = kt_snap_verify(a->store, a->pos[0], &a->policy.policy, &s, &err);
	if (ret && err.check && !strcmp(err.check, "snapshot"))
		return snap_fail(NULL, &err);
	kt_print_start(a->mode);
	kt_print_open_object(NULL);
	kt_print_string("id", "snapshot: %s\n", a->pos[0]);
	if (ret) {
		ret = cli_print_refused(&err);
		kt_print_end();
		return ret;
	}
	cli_print_verdict(CLI_VERIFIED, "verdict: %s\n");
	kt_print_string("vm", "vm: %s\n", s.vm_id);
	kt_print_u64("pages", "pages: %s\n", s.pages);
	kt_print_hex("memory_root", "memory root: %s\n", s.memory_root, KT_HASH_LEN);
	if (s.has_vcpu_root)
		kt_print_hex("vcpu_root", "vcpu root: %s\n", s.vcpu_root, KT_HASH_LEN);
	kt_print_close_object();
	kt_snap_free(&s);
	return kt_print_end() ? KT_EXIT_FAILURE : KT_EXIT_OK;
}

/* --keep N [--uuid UUID]: every snapshot (of that VM) but the newest N. */
static int ids_beyond_keep(struct snap_args *a, char ***out, size_t *nr_out,
			   struct kt_err *err)
{
	char **ids, **drop, uuid[KT_UUID_STR_LEN + 1];
	struct kt_snapshot s;
	size_t nr, i, n = 0, kept = 0;

	if (a->ref.uuid && kt_uuid_canonical(a->ref.uuid, uuid))
		return kt_fail(err, "usage", "--uuid '%s' is not a UUID", a->ref.uuid);
	if (kt_snap_list(a->store, &ids, &nr, err))
		return -1;
	drop = calloc(nr ?: 1, sizeof(*drop));
	for (i = nr; drop && i-- > 0;) {
		if (a->ref.uuid) {
			if (kt_snap_load(a->store, ids[i], &s, err))
				goto fail;
			bool mine = !strcmp(s.vm_id, uuid);

			kt_snap_free(&s);
			if (!mine)
				continue;
		}
		if (kept++ < a->keep)
			continue;
		drop[n++] = ids[i];
		ids[i] = NULL;
	}
	kt_snap_list_free(ids, nr);
	if (!drop)
		return kt_fail(err, "snapshot", "out of memory");
	*out = drop;
	*nr_out = n;
	return 0;
fail:
	kt_snap_list_free(ids, nr);
	kt_snap_list_free(drop, n);
	return -1;
}

static int cmd_prune(struct snap_args *a)
{
	struct kt_err err = { 0 };
	char **ids = a->pos;
	size_t nr = a->nr_pos;
	uint64_t freed;
	int ret;

	if (a->has_keep == (a->nr_pos > 0) || a->nr_pos > 1)
		return cli_bad_usage("snapshot", usage, "prune takes one snapshot id or --keep N");
	if (a->has_keep && ids_beyond_keep(a, &ids, &nr, &err))
		return snap_fail(NULL, &err);
	ret = kt_snap_prune(a->store, ids, nr, &freed, &err);
	if (a->has_keep)
		kt_snap_list_free(ids, nr);
	if (ret)
		return snap_fail(NULL, &err);
	kt_print_start(a->mode);
	kt_print_open_object(NULL);
	kt_print_u64("removed", "snapshots removed: %s\n", nr);
	kt_print_u64("pages_freed", "pages freed: %s\n", freed);
	kt_print_close_object();
	return kt_print_end() ? KT_EXIT_FAILURE : KT_EXIT_OK;
}

static int parse(int argc, char *argv[], struct snap_args *a)
{
	int c;

	while ((c = cli_getopt(argc, argv, "hjs", options)) != -1) {
		if (vm_ref_option(&a->ref, c, optarg))
			continue;
		if (c >= ATTEST_OPT_BASE && c < ATTEST_OPT_END) {
			if (attest_policy_option(&a->policy, c, optarg))
				return KT_EXIT_USAGE;
			continue;
		}
		switch (c) {
		case OPT_QMP: a->qmp = optarg; break;
		case OPT_STORE: a->store = optarg; break;
		case OPT_KEY_DIR: a->key_dir = optarg; break;
		case OPT_TCTI: a->tcti = optarg; break;
		case OPT_KEEP:
			if (cli_parse_uint(optarg, UINT32_MAX, &a->keep))
				return cli_bad_usage("snapshot", usage, "--keep takes a count");
			a->has_keep = true;
			break;
		default:
			if (cli_output_option(c, &a->mode))
				break;
			return cli_option_usage(usage, c) ? KT_EXIT_USAGE : -1;
		}
	}
	a->pos = argv + optind;
	a->nr_pos = argc - optind;
	return 0;
}

int snapshot_main(int argc, char *argv[])
{
	struct snap_args a = { .store = kt_snap_default_store(),
			       .key_dir = kt_hostkey_default_dir(),
			       .tcti = kt_hostkey_default_tcti() };
	const char *cmd = argc > 1 ? argv[1] : NULL;
	int rc;

	if (cli_group_usage(argc, argv, usage, &rc))
		return rc;
	rc = parse(argc - 1, argv + 1, &a);
	if (rc)
		return rc < 0 ? KT_EXIT_OK : rc;
	if (!strcmp(cmd, "save"))
		rc = a.nr_pos ? cli_bad_usage("snapshot", usage, "unexpected argument '%s'",
					     a.pos[0]) : cmd_save(&a);
	else if (!strcmp(cmd, "list"))
		rc = cmd_list(&a);
	else if (!strcmp(cmd, "show"))
		rc = cmd_show(&a);
	else if (!strcmp(cmd, "verify"))
		rc = cmd_verify(&a);
	else if (!strcmp(cmd, "prune"))
		rc = cmd_prune(&a);
	else
		rc = cli_bad_usage("snapshot", usage, "unknown command '%s'", cmd);
	attest_policy_free(&a.policy);
	return rc;
}
