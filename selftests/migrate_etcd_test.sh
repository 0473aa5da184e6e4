#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kvmtrust migrate between two hosts that share a 3-member etcd ledger and
# each sign with a TPM of their own (Documentation/migration.rst, "Tests"):
#
#   netns src (host b, CA us) 10.77.0.1     veth     netns dst (host a, CA eu) 10.77.0.2
#     swtpm on its 127.0.0.1: host b's key             swtpm on its 127.0.0.1: host a's key
#     etcd m1, m3                      <- peers ->     etcd m2
#     QEMU -uuid VM (running)                          QEMU -uuid VM -S -incoming
#     kvmtrust migrate start     ---- TCP 75xx --->    kvmtrust migrate receive
#
# The ledger is etcd:m1,m2,m3 from both namespaces. Host b's TPM signs the
# final report (its TPM key certified by CA us for host b's UUID), host a
# checks it, the guest runs on host a, the etcd ledger holds the move; host
# a's TPM signs its own report of the arrived guest. The guest is mostly
# zero pages (SeaBIOS idling): the source's in-band first-pass mark has the
# destination measure during the stream, so its switchover measurement is
# incremental. Then host b is flagged compromised in the etcd ledger and
# the move back to it is refused before any guest byte moves.
set -u
cd "$(dirname "$0")/.."
. selftests/lib/migrate.sh
. scripts/lib/etcd-cluster.sh
. scripts/lib/swtpm.sh

GUEST_MIB=32
PLAN=17
port=7500
dir=$(mktemp -d /tmp/kt-migrate-etcd.XXXXXX)
tpm_pids=()

hosts_cleanup_more() {
	local p
	etcd_cluster_stop
	for p in "${tpm_pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
}
hosts_begin etcd swtpm swtpm_setup

# --- the hosts: namespaces, the etcd cluster across them, one TPM each -----------
two_hosts >"$dir/net.log" 2>&1
tap_diag <"$dir/net.log"
ETCD_ADDR=([1]=10.77.0.1 [2]="$DST" [3]=10.77.0.1)
ETCD_NETNS=([1]="$NS_SRC" [2]="$NS_DST" [3]="$NS_SRC")
mkdir "$dir/etcd" && etcd_cluster_start "$dir/etcd"
rc=$?
cat "$dir"/etcd/m*.log 2>/dev/null | tail -20 | tap_diag
tap_result $rc "3-member etcd across the two namespaces (m1, m3 on host b, m2 on host a)"
export KVMTRUST_LEDGER=etcd:$ETCD_ENDPOINTS
echo "# ledger: $KVMTRUST_LEDGER"

# tpm_host NAME NETNS UUID CA: NAME's own swtpm in its namespace, a host key
# in it (NAME/tpmkey), certified by CA for UUID from the key's own CSR with
# the extensions of NAME's certificate (host UUID, location).
tpm_host() {
	local name=$1 netns=$2 uuid=$3 ca=$4 rc
	SWTPM_NETNS=$netns swtpm_start "$dir/$name-swtpm"
	rc=$?
	[ -n "$SWTPM_PID" ] && tpm_pids+=("$SWTPM_PID")
	SWTPM_PID=
	[ "$rc" -eq 0 ] || { cat "$dir/$name-swtpm"*.log; return 1; }
	ip netns exec "$netns" "$KVMTRUST" tpm init --tcti "$SWTPM_TCTI" --host-id "$uuid" \
		--key-dir "$dir/$name/tpmkey" &&
	openssl x509 -req -in "$dir/$name/tpmkey/host.csr" -CA "$dir/$ca/cert.pem" \
		-CAkey "$dir/$ca/key.pem" -days 1 -set_serial "0x$(openssl rand -hex 15)" \
		-extfile "$dir/$name/ext.cnf" -extensions ext -out "$dir/$name/tpmkey/leaf.pem" &&
	cat "$dir/$name/tpmkey/leaf.pem" "$dir/$ca/chain.pem" >"$dir/$name/tpmkey/cert.pem"
}
tpm_host host-b "$NS_SRC" "$HOST_B" us >"$dir/tpm.log" 2>&1 &&
tpm_host host-a "$NS_DST" "$HOST_A" eu >>"$dir/tpm.log" 2>&1
rc=$?
tap_diag <"$dir/tpm.log"
tap_is "a swtpm per host, each holding its host's key, certified by its CA" \
	"$rc $(ip netns exec "$NS_SRC" "$KVMTRUST" tpm show --key-dir "$dir/host-b/tpmkey" --script |
	       cut -f1) $(ip netns exec "$NS_DST" "$KVMTRUST" tpm show --key-dir "$dir/host-a/tpmkey" \
	       --script | cut -f1)" "0 tpm tpm"

# --- the owner, the etcd ledger, the identities (from host b's namespace) --------
kt_in=("${in_src[@]}")
(
	cd "$dir" && migrate_setup &&
	kt grant issue --key alice/key.pem --cert alice/chain.pem --uuid "$VM" --host-ca us/cert.pem \
		--delegate bob/cert.pem --days 1 -o us.grant
) >"$dir/setup.log" 2>&1
tap_is "setup on the etcd ledger: owner, attestation, token, grants" "$?" 0
tap_diag <"$dir/setup.log"

# --- host b to host a: signed by host b's TPM, recorded in etcd -----------------
qemu src
size=$(ledger_size)
move e-move --key-dir "$dir/host-b/tpmkey"
tap_is "migrated b -> a over TCP, the ledger on etcd: both sides exit 0" \
	"$(cat "$dir/start.status") $rs" "0 0"
tap_is "  the destination guest runs, the source QEMU quit" \
	"$(qmp "$dir/dst.qmp" query-status) $(gone "$src_pid" && echo quit)" "running quit"
claims=$(python3 -c 'import base64, json, sys
p = open(sys.argv[1]).read().split(".")[1]
d = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
print(d.get("key"), "tpm" in d)' "$dir/final.jwt" 2>&1)
tap_is "  the final report is signed by host b's TPM key (with its quote)" "$claims" "tpm True"
tap_is "  it verifies on its own as TPM-signed by host b for the arrived roots" \
	"$(kt verify "$dir/final.jwt" --anchors "$dir/host-anchors" --crls "$dir/host-anchors" \
	   --max-age -1 --require-tpm --expect-memory-root "$(js "$dir/e-move.out" memory_root)" \
	   --expect-vcpu-root "$(js "$dir/e-move.out" vcpu_root)" | sed -n 's/^host: //p')" "$HOST_B"

# The ledger as host a sees it, through its own member m2 only.
in_a_m2() { ip netns exec "$NS_DST" env KVMTRUST_LEDGER="etcd:${ETCD_CLIENT[2]}" "$@"; }
tap_is "  the etcd ledger, read on host a through m2: attest pass and the move to host a" \
	"$(kt_in=(in_a_m2); entry "$size"; entry $((size + 1)))" "attest	pass	$VM	$HOST_A
move	-	$VM	$HOST_A"
tap_is "  the move names the final report by its digest" \
	"$(kt_in=(in_a_m2); entry_field $((size + 1)) report)" "$(js "$dir/e-move.out" report_digest)"
tap_ok "  the ledger verifies through the cluster from host b" kt ledger verify

# The in-band first-pass mark: a guest of zero pages (its stream far below
# its RAM) is measured during the stream, and incrementally at switchover.
total=$((GUEST_MIB << 8))
n=$(js "$dir/e-move.out" pages_hashed)
tap_is "  the source marked the end of QEMU's first pass in the stream" \
	"$(js "$dir/start.out" first_pass_marked)" True
tap_is "  the destination measured at the mark, then incrementally at switchover" \
	"$([ "$(js "$dir/e-move.out" early_measure_ms)" -gt 0 ] 2>/dev/null && echo early) $(
	   js "$dir/e-move.out" measure_full)" "early False"
tap_ok "  $n pages hashed at switchover, not the guest's $total (at most 1/8)" \
	test "${n:-x}" -le $((total / 8)) 2>/dev/null
tap_ok "  the stream was far below the guest's RAM ($(js "$dir/e-move.out" bytes) bytes)" \
	test "$(js "$dir/e-move.out" bytes)" -lt $((GUEST_MIB << 19)) 2>/dev/null

# Host a's own TPM attests the guest that now runs on it.
qmp "$dir/dst.qmp" stop >/dev/null
"${in_dst[@]}" "$KVMTRUST" attest --pid "$dst_pid" --key-dir "$dir/host-a/tpmkey" \
	-o "$dir/a.jwt" >"$dir/a-attest.log" 2>&1
rc=$?
qmp "$dir/dst.qmp" cont >/dev/null
tap_diag <"$dir/a-attest.log"
tap_is "host a's TPM signs its report of the arrived guest, verified as host a's" \
	"$rc $(kt verify "$dir/a.jwt" --anchors "$dir/host-anchors" --crls "$dir/host-anchors" \
	   --require-tpm | sed -n 's/^host: //p')" "0 $HOST_A"

# --- back to host b, flagged compromised in the etcd ledger: refused -------------
kt ledger append compromise --host "$HOST_B" >"$dir/comp.log" 2>&1
size=$(ledger_size)
port=$((port + 1))
rm -f "$dir/back.qmp" "$dir/back.sock"
"${in_src[@]}" qemu-system-x86_64 -accel kvm -machine pc,smm=off -m "$GUEST_MIB" -nodefaults \
	-display none -uuid "$VM" -qmp "unix:$dir/back.qmp,server=on,wait=off" -S \
	-incoming "unix:$dir/back.sock" </dev/null >"$dir/back.log" 2>&1 &
back_pid=$!
pids+=($!)
wait_for "$dir/back.qmp"
"${in_src[@]}" "$KVMTRUST" migrate receive --listen "10.77.0.1:$port" --qmp "$dir/back.qmp" \
	--incoming "$dir/back.sock" --key "$dir/host-b/key.pem" --cert "$dir/host-b/chain.pem" \
	--anchors "$dir/host-anchors" --crls "$dir/host-anchors" --aud "$AUD" \
	--ledger "$KVMTRUST_LEDGER" >"$dir/back.out" 2>"$dir/back.err" &
recv_pid=$!
pids+=($!)
wait_for "$dir/back.err" "listening on"
"${in_dst[@]}" "$KVMTRUST" migrate start --qmp "$dir/dst.qmp" --connect "10.77.0.1:$port" \
	--token "$dir/new.jwt" --guest-key "$dir/guest.pem" --anchors "$dir/host-anchors" \
	--crls "$dir/host-anchors" --grant "$dir/us.grant" --by "$dir/bob/cert.pem" \
	--key-dir "$dir/host-a/tpmkey" --no-revoke-token >"$dir/back-start.out" 2>"$dir/back-start.err"
ss=$?
reap; rs=$?
cat "$dir/comp.log" "$dir/back-start.err" "$dir/back.err" | tap_diag
tap_is "host b flagged compromised in the etcd ledger: the move back refused by host-compromise" \
	"$ss $rs $(grep -o '^Refused: host-compromise' "$dir/back.err")" \
	"10 10 Refused: host-compromise"
tap_is "  before any guest byte: the guest runs on host a, host b's QEMU quit, no ledger entry" \
	"$(qmp "$dir/dst.qmp" query-status) $(gone "$back_pid" && echo quit) $(
	   grep -c '^received' "$dir/back.err") $(ledger_size)" "running quit 0 $size"

tap_done
