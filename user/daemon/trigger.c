// SPDX-License-Identifier: GPL-2.0
/* kvmtrustd's eBPF triggers (trigger.h), through the bpftool skeleton. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "kvmtrustd.skel.h"
#include "trigger.h"

struct ktd_triggers {
	struct kvmtrustd_bpf *skel;
	struct ring_buffer *rb;
	ktd_trigger_fn fn;
	void *arg;
};

static const char *const names[] = {
	[KTD_TRIGGER_TIMER] = "timer",
	[KTD_TRIGGER_DOORBELL] = "doorbell",
	[KTD_TRIGGER_CR] = "cr-write",
	[KTD_TRIGGER_MSR] = "msr-write",
	[KTD_TRIGGER_REQUEST] = "attest-now",
};

const char *ktd_trigger_name(unsigned int kind)
{
	return kind < sizeof(names) / sizeof(names[0]) && names[kind] ? names[kind] : "unknown";
}

bool ktd_triggers_wanted(const struct ktd_config *c)
{
	return c->doorbell_port || c->event_cr_mask || c->nr_event_msrs;
}

/* libbpf's messages go to our stderr (the journal), warnings and up. */
static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	fputs("kvmtrustd: libbpf: ", stderr);
	return vfprintf(stderr, fmt, ap);
}

static int on_record(void *ctx, void *data, size_t len)
{
	struct ktd_triggers *t = ctx;

	if (len >= sizeof(struct ktd_bpf_trigger))
		t->fn(t->arg, data);
	return 0;
}

static int bpf_fail(struct kt_err *err, const char *what, int ret)
{
	return kt_fail(err, "bpf", "%s: %s (kvmtrustd needs CAP_BPF and CAP_PERFMON, "
		       "kvm.ko loaded and the kernel's BTF)", what, strerror(ret < 0 ? -ret : ret));
}

int ktd_triggers_open(const struct ktd_config *c, struct ktd_triggers **out, struct kt_err *err)
{
	struct ktd_bpf_cfg bc = { .doorbell_port = c->doorbell_port, .cr_mask = c->event_cr_mask,
				  .nr_msrs = (__u32)c->nr_event_msrs,
				  .event_threshold = c->event_threshold,
				  .min_gap_ns = (__u64)c->trigger_min_gap_ms * 1000000ULL };
	struct ktd_triggers *t = calloc(1, sizeof(*t));
	__u32 zero = 0;
	int ret;

	if (!t)
		return kt_fail(err, "bpf", "out of memory");
	memcpy(bc.msrs, c->event_msrs, sizeof(bc.msrs));
	libbpf_set_print(print_libbpf);
	t->skel = kvmtrustd_bpf__open();
	if (!t->skel) {
		ret = bpf_fail(err, "opening the BPF object", errno);
		goto fail;
	}
	/* Only what is asked for is loaded and attached. */
	bpf_program__set_autoload(t->skel->progs.kvmtrustd_pio, c->doorbell_port != 0);
	bpf_program__set_autoload(t->skel->progs.kvmtrustd_cr, c->event_cr_mask != 0);
	bpf_program__set_autoload(t->skel->progs.kvmtrustd_msr, c->nr_event_msrs != 0);
	ret = kvmtrustd_bpf__load(t->skel);
	if (ret) {
		ret = bpf_fail(err, "loading the BPF programs", ret);
		goto fail;
	}
	ret = bpf_map__update_elem(t->skel->maps.cfg, &zero, sizeof(zero), &bc, sizeof(bc), 0);
	if (ret) {
		ret = bpf_fail(err, "writing the BPF configuration", ret);
		goto fail;
	}
	ret = kvmtrustd_bpf__attach(t->skel);
	if (ret) {
		ret = bpf_fail(err, "attaching to the kvm tracepoints", ret);
		goto fail;
	}
	t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.triggers), on_record, t, NULL);
	if (!t->rb) {
		ret = bpf_fail(err, "the trigger ring buffer", errno);
		goto fail;
	}
	*out = t;
	return 0;
fail:
	ktd_triggers_close(t);
	return ret;
}

void ktd_triggers_close(struct ktd_triggers *t)
{
	if (!t)
		return;
	ring_buffer__free(t->rb);
	kvmtrustd_bpf__destroy(t->skel);
	free(t);
}

int ktd_triggers_fd(const struct ktd_triggers *t)
{
	return ring_buffer__epoll_fd(t->rb);
}

int ktd_triggers_watch(struct ktd_triggers *t, pid_t tgid)
{
	struct ktd_bpf_vm vm = { 0 };
	__u32 key = (__u32)tgid;
	int ret = bpf_map__update_elem(t->skel->maps.vms, &key, sizeof(key), &vm, sizeof(vm),
				       BPF_NOEXIST);

	return ret && ret != -EEXIST ? -1 : 0;
}

bool ktd_triggers_stats(const struct ktd_triggers *t, pid_t tgid, struct ktd_bpf_vm *out)
{
	__u32 key = (__u32)tgid;

	return !bpf_map__lookup_elem(t->skel->maps.vms, &key, sizeof(key), out, sizeof(*out), 0);
}

int ktd_triggers_consume(struct ktd_triggers *t, ktd_trigger_fn fn, void *arg)
{
	t->fn = fn;
	t->arg = arg;
	return ring_buffer__consume(t->rb);
}
