#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# libkvmtrust's layers depend in one direction only (see
# Documentation/architecture.rst). Every #include "<layer>/..." in
# user/lib/<layer>/ must name the layer itself or one it may use; one TAP
# line per layer names the file and include that break the rule. The CLI
# sits above every layer and may include them all.
cd "$(dirname "$0")/../.."
. scripts/lib/tap.sh

declare -A may_use=(
	[common]="common"
	[measure]="measure common"
	[identity]="identity common"
	[attest]="attest identity common"
	[ledger]="ledger identity common"
	[policy]="policy attest ledger snapshot measure identity common"
	[snapshot]="snapshot attest measure identity common"
	[evidence]="evidence policy attest ledger identity common"
)

# A header outside any layer (bare "x.h") would hide a dependency.
layer_violations() {
	local layer=$1 f inc target
	for f in user/lib/"$layer"/*.[ch]; do
		while read -r inc; do
			target=${inc%%/*}
			[ "$target" = "$inc" ] && { echo "$f: \"$inc\" names no layer"; continue; }
			[[ " ${may_use[$layer]} " == *" $target "* ]] ||
				echo "$f: \"$inc\" ($layer may use: ${may_use[$layer]})"
		done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
	done
}

layers=$(cd user/lib && ls -d */ | tr -d /)
tap_plan "$(($(echo "$layers" | wc -l) + 1))"
unknown=""
for layer in $layers; do
	[ -n "${may_use[$layer]:-}" ] || unknown="$unknown $layer"
done
tap_is "every user/lib folder is a known layer" "$unknown" ""
for layer in $layers; do
	[ -n "${may_use[$layer]:-}" ] || { tap_skip "layer $layer" "unknown layer"; continue; }
	out=$(layer_violations "$layer")
	tap_is "layer $layer includes only what it may use" "$out" ""
done
tap_done
