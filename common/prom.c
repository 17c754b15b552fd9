/* SPDX-License-Identifier: MIT */
#include "prom.h"

#include <math.h>
#include <stdio.h>

static const char *const type_names[] = {
	[PH_PROM_COUNTER] = "counter",
	[PH_PROM_GAUGE] = "gauge",
	[PH_PROM_HISTOGRAM] = "histogram",
};

size_t ph_prom_bucket(const double *bounds, size_t nbounds, double v)
{
	size_t i = 0;
	while (i < nbounds && v > bounds[i])
		i++;
	return i;
}

void ph_prom_family(
	struct evbuffer *out, const char *name, enum ph_prom_type type, const char *help)
{
	evbuffer_add_printf(
		out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type_names[type]);
}

/* name, or name{labels}: the part of a sample line before its value. */
static void sample_name(struct evbuffer *out, const char *name, const char *suffix,
	const char *labels, const char *extra)
{
	const char *sep = labels && extra ? "," : "";
	if (!labels && !extra)
		evbuffer_add_printf(out, "%s%s ", name, suffix);
	else
		evbuffer_add_printf(out, "%s%s{%s%s%s} ", name, suffix, labels ? labels : "", sep,
			extra ? extra : "");
}

void ph_prom_uint(struct evbuffer *out, const char *name, const char *labels, uint64_t v)
{
	sample_name(out, name, "", labels, NULL);
	evbuffer_add_printf(out, "%llu\n", (unsigned long long)v);
}

/* printf spells these "nan" and "inf"; the format wants "NaN" and "+Inf". */
static void add_double(struct evbuffer *out, double v)
{
	if (isnan(v))
		evbuffer_add_printf(out, "NaN\n");
	else if (isinf(v))
		evbuffer_add_printf(out, "%sInf\n", v > 0 ? "+" : "-");
	else
		evbuffer_add_printf(out, "%.15g\n", v);
}

void ph_prom_double(struct evbuffer *out, const char *name, const char *labels, double v)
{
	sample_name(out, name, "", labels, NULL);
	add_double(out, v);
}

void ph_prom_histogram(struct evbuffer *out, const char *name, const char *labels,
	const struct ph_prom_histogram *h)
{
	char le[48];
	uint64_t cumulative = 0;
	for (size_t i = 0; i < h->nbuckets; i++) {
		cumulative += h->counts[i];
		snprintf(le, sizeof(le), "le=\"%.15g\"", h->bounds[i]);
		sample_name(out, name, "_bucket", labels, le);
		evbuffer_add_printf(out, "%llu\n", (unsigned long long)cumulative);
	}
	sample_name(out, name, "_bucket", labels, "le=\"+Inf\"");
	evbuffer_add_printf(out, "%llu\n", (unsigned long long)h->count);
	sample_name(out, name, "_sum", labels, NULL);
	add_double(out, h->sum);
	sample_name(out, name, "_count", labels, NULL);
	evbuffer_add_printf(out, "%llu\n", (unsigned long long)h->count);
}

void ph_prom_counter(struct evbuffer *out, const char *name, const char *help, uint64_t v)
{
	ph_prom_family(out, name, PH_PROM_COUNTER, help);
	ph_prom_uint(out, name, NULL, v);
}

void ph_prom_gauge(struct evbuffer *out, const char *name, const char *help, double v)
{
	ph_prom_family(out, name, PH_PROM_GAUGE, help);
	ph_prom_double(out, name, NULL, v);
}
