-- SPDX-License-Identifier: MIT
-- The queue tables (migration 18) follow deliveries: a pending or retry_scheduled delivery
-- has one delivery_due row (its due time is next_retry_at); a delivering one is counted in
-- the delivery_leases row of its claim_token, webhook and lease_expires_at, which lists its
-- id; a delivered or failed one is in neither.
-- Statement-level triggers with transition tables keep that true for every writer of
-- deliveries: one call per statement, set-based, whatever the number of rows (a claim of
-- 100 rows runs each of these statements once, not a function per row). reconcile.sql's
-- queue_rows checks it.
--
-- Security definer: the api and the workers write deliveries; neither is granted the queue
-- tables' writes, only the workers and pghook_admin their reads (grants/roles.sql).

-- One function for the three events: the old rows (update, delete) leave their places, the
-- new ones (insert, update) take theirs. An update's row leaves and comes back even when its
-- place did not change; pairing old and new rows instead cost a join that plpgsql plans once,
-- for the row counts of the first call: a claim's first statement updates no row, and the
-- nested loop planned for it paired 100 rows with 100 at every later claim (1.4 ms each).
-- Each old due row is found by its whole index key, an exact descent per old row, and the
-- plan cannot be another: the old rows drive a lateral lookup (its limit keeps the planner
-- from flattening it), and the rows found are deleted by ctid. The planner knows nothing of
-- the transition tables, and plpgsql keeps the plan of the first call: with a join, plans
-- that hashed the old rows read the whole queue table (22 µs per delivery at each claim
-- and completion beside 20,000 due deliveries), and one made for an empty first call read
-- every lease for each old row (1 ms per completion of 400). Leases are per claim, so an
-- update touches a few of them, by primary key.
create or replace function pghook_queue_sync() returns trigger
language plpgsql security definer set search_path from current
set enable_seqscan = off set enable_bitmapscan = off set enable_hashjoin = off
set enable_mergejoin = off set enable_material = off set jit = off as $$
begin
	if tg_op in ('UPDATE', 'DELETE') then
		delete from delivery_due q where q.ctid = any(array(
			select x.ctid from pghook_old_rows o cross join lateral (
				select q.ctid from delivery_due q
				where q.webhook_id = o.webhook_id
					and q.due_at = coalesce(o.next_retry_at, '-infinity')
					and q.delivery_id = o.id
				limit 1) x
			where o.status in ('pending', 'retry_scheduled')));
		-- the deliveries that stop delivering under a lease are counted off it
		with ended as (
			select coalesce(o.claim_token, 0) as token, o.webhook_id,
				coalesce(o.lease_expires_at, '-infinity') as expires_at, count(*)::int as n
			from pghook_old_rows o where o.status = 'delivering'
			group by 1, 2, 3
		), gone as (
			delete from delivery_leases l using ended e
			where l.claim_token = e.token and l.webhook_id = e.webhook_id
				and l.expires_at = e.expires_at and l.in_flight <= e.n
		)
		update delivery_leases l set in_flight = l.in_flight - e.n
		from ended e
		where l.claim_token = e.token and l.webhook_id = e.webhook_id
			and l.expires_at = e.expires_at and l.in_flight > e.n;
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
		insert into delivery_leases as l (claim_token, webhook_id, expires_at, in_flight,
			delivery_ids)
		select coalesce(n.claim_token, 0), n.webhook_id, coalesce(n.lease_expires_at, '-infinity'),
			count(*), array_agg(n.id)
		from pghook_new_rows n where n.status = 'delivering'
		group by 1, 2, 3
		on conflict (claim_token, webhook_id, expires_at) do update
			set in_flight = l.in_flight + excluded.in_flight,
				delivery_ids = l.delivery_ids || excluded.delivery_ids;
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
