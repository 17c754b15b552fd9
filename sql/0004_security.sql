-- SPDX-License-Identifier: MIT
-- pghook schema, version 4: tenant isolation in the database (row-level security), and the
-- roles the services connect through.
--
-- Roles (cluster-wide, NOLOGIN; operators GRANT them to the login roles they use, README
-- "Roles and row-level security"):
--   pghook_api     the api: sees one tenant's rows, the tenant set per transaction with
--                  set_config('pghook.tenant_id', <tenant>, true) (common/db.c does it).
--   pghook_worker  the workers: deliver for every tenant, so they see every tenant's rows of
--                  the tables they work on (a policy "using (true)" for this role, not BYPASSRLS:
--                  BYPASSRLS is a role attribute that membership does not pass on, and a policy
--                  keeps the worker's view limited to its own tables: no tenants, no api_keys).
--   pghook_admin   cross-tenant maintenance (stats, prune, reports) by an
--                  operator role that is not a superuser.
-- Never grant pghook_api and pghook_worker (or pghook_admin) to the same login role: policies
-- add up, so that role would see every tenant from the api too.
--
-- Every tenant table has FORCE ROW LEVEL SECURITY, so its owner (the role that migrates) is
-- held to the policies as well: a service misconfigured to connect as the owner still sees one
-- tenant at a time, and the admin CLI's tenant and key creation set the tenant like the api.
-- Superusers bypass row-level security whatever the table says. Referential integrity checks
-- and ON DELETE CASCADE bypass it too, as they must.
--
-- A table added later needs its grants and policies in its own migration.

-- Roles are cluster-wide: two databases of one cluster may both migrate, even at the same time
-- (the migration lock is per database), so "already exists" is expected; a concurrent CREATE
-- ROLE loses on the catalog's unique index instead.
do $$
declare
	r text;
begin
	foreach r in array array['pghook_api', 'pghook_worker', 'pghook_admin'] loop
		begin
			execute format('create role %I nologin', r);
		exception when duplicate_object or unique_violation then
			null;
		end;
	end loop;
end
$$;

-- /readyz of both services checks the schema version.
grant select on pghook_schema_migrations to pghook_api, pghook_worker, pghook_admin;

-- The api: reads and writes of one tenant; tenants and keys only for the admin routes.
grant select, insert on tenants, api_keys to pghook_api;
grant select, insert, update on webhooks, events, deliveries to pghook_api;
grant select, insert on attempts, notifications to pghook_api;

-- The workers: claim, complete, release (sql/0002_worker.sql), the failure-email outbox.
grant select, update on deliveries, webhooks, events to pghook_worker;
grant select, insert on attempts to pghook_worker;
grant select, insert, update on notifications to pghook_worker;
grant usage on sequence pghook_claim_token_seq to pghook_worker;

grant select, insert, update, delete on tenants, api_keys, webhooks, events, deliveries,
	attempts, notifications to pghook_admin;
grant select on report_webhook_daily, report_failing_endpoints, report_queue to pghook_admin;

-- One tenant's rows, for every role (the owner included): the tenant is whatever the current
-- transaction set, and nothing when it set none (current_setting(..., true) is NULL, or '' once
-- a previous transaction's local setting ended). current_setting is stable, so the comparison
-- is an index condition like the tenant_id = $1 every api statement has anyway.
create policy tenant_isolation on tenants
	using (id = current_setting('pghook.tenant_id', true))
	with check (id = current_setting('pghook.tenant_id', true));

do $$
declare
	t text;
begin
	foreach t in array array['api_keys', 'webhooks', 'events', 'deliveries', 'attempts',
		'notifications'] loop
		execute format('create policy tenant_isolation on %I'
			' using (tenant_id = current_setting(''pghook.tenant_id'', true))'
			' with check (tenant_id = current_setting(''pghook.tenant_id'', true))', t);
	end loop;
	-- The workers work across tenants, on their tables only.
	foreach t in array array['webhooks', 'events', 'deliveries', 'attempts', 'notifications']
	loop
		execute format('create policy all_tenants_worker on %I to pghook_worker'
			' using (true) with check (true)', t);
	end loop;
	foreach t in array array['tenants', 'api_keys', 'webhooks', 'events', 'deliveries',
		'attempts', 'notifications'] loop
		execute format('create policy all_tenants_admin on %I to pghook_admin'
			' using (true) with check (true)', t);
		execute format('alter table %I enable row level security', t);
		execute format('alter table %I force row level security', t);
	end loop;
end
$$;

-- The reports read as whoever queries them, not as their owner: a tenant-scoped role sees its
-- tenant's rows, pghook_admin every tenant's.
alter view report_webhook_daily set (security_invoker = true);
alter view report_failing_endpoints set (security_invoker = true);
alter view report_queue set (security_invoker = true);
