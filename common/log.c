/* SPDX-License-Identifier: MIT
 *
 * The message is JSON-escaped here so callers can pass libpq or libcurl error text unchanged
 * (it contains quotes and newlines). A line is built in a stack buffer and written with one
 * write(2) so lines from several threads never interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static atomic_int min_level = PH_LOG_INFO;
static const char *component = "pghook";
static const char *const level_names[] = { "debug", "info", "warn", "error" };

void ph_log_set_level(enum ph_log_level level)
{
	atomic_store(&min_level, (int)level);
}

void ph_log_set_component(const char *name)
{
	component = name;
}

bool ph_log_parse_level(const char *s, enum ph_log_level *out)
{
	for (size_t i = 0; i < PH_ARRAY_LEN(level_names); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum ph_log_level)i;
			return true;
		}
	}
	return false;
}

/* Append s JSON-escaped to buf at *len, never past cap - 1. */
static void append_escaped(char *buf, size_t *len, size_t cap, const char *s)
{
	for (; *s && *len + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			buf[(*len)++] = '\\';
			buf[(*len)++] = (char)c;
		} else if (c == '\n') {
			buf[(*len)++] = '\\';
			buf[(*len)++] = 'n';
		} else if (c < 0x20) {
			*len += (size_t)snprintf(buf + *len, cap - *len, "\\u%04x", c);
		} else {
			buf[(*len)++] = (char)c;
		}
	}
}

void ph_log_write(enum ph_log_level level, const char *file, int line, const char *fmt, ...)
{
	if ((int)level < atomic_load(&min_level))
		return;
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	struct timeval tv;
	gettimeofday(&tv, NULL);
	struct tm tm;
	gmtime_r(&tv.tv_sec, &tm);
	const char *base = strrchr(file, '/');
	base = base ? base + 1 : file;

	char out[4096];
	size_t len = (size_t)snprintf(out, sizeof(out),
		"{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\",\"level\":\"%s\",\"proc\":\"%s\","
		"\"src\":\"%s:%d\",\"msg\":\"",
		tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		(int)(tv.tv_usec / 1000), level_names[level], component, base, line);
	if (len >= sizeof(out))
		len = sizeof(out) - 1;
	append_escaped(out, &len, sizeof(out) - 4, msg);
	memcpy(out + len, "\"}\n", 3);
	len += 3;
	ssize_t rc = write(STDERR_FILENO, out, len);
	(void)rc;
}
