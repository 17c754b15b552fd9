-- SPDX-License-Identifier: MIT
-- pghook schema, version 10: ids made without a UUID and md5 per id.
--
-- Every stored event, delivery and attempt takes an id from pghook_new_id: two per event of a
-- batch with one webhook, one more per attempt. 0001's drew a v4 UUID from the strong random
-- source and hashed its text with md5 for 16 hex digits: 2.6 µs per id, about a tenth of a
-- batch ingest's database time. Ids are names, not secrets (every route that takes one checks
-- the tenant first), so the 64 random bits now come from random(), which PostgreSQL seeds from
-- the strong source once per backend: 0.5 µs per id. Two ids made in the same millisecond
-- collide with odds of 2^-64. random() keeps its state per process, hence parallel restricted
-- (inserts never run in parallel anyway). The format is unchanged: prefix, "_", 12 hex digits
-- of milliseconds, 16 hex digits (api/ makes tenant, key and webhook ids the same way in C).
create or replace function pghook_new_id(prefix text) returns text
language sql volatile parallel restricted as $$
	select prefix || '_'
		|| lpad(to_hex((extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0')
		|| lpad(to_hex(floor(random() * 4294967296)::bigint), 8, '0')
		|| lpad(to_hex(floor(random() * 4294967296)::bigint), 8, '0')
$$;
