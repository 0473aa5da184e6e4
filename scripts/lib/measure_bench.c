// SPDX-License-Identifier: GPL-2.0
/*
 * The userspace baseline of scripts/bench-measure: what a root process can
 * do without the module. One thread preads the VMM's memory through
 * /proc/PID/mem and hashes it with OpenSSL into memory_root exactly as
 * Documentation/measurement.rst specifies (leaf format 2, RFC 9162, the
 * root streamed with a stack of subtree roots). OPENSSL_ia32cap in the
 * environment picks OpenSSL's SHA-256 code path, so that it runs the same
 * class of code as the kernel driver it is compared with.
 *
 *   measure_bench PID GPA:HVA:SIZE...    ranges in guest physical order
 *
 * Prints "<memory_root hex> <ns> <pages>".
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#define PAGE 4096
#define CHUNK (1 << 20)

struct stack {
	unsigned int depth;
	unsigned int height[64];
	unsigned char node[64][32];
};

static void node(const unsigned char *l, const unsigned char *r, unsigned char *out)
{
	unsigned char buf[65];

	buf[0] = 1;
	memcpy(buf + 1, l, 32);
	memcpy(buf + 33, r, 32);
	EVP_Digest(buf, sizeof(buf), out, NULL, EVP_sha256(), NULL);
}

static void push(struct stack *s, const unsigned char *hash)
{
	memcpy(s->node[s->depth], hash, 32);
	s->height[s->depth++] = 0;
	while (s->depth >= 2 && s->height[s->depth - 2] == s->height[s->depth - 1]) {
		node(s->node[s->depth - 2], s->node[s->depth - 1], s->node[s->depth - 2]);
		s->height[s->depth - 2]++;
		s->depth--;
	}
}

static void root(struct stack *s, unsigned char *out)
{
	unsigned char acc[32];
	unsigned int i;

	if (!s->depth) {
		EVP_Digest("", 0, out, NULL, EVP_sha256(), NULL);
		return;
	}
	memcpy(acc, s->node[s->depth - 1], 32);
	for (i = s->depth - 1; i > 0; i--)
		node(s->node[i - 1], acc, acc);
	memcpy(out, acc, 32);
}

int main(int argc, char *argv[])
{
	static unsigned char buf[CHUNK];
	unsigned char hash[32], tag = 0, le[8];
	unsigned long long gpa, hva, size, off, pages = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	struct stack s = { 0 };
	struct timespec t0, t1;
	char path[64];
	size_t i, n;
	int fd, a, b;

	if (argc < 3) {
		fprintf(stderr, "usage: %s PID GPA:HVA:SIZE...\n", argv[0]);
		return 2;
	}
	snprintf(path, sizeof(path), "/proc/%s/mem", argv[1]);
	fd = open(path, O_RDONLY);
	if (fd < 0 || !ctx) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (a = 2; a < argc; a++) {
		if (sscanf(argv[a], "%lli:%lli:%lli", &gpa, &hva, &size) != 3 || size % PAGE) {
			fprintf(stderr, "bad range '%s'\n", argv[a]);
			return 2;
		}
		for (off = 0; off < size; off += n) {
			n = size - off < CHUNK ? size - off : CHUNK;
			if (pread(fd, buf, n, hva + off) != (ssize_t)n) {
				fprintf(stderr, "pread at %#llx: %s\n", hva + off, strerror(errno));
				return 1;
			}
			for (i = 0; i < n; i += PAGE, pages++) {
				for (b = 0; b < 8; b++)
					le[b] = (gpa + off + i) >> (8 * b);
				EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
				EVP_DigestUpdate(ctx, &tag, 1);
				EVP_DigestUpdate(ctx, buf + i, PAGE);
				EVP_DigestUpdate(ctx, le, 8);
				EVP_DigestFinal_ex(ctx, hash, NULL);
				push(&s, hash);
			}
		}
	}
	root(&s, hash);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (b = 0; b < 32; b++)
		printf("%02x", hash[b]);
	printf(" %lld %llu\n", (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL +
	       (t1.tv_nsec - t0.tv_nsec), pages);
	EVP_MD_CTX_free(ctx);
	close(fd);
	return 0;
}
