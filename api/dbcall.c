/*
 * dbcall: every data route is one round trip: rpc.call(fn, ctx, args,
 * body) runs the route's SQL function, which authorizes, validates,
 * does the work and writes the audit record in one transaction, and
 * returns (status, body, headers). The query runs on Kore's async pgsql
 * pool, so a slow statement never stalls other requests.
 *
 * Waiting for a pooled connection is ours, not Kore's. Kore 4.1 queues
 * a request that finds the pool exhausted (pgsql_queue_add) and, when a
 * connection is released, wakes the oldest waiter (pgsql_queue_wakeup)
 * but reserves nothing for it: the waiter only retries setup when its
 * handler runs again, and any request that reaches kore_pgsql_setup()
 * first (new requests go to the head of Kore's request list; woken ones
 * to its tail, and the per-pass time budget can split them) takes the
 * free connection, while the waiter goes back to the *tail* of the
 * queue. Under sustained overload an old request can so be starved, and
 * nothing bounds its wait. Here a request takes one of the worker's
 * CONCORD_DB_POOL slots before it asks Kore for a connection, so Kore
 * never queues; without a free slot it sleeps in dbq, first come first
 * served; a released slot is handed to dbq's head before it is woken
 * (a reservation nobody can take); and a request that waited
 * CONCORD_DB_QUEUE_TIMEOUT_MS answers 503 with Retry-After instead.
 */
#include <kore/kore.h>
#include <kore/http.h>
#include <kore/pgsql.h>

#include <string.h>

#include "api.h"
#include "../common/log.h"

#define API_SQL_CALL \
	"SELECT status, body, headers::text FROM rpc.call($1, $2::jsonb, " \
	"$3::jsonb, $4::jsonb)"

/* Sub-states kept in c->sql_state beyond the public ones. */
#define DB_SETUP	10	/* holds a slot; pgsql not set up yet */
#define DB_WAIT		11	/* query sent */
#define DB_QUEUED	12	/* waiting for a slot (see dbq_flags) */
#define DB_CONNECT	13	/* holds a slot; asking Kore to connect */

/* c->dbq_flags. */
#define DBQ_SLOT	0x01	/* holds one of the pool's slots */
#define DBQ_QUEUED	0x02	/* in dbq */
#define DBQ_EXPIRED	0x04	/* left dbq after the wait bound */

#define DBQ_TICK_MS	50	/* wait-bound granularity */

static TAILQ_HEAD(, api_call)	dbq = TAILQ_HEAD_INITIALIZER(dbq);
static int			dbq_busy;	/* slots held in this worker */
static struct kore_timer	*dbq_timer;

static void	dbq_release(struct api_call *);
static void	dbq_tick(void *, u_int64_t);
static int	dbcall_busy(struct http_request *, struct api_call *);

static int	dbcall_unavailable(struct http_request *, struct api_call *,
		    const char *);
static int	dbcall_failed(struct http_request *, struct api_call *);
static int	dbcall_send(struct http_request *, struct api_call *,
		    const char *);
static int	dbcall_finish(struct http_request *, struct api_call *);

/* Give back c's slot, if it holds one, to the head of dbq. */
static void
dbq_release(struct api_call *c)
{
	struct api_call	*w;

	if (c->dbq_flags & DBQ_SLOT) {
		c->dbq_flags &= ~DBQ_SLOT;
		dbq_busy--;
	}
	while (dbq_busy < api_cfg.db_pool && (w = TAILQ_FIRST(&dbq)) != NULL) {
		TAILQ_REMOVE(&dbq, w, dbq);
		w->dbq_flags = (w->dbq_flags & ~DBQ_QUEUED) | DBQ_SLOT;
		dbq_busy++;
		http_request_wakeup(w->req);
	}
}

/* Kore timer: wake the waiters whose bound passed (dbq is in order). */
static void
dbq_tick(void *arg, u_int64_t now)
{
	struct api_call	*w;

	(void)arg;
	while ((w = TAILQ_FIRST(&dbq)) != NULL && w->dbq_deadline <= now) {
		TAILQ_REMOVE(&dbq, w, dbq);
		w->dbq_flags = (w->dbq_flags & ~DBQ_QUEUED) | DBQ_EXPIRED;
		http_request_wakeup(w->req);
	}
}

void
api_db_cleanup(struct api_call *c)
{
	if (c->dbq_flags & DBQ_QUEUED)
		TAILQ_REMOVE(&dbq, c, dbq);
	c->dbq_flags &= ~(DBQ_QUEUED | DBQ_EXPIRED);
	if (c->sql_state != API_SQL_IDLE && c->sql_state != DB_QUEUED &&
	    c->sql_state != DB_SETUP)
		kore_pgsql_cleanup(&c->sql);
	c->sql_state = API_SQL_IDLE;
	dbq_release(c);
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
 * The query failed. Connection-class failures are 503 (and the broken
 * connection is reset so the pool heals once PostgreSQL is back); a
 * wait that ran out of its bound is 503 busy; anything else is a bug:
 * 500, logged by SQLSTATE only, since error texts may quote values.
 */
static int
dbcall_failed(struct http_request *req, struct api_call *c)
{
	struct pgsql_conn	*conn = c->sql.conn;
	const char		*state = NULL;
	char			 sqlstate[6] = "";
	int			 down = 0, bad = 0;

	if (c->sql.result != NULL &&
	    (state = PQresultErrorField(c->sql.result, PG_DIAG_SQLSTATE)) != NULL)
		snprintf(sqlstate, sizeof(sqlstate), "%s", state);
	if (conn != NULL && PQstatus(conn->db) == CONNECTION_BAD) {
		/*
		 * libpq already closed the socket (so the kernel dropped it
		 * from epoll): Kore must not try to unschedule it, which
		 * would be fatal. Release the connection, then reconnect it
		 * so the pool heals by itself once PostgreSQL is back.
		 */
		bad = 1;
		c->sql.flags &= ~KORE_PGSQL_SCHEDULED;
	}
	if (sqlstate[0] == '\0' || strncmp(sqlstate, "08", 2) == 0 ||
	    strncmp(sqlstate, "57P", 3) == 0 || strncmp(sqlstate, "53", 2) == 0)
		down = 1;
	kore_pgsql_cleanup(&c->sql);
	c->sql_state = API_SQL_IDLE;
	if (bad) {
		down = 1;
		PQreset(conn->db);
	}
	dbq_release(c);
	state = sqlstate[0] != '\0' ? sqlstate : NULL;
	if (down)
		return (dbcall_unavailable(req, c, state != NULL ? state :
		    "connection"));
	/*
	 * A bounded wait ran out: the statement timeout (57014), a lock
	 * held too long by someone else (55P03), or a deadlock or
	 * serialization failure that a retry resolves (40P01, 40001).
	 * Nothing was done; the client may retry.
	 */
	if (state != NULL && (strcmp(state, "57014") == 0 ||
	    strcmp(state, "55P03") == 0 || strncmp(state, "40", 2) == 0)) {
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

static int
dbcall_send(struct http_request *req, struct api_call *c, const char *fn)
{
	json_t		*ctx, *roles;
	char		*sctx = NULL, *sargs = NULL, *sbody = NULL;
	uint32_t	 bit;
	int		 ok;

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

	if (c->raw_sql != NULL) {
		ok = kore_pgsql_query(&c->sql, c->raw_sql);
		goto sent;
	}
	ok = kore_pgsql_query_params(&c->sql, API_SQL_CALL, 0, 4,
	    fn, strlen(fn), 0,
	    sctx, strlen(sctx), 0,
	    sargs, strlen(sargs), 0,
	    sbody, sbody != NULL ? strlen(sbody) : 0, 0);
sent:
	free(sctx);
	free(sargs);
	free(sbody);
	if (!ok)
		return (dbcall_failed(req, c));
	c->sql_state = DB_WAIT;
	return (KORE_RESULT_RETRY);
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
	json_t	*res;
	char	*hv;

	if (c->sql_state == API_SQL_IDLE) {
		c->req = req;
		if (dbq_busy < api_cfg.db_pool && TAILQ_EMPTY(&dbq)) {
			dbq_busy++;
			c->dbq_flags |= DBQ_SLOT;
			c->sql_state = DB_SETUP;
		} else {
			if (dbq_timer == NULL)
				dbq_timer = kore_timer_add(dbq_tick,
				    DBQ_TICK_MS, NULL, 0);
			c->dbq_deadline = kore_time_ms() +
			    (u_int64_t)api_cfg.db_queue_timeout_ms;
			c->dbq_flags |= DBQ_QUEUED;
			TAILQ_INSERT_TAIL(&dbq, c, dbq);
			c->sql_state = DB_QUEUED;
		}
	}
	if (c->sql_state == DB_QUEUED) {
		if (c->dbq_flags & DBQ_EXPIRED) {
			c->dbq_flags &= ~DBQ_EXPIRED;
			c->sql_state = API_SQL_IDLE;
			return (dbcall_busy(req, c));
		}
		if (!(c->dbq_flags & DBQ_SLOT)) {
			/* Woken by dbq_release() or dbq_tick() only. */
			http_request_sleep(req);
			return (KORE_RESULT_RETRY);
		}
		c->sql_state = DB_SETUP;
	}
	if (c->sql_state == DB_SETUP) {
		kore_pgsql_init(&c->sql);
		kore_pgsql_bind_request(&c->sql, req);
		c->sql_state = DB_CONNECT;
	}
	if (c->sql_state == DB_CONNECT) {
		if (!kore_pgsql_setup(&c->sql, API_DB, KORE_PGSQL_ASYNC)) {
			/*
			 * Queued by Kore: cannot happen while we hold a slot
			 * (Kore's pool has as many connections), but Kore
			 * wakes the request if it does.
			 */
			if (c->sql.state == KORE_PGSQL_STATE_INIT)
				return (KORE_RESULT_RETRY);
			kore_pgsql_cleanup(&c->sql);
			c->sql_state = API_SQL_IDLE;
			dbq_release(c);
			return (dbcall_unavailable(req, c, "connect"));
		}
		return (dbcall_send(req, c, fn));
	}

	for (;;) {
		switch (c->sql.state) {
		case KORE_PGSQL_STATE_WAIT:
			return (KORE_RESULT_RETRY);
		case KORE_PGSQL_STATE_COMPLETE:
			/*
			 * rpc.call() always returns one row: none means the
			 * statement failed at the server. Kore normally hands
			 * the error over (STATE_ERROR, dbcall_failed), but
			 * when the connection's end of query is read before
			 * this request runs, Kore releases the connection
			 * and drops the error. A lost connection shows as
			 * STATE_ERROR; so this is a statement that failed
			 * (under load: a lock or statement timeout) and did
			 * nothing: 503 busy, retry.
			 */
			kore_pgsql_cleanup(&c->sql);
			c->sql_state = API_SQL_IDLE;
			dbq_release(c);
			if (c->extra == NULL) {
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
		case KORE_PGSQL_STATE_ERROR:
			return (dbcall_failed(req, c));
		case KORE_PGSQL_STATE_RESULT:
			if (c->extra == NULL && c->raw_sql != NULL &&
			    kore_pgsql_ntuples(&c->sql) >= 1) {
				c->extra = json_pack("{s:i, s:s, s:{}}",
				    "status", 200, "body",
				    kore_pgsql_getvalue(&c->sql, 0, 0),
				    "headers");
			} else if (c->extra == NULL &&
			    kore_pgsql_ntuples(&c->sql) == 1) {
				hv = kore_pgsql_getlength(&c->sql, 0, 2) > 0 ?
				    kore_pgsql_getvalue(&c->sql, 0, 2) : NULL;
				res = json_pack("{s:i, s:s, s:o}",
				    "status", atoi(kore_pgsql_getvalue(&c->sql,
				    0, 0)),
				    "body", kore_pgsql_getvalue(&c->sql, 0, 1),
				    "headers", hv != NULL ? json_loads(hv, 0,
				    NULL) : json_object());
				c->extra = res;
			}
			kore_pgsql_continue(&c->sql);
			break;
		default:
			kore_pgsql_continue(&c->sql);
			break;
		}
	}
}

int
api_db_raw(struct http_request *req, struct api_call *c, const char *sql)
{
	c->raw_sql = sql;
	return (api_db_call(req, c, "-"));
}

/* For metrics.c: this worker's slots in use and requests in dbq. */
void
api_db_pool_stats(int *busy, int *queued)
{
	struct api_call	*w;
	int		 n = 0;

	TAILQ_FOREACH(w, &dbq, dbq)
		n++;
	*busy = dbq_busy;
	*queued = n;
}
