#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kvmtrust migrate start / receive end to end inside the test VM
# (selftests/run-in-vm), two "hosts" in one network namespace joined by unix
# sockets (Documentation/migration.rst, "Tests"):
#
#   host b (source, CA us)                        host a (destination, CA eu)
#   +--------------------------+   unix socket    +---------------------------+
#   | QEMU -uuid VM  (running) |                  | QEMU -uuid VM -S -incoming |
#   |   ^ QMP                  |                  |   ^ QMP      ^ in.sock     |
#   | kvmtrust migrate start --+--> [relay.py] -->+ kvmtrust migrate receive   |
#   +--------------------------+  (flips a byte   +---------------------------+
#                                  in the MITM case)
#
# CA tree: scripts/lib/grant-tree.sh (alice owns the VM and grants CA eu,
# bob is her delegate); one SQLite ledger.
set -u
cd "$(dirname "$0")/.."
. selftests/lib/migrate.sh

OTHER_VM=8e5a3c2b-4d6f-4a71-9bac-1d2e3f4a5b6c
PLAN=49
dir=$(mktemp -d /tmp/kt-migrate.XXXXXX)

cleanup() {
	migrate_cleanup
	mountpoint -q "$dir/shm" 2>/dev/null && umount "$dir/shm"
	[ -n "${KT_KEEP:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT

grant_tree_env "$dir"

tap_plan $PLAN
if [ ! -c /dev/kvm ] || ! command -v qemu-system-x86_64 >/dev/null || ! "$KVMTRUST" info >/dev/null 2>&1 ||
   ! (cd "$dir" && make_tree) >"$dir/setup.log" 2>&1; then
	cat "$dir/setup.log" 2>/dev/null | tap_diag
	for i in $(seq $PLAN); do tap_skip "migrate $i" "no /dev/kvm, QEMU, kvmtrust.ko or openssl"; done
	exit 0
fi

# --- the owner, the ledger, the guest's identity ------------------------------------
(
	cd "$dir" && migrate_setup &&
	kt grant issue --key alice/key.pem --cert alice/chain.pem --uuid "$OTHER_VM" \
		--host-ca eu/cert.pem --delegate bob/cert.pem --days 1 -o other.grant &&
	kt token issue --key host-b/key.pem --cert host-b/chain.pem --uuid "$OTHER_VM" --aud "$AUD" \
		--guest-key guest.pem -o other.jwt
) >"$dir/setup.log" 2>&1
setup=$?
tap_diag <"$dir/setup.log"
tap_is "setup: ledger, registration, grants, the guest's tokens, host b's host key" "$setup" 0

# --- refused before any byte moves ----------------------------------------------
qemu src
dst_qemu
tap_is "source guest running" "$(qmp "$dir/src.qmp" query-status)" running
tap_is "destination waits for the stream" "$(qmp "$dir/dst.qmp" query-status)" inmigrate

receive recv1 host-b "unix:$dir/recv1.sock" --ledger "$KVMTRUST_LEDGER"
start "unix:$dir/recv1.sock"
reap; rs=$?
show
tap_is "destination outside the grant's CAs: source exits 10" "$(cat "$dir/start.status")" 10
tap_ok "  and says which rule" grep -q "rule host-ca" "$dir/start.err"
tap_is "  the destination exits 10 too" "$rs" 10
tap_ok "  naming the rule" grep -q "^Refused: host-ca" "$dir/recv1.err"
tap_is "  the source guest still runs" "$(qmp "$dir/src.qmp" query-status)" running
tap_ok "  no byte of the guest moved" bash -c "! grep -q 'received' '$dir/recv1.err'"

dst_qemu
receive recv2 host-a "unix:$dir/recv2.sock" --ledger "$KVMTRUST_LEDGER"
start "unix:$dir/recv2.sock" --grant "$dir/other.grant"
reap; rs=$?
show
tap_is "a grant for another VM: source exits 10" "$(cat "$dir/start.status")" 10
tap_ok "  the destination refuses by rule vm" grep -q "^Refused: vm" "$dir/recv2.err"
tap_is "  the source guest still runs" "$(qmp "$dir/src.qmp" query-status)" running

receive recv0 host-a "unix:$dir/recv0.sock" --ledger "$KVMTRUST_LEDGER" --qmp "$dir/src.qmp"
reap; rs=$?
tap_is "receive refuses a QEMU that is not waiting for a stream" \
	"$rs $(grep -o 'is running, not waiting with -incoming' "$dir/recv0.err")" \
	"1 is running, not waiting with -incoming"

dst_qemu
receive recv6 host-a "unix:$dir/recv6.sock" --ledger "$KVMTRUST_LEDGER"
start "unix:$dir/recv6.sock" --token "$dir/other.jwt"
reap; rs=$?
show
tap_is "a token for another VM than the incoming QEMU's: destination refuses by vm, exit 10" \
	"$rs $(grep -o '^Refused: vm: the token is for VM' "$dir/recv6.err")" "10 Refused: vm: the token is for VM"
tap_is "  the source exits 10" "$(cat "$dir/start.status")" 10
tap_is "  the source guest still runs" "$(qmp "$dir/src.qmp" query-status)" running

# --- a man in the middle flips one byte of the stream ---------------------------
dst_qemu
receive recv3 host-a "unix:$dir/recv3.sock" --ledger "$KVMTRUST_LEDGER"
python3 "$RELAY" "unix:$dir/mitm.sock" "unix:$dir/recv3.sock" flip 20000 >"$dir/mitm.log" 2>&1 &
pids+=($!)
wait_for "$dir/mitm.log" listening
start "unix:$dir/mitm.sock"
reap; rs=$?
show
tap_ok "the relay flipped a byte" grep -q flipped "$dir/mitm.log"
tap_is "  the destination refuses the stream (decrypt), exit 10" \
	"$rs $(grep -o '^Refused: decrypt' "$dir/recv3.err")" "10 Refused: decrypt"
tap_ok "  the source fails" test "$(cat "$dir/start.status")" -ne 0
tap_ok "  the destination's copy is discarded" gone "$dst_pid"
tap_is "  the source guest runs again" "$(qmp "$dir/src.qmp" query-status)" running

# --- the happy path -------------------------------------------------------------------
dst_qemu
receive recv4 host-a "unix:$dir/recv4.sock" --ledger "$KVMTRUST_LEDGER" \
	--token-out "$dir/new.jwt" --report-out "$dir/final.jwt"
size=$(ledger_size)
t0=$(date +%s%N)
start "unix:$dir/recv4.sock" --ledger "$KVMTRUST_LEDGER"
t1=$(date +%s%N)
reap; rs=$?
show
cat "$dir/start.out" "$dir/recv4.out" | tap_diag
tap_is "verified migration: source exits 0" "$(cat "$dir/start.status")" 0
tap_is "  destination exits 0" "$rs" 0
tap_is "  the destination guest runs" "$(qmp "$dir/dst.qmp" query-status)" running
tap_ok "  the source QEMU quit" gone "$src_pid"
root=$(field memory_root "$dir/start.out")
tap_is "  both sides agree on memory_root" "${root:-none} ${root:-none}" \
	"$(field memory_root "$dir/recv4.out") $(field memory_root "$dir/start.out")"
root=$(field vcpu_root "$dir/start.out")
tap_ok "  and on vcpu_root" test -n "$root" -a "$root" = "$(field vcpu_root "$dir/recv4.out")"
tap_is "  the ledger: the final attestation passed, then the move to host a" \
	"$(entry "$size"; entry $((size + 1)))" "attest	pass	$VM	$HOST_A
move	-	$VM	$HOST_A"
grant_id=$(kt grant show --script "$dir/vm.grant" | head -1 | cut -f1)
tap_is "  the move names the grant that allowed it, and provenance prints it" \
	"$(entry_field $((size + 1)) detail; kt ledger provenance --vm "$VM" --json |
	python3 -c 'import json, sys
print(" ".join(e.get("detail") or "-" for e in json.load(sys.stdin)["entries"] if e["kind"] == "move"))')" \
	"grant:${grant_id:-none}
grant:${grant_id:-none}"
digest=$(field report_digest "$dir/start.out")
tap_is "  the final report the destination kept is the one the source signed" \
	"$(sha256sum <"$dir/final.jwt" | cut -c1-64) $(field report_digest "$dir/recv4.out")" \
	"${digest:-none} ${digest:-none}"
tap_ok "  it verifies on its own: host b's chain, the arrived roots" \
	kt verify "$dir/final.jwt" --anchors "$dir/host-anchors" --crls "$dir/host-anchors" \
	--kind vm-state --expect-memory-root "$(field memory_root "$dir/recv4.out")" \
	--expect-vcpu-root "$(field vcpu_root "$dir/recv4.out")"
tap_is "  signed by host b's key" "$(kt verify "$dir/final.jwt" --anchors "$dir/host-anchors" |
	sed -n 's/^host: //p')" "$HOST_B"
tap_is "  a new token for the guest, issued by host a" \
	"$(kt token verify --anchors "$dir/host-anchors" --crls "$dir/host-anchors" --aud "$AUD" \
	   "$dir/new.jwt" | sed -n 's/^\(guest\|host\): *//p' | tr '\n' ' ')" "$VM $HOST_A "
tap_is "  both entries name the final report by its digest (format 3)" \
	"$(entry_field "$size" report) $(entry_field $((size + 1)) report)" "${digest:-none} ${digest:-none}"
echo "# verified migration of 64 MiB: $(( (t1 - t0) / 1000000 )) ms end to end"

# --- the old token, issued by host b, revoked by host b once the guest runs on host a ---
jti=$(kt token show --json "$dir/token.jwt" | python3 -c 'import json, sys; print(json.load(sys.stdin)["jti"])')
tap_is "  the destination confirmed the guest runs there; host b revoked the old token after" \
	"$(field destination_running "$dir/start.out") $(field old_token "$dir/start.out") $(
	   field old_token_state "$dir/start.out") $(field revocation_index "$dir/start.out")" \
	"yes ${jti:-none} revoked $((size + 2))"
tap_is "  the revoke entry: the token's jti, the new host as its reason, the move's report" \
	"$(entry_field $((size + 2)) kind vm detail report)" \
	"revoke token:${jti:-none} moved to host $HOST_A ${digest:-none}"
kt token verify --anchors "$dir/host-anchors" --crls "$dir/host-anchors" --aud "$AUD" \
	--ledger "$KVMTRUST_LEDGER" "$dir/token.jwt" >"$dir/old.out" 2>&1
tap_is "  the old token: refused by token verify --ledger (revocation, exit 10)" \
	"$? $(grep -o "^Refused: revocation: token ${jti:-none} was revoked by its issuer in ledger entry [0-9]*" "$dir/old.out")" \
	"10 Refused: revocation: token ${jti:-none} was revoked by its issuer in ledger entry $((size + 2))"
tap_ok "  the new token verifies against the same ledger" \
	kt token verify --anchors "$dir/host-anchors" --crls "$dir/host-anchors" --aud "$AUD" \
	--ledger "$KVMTRUST_LEDGER" "$dir/new.jwt"

# --- a copy of the moved guest's old identity: refused in the handshake ----------------
kill "$dst_pid" 2>/dev/null; wait "$dst_pid" 2>/dev/null
qemu src
dst_qemu
size=$(ledger_size)
receive recv7 host-a "unix:$dir/recv7.sock" --ledger "$KVMTRUST_LEDGER"
start "unix:$dir/recv7.sock"
reap; rs=$?
show
tap_is "the revoked old token presented again: the destination's handshake refuses it, exit 10" \
	"$rs $(grep -o '^Refused: revocation: token [^ ]* was revoked by its issuer' "$dir/recv7.err")" \
	"10 Refused: revocation: token ${jti:-none} was revoked by its issuer"
tap_ok "  the source fails" test "$(cat "$dir/start.status")" -ne 0
tap_is "  before any byte moved: the source guest runs, nothing received, no ledger entry" \
	"$(qmp "$dir/src.qmp" query-status) $(grep -c '^received' "$dir/recv7.err") $(ledger_size)" \
	"running 0 $size"
tap_ok "  the destination's copy is discarded" gone "$dst_pid"
kill "$src_pid" 2>/dev/null; wait "$src_pid" 2>/dev/null
# The guest starts over on host b with a token of its own.
(cd "$dir" && kt token issue --key host-b/key.pem --cert host-b/chain.pem --uuid "$VM" --aud "$AUD" \
	--guest-key guest.pem -o token.jwt) 2>&1 | tap_diag

# --- the arrived memory differs from what left -------------------------------------
# The destination's RAM is a shared file a writer keeps changing, as a
# malicious or broken destination host would, after the stream has landed.
mkdir "$dir/shm" && mount -t tmpfs -o size=80M tmpfs "$dir/shm"
shm=$dir/shm/dst.ram
kill "$dst_pid" 2>/dev/null; wait "$dst_pid" 2>/dev/null
qemu src
qemu dst -S -incoming "unix:$dir/in.sock" \
	-object "memory-backend-file,id=pc.ram,size=64M,mem-path=$shm,share=on" -machine memory-backend=pc.ram
python3 - "$shm" <<'PY' &
import mmap, os, sys, time
f = os.open(sys.argv[1], os.O_RDWR)
m = mmap.mmap(f, 64 << 20)
n = 0
while True:
    n += 1
    m[0x300000:0x300008] = n.to_bytes(8, "little")
    time.sleep(0.001)
PY
writer=$!
pids+=($writer)
size=$(ledger_size)
receive recv5 host-a "unix:$dir/recv5.sock" --ledger "$KVMTRUST_LEDGER" --report-out "$dir/final5.jwt"
start "unix:$dir/recv5.sock"
reap; rs=$?
kill "$writer"; wait "$writer" 2>/dev/null
umount "$dir/shm"
show
tap_is "changed memory on arrival: the destination refuses by memory-root, exit 10" \
	"$rs $(grep -o '^Refused: memory-root' "$dir/recv5.err")" "10 Refused: memory-root"
tap_is "  the source is refused too" "$(cat "$dir/start.status")" 10
tap_ok "  the destination's copy is discarded" gone "$dst_pid"
tap_is "  the source guest runs again" "$(qmp "$dir/src.qmp" query-status)" running
tap_is "  the ledger records a failed attestation on host a" "$(entry "$size")" \
	"attest	fail	$VM	$HOST_A"
tap_is "  naming the failed check and the source's report" \
	"$(entry_field "$size" detail report)" "memory-root $(sha256sum <"$dir/final5.jwt" | cut -c1-64)"

# --- plain QEMU migration in the same run, for the timing ---------------------------
kill "$dst_pid" "$src_pid" 2>/dev/null; wait "$dst_pid" "$src_pid" 2>/dev/null
qemu src
dst_qemu
t0=$(date +%s%N)
python3 - "$dir/src.qmp" "unix:$dir/in.sock" <<'PY' | tap_diag
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
def cmd(c, **a):
    f.write(json.dumps({"execute": c, "arguments": a} if a else {"execute": c}) + "\n"); f.flush()
    while True:
        m = json.loads(f.readline())
        if "event" not in m: return m.get("return")
f.readline(); cmd("qmp_capabilities"); cmd("migrate", uri=sys.argv[2])
while True:
    r = cmd("query-migrate")
    if r.get("status") in ("completed", "failed"): break
    time.sleep(0.01)
print("plain migration:", r.get("status"), "total_ms", r.get("total-time"), "downtime_ms", r.get("downtime"),
      "bytes", r.get("ram", {}).get("transferred"))
PY
t1=$(date +%s%N)
echo "# plain QEMU migration of 64 MiB: $(( (t1 - t0) / 1000000 )) ms end to end"
tap_is "plain migration baseline completed" "$(qmp "$dir/src.qmp" query-status)" postmigrate

tap_done
