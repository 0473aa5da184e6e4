#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Evidence bundles on a SQLite ledger (the grant tree's PKI, as grant.sh):
# a VM attested on host b (with its report), moved to host a under an
# owner's grant, attested there, host b revoked, other VMs' entries between.
# kvmtrust evidence export, then evidence verify on a copy with the ledger
# deleted; a deterministic sample of single-byte flips (200 positions, seed
# 17, and the first byte of every section) each refused; wrong anchors, the
# bundle renamed to another VM, a grant without owner anchors, a CRL that
# revokes a signer, and export's own refusals; a certificate revoked in the
# ledger carried with the bundle, and a head its certificate signed after
# the revocation refused; the reports' own signatures checked (signed
# reports of software host keys), a report signed after its signer's
# revocation refused; usage and missing files.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib/tap.sh
. scripts/lib/grant-tree.sh

KT=${KVMTRUST_CLI:-$PWD/user/kvmtrust}
N=35
tap_plan $N
tap_workdir kvmtrust-evidence
if ! command -v openssl >/dev/null || ! grant_tree "$dir" >setup.log 2>&1; then
	for i in $(seq $N); do tap_skip "evidence $i" "cannot build a CA tree with openssl"; done
	exit 0
fi
grant_tree_env "$dir"
status() { "$@" >/dev/null 2>&1; echo $?; }
VM=6f1a2b3c-4d5e-4f60-8a71-92b3c4d5e6f7
OTHER=7a2b3c4d-5e6f-4071-8b82-a3c4d5e6f708
GID=5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d
as_a=(--key host-a/key.pem --cert host-a/cert.pem)
as_b=(--key host-b/key.pem --cert host-b/cert.pem)
L() { "$KT" ledger "$@" >/dev/null; }
V() { "$KT" evidence verify "$@" --anchors "$dir/ledger-ca" --owner-anchors "$dir/owner-anchors"; }
# flips BUNDLE DIR SEED N [TYPE]: DIR gets one copy of BUNDLE per position,
# one byte changed (by a value drawn from the position): N positions drawn
# with SEED, then every header byte and the first bytes of every section
# (type, length, value), or with TYPE every 7th byte of the sections of that
# type.
flips() {
	rm -rf "$2" && mkdir "$2" && python3 - "$@" <<'PY'
import random, sys
data = open(sys.argv[1], 'rb').read()
pos = set(random.Random(int(sys.argv[3])).sample(range(len(data)), min(int(sys.argv[4]), len(data))))
kind = int(sys.argv[5]) if len(sys.argv) > 5 else None
if kind is None:
    pos |= set(range(26))
off = 26
while off < len(data):
    end = off + 5 + int.from_bytes(data[off + 1:off + 5], 'big')
    if kind is None:
        pos |= {off, off + 1, off + 5}
    elif data[off] == kind:
        pos |= set(range(off, end, 7))
    off = end
for p in sorted(pos):
    d = bytearray(data)
    d[p] ^= random.Random(p).randrange(1, 256)
    open('%s/%06d' % (sys.argv[2], p), 'wb').write(d)
PY
}
# refused DIR: the bundles in DIR that verify did not refuse (exit 1, a named check).
refused() {
	local f rc bad=""
	for f in "$1"/*; do
		V "$f" >/dev/null 2>flip.err
		rc=$?
		{ [ $rc = 1 ] && grep -q '^Error: ' flip.err; } || bad="$bad ${f#"$1"/}(rc $rc)"
	done
	echo "$bad"
}

"$KT" grant issue --key alice/key.pem --cert alice/chain.pem --uuid "$VM" --host-ca eu/cert.pem \
	--delegate bob/cert.pem --days 30 --id "$GID" -o vm.grant >/dev/null 2>&1
# Signed reports (attest/report.h) of the hosts' software keys, their chains in x5c.
# report HOST UUID OUT [SEQ]: HOST's report of the VM.
report() {
	printf '{"memory_root":"%064d","vcpu_root":"%064d","pages":8,"seq":%d}\n' 1 2 "${4:-1}" \
		>m.json &&
	KVMTRUST_KEY_DIR=$1/hostkey "$KT" attest --measurement m.json --uuid "$VM" -o "$3" \
		>/dev/null 2>&1
}
host_key_dir host-a "$HOST_A" && host_key_dir host-b "$HOST_B" &&
	report host-b "$HOST_B" b.report && report host-a "$HOST_A" a.report ||
	tap_diag <<<"cannot sign the test reports"
L init
L append attest --vm "$OTHER" --result pass --host "$HOST_B" "${as_b[@]}"
L append attest --vm "$VM" --result pass --host "$HOST_B" --report b.report "${as_b[@]}"
L append attest --vm "$OTHER" --result fail --host "$HOST_B" "${as_b[@]}"
L append move --vm "$VM" --host "$HOST_A" --detail "grant:$GID" "${as_a[@]}"
L append attest --vm "$VM" --result pass --host "$HOST_A" --report a.report "${as_a[@]}"
L append attest --vm "$OTHER" --result pass --host "$HOST_A" "${as_a[@]}"
L append revoke --host "$HOST_B" "${as_a[@]}"
L append attest --vm "$OTHER" --result pass --host "$HOST_A" "${as_a[@]}"

tap_ok "export writes the bundle" "$KT" evidence export --vm "$VM" -o vm.evid \
	--report b.report --report a.report --grant vm.grant --crl eu/crl.pem
tap_ok "  -o - writes the same bytes, and nothing else, to standard output" \
	bash -c '"$0" evidence export --vm "$1" -o - --report b.report --report a.report \
		--grant vm.grant --crl eu/crl.pem | cmp - vm.evid' "$KT" "$VM"
# kvmtrustd's kept reports: the VM's files in the directory whose digest an
# entry names are carried; another report of the VM and another VM's are not.
mkdir reports && cp b.report "reports/$VM-1-n1.jwt" && cp a.report "reports/$OTHER-1-n2.jwt" &&
	echo '{"report":"unnamed"}' > "reports/$VM-2-n3.jwt"
"$KT" evidence export --vm "$VM" -o dir.evid --reports reports --grant vm.grant >/dev/null
tap_is "--reports DIR: only the VM's report an entry names (host a's is under another name)" \
	"$(V dir.evid | grep '^reports:')" "reports: 1 (digests without their report: 1)"

# Elsewhere: the bundle and the anchors only, no ledger, no ledger settings.
mkdir offline && cp -r vm.evid ledger-ca owner-anchors offline/
rm -f ledger.db*
out=$(cd offline && env -u KVMTRUST_LEDGER -u KVMTRUST_LEDGER_CA -u KVMTRUST_OWNER_ANCHORS \
	"$KT" evidence verify vm.evid --anchors ledger-ca --owner-anchors owner-anchors 2>&1)
tap_is "verify with the ledger deleted: verified" "$(printf '%s\n' "$out" | head -1)" \
	"evidence verified: yes"
tap_is "  the VM's entries and the host revocation" "$(printf '%s\n' "$out" | grep '^entries:')" \
	"entries: 4 (2 attestations, 1 moves, 1 revocations), first at index 1"
tap_is "  where the VM ran: host b, then host a" \
	"$(printf '%s\n' "$out" | sed -n '/^hosts:/,/^cert/p' | sed -n 's/^  \([^ ]*\) .*(entries \(.*\))$/\1 \2/p' | tr '\n' ' ')" \
	"$HOST_B 1..1 $HOST_A 3..4 "
tap_is "  chains, the CRL, the grant, both reports" "$(printf '%s\n' "$out" | grep -E '^(cert|reports)' | tr '\n' ' ')" \
	"certificate chains: 2, CRLs: 1, grants: 1 (moves naming none: 0) reports: 2 (digests without their report: 0) "
tap_is "--json names the VM and the head" \
	"$(V vm.evid --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["vm"], d["size"], d["verified"])')" \
	"$VM 8 True"

# Every single-byte flip is refused: 200 positions from a fixed seed, every
# header byte and the first byte of every section (type, length, value).
flips vm.evid flips 17 200
tap_is "all $(ls flips | wc -l) single-byte flips refused (exit 1, a named check)" "$(refused flips)" ""

tap_fails_with "wrong anchors are refused" "^Error: authorization: signed tree head: not a host: certificate not trusted" \
	"$KT" evidence verify vm.evid --anchors "$dir/owner-anchors" --owner-anchors "$dir/owner-anchors"
tap_is "  exit 1" "$(status "$KT" evidence verify vm.evid --anchors "$dir/owner-anchors")" 1
tap_fails_with "a grant without owner anchors is refused" "^Error: grant: grants need --owner-anchors" \
	"$KT" evidence verify vm.evid --anchors "$dir/ledger-ca"

python3 - vm.evid "$OTHER" > renamed.evid <<'PY'
import sys, uuid
d = bytearray(open(sys.argv[1], 'rb').read())
d[10:26] = uuid.UUID(sys.argv[2]).bytes
sys.stdout.buffer.write(d)
PY
tap_fails_with "the bundle renamed to claim another VM is refused" \
	"^Error: vm: entry 1 names another VM" V renamed.evid

# A CRL that revoked host a's certificate before its entries.
revoked_crls eu host-a revoked >/dev/null 2>&1

# Export's refusals need a ledger again: rebuild the same history.
L init
L append attest --vm "$OTHER" --result pass --host "$HOST_B" "${as_b[@]}"
L append attest --vm "$VM" --result pass --host "$HOST_B" --report b.report "${as_b[@]}"
L append move --vm "$VM" --host "$HOST_A" --detail "grant:$GID" "${as_a[@]}"
L append attest --vm "$VM" --result pass --host "$HOST_A" "${as_a[@]}"
sleep 1
tap_ok "export with a CRL that revokes host a" "$KT" evidence export --vm "$VM" -o crl.evid \
	--grant vm.grant --crl revoked/eu.crl
tap_fails_with "  verify refuses what host a signed after its revocation (the head first)" \
	"^Error: revocation: head: its signer's certificate is on CRL 0 from before it was signed" \
	V crl.evid
tap_fails_with "export refuses a report no entry names" "^Error: report: report 1 matches no entry" \
	"$KT" evidence export --vm "$VM" -o x.evid --grant vm.grant --report vm.grant
tap_fails_with "export refuses a move whose grant is not given" \
	"^Error: grant: entry 2 names grant:$GID: give it with --grant" \
	"$KT" evidence export --vm "$VM" -o x.evid
tap_is "export of a VM the ledger does not know exits 3" \
	"$(status "$KT" evidence export --vm 00000000-0000-4000-8000-000000000001 -o x.evid)" 3
# A head of 13 entries (13, 7: odd nodes move up a level): every path read off
# the kept levels (kt_history_prove) verifies.
"$KT" ledger init --ledger "sqlite:$dir/odd.db" >/dev/null
for i in $(seq 13); do
	echo "attest --vm $([ $((i % 2)) = 1 ] && echo "$VM" || echo "$OTHER") --result pass --host $HOST_B"
done | "$KT" ledger append - --ledger "sqlite:$dir/odd.db" "${as_b[@]}" >/dev/null
"$KT" evidence export --vm "$VM" --ledger "sqlite:$dir/odd.db" -o odd.evid >/dev/null
tap_is "a bundle at a head of 13 entries verifies, 7 entries in it" \
	"$(V odd.evid --script | cut -f1,2,6 | head -1)" "true	$VM	7"
# Batched results (ledger batch): each proven through its record, its host
# batch's signed header and the batch entry, as ledger provenance proves it.
B=(--ledger "sqlite:$dir/batch.db")
"$KT" ledger init "${B[@]}" >/dev/null
T0=$(( $(date +%s) + 1 ))
printf '%s pass report=%s\n%s pass\n' "$VM" "$(sha256sum < b.report | cut -c1-64)" "$OTHER" > b1.txt
printf '%s fail\n' "$VM" > b2.txt
"$KT" ledger batch "${B[@]}" --file b1.txt --time @$T0 "${as_b[@]}" >/dev/null
"$KT" ledger append attest "${B[@]}" --vm "$VM" --result pass --host "$HOST_B" "${as_b[@]}" >/dev/null
"$KT" ledger batch "${B[@]}" --file b2.txt --time @$((T0 + 5)) "${as_b[@]}" >/dev/null
"$KT" evidence export "${B[@]}" --vm "$VM" -o batch.evid --report b.report >/dev/null
out=$(V batch.evid 2>&1)
tap_is "a VM with batched results: 1 entry, 2 batched results, the report, verified" \
	"$(printf '%s\n' "$out" | grep -E '^(evidence|entries|batched|reports)' | tr '\n' ' ')" \
	"evidence verified: yes entries: 1 (3 attestations, 0 moves, 0 revocations), first at index 0 batched results: 2 reports: 1 (digests without their report: 0) "
flips batch.evid bflips 18 100 8
tap_is "  all $(ls bflips | wc -l) flips refused (every 7th byte of the batched sections, 100 more)" \
	"$(refused bflips)" ""

# A CA publishing a revocation in the ledger signs the head: its certificate
# has a chain too, though it signs no data (its role is the head's own check).
"$KT" ca revoke --ca eu "${B[@]}" host-a/cert.pem >/dev/null 2>&1
"$KT" evidence export "${B[@]}" --vm "$VM" -o ca.evid --report b.report >/dev/null
tap_is "a head a CA signed (it revoked a certificate): carried and verified" \
	"$("$KT" ledger head "${B[@]}" | sed -n 's/^signer: //p') $(V ca.evid 2>&1 | head -1)" \
	"CN=eu evidence verified: yes"

# Host b's certificate revoked in the ledger by its CA: the revocation is
# carried (host b signed the VM's entries and batches), and what host b
# signs afterwards is refused, here the head it signs with its next append.
"$KT" ca revoke --ca us "${B[@]}" host-b/cert.pem >/dev/null 2>&1
rev=$(( $("$KT" ledger head "${B[@]}" --script | cut -f1) - 1 ))
"$KT" evidence export "${B[@]}" --vm "$VM" -o rev.evid --report b.report >/dev/null
tap_is "the ledger revocation of host b's certificate is carried; the bundle verifies" \
	"$(V rev.evid 2>&1 | grep -E '^(evidence|entries)' | tr '\n' ' ')" \
	"evidence verified: yes entries: 2 (3 attestations, 0 moves, 1 revocations), first at index 0 "
flips rev.evid rflips 19 80 2
tap_is "  all $(ls rflips | wc -l) flips refused (every 7th byte of the entries, 80 more)" \
	"$(refused rflips)" ""
"$KT" ledger append attest "${B[@]}" --vm "$VM" --result fail --host "$HOST_B" "${as_b[@]}" >/dev/null
"$KT" evidence export "${B[@]}" --vm "$VM" -o late.evid --report b.report >/dev/null
tap_fails_with "a head host b signed after its revocation is refused (revocation)" \
	"^Error: revocation: head: signed by a certificate \\(cert:[0-9a-f]*:[0-9a-f]*\\) revoked in ledger entry $rev, before it signed" \
	V late.evid
# entry_sections BUNDLE: the indexes of its entry sections (type 2).
entry_sections() {
	python3 - "$1" <<'PY'
import sys
d = open(sys.argv[1], 'rb').read()
off, out = 26, []
while off < len(d):
    n = int.from_bytes(d[off + 1:off + 5], 'big')
    if d[off] == 2:
        out.append(str(int.from_bytes(d[off + 5:off + 13], 'big')))
    off += 5 + n
print(' '.join(out))
PY
}
tap_is "  host b's attestation after it is not carried (ledger verify: not counted)" \
	"$(entry_sections late.evid) / $("$KT" ledger verify "${B[@]}" | grep -c 'not counted')" \
	"1 $rev / 1"

# The reports' own signatures, and their signers' revocations at their time.
R=(--ledger "sqlite:$dir/rep.db")
"$KT" ledger init "${R[@]}" >/dev/null
python3 - a.report bad.report <<'PY'
import sys
t = open(sys.argv[1]).read().strip()
h, p, sig = t.split('.')
sig = sig[:20] + ('A' if sig[20] != 'A' else 'B') + sig[21:]
open(sys.argv[2], 'w').write('.'.join((h, p, sig)))
PY
report host-b "$HOST_B" early.report 2
"$KT" ledger append attest "${R[@]}" --vm "$VM" --result pass --host "$HOST_A" --report early.report \
	"${as_a[@]}" >/dev/null
"$KT" ledger append attest "${R[@]}" --vm "$VM" --result pass --host "$HOST_A" --report bad.report \
	"${as_a[@]}" >/dev/null
"$KT" evidence export "${R[@]}" --vm "$VM" -o bad.evid --report early.report --report bad.report \
	>/dev/null
tap_fails_with "a report whose signature does not verify is refused by name (signature)" \
	"^Error: signature: report 1: " V bad.evid
sleep 1.1
"$KT" ca revoke --ca us "${R[@]}" host-b/cert.pem >/dev/null 2>&1
rrev=$(( $("$KT" ledger head "${R[@]}" --script | cut -f1) - 1 ))
report host-b "$HOST_B" late.report 3
"$KT" ledger append attest "${R[@]}" --vm "$VM" --result pass --host "$HOST_A" --report late.report \
	"${as_a[@]}" >/dev/null
"$KT" evidence export "${R[@]}" --vm "$VM" -o early.evid --report early.report >/dev/null
tap_is "a report signed before its signer's revocation verifies; the revocation is carried" \
	"$(V early.evid 2>&1 | grep -E '^(evidence|entries)' | tr '\n' ' ')" \
	"evidence verified: yes entries: 4 (3 attestations, 0 moves, 1 revocations), first at index 0 "
"$KT" evidence export "${R[@]}" --vm "$VM" -o latereport.evid --report early.report \
	--report late.report >/dev/null
tap_fails_with "a report its signer signed after the revocation is refused (revocation)" \
	"^Error: revocation: report 1: signed by a certificate \\(cert:[0-9a-f:]*\\) revoked in ledger entry $rrev" \
	V latereport.evid
echo '{"report":"not signed"}' > plain.report
"$KT" ledger append attest "${R[@]}" --vm "$VM" --result pass --host "$HOST_A" --report plain.report \
	"${as_a[@]}" >/dev/null
tap_fails_with "export refuses a report that is not a signed report (report)" \
	"^Error: report: report 1: not a signed report" \
	"$KT" evidence export "${R[@]}" --vm "$VM" -o x.evid --report plain.report

tap_is "verify of a missing file exits 3" "$(status V no-such.evid)" 3
tap_is "an unknown option exits 2" "$(status "$KT" evidence verify vm.evid --anchors ledger-ca --bogus)" 2
tap_is "verify without --anchors exits 2" "$(status "$KT" evidence verify vm.evid)" 2
tap_is "export without -o exits 2" "$(status "$KT" evidence export --vm "$VM")" 2
tap_is "an unknown subcommand exits 2" "$(status "$KT" evidence frobnicate)" 2
tap_done
