# SPDX-License-Identifier: GPL-2.0
#
# The test VM, shared by scripts/vmtest and scripts/demo: the Debian kernel
# scripts/kernel-release names, under TCG with nested SVM, a busybox
# initramfs whose /init (scripts/lib/vm-init.sh) loads virtio/9p and KVM,
# mounts the host's / read only over 9p and chroots into it, so the
# repository's binaries run in the VM exactly as built on the host. A second, writable 9p share ("results")
# carries the run's configuration in and TAP, dmesg and exit status out.
#
#   vm_prepare WORKDIR      initramfs + results dir under WORKDIR
#   vm_boot WORKDIR MODE    MODE: tests | demo | shell; returns qemu's status
#
# Environment: VMTEST_TIMEOUT (seconds, default 2400), VMTEST_MEM (2G),
# VMTEST_SMP (2), VMTEST_TCG_THREAD (single; multi for MTTCG), VMTEST_QEMU
# (qemu-system-x86_64), V=1 streams the console.

VM_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VM_MODULES="virtio_pci 9pnet_virtio 9p kvm_amd"

vm_log() { echo "# vm: $*" >&2; }

vm_die() { echo "vm: $*" >&2; exit 1; }

# Prints the modules.dep paths needed for "$@", dependencies first; a module
# built into the kernel (6.12's virtio_pci) needs nothing.
vm_module_closure() {
	local dep=$1; shift
	awk -v want="$*" -v builtin="${dep%/*}/modules.builtin" '
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
		BEGIN { while ((getline b < builtin) > 0) isbuiltin[norm(b)] = 1 }
		{ m = $1; sub(/:$/, "", m); deps[m] = ""; for (i = 2; i <= NF; i++)
			deps[m] = deps[m] " " $i; byname[norm(m)] = m }
		END {
			n = split(want, w, " ")
			for (i = 1; i <= n; i++) {
				if (w[i] in isbuiltin) continue
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
	# A kernel.modprobe helper for tests of module autoloading
	# (selftests/dkms_test.sh): the kernel runs it in this root, not in
	# the chroot where the host's modprobe and /lib/modules are.
	mkdir -p "$root/sbin"
	printf '#!/bin/sh\nexec chroot /host /sbin/modprobe "$@"\n' > "$root/sbin/modprobe-host"
	chmod 0755 "$root/sbin/modprobe-host"
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
	local dir=$1 mode=$2 timeout=${VMTEST_TIMEOUT:-2400} rc
	# -no-reboot turns the guest's final "reboot -f" (and a panic) into exit.
	# TCG on a busy host starves vCPU threads for seconds: the lockup and
	# RCU stall detectors would report that as a kernel bug, so they are
	# off; hung tasks still panic (scripts/lib/vm-init.sh).
	local append="console=ttyS0 panic=-1 panic_on_warn=1 loglevel=5 rdinit=/init sysrq_always_enabled"
	append+=" nowatchdog rcupdate.rcu_cpu_stall_suppress=1 kvmtrust.mode=$mode"
	# Single-threaded TCG: on a small busy host MTTCG ran the suite 2-3
	# times slower and sometimes left the guest kernel stuck
	# (Documentation/testing.rst, Timings).
	local qemu=(
		"${VMTEST_QEMU:-qemu-system-x86_64}" -accel "tcg,thread=${VMTEST_TCG_THREAD:-single}" -cpu EPYC,+svm
		-m "${VMTEST_MEM:-2G}" -smp "${VMTEST_SMP:-2}" -nographic -no-reboot -nic none
		-kernel "$VM_KERNEL" -initrd "$dir/initramfs.cpio" -append "$append"
		-virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap
		-virtfs "local,path=$dir/results,mount_tag=results,security_model=none"
	)

	if [ "$mode" = shell ]; then
		"${qemu[@]}"
		return $?
	fi
	"${qemu[@]}" -monitor "unix:$dir/monitor,server=on,wait=off" \
		< /dev/null > "$dir/console.log" 2>&1 &
	local pid=$! waited=0 tailer=
	if [ "${V:-0}" = 1 ]; then
		tail -n +1 -f "$dir/console.log" >&2 &
		tailer=$!
	fi
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$waited" -ge "$timeout" ]; then
			# A livelocked kernel runs no userspace timeout: ask it for
			# its stacks (sysrq w: blocked tasks, l: every CPU) first.
			vm_log "timed out after ${timeout}s (VMTEST_TIMEOUT); stacks in console.log"
			vm_monitor "$dir" "sendkey alt-sysrq-w" "sendkey alt-sysrq-l"
			sleep 10
			kill "$pid" 2>/dev/null
			break
		fi
		sleep 1
		waited=$((waited + 1))
	done
	wait "$pid"
	rc=$?
	[ "$waited" -ge "$timeout" ] && rc=124
	[ -n "$tailer" ] && kill "$tailer" 2>/dev/null
	return "$rc"
}

# vm_monitor DIR CMD...: human monitor commands to a running VM.
# vm_story NAME COMMAND [KEEP]: builds the module, userspace and selftests,
# boots the test VM with kvmtrust.mode=NAME to run COMMAND (from the
# repository), prints its output; 0 only when COMMAND exited 0. With KEEP
# set to 1 the work directory is kept. For scripts/demo and the live
# benchmarks.
vm_story() {
	local name=$1 command=$2 keep=${3:-0} work status
	vm_log "building module, userspace and selftests"
	make -s module user >&2 && make -s -C selftests >&2 || return 1
	work=$(mktemp -d "/tmp/kvmtrust-$name.XXXXXX")
	vm_prepare "$work"
	vm_config "$work" "REPO='$PWD'" "KT_SEED='${KT_SEED:-$RANDOM}'" "COMMAND='$command'"
	vm_log "booting $VM_KERNEL under QEMU (TCG, nested SVM): a minute or more"
	vm_boot "$work" "$name"
	cat "$work/results/output" 2>/dev/null
	status=$(cat "$work/results/status" 2>/dev/null)
	if [ "$status" != 0 ]; then
		echo "$name: failed (status ${status:-none}); last console lines:" >&2
		tail -n 20 "$work/console.log" >&2
	fi
	if [ "$keep" = 1 ]; then vm_log "kept $work"; else rm -rf "$work"; fi
	[ "$status" = 0 ]
}

vm_monitor() {
	python3 - "$@" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1] + "/monitor")
for cmd in sys.argv[2:]:
    s.sendall((cmd + "\n").encode())
    time.sleep(2)
PY
}

# Kernel trouble in a log: prints the matching lines, fails if any.
vm_scan_kernel_log() {
	! grep -hE -- 'Call Trace:|cut here|BUG:|Oops|Kernel panic|unreferenced object|blocked for more than' "$@"
}
