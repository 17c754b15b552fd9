/* SPDX-License-Identifier: MIT
 *
 * fuzz_json: request bodies. ph_json_parse gets the raw bytes; a document it accepts must
 * serialize and parse again (the api stores events' data compacted), and an object then goes
 * through every body check of common/validate, as the api's handlers call them: as one event
 * (POST /v1/events), as a batch, as a webhook being created and patched, and as an attempt.
 * What a check accepts is what the handlers then read without checking again. Everything is
 * freed, so LeakSanitizer checks the references the checks take and drop.
 */
#include "fuzz.h"

#include "json.h"
#include "rfc3339.h"
#include "sign.h"
#include "validate.h"

/* events_create reads these members without checking again. */
static void check_accepted_event(json_object *ev)
{
	json_object *type = ph_json_get(ev, "type");
	FUZZ_CHECK(type && json_object_is_type(type, json_type_string));
	FUZZ_CHECK(ph_event_type_valid(json_object_get_string(type)));
	FUZZ_CHECK(json_object_is_type(ph_json_get(ev, "data"), json_type_object));
}

static void check_accepted_batch(json_object *events)
{
	size_t n = json_object_array_length(events);
	FUZZ_CHECK(n >= 1 && n <= PH_BATCH_MAX);
	for (size_t i = 0; i < n; i++)
		check_accepted_event(json_object_array_get_idx(events, i));
}

/* The handlers store what an accepted webhook body gives them as it is. */
static void check_accepted_webhook(const struct ph_webhook_input *in, bool creating)
{
	FUZZ_CHECK(!creating || (in->url && in->subscriptions));
	FUZZ_CHECK(!in->url || ph_webhook_url_valid(in->url));
	FUZZ_CHECK(in->email_st != PH_FIELD_SET || ph_email_valid(in->email));
	FUZZ_CHECK(!in->secret || ph_sign_secret_valid(in->secret));
	FUZZ_CHECK(!in->subscriptions || in->subscriptions[0] == '[');
	FUZZ_CHECK(!in->metadata || in->metadata[0] == '{');
}

static void check_accepted_attempt(const struct ph_attempt_input *in)
{
	FUZZ_CHECK(in->status != NULL);
	FUZZ_CHECK(!in->next_retry || ph_rfc3339_valid(in->next_retry));
	FUZZ_CHECK(in->code[0] == '\0' || (atoi(in->code) >= 100 && atoi(in->code) <= 599));
	FUZZ_CHECK(strcmp(in->status, "retry_scheduled") != 0 || in->next_retry);
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

/* Each check on its own collector, so "accepted" means this check found nothing. */
static void check_body(json_object *doc)
{
	struct ph_verr v;
	struct ph_webhook_input webhook;
	struct ph_attempt_input attempt;
	ph_verr_init(&v);
	ph_validate_event(&v, doc, PH_LOC_BODY);
	if (!ph_verr_any(&v))
		check_accepted_event(doc);
	check_error_body(&v);
	json_object *events = ph_validate_batch(&v, doc);
	if (!ph_verr_any(&v))
		check_accepted_batch(events);
	check_error_body(&v);
	for (int creating = 0; creating <= 1; creating++) {
		ph_validate_webhook(&v, doc, creating, &webhook);
		if (!ph_verr_any(&v))
			check_accepted_webhook(&webhook, creating);
		check_error_body(&v);
	}
	ph_validate_attempt(&v, doc, &attempt);
	if (!ph_verr_any(&v))
		check_accepted_attempt(&attempt);
	check_error_body(&v);
	ph_verr_finish(&v);
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
	if (json_object_is_type(doc, json_type_object))
		check_body(doc);
	json_object_put(doc);
	return 0;
}
