/* SPDX-License-Identifier: MIT
 *
 * prom: the Prometheus text exposition format (version 0.0.4), in which both programs answer
 * /metrics. A family is its "# HELP" and "# TYPE" lines followed by all of its samples: write
 * a family's samples together, since scrapers may reject a family split in two. Labels are
 * passed preformatted, `a="x",b="y"` without the braces, NULL for none; their values must
 * need no escaping (route patterns, status names). Values are written exactly: integers as
 * integers, other numbers with 15 significant digits and no trailing zeros.
 */
#ifndef PGHOOK_COMMON_PROM_H
#define PGHOOK_COMMON_PROM_H

#include <event2/buffer.h>
#include <stddef.h>
#include <stdint.h>

#define PH_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

enum ph_prom_type {
	PH_PROM_COUNTER,
	PH_PROM_GAUGE,
	PH_PROM_HISTOGRAM,
};

/* A histogram as its owner keeps it: counts[i] observations were at most bounds[i] and above
 * bounds[i - 1] (not cumulative, so observing touches one bucket); count holds every
 * observation, those above the last bound included. */
struct ph_prom_histogram {
	const double *bounds; /* ascending upper bounds, in the metric's unit */
	const uint64_t *counts; /* nbuckets of them */
	size_t nbuckets;
	uint64_t count;
	double sum;
};

/* The index of the bucket v falls in: the first bound at or above v, nbounds when none. */
size_t ph_prom_bucket(const double *bounds, size_t nbounds, double v);

/* The family's "# HELP" and "# TYPE" lines. */
void ph_prom_family(
	struct evbuffer *out, const char *name, enum ph_prom_type type, const char *help);
/* One sample of the current family. */
void ph_prom_uint(struct evbuffer *out, const char *name, const char *labels, uint64_t v);
void ph_prom_double(struct evbuffer *out, const char *name, const char *labels, double v);
/* One histogram's samples: cumulative _bucket lines (le="+Inf" last), _sum and _count. */
void ph_prom_histogram(struct evbuffer *out, const char *name, const char *labels,
	const struct ph_prom_histogram *h);
/* A whole family of one unlabelled sample. */
void ph_prom_counter(struct evbuffer *out, const char *name, const char *help, uint64_t v);
void ph_prom_gauge(struct evbuffer *out, const char *name, const char *help, double v);

#endif
