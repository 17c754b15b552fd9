-- SPDX-License-Identifier: MIT
-- pghook schema, version 1. Forward-only: once landed, never edit; add 0002_name.sql instead.
--
-- Ids are text: a type prefix, 12 hex digits of unix milliseconds, 16 random hex digits, so
-- string order is creation order (cursor pagination relies on it). common/id.c makes the same.
-- Times are timestamptz from the database clock. API objects are rendered to JSON here, by the
-- pghook_*_json functions, so every route and seed shape reads the same columns the same way.
-- They are plpgsql, not SQL functions: plpgsql keeps its plans for the session, while a SQL
-- function that cannot be inlined is planned again on every call (about 0.3 ms each).

create function pghook_new_id(prefix text) returns text
language sql volatile parallel safe as $$
	select prefix || '_'
		|| lpad(to_hex((extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0')
		|| substr(md5(gen_random_uuid()::text), 1, 16)
$$;

create function pghook_ts(t timestamptz) returns text
language sql stable parallel safe as $$
	select to_char(t at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

create table tenants (
	id         text primary key,
	-- seed 004's integer user_id: stable, never reused
	user_id    bigint generated always as identity unique,
	name       text not null,
	created_at timestamptz not null default now()
);

create table api_keys (
	id           text primary key,
	tenant_id    text not null references tenants on delete cascade,
	key_hash     text not null unique,      -- lowercase hex SHA-256 of the key
	created_at   timestamptz not null default now(),
	revoked_at   timestamptz
);
create index api_keys_tenant on api_keys (tenant_id);

create table webhooks (
	id                    text primary key,
	tenant_id             text not null references tenants on delete cascade,
	url                   text not null,
	description           text,
	subscriptions         text[] not null,
	notification_email    text,
	secret                text not null,
	-- after a rotation the previous secret keeps signing alongside until it expires
	previous_secret       text,
	previous_secret_until timestamptz,
	status                text not null default 'active' check (status in ('active', 'disabled')),
	disabled_reason       text,
	-- start of the current run of failed attempts; null while the last attempt succeeded
	failing_since         timestamptz,
	metadata              jsonb not null default '{}',
	created_at            timestamptz not null default now(),
	updated_at            timestamptz not null default now(),
	deleted_at            timestamptz
);
create index webhooks_tenant on webhooks (tenant_id, id) where deleted_at is null;

create table events (
	id             text primary key,
	tenant_id      text not null references tenants on delete cascade,
	event_type     text not null,
	event_group    text,
	source_key     text,
	-- json, not jsonb: the exact bytes are what receivers get and what signatures cover
	payload        json not null,
	status         text not null check (status in ('pending', 'delivered', 'failed', 'skipped')),
	endpoint_count int not null,
	created_at     timestamptz not null default now(),
	updated_at     timestamptz not null default now()
);
create unique index events_source_key on events (tenant_id, source_key) where source_key is not null;
create index events_tenant on events (tenant_id, id);

-- The hot table: one row per event per webhook, updated on every attempt. Kept narrow (the
-- payload lives once, in events) and with fillfactor headroom for HOT updates.
create table deliveries (
	id                    text primary key,
	tenant_id             text not null references tenants on delete cascade,
	event_id              text not null references events on delete cascade,
	webhook_id            text not null references webhooks on delete cascade,
	status                text not null check (status in
		('pending', 'retry_scheduled', 'delivering', 'delivered', 'failed')),
	attempt_count         int not null default 0,
	next_retry_at         timestamptz,
	lease_expires_at      timestamptz,
	claim_token           bigint,
	-- consecutive leases lost without an outcome (poison deliveries, 0002); counts only
	-- while attempt_count is still lost_attempt, the attempt_count when the last was lost
	lost_leases           int not null default 0,
	lost_attempt          int not null default 0,
	last_attempt_at       timestamptz,
	delivered_at          timestamptz,
	response_status_code  int,
	last_error            text,
	replay_of_delivery_id text references deliveries,
	created_at            timestamptz not null default now(),
	updated_at            timestamptz not null default now()
) with (fillfactor = 80);
-- The worker's claim reads these two partial indexes only: due rows and leased rows.
create index deliveries_due on deliveries (next_retry_at)
	where status in ('pending', 'retry_scheduled');
create index deliveries_leased on deliveries (lease_expires_at) where status = 'delivering';
create index deliveries_tenant on deliveries (tenant_id, id);
create index deliveries_event on deliveries (event_id);
create index deliveries_webhook on deliveries (webhook_id, id);
-- pghook_refresh_events looks for replays of each delivery
create index deliveries_replay_of on deliveries (replay_of_delivery_id)
	where replay_of_delivery_id is not null;

create table attempts (
	id                   text primary key,
	tenant_id            text not null references tenants on delete cascade,
	delivery_id          text not null references deliveries on delete cascade,
	attempt_number       int not null,
	started_at           timestamptz not null,
	duration_ms          int,
	response_status_code int,
	response_body        text,           -- the first 4 KiB
	error                text,
	trigger              text not null check (trigger in ('scheduled', 'manual', 'external')),
	worker_id            text
);
create index attempts_delivery on attempts (delivery_id, attempt_number);
create index attempts_started on attempts using brin (started_at);

-- Outbox of failure emails, drained by the workers.
create table notifications (
	id              bigint generated always as identity primary key,
	tenant_id       text not null references tenants on delete cascade,
	webhook_id      text references webhooks on delete cascade,
	delivery_id     text references deliveries on delete cascade,
	kind            text not null,          -- delivery_failed | webhook_disabled
	to_email        text not null,
	subject         text not null,
	body            text not null,
	status          text not null default 'pending' check (status in ('pending', 'sent', 'failed')),
	attempt_count   int not null default 0,
	next_attempt_at timestamptz not null default now(),
	last_error      text,
	created_at      timestamptz not null default now(),
	sent_at         timestamptz
);
create index notifications_due on notifications (next_attempt_at) where status = 'pending';

------------------------------------------------------------------------------------------------
-- Rendering

create function pghook_webhook_json(w webhooks) returns json
language plpgsql stable as $$
begin
	return (
		select json_build_object(
			'id', w.id, 'url', w.url, 'description', w.description,
			'subscriptions', to_json(w.subscriptions),
			'notificationEmail', w.notification_email, 'secret', w.secret,
			'status', w.status, 'disabledReason', w.disabled_reason, 'metadata', w.metadata,
			'createdDate', pghook_ts(w.created_at), 'updatedDate', pghook_ts(w.updated_at)));
end
$$;

-- The shapes of a delivery and an event, as plain SQL functions of their values: the planner
-- inlines them, and every place that renders one (the *_json functions below, the api's
-- single-event ingest) goes through them, so the shape is written once.
-- A delivery as the native API shows it, plus seed 002's snapshot names (endpointId,
-- endpointName, endpointUrl, attemptedAt, organizationId) so one shape serves both.
create function pghook_delivery_obj(id text, event_id text, webhook_id text, event_type text,
	status text, attempt_count int, next_retry_at timestamptz, last_attempt_at timestamptz,
	delivered_at timestamptz, response_status_code int, last_error text, replay_of text,
	tenant_id text, endpoint_name text, endpoint_url text, created_at timestamptz,
	updated_at timestamptz) returns json
language sql stable as $$
	select json_build_object(
		'id', id, 'eventId', event_id, 'webhookId', webhook_id, 'eventType', event_type,
		'status', status, 'attemptCount', attempt_count,
		'nextRetryAt', pghook_ts(next_retry_at), 'lastAttemptAt', pghook_ts(last_attempt_at),
		'deliveredAt', pghook_ts(delivered_at), 'responseStatusCode', response_status_code,
		'lastError', last_error, 'replayOfDeliveryId', replay_of,
		'organizationId', tenant_id, 'endpointId', webhook_id, 'endpointName', endpoint_name,
		'endpointUrl', endpoint_url, 'attemptedAt', pghook_ts(last_attempt_at),
		'createdAt', pghook_ts(created_at), 'updatedAt', pghook_ts(updated_at))
$$;

create function pghook_event_obj(id text, tenant_id text, event_type text, event_group text,
	source_key text, status text, endpoint_count int, payload json, deliveries json,
	created_at timestamptz, updated_at timestamptz) returns json
language sql stable as $$
	select json_build_object(
		'id', id, 'organizationId', tenant_id, 'eventType', event_type,
		'eventGroup', event_group, 'sourceKey', source_key, 'status', status,
		'endpointCount', endpoint_count, 'payload', payload,
		'deliveries', coalesce(deliveries, '[]'::json),
		'createdAt', pghook_ts(created_at), 'updatedAt', pghook_ts(updated_at))
$$;

create function pghook_delivery_json(d deliveries) returns json
language plpgsql stable as $$
begin
	return (
		select pghook_delivery_obj(d.id, d.event_id, d.webhook_id, e.event_type, d.status,
			d.attempt_count, d.next_retry_at, d.last_attempt_at, d.delivered_at,
			d.response_status_code, d.last_error, d.replay_of_delivery_id, d.tenant_id,
			coalesce(w.description, w.url), w.url, d.created_at, d.updated_at)
		from events e, webhooks w
		where e.id = d.event_id and w.id = d.webhook_id);
end
$$;

create function pghook_event_json(e events) returns json
language plpgsql stable as $$
begin
	return pghook_event_obj(e.id, e.tenant_id, e.event_type, e.event_group, e.source_key,
		e.status, e.endpoint_count, e.payload,
		(select json_agg(pghook_delivery_json(d) order by d.id)
		 from deliveries d where d.event_id = e.id),
		e.created_at, e.updated_at);
end
$$;

create function pghook_attempt_json(a attempts) returns json
language plpgsql stable as $$
begin
	return (
		select json_build_object(
			'id', a.id, 'deliveryId', a.delivery_id, 'attemptNumber', a.attempt_number,
			'startedAt', pghook_ts(a.started_at), 'durationMs', a.duration_ms,
			'responseStatusCode', a.response_status_code, 'responseBody', a.response_body,
			'error', a.error, 'trigger', a.trigger, 'workerId', a.worker_id));
end
$$;

-- Seed 001: a "webhook delivery attempt" is a delivery, its "alert" the event.
create function pghook_seed001_json(d deliveries) returns json
language plpgsql stable as $$
begin
	return (
		select json_build_object(
			'id', d.id, 'type', e.event_type, 'data', e.payload,
			'createdDate', pghook_ts(e.created_at), 'alertId', e.id,
			'deliveredDate', pghook_ts(d.delivered_at),
			'lastDeliveryAttemptDate', pghook_ts(d.last_attempt_at),
			'lastDeliveryAttemptStatus', d.response_status_code,
			'lastDeliveryAttemptError', d.last_error)
		from events e where e.id = d.event_id);
end
$$;

-- Seed 004's WebhookDeliveryResponse, snake_case, with the tenant's integer user_id.
create function pghook_seed004_json(d deliveries) returns json
language plpgsql stable as $$
begin
	return (
		select json_build_object(
			'id', d.id, 'endpoint_id', d.webhook_id, 'user_id', t.user_id, 'event_id', d.event_id,
			'event_type', e.event_type, 'event_group', e.event_group, 'status', d.status,
			'scheduled_attempt', d.attempt_count + 1,
			'next_retry_at', pghook_ts(d.next_retry_at), 'last_attempt_at', pghook_ts(d.last_attempt_at),
			'delivered_at', pghook_ts(d.delivered_at), 'final_http_status', d.response_status_code,
			'error_message', d.last_error, 'replay_of_delivery_id', d.replay_of_delivery_id,
			'created_at', pghook_ts(d.created_at), 'updated_at', pghook_ts(d.updated_at))
		from events e, tenants t where e.id = d.event_id and t.id = d.tenant_id);
end
$$;

------------------------------------------------------------------------------------------------
-- Writes shared by the api and the worker

-- Recompute the status of events from their current deliveries (a delivery replaced by a replay
-- no longer counts). Called after anything that moves a delivery.
create function pghook_refresh_events(ids text[]) returns void
language sql as $$
	update events e
	set status = s.status, updated_at = now()
	from (
		select ev.id,
			case
			when c.total = 0 then 'skipped'
			when c.open > 0 then 'pending'
			when c.failed > 0 then 'failed'
			else 'delivered'
			end as status
		from (select distinct unnest(ids)) as ev(id)
		cross join lateral (
			select count(*) as total,
				count(*) filter (where d.status not in ('delivered', 'failed')) as open,
				count(*) filter (where d.status = 'failed') as failed
			from deliveries d
			where d.event_id = ev.id
				and not exists (select 1 from deliveries r
					where r.replay_of_delivery_id = d.id)
		) c
	) s
	where e.id = s.id and e.status <> s.status
$$;

-- Store events and fan out their deliveries, in the caller's transaction. p_events is a JSON
-- array of {type, data, sourceKey?, eventGroup?}, already validated by the api. A sourceKey
-- seen before returns the stored event with created = false and writes nothing for it.
create function pghook_ingest(p_tenant text, p_events json)
returns table (idx int, created boolean, event json)
language plpgsql as $$
begin
	-- One statement (no temp table: ingest is hot and catalog churn is not free), linear in the
	-- batch: every join is a hash join, and the answer is rendered from what the statement
	-- inserted rather than read back event by event. Events whose sourceKey was seen before
	-- insert nothing: they render the stored event, or, for a key repeated within this batch,
	-- the first event with it (not yet visible to this statement's reads, hence ins_key).
	return query
	with input as materialized (
		-- json_to_recordset parses each event once (->> on json parses it again per key)
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
		insert into events (id, tenant_id, event_type, event_group, source_key, payload,
			status, endpoint_count)
		select p.id, p_tenant, p.type, p.grp, p.source_key, p.data,
			case when coalesce(n.c, 0) = 0 then 'skipped' else 'pending' end, coalesce(n.c, 0)
		from input p left join counts n on n.event_id = p.id
		order by p.ord
		on conflict (tenant_id, source_key) where source_key is not null do nothing
		returning id, event_type, event_group, source_key, status, endpoint_count, payload,
			created_at, updated_at
	), dl as (
		insert into deliveries (id, tenant_id, event_id, webhook_id, status, next_retry_at)
		select pghook_new_id('dlv'), p_tenant, t.event_id, t.webhook_id, 'pending', now()
		from targets t join ins on ins.id = t.event_id
		order by t.event_id, t.webhook_id
		returning id, event_id, webhook_id, next_retry_at, created_at, updated_at
	), dl_json as (
		select dl.event_id, json_agg(pghook_delivery_obj(dl.id, dl.event_id, dl.webhook_id,
			ins.event_type, 'pending', 0, dl.next_retry_at, null, null, null, null, null,
			p_tenant, coalesce(h.description, h.url), h.url, dl.created_at, dl.updated_at)
			order by dl.id) as j
		from dl join hooks h on h.id = dl.webhook_id join ins on ins.id = dl.event_id
		group by dl.event_id
	), ins_key as (
		select distinct on (ins.source_key) ins.*, dj.j from ins
		left join dl_json dj on dj.event_id = ins.id
		where ins.source_key is not null
		order by ins.source_key
	)
	select p.ord::int, ins.id is not null,
		case
		when ins.id is not null then
			pghook_event_obj(ins.id, p_tenant, ins.event_type, ins.event_group, ins.source_key,
				ins.status, ins.endpoint_count, ins.payload, dj.j, ins.created_at,
				ins.updated_at)
		when k.id is not null then
			pghook_event_obj(k.id, p_tenant, k.event_type, k.event_group, k.source_key,
				k.status, k.endpoint_count, k.payload, k.j, k.created_at, k.updated_at)
		else
			(select pghook_event_json(x) from events x
			 where x.tenant_id = p_tenant and x.source_key = p.source_key)
		end
	from input p
	left join ins on ins.id = p.id
	left join dl_json dj on dj.event_id = p.id
	left join ins_key k on ins.id is null and k.source_key = p.source_key
	order by p.ord;
end
$$;

-- Record one attempt on a delivery and apply its outcome (seed 002's external attempts and the
-- api's manual sends). Returns the event as JSON, or null when the delivery is not the tenant's.
create function pghook_record_attempt(p_tenant text, p_delivery text, p_status text,
	p_code int, p_body text, p_error text, p_next_retry timestamptz, p_trigger text,
	p_started timestamptz, p_duration_ms int, p_worker text)
returns json
language plpgsql as $$
declare
	d deliveries;
begin
	update deliveries set
		status = p_status,
		attempt_count = attempt_count + 1,
		last_attempt_at = coalesce(p_started, now()),
		response_status_code = p_code,
		last_error = p_error,
		next_retry_at = case when p_status in ('pending', 'retry_scheduled')
			then coalesce(p_next_retry, now()) end,
		delivered_at = case when p_status = 'delivered' then now() else delivered_at end,
		lease_expires_at = null, claim_token = null,
		updated_at = now()
	where id = p_delivery and tenant_id = p_tenant
	returning * into d;
	if not found then
		return null;
	end if;
	insert into attempts (id, tenant_id, delivery_id, attempt_number, started_at, duration_ms,
		response_status_code, response_body, error, trigger, worker_id)
	values (pghook_new_id('att'), p_tenant, p_delivery, d.attempt_count,
		coalesce(p_started, now()), p_duration_ms, p_code, left(p_body, 4096), p_error,
		p_trigger, p_worker);
	perform pghook_refresh_events(array[d.event_id]);
	if p_status in ('pending', 'retry_scheduled') then
		perform pg_notify('pghook_deliveries', '');
	end if;
	return (select pghook_event_json(e) from events e where e.id = d.event_id);
end
$$;

-- A new delivery of the same event to the same webhook, due now (seed 004). Returns the new
-- row, or null when the delivery is not the tenant's or its webhook was deleted.
create function pghook_replay(p_tenant text, p_delivery text) returns deliveries
language plpgsql as $$
declare
	d deliveries;
begin
	insert into deliveries (id, tenant_id, event_id, webhook_id, status, next_retry_at,
		replay_of_delivery_id)
	select pghook_new_id('dlv'), o.tenant_id, o.event_id, o.webhook_id, 'pending', now(), o.id
	from deliveries o
	join webhooks w on w.id = o.webhook_id and w.deleted_at is null
	where o.id = p_delivery and o.tenant_id = p_tenant
	returning * into d;
	if d.id is null then
		return null;
	end if;
	perform pghook_refresh_events(array[d.event_id]);
	perform pg_notify('pghook_deliveries', '');
	return d;
end
$$;

-- Soft-delete a webhook: its unfinished deliveries end failed with the reason, for audit.
create function pghook_delete_webhook(p_tenant text, p_webhook text) returns boolean
language plpgsql as $$
declare
	evs text[];
begin
	update webhooks set deleted_at = now(), status = 'disabled', disabled_reason = 'deleted',
		updated_at = now()
	where tenant_id = p_tenant and id = p_webhook and deleted_at is null;
	if not found then
		return false;
	end if;
	with d as (
		update deliveries set status = 'failed', last_error = 'webhook deleted',
			next_retry_at = null, lease_expires_at = null, claim_token = null,
			updated_at = now()
		where webhook_id = p_webhook
			and status in ('pending', 'retry_scheduled', 'delivering')
		returning event_id
	)
	select array_agg(distinct event_id) into evs from d;
	if evs is not null then
		perform pghook_refresh_events(evs);
	end if;
	return true;
end
$$;

------------------------------------------------------------------------------------------------
-- Reporting (see docs/reporting.md)

-- Per webhook and UTC day: attempts, successes, success rate, latency percentiles. An attempt
-- succeeded when the receiver answered 2xx (external attempts recorded as delivered without a
-- status code count as successes too).
create view report_webhook_daily as
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

-- Endpoints failing now: deliveries that ended failed in the last 24 hours (not since replayed)
-- or are waiting for a retry, with the last success and the most recent error.
create view report_failing_endpoints as
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

-- The delivery backlog: how much is due (including leases that expired, which are claimable
-- again) and how old the oldest due delivery is (queue lag).
create view report_queue as
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
