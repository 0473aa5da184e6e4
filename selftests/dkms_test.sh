#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The module as DKMS installed it, inside the test VM booted on the kernel it
# was built for (scripts/vmtest --dkms installs it on the host first, removes
# it afterwards; scripts/package-check installs the .debs instead):
#
#   host: dkms install kvmtrust/$KT_DKMS_VERSION -k <release>
#         -> /lib/modules/<release>/updates/dkms/kvmtrust.ko*, depmod
#   VM:   kvmtrust info            family unknown: the kernel asks modprobe for
#            |                     net-pf-16-proto-16-family-kvmtrust
#            v                     (MODULE_ALIAS_GENL_FAMILY)
#         /sbin/modprobe-host      (the VM's kernel.modprobe, scripts/lib/vm.sh)
#            -> chroot /host modprobe -> updates/dkms/kvmtrust.ko
#         $KT measure --pid <selftests' VMM> against recompute.py
#
# KT_CLI names the kvmtrust binary (default user/kvmtrust; /usr/sbin/kvmtrust
# for the installed package). Without KT_DKMS_VERSION there is nothing
# installed to test and every test is a SKIP.
set -u
cd "$(dirname "$0")/.."
. scripts/lib/tap.sh
. selftests/lib/vmm.sh

KT=${KT_CLI:-user/kvmtrust}
VMM=selftests/build/vmm
SEED=${KT_SEED:-$RANDOM}
PLAN=13
rel=$(uname -r)
helper=/proc/sys/kernel/modprobe
work=$(mktemp -d /tmp/kt-dkms.XXXXXX)
old_helper=$(cat "$helper")

cleanup() {
	vmm_stop
	echo "$old_helper" > "$helper"
	rm -rf "$work"
}
trap cleanup EXIT

loaded_version() { cat /sys/module/kvmtrust/version 2>/dev/null; }

tap_plan $PLAN
if [ -z "${KT_DKMS_VERSION:-}" ] || [ ! -c /dev/kvm ]; then
	for i in $(seq $PLAN); do
		tap_skip "dkms $i" "no DKMS-installed module to test (scripts/vmtest --dkms)"
	done
	exit 0
fi
if [ -e /sys/module/kvmtrust ]; then
	# A module already loaded would hide what modprobe loads.
	for i in $(seq $PLAN); do tap_result 1 "dkms $i: kvmtrust.ko was already loaded"; done
	exit 1
fi

echo "# kernel $rel, CLI $KT, DKMS version $KT_DKMS_VERSION"
path=$(modinfo -n kvmtrust 2>&1)
echo "# modinfo -n kvmtrust: $path"
case $path in
*/kvmtrust.ko | */kvmtrust.ko.xz | */kvmtrust.ko.zst | */kvmtrust.ko.gz) dir=${path%/*} ;;
*) dir="not a kvmtrust.ko: $path" ;;
esac
tap_is "modprobe finds kvmtrust in updates/dkms of $rel" "$dir" "/lib/modules/$rel/updates/dkms"
tap_is "the installed module is the version DKMS built" \
	"$(modinfo -F version kvmtrust 2>/dev/null)" "$KT_DKMS_VERSION"

# The VM's default helper is missing, so nothing can load the module: the
# CLI must say so (unavailable), and the later autoload is ours.
echo /nonexistent/modprobe > "$helper"
tap_fails_with "without a modprobe helper, info reports the module missing" \
	"not loaded" "$KT" info
echo /sbin/modprobe-host > "$helper"
tap_ok "kvmtrust info autoloads the module by its genetlink family" "$KT" info
tap_is "the autoloaded module is the DKMS one" "$(loaded_version)" "$KT_DKMS_VERSION"
tap_ok "rmmod kvmtrust" rmmod kvmtrust

tap_ok "modprobe kvmtrust" modprobe kvmtrust
tap_is "modprobe loaded the DKMS version" "$(loaded_version)" "$KT_DKMS_VERSION"

echo "# seed $SEED (KT_SEED=$SEED reproduces)"
coproc VMM { exec "$VMM" --seed "$SEED" --vcpus 2 --uuid 6b1f0e2d-3c4a-4b5c-8d6e-7f8091a2b3c4; }
read -r ready <&"${VMM[0]}"
echo "# $ready"
tap_ok "$KT measure --pid --json" sh -c "'$KT' measure --pid $VMM_PID --json > $work/m.json"
vmm dump "$work/mem" && vmm regs 0 "$work/regs0" && vmm regs 1 "$work/regs1"
tap_is "memory_root equals the Python recomputation of the VMM's dump" \
	"$(json "$work/m.json" memory_root 2>&1)" "$(selftests/recompute.py memory "$work/mem")"
tap_is "vcpu_root equals the Python recomputation of the VMM's registers" \
	"$(json "$work/m.json" vcpu_root 2>&1)" \
	"$(selftests/recompute.py vcpus "$work/regs0" "$work/regs1")"
vmm_stop

tap_ok "rmmod kvmtrust after measuring" rmmod kvmtrust
tap_ok "kvmtrust.ko unloaded" test ! -e /sys/module/kvmtrust
tap_done
