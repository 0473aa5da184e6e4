#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kvmtrust ledger / score end to end on SQLite, and a crash test.
#
#   openssl: ca ──signs──> host1 (urn:uuid:1111...)   rogue ──signs──> intruder
#                     └──> host2 (urn:uuid:2222...)
#   kvmtrust ledger --ledger sqlite:$dir/ledger.db --ca ca.pem ...
#   crash: yes "attest crash pass" | kvmtrust ledger append -   <- kill -9
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
as1=(--key "$dir/host1.key" --cert "$dir/host1.pem")
as2=(--key "$dir/host2.key" --cert "$dir/host2.pem")
L() { "$KT" ledger "$@"; }
status() { "$@" >/dev/null 2>&1; echo $?; }

tap_plan 32
tap_ok "test PKI from the openssl CLI" ledger_pki "$dir"

now=$(date +%s)
t=$((now + 60))	# entry times inside the certificates' validity
tap_ok "append attestation (pass)" L "${as1[@]}" append attest web pass time $t \
	measurement "$(printf 'ab%.0s' {1..32})"
tap_ok "append attestation (fail)" L "${as2[@]}" append attest db fail time $t
tap_ok "append move" L "${as2[@]}" append move web $H2 time $((t + 1))
tap_ok "append compromise flag" L "${as1[@]}" append compromise $H2 time $((t + 2))
out=$(L "${as1[@]}" --script append revoke vm old time $((t + 3)))
tap_is "script output of append is index and leaf hash" "$(cut -f1 <<<"$out")" 4
tap_is "head has 5 entries" "$(L --script head | cut -f1)" 5
tap_is "get shows the entry" "$(L --script get 1 | cut -f2,3,5)" "attest	fail	db"
tap_is "JSON get names the VM" "$(L --json get 0 | grep -c '"vm": "web"')" 1
tap_ok "verify passes" L verify

# Proof of entry 2 against the independent RFC 9162 script.
hexes=$(for i in 0 1 2 3 4; do L get $i raw; done)
# shellcheck disable=SC2086
tap_is "root matches rfc9162.py" "$(L --script head | cut -f3)" "$(python3 "$RFC" root $hexes)"
# shellcheck disable=SC2086
tap_is "inclusion proof matches rfc9162.py" "$(L prove inclusion 2 | sed -n 's/^  //p')" \
	"$(python3 "$RFC" path 2 $hexes)"
# shellcheck disable=SC2086
tap_is "consistency proof matches rfc9162.py" "$(L prove consistency 3 5 | sed -n 's/^  //p')" \
	"$(python3 "$RFC" proof 3 $hexes)"

tap_fails_with "writer under another CA is refused" "not trusted" \
	L --key "$dir/intruder.key" --cert "$dir/intruder.pem" append attest web fail
tap_fails_with "host1 cannot report for host2" "may not write" \
	L "${as1[@]}" append attest web fail host $H2
tap_is "bad usage exits 2" "$(status L append attest web maybe)" 2
tap_is "unknown entry exits 3" "$(status L get 99)" 3

# Scores: web moved onto host2, which is flagged compromised: 100 - 50.
tap_is "score on a compromised host: verify first (exit 11)" \
	"$(status "$KT" score show web at $((t + 2)))" 11
tap_is "score at exactly 50" "$("$KT" score --script show web at $((t + 2)) | head -1 | cut -f2)" 50
tap_is "one more hour of decay: deny (exit 10)" \
	"$(status "$KT" score show web at $((t + 3601 + 1)))" 10
tap_is "80 after one failure: allow (exit 0)" "$(status "$KT" score show db at $t)" 0
tap_is "revoked VM is denied" "$(status "$KT" score show old at $((t + 3)))" 10
tap_is "unknown VM exits 3" "$(status "$KT" score show nosuch)" 3
first=$("$KT" score --script show web at $((t + 2)) cache "$dir/cache")
tap_is "score with a cache: same result, cache written" \
	"$("$KT" score --script show web at $((t + 2)) cache "$dir/cache") $(cut -d' ' -f1 "$dir/cache")" \
	"$first 5"
tap_is "JSON score lists contributing entries" \
	"$("$KT" score --json show web at $((t + 2)) | grep -c '"reason"')" 3

# Rollback: restore an older copy of the whole file (validly signed, shorter).
tap_ok "verify pins the state it accepted" L verify pin "$dir/pin"
python3 -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).backup(sqlite3.connect(sys.argv[2]))' \
	"$dir/ledger.db" "$dir/old.db"
L "${as1[@]}" append attest web pass time $((t + 4)) >/dev/null
tap_ok "a longer log extends the pin" L verify pin "$dir/pin"
cp "$dir/old.db" "$dir/ledger.db"
rm -f "$dir/ledger.db-wal" "$dir/ledger.db-shm"
tap_ok "the restored old copy verifies on its own" L verify
tap_fails_with "but not against the pin: rolled back" "rolled back" L verify pin "$dir/pin"

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

# Crash test: kill -9 a stream of appends at random moments, three times.
crash_ok=0
for round in 1 2 3; do
	db=sqlite:$dir/crash.db
	yes "attest crash pass" | "$KT" ledger --ledger "$db" "${as1[@]}" --script append - \
		> "$dir/ack.$round" 2>/dev/null &
	writer=$!
	# Let it acknowledge something first (slow under load), then kill at random.
	for i in $(seq 200); do [ -s "$dir/ack.$round" ] && break; sleep 0.05; done
	sleep "0.$((RANDOM % 9 + 1))"
	kill -9 "$writer"
	wait "$writer" 2>/dev/null
	writer=
	last=$(tail -n 1 "$dir/ack.$round")
	idx=$(cut -f1 <<<"$last")
	v=$(L --ledger "$db" --script verify)
	size=
	[ "$(cut -f1 <<<"$v")" = true ] && size=$(cut -f2 <<<"$v")
	echo "# round $round: acknowledged up to entry ${idx:-none}, log holds ${size:-?} entries"
	if [ -n "$idx" ] && [ -n "$size" ] && [ "$size" -gt "$idx" ] &&
	   [ "$(L --ledger "$db" --script get "$idx" | cut -f9)" = "$(cut -f2 <<<"$last")" ]; then
		crash_ok=$((crash_ok + 1))
	fi
done
tap_is "kill -9 mid-stream: log verifies, no acknowledged entry lost (3 rounds)" "$crash_ok" 3

tap_done
