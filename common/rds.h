/*
 * rds: Redis connections from a redis://[:password@]host:port[/db] URL,
 * shared by the API (readiness probe, job signals) and the worker.
 */
#ifndef CONCORD_RDS_H
#define CONCORD_RDS_H

#include <hiredis/hiredis.h>

#include "config.h"

/*
 * Connect with the given timeout (also used for commands), AUTH and
 * SELECT as the URL asks. Returns a context the caller frees with
 * redisFree(), or NULL with a reason in err.
 */
redisContext	*rds_connect(const char *, int, char *, size_t) CONCORD_WUR;

/* Send PING on a fresh connection. Returns 0 when Redis answered PONG. */
int		 rds_ping(const char *, int) CONCORD_WUR;

#endif
