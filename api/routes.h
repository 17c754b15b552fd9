/* SPDX-License-Identifier: MIT
 *
 * routes: every native handler of the api, by resource file; the routes that mirror other
 * services' APIs are in compat.h. The table itself is in router.c.
 */
#ifndef PGHOOK_API_ROUTES_H
#define PGHOOK_API_ROUTES_H

#include "http.h"

/* webhooks.c */
void webhooks_create(struct req *r);
/* webhooks_create, answered with status instead of 201. */
void webhooks_create_answering(struct req *r, int status);
void webhooks_list(struct req *r);
void webhooks_get(struct req *r);
void webhooks_patch(struct req *r);
void webhooks_delete(struct req *r);
void webhooks_rotate_secret(struct req *r);
void webhooks_enable(struct req *r);
void webhooks_disable(struct req *r);
void webhooks_recover(struct req *r);

/* events.c */
void events_create(struct req *r);
void events_batch(struct req *r);
void events_list(struct req *r);
void events_get(struct req *r);

/* event_types.c: the tenant's event-type catalog */
void event_types_create(struct req *r);
void event_types_list(struct req *r);
void event_types_get(struct req *r);
void event_types_patch(struct req *r);
void event_types_delete(struct req *r);

/* deliveries.c */
void deliveries_list(struct req *r);
void deliveries_get(struct req *r);
void deliveries_attempts(struct req *r);
void deliveries_record_attempt(struct req *r);
void deliveries_replay(struct req *r);

/* send.c: one synchronous attempt */
void deliveries_send(struct req *r);

/* stats.c: counts for the console's overview */
void stats_deliveries(struct req *r);

/* portal.c: console links */
void portal_sessions_create(struct req *r);
void portal_sessions_current(struct req *r);
void portal_sessions_delete(struct req *r);

/* console.c: the web console's files */
void console_serve(struct req *r);

/* admin.c */
void admin_tenants_create(struct req *r);
void admin_keys_create(struct req *r);
void admin_keys_list(struct req *r);
void admin_key_revoke(struct req *r);
void admin_tenant_delete(struct req *r);
void admin_limits_get(struct req *r);
void admin_limits_set(struct req *r);

/* ops.c */
void ops_healthz(struct req *r);
void ops_readyz(struct req *r);
void ops_metrics(struct req *r);
void ops_openapi(struct req *r);

#endif
