-- SPDX-License-Identifier: MIT
-- The outbox of failure emails (the notifications table): what queues one, and how the
-- workers drain it.

-- Queue a failure email to the webhook's notification address (no-op without one).
-- delivery_failed emails are rate-limited per webhook: at most one per
-- pghook.failure_email_interval (default 1 hour). One asked for sooner is kept as a row with
-- status 'suppressed' (never sent), and the next email says how many there were. Without the
-- limit a tenant looping on a failing manual send would have pghook email any address it likes
-- through the operator's relay. Only rows are inserted and read here, no webhook row is locked:
-- this runs inside the workers' completion batches, which must not wait on each other. Two
-- failures at the same moment may both be sent; the limit is for loops, not for exactness.
create or replace function pghook_notify_failure(p_kind text, p_webhook text, p_delivery text,
	p_subject text, p_body text)
returns void
language plpgsql volatile as $$
declare
	w webhooks;
	v_every interval := coalesce(
		nullif(current_setting('pghook.failure_email_interval', true), '')::interval,
		interval '1 hour');
	v_last timestamptz;
	v_held bigint;
	v_status text := 'pending';
begin
	select * into w from webhooks where id = p_webhook;
	if w.id is null or w.notification_email is null or w.notification_email = '' then
		return;
	end if;
	if p_kind = 'delivery_failed' then
		select max(n.created_at) into v_last from notifications n
		where n.webhook_id = w.id and n.kind = 'delivery_failed' and n.status <> 'suppressed';
		if v_last > now() - v_every then
			v_status := 'suppressed';
		else
			select count(*) into v_held from notifications n
			where n.webhook_id = w.id and n.kind = 'delivery_failed'
				and n.status = 'suppressed' and n.created_at > coalesce(v_last, '-infinity');
			if v_held > 0 then
				p_body := p_body || format(E'\n%s more deliveries to this webhook failed since '
					'the last email; pghook sends at most one such email per webhook every '
					'%s.\n', v_held, v_every);
			end if;
		end if;
	end if;
	insert into notifications (tenant_id, webhook_id, delivery_id, kind, to_email, subject, body,
		status)
	values (w.tenant_id, w.id, p_delivery, p_kind, w.notification_email, p_subject, p_body,
		v_status);
end
$$;

-- The failure email for one delivery, from its current state: the one template every final
-- failure, manual send and poison delivery uses. p_summary is the email's first sentence.
create or replace function pghook_notify_delivery_failed(p_delivery text, p_summary text)
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

-- Queue the email telling a webhook's owner that pghook disabled it.
create or replace function pghook_notify_webhook_disabled(p_webhook text, p_delivery text,
	p_reason text)
returns void
language sql volatile as $$
	select pghook_notify_failure('webhook_disabled', w.id, p_delivery,
		format('pghook: webhook %s to %s disabled', w.id, w.url),
		format(E'pghook disabled a webhook: %s.\n\nWebhook: %s\nURL: %s\nLast delivery: %s\n'
			'Re-enable it once the endpoint works again.\n', p_reason, w.id, w.url, p_delivery))
	from webhooks w where w.id = p_webhook
$$;

-- Take up to p_limit due failure emails for sending. Each is pushed p_lease_ms into the future
-- while it is being sent, so another worker does not send it too; pghook_notification_done
-- settles it.
create or replace function pghook_claim_notifications(p_limit int, p_lease_ms bigint)
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
create or replace function pghook_notification_done(p_id bigint, p_error text,
	p_delay_ms bigint)
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
