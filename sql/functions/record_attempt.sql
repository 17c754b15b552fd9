-- SPDX-License-Identifier: MIT
-- Record one attempt on a delivery and apply its outcome (seed 002's external attempts).
-- Returns the event as JSON, or null when the delivery is not the tenant's.
create or replace function pghook_record_attempt(p_tenant text, p_delivery text, p_status text,
	p_code int, p_body text, p_error text, p_next_retry timestamptz, p_trigger text,
	p_started timestamptz, p_duration_ms int, p_worker text)
returns json
-- volatile (the default, said here because it matters): the answer is rendered by a second
-- statement, whose fresh snapshot shows the attempt the first one applied
volatile
language plpgsql as $$
declare
	d deliveries;
begin
	d := pghook_apply_attempt(p_tenant, p_delivery, p_status, p_code, p_body, p_error,
		p_next_retry, p_trigger, p_started, p_duration_ms, p_worker);
	if d.id is null then
		return null;
	end if;
	return (select pghook_event_json(e) from events e where e.id = d.event_id);
end
$$;
