/*
 * dbcall: every data route is one round trip: rpc.call(fn, ctx, args,
 * body) runs the route's SQL function, which authorizes, validates,
 * does the work and writes the audit record in one transaction, and
 * returns (status, body, headers). The statement runs on this worker's
 * connection pool (pgpool.c), which never blocks the event loop: not
 * to wait for a free connection (first come, first served, bounded by
 * CONCORD_DB_QUEUE_TIMEOUT_MS), not to open one (bounded by
 * CONCORD_DB_CONNECT_TIMEOUT_MS), not for the statement's result.
 * Every way this can fail answers 503 with Retry-After: overloaded (no
 * free connection in time), unavailable (PostgreSQL cannot be reached
 * or the connection was lost) or busy (a lock or the statement time
 * limit ran out; nothing was done).
 */
#include <kore/kore.h>
#include <kore/http.h>

#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "pgpool.h"
#include "../common/log.h"

#define API_SQL_CALL \
	"SELECT status, body, headers::text FROM rpc.call($1, $2::jsonb, " \
	"$3::jsonb, $4::jsonb)"

/* c->sql_state beyond API_SQL_IDLE: the pool is working for c. */
#define DB_ACTIVE	10

static int	dbcall_busy(struct http_request *, struct api_call *);
static int	dbcall_unavailable(struct http_request *, struct api_call *,
		    const char *);
static int	dbcall_failed(struct http_request *, struct api_call *);
static void	dbcall_send(struct http_request *, struct api_call *,
		    const char *);
static int	dbcall_result(struct http_request *, struct api_call *,
		    const char *);
static int	dbcall_finish(struct http_request *, struct api_call *);

/*
 * The call statement is prepared once per pooled connection (parse,
 * analysis and planning were a sixth of the backend's CPU on a small
 * read); CONCORD_DB_PREPARE=0 sends it unnamed every time instead, to
 * measure the difference.
 */
void
api_db_configure(void)
{
	const char	*v = getenv("CONCORD_DB_PREPARE");

	pgpool_statement(API_SQL_CALL, v == NULL || strcmp(v, "0") != 0);
}

void
api_db_cleanup(struct api_call *c)
{
	pgpool_release(&c->pw);
	c->sql_state = API_SQL_IDLE;
}

void
dbcall_stats(unsigned *in_use, unsigned *idle, unsigned *waiting,
    unsigned long long *waits_total)
{
	pgpool_stats(in_use, idle, waiting, waits_total);
}

/* The wait for a pooled connection passed its bound. */
static int
dbcall_busy(struct http_request *req, struct api_call *c)
{
	concord_log(LOG_LVL_WARN, "database pool busy", json_pack(
	    "{s:s, s:i}", "request_id", c->reqid, "waited_ms",
	    api_cfg.db_queue_timeout_ms));
	http_response_header(req, "retry-after", "1");
	return (api_problem(req, 503, "overloaded", NULL,
	    "Every database connection stayed busy; retry shortly.", NULL));
}

static int
dbcall_unavailable(struct http_request *req, struct api_call *c,
    const char *why)
{
	concord_log(LOG_LVL_WARN, "database unavailable", json_pack(
	    "{s:s, s:s}", "request_id", c->reqid, "reason", why));
	http_response_header(req, "retry-after", "1");
	return (api_problem(req, 503, "unavailable", NULL,
	    "The database is unavailable; retry shortly.", NULL));
}

/*
 * The statement failed (c->pw.res is its error result, or NULL when the
 * connection was lost; the pool already closed a lost connection).
 * Connection-class failures are 503 unavailable; a wait that ran out
 * of its bound is 503 busy; anything else is a bug: 500, logged by
 * SQLSTATE only, since error texts may quote values.
 */
static int
dbcall_failed(struct http_request *req, struct api_call *c)
{
	const char	*state = NULL;
	char		 sqlstate[6] = "";

	if (c->pw.res != NULL && (state = PQresultErrorField(c->pw.res,
	    PG_DIAG_SQLSTATE)) != NULL)
		snprintf(sqlstate, sizeof(sqlstate), "%s", state);
	api_db_cleanup(c);
	state = sqlstate[0] != '\0' ? sqlstate : NULL;
	/*
	 * 26000/0A000: the connection's prepared call statement is gone or
	 * outdated (rpc.call re-created by a migration); the pool closed it.
	 */
	if (state == NULL || strncmp(state, "08", 2) == 0 ||
	    strncmp(state, "57P", 3) == 0 || strncmp(state, "53", 2) == 0 ||
	    strcmp(state, "26000") == 0 || strcmp(state, "0A000") == 0)
		return (dbcall_unavailable(req, c, state != NULL ? state :
		    "connection"));
	/*
	 * A bounded wait ran out: the statement timeout (57014), a lock
	 * held too long by someone else (55P03), or a deadlock or
	 * serialization failure that a retry resolves (40P01, 40001).
	 * Nothing was done; the client may retry.
	 */
	if (strcmp(state, "57014") == 0 || strcmp(state, "55P03") == 0 ||
	    strncmp(state, "40", 2) == 0) {
		concord_log(LOG_LVL_WARN, "query timed out", json_pack(
		    "{s:s, s:s, s:s}", "request_id", c->reqid, "sqlstate",
		    state, "fn", c->route != NULL && c->route->sqlfn ?
		    c->route->sqlfn : "-"));
		http_response_header(req, "retry-after", "1");
		return (api_problem(req, 503, "busy", NULL, "The data this "
		    "request needs is busy (a lock or the statement time "
		    "limit); nothing was changed. Retry shortly.", NULL));
	}
	concord_log(LOG_LVL_ERROR, "query failed", json_pack("{s:s, s:s, s:s}",
	    "request_id", c->reqid, "sqlstate", state,
	    "fn", c->route != NULL && c->route->sqlfn ? c->route->sqlfn : "-"));
	return (api_problem(req, 500, "internal", NULL,
	    "The request failed unexpectedly; it has been logged.", NULL));
}

/* Send c's statement on the connection it holds; see pgpool_send(). */
static void
dbcall_send(struct http_request *req, struct api_call *c, const char *fn)
{
	json_t		*ctx, *roles;
	const char	*vals[4];
	char		*sctx = NULL, *sargs = NULL, *sbody = NULL;
	uint32_t	 bit;

	if (c->raw_sql != NULL) {
		pgpool_send(&c->pw, c->raw_sql, 0, NULL, NULL);
		return;
	}
	ctx = json_pack("{s:s, s:s?, s:s, s:s, s:s}",
	    "sub", c->authed ? c->id.sub : "",
	    "org", (c->authed && c->id.org[0] != '\0') ? c->id.org : NULL,
	    "request_id", c->reqid, "path", req->path,
	    "method", http_method_text(req->method));
	roles = json_array();
	for (bit = 1; bit <= ROLE_ANALYST; bit <<= 1) {
		if (c->id.roles & bit)
			json_array_append_new(roles,
			    json_string(auth_role_name(bit)));
	}
	json_object_set_new(ctx, "roles", roles);
	sctx = json_dumps(ctx, JSON_COMPACT);
	sargs = json_dumps(c->args != NULL ? c->args : json_object(),
	    JSON_COMPACT);
	if (c->body != NULL)
		sbody = json_dumps(c->body, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(ctx);

	vals[0] = fn;
	vals[1] = sctx;
	vals[2] = sargs;
	vals[3] = sbody;
	pgpool_send_call(&c->pw, 4, vals, NULL);
	free(sctx);
	free(sargs);
	free(sbody);
}

/*
 * The statement ended (c->pw DONE). rpc.call() always returns one row;
 * a raw statement's first row's first column is the body.
 */
static int
dbcall_result(struct http_request *req, struct api_call *c, const char *fn)
{
	PGresult	*r = c->pw.res;
	const char	*hv;

	if (r == NULL || (PQresultStatus(r) != PGRES_TUPLES_OK &&
	    PQresultStatus(r) != PGRES_COMMAND_OK))
		return (dbcall_failed(req, c));
	json_decref(c->extra);
	c->extra = NULL;
	if (c->raw_sql != NULL && PQntuples(r) >= 1 && PQnfields(r) >= 1) {
		c->extra = json_pack("{s:i, s:s, s:{}}", "status", 200,
		    "body", PQgetvalue(r, 0, 0), "headers");
	} else if (c->raw_sql == NULL && PQntuples(r) == 1 &&
	    PQnfields(r) == 3) {
		hv = PQgetlength(r, 0, 2) > 0 ? PQgetvalue(r, 0, 2) : NULL;
		c->extra = json_pack("{s:i, s:s, s:o}",
		    "status", atoi(PQgetvalue(r, 0, 0)),
		    "body", PQgetvalue(r, 0, 1),
		    "headers", hv != NULL ? json_loads(hv, 0, NULL) :
		    json_object());
	}
	api_db_cleanup(c);
	if (c->extra == NULL) {
		/* No row: nothing was done; cannot happen for rpc.call(). */
		concord_log(LOG_LVL_WARN, "query failed", json_pack(
		    "{s:s, s:s}", "request_id", c->reqid, "fn",
		    fn != NULL ? fn : "-"));
		http_response_header(req, "retry-after", "1");
		return (api_problem(req, 503, "busy", NULL,
		    "The request could not finish (a lock or its "
		    "time limit); nothing was changed. Retry "
		    "shortly.", NULL));
	}
	return (dbcall_finish(req, c));
}

/* Answer the saved result, through c->done when the handler set one. */
static int
dbcall_finish(struct http_request *req, struct api_call *c)
{
	json_t		*hdrs, *v, *res = c->extra;
	const char	*k, *body;
	char		 num[32];
	int		 status;

	c->extra = NULL;
	status = (int)json_integer_value(json_object_get(res, "status"));
	body = json_string_value(json_object_get(res, "body"));
	hdrs = json_object_get(res, "headers");
	if (c->done != NULL) {
		status = c->done(req, c, status, body, hdrs);
		json_decref(res);
		return (status);
	}
	if (status < 200 || status > 599 || body == NULL) {
		json_decref(res);
		return (api_problem(req, 500, "internal", NULL,
		    "The request failed unexpectedly; it has been logged.",
		    NULL));
	}
	/* Internal directive, never sent: jobs committed by this call. */
	if ((v = json_object_get(hdrs, "x-concord-jobs")) != NULL) {
		api_signal_jobs(v);
		json_object_del(hdrs, "x-concord-jobs");
	}
	json_object_foreach(hdrs, k, v) {
		if (json_is_string(v))
			http_response_header(req, k, json_string_value(v));
		else if (json_is_integer(v)) {
			snprintf(num, sizeof(num), "%lld",
			    (long long)json_integer_value(v));
			http_response_header(req, k, num);
		}
	}
	/* Conditional GET: one place for every route that sends an ETag. */
	if (status == 200 && (req->method == HTTP_METHOD_GET ||
	    req->method == HTTP_METHOD_HEAD) &&
	    api_etag_none_match(req, json_string_value(json_object_get(hdrs,
	    "etag"))))
		(void)api_respond_not_modified(req, NULL);
	else if (status >= 400)
		(void)api_problem_relay(req, status, body);
	else
		api_respond(req, status, "application/json", body, strlen(body));
	json_decref(res);
	return (KORE_RESULT_OK);
}

int
api_db_call(struct http_request *req, struct api_call *c, const char *fn)
{
	const char	*why;

	if (c->sql_state == API_SQL_IDLE) {
		c->sql_state = DB_ACTIVE;
		pgpool_acquire(&c->pw, req);
	}
	switch (c->pw.state) {
	case PGW_READY:
		dbcall_send(req, c, fn);
		if (c->pw.state == PGW_DONE)
			return (dbcall_result(req, c, fn));
		return (KORE_RESULT_RETRY);
	case PGW_DONE:
		return (dbcall_result(req, c, fn));
	case PGW_EXPIRED:
		api_db_cleanup(c);
		return (dbcall_busy(req, c));
	case PGW_DOWN:
		why = c->pw.why != NULL ? c->pw.why : "connect";
		api_db_cleanup(c);
		return (dbcall_unavailable(req, c, why));
	default:
		/*
		 * QUEUED, CONNECTING, SENT: asleep until the pool wakes it
		 * (again, if something else woke it meanwhile).
		 */
		http_request_sleep(req);
		return (KORE_RESULT_RETRY);
	}
}

int
api_db_raw(struct http_request *req, struct api_call *c, const char *sql)
{
	c->raw_sql = sql;
	return (api_db_call(req, c, "-"));
}
