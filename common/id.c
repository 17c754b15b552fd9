/* SPDX-License-Identifier: MIT */
#include "id.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "log.h"

void ph_random_bytes(void *buf, size_t n)
{
	unsigned char *p = buf;
	while (n > 0) {
		ssize_t got = getrandom(p, n, 0);
		if (got < 0) {
			log_error("getrandom failed");
			abort();
		}
		p += got;
		n -= (size_t)got;
	}
}

void ph_id_format(char *out, const char *prefix, uint64_t unix_ms, uint64_t random_bits)
{
	snprintf(out, PH_ID_MAX, "%.8s_%012llx%016llx", prefix,
		(unsigned long long)(unix_ms & 0xffffffffffffULL), (unsigned long long)random_bits);
}

void ph_id_new(char *out, const char *prefix)
{
	struct timespec ts;
	uint64_t r;
	clock_gettime(CLOCK_REALTIME, &ts);
	ph_random_bytes(&r, sizeof(r));
	ph_id_format(out, prefix, (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000, r);
}

bool ph_id_valid(const char *s, const char *prefix)
{
	size_t plen = strlen(prefix);
	if (strncmp(s, prefix, plen) != 0 || s[plen] != '_')
		return false;
	const char *body = s + plen + 1;
	if (strlen(body) != PH_ID_BODY_LEN)
		return false;
	for (const char *p = body; *p; p++) {
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	}
	return true;
}
