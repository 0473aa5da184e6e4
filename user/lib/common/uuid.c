// SPDX-License-Identifier: GPL-2.0
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

#include "common/encoding.h"
#include "common/uuid.h"

static bool is_dash_at(size_t i)
{
	return i == 8 || i == 13 || i == 18 || i == 23;
}

bool kt_uuid_valid(const char *uuid)
{
	size_t i;

	if (!uuid || strlen(uuid) != KT_UUID_STR_LEN)
		return false;
	for (i = 0; i < KT_UUID_STR_LEN; i++) {
		if (is_dash_at(i)) {
			if (uuid[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)uuid[i]) || isupper((unsigned char)uuid[i])) {
			return false;
		}
	}
	return true;
}

int kt_uuid_parse(const char *text, uint8_t uuid[KT_UUID_LEN])
{
	char hex[2 * KT_UUID_LEN + 1];
	size_t i, j = 0;

	if (!text || strlen(text) != KT_UUID_STR_LEN)
		return -1;
	for (i = 0; i < KT_UUID_STR_LEN; i++) {
		if (is_dash_at(i)) {
			if (text[i] != '-')
				return -1;
			continue;
		}
		hex[j++] = (char)tolower((unsigned char)text[i]);
	}
	hex[j] = '\0';
	return kt_hex_decode(hex, uuid, KT_UUID_LEN);
}

void kt_uuid_format(const uint8_t u[KT_UUID_LEN], char text[KT_UUID_STR_LEN + 1])
{
	snprintf(text, KT_UUID_STR_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
		 u[12], u[13], u[14], u[15]);
}

int kt_uuid_canonical(const char *text, char out[KT_UUID_STR_LEN + 1])
{
	uint8_t u[KT_UUID_LEN];

	if (kt_uuid_parse(text, u))
		return -1;
	kt_uuid_format(u, out);
	return 0;
}

int kt_uuid_random(char out[KT_UUID_STR_LEN + 1])
{
	uint8_t b[KT_UUID_LEN];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -1;
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	kt_uuid_format(b, out);
	return 0;
}
