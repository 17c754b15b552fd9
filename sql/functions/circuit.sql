-- SPDX-License-Identifier: MIT
-- The circuit breaker of each webhook (docs/architecture.md, "Scheduling"), in webhook_sched,
-- fed by pghook_complete with the outcomes it applied:
--
--   closed     deliveries go as the limits allow; consecutive failed attempts are counted,
--              and pghook.circuit_failures of them in a row (PGHOOK_CIRCUIT_FAILURES) open it
--   open       no delivery is claimed (so none uses up an attempt) until next_probe_at
--   half_open  the claim after next_probe_at sent exactly one delivery, the probe: its
--              success closes the circuit, its failure opens it again for twice the cool-down
--
-- The cool-down starts at pghook.circuit_cooldown_ms (PGHOOK_CIRCUIT_COOLDOWN) and doubles
-- up to an hour. Any success closes the circuit, from any state (a delivery in flight when it
-- opened may still succeed). Both settings are the worker's (worker/pq.c); 5 and 30 s unset.
-- Returns the number of circuits this opened.
create or replace function pghook_circuit_record(p_done pghook_done[]) returns int
language plpgsql volatile as $$
declare
	v_failures int := greatest(1, coalesce(
		nullif(current_setting('pghook.circuit_failures', true), '')::int, 5));
	v_cooldown bigint := greatest(1, coalesce(
		nullif(current_setting('pghook.circuit_cooldown_ms', true), '')::bigint, 30000));
	v_opened int;
	v_hooks text[];
begin
	-- Only the webhooks whose breaker moves. A success on a closed circuit with no failure
	-- counted changes nothing, and it is the common case: it takes no lock. The lock below
	-- waits for a claim holding the row (pghook_schedule, until the claim commits), and a
	-- claim skips a webhook whose row a completion holds, so locking every batch made
	-- claims and completions of a busy webhook take turns (issue 17). Read without the lock,
	-- a row another completion is moving counts as moved after this batch's success, which
	-- is one of the orders the two could have run in.
	select array_agg(s.webhook_id order by s.webhook_id) into v_hooks
	from webhook_sched s
	join (select d.webhook_id, bool_or(d.status = 'delivered') as ok
		from unnest(p_done) d group by d.webhook_id) p on p.webhook_id = s.webhook_id
	where not (p.ok and s.circuit = 'closed' and s.consecutive_failures = 0);
	if v_hooks is null then
		return 0;
	end if;
	-- rows locked in webhook_id order: two completions never wait for each other in a cycle
	perform 1 from webhook_sched s
	where s.webhook_id = any(v_hooks)
	order by s.webhook_id
	for no key update;
	with per_hook as (
		select d.webhook_id, bool_or(d.status = 'delivered') as ok,
			count(*) filter (where d.status <> 'delivered')::int as failed
		from unnest(p_done) d where d.webhook_id = any(v_hooks) group by d.webhook_id
	), step as (
		select s.webhook_id, s.circuit as was,
			case when p.ok then 0 else s.consecutive_failures + p.failed end as failures,
			case
				when p.ok then 'closed'
				when s.circuit = 'half_open' then 'open'
				when s.circuit = 'closed'
					and s.consecutive_failures + p.failed >= v_failures then 'open'
				else s.circuit
			end as circuit,
			case when s.circuit = 'half_open'
				then least(2 * coalesce(s.cooldown_ms, v_cooldown), 3600000)
				else v_cooldown end as cooldown
		from webhook_sched s join per_hook p on p.webhook_id = s.webhook_id
	), upd as (
		update webhook_sched s set
			consecutive_failures = n.failures,
			circuit = n.circuit,
			opened_at = case when n.circuit = 'closed' then null
				when n.was = 'closed' and n.circuit = 'open' then now() else s.opened_at end,
			-- (re)opened now: the probe is due a cool-down from now
			cooldown_ms = case when n.circuit = 'closed' then null
				when n.was <> 'open' and n.circuit = 'open' then n.cooldown
				else s.cooldown_ms end,
			next_probe_at = case when n.circuit = 'closed' then null
				when n.was <> 'open' and n.circuit = 'open'
					then now() + n.cooldown * interval '1 millisecond'
				else s.next_probe_at end,
			opens = s.opens + (n.was = 'closed' and n.circuit = 'open')::int
		from step n
		where s.webhook_id = n.webhook_id
		returning n.was, n.circuit
	)
	select count(*) filter (where u.was = 'closed' and u.circuit = 'open')::int into v_opened
	from upd u;
	return v_opened;
end
$$;
