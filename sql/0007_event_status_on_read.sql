-- SPDX-License-Identifier: MIT
-- pghook schema, version 7: an event's status is worked out from its deliveries when the event
-- is read, and no longer stored.
--
-- Keeping events.status meant, each time a delivery ended, locking its event's row and
-- writing it again: the row carries the 1 KB payload, so that was about 30 µs of the
-- database's CPU and 2 KB of WAL per delivery, a third of the database's cost of a delivery
-- (docs/benchmarks.md). The status depends on the deliveries only, and every read of an event
-- reads its deliveries anyway. Worked out there, it also cannot disagree with them: 0006 fixed
-- one way the stored status did (two completions at once left it pending for good).
-- events.updated_at goes too: it changed only with the status. An event's updatedAt is now the
-- latest change to the event or to one of its deliveries. Plain SQL reads both through
-- pghook_event_state (functions/event_state.sql, docs/reporting.md).
--
-- The two columns stay for one release, unmaintained: the previous release's api filters its
-- event list on events.status, and its pods keep serving while this one rolls out
-- (docs/operations.md, "Upgrading": a release stops using a column, the next one drops it).

alter table events alter column status drop not null;
comment on column events.status is 'Not maintained since migration 7 (null for new events) '
	'and dropped in a later release: read pghook_event_state(e).status';
comment on column events.updated_at is 'Not maintained since migration 7 and dropped in a '
	'later release: read pghook_event_state(e).updated_at';
