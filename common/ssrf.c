/* SPDX-License-Identifier: MIT
 *
 * ssrf: classify the address a delivery is about to connect to (see ssrf.h). Everything works
 * on addresses in network byte order: a range is a prefix of bytes, matched bit by bit, so the
 * IPv4 and IPv6 tables read like the RFCs that define them.
 *
 * Order matters. The allow list is consulted first, so an operator can open any range. Then
 * an IPv6 address that carries an IPv4 address (mapped, compatible, NAT64, 6to4) is judged by
 * that IPv4 address, because that is where the packets end up, and IPv4 allow entries apply
 * to it as well. Inside each table the more specific ranges (single metadata addresses) come
 * before the ranges that contain them.
 */
#include "ssrf.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "ffff:ffff:...:255.255.255.255/128", with room to spare for a useful error message. */
#define CIDR_TEXT_MAX 64
/* "[" + the longest IPv6 text + "%25" + an interface name + "]" */
#define ADDR_TEXT_MAX 96

struct cidr {
	int family; /* AF_INET or AF_INET6 */
	unsigned char net[16];
	int bits;
};

struct ph_ssrf_policy {
	size_t count;
	struct cidr entries[];
};

struct range {
	unsigned char net[16];
	int bits;
	enum ph_ssrf_verdict verdict;
};

static const struct range v4_ranges[] = {
	{ { 169, 254, 169, 254 }, 32, PH_SSRF_METADATA }, /* AWS, GCP, Azure, ... */
	{ { 169, 254, 170, 2 }, 32, PH_SSRF_METADATA }, /* AWS ECS task metadata */
	{ { 100, 100, 100, 200 }, 32, PH_SSRF_METADATA }, /* Alibaba Cloud */
	{ { 192, 0, 0, 192 }, 32, PH_SSRF_METADATA }, /* Oracle Cloud */
	{ { 0 }, 8, PH_SSRF_UNSPECIFIED },
	{ { 10 }, 8, PH_SSRF_PRIVATE },
	{ { 172, 16 }, 12, PH_SSRF_PRIVATE },
	{ { 192, 168 }, 16, PH_SSRF_PRIVATE },
	{ { 127 }, 8, PH_SSRF_LOOPBACK },
	{ { 169, 254 }, 16, PH_SSRF_LINK_LOCAL },
	{ { 100, 64 }, 10, PH_SSRF_CGNAT },
	{ { 224 }, 4, PH_SSRF_MULTICAST },
	{ { 240 }, 4, PH_SSRF_RESERVED }, /* includes 255.255.255.255 */
	{ { 192, 0, 0 }, 24, PH_SSRF_RESERVED },
	{ { 192, 0, 2 }, 24, PH_SSRF_RESERVED },
	{ { 198, 18 }, 15, PH_SSRF_RESERVED },
	{ { 198, 51, 100 }, 24, PH_SSRF_RESERVED },
	{ { 203, 0, 113 }, 24, PH_SSRF_RESERVED },
};

/* Whatever is outside 2000::/3 is caught after this table: no global unicast lives there. */
static const struct range v6_ranges[] = {
	{ { 0 }, 128, PH_SSRF_UNSPECIFIED },
	{ { [15] = 1 }, 128, PH_SSRF_LOOPBACK },
	{ { 0xfd, 0x00, 0x0e, 0xc2, [14] = 0x02, [15] = 0x54 }, 128, PH_SSRF_METADATA },
	{ { 0xfe, 0x80 }, 10, PH_SSRF_LINK_LOCAL },
	{ { 0xfe, 0xc0 }, 10, PH_SSRF_PRIVATE }, /* site-local, deprecated for fc00::/7 */
	{ { 0xfc }, 7, PH_SSRF_PRIVATE },
	{ { 0xff }, 8, PH_SSRF_MULTICAST },
	{ { 0x20, 0x01, 0x0d, 0xb8 }, 32, PH_SSRF_RESERVED }, /* documentation */
	{ { 0x3f, 0xff }, 20, PH_SSRF_RESERVED }, /* documentation, RFC 9637 */
	{ { 0x20, 0x01, 0x00, 0x02, 0x00, 0x00 }, 48, PH_SSRF_RESERVED }, /* benchmarking */
	/* Teredo: a tunnel whose server and (obfuscated) client IPv4 addresses are inside; a
	 * relay would carry the connection to them. Deprecated: nothing to deliver to there. */
	{ { 0x20, 0x01, 0x00, 0x00 }, 32, PH_SSRF_RESERVED },
};

/* IPv6 prefixes that carry an IPv4 address at byte offset `at`. Inside 64:ff9b:1::/48 the
 * operator picks the NAT64 prefix length; we assume /96, like the well-known prefix. */
static const struct embedding {
	unsigned char net[16];
	int bits;
	int at;
} embeddings[] = {
	{ { [10] = 0xff, [11] = 0xff }, 96, 12 }, /* ::ffff:a.b.c.d, mapped */
	{ { [8] = 0xff, [9] = 0xff }, 96, 12 }, /* ::ffff:0:a.b.c.d, SIIT */
	{ { 0x00, 0x64, 0xff, 0x9b }, 96, 12 }, /* 64:ff9b::/96, NAT64 */
	{ { 0x00, 0x64, 0xff, 0x9b, 0x00, 0x01 }, 48, 12 }, /* local NAT64 (RFC 8215), /96 */
	{ { 0x20, 0x02 }, 16, 2 }, /* 2002:aabb:ccdd::, 6to4 */
	{ { 0 }, 96, 12 }, /* ::a.b.c.d, compatible */
};

static bool prefix_match(const unsigned char *addr, const unsigned char *net, int bits)
{
	int full = bits / 8, rest = bits % 8;
	if (memcmp(addr, net, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (addr[full] & mask) == (net[full] & mask);
}

static bool allowed(const struct ph_ssrf_policy *p, int family, const unsigned char *addr)
{
	for (size_t i = 0; p && i < p->count; i++) {
		const struct cidr *c = &p->entries[i];
		if (c->family == family && prefix_match(addr, c->net, c->bits))
			return true;
	}
	return false;
}

static enum ph_ssrf_verdict classify(const struct range *table, size_t n, const unsigned char *a)
{
	for (size_t i = 0; i < n; i++) {
		if (prefix_match(a, table[i].net, table[i].bits))
			return table[i].verdict;
	}
	return PH_SSRF_ALLOWED;
}

static enum ph_ssrf_verdict check_v4(const struct ph_ssrf_policy *p, const unsigned char a[4])
{
	if (allowed(p, AF_INET, a))
		return PH_SSRF_ALLOWED;
	return classify(v4_ranges, PH_ARRAY_LEN(v4_ranges), a);
}

/* The IPv4 address inside a, or NULL. :: and ::1 are IPv6's own, not IPv4-compatible. */
static const unsigned char *embedded_v4(const unsigned char a[16])
{
	static const unsigned char zero[15];
	if (memcmp(a, zero, sizeof(zero)) == 0 && a[15] <= 1)
		return NULL;
	for (size_t i = 0; i < PH_ARRAY_LEN(embeddings); i++) {
		if (prefix_match(a, embeddings[i].net, embeddings[i].bits))
			return a + embeddings[i].at;
	}
	return NULL;
}

static enum ph_ssrf_verdict check_v6(const struct ph_ssrf_policy *p, const unsigned char a[16])
{
	const unsigned char *v4 = embedded_v4(a);
	if (allowed(p, AF_INET6, a))
		return PH_SSRF_ALLOWED;
	if (v4)
		return check_v4(p, v4);
	enum ph_ssrf_verdict v = classify(v6_ranges, PH_ARRAY_LEN(v6_ranges), a);
	if (v == PH_SSRF_ALLOWED && (a[0] & 0xe0) != 0x20)
		return PH_SSRF_RESERVED;
	return v;
}

enum ph_ssrf_verdict ph_ssrf_check(
	const struct ph_ssrf_policy *p, const struct sockaddr *sa, socklen_t len)
{
	/* Copies rather than casts: sa may be any sockaddr storage, aligned or not. */
	if (!sa)
		return PH_SSRF_UNSUPPORTED;
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		struct sockaddr_in in;
		memcpy(&in, sa, sizeof(in));
		return check_v4(p, (const unsigned char *)&in.sin_addr);
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 in6;
		memcpy(&in6, sa, sizeof(in6));
		return check_v6(p, in6.sin6_addr.s6_addr);
	}
	return PH_SSRF_UNSUPPORTED;
}

enum ph_ssrf_verdict ph_ssrf_check_text(const struct ph_ssrf_policy *p, const char *addr)
{
	char buf[ADDR_TEXT_MAX];
	unsigned char a[16];
	size_t n = addr ? strlen(addr) : 0;
	bool bracketed = n >= 2 && addr[0] == '[' && addr[n - 1] == ']';
	if (n == 0 || n >= sizeof(buf))
		return PH_SSRF_UNSUPPORTED;
	/* Accept a URL's host part as is: "[::1]", "[fe80::1%25eth0]". */
	size_t skip = bracketed ? 1 : 0;
	memcpy(buf, addr + skip, n - 2 * skip);
	buf[n - 2 * skip] = '\0';
	char *zone = strchr(buf, '%');
	if (zone && strchr(buf, ':'))
		*zone = '\0';
	if (!bracketed && inet_pton(AF_INET, buf, a) == 1)
		return check_v4(p, a);
	if (inet_pton(AF_INET6, buf, a) == 1)
		return check_v6(p, a);
	return PH_SSRF_UNSUPPORTED;
}

/* The prefix length after '/': digits only, so "+8", " 8" and "8x" are refused. */
static bool parse_bits(const char *s, int max, int *bits)
{
	size_t n = strlen(s);
	int v = 0;
	if (n == 0 || n > 3)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v > max)
		return false;
	*bits = v;
	return true;
}

/* "10.0.0.1/8" is more likely a typo than a way to write 10.0.0.0/8: refuse it. */
static bool host_bits_clear(const struct cidr *c)
{
	int len = c->family == AF_INET ? 4 : 16;
	for (int i = 0; i < len; i++) {
		int keep = c->bits - 8 * i; /* how many bits of byte i belong to the prefix */
		unsigned mask = keep >= 8 ? 0xffu : keep <= 0 ? 0u : 0xffu << (8 - keep);
		if (c->net[i] & ~mask & 0xffu)
			return false;
	}
	return true;
}

/* Parse "addr" or "addr/bits" in text (modified in place) into c. Returns NULL on success,
 * else why the entry is bad. */
static const char *parse_cidr_text(char *text, struct cidr *c)
{
	char *slash = strchr(text, '/');
	if (slash)
		*slash = '\0';
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, text, c->net) == 1)
		c->family = AF_INET;
	else if (inet_pton(AF_INET6, text, c->net) == 1)
		c->family = AF_INET6;
	else
		return "not an IPv4 or IPv6 address";
	int max = c->family == AF_INET ? 32 : 128;
	c->bits = max;
	if (slash && !parse_bits(slash + 1, max, &c->bits))
		return max == 32 ? "prefix length must be 0..32" : "prefix length must be 0..128";
	if (!host_bits_clear(c))
		return "address has bits set past the prefix length";
	return NULL;
}

static bool parse_cidr(const char *s, size_t len, struct cidr *c, char *err, size_t errlen)
{
	char text[CIDR_TEXT_MAX];
	const char *why = "too long";
	if (len < sizeof(text)) {
		memcpy(text, s, len);
		text[len] = '\0';
		why = parse_cidr_text(text, c);
	}
	if (!why)
		return true;
	if (err && errlen)
		snprintf(err, errlen, "bad CIDR \"%.*s\": %s", (int)(len < 64 ? len : 64), s, why);
	return false;
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t';
}

struct ph_ssrf_policy *ph_ssrf_policy_create(const char *allow_cidrs, char *err, size_t errlen)
{
	const char *s = allow_cidrs ? allow_cidrs : "";
	size_t cap = 1;
	for (const char *q = s; *q; q++)
		cap += *q == ',';
	struct ph_ssrf_policy *p = ph_xcalloc(1, sizeof(*p) + cap * sizeof(p->entries[0]));
	while (is_space(*s))
		s++;
	if (*s == '\0')
		return p; /* unset, empty or blank: nothing is allowed beyond the public internet */
	for (;;) {
		const char *comma = strchr(s, ',');
		const char *end = comma ? comma : s + strlen(s);
		while (s < end && is_space(*s))
			s++;
		while (end > s && is_space(end[-1]))
			end--;
		if (s == end) {
			if (err && errlen)
				snprintf(err, errlen, "empty entry in CIDR list \"%s\"",
					allow_cidrs);
			break;
		}
		if (!parse_cidr(s, (size_t)(end - s), &p->entries[p->count], err, errlen))
			break;
		p->count++;
		if (!comma)
			return p;
		s = comma + 1;
	}
	free(p);
	return NULL;
}

void ph_ssrf_policy_destroy(struct ph_ssrf_policy *p)
{
	free(p);
}

const char *ph_ssrf_reason(enum ph_ssrf_verdict v)
{
	switch (v) {
	case PH_SSRF_ALLOWED:
		return "allowed address";
	case PH_SSRF_LOOPBACK:
		return "loopback address";
	case PH_SSRF_PRIVATE:
		return "private address";
	case PH_SSRF_LINK_LOCAL:
		return "link-local address";
	case PH_SSRF_METADATA:
		return "cloud metadata address";
	case PH_SSRF_CGNAT:
		return "carrier-grade NAT address";
	case PH_SSRF_MULTICAST:
		return "multicast address";
	case PH_SSRF_UNSPECIFIED:
		return "unspecified address";
	case PH_SSRF_RESERVED:
		return "reserved address";
	case PH_SSRF_UNSUPPORTED:
		return "unsupported address";
	}
	return "unknown verdict"; /* an out-of-range value; the switch covers every constant */
}
