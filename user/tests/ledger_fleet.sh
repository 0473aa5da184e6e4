#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Many writers, one cluster: 8 host processes append to one 3-member etcd
# cluster at once while the leader is killed twice (the first victim is
# restarted before the second kill, so a quorum stays).
#
#   host1..host8 ── 'ledger append -' ──> m1 m2 m3 (loopback, free ports)
#
# Checks: every writer finishes, every acknowledged entry is in the log
# exactly once (leaf hash by index, no index acknowledged twice), the log
# verifies, and every writer made progress while the others wrote.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib/tap.sh
. scripts/lib/ledger-pki.sh
. scripts/lib/etcd-cluster.sh

KT=${KVMTRUST_CLI:-$PWD/user/kvmtrust}
W=8
N=${KVMTRUST_FLEET_N:-40}
tap_plan 10

if ! command -v etcd >/dev/null; then
	for i in $(seq 10); do tap_skip "etcd fleet step $i" "etcd not installed (scripts/setup installs etcd-server)"; done
	exit 0
fi

dir=$(mktemp -d /tmp/kvmtrust-ledger-fleet.XXXXXX)
cleanup() {
	etcd_cluster_stop
	jobs -p | xargs -r kill -9 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
L() { "$KT" ledger "$@"; }
host_uuid() { printf '%08d-0000-4000-8000-%012d' "$1" "$1"; }

hosts() {
	local w
	for w in $(seq 3 $W); do
		ledger_pki_host "$dir" "host$w" ca "$(host_uuid "$w")" || return 1
	done
}
tap_ok "test PKI with $W hosts" eval 'ledger_pki "$dir" && hosts'
etcd_cluster_start "$dir"
tap_result $? "3-member etcd cluster on 127.0.0.1"
export KVMTRUST_LEDGER=etcd:$ETCD_ENDPOINTS KVMTRUST_LEDGER_CA=$dir/ca.pem
tap_ok "ledger init" L init

# Each writer starts at another member; VMs differ per writer.
pids=()
for w in $(seq $W); do
	seq "$N" | awk -v w="$w" '{ printf "attest --vm %08d-0000-4000-8000-%012d --result pass\n", w, $1 }' \
		> "$dir/w$w.in"
	m=$(( (w - 1) % 3 + 1 ))
	L append - --ledger "etcd:${ETCD_CLIENT[m]},$ETCD_ENDPOINTS" --key "$dir/host$w.key" \
		--cert "$dir/host$w.pem" --script < "$dir/w$w.in" > "$dir/w$w.ack" 2> "$dir/w$w.err" &
	pids+=($!)
done
acked() { cat "$dir"/w*.ack 2>/dev/null | wc -l; }
wait_acked() {
	local i
	for i in $(seq 600); do
		[ "$(acked)" -ge "$1" ] && return 0
		sleep 0.05
	done
	return 1
}
kills=0
for round in 1 2; do
	wait_acked $((round * W * N / 3))
	leader=$(etcd_leader)
	echo "# round $round: killing leader m${leader:-?} after $(acked) acknowledged entries"
	if [ -n "$leader" ]; then
		etcd_kill "$leader"
		kills=$((kills + 1))
		sleep 1
		etcd_restart "$leader" || echo "# m$leader did not come back"
	fi
done
tap_is "the leader was killed twice during the appends" "$kills" 2
rcs=
for p in "${pids[@]}"; do wait "$p"; rcs+="$? "; done
for w in $(seq $W); do sed "s/^/# writer $w: /" "$dir/w$w.err"; done
tap_is "all $W writers finished" "$rcs" "$(printf '0 %.0s' $(seq $W))"
tap_is "every entry was acknowledged" "$(acked)" $((W * N))
tap_is "no index acknowledged twice (no fork)" "$(cut -f1 "$dir"/w*.ack | sort | uniq -d | wc -l)" 0
size=$(L verify --script | awk -F'\t' '$1 == "true" { print $2 }')
tap_is "the log verifies and holds exactly the acknowledged entries" "$size" $((W * N))
# Script form of get: index kind result time vm host measurement prev_root leaf signer.
missing=0
while IFS=$'\t' read -r idx leaf; do
	[ "$(L get --index "$idx" --script | cut -f9)" = "$leaf" ] || missing=$((missing + 1))
done < <(cat "$dir"/w*.ack)
tap_is "every acknowledged entry is in the log, at its index" "$missing" 0
# Fair progress: every writer had entries land in the first half of the log.
early=$(cat "$dir"/w*.ack | awk -F'\t' -v half=$((W * N / 2)) '$1 < half' | wc -l)
firsts=0
for w in $(seq $W); do
	awk -F'\t' -v half=$((W * N / 2)) '$1 < half' "$dir/w$w.ack" | grep -q . && firsts=$((firsts + 1))
done
echo "# entries in the first half: $early; writers with one there: $firsts"
tap_is "every writer made progress in the first half of the log" "$firsts" $W
tap_done
