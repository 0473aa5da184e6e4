#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# End to end: kvmtrust grant issue|show|verify|revoke and kvmtrust migrate
# check through the CLI, against a CA tree made with the openssl command
# (the same profiles as pki.h writes: host UUID as a urn:uuid SAN, region
# and site in the KtLocation extension) and a SQLite ledger.
#
#   owner root ── alice (owner: registers the VM), bob (delegate), mallory
#   host root ─┬─ CA eu ─┬─ host a   eu-west/fra1
#              │         └─ CA eu-sub ── host a1   eu-west/fra2
#              └─ CA us ── host b   us-east/nyc1   (the VM runs here, writes the ledger)
#
# Exit codes of migrate check: 0 allow, 11 allow after full verification,
# 10 deny, 1 error.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib/tap.sh
. scripts/lib/grant-tree.sh

KVMTRUST=${KVMTRUST_CLI:-$PWD/user/kvmtrust}
VM=7d4f2b1a-3c5e-4f60-8a9b-0c1d2e3f4a5b
OTHER_VM=8e5a3c2b-4d6f-4a71-9bac-1d2e3f4a5b6c

dir=$(mktemp -d /tmp/kt-grant-sh.XXXXXX)
cleanup() { [ -n "${KT_KEEP:-}" ] || rm -rf "$dir"; }
trap cleanup EXIT
cd "$dir"

grant_tree_env "$dir"

kt() { echo "# kvmtrust $*" >&2; "$KVMTRUST" "$@"; }
# Exit status of a command; its output kept in $dir/out, errors in $dir/err.
status_of() { "$@" >"$dir/out" 2>"$dir/err"; echo $?; }
# The script-form line of one rule: "rule outcome check detail".
rule_line() { grep -P "^$1\t" "$dir/out" | cut -f1-3; }

issue() { kt grant issue --key alice/key.pem --cert alice/chain.pem --uuid "$VM" \
	--host-ca eu/cert.pem --delegate bob/cert.pem "$@"; }
check() { kt migrate check --uuid "$VM" --grant vm.grant --by bob/cert.pem --script "$@"; }

tap_plan 52

if ! command -v openssl >/dev/null || ! grant_tree "$dir" >setup.log 2>&1; then
	cat setup.log 2>/dev/null | tap_diag
	for i in $(seq 52); do tap_skip "grant end to end $i" "cannot build a CA tree with openssl"; done
	exit 0
fi

# --- the grant document ----------------------------------------------------

tap_ok "the owner issues a grant" \
	issue --region eu-west --deny-host "$HOST_B" --days 30 --id 5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d -o vm.grant
kt grant show vm.grant --script >"$dir/out"
tap_is "show --script: id, vm and issuer" "$(head -1 "$dir/out" | cut -f1-3)" \
	"5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d	$VM	CN=alice"
tap_is "show --script: the CA key identifier, regions, sites" "$(sed -n 2,4p "$dir/out" | tr '\n' ' ')" \
	"$(openssl x509 -in eu/cert.pem -noout -ext subjectKeyIdentifier | tail -1 | tr -d ' :' | tr A-F a-f) eu-west - "
tap_ok "show --json is JSON naming the vm" \
	bash -c "'$KVMTRUST' grant show vm.grant --json | grep -q '\"vm\": \"$VM\"'"
tap_fails_with "verify refuses to run without a ledger" "no-ledger: no ledger at 'sqlite:$dir/ledger.db'" \
	kt grant verify vm.grant
tap_ok "the ledger is created" kt ledger init
tap_fails_with "verify refuses a grant for a VM nobody registered" "^Refused: owner: VM $VM has no registered owner" \
	kt grant verify vm.grant
tap_ok "  unless offline, and then it says so" \
	bash -c "'$KVMTRUST' grant verify vm.grant --offline | grep -q 'offline: revocation and owner not checked'"
tap_is "  --offline reads no ledger, so it takes none" \
	"$(status_of kt grant verify vm.grant --offline --ledger "$KVMTRUST_LEDGER")" 2
tap_ok "alice registers the VM" kt ledger register --vm "${VM^^}" --key alice/key.pem --cert alice/cert.pem
tap_ok "verify accepts the owner's grant" kt grant verify vm.grant --host-anchors host-anchors
tap_fails_with "verify under the host anchors refuses it" "^Refused: chain: .*owner trust anchors" \
	kt grant verify vm.grant --owner-anchors host-anchors
tap_fails_with "owner anchors reused as host anchors are refused" "^Refused: anchors: " \
	kt grant verify vm.grant --host-anchors owner-anchors
sed 's/\(^[^.]*\.[^.]\{20\}\)./\1A/' vm.grant >tampered.grant
cmp -s vm.grant tampered.grant && sed -i 's/\(^[^.]*\.[^.]\{20\}\)./\1B/' tampered.grant
tap_fails_with "verify refuses a tampered byte" "^Refused: (signature|structure): " \
	kt grant verify tampered.grant
tap_is "a refused grant exits 10" "$(status_of kt grant verify tampered.grant)" 10
tap_fails_with "a host CA cannot issue a grant" "Error: signer: .*ca certificate" \
	kt grant issue --key eu/key.pem --cert eu/chain.pem --uuid "$VM" --host-ca eu/cert.pem \
	--delegate bob/cert.pem --days 1
tap_fails_with "a grant without a delegate is refused" "delegate" \
	kt grant issue --key alice/key.pem --cert alice/chain.pem --uuid "$VM" \
	--host-ca eu/cert.pem --days 1
tap_is "bad usage exits 2" "$(status_of kt grant issue --uuid "$VM")" 2

# --- the decision ----------------------------------------------------------

# Mallory holds a valid owner certificate, but the VM is alice's.
kt grant issue --key mallory/key.pem --cert mallory/chain.pem --uuid "$VM" --host-ca eu/cert.pem \
	--delegate bob/cert.pem --days 1 -o mallory.grant 2>&1 | tap_diag
tap_fails_with "verify refuses another owner's grant" "^Refused: owner: grant .* signed by \"CN=mallory\", but VM $VM is registered to \"CN=alice\"" \
	kt grant verify mallory.grant
tap_fails_with "no order is signed under it" "Error: owner: " \
	kt migrate order --uuid "$VM" --to host-a/chain.pem --grant mallory.grant --key bob/key.pem --cert bob/cert.pem
tap_fails_with "mallory cannot register the VM over alice" "owner: VM $VM is registered to \"CN=alice\"" \
	kt ledger register --vm "$VM" --key mallory/key.pem --cert mallory/cert.pem

tap_ok "host b attests the VM" kt ledger append attest --vm "$VM" --result pass
tap_is "host a (under CA eu): allow, exit 0" "$(status_of check --to host-a/chain.pem)" 0
tap_is "  verdict line" "$(head -1 "$dir/out" | cut -f1,2,4,5)" "allow	$VM	$HOST_A	100"
tap_is "  every rule listed" "$(tail -n +2 "$dir/out" | cut -f1 | tr '\n' ' ')" \
	"grant vm owner grant-revoked delegate host-cert host-ca region host-list window host-compromise trust-score token "
tap_is "another owner's grant: deny by owner" \
	"$(status_of check --to host-a/chain.pem --grant mallory.grant; rule_line owner)" "10
owner	fail	owner"
tap_is "host a1 (under sub-CA eu-sub): allow" "$(status_of check --to host-a1/chain.pem)" 0
tap_is "host b (sibling CA us): deny, exit 10" "$(status_of check --to host-b/chain.pem)" 10
tap_is "  host-ca fails" "$(rule_line host-ca)" "host-ca	fail	host-ca"
tap_is "  region and deny list fail too" "$(rule_line region; rule_line host-list)" \
	"region	fail	region
host-list	fail	deny-list"
tap_is "mallory is not a delegate: deny" \
	"$(status_of kt migrate check --uuid "$VM" --to host-a/chain.pem --grant vm.grant --by mallory/cert.pem --script)" 10
tap_is "  delegate fails, later rules still pass" "$(rule_line delegate; rule_line host-ca)" \
	"delegate	fail	delegate
host-ca	pass	-"
tap_is "--json: deny with the thirteen rules" \
	"$(kt migrate check --uuid "$VM" --to host-b/chain.pem --grant vm.grant --by bob/cert.pem --json |
	   grep -cE '"rule"|"verdict": "deny"')" 14

tap_ok "bob signs an order for host a" \
	kt migrate order --uuid "$VM" --to host-a/chain.pem --grant vm.grant --key bob/key.pem --cert bob/cert.pem -o bob.order
tap_is "the order proves the delegate: allow" \
	"$(status_of kt migrate check --uuid "$VM" --to host-a/chain.pem --grant vm.grant --order bob.order --script; rule_line delegate)" "0
delegate	pass	-"
tap_is "the same order for host a1: deny by delegate" \
	"$(status_of kt migrate check --uuid "$VM" --to host-a1/chain.pem --grant vm.grant --order bob.order --script; rule_line delegate)" "10
delegate	fail	order"

tap_ok "two failed attestations" bash -c "'$KVMTRUST' ledger append attest --vm $VM --result fail &&
	'$KVMTRUST' ledger append attest --vm $VM --result fail"
tap_is "score 60: allow after full verification, exit 11" "$(status_of check --to host-a/chain.pem)" 11
tap_is "  the trust score asks for verification" "$(rule_line trust-score)" "trust-score	verify	-"

# Wrong-window grants, issued with explicit times.
now=$(date +%s)
issue --not-before "@$((now - 7200))" --not-after "@$((now - 3600))" -o expired.grant 2>&1 | tap_diag
issue --not-before "@$((now + 3600))" --days 1 -o future.grant 2>&1 | tap_diag
tap_is "expired grant: deny by window" \
	"$(status_of check --to host-a/chain.pem --grant expired.grant; rule_line window)" "10
window	fail	window"
tap_is "not yet valid grant: deny by window" \
	"$(status_of check --to host-a/chain.pem --grant future.grant; rule_line window)" "10
window	fail	window"

tap_ok "a host flags host a1 compromised" kt ledger append compromise --host "$HOST_A1"
tap_is "compromised host a1: deny" \
	"$(status_of check --to host-a1/chain.pem; rule_line host-compromise)" "10
host-compromise	fail	compromised"

tap_ok "the grant is revoked in the ledger" kt grant revoke vm.grant
tap_fails_with "grant verify sees the revocation" "^Refused: revoked: grant 5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d is revoked" \
	kt grant verify vm.grant
# A mistyped ledger once made an empty ledger there, where the revoked grant verified.
tap_fails_with "a mistyped ledger is refused, by name, not read as empty" \
	"Error: no-ledger: no ledger at 'sqlite:$dir/typo.db'" kt grant verify vm.grant --ledger "sqlite:$dir/typo.db"
tap_is "  and nothing was created there" "$(ls "$dir"/typo.db* 2>/dev/null)" ""
tap_is "revoked grant: deny by grant-revoked" \
	"$(status_of check --to host-a/chain.pem; rule_line grant-revoked)" "10
grant-revoked	fail	revoked"

tap_is "unreadable ledger: error, exit 1, rules still listed" \
	"$(status_of check --to host-a/chain.pem --ledger sqlite:/nonexistent/kt/ledger.db; grep -c "	" "$dir/out"; rule_line grant-revoked)" "1
14
grant-revoked	error	ledger"
tap_is "a mistyped ledger: error, nothing created" \
	"$(status_of check --to host-a/chain.pem --ledger "sqlite:$dir/typo2.db"; ls "$dir"/typo2.db* 2>/dev/null; grep -o "no ledger at '[^']*'" "$dir/err")" "1
no ledger at 'sqlite:$dir/typo2.db'"

# Checkpoints: a check verifies what was appended since the last one.
# One --at for both: the window rule prints the time it judged.
at=@$(date +%s)
tap_is "check from its checkpoint (0600, beside the ledger) decides as --full does" \
	"$(status_of check --to host-a/chain.pem --at "$at"; cat "$dir/out"; stat -c %a "$dir/ledger.db.checkpoint")" \
	"$(status_of check --to host-a/chain.pem --at "$at" --full; cat "$dir/out"; echo 600)"
# Another, validly signed history in the ledger's place, longer than the checkpoint.
rm -f "$dir/ledger.db" "$dir/ledger.db-wal" "$dir/ledger.db-shm"
{ kt ledger init && kt ledger register --vm "$VM" --key alice/key.pem --cert alice/cert.pem &&
  yes "attest --vm $VM --result pass" | head -40 | kt ledger append - --script; } >/dev/null 2>&1
tap_is "a rewritten ledger is refused as a fork; --full takes it whole" \
	"$(status_of check --to host-a/chain.pem; rule_line grant-revoked; rule_line trust-score) $(status_of check --to host-a/chain.pem --full)" "1
grant-revoked	error	fork
trust-score	error	fork 0"

tap_done
