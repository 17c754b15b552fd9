/* SPDX-License-Identifier: MIT
 *
 * fuzz_json: request bodies. ph_json_parse gets the raw bytes; a document it accepts must
 * serialize and parse again (the api stores events' data compacted), and an object then goes
 * through the api's own validators: as one event (POST /v1/events), as a batch's "events"
 * array, and through the webhook fields' checks. Everything is freed, so LeakSanitizer checks
 * the references the validators take and drop.
 */
#include "fuzz.h"

#include "json.h"
#include "validate.h"

#define BATCH_MAX 1000 /* as in api/events.c */

/* What events_batch checks for each element of "events". */
static void validate_batch(struct ph_verr *v, json_object *body)
{
	json_object *events = ph_json_get(body, "events");
	if (!events || !json_object_is_type(events, json_type_array))
		return;
	size_t n = json_object_array_length(events);
	for (size_t i = 0; i < n && n <= BATCH_MAX; i++)
		validate_event(v, json_object_array_get_idx(events, i),
			(struct field_loc){ "events", (int)i });
}

/* The webhook resource's field checks (api/webhooks.c), as far as they need no database. */
static void validate_webhook_fields(struct ph_verr *v, json_object *body)
{
	const char *s;
	json_object *meta;
	if (v_string(v, body, LOC_BODY, "url", false, false, 2048, &s) == FIELD_SET)
		(void)webhook_url_valid(s);
	if (v_string(v, body, LOC_BODY, "notificationEmail", false, true, 254, &s) == FIELD_SET)
		(void)email_valid(s);
	v_object(v, body, LOC_BODY, "metadata", false, false, &meta);
	json_object *subs = ph_json_get(body, "subscriptions");
	size_t n = 0;
	if (subs && json_object_is_type(subs, json_type_array))
		n = json_object_array_length(subs);
	for (size_t i = 0; i < n; i++) {
		json_object *sub = json_object_array_get_idx(subs, i);
		if (json_object_is_type(sub, json_type_string))
			(void)event_type_valid(json_object_get_string(sub));
	}
}

/* events_create reads these members without checking again. */
static void check_accepted_event(json_object *ev)
{
	json_object *type = ph_json_get(ev, "type");
	FUZZ_CHECK(type && json_object_is_type(type, json_type_string));
	FUZZ_CHECK(event_type_valid(json_object_get_string(type)));
	FUZZ_CHECK(json_object_is_type(ph_json_get(ev, "data"), json_type_object));
}

/* The 422 body the validators built is JSON the api can send and a client can read back. */
static void check_error_body(struct ph_verr *v)
{
	json_object *body = ph_verr_take_body(v), *again = NULL;
	size_t len;
	const char *text = ph_json_compact(body, &len);
	FUZZ_CHECK(!ph_verr_any(v));
	FUZZ_CHECK(ph_json_parse(text, len, &again) == PH_JSON_OK);
	json_object_put(again);
	json_object_put(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_object *doc, *again = NULL;
	enum ph_json_parse_status st = ph_json_parse((const char *)data, size, &doc);
	FUZZ_CHECK(ph_json_parse_message(st) != NULL);
	if (st != PH_JSON_OK) {
		FUZZ_CHECK(doc == NULL);
		return 0;
	}
	size_t len;
	const char *text = ph_json_compact(doc, &len);
	FUZZ_CHECK(ph_json_parse(text, len, &again) == PH_JSON_OK);
	json_object_put(again);
	if (json_object_is_type(doc, json_type_object)) {
		struct ph_verr v;
		ph_verr_init(&v);
		validate_event(&v, doc, LOC_BODY);
		if (!ph_verr_any(&v))
			check_accepted_event(doc);
		validate_batch(&v, doc);
		validate_webhook_fields(&v, doc);
		check_error_body(&v);
		ph_verr_finish(&v);
	}
	json_object_put(doc);
	return 0;
}
