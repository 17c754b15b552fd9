-- SPDX-License-Identifier: MIT
-- Cross-tenant maintenance (stats, prune, reports) by an operator role that is not a
-- superuser: pghook_admin sees every tenant's rows.
create policy all_tenants_admin on tenants to pghook_admin using (true) with check (true);
create policy all_tenants_admin on api_keys to pghook_admin using (true) with check (true);
create policy all_tenants_admin on webhooks to pghook_admin using (true) with check (true);
create policy all_tenants_admin on events to pghook_admin using (true) with check (true);
create policy all_tenants_admin on deliveries to pghook_admin using (true) with check (true);
create policy all_tenants_admin on attempts to pghook_admin using (true) with check (true);
create policy all_tenants_admin on notifications to pghook_admin using (true) with check (true);
create policy all_tenants_admin on portal_sessions to pghook_admin using (true) with check (true);
create policy all_tenants_admin on webhook_sched to pghook_admin using (true) with check (true);
create policy all_tenants_admin on tenant_limits to pghook_admin using (true) with check (true);
create policy all_tenants_admin on event_types to pghook_admin using (true) with check (true);
