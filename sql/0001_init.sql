-- SPDX-License-Identifier: MIT
-- pghook schema, version 1. Forward-only: once landed, never edit; add 0002_name.sql instead.
--
-- Ids are text: a type prefix, 12 hex digits of unix milliseconds, 16 random hex digits, so
-- string order is creation order (cursor pagination relies on it). common/id.c makes the same.
-- Times are timestamptz from the database clock. API objects are rendered to JSON here, by the
-- pghook_*_json functions, so every route and seed shape reads the same columns the same way.

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
language sql stable as $$
	select json_build_object(
		'id', w.id, 'url', w.url, 'description', w.description,
		'subscriptions', to_json(w.subscriptions),
		'notificationEmail', w.notification_email, 'secret', w.secret,
		'status', w.status, 'disabledReason', w.disabled_reason, 'metadata', w.metadata,
		'createdDate', pghook_ts(w.created_at), 'updatedDate', pghook_ts(w.updated_at))
$$;

-- A delivery as the native API shows it, plus seed 002's snapshot names (endpointId,
-- endpointName, endpointUrl, attemptedAt, organizationId) so one shape serves both.
create function pghook_delivery_json(d deliveries) returns json
language sql stable as $$
	select json_build_object(
		'id', d.id, 'eventId', d.event_id, 'webhookId', d.webhook_id,
		'eventType', e.event_type, 'status', d.status, 'attemptCount', d.attempt_count,
		'nextRetryAt', pghook_ts(d.next_retry_at), 'lastAttemptAt', pghook_ts(d.last_attempt_at),
		'deliveredAt', pghook_ts(d.delivered_at), 'responseStatusCode', d.response_status_code,
		'lastError', d.last_error, 'replayOfDeliveryId', d.replay_of_delivery_id,
		'organizationId', d.tenant_id, 'endpointId', d.webhook_id,
		'endpointName', coalesce(w.description, w.url), 'endpointUrl', w.url,
		'attemptedAt', pghook_ts(d.last_attempt_at),
		'createdAt', pghook_ts(d.created_at), 'updatedAt', pghook_ts(d.updated_at))
	from events e, webhooks w
	where e.id = d.event_id and w.id = d.webhook_id
$$;

create function pghook_event_json(e events) returns json
language sql stable as $$
	select json_build_object(
		'id', e.id, 'organizationId', e.tenant_id, 'eventType', e.event_type,
		'eventGroup', e.event_group, 'sourceKey', e.source_key, 'status', e.status,
		'endpointCount', e.endpoint_count, 'payload', e.payload,
		'deliveries', coalesce((select json_agg(pghook_delivery_json(d) order by d.id)
			from deliveries d where d.event_id = e.id), '[]'::json),
		'createdAt', pghook_ts(e.created_at), 'updatedAt', pghook_ts(e.updated_at))
$$;

create function pghook_attempt_json(a attempts) returns json
language sql stable as $$
	select json_build_object(
		'id', a.id, 'deliveryId', a.delivery_id, 'attemptNumber', a.attempt_number,
		'startedAt', pghook_ts(a.started_at), 'durationMs', a.duration_ms,
		'responseStatusCode', a.response_status_code, 'responseBody', a.response_body,
		'error', a.error, 'trigger', a.trigger, 'workerId', a.worker_id)
$$;

-- Seed 001: a "webhook delivery attempt" is a delivery, its "alert" the event.
create function pghook_seed001_json(d deliveries) returns json
language sql stable as $$
	select json_build_object(
		'id', d.id, 'type', e.event_type, 'data', e.payload,
		'createdDate', pghook_ts(e.created_at), 'alertId', e.id,
		'deliveredDate', pghook_ts(d.delivered_at),
		'lastDeliveryAttemptDate', pghook_ts(d.last_attempt_at),
		'lastDeliveryAttemptStatus', d.response_status_code,
		'lastDeliveryAttemptError', d.last_error)
	from events e where e.id = d.event_id
$$;

-- Seed 004's WebhookDeliveryResponse, snake_case, with the tenant's integer user_id.
create function pghook_seed004_json(d deliveries) returns json
language sql stable as $$
	select json_build_object(
		'id', d.id, 'endpoint_id', d.webhook_id, 'user_id', t.user_id, 'event_id', d.event_id,
		'event_type', e.event_type, 'event_group', e.event_group, 'status', d.status,
		'scheduled_attempt', d.attempt_count + 1,
		'next_retry_at', pghook_ts(d.next_retry_at), 'last_attempt_at', pghook_ts(d.last_attempt_at),
		'delivered_at', pghook_ts(d.delivered_at), 'final_http_status', d.response_status_code,
		'error_message', d.last_error, 'replay_of_delivery_id', d.replay_of_delivery_id,
		'created_at', pghook_ts(d.created_at), 'updated_at', pghook_ts(d.updated_at))
	from events e, tenants t where e.id = d.event_id and t.id = d.tenant_id
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
			when count(d.id) = 0 then 'skipped'
			when count(*) filter (where d.status not in ('delivered', 'failed')) > 0 then 'pending'
			when count(*) filter (where d.status = 'failed') > 0 then 'failed'
			else 'delivered'
			end as status
		from unnest(ids) as ev(id)
		left join deliveries d on d.event_id = ev.id
			and not exists (select 1 from deliveries r where r.replay_of_delivery_id = d.id)
		group by ev.id
	) s
	where e.id = s.id and e.status <> s.status
$$;

-- Store events and fan out their deliveries, in the caller's transaction. p_events is a JSON
-- array of {type, data, sourceKey?, eventGroup?}, already validated by the api. A sourceKey
-- seen before returns the stored event with created = false and writes nothing for it.
create function pghook_ingest(p_tenant text, p_events json)
returns table (idx int, created boolean, event json)
language plpgsql as $$
declare
	v_ids text[];
	v_inserted boolean[];
	v_keys text[];
	n_deliveries bigint;
begin
	-- One statement (no temp table: ingest is hot and catalog churn is not free).
	with input as (
		select i.ord, pghook_new_id('evt') as id, i.ev->>'type' as type,
			i.ev->>'eventGroup' as grp, i.ev->>'sourceKey' as source_key, i.ev->'data' as data
		from json_array_elements(p_events) with ordinality as i(ev, ord)
	), targets as (
		select p.id as event_id, w.id as webhook_id
		from input p
		join webhooks w on w.tenant_id = p_tenant and w.status = 'active'
			and w.deleted_at is null
			and (p.type = any(w.subscriptions) or '*' = any(w.subscriptions))
	), ins as (
		insert into events (id, tenant_id, event_type, event_group, source_key, payload,
			status, endpoint_count)
		select p.id, p_tenant, p.type, p.grp, p.source_key, p.data,
			case when n.c = 0 then 'skipped' else 'pending' end, n.c
		from input p,
			lateral (select count(*)::int as c from targets t where t.event_id = p.id) n
		order by p.ord
		on conflict (tenant_id, source_key) where source_key is not null do nothing
		returning id
	), dl as (
		insert into deliveries (id, tenant_id, event_id, webhook_id, status, next_retry_at)
		select pghook_new_id('dlv'), p_tenant, t.event_id, t.webhook_id, 'pending', now()
		from targets t join ins on ins.id = t.event_id
		order by t.event_id, t.webhook_id
		returning 1
	)
	select array_agg(p.id order by p.ord), array_agg(ins.id is not null order by p.ord),
		array_agg(p.source_key order by p.ord), (select count(*) from dl)
	into v_ids, v_inserted, v_keys, n_deliveries
	from input p left join ins on ins.id = p.id;

	-- One notification per transaction however many events it holds (PostgreSQL folds
	-- identical notifications of one transaction into one).
	if n_deliveries > 0 then
		perform pg_notify('pghook_deliveries', '');
	end if;

	return query
	select u.ord::int, u.ins, pghook_event_json(e)
	from unnest(v_ids, v_inserted, v_keys) with ordinality as u(id, ins, key, ord)
	join events e on e.tenant_id = p_tenant
		and (e.id = u.id or (not u.ins and e.source_key = u.key))
	order by u.ord;
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
-- row, or null when the delivery is not the tenant's.
create function pghook_replay(p_tenant text, p_delivery text) returns deliveries
language plpgsql as $$
declare
	d deliveries;
begin
	insert into deliveries (id, tenant_id, event_id, webhook_id, status, next_retry_at,
		replay_of_delivery_id)
	select pghook_new_id('dlv'), o.tenant_id, o.event_id, o.webhook_id, 'pending', now(), o.id
	from deliveries o where o.id = p_delivery and o.tenant_id = p_tenant
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

-- Per webhook and UTC day: attempts, successes, success rate, latency percentiles.
create view report_webhook_daily as
select d.tenant_id, d.webhook_id, w.url,
	date_trunc('day', a.started_at at time zone 'UTC')::date as day,
	count(*) as attempts,
	count(*) filter (where a.response_status_code between 200 and 299) as succeeded,
	round(100.0 * count(*) filter (where a.response_status_code between 200 and 299)
		/ count(*), 2) as success_rate_pct,
	percentile_cont(0.5) within group (order by a.duration_ms) as p50_ms,
	percentile_cont(0.95) within group (order by a.duration_ms) as p95_ms,
	max(a.duration_ms) as max_ms
from attempts a
join deliveries d on d.id = a.delivery_id
join webhooks w on w.id = d.webhook_id
group by d.tenant_id, d.webhook_id, w.url, 4;

-- Endpoints failing now: failed or retrying deliveries in the last 24 hours, the last success,
-- and the most recent error.
create view report_failing_endpoints as
select w.tenant_id, w.id as webhook_id, w.url, w.status, w.notification_email,
	count(*) filter (where d.status = 'failed') as failed_24h,
	count(*) filter (where d.status = 'retry_scheduled') as retrying_now,
	(select max(x.delivered_at) from deliveries x where x.webhook_id = w.id) as last_success_at,
	(select x.last_error from deliveries x
	 where x.webhook_id = w.id and x.last_error is not null
	 order by x.last_attempt_at desc nulls last limit 1) as last_error
from webhooks w
join deliveries d on d.webhook_id = w.id and d.created_at > now() - interval '24 hours'
where w.deleted_at is null
group by w.tenant_id, w.id, w.url, w.status, w.notification_email
having count(*) filter (where d.status in ('failed', 'retry_scheduled')) > 0;

-- The delivery backlog: how much is due and how old the oldest due delivery is (queue lag).
create view report_queue as
select count(*) filter (where next_retry_at <= now()) as due,
	count(*) filter (where next_retry_at > now()) as scheduled,
	coalesce(extract(epoch from now() - min(next_retry_at) filter (where next_retry_at <= now())),
		0) as lag_seconds
from deliveries where status in ('pending', 'retry_scheduled');
