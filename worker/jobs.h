/*
 * jobs: the worker's job handlers. Each runs inside the job's
 * transaction on pg and must make all its effects through pg, so they
 * commit or vanish together with the job's state change. Each returns 0
 * with *result set (the caller decrefs), or -1 with a reason in err.
 */
#ifndef CONCORD_WORKER_JOBS_H
#define CONCORD_WORKER_JOBS_H

#include <jansson.h>
#include <libpq-fe.h>

/* referral.match (worker/match.c): score, assign and offer. */
int	match_referral_run(PGconn *, json_t *, json_t **, char *, size_t);
/* referral.expire (worker/match.c): end an offer's window, re-offer. */
int	match_offer_expire(PGconn *, json_t *, json_t **, char *, size_t);
/* referral.rematch_waiting (worker/match.c): capacity freed, re-match. */
int	match_rematch_waiting(PGconn *, json_t *, json_t **, char *, size_t);
/* report.build (worker/report.c): compute, suppress, publish a report. */
int	report_build_run(PGconn *, json_t *, json_t **, char *, size_t);

#endif
