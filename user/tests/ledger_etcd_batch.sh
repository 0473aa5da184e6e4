#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host batches stored once on etcd (Documentation/ledger.rst, "Batches
# stored once"):
#
#   host1, host2 ── ledger batch --queue ──> <prefix>/batch/<host>-<time>  (the blob, written once)
#                                            <prefix>/queue/<host>-<time>  (an empty marker)
#   ledger integrate ── reads, checks ──> entry (format 4): references (host, time, SHA-256)
#
# the sequencer's entry is format version 4 and holds 56-byte references,
# not the batches; markers leave the queue, blobs stay; the log verifies,
# with a direct (format 3) batch entry after it; a different batch under a
# taken name refused ("exists"); another host's VM dropped (placement),
# its blob deleted with its marker so that a corrected batch may take the name;
# a blob with one result changed: verify names the entry, batch, host and
# result; a blob changed outside its records, or missing: refused
# ("batch-blob"); put back: verifies again.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib/tap.sh
. scripts/lib/ledger-pki.sh
. scripts/lib/etcd-cluster.sh

KT=${KVMTRUST_CLI:-$PWD/user/kvmtrust}
tap_plan 18

if ! command -v etcd >/dev/null; then
	for i in $(seq 18); do tap_skip "etcd batch step $i" "etcd not installed (scripts/setup installs etcd-server)"; done
	exit 0
fi

tap_workdir kvmtrust-ledger-etcd-batch
cleanup() {
	etcd_cluster_stop
	tap_workdir_cleanup
}
trap cleanup EXIT

as1=(--key "$dir/host1.key" --cert "$dir/host1.pem")
as2=(--key "$dir/host2.key" --cert "$dir/host2.pem")
L() { "$KT" ledger "$@"; }
status() { "$@" >/dev/null 2>&1; echo $?; }
vm() { printf '4000000%d-0000-4000-8000-%012d' "$1" "$2"; }

# etcd through its JSON gateway: kv get|put|del|count KEY [hex], keys under the default prefix.
kv() {
	python3 - "${ETCD_CLIENT[1]}" "$@" <<'PY'
import base64, json, sys, urllib.request
url, op, key = sys.argv[1], sys.argv[2], "kvmtrust/ledger/" + sys.argv[3]
b64 = lambda b: base64.b64encode(b).decode()
def call(path, req):
    r = urllib.request.Request(url + path, json.dumps(req).encode(), {"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(r, timeout=10))
if op == "get":
    kvs = call("/v3/kv/range", {"key": b64(key.encode())}).get("kvs", [])
    print(base64.b64decode(kvs[0].get("value", "")).hex() if kvs else "")
elif op == "put":
    call("/v3/kv/put", {"key": b64(key.encode()), "value": b64(bytes.fromhex(sys.argv[4]))})
elif op == "del":
    call("/v3/kv/deleterange", {"key": b64(key.encode())})
elif op == "count":
    end = key[:-1] + chr(ord(key[-1]) + 1)
    print(call("/v3/kv/range", {"key": b64(key.encode()), "range_end": b64(end.encode()),
                                "count_only": True}).get("count", "0"))
PY
}
# verify's refusal as "CHECK: message" (--json), with verify's exit status.
vj() {
	local out rc
	out=$(L verify --json 2>/dev/null); rc=$?
	python3 -c 'import json, sys; d = json.load(sys.stdin); print("%s: %s" % (d.get("check"), d.get("error")))' <<<"$out"
	return $rc
}
name() { printf '%s-%016x' "$(echo "$1" | tr -d -)" "$2"; }

tap_ok "test PKI" ledger_pki "$dir"
etcd_cluster_start "$dir"
tap_result $? "3-member etcd cluster on 127.0.0.1"
export KVMTRUST_LEDGER=etcd:$ETCD_ENDPOINTS KVMTRUST_LEDGER_CA=$dir/ca.pem
L init >/dev/null

T=$(( $(date +%s) + 1 ))
for i in 0 1 2 3 4; do echo "$(vm 1 $i) $([ $i = 3 ] && echo fail || echo pass) report=$(printf '%064x' $i)"; done > h1.txt
for i in 0 1; do echo "$(vm 2 $i) pass"; done > h2.txt
L batch --file h1.txt --time @$T --queue "${as1[@]}" >/dev/null
L batch --file h2.txt --time @$T --queue "${as2[@]}" >/dev/null
tap_is "integrate appends both queued batches as one entry" \
	"$(L integrate "${as1[@]}" --script | cut -f1-3)" "0	2	0"
entry=$(kv get entry/0000000000000000)
# Stored: version byte 04, kind 07, and after the signature u32 2 and two 56-byte references.
refs=$(python3 -c '
import sys
e = bytes.fromhex(sys.argv[1]); l = e[3]; d = e[100 + l + 32]; x = 33 + d
c = int.from_bytes(e[100 + l + x:102 + l + x], "big"); body = e[166 + l + x + c:]
print(e[0], e[1], int.from_bytes(body[:4], "big"), len(body))' "$entry")
tap_is "the entry is format 4 and holds 2 references of 56 bytes, not the batches" "$refs" "4 7 2 116"
tap_is "the queue markers are gone, the two blobs stay" "$(kv count queue/) $(kv count batch/)" "0 2"
tap_is "the log verifies" "$(L verify --script | cut -f1,2)" "true	1"
tap_is "  and 'ledger get' shows the entry" "$(L get --index 0 --script | cut -f1,2)" "0	batch"

echo "$(vm 1 0) pass" > one.txt
L batch --file one.txt --time @$((T + 5)) "${as1[@]}" >/dev/null
tap_is "a direct batch entry (format 3, batches inside) after it: the log verifies" \
	"$(L verify --script | cut -f1,2) $(kv get entry/0000000000000001 | cut -c1-2)" "true	2 03"

tap_fails_with "another batch of host1 for a taken interval is refused" \
	"exists: a different host batch is stored as $(name $LEDGER_H1 $T) already" \
	L batch --file one.txt --time @$T --queue "${as1[@]}"

echo "$(vm 1 2) pass" > steal.txt
L batch --file steal.txt --time @$((T + 5)) --queue "${as2[@]}" >/dev/null
L integrate "${as1[@]}" >integrate.out 2>&1
tap_is "the sequencer drops a batch with host1's VM from host2, naming it" \
	"$(grep -cE "dropped 1 queued batches; first: queued batch $(name $LEDGER_H2 $((T + 5))): result 0 \(VM $(vm 1 2)\): the VM is on host $LEDGER_H1" integrate.out)" 1
tap_is "  nothing appended, the marker and the dropped batch gone, the integrated ones stay" \
	"$(L verify --script | cut -f1,2) $(kv count queue/) $(kv count batch/)" "true	2 0 2"
echo "$(vm 2 2) pass" > own.txt
L batch --file own.txt --time @$((T + 5)) --queue "${as2[@]}" >/dev/null
tap_is "  so host2 may store a corrected batch under the dropped one's name, and it is integrated" \
	"$(L integrate "${as1[@]}" --script | cut -f1-3) $(kv count batch/)" "2	1	0 3"

# Which reference is host1's: batches are integrated in name order.
b1=$( [ "$(name $LEDGER_H1 $T)" \< "$(name $LEDGER_H2 $T)" ] && echo 0 || echo 1)
blob=$(kv get "batch/$(name $LEDGER_H1 $T)")
changed=$(python3 -c '
import sys, uuid
b = bytearray.fromhex(sys.argv[1]); at = b.index(uuid.UUID(sys.argv[2]).bytes)
b[at + 16] = 1; print(b.hex())' "$blob" "$(vm 1 3)")
kv put "batch/$(name $LEDGER_H1 $T)" "$changed"
tap_fails_with "result 3 changed in host1's stored blob: verify names entry, batch, host and result" \
	"^batch: entry 0: batch $b1 \(host $LEDGER_H1\): result 3 \(VM $(vm 1 3)\): does not match its check bytes" \
	vj
tap_is "  and exits 10" "$(status L verify)" 10
# The last byte of the signature changed: the records still match, the digest does not.
kv put "batch/$(name $LEDGER_H1 $T)" "$(python3 -c '
import sys
b = bytearray.fromhex(sys.argv[1]); l = 63 + int.from_bytes(b[61:63], "big") + 63
b[l] ^= 1; print(b.hex())' "$blob")"
tap_fails_with "a blob changed outside its records is refused" \
	"^batch-blob: entry 0: batch $b1 \(host $LEDGER_H1\): the stored host batch differs from the one the entry references" \
	vj
kv del "batch/$(name $LEDGER_H1 $T)"
tap_fails_with "a missing blob is refused" \
	"^batch-blob: entry 0: batch $b1 \(host $LEDGER_H1\): its stored host batch $(name $LEDGER_H1 $T) is missing" \
	vj
tap_fails_with "  'ledger get' of its entry too" "^Error: batch-blob: entry 0: batch $b1 \(host $LEDGER_H1\): its stored host batch" L get --index 0
kv put "batch/$(name $LEDGER_H1 $T)" "$blob"
tap_is "the blob put back: the log verifies again" "$(L verify --script | cut -f1,2)" "true	3"
tap_done
