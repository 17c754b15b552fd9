/* SPDX-License-Identifier: MIT
 *
 * Unit tests for common/rfc3339: what the check accepts is exactly what PostgreSQL's
 * timestamptz input takes and RFC 3339 allows; calendar dates, leap years and seconds, the
 * fraction and the offset's limits.
 */
#include "check.h"
#include "rfc3339.h"
#include "util.h"

static const struct {
	const char *in;
	bool want;
} cases[] = {
	{ "2023-11-07T05:31:56Z", true },
	{ "2023-11-07t05:31:56z", true },
	{ "2023-11-07T05:31:56.123Z", true },
	{ "2023-11-07T05:31:56.000000001+02:00", true },
	{ "2023-11-07T05:31:56-15:59", true },
	{ "0001-01-01T00:00:00Z", true },
	{ "9999-12-31T23:59:59Z", true },
	{ "2024-02-29T00:00:00Z", true }, /* leap year */
	{ "2000-02-29T00:00:00Z", true }, /* divisible by 400 */
	{ "2016-12-31T23:59:60Z", true }, /* a leap second */
	{ "2016-12-31T23:59:60.000Z", true },
	{ "", false },
	{ "2023-11-07", false },
	{ "2023-11-07 05:31:56Z", false },
	{ "2023-11-07T05:31:56", false }, /* no offset */
	{ "2023-11-07T05:31:56+0200", false },
	{ "2023-11-07T05:31:56+16:00", false },
	{ "2023-11-07T05:31:56+15:60", false },
	{ "2023-11-07T05:31:56+2:00", false },
	{ "2023-11-07T05:31:56.Z", false },
	{ "2023-11-07T05:31:56Z ", false },
	{ "2023-11-07T05:31:56ZZ", false },
	{ "0000-01-01T00:00:00Z", false },
	{ "2023-00-07T05:31:56Z", false },
	{ "2023-13-07T05:31:56Z", false },
	{ "2023-02-29T00:00:00Z", false },
	{ "1900-02-29T00:00:00Z", false }, /* divisible by 100, not 400 */
	{ "2023-04-31T00:00:00Z", false },
	{ "2023-11-00T05:31:56Z", false },
	{ "2023-11-07T24:00:00Z", false },
	{ "2023-11-07T05:60:56Z", false },
	{ "2023-11-07T05:31:61Z", false },
	{ "2016-12-31T23:59:60.5Z", false }, /* past the leap second's end */
	{ "+2023-11-07T05:31:56Z", false },
	{ "-023-11-07T05:31:56Z", false },
	{ "2023-1-07T05:31:56Z", false },
	{ "2023-11-07T 5:31:56Z", false },
	{ "20231107T053156Z", false },
};

int main(void)
{
	for (size_t i = 0; i < PH_ARRAY_LEN(cases); i++) {
		bool got = ph_rfc3339_valid(cases[i].in);
		CHECK(got == cases[i].want);
		if (got != cases[i].want)
			fprintf(stderr, "  for \"%s\"\n", cases[i].in);
	}
	return check_finish("rfc3339");
}
