/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KVMTRUST_NETLINK_H
#define _KVMTRUST_NETLINK_H

struct kvmtrust_vm;
struct kvmtrust_measurement;

int kvmtrust_genl_init(void);
void kvmtrust_genl_exit(void);

void kvmtrust_genl_notify_measured(struct kvmtrust_vm *vm,
				   const struct kvmtrust_measurement *m);

#endif
