/*
 * orgcheck: routes served from C (the need taxonomy, the route table)
 * do not call a SQL function, so nothing would notice that a token's
 * organization was deactivated. They ask PostgreSQL once (api.org_status)
 * and remember the answer per worker for a few seconds, so the hot path
 * stays in memory and a deactivation takes effect within ORGCACHE_TTL_MS.
 */
#include <kore/kore.h>
#include <kore/http.h>

#include <string.h>

#include "api.h"

#define ORGCACHE_SIZE		256
#define ORGCACHE_TTL_MS		5000
#define ORGCACHE_REFRESH_MS	2000

struct orgcache_entry {
	char		org[AUTH_ORG_LEN];
	u_int64_t	expires;
	int		active;
	u_int64_t	refreshing;	/* until then one request asks PostgreSQL */
};

static struct orgcache_entry	orgcache[ORGCACHE_SIZE];

static struct orgcache_entry *
orgcache_slot(const char *org)
{
	unsigned int	h = 5381;
	const char	*p;

	for (p = org; *p != '\0'; p++)
		h = h * 33 + (unsigned char)*p;
	return (&orgcache[h % ORGCACHE_SIZE]);
}

static int
orgcheck_done(struct http_request *req, struct api_call *c, int status,
    const char *body, json_t *hdrs)
{
	struct orgcache_entry	*e;

	(void)hdrs;
	c->done = NULL;
	c->orgcheck = ORGCHECK_NONE;
	e = orgcache_slot(c->id.org);
	if (strcmp(e->org, c->id.org) == 0)
		e->refreshing = 0;
	if (status != 200 && status != 403) {
		/* Not an answer about the org (e.g. 503): pass it on. */
		return (api_problem_relay(req, status, body));
	}
	snprintf(e->org, sizeof(e->org), "%s", c->id.org);
	e->active = status == 200;
	e->expires = kore_time_ms() + ORGCACHE_TTL_MS;
	if (status == 403)
		return (api_problem_relay(req, 403, body));
	return (c->route->handler(req, c));
}

int
api_orgcheck(struct http_request *req, struct api_call *c, int *result)
{
	struct orgcache_entry	*e;

	if (c->orgcheck == ORGCHECK_PENDING) {
		*result = api_db_call(req, c, "org_status");
		return (0);
	}
	if (!c->authed || c->id.org[0] == '\0')
		return (1);
	e = orgcache_slot(c->id.org);
	/*
	 * A fresh answer, or a stale one while another request refreshes
	 * it: a burst from one organization costs one query, not one each.
	 */
	if (strcmp(e->org, c->id.org) == 0 && (e->expires > kore_time_ms() ||
	    e->refreshing > kore_time_ms())) {
		if (e->active)
			return (1);
		*result = api_problem(req, 403, "unknown-organization", NULL,
		    "The token's org claim does not name an active "
		    "organization.", NULL);
		return (0);
	}
	/* Bounded, so a refresher whose client went away cannot pin it. */
	if (strcmp(e->org, c->id.org) == 0)
		e->refreshing = kore_time_ms() + ORGCACHE_REFRESH_MS;
	c->orgcheck = ORGCHECK_PENDING;
	c->done = orgcheck_done;
	*result = api_db_call(req, c, "org_status");
	return (0);
}
