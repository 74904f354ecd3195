/*
 * wmetrics: the worker's Prometheus metrics, written as a text file
 * (node_exporter's textfile collector format) to
 * CONCORD_WORKER_METRICS_FILE every WMETRICS_INTERVAL_S seconds.
 */
#ifndef CONCORD_WMETRICS_H
#define CONCORD_WMETRICS_H

#include <sys/types.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "../common/config.h"

#define WMETRICS_INTERVAL_S	5

/*
 * One job ended: its kind, 1 done or 0 failed, its run time in ms, and
 * how long it had waited since it was due, in seconds.
 */
void	wmetrics_job(const char *, int, u_int64_t, double);

/* One deadline sweep's {"clock": fired, ...} object (may be NULL). */
void	wmetrics_deadlines(json_t *);

/* One webhook attempt: 1 delivered, 0 failed. Any thread. */
void	wmetrics_webhook(int);

/*
 * Write the file when WMETRICS_INTERVAL_S passed since the last write
 * (or force): the counters, and the queue read from pg (skipped when
 * pg is NULL, busy, or the query fails). A file that cannot be written
 * is logged once per failure streak; the worker goes on. A no-op
 * without CONCORD_WORKER_METRICS_FILE.
 */
void	wmetrics_write(const struct concord_config *, PGconn *, int);

#endif
