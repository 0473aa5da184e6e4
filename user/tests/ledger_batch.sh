#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host batches through the CLI, on SQLite:
#
#   host1 ── ledger batch ─────────────┐
#   host2 ── ledger batch --queue ──> queue ── ledger integrate (sequencer) ──> log
#
# a batch appended and verified; a result changed in the stored batch named
# by verify (entry, batch, host, result, VM); another host's VM refused
# (placement), the same interval twice refused (replay); queued batches
# integrated as one entry and gone from the queue; batched results scored
# exactly as the same results appended one entry each; provenance of a VM
# that moved (batched results on host1, a move and an attestation on host2)
# checked offline by scripts/provenance-check, and 40 random single hex
# digits changed in its proofs each refused; usage errors; direct appends
# from a checkpoint (placement from its fold, a rewritten history a fork).
set -u
cd "$(dirname "$0")/../.."
. scripts/lib/tap.sh
. scripts/lib/ledger-pki.sh

KT=${KVMTRUST_CLI:-$PWD/user/kvmtrust}
CHECK=$PWD/scripts/provenance-check
tap_plan 25
tap_workdir kvmtrust-ledger-batch
as1=(--key "$dir/host1.key" --cert "$dir/host1.pem")
as2=(--key "$dir/host2.key" --cert "$dir/host2.pem")
L() { "$KT" ledger "$@"; }
status() { "$@" >/dev/null 2>&1; echo $?; }
vm() { printf '4000000%d-0000-4000-8000-%012d' "$1" "$2"; }
export KVMTRUST_LEDGER=sqlite:$dir/ledger.db KVMTRUST_LEDGER_CA=$dir/ca.pem

tap_ok "test PKI" ledger_pki "$dir"
tap_ok "ledger init" L init
T=$(( $(date +%s) + 1 ))
for i in 0 1 2 3 4; do echo "$(vm 1 $i) $([ $i = 3 ] && echo fail || echo pass) report=$(printf '%064x' $i)"; done > h1.txt
tap_is "host1 appends a batch of 5 results" "$(L batch --file h1.txt --time @$T "${as1[@]}" --script | cut -f1,3)" "0	5"
tap_is "the log verifies" "$(L verify --script | cut -f1,2)" "true	1"

# Result 3 (the one that failed) changed to pass inside the stored entry.
python3 - "$dir/ledger.db" "$(vm 1 3)" <<'PY'
import sqlite3, sys, uuid
db = sqlite3.connect(sys.argv[1])
data = bytearray(db.execute("SELECT data FROM ledger_entries WHERE idx = 0").fetchone()[0])
at = data.index(uuid.UUID(sys.argv[2]).bytes)
data[at + 16] = 1
db.execute("UPDATE ledger_entries SET data = ? WHERE idx = 0", (bytes(data),))
db.commit()
PY
tap_fails_with "verify names the entry, the batch, its host and the changed result" \
	"entry 0: batch 0 \(host $LEDGER_H1\): result 3 \(VM $(vm 1 3)\): does not match its check bytes" L verify
tap_is "  and exits 10" "$(status L verify)" 10
rm -f ledger.db*
L init >/dev/null
L batch --file h1.txt --time @$T "${as1[@]}" >/dev/null

echo "$(vm 1 2) pass" > steal.txt
tap_fails_with "host2 cannot write a result for host1's VM" \
	"placement: batch 0 \(host $LEDGER_H2\): result 0 \(VM $(vm 1 2)\): the VM is on host $LEDGER_H1" \
	L batch --file steal.txt --time @$T "${as2[@]}"
tap_fails_with "the same host and interval twice is a replay" "replay: batch 0 \(host $LEDGER_H1\)" \
	L batch --file h1.txt --time @$T "${as1[@]}"

# The sequencer: two hosts queue, one tick appends both as one entry.
for i in 0 1 2; do echo "$(vm 2 $i) fail"; done > h2.txt
L batch --file h2.txt --time @$T --queue "${as2[@]}" >/dev/null
L batch --file h1.txt --time @$((T + 5)) --queue "${as1[@]}" >/dev/null
tap_is "integrate appends both queued batches as one entry" \
	"$(L integrate "${as1[@]}" --script | cut -f1-3)" "1	2	0"
tap_is "  the queue is empty after it" \
	"$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from ledger_queue").fetchone()[0])' "$dir/ledger.db")" 0
tap_is "  and the next tick writes nothing" "$(L integrate "${as1[@]}" --script | wc -l)" 0
tap_is "the log verifies with the sequenced entry" "$(L verify --script | cut -f1,2)" "true	2"

# The same results as single entries score the same.
S() { "$KT" score show --full --vm "$1" --script --at @$((T + 60)) | head -1 | cut -f2,3,5; }
L init --ledger "sqlite:$dir/singles.db" >/dev/null
for f in h1.txt h1.txt; do
	while read -r v r rest; do echo "attest --vm $v --result $r"; done < $f
done | L append - --ledger "sqlite:$dir/singles.db" "${as1[@]}" >/dev/null
while read -r v r; do echo "attest --vm $v --result $r"; done < h2.txt |
	L append - --ledger "sqlite:$dir/singles.db" "${as2[@]}" >/dev/null
same=0
for v in "$(vm 1 0)" "$(vm 1 3)" "$(vm 2 1)"; do
	a=$(S "$v") b=$(KVMTRUST_LEDGER=sqlite:$dir/singles.db S "$v")
	echo "# $v batched: $a singles: $b"
	[ -n "$a" ] && [ "$a" = "$b" ] && same=$((same + 1))
done
tap_is "batched results score as the same single entries (score, decision, host compromised)" "$same" 3

# Provenance: vm(1,1) ran on host1 (two batches), then moved to host2.
V=$(vm 1 1)
L append move --vm "$V" --host "$LEDGER_H2" "${as2[@]}" >/dev/null
L append attest --vm "$V" --result pass --report <(echo report) "${as2[@]}" >/dev/null
L provenance --vm "$V" --from 1 --json > prov.json
tap_is "provenance lists the hosts in order" \
	"$(python3 -c 'import json,sys; print(" ".join(h["host"][:8] for h in json.load(open(sys.argv[1]))["hosts"]))' prov.json)" \
	"${LEDGER_H1:0:8} ${LEDGER_H2:0:8}"
tap_is "  and checks offline, with no ledger" "$("$CHECK" --ca ca.pem prov.json)" \
	"provenance verified: 4 entries"
refused=$(python3 - prov.json "$CHECK" <<'PY'
import json, random, subprocess, sys
doc = json.load(open(sys.argv[1]))
blobs = []   # (path, key): every hex value the proofs rest on
def walk(o, path):
    if isinstance(o, dict):
        for k, v in o.items():
            walk(v, path + [k])
    elif isinstance(o, list):
        for i, v in enumerate(o):
            walk(v, path + [i])
    elif isinstance(o, str) and len(o) >= 64 and all(c in "0123456789abcdef" for c in o):
        blobs.append(path)
rng = random.Random(17)
walk(doc, [])
n = 0
for _ in range(40):
    path = rng.choice(blobs)
    d = json.loads(json.dumps(doc))
    o = d
    for k in path[:-1]:
        o = o[k]
    v = o[path[-1]]
    i = rng.randrange(len(v))
    o[path[-1]] = v[:i] + rng.choice([c for c in "0123456789abcdef" if c != v[i]]) + v[i + 1:]
    json.dump(d, open("flip.json", "w"))
    r = subprocess.run([sys.argv[2], "--ca", "ca.pem", "flip.json"],
                       capture_output=True, text=True)
    n += r.returncode == 1 and "refused" in r.stdout
print(n)
PY
)
tap_is "  40 random single hex digits changed in its proofs: every one refused" "$refused" 40
tap_fails_with "provenance of a VM the ledger does not know" "vm: the ledger holds no entry" \
	L provenance --vm "$(vm 3 3)"
tap_is "  exit 3" "$(status L provenance --vm "$(vm 3 3)")" 3

tap_fails_with "a line that is not VM pass|fail is a usage error" "line 1: 'nope' is not a VM UUID" \
	sh -c "echo nope | $KT ledger batch --key $dir/host1.key --cert $dir/host1.pem"
tap_is "  exit 2" "$(echo "$(vm 1 0) maybe" | status L batch "${as1[@]}")" 2
tap_fails_with "an empty batch is refused" "the batch holds no results" \
	sh -c "echo '# nothing' | $KT ledger batch --key $dir/host1.key --cert $dir/host1.pem"

# Direct appends from a checkpoint: each process verifies what is new since
# the last one and checks placement against the checkpoint's folded state.
cpl=(--ledger "sqlite:$dir/cp.db" --checkpoint "$dir/batch.cp")
L init --ledger "sqlite:$dir/cp.db" >/dev/null
echo "$(vm 1 0) pass" > one.txt
L batch --file h1.txt --time @$T "${cpl[@]}" "${as1[@]}" >/dev/null
L batch --file one.txt --time @$((T + 1)) "${cpl[@]}" "${as1[@]}" >/dev/null
tap_fails_with "from a checkpoint (VM 2 only in its folded entry), host2 cannot write host1's VM" \
	"placement: batch 0 \(host $LEDGER_H2\): result 0 \(VM $(vm 1 2)\): the VM is on host $LEDGER_H1" \
	L batch --file steal.txt --time @$((T + 2)) "${cpl[@]}" "${as2[@]}"
tap_is "  the checkpoint is 0600; the log of 2 entries verifies" \
	"$(stat -c %a "$dir/batch.cp") $(L verify --ledger "sqlite:$dir/cp.db" --script | cut -f1,2)" "600 true	2"
rm -f "$dir"/cp.db*
L init --ledger "sqlite:$dir/cp.db" >/dev/null
for t in 5 6 7; do L batch --file one.txt --time @$((T + t)) --ledger "sqlite:$dir/cp.db" "${as1[@]}" >/dev/null; done
tap_fails_with "  a history rewritten under it is refused as a fork" "fork: the signed head" \
	L batch --file one.txt --time @$((T + 8)) "${cpl[@]}" "${as1[@]}"
tap_fails_with "  --checkpoint with --queue is a usage error" "--checkpoint is for direct appends" \
	L batch --file one.txt --queue "${cpl[@]}" "${as1[@]}"
tap_done
