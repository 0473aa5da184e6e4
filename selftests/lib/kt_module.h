/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The loaded kvmtrust.ko from the outside: its module parameters
 * (/sys/module/kvmtrust/parameters) and its kernel threads (/proc).
 */
#ifndef KT_MODULE_H
#define KT_MODULE_H

#include <stdbool.h>

/* Reads a parameter into *value: 0 or -errno. */
int kt_param_get(const char *name, unsigned long *value);
/* Sets a parameter; *old (may be NULL) gets the previous value. */
int kt_param_set(const char *name, unsigned long value, unsigned long *old);

/* Whether a kernel thread named comm exists; waits up to timeout_ms for one. */
bool kt_kthread_appears(const char *comm, unsigned int timeout_ms);

#endif
