-- SPDX-License-Identifier: MIT
-- pghook schema, version 19 (issue 17): ingest without a foreign-key check per row.
--
-- A batch ingest of 1,000 events of one delivery each ran four foreign-key checks per event,
-- each an SPI query and a KEY SHARE row lock (auto_explain, dbcost's ingest loop, µs per
-- event): events.tenant_id -> tenants 4.1, deliveries.event_id -> events 4.6 (and a 54-byte
-- lock record on the event just inserted), deliveries.webhook_id -> webhooks 3.5,
-- deliveries.replay_of_delivery_id -> deliveries 0.5 (null at ingest, still a trigger call):
-- 12.7 µs of about 60. They checked rows that pghook's own functions write in the statement
-- that reads them: the events with their deliveries, the webhooks the fan-out just matched,
-- the tenant whose key the request carried.
--
-- What they also gave is kept otherwise (docs/architecture.md, "References without foreign
-- keys"):
--   * the cascades: deleting a tenant deletes its events, deleting an event or a webhook its
--     deliveries (and those their attempts, queue rows and notifications), by statement-level
--     triggers on tenants, events and webhooks (sql/functions/cascades.sql): one set-based
--     delete per statement instead of one per row;
--   * no row referring to one deleted meanwhile: the writers take the lock the check took,
--     once per statement: ingest KEY SHARE on its tenant's row and on the webhooks its fan-out
--     matched, a replay on its event, webhook and replayed delivery. A concurrent hard
--     delete (tenant delete, prune) waits for them and its cascade then sees their rows, or
--     runs first and they find nothing to refer to;
--   * the books: reconcile.sql's dangling_ref finds any delivery whose event, webhook or
--     replayed delivery is gone and any event whose tenant is gone.
alter table deliveries drop constraint if exists deliveries_event_id_fkey,
	drop constraint if exists deliveries_webhook_id_fkey,
	drop constraint if exists deliveries_replay_of_delivery_id_fkey;
alter table events drop constraint if exists events_tenant_id_fkey;
