#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The trust ledger shared through a 3-member etcd cluster.
#
#        host1 writer ──┐                 ┌── m1 127.0.0.1:base+1
#                       ├─ JSON gateway ──┼── m2 127.0.0.1:base+2   (raft peers on
#        host2 writer ──┘   /v3/kv/txn    └── m3 127.0.0.1:base+3    base+4..base+6)
#
# 0. only 'ledger init' makes a ledger under the prefix: reading or
#    appending before it is refused, a second init too;
# 1. both hosts append a stream at the same time: one log, no fork, every
#    acknowledged entry present exactly once;
# 2. the leader is killed (-9) in the middle of a stream: the writer fails
#    over and the log keeps every acknowledged entry;
# 3. the log verifies through the surviving members, proofs and scores work;
#    a second ledger under another key prefix shares the cluster;
# 4. a member serving TLS with client-certificate auth (KVMTRUST_ETCD_*).
set -u
cd "$(dirname "$0")/../.."
. scripts/lib/tap.sh
. scripts/lib/ledger-pki.sh
. scripts/lib/etcd-cluster.sh

KT=${KVMTRUST_CLI:-$PWD/user/kvmtrust}
N=150
tap_plan 27

if ! command -v etcd >/dev/null; then
	for i in $(seq 27); do tap_skip "etcd ledger step $i" "etcd not installed (scripts/setup installs etcd-server)"; done
	exit 0
fi

dir=$(mktemp -d /tmp/kvmtrust-ledger-etcd.XXXXXX)
tls_pid=
cleanup() {
	etcd_cluster_stop
	[ -n "$tls_pid" ] && kill "$tls_pid" 2>/dev/null && wait "$tls_pid" 2>/dev/null
	# Writers still running after a failed step.
	jobs -p | xargs -r kill -9 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

as1=(--key "$dir/host1.key" --cert "$dir/host1.pem")
as2=(--key "$dir/host2.key" --cert "$dir/host2.pem")
L() { "$KT" ledger "$@"; }
# VM UUIDs by name, for the streams below.
declare -A VM=([first]=00000000-0000-4000-8000-0000000000f1 [a]=00000000-0000-4000-8000-00000000000a
	[b]=00000000-0000-4000-8000-00000000000b [c]=00000000-0000-4000-8000-00000000000c
	[t]=00000000-0000-4000-8000-0000000000f2)
stream() { seq "$N" | sed "s/.*/attest --vm ${VM[$1]} --result $2/" > "$dir/$1.in"; }

# Every acknowledged line names an entry whose leaf hash matches. Script
# form of get: index kind result time vm host measurement prev_root leaf signer.
acked_present() {
	local idx leaf got missing=0
	while IFS=$'\t' read -r idx leaf; do
		got=$(L get --index "$idx" --script 2>&1)
		if [ "$(printf '%s\n' "$got" | cut -f9)" != "$leaf" ]; then
			missing=$((missing + 1))
			# Diagnostics go to stderr so the count stays the only output.
			printf '# acked %s leaf %s, get says: %s\n' "$idx" "$leaf" "$got" >&2
		fi
	done < "$1"
	echo "$missing"
}

tap_ok "test PKI" ledger_pki "$dir"
# Not through tap_ok: the cluster's variables must land in this shell.
etcd_cluster_start "$dir"
tap_result $? "3-member etcd cluster on 127.0.0.1"
export KVMTRUST_LEDGER=etcd:$ETCD_ENDPOINTS KVMTRUST_LEDGER_CA=$dir/ca.pem
export KVMTRUST_OWNER_ANCHORS=$dir/owner-anchors
echo "# endpoints: $ETCD_ENDPOINTS"

# 0. The prefix holds no ledger until 'ledger init'.
tap_fails_with "reading before init is refused" "no-ledger: no ledger at 'etcd:.*' \(no kvmtrust/ledger/format key\)" \
	L head
tap_fails_with "appending before init is refused" "no-ledger: " \
	L append attest --vm "${VM[first]}" --result pass "${as1[@]}"
tap_ok "ledger init" L init
tap_fails_with "a second init is refused" "exists: a ledger exists already" L init

tap_ok "first append" L append attest --vm "${VM[first]}" --result pass "${as1[@]}"

# 1. Two writers at once, each starting from a different member.
stream a pass; stream b fail
L append - --ledger "etcd:${ETCD_CLIENT[1]},${ETCD_CLIENT[2]}" "${as1[@]}" --script \
	< "$dir/a.in" > "$dir/a.ack" 2> "$dir/a.err" &
wa=$!
L append - --ledger "etcd:${ETCD_CLIENT[3]},${ETCD_CLIENT[2]}" "${as2[@]}" --script \
	< "$dir/b.in" > "$dir/b.ack" 2> "$dir/b.err" &
wb=$!
wait $wa; ra=$?
wait $wb; rb=$?
tap_is "both writers finished" "$ra $rb" "0 0"
tap_is "both writers had every entry acknowledged" \
	"$(cat "$dir/a.ack" "$dir/b.ack" | wc -l)" $((2 * N))
# How often the log switches writer: > 1 means the two really raced.
echo "# writer switches in the log: $(cat "$dir/a.ack" <(sed 's/$/\tb/' "$dir/b.ack") |
	sort -n | awk -F'\t' '{ w = ($3 == "b") } NR > 1 && w != last { n++ } { last = w }
	END { print n + 0 }')"
tap_is "no index acknowledged twice (no fork)" \
	"$(cut -f1 "$dir/a.ack" "$dir/b.ack" | sort | uniq -d | wc -l)" 0
size=$(L verify --script | awk -F'\t' '$1 == "true" { print $2 }')
tap_is "log verifies with every entry of both writers" "$size" $((2 * N + 1))
tap_is "every acknowledged entry is in the log" \
	"$(acked_present "$dir/a.ack") $(acked_present "$dir/b.ack")" "0 0"

# 2. Kill the leader while a stream is being appended.
stream c pass
L append - "${as1[@]}" --script < "$dir/c.in" > "$dir/c.ack" 2> "$dir/c.err" &
wc_pid=$!
for i in $(seq 200); do
	[ "$(wc -l < "$dir/c.ack")" -ge 30 ] && break
	sleep 0.05
done
leader=$(etcd_leader)
echo "# killing leader m${leader:-?} after $(wc -l < "$dir/c.ack") acknowledged entries"
etcd_kill "${leader:-1}"
wait $wc_pid; rc=$?
sed 's/^/# writer: /' "$dir/c.err"
tap_is "writer rode out the leader loss" "$rc $(wc -l < "$dir/c.ack")" "0 $N"
tap_is "nothing acknowledged was lost" "$(acked_present "$dir/c.ack")" 0
size=$(L verify --script | awk -F'\t' '$1 == "true" { print $2 }')
tap_is "log verifies through the two survivors" "$size" $((3 * N + 1))
tap_ok "appending goes on with one member down" L append move --vm "${VM[b]}" --host $LEDGER_H2 "${as2[@]}"

# 3. Scores from the shared log: host2 reported 150 failures, b is on it.
tap_is "score of a: allow" "$("$KT" score show --vm "${VM[a]}" >/dev/null 2>&1; echo $?)" 0
tap_is "score of b: deny (fails and a compromised host)" \
	"$("$KT" score show --vm "${VM[b]}" --script | head -1 | cut -f2,3,5)" "0	deny	true"

# A format key this version does not know is not taken for its own ledger.
put_format() {
	local url
	for url in "${ETCD_CLIENT[@]}"; do
		curl -sf -X POST "$url/v3/kv/put" -d "{\"key\": \"$(printf kvmtrust/ledger/format |
			base64 -w0)\", \"value\": \"$(printf "$1" | base64 -w0)\"}" >/dev/null && return 0
	done
	return 1
}
put_format "kvmtrust-ledger 2"
tap_fails_with "an unknown ledger format is refused" "unknown ledger format" L head
put_format "kvmtrust-ledger 1"

# A second ledger in the same cluster, under its own key prefix.
B="etcd:$ETCD_ENDPOINTS?prefix=tenant-b/ledger"
tap_fails_with "another prefix holds no ledger until its own init" \
	"no-ledger: no ledger at '.*\?prefix=tenant-b/ledger' \(no tenant-b/ledger/format key\)" L head --ledger "$B"
tap_is "init, append and verify under the prefix: a log of its own" \
	"$(L init --ledger "$B" >/dev/null && L append attest --vm "${VM[a]}" --result pass --ledger "$B" "${as1[@]}" >/dev/null &&
	   L verify --ledger "$B" --script | cut -f1,2)" "true	1"
tap_is "the default prefix's ledger is untouched" \
	"$(L verify --script | cut -f1,2)" "true	$((3 * N + 2))"
tap_fails_with "a prefix with an empty part is refused" "spec: etcd key prefix 'a//b'" \
	L head --ledger "etcd:$ETCD_ENDPOINTS?prefix=a//b"
tap_fails_with "an unknown option after ? is refused, not ignored" "spec: etcd ledger option 'prefx=a' is unknown" \
	L head --ledger "etcd:$ETCD_ENDPOINTS?prefx=a"

# 4. One member serving TLS with client certificates (--client-cert-auth).
tls_member() {
	local base url
	mkdir -p "$dir/tls" && cd "$dir/tls" || return 1
	ledger_pki_ca . etcd-ca &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key \
		-out srv.csr -subj /CN=etcd 2>/dev/null &&
	printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' > srv.ext &&
	openssl x509 -req -in srv.csr -CA etcd-ca.pem -CAkey etcd-ca.key -CAcreateserial \
		-out srv.pem -days 30 -extfile srv.ext 2>/dev/null &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout cli.key \
		-out cli.csr -subj /CN=client 2>/dev/null &&
	printf 'extendedKeyUsage=clientAuth\n' > cli.ext &&
	openssl x509 -req -in cli.csr -CA etcd-ca.pem -CAkey etcd-ca.key -CAcreateserial \
		-out cli.pem -days 30 -extfile cli.ext 2>/dev/null || return 1
	cd - >/dev/null || return 1
	base=$(etcd_free_base)
	url=https://127.0.0.1:$((base + 1))
	etcd --name t1 --data-dir "$dir/tls/data" --listen-client-urls "$url" \
		--advertise-client-urls "$url" \
		--listen-peer-urls "http://127.0.0.1:$((base + 2))" \
		--initial-advertise-peer-urls "http://127.0.0.1:$((base + 2))" \
		--initial-cluster "t1=http://127.0.0.1:$((base + 2))" \
		--cert-file "$dir/tls/srv.pem" --key-file "$dir/tls/srv.key" \
		--trusted-ca-file "$dir/tls/etcd-ca.pem" --client-cert-auth \
		--logger zap --log-level error > "$dir/tls/etcd.log" 2>&1 &
	tls_pid=$!
	TLS_URL=$url
	for i in $(seq 100); do
		sleep 0.1
		curl -sf --cacert "$dir/tls/etcd-ca.pem" --cert "$dir/tls/cli.pem" \
			--key "$dir/tls/cli.key" "$url/health" 2>/dev/null | grep -q true && return 0
	done
	return 1
}
tls_member
tap_result $? "etcd member with TLS and client certificate auth"
tls() {
	KVMTRUST_ETCD_CACERT=$dir/tls/etcd-ca.pem KVMTRUST_ETCD_CERT=$dir/tls/cli.pem \
	KVMTRUST_ETCD_KEY=$dir/tls/cli.key L "$@" --ledger "etcd:$TLS_URL"
}
tap_ok "init, append and verify over TLS with a client certificate" \
	eval 'tls init && tls append attest --vm "${VM[t]}" --result pass "${as1[@]}" && tls verify'
tap_fails_with "a server the CA does not vouch for is refused" "certificate|SSL" \
	env KVMTRUST_ETCD_CACERT="$dir/ca.pem" "$KT" ledger head --ledger "etcd:$TLS_URL"

tap_done
