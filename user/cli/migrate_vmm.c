// SPDX-License-Identifier: GPL-2.0
/*
 * kvmtrust migrate for a guest of our own VMM (selftests/vmm.c and any VMM
 * with no device state outside KVM), identified by --pid and the --uuid on
 * its command line. Stop and copy, with the machinery of snapshots and
 * rollback (Documentation/snapshots.rst): the source VMM is frozen
 * (SIGSTOP), its memory slots and vCPU registers listed by the module, its
 * guest pages read through /proc/PID/mem and sent through the channel; the
 * destination VMM, started with the same configuration and stopped
 * (selftests/vmm --incoming stops itself), must have the same slots, gets
 * the pages written through its /proc/PID/mem and the registers set by the
 * module (KVMTRUST_CMD_VCPU_SET_REGS), and stays stopped until the proof.
 * Protocol in Documentation/migration.rst, "Our own VMM".
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_util.h"
#include "common/encoding.h"
#include "identity/chanmsg.h"
#include "measure/kt_attach.h"
#include "migrate_cli.h"
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_restore.h"
#include "vm_ref.h"

#define VMM_VCPUS_MAX 64

/*
 * Wall-clock time as seconds.microseconds: the stop on the source and the
 * continue on the destination are printed with it, so that their difference
 * is the downtime (the same clock on both: one machine, or NTP's accuracy).
 */
static void stamp(char out[32])
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(out, 32, "%lld.%06ld", (long long)ts.tv_sec, ts.tv_nsec / 1000);
}

/* The kernel's view of the VMM: its VM attached to kvmtrust.ko, pid's uuid the VM. */
int migrate_vmm_open(struct migrate_vmm *v, pid_t pid, const char *vm, struct kt_err *err)
{
	char uuid[KT_UUID_STR_LEN + 1];
	struct kt_vm kvm;
	bool attached;

	v->pause = (struct kt_guest_pause){ .pid = pid };
	v->pid = pid;
	if (kill(pid, 0))
		return kt_fail(err, "vmm", "no process with pid %d: %s", (int)pid, strerror(errno));
	if (vm_ref_uuid_of_pid(pid, uuid))
		return kt_fail(err, "vmm", "process %d was started without --uuid/-uuid", (int)pid);
	if (vm && strcmp(vm, uuid))
		return kt_fail(err, "vm", "process %d runs VM %s, the token names %s", (int)pid,
			       uuid, vm);
	memcpy(v->vm, uuid, sizeof(uuid));
	v->nl = kt_nl_open(err);
	if (!v->nl)
		return -1;
	if (kt_vm_attach_pid(v->nl, pid, &kvm, &attached, err))
		return -1;
	v->vm_id = kvm.vm_id;
	return 0;
}

void migrate_vmm_close(struct migrate_vmm *v)
{
	if (v->nl)
		kt_nl_close(v->nl);
	v->nl = NULL;
}

/* Every thread of the destination VMM stopped: it waits for the state, as -S -incoming. */
int migrate_vmm_waiting(struct migrate_vmm *v, struct kt_err *err)
{
	char path[64], buf[512], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)v->pid);
	f = fopen(path, "r");
	if (!f || !fgets(buf, sizeof(buf), f)) {
		if (f)
			fclose(f);
		return kt_fail(err, "vmm", "cannot read %s", path);
	}
	fclose(f);
	p = strrchr(buf, ')');
	if (!p || (p[2] != 'T' && p[2] != 't'))
		return kt_fail(err, "vmm", "the VMM %d is running, not stopped waiting for a guest",
			       (int)v->pid);
	return 0;
}

static json_t *slots_json(const struct kt_memslot *slots, size_t nr)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr && i < nr; i++)
		if (json_array_append_new(arr, json_pack("{s:I, s:I, s:I, s:I}", "id",
							 (json_int_t)slots[i].id, "gpa",
							 (json_int_t)slots[i].gpa, "size",
							 (json_int_t)slots[i].size, "flags",
							 (json_int_t)slots[i].flags))) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

/* The "vmm-state" message: the layout and every vCPU's registers (vcpus.bin, hex). */
static json_t *state_msg(const struct kt_memslot *slots, size_t nr,
			 const struct kt_vcpu_regs *regs, size_t nr_regs)
{
	struct kt_snapshot s = { .vcpu_regs = (struct kt_vcpu_regs *)regs,
				 .nr_vcpu_regs = nr_regs };
	size_t len;
	uint8_t *bin = kt_snap_vcpus_bytes(&s, &len);
	char *hex = bin ? malloc(2 * len + 1) : NULL;
	json_t *msg = NULL;

	if (hex) {
		kt_hex_encode(bin, len, hex);
		msg = json_pack("{s:s, s:o, s:s}", "msg", "vmm-state", "slots",
				slots_json(slots, nr), "vcpus", hex);
	}
	free(hex);
	free(bin);
	return msg;
}

int migrate_vmm_send(struct migrate_vmm *v, struct kt_channel *ch, uint64_t *bytes,
		     struct kt_err *err)
{
	struct kt_memslot *slots = NULL;
	struct kt_vcpu_regs *regs = NULL;
	uint8_t buf[KT_CHMSG_DATA_MAX];
	size_t nr = 0, nr_regs = 0, i;
	json_t *msg = NULL;
	char path[64];
	uint64_t off, n;
	int mem = -1, ret = -1;
	uint64_t t0;
	char at[32];

	v->side = "source";
	v->stopped = true;
	t0 = migrate_now_ms();
	stamp(at);	/* as SIGSTOP goes out: the downtime is not understated */
	if (kt_guest_pause(&v->pause, err))
		return -1;
	fprintf(stderr, "source guest: stopped at %s\n", at);
	if (kt_nl_memslots(v->nl, v->vm_id, &slots, &nr, err) ||
	    kt_nl_vcpu_get(v->nl, v->vm_id, &regs, &nr_regs, err))
		goto out;
	msg = state_msg(slots, nr, regs, nr_regs);
	if (!msg) {
		kt_fail(err, "stream", "out of memory");
		goto out;
	}
	if (kt_chmsg_send_json(ch, msg, err))
		goto out;
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)v->pid);
	mem = open(path, O_RDONLY | O_CLOEXEC);
	if (mem < 0) {
		kt_fail(err, "stream", "cannot open %s: %s", path, strerror(errno));
		goto out;
	}
	for (i = 0; i < nr; i++) {
		for (off = 0; off < slots[i].size; off += n) {
			n = slots[i].size - off < sizeof(buf) ? slots[i].size - off : sizeof(buf);
			if (pread(mem, buf, n, (off_t)(slots[i].hva + off)) != (ssize_t)n) {
				kt_fail(err, "stream", "cannot read guest memory at gpa 0x%llx: %s",
					(unsigned long long)(slots[i].gpa + off), strerror(errno));
				goto out;
			}
			if (kt_chmsg_send_data(ch, buf, n, err))
				goto out;
			*bytes += n;
		}
	}
	ret = kt_chmsg_send_end(ch, err);
	if (!ret)
		fprintf(stderr, "stop and copy: %llu bytes sent in %llu ms\n",
			(unsigned long long)*bytes, (unsigned long long)(migrate_now_ms() - t0));
out:
	if (mem >= 0)
		close(mem);
	json_decref(msg);
	free(slots);
	free(regs);
	return ret;
}

/* The layout the source sent, as a snapshot's slots (kt_snap_same_layout). */
static int parse_state(json_t *msg, struct kt_snapshot *s, struct kt_err *err)
{
	const char *hex = json_string_value(json_object_get(msg, "vcpus"));
	uint8_t *bin;
	size_t len;
	int ret;

	if (!hex || strlen(hex) % 2 || strlen(hex) / 2 > VMM_VCPUS_MAX * KT_SNAP_VCPU_RECORD)
		return kt_fail(err, "protocol", "the vmm-state message lacks vcpus");
	if (kt_snap_slots_parse(json_object_get(msg, "slots"), false, "protocol", s, err))
		return -1;
	len = strlen(hex) / 2;
	bin = malloc(len ?: 1);
	if (!bin)
		return kt_fail(err, "protocol", "out of memory");
	ret = kt_hex_decode(hex, bin, len) || kt_snap_vcpus_parse(s, bin, len) ? -1 : 0;
	free(bin);
	if (ret || !s->nr_vcpu_regs)
		return kt_fail(err, "protocol", "the vmm-state vcpus are not vcpus.bin records");
	return 0;
}

/* The stream: exactly the slots' bytes in GPA order, written where this VMM maps them. */
static int write_pages(struct migrate_vmm *v, struct kt_channel *ch, const struct kt_memslot *slots,
		       size_t nr, uint64_t *bytes, struct kt_err *err)
{
	uint8_t buf[KT_CHMSG_DATA_MAX];
	uint64_t off = 0, chunk;
	size_t i = 0, used;
	ssize_t n;
	char path[64];
	int mem, ret = -1;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)v->pid);
	mem = open(path, O_RDWR | O_CLOEXEC);
	if (mem < 0)
		return kt_fail(err, "stream", "cannot open %s: %s", path, strerror(errno));
	for (;;) {
		n = kt_chmsg_recv_data(ch, buf, sizeof(buf), err);
		if (n < 0)
			goto out;
		if (!n)
			break;
		for (used = 0; used < (size_t)n; used += chunk) {
			while (i < nr && off == slots[i].size) {
				i++;
				off = 0;
			}
			if (i == nr) {
				kt_fail(err, "protocol", "the stream is longer than the guest's memory");
				goto out;
			}
			chunk = slots[i].size - off < (size_t)n - used ? slots[i].size - off :
			       (size_t)n - used;
			if (pwrite(mem, buf + used, chunk, (off_t)(slots[i].hva + off)) !=
			    (ssize_t)chunk) {
				kt_fail(err, "stream", "cannot write guest memory at gpa 0x%llx: %s",
					(unsigned long long)(slots[i].gpa + off), strerror(errno));
				goto out;
			}
			off += chunk;
			*bytes += chunk;
		}
	}
	while (i < nr && off == slots[i].size) {
		i++;
		off = 0;
	}
	if (i < nr) {
		kt_fail(err, "truncated", "the stream ended at gpa 0x%llx, before the guest's end",
			(unsigned long long)(slots[i].gpa + off));
		goto out;
	}
	ret = 0;
out:
	close(mem);
	return ret;
}

int migrate_vmm_recv(struct migrate_vmm *v, struct kt_channel *ch, uint64_t *bytes,
		     struct kt_err *err)
{
	json_t *msg = migrate_expect(kt_chmsg_recv_json(ch, err), "vmm-state", err);
	struct kt_snapshot s = { 0 };
	struct kt_memslot *slots = NULL;
	size_t nr = 0;
	int ret = -1;

	if (!msg)
		return -1;
	/* Our stop too (every thread, signals blocked) until the proof decides. */
	v->side = "destination";
	v->stopped = true;
	if (kt_guest_pause(&v->pause, err) || parse_state(msg, &s, err) || kt_nl_memslots(v->nl, v->vm_id, &slots, &nr, err))
		goto out;
	/* The destination was started with the guest's configuration, or nothing is written. */
	if (kt_snap_same_layout(&s, slots, nr, err))
		goto out;
	if (write_pages(v, ch, slots, nr, bytes, err) ||
	    kt_nl_vcpu_set(v->nl, v->vm_id, s.vcpu_regs, s.nr_vcpu_regs, err))
		goto out;
	ret = 0;
out:
	free(slots);
	kt_snap_free(&s);
	json_decref(msg);
	return ret;
}

/*
 * The copy to run (SIGCONT), if this side stopped it: the source after a
 * failure, the destination on "released" (the end of the downtime).
 */
void migrate_vmm_resume(struct migrate_vmm *v)
{
	struct kt_err err = { 0 };
	char at[32];

	if (!v->stopped)
		return;
	v->stopped = false;
	if (kt_guest_resume(&v->pause, &err)) {
		fprintf(stderr, "%s guest: %s\n", v->side, err.msg);
		return;
	}
	stamp(at);
	fprintf(stderr, "%s guest: resumed at %s\n", v->side, at);
}

/* The copy that must never run again: killed while still stopped. */
void migrate_vmm_kill(struct migrate_vmm *v, const char *who)
{
	if (kill(v->pid, SIGKILL))
		fprintf(stderr, "%s guest: cannot kill VMM %d: %m\n", who, (int)v->pid);
	else
		fprintf(stderr, "%s guest: VMM %d killed\n", who, (int)v->pid);
	if (v->stopped)
		kt_guest_stay_paused(&v->pause);
	v->stopped = false;
}
