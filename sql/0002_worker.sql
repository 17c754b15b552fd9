-- SPDX-License-Identifier: MIT
-- pghook schema, version 2: what the worker's claim and completion need besides their
-- functions (functions/claim.sql, complete.sql, release.sql, notifications.sql).

-- The token a claim gives its rows; completion and release match on it.
create sequence pghook_claim_token_seq;

-- One outcome pghook_complete applied.
create type pghook_done as (
	id text, tenant_id text, event_id text, webhook_id text, status text,
	attempt_count int, code int, error text, gone boolean
);
