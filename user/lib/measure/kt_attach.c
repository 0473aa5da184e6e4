// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>

#include "measure/kt_attach.h"
#include "measure/vmm_fds.h"

int kt_vm_find_pid(struct kt_nl *nl, pid_t pid, struct kt_vm *out,
		   struct kt_err *err)
{
	struct kt_vm *vms;
	size_t nr, i;
	int ret;

	ret = kt_nl_vm_list(nl, &vms, &nr, err);
	if (ret)
		return ret;
	ret = -ENOENT;
	for (i = 0; i < nr; i++) {
		if (vms[i].vmm_pid == (uint32_t)pid) {
			*out = vms[i];
			ret = 0;
			break;
		}
	}
	free(vms);
	if (ret)
		kt_fail(err, "vm", "No attached VM belongs to process %d", (int)pid);
	return ret;
}

int kt_vm_attach_pid(struct kt_nl *nl, pid_t pid, struct kt_vm *out,
		     bool *attached, struct kt_err *err)
{
	struct kt_vmm_fds fds;
	int ret;

	*attached = false;
	ret = kt_vmm_fds_get(pid, &fds, err);
	if (ret)
		return ret;
	ret = kt_nl_vm_attach(nl, fds.vm_fd, fds.vcpu_fds, fds.nr_vcpus, out, err);
	kt_vmm_fds_close(&fds);
	if (ret == -EEXIST)
		return kt_vm_find_pid(nl, pid, out, err);
	if (!ret)
		*attached = true;
	return ret;
}

int kt_vm_measure_pid(pid_t pid, uint32_t flags, struct kt_measurement *m,
		      struct kt_err *err)
{
	struct kt_nl *nl;
	struct kt_vm vm;
	bool attached;
	int ret;

	nl = kt_nl_open(err);
	if (!nl)
		return -EPROTONOSUPPORT;
	ret = kt_vm_attach_pid(nl, pid, &vm, &attached, err);
	if (!ret)
		ret = kt_nl_measure(nl, vm.vm_id, flags, m, err);
	kt_nl_close(nl);
	return ret;
}
