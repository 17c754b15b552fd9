/* SPDX-License-Identifier: MIT
 *
 * json: request parsing with the limits the API promises (depth 64, finite numbers, valid
 * UTF-8, no duplicate keys, no NUL in keys) and the collector of validation errors, rendered
 * in the 422 shape of FastAPI's HTTPValidationError that the API documents (docs/api.md):
 *   {"detail": [{"loc": ["body", "events", 3, "type"], "msg": "...", "type": "..."}]}
 */
#ifndef PGHOOK_COMMON_JSON_H
#define PGHOOK_COMMON_JSON_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define PH_JSON_MAX_DEPTH 64

enum ph_json_parse_status {
	PH_JSON_OK,
	PH_JSON_SYNTAX, /* not JSON at all */
	PH_JSON_TOO_DEEP, /* nested deeper than PH_JSON_MAX_DEPTH */
	PH_JSON_BAD_UTF8, /* the bytes are not UTF-8 */
	PH_JSON_NOT_FINITE, /* a number overflows a double (1e999) */
	PH_JSON_DUPLICATE_KEY, /* an object repeats a key (json-c would keep the last) */
	PH_JSON_NUL_KEY, /* an object key holds \u0000 (json-c would cut the key there) */
	PH_JSON_LONE_SURROGATE /* a \uD800-\uDFFF escape not in a high-low pair: not text */
};

/* Parse len bytes as one JSON document. On PH_JSON_OK *out owns a reference. */
enum ph_json_parse_status ph_json_parse(
	const char *buf, size_t len, json_object **out) PH_MUSTCHECK;
/* Human-readable text for a parse status. */
const char *ph_json_parse_message(enum ph_json_parse_status st);

/* Validation errors, collected while checking a request and answered together. */
struct ph_verr {
	json_object *detail; /* array, NULL while empty */
};

void ph_verr_init(struct ph_verr *v);
void ph_verr_finish(struct ph_verr *v);
bool ph_verr_any(const struct ph_verr *v);
/* Add an error at loc [where, name] (for example ["body", "url"] or ["query", "limit"]);
 * name may be NULL for [where]. */
void ph_verr_add(
	struct ph_verr *v, const char *where, const char *name, const char *type, const char *msg);
/* Add an error at ["body", list, index, field] for one element of an array in the body;
 * field may be NULL. */
void ph_verr_add_item(struct ph_verr *v, const char *list, int index, const char *field,
	const char *type, const char *msg);
/* The response body {"detail": [...]}; the caller owns the returned reference and v is
 * left empty. */
json_object *ph_verr_take_body(struct ph_verr *v);

/* True when s is valid UTF-8 (no overlongs, no surrogates). */
bool ph_utf8_valid(const char *s, size_t len);
/* Object member lookup that returns NULL for absent keys. Borrowed reference. */
json_object *ph_json_get(json_object *obj, const char *key);
/* Serialize compactly (no pretty-printing, no escaped slashes). Borrowed from obj. */
const char *ph_json_compact(json_object *obj, size_t *len);
/* Copy the JSON text in[0..len) to out without the whitespace between its tokens, so a
 * document PostgreSQL rendered ({"id" : "wh_1", "url" : ...}) reads as json-c writes one
 * ({"id":"wh_1","url":...}): strings byte for byte, keys in their order. Returns the length
 * written, at most len; out is not NUL-terminated and may be in itself. One pass, no parsing:
 * on text that is not JSON it still only drops spaces, tabs and line ends outside strings. */
size_t ph_json_compact_text(const char *in, size_t len, char *out);

#endif
