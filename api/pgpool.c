/*
 * pgpool: the API's PostgreSQL connections, at most CONCORD_DB_POOL per
 * Kore worker, none of whose steps ever waits. Kore 4.1's own pgsql
 * layer opens a connection with PQconnectdb(), which blocks the whole
 * worker until PostgreSQL answers (a stopped postmaster accepts the TCP
 * connection and then says nothing), and cancels an abandoned statement
 * with PQcancel(), which blocks the same way. Here a connection is
 * opened with PQconnectStart() and advanced by PQconnectPoll() each
 * time its socket is ready for what libpq waits for, and its last step
 * prepares the call statement (PQsendPrepare(), so each call is only
 * bound and executed: parse, analysis and planning were a sixth of the
 * backend's CPU on a small read); statements go out with
 * PQsendQueryPrepared() or PQsendQueryParams() on a non-blocking
 * connection and are read as they arrive. Sockets sit level-triggered in Kore's event set with
 * exactly the interest libpq asks for, so no readiness is ever missed.
 *
 * A request takes an idle connection, or opens a new one while the pool
 * has room, or waits in a first come, first served queue; a connection
 * that frees up is handed to the queue's head (a reservation nobody
 * else can take) before that request is woken. A Kore timer bounds the
 * waits: CONCORD_DB_QUEUE_TIMEOUT_MS in the queue,
 * CONCORD_DB_CONNECT_TIMEOUT_MS to open a connection, and a statement's
 * reply (PostgreSQL's statement_timeout ends a statement first; a
 * connection whose server stopped answering altogether is closed when
 * the reply bound passes). A request that
 * goes away leaves its connection behind: one being opened joins the
 * pool; one running a statement is read to the end and then serves the
 * next waiter. That statement is cancelled with pg_cancel_backend()
 * (libpq's PQcancel() would block), sent on the next idle connection or,
 * when none is idle, on one extra connection opened for it beyond the
 * pool's size; the cancelled connection is reused only once that call
 * returned, so the cancel can never hit a later statement.
 */
#include <kore/kore.h>
#include <kore/http.h>

#include <sys/epoll.h>

#include <stdio.h>
#include <string.h>

#include "pgpool.h"
#include "../common/log.h"

#define PGPOOL_TICK_MS		50	/* granularity of the bounds */
#define PGPOOL_LOG_MS		5000	/* at most one failure line per period */

/* Kore dispatches on evt->handle alone; the type only has to be unique. */
#define PGPOOL_EVT_TYPE		101

#define PGPOOL_SQL_CANCEL	"SELECT pg_cancel_backend($1::int)"

/* pgconn.state */
#define PGC_CONNECTING		1	/* PQconnectPoll() under way */
#define PGC_IDLE		2	/* in pg_idle */
#define PGC_HELD		3	/* held by owner, nothing sent */
#define PGC_QUERY		4	/* statement sent; owner NULL: drained */
#define PGC_DEAD		5	/* closed; freed on the next tick */
#define PGC_PARKED		6	/* drained; waits for its cancel's end */
#define PGC_PREPARING		7	/* open; the call statement is prepared */

/* The call statement's name on every pooled connection. */
#define PGPOOL_STMT_NAME	"concord_call"

struct pgconn {
	struct kore_event	 evt;		/* first: Kore hands back &evt */
	PGconn			*db;
	int			 state;		/* PGC_* */
	int			 fd;		/* socket in the event set or -1 */
	u_int32_t		 events;	/* its epoll interest */
	PostgresPollingStatusType poll;		/* CONNECTING: libpq waits for */
	int			 flushing;	/* QUERY: output not all sent */
	struct pgpool_wait	*owner;		/* NULL: orphaned or drained */
	PGresult		*res;		/* QUERY: the statement's result */
	u_int64_t		 deadline;	/* CONNECTING, QUERY: give up then */
	int			 extra;		/* opened to send a cancel only */
	int			 want_cancel;	/* drained, no cancel sent yet */
	struct pgconn		*cancel_of;	/* runs the cancel of this one */
	struct pgconn		*cancel_by;	/* whose cancel is running */
	TAILQ_ENTRY(pgconn)	 all;		/* pg_all while not dead */
	TAILQ_ENTRY(pgconn)	 list;		/* pg_idle or pg_dead */
};

static TAILQ_HEAD(, pgconn)	 pg_all = TAILQ_HEAD_INITIALIZER(pg_all);
static TAILQ_HEAD(, pgconn)	 pg_idle = TAILQ_HEAD_INITIALIZER(pg_idle);
static TAILQ_HEAD(, pgconn)	 pg_dead = TAILQ_HEAD_INITIALIZER(pg_dead);
static TAILQ_HEAD(, pgpool_wait) pg_queue = TAILQ_HEAD_INITIALIZER(pg_queue);

static char			*pg_conninfo;	/* secret: holds the data key */
static unsigned			 pg_max = 1;
static u_int64_t		 pg_queue_ms = 2000;
static u_int64_t		 pg_connect_ms = 2000;
static u_int64_t		 pg_reply_ms = 7000;
static unsigned			 pg_count;	/* connections not dead, not extra */
static unsigned			 pg_extra;	/* extra connections (0 or 1) */
static unsigned			 pg_nidle;
static unsigned			 pg_nwait;
static unsigned long long	 pg_waits;	/* requests that queued */
static char			*pg_stmt_sql;	/* the call statement's text */
static int			 pg_stmt_prepared; /* prepared per connection */
static struct kore_timer	*pg_timer;
static u_int64_t		 pg_logged;	/* last failure line */

static void	pgpool_tick(void *, u_int64_t);
static void	pgpool_fill(void);
static void	pgpool_wake(struct pgpool_wait *);
static void	pgconn_open(struct pgpool_wait *);
static void	pgconn_close(struct pgconn *, const char *);
static void	pgconn_give(struct pgconn *);
static void	pgconn_watch(struct pgconn *, u_int32_t, int);
static void	pgconn_handle(void *, int);
static void	pgconn_connecting(struct pgconn *, int, int);
static void	pgconn_preparing(struct pgconn *, int, int);
static void	pgconn_ready(struct pgconn *);
static void	pgpool_sent(struct pgconn *, int);
static void	pgconn_idle_input(struct pgconn *, int);
static void	pgconn_query(struct pgconn *, int, int);
static void	pgconn_keep(struct pgconn *, PGresult *);
static void	pgconn_finished(struct pgconn *);
static int	pgconn_cancel(struct pgconn *);
static void	pgconn_unlink(struct pgconn *);

void
pgpool_configure(const char *conninfo, int max, int queue_ms, int connect_ms,
    int reply_ms)
{
	pg_conninfo = kore_strdup(conninfo);
	pg_max = max > 0 ? (unsigned)max : 1;
	pg_queue_ms = queue_ms > 0 ? (u_int64_t)queue_ms : 1;
	pg_connect_ms = connect_ms > 0 ? (u_int64_t)connect_ms : 1;
	pg_reply_ms = reply_ms > 0 ? (u_int64_t)reply_ms : 1;
}

void
pgpool_statement(const char *sql, int prepare)
{
	pg_stmt_sql = kore_strdup(sql);
	pg_stmt_prepared = prepare != 0;
}

void
pgpool_acquire(struct pgpool_wait *w, struct http_request *req)
{
	struct pgconn	*pc;

	if (w->state != PGW_IDLE || pg_conninfo == NULL)
		fatal("pgpool_acquire: wait in use or pool not configured");
	w->req = req;
	if (pg_timer == NULL)
		pg_timer = kore_timer_add(pgpool_tick, PGPOOL_TICK_MS, NULL, 0);
	if (TAILQ_EMPTY(&pg_queue)) {
		if ((pc = TAILQ_FIRST(&pg_idle)) != NULL) {
			TAILQ_REMOVE(&pg_idle, pc, list);
			pg_nidle--;
			pc->state = PGC_HELD;
			pc->owner = w;
			w->conn = pc;
			w->state = PGW_READY;
			return;
		}
		if (pg_count < pg_max) {
			pgconn_open(w);
			if (w->state == PGW_CONNECTING)
				http_request_sleep(req);
			return;
		}
	}
	w->deadline = kore_time_ms() + pg_queue_ms;
	w->state = PGW_QUEUED;
	TAILQ_INSERT_TAIL(&pg_queue, w, q);
	pg_nwait++;
	pg_waits++;
	http_request_sleep(req);
}

void
pgpool_send(struct pgpool_wait *w, const char *sql, int n,
    const char *const *vals, const int *lens)
{
	struct pgconn	*pc = w->conn;
	int		 r;

	if (w->state != PGW_READY || pc == NULL || pc->state != PGC_HELD)
		fatal("pgpool_send: no connection held");
	pc->state = PGC_QUERY;
	pc->flushing = 0;
	pc->deadline = kore_time_ms() + pg_reply_ms;
	w->state = PGW_SENT;
	r = PQstatus(pc->db) == CONNECTION_OK &&
	    PQsendQueryParams(pc->db, sql, n, NULL, vals, lens, NULL, 0);
	pgpool_sent(pc, r);
}

void
pgpool_send_call(struct pgpool_wait *w, int n, const char *const *vals,
    const int *lens)
{
	struct pgconn	*pc = w->conn;
	int		 r;

	if (pg_stmt_sql == NULL)
		fatal("pgpool_send_call: no statement configured");
	if (!pg_stmt_prepared) {
		pgpool_send(w, pg_stmt_sql, n, vals, lens);
		return;
	}
	if (w->state != PGW_READY || pc == NULL || pc->state != PGC_HELD)
		fatal("pgpool_send_call: no connection held");
	pc->state = PGC_QUERY;
	pc->flushing = 0;
	pc->deadline = kore_time_ms() + pg_reply_ms;
	w->state = PGW_SENT;
	r = PQstatus(pc->db) == CONNECTION_OK &&
	    PQsendQueryPrepared(pc->db, PGPOOL_STMT_NAME, n, vals, lens, NULL,
	    0);
	pgpool_sent(pc, r);
}

/*
 * The statement of pc's owner went out (ok) or could not be queued:
 * flush it, and put the owner to sleep until its result is complete.
 */
static void
pgpool_sent(struct pgconn *pc, int ok)
{
	struct pgpool_wait	*w = pc->owner;
	int			 r;

	if (!ok || (r = PQflush(pc->db)) == -1) {
		/* w becomes DONE without a result: the connection is lost. */
		pgconn_close(pc, "send failed");
		return;
	}
	if (r == 1) {
		pc->flushing = 1;
		pgconn_watch(pc, EPOLLIN | EPOLLOUT, 0);
	}
	http_request_sleep(w->req);
}

void
pgpool_done(struct pgpool_wait *w)
{
	if (w->res != NULL)
		PQclear(w->res);
	w->res = NULL;
	w->why = NULL;
	w->state = PGW_IDLE;
}

void
pgpool_release(struct pgpool_wait *w)
{
	struct pgconn	*pc = w->conn, *idle;

	if (w->state == PGW_QUEUED) {
		TAILQ_REMOVE(&pg_queue, w, q);
		pg_nwait--;
	}
	if (pc != NULL) {
		/* CONNECTING goes on and joins the pool; QUERY is drained. */
		pc->owner = NULL;
		w->conn = NULL;
		if (pc->state == PGC_HELD)
			pgconn_give(pc);
		else if (pc->state == PGC_QUERY && pc->cancel_by == NULL) {
			pc->want_cancel = 1;
			if ((idle = TAILQ_FIRST(&pg_idle)) != NULL) {
				TAILQ_REMOVE(&pg_idle, idle, list);
				pg_nidle--;
				if (!pgconn_cancel(idle))
					pgconn_give(idle);
			} else if (pg_extra == 0) {
				/* Joins the pool's work via pgconn_give(). */
				pgconn_open(NULL);
			}
		}
	}
	pgpool_done(w);
	w->req = NULL;
}

void
pgpool_stats(unsigned *in_use, unsigned *idle, unsigned *waiting,
    unsigned long long *waits_total)
{
	if (in_use != NULL)
		*in_use = pg_count - pg_nidle;
	if (idle != NULL)
		*idle = pg_nidle;
	if (waiting != NULL)
		*waiting = pg_nwait;
	if (waits_total != NULL)
		*waits_total = pg_waits;
}

static void
pgpool_wake(struct pgpool_wait *w)
{
	if (w->req != NULL)
		http_request_wakeup(w->req);
}

/*
 * Every PGPOOL_TICK_MS: free the connections closed since the last tick
 * (an event fetched in the same pass as the close may still point at
 * one), answer the waiters whose queue bound passed (the queue is in
 * order of deadlines) and give up connections that took too long to
 * open or to answer.
 */
static void
pgpool_tick(void *arg, u_int64_t now)
{
	struct pgconn		*pc, *next;
	struct pgpool_wait	*w;

	(void)arg;
	while ((pc = TAILQ_FIRST(&pg_dead)) != NULL) {
		TAILQ_REMOVE(&pg_dead, pc, list);
		kore_free(pc);
	}
	while ((w = TAILQ_FIRST(&pg_queue)) != NULL && w->deadline <= now) {
		TAILQ_REMOVE(&pg_queue, w, q);
		pg_nwait--;
		w->state = PGW_EXPIRED;
		pgpool_wake(w);
	}
	for (pc = TAILQ_FIRST(&pg_all); pc != NULL; pc = next) {
		next = TAILQ_NEXT(pc, all);
		if ((pc->state == PGC_CONNECTING ||
		    pc->state == PGC_PREPARING) && pc->deadline <= now)
			pgconn_close(pc, "connect timed out");
		else if (pc->state == PGC_QUERY && pc->deadline <= now)
			pgconn_close(pc, "no reply");
	}
}

/* Open connections for the waiters at the queue's head while there is room. */
static void
pgpool_fill(void)
{
	struct pgpool_wait	*w;

	while (pg_count < pg_max && (w = TAILQ_FIRST(&pg_queue)) != NULL) {
		TAILQ_REMOVE(&pg_queue, w, q);
		pg_nwait--;
		pgconn_open(w);
		/* Still asleep while CONNECTING; woken when it ends. */
		if (w->state != PGW_CONNECTING)
			pgpool_wake(w);
	}
}

/*
 * Start a connection for w: w becomes CONNECTING, or DOWN when libpq
 * refuses at once (nothing is added to the pool then). With w NULL, an
 * extra connection that only sends cancels and then closes. Never
 * recurses into pgpool_fill().
 */
static void
pgconn_open(struct pgpool_wait *w)
{
	struct pgconn	*pc;
	PGconn		*db;
	u_int64_t	 now;

	db = PQconnectStart(pg_conninfo);
	if (db == NULL || PQstatus(db) == CONNECTION_BAD) {
		now = kore_time_ms();
		if (now - pg_logged >= PGPOOL_LOG_MS) {
			pg_logged = now;
			concord_log(LOG_LVL_WARN, "database connect failed",
			    json_pack("{s:s}", "reason", "connect start"));
		}
		if (db != NULL)
			PQfinish(db);
		if (w != NULL) {
			w->state = PGW_DOWN;
			w->why = "connect";
		}
		return;
	}
	pc = kore_calloc(1, sizeof(*pc));
	pc->evt.type = PGPOOL_EVT_TYPE;
	pc->evt.handle = pgconn_handle;
	pc->db = db;
	pc->state = PGC_CONNECTING;
	pc->fd = -1;
	pc->poll = PGRES_POLLING_WRITING;
	pc->deadline = kore_time_ms() + pg_connect_ms;
	pc->owner = w;
	TAILQ_INSERT_TAIL(&pg_all, pc, all);
	if (w != NULL) {
		pg_count++;
		w->conn = pc;
		w->state = PGW_CONNECTING;
	} else {
		pc->extra = 1;
		pg_extra++;
	}
	pgconn_watch(pc, EPOLLOUT, 1);
}

/*
 * Close pc and tell its owner: DOWN while it was being opened or held,
 * DONE with whatever result came (often none) in a statement. The
 * socket leaves Kore's event set as libpq closes it; pc itself is
 * freed on the next tick. Then open connections for waiters.
 */
static void
pgconn_close(struct pgconn *pc, const char *why)
{
	struct pgpool_wait	*w = pc->owner;
	u_int64_t		 now;
	char			 msg[160];

	if (pc->state == PGC_DEAD)
		return;
	if (pc->state == PGC_CONNECTING || pc->state == PGC_PREPARING) {
		now = kore_time_ms();
		if (now - pg_logged >= PGPOOL_LOG_MS) {
			pg_logged = now;
			snprintf(msg, sizeof(msg), "%s", PQerrorMessage(pc->db));
			msg[strcspn(msg, "\n")] = '\0';
			/* A refused option could be quoted: never the key. */
			if (strstr(msg, "data_key") != NULL)
				snprintf(msg, sizeof(msg), "(an option was refused)");
			concord_log(LOG_LVL_WARN, "database connect failed",
			    json_pack("{s:s, s:s}", "reason", why, "error",
			    msg));
		}
	}
	if (pc->state == PGC_IDLE) {
		TAILQ_REMOVE(&pg_idle, pc, list);
		pg_nidle--;
	}
	if (w != NULL) {
		w->conn = NULL;
		if (pc->state == PGC_QUERY) {
			w->state = PGW_DONE;
			w->res = pc->res;
			pc->res = NULL;
		} else {
			w->state = PGW_DOWN;
			w->why = why;
		}
		pc->owner = NULL;
		pgpool_wake(w);
	}
	if (pc->res != NULL)
		PQclear(pc->res);
	pc->res = NULL;
	PQfinish(pc->db);
	pc->db = NULL;
	pc->fd = -1;
	pc->state = PGC_DEAD;
	TAILQ_REMOVE(&pg_all, pc, all);
	TAILQ_INSERT_TAIL(&pg_dead, pc, list);
	if (pc->extra)
		pg_extra--;
	else
		pg_count--;
	pgconn_unlink(pc);
	pgpool_fill();
}

/* pc is free: to the waiter at the queue's head, else to the idle list. */
static void
pgconn_give(struct pgconn *pc)
{
	struct pgpool_wait	*w;

	pc->owner = NULL;
	if (pgconn_cancel(pc))
		return;
	if (pc->extra) {
		pgconn_close(pc, "cancels sent");
		return;
	}
	if ((w = TAILQ_FIRST(&pg_queue)) != NULL) {
		TAILQ_REMOVE(&pg_queue, w, q);
		pg_nwait--;
		pc->state = PGC_HELD;
		pc->owner = w;
		w->conn = pc;
		w->state = PGW_READY;
		pgpool_wake(w);
		return;
	}
	/* Most recently used first: the fewest connections stay warm. */
	pc->state = PGC_IDLE;
	TAILQ_INSERT_HEAD(&pg_idle, pc, list);
	pg_nidle++;
}

/*
 * Make the event set watch want on pc's socket. While connecting, libpq
 * may close its socket and open another (possibly with the same number,
 * which left the event set when it closed): force asks again anyway.
 */
static void
pgconn_watch(struct pgconn *pc, u_int32_t want, int force)
{
	int	fd;

	if ((fd = PQsocket(pc->db)) < 0)
		return;
	if (!force && fd == pc->fd && want == pc->events)
		return;
	kore_platform_event_schedule(fd, (int)want, 0, pc);
	pc->fd = fd;
	pc->events = want;
}

/* Kore's event callback (err: EPOLLERR/HUP/RDHUP). */
static void
pgconn_handle(void *arg, int err)
{
	struct pgconn	*pc = arg;
	int		 flags = pc->evt.flags;

	/* Level-triggered: what is still ready is reported again. */
	pc->evt.flags = 0;
	switch (pc->state) {
	case PGC_CONNECTING:
		pgconn_connecting(pc, flags, err);
		break;
	case PGC_PREPARING:
		pgconn_preparing(pc, flags, err);
		break;
	case PGC_IDLE:
	case PGC_HELD:
	case PGC_PARKED:
		pgconn_idle_input(pc, err);
		break;
	case PGC_QUERY:
		pgconn_query(pc, flags, err);
		break;
	default:
		/* DEAD: an event fetched before the close; nothing to do. */
		break;
	}
}

/* Advance the connection only when its socket is ready as libpq asked. */
static void
pgconn_connecting(struct pgconn *pc, int flags, int err)
{
	int	r;

	if (!err &&
	    !(pc->poll == PGRES_POLLING_READING && (flags & KORE_EVENT_READ)) &&
	    !(pc->poll == PGRES_POLLING_WRITING && (flags & KORE_EVENT_WRITE)))
		return;
	pc->poll = PQconnectPoll(pc->db);
	switch (pc->poll) {
	case PGRES_POLLING_OK:
		if (PQsetnonblocking(pc->db, 1) == -1) {
			pgconn_close(pc, "connect");
			return;
		}
		if (!pg_stmt_prepared || pc->extra) {
			pgconn_watch(pc, EPOLLIN, 1);
			pgconn_ready(pc);
			return;
		}
		/*
		 * Part of opening: the call statement is parsed once per
		 * connection, under the same bound; a connection opened
		 * again prepares again.
		 */
		pc->state = PGC_PREPARING;
		if (!PQsendPrepare(pc->db, PGPOOL_STMT_NAME, pg_stmt_sql, 0,
		    NULL) || (r = PQflush(pc->db)) == -1) {
			pgconn_close(pc, "prepare");
			return;
		}
		pc->flushing = r == 1;
		pgconn_watch(pc, r == 1 ? EPOLLIN | EPOLLOUT : EPOLLIN, 1);
		break;
	case PGRES_POLLING_READING:
		pgconn_watch(pc, EPOLLIN, 1);
		break;
	case PGRES_POLLING_WRITING:
		pgconn_watch(pc, EPOLLOUT, 1);
		break;
	default:
		pgconn_close(pc, "connect");
		break;
	}
}

/*
 * The call statement's PREPARE answered, or its socket is ready: the
 * connection is ready when it succeeded and is closed (its owner DOWN)
 * when it failed or the connection went.
 */
static void
pgconn_preparing(struct pgconn *pc, int flags, int err)
{
	PGresult	*r;
	int		 n, ok;

	if (((flags & KORE_EVENT_READ) || err) && !PQconsumeInput(pc->db))
		goto fail;
	if (pc->flushing) {
		if ((n = PQflush(pc->db)) == -1)
			goto fail;
		if (n == 0) {
			pc->flushing = 0;
			pgconn_watch(pc, EPOLLIN, 0);
		}
	}
	while (!PQisBusy(pc->db)) {
		if ((r = PQgetResult(pc->db)) == NULL) {
			if (pc->res == NULL)
				goto fail;
			ok = PQresultStatus(pc->res) == PGRES_COMMAND_OK;
			PQclear(pc->res);
			pc->res = NULL;
			if (!ok)
				goto fail;
			pgconn_ready(pc);
			return;
		}
		pgconn_keep(pc, r);
	}
	if (err && PQstatus(pc->db) != CONNECTION_OK)
		goto fail;
	return;
fail:
	pgconn_close(pc, "prepare");
}

/* pc is open (and prepared): to its owner, else to the pool. */
static void
pgconn_ready(struct pgconn *pc)
{
	if (pc->owner != NULL) {
		pc->state = PGC_HELD;
		pc->owner->state = PGW_READY;
		pgpool_wake(pc->owner);
	} else {
		pgconn_give(pc);
	}
}

/*
 * An idle connection has input: a notice or a parameter change is
 * consumed; the end of the connection (PostgreSQL restarted, the
 * session was terminated) or a socket error closes it now rather than
 * on the next request.
 */
static void
pgconn_idle_input(struct pgconn *pc, int err)
{
	if (err || !PQconsumeInput(pc->db) ||
	    PQstatus(pc->db) != CONNECTION_OK)
		pgconn_close(pc, "connection lost");
}

/* A statement's connection is ready: write what is left, read results. */
static void
pgconn_query(struct pgconn *pc, int flags, int err)
{
	PGresult	*r;
	int		 n;

	if ((flags & KORE_EVENT_READ) || err) {
		if (!PQconsumeInput(pc->db))
			goto lost;
	}
	if (pc->flushing) {
		if ((n = PQflush(pc->db)) == -1)
			goto lost;
		if (n == 0) {
			pc->flushing = 0;
			pgconn_watch(pc, EPOLLIN, 0);
		}
	}
	while (!PQisBusy(pc->db)) {
		if ((r = PQgetResult(pc->db)) == NULL) {
			pgconn_finished(pc);
			return;
		}
		pgconn_keep(pc, r);
	}
	if (err && PQstatus(pc->db) != CONNECTION_OK)
		goto lost;
	return;
lost:
	/*
	 * With the socket gone libpq never waits: collect what was read
	 * (an error such as 57P01 often comes just before the end).
	 */
	if (PQstatus(pc->db) == CONNECTION_BAD) {
		while ((r = PQgetResult(pc->db)) != NULL)
			pgconn_keep(pc, r);
	}
	pgconn_close(pc, "connection lost");
}

/* Keep a statement's first result, or the first error after it. */
static void
pgconn_keep(struct pgconn *pc, PGresult *r)
{
	if (pc->res == NULL) {
		pc->res = r;
		return;
	}
	if (PQresultStatus(r) == PGRES_FATAL_ERROR &&
	    PQresultStatus(pc->res) != PGRES_FATAL_ERROR) {
		PQclear(pc->res);
		pc->res = r;
		return;
	}
	PQclear(r);
}

/*
 * The statement ended: its result goes to the owner (dropped when the
 * owner went away) and the connection to the next waiter, unless the
 * session is left inside a transaction, which no call may leave, or its
 * prepared statement is gone (26000) or can no longer run as prepared
 * (0A000: the functions it names were re-created with another result
 * type); a new connection prepares afresh.
 */
static void
pgconn_finished(struct pgconn *pc)
{
	struct pgpool_wait	*w = pc->owner;
	const char		*st;
	int			 stale = 0;

	if (pc->res != NULL &&
	    PQresultStatus(pc->res) == PGRES_FATAL_ERROR &&
	    (st = PQresultErrorField(pc->res, PG_DIAG_SQLSTATE)) != NULL)
		stale = strcmp(st, "26000") == 0 || strcmp(st, "0A000") == 0;
	if (w != NULL) {
		w->res = pc->res;
		w->state = PGW_DONE;
		w->conn = NULL;
		pgpool_wake(w);
	} else if (pc->res != NULL) {
		PQclear(pc->res);
	}
	pc->res = NULL;
	pc->owner = NULL;
	pc->want_cancel = 0;
	if (PQtransactionStatus(pc->db) != PQTRANS_IDLE) {
		pgconn_close(pc, "left inside a transaction");
		return;
	}
	if (stale) {
		pgconn_close(pc, "statement stale");
		return;
	}
	if (pc->cancel_by != NULL) {
		/* Its cancel may still be on the way: not before it ended. */
		pc->state = PGC_PARKED;
		return;
	}
	/* A canceller lets go of its target first, then serves again. */
	pgconn_unlink(pc);
	pgconn_give(pc);
}

/*
 * If a drained statement waits for its cancel, send it on pc (free, not
 * in the idle list) and return 1; else return 0. A cancel that cannot
 * be sent closes pc (returning 1 all the same: pc is gone).
 */
static int
pgconn_cancel(struct pgconn *pc)
{
	struct pgconn	*t;
	const char	*vals[1];
	char		 pid[16];
	int		 r;

	TAILQ_FOREACH(t, &pg_all, all) {
		if (t->want_cancel && t->state == PGC_QUERY)
			break;
	}
	if (t == NULL)
		return (0);
	t->want_cancel = 0;
	t->cancel_by = pc;
	pc->cancel_of = t;
	pc->owner = NULL;
	pc->state = PGC_QUERY;
	pc->flushing = 0;
	pc->deadline = kore_time_ms() + pg_reply_ms;
	snprintf(pid, sizeof(pid), "%d", PQbackendPID(t->db));
	vals[0] = pid;
	if (PQstatus(pc->db) != CONNECTION_OK ||
	    !PQsendQueryParams(pc->db, PGPOOL_SQL_CANCEL, 1, NULL, vals, NULL,
	    NULL, 0) || (r = PQflush(pc->db)) == -1) {
		pgconn_close(pc, "send failed");
		return (1);
	}
	if (r == 1) {
		pc->flushing = 1;
		pgconn_watch(pc, EPOLLIN | EPOLLOUT, 0);
	}
	return (1);
}

/*
 * Undo pc's cancel links: a statement pc cancelled may serve again
 * once it is parked; one whose canceller pc was needs none any more.
 */
static void
pgconn_unlink(struct pgconn *pc)
{
	struct pgconn	*t;

	if ((t = pc->cancel_of) != NULL) {
		pc->cancel_of = NULL;
		t->cancel_by = NULL;
		if (t->state == PGC_PARKED)
			pgconn_give(t);
		else if (t->state == PGC_QUERY && pc->state == PGC_DEAD)
			t->want_cancel = 1;	/* lost with pc: ask again */
	}
	if ((t = pc->cancel_by) != NULL) {
		pc->cancel_by = NULL;
		t->cancel_of = NULL;
	}
}
