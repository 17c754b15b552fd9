-- SPDX-License-Identifier: MIT
-- pghook schema, version 17 (issue 17): fewer index entries written per delivery.
--
-- No update of a deliveries row is HOT (status, in index keys and predicates, changes on every
-- claim and every completion), so each one writes an entry into every index whose predicate
-- the new row version matches: that maintenance was most of a delivery's WAL and of the
-- claim's and the completion's CPU (docs/benchmarks.md, "PostgreSQL cost per delivery").
--
-- The list filter by status (migration 13) no longer indexes delivering rows: a claim wrote
-- one entry into it for every delivery, 227 WAL bytes of its 3,762. The few rows in flight at
-- a time are found through deliveries_leased, which holds exactly them.
-- On a large deliveries table, build the new index first with
--   create index concurrently deliveries_tenant_status_idle on deliveries (tenant_id, status, id)
--   where status <> 'delivering';
-- (docs/operations.md, "Upgrading").
create index if not exists deliveries_tenant_status_idle on deliveries (tenant_id, status, id)
	where status <> 'delivering';
drop index if exists deliveries_tenant_status;

-- Room on each page for the row versions a delivery leaves behind. A claim and a completion
-- each write a new version of the row; one that fits on the row's page is logged as the
-- changed bytes only, one that does not moves to another page and logs the whole row plus a
-- lock record: with fillfactor 80 most second versions moved (deliveries' heap: 884 WAL bytes
-- per delivery, 655 at 50). Applies to the pages written from now on; the history is kept on
-- pages that many rows emptier than before.
alter table deliveries set (fillfactor = 50);

-- A FIFO webhook's heads (functions/claim.sql, pghook_fifo_heads): the order index holds the
-- waiting rows only; the rows in flight come from deliveries_inflight. With delivering rows in
-- it, every claim of any webhook wrote an entry (203 WAL bytes per delivery).
-- On a large deliveries table, build it first with
--   create index concurrently deliveries_fifo_waiting on deliveries
--   (webhook_id, ordering_key, seq) where status in ('pending', 'retry_scheduled');
create index if not exists deliveries_fifo_waiting on deliveries (webhook_id, ordering_key, seq)
	where status in ('pending', 'retry_scheduled');
drop index if exists deliveries_fifo;
