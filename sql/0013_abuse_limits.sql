-- SPDX-License-Identifier: MIT
-- pghook schema, version 13: what keeps one tenant from hurting the others (issue 18,
-- docs/reliability.md "Limits and abuse").
--
-- Per-tenant overrides of the quotas whose defaults come from the api's environment
-- (PGHOOK_TENANT_MAX_WEBHOOKS, PGHOOK_MAX_FANOUT_PER_REQUEST, PGHOOK_TENANT_EVENTS_PER_SECOND,
-- PGHOOK_TENANT_EVENTS_BURST). A null column keeps the default; 0 means no limit.
create table tenant_limits (
	tenant_id text primary key references tenants (id) on delete cascade,
	max_webhooks int check (max_webhooks >= 0),
	max_fanout int check (max_fanout >= 0),
	events_per_second int check (events_per_second >= 0),
	events_burst int check (events_burst >= 0),
	updated_at timestamptz not null default now()
);
alter table tenant_limits enable row level security;
alter table tenant_limits force row level security;

-- Failure emails: at most one delivery_failed email per webhook per window; the ones not sent
-- are kept as status 'suppressed' and counted in the next (functions/notifications.sql), found
-- through this index.
alter table notifications drop constraint notifications_status_check,
	add constraint notifications_status_check
	check (status in ('pending', 'sent', 'failed', 'suppressed'));
create index notifications_webhook_failed on notifications (webhook_id, created_at)
	where kind = 'delivery_failed';

-- The list filters (docs/api.md): status and time ranges without reading a tenant's whole
-- history. On large tables, build these with create index concurrently before upgrading
-- (docs/operations.md, "Upgrading"); "if not exists" then skips them here.
create index if not exists deliveries_tenant_status on deliveries (tenant_id, status, id);
create index if not exists deliveries_tenant_created on deliveries (tenant_id, created_at);
create index if not exists events_tenant_created on events (tenant_id, created_at);
