# SPDX-License-Identifier: GPL-2.0
#
# Shell tests that run kvmtrustd in the test VM (daemon_test.sh,
# daemon_rollback_test.sh, policy_test.sh); they set $K (the CLI) and source scripts/lib/tap.sh and
# scripts/lib/ledger-pki.sh first:
#   kvmtrustd_ledger DIR   a throw-away ledger PKI (ledger_pki), a software
#                          host key in DIR/hostkey and an SQLite ledger
#   kvmtrustd_global DIR   the global part of a kvmtrustd.conf writing that
#                          ledger as host1, interval 1 s, socket DIR/d.sock,
#                          state_dir DIR/state (the test adds the rest)
#   kvmtrustd_start DIR    exports the CLI's environment for DIR's daemon and
#                          ledger, starts $KD -c DIR/d.conf (log DIR/d.log,
#                          pid in $daemon) and waits for its socket
#   st JQ                  JQ over `kvmtrust daemon status --json`
#   wait_for JQ            up to WAIT_FOR_TENTHS tenths of a second
#                          (default 100: TCG is slow and shared) for the
#                          daemon's status to make JQ true

kvmtrustd_ledger() {
	ledger_pki "$1" && KVMTRUST_KEY_DIR=$1/hostkey "$K" tpm init --software --host-id vm-host \
		>/dev/null 2>&1 && "$K" ledger init --ledger "sqlite:$1/ledger.db" >/dev/null
}

kvmtrustd_global() {
	cat <<-EOT
	interval = 1
	ledger = sqlite:$1/ledger.db
	ledger_ca = $1/ca.pem
	ledger_key = $1/host1.key
	ledger_cert = $1/host1.pem
	key_dir = $1/hostkey
	socket = $1/d.sock
	state_dir = $1/state
	EOT
}

kvmtrustd_start() {
	export KVMTRUSTD_SOCKET=$1/d.sock KVMTRUST_LEDGER=sqlite:$1/ledger.db \
		KVMTRUST_LEDGER_CA=$1/ca.pem KVMTRUST_OWNER_ANCHORS=$1/owner-anchors
	"$KD" -c "$1/d.conf" 2>"$1/d.log" &
	daemon=$!
	for _ in $(seq 50); do [ -S "$1/d.sock" ] && break; sleep 0.1; done
}

st() { "$K" daemon status --json | jq -r "$1"; }

wait_for() {
	local i
	for i in $(seq "${WAIT_FOR_TENTHS:-100}"); do
		[ "$(st "$1" 2>/dev/null)" = true ] && return 0
		sleep 0.1
	done
	return 1
}
