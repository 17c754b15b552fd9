-- SPDX-License-Identifier: MIT
-- pghook schema, version 5: the worker's queue statements keep one plan (issue 4).
--
-- A profile of claim plus completion (perf on the backend, 50,000 deliveries) put 13% of the
-- database's time in the planner: pghook_refresh_events, a SQL function, was planned again on
-- every call (SQL functions keep no plan between calls), and the statements inside
-- pghook_complete were planned again on every call too, because their parameters made the plan
-- cache keep choosing custom plans. Both now run one generic plan: every lookup in them is by
-- primary key or by a short array, so a plan for unknown parameters is the same plan.
-- pghook_claim keeps custom plans: its LIMIT and due time decide between an index scan and
-- a sort, and a generic plan chose a hash join over the whole deliveries table.

-- Events follow their deliveries (0001); now plpgsql, so its plan is kept.
create or replace function pghook_refresh_events(ids text[]) returns void
language plpgsql set plan_cache_mode = force_generic_plan as $$
begin
	update events e
	set status = s.status, updated_at = now()
	from (
		select ev.id,
			case
			when c.total = 0 then 'skipped'
			when c.open > 0 then 'pending'
			when c.failed > 0 then 'failed'
			else 'delivered'
			end as status
		from (select distinct unnest(ids)) as ev(id)
		cross join lateral (
			select count(*) as total,
				count(*) filter (where d.status not in ('delivered', 'failed')) as open,
				count(*) filter (where d.status = 'failed') as failed
			from deliveries d
			where d.event_id = ev.id
				and not exists (select 1 from deliveries r
					where r.replay_of_delivery_id = d.id)
		) c
	) s
	where e.id = s.id and e.status <> s.status;
end
$$;

alter function pghook_complete(json, text) set plan_cache_mode = force_generic_plan;
