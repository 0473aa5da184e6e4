#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Every command that writes a file goes through one writer (common/outfile.h):
# it replaces a regular file atomically and refuses anything else.
#
#   kvmtrust token keyfile -o T     T = a symlink to a victim file,
#   kvmtrust token issue -o T           a character device (mknod, here),
#   kvmtrust attest -o T                a FIFO, a socket, a directory,
#   kvmtrust config attest -o T         a path under a missing directory
#   kvmtrust grant issue -o T
#   kvmtrust migrate order -o T     each refused by name, T left as it was,
#   kvmtrust ca crl -o T            no temporary file left beside it
#   kvmtrust ca init -o D           T = D/key.pem
#   kvmtrust ca issue -o D          T = D/cert.pem
#
# and "-o -" writes to standard output where the output is not a secret.
# Device nodes are made in our own temporary directory: the real /dev is
# never named, so a writer that got it wrong cannot replace a system node.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib/tap.sh

KT=$PWD/user/kvmtrust
VM=7d4f2b1a-3c5e-4f60-8a9b-0c1d2e3f4a5b
HOST=0b7e6a3c-5f1d-4c2e-9a8b-1d2c3e4f5a6b
KINDS="symlink device fifo socket directory noparent"

dir=$(mktemp -d /tmp/kt-outfile-sh.XXXXXX)
cleanup() { rm -rf "$dir"; }
trap cleanup EXIT
cd "$dir"

kt() { echo "# kvmtrust $*" >&2; "$KT" "$@"; }

# bad KIND PATH: puts at PATH a KIND no writer may replace.
bad() {
	case $1 in
	symlink) echo victim >"$2.victim" && ln -s "$(basename "$2").victim" "$2" ;;
	device) mknod "$2" c 1 3 2>/dev/null ;;
	fifo) mkfifo "$2" ;;
	socket) python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$2" ;;
	directory) mkdir "$2" ;;
	noparent) true ;;
	esac
}

# The refusal each KIND gets.
reason() {
	case $1 in
	symlink) echo "it is a symbolic link" ;;
	device) echo "it is a character device" ;;
	fifo) echo "it is a FIFO" ;;
	socket) echo "it is a socket" ;;
	directory) echo "Is a directory" ;;
	noparent) echo "directory '.*/missing': No such file or directory" ;;
	esac
}

# untouched KIND PATH CASE: PATH is as bad() left it, alone in its directory
# (no temporary file, no other file of a credential); CASE empty for noparent.
untouched() {
	local want=1
	case $1 in
	symlink) [ -L "$2" ] && [ "$(cat "$2.victim")" = victim ] && want=2 ;;
	device) [ -c "$2" ] && [ "$(stat -c %t:%T "$2")" = 1:3 ] ;;
	fifo) [ -p "$2" ] ;;
	socket) [ -S "$2" ] ;;
	directory) [ -d "$2" ] && [ -z "$(ls -A "$2")" ] ;;
	noparent) [ -z "$(ls -A "$3")" ]; return ;;
	esac || return 1
	[ "$(ls -A "$(dirname "$2")" | wc -l)" -eq "$want" ]
}

can_mknod=yes
mknod "$dir/probe" c 1 3 2>/dev/null && [ -c "$dir/probe" ] || can_mknod=
rm -f "$dir/probe"

# refusals LABEL INNER CMD...: CMD with @T@ replaced by a fresh path P whose
# P/INNER (INNER empty: P itself) is each bad KIND in turn.
refusals() {
	local label=$1 inner=$2 kind case arg target; shift 2
	for kind in $KINDS; do
		case=$(mktemp -d "$dir/case.XXXXXX")
		arg=$case/out
		[ "$kind" = noparent ] && arg=$case/missing/out
		target=$arg
		if [ -n "$inner" ]; then
			[ "$kind" = noparent ] || mkdir "$arg"
			target=$arg/$inner
		fi
		if [ "$kind" = device ] && [ -z "$can_mknod" ]; then
			tap_skip "$label: a character device is refused" "mknod not permitted here"
			tap_skip "$label: the device is left as it was" "mknod not permitted here"
			continue
		fi
		bad "$kind" "$target"
		tap_fails_with "$label: a $kind is refused" "$(reason "$kind")" "${@//@T@/$arg}"
		tap_ok "$label: the $kind is left as it was" untouched "$kind" "$target" "$case"
	done
}

# One line per fact: type and mode of a file written, and its first bytes.
written() { stat -c '%F %a' "$1"; head -c "$2" "$1"; echo; }

tap_plan 127

# --- what the commands need ---------------------------------------------------
# Hosts under root, VM owners under oroot: the ledger keeps the two apart.
kt ca init -o root --cn "Test Root" >/dev/null
kt ca issue host --ca root -o host --cn host --host-uuid $HOST --region eu --site fra >/dev/null
kt ca init -o oroot --cn "Owner Root" >/dev/null
kt ca issue user --ca oroot -o alice --cn alice >/dev/null
kt ca issue user --ca oroot -o bob --cn bob >/dev/null
mkdir owner-anchors
cp oroot/cert.pem owner-anchors/oroot.pem
cp oroot/crl.pem owner-anchors/oroot.crl
export KVMTRUST_OWNER_ANCHORS=$dir/owner-anchors
export KVMTRUST_LEDGER=sqlite:$dir/ledger.db
export KVMTRUST_LEDGER_CA=$dir/root/cert.pem
kt ledger init >/dev/null
kt ledger register --vm $VM --key alice/key.pem --cert alice/cert.pem >/dev/null
KVMTRUST_KEY_DIR=$dir/hostkey kt tpm init --software --host-id host >/dev/null
export KVMTRUST_KEY_DIR=$dir/hostkey
printf '{"memory_root":"%s","vcpu_root":"%s","pages":1,"seq":1}\n' \
	"$(printf 'a%.0s' $(seq 64))" "$(printf 'b%.0s' $(seq 64))" >m.json
printf '{"memory_mib": 2048, "vcpus": 1}\n' >vm.json
grant() { kt grant issue --key alice/key.pem --cert alice/chain.pem --uuid $VM --host-ca root/cert.pem --delegate bob/cert.pem --days 1 "$@"; }
grant -o vm.grant 2>/dev/null
order() { kt migrate order --uuid $VM --to host/cert.pem --grant vm.grant --key bob/key.pem --cert bob/cert.pem "$@"; }
token() { kt token issue --key host/key.pem --cert host/chain.pem --uuid $VM --aud test --guest-pubkey alice/cert.pem.pub "$@"; }
openssl x509 -in alice/cert.pem -noout -pubkey >alice/cert.pem.pub

# --- refusals ----------------------------------------------------------------------
refusals "token keyfile" "" kt token keyfile -o @T@
refusals "token issue -o" "" token -o @T@
refusals "attest -o" "" kt attest --measurement m.json --uuid $VM -o @T@
refusals "config attest -o" "" kt config attest --uuid $VM -o @T@ vm.json
refusals "grant issue -o" "" grant -o @T@
refusals "migrate order -o" "" order -o @T@
refusals "ca crl -o" "" kt ca crl --ca root -o @T@
refusals "ca init -o" key.pem kt ca init -o @T@ --cn "Other Root"
refusals "ca issue -o" cert.pem kt ca issue user --ca root -o @T@ --cn carol

# --- "-": standard output, except for secrets --------------------------------------
tap_is "token issue -o - prints the token" "$(token -o - 2>/dev/null | head -c 3)" "eyJ"
tap_is "attest -o - prints the report" \
	"$(kt attest --measurement m.json --uuid $VM -o - | head -c 3)" "eyJ"
tap_is "config attest -o - prints the report and names no file" \
	"$("$KT" config attest --uuid $VM -o - vm.json 2>err | head -c 3) $(wc -c <err)" "eyJ 0"
tap_is "grant issue -o - prints the grant" "$(grant -o - 2>/dev/null | head -c 3)" "eyJ"
tap_is "migrate order -o - prints the order" "$(order -o - | head -c 3)" "eyJ"
tap_is "ca crl -o - prints the CRL" "$(kt ca crl --ca root -o - | head -1)" \
	"-----BEGIN X509 CRL-----"
tap_is "no file named - was created" "$(ls -d -- - 2>/dev/null)" ""
tap_fails_with "token keyfile - is refused: a secret" "never written to standard output" \
	kt token keyfile -o -
tap_fails_with "token issue --new-guest-key - is refused before anything is written" \
	"never written to standard output" \
	kt token issue --key host/key.pem --cert host/chain.pem --uuid $VM --aud test --new-guest-key - -o t.jwt
tap_is "... and wrote no token" "$(ls t.jwt 2>/dev/null)" ""

# --- the normal case -----------------------------------------------------------------
umask 077
kt token keyfile -o kf >/dev/null
tap_is "token keyfile writes a private regular file" "$(stat -c '%F %a %s' kf)" "regular file 600 32"
token -o tok.jwt 2>/dev/null
tap_is "token issue -o writes a 0644 token despite umask 077" "$(written tok.jwt 3)" \
	"$(printf 'regular file 644\neyJ')"
echo old >report.jwt
kt attest --measurement m.json --uuid $VM -o report.jwt
tap_is "attest -o replaces an existing report" "$(written report.jwt 3)" \
	"$(printf 'regular file 644\neyJ')"
kt config attest --uuid $VM -o config.jwt vm.json 2>/dev/null
tap_is "config attest -o writes the report" "$(written config.jwt 3)" \
	"$(printf 'regular file 644\neyJ')"
grant -o g2.grant 2>/dev/null
tap_is "grant issue -o writes the grant" "$(written g2.grant 3)" "$(printf 'regular file 644\neyJ')"
order -o o.jwt
tap_is "migrate order -o writes the order" "$(written o.jwt 3)" "$(printf 'regular file 644\neyJ')"
kt ca crl --ca root -o crl.pem
tap_is "ca crl -o writes the CRL" "$(written crl.pem 10)" \
	"$(printf 'regular file 644\n-----BEGIN')"
kt ca issue user --ca root -o carol --cn carol >/dev/null
tap_is "ca issue -o writes a private key and public certificates" \
	"$(stat -c '%n %a' carol/key.pem carol/cert.pem carol/chain.pem | tr '\n' ' ')" \
	"carol/key.pem 600 carol/cert.pem 644 carol/chain.pem 644 "
tap_is "no temporary file is left behind" "$(find . -name '.*.??????' | wc -l)" 0

tap_done
