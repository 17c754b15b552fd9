-- SPDX-License-Identifier: MIT
-- Per webhook and UTC hour: where the worker's attempts spent their time (migration 15's
-- attempts.dns_ms ... total_ms, from libcurl), as p50/p95/p99 of each phase. Only attempts
-- with timings count (made by a worker since migration 15; manual and external ones have
-- none). A phase that did not happen (DNS, connect and TLS on a reused connection, TLS over
-- http, the first byte when no answer came) is null and left out of its percentiles.
-- Read as whoever queries it (security_invoker), like report_webhook_daily. See
-- docs/reporting.md.
create or replace view report_attempt_timings with (security_invoker = true) as
select d.tenant_id, d.webhook_id, w.url,
	date_trunc('hour', a.started_at at time zone 'UTC') as hour,
	count(*) as attempts,
	count(a.connect_ms) as new_connections,
	percentile_disc(0.5) within group (order by a.total_ms) as total_p50_ms,
	percentile_disc(0.95) within group (order by a.total_ms) as total_p95_ms,
	percentile_disc(0.99) within group (order by a.total_ms) as total_p99_ms,
	percentile_disc(0.5) within group (order by a.first_byte_ms) as first_byte_p50_ms,
	percentile_disc(0.95) within group (order by a.first_byte_ms) as first_byte_p95_ms,
	percentile_disc(0.99) within group (order by a.first_byte_ms) as first_byte_p99_ms,
	percentile_disc(0.5) within group (order by a.dns_ms) as dns_p50_ms,
	percentile_disc(0.95) within group (order by a.dns_ms) as dns_p95_ms,
	percentile_disc(0.99) within group (order by a.dns_ms) as dns_p99_ms,
	percentile_disc(0.5) within group (order by a.connect_ms) as connect_p50_ms,
	percentile_disc(0.95) within group (order by a.connect_ms) as connect_p95_ms,
	percentile_disc(0.99) within group (order by a.connect_ms) as connect_p99_ms,
	percentile_disc(0.5) within group (order by a.tls_ms) as tls_p50_ms,
	percentile_disc(0.95) within group (order by a.tls_ms) as tls_p95_ms,
	percentile_disc(0.99) within group (order by a.tls_ms) as tls_p99_ms
from attempts a
join deliveries d on d.id = a.delivery_id
join webhooks w on w.id = d.webhook_id
where a.total_ms is not null
group by d.tenant_id, d.webhook_id, w.url, 4;
