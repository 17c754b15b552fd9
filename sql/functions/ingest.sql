-- SPDX-License-Identifier: MIT
-- Ingest: store events and fan out their deliveries, in the caller's transaction. p_events is a
-- JSON array of {type, data, sourceKey?, eventGroup?, orderingKey?}, already validated by the api. A
-- sourceKey seen before stores nothing and answers with the stored event.
--
-- The api calls pghook_ingest_rows, which returns only what it cannot know (ids, statuses, the
-- timestamp, each delivery's webhook) and renders the answer itself from the events it parsed,
-- in the shape pghook_event_obj gives: rendering a batch of 1,000 events of 1 KB in SQL cost
-- about 13 ms of a 67 ms statement, and a 1.9 MB answer copied twice on its way out.

-- One row per (event, delivery) in request order, then delivery id; an event without a delivery
-- has one row with the delivery columns null. Every timestamp of what this inserts is now()
-- (set explicitly, so ts, rendered once, is each of them). Events whose sourceKey was seen
-- before insert nothing (created false): same_as is the 1-based index of the batch's first
-- event with that key when it is in this batch, otherwise stored is the stored event as
-- pghook_event_json renders it. A new event's status is pending, or skipped when it has no
-- delivery.
create or replace function pghook_ingest_rows(p_tenant text, p_events json)
returns table (ord int, created boolean, event_id text, status text, endpoint_count int,
	ts text, same_as int, stored json, delivery_id text, webhook_id text, webhook_url text,
	webhook_description text)
language plpgsql as $$
#variable_conflict use_column
declare
	v_now timestamptz := now();
	v_ts text := pghook_ts(v_now);
begin
	-- The tenant's row, locked as events' foreign key did for each event until migration 19:
	-- a tenant delete waits for this transaction and its cascade then sees these events.
	perform pghook_hold_tenant(p_tenant);
	-- Over the tenant's fan-out quota: refused before anything is written (quota.sql).
	perform pghook_check_fanout(p_tenant, p_events);
	-- A tenant with an event-type catalog takes only its types (PH001, functions/
	-- event_types.sql); without one, this is one index probe and the events are not read.
	if exists (select 1 from event_types t where t.tenant_id = p_tenant) then
		perform pghook_catalog_check(p_tenant,
			array(select x.type from json_to_recordset(p_events) as x(type text)));
	end if;
	return query
	with input as materialized (
		select i.ord, pghook_new_id('evt') as id, i.type, i."eventGroup" as grp,
			i."sourceKey" as source_key, i."orderingKey" as okey, i.data
		from rows from (json_to_recordset(p_events)
			as (type text, data json, "sourceKey" text, "eventGroup" text,
				"orderingKey" text)) with ordinality
			as i(type, data, "sourceKey", "eventGroup", "orderingKey", ord)
	), hooks as materialized (
		-- locked (KEY SHARE) once per statement, as the foreign key of deliveries did once per
		-- delivery until migration 19: a hard delete of a webhook (its tenant's) waits for
		-- this transaction, and its cascade then sees these deliveries
		select w.id, w.url, w.description, w.subscriptions, w.retry_schedule from webhooks w
		where w.tenant_id = p_tenant and w.status = 'active' and w.deleted_at is null
		for key share of w
	), targets as materialized (
		select p.id as event_id, h.id as webhook_id, h.retry_schedule
		from input p
		join hooks h on p.type = any(h.subscriptions) or '*' = any(h.subscriptions)
	), counts as (
		select t.event_id, count(*)::int as c from targets t group by t.event_id
	), ins as (
		insert into events as e (id, tenant_id, event_type, event_group, source_key, payload,
			endpoint_count, created_at, ordering_key)
		select p.id, p_tenant, p.type, p.grp, p.source_key, p.data, coalesce(n.c, 0), v_now,
			p.okey
		from input p left join counts n on n.event_id = p.id
		order by p.ord
		on conflict (tenant_id, source_key) where source_key is not null do nothing
		returning e.id, e.source_key, e.endpoint_count
	), dl as (
		-- in request order: seq (its default) is a FIFO webhook's delivery order; the key is
		-- orderingKey, else eventGroup (sql/0012_scheduler.sql); each delivery keeps the retry
		-- schedule of its webhook at this moment (migration 15)
		insert into deliveries as d (id, tenant_id, event_id, webhook_id, status, next_retry_at,
			created_at, updated_at, ordering_key, retry_schedule)
		select pghook_new_id('dlv'), p_tenant, t.event_id, t.webhook_id, 'pending', v_now,
			v_now, v_now, coalesce(p.okey, p.grp, ''), t.retry_schedule
		from targets t join ins on ins.id = t.event_id join input p on p.id = t.event_id
		order by p.ord, t.webhook_id
		returning d.id, d.event_id, d.webhook_id
	), first_key as (
		-- a key repeated within the batch inserted only its first event (in request order)
		select ins.source_key, p.ord from ins join input p on p.id = ins.id
		where ins.source_key is not null
	)
	select p.ord::int, ins.id is not null, ins.id,
		case when ins.endpoint_count = 0 then 'skipped' when ins.id is not null then 'pending'
		end,
		ins.endpoint_count, v_ts, k.ord::int,
		case when ins.id is null and k.ord is null then
			(select pghook_event_json(x) from events x
			 where x.tenant_id = p_tenant and x.source_key = p.source_key)
		end,
		dl.id, dl.webhook_id, h.url, h.description
	from input p
	left join ins on ins.id = p.id
	left join dl on dl.event_id = ins.id
	left join hooks h on h.id = dl.webhook_id
	left join first_key k on ins.id is null and k.source_key = p.source_key
	order by p.ord, dl.id;
end
$$;

-- Lock (KEY SHARE) the tenant's row, or raise foreign_key_violation when there is none: what
-- the foreign key of events checked for every event until migration 19, once. Security
-- definer: locking a row needs a privilege to update it, which the api has not on tenants.
-- The scope row-level security needs is the tenant's for the lookup, then put back.
create or replace function pghook_hold_tenant(p_tenant text) returns void
language plpgsql security definer set search_path from current as $$
declare
	v_scope text := current_setting('pghook.tenant_id', true);
begin
	perform set_config('pghook.tenant_id', p_tenant, true);
	perform 1 from tenants t where t.id = p_tenant for key share;
	if not found then
		raise exception using errcode = 'foreign_key_violation',
			message = format('no tenant %s', p_tenant);
	end if;
	perform set_config('pghook.tenant_id', coalesce(v_scope, ''), true);
end
$$;
revoke all on function pghook_hold_tenant(text) from public;

-- pghook_ingest_rows with each event rendered as JSON, for SQL callers (operators, the test
-- fixtures). Each event is rendered by reading it back, in a statement after the one that
-- stored it, so it sees the rows just written.
create or replace function pghook_ingest(p_tenant text, p_events json)
returns table (idx int, created boolean, event json)
language plpgsql as $$
#variable_conflict use_column
declare
	v_ord int[];
	v_created boolean[];
	v_id text[];
	v_same int[];
	v_stored json[];
begin
	-- ord is 1, 2, ... in request order, so v_id[same_as] is the event a repeated key stored.
	select array_agg(r.ord order by r.ord), array_agg(r.created order by r.ord),
		array_agg(r.event_id order by r.ord), array_agg(r.same_as order by r.ord),
		array_agg(r.stored order by r.ord)
	into v_ord, v_created, v_id, v_same, v_stored
	from (select distinct on (x.ord) x.ord, x.created, x.event_id, x.same_as, x.stored
		from pghook_ingest_rows(p_tenant, p_events) x order by x.ord) r;
	return query
	select u.ord, u.created, coalesce(u.stored, pghook_event_json(e))
	from unnest(v_ord, v_created, v_id, v_same, v_stored) as u(ord, created, id, same_as, stored)
	left join events e on e.id = coalesce(u.id, v_id[u.same_as])
	order by u.ord;
end
$$;
