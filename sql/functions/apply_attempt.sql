-- SPDX-License-Identifier: MIT
-- Apply one attempt to a delivery: its outcome on the row, an attempts row, a wake-up when it
-- is due again. Returns the updated delivery, or null when it is not the tenant's. Shared by
-- pghook_record_attempt (which answers with the whole event) and pghook_manual_attempt (which
-- answers with the delivery alone): rendering the event there held the delivery's row lock
-- while every delivery of the event was rendered, seconds for an event recovered 20,000 times,
-- and every other send of that delivery waited on its api loop meanwhile (issue 18).
create or replace function pghook_apply_attempt(p_tenant text, p_delivery text, p_status text,
	p_code int, p_body text, p_error text, p_next_retry timestamptz, p_trigger text,
	p_started timestamptz, p_duration_ms int, p_worker text)
returns deliveries
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
		-- A delivery in flight ends its flight here: a new token, above its lease's, so its
		-- worker's outcome is refused (functions/complete.sql)
		lease_expires_at = null, claim_token = nextval('pghook_claim_token_seq'),
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
	return d;
end
$$;
