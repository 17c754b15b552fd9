-- SPDX-License-Identifier: MIT
-- Row-level security: one tenant's rows, for every role (the owner included). The tenant is
-- whatever the current transaction set with set_config('pghook.tenant_id', <tenant>, true)
-- (common/db.c does it for the api), and nothing when it set none (current_setting(..., true)
-- is NULL, or '' once a previous transaction's local setting ended). current_setting is
-- stable, so the comparison is an index condition like the tenant_id = $1 every api statement
-- has anyway.
--
-- Every table here has FORCE ROW LEVEL SECURITY (migration 4), so its owner (the role that
-- migrates) is held to the policies too: a service misconfigured to connect as the owner still
-- sees one tenant at a time, and the admin CLI's tenant and key creation set the tenant like
-- the api. Superusers bypass row-level security whatever the table says; referential integrity
-- checks and ON DELETE CASCADE bypass it too, as they must. Policies add up:
-- all_tenants_worker.sql and all_tenants_admin.sql widen these for their roles. A table added
-- later enables row-level security in its migration and gets its policies here.
--
-- There is no create or replace policy: migrate drops a changed file's policies first.
create policy tenant_isolation on tenants
	using (id = current_setting('pghook.tenant_id', true))
	with check (id = current_setting('pghook.tenant_id', true));
create policy tenant_isolation on api_keys
	using (tenant_id = current_setting('pghook.tenant_id', true))
	with check (tenant_id = current_setting('pghook.tenant_id', true));
create policy tenant_isolation on webhooks
	using (tenant_id = current_setting('pghook.tenant_id', true))
	with check (tenant_id = current_setting('pghook.tenant_id', true));
create policy tenant_isolation on events
	using (tenant_id = current_setting('pghook.tenant_id', true))
	with check (tenant_id = current_setting('pghook.tenant_id', true));
create policy tenant_isolation on deliveries
	using (tenant_id = current_setting('pghook.tenant_id', true))
	with check (tenant_id = current_setting('pghook.tenant_id', true));
create policy tenant_isolation on attempts
	using (tenant_id = current_setting('pghook.tenant_id', true))
	with check (tenant_id = current_setting('pghook.tenant_id', true));
create policy tenant_isolation on notifications
	using (tenant_id = current_setting('pghook.tenant_id', true))
	with check (tenant_id = current_setting('pghook.tenant_id', true));
create policy tenant_isolation on portal_sessions
	using (tenant_id = current_setting('pghook.tenant_id', true))
	with check (tenant_id = current_setting('pghook.tenant_id', true));
create policy tenant_isolation on webhook_sched
	using (tenant_id = current_setting('pghook.tenant_id', true))
	with check (tenant_id = current_setting('pghook.tenant_id', true));
create policy tenant_isolation on tenant_limits
	using (tenant_id = current_setting('pghook.tenant_id', true))
	with check (tenant_id = current_setting('pghook.tenant_id', true));
create policy tenant_isolation on event_types
	using (tenant_id = current_setting('pghook.tenant_id', true))
	with check (tenant_id = current_setting('pghook.tenant_id', true));
