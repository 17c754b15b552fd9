-- SPDX-License-Identifier: MIT
-- Claiming: a worker takes up to p_limit due deliveries at a time, in one statement and one
-- round trip. Times come from the database clock only: callers pass durations in milliseconds
-- and these functions add now().
--
-- Poison deliveries. A delivery whose processing kills or hangs its worker never gets an
-- outcome recorded: its lease expires, another worker claims it and dies the same way, for
-- ever, and every delivery in flight beside it is lost each time too. So:
--
--   * pghook_claim counts, per delivery, the leases lost in a row (expired without an outcome
--     recorded since; any recorded attempt starts the count again).
--   * The expiry that brings the count to pghook.max_lost_leases ends the delivery failed, with
--     an attempt row ("worker lost the delivery N times") and the failure email, like any other
--     final failure.
--   * The expiry before that puts the delivery in quarantine: it is claimed alone, and the
--     claiming session (one worker's connection) is given nothing else until it is settled. So
--     a delivery that only travelled beside a poison one is never failed as poison: at the last
--     step it runs alone, and only its own crash can count.
--
-- pghook.max_lost_leases is a session setting: pghook-worker sets it to the length of its
-- PGHOOK_RETRY_SCHEDULE on each claim connection (worker/pq.c); 8 when unset (the default
-- schedule's number of attempts). The columns are deliveries.lost_leases and lost_attempt.

-- Which deliveries a claim takes is the scheduler's decision (docs/architecture.md,
-- "Scheduling"), for every worker together, with its state in webhook_sched:
--
--   * Only webhooks with due deliveries are looked at, walked through delivery_due (one
--     index descent per webhook with waiting rows), plus those with expired leases
--     (delivery_leases). The queue tables are migration 18's (functions/queue.sql).
--   * Their webhook_sched rows are locked FOR UPDATE SKIP LOCKED: a webhook another claim is
--     granting is left to that claim, so two workers never grant the same budget twice and
--     never wait for each other.
--   * Round robin: the webhooks are served in turns, the first webhook of every tenant, then
--     the second, ...; tenants least recently served first, and within a tenant its webhooks
--     least recently served first. So a tenant with many webhooks does not take a batch from
--     one with few.
--   * Each webhook gets at most min(maxInFlight - its unexpired leases, its rate tokens, what
--     is left of the batch). A lease that expired is not counted: a dead worker's slots come
--     back with its leases.
--   * A webhook whose circuit is open gets nothing until its probe is due; then exactly one
--     delivery, and the circuit is half_open until that outcome (sql/functions/complete.sql).
--   * A FIFO webhook gets only the head of each ordering key (lowest seq among its undelivered
--     deliveries), and only when that head is itself due: a head in flight or waiting for its
--     retry holds its key, and only its key.
--
-- The rows come back as before, plus at most one row with a null id whose next_due_ms says
-- when a webhook skipped for its rate or its circuit can be served again: the worker claims
-- then instead of waiting for its poll. pghook.max_in_flight (the session's default of
-- maxInFlight: PGHOOK_WEBHOOK_MAX_IN_FLIGHT, set by the worker, worker/pq.c) applies where a
-- webhook sets none; 16 when unset.
--
-- No seq scan and no bitmap, in this function and the ones it calls (SET clauses hold for
-- them too): the queue tables are small when their plans are made and cached (a worker's
-- session plans on its first claims, an analyze may have seen them empty), and hold a
-- dead row for every delivery since their last vacuum. A seq scan of delivery_leases for its
-- expired leases read 20,000 dead rows at every claim of a drain (1.5-4 ms each).
--
-- Plans are made once per session and kept (plan_cache_mode, also held for the functions it
-- calls): PostgreSQL otherwise plans a statement with parameters again at every call when its
-- generic plan looks dearer than the custom ones, and with the index-only settings above it
-- always does. At 1,000 events/s a claim takes a few rows, and planning was 0.8 of its
-- 3.3 ms. The helpers it calls on every claim are plpgsql rather than sql for the same reason:
-- PostgreSQL 15 plans an sql function's body at every call that does not inline it.
create or replace function pghook_claim(p_limit int, p_lease_ms bigint)
returns table (id text, tenant_id text, event_id text, webhook_id text, attempt_count int,
	claim_token bigint, url text, secret text, previous_secret text, webhook_active boolean,
	event_type text, payload text, lag_ms bigint, options json, next_due_ms bigint)
language plpgsql volatile
set enable_seqscan = off set enable_bitmapscan = off set jit = off
set plan_cache_mode = force_generic_plan as $$
#variable_conflict use_column
declare
	v_max int := greatest(1, coalesce(
		nullif(current_setting('pghook.max_lost_leases', true), '')::int, 8));
	v_held text := nullif(current_setting('pghook.quarantine', true), '');
	v_qid text;
	v_qtoken bigint;
	v_qhook text;
	v_ids text[] := '{}';
	v_next timestamptz;
	-- One probe of delivery_leases' expiry index; nearly always empty, and then the poison
	-- and quarantine statements below are not run at all (0.3-0.4 ms a claim otherwise,
	-- mostly executor start-up, at small batches).
	v_expired text[] := pghook_expired_leases(null);
begin
	if cardinality(v_expired) > 0 then
		perform pghook_fail_lost(v_max, p_limit);
	end if;

	-- This session holds a quarantined delivery: nothing else until it is settled (its flight
	-- ended, or its lease expired).
	if v_held is not null then
		if exists (select 1 from deliveries d join delivery_leases l
				on l.claim_token = split_part(v_held, ' ', 2)::bigint
					and l.webhook_id = d.webhook_id
				where d.id = split_part(v_held, ' ', 1)
					and d.status in ('pending', 'retry_scheduled')
					and coalesce(d.claim_token, 0) < l.claim_token and l.expires_at > now()) then
			return;
		end if;
		perform set_config('pghook.quarantine', '', false);
	end if;

	-- A delivery one lost lease away from failing: claimed alone, held in quarantine.
	if cardinality(v_expired) > 0 then
		select f.id, f.token, f.webhook_id into v_qid, v_qtoken, v_qhook
		from pghook_expired_listed(null) f join deliveries d on d.id = f.id
		where d.status in ('pending', 'retry_scheduled') and coalesce(d.claim_token, 0) < f.token
			and pghook_lost_streak(d) >= v_max - 1
		order by f.expires_at limit 1
		for update of d skip locked;
	end if;
	if v_qid is not null then
		perform pghook_take_over(array[v_qid], array[v_qtoken], array[v_qhook]);
		return query select * from pghook_claim_take(array[v_qid], p_lease_ms);
		-- Its lease's token is the one pghook_claim_take drew. (The rows reach the caller when
		-- this function ends, so its current_setting reads this.)
		perform set_config('pghook.quarantine',
			v_qid || ' ' || currval('pghook_claim_token_seq'), false);
		return;
	end if;

	select s.ids, s.next_at into v_ids, v_next
	from pghook_schedule(p_limit, v_max, cardinality(v_expired) > 0) s;

	-- Nothing to take (a wake-up that found no work, a poll of an idle queue): no update, so
	-- no queue trigger either, which an update of no rows still fires.
	if cardinality(v_ids) > 0 then
		return query select * from pghook_claim_take(v_ids, p_lease_ms);
	end if;

	if v_next is not null then
		return query select null::text, null::text, null::text, null::text, null::int,
			null::bigint, null::text, null::text, null::text, null::boolean, null::text,
			null::text, null::bigint, null::json,
			greatest(1, ceil(extract(epoch from v_next - now()) * 1000))::bigint;
	end if;
end
$$;

-- pghook_claim's lease: the rows of p_ids (taken by pghook_schedule: their due rows deleted,
-- or an expired lease's deliveries taken over) listed in one lease row per webhook under a
-- new token, with what the worker needs to send them. The deliveries rows are not written
-- (migration 22): a delivery's row is written when its attempt ends. The quarantine's one
-- delivery takes its lease here too. Every row is found by primary key, and the planner is
-- told so: nested loops over index scans only (the SET clauses, applied while this function
-- runs). Its plan is cached in the worker's session, and a plan made while deliveries was small would otherwise read the table whole for the ids (a seq scan, a hash
-- join over one, or every due row through a due index, filtered on the ids), and stay
-- cached as a backlog arrived: 22-27 ms per claim beside a 50,000-delivery backlog inserted
-- after the plan (tests/bench fairness, issue 17). Planning per claim instead (EXECUTE) cost
-- 12-18 µs per delivery in 100-row claims.
create or replace function pghook_claim_take(p_ids text[], p_lease_ms bigint)
returns table (id text, tenant_id text, event_id text, webhook_id text, attempt_count int,
	claim_token bigint, url text, secret text, previous_secret text, webhook_active boolean,
	event_type text, payload text, lag_ms bigint, options json, next_due_ms bigint)
language plpgsql volatile
set enable_seqscan = off set enable_bitmapscan = off set enable_hashjoin = off
set enable_mergejoin = off set enable_material = off set jit = off
as $$
#variable_conflict use_column
begin
	return query
	with tok as (
		select nextval('pghook_claim_token_seq') as t
	), upd as (
		select d.id, d.tenant_id, d.event_id, d.webhook_id, d.attempt_count, tok.t as claim_token,
			d.next_retry_at as due_at, d.retry_schedule
		from deliveries d, tok where d.id = any(p_ids)
	), lease as (
		insert into delivery_leases (claim_token, webhook_id, expires_at, in_flight, delivery_ids)
		select u.claim_token, u.webhook_id, now() + p_lease_ms * interval '1 millisecond',
			count(*), array_agg(u.id)
		from upd u group by 1, 2
	)
	select u.id, u.tenant_id, u.event_id, u.webhook_id, u.attempt_count, u.claim_token,
		w.url, w.secret,
		case when w.previous_secret_until > now() then w.previous_secret end,
		w.status = 'active' and w.deleted_at is null,
		e.event_type, e.payload::text,
		greatest(0, (extract(epoch from now() - u.due_at) * 1000)::bigint),
		pghook_claim_options(w.headers, u.retry_schedule), null::bigint
	from upd u
	join webhooks w on w.id = u.webhook_id
	join events e on e.id = u.event_id;
end
$$;

-- The webhooks with due work: those with a due pending or retry_scheduled delivery (one index
-- descent per webhook that has waiting rows, through delivery_due_webhook) and those with an
-- expired lease.
create or replace function pghook_due_webhooks() returns text[]
language plpgsql stable as $$
begin
	return array(
		with recursive hooks(wid, first_at) as (
			(select q.webhook_id, q.due_at from delivery_due q
			order by q.webhook_id, q.due_at limit 1)
			union all
			select n.webhook_id, n.due_at from hooks h
			cross join lateral (
				select q.webhook_id, q.due_at from delivery_due q
				where q.webhook_id > h.wid
				order by q.webhook_id, q.due_at limit 1) n
		)
		select h.wid from hooks h where h.first_at <= now()
		union
		select l.webhook_id from delivery_leases l where l.expires_at <= now());
end
$$;

-- The scheduler proper (see pghook_claim): the ids of up to p_limit deliveries to claim,
-- locked (pghook_claim rechecks them), and the earliest time a webhook skipped for
-- its rate or its circuit can be served (null when none was). Locks, and updates, the
-- webhook_sched rows of the webhooks it serves, until the claim commits.
--
-- Sorting is priced out (enable_sort) so that a webhook's due rows come from
-- delivery_due_webhook, already in order, and the limit stops the scan. A plan made while
-- deliveries was small, or statistics from before a burst (a new webhook "has a few dozen
-- rows"), otherwise read them from the FIFO index and sorted them: all 12,000 of a webhook's
-- backlog for the 9 it was granted, 13-19 ms per claim beside 50,000 due deliveries (tests/bench
-- fairness). What must sort still does, at a price that only matters to plan choice; JIT is
-- off because that price would otherwise make each claim compile its queries (230 ms).
create or replace function pghook_schedule(p_limit int, p_max_lost int, p_expired boolean,
	out ids text[], out next_at timestamptz)
language plpgsql volatile
set enable_sort = off
set enable_incremental_sort = off
set jit = off
as $$
declare
	v_default int := greatest(1, coalesce(
		nullif(current_setting('pghook.max_in_flight', true), '')::int, 16));
	v_hooks text[] := pghook_due_webhooks();
	v_locked text[];
	v_left int := p_limit;
	v_grant int;
	v_inflight int;
	v_tokens double precision;
	v_got text[];
	v_probe boolean;
	h record;
	-- What each served webhook's webhook_sched row becomes, written by one update at the end
	-- (one statement per claim rather than one per webhook served).
	v_sv_id text[] := '{}';
	v_sv_at timestamptz[] := '{}';
	v_sv_n int[] := '{}';
	v_sv_tokens double precision[] := '{}';
	v_sv_probe boolean[] := '{}';
	v_retry timestamptz;
begin
	ids := '{}';
	if cardinality(v_hooks) = 0 then
		return;
	end if;
	v_locked := array(select s.webhook_id from webhook_sched s
		where s.webhook_id = any(v_hooks) order by s.webhook_id
		for update skip locked);
	-- A webhook met for the first time gets its scheduling row. Only looked for when a row
	-- is missing from the ones just locked (new, or held by another claim): a statement
	-- less in nearly every claim.
	if cardinality(v_locked) < cardinality(v_hooks) then
		insert into webhook_sched (webhook_id, tenant_id)
		select w.id, w.tenant_id from webhooks w
		where w.id = any(v_hooks)
			and not exists (select 1 from webhook_sched s where s.webhook_id = w.id)
		on conflict do nothing;
		if found then
			v_locked := v_locked || array(select s.webhook_id from webhook_sched s
				where s.webhook_id = any(v_hooks) and s.webhook_id <> all(v_locked)
				order by s.webhook_id
				for update skip locked);
		end if;
	end if;
	-- A due webhook still missing is held by another claim running now. Should this claim take
	-- nothing, its worker is told to look again shortly (next_at): one with nothing in flight
	-- would otherwise wait for its poll (a second by default) while the rows the other claim
	-- leaves stay due, as a second worker did at the start of every drain.
	if cardinality(v_locked) < cardinality(v_hooks) then
		v_retry := now() + interval '10 milliseconds';
	end if;
	if cardinality(v_locked) = 0 then
		next_at := v_retry;
		return;
	end if;

	for h in
		select s.webhook_id, s.tokens, s.refilled_at, s.circuit, s.next_probe_at,
			w.rate_limit, coalesce(w.max_in_flight, v_default) as max_in_flight,
			w.ordering = 'fifo' as fifo, coalesce(f.in_flight, 0) as in_flight
		from webhook_sched s join webhooks w on w.id = s.webhook_id
		-- Every unexpired lease, summed per webhook: a few hundred rows at most (a lease
		-- is one claim's share of one webhook), read once rather than once per webhook.
		left join (select l.webhook_id, sum(l.in_flight)::int as in_flight
			from delivery_leases l where l.expires_at > now()
			group by l.webhook_id) f on f.webhook_id = s.webhook_id
		where s.webhook_id = any(v_locked)
		order by row_number() over (partition by s.tenant_id
				order by s.served_at nulls first, s.webhook_id),
			max(s.served_at) over (partition by s.tenant_id) nulls first,
			s.tenant_id
	loop
		exit when v_left <= 0;
		v_probe := false;
		-- Circuit open: nothing until the probe is due, then one delivery.
		if h.circuit = 'open' and h.next_probe_at > now() then
			next_at := least(next_at, h.next_probe_at);
			continue;
		end if;
		v_inflight := h.in_flight;
		v_grant := least(h.max_in_flight - v_inflight, v_left);
		if h.circuit <> 'closed' then
			-- open with its probe due, or half_open with its probe lost (its lease expired)
			v_grant := case when v_inflight = 0 then least(v_grant, 1) else 0 end;
			v_probe := true;
		end if;
		-- The token bucket: refilled at rate_limit per second up to a tenth of a second's
		-- worth (at least 1), so the rate holds over any second with little burst.
		v_tokens := null;
		if h.rate_limit is not null then
			v_tokens := least(greatest(1, h.rate_limit / 10), h.tokens +
				h.rate_limit * extract(epoch from now() - h.refilled_at));
			if v_tokens < 1 then
				next_at := least(next_at,
					now() + (1 - v_tokens) / h.rate_limit * interval '1 second');
				update webhook_sched s set tokens = v_tokens, refilled_at = now()
				where s.webhook_id = h.webhook_id;
				continue;
			end if;
			v_grant := least(v_grant, floor(v_tokens)::int);
		end if;
		continue when v_grant <= 0;

		-- Expired leases first (p_expired: pghook_claim's probe found one when the claim began,
		-- which is nearly never), then due rows. Another claim's rows are skipped, never
		-- waited for.
		v_got := '{}';
		if h.fifo then
			v_got := pghook_take_fifo(h.webhook_id, v_grant, p_max_lost);
		else
			if p_expired then
				v_got := pghook_take_expired(h.webhook_id, v_grant, p_max_lost);
			end if;
			-- A claim takes a delivery by deleting its due row (locked first, so that two
			-- claims never take one row); its deliveries row is not written (migration 22).
			with g as (
				delete from delivery_due q where q.ctid = any(array(
					select x.ctid from delivery_due x
					where x.webhook_id = h.webhook_id and x.due_at <= now()
					order by x.webhook_id, x.due_at limit v_grant - cardinality(v_got)
					for update skip locked))
				returning q.delivery_id)
			select v_got || coalesce(array_agg(g.delivery_id), '{}') into v_got from g;
		end if;
		continue when cardinality(v_got) = 0;
		ids := ids || v_got;
		v_left := v_left - cardinality(v_got);
		-- served_at is taken now, so the webhooks served by this claim keep their order
		v_sv_id := v_sv_id || h.webhook_id;
		v_sv_at := v_sv_at || clock_timestamp();
		v_sv_n := v_sv_n || cardinality(v_got);
		v_sv_tokens := v_sv_tokens || v_tokens;
		v_sv_probe := v_sv_probe || v_probe;
	end loop;
	if cardinality(v_sv_id) > 0 then
		update webhook_sched s set served_at = u.at,
			tokens = coalesce(u.tokens - u.n, s.tokens),
			refilled_at = case when u.tokens is null then s.refilled_at else now() end,
			circuit = case when u.probe then 'half_open' else s.circuit end
		from unnest(v_sv_id, v_sv_at, v_sv_n, v_sv_tokens, v_sv_probe) u(id, at, n, tokens, probe)
		where s.webhook_id = u.id;
	end if;
	if cardinality(ids) = 0 then
		next_at := least(next_at, v_retry);
	end if;
end
$$;

-- A FIFO webhook's deliveries that may go now, up to p_limit: the head of each ordering key
-- (lowest seq, then id, among its undelivered deliveries) when that head is due, or its lease
-- expired. A head in flight or waiting for a retry holds its key. The waiting heads come
-- from pghook_fifo_waiting_heads (due_at: their due row's), the ones in flight through
-- delivery_leases (due_at: the lease's expiry, token: the lease's).
create or replace function pghook_fifo_heads(p_webhook text, p_limit int, p_max_lost int)
returns table (id text, due_at timestamptz, token bigint)
language plpgsql stable as $$
#variable_conflict use_column
begin
	return query
	select h.id, h.due_at, h.token from (
		select distinct on (d.ordering_key) d.id,
			coalesce(c.due_at, d.next_retry_at, '-infinity') as due_at, c.token,
			pghook_lost_streak(d) as streak
		from (
			select w.id, null::timestamptz as due_at, null::bigint as token
			from unnest(pghook_fifo_waiting_heads(p_webhook)) w(id)
			union all
			select x.id, l.expires_at, l.claim_token
			from delivery_leases l cross join unnest(l.delivery_ids) x(id)
			where l.webhook_id = p_webhook) c
		join deliveries d on d.id = c.id
		where d.status in ('pending', 'retry_scheduled')
			-- a lease still lists the deliveries of its claim that ended since
			and (c.token is null or coalesce(d.claim_token, 0) < c.token)
		order by d.ordering_key, d.seq nulls first, d.id, c.token nulls first) h
	where h.due_at <= now() and (h.token is null or h.streak < p_max_lost - 1)
	order by h.due_at limit p_limit;
end
$$;

-- The first waiting delivery of each ordering key of a FIFO webhook, through
-- delivery_due_fifo: one descent per key (the next key, then its lowest seq), so a key with
-- a backlog costs what a key with one row does. Reading the webhook's waiting rows whole
-- (distinct on) cost 4 ms per claim behind one key 7,500 rows deep, growing with it. Rows
-- without a seq (from before migration 12) come first in their key, as they are older; a
-- null key (likewise) is a key of its own.
create or replace function pghook_fifo_waiting_heads(p_webhook text) returns text[]
language plpgsql stable as $$
begin
	return array(
		with recursive k(key) as (
			(select q.ordering_key from delivery_due q
			where q.webhook_id = p_webhook and q.ordering_key is not null
			order by q.ordering_key limit 1)
			union all
			select (select q.ordering_key from delivery_due q
				where q.webhook_id = p_webhook and q.ordering_key > k.key
				order by q.ordering_key limit 1)
			from k where k.key is not null
		)
		select coalesce(
			(select q.delivery_id from delivery_due q
			where q.webhook_id = p_webhook and q.ordering_key = k.key and q.seq is null
			order by q.delivery_id limit 1),
			(select q.delivery_id from delivery_due q
			where q.webhook_id = p_webhook and q.ordering_key = k.key
			order by q.seq limit 1))
		from k where k.key is not null
		union all
		(select q.delivery_id from delivery_due q
		where q.webhook_id = p_webhook and q.ordering_key is null
		order by q.seq nulls first, q.delivery_id limit 1));
end
$$;

-- The deliveries listed in expired leases, of one webhook or (null) of all, with their lease:
-- usually none. Those that ended since are listed too (a lease lists every delivery it was
-- given until none is left in flight): callers keep those still in flight under it, status
-- pending or retry_scheduled and a claim_token below the lease's, checked on the deliveries
-- row they lock. They read the deliveries by id, a plan that holds whatever the statistics:
-- joined to delivery_leases, a plan cached when no lease had expired read every row of
-- deliveries through its primary key for its status (63 ms per claim in a drain of 20,000).
create or replace function pghook_expired_listed(p_webhook text)
returns table (id text, token bigint, webhook_id text, expires_at timestamptz)
language plpgsql stable as $$
#variable_conflict use_column
begin
	return query
	select x.id, l.claim_token, l.webhook_id, l.expires_at
	from delivery_leases l cross join unnest(l.delivery_ids) x(id)
	where l.expires_at <= now() and (p_webhook is null or l.webhook_id = p_webhook);
end
$$;

-- The ids listed in expired leases (pghook_expired_listed), oldest expiry first: pghook_claim's
-- probe, one descent of delivery_leases_expiry, nearly always empty.
create or replace function pghook_expired_leases(p_webhook text) returns text[]
language plpgsql stable as $$
begin
	return array(select unnest(l.delivery_ids) from delivery_leases l
		where l.expires_at <= now() and (p_webhook is null or l.webhook_id = p_webhook)
		order by l.expires_at);
end
$$;

-- The lost-lease count a delivery would have if its (expired) lease were taken back now.
create or replace function pghook_lost_streak(d deliveries) returns int
language sql immutable as $$
	select case when d.attempt_count = d.lost_attempt then d.lost_leases else 0 end + 1
$$;

-- Count deliveries off their leases: one (token, webhook) pair per delivery whose flight
-- ended; a lease goes when none is left in flight.
create or replace function pghook_leases_off(p_tokens bigint[], p_webhooks text[])
returns void
language plpgsql volatile as $$
begin
	with ended as (
		select t.token, t.webhook_id, count(*)::int as n
		from unnest(p_tokens, p_webhooks) t(token, webhook_id) group by 1, 2
	), gone as (
		delete from delivery_leases l using ended e
		where l.claim_token = e.token and l.webhook_id = e.webhook_id and l.in_flight <= e.n
	)
	update delivery_leases l set in_flight = l.in_flight - e.n
	from ended e
	where l.claim_token = e.token and l.webhook_id = e.webhook_id and l.in_flight > e.n;
end
$$;

-- Deliveries whose lease expired, locked by the caller, leave that lease for a new claim:
-- the row ends its flight under the old token (so an outcome its first worker reports late is
-- refused) and counts the lost lease; the old lease counts it off. The row stays in flight, so
-- it gets no due row (pghook.queue_rows, functions/queue.sql).
create or replace function pghook_take_over(p_ids text[], p_tokens bigint[], p_webhooks text[])
returns void
language plpgsql volatile as $$
begin
	perform set_config('pghook.queue_rows', 'moved', true);
	update deliveries d set claim_token = t.token, lost_leases = pghook_lost_streak(d),
		lost_attempt = d.attempt_count, updated_at = now()
	from unnest(p_ids, p_tokens) t(id, token)
	where d.id = t.id;
	perform set_config('pghook.queue_rows', '', true);
	perform pghook_leases_off(p_tokens, p_webhooks);
end
$$;

-- Up to p_limit deliveries of a webhook whose lease expired, taken over (pghook_take_over),
-- oldest expiry first; not those one lost lease from failing (pghook_claim's quarantine).
-- p_only, when given, limits them to those ids (a FIFO webhook's expired heads).
create or replace function pghook_take_expired(p_webhook text, p_limit int, p_max_lost int,
	p_only text[] default null)
returns text[]
language plpgsql volatile as $$
declare
	v_ids text[];
	v_tokens bigint[];
	v_hooks text[];
begin
	select array_agg(t.id), array_agg(t.token), array_agg(t.webhook_id)
	into v_ids, v_tokens, v_hooks
	from (select d.id, f.token, f.webhook_id
		from pghook_expired_listed(p_webhook) f join deliveries d on d.id = f.id
		where d.status in ('pending', 'retry_scheduled') and coalesce(d.claim_token, 0) < f.token
			and pghook_lost_streak(d) < p_max_lost - 1
			and (p_only is null or d.id = any(p_only))
		order by f.expires_at limit p_limit
		for update of d skip locked) t;
	if v_ids is null then
		return '{}';
	end if;
	perform pghook_take_over(v_ids, v_tokens, v_hooks);
	return v_ids;
end
$$;

-- A FIFO webhook's heads that may go now (pghook_fifo_heads), taken: a waiting head by
-- deleting its due row (found by its whole key; one another claim or writer holds or took is
-- skipped), an expired one by taking it over.
create or replace function pghook_take_fifo(p_webhook text, p_limit int, p_max_lost int)
returns text[]
language plpgsql volatile as $$
declare
	v_wait_ids text[];
	v_wait_at timestamptz[];
	v_exp text[];
	v_got text[];
begin
	select coalesce(array_agg(h.id) filter (where h.token is null), '{}'),
		coalesce(array_agg(h.due_at) filter (where h.token is null), '{}'),
		coalesce(array_agg(h.id) filter (where h.token is not null), '{}')
	into v_wait_ids, v_wait_at, v_exp
	from pghook_fifo_heads(p_webhook, p_limit, p_max_lost) h;
	with g as (
		delete from delivery_due q where q.ctid = any(array(
			select x.ctid from unnest(v_wait_ids, v_wait_at) w(id, at) cross join lateral (
				select q.ctid from delivery_due q
				where q.webhook_id = p_webhook and q.due_at = w.at and q.delivery_id = w.id
				limit 1 for update skip locked) x))
		returning q.delivery_id)
	select coalesce(array_agg(g.delivery_id), '{}') into v_got from g;
	if cardinality(v_exp) > 0 then
		v_got := v_got || pghook_take_expired(p_webhook, cardinality(v_exp), p_max_lost, v_exp);
	end if;
	return v_got;
end
$$;

-- End failed every delivery whose lease expired for the p_max-th time in a row, and drop the
-- expired leases left with nothing in flight (their deliveries ended by others: a manual
-- send, a deleted webhook, a deleted delivery). Returns the count failed. Called by
-- pghook_claim before it claims anything, when a lease expired.
create or replace function pghook_fail_lost(p_max int, p_limit int) returns int
language plpgsql volatile as $$
declare
	v_ids text[];
	v_tokens bigint[];
	v_hooks text[];
	r record;
begin
	delete from delivery_leases l
	where l.expires_at <= now() and not exists (
		select 1 from unnest(l.delivery_ids) x(id) join deliveries d on d.id = x.id
		where d.status in ('pending', 'retry_scheduled')
			and coalesce(d.claim_token, 0) < l.claim_token);
	perform set_config('pghook.queue_rows', 'ended', true);
	with lost as (
		select d.id, f.token, f.webhook_id
		from pghook_expired_listed(null) f join deliveries d on d.id = f.id
		where d.status in ('pending', 'retry_scheduled') and coalesce(d.claim_token, 0) < f.token
			and pghook_lost_streak(d) >= p_max
		order by f.expires_at limit p_limit
		for update of d skip locked
	), upd as (
		update deliveries d set status = 'failed',
			lost_leases = pghook_lost_streak(d), lost_attempt = d.attempt_count,
			attempt_count = d.attempt_count + 1, last_attempt_at = now(),
			response_status_code = null,
			last_error = format('worker lost the delivery %s times (it died or hung while '
				'delivering it): given up as poison', pghook_lost_streak(d)),
			next_retry_at = null, lease_expires_at = null, claim_token = lost.token,
			updated_at = now()
		from lost
		where d.id = lost.id
		returning d.id, d.tenant_id, d.attempt_count, d.last_error, lost.token, lost.webhook_id
	), att as (
		insert into attempts (id, tenant_id, delivery_id, attempt_number, started_at,
			duration_ms, response_status_code, response_body, error, trigger, worker_id)
		select pghook_new_id('att'), u.tenant_id, u.id, u.attempt_count, now(), 0, null, null,
			u.last_error, 'scheduled', null
		from upd u
		returning 1
	)
	select array_agg(u.id), array_agg(u.token), array_agg(u.webhook_id)
	into v_ids, v_tokens, v_hooks from upd u;
	perform set_config('pghook.queue_rows', '', true);
	if v_ids is null then
		return 0;
	end if;
	perform pghook_leases_off(v_tokens, v_hooks);
	for r in select d.id from deliveries d join webhooks w on w.id = d.webhook_id
		where d.id = any(v_ids) and w.status = 'active' loop
		perform pghook_notify_delivery_failed(r.id,
			'A webhook delivery failed and will not be retried: the worker delivering it was '
			'lost every time');
	end loop;
	return cardinality(v_ids);
end
$$;

-- Whether a pending or retry_scheduled delivery is in flight: listed by a lease whose token is
-- above the one its last flight ended under (migration 22). The api shows such a delivery
-- as "delivering". Security definer: the api does not read the queue tables; one descent of
-- delivery_leases_webhook, then the webhook's few leases.
create or replace function pghook_in_flight(d deliveries) returns boolean
language plpgsql stable security definer set search_path from current as $$
begin
	return d.status in ('pending', 'retry_scheduled') and exists (
		select 1 from delivery_leases l
		where l.webhook_id = d.webhook_id and l.claim_token > coalesce(d.claim_token, 0)
			and d.id = any(l.delivery_ids));
end
$$;

-- A delivery's status as the api shows it: "delivering" while in flight.
create or replace function pghook_delivery_status(d deliveries) returns text
language plpgsql stable as $$
begin
	return case when pghook_in_flight(d) then 'delivering' else d.status end;
end
$$;
