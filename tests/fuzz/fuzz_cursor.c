/* SPDX-License-Identifier: MIT
 *
 * fuzz_cursor: the ?cursor= of list routes, which comes from the client. Whatever
 * ph_cursor_decode accepts is a valid id with the asked prefix, and encoding it gives a cursor
 * that decodes to the same id. The other way round, every id we can mint round-trips.
 */
#include "fuzz.h"

#include "cursor.h"
#include "id.h"

static const char *const prefixes[] = { "evt", "dlv", "wh" };

static void check_roundtrip(const char *id, const char *prefix)
{
	char cursor[PH_CURSOR_MAX], again[PH_ID_MAX];
	ph_cursor_encode(id, cursor);
	FUZZ_CHECK(strlen(cursor) < PH_CURSOR_MAX);
	FUZZ_CHECK(ph_cursor_decode(cursor, prefix, again));
	FUZZ_CHECK(strcmp(id, again) == 0);
}

/* An id minted from the input's first 16 bytes (time and random bits). */
static void check_minted(const uint8_t *data, size_t size, const char *prefix)
{
	uint64_t bits[2] = { 0, 0 };
	char id[PH_ID_MAX];
	memcpy(bits, data, size < sizeof(bits) ? size : sizeof(bits));
	ph_id_format(id, prefix, bits[0], bits[1]);
	FUZZ_CHECK(ph_id_valid(id, prefix));
	check_roundtrip(id, prefix);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *cursor = fuzz_string(data, size);
	for (size_t i = 0; i < PH_ARRAY_LEN(prefixes); i++) {
		char id[PH_ID_MAX];
		if (ph_cursor_decode(cursor, prefixes[i], id)) {
			FUZZ_CHECK(ph_id_valid(id, prefixes[i]));
			check_roundtrip(id, prefixes[i]);
		}
		check_minted(data, size, prefixes[i]);
	}
	free(cursor);
	return 0;
}
