#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kvmtrustd on the host (no kvmtrust.ko needed): the config parser's
# refusals with line numbers, the systemd unit, and the daemon's life cycle
# around a guest it cannot measure here (selftests/daemon_test.sh measures).
#
#   kvmtrustd -c $dir/d.conf  --(sqlite)-->  $dir/ledger.db (ledger_pki host1)
#        ^ control socket $dir/d.sock (0600)
#        |
#   kvmtrust daemon status|attest-now|watch [--json]
#   [vm fake] pid = a python process with --uuid on its command line, no VM:
#   every round fails to measure, so nothing is appended.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib/tap.sh
. scripts/lib/ledger-pki.sh

KT=${KVMTRUST_CLI:-$PWD/user/kvmtrust}
KD=${KVMTRUSTD:-$PWD/user/kvmtrustd}
UNIT=$PWD/user/daemon/kvmtrustd.service
dir=$(mktemp -d /tmp/kvmtrustd-sh.XXXXXX)
daemon= fake= watcher=
fakes=()
cleanup() {
	[ -n "$daemon" ] && kill -9 "$daemon" 2>/dev/null
	for p in "${fakes[@]}"; do kill -9 "$p" 2>/dev/null; done
	[ -n "$watcher" ] && kill -9 "$watcher" 2>/dev/null
	[ -n "$fake" ] && kill -9 "$fake" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

UUID=c3d2e1f0-1234-4abc-9def-0123456789ab
ROOT=$(printf 'ab%.0s' {1..32})
global() {
	cat <<-EOT
	# kvmtrustd test configuration
	ledger = sqlite:$dir/ledger.db
	ledger_ca = $dir/ca.pem
	ledger_key = $dir/host1.key
	ledger_cert = $dir/host1.pem
	key_dir = $dir/hostkey
	socket = $dir/d.sock
	EOT
}
# conf NAME LINES...: the global part, then the lines given.
conf() { local f=$dir/$1.conf; shift; { global; printf '%s\n' "$@"; } >"$f"; echo "$f"; }
check() { "$KD" --check-config -c "$@"; }

tap_plan 111

good=$(conf good "owner_anchors = $dir/owner-anchors" "[vm web]" "uuid = ${UUID^^}" "memory_root = learn" \
	"[vm db]" "pid = 4242" "memory_root = $ROOT")
tap_is "a good config is accepted; the interval defaults to 5 s" \
	"$(check "$good")" "$good: ok, 2 guest(s), every 5 s"
# The global part is 7 lines: a test config's first own line is line 8.
tap_fails_with "an unknown key is refused with its line" "bad.conf:8: unknown key 'ledgr'" \
	check "$(conf bad "ledgr = x")"
tap_fails_with "a repeated key is refused" "bad.conf:8: 'ledger' is given twice" \
	check "$(conf bad "ledger = sqlite:/x")"
tap_fails_with "interval 0 is refused" "bad.conf:8: interval '0' is not a number of seconds" \
	check "$(conf bad "interval = 0")"
tap_fails_with "interval with a unit is refused" "bad.conf:8: interval '5s' is not" \
	check "$(conf bad "interval = 5s")"
tap_fails_with "a line without '=' is refused" "bad.conf:8: expected 'key = value'" \
	check "$(conf bad "interval 5")"
tap_fails_with "a section that is not [vm NAME] is refused" \
	"bad.conf:8: '\[host a\]' is not a section" check "$(conf bad "[host a]")"
tap_fails_with "a VM name with a blank is refused" "bad.conf:8: VM name 'a b' must be" \
	check "$(conf bad "[vm a b]")"
tap_fails_with "a VM section given twice is refused" "bad.conf:11: \[vm a\] is given twice" \
	check "$(conf bad "[vm a]" "pid = 1" "memory_root = learn" "[vm a]")"
tap_fails_with "a VM key in the global part is refused" "bad.conf:8: unknown key 'pid'" \
	check "$(conf bad "pid = 1")"
tap_fails_with "a global key in a VM section is refused" \
	"bad.conf:9: unknown key 'interval' in a \[vm\] section" \
	check "$(conf bad "[vm a]" "interval = 1")"
tap_fails_with "a pid that is not a number is refused" "bad.conf:9: pid '12x' is not a process id" \
	check "$(conf bad "[vm a]" "pid = 12x")"
tap_fails_with "a uuid that is not a UUID is refused" "bad.conf:9: uuid 'web' is not a UUID" \
	check "$(conf bad "[vm a]" "uuid = web")"
tap_fails_with "a memory_root of 63 digits is refused" \
	"bad.conf:9: memory_root '${ROOT:1}' is neither 'learn' nor 64 hex digits" \
	check "$(conf bad "[vm a]" "memory_root = ${ROOT:1}")"
tap_fails_with "a VM section naming no guest is refused at its end" \
	"bad.conf:9: \[vm a\] names no guest: give pid, uuid or libvirt" \
	check "$(conf bad "[vm a]" "memory_root = learn")"
tap_fails_with "a VM section without a policy is refused" "bad.conf:10: \[vm a\] has no memory_root" \
	check "$(conf bad "[vm a]" "pid = 1" "[vm b]")"
# A runtime integrity policy (Documentation/policy.rst) instead of memory_root.
range='{"name": "text", "gpa": "0x1000", "len": "0x1000", "root": "'$ROOT'"}'
echo '{"version": 1, "ranges": ['"$range"']}' >"$dir/policy.json"
echo '{"version": 1, "ranges": ['"${range%\}}"', "size": 1}]}' >"$dir/bad-policy.json"
pol=$(conf pol "[vm a]" "pid = 1" "policy = $dir/policy.json")
tap_is "a VM with a policy file is accepted" "$(check "$pol")" "$pol: ok, 1 guest(s), every 5 s"
tap_fails_with "a missing policy file is refused with its line" \
	"bad.conf:10: policy: cannot open '$dir/nope.json'" \
	check "$(conf bad "[vm a]" "pid = 1" "policy = $dir/nope.json")"
tap_fails_with "a relative policy path is refused" "bad.conf:10: policy 'p.json' is not an absolute path" \
	check "$(conf bad "[vm a]" "pid = 1" "policy = p.json")"
tap_fails_with "a policy with an unknown key is refused by name" \
	"bad.conf:10: policy: ranges\[0\]: unknown key 'size'" \
	check "$(conf bad "[vm a]" "pid = 1" "policy = $dir/bad-policy.json")"
tap_fails_with "memory_root and policy together are refused" \
	"bad.conf:11: \[vm a\] has both memory_root and policy" \
	check "$(conf bad "[vm a]" "pid = 1" "policy = $dir/policy.json" "memory_root = learn")"
trig=$(conf trig "doorbell_port = 0x4b54" "event_cr = 0, 4" "event_msr = 0xc0000080,0xc0000082" \
	"event_threshold = 3" "trigger_min_gap_ms = 0" "hook = /bin/true" "state_dir = $dir/state" \
	"on_fail = log, hook" "on_score_below_75 = none" "on_score_below_50 = log,hook,freeze,nonmigratable" \
	"[vm a]" "pid = 1" "memory_root = learn")
tap_is "a config with triggers and actions is accepted" "$(check "$trig")" "$trig: ok, 1 guest(s), every 5 s"
tap_fails_with "doorbell_port 0 is refused" "bad.conf:8: doorbell_port '0' is not a number from 1 to 65535" \
	check "$(conf bad "doorbell_port = 0")"
tap_fails_with "doorbell_port above 65535 is refused" "bad.conf:8: doorbell_port '0x10000' is not" \
	check "$(conf bad "doorbell_port = 0x10000")"
tap_fails_with "event_cr 2 is refused" "bad.conf:8: event_cr '2' is not 0, 3, 4 or 8" \
	check "$(conf bad "event_cr = 0,2")"
tap_fails_with "an empty list item is refused" "bad.conf:8: 'event_cr' has an empty item" \
	check "$(conf bad "event_cr = 0,,4")"
tap_fails_with "an MSR given twice is refused" "bad.conf:8: event_msr 0x10 is given twice" \
	check "$(conf bad "event_msr = 0x10,0x10")"
tap_fails_with "more than 8 MSRs are refused" "bad.conf:8: event_msr lists more than 8 MSRs" \
	check "$(conf bad "event_msr = 1,2,3,4,5,6,7,8,9")"
tap_fails_with "event_threshold 0 is refused" "bad.conf:8: event_threshold '0' is not a number from 1" \
	check "$(conf bad "event_threshold = 0")"
tap_fails_with "a rate limit above an hour is refused" \
	"bad.conf:8: trigger_min_gap_ms '3600001' is not a number from 0 to 3600000" \
	check "$(conf bad "trigger_min_gap_ms = 3600001")"
tap_fails_with "a relative hook is refused" "bad.conf:8: hook 'hook.sh' is not an absolute path" \
	check "$(conf bad "hook = hook.sh")"
touch "$dir/noexec"
tap_fails_with "a hook that cannot be run is refused" "bad.conf:8: hook '$dir/noexec' is not executable" \
	check "$(conf bad "hook = $dir/noexec")"
tap_fails_with "a relative state_dir is refused" "bad.conf:8: state_dir 'state' is not an absolute path" \
	check "$(conf bad "state_dir = state")"
tap_fails_with "an unknown action is refused" \
	"bad.conf:8: action 'reboot' is not log, hook, freeze, nonmigratable, rollback or none" \
	check "$(conf bad "on_fail = log, reboot")"
tap_fails_with "the hook action without a hook is refused, with the line naming it" \
	"bad.conf:9: on_score_below_50 names the action hook but no hook is set" \
	check "$(conf bad "on_fail = log" "on_score_below_50 = hook")"
# The rollback action (on_fail only) needs a store holding a snapshot of each guest.
# A manifest of no pages is enough for the parser (verification is the action's, later).
snap_fixture() { # STORE ID VM_UUID
	local d=$1/snapshots/$2
	mkdir -p "$d" && : >"$d/leaves.bin"
	cat >"$d/manifest.json" <<-EOT
	{"format": 1, "id": "$2", "vm_id": "$3", "vmm": "other", "created": 1, "seq": 1,
	 "leaf_format": 2, "vcpus": 0, "pages": 0, "zero_pages": 0, "new_pages": 0,
	 "memory_root": "$ROOT", "leaves_sha256": "$(sha256sum <"$d/leaves.bin" | cut -c1-64)",
	 "slots": []}
	EOT
}
snap_fixture "$dir/store" 20261203T150000Z-a "$UUID"
snap_fixture "$dir/other" 20261203T150000Z-b c3d2e1f0-1234-4abc-9def-0123456789ac
roll=$(conf roll "snapshot_store = $dir/store" "on_fail = log, rollback, freeze" \
	"[vm a]" "uuid = $UUID" "memory_root = learn")
tap_is "the rollback action with a store holding the guest's snapshot is accepted" \
	"$(check "$roll")" "$roll: ok, 1 guest(s), every 5 s"
tap_fails_with "the rollback action outside on_fail is refused" \
	"bad.conf:9: on_score_below_50: the action rollback is for on_fail only" \
	check "$(conf bad "snapshot_store = $dir/store" "on_score_below_50 = log, rollback")"
tap_fails_with "the rollback action without snapshot_store is refused" \
	"bad.conf:8: on_fail names the action rollback but no snapshot_store is set" \
	check "$(conf bad "on_fail = rollback" "[vm a]" "uuid = $UUID" "memory_root = learn")"
tap_fails_with "the rollback action with a missing snapshot_store is refused" \
	"bad.conf:9: snapshot_store '$dir/nostore': No such file or directory" \
	check "$(conf bad "snapshot_store = $dir/nostore" "on_fail = rollback" "[vm a]" \
		"uuid = $UUID" "memory_root = learn")"
tap_fails_with "the rollback action with a snapshot_store that is a file is refused" \
	"bad.conf:9: snapshot_store '$dir/noexec' is not a directory" \
	check "$(conf bad "snapshot_store = $dir/noexec" "on_fail = rollback" "[vm a]" \
		"uuid = $UUID" "memory_root = learn")"
tap_fails_with "the rollback action for a guest named by pid alone is refused" \
	"bad.conf:9: rollback: \[vm a\] has no uuid, by which its snapshots are found" \
	check "$(conf bad "snapshot_store = $dir/store" "on_fail = rollback" "[vm a]" "pid = 1" \
		"memory_root = learn")"
tap_fails_with "the rollback action with no snapshot of the guest in the store is refused" \
	"bad.conf:9: rollback: snapshot_store '$dir/other' holds no snapshot of \[vm a\]" \
	check "$(conf bad "snapshot_store = $dir/other" "on_fail = rollback" "[vm a]" \
		"uuid = $UUID" "memory_root = learn")"
tap_fails_with "a relative snapshot_store is refused" \
	"bad.conf:8: snapshot_store 'store' is not an absolute path" \
	check "$(conf bad "snapshot_store = store")"
tap_fails_with "a trigger key in a VM section is refused" \
	"bad.conf:9: unknown key 'doorbell_port' in a \[vm\] section" \
	check "$(conf bad "[vm a]" "doorbell_port = 1")"
# Auto-discovery: what a pass means for a guest nobody wrote a [vm] for must be said.
echo '{"version": 1, "vcpu": [{"name": "pe", "reg": "cr0", "op": "bits-set", "value": "0x1"}]}' \
	>"$dir/discover.json"
disc=$(conf disc "discover = yes" "discover_policy = $dir/discover.json" "discover_max = 4")
tap_is "discover = yes with a discover_policy is accepted" "$(check "$disc")" \
	"$disc: ok, 0 guest(s), every 5 s, discovering KVM VMs"
tap_fails_with "discover other than yes or no is refused" \
	"bad.conf:8: discover 'on' is neither yes nor no" check "$(conf bad "discover = on")"
tap_fails_with "discover = yes without discover_policy is refused at its line" \
	"bad.conf:9: discover = yes needs discover_policy" \
	check "$(conf bad "interval = 2" "discover = yes")"
tap_fails_with "discover_policy without discover = yes is refused at its line" \
	"bad.conf:9: discover_policy is given but discover is not yes" \
	check "$(conf bad "discover = no" "discover_policy = $dir/discover.json")"
tap_fails_with "a relative discover_policy is refused" \
	"bad.conf:9: discover_policy 'd.json' is not an absolute path" \
	check "$(conf bad "discover = yes" "discover_policy = d.json")"
tap_fails_with "a missing discover_policy file is refused" \
	"bad.conf:9: discover_policy: cannot open '$dir/nope.json'" \
	check "$(conf bad "discover = yes" "discover_policy = $dir/nope.json")"
tap_fails_with "a bad discover_policy file is refused by name" \
	"bad.conf:9: discover_policy: ranges\[0\]: unknown key 'size'" \
	check "$(conf bad "discover = yes" "discover_policy = $dir/bad-policy.json")"
tap_fails_with "discover_max 0 is refused" "bad.conf:8: discover_max '0' is not a number from 1 to 256" \
	check "$(conf bad "discover_max = 0")"
tap_fails_with "discover_max above 256 is refused" "bad.conf:8: discover_max '257' is not" \
	check "$(conf bad "discover_max = 257")"
tap_fails_with "discover in a VM section is refused" \
	"bad.conf:9: unknown key 'discover' in a \[vm\] section" check "$(conf bad "[vm a]" "discover = yes")"
# libvirt domains, by name or UUID, through libvirt_run_dir's status files.
lv=$(conf lv "libvirt_run_dir = $dir/libvirt" "[vm a]" "libvirt = web-1.example" "memory_root = learn" \
	"[vm b]" "libvirt = ${UUID^^}" "memory_root = learn")
tap_is "guests named by libvirt domain name and UUID are accepted" "$(check "$lv")" \
	"$lv: ok, 2 guest(s), every 5 s"
tap_fails_with "a libvirt domain name with a '/' is refused" \
	"bad.conf:9: libvirt '../etc/x' is neither a UUID nor a domain name" \
	check "$(conf bad "[vm a]" "libvirt = ../etc/x")"
tap_fails_with "a libvirt domain name starting with '.' is refused" \
	"bad.conf:9: libvirt '.hidden' is neither a UUID nor a domain name" \
	check "$(conf bad "[vm a]" "libvirt = .hidden")"
tap_fails_with "a libvirt domain name of 201 characters is refused" "bad.conf:9: libvirt '" \
	check "$(conf bad "[vm a]" "libvirt = $(printf 'x%.0s' {1..201})")"
tap_fails_with "libvirt with pid in one section is refused" \
	"bad.conf:11: \[vm a\] names its guest twice: give libvirt, or pid and uuid" \
	check "$(conf bad "[vm a]" "libvirt = web" "pid = 4" "memory_root = learn")"
tap_fails_with "libvirt with uuid in one section is refused" \
	"bad.conf:11: \[vm a\] names its guest twice" \
	check "$(conf bad "[vm a]" "uuid = $UUID" "libvirt = web" "memory_root = learn")"
tap_fails_with "a relative libvirt_run_dir is refused" \
	"bad.conf:8: libvirt_run_dir 'run' is not an absolute path" check "$(conf bad "libvirt_run_dir = run")"
printf 'interval = 5\n' >"$dir/short.conf"
tap_fails_with "a config without the ledger and its signer is refused" \
	"short.conf: ledger, ledger_ca, ledger_key and ledger_cert are required" check "$dir/short.conf"
tap_fails_with "a missing config file is refused" "nothing.conf: No such file" \
	check "$dir/nothing.conf"
printf 'interval = 5\0\n' >"$dir/nul.conf"
tap_fails_with "a NUL byte is refused" "nul.conf:1: NUL byte" check "$dir/nul.conf"

# systemd-analyze warns on stderr yet exits 0 for a bad value: no output is the pass.
if command -v systemd-analyze >/dev/null; then
	sed "s#/usr/sbin/kvmtrustd#$KD#" "$UNIT" >"$dir/kvmtrustd.service"
	tap_is "the systemd unit passes systemd-analyze verify, without a warning" \
		"$(systemd-analyze verify --man=no "$dir/kvmtrustd.service" 2>&1; echo "rc=$?")" "rc=0"
	mkdir "$dir/broken" && sed 's/^Type=notify/Type=notfy/' "$dir/kvmtrustd.service" \
		>"$dir/broken/kvmtrustd.service"
	tap_fails_with "  and that check sees a broken unit" "Failed to parse service type" \
		bash -c "out=\$(systemd-analyze verify --man=no $dir/broken/kvmtrustd.service 2>&1); echo \"\$out\"; [ -z \"\$out\" ]"
else
	tap_skip "the systemd unit passes systemd-analyze verify" "no systemd-analyze on this host"
	tap_skip "  and that check sees a broken unit" "no systemd-analyze on this host"
fi

# The daemon itself, around a guest it cannot measure.
ledger_pki "$dir" && KVMTRUST_KEY_DIR=$dir/hostkey "$KT" tpm init --software --host-id h1 \
	>/dev/null 2>&1 && "$KT" ledger init --ledger "sqlite:$dir/ledger.db" >/dev/null
python3 -c 'import time; time.sleep(300)' --uuid "$UUID" &
fake=$!
OTHER=d4e3f2a1-5678-4bcd-8ef0-123456789abc
cfg=$(conf run "interval = 1" "[vm fake]" "pid = $fake" "memory_root = learn" \
	"[vm other]" "pid = $fake" "uuid = $OTHER" "memory_root = learn" \
	"[vm ghost]" "uuid = $OTHER" "memory_root = learn")
tap_fails_with "the daemon refuses to start on a bad config, naming the line" \
	"bad.conf:10: \[vm a\] has no memory_root" "$KD" -c "$(conf bad "[vm a]" "pid = 1" "[vm b]")"
"$KD" -c "$cfg" 2>"$dir/d.log" &
daemon=$!
for _ in $(seq 50); do [ -S "$dir/d.sock" ] && break; sleep 0.1; done
export KVMTRUSTD_SOCKET=$dir/d.sock
tap_is "the control socket is mode 0600" "$(stat -c %a "$dir/d.sock" 2>&1)" 600
"$KT" daemon attest-now --json >"$dir/s.json"
tap_is "attest-now reports the guest, named by its VMM's --uuid, not attested" \
	"$(jq -r '.vms[0] | [.name, .uuid, .pid, .result, .rounds] | @tsv' "$dir/s.json")" \
	"fake	$UUID	$fake	none	0"
tap_is "  no eBPF trigger is loaded when none is configured" "$(jq -r '.triggers.bpf' "$dir/s.json")" false
tap_is "  with the reason: it could not be measured" \
	"$(jq -r '.vms[0].error' "$dir/s.json" | cut -d: -f1)" "measure"
tap_is "a pid whose VMM carries another -uuid is not taken for the guest" \
	"$(jq -r '.vms[1] | "\(.pid) \(.error)"' "$dir/s.json")" \
	"0 resolve: the process runs another VM (its -uuid differs)"
tap_is "a uuid no process carries is not found" "$(jq -r '.vms[2].error' "$dir/s.json")" \
	"resolve: not exactly one running process has this -uuid: give pid in the [vm] section"
tap_is "nothing was appended for them" \
	"$("$KT" ledger head --ledger "sqlite:$dir/ledger.db" --script | cut -f1)" 0
tap_is "status in text names the guest" "$("$KT" daemon status | grep -c "^vm fake $UUID pid $fake: none")" 1
tap_fails_with "an unknown request is answered with an error" "unknown request" \
	bash -c "python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b\"reboot\n\"); print(s.recv(999).decode()); sys.exit(1)' $dir/d.sock"
tap_fails_with "kvmtrust daemon refuses an unknown command" "unknown command 'restart'" \
	"$KT" daemon restart
# watch: every round's result as it happens; here each one an error (no module).
timeout --preserve-status 5 "$KT" daemon watch --json >"$dir/w.json" 2>"$dir/w.err"
tap_is "watch, interrupted by SIGTERM, exits 0" "$?" 0
tap_ok "  it saw >= 2 results of the fake guest in 5 s at interval 1" \
	test "$(jq -r 'select(.event == "result" and .name == "fake") | .name' "$dir/w.json" | wc -l)" -ge 2
tap_is "  each a JSON object: not attested, with the reason and the trigger" \
	"$(jq -r 'select(.name == "fake") | [.uuid, .pid, .result, .trigger, (.reason | split(":")[0])] | @tsv' \
		"$dir/w.json" | sort -u)" "$UUID	$fake	error	timer	measure"
# A watcher is taken between rounds: it sees whole rounds, in the config's order.
tap_is "  every guest's results, round by round in the config's order" \
	"$(jq -r .name "$dir/w.json" | head -6 | tr '\n' ' ')" "fake other ghost fake other ghost "
timeout --preserve-status 3 "$KT" daemon watch >"$dir/w.txt"
tap_ok "watch in text: one line per result naming the guest, its pid and why" \
	grep -q "vm fake pid $fake: not attested (timer): measure: " "$dir/w.txt"
tap_fails_with "watch refuses --script (exit 2)" "unrecognized option '--script'" \
	bash -c "'$KT' daemon watch --script; [ \$? -eq 2 ] && exit 1; exit 0"
tap_fails_with "a 17th watcher at once is refused by name" "too many watchers" \
	python3 - "$dir/d.sock" <<-'EOT'
	import socket, sys
	conns = []
	for i in range(17):
	    s = socket.socket(socket.AF_UNIX)
	    s.connect(sys.argv[1])
	    s.sendall(b"watch\n")
	    conns.append(s)
	s.settimeout(5)
	print(s.recv(999).decode())
	sys.exit(1)
	EOT
# The 16 above hung up without an event since: their places are free again.
"$KT" daemon watch --json >/dev/null 2>"$dir/w-stop.err" &
watcher=$!
sleep 1.5
cp "$dir/bad.conf" "$cfg"
kill -HUP "$daemon"; sleep 0.5
tap_is "SIGHUP with a bad config keeps the daemon and its guests" \
	"$("$KT" daemon status --json | jq -r '.vms[0].name')" fake
grep -q "keeping the running configuration" "$dir/d.log"
tap_result $? "  and says why, with the line"
kill -TERM "$daemon"; wait "$daemon"
tap_is "SIGTERM stops it with status 0" "$?" 0
daemon=
wait "$watcher"
watcher_rc=$?
watcher=
tap_is "a watcher outlives SIGHUP and sees the daemon stop: exit 5, saying so" \
	"$watcher_rc:$(cut -d: -f2 "$dir/w-stop.err")" "5: kvmtrustd closed the connection (it stopped, or this watcher did not keep up)"
tap_is "  and removes its socket" "$(ls "$dir/d.sock" 2>&1 | grep -c 'No such file')" 1
tap_fails_with "without the daemon, status says it is not running (exit 5)" \
	"is kvmtrustd running" bash -c "'$KT' daemon status; [ \$? -eq 5 ] && exit 1; exit 0"
tap_fails_with "without the daemon, watch says it is not running (exit 5)" \
	"is kvmtrustd running" bash -c "'$KT' daemon watch; [ \$? -eq 5 ] && exit 1; exit 0"

# libvirt: each round reads libvirt_run_dir/NAME.xml (fixtures here, as libvirtd writes them).
mkdir "$dir/libvirt"
status_xml() { # NAME PID UUID
	cat >"$dir/libvirt/$1.xml" <<-EOT
	<!-- WARNING: THIS IS AN AUTO-GENERATED FILE (a test fixture) -->
	<domstatus state='running' reason='booted' pid='$2'>
	  <monitor path='/var/lib/libvirt/qemu/domain-1-$1/monitor.sock' type='unix'/>
	  <domain type='kvm' id='1'>
	    <name>$1</name>
	    <uuid>$3</uuid>
	    <memory unit='KiB'>65536</memory>
	  </domain>
	</domstatus>
	EOT
}
sh -c 'exit 0' & dead=$!; wait "$dead"
status_xml web "$fake" "${UUID^^}"
status_xml gone "$dead" "$OTHER"
status_xml impostor "$fake" "$OTHER"
echo '<domstatus pid="1"><domain><name>broken</name>' >"$dir/libvirt/broken.xml"
echo '<domain><name>config</name><uuid>'"$OTHER"'</uuid></domain>' >"$dir/libvirt/config.xml"
status_xml renamed "$fake" "$OTHER" && sed -i 's#<name>renamed#<name>other#' "$dir/libvirt/renamed.xml"
lvrun=$(conf lvrun "interval = 60" "libvirt_run_dir = $dir/libvirt" \
	"[vm web]" "libvirt = web" "memory_root = learn" \
	"[vm byuuid]" "libvirt = $UUID" "memory_root = learn" \
	"[vm missing]" "libvirt = nodomain" "memory_root = learn" \
	"[vm gone]" "libvirt = gone" "memory_root = learn" \
	"[vm impostor]" "libvirt = impostor" "memory_root = learn" \
	"[vm broken]" "libvirt = broken" "memory_root = learn" \
	"[vm config]" "libvirt = config" "memory_root = learn" \
	"[vm renamed]" "libvirt = renamed" "memory_root = learn")
rm -f "$dir/d.sock"
"$KD" -c "$lvrun" 2>"$dir/lv.log" &
daemon=$!
for _ in $(seq 50); do [ -S "$dir/d.sock" ] && break; sleep 0.1; done
"$KT" daemon status --json >"$dir/lv.json"
lv() { jq -r --arg n "$1" '.vms[] | select(.name == $n) | '"$2" "$dir/lv.json"; }
tap_is "a libvirt domain by name: its status file's pid and UUID, then measured" \
	"$(lv web '"\(.libvirt) \(.pid) \(.uuid) \(.error | split(":")[0])"')" "web $fake $UUID measure"
tap_is "a libvirt domain by UUID: found among the status files" \
	"$(lv byuuid '"\(.pid) \(.uuid) \(.error | split(":")[0])"')" "$fake $UUID measure"
tap_is "a domain with no status file (not running) is an error, not a pass" \
	"$(lv missing '"\(.pid) \(.result) \(.error)"')" \
	"0 none resolve: libvirt: $dir/libvirt/nodomain.xml: No such file or directory"
tap_is "a domain whose pid is not running is an error" "$(lv gone .error)" \
	"resolve: libvirt: domain 'gone': its pid $dead is not running"
tap_is "a pid that runs another -uuid than the domain's is an error" "$(lv impostor .error)" \
	"resolve: libvirt: domain 'impostor': pid $fake does not run it (its -uuid is $UUID, the domain's $OTHER)"
tap_is "a status file that is not well-formed XML is an error" "$(lv broken .error)" \
	"resolve: libvirt: $dir/libvirt/broken.xml is not well-formed XML"
tap_is "a domain XML that is not a status file is an error" "$(lv config .error)" \
	"resolve: libvirt: $dir/libvirt/config.xml is not a status file (no <domstatus>)"
tap_is "a status file naming another domain is an error" "$(lv renamed .error)" \
	"resolve: libvirt: $dir/libvirt/renamed.xml names domain 'other', not 'renamed'"
tap_is "  nothing was appended for any of them" \
	"$("$KT" ledger head --ledger "sqlite:$dir/ledger.db" --script | cut -f1)" 0
tap_is "  status shows discovery off, and marks no guest discovered" \
	"$(jq -r '"\(.discover.enabled) \([.vms[] | .discovered] | any)"' "$dir/lv.json")" "false false"
tap_is "  the text form names the domain" "$("$KT" daemon status | grep -c '^  libvirt:       web$')" 1
kill -TERM "$daemon"; wait "$daemon"
daemon=

# Discovery, with processes that create a KVM VM and vCPU and map its kvm_run
# (no guest runs, no module needed): found, named, capped, dropped on exit.
fakevm() { # SECONDS [MAP] [ARGS...]: a VMM that never runs its vCPU
	python3 - "$@" <<-'EOT' &
	import fcntl, mmap, os, sys, time
	kvm = os.open("/dev/kvm", os.O_RDWR)
	vm = fcntl.ioctl(kvm, 0xAE01, 0)                   # KVM_CREATE_VM
	vcpu = fcntl.ioctl(vm, 0xAE41, 0)                  # KVM_CREATE_VCPU
	if sys.argv[2] == "map":
	    run = mmap.mmap(vcpu, fcntl.ioctl(kvm, 0xAE04, 0))  # KVM_GET_VCPU_MMAP_SIZE
	time.sleep(float(sys.argv[1]))
	EOT
	fakes+=($!)
}
DISC_N=9
if ! python3 -c 'import fcntl, os; fcntl.ioctl(os.open("/dev/kvm", os.O_RDWR), 0xAE01, 0)' 2>/dev/null; then
	for i in $(seq $DISC_N); do tap_skip "discovery $i" "/dev/kvm cannot create a VM here"; done
else
	fakes=()
	UA=a1a1a1a1-0000-4000-8000-00000000000a UC=c1c1c1c1-0000-4000-8000-00000000000c
	UD=d1d1d1d1-0000-4000-8000-00000000000d
	fakevm 300 map --uuid "$UA"
	fakevm 300 map
	fakevm 300 map --uuid "$UC"
	fakevm 300 nomap --uuid "$UD"	# holds kvm-vm and kvm-vcpu fds, maps nothing: a borrower
	fakevm 300 map			# configured by pid below
	sleep 1
	dcfg=$(conf dcfg "interval = 1" "discover = yes" "discover_policy = $dir/discover.json" \
		"discover_max = 2" "[vm conf]" "pid = ${fakes[4]}" "uuid = $OTHER" "memory_root = learn")
	rm -f "$dir/d.sock"
	"$KD" -c "$dcfg" 2>"$dir/disc.log" &
	daemon=$!
	for _ in $(seq 50); do [ -S "$dir/d.sock" ] && break; sleep 0.1; done
	sleep 1.5
	"$KT" daemon status --json >"$dir/disc.json"
	tap_is "discovery: 4 VMMs found (a borrower of a VM's descriptors is none), 2 taken, 1 over the cap" \
		"$(jq -r '"\(.discover.found) \([.vms[] | select(.discovered)] | length) \(.discover.skipped)"' \
		"$dir/disc.json")" "4 2 1"
	tap_is "  the configured guest comes first and is not discovered" \
		"$(jq -r '[.vms[] | select(.pid == '"${fakes[4]}"' or .name == "conf") | "\(.name):\(.discovered)"] | join(" ")' \
		"$dir/disc.json")" "conf:false"
	named=$(jq -r '.vms[] | select(.discovered) | "\(.name) \(.pid) \(.uuid)"' "$dir/disc.json" |
		while read -r name pid uuid; do
			case $pid in
			"${fakes[0]}") [ "$name $uuid" = "$UA $UA" ] && echo ok ;;
			"${fakes[2]}") [ "$name $uuid" = "$UC $UC" ] && echo ok ;;
			"${fakes[1]}") [[ $name == "pid-$pid" && $uuid =~ ^[0-9a-f]{8}-[0-9a-f-]{27}$ ]] && echo ok ;;
			esac
		done | wc -l)
	tap_is "  named by --uuid, or pid-N with a UUID of its own" "$named" 2
	tap_is "  a discovered guest that cannot be measured is an error, never a pass" \
		"$(jq -r '[.vms[] | select(.discovered) | "\(.result) \(.error | split(":")[0])"] | unique | join(",")' \
		"$dir/disc.json")" "none measure"
	first=$(jq -r '[.vms[] | select(.discovered)][0].pid' "$dir/disc.json")
	noid=$(jq -r --arg p "${fakes[1]}" '.vms[] | select(.pid == ($p | tonumber)) | .uuid' "$dir/disc.json")
	kill -HUP "$daemon"
	sleep 1.5
	tap_is "  SIGHUP keeps the discovered guests (and the UUID given to one without -uuid)" \
		"$("$KT" daemon status --json | jq -r --arg p "${fakes[1]}" '[.vms[] | select(.discovered)] | "\(length) \(map(select(.pid == ($p | tonumber)) | .uuid) | join(""))"')" \
		"2 $noid"
	kill "$first"; wait "$first" 2>/dev/null
	for _ in $(seq 40); do
		"$KT" daemon status --json >"$dir/disc.json"
		[ "$(jq -r '.discover.found' "$dir/disc.json")" = 3 ] && break
		sleep 0.1
	done
	tap_is "a discovered VMM that exits vanishes; the one over the cap takes its place" \
		"$(jq -r '"\(.discover.found) \([.vms[] | select(.discovered) | .pid] | (any(. == '"$first"') | not)) \([.vms[] | select(.discovered)] | length) \(.discover.skipped)"' \
		"$dir/disc.json")" "3 true 2 0"
	tap_ok "  the log says it is gone" grep -q "(discovered, pid $first) is gone" "$dir/disc.log"
	tap_is "  the text form marks them" "$("$KT" daemon status | grep -c '^  discovered:    yes')" 2
	tap_is "  nothing was appended for any" \
		"$("$KT" ledger head --ledger "sqlite:$dir/ledger.db" --script | cut -f1)" 0
	kill -TERM "$daemon"; wait "$daemon"
	daemon=
	for p in "${fakes[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	fakes=()
fi
sed 's/^/# /' "$dir/d.log"
tap_done
