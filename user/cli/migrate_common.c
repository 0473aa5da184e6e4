// SPDX-License-Identifier: GPL-2.0
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "common/encoding.h"
#include "measure/kt_attach.h"
#include "measure/kt_nl.h"
#include "migrate_cli.h"

int migrate_measure(pid_t pid, uint32_t flags, struct migrate_roots *r, struct kt_err *err)
{
	uint64_t t0 = migrate_now_ms();
	struct kt_measurement m;

	memset(r, 0, sizeof(*r));
	if (kt_vm_measure_pid(pid, flags, &m, err))
		return -1;
	r->ms = migrate_now_ms() - t0;
	r->pages_hashed = m.pages_hashed;
	r->full = m.full;
	memcpy(r->state.memory_root, m.memory_root, KT_HASH_LEN);
	memcpy(r->state.vcpu_root, m.vcpu_root, KT_HASH_LEN);
	r->state.has_vcpu_root = m.has_vcpu_root;
	r->state.pages = m.pages;
	r->state.seq = m.seq;
	r->state.leaf_format = m.leaf_format;
	kt_hex_encode(m.memory_root, sizeof(m.memory_root), r->memory);
	kt_hex_encode(m.vcpu_root, sizeof(m.vcpu_root), r->vcpu);
	return 0;
}

json_t *migrate_expect(json_t *msg, const char *type, struct kt_err *err)
{
	const char *got = json_string_value(json_object_get(msg, "msg"));

	if (msg && (!got || strcmp(got, type))) {
		kt_fail(err, "protocol", "expected a '%s' message, got '%s'", type, got ? got : "?");
		json_decref(msg);
		return NULL;
	}
	return msg;
}

uint64_t migrate_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t migrate_cpu_ms(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}
