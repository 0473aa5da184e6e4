#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The shipped dkms.conf builds kvmtrust.ko for every supported kernel
# (scripts/kernel-release --series) and for no other:
#
#   tree --copy--> /usr/src/kvmtrust-<test version> --dkms add/build--> .ko per release
#                                                    --dkms remove---> gone
#
# Runs on the host (no VM; scripts/vmtest --dkms loads what DKMS installs);
# needs root because dkms writes /usr/src.
cd "$(dirname "$0")/../.."
. scripts/lib/tap.sh

series=$(scripts/kernel-release --series)
# Release names dkms.conf and scripts/kernel-release must agree on.
samples="6.1.0-57-amd64 6.1.0-3-amd64 6.12.117+deb12-amd64 6.12.41+deb13-amd64
	6.1.0-57-cloud-amd64 6.1.0-57-rt-amd64 6.12.117+deb13-rt-amd64 6.12.117+deb13-cloud-amd64
	6.1.153 6.12.117 6.6.13+bpo-amd64 6.13.1+deb13-amd64 6.120.1+deb13-amd64 6.12.1+deb14-amd64
	6.18.0-1-amd64 5.10.0-30-amd64"

tap_plan $((3 + 3 * $(wc -w <<< "$series")))

# shellcheck disable=SC1091 # dkms.conf is shell; only the pattern is used.
pattern=$(. ./dkms.conf; echo "$BUILD_EXCLUSIVE_KERNEL")
disagree=
for r in $samples; do
	[[ $r =~ $pattern ]]; a=$?
	scripts/kernel-release --supports "$r"; b=$?
	[ "$a" = "$b" ] || disagree+=" $r(dkms=$a,kernel-release=$b)"
done
tap_is "dkms.conf BUILD_EXCLUSIVE_KERNEL accepts exactly the releases kernel-release supports" \
	"${disagree:-none}" none
accepted=$(for r in $samples; do [[ $r =~ $pattern ]] && echo "$r"; done | xargs)
tap_is "accepted: Debian 12's 6.1, Debian 12's and 13's 6.12, -amd64 only" "$accepted" \
	"6.1.0-57-amd64 6.1.0-3-amd64 6.12.117+deb12-amd64 6.12.41+deb13-amd64"

if [ "$(id -u)" -ne 0 ]; then
	for s in $series; do
		for t in "dkms build for $s" "module built for $s" "module for $s has our version"; do
			tap_skip "$t" "needs root"
		done
	done
	tap_skip "dkms remove" "needs root"
	exit 0
fi

version=0.0.0.test$$
cleanup() {
	dkms remove -m kvmtrust -v "$version" --all >/dev/null 2>&1
	rm -rf "/usr/src/kvmtrust-$version" "/var/lib/dkms/kvmtrust/$version"
}
trap cleanup EXIT

first=yes
for s in $series; do
	release=$(scripts/kernel-release "$s")
	if [ -n "$first" ]; then
		tap_ok "dkms add and build for $s ($release)" \
			scripts/dkms-install -k "$release" -V "$version" --build-only
		first=
	else
		tap_ok "dkms build for $s ($release)" dkms build -m kvmtrust -v "$version" -k "$release"
	fi
	ko=/var/lib/dkms/kvmtrust/$version/$release/$(uname -m)/module/kvmtrust.ko
	[ -f "$ko" ] || ko=$(ls "$ko".* 2>/dev/null | head -n 1)
	tap_ok "module built for $s" test -f "$ko"
	tap_is "module for $s has our version and vermagic" \
		"$(modinfo -F version "$ko" 2>/dev/null) $(modinfo -F vermagic "$ko" 2>/dev/null | cut -d' ' -f1)" \
		"$version $release"
done
tap_ok "dkms remove" dkms remove -m kvmtrust -v "$version" --all
tap_done
