/*
 * rconn: one persistent, non-blocking Redis connection per Kore worker,
 * driven by Kore's event loop. Commands are fire-and-forget wake-ups:
 * while the link is down, or Redis is slow to answer, they are dropped
 * and counted, never queued without bound. The link heals by itself.
 */
#ifndef CONCORD_RCONN_H
#define CONCORD_RCONN_H

#include <sys/types.h>

#include <stddef.h>

#include "../common/config.h"

struct redisReply;

/*
 * A reply callback: called exactly once for a command rconn_send_cb()
 * accepted, with arg and the reply (an error reply too; owned by rconn,
 * valid during the call only), or with NULL when the link failed before
 * the reply came. It runs inside the link's event handling: it must
 * not send commands or kick the link.
 */
typedef void	(*rconn_reply_cb)(void *, const struct redisReply *);

struct rconn_stats {
	u_int64_t	sent;		/* commands buffered for Redis */
	u_int64_t	dropped;	/* commands refused: down, slow, full */
	u_int64_t	failed;		/* error replies to commands */
	u_int64_t	lost;		/* connections lost or never made */
};

/*
 * Start the link to url (redis://[:password@]host:port[/db]) in this
 * worker: a host name is resolved once, here; connecting, reconnecting
 * with backoff and the heartbeat run on a Kore timer. notify (may be
 * NULL) is called on every state change and timer tick. Returns 0, or
 * -1 when the URL is unusable (logged; the link then stays down).
 */
int		 rconn_start(const char *, void (*)(void)) CONCORD_WUR;

/*
 * Buffer one command (argc arguments with their lengths) for Redis; the
 * reply is read and discarded (error replies are counted). Returns 0,
 * or -1 when the command was dropped: the link is not up or the output
 * buffer or the count of unanswered commands is at its bound. Never
 * blocks; copies the arguments.
 */
int		 rconn_send(int, const char **, const size_t *) CONCORD_WUR;

/*
 * rconn_send() with a reply callback cb (see rconn_reply_cb) and its
 * argument. Returns 0, and cb will be called once; or -1 when the
 * command was dropped, and cb is never called.
 */
int		 rconn_send_cb(int, const char **, const size_t *,
		    rconn_reply_cb, void *) CONCORD_WUR;

/*
 * How many more commands of up to RCONN_CMD_TYPICAL bytes the link
 * takes now without dropping: 0 while it is not up. Can't fail.
 */
#define RCONN_CMD_TYPICAL	256
u_int32_t	 rconn_room(void);

/*
 * 1 while the link is up: connected, AUTH/SELECT/PING answered, and no
 * command has waited longer than the reply bound. Can't fail.
 */
int		 rconn_up(void);

/* Connection attempts that ended (up or failed) so far. Can't fail. */
u_int64_t	 rconn_attempts(void);

/* While down, try to connect now instead of after the backoff. */
void		 rconn_kick(void);

/* Copy the counters. Can't fail. */
void		 rconn_stats_get(struct rconn_stats *);

#endif
