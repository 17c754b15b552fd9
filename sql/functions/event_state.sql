-- SPDX-License-Identifier: MIT
-- An event's status and updatedAt are worked out from its deliveries whenever the event is
-- read, never stored: storing them meant rewriting the event's row (and its 1 KB payload) each
-- time a delivery ended, and they could disagree with the deliveries (migration 7). Plain SQL
-- reads them as (pghook_event_state(e)).status (docs/reporting.md).
--
-- The status: skipped with no deliveries, pending while one is not final, then failed when one
-- failed, else delivered. A delivery replaced by a replay no longer counts. updatedAt is the
-- latest change to the event or to one of its deliveries.
create or replace function pghook_event_state(e events, out status text, out updated_at timestamptz)
language plpgsql stable as $$
begin
	select case
		when count(*) = 0 then 'skipped'
		when bool_or(d.status not in ('delivered', 'failed')) then 'pending'
		when bool_or(d.status = 'failed') then 'failed'
		else 'delivered' end,
		greatest(e.created_at, max(d.updated_at))
	into status, updated_at
	from deliveries d
	where d.event_id = e.id
		and not exists (select 1 from deliveries r where r.replay_of_delivery_id = d.id);
end
$$;
