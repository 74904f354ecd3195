/*
 * webhooks: the two webhook routes that need C before their SQL
 * function (sql/code/webhooks.sql). POST /v1/webhooks checks the target
 * URL with the one address rule the worker applies again at delivery
 * (common/netguard.c: https unless CONCORD_WEBHOOK_ALLOW_HTTP=1, no
 * loopback, private, link-local, CGNAT, unique-local, unspecified,
 * multicast or reserved address unless CONCORD_WEBHOOK_ALLOW_PRIVATE=1
 * opens the private ones); a host name is checked here when it is an
 * address or a localhost name, and after resolution by the worker.
 * POST /v1/webhooks/{id}/rotate hands SQL the grace period of the old
 * secret (CONCORD_WEBHOOK_ROTATE_GRACE_S). Everything else is SQL.
 */
#include <kore/kore.h>
#include <kore/http.h>

#include "api.h"
#include "../common/netguard.h"

/*
 * POST /v1/webhooks: 422 validation-error naming url when the target
 * breaks the address rule; otherwise the SQL function decides. A url
 * that is not a string is left to SQL, which reports it with the
 * body's other errors. Re-entered while the query runs (the check is
 * pure, so repeating it is harmless).
 */
int
api_webhook_create(struct http_request *req, struct api_call *c)
{
	struct netguard_url	 u;
	json_t			*url;
	const char		*why;

	url = c->body != NULL ? json_object_get(c->body, "url") : NULL;
	if (c->sql_state == API_SQL_IDLE && json_is_string(url) &&
	    netguard_url_check(json_string_value(url),
	    api_cfg.webhook_allow_http, api_cfg.webhook_allow_private, &u,
	    &why) == -1)
		return (api_problem(req, 422, "validation-error", NULL,
		    "The body has invalid or forbidden fields; see errors.",
		    json_pack("[{s:s, s:s}]", "field", "url", "reason", why)));
	return (api_db_call(req, c, c->route->sqlfn));
}

/* POST /v1/webhooks/{id}/rotate: SQL with the grace period in args. */
int
api_webhook_rotate(struct http_request *req, struct api_call *c)
{
	if (c->args == NULL)
		c->args = json_object();
	json_object_set_new(c->args, "rotate_grace_s",
	    json_integer(api_cfg.webhook_rotate_grace_s));
	return (api_db_call(req, c, c->route->sqlfn));
}
