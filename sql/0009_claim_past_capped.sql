-- SPDX-License-Identifier: MIT
-- pghook schema, version 9: a claim that skips capped webhooks no longer reads their backlog.
--
-- The worker's claim skips the webhooks at its per-webhook in-flight cap (0002). It walked
-- deliveries_due from the oldest due row and passed over theirs one by one, heap fetch and all.
-- A capped webhook with a large backlog holds the oldest rows, so every claim read the whole
-- backlog before it found another webhook's new event: with 1,000,000 due rows behind a slow
-- receiver, other webhooks' events waited 3-4.5 s and PostgreSQL kept 1.6 cores busy
-- (tests/bench `neighbour`, docs/benchmarks.md).
--
-- Now, while some webhooks are capped, the claim first reads a bounded head of the due rows.
-- When that head holds every due row, or enough of other webhooks', those are taken as before.
-- Otherwise it walks the webhooks that have undelivered rows through deliveries_due_webhook,
-- one index descent per webhook, capped ones stepped over, and takes the oldest due rows of the
-- others: the same rows in the same order, at a cost bounded by the number of webhooks with
-- undelivered rows instead of the capped webhooks' backlog.
create index if not exists deliveries_due_webhook on deliveries (webhook_id, next_retry_at)
	where status in ('pending', 'retry_scheduled');

-- The due deliveries of webhooks not at the worker's cap (pghook_full_webhooks()), oldest
-- first, for pghook_claim to lock: up to twice p_limit, so that rows another worker locks
-- first still leave a full batch, and at least p_limit when that many exist. Null when no
-- webhook is capped: the claim's own scan of deliveries_due then reads nothing it skips.
create function pghook_due_uncapped(p_limit int) returns text[]
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

-- pghook_claim as in 0002, its due rows taken from pghook_due_uncapped while webhooks are capped.
create or replace function pghook_claim(p_limit int, p_lease_ms bigint)
returns table (id text, tenant_id text, event_id text, webhook_id text, attempt_count int,
	claim_token bigint, url text, secret text, previous_secret text, webhook_active boolean,
	event_type text, payload text, lag_ms bigint)
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
			greatest(0, (extract(epoch from now() - v_due) * 1000)::bigint)
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
		-- 0009: rechecked, since they were read unlocked
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
			due.due_at
	)
	select u.id, u.tenant_id, u.event_id, u.webhook_id, u.attempt_count, u.claim_token,
		w.url, w.secret,
		case when w.previous_secret_until > now() then w.previous_secret end,
		w.status = 'active' and w.deleted_at is null,
		e.event_type, e.payload::text,
		greatest(0, (extract(epoch from now() - u.due_at) * 1000)::bigint)
	from upd u
	join webhooks w on w.id = u.webhook_id
	join events e on e.id = u.event_id;
end
$$;
