/* SPDX-License-Identifier: MIT
 *
 * ssrf: which addresses a delivery may connect to. Deliveries go to the public internet only:
 * loopback, private, link-local, unique-local, CGNAT, multicast, unspecified, reserved and cloud
 * metadata addresses are refused, including their IPv4-mapped, IPv4-compatible and NAT64
 * (64:ff9b::/96) IPv6 forms, unless the operator lists a CIDR containing the address in
 * PGHOOK_ALLOW_CIDRS. The check runs on the address actually connected (curl's open-socket
 * callback), so DNS rebinding cannot get around it.
 */
#ifndef PGHOOK_COMMON_SSRF_H
#define PGHOOK_COMMON_SSRF_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "util.h"

enum ph_ssrf_verdict {
	PH_SSRF_ALLOWED, /* public, or inside an allowed CIDR */
	PH_SSRF_LOOPBACK, /* 127.0.0.0/8, ::1 */
	PH_SSRF_PRIVATE, /* 10/8, 172.16/12, 192.168/16, fc00::/7 */
	PH_SSRF_LINK_LOCAL, /* 169.254/16, fe80::/10 */
	PH_SSRF_METADATA, /* 169.254.169.254, fd00:ec2::254, 100.100.100.200 ... */
	PH_SSRF_CGNAT, /* 100.64/10 */
	PH_SSRF_MULTICAST, /* 224/4, ff00::/8 */
	PH_SSRF_UNSPECIFIED, /* 0.0.0.0/8, :: */
	PH_SSRF_RESERVED, /* 240/4, broadcast, benchmarking, documentation, ... */
	PH_SSRF_UNSUPPORTED, /* not AF_INET / AF_INET6 */
};

struct ph_ssrf_policy;

/* Parse a comma-separated CIDR list ("127.0.0.0/8,::1/128"; NULL or "" for none). On a bad
 * entry returns NULL and writes a message into err. */
struct ph_ssrf_policy *ph_ssrf_policy_create(const char *allow_cidrs, char *err, size_t errlen);
void ph_ssrf_policy_destroy(struct ph_ssrf_policy *p);
/* Classify one socket address under the policy (NULL: nothing allowed beyond the public
 * internet). An IPv4 address inside an IPv6 one is matched against IPv4 entries too. Any
 * thread may call it: the policy is read-only. */
enum ph_ssrf_verdict ph_ssrf_check(
	const struct ph_ssrf_policy *p, const struct sockaddr *sa, socklen_t len);
/* Same for an address in text form ("10.0.0.1", "::ffff:127.0.0.1"); PH_SSRF_UNSUPPORTED
 * when it does not parse. For tests and URL pre-checks. */
enum ph_ssrf_verdict ph_ssrf_check_text(const struct ph_ssrf_policy *p, const char *addr);
/* A short phrase for error messages: "loopback address", "private address", ... */
const char *ph_ssrf_reason(enum ph_ssrf_verdict v);

#endif
