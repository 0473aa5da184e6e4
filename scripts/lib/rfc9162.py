#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Independent RFC 9162 Merkle tree hash, for tests to cross-check the C code.

Written straight from RFC 9162 section 2.1 with hashlib, sharing nothing with
user/lib/common/merkle.c or kmod/, so agreement between the two means something.

  rfc9162.py root HEXDATA...          MTH over the given leaf data
  rfc9162.py root-hashes HEXHASH...   MTH over already-hashed leaves
  rfc9162.py path INDEX HEXDATA...    audit path, one hex hash a line
  rfc9162.py proof M HEXDATA...       consistency proof between M and all
"""
import hashlib
import sys


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth_hashes(hashes):
    n = len(hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashes[0]
    k = split(n)
    return node_hash(mth_hashes(hashes[:k]), mth_hashes(hashes[k:]))


def path(m, hashes):
    n = len(hashes)
    if n <= 1:
        return []
    k = split(n)
    if m < k:
        return path(m, hashes[:k]) + [mth_hashes(hashes[k:])]
    return path(m - k, hashes[k:]) + [mth_hashes(hashes[:k])]


def subproof(m, hashes, complete):
    n = len(hashes)
    if m == n:
        return [] if complete else [mth_hashes(hashes)]
    k = split(n)
    if m <= k:
        return subproof(m, hashes[:k], complete) + [mth_hashes(hashes[k:])]
    return subproof(m - k, hashes[k:], False) + [mth_hashes(hashes[:k])]


def proof(m, hashes):
    if m == 0 or m == len(hashes):
        return []
    return subproof(m, hashes, True)


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "root":
        print(mth_hashes([leaf_hash(bytes.fromhex(a)) for a in args]).hex())
    elif cmd == "root-hashes":
        print(mth_hashes([bytes.fromhex(a) for a in args]).hex())
    elif cmd == "path":
        for h in path(int(args[0]), [leaf_hash(bytes.fromhex(a)) for a in args[1:]]):
            print(h.hex())
    elif cmd == "proof":
        for h in proof(int(args[0]), [leaf_hash(bytes.fromhex(a)) for a in args[1:]]):
            print(h.hex())
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
