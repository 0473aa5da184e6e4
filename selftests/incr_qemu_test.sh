#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Incremental re-measurement (qemu): see
# selftests/incr_test.py, which prints the TAP.
cd "$(dirname "$0")/.." || exit 1
exec python3 selftests/incr_test.py qemu
