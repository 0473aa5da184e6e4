// SPDX-License-Identifier: GPL-2.0
/* Restoring a guest to a verified snapshot (snapshot_restore.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "measure/guest_pause.h"
#include "measure/kt_attach.h"
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_pages.h"
#include "snapshot/snapshot_restore.h"

#define REPORT_MAX (64 * 1024)

int kt_snap_same_layout(const struct kt_snapshot *s, const struct kt_memslot *slots, size_t nr,
			struct kt_err *err)
{
	size_t i;

	if (nr != s->nr_slots)
		return kt_fail(err, "layout", "the guest has %zu memory slots, the snapshot %zu",
			       nr, s->nr_slots);
	for (i = 0; i < nr; i++)
		if (slots[i].gpa != s->slots[i].gpa || slots[i].size != s->slots[i].size ||
		    slots[i].id != s->slots[i].id || slots[i].flags != s->slots[i].flags)
			return kt_fail(err, "layout", "memory slot %u is not the snapshot's",
				       slots[i].id);
	return 0;
}

static void diff_add(struct kt_snap_diff *d, uint64_t gpa)
{
	d->pages++;
	if (d->nr && d->range[d->nr - 1].end == gpa)
		d->range[d->nr - 1].end = gpa + KT_SNAP_PAGE;
	else if (d->nr < KT_SNAP_DIFF_RANGES)
		d->range[d->nr++] = (typeof(d->range[0])){ gpa, gpa + KT_SNAP_PAGE };
}

int kt_snap_diff_pages(const char *store, pid_t pid, const struct kt_snapshot *s,
		       const struct kt_memslot *slots, bool write, struct kt_snap_diff *diff,
		       struct kt_err *err)
{
	uint8_t now[KT_SNAP_PAGE], then[KT_SNAP_PAGE];
	struct kt_snap_zero z;
	char path[64];
	uint64_t i = 0, off;
	kt_hash leaf;
	size_t sl;
	int mem, ret = -1;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	mem = open(path, (write ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (mem < 0)
		return kt_fail(err, "restore", "cannot open %s: %s", path, strerror(errno));
	if (kt_snap_zero_init(&z)) {
		close(mem);
		return kt_fail(err, "restore", "out of memory");
	}
	memset(diff, 0, sizeof(*diff));
	for (sl = 0; sl < s->nr_slots; sl++) {
		for (off = 0; off < slots[sl].size; off += KT_SNAP_PAGE, i++) {
			const struct kt_snap_leaf *l = &s->leaves[i];

			if (pread(mem, now, sizeof(now), slots[sl].hva + off) != sizeof(now)) {
				kt_fail(err, "restore", "cannot read guest page gpa 0x%llx: %s",
					(unsigned long long)l->gpa, strerror(errno));
				goto out;
			}
			kt_snap_leaf_hash(now, l->gpa, leaf);
			if (!memcmp(leaf, l->leaf, KT_HASH_LEN))
				continue;
			diff_add(diff, l->gpa);
			if (!write)
				continue;
			if (kt_snap_page_read(store, &z, l, then, err))
				goto out;
			if (pwrite(mem, then, sizeof(then), slots[sl].hva + off) != sizeof(then)) {
				kt_fail(err, "restore", "cannot write guest page gpa 0x%llx: %s",
					(unsigned long long)l->gpa, strerror(errno));
				goto out;
			}
		}
	}
	ret = 0;
out:
	kt_snap_zero_free(&z);
	close(mem);
	return ret;
}

int kt_snap_prove(pid_t pid, const struct kt_snapshot *s, struct kt_measurement *m,
		  struct kt_err *err)
{
	int ret = kt_vm_measure_pid(pid, KVMTRUST_MEASURE_F_FREEZE | KVMTRUST_MEASURE_F_FULL, m,
				    err);

	if (ret)
		return ret;
	if (memcmp(m->memory_root, s->memory_root, KT_HASH_LEN))
		return kt_fail(err, "proof", "the restored guest's memory_root is not the "
			       "snapshot's"), -EPERM;
	if (s->has_vcpu_root != m->has_vcpu_root ||
	    (s->has_vcpu_root && memcmp(m->vcpu_root, s->vcpu_root, KT_HASH_LEN)))
		return kt_fail(err, "proof", "the restored guest's vcpu_root is not the "
			       "snapshot's"), -EPERM;
	return 0;
}

int kt_snap_restore_vmm(const char *store, struct kt_nl *nl, uint32_t vm_id, pid_t pid,
			const struct kt_snapshot *s, struct kt_snap_restored *out,
			struct kt_err *err)
{
	struct kt_guest_pause g = { .pid = pid };
	struct kt_memslot *slots = NULL;
	struct kt_snap_diff diff = { 0 };
	struct kt_err rerr = { 0 };
	size_t nr = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if (!s->vcpu_regs)
		return kt_fail(err, "vcpus", "snapshot %s holds no vcpu registers", s->id), -EPERM;
	r = kt_guest_pause(&g, err);
	if (!r)
		r = kt_nl_memslots(nl, vm_id, &slots, &nr, err);
	if (!r && kt_snap_same_layout(s, slots, nr, err))
		r = -EPERM;
	if (!r) {
		out->frozen = true;	/* from here on, a failure leaves it stopped */
		r = kt_snap_diff_pages(store, pid, s, slots, true, &diff, err) ? -EIO : 0;
		out->pages_written = diff.pages;
	}
	if (!r)
		r = kt_nl_vcpu_set(nl, vm_id, s->vcpu_regs, s->nr_vcpu_regs, err);
	if (!r)
		r = kt_snap_prove(pid, s, &out->m, err);
	free(slots);
	if (r && out->frozen) {
		kt_guest_stay_paused(&g);
		return r;
	}
	/* Proven, or nothing of the guest touched: it continues. */
	if (kt_guest_resume(&g, &rerr) && !r) {
		*err = rerr;
		return -EIO;
	}
	return r;
}

static int cmp_desc(const void *a, const void *b)
{
	return strcmp(*(char *const *)b, *(char *const *)a);
}

int kt_snap_list_vm(const char *store, const char *vm_id, char ***ids, size_t *nr,
		    struct kt_err *err)
{
	struct kt_snapshot s;
	struct kt_err skip = { 0 };
	size_t all, i, n = 0;
	char **list;

	if (kt_snap_list(store, &list, &all, err))
		return -1;
	for (i = 0; i < all; i++) {
		bool mine = !kt_snap_load(store, list[i], &s, &skip) && !strcmp(s.vm_id, vm_id);

		kt_snap_free(&s);	/* loaded or not: zeroed either way */
		if (mine)
			list[n++] = list[i];
		else
			free(list[i]);
	}
	qsort(list, n, sizeof(*list), cmp_desc);
	*ids = list;
	*nr = n;
	return 0;
}

int kt_snap_newest_verified(const char *store, const char *vm_id,
			    const struct kt_report_policy *policy, struct kt_snapshot *s,
			    size_t *skipped, struct kt_err *err)
{
	struct kt_err first = { 0 }, e = { 0 };
	size_t nr, i;
	char **ids;

	*skipped = 0;
	if (kt_snap_list_vm(store, vm_id, &ids, &nr, err))
		return -1;
	for (i = 0; i < nr; i++) {
		if (!kt_snap_verify(store, ids[i], policy, s, &e)) {
			kt_snap_list_free(ids, nr);
			return 0;
		}
		if (!i)
			first = e;
		(*skipped)++;
		memset(&e, 0, sizeof(e));
	}
	kt_snap_list_free(ids, nr);
	if (!nr)
		return kt_fail(err, "snapshot", "the store '%s' holds no snapshot of vm %s", store,
			       vm_id);
	*err = first;
	return -1;
}

bool kt_snap_refusal(const struct kt_err *err)
{
	return err->check && (!strcmp(err->check, "vcpus") || !strcmp(err->check, "layout") ||
			      !strcmp(err->check, "proof"));
}

int kt_snap_report_digest(const char *store, const char *id, kt_hash out, struct kt_err *err)
{
	uint8_t *report = NULL;
	size_t len;

	if (kt_snap_read_file(store, id, "report.jws", REPORT_MAX, &report, &len, err))
		return -1;
	kt_sha256(report, len, out);
	free(report);
	return 0;
}
