#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Incremental re-measurement (Documentation/measurement.rst), in the test VM.

Drives selftests/build/vmm and `kvmtrust measure`, and checks every root
against selftests/recompute.py's recomputation from the VMM's own memory
dump, which shares nothing with the module:

  - soundness: ROUNDS rounds of random writes, by the guest itself through
    KVM (vmm "gpoke"), by the VMM through its own mapping (vmm "fill"), with
    a memslot added half-way: every incremental root equals the
    recomputation, pages_hashed >= the distinct pages written, and the
    measurement after the new memslot is full; --full every 25 rounds gives
    the same root;
  - no change: 0 pages hashed, the same root;
  - another process's clear_refs forces a full measurement;
  - a memslot deleted and added again over a copy of its memory at another
    address (vmm "moveslot", as QEMU remaps guest memory when an incoming
    migration loads its PAM registers): the same pages in the same order, so
    still incremental, the moved pages' fingerprints deciding: 0 pages
    hashed for an equal copy, at most 2^tree_level for one byte changed;
  - measure prove: the audit path checks with recompute.py's RFC 9162
    verifier; a changed page is refused as "stale", an address outside the
    guest as not found;
  - THP: 1 % of a huge-page-backed memslot written at a stride of 100
    pages: pages_hashed at most 2^tree_level per page written (exactly the
    pages written with tree_level=0), not the 2 MiB regions touched;
  - memory kept: tree_bytes at most 16 per guest page (and 32 per level);
  - QEMU: a running QEMU guest (-machine pc, SMM at its default), written
    through QEMU's own mapping of guest RAM (/proc/PID/mem) and by the
    guest itself (SeaBIOS's timer): every incremental --freeze root equals
    a --full one taken in the same QMP stop, pages_hashed >= the pages
    written, and the guest runs after each freeze.

Prints TAP for one part, "rounds", "prove", "thp" or "qemu" (four programs,
incr_test.sh, incr_prove_test.sh, incr_thp_test.sh and incr_qemu_test.sh, so that each fits
run-in-vm's time per program). KT_SEED picks the random writes;
KT_INCR_ROUNDS the rounds.
"""
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts", "lib"))
import recompute  # noqa: E402
import rfc9162  # noqa: E402

KT = os.path.join(ROOT, "user", "kvmtrust")
VMM = os.path.join(HERE, "build", "vmm")
PARAM = "/sys/module/kvmtrust/parameters/tree_level"
PAGE = 4096
ROUNDS = int(os.environ.get("KT_INCR_ROUNDS", "200"))
SEED = int(os.environ.get("KT_SEED", random.randrange(1 << 30)))
THP_GPA = 0x40000000
NEW_SLOT_GPA = 0x80000000
EXTRA_GPA = 0x100000000
STUB_PAGE = 0x9000  # vmm.c's guest stub: never a target

PARTS = {"rounds": 9, "prove": 6, "thp": 3, "qemu": 5}
QEMU_MIB = 96
QEMU_ROUNDS = int(os.environ.get("KT_INCR_QEMU_ROUNDS", "30"))
QMP = os.path.join(HERE, "lib", "qmp.py")
PLAN = 0
n = 0
failed = 0


def tap(ok, name, diag=None):
    global n, failed
    n += 1
    print("%sok %d %s" % ("" if ok else "not ", n, name), flush=True)
    if not ok:
        failed += 1
        for line in str(diag or "").splitlines():
            print("# " + line)


def skip_rest(reason):
    while n < PLAN:
        tap(True, "# SKIP " + reason)


class Vmm:
    def __init__(self, *args):
        # The CLI names a VM by the UUID on its VMM's command line.
        self.p = subprocess.Popen([VMM, "--seed", str(SEED), "--uuid", str(uuid.uuid4()), *args],
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        ready = self.p.stdout.readline()
        m = re.search(r"pid=(\d+)", ready)
        if not m:
            raise RuntimeError("vmm did not start: %r" % ready)
        self.pid = int(m.group(1))

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        reply = self.p.stdout.readline().strip()
        if not reply.startswith("ok"):
            raise RuntimeError("vmm %s: %s" % (line, reply))
        return reply[3:]

    def slots(self):
        out = []
        for s in self.cmd("slots").split():
            gpa, _, size = (int(x, 0) for x in s.split(":"))
            out.append((gpa, size))
        return out

    def root(self, work):
        path = os.path.join(work, "dump")
        self.cmd("dump " + path)
        return rfc9162.mth_hashes(recompute.memory_leaves(path)).hex(), path

    def stop(self):
        try:
            self.cmd("exit")
        except Exception:
            pass
        self.p.wait()


def measure(vmm, *flags, freeze=True):
    """Incremental measurements happen inside a freeze only (measurement.rst)."""
    flags = flags + (("--freeze",) if freeze else ())
    out = subprocess.run([KT, "measure", "--pid", str(vmm.pid), "--json", *flags],
                         capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError("kvmtrust measure: %s" % out.stderr.strip())
    return json.loads(out.stdout)


def prove(vmm, gpa):
    return subprocess.run([KT, "measure", "prove", "--pid", str(vmm.pid), "--gpa", hex(gpa),
                           "--json"], capture_output=True, text=True)


def set_level(level):
    with open(PARAM, "w") as f:
        f.write(str(level))


def soundness(work):
    vmm = Vmm("--extra-mib", "1")
    try:
        first = measure(vmm)
        want, _ = vmm.root(work)
        tap(first["full"] and first["pages_hashed"] == first["pages"] and first["memory_root"] == want,
            "first measurement: full, every page hashed, root of recompute.py",
            json.dumps(first))
        again = measure(vmm)
        tap(not again["full"] and again["pages_hashed"] == 0 and again["memory_root"] == want,
            "no change: incremental, 0 pages hashed, the same root", json.dumps(again))
        paused = measure(vmm, freeze=False)
        tap(paused["full"] and paused["pages_hashed"] == paused["pages"] and
            paused["memory_root"] == want,
            "without --freeze (the VMM's threads run): full, every page hashed",
            json.dumps(paused))

        rng = random.Random(SEED)
        bad_root, bad_count, bad_full, bad_full_root = [], [], [], []
        added = False
        hashed = written = 0
        pages = [(g + i) for g, size in vmm.slots() for i in range(0, size, PAGE)]
        for rnd in range(ROUNDS):
            new_slot = rnd == ROUNDS // 2
            if new_slot:
                vmm.cmd("addslot 5 %#x %#x" % (NEW_SLOT_GPA, 1 << 20))
                added = True
                pages = [(g + i) for g, size in vmm.slots() for i in range(0, size, PAGE)]
            targets = set()
            for _ in range(rng.randrange(0, 5)):
                gpa = rng.choice(pages)
                if gpa == STUB_PAGE:
                    continue
                off = rng.randrange(PAGE)
                if gpa < 1 << 32 and rng.random() < 0.5:
                    vmm.cmd("gpoke %#x" % (gpa + off))      # the guest, through KVM
                else:
                    vmm.cmd("fill %#x 1 1" % (gpa + off))   # the VMM's own mapping
                targets.add(gpa)
            m = measure(vmm)
            want, _ = vmm.root(work)
            if m["memory_root"] != want:
                bad_root.append(rnd)
            if m["pages_hashed"] < len(targets):
                bad_count.append((rnd, m["pages_hashed"], len(targets)))
            if m["full"] != new_slot:
                bad_full.append((rnd, m["full"]))
            if not m["full"]:
                hashed += m["pages_hashed"]
                written += len(targets)
            if rnd % 25 == 24:
                f = measure(vmm, "--full")
                if not f["full"] or f["pages_hashed"] != f["pages"] or f["memory_root"] != want:
                    bad_full_root.append(rnd)
        print("# %d rounds, seed %d: %d pages written, %d hashed by incremental measurements"
              % (ROUNDS, SEED, written, hashed))
        tap(added and not bad_root, "%d rounds of guest and vmm writes and a new memslot: every "
            "root equals recompute.py's" % ROUNDS, "rounds: %s" % bad_root)
        tap(not bad_count, "pages_hashed >= distinct pages written, every round", bad_count)
        tap(not bad_full, "incremental every round but the one after the new memslot (full)",
            bad_full)
        tap(not bad_full_root, "--full: full, every page hashed, the same root", bad_full_root)

        level = int(open(PARAM).read())
        vmm.cmd("moveslot %#x %#x" % (EXTRA_GPA, 1 << 40))
        m = measure(vmm)
        want, _ = vmm.root(work)
        tap(not m["full"] and m["pages_hashed"] == 0 and m["memory_root"] == want,
            "a memslot moved to an equal copy of its memory (a new generation): incremental, "
            "0 pages hashed, the same root", json.dumps(m))
        vmm.cmd("moveslot %#x %#x" % (EXTRA_GPA, 7 * PAGE + 5))
        m = measure(vmm)
        want, _ = vmm.root(work)
        tap(not m["full"] and 1 <= m["pages_hashed"] <= 1 << level and m["memory_root"] == want,
            "moved to a copy with one byte changed: incremental, at most 2^tree_level pages "
            "hashed, root of recompute.py", json.dumps(m))
    finally:
        vmm.stop()


def proofs(work):
    vmm = Vmm("--extra-mib", "1")
    try:
        rng = random.Random(SEED)
        measure(vmm)
        # Another user of clear_refs (CRIU) must not hide a write.
        vmm.cmd("fill %#x 1 1" % (0x20000 + 5))
        with open("/proc/%d/clear_refs" % vmm.pid, "w") as f:
            f.write("4")
        m = measure(vmm)
        want, dump = vmm.root(work)
        tap(m["full"] and m["memory_root"] == want,
            "clear_refs by another process: the next measurement is full, root right", json.dumps(m))

        # Proofs against the last memory_root, checked by recompute.py.
        ok, diag = True, []
        for gpa in (0x0, 0x3000 + 17, 0x20000 + 5, EXTRA_GPA + PAGE * 255 + 1,
                    rng.choice([g for g, s in vmm.slots()])):
            out = prove(vmm, gpa)
            try:
                p = json.loads(out.stdout)
                assert p["memory_root"] == m["memory_root"]
                recompute.check_proof(dump, p)
            except Exception as e:  # noqa: BLE001
                ok = False
                diag.append("gpa %#x: %s %s" % (gpa, e, out.stderr))
        tap(ok, "measure prove: audit paths verify against memory_root (recompute.py)", "\n".join(diag))
        vmm.cmd("fill %#x 1 1" % (0x20000 + PAGE + 3))
        out = prove(vmm, 0x20000 + PAGE)
        tap(out.returncode == 10 and "stale" in out.stderr,
            "measure prove of a page changed since: refused, stale", out.stderr + str(out.returncode))
        out = prove(vmm, 0x30000)
        tap(out.returncode == 3 and "not in the guest memory" in out.stderr,
            "measure prove outside guest memory: not found", out.stderr + str(out.returncode))

        # A failed measurement (a vCPU running: --freeze would stop it), then
        # a streamed one: nothing to prove.
        vmm.cmd("run")
        try:
            measure(vmm, freeze=False)
        except RuntimeError:
            pass
        vmm.cmd("pause")
        out = prove(vmm, 0x0)
        tap(out.returncode == 3 and "the last measurement failed" in out.stderr,
            "measure prove after a failed measurement: not found", out.stderr + str(out.returncode))
        with open("/sys/module/kvmtrust/parameters/tree_max_mib") as f:
            old = f.read().strip()
        with open("/sys/module/kvmtrust/parameters/tree_max_mib", "w") as f:
            f.write("0")
        try:
            m = measure(vmm)
            out = prove(vmm, 0x0)
        finally:
            with open("/sys/module/kvmtrust/parameters/tree_max_mib", "w") as f:
                f.write(old)
        tap(m["full"] and out.returncode == 3 and "no tree kept" in out.stderr,
            "measure prove with no tree kept (tree_max_mib=0): not found",
            out.stderr + str(out.returncode))
    finally:
        vmm.stop()


def thp_pages(pid):
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("AnonHugePages:"):
                return int(line.split()[1]) // 4
    return 0


def thp(work):
    vmm = Vmm("--thp-mib", "32")
    try:
        huge = thp_pages(vmm.pid)
        print("# AnonHugePages: %d pages" % huge)
        if huge < 4096:
            skip_rest("transparent huge pages do not back the memslot (%d pages)" % huge)
            return
        base = measure(vmm)
        count = (32 << 20) // PAGE // 100
        results = []
        for level in (3, 0):
            set_level(level)
            measure(vmm)   # a new level: a full measurement first
            vmm.cmd("fill %#x %#x %d" % (THP_GPA + 7, 100 * PAGE, count))
            m = measure(vmm)
            want, _ = vmm.root(work)
            results.append((level, m, want))
        set_level(3)
        diag = "\n".join("tree_level %d: %d written, %s" % (lv, count, json.dumps(m))
                         for lv, m, _ in results)
        (l3, m3, w3), (l0, m0, w0) = results
        tap(m3["memory_root"] == w3 and m0["memory_root"] == w0 and not m3["full"] and not m0["full"],
            "THP, 1 % at a stride of 100 pages: incremental, roots of recompute.py", diag)
        tap(count <= m3["pages_hashed"] <= 8 * count and m0["pages_hashed"] == count,
            "THP: pages_hashed %d (tree_level 3, <= 8 x %d written) and %d (tree_level 0), "
            "not the %d pages of the regions touched" % (m3["pages_hashed"], count,
                                                         m0["pages_hashed"], 32 << 20 >> 12), diag)
        # 8 B of fingerprint and 32 B per node of levels 3 and up: a level
        # rounds up by at most one node, so 16 B per page and 32 B per level.
        levels = base["pages"].bit_length() + 1
        tap(base["tree_bytes"] <= 16 * base["pages"] + 32 * levels,
            "kept memory %d bytes for %d pages: 16 per page and 32 per level at most (%.3f per page)"
            % (base["tree_bytes"], base["pages"], base["tree_bytes"] / base["pages"]), json.dumps(base))
    finally:
        vmm.stop()


class Qemu:
    """A QEMU guest with no disk (SeaBIOS idles, its timer writing RAM)."""

    def __init__(self, work):
        self.qmp_path = os.path.join(work, "q.qmp")
        self.p = subprocess.Popen(
            ["qemu-system-x86_64", "-accel", "kvm", "-machine", "pc", "-nographic", "-nodefaults",
             "-m", str(QEMU_MIB), "-uuid", str(uuid.uuid4()),
             "-qmp", "unix:%s,server=on,wait=off" % self.qmp_path],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.pid = self.p.pid
        for _ in range(100):
            if os.path.exists(self.qmp_path):
                break
            time.sleep(0.1)
        # QMP answers once the machine, its RAM included, is set up.
        self.qmp("query-status")
        # Guest RAM: QEMU's one mapping of exactly that size.
        self.ram = None
        with open("/proc/%d/maps" % self.pid) as f:
            for line in f:
                lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                if hi - lo == QEMU_MIB << 20:
                    self.ram = lo
        if self.ram is None:
            raise RuntimeError("no %d MiB mapping in QEMU" % QEMU_MIB)

    def qmp(self, cmd):
        out = subprocess.run([sys.executable, QMP, self.qmp_path, cmd], capture_output=True,
                             text=True)
        if out.returncode:
            raise RuntimeError("qmp %s: %s" % (cmd, out.stderr.strip()))
        return out.stdout.strip()

    def poke(self, offset):
        """One byte of guest RAM changed through QEMU's own mapping."""
        with open("/proc/%d/mem" % self.pid, "r+b", buffering=0) as f:
            f.seek(self.ram + offset)
            b = f.read(1)
            f.seek(self.ram + offset)
            f.write(bytes([(b[0] + 1) & 0xff]))

    def stop(self):
        self.p.kill()
        self.p.wait()


def qemu(work):
    if not shutil.which("qemu-system-x86_64"):
        skip_rest("no qemu-system-x86_64")
        return
    q = Qemu(work)
    try:
        time.sleep(1)
        first = measure(q)
        again = measure(q)
        tap(first["full"] and first["pages_hashed"] == first["pages"],
            "QEMU guest running (machine pc, SMM on): the first --freeze measurement is full",
            json.dumps(first))
        tap(not again["full"] and again["pages_hashed"] < again["pages"] // 100,
            "a second one is incremental: %d of %d pages hashed (the guest's own writes)"
            % (again["pages_hashed"], again["pages"]), json.dumps(again))
        rng = random.Random(SEED)
        bad_root, bad_count, not_running = [], [], []
        written = hashed = 0
        # From 1 MiB up: below it lie the BIOS areas QEMU maps as ROM.
        pages = range(256, QEMU_MIB << 8)
        for rnd in range(QEMU_ROUNDS):
            targets = set(rng.sample(pages, rng.randrange(0, 6)))
            for page in targets:
                q.poke(page * PAGE + rng.randrange(PAGE))
            q.qmp("stop")
            m = measure(q)
            f = measure(q, "--full")
            q.qmp("cont")
            if m["full"] or m["memory_root"] != f["memory_root"]:
                bad_root.append((rnd, m["full"]))
            if m["pages_hashed"] < len(targets):
                bad_count.append((rnd, m["pages_hashed"], len(targets)))
            written += len(targets)
            hashed += m["pages_hashed"]
            # Frozen and continued inside the measurement: QEMU never saw it.
            frozen = measure(q)
            if q.qmp("query-status") != "running" or frozen["full"]:
                not_running.append(rnd)
            time.sleep(0.1)
        print("# QEMU: %d rounds, seed %d: %d pages written, %d hashed by incremental measurements"
              % (QEMU_ROUNDS, SEED, written, hashed))
        tap(not bad_root, "%d rounds of writes through QEMU's mapping and by the guest: every "
            "incremental root equals --full's" % QEMU_ROUNDS, "rounds: %s" % bad_root)
        tap(not bad_count, "QEMU: pages_hashed >= distinct pages written, every round", bad_count)
        tap(not not_running, "QEMU: after each --freeze the guest runs (query-status), and the "
            "next measurement is incremental", not_running)
    finally:
        q.stop()


def main(argv):
    global PLAN
    part = {"rounds": soundness, "prove": proofs, "thp": thp, "qemu": qemu}.get(
        argv[1] if len(argv) > 1 else "")
    if not part:
        sys.stderr.write("usage: incr_test.py rounds|prove|thp|qemu\n")
        return 2
    PLAN = PARTS[argv[1]]
    print("TAP version 13\n1..%d" % PLAN, flush=True)
    print("# seed %d" % SEED)
    if not os.path.exists("/dev/kvm") or subprocess.run([KT, "info"], capture_output=True).returncode:
        skip_rest("no /dev/kvm or no kvmtrust.ko")
        return 0
    with tempfile.TemporaryDirectory(prefix="kt-incr.") as work:
        try:
            part(work)
        except Exception as e:  # noqa: BLE001
            tap(False, "%s: %s" % (part.__name__, e))
    while n < PLAN:
        tap(False, "not reached")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
