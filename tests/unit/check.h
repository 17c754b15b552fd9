/* SPDX-License-Identifier: MIT
 *
 * check: the few macros our unit tests need. A failed CHECK prints the expression and location
 * and marks the run failed; main returns check_finish() so meson sees the result.
 */
#ifndef PGHOOK_TESTS_CHECK_H
#define PGHOOK_TESTS_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(expr)                                                                              \
	do {                                                                                     \
		check_count++;                                                                   \
		if (!(expr)) {                                                                   \
			check_failures++;                                                        \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr); \
		}                                                                                \
	} while (0)

#define CHECK_STR(a, b)                                                                          \
	do {                                                                                     \
		const char *check_a_ = (a), *check_b_ = (b);                                     \
		check_count++;                                                                   \
		if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0) {                 \
			check_failures++;                                                        \
			fprintf(stderr, "%s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__,         \
				check_a_ ? check_a_ : "(null)", check_b_ ? check_b_ : "(null)"); \
		}                                                                                \
	} while (0)

static inline int check_finish(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
	return check_failures ? 1 : 0;
}

#endif
