/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KVMTRUST_ACCESS_H
#define _KVMTRUST_ACCESS_H

struct netlink_ext_ack;
struct pid;

int kvmtrust_may_read_vmm(struct pid *vmm, struct netlink_ext_ack *extack);
int kvmtrust_may_write_vmm(struct pid *vmm, struct netlink_ext_ack *extack);

#endif
