/*
 * Unit tests for common/query.c: repeated names, escapes, and what is
 * refused (bad escapes, NUL, invalid UTF-8, too many parameters).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/query.h"

static void
test_repeated_names_become_arrays_in_order(void **state)
{
	json_t		*q;
	const char	*why;

	(void)state;
	assert_int_equal(query_parse("need=food&x=1&need=housing%2Cshelter",
	    &q, &why), 0);
	assert_string_equal(json_string_value(json_array_get(json_object_get(q,
	    "need"), 0)), "food");
	assert_string_equal(json_string_value(json_array_get(json_object_get(q,
	    "need"), 1)), "housing,shelter");
	assert_string_equal(json_string_value(json_object_get(q, "x")), "1");
	json_decref(q);
}

static void
test_plus_and_escapes_decode(void **state)
{
	json_t		*q;
	const char	*why;

	(void)state;
	assert_int_equal(query_parse("q=a+b%C3%A9&empty=&flag", &q, &why), 0);
	assert_string_equal(json_string_value(json_object_get(q, "q")),
	    "a b\xc3\xa9");
	assert_string_equal(json_string_value(json_object_get(q, "empty")), "");
	assert_string_equal(json_string_value(json_object_get(q, "flag")), "");
	json_decref(q);
	assert_int_equal(query_parse(NULL, &q, &why), 0);
	assert_int_equal(json_object_size(q), 0);
	json_decref(q);
}

static void
test_bad_input_is_refused_with_a_reason(void **state)
{
	const char	*bad[] = { "a=%zz", "a=%4", "a=%00", "%00=1", "a=%ff",
			    "a=%c3%28" };
	json_t		*q;
	const char	*why;
	char		 many[1024];
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(query_parse(bad[i], &q, &why), -1);
		assert_null(q);
		assert_non_null(why);
	}
	many[0] = '\0';
	for (i = 0; i <= QUERY_MAX_PARAMS; i++)
		strcat(many, "a=1&");
	assert_int_equal(query_parse(many, &q, &why), -1);
	assert_string_equal(why, "Too many query parameters.");
}

int	test_query_group(void);

int
test_query_group(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_repeated_names_become_arrays_in_order),
		cmocka_unit_test(test_plus_and_escapes_decode),
		cmocka_unit_test(test_bad_input_is_refused_with_a_reason),
	};

	return (cmocka_run_group_tests_name("query", tests, NULL, NULL));
}
