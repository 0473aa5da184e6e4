// SPDX-License-Identifier: GPL-2.0
/*
 * libvirt is loaded only when --domain asks for it: linked in, it would cost
 * every kvmtrust run its start-up time and make libvirt0 a dependency of
 * hosts that run no libvirt. The entry points keep the types of libvirt's
 * own header.
 */
#include <dlfcn.h>
#include <stdio.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "cli_util.h"
#include "vm_domain.h"

#define LIBVIRT_SONAME "libvirt.so.0"

struct libvirt {
	void *so;
	typeof(&virSetErrorFunc) set_error_func;
	typeof(&virGetLastError) last_error;
	typeof(&virConnectOpenReadOnly) open;
	typeof(&virConnectClose) close;
	typeof(&virDomainLookupByName) lookup;
	typeof(&virDomainGetUUIDString) uuid;
	typeof(&virDomainFree) free_domain;
};

static int domain_error(int status, const char *fmt, const char *name, const char *why)
{
	struct kt_err err = { .check = "vm" };
	int len = snprintf(err.msg, sizeof(err.msg), fmt, name);

	if (len >= 0 && (size_t)len < sizeof(err.msg))
		snprintf(err.msg + len, sizeof(err.msg) - (size_t)len, ": %s", why);
	return cli_error(NULL, &err, status);
}

static int load(struct libvirt *v, const char *name)
{
	v->so = dlopen(LIBVIRT_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!v->so)
		return domain_error(KT_EXIT_UNAVAILABLE, "cannot look up domain '%s' without libvirt "
				    "(install libvirt0)", name, dlerror());
	v->set_error_func = (typeof(v->set_error_func))dlsym(v->so, "virSetErrorFunc");
	v->last_error = (typeof(v->last_error))dlsym(v->so, "virGetLastError");
	v->open = (typeof(v->open))dlsym(v->so, "virConnectOpenReadOnly");
	v->close = (typeof(v->close))dlsym(v->so, "virConnectClose");
	v->lookup = (typeof(v->lookup))dlsym(v->so, "virDomainLookupByName");
	v->uuid = (typeof(v->uuid))dlsym(v->so, "virDomainGetUUIDString");
	v->free_domain = (typeof(v->free_domain))dlsym(v->so, "virDomainFree");
	if (v->set_error_func && v->last_error && v->open && v->close && v->lookup && v->uuid &&
	    v->free_domain)
		return KT_EXIT_OK;
	dlclose(v->so);
	return domain_error(KT_EXIT_UNAVAILABLE, "cannot look up domain '%s': " LIBVIRT_SONAME
			    " lacks", name, "virConnectOpenReadOnly and the like");
}

/* libvirt prints every error on stderr by default; ours say what to do instead. */
static void quiet(void *data, virErrorPtr error)
{
	(void)data;
	(void)error;
}

static const char *why(const struct libvirt *v)
{
	virErrorPtr e = v->last_error();

	return e && e->message ? e->message : "unknown libvirt error";
}

int vm_domain_uuid(const char *name, char uuid[KT_UUID_STR_LEN + 1])
{
	char text[VIR_UUID_STRING_BUFLEN];
	struct libvirt v = { 0 };
	virConnectPtr conn;
	virDomainPtr dom;
	virErrorPtr e;
	int ret;

	ret = load(&v, name);
	if (ret)
		return ret;
	v.set_error_func(NULL, quiet);
	conn = v.open(NULL);
	if (!conn) {
		ret = domain_error(KT_EXIT_UNAVAILABLE, "cannot ask libvirt (set LIBVIRT_DEFAULT_URI?) "
				   "for domain '%s'", name, why(&v));
		goto out;
	}
	dom = v.lookup(conn, name);
	if (!dom) {
		e = v.last_error();
		ret = domain_error(e && e->code == VIR_ERR_NO_DOMAIN ? KT_EXIT_NOT_FOUND :
				   KT_EXIT_FAILURE, "no libvirt domain '%s'", name, why(&v));
	} else if (v.uuid(dom, text) || kt_uuid_canonical(text, uuid)) {
		ret = domain_error(KT_EXIT_FAILURE, "no UUID for libvirt domain '%s'", name, why(&v));
	}
	if (dom)
		v.free_domain(dom);
	v.close(conn);
out:
	dlclose(v.so);
	return ret;
}
