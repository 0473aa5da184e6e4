// SPDX-License-Identifier: GPL-2.0
/*
 * Launch configuration sources: our JSON, a libvirt domain XML and a QEMU
 * command line, each reduced to the parameters of config_tree.h.
 */
#include <ctype.h>
#include <inttypes.h>
#include <libgen.h>
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

static int add_u64(struct kt_config *cfg, const char *name, uint64_t v, struct kt_err *err)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return kt_config_add(cfg, name, buf, err);
}

static int add_indexed(struct kt_config *cfg, const char *group, size_t i, const char *what,
		       const char *value, struct kt_err *err)
{
	char name[64];

	snprintf(name, sizeof(name), "%s.%zu.%s", group, i, what);
	return kt_config_add(cfg, name, value, err);
}

/* Canonical MAC: six lowercase hex pairs joined by ':'; '-' accepted on input. */
static int add_mac(struct kt_config *cfg, size_t i, const char *mac, struct kt_err *err)
{
	char out[18];
	int k;

	if (strlen(mac) != 17)
		goto bad;
	for (k = 0; k < 17; k++) {
		if (k % 3 == 2) {
			if (mac[k] != ':' && mac[k] != '-')
				goto bad;
			out[k] = ':';
		} else {
			if (!isxdigit((unsigned char)mac[k]))
				goto bad;
			out[k] = (char)tolower((unsigned char)mac[k]);
		}
	}
	out[17] = '\0';
	return add_indexed(cfg, "nic", i, "mac", out, err);
bad:
	return kt_fail(err, "config", "'%s' is not a MAC address", mac);
}

static int add_vlan(struct kt_config *cfg, size_t i, long long vlan, struct kt_err *err)
{
	char buf[16];

	if (vlan < 0 || vlan > 4094)
		return kt_fail(err, "config", "VLAN id %lld out of range (0-4094)", vlan);
	snprintf(buf, sizeof(buf), "%lld", vlan);
	return add_indexed(cfg, "nic", i, "vlan", buf, err);
}

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

static int set_base_dir(struct kt_config *cfg, const char *path, struct kt_err *err)
{
	char *copy = strdup(path);

	free(cfg->base_dir);
	cfg->base_dir = copy ? strdup(dirname(copy)) : NULL;
	free(copy);
	return cfg->base_dir ? 0 : kt_fail(err, "config", "out of memory");
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
		if (add_mac(cfg, i, mac, err) || add_vlan(cfg, i, vlan, err))
			return -1;
	}
	return 0;
}

static int json_indexed_files(struct kt_config *cfg, const char *group, const json_t *arr,
			      struct kt_err *err)
{
	char name[64];
	json_t *item;
	size_t i;

	if (!json_is_array(arr))
		return kt_fail(err, "config", "%ss must be an array", group);
	json_array_foreach(arr, i, item) {
		snprintf(name, sizeof(name), "%s.%zu.sha256", group, i);
		if (json_file_param(cfg, name, item, err))
			return -1;
	}
	return 0;
}

static int json_pins(struct kt_config *cfg, const json_t *pins, struct kt_err *err)
{
	json_t *pin;
	size_t i;

	if (!json_is_array(pins))
		return kt_fail(err, "config", "vcpu_pinning must be an array of CPU lists");
	json_array_foreach(pins, i, pin) {
		if (!json_is_string(pin) || !*json_string_value(pin))
			return kt_fail(err, "config", "vcpu_pinning[%zu] is not a CPU list", i);
		if (add_indexed(cfg, "vcpu", i, "pin", json_string_value(pin), err))
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
			return add_u64(cfg, "vcpus", (uint64_t)n, err);
		return add_u64(cfg, "memory", (uint64_t)n << (key[7] == 'm' ? 20 : 0), err);
	}
	if (!strcmp(key, "vcpu_pinning"))
		return json_pins(cfg, v, err);
	if (!strcmp(key, "nics"))
		return json_nics(cfg, v, err);
	if (!strcmp(key, "disks"))
		return json_indexed_files(cfg, "disk", v, err);
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
	if (set_base_dir(cfg, path, err))
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
		ret = add_u64(cfg, "memory", mem * mul, err);
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
		add_u64(cfg, "vcpus", n, err);
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
			ret = add_mac(cfg, (size_t)i, mac, err) ||
			      add_vlan(cfg, (size_t)i, (long long)vlan, err);
		xmlFree(mac);
		xmlFree(tag);
	}
	xmlXPathFreeObject(nics);
	return ret;
}

static int libvirt_disks(xmlXPathContextPtr ctx, struct kt_config *cfg, struct kt_err *err)
{
	xmlXPathObjectPtr disks = xpath(ctx, "/domain/devices/disk[@device='disk' or not(@device)]");
	char name[64], *file;
	int i, ret = 0;

	for (i = 0; disks && !ret && i < disks->nodesetval->nodeNr; i++) {
		file = node_string(ctx, disks->nodesetval->nodeTab[i], "source/@file");
		snprintf(name, sizeof(name), "disk.%d.sha256", i);
		ret = file ? kt_config_add_file_hash(cfg, name, file, err) :
			kt_fail(err, "config", "libvirt: disk %d has no <source file>", i);
		xmlFree(file);
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
	if (set_base_dir(cfg, path, err) || libvirt_memory(ctx, cfg, err) ||
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

/* ---- QEMU command line ----------------------------------------------------- */

/* Value of key in "a,key=v,..."; with key NULL the leading implied value. */
static char *qemu_opt(const char *arg, const char *key)
{
	size_t klen = key ? strlen(key) : 0;
	const char *p = arg, *end;

	while (*p) {
		end = strchrnul(p, ',');
		if (!key) {
			if (!memchr(p, '=', (size_t)(end - p)))
				return strndup(p, (size_t)(end - p));
			return NULL;
		}
		if ((size_t)(end - p) > klen && !strncmp(p, key, klen) && p[klen] == '=')
			return strndup(p + klen + 1, (size_t)(end - p) - klen - 1);
		p = *end ? end + 1 : end;
	}
	return NULL;
}

static int qemu_size(const char *s, uint64_t *bytes)
{
	uint64_t mul = 1 << 20;
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	*bytes = strtoull(s, &end, 10);
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': mul = 1 << 10; end++; break;
	case 'm': case 'M': mul = 1 << 20; end++; break;
	case 'g': case 'G': mul = 1 << 30; end++; break;
	case 't': case 'T': mul = 1ULL << 40; end++; break;
	default: return -1;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	*bytes *= mul;
	return *end ? -1 : 0;
}

struct qemu_state {
	struct kt_config *cfg;
	size_t nics, disks;
};

static int qemu_memory(struct qemu_state *st, const char *arg, struct kt_err *err)
{
	char *v = qemu_opt(arg, NULL);
	uint64_t bytes;
	int ret;

	if (!v)
		v = qemu_opt(arg, "size");
	ret = qemu_size(v, &bytes) ? kt_fail(err, "config", "qemu: -m '%s' not understood", arg)
				   : add_u64(st->cfg, "memory", bytes, err);
	free(v);
	return ret;
}

static int qemu_smp(struct qemu_state *st, const char *arg, struct kt_err *err)
{
	char *v = qemu_opt(arg, NULL);
	uint64_t n;
	int ret;

	if (!v)
		v = qemu_opt(arg, "cpus");
	ret = parse_u64(v, &n) || !n ? kt_fail(err, "config", "qemu: -smp '%s' not understood", arg)
				     : add_u64(st->cfg, "vcpus", n, err);
	free(v);
	return ret;
}

static int qemu_nic(struct qemu_state *st, const char *arg, struct kt_err *err)
{
	char *mac = qemu_opt(arg, "mac");
	int ret = 0;

	if (mac) {
		ret = add_mac(st->cfg, st->nics, mac, err) || add_vlan(st->cfg, st->nics, 0, err);
		st->nics++;
	}
	free(mac);
	return ret;
}

static int qemu_disk(struct qemu_state *st, const char *file, struct kt_err *err)
{
	char name[64];

	snprintf(name, sizeof(name), "disk.%zu.sha256", st->disks++);
	return kt_config_add_file_hash(st->cfg, name, file, err);
}

static int qemu_disk_opt(struct qemu_state *st, const char *arg, const char *key,
			 struct kt_err *err)
{
	char *file = qemu_opt(arg, key);
	int ret = file ? qemu_disk(st, file, err) : 0;

	free(file);
	return ret;
}

static int qemu_option(struct qemu_state *st, const char *opt, const char *arg,
		       struct kt_err *err)
{
	if (!strcmp(opt, "m"))
		return qemu_memory(st, arg, err);
	if (!strcmp(opt, "smp"))
		return qemu_smp(st, arg, err);
	if (!strcmp(opt, "device") || !strcmp(opt, "nic") || !strcmp(opt, "net"))
		return qemu_nic(st, arg, err);
	if (!strcmp(opt, "drive"))
		return qemu_disk_opt(st, arg, "file", err);
	if (!strcmp(opt, "blockdev"))
		return qemu_disk_opt(st, arg, "filename", err);
	if (!strcmp(opt, "hda") || !strcmp(opt, "hdb") || !strcmp(opt, "hdc") ||
	    !strcmp(opt, "hdd"))
		return qemu_disk(st, arg, err);
	if (!strcmp(opt, "bios"))
		return kt_config_add_file_hash(st->cfg, "bootloader.sha256", arg, err);
	if (!strcmp(opt, "kernel"))
		return kt_config_add_file_hash(st->cfg, "kernel.sha256", arg, err);
	if (!strcmp(opt, "initrd"))
		return kt_config_add_file_hash(st->cfg, "initrd.sha256", arg, err);
	if (!strcmp(opt, "append"))
		return kt_config_add(st->cfg, "kernel.cmdline", arg, err);
	return 0;
}

static int qemu_parse(int argc, char *const argv[], struct kt_config *cfg,
		      struct kt_err *err)
{
	struct qemu_state st = { .cfg = cfg };
	const char *opt, *arg;
	int i;

	/* QEMU options take one argument or none; a non-dash word is the argument. */
	for (i = 1; i < argc; i++) {
		if (argv[i][0] != '-')
			return kt_fail(err, "config", "qemu: unexpected argument '%s'", argv[i]);
		opt = argv[i] + (argv[i][1] == '-' ? 2 : 1);
		arg = i + 1 < argc && argv[i + 1][0] != '-' ? argv[++i] : "";
		if (qemu_option(&st, opt, arg, err))
			return -1;
	}
	return kt_config_finish(cfg, err);
}

int kt_config_from_qemu(int argc, char *const argv[], struct kt_config *cfg,
			struct kt_err *err)
{
	memset(cfg, 0, sizeof(*cfg));
	if (qemu_parse(argc, argv, cfg, err)) {
		kt_config_free(cfg);
		return -1;
	}
	return 0;
}

static int config_from_qemu_file(const char *path, const char *text, struct kt_config *cfg,
				 struct kt_err *err)
{
	wordexp_t we;
	int ret;

	/* Shell-style quoting, but no command substitution and no unset variables. */
	if (wordexp(text, &we, WRDE_NOCMD | WRDE_UNDEF))
		return kt_fail(err, "config", "'%s' is not a QEMU command line", path);
	ret = set_base_dir(cfg, path, err) ||
	      qemu_parse((int)we.we_wordc, we.we_wordv, cfg, err) ? -1 : 0;
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
