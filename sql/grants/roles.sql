-- SPDX-License-Identifier: MIT
-- What each of the three roles of migration 4 may do. Operators grant pghook_api and
-- pghook_worker to the login roles the services use (README "Roles and row-level security");
-- never both to one role: policies add up, so it would see every tenant from the api too.
-- Row-level security (sql/policies) narrows each table to the rows a role may see.
--
-- Applied as a whole: every privilege of the three on pghook's objects is revoked and granted
-- again in one transaction, so what this file says is what they have, whatever they had. A
-- table, view or sequence added later goes in the revoke list and gets its grants here.
revoke all on pghook_schema_migrations, pghook_schema_repeatables, tenants, api_keys, webhooks,
	events, deliveries, attempts, notifications, portal_sessions, report_webhook_daily,
	report_failing_endpoints, report_queue, report_attempt_timings, webhook_sched,
	tenant_limits, event_types, delivery_due, delivery_leases
	from pghook_api, pghook_worker, pghook_admin;
revoke all on sequence pghook_claim_token_seq, pghook_delivery_seq
	from pghook_api, pghook_worker, pghook_admin;
revoke all on function pghook_send_event(text, text, json, text, text) from public,
	pghook_producer;
revoke all on function pghook_ensure_attempt_partitions(int) from public, pghook_worker,
	pghook_admin;
revoke all on function pghook_prune_attempts(timestamptz) from public, pghook_admin;
revoke all on function pghook_hold_tenant(text) from public, pghook_api, pghook_worker,
	pghook_admin;

-- /readyz of both services checks that the schema is current.
grant select on pghook_schema_migrations, pghook_schema_repeatables
	to pghook_api, pghook_worker, pghook_admin;

-- The api: reads and writes of one tenant; tenants and keys only for the admin routes.
grant select, insert on tenants, api_keys to pghook_api;
-- The admin routes' key revocation and tenant deletion (every row of the tenant goes with it:
-- each table references tenants on delete cascade).
grant update (revoked_at) on api_keys to pghook_api;
grant delete on tenants to pghook_api;
grant select, insert, update on webhooks, events, deliveries to pghook_api;
grant select, insert on attempts, notifications to pghook_api;
-- Portal sessions: created, read on every console request, revoked (never deleted by the api).
grant select, insert, update on portal_sessions to pghook_api;
-- a webhook's circuit, shown with it; a delivery's place in its FIFO order
grant select on webhook_sched to pghook_api;
grant usage on sequence pghook_delivery_seq to pghook_api;
-- a manual attempt, or a deleted webhook, ends a delivery's flight with a new claim token
-- (functions/apply_attempt.sql, delete_webhook.sql)
grant usage on sequence pghook_claim_token_seq to pghook_api, pghook_admin;
-- ingest locks its tenant's row (functions/ingest.sql, security definer)
grant execute on function pghook_hold_tenant(text) to pghook_api;
-- Quota overrides: read on every quota check, written by the admin routes.
grant select, insert, update, delete on tenant_limits to pghook_api;
grant select, insert, update, delete on event_types to pghook_api;
-- deleting a webhook ends its unfinished deliveries (functions/delete_webhook.sql)
grant execute on function pghook_webhook_queued(text) to pghook_api, pghook_admin;

-- The workers: claim, complete, release (sql/functions), the failure-email outbox.
grant select, update on deliveries, webhooks, events to pghook_worker;
grant select, insert on attempts to pghook_worker;
grant select, insert, update on notifications to pghook_worker;
grant usage on sequence pghook_claim_token_seq to pghook_worker;
-- the scheduler's state (sql/0012_scheduler.sql): created, locked and updated by claims
grant select, insert, update on webhook_sched to pghook_worker;
-- the queue tables (migration 22): a claim moves its due rows into its lease (locking them
-- FOR UPDATE needs the update privilege), a completion counts its deliveries off the lease;
-- deliveries' triggers keep the due rows of every other write (functions/queue.sql)
grant select, insert, update, delete on delivery_due to pghook_worker;
grant select, insert, update, delete on delivery_leases to pghook_worker;
-- the daily partitions of attempts ahead, hourly (security definer, functions/partitions.sql)
grant execute on function pghook_ensure_attempt_partitions(int) to pghook_worker;

-- Cross-tenant maintenance: stats, prune, reports.
grant select, insert, update, delete on tenants, api_keys, webhooks, events, deliveries,
	attempts, notifications, portal_sessions, webhook_sched, tenant_limits, event_types
	to pghook_admin;
grant usage on sequence pghook_delivery_seq to pghook_admin;
-- prune: the partitions of attempts ahead, and the old ones dropped (functions/partitions.sql)
grant execute on function pghook_ensure_attempt_partitions(int),
	pghook_prune_attempts(timestamptz) to pghook_admin;
grant select on report_webhook_daily, report_failing_endpoints, report_queue,
	report_attempt_timings to pghook_admin;
-- report_queue reads the queue tables as the one who queries it
grant select on delivery_due, delivery_leases to pghook_admin;

-- Applications, inside their own transactions: the outbox function only (a security definer,
-- functions/send_event.sql), no table.
grant execute on function pghook_send_event(text, text, json, text, text) to pghook_producer;
