-- SPDX-License-Identifier: MIT
-- The cascades the foreign keys of events and deliveries did until migration 19: deleting a
-- tenant deletes its events, deleting an event or a webhook deletes its deliveries (and
-- deliveries' own delete trigger their attempts and queue rows, functions/queue.sql). One
-- set-based delete per statement, through deliveries_event, deliveries_webhook and
-- events_tenant.
--
-- Security definer, as a foreign key's cascade acted as the table's owner: the api may delete
-- a tenant but no event or delivery. The owner is held to row-level security too (FORCE,
-- migration 4), which a cascade was not: each tenant's rows are deleted with that tenant as
-- the scope (pghook.tenant_id), which is put back afterwards, so a prune across tenants
-- deletes every tenant's rows. The old rows' tenant_id is the tenant of what refers to them:
-- deliveries are written with their event's tenant, webhooks' deliveries with the webhook's.
create or replace function pghook_cascade_deleted() returns trigger
language plpgsql security definer set search_path from current
set enable_seqscan = off set jit = off as $$
declare
	v_scope text := current_setting('pghook.tenant_id', true);
	t record;
begin
	for t in select o.tenant_id, array_agg(o.id) as ids from pghook_old_rows o
		group by o.tenant_id loop
		perform set_config('pghook.tenant_id', t.tenant_id, true);
		if tg_table_name = 'events' then
			delete from deliveries d where d.event_id = any(t.ids);
		else
			delete from deliveries d where d.webhook_id = any(t.ids);
		end if;
	end loop;
	perform set_config('pghook.tenant_id', coalesce(v_scope, ''), true);
	return null;
end
$$;

-- A tenant's events, whose delete trigger above takes their deliveries.
create or replace function pghook_tenants_deleted() returns trigger
language plpgsql security definer set search_path from current
set enable_seqscan = off set jit = off as $$
declare
	v_scope text := current_setting('pghook.tenant_id', true);
	v_id text;
begin
	for v_id in select o.id from pghook_old_rows o loop
		perform set_config('pghook.tenant_id', v_id, true);
		delete from events e where e.tenant_id = v_id;
	end loop;
	perform set_config('pghook.tenant_id', coalesce(v_scope, ''), true);
	return null;
end
$$;

create or replace trigger pghook_tenant_deleted after delete on tenants
	referencing old table as pghook_old_rows
	for each statement execute function pghook_tenants_deleted();
create or replace trigger pghook_event_deleted after delete on events
	referencing old table as pghook_old_rows
	for each statement execute function pghook_cascade_deleted();
create or replace trigger pghook_webhook_deleted after delete on webhooks
	referencing old table as pghook_old_rows
	for each statement execute function pghook_cascade_deleted();
