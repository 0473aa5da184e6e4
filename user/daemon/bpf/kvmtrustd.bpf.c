// SPDX-License-Identifier: GPL-2.0
/*
 * kvmtrustd's triggers (Documentation/kvmtrustd.rst, "Triggers"): BPF
 * programs on KVM's tracepoints, libbpf CO-RE, built against the Debian 6.1
 * target's BTF (scripts/bpf-vmlinux-h) and loaded through the skeleton
 * bpftool generates from this object.
 *
 *   kvm:kvm_pio  an OUT to cfg.doorbell_port: the guest asks to be attested
 *   kvm:kvm_cr   a write to a control register in cfg.cr_mask      (events)
 *   kvm:kvm_msr  a write to one of cfg.msrs                          (events)
 *
 * The tracepoints fire in the context of the vCPU thread, so the current
 * tgid is the VMM's: only VMMs the daemon put in "vms" are looked at. A
 * doorbell, or every cfg.event_threshold-th event, becomes a trigger record
 * unless the VM had one less than cfg.min_gap_ns ago: that is the per-VM
 * rate limit, applied here so a flood never reaches the daemon.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "trigger.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ktd_bpf_cfg);
} cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KTD_BPF_MAX_VMS);
	__type(key, __u32);
	__type(value, struct ktd_bpf_vm);
} vms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} triggers SEC(".maps");

static __always_inline struct ktd_bpf_cfg *ktd_config(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&cfg, &zero);
}

/* The VM of the current VMM thread, or NULL when it is not watched. */
static __always_inline struct ktd_bpf_vm *current_vm(__u32 *tgid)
{
	*tgid = bpf_get_current_pid_tgid() >> 32;
	return bpf_map_lookup_elem(&vms, tgid);
}

static __always_inline void fire(struct ktd_bpf_cfg *c, struct ktd_bpf_vm *vm, __u32 tgid,
				 __u32 kind, __u32 what, __u64 value)
{
	__u64 now = bpf_ktime_get_ns();
	struct ktd_bpf_trigger *t;

	/* Two vCPUs of one VM may race here: at worst two triggers pass. */
	if (vm->last_trigger_ns && now - vm->last_trigger_ns < c->min_gap_ns) {
		__sync_fetch_and_add(&vm->limited, 1);
		return;
	}
	t = bpf_ringbuf_reserve(&triggers, sizeof(*t), 0);
	if (!t) {
		__sync_fetch_and_add(&vm->limited, 1);
		return;
	}
	vm->last_trigger_ns = now;
	t->time_ns = now;
	t->tgid = tgid;
	t->kind = kind;
	t->what = what;
	t->pad = 0;
	t->value = value;
	bpf_ringbuf_submit(t, 0);
}

static __always_inline void event(struct ktd_bpf_cfg *c, struct ktd_bpf_vm *vm, __u32 tgid,
				  __u32 kind, __u32 what, __u64 value)
{
	__sync_fetch_and_add(&vm->events, 1);
	if (++vm->pending_events < c->event_threshold)
		return;
	vm->pending_events = 0;
	fire(c, vm, tgid, kind, what, value);
}

SEC("tp/kvm/kvm_pio")
int kvmtrustd_pio(struct trace_event_raw_kvm_pio *ctx)
{
	struct ktd_bpf_cfg *c = ktd_config();
	struct ktd_bpf_vm *vm;
	__u32 tgid;

	/* rw 1 is KVM_PIO_OUT. */
	if (!c || !c->doorbell_port || ctx->rw != 1 || ctx->port != c->doorbell_port)
		return 0;
	vm = current_vm(&tgid);
	if (!vm)
		return 0;
	__sync_fetch_and_add(&vm->doorbells, 1);
	fire(c, vm, tgid, KTD_TRIGGER_DOORBELL, ctx->port, ctx->val);
	return 0;
}

SEC("tp/kvm/kvm_cr")
int kvmtrustd_cr(struct trace_event_raw_kvm_cr *ctx)
{
	struct ktd_bpf_cfg *c = ktd_config();
	struct ktd_bpf_vm *vm;
	__u32 tgid, cr = ctx->cr;

	/* rw 1 is a write. */
	if (!c || ctx->rw != 1 || cr > 31 || !(c->cr_mask & (1u << cr)))
		return 0;
	vm = current_vm(&tgid);
	if (vm)
		event(c, vm, tgid, KTD_TRIGGER_CR, cr, ctx->val);
	return 0;
}

SEC("tp/kvm/kvm_msr")
int kvmtrustd_msr(struct trace_event_raw_kvm_msr *ctx)
{
	struct ktd_bpf_cfg *c = ktd_config();
	struct ktd_bpf_vm *vm;
	__u32 tgid, ecx = ctx->ecx, i;

	if (!c || !ctx->write || ctx->exception)
		return 0;
	for (i = 0; i < KTD_BPF_MAX_MSRS; i++) {
		if (i >= c->nr_msrs)
			return 0;
		if (c->msrs[i] == ecx)
			break;
	}
	if (i == KTD_BPF_MAX_MSRS)
		return 0;
	vm = current_vm(&tgid);
	if (vm)
		event(c, vm, tgid, KTD_TRIGGER_MSR, ecx, ctx->data);
	return 0;
}
