# SPDX-License-Identifier: GPL-2.0
#
# kvmtrust: out-of-tree module, userspace tools and tests.
#
#   make              module + userspace
#   make module       kvmtrust.ko against the Debian 6.1 headers
#                     (KVMTRUST_KERNEL=6.12 for 6.12's, KDIR= for any)
#   make user         kvmtrust CLI, libkvmtrust.a, host tests
#   make check        every test (host, and in a VM on 6.1 and on 6.12),
#                     ends with "N passed, N failed"
#   make check SANITIZE=1   the host suites against an ASan+UBSan build (build/user-san)
#   make package      the Debian packages kvmtrust and kvmtrust-dkms in build/deb
#   make package-check  builds them, installs them here, tests them in the VM
#   make demo         boots the test VM, runs a KVM guest, measures it
#   make demo-migrate boots the test VM, migrates a QEMU guest between two
#                     hosts (network namespaces): refused outside the grant,
#                     verified on arrival at the allowed host
#   make demo-daemon  boots the test VM: kvmtrustd attests two guests, one is
#                     tampered with, caught, its score falls, the actions fire
#   make style        checkpatch on the module
#   make sparse       sparse on the module

KERNELRELEASE_TARGET ?= $(shell scripts/kernel-release 2>/dev/null)
KDIR ?= /lib/modules/$(KERNELRELEASE_TARGET)/build
PREFIX ?= /usr
DESTDIR ?=

KVMTRUST_VERSION := $(shell git describe --always --dirty --tags 2>/dev/null || echo 0.1.0)
export KVMTRUST_VERSION

.PHONY: all module module-debug user check demo demo-migrate demo-daemon bench style sparse install dkms-install \
	dkms-src package package-check clean

# The module builds with the kernel's compiler and flags: CC=, CFLAGS=,
# LDFLAGS= and the like on our command line are for userspace (user/Makefile)
# and are not handed to kbuild, which would build with them.
module module-debug sparse install clean: MAKEOVERRIDES =
KBUILD := -C $(KDIR) M=$(CURDIR) $(if $(V),V=$(V))

all: module user

module:
	@test -d "$(KDIR)" || { echo "no kernel headers at '$(KDIR)': run scripts/setup or set KDIR=" >&2; exit 1; }
	$(MAKE) $(KBUILD) modules

module-debug:
	$(MAKE) $(KBUILD) modules KVMTRUST_DEBUG=1

user:
	$(MAKE) -C user

# check and demo install what they need first, so they work on a fresh machine.
check:
	scripts/setup
ifeq ($(SANITIZE),1)
	$(MAKE) user
	SANITIZE=1 KVMTRUST_NO_VM=1 scripts/run-tests
else
	$(MAKE) all
	scripts/run-tests
endif

demo:
	scripts/setup
	$(MAKE) all
	scripts/demo

demo-migrate:
	scripts/setup
	$(MAKE) all
	scripts/demo --migrate

demo-daemon:
	scripts/setup
	$(MAKE) all
	scripts/demo --daemon

bench: all
	scripts/bench

style:
	scripts/checkpatch

sparse:
	$(MAKE) $(KBUILD) C=2 modules

install: all
	$(MAKE) $(KBUILD) modules_install
	$(MAKE) -C user install PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)

dkms-install:
	scripts/dkms-install

# The module's DKMS source tree, for scripts/dkms-install and debian/rules:
# make dkms-src DKMS_DIR=/usr/src/kvmtrust-VERSION DKMS_VERSION=VERSION
DKMS_FILES := Kbuild Makefile kmod/Kbuild include/uapi/linux/kvmtrust.h scripts/kernel-release \
	$(filter-out %.mod.c,$(wildcard kmod/*.c)) $(wildcard kmod/*.h kmod/compat/*/*.h)
dkms-src:
	@test -n "$(DKMS_DIR)" -a -n "$(DKMS_VERSION)" || \
		{ echo "dkms-src: set DKMS_DIR= and DKMS_VERSION=" >&2; exit 2; }
	for f in $(DKMS_FILES); do install -D -m 0644 $$f $(DKMS_DIR)/$$f || exit 1; done
	chmod 0755 $(DKMS_DIR)/scripts/kernel-release
	sed 's/^PACKAGE_VERSION=.*/PACKAGE_VERSION="$(DKMS_VERSION)"/' dkms.conf > $(DKMS_DIR)/dkms.conf

package:
	scripts/package

package-check:
	scripts/setup
	scripts/package-check

clean:
	-$(MAKE) $(KBUILD) clean
	$(MAKE) -C user clean
	rm -rf build selftests/build
