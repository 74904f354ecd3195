/*
 * router: Kore sends every request here (one catch-all route). We pick
 * the route from api_routes[], answer 404/405 ourselves, give each
 * request an id, apply the rate limits (ratelimit.c) around verifying
 * the token, apply the route's role policy (default deny), parse the query string and the JSON body, then hand
 * over to the route's C handler or to its SQL function.
 */
#include <kore/kore.h>
#include <kore/http.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "api.h"
#include "authcache.h"
#include "ratelimit.h"
#include "jwks.h"
#include "../common/log.h"
#include "../common/query.h"

#define ROUTER_MAX_SEGMENTS	16

static void	router_call_free(struct http_request *);
static void	router_reqid(struct http_request *, struct api_call *);
static int	router_match(const char *, char *, const char **, int *);
static int	router_headers(struct http_request *);
static int	router_route(struct http_request *, struct api_call *);
static int	router_auth(struct http_request *, struct api_call *);
static int	router_query(struct http_request *, struct api_call *);
static int	router_body(struct http_request *, struct api_call *);
static int	router_method_bit(int);

static void
router_call_free(struct http_request *req)
{
	struct api_call	*c = req->hdlr_extra;

	if (c == NULL)
		return;
	api_db_cleanup(c);
	api_readyz_cleanup(req);
	json_decref(c->args);
	json_decref(c->body);
	json_decref(c->extra);
	kore_free(c->pathcopy);
}

/* Keep a caller's sane X-Request-Id, else make a random one. */
static void
router_reqid(struct http_request *req, struct api_call *c)
{
	const char	*v;
	unsigned char	 rnd[16];
	size_t		 i, n;

	if (http_request_header(req, "x-request-id", &v)) {
		n = strlen(v);
		if (n >= 1 && n < sizeof(c->reqid) &&
		    strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
		    "VWXYZ0123456789-_.:") == n) {
			memcpy(c->reqid, v, n + 1);
			return;
		}
	}
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		for (i = 0; i < sizeof(rnd); i++)
			rnd[i] = (unsigned char)(kore_time_ms() >> (i % 8));
	}
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(c->reqid + i * 2, 3, "%02x", rnd[i]);
}

/*
 * Match path (a writable copy) against pattern. Returns 1 and fills
 * params with pointers into path, or 0. path is cut at '/' on success.
 */
static int
router_match(const char *pattern, char *path, const char **params, int *np)
{
	const char	*p = pattern;
	char		*s = path, *end;
	size_t		 n;

	*np = 0;
	while (*p != '\0' && *s != '\0') {
		if (*p == '{') {
			if ((end = strchr(s, '/')) == NULL)
				end = s + strlen(s);
			if (end == s || *np >= API_MAX_PARAMS)
				return (0);
			while (*p != '}' && *p != '\0')
				p++;
			if (*p == '}')
				p++;
			params[(*np)++] = s;
			if (*end == '\0') {
				s = end;
			} else {
				if (*p != '/')
					return (0);
				*end = '\0';
				s = end + 1;
				p++;
			}
			continue;
		}
		n = strcspn(p, "{");
		if (strncmp(p, s, n) != 0)
			return (0);
		p += n;
		s += n;
	}
	return (*p == '\0' && *s == '\0');
}

static int
router_method_bit(int m)
{
	return (m == HTTP_METHOD_HEAD ? HTTP_METHOD_GET : m);
}

void
api_methods_text(int methods, char *buf, size_t len)
{
	static const struct {
		int		 bit;
		const char	*text;
	} names[] = {
		{ HTTP_METHOD_GET, "GET, HEAD" }, { HTTP_METHOD_POST, "POST" },
		{ HTTP_METHOD_PUT, "PUT" }, { HTTP_METHOD_PATCH, "PATCH" },
		{ HTTP_METHOD_DELETE, "DELETE" },
	};
	size_t	i, off = 0;
	int	n;

	buf[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(methods & names[i].bit) || off >= len)
			continue;
		n = snprintf(buf + off, len - off, "%s%s", off > 0 ? ", " : "",
		    names[i].text);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

/*
 * Find the route. Returns 1 when found, 0 when a problem was answered.
 * A CORS preflight on a served path is found too: c->route is the
 * path's first route and c->preflight the methods the path takes.
 */
static int
router_route(struct http_request *req, struct api_call *c)
{
	const struct api_route	*first = NULL;
	const char		*params[API_MAX_PARAMS];
	char			 allow[128];
	char			*copy;
	size_t			 i;
	int			 np, methods = 0, j;

	if (strlen(req->path) > 1024)
		return (api_problem(req, 404, "not-found", NULL,
		    "No resource lives at this path.", NULL), 0);
	for (i = 0; i < api_nroutes; i++) {
		copy = kore_strdup(req->path);
		if (!router_match(api_routes[i].pattern, copy, params, &np)) {
			kore_free(copy);
			continue;
		}
		if (api_routes[i].method != router_method_bit(req->method)) {
			methods |= api_routes[i].method;
			if (first == NULL)
				first = &api_routes[i];
			kore_free(copy);
			continue;
		}
		c->route = &api_routes[i];
		c->pathcopy = copy;
		for (j = 0; j < np; j++)
			c->params[j] = params[j];
		return (1);
	}
	if (methods == 0)
		return (api_problem(req, 404, "not-found", NULL,
		    "No resource lives at this path.", NULL), 0);
	if (api_cors_is_preflight(req)) {
		c->route = first;
		c->preflight = methods;
		return (1);
	}
	api_methods_text(methods, allow, sizeof(allow));
	http_response_header(req, "allow", allow);
	api_problem(req, 405, "method-not-allowed", NULL,
	    "This resource does not support the method used.", NULL);
	return (0);
}

/* Verify the bearer token and the role policy. Returns 1 or 0 (answered). */
static int
router_auth(struct http_request *req, struct api_call *c)
{
	const char	*h;
	char		 err[128], www[256];

	if (c->route->flags & (ROUTE_PUBLIC | ROUTE_OPEN))
		return (1);
	if (!http_request_header(req, "authorization", &h) ||
	    strncasecmp(h, "Bearer ", 7) != 0) {
		ratelimit_auth_failed(c);
		http_response_header(req, "www-authenticate",
		    "Bearer realm=\"concord\"");
		api_problem(req, 401, "unauthenticated", NULL,
		    "A bearer token is required.", NULL);
		return (0);
	}
	h += 7;
	while (*h == ' ')
		h++;
	/* An unknown kid may be a key rotated in since: look once more. */
	if (authcache_verify(&api_keys, h, time(NULL), &c->id, err,
	    sizeof(err)) == -1 && (strcmp(err, AUTH_ERR_UNKNOWN_KID) != 0 ||
	    !jwks_unknown_kid() || authcache_verify(&api_keys, h, time(NULL),
	    &c->id, err, sizeof(err)) == -1)) {
		snprintf(www, sizeof(www), "Bearer realm=\"concord\", "
		    "error=\"invalid_token\", error_description=\"%s\"", err);
		ratelimit_auth_failed(c);
		http_response_header(req, "www-authenticate", www);
		api_problem(req, 401, "invalid-token", NULL, err, NULL);
		return (0);
	}
	c->authed = 1;
	/* Default deny: a route must name the roles it admits. */
	if ((c->route->roles & c->id.roles) == 0) {
		api_problem(req, 403, "forbidden", NULL,
		    "Your roles do not allow this operation.", NULL);
		return (0);
	}
	return (1);
}

/*
 * Build c->args: {"path": {...}, "query": {k: v | [v, ...]},
 * "if_match": ..., "idempotency_key": ...}. Returns 1 or 0 (answered).
 */
static int
router_query(struct http_request *req, struct api_call *c)
{
	json_t		*path, *query;
	char		 name[32], *colon;
	const char	*p, *h, *reason;
	int		 i, ok = 0, isint;

	c->args = json_object();
	path = json_object();
	json_object_set_new(c->args, "path", path);

	/* Path parameters: every {x} is an id; anything else cannot exist. */
	p = c->route->pattern;
	for (i = 0; i < API_MAX_PARAMS && c->params[i] != NULL; i++) {
		p = strchr(p, '{');
		snprintf(name, sizeof(name), "%.*s",
		    (int)(strchr(p, '}') - p - 1), p + 1);
		p = strchr(p, '}');
		/* {x:int} is a positive integer id, any other {x} a UUID. */
		if ((colon = strchr(name, ':')) != NULL) {
			*colon = '\0';
			isint = 1;
		} else
			isint = 0;
		if (isint ? (strlen(c->params[i]) > 18 ||
		    strspn(c->params[i], "0123456789") !=
		    strlen(c->params[i]) || c->params[i][0] == '0') :
		    !auth_is_uuid(c->params[i])) {
			api_problem(req, 404, "not-found", NULL,
			    "No resource lives at this path.", NULL);
			goto out;
		}
		json_object_set_new(path, name, json_string(c->params[i]));
	}

	if (query_parse(req->query_string, &query, &reason) == -1) {
		api_problem(req, 400, "bad-query", NULL, reason, NULL);
		goto out;
	}
	json_object_set_new(c->args, "query", query);
	if (http_request_header(req, "if-match", &h))
		json_object_set_new(c->args, "if_match", json_string(h));
	if (http_request_header(req, "idempotency-key", &h))
		json_object_set_new(c->args, "idempotency_key", json_string(h));
	ok = 1;
out:
	return (ok);
}

/* Parse the JSON body of a ROUTE_BODY route. Returns 1 or 0 (answered). */
static int
router_body(struct http_request *req, struct api_call *c)
{
	const char	*ct;
	json_error_t	 jerr;
	char		 detail[256];
	size_t		 len;

	if (!(c->route->flags & ROUTE_BODY))
		return (1);
	/*
	 * Kore rewinds the body once it is complete (the buffer's offset
	 * goes back to 0): its length is http_body_length.
	 */
	len = req->http_body != NULL ? req->http_body_length : 0;
	if (len > api_cfg.body_max) {
		snprintf(detail, sizeof(detail), "The request body is larger "
		    "than %zu bytes.", api_cfg.body_max);
		api_problem(req, 413, "body-too-large", NULL, detail, NULL);
		return (0);
	}
	if (len == 0) {
		api_problem(req, 400, "body-required", NULL,
		    "This operation needs a JSON object body.", NULL);
		return (0);
	}
	if (!http_request_header(req, "content-type", &ct) ||
	    (strncasecmp(ct, "application/json", 16) != 0 &&
	    strncasecmp(ct, "application/merge-patch+json", 28) != 0)) {
		api_problem(req, 415, "unsupported-media-type", NULL,
		    "Send the body as application/json.", NULL);
		return (0);
	}
	c->body = json_loadb((const char *)req->http_body->data, len,
	    JSON_REJECT_DUPLICATES, &jerr);
	if (c->body == NULL) {
		snprintf(detail, sizeof(detail), "The body is not valid JSON "
		    "(line %d, column %d): %s", jerr.line, jerr.column,
		    jerr.text);
		api_problem(req, 400, "malformed-json", NULL, detail, NULL);
		return (0);
	}
	if (!json_is_object(c->body)) {
		api_problem(req, 422, "validation-error", NULL,
		    "The body must be a JSON object.", json_pack("[{s:s, s:s}]",
		    "field", "", "reason", "must be a JSON object"));
		return (0);
	}
	return (1);
}

/*
 * Kore keeps at most HTTP_REQ_HEADER_MAX - 1 lines of a request head (the
 * request line and 23 headers) and silently drops the rest. A request
 * that reaches that limit may have lost Authorization, If-Match or
 * Idempotency-Key, so it is refused with 431 instead of processed. Kore
 * lists every kept header but Host. Returns 1, or 0 when answered.
 */
static int
router_headers(struct http_request *req)
{
	struct http_header	*hdr;
	int			 n = 1;

	TAILQ_FOREACH(hdr, &req->req_headers, list)
		n++;
	if (n < HTTP_REQ_HEADER_MAX - 2)
		return (1);
	api_problem(req, 431, "header-fields-too-large", NULL,
	    "The request carries too many header fields: at most 22 are "
	    "read. Send fewer headers.", NULL);
	return (0);
}

int
concord_dispatch(struct http_request *req)
{
	struct api_call	*c = req->hdlr_extra;
	int		 r;

	if (c == NULL) {
		c = http_state_create(req, sizeof(*c), router_call_free);
		c->t0 = kore_time_ms();
		router_reqid(req, c);
		if (!router_headers(req) || !router_route(req, c) ||
		    !ratelimit_address(req, c))
			return (KORE_RESULT_OK);
		/* A preflight carries no token: answered before auth. */
		if (c->preflight != 0)
			return (api_cors_preflight(req, c));
		if (!router_auth(req, c) ||
		    !ratelimit_subject(req, c) ||
		    !router_query(req, c) || !router_body(req, c))
			return (KORE_RESULT_OK);
	}
	if (c->route->handler != NULL) {
		/* SQL routes check the org themselves (api.require_org). */
		if (!(c->route->flags & (ROUTE_PUBLIC | ROUTE_OPEN)) &&
		    !api_orgcheck(req, c, &r))
			return (r);
		return (c->route->handler(req, c));
	}
	return (api_db_call(req, c, c->route->sqlfn));
}
