// SPDX-License-Identifier: GPL-2.0
/*
 * The snapshot store (user/lib/snapshot/, Documentation/snapshots.rst) on
 * the host: this process plays the VMM. Its own buffer is the "guest
 * memory" of two slots, captured through /proc/self/mem, committed with a
 * software host key and verified offline; then every tampering the format
 * must catch, each refused by its check name, and incremental storage and
 * pruning.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "attest/hostkey.h"
#include "attest/report.h"
#include "common/encoding.h"
#include "common/merkle.h"
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_pages.h"
#include "snapshot/snapshot_restore.h"

#define PAGE 4096
#define SLOT0_PAGES 16
#define SLOT1_PAGES 48
#define NPAGES (SLOT0_PAGES + SLOT1_PAGES)
#define SLOT1_GPA 0x100000ULL
#define VM_A "11111111-2222-4333-8444-555555555555"
#define VM_B "99999999-2222-4333-8444-555555555555"

FIXTURE(snap)
{
	char dir[64];
	char store[96];
	struct kt_hostkey *hk;
	struct kt_report_policy policy;
	uint8_t *mem;
};

FIXTURE_SETUP(snap)
{
	struct kt_hostkey_params p = { .software = true, .host_id = "host-test", .pcr = 23 };
	struct kt_err err = { 0 };
	char keydir[96];
	int i;

	strcpy(self->dir, "/tmp/kt-snap-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(keydir, sizeof(keydir), "%s/key", self->dir);
	snprintf(self->store, sizeof(self->store), "%s/store", self->dir);
	p.dir = keydir;
	ASSERT_EQ(0, kt_hostkey_init(&p, &err)) TH_LOG("%s", err.msg);
	ASSERT_EQ(0, kt_hostkey_open(keydir, NULL, &self->hk, &err)) TH_LOG("%s", err.msg);
	memset(&self->policy, 0, sizeof(self->policy));
	self->policy.key = self->hk->pub;
	self->policy.max_age = -1;
	self->mem = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->mem);
	/* Every third page holds data; the others stay zero (never stored). */
	for (i = 0; i < NPAGES; i += 3)
		memset(self->mem + i * PAGE, 0x40 + i, PAGE);
}

FIXTURE_TEARDOWN(snap)
{
	char cmd[128];

	munmap(self->mem, NPAGES * PAGE);
	kt_hostkey_close(self->hk);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", self->dir);
	if (system(cmd))
		TH_LOG("could not remove %s", self->dir);
}

static uint64_t gpa_of(int page)
{
	return page < SLOT0_PAGES ? (uint64_t)page * PAGE
				  : SLOT1_GPA + (uint64_t)(page - SLOT0_PAGES) * PAGE;
}

/* The root measurement.rst specifies, computed here without the library. */
static void expected_root(const uint8_t *mem, kt_hash out)
{
	kt_hash *leaves = calloc(NPAGES, sizeof(*leaves));
	uint8_t buf[PAGE + 8];
	uint64_t gpa;
	int i, b;

	for (i = 0; i < NPAGES; i++) {
		gpa = gpa_of(i);
		memcpy(buf, mem + i * PAGE, PAGE);
		for (b = 0; b < 8; b++)
			buf[PAGE + b] = gpa >> (8 * b);
		kt_merkle_leaf_hash(buf, sizeof(buf), leaves[i]);
	}
	kt_merkle_root(leaves, NPAGES, out);
	free(leaves);
}

/* Captures this process's buffer as VM vm and commits it; the id into id. */
static int save(struct __test_metadata *_metadata, FIXTURE_DATA(snap) *self, const char *vm,
		struct kt_snapshot *s)
{
	struct kt_err err = { 0 };
	kt_hash want;

	memset(s, 0, sizeof(*s));
	s->slots = calloc(2, sizeof(*s->slots));
	s->slots[0] = (struct kt_snap_slot){ .gpa = 0, .size = SLOT0_PAGES * PAGE,
					     .hva = (uintptr_t)self->mem, .id = 0 };
	s->slots[1] = (struct kt_snap_slot){ .gpa = SLOT1_GPA, .size = SLOT1_PAGES * PAGE,
					     .hva = (uintptr_t)self->mem + SLOT0_PAGES * PAGE,
					     .id = 1 };
	s->nr_slots = 2;
	strcpy(s->vm_id, vm);
	strcpy(s->vmm, "other");
	s->seq = 1;
	s->leaf_format = 2;
	s->has_vcpu_root = true;
	memset(s->vcpu_root, 0xab, KT_HASH_LEN);
	s->vcpus = 1;
	EXPECT_EQ(0, kt_snap_capture(self->store, getpid(), s, &err)) TH_LOG("%s", err.msg);
	expected_root(self->mem, want);
	EXPECT_EQ(0, memcmp(want, s->memory_root, KT_HASH_LEN));
	EXPECT_EQ((uint64_t)NPAGES, s->pages);
	/* Distinct timestamps are not guaranteed: ids differ by their random part. */
	EXPECT_EQ(0, kt_snap_commit(self->store, s, NULL, self->hk, &err)) TH_LOG("%s", err.msg);
	return 0;
}

static char *path_in(FIXTURE_DATA(snap) *self, const char *id, const char *file)
{
	char *p;

	if (asprintf(&p, "%s/snapshots/%s/%s", self->store, id, file) < 0)
		return NULL;
	return p;
}

static const char *verify_check(FIXTURE_DATA(snap) *self, const char *id, struct kt_err *err)
{
	kt_err_clear(err);
	if (!kt_snap_verify(self->store, id, &self->policy, NULL, err))
		return "verified";
	return err->check ? err->check : "(no check)";
}

static void copy_file(const char *from, const char *to)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
	if (system(cmd))
		fprintf(stderr, "# cp failed\n");
}

/* Copies FILE of snapshot from_id over the same file of snapshot to_id. */
static void copy_between(FIXTURE_DATA(snap) *self, const char *from_id, const char *to_id,
			 const char *file)
{
	char *from = path_in(self, from_id, file), *to = path_in(self, to_id, file);

	copy_file(from, to);
	free(from);
	free(to);
}

TEST_F(snap, save_verify_and_only_data_pages_stored)
{
	struct kt_snapshot s, back;
	struct kt_err err = { 0 };

	save(_metadata, self, VM_A, &s);
	EXPECT_EQ((uint64_t)(NPAGES + 2) / 3, s.new_pages);
	EXPECT_EQ((uint64_t)(NPAGES - (NPAGES + 2) / 3), s.zero_pages);
	EXPECT_STREQ("verified", verify_check(self, s.id, &err)) TH_LOG("%s", err.msg);
	ASSERT_EQ(0, kt_snap_load(self->store, s.id, &back, &err)) TH_LOG("%s", err.msg);
	EXPECT_EQ(0, memcmp(s.memory_root, back.memory_root, KT_HASH_LEN));
	EXPECT_EQ((size_t)2, back.nr_slots);
	EXPECT_EQ(SLOT1_GPA, back.slots[1].gpa);
	kt_snap_free(&back);
	kt_snap_free(&s);
}

TEST_F(snap, second_snapshot_stores_only_changed_pages)
{
	struct kt_snapshot a, b;
	struct kt_err err = { 0 };
	int k = 5, i;

	save(_metadata, self, VM_A, &a);
	for (i = 0; i < k; i++)
		self->mem[(1 + 7 * i) * PAGE + 100] ^= 0x5a;
	save(_metadata, self, VM_A, &b);
	EXPECT_EQ((uint64_t)k, b.new_pages);
	EXPECT_NE(0, strcmp(a.id, b.id));
	EXPECT_STREQ("verified", verify_check(self, a.id, &err)) TH_LOG("%s", err.msg);
	EXPECT_STREQ("verified", verify_check(self, b.id, &err)) TH_LOG("%s", err.msg);
	kt_snap_free(&a);
	kt_snap_free(&b);
}

TEST_F(snap, flipped_byte_in_a_stored_page_named)
{
	struct kt_snapshot s;
	struct kt_err err = { 0 };
	char *path, gpa[32];
	FILE *f;

	save(_metadata, self, VM_A, &s);
	/* Page 6 (gpa 0x6000) holds data. */
	path = kt_snap_page_path(self->store, s.leaves[6].leaf);
	f = fopen(path, "r+");
	ASSERT_NE(NULL, f);
	fseek(f, 77, SEEK_SET);
	fputc(0, f);
	fclose(f);
	EXPECT_STREQ("page", verify_check(self, s.id, &err));
	snprintf(gpa, sizeof(gpa), "gpa 0x%llx ", (unsigned long long)gpa_of(6));
	EXPECT_NE(NULL, strstr(err.msg, gpa)) TH_LOG("%s", err.msg);
	EXPECT_NE(NULL, strstr(err.msg, "do not hash")) TH_LOG("%s", err.msg);
	free(path);
	kt_snap_free(&s);
}

TEST_F(snap, missing_page_file_named)
{
	struct kt_snapshot s;
	struct kt_err err = { 0 };
	char *path;

	save(_metadata, self, VM_A, &s);
	path = kt_snap_page_path(self->store, s.leaves[SLOT0_PAGES + 2].leaf);
	ASSERT_EQ(0, unlink(path));
	EXPECT_STREQ("page", verify_check(self, s.id, &err));
	EXPECT_NE(NULL, strstr(err.msg, "gpa 0x102000 ")) TH_LOG("%s", err.msg);
	EXPECT_NE(NULL, strstr(err.msg, "missing")) TH_LOG("%s", err.msg);
	free(path);
	kt_snap_free(&s);
}

TEST_F(snap, swapped_manifest_refused)
{
	struct kt_snapshot a, b;
	struct kt_err err = { 0 };
	char *from, *to, *text;
	FILE *f;
	long len;

	save(_metadata, self, VM_A, &a);
	self->mem[3 * PAGE] ^= 1;
	save(_metadata, self, VM_A, &b);
	/* b's manifest under a's name: it names the wrong snapshot. */
	from = path_in(self, b.id, "manifest.json");
	to = path_in(self, a.id, "manifest.json");
	copy_file(from, to);
	EXPECT_STREQ("manifest", verify_check(self, a.id, &err)) TH_LOG("%s", err.msg);
	/* b's manifest renamed to a's id: a manifest the report never signed. */
	f = fopen(from, "r");
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = calloc(1, len + 1);
	ASSERT_EQ((size_t)1, fread(text, len, 1, f));
	fclose(f);
	memcpy(strstr(text, b.id), a.id, strlen(a.id));
	f = fopen(to, "w");
	fputs(text, f);
	fclose(f);
	copy_between(self, b.id, a.id, "leaves.bin");
	EXPECT_STREQ("report", verify_check(self, a.id, &err)) TH_LOG("%s", err.msg);
	free(text);
	free(from);
	free(to);
	kt_snap_free(&a);
	kt_snap_free(&b);
}

TEST_F(snap, report_of_another_vm_refused)
{
	struct kt_snapshot a, b;
	struct kt_err err = { 0 };

	save(_metadata, self, VM_A, &a);
	save(_metadata, self, VM_B, &b);
	/* Same memory, so the roots agree: only the binding tells them apart. */
	copy_between(self, b.id, a.id, "report.jws");
	EXPECT_STREQ("binding", verify_check(self, a.id, &err));
	EXPECT_NE(NULL, strstr(err.msg, b.id)) TH_LOG("%s", err.msg);
	kt_snap_free(&a);
	kt_snap_free(&b);
}

TEST_F(snap, report_by_another_key_and_edited_leaves_refused)
{
	struct kt_snapshot s;
	struct kt_err err = { 0 };
	struct kt_hostkey_params p = { .software = true, .host_id = "other", .pcr = 23 };
	struct kt_hostkey *other;
	char keydir[128], *leaves;
	FILE *f;

	save(_metadata, self, VM_A, &s);
	snprintf(keydir, sizeof(keydir), "%s/key2", self->dir);
	p.dir = keydir;
	ASSERT_EQ(0, kt_hostkey_init(&p, &err)) TH_LOG("%s", err.msg);
	ASSERT_EQ(0, kt_hostkey_open(keydir, NULL, &other, &err));
	self->policy.key = other->pub;
	EXPECT_STREQ("report", verify_check(self, s.id, &err));
	EXPECT_NE(NULL, strstr(err.msg, "signature")) TH_LOG("%s", err.msg);
	self->policy.key = self->hk->pub;
	kt_hostkey_close(other);

	leaves = path_in(self, s.id, "leaves.bin");
	f = fopen(leaves, "r+");
	fseek(f, 8 + 40 * 3, SEEK_SET);
	fputc(0xee, f);
	fclose(f);
	EXPECT_STREQ("leaves", verify_check(self, s.id, &err));
	free(leaves);
	kt_snap_free(&s);
}

/*
 * kvmtrustd's rollback action picks the newest snapshot of the VM that
 * verifies: another VM's are not listed, a newer one that does not verify
 * is passed over and counted, and with none left the newest one's failure
 * is the answer.
 */
TEST_F(snap, newest_verified_snapshot_of_a_vm)
{
	struct kt_snapshot a1, a2, b, got;
	struct kt_err err = { 0 };
	kt_hash digest, want;
	uint8_t *report;
	size_t nr, skipped, len;
	char **ids;

	save(_metadata, self, VM_A, &a1);
	save(_metadata, self, VM_A, &a2);
	save(_metadata, self, VM_B, &b);
	ASSERT_EQ(0, kt_snap_list_vm(self->store, VM_A, &ids, &nr, &err)) TH_LOG("%s", err.msg);
	ASSERT_EQ(2u, nr);
	EXPECT_GT(strcmp(ids[0], ids[1]), 0);	/* newest first */
	EXPECT_TRUE(!strcmp(ids[0], a1.id) || !strcmp(ids[0], a2.id));
	EXPECT_TRUE(!strcmp(ids[1], a1.id) || !strcmp(ids[1], a2.id));

	ASSERT_EQ(0, kt_snap_newest_verified(self->store, VM_A, &self->policy, &got, &skipped,
					     &err)) TH_LOG("%s", err.msg);
	EXPECT_STREQ(ids[0], got.id);
	EXPECT_EQ(0u, skipped);
	kt_snap_free(&got);

	/* The newer one's report is another VM's: passed over. */
	copy_between(self, b.id, ids[0], "report.jws");
	ASSERT_EQ(0, kt_snap_newest_verified(self->store, VM_A, &self->policy, &got, &skipped,
					     &err)) TH_LOG("%s", err.msg);
	EXPECT_STREQ(ids[1], got.id);
	EXPECT_EQ(1u, skipped);
	kt_snap_free(&got);

	/* Neither verifies: refused with the newest one's check. */
	copy_between(self, b.id, ids[1], "report.jws");
	kt_err_clear(&err);
	EXPECT_EQ(-1, kt_snap_newest_verified(self->store, VM_A, &self->policy, &got, &skipped,
					      &err));
	EXPECT_STREQ("binding", err.check);
	EXPECT_NE(NULL, strstr(err.msg, ids[0])) TH_LOG("%s", err.msg);
	EXPECT_EQ(2u, skipped);

	/* A VM without snapshots. */
	kt_err_clear(&err);
	EXPECT_EQ(-1, kt_snap_newest_verified(self->store, "12121212-2222-4333-8444-555555555555",
					      &self->policy, &got, &skipped, &err));
	EXPECT_STREQ("snapshot", err.check);
	EXPECT_NE(NULL, strstr(err.msg, "holds no snapshot of vm")) TH_LOG("%s", err.msg);

	/* The ledger's evidence digest is over report.jws's bytes as stored. */
	ASSERT_EQ(0, kt_snap_report_digest(self->store, b.id, digest, &err)) TH_LOG("%s", err.msg);
	ASSERT_EQ(0, kt_snap_read_file(self->store, b.id, "report.jws", 1 << 20, &report, &len,
				       &err));
	kt_sha256(report, len, want);
	EXPECT_EQ(0, memcmp(digest, want, KT_HASH_LEN));
	free(report);
	kt_snap_list_free(ids, nr);
	kt_snap_free(&a1);
	kt_snap_free(&a2);
	kt_snap_free(&b);
}

TEST_F(snap, unknown_or_bad_id_refused)
{
	struct kt_err err = { 0 };

	EXPECT_STREQ("snapshot", verify_check(self, "20990101T000000Z-00000000", &err));
	EXPECT_STREQ("snapshot", verify_check(self, "../../etc", &err));
	EXPECT_STREQ("snapshot", verify_check(self, ".hidden", &err));
}

TEST_F(snap, prune_frees_only_unreferenced_pages)
{
	struct kt_snapshot a, b;
	struct kt_err err = { 0 };
	uint64_t freed;
	char **ids;
	size_t nr;

	save(_metadata, self, VM_A, &a);
	self->mem[0] = 1;	/* page 0 changes: one page only a has */
	self->mem[2 * PAGE] = 1;	/* a zero page gains data: one page only b has */
	save(_metadata, self, VM_A, &b);
	EXPECT_EQ((uint64_t)2, b.new_pages);
	ASSERT_EQ(0, kt_snap_list(self->store, &ids, &nr, &err));
	EXPECT_EQ((size_t)2, nr);
	kt_snap_list_free(ids, nr);
	ASSERT_EQ(0, kt_snap_prune(self->store, (char *[]){ a.id }, 1, &freed, &err))
		TH_LOG("%s", err.msg);
	EXPECT_EQ((uint64_t)1, freed);
	EXPECT_STREQ("snapshot", verify_check(self, a.id, &err));
	EXPECT_STREQ("verified", verify_check(self, b.id, &err)) TH_LOG("%s", err.msg);
	kt_snap_free(&a);
	kt_snap_free(&b);
}

/* measurement.rst's worked example: one vCPU in the x86 reset state. */
static void reset_state(struct kt_vcpu_regs *v)
{
	struct kvm_segment data = { .limit = 0xffff, .type = 3, .present = 1, .s = 1 };

	memset(v, 0, sizeof(*v));
	v->regs.rip = 0xfff0;
	v->regs.rflags = 0x2;
	v->sregs.cs = (struct kvm_segment){ .base = 0xffff0000, .limit = 0xffff,
					    .selector = 0xf000, .type = 11, .present = 1, .s = 1 };
	v->sregs.ds = v->sregs.es = v->sregs.fs = v->sregs.gs = v->sregs.ss = data;
	v->sregs.tr = (struct kvm_segment){ .limit = 0xffff, .type = 11, .present = 1 };
	v->sregs.ldt = (struct kvm_segment){ .limit = 0xffff, .type = 2, .present = 1 };
	v->sregs.gdt.limit = v->sregs.idt.limit = 0xffff;
	v->sregs.cr0 = 0x60000010;
	v->sregs.apic_base = 0xfee00900;
}

TEST(vcpu_root_of_the_worked_example)
{
	struct kt_vcpu_regs v;
	char hex[65];
	kt_hash root;

	reset_state(&v);
	ASSERT_EQ(0, kt_snap_vcpu_root(&v, 1, root));
	kt_hex_encode(root, KT_HASH_LEN, hex);
	EXPECT_STREQ("64114991f69a02eaf3d4b610417c008f8c45799965f9709dd0471e1a0fafe8e5", hex);
}

TEST_F(snap, vcpus_recompute_vcpu_root_and_tampering_refused)
{
	struct kt_snapshot s;
	struct kt_err err = { 0 };
	struct kt_vcpu_regs v;
	char *path;
	FILE *f;

	reset_state(&v);
	memset(&s, 0, sizeof(s));
	/* save() sets vcpu_root to 0xab..; this snapshot carries the registers. */
	s.slots = calloc(1, sizeof(*s.slots));
	s.slots[0] = (struct kt_snap_slot){ .size = SLOT0_PAGES * PAGE, .hva = (uintptr_t)self->mem };
	s.nr_slots = 1;
	strcpy(s.vm_id, VM_A);
	strcpy(s.vmm, "other");
	s.seq = 1;
	s.leaf_format = 2;
	s.vcpus = 1;
	s.has_vcpu_root = true;
	s.vcpu_regs = malloc(sizeof(v));
	memcpy(s.vcpu_regs, &v, sizeof(v));
	s.nr_vcpu_regs = 1;
	ASSERT_EQ(0, kt_snap_vcpu_root(&v, 1, s.vcpu_root));
	ASSERT_EQ(0, kt_snap_capture(self->store, getpid(), &s, &err)) TH_LOG("%s", err.msg);
	ASSERT_EQ(0, kt_snap_commit(self->store, &s, NULL, self->hk, &err)) TH_LOG("%s", err.msg);
	EXPECT_STREQ("verified", verify_check(self, s.id, &err)) TH_LOG("%s", err.msg);
	path = path_in(self, s.id, "vcpus.bin");
	f = fopen(path, "r+");
	ASSERT_NE(NULL, f);
	fseek(f, 8 + 16 * 8, SEEK_SET);	/* rip */
	fputc(0x11, f);
	fclose(f);
	EXPECT_STREQ("vcpus", verify_check(self, s.id, &err)) TH_LOG("%s", err.msg);
	free(path);
	kt_snap_free(&s);
}

TEST(qemu_restore_command_line)
{
	struct kt_snapshot s = { 0 };
	struct kt_err err = { 0 };
	char **argv, line[1024] = "";
	int i;

	s.qemu_argv = strdup("[\"qemu-system-x86_64\",\"-m\",\"64\",\"-incoming\",\"tcp:0:4444\","
			     "\"-daemonize\",\"-qmp\",\"unix:/run/vm.qmp,server=on,wait=off\","
			     "\"-qmp\",\"unix:/store/.rollback-12.qmp,server=on,wait=off\"]");
	ASSERT_EQ(0, kt_snap_qemu_argv(&s, "/store/snapshots/x/migration.bin", "/store/.rollback-7.qmp",
				       &argv, &err)) TH_LOG("%s", err.msg);
	for (i = 0; argv[i]; i++) {
		strcat(line, argv[i]);
		strcat(line, " ");
	}
	EXPECT_STREQ("qemu-system-x86_64 -m 64 -qmp unix:/run/vm.qmp,server=on,wait=off -S "
		     "-qmp unix:/store/.rollback-7.qmp,server=on,wait=off "
		     "-incoming exec:cat '/store/snapshots/x/migration.bin' ", line);
	kt_snap_argv_free(argv);
	/* A quote would end exec:cat's argument early. */
	EXPECT_EQ(-1, kt_snap_qemu_argv(&s, "/st'ore/m.bin", "/q", &argv, &err));
	free(s.qemu_argv);
	s.qemu_argv = NULL;
	EXPECT_EQ(-1, kt_snap_qemu_argv(&s, "/m.bin", "/q", &argv, &err));
	EXPECT_STREQ("manifest", err.check);
}

/* The one parser of slot lists: manifest.json's (with hva) and migrate's vmm-state (without). */
TEST(slot_lists_parsed_and_refused_by_check)
{
	static const struct {
		const char *json;
		bool hva;
		const char *check;	/* NULL: parsed */
	} cases[] = {
		{ "[{\"id\":1,\"gpa\":4096,\"size\":8192,\"flags\":2}]", false, NULL },
		{ "[{\"id\":1,\"gpa\":4096,\"size\":8192,\"flags\":2,\"hva\":65536}]", true, NULL },
		{ "[{\"id\":1,\"gpa\":4096,\"size\":8192,\"flags\":2}]", true, "manifest" },
		{ "[{\"id\":1,\"gpa\":4096,\"size\":8192}]", false, "protocol" },
		{ "[{\"id\":1,\"gpa\":-4096,\"size\":8192,\"flags\":0}]", false, "protocol" },
		{ "[{\"id\":4294967296,\"gpa\":0,\"size\":8192,\"flags\":0}]", false, "protocol" },
		{ "[{\"id\":1,\"gpa\":0,\"size\":\"8192\",\"flags\":0}]", false, "protocol" },
		{ "{\"id\":1}", false, "protocol" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *check = cases[i].check ?: "protocol";
		json_t *arr = json_loads(cases[i].json, 0, NULL);
		struct kt_snapshot s = { 0 };
		struct kt_err err = { 0 };
		int r;

		ASSERT_NE(NULL, arr);
		if (cases[i].hva)
			check = "manifest";
		r = kt_snap_slots_parse(arr, cases[i].hva, check, &s, &err);
		if (!cases[i].check) {
			EXPECT_EQ(0, r) TH_LOG("case %zu: %s", i, err.msg);
			EXPECT_EQ(1U, s.nr_slots);
			EXPECT_EQ(1U, s.slots[0].id);
			EXPECT_EQ(4096U, s.slots[0].gpa);
			EXPECT_EQ(8192U, s.slots[0].size);
			EXPECT_EQ(2U, s.slots[0].flags);
			EXPECT_EQ(cases[i].hva ? 65536U : 0U, s.slots[0].hva);
		} else {
			EXPECT_EQ(-1, r) TH_LOG("case %zu parsed", i);
			EXPECT_STREQ(cases[i].check, err.check) TH_LOG("case %zu", i);
		}
		kt_snap_free(&s);
		json_decref(arr);
	}
}

TEST_HARNESS_MAIN
