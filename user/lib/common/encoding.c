// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "common/encoding.h"

void kt_hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

const char *kt_time_iso(int64_t t, char buf[KT_TIME_ISO_LEN])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(buf, KT_TIME_ISO_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, KT_TIME_ISO_LEN, "@%lld", (long long)t);
	return buf;
}

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int kt_hex_decode(const char *in, uint8_t *out, size_t out_len)
{
	size_t i;
	int hi, lo;

	if (strlen(in) != 2 * out_len)
		return -1;
	for (i = 0; i < out_len; i++) {
		hi = hex_nibble(in[2 * i]);
		lo = hex_nibble(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

char *kt_b64_encode(const uint8_t *in, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);

	if (out)
		EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return out;
}

char *kt_b64url_encode(const uint8_t *in, size_t len)
{
	char *out = kt_b64_encode(in, len);
	char *p;

	if (!out)
		return NULL;
	for (p = out; *p; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
		else if (*p == '=') {
			*p = '\0';
			break;
		}
	}
	return out;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * EVP_DecodeBlock skips whitespace and cannot say how much padding it saw,
 * so validate the text first and compute the length ourselves.
 */
uint8_t *kt_b64_decode(const char *in, size_t in_len, size_t *out_len)
{
	size_t pad = 0, i, data_len;
	uint8_t *out;
	int n, last;

	if (in_len == 0 || in_len % 4)
		return NULL;
	if (in[in_len - 1] == '=')
		pad = in[in_len - 2] == '=' ? 2 : 1;
	for (i = 0; i < in_len - pad; i++)
		if (b64_value(in[i]) < 0)
			return NULL;
	/* Non-canonical encodings carry set bits in the padding. */
	last = b64_value(in[in_len - pad - 1]);
	if ((pad == 1 && (last & 0x3)) || (pad == 2 && (last & 0xf)))
		return NULL;
	data_len = in_len / 4 * 3 - pad;
	out = malloc(in_len / 4 * 3 + 1);
	if (!out)
		return NULL;
	n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)in_len);
	if (n < 0 || (size_t)n < data_len) {
		free(out);
		return NULL;
	}
	out[data_len] = '\0';
	*out_len = data_len;
	return out;
}

uint8_t *kt_b64url_decode(const char *in, size_t in_len, size_t *out_len)
{
	size_t padded = (in_len + 3) / 4 * 4, i;
	uint8_t *out;
	char *tmp;

	if (in_len % 4 == 1)
		return NULL;
	tmp = malloc(padded + 1);
	if (!tmp)
		return NULL;
	for (i = 0; i < in_len; i++) {
		switch (in[i]) {
		case '-':
			tmp[i] = '+';
			break;
		case '_':
			tmp[i] = '/';
			break;
		case '+': case '/': case '=':
			free(tmp);
			return NULL;
		default:
			tmp[i] = in[i];
		}
	}
	for (; i < padded; i++)
		tmp[i] = '=';
	tmp[padded] = '\0';
	if (in_len == 0) {
		free(tmp);
		out = malloc(1);
		if (out) {
			out[0] = '\0';
			*out_len = 0;
		}
		return out;
	}
	out = kt_b64_decode(tmp, padded, out_len);
	free(tmp);
	return out;
}

void kt_be_put(uint8_t *p, uint64_t v, int bytes)
{
	while (bytes--) {
		p[bytes] = (uint8_t)v;
		v >>= 8;
	}
}

uint64_t kt_be_get(const uint8_t *p, int bytes)
{
	uint64_t v = 0;

	while (bytes--)
		v = v << 8 | *p++;
	return v;
}
