/*
 * api: what the Kore module's files share. One request is one
 * struct api_call, kept in req->hdlr_extra from routing to response.
 * Handlers answer through respond.c only (api_respond(), api_problem(),
 * api_problem_relay()), so every response gets X-Request-Id, the right
 * media type and an access log.
 */
#ifndef CONCORD_API_H
#define CONCORD_API_H

#include <kore/kore.h>
#include <kore/http.h>

#include <jansson.h>

#include "../common/auth.h"
#include "../common/config.h"
#include "pgpool.h"

#define API_MAX_PARAMS		4
#define API_DB_REPLY_GRACE_MS	2000	/* past statement_timeout: server gone */
#define API_REQID_LEN		65

/* Route flags. */
#define ROUTE_PUBLIC		0x01	/* no token needed */
#define ROUTE_BODY		0x02	/* takes a JSON object body */
#define ROUTE_REFERRALS		0x04	/* the referral-creation rate limit */
#define ROUTE_OPEN		0x08	/* public face: no token, rate limited,
					   cacheable, only with CONCORD_PUBLIC */

struct api_call;

typedef int	(*api_handler)(struct http_request *, struct api_call *);

struct api_route {
	int		 method;	/* HTTP_METHOD_* */
	const char	*pattern;	/* "/v1/services/{id}"; {x} = one segment */
	uint32_t	 roles;		/* roles allowed; 0 with no PUBLIC = none */
	int		 flags;
	api_handler	 handler;	/* C handler, or NULL for sqlfn */
	const char	*sqlfn;		/* api.<sqlfn>(ctx, args, body) */
};

/* Called when a database call ends: status, body text, headers object. */
typedef int	(*api_db_done)(struct http_request *, struct api_call *,
		    int, const char *, json_t *);

struct api_call {
	const struct api_route	*route;
	char			 reqid[API_REQID_LEN];
	struct auth_identity	 id;
	int			 authed;
	int			 own_csp;	/* handler set its own CSP */
	const char		*params[API_MAX_PARAMS];	/* path params */
	char			*pathcopy;	/* owns params' storage */
	json_t			*args;		/* query + path params */
	json_t			*body;		/* parsed body or NULL */
	struct pgpool_wait	 pw;		/* its place in the pool (dbcall.c) */
	int			 sql_state;	/* API_SQL_* */
	api_db_done		 done;
	json_t			*extra;		/* saved result, decref'd */
	const char		*raw_sql;	/* api_db_raw(): no-param query */
	int			 scratch;	/* handler's own small state */
	int			 orgcheck;	/* ORGCHECK_* for C routes */
	u_int64_t		 t0;
	u_int64_t		 wait_until;	/* /readyz: Redis wait deadline */
	u_int64_t		 wait_mark;	/* /readyz: link attempts seen */
	char			 rl_addr[64];	/* client address key or "" */
	u_int32_t		 rl_limit;	/* RateLimit headers; 0: none */
	u_int32_t		 rl_remaining;
	u_int32_t		 rl_reset;	/* seconds to the window's end */
	int			 preflight;	/* CORS preflight: the path's methods */
};

#define ORGCHECK_NONE		0
#define ORGCHECK_PENDING	1

#define API_SQL_IDLE		0
#define API_SQL_QUERY		1
#define API_SQL_DONE		2

/* Globals set up in the parent before the workers fork (main.c). */
extern struct concord_config	api_cfg;
extern struct auth_keyset	api_keys;

/* The route table (routes.c). */
extern const struct api_route	api_routes[];
extern const size_t		api_nroutes;

/* Responses (respond.c). Each returns KORE_RESULT_OK. */
int	api_respond(struct http_request *, int, const char *, const void *,
	    size_t);
int	api_respond_json(struct http_request *, int, json_t *);
int	api_problem(struct http_request *, int, const char *, const char *,
	    const char *, json_t *);
int	api_problem_relay(struct http_request *, int, const char *);
int	api_problem_with(struct http_request *, int, const char *,
	    const char *, const char *, json_t *);

/*
 * Conditional GET (respond.c). api_etag_none_match() returns 1 when the
 * request's If-None-Match names etag (weak comparison, a list or "*"),
 * else 0. api_respond_not_modified() answers 304 with no body (nor
 * Content-Length), adding the ETag header unless etag is NULL (already
 * set). Neither can fail.
 */
int	api_etag_none_match(struct http_request *, const char *);
int	api_respond_not_modified(struct http_request *, const char *);

/*
 * CORS (cors.c). api_cors_headers() adds Vary: Origin when CORS is on
 * and, for an allowed Origin, Access-Control-Allow-Origin and -Expose-
 * Headers; api_respond() calls it on every response. A request is a
 * preflight when api_cors_is_preflight() returns 1 (OPTIONS with Origin
 * and Access-Control-Request-Method); api_cors_preflight() answers it
 * for the methods in c->preflight: 204 for an allowed origin, else 403.
 */
void	api_cors_headers(struct http_request *);
int	api_cors_is_preflight(struct http_request *);
int	api_cors_preflight(struct http_request *, struct api_call *);

/*
 * Write the HTTP_METHOD_* bits in methods as "GET, HEAD, POST" into buf
 * (router.c; an empty string for none). Can't fail: a short buf
 * truncates.
 */
void	api_methods_text(int, char *, size_t);

/*
 * Run api.<fn>(ctx, args, body) on the pool without blocking the event
 * loop. Returns KORE_RESULT_RETRY while the query runs and the
 * handler's final result once it ended (c->done or a plain response).
 * A handler calls it again on every re-entry with the same fn.
 */
int	api_db_call(struct http_request *, struct api_call *, const char *);

/*
 * Release what the call holds in the pool: its place in the wait queue,
 * its query, its connection slot (which goes to the next waiter). For
 * the request's free callback; idempotent, can't fail.
 */
void	api_db_cleanup(struct api_call *);

/* Once in the parent after pgpool_configure(): the call statement. */
void	api_db_configure(void);

/*
 * Like api_db_call() for a fixed statement without parameters whose
 * first row's first column becomes the body given to c->done (which
 * must be set) with status 200.
 */
int	api_db_raw(struct http_request *, struct api_call *, const char *);

/*
 * This worker's database pool now (see pgpool_stats()): connections in
 * use (held, being opened or drained), idle, requests waiting, and
 * requests that had to wait since start. Any pointer may be NULL.
 */
void	dbcall_stats(unsigned *, unsigned *, unsigned *, unsigned long long *);

/* Handlers. */
int	api_livez(struct http_request *, struct api_call *);
int	api_readyz(struct http_request *, struct api_call *);
int	api_taxonomy_needs(struct http_request *, struct api_call *);
int	api_routes_list(struct http_request *, struct api_call *);
int	api_openapi(struct http_request *, struct api_call *);
int	api_docs(struct http_request *, struct api_call *);
int	api_debug_sleep(struct http_request *, struct api_call *);
int	api_public(struct http_request *, struct api_call *);
int	api_metrics(struct http_request *, struct api_call *);
int	api_directory_delete(struct http_request *, struct api_call *);
int	api_report_get(struct http_request *, struct api_call *);
int	api_webhook_create(struct http_request *, struct api_call *);
int	api_webhook_rotate(struct http_request *, struct api_call *);

/*
 * Wake the worker for these committed job ids (an array of integers):
 * XADD on the job stream over the worker's Redis link (rconn.c); never
 * waits, dropped and counted while Redis is down or slow.
 */
void	api_signal_jobs(json_t *);

/*
 * /readyz waits briefly for a Redis link that is not up (health.c):
 * api_readyz_wake() is the link's notify callback, api_readyz_cleanup()
 * forgets a freed request. Both can't fail.
 */
void	api_readyz_wake(void);
void	api_readyz_cleanup(struct http_request *);

/*
 * Routes served from C never reach api.require_org(): check the token's
 * organization is active (cached per worker for ORGCACHE_TTL_MS).
 * Returns 1 when the handler may run now, or 0 with the Kore result to
 * return in *result (a response was sent, or the check is under way).
 */
int	api_orgcheck(struct http_request *, struct api_call *, int *);

/* The Kore entry point (router.c). */
int	concord_dispatch(struct http_request *);

#endif
