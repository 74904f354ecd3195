/*
 * db: thin wrappers so callers handle one error shape.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

PGconn *
db_connect(const char *url, char *err, size_t elen)
{
	PGconn		*pg;
	const char	*keys[] = { "dbname", "gssencmode", "connect_timeout",
			    "application_name", "options", NULL };
	const char	*vals[] = { url, "disable", "3", "concord",
			    "-c client_min_messages=warning", NULL };

	pg = PQconnectdbParams(keys, vals, 1);
	if (pg == NULL || PQstatus(pg) != CONNECTION_OK) {
		snprintf(err, elen, "database connect: %s",
		    pg != NULL ? PQerrorMessage(pg) : "out of memory");
		if (pg != NULL)
			PQfinish(pg);
		return (NULL);
	}
	return (pg);
}

PGresult *
db_exec(PGconn *pg, const char *sql, int n, const char *const *params,
    char *err, size_t elen)
{
	PGresult	*r;
	ExecStatusType	 st;

	r = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
	st = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		snprintf(err, elen, "%s", r != NULL ?
		    PQresultErrorMessage(r) : PQerrorMessage(pg));
		err[strcspn(err, "\n")] = '\0';
		if (r != NULL)
			PQclear(r);
		return (NULL);
	}
	return (r);
}
