-- SPDX-License-Identifier: MIT
-- API objects rendered to JSON, so every route and seed shape reads the same columns the same
-- way. The pghook_*_json functions are plpgsql, not SQL functions: plpgsql keeps its plans for
-- the session, while a SQL function that cannot be inlined is planned again on every call
-- (about 0.3 ms each). Times are rendered by pghook_ts, in UTC with milliseconds.

create or replace function pghook_ts(t timestamptz) returns text
language sql stable parallel safe as $$
	select to_char(t at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- A duration in milliseconds as the configuration writes it: the largest unit that divides it
-- exactly ("5m", "1500ms", "0s"), like common/duration.c's ph_duration_format.
create or replace function pghook_duration_text(ms bigint) returns text
language sql immutable parallel safe as $$
	select case
		when ms = 0 then '0s'
		when ms % 86400000 = 0 then (ms / 86400000) || 'd'
		when ms % 3600000 = 0 then (ms / 3600000) || 'h'
		when ms % 60000 = 0 then (ms / 60000) || 'm'
		when ms % 1000 = 0 then (ms / 1000) || 's'
		else ms || 'ms' end
$$;

-- A webhook. With ed25519 signing the private key never leaves pghook: "secret" is null and
-- "publicKey" is what receivers verify with. For HMAC the api replaces the stored (possibly
-- sealed) secret with its plaintext (api/webhooks.c).
-- maxInFlight null: the workers' default, PGHOOK_WEBHOOK_MAX_IN_FLIGHT. circuit: the breaker's
-- state (sql/functions/complete.sql); closed for a webhook the scheduler has not met yet.
create or replace function pghook_webhook_json(w webhooks) returns json
language plpgsql stable as $$
begin
	return (
		select json_build_object(
			'id', w.id, 'url', w.url, 'description', w.description,
			'subscriptions', to_json(w.subscriptions),
			'notificationEmail', w.notification_email,
			'secret', case when w.signature = 'hmac-sha256' then w.secret end,
			'signature', w.signature, 'publicKey', w.public_key,
			'headers', coalesce(w.headers, '{}'::jsonb),
			'retrySchedule', (select json_agg(pghook_duration_text(x) order by o)
				from unnest(w.retry_schedule) with ordinality as u(x, o)),
			'status', w.status, 'disabledReason', w.disabled_reason, 'metadata', w.metadata,
			'rateLimit', w.rate_limit, 'maxInFlight', w.max_in_flight,
			'ordering', w.ordering,
			'circuit', json_build_object('state', coalesce(s.circuit, 'closed'),
				'consecutiveFailures', coalesce(s.consecutive_failures, 0),
				'openedAt', pghook_ts(s.opened_at), 'nextProbeAt', pghook_ts(s.next_probe_at)),
			'createdDate', pghook_ts(w.created_at), 'updatedDate', pghook_ts(w.updated_at))
		from (select 1) one left join webhook_sched s on s.webhook_id = w.id);
end
$$;

-- The shapes of a delivery and an event, as plain SQL functions of their values: the planner
-- inlines them, and every place that renders one (the *_json functions below, the api's
-- single-event ingest) goes through them, so the shape is written once.
-- A delivery as the native API shows it, plus seed 002's snapshot names (endpointId,
-- endpointName, endpointUrl, attemptedAt, organizationId) so one shape serves both.
create or replace function pghook_delivery_obj(id text, event_id text, webhook_id text,
	event_type text, status text, attempt_count int, next_retry_at timestamptz,
	last_attempt_at timestamptz, delivered_at timestamptz, response_status_code int,
	last_error text, replay_of text, tenant_id text, endpoint_name text, endpoint_url text,
	created_at timestamptz, updated_at timestamptz) returns json
language sql stable as $$
	select json_build_object(
		'id', id, 'eventId', event_id, 'webhookId', webhook_id, 'eventType', event_type,
		'status', status, 'attemptCount', attempt_count,
		'nextRetryAt', pghook_ts(next_retry_at), 'lastAttemptAt', pghook_ts(last_attempt_at),
		'deliveredAt', pghook_ts(delivered_at), 'responseStatusCode', response_status_code,
		'lastError', last_error, 'replayOfDeliveryId', replay_of,
		'organizationId', tenant_id, 'endpointId', webhook_id, 'endpointName', endpoint_name,
		'endpointUrl', endpoint_url, 'attemptedAt', pghook_ts(last_attempt_at),
		'createdAt', pghook_ts(created_at), 'updatedAt', pghook_ts(updated_at))
$$;

create or replace function pghook_event_obj(id text, tenant_id text, event_type text,
	event_group text, source_key text, ordering_key text, status text, endpoint_count int,
	payload json, deliveries json, created_at timestamptz, updated_at timestamptz) returns json
language sql stable as $$
	select json_build_object(
		'id', id, 'organizationId', tenant_id, 'eventType', event_type,
		'eventGroup', event_group, 'sourceKey', source_key, 'orderingKey', ordering_key,
		'status', status,
		'endpointCount', endpoint_count, 'payload', payload,
		'deliveries', coalesce(deliveries, '[]'::json),
		'createdAt', pghook_ts(created_at), 'updatedAt', pghook_ts(updated_at))
$$;

create or replace function pghook_delivery_json(d deliveries) returns json
language plpgsql stable as $$
begin
	return (
		select pghook_delivery_obj(d.id, d.event_id, d.webhook_id, e.event_type,
			pghook_delivery_status(d),
			d.attempt_count, d.next_retry_at, d.last_attempt_at, d.delivered_at,
			d.response_status_code, d.last_error, d.replay_of_delivery_id, d.tenant_id,
			coalesce(w.description, w.url), w.url, d.created_at, d.updated_at)
		from events e, webhooks w
		where e.id = d.event_id and w.id = d.webhook_id);
end
$$;

create or replace function pghook_event_json(e events) returns json
language plpgsql stable as $$
declare
	s record;
begin
	s := pghook_event_state(e);
	return pghook_event_obj(e.id, e.tenant_id, e.event_type, e.event_group, e.source_key,
		e.ordering_key, s.status, e.endpoint_count, e.payload,
		(select json_agg(pghook_delivery_json(d) order by d.id)
		 from deliveries d where d.event_id = e.id),
		e.created_at, s.updated_at);
end
$$;

create or replace function pghook_attempt_json(a attempts) returns json
language plpgsql stable as $$
begin
	return (
		select json_build_object(
			'id', a.id, 'deliveryId', a.delivery_id, 'attemptNumber', a.attempt_number,
			'startedAt', pghook_ts(a.started_at), 'durationMs', a.duration_ms,
			'responseStatusCode', a.response_status_code, 'responseBody', a.response_body,
			'error', a.error, 'trigger', a.trigger, 'workerId', a.worker_id,
			'timings', json_build_object('dnsMs', a.dns_ms, 'connectMs', a.connect_ms,
				'tlsMs', a.tls_ms, 'firstByteMs', a.first_byte_ms, 'totalMs', a.total_ms)));
end
$$;

-- Seed 001: a "webhook delivery attempt" is a delivery, its "alert" the event.
create or replace function pghook_seed001_json(d deliveries) returns json
language plpgsql stable as $$
begin
	return (
		select json_build_object(
			'id', d.id, 'type', e.event_type, 'data', e.payload,
			'createdDate', pghook_ts(e.created_at), 'alertId', e.id,
			'deliveredDate', pghook_ts(d.delivered_at),
			'lastDeliveryAttemptDate', pghook_ts(d.last_attempt_at),
			'lastDeliveryAttemptStatus', d.response_status_code,
			'lastDeliveryAttemptError', d.last_error)
		from events e where e.id = d.event_id);
end
$$;

-- Seed 004's WebhookDeliveryResponse, snake_case, with the tenant's integer user_id.
create or replace function pghook_seed004_json(d deliveries) returns json
language plpgsql stable as $$
begin
	return (
		select json_build_object(
			'id', d.id, 'endpoint_id', d.webhook_id, 'user_id', t.user_id, 'event_id', d.event_id,
			'event_type', e.event_type, 'event_group', e.event_group,
			'status', pghook_delivery_status(d),
			'scheduled_attempt', d.attempt_count + 1,
			'next_retry_at', pghook_ts(d.next_retry_at), 'last_attempt_at', pghook_ts(d.last_attempt_at),
			'delivered_at', pghook_ts(d.delivered_at), 'final_http_status', d.response_status_code,
			'error_message', d.last_error, 'replay_of_delivery_id', d.replay_of_delivery_id,
			'created_at', pghook_ts(d.created_at), 'updated_at', pghook_ts(d.updated_at))
		from events e, tenants t where e.id = d.event_id and t.id = d.tenant_id);
end
$$;
