#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The module and the UAPI header are checkpatch clean (--no-tree --strict),
# one TAP line per file, so a style regression fails `make check` and names
# the file.
cd "$(dirname "$0")/../.."
. scripts/lib/tap.sh

files=$(ls kmod/*.c kmod/*.h include/uapi/linux/kvmtrust.h | grep -v '\.mod\.c$')
tap_plan "$(echo "$files" | wc -l)"
for f in $files; do
	tap_ok "checkpatch $f" scripts/checkpatch "$f"
done
tap_done
