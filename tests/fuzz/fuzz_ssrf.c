/* SPDX-License-Identifier: MIT
 *
 * fuzz_ssrf: the address classifier that stands between a tenant's URL and the internal
 * network. The input is "<allow list>\n<address>": the allow list goes to
 * ph_ssrf_policy_create, the address both as text and as the raw bytes of a sockaddr (its
 * first byte picks AF_INET or AF_INET6 and the length, the rest fills the structure).
 *
 * Invariants:
 * - an address allowed under no policy is not loopback or private by an independent check
 *   (127/8, 10/8, 192.168/16, ::1, and those IPv4 ranges mapped into IPv6 as ::ffff:a.b.c.d);
 * - a NULL policy and an empty one give the same verdict;
 * - an allow list only ever turns a refusal into PH_SSRF_ALLOWED, never anything else;
 * - the text and the sockaddr forms of one address get the same verdict.
 */
#include "fuzz.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "ssrf.h"

/* 127/8, 10/8, 192.168/16: written out here rather than taken from ssrf.c's tables. */
static bool v4_internal(const unsigned char a[4])
{
	return a[0] == 127 || a[0] == 10 || (a[0] == 192 && a[1] == 168);
}

static bool v6_internal(const unsigned char a[16])
{
	static const unsigned char loopback[16] = { [15] = 1 };
	static const unsigned char mapped[12] = { [10] = 0xff, [11] = 0xff };
	if (memcmp(a, loopback, 16) == 0)
		return true;
	return memcmp(a, mapped, 12) == 0 && v4_internal(a + 12);
}

/* The verdict under each policy, and the cross-checks between them. */
static enum ph_ssrf_verdict check_all(const struct ph_ssrf_policy *none,
	const struct ph_ssrf_policy *allow, const struct sockaddr *sa, socklen_t len)
{
	enum ph_ssrf_verdict v = ph_ssrf_check(none, sa, len);
	FUZZ_CHECK(ph_ssrf_check(NULL, sa, len) == v);
	FUZZ_CHECK(ph_ssrf_reason(v) != NULL);
	if (allow) {
		enum ph_ssrf_verdict va = ph_ssrf_check(allow, sa, len);
		FUZZ_CHECK(va == v || va == PH_SSRF_ALLOWED);
		FUZZ_CHECK(v != PH_SSRF_UNSUPPORTED || va == PH_SSRF_UNSUPPORTED);
	}
	return v;
}

/* The same address through inet_ntop and ph_ssrf_check_text, bare and in brackets for IPv6. */
static void check_text_form(
	const struct ph_ssrf_policy *p, int family, const void *addr, enum ph_ssrf_verdict expect)
{
	char text[INET6_ADDRSTRLEN + 2];
	FUZZ_CHECK(inet_ntop(family, addr, text + 1, INET6_ADDRSTRLEN) != NULL);
	FUZZ_CHECK(ph_ssrf_check_text(p, text + 1) == expect);
	if (family == AF_INET6) {
		text[0] = '[';
		strcat(text, "]");
		FUZZ_CHECK(ph_ssrf_check_text(p, text) == expect);
	}
}

static void check_sockaddr(const struct ph_ssrf_policy *none, const struct ph_ssrf_policy *allow,
	const uint8_t *data, size_t size)
{
	bool v6 = size > 0 && (data[0] & 1);
	/* Mostly the full structure; sometimes shorter, which must be refused, not over-read. */
	size_t full = v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	size_t len = size > 0 && (data[0] & 0x80) ? data[0] % full : full;
	if (len < sizeof(sa_family_t))
		return;
	struct sockaddr *sa = ph_xcalloc(1, len); /* exactly len bytes, for ASan */
	if (size > 1)
		memcpy(sa, data + 1, size - 1 < len ? size - 1 : len);
	sa->sa_family = v6 ? AF_INET6 : AF_INET;
	enum ph_ssrf_verdict v = check_all(none, allow, sa, (socklen_t)len);
	if (len < full) {
		FUZZ_CHECK(v == PH_SSRF_UNSUPPORTED);
	} else if (v6) {
		struct sockaddr_in6 in6;
		memcpy(&in6, sa, sizeof(in6));
		FUZZ_CHECK(v != PH_SSRF_ALLOWED || !v6_internal(in6.sin6_addr.s6_addr));
		check_text_form(none, AF_INET6, &in6.sin6_addr, v);
	} else {
		struct sockaddr_in in;
		memcpy(&in, sa, sizeof(in));
		FUZZ_CHECK(v != PH_SSRF_ALLOWED || !v4_internal((unsigned char *)&in.sin_addr));
		check_text_form(none, AF_INET, &in.sin_addr, v);
	}
	free(sa);
}

/* The address part as text, with the raw-bytes path's conclusions where inet_pton agrees. */
static void check_text(
	const struct ph_ssrf_policy *none, const struct ph_ssrf_policy *allow, const char *text)
{
	enum ph_ssrf_verdict v = ph_ssrf_check_text(none, text);
	FUZZ_CHECK(ph_ssrf_check_text(NULL, text) == v);
	if (allow) {
		enum ph_ssrf_verdict va = ph_ssrf_check_text(allow, text);
		FUZZ_CHECK(va == v || va == PH_SSRF_ALLOWED);
	}
	unsigned char a[16];
	if (v == PH_SSRF_ALLOWED && inet_pton(AF_INET, text, a) == 1)
		FUZZ_CHECK(!v4_internal(a));
	if (v == PH_SSRF_ALLOWED && inet_pton(AF_INET6, text, a) == 1)
		FUZZ_CHECK(!v6_internal(a));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = size > 0 ? memchr(data, '\n', size) : NULL;
	size_t cidr_len = nl ? (size_t)(nl - data) : 0;
	const uint8_t *addr = nl ? nl + 1 : data;
	size_t addr_len = size - (size_t)(addr - data);

	char err[128] = "";
	char *cidrs = fuzz_string(data, cidr_len);
	/* A short error buffer now and then, to exercise the truncation of messages. */
	size_t errlen = cidr_len > 0 && (data[0] & 1) ? 8 : sizeof(err);
	struct ph_ssrf_policy *none = ph_ssrf_policy_create("", err, sizeof(err));
	struct ph_ssrf_policy *allow = ph_ssrf_policy_create(cidrs, err, errlen);
	FUZZ_CHECK(none != NULL);
	FUZZ_CHECK(allow || (err[0] != '\0' && strlen(err) < errlen));

	char *text = fuzz_string(addr, addr_len);
	check_text(none, allow, text);
	check_sockaddr(none, allow, addr, addr_len);

	free(text);
	ph_ssrf_policy_destroy(allow);
	ph_ssrf_policy_destroy(none);
	free(cidrs);
	return 0;
}
