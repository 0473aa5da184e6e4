# SPDX-License-Identifier: GPL-2.0
#
# The verified migration story of `make demo-migrate` (scripts/demo
# --migrate), run inside the test VM: two hosts in network namespaces
# joined by a veth pair (selftests/lib/migrate.sh), a CA tree
# (scripts/lib/grant-tree.sh, plus host c under CA us), one SQLite ledger.
#
#   1. host b launches the guest under an attested configuration
#      (config attest, then launch --expect ... -- qemu);
#   2. host b attests the running guest, the report goes into the ledger;
#   3. host b issues the guest's identity token; alice (the owner) grants it
#      CA eu with bob as delegate;
#   4. bob moves it to host c (CA us): refused before any byte moves;
#   5. bob moves it live to host a (CA eu) over TCP: the final report host b
#      signed, verified by host a; the new token host a issued; host b
#      revokes the old one in the ledger, which then refuses it; the ledger;
#   6. the guest's evidence bundle exported, verified with the ledger CA and
#      the owner's anchors alone.

demo_migrate() {
	local dir root rs qemu_args n
	local HOST_C=3e0b9d6f-8c4a-4f5b-8dbe-4a5b6c7d8e9f

	. selftests/lib/migrate.sh
	dir=$(mktemp -d /tmp/kt-demo-migrate.XXXXXX)
	trap 'migrate_cleanup; two_hosts_del' EXIT
	grant_tree_env "$dir"
	kt() { say "kvmtrust $*"; "$KVMTRUST" "$@"; }

	say "two hosts: network namespaces $NS_SRC (host b, 10.77.0.1) and $NS_DST (10.77.0.2), a veth pair"
	two_hosts || return 1
	(cd "$dir" && make_tree && make_cert host-c us host "$HOST_C" us-west sfo1 &&
	 cp us/crl.pem host-anchors/us.crl && host_key_dir host-b "$HOST_B") >/dev/null 2>&1 || return 1
	echo "CA tree: host root -> CA eu -> host a ($HOST_A), CA us -> host b ($HOST_B), host c ($HOST_C)"
	cd "$dir" || return 1
	kt ledger init && kt ledger register --vm "$VM" --key alice/key.pem --cert alice/cert.pem || return 1

	qemu_args=(qemu-system-x86_64 -accel kvm -machine pc,smm=off -m 64 -nodefaults -display none
		   -uuid "$VM" -qmp "unix:$dir/src.qmp,server=on,wait=off")
	kt config attest --uuid "$VM" --key-dir host-b/hostkey -o launch.jwt \
		--qemu -- "${qemu_args[@]}" || return 1
	root=$("$KVMTRUST" verify launch.jwt --anchors host-anchors --max-age -1 | sed -n 's/^config root: //p')
	say "kvmtrust launch --expect $root --attestation launch.jwt --anchors host-anchors -- qemu ... &   (on host b)"
	rm -f src.qmp
	"${in_src[@]}" "$KVMTRUST" launch --expect "$root" --attestation launch.jwt --anchors host-anchors \
		-- "${qemu_args[@]}" </dev/null >src.log 2>&1 &
	src_pid=$!
	pids+=($!)
	wait_for src.qmp || { cat src.log; return 1; }
	echo "guest $VM: $(qmp src.qmp query-status), launched under config root $root"

	# kvmtrust.ko keeps a VM attached in the network namespace that attached
	# it: host b's tools run in host b's namespace.
	say "qmp stop; kvmtrust attest --pid $src_pid ...; qmp cont   (on host b; the module measures a paused guest)"
	qmp src.qmp stop >/dev/null && "${in_src[@]}" "$KVMTRUST" attest --pid "$src_pid" \
		--key-dir host-b/hostkey -o attest.jwt && qmp src.qmp cont >/dev/null || return 1
	kt verify attest.jwt --anchors host-anchors --crls host-anchors || return 1
	kt ledger append attest --vm "$VM" --result pass \
		--measurement "$("$KVMTRUST" verify attest.jwt --anchors host-anchors |
				  sed -n 's/^memory root: //p')" || return 1
	kt token issue --key host-b/key.pem --cert host-b/chain.pem --uuid "$VM" --aud "$AUD" \
		--new-guest-key guest.pem -o token.jwt || return 1
	kt grant issue --key alice/key.pem --cert alice/chain.pem --uuid "$VM" --host-ca eu/cert.pem \
		--delegate bob/cert.pem --days 1 -o vm.grant || return 1

	say "bob moves the guest to host c (CA us, outside the grant)"
	dst_qemu
	receive d-refused host-c "$DST:7401" --ledger "$KVMTRUST_LEDGER"
	start "$DST:7401" --json --ledger "$KVMTRUST_LEDGER"
	reap; rs=$?
	echo "host c (receive, exit $rs):"; sed 's/^/  /' d-refused.err
	echo "host b (start, exit $(cat start.status)):"; sed 's/^/  /' start.out
	echo "guest on host b: $(qmp src.qmp query-status)"

	say "bob moves the guest live to host a (CA eu) over TCP"
	dst_qemu
	receive d-moved host-a "$DST:7402" --ledger "$KVMTRUST_LEDGER" --token-out new.jwt \
		--report-out final.jwt
	start "$DST:7402" --json --ledger "$KVMTRUST_LEDGER"
	reap; rs=$?
	echo "host a (receive, exit $rs):"; sed 's/^/  /' d-moved.err d-moved.out
	echo "host b (start, exit $(cat start.status)):"; sed 's/^/  /' start.err start.out
	[ "$rs" = 0 ] && [ "$(cat start.status)" = 0 ] || return 1
	echo "guest on host a: $(qmp dst.qmp query-status); host b's QEMU: $(gone "$src_pid" && echo quit)"

	say "the final proof: host b's report over the arrived roots, checked by anyone with the host CAs"
	kt verify final.jwt --anchors host-anchors --crls host-anchors --max-age -1 \
		--expect-memory-root "$(field memory_root d-moved.out)" \
		--expect-vcpu-root "$(field vcpu_root d-moved.out)" || return 1
	echo "sha256 $(sha256sum <final.jwt | cut -c1-64)"
	kt token verify --anchors host-anchors --crls host-anchors --aud "$AUD" new.jwt || return 1
	say "the old token, revoked by host b (its issuer) once host a said the guest runs there"
	kt token verify --anchors host-anchors --crls host-anchors --aud "$AUD" \
		--ledger "$KVMTRUST_LEDGER" token.jwt && return 1
	say "the ledger: the final attestation and the move (host a), the old token's revocation (host b)"
	n=$("$KVMTRUST" ledger head --script | cut -f1)
	"$KVMTRUST" ledger get --index $((n - 3))
	"$KVMTRUST" ledger get --index $((n - 2))
	"$KVMTRUST" ledger get --index $((n - 1))
	kt ledger verify
	say "the evidence bundle: the guest's history with its proofs, chains and final report, one file"
	kt evidence export --vm "$VM" -o vm.evid --report final.jwt --grant vm.grant || return 1
	say "checked with the ledger CA and the owner's anchors alone, no ledger (a copy elsewhere)"
	mkdir offline && cp -r vm.evid "$KVMTRUST_LEDGER_CA" "$KVMTRUST_OWNER_ANCHORS" offline/ || return 1
	(cd offline && env -u KVMTRUST_LEDGER "$KVMTRUST" evidence verify vm.evid --anchors ledger-ca \
		--owner-anchors owner-anchors)
}
