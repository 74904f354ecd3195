/*
 * Unit tests for common/netguard.c: every refused range, the forms that
 * hide an address (short IPv4, mapped IPv6, localhost names), and the
 * URL rules (https unless http is allowed, no user info or fragment).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/netguard.h"

static enum netguard_class
cls_of(const char *a)
{
	enum netguard_class	c = NETGUARD_PUBLIC;

	assert_int_not_equal(netguard_text_allowed(a, 0, &c), -1);
	return (c);
}

static void
test_each_refused_range_is_classified(void **state)
{
	static const struct {
		const char		*a;
		enum netguard_class	 c;
	} t[] = {
		{ "127.0.0.1", NETGUARD_LOOPBACK },
		{ "127.255.255.254", NETGUARD_LOOPBACK },
		{ "::1", NETGUARD_LOOPBACK },
		{ "169.254.169.254", NETGUARD_LINK_LOCAL },
		{ "169.254.0.1", NETGUARD_LINK_LOCAL },
		{ "fe80::1", NETGUARD_LINK_LOCAL },
		{ "febf::1", NETGUARD_LINK_LOCAL },
		{ "10.0.0.1", NETGUARD_PRIVATE },
		{ "172.16.0.1", NETGUARD_PRIVATE },
		{ "172.31.255.255", NETGUARD_PRIVATE },
		{ "192.168.1.1", NETGUARD_PRIVATE },
		{ "100.64.0.1", NETGUARD_CGNAT },
		{ "100.127.255.255", NETGUARD_CGNAT },
		{ "fc00::1", NETGUARD_UNIQUE_LOCAL },
		{ "fd12:3456::1", NETGUARD_UNIQUE_LOCAL },
		{ "0.0.0.0", NETGUARD_UNSPECIFIED },
		{ "::", NETGUARD_UNSPECIFIED },
		{ "224.0.0.1", NETGUARD_MULTICAST },
		{ "239.255.255.250", NETGUARD_MULTICAST },
		{ "ff02::1", NETGUARD_MULTICAST },
		{ "255.255.255.255", NETGUARD_RESERVED },
		{ "198.18.0.1", NETGUARD_RESERVED },
		{ "2001:db8::1", NETGUARD_RESERVED },
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (cls_of(t[i].a) != t[i].c)
			fail_msg("%s: got %s", t[i].a,
			    netguard_class_name(cls_of(t[i].a)));
		assert_int_equal(netguard_text_allowed(t[i].a, 0, NULL), 0);
	}
}

static void
test_neighbours_of_refused_ranges_are_public(void **state)
{
	const char	*pub[] = { "8.8.8.8", "172.15.255.255", "172.32.0.1",
			    "100.63.255.255", "100.128.0.1", "169.253.1.1",
			    "11.0.0.1", "192.169.0.1", "126.255.255.255",
			    "2606:4700::1111", "fbff::1", "fe00::1" };
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(pub) / sizeof(pub[0]); i++) {
		if (cls_of(pub[i]) != NETGUARD_PUBLIC)
			fail_msg("%s should be public", pub[i]);
		assert_int_equal(netguard_text_allowed(pub[i], 0, NULL), 1);
	}
}

static void
test_addresses_hidden_in_other_forms_are_unwrapped(void **state)
{
	(void)state;
	assert_int_equal(cls_of("::ffff:127.0.0.1"), NETGUARD_LOOPBACK);
	assert_int_equal(cls_of("::ffff:169.254.169.254"), NETGUARD_LINK_LOCAL);
	assert_int_equal(cls_of("64:ff9b::10.0.0.1"), NETGUARD_PRIVATE);
	assert_int_equal(cls_of("2002:c0a8:0101::1"), NETGUARD_PRIVATE);
	assert_int_equal(cls_of("127.1"), NETGUARD_LOOPBACK);
	assert_int_equal(cls_of("2130706433"), NETGUARD_LOOPBACK);
	assert_int_equal(cls_of("0x7f.0.0.1"), NETGUARD_LOOPBACK);
	assert_int_equal(netguard_text_allowed("example.org", 0, NULL), -1);
}

static void
test_allow_private_opens_private_ranges_only(void **state)
{
	(void)state;
	assert_int_equal(netguard_text_allowed("127.0.0.1", 1, NULL), 1);
	assert_int_equal(netguard_text_allowed("10.1.2.3", 1, NULL), 1);
	assert_int_equal(netguard_text_allowed("fd00::1", 1, NULL), 1);
	assert_int_equal(netguard_text_allowed("0.0.0.0", 1, NULL), 0);
	assert_int_equal(netguard_text_allowed("224.0.0.1", 1, NULL), 0);
	assert_int_equal(netguard_text_allowed("::", 1, NULL), 0);
}

static void
test_url_rules(void **state)
{
	struct netguard_url	 u;
	const char		*why;
	const char		*bad[] = { "", "ftp://example.org/",
			    "https://user:pw@example.org/", "https://example.org/#x",
			    "https://example.org:0/", "https://example.org:65536/",
			    "https://example.org:80x/", "https:///path",
			    "https://exa mple.org/", "https://[::1/",
			    "https://ex\xc3\xa9.org/", "https://a%2fb.org/",
			    "https://127.0.0.1/", "https://[::1]:8443/",
			    "https://localhost/", "https://api.LOCALHOST./",
			    "https://169.254.169.254/latest/meta-data",
			    "https://2130706433/", "https://[::ffff:10.0.0.1]/",
			    "https://100.64.1.1/", "https://[fc00::1]/",
			    "https://0.0.0.0/", "https://[ff02::1]/" };
	size_t			 i;

	(void)state;
	assert_int_equal(netguard_url_check("https://hooks.example.org:8443"
	    "/in?x=1", 0, 0, &u, &why), 0);
	assert_string_equal(u.ng_host, "hooks.example.org");
	assert_int_equal(u.ng_port, 8443);
	assert_int_equal(u.ng_https, 1);
	assert_int_equal(u.ng_literal, 0);
	assert_int_equal(netguard_url_check("https://[2606:4700::1111]/", 0,
	    0, &u, &why), 0);
	assert_string_equal(u.ng_host, "2606:4700::1111");
	assert_int_equal(u.ng_port, 443);
	assert_int_equal(u.ng_literal, 1);
	assert_int_equal(netguard_url_check("http://example.org/", 0, 0, &u,
	    &why), -1);
	assert_string_equal(why, "must be an https URL");
	assert_int_equal(netguard_url_check("http://example.org/", 1, 0, &u,
	    &why), 0);
	assert_int_equal(u.ng_port, 80);
	assert_int_equal(netguard_url_check("http://127.0.0.1:9/", 1, 1, &u,
	    &why), 0);
	assert_int_equal(netguard_url_check("http://localhost:9/", 1, 1, &u,
	    &why), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (netguard_url_check(bad[i], 0, 0, &u, &why) != -1)
			fail_msg("accepted %s", bad[i]);
	}
	assert_int_equal(netguard_url_check("https://169.254.169.254/", 0, 0,
	    &u, &why), -1);
	assert_string_equal(why, "must not point to a link-local address");
}

int
test_netguard_group(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_refused_range_is_classified),
		cmocka_unit_test(test_neighbours_of_refused_ranges_are_public),
		cmocka_unit_test(test_addresses_hidden_in_other_forms_are_unwrapped),
		cmocka_unit_test(test_allow_private_opens_private_ranges_only),
		cmocka_unit_test(test_url_rules),
	};

	return (cmocka_run_group_tests_name("netguard", tests, NULL, NULL));
}
