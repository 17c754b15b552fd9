-- SPDX-License-Identifier: MIT
-- pghook schema, version 1: the tables and their indexes. What a released migration does
-- never changes; the next change is the next NNNN_name.sql. Functions, views, policies and
-- grants are not migrations: each lives in one file of sql/functions, sql/views, sql/policies
-- or sql/grants, applied again whenever it changes (docs/architecture.md, "Schema"). They left
-- migrations 1-10 with migration 11; tests/integration/test_schema.py checks that a database
-- those migrated ends like a fresh one.
--
-- Ids are text: a type prefix, 12 hex digits of unix milliseconds, 16 random hex digits, so
-- string order is creation order (cursor pagination relies on it). pghook_new_id makes them,
-- and common/id.c the same in C. Times are timestamptz from the database clock.

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
	-- consecutive leases lost without an outcome (poison deliveries, functions/claim.sql);
	-- counts only while attempt_count is still lost_attempt, the attempt_count when the last
	-- was lost
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
-- pghook_event_state looks for replays of each delivery
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
