/* SPDX-License-Identifier: MIT */
#include "jsonout.h"

#include <string.h>

void ph_json_out_string_len(struct evbuffer *b, const char *s, size_t len)
{
	static const char special[] = "\b\f\n\r\t\"\\", letter[] = "bfnrt\"\\";
	const char *run = s, *end = s + len;
	PH_JSON_LIT(b, "\"");
	for (const char *p = s; p < end; p++) {
		unsigned char c = (unsigned char)*p;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		evbuffer_add(b, run, (size_t)(p - run));
		run = p + 1;
		const char *k = c ? strchr(special, c) : NULL;
		if (k)
			evbuffer_add(b, (char[]){ '\\', letter[k - special] }, 2);
		else
			evbuffer_add_printf(b, "\\u%04x", c);
	}
	evbuffer_add(b, run, (size_t)(end - run));
	PH_JSON_LIT(b, "\"");
}

void ph_json_out_string(struct evbuffer *b, const char *s)
{
	if (s)
		ph_json_out_string_len(b, s, strlen(s));
	else
		PH_JSON_LIT(b, "null");
}
