-- SPDX-License-Identifier: MIT
-- pghook schema, version 14: portal sessions, the links an operator hands a tenant's people to
-- open the web console (/console/) without an API key. A session's token is
-- "phs_<tenant id>.<random>"; only its SHA-256 is stored. A session works until expires_at or
-- until revoked_at is set, whichever comes first (api/auth.c checks both on every request).
create table portal_sessions (
	id         text primary key,
	tenant_id  text not null references tenants on delete cascade,
	token_hash text not null unique,
	read_only  boolean not null default false,
	expires_at timestamptz not null,
	revoked_at timestamptz,
	created_at timestamptz not null default now()
);
create index portal_sessions_tenant on portal_sessions (tenant_id, id);

alter table portal_sessions enable row level security;
alter table portal_sessions force row level security;
