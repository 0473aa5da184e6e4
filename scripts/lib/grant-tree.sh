# SPDX-License-Identifier: GPL-2.0
#
# A CA tree for migration grant tests and benchmarks, made with the openssl
# command in the profiles pki.h writes (host UUID as a urn:uuid SAN, region
# and site in the KtLocation extension, SKI = SHA-1 of the key, AKI), so
# the tools are also checked against certificates they did not make:
#
#   owner root ── alice (owner), bob (delegate), mallory
#   host root ─┬─ CA eu ─┬─ host a   eu-west/fra1
#              │         └─ CA eu-sub ── host a1   eu-west/fra2
#              └─ CA us ── host b   us-east/nyc1
#
# grant_tree DIR writes one credential directory per name (key.pem,
# cert.pem, chain.pem without the root, crl.pem for CAs) and
#   DIR/owner-anchors  owner root and its CRL
#   DIR/host-anchors   host root and the CRLs of every host CA
#   DIR/ledger-ca      the host CAs, for the ledger's writers

HOST_A=0b7e6a3c-5f1d-4c2e-9a8b-1d2c3e4f5a6b
HOST_A1=1c8f7b4d-6a2e-4d3f-8b9c-2e3d4f5a6b7c
HOST_B=2d9a8c5e-7b3f-4e4a-9cad-3f4e5a6b7c8d
LOCATION_OID=2.25.264286144897116771463239012726682064709

# make_cert NAME ISSUER KIND [UUID REGION SITE]: ISSUER "-" for a root.
# A host or user certificate's keyUsage is $LEAF_USAGE (default
# digitalSignature; tests set keyAgreement for a key that may not sign).
make_cert() {
	local name=$1 issuer=$2 kind=$3 uuid=${4:-} region=${5:-} site=${6:-}
	mkdir -p "$name"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$name/key.pem" 2>/dev/null || return 1
	chmod 600 "$name/key.pem"
	{
		echo "[ext]"
		echo "subjectKeyIdentifier = hash"
		[ "$issuer" = - ] || echo "authorityKeyIdentifier = keyid"
		case $kind in
		ca)	echo "basicConstraints = critical, CA:TRUE"
			echo "keyUsage = critical, keyCertSign, cRLSign" ;;
		host)	echo "basicConstraints = critical, CA:FALSE"
			echo "keyUsage = critical, ${LEAF_USAGE:-digitalSignature}"
			echo "subjectAltName = URI:urn:uuid:$uuid"
			echo "$LOCATION_OID = ASN1:SEQUENCE:location"
			echo "[location]"
			echo "region = UTF8:$region"
			echo "site = UTF8:$site" ;;
		user)	echo "basicConstraints = critical, CA:FALSE"
			echo "keyUsage = critical, ${LEAF_USAGE:-digitalSignature}" ;;
		esac
	} >"$name/ext.cnf"
	if [ "$issuer" = - ]; then
		openssl req -x509 -new -key "$name/key.pem" -subj "/CN=$name" -days 3650 \
			-config "$name/ext.cnf" -extensions ext -out "$name/cert.pem" 2>/dev/null || return 1
		: >"$name/chain.pem"
	else
		openssl req -new -key "$name/key.pem" -subj "/CN=$name" -config "$name/ext.cnf" 2>/dev/null |
		openssl x509 -req -CA "$issuer/cert.pem" -CAkey "$issuer/key.pem" -days 365 \
			-set_serial "0x$(openssl rand -hex 15)" -extfile "$name/ext.cnf" -extensions ext \
			-out "$name/cert.pem" 2>/dev/null || return 1
		cat "$name/cert.pem" "$issuer/chain.pem" >"$name/chain.pem"
	fi
	if [ "$kind" = ca ]; then
		printf '[ca]\ndefault_ca = d\n[d]\ndatabase = %s\ncrlnumber = %s\ndefault_md = sha256\ndefault_crl_days = 7\n' \
			"$PWD/$name/index.txt" "$PWD/$name/crlnumber" >"$name/ca.cnf"
		: >"$name/index.txt"
		echo 01 >"$name/crlnumber"
		openssl ca -gencrl -config "$name/ca.cnf" -keyfile "$name/key.pem" \
			-cert "$name/cert.pem" -out "$name/crl.pem" 2>/dev/null || return 1
	fi
}

# grant_tree_env DIR: the owner and host anchors, a SQLite ledger in DIR
# and host b as its writer, for every kvmtrust command the test runs.
grant_tree_env() {
	export KVMTRUST_OWNER_ANCHORS=$1/owner-anchors
	export KVMTRUST_HOST_ANCHORS=$1/host-anchors
	export KVMTRUST_LEDGER=sqlite:$1/ledger.db
	export KVMTRUST_LEDGER_CA=$1/ledger-ca
	export KVMTRUST_LEDGER_KEY=$1/host-b/key.pem
	export KVMTRUST_LEDGER_CERT=$1/host-b/cert.pem
}

grant_tree() {
	local dir=$1
	(cd "$dir" && make_tree)
}

make_tree() {
	make_cert owner-root - ca &&
	make_cert alice owner-root user && make_cert bob owner-root user &&
	make_cert mallory owner-root user &&
	make_cert host-root - ca && make_cert eu host-root ca && make_cert eu-sub eu ca &&
	make_cert us host-root ca &&
	make_cert host-a eu host "$HOST_A" eu-west fra1 &&
	make_cert host-a1 eu-sub host "$HOST_A1" eu-west fra2 &&
	make_cert host-b us host "$HOST_B" us-east nyc1 || return 1
	mkdir -p owner-anchors host-anchors ledger-ca
	cp owner-root/cert.pem owner-anchors/owner-root.pem
	cp owner-root/crl.pem owner-anchors/owner-root.crl
	cp host-root/cert.pem host-anchors/host-root.pem
	for ca in host-root eu eu-sub us; do
		cp "$ca/crl.pem" "host-anchors/$ca.crl"
		cp "$ca/cert.pem" "ledger-ca/$ca.pem"
	done
}


# host_key_dir NAME UUID: NAME/hostkey, a software host key directory
# (attest/hostkey.h) holding NAME's key and certificate chain, so that the
# host's reports carry the certificate its tokens and handshakes use.
host_key_dir() {
	local d=$1/hostkey
	mkdir -p "$d" &&
	printf '{"version":2,"origin":"software","host_id":"%s","pcr":23}\n' "$2" >"$d/hostkey.json" &&
	install -m 600 "$1/key.pem" "$d/key.pem" &&
	openssl pkey -in "$1/key.pem" -pubout -out "$d/public.pem" 2>/dev/null &&
	cp "$1/chain.pem" "$d/cert.pem"
}

# revoked_crls CA NAME OUT: a copy of host-anchors in OUT whose CRL of CA
# revokes NAME's certificate.
revoked_crls() {
	cp -r host-anchors "$3" &&
	openssl ca -config "$1/ca.cnf" -keyfile "$1/key.pem" -cert "$1/cert.pem" \
		-revoke "$2/cert.pem" 2>/dev/null &&
	openssl ca -gencrl -config "$1/ca.cnf" -keyfile "$1/key.pem" -cert "$1/cert.pem" \
		-out "$3/$1.crl" 2>/dev/null
}
