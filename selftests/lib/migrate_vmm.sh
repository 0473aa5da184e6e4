# SPDX-License-Identifier: GPL-2.0
#
# Shared by selftests/migrate_vmm_test.sh (one namespace) and
# migrate_vmm_hosts_test.sh (two namespaces): the VMMs of selftests/lib/vmm.sh
# (vmm_start, fds 2N+1/2N+2, tmp) as the two sides of kvmtrust migrate
# --pid. Sourced after selftests/lib/migrate.sh (VM) and vmm.sh.

# counter N: VMM N's guest counter
counter() {
	local reply
	echo counter >&$((2 * $1 + 1))
	read -r reply <&$((2 * $1 + 2))
	echo "${reply#ok }"
}

# stopped PID: every thread of PID is stopped (the VMM waits for the state)
stopped() {
	local i t s
	for i in $(seq 100); do
		s=T
		for t in /proc/"$1"/task/*/stat; do
			[[ $(sed 's/.*) //' "$t" | cut -c1) == [Tt] ]] || s=R
		done
		[ "$s" = T ] && return 0
		sleep 0.1
	done
	return 1
}

# dst_start N [ARGS]: destination VMM N (seed N, ARGS added), --incoming,
# stopped; dst_vmm its pid
dst_start() {
	vmm_start "$1" "$VM" --incoming "${@:2}"
	dst_vmm=${pids[-1]}
	stopped "$dst_vmm"
}

# invariant N: VMM N's guest paused a moment, (EBP - counter) mod 2^32 printed:
# the spin loop (guest.S) increments both, so this stays what the guest's
# seed made it (or one less, paused between the two increments), whichever
# VMM runs the guest, and wraps with neither
invariant() {
	local c
	vmm_n "$1" pause >&2 && vmm_n "$1" "regs 0 $tmp/regs$1" >&2 && c=$(counter "$1") &&
		vmm_n "$1" run >&2 || return 1
	python3 -c 'import struct, sys
rbp = struct.unpack_from("<Q", open(sys.argv[1], "rb").read(), 56)[0]
print((rbp - int(sys.argv[2])) & 0xffffffff)' "$tmp/regs$1" "$c"
}

# advancing N: VMM N's guest counter moves on; it is 32 bits and wraps
# (about every ten seconds in the test VM), so forward is (c1 - c0) mod 2^32
# in 1 .. 2^31 - 1
advancing() {
	local c0 c1 d
	c0=$(counter "$1")
	sleep 0.5
	c1=$(counter "$1")
	echo "# vmm $1 counter $c0 -> $c1"
	[ -n "$c0" ] && [ -n "$c1" ] || return 1
	d=$(( (c1 - c0) & 0xffffffff ))
	[ "$d" -gt 0 ] && [ "$d" -lt $((1 << 31)) ]
}

# vmm_move ADDR NAME: VMM 1's guest migrated (start to ADDR, the receive
# NAME already listening), timed (t0; t1 when start exited, t2 when
# receive did, in ns), its EBP - counter taken before (before); rs: the
# destination's exit status
vmm_move() {
	before=$(invariant 1)
	t0=$(date +%s%N)
	start "$1"
	t1=$(date +%s%N)
	reap; rs=$?
	t2=$(date +%s%N)
	show
	cat "$dir/start.out" "$dir/$2.out" | tap_diag
}

# same_guest BEFORE AFTER: invariant's values on the source before the move
# and on the destination after it, within one of each other (mod 2^32)
same_guest() {
	echo "# EBP - counter: source before the move $1, destination after $2"
	[ -n "$1" ] && [ -n "$2" ] &&
		{ [ $((($2 - $1) & 0xffffffff)) -le 1 ] || [ $((($1 - $2) & 0xffffffff)) -le 1 ]; }
}

# vmm_begin: the common start of a one-namespace migration test of our
# VMM ($dir and $PLAN set): cleanup on exit (KT_KEEP keeps $dir), the CA
# tree, the plan; every check skipped when the VM lacks /dev/kvm, the
# vmm, strace, kvmtrust.ko or openssl (hosts_begin's twin for one host).
vmm_begin() {
	local i
	trap vmm_cleanup EXIT
	grant_tree_env "$dir"
	tap_plan "$PLAN"
	if [ ! -c /dev/kvm ] || [ ! -x selftests/build/vmm ] || ! command -v strace >/dev/null ||
	   ! "$KVMTRUST" info >/dev/null 2>&1 ||
	   ! (cd "$dir" && make_tree) >"$dir/setup.log" 2>&1; then
		tap_diag <"$dir/setup.log" 2>/dev/null
		for i in $(seq "$PLAN"); do
			tap_skip "$(basename "$0") $i" "no /dev/kvm, vmm, strace, kvmtrust.ko or openssl"
		done
		exit 0
	fi
}

vmm_cleanup() {
	migrate_cleanup
	[ -n "${KT_KEEP:-}" ] || rm -rf "$dir"
}
