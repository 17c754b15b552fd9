-- SPDX-License-Identifier: MIT
-- The delivery backlog: how much is due (including leases that expired, which are claimable
-- again) and how old the oldest due delivery is (queue lag).
-- Read as whoever queries it (security_invoker), not as its owner: a tenant-scoped role sees
-- its tenant's rows (through deliveries' policies), pghook_admin every tenant's. Read from the
-- queue tables (migration 18). See docs/reporting.md.
create or replace view report_queue with (security_invoker = true) as
with q as (
	select x.due_at from delivery_due x join deliveries d on d.id = x.delivery_id
	union all
	select l.expires_at from delivery_leases l join deliveries d
		on d.id = any(l.delivery_ids) and d.status in ('pending', 'retry_scheduled')
		and coalesce(d.claim_token, 0) < l.claim_token
	where l.expires_at <= now()
)
select count(*) filter (where due_at <= now()) as due,
	count(*) filter (where due_at > now()) as scheduled,
	coalesce(extract(epoch from now() - min(due_at) filter (where due_at <= now())), 0)
		as lag_seconds
from q;
