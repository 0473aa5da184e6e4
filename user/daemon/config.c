// SPDX-License-Identifier: GPL-2.0
/* The strict kvmtrustd.conf parser; the format is in Documentation/kvmtrustd.rst. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/encoding.h"
#include "config.h"
#include "policy/runtime.h"
#include "snapshot/snapshot_restore.h"

struct parser {
	const char *path;
	unsigned long line;
	struct ktd_config *c;
	struct ktd_vm_config *vm;	/* the open section, NULL in the global part */
	bool recv;			/* in the [receive] section */
	unsigned long recv_line;	/* where [receive] opened, 0: nowhere */
	unsigned long incoming_line;	/* where a [vm] first gave incoming, 0: nowhere */
	unsigned int nr_incoming;
	unsigned int seen;		/* keys given in the current part, as bits */
	struct kt_err *err;
	unsigned long action_line[KTD_NR_ON];	/* where on_* named hook, 0: nowhere */
	unsigned long rollback_line;		/* where on_fail named rollback, 0: nowhere */
	unsigned long discover_line;		/* where discover = yes, 0: nowhere */
	unsigned long discover_policy_line;	/* where discover_policy is, 0: nowhere */
	unsigned int *actions;			/* the on_* list being parsed */
};

#define bad(p, ...) parse_fail(p, __VA_ARGS__)

static int __attribute__((format(printf, 2, 3))) parse_fail(struct parser *p, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return kt_fail(p->err, "config", "%s:%lu: %s", p->path, p->line, msg);
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static int set_string(struct parser *p, char **dst, const char *key, const char *v)
{
	if (!*v)
		return bad(p, "'%s' needs a value", key);
	*dst = strdup(v);
	return *dst ? 0 : bad(p, "out of memory");
}

static int set_interval(struct parser *p, const char *v)
{
	unsigned long n;
	char *end;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (!isdigit((unsigned char)*v) || *end || errno || n < 1 || n > 86400)
		return bad(p, "interval '%s' is not a number of seconds from 1 to 86400", v);
	p->c->interval = (unsigned int)n;
	return 0;
}

static const char *const global_keys[] = {
	"interval", "ledger", "ledger_ca", "ledger_key", "ledger_cert", "key_dir", "tcti", "socket",
	"owner_anchors", "doorbell_port", "event_cr", "event_msr", "event_threshold",
	"trigger_min_gap_ms", "hook", "state_dir", "on_fail", "on_score_below_75",
	"on_score_below_50", "snapshot_store", "discover", "discover_policy", "discover_max",
	"libvirt_run_dir",
};
enum { K_STRINGS_END = 9, K_DOORBELL = 9, K_CR, K_MSR, K_THRESHOLD, K_GAP, K_HOOK, K_STATE_DIR,
       K_ON_FAIL, K_SNAPSHOT_STORE = K_ON_FAIL + KTD_NR_ON, K_DISCOVER, K_DISCOVER_POLICY,
       K_DISCOVER_MAX, K_LIBVIRT_RUN_DIR };
static const char *const vm_keys[] = { "pid", "uuid", "memory_root", "policy", "libvirt", "qmp",
				       "incoming", "token_out" };
enum { V_PID, V_UUID, V_ROOT, V_POLICY, V_LIBVIRT, V_QMP, V_INCOMING, V_TOKEN_OUT };
static const char *const receive_keys[] = {
	"listen", "key", "cert", "anchors", "crls", "aud", "owner_crls", "host_anchors", "host_crls",
	"expect_config_root", "session_timeout",
};
enum { R_LISTEN, R_KEY, R_CERT, R_ANCHORS, R_CRLS, R_AUD, R_OWNER_CRLS, R_HOST_ANCHORS,
       R_HOST_CRLS, R_EXPECT_CONFIG, R_TIMEOUT };
/* What `kvmtrust migrate receive` cannot do without. */
#define R_REQUIRED ((1u << R_LISTEN) | (1u << R_KEY) | (1u << R_CERT) | (1u << R_ANCHORS) | \
		    (1u << R_CRLS) | (1u << R_AUD) | (1u << R_HOST_ANCHORS))

static int key_index(const char *const *keys, size_t n, const char *key)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(keys[i], key))
			return (int)i;
	return -1;
}

/* A number from min to max, decimal or 0x-prefixed hex. */
static int set_uint(struct parser *p, const char *key, const char *v, unsigned long min,
		    unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(v, &end, 0);
	if (!isdigit((unsigned char)*v) || *end || errno || *out < min || *out > max)
		return bad(p, "%s '%s' is not a number from %lu to %lu", key, v, min, max);
	return 0;
}

static int set_uint_key(struct parser *p, int k, const char *v, unsigned long min,
			unsigned long max, unsigned int *dst)
{
	unsigned long n;

	if (set_uint(p, global_keys[k], v, min, max, &n))
		return -1;
	*dst = (unsigned int)n;
	return 0;
}

/* Splits a comma-separated list in place; fn is called for each item. */
static int each_item(struct parser *p, const char *key, char *v,
		     int (*fn)(struct parser *p, const char *item))
{
	char *save = NULL, *item;
	int n = 0;

	if (!*v)
		return bad(p, "'%s' needs a value", key);
	if (*v == ',' || v[strlen(v) - 1] == ',' || strstr(v, ",,"))
		return bad(p, "'%s' has an empty item", key);
	for (item = strtok_r(v, ",", &save); item; item = strtok_r(NULL, ",", &save), n++) {
		item = trim(item);
		if (!*item)
			return bad(p, "'%s' has an empty item", key);
		if (fn(p, item))
			return -1;
	}
	return n ? 0 : bad(p, "'%s' needs a value", key);
}

static int add_cr(struct parser *p, const char *item)
{
	if (strcmp(item, "0") && strcmp(item, "3") && strcmp(item, "4") && strcmp(item, "8"))
		return bad(p, "event_cr '%s' is not 0, 3, 4 or 8", item);
	p->c->event_cr_mask |= 1u << atoi(item);
	return 0;
}

static int add_msr(struct parser *p, const char *item)
{
	unsigned long n;
	size_t i;

	if (set_uint(p, "event_msr", item, 0, 0xffffffffUL, &n))
		return -1;
	for (i = 0; i < p->c->nr_event_msrs; i++)
		if (p->c->event_msrs[i] == n)
			return bad(p, "event_msr %s is given twice", item);
	if (p->c->nr_event_msrs == KTD_MAX_MSRS)
		return bad(p, "event_msr lists more than %d MSRs", KTD_MAX_MSRS);
	p->c->event_msrs[p->c->nr_event_msrs++] = (uint32_t)n;
	return 0;
}

const char *const ktd_action_names[KTD_NR_ACTIONS] = {
	"log", "hook", "freeze", "nonmigratable", "rollback",
};

static int add_action(struct parser *p, const char *item)
{
	const char *const *names = ktd_action_names;
	unsigned int i;

	if (!strcmp(item, "none"))
		return 0;
	for (i = 0; i < KTD_NR_ACTIONS; i++)
		if (!strcmp(item, names[i])) {
			*p->actions |= 1u << i;
			return 0;
		}
	return bad(p, "action '%s' is not log, hook, freeze, nonmigratable, rollback or none", item);
}

static int set_path(struct parser *p, char **dst, const char *key, const char *v)
{
	if (*v != '/')
		return bad(p, "%s '%s' is not an absolute path", key, v);
	free(*dst);
	*dst = NULL;
	return set_string(p, dst, key, v);
}

/* A runtime integrity policy file, read and checked now (Documentation/policy.rst). */
static int load_policy(struct parser *p, const char *key, const char *v, struct kt_rp_policy *pol)
{
	struct kt_err err = { 0 };

	if (*v != '/')
		return bad(p, "%s '%s' is not an absolute path", key, v);
	if (kt_rp_load(v, pol, &err))
		return bad(p, "%s: %s", key, err.msg);
	return 0;
}

static int global_key(struct parser *p, int k, char *v)
{
	struct ktd_config *c = p->c;
	char **dst[] = { NULL, &c->ledger, &c->ledger_ca, &c->ledger_key, &c->ledger_cert,
			 &c->key_dir, &c->tcti, &c->socket, &c->owner_anchors };
	if (k == 0)
		return set_interval(p, v);
	if (k < K_STRINGS_END) {
		free(*dst[k]);
		*dst[k] = NULL;
		return set_string(p, dst[k], global_keys[k], v);
	}
	switch (k) {
	case K_DOORBELL:
		return set_uint_key(p, k, v, 1, 0xffff, &c->doorbell_port);
	case K_CR:
		return each_item(p, "event_cr", v, add_cr);
	case K_MSR:
		return each_item(p, "event_msr", v, add_msr);
	case K_THRESHOLD:
		return set_uint_key(p, k, v, 1, 1000000, &c->event_threshold);
	case K_GAP:
		return set_uint_key(p, k, v, 0, 3600000, &c->trigger_min_gap_ms);
	case K_HOOK:
		if (set_path(p, &c->hook, "hook", v))
			return -1;
		return access(v, X_OK) ? bad(p, "hook '%s' is not executable: %s", v,
					     strerror(errno)) : 0;
	case K_STATE_DIR:
		return set_path(p, &c->state_dir, "state_dir", v);
	case K_SNAPSHOT_STORE:
		return set_path(p, &c->snapshot_store, "snapshot_store", v);
	case K_DISCOVER:
		if (strcmp(v, "yes") && strcmp(v, "no"))
			return bad(p, "discover '%s' is neither yes nor no", v);
		c->discover = !strcmp(v, "yes");
		p->discover_line = c->discover ? p->line : 0;
		return 0;
	case K_DISCOVER_POLICY:
		p->discover_policy_line = p->line;
		return load_policy(p, "discover_policy", v, &c->discover_policy);
	case K_DISCOVER_MAX:
		return set_uint_key(p, k, v, 1, KTD_DISCOVER_MAX_LIMIT, &c->discover_max);
	case K_LIBVIRT_RUN_DIR:
		return set_path(p, &c->libvirt_run_dir, "libvirt_run_dir", v);
	default:
		p->actions = &c->actions[k - K_ON_FAIL];
		*p->actions = 0;
		if (each_item(p, global_keys[k], v, add_action))
			return -1;
		if (*p->actions & KTD_ACT_HOOK)
			p->action_line[k - K_ON_FAIL] = p->line;
		if ((*p->actions & KTD_ACT_ROLLBACK) && k != K_ON_FAIL)
			return bad(p, "%s: the action rollback is for on_fail only", global_keys[k]);
		if (*p->actions & KTD_ACT_ROLLBACK)
			p->rollback_line = p->line;
		return 0;
	}
}

/*
 * A libvirt domain: its UUID (canonical), or a name that is safe as a file
 * name in libvirt_run_dir (NAME.xml), as libvirt's own names are.
 */
static int set_libvirt(struct parser *p, const char *v)
{
	char uuid[KT_UUID_STR_LEN + 1];

	if (!kt_uuid_canonical(v, uuid)) {
		strcpy(p->vm->libvirt, uuid);
		return 0;
	}
	if (!*v || strlen(v) > KTD_LIBVIRT_NAME_MAX || *v == '.' || strchr(v, '/'))
		return bad(p, "libvirt '%s' is neither a UUID nor a domain name (1 to %d "
			   "characters, no '/', not starting with '.')", v, KTD_LIBVIRT_NAME_MAX);
	strcpy(p->vm->libvirt, v);
	return 0;
}

static int vm_key(struct parser *p, int k, const char *v)
{
	struct ktd_vm_config *vm = p->vm;
	unsigned long n;
	char *end;

	switch (k) {
	case V_PID:
		errno = 0;
		n = strtoul(v, &end, 10);
		if (!isdigit((unsigned char)*v) || *end || errno || n < 1 || n > 4194304)
			return bad(p, "pid '%s' is not a process id", v);
		vm->pid = (pid_t)n;
		return 0;
	case V_UUID:
		if (kt_uuid_canonical(v, vm->uuid))
			return bad(p, "uuid '%s' is not a UUID", v);
		return 0;
	case V_POLICY:
		if (load_policy(p, "policy", v, &vm->policy))
			return -1;
		vm->has_policy = true;
		return 0;
	case V_LIBVIRT:
		return set_libvirt(p, v);
	case V_QMP:
	case V_INCOMING:
	case V_TOKEN_OUT:
		if (*v != '/' || strlen(v) > KTD_SOCK_PATH_MAX || strchr(v, ','))
			return bad(p, "%s '%s' is not an absolute path of at most %d characters "
				   "without ','", vm_keys[k], v, KTD_SOCK_PATH_MAX);
		strcpy(k == V_QMP ? vm->qmp : k == V_INCOMING ? vm->incoming : vm->token_out, v);
		if (k == V_INCOMING && !p->incoming_line)
			p->incoming_line = p->line;
		if (k == V_INCOMING && ++p->nr_incoming > KTD_INCOMING_MAX)
			return bad(p, "more than %d [vm] sections give incoming", KTD_INCOMING_MAX);
		return 0;
	default:
		if (!strcmp(v, "learn")) {
			vm->learn = true;
			return 0;
		}
		if (strlen(v) != 2 * KT_HASH_LEN || kt_hex_decode(v, vm->memory_root, KT_HASH_LEN))
			return bad(p, "memory_root '%s' is neither 'learn' nor 64 hex digits", v);
		return 0;
	}
}

/* A section is complete when it names its guest and what it must measure. */
static int close_section(struct parser *p)
{
	const unsigned int root = 1u << V_ROOT, policy = 1u << V_POLICY;

	if (!p->vm)
		return 0;
	if (p->vm->libvirt[0] && (p->vm->pid || p->vm->uuid[0]))
		return bad(p, "[vm %s] names its guest twice: give libvirt, or pid and uuid",
			   p->vm->name);
	if (!p->vm->pid && !p->vm->uuid[0] && !p->vm->libvirt[0])
		return bad(p, "[vm %s] names no guest: give pid, uuid or libvirt", p->vm->name);
	if (!(p->seen & (root | policy)))
		return bad(p, "[vm %s] has no memory_root (64 hex digits or 'learn') or policy",
			   p->vm->name);
	if ((p->seen & root) && (p->seen & policy))
		return bad(p, "[vm %s] has both memory_root and policy: give one", p->vm->name);
	if (!p->vm->qmp[0] != !p->vm->incoming[0])
		return bad(p, "[vm %s] gives %s without %s: an incoming guest needs both",
			   p->vm->name, p->vm->qmp[0] ? "qmp" : "incoming",
			   p->vm->qmp[0] ? "incoming" : "qmp");
	if (p->vm->token_out[0] && !p->vm->incoming[0])
		return bad(p, "[vm %s] gives token_out but no incoming", p->vm->name);
	if (p->vm->incoming[0] && (!p->vm->uuid[0] || p->vm->pid || p->vm->libvirt[0]))
		return bad(p, "[vm %s] awaits a migration: name it by uuid alone (its QEMU's -uuid)",
			   p->vm->name);
	return 0;
}

/* [receive]: the options `kvmtrust migrate receive` needs, all given. */
static int close_receive(struct parser *p)
{
	unsigned int missing = R_REQUIRED & ~p->seen;
	int k;

	if (!p->recv)
		return 0;
	p->recv = false;
	for (k = 0; missing; k++)
		if (missing & (1u << k))
			return bad(p, "[receive] has no %s", receive_keys[k]);
	return 0;
}

static int receive_key(struct parser *p, int k, const char *v)
{
	struct ktd_receive_config *r = &p->c->recv;
	char **dst[] = { &r->listen, &r->key, &r->cert, &r->anchors, &r->crls, &r->aud,
			 &r->owner_crls, &r->host_anchors, &r->host_crls, &r->expect_config_root };
	const char *colon = strrchr(v, ':');
	unsigned long n;

	switch (k) {
	case R_LISTEN:
		if (!strncmp(v, "unix:", 5) ? v[5] != '/' || strlen(v + 5) > KTD_SOCK_PATH_MAX :
		    !colon || colon == v || !isdigit((unsigned char)colon[1]) ||
		    strspn(colon + 1, "0123456789") != strlen(colon + 1))
			return bad(p, "listen '%s' is neither ADDR:PORT nor unix:/PATH", v);
		return set_string(p, dst[k], "listen", v);
	case R_AUD:
		return set_string(p, dst[k], "aud", v);
	case R_EXPECT_CONFIG:
		if (strlen(v) != 2 * KT_HASH_LEN || strspn(v, "0123456789abcdefABCDEF") != strlen(v))
			return bad(p, "expect_config_root '%s' is not 64 hex digits", v);
		return set_string(p, dst[k], "expect_config_root", v);
	case R_TIMEOUT:
		if (set_uint(p, "session_timeout", v, 10, 86400, &n))
			return -1;
		r->session_timeout = (unsigned int)n;
		return 0;
	default:
		if (set_path(p, dst[k], receive_keys[k], v))
			return -1;
		return access(v, R_OK) ? bad(p, "%s '%s': %s", receive_keys[k], v,
					     strerror(errno)) : 0;
	}
}

static int open_section(struct parser *p, char *s)
{
	struct ktd_config *c = p->c;
	struct ktd_vm_config *vms;
	size_t len = strlen(s), i;
	char *name;

	p->vm = NULL;
	p->seen = 0;
	if (!strcmp(s, "[receive]")) {
		if (p->recv_line)
			return bad(p, "[receive] is given twice");
		p->recv = true;
		p->recv_line = p->line;
		return 0;
	}
	if (s[len - 1] != ']' || strncmp(s, "[vm ", 4))
		return bad(p, "'%s' is not a section: expected [vm NAME] or [receive]", s);
	s[len - 1] = '\0';
	name = trim(s + 4);
	if (!*name || strlen(name) > KTD_NAME_MAX || strpbrk(name, " \t[]"))
		return bad(p, "VM name '%s' must be 1 to %d characters without blanks or brackets",
			   name, KTD_NAME_MAX);
	for (i = 0; i < c->nr_vms; i++)
		if (!strcmp(c->vms[i].name, name))
			return bad(p, "[vm %s] is given twice", name);
	vms = realloc(c->vms, (c->nr_vms + 1) * sizeof(*vms));
	if (!vms)
		return bad(p, "out of memory");
	c->vms = vms;
	p->vm = &vms[c->nr_vms++];
	memset(p->vm, 0, sizeof(*p->vm));
	strcpy(p->vm->name, name);
	p->seen = 0;
	return 0;
}

static int parse_line(struct parser *p, char *line)
{
	char *s = trim(line), *eq, *key, *v;
	int k;

	if (!*s || *s == '#')
		return 0;
	if (*s == '[')
		return close_section(p) ?: close_receive(p) ?: open_section(p, s);
	eq = strchr(s, '=');
	if (!eq)
		return bad(p, "expected 'key = value', '[vm NAME]' or '[receive]'");
	*eq = '\0';
	key = trim(s);
	v = trim(eq + 1);
	k = p->vm ? key_index(vm_keys, sizeof(vm_keys) / sizeof(vm_keys[0]), key) :
	    p->recv ? key_index(receive_keys, sizeof(receive_keys) / sizeof(receive_keys[0]), key) :
		    key_index(global_keys, sizeof(global_keys) / sizeof(global_keys[0]), key);
	if (k < 0)
		return bad(p, "unknown key '%s'%s", key, p->vm ? " in a [vm] section" :
			   p->recv ? " in the [receive] section" : "");
	if (p->seen & (1u << k))
		return bad(p, "'%s' is given twice", key);
	p->seen |= 1u << k;
	return p->vm ? vm_key(p, k, v) : p->recv ? receive_key(p, k, v) : global_key(p, k, v);
}

/*
 * The rollback action restores a guest from snapshot_store: the store must
 * be there and hold a snapshot of every guest, which is found by its uuid.
 * Whether one verifies is judged when a rollback runs (the store changes).
 */
static int check_rollback(struct parser *p)
{
	struct ktd_config *c = p->c;
	struct kt_err sub = { 0 };
	struct stat st;
	char **ids;
	size_t i, nr;

	if (!p->rollback_line)
		return 0;
	p->line = p->rollback_line;
	if (!c->snapshot_store)
		return bad(p, "on_fail names the action rollback but no snapshot_store is set");
	if (stat(c->snapshot_store, &st))
		return bad(p, "snapshot_store '%s': %s", c->snapshot_store, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return bad(p, "snapshot_store '%s' is not a directory", c->snapshot_store);
	for (i = 0; i < c->nr_vms; i++) {
		const struct ktd_vm_config *vm = &c->vms[i];

		if (!vm->uuid[0])
			return bad(p, "rollback: [vm %s] has no uuid, by which its snapshots are "
				   "found", vm->name);
		if (kt_snap_list_vm(c->snapshot_store, vm->uuid, &ids, &nr, &sub))
			return bad(p, "rollback: %s", sub.msg);
		kt_snap_list_free(ids, nr);
		if (!nr)
			return bad(p, "rollback: snapshot_store '%s' holds no snapshot of [vm %s] "
				   "(uuid %s)", c->snapshot_store, vm->name, vm->uuid);
	}
	return 0;
}

/* The ledger is written with a host's certificate: all four are needed. */
static int check_global(struct parser *p)
{
	struct ktd_config *c = p->c;
	int i;

	if (!c->ledger || !c->ledger_ca || !c->ledger_key || !c->ledger_cert)
		return kt_fail(p->err, "config",
			       "%s: ledger, ledger_ca, ledger_key and ledger_cert are required",
			       p->path);
	for (i = 0; i < KTD_NR_ON; i++) {
		if (p->action_line[i] && !c->hook) {
			p->line = p->action_line[i];
			return bad(p, "%s names the action hook but no hook is set",
				   global_keys[K_ON_FAIL + i]);
		}
	}
	if (p->discover_line && !p->discover_policy_line) {
		p->line = p->discover_line;
		return bad(p, "discover = yes needs discover_policy: what a discovered guest must "
			   "hold to pass");
	}
	if (p->discover_policy_line && !p->discover_line) {
		p->line = p->discover_policy_line;
		return bad(p, "discover_policy is given but discover is not yes");
	}
	if (p->incoming_line && !p->recv_line) {
		p->line = p->incoming_line;
		return bad(p, "incoming is given but there is no [receive] section to receive it");
	}
	if (p->recv_line && !p->incoming_line) {
		p->line = p->recv_line;
		return bad(p, "[receive] is given but no [vm] section has incoming");
	}
	if (p->recv_line && !c->owner_anchors) {
		p->line = p->recv_line;
		return bad(p, "[receive] needs owner_anchors: the grants are the owners'");
	}
	if (!c->recv.session_timeout)
		c->recv.session_timeout = KTD_SESSION_TIMEOUT_DEFAULT;
	if (!c->socket && set_string(p, &c->socket, "socket", KTD_SOCKET_DEFAULT))
		return -1;
	if (!c->libvirt_run_dir &&
	    set_string(p, &c->libvirt_run_dir, "libvirt_run_dir", KTD_LIBVIRT_RUN_DIR_DEFAULT))
		return -1;
	if (!c->state_dir && set_string(p, &c->state_dir, "state_dir", KTD_STATE_DIR_DEFAULT))
		return -1;
	return check_rollback(p);
}

int ktd_config_load(const char *path, struct ktd_config *c, struct kt_err *err)
{
	struct parser p = { .path = path, .c = c, .err = err };
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;
	int ret = 0;

	memset(c, 0, sizeof(*c));
	c->interval = KTD_INTERVAL_DEFAULT;
	c->event_threshold = 1;
	c->trigger_min_gap_ms = KTD_MIN_GAP_MS_DEFAULT;
	c->discover_max = KTD_DISCOVER_MAX_DEFAULT;
	for (int i = 0; i < KTD_NR_ON; i++)
		c->actions[i] = KTD_ACT_LOG;
	f = fopen(path, "re");
	if (!f)
		return kt_fail(err, "config", "%s: %s", path, strerror(errno));
	while (!ret && (n = getline(&line, &cap, f)) > 0) {
		p.line++;
		if (strlen(line) != (size_t)n)
			ret = bad(&p, "NUL byte in the line");
		else
			ret = parse_line(&p, line);
	}
	if (!ret && ferror(f))
		ret = kt_fail(err, "config", "%s: read error", path);
	if (!ret)
		ret = close_section(&p) ?: close_receive(&p) ?: check_global(&p);
	free(line);
	fclose(f);
	if (ret)
		ktd_config_free(c);
	return ret;
}

void ktd_config_free(struct ktd_config *c)
{
	free(c->ledger);
	free(c->ledger_ca);
	free(c->ledger_key);
	free(c->ledger_cert);
	free(c->key_dir);
	free(c->tcti);
	free(c->socket);
	free(c->owner_anchors);
	free(c->hook);
	free(c->state_dir);
	free(c->snapshot_store);
	free(c->libvirt_run_dir);
	free(c->recv.listen);
	free(c->recv.key);
	free(c->recv.cert);
	free(c->recv.anchors);
	free(c->recv.crls);
	free(c->recv.aud);
	free(c->recv.owner_crls);
	free(c->recv.host_anchors);
	free(c->recv.host_crls);
	free(c->recv.expect_config_root);
	free(c->vms);
	memset(c, 0, sizeof(*c));
}
