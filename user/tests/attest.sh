#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# End to end: host key in a TPM (swtpm), signed reports, verification and
# its refusals, launch-configuration trees and launch gating.
#
#   kvmtrust --(tcti swtpm:host=127.0.0.1,port=N)--> swtpm socket --tpm2
#        |                                            (state in $tmp/swtpm,
#        |  report.jwt, config.jwt                     ctrl on N+1)
#        v
#   kvmtrust verify / launch   <- checked independently with openssl(1),
#                                 tpm2_checkquote(1) and scripts/lib/rfc9162.py
#
# swtpm is started here on a free 127.0.0.1 port pair and stopped on exit.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib/tap.sh

K=${KVMTRUST_CLI:-$PWD/user/kvmtrust}
RFC9162=$PWD/scripts/lib/rfc9162.py
. scripts/lib/swtpm.sh
tmp=$(mktemp -d /tmp/kt-attest-sh.XXXXXX)

cleanup() {
	swtpm_stop
	rm -rf "$tmp"
}
trap cleanup EXIT

run() { echo "# \$ $*"; "$@"; }

# JWS helpers: the parts of a compact serialization, and its claims.
b64url_dec() { python3 -c 'import base64,sys; s=sys.argv[1]; sys.stdout.buffer.write(base64.urlsafe_b64decode(s+"="*(-len(s)%4)))' "$1"; }
claim() { b64url_dec "$(cut -d. -f2 "$1")" | jq -r "$2"; }

# Writes the DER ECDSA-Sig-Value of a JWS's r || s signature (openssl asn1parse).
jws_sig_der() {
	local hex
	hex=$(b64url_dec "$(cut -d. -f3 "$1")" | od -An -v -tx1 | tr -d ' \n')
	printf 'asn1=SEQUENCE:sig\n[sig]\nr=INTEGER:0x%s\ns=INTEGER:0x%s\n' \
		"${hex:0:64}" "${hex:64:64}" >"$tmp/sig.cnf"
	openssl asn1parse -genconf "$tmp/sig.cnf" -out "$2" -noout
}

# Re-encodes the payload with one claim changed, keeping header and signature.
tamper() {
	python3 - "$1" "$2" "$3" >"$4" <<'EOF'
import base64, json, sys
h, p, s = open(sys.argv[1]).read().strip().split(".")
c = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
c[sys.argv[2]] = sys.argv[3]
p = base64.urlsafe_b64encode(json.dumps(c, sort_keys=True, separators=(",", ":")).encode()).decode().rstrip("=")
print(".".join([h, p, s]))
EOF
}

measurement() {
	printf '{"memory_root":"%s","vcpu_root":"%s","pages":%d,"seq":%d}\n' "$1" "$2" "$3" "$4"
}

VM1=1a2b3c4d-0000-4000-8000-000000000001
VM2=1a2b3c4d-0000-4000-8000-000000000002
VM3=1a2b3c4d-0000-4000-8000-000000000003
VM4=1a2b3c4d-0000-4000-8000-000000000004
MEM=$(printf 'a%.0s' $(seq 64))
VCPU=$(printf 'b%.0s' $(seq 64))

tap_plan 71

codes=$(for c in tpm attest verify config launch; do
	"$K" $c --help >/dev/null 2>&1; printf '%s' $?
	"$K" $c --no-such-option >/dev/null 2>&1; printf '%s ' $?
done)
tap_is "tpm/attest/verify/config/launch: --help exits 0, a bad option 2" "$codes" "02 02 02 02 02 "

# swtpm_start itself: a missing swtpm is the only skip, a broken one a
# failure, and a port taken between the look and the bind another try.
mkdir "$tmp/fakebin"
printf '#!/bin/sh\nexit 0\n' >"$tmp/fakebin/swtpm_setup"
printf '#!/bin/sh\necho "swtpm: cannot start" >&2\nexit 1\n' >"$tmp/fakebin/swtpm"
chmod +x "$tmp/fakebin/swtpm_setup" "$tmp/fakebin/swtpm"
tap_is "swtpm_start: swtpm installed but failing is 1 (a failure), after $SWTPM_TRIES tries" \
	"$(PATH=$tmp/fakebin:$PATH; swtpm_start "$tmp/broken" >/dev/null 2>&1; echo "$? $(grep -c '^try' "$tmp/broken.log")")" \
	"1 $SWTPM_TRIES"
tap_is "swtpm_start: no swtpm on PATH is 2 (the one skip)" \
	"$(PATH=/nonexistent; swtpm_start "$tmp/absent" >/dev/null 2>&1; echo $?)" "2"
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True); time.sleep(60)' >"$tmp/taken.port" &
taker=$!
for i in $(seq 50); do [ -s "$tmp/taken.port" ] && break; sleep 0.1; done
taken=$(cat "$tmp/taken.port")
eval "swtpm_pick_free$(declare -f swtpm_pick_ports | sed 1s/swtpm_pick_ports//)"
swtpm_pick_ports() {	# the first pick is the taken port, as if taken after the look
	if [ ! -e "$tmp/picked" ]; then : >"$tmp/picked"; echo "$taken"; else swtpm_pick_free; fi
}
swtpm_start "$tmp/race"; rc=$?
tap_is "swtpm_start: a port taken before swtpm binds it is retried on another" \
	"$rc $([ "${SWTPM_PORT:-}" != "$taken" ] && echo other) $(grep -c '^try' "$tmp/race.log")" "0 other 2"
swtpm_stop
kill "$taker"; wait "$taker" 2>/dev/null
eval "swtpm_pick_ports$(declare -f swtpm_pick_free | sed 1s/swtpm_pick_free//)"

swtpm_start "$tmp/swtpm"; rc=$?
if [ "$rc" -eq 2 ]; then
	for i in $(seq 64); do tap_skip "attest step $i" "swtpm is not installed"; done
	exit 0
elif [ "$rc" -ne 0 ]; then
	cat "$tmp"/swtpm*.log 2>/dev/null | tap_diag
	tap_result 1 "swtpm starts (installed, but would not start in $SWTPM_TRIES tries)"
	for i in $(seq 63); do tap_skip "attest step $i" "swtpm did not start"; done
	exit 1
fi
export KVMTRUST_TCTI=$SWTPM_TCTI
export KVMTRUST_KEY_DIR="$tmp/hostkey"
echo "# swtpm on 127.0.0.1:$SWTPM_PORT (pid $SWTPM_PID)"

# ---- host key ---------------------------------------------------------------
tap_ok "tpm init creates a TPM key" run "$K" tpm init --host-id host-a
tap_is "tpm show says the key is in the TPM" \
	"$("$K" tpm show --script | cut -f1,2)" "$(printf 'tpm\thost-a')"
"$K" tpm pubkey >"$tmp/pub.pem"
tap_ok "tpm pubkey is the saved public key" cmp "$tmp/pub.pem" "$tmp/hostkey/public.pem"
tap_ok "the TPM-signed CSR verifies with openssl" \
	run openssl req -in "$tmp/hostkey/host.csr" -verify -noout
tap_fails_with "tpm init refuses to overwrite a key" "already holds a host key" \
	"$K" tpm init --host-id host-a

# The host CA certifies the key through its CSR (openssl here as the CA).
# (RFC 5280 4.2.1.3: a CA certificate carries keyUsage; the strict check wants it.)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj /CN=test-ca -addext keyUsage=critical,keyCertSign,cRLSign \
	-keyout "$tmp/ca.key" -out "$tmp/ca.pem" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj /CN=other-ca -addext keyUsage=critical,keyCertSign,cRLSign \
	-keyout "$tmp/other.key" -out "$tmp/other-ca.pem" 2>/dev/null
tap_ok "the CA issues a certificate from the CSR" \
	run openssl x509 -req -in "$tmp/hostkey/host.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" \
	-CAcreateserial -days 1 -out "$tmp/hostkey/cert.pem"

# ---- reports --------------------------------------------------------------------
measurement "$MEM" "$VCPU" 512 1 >"$tmp/m1.json"
measurement "$MEM" "$VCPU" 512 2 >"$tmp/m2.json"
tap_ok "attest signs a report with the TPM key" \
	run "$K" attest --measurement "$tmp/m1.json" --uuid "$VM1" --nonce n-1 -o "$tmp/r1.jwt"
tap_is "the report says key tpm and carries a quote" \
	"$(claim "$tmp/r1.jwt" '[.key, .tpm.pcr, .seq, .memory_root == "'"$MEM"'"] | @tsv')" \
	"$(printf 'tpm\t23\t1\ttrue')"
tap_ok "round trip: verify with the CA, nonce and last-seen file" \
	run "$K" verify "$tmp/r1.jwt" --anchors "$tmp/ca.pem" --nonce n-1 --last-seen "$tmp/last.json" \
	--require-tpm --expect-memory-root "$MEM" --expect-vcpu-root "$VCPU"

# The JWS signature, checked by openssl alone from the exported public key.
cut -d. -f1,2 "$tmp/r1.jwt" | tr -d '\n' >"$tmp/r1.input"
jws_sig_der "$tmp/r1.jwt" "$tmp/r1.sig.der"
tap_ok "TPM-made ES256 signature verifies with openssl dgst" \
	run openssl dgst -sha256 -verify "$tmp/pub.pem" -signature "$tmp/r1.sig.der" "$tmp/r1.input"

# The quote, checked by tpm2_checkquote: signature, PCR value and that its
# qualifying data is this report's digest (claims without "tpm", sorted, compact).
digest=$(b64url_dec "$(cut -d. -f2 "$tmp/r1.jwt")" |
	jq -cS 'del(.tpm)' | tr -d '\n' | sha256sum | cut -d' ' -f1)
b64url_dec "$(claim "$tmp/r1.jwt" .tpm.quote)" >"$tmp/quote.bin"
b64url_dec "$(claim "$tmp/r1.jwt" .tpm.quote_sig)" >"$tmp/quote.sig"
claim "$tmp/r1.jwt" .tpm.pcr_value | xxd -r -p >"$tmp/pcr.bin"
tap_ok "TPM quote verifies with tpm2_checkquote (signature, PCR 23, report digest)" \
	run tpm2_checkquote -u "$tmp/pub.pem" -m "$tmp/quote.bin" -s "$tmp/quote.sig" \
	-f "$tmp/pcr.bin" -l sha256:23 -g sha256 -q "$digest"
want_pcr=$(printf '%s%s' "$(claim "$tmp/r1.jwt" .tpm.pcr_prev)" "$digest" | xxd -r -p |
	sha256sum | cut -d' ' -f1)
tap_is "PCR 23 = SHA-256(previous value || report digest)" \
	"$(claim "$tmp/r1.jwt" .tpm.pcr_value)" "$want_pcr"
tap_is "the TPM's PCR 23 now holds that value" \
	"$("$K" tpm show --json | jq -r .pcr_value)" "$want_pcr"

tap_is "no transient object is left loaded in the TPM" \
	"$(TPM2TOOLS_TCTI=$SWTPM_TCTI tpm2_getcap handles-transient 2>&1)" ""

# ---- refusals, each by name -------------------------------------------------
tap_fails_with "replayed report refused (replay)" "Refused: replay" \
	"$K" verify "$tmp/r1.jwt" --anchors "$tmp/ca.pem" --last-seen "$tmp/last.json"
tamper "$tmp/r1.jwt" memory_root "$VCPU" "$tmp/tampered.jwt"
tap_fails_with "tampered report refused (signature)" "Refused: signature" \
	"$K" verify "$tmp/tampered.jwt" --pubkey "$tmp/pub.pem"
KVMTRUST_KEY_DIR="$tmp/softkey" "$K" tpm init --software --host-id host-a 2>/dev/null
tap_fails_with "wrong key refused (signature)" "Refused: signature" \
	"$K" verify "$tmp/r1.jwt" --pubkey "$tmp/softkey/public.pem"
tap_fails_with "certificate from another CA refused (chain)" "Refused: chain" \
	"$K" verify "$tmp/r1.jwt" --anchors "$tmp/other-ca.pem"
tap_fails_with "stale nonce refused (nonce)" "Refused: nonce" \
	"$K" verify "$tmp/r1.jwt" --pubkey "$tmp/pub.pem" --nonce n-2
tap_fails_with "wrong expected memory root refused (memory_root)" "Refused: memory_root" \
	"$K" verify "$tmp/r1.jwt" --pubkey "$tmp/pub.pem" --expect-memory-root "$VCPU"
"$K" verify "$tmp/r1.jwt" --pubkey "$tmp/pub.pem" --nonce n-2 >/dev/null 2>&1
tap_is "verify's exit status for a refusal is 10" "$?" 10
tap_ok "the next measurement's report is accepted after the replay state" \
	sh -c "'$K' attest --measurement '$tmp/m2.json' --uuid $VM1 -o '$tmp/r2.jwt' &&
	       '$K' verify '$tmp/r2.jwt' --anchors '$tmp/ca.pem' --last-seen '$tmp/last.json'"

# The quote orders a host's reports: one for another VM, signed earlier but
# presented after a later one, is refused by the TPM clock.
measurement "$MEM" "$VCPU" 512 1 >"$tmp/mb.json"
"$K" attest --measurement "$tmp/mb.json" --uuid "$VM2" -o "$tmp/early.jwt"
sleep 0.2
"$K" attest --measurement "$tmp/mb.json" --uuid "$VM3" -o "$tmp/late.jwt"
"$K" verify "$tmp/late.jwt" --pubkey "$tmp/pub.pem" --last-seen "$tmp/order.json" >/dev/null
tap_fails_with "an older report of the host presented late is refused (replay, TPM clock)" \
	"Refused: replay: TPM clock of host host-a went backwards" \
	"$K" verify "$tmp/early.jwt" --pubkey "$tmp/pub.pem" --last-seen "$tmp/order.json"

# -o replaces regular files only (outfile.sh); a FIFO is fed through -o -.
mkfifo "$tmp/fifo"
cat "$tmp/fifo" >"$tmp/from-fifo" &
"$K" attest --measurement "$tmp/m2.json" --uuid "$VM4" -o - >"$tmp/fifo"
wait $!
tap_is "attest -o - writes the report to standard output (here a FIFO)" \
	"$(test -p "$tmp/fifo" && echo fifo) $(cut -d. -f1 "$tmp/from-fifo" | head -c 3)" "fifo eyJ"
tap_fails_with "a last-seen path that is not a regular file is refused" \
	"Refused: replay: .* is not a regular file" \
	"$K" verify "$tmp/r2.jwt" --pubkey "$tmp/pub.pem" --last-seen "$tmp/fifo"

# ---- software fallback ------------------------------------------------------
KVMTRUST_KEY_DIR="$tmp/softkey" "$K" attest --measurement "$tmp/m1.json" --uuid "$VM1" \
	-o "$tmp/soft.jwt"
tap_is "a software-key report says so and has no quote" \
	"$(claim "$tmp/soft.jwt" '[.key, (.tpm == null)] | @tsv')" "$(printf 'software\ttrue')"
tap_fails_with "a TPM-requiring verifier refuses it (key)" "Refused: key" \
	"$K" verify "$tmp/soft.jwt" --pubkey "$tmp/softkey/public.pem" --require-tpm

if [ -e /sys/module/kvmtrust ]; then
	tap_skip "attest --pid without the module says unavailable" "kvmtrust.ko is loaded here"
else
	"$K" attest --pid $$ --uuid "$VM1" >/dev/null 2>"$tmp/pid.err"
	tap_is "attest --pid without kvmtrust.ko exits 5 (unavailable)" \
		"$? $(grep -c 'module is not loaded' "$tmp/pid.err")" "5 1"
fi

# ---- launch configuration ---------------------------------------------------
cfg=$tmp/cfg
mkdir -p "$cfg"
head -c 5000000 /dev/urandom >"$cfg/disk.img"
printf 'firmware\n' >"$cfg/bios.bin"
printf 'bash 5.2.15\nopenssl 3.0.17\n' >"$cfg/packages.txt"
cat >"$cfg/vm.json" <<EOF
{"memory_mib": 2048, "vcpus": 2, "vcpu_pinning": ["2", "3"],
 "nics": [{"mac": "52:54:00:12:34:56", "vlan": 100}],
 "disks": ["disk.img"], "bootloader": "bios.bin",
 "kernel_cmdline": "console=ttyS0 root=/dev/vda1",
 "package_manifest": "packages.txt"}
EOF
cat >"$cfg/vm.xml" <<EOF
<domain type='kvm'><name>vm-1</name><memory unit='MiB'>2048</memory><vcpu>2</vcpu>
  <cputune><vcpupin vcpu='0' cpuset='2'/><vcpupin vcpu='1' cpuset='3'/></cputune>
  <os><type>hvm</type><loader>bios.bin</loader><cmdline>console=ttyS0 root=/dev/vda1</cmdline></os>
  <devices><disk type='file' device='disk'><source file='disk.img'/></disk>
  <interface type='bridge'><mac address='52:54:00:12:34:56'/><vlan><tag id='100'/></vlan></interface>
  </devices></domain>
EOF

"$K" config measure "$cfg/vm.json" --json >"$tmp/tree.json"
root=$(jq -r .root "$tmp/tree.json")
# Leaf data = name NUL value (jq cannot emit NUL, so python builds it).
leaves=$(python3 -c '
import json, sys
for p in json.load(open(sys.argv[1]))["params"]:
    print((p["name"] + "\0" + p["value"]).encode().hex())' "$tmp/tree.json")
# shellcheck disable=SC2086
tap_is "config root recomputed independently by rfc9162.py" \
	"$(python3 "$RFC9162" root $leaves)" "$root"
tap_is "disk.0.sha256 is sha256sum of the image" \
	"$(jq -r '.params[] | select(.name == "disk.0.sha256") .value' "$tmp/tree.json")" \
	"$(sha256sum "$cfg/disk.img" | cut -d' ' -f1)"
idx=$(jq '.params | map(.name) | index("nic.0.mac")' "$tmp/tree.json")
# shellcheck disable=SC2086
tap_is "nic.0.mac's inclusion proof matches rfc9162.py's audit path" \
	"$(jq -r ".params[$idx].proof[]" "$tmp/tree.json")" \
	"$(python3 "$RFC9162" path "$idx" $leaves)"
tap_is "libvirt XML (+ package manifest) gives the same root as the JSON" \
	"$("$K" config measure "$cfg/vm.xml" --package-manifest "$cfg/packages.txt" --json | jq -r .root)" \
	"$root"

# A libvirt device or element the root does not measure is refused by name.
sed "s|</devices>|<hostdev mode='subsystem' type='pci'/></devices>|" "$cfg/vm.xml" >"$cfg/vm-hostdev.xml"
tap_fails_with "libvirt <hostdev> (VFIO passthrough) is refused" \
	"libvirt: <hostdev> is not measured: refused" "$K" config measure "$cfg/vm-hostdev.xml"
sed "s|<devices>|<devices><disk type='file' device='cdrom'><source file='disk.img'/></disk>|" \
	"$cfg/vm.xml" >"$cfg/vm-cdrom.xml"
tap_fails_with "libvirt <disk device='cdrom'> is refused" \
	"libvirt: <disk device='cdrom'> is not measured" "$K" config measure "$cfg/vm-cdrom.xml"
sed -e "s|<domain type='kvm'>|<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>|" \
	-e "s|</domain>|<qemu:commandline><qemu:arg value='-virtfs'/></qemu:commandline></domain>|" \
	"$cfg/vm.xml" >"$cfg/vm-qemu.xml"
tap_fails_with "libvirt <qemu:commandline> is refused" \
	"libvirt: <qemu:commandline> passes QEMU arguments that are not measured" \
	"$K" config measure "$cfg/vm-qemu.xml"

# The VMM stand-in records that it ran; launch must exec it only when attested.
cat >"$cfg/fake-vmm" <<EOF
#!/bin/sh
echo "\$*" >"$cfg/vmm-ran"
EOF
chmod +x "$cfg/fake-vmm"
qemu_args=(-m 2G -smp 2 -bios "$cfg/bios.bin" -drive "file=$cfg/disk.img,if=virtio"
	-device "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56" -append "console=ttyS0")
tap_ok "config attest signs the QEMU configuration" \
	run "$K" config attest --uuid "$VM1" -o "$tmp/config.jwt" --qemu -- "$cfg/fake-vmm" "${qemu_args[@]}"
qroot=$(claim "$tmp/config.jwt" .config_root)
tap_is "the attestation's root is config measure's root" \
	"$("$K" config measure --json --qemu -- "$cfg/fake-vmm" "${qemu_args[@]}" | jq -r .root)" "$qroot"
tap_ok "verify accepts the launch-config attestation" \
	run "$K" verify "$tmp/config.jwt" --anchors "$tmp/ca.pem" --kind launch-config --expect-config-root "$qroot"

launch() { "$K" launch --expect "$qroot" --attestation "$tmp/config.jwt" --anchors "$tmp/ca.pem" -- "$@"; }
rm -f "$cfg/vmm-ran"
launch "$cfg/fake-vmm" "${qemu_args[@]}" 2>&1 | tap_diag
tap_is "launch execs the VMM with the attested configuration" \
	"$(cut -d' ' -f1,2 "$cfg/vmm-ran" 2>/dev/null)" "-m 2G"
rm -f "$cfg/vmm-ran"
changed_mac=("${qemu_args[@]}")
changed_mac[9]="virtio-net-pci,netdev=n0,mac=52:54:00:12:34:57"
tap_fails_with "launch refuses a changed MAC, naming nic.0.mac" \
	"Refused: config: nic.0.mac: attested 52:54:00:12:34:56, launching 52:54:00:12:34:57" \
	launch "$cfg/fake-vmm" "${changed_mac[@]}"
cp "$cfg/disk.img" "$cfg/disk2.img"
printf 'x' | dd of="$cfg/disk2.img" bs=1 seek=4096 conv=notrunc status=none
changed_disk=("${qemu_args[@]}")
changed_disk[7]="file=$cfg/disk2.img,if=virtio"
tap_fails_with "launch refuses a changed disk image, naming disk.0.sha256" \
	"Refused: config: disk.0.sha256: attested" \
	launch "$cfg/fake-vmm" "${changed_disk[@]}"
# The same gate for a libvirt-defined VM: the JSON's attestation admits the
# equivalent domain XML, and a changed VLAN tag is named.
"$K" config attest "$cfg/vm.json" -o "$tmp/json.jwt" 2>/dev/null
sed "s/tag id='100'/tag id='101'/" "$cfg/vm.xml" >"$cfg/vm-vlan.xml"
tap_ok "launch --config domain.xml runs with the JSON's attestation (same root)" \
	"$K" launch --expect "$root" --attestation "$tmp/json.jwt" --anchors "$tmp/ca.pem" \
	--config "$cfg/vm.xml" --package-manifest "$cfg/packages.txt" -- true
tap_fails_with "launch --config refuses a changed VLAN, naming nic.0.vlan" \
	"Refused: config: nic.0.vlan: attested 100, launching 101" \
	"$K" launch --expect "$root" --attestation "$tmp/json.jwt" --anchors "$tmp/ca.pem" \
	--config "$cfg/vm-vlan.xml" --package-manifest "$cfg/packages.txt" -- "$cfg/fake-vmm"

# Every VMM argument is measured, known harmless, or refused by name.
tap_is "harmless arguments (-nographic, -name, a QMP socket) leave the root alone" \
	"$("$K" config measure --json --qemu -- "$cfg/fake-vmm" "${qemu_args[@]}" -nographic \
	   -name vm-1 -qmp "unix:$tmp/qmp.sock,server,nowait" | jq -r .root)" "$qroot"
tap_is "--opt is -opt, as QEMU reads it" \
	"$("$K" config measure --json --qemu -- "$cfg/fake-vmm" "${qemu_args[@]/#-/--}" | jq -r .root)" \
	"$qroot"
tap_fails_with "launch refuses -virtfs (config), naming it" \
	"Refused: config: argument '-virtfs' shares host files with the guest" \
	launch "$cfg/fake-vmm" "${qemu_args[@]}" -virtfs "local,path=$cfg,mount_tag=h"
tap_fails_with "launch refuses -device vfio-pci (config)" \
	"Refused: config: argument '-device vfio-pci' passes a host device through" \
	launch "$cfg/fake-vmm" "${qemu_args[@]}" --device vfio-pci,host=0000:01:00.0
tap_fails_with "launch refuses an argument it does not know (config)" \
	"Refused: config: argument '-frobnicate' is not measured and not known to be harmless" \
	launch "$cfg/fake-vmm" "${qemu_args[@]}" -frobnicate
tap_fails_with "launch refuses -opt=value, which QEMU does not take (config)" \
	"Refused: config: argument '-m=2G' is not a QEMU option" \
	launch "$cfg/fake-vmm" -m=2G "${qemu_args[@]:2}"
tap_fails_with "launch refuses a serial port on a network listener (config)" \
	"Refused: config: argument '-serial tcp::4444,server' reaches beyond this host" \
	launch "$cfg/fake-vmm" "${qemu_args[@]}" -serial tcp::4444,server
printf 'installer\n' >"$cfg/install.iso"
tap_fails_with "launch refuses an added -cdrom, naming its measured image (config)" \
	"Refused: config: disk.1.sha256: attested \(absent\), launching $(sha256sum "$cfg/install.iso" | cut -c1-64)" \
	launch "$cfg/fake-vmm" "${qemu_args[@]}" -cdrom "$cfg/install.iso"

# Only regular files and block devices are hashed: a FIFO would block the
# open, a character device (here /dev/zero's numbers, made in $tmp) never ends.
mkfifo "$cfg/fifo.img"
mknod "$cfg/zero.img" c 1 5 2>/dev/null
tap_fails_with "launch refuses a FIFO as a disk without blocking (disk)" \
	"Refused: disk: '$cfg/fifo.img' is a FIFO" \
	timeout 20 "$K" launch --expect "$qroot" -- "$cfg/fake-vmm" -hda "$cfg/fifo.img"
if [ -c "$cfg/zero.img" ]; then
	tap_fails_with "launch refuses a character device as a disk without reading it (disk)" \
		"Refused: disk: '$cfg/zero.img' is a character device" \
		timeout 20 "$K" launch --expect "$qroot" -- "$cfg/fake-vmm" \
		-drive "file=$cfg/zero.img,format=raw"
else
	tap_skip "launch refuses a character device as a disk" "mknod needs root"
fi
tap_is "the refused launches never ran the VMM" "$(test -e "$cfg/vmm-ran" && echo ran)" ""

# ---- qcow2 backing chains ------------------------------------------------------
# Each image of the chain is its own leaf; the backing name in top.qcow2 is
# relative, so it resolves against top's directory, not the cwd.
q=$cfg/qcow2
mkdir -p "$q"
if command -v qemu-img >/dev/null && command -v qemu-io >/dev/null; then
	qemu-img create -q -f qcow2 "$q/base.qcow2" 4M
	qemu-io -c 'write -P 0x5a 0 64k' "$q/base.qcow2" >/dev/null
	(cd "$q" && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2)
	chain_args=(-m 1G -drive "file=$q/top.qcow2,format=qcow2,if=virtio")
	(cd / && "$K" config measure --json --qemu -- "$cfg/fake-vmm" "${chain_args[@]}") \
		>"$tmp/chain.json"
	tap_is "a qcow2 image and its backing file are each a leaf (sha256sum)" \
		"$(jq -r '.params[] | select(.name | startswith("disk.0.")) | .value' "$tmp/chain.json")" \
		"$(sha256sum "$q/base.qcow2" "$q/top.qcow2" | cut -d' ' -f1)"
	leaves=$(python3 -c '
import json, sys
for p in json.load(open(sys.argv[1]))["params"]:
    print((p["name"] + "\0" + p["value"]).encode().hex())' "$tmp/chain.json")
	# shellcheck disable=SC2086
	tap_is "the chain's config root recomputed by rfc9162.py" \
		"$(python3 "$RFC9162" root $leaves)" "$(jq -r .root "$tmp/chain.json")"
	"$K" config attest -o "$tmp/chain.jwt" --qemu -- "$cfg/fake-vmm" "${chain_args[@]}" 2>/dev/null
	croot=$(claim "$tmp/chain.jwt" .config_root)
	qemu-io -c 'write -P 0xa5 0 4k' "$q/base.qcow2" >/dev/null
	tap_fails_with "a changed backing file changes the root: launch names disk.0.backing.1.sha256" \
		"Refused: config: disk.0.backing.1.sha256: attested [0-9a-f]{64}, launching $(sha256sum "$q/base.qcow2" | cut -c1-64)" \
		"$K" launch --expect "$croot" --attestation "$tmp/chain.jwt" --anchors "$tmp/ca.pem" -- \
		"$cfg/fake-vmm" "${chain_args[@]}"
	qemu-img create -q -f qcow2 -u -b loop-b.qcow2 -F qcow2 "$q/loop-a.qcow2" 4M
	qemu-img create -q -f qcow2 -u -b loop-a.qcow2 -F qcow2 "$q/loop-b.qcow2" 4M
	tap_fails_with "a backing chain that loops is refused (disk)" \
		"Refused: disk: backing chain of disk 0 loops back to '$q/loop-a.qcow2'" \
		"$K" config measure --qemu -- "$cfg/fake-vmm" -hda "$q/loop-a.qcow2"
	qemu-img create -q -f qcow2 "$q/d0.qcow2" 1M
	for i in $(seq 17); do
		(cd "$q" && qemu-img create -q -f qcow2 -b "d$((i - 1)).qcow2" -F qcow2 "d$i.qcow2")
	done
	tap_is "a chain of 16 backing files is measured whole" \
		"$("$K" config measure --json --qemu -- "$cfg/fake-vmm" -hda "$q/d16.qcow2" |
		   jq '[.params[] | select(.name | startswith("disk.0."))] | length')" 17
	tap_fails_with "a deeper chain is refused (disk)" \
		"Refused: disk: backing chain of disk 0 is deeper than 16 images" \
		"$K" config measure --qemu -- "$cfg/fake-vmm" -hda "$q/d17.qcow2"
	qemu-img create -q -f qcow2 -o data_file="$q/data.raw" "$q/ext.qcow2" 1M
	tap_fails_with "a qcow2 image with an external data file is refused (disk)" \
		"Refused: disk: '$q/ext.qcow2' keeps its data in an external data file" \
		"$K" config measure --qemu -- "$cfg/fake-vmm" -hda "$q/ext.qcow2"
	qemu-img create -q -f vmdk "$q/x.vmdk" 1M
	tap_fails_with "a probed vmdk image is refused (disk)" \
		"Refused: disk: '$q/x.vmdk' is a vmdk image: only raw and qcow2 are measured" \
		"$K" config measure --qemu -- "$cfg/fake-vmm" -hda "$q/x.vmdk"
else
	for i in $(seq 8); do tap_skip "qcow2 chain step $i" "qemu-img/qemu-io not installed"; done
fi

# ---- hashing progress ----------------------------------------------------------
"$K" config measure --progress --script "$cfg/vm.json" 2>"$tmp/progress.err" >/dev/null
tap_is "--progress reports each hashed file on a non-terminal stderr" \
	"$(grep -c "^hashing $cfg/disk.img: 4.8 of 4.8 MiB (100%)$" "$tmp/progress.err")" 1
"$K" config measure --script "$cfg/vm.json" 2>"$tmp/quiet.err" >/dev/null
tap_is "without --progress nothing is printed when stderr is no terminal" \
	"$(wc -c <"$tmp/quiet.err")" 0

# ---- key directories from before the shared SRK -----------------------------
# hostkey.json version 1: the key sits under the SRK template with an empty
# unique field (made here with tpm2-tools, as kvmtrust made it before).
v1=$tmp/v1key
mkdir -m 700 "$v1"
export TPM2TOOLS_TCTI=$SWTPM_TCTI
tpm2_createprimary -Q -C o -g sha256 -G ecc256:null:aes128cfb -c "$v1/parent.ctx" \
	-a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|decrypt|noda'
tpm2_create -Q -C "$v1/parent.ctx" -g sha256 -G ecc256:ecdsa-sha256:null \
	-a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign' \
	-u "$v1/key.pub" -r "$v1/key.priv"
tpm2_flushcontext -t
unset TPM2TOOLS_TCTI
chmod 600 "$v1/key.priv"
printf '{"version":1,"origin":"tpm","host_id":"host-v1","pcr":23}\n' >"$v1/hostkey.json"
KVMTRUST_KEY_DIR=$v1 "$K" tpm pubkey >"$tmp/v1.pem"
tap_ok "a version 1 key directory still signs reports that verify" \
	sh -c "KVMTRUST_KEY_DIR='$v1' '$K' attest --measurement '$tmp/m1.json' --uuid $VM1 \
	       -o '$tmp/v1.jwt' &&
	       '$K' verify '$tmp/v1.jwt' --pubkey '$tmp/v1.pem' --require-tpm"
sed -i 's/"version":1/"version":2/' "$v1/hostkey.json"
tap_fails_with "the same key read as version 2 (under the SRK) is refused by the TPM" \
	"loading the signing key" env TSS2_LOG=all+NONE KVMTRUST_KEY_DIR="$v1" "$K" tpm show
tap_is "no transient object is left loaded after the version 1 key" \
	"$(TPM2TOOLS_TCTI=$SWTPM_TCTI tpm2_getcap handles-transient 2>&1)" ""

tap_done
