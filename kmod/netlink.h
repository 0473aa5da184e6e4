/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KVMTRUST_NETLINK_H
#define _KVMTRUST_NETLINK_H

int kvmtrust_genl_init(void);
void kvmtrust_genl_exit(void);

#endif
