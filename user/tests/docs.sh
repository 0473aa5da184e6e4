#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The example sessions of Documentation/*.rst and user/man/*.8 run as
# pasted, one TAP line per block (scripts/doctest; the convention is in
# Documentation/testing.rst):
#
#   Documentation/x.rst --scripts/doctest--> empty temp dir, kvmtrust on PATH
#                                            "$ " lines run, output compared
#
# First the runner's self-test on the fixtures in user/tests/doctest/: a
# drifted example, an unexpected exit status, an unprompted command, a hang,
# each must fail, and naming doc, line, command, expected and got.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib/tap.sh

fix=user/tests/doctest
tmp=$(mktemp -d /tmp/kt-docs-sh.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# doctest NAME ARGS...: the runner's output in $tmp/NAME, its status in $tmp/NAME.rc
doctest() { local name=$1; shift; scripts/doctest "$@" >"$tmp/$name" 2>&1; echo $? >"$tmp/$name.rc"; }
# has NAME TEXT: the output of run NAME contains TEXT
has() { grep -qF -- "$2" "$tmp/$1" || { tap_diag <"$tmp/$1"; return 1; }; }

echo "TAP version 13"

doctest good "$fix/good.rst" "$fix/fixture.8"
[ "$(cat "$tmp/good.rc")" = 0 ] || tap_diag <"$tmp/good"
tap_is "self-test: the good fixtures pass" "$(cat "$tmp/good.rc")" 0
tap_ok "self-test: a marked block is a SKIP with its reason" has good "# SKIP needs the moon"
tap_fails "self-test: background jobs end with their document" pgrep -f "sleep 987654"

doctest drift "$fix/drift.rst"
tap_is "self-test: drifted output fails the run" "$(cat "$tmp/drift.rc")" 1
tap_ok "self-test: ... naming doc, line and command" \
	has drift "not ok 1 - $fix/drift.rst:7: echo 'decision: allow'"
tap_ok "self-test: ... and the expected and actual line" \
	has drift "$fix/drift.rst:8: expected 'decision: deny', got 'decision: allow'"

doctest status "$fix/status.rst"
tap_ok "self-test: an unexpected exit status fails" has status "exit status 3"

doctest unprompted "$fix/unprompted.rst"
tap_ok "self-test: a command without a prompt fails" has unprompted "without a '\$ ' prompt"
tap_ok "self-test: a marker without a session fails" \
	has unprompted "is not followed by an example session"

doctest man "$fix/drift.8"
tap_ok "self-test: .nf/.fi examples in a man page fail" has man "not .nf/.fi"
tap_ok "self-test: a drifted man page example fails" \
	has man "$fix/drift.8:9: expected 'expected', got 'got'"

doctest hang --timeout 3 "$fix/hang.rst"
tap_ok "self-test: a hung command fails with its output so far" has hang "timed out after 3 s"

log=$tmp/docs
scripts/doctest --start $((TAP_N + 1)) Documentation/*.rst user/man/*.8 | tee "$log"
rc=${PIPESTATUS[0]}
echo "1..$((TAP_N + $(grep -cE '^(not )?ok [0-9]+' "$log")))"
tap_done && [ "$rc" -eq 0 ]
