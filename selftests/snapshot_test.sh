#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kvmtrust snapshot and rollback end to end inside the test VM
# (Documentation/snapshots.rst, "Tests"):
#
#   selftests/build/vmm (uuid A) --SIGSTOP--> snapshot save --pid  --> store/
#   QEMU -uuid B, QMP  --stop/migrate-------> snapshot save --qmp  --> store/ (+ stream)
#   rollback --pid QEMU --to SNAP: QEMU -S -incoming stream, measured, proven, cont
#
# Every tampering of a stored snapshot is refused by its check's name, and
# the guest it was meant for is left exactly as it was (same process, same
# memory_root while paused).
set -u
cd "$(dirname "$0")/.."
. scripts/lib/tap.sh
. selftests/lib/vmm.sh
. scripts/lib/ledger-pki.sh

K=$PWD/user/kvmtrust
VM_A=3b6f1c2d-4e5a-4b7c-8d9e-0f1a2b3c4d5e
VM_B=4c7a2d3e-5f6b-4c8d-9eaf-1a2b3c4d5e6f
VM_C=5d8b3e4f-6a7c-4d9e-afb0-2b3c4d5e6f70
PLAN=42
dir=$(mktemp -d /tmp/kt-snap.XXXXXX)
store=$dir/store
pids=()

cleanup() {
	local p
	vmm_stop
	for p in "${pids[@]}" $(cat "$dir"/*.newpid 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "${KT_KEEP:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT

kt() { echo "# kvmtrust $*" >&2; "$K" "$@"; }

# refused NAME CHECK CMD...: exits 10 with "Refused: CHECK:" on stderr.
refused() {
	local name=$1 check=$2 rc
	shift 2
	kt "$@" >"$dir/out" 2>"$dir/err"
	rc=$?
	tap_diag <"$dir/err"
	[ "$rc" -eq 10 ] && grep -q "^Refused: $check: " "$dir/err"
	tap_result $? "$name (exit $rc)"
}

# qmpx SOCKET COMMAND [ARGS-JSON]: one QMP command, its "return" as JSON.
qmpx() { python3 selftests/lib/qmp.py "$@"; }

# guest_bytes SOCKET GPA: 16 bytes of guest memory through the monitor.
guest_bytes() {
	qmpx "$1" human-monitor-command "{\"command-line\": \"xp /16bx $2\"}" |
		python3 -c 'import json, sys; print(" ".join(json.load(sys.stdin).split(":", 1)[1].split()))'
}

# stored_page SNAP: a page file the snapshot holds (not a zero page).
stored_page() {
	python3 - "$store" "$1" <<'PY'
import os, sys
store, snap = sys.argv[1:]
d = open(f"{store}/snapshots/{snap}/leaves.bin", "rb").read()
for i in range(0, len(d), 40):
    h = d[i + 8:i + 40].hex()
    if os.path.exists(f"{store}/pages/{h[:2]}/{h}"):
        print(f"{store}/pages/{h[:2]}/{h}")
        break
PY
}


# root_paused SOCKET PID: the module's memory_root of a QEMU paused for it.
root_paused() {
	local was
	was=$(qmpx "$1" query-status)
	[ "$was" = running ] && qmpx "$1" stop >/dev/null
	"$K" measure --pid "$2" --json | jq -r .memory_root
	[ "$was" = running ] && qmpx "$1" cont >/dev/null
}


tap_plan $PLAN
if [ ! -x selftests/build/vmm ] || [ ! -d /sys/module/kvmtrust ] || ! command -v qemu-system-x86_64 >/dev/null; then
	for i in $(seq $PLAN); do tap_skip "snapshot step $i" "needs vmm, kvmtrust.ko and QEMU"; done
	exit 0
fi
[ -e /proc/self/fd ] || mount -t proc proc /proc

export KVMTRUST_KEY_DIR=$dir/key KVMTRUST_SNAPSHOT_DIR=$store
"$K" tpm init --software --host-id vm-host >/dev/null 2>&1
PUB=$KVMTRUST_KEY_DIR/public.pem

# --- our VMM: save, verify, incremental, tampering -------------------------
coproc VMM { exec selftests/build/vmm --seed "${KT_SEED:-1}" --vcpus 2 --extra-mib 1 --uuid "$VM_A"; }
read -r ready <&"${VMM[0]}"
echo "# vmm: $ready"
pid=$(sed -n 's/^ready pid=\([0-9]*\) .*/\1/p' <<<"$ready")

kt snapshot save --pid "$pid" --json >"$dir/s1.json" 2>"$dir/err"
tap_result $? "snapshot save --pid (SIGSTOP, capture through /proc/PID/mem, sign)"
tap_diag <"$dir/err"
s1=$(jq -r .id "$dir/s1.json")
! grep -q "^State:.*T" "/proc/$pid/status"
tap_result $? "the VMM runs again after the save (not left stopped)"
kt measure --pid "$pid" --json >"$dir/m1.json"
tap_is "the snapshot's memory_root is the module's for the same guest" \
	"$(jq -r .memory_root "$dir/s1.json")" "$(jq -r .memory_root "$dir/m1.json")"
tap_ok "snapshot verify: report, binding, layout, roots, every page" \
	"$K" snapshot verify "$s1" --pubkey "$PUB"

# Five pages changed by the VMM: the second snapshot stores five new pages.
k=5
for i in $(seq $k); do
	gpa=$((0x100000000 + i * 0x1000))
	echo "peek $gpa" >&"${VMM[1]}"
	read -r _ old <&"${VMM[0]}"
	[ "$i" = 1 ] && old0=$((old))
	vmm poke "$gpa" $((old ^ 0xff)) >/dev/null
done
kt snapshot save --pid "$pid" --json >"$dir/s2.json"
s2=$(jq -r .id "$dir/s2.json")
tap_is "incremental: the second snapshot stores only the $k changed pages" \
	"$(jq -r .new_pages "$dir/s2.json")" "$k"
tap_is "snapshot list shows both" "$(kt snapshot list --json | jq -r '.[].id' | tr '\n' ' ')" \
	"$(printf '%s\n' "$s1" "$s2" | sort | tr '\n' ' ')"

# Tampering, each by name, on copies of s1's files put back afterwards.
pfile=$(stored_page "$s1")
cp "$pfile" "$dir/page.bak"
flip_byte "$pfile" 100
refused "a flipped byte in a stored page: refused, the page named" page \
	snapshot verify "$s1" --pubkey "$PUB"
grep -q "page gpa 0x" "$dir/err"
tap_result $? "the refusal names the page's guest physical address"
mv "$pfile" "$dir/page.moved"
refused "a missing page file: refused" page snapshot verify "$s1" --pubkey "$PUB"
mv "$dir/page.moved" "$pfile"
cp "$dir/page.bak" "$pfile"
cp "$store/snapshots/$s1/manifest.json" "$dir/manifest.bak"
cp "$store/snapshots/$s2/manifest.json" "$store/snapshots/$s1/manifest.json"
refused "a swapped manifest: refused" manifest snapshot verify "$s1" --pubkey "$PUB"
cp "$dir/manifest.bak" "$store/snapshots/$s1/manifest.json"

# Rollback of our VMM to s1: the guest ran and wrote, rax was set, a page
# was tampered with from outside; a rollback to a damaged s1 is refused and
# changes nothing; the real one restores pages and registers, proven.
vmm setreg rax 0x1234abcd >/dev/null
vmm run >/dev/null
sleep 0.5
vmm pause >/dev/null
vmm poke $((0x100000000 + 0x8000)) 0x77 >/dev/null
root_before=$("$K" measure --pid "$pid" --json | jq -r .memory_root)
cp "$pfile" "$dir/page.bak"
flip_byte "$pfile" 9
refused "rollback to a snapshot with a flipped page: refused before any byte is written" page \
	rollback --pid "$pid" --to "$s1" --pubkey "$PUB"
cp "$dir/page.bak" "$pfile"
tap_is "after the refusal the guest's memory is byte-identical (same memory_root)" \
	"$("$K" measure --pid "$pid" --json | jq -r .memory_root)" "$root_before"
kt rollback --pid "$pid" --to "$s1" --pubkey "$PUB" --json >"$dir/rbv.json" 2>"$dir/err"
tap_result $? "rollback of our VMM's guest: pages and registers restored, proven"
tap_diag <"$dir/err"
written=$(jq -r .pages_written "$dir/rbv.json")
[ "$written" -ge $((k + 1)) ] 2>/dev/null
tap_result $? "only the pages that differ were written ($written, >= $((k + 1)))"
"$K" measure --pid "$pid" --json >"$dir/m3.json"
tap_is "measured again: memory_root and vcpu_root are s1's" \
	"$(jq -r '.memory_root + " " + .vcpu_root' "$dir/m3.json")" \
	"$(jq -r '.memory_root + " " + .vcpu_root' "$dir/s1.json")"
vmm regs 0 "$dir/regs.bin" >/dev/null
regs_of() {	# regs_of FILE OFFSET: rax rip cr3 of the kvm_regs + kvm_sregs at OFFSET
	python3 -c 'import struct, sys
d = open(sys.argv[1], "rb").read()[int(sys.argv[2]):]
print(" ".join(hex(struct.unpack_from("<Q", d, o)[0]) for o in (0, 128, 144 + 240)))' "$@"
}
tap_is "rax, rip and cr3 are the snapshot's (KVM_GET_REGS/SREGS in the VMM)" \
	"$(regs_of "$dir/regs.bin" 0)" "$(regs_of "$store/snapshots/$s1/vcpus.bin" 8)"
tap_ok "verify --against s1: the restored guest is in the attested state" \
	"$K" verify --pid "$pid" --against "$s1" --pubkey "$PUB"
echo "peek $((0x100000000 + 0x1000))" >&"${VMM[1]}"
read -r _ back <&"${VMM[0]}"
tap_is "the VMM reads back the guest's old data at a page poked after s1" "$back" "$(printf '0x%02x' "$old0")"
vmm poke $((0x100000000 + 0x9000)) 0x66 >/dev/null
refused "verify --against s1 after a page changed: refused, it diverged" memory_root \
	verify --pid "$pid" --against "$s1" --pubkey "$PUB"
grep -q "diverged from snapshot $s1 in [0-9]* pages: 0x" "$dir/err"
tap_result $? "the refusal names the differing page ranges"

# The verifier loop: verify --against --rollback, recorded in the ledger.
ledger_pki "$dir" && "$K" ledger init --ledger "sqlite:$dir/ledger.db" >/dev/null
kt verify --pid "$pid" --against "$s1" --pubkey "$PUB" --rollback \
	--ledger "sqlite:$dir/ledger.db" --ledger-ca "$dir/ca.pem" \
	--key "$dir/host1.key" --cert "$dir/host1.pem" --json >"$dir/vr.json" 2>"$dir/err"
tap_result $? "verify --against --rollback: diverged, rolled back, proven"
tap_diag <"$dir/err"
KVMTRUST_LEDGER_CA=$dir/ca.pem "$K" ledger get --ledger "sqlite:$dir/ledger.db" \
	--index "$(jq -r .ledger_index "$dir/vr.json")" --json >"$dir/le.json"
tap_is "the ledger holds a rollback entry: vm, snapshot id, proven root, report digest" \
	"$(jq -r '[.kind, .vm, .detail, .measurement, .report] | join(" ")' "$dir/le.json")" \
	"rollback $VM_A $s1 $(jq -r .memory_root "$dir/s1.json") $(sha256sum <"$store/snapshots/$s1/report.jws" | cut -d' ' -f1)"
vmm_stop

# A snapshot of another VM, its report put in s1's place.
coproc VMM { exec selftests/build/vmm --seed "${KT_SEED:-1}" --vcpus 2 --extra-mib 1 --uuid "$VM_C"; }
read -r ready <&"${VMM[0]}"
pidc=$(sed -n 's/^ready pid=\([0-9]*\) .*/\1/p' <<<"$ready")
sc=$(kt snapshot save --pid "$pidc" --json | jq -r .id)
cp "$store/snapshots/$s1/report.jws" "$dir/report.bak"
cp "$store/snapshots/$sc/report.jws" "$store/snapshots/$s1/report.jws"
refused "a report for another VM: refused" binding snapshot verify "$s1" --pubkey "$PUB"
cp "$dir/report.bak" "$store/snapshots/$s1/report.jws"
tap_ok "s1 verifies again once every file is back" "$K" snapshot verify "$s1" --pubkey "$PUB"
vmm_stop

# --- QEMU: save with the stream, change, refused rollbacks, rollback --------
rm -f "$dir/b.qmp"
qemu-system-x86_64 -accel kvm -machine pc,smm=off -m 64 -nodefaults -display none \
	-uuid "$VM_B" -qmp "unix:$dir/b.qmp,server=on,wait=off" </dev/null >"$dir/b.log" 2>&1 &
qpid=$!
pids+=("$qpid")
for _ in $(seq 100); do [ -S "$dir/b.qmp" ] && break; sleep 0.1; done
sleep 1	# SeaBIOS finds no boot device and idles

kt snapshot save --pid "$qpid" --qmp "$dir/b.qmp" --json >"$dir/q1.json" 2>"$dir/err"
tap_result $? "snapshot save --qmp: QMP stop, capture, QEMU's stream, cont"
tap_diag <"$dir/err"
q1=$(jq -r .id "$dir/q1.json")
tap_is "QEMU runs again after the save" "$(qmpx "$dir/b.qmp" query-status)" running
tap_ok "the QEMU snapshot verifies, stream digest included" \
	"$K" snapshot verify "$q1" --pubkey "$PUB"
kt snapshot show "$q1" --json >"$dir/q1show.json"
tap_is "the manifest says qemu and holds the stream" \
	"$(jq -r '.vmm + " " + (.stream | tostring)' "$dir/q1show.json")" "qemu true"

# Change 1 MiB..: pc.ram's slot holds GPA 0x200000; write a page there.
hva=$(jq -r '[.slots[] | select(.gpa <= 2097152 and .gpa + .size > 2097152)][0] | .hva - .gpa + 2097152' "$dir/q1show.json")
before=$(guest_bytes "$dir/b.qmp" 0x200000)
poke_page "$qpid" "$hva" 0x5a
changed=$(guest_bytes "$dir/b.qmp" 0x200000)
[ "$changed" != "$before" ] && [[ $changed == *0x5a* ]]
tap_result $? "the guest's memory changed after the snapshot ($changed)"

# A corrupted snapshot is refused before the guest is touched.
qmpx "$dir/b.qmp" stop >/dev/null
root_before=$(root_paused "$dir/b.qmp" "$qpid")
qpf=$(stored_page "$q1")
cp "$qpf" "$dir/qpage.bak"
flip_byte "$qpf" 7
refused "rollback to a snapshot with a flipped page: refused" page \
	rollback --pid "$qpid" --qmp "$dir/b.qmp" --to "$q1" --pubkey "$PUB"
cp "$dir/qpage.bak" "$qpf"
cp "$store/snapshots/$q1/report.jws" "$dir/qreport.bak"
cp "$store/snapshots/$s1/report.jws" "$store/snapshots/$q1/report.jws"
refused "rollback with another VM's report: refused" report \
	rollback --pid "$qpid" --qmp "$dir/b.qmp" --to "$q1" --pubkey "$PUB"
cp "$dir/qreport.bak" "$store/snapshots/$q1/report.jws"
refused "rollback of VM B to VM A's snapshot: refused" vm \
	rollback --pid "$qpid" --qmp "$dir/b.qmp" --to "$s1" --pubkey "$PUB"
kill -0 "$qpid" 2>/dev/null
tap_result $? "after the refusals the same QEMU process holds the guest"
tap_is "and its memory is byte-identical (same memory_root while paused)" \
	"$(root_paused "$dir/b.qmp" "$qpid")" "$root_before"
qmpx "$dir/b.qmp" cont >/dev/null

# The rollback proper.
kt rollback --pid "$qpid" --qmp "$dir/b.qmp" --to "$q1" --pubkey "$PUB" \
	--log "$dir/new.log" --json >"$dir/rb.json" 2>"$dir/err"
tap_result $? "rollback --to the QEMU snapshot: restored"
tap_diag <"$dir/err"
npid=$(jq -r .pid "$dir/rb.json")
echo "$npid" >"$dir/rb.newpid"
tap_is "the proven roots are the snapshot's" \
	"$(jq -r '.memory_root + " " + .vcpu_root' "$dir/rb.json")" \
	"$(jq -r '.memory_root + " " + .vcpu_root' "$dir/q1.json")"
for _ in $(seq 50); do kill -0 "$qpid" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$qpid" 2>/dev/null
tap_result $? "the old QEMU has quit"
tap_is "the restored QEMU runs (on the same QMP path)" "$(qmpx "$dir/b.qmp" query-status)" running
tap_is "the page written after the snapshot holds its old bytes again" \
	"$(guest_bytes "$dir/b.qmp" 0x200000)" "$before"

# Killing the CLI mid-rollback, once the restoring QEMU exists: the old
# QEMU is paused (its monitor at PATH.kt-rollback), the new one never ran;
# never a half-restored guest that runs.
qpid=$npid
q2=$(kt snapshot save --pid "$qpid" --qmp "$dir/b.qmp" --json | jq -r .id)
"$K" rollback --pid "$qpid" --qmp "$dir/b.qmp" --to "$q2" --pubkey "$PUB" \
	>/dev/null 2>&1 &
cli=$!
for _ in $(seq 300); do
	compgen -G "$store/.rollback-*.qmp" >/dev/null && break
	sleep 0.05
done
kill -9 "$cli" 2>/dev/null
wait "$cli" 2>/dev/null
running=""
for s in "$dir/b.qmp" "$dir/b.qmp.kt-rollback" "$store"/.rollback-*.qmp; do
	[ -S "$s" ] || continue
	st=$(qmpx "$s" query-status 2>/dev/null) || continue
	p=$(python3 -c 'import socket,struct,sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
print(struct.unpack("3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0])' "$s")
	echo "$p" >>"$dir/kill.newpid"
	echo "# after the kill: QEMU $p on $s is $st"
	[ "$st" = running ] && running="$running $p"
done
tap_is "killed mid-rollback: no QEMU of the VM runs (old paused, new not started)" "$running" ""
kill -0 "$qpid" 2>/dev/null && [ -S "$dir/b.qmp.kt-rollback" ] &&
	[ "$(qmpx "$dir/b.qmp.kt-rollback" query-status)" = paused ]
tap_result $? "killed mid-rollback: the old QEMU is there, paused, its monitor aside"

tap_done
