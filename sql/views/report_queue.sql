-- SPDX-License-Identifier: MIT
-- The delivery backlog: how much is due (including leases that expired, which are claimable
-- again) and how old the oldest due delivery is (queue lag).
-- Read as whoever queries it (security_invoker), not as its owner: a tenant-scoped role sees
-- its tenant's rows, pghook_admin every tenant's. See docs/reporting.md.
create or replace view report_queue with (security_invoker = true) as
with q as (
	select case when status = 'delivering' then lease_expires_at else next_retry_at end as due_at
	from deliveries
	where status in ('pending', 'retry_scheduled')
	   or (status = 'delivering' and lease_expires_at <= now())
)
select count(*) filter (where due_at <= now()) as due,
	count(*) filter (where due_at > now()) as scheduled,
	coalesce(extract(epoch from now() - min(due_at) filter (where due_at <= now())), 0)
		as lag_seconds
from q;
