#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# End to end through the `kvmtrust` CLI, as an operator would use it, inside
# the test VM (selftests/run-in-vm):
#
#   +--------------------+   stdin/stdout    +-----------------------------+
#   | this script        | ----------------> | selftests/build/vmm         |
#   |  kvmtrust measure  |   "dump", "regs"  |  real KVM guest (lib/guest.S)|
#   |   --pid $VMM_PID   |                   |  paused after its "out"     |
#   +---------+----------+                   +--------------^--------------+
#             | generic netlink                             | pidfd_getfd
#             v                                             |
#   +--------------------+   VM + vCPU files of the VMM ----+
#   | kvmtrust.ko        |
#   +--------------------+
#
# The CLI's JSON is checked against selftests/recompute.py, a Python
# recomputation from the VMM's own memory dump and register files.
set -u
cd "$(dirname "$0")/.."
. scripts/lib/tap.sh
. selftests/lib/vmm.sh

KT=user/kvmtrust
VMM=selftests/build/vmm
SEED=${KT_SEED:-$RANDOM}
work=$(mktemp -d /tmp/kt-cli.XXXXXX)

cleanup() {
	vmm_stop
	rm -rf "$work"
}
trap cleanup EXIT

# The driver of the highest-priority "sha256" in /proc/crypto.
best_sha256() {
	awk '/^name/ { n = $3 } /^driver/ { d = $3 } /^priority/ { p = $3 }
	     /^type/ && n == "sha256" && $3 == "shash" && p > best { best = p; drv = d }
	     END { print drv }' /proc/crypto
}

# selftests/run-in-vm may load the module with hash_driver=: the driver
# checks below need the module's own choice.
if [ -n "$(cat /sys/module/kvmtrust/parameters/hash_driver 2>/dev/null)" ]; then
	echo "# reloading kvmtrust.ko without hash_driver="
	rmmod kvmtrust && insmod "${KT_MODULE:-kmod/kvmtrust.ko}"
fi

tap_plan 21
if [ ! -c /dev/kvm ] || ! $KT info > /dev/null 2>&1; then
	for i in $(seq 21); do tap_skip "cli $i" "no /dev/kvm or no kvmtrust.ko"; done
	exit 0
fi

tap_ok "kvmtrust info" $KT info
tap_ok "kvmtrust info --json names the hash driver" \
	sh -c "$KT info --json | python3 -c 'import json,sys; assert json.load(sys.stdin)[\"hash_driver\"]'"
driver=$($KT info --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["hash_driver"])')
grep -E '^(name|driver|priority|type)' /proc/crypto | paste - - - - | grep -w sha256 | tap_diag
tap_is "the hash driver is the highest-priority sha256 in /proc/crypto" "$driver" "$(best_sha256)"
# Loading kvmtrust.ko loaded sha256_ssse3 (it asks for sha256-ni by name).
if grep -qw ssse3 /proc/cpuinfo; then
	tap_ok "a cpu with ssse3 hashes with a SIMD driver, not sha256-generic" \
		test "$driver" != sha256-generic
	tap_ok "sha256_ssse3 was loaded for it" test -d /sys/module/sha256_ssse3
else
	tap_skip "a cpu with ssse3 hashes with a SIMD driver" "no ssse3 here"
	tap_skip "sha256_ssse3 was loaded for it" "no ssse3 here"
fi

echo "# seed $SEED (KT_SEED=$SEED reproduces)"
UUID=3f2e1d0c-b9a8-4766-8554-433221100fed
coproc VMM { exec "$VMM" --seed "$SEED" --vcpus 2 --uuid "$UUID"; }
read -r ready <&"${VMM[0]}"
echo "# $ready"
pages=$(sed -n 's/.* pages=\([0-9]*\).*/\1/p' <<< "$ready")

tap_ok "kvmtrust measure --pid --json" \
	sh -c "$KT measure --pid $VMM_PID --json > $work/m.json"
cat "$work/m.json" | tap_diag
tap_is "the measurement names the VM by its UUID" "$(json "$work/m.json" vm)" "$UUID"
tap_ok "memory_root and vcpu_root are lowercase hex SHA-256" \
	grep -qE '"memory_root": *"[0-9a-f]{64}".*' "$work/m.json"
tap_ok "vcpu_root present" grep -qE '"vcpu_root": *"[0-9a-f]{64}"' "$work/m.json"
tap_is "pages counts every guest page" "$(json "$work/m.json" pages)" "$pages"
tap_ok "ns is a positive integer" test "$(json "$work/m.json" ns)" -gt 0
tap_is "leaf_format names the layout hashed (measurement.rst: 2)" \
	"$(json "$work/m.json" leaf_format)" 2

vmm dump "$work/mem" && vmm regs 0 "$work/regs0" && vmm regs 1 "$work/regs1"
tap_is "memory_root equals the Python recomputation of the VMM's dump" \
	"$(json "$work/m.json" memory_root)" "$(selftests/recompute.py memory "$work/mem")"
tap_is "vcpu_root equals the Python recomputation of the VMM's registers" \
	"$(json "$work/m.json" vcpu_root)" \
	"$(selftests/recompute.py vcpus "$work/regs0" "$work/regs1")"

tap_ok "kvmtrust measure --uuid finds the VMM (text)" \
	sh -c "$KT measure --uuid $UUID | grep -q memory_root"

vmm run
tap_fails_with "measuring a running guest is refused" "pause" $KT measure --pid "$VMM_PID"
vmm pause

tap_fails_with "--pid of a process without a VM" "[Nn]o .*(VM|vm)|kvm" \
	$KT measure --pid $$ --uuid "$UUID"
tap_fails_with "--pid of no process" "[Nn]o process|not found|No such" \
	$KT measure --pid 4194304
tap_fails_with "unprivileged measure is refused" "[Pp]ermi|CAP_NET_ADMIN" \
	setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
	$KT measure --pid "$VMM_PID"

id=$($KT vm list --script | awk -v pid="$VMM_PID" '$2 == pid { print $1 }')
echo "# vm list --script:"; $KT vm list --script | tap_diag
tap_ok "kvmtrust vm detach --vm-id (id '$id' from vm list --script)" $KT vm detach --vm-id "$id"
tap_fails_with "detach twice" "no attached vm" $KT vm detach --vm-id "$id"

tap_done
