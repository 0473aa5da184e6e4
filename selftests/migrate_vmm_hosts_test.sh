#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kvmtrust migrate start --pid / receive --pid between two hosts inside the
# test VM (Documentation/migration.rst, "Our own VMM"): the network
# namespaces of migrate_hosts_test.sh joined by a veth pair, TCP between
# them, each VMM of selftests/vmm.c in its host's namespace. The guest has a
# third memslot of $MIB MiB of seeded data (--extra-mib, the destination's
# seeded otherwise), so the stream is far more than any socket buffer holds.
#
#   netns src (host b)  10.77.0.1            netns dst (host a)  10.77.0.2
#   vmm (running)          veth pair         vmm --incoming (stopped)
#   kvmtrust migrate start  -- TCP 75xx -->  kvmtrust migrate receive
#
#   - migrate start killed mid-transfer (the relay of migrate_cut_test.sh,
#     relay.py stall: it forwards the first $STALL bytes, then kills the
#     victim, so the kill lands mid-copy however slow the VM is): the
#     destination refuses the cut stream (truncated) and kills its VMM,
#     which never ran; the source VMM stays stopped (SIGSTOP, nothing
#     resumes it: no copy runs half-moved) until the operator continues it
#     (kill -CONT), then its counter advances;
#   - migrate receive killed mid-transfer: the source resumes its VMM by
#     itself, its counter advances; the destination VMM stays stopped,
#     never run (the operator kills it);
#   - the happy path over TCP: both exit 0, the guest that runs on the
#     destination is the source's and its counter advances, the ledger's
#     attest pass + move; the stop-and-copy downtime printed (from the
#     source's "stopped at" to the destination's "resumed at", one clock).
set -u
cd "$(dirname "$0")/.."
. selftests/lib/migrate.sh
. selftests/lib/vmm.sh
. selftests/lib/migrate_vmm.sh

PLAN=23
MIB=16
STALL=$((2 << 20))
port=7500
dir=$(mktemp -d /tmp/kt-migrate-vmm-hosts.XXXXXX)
tmp=$dir
# A VMM left stopped by a failed check would not take the cleanup's SIGTERM.
hosts_cleanup_more() {
	local p
	for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null; done
}
hosts_begin selftests/build/vmm

two_hosts >"$dir/net.log" 2>&1
tap_diag <"$dir/net.log"
tap_ok "two hosts: namespaces joined by a veth pair, the source reaches $DST over TCP" reachable
(cd "$dir" && migrate_setup) >"$dir/setup.log" 2>&1
setup=$?
tap_diag <"$dir/setup.log"
tap_is "setup: ledger, registration, grant, the guest's token, host b's host key" "$setup" 0

vmm_in=("${in_src[@]}")
vmm_start 1 "$VM" --extra-mib "$MIB"
src_vmm=${pids[-1]}
vmm_n 1 run
tap_ok "source guest running in the source namespace: its counter advances" advancing 1

# stall_session NAME VICTIM N: destination VMM N waiting in the
# destination's namespace, then stall_run (migrate.sh) with STALL bytes.
stall_session() {
	vmm_in=("${in_dst[@]}")
	dst_start "$3" --extra-mib "$MIB"
	stall_run "$1" "$2" "$STALL"
}

# --- migrate start killed mid-transfer ------------------------------------------
size=$(ledger_size)
stall_session k-src source 2
d2=$dst_vmm
reap; rs=$?
wait "$start_pid"; ss=$?
show
got=$(sed -n 's/^received \([0-9]*\) bytes$/\1/p' "$dir/k-src.err")
tap_is "source killed mid-transfer (signal 9): the relay killed it at the stall" \
	"$ss $(grep -c '^killed' "$dir/k-src.relay.log")" "137 1"
tap_ok "  it had stopped its VMM and not finished the copy" \
	bash -c "grep -q '^source guest: stopped at' '$dir/start.err' && ! grep -q '^stop and copy:' '$dir/start.err'"
tap_ok "  the destination had part of the guest (${got:-0} bytes, the guest over $MIB MiB)" \
	test "${got:-0}" -gt 0 -a "${got:-0}" -lt $((MIB << 20))
tap_is "  it refuses the cut stream (truncated), exit 10" \
	"$rs $(grep -o '^Refused: truncated' "$dir/k-src.err")" "10 Refused: truncated"
tap_ok "  and kills its VMM, never continued" \
	bash -c "grep -q '^destination guest: VMM $d2 killed' '$dir/k-src.err' &&
		 ! grep -q 'guest: resumed' '$dir/k-src.err'"
tap_ok "  the destination VMM is gone" gone "$d2"
tap_ok "  the source VMM stays stopped (nothing resumes it)" stopped "$src_vmm"
kill -CONT "$src_vmm"
tap_ok "  the operator continues it (kill -CONT): its counter advances" advancing 1

# --- migrate receive killed mid-transfer ----------------------------------------
stall_session k-dst destination 3
d3=$dst_vmm
wait "$start_pid"; ss=$?
reap
show
tap_is "destination killed mid-transfer: the relay killed it, the source fails" \
	"$(grep -c '^killed' "$dir/k-dst.relay.log") $([ "$ss" -ne 0 ] && echo failed)" "1 failed"
tap_ok "  the source resumes its VMM by itself" grep -q '^source guest: resumed at' "$dir/start.err"
tap_ok "  its counter advances" advancing 1
tap_ok "  the destination VMM stays stopped, its half-written guest never run" stopped "$d3"
tap_is "  neither cut transfer wrote to the ledger" "$(ledger_size)" "$size"
kill -9 "$d3"

# --- the happy path over TCP ----------------------------------------------------
vmm_in=("${in_dst[@]}")
dst_start 4 --extra-mib "$MIB"
port=$((port + 1))
receive move host-a "$DST:$port" --ledger "$KVMTRUST_LEDGER" --token-out "$dir/new.jwt" \
	--report-out "$dir/final.jwt"
vmm_move "$DST:$port" move
tap_is "our VMM's guest moved over TCP between the namespaces: source and destination exit 0" \
	"$(cat "$dir/start.status") $rs" "0 0"
tap_ok "  the source VMM is gone" gone "$src_vmm"
after=$(invariant 4)
tap_ok "  the guest running on the destination is the source's (EBP - counter kept)" \
	same_guest "$before" "$after"
tap_ok "  and its counter advances there" advancing 4
root=$(field memory_root "$dir/start.out")
tap_ok "  both sides agree on memory_root" test -n "$root" -a "$root" = "$(field memory_root "$dir/move.out")"
tap_is "  the ledger: the final attestation passed, then the move to host a" \
	"$(entry "$size"; entry $((size + 1)))" "attest	pass	$VM	$HOST_A
move	-	$VM	$HOST_A"
stop=$(sed -n 's/^source guest: stopped at //p' "$dir/start.err")
cont=$(sed -n 's/^destination guest: resumed at //p' "$dir/move.err")
down=$(python3 -c 'import sys; print(round((float(sys.argv[2]) - float(sys.argv[1])) * 1000))' \
	"${stop:-0}" "${cont:-0}" 2>/dev/null)
tap_ok "  the downtime: from the source's stop to the destination's continue, within the run" \
	test -n "$stop" -a -n "$cont" -a "${down:-0}" -gt 0 -a "${down:-0}" -lt $(( (t2 - t0) / 1000000 ))
echo "# stop and copy of $(field bytes "$dir/start.out") bytes over TCP: downtime ${down:-?} ms" \
	"($(sed -n 's/^stop and copy: //p' "$dir/start.err"); verify_ms $(field verify_ms "$dir/start.out")," \
	"total_ms $(field total_ms "$dir/start.out")), $(( (t1 - t0) / 1000000 )) ms end to end"
vmm_n 4 exit

tap_done
