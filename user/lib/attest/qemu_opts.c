// SPDX-License-Identifier: GPL-2.0
/*
 * QEMU option strings ("a,key=v,,w,flag") taken apart, checked key by key
 * and written back as measured parameters (qemu_argv.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/qemu_argv.h"
#include "common/encoding.h"

#define LIST(...) ((const char *const[]){ __VA_ARGS__, NULL })

bool kt_qemu_in_list(const char *const *list, const char *s)
{
	for (; list && *list; list++) {
		if (!strcmp(*list, s))
			return true;
	}
	return false;
}

void kt_qemu_kv_free(struct kvs *kv)
{
	size_t i;

	for (i = 0; i < kv->n; i++) {
		free(kv->v[i].key);
		free(kv->v[i].value);
	}
	free(kv->v);
	memset(kv, 0, sizeof(*kv));
}

/* The next item of s up to an unescaped ',', with ",," unescaped. */
static char *next_item(const char **s)
{
	char *out = malloc(strlen(*s) + 1), *o = out;
	const char *p = *s;

	if (!out)
		return NULL;
	while (*p) {
		if (*p == ',' && p[1] == ',') {
			*o++ = ',';
			p += 2;
		} else if (*p == ',') {
			p++;
			break;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	*s = p;
	return out;
}

int kt_qemu_kv_parse(const char *arg, const struct opt *o, struct kvs *kv, struct kt_err *err)
{
	const char *p = arg;
	struct kv *item, *grown;
	char *text, *eq;

	memset(kv, 0, sizeof(*kv));
	if (*arg == '{')
		return kt_fail(err, "config", "argument '-%s %s': JSON option syntax is not "
			       "measured; write it as key=value", o->name, arg);
	while (*p || kv->n == 0) {
		grown = realloc(kv->v, (kv->n + 1) * sizeof(*kv->v));
		text = grown ? next_item(&p) : NULL;
		if (!text) {
			if (grown)
				kv->v = grown;
			kt_qemu_kv_free(kv);
			return kt_fail(err, "config", "out of memory");
		}
		kv->v = grown;
		item = &kv->v[kv->n++];
		memset(item, 0, sizeof(*item));
		eq = strchr(text, '=');
		if (eq) {
			item->value = strdup(eq + 1);
			*eq = '\0';
			item->key = text;
		} else if (kv->n == 1 && o->implied) {
			item->key = strdup(o->implied);
			item->value = text;
			item->implied = true;
		} else {
			item->key = text;
		}
		if (!item->key || (eq && !item->value)) {
			kt_qemu_kv_free(kv);
			return kt_fail(err, "config", "out of memory");
		}
		if (!*item->key) {
			kt_qemu_kv_free(kv);
			return kt_fail(err, "config", "argument '-%s %s' has an empty option",
				       o->name, arg);
		}
	}
	return 0;
}

/* The leading bare value (backend, type), "" when there is none. */
const char *kt_qemu_kv_implied(const struct kvs *kv)
{
	return kv->v[0].implied ? kv->v[0].value : "";
}

const char *kt_qemu_kv_get(const struct kvs *kv, const char *key)
{
	size_t i;

	for (i = 0; i < kv->n; i++) {
		if (!strcmp(kv->v[i].key, key))
			return kv->v[i].value ? kv->v[i].value : "on";
	}
	return NULL;
}

struct kv *kt_qemu_kv_find(struct kvs *kv, const char *key)
{
	size_t i;

	for (i = 0; i < kv->n; i++) {
		if (!strcmp(kv->v[i].key, key) && kv->v[i].value)
			return &kv->v[i];
	}
	return NULL;
}

/* Back to QEMU's syntax (commas doubled), in the order written. */
static char *kv_join(const struct kvs *kv)
{
	size_t i, len = 1;
	const char *s;
	char *out, *o;

	for (i = 0; i < kv->n; i++)
		len += 2 * (strlen(kv->v[i].key) + (kv->v[i].value ? strlen(kv->v[i].value) : 0)) + 2;
	out = o = malloc(len);
	for (i = 0; out && i < kv->n; i++) {
		if (i)
			*o++ = ',';
		if (!kv->v[i].implied) {
			o = stpcpy(o, kv->v[i].key);
			if (kv->v[i].value)
				*o++ = '=';
		}
		for (s = kv->v[i].value; s && *s; s++) {
			if (*s == ',')
				*o++ = ',';
			*o++ = *s;
		}
	}
	if (out)
		*o = '\0';
	return out;
}

/* ---- parameters ----------------------------------------------------------- */

const char *kt_qemu_leaf_of(const struct opt *o)
{
	return o->leaf ? o->leaf : o->name;
}

/* qemu.LEAF.N, N the next free index (index < 0) or the one given. */
int kt_qemu_add_leaf(struct qstate *st, const char *leaf, long index, const char *value,
		    struct kt_err *err)
{
	char name[96], prefix[64];
	size_t i, plen;

	if (index < 0) {
		plen = (size_t)snprintf(prefix, sizeof(prefix), "qemu.%s.", leaf);
		for (i = 0, index = 0; i < st->cfg->n; i++)
			index += !strncmp(st->cfg->params[i].name, prefix, plen);
	}
	snprintf(name, sizeof(name), "qemu.%s.%ld", leaf, index);
	return kt_config_add(st->cfg, name, value, err);
}

const char *kt_qemu_param(const struct kt_config *cfg, const char *name)
{
	size_t i;

	for (i = cfg->n; i-- > 0;) {
		if (!strcmp(cfg->params[i].name, name))
			return cfg->params[i].value;
	}
	return NULL;
}

int kt_qemu_set_sha256(struct kv *item, const char *hex, struct kt_err *err)
{
	char *v;

	if (asprintf(&v, "sha256:%s", hex) < 0)
		return kt_fail(err, "config", "out of memory");
	free(item->value);
	item->value = v;
	return 0;
}

/* Replaces a file name by "sha256:HEX" of its content. */
static int hash_value(struct qstate *st, struct kv *item, const char *opt, struct kt_err *err)
{
	char hex[2 * KT_HASH_LEN + 1], *full;
	kt_hash h;
	int ret;

	/* ':' separates lists (-acpitable) or names a protocol: never a plain file here. */
	if (strchr(item->value, ':'))
		return kt_fail(err, "config", "argument '-%s': %s='%s' is not a single local file",
			       opt, item->key, item->value);
	full = kt_config_path(st->cfg, item->value);
	if (!full)
		return kt_fail(err, "config", "out of memory");
	ret = kt_file_sha256(full, h, err);
	free(full);
	if (ret)
		return -1;
	kt_hex_encode(h, sizeof(h), hex);
	return kt_qemu_set_sha256(item, hex, err);
}

/* Checks keys against the option's lists and hashes the files it names. */
int kt_qemu_kv_check(struct qstate *st, const struct opt *o, struct kvs *kv, struct kt_err *err)
{
	static const char *const fds[] = { "fd", "fds", "vhostfd", "vhostfds", NULL };
	size_t i;

	for (i = 0; i < kv->n; i++) {
		struct kv *item = &kv->v[i];

		/* A descriptor is whatever the launcher opened: nothing to measure. */
		if (kt_qemu_in_list(fds, item->key))
			return kt_fail(err, "config", "argument '-%s': %s= passes a file descriptor, "
				       "which cannot be measured", o->name, item->key);
		if (kt_qemu_in_list(o->deny, item->key) || (o->keys && !kt_qemu_in_list(o->keys, item->key)))
			return kt_fail(err, "config", "argument '-%s': option '%s' is not measured "
				       "and not known to be harmless", o->name, item->key);
		/* Whether written bare or as key=value, e.g. qom-type=. */
		if (o->values && o->implied && !strcmp(item->key, o->implied) &&
		    !kt_qemu_in_list(o->values, item->value ? item->value : ""))
			return kt_fail(err, "config", "argument '-%s %s' is not measured and not "
				       "known to be harmless", o->name, item->value);
		if (kt_qemu_in_list(o->files, item->key) && item->value && *item->value &&
		    hash_value(st, item, o->name, err))
			return -1;
	}
	return 0;
}

int kt_qemu_add_kv(struct qstate *st, const char *leaf, long index, const struct kvs *kv,
		   struct kt_err *err)
{
	char *v = kv_join(kv);
	int ret;

	if (!v)
		return kt_fail(err, "config", "out of memory");
	ret = kt_qemu_add_leaf(st, leaf, index, v, err);
	free(v);
	return ret;
}

int kt_qemu_measure_kv(struct qstate *st, const struct opt *o, const char *arg, bool add,
		       struct kt_err *err)
{
	struct kvs kv;
	int ret;

	if (kt_qemu_kv_parse(arg, o, &kv, err))
		return -1;
	st->index = -1;
	ret = kt_qemu_kv_check(st, o, &kv, err) || (o->check && o->check(st, o, &kv, err)) ||
	      (add && kt_qemu_add_kv(st, kt_qemu_leaf_of(o), st->index, &kv, err)) ? -1 : 0;
	kt_qemu_kv_free(&kv);
	return ret;
}
