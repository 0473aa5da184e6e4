#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A certificate vouches for signatures only if its keyUsage has
# digitalSignature (pki.h, kt_pki_verify's "key-usage" check). Each signed
# object is made twice, by a signing certificate and by one certified for
# keyAgreement only; the first is accepted, the second refused by name.
#
#   owner root ─┬─ alice, bob            (digitalSignature)
#               └─ ka-owner              (keyAgreement only)
#   host root ─┬─ CA eu ─┬─ host a       (digitalSignature)
#              │         └─ ka-host      (keyAgreement only)
#              └─ CA us ── host b
#
#   token    token issue --cred H        -> token verify
#   report   attest, software key, cert H -> verify --ca
#   ledger   ledger append --key/--cert H, ledger register --cert O
#            (the ledger checks its writers, hosts and VM owners)
#   grant    grant issue --owner O       -> grant verify
#   order    migrate order --cert O      -> migrate check --order
#
# The tree is made with the openssl command (scripts/lib/grant-tree.sh).
set -u
cd "$(dirname "$0")/../.."
. scripts/lib/tap.sh
. scripts/lib/grant-tree.sh

KVMTRUST=$PWD/user/kvmtrust
VM=7d4f2b1a-3c5e-4f60-8a9b-0c1d2e3f4a5b
VM2=8e5a3c2b-4d6f-4a71-9bac-1d2e3f4a5b6c
HOST_KA=3e0b9d6f-8c4a-4f5b-8dbe-4a5b6c7d8e9f
AUD=kvmtrust:signer-test

dir=$(mktemp -d /tmp/kt-signer-sh.XXXXXX)
cleanup() { rm -rf "$dir"; }
trap cleanup EXIT
cd "$dir"

export KVMTRUST_OWNER_ANCHORS=$dir/owner-anchors
export KVMTRUST_HOST_ANCHORS=$dir/host-anchors
export KVMTRUST_LEDGER=sqlite:$dir/ledger.db
export KVMTRUST_LEDGER_CA=$dir/ledger-ca

kt() { echo "# kvmtrust $*" >&2; "$KVMTRUST" "$@"; }
# The script-form line of one rule of migrate check: "rule outcome check".
rule_line() { grep -P "^$1\t" "$dir/out" | cut -f1-3; }

tap_plan 13

if ! command -v openssl >/dev/null || ! grant_tree "$dir" >setup.log 2>&1 ||
   ! LEAF_USAGE=keyAgreement make_cert ka-host eu host "$HOST_KA" eu-west fra3 >>setup.log 2>&1 ||
   ! LEAF_USAGE=keyAgreement make_cert ka-owner owner-root user >>setup.log 2>&1; then
	tap_diag <setup.log
	for i in $(seq 13); do tap_skip "signer $i" "cannot build a CA tree with openssl"; done
	exit 0
fi

# --- what kvmtrust's own CA writes ------------------------------------------------
kt ca init -o kroot --cn "K Root" >/dev/null
kt ca issue host --ca kroot -o khost --cn khost --host-uuid "$HOST_KA" --region r --site s >/dev/null
tap_is "ca issue host certifies the key for signing (keyUsage critical, digitalSignature)" \
	"$(openssl x509 -in khost/cert.pem -noout -ext keyUsage | tr -d ' ' | tr '\n' ' ')" \
	"X509v3KeyUsage:critical DigitalSignature "

# --- tokens ---------------------------------------------------------------------------
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null |
	openssl pkey -pubout >guest.pub
for h in host-a ka-host; do
	kt token issue --key $h/key.pem --cert $h/chain.pem --uuid $VM --aud $AUD --guest-pubkey guest.pub -o $h.tok 2>/dev/null
done
token_verify() { kt token verify --anchors host-anchors --crls host-anchors --aud $AUD "$@"; }
tap_ok "a token signed by host a verifies" token_verify host-a.tok
tap_fails_with "a token signed by a keyAgreement-only host certificate is refused (key-usage)" \
	"Refused: key-usage: certificate 'CN=ka-host' is not certified for signing" \
	token_verify ka-host.tok

# --- reports ----------------------------------------------------------------------------
printf '{"memory_root":"%s","vcpu_root":"%s","pages":1,"seq":1}\n' \
	"$(printf 'a%.0s' $(seq 64))" "$(printf 'b%.0s' $(seq 64))" >m.json
# report H UUID: a report signed by a software host key that eu certifies as H's profile.
report() {
	KVMTRUST_KEY_DIR=hk-$1 kt tpm init --software --host-id "$2" >/dev/null 2>&1 &&
	openssl x509 -req -in hk-$1/host.csr -CA eu/cert.pem -CAkey eu/key.pem -days 30 \
		-set_serial "0x$(openssl rand -hex 15)" -extfile $1/ext.cnf -extensions ext \
		-out hk-$1/leaf.pem 2>/dev/null &&
	cat hk-$1/leaf.pem eu/chain.pem >hk-$1/cert.pem &&
	KVMTRUST_KEY_DIR=hk-$1 kt attest --measurement m.json --uuid $VM -o $1.jwt
}
report host-a "$HOST_A"
report ka-host "$HOST_KA"
tap_ok "a report signed under host a's certificate verifies" \
	kt verify host-a.jwt --anchors host-anchors --crls host-anchors
tap_fails_with "a report signed under a keyAgreement-only certificate is refused (key-usage)" \
	"Refused: key-usage: certificate 'CN=$HOST_KA' is not certified for signing" \
	kt verify ka-host.jwt --anchors host-anchors --crls host-anchors

# --- ledger entries ----------------------------------------------------------------------
kt ledger init >/dev/null
tap_ok "host b appends to the ledger" \
	kt ledger append attest --vm $VM --result pass --key host-b/key.pem --cert host-b/cert.pem
tap_fails_with "a keyAgreement-only host is refused as a writer (authorization, key-usage)" \
	"authorization: certificate not trusted by the ledger CA: key-usage: certificate 'CN=ka-host'" \
	kt ledger append attest --vm $VM --result pass --key ka-host/key.pem --cert ka-host/cert.pem
tap_ok "alice registers the VM as its owner" \
	kt ledger register --vm $VM --key alice/key.pem --cert alice/cert.pem
tap_fails_with "a keyAgreement-only owner cannot register one (authorization, key-usage)" \
	"authorization: certificate not trusted by the owner anchors: key-usage: certificate 'CN=ka-owner'" \
	kt ledger register --vm $VM2 --key ka-owner/key.pem --cert ka-owner/cert.pem

# --- grants -----------------------------------------------------------------------------------
for o in alice ka-owner; do
	kt grant issue --key $o/key.pem --cert $o/chain.pem --uuid $VM --host-ca eu/cert.pem --delegate bob/cert.pem \
		--delegate ka-owner/cert.pem --days 1 -o $o.grant 2>/dev/null
done
tap_ok "alice's grant verifies" kt grant verify alice.grant
tap_fails_with "a grant signed by a keyAgreement-only owner certificate is refused (key-usage)" \
	"Refused: key-usage: .*certificate 'CN=ka-owner' is not certified for signing" \
	kt grant verify ka-owner.grant

# --- migration orders (the grant pins the delegate; no chain) --------------------------------
for o in bob ka-owner; do
	kt migrate order --uuid $VM --to host-a/chain.pem --grant alice.grant --key $o/key.pem \
		--cert $o/cert.pem -o $o.order
done
order_check() {
	kt migrate check --uuid $VM --to host-a/chain.pem --grant alice.grant --order "$1" \
		--script >"$dir/out" 2>/dev/null
	rule_line delegate | cut -f1-"$2"
}
tap_is "bob's order proves him a delegate" "$(order_check bob.order 2)" "$(printf 'delegate\tpass')"
tap_is "an order signed by a keyAgreement-only certificate is refused (key-usage)" \
	"$(order_check ka-owner.order 3)" "$(printf 'delegate\tfail\tkey-usage')"

tap_done
