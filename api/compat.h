/* SPDX-License-Identifier: MIT
 *
 * compat: routes on the paths other services' public webhook APIs document, answered in the
 * shapes those APIs document, so a client written against one of them works with pghook
 * unchanged. Each is a front on a native route (docs/api.md, api/openapi.json) and shares its
 * tenant authentication: TENANT + API-KEY or x-organization-id + Authorization: Bearer.
 */
#ifndef PGHOOK_API_COMPAT_H
#define PGHOOK_API_COMPAT_H

#include "http.h"

/* POST /v1/webhook/create: Decoda's "Webhook Create". The native POST /v1/webhooks, answered
 * 200 as Decoda documents instead of 201; Decoda's fields are a subset of ours. */
void compat_decoda_webhook_create(struct req *r);

/* GET /webhook/decoda/events/{webhook_delivery_attempt_id}/send?notify_failure=: Decoda's
 * "Webhook Event Send". The native POST /v1/deliveries/{id}/send (Decoda's "webhook delivery
 * attempt" is a delivery), answered as Decoda's Event. */
void compat_decoda_event_send(struct req *r);

/* POST /v1/outbound-webhook-deliveries/{outboundWebhookDeliveryId}/attempts: "Record an
 * outbound webhook delivery attempt" of an organization-scoped outbound-webhooks API
 * (x-organization-id, camelCase). The native POST /v1/deliveries/{id}/attempts: same body,
 * same answer (the event with its deliveries, which carry that API's snapshot names). */
void compat_outbound_record_attempt(struct req *r);

/* POST /v1/webhooks/deliveries/{delivery_id}/replay: "Replay Webhook Delivery" of a FastAPI
 * webhook service. The native POST /v1/deliveries/{id}/replay, answered 200 with that API's
 * snake_case WebhookDeliveryResponse (its integer user_id is the tenant's). Its 422 shape,
 * {"detail": [{"loc", "msg", "type"}]}, is the one every route uses. */
void compat_replay_delivery(struct req *r);

#endif
