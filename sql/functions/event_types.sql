-- SPDX-License-Identifier: MIT
-- The event-type catalog (migration 15): its answer shape, and its enforcement. While a
-- tenant's catalog is empty any valid type goes; once it has entries, subscriptions must name
-- its types (or "*") and events must be of its types. Refusals raise SQLSTATE PH001 (events)
-- or PH002 (subscriptions), which the api answers with 422.

create or replace function pghook_event_type_json(t event_types) returns json
language sql stable as $$
	select json_build_object('name', t.name, 'description', t.description,
		'example', t.example, 'deprecated', t.deprecated,
		'createdAt', pghook_ts(t.created_at), 'updatedAt', pghook_ts(t.updated_at))
$$;

-- p_subs unchanged, or PH002 when the tenant has a catalog and one of them is not in it.
create or replace function pghook_catalog_subscriptions(p_tenant text, p_subs text[])
returns text[]
language plpgsql stable as $$
declare
	v_bad text;
begin
	select s into v_bad from unnest(p_subs) s
	where s <> '*' and exists (select 1 from event_types t where t.tenant_id = p_tenant)
		and not exists (select 1 from event_types t where t.tenant_id = p_tenant and t.name = s)
	limit 1;
	if v_bad is not null then
		raise exception using errcode = 'PH002',
			message = format('event type %s is not in the catalog', v_bad);
	end if;
	return p_subs;
end
$$;

-- Raise PH001 when the tenant has a catalog and one of p_types is not in it; the message
-- names the 0-based index of the first such type in p_types.
create or replace function pghook_catalog_check(p_tenant text, p_types text[])
returns void
language plpgsql stable as $$
declare
	v_bad bigint;
begin
	if not exists (select 1 from event_types t where t.tenant_id = p_tenant) then
		return;
	end if;
	select o - 1 into v_bad from unnest(p_types) with ordinality u(ty, o)
	where not exists (select 1 from event_types t where t.tenant_id = p_tenant and t.name = u.ty)
	order by o limit 1;
	if v_bad is not null then
		raise exception using errcode = 'PH001',
			message = format('event type %s is not in the catalog', p_types[v_bad + 1]),
			detail = v_bad::text;
	end if;
end
$$;
