/* SPDX-License-Identifier: MIT
 *
 * util: attributes and the allocation wrappers every module uses. Allocations whose size we
 * control abort on failure (as Redis's zmalloc does); input-sized ones use plain malloc and fail
 * only the request that asked.
 */
#ifndef PGHOOK_COMMON_UTIL_H
#define PGHOOK_COMMON_UTIL_H

#include <stddef.h>

#define PH_MUSTCHECK	__attribute__((warn_unused_result))
#define PH_PRINTF(n, m) __attribute__((format(printf, n, m)))
#define PH_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Intrusive FIFO queues: a head and a tail pointer, items linked through their `next` member.
 * Macros because each queue links its own struct type (a worker's statements, an api's jobs). */
#define PH_QUEUE_PUSH(head, tail, item)        \
	do {                                   \
		(item)->next = NULL;           \
		if (tail)                      \
			(tail)->next = (item); \
		else                           \
			(head) = (item);       \
		(tail) = (item);               \
	} while (0)
/* Unlink the head (the queue must not be empty). */
#define PH_QUEUE_POP(head, tail)       \
	do {                           \
		(head) = (head)->next; \
		if (!(head))           \
			(tail) = NULL; \
	} while (0)

/* Abort with a message when memory runs out; never return NULL. */
void *ph_xmalloc(size_t size);
void *ph_xcalloc(size_t n, size_t size);
void *ph_xrealloc(void *p, size_t size);
char *ph_xstrdup(const char *s);
/* printf into a fresh heap string the caller frees. */
char *ph_xasprintf(const char *fmt, ...) PH_PRINTF(1, 2);

/* Monotonic clock in milliseconds / microseconds, for durations only. */
double ph_now_ms(void);
long long ph_now_us(void);

#endif
