// SPDX-License-Identifier: GPL-2.0
/*
 * The family fuzzed: random and mutated generic netlink messages to
 * kvmtrust, from root and from an unprivileged user at once, while
 * another process attaches, measures, detaches and kills real VMMs. Every
 * message must be answered or dropped cleanly; scripts/vmtest fails the
 * run on any oops, WARN (panic_on_warn) or hung task, and at the end the
 * module must still measure a guest correctly and unload.
 *
 * Messages are built raw (not through libnl) so that headers, attribute
 * lengths and nesting can be wrong. The netlink type is always kvmtrust's
 * family: root must not fuzz other families of the test VM. KT_SEED makes
 * the run reproducible; FUZZ_MESSAGES scales it (default 100000 in all).
 */
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kt_recompute.h"
#include "kt_test.h"
#include "kt_vmm_proc.h"

#define MAX_IDS 32

struct fuzzer {
	uint32_t rng;
	int fd;
	uint16_t family;
	uint32_t seq;
	uint32_t ids[MAX_IDS];
	unsigned int nr_ids;
	struct kt_vm *vms[2];
	unsigned long sent, answered, acked, refused, overruns;
};

static uint32_t next_rand(struct fuzzer *f)
{
	f->rng ^= f->rng << 13;
	f->rng ^= f->rng >> 17;
	f->rng ^= f->rng << 5;
	return f->rng;
}

static uint32_t pick(struct fuzzer *f, uint32_t n)
{
	return n ? next_rand(f) % n : 0;
}

/* A VM of this process with one vCPU, so fds in messages may be real. */
static struct kt_vm *small_vm(void)
{
	struct kt_vm *vm = kt_vm_create();

	kt_vm_add_memslot(vm, 0, 0, 2 * KT_PAGE_SIZE);
	kt_vcpu_add(vm, 0);
	return vm;
}

/* An attribute value a handler might actually use, or noise. */
static uint32_t plausible_u32(struct fuzzer *f)
{
	switch (pick(f, 6)) {
	case 0:
		return f->nr_ids ? f->ids[pick(f, f->nr_ids)] : 1;
	case 1:
		return pick(f, 40);			/* an fd, maybe a VM's */
	case 2:
		return pick(f, 2) ? f->vms[pick(f, 2)]->fd : f->vms[pick(f, 2)]->vcpus[0].fd;
	case 3:
		return pick(f, 4);			/* measure flags */
	case 4:
		return UINT32_MAX - pick(f, 3);
	default:
		return next_rand(f);
	}
}

static size_t put_attr(struct fuzzer *f, uint8_t *p, size_t room, int depth)
{
	static const uint16_t lens[] = { 0, 1, 2, 3, 4, 5, 7, 8, 12, 16, 31, 32, 33, 64 };
	struct nlattr *a = (struct nlattr *)p;
	uint16_t len = lens[pick(f, sizeof(lens) / sizeof(lens[0]))];
	size_t used, inner = 0;
	uint32_t v;

	if (room < NLA_HDRLEN + NLA_ALIGN(64))
		return 0;
	a->nla_type = pick(f, KVMTRUST_A_MAX + 4);
	if (pick(f, 8) == 0)
		a->nla_type |= NLA_F_NESTED;
	if (depth < 2 && (a->nla_type & NLA_TYPE_MASK) == KVMTRUST_A_VCPU_FDS) {
		/* A nest of (mostly) vCPU fds. */
		while (inner < 48 && pick(f, 4))
			inner += put_attr(f, p + NLA_HDRLEN + inner, 64 - inner, depth + 1);
		len = inner;
	} else if (len == 4 || pick(f, 2)) {
		len = 4;
		v = plausible_u32(f);
		memcpy(p + NLA_HDRLEN, &v, 4);
	} else {
		for (used = 0; used < len; used++)
			p[NLA_HDRLEN + used] = next_rand(f);
	}
	a->nla_len = NLA_HDRLEN + len;
	return NLA_ALIGN(a->nla_len);
}

static size_t put_u32(uint8_t *p, uint16_t type, uint32_t v)
{
	struct nlattr *a = (struct nlattr *)p;

	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + 4;
	memcpy(p + NLA_HDRLEN, &v, 4);
	return NLA_HDRLEN + 4;
}

/* The attributes the command takes, with plausible values: reaches handlers. */
static size_t put_valid_attrs(struct fuzzer *f, uint8_t cmd, uint8_t *p)
{
	struct nlattr *nest;
	size_t len = 0;
	unsigned int i;

	switch (cmd) {
	case KVMTRUST_CMD_VM_ATTACH:
		len += put_u32(p, KVMTRUST_A_VM_FD, plausible_u32(f));
		if (pick(f, 2)) {
			nest = (struct nlattr *)(p + len);
			nest->nla_type = KVMTRUST_A_VCPU_FDS | (pick(f, 2) ? NLA_F_NESTED : 0);
			nest->nla_len = NLA_HDRLEN;
			for (i = pick(f, 4); i; i--)
				nest->nla_len += put_u32(p + len + nest->nla_len, KVMTRUST_VCPU_A_FD,
							 plausible_u32(f));
			len += nest->nla_len;
		}
		break;
	case KVMTRUST_CMD_MEASURE:
		len += put_u32(p, KVMTRUST_A_VM_ID, plausible_u32(f));
		if (pick(f, 2))
			len += put_u32(p + len, KVMTRUST_A_MEASURE_FLAGS, pick(f, 8));
		break;
	case KVMTRUST_CMD_VM_GET:
	case KVMTRUST_CMD_VM_DETACH:
	case KVMTRUST_CMD_MEASURE_GET:
		if (pick(f, 8))
			len += put_u32(p, KVMTRUST_A_VM_ID, plausible_u32(f));
		break;
	}
	return len;
}

/* A message to the family: well formed or random, then maybe mutated. */
static size_t build(struct fuzzer *f, uint8_t *buf, size_t size)
{
	/* Mostly requests: the kernel drops the rest unread. */
	static const uint16_t flag_sets[] = {
		NLM_F_REQUEST, NLM_F_REQUEST | NLM_F_ACK, NLM_F_REQUEST | NLM_F_DUMP,
		NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP, NLM_F_REQUEST | NLM_F_ACK,
		NLM_F_REQUEST | NLM_F_ACK, NLM_F_REQUEST, NLM_F_REQUEST | NLM_F_ACK,
		NLM_F_REQUEST, NLM_F_REQUEST | NLM_F_DUMP, 0, NLM_F_ACK,
	};
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	struct genlmsghdr *gh = NLMSG_DATA(nlh);
	size_t len = NLMSG_HDRLEN + GENL_HDRLEN, i;
	unsigned int attrs = pick(f, 6);

	memset(buf, 0, size);
	gh->cmd = pick(f, KVMTRUST_CMD_MAX + 3);
	gh->version = pick(f, 8) ? KVMTRUST_GENL_VERSION : pick(f, 256);
	if (pick(f, 2))
		len += put_valid_attrs(f, gh->cmd, buf + len);
	else
		while (attrs--)
			len += put_attr(f, buf + len, size - len, 0);
	nlh->nlmsg_len = len;
	nlh->nlmsg_type = f->family;
	nlh->nlmsg_flags = flag_sets[pick(f, sizeof(flag_sets) / sizeof(flag_sets[0]))];
	nlh->nlmsg_seq = ++f->seq;
	if (pick(f, 3) == 0) {
		for (i = pick(f, 4) + 1; i; i--)
			buf[pick(f, len)] ^= 1 << pick(f, 8);
		if (pick(f, 4) == 0)
			len = pick(f, len + 1);
		if (pick(f, 4) == 0)
			nlh->nlmsg_len = pick(f, size);
		nlh->nlmsg_type = f->family;	/* never another family */
	}
	return len;
}

/* Reads what came back; learns VM ids from attach and get replies. */
static void drain(struct fuzzer *f)
{
	static uint8_t buf[65536];
	struct nlmsghdr *nlh;
	struct nlattr *a;
	ssize_t n;
	int rem;

	while ((n = recv(f->fd, buf, sizeof(buf), MSG_DONTWAIT)) != 0) {
		if (n < 0) {
			if (errno != ENOBUFS)
				return;
			f->overruns++;
			continue;
		}
		for (nlh = (struct nlmsghdr *)buf; NLMSG_OK(nlh, n); nlh = NLMSG_NEXT(nlh, n)) {
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				if (((struct nlmsgerr *)NLMSG_DATA(nlh))->error)
					f->refused++;
				else
					f->acked++;
				continue;
			}
			f->answered++;
			if (nlh->nlmsg_type != f->family)
				continue;
			a = (struct nlattr *)((uint8_t *)NLMSG_DATA(nlh) + GENL_HDRLEN);
			rem = nlh->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN;
			for (; rem >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= rem;
			     rem -= NLA_ALIGN(a->nla_len),
			     a = (struct nlattr *)((uint8_t *)a + NLA_ALIGN(a->nla_len))) {
				if (a->nla_type == KVMTRUST_A_VM_ID && a->nla_len == NLA_HDRLEN + 4)
					memcpy(&f->ids[f->nr_ids++ % MAX_IDS],
					       (uint8_t *)a + NLA_HDRLEN, 4);
			}
			f->nr_ids = f->nr_ids > MAX_IDS ? MAX_IDS : f->nr_ids;
		}
	}
}

/* Shared with the children: the churner's progress, the fuzzers' end. */
struct race {
	unsigned long churned;
	bool fuzzing_done;
};

/* Enough VMMs to have raced with: a churn round takes a while under TCG. */
#define MIN_CHURN 24

static int fuzz(uint32_t seed, uint16_t family, unsigned long messages, bool root,
		const volatile struct race *race)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct fuzzer f = { .rng = seed | 1, .family = family };
	int one = 1, big = 1 << 20;
	uint8_t buf[512];
	unsigned int i;
	size_t len;

	f.vms[0] = small_vm();
	f.vms[1] = small_vm();
	if (!root && (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534)))
		return 2;
	f.fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (f.fd < 0)
		return 2;
	setsockopt(f.fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(f.fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	/* The quota, and then on, slower, for as long as VMMs are churned. */
	while (f.sent < messages || race->churned < MIN_CHURN) {
		len = build(&f, buf, sizeof(buf));
		sendto(f.fd, buf, len, 0, (struct sockaddr *)&kernel, sizeof(kernel));
		f.sent++;
		if (!(f.sent % 64)) {
			drain(&f);
			if (f.sent >= messages)
				usleep(5000);
		}
		if (root && !(f.sent % 20000)) {
			/* A new VM; the module keeps an attached old one until we exit. */
			i = pick(&f, 2);
			kt_vm_free(f.vms[i]);
			f.vms[i] = small_vm();
		}
	}
	drain(&f);
	fprintf(stderr, "# %s: %lu sent: %lu replies, %lu acked, %lu refused, %lu overruns\n",
		root ? "root" : "nobody", f.sent, f.answered, f.acked, f.refused, f.overruns);
	return 0;
}

/* Real VMMs attached, measured, detached and killed, until the fuzzers end. */
static int churn(uint32_t seed, volatile struct race *race)
{
	uint32_t rng = seed | 1, id;
	struct kt_measurement m;
	struct kt_genl g;
	struct kt_vmm v;
	uint64_t mid;
	unsigned long rounds = 0;

	if (kt_genl_open(&g))
		return 2;
	while (!race->fuzzing_done) {
		rng ^= rng << 13, rng ^= rng >> 17, rng ^= rng << 5;
		if (kt_vmm_start(&v, rng, rng % 3 ? "" : "--extra-mib 4"))
			return 3;
		if (!kt_vmm_attach(&v, &g, &id) &&
		    !kt_genl_measure_start(&g, id, rng % 2 ? 0 : KVMTRUST_MEASURE_F_NO_VCPUS, &mid)) {
			usleep(rng % 50000);
			switch (rng % 4) {
			case 0:
				kt_vmm_kill(&v);		/* mid-measurement */
				break;
			case 1:
				kt_genl_detach(&g, id);
				break;
			default:
				kt_genl_measure_wait(&g, id, mid, &m);
			}
		}
		kt_vmm_kill(&v);
		race->churned = ++rounds;
	}
	fprintf(stderr, "# churn: %lu VMMs attached, measured and killed or detached\n", rounds);
	kt_genl_close(&g);
	return 0;
}

static pid_t spawn_fuzzer(uint32_t seed, uint16_t family, unsigned long n, bool root,
			  struct race *race)
{
	pid_t pid = fork();

	if (!pid)
		_exit(fuzz(seed, family, n, root, race));
	return pid;
}

static bool exited_cleanly(pid_t pid)
{
	int status;

	return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && !WEXITSTATUS(status);
}

FIXTURE(module) {
	struct kt_genl g;
};

FIXTURE_SETUP(module)
{
	KT_KVM_OR_SKIP();
	KT_GENL_OPEN_OR_SKIP(&self->g);
}

FIXTURE_TEARDOWN(module)
{
	kt_genl_close(&self->g);
}

TEST_F_TIMEOUT(module, random_and_mutated_messages_while_vmms_come_and_go, 280)
{
	unsigned long total = getenv("FUZZ_MESSAGES") ? strtoul(getenv("FUZZ_MESSAGES"), NULL, 0)
						      : 100000;
	uint32_t seed = kt_seed_from_env(), id;
	struct kt_measurement m;
	pid_t root, nobody, churner;
	struct race *race;
	struct kt_vm *vm;
	kt_hash want;

	TH_LOG("seed %u (KT_SEED=%u reproduces), %lu messages", seed, seed, total);
	race = mmap(NULL, sizeof(*race), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		    -1, 0);
	ASSERT_NE(MAP_FAILED, race);
	churner = fork();
	ASSERT_LE(0, churner);
	if (!churner)
		_exit(churn(seed ^ 0x5a5a5a5a, race));
	root = spawn_fuzzer(seed, self->g.family, total * 7 / 10, true, race);
	nobody = spawn_fuzzer(seed * 2654435761u, self->g.family, total - total * 7 / 10, false,
			      race);
	ASSERT_LE(0, root);
	ASSERT_LE(0, nobody);
	EXPECT_TRUE(exited_cleanly(root));
	EXPECT_TRUE(exited_cleanly(nobody));
	race->fuzzing_done = true;
	EXPECT_TRUE(exited_cleanly(churner));
	munmap(race, sizeof(*race));

	/* Still a working module: a fresh guest measures to the right root. */
	ASSERT_EQ(0, kt_genl_request(&self->g, kt_genl_msg(&self->g, KVMTRUST_CMD_GET_INFO, 0)));
	vm = small_vm();
	*kt_vm_gpa_to_hva(vm, 0x1234) = 0x42;
	ASSERT_EQ(0, kt_genl_attach(&self->g, vm->fd, &vm->vcpus[0].fd, 1, &id))
		TH_LOG("%s", self->g.extack);
	ASSERT_EQ(0, kt_genl_measure(&self->g, id, 0, &m)) TH_LOG("%s", self->g.extack);
	kt_memory_root(vm, want);
	ASSERT_HASH_EQ(want, m.memory_root);
	ASSERT_EQ(0, kt_genl_detach(&self->g, id));
	kt_vm_free(vm);
}

TEST_HARNESS_MAIN
