#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The runtime integrity policy (Documentation/policy.rst) against our test
# guest in the test VM: kvmtrust policy learn|check, then kvmtrustd with
# "policy = FILE". Writes go through /proc/PID/mem, as a rootkit in the host
# would write a guest's memory, never through the VMM's own commands.
#
#   selftests/build/vmm (paused guest, 1 vCPU)     guest memory: 24 pages
#     0x00000 +----------+ leaves 0-7:  one kept node (tree_level 3)
#     0x01000 | "code"   | <- protected range 0x1000:0x2000
#     0x03000 | known    | <- unprotected, same kept node as "code"
#     0x08000 +----------+ leaves 8-15: 0xa000 unprotected
#     0x20000 +----------+ leaves 16-23 <- protected range 0x20000:0x8000
#   vCPU 0: idt.base (equal to the learnt value), cr0.wp (bit set)
#
#   kvmtrust policy learn --pid --range ... --vcpu-pred ... -o policy.json
#   kvmtrust policy check --pid --policy policy.json   pass / fail naming it
#   kvmtrustd [vm g] policy = policy.json -> ledger detail "range ..."
set -u
cd "$(dirname "$0")/.."
. scripts/lib/tap.sh
. scripts/lib/ledger-pki.sh
. selftests/lib/vmm.sh
. selftests/lib/kvmtrustd.sh

K=$PWD/user/kvmtrust
KD=$PWD/user/kvmtrustd
SEED=${KT_SEED:-$RANDOM}
U=5c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f
DATA="0x20000:0x8000"
CODE="0x1000:0x2000"
WP=$((1 << 16))
PLAN=33
tmp=$(mktemp -d /tmp/kt-policy-vm.XXXXXX)
daemon=
cleanup() {
	[ -n "$daemon" ] && kill -9 "$daemon" 2>/dev/null
	[ -n "${VMM_PID:-}" ] && kill -CONT "$VMM_PID" 2>/dev/null
	vmm_stop
	rm -rf "$tmp"
}
trap cleanup EXIT

tap_plan $PLAN
if [ ! -c /dev/kvm ] || ! "$K" info >/dev/null 2>&1 || [ ! -x selftests/build/vmm ]; then
	for i in $(seq $PLAN); do tap_skip "policy $i" "no /dev/kvm, kvmtrust.ko or selftests/build/vmm"; done
	exit 0
fi

coproc VMM { exec selftests/build/vmm --seed "$SEED" --uuid "$U"; }
read -r ready <&"${VMM[0]}"
echo "# vmm: $ready"

# ask CMD: the VMM's reply without "ok ".
ask() { local r; echo "$*" >&"${VMM[1]}"; read -r r <&"${VMM[0]}"; echo "${r#ok }"; }
# hva GPA: where the VMM maps guest physical address GPA ("slots": GPA:HVA:SIZE ...).
hva() {
	local s g h z
	for s in $(ask slots); do
		IFS=: read -r g h z <<<"$s"
		if (($1 >= g && $1 < g + z)); then printf '0x%x\n' $((h + $1 - g)); return; fi
	done
	return 1
}
# poke GPA BYTE: one guest byte written through /proc/PID/mem.
poke() {
	python3 -c 'import os, sys
fd = os.open("/proc/%s/mem" % sys.argv[1], os.O_RDWR)
os.pwrite(fd, bytes([int(sys.argv[3], 0)]), int(sys.argv[2], 0))' "$VMM_PID" "$(hva "$1")" "$2"
}
peek() { ask peek "$1"; }
# sreg OFFSET: a u64 of vCPU 0's struct kvm_sregs (after the 144 bytes of kvm_regs).
sreg() {
	ask regs 0 "$tmp/regs" >/dev/null
	python3 -c 'import struct, sys
print(struct.unpack_from("<Q", open(sys.argv[1], "rb").read(), 144 + int(sys.argv[2]))[0])' \
		"$tmp/regs" "$1"
}
CR0_OFF=224 IDT_OFF=208	# 8 segments of 24 bytes, gdt (16), then idt base; cr0 after idt
check() { "$K" policy check --pid "$VMM_PID" --policy "$tmp/policy.json" --json 2>"$tmp/err"; }
# verdict: "RESULT FAILED" of one check ("pass null" when it passes).
verdict() { check | jq -r '"\(.result) \(.failed)"'; }

# --- kvmtrust policy learn / check --------------------------------------------------
cr0=$(sreg $CR0_OFF)
idt=$(sreg $IDT_OFF)
echo "# vCPU 0: cr0 $(printf 0x%x "$cr0"), idt.base $(printf 0x%x "$idt")"
vmm setreg cr0 $((cr0 | WP))
"$K" policy learn --pid "$VMM_PID" --range "$DATA" --range "$CODE" --vcpu-pred idt.base \
	--vcpu-pred cr0.wp -o "$tmp/policy.json" 2>"$tmp/err"
tap_result $? "policy learn of two ranges and two predicates"
tap_diag <"$tmp/err"
tap_is "  the policy names both ranges and both predicates, idt.base per vCPU" \
	"$(jq -c '[[.ranges[].name], [.vcpu[] | "\(.name) \(.op) \(.vcpu)"]]' "$tmp/policy.json")" \
	"[[\"$DATA\",\"$CODE\"],[\"idt.base equal 0\",\"cr0.wp bits-set null\"]]"
# The range root recomputed here from the VMM's own memory: RFC 9162 over
# SHA-256(0x00 || page || le64(gpa)) of its 8 pages (leaf format 2).
vmm dump "$tmp/mem"
want=$(python3 - "$tmp/mem" <<'EOT'
import hashlib, struct, sys
data = open(sys.argv[1], "rb").read()
pages, off = {}, 0
while off < len(data):
    gpa, size = struct.unpack_from("<QQ", data, off)
    off += 16
    for i in range(0, size, 4096):
        pages[gpa + i] = data[off + i:off + i + 4096]
    off += size
def root(h):
    if len(h) == 1:
        return h[0]
    k = 1
    while k * 2 < len(h):
        k *= 2
    return hashlib.sha256(b"\x01" + root(h[:k]) + root(h[k:])).digest()
leaves = [hashlib.sha256(b"\x00" + pages[g] + struct.pack("<Q", g)).digest()
          for g in range(0x20000, 0x28000, 4096)]
print(root(leaves).hex())
EOT
)
tap_is "  its root of $DATA is the RFC 9162 root of those pages' leaves" \
	"$(jq -r '.ranges[0].root' "$tmp/policy.json")" "$want"
tap_is "policy check of the unchanged guest passes" "$(verdict)" "pass null"
t0=$(date +%s%N)
check >"$tmp/c.json"
t1=$(date +%s%N)
echo "# one policy check (2 ranges of 10 pages, 2 predicates) under TCG: $(((t1 - t0) / 1000000)) ms," \
	"guest frozen $(jq .pause_ns "$tmp/c.json") ns, $(jq .pages_hashed "$tmp/c.json") pages hashed," \
	"full $(jq .full "$tmp/c.json"), $(jq .attempts "$tmp/c.json") measurement(s)"

orig_a=$(peek 0xa000) orig_3=$(peek 0x3000) orig_d=$(peek 0x21000)
poke 0xa000 $((orig_a ^ 0xff))
tap_is "a write to an unprotected page (0xa000) still passes" "$(verdict)" "pass null"
poke 0x3000 $((orig_3 ^ 0xff))
tap_is "a write to an unprotected page beside a protected one (0x3000) still passes" \
	"$(verdict)" "pass null"
poke 0x21000 $((orig_d ^ 0xff))
tap_is "a write to a protected page (0x21000) fails naming its range" \
	"$(verdict)" "fail range $DATA"
check >/dev/null
tap_is "  with exit status 1" "$?" 1
poke 0x21000 "$orig_d"
tap_is "  restored, it passes again" "$(verdict)" "pass null"

vmm setreg idt.base $((idt + 0x1000))
tap_is "an IDT base moved fails naming the predicate" "$(verdict)" "fail vcpu idt.base"
check | jq -r .why >"$tmp/why"
tap_ok "  and says which vCPU and value" grep -q "vcpu 0 idt.base = $(printf 0x%x $((idt + 0x1000)))" \
	"$tmp/why"
vmm setreg idt.base "$idt"
vmm setreg cr0 $((cr0 & ~WP))
tap_is "CR0.WP cleared fails naming the predicate" "$(verdict)" "fail vcpu cr0.wp"
vmm setreg cr0 $((cr0 | WP))
tap_is "  set again, it passes" "$(verdict)" "pass null"

# --- a RUNNING guest: predicates on the registers its measurement hashed -----------
# The spinning guest changes memory, so only the predicates are checked. The
# registers come with the measurement (read inside its freeze), not from a
# VCPU_GET afterwards, which a vCPU back in KVM_RUN would refuse.
jq '.ranges = []' "$tmp/policy.json" >"$tmp/preds.json"
pverdict() {
	"$K" policy check --pid "$VMM_PID" --policy "$tmp/preds.json" --json 2>"$tmp/err" |
		jq -r '"\(.result) \(.failed)"'
}
vmm run
tap_is "while the guest runs, its predicates pass" "$(pverdict)" "pass null"
tap_diag <"$tmp/err"
tap_is "  and it still runs (in KVM_RUN again after the freeze)" "$(ask state)" "running"
tap_is "  a second check while it runs passes too" "$(pverdict)" "pass null"
vmm pause
vmm setreg cr0 $((cr0 & ~WP))
vmm run
tap_is "a running guest with CR0.WP cleared fails naming the predicate" \
	"$(pverdict)" "fail vcpu cr0.wp"
vmm pause
vmm setreg cr0 $((cr0 | WP))
tap_is "the VMM is running (not left stopped by the freezes)" \
	"$(sed 's/.*) //' "/proc/$VMM_PID/stat" | cut -d' ' -f1)" S

echo '{"version": 1, "ranges": [{"name": "hole", "gpa": "0x10000", "len": "0x1000", "root": "'"$want"'"}]}' \
	>"$tmp/hole.json"
"$K" policy check --pid "$VMM_PID" --policy "$tmp/hole.json" >/dev/null 2>"$tmp/err"
tap_is "a range outside guest memory cannot be checked (exit 3)" "$?" 3
tap_ok "  naming the range and the address" grep -q "range hole: 0x10000 is not guest memory" "$tmp/err"
"$K" policy learn --pid "$VMM_PID" --range "$DATA" --vcpu-pred efer.nxe -o "$tmp/nx.json" 2>"$tmp/err"
tap_is "learning efer.nxe from a guest without it is refused" "$?" 10
tap_ok "  naming the predicate" grep -q "efer.nxe does not hold on vcpu 0" "$tmp/err"

# --- kvmtrustd with policy = FILE --------------------------------------------------
kvmtrustd_ledger "$tmp"
{ kvmtrustd_global "$tmp"; cat <<EOT; } >"$tmp/d.conf"
[vm g]
pid = $VMM_PID
policy = $tmp/policy.json
EOT
export KVMTRUSTD_SOCKET=$tmp/d.sock KVMTRUST_LEDGER=sqlite:$tmp/ledger.db KVMTRUST_LEDGER_CA=$tmp/ca.pem
"$KD" -c "$tmp/d.conf" 2>"$tmp/d.log" &
daemon=$!
g() { st ".vms[0] | $1"; }
wait_for '.vms[0].rounds >= 2'
tap_is "kvmtrustd attests the guest against its policy: passes only" \
	"$(g '"\(.result) \(.fails) \(.rounds >= 2)"')" "pass 0 true"
poke 0xa000 "$orig_a"
poke 0x3000 "$orig_3"
r=$(g .rounds)
wait_for ".vms[0].rounds >= $((r + 2))"
tap_is "  writes to unprotected pages leave it passing" "$(g '"\(.result) \(.fails)"')" "pass 0"
poke 0x21000 $((orig_d ^ 0x5a))
wait_for '.vms[0].fails >= 1'
tap_is "a write to a protected page fails its next round, naming the range" \
	"$(g '"\(.result) \(.failed_range)"')" "fail range $DATA"
idx=$(g .ledger_index)
tap_is "  the fail's ledger entry names the range as its detail" \
	"$("$K" ledger get --index "$idx" --json | jq -r '"\(.result) \(.detail)"')" "fail range $DATA"
tap_ok "  and the daemon logged why" grep -q "policy: range $DATA" "$tmp/d.log"
poke 0x21000 "$orig_d"
wait_for '.vms[0].result == "pass"'	# a round measured before the restore may still fail
f=$(g .fails)
r=$(g .rounds)
wait_for ".vms[0].rounds >= $((r + 2))"
tap_is "  restored, the guest passes again" "$(g '"\(.result) \(.fails)"')" "pass $f"
vmm setreg idt.base $((idt + 0x2000))
wait_for ".vms[0].fails > $f"
tap_is "an IDT base moved fails a round naming the predicate" \
	"$(g '"\(.result) \(.failed_range)"')" "fail vcpu idt.base"
tap_is "  in the ledger entry too" \
	"$("$K" ledger get --index "$(g .ledger_index)" --json | jq -r .detail)" "vcpu idt.base"
vmm setreg idt.base "$idt"
kill -TERM "$daemon"
wait "$daemon"
tap_is "kvmtrustd stops with status 0" "$?" 0
daemon=
tap_is "  and the guest's VMM is running" \
	"$(sed 's/.*) //' "/proc/$VMM_PID/stat" | cut -d' ' -f1)" S
"$K" ledger verify >/dev/null 2>"$tmp/err"
tap_is "the ledger verifies" "$?" 0
tap_done
