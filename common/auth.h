/*
 * auth: strict JWT verification on top of libjwt 1.10, which by itself
 * trusts the token's alg header and checks no claims. Concord picks the
 * key from its own key set (by kid), pins each key to one algorithm,
 * and checks exp, nbf, iss, aud, sub, roles and org itself.
 */
#ifndef CONCORD_AUTH_H
#define CONCORD_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"

/* Roles, as bits; ROLE_ANY is every role. */
#define ROLE_ADMIN		0x0001
#define ROLE_COORDINATOR	0x0002
#define ROLE_CASE_MANAGER	0x0004
#define ROLE_PROVIDER		0x0008
#define ROLE_INVESTIGATOR	0x0010
#define ROLE_PROSECUTOR		0x0020
#define ROLE_HOTLINE		0x0040
#define ROLE_ANALYST		0x0080
#define ROLE_ANY		0x00ff

#define AUTH_MAX_KEYS		32
#define AUTH_ORG_LEN		37	/* a UUID and its NUL */
#define AUTH_SUB_LEN		256

enum auth_alg {
	AUTH_ALG_HS256 = 1,
	AUTH_ALG_RS256,
	AUTH_ALG_ES256
};

struct auth_key {
	char		 kid[64];
	enum auth_alg	 alg;
	unsigned char	*key;		/* secret, or PEM text of a public key */
	size_t		 len;
};

struct auth_keyset {
	struct auth_key	 keys[AUTH_MAX_KEYS];
	int		 nkeys;
	int		 nstatic;	/* keys from settings; JWKS keys follow */
	char		*issuer;
	char		*audience;
	int		 leeway;
};

/* Who is calling, as proven by a verified token. */
struct auth_identity {
	char		sub[AUTH_SUB_LEN];
	char		org[AUTH_ORG_LEN];	/* "" for a pure admin token */
	uint32_t	roles;
	long		exp;
};

/*
 * Build the key set from configuration: the HS256 secret (if any) and
 * each kid=path public key (RSA keys become RS256, P-256 keys ES256).
 * Returns 0, or -1 with a reason in err. Free with auth_keyset_cleanup().
 */
int	auth_keyset_load(struct auth_keyset *, const struct concord_config *,
	    char *, size_t) CONCORD_WUR;
void	auth_keyset_cleanup(struct auth_keyset *);

/*
 * Replace the key set's JWKS keys (those after the configured ones) by
 * the keys of the JWK Set in json (len bytes): RSA keys (kty RSA, alg
 * RS256 or none) verify RS256, P-256 keys (kty EC, crv P-256, alg ES256
 * or none) ES256; every key needs a kid, "use" must be "sig" if given.
 * Keys of other types, and a kid already held by a configured key, are
 * skipped and counted in *skipped. Returns the number of JWKS keys
 * now held, or -1 with a reason in err, leaving the key set unchanged
 * (not JSON, no "keys" array, a key that cannot be read, too many
 * keys, or keys given but none usable).
 */
int	auth_jwks_apply(struct auth_keyset *, const char *, size_t, int *,
	    char *, size_t) CONCORD_WUR;

/* auth_token_verify()'s reason for a kid no key answers to. */
#define AUTH_ERR_UNKNOWN_KID	"token kid is not a known key"

/*
 * Verify a compact JWS and its claims at time now. Returns 0 and fills
 * id, or -1 with a short, caller-safe reason in err (never the token).
 */
int	auth_token_verify(const struct auth_keyset *, const char *, time_t,
	    struct auth_identity *, char *, size_t) CONCORD_WUR;

/* Role name <-> bit. auth_role_bit() returns 0 for an unknown name. */
uint32_t	 auth_role_bit(const char *);
const char	*auth_role_name(uint32_t);

/* True when s is a canonical lower- or upper-case UUID. */
int	auth_is_uuid(const char *);

#endif
