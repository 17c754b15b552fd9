/* SPDX-License-Identifier: MIT
 *
 * validate: field checks shared by the resources. Each check reads one member of a request
 * object, adds a seed-004-shaped error to v when it is wrong, and hands back the value.
 * "Absent" and "null" are told apart because PATCH and the seed routes need both.
 */
#ifndef PGHOOK_API_VALIDATE_H
#define PGHOOK_API_VALIDATE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "json.h"

/* Where a field's error is reported: ["body", name] or ["body", list, index, name]. */
struct field_loc {
	const char *list; /* NULL for a top-level body field */
	int index;
};

#define LOC_BODY ((struct field_loc){ NULL, 0 })

enum field_state {
	FIELD_ABSENT,
	FIELD_NULL,
	FIELD_SET,
	FIELD_INVALID,
};

void verr_field(struct ph_verr *v, struct field_loc loc, const char *name, const char *type,
	const char *msg);

/* A string member of 1..maxlen characters (or null when nullable). */
enum field_state v_string(struct ph_verr *v, json_object *obj, struct field_loc loc,
	const char *name, bool required, bool nullable, size_t maxlen, const char **out);
/* True when s equals one of the n strings of set. */
bool str_in(const char *s, const char *const *set, size_t n);
/* An event type: ^[A-Za-z0-9_.:-]{1,128}$. */
bool event_type_valid(const char *s);
/* An http(s) URL with a host, at most 2048 characters. */
bool webhook_url_valid(const char *s);
/* A plausible email address: one '@', no spaces or control characters, at most 254. */
bool email_valid(const char *s);
/* A member that must be a JSON object (or null when nullable). */
enum field_state v_object(struct ph_verr *v, json_object *obj, struct field_loc loc,
	const char *name, bool required, bool nullable, json_object **out);
/* One event of POST /v1/events or of a batch: an object with a valid "type", an object "data",
 * and optional "sourceKey" and "eventGroup" strings. Pure (no database): tests/fuzz calls it. */
void validate_event(struct ph_verr *v, json_object *ev, struct field_loc loc);

#endif
