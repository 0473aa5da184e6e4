# SPDX-License-Identifier: GPL-2.0
#
# Shared by selftests/migrate_test.sh (one namespace, unix sockets),
# selftests/migrate_hosts_test.sh (two network namespaces over a veth pair),
# scripts/bench-migrate-live and make demo-migrate: the guests, the two sides
# of kvmtrust migrate and the checks on them. Sourced from the repository's
# top directory; the caller sets dir (its work directory) and, for two
# hosts, calls two_hosts (the command prefixes in_src and in_dst).

. scripts/lib/tap.sh
. scripts/lib/grant-tree.sh

KVMTRUST=$PWD/user/kvmtrust
QMP=$PWD/selftests/lib/qmp.py
RELAY=$PWD/selftests/lib/relay.py
VM=7d4f2b1a-3c5e-4f60-8a9b-0c1d2e3f4a5b
AUD=kvmtrust-migrate
in_src=()
in_dst=()
kt_in=()	# where kt and the ledger helpers run (a ledger only a namespace reaches)
src_args=()
dst_args=()
pids=()
NS_SRC=kt-src-$$
NS_DST=kt-dst-$$
DST=10.77.0.2

# two_hosts: network namespaces NS_SRC (10.77.0.1) and NS_DST (DST) joined
# by a veth pair; the commands of each host then run under in_src / in_dst.
two_hosts() {
	ip netns add "$NS_SRC" && ip netns add "$NS_DST" &&
	ip link add kt-s$$ type veth peer name kt-d$$ &&
	ip link set kt-s$$ netns "$NS_SRC" && ip link set kt-d$$ netns "$NS_DST" &&
	ip -n "$NS_SRC" addr add 10.77.0.1/24 dev kt-s$$ &&
	ip -n "$NS_DST" addr add "$DST/24" dev kt-d$$ &&
	ip -n "$NS_SRC" link set kt-s$$ up && ip -n "$NS_DST" link set kt-d$$ up &&
	ip -n "$NS_SRC" link set lo up && ip -n "$NS_DST" link set lo up || return 1
	in_src=(ip netns exec "$NS_SRC")
	in_dst=(ip netns exec "$NS_DST")
}

# reachable: a TCP connection from the source's namespace to DST.
reachable() {
	local ok
	"${in_dst[@]}" python3 -c 'import socket, sys
s = socket.socket(); s.bind((sys.argv[1], 7399)); s.listen(1); s.settimeout(10)
c, _ = s.accept(); c.sendall(b"ok")' "$DST" &
	sleep 0.5
	ok=$("${in_src[@]}" python3 -c 'import socket, sys
print(socket.create_connection((sys.argv[1], 7399), 10).recv(2).decode())' "$DST")
	wait $!
	[ "$ok" = ok ]
}

two_hosts_del() {
	ip netns del "$NS_SRC" 2>/dev/null
	ip netns del "$NS_DST" 2>/dev/null
}

kt() { echo "# kvmtrust $*" >&2; "${kt_in[@]}" "$KVMTRUST" "$@"; }
qmp() { python3 "$QMP" "$@"; }

wait_for() {	# wait_for FILE [PATTERN]: FILE exists (and holds PATTERN)
	local i
	for i in $(seq 100); do
		[ -e "$1" ] && { [ -z "${2:-}" ] || grep -q "$2" "$1"; } && return 0
		sleep 0.1
	done
	return 1
}

gone() {	# gone PID: the process exited (reaped)
	local i
	for i in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	return 1
}

# qemu NAME [ARGS]: a guest of ${GUEST_MIB:-64} MiB without disk (SeaBIOS
# idles), QMP at NAME.qmp, in the source's namespace for "src" (with
# src_args), the destination's otherwise.
qemu() {
	local name=$1 ns
	shift
	if [ "$name" = src ]; then ns=("${in_src[@]}"); set -- "$@" "${src_args[@]}"
	else ns=("${in_dst[@]}"); fi
	rm -f "$dir/$name.qmp" "$dir/in.sock"
	"${ns[@]}" qemu-system-x86_64 -accel kvm -machine pc,smm=off -m "${GUEST_MIB:-64}" \
		-nodefaults -display none -uuid "$VM" -qmp "unix:$dir/$name.qmp,server=on,wait=off" \
		"$@" </dev/null >"$dir/$name.log" 2>&1 &
	pids+=($!)
	eval "${name}_pid=$!"
	wait_for "$dir/$name.qmp"
}

dst_qemu() { qemu dst -S -incoming "unix:$dir/in.sock" "${dst_args[@]}" "$@"; }

# random_ram: from now on the source guest's RAM is a file of random bytes
# (a private mapping) and the destination's a RAM backend of the same id,
# so every page travels: the stream cannot hide in socket buffers.
random_ram() {
	local mib=${GUEST_MIB:-64}
	head -c "${mib}M" /dev/urandom >"$dir/ram.src" || return 1
	src_args=(-object "memory-backend-file,id=pc.ram,size=${mib}M,mem-path=$dir/ram.src,share=off"
		  -machine memory-backend=pc.ram)
	dst_args=(-object "memory-backend-ram,id=pc.ram,size=${mib}M" -machine memory-backend=pc.ram)
}

# receive NAME HOST LISTEN [ARGS]: the destination service of host HOST
# (credential directory) in the background, listening on LISTEN; for the
# QEMU at dst.qmp, or with dst_vmm=PID for that (stopped) VMM of ours.
receive() {
	local name=$1 host=$2 listen=$3 i guest=(--qmp "$dir/dst.qmp" --incoming "$dir/in.sock")
	shift 3
	[ -n "${dst_vmm:-}" ] && guest=(--pid "$dst_vmm")
	[[ $listen == unix:* ]] && rm -f "${listen#unix:}"
	: >"$dir/$name.err"
	recv_name=$name
	"${in_dst[@]}" "$KVMTRUST" migrate receive --listen "$listen" "${guest[@]}" --key "$dir/$host/key.pem" --cert "$dir/$host/chain.pem" \
		--anchors "$dir/host-anchors" --crls "$dir/host-anchors" --aud "$AUD" "$@" \
		>"$dir/$name.out" 2>"$dir/$name.err" &
	recv_pid=$!
	pids+=($!)
	for i in $(seq 100); do	# listening, or exited already (a refusal)
		grep -q "listening on" "$dir/$name.err" && return 0
		kill -0 "$recv_pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# start_exec ADDR [ARGS]: becomes the source side (host b, its host key for
# the reports), for the QEMU at src.qmp or with src_vmm=PID that VMM of
# ours; in the background its pid is the command's. The old token stays
# valid (--no-revoke-token) unless ARGS name a --ledger to revoke it in
# (signed by host b, $KVMTRUST_LEDGER_KEY/CERT of grant_tree_env).
start_exec() {
	local guest=(--qmp "$dir/src.qmp") revoke=(--no-revoke-token)
	[ -n "${src_vmm:-}" ] && guest=(--pid "$src_vmm")
	[[ " ${*:2} " == *" --ledger "* ]] && revoke=()
	exec "${in_src[@]}" "$KVMTRUST" migrate start "${guest[@]}" --connect "$1" \
		--token "$dir/token.jwt" --guest-key "$dir/guest.pem" --anchors "$dir/host-anchors" \
		--crls "$dir/host-anchors" --grant "$dir/vm.grant" --by "$dir/bob/cert.pem" \
		--key-dir "$dir/host-b/hostkey" "${revoke[@]}" "${@:2}" >"$dir/start.out" 2>"$dir/start.err"
}

# start ADDR [ARGS]: the source side, its exit status in $dir/start.status.
start() {
	(start_exec "$@")
	echo $? >"$dir/start.status"
}

# reap: the receive side's exit status; one that waits for a source that
# will never come is killed after 60 s (and fails the check on its status).
reap() {
	local i
	for i in $(seq 600); do kill -0 "$recv_pid" 2>/dev/null || break; sleep 0.1; done
	kill "$recv_pid" 2>/dev/null
	wait "$recv_pid"
}

field() { sed -n "s/^$1: //p" "$2"; }
show() { cat "$dir/start.err" "$dir/$recv_name.err" 2>/dev/null | tap_diag; }
ledger_size() { "${kt_in[@]}" "$KVMTRUST" ledger head --script | cut -f1; }
entry() { "${kt_in[@]}" "$KVMTRUST" ledger get --index "$1" --script | cut -f2,3,5,6; }
# entry_field INDEX KEY...: those members of the entry's JSON (format 3: report, detail)
entry_field() {
	"${kt_in[@]}" "$KVMTRUST" ledger get --index "$1" --json | python3 -c 'import json, sys
d = json.load(sys.stdin); print(" ".join(str(d.get(k, "-")) for k in sys.argv[1:]))' "${@:2}"
}

migrate_cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
}

# The two-host tests' start (migrate_hosts.sh, migrate_etcd_test.sh), $dir
# and PLAN set: the EXIT trap (hosts_cleanup_more first when the test
# defines it), the CA tree in $dir and the plan; every check skipped (exit
# 0) without /dev/kvm, kvmtrust.ko, openssl, QEMU, iproute2 or one of
# TOOL...
hosts_cleanup() {
	declare -F hosts_cleanup_more >/dev/null && hosts_cleanup_more	# before wait
	migrate_cleanup
	two_hosts_del
	[ -n "${KT_KEEP:-}" ] || rm -rf "$dir"
}

hosts_begin() {
	local t i missing=
	trap hosts_cleanup EXIT
	grant_tree_env "$dir"
	tap_plan "$PLAN"
	for t in qemu-system-x86_64 ip "$@"; do command -v "$t" >/dev/null || missing+=" $t"; done
	if [ ! -c /dev/kvm ] || [ -n "$missing" ] || ! "$KVMTRUST" info >/dev/null 2>&1 ||
	   ! (cd "$dir" && make_tree) >"$dir/setup.log" 2>&1; then
		tap_diag <"$dir/setup.log" 2>/dev/null
		for i in $(seq "$PLAN"); do
			tap_skip "$(basename "$0") $i" "no /dev/kvm, kvmtrust.ko or openssl, or missing:${missing:- -}"
		done
		exit 0
	fi
}

# move NAME [START-ARGS]: a whole migration to host a, --json on both
# sides, the new token in $dir/new.jwt and the final report in
# $dir/final.jwt; rs: the destination's exit status (the source's is in
# $dir/start.status).
move() {
	local name=$1
	shift
	port=$((port + 1))
	dst_qemu
	receive "$name" host-a "$DST:$port" --ledger "$KVMTRUST_LEDGER" --token-out "$dir/new.jwt" \
		--report-out "$dir/final.jwt" --json
	start "$DST:$port" --json "$@"
	reap; rs=$?
	show
	cat "$dir/start.out" "$dir/$name.out" | tap_diag
}

# stall_run NAME VICTIM N: the destination guest ready (its QEMU, or
# dst_vmm), receive NAME on the next port of DST, the relay in the source's
# namespace between start and receive (relay.py stall N PIDFILE): it
# forwards N bytes of the stream, then kills VICTIM (source: migrate start,
# destination: migrate receive), so the kill lands mid-transfer however slow
# the VM is; start runs in the background (start_pid).
stall_run() {
	port=$((port + 1))
	rm -f "$dir/$1.victim"
	receive "$1" host-a "$DST:$port" --ledger "$KVMTRUST_LEDGER"
	[ "$2" = destination ] && echo "$recv_pid" >"$dir/$1.victim"
	"${in_src[@]}" python3 "$RELAY" "unix:$dir/$1.relay" "$DST:$port" stall "$3" \
		"$dir/$1.victim" >"$dir/$1.relay.log" 2>&1 &
	pids+=($!)
	wait_for "$dir/$1.relay.log" listening
	start_exec "unix:$dir/$1.relay" &
	start_pid=$!
	pids+=($!)
	[ "$2" = source ] && echo "$start_pid" >"$dir/$1.victim"
}

# js FILE KEY...: those members of a --json output
js() {
	python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(' '.join(str(d[k]) for k in sys.argv[2:]))" "$@" 2>&1
}

# The owner, the ledger, the guest's identity (host b issues its token), a
# grant for the guest to CA eu with bob as delegate, and host b's host key.
migrate_setup() {
	kt ledger init && kt ledger register --vm "$VM" --key alice/key.pem --cert alice/cert.pem &&
	kt ledger append attest --vm "$VM" --result pass &&
	kt grant issue --key alice/key.pem --cert alice/chain.pem --uuid "$VM" --host-ca eu/cert.pem \
		--delegate bob/cert.pem --days 1 -o vm.grant &&
	kt token issue --key host-b/key.pem --cert host-b/chain.pem --uuid "$VM" --aud "$AUD" \
		--new-guest-key guest.pem -o token.jwt &&
	host_key_dir host-b "$HOST_B"
}
