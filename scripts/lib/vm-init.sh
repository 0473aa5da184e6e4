#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
#
# PID 1 of the test VM (see scripts/lib/vm.sh), in the spirit of WireGuard's
# qemu/init.c: mount what the tests need, load virtio/9p/KVM, chroot into
# the host's / (read only over 9p) and run the mode's command there, then
# leave dmesg and the exit status in the results share and power off.
# panic_on_warn is on the kernel command line, so a WARN ends the run and the
# host sees no status file.

/bin/busybox --install -s /bin
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mode=$(sed -n 's/.*kvmtrust\.mode=\([a-z]*\).*/\1/p' /proc/cmdline)

die() {
	echo "vm-init: $*" > /dev/console
	echo "vm-init: $*" >> /results/init.log 2>/dev/null
	reboot -f
}

for m in $(cat /modules.order); do
	insmod "/modules/$m" || die "insmod $m failed"
done

opts=trans=virtio,version=9p2000.L,msize=262144
mount -t 9p -o "$opts,ro,cache=loose" host /host || die "cannot mount the host's / over 9p"
mount -t 9p -o "$opts" results /results || die "cannot mount the results share"
. /results/vmtest.conf

# The kernel's request_module() runs its modprobe in this initramfs, which
# has no /lib/modules: run the host's (scripts/lib/vm.sh's helper) as a real
# machine would (kvmtrust.ko asks the crypto API for sha256-ni, which loads
# sha256_ssse3).
echo /sbin/modprobe-host > /proc/sys/kernel/modprobe

# The chroot: the host's files, the VM's kernel interfaces, private tmp.
mount --rbind /dev /host/dev
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t debugfs debugfs /host/sys/kernel/debug
mount -t tracefs tracefs /host/sys/kernel/tracing
# Private /tmp and /run; a repository cloned under one of them stays visible.
for d in /tmp /run; do
	case "$REPO/" in
	"$d"/*)
		mkdir -p /repo
		mount --bind "/host$REPO" /repo
		mount -t tmpfs tmpfs "/host$d"
		mkdir -p "/host$REPO"
		mount --bind /repo "/host$REPO"
		;;
	*)
		mount -t tmpfs tmpfs "/host$d"
		;;
	esac
done
mkdir -p /host/tmp/results
mount --bind /results /host/tmp/results
hostname kvmtrust-vm
# A task stuck in the kernel ends the run with its stack instead of a timeout.
echo 120 > /proc/sys/kernel/hung_task_timeout_secs
echo 1 > /proc/sys/kernel/hung_task_panic

case "$mode" in
shell)
	echo "vm-init: host / at /, repo at $REPO, results in /tmp/results; exit to power off"
	chroot /host /usr/bin/env -i TERM=linux HOME=/root PATH="$PATH" PS1='kvmtrust-vm:\w# ' \
		/bin/sh -c "cd '$REPO' && exec setsid -c /bin/bash --norc -i" < /dev/console > /dev/console 2>&1
	;;
*)
	# shellcheck disable=SC2086 # TEST_ENV: KEY=VALUE words from vmtest.conf
	chroot /host /usr/bin/env -i HOME=/root PATH="$PATH" KT_SEED="$KT_SEED" ${TEST_ENV:-} \
		/bin/sh -c "cd '$REPO' && exec $COMMAND" \
		> /results/output 2>&1 < /dev/null
	echo $? > /results/status.tmp
	;;
esac

# Debian's 6.1 has no CONFIG_DEBUG_KMEMLEAK; a kernel that has it is scanned.
leaks=/host/sys/kernel/debug/kmemleak
if [ -e $leaks ]; then
	echo scan > $leaks
	cat $leaks > /results/kmemleak
fi
dmesg > /results/dmesg
[ -e /results/status.tmp ] && mv /results/status.tmp /results/status
sync
reboot -f
