/* SPDX-License-Identifier: MIT
 *
 * fuzz_json_text: ph_json_compact_text, which compacts the JSON PostgreSQL renders on its way
 * into an answer. On any bytes it writes at most its input, the same in place as not, and a
 * second pass changes nothing. On a JSON document (ph_json_parse accepts it): the result
 * parses to an equal document, and compacting json-c's spaced, pretty-printed writing of it
 * gives exactly json-c's compact writing: same strings, same key order, no blank left.
 */
#include "fuzz.h"

#include "json.h"

static void check_document(const char *text, size_t len, json_object *doc)
{
	json_object *again = NULL;
	FUZZ_CHECK(ph_json_parse(text, len, &again) == PH_JSON_OK);
	FUZZ_CHECK(json_object_equal(doc, again));
	json_object_put(again);

	size_t plain_len, pretty_len;
	const char *plain = ph_json_compact(doc, &plain_len);
	char *want = ph_xmalloc(plain_len + 1);
	memcpy(want, plain, plain_len);
	const char *pretty = json_object_to_json_string_length(doc,
		JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE,
		&pretty_len);
	char *got = ph_xmalloc(pretty_len + 1);
	size_t n = ph_json_compact_text(pretty, pretty_len, got);
	FUZZ_CHECK(n == plain_len && memcmp(got, want, n) == 0);
	free(got);
	free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *out = ph_xmalloc(size + 1), *inplace = ph_xmalloc(size + 1);
	size_t n = ph_json_compact_text((const char *)data, size, out);
	FUZZ_CHECK(n <= size);
	if (size > 0)
		memcpy(inplace, data, size);
	FUZZ_CHECK(ph_json_compact_text(inplace, size, inplace) == n);
	FUZZ_CHECK(memcmp(inplace, out, n) == 0);
	FUZZ_CHECK(ph_json_compact_text(out, n, inplace) == n && memcmp(inplace, out, n) == 0);
	json_object *doc = NULL;
	if (ph_json_parse((const char *)data, size, &doc) == PH_JSON_OK) {
		check_document(out, n, doc);
		json_object_put(doc);
	}
	free(inplace);
	free(out);
	return 0;
}
