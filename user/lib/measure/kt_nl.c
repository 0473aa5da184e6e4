// SPDX-License-Identifier: GPL-2.0
/*
 * libnl-genl-3 client of the kvmtrust family. Requests go out with
 * NLM_F_ACK; the error callback turns the kernel's extended ack (enabled
 * on the socket with NETLINK_EXT_ACK) into "Error: <message>".
 *
 * A measurement is asynchronous (include/uapi/linux/kvmtrust.h): a second
 * socket, joined to the "measure" group before the request goes out, gets
 * the notification that ends it. Multicast is unsequenced and may be lost
 * to a receive buffer overrun, so that socket has no sequence check, and
 * a second without news asks KVMTRUST_CMD_MEASURE_GET instead.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include "measure/kt_nl.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

/* How long to wait for a notification before asking for the result. */
#define MEASURE_POLL_MS 1000

struct kt_nl {
	struct nl_sock *sock;
	int family;
	struct nl_sock *events;	/* joined to "measure" at the first measurement */
};

/* One request: what to do with each reply and how it ended. */
struct request {
	int (*parse)(struct nlattr **tb, void *arg);
	/* If set, also gets every top-level attribute (repeated ones). */
	int (*each)(const struct nlattr *a, void *arg);
	void *arg;
	bool done;
	int error;		/* negative errno from the kernel, or 0 */
	char extack[256];
};

struct kt_nl *kt_nl_open(struct kt_err *err)
{
	struct kt_nl *nl = calloc(1, sizeof(*nl));
	int one = 1;

	if (!nl) {
		kt_fail(err, "netlink", "Unable to open netlink: %s", strerror(ENOMEM));
		return NULL;
	}
	nl->sock = nl_socket_alloc();
	if (!nl->sock || genl_connect(nl->sock)) {
		kt_fail(err, "netlink", "Unable to open a generic netlink socket");
		goto err_free;
	}
	setsockopt(nl_socket_get_fd(nl->sock), SOL_NETLINK, NETLINK_EXT_ACK,
		   &one, sizeof(one));
	setsockopt(nl_socket_get_fd(nl->sock), SOL_NETLINK, NETLINK_CAP_ACK,
		   &one, sizeof(one));
	nl->family = genl_ctrl_resolve(nl->sock, KVMTRUST_GENL_NAME);
	if (nl->family < 0) {
		kt_fail(err, "netlink",
			"kvmtrust module is not loaded: run 'modprobe kvmtrust'");
		goto err_free;
	}
	return nl;

err_free:
	if (nl->sock)
		nl_socket_free(nl->sock);
	free(nl);
	return NULL;
}

void kt_nl_close(struct kt_nl *nl)
{
	if (!nl)
		return;
	if (nl->events)
		nl_socket_free(nl->events);
	nl_socket_free(nl->sock);
	free(nl);
}

static int on_valid(struct nl_msg *msg, void *arg)
{
	struct request *req = arg;
	struct nlattr *tb[KVMTRUST_A_MAX + 1];

	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, KVMTRUST_A_MAX, NULL))
		return NL_SKIP;
	if (req->parse && req->parse(tb, req->arg))
		req->error = -EPROTO;
	if (req->each) {
		struct nlattr *a;
		int rem;

		nla_for_each_attr(a, genlmsg_attrdata(nlmsg_data(nlmsg_hdr(msg)), 0),
				  genlmsg_attrlen(nlmsg_data(nlmsg_hdr(msg)), 0), rem) {
			if (req->each(a, req->arg))
				req->error = -EPROTO;
		}
	}
	return NL_OK;
}

static int on_finish(struct nl_msg *msg, void *arg)
{
	struct request *req = arg;

	(void)msg;
	req->done = true;
	return NL_STOP;
}

/* The extended ack TLVs follow the (capped) original header. */
static void read_extack(const struct nlmsgerr *e, char *out, size_t len)
{
	const struct nlmsghdr *nlh = (const void *)((const char *)e - NLMSG_HDRLEN);
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	size_t off = sizeof(*e);

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	if (NLMSG_HDRLEN + off >= nlh->nlmsg_len)
		return;
	if (nla_parse(tb, NLMSGERR_ATTR_MAX, (struct nlattr *)((char *)e + off),
		      nlh->nlmsg_len - NLMSG_HDRLEN - off, NULL))
		return;
	if (tb[NLMSGERR_ATTR_MSG])
		snprintf(out, len, "%s", nla_get_string(tb[NLMSGERR_ATTR_MSG]));
}

static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct request *req = arg;

	(void)nla;
	req->error = e->error;
	req->done = true;
	if (e->error)
		read_extack(e, req->extack, sizeof(req->extack));
	return NL_STOP;
}

/*
 * Sends msg (consumed) and reads replies until the ack, the end of the
 * dump or an error. what: "<verb> <object>" for messages without extack.
 */
static int transact(struct kt_nl *nl, struct nl_msg *msg, struct request *req,
		    const char *what, struct kt_err *err)
{
	struct nl_cb *cb = nl_cb_alloc(NL_CB_CUSTOM);
	int ret;

	if (!cb) {
		nlmsg_free(msg);
		kt_fail(err, "netlink", "Unable to %s: %s", what, strerror(ENOMEM));
		return -ENOMEM;
	}
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, req);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, on_finish, req);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, on_finish, req);
	nl_cb_err(cb, NL_CB_CUSTOM, on_error, req);

	ret = nl_send_auto(nl->sock, msg);
	nlmsg_free(msg);
	while (ret >= 0 && !req->done)
		ret = nl_recvmsgs(nl->sock, cb);
	nl_cb_put(cb);
	/* An error ack also makes nl_recvmsgs fail: the ack is the answer. */
	if (ret < 0 && !req->done) {
		kt_fail(err, "netlink", "Unable to %s: %s", what, nl_geterror(ret));
		return -EIO;
	}
	if (req->error && req->extack[0]) {
		kt_fail(err, "netlink", "Error: %s", req->extack);
	} else if (req->error) {
		kt_fail(err, "netlink", "Unable to %s: %s", what,
			strerror(-req->error));
	}
	return req->error;
}

static struct nl_msg *new_request(struct kt_nl *nl, uint8_t cmd, int flags)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (msg && !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, nl->family, 0,
				flags, cmd, KVMTRUST_GENL_VERSION)) {
		nlmsg_free(msg);
		msg = NULL;
	}
	return msg;
}

static int no_memory(struct kt_err *err, const char *what)
{
	kt_fail(err, "netlink", "Unable to %s: %s", what, strerror(ENOMEM));
	return -ENOMEM;
}

/* One request naming a VM by its id, the way most commands do. */
static int vm_transact(struct kt_nl *nl, uint8_t cmd, uint32_t vm_id, struct request *req,
		       const char *what, struct kt_err *err)
{
	struct nl_msg *msg = new_request(nl, cmd, 0);

	if (!msg || nla_put_u32(msg, KVMTRUST_A_VM_ID, vm_id)) {
		nlmsg_free(msg);
		return no_memory(err, what);
	}
	return transact(nl, msg, req, what, err);
}

static void copy_string(char *dst, size_t len, const struct nlattr *attr)
{
	if (attr)
		snprintf(dst, len, "%s", nla_get_string(attr));
}

static uint32_t get_u32(struct nlattr **tb, int type)
{
	return tb[type] ? nla_get_u32(tb[type]) : 0;
}

static uint64_t get_u64(struct nlattr **tb, int type)
{
	return tb[type] ? nla_get_u64(tb[type]) : 0;
}

static int parse_info(struct nlattr **tb, void *arg)
{
	struct kt_info *info = arg;

	copy_string(info->version, sizeof(info->version), tb[KVMTRUST_A_VERSION]);
	copy_string(info->hash_alg, sizeof(info->hash_alg), tb[KVMTRUST_A_HASH_ALG]);
	copy_string(info->hash_driver, sizeof(info->hash_driver),
		    tb[KVMTRUST_A_HASH_DRIVER]);
	info->features = get_u32(tb, KVMTRUST_A_FEATURES);
	return 0;
}

int kt_nl_get_info(struct kt_nl *nl, struct kt_info *out, struct kt_err *err)
{
	struct request req = { .parse = parse_info, .arg = out };
	struct nl_msg *msg = new_request(nl, KVMTRUST_CMD_GET_INFO, 0);

	memset(out, 0, sizeof(*out));
	if (!msg)
		return no_memory(err, "query the module");
	return transact(nl, msg, &req, "query the module", err);
}

static void read_vm(struct nlattr **tb, struct kt_vm *vm)
{
	vm->vm_id = get_u32(tb, KVMTRUST_A_VM_ID);
	vm->vmm_pid = get_u32(tb, KVMTRUST_A_VMM_PID);
	vm->vcpu_count = get_u32(tb, KVMTRUST_A_VCPU_COUNT);
	vm->vcpu_fds_held = get_u32(tb, KVMTRUST_A_VCPU_FDS_HELD);
	vm->mem_bytes = get_u64(tb, KVMTRUST_A_MEM_BYTES);
	vm->seq = get_u64(tb, KVMTRUST_A_SEQ);
}

static int parse_vm(struct nlattr **tb, void *arg)
{
	if (!tb[KVMTRUST_A_VM_ID])
		return -1;
	read_vm(tb, arg);
	return 0;
}

int kt_nl_vm_attach(struct kt_nl *nl, int vm_fd, const int *vcpu_fds,
		    size_t nr_vcpu_fds, struct kt_vm *out, struct kt_err *err)
{
	struct request req = { .parse = parse_vm, .arg = out };
	struct nl_msg *msg = new_request(nl, KVMTRUST_CMD_VM_ATTACH, 0);
	struct nlattr *nest;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (!msg || nla_put_u32(msg, KVMTRUST_A_VM_FD, vm_fd))
		goto err_nomem;
	if (nr_vcpu_fds) {
		nest = nla_nest_start(msg, KVMTRUST_A_VCPU_FDS | NLA_F_NESTED);
		if (!nest)
			goto err_nomem;
		for (i = 0; i < nr_vcpu_fds; i++) {
			if (nla_put_u32(msg, KVMTRUST_VCPU_A_FD, vcpu_fds[i]))
				goto err_nomem;
		}
		nla_nest_end(msg, nest);
	}
	return transact(nl, msg, &req, "attach the vm", err);

err_nomem:
	nlmsg_free(msg);
	return no_memory(err, "attach the vm");
}

int kt_nl_vm_get(struct kt_nl *nl, uint32_t vm_id, struct kt_vm *out,
		 struct kt_err *err)
{
	struct request req = { .parse = parse_vm, .arg = out };

	memset(out, 0, sizeof(*out));
	return vm_transact(nl, KVMTRUST_CMD_VM_GET, vm_id, &req, "query the vm", err);
}

struct vm_list {
	struct kt_vm *vms;
	size_t nr, cap;
};

static int parse_vm_list(struct nlattr **tb, void *arg)
{
	struct vm_list *list = arg;
	struct kt_vm *grown;

	if (!tb[KVMTRUST_A_VM_ID])
		return -1;
	if (list->nr == list->cap) {
		list->cap = list->cap ? 2 * list->cap : 16;
		grown = realloc(list->vms, list->cap * sizeof(*grown));
		if (!grown)
			return -1;
		list->vms = grown;
	}
	read_vm(tb, &list->vms[list->nr++]);
	return 0;
}

int kt_nl_vm_list(struct kt_nl *nl, struct kt_vm **vms, size_t *nr,
		  struct kt_err *err)
{
	struct vm_list list = { 0 };
	struct request req = { .parse = parse_vm_list, .arg = &list };
	struct nl_msg *msg = new_request(nl, KVMTRUST_CMD_VM_GET, NLM_F_DUMP);
	int ret;

	if (!msg)
		return no_memory(err, "list vms");
	ret = transact(nl, msg, &req, "list vms", err);
	if (ret) {
		free(list.vms);
		return ret;
	}
	*vms = list.vms;
	*nr = list.nr;
	return 0;
}

int kt_nl_vm_detach(struct kt_nl *nl, uint32_t vm_id, struct kt_err *err)
{
	struct request req = { 0 };

	return vm_transact(nl, KVMTRUST_CMD_VM_DETACH, vm_id, &req, "detach the vm", err);
}

static int parse_measurement(struct nlattr **tb, void *arg)
{
	struct kt_measurement *m = arg;

	if (!tb[KVMTRUST_A_MEMORY_ROOT] ||
	    nla_len(tb[KVMTRUST_A_MEMORY_ROOT]) != KVMTRUST_HASH_LEN)
		return -1;
	memcpy(m->memory_root, nla_data(tb[KVMTRUST_A_MEMORY_ROOT]),
	       KVMTRUST_HASH_LEN);
	if (tb[KVMTRUST_A_VCPU_ROOT]) {
		if (nla_len(tb[KVMTRUST_A_VCPU_ROOT]) != KVMTRUST_HASH_LEN)
			return -1;
		memcpy(m->vcpu_root, nla_data(tb[KVMTRUST_A_VCPU_ROOT]),
		       KVMTRUST_HASH_LEN);
		m->has_vcpu_root = true;
	}
	m->vm_id = get_u32(tb, KVMTRUST_A_VM_ID);
	m->seq = get_u64(tb, KVMTRUST_A_SEQ);
	m->pages = get_u64(tb, KVMTRUST_A_PAGES);
	m->ns = get_u64(tb, KVMTRUST_A_NS);
	m->vcpus = get_u32(tb, KVMTRUST_A_VCPU_COUNT);
	copy_string(m->hash_driver, sizeof(m->hash_driver),
		    tb[KVMTRUST_A_HASH_DRIVER]);
	/* Roots of an unnamed leaf layout cannot be compared with anything. */
	if (!tb[KVMTRUST_A_LEAF_FORMAT])
		return -1;
	m->leaf_format = get_u32(tb, KVMTRUST_A_LEAF_FORMAT);
	m->zero_pages = get_u64(tb, KVMTRUST_A_ZERO_PAGES);
	m->tree_kept = get_u32(tb, KVMTRUST_A_TREE) == KVMTRUST_TREE_RETAINED;
	copy_string(m->tree_note, sizeof(m->tree_note), tb[KVMTRUST_A_TREE_NOTE]);
	m->tree_bytes = get_u64(tb, KVMTRUST_A_TREE_BYTES);
	m->work_bytes = get_u64(tb, KVMTRUST_A_WORK_BYTES);
	m->threads = get_u32(tb, KVMTRUST_A_THREADS);
	m->memory_unchanged = tb[KVMTRUST_A_MEMORY_UNCHANGED];
	m->frozen = tb[KVMTRUST_A_MEASURE_PAUSE_NS];
	m->pause_ns = get_u64(tb, KVMTRUST_A_MEASURE_PAUSE_NS);
	/* A module without incremental measurement hashes every page. */
	m->pages_hashed = tb[KVMTRUST_A_MEASURE_PAGES_HASHED] ?
			  get_u64(tb, KVMTRUST_A_MEASURE_PAGES_HASHED) : m->pages;
	m->full = !tb[KVMTRUST_A_MEASURE_FULL] ||
		  nla_get_u8(tb[KVMTRUST_A_MEASURE_FULL]);
	return 0;
}

/* Where one measurement stands, from the notification or MEASURE_GET. */
struct measure_wait {
	uint32_t vm_id;
	uint64_t measure_id;
	bool done;
	int error;		/* the measurement's negative errno, or 0 */
	char msg[256];
	int parse_error;
	struct kt_measurement *out;
};

static int parse_started(struct nlattr **tb, void *arg)
{
	struct measure_wait *w = arg;

	if (!tb[KVMTRUST_A_MEASURE_ID])
		return -1;
	w->measure_id = get_u64(tb, KVMTRUST_A_MEASURE_ID);
	return 0;
}

/* Ignores other VMs' and other measurements' news. */
static int parse_state(struct nlattr **tb, void *arg)
{
	struct measure_wait *w = arg;

	if (get_u32(tb, KVMTRUST_A_VM_ID) != w->vm_id ||
	    get_u64(tb, KVMTRUST_A_MEASURE_ID) != w->measure_id ||
	    get_u32(tb, KVMTRUST_A_MEASURE_STATE) != KVMTRUST_MEASURE_DONE)
		return 0;
	w->done = true;
	if (tb[KVMTRUST_A_ERROR]) {
		w->error = (int32_t)nla_get_u32(tb[KVMTRUST_A_ERROR]);
		copy_string(w->msg, sizeof(w->msg), tb[KVMTRUST_A_ERROR_MSG]);
		return w->error < 0 ? 0 : -1;
	}
	return parse_measurement(tb, w->out);
}

static int on_event(struct nl_msg *msg, void *arg)
{
	struct measure_wait *w = arg;
	struct nlattr *tb[KVMTRUST_A_MAX + 1];

	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, KVMTRUST_A_MAX, NULL))
		return NL_SKIP;
	if (parse_state(tb, w))
		w->parse_error = -EPROTO;
	return NL_OK;
}

static int join_measure_group(struct kt_nl *nl, struct kt_err *err)
{
	int grp, ret;

	if (nl->events)
		return 0;
	grp = genl_ctrl_resolve_grp(nl->sock, KVMTRUST_GENL_NAME, KVMTRUST_MCGRP_MEASURE);
	if (grp < 0) {
		kt_fail(err, "netlink", "The loaded kvmtrust module has no '%s' group: "
			"it predates asynchronous measurement; reload it",
			KVMTRUST_MCGRP_MEASURE);
		return -EPROTONOSUPPORT;
	}
	nl->events = nl_socket_alloc();
	if (!nl->events)
		return no_memory(err, "measure the vm");
	nl_socket_disable_seq_check(nl->events);
	ret = genl_connect(nl->events);
	if (!ret)
		ret = nl_socket_set_nonblocking(nl->events);
	if (!ret)
		ret = nl_socket_add_membership(nl->events, grp);
	if (ret) {
		nl_socket_free(nl->events);
		nl->events = NULL;
		kt_fail(err, "netlink", "Unable to follow measurements: %s", nl_geterror(ret));
		/* Joining needs CAP_NET_ADMIN, like measuring. */
		return ret == -NLE_PERM ? -EPERM : -EIO;
	}
	return 0;
}

/* Reads what the events socket holds; false if notifications were lost. */
static bool read_events(struct kt_nl *nl, struct measure_wait *w)
{
	struct nl_cb *cb = nl_cb_alloc(NL_CB_CUSTOM);
	int ret;

	if (!cb)
		return false;
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_event, w);
	do
		ret = nl_recvmsgs_report(nl->events, cb);
	while (ret > 0 && !w->done);
	nl_cb_put(cb);
	return ret >= 0;
}

/* MEASURE_GET describes the VM's latest measurement, maybe a newer one. */
static int parse_latest(struct nlattr **tb, void *arg)
{
	struct measure_wait *w = arg;

	if (get_u64(tb, KVMTRUST_A_MEASURE_ID) > w->measure_id) {
		/* Ours ended unheard and the next one started: its result is gone. */
		w->done = true;
		w->error = -EAGAIN;
		snprintf(w->msg, sizeof(w->msg), "another measurement of this vm "
			 "replaced the result before it was read; measure again");
		return 0;
	}
	return parse_state(tb, w);
}

static int measure_get(struct kt_nl *nl, struct measure_wait *w, struct kt_err *err)
{
	struct request req = { .parse = parse_latest, .arg = w };

	return vm_transact(nl, KVMTRUST_CMD_MEASURE_GET, w->vm_id, &req, "query the measurement",
			   err);
}

static int wait_measured(struct kt_nl *nl, struct measure_wait *w, struct kt_err *err)
{
	struct pollfd pfd = { .fd = nl_socket_get_fd(nl->events), .events = POLLIN };
	int ret;

	while (!w->done) {
		ret = poll(&pfd, 1, MEASURE_POLL_MS);
		if (ret < 0 && errno != EINTR) {
			kt_fail(err, "netlink", "Unable to wait for the measurement: %s",
				strerror(errno));
			return -errno;
		}
		if (ret > 0 && read_events(nl, w))
			continue;
		/* Quiet for a while, or news were lost: ask. */
		ret = measure_get(nl, w, err);
		if (ret)
			return ret;
		if (w->parse_error)
			break;
	}
	if (w->parse_error) {
		kt_fail(err, "netlink", "Unable to measure the vm: malformed result");
		return -EPROTO;
	}
	if (w->error && w->msg[0])
		kt_fail(err, "netlink", "Error: %s", w->msg);
	else if (w->error)
		kt_fail(err, "netlink", "Unable to measure the vm: %s", strerror(-w->error));
	return w->error;
}

int kt_nl_measure(struct kt_nl *nl, uint32_t vm_id, uint32_t flags,
		  struct kt_measurement *out, struct kt_err *err)
{
	struct measure_wait w = { .vm_id = vm_id, .out = out };
	struct request req = { .parse = parse_started, .arg = &w };
	struct nl_msg *msg;
	int ret;

	memset(out, 0, sizeof(*out));
	/* Joined first: the notification may come before the ack. */
	ret = join_measure_group(nl, err);
	if (ret)
		return ret;
	msg = new_request(nl, KVMTRUST_CMD_MEASURE, 0);
	/* Older strict modules refuse attributes they do not know. */
	if (!msg || nla_put_u32(msg, KVMTRUST_A_VM_ID, vm_id) ||
	    (flags && nla_put_u32(msg, KVMTRUST_A_MEASURE_FLAGS, flags))) {
		nlmsg_free(msg);
		return no_memory(err, "measure the vm");
	}
	ret = transact(nl, msg, &req, "measure the vm", err);
	if (ret)
		return ret;
	if (!w.measure_id) {
		kt_fail(err, "netlink", "Unable to measure the vm: the module named no measurement");
		return -EPROTO;
	}
	return wait_measured(nl, &w, err);
}

static int parse_proof(struct nlattr **tb, void *arg)
{
	struct kt_proof *p = arg;
	size_t len;

	if (!tb[KVMTRUST_A_MEMORY_ROOT] || !tb[KVMTRUST_A_MEASURE_LEAF_HASH] ||
	    !tb[KVMTRUST_A_MEASURE_AUDIT_PATH] || !tb[KVMTRUST_A_MEASURE_LEAF_INDEX] ||
	    !tb[KVMTRUST_A_PAGES] ||
	    nla_len(tb[KVMTRUST_A_MEMORY_ROOT]) != KVMTRUST_HASH_LEN ||
	    nla_len(tb[KVMTRUST_A_MEASURE_LEAF_HASH]) != KVMTRUST_HASH_LEN)
		return -1;
	len = nla_len(tb[KVMTRUST_A_MEASURE_AUDIT_PATH]);
	if (len % KVMTRUST_HASH_LEN || len > sizeof(p->path))
		return -1;
	p->vm_id = get_u32(tb, KVMTRUST_A_VM_ID);
	p->measure_id = get_u64(tb, KVMTRUST_A_MEASURE_ID);
	p->seq = get_u64(tb, KVMTRUST_A_SEQ);
	p->tree_size = get_u64(tb, KVMTRUST_A_PAGES);
	p->leaf_index = get_u64(tb, KVMTRUST_A_MEASURE_LEAF_INDEX);
	memcpy(p->memory_root, nla_data(tb[KVMTRUST_A_MEMORY_ROOT]), KVMTRUST_HASH_LEN);
	memcpy(p->leaf_hash, nla_data(tb[KVMTRUST_A_MEASURE_LEAF_HASH]), KVMTRUST_HASH_LEN);
	memcpy(p->path, nla_data(tb[KVMTRUST_A_MEASURE_AUDIT_PATH]), len);
	p->path_len = len / KVMTRUST_HASH_LEN;
	p->got = true;
	return 0;
}

int kt_nl_measure_prove(struct kt_nl *nl, uint32_t vm_id, uint64_t gpa,
			struct kt_proof *out, struct kt_err *err)
{
	struct request req = { .parse = parse_proof, .arg = out };
	struct nl_msg *msg = new_request(nl, KVMTRUST_CMD_MEASURE_PROVE, 0);
	int ret;

	memset(out, 0, sizeof(*out));
	if (!msg || nla_put_u32(msg, KVMTRUST_A_VM_ID, vm_id) ||
	    nla_put_u64(msg, KVMTRUST_A_MEASURE_GPA, gpa)) {
		nlmsg_free(msg);
		return no_memory(err, "prove the page");
	}
	ret = transact(nl, msg, &req, "prove the page", err);
	if (!ret && !out->got) {
		kt_fail(err, "netlink", "Unable to prove the page: the module sent no proof");
		return -EPROTO;
	}
	return ret;
}

struct memslot_list {
	struct kt_memslot *slots;
	size_t nr;
};

static int parse_slot(struct nlattr *nest, struct kt_memslot *slot)
{
	struct nlattr *tb[KVMTRUST_SLOT_A_MAX + 1];

	if (nla_parse_nested(tb, KVMTRUST_SLOT_A_MAX, nest, NULL) ||
	    !tb[KVMTRUST_SLOT_A_ID] || !tb[KVMTRUST_SLOT_A_GPA] ||
	    !tb[KVMTRUST_SLOT_A_SIZE] || !tb[KVMTRUST_SLOT_A_HVA])
		return -1;
	slot->id = get_u32(tb, KVMTRUST_SLOT_A_ID);
	slot->flags = get_u32(tb, KVMTRUST_SLOT_A_FLAGS);
	slot->gpa = get_u64(tb, KVMTRUST_SLOT_A_GPA);
	slot->size = get_u64(tb, KVMTRUST_SLOT_A_SIZE);
	slot->hva = get_u64(tb, KVMTRUST_SLOT_A_HVA);
	return 0;
}

static int parse_memslots(struct nlattr **tb, void *arg)
{
	struct memslot_list *list = arg;
	struct kt_memslot *grown;
	struct nlattr *a;
	int rem;

	if (!tb[KVMTRUST_A_MEMSLOTS])
		return -1;
	nla_for_each_nested(a, tb[KVMTRUST_A_MEMSLOTS], rem) {
		if (nla_type(a) != KVMTRUST_MEMSLOTS_A_SLOT)
			continue;
		grown = realloc(list->slots, (list->nr + 1) * sizeof(*grown));
		if (!grown)
			return -1;
		list->slots = grown;
		if (parse_slot(a, &list->slots[list->nr++]))
			return -1;
	}
	return 0;
}

int kt_nl_memslots(struct kt_nl *nl, uint32_t vm_id, struct kt_memslot **slots,
		   size_t *nr, struct kt_err *err)
{
	struct memslot_list list = { 0 };
	struct request req = { .parse = parse_memslots, .arg = &list };
	int ret;

	ret = vm_transact(nl, KVMTRUST_CMD_MEMSLOTS_GET, vm_id, &req, "read the vm's memory layout",
			  err);
	if (ret) {
		free(list.slots);
		return ret;
	}
	*slots = list.slots;
	*nr = list.nr;
	return 0;
}

struct vcpu_list {
	struct kt_vcpu_regs *regs;
	size_t nr;
};

static int parse_vstate(struct nlattr *nest, struct kt_vcpu_regs *r)
{
	struct nlattr *tb[KVMTRUST_VSTATE_A_MAX + 1];

	if (nla_parse_nested(tb, KVMTRUST_VSTATE_A_MAX, nest, NULL) ||
	    !tb[KVMTRUST_VSTATE_A_INDEX] || !tb[KVMTRUST_VSTATE_A_ID] ||
	    !tb[KVMTRUST_VSTATE_A_REGS] || !tb[KVMTRUST_VSTATE_A_SREGS] ||
	    nla_len(tb[KVMTRUST_VSTATE_A_REGS]) != sizeof(r->regs) ||
	    nla_len(tb[KVMTRUST_VSTATE_A_SREGS]) != sizeof(r->sregs))
		return -1;
	r->index = nla_get_u32(tb[KVMTRUST_VSTATE_A_INDEX]);
	r->id = nla_get_u32(tb[KVMTRUST_VSTATE_A_ID]);
	memcpy(&r->regs, nla_data(tb[KVMTRUST_VSTATE_A_REGS]), sizeof(r->regs));
	memcpy(&r->sregs, nla_data(tb[KVMTRUST_VSTATE_A_SREGS]), sizeof(r->sregs));
	return 0;
}

static int parse_vcpus(struct nlattr **tb, void *arg)
{
	struct vcpu_list *list = arg;
	struct kt_vcpu_regs *grown;
	struct nlattr *a;
	int rem;

	if (!tb[KVMTRUST_A_VCPU_STATES])
		return -1;
	nla_for_each_nested(a, tb[KVMTRUST_A_VCPU_STATES], rem) {
		if (nla_type(a) != KVMTRUST_VCPU_STATES_A_VCPU)
			continue;
		grown = realloc(list->regs, (list->nr + 1) * sizeof(*grown));
		if (!grown)
			return -1;
		list->regs = grown;
		if (parse_vstate(a, &list->regs[list->nr++]))
			return -1;
	}
	return 0;
}

int kt_nl_vcpu_get(struct kt_nl *nl, uint32_t vm_id, struct kt_vcpu_regs **regs,
		   size_t *nr, struct kt_err *err)
{
	struct vcpu_list list = { 0 };
	struct request req = { .parse = parse_vcpus, .arg = &list };
	int ret;

	ret = vm_transact(nl, KVMTRUST_CMD_VCPU_GET, vm_id, &req, "read the vcpu registers", err);
	if (ret) {
		free(list.regs);
		return ret;
	}
	*regs = list.regs;
	*nr = list.nr;
	return 0;
}

int kt_nl_vcpu_set(struct kt_nl *nl, uint32_t vm_id, const struct kt_vcpu_regs *regs,
		   size_t nr, struct kt_err *err)
{
	struct request req = { 0 };
	struct nl_msg *msg = nlmsg_alloc_size(8192 + nr * (sizeof(*regs) + 64));
	struct nlattr *all, *one;
	size_t i;

	if (!msg || !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, nl->family, 0, 0,
				 KVMTRUST_CMD_VCPU_SET_REGS, KVMTRUST_GENL_VERSION) ||
	    nla_put_u32(msg, KVMTRUST_A_VM_ID, vm_id) ||
	    !(all = nla_nest_start(msg, KVMTRUST_A_VCPU_STATES)))
		goto nomem;
	for (i = 0; i < nr; i++) {
		one = nla_nest_start(msg, KVMTRUST_VCPU_STATES_A_VCPU);
		if (!one || nla_put_u32(msg, KVMTRUST_VSTATE_A_INDEX, regs[i].index) ||
		    nla_put(msg, KVMTRUST_VSTATE_A_REGS, sizeof(regs[i].regs), &regs[i].regs) ||
		    nla_put(msg, KVMTRUST_VSTATE_A_SREGS, sizeof(regs[i].sregs), &regs[i].sregs))
			goto nomem;
		nla_nest_end(msg, one);
	}
	nla_nest_end(msg, all);
	return transact(nl, msg, &req, "write the vcpu registers", err);
nomem:
	nlmsg_free(msg);
	return no_memory(err, "write the vcpu registers");
}

/* The latest measurement's seq and its KVMTRUST_A_MEASURE_VCPU_STATEs. */
struct measured_states {
	bool done_ok;
	uint64_t seq;
	uint8_t *states;
	size_t nr;
};

static int parse_measured(struct nlattr **tb, void *arg)
{
	struct measured_states *ms = arg;

	ms->done_ok = tb[KVMTRUST_A_MEASURE_STATE] && !tb[KVMTRUST_A_ERROR] &&
		      get_u32(tb, KVMTRUST_A_MEASURE_STATE) == KVMTRUST_MEASURE_DONE &&
		      tb[KVMTRUST_A_SEQ];
	ms->seq = ms->done_ok ? get_u64(tb, KVMTRUST_A_SEQ) : 0;
	return 0;
}

static int parse_one_state(const struct nlattr *a, void *arg)
{
	struct measured_states *ms = arg;
	uint8_t *grown;

	if (nla_type(a) != KVMTRUST_A_MEASURE_VCPU_STATE)
		return 0;
	if (nla_len(a) != KVMTRUST_VCPU_STATE_LEN)
		return -1;
	grown = realloc(ms->states, (ms->nr + 1) * KVMTRUST_VCPU_STATE_LEN);
	if (!grown)
		return -1;
	ms->states = grown;
	memcpy(ms->states + ms->nr++ * KVMTRUST_VCPU_STATE_LEN, nla_data(a),
	       KVMTRUST_VCPU_STATE_LEN);
	return 0;
}

int kt_nl_measured_states(struct kt_nl *nl, uint32_t vm_id, uint64_t *seq,
			  uint8_t **states, size_t *nr, struct kt_err *err)
{
	struct measured_states ms = { 0 };
	struct request req = { .parse = parse_measured, .each = parse_one_state, .arg = &ms };
	int ret;

	ret = vm_transact(nl, KVMTRUST_CMD_MEASURE_GET, vm_id, &req,
			  "read the measured vcpu states", err);
	if (ret) {
		free(ms.states);
		return ret;
	}
	*seq = ms.seq;
	*states = ms.states;
	*nr = ms.nr;
	return 0;
}
