-- SPDX-License-Identifier: MIT
-- A new delivery of the same event to the same webhook, due now (seed 004). Returns the new
-- row, or null when the delivery is not the tenant's or its webhook was deleted.
create or replace function pghook_replay(p_tenant text, p_delivery text) returns deliveries
language plpgsql as $$
declare
	d deliveries;
begin
	-- a new delivery: under its webhook's retry schedule of now
	insert into deliveries (id, tenant_id, event_id, webhook_id, status, next_retry_at,
		replay_of_delivery_id, ordering_key, retry_schedule)
	select pghook_new_id('dlv'), o.tenant_id, o.event_id, o.webhook_id, 'pending', now(), o.id,
		o.ordering_key, w.retry_schedule
	from deliveries o
	join webhooks w on w.id = o.webhook_id and w.deleted_at is null
	join events e on e.id = o.event_id
	where o.id = p_delivery and o.tenant_id = p_tenant
	-- the locks the foreign keys of deliveries took until migration 19: a hard delete of
	-- the event, the webhook or the replayed delivery waits for this transaction, and its
	-- cascade sees the replay (and a replay waits for whoever holds that delivery's row)
	for key share of w, e, o
	returning * into d;
	if d.id is null then
		return null;
	end if;
	perform pg_notify('pghook_deliveries', '');
	return d;
end
$$;
