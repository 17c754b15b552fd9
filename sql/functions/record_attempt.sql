-- SPDX-License-Identifier: MIT
-- Record one attempt on a delivery and apply its outcome (seed 002's external attempts and the
-- api's manual sends). Returns the event as JSON, or null when the delivery is not the tenant's.
create or replace function pghook_record_attempt(p_tenant text, p_delivery text, p_status text,
	p_code int, p_body text, p_error text, p_next_retry timestamptz, p_trigger text,
	p_started timestamptz, p_duration_ms int, p_worker text)
returns json
language plpgsql as $$
declare
	d deliveries;
begin
	update deliveries set
		status = p_status,
		attempt_count = attempt_count + 1,
		last_attempt_at = coalesce(p_started, now()),
		response_status_code = p_code,
		last_error = p_error,
		next_retry_at = case when p_status in ('pending', 'retry_scheduled')
			then coalesce(p_next_retry, now()) end,
		delivered_at = case when p_status = 'delivered' then now() else delivered_at end,
		lease_expires_at = null, claim_token = null,
		updated_at = now()
	where id = p_delivery and tenant_id = p_tenant
	returning * into d;
	if not found then
		return null;
	end if;
	insert into attempts (id, tenant_id, delivery_id, attempt_number, started_at, duration_ms,
		response_status_code, response_body, error, trigger, worker_id)
	values (pghook_new_id('att'), p_tenant, p_delivery, d.attempt_count,
		coalesce(p_started, now()), p_duration_ms, p_code, left(p_body, 4096), p_error,
		p_trigger, p_worker);
	if p_status in ('pending', 'retry_scheduled') then
		perform pg_notify('pghook_deliveries', '');
	end if;
	return (select pghook_event_json(e) from events e where e.id = d.event_id);
end
$$;
