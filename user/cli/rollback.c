// SPDX-License-Identifier: GPL-2.0
/*
 * kvmtrust rollback: restores a guest to an attested snapshot, and lets it
 * run only once the restored state is proven (Documentation/snapshots.rst,
 * "Restore ordering").
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attest_cli.h"
#include "cli_util.h"
#include "common/qmp.h"
#include "grant_common.h"
#include "measure/guest_pause.h"
#include "measure/kt_attach.h"
#include "measure/kt_nl.h"
#include "rollback_cli.h"
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_restore.h"
#include "subcommands.h"
#include "vm_ref.h"

#define START_WAIT_MS 30000
#define INCOMING_WAIT_MS (10 * 60 * 1000)

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s rollback " VM_REF_USAGE " --to SNAPSHOT (--pubkey PEM | --anchors FILE|DIR)\n"
		"                [--qmp SOCKET] [--log FILE] [--store DIR] [--json | --script]\n"
		"                [--ledger SPEC [--ledger-ca PATH] --key KEY --cert CERT]\n"
		"Verifies the snapshot, then restores the guest to it and continues it only once\n"
		"the module measures exactly the attested memory_root and vcpu_root. QEMU guests\n"
		"(--qmp) restart from the stored migration stream; the old QEMU quits on success.\n"
		"A refused or unproven restore leaves the guest paused. With --ledger, the\n"
		"rollback is appended to the ledger, signed with KEY and CERT (this host's).\n"
		ATTEST_POLICY_USAGE, prog);
	cli_usage_exits(f, CLI_EXITS_BASE | CLI_EXIT(KT_EXIT_NOT_FOUND) | CLI_EXIT(KT_EXIT_PERM) |
			CLI_EXIT(KT_EXIT_UNAVAILABLE) | CLI_EXIT(KT_EXIT_REFUSED));
}

enum { OPT_TO = 256 };

static const struct option options[] = {
	VM_REF_OPTIONS,
	{ "to", required_argument, NULL, OPT_TO },
	ROLLBACK_OPTIONS,
	ATTEST_POLICY_OPTIONS,
	CLI_OUTPUT_OPTIONS,
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};


static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Starts the restoring QEMU in a session of its own; it outlives us. */
static pid_t start_qemu(char **argv, const char *log, struct kt_err *err)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0) {
		kt_fail(err, "restore", "cannot fork: %s", strerror(errno));
		return -1;
	}
	if (pid)
		return pid;
	setsid();
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0)
		dup2(fd, 0);
	fd = open(log ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	execvp(argv[0], argv);
	_exit(127);
}

/* Connects to the new QEMU's own monitor once it listens. */
static struct kt_qmp *connect_new(const char *path, pid_t pid, struct kt_err *err)
{
	struct kt_qmp *q;
	unsigned int waited;

	for (waited = 0; waited < START_WAIT_MS; waited += 50) {
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			kt_fail(err, "restore", "the restoring QEMU exited (see --log)");
			return NULL;
		}
		q = kt_qmp_open(path, err);
		if (q && kt_qmp_pid(q) == pid)
			return q;
		kt_qmp_close(q);
		sleep_ms(50);
	}
	kt_fail(err, "restore", "the restoring QEMU did not answer on %s", path);
	return NULL;
}

/* Waits until QEMU has loaded the stream and sits paused. */
static int wait_loaded(struct kt_qmp *q, struct kt_err *err)
{
	char state[32];
	unsigned int waited;

	for (waited = 0; waited < INCOMING_WAIT_MS; waited += 20) {
		if (kt_qmp_runstate(q, state, sizeof(state), err))
			return -1;
		if (strcmp(state, "inmigrate"))
			break;
		sleep_ms(20);
	}
	if (strcmp(state, "paused"))
		return kt_fail(err, "restore", "the restoring QEMU is %s, not paused after loading "
			       "the stream", state);
	return 0;
}

static void print_restored_fields(const struct kt_snapshot *s, pid_t pid,
				  const struct kt_measurement *m)
{
	cli_print_verdict(CLI_VERIFIED, "verdict: %s (restored and proven)\n");
	kt_print_string("vm", "vm: %s\n", s->vm_id);
	kt_print_string("snapshot", "snapshot: %s\n", s->id);
	kt_print_s64("pid", "pid: %s\n", pid);
	kt_print_u64("seq", "seq: %s\n", m->seq);
	kt_print_hex("memory_root", "memory root: %s\n", m->memory_root, KT_HASH_LEN);
	if (m->has_vcpu_root)
		kt_print_hex("vcpu_root", "vcpu root: %s\n", m->vcpu_root, KT_HASH_LEN);
}

/*
 * The guest runs in the proven state: records it (with --ledger), prints
 * it. A failed ledger write is said and exits 1; the guest keeps running.
 */
static int report_restored(struct rollback_args *a, const struct kt_snapshot *s, pid_t pid,
			   const struct kt_measurement *m, int64_t written)
{
	struct kt_err err = { 0 };
	uint64_t index = 0;
	bool recorded = false;
	int ret = KT_EXIT_OK;

	if (a->ledger.spec) {
		if (rollback_ledger_record(&a->ledger, a->store, s, m->memory_root, &index, &err))
			ret = cli_error("cannot record the rollback in the ledger", &err,
					KT_EXIT_FAILURE);
		else
			recorded = true;
	}
	kt_print_start(a->mode);
	kt_print_open_object(NULL);
	print_restored_fields(s, pid, m);
	if (written >= 0)
		kt_print_u64("pages_written", "pages written: %s\n", written);
	if (recorded)
		kt_print_u64("ledger_index", "ledger entry: %s\n", index);
	kt_print_close_object();
	if (kt_print_end())
		ret = KT_EXIT_FAILURE;
	return ret;
}

/*
 * QEMU unlinks the unix sockets it listens on (-qmp, -monitor, chardevs)
 * by the path it bound when it quits, and binds by unlinking what is there:
 * two QEMUs with one command line take each other's monitor away. So the
 * paths of one are renamed aside (PATH.SUFFIX) while the other binds or
 * quits, and moved back after.
 */
struct sockets {
	char path[16][108];
	size_t n;
	const char *suffix;
};

static size_t socket_inodes(pid_t pid, unsigned long *inodes, size_t max)
{
	char fdpath[64], p[320], link[64];
	unsigned long inode;
	struct dirent *de;
	size_t n = 0;
	ssize_t len;
	DIR *d;

	snprintf(fdpath, sizeof(fdpath), "/proc/%d/fd", (int)pid);
	d = opendir(fdpath);
	while (d && (de = readdir(d)) && n < max) {
		snprintf(p, sizeof(p), "%s/%s", fdpath, de->d_name);
		len = readlink(p, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = 0;
		if (sscanf(link, "socket:[%lu]", &inode) == 1)
			inodes[n++] = inode;
	}
	if (d)
		closedir(d);
	return n;
}

static void hide_sockets(pid_t pid, struct sockets *s)
{
	char line[512], path[108], aside[128];
	unsigned long inode, inodes[64];
	size_t ni = socket_inodes(pid, inodes, 64), i;
	FILE *f = fopen("/proc/net/unix", "r");

	s->n = 0;
	while (f && fgets(line, sizeof(line), f) && s->n < 16) {
		/* Num RefCount Protocol Flags Type St Inode Path */
		if (sscanf(line, "%*s %*s %*s %*s %*s %*s %lu %107s", &inode, path) != 2 ||
		    path[0] != '/')
			continue;
		for (i = 0; i < ni && inodes[i] != inode; i++)
			;
		snprintf(aside, sizeof(aside), "%s.%s", path, s->suffix);
		if (i < ni && !rename(path, aside))
			snprintf(s->path[s->n++], 108, "%s", path);
	}
	if (f)
		fclose(f);
}

/* Moves the paths back, over whatever is there now. */
static void unhide_sockets(const struct sockets *s)
{
	char aside[128];
	size_t i;

	for (i = 0; i < s->n; i++) {
		snprintf(aside, sizeof(aside), "%s.%s", s->path[i], s->suffix);
		if (rename(aside, s->path[i]))
			fprintf(stderr, "%s: cannot move %s back: %s\n", prog, aside, strerror(errno));
	}
}

static void drop_hidden(const struct sockets *s)
{
	char aside[128];
	size_t i;

	for (i = 0; i < s->n; i++) {
		snprintf(aside, sizeof(aside), "%s.%s", s->path[i], s->suffix);
		unlink(aside);
	}
}

/* Exited: no /proc entry, or a zombie its parent has not reaped. */
static bool gone(pid_t pid)
{
	char path[64], buf[256], *p;
	bool dead = true;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return true;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		dead = p[2] == 'Z' || p[2] == 'X';
	fclose(f);
	return dead;
}

/* The old QEMU quits; the new one's sockets, at the same paths, survive it. */
static void quit_old(struct kt_qmp *old_qmp, pid_t old, pid_t pid, const struct sockets *olds)
{
	struct sockets news = { .suffix = "kt-new" };
	struct kt_err err = { 0 };
	int i;

	hide_sockets(pid, &news);
	json_decref(kt_qmp_exec(old_qmp, "quit", NULL, &err));
	for (i = 0; i < 200 && !gone(old); i++)
		sleep_ms(50);
	unhide_sockets(&news);
	drop_hidden(olds);
}

/* A failed restore: the new QEMU dies, the old one gets its sockets back. */
static void abandon_new(pid_t pid, const struct sockets *olds)
{
	size_t i;

	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	/* A killed QEMU leaves its socket files behind. */
	for (i = 0; i < olds->n; i++)
		unlink(olds->path[i]);
	unhide_sockets(olds);
}


/*
 * Old QEMU paused; a new one from the stream, paused; proven; only then the
 * old one quits and the new one runs. Any failure kills the new one and
 * leaves the old one paused.
 */
static int rollback_qemu(struct rollback_args *a, const struct kt_snapshot *s, pid_t old)
{
	struct kt_guest_pause g = { .pid = old };
	struct sockets olds = { .suffix = "kt-rollback" };
	struct kt_measurement m;
	struct kt_qmp *nq = NULL;
	struct kt_err err = { 0 };
	char *stream = NULL, *qmp = NULL, **argv = NULL;
	pid_t pid = -1;
	int ret = KT_EXIT_FAILURE, r;
	json_t *j;

	g.qmp = kt_qmp_open(a->qmp, &err);
	if (!g.qmp)
		return cli_error("connect to QEMU", &err, KT_EXIT_FAILURE);
	if (kt_qmp_pid(g.qmp) != old) {
		fprintf(stderr, "%s: the QMP socket belongs to process %d, not %d\n", prog,
			(int)kt_qmp_pid(g.qmp), (int)old);
		kt_qmp_close(g.qmp);
		return KT_EXIT_USAGE;
	}
	if (asprintf(&stream, "%s/snapshots/%s/migration.bin", a->store, s->id) < 0 ||
	    asprintf(&qmp, "%s/" KT_SNAP_RESTORE_QMP_PREFIX "%d.qmp", a->store, (int)getpid()) < 0 ||
	    kt_snap_qemu_argv(s, stream, qmp, &argv, &err)) {
		ret = cli_error("rollback", &err, KT_EXIT_FAILURE);
		goto out;
	}
	if (kt_guest_pause(&g, &err)) {
		ret = cli_error("pause the guest", &err, KT_EXIT_FAILURE);
		kt_guest_stay_paused(&g);
		goto out;
	}
	hide_sockets(old, &olds);
	pid = start_qemu(argv, a->log, &err);
	r = pid < 0 ? -1 : 0;
	if (!r && !(nq = connect_new(qmp, pid, &err)))
		r = -1;
	if (!r)
		r = wait_loaded(nq, &err);
	if (!r)
		r = kt_snap_prove(pid, s, &m, &err);
	if (r) {
		abandon_new(pid, &olds);
		kt_guest_stay_paused(&g);
		fprintf(stderr, "%s: the guest stays paused\n", prog);
		ret = r == -EPERM || (err.check && !strcmp(err.check, "proof")) ?
		      cli_refused(&err) : cli_error("rollback", &err, KT_EXIT_FAILURE);
		goto out;
	}
	quit_old(g.qmp, old, pid, &olds);
	g.paused = false;
	kt_guest_stay_paused(&g);
	j = kt_qmp_exec(nq, "cont", NULL, &err);
	if (!j) {
		ret = cli_error("continue the restored guest", &err, KT_EXIT_FAILURE);
		goto out;
	}
	json_decref(j);
	ret = report_restored(a, s, pid, &m, -1);
out:
	if (qmp)
		unlink(qmp);
	kt_qmp_close(nq);
	kt_qmp_close(g.qmp);
	kt_snap_argv_free(argv);
	free(stream);
	free(qmp);
	return ret;
}

/*
 * Our own VMM (no device state outside KVM): freeze, write back the pages
 * that differ, restore the registers through the module, re-measure. Only a
 * proven guest continues; from the first byte written on, any failure
 * leaves it frozen.
 */
static int rollback_vmm(struct rollback_args *a, const struct kt_snapshot *s, pid_t pid)
{
	struct kt_snap_restored r;
	struct kt_err err = { 0 };
	struct kt_nl *nl;
	struct kt_vm vm;
	bool attached;
	int ret;

	nl = cli_nl_open();
	if (!nl)
		return KT_EXIT_UNAVAILABLE;
	ret = kt_vm_attach_pid(nl, pid, &vm, &attached, &err);
	if (ret) {
		ret = cli_fail(&err, ret);
		goto out;
	}
	ret = kt_snap_restore_vmm(a->store, nl, vm.vm_id, pid, s, &r, &err);
	if (ret && r.frozen)
		fprintf(stderr, "%s: the guest stays frozen (kill -CONT %d resumes it unproven)\n",
			prog, (int)pid);
	if (ret)
		ret = kt_snap_refusal(&err) ? cli_refused(&err) :
		      cli_error("rollback", &err, KT_EXIT_FAILURE);
	else
		ret = report_restored(a, s, pid, &r.m, (int64_t)r.pages_written);
out:
	kt_nl_close(nl);
	return ret;
}

/* Pauses, measures and compares the guest with s; resumes it. */
static int compare(struct rollback_args *a, const struct kt_snapshot *s, pid_t pid,
		   bool quiet, struct kt_err *err)
{
	struct kt_guest_pause g = { .pid = pid };
	struct kt_memslot *slots = NULL;
	struct kt_snap_diff diff = { 0 };
	struct kt_measurement m;
	struct kt_err rerr = { 0 };
	struct kt_nl *nl;
	struct kt_vm vm;
	bool attached;
	size_t nr = 0, i;
	int r, ret = KT_EXIT_OK;
	char ranges[400] = "";

	if (a->qmp && !(g.qmp = kt_qmp_open(a->qmp, err)))
		return cli_error("connect to QEMU", err, KT_EXIT_FAILURE);
	nl = cli_nl_open();
	if (!nl) {
		kt_qmp_close(g.qmp);
		return KT_EXIT_UNAVAILABLE;
	}
	r = kt_vm_attach_pid(nl, pid, &vm, &attached, err);
	if (!r)
		r = kt_guest_pause(&g, err);
	if (!r)
		r = kt_nl_memslots(nl, vm.vm_id, &slots, &nr, err);
	if (!r)
		r = kt_nl_measure(nl, vm.vm_id, KVMTRUST_MEASURE_F_FREEZE, &m, err);
	if (!r && memcmp(m.memory_root, s->memory_root, KT_HASH_LEN) &&
	    !kt_snap_same_layout(s, slots, nr, err) &&
	    kt_snap_diff_pages(a->store, pid, s, slots, false, &diff, err))
		r = -EIO;
	if (kt_guest_resume(&g, &rerr))
		fprintf(stderr, "%s: unable to continue the guest: %s\n", prog, rerr.msg);
	if (r) {
		ret = cli_fail(err, r);
		goto out;
	}
	for (i = 0; i < diff.nr; i++)
		snprintf(ranges + strlen(ranges), sizeof(ranges) - strlen(ranges), "%s0x%llx-0x%llx",
			 i ? ", " : "", (unsigned long long)diff.range[i].gpa,
			 (unsigned long long)diff.range[i].end);
	if (memcmp(m.memory_root, s->memory_root, KT_HASH_LEN)) {
		if (err->check && !strcmp(err->check, "layout"))
			ret = -1;	/* the layout differs: err says how */
		else
			kt_fail(err, "memory_root", "the guest diverged from snapshot %s in %llu "
				"pages: %s%s", s->id, (unsigned long long)diff.pages, ranges,
				diff.pages > diff.nr ? ", ..." : "");
		ret = -1;
	} else if (s->has_vcpu_root && memcmp(m.vcpu_root, s->vcpu_root, KT_HASH_LEN)) {
		kt_fail(err, "vcpu_root", "the guest's vcpu registers diverged from snapshot %s",
			s->id);
		ret = -1;
	}
	if (ret && quiet) {
		/* The rollback that follows prints the one result. */
		ret = cli_refused(err);
		goto out;
	}
	kt_print_start(a->mode);
	kt_print_open_object(NULL);
	kt_print_string("snapshot", "snapshot: %s\n", s->id);
	kt_print_string("vm", "vm: %s\n", s->vm_id);
	if (ret) {
		kt_print_u64("pages_differing", "pages differing: %s\n", diff.pages);
		ret = cli_print_refused(err);
	} else {
		cli_print_verdict(CLI_VERIFIED, "verdict: %s (the guest is in the attested state)\n");
		kt_print_u64("seq", "seq: %s\n", m.seq);
		kt_print_close_object();
	}
	if (kt_print_end() && !ret)
		ret = KT_EXIT_FAILURE;
out:
	free(slots);
	kt_nl_close(nl);
	kt_qmp_close(g.qmp);
	return ret;
}

/*
 * The VM named, and snapshot a->to verified completely and of that VM: 0,
 * or the exit status (said). Nothing of the guest is touched.
 */
static int load_verified(struct rollback_args *a, struct vm_name *vm, struct kt_snapshot *s)
{
	struct kt_err err = { 0 };
	int ret;

	ret = vm_ref_check(&a->ref);
	if (!ret)
		ret = vm_ref_resolve(&a->ref, VM_REF_PROCESS, vm);
	if (!ret && !a->policy.policy.key)
		ret = attest_policy_ready(&a->policy);
	if (ret)
		return ret;
	if (!a->policy.policy.max_age)
		a->policy.policy.max_age = -1;
	if (kt_snap_verify(a->store, a->to, &a->policy.policy, s, &err)) {
		if (err.check && !strcmp(err.check, "snapshot"))
			return cli_error(NULL, &err, KT_EXIT_NOT_FOUND);
		return cli_refused(&err);
	}
	if (strcmp(s->vm_id, vm->uuid)) {
		kt_fail(&err, "vm", "snapshot %s is of vm %s, not %s", s->id, s->vm_id, vm->uuid);
		kt_snap_free(s);
		return cli_refused(&err);
	}
	return 0;
}

int rollback_against(struct rollback_args *a, bool rollback)
{
	struct kt_snapshot s;
	struct kt_err err = { 0 };
	struct vm_name vm;
	int ret;

	ret = load_verified(a, &vm, &s);
	if (ret)
		return ret;
	ret = compare(a, &s, vm.pid, rollback, &err);
	kt_snap_free(&s);
	if (ret == KT_EXIT_REFUSED && rollback) {
		fprintf(stderr, "%s: rolling back to snapshot %s\n", prog, a->to);
		/* The snapshot is verified again: the store may have changed meanwhile. */
		ret = rollback_run(a);
	}
	return ret;
}

int rollback_run(struct rollback_args *a)
{
	struct kt_snapshot s;
	struct vm_name vm;
	int ret;

	/* Before a single byte of the guest is touched. */
	ret = load_verified(a, &vm, &s);
	if (ret)
		return ret;
	if (!strcmp(s.vmm, "qemu"))
		ret = a->qmp ? rollback_qemu(a, &s, vm.pid) :
		      cli_bad_usage("rollback", NULL, "a QEMU snapshot needs --qmp");
	else
		ret = rollback_vmm(a, &s, vm.pid);
	kt_snap_free(&s);
	return ret;
}

bool rollback_option(struct rollback_args *a, int opt, const char *arg)
{
	switch (opt) {
	case ROLLBACK_O_QMP: a->qmp = arg; return true;
	case ROLLBACK_O_STORE: a->store = arg; return true;
	case ROLLBACK_O_LOG: a->log = arg; return true;
	case ROLLBACK_O_LEDGER: a->ledger.spec = arg; return true;
	case ROLLBACK_O_LEDGER_CA: a->ledger.ca = arg; return true;
	case ROLLBACK_O_KEY: a->ledger.key = arg; return true;
	case ROLLBACK_O_CERT: a->ledger.cert = arg; return true;
	}
	return false;
}

int rollback_ledger_ready(struct rollback_args *a, const char *group, void (*usage)(FILE *))
{
	if (!a->ledger.spec)
		return KT_EXIT_OK;
	if (!a->ledger.key || !a->ledger.cert)
		return cli_bad_usage(group, usage, "--ledger needs --key and --cert");
	a->ledger.owners = grant_cli_path(NULL, KT_OWNER_ANCHORS_ENV, KT_OWNER_ANCHORS_DEFAULT);
	return cli_need_files(a->ledger.key, a->ledger.cert);
}

int rollback_main(int argc, char *argv[])
{
	struct rollback_args a = { .store = kt_snap_default_store() };
	int c, ret;

	while ((c = cli_getopt(argc, argv, "hjs", options)) != -1) {
		if (vm_ref_option(&a.ref, c, optarg) || rollback_option(&a, c, optarg))
			continue;
		if (c >= ATTEST_OPT_BASE && c < ATTEST_OPT_END) {
			if (attest_policy_option(&a.policy, c, optarg))
				return KT_EXIT_USAGE;
			continue;
		}
		switch (c) {
		case OPT_TO: a.to = optarg; break;
		default:
			if (cli_output_option(c, &a.mode))
				break;
			return cli_option_usage(usage, c);
		}
	}
	if (optind != argc)
		return cli_bad_usage("rollback", usage, "unexpected argument '%s'", argv[optind]);
	if (cli_need("rollback", usage, a.to, "--to"))
		return KT_EXIT_USAGE;
	if (!a.policy.key_file && !a.policy.policy.anchors)
		return cli_bad_usage("rollback", usage, "--pubkey or --anchors is required");
	ret = rollback_ledger_ready(&a, "rollback", usage);
	if (ret)
		return ret;
	ret = rollback_run(&a);
	attest_policy_free(&a.policy);
	return ret;
}
