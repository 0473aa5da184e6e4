// SPDX-License-Identifier: GPL-2.0
/*
 * The runtime integrity policy file (runtime.h, Documentation/policy.rst):
 * parsed strictly with jansson, written back in the same form.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/encoding.h"
#include "common/secfile.h"
#include "policy/runtime.h"

static const char *const reg_names[KT_RP_NR_REGS] = {
	[KT_RP_CR0] = "cr0", [KT_RP_CR3] = "cr3", [KT_RP_CR4] = "cr4",
	[KT_RP_EFER] = "efer", [KT_RP_IDT_BASE] = "idt.base",
	[KT_RP_IDT_LIMIT] = "idt.limit", [KT_RP_GDT_BASE] = "gdt.base",
	[KT_RP_GDT_LIMIT] = "gdt.limit",
};

static const char *const op_names[KT_RP_NR_OPS] = {
	[KT_RP_EQ] = "equal", [KT_RP_BITS_SET] = "bits-set", [KT_RP_BITS_CLEAR] = "bits-clear",
};

/* Bits worth a name: what a guest kernel sets and a rootkit clears. */
static const struct {
	const char *name;
	enum kt_rp_reg reg;
	uint64_t bit;
} named_bits[] = {
	{ "cr0.pe", KT_RP_CR0, 1ULL << 0 },
	{ "cr0.wp", KT_RP_CR0, 1ULL << 16 },
	{ "cr0.pg", KT_RP_CR0, 1ULL << 31 },
	{ "cr4.pae", KT_RP_CR4, 1ULL << 5 },
	{ "cr4.smep", KT_RP_CR4, 1ULL << 20 },
	{ "cr4.smap", KT_RP_CR4, 1ULL << 21 },
	{ "efer.lme", KT_RP_EFER, 1ULL << 8 },
	{ "efer.nxe", KT_RP_EFER, 1ULL << 11 },
};

static int lookup(const char *const *names, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(names[i], s))
			return (int)i;
	return -1;
}

/* Names: 1..KT_RP_NAME_MAX of [A-Za-z0-9._:+@-], so they fit a ledger detail. */
static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	return n && n <= KT_RP_NAME_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:+@-") == n;
}

/* "0x" and 1..16 hex digits: JSON numbers lose bits above 2^53. */
static bool parse_hex64(const char *s, uint64_t *out)
{
	size_t n;
	char *end;

	if (strncmp(s, "0x", 2))
		return false;
	n = strlen(s + 2);
	if (!n || n > 16 || strspn(s + 2, "0123456789abcdefABCDEF") != n)
		return false;
	*out = strtoull(s + 2, &end, 16);
	return !*end;
}

/* Refuses any key of obj not in keys (where names the object). */
static int only_keys(json_t *obj, const char *where, const char *const *keys, size_t n,
		     struct kt_err *err)
{
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v) {
		(void)v;
		if (lookup(keys, n, k) < 0)
			return kt_fail(err, "policy", "%s: unknown key '%s'", where, k);
	}
	return 0;
}

static int get_string(json_t *obj, const char *where, const char *key, const char **out,
		      struct kt_err *err)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		return kt_fail(err, "policy", "%s: '%s' is missing", where, key);
	if (!json_is_string(v))
		return kt_fail(err, "policy", "%s: '%s' is not a string", where, key);
	*out = json_string_value(v);
	return 0;
}

static int get_hex64(json_t *obj, const char *where, const char *key, uint64_t *out,
		     struct kt_err *err)
{
	const char *s;

	if (get_string(obj, where, key, &s, err))
		return -1;
	if (!parse_hex64(s, out))
		return kt_fail(err, "policy", "%s: '%s' is not 0x and 1 to 16 hex digits: '%s'",
			       where, key, s);
	return 0;
}

static int check_range(const struct kt_rp_range *r, const char *where, struct kt_err *err)
{
	if (r->gpa % KT_RP_PAGE || r->len % KT_RP_PAGE)
		return kt_fail(err, "policy", "%s: gpa and len must be multiples of 4096", where);
	if (!r->len || r->len / KT_RP_PAGE > KT_RP_MAX_RANGE_PAGES)
		return kt_fail(err, "policy", "%s: len must be 1 to %d pages", where,
			       KT_RP_MAX_RANGE_PAGES);
	if (r->gpa + r->len < r->gpa)
		return kt_fail(err, "policy", "%s: gpa + len wraps around", where);
	return 0;
}

static int parse_name(json_t *obj, const char *where, char *out, struct kt_err *err)
{
	const char *s;

	if (get_string(obj, where, "name", &s, err))
		return -1;
	if (!name_ok(s))
		return kt_fail(err, "policy", "%s: name '%s' must be 1 to %d of A-Z a-z 0-9 . _ : + @ -",
			       where, s, KT_RP_NAME_MAX);
	strcpy(out, s);
	return 0;
}

static int parse_range(json_t *obj, size_t i, struct kt_rp_range *r, struct kt_err *err)
{
	static const char *const keys[] = { "name", "gpa", "len", "root" };
	char where[32];
	const char *root;

	snprintf(where, sizeof(where), "ranges[%zu]", i);
	if (!json_is_object(obj))
		return kt_fail(err, "policy", "%s is not an object", where);
	if (only_keys(obj, where, keys, 4, err) || parse_name(obj, where, r->name, err) ||
	    get_hex64(obj, where, "gpa", &r->gpa, err) ||
	    get_hex64(obj, where, "len", &r->len, err) ||
	    get_string(obj, where, "root", &root, err) || check_range(r, where, err))
		return -1;
	if (strlen(root) != 2 * KT_HASH_LEN || kt_hex_decode(root, r->root, KT_HASH_LEN))
		return kt_fail(err, "policy", "%s: root is not 64 hex digits", where);
	return 0;
}

static int parse_pred(json_t *obj, size_t i, struct kt_rp_pred *pr, struct kt_err *err)
{
	static const char *const keys[] = { "name", "reg", "op", "value", "vcpu" };
	char where[32];
	const char *s;
	json_t *v;
	int k;

	snprintf(where, sizeof(where), "vcpu[%zu]", i);
	if (!json_is_object(obj))
		return kt_fail(err, "policy", "%s is not an object", where);
	if (only_keys(obj, where, keys, 5, err) || parse_name(obj, where, pr->name, err) ||
	    get_string(obj, where, "reg", &s, err))
		return -1;
	k = lookup(reg_names, KT_RP_NR_REGS, s);
	if (k < 0)
		return kt_fail(err, "policy", "%s: unknown reg '%s'", where, s);
	pr->reg = k;
	if (get_string(obj, where, "op", &s, err))
		return -1;
	k = lookup(op_names, KT_RP_NR_OPS, s);
	if (k < 0)
		return kt_fail(err, "policy", "%s: unknown op '%s' (equal, bits-set, bits-clear)",
			       where, s);
	pr->op = k;
	if (get_hex64(obj, where, "value", &pr->value, err))
		return -1;
	if (pr->op != KT_RP_EQ && !pr->value)
		return kt_fail(err, "policy", "%s: %s with value 0 tests nothing", where, s);
	pr->vcpu = -1;
	v = json_object_get(obj, "vcpu");
	if (v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) >= KT_RP_MAX_VCPUS)
			return kt_fail(err, "policy", "%s: vcpu is not an id 0..%d", where,
				       KT_RP_MAX_VCPUS - 1);
		pr->vcpu = (int32_t)json_integer_value(v);
	}
	return 0;
}

static int parse_list(json_t *root, const char *key, size_t max, size_t *nr, void *items,
		      size_t item_size, int (*one)(json_t *, size_t, void *, struct kt_err *),
		      struct kt_err *err)
{
	json_t *a = json_object_get(root, key), *v;
	size_t i;

	*nr = 0;
	if (!a)
		return 0;
	if (!json_is_array(a))
		return kt_fail(err, "policy", "'%s' is not an array", key);
	if (json_array_size(a) > max)
		return kt_fail(err, "policy", "'%s' has more than %zu items", key, max);
	json_array_foreach(a, i, v) {
		if (one(v, i, (char *)items + i * item_size, err))
			return -1;
		(*nr)++;
	}
	return 0;
}

static int one_range(json_t *v, size_t i, void *out, struct kt_err *err)
{
	return parse_range(v, i, out, err);
}

static int one_pred(json_t *v, size_t i, void *out, struct kt_err *err)
{
	return parse_pred(v, i, out, err);
}

/* Names are what a fail reports: two alike would make it ambiguous. */
static int check_unique(const struct kt_rp_policy *p, struct kt_err *err)
{
	size_t i, j;

	for (i = 0; i < p->nr_ranges; i++)
		for (j = 0; j < i; j++)
			if (!strcmp(p->ranges[i].name, p->ranges[j].name))
				return kt_fail(err, "policy", "range name '%s' is given twice",
					       p->ranges[i].name);
	for (i = 0; i < p->nr_preds; i++)
		for (j = 0; j < i; j++)
			if (!strcmp(p->preds[i].name, p->preds[j].name) &&
			    p->preds[i].vcpu == p->preds[j].vcpu)
				return kt_fail(err, "policy", "vcpu predicate '%s' is given twice",
					       p->preds[i].name);
	return 0;
}

int kt_rp_parse(const char *text, size_t len, struct kt_rp_policy *p, struct kt_err *err)
{
	static const char *const keys[] = { "version", "ranges", "vcpu" };
	json_error_t jerr;
	json_t *root, *v;
	int ret = -1;

	memset(p, 0, sizeof(*p));
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return kt_fail(err, "policy", "not JSON: line %d: %s", jerr.line, jerr.text);
	if (!json_is_object(root)) {
		kt_fail(err, "policy", "not a JSON object");
		goto out;
	}
	if (only_keys(root, "policy", keys, 3, err))
		goto out;
	v = json_object_get(root, "version");
	if (!v) {
		kt_fail(err, "policy", "'version' is missing");
		goto out;
	}
	if (!json_is_integer(v) || json_integer_value(v) != KT_RP_VERSION) {
		kt_fail(err, "policy", "version is not %d", KT_RP_VERSION);
		goto out;
	}
	if (parse_list(root, "ranges", KT_RP_MAX_RANGES, &p->nr_ranges, p->ranges,
		       sizeof(p->ranges[0]), one_range, err) ||
	    parse_list(root, "vcpu", KT_RP_MAX_PREDS, &p->nr_preds, p->preds,
		       sizeof(p->preds[0]), one_pred, err) ||
	    check_unique(p, err))
		goto out;
	if (!p->nr_ranges && !p->nr_preds) {
		kt_fail(err, "policy", "the policy checks nothing: no ranges and no vcpu predicates");
		goto out;
	}
	ret = 0;
out:
	json_decref(root);
	return ret;
}

int kt_rp_load(const char *path, struct kt_rp_policy *p, struct kt_err *err)
{
	uint8_t *text;
	size_t len;
	int ret;

	if (kt_file_read(path, KT_RP_FILE_MAX, 0, &text, &len, err))
		return -1;
	ret = kt_rp_parse((const char *)text, len, p, err);
	free(text);
	if (ret)
		snprintf(err->msg + strlen(err->msg), sizeof(err->msg) - strlen(err->msg),
			 " (%s)", path);
	return ret;
}

static char *hex64(uint64_t v, char buf[19])
{
	snprintf(buf, 19, "0x%" PRIx64, v);
	return buf;
}

char *kt_rp_dump(const struct kt_rp_policy *p)
{
	json_t *root = json_pack("{s:i, s:[], s:[]}", "version", KT_RP_VERSION, "ranges", "vcpu");
	json_t *ranges = json_object_get(root, "ranges"), *preds = json_object_get(root, "vcpu");
	char a[19], b[19], hex[2 * KT_HASH_LEN + 1];
	char *out = NULL, *text;
	json_t *o;
	size_t i;

	if (!root)
		return NULL;
	for (i = 0; i < p->nr_ranges; i++) {
		kt_hex_encode(p->ranges[i].root, KT_HASH_LEN, hex);
		if (json_array_append_new(ranges, json_pack("{s:s, s:s, s:s, s:s}",
							    "name", p->ranges[i].name,
							    "gpa", hex64(p->ranges[i].gpa, a),
							    "len", hex64(p->ranges[i].len, b),
							    "root", hex)))
			goto out;
	}
	for (i = 0; i < p->nr_preds; i++) {
		const struct kt_rp_pred *pr = &p->preds[i];

		o = json_pack("{s:s, s:s, s:s, s:s}", "name", pr->name, "reg", reg_names[pr->reg],
			      "op", op_names[pr->op], "value", hex64(pr->value, a));
		if (o && pr->vcpu >= 0 && json_object_set_new(o, "vcpu", json_integer(pr->vcpu))) {
			json_decref(o);
			goto out;
		}
		if (json_array_append_new(preds, o))
			goto out;
	}
	text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (text && asprintf(&out, "%s\n", text) < 0)
		out = NULL;
	free(text);
out:
	json_decref(root);
	return out;
}

/* A C literal (decimal or 0x hex) up to 2^64 - 1; false if not one. */
static bool parse_num(const char *s, size_t n, uint64_t *out)
{
	char buf[32], *end;

	if (!n || n >= sizeof(buf) || *s == '-' || *s == '+' || *s == ' ')
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	*out = strtoull(buf, &end, 0);
	return !errno && !*end;
}

int kt_rp_range_arg(const char *arg, struct kt_rp_range *r, struct kt_err *err)
{
	const char *colon = strchr(arg, ':');

	memset(r, 0, sizeof(*r));
	if (!colon || !parse_num(arg, colon - arg, &r->gpa) ||
	    !parse_num(colon + 1, strlen(colon + 1), &r->len))
		return kt_fail(err, "range", "'%s' is not GPA:LEN", arg);
	if (check_range(r, arg, err))
		return -1;
	snprintf(r->name, sizeof(r->name), "0x%" PRIx64 ":0x%" PRIx64, r->gpa, r->len);
	return 0;
}

int kt_rp_pred_arg(const char *arg, struct kt_rp_pred *pr, bool *learn, struct kt_err *err)
{
	size_t i;
	int k;

	memset(pr, 0, sizeof(*pr));
	pr->vcpu = -1;
	if (strlen(arg) > KT_RP_NAME_MAX)
		return kt_fail(err, "vcpu-pred", "unknown predicate '%s'", arg);
	strcpy(pr->name, arg);
	for (i = 0; i < sizeof(named_bits) / sizeof(named_bits[0]); i++) {
		if (!strcmp(arg, named_bits[i].name)) {
			pr->reg = named_bits[i].reg;
			pr->op = KT_RP_BITS_SET;
			pr->value = named_bits[i].bit;
			*learn = false;
			return 0;
		}
	}
	k = lookup(reg_names, KT_RP_NR_REGS, arg);
	if (k < 0)
		return kt_fail(err, "vcpu-pred", "unknown predicate '%s'", arg);
	pr->reg = k;
	pr->op = KT_RP_EQ;
	*learn = true;
	return 0;
}

uint64_t kt_rp_reg_value(const struct kvm_sregs *s, enum kt_rp_reg reg)
{
	switch (reg) {
	case KT_RP_CR0:
		return s->cr0;
	case KT_RP_CR3:
		return s->cr3;
	case KT_RP_CR4:
		return s->cr4;
	case KT_RP_EFER:
		return s->efer;
	case KT_RP_IDT_BASE:
		return s->idt.base;
	case KT_RP_IDT_LIMIT:
		return s->idt.limit;
	case KT_RP_GDT_BASE:
		return s->gdt.base;
	default:
		return s->gdt.limit;
	}
}

const char *kt_rp_reg_name(enum kt_rp_reg reg)
{
	return reg < KT_RP_NR_REGS ? reg_names[reg] : "?";
}
