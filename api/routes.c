/*
 * routes: every route the API serves, with its role policy. A route
 * admits only the roles it lists (default deny); ROUTE_PUBLIC is for
 * health probes alone. GET /v1/admin/routes publishes this table so a
 * test can prove each route is in the OpenAPI contract and guarded.
 */
#include <kore/kore.h>
#include <kore/http.h>

#include "api.h"

#define GET	HTTP_METHOD_GET
#define POST	HTTP_METHOD_POST
#define PUT	HTTP_METHOD_PUT
#define PATCH	HTTP_METHOD_PATCH
#define DELETE	HTTP_METHOD_DELETE

const struct api_route api_routes[] = {
	{ GET, "/livez", 0, ROUTE_PUBLIC, api_livez, NULL },
	{ GET, "/readyz", 0, ROUTE_PUBLIC, api_readyz, NULL },
	{ GET, "/openapi.yaml", 0, ROUTE_PUBLIC, api_openapi, NULL },
	{ GET, "/v1/taxonomy/needs", ROLE_ANY, 0, api_taxonomy_needs, NULL },
	{ GET, "/v1/me", ROLE_ANY, 0, NULL, "me" },
	{ GET, "/v1/admin/routes", ROLE_ADMIN, 0, api_routes_list, NULL },
	{ GET, "/v1/admin/debug/sleep", ROLE_ADMIN, 0, api_debug_sleep, NULL },
};

const size_t api_nroutes = sizeof(api_routes) / sizeof(api_routes[0]);

int
api_routes_list(struct http_request *req, struct api_call *c)
{
	json_t		*items, *roles;
	size_t		 i;
	uint32_t	 bit;

	(void)c;
	items = json_array();
	for (i = 0; i < api_nroutes; i++) {
		roles = json_array();
		for (bit = 1; bit <= ROLE_ANALYST; bit <<= 1) {
			if (api_routes[i].roles & bit)
				json_array_append_new(roles,
				    json_string(auth_role_name(bit)));
		}
		json_array_append_new(items, json_pack("{s:s, s:s, s:b, s:o}",
		    "method", http_method_text(api_routes[i].method),
		    "path", api_routes[i].pattern,
		    "public", (api_routes[i].flags & ROUTE_PUBLIC) != 0,
		    "roles", roles));
	}
	return (api_respond_json(req, 200, json_pack("{s:o}", "items",
	    items)));
}
