#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# In the test VM: kvmtrustd writes its results to a ledger shared through a
# 3-member etcd cluster (scripts/lib/etcd-cluster.sh), and the etcd leader
# is killed (-9) while the daemon attests two of our test guests every
# second. No result may be lost or written twice: every result the daemon
# logs as appended ("entry N ... report D") is in the ledger at N, exactly
# once; the ledger holds nothing the daemon did not report; the daemon kept
# attesting after the leader loss; the log verifies through the two
# survivors; no guest is left frozen.
#
#   selftests/build/vmm --uuid $U1 (guest a)   selftests/build/vmm --uuid $U2 (guest b)
#        ^ KVMTRUST_CMD_MEASURE each second
#   kvmtrustd -c $tmp/d.conf   ledger = etcd:m1,m2,m3
#        v                               ^ the leader: kill -9 after 3 rounds each
#   etcd m1 m2 m3 on 127.0.0.1 (data in $tmp/etcd)
set -u
cd "$(dirname "$0")/.."
. scripts/lib/tap.sh
. scripts/lib/ledger-pki.sh
. scripts/lib/etcd-cluster.sh
. selftests/lib/kvmtrustd.sh
. selftests/lib/vmm.sh

K=$PWD/user/kvmtrust
KD=$PWD/user/kvmtrustd
tmp=$(mktemp -d /tmp/kt-daemon-etcd.XXXXXX)
U1=9d4e5f6a-7b8c-4d9e-8f0a-b1c2d3e4f5a6
U2=ae5f6a7b-8c9d-4eaf-9a1b-c2d3e4f5a6b7
pids=() daemon= mounted_proc=

cleanup() {
	[ -n "$daemon" ] && kill -9 "$daemon" 2>/dev/null
	for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null; done
	exec 3>&- 5>&- 2>/dev/null
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	etcd_cluster_stop
	[ -n "$mounted_proc" ] && umount /proc
	[ -n "${KT_KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT

N=13
tap_plan $N
if [ ! -x selftests/build/vmm ] || [ ! -d /sys/module/kvmtrust ] || ! command -v etcd >/dev/null; then
	for i in $(seq $N); do
		tap_skip "kvmtrustd etcd step $i" "needs selftests/build/vmm, kvmtrust.ko and etcd"
	done
	exit 0
fi
if [ ! -e /proc/self/fd ]; then
	echo "# /proc in this chroot is not procfs; mounting it for this test"
	mount -t proc proc /proc && mounted_proc=1
fi
# The bare initramfs leaves loopback down: etcd listens on 127.0.0.1.
ip link set lo up

# Not through tap_ok: the cluster's variables must land in this shell.
mkdir "$tmp/etcd" && etcd_cluster_start "$tmp/etcd"
rc=$?
tap_result $rc "3-member etcd cluster on 127.0.0.1 in the VM"
[ $rc -eq 0 ] || {
	for i in $(seq 2 $N); do tap_result 1 "kvmtrustd etcd step $i (no cluster)"; done
	exit 1
}
echo "# endpoints: $ETCD_ENDPOINTS"
ledger_pki "$tmp" && KVMTRUST_KEY_DIR=$tmp/hostkey "$K" tpm init --software --host-id vm-host \
	>/dev/null 2>&1
export KVMTRUSTD_SOCKET=$tmp/d.sock KVMTRUST_LEDGER=etcd:$ETCD_ENDPOINTS \
	KVMTRUST_LEDGER_CA=$tmp/ca.pem KVMTRUST_OWNER_ANCHORS=$tmp/owner-anchors
tap_ok "ledger init on the cluster" "$K" ledger init

vmm_start 1 "$U1"
vmm_start 2 "$U2"
{ kvmtrustd_global "$tmp" | sed "s|^ledger = .*|ledger = etcd:$ETCD_ENDPOINTS|"; cat <<EOT; } >"$tmp/d.conf"
[vm a]
uuid = $U1
memory_root = learn

[vm b]
uuid = $U2
memory_root = learn
EOT
"$KD" -c "$tmp/d.conf" 2>"$tmp/d.log" &
daemon=$!
wait_for '[.vms[] | .rounds >= 3] | all'
tap_result $? "kvmtrustd attests both guests into the etcd ledger (3 rounds each)"

leader=$(etcd_leader) || leader=
[ -n "$leader" ] || { tap_result 1 "the cluster has a leader to kill"; exit 1; }
before=$(st '[.vms[].rounds] | add')
etcd_kill "$leader"
echo "# killed the leader m$leader after $before rounds"
sleep 10
after=$(st '[.vms[].rounds] | add')
echo "# rounds: $before before the kill, $after ten seconds later"
new=$(etcd_leader)
tap_is "a new leader among the two survivors" \
	"$([ -n "$new" ] && [ "$new" != "$leader" ] && echo yes)" yes
tap_is "the daemon kept attesting after the leader loss ($((after - before)) rounds)" \
	"$([ "$after" -gt "$before" ] && echo yes)" yes
status_rounds=$(st '[.vms[].rounds] | add')
tap_is "no guest frozen (status)" "$(st '[.vms[].frozen] | any')" false
kill -TERM "$daemon"; wait "$daemon"
tap_is "SIGTERM stops kvmtrustd with status 0" "$?" 0
daemon=
tap_diag <"$tmp/d.log"

# From here on only the survivors are asked.
surv=
for i in 1 2 3; do
	[ "$i" = "$leader" ] || surv+="${surv:+,}${ETCD_CLIENT[i]}"
done
export KVMTRUST_LEDGER=etcd:$surv
tap_ok "ledger verify through the two survivors" "$K" ledger verify

# Every entry: index vm report; every result the daemon logged: index uuid report.
size=$("$K" ledger head --script | cut -f1)
for i in $(seq 0 $((size - 1))); do
	"$K" ledger get --index "$i" --json | jq -r '"\(.index) \(.vm) \(.report)"'
done >"$tmp/ledger.txt"
sed -n 's/.*\[vm \([ab]\)\] [A-Za-z]* ([a-z-]*): entry \([0-9]*\), score .*, report \([0-9a-f]*\)$/\2 \1 \3/p' \
	"$tmp/d.log" | sed "s/ a / $U1 /; s/ b / $U2 /" >"$tmp/logged.txt"
logged=$(wc -l <"$tmp/logged.txt")
echo "# $size ledger entries, $logged results logged as appended, $status_rounds counted before SIGTERM"
# Files, not <(...): the VM's chroot has no /dev/fd.
sort "$tmp/logged.txt" >"$tmp/logged.sorted" && sort "$tmp/ledger.txt" >"$tmp/ledger.sorted" &&
	comm -23 "$tmp/logged.sorted" "$tmp/ledger.sorted" >"$tmp/missing" &&
	comm -13 "$tmp/logged.sorted" "$tmp/ledger.sorted" >"$tmp/extra"
tap_is "every result the daemon logged as appended is in the ledger at its index ($logged)" \
	"$([ "$logged" -gt 0 ] && [ -e "$tmp/missing" ] && wc -l <"$tmp/missing")" 0
tap_diag <"$tmp/missing"
dups=$(cut -d' ' -f3 "$tmp/ledger.txt" | sort | uniq -d | wc -l)
tap_is "  exactly once: no report twice, no entry the daemon did not report" \
	"$dups $(wc -l <"$tmp/extra")" "0 0"
tap_diag <"$tmp/extra"
tap_is "  and the status counters agree (>= $status_rounds counted, $logged logged, $size entries)" \
	"$([ "$logged" -ge "$status_rounds" ] && [ "$logged" = "$size" ] && echo yes)" yes
lost=$(grep -c 'not attested' "$tmp/d.log")
grep 'not attested' "$tmp/d.log" | tap_diag
tap_is "no round failed or was dropped during the election" "$lost" 0
vmm_n 1 state && vmm_n 2 state &&
	[[ $(awk '{print $3}' "/proc/${pids[0]}/stat" "/proc/${pids[1]}/stat" | tr -d '\n') != *T* ]]
tap_result $? "both VMMs are left as they were: not stopped (SIGSTOP), they answer"
tap_done
