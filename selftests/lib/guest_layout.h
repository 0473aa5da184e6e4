/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest physical layout shared by the guest code (guest.S, through cpp) and
 * the VMM. Two memslots with a gap between them, created high slot first, so
 * that a measurement ordering leaves by slot id instead of by guest physical
 * address gets a different root than the userspace recomputation.
 *
 *   0x00000 +-----------------------------+  slot KT_SLOT_LOW (created 2nd)
 *           | 0x1000 guest code           |
 *           | 0x3000 known page           |  dwords KT_KNOWN_MAGIC + i
 *           | 0x4000 spin counter         |  incremented while running
 *           | 0x8000 stack top            |
 *   0x10000 +-----------------------------+
 *           |   gap: no memslot           |
 *   0x20000 +-----------------------------+  slot KT_SLOT_HIGH (created 1st)
 *           | pseudo-random data          |  xorshift32 seeded from EAX
 *   0x28000 +-----------------------------+
 *
 * The guest runs in real mode: no page tables, and the VMM sets every
 * segment base to 0 except ES, which the guest points at the high slot.
 */
#ifndef KT_GUEST_LAYOUT_H
#define KT_GUEST_LAYOUT_H

#define KT_PAGE_SIZE		0x1000

#define KT_LOW_GPA		0x00000
#define KT_LOW_SIZE		0x10000
#define KT_HIGH_GPA		0x20000
#define KT_HIGH_SIZE		0x08000

#define KT_SLOT_HIGH		0
#define KT_SLOT_LOW		1

#define KT_CODE_GPA		0x1000
#define KT_KNOWN_GPA		0x3000
#define KT_COUNTER_GPA		0x4000
#define KT_STACK_TOP		0x8000

/* ES selector whose real-mode base (selector << 4) is KT_HIGH_GPA. */
#define KT_HIGH_SEG		0x2000
#define KT_RANDOM_DWORDS	(KT_HIGH_SIZE / 4)

#define KT_KNOWN_MAGIC		0x6b766d74	/* "tmvk" in memory */

/* The guest's "out" when it has filled memory: the VMM stops running it. */
#define KT_PORT_DONE		0x10
#define KT_DONE_VALUE		0x4b

/*
 * kvmtrustd's doorbell as our guest rings it (any port works: kvmtrustd.conf
 * names it with doorbell_port; "KT" in ASCII), and the MSR kt_guest_efer writes.
 */
#define KT_PORT_DOORBELL	0x4b54
#define KT_DOORBELL_VALUE	0x01
#define KT_MSR_EFER		0xc0000080

/* Seed used when the VMM passes 0, because xorshift32 never leaves 0. */
#define KT_ZERO_SEED_FALLBACK	0x2545f491

#endif
