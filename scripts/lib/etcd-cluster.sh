# SPDX-License-Identifier: GPL-2.0
#
# A 3-member etcd cluster on 127.0.0.1 for tests and benchmarks.
#   etcd_cluster_start DIR   picks six free ports, starts members m1..m3 with
#                            data in DIR/m<i>, waits until all are healthy
#                            (three tries, on other ports each time);
#                            sets ETCD_ENDPOINTS (comma-separated URLs) and
#                            ETCD_CLIENT[i], ETCD_PID[i]
#   etcd_leader              prints the member number (1..3) of the leader
#   etcd_kill N              kill -9 of member N
#   etcd_restart N           starts member N again on its ports and data
#                            (after etcd_kill), waits until it is healthy
#   etcd_cluster_stop        stops every member still running (TERM, then KILL)
#   etcd_free_base           prints a base port with base+1..base+6 free
# Members elsewhere than 127.0.0.1 of this namespace: set ETCD_ADDR[i] (the
# address member i listens on) and ETCD_NETNS[i] (the network namespace it
# runs in, ip netns) before etcd_cluster_start; the health checks run there.
# $ETCD_EXTRA_ARGS (word-split) is passed to every member, e.g.
# "--max-request-bytes 33554432" for large batch entries.
# Ports: a random base in 20000-29999 so parallel runs do not clash; the
# short heartbeat and election timeout make a lost leader cheap to replace.

ETCD_PID=()
ETCD_CLIENT=()
ETCD_ADDR=()
ETCD_NETNS=()

# etcd_in I CMD...: CMD in member I's network namespace.
etcd_in() {
	local i=$1
	shift
	if [ -n "${ETCD_NETNS[i]:-}" ]; then ip netns exec "${ETCD_NETNS[i]}" "$@"; else "$@"; fi
}

etcd_addr() { echo "${ETCD_ADDR[$1]:-127.0.0.1}"; }

etcd_port_free() {
	! ss -Htln "sport = :$1" 2>/dev/null | grep -q .
}

# Prints a base port with base+1..base+6 free.
etcd_free_base() {
	local base p tries
	for tries in 1 2 3 4 5 6 7 8 9 10; do
		base=$((20000 + (RANDOM % 1000) * 10))
		for p in 1 2 3 4 5 6; do etcd_port_free $((base + p)) || continue 2; done
		break
	done
	echo "$base"
}

# A port seen free can be taken before etcd binds it (other test runs share
# the host): that member exits, and the next try takes other ports.
etcd_cluster_start() {
	local dir=$1 try
	for try in 1 2 3; do
		etcd_cluster_try "$dir" && return 0
		etcd_cluster_stop
		rm -rf "$dir/m1" "$dir/m2" "$dir/m3"
	done
	return 1
}

etcd_cluster_try() {
	local dir=$1 base i cluster="" tries
	base=$(etcd_free_base)
	for i in 1 2 3; do
		cluster+="${cluster:+,}m$i=http://$(etcd_addr "$i"):$((base + 3 + i))"
	done
	ETCD_ENDPOINTS=
	ETCD_DIR=$dir ETCD_BASE=$base ETCD_CLUSTER=$cluster
	for i in 1 2 3; do
		ETCD_CLIENT[i]=http://$(etcd_addr "$i"):$((base + i))
		ETCD_ENDPOINTS+="${ETCD_ENDPOINTS:+,}${ETCD_CLIENT[i]}"
		etcd_member "$i" new
	done
	for tries in $(seq 100); do
		sleep 0.1
		for i in 1 2 3; do
			kill -0 "${ETCD_PID[i]}" 2>/dev/null || return 1
		done
		for i in 1 2 3; do
			etcd_in "$i" curl -sf "${ETCD_CLIENT[i]}/health" 2>/dev/null |
				grep -q '"health":"true"' || continue 2
		done
		return 0
	done
	return 1
}

# Member $1 on its ports, data in $ETCD_DIR/m$1; $2: new or existing.
etcd_member() {
	local i=$1 peer in=()
	peer=http://$(etcd_addr "$i"):$((ETCD_BASE + 3 + i))
	# Not through etcd_in: $! must be etcd's pid (ip netns exec execs it).
	[ -n "${ETCD_NETNS[i]:-}" ] && in=(ip netns exec "${ETCD_NETNS[i]}")
	# shellcheck disable=SC2086
	"${in[@]}" etcd --name "m$i" --data-dir "$ETCD_DIR/m$i" \
		--listen-client-urls "${ETCD_CLIENT[i]}" \
		--advertise-client-urls "${ETCD_CLIENT[i]}" \
		--listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
		--initial-cluster "$ETCD_CLUSTER" --initial-cluster-token "kvmtrust-$$-$ETCD_BASE" \
		--initial-cluster-state "$2" --heartbeat-interval 50 --election-timeout 500 \
		${ETCD_EXTRA_ARGS:-} --logger zap --log-level error >> "$ETCD_DIR/m$i.log" 2>&1 &
	ETCD_PID[i]=$!
}

etcd_restart() {
	local tries
	etcd_member "$1" existing
	for tries in $(seq 100); do
		sleep 0.1
		kill -0 "${ETCD_PID[$1]}" 2>/dev/null || return 1
		etcd_in "$1" curl -sf "${ETCD_CLIENT[$1]}/health" 2>/dev/null |
			grep -q '"health":"true"' && return 0
	done
	return 1
}

etcd_leader() {
	local i status
	for i in 1 2 3; do
		[ -n "${ETCD_PID[i]}" ] || continue
		status=$(etcd_in "$i" curl -sf -X POST "${ETCD_CLIENT[i]}/v3/maintenance/status" \
			-d '{}') || continue
		python3 -c 'import json,sys; s=json.loads(sys.argv[1]); sys.exit(s["header"]["member_id"] != s.get("leader"))' "$status" &&
			{ echo "$i"; return 0; }
	done
	return 1
}

etcd_kill() {
	kill -9 "${ETCD_PID[$1]}" 2>/dev/null || true
	wait "${ETCD_PID[$1]}" 2>/dev/null || true
	ETCD_PID[$1]=
}

etcd_cluster_stop() {
	local i n
	for i in 1 2 3; do
		[ -n "${ETCD_PID[i]:-}" ] && kill "${ETCD_PID[i]}" 2>/dev/null
	done
	for i in 1 2 3; do
		[ -n "${ETCD_PID[i]:-}" ] || continue
		for n in $(seq 50); do kill -0 "${ETCD_PID[i]}" 2>/dev/null || break; sleep 0.1; done
		kill -9 "${ETCD_PID[i]}" 2>/dev/null || true
		wait "${ETCD_PID[i]}" 2>/dev/null || true
		ETCD_PID[i]=
	done
}
