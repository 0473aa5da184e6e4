#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host batches quoted by the host's TPM key (Documentation/ledger.rst,
# "Host batch", version 2), with a real TPM (swtpm):
#
#   kvmtrust tpm init ──> hostkey A, B (TPM, host1), S (software, host2)
#   ledger batch --key-dir A|S ──> log (direct) or queue ── ledger integrate ──> log
#
# A's batches are version 2 and carry the TPM's quote over their root, S's
# are version 1; both kinds verify in one log, direct and sequenced. Queued
# batches of A with the quote changed, each dropped by the sequencer as
# batch-quote: a quote over another root (A's next batch), by another key
# (B's), cut short, and left out. A VM's provenance from quoted batches
# checked offline by scripts/provenance-check, which checks the quotes too.
# ledger verify --require-tpm: a software key's batch refused, a log of
# quoted ones verifies. Usage errors. The cost: batches timed
# with and without the TPM, and verify of a log of each (figures printed
# as diagnostics; Documentation/ledger.rst quotes them). On a 3-member etcd
# (if installed), where host batches are stored once and the sequencer's
# entry references them (format 4): a quoted batch sequenced and verified
# with --require-tpm, and a software key's next to it named by it.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib/tap.sh
. scripts/lib/ledger-pki.sh
. scripts/lib/swtpm.sh
. scripts/lib/etcd-cluster.sh

KT=${KVMTRUST_CLI:-$PWD/user/kvmtrust}
CHECK=$PWD/scripts/provenance-check
scripts_check() { "$CHECK" "$@"; }
PLAN=25
tap_plan $PLAN
tap_workdir kvmtrust-ledger-batch-tpm

swtpm_start "$dir/swtpm"; rc=$?
if [ $rc = 2 ]; then
	for i in $(seq $PLAN); do tap_skip "batch quote step $i" "swtpm is not installed"; done
	exit 0
fi
pids+=("$SWTPM_PID")
tap_is "swtpm starts" "$rc" 0
[ $rc = 0 ] || { cat "$dir"/swtpm*.log | tap_diag; exit 1; }

L() { "$KT" ledger "$@"; }
status() { "$@" >/dev/null 2>&1; echo $?; }
vm() { printf '4000000%d-0000-4000-8000-%012d' "$1" "$2"; }
export KVMTRUST_LEDGER=sqlite:$dir/ledger.db KVMTRUST_LEDGER_CA=$dir/ca.pem

# A host key and its certificate under the ledger CA, from the key's own CSR.
hostkey() {
	local name=$1 host=$2; shift 2
	"$KT" tpm init --key-dir "$dir/$name" --host-id "$host" "$@" >/dev/null &&
	echo "subjectAltName=URI:urn:uuid:$host" > "$dir/$name.ext" &&
	openssl x509 -req -in "$dir/$name/host.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
		-CAcreateserial -out "$dir/$name.pem" -days 30 -extfile "$dir/$name.ext" 2>/dev/null
}
tap_ok "test PKI; TPM keys A and B of host1, software key S of host2, each certified" \
	eval 'ledger_pki "$dir" && hostkey A $LEDGER_H1 --tcti "$SWTPM_TCTI" &&
	      hostkey B $LEDGER_H1 --tcti "$SWTPM_TCTI" && hostkey S $LEDGER_H2 --software'
asA=(--key-dir "$dir/A" --tcti "$SWTPM_TCTI" --cert "$dir/A.pem")
asB=(--key-dir "$dir/B" --tcti "$SWTPM_TCTI" --cert "$dir/B.pem")
asS=(--key-dir "$dir/S" --cert "$dir/S.pem")
L init >/dev/null
for i in 0 1 2 3; do echo "$(vm 1 $i) pass report=$(printf '%064x' $i)"; done > h1.txt
for i in 0 1 2; do echo "$(vm 2 $i) $([ $i = 1 ] && echo fail || echo pass)"; done > h2.txt
T=$(( $(date +%s) + 1 ))

tap_is "the TPM key appends a batch" \
	"$(L batch --file h1.txt --time @$T "${asA[@]}" --script | cut -f1,3)" "0	4"
tap_is "the software key appends one" \
	"$(L batch --file h2.txt --time @$T "${asS[@]}" --script | cut -f1,3)" "1	3"
tap_is "both verify in one log" "$(L verify --script | cut -f1,2)" "true	2"
tap_fails_with "verify --require-tpm names the software key's batch (batch-quote)" \
	"entry 1: batch 0 \(host $LEDGER_H2\): batch of host $LEDGER_H2 is signed by a software key \(version 1, no quote\), a TPM key is required" \
	L verify --require-tpm

# Queued: the host batch as stored, byte 0 its version.
queued() {
	python3 - "$dir/ledger.db" <<'PY'
import sqlite3, sys
for k, d in sqlite3.connect(sys.argv[1]).execute("select key, data from ledger_queue order by key"):
    print(k[:8], d[0])
PY
}
L batch --file h1.txt --time @$((T + 5)) --queue "${asA[@]}" >/dev/null
L batch --file h2.txt --time @$((T + 5)) --queue "${asS[@]}" >/dev/null
tap_is "queued: the TPM key's batch is version 2, the software key's version 1" \
	"$(queued | tr '\n' ' ')" "${LEDGER_H1:0:8} 2 ${LEDGER_H2:0:8} 1 "
tap_is "the sequencer integrates both" \
	"$(L integrate --key host1.key --cert host1.pem --script | cut -f1-3)" "2	2	0"
tap_is "the log verifies with the sequenced entry" "$(L verify --script | cut -f1,2)" "true	3"

# Provenance of a VM whose results are in quoted batches, checked offline;
# its quote changed in one byte (the qualifying data), refused there.
L provenance --vm "$(vm 1 0)" --json > prov.json
tap_is "provenance of a VM in quoted batches checks offline" \
	"$(scripts_check --ca ca.pem prov.json)" "provenance verified: 2 entries"
python3 - prov.json <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
e = next(e for e in doc["entries"] if e["kind"] == "batched")
h = bytearray.fromhex(e["batch_header"])
at = 63 + int.from_bytes(h[61:63], "big") + 35       # the TPMS_ATTEST
n = int.from_bytes(h[at + 6:at + 8], "big")          # qualifiedSigner, then extraData
h[at + 8 + n + 2] ^= 1
e["batch_header"] = h.hex()
json.dump(doc, open("prov-bad.json", "w"))
PY
tap_is "  its quote's qualifying data changed: refused (the TPM's signature covers it)" \
	"$(scripts_check --ca ca.pem prov-bad.json 2>&1)" \
	"provenance refused: entry 0: host batch: quote signature does not verify with the signer's key"

# Tampered quotes: three honest queued batches taken apart, then one at a
# time put back changed as the only queued batch and sequenced.
L batch --file h1.txt --time @$((T + 10)) --queue "${asA[@]}" >/dev/null
L batch --file h1.txt --time @$((T + 15)) --queue "${asA[@]}" >/dev/null
L batch --file h1.txt --time @$((T + 20)) --queue "${asB[@]}" >/dev/null
python3 - "$dir/ledger.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute("select key, data from ledger_queue order by key").fetchall()
assert len(rows) == 3 and all(d[0] == 2 for _, d in rows)

def parts(d):
    """prefix (fields and certificate), quote fields, the rest (signature, records)."""
    at = 63 + int.from_bytes(d[61:63], "big")
    a = int.from_bytes(d[at + 33:at + 35], "big")
    s = int.from_bytes(d[at + 35 + a:at + 37 + a], "big")
    end = at + 37 + a + s
    return d[:at], (d[at:at + 33], d[at + 35:at + 35 + a], d[at + 37 + a:end]), d[end:]

def quote(head, att, sig):
    return head + len(att).to_bytes(2, "big") + att + len(sig).to_bytes(2, "big") + sig

(key, a10), (_, a15), (_, b20) = rows
pre, q10, rest = parts(a10)
cases = {
    "root": pre + quote(*parts(a15)[1]) + rest,
    "key": pre + quote(*parts(b20)[1]) + rest,
    "cut": pre + quote(q10[0], q10[1][:-1], q10[2]) + rest,
    "none": pre + quote(q10[0], b"", b"") + rest,
    "honest": a10,
}
db.execute("create table tampered (what text, key text, data blob)")
for what, data in cases.items():
    db.execute("insert into tampered values (?, ?, ?)", (what, key, data))
db.execute("delete from ledger_queue")
db.commit()
PY
sequence() {
	sqlite3 "$dir/ledger.db" "insert into ledger_queue select key, data from tampered where what = '$1'"
	L integrate --key host1.key --cert host1.pem 2>&1 >/dev/null
}
dropped="dropped 1 queued batches; first: queued batch [0-9a-f-]+: batch of host $LEDGER_H1:"
tap_is "a quote over another root (the host's next batch) is dropped (batch-quote)" \
	"$(sequence root | grep -cE "$dropped quote's qualifying data is not the digest it must bind \(check batch-quote\)")" 1
tap_is "a quote by another key (B's, same host) is dropped (batch-quote)" \
	"$(sequence key | grep -cE "$dropped quote signature does not verify with the signer's key \(check batch-quote\)")" 1
tap_is "a quote cut short is dropped (batch-quote)" \
	"$(sequence cut | grep -cE "$dropped .*\(check batch-quote\)")" 1
tap_is "a TPM-key batch without a quote is dropped (batch-quote)" \
	"$(sequence none | grep -cE "$dropped claims a TPM key but carries no quote \(check batch-quote\)")" 1
tap_is "  none of them reached the log; the honest batch does" \
	"$(sequence honest; L verify --script | cut -f1,2)" "true	4"

tap_is "--key and --key-dir together: usage (2)" \
	"$(status L batch --file h1.txt --key host1.key "${asA[@]}")" 2
tap_is "--tcti without --key-dir: usage (2)" \
	"$(status L batch --file h1.txt --tcti "$SWTPM_TCTI" --key host1.key --cert host1.pem)" 2
tap_fails_with "a certificate of another key than the key directory's is refused (key)" \
	"does not match key '$dir/A'" L batch --file h1.txt --key-dir "$dir/A" --tcti "$SWTPM_TCTI" --cert B.pem
tap_fails_with "a key directory that does not exist is refused" "$dir/none" \
	L batch --file h1.txt --key-dir "$dir/none" --cert A.pem

# The cost in CPU time (the wall clock here is the other jobs' load): N
# batches of 50 results queued with the TPM key, then with the software
# key (ledger batch --queue: no walk of the log), the CPU time of the
# kvmtrust processes and of swtpm; each set sequenced as one entry, then
# the CPU time of ledger verify of each.
N=${KT_QUOTE_BATCHES:-100}
for i in $(seq 0 49); do echo "$(vm 3 $i) pass"; done > h3.txt
cpu_ms() { awk '{ printf "%.0f\n", ($1 + $2) * 1000 }'; }	# of TIMEFORMAT='%3U %3S'
swtpm_ms() { awk -v hz="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000 / hz) }' "/proc/$SWTPM_PID/stat"; }
queue_n() {	# queue_n DB KEY-ARGS...: CPU ms of N queued batches
	local db=$1 i; shift
	L init --ledger "sqlite:$dir/$db.db" >/dev/null
	{ TIMEFORMAT='%3U %3S'; time for i in $(seq "$N"); do
		L batch --ledger "sqlite:$dir/$db.db" --file h3.txt --time @$((T + i)) --queue "$@" >/dev/null
	done; } 2>&1 | cpu_ms
}
s0=$(swtpm_ms)
queue_n tpm "${asA[@]}" > tpm.ms
s1=$(swtpm_ms)
queue_n sw "${asS[@]}" > sw.ms
echo $((s1 - s0)) > swtpm.ms
for db in tpm sw; do
	L integrate --ledger "sqlite:$dir/$db.db" --key host1.key --cert host1.pem --max "$N" >/dev/null 2>&1
	# CPU time (user + system) of 10 verifies: the wall clock is the load's.
	for i in 1 2 3; do
		{ TIMEFORMAT='%3U %3S'; time for j in $(seq 10); do
			L verify --ledger "sqlite:$dir/$db.db" >/dev/null; done; } 2>&1 |
			awk '{ printf "%.0f\n", ($1 + $2) * 100 }'
	done > $db.verify
done
figures=$(python3 - "$N" <<'PY'
import statistics, sys
n = int(sys.argv[1])
def one(f): return int(open(f).read())
def best(f): return min(int(x) for x in open(f))
t, s, tpm, vt, vs = one("tpm.ms"), one("sw.ms"), one("swtpm.ms"), best("tpm.verify"), best("sw.verify")
print(f"{len(open('tpm.verify').readlines())} {len(open('sw.verify').readlines())} {int(t > 0 and s > 0)}")
print(f"ledger batch --queue, CPU ms a batch: TPM key {t / n:.1f} (kvmtrust) + {tpm / n:.1f} "
      f"(swtpm), software key {s / n:.1f}")
print(f"ledger verify of {n} host batches in one entry, CPU ms (best of 3 x 10 runs): "
      f"quoted {vt} ms, unquoted {vs} ms ({(vt - vs) / n:.3f} ms a quote)")
PY
)
echo "$figures" | tail -n +2 | tap_diag
tap_is "$N batches each way queued, sequenced as one entry each, verified and timed (above)" \
	"$(echo "$figures" | head -1) $(for db in tpm sw; do
		L verify --ledger "sqlite:$dir/$db.db" --script | cut -f1,2 | tr '\t' :; done | tr '\n' ' ')" \
	"3 3 1 true:1 true:1 "
tap_is "a log of quoted batches only verifies with --require-tpm" \
	"$(L verify --ledger "sqlite:$dir/tpm.db" --require-tpm --script | cut -f1,2)" "true	1"

if ! command -v etcd >/dev/null; then
	tap_skip "etcd: 3-member cluster" "etcd not installed"
	tap_skip "etcd: a quoted batch stored once, sequenced by reference" "etcd not installed"
	tap_skip "etcd: a software key's batch named by --require-tpm" "etcd not installed"
	tap_done
	exit 0
fi
trap 'etcd_cluster_stop; tap_workdir_cleanup' EXIT
mkdir -p "$dir/etcd"
etcd_cluster_start "$dir/etcd"
tap_result $? "etcd: 3-member cluster on 127.0.0.1"
E=(--ledger "etcd:$ETCD_ENDPOINTS")
L init "${E[@]}" >/dev/null
L batch "${E[@]}" --file h1.txt --time @$T --queue "${asA[@]}" >/dev/null
tap_is "etcd: a quoted batch stored once, sequenced by reference, verifies with --require-tpm" \
	"$(L integrate "${E[@]}" --key host1.key --cert host1.pem --script | cut -f1-3) $(
	   L verify "${E[@]}" --require-tpm --script | cut -f1,2)" "0	1	0 true	1"
L batch "${E[@]}" --file h2.txt --time @$T --queue "${asS[@]}" >/dev/null
L integrate "${E[@]}" --key host1.key --cert host1.pem >/dev/null 2>&1
tap_fails_with "etcd: a software key's batch next to it is named by --require-tpm" \
	"entry 1: batch 0 \(host $LEDGER_H2\): batch of host $LEDGER_H2 is signed by a software key" \
	L verify "${E[@]}" --require-tpm
tap_done
