/*
 * Unit test runner: each test_*.c exports one group runner.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

int	test_auth_group(void);
int	test_taxonomy_group(void);
int	test_config_group(void);
int	test_match_group(void);
int	test_query_group(void);
int	test_rlimit_group(void);
int	test_suppress_group(void);
int	test_netguard_group(void);

int
main(void)
{
	int	failed = 0;

	failed += test_auth_group();
	failed += test_taxonomy_group();
	failed += test_config_group();
	failed += test_match_group();
	failed += test_query_group();
	failed += test_rlimit_group();
	failed += test_suppress_group();
	failed += test_netguard_group();
	return (failed != 0);
}
