/* SPDX-License-Identifier: MIT
 *
 * log: one JSON object per line on stderr, with level, time, source file and line. Safe to call
 * from any thread (each line is one write(2)). Never pass secrets, keys or payload bodies.
 */
#ifndef PGHOOK_COMMON_LOG_H
#define PGHOOK_COMMON_LOG_H

#include <stdbool.h>

#include "util.h"

enum ph_log_level {
	PH_LOG_DEBUG,
	PH_LOG_INFO,
	PH_LOG_WARN,
	PH_LOG_ERROR,
};

/* Set the minimum level written; the default is PH_LOG_INFO. */
void ph_log_set_level(enum ph_log_level level);
/* Parse "debug", "info", "warn", "error"; false for anything else. */
bool ph_log_parse_level(const char *s, enum ph_log_level *out) PH_MUSTCHECK;
/* Name the process in every line ("api", "worker"). Borrowed: keep it alive. */
void ph_log_set_component(const char *name);
void ph_log_write(enum ph_log_level level, const char *file, int line, const char *fmt, ...)
	PH_PRINTF(4, 5);

#define log_debug(...) ph_log_write(PH_LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...)  ph_log_write(PH_LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...)  ph_log_write(PH_LOG_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define log_error(...) ph_log_write(PH_LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__)

#endif
