/*
 * match: the referral.match, referral.expire and
 * referral.rematch_waiting jobs. Matching loads the candidates that pass
 * the hard filters (worker.match_candidates, one indexed query) and
 * their language access (worker.match_language), scores and assigns
 * them with common/match.c and hands the result to worker.match_apply,
 * which writes candidates and offers; all of it inside the job's
 * transaction. A match job with need_ids re-matches those needs only.
 */
#include <math.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "../common/db.h"
#include "../common/match.h"
#include "jobs.h"

#define MATCH_MAX_CANDIDATES	200

static json_t	*match_components(const struct match_candidate *);
static double	 match_now_ms(void);
static char	*match_uuid_array(json_t *);
static int	 match_language_load(PGconn *, const char *,
		    struct match_candidate *, size_t, char *, size_t);

/*
 * A PostgreSQL array literal of the UUID strings in JSON array a
 * ("{...}"), or NULL when a is not an array of UUIDs. Caller frees.
 */
static char *
match_uuid_array(json_t *a)
{
	char		*s;
	size_t		 i, len;
	json_t		*v;
	const char	*u;

	if (!json_is_array(a) || json_array_size(a) > 64)
		return (NULL);
	/* "{" + ids of 36 with a comma between + "}" + NUL. */
	len = 3 + json_array_size(a) * 37;
	if ((s = calloc(1, len)) == NULL)
		return (NULL);
	s[0] = '{';
	json_array_foreach(a, i, v) {
		u = json_string_value(v);
		if (u == NULL || strlen(u) != 36 ||
		    strspn(u, "0123456789abcdefABCDEF-") != 36) {
			free(s);
			return (NULL);
		}
		if (i > 0)
			strcat(s, ",");
		strcat(s, u);
	}
	strcat(s, "}");
	return (s);
}

/*
 * Language access of the loaded candidates (worker.match_language):
 * fills lang_pair and interp. Returns 0, or -1 with err set.
 */
static int
match_language_load(PGconn *pg, const char *id, struct match_candidate *cand,
    size_t ncand, char *err, size_t elen)
{
	PGresult	*r;
	char		*ids;
	const char	*p[2];
	size_t		 i, k;
	int		 row;

	if (ncand == 0)
		return (0);
	/* "{" + ncand ids of 36 with a comma between + "}" + NUL. */
	if ((ids = calloc(1, ncand * 37 + 3)) == NULL) {
		snprintf(err, elen, "out of memory");
		return (-1);
	}
	ids[0] = '{';
	for (i = 0; i < ncand; i++) {
		if (i > 0)
			strcat(ids, ",");
		strcat(ids, cand[i].service_id);
	}
	strcat(ids, "}");
	p[0] = id;
	p[1] = ids;
	r = db_exec(pg, "SELECT service_id, pair, interpretation FROM "
	    "worker.match_language($1, $2::uuid[])", 2, p, err, elen);
	free(ids);
	if (r == NULL)
		return (-1);
	for (row = 0; row < PQntuples(r); row++) {
		for (k = 0; k < ncand; k++) {
			if (strcmp(cand[k].service_id,
			    PQgetvalue(r, row, 0)) != 0)
				continue;
			cand[k].lang_pair = PQgetvalue(r, row, 1)[0] == 't';
			cand[k].interp = PQgetvalue(r, row, 2)[0] == 't';
		}
	}
	PQclear(r);
	return (0);
}

static double
match_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6);
}

static json_t *
match_components(const struct match_candidate *c)
{
	return (json_pack("{s:f, s:f, s:f, s:f, s:f}",
	    "language", c->c_language, "distance", c->c_distance,
	    "open", c->c_open, "load", c->c_load, "record", c->c_record));
}

int
match_referral_run(PGconn *pg, json_t *payload, json_t **result, char *err,
    size_t elen)
{
	struct match_candidate		 cand[MATCH_MAX_CANDIDATES];
	struct match_need_result	 out[MATCH_MAX_NEEDS];
	struct match_request		 req;
	const char			*id, *p[2], *mode;
	char				*want = NULL;
	PGresult			*r = NULL, *c = NULL, *a = NULL;
	json_t				*ref = NULL, *needs, *n, *res = NULL;
	json_t				*rneeds, *ranked;
	char				*text = NULL;
	const char			*urg;
	size_t				 i, ncand;
	int				 j, rc = -1, providers;
	double				 t0 = match_now_ms(), t1 = 0, t2 = 0,
					 t3 = 0;

	id = json_string_value(json_object_get(payload, "referral_id"));
	if (id == NULL) {
		snprintf(err, elen, "payload has no referral_id");
		goto out;
	}
	p[0] = id;
	/* need_ids: a re-match of these needs only. */
	if (json_object_get(payload, "need_ids") != NULL &&
	    (want = match_uuid_array(json_object_get(payload, "need_ids"))) ==
	    NULL) {
		snprintf(err, elen, "payload has bad need_ids");
		goto out;
	}
	p[1] = want;
	if ((r = db_exec(pg, "SELECT worker.match_begin($1, $2::uuid[])::text",
	    2, p, err, elen)) == NULL)
		goto out;
	if (PQgetisnull(r, 0, 0)) {
		*result = json_pack("{s:s}", "skipped", "not awaiting a match");
		rc = 0;
		goto out;
	}
	if ((ref = json_loads(PQgetvalue(r, 0, 0), 0, NULL)) == NULL) {
		snprintf(err, elen, "match_begin returned bad JSON");
		goto out;
	}
	t1 = match_now_ms();
	needs = json_object_get(ref, "needs");
	memset(&req, 0, sizeof(req));
	req.nneeds = json_array_size(needs);
	if (req.nneeds == 0 || req.nneeds > MATCH_MAX_NEEDS) {
		snprintf(err, elen, "referral has %zu needs", req.nneeds);
		goto out;
	}
	urg = json_string_value(json_object_get(ref, "urgency"));
	req.urgency = urg != NULL && strcmp(urg, "emergency") == 0 ?
	    MATCH_EMERGENCY : (urg != NULL && strcmp(urg, "urgent") == 0 ?
	    MATCH_URGENT : MATCH_ROUTINE);
	req.interp_held = json_is_true(json_object_get(ref,
	    "interpretation_held"));
	json_array_foreach(needs, i, n) {
		if (json_is_true(json_object_get(n, "lang_decisive")))
			req.lang_decisive |= 1u << i;
		if (json_is_true(json_object_get(n, "interpretation")))
			req.interp_need |= 1u << i;
		mode = json_string_value(json_object_get(n, "mode"));
		if (mode != NULL && strcmp(mode, "skip") == 0)
			req.skip |= 1u << i;
		else if (mode != NULL && strcmp(mode, "rank") == 0)
			req.rank_only |= 1u << i;
	}

	if ((c = db_exec(pg, "SELECT service_id, organization_id, needs_mask, "
	    "distance_km, lang_match, open_now, open_24_7, available, total, "
	    "accept_rate, median_response_h FROM worker.match_candidates($1)",
	    1, p, err, elen)) == NULL)
		goto out;
	ncand = (size_t)PQntuples(c);
	if (ncand > MATCH_MAX_CANDIDATES)
		ncand = MATCH_MAX_CANDIDATES;
	for (i = 0; i < ncand; i++) {
		memset(&cand[i], 0, sizeof(cand[i]));
		snprintf(cand[i].service_id, sizeof(cand[i].service_id), "%s",
		    PQgetvalue(c, (int)i, 0));
		snprintf(cand[i].org_id, sizeof(cand[i].org_id), "%s",
		    PQgetvalue(c, (int)i, 1));
		cand[i].needs = (uint32_t)strtoul(PQgetvalue(c, (int)i, 2),
		    NULL, 10);
		cand[i].distance_km = PQgetisnull(c, (int)i, 3) ? -1 :
		    strtod(PQgetvalue(c, (int)i, 3), NULL);
		cand[i].lang_match = PQgetvalue(c, (int)i, 4)[0] == 't';
		cand[i].open_now = PQgetvalue(c, (int)i, 5)[0] == 't';
		cand[i].open_24_7 = PQgetvalue(c, (int)i, 6)[0] == 't';
		cand[i].available = PQgetisnull(c, (int)i, 7) ? -1 :
		    atoi(PQgetvalue(c, (int)i, 7));
		cand[i].total = PQgetisnull(c, (int)i, 8) ? -1 :
		    atoi(PQgetvalue(c, (int)i, 8));
		cand[i].accept_rate = PQgetisnull(c, (int)i, 9) ? -1 :
		    strtod(PQgetvalue(c, (int)i, 9), NULL);
		cand[i].median_response_h = PQgetisnull(c, (int)i, 10) ? -1 :
		    strtod(PQgetvalue(c, (int)i, 10), NULL);
	}
	p[1] = NULL;
	if (match_language_load(pg, id, cand, ncand, err, elen) == -1)
		goto out;
	t2 = match_now_ms();
	providers = match_assign(&req, cand, ncand, out);

	rneeds = json_array();
	json_array_foreach(needs, i, n) {
		if (req.skip & (1u << i))
			continue;
		ranked = json_array();
		for (j = 0; j < out[i].nranked; j++) {
			const struct match_candidate *m = &cand[out[i].ranked[j]];

			json_array_append_new(ranked, json_pack(
			    "{s:s, s:s, s:f, s:o, s:o, s:s}",
			    "service_id", m->service_id,
			    "organization_id", m->org_id, "score", m->score,
			    "components", match_components(m),
			    "distance_km", m->distance_km < 0 ? json_null() :
			    json_real(m->distance_km), "language_access",
			    match_access_name(m->access)));
		}
		json_array_append_new(rneeds, json_pack("{s:O, s:o, s:o, s:b}",
		    "id", json_object_get(n, "id"),
		    "assigned", out[i].assigned < 0 ? json_null() :
		    json_string(cand[out[i].assigned].service_id),
		    "ranked", ranked, "rank_only",
		    (req.rank_only & (1u << i)) != 0));
	}
	res = json_pack("{s:o, s:O}", "needs", rneeds, "rematch",
	    json_object_get(ref, "rematch") != NULL ?
	    json_object_get(ref, "rematch") : json_false());
	t3 = match_now_ms();
	text = json_dumps(res, JSON_COMPACT);
	p[1] = text;
	if ((a = db_exec(pg, "SELECT worker.match_apply($1, $2::jsonb)", 2, p,
	    err, elen)) == NULL)
		goto out;
	/* match_ms: load, score, assign and write, inside the worker. */
	*result = json_pack("{s:i, s:i, s:f, s:{s:f, s:f, s:f, s:f}}",
	    "candidates", (int)ncand, "providers", providers,
	    "match_ms", match_now_ms() - t0, "phases_ms",
	    "begin", t1 - t0, "candidates", t2 - t1, "score", t3 - t2,
	    "apply", match_now_ms() - t3);
	rc = 0;
out:
	if (r != NULL)
		PQclear(r);
	if (c != NULL)
		PQclear(c);
	if (a != NULL)
		PQclear(a);
	free(text);
	free(want);
	json_decref(ref);
	json_decref(res);
	return (rc);
}

int
match_offer_expire(PGconn *pg, json_t *payload, json_t **result, char *err,
    size_t elen)
{
	const char	*p[1];
	PGresult	*r;

	p[0] = json_string_value(json_object_get(payload, "offer_id"));
	if (p[0] == NULL) {
		snprintf(err, elen, "payload has no offer_id");
		return (-1);
	}
	if ((r = db_exec(pg, "SELECT worker.offer_expire($1)::text", 1, p, err,
	    elen)) == NULL)
		return (-1);
	*result = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
	PQclear(r);
	if (*result == NULL) {
		snprintf(err, elen, "offer_expire returned bad JSON");
		return (-1);
	}
	return (0);
}

int
match_rematch_waiting(PGconn *pg, json_t *payload, json_t **result, char *err,
    size_t elen)
{
	const char	*p[1];
	PGresult	*r;

	p[0] = json_string_value(json_object_get(payload, "service_id"));
	if (p[0] == NULL) {
		snprintf(err, elen, "payload has no service_id");
		return (-1);
	}
	if ((r = db_exec(pg, "SELECT worker.rematch_waiting($1)::text", 1, p,
	    err, elen)) == NULL)
		return (-1);
	*result = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
	PQclear(r);
	if (*result == NULL) {
		snprintf(err, elen, "rematch_waiting returned bad JSON");
		return (-1);
	}
	return (0);
}
