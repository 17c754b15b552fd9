-- SPDX-License-Identifier: MIT
-- pghook schema, version 16 (issue 19): attempts partitioned by day of started_at, so that
-- retention drops whole partitions (pghook-api prune, functions/partitions.sql) instead of
-- deleting rows: no dead tuples for autovacuum, no index cleanup, almost no WAL
-- (docs/operations.md "Attempt history and retention").
--
-- started_at is the key: every insert sets it (it is not null, without a default), and an
-- attempt's age is what retention is about. Daily partitions: prune's --older-than is in days
-- or finer, so at most one day's rows are deleted row by row (the partition straddling the
-- cutoff); a 90-day retention keeps about a hundred partitions, which planning and the lookups
-- by delivery (one index probe per partition) take easily. The partitions ahead are created
-- by pghook_ensure_attempt_partitions (migrate, the workers hourly, prune); an attempt of a
-- day without its partition lands in attempts_default, which that function empties into the
-- day's partition when it creates it.
--
-- The table is rebuilt: a new partitioned table with the same columns, defaults and checks,
-- one partition per day that has attempts, the rows copied, the old table dropped and the new
-- one renamed. Dropping the old table drops what depends on its row type or reads it (the
-- function pghook_attempt_json(attempts), the report views) and its policies; migrate applies
-- those files again right after, as it does for any missing object, then the grants.
--
-- Writers of attempts wait from here to the commit (SHARE blocks inserts, not reads): a worker
-- of the previous release still recording attempts during a rolling upgrade would otherwise
-- insert rows after the copy's snapshot into the table about to be dropped. Adding the foreign
-- key locks deliveries against writes until the commit too: the upgrade pauses recording
-- outcomes for as long as the copy takes (docs/operations.md, "Upgrading with zero downtime").
lock table attempts in share mode;

create table attempts_new (like attempts including defaults including constraints)
	partition by range (started_at);
create table attempts_default partition of attempts_new default;

do $$
declare
	v_day timestamp;
begin
	for v_day in select distinct date_trunc('day', started_at at time zone 'UTC') from attempts
	loop
		execute format('create table %I partition of attempts_new for values from (%L) to (%L)',
			'attempts_p' || to_char(v_day, 'YYYYMMDD'), v_day at time zone 'UTC',
			(v_day + interval '1 day') at time zone 'UTC');
	end loop;
end
$$;

insert into attempts_new select * from attempts;
drop table attempts cascade;
alter table attempts_new rename to attempts;

-- A partitioned table's unique constraints include its partition key: ids stay unique as
-- pghook_new_id makes them, the key only says so per started_at.
alter table attempts add constraint attempts_pkey primary key (id, started_at);
alter table attempts add constraint attempts_delivery_id_fkey foreign key (delivery_id)
	references deliveries on delete cascade;
create index attempts_delivery on attempts (delivery_id, attempt_number);
create index attempts_started on attempts using brin (started_at);

-- As migration 4 had it. The policies (policies/*.sql) went with the old table: migrate
-- creates them again. Partitions have no row-level security of their own, and no grants:
-- the roles reach the rows through attempts only.
alter table attempts enable row level security;
alter table attempts force row level security;
