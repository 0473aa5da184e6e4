#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kvmtrust migrate between two hosts inside the test VM
# (Documentation/migration.rst, "Tests"): two network namespaces joined by a
# veth pair, TCP between them, each host with its own certificate from the
# CA tree (scripts/lib/grant-tree.sh) and its own key; one SQLite ledger
# file both reach.
#
#   netns src (host b, CA us)   10.77.0.1      netns dst (host a, CA eu)  10.77.0.2
#   QEMU -uuid VM (running)      veth pair     QEMU -uuid VM -S -incoming
#   kvmtrust migrate start  ---- TCP 74xx ---> kvmtrust migrate receive
#     host b's host key signs                    checks, verifies, issues the
#     the reports                                new token with host a's key
#
# Every refusal is tested by name, before any guest byte moves, and a
# man in the middle substituting its handshake key (migrate_cut_test.sh,
# sharing selftests/lib/migrate_hosts.sh: either side killed mid-transfer,
# verify first to the end).
set -u
cd "$(dirname "$0")/.."
. selftests/lib/migrate.sh
PLAN=16
. selftests/lib/migrate_hosts.sh

# refused NAME RECEIVE-ARGS -- START-ARGS: one migration that must be
# refused before any guest byte moves; sets got to "STATUS|REFUSAL|STATE|N":
# the source's exit status, the destination's refusal, the source guest's
# state and how many "received" lines the destination wrote (none: no
# guest byte).
refused() {
	local name=$1 recv=() rs
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do recv+=("$1"); shift; done
	shift
	port=$((port + 1))
	dst_qemu
	receive "$name" host-a "$DST:$port" --ledger "$KVMTRUST_LEDGER" "${recv[@]}"
	start "$DST:$port" "$@"
	reap >/dev/null
	show
	got="$(cat "$dir/start.status")|$(grep -o '^Refused: [a-z-]*' "$dir/$name.err" | head -1)|$(
	     qmp "$dir/src.qmp" query-status)|$(grep -c '^received' "$dir/$name.err")"
	kill "$dst_pid" 2>/dev/null
	wait "$dst_pid" 2>/dev/null
}

# --- refused before any byte moves, each by name ---------------------------------
refused r-nogrant -- --grant "$dir/empty.grant"
tap_is "no grant (an empty one): refused by rule grant" "$got" "10|Refused: grant|running|0"
refused r-expired -- --grant "$dir/expired.grant"
tap_is "expired grant: refused by rule window" "$got" "10|Refused: window|running|0"
refused r-ca -- --grant "$dir/eu-sub.grant"
tap_is "destination under a CA the grant does not allow: refused by rule host-ca" "$got" "10|Refused: host-ca|running|0"
refused r-score --ledger "sqlite:$dir/low-score.db" --
tap_is "trust score below 50: refused by rule trust-score" "$got" "10|Refused: trust-score|running|0"
refused r-comp --ledger "sqlite:$dir/compromised.db" --
tap_is "destination flagged compromised: refused by rule host-compromise" "$got" "10|Refused: host-compromise|running|0"
refused r-token --crls "$dir/trl" -- --token "$dir/revoked.jwt"
tap_is "revoked guest token: the destination refuses it by revocation" "$got" "10|Refused: revocation|running|0"
refused r-revcert -- --crls "$dir/crls-a-revoked"
tap_is "revoked destination certificate: the source refuses the handshake by host-chain" \
	"$(cut -d'|' -f1,3- <<<"$got")|$(grep -o '^Refused: host-chain' "$dir/start.err")" \
	"10|running|0|Refused: host-chain"
tap_ok "  naming the revocation" grep -q 'revoked' "$dir/start.err"
refused r-vf-none --ledger "sqlite:$dir/verify-first.db" --
tap_is "verify first without the launch attestation: the source stops, exit 11" \
	"$(cut -d'|' -f1,3- <<<"$got")" "11|running|0"

# --- a man in the middle substitutes its own handshake key -----------------------
port=$((port + 1))
dst_qemu
receive r-mitm host-a "$DST:$port" --ledger "$KVMTRUST_LEDGER"
"${in_src[@]}" python3 "$RELAY" "unix:$dir/mitm.sock" "$DST:$port" swap-eph >"$dir/mitm.log" 2>&1 &
pids+=($!)
wait_for "$dir/mitm.log" listening
start "unix:$dir/mitm.sock"
reap; rs=$?
show
tap_ok "the relay substituted the handshake key" grep -q substituted "$dir/mitm.log"
tap_is "  the source refuses by host-signature, exit 10" \
	"$(cat "$dir/start.status") $(grep -o '^Refused: host-signature' "$dir/start.err")" \
	"10 Refused: host-signature"
tap_ok "  the destination does not accept it" test "$rs" -ne 0
tap_is "  the source guest still runs" "$(qmp "$dir/src.qmp" query-status)" running
kill "$dst_pid" 2>/dev/null; wait "$dst_pid" 2>/dev/null

tap_done
