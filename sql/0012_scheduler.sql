-- SPDX-License-Identifier: MIT
-- pghook schema, version 12: the delivery scheduler (docs/architecture.md, "Scheduling").
-- Per-webhook limits that hold for the whole fleet of workers, fairness between tenants, a
-- circuit breaker per webhook and FIFO ordering per key. The state lives here, not in the
-- workers, so every worker claims within the same limits.

-- What a tenant sets per webhook. rate_limit: deliveries per second, null for no limit.
-- max_in_flight: deliveries in flight at once, null for the workers' default
-- (PGHOOK_WEBHOOK_MAX_IN_FLIGHT). ordering: fifo delivers one delivery per ordering key at a
-- time, in the order the deliveries were created.
alter table webhooks
	add column rate_limit double precision check (rate_limit > 0 and rate_limit <= 1000000),
	add column max_in_flight int check (max_in_flight between 1 and 100000),
	add column ordering text not null default 'none' check (ordering in ('none', 'fifo'));

-- The event's ordering key as given; each delivery keeps the key it is ordered by
-- (orderingKey, else eventGroup, else '') and seq, its place in that order. seq has no value
-- for rows older than this migration (they sort first) so adding it rewrites nothing.
alter table events add column ordering_key text;
create sequence pghook_delivery_seq;
alter table deliveries add column ordering_key text, add column seq bigint;
alter table deliveries alter column seq set default nextval('pghook_delivery_seq');

-- In flight per webhook: a claim counts the unexpired leases of each webhook it grants. An
-- expired lease is not counted, so a dead worker's deliveries give their slots back.
create index deliveries_inflight on deliveries (webhook_id, lease_expires_at)
	where status = 'delivering';
-- A FIFO webhook's heads: the first undelivered delivery of each key.
create index deliveries_fifo on deliveries (webhook_id, ordering_key, seq)
	where status in ('pending', 'retry_scheduled', 'delivering');

-- The scheduling state of a webhook, one row per webhook that ever had a due delivery (the
-- claim creates it). A claim locks the rows of the webhooks it serves (FOR UPDATE SKIP
-- LOCKED): two workers never grant the same webhook's budget twice and never wait for each
-- other. Kept apart from webhooks so that claims do not rewrite (or lock) the rows the api
-- reads and updates. No foreign key: its check would lock the webhook's row (KEY SHARE) and
-- make a claim wait behind whoever holds it; webhooks are never deleted, only marked deleted.
create table webhook_sched (
	webhook_id           text primary key,
	tenant_id            text not null,
	-- last claim that gave it deliveries: round robin between tenants, then webhooks
	served_at            timestamptz,
	-- token bucket of rate_limit; a new row's bucket is full (long since refilled)
	tokens               double precision not null default 0,
	refilled_at          timestamptz not null default '1970-01-01 00:00:00+00',
	-- circuit breaker: closed, open (no attempts until next_probe_at), half_open (one probe)
	circuit              text not null default 'closed'
		check (circuit in ('closed', 'open', 'half_open')),
	consecutive_failures int not null default 0,
	opened_at            timestamptz,
	next_probe_at        timestamptz,
	cooldown_ms          bigint,
	opens                bigint not null default 0
);
create index webhook_sched_open on webhook_sched (next_probe_at) where circuit <> 'closed';
alter table webhook_sched enable row level security;
alter table webhook_sched force row level security;

-- The claim and an event's rendering (now with orderingKey) changed shape; their new
-- definitions are in sql/functions.
drop function if exists pghook_event_obj(text, text, text, text, text, text, int, json, json,
	timestamptz, timestamptz);
drop function if exists pghook_claim(int, bigint, text[]);
drop function if exists pghook_claim(int, bigint);
drop function if exists pghook_due_uncapped(int);
drop function if exists pghook_full_webhooks();
