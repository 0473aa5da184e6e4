// SPDX-License-Identifier: GPL-2.0
/*
 * Pausing and continuing a guest around a capture (guest_pause.h).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "measure/guest_pause.h"

#define STOP_WAIT_MS 5000

/* True when every thread of pid is in the stopped state. */
static bool all_stopped(pid_t pid)
{
	char path[320], buf[512], *p;
	struct dirent *de;
	bool stopped = true;
	FILE *f;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return false;
	while (stopped && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", (int)pid, de->d_name);
		f = fopen(path, "r");
		if (!f || !fgets(buf, sizeof(buf), f)) {
			stopped = false;
		} else {
			p = strrchr(buf, ')');
			stopped = p && (p[2] == 'T' || p[2] == 't');
		}
		if (f)
			fclose(f);
	}
	closedir(d);
	return stopped;
}

static void block_signals(struct kt_guest_pause *g)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	sigprocmask(SIG_BLOCK, &set, &g->saved);
}

static int pause_qemu(struct kt_guest_pause *g, struct kt_err *err)
{
	char state[32];

	if (kt_qmp_runstate(g->qmp, state, sizeof(state), err))
		return -1;
	g->was_running = !strcmp(state, "running");
	if (g->was_running) {
		json_t *r = kt_qmp_exec(g->qmp, "stop", NULL, err);

		if (!r)
			return -1;
		json_decref(r);
	}
	g->paused = true;
	return 0;
}

static int pause_signal(struct kt_guest_pause *g, struct kt_err *err)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int i;

	if (kill(g->pid, SIGSTOP))
		return kt_fail(err, "pause", "cannot stop process %d: %s", (int)g->pid,
			       strerror(errno));
	g->paused = true;
	for (i = 0; i < STOP_WAIT_MS / 10; i++) {
		if (all_stopped(g->pid))
			return 0;
		nanosleep(&ts, NULL);
	}
	return kt_fail(err, "pause", "process %d did not stop within %d ms", (int)g->pid,
		       STOP_WAIT_MS);
}

int kt_guest_pause(struct kt_guest_pause *g, struct kt_err *err)
{
	block_signals(g);
	return g->qmp ? pause_qemu(g, err) : pause_signal(g, err);
}

int kt_guest_resume(struct kt_guest_pause *g, struct kt_err *err)
{
	int ret = 0;

	if (g->paused && g->qmp && g->was_running) {
		json_t *r = kt_qmp_exec(g->qmp, "cont", NULL, err);

		ret = r ? 0 : -1;
		json_decref(r);
	} else if (g->paused && !g->qmp && kill(g->pid, SIGCONT)) {
		ret = kt_fail(err, "pause", "cannot continue process %d: %s", (int)g->pid,
			      strerror(errno));
	}
	g->paused = false;
	sigprocmask(SIG_SETMASK, &g->saved, NULL);
	return ret;
}

void kt_guest_stay_paused(struct kt_guest_pause *g)
{
	sigprocmask(SIG_SETMASK, &g->saved, NULL);
}
