-- SPDX-License-Identifier: MIT
-- pghook schema, version 2: the worker's claim, completion and release statements, and the
-- notification outbox drain. Each is one round trip for a whole batch. Times come from the
-- database clock only: callers pass delays in milliseconds and these functions add now().

create sequence pghook_claim_token_seq;

-- The webhooks the claiming worker already has at its in-flight cap (PGHOOK_WORKER_PER_WEBHOOK):
-- their due rows are left for later, so one slow receiver cannot take every delivery slot. Set
-- for its transaction by the three-argument pghook_claim below; empty otherwise.
create function pghook_full_webhooks() returns text[]
language sql stable as $$
	select coalesce(nullif(current_setting('pghook.full_webhooks', true), ''), '{}')::text[]
$$;

-- Poison deliveries. A delivery whose processing kills or hangs its
-- worker never gets an outcome recorded: its lease expires, another worker claims it and dies
-- the same way, for ever, and every delivery in flight beside it is lost each time too. Now:
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

-- The lost-lease count a delivery would have if its (expired) lease were taken back now.
create function pghook_lost_streak(d deliveries) returns int
language sql immutable as $$
	select case when d.attempt_count = d.lost_attempt then d.lost_leases else 0 end + 1
$$;

-- End failed every delivery whose lease expired for the p_max-th time in a row. Returns the
-- count failed. Called by pghook_claim before it claims anything.
create function pghook_fail_lost(p_max int, p_limit int) returns int
language plpgsql volatile as $$
declare
	v_ids text[];
	v_events text[];
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
	select array_agg(distinct d.event_id) into v_events from deliveries d where d.id = any(v_ids);
	perform pghook_refresh_events(v_events);
	return cardinality(v_ids);
end
$$;

-- Claim up to p_limit due deliveries for one worker: pending or retry_scheduled rows whose
-- next_retry_at has come, and delivering rows whose lease expired (their worker died). Rows
-- other workers hold are skipped, not waited for. Each claimed row gets status delivering, a
-- lease of p_lease_ms and the same fresh claim token; completion and release match on it, so a
-- worker whose lease was taken over changes nothing. Returns what the request needs. A delivery
-- whose lease was lost too often in a row is failed as poison first (above).
create function pghook_claim(p_limit int, p_lease_ms bigint)
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

	return query
	with due_rows as (
		select d.id, d.next_retry_at as due_at, false as lost from deliveries d
		where d.status in ('pending', 'retry_scheduled') and d.next_retry_at <= now()
			and d.webhook_id <> all(pghook_full_webhooks()) -- 0002: per-webhook in-flight cap
		order by d.next_retry_at limit p_limit
		for update skip locked
	), expired as (
		select d.id, d.lease_expires_at as due_at, true as lost from deliveries d
		where d.status = 'delivering' and d.lease_expires_at <= now()
			and pghook_lost_streak(d) < v_max - 1
		order by d.lease_expires_at limit p_limit
		for update skip locked
	), due as (
		select * from due_rows union all select * from expired limit p_limit
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

-- The worker's claim: pghook_claim, skipping the due rows of p_full_webhooks (the webhooks at
-- the worker's per-webhook in-flight cap).
create function pghook_claim(p_limit int, p_lease_ms bigint, p_full_webhooks text[])
returns table (id text, tenant_id text, event_id text, webhook_id text, attempt_count int,
	claim_token bigint, url text, secret text, previous_secret text, webhook_active boolean,
	event_type text, payload text, lag_ms bigint)
language plpgsql volatile as $$
begin
	perform set_config('pghook.full_webhooks', coalesce(p_full_webhooks, '{}')::text, true);
	return query select * from pghook_claim(p_limit, p_lease_ms);
	perform set_config('pghook.full_webhooks', '', true);
end
$$;

-- Queue a failure email to the webhook's notification address (no-op without one).
create function pghook_notify_failure(p_kind text, p_webhook text, p_delivery text,
	p_subject text, p_body text)
returns void
language sql volatile as $$
	insert into notifications (tenant_id, webhook_id, delivery_id, kind, to_email, subject, body)
	select w.tenant_id, w.id, p_delivery, p_kind, w.notification_email, p_subject, p_body
	from webhooks w
	where w.id = p_webhook and w.notification_email is not null and w.notification_email <> ''
$$;

-- The failure email for one delivery, from its current state: the one template every final
-- failure, manual send and poison delivery uses. p_summary is the email's first sentence.
create function pghook_notify_delivery_failed(p_delivery text, p_summary text)
returns void
language sql volatile as $$
	select pghook_notify_failure('delivery_failed', d.webhook_id, d.id,
		format('pghook: delivery %s to %s failed', d.id, w.url),
		format(E'%s.\n\nAttempts: %s\nWebhook: %s\nURL: %s\nDelivery: %s\nEvent: %s\nEvent type: %s\n'
			'Last status: %s\nLast error: %s\n',
			p_summary, d.attempt_count, d.webhook_id, w.url, d.id, d.event_id, e.event_type,
			coalesce(d.response_status_code::text, 'none'), coalesce(d.last_error, 'none')))
	from deliveries d join webhooks w on w.id = d.webhook_id join events e on e.id = d.event_id
	where d.id = p_delivery
$$;

-- Record the outcomes of a batch of attempts in one statement. p_outcomes is a JSON array of
-- {id, token, status (delivered | retry_scheduled | failed), code, body, error, durationMs,
-- delayMs, gone (the receiver answered 410)}. Only rows still holding the token change.
-- Then: attempts rows, failure emails, 410 disables the webhook, a webhook whose deliveries
-- all failed for 5 days is disabled and its owner told, and events follow their deliveries.
-- Returns the number of outcomes applied.
create type pghook_done as (
	id text, tenant_id text, event_id text, webhook_id text, status text,
	attempt_count int, code int, error text, gone boolean
);

create function pghook_complete(p_outcomes json, p_worker text)
returns int
language plpgsql volatile as $$
declare
	v_done pghook_done[];
	v_events text[];
	r record;
begin

	with input as (
		select * from json_to_recordset(p_outcomes) as x(id text, token bigint, status text,
			code int, body text, error text, "durationMs" int, "delayMs" bigint, gone boolean)
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
			lease_expires_at = null, claim_token = null, updated_at = now()
		from input i
		where d.id = i.id and d.claim_token = i.token and d.status = 'delivering'
		returning d.id, d.tenant_id, d.event_id, d.webhook_id, d.status, d.attempt_count,
			d.last_attempt_at, i.code, i.body, i.error, i."durationMs" as duration_ms,
			coalesce(i.gone, false) as gone
	), att as (
		insert into attempts (id, tenant_id, delivery_id, attempt_number, started_at,
			duration_ms, response_status_code, response_body, error, trigger, worker_id)
		select pghook_new_id('att'), u.tenant_id, u.id, u.attempt_count, u.last_attempt_at,
			u.duration_ms, u.code, left(u.body, 4096), u.error, 'scheduled', p_worker
		from upd u
		returning 1
	)
	select array_agg(row(u.id, u.tenant_id, u.event_id, u.webhook_id, u.status,
		u.attempt_count, u.code, u.error, u.gone)::pghook_done)
	into v_done
	from upd u;

	if v_done is null then
		return 0;
	end if;

	-- 410 Gone: the receiver says the endpoint is gone for good.
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

	-- The last attempt failed: tell the webhook's owner. Not for a disabled webhook: its owner
	-- got the one email saying so, not one more per delivery it still had queued.
	for r in select d.id from unnest(v_done) d
		join webhooks w on w.id = d.webhook_id and w.status = 'active'
		where d.status = 'failed' loop
		perform pghook_notify_delivery_failed(r.id,
			'A webhook delivery failed and will not be retried');
	end loop;

	-- An endpoint whose deliveries have all failed for 5 days: failing_since marks the start
	-- of the current run of failures (cleared by any success), so this costs one row per
	-- webhook in the batch, not a scan of its history.
	update webhooks w set failing_since = null
	where w.id in (select d.webhook_id from unnest(v_done) d where d.status = 'delivered')
		and w.failing_since is not null;
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

	select array_agg(distinct d.event_id) into v_events from unnest(v_done) d
	where d.status in ('delivered', 'failed');
	if v_events is not null then
		perform pghook_refresh_events(v_events);
	end if;
	return cardinality(v_done);
end
$$;

-- Queue the email telling a webhook's owner that pghook disabled it.
create function pghook_notify_webhook_disabled(p_webhook text, p_delivery text, p_reason text)
returns void
language sql volatile as $$
	select pghook_notify_failure('webhook_disabled', w.id, p_delivery,
		format('pghook: webhook %s to %s disabled', w.id, w.url),
		format(E'pghook disabled a webhook: %s.\n\nWebhook: %s\nURL: %s\nLast delivery: %s\n'
			'Re-enable it once the endpoint works again.\n', p_reason, w.id, w.url, p_delivery))
	from webhooks w where w.id = p_webhook
$$;

-- Give back claimed deliveries a worker did not finish (shutdown): back to their due state,
-- lease cleared, due now. p_claims is a JSON array of {id, token}. Returns the count released.
create function pghook_release(p_claims json)
returns int
language sql volatile as $$
	with rel as (
		update deliveries d set
			status = case when d.attempt_count = 0 then 'pending' else 'retry_scheduled' end,
			next_retry_at = least(coalesce(d.next_retry_at, now()), now()),
			lease_expires_at = null, claim_token = null, updated_at = now()
		from json_to_recordset(p_claims) as x(id text, token bigint)
		where d.id = x.id and d.claim_token = x.token and d.status = 'delivering'
		returning 1
	)
	select count(*)::int from rel
$$;

-- Take up to p_limit due failure emails for sending. Each is pushed p_lease_ms into the future
-- while it is being sent, so another worker does not send it too; pghook_notification_done
-- settles it.
create function pghook_claim_notifications(p_limit int, p_lease_ms bigint)
returns table (id bigint, to_email text, subject text, body text, attempt_count int)
language sql volatile as $$
	update notifications n set
		next_attempt_at = now() + p_lease_ms * interval '1 millisecond',
		attempt_count = n.attempt_count + 1
	where n.id in (select x.id from notifications x
		where x.status = 'pending' and x.next_attempt_at <= now()
		order by x.next_attempt_at limit p_limit for update skip locked)
	returning n.id, n.to_email, n.subject, n.body, n.attempt_count
$$;

-- Settle one email: sent, or try again after p_delay_ms (null: give up, status failed).
create function pghook_notification_done(p_id bigint, p_error text, p_delay_ms bigint)
returns void
language sql volatile as $$
	update notifications set
		status = case when p_error is null then 'sent'
			when p_delay_ms is null then 'failed' else 'pending' end,
		sent_at = case when p_error is null then now() end,
		last_error = p_error,
		next_attempt_at = case when p_error is not null and p_delay_ms is not null
			then now() + p_delay_ms * interval '1 millisecond' else next_attempt_at end
	where id = p_id
$$;
