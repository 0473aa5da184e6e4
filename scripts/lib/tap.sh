# SPDX-License-Identifier: GPL-2.0
#
# Minimal TAP for shell end-to-end tests, in the spirit of netns.sh:
#   . scripts/lib/tap.sh
#   tap_plan 3
#   tap_ok "name" cmd args...        passes when cmd succeeds
#   tap_fails "name" cmd args...     passes when cmd fails (a must-fail step)
#   tap_is "name" "$got" "$want"     passes when the strings are equal
#   tap_skip "name" "reason"
#   tap_done                         exit status: 0 only if nothing failed
# Commands run are echoed as TAP diagnostics so a failure shows what ran.

TAP_N=0
TAP_FAILED=0

tap_plan() { echo "TAP version 13"; echo "1..$1"; }

tap_result() {
	TAP_N=$((TAP_N + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $TAP_N $2"
	else
		echo "not ok $TAP_N $2"
		TAP_FAILED=$((TAP_FAILED + 1))
	fi
}

tap_diag() { sed 's/^/# /'; }

tap_ok() {
	local name=$1 out rc; shift
	echo "# run: $*"
	out=$("$@" 2>&1); rc=$?
	[ "$rc" -ne 0 ] && printf '%s\n' "$out" | tap_diag
	tap_result "$rc" "$name"
}

tap_fails() {
	local name=$1 out rc; shift
	echo "# run (must fail): $*"
	out=$("$@" 2>&1); rc=$?
	printf '%s\n' "$out" | tap_diag
	[ "$rc" -ne 0 ]; tap_result $? "$name"
}

tap_is() {
	if [ "$2" = "$3" ]; then
		tap_result 0 "$1"
	else
		printf 'got:  %s\nwant: %s\n' "$2" "$3" | tap_diag
		tap_result 1 "$1"
	fi
}

tap_skip() { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N $1 # SKIP $2"; }

tap_done() { [ "$TAP_FAILED" -eq 0 ]; }

# tap_fails_with "name" "pattern" cmd...: must fail AND say something matching
# the extended regex pattern, so a refusal for the wrong reason is caught.
tap_fails_with() {
	local name=$1 pat=$2 out rc; shift 2
	echo "# run (must fail with /$pat/): $*"
	out=$("$@" 2>&1); rc=$?
	printf '%s\n' "$out" | tap_diag
	[ "$rc" -ne 0 ] && printf '%s\n' "$out" | grep -qE -- "$pat"
	tap_result $? "$name"
}

# tap_workdir NAME: a fresh /tmp/NAME.XXXXXX as $dir and the working
# directory; on exit the background jobs listed in $pids are killed and the
# directory removed (kept with KT_KEEP=1).
tap_workdir() {
	dir=$(mktemp -d "/tmp/$1.XXXXXX") || exit 1
	pids=()
	trap tap_workdir_cleanup EXIT
	cd "$dir" || exit 1
}

tap_workdir_cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "${KT_KEEP:-}" ] || rm -rf "$dir"
}
