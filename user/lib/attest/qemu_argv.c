// SPDX-License-Identifier: GPL-2.0
/*
 * A QEMU command line reduced to configuration parameters. Every argument
 * is measured, on the list of arguments that leave the guest alone, or
 * refused: the table at the end says which, and why, for each option;
 * Documentation/attestation.rst ("QEMU arguments") gives the reasoning.
 *
 * Measured options become qemu.OPT.N = the option string as written, with
 * every file it names replaced by "sha256:HEX" of the file's bytes, so the
 * tree pins what the guest gets, not where it came from. Memory, vCPUs,
 * NIC MACs, disks, firmware, kernel, initrd and command line also get the
 * named parameters of config_tree.h that JSON and libvirt sources share.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/qemu_argv.h"

/* ---- handlers ------------------------------------------------------------- */

static int harmless(struct qstate *st, const struct opt *o, const char *arg, struct kt_err *err)
{
	(void)st, (void)o, (void)arg, (void)err;
	return 0;
}

static int refused(struct qstate *st, const struct opt *o, const char *arg, struct kt_err *err)
{
	(void)st, (void)arg;
	return kt_fail(err, "config", "argument '-%s' %s", o->name, o->why);
}

/* Measured as written: flags ("" value) and options that name no file. */
static int verbatim(struct qstate *st, const struct opt *o, const char *arg, struct kt_err *err)
{
	return kt_qemu_add_leaf(st, kt_qemu_leaf_of(o), -1, arg, err);
}

/* Checked key by key (o->keys, o->deny, o->files, o->check), then measured. */
static int measured(struct qstate *st, const struct opt *o, const char *arg, struct kt_err *err)
{
	return kt_qemu_measure_kv(st, o, arg, true, err);
}

/* As measured(), but harmless: checked, not added. */
static int harmless_checked(struct qstate *st, const struct opt *o, const char *arg,
			    struct kt_err *err)
{
	return kt_qemu_measure_kv(st, o, arg, false, err);
}

/* kernel.sha256, initrd.sha256, bootloader.sha256. */
static int file_param(struct qstate *st, const struct opt *o, const char *arg,
		      struct kt_err *err)
{
	return kt_config_add_file_hash(st->cfg, o->param, arg, err);
}

static int cmdline(struct qstate *st, const struct opt *o, const char *arg, struct kt_err *err)
{
	(void)o;
	return kt_config_add(st->cfg, "kernel.cmdline", arg, err);
}

/* A number with an optional k/M/G/T suffix (and B); MiB when bare, as QEMU reads -m. */
static int qemu_size(const char *s, uint64_t *bytes)
{
	static const char units[] = "kmgt";
	const char *unit;
	uint64_t mul = 1 << 20;
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	*bytes = strtoull(s, &end, 10);
	if (*end) {
		unit = strchr(units, tolower((unsigned char)*end));
		if (!unit)
			return -1;
		mul = 1ULL << (10 * (unit - units + 1));
		end++;
		if (*end == 'B' || *end == 'b')
			end++;
	}
	*bytes *= mul;
	return *end ? -1 : 0;
}

static int qemu_count(const char *s, uint64_t *n)
{
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	*n = strtoull(s, &end, 10);
	return *end || !*n ? -1 : 0;
}

/*
 * -m and -smp: memory and vcpus; hotplug limits and topology (anything
 * but the size or count) are measured as written besides.
 */
static int sizing(struct qstate *st, const struct opt *o, const char *arg, struct kt_err *err)
{
	bool memory = !strcmp(o->name, "m");
	const char *v;
	struct kvs kv;
	uint64_t n;
	int ret = -1;

	if (kt_qemu_kv_parse(arg, o, &kv, err))
		return -1;
	if (kt_qemu_kv_check(st, o, &kv, err))
		goto out;
	v = kt_qemu_kv_get(&kv, o->implied);
	if (memory ? qemu_size(v, &n) : qemu_count(v, &n)) {
		kt_fail(err, "config", "argument '-%s %s': %s not understood", o->name, arg,
			memory ? "memory size" : "CPU count");
		goto out;
	}
	ret = kt_config_add_u64(st->cfg, memory ? "memory" : "vcpus", n, err) ||
	      (kv.n > 1 && kt_qemu_add_kv(st, o->name, -1, &kv, err)) ? -1 : 0;
out:
	kt_qemu_kv_free(&kv);
	return ret;
}

/* ---- host-side endpoints ------------------------------------------------------ */

/*
 * Endpoints on this host only: the management plane and consoles stay
 * with whoever runs the VMM. Network listeners (tcp:, telnet:, udp:,
 * websocket:) and host devices (/dev/...) are refused.
 */
static bool local_endpoint(const char *s)
{
	static const char *const exact[] = { "stdio", "none", "null", "pty", "vc", NULL };
	static const char *const prefix[] = { "file:", "pipe:", "unix:", "chardev:", "vc:", NULL };
	const char *const *p;

	if (!strncmp(s, "mon:", 4))
		s += 4;
	if (kt_qemu_in_list(exact, s))
		return true;
	for (p = prefix; *p; p++) {
		if (!strncmp(s, *p, strlen(*p)))
			return true;
	}
	return false;
}

/* -monitor, -qmp: the management socket; -serial (o->leaf set) adds a guest device too. */
static int endpoint(struct qstate *st, const struct opt *o, const char *arg, struct kt_err *err)
{
	if (!local_endpoint(arg))
		return kt_fail(err, "config", "argument '-%s %s' reaches beyond this host: give "
			       "unix:, pty, stdio, file:, pipe:, chardev: or none", o->name, arg);
	return o->leaf ? kt_qemu_add_leaf(st, o->leaf, -1, arg, err) : 0;
}

/* A local backend; a socket only on a path (unix), never host/port. */
static int chardev(struct qstate *st, const struct opt *o, struct kvs *kv, struct kt_err *err)
{
	(void)st, (void)o;
	if (!strcmp(kt_qemu_kv_implied(kv), "socket") && !kt_qemu_kv_get(kv, "path"))
		return kt_fail(err, "config", "argument '-chardev socket': only unix sockets "
			       "(path=) stay on this host");
	return 0;
}

/* A VNC server on a unix socket only: websocket= would open a TCP port besides. */
static int vnc(struct qstate *st, const struct opt *o, struct kvs *kv, struct kt_err *err)
{
	const char *addr = kt_qemu_kv_implied(kv);

	(void)st;
	if (!strcmp(addr, "none") || !strncmp(addr, "unix:", 5))
		return 0;
	return kt_fail(err, "config", "argument '-%s %s' reaches beyond this host: give "
		       "unix:PATH or none", o->name, addr);
}

/* ---- the table ------------------------------------------------------------------- */

static const char *const machine_deny[] = {
	/* these load files: use -kernel, -initrd, -append, -bios */
	"kernel", "initrd", "append", "firmware", "dtb", "dumpdtb", NULL,
};
static const char *const drive_keys[] = {
	"file", "format", "if", "bus", "unit", "index", "media", "snapshot", "cache",
	"cache.direct", "cache.no-flush", "aio", "rerror", "werror", "id", "readonly",
	"read-only", "copy-on-read", "discard", "detect-zeroes", "serial", "addr",
	"auto-read-only", "force-share", NULL,
};
/* Files served to the guest (tftp, bootfile, smb), commands (guestfwd), helpers. */
static const char *const netdev_deny[] = {
	"tftp", "bootfile", "smb", "guestfwd", "helper", NULL,
};

/* Positional name, has_arg, handler; designated for the rest. */
#define O(n, a, f, ...) { .name = (n), .has_arg = (a), .fn = (f), __VA_ARGS__ }

static const struct opt options[] = {
	/* canonical parameters shared with JSON and libvirt */
	O("m", true, sizing, .implied = "size", .keys = LIST("size", "slots", "maxmem")),
	O("smp", true, sizing, .implied = "cpus",
	  .keys = LIST("cpus", "sockets", "dies", "clusters", "cores", "threads", "maxcpus")),
	O("kernel", true, file_param, .param = "kernel.sha256"),
	O("initrd", true, file_param, .param = "initrd.sha256"),
	O("bios", true, file_param, .param = "bootloader.sha256"),
	O("append", true, cmdline),
	/* disks: content and backing chain, and the drive as written */
	O("drive", true, measured, .check = kt_qemu_drive, .keys = drive_keys),
	O("hda", true, kt_qemu_drive_shorthand, .drive = ",index=0,media=disk"),
	O("hdb", true, kt_qemu_drive_shorthand, .drive = ",index=1,media=disk"),
	O("hdc", true, kt_qemu_drive_shorthand, .drive = ",index=2,media=disk"),
	O("hdd", true, kt_qemu_drive_shorthand, .drive = ",index=3,media=disk"),
	O("cdrom", true, kt_qemu_drive_shorthand, .drive = ",index=2,media=cdrom"),
	O("fda", true, kt_qemu_drive_shorthand, .drive = ",if=floppy,index=0"),
	O("fdb", true, kt_qemu_drive_shorthand, .drive = ",if=floppy,index=1"),
	O("pflash", true, kt_qemu_drive_shorthand, .drive = ",if=pflash"),
	O("sd", true, kt_qemu_drive_shorthand, .drive = ",if=sd"),
	O("mtdblock", true, kt_qemu_drive_shorthand, .drive = ",if=mtd"),
	O("blockdev", true, measured, .check = kt_qemu_blockdev,
	  .keys = LIST("driver", "node-name", "filename", "file", "backing", "read-only",
		       "auto-read-only", "cache.direct", "cache.no-flush", "aio", "discard",
		       "detect-zeroes", "force-share", "locking")),
	/* guest-visible hardware, measured as written */
	O("machine", true, measured, .implied = "type", .deny = machine_deny),
	O("M", true, measured, .leaf = "machine", .implied = "type", .deny = machine_deny),
	O("cpu", true, verbatim),
	O("accel", true, verbatim),
	O("enable-kvm", false, verbatim),
	/* Only listed drivers (kt_qemu_device), none of which takes a host path but romfile. */
	O("device", true, measured, .check = kt_qemu_device, .implied = "driver",
	  .files = LIST("romfile")),
	O("global", true, kt_qemu_global),
	O("object", true, measured, .check = kt_qemu_object, .implied = "qom-type",
	  .values = LIST("memory-backend-ram", "memory-backend-memfd", "rng-random",
			 "rng-builtin", "iothread", "throttle-group")),
	O("netdev", true, measured, .check = kt_qemu_netdev, .implied = "type", .deny = netdev_deny),
	O("nic", true, measured, .check = kt_qemu_nic, .implied = "type", .deny = netdev_deny),
	O("net", true, measured, .check = kt_qemu_net, .implied = "type", .deny = netdev_deny),
	O("numa", true, verbatim),
	O("rtc", true, verbatim),
	O("uuid", true, verbatim),
	O("vga", true, verbatim),
	O("usb", false, verbatim),
	O("usbdevice", true, measured, .implied = "type",
	  .values = LIST("tablet", "mouse", "keyboard", "wacom-tablet")),
	O("boot", true, measured, .implied = "order", .files = LIST("splash")),
	O("smbios", true, measured, .files = LIST("file")),
	O("fw_cfg", true, measured, .implied = "name", .files = LIST("file")),
	O("acpitable", true, measured, .files = LIST("file", "data")),
	O("option-rom", true, measured, .implied = "romfile", .files = LIST("romfile")),
	O("overcommit", true, verbatim),
	O("nodefaults", false, verbatim),
	O("no-user-config", false, verbatim),
	O("no-acpi", false, verbatim),
	O("no-hpet", false, verbatim),
	O("no-fd-bootchk", false, verbatim),
	O("win2k-hack", false, verbatim),
	O("snapshot", false, verbatim),
	/* the snapshot's state comes from a disk image measured above */
	O("loadvm", true, verbatim),
	/* guest devices on local endpoints */
	O("serial", true, endpoint, .leaf = "serial"),
	O("parallel", true, endpoint, .leaf = "parallel"),
	O("debugcon", true, endpoint, .leaf = "debugcon"),
	/* harmless: host-side only, the guest neither runs nor sees them */
	O("monitor", true, endpoint),
	O("qmp", true, endpoint),
	O("qmp-pretty", true, endpoint),
	O("mon", true, harmless_checked, .keys = LIST("chardev", "mode", "pretty", "id")),
	O("chardev", true, harmless_checked, .check = chardev, .implied = "backend",
	  .values = LIST("socket", "stdio", "null", "pty", "file", "pipe", "ringbuf", "memory",
			 "vc"),
	  .keys = LIST("backend", "id", "path", "server", "wait", "nowait", "logfile",
		       "logappend", "mux", "signal", "append", "reconnect", "size", "telnet",
		       "abstract", "tight", "cols", "rows", "width", "height")),
	O("nographic", false, harmless),
	/* -display vnc=ADDR is -vnc ADDR: a listener, refused like it. */
	O("display", true, harmless_checked, .implied = "type", .deny = LIST("vnc"),
	  .values = LIST("none", "gtk", "sdl", "curses", "egl-headless")),
	O("vnc", true, harmless_checked, .check = vnc, .implied = "addr",
	  .deny = LIST("websocket", "to")),
	O("full-screen", false, harmless),
	O("k", true, harmless),
	O("echr", true, harmless),
	O("audiodev", true, harmless_checked, .implied = "driver",
	  .values = LIST("none", "pa", "pipewire", "alsa", "oss", "sdl", "jack", "wav")),
	O("name", true, harmless),
	O("pidfile", true, harmless),
	O("daemonize", false, harmless),
	O("runas", true, harmless),
	O("sandbox", true, harmless),
	O("D", true, harmless),
	O("d", true, harmless),
	O("dfilter", true, harmless),
	O("trace", true, harmless),
	O("msg", true, harmless),
	O("S", false, harmless),
	O("no-reboot", false, harmless),
	O("no-shutdown", false, harmless),
	O("action", true, harmless),
	O("watchdog-action", true, harmless),
	O("mem-prealloc", false, harmless),
	O("async-teardown", false, harmless),
	/* refused, with the reason */
	O("incoming", true, refused, .why = "replaces guest memory with a migration stream, "
	  "which is not measured"),
	O("readconfig", true, refused, .why = "reads further options from a file"),
	O("set", true, refused, .why = "rewrites options after they were measured"),
	O("fsdev", true, refused, .why = "shares host files with the guest"),
	O("virtfs", true, refused, .why = "shares host files with the guest"),
	O("mem-path", true, refused, .why = "backs guest memory with host files"),
	O("gdb", true, refused, .why = "opens a debug stub that reads and writes guest memory"),
	O("s", false, refused, .why = "opens a debug stub that reads and writes guest memory"),
	O("tpmdev", true, refused, .why = "gives the guest a TPM whose state is not measured"),
	O("add-fd", true, refused, .why = "passes file descriptors, which cannot be measured"),
	O("L", true, refused, .why = "moves where QEMU finds firmware and option ROMs"),
	O("plugin", true, refused, .why = "loads code into the VMM"),
	O("dtb", true, refused, .why = "loads a device tree that is not measured"),
	O("spice", true, refused, .why = "opens network display and agent channels"),
	O("preconfig", false, refused, .why = "lets the monitor configure the machine before "
	  "it starts"),
	O("chroot", true, refused, .why = "changes what later file names resolve to"),
};

static const struct opt *lookup(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
		if (!strcmp(options[i].name, name))
			return &options[i];
	}
	return NULL;
}

int kt_config_qemu_parse(int argc, char *const argv[], struct kt_config *cfg,
			 struct kt_err *err)
{
	static const struct opt image = O("hda", true, kt_qemu_drive_shorthand,
					  .drive = ",index=0,media=disk");
	struct qstate st = { .cfg = cfg };
	const struct opt *o;
	const char *name;
	int i;

	for (i = 1; i < argc; i++) {
		/* As QEMU: a word that is no option is the first hard disk image. */
		if (argv[i][0] != '-') {
			if (kt_qemu_drive_shorthand(&st, &image, argv[i], err))
				return -1;
			continue;
		}
		/* QEMU takes -opt and --opt, each followed by its value; never -opt=value. */
		name = argv[i] + (argv[i][1] == '-' ? 2 : 1);
		o = lookup(name);
		if (!o && strchr(name, '='))
			return kt_fail(err, "config", "argument '%s' is not a QEMU option: QEMU "
				       "takes '-%.*s VALUE'", argv[i], (int)strcspn(name, "="),
				       name);
		if (!o)
			return kt_fail(err, "config", "argument '%s' is not measured and not known "
				       "to be harmless", argv[i]);
		if (o->has_arg && i + 1 == argc)
			return kt_fail(err, "config", "argument '%s' needs a value", argv[i]);
		if (o->fn(&st, o, o->has_arg ? argv[++i] : "", err))
			return -1;
	}
	return kt_config_finish(cfg, err);
}

int kt_config_from_qemu(int argc, char *const argv[], struct kt_config *cfg,
			struct kt_err *err)
{
	memset(cfg, 0, sizeof(*cfg));
	if (kt_config_qemu_parse(argc, argv, cfg, err)) {
		kt_config_free(cfg);
		return -1;
	}
	return 0;
}
