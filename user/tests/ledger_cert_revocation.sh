#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Revocation reaches every host through the ledger (Documentation/ledger.rst,
# "Revocations in the ledger"): hosts are separate processes that share only
# one SQLite ledger; no CRL or revocation list is copied between them after
# the setup.
#
#   host root ─┬─ CA eu ── host a   (the destination: migrate check, handshake)
#              └─ CA us ── host b   (runs the VM, issues its token)
#
# 1. a token revoked by host b is refused by host a's migrate check and by
#    its handshake on the next call;
# 2. host a's certificate revoked by CA eu is refused by migrate check (rule
#    host-cert) and by a guest's handshake; host b's by CA us refuses the
#    tokens it issued (token verify, migrate check's token rule);
# 3. only the issuing CA may revoke: a host, another CA, and a rogue CA
#    with the issuer's name are refused, the last by `ledger verify`;
#    what host b signs after its revocation is listed by `ledger verify` and
#    does not count toward the VM's score;
# 4. a token and a host certificate revoked in a ledger on a 3-member etcd
#    cluster are refused the same way (skipped without etcd).
set -u
cd "$(dirname "$0")/../.."
. scripts/lib/tap.sh
. scripts/lib/grant-tree.sh
. scripts/lib/etcd-cluster.sh

KT=${KVMTRUST_CLI:-$PWD/user/kvmtrust}
VM=7d4f2b1a-3c5e-4f60-8a9b-0c1d2e3f4a5b
AUD=kvmtrust:test-federation
N=39
tap_plan $N
tap_workdir kvmtrust-ledger-cert-revocation
grant_tree_env "$dir"
LED=$KVMTRUST_LEDGER

kt() { "$KT" "$@"; }
status_of() { "$@" >"$dir/out" 2>"$dir/err"; echo $?; }
rule_line() { grep -P "^$1\t" "$dir/out" | cut -f1-3; }
# Host a's view: a process of its own with the shared ledger and its own
# copies of the anchors and CRLs, taken before any revocation.
check_a() { kt migrate check --uuid "$VM" --grant vm.grant --by bob/cert.pem \
	--host-anchors a-anchors --script "$@"; }
verify_a() { kt token verify --anchors a-anchors --crls a-anchors --aud "$AUD" \
	--ledger "$LED" "$@"; }

if ! command -v openssl >/dev/null || ! grant_tree "$dir" >setup.log 2>&1; then
	tap_diag <setup.log
	for i in $(seq $N); do tap_skip "certificate revocation $i" "cannot build a CA tree"; done
	exit 0
fi
cp -r host-anchors a-anchors

kt ledger init >/dev/null &&
kt grant issue --key alice/key.pem --cert alice/chain.pem --uuid "$VM" --host-ca eu/cert.pem \
	--delegate bob/cert.pem --days 30 -o vm.grant >/dev/null &&
kt ledger register --vm "$VM" --key alice/key.pem --cert alice/cert.pem >/dev/null &&
kt ledger append attest --vm "$VM" --result pass >/dev/null &&
kt token issue --key host-b/key.pem --cert host-b/chain.pem --uuid "$VM" --aud "$AUD" \
	--new-guest-key guest.pem -o token.jwt >/dev/null 2>&1 &&
kt token issue --key host-b/key.pem --cert host-b/chain.pem --uuid "$VM" --aud "$AUD" \
	--new-guest-key guest2.pem -o token2.jwt >/dev/null 2>&1
tap_result $? "setup: grant, owner, attestation, two tokens from host b"

tap_is "host a allows the move, the token checked" "$(status_of check_a --to host-a/chain.pem \
	--token token.jwt)" 0
tap_is "  rule token passes" "$(rule_line token)" "token	pass	-"

# --- 1. a token revoked by its issuing host ----------------------------------

tap_ok "host b revokes its token in the ledger" kt token revoke --key host-b/key.pem \
	--cert host-b/chain.pem --ledger "$LED" token.jwt
tap_is "host a's migrate check denies on the next call" \
	"$(status_of check_a --to host-a/chain.pem --token token.jwt)" 10
tap_is "  by rule token, check revocation" "$(rule_line token)" "token	fail	revocation"
tap_is "  the other token still passes" \
	"$(status_of check_a --to host-a/chain.pem --token token2.jwt; rule_line token)" "0
token	pass	-"

# handshake_a CERT-DIR FILE-OUT [CONNECT-OPTIONS...]: host a listens with the
# ledger; one guest connects with token.jwt unless options say otherwise.
handshake_a() {
	local out=$1 port i; shift
	kt handshake --listen 127.0.0.1:0 --key host-a/key.pem --cert host-a/chain.pem \
		--anchors a-anchors --crls a-anchors --aud "$AUD" --ledger "$LED" --count 1 \
		--script >"$out.host" 2>"$out.log" &
	pids+=($!)
	for i in $(seq 100); do grep -q '^listening on' "$out.log" 2>/dev/null && break; sleep 0.1; done
	port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$out.log")
	kt handshake --connect "127.0.0.1:${port:-1}" --anchors a-anchors --crls a-anchors \
		--script "$@" >"$out.guest" 2>&1
	echo $? >"$out.rc"
	wait "${pids[-1]}"
	sed 's/^/# /' "$out.host" "$out.guest"
}
handshake_a hs1 --token token.jwt --guest-key guest.pem
tap_ok "host a's handshake refuses the revoked token (revocation)" \
	grep -qP '^refused\trevocation\t.*revoked by its issuer' hs1.host
handshake_a hs2 --token token2.jwt --guest-key guest2.pem
tap_ok "  and accepts the other" grep -q '^verified' hs2.host

# --- 2. host certificates revoked by their CA --------------------------------

tap_fails_with "host b cannot revoke host a's certificate (authorization)" \
	"authorization: \"CN=host-b\" is a host certificate: only a CA revokes" \
	kt ca revoke --ca host-b --ledger "$LED" host-a/cert.pem
tap_fails_with "CA us cannot revoke what CA eu issued (authorization)" \
	"authorization: only the issuing CA may revoke a certificate" \
	kt ca revoke --ca us --ledger "$LED" host-a/cert.pem
tap_is "--ledger-ca without --ledger is a usage error" \
	"$(status_of kt ca revoke --ca eu --ledger-ca ledger-ca host-a/cert.pem)" 2
tap_is "  neither wrote anything: host a still allowed" \
	"$(status_of check_a --to host-a/chain.pem --token token2.jwt)" 0

tap_ok "CA eu revokes host a's certificate in the ledger" \
	kt ca revoke --ca eu --reason keyCompromise --ledger "$LED" host-a/cert.pem
tap_is "migrate check to host a denies" "$(status_of check_a --to host-a/chain.pem \
	--token token2.jwt)" 10
tap_is "  by rule host-cert, check revocation" "$(rule_line host-cert)" \
	"host-cert	fail	revocation"
tap_ok "  naming the certificate and the entry" \
	grep -q 'certificate "CN=host-a" (serial .*) was revoked by its CA in ledger entry' out
tap_ok "  the checkpoint now covers it: the next check reads it from there" \
	test "$(status_of check_a --to host-a/chain.pem --token token2.jwt; rule_line host-cert)" = "10
host-cert	fail	revocation" -a -s "${LED#sqlite:}.checkpoint"
tap_is "  a1 (another CA below eu) is unaffected" \
	"$(status_of check_a --to host-a1/chain.pem --token token2.jwt; rule_line host-cert)" "0
host-cert	pass	-"
handshake_a hs3 --token token2.jwt --guest-key guest2.pem --ledger "$LED"
tap_ok "a guest naming the ledger refuses host a in the handshake (revocation)" \
	grep -qP '^refused\trevocation\t.*host.s certificate "CN=host-a"' hs3.guest
tap_is "  exit 10" "$(cat hs3.rc)" 10
handshake_a hs4 --token token2.jwt --guest-key guest2.pem
tap_ok "  without the ledger nothing was copied: the guest accepts it" grep -q '^verified' hs4.guest

tap_ok "CA us revokes host b's certificate" kt ca revoke --ca us --ledger "$LED" host-b/cert.pem
tap_fails_with "token verify on host a refuses host b's tokens (revocation)" \
	"revocation: the token's issuing host or CA certificate \"CN=host-b\"" verify_a token2.jwt
tap_is "migrate check to host a1 denies by rule token, check revocation" \
	"$(status_of check_a --to host-a1/chain.pem --token token2.jwt; rule_line token)" "10
token	fail	revocation"

score_of() { kt score show --vm "$VM" --full --script | head -1 | cut -f1,2; }
before=$(score_of)
revoked_at=$(($(kt ledger head --script | cut -f1) - 1))
tap_ok "host b (revoked) still appends a failed attestation of the VM" \
	kt ledger append attest --vm "$VM" --result fail
at=$(($(kt ledger head --script | cut -f1) - 1))
tap_ok "ledger verify lists it as signed by a revoked certificate, not counted" \
	grep -q "^entry $at: signed by a revoked certificate (cert:.*), revoked in entry $revoked_at: not counted$" \
	<(kt ledger verify)
tap_is "  the VM's score does not move (score, decision)" "$(score_of)" "$before"
tap_is "host b's batch is refused (exit 10, check revocation)" \
	"$(echo "$VM pass" | status_of kt ledger batch; grep -c '^Error: revocation: the signing certificate (cert:.*) was revoked in entry' "$dir/err")" "10
1"

# --- 3. the authority is checked when the log is verified ---------------------

tap_ok "the ledger verifies with the revocations in it" kt ledger verify
# A rogue CA with CA eu's name (the same DER name, so the same issuer hash),
# trusted only by its own writer's configuration (the ledger CA plus itself).
kt ca init -o rogue-eu --cn eu >/dev/null && mkdir both && cp ledger-ca/* rogue-eu/cert.pem both/ &&
kt ca revoke --ca rogue-eu --ledger "$LED" --ledger-ca both eu-sub/cert.pem 2>&1 |
	grep -q "revoked cert:.* in ledger entry"
tap_result $? "a rogue 'CN=eu' appends a revocation of CA eu's sub-CA under its own configuration"
size=$(kt ledger head --script | cut -f1)
tap_is "ledger verify refuses it by name (authorization, the entry)" \
	"$(kt ledger verify --script 2>/dev/null | cut -f1,3,4)" "false	$((size - 1))	authorization"
tap_is "  (the only difference)" "$(kt ledger verify --ledger-ca both --script | head -1 | cut -f1)" true
tap_is "  and a migrate check errs rather than reads it" \
	"$(status_of check_a --to host-a1/chain.pem --full; rule_line grant-revoked)" "1
grant-revoked	error	authorization"

# --- 4. the same through a 3-member etcd cluster ------------------------------

if ! command -v etcd >/dev/null || ! command -v curl >/dev/null; then
	for i in 1 2 3 4 5; do tap_skip "etcd $i" "etcd not installed (scripts/setup installs etcd-server)"; done
	tap_done
	exit
fi
trap 'etcd_cluster_stop; tap_workdir_cleanup' EXIT
mkdir -p "$dir/etcd" && etcd_cluster_start "$dir/etcd" >/dev/null 2>&1 || tap_diag <"$dir/etcd/m1.log"
LED="etcd:$ETCD_ENDPOINTS?prefix=revocation/ledger"
export KVMTRUST_STATE_DIR=$dir/state
mkdir -p "$KVMTRUST_STATE_DIR"
for t in 3 4; do
	kt token issue --key host-b/key.pem --cert host-b/chain.pem --uuid "$VM" --aud "$AUD" \
		--new-guest-key guest$t.pem -o token$t.jwt >/dev/null 2>&1
done
kt ledger init --ledger "$LED" >/dev/null &&
kt token revoke --key host-b/key.pem --cert host-b/chain.pem --ledger "$LED" token3.jwt >/dev/null
tap_result $? "etcd: host b revokes a token in a ledger on the cluster"
handshake_a hs5 --token token3.jwt --guest-key guest3.pem
tap_ok "  host a's handshake refuses it (revocation)" \
	grep -qP '^refused\trevocation\t.*revoked by its issuer' hs5.host
tap_ok "etcd: CA eu revokes host a's certificate (its own list has it already)" \
	kt ca revoke --ca eu --ledger "$LED" host-a/cert.pem
tap_is "  host a1's migrate check of a move to host a denies (host-cert, revocation)" \
	"$(status_of check_a --ledger "$LED" --to host-a/chain.pem; rule_line host-cert)" "10
host-cert	fail	revocation"
handshake_a hs6 --token token4.jwt --guest-key guest4.pem --ledger "$LED"
tap_ok "  a guest naming the ledger refuses host a (revocation)" \
	grep -qP '^refused\trevocation\t.*host.s certificate "CN=host-a"' hs6.guest
tap_done
