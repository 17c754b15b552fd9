/* SPDX-License-Identifier: MIT
 *
 * fuzz: what the libFuzzer targets share. Each tests/fuzz/fuzz_<name>.c defines
 * LLVMFuzzerTestOneInput and states its invariants with FUZZ_CHECK, which aborts (so libFuzzer
 * saves the input as a crash) whatever the build type: assert() vanishes under NDEBUG.
 */
#ifndef PGHOOK_TESTS_FUZZ_FUZZ_H
#define PGHOOK_TESTS_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define FUZZ_CHECK(expr)                                                                     \
	do {                                                                                 \
		if (!(expr)) {                                                               \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
				#expr);                                                      \
			abort();                                                             \
		}                                                                            \
	} while (0)

/* The entry point libFuzzer calls once per input; declared for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A NUL-terminated heap copy of the input, which the caller frees. An embedded NUL ends the
 * string early, as it would for a C string from a header or an environment variable. */
static inline char *fuzz_string(const uint8_t *data, size_t size)
{
	char *s = ph_xmalloc(size + 1);
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#endif
