/* SPDX-License-Identifier: MIT
 *
 * offload: database work that must not hold an api loop. A loop's statements block it and
 * every request hashed to it, other tenants' ingests included (server.h), which is right for
 * the short statements of most handlers and wrong for work a tenant can make long or make wait
 * on a row lock: a recover page (hundreds of inserts), the recording of a manual send (it
 * waits for the delivery's row while a worker or another send of the same delivery holds it)
 * and of an external attempt (seed 002, which also renders every delivery of the event).
 * That work runs here instead: OFFLOAD_THREADS threads per process, each with its own
 * connection, taking jobs first come first served; the loop answers once its job is done.
 * A tenant flooding these routes delays its own and others' recovers and sends, never ingest.
 */
#ifndef PGHOOK_API_OFFLOAD_H
#define PGHOOK_API_OFFLOAD_H

#include <stdbool.h>

#include "db.h"
#include "defer.h"
#include "http.h"
#include "util.h"

#define OFFLOAD_THREADS 2

struct offload;

/* Start the threads; each connects with conninfo (NULL for libpq's environment). */
struct offload *offload_create(const char *conninfo);
/* Finish the queued jobs, stop the threads, free everything. Call once no loop can submit.
 * Accepts NULL. */
void offload_destroy(struct offload *o);

/* Take r over like defer_to_thread: after delay_us (0: at once; the loop keeps serving),
 * work(d) runs on an offload thread with d->db set to its
 * connection (scope it to a tenant with ph_db_set_tenant and clear the scope before
 * returning), then done(d) on r's loop after defer_resume; done answers and calls defer_end.
 * False when nothing was queued: r is still the handler's to answer. */
bool offload_defer(struct offload *o, struct deferred *d, struct req *r, long long delay_us,
	defer_fn work, defer_fn done) PH_MUSTCHECK;
/* From a thread that is not a loop (a send's): run fn(db, arg) on an offload connection and
 * wait for it to return. */
void offload_call(struct offload *o, void (*fn)(struct ph_db *db, void *arg), void *arg);

/* reply_query (http.h) on an offload connection scoped to r's tenant: for a statement that
 * waits on row locks or renders without bound. sql must be a string literal; params are
 * copied. */
void offload_reply_query(struct req *r, int status, const char *what, const char *sql, int nparams,
	const char *const *params);

/* On an offload connection: sql scoped to tenant, the scope cleared after. NULL when it
 * failed (or could not be scoped), with why in *f. */
PGresult *offload_exec(struct ph_db *db, const char *tenant, const char *sql, int nparams,
	const char *const *params, struct ph_db_failure *f);
/* Back on the loop, answer r with offload_exec's result as reply_query would: its one value
 * rendered with status, 404 "no such <what>" when null or absent, or the failure in f. */
void offload_reply_result(
	struct req *r, int status, const char *what, PGresult *res, const struct ph_db_failure *f);

#endif
