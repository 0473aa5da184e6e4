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
# Either side killed mid-transfer, and the verify-first migration (trust
# score 50..75) to its end: final report, new token, ledger entries. The
# refusals are migrate_hosts_test.sh's (the two share
# selftests/lib/migrate_hosts.sh, each within run-in-vm's 300 s).
set -u
cd "$(dirname "$0")/.."
. selftests/lib/migrate.sh
PLAN=23
. selftests/lib/migrate_hosts.sh

# --- either side killed mid-transfer --------------------------------------------
# stall_session NAME VICTIM: a migration whose stream the relay stops
# forwarding after 256 KiB; right then it kills VICTIM (stall_run).
stall_session() {
	dst_qemu
	stall_run "$1" "$2" 262144
}

running_again() {	# the source QEMU returns to running (by itself or resumed)
	local i
	for i in $(seq 100); do
		[ "$(qmp "$dir/src.qmp" query-status)" = running ] && return 0
		sleep 0.1
	done
	return 1
}

# From here the guest's RAM is random bytes: 32 MiB travel, more than any
# socket buffer holds, so a stalled stream keeps QEMU's migration under way.
kill "$src_pid"; wait "$src_pid" 2>/dev/null
random_ram && qemu src
size=$(ledger_size)
stall_session r-ksrc source
reap; rs=$?
wait "$start_pid"; ss=$?
show
got=$(sed -n 's/^received \([0-9]*\) bytes$/\1/p' "$dir/r-ksrc.err")
tap_is "source killed mid-transfer (signal 9): the relay killed it at the stall" \
	"$ss $(grep -c '^killed' "$dir/r-ksrc.relay.log")" "137 1"
tap_ok "  the destination had part of the stream (${got:-0} of $GUEST_MIB MiB)" \
	test "${got:-0}" -gt 0 -a "${got:-0}" -lt $((GUEST_MIB << 20))
tap_is "  it refuses the cut stream (truncated), exit 10" \
	"$rs $(grep -o '^Refused: truncated' "$dir/r-ksrc.err")" "10 Refused: truncated"
tap_ok "  and discards its copy" gone "$dst_pid"
tap_ok "  the source guest runs on (QEMU's migration failed)" running_again

stall_session r-kdst destination
wait "$start_pid"; ss=$?
show
tap_is "destination killed mid-transfer: the relay killed it, the source fails" \
	"$(grep -c '^killed' "$dir/r-kdst.relay.log") $([ "$ss" -ne 0 ] && echo failed)" "1 failed"
tap_ok "  and resumes its guest" running_again
tap_ok "  the source says so" grep -Eq '^source guest: (running|resumed)' "$dir/start.err"
tap_is "  neither cut transfer wrote to the ledger" "$(ledger_size)" "$size"
kill "$dst_pid" 2>/dev/null; wait "$dst_pid" 2>/dev/null

# --- verify first (trust score 50..75), then the whole migration ----------------
cp "$dir/verify-first.db" "$dir/ledger.db"
size=$(ledger_size)
move r-move --launch-report "$dir/launch.jwt"
tap_is "verify first, then migrated over TCP: source and destination exit 0" "$(cat "$dir/start.status") $rs" "0 0"
tap_ok "  the destination verified the full measurement and the launch attestation" \
	grep -q '^verify first: full measurement and launch attestation verified' "$dir/r-move.err"
tap_is "  --json on both sides: moved / arrived, verified first" \
	"$(js "$dir/start.out" verdict verified_first) $(js "$dir/r-move.out" verdict verified_first)" \
	"moved True arrived True"
tap_is "  measured during the stream, then incrementally at switchover on both sides" \
	"$(js "$dir/r-move.out" measure_full) $(js "$dir/start.out" measure_full) $(
	   [ "$(js "$dir/r-move.out" early_measure_ms)" -gt 0 ] 2>/dev/null && echo early)" \
	"False False early"
n=$(js "$dir/r-move.out" pages_hashed)
tap_ok "  the destination hashed $n pages at switchover, fewer than the guest's $((GUEST_MIB << 8))" \
	test "${n:-x}" -lt $((GUEST_MIB << 8)) 2>/dev/null
tap_is "  the destination guest runs, the source QEMU quit" \
	"$(qmp "$dir/dst.qmp" query-status) $(gone "$src_pid" && echo quit)" "running quit"
tap_is "  both sides name the same final report" \
	"$(js "$dir/start.out" report_digest)" "$(js "$dir/r-move.out" report_digest)"
tap_is "  the report kept is that one, signed by host b for the arrived roots" \
	"$(sha256sum <"$dir/final.jwt" | cut -c1-64) $(kt verify "$dir/final.jwt" --anchors "$dir/host-anchors" \
	   --crls "$dir/host-anchors" --max-age -1 --expect-memory-root "$(js "$dir/r-move.out" memory_root)" |
	   sed -n 's/^host: //p')" "$(js "$dir/r-move.out" report_digest) $HOST_B"
tap_is "  the guest's new token: issued by host a, verified" \
	"$(js "$dir/r-move.out" token_issuer) $(kt token verify --anchors "$dir/host-anchors" \
	   --crls "$dir/host-anchors" --aud "$AUD" "$dir/new.jwt" | sed -n 's/^host: *//p')" \
	"$HOST_A $HOST_A"
tap_is "  the ledger: the final attestation passed and the move, on host a" \
	"$(entry "$size"; entry $((size + 1)))" "attest	pass	$VM	$HOST_A
move	-	$VM	$HOST_A"
tap_is "  the move names the final report by its digest" "$(entry_field $((size + 1)) report)" \
	"$(js "$dir/r-move.out" report_digest)"

tap_done
