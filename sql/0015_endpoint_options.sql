-- SPDX-License-Identifier: MIT
-- pghook schema, version 15 (issue 19): per-webhook options, attempt timings, ed25519
-- signatures, the event-type catalog and the producer role of the transactional outbox.

-- Custom headers sent on every delivery of the webhook ({name: value}; null for none).
alter table webhooks add column headers jsonb;
-- The webhook's retry schedule in milliseconds (null: the worker's PGHOOK_RETRY_SCHEDULE).
alter table webhooks add column retry_schedule bigint[];
-- How deliveries are signed. With ed25519, secret (and previous_secret) hold the private key
-- as whsk_<base64 of the 32-byte seed>, sealed like an HMAC secret; public_key is the public
-- half as whpk_<base64> (not secret, so stored in clear for the answers).
alter table webhooks add column signature text not null default 'hmac-sha256'
	check (signature in ('hmac-sha256', 'ed25519'));
alter table webhooks add column public_key text;

-- The schedule a delivery was created under: its webhook's at that time (null: the global
-- one), so changing a webhook's schedule changes only the deliveries created after it.
alter table deliveries add column retry_schedule bigint[];

-- Where an attempt's time went, from libcurl (milliseconds from the start of the attempt to
-- the end of each phase; null where a phase did not happen, e.g. TLS for http).
alter table attempts add column dns_ms int, add column connect_ms int, add column tls_ms int,
	add column first_byte_ms int, add column total_ms int;

-- A tenant's catalog of event types. Empty: any type goes; otherwise subscriptions and events
-- must name its types.
create table event_types (
	tenant_id   text not null references tenants on delete cascade,
	name        text not null,
	description text,
	example     json,
	deprecated  boolean not null default false,
	created_at  timestamptz not null default now(),
	updated_at  timestamptz not null default now(),
	primary key (tenant_id, name)
);
alter table event_types enable row level security;
alter table event_types force row level security;
-- subscriptions are checked against it (functions/event_types.sql)

-- The role an application's own login role is granted to call pghook_send_event inside its
-- transactions (README "Transactional outbox"). Cluster-wide, like migration 4's.
do $$
begin
	create role pghook_producer nologin;
exception when duplicate_object or unique_violation then
	null;
end
$$;
