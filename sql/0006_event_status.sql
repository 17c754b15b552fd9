-- SPDX-License-Identifier: MIT
-- pghook schema, version 6: two redundant foreign keys dropped. (It also made the refresh of
-- an event's stored status lock the event's row; migration 7 stopped storing the status.)

-- A delivery belongs to its event's tenant and an attempt to its delivery's, and deleting a
-- tenant already cascades through events to both. These two checks only repeated that, at a
-- tenants lookup (and a key-share lock on the tenant's row) per delivery stored and per
-- attempt recorded.
alter table deliveries drop constraint deliveries_tenant_id_fkey;
alter table attempts drop constraint attempts_tenant_id_fkey;
