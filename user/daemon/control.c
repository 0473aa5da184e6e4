// SPDX-License-Identifier: GPL-2.0
/* The control socket (control.h). */
#include <errno.h>
#include <libgen.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/encoding.h"
#include "action.h"
#include "control.h"
#include "ledger/ledger.h"

/* A client that connects and says nothing must not stall the attestation loop. */
#define REQUEST_TIMEOUT_MS 1000

int ktd_control_listen(const char *path, struct kt_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return kt_fail(err, "socket", "socket path '%s' is too long", path);
	strcpy(sa.sun_path, path);
	if (!lstat(path, &st) && !S_ISSOCK(st.st_mode))
		return kt_fail(err, "socket", "'%s' exists and is not a socket", path);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return kt_fail(err, "socket", "socket: %s", strerror(errno));
	/* Created 0600 from the start: no window in which others may connect. */
	mode_t old = umask(0177);
	int ret = bind(fd, (struct sockaddr *)&sa, sizeof(sa));

	umask(old);
	if (ret || listen(fd, 8)) {
		kt_fail(err, "socket", "unable to listen on %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

#define J(v) ((json_int_t)(v))

/* Rounds started per trigger kind, and the latency of the BPF-triggered ones. */
static json_t *trigger_json(const struct ktd_guest *g, const struct ktd_triggers *t)
{
	struct ktd_bpf_vm bv;
	json_t *o = json_pack("{s:s, s:{s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:I}}",
			      "last", g->rounds || g->last_error[0] ?
			      ktd_trigger_name(g->last_trigger) : "",
			      "rounds", "timer", J(g->triggered[KTD_TRIGGER_TIMER]),
			      "doorbell", J(g->triggered[KTD_TRIGGER_DOORBELL]),
			      "cr-write", J(g->triggered[KTD_TRIGGER_CR]),
			      "msr-write", J(g->triggered[KTD_TRIGGER_MSR]),
			      "attest-now", J(g->triggered[KTD_TRIGGER_REQUEST]),
			      "latency_us", "count", J(g->lat_n), "last", J(g->lat_last_us),
			      "min", J(g->lat_min_us), "max", J(g->lat_max_us),
			      "avg", J(g->lat_n ? g->lat_sum_us / g->lat_n : 0));

	/* What the BPF programs saw of this VMM, the rate limit's drops included. */
	if (o && t && g->pid > 0 && ktd_triggers_stats(t, g->pid, &bv))
		json_object_set_new(o, "bpf", json_pack("{s:I, s:I, s:I}", "doorbells",
							J(bv.doorbells), "events", J(bv.events),
							"limited", J(bv.limited)));
	return o;
}

static json_t *guest_json(const struct ktd_guest *g, const struct ktd_triggers *t)
{
	char root[2 * KT_HASH_LEN + 1], digest[2 * KT_HASH_LEN + 1];
	const char *result = g->last_result == KT_LEDGER_PASS ? "pass" :
			     g->last_result == KT_LEDGER_FAIL ? "fail" : "none";
	json_t *obj, *in;

	kt_hex_encode(g->last_root, KT_HASH_LEN, root);
	kt_hex_encode(g->report_digest, KT_HASH_LEN, digest);
	obj = json_pack("{s:s, s:s, s:i, s:b, s:s, s:s, s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:s, "
			"s:s, s:s, s:s, s:b, s:o, s:s}",
			"name", g->cfg.name, "uuid", g->uuid, "pid", (int)g->pid,
			"discovered", g->discovered, "libvirt", g->cfg.libvirt,
			"result", result, "score", g->score, "prev_score", g->prev_score,
			"rounds", J(g->rounds), "passes", J(g->passes), "fails", J(g->fails),
			"last_time", J(g->last_time), "ledger_index", J(g->last_index),
			"memory_root", g->rounds ? root : "",
			"report_digest", g->rounds ? digest : "", "report", g->report_path,
			"failed_range", g->failed_range, "frozen", g->frozen,
			"trigger", trigger_json(g, t), "error", g->last_error);
	/* An incoming guest ([receive]): awaiting until a session verified its arrival. */
	in = obj ? json_pack("{s:s, s:s}", "incoming", !g->cfg.incoming[0] ? "" :
			     g->awaiting ? "awaiting" : "arrived", "received", g->received) : NULL;

	if (!in || json_object_update(obj, in)) {
		json_decref(obj);
		obj = NULL;
	}
	json_decref(in);
	return obj;
}

json_t *ktd_status_json(const struct ktd_config *c, const struct ktd_triggers *t,
			const struct ktd_discovery *disc, json_t *receive,
			const struct ktd_guest *guests, size_t n)
{
	json_t *vms = json_array(), *obj;
	size_t i;

	for (i = 0; vms && i < n; i++) {
		if (json_array_append_new(vms, guest_json(&guests[i], t))) {
			json_decref(vms);
			return NULL;
		}
	}
	obj = vms ? json_pack("{s:I, s:{s:b, s:I, s:I, s:I, s:I}, s:{s:b, s:I, s:I, s:I}, s:o}",
			      "interval", J(c->interval), "triggers", "bpf", t != NULL,
			      "doorbell_port", J(c->doorbell_port),
			      "event_cr_mask", J(c->event_cr_mask),
			      "event_threshold", J(c->event_threshold),
			      "min_gap_ms", J(c->trigger_min_gap_ms),
			      "discover", "enabled", c->discover, "max", J(c->discover_max),
			      "found", J(disc->found), "skipped", J(disc->skipped), "vms", vms) : NULL;
	if (!obj || json_object_set_new(obj, "receive", receive)) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

int ktd_control_request(int conn)
{
	struct pollfd pfd = { .fd = conn, .events = POLLIN };
	char buf[64];
	size_t len = 0;
	ssize_t n = 1;

	/* The request ends at its newline; a partial line is waited for, briefly. */
	while (n > 0 && len < sizeof(buf) - 1 && !memchr(buf, '\n', len) &&
	       poll(&pfd, 1, REQUEST_TIMEOUT_MS) == 1) {
		n = read(conn, buf + len, sizeof(buf) - 1 - len);
		if (n > 0)
			len += (size_t)n;
	}
	if (memchr(buf, '\n', len)) {
		buf[len] = '\0';
		buf[strcspn(buf, "\r\n")] = '\0';
		if (!strcmp(buf, "status"))
			return KTD_REQ_STATUS;
		if (!strcmp(buf, "attest-now"))
			return KTD_REQ_ATTEST_NOW;
		if (!strcmp(buf, "watch"))
			return KTD_REQ_WATCH;
	}
	ktd_control_reply(conn, json_pack("{s:s}", "error",
					  "unknown request: send 'status', 'attest-now' or 'watch'"));
	return -1;
}

void ktd_control_reply(int conn, json_t *obj)
{
	char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	const char *out = s ? s : "{\"error\":\"out of memory\"}";
	size_t len = strlen(out), off = 0;
	ssize_t n;

	while (off < len && (n = send(conn, out + off, len - off, MSG_NOSIGNAL)) > 0)
		off += (size_t)n;
	if (off == len)
		send(conn, "\n", 1, MSG_NOSIGNAL);
	free(s);
	json_decref(obj);
	close(conn);
}

/* Closes the watchers that have hung up: no event may have told yet. */
static void watch_prune(struct ktd_watchers *w)
{
	struct pollfd pfd = { .events = POLLRDHUP };
	size_t i = 0;

	while (i < w->n) {
		pfd.fd = w->fd[i];
		if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
			i++;
			continue;
		}
		close(w->fd[i]);
		w->fd[i] = w->fd[--w->n];
	}
}

void ktd_watch_add(struct ktd_watchers *w, int conn)
{
	watch_prune(w);
	if (w->n == KTD_MAX_WATCHERS) {
		ktd_control_reply(conn, json_pack("{s:s}", "error",
						  "too many watchers: at most 16 at once"));
		return;
	}
	w->fd[w->n++] = conn;
}

void ktd_watch_send(struct ktd_watchers *w, json_t *obj)
{
	char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	size_t i = 0, len;

	json_decref(obj);
	if (!s)
		return;
	len = strlen(s);
	s[len] = '\n';	/* json_dumps' NUL: the line is sent without it */
	while (i < w->n) {
		/* A partial line cannot be finished later without waiting: drop it. */
		if (send(w->fd[i], s, len + 1, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)(len + 1)) {
			i++;
			continue;
		}
		close(w->fd[i]);
		w->fd[i] = w->fd[--w->n];
	}
	free(s);
}

void ktd_watch_close(struct ktd_watchers *w)
{
	while (w->n)
		close(w->fd[--w->n]);
}

static json_t *event_head(const char *event, const struct ktd_guest *g)
{
	return json_pack("{s:s, s:I, s:s, s:s, s:i}", "event", event, "time", J(time(NULL)),
			 "name", g->cfg.name, "uuid", g->uuid, "pid", (int)g->pid);
}

json_t *ktd_result_event(const struct ktd_guest *g, unsigned int kind, bool appended)
{
	char digest[2 * KT_HASH_LEN + 1] = "";
	json_t *o = event_head("result", g);

	if (appended)
		kt_hex_encode(g->report_digest, KT_HASH_LEN, digest);
	if (o && json_object_update_new(o, json_pack(
			"{s:s, s:s, s:i, s:i, s:I, s:s, s:s, s:s}", "trigger",
			ktd_trigger_name(kind), "result", !appended ? "error" :
			g->last_result == KT_LEDGER_PASS ? "pass" : "fail",
			"score", g->score, "prev_score", g->prev_score,
			"ledger_index", J(appended ? g->last_index : 0),
			"failed_range", appended ? g->failed_range : "",
			"report_digest", digest, "reason", appended ? "" : g->last_error))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *ktd_action_event(const struct ktd_config *c, const struct ktd_guest *g, int event)
{
	json_t *o = event_head("action", g), *list = json_array();
	unsigned int i;

	for (i = 0; list && i < KTD_NR_ACTIONS; i++)
		if ((c->actions[event] & (1u << i)) &&
		    json_array_append_new(list, json_string(ktd_action_names[i])))
			break;
	if (!o || !list || i < KTD_NR_ACTIONS) {
		json_decref(list);
		json_decref(o);
		return NULL;
	}
	if (json_object_update_new(o, json_pack("{s:s, s:o, s:i, s:i, s:I, s:s, s:b}",
						"on", ktd_action_event_name(event),
						"actions", list, "score", g->score,
						"prev_score", g->prev_score,
						"ledger_index", J(g->last_index),
						"failed_range", g->failed_range,
						"frozen", g->frozen))) {
		json_decref(o);
		return NULL;
	}
	return o;
}
