/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one exit-code table of every kvmtrust command, documented in
 * kvmtrust(8). A code means the same in every group: a script can tell
 * "refused by a check or a policy" (10) from "go ahead after a full
 * verification" (11) from "could not run" (1-5), whichever command it ran.
 * Allow is 0 so `if kvmtrust migrate check ...` means "go ahead now".
 */
#ifndef KVMTRUST_EXITCODES_H
#define KVMTRUST_EXITCODES_H

enum {
	KT_EXIT_OK = 0,		/* success; for a decision: allow */
	KT_EXIT_FAILURE = 1,	/* the operation failed; the message says why */
	KT_EXIT_USAGE = 2,	/* bad command line */
	KT_EXIT_NOT_FOUND = 3,	/* the object (VM, key, entry, file) does not exist */
	KT_EXIT_PERM = 4,	/* not permitted (CAP_NET_ADMIN, file mode) */
	KT_EXIT_UNAVAILABLE = 5, /* module, TPM or backend not available */
	KT_EXIT_REFUSED = 10,	/* a check refused; for a decision: deny */
	KT_EXIT_VERIFY_FIRST = 11, /* a decision: allow only after a full verification */
};

#endif
