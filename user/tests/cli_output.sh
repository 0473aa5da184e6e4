#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# One output vocabulary (Documentation/cli.rst), checked across groups:
#
#   every time printed    ISO 8601 UTC, "2026-11-23T04:00:00Z"
#   every time accepted   that, @SECONDS, now, now+N[smhd]; nothing else
#   every DN printed      RFC 4514 ("CN=host a,O=Example", leaf RDN first)
#   every verdict         the one JSON key "verdict"
#   --json with --script  a usage error (2), in every group that prints
set -u
cd "$(dirname "$0")/../.."
. scripts/lib/tap.sh
. scripts/lib/grant-tree.sh

KT=$PWD/user/kvmtrust
GUEST=7d4f2b1a-3c5e-4f60-8a9b-0c1d2e3f4a5b
AUD=kvmtrust:output
ISO='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'

tap_workdir kt-cli-output

# jget KEY...: members of the JSON object on stdin, one a line.
jget() { python3 -c 'import json,sys; d=json.load(sys.stdin); [print(d[k]) for k in sys.argv[1:]]' "$@"; }
status_of() { "$@" >"$dir/out" 2>"$dir/err"; echo $?; }

tap_plan 24

export KVMTRUST_KEY_DIR=$dir/hostkey
{
	"$KT" ca init -o root --cn "Output Root" &&
	"$KT" ca issue host --ca root -o hosta --cn "host a" --host-uuid "$HOST_A" \
		--region eu-west --site fra1 &&
	"$KT" ca init -o rogue --cn "Rogue Root" &&
	mkdir anchors crls && cp root/cert.pem anchors/ && cp root/crl.pem crls/root.crl &&
	"$KT" token issue --key hosta/key.pem --cert hosta/chain.pem --uuid "$GUEST" --aud "$AUD" \
		--new-guest-key guest.pem -o token.jwt &&
	"$KT" tpm init --software --host-id host-a &&
	openssl req -new -key hostkey/key.pem -subj "/O=Example/CN=host a" -out host.csr &&
	openssl x509 -req -in host.csr -CA root/cert.pem -CAkey root/key.pem -days 1 \
		-set_serial 7 -out hostkey/cert.pem &&
	printf '{"memory_root":"%s","vcpu_root":"%s","pages":1,"seq":1}\n' \
		"$(printf 'a%.0s' $(seq 64))" "$(printf 'b%.0s' $(seq 64))" >m.json &&
	"$KT" attest --uuid "$GUEST" --measurement m.json -o r.jwt &&
	mkdir tree && (cd tree && grant_tree "$dir/tree") &&
	"$KT" grant issue --key tree/alice/key.pem --cert tree/alice/chain.pem --uuid "$GUEST" \
		--host-ca tree/eu/cert.pem --delegate tree/bob/cert.pem --days 1 -o vm.grant
} >setup.log 2>&1 || { tap_diag <setup.log; echo "Bail out! fixtures"; exit 1; }
export KVMTRUST_OWNER_ANCHORS=$dir/tree/owner-anchors KVMTRUST_HOST_ANCHORS=$dir/tree/host-anchors
export KVMTRUST_LEDGER=sqlite:$dir/ledger.db KVMTRUST_LEDGER_CA=$dir/tree/ledger-ca
{ "$KT" ledger init &&
  "$KT" ledger register --vm "$GUEST" --key tree/alice/key.pem --cert tree/alice/cert.pem
} >ledger.log 2>&1 || { tap_diag <ledger.log; echo "Bail out! ledger"; exit 1; }

# --- times printed -------------------------------------------------------------
# isos: how many lines on stdin are ISO 8601 UTC times (all must be).
isos() { grep -cE "$ISO"; }
tap_is "ca show --json: not_before, not_after" \
	"$("$KT" ca show --json hosta | python3 -c 'import json,sys; c=json.load(sys.stdin)[0]
print(c["not_before"]); print(c["not_after"])' | isos)" 2
tap_is "token show --json: iat, nbf, exp" "$("$KT" token show --json token.jwt | jget iat nbf exp | isos)" 3
tap_is "grant show --json: iat, nbf, exp" "$("$KT" grant show --json vm.grant | jget iat nbf exp | isos)" 3
tap_is "grant show --script: iat, nbf, exp (columns 4-6)" \
	"$("$KT" grant show --script vm.grant | head -1 | cut -f4-6 | tr '\t' '\n' | isos)" 3
tap_is "verify --json: iat" \
	"$("$KT" verify r.jwt --pubkey hostkey/public.pem --json | jget iat | isos)" 1
tap_ok "token issue says until when in ISO 8601" \
	bash -c "'$KT' token issue --key hosta/key.pem --cert hosta/chain.pem --uuid $GUEST --aud x \
		--guest-pubkey <(openssl pkey -in guest.pem -pubout) -o t2.jwt 2>&1 |
		grep -qE 'valid until [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$'"
"$KT" grant issue --key tree/alice/key.pem --cert tree/alice/chain.pem --uuid "$GUEST" \
	--host-ca tree/eu/cert.pem --delegate tree/bob/cert.pem --not-before @1000000000 \
	--not-after @1000003600 -o old.grant 2>/dev/null
tap_fails_with "a refusal names its times in ISO 8601" \
	"^Refused: window: grant expired at 2001-09-09T02:46:40Z" "$KT" grant verify old.grant

# --- times accepted ------------------------------------------------------------
tap_is "--at takes ISO 8601, @SECONDS, now and now+1h alike" \
	"$(for t in 2030-01-01T00:00:00Z @1900000000 now now+1h; do
		"$KT" ca verify --anchors anchors --crls crls --at "$t" hosta >/dev/null 2>&1; echo -n "$? "; done)" \
	"10 10 0 0 "
tap_is "a local time is refused (2)" \
	"$(status_of "$KT" grant verify --at "2026-01-01 00:00:00" vm.grant)" 2
tap_is "a time without its Z is refused (2)" \
	"$(status_of "$KT" ca verify --anchors anchors --crls crls --at 2026-01-01T00:00:00 hosta)" 2

# --- DNs -------------------------------------------------------------------------
tap_is "ca show: the subject in RFC 4514 form" \
	"$("$KT" ca show --script hostkey/cert.pem | cut -f2)" "CN=host a,O=Example"
tap_is "tpm show: the same subject, the same form" \
	"$("$KT" tpm show --json | jget certificate)" "CN=host a,O=Example"
tap_is "grant show: the issuer in the same form" \
	"$("$KT" grant show --json vm.grant | jget issuer)" "CN=alice"

# --- the verdict key ----------------------------------------------------------
tap_is "verify: verdict verified, the VM as \"vm\"" \
	"$("$KT" verify r.jwt --pubkey hostkey/public.pem --json | jget verdict vm)" "verified
$GUEST"
tap_is "verify refused: verdict refused and the check" \
	"$("$KT" verify r.jwt --pubkey hostkey/public.pem --nonce n --json 2>/dev/null | jget verdict check)" \
	"refused
nonce"
tap_is "ca verify: verdict" \
	"$("$KT" ca verify --anchors anchors --crls crls --json hosta | jget verdict)" verified
tap_is "ca verify refused: verdict" \
	"$("$KT" ca verify --anchors anchors --crls crls --json rogue 2>/dev/null | jget verdict)" refused
tap_is "token verify: verdict" \
	"$("$KT" token verify --anchors anchors --crls crls --aud "$AUD" --json token.jwt | jget verdict)" \
	verified
tap_is "grant verify: verdict" "$("$KT" grant verify --json vm.grant | jget verdict)" verified
tap_is "grant verify refused: verdict and check" \
	"$("$KT" grant verify --json old.grant 2>/dev/null | jget verdict check)" "refused
window"
tap_is "migrate check: verdict deny (no trust score)" \
	"$("$KT" migrate check \
		--uuid "$GUEST" --to tree/host-a/chain.pem --grant vm.grant --by tree/bob/cert.pem \
		--json | jget verdict)" deny

# --- --json with --script ---------------------------------------------------------
js() { "$KT" "$@" >/dev/null 2>&1; echo -n "$? "; }
codes=$(js info --json --script; js vm list --json --script;
	js measure --uuid "$GUEST" --json --script; js tpm show --json --script;
	js verify r.jwt --pubkey hostkey/public.pem --json --script; js config measure m.json --json --script;
	js ca show --json --script hosta; js token show --json --script token.jwt;
	js grant show vm.grant --json --script; js handshake --connect 127.0.0.1:1 --json --script;
	js migrate check --uuid "$GUEST" --to x --grant x --by x --json --script;
	js ledger --json --script head; js score --json --script show "$GUEST")
tap_is "--json --script is a usage error in every group" "$codes" "2 2 2 2 2 2 2 2 2 2 2 2 2 "
tap_ok "  and says so" bash -c "'$KT' grant show --json --script vm.grant 2>&1 |
	grep -q -- '--json and --script exclude each other'"
tap_is "--script --json too" "$(status_of "$KT" ca show --script --json hosta)" 2

tap_done
