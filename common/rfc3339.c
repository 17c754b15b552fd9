/* SPDX-License-Identifier: MIT */
#include "rfc3339.h"

#include <stdio.h>

static int days_in_month(int y, int mo)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return mo == 2 && leap ? 29 : days[mo - 1];
}

/* Digits exactly where they belong: sscanf's %d alone would take signs and spaces. */
static bool has_shape(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	for (size_t i = 0; shape[i]; i++) {
		bool ok = shape[i] == 'd' ? s[i] >= '0' && s[i] <= '9'
			: shape[i] == 'T' ? s[i] == 'T' || s[i] == 't'
					  : s[i] == shape[i];
		if (!ok)
			return false;
	}
	return true;
}

/* Z, or +hh:mm / -hh:mm up to 15:59, ending the string. */
static bool offset_valid(const char *p)
{
	if (*p == 'Z' || *p == 'z')
		return p[1] == '\0';
	if (*p != '+' && *p != '-')
		return false;
	p++;
	return p[0] >= '0' && p[0] <= '1' && p[1] >= '0' && p[1] <= '9' && p[2] == ':' &&
		p[3] >= '0' && p[3] <= '5' && p[4] >= '0' && p[4] <= '9' && p[5] == '\0' &&
		(p[0] - '0') * 10 + (p[1] - '0') <= 15;
}

bool ph_rfc3339_valid(const char *s)
{
	if (!has_shape(s))
		return false;
	int y, mo, d, h, mi, sec;
	if (sscanf(s, "%4d-%2d-%2d%*c%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6)
		return false;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
		sec > 60)
		return false;
	const char *p = s + 19;
	bool fraction = false; /* a non-zero fraction of a second */
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return false;
		for (; *p >= '0' && *p <= '9'; p++)
			fraction = fraction || *p != '0';
	}
	if (sec == 60 && fraction) /* a leap second, but not past its end */
		return false;
	return offset_valid(p);
}
