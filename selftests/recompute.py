#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Recomputes kvmtrust's roots from selftests/vmm's own files, in Python.

A second implementation of Documentation/measurement.rst, sharing nothing
with the module or the C recomputation (selftests/lib/kt_recompute.c) but
the RFC 9162 tree of scripts/lib/rfc9162.py (itself independent of
user/lib/common/merkle.c), so agreement with the kernel means the document is
exact.

  recompute.py memory DUMP          memory_root of a vmm "dump" file
  recompute.py vcpus REGS...        vcpu_root of vmm "regs" files, one per
                                    vCPU, in vCPU id order (id = position)
"""
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "lib"))
import rfc9162  # noqa: E402

PAGE = 4096
# struct kvm_regs: 18 u64; struct kvm_sregs: 8 segments, gdt, idt, 7 u64, 4 u64 bitmap.
KVM_REGS = struct.Struct("<18Q")
KVM_SEGMENT = struct.Struct("<QIH9Bx")
KVM_DTABLE = struct.Struct("<QH6x")


def memory_leaves(path):
    with open(path, "rb") as f:
        data = f.read()
    slots, off = [], 0
    while off < len(data):
        gpa, size = struct.unpack_from("<QQ", data, off)
        off += 16
        slots.append((gpa, data[off:off + size]))
        off += size
    leaves = []
    for gpa, mem in sorted(slots):
        for i in range(0, len(mem), PAGE):
            # Leaf format 2: the page, then le64(guest physical address).
            leaves.append(rfc9162.leaf_hash(mem[i:i + PAGE] + struct.pack("<Q", gpa + i)))
    return leaves


def vcpu_state(vcpu_id, raw):
    regs = KVM_REGS.unpack_from(raw, 0)
    off = KVM_REGS.size
    out = struct.pack("<I", vcpu_id) + struct.pack("<18Q", *regs)
    for _ in range(8):  # cs ds es fs gs ss tr ldt
        base, limit, selector, *flags = KVM_SEGMENT.unpack_from(raw, off)
        off += KVM_SEGMENT.size
        out += struct.pack("<QIH9B", base, limit, selector, *flags)
    for _ in range(2):  # gdt idt
        base, limit = KVM_DTABLE.unpack_from(raw, off)
        off += KVM_DTABLE.size
        out += struct.pack("<QH", base, limit)
    out += struct.pack("<7Q", *struct.unpack_from("<7Q", raw, off))  # cr0 cr2 cr3 cr4 cr8 efer apic_base
    assert len(out) == 408, len(out)
    return out


def main(argv):
    if len(argv) >= 3 and argv[1] == "memory":
        print(rfc9162.mth_hashes(memory_leaves(argv[2])).hex())
    elif len(argv) >= 3 and argv[1] == "vcpus":
        leaves = []
        for vcpu_id, path in enumerate(argv[2:]):
            with open(path, "rb") as f:
                leaves.append(rfc9162.leaf_hash(vcpu_state(vcpu_id, f.read())))
        print(rfc9162.mth_hashes(leaves).hex())
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
