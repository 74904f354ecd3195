/*
 * rconn: the API's Redis link. A raw non-blocking TCP socket registered
 * in Kore's event set (edge-triggered, like Kore's own connections);
 * hiredis only formats commands and parses replies (redisReader), it
 * never touches the socket. A Kore timer ticks every RCONN_TICK_MS to
 * reconnect with backoff, to bound connecting and answering, and to
 * send a PING when the link is idle so that a Redis that hangs (a
 * stopped process keeps its sockets open) is noticed within about
 * RCONN_PING_MS + RCONN_REPLY_MS even when no request sends anything.
 * Nothing here ever waits: a command that cannot be buffered at once is
 * dropped and counted, and the output buffer is a fixed array.
 */
#include <kore/kore.h>

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "rconn.h"
#include "../common/log.h"
#include "../common/rds.h"

#define RCONN_TICK_MS		100
#define RCONN_CONNECT_MS	1000	/* connect + AUTH/SELECT/PING */
#define RCONN_REPLY_MS		1000	/* oldest unanswered command */
#define RCONN_PING_MS		1000	/* heartbeat when idle */
#define RCONN_BACKOFF_MIN_MS	100
#define RCONN_BACKOFF_MAX_MS	2000
#define RCONN_DROP_LOG_MS	5000	/* at most one drop line per period */
#define RCONN_OBUF_MAX		65536	/* bytes not yet written */
#define RCONN_INFLIGHT_MAX	512	/* replies awaited */

/* Kore dispatches on evt->handle alone; the type only has to be unique. */
#define RCONN_EVT_TYPE		100

#define RCONN_DOWN		0
#define RCONN_CONNECTING	1
#define RCONN_UP		2

struct rconn {
	struct kore_event	 evt;		/* first: Kore hands back &evt */
	int			 fd;		/* -1 while down */
	int			 registered;	/* fd is in Kore's event set */
	int			 state;		/* RCONN_* */
	int			 connected;	/* TCP connect completed */
	int			 usable;	/* URL parsed and resolved */
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	char			 auth[RDS_URL_MAX];	/* password or ""; secret */
	int			 db;
	redisReader		*reader;
	char			 obuf[RCONN_OBUF_MAX];
	size_t			 olen;
	u_int64_t		 sent_at[RCONN_INFLIGHT_MAX];	/* ring */
	rconn_reply_cb		 cb[RCONN_INFLIGHT_MAX];	/* same ring */
	void			*cb_arg[RCONN_INFLIGHT_MAX];
	u_int32_t		 ihead;		/* oldest in sent_at */
	u_int32_t		 inflight;	/* replies awaited */
	u_int32_t		 handshake;	/* replies left before UP */
	int			 pinging;	/* heartbeat at the ring's head */
	u_int64_t		 started;	/* this attempt began */
	u_int64_t		 pinged;	/* last heartbeat PING */
	u_int64_t		 next_try;	/* next attempt while down */
	u_int64_t		 backoff;
	u_int64_t		 attempts;	/* attempts that ended */
	u_int64_t		 drop_logged;	/* last drop log line */
	int			 was_up;	/* last logged state (start: up) */
	struct rconn_stats	 stats;
	void			(*notify)(void);
};

static struct rconn	rc = { .fd = -1, .was_up = 1 };

static void	rconn_connect(void);
static void	rconn_fail(const char *);
static int	rconn_queue(int, const char **, const size_t *);
static int	rconn_flush(void);
static int	rconn_read(void);
static void	rconn_handle(void *, int);
static void	rconn_tick(void *, u_int64_t);

int
rconn_start(const char *url, void (*notify)(void))
{
	struct addrinfo		 hints, *res = NULL;
	struct rds_url		 u;
	char			 err[128], port[16];
	int			 ok = -1;

	rc.notify = notify;
	rc.backoff = RCONN_BACKOFF_MIN_MS;
	if (rds_url_parse(url, &u, err, sizeof(err)) == -1) {
		concord_log(LOG_LVL_ERROR, "redis link disabled", json_pack(
		    "{s:s}", "reason", err));
		goto out;
	}
	/* Resolved once, off the request path: no lookup on reconnects. */
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", u.port);
	if (getaddrinfo(u.host, port, &hints, &res) != 0 || res == NULL ||
	    res->ai_addrlen > sizeof(rc.addr)) {
		concord_log(LOG_LVL_ERROR, "redis link disabled", json_pack(
		    "{s:s}", "reason", "cannot resolve the redis host"));
		goto out;
	}
	memcpy(&rc.addr, res->ai_addr, res->ai_addrlen);
	rc.addrlen = res->ai_addrlen;
	snprintf(rc.auth, sizeof(rc.auth), "%s", u.pass);
	rc.db = u.db;
	rc.usable = 1;
	ok = 0;
	rconn_connect();
out:
	if (res != NULL)
		freeaddrinfo(res);
	explicit_bzero(&u, sizeof(u));
	kore_timer_add(rconn_tick, RCONN_TICK_MS, NULL, 0);
	return (ok);
}

int
rconn_send(int argc, const char **argv, const size_t *argvlen)
{
	return (rconn_send_cb(argc, argv, argvlen, NULL, NULL));
}

int
rconn_send_cb(int argc, const char **argv, const size_t *argvlen,
    rconn_reply_cb cb, void *arg)
{
	u_int64_t	now;
	u_int32_t	slot;

	if (rc.state == RCONN_UP && rconn_queue(argc, argv, argvlen) == 0) {
		slot = (rc.ihead + rc.inflight - 1) % RCONN_INFLIGHT_MAX;
		rc.cb[slot] = cb;
		rc.cb_arg[slot] = arg;
		rc.stats.sent++;
		if (rc.connected && rconn_flush() == -1)
			rconn_fail("write failed");
		return (0);
	}
	rc.stats.dropped++;
	now = kore_time_ms();
	if (now - rc.drop_logged >= RCONN_DROP_LOG_MS) {
		rc.drop_logged = now;
		concord_log(LOG_LVL_WARN, "redis command dropped", json_pack(
		    "{s:s, s:I}", "reason", rc.state == RCONN_UP ?
		    "buffer full" : "link down", "dropped_total",
		    (json_int_t)rc.stats.dropped));
	}
	return (-1);
}

u_int32_t
rconn_room(void)
{
	u_int32_t	bytes;

	if (rc.state != RCONN_UP)
		return (0);
	bytes = (u_int32_t)((sizeof(rc.obuf) - rc.olen) / RCONN_CMD_TYPICAL);
	return (RCONN_INFLIGHT_MAX - rc.inflight < bytes ?
	    RCONN_INFLIGHT_MAX - rc.inflight : bytes);
}

int
rconn_up(void)
{
	return (rc.state == RCONN_UP);
}

u_int64_t
rconn_attempts(void)
{
	return (rc.attempts);
}

void
rconn_kick(void)
{
	if (rc.state == RCONN_DOWN && rc.usable)
		rconn_connect();
}

void
rconn_stats_get(struct rconn_stats *st)
{
	*st = rc.stats;
}

/* Start an attempt: socket, non-blocking connect, handshake buffered. */
static void
rconn_connect(void)
{
	const char	*argv[2];
	size_t		 lens[2];
	char		 num[16];
	int		 one = 1;

	rc.started = kore_time_ms();
	rc.state = RCONN_CONNECTING;
	rc.connected = 0;
	rc.olen = 0;
	rc.ihead = rc.inflight = rc.handshake = 0;
	rc.evt.type = RCONN_EVT_TYPE;
	rc.evt.flags = 0;
	rc.evt.handle = rconn_handle;
	if ((rc.reader = redisReaderCreate()) == NULL) {
		rconn_fail("out of memory");
		return;
	}
	rc.fd = socket(rc.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (rc.fd == -1) {
		rconn_fail("socket failed");
		return;
	}
	(void)setsockopt(rc.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(rc.fd, (struct sockaddr *)&rc.addr, rc.addrlen) == 0)
		rc.connected = 1;
	else if (errno != EINPROGRESS) {
		rconn_fail("connect failed");
		return;
	}
	kore_platform_event_all(rc.fd, &rc.evt);
	rc.registered = 1;

	/* Pipelined handshake; the link is up once the PING is answered. */
	if (rc.auth[0] != '\0') {
		argv[0] = "AUTH";
		argv[1] = rc.auth;
		lens[0] = 4;
		lens[1] = strlen(rc.auth);
		(void)rconn_queue(2, argv, lens);
		rc.handshake++;
	}
	if (rc.db != 0) {
		snprintf(num, sizeof(num), "%d", rc.db);
		argv[0] = "SELECT";
		argv[1] = num;
		lens[0] = 6;
		lens[1] = strlen(num);
		(void)rconn_queue(2, argv, lens);
		rc.handshake++;
	}
	argv[0] = "PING";
	lens[0] = 4;
	(void)rconn_queue(1, argv, lens);
	rc.handshake++;
	if (rc.connected && rconn_flush() == -1)
		rconn_fail("write failed");
}

/*
 * Drop the connection (if any) and schedule the next attempt. Safe to
 * call from the event handler: rc is static, so a stale event pointer
 * never dangles, and the fd leaves Kore's event set before it closes.
 */
static void
rconn_fail(const char *why)
{
	u_int32_t	head = rc.ihead, n = rc.inflight, i, slot;
	int		was_up = rc.state == RCONN_UP;

	/* Commands Redis never answered are lost with the link. */
	if (was_up)
		rc.stats.dropped += rc.inflight - (u_int32_t)rc.pinging;
	if (rc.fd != -1) {
		if (rc.registered)
			kore_platform_disable_read(rc.fd);
		rc.registered = 0;
		close(rc.fd);
		rc.fd = -1;
	}
	if (rc.reader != NULL) {
		redisReaderFree(rc.reader);
		rc.reader = NULL;
	}
	rc.state = RCONN_DOWN;
	rc.connected = 0;
	rc.olen = 0;
	rc.ihead = rc.inflight = rc.handshake = 0;
	rc.pinging = 0;
	rc.attempts++;
	rc.stats.lost++;
	rc.next_try = kore_time_ms() + rc.backoff;
	rc.backoff = rc.backoff * 2 > RCONN_BACKOFF_MAX_MS ?
	    RCONN_BACKOFF_MAX_MS : rc.backoff * 2;
	if (was_up || rc.was_up) {
		concord_log(LOG_LVL_WARN, "redis link down", json_pack(
		    "{s:s}", "reason", why));
		rc.was_up = 0;
	}
	/*
	 * The ring is intact until the next rconn_queue(), which cannot
	 * happen while DOWN: tell every waiting callback its reply is lost.
	 */
	for (i = 0; i < n; i++) {
		slot = (head + i) % RCONN_INFLIGHT_MAX;
		if (rc.cb[slot] != NULL) {
			rc.cb[slot](rc.cb_arg[slot], NULL);
			rc.cb[slot] = NULL;
		}
	}
	if (rc.notify != NULL)
		rc.notify();
}

/* Buffer one formatted command. Returns 0, or -1 when over a bound. */
static int
rconn_queue(int argc, const char **argv, const size_t *argvlen)
{
	char		*cmd = NULL;
	int		 len;
	u_int32_t	 slot;

	if (rc.inflight >= RCONN_INFLIGHT_MAX)
		return (-1);
	len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
	if (len <= 0 || cmd == NULL)
		return (-1);
	if ((size_t)len > sizeof(rc.obuf) - rc.olen) {
		redisFreeCommand(cmd);
		return (-1);
	}
	memcpy(rc.obuf + rc.olen, cmd, (size_t)len);
	rc.olen += (size_t)len;
	redisFreeCommand(cmd);
	slot = (rc.ihead + rc.inflight) % RCONN_INFLIGHT_MAX;
	rc.sent_at[slot] = kore_time_ms();
	rc.cb[slot] = NULL;
	rc.cb_arg[slot] = NULL;
	rc.inflight++;
	return (0);
}

/* Write what the socket takes now. Returns 0, or -1 on a socket error. */
static int
rconn_flush(void)
{
	ssize_t		n;

	while (rc.olen > 0) {
		n = send(rc.fd, rc.obuf, rc.olen, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				/* Edge-triggered: EPOLLOUT comes back later. */
				rc.evt.flags &= ~KORE_EVENT_WRITE;
				return (0);
			}
			return (-1);
		}
		memmove(rc.obuf, rc.obuf + n, rc.olen - (size_t)n);
		rc.olen -= (size_t)n;
	}
	return (0);
}

/*
 * Read until the socket is drained and consume every complete reply.
 * Returns 0, or -1 when the link must go (EOF, error, protocol error,
 * a refused handshake).
 */
static int
rconn_read(void)
{
	redisReply	*r;
	void		*reply, *arg;
	rconn_reply_cb	 cb;
	char		 buf[4096];
	ssize_t		 n;

	for (;;) {
		n = read(rc.fd, buf, sizeof(buf));
		if (n == 0)
			return (-1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return (-1);
		}
		if (redisReaderFeed(rc.reader, buf, (size_t)n) != REDIS_OK)
			return (-1);
	}
	for (;;) {
		reply = NULL;
		if (redisReaderGetReply(rc.reader, &reply) != REDIS_OK)
			return (-1);
		if (reply == NULL)
			break;
		r = reply;
		cb = NULL;
		arg = NULL;
		if (rc.inflight > 0) {
			cb = rc.cb[rc.ihead];
			arg = rc.cb_arg[rc.ihead];
			rc.cb[rc.ihead] = NULL;
			rc.ihead = (rc.ihead + 1) % RCONN_INFLIGHT_MAX;
			rc.inflight--;
		}
		if (rc.handshake > 0) {
			rc.handshake--;
			if (r->type == REDIS_REPLY_ERROR) {
				freeReplyObject(r);
				return (-1);
			}
			if (rc.handshake == 0) {
				rc.state = RCONN_UP;
				rc.pinged = kore_time_ms();
				rc.attempts++;
				rc.backoff = RCONN_BACKOFF_MIN_MS;
				if (!rc.was_up)
					concord_log(LOG_LVL_INFO, "redis link up",
					    NULL);
				rc.was_up = 1;
				if (rc.notify != NULL)
					rc.notify();
			}
		} else if (rc.pinging) {
			/* Sent only when nothing was in flight: this is it. */
			rc.pinging = 0;
		} else {
			if (r->type == REDIS_REPLY_ERROR)
				rc.stats.failed++;
			if (cb != NULL)
				cb(arg, r);
		}
		freeReplyObject(r);
	}
	return (0);
}

/* Kore's event callback (err: EPOLLERR/HUP/RDHUP). */
static void
rconn_handle(void *arg, int err)
{
	socklen_t	len;
	int		soerr;

	(void)arg;
	if (rc.fd == -1)
		return;
	if (!rc.connected && (rc.evt.flags & KORE_EVENT_WRITE)) {
		soerr = 0;
		len = sizeof(soerr);
		if (getsockopt(rc.fd, SOL_SOCKET, SO_ERROR, &soerr,
		    &len) == -1 || soerr != 0) {
			rconn_fail("connect failed");
			return;
		}
		rc.connected = 1;
	}
	if (rc.connected && rconn_read() == -1) {
		rconn_fail("connection closed or bad reply");
		return;
	}
	if (err) {
		rconn_fail("socket error");
		return;
	}
	if (rc.connected && rc.olen > 0 && (rc.evt.flags & KORE_EVENT_WRITE) &&
	    rconn_flush() == -1)
		rconn_fail("write failed");
}

/* Every RCONN_TICK_MS: reconnect, bound waits, heartbeat, notify. */
static void
rconn_tick(void *arg, u_int64_t now)
{
	const char	*argv[1] = { "PING" };
	size_t		 lens[1] = { 4 };

	(void)arg;
	switch (rc.state) {
	case RCONN_DOWN:
		if (rc.usable && now >= rc.next_try)
			rconn_connect();
		break;
	case RCONN_CONNECTING:
		if (now - rc.started > RCONN_CONNECT_MS)
			rconn_fail("connect timed out");
		break;
	case RCONN_UP:
		if (rc.inflight > 0 && now - rc.sent_at[rc.ihead] >
		    RCONN_REPLY_MS) {
			rconn_fail("redis stopped answering");
			break;
		}
		if (rc.inflight == 0 && now - rc.pinged >= RCONN_PING_MS) {
			rc.pinged = now;
			if (rconn_queue(1, argv, lens) == 0) {
				rc.pinging = 1;
				if (rconn_flush() == -1)
					rconn_fail("write failed");
			}
		}
		break;
	}
	if (rc.notify != NULL)
		rc.notify();
}
