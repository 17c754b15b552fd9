-- SPDX-License-Identifier: MIT
-- pghook schema, version 23: pghook_take_expired takes an optional list of ids, so a FIFO
-- webhook's claim takes over its expired heads through it rather than through a copy of its
-- statement (functions/claim.sql). The three-argument form it replaces is dropped; the new
-- one is created after the migrations, with the other functions.
drop function if exists pghook_take_expired(text, int, int);
