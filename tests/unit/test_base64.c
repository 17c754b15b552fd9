/* SPDX-License-Identifier: MIT
 *
 * Unit tests for common/base64: the RFC 4648 §10 test vectors in both alphabets, decoding with
 * and without padding, and rejection of bad characters, bad lengths and full buffers.
 */
#include <string.h>

#include "base64.h"
#include "check.h"

/* After a case, name it if any of its checks failed. */
static void case_done(const char *name, int failures_before)
{
	if (check_failures != failures_before)
		fprintf(stderr, "  in case \"%s\"\n", name);
}

/* RFC 4648 §10, plus bytes that use the two characters where the alphabets differ. */
static const struct {
	const char *name;
	const char *in;
	size_t n;
	const char *std;
	const char *url;
} vectors[] = {
	{ "empty", "", 0, "", "" },
	{ "f", "f", 1, "Zg==", "Zg" },
	{ "fo", "fo", 2, "Zm8=", "Zm8" },
	{ "foo", "foo", 3, "Zm9v", "Zm9v" },
	{ "foob", "foob", 4, "Zm9vYg==", "Zm9vYg" },
	{ "fooba", "fooba", 5, "Zm9vYmE=", "Zm9vYmE" },
	{ "foobar", "foobar", 6, "Zm9vYmFy", "Zm9vYmFy" },
	{ "62 and 63", "\xfb\xff", 2, "+/8=", "-_8" },
	{ "all ones", "\xff\xff\xff", 3, "////", "____" },
	{ "zero bytes", "\0\0\0\0", 4, "AAAAAA==", "AAAAAA" },
};

static void test_encoded_len(void)
{
	CHECK(PH_BASE64_ENCODED_LEN(0) == 1);
	CHECK(PH_BASE64_ENCODED_LEN(1) == 5);
	CHECK(PH_BASE64_ENCODED_LEN(2) == 5);
	CHECK(PH_BASE64_ENCODED_LEN(3) == 5);
	CHECK(PH_BASE64_ENCODED_LEN(4) == 9);
	CHECK(PH_BASE64_ENCODED_LEN(24) == 33);
	CHECK(PH_BASE64_ENCODED_LEN(32) == 45);
}

static void test_encode(void)
{
	for (size_t i = 0; i < PH_ARRAY_LEN(vectors); i++) {
		int before = check_failures;
		char out[64];
		const unsigned char *in = (const unsigned char *)vectors[i].in;
		size_t n = ph_base64_encode(in, vectors[i].n, out);
		CHECK(n == strlen(vectors[i].std));
		CHECK_STR(out, vectors[i].std);
		n = ph_base64url_encode(in, vectors[i].n, out);
		CHECK(n == strlen(vectors[i].url));
		CHECK_STR(out, vectors[i].url);
		case_done(vectors[i].name, before);
	}
}

static void test_decode_vectors(void)
{
	for (size_t i = 0; i < PH_ARRAY_LEN(vectors); i++) {
		int before = check_failures;
		const char *forms[] = { vectors[i].std, vectors[i].url };
		for (size_t f = 0; f < PH_ARRAY_LEN(forms); f++) {
			unsigned char out[64];
			size_t n = 999;
			CHECK(ph_base64_decode(forms[f], out, sizeof(out), &n));
			CHECK(n == vectors[i].n);
			CHECK(memcmp(out, vectors[i].in, vectors[i].n) == 0);
		}
		case_done(vectors[i].name, before);
	}
}

static void test_decode_invalid(void)
{
	static const struct {
		const char *name;
		const char *in;
	} cases[] = {
		{ "one char", "Z" },
		{ "five chars", "Zm9vY" },
		{ "bang", "Zm9v!A==" },
		{ "space inside", "Zm9v YmFy" },
		{ "newline", "Zm9v\nYmFy" },
		{ "padding inside", "Zg==Zg==" },
		{ "dot", "Zm9v.mFy" },
		{ "high byte", "Zm9v\xc3\xa9" },
	};
	for (size_t i = 0; i < PH_ARRAY_LEN(cases); i++) {
		int before = check_failures;
		unsigned char out[64];
		size_t n;
		CHECK(!ph_base64_decode(cases[i].in, out, sizeof(out), &n));
		case_done(cases[i].name, before);
	}
}

static void test_decode_capacity(void)
{
	unsigned char out[8];
	size_t n = 0;
	/* "foobar" is six bytes: a five-byte buffer must fail, six must succeed. */
	CHECK(!ph_base64_decode("Zm9vYmFy", out, 5, &n));
	CHECK(ph_base64_decode("Zm9vYmFy", out, 6, &n));
	CHECK(n == 6 && memcmp(out, "foobar", 6) == 0);
	CHECK(!ph_base64_decode("Zg==", out, 0, &n));
	CHECK(ph_base64_decode("", out, 0, &n));
	CHECK(n == 0);
}

static void test_round_trip(void)
{
	unsigned char in[256], back[256];
	char enc[PH_BASE64_ENCODED_LEN(256)];
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(255 - i);
	for (size_t len = 0; len <= sizeof(in); len += 17) {
		size_t n = 0;
		CHECK(ph_base64_encode(in, len, enc) == PH_BASE64_ENCODED_LEN(len) - 1);
		CHECK(ph_base64_decode(enc, back, sizeof(back), &n));
		CHECK(n == len && memcmp(in, back, len) == 0);
		ph_base64url_encode(in, len, enc);
		CHECK(strpbrk(enc, "+/=") == NULL);
		CHECK(ph_base64_decode(enc, back, sizeof(back), &n));
		CHECK(n == len && memcmp(in, back, len) == 0);
	}
}

int main(void)
{
	test_encoded_len();
	test_encode();
	test_decode_vectors();
	test_decode_invalid();
	test_decode_capacity();
	test_round_trip();
	return check_finish("base64");
}
