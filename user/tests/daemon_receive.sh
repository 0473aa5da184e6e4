#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kvmtrustd as the receiving service of verified migrations, on the host
# (no kvmtrust.ko, no QEMU: selftests/daemon_receive_test.sh migrates a
# guest to it): the [receive] section's refusals with line numbers, the
# `kvmtrust migrate receive` options a session runs with, and the daemon's
# life around sessions that are refused, busy, hang or crash.
#
#   client (python) --unix:$dir/recv.sock--> kvmtrustd [receive]
#                                              | fork+exec per connection
#                                              v
#       kvmtrust migrate receive --accepted-fd N --expect UUID,QMP,IN --json
#   [vm dst] uuid = UUID, qmp = $dir/dst.qmp, incoming = $dir/in.sock: awaiting
set -u
cd "$(dirname "$0")/../.."
. scripts/lib/tap.sh
. scripts/lib/ledger-pki.sh
. selftests/lib/kvmtrustd.sh

KT=${KVMTRUST_CLI:-$PWD/user/kvmtrust}
KD=${KVMTRUSTD:-$PWD/user/kvmtrustd}
dir=$(mktemp -d /tmp/kvmtrustd-recv.XXXXXX)
daemon=
cleanup() {
	[ -n "$daemon" ] && kill -9 "$daemon" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

UUID=c3d2e1f0-1234-4abc-9def-0123456789ab
# kvmtrustd_global's 8 lines (selftests/lib/kvmtrustd.sh), and the owners' anchors.
global() { kvmtrustd_global "$dir"; echo "owner_anchors = $dir/owner-anchors"; }
receive_section() {
	printf '%s\n' "[receive]" "listen = unix:$dir/recv.sock" "key = $dir/host1.key" \
		"cert = $dir/host1.pem" "anchors = $dir/anchors" "crls = $dir/anchors" \
		"aud = kvmtrust-migrate" "host_anchors = $dir/anchors"
}
dst_section() {
	printf '%s\n' "[vm dst]" "uuid = $UUID" "qmp = $dir/dst.qmp" "incoming = $dir/in.sock" \
		"memory_root = learn"
}
# conf NAME LINES...: the global part (9 lines), then the lines given.
conf() { local f=$dir/$1.conf; shift; { global; printf '%s\n' "$@"; } >"$f"; echo "$f"; }
check() { "$KD" --check-config -c "$@"; }
# The [receive] section (lines 10-17) and [vm dst] (18-22), then LINES; a
# section is judged whole at its end (the next section, or the last line).
conf_rx() { local n=$1; shift; conf "$n" "$(receive_section)" "$(dst_section)" "$@"; }

ledger_pki "$dir" && mkdir "$dir/anchors" && cp "$dir/ca.pem" "$dir/anchors/" &&
	KVMTRUST_KEY_DIR=$dir/hostkey "$KT" tpm init --software --host-id h1 >/dev/null 2>&1 &&
	"$KT" ledger init --ledger "sqlite:$dir/ledger.db" >/dev/null

tap_plan 37

good=$(conf_rx good)
tap_is "a [receive] section and an awaiting guest are accepted" "$(check "$good")" \
	"$good: ok, 1 guest(s), every 1 s, receiving on unix:$dir/recv.sock"
tap_fails_with "[receive] given twice is refused" "bad.conf:23: \[receive\] is given twice" \
	check "$(conf_rx bad "[receive]")"
tap_fails_with "an unknown key in [receive] is refused" \
	"bad.conf:11: unknown key 'port' in the \[receive\] section" \
	check "$(conf bad "[receive]" "port = 4000")"
tap_fails_with "[receive] without aud is refused at its end" "bad.conf:17: \[receive\] has no aud" \
	check "$(conf bad "$(receive_section | grep -v '^aud')" "$(dst_section)")"
tap_fails_with "[receive] without host_anchors is refused" "\[receive\] has no host_anchors" \
	check "$(conf bad "$(receive_section | grep -v '^host_anchors')" "$(dst_section)")"
tap_fails_with "a listen address without a port is refused" \
	"bad.conf:11: listen 'localhost' is neither ADDR:PORT nor unix:/PATH" \
	check "$(conf bad "[receive]" "listen = localhost")"
tap_fails_with "a relative unix listen path is refused" \
	"bad.conf:11: listen 'unix:recv.sock' is neither" check "$(conf bad "[receive]" "listen = unix:recv.sock")"
tap_fails_with "a relative key path is refused" "bad.conf:11: key 'host1.key' is not an absolute path" \
	check "$(conf bad "[receive]" "key = host1.key")"
tap_fails_with "a missing anchors directory is refused" \
	"bad.conf:11: anchors '$dir/nope': No such file or directory" \
	check "$(conf bad "[receive]" "anchors = $dir/nope")"
tap_fails_with "expect_config_root of 63 digits is refused" \
	"bad.conf:11: expect_config_root '$(printf 'a%.0s' {1..63})' is not 64 hex digits" \
	check "$(conf bad "[receive]" "expect_config_root = $(printf 'a%.0s' {1..63})")"
tap_fails_with "session_timeout below 10 s is refused" \
	"bad.conf:11: session_timeout '5' is not a number from 10 to 86400" \
	check "$(conf bad "[receive]" "session_timeout = 5")"
tap_fails_with "incoming without qmp is refused" \
	"bad.conf:26: \[vm a\] gives incoming without qmp" \
	check "$(conf_rx bad "[vm a]" "uuid = $UUID" "incoming = $dir/a.sock" "memory_root = learn")"
tap_fails_with "qmp without incoming is refused" \
	"bad.conf:26: \[vm a\] gives qmp without incoming" \
	check "$(conf_rx bad "[vm a]" "uuid = $UUID" "qmp = $dir/a.qmp" "memory_root = learn")"
tap_fails_with "an awaiting guest named by pid is refused" \
	"bad.conf:28: \[vm a\] awaits a migration: name it by uuid alone" \
	check "$(conf_rx bad "[vm a]" "pid = 7" "uuid = $UUID" "qmp = $dir/a.qmp" "incoming = $dir/a.sock" \
		"memory_root = learn")"
tap_fails_with "token_out without incoming is refused" "\[vm a\] gives token_out but no incoming" \
	check "$(conf_rx bad "[vm a]" "uuid = $UUID" "token_out = $dir/a.jwt" "memory_root = learn")"
tap_fails_with "an incoming path with a ',' is refused" \
	"bad.conf:20: incoming '$dir/a,b' is not an absolute path of at most 107 characters without ','" \
	check "$(conf bad "$(receive_section)" "[vm dst]" "uuid = $UUID" "incoming = $dir/a,b")"
tap_fails_with "incoming without a [receive] section is refused at the incoming line" \
	"bad.conf:13: incoming is given but there is no \[receive\] section" check "$(conf bad "$(dst_section)")"
tap_fails_with "[receive] with no awaiting guest is refused at its line" \
	"bad.conf:10: \[receive\] is given but no \[vm\] section has incoming" \
	check "$(conf bad "$(receive_section)")"
{ global | grep -v owner_anchors; receive_section; dst_section; } >"$dir/noowner.conf"
tap_fails_with "[receive] without owner_anchors is refused" \
	"noowner.conf:9: \[receive\] needs owner_anchors" check "$dir/noowner.conf"

# What the sessions are started with: `kvmtrust migrate receive`'s service options.
rx_args=(--key "$dir/host1.key" --cert "$dir/host1.pem" --anchors "$dir/anchors" --crls "$dir/anchors"
	 --aud a --owner-anchors "$dir/owner-anchors" --host-anchors "$dir/anchors")
tap_fails_with "migrate receive: --expect without --lock-dir is a usage error" "--lock-dir" \
	"$KT" migrate receive --accepted-fd 0 --expect "$UUID,$dir/q,$dir/i" "${rx_args[@]}"
tap_fails_with "migrate receive: --expect naming no UUID is refused" \
	"--expect 'web,$dir/q,$dir/i' is not UUID,QMP,INCOMING" \
	"$KT" migrate receive --accepted-fd 0 --expect "web,$dir/q,$dir/i" --lock-dir "$dir" "${rx_args[@]}"
tap_fails_with "migrate receive: --expect with a relative path is refused" "'q' is not an absolute path" \
	"$KT" migrate receive --accepted-fd 0 --expect "$UUID,q,$dir/i" --lock-dir "$dir" "${rx_args[@]}"
tap_fails_with "migrate receive: one VM expected twice is refused" "--expect names VM $UUID twice" \
	"$KT" migrate receive --accepted-fd 0 --expect "$UUID,$dir/q,$dir/i" \
	--expect "$UUID,$dir/q2,$dir/i2" --lock-dir "$dir" "${rx_args[@]}"
tap_fails_with "migrate receive: --listen with --accepted-fd is a usage error" "--listen or --accepted-fd" \
	"$KT" migrate receive --listen unix:$dir/x --accepted-fd 0 --qmp "$dir/q" --incoming "$dir/i" "${rx_args[@]}"

# The daemon: one awaiting guest (no QEMU here), sessions that never bring it.
cfg=$dir/run.conf
printf '%s\n' "$(global)" "$(receive_section)" "session_timeout = 10" "$(dst_section)" >"$cfg"
"$KD" -c "$cfg" 2>"$dir/d.log" &
daemon=$!
for _ in $(seq 50); do [ -S "$dir/d.sock" ] && [ -S "$dir/recv.sock" ] && break; sleep 0.1; done
export KVMTRUSTD_SOCKET=$dir/d.sock
sleep 1.5
"$KT" daemon status --json >"$dir/s.json"
tap_is "an awaiting guest is not attested by rounds, and status says it awaits" \
	"$(jq -r '.vms[0] | [.name, .uuid, .incoming, .rounds, .error] | @tsv' "$dir/s.json")" \
	"dst	$UUID	awaiting	0	awaiting an incoming migration: attested once it has arrived"
tap_is "  status shows the receive socket, no session yet" \
	"$(jq -r '.receive | "\(.listen) \(.sessions) \(.accepted)"' "$dir/s.json")" "unix:$dir/recv.sock 0 0"
tap_is "  the text form too" "$("$KT" daemon status | grep -c '^  incoming:      awaiting$')" 1

# client SECONDS DATA: connects to the receive socket, sends DATA, stays SECONDS.
client() {
	python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.argv[3].encode())
time.sleep(float(sys.argv[2]))' "$dir/recv.sock" "$@"
}
wait_log() { for _ in $(seq 150); do grep -q "$1" "$dir/d.log" && return 0; sleep 0.1; done; return 1; }
client 0.5 "$(printf 'not a handshake %.0s' {1..20})"
tap_ok "a connection that is no handshake: its session is refused by name" \
	wait_log "receive: session [0-9]*: refused (exit 10): channel: "
tap_is "  the guest still awaits, the daemon runs" \
	"$("$KT" daemon status --json | jq -r '"\(.vms[0].incoming) \(.receive.accepted)"')" "awaiting 1"
client 12 "" &
hung=$!
wait_log "session [0-9]* started" && sleep 0.5
client 0.5 ""
tap_ok "a second connection while the one guest has its session is refused: busy" \
	wait_log "refused a connection: busy (1 session(s) for 1 awaiting guest(s))"
wait "$hung"
tap_ok "a session that hangs is killed at session_timeout" wait_log "session [0-9]* timed out: killed"
tap_ok "  and reaped, the guest still awaiting" \
	wait_log "session [0-9]*: timed out (session_timeout); every awaiting guest still awaits"
client 2 "" &
hung=$!
for _ in $(seq 50); do
	crash=$(sed -n 's/.*session \([0-9]*\) started.*/\1/p' "$dir/d.log" | tail -1)
	[ "$(grep -c 'started' "$dir/d.log")" = 3 ] && break
	sleep 0.1
done
# SIGABRT (an assert's crash), not SIGSEGV: AddressSanitizer takes a SEGV
# over in the sanitized suites and exits instead of dying by the signal.
kill -ABRT "$crash"
tap_ok "a session that crashes is reaped and logged, the daemon goes on" \
	wait_log "session $crash: ended by signal 6"
wait "$hung"
tap_is "  status: 3 sessions accepted, 1 refused busy, none arrived, the guest awaiting" \
	"$("$KT" daemon status --json | jq -r '"\(.receive.accepted) \(.receive.refused) \(.receive.arrived) \(.receive.sessions) \(.vms[0].incoming)"')" \
	"3 1 0 0 awaiting"
tap_is "  nothing was appended to the ledger" \
	"$("$KT" ledger head --ledger "sqlite:$dir/ledger.db" --script | cut -f1)" 0
sed -i "s#^listen = unix:$dir/recv.sock#listen = unix:$dir/recv2.sock#" "$cfg"
kill -HUP "$daemon"
for _ in $(seq 50); do [ -S "$dir/recv2.sock" ] && break; sleep 0.1; done
tap_is "SIGHUP with a new listen address moves the socket" \
	"$([ -S "$dir/recv2.sock" ] && echo new) $([ -e "$dir/recv.sock" ] && echo old)" "new "
kill -TERM "$daemon"; wait "$daemon"
tap_is "SIGTERM stops it with status 0, its receive socket removed" \
	"$? $([ -e "$dir/recv2.sock" ] && echo left)" "0 "
daemon=
sed 's/^/# /' "$dir/d.log"
tap_done
