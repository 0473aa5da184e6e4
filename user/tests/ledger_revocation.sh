#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Token revocation through the ledger: host A revokes a token it issued by
# appending a revoke entry; host B, another process that shares only the
# ledger (no revocation file copied), refuses the token in 'token verify'
# and in its handshake. A revocation by a host that did not issue the token
# counts for nothing; a ledger named but unreadable refuses (fail closed).
#
#   root CA ─┬─ host A (issues the token, writes the revocation)
#            └─ host B (verifies, listens)      ledger: sqlite, root is its CA
set -u
cd "$(dirname "$0")/../.."
. scripts/lib/tap.sh

KT=${KVMTRUST_CLI:-$PWD/user/kvmtrust}
HOST_A=0b7e6a3c-5f1d-4c2e-9a8b-1d2c3e4f5a6b
HOST_B=1c8f7b4d-6a2e-4d3f-8b9c-2e3d4f5a6b7c
GUEST=7d4f2b1a-3c5e-4f60-8a9b-0c1d2e3f4a5b
AUD=kvmtrust:test-federation
tap_plan 11
tap_workdir kvmtrust-ledger-revocation
kt() { "$KT" "$@"; }
LED=sqlite:$dir/ledger.db
verify_b() { kt token verify --anchors anchors --crls rev --aud "$AUD" --ledger "$LED" \
	--ledger-ca root/cert.pem "$@"; }

kt ca init -o root --cn "Test Root" >/dev/null &&
kt ca issue host --ca root -o hostA --cn "host a" --host-uuid $HOST_A --region eu-west --site fra1 >/dev/null &&
kt ca issue host --ca root -o hostB --cn "host b" --host-uuid $HOST_B --region eu-west --site ams2 >/dev/null &&
mkdir anchors rev && cp root/cert.pem anchors/root.pem && cp root/crl.pem rev/root.crl
tap_result $? "CA with hosts A and B"
tap_ok "ledger init" kt ledger init --ledger "$LED"
kt token issue --key hostA/key.pem --cert hostA/chain.pem --uuid $GUEST --aud "$AUD" \
	--new-guest-key guest.pem -o token.jwt >/dev/null 2>&1
kt token issue --key hostA/key.pem --cert hostA/chain.pem --uuid $GUEST --aud "$AUD" \
	--new-guest-key guest2.pem -o token2.jwt >/dev/null 2>&1
tap_ok "host B accepts host A's token, the ledger consulted" verify_b token.jwt

tap_ok "host A revokes it in the ledger" kt token revoke --key hostA/key.pem \
	--cert hostA/chain.pem --ledger "$LED" --ledger-ca root/cert.pem token.jwt
tap_fails_with "host B refuses it: revoked by its issuer in the ledger" \
	"revocation.*revoked by its issuer in ledger entry 0" verify_b token.jwt
tap_is "  exit 10" "$(verify_b token.jwt >/dev/null 2>&1; echo $?)" 10
tap_is "  without the ledger named, nothing was copied to B: the token verifies" \
	"$(kt token verify --anchors anchors --crls rev --aud "$AUD" token.jwt >/dev/null 2>&1; echo $?)" 0

# Host B cannot revoke host A's tokens.
tap_ok "host B writes a revoke entry for host A's second token" kt token revoke \
	--key hostB/key.pem --cert hostB/chain.pem --ledger "$LED" --ledger-ca root/cert.pem token2.jwt
tap_ok "  it counts for nothing: the token still verifies" verify_b token2.jwt

tap_fails_with "a ledger named but unreadable refuses the token (fail closed)" \
	"revocation: the revocation ledger cannot be read" \
	kt token verify --anchors anchors --crls rev --aud "$AUD" --ledger "sqlite:$dir/typo.db" \
	--ledger-ca root/cert.pem token2.jwt

# The handshake of host B consults the ledger too.
kt handshake --listen 127.0.0.1:0 --key hostB/key.pem --cert hostB/chain.pem --anchors anchors \
	--crls rev --aud "$AUD" --ledger "$LED" --ledger-ca root/cert.pem --count 1 --script \
	> host.out 2> host.log &
pids+=($!)
for i in $(seq 100); do grep -q '^listening on' host.log 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' host.log)
kt handshake --connect 127.0.0.1:${port:-1} --anchors anchors --crls rev --token token.jwt \
	--guest-key guest.pem >/dev/null 2>&1
wait "${pids[0]}"
cat host.out host.log | sed 's/^/# host B: /'
tap_ok "host B's handshake refuses the revoked token" grep -q revocation host.out
tap_done
