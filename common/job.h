/*
 * job: the only contract between the API and the worker. A job is a
 * row in PostgreSQL's jobs table (the truth); Redis only carries its id
 * on the CONCORD_JOB_STREAM stream as a wake-up. Losing a Redis message
 * loses nothing: the worker's reconciler finds pending rows by age.
 */
#ifndef CONCORD_JOB_H
#define CONCORD_JOB_H

#include "config.h"

#define JOB_STREAM	"concord:jobs"		/* Redis stream of job ids */
#define JOB_GROUP	"workers"		/* its consumer group */

/* Job kinds, as stored in jobs.kind. */
#define JOB_KIND_PING		"ping"		/* no-op, proves the path */
#define JOB_KIND_MATCH		"referral.match"
#define JOB_KIND_EXPIRE		"referral.expire"	/* offer window ended */
#define JOB_KIND_REMATCH	"referral.rematch_waiting" /* capacity freed */
#define JOB_KIND_REPORT		"report.build"	/* build a requested report */

/* True when kind is one the worker knows how to run. */
int	job_kind_known(const char *);

#endif
