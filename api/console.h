/* SPDX-License-Identifier: MIT
 *
 * console: the web console's files (console/ in the source tree), built into the binary by
 * tools/embed_console.py so the api serves them with no file system and no internet.
 */
#ifndef PGHOOK_API_CONSOLE_H
#define PGHOOK_API_CONSOLE_H

#include <stddef.h>

struct console_asset {
	const char *name; /* "app.js": the console's files are one flat folder */
	const char *content_type;
	const char *etag; /* quoted, from the file's SHA-256 */
	const unsigned char *data;
	size_t len;
};

/* Generated: every file of console/, in name order. */
extern const struct console_asset console_assets[];
extern const size_t console_asset_count;

#endif
