-- SPDX-License-Identifier: MIT
-- The api's synchronous send (seed 001): record one manual attempt, queue the failure email
-- when asked, and answer in seed 001's shape. One call, one transaction, and no rendering of
-- the whole event (pghook_apply_attempt says why).
create or replace function pghook_manual_attempt(p_tenant text, p_delivery text, p_status text,
	p_code int, p_error text, p_duration_ms int, p_notify boolean, p_started timestamptz)
returns json
language plpgsql as $$
declare
	d deliveries;
begin
	d := pghook_apply_attempt(p_tenant, p_delivery, p_status, p_code, null, p_error,
		(select next_retry_at from deliveries where id = p_delivery and tenant_id = p_tenant),
		'manual', p_started, p_duration_ms, 'api');
	if d.id is null then
		return null;
	end if;
	if p_notify then
		perform pghook_notify_delivery_failed(d.id, 'A manual send of a webhook delivery failed');
	end if;
	return pghook_seed001_json(d);
end
$$;
