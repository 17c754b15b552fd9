-- SPDX-License-Identifier: MIT
-- The daily partitions of attempts (migration 16): attempts_pYYYYMMDD holds the attempts
-- started that UTC day, attempts_default those of a day without a partition.
--
-- Security definer: creating and dropping partitions takes the table's owner, and the
-- workers (pghook_worker) and prune (pghook_admin) call these. The partitions have no
-- row-level security of their own, so the owner reads and deletes their rows directly, every
-- tenant's, which the policies on attempts would not let it do through the parent.

-- Create the partitions of today (UTC) and of the next p_days_ahead days that are missing;
-- returns how many it created. A missing day's partition is created apart, given the rows
-- attempts_default holds for that day, then attached: ATTACH takes a lock on attempts that
-- lets inserts go on (CREATE TABLE ... PARTITION OF would block them while it runs).
--
-- The workers call it on the connection their delivery loop waits on, so it never waits long:
-- when another session (a worker, migrate, prune) is at it, it returns 0 at once (the
-- partitions are on their way), and a lock it needs and cannot get within lock_timeout fails
-- it, to be tried again at the next call; the days ahead leave a week for that.
create or replace function pghook_ensure_attempt_partitions(p_days_ahead int)
returns int
language plpgsql volatile security definer set search_path from current
set lock_timeout = '2s' as $$
declare
	v_today timestamp := date_trunc('day', now() at time zone 'UTC');
	v_day timestamp;
	v_name text;
	v_created int := 0;
begin
	if not pg_try_advisory_xact_lock(hashtext('pghook_ensure_attempt_partitions')) then
		return 0;
	end if;
	for v_day in select generate_series(v_today,
		v_today + make_interval(days => greatest(p_days_ahead, 0)), interval '1 day')
	loop
		v_name := 'attempts_p' || to_char(v_day, 'YYYYMMDD');
		continue when to_regclass(v_name) is not null;
		execute format('create table %I (like attempts including defaults including constraints)',
			v_name);
		execute format('with moved as (delete from only attempts_default'
			' where started_at >= $1 and started_at < $2 returning *)'
			' insert into %I select * from moved', v_name)
			using v_day at time zone 'UTC', (v_day + interval '1 day') at time zone 'UTC';
		execute format('alter table attempts attach partition %I for values from (%L) to (%L)',
			v_name, v_day at time zone 'UTC', (v_day + interval '1 day') at time zone 'UTC');
		v_created := v_created + 1;
	end loop;
	return v_created;
end
$$;
revoke all on function pghook_ensure_attempt_partitions(int) from public;

-- Retention: the attempts started before p_cutoff go. A day's partition entirely before it is
-- dropped (no row deleted: no dead tuples, hardly any WAL); the one straddling it, and
-- attempts_default, lose their rows before it. Returns
-- {"droppedPartitions": n, "deletedAttempts": n}.
create or replace function pghook_prune_attempts(p_cutoff timestamptz)
returns json
language plpgsql volatile security definer set search_path from current as $$
declare
	v_part record;
	v_dropped int := 0;
	v_deleted bigint := 0;
	v_n bigint;
begin
	for v_part in
		select c.relname::text as name,
			to_date(substr(c.relname, 11), 'YYYYMMDD')::timestamp
				at time zone 'UTC' as lo
		from pg_inherits i join pg_class c on c.oid = i.inhrelid
		where i.inhparent = 'attempts'::regclass and c.relname ~ '^attempts_p[0-9]{8}$'
		order by 1
	loop
		if v_part.lo + interval '1 day' <= p_cutoff then
			execute format('drop table %I', v_part.name);
			v_dropped := v_dropped + 1;
		elsif v_part.lo < p_cutoff then
			execute format('delete from %I where started_at < $1', v_part.name) using p_cutoff;
			get diagnostics v_n = row_count;
			v_deleted := v_deleted + v_n;
		end if;
	end loop;
	delete from attempts_default where started_at < p_cutoff;
	get diagnostics v_n = row_count;
	return json_build_object('droppedPartitions', v_dropped,
		'deletedAttempts', v_deleted + v_n);
end
$$;
revoke all on function pghook_prune_attempts(timestamptz) from public;
