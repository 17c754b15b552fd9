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

-- The worker's claim: pghook_claim below, skipping the due rows of p_full_webhooks (the
-- webhooks at the worker's per-webhook in-flight cap, PGHOOK_WORKER_PER_WEBHOOK), so one slow
-- receiver cannot take every delivery slot.
create or replace function pghook_claim(p_limit int, p_lease_ms bigint, p_full_webhooks text[])
returns table (id text, tenant_id text, event_id text, webhook_id text, attempt_count int,
	claim_token bigint, url text, secret text, previous_secret text, webhook_active boolean,
	event_type text, payload text, lag_ms bigint, options json)
language plpgsql volatile as $$
begin
	perform set_config('pghook.full_webhooks', coalesce(p_full_webhooks, '{}')::text, true);
	return query select * from pghook_claim(p_limit, p_lease_ms);
	perform set_config('pghook.full_webhooks', '', true);
end
$$;

-- Claim up to p_limit due deliveries: pending or retry_scheduled rows whose next_retry_at has
-- come, and delivering rows whose lease expired (their worker died). Rows other workers hold
-- are skipped, not waited for. Each claimed row gets status delivering, a lease of p_lease_ms
-- and the same fresh claim token; completion and release match on it, so a worker whose lease
-- was taken over changes nothing. Returns what the request needs. A delivery whose lease was
-- lost too often in a row is failed as poison first (above). While webhooks are capped, the
-- due rows come from pghook_due_uncapped.
create or replace function pghook_claim(p_limit int, p_lease_ms bigint)
returns table (id text, tenant_id text, event_id text, webhook_id text, attempt_count int,
	claim_token bigint, url text, secret text, previous_secret text, webhook_active boolean,
	event_type text, payload text, lag_ms bigint, options json)
language plpgsql volatile as $$
#variable_conflict use_column
declare
	v_max int := greatest(1, coalesce(
		nullif(current_setting('pghook.max_lost_leases', true), '')::int, 8));
	v_held text := nullif(current_setting('pghook.quarantine', true), '');
	v_qid text;
	v_due timestamptz;
	v_token bigint;
	v_uncapped text[];
begin
	perform pghook_fail_lost(v_max, p_limit);

	-- This session holds a quarantined delivery: nothing else until it is settled.
	if v_held is not null then
		if exists (select 1 from deliveries d
				where d.id = split_part(v_held, ' ', 1) and d.status = 'delivering'
					and d.claim_token = split_part(v_held, ' ', 2)::bigint
					and d.lease_expires_at > now()) then
			return;
		end if;
		perform set_config('pghook.quarantine', '', false);
	end if;

	-- A delivery one lost lease away from failing: claimed alone, held in quarantine.
	select d.id, d.lease_expires_at into v_qid, v_due from deliveries d
	where d.status = 'delivering' and d.lease_expires_at <= now()
		and pghook_lost_streak(d) >= v_max - 1
	order by d.lease_expires_at limit 1
	for update skip locked;
	if v_qid is not null then
		v_token := nextval('pghook_claim_token_seq');
		update deliveries d set status = 'delivering',
			lease_expires_at = now() + p_lease_ms * interval '1 millisecond',
			claim_token = v_token, lost_leases = pghook_lost_streak(d),
			lost_attempt = d.attempt_count, updated_at = now()
		where d.id = v_qid;
		perform set_config('pghook.quarantine', v_qid || ' ' || v_token, false);
		return query
		select u.id, u.tenant_id, u.event_id, u.webhook_id, u.attempt_count, u.claim_token,
			w.url, w.secret,
			case when w.previous_secret_until > now() then w.previous_secret end,
			w.status = 'active' and w.deleted_at is null,
			e.event_type, e.payload::text,
			greatest(0, (extract(epoch from now() - v_due) * 1000)::bigint),
			pghook_claim_options(w.headers, u.retry_schedule)
		from deliveries u
		join webhooks w on w.id = u.webhook_id
		join events e on e.id = u.event_id
		where u.id = v_qid;
		return;
	end if;

	v_uncapped := pghook_due_uncapped(p_limit);
	return query
	with due_rows as (
		select d.id, d.next_retry_at as due_at, false as lost from deliveries d
		where v_uncapped is null
			and d.status in ('pending', 'retry_scheduled') and d.next_retry_at <= now()
		order by d.next_retry_at limit p_limit
		for update skip locked
	), due_uncapped as (
		-- rechecked, since they were read unlocked
		select d.id, d.next_retry_at as due_at, false as lost from deliveries d
		where d.id = any(v_uncapped)
			and d.status in ('pending', 'retry_scheduled') and d.next_retry_at <= now()
			and d.webhook_id <> all(pghook_full_webhooks())
		order by d.next_retry_at limit p_limit
		for update skip locked
	), expired as (
		select d.id, d.lease_expires_at as due_at, true as lost from deliveries d
		where d.status = 'delivering' and d.lease_expires_at <= now()
			and pghook_lost_streak(d) < v_max - 1
		order by d.lease_expires_at limit p_limit
		for update skip locked
	), due as (
		select * from due_rows union all select * from due_uncapped
		union all select * from expired limit p_limit
	), tok as (
		select nextval('pghook_claim_token_seq') as t
	), upd as (
		update deliveries d set status = 'delivering',
			lease_expires_at = now() + p_lease_ms * interval '1 millisecond',
			claim_token = tok.t, updated_at = now(),
			lost_leases = case when due.lost then pghook_lost_streak(d) else d.lost_leases end,
			lost_attempt = case when due.lost then d.attempt_count else d.lost_attempt end
		from due, tok
		where d.id = due.id
		returning d.id, d.tenant_id, d.event_id, d.webhook_id, d.attempt_count, d.claim_token,
			due.due_at, d.retry_schedule
	)
	select u.id, u.tenant_id, u.event_id, u.webhook_id, u.attempt_count, u.claim_token,
		w.url, w.secret,
		case when w.previous_secret_until > now() then w.previous_secret end,
		w.status = 'active' and w.deleted_at is null,
		e.event_type, e.payload::text,
		greatest(0, (extract(epoch from now() - u.due_at) * 1000)::bigint),
		pghook_claim_options(w.headers, u.retry_schedule)
	from upd u
	join webhooks w on w.id = u.webhook_id
	join events e on e.id = u.event_id;
end
$$;

-- The webhooks the claiming worker already has at its in-flight cap, as the three-argument
-- pghook_claim set them for its transaction; empty otherwise.
create or replace function pghook_full_webhooks() returns text[]
language sql stable as $$
	select coalesce(nullif(current_setting('pghook.full_webhooks', true), ''), '{}')::text[]
$$;

-- The due deliveries of webhooks not at the worker's cap (pghook_full_webhooks()), oldest
-- first, for pghook_claim to lock: up to twice p_limit, so that rows another worker locks
-- first still leave a full batch, and at least p_limit when that many exist. Null when no
-- webhook is capped: the claim's own scan of deliveries_due then reads nothing it skips.
--
-- A capped webhook with a large backlog holds the oldest due rows, so a claim that walked
-- deliveries_due from the oldest row would read the whole backlog before it found another
-- webhook's new event (with 1,000,000 due rows behind a slow receiver, other webhooks' events
-- waited 3-4.5 s; tests/bench `neighbour`, docs/benchmarks.md). So this first reads a bounded
-- head of the due rows. When that head holds every due row, or enough of other webhooks',
-- those are taken. Otherwise it walks the webhooks that have undelivered rows through
-- deliveries_due_webhook, one index descent per webhook, capped ones stepped over, and takes
-- the oldest due rows of the others: the same rows in the same order, at a cost bounded by the
-- number of webhooks with undelivered rows instead of the capped webhooks' backlog.
create or replace function pghook_due_uncapped(p_limit int) returns text[]
language plpgsql stable as $$
declare
	v_full text[] := pghook_full_webhooks();
	v_want int := 2 * p_limit;
	v_ids text[];
	v_seen int;
begin
	if cardinality(v_full) = 0 then
		return null;
	end if;
	select coalesce(array_agg(h.id order by h.next_retry_at)
			filter (where h.webhook_id <> all(v_full)), '{}'), count(*)
	into v_ids, v_seen
	from (select d.id, d.webhook_id, d.next_retry_at from deliveries d
		where d.status in ('pending', 'retry_scheduled') and d.next_retry_at <= now()
		order by d.next_retry_at limit v_want) h;
	if v_seen < v_want or cardinality(v_ids) >= p_limit then
		return v_ids;
	end if;
	return array(
		-- Each step is one descent that finds the next webhook and its earliest row.
		with recursive hooks(wid, first_at) as (
			(select d.webhook_id, d.next_retry_at from deliveries d
			where d.status in ('pending', 'retry_scheduled')
			order by d.webhook_id, d.next_retry_at limit 1)
			union all
			select n.webhook_id, n.next_retry_at from hooks h
			cross join lateral (
				select d.webhook_id, d.next_retry_at from deliveries d
				where d.status in ('pending', 'retry_scheduled') and d.webhook_id > h.wid
				order by d.webhook_id, d.next_retry_at limit 1) n
		)
		select c.id from hooks h
		cross join lateral (
			select d.id, d.next_retry_at from deliveries d
			-- Row comparisons, not webhook_id = h.wid: with an equality the planner may take
			-- deliveries_due and filter on the webhook, reading the capped backlog again.
			where d.status in ('pending', 'retry_scheduled')
				and (d.webhook_id, d.next_retry_at) >= (h.wid, '-infinity'::timestamptz)
				and (d.webhook_id, d.next_retry_at) <= (h.wid, now())
			order by d.webhook_id, d.next_retry_at limit v_want
		) c
		where h.first_at <= now() and h.wid <> all(v_full)
		order by c.next_retry_at limit v_want);
end
$$;

-- The lost-lease count a delivery would have if its (expired) lease were taken back now.
create or replace function pghook_lost_streak(d deliveries) returns int
language sql immutable as $$
	select case when d.attempt_count = d.lost_attempt then d.lost_leases else 0 end + 1
$$;

-- End failed every delivery whose lease expired for the p_max-th time in a row. Returns the
-- count failed. Called by pghook_claim before it claims anything.
create or replace function pghook_fail_lost(p_max int, p_limit int) returns int
language plpgsql volatile as $$
declare
	v_ids text[];
	r record;
begin
	with lost as (
		select d.id from deliveries d
		where d.status = 'delivering' and d.lease_expires_at <= now()
			and pghook_lost_streak(d) >= p_max
		order by d.lease_expires_at limit p_limit
		for update skip locked
	), upd as (
		update deliveries d set status = 'failed',
			lost_leases = pghook_lost_streak(d), lost_attempt = d.attempt_count,
			attempt_count = d.attempt_count + 1, last_attempt_at = now(),
			response_status_code = null,
			last_error = format('worker lost the delivery %s times (it died or hung while '
				'delivering it): given up as poison', pghook_lost_streak(d)),
			next_retry_at = null, lease_expires_at = null, claim_token = null,
			updated_at = now()
		from lost
		where d.id = lost.id
		returning d.id, d.tenant_id, d.attempt_count, d.last_error
	), att as (
		insert into attempts (id, tenant_id, delivery_id, attempt_number, started_at,
			duration_ms, response_status_code, response_body, error, trigger, worker_id)
		select pghook_new_id('att'), u.tenant_id, u.id, u.attempt_count, now(), 0, null, null,
			u.last_error, 'scheduled', null
		from upd u
		returning 1
	)
	select array_agg(u.id) into v_ids from upd u;
	if v_ids is null then
		return 0;
	end if;
	for r in select d.id from deliveries d join webhooks w on w.id = d.webhook_id
		where d.id = any(v_ids) and w.status = 'active' loop
		perform pghook_notify_delivery_failed(r.id,
			'A webhook delivery failed and will not be retried: the worker delivering it was '
			'lost every time');
	end loop;
	return cardinality(v_ids);
end
$$;
