/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One output path for text, --json and the tab-separated script form, in
 * the spirit of iproute2's print_*(PRINT_ANY, key, fmt, value): a command
 * describes each value once and the mode decides how it appears.
 *
 *   text   : fmt is printf'd with the value (NULL fmt: not shown as text)
 *   json   : one JSON document written at kt_print_end(); key names members
 *   script : the scalar values of each object on one line, tab-separated,
 *            in call order (the column order the man pages document)
 */
#ifndef KVMTRUST_PRINT_H
#define KVMTRUST_PRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum kt_print_mode { KT_PRINT_TEXT, KT_PRINT_JSON, KT_PRINT_SCRIPT };

void kt_print_start(enum kt_print_mode mode);
/* Writes the JSON document (json mode); returns -1 if stdout failed. */
int kt_print_end(void);
bool kt_print_is_json(void);

void kt_print_open_object(const char *key);
void kt_print_close_object(void);
void kt_print_open_array(const char *key);
void kt_print_close_array(void);

void kt_print_string(const char *key, const char *fmt, const char *value);
void kt_print_u64(const char *key, const char *fmt, uint64_t value);
void kt_print_s64(const char *key, const char *fmt, int64_t value);
void kt_print_bool(const char *key, const char *fmt, bool value);
/* A time as ISO 8601 UTC, "2026-11-23T04:00:00Z", in every mode. */
void kt_print_time(const char *key, const char *fmt, int64_t t);
/* Lowercase hex of a byte string. */
void kt_print_hex(const char *key, const char *fmt, const uint8_t *buf, size_t len);
/* Free text, shown in text mode only. */
void kt_print_text(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
