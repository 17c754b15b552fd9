-- SPDX-License-Identifier: MIT
-- The api's synchronous send (seed 001): record one manual attempt, queue the failure email
-- when asked, and answer in seed 001's shape. One call, one transaction.

-- Queue the failure email for one delivery, from its current state. p_summary is the first
-- line of the email ("manual send failed").
create function pghook_notify_delivery_failed(p_delivery text, p_summary text)
returns void
language sql volatile as $$
	select pghook_notify_failure('delivery_failed', d.webhook_id, d.id,
		format('pghook: delivery %s to %s failed', d.id, w.url),
		format(E'%s after %s attempts.\n\n'
			'Webhook: %s\nURL: %s\nDelivery: %s\nEvent: %s\nEvent type: %s\n'
			'Last status: %s\nLast error: %s\n',
			p_summary, d.attempt_count, d.webhook_id, w.url, d.id, d.event_id, e.event_type,
			coalesce(d.response_status_code::text, 'none'), coalesce(d.last_error, 'none')))
	from deliveries d join webhooks w on w.id = d.webhook_id join events e on e.id = d.event_id
	where d.id = p_delivery
$$;

create function pghook_manual_attempt(p_tenant text, p_delivery text, p_status text,
	p_code int, p_error text, p_duration_ms int, p_notify boolean, p_started timestamptz)
returns json
language plpgsql as $$
declare
	d deliveries;
begin
	if pghook_record_attempt(p_tenant, p_delivery, p_status, p_code, null, p_error,
		(select next_retry_at from deliveries where id = p_delivery and tenant_id = p_tenant),
		'manual', p_started, p_duration_ms, 'api') is null then
		return null;
	end if;
	select * into d from deliveries where id = p_delivery;
	if p_notify then
		perform pghook_notify_delivery_failed(d.id, 'manual send failed');
	end if;
	return pghook_seed001_json(d);
end
$$;
