-- SPDX-License-Identifier: MIT
-- pghook schema, version 7: an event's status is worked out from its deliveries when the event
-- is read, and no longer stored.
--
-- Keeping events.status meant, each time a delivery ended, locking its event's row and
-- writing it again: the row carries the 1 KB payload, so that was about 30 µs of the
-- database's CPU and 2 KB of WAL per delivery, a third of the database's cost of a delivery
-- (docs/benchmarks.md). The status depends on the deliveries only, and every read of an event
-- reads its deliveries anyway. Worked out there, it also cannot disagree with them: 0006 fixed
-- one way the stored status did (two completions at once left it pending for good).
-- events.updated_at goes too: it changed only with the status. An event's updatedAt is now the
-- latest change to the event or to one of its deliveries. Plain SQL reads both through
-- pghook_event_state (docs/reporting.md).
--
-- The two columns stay for one release, unmaintained: the previous release's api filters its
-- event list on events.status, and its pods keep serving while this one rolls out
-- (docs/operations.md, "Upgrading": a release stops using a column, the next one drops it).

-- The status of an event: skipped with no deliveries, pending while one is not final, then
-- failed when one failed, else delivered. A delivery replaced by a replay no longer counts.
create function pghook_event_state(e events, out status text, out updated_at timestamptz)
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

create or replace function pghook_event_json(e events) returns json
language plpgsql stable as $$
declare
	s record;
begin
	s := pghook_event_state(e);
	return pghook_event_obj(e.id, e.tenant_id, e.event_type, e.event_group, e.source_key,
		s.status, e.endpoint_count, e.payload,
		(select json_agg(pghook_delivery_json(d) order by d.id)
		 from deliveries d where d.event_id = e.id),
		e.created_at, s.updated_at);
end
$$;

-- Nothing is left to refresh. The functions of 0001 and 0002 that move deliveries still call
-- this after doing so; it stays, empty, rather than each of them being created again here.
create or replace function pghook_refresh_events(ids text[]) returns void
language sql as $$
	select
$$;
drop function pghook_refresh_events_unlocked(text[]);

-- 0005's pghook_ingest_rows without the two columns: a new event's status is pending, or
-- skipped when it has no delivery.
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
	return query
	with input as materialized (
		select i.ord, pghook_new_id('evt') as id, i.type, i."eventGroup" as grp,
			i."sourceKey" as source_key, i.data
		from rows from (json_to_recordset(p_events)
			as (type text, data json, "sourceKey" text, "eventGroup" text)) with ordinality
			as i(type, data, "sourceKey", "eventGroup", ord)
	), hooks as materialized (
		select w.id, w.url, w.description, w.subscriptions from webhooks w
		where w.tenant_id = p_tenant and w.status = 'active' and w.deleted_at is null
	), targets as materialized (
		select p.id as event_id, h.id as webhook_id
		from input p
		join hooks h on p.type = any(h.subscriptions) or '*' = any(h.subscriptions)
	), counts as (
		select t.event_id, count(*)::int as c from targets t group by t.event_id
	), ins as (
		insert into events as e (id, tenant_id, event_type, event_group, source_key, payload,
			endpoint_count, created_at)
		select p.id, p_tenant, p.type, p.grp, p.source_key, p.data, coalesce(n.c, 0), v_now
		from input p left join counts n on n.event_id = p.id
		order by p.ord
		on conflict (tenant_id, source_key) where source_key is not null do nothing
		returning e.id, e.source_key, e.endpoint_count
	), dl as (
		insert into deliveries as d (id, tenant_id, event_id, webhook_id, status, next_retry_at,
			created_at, updated_at)
		select pghook_new_id('dlv'), p_tenant, t.event_id, t.webhook_id, 'pending', v_now,
			v_now, v_now
		from targets t join ins on ins.id = t.event_id
		order by t.event_id, t.webhook_id
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

alter table events alter column status drop not null;
comment on column events.status is 'Not maintained since migration 7 (null for new events) '
	'and dropped in a later release: read pghook_event_state(e).status';
comment on column events.updated_at is 'Not maintained since migration 7 and dropped in a '
	'later release: read pghook_event_state(e).updated_at';
