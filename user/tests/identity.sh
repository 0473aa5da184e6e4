#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# End-to-end test of the identity commands: kvmtrust ca, token, handshake.
#
#   root CA (pathlen 1) ─┬─ eu CA (pathlen 0, DNS .eu.example.test)
#                        │    ├─ host A  (issues the guest's token)
#                        │    └─ host B  (the destination: handshake --listen)
#                        └─ (sub CA under eu: refused, pathlen)
#   rogue root ── host R  (not a trust anchor)
#
#   guest (handshake --connect) ──TCP 127.0.0.1──> [identity_mitm.py] ──> host B
#
# The MITM records, replays and alters handshake frames.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib/tap.sh
. scripts/lib/swtpm.sh

KT=${KVMTRUST_CLI:-$PWD/user/kvmtrust}
MITM=$PWD/user/tests/identity_mitm.py
HOST_A=0b7e6a3c-5f1d-4c2e-9a8b-1d2c3e4f5a6b
HOST_B=1c8f7b4d-6a2e-4d3f-8b9c-2e3d4f5a6b7c
GUEST=7d4f2b1a-3c5e-4f60-8a9b-0c1d2e3f4a5b
AUD=kvmtrust:test-federation

dir=$(mktemp -d /tmp/kt-identity-sh.XXXXXX)
pids=()
cleanup() {
	local p
	swtpm_stop
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
cd "$dir"

kt() { echo "# kvmtrust $*" >&2; "$KT" "$@"; }
json_get() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval("d"+sys.argv[1]))' "$1"; }
verify() { "$KT" token verify --anchors anchors --crls rev --aud "$AUD" "$@"; }
publish_crls() { cp root/crl.pem rev/root.crl; cp eu/crl.pem rev/eu.crl; }

# Waits for "listening on ADDR:PORT" in $1 and prints PORT.
wait_port() {
	local i
	for i in $(seq 100); do
		if grep -q '^listening on' "$1" 2>/dev/null; then
			sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$1"
			return 0
		fi
		sleep 0.1
	done
	return 1
}

wait_file() {
	local i
	for i in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.1; done
	return 1
}

tap_plan 32

# --- the CA tree ---
tap_ok "ca init root" kt ca init -o root --cn "Test Root" --pathlen 1
tap_ok "ca issue intermediate" kt ca issue ca --ca root -o eu --cn "EU CA" --pathlen 0 \
	--permit-dns .eu.example.test
tap_ok "ca issue host A" kt ca issue host --ca eu -o hostA --cn "host a" --host-uuid $HOST_A \
	--region eu-west --site fra1 --dns a.eu.example.test
kt ca issue host --ca eu -o hostB --cn "host b" --host-uuid $HOST_B --region eu-west --site ams2 \
	--dns b.eu.example.test >/dev/null
kt ca init -o rogue --cn "Rogue Root" >/dev/null
kt ca issue host --ca rogue -o hostR --cn "host r" --host-uuid $HOST_A --region eu-west \
	--site fra1 >/dev/null
mkdir anchors rev
cp root/cert.pem anchors/root.pem
publish_crls
tap_is "host certificate carries region and UUID" \
	"$(kt ca show --json hostA | json_get '[0]["region"],d[0]["host_uuid"]')" "('eu-west', '$HOST_A')"
tap_ok "ca verify host B" kt ca verify --anchors anchors --crls rev --kind host hostB
kt ca issue host --ca eu -o hostUS --cn "host us" --host-uuid $HOST_A --region us-east \
	--site iad1 --dns a.us.example.test >/dev/null
tap_fails_with "name constraints refuse a host outside the CA's names" "name-constraints" \
	kt ca verify --anchors anchors --crls rev hostUS
kt ca issue ca --ca eu -o sub --cn "Sub CA" >/dev/null
kt ca issue host --ca sub -o hostS --cn "host s" --host-uuid $HOST_A --region eu-west \
	--site fra1 >/dev/null
cp sub/crl.pem rev/sub.crl
tap_fails_with "path length refuses a CA below a pathlen 0 CA" "pathlen" \
	kt ca verify --anchors anchors --crls rev hostS

# --- tokens: issue -> verify -> revoke -> verify fails ---
kt token keyfile -o guest.key
tap_ok "token issue into an encrypted keystore" kt token issue --key hostA/key.pem --cert hostA/chain.pem --uuid $GUEST \
	--aud "$AUD" --new-guest-key guest.pem -o token.jwt --keystore guest.ks --keyfile guest.key
tap_ok "token verify" verify token.jwt
tap_is "verified claims" "$(verify --json token.jwt | json_get '["sub"],d["host"],d["verdict"]')" \
	"('$GUEST', '$HOST_A', 'verified')"
tap_fails_with "wrong audience" "^Refused: audience" \
	kt token verify --anchors anchors --crls rev --aud other token.jwt
sed 's/\(.*\)\..\{10\}\(.*\)/\1.AAAAAAAAAA\2/' token.jwt > forged.jwt
tap_fails_with "forged signature" "^Refused: signature" verify forged.jwt
python3 - token.jwt > none.jwt <<'PY'
import base64, json, sys
h, p, s = open(sys.argv[1]).read().strip().split(".")
hdr = json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4)))
hdr["alg"] = "none"
print(base64.urlsafe_b64encode(json.dumps(hdr).encode()).decode().rstrip("=") + "." + p + ".")
PY
tap_fails_with "alg none" "^Refused: algorithm" verify none.jwt
head -c 70000 /dev/zero | tr '\0' 'A' > big.jwt
tap_fails_with "oversized token" "^Refused: structure" verify big.jwt
kt token issue --key hostA/key.pem --cert hostA/chain.pem --uuid $GUEST --aud "$AUD" --guest-pubkey <(openssl pkey -in guest.pem -pubout) \
	--not-before now-2h --lifetime 3600 -o expired.jwt 2>/dev/null
tap_fails_with "expired token" "^Refused: time" verify expired.jwt
kt token issue --key hostR/key.pem --cert hostR/chain.pem --uuid $GUEST --aud "$AUD" --new-guest-key rogue-guest.pem \
	-o rogue.jwt 2>/dev/null
tap_fails_with "token from an unknown root" "^Refused: chain" verify rogue.jwt

# --- the handshake: guest -> host B, through a man in the middle ---
head -c 300000 /dev/urandom > payload.bin
kt handshake --listen 127.0.0.1:0 --key hostB/key.pem --cert hostB/chain.pem --anchors anchors --crls rev --aud "$AUD" \
	--count 4 --json > host.json 2> host.log &
pids+=($!)
port=$(wait_port host.log)
tap_ok "host B listens" test -n "$port"

python3 "$MITM" relay mitm1.port 127.0.0.1:$port session.rec & pids+=($!)
wait_file mitm1.port
tap_ok "handshake succeeds and the channel echoes 300 kB" kt handshake \
	--connect 127.0.0.1:$(cat mitm1.port) --anchors anchors --crls rev --keystore guest.ks \
	--keyfile guest.key --expect-host $HOST_B --send payload.bin --json
wait_file session.rec
tap_is "a replayed handshake is refused" "$(python3 "$MITM" replay session.rec 127.0.0.1:$port)" \
	"replay"

python3 "$MITM" relay mitm2.port 127.0.0.1:$port swapped.rec --swap-eph & pids+=($!)
wait_file mitm2.port
tap_fails_with "a substituted ephemeral key breaks the host signature" "host-signature" \
	kt handshake --connect 127.0.0.1:$(cat mitm2.port) --anchors anchors --crls rev \
	--keystore guest.ks --keyfile guest.key
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out wrong.pem 2>/dev/null
chmod 600 wrong.pem
tap_fails_with "a substituted guest key is refused by the host" "guest-signature" \
	kt handshake --connect 127.0.0.1:$port --anchors anchors --crls rev \
	--token token.jwt --guest-key wrong.pem
wait "${pids[0]}"
tap_is "host B received the payload" "$(json_get '[0]["sha256"]' < host.json)" \
	"$(sha256sum payload.bin | cut -d' ' -f1)"
tap_is "host B named every refusal" "$(json_get '[1]["check"],d[2]["check"],d[3]["check"]' < host.json)" \
	"('replay', 'truncated', 'guest-signature')"

chmod 644 guest.ks
tap_fails_with "a world-readable keystore is refused" "permissions" \
	kt handshake --connect 127.0.0.1:$port --anchors anchors --keystore guest.ks --keyfile guest.key
chmod 600 guest.ks

swtpm_start "$dir/tpm"; rc=$?
if [ "$rc" -eq 1 ]; then
	cat "$dir"/tpm*.log 2>/dev/null | tap_diag
	tap_result 1 "swtpm starts (installed, but would not start in $SWTPM_TRIES tries)"
	tap_skip "token show opens it with the TPM" "swtpm did not start"
	tap_skip "no transient object is left loaded after sealing and unsealing" \
		"swtpm did not start"
elif [ "$rc" -eq 0 ]; then
	TCTI=$SWTPM_TCTI
	tap_ok "token store into a keystore sealed to the TPM" kt token store --keystore tpm.ks \
		--tpm "$TCTI" --token token.jwt --guest-key guest.pem
	tap_is "token show opens it with the TPM" \
		"$(kt token show --json --keystore tpm.ks --tpm "$TCTI" | json_get '["sub"]')" "$GUEST"
	tap_is "no transient object is left loaded after sealing and unsealing" \
		"$(TPM2TOOLS_TCTI=$TCTI tpm2_getcap handles-transient 2>&1)" ""
else
	tap_skip "token store into a keystore sealed to the TPM" "swtpm is not installed"
	tap_skip "token show opens it with the TPM" "swtpm is not installed"
	tap_skip "no transient object is left loaded after sealing and unsealing" \
		"swtpm is not installed"
fi

# --- revocation: the token, then the intermediate ---
tap_ok "token revoke" kt token revoke --key hostA/key.pem --cert hostA/chain.pem --trl rev/hostA.trl token.jwt
tap_fails_with "revoked token" "^Refused: revocation: token .* is revoked" verify token.jwt
kt token issue --key hostA/key.pem --cert hostA/chain.pem --uuid $GUEST --aud "$AUD" --guest-key guest.pem -o token2.jwt \
	2>/dev/null
tap_ok "a new token still verifies" verify token2.jwt
tap_ok "revoke the intermediate" kt ca revoke --ca root --reason cACompromise eu/cert.pem
publish_crls
tap_fails_with "token under a revoked intermediate" "^Refused: revocation: .*EU CA" \
	verify token2.jwt

tap_done
