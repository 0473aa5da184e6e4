// SPDX-License-Identifier: GPL-2.0
#include <ctype.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/config_tree.h"

int kt_config_add(struct kt_config *cfg, const char *name, const char *value,
		  struct kt_err *err)
{
	struct kt_config_param *p;

	if (cfg->n == KT_CONFIG_MAX_PARAMS)
		return kt_fail(err, "config", "more than %d parameters", KT_CONFIG_MAX_PARAMS);
	if (cfg->n == cfg->cap) {
		size_t cap = cfg->cap ? 2 * cfg->cap : 16;

		p = realloc(cfg->params, cap * sizeof(*p));
		if (!p)
			return kt_fail(err, "config", "out of memory");
		cfg->params = p;
		cfg->cap = cap;
	}
	p = &cfg->params[cfg->n];
	p->name = strdup(name);
	p->value = strdup(value);
	if (!p->name || !p->value) {
		free(p->name);
		free(p->value);
		return kt_fail(err, "config", "out of memory");
	}
	cfg->n++;
	return 0;
}

int kt_config_add_u64(struct kt_config *cfg, const char *name, uint64_t v, struct kt_err *err)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return kt_config_add(cfg, name, buf, err);
}

static int add_indexed(struct kt_config *cfg, size_t i, const char *what, const char *value,
		       struct kt_err *err)
{
	char name[64];

	snprintf(name, sizeof(name), "nic.%zu.%s", i, what);
	return kt_config_add(cfg, name, value, err);
}

/* Canonical MAC: six lowercase hex pairs joined by ':'; '-' accepted on input. */
int kt_config_add_nic(struct kt_config *cfg, size_t i, const char *mac, long long vlan,
		      struct kt_err *err)
{
	char out[18], buf[16];
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
	if (vlan < 0 || vlan > 4094)
		return kt_fail(err, "config", "VLAN id %lld out of range (0-4094)", vlan);
	snprintf(buf, sizeof(buf), "%lld", vlan);
	return add_indexed(cfg, i, "mac", out, err) || add_indexed(cfg, i, "vlan", buf, err);
bad:
	return kt_fail(err, "config", "'%s' is not a MAC address", mac);
}

int kt_config_set_base_dir(struct kt_config *cfg, const char *path, struct kt_err *err)
{
	char *copy = strdup(path);

	free(cfg->base_dir);
	cfg->base_dir = copy ? strdup(dirname(copy)) : NULL;
	free(copy);
	return cfg->base_dir ? 0 : kt_fail(err, "config", "out of memory");
}

char *kt_config_path(const struct kt_config *cfg, const char *path)
{
	char *full;

	if (path[0] == '/' || !cfg->base_dir)
		return strdup(path);
	return asprintf(&full, "%s/%s", cfg->base_dir, path) < 0 ? NULL : full;
}

static int cmp_param(const void *a, const void *b)
{
	return strcmp(((const struct kt_config_param *)a)->name,
		      ((const struct kt_config_param *)b)->name);
}

int kt_config_finish(struct kt_config *cfg, struct kt_err *err)
{
	size_t i;

	if (cfg->n == 0)
		return kt_fail(err, "config", "the configuration has no parameters");
	qsort(cfg->params, cfg->n, sizeof(*cfg->params), cmp_param);
	for (i = 1; i < cfg->n; i++) {
		if (!strcmp(cfg->params[i - 1].name, cfg->params[i].name))
			return kt_fail(err, "config", "parameter '%s' given twice",
				       cfg->params[i].name);
	}
	return 0;
}

void kt_config_leaf(const struct kt_config_param *p, kt_hash out)
{
	size_t nlen = strlen(p->name), vlen = strlen(p->value);
	uint8_t *data = malloc(nlen + 1 + vlen);

	if (!data)
		abort();
	memcpy(data, p->name, nlen);
	data[nlen] = 0;
	memcpy(data + nlen + 1, p->value, vlen);
	kt_merkle_leaf_hash(data, nlen + 1 + vlen, out);
	free(data);
}

static kt_hash *config_leaves(const struct kt_config *cfg)
{
	kt_hash *leaves = calloc(cfg->n ? cfg->n : 1, sizeof(*leaves));
	size_t i;

	for (i = 0; leaves && i < cfg->n; i++)
		kt_config_leaf(&cfg->params[i], leaves[i]);
	return leaves;
}

int kt_config_root(const struct kt_config *cfg, kt_hash root)
{
	kt_hash *leaves = config_leaves(cfg);

	if (!leaves)
		return -1;
	kt_merkle_root(leaves, cfg->n, root);
	free(leaves);
	return 0;
}

int kt_config_proof(const struct kt_config *cfg, size_t i, kt_hash *proof)
{
	kt_hash *leaves = config_leaves(cfg);
	int len;

	if (!leaves)
		return -1;
	len = kt_merkle_inclusion_proof(leaves, cfg->n, i, proof);
	free(leaves);
	return len;
}

json_t *kt_config_to_json(const struct kt_config *cfg)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr && i < cfg->n; i++) {
		if (json_array_append_new(arr, json_pack("{s:s, s:s}", "name", cfg->params[i].name,
							 "value", cfg->params[i].value))) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

int kt_config_from_params(const json_t *params, struct kt_config *cfg, struct kt_err *err)
{
	const char *name, *value;
	json_t *item;
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	if (!json_is_array(params))
		return kt_fail(err, "config", "params is not an array");
	json_array_foreach(params, i, item) {
		if (json_unpack((json_t *)item, "{s:s, s:s !}", "name", &name, "value", &value)) {
			kt_fail(err, "config", "params[%zu] is not {name, value}", i);
			goto fail;
		}
		if (kt_config_add(cfg, name, value, err))
			goto fail;
	}
	if (!kt_config_finish(cfg, err))
		return 0;
fail:
	kt_config_free(cfg);
	return -1;
}

static void append(char *buf, size_t len, size_t *off, const char *name, const char *a,
		   const char *b)
{
	int n;

	if (*off >= len)
		return;
	n = snprintf(buf + *off, len - *off, "%s%s: attested %s, launching %s",
		     *off ? "; " : "", name, a ? a : "(absent)", b ? b : "(absent)");
	if (n > 0)
		*off += (size_t)n;
}

size_t kt_config_diff(const struct kt_config *want, const struct kt_config *got,
		      char *buf, size_t len)
{
	size_t i = 0, j = 0, off = 0, count = 0;
	int c;

	if (len)
		buf[0] = '\0';
	/* Both sides are sorted by name (kt_config_finish): a merge walk. */
	while (i < want->n || j < got->n) {
		if (i == want->n)
			c = 1;
		else if (j == got->n)
			c = -1;
		else
			c = strcmp(want->params[i].name, got->params[j].name);
		if (c < 0) {
			append(buf, len, &off, want->params[i].name, want->params[i].value, NULL);
			i++;
			count++;
		} else if (c > 0) {
			append(buf, len, &off, got->params[j].name, NULL, got->params[j].value);
			j++;
			count++;
		} else {
			if (strcmp(want->params[i].value, got->params[j].value)) {
				append(buf, len, &off, want->params[i].name,
				       want->params[i].value, got->params[j].value);
				count++;
			}
			i++;
			j++;
		}
	}
	return count;
}

void kt_config_free(struct kt_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->n; i++) {
		free(cfg->params[i].name);
		free(cfg->params[i].value);
	}
	free(cfg->params);
	free(cfg->base_dir);
	memset(cfg, 0, sizeof(*cfg));
}
