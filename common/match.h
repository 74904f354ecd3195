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

/* How a client is understood at a service (the match explanation). */
enum match_access {
	MATCH_ACCESS_NONE = 0,		/* not spoken; language does not decide */
	MATCH_ACCESS_NATIVE,		/* speaks the client's language */
	MATCH_ACCESS_INTERPRETER,	/* its own interpretation */
	MATCH_ACCESS_REFERRAL		/* interpretation in the same referral */
};

/* One eligible service, as loaded by the worker. */
struct match_candidate {
	char		service_id[37];
	char		org_id[37];
	uint32_t	needs;		/* bit i: covers the referral's need i */
	double		distance_km;	/* < 0: unknown */
	int		lang_match;	/* speaks one of the client's languages */
	int		lang_pair;	/* interprets client <-> task force */
	int		interp;		/* has interpretation for the client */
	int		open_now;
	int		open_24_7;
	int		available;	/* capacity available, -1 = untracked */
	int		total;		/* capacity total, -1 = untracked */
	double		accept_rate;	/* 0..1, < 0 when no history */
	double		median_response_h; /* < 0 when no history */
	/* Filled by match_score() and match_assign(). */
	double		score;
	double		c_language, c_distance, c_open, c_load, c_record;
	enum match_access access;	/* how the client is understood */
};

/* What the referral asks. */
struct match_request {
	size_t			nneeds;
	enum match_urgency	urgency;
	uint32_t		lang_decisive;	/* bit i: language decides need i */
	uint32_t		interp_need;	/* bit i: need i is interpretation */
	uint32_t		skip;		/* bit i: leave need i alone */
	uint32_t		rank_only;	/* bit i: rank need i, assign none */
	int			interp_held;	/* interpretation offered already */
};

/* Result for one need. */
struct match_need_result {
	int	assigned;			/* candidate index or -1 */
	int	ranked[MATCH_TOP_N];		/* candidate indexes, best first */
	int	nranked;
};

/* Fill c->score and its components for this request. Can't fail. */
void	match_score(const struct match_request *, struct match_candidate *);

/* A match_access as the contract names it; can't fail. */
const char	*match_access_name(enum match_access);

/*
 * Score every candidate, rank them per need and assign needs by greedy
 * weighted set cover. Where language decides, an interpretation need
 * takes only candidates of the language pair, and any other need a
 * candidate that speaks the client's language, or else (ranked below
 * every such one and assigned only when none is left) one with
 * interpretation of its own or interpretation offered in the same
 * referral. Skipped needs are neither ranked nor assigned, rank_only
 * needs only ranked. out has req->nneeds entries; a need nobody can
 * take gets assigned = -1. Returns the number of distinct providers
 * chosen.
 */
int	match_assign(const struct match_request *, struct match_candidate *,
	    size_t, struct match_need_result *);

#endif
