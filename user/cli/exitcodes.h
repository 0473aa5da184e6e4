/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Exit codes shared by every kvmtrust command; documented in kvmtrust(8).
 * Decision commands (verify, migrate check, score show) add their own codes
 * starting at KT_EXIT_DECISION_BASE so a script can tell "refused by policy"
 * from "could not run".
 */
#ifndef KVMTRUST_EXITCODES_H
#define KVMTRUST_EXITCODES_H

enum {
	KT_EXIT_OK = 0,
	KT_EXIT_FAILURE = 1,	/* the operation failed; the message says why */
	KT_EXIT_USAGE = 2,	/* bad command line */
	KT_EXIT_NOT_FOUND = 3,	/* the object (VM, key, entry, file) does not exist */
	KT_EXIT_PERM = 4,	/* not permitted (CAP_NET_ADMIN, file mode) */
	KT_EXIT_UNAVAILABLE = 5, /* module, TPM or backend not available */
	KT_EXIT_DECISION_BASE = 10,
};

#endif
