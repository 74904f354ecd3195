/*
 * rds: Redis connections from a redis://[:password@]host:port[/db] URL,
 * shared by the API (its URL; api/rconn.c drives the connection) and
 * the worker (blocking hiredis connections).
 */
#ifndef CONCORD_RDS_H
#define CONCORD_RDS_H

#include <hiredis/hiredis.h>

#include "config.h"

#define RDS_URL_MAX	600	/* longest URL accepted */

/* The parts of a redis:// URL. pass is secret: wipe it after use. */
struct rds_url {
	char	host[RDS_URL_MAX];
	char	pass[RDS_URL_MAX];	/* empty: no AUTH */
	int	port;		/* 1..65535 */
	int	db;		/* SELECT n when not 0 */
};

/*
 * Parse url into u. Returns 0, or -1 with a reason in err (u is then
 * undefined). Can't fail otherwise; allocates nothing.
 */
int		 rds_url_parse(const char *, struct rds_url *, char *, size_t)
		    CONCORD_WUR;

/*
 * Connect with the given timeout (also used for commands), AUTH and
 * SELECT as the URL asks. Returns a context the caller frees with
 * redisFree(), or NULL with a reason in err.
 */
redisContext	*rds_connect(const char *, int, char *, size_t) CONCORD_WUR;

#endif
