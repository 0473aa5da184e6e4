/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What kvmtrustd's BPF programs (kvmtrustd.bpf.c) and the daemon
 * (daemon/trigger.c) share: the configuration map, the per-VM state map
 * keyed by the VMM's tgid, and the trigger records of the ring buffer.
 * Included by the BPF side after vmlinux.h, by userspace after
 * <linux/types.h>.
 */
#ifndef KVMTRUSTD_BPF_TRIGGER_H
#define KVMTRUSTD_BPF_TRIGGER_H

#define KTD_BPF_MAX_MSRS 8
#define KTD_BPF_MAX_VMS 1024

enum ktd_trigger_kind {
	KTD_TRIGGER_TIMER = 0,		/* the periodic round (never from BPF) */
	KTD_TRIGGER_DOORBELL = 1,	/* kvm:kvm_pio, an OUT to the doorbell port */
	KTD_TRIGGER_CR = 2,		/* kvm:kvm_cr, a write to a watched control register */
	KTD_TRIGGER_MSR = 3,		/* kvm:kvm_msr, a write to a watched MSR */
	KTD_TRIGGER_REQUEST = 4,	/* `kvmtrust daemon attest-now` (never from BPF) */
};

/* Key 0 of the array map "cfg": written by the daemon at start and on SIGHUP. */
struct ktd_bpf_cfg {
	__u32 doorbell_port;		/* 0: no doorbell */
	__u32 cr_mask;			/* bit N: a write to CRn is an event */
	__u32 nr_msrs;
	__u32 event_threshold;		/* events of a VM that make one trigger (>= 1) */
	__u64 min_gap_ns;		/* per VM: no trigger within this of the last one */
	__u32 msrs[KTD_BPF_MAX_MSRS];
};

/* Value of the hash map "vms", keyed by the VMM's tgid (the daemon adds its guests). */
struct ktd_bpf_vm {
	__u64 last_trigger_ns;		/* bpf_ktime_get_ns() of the last trigger sent */
	__u64 doorbells;		/* doorbell writes seen */
	__u64 events;			/* CR/MSR events seen */
	__u64 limited;			/* triggers dropped by the rate limit */
	__u32 pending_events;		/* events since the last event trigger */
	__u32 pad;
};

/* One record of the ring buffer "triggers". */
struct ktd_bpf_trigger {
	__u64 time_ns;			/* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 tgid;
	__u32 kind;			/* enum ktd_trigger_kind */
	__u32 what;			/* port, CR number or MSR index */
	__u32 pad;
	__u64 value;			/* value written */
};

#endif
