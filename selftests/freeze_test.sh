#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kvmtrust measure --freeze inside the test VM (selftests/run-in-vm): the
# module stops a running VMM (SIGSTOP group stop), measures and continues it
# (Documentation/measurement.rst, "Freeze"). Two VMMs: selftests/build/vmm
# (vmm.c, driven over its stdin) and QEMU with -accel kvm and the default
# "pc" machine, whose SMM is on (KVM's second address space in use).
#
#   running guest --freeze --> roots, pause_ns; VMM running afterwards
#   guest paused by its VMM:   --freeze roots == plain roots
#   VMM stopped by us first:   --freeze roots == plain roots, stays stopped
#   CLI SIGKILLed while frozen, rmmod while frozen: VMM running afterwards
#
# A measurement is held frozen for seconds with the module's test knob
# vcpu_probe_delay_ms (a sleep between probing a vCPU and reading it).
set -u
cd "$(dirname "$0")/.."
. scripts/lib/tap.sh
. selftests/lib/vmm.sh

KT=user/kvmtrust
VMM=selftests/build/vmm
QMP=selftests/lib/qmp.py
SEED=${KT_SEED:-$RANDOM}
PARAMS=/sys/module/kvmtrust/parameters
PLAN=42
work=$(mktemp -d /tmp/kt-freeze.XXXXXX)
QEMU_PID=
dmesg_from=$(dmesg 2>/dev/null | wc -l)

cleanup() {
	[ -n "$QEMU_PID" ] && kill -CONT "$QEMU_PID" 2>/dev/null && kill "$QEMU_PID" 2>/dev/null
	[ -n "${VMM_PID:-}" ] && kill -CONT "$VMM_PID" 2>/dev/null
	vmm_stop
	[ -n "$QEMU_PID" ] && wait "$QEMU_PID" 2>/dev/null
	hold_frozen 0
	rm -rf "$work"
}
trap cleanup EXIT

tap_plan $PLAN
if [ ! -c /dev/kvm ] || ! $KT info > /dev/null 2>&1; then
	for i in $(seq $PLAN); do tap_skip "freeze $i" "no /dev/kvm or no kvmtrust.ko"; done
	exit 0
fi

# The scheduler state letter of PID ("T": stopped).
proc_state() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1; }

# wait_state PID yes|no SECONDS: until PID is (yes) or is not (no) stopped.
wait_state() {
	local i s
	for i in $(seq $(($3 * 20))); do
		s=$(proc_state "$1")
		if [ "$2" = yes ]; then [ "$s" = T ] && return 0
		else [ -n "$s" ] && [ "$s" != T ] && return 0
		fi
		sleep 0.05
	done
	echo "# pid $1 state '$(proc_state "$1")' after $3 s" >&2
	return 1
}

# hold_frozen MS: every measurement stays frozen at least MS (0: restore).
hold_frozen() {
	[ -w "$PARAMS/vcpu_probe_delay_ms" ] || return 0
	echo "$1" > "$PARAMS/vcpu_probe_delay_ms"
	if [ "$1" -gt 0 ]; then echo $(($1 * 5)) > "$PARAMS/vcpu_wait_ms"
	else echo 1000 > "$PARAMS/vcpu_wait_ms"
	fi
}

# while_frozen PID OUT CMD...: `kvmtrust measure --pid PID --freeze` into
# OUT in the background; once PID is stopped, runs CMD (which may use $cli,
# the CLI's pid), then reaps the CLI, its status in $rc. Fails, running no
# CMD, if PID never stopped.
while_frozen() {
	local pid=$1 out=$2 frozen=0
	shift 2
	$KT measure --pid "$pid" --freeze > "$out" 2>&1 &
	cli=$!
	wait_state "$pid" yes 20 || frozen=1
	[ $frozen -eq 0 ] && "$@"
	wait "$cli" 2>/dev/null
	rc=$?
	tap_diag < "$out"
	return $frozen
}

# kill_cli PID: SIGKILLs the CLI; PID's state right after, in $after_kill.
kill_cli() {
	kill -KILL "$cli"
	wait "$cli" 2>/dev/null
	after_kill=$(proc_state "$1")
}

rmmod_retry() {
	local i
	for i in $(seq 50); do rmmod kvmtrust 2>/dev/null && return 0; sleep 0.2; done
	return 1
}

measure() {	# measure OUT ARGS...: JSON of one measurement into OUT
	local out=$1
	shift
	echo "# kvmtrust measure $*"
	$KT measure "$@" --json > "$out" 2> "$out.err" || { tap_diag < "$out.err"; return 1; }
}

same_roots() {	# same_roots A B: both roots of two JSON measurements, equal
	local a b
	a="$(json "$1" memory_root) $(json "$1" vcpu_root)"
	b="$(json "$2" memory_root) $(json "$2" vcpu_root)"
	echo "# $1: $a" >&2
	echo "# $2: $b" >&2
	[[ $a =~ ^[0-9a-f]{64}\ [0-9a-f]{64}$ ]] && [ "$a" = "$b" ]
}

# --- selftests/vmm ---------------------------------------------------------
echo "# seed $SEED (KT_SEED=$SEED reproduces)"
UUID=5c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5
coproc VMM { exec "$VMM" --seed "$SEED" --vcpus 2 --extra-mib 8 --uuid "$UUID"; }
read -r ready <&"${VMM[0]}"
echo "# $ready"

vmm run
tap_fails_with "a running guest is refused without --freeze" "vcpu is running" \
	$KT measure --pid "$VMM_PID"
tap_ok "measure --freeze of the running guest" measure "$work/f1" --pid "$VMM_PID" --freeze
tap_diag < "$work/f1"
tap_ok "pause_ns is a positive integer" test "$(json "$work/f1" pause_ns)" -gt 0
tap_is "memory unchanged while frozen (soft-dirty proof)" "$(json "$work/f1" memory_unchanged)" True
tap_ok "the VMM is not stopped afterwards" wait_state "$VMM_PID" no 10
tap_ok "the VMM answers and its guest runs" vmm state
tap_ok "a second --freeze measurement succeeds" measure "$work/f2" --pid "$VMM_PID" --freeze
tap_ok "the guest ran between the two (memory_root moved)" \
	test "$(json "$work/f1" memory_root)" != "$(json "$work/f2" memory_root)"

vmm pause
measure "$work/plain" --pid "$VMM_PID"
tap_ok "guest paused by its VMM: --freeze" measure "$work/f3" --pid "$VMM_PID" --freeze
tap_ok "  gives the roots of a plain measurement" same_roots "$work/plain" "$work/f3"
tap_ok "  and the VMM runs afterwards" wait_state "$VMM_PID" no 10

vmm run
kill -STOP "$VMM_PID"
wait_state "$VMM_PID" yes 10
tap_ok "VMM stopped by us first: --freeze" measure "$work/f4" --pid "$VMM_PID" --freeze
tap_is "  reports no pause of its own (pause_ns 0)" "$(json "$work/f4" pause_ns)" 0
measure "$work/p4" --pid "$VMM_PID"
tap_ok "  gives the roots of a plain measurement of the stopped VMM" same_roots "$work/f4" "$work/p4"
sleep 1
tap_is "  and leaves it stopped" "$(proc_state "$VMM_PID")" T
kill -CONT "$VMM_PID"
wait_state "$VMM_PID" no 10

# Refusals, each checked by its message, each leaving the VMM running.
vmm pause
echo 0 > "$PARAMS/freeze_timeout_ms"
for i in 1 2 3 4 5; do
	$KT measure --pid "$VMM_PID" --freeze > "$work/t.out" 2>&1 && continue
	grep -q "did not stop within freeze_timeout_ms" "$work/t.out" && break
done
echo 10000 > "$PARAMS/freeze_timeout_ms"
tap_diag < "$work/t.out"
tap_ok "freeze_timeout_ms 0: refused, 'did not stop within freeze_timeout_ms'" \
	grep -q "did not stop within freeze_timeout_ms" "$work/t.out"
tap_ok "  and the VMM was continued" wait_state "$VMM_PID" no 5

hold_frozen 3000
while_frozen "$VMM_PID" "$work/c.out" kill -CONT "$VMM_PID"
tap_ok "SIGCONT by someone else while frozen: refused, 'continued during the measurement'" \
	grep -q "process was continued during the measurement" "$work/c.out"

while_frozen "$VMM_PID" "$work/s.out" kill -STOP "$VMM_PID"
tap_ok "SIGSTOP by someone else while frozen: the measurement succeeds" test "$rc" -eq 0
sleep 1
tap_is "  and the VMM stays stopped, as that sender wants" "$(proc_state "$VMM_PID")" T
kill -CONT "$VMM_PID"
wait_state "$VMM_PID" no 10
hold_frozen 0
vmm run

seq_of() { $KT vm list --script | awk -v pid="$1" '$2 == pid { print $6 }'; }
seq_before=$(seq_of "$VMM_PID")
hold_frozen 3000
# Not under tap_ok: its subshell would keep $after_kill and $rc.
after_kill=
while_frozen "$VMM_PID" "$work/k.out" kill_cli "$VMM_PID"
tap_result $? "CLI started, the VMM is frozen"
tap_is "  the CLI was SIGKILLed while the VMM was frozen" "$after_kill" T
tap_ok "  the VMM runs again within 30 s" wait_state "$VMM_PID" no 30
tap_ok "  and answers" vmm state
tap_is "  the module finished that measurement (vm list: seq moved by one)" \
	"$(seq_of "$VMM_PID")" $((seq_before + 1))

driver=$(cat "$PARAMS/hash_driver" 2>/dev/null)
while_frozen "$VMM_PID" "$work/r.out" rmmod_retry
tap_result $? "rmmod during a frozen measurement (the VMM frozen first)"
tap_ok "  rmmod kvmtrust succeeded" test ! -d /sys/module/kvmtrust
tap_ok "  the VMM runs after rmmod returned" wait_state "$VMM_PID" no 2
tap_ok "  the CLI's measurement failed (exit $rc)" test "$rc" -ne 0
insmod "${KT_MODULE:-kmod/kvmtrust.ko}" ${driver:+hash_driver=$driver} 2>&1 | tap_diag
tap_ok "  the module loads again" test -d /sys/module/kvmtrust
tap_ok "  and the VMM answers" vmm state

hold_frozen 3000	# the reloaded module has its defaults again
while_frozen "$VMM_PID" "$work/x.out" kill -KILL "$VMM_PID"
tap_ok "the VMM SIGKILLed while frozen: the measurement fails, 'exited'" \
	sh -c "[ $rc -ne 0 ] && grep -q exited '$work/x.out'"
hold_frozen 0
vmm_stop

# --- QEMU, machine pc (SMM on: its default) -----------------------------------
# qemu NAME ARGS...: a 128 MiB guest, no disk (SeaBIOS idles), QMP at NAME.qmp.
qemu() {
	local name=$1 i
	shift
	qemu-system-x86_64 -accel kvm -nographic -nodefaults -m 128 -smp 2 -uuid "$QUUID" \
		-qmp "unix:$work/$name.qmp,server=on,wait=off" "$@" \
		< /dev/null > "$work/$name.log" 2>&1 &
	QEMU_PID=$!
	for i in $(seq 100); do [ -S "$work/$name.qmp" ] && return 0; sleep 0.1; done
	return 1
}
qmp() { python3 "$QMP" "$@"; }
QUUID=6d2e3f4a-5b6c-4d7e-8f80-91a2b3c4d5e6

if ! command -v qemu-system-x86_64 > /dev/null; then
	for i in $(seq $((PLAN - TAP_N))); do tap_skip "qemu $i" "no qemu-system-x86_64"; done
	tap_done
	exit
fi

qemu smm -machine pc
tap_is "QEMU -machine pc: SMM at its default (auto: on, as KVM offers it)" \
	"$(qmp "$work/smm.qmp" qom-get '{"path": "/machine", "property": "smm"}')" '"auto"'
sleep 2
tap_ok "measure --freeze of the running QEMU guest (SMM on)" \
	measure "$work/q1" --pid "$QEMU_PID" --freeze
tap_diag < "$work/q1"
tap_ok "QEMU is not stopped afterwards" wait_state "$QEMU_PID" no 10
tap_is "QMP query-status: running" "$(qmp "$work/smm.qmp" query-status)" running
qmp "$work/smm.qmp" stop > /dev/null
measure "$work/qp" --pid "$QEMU_PID"
measure "$work/qf" --pid "$QEMU_PID" --freeze
tap_ok "QEMU paused over QMP: --freeze gives the roots of a plain measurement" \
	same_roots "$work/qp" "$work/qf"
qmp "$work/smm.qmp" cont > /dev/null
smm_pages=$(json "$work/q1" pages)

hold_frozen 3000
after_kill=
while_frozen "$QEMU_PID" "$work/qk.out" kill_cli "$QEMU_PID"
tap_is "QEMU frozen, then the CLI SIGKILLed" "$after_kill" T
tap_ok "  QEMU runs again within 30 s" wait_state "$QEMU_PID" no 30
hold_frozen 0
tap_is "  QMP query-status: running" "$(qmp "$work/smm.qmp" query-status)" running
kill "$QEMU_PID"; wait "$QEMU_PID" 2>/dev/null; QEMU_PID=

# Address space 1 (SMRAM) is not measured: the same guest without SMM has
# the same pages measured (selftests/smm_test.c checks the module itself).
qemu nosmm -machine pc,smm=off
sleep 1
measure "$work/q2" --pid "$QEMU_PID" --freeze
nosmm_pages=$(json "$work/q2" pages)
echo "# pages: smm=on $smm_pages, smm=off $nosmm_pages"
tap_ok "smm=off measures as many pages as smm=on (address space 0 only)" \
	test "${nosmm_pages:-0}" -gt 0 -a "$nosmm_pages" = "$smm_pages"
kill "$QEMU_PID"; wait "$QEMU_PID" 2>/dev/null; QEMU_PID=

dmesg | tail -n +$((dmesg_from + 1)) > "$work/dmesg"
tap_fails "dmesg clean (no WARNING, BUG, Oops or lockdep report)" \
	grep -E 'WARNING:|BUG:|Oops|possible .*deadlock|kvmtrust: .*leak' "$work/dmesg"
tap_done
