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
# Every refusal is tested by name, before any guest byte moves; then a
# man in the middle substituting its handshake key, either side killed
# mid-transfer, and the verify-first migration (trust score 50..75) to its
# end: final report, new token, ledger entries.
set -u
cd "$(dirname "$0")/.."
. selftests/lib/migrate.sh

PLAN=34
port=7400
dir=$(mktemp -d /tmp/kt-migrate-hosts.XXXXXX)

cleanup() {
	migrate_cleanup
	two_hosts_del
	[ -n "${KT_KEEP:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT

grant_tree_env "$dir"

tap_plan $PLAN
if [ ! -c /dev/kvm ] || ! command -v qemu-system-x86_64 >/dev/null || ! command -v ip >/dev/null ||
   ! "$KVMTRUST" info >/dev/null 2>&1 || ! (cd "$dir" && make_tree) >"$dir/setup.log" 2>&1; then
	cat "$dir/setup.log" 2>/dev/null | tap_diag
	for i in $(seq $PLAN); do tap_skip "migrate hosts $i" "no /dev/kvm, QEMU, iproute2, kvmtrust.ko or openssl"; done
	exit 0
fi

two_hosts >"$dir/net.log" 2>&1
tap_diag <"$dir/net.log"
tap_ok "two hosts: namespaces joined by a veth pair, the source reaches $DST over TCP" reachable

# ledger_copy NAME [ENTRY...]: a copy of the ledger with entries appended
# ("KIND OPTIONS" lines, as ledger append - reads them).
ledger_copy() {
	local name=$1
	shift
	cp "$dir/ledger.db" "$dir/$name.db" &&
	printf '%s\n' "$@" | KVMTRUST_LEDGER=sqlite:$dir/$name.db kt ledger append -
}

# --- the owner, the ledger, the identities, the evidence -------------------------
(
	cd "$dir" && migrate_setup &&
	kt config attest --uuid "$VM" --key-dir host-b/hostkey -o launch.jwt --qemu -- \
		qemu-system-x86_64 -accel kvm -machine pc,smm=off -m 64 -nodefaults -display none &&
	kt grant issue --key alice/key.pem --cert alice/chain.pem --uuid "$VM" \
		--host-ca eu-sub/cert.pem --delegate bob/cert.pem --days 1 -o eu-sub.grant &&
	kt grant issue --key alice/key.pem --cert alice/chain.pem --uuid "$VM" --host-ca eu/cert.pem \
		--delegate bob/cert.pem --not-before now-2d --not-after now-1d -o expired.grant &&
	: >empty.grant &&
	revoked_crls eu host-a crls-a-revoked &&
	cp -r host-anchors trl && cp token.jwt revoked.jwt &&
	kt token revoke --key host-b/key.pem --cert host-b/chain.pem --trl trl/host-b.trl revoked.jwt &&
	ledger_copy low-score "attest --vm $VM --result fail" \
		"attest --vm $VM --result fail" "attest --vm $VM --result fail" &&
	ledger_copy compromised "compromise --host $HOST_A" &&
	ledger_copy verify-first "attest --vm $VM --result fail"
) >"$dir/setup.log" 2>&1
setup=$?
tap_diag <"$dir/setup.log"
tap_is "setup: ledger, grants, token, host keys, launch attestation, revocations" "$setup" 0

qemu src
tap_is "source guest running in the source namespace" "$(qmp "$dir/src.qmp" query-status)" running

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

# --- either side killed mid-transfer --------------------------------------------
# stall_session NAME VICTIM: a migration whose stream the relay stops
# forwarding after 256 KiB; right then it kills VICTIM (source: migrate
# start, destination: migrate receive). The source runs in the background
# (start_pid).
stall_session() {
	port=$((port + 1))
	dst_qemu
	rm -f "$dir/$1.victim"
	receive "$1" host-a "$DST:$port" --ledger "$KVMTRUST_LEDGER"
	[ "$2" = destination ] && echo "$recv_pid" >"$dir/$1.victim"
	"${in_src[@]}" python3 "$RELAY" "unix:$dir/$1.relay" "$DST:$port" stall 262144 \
		"$dir/$1.victim" >"$dir/$1.relay.log" 2>&1 &
	pids+=($!)
	wait_for "$dir/$1.relay.log" listening
	start_exec "unix:$dir/$1.relay" &
	start_pid=$!
	pids+=($!)
	[ "$2" = source ] && echo "$start_pid" >"$dir/$1.victim"
}

running_again() {	# the source QEMU returns to running (by itself or resumed)
	local i
	for i in $(seq 100); do
		[ "$(qmp "$dir/src.qmp" query-status)" = running ] && return 0
		sleep 0.1
	done
	return 1
}

# From here the guest's RAM is random bytes: 64 MiB travel, more than any
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
tap_ok "  the destination had part of the stream (${got:-0} of 64 MiB)" \
	test "${got:-0}" -gt 0 -a "${got:-0}" -lt $((64 << 20))
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
port=$((port + 1))
dst_qemu
receive r-move host-a "$DST:$port" --ledger "$KVMTRUST_LEDGER" --token-out "$dir/new.jwt" \
	--report-out "$dir/final.jwt" --json
start "$DST:$port" --launch-report "$dir/launch.jwt" --json
reap; rs=$?
show
cat "$dir/start.out" "$dir/r-move.out" | tap_diag
js() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(' '.join(str(d[k]) for k in sys.argv[2:]))" "$@" 2>&1; }
tap_is "verify first, then migrated over TCP: source and destination exit 0" "$(cat "$dir/start.status") $rs" "0 0"
tap_ok "  the destination verified the full measurement and the launch attestation" \
	grep -q '^verify first: full measurement and launch attestation verified' "$dir/r-move.err"
tap_is "  --json on both sides: moved / arrived, verified first" \
	"$(js "$dir/start.out" verdict verified_first) $(js "$dir/r-move.out" verdict verified_first)" \
	"moved True arrived True"
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
