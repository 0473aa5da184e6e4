# SPDX-License-Identifier: GPL-2.0
#
# The two hosts of selftests/migrate_hosts_test.sh and migrate_cut_test.sh
# (Documentation/migration.rst, "Tests"): network namespaces joined by a
# veth pair, the CA tree, the ledger and its copies, the guest's token, the
# grants, host b's host key and launch attestation, the revocations, and the
# source guest running on host b. The caller sets PLAN and sources
# selftests/lib/migrate.sh first; three checks are made here.

GUEST_MIB=32	# each test file stays within run-in-vm's 300 s under TCG
port=7400
dir=$(mktemp -d /tmp/kt-migrate-hosts.XXXXXX)

hosts_begin

two_hosts >"$dir/net.log" 2>&1
tap_diag <"$dir/net.log"
tap_ok "two hosts: namespaces joined by a veth pair, the source reaches $DST over TCP" reachable

# ledger_copy NAME [ENTRY...]: a copy of the ledger with entries appended
# ("KIND OPTIONS" lines, as ledger append - reads them).
ledger_copy() {
	local name=$1
	shift
	cp "$dir/ledger.db" "$dir/$name.db" &&
	printf '%s\n' "$@" | KVMTRUST_LEDGER=sqlite:$dir/$name.db kt ledger append -
}

# --- the owner, the ledger, the identities, the evidence -------------------------
(
	cd "$dir" && migrate_setup &&
	kt config attest --uuid "$VM" --key-dir host-b/hostkey -o launch.jwt --qemu -- \
		qemu-system-x86_64 -accel kvm -machine pc,smm=off -m "$GUEST_MIB" -nodefaults -display none &&
	kt grant issue --key alice/key.pem --cert alice/chain.pem --uuid "$VM" \
		--host-ca eu-sub/cert.pem --delegate bob/cert.pem --days 1 -o eu-sub.grant &&
	kt grant issue --key alice/key.pem --cert alice/chain.pem --uuid "$VM" --host-ca eu/cert.pem \
		--delegate bob/cert.pem --not-before now-2d --not-after now-1d -o expired.grant &&
	: >empty.grant &&
	revoked_crls eu host-a crls-a-revoked &&
	cp -r host-anchors trl && cp token.jwt revoked.jwt &&
	kt token revoke --key host-b/key.pem --cert host-b/chain.pem --trl trl/host-b.trl revoked.jwt &&
	ledger_copy low-score "attest --vm $VM --result fail" \
		"attest --vm $VM --result fail" "attest --vm $VM --result fail" &&
	ledger_copy compromised "compromise --host $HOST_A" &&
	ledger_copy verify-first "attest --vm $VM --result fail"
) >"$dir/setup.log" 2>&1
setup=$?
tap_diag <"$dir/setup.log"
tap_is "setup: ledger, grants, token, host keys, launch attestation, revocations" "$setup" 0

qemu src
tap_is "source guest running in the source namespace" "$(qmp "$dir/src.qmp" query-status)" running

