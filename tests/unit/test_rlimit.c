/*
 * Unit tests for common/rlimit.c: what a decision counts, what a push
 * hands over and takes back, and that the table stays within its bound
 * (stale windows make room, a busy entry is never taken).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/rlimit.h"

#define W	29000000	/* a window number */

static uint32_t	pushed_n[4];
static size_t	npushed;

static int
push_ok(struct rlimit_entry *e, uint32_t n, void *arg)
{
	(void)e;
	(void)arg;
	if (npushed < 4)
		pushed_n[npushed] = n;
	npushed++;
	return (0);
}

static int
push_fail(struct rlimit_entry *e, uint32_t n, void *arg)
{
	(void)e;
	(void)n;
	(void)arg;
	return (-1);
}

static void
test_decision_adds_unacknowledged_increments_to_the_shared_total(void **state)
{
	struct rlimit_table	*t = malloc(sizeof(*t));
	struct rlimit_entry	*e;
	int			 i;

	(void)state;
	rlimit_init(t);
	e = rlimit_get(t, RLIMIT_SUB, "alice", W);
	assert_non_null(e);
	for (i = 0; i < 3; i++)
		rlimit_hit(t, e);
	assert_int_equal(rlimit_count(e, 1), 3);
	npushed = 0;
	assert_int_equal(rlimit_push_due(t, W, 100, push_ok, NULL), 1);
	assert_int_equal(pushed_n[0], 3);
	/* In flight: still counted; a busy entry is not pushed again. */
	rlimit_hit(t, e);
	assert_int_equal(rlimit_count(e, 1), 4);
	assert_int_equal(rlimit_push_due(t, W, 100, push_ok, NULL), 0);
	/* The store says another replica counted 7 more. */
	rlimit_push_done(e, 10);
	assert_int_equal(rlimit_count(e, 1), 11);
	assert_int_equal(rlimit_count(e, 0), 4);
	assert_ptr_equal(rlimit_get(t, RLIMIT_SUB, "alice", W), e);
	assert_ptr_not_equal(rlimit_get(t, RLIMIT_SUB, "alice", W + 1), e);
	free(t);
}

static void
test_a_lost_push_keeps_the_local_count(void **state)
{
	struct rlimit_table	*t = malloc(sizeof(*t));
	struct rlimit_entry	*e;

	(void)state;
	rlimit_init(t);
	e = rlimit_get(t, RLIMIT_ADDR, "192.0.2.1", W);
	rlimit_hit(t, e);
	rlimit_hit(t, e);
	/* Refused by the link: the increments stay due. */
	assert_int_equal(rlimit_push_due(t, W, 100, push_fail, NULL), 0);
	assert_int_equal(e->re_pending, 2);
	npushed = 0;
	assert_int_equal(rlimit_push_due(t, W, 100, push_ok, NULL), 1);
	rlimit_push_done(e, -1);
	assert_int_equal(rlimit_count(e, 1), 2);
	assert_int_equal(rlimit_count(e, 0), 2);
	free(t);
}

static void
test_a_consulted_key_is_refreshed_with_a_zero_increment(void **state)
{
	struct rlimit_table	*t = malloc(sizeof(*t));

	(void)state;
	rlimit_init(t);
	assert_non_null(rlimit_get(t, RLIMIT_AUTH_FAILURES, "192.0.2.9", W));
	npushed = 0;
	assert_int_equal(rlimit_push_due(t, W, 100, push_ok, NULL), 1);
	assert_int_equal(pushed_n[0], 0);
	/* A past window's entry is dropped from the list, not pushed. */
	assert_non_null(rlimit_get(t, RLIMIT_SUB, "old", W - 1));
	assert_int_equal(rlimit_push_due(t, W, 100, push_ok, NULL), 0);
	assert_int_equal(t->rt_ndirty, 0);
	free(t);
}

static void
test_the_table_stays_bounded_and_never_takes_a_busy_entry(void **state)
{
	struct rlimit_table	*t = malloc(sizeof(*t));
	struct rlimit_entry	*e;
	char			 id[32];
	int			 i, placed = 0;

	(void)state;
	rlimit_init(t);
	/* A past window's keys give way to the current one's. */
	for (i = 0; i < RLIMIT_SLOTS; i++) {
		snprintf(id, sizeof(id), "old-%d", i);
		if (rlimit_get(t, RLIMIT_SUB, id, W - 1) != NULL)
			placed++;
	}
	assert_true(placed == RLIMIT_SLOTS);
	for (i = 0; i < 2 * RLIMIT_SLOTS; i++) {
		snprintf(id, sizeof(id), "new-%d", i);
		e = rlimit_get(t, RLIMIT_SUB, id, W);
		assert_non_null(e);
		rlimit_hit(t, e);
		assert_true(t->rt_ndirty <= RLIMIT_SLOTS);
	}
	assert_true(t->rt_evicted >= RLIMIT_SLOTS);
	/* Every entry awaits a reply: a new key finds no room. */
	npushed = 0;
	assert_int_equal(rlimit_push_due(t, W, RLIMIT_SLOTS, push_ok, NULL),
	    RLIMIT_SLOTS);
	assert_null(rlimit_get(t, RLIMIT_SUB, "late", W));
	assert_int_equal(t->rt_full, 1);
	free(t);
}

static void
test_redis_keys_hide_the_identity(void **state)
{
	struct rlimit_table	*t = malloc(sizeof(*t));
	struct rlimit_entry	*e;
	char			 key[RLIMIT_KEY_MAX];

	(void)state;
	rlimit_init(t);
	e = rlimit_get(t, RLIMIT_REFERRALS, "hotline-7", W);
	assert_int_equal(rlimit_redis_key(e, key), 24 + 32);
	assert_true(strncmp(key, "concord:rl:ref:29000000:", 24) == 0);
	assert_int_equal(strlen(key), 24 + 32);
	assert_null(strstr(key, "hotline"));
	free(t);
}

int	test_rlimit_group(void);

int
test_rlimit_group(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_decision_adds_unacknowledged_increments_to_the_shared_total),
		cmocka_unit_test(test_a_lost_push_keeps_the_local_count),
		cmocka_unit_test(
		    test_a_consulted_key_is_refreshed_with_a_zero_increment),
		cmocka_unit_test(
		    test_the_table_stays_bounded_and_never_takes_a_busy_entry),
		cmocka_unit_test(test_redis_keys_hide_the_identity),
	};

	return (cmocka_run_group_tests_name("rlimit", tests, NULL, NULL));
}
