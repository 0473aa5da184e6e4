#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kvmtrust ledger / score end to end on SQLite, and a crash test.
#
#   openssl: ca ──signs──> host1 (urn:uuid:1111...)   rogue ──signs──> intruder
#                     └──> host2 (urn:uuid:2222...)
#            owner-root ──signs──> alice, bob (VM owners)
#   kvmtrust ledger init, then kvmtrust ledger append ... --ledger sqlite:$dir/ledger.db
#   (ledger CA and owner anchors from KVMTRUST_LEDGER_CA, KVMTRUST_OWNER_ANCHORS)
#   crash: yes "attest --vm $CRASH --result pass" | kvmtrust ledger append -   <- kill -9
#          then reopen, verify, and find every acknowledged entry.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib/tap.sh
. scripts/lib/ledger-pki.sh

KT=${KVMTRUST_CLI:-$PWD/user/kvmtrust}
RFC=$PWD/scripts/lib/rfc9162.py
H1=$LEDGER_H1
H2=$LEDGER_H2
dir=$(mktemp -d /tmp/kvmtrust-ledger-sh.XXXXXX)
writer=
cleanup() {
	[ -n "$writer" ] && kill -9 "$writer" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

export KVMTRUST_LEDGER=sqlite:$dir/ledger.db KVMTRUST_LEDGER_CA=$dir/ca.pem
export KVMTRUST_OWNER_ANCHORS=$dir/owner-anchors
as1=(--key "$dir/host1.key" --cert "$dir/host1.pem")
as2=(--key "$dir/host2.key" --cert "$dir/host2.pem")
L() { "$KT" ledger "$@"; }
S() { "$KT" score show "$@"; }
status() { "$@" >/dev/null 2>&1; echo $?; }
WEB=7d4f2b1a-3c5e-4f60-8a9b-0c1d2e3f4a5b
DB=8e5a3c2b-4d6f-4a71-9bac-1d2e3f4a5b6c
OLD=9f6b4d3c-5e7a-4b82-8cbd-2e3f4a5b6c7d
CRASH=a07c5e4d-6f8b-4c93-9dce-3f4a5b6c7d8e
BATCH=b18d6f5e-7a9c-4da4-8edf-4a5b6c7d8e9f
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

tap_plan 63
tap_ok "test PKI from the openssl CLI" ledger_pki "$dir"

# Only 'ledger init' creates a ledger: a mistyped name is refused, never made.
tap_fails_with "a ledger that was never created is refused, by name" \
	"no-ledger: no ledger at 'sqlite:$dir/typo.db'" L head --ledger "sqlite:$dir/typo.db"
tap_is "  and reading it created nothing" "$(ls "$dir/typo.db" 2>/dev/null)" ""
tap_is "  it exits 3 (not found), appending to it too" \
	"$(status L verify --ledger "sqlite:$dir/typo.db") $(status L append attest --vm $WEB \
	--result pass "${as1[@]}" --ledger "sqlite:$dir/typo.db")" "3 3"
tap_fails_with "an unknown scheme is refused" "spec: unknown ledger 'foo:bar'" \
	L head --ledger foo:bar
tap_fails_with "a spec without a scheme is not taken as a file" "spec: unknown ledger" \
	L head --ledger "$dir/ledger.db"
tap_ok "ledger init creates it" L init
tap_fails_with "ledger init refuses an existing ledger" "exists: " L init

now=$(date +%s)
t=$((now + 60))	# entry times inside the certificates' validity
tap_ok "append attestation (pass)" L append attest --vm $WEB --result pass --time @$t \
	--measurement "$(printf 'ab%.0s' {1..32})" "${as1[@]}"
tap_ok "append attestation (fail), VM in capitals" L append attest "${as2[@]}" \
	--vm "${DB^^}" --result fail --time "$(iso $t)"
tap_ok "append move" L append move --vm $WEB --host $H2 --time @$((t + 1)) "${as2[@]}"
tap_ok "append compromise flag" L append compromise --host $H2 --time @$((t + 2)) "${as1[@]}"
out=$(L append revoke --vm $OLD --time @$((t + 3)) "${as1[@]}" --script)
tap_is "script output of append is index and leaf hash" "$(cut -f1 <<<"$out")" 4
tap_is "JSON output of append names the index" \
	"$(L append compromise --host $H1 --time @$((t + 3)) "${as2[@]}" --json | grep -c '"index": 5')" 1
tap_is "head has 6 entries" "$(L head --script | cut -f1)" 6
tap_is "get shows the entry, VM lowercase, time ISO 8601" \
	"$(L get --index 1 --script | cut -f2-5)" "attest	fail	$(iso $t)	$DB"
tap_is "JSON get names the VM" "$(L get --index 0 --json | grep -c "\"vm\": \"$WEB\"")" 1
tap_ok "verify passes" L verify

# Proof of entry 2 against the independent RFC 9162 script.
hexes=$(for i in 0 1 2 3 4 5; do L get --index $i --raw; done)
# shellcheck disable=SC2086
tap_is "root matches rfc9162.py" "$(L head --script | cut -f3)" "$(python3 "$RFC" root $hexes)"
# shellcheck disable=SC2086
tap_is "inclusion proof matches rfc9162.py" "$(L prove inclusion --index 2 | sed -n 's/^  //p')" \
	"$(python3 "$RFC" path 2 $hexes)"
# shellcheck disable=SC2086
tap_is "consistency proof matches rfc9162.py" \
	"$(L prove consistency --from 3 --size 6 | sed -n 's/^  //p')" "$(python3 "$RFC" proof 3 $hexes)"

tap_fails_with "writer under another CA is refused" "not trusted" \
	L append attest --vm $WEB --result fail --key "$dir/intruder.key" --cert "$dir/intruder.pem"
tap_fails_with "host1 cannot report for host2" "may not write" \
	L append attest --vm $WEB --result fail --host $H2 "${as1[@]}"
tap_is "bad usage exits 2" "$(status L append attest --vm $WEB --result maybe)" 2
tap_fails_with "an option of another kind is refused" "usage: move --vm UUID --host UUID" \
	L append move --vm $WEB --host $H2 --result pass "${as1[@]}"
tap_fails_with "keywords of the old grammar are refused" "an entry is one KIND" \
	L append attest $WEB pass "${as1[@]}"
tap_is "unknown entry exits 3" "$(status L get --index 99)" 3
tap_fails_with "a time that is not one is refused" "--time 'yesterday' is not a time" \
	L append attest --vm $WEB --result pass --time yesterday "${as1[@]}"
tap_fails_with "prove inclusion needs --index" "prove inclusion needs --index N" L prove inclusion
out=$(printf 'attest --vm %s --result pass\n# a comment\nattest --vm web --result pass\n' $BATCH |
	L append - "${as1[@]}" --script 2>"$dir/batch.err"; echo "rc=$?")
tap_is "a bad line stops append -, after the good ones, naming it" \
	"$(wc -l <<<"$out") $(tail -1 <<<"$out") $(grep -c "VM 'web' is not a UUID" "$dir/batch.err") $(grep -c 'stopped at line 3 of stdin' "$dir/batch.err")" \
	"2 rc=2 1 1"

# Owners: alice registers WEB; hosts cannot register, bob cannot take it over.
tap_ok "alice registers her VM" L register --vm $WEB --key "$dir/alice.key" --cert "$dir/alice.pem"
tap_fails_with "bob cannot register it again" "owner: VM $WEB is registered to \"CN=alice\"" \
	L register --vm $WEB --key "$dir/bob.key" --cert "$dir/bob.pem"
tap_fails_with "a host cannot register a VM" "authorization: .*host certificate" \
	L register --vm $DB "${as1[@]}"
tap_fails_with "register takes no host credentials from the environment" "register needs" \
	env KVMTRUST_LEDGER_KEY="$dir/host1.key" KVMTRUST_LEDGER_CERT="$dir/host1.pem" \
	"$KT" ledger register --vm $DB
tap_fails_with "verify needs the owner anchors for a register entry" "entry 7: .*owner anchors" \
	env KVMTRUST_OWNER_ANCHORS="$dir/nowhere" "$KT" ledger verify
tap_ok "with them the log verifies" L verify

# Format 3: an entry names the evidence it rests on and a note; old kinds
# without them keep their version 1 bytes. A log of its own (indices above).
v3=sqlite:$dir/v3.db
V() { L "$@" --ledger "$v3"; }
V init >/dev/null
printf 'signed report bytes\n' > "$dir/report.bin"
digest=$(sha256sum "$dir/report.bin" | cut -d' ' -f1)
V append attest --vm $WEB --result pass --time @$t "${as1[@]}" >/dev/null
tap_ok "attest with --report and --detail appends" V append attest --vm $WEB --result fail \
	--report "$dir/report.bin" --detail "range kernel-text" --time @$t "${as1[@]}"
tap_is "get prints the report's SHA-256 and the detail" \
	"$(V get --index 1 --json | grep -E '"(report|detail)"' | tr -d ' ,')" \
	"\"detail\":\"rangekernel-text\"
\"report\":\"$digest\""
tap_is "written in version 1 without them, version 3 with them" \
	"$(V get --index 0 --raw | cut -c1-2) $(V get --index 1 --raw | cut -c1-2)" "01 03"
tap_fails_with "a rollback needs the snapshot report" "usage: rollback --vm UUID" \
	V append rollback --vm $WEB --measurement "$(printf '%064d' 1)" --detail snap-1 "${as1[@]}"
tap_ok "a rollback entry with the proven root, snapshot id and report" \
	V append rollback --vm $WEB --measurement "$(printf '%064d' 1)" --detail snap-1 \
	--report "$dir/report.bin" --time @$t "${as1[@]}"
tap_is "the v3 log verifies and its root matches rfc9162.py" \
	"$(status V verify) $(V head --script | cut -f3)" \
	"0 $(python3 "$RFC" root $(for i in 0 1 2; do V get --index $i --raw; done))"
tap_fails_with "a detail with a control character is refused" "--detail must be" \
	V append attest --vm $WEB --result pass --detail "$(printf 'a\tb')" "${as1[@]}"
tap_is "a missing --report file exits 3, nothing appended" \
	"$(status V append attest --vm $WEB --result pass --report "$dir/nope" "${as1[@]}") \
$(V head --script | cut -f1)" "3 3"
python3 - "$dir/v3.db" <<'EOF2'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for idx, off in ((1, 100 + 36 + 32 + 1), (0, 0)):
    data = bytearray(db.execute("SELECT data FROM ledger_entries WHERE idx = ?", (idx,)).fetchone()[0])
    data[off] ^= 0x02 if off == 0 else 0x01	# a detail letter; version 1 -> 3
    db.execute("UPDATE ledger_entries SET data = ? WHERE idx = ?", (bytes(data), idx))
db.commit()
EOF2
tap_fails_with "a version 1 entry relabelled version 3 is refused by name" "entry 0: report and detail fields out of range" V verify
tap_is "(verify stops at the first bad entry; both edits are refused)" "$(status V verify)" 10

# Scores: web moved onto host2, which is flagged compromised: 100 - 50.
tap_is "score on a compromised host: verify first (exit 11)" \
	"$(status S --vm $WEB --at @$((t + 2)))" 11
tap_is "score at exactly 50" "$(S --vm $WEB --at @$((t + 2)) --script | head -1 | cut -f2)" 50
tap_is "one more hour of decay: deny (exit 10)" "$(status S --vm $WEB --at @$((t + 3601 + 1)))" 10
tap_is "80 after one failure, but the last result failed: verify first (exit 11)" \
	"$(status S --vm $DB --at @$t) $(S --vm $DB --at @$t --script | head -1 | cut -f2,3,8)" \
	"11 80	verify	fail"
tap_is "revoked VM is denied" "$(status S --vm $OLD --at @$((t + 3)))" 10
tap_is "unknown VM exits 3" "$(status S --vm 00000000-0000-4000-8000-000000000000)" 3
tap_is "a VM that is not a UUID is a usage error" "$(status S --vm web)" 2
first=$(S --vm $WEB --at @$((t + 2)) --full --script)
tap_is "score from the checkpoint: the --full result, 0600 beside the ledger" \
	"$(S --vm $WEB --at @$((t + 2)) --script | head -1) $(stat -c %a "$dir/ledger.db.checkpoint")" \
	"$(head -1 <<<"$first") 600"
tap_is "from the checkpoint, the VM's folded steps are one (at its last entry), then the rest" \
	"$(S --vm $WEB --at @$((t + 2)) --script | tail -n +2 | cut -f1,2,4 | tr '\t\n' ' ')" \
	"2 checkpoint 100 3 host-compromised 50 "
tap_is "nothing new since the checkpoint: one signature (the head) verified" \
	"$(S --vm $WEB --at @$((t + 2)) --json | grep -o '"signatures_verified": *[0-9]*' | tr -d ' ')" \
	'"signatures_verified":1'
tap_is "an explicit checkpoint file is written" \
	"$(status S --vm $WEB --at @$((t + 2)) --checkpoint "$dir/cp2") $(stat -c %a "$dir/cp2")" "11 600"
chmod 644 "$dir/cp2"
tap_fails_with "a checkpoint others may write is refused" "checkpoint: '.*cp2' may be written by others" \
	S --vm $WEB --at @$((t + 2)) --checkpoint "$dir/cp2"
tap_is "JSON score lists contributing entries (--full: each)" \
	"$(S --vm $WEB --at "$(iso $((t + 2)))" --full --json | grep -c '"reason"')" 3

# Rollback: restore an older copy of the whole file (validly signed, shorter).
tap_ok "verify pins the state it accepted" L verify --pin "$dir/pin"
python3 -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).backup(sqlite3.connect(sys.argv[2]))' \
	"$dir/ledger.db" "$dir/old.db"
L append attest --vm $WEB --result pass --time @$((t + 4)) "${as1[@]}" >/dev/null
tap_ok "a longer log extends the pin" L verify --pin "$dir/pin"
cp "$dir/old.db" "$dir/ledger.db"
rm -f "$dir/ledger.db-wal" "$dir/ledger.db-shm"
tap_ok "the restored old copy verifies on its own" L verify
tap_fails_with "but not against the pin: rolled back" "rolled back" L verify --pin "$dir/pin"

# Tamper behind the tool's back: flip the VM id of entry 1.
python3 - "$dir/ledger.db" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
data = bytearray(db.execute("SELECT data FROM ledger_entries WHERE idx = 1").fetchone()[0])
data[100] ^= 0x01
db.execute("UPDATE ledger_entries SET data = ? WHERE idx = 1", (bytes(data),))
db.commit()
EOF
tap_fails_with "edited entry is named by verify" "entry 1:" L verify
tap_is "verify of a bad log exits 10" "$(status L verify)" 10

# A checkpointed history rewritten (the file replaced by another, validly signed log).
fork=sqlite:$dir/fork.db
F() { S --vm $WEB --ledger "$fork" --checkpoint "$dir/fork.cp" "$@"; }
L init --ledger "$fork" >/dev/null
printf 'attest --vm %s --result pass\n' $WEB $WEB | L append - --ledger "$fork" "${as1[@]}" >/dev/null
status F >/dev/null
rm -f "$dir"/fork.db*
L init --ledger "$fork" >/dev/null
printf 'attest --vm %s --result fail\n' $WEB $WEB $WEB | L append - --ledger "$fork" "${as1[@]}" >/dev/null
tap_fails_with "score show refuses a rewritten history as a fork" "fork: the signed head \(3 entries\) does not extend the checkpoint \(2 entries\)" F
tap_is "--full verifies the new log whole and checkpoints it; then it is the reference" \
	"$(status F --full) $(status F)" "10 10"

# Crash test: kill -9 a stream of appends at random moments, three times.
crash_ok=0
for round in 1 2 3; do
	db=sqlite:$dir/crash.db
	[ "$round" = 1 ] && L init --ledger "$db" >/dev/null
	yes "attest --vm $CRASH --result pass" |
		"$KT" ledger append - --ledger "$db" "${as1[@]}" --script > "$dir/ack.$round" 2>/dev/null &
	writer=$!
	# Let it acknowledge something first (slow under load), then kill at random.
	for i in $(seq 200); do [ -s "$dir/ack.$round" ] && break; sleep 0.05; done
	sleep "0.$((RANDOM % 9 + 1))"
	kill -9 "$writer"
	wait "$writer" 2>/dev/null
	writer=
	last=$(tail -n 1 "$dir/ack.$round")
	idx=$(cut -f1 <<<"$last")
	v=$(L verify --ledger "$db" --script)
	size=
	[ "$(cut -f1 <<<"$v")" = true ] && size=$(cut -f2 <<<"$v")
	echo "# round $round: acknowledged up to entry ${idx:-none}, log holds ${size:-?} entries"
	if [ -n "$idx" ] && [ -n "$size" ] && [ "$size" -gt "$idx" ] &&
	   [ "$(L get --index "$idx" --ledger "$db" --script | cut -f9)" = "$(cut -f2 <<<"$last")" ]; then
		crash_ok=$((crash_ok + 1))
	fi
done
tap_is "kill -9 mid-stream: log verifies, no acknowledged entry lost (3 rounds)" "$crash_ok" 3

tap_done
