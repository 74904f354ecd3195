/*
 * metrics: GET /metrics in the Prometheus text format (0.0.4).
 *
 * Kore runs several worker processes and a scrape reaches one of them,
 * so the counters live in one anonymous shared map (mmap MAP_SHARED)
 * made in the parent before the fork: every worker adds to the same
 * cells with relaxed atomic operations and whichever worker answers the
 * scrape reads them all. Figures that only a worker knows (its pool's
 * slots in use and waiters, its Redis link) are published by a one-
 * second timer into that worker's own row of the map; counters that a
 * worker keeps itself (rconn's) are added as deltas, so a restarted
 * worker never makes a total go back. The map is fixed in size: routes
 * x methods x statuses 100..599, plus one row per worker slot.
 *
 * The route is the template ("/v1/cases/{id}"), never the path, and no
 * label carries an id, a subject or an address. Requests Kore answers
 * by itself (a head over its limits, a body over 4x ours) are not
 * counted: they never reach the module.
 *
 * Off unless CONCORD_METRICS_TOKEN is set: then a scrape must send
 * "Authorization: Bearer <that token>" (404 without the setting, 401
 * with a wrong or missing token).
 */
#include <sys/mman.h>

#include <kore/kore.h>
#include <kore/http.h>

#include <stdio.h>
#include <string.h>

#include "api.h"
#include "metrics.h"
#include "rconn.h"
#include "../common/rlimit.h"

#define M_METHODS	8	/* GET HEAD POST PUT PATCH DELETE OPTIONS other */
#define M_STATUSES	500	/* 100..599 */
#define M_BUCKETS	12	/* le buckets below +Inf */
#define M_WORKERS	256	/* by Kore worker id */
#define M_TICK_MS	1000

static const double	m_bounds[M_BUCKETS] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30
};
static const char	*m_methods[M_METHODS] = {
	"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"
};
static const char	*m_limits[RLIMIT_NKINDS] = {
	"subject", "address", "referrals", "auth_failures"
};

/* A worker's own figures, written only by that worker. */
struct m_worker {
	u_int64_t	seen;		/* 1 once the worker published */
	u_int64_t	pool_busy;
	u_int64_t	pool_queued;
	u_int64_t	redis_up;
};

/* One route x method: duration histogram (cumulative at render). */
struct m_hist {
	u_int64_t	count;
	u_int64_t	sum_ms;
	u_int64_t	bucket[M_BUCKETS];	/* not cumulative */
};

struct m_shared {
	u_int64_t	pool_waits;		/* requests that queued */
	u_int64_t	pool_timeouts;		/* ... and gave up: 503 */
	u_int64_t	redis_dropped;
	u_int64_t	redis_failed;
	u_int64_t	redis_lost;
	u_int64_t	rl[RLIMIT_NKINDS][2];	/* allowed, refused */
	struct m_worker	workers[M_WORKERS];
	/* Then (routes + 1) x M_METHODS x (M_STATUSES counters + hist). */
};

static struct m_shared	*m_shm;
static u_int64_t	*m_counts;	/* [route][method][status] */
static struct m_hist	*m_hists;	/* [route][method] */
static size_t		 m_nroutes;	/* api_nroutes + 1 (unmatched) */
static struct rconn_stats m_published;	/* this worker's last deltas */
static unsigned long long m_pool_waits_published;	/* pool waits published */

static int	m_method_index(int);
static size_t	m_route_index(const struct api_call *);
static void	m_tick(void *, u_int64_t);
static void	m_route_text(size_t, char *, size_t);
static int	m_token_ok(struct http_request *);
static void	m_render(struct kore_buf *);

#define M_ADD(p, n)	__atomic_fetch_add((p), (n), __ATOMIC_RELAXED)
#define M_GET(p)	__atomic_load_n((p), __ATOMIC_RELAXED)
#define M_SET(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELAXED)

void
metrics_init(void)
{
	size_t	len;
	void	*p;

	m_nroutes = api_nroutes + 1;
	len = sizeof(struct m_shared) +
	    m_nroutes * M_METHODS * M_STATUSES * sizeof(u_int64_t) +
	    m_nroutes * M_METHODS * sizeof(struct m_hist);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	    -1, 0);
	if (p == MAP_FAILED)
		fatal("metrics: cannot map %zu bytes of shared memory", len);
	m_shm = p;
	m_counts = (u_int64_t *)(void *)(m_shm + 1);
	m_hists = (struct m_hist *)(void *)(m_counts +
	    m_nroutes * M_METHODS * M_STATUSES);
}

void
metrics_worker_start(void)
{
	memset(&m_published, 0, sizeof(m_published));
	m_tick(NULL, 0);
	kore_timer_add(m_tick, M_TICK_MS, NULL, 0);
}

/* Publish this worker's gauges and the growth of its Redis counters. */
static void
m_tick(void *arg, u_int64_t now)
{
	struct rconn_stats	 s;
	struct m_worker		*w;
	unsigned		 busy, queued;
	unsigned long long	 waits;

	(void)arg;
	(void)now;
	if (m_shm == NULL || worker == NULL)
		return;
	w = &m_shm->workers[worker->id % M_WORKERS];
	dbcall_stats(&busy, NULL, &queued, &waits);
	M_ADD(&m_shm->pool_waits, waits - m_pool_waits_published);
	m_pool_waits_published = waits;
	M_SET(&w->pool_busy, (u_int64_t)busy);
	M_SET(&w->pool_queued, (u_int64_t)queued);
	M_SET(&w->redis_up, (u_int64_t)(rconn_up() ? 1 : 0));
	M_SET(&w->seen, 1);
	rconn_stats_get(&s);
	M_ADD(&m_shm->redis_dropped, s.dropped - m_published.dropped);
	M_ADD(&m_shm->redis_failed, s.failed - m_published.failed);
	M_ADD(&m_shm->redis_lost, s.lost - m_published.lost);
	m_published = s;
}

static int
m_method_index(int method)
{
	switch (method) {
	case HTTP_METHOD_GET:
		return (0);
	case HTTP_METHOD_HEAD:
		return (1);
	case HTTP_METHOD_POST:
		return (2);
	case HTTP_METHOD_PUT:
		return (3);
	case HTTP_METHOD_PATCH:
		return (4);
	case HTTP_METHOD_DELETE:
		return (5);
	case HTTP_METHOD_OPTIONS:
		return (6);
	default:
		return (7);
	}
}

/* The route's row; the last row is "no route matched". */
static size_t
m_route_index(const struct api_call *c)
{
	if (c == NULL || c->route == NULL)
		return (m_nroutes - 1);
	return ((size_t)(c->route - api_routes));
}

void
metrics_request(struct http_request *req, struct api_call *c, int status)
{
	struct m_hist	*h;
	u_int64_t	 ms;
	size_t		 r, i;
	int		 m;

	if (m_shm == NULL)
		return;
	r = m_route_index(c);
	m = m_method_index(req->method);
	if (status >= 100 && status <= 599)
		M_ADD(&m_counts[(r * M_METHODS + (size_t)m) * M_STATUSES +
		    (size_t)(status - 100)], 1);
	ms = c != NULL ? kore_time_ms() - c->t0 : 0;
	h = &m_hists[r * M_METHODS + (size_t)m];
	M_ADD(&h->count, 1);
	M_ADD(&h->sum_ms, ms);
	for (i = 0; i < M_BUCKETS; i++) {
		if ((double)ms / 1000.0 <= m_bounds[i]) {
			M_ADD(&h->bucket[i], 1);
			break;
		}
	}
}

void
metrics_pool_timeout(void)
{
	if (m_shm != NULL)
		M_ADD(&m_shm->pool_timeouts, 1);
}

void
metrics_ratelimit(int kind, int refused)
{
	if (m_shm != NULL && kind >= 0 && kind < RLIMIT_NKINDS)
		M_ADD(&m_shm->rl[kind][refused ? 1 : 0], 1);
}

/* The route's template as the contract spells it ({id:int} is {id}). */
static void
m_route_text(size_t r, char *buf, size_t len)
{
	char	*colon;

	if (r >= api_nroutes) {
		snprintf(buf, len, "unmatched");
		return;
	}
	snprintf(buf, len, "%s", api_routes[r].pattern);
	while ((colon = strstr(buf, ":int}")) != NULL)
		memmove(colon, colon + 4, strlen(colon + 4) + 1);
}

/* Constant-time comparison of the bearer token. Returns 1 when it fits. */
static int
m_token_ok(struct http_request *req)
{
	const char	*h, *want = api_cfg.metrics_token;
	size_t		 i, n, wn;
	unsigned char	 diff = 0;

	if (!http_request_header(req, "authorization", &h) ||
	    strncasecmp(h, "Bearer ", 7) != 0)
		return (0);
	h += 7;
	n = strlen(h);
	wn = strlen(want);
	for (i = 0; i < wn; i++)
		diff |= (unsigned char)(want[i] ^ (i < n ? h[i] : 0));
	return (diff == 0 && n == wn);
}

static void
m_render(struct kore_buf *b)
{
	struct m_hist	*h;
	u_int64_t	 v, cum, busy = 0, queued = 0, up = 0, nw = 0;
	char		 route[256];
	size_t		 r, s, i, k;
	int		 m;

	kore_buf_appendf(b,
	    "# HELP concord_http_requests_total HTTP requests answered by "
	    "the API, by route template, method and status.\n"
	    "# TYPE concord_http_requests_total counter\n");
	for (r = 0; r < m_nroutes; r++) {
		m_route_text(r, route, sizeof(route));
		for (m = 0; m < M_METHODS; m++) {
			for (s = 0; s < M_STATUSES; s++) {
				v = M_GET(&m_counts[(r * M_METHODS +
				    (size_t)m) * M_STATUSES + s]);
				if (v == 0)
					continue;
				kore_buf_appendf(b, "concord_http_requests_total"
				    "{route=\"%s\",method=\"%s\",status=\"%zu\"}"
				    " %llu\n", route, m_methods[m], s + 100,
				    (unsigned long long)v);
			}
		}
	}
	kore_buf_appendf(b,
	    "# HELP concord_http_request_duration_seconds Time from a "
	    "request's routing to its answer.\n"
	    "# TYPE concord_http_request_duration_seconds histogram\n");
	for (r = 0; r < m_nroutes; r++) {
		m_route_text(r, route, sizeof(route));
		for (m = 0; m < M_METHODS; m++) {
			h = &m_hists[r * M_METHODS + (size_t)m];
			if ((v = M_GET(&h->count)) == 0)
				continue;
			cum = 0;
			for (k = 0; k < M_BUCKETS; k++) {
				cum += M_GET(&h->bucket[k]);
				kore_buf_appendf(b,
				    "concord_http_request_duration_seconds_"
				    "bucket{route=\"%s\",method=\"%s\","
				    "le=\"%g\"} %llu\n", route, m_methods[m],
				    m_bounds[k], (unsigned long long)cum);
			}
			/* +Inf is the count, read after the buckets. */
			if (v < cum)
				v = cum;
			kore_buf_appendf(b,
			    "concord_http_request_duration_seconds_bucket"
			    "{route=\"%s\",method=\"%s\",le=\"+Inf\"} %llu\n"
			    "concord_http_request_duration_seconds_sum"
			    "{route=\"%s\",method=\"%s\"} %.3f\n"
			    "concord_http_request_duration_seconds_count"
			    "{route=\"%s\",method=\"%s\"} %llu\n",
			    route, m_methods[m], (unsigned long long)v,
			    route, m_methods[m],
			    (double)M_GET(&h->sum_ms) / 1000.0,
			    route, m_methods[m], (unsigned long long)v);
		}
	}
	for (i = 0; i < M_WORKERS; i++) {
		if (!M_GET(&m_shm->workers[i].seen))
			continue;
		nw++;
		busy += M_GET(&m_shm->workers[i].pool_busy);
		queued += M_GET(&m_shm->workers[i].pool_queued);
		up += M_GET(&m_shm->workers[i].redis_up);
	}
	kore_buf_appendf(b,
	    "# HELP concord_api_workers Kore worker processes that "
	    "published their figures.\n"
	    "# TYPE concord_api_workers gauge\n"
	    "concord_api_workers %llu\n"
	    "# HELP concord_db_pool_connections Database connections the "
	    "pool holds for requests now, over all workers.\n"
	    "# TYPE concord_db_pool_connections gauge\n"
	    "concord_db_pool_connections{state=\"in_use\"} %llu\n"
	    "concord_db_pool_connections{state=\"max\"} %llu\n"
	    "# HELP concord_db_pool_waiting_requests Requests waiting for a "
	    "pooled connection now.\n"
	    "# TYPE concord_db_pool_waiting_requests gauge\n"
	    "concord_db_pool_waiting_requests %llu\n"
	    "# HELP concord_db_pool_waits_total Requests that had to wait for "
	    "a pooled connection.\n"
	    "# TYPE concord_db_pool_waits_total counter\n"
	    "concord_db_pool_waits_total %llu\n"
	    "# HELP concord_db_pool_wait_timeouts_total Requests answered 503 "
	    "because no connection freed up in time.\n"
	    "# TYPE concord_db_pool_wait_timeouts_total counter\n"
	    "concord_db_pool_wait_timeouts_total %llu\n",
	    (unsigned long long)nw, (unsigned long long)busy,
	    (unsigned long long)(nw * (u_int64_t)api_cfg.db_pool),
	    (unsigned long long)queued,
	    (unsigned long long)M_GET(&m_shm->pool_waits),
	    (unsigned long long)M_GET(&m_shm->pool_timeouts));
	kore_buf_appendf(b,
	    "# HELP concord_redis_up 1 when every worker's Redis link is up; "
	    "without it the API still serves (jobs wait in PostgreSQL).\n"
	    "# TYPE concord_redis_up gauge\n"
	    "concord_redis_up %d\n"
	    "# HELP concord_redis_errors_total Redis trouble seen by the API: "
	    "commands dropped, error replies, links lost.\n"
	    "# TYPE concord_redis_errors_total counter\n"
	    "concord_redis_errors_total{kind=\"dropped\"} %llu\n"
	    "concord_redis_errors_total{kind=\"error_reply\"} %llu\n"
	    "concord_redis_errors_total{kind=\"link_lost\"} %llu\n",
	    nw > 0 && up == nw ? 1 : 0,
	    (unsigned long long)M_GET(&m_shm->redis_dropped),
	    (unsigned long long)M_GET(&m_shm->redis_failed),
	    (unsigned long long)M_GET(&m_shm->redis_lost));
	kore_buf_appendf(b,
	    "# HELP concord_ratelimit_decisions_total Rate-limit checks, by "
	    "limit and decision.\n"
	    "# TYPE concord_ratelimit_decisions_total counter\n");
	for (i = 0; i < RLIMIT_NKINDS; i++) {
		kore_buf_appendf(b, "concord_ratelimit_decisions_total"
		    "{limit=\"%s\",decision=\"allowed\"} %llu\n"
		    "concord_ratelimit_decisions_total"
		    "{limit=\"%s\",decision=\"refused\"} %llu\n",
		    m_limits[i], (unsigned long long)M_GET(&m_shm->rl[i][0]),
		    m_limits[i], (unsigned long long)M_GET(&m_shm->rl[i][1]));
	}
}

int
api_metrics(struct http_request *req, struct api_call *c)
{
	struct kore_buf	*b;

	(void)c;
	if (api_cfg.metrics_token == NULL || m_shm == NULL)
		return (api_problem(req, 404, "not-found", NULL,
		    "No resource lives at this path.", NULL));
	if (!m_token_ok(req)) {
		http_response_header(req, "www-authenticate",
		    "Bearer realm=\"concord-metrics\"");
		return (api_problem(req, 401, "unauthenticated", NULL,
		    "The metrics token is required.", NULL));
	}
	m_tick(NULL, 0);
	b = kore_buf_alloc(16384);
	m_render(b);
	api_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8",
	    b->data, b->offset);
	kore_buf_free(b);
	return (KORE_RESULT_OK);
}
