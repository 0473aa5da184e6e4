/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The selftests' own kvmtrust netlink client, built on libnl for framing.
 * It is deliberately separate from the CLI's user/lib/kt_nl: tests must be
 * able to send what a correct client never would (wrong lengths, unknown
 * attributes and flags) and must see the kernel's errno and extack text
 * exactly as sent, to assert both.
 */
#ifndef KT_GENL_H
#define KT_GENL_H

#include <stdbool.h>
#include <stdint.h>
#include <netlink/netlink.h>
#include <netlink/genl/genl.h>
#include <linux/kvmtrust.h>

#define KT_MAX_REPLIES 16

struct kt_genl {
	struct nl_sock *sk;
	int family;
	/* Joined to the "measure" group at the first measurement. */
	struct nl_sock *events;
	/* Outcome of the last request. */
	int err;			/* 0 or -errno from the kernel's ack */
	char extack[256];		/* extack message, "" when none */
	bool done;			/* the ack or NLMSG_DONE arrived */
	unsigned int nr_replies;
	struct nl_msg *replies[KT_MAX_REPLIES];
};

struct kt_measurement {
	uint32_t vm_id;
	uint64_t measure_id;
	bool done;			/* KVMTRUST_MEASURE_DONE */
	int error;			/* KVMTRUST_A_ERROR, 0 on success */
	uint64_t seq;
	uint8_t memory_root[KVMTRUST_HASH_LEN];
	uint8_t vcpu_root[KVMTRUST_HASH_LEN];
	bool has_vcpu_root;
	uint64_t pages;
	uint32_t vcpu_count;
	uint64_t ns;
	char hash_driver[64];
	uint32_t leaf_format;
	uint64_t zero_pages;
	uint32_t tree;			/* enum kvmtrust_tree */
	char tree_note[128];
	uint64_t tree_bytes;
	uint64_t work_bytes;
	uint32_t threads;
	bool unchanged;			/* KVMTRUST_A_MEMORY_UNCHANGED */
};

/* 0, -ENOENT when the family is not registered, or another -errno. */
int kt_genl_open(struct kt_genl *g);
void kt_genl_close(struct kt_genl *g);

/* A request with the family header filled; add attributes with nla_put*. */
struct nl_msg *kt_genl_msg(struct kt_genl *g, uint8_t cmd, int flags);
/* Sends and frees msg, keeps every reply; returns g->err. */
int kt_genl_request(struct kt_genl *g, struct nl_msg *msg);
/* Attributes of reply i (strictly within the family's attribute range). */
int kt_genl_reply_attrs(struct kt_genl *g, unsigned int i, struct nlattr **tb);

int kt_genl_attach(struct kt_genl *g, int vm_fd, const int *vcpu_fds, unsigned int nr_vcpu_fds,
		   uint32_t *vm_id);
int kt_genl_detach(struct kt_genl *g, uint32_t vm_id);
/*
 * A whole measurement: start, then wait for its notification. A failure
 * of the measurement itself reads like a refusal of the request: its errno
 * is returned and its message is in g->extack.
 */
int kt_genl_measure(struct kt_genl *g, uint32_t vm_id, uint32_t flags, struct kt_measurement *m);
/* Joins the "measure" group (needs CAP_NET_ADMIN); measuring does it first. */
int kt_genl_join_measure(struct kt_genl *g);
/* The two halves: the request (joins the group first), and the wait. */
int kt_genl_measure_start(struct kt_genl *g, uint32_t vm_id, uint32_t flags, uint64_t *measure_id);
int kt_genl_measure_wait(struct kt_genl *g, uint32_t vm_id, uint64_t measure_id,
			 struct kt_measurement *m);
/* KVMTRUST_CMD_MEASURE_GET: the VM's latest measurement, done or not. */
int kt_genl_measure_get(struct kt_genl *g, uint32_t vm_id, struct kt_measurement *m);

/*
 * For a child process racing its parent: opens g and measures vm_id until a
 * measurement fails; returns that -errno (g->extack says why), the number
 * that succeeded before it in *n (n may be NULL). _exit(2) when g does not
 * open.
 */
int kt_genl_measure_until_error(struct kt_genl *g, uint32_t vm_id, int *n);
/* Fills ids with every attached VM (at most max); returns the count or -errno. */
int kt_genl_list(struct kt_genl *g, uint32_t *ids, unsigned int max);

/* Whether the dump lists vm_id. */
bool kt_genl_listed(struct kt_genl *g, uint32_t vm_id);

void kt_hex(const uint8_t *bin, size_t len, char *out);

#endif
