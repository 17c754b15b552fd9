/* SPDX-License-Identifier: MIT
 *
 * server: the api's loops. PGHOOK_API_THREADS threads each run their own event_base and evhttp
 * on one shared port (SO_REUSEPORT), each with its own PostgreSQL connection; a handler may
 * block on its connection because the other loops keep serving (docs/architecture.md says why
 * this beat asynchronous libpq on one loop). The main thread only handles signals.
 */
#ifndef PGHOOK_API_SERVER_H
#define PGHOOK_API_SERVER_H

#include <stdbool.h>

#include "config.h"
#include "util.h"

struct server;

/* Bind the listening sockets and connect each loop's database. NULL on failure (logged). */
struct server *server_create(const struct ph_config *cfg);
/* Serve until SIGTERM/SIGINT; then fail /readyz, stop accepting, finish what is in flight.
 * Returns true on a clean shutdown. */
bool server_run(struct server *s) PH_MUSTCHECK;
void server_destroy(struct server *s);
/* True once shutdown began (/readyz answers 503 from then on). */
bool server_draining(const struct server *s);

#endif
