/* SPDX-License-Identifier: MIT
 *
 * Unit tests for common/delivery: every status's name is the deliveries.status value, names
 * and statuses map both ways, and anything else is refused.
 */
#include <string.h>

#include "check.h"
#include "delivery.h"

static const struct {
	enum ph_delivery_status status;
	const char *name;
} names[] = {
	{ PH_DELIVERY_PENDING, "pending" },
	{ PH_DELIVERY_RETRY_SCHEDULED, "retry_scheduled" },
	{ PH_DELIVERY_DELIVERING, "delivering" },
	{ PH_DELIVERY_DELIVERED, "delivered" },
	{ PH_DELIVERY_FAILED, "failed" },
};

static void test_names_round_trip(void)
{
	CHECK(PH_ARRAY_LEN(names) == PH_DELIVERY_STATUS_COUNT);
	for (size_t i = 0; i < PH_ARRAY_LEN(names); i++) {
		enum ph_delivery_status back = PH_DELIVERY_STATUS_COUNT;
		CHECK_STR(ph_delivery_status_name(names[i].status), names[i].name);
		CHECK_STR(ph_delivery_status_names[names[i].status], names[i].name);
		CHECK(ph_delivery_status_parse(names[i].name, &back));
		CHECK(back == names[i].status);
	}
}

static void test_refused(void)
{
	static const char *const bad[] = { "", "Delivered", "delivered ", "retry", "skipped",
		"sent", "pending\n" };
	enum ph_delivery_status out = PH_DELIVERY_PENDING;
	for (size_t i = 0; i < PH_ARRAY_LEN(bad); i++) {
		CHECK(!ph_delivery_status_parse(bad[i], &out));
		CHECK(out == PH_DELIVERY_PENDING); /* untouched */
	}
	CHECK(!ph_delivery_status_parse(NULL, &out));
	CHECK_STR(ph_delivery_status_name(PH_DELIVERY_STATUS_COUNT), "");
	CHECK_STR(ph_delivery_status_name((enum ph_delivery_status) - 1), "");
}

static void test_channel(void)
{
	/* The api NOTIFYs and the worker LISTENs on this name; an existing deployment's
	 * processes of both versions must agree on it during a rolling upgrade. */
	CHECK_STR(PH_DELIVERY_CHANNEL, "pghook_deliveries");
}

int main(void)
{
	test_names_round_trip();
	test_refused();
	test_channel();
	return check_finish("delivery");
}
