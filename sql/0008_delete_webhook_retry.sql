-- SPDX-License-Identifier: MIT
-- pghook schema, version 8: deleting a webhook while a worker records one of its deliveries.
--
-- A worker's completion locks its deliveries' rows, then the webhook's row when the outcome
-- moves failing_since (a success after failures clears it). pghook_delete_webhook locks the
-- webhook's row, then every unfinished delivery of it, those in flight included. Met in that
-- order, each waits for the other and PostgreSQL aborts one. A completion that loses is sent
-- again by its worker; a delete that lost answered 500. Now the delete starts over: its try is
-- rolled back, the completion it was waiting for goes through, and the next try finds that
-- delivery already ended. The completion was woken by the rollback but may not have taken the
-- webhook's row yet, so a try that started over at once could take it first and meet the same
-- completion again (it did, five times in a row, on a loaded machine): each retry first
-- leaves it 10, 20, ... ms. The body is 0001's, renamed.
alter function pghook_delete_webhook(text, text) rename to pghook_delete_webhook_once;

create function pghook_delete_webhook(p_tenant text, p_webhook text) returns boolean
language plpgsql as $$
begin
	for i in 1..5 loop
		begin
			return pghook_delete_webhook_once(p_tenant, p_webhook);
		exception when deadlock_detected then
			if i = 5 then
				raise;
			end if;
			perform pg_sleep(0.01 * i);
		end;
	end loop;
end
$$;
