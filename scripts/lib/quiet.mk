# SPDX-License-Identifier: GPL-2.0
#
# Quiet build lines ("  CC     file") unless V=1, shared by user/ and
# selftests/. Use: $(call msg,CC,$<) then $(Q)$(CC) ...
ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-6s %s\n' $(1) $(2)
endif

.DELETE_ON_ERROR:
