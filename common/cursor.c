/* SPDX-License-Identifier: MIT */
#include "cursor.h"

#include <stdio.h>
#include <string.h>

#include "base64.h"

/* The version tag lets the format change without breaking cursors already handed out. */
#define CURSOR_TAG "c1:"

void ph_cursor_encode(const char *last_id, char out[PH_CURSOR_MAX])
{
	char raw[PH_ID_MAX + 8];
	int n = snprintf(raw, sizeof(raw), CURSOR_TAG "%s", last_id);
	/* Ids are at most PH_ID_MAX - 1 characters; never encode past raw even if one is not. */
	size_t len = n < 0 ? 0 : (size_t)n < sizeof(raw) ? (size_t)n : sizeof(raw) - 1;
	ph_base64url_encode((const unsigned char *)raw, len, out);
}

bool ph_cursor_decode(const char *cursor, const char *prefix, char out_id[PH_ID_MAX])
{
	unsigned char raw[PH_ID_MAX + 8];
	size_t n;
	if (strlen(cursor) >= PH_CURSOR_MAX)
		return false;
	if (!ph_base64_decode(cursor, raw, sizeof(raw) - 1, &n))
		return false;
	raw[n] = '\0';
	if (n <= strlen(CURSOR_TAG) || memcmp(raw, CURSOR_TAG, strlen(CURSOR_TAG)) != 0)
		return false;
	const char *id = (const char *)raw + strlen(CURSOR_TAG);
	if (strlen(id) != n - strlen(CURSOR_TAG) || !ph_id_valid(id, prefix))
		return false;
	memcpy(out_id, id, strlen(id) + 1);
	return true;
}
