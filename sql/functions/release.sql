-- SPDX-License-Identifier: MIT
-- Give back claimed deliveries a worker did not finish (shutdown): due now again, counted off
-- their leases. p_claims is a JSON array of {id, token}; a delivery is given back only while
-- it is in flight under that token's lease (as pghook_complete_apply checks). The row's
-- flight ends under the token, and the queue trigger gives it its due row back
-- (functions/queue.sql). Returns the count released.
create or replace function pghook_release(p_claims json)
returns int
language plpgsql volatile as $$
declare
	v_tokens bigint[];
	v_hooks text[];
begin
	perform set_config('pghook.queue_rows', 'ended', true);
	with rel as (
		update deliveries d set
			next_retry_at = least(coalesce(d.next_retry_at, now()), now()),
			claim_token = x.token, updated_at = now()
		from json_to_recordset(p_claims) as x(id text, token bigint)
		where d.id = x.id and d.status in ('pending', 'retry_scheduled')
			and coalesce(d.claim_token, 0) < x.token
			and exists (select 1 from delivery_leases l
				where l.claim_token = x.token and l.webhook_id = d.webhook_id)
		returning x.token, d.webhook_id
	)
	select array_agg(r.token), array_agg(r.webhook_id) into v_tokens, v_hooks from rel r;
	perform set_config('pghook.queue_rows', '', true);
	perform pghook_leases_off(v_tokens, v_hooks);
	return coalesce(cardinality(v_tokens), 0);
end
$$;
