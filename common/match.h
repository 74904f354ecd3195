/*
 * match: scoring and set cover for referral matching, pure functions
 * with no I/O so the unit tests pin them down. The worker loads the
 * candidates that passed the hard filters (in SQL), scores them here,
 * ranks them per need and picks as few providers as sensible to cover
 * every need (greedy weighted set cover).
 */
#ifndef CONCORD_MATCH_H
#define CONCORD_MATCH_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define MATCH_MAX_NEEDS		16	/* needs in one referral */
#define MATCH_TOP_N		5	/* candidates shown per need */

enum match_urgency {
	MATCH_ROUTINE = 0,
	MATCH_URGENT,
	MATCH_EMERGENCY
};

/* One eligible service, as loaded by the worker. */
struct match_candidate {
	char		service_id[37];
	char		org_id[37];
	uint32_t	needs;		/* bit i: covers the referral's need i */
	double		distance_km;	/* < 0: unknown */
	int		lang_match;	/* speaks one of the client's languages */
	int		open_now;
	int		open_24_7;
	int		available;	/* capacity available, -1 = untracked */
	int		total;		/* capacity total, -1 = untracked */
	double		accept_rate;	/* 0..1, < 0 when no history */
	double		median_response_h; /* < 0 when no history */
	/* Filled by match_score(). */
	double		score;
	double		c_language, c_distance, c_open, c_load, c_record;
};

/* What the referral asks. */
struct match_request {
	size_t			nneeds;
	enum match_urgency	urgency;
	uint32_t		lang_decisive;	/* bit i: language decides need i */
};

/* Result for one need. */
struct match_need_result {
	int	assigned;			/* candidate index or -1 */
	int	ranked[MATCH_TOP_N];		/* candidate indexes, best first */
	int	nranked;
};

/* Fill c->score and its components for this request. Can't fail. */
void	match_score(const struct match_request *, struct match_candidate *);

/*
 * Score every candidate, rank them per need and assign needs by greedy
 * weighted set cover. A candidate whose language does not match is
 * skipped for needs where language is decisive. out has req->nneeds
 * entries; a need nobody can take gets assigned = -1. Returns the
 * number of distinct providers chosen.
 */
int	match_assign(const struct match_request *, struct match_candidate *,
	    size_t, struct match_need_result *);

#endif
