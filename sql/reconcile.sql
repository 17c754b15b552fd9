-- SPDX-License-Identifier: MIT
-- Reconciliation: one row per broken promise, none when the books balance. Not a migration:
-- operators run it (psql -f sql/reconcile.sql) and every fault test ends by asserting it
-- returns zero rows (tests/integration/faults.py). Read-only; run it when the system is quiet
-- enough that "leased" means "a live worker holds it" (an expired lease is a row a dead worker
-- held and nobody has taken back yet: claimable, but not yet reconciled).
--
-- Checked:
--   event_fanout      an event has exactly endpoint_count first deliveries (replays aside),
--                     and never two for the same webhook
--   delivery_state    every delivery is delivered, failed, or pending or retry_scheduled with
--                     a due time (since migration 22 a delivery in flight is one of the last
--                     two in its row, and listed by an unexpired lease: queue_rows)
--   attempt_count     a delivery's attempt_count is the number of its attempt rows, numbered
--                     1..attempt_count without gaps or repeats
--   delivered_attempt a delivered delivery has a delivery time and at least one attempt
--   queue_rows        the queue tables (migrations 18 and 22) agree with deliveries: one
--                     delivery_due row per pending or retry_scheduled delivery not in flight,
--                     at its next_retry_at, and no other; every delivery_leases row unexpired
--                     and counting the deliveries in flight under it (listed, with an older
--                     claim_token in their row), at least one
--   dangling_ref      every delivery's event, webhook and replayed delivery exists, and
--                     every event's tenant (foreign keys until migration 19; since then the
--                     writers' locks and the delete triggers of functions/cascades.sql)
--
-- An event's status is not checked: since migration 7 it is worked out from its deliveries
-- whenever it is read (pghook_event_state), so it cannot disagree with them.
--
-- flying: the deliveries in flight, each under the lease that lists it (pghook_in_flight's
-- test, functions/claim.sql), found once from the leases rather than asked row by row of the
-- waiting deliveries, which may be millions.
with flying as materialized (
	select x.id, l.claim_token, l.webhook_id from delivery_leases l
	cross join unnest(l.delivery_ids) x(id)
	join deliveries d on d.id = x.id
	where d.webhook_id = l.webhook_id and d.status in ('pending', 'retry_scheduled')
		and coalesce(d.claim_token, 0) < l.claim_token
)
select 'event_fanout' as problem, e.id as event_id, null::text as delivery_id,
	format('endpoint_count %s, first deliveries %s, distinct webhooks %s',
		e.endpoint_count, count(d.id), count(distinct d.webhook_id)) as detail
from events e
left join deliveries d on d.event_id = e.id and d.replay_of_delivery_id is null
group by e.id, e.endpoint_count
having count(d.id) <> e.endpoint_count or count(d.id) <> count(distinct d.webhook_id)

union all
select 'delivery_state', d.event_id, d.id,
	format('status %s, next_retry_at %s, lease_expires_at %s, claim_token %s',
		d.status, d.next_retry_at, d.lease_expires_at, d.claim_token)
from deliveries d
where not (
	(d.status = 'delivered' and d.lease_expires_at is null)
	or (d.status = 'failed' and d.lease_expires_at is null)
	or (d.status in ('pending', 'retry_scheduled') and d.next_retry_at is not null
		and d.lease_expires_at is null))

union all
select 'attempt_count', d.event_id, d.id,
	format('attempt_count %s, attempt rows %s, numbers %s..%s, distinct %s',
		d.attempt_count, a.n, a.lo, a.hi, a.distinct_n)
from deliveries d
cross join lateral (
	select count(*) as n, min(x.attempt_number) as lo, max(x.attempt_number) as hi,
		count(distinct x.attempt_number) as distinct_n
	from attempts x where x.delivery_id = d.id
) a
where a.n <> d.attempt_count or a.distinct_n <> a.n
	or (a.n > 0 and (a.lo <> 1 or a.hi <> d.attempt_count))

union all
select 'delivered_attempt', d.event_id, d.id,
	format('delivered_at %s, attempt_count %s', d.delivered_at, d.attempt_count)
from deliveries d
where d.status = 'delivered' and (d.delivered_at is null or d.attempt_count < 1)

union all
select 'queue_rows', d.event_id, coalesce(d.id, x.delivery_id),
	format('status %s, next_retry_at %s; delivery_due rows %s', d.status, d.next_retry_at,
		coalesce(x.places, '{}'))
from (
	select q.delivery_id, array_agg(format('%s at %s', q.webhook_id, q.due_at)) as places
	from delivery_due q group by q.delivery_id) x
full join (select * from deliveries d
	where d.status in ('pending', 'retry_scheduled')
		and not exists (select 1 from flying f where f.id = d.id)) d
	on d.id = x.delivery_id
where d.id is null or x.delivery_id is null or cardinality(x.places) <> 1
	or x.places[1] <> format('%s at %s', d.webhook_id, d.next_retry_at)

union all
select 'queue_rows', null, l.delivery_ids[1],
	format('lease of claim %s, webhook %s, until %s: in_flight %s, %s in flight under it',
		l.claim_token, l.webhook_id, l.expires_at, l.in_flight, f.n)
from delivery_leases l
cross join lateral (
	select count(*)::int as n from flying f
	where f.claim_token = l.claim_token and f.webhook_id = l.webhook_id) f
where f.n <> l.in_flight or l.in_flight < 1 or l.expires_at <= now()

union all
select 'dangling_ref', d.event_id, d.id,
	concat_ws(', ', case when e.id is null then 'no event ' || d.event_id end,
		case when w.id is null then 'no webhook ' || d.webhook_id end,
		case when d.replay_of_delivery_id is not null and r.id is null
			then 'no replayed delivery ' || d.replay_of_delivery_id end)
from deliveries d
left join events e on e.id = d.event_id
left join webhooks w on w.id = d.webhook_id
left join deliveries r on r.id = d.replay_of_delivery_id
where e.id is null or w.id is null or (d.replay_of_delivery_id is not null and r.id is null)

union all
select 'dangling_ref', e.id, null, 'no tenant ' || e.tenant_id
from events e
where not exists (select 1 from tenants t where t.id = e.tenant_id)

order by 1, 2, 3;
