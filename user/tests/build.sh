#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The user/ build takes the usual make variables without losing its own
# flags, and does nothing when nothing changed:
#
#   make -C user O=$tmp/gcc CFLAGS=-O0 LDFLAGS=-Wl,-Map=...   lib, CLI, tests
#   make -C user O=$tmp/gcc ... again                         prints nothing
#   make -C user O=$tmp/clang CC=clang CFLAGS=-O0             lib and CLI
#   make -C user SANITIZE=1 -n -B                             only build/user-san
#   make -n -B module CC=clang CFLAGS=-O0                     kbuild keeps its own
#
# Everything is built into a temporary O= directory, so the tree's own
# build (user/kvmtrust, build/user) is never touched.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib/tap.sh

tmp=$(mktemp -d /tmp/kt-build-sh.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mk() { make -C user --no-print-directory -j2 "$@"; }

tap_plan 10

gcc_vars=(O="$tmp/gcc" CFLAGS=-O0 LDFLAGS="-Wl,-Map=$tmp/gcc/kvmtrust.map")
echo "# run: make -C user ${gcc_vars[*]} V=1"
mk "${gcc_vars[@]}" V=1 >"$tmp/gcc.log" 2>&1
rc=$?
[ $rc -ne 0 ] && tail -20 "$tmp/gcc.log" | tap_diag
tap_result $rc "CFLAGS=-O0 LDFLAGS=...: lib, CLI and tests build"
cc_line=$(grep -m1 -- ' -c -o .*/lib/common/.*\.o ' "$tmp/gcc.log")
echo "# $cc_line"
[[ "$cc_line" == *" -Ilib "*" -O0"* ]]
tap_result $? "CFLAGS=-O0 comes after the build's own flags, which stay"
tap_ok "LDFLAGS reaches the link (map file written)" test -s "$tmp/gcc/kvmtrust.map"
tap_ok "the CLI runs" "$tmp/gcc/kvmtrust" --version
tap_ok "a test binary runs" "$tmp/gcc/tests/lib_test"

again=$(mk "${gcc_vars[@]}" 2>&1)
tap_is "a second make with nothing changed does nothing" "$again" ""

echo "# run: make -C user O=$tmp/clang CC=clang CFLAGS=-O0 $tmp/clang/kvmtrust"
if command -v clang >/dev/null; then
	out=$(mk O="$tmp/clang" CC=clang CFLAGS=-O0 "$tmp/clang/kvmtrust" 2>&1)
	rc=$?
	[ $rc -ne 0 ] && printf '%s\n' "$out" | tail -20 | tap_diag
	tap_result $rc "CC=clang: lib and CLI build"
	tap_ok "the clang CLI runs" "$tmp/clang/kvmtrust" --version
else
	tap_skip "CC=clang: lib and CLI build" "clang not installed (scripts/setup installs it)"
	tap_skip "the clang CLI runs" "clang not installed"
fi

# Every file SANITIZE=1 would write is under build/user-san.
outside=$(make -C user --no-print-directory SANITIZE=1 -n -B V=1 |
	grep -oE -- '-o [^ ]+' | grep -v -- '-o \.\./build/user-san/')
tap_is "SANITIZE=1 writes only to build/user-san" "$outside" ""

# The kernel's compiler and flags build the module, whatever userspace uses.
if [ -d "/lib/modules/$(scripts/kernel-release 2>/dev/null)/build" ]; then
	kb=$(make --no-print-directory -n -B module CC=clang CFLAGS=-O0 2>&1)
	if echo "$kb" | grep -q 'CC \[M\]' && ! echo "$kb" | grep -qE 'clang|-O0'; then
		rc=0
	else
		rc=1
		echo "$kb" | grep -E 'CC \[M\]|clang|-O0' | head -5 | tap_diag
	fi
	tap_result $rc "make module CC=clang CFLAGS=-O0: kbuild keeps its compiler and flags"
else
	tap_skip "make module CC=clang CFLAGS=-O0: kbuild keeps its compiler and flags" "no kernel headers"
fi
tap_done
