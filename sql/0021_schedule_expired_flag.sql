-- SPDX-License-Identifier: MIT
-- pghook schema, version 21 (issue 17): pghook_schedule takes a third argument, whether any
-- lease had expired when the claim began (pghook_claim's probe), so that it looks for expired
-- leases per webhook only then (sql/functions/claim.sql). The two-argument version goes.
drop function if exists pghook_schedule(int, int);
