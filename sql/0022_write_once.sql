-- SPDX-License-Identifier: MIT
-- pghook schema, version 22 (issue 17): a delivery's row is written when its attempt ends, not
-- also when it is claimed. A claim takes its due rows out of delivery_due and lists them in its
-- delivery_leases row; the deliveries row keeps status pending or retry_scheduled while it is
-- in flight (the api still shows "delivering", from the lease: pghook_in_flight). The row's
-- claim_token is now the token under which its last flight ended, so a delivery is in flight
-- under a lease that lists it with a greater token, and an outcome applies only under such a
-- lease (docs/architecture.md, "Claiming"; sql/functions/claim.sql and complete.sql).
--
-- The deliveries in flight now are kept so: their rows go back to pending or
-- retry_scheduled, ended under no token, and stay listed in their leases, which still count
-- them. Their rows must not pass through the queue trigger (it would give them due rows and
-- count them off their leases): it is disabled for that update, under a lock that keeps every
-- other writer out meanwhile. (A new database has neither rows nor, yet, the trigger: the
-- repeatable files that create it run after the migrations.)
lock table deliveries in share row exclusive mode;
do $$
declare
	v_trigger boolean := exists (select 1 from pg_trigger
		where tgrelid = 'deliveries'::regclass and tgname = 'pghook_queue_updated');
begin
	if v_trigger then
		alter table deliveries disable trigger pghook_queue_updated;
	end if;
	update deliveries set
		status = case when attempt_count = 0 then 'pending' else 'retry_scheduled' end,
		next_retry_at = coalesce(next_retry_at, created_at), claim_token = null,
		lease_expires_at = null
	where status = 'delivering';
	if v_trigger then
		alter table deliveries enable trigger pghook_queue_updated;
	end if;
end
$$;


-- pghook_fifo_heads returns each head's due time and lease (functions/claim.sql).
drop function if exists pghook_fifo_heads(text, int, int);
