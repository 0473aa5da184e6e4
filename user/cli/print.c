// SPDX-License-Identifier: GPL-2.0
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "common/encoding.h"
#include "print.h"

#define MAX_DEPTH 16

static enum kt_print_mode mode;
static json_t *stack[MAX_DEPTH];
static int depth;
/* Script mode: whether the current line already holds a field. */
static bool line_started;

void kt_print_start(enum kt_print_mode m)
{
	mode = m;
	depth = 0;
	line_started = false;
}

bool kt_print_is_json(void)
{
	return mode == KT_PRINT_JSON;
}

static void json_add(const char *key, json_t *value)
{
	json_t *parent;

	if (!value)
		abort();
	if (depth == 0) {
		/* A bare top-level value becomes the document. */
		stack[depth++] = value;
		return;
	}
	parent = stack[depth - 1];
	if (json_is_array(parent))
		json_array_append_new(parent, value);
	else
		json_object_set_new(parent, key ? key : "", value);
}

static void script_field(const char *text)
{
	printf("%s%s", line_started ? "\t" : "", text);
	line_started = true;
}

static void script_end_line(void)
{
	if (line_started)
		putchar('\n');
	line_started = false;
}

static void open_container(const char *key, json_t *container)
{
	if (mode == KT_PRINT_JSON) {
		if (depth >= MAX_DEPTH)
			abort();
		if (depth == 0) {
			stack[depth++] = container;
			return;
		}
		json_incref(container);
		json_add(key, container);
		stack[depth++] = container;
		json_decref(container);
		return;
	}
	json_decref(container);
	if (mode == KT_PRINT_SCRIPT)
		script_end_line();
	depth++;
}

static void close_container(void)
{
	if (mode == KT_PRINT_SCRIPT)
		script_end_line();
	if (depth > 1 || mode != KT_PRINT_JSON)
		depth--;
}

void kt_print_open_object(const char *key)
{
	open_container(key, json_object());
}

void kt_print_close_object(void)
{
	close_container();
}

void kt_print_open_array(const char *key)
{
	open_container(key, json_array());
}

void kt_print_close_array(void)
{
	close_container();
}

int kt_print_end(void)
{
	if (mode == KT_PRINT_JSON && depth > 0) {
		json_dumpf(stack[0], stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(stack[0]);
		depth = 0;
	}
	if (mode == KT_PRINT_SCRIPT)
		script_end_line();
	return fflush(stdout) || ferror(stdout) ? -1 : 0;
}

static void print_text(const char *fmt, const char *as_string)
{
	if (fmt)
		printf(fmt, as_string);
}

void kt_print_string(const char *key, const char *fmt, const char *value)
{
	switch (mode) {
	case KT_PRINT_JSON:
		json_add(key, value ? json_string(value) : json_null());
		break;
	case KT_PRINT_SCRIPT:
		script_field(value ? value : "-");
		break;
	default:
		print_text(fmt, value ? value : "(none)");
	}
}

/* Numbers: JSON gets an integer, text and script the decimal digits. */
static void print_number(const char *key, const char *fmt, json_int_t json_value,
			 const char *digits)
{
	if (mode == KT_PRINT_JSON)
		json_add(key, json_integer(json_value));
	else if (mode == KT_PRINT_SCRIPT)
		script_field(digits);
	else
		print_text(fmt, digits);
}

void kt_print_u64(const char *key, const char *fmt, uint64_t value)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRIu64, value);
	print_number(key, fmt, (json_int_t)value, buf);
}

void kt_print_s64(const char *key, const char *fmt, int64_t value)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRId64, value);
	print_number(key, fmt, value, buf);
}

void kt_print_bool(const char *key, const char *fmt, bool value)
{
	if (mode == KT_PRINT_JSON)
		json_add(key, json_boolean(value));
	else if (mode == KT_PRINT_SCRIPT)
		script_field(value ? "true" : "false");
	else
		print_text(fmt, value ? "yes" : "no");
}

void kt_print_time(const char *key, const char *fmt, int64_t t)
{
	char buf[KT_TIME_ISO_LEN];

	kt_print_string(key, fmt, kt_time_iso(t, buf));
}

void kt_print_hex(const char *key, const char *fmt, const uint8_t *buf, size_t len)
{
	char *hex = malloc(2 * len + 1);

	if (!hex)
		abort();
	kt_hex_encode(buf, len, hex);
	kt_print_string(key, fmt, hex);
	free(hex);
}

void kt_print_text(const char *fmt, ...)
{
	va_list ap;

	if (mode != KT_PRINT_TEXT)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}
