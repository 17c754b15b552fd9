/* SPDX-License-Identifier: MIT
 *
 * cursor: the opaque ?cursor= of list routes. It carries the id of the last row returned;
 * lists are ordered by id descending (newest first), so the next page is "id < cursor id".
 */
#ifndef PGHOOK_COMMON_CURSOR_H
#define PGHOOK_COMMON_CURSOR_H

#include <stdbool.h>
#include <stddef.h>

#include "id.h"
#include "util.h"

/* base64url of the tagged id (at most PH_ID_MAX + 7 bytes), NUL included. */
#define PH_CURSOR_MAX 72

/* Encode the id of the last row into out (capacity PH_CURSOR_MAX). */
void ph_cursor_encode(const char *last_id, char out[PH_CURSOR_MAX]);
/* Decode a cursor, checking that it names an id with the given prefix. */
bool ph_cursor_decode(const char *cursor, const char *prefix, char out_id[PH_ID_MAX]) PH_MUSTCHECK;

#endif
