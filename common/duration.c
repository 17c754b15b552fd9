/* SPDX-License-Identifier: MIT */
#include "duration.h"

#include <stdio.h>
#include <string.h>

#define MAX_MS (100LL * 24 * 3600 * 1000)

static const struct {
	const char *suffix;
	int64_t ms;
} units[] = { { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 } };

bool ph_duration_parse(const char *s, int64_t *out_ms)
{
	int64_t v = 0;
	const char *p = s;
	if (!s || *p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (*p - '0');
		if (v > MAX_MS)
			return false;
		p++;
	}
	if (*p == '\0') {
		if (v != 0)
			return false; /* a unit is required except for zero */
		*out_ms = 0;
		return true;
	}
	for (size_t i = 0; i < PH_ARRAY_LEN(units); i++) {
		if (strcmp(p, units[i].suffix) == 0) {
			if (v > MAX_MS / units[i].ms)
				return false;
			*out_ms = v * units[i].ms;
			return true;
		}
	}
	return false;
}

int ph_duration_format(int64_t ms, char *buf, size_t len)
{
	for (size_t i = PH_ARRAY_LEN(units); i-- > 1;) {
		if (ms != 0 && ms % units[i].ms == 0)
			return snprintf(
				buf, len, "%lld%s", (long long)(ms / units[i].ms), units[i].suffix);
	}
	return snprintf(buf, len, ms == 0 ? "0s" : "%lldms", (long long)ms);
}

int ph_duration_list_parse(const char *s, int64_t *out, int cap)
{
	int n = 0;
	const char *p = s;
	if (!s || !*s)
		return -1;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char item[32];
		if (len == 0 || len >= sizeof(item) || n >= cap)
			return -1;
		memcpy(item, p, len);
		item[len] = '\0';
		if (!ph_duration_parse(item, &out[n++]))
			return -1;
		if (!comma)
			return n;
		p = comma + 1;
	}
}
