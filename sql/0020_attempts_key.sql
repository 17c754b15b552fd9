-- SPDX-License-Identifier: MIT
-- attempts' primary key becomes its natural key: (delivery_id, attempt_number), with started_at,
-- the partition key, which a partitioned table's unique constraints must include. The index on
-- id goes (issue 17).
--
-- Nothing reads an attempt by its id: the attempts of a delivery are read through delivery_id
-- (its attempts list, the event's page, a manual send), reports by started_at (the BRIN index).
-- Yet every attempt wrote an entry into the id index, and the ids of one completion share their
-- milliseconds (pghook_new_id) and differ in random bits, so they went into the middle of the
-- rightmost page, which then split in halves: 140 of the 1,283 WAL bytes a delivery cost in a
-- drain, and one of a delivery's two index inserts.
--
-- The new key is the index attempts_delivery was, made unique. Every writer numbers an attempt
-- from its delivery's attempt_count, under the delivery's row lock (functions/complete.sql,
-- apply_attempt.sql, claim.sql's pghook_fail_lost), so (delivery_id, attempt_number) never
-- repeats: sql/reconcile.sql has checked it, and the database enforces it from here. Ids stay
-- unique as pghook_new_id makes them (64 random bits within a millisecond); change data capture
-- and logical replication keep a primary key to identify rows by.
--
-- The unique index is built over every partition while attempts is locked against writes:
-- recording outcomes waits until it commits, ingest does not. On a long history, plan it as
-- migration 16 (docs/operations.md, "Upgrading with zero downtime").
alter table attempts drop constraint attempts_pkey;
alter table attempts add constraint attempts_pkey
	primary key (delivery_id, attempt_number, started_at);
drop index attempts_delivery;
