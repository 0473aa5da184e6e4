// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "attest/config_tree.h"
#include "common/encoding.h"

/* Small enough to stay in L2 between read() and the hash (bench-attest). */
static kt_config_progress_fn progress_hook;

void kt_config_set_progress(kt_config_progress_fn fn)
{
	progress_hook = fn;
}

#define HASH_CHUNK (128 * 1024)
#define PROGRESS_STEP (256ULL << 20)

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

int kt_file_sha256(const char *path, kt_hash out, struct kt_err *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t *buf = malloc(HASH_CHUNK);
	uint64_t done = 0, total = 0, next = PROGRESS_STEP;
	int fd = -1, ret = -1;
	struct stat st;
	ssize_t n;

	if (!ctx || !buf || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		kt_fail(err, "config", "out of memory");
		goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		kt_fail(err, "config", "cannot open '%s': %s", path, strerror(errno));
		goto out;
	}
	/* Sequential hint: images are read once, front to back. */
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		total = (uint64_t)st.st_size;
	while ((n = read(fd, buf, HASH_CHUNK)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			kt_fail(err, "config", "cannot read '%s': %s", path, strerror(errno));
			goto out;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		done += (uint64_t)n;
		if (progress_hook && done >= next) {
			progress_hook(path, done, total);
			next += PROGRESS_STEP;
		}
	}
	if (progress_hook && done >= PROGRESS_STEP)
		progress_hook(path, done, done);
	if (EVP_DigestFinal_ex(ctx, out, NULL) != 1) {
		kt_fail(err, "config", "SHA-256 failed");
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	EVP_MD_CTX_free(ctx);
	return ret;
}

int kt_config_add_file_hash(struct kt_config *cfg, const char *name, const char *path,
			    struct kt_err *err)
{
	char hex[2 * KT_HASH_LEN + 1], *full = NULL;
	kt_hash h;
	int ret;

	if (path[0] != '/' && cfg->base_dir && asprintf(&full, "%s/%s", cfg->base_dir, path) < 0)
		return kt_fail(err, "config", "out of memory");
	ret = kt_file_sha256(full ? full : path, h, err);
	free(full);
	if (ret)
		return -1;
	kt_hex_encode(h, sizeof(h), hex);
	return kt_config_add(cfg, name, hex, err);
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
