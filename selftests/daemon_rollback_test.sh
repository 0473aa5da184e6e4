#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# In the test VM: kvmtrustd's rollback action (Documentation/kvmtrustd.rst,
# "Actions"). Our VMM's guest is snapshotted twice (the newer snapshot's
# report is then damaged), kvmtrustd attests it every second, a page is
# tampered with from outside (/proc/PID/mem) -> the round fails -> the
# action restores the newest snapshot that verifies, proves its roots and
# writes a rollback entry -> the next round passes. With no snapshot left
# that verifies, the rollback is refused and the freeze action stops the
# guest (fail closed).
#
#   selftests/build/vmm --uuid $U (paused)  --snapshot save--> $tmp/store
#        ^ measure each second, /proc/PID/mem writes on rollback
#   kvmtrustd  on_fail = log, rollback, freeze   snapshot_store = $tmp/store
#        v
#   sqlite:$tmp/ledger.db: attest pass.., attest fail, rollback, attest pass..
set -u
cd "$(dirname "$0")/.."
. scripts/lib/tap.sh
. selftests/lib/vmm.sh
. scripts/lib/ledger-pki.sh
. selftests/lib/kvmtrustd.sh

K=$PWD/user/kvmtrust
KD=$PWD/user/kvmtrustd
tmp=$(mktemp -d /tmp/kt-daemon-rb.XXXXXX)
U=8c3d4e5f-6a7b-4c8d-9e0f-a0b1c2d3e4f5
daemon= mounted_proc=

cleanup() {
	[ -n "$daemon" ] && kill -9 "$daemon" 2>/dev/null
	[ -n "${pid:-}" ] && kill -CONT "$pid" 2>/dev/null
	vmm_stop
	[ -n "$mounted_proc" ] && umount /proc
	[ -n "${KT_KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT

# A rollback verifies the snapshot and measures twice: up to 60 s per wait.
WAIT_FOR_TENTHS=600
# page HVA: the SHA-256 of one page of the VMM at HVA, read through /proc/PID/mem.
page() {
	python3 -c 'import hashlib, sys; f = open(f"/proc/{sys.argv[1]}/mem", "rb"); f.seek(int(sys.argv[2])); print(hashlib.sha256(f.read(4096)).hexdigest())' "$pid" "$1"
}
stopped() { [ "$(awk '{print $3}' "/proc/$pid/stat")" = T ]; }

N=18
tap_plan $N
if [ ! -x selftests/build/vmm ] || [ ! -d /sys/module/kvmtrust ]; then
	for i in $(seq $N); do tap_skip "daemon rollback step $i" "needs selftests/build/vmm and kvmtrust.ko"; done
	exit 0
fi
if [ ! -e /proc/self/fd ]; then
	echo "# /proc in this chroot is not procfs; mounting it for this test"
	mount -t proc proc /proc && mounted_proc=1
fi

export KVMTRUST_KEY_DIR=$tmp/hostkey KVMTRUST_SNAPSHOT_DIR=$tmp/store
coproc VMM { exec selftests/build/vmm --seed 3 --vcpus 2 --extra-mib 1 --uuid "$U"; }
read -r ready <&"${VMM[0]}"
echo "# vmm: $ready"
pid=$(sed -n 's/^ready pid=\([0-9]*\) .*/\1/p' <<<"$ready")
kvmtrustd_ledger "$tmp"
"$K" snapshot save --pid "$pid" --json >"$tmp/s1.json" 2>"$tmp/err"
tap_result $? "snapshot save of our VMM's guest (s1)"
tap_diag <"$tmp/err"
s1=$(jq -r .id "$tmp/s1.json")
sleep 1	# ids start with the time: s2 sorts after s1
"$K" snapshot save --pid "$pid" --json >"$tmp/s2.json"
s2=$(jq -r .id "$tmp/s2.json")
# s2 is newer but its report no longer verifies: the action must pass it over.
flip_byte "$tmp/store/snapshots/$s2/report.jws" 40
! "$K" snapshot verify "$s2" --pubkey "$tmp/hostkey/public.pem" >/dev/null 2>&1 &&
	"$K" snapshot verify "$s1" --pubkey "$tmp/hostkey/public.pem" >/dev/null
tap_result $? "s2 (newer) does not verify, s1 does"

# The guest's first memory slot above 4 GiB (--extra-mib): its HVA from the snapshot.
hva=$(jq -r '[.slots[] | select(.gpa == 4294967296)][0].hva // empty' \
	"$tmp/store/snapshots/$s1/manifest.json")
[ -n "$hva" ] || hva=$(jq -r '.slots[-1].hva' "$tmp/store/snapshots/$s1/manifest.json")
hva=$((hva + 0x3000))
before=$(page "$hva")

{ kvmtrustd_global "$tmp"; cat <<EOT; } >"$tmp/d.conf"
snapshot_store = $tmp/store
on_fail = log, rollback, freeze

[vm g]
uuid = $U
memory_root = learn
EOT
tap_ok "kvmtrustd accepts on_fail = rollback with the guest's snapshots in the store" \
	"$KD" --check-config -c "$tmp/d.conf"
export KVMTRUSTD_SOCKET=$tmp/d.sock KVMTRUST_LEDGER=sqlite:$tmp/ledger.db \
	KVMTRUST_LEDGER_CA=$tmp/ca.pem KVMTRUST_OWNER_ANCHORS=$tmp/owner-anchors
"$KD" -c "$tmp/d.conf" 2>"$tmp/d.log" &
daemon=$!
wait_for '.vms[0].passes >= 2'
tap_is "the guest passes its rounds (learned root = s1's)" \
	"$(st '"\(.vms[0].result) \(.vms[0].memory_root)"')" "pass $(jq -r .memory_root "$tmp/s1.json")"

# Tampered with from outside: the next round fails, the action rolls back.
# The write is read back at once: the daemon may restore the page within a
# round, so a later read could already see the snapshot's bytes.
after=$(python3 -c 'import hashlib, sys
f = open(f"/proc/{sys.argv[1]}/mem", "r+b", buffering=0)
f.seek(int(sys.argv[2])); f.write(b"\x5a" * 4096)
f.seek(int(sys.argv[2])); print(hashlib.sha256(f.read(4096)).hexdigest())' "$pid" "$hva")
[ -n "$after" ] && [ "$after" != "$before" ]
tap_result $? "a page of the guest is overwritten through /proc/$pid/mem"
wait_for '.vms[0].fails >= 1 and .vms[0].result == "pass"'
tap_result $? "the round after the tamper fails, and a later round passes again"
tap_diag <"$tmp/d.log"
grep -q "rollback: 1 newer snapshot(s) did not verify, using $s1" "$tmp/d.log"
tap_result $? "the action passes over the newer snapshot that does not verify"
grep -q "rolled back to snapshot $s1: roots proven" "$tmp/d.log"
tap_result $? "the daemon logs the proven rollback to s1"
tap_is "the tampered page holds the snapshot's bytes again" "$(page "$hva")" "$before"
# The daemon keeps attesting: a measurement of its round in progress makes
# ours wait ("another measurement of this vm is running"), not fail.
roots_now() {
	local i out
	for i in $(seq 20); do
		if out=$("$K" measure --pid "$pid" --json 2>"$tmp/m.err"); then
			jq -r '.memory_root + " " + .vcpu_root' <<<"$out"
			return
		fi
		grep -q "another measurement of this vm is running" "$tmp/m.err" || break
		sleep 0.5
	done
	tap_diag <"$tmp/m.err" >&2
}
tap_is "the module measures s1's memory_root and vcpu_root" "$(roots_now)" \
	"$(jq -r '.memory_root + " " + .vcpu_root' "$tmp/s1.json")"
! stopped
tap_result $? "the restored guest's VMM is not left stopped"
tap_is "not frozen by the freeze action (the rollback was proven)" "$(st .vms[0].frozen)" false

# The ledger: the fail, then the rollback (kind 6) naming s1, its proven root and report.
size=$("$K" ledger head --script | cut -f1)
rows=$(for i in $(seq 0 $((size - 1))); do
	"$K" ledger get --index "$i" --json | jq -r '"\(.kind) \(.result) \(.detail // "")"'
done | uniq)
echo "$rows" | tap_diag
tap_is "the ledger: passes, the fail, the rollback to s1, passes" "$(echo "$rows" | tr '\n' '|')" \
	"attest pass |attest fail memory_root|rollback - $s1|attest pass |"
ri=$(for i in $(seq 0 $((size - 1))); do
	[ "$("$K" ledger get --index "$i" --script | cut -f2)" = rollback ] && echo "$i"
done | head -n 1)
tap_is "the rollback entry: vm, proven memory_root, digest of s1's report" \
	"$("$K" ledger get --index "${ri:-0}" --json | jq -r '[.vm, .measurement, .report] | join(" ")')" \
	"$U $(jq -r .memory_root "$tmp/s1.json") $(sha256sum <"$tmp/store/snapshots/$s1/report.jws" | cut -d' ' -f1)"
tap_ok "the ledger verifies" "$K" ledger verify

# No snapshot left that verifies: the rollback is refused and the guest frozen.
flip_byte "$tmp/store/snapshots/$s1/report.jws" 40
fails=$(st .vms[0].fails)
poke_page "$pid" "$hva" 0xa5
wait_for ".vms[0].fails > $fails and .vms[0].frozen"
tap_result $? "tampered again with no snapshot that verifies: the round fails, the guest is frozen"
grep -q "rollback refused: no snapshot in $tmp/store verifies" "$tmp/d.log"
tap_result $? "the daemon logs the refused rollback, naming the store"
stopped
tap_result $? "the guest's VMM is stopped (kill -CONT resumes it by hand)"
tap_diag <"$tmp/d.log"
kill "$daemon" && wait "$daemon" 2>/dev/null
daemon=
kill -CONT "$pid"
tap_done
