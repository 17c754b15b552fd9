-- SPDX-License-Identifier: MIT
-- Per webhook and UTC day: attempts, successes, success rate, latency percentiles. An attempt
-- succeeded when the receiver answered 2xx (external attempts recorded as delivered without a
-- status code count as successes too).
-- Read as whoever queries it (security_invoker), not as its owner: a tenant-scoped role sees
-- its tenant's rows, pghook_admin every tenant's. See docs/reporting.md.
create or replace view report_webhook_daily with (security_invoker = true) as
with a as (
	select a.*, d.tenant_id as t_id, d.webhook_id,
		(a.response_status_code between 200 and 299
		 or (a.response_status_code is null and a.trigger = 'external'
		     and d.status = 'delivered' and a.attempt_number = d.attempt_count)) as ok
	from attempts a join deliveries d on d.id = a.delivery_id
)
select a.t_id as tenant_id, a.webhook_id, w.url,
	(a.started_at at time zone 'UTC')::date as day,
	count(*) as attempts,
	count(*) filter (where a.ok) as succeeded,
	round(100.0 * count(*) filter (where a.ok) / count(*), 2) as success_rate_pct,
	round(percentile_cont(0.5) within group (order by a.duration_ms)::numeric, 1) as p50_ms,
	round(percentile_cont(0.95) within group (order by a.duration_ms)::numeric, 1) as p95_ms,
	max(a.duration_ms) as max_ms
from a join webhooks w on w.id = a.webhook_id
group by a.t_id, a.webhook_id, w.url, 4;

