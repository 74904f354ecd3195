/*
 * directory: the one partner-directory route that needs C. Every other
 * directory route is a plain SQL route (sql/code/directory.sql); a
 * DELETE answers 204 No Content, which dbcall's generic path cannot
 * send since it always writes the SQL function's body.
 */
#include <kore/kore.h>
#include <kore/http.h>

#include "api.h"

static int	directory_no_content(struct http_request *, struct api_call *,
		    int, const char *, json_t *);

/*
 * c->done for a route whose success is 204: success answers with no
 * body; a problem goes out as the SQL function wrote it. Returns
 * KORE_RESULT_OK (the response is always written).
 */
static int
directory_no_content(struct http_request *req, struct api_call *c, int status,
    const char *body, json_t *hdrs)
{
	(void)c;
	(void)hdrs;
	if (status == 204)
		return (api_respond(req, 204, NULL, NULL, 0));
	return (api_problem_relay(req, status, body));
}

/* DELETE routes: run the route's SQL function, answer 204 on success. */
int
api_directory_delete(struct http_request *req, struct api_call *c)
{
	c->done = directory_no_content;
	return (api_db_call(req, c, c->route->sqlfn));
}
