#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# In the test VM (selftests/run-in-vm, kvmtrust.ko loaded): the report
# `kvmtrust attest --pid` signs carries what the module measures.
#
#   selftests/build/vmm (test guest, paused) <-- kvmtrust attest --pid PID
#                                                  (attach, measure, sign)
#   kvmtrust measure --pid PID  -> same memory_root, seq + 1
#   poke one guest byte         -> next report: new memory_root, accepted;
#                                  the old root expected -> refused
#
# The key is a software key here; the TPM path is user/tests/attest.sh's.
set -u
cd "$(dirname "$0")/.."
. scripts/lib/tap.sh

K=$PWD/user/kvmtrust
tmp=$(mktemp -d /tmp/kt-attest-vm.XXXXXX)
VMM_PID=
mounted_proc=

cleanup() {
	if [ -n "$VMM_PID" ]; then
		echo exit >&"${VMM[1]}" 2>/dev/null
		wait "$VMM_PID" 2>/dev/null
	fi
	# Leave the chroot's mounts as run-in-vm found them (its rmmod reads them).
	[ -n "$mounted_proc" ] && umount /proc
	rm -rf "$tmp"
}
trap cleanup EXIT

# A claim of a compact JWS, with coreutils and jq only.
claim() {
	local p
	p=$(cut -d. -f2 "$1" | tr '_-' '/+')
	while [ $((${#p} % 4)) -ne 0 ]; do p="$p="; done
	base64 -d <<<"$p" | jq -r ".$2"
}

vmm_cmd() {
	local reply
	echo "$*" >&"${VMM[1]}"
	read -r reply <&"${VMM[0]}"
	echo "# vmm: $* -> $reply"
	[[ "$reply" == ok* ]]
}

tap_plan 9
if [ ! -x selftests/build/vmm ] || [ ! -d /sys/module/kvmtrust ]; then
	for i in $(seq 9); do tap_skip "attest --pid step $i" "needs selftests/build/vmm and kvmtrust.ko"; done
	exit 0
fi

# attach --pid reads /proc/PID/fd. In the VM's 9p chroot /proc has been seen
# showing sysfs (host /proc and /sys look alike over 9p, so the mounts on
# /host/proc and /host/sys collide): mount procfs for this test only.
if [ ! -e /proc/self/fd ]; then
	echo "# /proc in this chroot is not procfs; mounting it for this test"
	mount -t proc proc /proc && mounted_proc=1
fi

UUID=5e0c7a2d-9b1f-4c3e-8d4a-6f7b8c9d0e1f
coproc VMM { selftests/build/vmm --seed "${KT_SEED:-1}" --uuid "$UUID"; }
read -r ready <&"${VMM[0]}"
echo "# vmm: $ready"
pid=$(sed -n 's/^ready pid=\([0-9]*\) .*/\1/p' <<<"$ready")

export KVMTRUST_KEY_DIR=$tmp/key
"$K" tpm init --software --host-id vm-host 2>/dev/null >/dev/null
tap_ok "attest --pid attaches, measures and signs" \
	"$K" attest --pid "$pid" --nonce n-1 -o "$tmp/r1.jwt"
tap_is "the report names the VM by the UUID on its VMM's command line" \
	"$(claim "$tmp/r1.jwt" vm_id)" "$UUID"
"$K" measure --pid "$pid" --json >"$tmp/m.json"
tap_is "the report's memory_root is the module's for the paused guest" \
	"$(claim "$tmp/r1.jwt" memory_root)" "$(jq -r .memory_root "$tmp/m.json")"
tap_is "the report states the memory leaf layout" \
	"$(claim "$tmp/r1.jwt" leaf_format)" "$(jq -r .leaf_format "$tmp/m.json")"
tap_is "the next measurement has the next seq" \
	"$(($(claim "$tmp/r1.jwt" seq) + 1))" "$(jq -r .seq "$tmp/m.json")"
tap_ok "verify accepts it (key, nonce, last-seen)" \
	"$K" verify "$tmp/r1.jwt" --pubkey "$tmp/key/public.pem" --nonce n-1 --last-seen "$tmp/seen.json"
tap_fails_with "the same report again is a replay" "Refused: replay" \
	"$K" verify "$tmp/r1.jwt" --pubkey "$tmp/key/public.pem" --last-seen "$tmp/seen.json"

old=$(claim "$tmp/r1.jwt" memory_root)
vmm_cmd poke 0x3000 0x5a || echo "# poke failed"
"$K" attest --uuid "$UUID" -o "$tmp/r2.jwt"
tap_ok "after a guest write the new report verifies" \
	"$K" verify "$tmp/r2.jwt" --pubkey "$tmp/key/public.pem" --last-seen "$tmp/seen.json"
tap_is "and its memory_root changed" \
	"$([ "$(claim "$tmp/r2.jwt" memory_root)" != "$old" ] && echo changed)" changed
tap_fails_with "expecting the old root refuses it (memory_root)" "Refused: memory_root" \
	"$K" verify "$tmp/r2.jwt" --pubkey "$tmp/key/public.pem" --expect-memory-root "$old"
tap_done
