/* SPDX-License-Identifier: MIT */
#include "hash.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <string.h>

#include "base64.h"
#include "id.h"

void ph_sha256_hex(const void *data, size_t n, char out[PH_SHA256_HEX_LEN])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256(data, n, md);
	for (size_t i = 0; i < sizeof(md); i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

bool ph_ct_streq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	/* The length of a hash or key is public; only the contents must not leak. */
	if (la != lb)
		return false;
	return CRYPTO_memcmp(a, b, la) == 0;
}

void ph_api_key_new(char out[PH_API_KEY_MAX])
{
	unsigned char raw[32];
	ph_random_bytes(raw, sizeof(raw));
	memcpy(out, "phk_", 4);
	ph_base64url_encode(raw, sizeof(raw), out + 4);
}

void ph_secret_new(char out[PH_SECRET_MAX])
{
	unsigned char raw[24];
	ph_random_bytes(raw, sizeof(raw));
	memcpy(out, "whsec_", 6);
	ph_base64_encode(raw, sizeof(raw), out + 6);
}
