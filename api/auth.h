/* SPDX-License-Identifier: MIT
 *
 * auth: who is calling. Every tenant route takes TENANT + API-KEY (as Decoda's API does) or
 * x-organization-id + Authorization: Bearer (as the other APIs of compat.h do). A key belongs
 * to one tenant; a missing, unknown, revoked key or a key of another tenant all answer the
 * same 401, so the answer never tells whether a tenant exists.
 *
 * A portal session (portal.c) is a console link's token: it names its tenant, is checked
 * against the database on every request (never cached, so a revoked link stops at once), and
 * its 401 says whether the link expired, was revoked or is not valid: the console shows that
 * to the person holding the link, who knows the token anyway.
 */
#ifndef PGHOOK_API_AUTH_H
#define PGHOOK_API_AUTH_H

#include <stdbool.h>

#include "http.h"

/* The prefix of a portal session's token: "phs_<tenant id>.<random>". */
#define AUTH_PORTAL_PREFIX "phs_"

/* Authenticate a tenant request, filling r->tenant_id. With portal_ok, a portal session's
 * token alone (Authorization: Bearer phs_…, no tenant header: the token names its tenant) is
 * accepted too, filling r->portal_session; a read-only one for GET and HEAD only (403
 * otherwise). Without portal_ok such a token gets 403. Answers 401/403/503 and returns false
 * on failure. */
bool auth_tenant(struct req *r, bool portal_ok) PH_MUSTCHECK;
/* Authenticate an admin request against PGHOOK_ADMIN_KEY (Authorization: Bearer). Admin
 * routes answer 404 while no admin key is configured. */
bool auth_admin(struct req *r) PH_MUSTCHECK;

#endif
