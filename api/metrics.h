/*
 * metrics: the API's Prometheus counters, kept in one shared memory
 * map made in the parent before Kore forks its workers, so every worker
 * adds to the same counters with atomic operations and any worker
 * answers GET /metrics for the whole process (see metrics.c).
 */
#ifndef CONCORD_METRICS_H
#define CONCORD_METRICS_H

#include "api.h"

/*
 * Map the shared counters (in kore_parent_configure, before the fork).
 * Fatal when the map cannot be made.
 */
void	metrics_init(void);

/* Per worker: the timer that publishes its pool and Redis figures. */
void	metrics_worker_start(void);

/*
 * Count one answered request: route template, method, status and
 * duration since c->t0; whether it waited for a pooled connection.
 * c may be NULL. Can't fail.
 */
void	metrics_request(struct http_request *, struct api_call *, int);

/* A request that waited CONCORD_DB_QUEUE_TIMEOUT_MS and got 503. */
void	metrics_pool_timeout(void);

/* One rate-limit decision: kind (enum rlimit_kind), refused 0 or 1. */
void	metrics_ratelimit(int, int);

#endif
