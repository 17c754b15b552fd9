/* SPDX-License-Identifier: MIT
 *
 * jsonout: JSON text written straight into an evbuffer, for answers and arguments built on
 * hot paths (ingest's answer, the worker's completions), where json-c objects cost an
 * allocation per value. Strings are escaped as PostgreSQL's escape_json escapes them, so text
 * written here matches what pghook's SQL renders, byte for byte.
 */
#ifndef PH_JSONOUT_H
#define PH_JSONOUT_H

#include <event2/buffer.h>
#include <stddef.h>

#define PH_JSON_LIT(b, lit) evbuffer_add((b), (lit), sizeof(lit) - 1)

/* s (len bytes, valid UTF-8) as a JSON string, quotes included. */
void ph_json_out_string_len(struct evbuffer *b, const char *s, size_t len);

/* s as a JSON string, or null for NULL. */
void ph_json_out_string(struct evbuffer *b, const char *s);

#endif
