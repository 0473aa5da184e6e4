#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kvmtrust migrate start --pid / receive --pid: a guest of our own VMM
# (selftests/vmm.c) moved between two "hosts" in one network namespace,
# joined by unix sockets, inside the test VM (Documentation/migration.rst,
# "Our own VMM"). The source VMM runs its guest (the spin counter at
# KT_COUNTER_GPA keeps advancing); each destination is a VMM of the same
# configuration started with --incoming (stopped, waiting for the state).
#
#   - a VMM that is not waiting (running) is refused by receive;
#   - a destination outside the grant's CAs: refused (host-ca) before any
#     byte moves, the source guest keeps running;
#   - a destination VMM with other memory slots: refused (layout) after the
#     source stopped, the source guest resumes;
#   - a destination whose arrived memory is changed before its measurement
#     (one write through /proc/PID/mem): refused (memory-root), the
#     destination killed, the source guest resumes, the ledger's attest fail;
#   - the happy path: roots equal, the source VMM gone, the counter keeps
#     advancing on the destination, the final report
#     verifies, the new token, attest pass + move entries; the guest that
#     runs on the destination is the source's (EBP - counter, which the
#     guest keeps constant, is the source's; the 32-bit counter wraps in
#     seconds under nested KVM, so its value alone says little).
set -u
cd "$(dirname "$0")/.."
. selftests/lib/migrate.sh
. selftests/lib/vmm.sh
. selftests/lib/migrate_vmm.sh

PLAN=38
dir=$(mktemp -d /tmp/kt-migrate-vmm.XXXXXX)
tmp=$dir

vmm_begin

(cd "$dir" && migrate_setup) >"$dir/setup.log" 2>&1
setup=$?
tap_diag <"$dir/setup.log"
tap_is "setup: ledger, registration, grant, the guest's token, host b's host key" "$setup" 0

vmm_start 1 "$VM"
src_vmm=${pids[-1]}
vmm_n 1 run
tap_ok "source guest running: its counter advances" advancing 1

# --- receive refuses a VMM that is not waiting --------------------------------------
dst_vmm=$src_vmm
receive recv0 host-a "unix:$dir/recv0.sock" --ledger "$KVMTRUST_LEDGER"
reap; rs=$?
tap_is "receive refuses a running VMM (not stopped waiting for a guest), exit 1" \
	"$rs $(grep -o 'is running, not stopped waiting for a guest' "$dir/recv0.err")" \
	"1 is running, not stopped waiting for a guest"
tap_ok "  the source guest still runs" advancing 1

# --- refused before any byte moves -------------------------------------------------------
dst_start 2
tap_is "destination VMM waits, stopped" "$?" 0
d2=$dst_vmm
receive recv1 host-b "unix:$dir/recv1.sock" --ledger "$KVMTRUST_LEDGER"
size=$(ledger_size)
start "unix:$dir/recv1.sock"
reap; rs=$?
show
tap_is "destination outside the grant's CAs: source exits 10" "$(cat "$dir/start.status")" 10
tap_ok "  and says which rule" grep -q "rule host-ca" "$dir/start.err"
tap_is "  the destination refuses by host-ca, exit 10" \
	"$rs $(grep -o '^Refused: host-ca' "$dir/recv1.err")" "10 Refused: host-ca"
tap_ok "  no byte of the guest moved" bash -c "! grep -q 'received' '$dir/recv1.err'"
tap_ok "  the source VMM was never stopped: its guest still runs" advancing 1
tap_ok "  the destination VMM is discarded" gone "$d2"
tap_is "  nothing in the ledger" "$(ledger_size)" "$size"

# --- a destination VMM of another configuration: refused after the source stopped ---------
vmm_start 5 "$VM" --incoming --extra-mib 1
d5=${pids[-1]}
dst_vmm=$d5
stopped "$d5"
size=$(ledger_size)
receive recv5 host-a "unix:$dir/recv5.sock" --ledger "$KVMTRUST_LEDGER"
start "unix:$dir/recv5.sock"
reap; rs=$?
show
tap_is "a destination with other memory slots: refused by layout, exit 10" \
	"$rs $(grep -o '^Refused: layout' "$dir/recv5.err")" "10 Refused: layout"
tap_ok "  the source fails" test "$(cat "$dir/start.status")" -ne 0
tap_ok "  the destination VMM is discarded" gone "$d5"
tap_ok "  the source guest resumes: its counter advances" advancing 1
tap_is "  nothing in the ledger (no final report arrived)" "$(ledger_size)" "$size"

# --- the arrived memory is changed before the destination measures it ---------------------
# A broken or malicious destination host rewrites the known page
# (guest_layout.h: dwords KT_KNOWN_MAGIC + i at 0x3000) once the stream has
# brought it, before receive measures. The write must not fall inside the
# measurement (the module refuses a guest written meanwhile, "pause the
# guest"), so receive's netlink requests are each held up by 500 ms
# (strace's delay injection: the requests are only delayed) and the writer
# writes once, as soon as the source's counter page (0x4000, after the
# known page in the stream; 0 in the waiting VMM) has arrived.
dst_start 3
d3=$dst_vmm
python3 - "$d3" >"$dir/writer.log" 2>&1 <<'PY' &
import re, struct, sys, time
pid = int(sys.argv[1])
known = b"".join(struct.pack("<I", (0x6b766d74 + i) & 0xffffffff) for i in range(1024))
mem = open(f"/proc/{pid}/mem", "r+b", buffering=0)
at = None
for line in open(f"/proc/{pid}/maps"):
    m = re.match(r"([0-9a-f]+)-([0-9a-f]+) rw", line)
    if not m or at:
        continue
    lo, hi = int(m[1], 16), int(m[2], 16)
    if hi - lo > (1 << 30):
        continue
    try:
        mem.seek(lo); data = mem.read(hi - lo)
    except OSError:
        continue
    for off in range(0, len(data), 4096):
        if data[off:off + 4096] == known:
            at = lo + off
            break
if at is None:
    sys.exit("known page not found")
mem.seek(at + 0x1000)
print(f"known page at {at:#x}, counter {int.from_bytes(mem.read(4), 'little')}", flush=True)
end = time.time() + 120
while time.time() < end:
    mem.seek(at + 0x1000)
    if int.from_bytes(mem.read(4), "little"):
        mem.seek(at); mem.write(b"tampered")
        print("arrived: known page rewritten", flush=True)
        break
    time.sleep(0.0005)
PY
writer=$!
pids+=($writer)
wait_for "$dir/writer.log" "known page at"
tap_ok "the writer found the destination's known page" grep -q "known page at" "$dir/writer.log"
size=$(ledger_size)
in_dst=(strace -f -qq -o /dev/null -e trace=sendmsg -e inject=sendmsg:delay_enter=500000)
receive recv2 host-a "unix:$dir/recv2.sock" --ledger "$KVMTRUST_LEDGER" --report-out "$dir/final2.jwt"
in_dst=()
start "unix:$dir/recv2.sock"
reap; rs=$?
kill "$writer" 2>/dev/null; wait "$writer" 2>/dev/null
show
tap_diag <"$dir/writer.log"
tap_ok "  the writer rewrote the arrived known page" grep -q "known page rewritten" "$dir/writer.log"
tap_is "changed memory on arrival: the destination refuses by memory-root, exit 10" \
	"$rs $(grep -o '^Refused: memory-root' "$dir/recv2.err")" "10 Refused: memory-root"
tap_is "  the source is refused too (arrival), exit 10" \
	"$(cat "$dir/start.status") $(grep -o '^Refused: arrival' "$dir/start.err")" "10 Refused: arrival"
tap_ok "  the guest's bytes had moved" grep -q '^received [1-9]' "$dir/recv2.err"
tap_ok "  the destination VMM is discarded" gone "$d3"
tap_ok "  the source guest resumes: its counter advances" advancing 1
tap_is "  the ledger records a failed attestation on host a" "$(entry "$size")" \
	"attest	fail	$VM	$HOST_A"
tap_is "  naming the failed check and the source's report" \
	"$(entry_field "$size" detail report)" "memory-root $(sha256sum <"$dir/final2.jwt" | cut -c1-64)"

# --- the happy path ---------------------------------------------------------------------
# The resumed source guest is attested again on host b (score 80 -> 85, the
# last attestation a pass): no verify first for the move.
(cd "$dir" && kt ledger append attest --vm "$VM" --result pass) 2>&1 | tap_diag
dst_start 4
receive recv3 host-a "unix:$dir/recv3.sock" --ledger "$KVMTRUST_LEDGER" \
	--token-out "$dir/new.jwt" --report-out "$dir/final.jwt"
size=$(ledger_size)
vmm_move "unix:$dir/recv3.sock" recv3
tap_is "verified move of our VMM's guest: source exits 0" "$(cat "$dir/start.status")" 0
tap_is "  destination exits 0" "$rs" 0
tap_ok "  the source VMM is gone" gone "$src_vmm"
after=$(invariant 4)
tap_ok "  the guest running on the destination is the source's (EBP - counter kept)" \
	same_guest "$before" "$after"
tap_ok "  and keeps advancing there" advancing 4
root=$(field memory_root "$dir/start.out")
tap_is "  both sides agree on memory_root" "${root:-none} ${root:-none}" \
	"$(field memory_root "$dir/recv3.out") $(field memory_root "$dir/start.out")"
root=$(field vcpu_root "$dir/start.out")
tap_ok "  and on vcpu_root" test -n "$root" -a "$root" = "$(field vcpu_root "$dir/recv3.out")"
tap_ok "  the destination measured in full" grep -q '^measure_full: yes' "$dir/recv3.out"
tap_is "  the ledger: the final attestation passed, then the move to host a" \
	"$(entry "$size"; entry $((size + 1)))" "attest	pass	$VM	$HOST_A
move	-	$VM	$HOST_A"
digest=$(field report_digest "$dir/start.out")
tap_is "  both entries name the final report by its digest" \
	"$(entry_field "$size" report) $(entry_field $((size + 1)) report)" "${digest:-none} ${digest:-none}"
tap_ok "  the final report verifies on its own: host b's chain, the arrived roots" \
	kt verify "$dir/final.jwt" --anchors "$dir/host-anchors" --crls "$dir/host-anchors" \
	--kind vm-state --expect-memory-root "$(field memory_root "$dir/recv3.out")" \
	--expect-vcpu-root "$(field vcpu_root "$dir/recv3.out")"
tap_is "  a new token for the guest, issued by host a" \
	"$(kt token verify --anchors "$dir/host-anchors" --crls "$dir/host-anchors" --aud "$AUD" \
	   "$dir/new.jwt" | sed -n 's/^\(guest\|host\): *//p' | tr '\n' ' ')" "$VM $HOST_A "
echo "# verified move of our VMM's guest: $(( (t1 - t0) / 1000000 )) ms end to end," \
	"$(field bytes "$dir/start.out") bytes, verify_ms $(field verify_ms "$dir/start.out")"
vmm_n 4 exit

tap_done
