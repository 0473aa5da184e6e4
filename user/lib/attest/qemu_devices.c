// SPDX-License-Identifier: GPL-2.0
/*
 * The QEMU options that describe guest hardware: disks and their images,
 * NICs and network backends, devices, objects and -global (qemu_argv.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/qemu_argv.h"

/* ---- disks ------------------------------------------------------------------- */

static int drive_file(struct qstate *st, struct kv *file, const char *format, size_t index,
		      struct kt_err *err)
{
	char name[64];

	/* QEMU reads "proto:..." (':' before any '/') as nbd:, json:, http:, ... */
	if (file->value[strcspn(file->value, ":/")] == ':')
		return kt_fail(err, "config", "disk '%s' is not a local file (QEMU reads it as a "
			       "protocol)", file->value);
	if (kt_config_add_disk(st->cfg, index, file->value, format, err))
		return -1;
	snprintf(name, sizeof(name), "disk.%zu.sha256", index);
	return kt_qemu_set_sha256(file, kt_qemu_param(st->cfg, name), err);
}

/*
 * One -drive (or its shorthand, written out as QEMU does): disk.N for the
 * image and its backing chain; the drive as written is qemu.drive.N.
 */
int kt_qemu_drive(struct qstate *st, const struct opt *o, struct kvs *kv, struct kt_err *err)
{
	static const char *const formats[] = { "raw", "qcow2", NULL };
	const char *format = kt_qemu_kv_get(kv, "format");
	struct kv *file = kt_qemu_kv_find(kv, "file");

	st->index = (long)st->blocks++;
	if (format && !kt_qemu_in_list(formats, format))
		return kt_fail(err, "config", "argument '-%s': format '%s' is not measured "
			       "(raw and qcow2 are)", o->name, format);
	return file && *file->value ? drive_file(st, file, format, (size_t)st->index, err) : 0;
}

/* -hda FILE is -drive file=FILE,index=0,media=disk, as QEMU expands it. */
int kt_qemu_drive_shorthand(struct qstate *st, const struct opt *o, const char *arg,
			    struct kt_err *err)
{
	static const struct opt as_drive = { .name = "drive", .check = kt_qemu_drive };
	char *escaped = malloc(2 * strlen(arg) + 1), *spec = NULL, *e = escaped;
	const char *s;
	int ret;

	for (s = arg; escaped && *s; s++) {
		if (*s == ',')
			*e++ = ',';
		*e++ = *s;
	}
	if (escaped)
		*e = '\0';
	if (!escaped || asprintf(&spec, "file=%s%s", escaped, o->drive) < 0) {
		free(escaped);
		return kt_fail(err, "config", "out of memory");
	}
	free(escaped);
	ret = kt_qemu_measure_kv(st, &as_drive, spec, true, err);
	free(spec);
	return ret;
}

/* Protocol nodes (file, host_device) read a local file: disk.N; format nodes name nodes. */
int kt_qemu_blockdev(struct qstate *st, const struct opt *o, struct kvs *kv, struct kt_err *err)
{
	static const char *const protocols[] = { "file", "host_device", "host_cdrom", NULL };
	static const char *const drivers[] = {
		"file", "host_device", "host_cdrom", "raw", "qcow2", NULL,
	};
	const char *driver = kt_qemu_kv_get(kv, "driver");
	struct kv *file = kt_qemu_kv_find(kv, "filename");

	(void)o;
	st->index = (long)st->blocks++;
	if (!driver || !kt_qemu_in_list(drivers, driver))
		return kt_fail(err, "config", "argument '-blockdev': driver '%s' is not measured "
			       "(file, host_device, host_cdrom, raw and qcow2 are)",
			       driver ? driver : "");
	if (file && !kt_qemu_in_list(protocols, driver))
		return kt_fail(err, "config", "argument '-blockdev': filename= belongs to a file "
			       "or host_device node, not to driver=%s", driver);
	/* The format node above may be qcow2: probe, and measure any backing chain. */
	return file ? drive_file(st, file, NULL, (size_t)st->index, err) : 0;
}

/* ---- network ------------------------------------------------------------------ */

static const char *const nic_drivers[] = {
	"virtio-net-pci", "virtio-net-pci-non-transitional", "virtio-net-device", "e1000",
	"e1000e", "rtl8139", "vmxnet3", "ne2k_pci", "pcnet", NULL,
};

/* A NIC's MAC is its identity on the network: nic.N, so none goes unmeasured. */
static int nic_mac(struct qstate *st, const struct opt *o, const struct kvs *kv,
		   const char *key, struct kt_err *err)
{
	const char *mac = kt_qemu_kv_get(kv, key);

	if (!mac)
		return kt_fail(err, "config", "argument '-%s %s': a NIC needs %s= so that its MAC "
			       "is measured", o->name, kt_qemu_kv_implied(kv), key);
	return kt_config_add_nic(st->cfg, st->nics++, mac, 0, err);
}

/* Network backends: which network the guest is on; never files fed to it. */
static const char *const netdev_types[] = {
	"user", "tap", "bridge", "socket", "stream", "dgram", "hubport", NULL,
};

static int netdev_check(const struct opt *o, const struct kvs *kv, struct kt_err *err)
{
	static const char *const scripts[] = { "script", "downscript", NULL };
	const char *type = kt_qemu_kv_get(kv, "type");
	const char *const *s;
	const char *v;

	if (!type || !kt_qemu_in_list(netdev_types, type))
		return kt_fail(err, "config", "argument '-%s': network backend '%s' is not "
			       "measured and not known to be harmless", o->name, type ? type : "");
	/* The default scripts are the host's own; another path is not measured. */
	for (s = scripts; *s; s++) {
		v = kt_qemu_kv_get(kv, *s);
		if (v && strcmp(v, "no"))
			return kt_fail(err, "config", "argument '-%s': %s='%s' runs a host program "
				       "that is not measured (give %s=no)", o->name, *s, v, *s);
	}
	return 0;
}

int kt_qemu_netdev(struct qstate *st, const struct opt *o, struct kvs *kv, struct kt_err *err)
{
	(void)st;
	return netdev_check(o, kv, err);
}

/* -nic TYPE,mac=..,model=..: a NIC and its backend in one. */
int kt_qemu_nic(struct qstate *st, const struct opt *o, struct kvs *kv, struct kt_err *err)
{
	if (!strcmp(kt_qemu_kv_implied(kv), "none"))
		return 0;
	return netdev_check(o, kv, err) || nic_mac(st, o, kv, "mac", err) ? -1 : 0;
}

/* -net nic,macaddr=.. is a NIC; -net TYPE a backend; -net none neither. */
int kt_qemu_net(struct qstate *st, const struct opt *o, struct kvs *kv, struct kt_err *err)
{
	const char *type = kt_qemu_kv_implied(kv);

	if (!strcmp(type, "nic"))
		return nic_mac(st, o, kv, "macaddr", err);
	return strcmp(type, "none") ? netdev_check(o, kv, err) : 0;
}

/* ---- devices and objects ------------------------------------------------------ */

/*
 * Emulated devices that the command line fully describes: their guest-visible
 * behaviour is QEMU's code and the properties measured here. Passthrough
 * (vfio-pci, usb-host, scsi-generic), devices served by another process
 * (vhost-user-*), shared host memory (ivshmem) and loaders of host files
 * into guest memory (loader) are not here, so they are refused.
 */
static const char *const device_drivers[] = {
	/* storage front ends: their drive= is a measured -drive or -blockdev */
	"virtio-blk-pci", "virtio-blk-device", "virtio-scsi-pci", "scsi-hd", "scsi-cd",
	"ide-hd", "ide-cd", "ahci", "nvme", "usb-storage", "floppy",
	/* consoles and channels to local chardevs */
	"virtio-serial-pci", "virtio-serial-device", "virtconsole", "virtserialport",
	"isa-serial", "pci-serial", "isa-debugcon",
	/* display, input, USB, buses */
	"VGA", "virtio-vga", "virtio-gpu-pci", "virtio-gpu-device", "qxl-vga", "qxl",
	"bochs-display", "cirrus-vga", "ramfb", "secondary-vga",
	"virtio-keyboard-pci", "virtio-mouse-pci", "virtio-tablet-pci",
	"qemu-xhci", "nec-usb-xhci", "usb-ehci", "ich9-usb-ehci1", "ich9-usb-uhci1",
	"piix3-usb-uhci", "usb-tablet", "usb-kbd", "usb-mouse", "usb-hub",
	"pcie-root-port", "pci-bridge", "pcie-pci-bridge", "ioh3420", "x3130-upstream",
	"xio3130-downstream", "pxb", "pxb-pcie",
	"intel-iommu", "amd-iommu", "virtio-iommu-pci",
	/* everything else the guest may use */
	"virtio-rng-pci", "virtio-rng-device", "virtio-balloon-pci", "virtio-balloon-device",
	"pvpanic", "pvpanic-pci", "i6300esb", "ib700", "vmcoreinfo", "vhost-vsock-pci",
	"intel-hda", "ich9-intel-hda", "hda-duplex", "hda-output", "hda-micro", "AC97",
	"pc-dimm",
	NULL,
};

static const char *const device_refusals[][2] = {
	{ "vfio", "passes a host device through: its DMA bypasses the measurement" },
	{ "usb-host", "passes a host device through" },
	{ "scsi-generic", "passes a host device through" },
	{ "scsi-block", "passes a host device through" },
	{ "vhost-user", "is served by another process with access to guest memory" },
	{ "vhost-vdpa", "is served by a host device with access to guest memory" },
	{ "ivshmem", "shares memory with the host" },
	{ "loader", "loads host files or data into guest memory" },
	{ "virtio-9p", "shares host files with the guest" },
	{ "tpm-", "has state outside the configuration" },
};

int kt_qemu_device(struct qstate *st, const struct opt *o, struct kvs *kv, struct kt_err *err)
{
	const char *driver = kt_qemu_kv_get(kv, "driver");
	size_t i;

	for (i = 0; driver && i < sizeof(device_refusals) / sizeof(device_refusals[0]); i++) {
		if (!strncmp(driver, device_refusals[i][0], strlen(device_refusals[i][0])))
			return kt_fail(err, "config", "argument '-device %s' %s", driver,
				       device_refusals[i][1]);
	}
	if (!driver || (!kt_qemu_in_list(device_drivers, driver) &&
			!kt_qemu_in_list(nic_drivers, driver)))
		return kt_fail(err, "config", "argument '-device %s' is not measured and not "
			       "known to be harmless", driver ? driver : "");
	return kt_qemu_in_list(nic_drivers, driver) ? nic_mac(st, o, kv, "mac", err) : 0;
}

/* Guest RAM kept in QEMU, entropy from the host's RNG, I/O threads and limits. */
int kt_qemu_object(struct qstate *st, const struct opt *o, struct kvs *kv, struct kt_err *err)
{
	static const char *const rngs[] = { "/dev/urandom", "/dev/random", NULL };
	const char *type = kt_qemu_kv_get(kv, "qom-type");
	const char *file = kt_qemu_kv_get(kv, "filename");

	(void)st, (void)o;
	if (file && (!type || strcmp(type, "rng-random") || !kt_qemu_in_list(rngs, file)))
		return kt_fail(err, "config", "argument '-object %s': only /dev/urandom or "
			       "/dev/random may feed the guest's entropy", type ? type : "");
	return 0;
}

/* -global DRIVER.PROP=VALUE or driver=,property=,value=: refused for file properties. */
int kt_qemu_global(struct qstate *st, const struct opt *o, const char *arg, struct kt_err *err)
{
	static const char *const file_props[] = {
		"romfile", "file", "filename", "path", "sysfsdev", "host", NULL,
	};
	const char *prop = strchr(arg, '.');
	struct kvs kv;
	char *p;
	bool bad;

	if (kt_qemu_kv_parse(arg, o, &kv, err))
		return -1;
	if (kt_qemu_kv_get(&kv, "property"))
		p = strdup(kt_qemu_kv_get(&kv, "property"));
	else
		p = prop ? strndup(prop + 1, strcspn(prop + 1, "=")) : NULL;
	kt_qemu_kv_free(&kv);
	if (!p)
		return kt_fail(err, "config", "argument '-global %s' not understood", arg);
	bad = kt_qemu_in_list(file_props, p);
	free(p);
	if (bad)
		return kt_fail(err, "config", "argument '-global %s' names a host file, which "
			       "is not measured", arg);
	return kt_qemu_add_leaf(st, "global", -1, arg, err);
}
