#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The one exit-code table of kvmtrust(8), command group by command group:
# a representative command of each group must return the documented code
# for success (0), bad usage (2), a missing file (3) and a refusal (10), and
# every group's --help must list the same codes as its man page.
#
#   kvmtrust ca ──> root ── eu ── host a        (token, handshake)
#   grant-tree.sh ──> owner root ── alice, bob  (grant, migrate)
#   kvmtrust tpm init --software ──> host key   (attest, verify, config)
#
# The measurement groups (info, vm, measure) need kvmtrust.ko for success;
# their other codes are checked here, success in the VM (selftests/).
set -u
cd "$(dirname "$0")/../.."
. scripts/lib/tap.sh
. scripts/lib/grant-tree.sh

KT=$PWD/user/kvmtrust
MAN=$PWD/user/man
GUEST=7d4f2b1a-3c5e-4f60-8a9b-0c1d2e3f4a5b
AUD=kvmtrust:exit-codes
NOFILE=/nonexistent/kvmtrust-exit

tap_workdir kt-cli-exit

# code WANT NAME CMD...: CMD's exit status must be WANT; its stderr is shown
# when it is not.
code() {
	local want=$1 name=$2 got; shift 2
	echo "# run: $*"
	"$@" >"$dir/out" 2>"$dir/err"; got=$?
	[ "$got" = "$want" ] || tap_diag <"$dir/err"
	tap_is "$name: exit $want" "$got" "$want"
}

# The codes a group's --help lists, and those its man page lists.
help_codes() { "$KT" "$1" --help | sed -n 's/^Exit status: \(.*\) (kvmtrust(8))\.$/\1/p'; }
man_codes() { sed -n "s/^$2 \(.*\)\.$/\1/p" "$MAN/$1"; }

tap_plan 103

# --- fixtures ----------------------------------------------------------------
export KVMTRUST_KEY_DIR=$dir/hostkey
{
	"$KT" ca init -o root --cn "Exit Root" &&
	"$KT" ca issue ca --ca root -o eu --cn "EU CA" &&
	"$KT" ca issue host --ca eu -o hosta --cn "host a" --host-uuid "$HOST_A" \
		--region eu-west --site fra1 &&
	"$KT" ca init -o rogue --cn "Rogue Root" &&
	mkdir anchors crls && cp root/cert.pem anchors/ && cp root/crl.pem crls/root.crl &&
	cp eu/crl.pem crls/eu.crl &&
	"$KT" token issue --key hosta/key.pem --cert hosta/chain.pem --uuid "$GUEST" --aud "$AUD" \
		--new-guest-key guest.pem -o token.jwt &&
	"$KT" tpm init --software --host-id host-a &&
	printf '{"memory_root":"%s","vcpu_root":"%s","pages":1,"seq":1}\n' \
		"$(printf 'a%.0s' $(seq 64))" "$(printf 'b%.0s' $(seq 64))" >m.json &&
	printf '{"memory_mib": 64, "vcpus": 1}\n' >vm.json &&
	mkdir tree && (cd tree && grant_tree "$dir/tree")
} >setup.log 2>&1 || { tap_diag <setup.log; echo "Bail out! fixtures"; exit 1; }

# --- every group's --help lists the codes of its man page ---------------------
for g in attest verify config launch tpm ca token handshake grant migrate daemon snapshot rollback \
	policy evidence; do
	tap_is "$g --help and kvmtrust-$g(8) list the same exit codes" \
		"$(help_codes "$g")" "$(man_codes "kvmtrust-$g.8" "this group returns")"
done
tap_is "info --help and kvmtrust(8) list the same exit codes" \
	"$(help_codes info)" "$(man_codes kvmtrust.8 '\\fBinfo\\fR returns')"
for g in vm measure; do
	tap_is "$g --help and kvmtrust(8) list the same exit codes" \
		"$(help_codes "$g")" "$(man_codes kvmtrust.8 '\\fBvm\\fR and \\fBmeasure\\fR return')"
done

# --- info, vm, measure ---------------------------------------------------------
code 0 "info --help" "$KT" info --help
code 2 "info with an unknown option" "$KT" info --frobnicate
code 2 "vm list with --json and --script" "$KT" vm list --json --script
code 3 "measure --pid of no process" "$KT" measure --pid 4194304

# --- tpm, attest, verify, config, launch -------------------------------------
code 0 "tpm show" "$KT" tpm show
code 3 "tpm show without a key" env KVMTRUST_KEY_DIR="$NOFILE" "$KT" tpm show
code 2 "tpm init --pcr 24" "$KT" tpm init --pcr 24
code 0 "attest --measurement" "$KT" attest --measurement m.json --uuid "$GUEST" --nonce n1 -o r.jwt
code 3 "attest --measurement of a missing file" "$KT" attest --measurement "$NOFILE" --uuid "$GUEST"
code 2 "attest without a VM" "$KT" attest
code 0 "verify" "$KT" verify r.jwt --pubkey hostkey/public.pem --nonce n1
code 10 "verify with another nonce (refused)" "$KT" verify r.jwt --pubkey hostkey/public.pem --nonce n2
code 3 "verify of a missing report" "$KT" verify "$NOFILE" --pubkey hostkey/public.pem
code 3 "verify with a missing key" "$KT" verify r.jwt --pubkey "$NOFILE"
code 2 "verify without a report" "$KT" verify --pubkey hostkey/public.pem
code 0 "config measure" "$KT" config measure vm.json
code 3 "config measure of a missing file" "$KT" config measure "$NOFILE"
code 2 "config with an unknown command" "$KT" config frobnicate
root=$("$KT" config measure --script vm.json | head -1 | cut -f1)
code 0 "launch of the expected configuration" "$KT" launch --expect "$root" --config vm.json -- true
code 10 "launch of another configuration (refused)" \
	"$KT" launch --expect "$(printf '0%.0s' $(seq 64))" --config vm.json -- true
code 3 "launch with a missing configuration" "$KT" launch --expect "$root" --config "$NOFILE" -- true
code 2 "launch without --expect" "$KT" launch -- true

# --- ca, token, handshake -----------------------------------------------------
code 0 "ca verify" "$KT" ca verify --anchors anchors --crls crls hosta
code 10 "ca verify of a foreign root (refused)" "$KT" ca verify --anchors anchors --crls crls rogue
code 3 "ca show of a missing file" "$KT" ca show "$NOFILE"
code 2 "ca issue of an unknown kind" "$KT" ca issue server --ca eu -o x --cn x
code 0 "token verify" "$KT" token verify --anchors anchors --crls crls --aud "$AUD" token.jwt
code 10 "token verify for another audience (refused)" \
	"$KT" token verify --anchors anchors --crls crls --aud other token.jwt
code 3 "token verify of a missing token" \
	"$KT" token verify --anchors anchors --crls crls --aud "$AUD" "$NOFILE"
code 2 "token verify without --aud" "$KT" token verify --anchors anchors --crls crls token.jwt
code 2 "token show with --json and --script" "$KT" token show --json --script token.jwt
code 2 "handshake without --listen or --connect" "$KT" handshake --anchors anchors
code 3 "handshake with a missing anchor directory" \
	"$KT" handshake --connect 127.0.0.1:1 --anchors "$NOFILE" --token token.jwt --guest-key guest.pem
"$KT" handshake --listen 127.0.0.1:0 --key hosta/key.pem --cert hosta/chain.pem --anchors anchors --crls crls \
	--aud other --count 1 >/dev/null 2>listen.log &
pids+=($!)
for i in $(seq 100); do grep -q '^listening on' listen.log && break; sleep 0.1; done
port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' listen.log)
code 10 "handshake the host refuses" "$KT" handshake --connect "127.0.0.1:$port" \
	--anchors anchors --token token.jwt --guest-key guest.pem

# --- grant, migrate ------------------------------------------------------------
export KVMTRUST_OWNER_ANCHORS=$dir/tree/owner-anchors KVMTRUST_HOST_ANCHORS=$dir/tree/host-anchors
export KVMTRUST_LEDGER=sqlite:$dir/ledger.db KVMTRUST_LEDGER_CA=$dir/tree/ledger-ca
{ "$KT" ledger init &&
  "$KT" ledger register --vm "$GUEST" --key tree/alice/key.pem --cert tree/alice/cert.pem
} >ledger.log 2>&1 || { tap_diag <ledger.log; echo "Bail out! ledger"; exit 1; }
issue() { "$KT" grant issue --key tree/alice/key.pem --cert tree/alice/chain.pem --uuid "$GUEST" \
	--host-ca tree/eu/cert.pem --delegate tree/bob/cert.pem --days 1 "$@"; }
code 0 "grant issue" issue -o vm.grant
code 0 "grant verify" "$KT" grant verify vm.grant
code 10 "grant verify under the host anchors (refused)" \
	"$KT" grant verify vm.grant --owner-anchors tree/host-anchors
code 3 "grant verify of a missing grant" "$KT" grant verify "$NOFILE"
code 3 "grant issue with a missing delegate" issue --delegate "$NOFILE"
code 2 "grant issue without --days" \
	"$KT" grant issue --key tree/alice/key.pem --cert tree/alice/chain.pem --uuid "$GUEST"
code 0 "migrate order" "$KT" migrate order --uuid "$GUEST" --to tree/host-a/chain.pem \
	--grant vm.grant --key tree/bob/key.pem --cert tree/bob/cert.pem -o vm.order
code 10 "migrate check without a trust score (deny)" \
	"$KT" migrate check --uuid "$GUEST" --to tree/host-a/chain.pem --grant vm.grant --order vm.order
code 3 "migrate check of a missing grant" "$KT" migrate check --uuid "$GUEST" \
	--to tree/host-a/chain.pem --grant "$NOFILE" --order vm.order
code 2 "migrate check without --to" "$KT" migrate check --uuid "$GUEST" --grant vm.grant --order vm.order
code 2 "migrate start with both --qmp and --pid" "$KT" migrate start --qmp q --pid 1 \
	--connect unix:x --token token.jwt --guest-key guest.pem --anchors anchors --grant vm.grant \
	--order vm.order
code 2 "migrate receive with --pid and --incoming" "$KT" migrate receive --listen unix:x \
	--pid 1 --incoming x --key x --cert x --anchors anchors --crls crls --aud "$AUD"
tap_fails_with "migrate start --pid of a process without --uuid" "was started without --uuid" \
	"$KT" migrate start --pid $$ --connect unix:x --token token.jwt --guest-key guest.pem \
	--anchors anchors --grant vm.grant --order vm.order --no-revoke-token
# kvmtrustd's nonmigratable mark refuses the move before anything is opened or sent
mkdir -p state/nonmigratable badstate && echo "event=score-below-75 score=60" >"state/nonmigratable/$GUEST" &&
	touch badstate/nonmigratable
start_q=(migrate start --qmp "$NOFILE" --connect unix:x --token token.jwt --guest-key guest.pem
	--anchors anchors --grant vm.grant --order vm.order --no-revoke-token)
tap_fails_with "migrate start of a guest marked non-migratable: refused, the mark named" \
	"^Refused: nonmigratable: VM $GUEST is marked non-migratable on this host (.*: event=score-below-75 score=60)" \
	env KVMTRUST_STATE_DIR="$dir/state" "$KT" "${start_q[@]}"
code 10 "migrate start where the mark cannot be looked up (refused, not allowed)" \
	env KVMTRUST_STATE_DIR="$dir/badstate" "$KT" "${start_q[@]}"
# The old token is revoked in a ledger once the guest moved, or left valid only when told so;
# what cannot be revoked refuses the move before anything is opened or sent.
start_l=("${start_q[@]:0:${#start_q[@]}-1}")
tap_fails_with "migrate start without --ledger or --no-revoke-token: usage, the choice named" \
	"give --ledger SPEC \\(the old token is revoked there once the guest moved\\) or --no-revoke-token" \
	env -u KVMTRUST_LEDGER "$KT" "${start_l[@]}"
code 2 "migrate start with both --ledger and --no-revoke-token" \
	"$KT" "${start_q[@]}" --ledger "sqlite:$dir/ledger.db"
code 2 "migrate start --no-revoke-token with --ledger-key" \
	"$KT" "${start_q[@]}" --ledger-key hosta/key.pem
tap_fails_with "migrate start --ledger without the issuer's key and certificate" \
	"needs the token issuer's --ledger-key and --ledger-cert" \
	env -u KVMTRUST_LEDGER_KEY -u KVMTRUST_LEDGER_CERT "$KT" "${start_l[@]}" --ledger "sqlite:$dir/ledger.db"
code 3 "migrate start --ledger with a missing --ledger-cert" \
	"$KT" "${start_l[@]}" --ledger "sqlite:$dir/ledger.db" --ledger-key hosta/key.pem --ledger-cert "$NOFILE"
# A ledger whose writers are the tree's hosts, and a token host a of the tree issued.
KVMTRUST_LEDGER_CA=tree/ledger-ca "$KT" ledger init --ledger "sqlite:$dir/tree-ledger.db" >/dev/null &&
	"$KT" token issue --key tree/host-a/key.pem --cert tree/host-a/chain.pem --uuid "$GUEST" \
		--aud "$AUD" --guest-key guest.pem -o tree.jwt 2>/dev/null
start_t=("${start_l[@]/token.jwt/tree.jwt}" --ledger "sqlite:$dir/tree-ledger.db" --ledger-ca tree/ledger-ca)
tap_fails_with "migrate start --ledger signed by a host that did not issue the token: refused" \
	"^Refused: revoke-signer: the token was issued by host $HOST_A, --ledger-cert is host $HOST_B's" \
	"$KT" "${start_t[@]}" --ledger-key tree/host-b/key.pem --ledger-cert tree/host-b/cert.pem
tap_fails_with "migrate start --ledger signed by a host the ledger's CA does not know: refused" \
	"^Refused: authorization: certificate not trusted by the ledger CA" \
	"$KT" "${start_t[@]/tree.jwt/token.jwt}" --ledger-key hosta/key.pem --ledger-cert hosta/cert.pem
tap_fails_with "migrate start --ledger signed by the token's issuer: checked, then the QEMU is opened" \
	"^Error: qmp: .*$NOFILE" \
	"$KT" "${start_t[@]}" --ledger-key tree/host-a/key.pem --ledger-cert tree/host-a/cert.pem
"$KT" token issue --key hosta/key.pem --cert hosta/chain.pem --uuid "$GUEST" --aud "$AUD" \
	--guest-key guest.pem --jti 'no/slash' -o badjti.jwt 2>/dev/null
tap_fails_with "migrate start --ledger of a token whose jti no entry can name: refused" \
	"^Refused: request: jti 'no/slash' cannot be revoked through the ledger" \
	"$KT" "${start_t[@]/tree.jwt/badjti.jwt}" --ledger-key tree/host-a/key.pem \
	--ledger-cert tree/host-a/cert.pem
tap_fails_with "migrate start --ledger that cannot be opened: refused before anything moves" \
	"^Refused: revocation: the revocation ledger cannot be read" \
	"$KT" "${start_t[@]/ledger.db/no-ledger.db}" --ledger-key tree/host-a/key.pem \
	--ledger-cert tree/host-a/cert.pem

# --- refusals of bad input name what was wrong --------------------------------------
tap_fails_with "a missing file is named" "^Error: file: cannot open '$NOFILE': No such file" \
	"$KT" ca show "$NOFILE"
tap_fails_with "a host UUID that is not one" "--host-uuid 'h-1' is not a UUID" \
	"$KT" ca issue host --ca eu -o h1 --cn h1 --host-uuid h-1 --region r --site s
tap_fails_with "an allowed host that is not a UUID" "host 'b' is not a UUID" issue --allow-host b
tap_fails_with "a grant id that is not a UUID" "grant id 'g-1' is not a UUID" issue --id g-1
tap_fails_with "an expected host that is not a UUID" "--expect-host 'h' is not a UUID" \
	"$KT" handshake --connect 127.0.0.1:1 --anchors anchors --token token.jwt \
	--guest-key guest.pem --expect-host h
tap_fails_with "a second positional argument" "unexpected argument 'two'" \
	"$KT" token verify --anchors anchors --crls crls --aud "$AUD" token.jwt two
tap_fails_with "grant show of two files" "show needs exactly one grant file" \
	"$KT" grant show vm.grant vm.grant
tap_fails_with "naming no VM" "name the VM with --pid, --uuid or --domain" \
	"$KT" attest --measurement m.json
tap_fails_with "--domain with --uuid" "--domain names the VM alone" \
	"$KT" migrate order --domain d --uuid "$GUEST" --to x --grant x --key x --cert x
tap_fails_with "a VM for config measure" "measure takes no VM" \
	"$KT" config measure --uuid "$GUEST" vm.json
tap_fails_with "a bad time" "bad time 'tomorrow'" "$KT" grant verify --at tomorrow vm.grant

# --- ledger, score: their own suites check the rest ----------------------------
code 0 "ledger --help" "$KT" ledger --help
code 2 "ledger with an unknown option" "$KT" ledger --frobnicate
code 0 "score --help" "$KT" score --help
code 2 "score with an unknown option" "$KT" score --frobnicate
code 0 "snapshot list of an empty store" "$KT" snapshot list --store "$dir/snaps"
code 3 "snapshot verify of no such snapshot" \
	"$KT" snapshot verify 20260101T000000Z-00000000 --store "$dir/snaps" --pubkey hostkey/public.pem
code 2 "snapshot prune with an id and --keep" "$KT" snapshot prune x --keep 1
code 2 "rollback without --to" "$KT" rollback --pid 1 --pubkey hostkey/public.pem
code 3 "rollback to no such snapshot" \
	"$KT" rollback --pid $$ --uuid "$GUEST" --to 20260101T000000Z-00000000 --store "$dir/snaps" \
	--pubkey hostkey/public.pem

# --- policy --------------------------------------------------------------------
echo '{"version": 1, "ranges": [], "vcpu": [{"name": "wp", "reg": "cr0", "op": "bits-set", "value": "0x0"}]}' \
	>zero-pred.json
code 2 "policy learn without -o" "$KT" policy learn --pid $$ --range 0x0:0x1000
code 2 "policy learn of an unaligned range" "$KT" policy learn --pid $$ --range 0x10:0x1000 -o p.json
code 2 "policy learn of an unknown predicate" "$KT" policy learn --pid $$ --vcpu-pred cr0.xx -o p.json
code 3 "policy check of a missing policy" "$KT" policy check --pid $$ --policy "$NOFILE"
code 10 "policy check of a policy that tests nothing (refused)" \
	"$KT" policy check --pid $$ --policy zero-pred.json
tap_ok "  ... naming the predicate and why" grep -q "Refused: policy: vcpu\[0\]: bits-set with value 0 tests nothing" "$dir/err"

tap_done
