/*
 * match: weights are deliberate and documented in the README. Every
 * component is in [0, 1]; the score is their weighted sum, so scores of
 * different referrals are comparable.
 */
#include <string.h>

#include "match.h"

#define W_LANGUAGE	0.30
#define W_DISTANCE	0.25
#define W_OPEN		0.15
#define W_LOAD		0.15
#define W_RECORD	0.15
#define DISTANCE_SCALE	100.0	/* km at which distance scores 0 */
#define RESPONSE_SCALE	72.0	/* hours at which response scores 0 */

void
match_score(const struct match_request *req, struct match_candidate *c)
{
	double	w_open = W_OPEN, rate, resp;

	c->c_language = c->lang_match ? 1.0 : (c->interp ? 0.5 : 0.0);
	if (c->distance_km < 0)
		c->c_distance = 0.5;
	else if (c->distance_km >= DISTANCE_SCALE)
		c->c_distance = 0.0;
	else
		c->c_distance = 1.0 - c->distance_km / DISTANCE_SCALE;

	/* For emergencies being reachable now matters twice as much. */
	if (c->open_24_7 || c->open_now)
		c->c_open = 1.0;
	else
		c->c_open = req->urgency == MATCH_EMERGENCY ? 0.0 : 0.5;
	if (req->urgency == MATCH_EMERGENCY)
		w_open *= 2;

	if (c->total > 0 && c->available >= 0)
		c->c_load = (double)c->available / (double)c->total;
	else
		c->c_load = 0.5;
	if (c->c_load > 1.0)
		c->c_load = 1.0;

	rate = c->accept_rate < 0 ? 0.5 : c->accept_rate;
	if (c->median_response_h < 0)
		resp = 0.5;
	else if (c->median_response_h >= RESPONSE_SCALE)
		resp = 0.0;
	else
		resp = 1.0 - c->median_response_h / RESPONSE_SCALE;
	c->c_record = 0.5 * rate + 0.5 * resp;

	c->score = (W_LANGUAGE * c->c_language + W_DISTANCE * c->c_distance +
	    w_open * c->c_open + W_LOAD * c->c_load +
	    W_RECORD * c->c_record) / (W_LANGUAGE + W_DISTANCE + w_open +
	    W_LOAD + W_RECORD);
}

const char *
match_access_name(enum match_access a)
{
	switch (a) {
	case MATCH_ACCESS_NATIVE:
		return ("native");
	case MATCH_ACCESS_INTERPRETER:
		return ("interpreter");
	case MATCH_ACCESS_REFERRAL:
		return ("referral_interpretation");
	default:
		return ("none");
	}
}

/*
 * Needs candidate c may take. Natively: interpretation needs only in
 * the language pair, other decisive-language needs only in the
 * client's language. With interpretation (ref: interpretation offered
 * in the same referral) the other decisive needs are open to it too.
 */
static uint32_t
match_usable(const struct match_request *req, const struct match_candidate *c,
    int interpreted, int ref)
{
	uint32_t	mask = c->needs;

	if (!c->lang_pair)
		mask &= ~req->interp_need;
	if (!c->lang_match && !(interpreted && (c->interp || ref)))
		mask &= ~(req->lang_decisive & ~req->interp_need);
	mask &= ~req->skip;
	if (req->nneeds < 32)
		mask &= (1u << req->nneeds) - 1;
	return (mask);
}

/* Does a ranks before b for need n (natives first where language decides)? */
static int
match_before(const struct match_request *req, const struct match_candidate *a,
    const struct match_candidate *b, size_t n)
{
	if ((req->lang_decisive & ~req->interp_need & (1u << n)) &&
	    a->lang_match != b->lang_match)
		return (a->lang_match);
	return (a->score > b->score);
}

int
match_assign(const struct match_request *req, struct match_candidate *cand,
    size_t ncand, struct match_need_result *out)
{
	uint32_t	uncovered, usable, gain_mask;
	size_t		i, n, k;
	int		best, chosen = 0, pos, j, ref, phase, again;
	double		gain, best_gain;

	for (i = 0; i < ncand; i++)
		match_score(req, &cand[i]);

	/* Interpretation in this referral: held, or someone can offer it. */
	ref = req->interp_held;
	for (i = 0; i < ncand && !ref; i++) {
		if (cand[i].lang_pair && (cand[i].needs & req->interp_need &
		    ~req->skip))
			ref = 1;
	}
	for (i = 0; i < ncand; i++) {
		if (cand[i].lang_match)
			cand[i].access = MATCH_ACCESS_NATIVE;
		else if (cand[i].interp)
			cand[i].access = MATCH_ACCESS_INTERPRETER;
		else if (ref && req->lang_decisive)
			cand[i].access = MATCH_ACCESS_REFERRAL;
		else
			cand[i].access = MATCH_ACCESS_NONE;
	}

	/* Rank: insertion into a top-N list per need. */
	for (n = 0; n < req->nneeds; n++) {
		out[n].assigned = -1;
		out[n].nranked = 0;
		for (i = 0; i < ncand; i++) {
			if (!(match_usable(req, &cand[i], 1, ref) & (1u << n)))
				continue;
			pos = out[n].nranked;
			while (pos > 0 && match_before(req, &cand[i],
			    &cand[out[n].ranked[pos - 1]], n))
				pos--;
			if (pos >= MATCH_TOP_N)
				continue;
			k = out[n].nranked < MATCH_TOP_N ? (size_t)out[n].nranked :
			    MATCH_TOP_N - 1;
			for (j = (int)k; j > pos; j--)
				out[n].ranked[j] = out[n].ranked[j - 1];
			out[n].ranked[pos] = (int)i;
			if (out[n].nranked < MATCH_TOP_N)
				out[n].nranked++;
		}
	}

	/*
	 * Greedy set cover: take the candidate whose not-yet-covered needs
	 * carry the most score (covering more needs wins over a slightly
	 * better single-need match), until nothing more can be covered;
	 * first natively, then with interpretation for what is left.
	 */
	uncovered = (req->nneeds >= 32 ? 0xffffffffu :
	    (1u << req->nneeds) - 1) & ~req->skip & ~req->rank_only;
	for (phase = 0; phase < 2; phase++) {
		for (;;) {
			best = -1;
			best_gain = 0;
			for (i = 0; i < ncand; i++) {
				usable = match_usable(req, &cand[i], phase, ref);
				gain_mask = usable & uncovered;
				if (gain_mask == 0)
					continue;
				gain = cand[i].score *
				    (double)__builtin_popcount(gain_mask);
				if (gain > best_gain + 1e-9) {
					best_gain = gain;
					best = (int)i;
				}
			}
			if (best == -1)
				break;
			gain_mask = match_usable(req, &cand[best], phase, ref) &
			    uncovered;
			again = 0;
			for (n = 0; n < req->nneeds; n++) {
				if (out[n].assigned == best)
					again = 1;
				if (gain_mask & (1u << n))
					out[n].assigned = best;
			}
			uncovered &= ~gain_mask;
			if (!again)
				chosen++;
		}
	}
	return (chosen);
}
