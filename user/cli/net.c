// SPDX-License-Identifier: GPL-2.0
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "net.h"
#include "subcommands.h"

/* "127.0.0.1:4000", "[::1]:4000" or "localhost:4000". */
static struct addrinfo *resolve(const char *arg, bool passive)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = passive ? AI_PASSIVE : 0 };
	struct addrinfo *res = NULL;
	char host[256];
	const char *colon = strrchr(arg, ':');
	size_t len;
	int rc;

	if (!colon || colon == arg || (size_t)(colon - arg) >= sizeof(host)) {
		fprintf(stderr, "%s: '%s' is not ADDR:PORT or unix:PATH\n", prog, arg);
		return NULL;
	}
	len = (size_t)(colon - arg);
	memcpy(host, arg, len);
	host[len] = '\0';
	if (host[0] == '[' && host[len - 1] == ']') {
		memmove(host, host + 1, len - 2);
		host[len - 2] = '\0';
	}
	rc = getaddrinfo(host, colon + 1, &hints, &res);
	if (rc) {
		fprintf(stderr, "Unable to resolve '%s': %s\n", arg, gai_strerror(rc));
		return NULL;
	}
	return res;
}

/* unix:PATH: -1 when arg is not one, else the socket (or -2 after a printed failure). */
static int unix_socket(const char *arg, bool listening)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = arg + 5;
	int fd;

	if (strncmp(arg, "unix:", 5))
		return -1;
	if (!*path || strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "%s: '%s' is not a usable unix socket path\n", prog, arg);
		return -2;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && listening && !bind(fd, (struct sockaddr *)&sa, sizeof(sa)) && !listen(fd, 16)) {
		fprintf(stderr, "listening on %s\n", arg);
		return fd;
	}
	if (fd >= 0 && !listening && !connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		return fd;
	fprintf(stderr, "Unable to %s %s: %m\n", listening ? "listen on" : "connect to", arg);
	if (fd >= 0)
		close(fd);
	return -2;
}

void net_set_timeouts(int fd, unsigned long secs)
{
	struct timeval tv = { .tv_sec = (time_t)secs };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

int net_listen(const char *arg)
{
	struct addrinfo *ai;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[64], port[16];
	int fd, one = 1;

	fd = unix_socket(arg, true);
	if (fd != -1)
		return fd < 0 ? -1 : fd;
	ai = resolve(arg, true);
	if (!ai)
		return -1;
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 16) ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) ||
	    getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV)) {
		fprintf(stderr, "Unable to listen on %s: %m\n", arg);
		if (fd >= 0)
			close(fd);
		fd = -1;
	} else {
		/* Tests and scripts wait for this line (port 0 picks a free port). */
		fprintf(stderr, "listening on %s:%s\n", host, port);
	}
	freeaddrinfo(ai);
	return fd;
}

int net_connect(const char *arg, unsigned long timeout)
{
	struct addrinfo *ai, *p;
	int fd = unix_socket(arg, false);

	if (fd != -1) {
		if (fd >= 0)
			net_set_timeouts(fd, timeout);
		return fd < 0 ? -1 : fd;
	}
	ai = resolve(arg, false);

	for (p = ai; p; p = p->ai_next) {
		fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		net_set_timeouts(fd, timeout);
		if (!connect(fd, p->ai_addr, p->ai_addrlen))
			break;
		close(fd);
		fd = -1;
	}
	if (ai && fd < 0)
		fprintf(stderr, "Unable to connect to %s: %m\n", arg);
	if (ai)
		freeaddrinfo(ai);
	return fd;
}

