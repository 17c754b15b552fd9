-- SPDX-License-Identifier: MIT
-- pghook schema, version 4: tenant isolation in the database (row-level security), and the
-- roles the services connect through. What each role may do is grants/roles.sql; which rows
-- it sees, policies/*.sql.
--
-- Roles (cluster-wide, NOLOGIN; operators GRANT them to the login roles they use, README
-- "Roles and row-level security"):
--   pghook_api     the api: sees one tenant's rows, the tenant set per transaction with
--                  set_config('pghook.tenant_id', <tenant>, true) (common/db.c does it).
--   pghook_worker  the workers: deliver for every tenant, so they see every tenant's rows of
--                  the tables they work on.
--   pghook_admin   cross-tenant maintenance (stats, prune, reports) by an
--                  operator role that is not a superuser.
-- Never grant pghook_api and pghook_worker (or pghook_admin) to the same login role: policies
-- add up, so that role would see every tenant from the api too.

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

-- Every tenant table has FORCE ROW LEVEL SECURITY, so its owner (the role that migrates) is
-- held to the policies as well (policies/tenant_isolation.sql). A table added later enables
-- both in its own migration.
do $$
declare
	t text;
begin
	foreach t in array array['tenants', 'api_keys', 'webhooks', 'events', 'deliveries',
		'attempts', 'notifications'] loop
		execute format('alter table %I enable row level security', t);
		execute format('alter table %I force row level security', t);
	end loop;
end
$$;
