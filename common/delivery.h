/* SPDX-License-Identifier: MIT
 *
 * delivery: the words the api, the worker and sql/ share about a delivery. Its status is the
 * deliveries.status column (sql/0001_init.sql checks the same five values); the channel is
 * where the api NOTIFYs after an ingest commits and where idle workers LISTEN.
 *
 *   pending --claim--> delivering --outcome--> delivered | retry_scheduled | failed
 *   retry_scheduled --claim--> delivering ...
 */
#ifndef PGHOOK_COMMON_DELIVERY_H
#define PGHOOK_COMMON_DELIVERY_H

#include <stdbool.h>

#include "util.h"

enum ph_delivery_status {
	PH_DELIVERY_PENDING,
	PH_DELIVERY_RETRY_SCHEDULED,
	PH_DELIVERY_DELIVERING,
	PH_DELIVERY_DELIVERED,
	PH_DELIVERY_FAILED,
	PH_DELIVERY_STATUS_COUNT,
};

/* The LISTEN/NOTIFY channel that says deliveries may be due. */
#define PH_DELIVERY_CHANNEL "pghook_deliveries"

/* Every status's name, indexed by the enum (for validators that take a list of names). */
extern const char *const ph_delivery_status_names[PH_DELIVERY_STATUS_COUNT];

/* The deliveries.status value of s; "" for a value outside the enum. */
const char *ph_delivery_status_name(enum ph_delivery_status s);
/* The status named name (exact, case-sensitive). False when name is NULL or no status. */
bool ph_delivery_status_parse(const char *name, enum ph_delivery_status *out) PH_MUSTCHECK;

#endif
