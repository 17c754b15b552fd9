/* SPDX-License-Identifier: MIT
 *
 * defer: answering a request after its handler returned. evhttp keeps a request open until it
 * is answered, so a handler may hand it over: to the loop's next iteration (the group commit
 * of events.c), to a thread of its own and then back to the loop (the synchronous send of
 * send.c), or to an offload thread's connection and back (offload.h). While it waits, a deferred
 * request keeps its loop from exiting at shutdown; if its client leaves meanwhile, the answer is
 * only counted, never written to the freed request.
 *
 * Everything but a thread's work runs on the request's loop. A deferred request ends as
 * defer_resume, one reply_* on d->r, defer_end.
 */
#ifndef PGHOOK_API_DEFER_H
#define PGHOOK_API_DEFER_H

#include <stdbool.h>

#include "db.h"
#include "http.h"

struct event;
struct deferred;

typedef void (*defer_fn)(struct deferred *d);

/* Embed as a member of the job that carries the request; it must outlive the answer. */
struct deferred {
	struct req r; /* a copy: the router's request context ends when the handler returns */
	bool orphaned; /* the client left: evhttp freed the request */
	struct event *resume_ev; /* defer_to_thread: wakes the loop when the work is done */
	defer_fn work, done;
	struct ph_db *db; /* offload.h: the connection work runs with, only while it runs */
};

/* Take r over: its handler returns without answering (r->deferred) and d->r is answered
 * later on the same loop. */
void defer_begin(struct deferred *d, struct req *r);
/* Before answering d->r: from here on its ev is NULL if the client left. */
void defer_resume(struct deferred *d);
/* After answering d->r: count the request for /metrics and release the loop. d may be freed
 * once this returns. */
void defer_end(struct deferred *d);
/* defer_begin, then work(d) on a new thread; once it returns, done(d) runs on the loop after
 * defer_resume, answers and calls defer_end. work must not touch the loop or the request,
 * only d's job. False when the thread cannot start: nothing happened and r is still the
 * handler's to answer. */
bool defer_to_thread(struct deferred *d, struct req *r, defer_fn work, defer_fn done) PH_MUSTCHECK;

/* The parts of defer_to_thread, for work run elsewhere (offload.c): prepare (false when the
 * wake-up event cannot be made: nothing happened), hand the work over, hold r on the loop;
 * the work's thread calls defer_wake once it is done, and done(d) then runs on the loop. */
bool defer_prepare(struct deferred *d, struct req *r, defer_fn work, defer_fn done) PH_MUSTCHECK;
void defer_hold(struct deferred *d, struct req *r);
void defer_wake(struct deferred *d);

#endif
