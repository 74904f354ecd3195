/*
 * health: /livez answers from the process alone; /readyz checks that
 * PostgreSQL answers with the schema this build expects and that Redis
 * answers PING. Both are public so orchestrators need no token.
 */
#include <kore/kore.h>
#include <kore/http.h>

#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "../common/rds.h"

#ifndef CONCORD_SCHEMA_VERSION
#error "CONCORD_SCHEMA_VERSION must be set by the Makefile"
#endif

/* Evaluated lazily so a database without migrations still answers. */
#define HEALTH_SQL \
	"SELECT CASE WHEN to_regclass('public.schema_migrations') IS NULL " \
	"THEN 0 ELSE coalesce((xpath('/row/v/text()', query_to_xml(" \
	"'SELECT max(version) AS v FROM public.schema_migrations', " \
	"false, true, '')))[1]::text::int, 0) END"

static int	health_done(struct http_request *, struct api_call *, int,
		    const char *, json_t *);

int
api_livez(struct http_request *req, struct api_call *c)
{
	(void)c;
	return (api_respond_json(req, 200, json_pack("{s:s}", "status",
	    "ok")));
}

int
api_redis_ping(void)
{
	return (rds_ping(api_cfg.redis_url, 250));
}

static int
health_done(struct http_request *req, struct api_call *c, int status,
    const char *body, json_t *hdrs)
{
	json_t	*doc, *checks;
	char	*text;
	int	 version, ok;

	(void)status;
	(void)hdrs;
	version = body != NULL ? atoi(body) : 0;
	ok = (version == CONCORD_SCHEMA_VERSION) && c->scratch == 0;
	checks = json_pack("{s:s, s:s, s:{s:i, s:i}}",
	    "postgres", "ok",
	    "redis", c->scratch == 0 ? "ok" : "unreachable",
	    "schema", "expected", CONCORD_SCHEMA_VERSION, "found", version);
	if (!ok) {
		/* Every 5xx is a problem; the checks ride along as a member. */
		http_response_header(req, "retry-after", "1");
		doc = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:o}",
		    "type", "urn:concord:problem:not-ready",
		    "title", "Service Unavailable", "status", 503,
		    "detail", c->scratch != 0 ? "Redis is unreachable." :
		    "The database schema is not at this build's version.",
		    "instance", req->path, "request_id", c->reqid,
		    "checks", checks);
		return (api_respond_json(req, 503, doc));
	}
	doc = json_pack("{s:s, s:o}", "status", "ready", "checks", checks);
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
	if (c->done == NULL) {
		c->scratch = api_redis_ping() == 0 ? 0 : 1;
		c->done = health_done;
	}
	return (api_db_raw(req, c, HEALTH_SQL));
}
