-- SPDX-License-Identifier: MIT
-- The transactional outbox (issue 19): an application stores an event inside its own
-- transaction, through the role pghook_producer (README "Transactional outbox"):
--
--   begin;
--   update orders set state = 'paid' where id = 42;
--   select pghook_send_event('ten_...', 'order.paid', '{"order": 42}', 'order-42-paid', null);
--   commit;
--
-- The event and its deliveries are rows of that transaction: they exist only if it commits,
-- and the NOTIFY that wakes the workers is delivered at its commit too (PostgreSQL sends
-- notifications only when the transaction commits, and drops them on rollback). It fans out
-- as POST /v1/events does (pghook_ingest: subscriptions, the event-type catalog, sourceKey
-- idempotency) and returns the event as GET /v1/events/{id} shows it.
--
-- Security definer: the producer has no privilege on pghook's tables, only this function, and
-- names the tenant. The tenant scope row-level security needs (pghook.tenant_id) is set for
-- the call and put back as it was, so the caller's transaction sees no change.
create or replace function pghook_send_event(p_tenant text, p_type text, p_data json,
	p_source_key text default null, p_event_group text default null)
returns json
language plpgsql volatile security definer set search_path from current as $$
declare
	v_scope text := current_setting('pghook.tenant_id', true);
	v_event json;
begin
	if p_tenant is null or p_type is null or p_type !~ '^[A-Za-z0-9_.:-]{1,128}$' then
		raise exception using errcode = '22023',
			message = 'pghook_send_event: type must match ^[A-Za-z0-9_.:-]{1,128}$';
	end if;
	if p_data is null or json_typeof(p_data) <> 'object' then
		raise exception using errcode = '22023',
			message = 'pghook_send_event: data must be a JSON object';
	end if;
	if length(p_source_key) not between 1 and 255 or length(p_event_group) not between 1 and 255
	then
		raise exception using errcode = '22023',
			message = 'pghook_send_event: source_key and event_group have 1 to 255 characters';
	end if;
	perform set_config('pghook.tenant_id', p_tenant, true);
	if not exists (select 1 from tenants t where t.id = p_tenant) then
		raise exception using errcode = '22023',
			message = format('pghook_send_event: no tenant %s', p_tenant);
	end if;
	select i.event into v_event
	from pghook_ingest(p_tenant, json_build_array(json_build_object('type', p_type,
		'data', p_data, 'sourceKey', p_source_key, 'eventGroup', p_event_group))) i;
	perform pg_notify('pghook_deliveries', '');
	perform set_config('pghook.tenant_id', coalesce(v_scope, ''), true);
	return v_event;
end
$$;
-- Functions are executable by PUBLIC by default: this one, a security definer, only by
-- pghook_producer (grants/roles.sql), from the moment it exists.
revoke all on function pghook_send_event(text, text, json, text, text) from public;
