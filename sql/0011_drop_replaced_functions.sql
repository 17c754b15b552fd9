-- SPDX-License-Identifier: MIT
-- pghook schema, version 11: functions, views, policies and grants moved out of the numbered
-- migrations into sql/functions, sql/views, sql/policies and sql/grants, one file each,
-- applied after the migrations whenever they change (common/migrate.h). Two functions of the
-- earlier migrations are in none of those files, and are dropped where they exist:
--   pghook_refresh_events          empty since migration 7 (an event's status is no longer
--                                  stored); the functions that moved deliveries called it
--   pghook_delete_webhook_once     the body pghook_delete_webhook retried (migration 8); the
--                                  retry loop now holds it
drop function if exists pghook_refresh_events(text[]);
drop function if exists pghook_delete_webhook_once(text, text);
