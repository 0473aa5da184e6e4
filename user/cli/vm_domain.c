// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "cli_util.h"
#include "vm_domain.h"

/* libvirt prints every error on stderr by default; ours say what to do instead. */
static void quiet(void *data, virErrorPtr error)
{
	(void)data;
	(void)error;
}

static int domain_error(int status, const char *what, const char *name)
{
	virErrorPtr e = virGetLastError();
	struct kt_err err = { .check = "vm" };

	snprintf(err.msg, sizeof(err.msg), "%s '%s': %s", what, name,
		 e && e->message ? e->message : "unknown libvirt error");
	return cli_error(NULL, &err, status);
}

int vm_domain_uuid(const char *name, char uuid[KT_UUID_STR_LEN + 1])
{
	char text[VIR_UUID_STRING_BUFLEN];
	virConnectPtr conn;
	virDomainPtr dom;
	virErrorPtr e;
	int ret;

	virSetErrorFunc(NULL, quiet);
	conn = virConnectOpenReadOnly(NULL);
	if (!conn)
		return domain_error(KT_EXIT_UNAVAILABLE,
				    "cannot ask libvirt (set LIBVIRT_DEFAULT_URI?) for domain", name);
	dom = virDomainLookupByName(conn, name);
	if (!dom) {
		e = virGetLastError();
		ret = domain_error(e && e->code == VIR_ERR_NO_DOMAIN ? KT_EXIT_NOT_FOUND :
				   KT_EXIT_FAILURE, "no libvirt domain", name);
	} else if (virDomainGetUUIDString(dom, text) || kt_uuid_canonical(text, uuid)) {
		ret = domain_error(KT_EXIT_FAILURE, "no UUID for libvirt domain", name);
	} else {
		ret = KT_EXIT_OK;
	}
	if (dom)
		virDomainFree(dom);
	virConnectClose(conn);
	return ret;
}
