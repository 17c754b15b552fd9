-- SPDX-License-Identifier: MIT
-- The queue tables (migration 18) follow deliveries: a pending or retry_scheduled delivery
-- waiting for its turn has one delivery_due row (its due time is next_retry_at); one in flight
-- has none, and is listed in the delivery_leases row of its claim (migration 22: a claim moves
-- its due rows into its lease itself, functions/claim.sql); a delivered or failed one is in
-- neither. reconcile.sql's queue_rows checks it.
--
-- Statement-level triggers with transition tables keep the due rows right for every writer of
-- deliveries: one call per statement, set-based, whatever the number of rows. The statements
-- that write only deliveries in flight say so in pghook.queue_rows, for that statement:
--   ended   the rows' flights end (a completion, a release, a lost lease failed): they have no
--           due row to take away, and get one if they are still to be sent;
--   moved   the rows stay in flight (an expired lease taken over): no due row either way.
-- Leases are not the trigger's: only the worker's own reports (completion, release) and the
-- claims that take over an expired lease count deliveries off them (functions/complete.sql).
--
-- Security definer: the api and the workers write deliveries; the api is not granted the
-- queue tables' writes (grants/roles.sql).

-- One function for the three events: the old rows (update, delete) leave their places, the
-- new ones (insert, update) take theirs. An update's row leaves and comes back even when its
-- place did not change; pairing old and new rows instead cost a join that plpgsql plans once,
-- for the row counts of the first call: a statement's first call updated no row, and the
-- nested loop planned for it paired 100 rows with 100 at every later one (1.4 ms each).
-- Each old due row is found by its whole index key, an exact descent per old row, and the
-- plan cannot be another: the old rows drive a lateral lookup (its limit keeps the planner
-- from flattening it), and the rows found are deleted by ctid. The planner knows nothing of
-- the transition tables, and plpgsql keeps the plan of the first call: with a join, plans
-- that hashed the old rows read the whole queue table (22 µs per delivery at each claim
-- and completion beside 20,000 due deliveries).
create or replace function pghook_queue_sync() returns trigger
language plpgsql security definer set search_path from current
set enable_seqscan = off set enable_bitmapscan = off set enable_hashjoin = off
set enable_mergejoin = off set enable_material = off set jit = off as $$
declare
	v_rows text := coalesce(current_setting('pghook.queue_rows', true), '');
begin
	if v_rows = 'moved' then
		return null;
	end if;
	if tg_op in ('UPDATE', 'DELETE') and v_rows <> 'ended' then
		delete from delivery_due q where q.ctid = any(array(
			select x.ctid from pghook_old_rows o cross join lateral (
				select q.ctid from delivery_due q
				where q.webhook_id = o.webhook_id
					and q.due_at = coalesce(o.next_retry_at, '-infinity')
					and q.delivery_id = o.id
				limit 1) x
			where o.status in ('pending', 'retry_scheduled')));
	end if;
	-- a delivery's attempts go with it (they had a foreign key on delete cascade until
	-- migration 18)
	if tg_op = 'DELETE' then
		delete from attempts a
		where a.delivery_id = any(array(select o.id from pghook_old_rows o));
	end if;
	if tg_op in ('INSERT', 'UPDATE') then
		insert into delivery_due (delivery_id, webhook_id, due_at, ordering_key, seq)
		select n.id, n.webhook_id, coalesce(n.next_retry_at, '-infinity'), n.ordering_key, n.seq
		from pghook_new_rows n where n.status in ('pending', 'retry_scheduled');
	end if;
	return null;
end
$$;

create or replace function pghook_queue_truncated() returns trigger
language plpgsql security definer set search_path from current as $$
begin
	truncate delivery_due, delivery_leases;
	return null;
end
$$;

create or replace trigger pghook_queue_inserted after insert on deliveries
	referencing new table as pghook_new_rows
	for each statement execute function pghook_queue_sync();
create or replace trigger pghook_queue_updated after update on deliveries
	referencing old table as pghook_old_rows new table as pghook_new_rows
	for each statement execute function pghook_queue_sync();
create or replace trigger pghook_queue_deleted after delete on deliveries
	referencing old table as pghook_old_rows
	for each statement execute function pghook_queue_sync();
create or replace trigger pghook_queue_truncated after truncate on deliveries
	for each statement execute function pghook_queue_truncated();
