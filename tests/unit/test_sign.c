/* SPDX-License-Identifier: MIT
 *
 * test_sign: Standard Webhooks signatures against the specification's test vector and an
 * independently computed one (Python's hmac), secret validation, and the header with a
 * rotated secret.
 */
#include "sign.h"

#include <openssl/evp.h>
#include <string.h>

#include "base64.h"
#include "check.h"
#include "hash.h"

#define VECTOR_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define VECTOR_ID     "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define VECTOR_TS     1614265330LL
#define VECTOR_BODY   "{\"test\": 2432232314}"
#define VECTOR_SIG    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

/* 64 bytes 0x00..0x3f, the largest key allowed. */
#define KEY64_SECRET                                                                           \
	"whsec_"                                                                               \
	"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+" \
	"Pw=="

static void test_vectors(void)
{
	static const struct {
		const char *name, *secret, *id;
		long long ts;
		const char *body, *want;
	} cases[] = {
		{ "spec vector", VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY, VECTOR_SIG },
		{ "spec vector without prefix", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", VECTOR_ID,
			VECTOR_TS, VECTOR_BODY, VECTOR_SIG },
		{ "64-byte key, empty body", KEY64_SECRET, "msg_2", 0, "",
			"v1,jEJo40DsABEdnPBTP+tE3WhIVHsEWQQ7/UX4iyo6nCQ=" },
	};
	for (size_t i = 0; i < PH_ARRAY_LEN(cases); i++) {
		char sig[PH_SIGNATURE_LEN] = "";
		bool ok = ph_sign(cases[i].secret, cases[i].id, cases[i].ts, cases[i].body,
			strlen(cases[i].body), sig);
		if (!ok || strcmp(sig, cases[i].want) != 0)
			fprintf(stderr, "case \"%s\"\n", cases[i].name);
		CHECK(ok);
		CHECK_STR(sig, cases[i].want);
	}
}

static void test_secret_valid(void)
{
	static const struct {
		const char *name, *secret;
		bool valid;
	} cases[] = {
		{ "spec secret", VECTOR_SECRET, true },
		{ "plain base64", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", true },
		{ "24 zero bytes", "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", true },
		{ "64 bytes", KEY64_SECRET, true },
		{ "url-safe alphabet", "whsec_-_-_AAAAAAAAAAAAAAAAAAAAAAAAAAAA", true },
		{ "16 bytes: too short", "whsec_AAAAAAAAAAAAAAAAAAAAAA==", false },
		{ "65 bytes: too long",
			"whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
			"AAAAAAAAAAAAA=",
			false },
		{ "prefix only", "whsec_", false },
		{ "empty", "", false },
		{ "not base64", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!", false },
		{ "space inside", "whsec_MfKQ9r8GKYqrTwjU PD8ILPZIo2LaLaSw", false },
		{ "wrong prefix", "whsec:MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", false },
		{ "bad length", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwA", false },
	};
	for (size_t i = 0; i < PH_ARRAY_LEN(cases); i++) {
		bool got = ph_sign_secret_valid(cases[i].secret);
		if (got != cases[i].valid)
			fprintf(stderr, "case \"%s\"\n", cases[i].name);
		CHECK(got == cases[i].valid);
	}
	CHECK(!ph_sign_secret_valid(NULL));
}

static void test_invalid_secret_fails(void)
{
	char sig[PH_SIGNATURE_LEN] = "junk";
	char header[PH_SIGNATURE_HEADER_MAX] = "junk";
	CHECK(!ph_sign("whsec_", VECTOR_ID, VECTOR_TS, "", 0, sig));
	CHECK_STR(sig, "");
	CHECK(!ph_sign_header(VECTOR_SECRET, "whsec_!!", VECTOR_ID, VECTOR_TS, "", 0, header));
	CHECK_STR(header, "");
	strcpy(header, "junk");
	CHECK(!ph_sign_header(NULL, NULL, VECTOR_ID, VECTOR_TS, "", 0, header));
	CHECK_STR(header, "");
}

static void test_header(void)
{
	char header[PH_SIGNATURE_HEADER_MAX], previous[PH_SIGNATURE_LEN], want[128];
	const size_t n = strlen(VECTOR_BODY);
	CHECK(ph_sign_header(VECTOR_SECRET, NULL, VECTOR_ID, VECTOR_TS, VECTOR_BODY, n, header));
	CHECK_STR(header, VECTOR_SIG);
	CHECK(ph_sign_header(VECTOR_SECRET, "", VECTOR_ID, VECTOR_TS, VECTOR_BODY, n, header));
	CHECK_STR(header, VECTOR_SIG);

	/* Rotation: current first, then previous, one space apart. */
	CHECK(ph_sign(KEY64_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY, n, previous));
	CHECK(ph_sign_header(
		VECTOR_SECRET, KEY64_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY, n, header));
	snprintf(want, sizeof(want), "%s %s", VECTOR_SIG, previous);
	CHECK_STR(header, want);
	CHECK(strlen(header) == 2 * (PH_SIGNATURE_LEN - 1) + 1);
}

static void test_inputs_matter(void)
{
	char base[PH_SIGNATURE_LEN], sig[PH_SIGNATURE_LEN];
	CHECK(ph_sign(VECTOR_SECRET, "msg_1", 100, "abc", 3, base));
	CHECK(ph_sign(VECTOR_SECRET, "msg_2", 100, "abc", 3, sig));
	CHECK(strcmp(base, sig) != 0);
	CHECK(ph_sign(VECTOR_SECRET, "msg_1", 101, "abc", 3, sig));
	CHECK(strcmp(base, sig) != 0);
	CHECK(ph_sign(VECTOR_SECRET, "msg_1", 100, "abd", 3, sig));
	CHECK(strcmp(base, sig) != 0);
	/* body_len, not a NUL, ends the body: bodies are bytes. */
	CHECK(ph_sign(VECTOR_SECRET, "msg_1", 100, "abcdef", 3, sig));
	CHECK_STR(sig, base);
	CHECK(ph_sign(VECTOR_SECRET, "msg_1", 100, "a\0c", 3, sig));
	CHECK(strcmp(base, sig) != 0);
	CHECK(ph_sign(VECTOR_SECRET, "msg_1", 100, NULL, 0, sig));
}

static void test_generated_secret(void)
{
	char secret[PH_SECRET_MAX], sig[PH_SIGNATURE_LEN];
	ph_secret_new(secret);
	CHECK(ph_sign_secret_valid(secret));
	CHECK(ph_sign(secret, VECTOR_ID, VECTOR_TS, VECTOR_BODY, strlen(VECTOR_BODY), sig));
	CHECK(strncmp(sig, "v1,", 3) == 0 && strlen(sig) == PH_SIGNATURE_LEN - 1);
}

/* ed25519: a generated pair signs "v1a,<base64 of 64 bytes>", which OpenSSL verifies with the
 * public key alone; rotation mixes kinds (the integration tests verify with Node and the
 * openssl command). */
static void test_ed25519(void)
{
	char priv[PH_ED25519_KEY_MAX], pub[PH_ED25519_KEY_MAX], sig[PH_SIGNATURE_ED_LEN];
	char header[PH_SIGNATURE_HEADER_MAX];
	unsigned char raw[64], sigbytes[64];
	size_t n = 0;
	const char *msg = VECTOR_ID ".1614265330." VECTOR_BODY;
	CHECK(ph_sign_ed25519_keypair(priv, pub));
	CHECK(strncmp(priv, "whsk_", 5) == 0 && strncmp(pub, "whpk_", 5) == 0);
	CHECK(ph_sign_ed25519_key_valid(priv));
	CHECK(!ph_sign_ed25519_key_valid(pub + 1));
	CHECK(ph_sign_ed25519(priv, VECTOR_ID, VECTOR_TS, VECTOR_BODY, strlen(VECTOR_BODY), sig));
	CHECK(strncmp(sig, "v1a,", 4) == 0 && strlen(sig) == PH_SIGNATURE_ED_LEN - 1);
	CHECK(ph_base64_decode(pub + 5, raw, sizeof(raw), &n) && n == 32);
	EVP_PKEY *key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, 32);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	CHECK(ph_base64_decode(sig + 4, sigbytes, sizeof(sigbytes), &n) && n == 64);
	CHECK(EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1);
	CHECK(EVP_DigestVerify(ctx, sigbytes, 64, (const unsigned char *)msg, strlen(msg)) == 1);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);
	CHECK(!ph_sign_ed25519("whsk_AAAA", VECTOR_ID, VECTOR_TS, "", 0, sig));
	CHECK_STR(sig, "");
	/* ed25519 now, the HMAC secret of before beside it. */
	CHECK(ph_sign_header(priv, VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY,
		strlen(VECTOR_BODY), header));
	CHECK(strncmp(header, "v1a,", 4) == 0 && strstr(header, " " VECTOR_SIG) != NULL);
}

int main(void)
{
	test_ed25519();
	test_vectors();
	test_secret_valid();
	test_invalid_secret_fails();
	test_header();
	test_inputs_matter();
	test_generated_secret();
	return check_finish("sign");
}
