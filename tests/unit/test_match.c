/*
 * Unit tests for common/match.c: scores, ranking and set cover.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/match.h"

static struct match_candidate
cand(const char *id, uint32_t needs, double km, int lang)
{
	struct match_candidate	c;

	memset(&c, 0, sizeof(c));
	strncpy(c.service_id, id, sizeof(c.service_id) - 1);
	c.needs = needs;
	c.distance_km = km;
	c.lang_match = lang;
	c.available = -1;
	c.total = -1;
	c.accept_rate = -1;
	c.median_response_h = -1;
	return (c);
}

static void
test_closer_and_language_score_higher(void **state)
{
	struct match_request	req = { 1, MATCH_ROUTINE, 0, 0, 0, 0, 0 };
	struct match_candidate	a = cand("a", 1, 5, 1), b = cand("b", 1, 80, 1),
				c = cand("c", 1, 5, 0);

	(void)state;
	match_score(&req, &a);
	match_score(&req, &b);
	match_score(&req, &c);
	assert_true(a.score > b.score);
	assert_true(a.score > c.score);
	assert_true(a.c_distance > 0.9 && b.c_distance < 0.3);
	assert_true(a.score <= 1.0 && b.score >= 0.0);
}

static void
test_emergency_prefers_open_now(void **state)
{
	struct match_request	req = { 1, MATCH_EMERGENCY, 0, 0, 0, 0, 0 };
	struct match_candidate	open = cand("o", 1, 60, 1),
				shut = cand("s", 1, 5, 1);

	(void)state;
	open.open_24_7 = 1;
	match_score(&req, &open);
	match_score(&req, &shut);
	assert_true(open.score > shut.score);
	req.urgency = MATCH_ROUTINE;
	match_score(&req, &open);
	match_score(&req, &shut);
	assert_true(shut.score > open.score);
}

static void
test_set_cover_prefers_fewer_providers(void **state)
{
	struct match_request		req = { 3, MATCH_ROUTINE, 0, 0, 0, 0, 0 };
	struct match_candidate		c[3];
	struct match_need_result	out[3];

	(void)state;
	c[0] = cand("one", 0x1, 1, 1);
	c[1] = cand("two", 0x2, 1, 1);
	c[2] = cand("all", 0x7, 20, 1);
	assert_int_equal(match_assign(&req, c, 3, out), 1);
	assert_int_equal(out[0].assigned, 2);
	assert_int_equal(out[1].assigned, 2);
	assert_int_equal(out[2].assigned, 2);
	/* The ranking still shows the closer single-need service first. */
	assert_int_equal(out[0].ranked[0], 0);
	assert_int_equal(out[0].nranked, 2);
}

static void
test_unmatched_need_is_reported(void **state)
{
	struct match_request		req = { 2, MATCH_ROUTINE, 0, 0, 0, 0, 0 };
	struct match_candidate		c[1];
	struct match_need_result	out[2];

	(void)state;
	c[0] = cand("x", 0x1, 1, 1);
	assert_int_equal(match_assign(&req, c, 1, out), 1);
	assert_int_equal(out[0].assigned, 0);
	assert_int_equal(out[1].assigned, -1);
	assert_int_equal(out[1].nranked, 0);
}

static void
test_decisive_language_excludes(void **state)
{
	struct match_request		req = { 1, MATCH_ROUTINE, 0x1, 0, 0, 0, 0 };
	struct match_candidate		c[2];
	struct match_need_result	out[1];

	(void)state;
	c[0] = cand("near-no-lang", 0x1, 1, 0);
	c[1] = cand("far-lang", 0x1, 90, 1);
	match_assign(&req, c, 2, out);
	assert_int_equal(out[0].assigned, 1);
	assert_int_equal(out[0].nranked, 1);
}

static void
test_interpretation_ranks_below_a_native_speaker(void **state)
{
	/* Need 0 decided by language: interpreters only after natives. */
	struct match_request		req = { 1, MATCH_ROUTINE, 0x1, 0, 0, 0, 0 };
	struct match_candidate		c[3];
	struct match_need_result	out[1];

	(void)state;
	c[0] = cand("near-interp", 0x1, 1, 0);
	c[0].interp = 1;
	c[1] = cand("far-native", 0x1, 90, 1);
	c[2] = cand("near-none", 0x1, 1, 0);
	match_assign(&req, c, 3, out);
	assert_int_equal(out[0].nranked, 2);
	assert_int_equal(out[0].ranked[0], 1);
	assert_int_equal(out[0].ranked[1], 0);
	assert_int_equal(out[0].assigned, 1);
	assert_int_equal(c[0].access, MATCH_ACCESS_INTERPRETER);
	assert_int_equal(c[1].access, MATCH_ACCESS_NATIVE);

	/* Without a native speaker the interpreter takes it. */
	c[1].needs = 0;
	match_assign(&req, c, 3, out);
	assert_int_equal(out[0].assigned, 0);
}

static void
test_interpretation_in_the_referral_opens_other_needs(void **state)
{
	/* Need 0 interpretation (pair), need 1 decided by language. */
	struct match_request		req = { 2, MATCH_ROUTINE, 0x3, 0x1, 0, 0,
					    0 };
	struct match_candidate		c[2];
	struct match_need_result	out[2];

	(void)state;
	c[0] = cand("interpreter", 0x1, 5, 1);
	c[0].lang_pair = 1;
	c[1] = cand("housing-en", 0x2, 5, 0);
	match_assign(&req, c, 2, out);
	assert_int_equal(out[0].assigned, 0);
	assert_int_equal(out[1].assigned, 1);
	assert_int_equal(c[1].access, MATCH_ACCESS_REFERRAL);

	/* An interpreter outside the language pair opens nothing. */
	c[0].lang_pair = 0;
	match_assign(&req, c, 2, out);
	assert_int_equal(out[0].assigned, -1);
	assert_int_equal(out[1].assigned, -1);
}

static void
test_top_n_is_capped_and_sorted(void **state)
{
	struct match_request		req = { 1, MATCH_ROUTINE, 0, 0, 0, 0, 0 };
	struct match_candidate		c[8];
	struct match_need_result	out[1];
	int				i;

	(void)state;
	for (i = 0; i < 8; i++)
		c[i] = cand("s", 1, 10.0 * i, 1);
	match_assign(&req, c, 8, out);
	assert_int_equal(out[0].nranked, MATCH_TOP_N);
	for (i = 1; i < out[0].nranked; i++)
		assert_true(c[out[0].ranked[i - 1]].score >=
		    c[out[0].ranked[i]].score);
	assert_int_equal(out[0].ranked[0], 0);
}

int
test_match_group(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_closer_and_language_score_higher),
		cmocka_unit_test(test_emergency_prefers_open_now),
		cmocka_unit_test(test_set_cover_prefers_fewer_providers),
		cmocka_unit_test(test_unmatched_need_is_reported),
		cmocka_unit_test(test_decisive_language_excludes),
		cmocka_unit_test(test_top_n_is_capped_and_sorted),
		cmocka_unit_test(test_interpretation_ranks_below_a_native_speaker),
		cmocka_unit_test(
		    test_interpretation_in_the_referral_opens_other_needs),
	};

	return (cmocka_run_group_tests_name("match", tests, NULL, NULL));
}
