# SPDX-License-Identifier: GPL-2.0
#
# The test VM, shared by scripts/vmtest and scripts/demo: Debian's 6.1
# kernel under TCG with nested SVM, a busybox initramfs whose /init
# (scripts/lib/vm-init.sh) loads virtio/9p and KVM, mounts the host's / read
# only over 9p and chroots into it, so the repository's binaries run in the
# VM exactly as built on the host. A second, writable 9p share ("results")
# carries the run's configuration in and TAP, dmesg and exit status out.
#
#   vm_prepare WORKDIR      initramfs + results dir under WORKDIR
#   vm_boot WORKDIR MODE    MODE: tests | demo | shell; returns qemu's status
#
# Environment: VMTEST_TIMEOUT (seconds, default 600), VMTEST_MEM (2G),
# VMTEST_SMP (2), VMTEST_QEMU (qemu-system-x86_64), V=1 streams the console.

VM_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VM_MODULES="virtio_pci 9pnet_virtio 9p kvm_amd"

vm_log() { echo "# vm: $*" >&2; }

vm_die() { echo "vm: $*" >&2; exit 1; }

# Prints the modules.dep paths needed for "$@", dependencies first.
vm_module_closure() {
	local dep=$1; shift
	awk -v want="$*" '
		function norm(p,   b) { b = p; sub(/.*\//, "", b); sub(/\.ko.*$/, "", b);
					 gsub(/-/, "_", b); return b }
		function visit(m,   n, i, parts) {
			if (m in done) return
			done[m] = 1
			n = split(deps[m], parts, " ")
			# depmod lists dependencies of dependencies last.
			for (i = n; i >= 1; i--) visit(parts[i])
			print m
		}
		{ m = $1; sub(/:$/, "", m); deps[m] = ""; for (i = 2; i <= NF; i++)
			deps[m] = deps[m] " " $i; byname[norm(m)] = m }
		END {
			n = split(want, w, " ")
			for (i = 1; i <= n; i++) {
				if (!(w[i] in byname)) { print "missing module " w[i] > "/dev/stderr"; exit 1 }
				visit(byname[w[i]])
			}
		}' "$dep"
}

vm_make_initramfs() {
	local out=$1 rel=$2 root m
	local moddir=/lib/modules/$rel

	root=$(mktemp -d "${out%/*}/initramfs.XXXXXX")
	mkdir -p "$root"/{bin,dev,proc,sys,host,results,modules}
	cp /bin/busybox "$root/bin/busybox" || vm_die "busybox missing: run scripts/setup"
	# ldd fails on a static binary, which is what the initramfs needs.
	! ldd /bin/busybox > /dev/null 2>&1 ||
		vm_die "/bin/busybox is not static: install busybox-static (scripts/setup)"
	install -m 0755 "$VM_REPO/scripts/lib/vm-init.sh" "$root/init"
	vm_module_closure "$moddir/modules.dep" $VM_MODULES > "$root/modules.order" ||
		vm_die "cannot resolve modules from $moddir/modules.dep"
	while read -r m; do
		case $m in
		*.ko.xz) xz -dc "$moddir/$m" > "$root/modules/$(basename "$m" .xz)" ;;
		*.ko.zst) zstd -qdc "$moddir/$m" > "$root/modules/$(basename "$m" .zst)" ;;
		*) cp "$moddir/$m" "$root/modules/" ;;
		esac
	done < "$root/modules.order"
	sed -i 's,.*/,,; s,\.ko.*,.ko,' "$root/modules.order"
	# Uncompressed: the kernel unpacks it faster than it would gunzip under TCG.
	(cd "$root" && find . | cpio -o -H newc --quiet) > "$out"
	rm -rf "$root"
}

vm_prepare() {
	local dir=$1 rel

	rel=$("$VM_REPO/scripts/kernel-release") || exit 1
	VM_KERNEL=/boot/vmlinuz-$rel
	[ -r "$VM_KERNEL" ] || vm_die "$VM_KERNEL missing: run scripts/setup"
	command -v "${VMTEST_QEMU:-qemu-system-x86_64}" >/dev/null ||
		vm_die "qemu-system-x86_64 missing: run scripts/setup"
	mkdir -p "$dir/results"
	vm_make_initramfs "$dir/initramfs.cpio" "$rel"
}

# Writes KEY=VALUE lines the guest's /init and runner read.
vm_config() {
	local dir=$1; shift
	printf '%s\n' "$@" > "$dir/results/vmtest.conf"
}

vm_boot() {
	local dir=$1 mode=$2 timeout=${VMTEST_TIMEOUT:-600} rc
	# -no-reboot turns the guest's final "reboot -f" (and a panic) into exit.
	# TCG on a busy host starves vCPU threads for seconds: the lockup and
	# RCU stall detectors would report that as a kernel bug, so they are
	# off; hung tasks still panic (scripts/lib/vm-init.sh).
	local append="console=ttyS0 panic=-1 panic_on_warn=1 loglevel=5 rdinit=/init"
	append+=" nowatchdog rcupdate.rcu_cpu_stall_suppress=1 kvmtrust.mode=$mode"
	local qemu=(
		"${VMTEST_QEMU:-qemu-system-x86_64}" -accel tcg -cpu EPYC,+svm
		-m "${VMTEST_MEM:-2G}" -smp "${VMTEST_SMP:-2}" -nographic -no-reboot -nic none
		-kernel "$VM_KERNEL" -initrd "$dir/initramfs.cpio" -append "$append"
		-virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap
		-virtfs "local,path=$dir/results,mount_tag=results,security_model=none"
	)

	if [ "$mode" = shell ]; then
		"${qemu[@]}"
		return $?
	fi
	if [ "${V:-0}" = 1 ]; then
		timeout --foreground -k 10 "$timeout" "${qemu[@]}" < /dev/null 2>&1 |
			tee "$dir/console.log" >&2
		rc=${PIPESTATUS[0]}
	else
		timeout -k 10 "$timeout" "${qemu[@]}" < /dev/null > "$dir/console.log" 2>&1
		rc=$?
	fi
	[ "$rc" -eq 124 ] && vm_log "timed out after ${timeout}s (VMTEST_TIMEOUT)"
	return "$rc"
}

# Kernel trouble in a log: prints the matching lines, fails if any.
vm_scan_kernel_log() {
	! grep -hE -- 'Call Trace:|cut here|BUG:|Oops|Kernel panic|unreferenced object|blocked for more than' "$@"
}
