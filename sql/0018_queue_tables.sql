-- SPDX-License-Identifier: MIT
-- pghook schema, version 18 (issue 17): the queue apart from the history.
--
-- Until now the claim's indexes were partial indexes of deliveries whose keys or predicates
-- name status, next_retry_at or lease_expires_at. Every claim and every completion changes
-- those, so no update of a deliveries row could be HOT: each wrote a new entry into every
-- index of deliveries (7 at a claim, 6 at a completion), most of a delivery's WAL and of the
-- claim's and completion's CPU (docs/benchmarks.md, "PostgreSQL cost per delivery").
--
-- Now the scheduling indexes live on two narrow tables, kept equal to deliveries by
-- statement-level triggers (sql/functions/queue.sql), so every writer of deliveries, SQL by
-- hand included, keeps them right:
--   delivery_due     one row per pending or retry_scheduled delivery: its webhook, due time,
--                    ordering key and seq (the scheduler's walk, the due rows of a webhook in
--                    due order, a FIFO webhook's heads);
--   delivery_leases  one row per claim, webhook and lease expiry: how many of its deliveries
--                    are still delivering, and their ids (in flight per webhook, expired
--                    leases and the deliveries behind them).
-- A claim deletes the due rows and inserts a lease row per webhook it served; a completion
-- counts its deliveries off their lease rows (the last one deletes it) and inserts a due row
-- for a retry. A row per delivery in flight cost about 400 WAL bytes per delivery (its
-- insert, two index entries, its delete); a row per claim and webhook, a few. Deleting writes no index entry, and no index of
-- deliveries names a column a claim or a completion changes, so both update deliveries HOT.
--
-- deliveries keeps the indexes of its lists: by id, tenant, event, webhook, replays. The list
-- filters need no index of their own any more:
--   * by time: ids begin with their creation time, the transaction's now(), which is also
--     created_at (functions/new_id.sql), so a time range is an id range of deliveries_tenant;
--   * by status: failed through deliveries_tenant_failed, on a generated column that changes
--     only when a delivery fails or stops being failed (its updates alone are not HOT);
--     the other statuses are read from the tenant's deliveries newest first.
--
-- Writers wait while this runs (the table is rewritten for the generated column anyway), so
-- no delivery is written between the copy into the queue tables and the triggers that keep
-- them (created right after, by sql/functions/queue.sql, in the same transaction).
lock table deliveries in access exclusive mode;

create table delivery_due (
	delivery_id  text not null,
	webhook_id   text not null,
	due_at       timestamptz not null,
	ordering_key text,
	seq          bigint
);
-- The scheduler's walk and a webhook's due rows in order; the id makes a row's entry unique,
-- so the trigger removes it with one exact descent.
create index delivery_due_webhook on delivery_due (webhook_id, due_at, delivery_id);
-- A FIFO webhook's heads: the first waiting delivery of each key.
create index delivery_due_fifo on delivery_due (webhook_id, ordering_key, seq);

create table delivery_leases (
	claim_token  bigint not null,
	webhook_id   text not null,
	expires_at   timestamptz not null,
	-- deliveries of the claim still delivering under this lease; the row goes at 0
	in_flight    int not null,
	-- every delivery the lease was given to (those that ended since are still listed: a
	-- reader checks each one's status and claim_token)
	delivery_ids text[] not null,
	primary key (claim_token, webhook_id, expires_at)
);
-- In flight per webhook (unexpired leases), and a webhook's expired leases.
create index delivery_leases_webhook on delivery_leases (webhook_id, expires_at);
-- Expired leases of every webhook: the scheduler's walk, poison deliveries, quarantine.
create index delivery_leases_expiry on delivery_leases (expires_at);

-- Rows come and go at the rate of deliveries: vacuumed after a few thousand dead rows, not
-- after a fifth of a table that is small at any moment.
alter table delivery_due set (autovacuum_vacuum_scale_factor = 0,
	autovacuum_vacuum_threshold = 5000, autovacuum_vacuum_insert_scale_factor = 0,
	autovacuum_vacuum_insert_threshold = 5000);
alter table delivery_leases set (autovacuum_vacuum_scale_factor = 0,
	autovacuum_vacuum_threshold = 5000, autovacuum_vacuum_insert_scale_factor = 0,
	autovacuum_vacuum_insert_threshold = 5000);

insert into delivery_due (delivery_id, webhook_id, due_at, ordering_key, seq)
select id, webhook_id, coalesce(next_retry_at, '-infinity'), ordering_key, seq
from deliveries where status in ('pending', 'retry_scheduled');
insert into delivery_leases (claim_token, webhook_id, expires_at, in_flight, delivery_ids)
select coalesce(claim_token, 0), webhook_id, coalesce(lease_expires_at, '-infinity'), count(*),
	array_agg(id)
from deliveries where status = 'delivering'
group by 1, 2, 3;

-- The list filter by status failed: the only status a tenant looks for among millions of
-- others. A generated column, so that the index's predicate names a column that changes
-- only with failure (a predicate on status would keep every update from being HOT).
alter table deliveries add column failed boolean generated always as (status = 'failed') stored;
create index deliveries_tenant_failed on deliveries (tenant_id, id) where failed;

drop index if exists deliveries_due;
drop index if exists deliveries_leased;
drop index if exists deliveries_due_webhook;
drop index if exists deliveries_inflight;
drop index if exists deliveries_fifo_waiting;
drop index if exists deliveries_tenant_status_idle;
drop index if exists deliveries_tenant_created;
-- events' time filter is an id range too (functions/new_id.sql)
drop index if exists events_tenant_created;

-- attempts -> deliveries: the foreign key's check locked the delivery's row (KEY SHARE) for
-- every attempt written, 54 WAL bytes and a lookup per delivery, for rows that only
-- pghook's functions insert, next to the delivery they just updated. What its cascade did,
-- deliveries' delete trigger does (functions/queue.sql): a delivery's attempts go with it.
alter table attempts drop constraint if exists attempts_delivery_id_fkey;
