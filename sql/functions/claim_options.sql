-- SPDX-License-Identifier: MIT
-- The per-webhook options a claimed delivery carries to the worker (pghook_claim's last
-- column): the webhook's custom headers and the retry schedule the delivery was created under,
-- {"headers": {...}, "retrySchedule": [ms, ...]}, or null when it has neither (the common case
-- costs nothing to send). A plain SQL function, inlined into the claim: stable, as
-- json_build_object is (declared immutable, it was never inlined, and ran as a statement of
-- its own for every delivery claimed).
create or replace function pghook_claim_options(p_headers jsonb, p_retry bigint[]) returns json
language sql stable parallel safe as $$
	select case when p_headers is not null or p_retry is not null then
		json_build_object('headers', p_headers, 'retrySchedule', to_json(p_retry)) end
$$;
