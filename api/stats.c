/* SPDX-License-Identifier: MIT
 *
 * stats: what the console's overview draws, counted by PostgreSQL over the tenant's
 * deliveries of the last hours (created in that window): per hour, and per endpoint with the
 * endpoints that fail most first.
 */
#include <stdio.h>
#include <stdlib.h>

#include "routes.h"

void stats_deliveries(struct req *r)
{
	const char *h = req_query(r, "hours");
	char *end = NULL;
	long hours = h ? strtol(h, &end, 10) : 24;
	if (h && (!*h || *end || hours < 1 || hours > 168)) {
		reply_invalid(r, "query", "hours", "value_error", "hours must be from 1 to 168");
		return;
	}
	char hbuf[8];
	snprintf(hbuf, sizeof(hbuf), "%ld", hours);
	const char *params[] = { r->tenant_id, hbuf };
	/* "pending" counts every delivery not finished yet (pending, retry_scheduled,
	 * delivering). */
	reply_query(r, 200, "window",
		"with w as (select date_trunc('hour', now()) - ($2::int - 1) * interval '1 hour' as since),"
		" d as (select d.webhook_id, date_trunc('hour', d.created_at) as h, d.status"
		"   from deliveries d, w where d.tenant_id = $1 and d.created_at >= w.since"
		"   and d.id >= pghook_id_at('dlv', w.since)),"
		" hs as (select g as h from w, generate_series(w.since, date_trunc('hour', now()),"
		"   interval '1 hour') g),"
		" per_hour as (select hs.h, count(d.status) filter (where d.status = 'delivered') as ok,"
		"   count(d.status) filter (where d.status = 'failed') as failed,"
		"   count(d.status) filter (where d.status not in ('delivered', 'failed')) as pending"
		"   from hs left join d on d.h = hs.h group by hs.h),"
		" per_hook as (select d.webhook_id,"
		"   count(*) filter (where d.status = 'delivered') as ok,"
		"   count(*) filter (where d.status = 'failed') as failed,"
		"   count(*) filter (where d.status not in ('delivered', 'failed')) as pending"
		"   from d group by d.webhook_id)"
		" select json_build_object('since', pghook_ts((select since from w)),"
		" 'until', pghook_ts(now()), 'hours', (select json_agg(json_build_object("
		"   'hour', pghook_ts(p.h), 'delivered', p.ok, 'failed', p.failed,"
		"   'pending', p.pending) order by p.h) from per_hour p),"
		" 'endpoints', coalesce((select json_agg(json_build_object('webhookId', p.webhook_id,"
		"   'url', wh.url, 'description', wh.description, 'status', wh.status,"
		"   'deleted', wh.deleted_at is not null, 'delivered', p.ok, 'failed', p.failed,"
		"   'pending', p.pending) order by p.failed desc, p.ok + p.failed + p.pending desc,"
		"   p.webhook_id)"
		"   from per_hook p join webhooks wh on wh.id = p.webhook_id), '[]'::json))",
		2, params);
}
