-- SPDX-License-Identifier: MIT
-- Ids: a type prefix, "_", 12 hex digits of unix milliseconds and 16 random hex digits, so
-- string order is creation order (cursor pagination relies on it). The milliseconds are the
-- transaction's now(), the created_at of what it inserts, so a time range is an id range
-- (pghook_id_at): the list filters by time read the id indexes (migration 18). api/ makes
-- tenant, key and webhook ids the same way in C (common/id.c).
--
-- Every stored event, delivery and attempt takes one, so it is cheap: the 64 random bits come
-- from random(), which PostgreSQL seeds from the strong source once per backend (0.5 µs per id,
-- against 2.6 µs for a v4 UUID hashed with md5). Ids are names, not secrets (every route that
-- takes one checks the tenant first); two made in the same millisecond collide with odds of
-- 2^-64. random() keeps its state per process, hence parallel restricted (inserts never run in
-- parallel anyway).
create or replace function pghook_new_id(prefix text) returns text
language sql volatile parallel restricted as $$
	select prefix || '_'
		|| lpad(to_hex(floor(extract(epoch from now()) * 1000)::bigint), 12, '0')
		|| lpad(to_hex(floor(random() * 4294967296)::bigint), 8, '0')
		|| lpad(to_hex(floor(random() * 4294967296)::bigint), 8, '0')
$$;

-- The smallest id with prefix p made at or after ts (to the millisecond): every row created
-- at ts or later has an id >= pghook_id_at(p, ts), every row created before ts + 1 ms one
-- below pghook_id_at(p, ts + 1 ms). Immutable, so a list's bounds are constants of its plan.
create or replace function pghook_id_at(p text, ts timestamptz) returns text
language sql immutable parallel safe as $$
	select p || '_' || lpad(to_hex(floor(extract(epoch from ts) * 1000)::bigint), 12, '0')
$$;
