# SPDX-License-Identifier: GPL-2.0
#
# VM tests of kvmtrustd: its status through the control socket
# ($KVMTRUSTD_SOCKET) with the CLI $K.
#   st JQ          one value of kvmtrust daemon status --json
#   wait_for JQ    waits until JQ is true: up to WAIT_FOR_TENTHS tenths of a
#                  second (default 100: TCG is slow and shared); fails after

st() { "$K" daemon status --json | jq -r "$1"; }

wait_for() {
	local i
	for i in $(seq "${WAIT_FOR_TENTHS:-100}"); do
		[ "$(st "$1" 2>/dev/null)" = true ] && return 0
		sleep 0.1
	done
	return 1
}
