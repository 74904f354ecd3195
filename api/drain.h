/*
 * drain: SIGTERM stops a Kore worker gracefully (drain.c): not ready,
 * in-flight requests finish within CONCORD_DRAIN_SECONDS, then exit.
 */
#ifndef CONCORD_DRAIN_H
#define CONCORD_DRAIN_H

/* Per worker, in kore_worker_configure: take SIGTERM over from Kore. */
void	drain_start(void);

/* 1 once SIGTERM arrived: /readyz answers 503. Can't fail. */
int	drain_active(void);

#endif
