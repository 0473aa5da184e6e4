# SPDX-License-Identifier: GPL-2.0
#
# A throw-away PKI for ledger tests and benchmarks, from the openssl CLI:
#   ledger_pki DIR    makes DIR/ca.{key,pem} (with keyCertSign), DIR/rogue.*,
#                     hosts DIR/host1.* and DIR/host2.* (urn:uuid: SANs
#                     $LEDGER_H1 and $LEDGER_H2) and DIR/intruder.* under rogue;
#                     and the VM owners' side: DIR/owner-root.* (also copied
#                     into DIR/owner-anchors/) and the owners DIR/alice.* and
#                     DIR/bob.* under it (user certificates: no host UUID).
# Certificates are valid from now for 30 days.

LEDGER_H1=11111111-1111-4111-8111-111111111111
LEDGER_H2=22222222-2222-4222-8222-222222222222
LEDGER_H3=33333333-3333-4333-8333-333333333333

ledger_pki_ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$1/$2.key" -out "$1/$2.pem" -days 30 -subj "/CN=$2" \
		-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}

ledger_pki_host() {
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$1/$2.key" -out "$1/$2.csr" -subj "/CN=$2" 2>/dev/null &&
	echo "subjectAltName=URI:urn:uuid:$4" > "$1/$2.ext" &&
	openssl x509 -req -in "$1/$2.csr" -CA "$1/$3.pem" -CAkey "$1/$3.key" \
		-CAcreateserial -out "$1/$2.pem" -days 30 -extfile "$1/$2.ext" 2>/dev/null
}

ledger_pki_user() {
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$1/$2.key" -out "$1/$2.csr" -subj "/CN=$2" 2>/dev/null &&
	printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n' \
		> "$1/$2.ext" &&
	openssl x509 -req -in "$1/$2.csr" -CA "$1/$3.pem" -CAkey "$1/$3.key" \
		-CAcreateserial -out "$1/$2.pem" -days 30 -extfile "$1/$2.ext" 2>/dev/null
}

ledger_pki() {
	ledger_pki_ca "$1" ca && ledger_pki_ca "$1" rogue &&
	ledger_pki_host "$1" host1 ca $LEDGER_H1 && ledger_pki_host "$1" host2 ca $LEDGER_H2 &&
	ledger_pki_host "$1" intruder rogue $LEDGER_H3 &&
	ledger_pki_ca "$1" owner-root && mkdir -p "$1/owner-anchors" &&
	cp "$1/owner-root.pem" "$1/owner-anchors/" &&
	ledger_pki_user "$1" alice owner-root && ledger_pki_user "$1" bob owner-root
}
