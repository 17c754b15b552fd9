/* SPDX-License-Identifier: MIT
 *
 * notifier: wakes idle workers (NOTIFY pghook_deliveries) after ingest commits. One thread and
 * one connection per api process; pokes that arrive while a NOTIFY is on its way fold into one
 * more, so a burst of commits costs a couple of notifications, not one each. Workers also
 * poll, so a lost wake-up only delays delivery by the poll interval.
 */
#ifndef PGHOOK_API_NOTIFIER_H
#define PGHOOK_API_NOTIFIER_H

struct notifier;

/* Start the thread; it connects with conninfo (NULL for libpq's environment). */
struct notifier *notifier_create(const char *conninfo);
/* Ask for a NOTIFY soon. Call after the commit that made deliveries due. Any thread. */
void notifier_poke(struct notifier *n);
/* Send what is pending, stop the thread, free everything. Accepts NULL. */
void notifier_destroy(struct notifier *n);

#endif
