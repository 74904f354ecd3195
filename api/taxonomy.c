/*
 * taxonomy: GET /v1/taxonomy/needs serves common/taxonomy.c. The
 * document never changes while a process lives, so each worker renders
 * it once and answers from memory with an ETag.
 */
#include <kore/kore.h>
#include <kore/http.h>

#include <string.h>

#include "api.h"
#include "../common/taxonomy.h"

static char	*taxonomy_doc;
static size_t	 taxonomy_len;
static char	 taxonomy_etag[32];

static void
taxonomy_render(void)
{
	const struct taxonomy_need	*n;
	json_t				*items, *doc;
	size_t				 i, count;
	unsigned long			 h = 5381;

	n = taxonomy_needs(&count);
	items = json_array();
	for (i = 0; i < count; i++) {
		json_array_append_new(items, json_pack(
		    "{s:s, s:s, s:s, s:s?, s:s}",
		    "code", n[i].code, "label", n[i].label,
		    "group", n[i].group, "parent", n[i].parent,
		    "seed_label", n[i].seed));
	}
	doc = json_pack("{s:o}", "items", items);
	taxonomy_doc = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (taxonomy_doc == NULL)
		fatal("taxonomy: cannot render");
	taxonomy_len = strlen(taxonomy_doc);
	for (i = 0; i < taxonomy_len; i++)
		h = h * 33 + (unsigned char)taxonomy_doc[i];
	snprintf(taxonomy_etag, sizeof(taxonomy_etag), "\"%lx\"", h);
}

int
api_taxonomy_needs(struct http_request *req, struct api_call *c)
{
	(void)c;
	if (taxonomy_doc == NULL)
		taxonomy_render();
	if (api_etag_none_match(req, taxonomy_etag))
		return (api_respond_not_modified(req, taxonomy_etag));
	http_response_header(req, "etag", taxonomy_etag);
	return (api_respond(req, 200, "application/json", taxonomy_doc,
	    taxonomy_len));
}
