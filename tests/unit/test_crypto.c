/* SPDX-License-Identifier: MIT
 *
 * Unit tests for common/crypto: round trip, the stored form, tamper detection, associated data
 * (another tenant's or webhook's value does not decrypt), wrong and rotated keys, key list
 * parsing, plaintext passthrough when no key is configured (refused when one is), reseal.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "crypto.h"

/* base64 of 32 bytes each: "k" * 32, "j" * 32. */
#define KEY_A  "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s="
#define KEY_B  "ampqampqampqampqampqampqampqampqampqampqamo="
#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

static void case_done(const char *name, int failures_before)
{
	if (check_failures != failures_before)
		fprintf(stderr, "  in case \"%s\"\n", name);
}

static char *open_or_null(
	const struct ph_crypto *c, const char *stored, const char *t, const char *w)
{
	const char *why = NULL;
	char *out = ph_crypto_open(c, stored, t, w, &why);
	CHECK(out != NULL || why != NULL);
	return out;
}

static void test_round_trip(void)
{
	int before = check_failures;
	struct ph_crypto c;
	CHECK(ph_crypto_init(&c, KEY_A));
	CHECK(ph_crypto_enabled(&c));
	char *sealed = ph_crypto_seal(&c, SECRET, "ten_1", "wh_1");
	CHECK(ph_crypto_is_sealed(sealed));
	CHECK(strncmp(sealed, "enc:v1:", 7) == 0);
	CHECK(strstr(sealed, "whsec_") == NULL);
	CHECK(strchr(sealed + 7, ':') == sealed + 15); /* 8 hex digits of key id */
	char *opened = open_or_null(&c, sealed, "ten_1", "wh_1");
	CHECK_STR(opened, SECRET);
	/* A fresh nonce each time: the same secret never looks the same twice. */
	char *again = ph_crypto_seal(&c, SECRET, "ten_1", "wh_1");
	CHECK(strcmp(sealed, again) != 0);
	/* The empty string round-trips too. */
	char *empty = ph_crypto_seal(&c, "", "ten_1", "wh_1");
	char *empty_open = open_or_null(&c, empty, "ten_1", "wh_1");
	CHECK_STR(empty_open, "");
	free(empty_open);
	free(empty);
	free(again);
	free(opened);
	free(sealed);
	ph_crypto_finish(&c);
	CHECK(!ph_crypto_enabled(&c));
	case_done("round trip", before);
}

static void test_tamper(void)
{
	int before = check_failures;
	struct ph_crypto c;
	CHECK(ph_crypto_init(&c, KEY_A));
	char *sealed = ph_crypto_seal(&c, SECRET, "ten_1", "wh_1");
	size_t n = strlen(sealed);
	/* Flip every base64 character in turn (to another valid one): none may decrypt. */
	for (size_t i = 16; i < n; i++) {
		if (sealed[i] == '=')
			continue;
		char *t = ph_xstrdup(sealed);
		t[i] = t[i] == 'A' ? 'B' : 'A';
		char *out = open_or_null(&c, t, "ten_1", "wh_1");
		if (out) {
			/* Only a change in base64 padding bits may leave the bytes as they were. */
			CHECK_STR(out, SECRET);
			free(out);
		}
		free(t);
	}
	/* Truncated, malformed, unknown format, unknown key id. */
	static const char *const bad[] = { "enc:", "enc:v1:", "enc:v1:00000000:", "enc:v2:x:AAAA",
		"enc:v1:0000000:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"enc:v1:00000000:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "enc:v1:zz:!!!" };
	for (size_t i = 0; i < PH_ARRAY_LEN(bad); i++)
		CHECK(open_or_null(&c, bad[i], "ten_1", "wh_1") == NULL);
	sealed[n - 4] = '\0';
	CHECK(open_or_null(&c, sealed, "ten_1", "wh_1") == NULL);
	free(sealed);
	ph_crypto_finish(&c);
	case_done("tamper", before);
}

static void test_wrong_ad(void)
{
	int before = check_failures;
	struct ph_crypto c;
	CHECK(ph_crypto_init(&c, KEY_A));
	char *sealed = ph_crypto_seal(&c, SECRET, "ten_1", "wh_1");
	CHECK(open_or_null(&c, sealed, "ten_2", "wh_1") == NULL);
	CHECK(open_or_null(&c, sealed, "ten_1", "wh_2") == NULL);
	/* The separator keeps ("ten_1", "wh_1") apart from ("ten_1w", "h_1"). */
	CHECK(open_or_null(&c, sealed, "ten_1w", "h_1") == NULL);
	CHECK(open_or_null(&c, sealed, "", "") == NULL);
	free(sealed);
	ph_crypto_finish(&c);
	case_done("wrong associated data", before);
}

static void test_keys(void)
{
	int before = check_failures;
	struct ph_crypto a, b, rotated, old_only;
	CHECK(ph_crypto_init(&a, KEY_A));
	CHECK(ph_crypto_init(&b, KEY_B));
	CHECK(ph_crypto_init(&rotated, KEY_B ", " KEY_A));
	CHECK(rotated.nkeys == 2);
	char *under_a = ph_crypto_seal(&a, SECRET, "ten_1", "wh_1");
	/* Wrong key: b does not know a's key id. */
	CHECK(open_or_null(&b, under_a, "ten_1", "wh_1") == NULL);
	/* Rotation: the new list decrypts the old value and encrypts under its first key. */
	char *opened = open_or_null(&rotated, under_a, "ten_1", "wh_1");
	CHECK_STR(opened, SECRET);
	char *under_b = ph_crypto_seal(&rotated, SECRET, "ten_1", "wh_1");
	CHECK(strncmp(under_b + 7, b.keys[0].id, 8) == 0);
	char *opened_b = open_or_null(&b, under_b, "ten_1", "wh_1");
	CHECK_STR(opened_b, SECRET);
	CHECK(open_or_null(&a, under_b, "ten_1", "wh_1") == NULL);
	/* A key with a's id but other bytes fails on the tag, not silently. */
	CHECK(ph_crypto_init(&old_only, KEY_B));
	memcpy(old_only.keys[0].id, a.keys[0].id, sizeof(a.keys[0].id));
	CHECK(open_or_null(&old_only, under_a, "ten_1", "wh_1") == NULL);
	/* Bad lists leave encryption off. */
	static const char *const bad[] = { "c2VjcmV0", KEY_A ",", KEY_A ",," KEY_B, "not base64!",
		KEY_A "," KEY_A "," KEY_A "," KEY_A "," KEY_A };
	for (size_t i = 0; i < PH_ARRAY_LEN(bad); i++) {
		struct ph_crypto x;
		CHECK(!ph_crypto_init(&x, bad[i]));
		CHECK(!ph_crypto_enabled(&x));
	}
	free(opened_b);
	free(under_b);
	free(opened);
	free(under_a);
	ph_crypto_finish(&a);
	ph_crypto_finish(&b);
	ph_crypto_finish(&rotated);
	ph_crypto_finish(&old_only);
	case_done("keys", before);
}

static void test_passthrough(void)
{
	int before = check_failures;
	struct ph_crypto off, on;
	CHECK(ph_crypto_init(&off, NULL));
	CHECK(!ph_crypto_enabled(&off));
	CHECK(ph_crypto_init(&off, ""));
	CHECK(!ph_crypto_enabled(&off));
	/* No key: stored as given, read as stored. */
	char *stored = ph_crypto_seal(&off, SECRET, "ten_1", "wh_1");
	CHECK_STR(stored, SECRET);
	char *read = open_or_null(&off, stored, "ten_1", "wh_1");
	CHECK_STR(read, SECRET);
	/* With a key configured, a plaintext value is refused (issue 18: a row written around
	 * the api must not choose the signing secret) until reseal seals it. */
	CHECK(ph_crypto_init(&on, KEY_A));
	CHECK(open_or_null(&on, stored, "ten_1", "wh_1") == NULL);
	const char *why = NULL;
	char *resealed = ph_crypto_reseal(&on, stored, "ten_1", "wh_1", &why);
	CHECK(resealed && ph_crypto_is_sealed(resealed));
	char *read_on = open_or_null(&on, resealed, "ten_1", "wh_1");
	CHECK_STR(read_on, SECRET);
	/* Already sealed under the first key: unchanged. */
	char *again = ph_crypto_reseal(&on, resealed, "ten_1", "wh_1", &why);
	CHECK_STR(again, resealed);
	/* Bound to its row: another row's value does not reseal. */
	CHECK(ph_crypto_reseal(&on, resealed, "ten_1", "wh_2", &why) == NULL && why);
	CHECK(ph_crypto_reseal(&off, stored, "ten_1", "wh_1", &why) == NULL);
	free(again);
	free(resealed);
	/* Without the key, an encrypted value is an error, never returned as if plaintext. */
	char *sealed = ph_crypto_seal(&on, SECRET, "ten_1", "wh_1");
	CHECK(open_or_null(&off, sealed, "ten_1", "wh_1") == NULL);
	free(sealed);
	free(read_on);
	free(read);
	free(stored);
	ph_crypto_finish(&on);
	case_done("plaintext passthrough", before);
}

int main(void)
{
	test_round_trip();
	test_tamper();
	test_wrong_ad();
	test_keys();
	test_passthrough();
	return check_finish("crypto");
}
