-- SPDX-License-Identifier: MIT
-- Record the outcomes of a batch of attempts in one statement. p_outcomes is a JSON array of
-- {id, token, status (delivered | retry_scheduled | failed), code, body, error, durationMs,
-- delayMs, gone (the receiver answered 410), dnsMs, connectMs, tlsMs, firstByteMs, totalMs
-- (from libcurl; absent when no transfer ran, null for a phase that did not happen)}. Earlier
-- workers sent the five nested in "timings", which is still read (a rolling upgrade runs
-- both). Flat, because each field read out of a json value parses it again: five per outcome
-- cost 6 µs per delivery. Only rows still holding the token change.
-- Then: attempts rows, failure emails, 410 disables the webhook, and a webhook whose
-- deliveries all failed for 5 days is disabled and its owner told; the circuit breakers move
-- (sql/functions/circuit.sql). Returns the number of
-- outcomes applied. pghook_done, the row type of an applied outcome, is migration 2's.
--
-- Generic plans, for this and what it calls: with the batch as a parameter, plpgsql's plan cache
-- priced a generic plan above a custom one for some statements and planned them again at
-- every call. The circuit breaker's first query cost 0.11 ms of planning per completion (of
-- 3 outcomes: 0.15 of its 0.2 ms), and a batch holding retries planned pghook_complete_apply's
-- update again (0.29 ms). The plans below do not depend on the batch's values.
create or replace function pghook_complete(p_outcomes json, p_worker text)
returns int
language plpgsql volatile
set enable_seqscan = off set enable_bitmapscan = off set enable_hashjoin = off
set enable_mergejoin = off set enable_material = off set jit = off
set plan_cache_mode = force_generic_plan
as $$
declare
	v_done pghook_done[];
	r record;
	v_gone boolean;
	v_failed boolean;
	v_delivered boolean;
	v_undelivered boolean;
begin
	v_done := pghook_complete_apply(p_outcomes, p_worker);
	if v_done is null then
		return 0;
	end if;
	-- What the batch holds, read once: a batch of successes, the usual one, then runs two
	-- statements here instead of five (each about 15-20 µs of executor start-up however few
	-- its rows).
	select bool_or(d.gone), bool_or(d.status = 'failed'), bool_or(d.status = 'delivered'),
		bool_or(d.status <> 'delivered')
	into v_gone, v_failed, v_delivered, v_undelivered
	from unnest(v_done) d;

	-- Each attempt moves its webhook's circuit breaker (sql/functions/circuit.sql).
	perform pghook_circuit_record(v_done);

	-- 410 Gone: the receiver says the endpoint is gone for good.
	if v_gone then
		for r in select distinct on (d.webhook_id) d.webhook_id, d.id from unnest(v_done) d
			where d.gone loop
			update webhooks set status = 'disabled',
				disabled_reason = 'endpoint answered 410 Gone', updated_at = now()
			where id = r.webhook_id and status = 'active';
			if found then
				perform pghook_notify_webhook_disabled(r.webhook_id, r.id,
					'the endpoint answered 410 Gone');
			end if;
		end loop;
	end if;

	-- The last attempt failed: tell the webhook's owner. Not for a disabled webhook: its owner
	-- got the one email saying so, not one more per delivery it still had queued.
	if v_failed then
		for r in select d.id from unnest(v_done) d
			join webhooks w on w.id = d.webhook_id and w.status = 'active'
			where d.status = 'failed' loop
			perform pghook_notify_delivery_failed(r.id,
				'A webhook delivery failed and will not be retried');
		end loop;
	end if;

	-- An endpoint whose deliveries have all failed for 5 days: failing_since marks the start
	-- of the current run of failures (cleared by any success), so this costs one row per
	-- webhook in the batch, not a scan of its history.
	if v_delivered then
		update webhooks w set failing_since = null
		where w.id in (select d.webhook_id from unnest(v_done) d where d.status = 'delivered')
			and w.failing_since is not null;
	end if;
	if v_undelivered then
		update webhooks w set failing_since = now()
		where w.id in (select d.webhook_id from unnest(v_done) d where d.status <> 'delivered')
			and w.failing_since is null;
		for r in select distinct on (d.webhook_id) d.webhook_id, d.id from unnest(v_done) d
			join webhooks w on w.id = d.webhook_id and w.status = 'active'
			where d.status <> 'delivered' and w.failing_since <= now() - interval '5 days' loop
			update webhooks set status = 'disabled',
				disabled_reason = 'every delivery failed for 5 days', updated_at = now()
			where id = r.webhook_id and status = 'active';
			if found then
				perform pghook_notify_webhook_disabled(r.webhook_id, r.id,
					'every delivery failed for 5 days');
			end if;
		end loop;
	end if;

	return cardinality(v_done);
end
$$;

-- pghook_complete's update of the deliveries and insert of their attempts: the outcomes
-- applied (those whose delivery is still in flight under the outcome's lease), as pghook_done
-- rows, or null. The applied ones are counted off their leases here (migration 22).
--
-- The outcomes' deliveries are read by primary key, and the planner cannot do otherwise: the
-- ids go in as an array (d.id = any(v_ids), an index condition of every path to deliveries),
-- and the outcomes are matched to those rows by hash. A nested loop would compare every row
-- with every outcome (10,000 pairs in a completion of 100); hash joins are allowed here
-- explicitly, since a function's settings hold for the functions it calls and
-- pghook_complete prices them out. The worker's session caches this plan. Joined to the
-- outcomes by id alone, a plan made while few deliveries were in flight (the statistics said
-- status = 'delivering', as in flight was then, is rare) read the whole primary key, for the
-- outcomes: a completion of 4 outcomes beside 6,000 delivered deliveries took 2.3 ms, and
-- grew with the table until an analyze planned it again (found at 1,000 events/s, where
-- claims and completions take a few rows). Earlier plans, cached with seq scans allowed,
-- hashed the whole table (2.6 ms for 8 outcomes beside 7,000).
create or replace function pghook_complete_apply(p_outcomes json, p_worker text)
returns pghook_done[]
language plpgsql volatile
set enable_seqscan = off set enable_bitmapscan = off set enable_nestloop = off
set enable_hashjoin = on set enable_mergejoin = off set enable_material = off set jit = off
as $$
declare
	v_ids text[];
	v_done pghook_done[];
begin
	v_ids := array(select x.id from json_to_recordset(p_outcomes) as x(id text));
	-- The rows end their flight: they have no due row to take away (functions/queue.sql).
	perform set_config('pghook.queue_rows', 'ended', true);
	with input as (
		select * from json_to_recordset(p_outcomes) as x(id text, token bigint, status text,
			code int, body text, error text, "durationMs" int, "delayMs" bigint, gone boolean,
			"dnsMs" int, "connectMs" int, "tlsMs" int, "firstByteMs" int, "totalMs" int,
			timings json)
	), upd as (
		update deliveries d set
			status = i.status,
			attempt_count = d.attempt_count + 1,
			last_attempt_at = now() - coalesce(i."durationMs", 0) * interval '1 millisecond',
			response_status_code = i.code,
			last_error = i.error,
			next_retry_at = case when i.status = 'retry_scheduled'
				then now() + coalesce(i."delayMs", 0) * interval '1 millisecond' end,
			delivered_at = case when i.status = 'delivered' then now() else d.delivered_at end,
			lease_expires_at = null, claim_token = i.token, updated_at = now()
		from input i
		-- In flight under the outcome's lease: it still exists, and the row's last flight
		-- ended under an older token (tokens come from one sequence). A lease taken over,
		-- a manual send or a deleted webhook moved the row's token past it.
		where d.id = any(v_ids) and d.id = i.id
			and d.status in ('pending', 'retry_scheduled') and coalesce(d.claim_token, 0) < i.token
			and exists (select 1 from delivery_leases l
				where l.claim_token = i.token and l.webhook_id = d.webhook_id)
		returning d.id, d.tenant_id, d.event_id, d.webhook_id, d.status, d.attempt_count,
			i.token,
			d.last_attempt_at, i.code, i.body, i.error, i."durationMs" as duration_ms,
			coalesce(i.gone, false) as gone, i."dnsMs" as dns_ms, i."connectMs" as connect_ms,
			i."tlsMs" as tls_ms, i."firstByteMs" as first_byte_ms, i."totalMs" as total_ms,
			i.timings
	), att as (
		insert into attempts (id, tenant_id, delivery_id, attempt_number, started_at,
			duration_ms, response_status_code, response_body, error, trigger, worker_id,
			dns_ms, connect_ms, tls_ms, first_byte_ms, total_ms)
		select pghook_new_id('att'), u.tenant_id, u.id, u.attempt_count, u.last_attempt_at,
			u.duration_ms, u.code, left(u.body, 4096), u.error, 'scheduled', p_worker,
			coalesce(u.dns_ms, (u.timings->>'dnsMs')::int),
			coalesce(u.connect_ms, (u.timings->>'connectMs')::int),
			coalesce(u.tls_ms, (u.timings->>'tlsMs')::int),
			coalesce(u.first_byte_ms, (u.timings->>'firstByteMs')::int),
			coalesce(u.total_ms, (u.timings->>'totalMs')::int)
		from upd u
		returning 1
	), ended as (
		-- pghook_leases_off's statement, here in the completion's own: a statement less
		-- per completion, each about 15-20 µs of executor start-up however few its rows
		select u.token, u.webhook_id, count(*)::int as n from upd u group by 1, 2
	), gone as (
		delete from delivery_leases l using ended e
		where l.claim_token = e.token and l.webhook_id = e.webhook_id and l.in_flight <= e.n
	), dec as (
		update delivery_leases l set in_flight = l.in_flight - e.n from ended e
		where l.claim_token = e.token and l.webhook_id = e.webhook_id and l.in_flight > e.n
	)
	select array_agg(row(u.id, u.tenant_id, u.event_id, u.webhook_id, u.status,
		u.attempt_count, u.code, u.error, u.gone)::pghook_done)
	into v_done
	from upd u;
	perform set_config('pghook.queue_rows', '', true);
	-- Outcomes refused because someone else ended the delivery meanwhile (a manual send, the
	-- webhook deleted: the row's token moved past the lease's) still free their place in
	-- the lease. Not those refused because the lease was taken over or the outcome was
	-- already applied (the row's token is the lease's): that was counted then.
	if coalesce(cardinality(v_done), 0) < cardinality(v_ids) then
		perform pghook_leases_off(array_agg(x.token), array_agg(d.webhook_id))
		from json_to_recordset(p_outcomes) as x(id text, token bigint)
		join deliveries d on d.id = x.id
		where d.id = any(v_ids) and d.claim_token > x.token;
	end if;
	return v_done;
end
$$;
