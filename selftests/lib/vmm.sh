# SPDX-License-Identifier: GPL-2.0
#
# Shell tests driving selftests/build/vmm (vmm.c) as a coprocess named VMM:
#   coproc VMM { exec selftests/build/vmm --seed "$SEED" --vcpus 2; }
#   vmm dump FILE            one command; fails unless the VMM answers "ok"
#   vmm_stop                 asks it to exit and reaps it (safe to repeat)
#   json FILE KEY            one field of the CLI's JSON object

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
