/* SPDX-License-Identifier: MIT
 *
 * admin: /admin/v1 routes, the HTTP twin of `pghook-api tenant create` and `key create`.
 */
#include "routes.h"
#include "tenants.h"

void admin_tenants_create(struct req *r)
{
	json_object *body = req_body_object(r);
	if (!body)
		return;
	json_object *name = ph_json_get(body, "name");
	if (!name || !json_object_is_type(name, json_type_string) ||
		json_object_get_string_len(name) < 1 || json_object_get_string_len(name) > 200) {
		json_object_put(body);
		reply_invalid(r, "body", "name", "string_type",
			"name must be a string of 1 to 200 characters");
		return;
	}
	json_object *out = tenant_create(&r->ctx->db, json_object_get_string(name));
	json_object_put(body);
	if (!out)
		reply_db_error(r);
	else
		reply_json(r, 201, out);
}

void admin_keys_create(struct req *r)
{
	bool not_found;
	json_object *out = tenant_key_create(&r->ctx->db, r->params[0], &not_found);
	if (out)
		reply_json(r, 201, out);
	else if (not_found)
		reply_error(r, 404, "not_found", "no such tenant");
	else
		reply_db_error(r);
}
