/* SPDX-License-Identifier: MIT
 *
 * test_ssrf: the address classifier. One table of addresses an attacker might try (every
 * range, its edges, and the IPv6 forms that smuggle an IPv4 address) next to public ones that
 * must pass; then the allow list, malformed allow lists, and socket addresses.
 */
#include "ssrf.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define A PH_SSRF_ALLOWED

struct verdict_case {
	const char *addr;
	enum ph_ssrf_verdict want;
};

static void check_table(const struct ph_ssrf_policy *p, const struct verdict_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		enum ph_ssrf_verdict got = ph_ssrf_check_text(p, cases[i].addr);
		if (got != cases[i].want)
			fprintf(stderr, "case \"%s\": got %s, want %s\n", cases[i].addr,
				ph_ssrf_reason(got), ph_ssrf_reason(cases[i].want));
		CHECK(got == cases[i].want);
	}
}

static const struct verdict_case no_policy_cases[] = {
	/* public */
	{ "8.8.8.8", A },
	{ "1.1.1.1", A },
	{ "2606:4700::1111", A },
	{ "2001:4860:4860::8888", A },
	{ "9.255.255.255", A },
	{ "11.0.0.0", A },
	{ "172.15.255.255", A },
	{ "172.32.0.0", A },
	{ "192.167.255.255", A },
	{ "192.169.0.0", A },
	{ "100.63.255.255", A },
	{ "100.128.0.0", A },
	{ "126.255.255.255", A },
	{ "128.0.0.0", A },
	{ "169.253.255.255", A },
	{ "198.17.255.255", A },
	{ "198.20.0.0", A },
	{ "223.255.255.255", A },
	{ "192.0.1.1", A },
	{ "::ffff:8.8.8.8", A },
	{ "64:ff9b::8.8.8.8", A },
	{ "2002:808:808::1", A },
	{ "[2606:4700::1111]", A },
	/* IPv4 ranges and their edges */
	{ "0.0.0.0", PH_SSRF_UNSPECIFIED },
	{ "0.255.255.255", PH_SSRF_UNSPECIFIED },
	{ "10.0.0.0", PH_SSRF_PRIVATE },
	{ "10.255.255.255", PH_SSRF_PRIVATE },
	{ "172.16.0.0", PH_SSRF_PRIVATE },
	{ "172.31.255.255", PH_SSRF_PRIVATE },
	{ "192.168.1.1", PH_SSRF_PRIVATE },
	{ "127.0.0.1", PH_SSRF_LOOPBACK },
	{ "127.255.255.254", PH_SSRF_LOOPBACK },
	{ "169.254.0.1", PH_SSRF_LINK_LOCAL },
	{ "169.254.169.253", PH_SSRF_LINK_LOCAL },
	{ "169.254.169.254", PH_SSRF_METADATA },
	{ "169.254.170.2", PH_SSRF_METADATA },
	{ "100.100.100.200", PH_SSRF_METADATA },
	{ "192.0.0.192", PH_SSRF_METADATA },
	{ "100.64.0.0", PH_SSRF_CGNAT },
	{ "100.127.255.255", PH_SSRF_CGNAT },
	{ "100.100.100.199", PH_SSRF_CGNAT },
	{ "224.0.0.1", PH_SSRF_MULTICAST },
	{ "239.255.255.250", PH_SSRF_MULTICAST },
	{ "240.0.0.1", PH_SSRF_RESERVED },
	{ "255.255.255.255", PH_SSRF_RESERVED },
	{ "192.0.0.8", PH_SSRF_RESERVED },
	{ "192.0.2.1", PH_SSRF_RESERVED },
	{ "198.18.0.1", PH_SSRF_RESERVED },
	{ "198.19.255.255", PH_SSRF_RESERVED },
	{ "198.51.100.7", PH_SSRF_RESERVED },
	{ "203.0.113.9", PH_SSRF_RESERVED },
	/* IPv6 ranges */
	{ "::", PH_SSRF_UNSPECIFIED },
	{ "::1", PH_SSRF_LOOPBACK },
	{ "[::1]", PH_SSRF_LOOPBACK },
	{ "0:0:0:0:0:0:0:1", PH_SSRF_LOOPBACK },
	{ "fe80::1", PH_SSRF_LINK_LOCAL },
	{ "fe80::1%eth0", PH_SSRF_LINK_LOCAL },
	{ "[fe80::1%25eth0]", PH_SSRF_LINK_LOCAL },
	{ "febf:ffff::1", PH_SSRF_LINK_LOCAL },
	{ "fc00::1", PH_SSRF_PRIVATE },
	{ "fdff:ffff::1", PH_SSRF_PRIVATE },
	{ "fec0::1", PH_SSRF_PRIVATE },
	{ "fd00:ec2::254", PH_SSRF_METADATA },
	{ "FD00:EC2:0:0:0:0:0:254", PH_SSRF_METADATA },
	{ "fd00:ec2::253", PH_SSRF_PRIVATE },
	{ "ff02::1", PH_SSRF_MULTICAST },
	{ "ff05::1:3", PH_SSRF_MULTICAST },
	{ "2001:db8::1", PH_SSRF_RESERVED },
	{ "2001:2::1", PH_SSRF_RESERVED },
	{ "3fff::1", PH_SSRF_RESERVED },
	{ "100::1", PH_SSRF_RESERVED },
	{ "4000::1", PH_SSRF_RESERVED },
	/* IPv4 smuggled inside IPv6 */
	{ "::ffff:127.0.0.1", PH_SSRF_LOOPBACK },
	{ "::ffff:7f00:1", PH_SSRF_LOOPBACK },
	{ "[::ffff:169.254.169.254]", PH_SSRF_METADATA },
	{ "::ffff:10.0.0.1", PH_SSRF_PRIVATE },
	{ "::ffff:0.0.0.0", PH_SSRF_UNSPECIFIED },
	{ "::ffff:0:127.0.0.1", PH_SSRF_LOOPBACK },
	{ "::127.0.0.1", PH_SSRF_LOOPBACK },
	{ "::192.168.0.1", PH_SSRF_PRIVATE },
	{ "::2", PH_SSRF_UNSPECIFIED },
	{ "64:ff9b::127.0.0.1", PH_SSRF_LOOPBACK },
	{ "64:ff9b::a9fe:a9fe", PH_SSRF_METADATA },
	{ "64:ff9b:1::10.0.0.1", PH_SSRF_PRIVATE },
	{ "64:ff9b:1:ffff::100.64.0.1", PH_SSRF_CGNAT },
	{ "2002:7f00:1::", PH_SSRF_LOOPBACK },
	{ "2002:a9fe:a9fe::1", PH_SSRF_METADATA },
	{ "2002:c0a8:101::", PH_SSRF_PRIVATE },
	{ "2002:e000:1::", PH_SSRF_MULTICAST },
	/* Teredo, server 65.54.227.120, client 10.0.0.1 obfuscated (issue 18) */
	{ "2001:0:4136:e378:8000:63bf:f5ff:fffe", PH_SSRF_RESERVED },
	{ "2001::1", PH_SSRF_RESERVED },
	/* not an address literal */
	{ "", PH_SSRF_UNSUPPORTED },
	{ "localhost", PH_SSRF_UNSUPPORTED },
	{ "127.1", PH_SSRF_UNSUPPORTED },
	{ "0x7f.0.0.1", PH_SSRF_UNSUPPORTED },
	{ "2130706433", PH_SSRF_UNSUPPORTED },
	{ "0177.0.0.1", PH_SSRF_UNSUPPORTED },
	{ "127.0.0.1 ", PH_SSRF_UNSUPPORTED },
	{ "[127.0.0.1]", PH_SSRF_UNSUPPORTED },
	{ "127.0.0.1%eth0", PH_SSRF_UNSUPPORTED },
	{ "::1::", PH_SSRF_UNSUPPORTED },
	{ "[::1", PH_SSRF_UNSUPPORTED },
	{ "256.0.0.1", PH_SSRF_UNSUPPORTED },
};

static void test_no_policy(void)
{
	char err[128] = "";
	struct ph_ssrf_policy *empty = ph_ssrf_policy_create("", err, sizeof(err));
	CHECK(empty != NULL);
	check_table(NULL, no_policy_cases, PH_ARRAY_LEN(no_policy_cases));
	check_table(empty, no_policy_cases, PH_ARRAY_LEN(no_policy_cases));
	CHECK(ph_ssrf_check_text(NULL, NULL) == PH_SSRF_UNSUPPORTED);
	ph_ssrf_policy_destroy(empty);
}

static const struct verdict_case allow_cases[] = {
	{ "127.0.0.1", A },
	{ "127.9.9.9", A },
	{ "::ffff:127.0.0.1", A },
	{ "::ffff:0:127.0.0.1", A },
	{ "64:ff9b::127.0.0.1", A },
	{ "::1", A },
	{ "::2", PH_SSRF_UNSPECIFIED },
	{ "10.1.2.3", A },
	{ "10.2.0.1", PH_SSRF_PRIVATE },
	{ "192.168.7.7", A },
	{ "192.168.7.8", PH_SSRF_PRIVATE },
	{ "::ffff:192.168.7.7", A },
	{ "fd12:3456::1", A },
	{ "fd12:3457::1", PH_SSRF_PRIVATE },
	{ "169.254.169.254", PH_SSRF_METADATA },
	{ "::ffff:169.254.169.254", PH_SSRF_METADATA },
	{ "8.8.8.8", A },
	/* An IPv6 entry does not open the IPv4 space, except in the mapped form it names. */
	{ "::ffff:100.64.0.1", A },
	{ "100.64.0.1", PH_SSRF_CGNAT },
};

static void test_allow_list(void)
{
	char err[128] = "";
	struct ph_ssrf_policy *p = ph_ssrf_policy_create(
		"127.0.0.0/8, ::1/128,10.1.0.0/16,192.168.7.7,fd12:3456::/32, "
		"::ffff:100.64.0.0/106",
		err, sizeof(err));
	CHECK(p != NULL);
	if (p)
		check_table(p, allow_cases, PH_ARRAY_LEN(allow_cases));
	ph_ssrf_policy_destroy(p);

	/* /0 opens a whole family, and only that family. */
	p = ph_ssrf_policy_create("0.0.0.0/0", err, sizeof(err));
	CHECK(p != NULL);
	CHECK(ph_ssrf_check_text(p, "169.254.169.254") == A);
	CHECK(ph_ssrf_check_text(p, "::ffff:10.0.0.1") == A);
	CHECK(ph_ssrf_check_text(p, "fe80::1") == PH_SSRF_LINK_LOCAL);
	ph_ssrf_policy_destroy(p);
	ph_ssrf_policy_destroy(NULL);
}

static void test_bad_cidrs(void)
{
	static const struct {
		const char *list, *message;
	} cases[] = {
		{ "10.0.0.0/33", "bad CIDR \"10.0.0.0/33\": prefix length must be 0..32" },
		{ "::/129", "bad CIDR \"::/129\": prefix length must be 0..128" },
		{ "10.0.0.0/", "bad CIDR \"10.0.0.0/\": prefix length must be 0..32" },
		{ "10.0.0.0/+8", "bad CIDR \"10.0.0.0/+8\": prefix length must be 0..32" },
		{ "10.0.0.0/-1", "bad CIDR \"10.0.0.0/-1\": prefix length must be 0..32" },
		{ "10.0.0.0/8x", "bad CIDR \"10.0.0.0/8x\": prefix length must be 0..32" },
		{ "10.0.0.0/0008", "bad CIDR \"10.0.0.0/0008\": prefix length must be 0..32" },
		{ "10.0.0.0/8/8", "bad CIDR \"10.0.0.0/8/8\": prefix length must be 0..32" },
		{ "10.0.0.1/8",
			"bad CIDR \"10.0.0.1/8\": address has bits set past the prefix length" },
		{ "fd00::1/8",
			"bad CIDR \"fd00::1/8\": address has bits set past the prefix length" },
		{ "10.0.0/8", "bad CIDR \"10.0.0/8\": not an IPv4 or IPv6 address" },
		{ "localhost", "bad CIDR \"localhost\": not an IPv4 or IPv6 address" },
		{ "127.0.0.0/8;10.0.0.0/8",
			"bad CIDR \"127.0.0.0/8;10.0.0.0/8\": prefix length must "
			"be 0..32" },
		{ "127.0.0.0/8,,::1", "empty entry in CIDR list \"127.0.0.0/8,,::1\"" },
		{ "127.0.0.0/8,", "empty entry in CIDR list \"127.0.0.0/8,\"" },
		{ ",", "empty entry in CIDR list \",\"" },
		{ "::1,1:2:3:4:5:6:7:8:9:a:b:c:d:e:f:0:1:2:3:4:5:6:7:8:9:a:b:c:d:e:f:0:1:2:3:4:5:6:"
		  "7:8",
			"bad CIDR \"1:2:3:4:5:6:7:8:9:a:b:c:d:e:f:0:1:2:3:4:5:6:7:8:9:a:b:c:d:e:f:0:\": "
			"too long" },
	};
	for (size_t i = 0; i < PH_ARRAY_LEN(cases); i++) {
		char err[160] = "";
		struct ph_ssrf_policy *p = ph_ssrf_policy_create(cases[i].list, err, sizeof(err));
		CHECK(p == NULL);
		CHECK_STR(err, cases[i].message);
		ph_ssrf_policy_destroy(p);
	}
	/* A NULL or blank list and well-formed edge cases are fine. */
	static const char *const good[] = { NULL, "", "  ", "0.0.0.0/0", "::/0", "1.2.3.4/32",
		"::ffff:127.0.0.1", "2001:db8::/32 ,\t10.0.0.0/8" };
	for (size_t i = 0; i < PH_ARRAY_LEN(good); i++) {
		char err[64] = "";
		struct ph_ssrf_policy *p = ph_ssrf_policy_create(good[i], err, sizeof(err));
		CHECK(p != NULL);
		CHECK_STR(err, "");
		ph_ssrf_policy_destroy(p);
	}
}

static void test_sockaddr(void)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
	struct sockaddr_storage ss = { .ss_family = AF_UNIX };
	CHECK(inet_pton(AF_INET, "127.0.0.1", &in.sin_addr) == 1);
	CHECK(ph_ssrf_check(NULL, (struct sockaddr *)&in, sizeof(in)) == PH_SSRF_LOOPBACK);
	CHECK(ph_ssrf_check(NULL, (struct sockaddr *)&in, sizeof(in) - 1) == PH_SSRF_UNSUPPORTED);
	CHECK(inet_pton(AF_INET, "93.184.216.34", &in.sin_addr) == 1);
	CHECK(ph_ssrf_check(NULL, (struct sockaddr *)&in, sizeof(in)) == A);
	CHECK(inet_pton(AF_INET6, "::ffff:169.254.169.254", &in6.sin6_addr) == 1);
	CHECK(ph_ssrf_check(NULL, (struct sockaddr *)&in6, sizeof(in6)) == PH_SSRF_METADATA);
	CHECK(ph_ssrf_check(NULL, (struct sockaddr *)&in6, sizeof(in)) == PH_SSRF_UNSUPPORTED);
	CHECK(inet_pton(AF_INET6, "2606:4700::1111", &in6.sin6_addr) == 1);
	CHECK(ph_ssrf_check(NULL, (struct sockaddr *)&in6, sizeof(in6)) == A);
	CHECK(ph_ssrf_check(NULL, (struct sockaddr *)&ss, sizeof(ss)) == PH_SSRF_UNSUPPORTED);
	CHECK(ph_ssrf_check(NULL, NULL, 0) == PH_SSRF_UNSUPPORTED);
}

static void test_reasons(void)
{
	CHECK_STR(ph_ssrf_reason(PH_SSRF_LOOPBACK), "loopback address");
	CHECK_STR(ph_ssrf_reason(PH_SSRF_PRIVATE), "private address");
	CHECK_STR(ph_ssrf_reason(PH_SSRF_METADATA), "cloud metadata address");
	for (int v = PH_SSRF_ALLOWED; v <= PH_SSRF_UNSUPPORTED; v++)
		CHECK(strstr(ph_ssrf_reason((enum ph_ssrf_verdict)v), "address") != NULL);
}

int main(void)
{
	test_no_policy();
	test_allow_list();
	test_bad_cidrs();
	test_sockaddr();
	test_reasons();
	return check_finish("ssrf");
}
