/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Exit status of `kvmtrust migrate check`, one per decision (kvmtrust-migrate(8)).
 * Allow is 0 so `if kvmtrust migrate check ...` means "go ahead now"; every
 * other decision, including allow-after-full-verification, stops a script
 * that does not handle it.
 */
#ifndef KVMTRUST_MIGRATE_EXIT_H
#define KVMTRUST_MIGRATE_EXIT_H

#include "exitcodes.h"

enum {
	KT_EXIT_MIGRATE_ALLOW = KT_EXIT_OK,
	KT_EXIT_MIGRATE_VERIFY = KT_EXIT_DECISION_BASE,		/* 10 */
	KT_EXIT_MIGRATE_DENY = KT_EXIT_DECISION_BASE + 1,	/* 11 */
	KT_EXIT_MIGRATE_ERROR = KT_EXIT_DECISION_BASE + 2,	/* 12 */
};

#endif
