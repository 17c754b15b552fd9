-- SPDX-License-Identifier: MIT
-- pghook schema, version 6: event status under concurrent completions; two redundant foreign
-- keys dropped.

-- Two transactions that each end one of an event's deliveries (two workers, or a worker and a
-- recorded attempt) each counted the other's delivery as still open, because the other had not
-- committed yet. Neither moved the event, and it stayed pending for good. Now a refresh first
-- locks the events' rows, in id order so that two refreshes cannot deadlock, and counts in the
-- next statement: a volatile SQL function's statements each take a new snapshot, so the count
-- sees what the transaction it waited for committed. The later of two such transactions
-- therefore sees both deliveries ended. The count is 0001's function, renamed; its callers
-- find the new one by name.
alter function pghook_refresh_events(text[]) rename to pghook_refresh_events_unlocked;

create function pghook_refresh_events(ids text[]) returns void
language sql as $$
	select 1 from events where id = any(ids) order by id for no key update;
	select pghook_refresh_events_unlocked(ids);
$$;

-- A delivery belongs to its event's tenant and an attempt to its delivery's, and deleting a
-- tenant already cascades through events to both. These two checks only repeated that, at a
-- tenants lookup (and a key-share lock on the tenant's row) per delivery stored and per
-- attempt recorded.
alter table deliveries drop constraint deliveries_tenant_id_fkey;
alter table attempts drop constraint attempts_tenant_id_fkey;
