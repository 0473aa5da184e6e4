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
#include <unistd.h>

#include "common/encoding.h"
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

static json_t *guest_json(const struct ktd_guest *g)
{
	char root[2 * KT_HASH_LEN + 1], digest[2 * KT_HASH_LEN + 1];
	const char *result = g->last_result == KT_LEDGER_PASS ? "pass" :
			     g->last_result == KT_LEDGER_FAIL ? "fail" : "none";

	kt_hex_encode(g->last_root, KT_HASH_LEN, root);
	kt_hex_encode(g->report_digest, KT_HASH_LEN, digest);
	return json_pack("{s:s, s:s, s:i, s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:s}",
			 "name", g->cfg.name, "uuid", g->uuid, "pid", (int)g->pid,
			 "result", result, "score", g->score, "rounds", (json_int_t)g->rounds,
			 "passes", (json_int_t)g->passes, "fails", (json_int_t)g->fails,
			 "last_time", (json_int_t)g->last_time,
			 "ledger_index", (json_int_t)g->last_index,
			 "memory_root", g->rounds ? root : "",
			 "report_digest", g->rounds ? digest : "", "error", g->last_error);
}

json_t *ktd_status_json(unsigned int interval, const struct ktd_guest *guests, size_t n)
{
	json_t *vms = json_array(), *obj;
	size_t i;

	for (i = 0; vms && i < n; i++) {
		if (json_array_append_new(vms, guest_json(&guests[i]))) {
			json_decref(vms);
			return NULL;
		}
	}
	obj = vms ? json_pack("{s:I, s:o}", "interval", (json_int_t)interval, "vms", vms) : NULL;
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
			return 0;
		if (!strcmp(buf, "attest-now"))
			return 1;
	}
	ktd_control_reply(conn, json_pack("{s:s}", "error",
					  "unknown request: send 'status' or 'attest-now'"));
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
