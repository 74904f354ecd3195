/*
 * pgpool: the API's PostgreSQL connections, one small pool per Kore
 * worker, driven by Kore's event loop. Nothing here ever waits: a new
 * connection is opened with PQconnectStart()/PQconnectPoll() on its
 * socket's readiness (and prepares the call statement), queries are
 * sent with PQsendQueryPrepared() or PQsendQueryParams() and read as
 * they arrive, and a Kore timer bounds every wait (a free
 * connection, a new connection). A request that finds every connection
 * taken waits first come, first served.
 */
#ifndef CONCORD_PGPOOL_H
#define CONCORD_PGPOOL_H

#include <sys/types.h>
#include <sys/queue.h>

#include <libpq-fe.h>

struct http_request;
struct pgconn;

/* pgpool_wait.state */
#define PGW_IDLE	0	/* holds nothing */
#define PGW_QUEUED	1	/* waiting for a free connection */
#define PGW_CONNECTING	2	/* a new connection is being opened for it */
#define PGW_READY	3	/* holds a connection; send a statement */
#define PGW_SENT	4	/* statement sent, result not complete */
#define PGW_DONE	5	/* result in res (or NULL: connection lost) */
#define PGW_EXPIRED	6	/* waited the queue bound for a connection */
#define PGW_DOWN	7	/* the connection could not be opened */

/*
 * One request's place in the pool, embedded in its call. The request
 * is asleep (http_request_sleep) in QUEUED, CONNECTING and SENT and is
 * woken on the change that ends them.
 */
struct pgpool_wait {
	int			 state;		/* PGW_* */
	struct http_request	*req;		/* woken on every change */
	struct pgconn		*conn;		/* held connection or NULL */
	PGresult		*res;		/* DONE: owned, see pgpool_done */
	const char		*why;		/* DOWN: static reason text */
	u_int64_t		 deadline;	/* QUEUED: stop waiting */
	TAILQ_ENTRY(pgpool_wait) q;		/* in the wait queue */
};

/*
 * Keep a copy of conninfo (a libpq URI or key=value string; it holds
 * secrets and lives as long as the process), the most connections per
 * worker, and in milliseconds the longest wait for a free connection,
 * the longest time to open one and the longest wait for a statement's
 * reply, after which its connection counts as lost (PostgreSQL's
 * statement_timeout should end the statement well before). Called
 * once in the parent before the workers fork; can't fail. libpq
 * resolves a host name in conninfo on every new connection, and that
 * lookup blocks: use a numeric host or hostaddr.
 */
void	pgpool_configure(const char *, int, int, int, int);

/*
 * The statement pgpool_send_call() runs (kept as a copy). With prepare
 * set, every connection prepares it once as the last step of opening
 * (under the connect bound; a failure counts as a failed connect) and
 * pgpool_send_call() only sends its parameters; without, it goes out
 * as an unnamed statement each time. Called once in the parent after
 * pgpool_configure(); can't fail.
 */
void	pgpool_statement(const char *, int);

/*
 * Ask for a connection for w, which must be PGW_IDLE. Afterwards w is
 * READY (a connection is held now), QUEUED or CONNECTING (req sleeps
 * and is woken when w becomes READY, EXPIRED or DOWN), or DOWN.
 */
void	pgpool_acquire(struct pgpool_wait *, struct http_request *);

/*
 * Send one statement with text parameters on w's connection (w READY).
 * Afterwards w is SENT (req sleeps; woken when w becomes DONE) or DONE
 * with res NULL (the connection was lost; it is closed).
 */
void	pgpool_send(struct pgpool_wait *, const char *, int,
	    const char *const *, const int *);

/* pgpool_send() for the statement set by pgpool_statement(). */
void	pgpool_send_call(struct pgpool_wait *, int, const char *const *,
	    const int *);

/*
 * Forget w's result and set it back to PGW_IDLE. For DONE, EXPIRED and
 * DOWN waits; can't fail.
 */
void	pgpool_done(struct pgpool_wait *);

/*
 * Release whatever w holds, in any state: its place in the queue, its
 * connection (a statement still running is read to its end in the
 * background and the connection then serves the next waiter; one being
 * opened goes on and joins the pool), its result. Idempotent; can't
 * fail. For the request's free callback.
 */
void	pgpool_release(struct pgpool_wait *);

/*
 * The pool of this worker now: connections held by requests or being
 * opened or drained, idle connections, requests waiting, and how many
 * requests had to wait since start. Any pointer may be NULL.
 */
void	pgpool_stats(unsigned *, unsigned *, unsigned *,
	    unsigned long long *);

#endif
