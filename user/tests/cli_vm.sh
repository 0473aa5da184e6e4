#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# One VM name in every stage: --pid, --uuid and --domain name the same VM,
# and every command writes its UUID in lowercase (Documentation/cli.rst).
#
#   fake VMMs: python3 ... -uuid UUID      (a command line like QEMU's)
#   libvirt:   LIBVIRT_DEFAULT_URI=test:///DIR/node.xml
#              (libvirt's own in-process test driver: no libvirtd needed)
#        |
#        v
#   kvmtrust grant issue | token issue | migrate order | attest | config attest
#            measure | vm attach           -> the UUID in what they sign or say
#
# Measuring needs kvmtrust.ko (tested in the VM, selftests/cli_test.sh);
# here measure only has to get past naming the VM.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib/tap.sh

KT=$PWD/user/kvmtrust
UPPER=7D4F2B1A-3C5E-4F60-8A9B-0C1D2E3F4A5B
LOWER=7d4f2b1a-3c5e-4f60-8a9b-0c1d2e3f4a5b
FAKE_UUID=0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D
DOMAIN_UUID=c0ffee00-1234-4abc-8def-0123456789ab
OTHER=11111111-2222-4333-8444-555555555555
HOST_A=0b7e6a3c-5f1d-4c2e-9a8b-1d2c3e4f5a6b

tap_workdir kt-cli-vm

# A process whose command line names a VM the way QEMU's does.
fake_vmm() { python3 -c 'import time; time.sleep(120)' -name fake -uuid "$1" & pids+=($!); }
# The claims of a compact JWS.
claims() { cut -d. -f2 "$1" | python3 -c 'import base64,sys; s=sys.stdin.read().strip(); print(base64.urlsafe_b64decode(s+"="*(-len(s)%4)).decode())'; }
claim() { claims "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"; }
status_of() { "$@" >"$dir/out" 2>"$dir/err"; echo $?; }
issue() { "$KT" grant issue --key alice/key.pem --cert alice/chain.pem --host-ca hostca/cert.pem \
	--delegate alice/cert.pem --days 1 "$@"; }
# The VM a grant names ("-" when issuing failed).
grant_vm() { issue "$@" -o g.jwt >/dev/null 2>&1 && "$KT" grant show --script g.jwt | head -1 | cut -f2 || echo -; }

tap_plan 23

export KVMTRUST_KEY_DIR=$dir/hostkey
{
	"$KT" ca init -o owner --cn "Owner Root" &&
	"$KT" ca issue user --ca owner -o alice --cn alice &&
	"$KT" ca init -o hostca --cn "Host Root" &&
	"$KT" ca issue host --ca hostca -o hosta --cn "host a" --host-uuid "$HOST_A" \
		--region eu-west --site fra1 &&
	"$KT" tpm init --software --host-id host-a &&
	printf '{"memory_root":"%s","vcpu_root":"%s","pages":1,"seq":1}\n' \
		"$(printf 'a%.0s' $(seq 64))" "$(printf 'b%.0s' $(seq 64))" >m.json &&
	printf '{"memory_mib": 64, "vcpus": 1}\n' >vm.json &&
	mkdir owner-anchors ledger-ca && cp owner/cert.pem owner/crl.pem owner-anchors/ &&
	cp hostca/cert.pem ledger-ca/ &&
	export KVMTRUST_LEDGER=sqlite:$dir/ledger.db KVMTRUST_LEDGER_CA=$dir/ledger-ca \
		KVMTRUST_OWNER_ANCHORS=$dir/owner-anchors &&
	"$KT" ledger init &&
	"$KT" ledger register --vm "$LOWER" --key alice/key.pem --cert alice/cert.pem
} >setup.log 2>&1 || { tap_diag <setup.log; echo "Bail out! fixtures"; exit 1; }
fake_vmm "$FAKE_UUID"
fake=$!
sleep 0.2

# --- --uuid and --pid ---------------------------------------------------------
tap_is "--uuid in capitals is written in lowercase" "$(grant_vm --uuid "$UPPER")" "$LOWER"
tap_is "--pid reads -uuid from the VMM's command line" "$(grant_vm --pid "$fake")" \
	"${FAKE_UUID,,}"
tap_is "--pid of a process without -uuid is a usage error" "$(status_of issue --pid $$)" 2
tap_ok "  and says to add --uuid" \
	grep -q "Error: vm: process $$ (.*) was started without -uuid: name its VM with --pid $$ --uuid UUID" err
tap_is "--pid with --uuid names a VMM started without one" "$(grant_vm --pid $$ --uuid "$UPPER")" "$LOWER"
tap_is "--pid with another --uuid than its VMM's is refused" \
	"$(status_of issue --pid "$fake" --uuid "$OTHER"; cat err)" \
	"2
Error: vm: process $fake runs VM ${FAKE_UUID,,}, not $OTHER"
tap_is "--pid of no process is not found (3)" "$(status_of issue --pid 4194304)" 3
tap_is "--uuid that is not a UUID is a usage error" "$(status_of issue --uuid vm-1; cat err)" \
	"2
$KT: 'vm-1' is not a UUID"
tap_is "naming no VM is a usage error" "$(status_of issue)" 2

# --- --domain, through libvirt's API -------------------------------------------
cat >node.xml <<EOF
<node>
  <domain type='test'>
    <name>web1</name>
    <uuid>${DOMAIN_UUID^^}</uuid>
    <memory>65536</memory>
    <os><type>hvm</type></os>
  </domain>
</node>
EOF
export LIBVIRT_DEFAULT_URI=test://$dir/node.xml
if [ "$(status_of issue --domain web1 -o d.jwt)" = 5 ]; then
	reason=$(head -1 err)
	for t in "--domain asks libvirt for the UUID" "--domain of no domain is not found (3)" \
		"--domain with libvirt unreachable is unavailable (5)" \
		"token issue --domain names the guest"; do
		tap_skip "$t" "libvirt's test driver is not usable here: $reason"
	done
else
	tap_is "--domain asks libvirt for the UUID" "$(grant_vm --domain web1)" "$DOMAIN_UUID"
	tap_is "--domain of no domain is not found (3)" \
		"$(status_of issue --domain web2; grep -c "no libvirt domain 'web2'" err)" "3
1"
	tap_is "--domain with libvirt unreachable is unavailable (5)" \
		"$(LIBVIRT_DEFAULT_URI="qemu:///system?socket=$dir/no.sock" status_of issue --domain web1)" 5
	"$KT" token issue --key hosta/key.pem --cert hosta/chain.pem --domain web1 --aud test --new-guest-key guest.pem \
		-o token.jwt 2>/dev/null
	tap_is "token issue --domain names the guest" "$(claim token.jwt sub)" "$DOMAIN_UUID"
fi
tap_is "--domain with --uuid is a usage error" "$(status_of issue --domain web1 --uuid "$LOWER")" 2

# --- every stage: the same lowercase UUID ----------------------------------------
issue --uuid "$LOWER" -o g.jwt 2>err
"$KT" migrate order --uuid "$UPPER" --to hosta/cert.pem --grant g.jwt --key alice/key.pem \
	--cert alice/cert.pem -o order.jwt 2>err
tap_is "migrate order --uuid signs the lowercase UUID" "$(claim order.jwt vm)" "$LOWER"
"$KT" attest --uuid "$UPPER" --measurement m.json -o report.jwt 2>err
tap_is "attest --uuid signs the lowercase UUID" "$(claim report.jwt vm_id)" "$LOWER"
"$KT" config attest --pid "$fake" vm.json -o config.jwt 2>err
tap_is "config attest --pid signs the VMM's UUID" "$(claim config.jwt vm_id)" "${FAKE_UUID,,}"
tap_is "config measure takes no VM" "$(status_of "$KT" config measure --uuid "$LOWER" vm.json)" 2

# --- finding the VMM of a UUID ---------------------------------------------------
tap_is "measure --uuid of no running VMM is not found (3)" \
	"$(status_of "$KT" measure --uuid "$OTHER"; grep -c "no running process has -uuid $OTHER" err)" "3
1"
if [ -e /sys/module/kvmtrust ]; then
	tap_skip "measure --uuid finds the fake VMM (then needs the module: 5)" "kvmtrust.ko is loaded here"
else
	tap_is "measure --uuid finds the fake VMM (then needs the module: 5)" \
		"$(status_of "$KT" measure --uuid "$FAKE_UUID")" 5
fi
fake_vmm "$FAKE_UUID"
sleep 0.2
tap_is "two processes with one -uuid and no VM between them: refused (1)" \
	"$(status_of "$KT" measure --uuid "$FAKE_UUID"; grep -c "2 processes have -uuid ${FAKE_UUID,,}: name the VM with --pid" err)" "1
1"
tap_is "vm attach with a VM name and --fd is a usage error" \
	"$(status_of "$KT" vm attach --pid "$fake" --fd 3)" 2
tap_is "vm detach with a VM name and --vm-id is a usage error" \
	"$(status_of "$KT" vm detach --uuid "$LOWER" --vm-id 1)" 2

tap_done
