# SPDX-License-Identifier: GPL-2.0
#
# A throw-away software TPM for tests and benchmarks:
#   . scripts/lib/swtpm.sh
#   swtpm_start "$tmp/swtpm" || skip...   sets SWTPM_PORT, SWTPM_PID, SWTPM_TCTI
#   swtpm_stop                            (call it from the EXIT trap)
# The TPM listens on a free 127.0.0.1 port pair (command N, control N+1)
# spread by the caller's pid so parallel runs do not collide.

SWTPM_PID=

swtpm_port_free() { ! ss -Htln "sport = :$1" | grep -q .; }

swtpm_pick_ports() {
	local i p
	for i in $(seq 0 49); do
		p=$((20000 + (($$ * 7 + i * 613) % 20000) * 2))
		if swtpm_port_free "$p" && swtpm_port_free $((p + 1)); then
			echo "$p"
			return 0
		fi
	done
	return 1
}

swtpm_start() {
	local dir=$1 i
	command -v swtpm >/dev/null && command -v swtpm_setup >/dev/null || return 1
	mkdir -p "$dir"
	swtpm_setup --tpm2 --tpmstate "$dir" --overwrite >"$dir.setup.log" 2>&1 || return 1
	SWTPM_PORT=$(swtpm_pick_ports) || return 1
	swtpm socket --tpm2 --tpmstate dir="$dir" \
		--server type=tcp,port="$SWTPM_PORT",bindaddr=127.0.0.1 \
		--ctrl type=tcp,port=$((SWTPM_PORT + 1)),bindaddr=127.0.0.1 \
		--flags not-need-init,startup-clear >"$dir.log" 2>&1 &
	SWTPM_PID=$!
	SWTPM_TCTI="swtpm:host=127.0.0.1,port=$SWTPM_PORT"
	for i in $(seq 50); do
		swtpm_port_free "$SWTPM_PORT" || return 0
		kill -0 "$SWTPM_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

swtpm_stop() {
	if [ -n "$SWTPM_PID" ]; then
		kill "$SWTPM_PID" 2>/dev/null
		wait "$SWTPM_PID" 2>/dev/null
		SWTPM_PID=
	fi
}
