// SPDX-License-Identifier: GPL-2.0
/* The selftests' kvmtrust netlink client; see kt_genl.h. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>

#include "kt_genl.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

static void replies_free(struct kt_genl *g)
{
	while (g->nr_replies)
		nlmsg_free(g->replies[--g->nr_replies]);
}

int kt_genl_open(struct kt_genl *g)
{
	int one = 1, ret;

	memset(g, 0, sizeof(*g));
	g->sk = nl_socket_alloc();
	if (!g->sk)
		return -ENOMEM;
	ret = genl_connect(g->sk);
	if (ret < 0)
		goto err;
	nl_socket_disable_auto_ack(g->sk);
	/* libnl 3.7 has no extack API: ask the kernel directly. */
	setsockopt(nl_socket_get_fd(g->sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(nl_socket_get_fd(g->sk), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	g->family = genl_ctrl_resolve(g->sk, KVMTRUST_GENL_NAME);
	if (g->family < 0) {
		ret = g->family == -NLE_OBJ_NOTFOUND ? -ENOENT : -EIO;
		nl_socket_free(g->sk);
		g->sk = NULL;
		return ret;
	}
	return 0;
err:
	nl_socket_free(g->sk);
	g->sk = NULL;
	return -EIO;
}

void kt_genl_close(struct kt_genl *g)
{
	replies_free(g);
	if (g->sk)
		nl_socket_free(g->sk);
	if (g->events)
		nl_socket_free(g->events);
	g->sk = g->events = NULL;
}

struct nl_msg *kt_genl_msg(struct kt_genl *g, uint8_t cmd, int flags)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (msg && !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, g->family, 0, flags, cmd,
				KVMTRUST_GENL_VERSION)) {
		nlmsg_free(msg);
		msg = NULL;
	}
	return msg;
}

/* The TLVs after a capped nlmsgerr carry the extack message. */
static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)((char *)e - NLMSG_HDRLEN);
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	struct kt_genl *g = arg;
	size_t off = sizeof(*e);
	int len;

	(void)nla;
	g->err = e->error;
	g->done = true;
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return NL_STOP;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	len = (int)nlh->nlmsg_len - NLMSG_HDRLEN - (int)off;
	if (len > 0 && !nla_parse(tb, NLMSGERR_ATTR_MAX, (struct nlattr *)((char *)e + off), len,
				  NULL) && tb[NLMSGERR_ATTR_MSG])
		snprintf(g->extack, sizeof(g->extack), "%s", (char *)nla_data(tb[NLMSGERR_ATTR_MSG]));
	return NL_STOP;
}

static int on_valid(struct nl_msg *msg, void *arg)
{
	struct kt_genl *g = arg;

	if (g->nr_replies < KT_MAX_REPLIES) {
		nlmsg_get(msg);
		g->replies[g->nr_replies++] = msg;
	}
	return NL_OK;
}

/*
 * The end of a request. A dump that fails says so in its NLMSG_DONE: an
 * errno, then the extack TLVs.
 */
static int on_stop(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	struct kt_genl *g = arg;
	int len = nlmsg_datalen(nlh) - (int)sizeof(int);

	g->done = true;
	if (nlh->nlmsg_type != NLMSG_DONE || len < 0 || *(int *)nlmsg_data(nlh) >= 0)
		return NL_STOP;
	g->err = *(int *)nlmsg_data(nlh);
	if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) && len > 0 &&
	    !nla_parse(tb, NLMSGERR_ATTR_MAX, (struct nlattr *)((char *)nlmsg_data(nlh) + sizeof(int)),
		       len, NULL) && tb[NLMSGERR_ATTR_MSG])
		snprintf(g->extack, sizeof(g->extack), "%s", (char *)nla_data(tb[NLMSGERR_ATTR_MSG]));
	return NL_STOP;
}

int kt_genl_request(struct kt_genl *g, struct nl_msg *msg)
{
	struct nl_cb *cb;
	int ret;

	replies_free(g);
	g->err = 0;
	g->extack[0] = '\0';
	if (!msg)
		return g->err = -ENOMEM;
	/* A dump ends with NLMSG_DONE; everything else is acked. */
	if (!(nlmsg_hdr(msg)->nlmsg_flags & NLM_F_DUMP))
		nlmsg_hdr(msg)->nlmsg_flags |= NLM_F_ACK;
	ret = nl_send_auto(g->sk, msg);
	nlmsg_free(msg);
	if (ret < 0)
		return g->err = -EIO;
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb)
		return g->err = -ENOMEM;
	nl_cb_err(cb, NL_CB_CUSTOM, on_error, g);
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, g);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, on_stop, g);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, on_stop, g);
	/* nl_recvmsgs returns after each datagram: the ack comes separately. */
	g->done = false;
	do
		ret = nl_recvmsgs(g->sk, cb);
	while (ret >= 0 && !g->done);
	nl_cb_put(cb);
	if (ret < 0 && !g->err)
		g->err = -EIO;
	return g->err;
}

int kt_genl_reply_attrs(struct kt_genl *g, unsigned int i, struct nlattr **tb)
{
	if (i >= g->nr_replies)
		return -ENOENT;
	return genlmsg_parse(nlmsg_hdr(g->replies[i]), 0, tb, KVMTRUST_A_MAX, NULL) ? -EINVAL : 0;
}

int kt_genl_attach(struct kt_genl *g, int vm_fd, const int *vcpu_fds, unsigned int nr_vcpu_fds,
		   uint32_t *vm_id)
{
	struct nl_msg *msg = kt_genl_msg(g, KVMTRUST_CMD_VM_ATTACH, 0);
	struct nlattr *tb[KVMTRUST_A_MAX + 1], *nest;
	unsigned int i;

	if (!msg)
		return -ENOMEM;
	nla_put_u32(msg, KVMTRUST_A_VM_FD, vm_fd);
	if (nr_vcpu_fds) {
		nest = nla_nest_start(msg, KVMTRUST_A_VCPU_FDS);
		for (i = 0; i < nr_vcpu_fds; i++)
			nla_put_u32(msg, KVMTRUST_VCPU_A_FD, vcpu_fds[i]);
		nla_nest_end(msg, nest);
	}
	if (kt_genl_request(g, msg))
		return g->err;
	if (kt_genl_reply_attrs(g, 0, tb) || !tb[KVMTRUST_A_VM_ID])
		return -EPROTO;
	*vm_id = nla_get_u32(tb[KVMTRUST_A_VM_ID]);
	return 0;
}

int kt_genl_detach(struct kt_genl *g, uint32_t vm_id)
{
	struct nl_msg *msg = kt_genl_msg(g, KVMTRUST_CMD_VM_DETACH, 0);

	if (msg)
		nla_put_u32(msg, KVMTRUST_A_VM_ID, vm_id);
	return kt_genl_request(g, msg);
}

static void copy_hash(struct nlattr *a, uint8_t *out, bool *present)
{
	if (!a || nla_len(a) != KVMTRUST_HASH_LEN)
		return;
	memcpy(out, nla_data(a), KVMTRUST_HASH_LEN);
	if (present)
		*present = true;
}

/* A MEASURE_GET reply or a notification; -EPROTO if it is malformed. */
static int parse_measurement(struct nlattr **tb, struct kt_measurement *m)
{
	bool has_memory_root = false;

	memset(m, 0, sizeof(*m));
	if (!tb[KVMTRUST_A_VM_ID] || !tb[KVMTRUST_A_MEASURE_ID] || !tb[KVMTRUST_A_MEASURE_STATE])
		return -EPROTO;
	m->vm_id = nla_get_u32(tb[KVMTRUST_A_VM_ID]);
	m->measure_id = nla_get_u64(tb[KVMTRUST_A_MEASURE_ID]);
	m->done = nla_get_u32(tb[KVMTRUST_A_MEASURE_STATE]) == KVMTRUST_MEASURE_DONE;
	if (!m->done)
		return 0;
	if (tb[KVMTRUST_A_ERROR]) {
		m->error = (int32_t)nla_get_u32(tb[KVMTRUST_A_ERROR]);
		return m->error < 0 ? 0 : -EPROTO;
	}
	if (!tb[KVMTRUST_A_SEQ] || !tb[KVMTRUST_A_PAGES])
		return -EPROTO;
	m->seq = nla_get_u64(tb[KVMTRUST_A_SEQ]);
	m->pages = nla_get_u64(tb[KVMTRUST_A_PAGES]);
	if (tb[KVMTRUST_A_VCPU_COUNT])
		m->vcpu_count = nla_get_u32(tb[KVMTRUST_A_VCPU_COUNT]);
	if (tb[KVMTRUST_A_NS])
		m->ns = nla_get_u64(tb[KVMTRUST_A_NS]);
	if (tb[KVMTRUST_A_HASH_DRIVER])
		snprintf(m->hash_driver, sizeof(m->hash_driver), "%s",
			 nla_get_string(tb[KVMTRUST_A_HASH_DRIVER]));
	if (tb[KVMTRUST_A_TREE_NOTE])
		snprintf(m->tree_note, sizeof(m->tree_note), "%s",
			 nla_get_string(tb[KVMTRUST_A_TREE_NOTE]));
	if (!tb[KVMTRUST_A_LEAF_FORMAT] || !tb[KVMTRUST_A_ZERO_PAGES] || !tb[KVMTRUST_A_TREE] ||
	    !tb[KVMTRUST_A_TREE_BYTES] || !tb[KVMTRUST_A_WORK_BYTES])
		return -EPROTO;
	m->leaf_format = nla_get_u32(tb[KVMTRUST_A_LEAF_FORMAT]);
	m->zero_pages = nla_get_u64(tb[KVMTRUST_A_ZERO_PAGES]);
	m->tree = nla_get_u32(tb[KVMTRUST_A_TREE]);
	m->tree_bytes = nla_get_u64(tb[KVMTRUST_A_TREE_BYTES]);
	m->work_bytes = nla_get_u64(tb[KVMTRUST_A_WORK_BYTES]);
	m->threads = tb[KVMTRUST_A_THREADS] ? nla_get_u32(tb[KVMTRUST_A_THREADS]) : 0;
	m->unchanged = tb[KVMTRUST_A_MEMORY_UNCHANGED];
	copy_hash(tb[KVMTRUST_A_MEMORY_ROOT], m->memory_root, &has_memory_root);
	copy_hash(tb[KVMTRUST_A_VCPU_ROOT], m->vcpu_root, &m->has_vcpu_root);
	return has_memory_root ? 0 : -EPROTO;
}

/* The measurement's own failure, told like a refusal. */
static int measurement_outcome(struct kt_genl *g, struct kt_measurement *m, struct nlattr **tb)
{
	g->err = m->error;
	if (m->error && tb[KVMTRUST_A_ERROR_MSG])
		snprintf(g->extack, sizeof(g->extack), "%s",
			 nla_get_string(tb[KVMTRUST_A_ERROR_MSG]));
	return g->err;
}

int kt_genl_measure_get(struct kt_genl *g, uint32_t vm_id, struct kt_measurement *m)
{
	struct nl_msg *msg = kt_genl_msg(g, KVMTRUST_CMD_MEASURE_GET, 0);
	struct nlattr *tb[KVMTRUST_A_MAX + 1];
	int ret;

	memset(m, 0, sizeof(*m));
	if (msg)
		nla_put_u32(msg, KVMTRUST_A_VM_ID, vm_id);
	if (kt_genl_request(g, msg))
		return g->err;
	if (kt_genl_reply_attrs(g, 0, tb))
		return -EPROTO;
	ret = parse_measurement(tb, m);
	if (ret)
		return ret;
	if (m->done && m->error && tb[KVMTRUST_A_ERROR_MSG])
		snprintf(g->extack, sizeof(g->extack), "%s",
			 nla_get_string(tb[KVMTRUST_A_ERROR_MSG]));
	return 0;
}

int kt_genl_join_measure(struct kt_genl *g)
{
	int grp, ret;

	if (g->events)
		return 0;
	grp = genl_ctrl_resolve_grp(g->sk, KVMTRUST_GENL_NAME, KVMTRUST_MCGRP_MEASURE);
	if (grp < 0)
		return -ENOENT;
	g->events = nl_socket_alloc();
	if (!g->events)
		return -ENOMEM;
	nl_socket_disable_seq_check(g->events);
	ret = genl_connect(g->events);
	if (!ret)
		ret = nl_socket_set_nonblocking(g->events);
	if (!ret)
		ret = nl_socket_add_membership(g->events, grp);
	if (ret) {
		nl_socket_free(g->events);
		g->events = NULL;
		return ret == -NLE_PERM ? -EPERM : -EIO;
	}
	return 0;
}

int kt_genl_measure_start(struct kt_genl *g, uint32_t vm_id, uint32_t flags, uint64_t *measure_id)
{
	struct nlattr *tb[KVMTRUST_A_MAX + 1];
	struct nl_msg *msg;
	int ret;

	ret = kt_genl_join_measure(g);
	if (ret) {
		g->extack[0] = '\0';
		return g->err = ret;
	}
	msg = kt_genl_msg(g, KVMTRUST_CMD_MEASURE, 0);
	if (msg) {
		nla_put_u32(msg, KVMTRUST_A_VM_ID, vm_id);
		if (flags)
			nla_put_u32(msg, KVMTRUST_A_MEASURE_FLAGS, flags);
	}
	if (kt_genl_request(g, msg))
		return g->err;
	if (kt_genl_reply_attrs(g, 0, tb) || !tb[KVMTRUST_A_MEASURE_ID] ||
	    nla_get_u32(tb[KVMTRUST_A_VM_ID]) != vm_id)
		return -EPROTO;
	*measure_id = nla_get_u64(tb[KVMTRUST_A_MEASURE_ID]);
	return 0;
}

struct waiting {
	uint32_t vm_id;
	uint64_t measure_id;
	struct kt_genl *g;
	struct kt_measurement *m;
	int ret;			/* 1 once ours arrived, or -errno */
};

static int on_event(struct nl_msg *msg, void *arg)
{
	struct nlattr *tb[KVMTRUST_A_MAX + 1];
	struct kt_measurement m;
	struct waiting *w = arg;

	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, KVMTRUST_A_MAX, NULL) ||
	    genlmsg_hdr(nlmsg_hdr(msg))->cmd != KVMTRUST_CMD_MEASURE_NTF) {
		w->ret = -EPROTO;
		return NL_STOP;
	}
	if (parse_measurement(tb, &m)) {
		w->ret = -EPROTO;
		return NL_STOP;
	}
	if (m.vm_id != w->vm_id || m.measure_id != w->measure_id)
		return NL_OK;
	if (!m.done) {
		w->ret = -EPROTO;	/* notifications announce only the end */
		return NL_STOP;
	}
	*w->m = m;
	measurement_outcome(w->g, w->m, tb);
	w->ret = 1;
	return NL_STOP;
}

int kt_genl_measure_wait(struct kt_genl *g, uint32_t vm_id, uint64_t measure_id,
			 struct kt_measurement *m)
{
	struct waiting w = { .vm_id = vm_id, .measure_id = measure_id, .g = g, .m = m };
	struct pollfd pfd = { .fd = nl_socket_get_fd(g->events), .events = POLLIN };
	struct nl_cb *cb = nl_cb_alloc(NL_CB_CUSTOM);
	int ret;

	if (!cb)
		return g->err = -ENOMEM;
	g->err = 0;
	g->extack[0] = '\0';
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_event, &w);
	while (!w.ret) {
		ret = poll(&pfd, 1, 1000);
		if (ret > 0) {
			do
				ret = nl_recvmsgs_report(g->events, cb);
			while (ret > 0 && !w.ret);
			if (ret >= 0 || w.ret)
				continue;
		}
		/* A second without news, or news lost: ask, like the CLI. */
		ret = kt_genl_measure_get(g, vm_id, m);
		if (ret)
			w.ret = ret;
		else if (m->measure_id != measure_id)
			w.ret = -ESTALE;
		else if (m->done)
			w.ret = 1, g->err = m->error;
	}
	nl_cb_put(cb);
	if (w.ret < 0)
		return g->err = w.ret;
	return g->err;
}

int kt_genl_measure(struct kt_genl *g, uint32_t vm_id, uint32_t flags, struct kt_measurement *m)
{
	uint64_t id;
	int ret;

	memset(m, 0, sizeof(*m));
	ret = kt_genl_measure_start(g, vm_id, flags, &id);
	if (ret)
		return ret;
	return kt_genl_measure_wait(g, vm_id, id, m);
}

int kt_genl_list(struct kt_genl *g, uint32_t *ids, unsigned int max)
{
	struct nlattr *tb[KVMTRUST_A_MAX + 1];
	unsigned int i, n = 0;

	if (kt_genl_request(g, kt_genl_msg(g, KVMTRUST_CMD_VM_GET, NLM_F_DUMP)))
		return g->err;
	for (i = 0; i < g->nr_replies && n < max; i++) {
		if (!kt_genl_reply_attrs(g, i, tb) && tb[KVMTRUST_A_VM_ID])
			ids[n++] = nla_get_u32(tb[KVMTRUST_A_VM_ID]);
	}
	return n;
}

bool kt_genl_listed(struct kt_genl *g, uint32_t vm_id)
{
	uint32_t ids[KT_MAX_REPLIES];
	int n = kt_genl_list(g, ids, KT_MAX_REPLIES), i;

	for (i = 0; i < n; i++)
		if (ids[i] == vm_id)
			return true;
	return false;
}

void kt_hex(const uint8_t *bin, size_t len, char *out)
{
	size_t i;

	for (i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", bin[i]);
}

int kt_genl_measure_until_error(struct kt_genl *g, uint32_t vm_id, int *n)
{
	struct kt_measurement m;
	int ret, done = 0;

	if (kt_genl_open(g))
		_exit(2);
	while (!(ret = kt_genl_measure(g, vm_id, 0, &m)))
		done++;
	if (n)
		*n = done;
	return ret;
}
