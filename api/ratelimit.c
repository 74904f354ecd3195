/*
 * ratelimit: fixed one-minute windows (aligned on the wall clock, so
 * every replica agrees on them) counted per token subject, per client
 * address, per subject on POST /v1/referrals and per address for
 * failed authentication. A decision never waits on Redis: each Kore
 * worker keeps its counters in a fixed table (common/rlimit.c) and
 * decides on the last total Redis reported for the key plus its own
 * increments Redis has not acknowledged yet. Every RL_TICK_MS a timer
 * pushes what is due with INCRBY + EXPIRE on the worker's non-blocking
 * link (rconn.c) and keeps the totals from the replies; a key that was
 * only consulted is refreshed with INCRBY 0, so a replica learns what
 * the others counted within about one push interval. While the link is
 * down each worker enforces its own counts only (fail open), counts
 * those decisions and says so in the log at most every RL_LOG_MS.
 */
#include <kore/kore.h>
#include <kore/http.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "ratelimit.h"
#include "metrics.h"
#include "rconn.h"
#include "../common/log.h"
#include "../common/rlimit.h"

#define RL_TICK_MS	100	/* push interval */
#define RL_LOG_MS	5000	/* at most one fail-open line per period */
#define RL_RESERVE	64	/* link slots left for job wake-ups */
#define RL_PUSH_MAX	128	/* keys pushed per tick at most */
#define RL_TTL		"120"	/* seconds a window's key lives in Redis */

static struct rlimit_table	rl_table;
static u_int64_t		rl_local_only;	/* decisions without Redis */
static u_int64_t		rl_logged_local;
static u_int64_t		rl_unexpired;	/* EXPIRE not buffered */
static u_int64_t		rl_logged_lost;
static u_int64_t		rl_log_at;

/* What a 429 names, by enum rlimit_kind. */
static const char	*rl_members[RLIMIT_NKINDS] = {
	"subject", "address", "referrals", "auth_failures"
};
static const char	*rl_details[RLIMIT_NKINDS] = {
	"Too many requests for this token subject: at most %d a minute.",
	"Too many requests from this client address: at most %d a minute.",
	"Too many referrals created by this token subject: at most %d a "
	    "minute.",
	"Too many failed authentications from this client address: at "
	    "most %d a minute; its requests are refused until the window "
	    "ends.",
};

static int	rl_limit(enum rlimit_kind);
static u_int32_t rl_window(u_int32_t *);
static void	rl_addr_v4(const struct in_addr *, char *, size_t);
static void	rl_addr_v6(const struct in6_addr *, char *, size_t);
static void	rl_client_addr(struct http_request *, char *, size_t);
static int	rl_check(struct api_call *, enum rlimit_kind, const char *,
		    int);
static int	rl_refuse(struct http_request *, struct api_call *,
		    enum rlimit_kind);
static int	rl_push(struct rlimit_entry *, uint32_t, void *);
static void	rl_reply(void *, const struct redisReply *);
static void	rl_tick(void *, u_int64_t);

void
ratelimit_start(void)
{
	rlimit_init(&rl_table);
	kore_timer_add(rl_tick, RL_TICK_MS, NULL, 0);
}

/* The configured limit of a kind; 0 when it is off. */
static int
rl_limit(enum rlimit_kind kind)
{
	switch (kind) {
	case RLIMIT_SUB:
		return (api_cfg.rate_limit_sub);
	case RLIMIT_ADDR:
		return (api_cfg.rate_limit_addr);
	case RLIMIT_REFERRALS:
		return (api_cfg.rate_limit_referrals);
	case RLIMIT_AUTH_FAILURES:
		return (api_cfg.rate_limit_auth_failures);
	default:
		fatal("rl_limit: kind %d", kind);
	}
}

/* The current window; *reset gets the seconds left in it (1..60). */
static u_int32_t
rl_window(u_int32_t *reset)
{
	time_t	now = time(NULL);

	*reset = RLIMIT_WINDOW - (u_int32_t)(now % RLIMIT_WINDOW);
	return ((u_int32_t)(now / RLIMIT_WINDOW));
}

static void
rl_addr_v4(const struct in_addr *a, char *buf, size_t len)
{
	if (inet_ntop(AF_INET, a, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
}

/*
 * An IPv6 client usually holds a whole /64, so the /64 is the key; an
 * IPv4-mapped address is its IPv4 address.
 */
static void
rl_addr_v6(const struct in6_addr *a, char *buf, size_t len)
{
	struct in6_addr	net;
	struct in_addr	v4;

	if (IN6_IS_ADDR_V4MAPPED(a)) {
		memcpy(&v4, &a->s6_addr[12], sizeof(v4));
		rl_addr_v4(&v4, buf, len);
		return;
	}
	net = *a;
	memset(&net.s6_addr[8], 0, 8);
	if (inet_ntop(AF_INET6, &net, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
	else
		strncat(buf, "/64", len - strlen(buf) - 1);
}

/*
 * The client address: the first address in CONCORD_CLIENT_IP_HEADER
 * when that is configured and holds one, else the socket's peer. The
 * header is trusted as is: only an ingress that sets it may reach us.
 */
static void
rl_client_addr(struct http_request *req, char *buf, size_t len)
{
	struct in_addr		 a4;
	struct in6_addr		 a6;
	const char		*h;
	char			 tmp[64];
	size_t			 n;

	if (api_cfg.client_ip_header != NULL &&
	    http_request_header(req, api_cfg.client_ip_header, &h)) {
		h += strspn(h, " \t");
		n = strcspn(h, ", \t");
		if (n > 0 && n < sizeof(tmp)) {
			memcpy(tmp, h, n);
			tmp[n] = '\0';
			if (inet_pton(AF_INET, tmp, &a4) == 1) {
				rl_addr_v4(&a4, buf, len);
				return;
			}
			if (inet_pton(AF_INET6, tmp, &a6) == 1) {
				rl_addr_v6(&a6, buf, len);
				return;
			}
		}
	}
	switch (req->owner->family) {
	case AF_INET:
		rl_addr_v4(&req->owner->addr.ipv4.sin_addr, buf, len);
		break;
	case AF_INET6:
		rl_addr_v6(&req->owner->addr.ipv6.sin6_addr, buf, len);
		break;
	default:
		snprintf(buf, len, "local");
		break;
	}
}

/*
 * Decide one request against kind's limit for id and, when count is
 * set, count it and let the policy closest to exhaustion fill c's
 * RateLimit header state. Returns 1 when admitted (also when the limit
 * is off or the table has no room: fail open), or 0 when the limit is
 * reached, with c's header state set to this policy.
 */
static int
rl_check(struct api_call *c, enum rlimit_kind kind, const char *id, int count)
{
	struct rlimit_entry	*e;
	u_int32_t		 limit, window, reset, n;
	int			 shared;

	if ((limit = (u_int32_t)rl_limit(kind)) == 0)
		return (1);
	window = rl_window(&reset);
	if ((e = rlimit_get(&rl_table, kind, id, window)) == NULL)
		return (1);
	if (!(shared = rconn_up()))
		rl_local_only++;
	n = rlimit_count(e, shared);
	if (n < limit)
		metrics_ratelimit((int)kind, 0);
	if (n >= limit) {
		metrics_ratelimit((int)kind, 1);
		c->rl_limit = limit;
		c->rl_remaining = 0;
		c->rl_reset = reset;
		return (0);
	}
	if (!count)
		return (1);
	rlimit_hit(&rl_table, e);
	n++;
	if (c->rl_limit == 0 || limit - n < c->rl_remaining) {
		c->rl_limit = limit;
		c->rl_remaining = limit - n;
		c->rl_reset = reset;
	}
	return (1);
}

/* Answer 429 for kind (c's header state names it). Returns 0. */
static int
rl_refuse(struct http_request *req, struct api_call *c, enum rlimit_kind kind)
{
	char	detail[256], retry[16];

	snprintf(retry, sizeof(retry), "%u", c->rl_reset);
	http_response_header(req, "retry-after", retry);
	snprintf(detail, sizeof(detail), rl_details[kind], rl_limit(kind));
	api_problem_with(req, 429, "rate-limited", NULL, detail,
	    json_pack("{s:s}", "rate_limit", rl_members[kind]));
	return (0);
}

int
ratelimit_address(struct http_request *req, struct api_call *c)
{
	if (c->route->flags & ROUTE_PUBLIC)
		return (1);
	rl_client_addr(req, c->rl_addr, sizeof(c->rl_addr));
	if (!rl_check(c, RLIMIT_AUTH_FAILURES, c->rl_addr, 0))
		return (rl_refuse(req, c, RLIMIT_AUTH_FAILURES));
	if (!rl_check(c, RLIMIT_ADDR, c->rl_addr, 1))
		return (rl_refuse(req, c, RLIMIT_ADDR));
	return (1);
}

int
ratelimit_subject(struct http_request *req, struct api_call *c)
{
	if ((c->route->flags & ROUTE_PUBLIC) || !c->authed)
		return (1);
	if (!rl_check(c, RLIMIT_SUB, c->id.sub, 1))
		return (rl_refuse(req, c, RLIMIT_SUB));
	if ((c->route->flags & ROUTE_REFERRALS) &&
	    !rl_check(c, RLIMIT_REFERRALS, c->id.sub, 1))
		return (rl_refuse(req, c, RLIMIT_REFERRALS));
	return (1);
}

void
ratelimit_auth_failed(struct api_call *c)
{
	struct rlimit_entry	*e;
	u_int32_t		 window, reset;

	if (api_cfg.rate_limit_auth_failures == 0 || c->rl_addr[0] == '\0')
		return;
	window = rl_window(&reset);
	if ((e = rlimit_get(&rl_table, RLIMIT_AUTH_FAILURES, c->rl_addr,
	    window)) != NULL)
		rlimit_hit(&rl_table, e);
}

void
ratelimit_headers(struct http_request *req, struct api_call *c)
{
	char	v[96];

	if (c == NULL || c->rl_limit == 0)
		return;
	snprintf(v, sizeof(v), "%u;w=%d", c->rl_limit, RLIMIT_WINDOW);
	http_response_header(req, "ratelimit-policy", v);
	snprintf(v, sizeof(v), "limit=%u, remaining=%u, reset=%u",
	    c->rl_limit, c->rl_remaining, c->rl_reset);
	http_response_header(req, "ratelimit", v);
}

/*
 * rlimit_push_due()'s push: INCRBY the window's key by n (0 refreshes
 * the total) and EXPIRE it, pipelined; the INCRBY's reply comes back in
 * rl_reply(). The entry stays put while it is BUSY (rlimit.h), so it
 * is the callback's argument.
 */
static int
rl_push(struct rlimit_entry *e, uint32_t n, void *arg)
{
	const char	*argv[3];
	size_t		 lens[3];
	char		 key[RLIMIT_KEY_MAX], num[16];

	(void)arg;
	argv[0] = "INCRBY";
	argv[1] = key;
	argv[2] = num;
	lens[0] = 6;
	lens[1] = rlimit_redis_key(e, key);
	lens[2] = (size_t)snprintf(num, sizeof(num), "%u", n);
	if (rconn_send_cb(3, argv, lens, rl_reply, e) == -1)
		return (-1);
	/* rconn_room() said both fit; a key cannot outlive its TTL. */
	argv[0] = "EXPIRE";
	argv[2] = RL_TTL;
	lens[0] = 6;
	lens[2] = strlen(RL_TTL);
	if (rconn_send(3, argv, lens) == -1)
		rl_unexpired++;
	return (0);
}

/* The INCRBY's reply: the key's new total, or NULL (link lost). */
static void
rl_reply(void *arg, const struct redisReply *r)
{
	rlimit_push_done(arg, r != NULL && r->type == REDIS_REPLY_INTEGER ?
	    r->integer : -1);
}

/* Every RL_TICK_MS: push what is due, within the link's room. */
static void
rl_tick(void *arg, u_int64_t now)
{
	u_int32_t	room, reset, window;
	size_t		max;
	u_int64_t	lost;

	(void)arg;
	window = rl_window(&reset);
	room = rconn_room();
	max = room > RL_RESERVE ? (room - RL_RESERVE) / 2 : 0;
	if (max > RL_PUSH_MAX)
		max = RL_PUSH_MAX;
	(void)rlimit_push_due(&rl_table, window, max, rl_push, NULL);

	if (now - rl_log_at < RL_LOG_MS)
		return;
	lost = rl_table.rt_evicted + rl_table.rt_full + rl_unexpired;
	if (rl_local_only != rl_logged_local) {
		rl_log_at = now;
		rl_logged_local = rl_local_only;
		concord_log(LOG_LVL_WARN, "rate limits enforced per worker "
		    "only", json_pack("{s:s, s:I}", "reason", "redis link down",
		    "local_only_total", (json_int_t)rl_local_only));
	}
	if (lost != rl_logged_lost) {
		rl_log_at = now;
		rl_logged_lost = lost;
		concord_log(LOG_LVL_WARN, "rate limit counters lost",
		    json_pack("{s:I, s:I, s:I}", "evicted_total",
		    (json_int_t)rl_table.rt_evicted, "unplaced_total",
		    (json_int_t)rl_table.rt_full, "unexpired_total",
		    (json_int_t)rl_unexpired));
	}
}
