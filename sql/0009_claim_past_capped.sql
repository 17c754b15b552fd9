-- SPDX-License-Identifier: MIT
-- pghook schema, version 9: a claim that skips capped webhooks no longer reads their backlog.
-- pghook_due_uncapped (functions/claim.sql) walks the webhooks that have undelivered rows
-- through this index, one descent per webhook, instead of every due row of the capped ones.
-- On a large deliveries table, build it with create index concurrently before upgrading
-- (docs/operations.md, "Upgrading").
create index if not exists deliveries_due_webhook on deliveries (webhook_id, next_retry_at)
	where status in ('pending', 'retry_scheduled');
