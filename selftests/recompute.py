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
  recompute.py prove DUMP PROOF     checks `kvmtrust measure prove --json`
                                    output PROOF against DUMP: the leaf is
                                    that page's, and its RFC 9162 audit path
                                    leads to memory_root (section 2.1.3.2)
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


def read_slots(path):
    with open(path, "rb") as f:
        data = f.read()
    slots, off = [], 0
    while off < len(data):
        gpa, size = struct.unpack_from("<QQ", data, off)
        off += 16
        slots.append((gpa, data[off:off + size]))
        off += size
    return sorted(slots)


def page_at(path, gpa):
    """(leaf index, page bytes, page gpa) of the page holding gpa."""
    index = 0
    for base, mem in read_slots(path):
        if base <= gpa < base + len(mem):
            off = (gpa - base) // PAGE * PAGE
            return index + off // PAGE, mem[off:off + PAGE], base + off
        index += len(mem) // PAGE
    raise KeyError("gpa %#x is in no memslot" % gpa)


def verify_inclusion(leaf_index, tree_size, leaf, path, root):
    """RFC 9162 section 2.1.3.2, step by step."""
    if leaf_index >= tree_size:
        return False
    fn, sn, r = leaf_index, tree_size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = rfc9162.node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = rfc9162.node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def check_proof(dump, proof):
    """Raises unless proof (the CLI's JSON) proves dump's page."""
    index, page, gpa = page_at(dump, proof["gpa"])
    leaf = rfc9162.leaf_hash(page + struct.pack("<Q", gpa))
    assert proof["leaf_index"] == index, (proof["leaf_index"], index)
    assert bytes.fromhex(proof["leaf_hash"]) == leaf, "leaf hash is not the page's"
    leaves = memory_leaves(dump)
    assert proof["tree_size"] == len(leaves), (proof["tree_size"], len(leaves))
    path = [bytes.fromhex(h) for h in proof["path"]]
    assert verify_inclusion(index, len(leaves), leaf, path,
                            bytes.fromhex(proof["memory_root"])), "audit path does not lead to memory_root"
    assert path == rfc9162.path(index, leaves), "not RFC 9162's PATH(m, D[n])"


def memory_leaves(path):
    leaves = []
    for gpa, mem in read_slots(path):
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
    elif len(argv) == 4 and argv[1] == "prove":
        import json
        with open(argv[3]) as f:
            check_proof(argv[2], json.load(f))
        print("ok")
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
