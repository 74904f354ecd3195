/*
 * health: /livez answers from the process alone; /readyz checks that
 * PostgreSQL answers with the schema version and the code checksum this
 * build expects, and that this worker's Redis link (rconn.c) is up.
 * Both are public so orchestrators need no token.
 *
 * Redis is judged from the link's last known state, never by connecting
 * per probe. When the link is not up, a probe asks it to try at once
 * and waits (asleep, without blocking the event loop) up to
 * HEALTH_REDIS_WAIT_MS for that attempt to end.
 *
 * Ready means "can serve": Redis only carries wake-ups and shared rate
 * limits, jobs wait in PostgreSQL and the worker polls, so Redis down
 * answers 200 with "status": "degraded" and checks.redis "unreachable"
 * (and concord_redis_up 0 in /metrics); taking replicas out of service
 * for it would turn a slow-down into an outage.
 */
#include <kore/kore.h>
#include <kore/http.h>

#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "rconn.h"
#include "drain.h"

#ifndef CONCORD_SCHEMA_VERSION
#error "CONCORD_SCHEMA_VERSION must be set by the Makefile"
#endif

/* SHA-256 (hex) of sql/ code this build ships; "" = not checked. */
#ifndef CONCORD_CODE_CHECKSUM
#define CONCORD_CODE_CHECKSUM	""
#endif

#define HEALTH_REDIS_WAIT_MS	250
#define HEALTH_PARK_MAX		32	/* probes waiting on Redis at once */

/* Flags in c->scratch. */
#define HEALTH_WAITING		0x01	/* parked until the link settles */
#define HEALTH_REDIS_DOWN	0x02

/*
 * One round trip: {"version": <int>, "checksum": <text>}. Each table
 * is read lazily (query_to_xml) so a database without migrations, or
 * without public.schema_code yet, still answers: absent counts as 0
 * and "" respectively; a schema_code the API role may not read is
 * reported as such rather than failing the probe.
 */
#define HEALTH_SQL \
	"SELECT json_build_object('version', CASE WHEN " \
	"to_regclass('public.schema_migrations') IS NULL THEN 0 ELSE " \
	"coalesce((xpath('/row/v/text()', query_to_xml(" \
	"'SELECT max(version) AS v FROM public.schema_migrations', " \
	"false, true, '')))[1]::text::int, 0) END, 'checksum', CASE WHEN " \
	"to_regclass('public.schema_code') IS NULL THEN '' WHEN NOT " \
	"has_table_privilege('public.schema_code', 'SELECT') THEN " \
	"'(not readable by the API role)' ELSE " \
	"coalesce((xpath('/row/c/text()', query_to_xml(" \
	"'SELECT checksum AS c FROM public.schema_code LIMIT 1', " \
	"false, true, '')))[1]::text, '') END)::text"

static struct http_request	*health_parked[HEALTH_PARK_MAX];

static int	health_park(struct http_request *);
static int	health_redis(struct http_request *, struct api_call *);
static int	health_done(struct http_request *, struct api_call *, int,
		    const char *, json_t *);

int
api_livez(struct http_request *req, struct api_call *c)
{
	(void)c;
	return (api_respond_json(req, 200, json_pack("{s:s}", "status",
	    "ok")));
}

/* Wake every parked probe; each decides again (link notify callback). */
void
api_readyz_wake(void)
{
	size_t	i;

	for (i = 0; i < HEALTH_PARK_MAX; i++) {
		if (health_parked[i] != NULL) {
			http_request_wakeup(health_parked[i]);
			health_parked[i] = NULL;
		}
	}
}

void
api_readyz_cleanup(struct http_request *req)
{
	size_t	i;

	for (i = 0; i < HEALTH_PARK_MAX; i++) {
		if (health_parked[i] == req)
			health_parked[i] = NULL;
	}
}

/* Sleep until the link's next tick or change. Returns 0 when full. */
static int
health_park(struct http_request *req)
{
	size_t	i;

	for (i = 0; i < HEALTH_PARK_MAX; i++) {
		if (health_parked[i] == NULL) {
			health_parked[i] = req;
			http_request_sleep(req);
			return (1);
		}
	}
	return (0);
}

/*
 * Decide Redis's state into c->scratch. Returns 1 when decided, 0 when
 * the probe parked itself (the caller returns KORE_RESULT_RETRY).
 */
static int
health_redis(struct http_request *req, struct api_call *c)
{
	if (!(c->scratch & HEALTH_WAITING)) {
		if (rconn_up())
			return (1);
		c->wait_mark = rconn_attempts();
		c->wait_until = kore_time_ms() + HEALTH_REDIS_WAIT_MS;
		c->scratch |= HEALTH_WAITING;
		rconn_kick();
	}
	if (rconn_up()) {
		c->scratch &= ~HEALTH_WAITING;
		return (1);
	}
	if (rconn_attempts() != c->wait_mark ||
	    kore_time_ms() >= c->wait_until || !health_park(req)) {
		c->scratch &= ~HEALTH_WAITING;
		c->scratch |= HEALTH_REDIS_DOWN;
		return (1);
	}
	return (0);
}

static int
health_done(struct http_request *req, struct api_call *c, int status,
    const char *body, json_t *hdrs)
{
	json_t		*doc, *checks, *db;
	const char	*found, *detail = NULL;
	char		*text;
	int		 version, redis_ok;

	(void)status;
	(void)hdrs;
	db = body != NULL ? json_loads(body, 0, NULL) : NULL;
	version = (int)json_integer_value(json_object_get(db, "version"));
	found = json_string_value(json_object_get(db, "checksum"));
	if (found == NULL)
		found = "";
	redis_ok = !(c->scratch & HEALTH_REDIS_DOWN);
	checks = json_pack("{s:s, s:s, s:{s:i, s:i}, s:{s:s, s:s}}",
	    "postgres", "ok",
	    "redis", redis_ok ? "ok" : "unreachable",
	    "schema", "expected", CONCORD_SCHEMA_VERSION, "found", version,
	    "code", "expected", CONCORD_CODE_CHECKSUM, "found", found);
	if (version != CONCORD_SCHEMA_VERSION)
		detail = "The database schema is not at this build's version.";
	else if (CONCORD_CODE_CHECKSUM[0] != '\0' &&
	    strcmp(found, CONCORD_CODE_CHECKSUM) != 0)
		detail = "The database code is not this build's (its "
		    "checksum differs); apply this build's SQL code.";
	json_decref(db);
	if (detail != NULL) {
		/* Every 5xx is a problem; the checks ride along as a member. */
		http_response_header(req, "retry-after", "1");
		return (api_problem_with(req, 503, "not-ready", NULL, detail,
		    json_pack("{s:o}", "checks", checks)));
	}
	doc = json_pack("{s:s, s:o}", "status", redis_ok ? "ready" :
	    "degraded", "checks", checks);
	text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(doc);
	api_respond(req, 200, "application/json", text,
	    text != NULL ? strlen(text) : 0);
	free(text);
	return (KORE_RESULT_OK);
}

int
api_readyz(struct http_request *req, struct api_call *c)
{
	/* SIGTERM: out of the load balancer while requests drain. */
	if (drain_active()) {
		http_response_header(req, "retry-after", "1");
		return (api_problem(req, 503, "not-ready", NULL,
		    "This replica is shutting down.", NULL));
	}
	if (c->done == NULL) {
		if (!health_redis(req, c))
			return (KORE_RESULT_RETRY);
		c->done = health_done;
	}
	return (api_db_raw(req, c, HEALTH_SQL));
}
