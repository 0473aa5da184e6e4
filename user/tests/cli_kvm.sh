#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The measurement commands' command line, on the host (no module needed):
#
#   kvmtrust {info,vm,measure} --help        -> 0, usage on stdout
#   bad usage                                -> 2, usage on stderr
#   a pid that does not exist               -> 3, says so
#   a pid whose VMM has no UUID             -> 2, says to add --uuid
#
# Measuring real guests is tested in the 6.1 VM (selftests/, scripts/vmtest).
cd "$(dirname "$0")/../.."
. scripts/lib/tap.sh
K=${KVMTRUST_CLI:-user/kvmtrust}

status() { "$@" >/dev/null 2>&1; echo $?; }
# Loaded, or loadable: the kernel autoloads it for its netlink family.
module_loaded() { [ -d /sys/module/kvmtrust ] || modinfo kvmtrust >/dev/null 2>&1; }

tap_plan 13
tap_is "info --help exits 0" "$(status $K info --help)" 0
tap_ok "vm --help prints usage" bash -c "$K vm --help | grep -q 'vm attach (--pid PID | --uuid UUID | --domain NAME)'"
tap_ok "measure --help prints usage" bash -c "$K measure --help | grep -q -- '--no-vcpus'"
tap_is "measure without a target is a usage error" "$(status $K measure)" 2
tap_is "measure with --pid and --domain is a usage error" "$(status $K measure --pid 1 --domain a)" 2
tap_fails_with "measure --pid refuses a non-number" "invalid pid 'abc'" $K measure --pid abc
tap_fails_with "measure --uuid refuses a non-UUID" "'0' is not a UUID" $K measure --uuid 0
tap_fails_with "measure --pid of a process without -uuid says to add --uuid" \
	"started without -uuid: name its VM with --pid $$ --uuid UUID" $K measure --pid $$
tap_is "unknown vm command is a usage error" "$(status $K vm frobnicate)" 2
tap_is "vm attach needs --pid or --fd" "$(status $K vm attach)" 2
tap_is "vm detach needs a VM name or --vm-id" "$(status $K vm detach)" 2
if module_loaded; then
	tap_skip "without the module, info says how to load it" "kvmtrust.ko is loaded or installed here"
	tap_skip "without the module, measure exits 5" "kvmtrust.ko is loaded or installed here"
else
	tap_fails_with "without the module, info says how to load it" "modprobe kvmtrust" $K info
	tap_is "without the module, measure exits 5" \
		"$(status $K measure --pid $$ --uuid 7d4f2b1a-3c5e-4f60-8a9b-0c1d2e3f4a5b)" 5
fi
tap_done
