-- SPDX-License-Identifier: MIT
-- The workers deliver for every tenant, so they see every tenant's rows of the tables they
-- work on: a policy "using (true)" for their role, not BYPASSRLS (a role attribute that
-- membership does not pass on), which also keeps them off the tables they do not work on
-- (tenants, api_keys).
create policy all_tenants_worker on webhooks to pghook_worker using (true) with check (true);
create policy all_tenants_worker on events to pghook_worker using (true) with check (true);
create policy all_tenants_worker on deliveries to pghook_worker using (true) with check (true);
create policy all_tenants_worker on attempts to pghook_worker using (true) with check (true);
create policy all_tenants_worker on notifications to pghook_worker using (true) with check (true);
create policy all_tenants_worker on webhook_sched to pghook_worker using (true) with check (true);
