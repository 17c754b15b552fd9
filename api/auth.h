/* SPDX-License-Identifier: MIT
 *
 * auth: who is calling. Every tenant route takes TENANT + API-KEY (as Decoda's API does) or
 * x-organization-id + Authorization: Bearer (as the other APIs of compat.h do). A key belongs
 * to one tenant; a missing, unknown, revoked key or a key of another tenant all answer the
 * same 401, so the answer never tells whether a tenant exists.
 */
#ifndef PGHOOK_API_AUTH_H
#define PGHOOK_API_AUTH_H

#include <stdbool.h>

#include "http.h"

/* Authenticate a tenant request, filling r->tenant_id. Answers 401/503 and returns false on
 * failure. */
bool auth_tenant(struct req *r) PH_MUSTCHECK;
/* Authenticate an admin request against PGHOOK_ADMIN_KEY (Authorization: Bearer). Admin
 * routes answer 404 while no admin key is configured. */
bool auth_admin(struct req *r) PH_MUSTCHECK;

#endif
