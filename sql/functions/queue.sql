-- SPDX-License-Identifier: MIT
-- The queue tables (migration 18) follow deliveries: a pending or retry_scheduled delivery
-- has one delivery_due row (its due time is next_retry_at), a delivering one one
-- delivery_leases row (its expiry is lease_expires_at), a delivered or failed one neither.
-- Statement-level triggers with transition tables keep that true for every writer of
-- deliveries: one call per statement, set-based, whatever the number of rows (a claim of
-- 100 rows runs each of these statements once, not a function per row). reconcile.sql's
-- queue_rows checks it.
--
-- Security definer: the api and the workers write deliveries; neither is granted the queue
-- tables' writes, only the workers and pghook_admin their reads (grants/roles.sql).

create or replace function pghook_queue_inserted() returns trigger
language plpgsql security definer set search_path from current as $$
begin
	insert into delivery_due (delivery_id, webhook_id, due_at, ordering_key, seq)
	select n.id, n.webhook_id, coalesce(n.next_retry_at, '-infinity'), n.ordering_key, n.seq
	from pghook_new_rows n where n.status in ('pending', 'retry_scheduled');
	insert into delivery_leases (delivery_id, webhook_id, expires_at)
	select n.id, n.webhook_id, coalesce(n.lease_expires_at, '-infinity')
	from pghook_new_rows n where n.status = 'delivering';
	return null;
end
$$;

-- A row whose status, due time or lease changed leaves its old place and takes its new one;
-- the others are not touched. Old places are found by their whole index key (an exact
-- descent each).
create or replace function pghook_queue_updated() returns trigger
language plpgsql security definer set search_path from current as $$
begin
	with moved as materialized (
		select o.id, o.webhook_id as old_webhook, o.status as old_status,
			coalesce(o.next_retry_at, '-infinity') as old_due,
			coalesce(o.lease_expires_at, '-infinity') as old_lease,
			n.webhook_id, n.status, coalesce(n.next_retry_at, '-infinity') as due,
			coalesce(n.lease_expires_at, '-infinity') as lease, n.ordering_key, n.seq
		from pghook_old_rows o join pghook_new_rows n on n.id = o.id
		where (o.status, o.next_retry_at, o.lease_expires_at, o.webhook_id)
			is distinct from (n.status, n.next_retry_at, n.lease_expires_at, n.webhook_id)
	), left_due as (
		delete from delivery_due q using moved m
		where m.old_status in ('pending', 'retry_scheduled') and q.webhook_id = m.old_webhook
			and q.due_at = m.old_due and q.delivery_id = m.id
	), left_lease as (
		delete from delivery_leases l using moved m
		where m.old_status = 'delivering' and l.webhook_id = m.old_webhook
			and l.expires_at = m.old_lease and l.delivery_id = m.id
	), to_due as (
		insert into delivery_due (delivery_id, webhook_id, due_at, ordering_key, seq)
		select m.id, m.webhook_id, m.due, m.ordering_key, m.seq from moved m
		where m.status in ('pending', 'retry_scheduled')
	)
	insert into delivery_leases (delivery_id, webhook_id, expires_at)
	select m.id, m.webhook_id, m.lease from moved m where m.status = 'delivering';
	return null;
end
$$;

create or replace function pghook_queue_deleted() returns trigger
language plpgsql security definer set search_path from current as $$
begin
	delete from delivery_due q using pghook_old_rows o
	where o.status in ('pending', 'retry_scheduled') and q.webhook_id = o.webhook_id
		and q.due_at = coalesce(o.next_retry_at, '-infinity') and q.delivery_id = o.id;
	delete from delivery_leases l using pghook_old_rows o
	where o.status = 'delivering' and l.webhook_id = o.webhook_id
		and l.expires_at = coalesce(o.lease_expires_at, '-infinity') and l.delivery_id = o.id;
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
	for each statement execute function pghook_queue_inserted();
create or replace trigger pghook_queue_updated after update on deliveries
	referencing old table as pghook_old_rows new table as pghook_new_rows
	for each statement execute function pghook_queue_updated();
create or replace trigger pghook_queue_deleted after delete on deliveries
	referencing old table as pghook_old_rows
	for each statement execute function pghook_queue_deleted();
create or replace trigger pghook_queue_truncated after truncate on deliveries
	for each statement execute function pghook_queue_truncated();
