// SPDX-License-Identifier: GPL-2.0
/*
 * vmm: the test guest in a process of its own, controlled line by line over
 * stdin/stdout, so tests can attach to it by --pid (pidfd_getfd), keep it
 * running while they measure, and kill it at awkward moments.
 *
 * It creates the guest (lib/kt_vm.h), runs it until its "done" out and
 * prints one line:
 *
 *   ready pid=PID seed=SEED vm_fd=N vcpu_fds=A[,B...] pages=P
 *
 * then answers each command with "ok [...]" or "err <reason>":
 *
 *   run                  resume vCPU 0 (the guest spins, changing memory
 *                        and EBP) in a thread that stays in KVM_RUN
 *   pause                kick vCPU 0 out of KVM_RUN and stop calling it
 *   state                "ok running" or "ok paused"
 *   poke GPA BYTE        write one guest byte through the VMM's mapping
 *   peek GPA             "ok 0xNN"
 *   counter              "ok N": the guest's spin counter (le32 at
 *                        KT_COUNTER_GPA), read while it runs
 *   setreg REG VALUE     KVM_SET_REGS on vCPU 0 (paused only); REG is
 *                        rax..r15, rip or rflags, or (KVM_SET_SREGS) cr0
 *                        or idt.base
 *   regs VCPU PATH       write VCPU's struct kvm_regs then struct kvm_sregs
 *                        (KVM_GET_REGS/KVM_GET_SREGS) to PATH (paused only)
 *   dump PATH            write guest memory to PATH: per memslot, in
 *                        creation order, le64 gpa, le64 size, size bytes
 *   addslot SLOT GPA SIZE  add a memslot (zeroed memory) while attached
 *   moveslot GPA OFF     move the memslot at GPA to a copy of its memory at
 *                        another address (the slot deleted and added again,
 *                        as QEMU does when it maps guest memory anew), the
 *                        copy's byte at OFF flipped when OFF < its size
 *   slots                "ok GPA:HVA:SIZE ..." for each memslot, in guest
 *                        physical order (HVA in this process)
 *   scribble on|off      a thread of the VMM (not a vCPU) writes guest
 *                        memory every millisecond, or stops
 *   guest doorbell N     (paused only) vCPU 0 rings kvmtrustd's doorbell N
 *                        times: N OUTs to KT_PORT_DOORBELL (guest.S), as
 *                        fast as KVM exits allow; "ok N" counts them
 *   guest efer N         (paused only) vCPU 0 rewrites EFER N times (WRMSR);
 *                        both leave memory and registers as they were
 *   fill GPA STRIDE COUNT  the VMM increments the byte at GPA + i * STRIDE
 *                        for i < COUNT through its own mapping
 *   gpoke GPA            the guest increments the byte at GPA (below
 *                        4 GiB) itself, through KVM: vCPU 0 runs a stub at
 *                        STUB_GPA with ES based at GPA's 64 KiB (unreal
 *                        mode), then its registers are put back (paused
 *                        only)
 *   exit                 "ok", then exit 0
 *
 * Numbers are C literals (0x.. accepted). EOF on stdin is "exit".
 *
 * Options: --seed N, --vcpus N (default 1), --extra-mib N (a third memslot
 * of N MiB at 4 GiB, filled with seeded data so that every page costs a
 * full hash: a measurement takes long enough to be interrupted),
 * --sparse-mib N (a fourth memslot of N MiB at 8 GiB that nothing touches),
 * --thp-mib N (a fifth memslot of N MiB at 1 GiB, madvise(MADV_HUGEPAGE)
 * and filled like --extra-mib, so transparent huge pages back it),
 * --uuid UUID (not used here: like QEMU's -uuid it names the VM on the
 * command line, where `kvmtrust --pid` reads it), --incoming (the
 * destination of `kvmtrust migrate receive --pid`, as QEMU's -S -incoming:
 * after the "ready" line the VMM stops itself with SIGSTOP, its guest not
 * running; receive writes the arrived memory and registers while it is
 * stopped and continues it only once the arrival is proven, and the VMM
 * then resumes vCPU 0 as "run" does; a refused arrival kills it).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kt_vm.h"

#define EXTRA_SLOT	2
#define EXTRA_GPA	0x100000000ULL
#define SPARSE_SLOT	3
#define SPARSE_GPA	0x200000000ULL
#define THP_SLOT	4
#define THP_GPA		0x40000000ULL
/* Past the stack top, below the end of the low slot (guest_layout.h). */
#define STUB_GPA	0x9000

static struct kt_vm *vm;
static pthread_t vcpu_thread;
static bool running;
static atomic_bool stop_requested;

static void on_kick(int sig)
{
	(void)sig;	/* only there to make KVM_RUN return -EINTR */
}

static void *vcpu_loop(void *arg)
{
	struct kt_vcpu *vcpu = arg;
	int ret;

	while (!atomic_load(&stop_requested)) {
		ret = __kt_vcpu_run(vcpu);
		if (ret == -EINTR)
			continue;
		/*
		 * After a gpoke the "done" out may run once more: the registers
		 * put back name it, and KVM completes only the stub's.
		 */
		if (!ret && vcpu->run->exit_reason == KVM_EXIT_IO &&
		    vcpu->run->io.port == KT_PORT_DONE)
			continue;
		/* The spinning guest never exits on its own. */
		fprintf(stderr, "vmm: unexpected KVM_RUN result %d, exit reason %u\n", ret,
			vcpu->run->exit_reason);
		break;
	}
	return NULL;
}

static pthread_t scribbler;
static atomic_bool scribbling;

/* Writes guest memory the way device emulation would: not from a vCPU. */
static void *scribble_loop(void *arg)
{
	volatile uint8_t *p = kt_vm_gpa_to_hva(vm, KT_HIGH_GPA);
	uint8_t v = 0;

	(void)arg;
	while (atomic_load(&scribbling)) {
		v++;
		p[v % KT_HIGH_SIZE] = v;
		usleep(1000);
	}
	return NULL;
}

static int cmd_scribble(bool on)
{
	if (on == atomic_load(&scribbling))
		return 0;
	atomic_store(&scribbling, on);
	if (on)
		return pthread_create(&scribbler, NULL, scribble_loop, NULL) ? -1 : 0;
	pthread_join(scribbler, NULL);
	return 0;
}

static int cmd_run(char *reply, size_t len)
{
	if (running)
		return snprintf(reply, len, "err already running"), -1;
	atomic_store(&stop_requested, false);
	if (pthread_create(&vcpu_thread, NULL, vcpu_loop, &vm->vcpus[0]))
		return snprintf(reply, len, "err pthread_create failed"), -1;
	running = true;
	return 0;
}

static int cmd_pause(void)
{
	struct kvm_run *run = vm->vcpus[0].run;

	if (!running)
		return 0;
	atomic_store(&stop_requested, true);
	/* immediate_exit covers a kick that lands just before KVM_RUN. */
	run->immediate_exit = 1;
	pthread_kill(vcpu_thread, SIGUSR1);
	pthread_join(vcpu_thread, NULL);
	run->immediate_exit = 0;
	running = false;
	return 0;
}

static int set_reg(const char *name, uint64_t value)
{
	static const char *const names[] = {
		"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp",
		"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip", "rflags",
	};
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	unsigned int i;

	if (!strcmp(name, "cr0") || !strcmp(name, "idt.base")) {
		kt_vcpu_get_sregs(&vm->vcpus[0], &sregs);
		*(name[0] == 'c' ? &sregs.cr0 : &sregs.idt.base) = value;
		kt_vcpu_set_sregs(&vm->vcpus[0], &sregs);
		return 0;
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(name, names[i]))
			break;
	if (i == sizeof(names) / sizeof(names[0]))
		return -1;
	kt_vcpu_get_regs(&vm->vcpus[0], &regs);
	/* struct kvm_regs lists exactly these u64s in this order. */
	((uint64_t *)&regs)[i] = value;
	kt_vcpu_set_regs(&vm->vcpus[0], &regs);
	return 0;
}

static int write_file(const char *path, const void *a, size_t alen, const void *b, size_t blen)
{
	FILE *f = fopen(path, "w");
	int ret = 0;

	if (!f)
		return -1;
	if (fwrite(a, 1, alen, f) != alen || (blen && fwrite(b, 1, blen, f) != blen))
		ret = -1;
	if (fclose(f))
		ret = -1;
	return ret;
}

static int dump_memory(const char *path)
{
	FILE *f = fopen(path, "w");
	unsigned int i;
	int ret = 0;

	if (!f)
		return -1;
	for (i = 0; i < vm->nr_slots; i++) {
		const struct kt_memslot *s = &vm->slots[i];
		uint64_t hdr[2] = { htole64(s->gpa), htole64(s->size) };

		if (fwrite(hdr, sizeof(hdr), 1, f) != 1 || fwrite(s->hva, 1, s->size, f) != s->size)
			ret = -1;
	}
	if (fclose(f))
		ret = -1;
	return ret;
}

extern const uint8_t kt_guest_code_start[], kt_guest_doorbell[], kt_guest_efer[];

/* Runs a routine of guest.S on vCPU 0 to its "done" out, then resumes where it was. */
static int cmd_guest(const char *what, unsigned long long n, char *reply, size_t len)
{
	struct kt_vcpu *vcpu = &vm->vcpus[0];
	struct kvm_run *run = vcpu->run;
	const uint8_t *entry;
	struct kvm_regs saved, regs;
	unsigned long long rings = 0;
	int ret;

	if (!strcmp(what, "doorbell"))
		entry = kt_guest_doorbell;
	else if (!strcmp(what, "efer"))
		entry = kt_guest_efer;
	else
		return snprintf(reply, len, "err usage: guest doorbell|efer N"), -1;
	if (!n || n > 0xffff)
		return snprintf(reply, len, "err N must be 1..65535"), -1;
	kt_vcpu_get_regs(vcpu, &saved);
	regs = saved;
	regs.rip = KT_CODE_GPA + (uint64_t)(entry - kt_guest_code_start);
	regs.rcx = n;
	kt_vcpu_set_regs(vcpu, &regs);
	for (;;) {
		ret = __kt_vcpu_run(vcpu);
		if (ret == -EINTR)
			continue;
		if (ret || run->exit_reason != KVM_EXIT_IO)
			break;
		if (run->io.port == KT_PORT_DOORBELL)
			rings++;
		else
			break;
	}
	kt_vcpu_set_regs(vcpu, &saved);
	if (ret || run->exit_reason != KVM_EXIT_IO || run->io.port != KT_PORT_DONE)
		return snprintf(reply, len, "err guest %s: KVM_RUN %d, exit reason %u", what, ret,
				run->exit_reason), -1;
	return snprintf(reply, len, "ok %llu", rings), 0;
}

static int cmd_regs(const char *arg, char *reply, size_t len)
{
	char path[4096];
	unsigned int id;
	struct kvm_regs regs;
	struct kvm_sregs sregs;

	if (sscanf(arg, "%u %4095s", &id, path) != 2 || id >= vm->nr_vcpus)
		return snprintf(reply, len, "err usage: regs VCPU PATH"), -1;
	kt_vcpu_get_regs(&vm->vcpus[id], &regs);
	kt_vcpu_get_sregs(&vm->vcpus[id], &sregs);
	if (write_file(path, &regs, sizeof(regs), &sregs, sizeof(sregs)))
		return snprintf(reply, len, "err %s: %m", path), -1;
	return 0;
}

static int cmd_slots(char *reply, size_t len)
{
	const struct kt_memslot *slots[KT_MAX_SLOTS];
	size_t used;
	unsigned int i;

	kt_vm_slots_by_gpa(vm, slots);
	used = snprintf(reply, len, "ok");
	for (i = 0; i < vm->nr_slots && used < len; i++)
		used += snprintf(reply + used, len - used, " %#llx:%#llx:%#llx",
				 (unsigned long long)slots[i]->gpa,
				 (unsigned long long)(uintptr_t)slots[i]->hva,
				 (unsigned long long)slots[i]->size);
	return 0;
}

static int cmd_fill(uint64_t gpa, uint64_t stride, uint64_t count, char *reply, size_t len)
{
	uint8_t *p;
	uint64_t i;

	for (i = 0; i < count; i++) {
		p = kt_vm_gpa_to_hva(vm, gpa + i * stride);
		if (!p)
			return snprintf(reply, len, "err no guest byte at %#llx",
					(unsigned long long)(gpa + i * stride)), -1;
		(*p)++;
	}
	return 0;
}

static int cmd_moveslot(uint64_t gpa, uint64_t off, char *reply, size_t len)
{
	struct kvm_userspace_memory_region region;
	struct kt_memslot *s = NULL;
	unsigned int i;
	uint8_t *hva;

	for (i = 0; i < vm->nr_slots; i++)
		if (vm->slots[i].gpa == gpa)
			s = &vm->slots[i];
	if (!s)
		return snprintf(reply, len, "err no memslot at %#llx", (unsigned long long)gpa), -1;
	hva = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	if (hva == MAP_FAILED)
		return snprintf(reply, len, "err mmap: %m"), -1;
	memcpy(hva, s->hva, s->size);
	if (off < s->size)
		hva[off] ^= 0xff;
	region = (struct kvm_userspace_memory_region) {
		.slot = s->slot,
		.guest_phys_addr = gpa,
		.memory_size = 0,
		.userspace_addr = (uintptr_t)s->hva,
	};
	if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &region))
		return snprintf(reply, len, "err deleting the memslot: %m"), -1;
	region.memory_size = s->size;
	region.userspace_addr = (uintptr_t)hva;
	if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &region))
		return snprintf(reply, len, "err adding the memslot again: %m"), -1;
	munmap(s->hva, s->size);
	s->hva = hva;
	return 0;
}

/* inc byte es:[di]; out 0x10, al; jmp $ */
static const uint8_t stub[] = { 0x26, 0xfe, 0x05, 0xe6, KT_PORT_DONE, 0xeb, 0xfe };

static int cmd_gpoke(uint64_t gpa, char *reply, size_t len)
{
	struct kt_vcpu *vcpu = &vm->vcpus[0];
	struct kvm_regs regs, saved_regs;
	struct kvm_sregs sregs, saved_sregs;
	uint8_t *code = kt_vm_gpa_to_hva(vm, STUB_GPA);
	int ret;

	if (!kt_vm_gpa_to_hva(vm, gpa) || gpa >> 32)
		return snprintf(reply, len, "err no guest byte below 4 GiB at %#llx",
				(unsigned long long)gpa), -1;
	if (memcmp(code, stub, sizeof(stub)))
		memcpy(code, stub, sizeof(stub));
	kt_vcpu_get_regs(vcpu, &saved_regs);
	kt_vcpu_get_sregs(vcpu, &saved_sregs);
	regs = saved_regs;
	sregs = saved_sregs;
	regs.rip = STUB_GPA;
	regs.rdi = gpa & 0xffff;
	regs.rflags = 2;
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.es.base = gpa & ~0xffffULL;
	sregs.es.limit = 0xffff;
	kt_vcpu_set_regs(vcpu, &regs);
	kt_vcpu_set_sregs(vcpu, &sregs);
	do {
		ret = __kt_vcpu_run(vcpu);
	} while (ret == -EINTR);
	kt_vcpu_set_regs(vcpu, &saved_regs);
	kt_vcpu_set_sregs(vcpu, &saved_sregs);
	if (ret || vcpu->run->exit_reason != KVM_EXIT_IO ||
	    vcpu->run->io.port != KT_PORT_DONE)
		return snprintf(reply, len, "err guest stub: run %d, exit reason %u", ret,
				vcpu->run->exit_reason), -1;
	return 0;
}

static int execute(char *line, char *reply, size_t len)
{
	char name[32], path[4096];
	unsigned long long a, b, c;
	uint8_t *p;

	snprintf(reply, len, "ok");
	if (!strcmp(line, "run"))
		return cmd_run(reply, len);
	if (!strcmp(line, "pause"))
		return cmd_pause();
	if (!strcmp(line, "state"))
		return snprintf(reply, len, "ok %s", running ? "running" : "paused"), 0;
	if (sscanf(line, "poke %lli %lli", &a, &b) == 2) {
		p = kt_vm_gpa_to_hva(vm, a);
		if (!p || b > 0xff)
			return snprintf(reply, len, "err no guest byte at %#llx or bad value", a), -1;
		*p = b;
		return 0;
	}
	if (sscanf(line, "peek %lli", &a) == 1) {
		p = kt_vm_gpa_to_hva(vm, a);
		if (!p)
			return snprintf(reply, len, "err no guest byte at %#llx", a), -1;
		return snprintf(reply, len, "ok 0x%02x", *p), 0;
	}
	if (!strcmp(line, "counter")) {
		volatile uint32_t *ctr = (volatile uint32_t *)kt_vm_gpa_to_hva(vm, KT_COUNTER_GPA);

		return snprintf(reply, len, "ok %u", le32toh(*ctr)), 0;
	}
	if (!strcmp(line, "slots"))
		return cmd_slots(reply, len);
	if (!strcmp(line, "scribble on") || !strcmp(line, "scribble off"))
		return cmd_scribble(!strcmp(line, "scribble on"));
	if (!strcmp(line, "exit"))
		return 0;
	/* What follows reads or writes vCPU state: never while in KVM_RUN. */
	if (running)
		return snprintf(reply, len, "err guest is running: pause it first"), -1;
	if (sscanf(line, "setreg %31s %lli", name, &a) == 2) {
		if (set_reg(name, a))
			return snprintf(reply, len, "err unknown register '%s'", name), -1;
		return 0;
	}
	if (!strncmp(line, "regs ", 5))
		return cmd_regs(line + 5, reply, len);
	if (sscanf(line, "guest %31s %lli", name, &a) == 2)
		return cmd_guest(name, a, reply, len);
	if (sscanf(line, "fill %lli %lli %lli", &a, &b, &c) == 3)
		return cmd_fill(a, b, c, reply, len);
	if (sscanf(line, "gpoke %lli", &a) == 1)
		return cmd_gpoke(a, reply, len);
	if (sscanf(line, "moveslot %lli %lli", &a, &b) == 2)
		return cmd_moveslot(a, b, reply, len);
	if (sscanf(line, "addslot %lli %lli %lli", &a, &b, &c) == 3) {
		if (vm->nr_slots == KT_MAX_SLOTS || (b | c) % KT_PAGE_SIZE || !c)
			return snprintf(reply, len, "err bad memslot"), -1;
		kt_vm_add_memslot(vm, a, b, c);
		return 0;
	}
	if (sscanf(line, "dump %4095s", path) == 1) {
		if (dump_memory(path))
			return snprintf(reply, len, "err %s: %m", path), -1;
		return 0;
	}
	return snprintf(reply, len, "err unknown command '%.64s'", line), -1;
}

/* Not zero, not the same twice: no page of it can be hashed cheaply. */
static void fill(uint8_t *mem, uint64_t size, uint32_t seed)
{
	uint64_t *w = (uint64_t *)mem, i;

	for (i = 0; i < size / sizeof(*w); i++)
		w[i] = (seed | 1ULL) * 0x9e3779b97f4a7c15ULL ^ i;
}

static void print_ready(void)
{
	unsigned int i;

	printf("ready pid=%d seed=%u vm_fd=%d vcpu_fds=", getpid(), vm->seed, vm->fd);
	for (i = 0; i < vm->nr_vcpus; i++)
		printf("%s%d", i ? "," : "", vm->vcpus[i].fd);
	printf(" pages=%llu\n", (unsigned long long)kt_vm_pages(vm));
}

int main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "vcpus", required_argument, NULL, 'v' },
		{ "extra-mib", required_argument, NULL, 'm' },
		{ "sparse-mib", required_argument, NULL, 'S' },
		{ "thp-mib", required_argument, NULL, 'T' },
		{ "uuid", required_argument, NULL, 'u' },
		{ "incoming", no_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct sigaction sa = { .sa_handler = on_kick };
	unsigned int nr_vcpus = 1, extra_mib = 0, sparse_mib = 0, thp_mib = 0;
	uint32_t seed = kt_seed_from_env();
	bool incoming = false;
	char line[4200], reply[4400];
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			seed = strtoul(optarg, NULL, 0);
			break;
		case 'v':
			nr_vcpus = strtoul(optarg, NULL, 0);
			break;
		case 'm':
			extra_mib = strtoul(optarg, NULL, 0);
			break;
		case 'S':
			sparse_mib = strtoul(optarg, NULL, 0);
			break;
		case 'T':
			thp_mib = strtoul(optarg, NULL, 0);
			break;
		case 'u':
			break;
		case 'i':
			incoming = true;
			break;
		case 'h':
			printf("Usage: %s [--seed N] [--vcpus N] [--extra-mib N] [--sparse-mib N]\n"
			       "       [--thp-mib N] [--uuid UUID] [--incoming]\n"
			       "Commands on stdin are documented at the top of selftests/vmm.c.\n",
			       argv[0]);
			return 0;
		default:
			return 2;
		}
	}
	if (!nr_vcpus || nr_vcpus > KT_MAX_VCPUS) {
		fprintf(stderr, "vmm: --vcpus must be 1..%d\n", KT_MAX_VCPUS);
		return 2;
	}
	sigaction(SIGUSR1, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);

	vm = kt_guest_vm_create(seed, nr_vcpus);
	if (extra_mib) {
		kt_vm_add_memslot(vm, EXTRA_SLOT, EXTRA_GPA, (uint64_t)extra_mib << 20);
		fill(kt_vm_gpa_to_hva(vm, EXTRA_GPA), (uint64_t)extra_mib << 20, seed);
	}
	if (sparse_mib)
		kt_vm_add_memslot(vm, SPARSE_SLOT, SPARSE_GPA, (uint64_t)sparse_mib << 20);
	if (thp_mib) {
		kt_vm_add_memslot(vm, THP_SLOT, THP_GPA, (uint64_t)thp_mib << 20);
		/* Advice only: the test reads AnonHugePages to know what it got. */
		madvise(kt_vm_gpa_to_hva(vm, THP_GPA), (uint64_t)thp_mib << 20, MADV_HUGEPAGE);
		fill(kt_vm_gpa_to_hva(vm, THP_GPA), (uint64_t)thp_mib << 20, seed);
	}
	kt_guest_run_to_done(vm);
	print_ready();
	if (incoming) {
		/* Continued by migrate receive once the arrived guest is proven. */
		raise(SIGSTOP);
		if (cmd_run(reply, sizeof(reply)))
			fprintf(stderr, "vmm: %s\n", reply);
	}

	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = '\0';
		execute(line, reply, sizeof(reply));
		printf("%s\n", reply);
		if (!strcmp(line, "exit"))
			break;
	}
	cmd_pause();
	cmd_scribble(false);
	kt_vm_free(vm);
	return 0;
}
