-- SPDX-License-Identifier: MIT
-- Endpoints failing now: deliveries that ended failed in the last 24 hours (not since replayed)
-- or are waiting for a retry, with the last success and the most recent error.
-- Read as whoever queries it (security_invoker), not as its owner: a tenant-scoped role sees
-- its tenant's rows, pghook_admin every tenant's. See docs/reporting.md.
create or replace view report_failing_endpoints with (security_invoker = true) as
select w.tenant_id, w.id as webhook_id, w.url, w.status, w.notification_email,
	count(*) filter (where d.status = 'failed') as failed_24h,
	count(*) filter (where d.status = 'retry_scheduled') as retrying_now,
	(select max(x.delivered_at) from deliveries x where x.webhook_id = w.id) as last_success_at,
	(select x.last_error from deliveries x
	 where x.webhook_id = w.id and x.last_error is not null
	 order by x.last_attempt_at desc nulls last limit 1) as last_error
from webhooks w
join deliveries d on d.webhook_id = w.id
	and (d.status = 'retry_scheduled'
	     or (d.status = 'failed' and d.updated_at > now() - interval '24 hours'
	         and not exists (select 1 from deliveries r where r.replay_of_delivery_id = d.id)))
where w.deleted_at is null
group by w.tenant_id, w.id, w.url, w.status, w.notification_email;
