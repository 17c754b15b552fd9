-- SPDX-License-Identifier: MIT
-- Give back claimed deliveries a worker did not finish (shutdown): back to their due state,
-- lease cleared, due now. p_claims is a JSON array of {id, token}. Returns the count released.
create or replace function pghook_release(p_claims json)
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
