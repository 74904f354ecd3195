/*
 * Unit tests for common/taxonomy.c and common/config.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/config.h"
#include "../../common/job.h"
#include "../../common/taxonomy.h"

static void
test_codes_are_unique_snake_case(void **state)
{
	const struct taxonomy_need	*n;
	size_t				 i, j, count;

	(void)state;
	n = taxonomy_needs(&count);
	for (i = 0; i < count; i++) {
		assert_true(strspn(n[i].code,
		    "abcdefghijklmnopqrstuvwxyz0123456789_") ==
		    strlen(n[i].code));
		for (j = i + 1; j < count; j++)
			assert_string_not_equal(n[i].code, n[j].code);
		if (n[i].parent != NULL) {
			assert_non_null(taxonomy_need_find(n[i].parent));
			assert_null(taxonomy_need_find(n[i].parent)->parent);
		}
	}
}

static void
test_group_counts_match_the_seed(void **state)
{
	const struct taxonomy_need	*n;
	size_t				 i, j, count, victim = 0, cj = 0;
	int				 seen;

	(void)state;
	n = taxonomy_needs(&count);
	for (i = 0; i < count; i++) {
		seen = 0;
		for (j = 0; j < i; j++)
			if (strcmp(n[i].seed, n[j].seed) == 0)
				seen = 1;
		if (seen)
			continue;
		if (strcmp(n[i].group, "victim") == 0)
			victim++;
		else if (strcmp(n[i].group, "criminal_justice") == 0)
			cj++;
		else
			fail_msg("bad group %s", n[i].group);
	}
	assert_int_equal(victim, 32);
	assert_int_equal(cj, 20);
}

static void
test_find(void **state)
{
	(void)state;
	assert_non_null(taxonomy_need_find("housing_emergency"));
	assert_string_equal(taxonomy_need_find("housing_emergency")->parent,
	    "housing");
	assert_null(taxonomy_need_find("Housing"));
	assert_null(taxonomy_need_find(NULL));
	assert_true(job_kind_known("ping"));
	assert_false(job_kind_known("rm -rf"));
}

int
test_taxonomy_group(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codes_are_unique_snake_case),
		cmocka_unit_test(test_group_counts_match_the_seed),
		cmocka_unit_test(test_find),
	};

	return (cmocka_run_group_tests_name("taxonomy", tests, NULL, NULL));
}

static void
test_split_listen(void **state)
{
	char	h[64], p[8];

	(void)state;
	assert_int_equal(concord_config_split_listen("127.0.0.1:8080", h,
	    sizeof(h), p, sizeof(p)), 0);
	assert_string_equal(h, "127.0.0.1");
	assert_string_equal(p, "8080");
	assert_int_equal(concord_config_split_listen("[::1]:9", h, sizeof(h),
	    p, sizeof(p)), 0);
	assert_string_equal(h, "::1");
	assert_int_equal(concord_config_split_listen("host", h, sizeof(h), p,
	    sizeof(p)), -1);
	assert_int_equal(concord_config_split_listen("h:0", h, sizeof(h), p,
	    sizeof(p)), -1);
	assert_int_equal(concord_config_split_listen("h:70000", h, sizeof(h),
	    p, sizeof(p)), -1);
	assert_int_equal(concord_config_split_listen(":80", h, sizeof(h), p,
	    sizeof(p)), -1);
}

static void
test_config_defaults_and_errors(void **state)
{
	struct concord_config	cfg;
	char			err[128];

	(void)state;
	unsetenv("CONCORD_LISTEN");
	unsetenv("CONCORD_WORKERS");
	unsetenv("CONCORD_JWT_HS256_SECRET");
	assert_int_equal(concord_config_load(&cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.listen_host, "127.0.0.1");
	assert_string_equal(cfg.listen_port, "8080");
	assert_int_equal(cfg.workers, 2);
	assert_int_equal(cfg.body_max, 1048576);
	concord_config_cleanup(&cfg);

	setenv("CONCORD_WORKERS", "zero", 1);
	assert_int_equal(concord_config_load(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "CONCORD_WORKERS"));
	concord_config_cleanup(&cfg);
	unsetenv("CONCORD_WORKERS");

	setenv("CONCORD_MAJORITY_LANGUAGES", "en; DROP", 1);
	assert_int_equal(concord_config_load(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "CONCORD_MAJORITY_LANGUAGES"));
	concord_config_cleanup(&cfg);
	setenv("CONCORD_MAJORITY_LANGUAGES", "en,es", 1);
	assert_int_equal(concord_config_load(&cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.majority_languages, "en,es");
	concord_config_cleanup(&cfg);
	unsetenv("CONCORD_MAJORITY_LANGUAGES");

	setenv("CONCORD_JWT_HS256_SECRET", "short", 1);
	assert_int_equal(concord_config_load(&cfg, err, sizeof(err)), -1);
	concord_config_cleanup(&cfg);
	unsetenv("CONCORD_JWT_HS256_SECRET");

	/* The data key travels in a libpq options string: safe bytes only. */
	setenv("CONCORD_DATA_KEY", "0123456789abcdef0123456789abcde", 1);
	assert_int_equal(concord_config_load(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "CONCORD_DATA_KEY"));
	concord_config_cleanup(&cfg);
	setenv("CONCORD_DATA_KEY", "0123456789abcdef 0123456789abcdef", 1);
	assert_int_equal(concord_config_load(&cfg, err, sizeof(err)), -1);
	concord_config_cleanup(&cfg);
	setenv("CONCORD_DATA_KEY", "0123456789abcdef0123456789abcdef", 1);
	assert_int_equal(concord_config_load(&cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.data_key, "0123456789abcdef0123456789abcdef");
	concord_config_cleanup(&cfg);
	unsetenv("CONCORD_DATA_KEY");
}

/* CONCORD_CORS_ORIGINS: named origins only, normalized; empty is off. */
static void
test_config_cors_origins(void **state)
{
	struct concord_config	 cfg;
	char			 err[128], *saved;
	const char		*bad[] = { "*", "null", "app.example.org",
				    "https://app.example.org/", "ftp://x.org",
				    "https://", "https://a.org,*", "https://a.org/x",
				    "https://user@a.org" };
	size_t			 i;

	(void)state;
	saved = getenv("CONCORD_CORS_ORIGINS") != NULL ?
	    strdup(getenv("CONCORD_CORS_ORIGINS")) : NULL;
	unsetenv("CONCORD_CORS_ORIGINS");
	assert_int_equal(concord_config_load(&cfg, err, sizeof(err)), 0);
	assert_null(cfg.cors_origins);
	concord_config_cleanup(&cfg);
	setenv("CONCORD_CORS_ORIGINS", "  ", 1);
	assert_int_equal(concord_config_load(&cfg, err, sizeof(err)), 0);
	assert_null(cfg.cors_origins);
	concord_config_cleanup(&cfg);
	setenv("CONCORD_CORS_ORIGINS",
	    "https://App.Example.org, http://localhost:3000,http://[::1]:8080", 1);
	assert_int_equal(concord_config_load(&cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.cors_origins, "https://app.example.org,"
	    "http://localhost:3000,http://[::1]:8080");
	concord_config_cleanup(&cfg);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("CONCORD_CORS_ORIGINS", bad[i], 1);
		assert_int_equal(concord_config_load(&cfg, err, sizeof(err)),
		    -1);
		assert_non_null(strstr(err, "CONCORD_CORS_ORIGINS"));
		concord_config_cleanup(&cfg);
	}
	if (saved != NULL) {
		setenv("CONCORD_CORS_ORIGINS", saved, 1);
		free(saved);
	} else
		unsetenv("CONCORD_CORS_ORIGINS");
}

int
test_config_group(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_listen),
		cmocka_unit_test(test_config_defaults_and_errors),
		cmocka_unit_test(test_config_cors_origins),
	};

	return (cmocka_run_group_tests_name("config", tests, NULL, NULL));
}
