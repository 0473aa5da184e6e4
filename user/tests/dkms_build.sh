#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The shipped dkms.conf builds kvmtrust.ko for the Debian 6.1 kernel:
#
#   tree --copy--> /usr/src/kvmtrust-<test version> --dkms add/build--> .ko
#                                                    --dkms remove---> gone
#
# Runs on the host (no VM); needs root because dkms writes /usr/src.
cd "$(dirname "$0")/../.."
. scripts/lib/tap.sh

tap_plan 4
if [ "$(id -u)" -ne 0 ]; then
	for t in "dkms add and build" "module built" "module has our version" "dkms remove"; do
		tap_skip "$t" "needs root"
	done
	exit 0
fi

release=$(scripts/kernel-release)
version=0.0.0.test$$
cleanup() {
	dkms remove -m kvmtrust -v "$version" --all >/dev/null 2>&1
	rm -rf "/usr/src/kvmtrust-$version" "/var/lib/dkms/kvmtrust/$version"
}
trap cleanup EXIT

tap_ok "dkms add and build" scripts/dkms-install -k "$release" -V "$version" --build-only
ko=/var/lib/dkms/kvmtrust/$version/$release/$(uname -m)/module/kvmtrust.ko
[ -f "$ko" ] || ko=$ko.xz
tap_ok "module built" test -f "$ko"
tap_is "module has our version" "$(modinfo -F version "$ko" 2>/dev/null)" "$version"
tap_ok "dkms remove" dkms remove -m kvmtrust -v "$version" --all
tap_done
