/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KVMTRUST_MEMSLOTS_H
#define _KVMTRUST_MEMSLOTS_H

struct kvm;
struct sk_buff;

int kvmtrust_memslots_put(struct sk_buff *msg, struct kvm *kvm);

#endif
