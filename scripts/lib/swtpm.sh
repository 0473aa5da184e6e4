# SPDX-License-Identifier: GPL-2.0
#
# A throw-away software TPM for tests and benchmarks:
#   . scripts/lib/swtpm.sh
#   swtpm_start "$tmp/swtpm"; rc=$?      sets SWTPM_PORT, SWTPM_PID, SWTPM_TCTI
#   swtpm_stop                            (call it from the EXIT trap)
# swtpm_start returns 0 when the TPM answers, 2 when swtpm is not installed
# (the one case a test may skip) and 1 when it is installed but would not
# start, which a test must report as a failure: a host that has swtpm and
# cannot run it is broken, not missing a feature.
# The TPM listens on a free 127.0.0.1 port pair (command N, control N+1);
# with SWTPM_NETNS set, on 127.0.0.1 of that network namespace (ip netns),
# reachable only from there: one TPM a namespaced host.

SWTPM_PID=
SWTPM_TRIES=5

# swtpm_in CMD...: CMD in $SWTPM_NETNS, if set.
swtpm_in() {
	if [ -n "${SWTPM_NETNS:-}" ]; then ip netns exec "$SWTPM_NETNS" "$@"; else "$@"; fi
}

swtpm_port_free() { ! swtpm_in ss -Htln "sport = :$1" | grep -q .; }

# Listening, and by our swtpm: another process may hold the port.
swtpm_listening() { swtpm_in ss -Htlnp "sport = :$1" | grep -q "pid=$2,"; }

swtpm_pick_ports() {
	local i p
	for i in $(seq 0 49); do
		p=$((20000 + (($$ * 7 + RANDOM + i * 613) % 20000) * 2))
		if swtpm_port_free "$p" && swtpm_port_free $((p + 1)); then
			echo "$p"
			return 0
		fi
	done
	return 1
}

swtpm_start() {
	local dir=$1 try i in=()
	[ -n "${SWTPM_NETNS:-}" ] && in=(ip netns exec "$SWTPM_NETNS")
	command -v swtpm >/dev/null && command -v swtpm_setup >/dev/null || return 2
	mkdir -p "$dir"
	swtpm_setup --tpm2 --tpmstate "$dir" --overwrite >"$dir.setup.log" 2>&1 || return 1
	: >"$dir.log"
	# A pair seen free can be taken before swtpm binds it (other test runs
	# share the host): then swtpm exits, and the next try takes another pair.
	for try in $(seq "$SWTPM_TRIES"); do
		SWTPM_PORT=$(swtpm_pick_ports) || continue
		echo "try $try: ports $SWTPM_PORT, $((SWTPM_PORT + 1))" >>"$dir.log"
		# Not through swtpm_in: $! must be swtpm's pid (ip netns exec execs it).
		"${in[@]}" swtpm socket --tpm2 --tpmstate dir="$dir" \
			--server type=tcp,port="$SWTPM_PORT",bindaddr=127.0.0.1 \
			--ctrl type=tcp,port=$((SWTPM_PORT + 1)),bindaddr=127.0.0.1 \
			--flags not-need-init,startup-clear >>"$dir.log" 2>&1 &
		SWTPM_PID=$!
		SWTPM_TCTI="swtpm:host=127.0.0.1,port=$SWTPM_PORT"
		for i in $(seq 50); do
			swtpm_listening "$SWTPM_PORT" "$SWTPM_PID" && return 0
			kill -0 "$SWTPM_PID" 2>/dev/null || break
			sleep 0.1
		done
		swtpm_stop
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
