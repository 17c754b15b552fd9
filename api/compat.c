/* SPDX-License-Identifier: MIT */
#include "compat.h"

#include "routes.h"

void compat_decoda_webhook_create(struct req *r)
{
	webhooks_create_answering(r, 200);
}

void compat_decoda_event_send(struct req *r)
{
	deliveries_send(r);
}

void compat_outbound_record_attempt(struct req *r)
{
	deliveries_record_attempt(r);
}

void compat_replay_delivery(struct req *r)
{
	const char *params[] = { r->tenant_id, r->params[0] };
	reply_query(
		r, 200, "delivery", "select pghook_seed004_json(pghook_replay($1, $2))", 2, params);
}
