/* SPDX-License-Identifier: MIT */
#include "delivery.h"

#include <string.h>

const char *const ph_delivery_status_names[PH_DELIVERY_STATUS_COUNT] = {
	[PH_DELIVERY_PENDING] = "pending",
	[PH_DELIVERY_RETRY_SCHEDULED] = "retry_scheduled",
	[PH_DELIVERY_DELIVERING] = "delivering",
	[PH_DELIVERY_DELIVERED] = "delivered",
	[PH_DELIVERY_FAILED] = "failed",
};

const char *ph_delivery_status_name(enum ph_delivery_status s)
{
	/* Unsigned: a negative value cast into the enum is out of range too. */
	if ((unsigned)s >= PH_DELIVERY_STATUS_COUNT)
		return "";
	return ph_delivery_status_names[s];
}

bool ph_delivery_status_parse(const char *name, enum ph_delivery_status *out)
{
	for (int i = 0; name && i < PH_DELIVERY_STATUS_COUNT; i++) {
		if (strcmp(name, ph_delivery_status_names[i]) == 0) {
			*out = (enum ph_delivery_status)i;
			return true;
		}
	}
	return false;
}
