#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# In the test VM (selftests/run-in-vm, kvmtrust.ko loaded): kvmtrustd attests
# two of our test guests and one running QEMU guest every second for 30 s,
# the QEMU guest named through a libvirt status file and held to a runtime
# integrity policy (a RAM range and a vCPU predicate, checked while it runs);
# a write to a protected page through QEMU's mapping of guest RAM fails its
# next round naming the range (score -20), a write elsewhere does not. Then
# auto-discovery: VMMs no [vm] section names are attested with
# discover_policy, named by their --uuid or pid-N, capped by discover_max,
# and dropped when they exit; configured guests are never discovered.
#
#   selftests/build/vmm --uuid $U1 (a), --uuid $U2 (b)  memory_root = learn
#   qemu-system-x86_64 -accel kvm -machine pc,smm=off -uuid $QU   (SeaBIOS idles)
#     $tmp/libvirt/qguest.xml: <domstatus pid=QEMU><domain><uuid>$QU ...
#   kvmtrustd  [vm q] libvirt = qguest, policy = q.json (0x200000:0x8000, gdt.base)
#              discover = yes, discover_policy = cr0.et set (our guests run with paging off: cr0 0x60000010), discover_max = 2
#   selftests/build/vmm --uuid $U3, (no uuid), --uuid $U5: discovered
set -u
cd "$(dirname "$0")/.."
. scripts/lib/tap.sh
. scripts/lib/ledger-pki.sh
. selftests/lib/kvmtrustd.sh
. selftests/lib/vmm.sh

K=$PWD/user/kvmtrust
KD=$PWD/user/kvmtrustd
QMP=$PWD/selftests/lib/qmp.py
tmp=$(mktemp -d /tmp/kt-daemon-qemu.XXXXXX)
U1=1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d
U2=2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e
U3=3c4d5e6f-7a8b-4c9d-8e1f-2a3b4c5d6e7f
U5=5e6f7a8b-9c0d-4e1f-8a3b-4c5d6e7f8a9b
QU=4d5e6f7a-8b9c-4d0e-9f2a-3b4c5d6e7f80
QMIB=64
PROT=0x200000 PROT_LEN=0x8000	# 8 pages = one kept node (tree_level 3): 2 MiB up, zero RAM SeaBIOS leaves alone
FREE=0x300000			# another kept node, unprotected
SECONDS_RUN=${KT_DAEMON_QEMU_SECONDS:-30}
pids=() daemon= qpid=

cleanup() {
	[ -n "$daemon" ] && kill -9 "$daemon" 2>/dev/null
	[ -n "$qpid" ] && kill -9 "$qpid" 2>/dev/null
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

N=24
tap_plan $N
if [ ! -x selftests/build/vmm ] || [ ! -d /sys/module/kvmtrust ] ||
	! command -v qemu-system-x86_64 >/dev/null; then
	for i in $(seq $N); do
		tap_skip "kvmtrustd with QEMU step $i" "needs selftests/build/vmm, kvmtrust.ko and qemu-system-x86_64"
	done
	exit 0
fi

# peek_page HVA FILE / put_page HVA FILE: one page of QEMU's memory, through /proc/PID/mem.
peek_page() {
	python3 -c 'import sys; f = open(f"/proc/{sys.argv[1]}/mem", "rb"); f.seek(int(sys.argv[2], 0)); open(sys.argv[3], "wb").write(f.read(4096))' "$qpid" "$1" "$2"
}
put_page() {
	python3 -c 'import sys; f = open(f"/proc/{sys.argv[1]}/mem", "r+b"); f.seek(int(sys.argv[2], 0)); f.write(open(sys.argv[3], "rb").read())' "$qpid" "$1" "$2"
}
q() { jq -r ".vms[] | select(.name == \"q\") | $1"; }

vmm_start 1 "$U1"
vmm_start 2 "$U2"
qemu-system-x86_64 -accel kvm -machine pc,smm=off -m $QMIB -nodefaults -display none \
	-uuid "$QU" -qmp "unix:$tmp/q.qmp,server=on,wait=off" </dev/null >"$tmp/q.log" 2>&1 &
qpid=$!
for _ in $(seq 100); do [ -S "$tmp/q.qmp" ] && break; sleep 0.1; done
tap_is "QEMU runs (-accel kvm -machine pc,smm=off)" "$(python3 "$QMP" "$tmp/q.qmp" query-status)" running
# Guest RAM: QEMU's one mapping of exactly that size (pc.ram; GPA = offset below 3.5 GiB).
ram=$(python3 -c 'import sys
for line in open(f"/proc/{sys.argv[1]}/maps"):
    lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
    if hi - lo == int(sys.argv[2]) << 20:
        print(hex(lo)); break' "$qpid" $QMIB)
echo "# QEMU pid $qpid, guest RAM mapped at $ram"
sleep 3	# SeaBIOS finds no boot device and idles

# The policy, learnt once the boot has settled, and checked stable first.
"$K" policy learn --pid "$qpid" --range "$PROT:$PROT_LEN" --vcpu-pred gdt.base \
	-o "$tmp/q.json" 2>"$tmp/err"
tap_result $? "policy learn of QEMU's RAM at $PROT (8 pages) and its vCPU's gdt.base, running"
tap_diag <"$tmp/err"
stable=0
for _ in 1 2 3; do
	"$K" policy check --pid "$qpid" --policy "$tmp/q.json" >/dev/null 2>>"$tmp/err" &&
		stable=$((stable + 1))
	sleep 1
done
tap_is "  the policy holds in 3 checks of the running guest, a second apart" "$stable" 3

# Its libvirt status file, as libvirtd's QEMU driver writes it.
mkdir "$tmp/libvirt"
cat >"$tmp/libvirt/qguest.xml" <<EOT
<domstatus state='running' reason='booted' pid='$qpid'>
  <monitor path='$tmp/q.qmp' type='unix'/>
  <domain type='kvm' id='7'>
    <name>qguest</name>
    <uuid>$QU</uuid>
  </domain>
</domstatus>
EOT
echo '{"version": 1, "vcpu": [{"name": "cr0.et", "reg": "cr0", "op": "bits-set", "value": "0x10"}]}' \
	>"$tmp/discover.json"

kvmtrustd_ledger "$tmp"
{ kvmtrustd_global "$tmp"; cat <<EOT; } >"$tmp/d.conf"
libvirt_run_dir = $tmp/libvirt
discover = yes
discover_policy = $tmp/discover.json
discover_max = 2

[vm a]
pid = ${pids[0]}
memory_root = learn

[vm b]
uuid = $U2
memory_root = learn

[vm q]
libvirt = qguest
policy = $tmp/q.json
EOT
kvmtrustd_start "$tmp"
t0=$(date +%s)
sleep "$SECONDS_RUN"
"$K" daemon status --json >"$tmp/s1.json"
t1=$(date +%s)
for g in a b q; do
	echo "# [vm $g]: $(jq -r ".vms[] | select(.name == \"$g\") | \"\(.rounds) rounds, \(.passes) passes, \(.fails) fails, error '\(.error)'\"" "$tmp/s1.json")"
done
total=$(jq '[.vms[] | select(.discovered | not) | .rounds] | add' "$tmp/s1.json")
echo "# $total attestations of 3 guests in $((t1 - t0)) s: $(awk -v n="$total" -v s=$((t1 - t0)) 'BEGIN { printf "%.2f", n / s }') per second, 3 asked (interval 1 s)"
tap_is "for $SECONDS_RUN s: our two guests and the QEMU guest attested, every result a pass" \
	"$(jq -r '[.vms[] | select(.discovered | not) | .rounds >= 5 and .fails == 0 and .result == "pass"] | "\(length) \(all)"' "$tmp/s1.json")" "3 true"
tap_is "  the QEMU guest named through its libvirt status file: its pid and -uuid" \
	"$(q '"\(.libvirt) \(.pid) \(.uuid)"' <"$tmp/s1.json")" "qguest $qpid $QU"
tap_is "  QEMU still runs: its vCPU predicate was checked with the guest running" \
	"$(python3 "$QMP" "$tmp/q.qmp" query-status)" running
tap_is "  discovery found the three VMMs and took none of them: a [vm] names each" \
	"$(jq -r '"\(.discover.enabled) \(.discover.found) \([.vms[] | select(.discovered)] | length)"' "$tmp/s1.json")" \
	"true 3 0"

# Writes through QEMU's own mapping of guest RAM, as a rootkit in the host would.
st_now() { "$K" daemon status --json >"$tmp/s.json"; }
rounds_q() { st_now; q .rounds <"$tmp/s.json"; }
r0=$(rounds_q)
poke_page "$qpid" $((ram + FREE)) 0x5a
for _ in $(seq 100); do [ "$(rounds_q)" -ge $((r0 + 2)) ] && break; sleep 0.1; done
tap_is "a write to an unprotected page of the QEMU guest: its next rounds still pass" \
	"$(q '"\(.result) \(.fails)"' <"$tmp/s.json")" "pass 0"
peek_page $((ram + PROT + 0x1000)) "$tmp/orig.page"
poke_page "$qpid" $((ram + PROT + 0x1000)) 0x5a
tw=$(date +%s%N)
for _ in $(seq 100); do st_now; [ "$(q .fails <"$tmp/s.json")" -ge 1 ] && break; sleep 0.1; done
tf=$(date +%s%N)
put_page $((ram + PROT + 0x1000)) "$tmp/orig.page"
echo "# protected write to fail seen by a script polling status: $(((tf - tw) / 1000000)) ms"
tap_is "a write to a protected page: the next result is fail, naming the range" \
	"$(q '"\(.result) \(.failed_range)"' <"$tmp/s.json")" "fail range $PROT:$PROT_LEN"
tap_is "  the score dropped by 20" "$(q '.prev_score - .score' <"$tmp/s.json")" 20
tap_is "  the ledger entry of the fail names the range" \
	"$("$K" ledger get --index "$(q .ledger_index <"$tmp/s.json")" --json | jq -r '"\(.result) \(.detail)"')" \
	"fail range $PROT:$PROT_LEN"
WAIT_FOR_TENTHS=200 wait_for '.vms[] | select(.name == "q") | .result == "pass"'
tap_result $? "  with the page restored the QEMU guest passes again"
tap_is "our guests never failed" "$(st '[.vms[] | select(.name == "a" or .name == "b") | .fails] | add')" 0

# Auto-discovery: three VMMs nobody configured, discover_max = 2.
vmm_start 3 "$U3"
vmm_start 4
vmm_start 5 "$U5"
WAIT_FOR_TENTHS=200 wait_for '[.vms[] | select(.discovered) | .rounds >= 1] | length == 2 and all'
st_now
echo "# discovered: $(jq -c '[.vms[] | select(.discovered) | {name, pid, result, error}]' "$tmp/s.json")"
tap_is "two of three new VMMs are discovered (discover_max = 2), the third counted as skipped" \
	"$(jq -r '"\([.vms[] | select(.discovered)] | length) \(.discover.found) \(.discover.skipped)"' "$tmp/s.json")" \
	"2 6 1"
# Each named by its --uuid (then also its ledger UUID), or pid-N without one.
named=$(jq -r '.vms[] | select(.discovered) | "\(.name) \(.pid) \(.uuid)"' "$tmp/s.json" |
	while read -r name pid uuid; do
		case $pid in
		"${pids[2]}") [ "$name $uuid" = "$U3 $U3" ] && echo ok ;;
		"${pids[4]}") [ "$name $uuid" = "$U5 $U5" ] && echo ok ;;
		"${pids[3]}") [[ $name == "pid-$pid" && $uuid =~ ^[0-9a-f-]{36}$ && $uuid != "$U3" &&
				 $uuid != "$U5" ]] && echo ok ;;
		esac
	done | wc -l)
tap_is "  named by their --uuid, or pid-N (with a UUID of its own for the ledger) without one" \
	"$named" 2
tap_is "  and attested with discover_policy: pass" \
	"$(jq -r '[.vms[] | select(.discovered) | .result] | unique | join(" ")' "$tmp/s.json")" pass
tap_is "  marked discovered in the text of daemon status" \
	"$("$K" daemon status | grep -c '^  discovered:    yes')" 2
# The first one taken exits: it vanishes, the skipped one takes its place.
first=$(jq -r '[.vms[] | select(.discovered)][0] | "\(.pid) \(.name)"' "$tmp/s.json")
fpid=${first%% *}
for i in 2 3 4; do
	if [ "${pids[$i]}" = "$fpid" ]; then
		echo exit >&$((2 * (i + 1) + 1)); wait "$fpid" 2>/dev/null
	fi
done
WAIT_FOR_TENTHS=200 wait_for "[.vms[] | select(.discovered) | .pid] | (any(. == $fpid) | not) and length == 2"
tap_result $? "a discovered VMM that exits vanishes from status (${first#* })"
st_now
tap_is "  and the one over the cap is discovered in its place" \
	"$(jq -r '"\(.discover.found) \(.discover.skipped)"' "$tmp/s.json")" "5 0"
tap_ok "  the discovered guests' entries are in the ledger" \
	test "$("$K" ledger head --script | cut -f1)" -gt "$total"
tap_is "configured guests were never discovered" \
	"$(jq -r '[.vms[] | select(.discovered) | .pid] | map(select(. == '"${pids[0]}"' or . == '"${pids[1]}"' or . == '"$qpid"')) | length' "$tmp/s.json")" 0
kill -TERM "$daemon"; wait "$daemon"
tap_is "SIGTERM stops kvmtrustd with status 0" "$?" 0
daemon=
tap_is "QEMU runs on after the daemon" "$(python3 "$QMP" "$tmp/q.qmp" query-status)" running
tap_ok "the ledger verifies" "$K" ledger verify
grep -v ' pass (timer)' "$tmp/d.log" | tail -n 15 | sed 's/^/# /'
tap_done
