// SPDX-License-Identifier: GPL-2.0
/*
 * Launch configuration sources: our JSON, a libvirt domain XML and a file
 * holding a QEMU command line (qemu_argv.c), each reduced to the
 * parameters of config_tree.h.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wordexp.h>

#include <libxml/parser.h>
#include <libxml/xpath.h>

#include "attest/config_tree.h"
#include "common/encoding.h"
#include "common/statefile.h"

#define MAX_CONFIG_FILE (1024 * 1024)

static int add_hash_hex(struct kt_config *cfg, const char *name, const char *hex,
			struct kt_err *err)
{
	kt_hash h;
	char lower[2 * KT_HASH_LEN + 1];

	if (strlen(hex) != 2 * KT_HASH_LEN || kt_hex_decode(hex, h, sizeof(h)))
		return kt_fail(err, "config", "%s: '%s' is not a SHA-256 in hex", name, hex);
	kt_hex_encode(h, sizeof(h), lower);
	return kt_config_add(cfg, name, lower, err);
}

/* ---- JSON ---------------------------------------------------------------- */

/* "path" string, {"path": ..} or {"sha256": ..}. */
static int json_file_param(struct kt_config *cfg, const char *name, const json_t *v,
			   struct kt_err *err)
{
	const char *path = json_string_value(v), *hex = NULL;

	if (!path && json_unpack((json_t *)v, "{s?s, s?s !}", "path", &path, "sha256", &hex))
		return kt_fail(err, "config", "%s must be a path, {\"path\"} or {\"sha256\"}", name);
	if (!!path == !!hex && !json_is_string(v))
		return kt_fail(err, "config", "%s needs exactly one of path and sha256", name);
	return path ? kt_config_add_file_hash(cfg, name, path, err)
		    : add_hash_hex(cfg, name, hex, err);
}

static int json_nics(struct kt_config *cfg, const json_t *nics, struct kt_err *err)
{
	json_int_t vlan = 0;
	const char *mac;
	json_t *nic;
	size_t i;

	if (!json_is_array(nics))
		return kt_fail(err, "config", "nics must be an array");
	json_array_foreach(nics, i, nic) {
		vlan = 0;
		if (json_unpack(nic, "{s:s, s?I !}", "mac", &mac, "vlan", &vlan))
			return kt_fail(err, "config", "nics[%zu] must be {mac, vlan?}", i);
		if (kt_config_add_nic(cfg, i, mac, vlan, err))
			return -1;
	}
	return 0;
}

static int json_disks(struct kt_config *cfg, const json_t *arr, struct kt_err *err)
{
	const char *hex;
	char name[64];
	json_t *item;
	size_t i;

	if (!json_is_array(arr))
		return kt_fail(err, "config", "disks must be an array");
	json_array_foreach(arr, i, item) {
		snprintf(name, sizeof(name), "disk.%zu.sha256", i);
		/* A digest pins that image alone: give a path to measure a backing chain. */
		if (!json_unpack(item, "{s:s !}", "sha256", &hex)) {
			if (add_hash_hex(cfg, name, hex, err))
				return -1;
		} else if (json_is_string(item) || !json_unpack(item, "{s:s !}", "path", &hex)) {
			if (kt_config_add_disk(cfg, i, json_is_string(item) ?
					       json_string_value(item) : hex, NULL, err))
				return -1;
		} else {
			return kt_fail(err, "config", "%s must be a path, {\"path\"} or {\"sha256\"}",
				       name);
		}
	}
	return 0;
}

static int json_pins(struct kt_config *cfg, const json_t *pins, struct kt_err *err)
{
	char name[64];
	json_t *pin;
	size_t i;

	if (!json_is_array(pins))
		return kt_fail(err, "config", "vcpu_pinning must be an array of CPU lists");
	json_array_foreach(pins, i, pin) {
		if (!json_is_string(pin) || !*json_string_value(pin))
			return kt_fail(err, "config", "vcpu_pinning[%zu] is not a CPU list", i);
		snprintf(name, sizeof(name), "vcpu.%zu.pin", i);
		if (kt_config_add(cfg, name, json_string_value(pin), err))
			return -1;
	}
	return 0;
}

static int json_member(struct kt_config *cfg, const char *key, const json_t *v,
		       struct kt_err *err)
{
	json_int_t n = json_integer_value(v);

	if (!strcmp(key, "memory_mib") || !strcmp(key, "memory_bytes") || !strcmp(key, "vcpus")) {
		if (!json_is_integer(v) || n <= 0)
			return kt_fail(err, "config", "%s must be a positive integer", key);
		if (!strcmp(key, "vcpus"))
			return kt_config_add_u64(cfg, "vcpus", (uint64_t)n, err);
		return kt_config_add_u64(cfg, "memory", (uint64_t)n << (key[7] == 'm' ? 20 : 0), err);
	}
	if (!strcmp(key, "vcpu_pinning"))
		return json_pins(cfg, v, err);
	if (!strcmp(key, "nics"))
		return json_nics(cfg, v, err);
	if (!strcmp(key, "disks"))
		return json_disks(cfg, v, err);
	if (!strcmp(key, "bootloader") || !strcmp(key, "kernel") || !strcmp(key, "initrd")) {
		char name[32];

		snprintf(name, sizeof(name), "%s.sha256", key);
		return json_file_param(cfg, name, v, err);
	}
	if (!strcmp(key, "package_manifest"))
		return json_file_param(cfg, "packages.sha256", v, err);
	if (!strcmp(key, "kernel_cmdline")) {
		if (!json_is_string(v))
			return kt_fail(err, "config", "kernel_cmdline must be a string");
		return kt_config_add(cfg, "kernel.cmdline", json_string_value(v), err);
	}
	/* A misspelt parameter silently left out of the tree would be attested. */
	return kt_fail(err, "config", "unknown configuration member \"%s\"", key);
}

int kt_config_from_json(const char *path, struct kt_config *cfg, struct kt_err *err)
{
	json_error_t jerr;
	const char *key;
	json_t *doc, *v;
	int ret = -1;

	memset(cfg, 0, sizeof(*cfg));
	doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		return kt_fail(err, "config", "%s:%d: %s", path, jerr.line, jerr.text);
	if (!json_is_object(doc) ||
	    !json_object_get(doc, "memory_mib") == !json_object_get(doc, "memory_bytes")) {
		kt_fail(err, "config", "%s: an object with one of memory_mib and memory_bytes", path);
		goto out;
	}
	if (kt_config_set_base_dir(cfg, path, err))
		goto out;
	json_object_foreach(doc, key, v) {
		if (json_member(cfg, key, v, err))
			goto out;
	}
	ret = kt_config_finish(cfg, err);
out:
	json_decref(doc);
	if (ret)
		kt_config_free(cfg);
	return ret;
}

/* ---- libvirt domain XML --------------------------------------------------- */

static xmlXPathObjectPtr xpath(xmlXPathContextPtr ctx, const char *expr)
{
	xmlXPathObjectPtr obj = xmlXPathEvalExpression((const xmlChar *)expr, ctx);

	if (obj && (!obj->nodesetval || obj->nodesetval->nodeNr == 0)) {
		xmlXPathFreeObject(obj);
		return NULL;
	}
	return obj;
}

/* The string value of the first match (text or attribute), malloc'd by libxml2. */
static char *xpath_string(xmlXPathContextPtr ctx, const char *expr)
{
	xmlXPathObjectPtr obj = xpath(ctx, expr);
	xmlChar *s;

	if (!obj)
		return NULL;
	s = xmlNodeGetContent(obj->nodesetval->nodeTab[0]);
	xmlXPathFreeObject(obj);
	return (char *)s;
}

static char *node_string(xmlXPathContextPtr ctx, xmlNodePtr node, const char *expr)
{
	xmlNodePtr saved = ctx->node;
	char *s;

	ctx->node = node;
	s = xpath_string(ctx, expr);
	ctx->node = saved;
	return s;
}

static int unit_shift(const char *unit, uint64_t *mul)
{
	static const struct { const char *name; uint64_t mul; } units[] = {
		{ "b", 1 }, { "bytes", 1 }, { "KB", 1000 }, { "k", 1024 }, { "KiB", 1024 },
		{ "MB", 1000000 }, { "M", 1 << 20 }, { "MiB", 1 << 20 },
		{ "GB", 1000000000 }, { "G", 1 << 30 }, { "GiB", 1 << 30 },
		{ "TB", 1000000000000ULL }, { "T", 1ULL << 40 }, { "TiB", 1ULL << 40 },
	};
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (!strcmp(unit, units[i].name)) {
			*mul = units[i].mul;
			return 0;
		}
	}
	return -1;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	*v = strtoull(s, &end, 10);
	return *end ? -1 : 0;
}

static int libvirt_memory(xmlXPathContextPtr ctx, struct kt_config *cfg, struct kt_err *err)
{
	char *text = xpath_string(ctx, "/domain/memory");
	char *unit = xpath_string(ctx, "/domain/memory/@unit");
	uint64_t mem, mul = 1024;
	int ret;

	if (parse_u64(text, &mem) || (unit && unit_shift(unit, &mul)))
		ret = kt_fail(err, "config", "libvirt: <memory> missing or not understood");
	else
		ret = kt_config_add_u64(cfg, "memory", mem * mul, err);
	xmlFree(text);
	xmlFree(unit);
	return ret;
}

static int libvirt_vcpus(xmlXPathContextPtr ctx, struct kt_config *cfg, struct kt_err *err)
{
	char *text = xpath_string(ctx, "/domain/vcpu");
	xmlXPathObjectPtr pins;
	char *vcpu, *cpuset;
	uint64_t n, idx;
	char name[64];
	int i, ret;

	ret = parse_u64(text, &n) || n == 0 ?
		kt_fail(err, "config", "libvirt: <vcpu> missing or not a count") :
		kt_config_add_u64(cfg, "vcpus", n, err);
	xmlFree(text);
	pins = ret ? NULL : xpath(ctx, "/domain/cputune/vcpupin");
	for (i = 0; pins && !ret && i < pins->nodesetval->nodeNr; i++) {
		vcpu = node_string(ctx, pins->nodesetval->nodeTab[i], "@vcpu");
		cpuset = node_string(ctx, pins->nodesetval->nodeTab[i], "@cpuset");
		if (parse_u64(vcpu, &idx) || !cpuset || idx >= n) {
			ret = kt_fail(err, "config", "libvirt: <vcpupin> needs vcpu < %" PRIu64
				      " and cpuset", n);
		} else {
			snprintf(name, sizeof(name), "vcpu.%" PRIu64 ".pin", idx);
			ret = kt_config_add(cfg, name, cpuset, err);
		}
		xmlFree(vcpu);
		xmlFree(cpuset);
	}
	xmlXPathFreeObject(pins);
	return ret;
}

static int libvirt_nics(xmlXPathContextPtr ctx, struct kt_config *cfg, struct kt_err *err)
{
	xmlXPathObjectPtr nics = xpath(ctx, "/domain/devices/interface");
	uint64_t vlan;
	char *mac, *tag;
	int i, ret = 0;

	for (i = 0; nics && !ret && i < nics->nodesetval->nodeNr; i++) {
		mac = node_string(ctx, nics->nodesetval->nodeTab[i], "mac/@address");
		tag = node_string(ctx, nics->nodesetval->nodeTab[i], "vlan/tag/@id");
		vlan = 0;
		if (!mac)
			ret = kt_fail(err, "config", "libvirt: interface %d has no <mac address>", i);
		else if (tag && parse_u64(tag, &vlan))
			ret = kt_fail(err, "config", "libvirt: interface %d: bad VLAN tag", i);
		else
			ret = kt_config_add_nic(cfg, (size_t)i, mac, (long long)vlan, err);
		xmlFree(mac);
		xmlFree(tag);
	}
	xmlXPathFreeObject(nics);
	return ret;
}

static int libvirt_disks(xmlXPathContextPtr ctx, struct kt_config *cfg, struct kt_err *err)
{
	xmlXPathObjectPtr disks = xpath(ctx, "/domain/devices/disk[@device='disk' or not(@device)]");
	char *file, *format;
	int i, ret = 0;

	for (i = 0; disks && !ret && i < disks->nodesetval->nodeNr; i++) {
		file = node_string(ctx, disks->nodesetval->nodeTab[i], "source/@file");
		/* libvirt hands QEMU <driver type> as the format; without it QEMU probes. */
		format = node_string(ctx, disks->nodesetval->nodeTab[i], "driver/@type");
		ret = file ? kt_config_add_disk(cfg, (size_t)i, file, format, err) :
			kt_fail(err, "config", "libvirt: disk %d has no <source file>", i);
		xmlFree(file);
		xmlFree(format);
	}
	xmlXPathFreeObject(disks);
	return ret;
}

static int libvirt_boot(xmlXPathContextPtr ctx, struct kt_config *cfg, struct kt_err *err)
{
	static const struct { const char *xpath, *name; } files[] = {
		{ "/domain/os/loader", "bootloader.sha256" },
		{ "/domain/os/kernel", "kernel.sha256" },
		{ "/domain/os/initrd", "initrd.sha256" },
	};
	char *s;
	size_t i;
	int ret = 0;

	for (i = 0; !ret && i < sizeof(files) / sizeof(files[0]); i++) {
		s = xpath_string(ctx, files[i].xpath);
		if (s)
			ret = kt_config_add_file_hash(cfg, files[i].name, s, err);
		xmlFree(s);
	}
	s = ret ? NULL : xpath_string(ctx, "/domain/os/cmdline");
	if (s)
		ret = kt_config_add(cfg, "kernel.cmdline", s, err);
	xmlFree(s);
	return ret;
}

/*
 * Devices the measured parameters describe, or that cannot reach guest
 * memory or host files (display, input, consoles, controllers). Anything
 * else under <devices> (hostdev passthrough, filesystem shares, shmem,
 * redirdev, vhost-user...) is refused by name, as the QEMU argv path does:
 * an unmeasured device would make the configuration root a claim.
 */
static const char *const libvirt_harmless_devices[] = {
	"emulator", "disk", "interface", "controller", "input", "graphics", "video",
	"console", "serial", "parallel", "channel", "memballoon", "rng", "sound",
	"audio", "watchdog", "panic",
};

static bool libvirt_device_known(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(libvirt_harmless_devices) / sizeof(libvirt_harmless_devices[0]); i++)
		if (!strcmp(name, libvirt_harmless_devices[i]))
			return true;
	return false;
}

static int libvirt_unmeasured(xmlXPathContextPtr ctx, struct kt_err *err)
{
	xmlXPathObjectPtr devs = xpath(ctx, "/domain/devices/*");
	xmlXPathObjectPtr qemu = xpath(ctx, "//*[namespace-uri()="
				       "'http://libvirt.org/schemas/domain/qemu/1.0']");
	char *device;
	int i, ret = 0;

	if (qemu)
		ret = kt_fail(err, "config", "libvirt: <qemu:%s> passes QEMU arguments that are "
			      "not measured: refused", (const char *)qemu->nodesetval->nodeTab[0]->name);
	for (i = 0; devs && !ret && i < devs->nodesetval->nodeNr; i++) {
		xmlNodePtr node = devs->nodesetval->nodeTab[i];
		const char *name = (const char *)node->name;

		if (!libvirt_device_known(name)) {
			ret = kt_fail(err, "config", "libvirt: <%s> is not measured: refused", name);
			continue;
		}
		if (strcmp(name, "disk"))
			continue;
		/* Only device='disk' images are hashed (libvirt_disks). */
		device = node_string(ctx, node, "@device");
		if (device && strcmp(device, "disk"))
			ret = kt_fail(err, "config", "libvirt: <disk device='%s'> is not measured: "
				      "refused", device);
		xmlFree(device);
	}
	xmlXPathFreeObject(devs);
	xmlXPathFreeObject(qemu);
	return ret;
}

int kt_config_from_libvirt(const char *path, struct kt_config *cfg, struct kt_err *err)
{
	xmlXPathContextPtr ctx = NULL;
	xmlXPathObjectPtr root;
	xmlDocPtr doc;
	int ret = -1;

	memset(cfg, 0, sizeof(*cfg));
	/* No network, no entity expansion: the XML may come from anyone. */
	doc = xmlReadFile(path, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc)
		return kt_fail(err, "config", "'%s' is not well-formed XML", path);
	ctx = xmlXPathNewContext(doc);
	root = ctx ? xpath(ctx, "/domain") : NULL;
	if (!root) {
		kt_fail(err, "config", "'%s' is not a libvirt <domain>", path);
		goto out;
	}
	xmlXPathFreeObject(root);
	if (libvirt_unmeasured(ctx, err) ||
	    kt_config_set_base_dir(cfg, path, err) || libvirt_memory(ctx, cfg, err) ||
	    libvirt_vcpus(ctx, cfg, err) || libvirt_nics(ctx, cfg, err) ||
	    libvirt_disks(ctx, cfg, err) || libvirt_boot(ctx, cfg, err))
		goto out;
	ret = kt_config_finish(cfg, err);
out:
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
	if (ret)
		kt_config_free(cfg);
	return ret;
}

static int config_from_qemu_file(const char *path, const char *text, struct kt_config *cfg,
				 struct kt_err *err)
{
	wordexp_t we;
	int ret;

	/* Shell-style quoting, but no command substitution and no unset variables. */
	if (wordexp(text, &we, WRDE_NOCMD | WRDE_UNDEF))
		return kt_fail(err, "config", "'%s' is not a QEMU command line", path);
	ret = kt_config_set_base_dir(cfg, path, err) ||
	      kt_config_qemu_parse((int)we.we_wordc, we.we_wordv, cfg, err) ? -1 : 0;
	wordfree(&we);
	if (ret)
		kt_config_free(cfg);
	return ret;
}

int kt_config_load(const char *path, struct kt_config *cfg, struct kt_err *err)
{
	uint8_t *data;
	size_t len;
	const char *p;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	if (kt_file_read(path, MAX_CONFIG_FILE, 0, &data, &len, err)) {
		if (err)
			err->check = "config";
		return -1;
	}
	p = (const char *)data + strspn((const char *)data, " \t\r\n");
	if (*p == '{')
		ret = kt_config_from_json(path, cfg, err);
	else if (*p == '<')
		ret = kt_config_from_libvirt(path, cfg, err);
	else
		ret = config_from_qemu_file(path, p, cfg, err);
	free(data);
	return ret;
}
