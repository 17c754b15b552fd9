-- SPDX-License-Identifier: MIT
-- Soft-delete a webhook: its unfinished deliveries end failed with the reason, for audit.
--
-- A worker's completion locks its deliveries' rows, then the webhook's row when the outcome
-- moves failing_since (a success after failures clears it). This locks the webhook's row, then
-- every unfinished delivery of it, those in flight included. Met in that order, each waits for
-- the other and PostgreSQL aborts one. A completion that loses is sent again by its worker; a
-- delete that loses starts over: its try is rolled back, the completion it was waiting for
-- goes through, and the next try finds that delivery already ended. The completion was woken
-- by the rollback but may not have taken the webhook's row yet, so a try that started over at
-- once could take it first and meet the same completion again (it did, five times in a row,
-- on a loaded machine): each retry first leaves it 10, 20, ... ms.
create or replace function pghook_delete_webhook(p_tenant text, p_webhook text) returns boolean
language plpgsql as $$
begin
	for i in 1..5 loop
		begin
			update webhooks set deleted_at = now(), status = 'disabled',
				disabled_reason = 'deleted', updated_at = now()
			where tenant_id = p_tenant and id = p_webhook and deleted_at is null;
			if not found then
				return false;
			end if;
			update deliveries set status = 'failed', last_error = 'webhook deleted',
				next_retry_at = null, lease_expires_at = null,
				-- those in flight end their flight: their workers' outcomes are refused
				claim_token = nextval('pghook_claim_token_seq'), updated_at = now()
			where id in (select pghook_webhook_queued(p_webhook))
				and status in ('pending', 'retry_scheduled');
			return true;
		exception when deadlock_detected then
			if i = 5 then
				raise;
			end if;
			perform pg_sleep(0.01 * i);
		end;
	end loop;
end
$$;

-- The ids of a webhook's unfinished deliveries, from the queue tables (migration 18), which
-- the api may not read: a security definer, called once the webhook's row was found under the
-- caller's tenant.
create or replace function pghook_webhook_queued(p_webhook text) returns setof text
language sql stable security definer set search_path from current as $$
	select q.delivery_id from delivery_due q where q.webhook_id = p_webhook
	union all
	select unnest(l.delivery_ids) from delivery_leases l where l.webhook_id = p_webhook
$$;
-- Executable by PUBLIC by default: this one only by the roles that delete webhooks
-- (grants/roles.sql), from the moment it exists.
revoke all on function pghook_webhook_queued(text) from public;
