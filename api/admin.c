/* SPDX-License-Identifier: MIT
 *
 * admin: /admin/v1 routes, the HTTP twins of `pghook-api tenant ...` and `key ...`.
 */
#include <string.h>

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

/* Answer what a tenants.h call returned. */
static void reply_tenant_json(struct req *r, json_object *out, bool not_found, const char *what)
{
	if (out)
		reply_json(r, 200, out);
	else if (not_found)
		reply_error(r, 404, "not_found", "no such %s", what);
	else
		reply_db_error(r);
}

void admin_keys_list(struct req *r)
{
	bool nf;
	json_object *out = tenant_keys_list(&r->ctx->db, r->params[0], &nf);
	reply_tenant_json(r, out, nf, "tenant");
}

void admin_key_revoke(struct req *r)
{
	bool nf;
	json_object *out = tenant_key_revoke(&r->ctx->db, r->params[0], r->params[1], &nf);
	reply_tenant_json(r, out, nf, "key");
}

void admin_tenant_delete(struct req *r)
{
	bool nf;
	json_object *out = tenant_delete(&r->ctx->db, r->params[0], &nf);
	reply_tenant_json(r, out, nf, "tenant");
}

void admin_limits_get(struct req *r)
{
	bool nf;
	json_object *out = tenant_limits_get(&r->ctx->db, r->params[0], &nf);
	reply_tenant_json(r, out, nf, "tenant");
}

void admin_limits_set(struct req *r)
{
	json_object *body = req_body_object(r);
	if (!body)
		return;
	const char *why = tenant_limits_problem(body);
	if (why) {
		json_object_put(body);
		reply_invalid(r, "body", "limits", "value_error", why);
		return;
	}
	bool nf;
	json_object *out =
		tenant_limits_set(&r->ctx->db, r->params[0], ph_json_compact(body, NULL), &nf);
	json_object_put(body);
	reply_tenant_json(r, out, nf, "tenant");
}
