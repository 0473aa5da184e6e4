// SPDX-License-Identifier: GPL-2.0
/*
 * The QEMU command line that restores a snapshot: the one the snapshot
 * recorded, paused (-S), loading the stored migration stream (-incoming)
 * and with a QMP monitor of the restorer's own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "snapshot/snapshot.h"

static bool drops(const char *arg, bool *with_value)
{
	static const char *const valued[] = { "-incoming", "--incoming" };
	static const char *const flags[] = { "-daemonize", "--daemonize" };
	size_t i;

	for (i = 0; i < 2; i++) {
		if (!strcmp(arg, valued[i]))
			return *with_value = true;
		if (!strcmp(arg, flags[i]))
			return !(*with_value = false);
	}
	return false;
}

/* A QMP monitor an earlier restore added (ours, not the operator's). */
static bool restorer_monitor(const json_t *arr, size_t i, bool *with_value)
{
	const char *opt = json_string_value(json_array_get(arr, i));
	const char *val = json_string_value(json_array_get(arr, i + 1));

	*with_value = true;
	return opt && val && !strcmp(opt, "-qmp") && strstr(val, "/" KT_SNAP_RESTORE_QMP_PREFIX);
}

static int push(char ***argv, size_t *n, const char *s)
{
	char **grown = realloc(*argv, (*n + 2) * sizeof(**argv));

	if (!grown)
		return -1;
	*argv = grown;
	grown[*n] = strdup(s);
	grown[*n + 1] = NULL;
	return grown[(*n)++] ? 0 : -1;
}

int kt_snap_qemu_argv(const struct kt_snapshot *s, const char *stream, const char *qmp,
		      char ***out, struct kt_err *err)
{
	json_t *arr = s->qemu_argv ? json_loads(s->qemu_argv, 0, NULL) : NULL, *e;
	char **argv = NULL, *opt = NULL;
	bool with_value;
	size_t i, n = 0;
	int ret = -1;

	*out = NULL;
	if (strchr(stream, '\'') || strchr(qmp, ',')) {
		kt_fail(err, "snapshot", "the store's path holds a quote or comma QEMU cannot take");
		goto out;
	}
	if (!json_is_array(arr) || !json_array_size(arr)) {
		kt_fail(err, "manifest", "the snapshot holds no QEMU command line");
		goto out;
	}
	for (i = 0; i < json_array_size(arr); i++) {
		e = json_array_get(arr, i);
		if (!json_is_string(e)) {
			kt_fail(err, "manifest", "\"qemu_argv\" holds a non-string");
			goto out;
		}
		if (drops(json_string_value(e), &with_value) ||
		    restorer_monitor(arr, i, &with_value)) {
			i += with_value;
			continue;
		}
		if (push(&argv, &n, json_string_value(e)))
			goto oom;
	}
	if (asprintf(&opt, "unix:%s,server=on,wait=off", qmp) < 0)
		goto oom;
	if (push(&argv, &n, "-S") || push(&argv, &n, "-qmp") || push(&argv, &n, opt))
		goto oom;
	free(opt);
	if (asprintf(&opt, "exec:cat '%s'", stream) < 0 || push(&argv, &n, "-incoming") ||
	    push(&argv, &n, opt))
		goto oom;
	*out = argv;
	argv = NULL;
	ret = 0;
	goto out;
oom:
	kt_fail(err, "snapshot", "out of memory");
out:
	free(opt);
	kt_snap_argv_free(argv);
	json_decref(arr);
	return ret;
}

void kt_snap_argv_free(char **argv)
{
	size_t i;

	for (i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}
