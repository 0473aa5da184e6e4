// SPDX-License-Identifier: GPL-2.0
/* libvirt domains by their runtime status files (libvirt.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "libvirt.h"
#include "measure/vmm_cmdline.h"

struct status {
	long pid;
	char name[256];
	char uuid[KT_UUID_STR_LEN + 1];
};

static int __attribute__((format(printf, 3, 4))) say(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -1;
}

static xmlNodePtr child(xmlNodePtr parent, const char *name)
{
	xmlNodePtr n;

	for (n = parent ? parent->children : NULL; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name))
			return n;
	return NULL;
}

/* The text of parent's child element name into buf; false if absent or too long. */
static bool child_text(xmlNodePtr parent, const char *name, char *buf, size_t len)
{
	xmlChar *text = xmlNodeGetContent(child(parent, name));
	bool ok = text && strlen((const char *)text) < len;

	if (ok)
		strcpy(buf, (const char *)text);
	xmlFree(text);
	return ok;
}

/* A libvirt status file: <domstatus pid='N'> around the live <domain>. */
static int read_status(const char *path, struct status *st, char *why, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	xmlDocPtr doc;
	xmlNodePtr root, dom;
	xmlChar *pid = NULL;
	char uuid[128], *end;
	int ret = -1;

	if (fd < 0)
		return say(why, len, "libvirt: %s: %s", path, strerror(errno));
	/* No network, no entity expansion: parsed as data. */
	doc = xmlReadFd(fd, path, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	close(fd);
	root = doc ? xmlDocGetRootElement(doc) : NULL;
	if (!doc) {
		say(why, len, "libvirt: %s is not well-formed XML", path);
		goto out;
	}
	if (!root || strcmp((const char *)root->name, "domstatus")) {
		say(why, len, "libvirt: %s is not a status file (no <domstatus>)", path);
		goto out;
	}
	pid = xmlGetProp(root, (const xmlChar *)"pid");
	errno = 0;
	st->pid = pid ? strtol((const char *)pid, &end, 10) : 0;
	if (!pid || *end || errno || st->pid <= 0 || st->pid > 4194304) {
		say(why, len, "libvirt: %s: <domstatus> has no valid pid", path);
		goto out;
	}
	dom = child(root, "domain");
	if (!child_text(dom, "name", st->name, sizeof(st->name)) ||
	    !child_text(dom, "uuid", uuid, sizeof(uuid)) || kt_uuid_canonical(uuid, st->uuid)) {
		say(why, len, "libvirt: %s: no <domain> with a <name> and a valid <uuid>", path);
		goto out;
	}
	ret = 0;
out:
	xmlFree(pid);
	xmlFreeDoc(doc);
	return ret;
}

/* The one status file in dir whose domain has this UUID. */
static int find_uuid(const char *dir, const char *uuid, struct status *st, char *why, size_t len)
{
	char path[4096], skip[600];
	struct status cand;
	struct dirent *d;
	DIR *dh = opendir(dir);
	int found = 0;

	if (!dh)
		return say(why, len, "libvirt: %s: %s", dir, strerror(errno));
	while ((d = readdir(dh))) {
		size_t n = strlen(d->d_name);

		if (n < 5 || d->d_name[0] == '.' || strcmp(d->d_name + n - 4, ".xml"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		/* A file of another domain that does not parse is not this one's. */
		if (read_status(path, &cand, skip, sizeof(skip)) || strcmp(cand.uuid, uuid))
			continue;
		*st = cand;
		found++;
	}
	closedir(dh);
	if (found != 1)
		return say(why, len, "libvirt: %s running domains with UUID %s in %s",
			   found ? "several" : "no", uuid, dir);
	return 0;
}

int ktd_libvirt_resolve(const char *dir, const char *domain, pid_t *pid,
			char uuid[KT_UUID_STR_LEN + 1], char *why, size_t len)
{
	char path[4096], found[KT_UUID_STR_LEN + 1], *buf;
	struct status st;
	const char *bad;
	int ret;

	if (kt_uuid_valid(domain)) {
		if (find_uuid(dir, domain, &st, why, len))
			return -1;
	} else {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s.xml", dir, domain) >= sizeof(path))
			return say(why, len, "libvirt: the path of domain '%s' is too long", domain);
		if (read_status(path, &st, why, len))
			return -1;
		if (strcmp(st.name, domain))
			return say(why, len, "libvirt: %s names domain '%s', not '%s'", path,
				   st.name, domain);
	}
	if (kill((pid_t)st.pid, 0) && errno == ESRCH)
		return say(why, len, "libvirt: domain '%s': its pid %ld is not running", st.name,
			   st.pid);
	/* libvirt always passes -uuid: a process without this one is not the domain. */
	buf = malloc(KT_VMM_CMDLINE_MAX);
	if (!buf)
		return say(why, len, "libvirt: out of memory");
	ret = kt_vmm_pid_uuid((pid_t)st.pid, buf, found, &bad);
	free(buf);
	if (ret < 0)
		return say(why, len, "libvirt: domain '%s': pid %ld: %s", st.name, st.pid,
			   strerror(-ret));
	if (ret == 1 || strcmp(found, st.uuid))
		return say(why, len, "libvirt: domain '%s': pid %ld does not run it (its -uuid is "
			   "%s, the domain's %s)", st.name, st.pid, ret ? "missing" : found, st.uuid);
	*pid = (pid_t)st.pid;
	strcpy(uuid, st.uuid);
	return 0;
}
