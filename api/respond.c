/*
 * respond: the single way out of the API. api_problem() is the error
 * funnel (RFC 9457 problem+json) for problems C finds, and
 * api_problem_relay() for those a route's SQL function raised;
 * api_respond() sets X-Request-Id, the RateLimit, CORS (cors.c) and
 * security headers and writes the access log line (ids, route, status
 * and time only).
 */
#include <kore/kore.h>
#include <kore/http.h>

#include <string.h>

#include "api.h"
#include "metrics.h"
#include "ratelimit.h"
#include "../common/log.h"
#include "../common/problem.h"

int
api_respond(struct http_request *req, int status, const char *ctype,
    const void *body, size_t len)
{
	struct api_call	*c = req->hdlr_extra;
	json_t		*f;

	if (c != NULL && c->reqid[0] != '\0')
		http_response_header(req, "x-request-id", c->reqid);
	if (ctype != NULL)
		http_response_header(req, "content-type", ctype);
	/*
	 * Personal data must stay out of browser and proxy caches; the
	 * API is never a page to frame, sniff or render, and sends no
	 * Referer onward.
	 */
	if (c != NULL && c->route != NULL && (c->route->flags & ROUTE_OPEN) &&
	    (status == 200 || status == 304))
		/* The public face holds nothing personal (routes.c). */
		http_response_header(req, "cache-control",
		    "public, max-age=300");
	else
		http_response_header(req, "cache-control", "no-store");
	http_response_header(req, "x-content-type-options", "nosniff");
	http_response_header(req, "referrer-policy", "no-referrer");
	if (c == NULL || !c->own_csp)
		http_response_header(req, "content-security-policy",
		    "default-src 'none'; frame-ancestors 'none'");
	api_cors_headers(req);
	ratelimit_headers(req, c);
	http_response(req, status, body, len);
	metrics_request(req, c, status);

	f = json_pack("{s:s, s:s, s:s, s:i, s:I}",
	    "request_id", c != NULL ? c->reqid : "",
	    "method", http_method_text(req->method),
	    "route", (c != NULL && c->route != NULL) ? c->route->pattern :
	    "-", "status", status,
	    "duration_ms", (json_int_t)(kore_time_ms() -
	    (c != NULL ? c->t0 : kore_time_ms())));
	if (c != NULL && c->authed && f != NULL)
		json_object_set_new(f, "org", json_string(c->id.org));
	concord_log(status >= 500 ? LOG_LVL_ERROR : LOG_LVL_INFO, "request",
	    f);
	return (KORE_RESULT_OK);
}

int
api_respond_json(struct http_request *req, int status, json_t *doc)
{
	char	*s;
	int	 r;

	s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (s == NULL)
		return (api_problem(req, 500, "internal", NULL,
		    "The response could not be encoded.", NULL));
	r = api_respond(req, status, status >= 400 ?
	    "application/problem+json" : "application/json", s, strlen(s));
	free(s);
	return (r);
}

/*
 * Answer an RFC 9457 problem. slug names the problem type
 * (urn:concord:problem:<slug>); title defaults to the status text;
 * errors, when given, is an array of {field, reason} and is stolen.
 */
int
api_problem(struct http_request *req, int status, const char *slug,
    const char *title, const char *detail, json_t *errors)
{
	json_t	*members = NULL;

	if (errors != NULL)
		members = json_pack("{s:o}", "errors", errors);
	return (api_problem_with(req, status, slug, title, detail, members));
}

/*
 * api_problem() with extension members: every member of the object
 * members (stolen; NULL for none) joins the problem document, except
 * that the standard members (type, title, status, detail, instance,
 * request_id) can't be replaced.
 */
int
api_problem_with(struct http_request *req, int status, const char *slug,
    const char *title, const char *detail, json_t *members)
{
	struct api_call	*c = req->hdlr_extra;
	json_t		*p;
	char		 type[128];

	snprintf(type, sizeof(type), "urn:concord:problem:%s", slug);
	/* Only dbcall.c answers it: the wait for the pool passed its bound. */
	if (strcmp(slug, "overloaded") == 0)
		metrics_pool_timeout();
	p = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s}",
	    "type", type,
	    "title", title != NULL ? title : problem_title(status),
	    "status", status,
	    "detail", detail != NULL ? detail : problem_title(status),
	    "instance", req->path,
	    "request_id", c != NULL ? c->reqid : "");
	if (p != NULL && json_is_object(members))
		json_object_update_missing(p, members);
	json_decref(members);
	if (p == NULL)
		return (api_respond(req, status, "application/problem+json",
		    "{}", 2));
	return (api_respond_json(req, status, p));
}

/*
 * Answer a problem document a route's SQL function wrote (api.fail):
 * body is its problem+json text, sent as is. A missing body or a status
 * outside 400-599 means the SQL side broke its contract: a 500 problem.
 * Returns KORE_RESULT_OK.
 */
int
api_problem_relay(struct http_request *req, int status, const char *body)
{
	if (status < 400 || status > 599 || body == NULL)
		return (api_problem(req, 500, "internal", NULL,
		    "The request failed unexpectedly; it has been logged.",
		    NULL));
	return (api_respond(req, status, "application/problem+json", body,
	    strlen(body)));
}

/*
 * Does the If-None-Match list name etag? RFC 9110 13.1.2: weak
 * comparison (W/ ignored on both sides), "*" matches any.
 */
int
api_etag_none_match(struct http_request *req, const char *etag)
{
	const char	*inm, *p, *end;
	size_t		 n;

	if (etag == NULL || !http_request_header(req, "if-none-match", &inm))
		return (0);
	if (strncmp(etag, "W/", 2) == 0)
		etag += 2;
	n = strlen(etag);
	for (p = inm; *p != '\0'; p = end) {
		p += strspn(p, " \t,");
		if (*p == '\0')
			break;
		if (*p == '*')
			return (1);
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		/* An entity tag is a quoted string without inner quotes. */
		if (*p != '"' || (end = strchr(p + 1, '"')) == NULL)
			return (0);
		end++;
		if ((size_t)(end - p) == n && strncmp(p, etag, n) == 0)
			return (1);
	}
	return (0);
}

int
api_respond_not_modified(struct http_request *req, const char *etag)
{
	if (etag != NULL)
		http_response_header(req, "etag", etag);
	/* A 304 carries no body, and no Content-Length of one. */
	req->flags |= HTTP_REQUEST_NO_CONTENT_LENGTH;
	return (api_respond(req, 304, NULL, NULL, 0));
}
