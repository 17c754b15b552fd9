/* SPDX-License-Identifier: MIT
 *
 * Unit tests for common/hash: SHA-256 test vectors, the semantics of the constant-time string
 * comparison, and the shape of generated API keys and signing secrets.
 */
#include <string.h>

#include "base64.h"
#include "check.h"
#include "hash.h"

/* After a case, name it if any of its checks failed. */
static void case_done(const char *name, int failures_before)
{
	if (check_failures != failures_before)
		fprintf(stderr, "  in case \"%s\"\n", name);
}

static void test_sha256(void)
{
	/* FIPS 180-2 examples and the empty string. */
	static const struct {
		const char *name;
		const char *in;
		const char *hex;
	} cases[] = {
		{ "empty", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "abc",
			"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "two blocks", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
			"248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	};
	for (size_t i = 0; i < PH_ARRAY_LEN(cases); i++) {
		int before = check_failures;
		char out[PH_SHA256_HEX_LEN];
		memset(out, 'x', sizeof(out));
		ph_sha256_hex(cases[i].in, strlen(cases[i].in), out);
		CHECK_STR(out, cases[i].hex);
		case_done(cases[i].name, before);
	}
	/* Only n bytes count: a NUL inside the data is hashed like any byte. */
	char a[PH_SHA256_HEX_LEN], b[PH_SHA256_HEX_LEN];
	ph_sha256_hex("abc\0def", 7, a);
	ph_sha256_hex("abc", 3, b);
	CHECK(strcmp(a, b) != 0);
}

static void test_ct_streq(void)
{
	static const struct {
		const char *name;
		const char *a, *b;
		bool equal;
	} cases[] = {
		{ "both empty", "", "", true },
		{ "same", "phk_abcdef", "phk_abcdef", true },
		{ "empty and not", "", "a", false },
		{ "not and empty", "a", "", false },
		{ "first byte differs", "xhk_abcdef", "phk_abcdef", false },
		{ "last byte differs", "phk_abcdeg", "phk_abcdef", false },
		{ "case differs", "PHK_ABCDEF", "phk_abcdef", false },
		{ "prefix of the other", "phk_abc", "phk_abcdef", false },
		{ "other is a prefix", "phk_abcdef", "phk_abc", false },
	};
	for (size_t i = 0; i < PH_ARRAY_LEN(cases); i++) {
		int before = check_failures;
		CHECK(ph_ct_streq(cases[i].a, cases[i].b) == cases[i].equal);
		CHECK(ph_ct_streq(cases[i].b, cases[i].a) == cases[i].equal);
		case_done(cases[i].name, before);
	}
}

static bool all_in(const char *s, const char *alphabet)
{
	return strspn(s, alphabet) == strlen(s);
}

static const char url_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char std_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void test_api_key(void)
{
	char k1[PH_API_KEY_MAX], k2[PH_API_KEY_MAX];
	unsigned char raw[64];
	size_t n = 0;
	ph_api_key_new(k1);
	ph_api_key_new(k2);
	CHECK(strlen(k1) == 4 + 43);
	CHECK(strncmp(k1, "phk_", 4) == 0);
	CHECK(all_in(k1 + 4, url_chars));
	CHECK(ph_base64_decode(k1 + 4, raw, sizeof(raw), &n));
	CHECK(n == 32);
	CHECK(strcmp(k1, k2) != 0);
	/* Keys are stored as their hash: 64 lowercase hex digits. */
	char hex[PH_SHA256_HEX_LEN];
	ph_sha256_hex(k1, strlen(k1), hex);
	CHECK(strlen(hex) == 64 && all_in(hex, "0123456789abcdef"));
}

static void test_secret(void)
{
	char s1[PH_SECRET_MAX], s2[PH_SECRET_MAX];
	unsigned char raw[64];
	size_t n = 0;
	ph_secret_new(s1);
	ph_secret_new(s2);
	/* 24 bytes encode to exactly 32 characters, no padding. */
	CHECK(strlen(s1) == 6 + 32);
	CHECK(strncmp(s1, "whsec_", 6) == 0);
	CHECK(all_in(s1 + 6, std_chars));
	CHECK(ph_base64_decode(s1 + 6, raw, sizeof(raw), &n));
	CHECK(n == 24);
	CHECK(strcmp(s1, s2) != 0);
}

int main(void)
{
	test_sha256();
	test_ct_streq();
	test_api_key();
	test_secret();
	return check_finish("hash");
}
