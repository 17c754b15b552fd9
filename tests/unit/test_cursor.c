/* SPDX-License-Identifier: MIT
 *
 * Unit tests for common/cursor: the exact encoding of a known id, round trips of fresh ids,
 * and rejection of anything that is not a cursor we issued for the expected kind of id.
 */
#include <string.h>

#include "check.h"
#include "cursor.h"

#define EVT_ID "evt_0123456789ab0011223344556677"
/* base64url of "c1:" EVT_ID, as ph_cursor_encode writes it (no padding). */
#define EVT_CURSOR "YzE6ZXZ0XzAxMjM0NTY3ODlhYjAwMTEyMjMzNDQ1NTY2Nzc"

/* After a case, name it if any of its checks failed. */
static void case_done(const char *name, int failures_before)
{
	if (check_failures != failures_before)
		fprintf(stderr, "  in case \"%s\"\n", name);
}

static void test_known(void)
{
	char cur[PH_CURSOR_MAX], id[PH_ID_MAX];
	ph_cursor_encode(EVT_ID, cur);
	CHECK_STR(cur, EVT_CURSOR);
	CHECK(ph_cursor_decode(EVT_CURSOR, "evt", id));
	CHECK_STR(id, EVT_ID);
	/* Padding and the standard alphabet are tolerated on the way in. */
	memset(id, 0, sizeof(id));
	CHECK(ph_cursor_decode(EVT_CURSOR "=", "evt", id));
	CHECK_STR(id, EVT_ID);
}

static void test_round_trip(void)
{
	static const char *const prefixes[] = { "evt", "whk", "dlv", "abcdefgh" };
	for (size_t i = 0; i < PH_ARRAY_LEN(prefixes); i++) {
		int before = check_failures;
		for (int k = 0; k < 100; k++) {
			char id[PH_ID_MAX], cur[PH_CURSOR_MAX], back[PH_ID_MAX];
			ph_id_new(id, prefixes[i]);
			ph_cursor_encode(id, cur);
			CHECK(strlen(cur) < PH_CURSOR_MAX);
			CHECK(strpbrk(cur, "+/=") == NULL); /* safe in a query string */
			CHECK(ph_cursor_decode(cur, prefixes[i], back));
			CHECK_STR(back, id);
		}
		case_done(prefixes[i], before);
	}
	/* The longest id (8-character prefix) still fits with room to spare. */
	char id[PH_ID_MAX], cur[PH_CURSOR_MAX];
	ph_id_format(id, "abcdefgh", UINT64_MAX, UINT64_MAX);
	ph_cursor_encode(id, cur);
	CHECK(strlen(cur) == 54); /* 40 bytes: "c1:" and 37 */
}

static void test_reject(void)
{
	static const struct {
		const char *name;
		const char *cursor;
	} cases[] = {
		{ "empty", "" },
		{ "garbage", "hello world" },
		{ "punctuation", "!!!!" },
		{ "one char", "Y" },
		{ "plain id, not encoded", EVT_ID },
		{ "tag only", "YzE6" },
		{ "no tag", "ZXZ0XzAxMjM0NTY3ODlhYjAwMTEyMjMzNDQ1NTY2Nzc" },
		{ "wrong version tag", "YzI6ZXZ0XzAxMjM0NTY3ODlhYjAwMTEyMjMzNDQ1NTY2Nzc" },
		{ "wrong id prefix", "YzE6d2hrXzAxMjM0NTY3ODlhYjAwMTEyMjMzNDQ1NTY2Nzc" },
		{ "uppercase hex in id", "YzE6ZXZ0XzAxMjM0NTY3ODlBQjAwMTEyMjMzNDQ1NTY2Nzc" },
		{ "id one digit short", "YzE6ZXZ0XzAxMjM0NTY3ODlhYjAwMTEyMjMzNDQ1NTY2Nw" },
		{ "NUL inside id", "YzE6ZXZ0XzAxMjM0NTY3ODlhYjAwMTEyMjMzNDQ1NTY2ADc3" },
		{ "tampered: bad char", "YzE6ZXZ0XzAxMjM0NTY3*DlhYjAwMTEyMjMzNDQ1NTY2Nzc" },
		{ "tampered: char dropped", "YzE6ZXZ0XzAxMjM0NTY3ODlhYjAwMTEyMjMzNDQ1NTY2Nz" },
		{ "tampered: char changed", "YzE6ZXZ0XzAxMjM0NTY3ODlhYjAwMTEyMjMzNDQ1NTY2Xzc" },
		{ "tampered: padding inside", "YzE6ZXZ0XzAxMjM0NTY3=DlhYjAwMTEyMjMzNDQ1NTY2Nzc" },
		{ "tampered: space", "YzE6ZXZ0XzAxMjM0NTY3 DlhYjAwMTEyMjMzNDQ1NTY2Nzc" },
		{ "over-long: 64 chars",
			"YzE6ZXZ0XzAxMjM0NTY3ODlhYjAwMTEyMjMzNDQ1NTY2NzcAAAAAAAAAAAAAAAAA" },
		{ "over-long: valid prefix, then more",
			EVT_CURSOR EVT_CURSOR EVT_CURSOR EVT_CURSOR EVT_CURSOR },
	};
	for (size_t i = 0; i < PH_ARRAY_LEN(cases); i++) {
		int before = check_failures;
		char id[PH_ID_MAX] = "untouched";
		CHECK(!ph_cursor_decode(cases[i].cursor, "evt", id));
		CHECK_STR(id, "untouched");
		case_done(cases[i].name, before);
	}
}

/* Any 63-character cursor decodes to at most 47 bytes: check the buffer edge with ones that
 * are as long as accepted input can be, made only of valid characters. */
static void test_longest_input(void)
{
	char cur[PH_CURSOR_MAX], id[PH_ID_MAX];
	memset(cur, 'A', PH_CURSOR_MAX - 1);
	cur[PH_CURSOR_MAX - 1] = '\0';
	CHECK(!ph_cursor_decode(cur, "evt", id));
	memcpy(cur, "YzE6", 4);
	CHECK(!ph_cursor_decode(cur, "evt", id));
	memset(cur, '_', PH_CURSOR_MAX - 1);
	CHECK(!ph_cursor_decode(cur, "evt", id));
}

int main(void)
{
	test_known();
	test_round_trip();
	test_reject();
	test_longest_input();
	return check_finish("cursor");
}
