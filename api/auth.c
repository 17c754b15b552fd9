/* SPDX-License-Identifier: MIT */
#include "auth.h"

#include <string.h>
#include <strings.h>

#include "hash.h"

/* The token of "Authorization: Bearer <token>", or NULL. */
static const char *bearer(struct req *r)
{
	const char *h = req_header(r, "Authorization");
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return *h ? h : NULL;
}

static bool unauthorized(struct req *r)
{
	reply_error(r, 401, "unauthorized", "missing or invalid tenant credentials");
	return false;
}

bool auth_tenant(struct req *r)
{
	const char *tenant = req_header(r, "TENANT");
	const char *key = req_header(r, "API-KEY");
	if (!tenant || !key) {
		tenant = req_header(r, "x-organization-id");
		key = bearer(r);
	}
	if (!tenant || !key || strlen(tenant) >= sizeof(r->tenant_id) || strlen(key) > 256)
		return unauthorized(r);

	char hash[PH_SHA256_HEX_LEN];
	ph_sha256_hex(key, strlen(key), hash);
	const char *params[] = {hash};
	PGresult *res = ph_db_exec(&r->ctx->db,
		"select tenant_id from api_keys where key_hash = $1 and revoked_at is null", 1,
		params);
	if (!res) {
		reply_db_error(r);
		return false;
	}
	bool ok = PQntuples(res) == 1 && ph_ct_streq(PQgetvalue(res, 0, 0), tenant);
	PQclear(res);
	if (!ok)
		return unauthorized(r);
	memcpy(r->tenant_id, tenant, strlen(tenant) + 1);
	return true;
}

bool auth_admin(struct req *r)
{
	const char *want = r->ctx->cfg->admin_key;
	if (!want) {
		reply_error(r, 404, "not_found", "admin routes are disabled (PGHOOK_ADMIN_KEY unset)");
		return false;
	}
	const char *got = bearer(r);
	char a[PH_SHA256_HEX_LEN], b[PH_SHA256_HEX_LEN];
	/* Compare hashes so the comparison's time does not depend on the key's length either. */
	ph_sha256_hex(want, strlen(want), a);
	ph_sha256_hex(got ? got : "", got ? strlen(got) : 0, b);
	if (!got || !ph_ct_streq(a, b)) {
		reply_error(r, 401, "unauthorized", "missing or invalid admin key");
		return false;
	}
	return true;
}
