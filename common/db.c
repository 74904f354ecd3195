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
	return (db_connect_opts(url, NULL, err, elen));
}

PGconn *
db_connect_opts(const char *url, const char *opts, char *err, size_t elen)
{
	PGconn		*pg;
	char		 options[512];
	const char	*keys[] = { "dbname", "gssencmode", "connect_timeout",
			    "application_name", "options", NULL };
	const char	*vals[] = { url, "disable", "3", "concord", options,
			    NULL };

	snprintf(options, sizeof(options), "-c client_min_messages=warning%s%s",
	    opts != NULL && *opts != '\0' ? " " : "", opts != NULL ? opts : "");

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
