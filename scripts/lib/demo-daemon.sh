# SPDX-License-Identifier: GPL-2.0
#
# The continuous attestation story of `make demo-daemon` (scripts/demo
# --daemon), run inside the test VM with the module loaded:
#
#   1. two real KVM guests of our VMM, "web" and "db";
#   2. web's runtime integrity policy learnt from it while known good
#      (kvmtrust policy learn: a range that must not change, its IDT base);
#   3. kvmtrustd attests both every second into an SQLite ledger, each
#      result signed by the host key and appended with its report digest;
#   4. a "rootkit" writes web's protected page through /proc/PID/mem: the
#      next round fails naming the range, the score drops by 20, the hook
#      runs; the second fail takes it below 75: web is frozen and marked
#      non-migratable; db keeps passing;
#   5. the ledger verifies, the score's history shows each step.

demo_daemon() {
	local tmp U1=1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d U2=2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e
	local daemon pids=() idx
	K=$PWD/user/kvmtrust
	KD=$PWD/user/kvmtrustd
	. scripts/lib/ledger-pki.sh
	. selftests/lib/kvmtrustd.sh
	. selftests/lib/vmm.sh
	tmp=$(mktemp -d /tmp/kt-demo-daemon.XXXXXX)
	kt() { say "kvmtrust $*"; "$K" "$@"; }
	[ -e /proc/self/fd ] || mount -t proc proc /proc

	say "two guests of our VMM: web ($U1) and db ($U2)"
	vmm_start 1 "$U1" && vmm_start 2 "$U2" || return 1
	echo "web: pid ${pids[0]}, db: pid ${pids[1]}"

	say "a throw-away ledger CA, the host's signing key, an SQLite ledger"
	kvmtrustd_ledger "$tmp" || return 1
	export KVMTRUST_KEY_DIR=$tmp/hostkey KVMTRUSTD_SOCKET=$tmp/d.sock \
		KVMTRUST_LEDGER=sqlite:$tmp/ledger.db KVMTRUST_LEDGER_CA=$tmp/ca.pem \
		KVMTRUST_OWNER_ANCHORS=$tmp/owner-anchors KVMTRUST_STATE_DIR=$tmp

	kt policy learn --pid "${pids[0]}" --range 0x20000:0x8000 --vcpu-pred idt.base \
		-o "$tmp/web-policy.json" || return 1
	jq -c '{ranges: [.ranges[] | {name, root: (.root[0:16] + "...")}], vcpu: [.vcpu[] | .name]}' \
		"$tmp/web-policy.json"

	cat >"$tmp/hook" <<-'EOT'
	#!/bin/sh
	echo "hook: $KVMTRUST_EVENT $KVMTRUST_VM_NAME score $KVMTRUST_PREV_SCORE -> $KVMTRUST_SCORE ${KVMTRUST_FAILED_RANGE:+($KVMTRUST_FAILED_RANGE)}" >>"${0%/*}/hook.log"
	EOT
	chmod +x "$tmp/hook"
	{ kvmtrustd_global "$tmp"; cat <<-EOT; } >"$tmp/kvmtrustd.conf"
	hook = $tmp/hook
	on_fail = log, hook
	on_score_below_75 = log, hook, nonmigratable, freeze

	[vm web]
	uuid = $U1
	policy = $tmp/web-policy.json

	[vm db]
	uuid = $U2
	memory_root = learn
	EOT
	say "kvmtrustd -c kvmtrustd.conf &    # every second: freeze, measure, check, sign, append"
	sed 's/^/    /' "$tmp/kvmtrustd.conf"
	"$KD" -c "$tmp/kvmtrustd.conf" 2>"$tmp/d.log" &
	daemon=$!
	wait_for '[.vms[] | .rounds >= 3] | all' || { cat "$tmp/d.log"; return 1; }
	kt daemon status

	say "a rootkit on the host writes web's protected page (guest 0x21000) through /proc/${pids[0]}/mem"
	poke_page "${pids[0]}" "$(web_hva 0x21000)" 0x90
	WAIT_FOR_TENTHS=300 wait_for '.vms[0].score < 75' || { cat "$tmp/d.log"; return 1; }
	kt daemon status
	say "cat hook.log    # the configured hook, run by kvmtrustd"
	cat "$tmp/hook.log"
	idx=$(st '.vms[0].ledger_index')
	kt ledger get --index "$idx"
	kt score show --vm "$U1"
	say "grep State /proc/${pids[0]}/status    # frozen by the below-75 action"
	grep State "/proc/${pids[0]}/status"
	kt ledger verify

	kill -TERM "$daemon" && wait "$daemon"
	kill -CONT "${pids[0]}"
	vmm_n 1 exit >/dev/null
	vmm_n 2 exit >/dev/null
	wait "${pids[@]}" 2>/dev/null
	rm -rf "$tmp"
	return 0
}

# web_hva GPA: where web's VMM maps GPA ("slots": GPA:HVA:SIZE ...).
web_hva() {
	local s g h z r
	echo slots >&3
	read -r r <&4
	for s in ${r#ok }; do
		IFS=: read -r g h z <<<"$s"
		if (($1 >= g && $1 < g + z)); then printf '%d\n' $((h + $1 - g)); return; fi
	done
	return 1
}
