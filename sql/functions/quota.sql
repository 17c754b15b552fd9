-- SPDX-License-Identifier: MIT
-- Quotas (docs/reliability.md, "Limits and abuse"). The defaults are session settings the api
-- sets on each of its connections from its environment (pghook.max_webhooks,
-- pghook.max_fanout; api/main.c); a tenant_limits row overrides them per tenant. 0 or unset
-- means no limit, so SQL run by an operator is not limited. A refusal raises SQLSTATE PH403,
-- which the api answers 403 quota_exceeded with the message.

-- The limit p_name ('max_webhooks' or 'max_fanout') of p_tenant; 0 for none.
create or replace function pghook_tenant_limit(p_tenant text, p_name text)
returns int
language plpgsql stable as $$
begin
	-- plpgsql keeps this plan for the session; as an sql function, which PostgreSQL 15 does
	-- not inline (a subquery), it was planned at every ingest: 0.07 ms of a single event's.
	return coalesce(
		(select case p_name when 'max_webhooks' then l.max_webhooks
			when 'max_fanout' then l.max_fanout end
		 from tenant_limits l where l.tenant_id = p_tenant),
		nullif(current_setting('pghook.' || p_name, true), '')::int, 0);
end
$$;

-- Refuse a request whose events would fan out to more than the tenant's max_fanout
-- deliveries, before anything is written. Events repeating a sourceKey are counted too (an
-- upper bound: counting them exactly would cost a lookup per key).
create or replace function pghook_check_fanout(p_tenant text, p_events json)
returns void
language plpgsql stable as $$
declare
	v_max int := pghook_tenant_limit(p_tenant, 'max_fanout');
	v_n bigint;
begin
	if v_max <= 0 then
		return;
	end if;
	-- The common case costs one count of the tenant's webhooks: events x webhooks is an upper
	-- bound of the fan-out, and when it is within the limit the exact count is not needed.
	select count(*) * json_array_length(p_events) into v_n from webhooks w
	where w.tenant_id = p_tenant and w.status = 'active' and w.deleted_at is null;
	if v_n <= v_max then
		return;
	end if;
	select count(*) into v_n
	from json_to_recordset(p_events) as i(type text)
	join webhooks w on w.tenant_id = p_tenant and w.status = 'active'
		and w.deleted_at is null
		and (i.type = any(w.subscriptions) or '*' = any(w.subscriptions));
	if v_n > v_max then
		raise exception 'this request would create % deliveries; the limit per request is %',
			v_n, v_max using errcode = 'PH403';
	end if;
end
$$;

-- Trigger: refuse a webhook beyond the tenant's max_webhooks (deleted ones do not count).
-- Creations of one tenant are serialized by a transaction lock so two at once cannot both
-- take the last place.
create or replace function pghook_webhook_quota()
returns trigger
language plpgsql as $$
declare
	v_max int := pghook_tenant_limit(new.tenant_id, 'max_webhooks');
	v_n bigint;
begin
	if v_max <= 0 then
		return new;
	end if;
	perform pg_advisory_xact_lock(hashtextextended('pghook.webhooks.' || new.tenant_id, 0));
	select count(*) into v_n from webhooks w
	where w.tenant_id = new.tenant_id and w.deleted_at is null;
	if v_n >= v_max then
		raise exception 'this tenant has % webhooks; the limit is %', v_n, v_max
			using errcode = 'PH403';
	end if;
	return new;
end
$$;

-- Checked on every insert of a webhook: the api's routes and the compatible ones alike. Here and
-- not in a migration because the function must exist first (numbered migrations run before
-- this file); dropped and created again each time the file is applied.
drop trigger if exists webhooks_quota on webhooks;
create trigger webhooks_quota before insert on webhooks
	for each row execute function pghook_webhook_quota();
