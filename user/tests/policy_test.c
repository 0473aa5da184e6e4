// SPDX-License-Identifier: GPL-2.0
/*
 * The runtime integrity policy (policy/runtime.h) without a VM: the JSON
 * parser's refusals, each by the name it gives, the round trip of a
 * learnt policy, and the verdict on evidence built here (roots, stale
 * ranges, registers of two vCPUs). selftests/policy_test.sh runs the same
 * against a guest in the test VM.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"

#include "policy/runtime.h"
#include "snapshot/snapshot.h"

#define ROOT_A "1111111111111111111111111111111111111111111111111111111111111111"
#define ROOT_B "2222222222222222222222222222222222222222222222222222222222222222"

#define RANGE(name, gpa, len, root) \
	"{\"name\": \"" name "\", \"gpa\": \"" gpa "\", \"len\": \"" len "\", \"root\": \"" root "\"}"
#define GOOD_RANGE RANGE("text", "0x1000", "0x2000", ROOT_A)
#define PRED(name, reg, op, value) \
	"{\"name\": \"" name "\", \"reg\": \"" reg "\", \"op\": \"" op "\", \"value\": \"" value "\"}"
#define GOOD_PRED PRED("cr0.wp", "cr0", "bits-set", "0x10000")

static const char good[] =
	"{\"version\": 1, \"ranges\": [" GOOD_RANGE ", " RANGE("idt", "0x8000", "0x1000", ROOT_B)
	"], \"vcpu\": [" GOOD_PRED ", {\"name\": \"idt.base\", \"reg\": \"idt.base\", "
	"\"op\": \"equal\", \"value\": \"0xfffe0000\", \"vcpu\": 1}]}";

/* The parser's verdict on text: "" when accepted, else its message. */
static const char *parse(const char *text)
{
	static struct kt_rp_policy p;
	static struct kt_err err;

	memset(&err, 0, sizeof(err));
	return kt_rp_parse(text, strlen(text), &p, &err) ? err.msg : "";
}

#define REFUSED(text, msg) do {							\
		const char *got = parse(text);					\
		if (!strstr(got, msg))						\
			TH_LOG("'%s' gave '%s', not '%s'", text, got, msg);	\
		EXPECT_NE(NULL, strstr(got, msg));				\
	} while (0)

#define V1(body) "{\"version\": 1, " body "}"

TEST(good_policy_parses_and_round_trips)
{
	struct kt_rp_policy p, q;
	struct kt_err err = { 0 };
	char *text;

	ASSERT_EQ(0, kt_rp_parse(good, strlen(good), &p, &err)) TH_LOG("%s", err.msg);
	ASSERT_EQ(2U, p.nr_ranges);
	ASSERT_EQ(2U, p.nr_preds);
	EXPECT_EQ(0x1000U, p.ranges[0].gpa);
	EXPECT_EQ(0x2000U, p.ranges[0].len);
	EXPECT_EQ(0x11, p.ranges[0].root[31]);
	EXPECT_EQ(KT_RP_BITS_SET, (int)p.preds[0].op);
	EXPECT_EQ(-1, p.preds[0].vcpu);
	EXPECT_EQ(KT_RP_IDT_BASE, (int)p.preds[1].reg);
	EXPECT_EQ(1, p.preds[1].vcpu);
	text = kt_rp_dump(&p);
	ASSERT_NE(NULL, text);
	ASSERT_EQ(0, kt_rp_parse(text, strlen(text), &q, &err)) TH_LOG("%s: %s", text, err.msg);
	free(text);
	EXPECT_EQ(0, memcmp(&p, &q, sizeof(p)));
}

TEST(refusals_name_what_is_wrong)
{
	REFUSED("[1]", "not a JSON object");
	REFUSED("{\"version\": 1,", "not JSON");
	REFUSED("{\"version\": 1, \"version\": 1, \"ranges\": [" GOOD_RANGE "]}", "not JSON");
	REFUSED("{\"ranges\": [" GOOD_RANGE "]}", "'version' is missing");
	REFUSED("{\"version\": 2, \"ranges\": [" GOOD_RANGE "]}", "version is not 1");
	REFUSED(V1("\"rangez\": []"), "policy: unknown key 'rangez'");
	REFUSED(V1("\"ranges\": []"), "the policy checks nothing");
	REFUSED(V1("\"ranges\": {}"), "'ranges' is not an array");
	REFUSED(V1("\"ranges\": [1]"), "ranges[0] is not an object");
	REFUSED(V1("\"ranges\": [{\"name\": \"a\", \"gpa\": \"0x0\", \"len\": \"0x1000\", \"root\": \""
		   ROOT_A "\", \"size\": 1}]"), "ranges[0]: unknown key 'size'");
	REFUSED(V1("\"ranges\": [{\"name\": \"a\", \"gpa\": \"0x0\", \"len\": \"0x1000\"}]"),
		"ranges[0]: 'root' is missing");
	REFUSED(V1("\"ranges\": [" RANGE("a", "0x0", "0x1000", "12") "]"),
		"ranges[0]: root is not 64 hex digits");
	REFUSED(V1("\"ranges\": [" RANGE("a", "4096", "0x1000", ROOT_A) "]"),
		"ranges[0]: 'gpa' is not 0x and 1 to 16 hex digits: '4096'");
	REFUSED(V1("\"ranges\": [{\"name\": \"a\", \"gpa\": 4096, \"len\": \"0x1000\", \"root\": \""
		   ROOT_A "\"}]"), "ranges[0]: 'gpa' is not a string");
	REFUSED(V1("\"ranges\": [" RANGE("a", "0x10000000000000000", "0x1000", ROOT_A) "]"),
		"ranges[0]: 'gpa' is not 0x and 1 to 16 hex digits");
	REFUSED(V1("\"ranges\": [" RANGE("a", "0x1001", "0x1000", ROOT_A) "]"),
		"ranges[0]: gpa and len must be multiples of 4096");
	REFUSED(V1("\"ranges\": [" RANGE("a", "0x1000", "0x0", ROOT_A) "]"),
		"ranges[0]: len must be 1 to 4096 pages");
	REFUSED(V1("\"ranges\": [" RANGE("a", "0x0", "0x1001000", ROOT_A) "]"),
		"ranges[0]: len must be 1 to 4096 pages");
	REFUSED(V1("\"ranges\": [" RANGE("a", "0xfffffffffffff000", "0x2000", ROOT_A) "]"),
		"ranges[0]: gpa + len wraps around");
	REFUSED(V1("\"ranges\": [" RANGE("a b", "0x0", "0x1000", ROOT_A) "]"),
		"ranges[0]: name 'a b' must be");
	REFUSED(V1("\"ranges\": [" RANGE("", "0x0", "0x1000", ROOT_A) "]"), "ranges[0]: name '' must be");
	REFUSED(V1("\"ranges\": [" GOOD_RANGE ", " GOOD_RANGE "]"), "range name 'text' is given twice");
	REFUSED(V1("\"vcpu\": [" PRED("a", "cr2", "equal", "0x0") "]"), "vcpu[0]: unknown reg 'cr2'");
	REFUSED(V1("\"vcpu\": [" PRED("a", "cr0", "set", "0x1") "]"), "vcpu[0]: unknown op 'set'");
	REFUSED(V1("\"vcpu\": [" PRED("a", "cr0", "bits-set", "0x0") "]"),
		"vcpu[0]: bits-set with value 0 tests nothing");
	REFUSED(V1("\"vcpu\": [{\"name\": \"a\", \"reg\": \"cr0\", \"op\": \"equal\", \"value\": "
		   "\"0x1\", \"vcpu\": -1}]"), "vcpu[0]: vcpu is not an id");
	REFUSED(V1("\"vcpu\": [{\"name\": \"a\", \"reg\": \"cr0\", \"op\": \"equal\", \"value\": "
		   "\"0x1\", \"cpu\": 0}]"), "vcpu[0]: unknown key 'cpu'");
	REFUSED(V1("\"vcpu\": [{\"name\": \"a\", \"reg\": \"cr0\", \"op\": \"equal\"}]"),
		"vcpu[0]: 'value' is missing");
	REFUSED(V1("\"vcpu\": [" GOOD_PRED ", " GOOD_PRED "]"), "vcpu predicate 'cr0.wp' is given twice");
}

TEST(missing_file_is_refused)
{
	struct kt_rp_policy p;
	struct kt_err err = { 0 };

	ASSERT_EQ(-1, kt_rp_load("/nonexistent/policy.json", &p, &err));
	EXPECT_STREQ("file", err.check);
}

TEST(command_line_arguments)
{
	struct kt_rp_range r;
	struct kt_rp_pred pr;
	struct kt_err err = { 0 };
	bool learn;

	ASSERT_EQ(0, kt_rp_range_arg("0x100000:32768", &r, &err));
	EXPECT_EQ(0x100000U, r.gpa);
	EXPECT_EQ(0x8000U, r.len);
	EXPECT_STREQ("0x100000:0x8000", r.name);
	EXPECT_EQ(-1, kt_rp_range_arg("0x1000", &r, &err));
	EXPECT_EQ(-1, kt_rp_range_arg("0x1000:-4096", &r, &err));
	EXPECT_EQ(-1, kt_rp_range_arg("0x1000:0x800", &r, &err));
	ASSERT_EQ(0, kt_rp_pred_arg("efer.nxe", &pr, &learn, &err));
	EXPECT_FALSE(learn);
	EXPECT_EQ(KT_RP_EFER, (int)pr.reg);
	EXPECT_EQ(1ULL << 11, pr.value);
	ASSERT_EQ(0, kt_rp_pred_arg("cr3", &pr, &learn, &err));
	EXPECT_TRUE(learn);
	EXPECT_EQ(KT_RP_EQ, (int)pr.op);
	EXPECT_EQ(-1, kt_rp_pred_arg("cr0.xx", &pr, &learn, &err));
	EXPECT_STREQ("vcpu-pred", err.check);
}

/* Two vCPUs (ids 0 and 1) with WP set and their own IDTs. */
static void two_vcpus(struct kt_rp_evidence *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->stale_range = -1;
	ev->nr_regs = 2;
	ev->regs = calloc(2, sizeof(*ev->regs));
	ev->regs[1].id = 1;
	ev->regs[0].sregs.cr0 = ev->regs[1].sregs.cr0 = 0x80010033;
	ev->regs[0].sregs.idt.base = 0xfffe0000;
	ev->regs[1].sregs.idt.base = 0xfffe1000;
}

TEST(verdict_names_the_first_failure)
{
	struct kt_rp_policy p;
	struct kt_rp_evidence ev;
	struct kt_rp_verdict v;
	struct kt_err err = { 0 };

	ASSERT_EQ(0, kt_rp_parse(good, strlen(good), &p, &err));
	two_vcpus(&ev);
	memcpy(ev.roots[0], p.ranges[0].root, KT_HASH_LEN);
	memcpy(ev.roots[1], p.ranges[1].root, KT_HASH_LEN);
	ev.regs[1].sregs.idt.base = 0xfffe0000;
	kt_rp_evaluate(&p, &ev, &v);
	EXPECT_TRUE(v.pass) TH_LOG("%s", v.why);
	EXPECT_STREQ("", v.failed);

	ev.regs[1].sregs.idt.base = 0xfffe1000;
	kt_rp_evaluate(&p, &ev, &v);
	EXPECT_FALSE(v.pass);
	EXPECT_STREQ("vcpu idt.base", v.failed);
	EXPECT_NE(NULL, strstr(v.why, "vcpu 1 idt.base = 0xfffe1000")) TH_LOG("%s", v.why);

	ev.regs[0].sregs.cr0 &= ~(1ULL << 16);
	kt_rp_evaluate(&p, &ev, &v);
	EXPECT_STREQ("vcpu cr0.wp", v.failed);

	ev.roots[1][0] ^= 1;
	kt_rp_evaluate(&p, &ev, &v);
	EXPECT_STREQ("range idt", v.failed);

	ev.stale_range = 0;
	kt_rp_evaluate(&p, &ev, &v);
	EXPECT_STREQ("range text", v.failed);
	EXPECT_NE(NULL, strstr(v.why, "changed after each")) TH_LOG("%s", v.why);

	/* A predicate on a vCPU the VM does not have fails, never passes. */
	ev.stale_range = -1;
	memcpy(ev.roots[1], p.ranges[1].root, KT_HASH_LEN);
	ev.regs[0].sregs.cr0 |= 1ULL << 16;
	ev.nr_regs = 1;
	kt_rp_evaluate(&p, &ev, &v);
	EXPECT_STREQ("vcpu idt.base", v.failed);
	EXPECT_NE(NULL, strstr(v.why, "no vcpu 1")) TH_LOG("%s", v.why);
	/* Nor does one on every vCPU of a VM without any. */
	ev.nr_regs = 0;
	kt_rp_evaluate(&p, &ev, &v);
	EXPECT_STREQ("vcpu cr0.wp", v.failed);
	EXPECT_NE(NULL, strstr(v.why, "the VM has no vCPUs")) TH_LOG("%s", v.why);
	kt_rp_evidence_free(&ev);
}

TEST(learn_takes_each_vcpus_value_and_refuses_a_bad_state)
{
	static struct kt_rp_policy p;
	struct kt_rp_evidence ev;
	struct kt_rp_verdict v;
	struct kt_err err = { 0 };
	bool learn[2];

	memset(&p, 0, sizeof(p));
	ASSERT_EQ(0, kt_rp_range_arg("0x0:0x1000", &p.ranges[0], &err));
	p.nr_ranges = 1;
	ASSERT_EQ(0, kt_rp_pred_arg("cr0.wp", &p.preds[0], &learn[0], &err));
	ASSERT_EQ(0, kt_rp_pred_arg("idt.base", &p.preds[1], &learn[1], &err));
	p.nr_preds = 2;
	two_vcpus(&ev);
	memset(ev.roots[0], 0x5a, KT_HASH_LEN);
	ASSERT_EQ(0, kt_rp_learn(&p, learn, &ev, &err)) TH_LOG("%s", err.msg);
	ASSERT_EQ(3U, p.nr_preds);
	EXPECT_EQ(0x5a, p.ranges[0].root[0]);
	EXPECT_EQ(0, p.preds[1].vcpu);
	EXPECT_EQ(0xfffe0000, p.preds[1].value);
	EXPECT_EQ(1, p.preds[2].vcpu);
	EXPECT_EQ(0xfffe1000, p.preds[2].value);
	kt_rp_evaluate(&p, &ev, &v);
	EXPECT_TRUE(v.pass) TH_LOG("%s", v.why);

	memset(&p, 0, sizeof(p));
	ASSERT_EQ(0, kt_rp_pred_arg("efer.nxe", &p.preds[0], &learn[0], &err));
	p.nr_preds = 1;
	EXPECT_EQ(-1, kt_rp_learn(&p, learn, &ev, &err));
	EXPECT_NE(NULL, strstr(err.msg, "efer.nxe does not hold on vcpu 0")) TH_LOG("%s", err.msg);

	ev.stale_range = 0;
	EXPECT_EQ(-1, kt_rp_learn(&p, learn, &ev, &err));
	kt_rp_evidence_free(&ev);
}

/*
 * The registers a check evaluates come from the states the module kept with
 * the measurement: accepted only for that measurement and only if they
 * hash to its vcpu_root, each refusal by name.
 */
TEST(measured_vcpu_states_are_bound_to_the_measurement)
{
	uint8_t states[2 * KT_SNAP_VCPU_STATE];
	struct kt_rp_evidence ev, got;
	struct kt_measurement m = { .seq = 7, .vcpus = 2, .has_vcpu_root = true };
	struct kt_err err = { 0 };
	size_t i;

	two_vcpus(&ev);
	ev.regs[0].regs.rip = 0xfff0;
	ev.regs[1].sregs.efer = 0xd01;
	for (i = 0; i < 2; i++)
		kt_snap_vcpu_state(&ev.regs[i], states + i * KT_SNAP_VCPU_STATE);
	ASSERT_EQ(0, kt_snap_vcpu_root(ev.regs, 2, m.vcpu_root));
	memset(&got, 0, sizeof(got));

	ASSERT_EQ(0, kt_rp_measured_vcpus(&m, 7, states, 2, &got, &err)) TH_LOG("%s", err.msg);
	ASSERT_EQ(2U, got.nr_regs);
	for (i = 0; i < 2; i++) {
		EXPECT_EQ(ev.regs[i].id, got.regs[i].id);
		EXPECT_EQ(ev.regs[i].regs.rip, got.regs[i].regs.rip);
		EXPECT_EQ(ev.regs[i].sregs.cr0, got.regs[i].sregs.cr0);
		EXPECT_EQ(ev.regs[i].sregs.idt.base, got.regs[i].sregs.idt.base);
		EXPECT_EQ(ev.regs[i].sregs.efer, got.regs[i].sregs.efer);
	}

	/* The VM's latest measurement is another one: stale. */
	EXPECT_EQ(-ESTALE, kt_rp_measured_vcpus(&m, 8, states, 2, &got, &err));
	EXPECT_STREQ("stale", err.check);
	EXPECT_EQ(0U, got.nr_regs);
	/* A failed latest measurement reports seq 0: stale too. */
	EXPECT_EQ(-ESTALE, kt_rp_measured_vcpus(&m, 0, states, 2, &got, &err));
	/* No states kept. */
	EXPECT_EQ(-ENOENT, kt_rp_measured_vcpus(&m, 7, states, 0, &got, &err));
	EXPECT_NE(NULL, strstr(err.msg, "kept no vcpu states")) TH_LOG("%s", err.msg);
	/* One byte of one state changed (CR0.WP cleared): not what was hashed. */
	states[KT_SNAP_VCPU_STATE - 7 * 8 + 2] ^= 1;
	EXPECT_EQ(-EBADMSG, kt_rp_measured_vcpus(&m, 7, states, 2, &got, &err));
	EXPECT_NE(NULL, strstr(err.msg, "do not hash to the measured vcpu_root")) TH_LOG("%s", err.msg);
	EXPECT_EQ(0U, got.nr_regs);
	states[KT_SNAP_VCPU_STATE - 7 * 8 + 2] ^= 1;
	/* One vCPU missing. */
	EXPECT_EQ(-EBADMSG, kt_rp_measured_vcpus(&m, 7, states, 1, &got, &err));
	/* A measurement without vcpu_root has no registers to check. */
	m.has_vcpu_root = false;
	EXPECT_EQ(-EINVAL, kt_rp_measured_vcpus(&m, 7, states, 2, &got, &err));
	EXPECT_STREQ("vcpu", err.check);
	kt_rp_evidence_free(&ev);
	kt_rp_evidence_free(&got);
}

TEST_HARNESS_MAIN
