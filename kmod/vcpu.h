/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KVMTRUST_VCPU_H
#define _KVMTRUST_VCPU_H

#include <linux/types.h>

struct file;

/* Size of one vCPU's canonical serialization (Documentation/measurement.rst). */
#define KVMTRUST_VCPU_STATE_LEN 408

int kvmtrust_vcpu_serialize(struct file *vcpu_file, void __user *scratch,
			    u8 out[KVMTRUST_VCPU_STATE_LEN]);

#endif
