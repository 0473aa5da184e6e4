#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kvmtrustd as the receiving service of a verified migration, inside the
# test VM (selftests/run-in-vm): the destination host runs no
# `kvmtrust migrate receive` of its own; its kvmtrustd listens, and each
# connection is a session it starts and reaps (Documentation/kvmtrustd.rst,
# "Receiving migrations").
#
#   netns src (host b, CA us)   10.77.0.1      netns dst (host a, CA eu)  10.77.0.2
#   QEMU -uuid VM (running)      veth pair     QEMU -uuid VM -S -incoming in.sock
#   kvmtrust migrate start  ---- TCP 7480 ---> kvmtrustd [receive], [vm guest] incoming
#                                                 `-> kvmtrust migrate receive
#                                                     --accepted-fd --expect VM,...
#
# First a grant for another VM: refused before any guest byte moves, the
# daemon keeps running and the guest keeps awaiting (its QEMU still waits
# for a stream). Then the happy path into that same waiting QEMU: the
# guest runs on host a, the ledger has the move, and the daemon's next
# round attests it.
set -u
cd "$(dirname "$0")/.."
. selftests/lib/migrate.sh

OTHER_VM=8e5a3c2b-4d6f-4a71-9bac-1d2e3f4a5b6c
GUEST_MIB=32	# within run-in-vm's 300 s under TCG
PLAN=22
KD=$PWD/user/kvmtrustd
dir=$(mktemp -d /tmp/kt-drecv.XXXXXX)
daemon=
recv_name=none	# show(): the sessions' messages are in the daemon's log, shown at the end
hosts_cleanup_more() { [ -n "$daemon" ] && kill "$daemon" 2>/dev/null; }
hosts_begin jq

two_hosts >"$dir/net.log" 2>&1
tap_diag <"$dir/net.log"
tap_ok "two hosts: namespaces joined by a veth pair, the source reaches $DST over TCP" reachable

(
	cd "$dir" && migrate_setup && host_key_dir host-a "$HOST_A" &&
	kt grant issue --key alice/key.pem --cert alice/chain.pem --uuid "$OTHER_VM" \
		--host-ca eu/cert.pem --delegate bob/cert.pem --days 1 -o other.grant
) >"$dir/setup.log" 2>&1
setup=$?
tap_diag <"$dir/setup.log"
tap_is "setup: ledger, grants, the guest's token, host keys" "$setup" 0

# What the guest must hold wherever it runs (Documentation/policy.rst), learnt
# from a QEMU of the same configuration once SeaBIOS has settled: 8 pages
# SeaBIOS leaves alone and the vCPU's gdt.base (a running guest would fail a
# whole-memory memory_root). Not from the source QEMU itself: its measurement
# at the switchover must find its VM attached as migrate start left it.
qemu learn
qemu src
sleep 3
kt policy learn --pid "$learn_pid" --range 0x200000:0x8000 --vcpu-pred gdt.base \
	-o "$dir/guest.json" 2>"$dir/learn.err"
tap_result $? "the guest's runtime policy, learnt from a QEMU of the same configuration"
tap_diag <"$dir/learn.err"
kill "$learn_pid"; wait "$learn_pid" 2>/dev/null

# Host a's kvmtrustd: its own rounds write the ledger as host a, and it receives the guest.
cat >"$dir/d.conf" <<EOT
interval = 1
ledger = $KVMTRUST_LEDGER
ledger_ca = $KVMTRUST_LEDGER_CA
ledger_key = $dir/host-a/key.pem
ledger_cert = $dir/host-a/cert.pem
key_dir = $dir/host-a/hostkey
owner_anchors = $dir/owner-anchors
socket = $dir/d.sock
state_dir = $dir/state
[receive]
listen = $DST:7480
key = $dir/host-a/key.pem
cert = $dir/host-a/chain.pem
anchors = $dir/host-anchors
crls = $dir/host-anchors
aud = $AUD
host_anchors = $dir/host-anchors
session_timeout = 120
[vm guest]
uuid = $VM
qmp = $dir/dst.qmp
incoming = $dir/in.sock
token_out = $dir/new.jwt
policy = $dir/guest.json
EOT
export KVMTRUSTD_SOCKET=$dir/d.sock
st() { "$KVMTRUST" daemon status --json | jq -r "$1"; }
wait_st() {	# wait_st JQ: up to 60 s for the daemon's status to make JQ true
	local i
	for i in $(seq 600); do [ "$(st "$1" 2>/dev/null)" = true ] && return 0; sleep 0.1; done
	return 1
}

dst_qemu
"${in_dst[@]}" "$KD" -c "$dir/d.conf" 2>"$dir/d.log" &
daemon=$!
pids+=($daemon)
for _ in $(seq 100); do grep -q "listening on $DST:7480" "$dir/d.log" && [ -S "$dir/d.sock" ] && break; sleep 0.1; done
sleep 1.5
tap_is "kvmtrustd listens on host a; the guest awaits, not attested" \
	"$(st '.receive.listen + " " + .vms[0].incoming + " " + (.vms[0].rounds | tostring)')" \
	"$DST:7480 awaiting 0"

# --- no grant for this VM: refused before any byte moves -------------------------
size=$(ledger_size)
start "$DST:7480" --grant "$dir/other.grant"
show
tap_is "a grant for another VM: the source exits 10" "$(cat "$dir/start.status")" 10
wait_st '.receive.sessions == 0 and .receive.accepted == 1'
tap_ok "  the daemon's session refused it by rule vm" grep -q "refused (exit 10): vm: " "$dir/d.log"
tap_ok "  no byte of the guest moved" bash -c "! grep -q 'received [0-9]* bytes' '$dir/d.log'"
tap_is "  the daemon runs on, the guest still awaiting" \
	"$(kill -0 "$daemon" && st '.vms[0].incoming + " " + (.vms[0].rounds | tostring)')" "awaiting 0"
tap_is "  its QEMU still waits for a stream" "$(qmp "$dir/dst.qmp" query-status)" inmigrate
tap_is "  the source guest still runs" "$(qmp "$dir/src.qmp" query-status)" running
tap_is "  nothing was appended" "$(ledger_size)" "$size"

# --- the happy path, into the QEMU that kept waiting ------------------------------
start "$DST:7480" --json
show
cat "$dir/start.out" | tap_diag
tap_is "verified migration to kvmtrustd: the source exits 0" "$(cat "$dir/start.status")" 0
tap_ok "  the daemon sees the arrival" wait_st '.vms[0].incoming == "arrived"'
tap_is "  the guest runs on host a" "$(qmp "$dir/dst.qmp" query-status)" running
tap_ok "  the source QEMU quit" gone "$src_pid"
tap_is "  the ledger: the final attestation passed, then the move to host a" \
	"$(entry "$size"; entry $((size + 1)))" "attest	pass	$VM	$HOST_A
move	-	$VM	$HOST_A"
tap_is "  a new token for the guest, issued by host a" \
	"$(kt token verify --anchors "$dir/host-anchors" --crls "$dir/host-anchors" --aud "$AUD" \
	   "$dir/new.jwt" | sed -n 's/^\(guest\|host\): *//p' | tr '\n' ' ')" "$VM $HOST_A "
tap_ok "  then it joins the daemon's rounds and passes one" \
	wait_st '.vms[0].rounds >= 1 and .vms[0].result == "pass"'
tap_is "  on the QEMU that arrived" "$(st '.vms[0].pid')" "$dst_pid"
round=$(st '.vms[0].ledger_index')
tap_is "  the round's entry: a pass for the guest on host a" "$(entry "$round")" \
	"attest	pass	$VM	$HOST_A"
tap_is "  status counts one session refused by its checks, one arrived" \
	"$(st '"\(.receive.accepted) \(.receive.arrived) \(.vms[0].received)"')" "2 1 arrived"
kill -TERM "$daemon"; wait "$daemon"
tap_is "kvmtrustd stops with status 0" "$?" 0
daemon=
tap_diag <"$dir/d.log"
tap_done
