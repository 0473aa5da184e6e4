# SPDX-License-Identifier: GPL-2.0
#
# Shell tests driving selftests/build/vmm (vmm.c) as a coprocess named VMM:
#   coproc VMM { exec selftests/build/vmm --seed "$SEED" --vcpus 2; }
#   vmm dump FILE            one command; fails unless the VMM answers "ok"
#   vmm_stop                 asks it to exit and reaps it (safe to repeat)
#   json FILE KEY            one field of the CLI's JSON object
#   poke_page PID HVA BYTE   fills one page of process PID at HVA through /proc/PID/mem
#   flip_byte FILE OFFSET    inverts one byte of FILE
# and several VMMs at once, each on a pair of fifos in $tmp:
#   vmm_start N [UUID [ARGS]]  VMM N (seed N, ARGS added; UUID may be empty):
#                            commands on fd 2N+1, replies on fd 2N+2, its pid
#                            appended to the array pids
#   vmm_n N CMD              one command to VMM N; fails unless it answers ok
#   vmm_in=(PREFIX...)       vmm_start runs the VMM under PREFIX (ip netns exec
#                            NS, which execs: the pid is the VMM's)

vmm_in=()

vmm() {
	local reply
	echo "# vmm: $*"
	echo "$*" >&"${VMM[1]}"
	read -r reply <&"${VMM[0]}" || return 1
	[[ $reply == ok* ]] || { echo "# vmm: $reply"; return 1; }
}

vmm_stop() {
	[ -n "${VMM_PID:-}" ] || return 0
	echo exit >&"${VMM[1]}" 2>/dev/null
	wait "$VMM_PID" 2>/dev/null
	VMM_PID=
}

json() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

poke_page() {
	python3 -c 'import sys; f = open(f"/proc/{sys.argv[1]}/mem", "r+b"); f.seek(int(sys.argv[2])); f.write(bytes([int(sys.argv[3], 0)]) * 4096)' "$@"
}

flip_byte() {
	python3 -c 'import sys; f = open(sys.argv[1], "r+b"); f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0xff]))' "$@"
}

vmm_start() {
	local ready
	mkfifo "$tmp/in$1" "$tmp/out$1" || return 1
	"${vmm_in[@]}" selftests/build/vmm --seed "$1" ${2:+--uuid "$2"} "${@:3}" <"$tmp/in$1" >"$tmp/out$1" &
	pids+=($!)
	eval "exec $((2 * $1 + 1))>\"$tmp/in$1\" $((2 * $1 + 2))<\"$tmp/out$1\""
	read -r ready <&$((2 * $1 + 2))
	echo "# vmm $1: $ready"
}

vmm_n() {
	local n=$1 reply
	shift
	echo "$*" >&$((2 * n + 1))
	read -r reply <&$((2 * n + 2))
	echo "# vmm $n: $* -> $reply"
	[[ $reply == ok* ]]
}
