/*
 * Unit tests for common/auth.c: claim checks and key pinning, with
 * tokens minted here by libjwt.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jwt.h>

#include "../../common/auth.h"

#define SECRET	"unit-test-secret-unit-test-secret-0123"

static struct auth_keyset	ks;

static int
setup(void **state)
{
	struct concord_config	cfg;
	char			err[128];

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.jwt_hs256_secret = SECRET;
	cfg.jwt_hs256_kid = "k1";
	cfg.jwt_issuer = "iss";
	cfg.jwt_audience = "aud";
	cfg.jwt_leeway = 30;
	return (auth_keyset_load(&ks, &cfg, err, sizeof(err)));
}

static int
teardown(void **state)
{
	(void)state;
	auth_keyset_cleanup(&ks);
	return (0);
}

/* Mint an HS256 token from a JSON claims document. Caller frees. */
static char *
mint(const char *claims, const char *kid, jwt_alg_t alg)
{
	jwt_t	*jwt;
	char	*tok;

	assert_int_equal(jwt_new(&jwt), 0);
	assert_int_equal(jwt_add_grants_json(jwt, claims), 0);
	if (kid != NULL)
		jwt_add_header(jwt, "kid", kid);
	if (alg == JWT_ALG_NONE)
		jwt_set_alg(jwt, JWT_ALG_NONE, NULL, 0);
	else
		jwt_set_alg(jwt, alg, (const unsigned char *)SECRET,
		    (int)strlen(SECRET));
	tok = jwt_encode_str(jwt);
	jwt_free(jwt);
	return (tok);
}

static int
verify(const char *claims, const char *kid, jwt_alg_t alg,
    struct auth_identity *id, char *err, size_t elen)
{
	char	*tok;
	int	 rc;

	tok = mint(claims, kid, alg);
	assert_non_null(tok);
	rc = auth_token_verify(&ks, tok, 1000000, id, err, elen);
	free(tok);
	return (rc);
}

#define GOOD "{\"iss\":\"iss\",\"aud\":\"aud\",\"sub\":\"s\",\"exp\":1000100," \
	"\"roles\":[\"coordinator\",\"analyst\"]," \
	"\"org\":\"10000000-0000-4000-8000-000000000001\"}"

static void
test_valid_token_gives_identity(void **state)
{
	struct auth_identity	id;
	char			err[128];

	(void)state;
	assert_int_equal(verify(GOOD, "k1", JWT_ALG_HS256, &id, err,
	    sizeof(err)), 0);
	assert_string_equal(id.sub, "s");
	assert_string_equal(id.org, "10000000-0000-4000-8000-000000000001");
	assert_int_equal(id.roles, ROLE_COORDINATOR | ROLE_ANALYST);
}

static void
test_single_key_accepts_token_without_kid(void **state)
{
	struct auth_identity	id;
	char			err[128];

	(void)state;
	assert_int_equal(verify(GOOD, NULL, JWT_ALG_HS256, &id, err,
	    sizeof(err)), 0);
}

static void
test_alg_none_is_refused(void **state)
{
	struct auth_identity	id;
	char			err[128];

	(void)state;
	assert_int_equal(verify(GOOD, "k1", JWT_ALG_NONE, &id, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "unsigned"));
}

static void
test_alg_other_than_the_keys_is_refused(void **state)
{
	struct auth_identity	id;
	char			err[128];

	(void)state;
	assert_int_equal(verify(GOOD, "k1", JWT_ALG_HS512, &id, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "alg does not match"));
}

static void
test_claims_are_checked(void **state)
{
	static const struct {
		const char	*claims;
		const char	*reason;
	} cases[] = {
		{ "{\"iss\":\"iss\",\"aud\":\"aud\",\"sub\":\"s\","
		    "\"roles\":[\"admin\"]}", "no exp" },
		{ "{\"iss\":\"iss\",\"aud\":\"aud\",\"sub\":\"s\",\"exp\":999000,"
		    "\"roles\":[\"admin\"]}", "expired" },
		{ "{\"iss\":\"iss\",\"aud\":\"aud\",\"sub\":\"s\",\"exp\":1000100,"
		    "\"nbf\":1000500,\"roles\":[\"admin\"]}", "not valid yet" },
		{ "{\"iss\":\"x\",\"aud\":\"aud\",\"sub\":\"s\",\"exp\":1000100,"
		    "\"roles\":[\"admin\"]}", "issuer" },
		{ "{\"iss\":\"iss\",\"aud\":[\"x\"],\"sub\":\"s\",\"exp\":1000100,"
		    "\"roles\":[\"admin\"]}", "audience" },
		{ "{\"iss\":\"iss\",\"aud\":\"aud\",\"exp\":1000100,"
		    "\"roles\":[\"admin\"]}", "sub" },
		{ "{\"iss\":\"iss\",\"aud\":\"aud\",\"sub\":\"s\",\"exp\":1000100,"
		    "\"roles\":[]}", "roles" },
		{ "{\"iss\":\"iss\",\"aud\":\"aud\",\"sub\":\"s\",\"exp\":1000100,"
		    "\"roles\":[\"root\"]}", "unknown role" },
		{ "{\"iss\":\"iss\",\"aud\":\"aud\",\"sub\":\"s\",\"exp\":1000100,"
		    "\"roles\":[\"provider\"]}", "no org" },
		{ "{\"iss\":\"iss\",\"aud\":\"aud\",\"sub\":\"s\",\"exp\":1000100,"
		    "\"roles\":[\"provider\"],\"org\":\"x\"}", "org claim" },
	};
	struct auth_identity	id;
	char			err[128];
	size_t			i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(verify(cases[i].claims, "k1", JWT_ALG_HS256,
		    &id, err, sizeof(err)), -1);
		if (strstr(err, cases[i].reason) == NULL)
			fail_msg("case %zu: got '%s'", i, err);
	}
}

static void
test_leeway_allows_small_skew(void **state)
{
	struct auth_identity	id;
	char			err[128];

	(void)state;
	assert_int_equal(verify("{\"iss\":\"iss\",\"aud\":\"aud\",\"sub\":\"s\","
	    "\"exp\":999990,\"roles\":[\"admin\"]}", "k1", JWT_ALG_HS256, &id,
	    err, sizeof(err)), 0);
	assert_string_equal(id.org, "");
}

static void
test_unknown_kid_is_refused(void **state)
{
	struct auth_identity	id;
	char			err[128];

	(void)state;
	assert_int_equal(verify(GOOD, "other", JWT_ALG_HS256, &id, err,
	    sizeof(err)), -1);
}

static void
test_garbage_is_refused(void **state)
{
	struct auth_identity	id;
	char			err[128];
	const char		*bad[] = { "", "a", "a.b", "!!.!!.!!",
				    "e30.e30.", NULL };
	int			i;

	(void)state;
	for (i = 0; bad[i] != NULL; i++)
		assert_int_equal(auth_token_verify(&ks, bad[i], 1000000, &id,
		    err, sizeof(err)), -1);
	assert_int_equal(auth_token_verify(&ks, NULL, 1000000, &id, err,
	    sizeof(err)), -1);
}

static void
test_uuid_and_roles(void **state)
{
	(void)state;
	assert_true(auth_is_uuid("10000000-0000-4000-8000-00000000000a"));
	assert_false(auth_is_uuid("10000000-0000-4000-8000-00000000000"));
	assert_false(auth_is_uuid("10000000x0000-4000-8000-00000000000a"));
	assert_false(auth_is_uuid(NULL));
	assert_int_equal(auth_role_bit("hotline"), ROLE_HOTLINE);
	assert_int_equal(auth_role_bit("HOTLINE"), 0);
	assert_string_equal(auth_role_name(ROLE_ANALYST), "analyst");
}

static void
test_keyset_needs_a_key(void **state)
{
	struct concord_config	cfg;
	struct auth_keyset	k2;
	char			err[128];

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.jwt_issuer = "i";
	cfg.jwt_audience = "a";
	assert_int_equal(auth_keyset_load(&k2, &cfg, err, sizeof(err)), -1);
	cfg.jwt_public_keys = "k=/nonexistent.pem";
	assert_int_equal(auth_keyset_load(&k2, &cfg, err, sizeof(err)), -1);
	cfg.jwt_public_keys = "novalue";
	assert_int_equal(auth_keyset_load(&k2, &cfg, err, sizeof(err)), -1);
}

/* RFC 7517, appendix A.1: one P-256 and one 2048-bit RSA public key. */
#define JWK_EC	"{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"%s\"," \
	"\"x\":\"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4\"," \
	"\"y\":\"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM\"%s}"
#define JWK_RSA	"{\"kty\":\"RSA\",\"kid\":\"%s\",\"e\":\"AQAB\",\"n\":" \
	"\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1" \
	"RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n" \
	"9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZ" \
	"gnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6W" \
	"eZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqD" \
	"Kgw\"%s}"

static int
jwks(const char *doc, int *skipped)
{
	char	err[128];

	return (auth_jwks_apply(&ks, doc, strlen(doc), skipped, err,
	    sizeof(err)));
}

static void
test_jwks_keys_are_pinned_replaced_and_kept_on_error(void **state)
{
	char	doc[4096], a[1024], b[1024];
	int	skipped, i;

	(void)state;
	assert_int_equal(ks.nstatic, 1);
	snprintf(a, sizeof(a), JWK_EC, "e1", "");
	snprintf(b, sizeof(b), JWK_RSA, "r1", ",\"alg\":\"RS256\"");
	snprintf(doc, sizeof(doc), "{\"keys\":[%s,%s]}", a, b);
	assert_int_equal(jwks(doc, &skipped), 2);
	assert_int_equal(skipped, 0);
	assert_int_equal(ks.nkeys, 3);
	for (i = 1; i < 3; i++)
		assert_int_equal(ks.keys[i].alg, strcmp(ks.keys[i].kid, "e1")
		    == 0 ? AUTH_ALG_ES256 : AUTH_ALG_RS256);
	/* An alg its type cannot have, a kid the secret has, use enc. */
	snprintf(a, sizeof(a), JWK_RSA, "r2", ",\"alg\":\"ES256\"");
	snprintf(b, sizeof(b), JWK_EC, "k1", "");
	snprintf(doc, sizeof(doc), "{\"keys\":[%s,%s]}", a, b);
	assert_int_equal(jwks(doc, &skipped), -1);
	assert_int_equal(ks.nkeys, 3);
	snprintf(a, sizeof(a), JWK_EC, "e2", ",\"use\":\"enc\"");
	snprintf(b, sizeof(b), JWK_EC, "e3", "");
	snprintf(doc, sizeof(doc), "{\"keys\":[%s,%s]}", a, b);
	assert_int_equal(jwks(doc, &skipped), 1);
	assert_int_equal(skipped, 1);
	assert_int_equal(ks.nkeys, 2);
	assert_string_equal(ks.keys[1].kid, "e3");
	/* Broken documents change nothing. */
	assert_int_equal(jwks("{\"keys\": 3}", &skipped), -1);
	assert_int_equal(jwks("not json", &skipped), -1);
	snprintf(a, sizeof(a), JWK_EC, "e4", "");
	a[strlen(a) - 3] = '!';
	snprintf(doc, sizeof(doc), "{\"keys\":[%s]}", a);
	assert_int_equal(jwks(doc, &skipped), -1);
	assert_int_equal(ks.nkeys, 2);
	/* An empty set drops the JWKS keys, never the configured ones. */
	assert_int_equal(jwks("{\"keys\":[]}", &skipped), 0);
	assert_int_equal(ks.nkeys, 1);
	assert_string_equal(ks.keys[0].kid, "k1");
}

int
test_auth_group(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_token_gives_identity),
		cmocka_unit_test(test_single_key_accepts_token_without_kid),
		cmocka_unit_test(test_alg_none_is_refused),
		cmocka_unit_test(test_alg_other_than_the_keys_is_refused),
		cmocka_unit_test(test_claims_are_checked),
		cmocka_unit_test(test_leeway_allows_small_skew),
		cmocka_unit_test(test_unknown_kid_is_refused),
		cmocka_unit_test(test_garbage_is_refused),
		cmocka_unit_test(test_uuid_and_roles),
		cmocka_unit_test(test_keyset_needs_a_key),
		cmocka_unit_test(test_jwks_keys_are_pinned_replaced_and_kept_on_error),
	};

	return (cmocka_run_group_tests_name("auth", tests, setup, teardown));
}
