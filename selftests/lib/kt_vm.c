// SPDX-License-Identifier: GPL-2.0
/* The selftests' VMM library; see kt_vm.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "kt_vm.h"

/* guest.S: the guest's real-mode code, copied to KT_CODE_GPA. */
extern const uint8_t kt_guest_code_start[], kt_guest_code_end[];

void kt_die_at(const char *file, int line, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "# %s:%d: ", file, line);
	errno = saved;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

struct kt_vm *kt_vm_try_create(void)
{
	struct kt_vm *vm;
	int ver;

	vm = calloc(1, sizeof(*vm));
	kt_assert(vm, "out of memory");
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		free(vm);
		return NULL;
	}
	ver = kt_ioctl(vm->kvm_fd, KVM_GET_API_VERSION, NULL);
	kt_assert(ver == KVM_API_VERSION, "KVM API version %d, want %d", ver, KVM_API_VERSION);
	vm->fd = kt_ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	/* Only VMX without unrestricted guest needs it; harmless elsewhere. */
	__kt_ioctl(vm->fd, KVM_SET_TSS_ADDR, 0xfffbd000UL);
	return vm;
}

struct kt_vm *kt_vm_create(void)
{
	struct kt_vm *vm = kt_vm_try_create();

	kt_assert(vm, "'/dev/kvm' not usable (%m): load kvm_amd or kvm_intel");
	return vm;
}

void kt_vm_free(struct kt_vm *vm)
{
	unsigned int i;

	if (!vm)
		return;
	for (i = 0; i < vm->nr_vcpus; i++) {
		munmap(vm->vcpus[i].run, vm->vcpus[i].run_size);
		close(vm->vcpus[i].fd);
	}
	close(vm->fd);
	close(vm->kvm_fd);
	for (i = 0; i < vm->nr_slots; i++)
		munmap(vm->slots[i].hva, vm->slots[i].size);
	free(vm);
}

void kt_vm_add_memslot(struct kt_vm *vm, uint32_t slot, uint64_t gpa, uint64_t size)
{
	struct kvm_userspace_memory_region region;
	struct kt_memslot *s;

	kt_assert(vm->nr_slots < KT_MAX_SLOTS, "too many memslots");
	s = &vm->slots[vm->nr_slots];
	/* NORESERVE: sparse guests larger than the test VM's memory. */
	s->hva = mmap(NULL, size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	kt_assert(s->hva != MAP_FAILED, "mmap of %#llx bytes: %m", (unsigned long long)size);
	s->slot = slot;
	s->gpa = gpa;
	s->size = size;
	region = (struct kvm_userspace_memory_region) {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)s->hva,
	};
	kt_ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &region);
	vm->nr_slots++;
}

uint8_t *kt_vm_gpa_to_hva(struct kt_vm *vm, uint64_t gpa)
{
	unsigned int i;

	for (i = 0; i < vm->nr_slots; i++) {
		struct kt_memslot *s = &vm->slots[i];

		if (gpa >= s->gpa && gpa - s->gpa < s->size)
			return s->hva + (gpa - s->gpa);
	}
	return NULL;
}

uint64_t kt_vm_pages(const struct kt_vm *vm)
{
	uint64_t pages = 0;
	unsigned int i;

	for (i = 0; i < vm->nr_slots; i++)
		pages += vm->slots[i].size / KT_PAGE_SIZE;
	return pages;
}

void kt_vm_slots_by_gpa(const struct kt_vm *vm, const struct kt_memslot **out)
{
	unsigned int i, j;

	for (i = 0; i < vm->nr_slots; i++)
		out[i] = &vm->slots[i];
	/* Insertion sort: a handful of slots. */
	for (i = 1; i < vm->nr_slots; i++) {
		for (j = i; j > 0 && out[j - 1]->gpa > out[j]->gpa; j--) {
			const struct kt_memslot *t = out[j];

			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	}
}

struct kt_vcpu *kt_vcpu_add(struct kt_vm *vm, uint32_t id)
{
	struct kt_vcpu *vcpu;
	int size;

	kt_assert(vm->nr_vcpus < KT_MAX_VCPUS, "too many vCPUs");
	vcpu = &vm->vcpus[vm->nr_vcpus];
	vcpu->id = id;
	vcpu->fd = kt_ioctl(vm->fd, KVM_CREATE_VCPU, (unsigned long)id);
	size = kt_ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
	kt_assert(size >= (int)sizeof(struct kvm_run), "KVM_GET_VCPU_MMAP_SIZE %d too small", size);
	vcpu->run_size = size;
	vcpu->run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	kt_assert(vcpu->run != MAP_FAILED, "mmap of vCPU %u's kvm_run: %m", id);
	vm->nr_vcpus++;
	return vcpu;
}

void kt_vcpu_get_regs(struct kt_vcpu *vcpu, struct kvm_regs *regs)
{
	kt_ioctl(vcpu->fd, KVM_GET_REGS, regs);
}

void kt_vcpu_set_regs(struct kt_vcpu *vcpu, const struct kvm_regs *regs)
{
	kt_ioctl(vcpu->fd, KVM_SET_REGS, regs);
}

void kt_vcpu_get_sregs(struct kt_vcpu *vcpu, struct kvm_sregs *sregs)
{
	kt_ioctl(vcpu->fd, KVM_GET_SREGS, sregs);
}

void kt_vcpu_set_sregs(struct kt_vcpu *vcpu, const struct kvm_sregs *sregs)
{
	kt_ioctl(vcpu->fd, KVM_SET_SREGS, (void *)sregs);
}

int __kt_vcpu_run(struct kt_vcpu *vcpu)
{
	return __kt_ioctl(vcpu->fd, KVM_RUN, NULL) < 0 ? -errno : 0;
}

static void flat_real_mode_segment(struct kvm_segment *seg)
{
	seg->base = 0;
	seg->selector = 0;
}

static void guest_vcpu_setup(struct kt_vcpu *vcpu, uint32_t seed)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	kt_vcpu_get_sregs(vcpu, &sregs);
	flat_real_mode_segment(&sregs.cs);
	flat_real_mode_segment(&sregs.ds);
	flat_real_mode_segment(&sregs.es);
	flat_real_mode_segment(&sregs.ss);
	kt_ioctl(vcpu->fd, KVM_SET_SREGS, &sregs);

	memset(&regs, 0, sizeof(regs));
	regs.rip = KT_CODE_GPA;
	regs.rflags = 0x2;	/* bit 1 is reserved and always set */
	regs.rsp = KT_STACK_TOP;
	regs.rax = seed;
	kt_vcpu_set_regs(vcpu, &regs);
}

struct kt_vm *kt_guest_vm_create(uint32_t seed, unsigned int nr_vcpus)
{
	struct kt_vm *vm = kt_vm_create();
	size_t code_len = kt_guest_code_end - kt_guest_code_start;
	unsigned int i;

	vm->seed = seed;
	/* High slot first: leaf order must come from GPAs, not slot ids. */
	kt_vm_add_memslot(vm, KT_SLOT_HIGH, KT_HIGH_GPA, KT_HIGH_SIZE);
	kt_vm_add_memslot(vm, KT_SLOT_LOW, KT_LOW_GPA, KT_LOW_SIZE);
	memcpy(kt_vm_gpa_to_hva(vm, KT_CODE_GPA), kt_guest_code_start, code_len);
	for (i = 0; i < nr_vcpus; i++)
		kt_vcpu_add(vm, i);
	guest_vcpu_setup(&vm->vcpus[0], seed);
	return vm;
}

void kt_guest_run_to_done(struct kt_vm *vm)
{
	struct kt_vcpu *vcpu = &vm->vcpus[0];
	struct kvm_run *run = vcpu->run;
	int ret;

	do
		ret = __kt_vcpu_run(vcpu);
	while (ret == -EINTR);
	kt_assert(!ret, "KVM_RUN failed: %s", strerror(-ret));
	kt_assert(run->exit_reason == KVM_EXIT_IO, "guest exited with reason %u, want KVM_EXIT_IO",
		  run->exit_reason);
	kt_assert(run->io.direction == KVM_EXIT_IO_OUT && run->io.port == KT_PORT_DONE &&
		  run->io.size == 1 &&
		  *((uint8_t *)run + run->io.data_offset) == KT_DONE_VALUE,
		  "unexpected io exit: port %#x dir %u size %u", run->io.port,
		  run->io.direction, run->io.size);
}

uint32_t kt_guest_next_random(uint32_t x)
{
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return x;
}

bool kt_guest_memory_is_expected(struct kt_vm *vm, char *why, size_t len)
{
	uint32_t x = vm->seed ? vm->seed : KT_ZERO_SEED_FALLBACK, v;
	uint8_t *p;
	unsigned int i;

	p = kt_vm_gpa_to_hva(vm, KT_KNOWN_GPA);
	for (i = 0; i < KT_PAGE_SIZE / 4; i++) {
		memcpy(&v, p + 4 * i, 4);
		if (v != KT_KNOWN_MAGIC + i) {
			snprintf(why, len, "known page dword %u is %#x", i, v);
			return false;
		}
	}
	p = kt_vm_gpa_to_hva(vm, KT_HIGH_GPA);
	for (i = 0; i < KT_RANDOM_DWORDS; i++) {
		x = kt_guest_next_random(x);
		memcpy(&v, p + 4 * i, 4);
		if (v != x) {
			snprintf(why, len, "random dword %u is %#x, want %#x", i, v, x);
			return false;
		}
	}
	return true;
}

uint32_t kt_seed_from_env(void)
{
	const char *s = getenv("KT_SEED");
	struct timespec ts;

	if (s && *s)
		return strtoul(s, NULL, 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint32_t)(ts.tv_nsec ^ ts.tv_sec ^ getpid());
}
