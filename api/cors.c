/*
 * cors: cross-origin access for browser clients on the origins named in
 * CONCORD_CORS_ORIGINS (none by default). api_respond() calls
 * api_cors_headers() on every response; the router hands a preflight
 * (OPTIONS with Origin and Access-Control-Request-Method on a path the
 * route table serves) to api_cors_preflight(). The origin is echoed,
 * never "*": the API takes bearer tokens. A refused origin gets no CORS
 * header at all, and its preflight a 403 problem.
 */
#include <kore/kore.h>
#include <kore/http.h>

#include <string.h>

#include "api.h"

/* What a browser may send and read, and how long it may keep the answer. */
#define CORS_ALLOW_HEADERS	"Authorization, Content-Type, If-Match, " \
				"If-None-Match, Idempotency-Key, X-Request-Id"
#define CORS_EXPOSE_HEADERS	"ETag, Location, X-Request-Id, Retry-After, " \
				"RateLimit, RateLimit-Policy"
#define CORS_MAX_AGE		"600"

static int	cors_origin_allowed(const char *);

/* Is origin in the allow-list? Exact match, case-insensitive. */
static int
cors_origin_allowed(const char *origin)
{
	const char	*p, *end;
	size_t		 n, len;

	if (api_cfg.cors_origins == NULL || origin == NULL)
		return (0);
	len = strlen(origin);
	for (p = api_cfg.cors_origins; *p != '\0'; p = end + (*end == ',')) {
		if ((end = strchr(p, ',')) == NULL)
			end = p + strlen(p);
		n = (size_t)(end - p);
		if (n == len && strncasecmp(p, origin, n) == 0)
			return (1);
	}
	return (0);
}

void
api_cors_headers(struct http_request *req)
{
	const char	*origin;

	if (api_cfg.cors_origins == NULL)
		return;
	/* Shared caches must not hand one origin's answer to another. */
	http_response_header(req, "vary", "Origin");
	if (!http_request_header(req, "origin", &origin) ||
	    !cors_origin_allowed(origin))
		return;
	http_response_header(req, "access-control-allow-origin", origin);
	http_response_header(req, "access-control-expose-headers",
	    CORS_EXPOSE_HEADERS);
}

int
api_cors_is_preflight(struct http_request *req)
{
	const char	*v;

	return (req->method == HTTP_METHOD_OPTIONS &&
	    http_request_header(req, "origin", &v) &&
	    http_request_header(req, "access-control-request-method", &v));
}

int
api_cors_preflight(struct http_request *req, struct api_call *c)
{
	const char	*origin;
	char		 allow[64];

	if (!http_request_header(req, "origin", &origin) ||
	    !cors_origin_allowed(origin))
		return (api_problem(req, 403, "cors-origin-refused", NULL,
		    "This origin may not call the API from a browser.", NULL));
	api_methods_text(c->preflight, allow, sizeof(allow));
	http_response_header(req, "access-control-allow-methods", allow);
	http_response_header(req, "access-control-allow-headers",
	    CORS_ALLOW_HEADERS);
	http_response_header(req, "access-control-max-age", CORS_MAX_AGE);
	return (api_respond(req, 204, NULL, NULL, 0));
}
