/*
 * db: synchronous libpq helpers for the worker and the admin command
 * (the API uses Kore's async pool instead). Connections are made with
 * GSSAPI probing off and a short connect timeout.
 */
#ifndef CONCORD_DB_H
#define CONCORD_DB_H

#include <libpq-fe.h>

#include "config.h"

/* Connect to url. Returns a connection or NULL with a reason in err. */
PGconn	*db_connect(const char *, char *, size_t) CONCORD_WUR;

/*
 * The same with session settings (libpq "options", e.g. "-c
 * statement_timeout=30000"); NULL or "" for none. Same returns.
 */
PGconn	*db_connect_opts(const char *, const char *, char *,
	    size_t) CONCORD_WUR;

/*
 * Run a statement with text parameters (NULL entries are SQL NULL).
 * Returns the result when it is TUPLES_OK or COMMAND_OK, else NULL
 * with the server's message in err. The caller PQclear()s the result.
 */
PGresult *db_exec(PGconn *, const char *, int, const char *const *,
	    char *, size_t) CONCORD_WUR;

#endif
