#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The guest's old identity token after a verified move (Documentation/
# migration.rst, "The old token"), on our own VMM's path (selftests/vmm.c,
# stop and copy: the shortest move), two "hosts" in one network namespace
# joined by unix sockets, one SQLite ledger:
#
#   - host b moves the guest to host a, and the ledger becomes unreachable
#     from host b during the move (its --ledger is a symlink to the shared
#     ledger, removed once the handshake is done): the guest moves anyway
#     and runs on host a; start exits 1 with verdict moved, old_token_state
#     not-revoked and the command that retries the revocation; the old
#     token still verifies until that retry, is refused after it;
#   - host a moves the guest on (its new token, host a's host key and
#     ledger credential) to another VMM: the destination confirms running,
#     host a's revoke entry follows; token verify --ledger refuses the
#     token host a issued, and a handshake with it is refused by the next
#     destination (revocation) before any byte moves.
set -u
cd "$(dirname "$0")/.."
. selftests/lib/migrate.sh
. selftests/lib/vmm.sh
. selftests/lib/migrate_vmm.sh

PLAN=16
dir=$(mktemp -d /tmp/kt-migrate-revoke.XXXXXX)
tmp=$dir

vmm_begin

(cd "$dir" && migrate_setup && host_key_dir host-a "$HOST_A") >"$dir/setup.log" 2>&1
setup=$?
tap_diag <"$dir/setup.log"
tap_is "setup: ledger, registration, grant, the guest's token (host b), both host keys" "$setup" 0

# verify_token FILE: kvmtrust token verify against the shared ledger; its exit status
verify_token() {
	kt token verify --anchors "$dir/host-anchors" --crls "$dir/host-anchors" --aud "$AUD" \
		--ledger "$KVMTRUST_LEDGER" "$1" >"$dir/verify.out" 2>&1
}

jti_of() {
	kt token show --json "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["jti"])'
}

vmm_start 1 "$VM"
src_vmm=${pids[-1]}
vmm_n 1 run

# --- the ledger unreachable from the source during the move --------------------------
ln -s ledger.db "$dir/src-ledger.db"
dst_start 2
d2=$dst_vmm
# The destination's netlink requests held up (strace's delay injection, as in
# migrate_vmm_test.sh): the move lasts seconds after the handshake, when the
# symlink goes.
in_dst=(strace -f -qq -o /dev/null -e trace=sendmsg -e inject=sendmsg:delay_enter=300000)
receive recv1 host-a "unix:$dir/recv1.sock" --ledger "$KVMTRUST_LEDGER" --token-out "$dir/new.jwt"
in_dst=()
: >"$dir/start.err"
(start "unix:$dir/recv1.sock" --json --ledger "sqlite:$dir/src-ledger.db") &
mover=$!
for i in $(seq 600); do
	grep -q "^handshake: destination host" "$dir/start.err" && break
	kill -0 "$mover" 2>/dev/null || break
	sleep 0.05
done
grep -q "^decision\|^Refused\|^Error" "$dir/start.err" && echo "# the move got past the handshake before the symlink went"
rm "$dir/src-ledger.db"
wait "$mover"
reap; rs=$?
show
tap_diag <"$dir/start.out"
old=$(jti_of "$dir/token.jwt")
tap_is "ledger gone after the handshake: the guest moves anyway (receive 0), start exits 1" \
	"$rs $(cat "$dir/start.status")" "0 1"
tap_is "  verdict moved, the destination runs it, the old token not revoked" \
	"$(js "$dir/start.out" verdict destination_running old_token old_token_state)" \
	"moved True ${old:-none} not-revoked"
tap_ok "  the source VMM is gone" gone "$src_vmm"
tap_ok "  it says so, loud, with the command that retries" \
	grep -q "^Error: the guest moved to host $HOST_A, but its old token ${old:-none} is NOT revoked" \
	"$dir/start.err"
tap_is "  until then the old token still verifies against the ledger" "$(verify_token "$dir/token.jwt"; echo $?)" 0
retry=$(sed -n 's/^retry: kvmtrust //p' "$dir/start.err")
ln -s ledger.db "$dir/src-ledger.db"
size=$(ledger_size)
# shellcheck disable=SC2086 # the printed command, word by word
kt $retry >"$dir/retry.out" 2>&1
tap_is "  the retry (kvmtrust ${retry%% --*} ...) revokes it in the next entry" \
	"$? $(grep -o 'revoked in ledger entry [0-9]*' "$dir/retry.out")" "0 revoked in ledger entry $size"
verify_token "$dir/token.jwt"
tap_is "  then token verify --ledger refuses the old token (revocation, exit 10)" \
	"$? $(grep -o '^Refused: revocation: token [^ ]* was revoked by its issuer' "$dir/verify.out")" \
	"10 Refused: revocation: token ${old:-none} was revoked by its issuer"
tap_is "  and accepts the new one, issued by host a" \
	"$(verify_token "$dir/new.jwt"; echo $?) $(sed -n 's/^host: *//p' "$dir/verify.out")" "0 $HOST_A"

# --- host a moves it on: revoked once the destination runs it -----------------------------
cp "$dir/new.jwt" "$dir/token-a.jwt"
src_vmm=$d2
dst_start 3
receive recv2 host-a "unix:$dir/recv2.sock" --ledger "$KVMTRUST_LEDGER" --token-out "$dir/new2.jwt"
size=$(ledger_size)
start "unix:$dir/recv2.sock" --json --token "$dir/token-a.jwt" --key-dir "$dir/host-a/hostkey" \
	--ledger "$KVMTRUST_LEDGER" --ledger-key "$dir/host-a/key.pem" --ledger-cert "$dir/host-a/cert.pem"
reap; rs=$?
show
tap_diag <"$dir/start.out"
olda=$(jti_of "$dir/token-a.jwt")
tap_is "host a moves the guest on: both exit 0" "$rs $(cat "$dir/start.status")" "0 0"
tap_is "  the destination runs it; the token host a issued is revoked after the move entries" \
	"$(js "$dir/start.out" destination_running old_token old_token_state revocation_index)" \
	"True ${olda:-none} revoked $((size + 2))"
tap_is "  the revoke entry: signed by host a, the jti, the new host, the move's report" \
	"$(entry_field $((size + 2)) kind vm signer detail report)" \
	"revoke token:${olda:-none} CN=host-a moved to host $HOST_A $(js "$dir/start.out" report_digest)"
verify_token "$dir/token-a.jwt"
tap_is "  token verify --ledger refuses it" \
	"$? $(grep -o '^Refused: revocation' "$dir/verify.out")" "10 Refused: revocation"
tap_is "  the newest token verifies" "$(verify_token "$dir/new2.jwt"; echo $?)" 0

# --- a copy of that identity tries to move in again --------------------------------------
vmm_start 5 "$VM"
src_vmm=${pids[-1]}
vmm_n 5 run
dst_start 6
size=$(ledger_size)
receive recv3 host-a "unix:$dir/recv3.sock" --ledger "$KVMTRUST_LEDGER"
start "unix:$dir/recv3.sock" --token "$dir/token-a.jwt" --key-dir "$dir/host-a/hostkey" \
	--no-revoke-token
reap; rs=$?
show
tap_is "the revoked token in a handshake: the destination refuses it (revocation, exit 10)" \
	"$rs $(grep -o '^Refused: revocation: token [^ ]* was revoked by its issuer' "$dir/recv3.err")" \
	"10 Refused: revocation: token ${olda:-none} was revoked by its issuer"
tap_is "  before any byte moved: nothing received, no ledger entry, the source fails" \
	"$(grep -c '^received' "$dir/recv3.err") $(ledger_size) $(test "$(cat "$dir/start.status")" -ne 0 && echo failed)" \
	"0 $size failed"

tap_done
