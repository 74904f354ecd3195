/*
 * auth: JWT verification. The order matters: the header is decoded
 * first to choose a key we hold, the header's alg must be that key's
 * one algorithm, libjwt then checks the signature with that key, and
 * only then are the claims read and checked one by one.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "auth.h"

#define AUTH_TOKEN_MAX	8192

static const struct {
	const char	*name;
	uint32_t	 bit;
} auth_roles[] = {
	{ "admin",		ROLE_ADMIN },
	{ "coordinator",	ROLE_COORDINATOR },
	{ "case_manager",	ROLE_CASE_MANAGER },
	{ "provider",		ROLE_PROVIDER },
	{ "investigator",	ROLE_INVESTIGATOR },
	{ "prosecutor",		ROLE_PROSECUTOR },
	{ "hotline",		ROLE_HOTLINE },
	{ "analyst",		ROLE_ANALYST },
	{ NULL,			0 }
};

static int	 auth_b64url_decode(const char *, size_t, unsigned char *,
		    size_t, size_t *);
static int	 auth_key_add_pem(struct auth_keyset *, const char *,
		    const char *, char *, size_t);
static const char *auth_alg_name(enum auth_alg);
static jwt_alg_t auth_alg_jwt(enum auth_alg);
static int	 auth_claims_check(const struct auth_keyset *, json_t *,
		    time_t, struct auth_identity *, char *, size_t);
static int	 auth_jwk_b64(json_t *, const char *, unsigned char *, size_t,
		    size_t *);
static EVP_PKEY	*auth_jwk_pkey(json_t *, enum auth_alg *, const char **);
static int	 auth_pkey_pem(EVP_PKEY *, struct auth_key *);
static int	 auth_jwks_file(struct auth_keyset *, const char *, char *,
		    size_t);

uint32_t
auth_role_bit(const char *name)
{
	int	i;

	for (i = 0; auth_roles[i].name != NULL; i++) {
		if (strcmp(auth_roles[i].name, name) == 0)
			return (auth_roles[i].bit);
	}
	return (0);
}

const char *
auth_role_name(uint32_t bit)
{
	int	i;

	for (i = 0; auth_roles[i].name != NULL; i++) {
		if (auth_roles[i].bit == bit)
			return (auth_roles[i].name);
	}
	return (NULL);
}

int
auth_is_uuid(const char *s)
{
	int	i;

	if (s == NULL || strlen(s) != 36)
		return (0);
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return (0);
		} else if (!isxdigit((unsigned char)s[i]))
			return (0);
	}
	return (1);
}

static const char *
auth_alg_name(enum auth_alg alg)
{
	switch (alg) {
	case AUTH_ALG_HS256:
		return ("HS256");
	case AUTH_ALG_RS256:
		return ("RS256");
	case AUTH_ALG_ES256:
		return ("ES256");
	}
	return ("?");
}

static jwt_alg_t
auth_alg_jwt(enum auth_alg alg)
{
	switch (alg) {
	case AUTH_ALG_HS256:
		return (JWT_ALG_HS256);
	case AUTH_ALG_RS256:
		return (JWT_ALG_RS256);
	case AUTH_ALG_ES256:
		return (JWT_ALG_ES256);
	}
	return (JWT_ALG_INVAL);
}

/*
 * Decode unpadded base64url. Returns 0 and the length in *olen, -1 on
 * a character outside the alphabet or when out is too small.
 */
static int
auth_b64url_decode(const char *in, size_t len, unsigned char *out,
    size_t osize, size_t *olen)
{
	unsigned int	acc = 0;
	size_t		i, n = 0;
	int		bits = 0, v;
	char		c;

	for (i = 0; i < len; i++) {
		c = in[i];
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '-')
			v = 62;
		else if (c == '_')
			v = 63;
		else
			return (-1);
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= osize)
				return (-1);
			out[n++] = (unsigned char)((acc >> bits) & 0xff);
		}
	}
	*olen = n;
	return (0);
}

static int
auth_key_add_pem(struct auth_keyset *ks, const char *kid, const char *path,
    char *err, size_t elen)
{
	FILE		*fp = NULL;
	BIO		*bio = NULL;
	EVP_PKEY	*pkey = NULL;
	struct auth_key	*k;
	long		 sz;
	int		 rc = -1;

	if (ks->nkeys >= AUTH_MAX_KEYS) {
		snprintf(err, elen, "too many JWT keys");
		goto out;
	}
	k = &ks->keys[ks->nkeys];
	memset(k, 0, sizeof(*k));
	if (strlen(kid) == 0 || strlen(kid) >= sizeof(k->kid)) {
		snprintf(err, elen, "bad kid in CONCORD_JWT_PUBLIC_KEYS");
		goto out;
	}
	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, elen, "cannot open JWT public key for kid %s",
		    kid);
		goto out;
	}
	if (fseek(fp, 0, SEEK_END) == -1 || (sz = ftell(fp)) <= 0 ||
	    sz > 65536 || fseek(fp, 0, SEEK_SET) == -1) {
		snprintf(err, elen, "bad JWT public key file for kid %s", kid);
		goto out;
	}
	k->key = calloc(1, (size_t)sz + 1);
	if (k->key == NULL || fread(k->key, 1, (size_t)sz, fp) != (size_t)sz) {
		snprintf(err, elen, "cannot read JWT public key for kid %s",
		    kid);
		goto out;
	}
	k->len = (size_t)sz;
	if ((bio = BIO_new_mem_buf(k->key, (int)k->len)) == NULL ||
	    (pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) == NULL) {
		snprintf(err, elen, "kid %s is not a PEM public key", kid);
		goto out;
	}
	switch (EVP_PKEY_base_id(pkey)) {
	case EVP_PKEY_RSA:
		k->alg = AUTH_ALG_RS256;
		break;
	case EVP_PKEY_EC:
		if (EVP_PKEY_bits(pkey) != 256) {
			snprintf(err, elen, "kid %s: only P-256 EC keys", kid);
			goto out;
		}
		k->alg = AUTH_ALG_ES256;
		break;
	default:
		snprintf(err, elen, "kid %s: only RSA or P-256 keys", kid);
		goto out;
	}
	snprintf(k->kid, sizeof(k->kid), "%s", kid);
	ks->nkeys++;
	rc = 0;
out:
	if (rc == -1 && ks->nkeys < AUTH_MAX_KEYS) {
		free(ks->keys[ks->nkeys].key);
		ks->keys[ks->nkeys].key = NULL;
	}
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	if (fp != NULL)
		fclose(fp);
	return (rc);
}

int
auth_keyset_load(struct auth_keyset *ks, const struct concord_config *cfg,
    char *err, size_t elen)
{
	char		*list = NULL, *item, *save = NULL, *eq;
	struct auth_key	*k;
	int		 rc = -1;

	memset(ks, 0, sizeof(*ks));
	ks->issuer = strdup(cfg->jwt_issuer);
	ks->audience = strdup(cfg->jwt_audience);
	ks->leeway = cfg->jwt_leeway;
	if (ks->issuer == NULL || ks->audience == NULL) {
		snprintf(err, elen, "out of memory");
		goto out;
	}
	if (cfg->jwt_hs256_secret != NULL) {
		k = &ks->keys[ks->nkeys];
		snprintf(k->kid, sizeof(k->kid), "%s", cfg->jwt_hs256_kid);
		k->alg = AUTH_ALG_HS256;
		k->len = strlen(cfg->jwt_hs256_secret);
		if ((k->key = malloc(k->len + 1)) == NULL) {
			snprintf(err, elen, "out of memory");
			goto out;
		}
		memcpy(k->key, cfg->jwt_hs256_secret, k->len + 1);
		ks->nkeys++;
	}
	if (cfg->jwt_public_keys != NULL) {
		if ((list = strdup(cfg->jwt_public_keys)) == NULL) {
			snprintf(err, elen, "out of memory");
			goto out;
		}
		for (item = strtok_r(list, ",", &save); item != NULL;
		    item = strtok_r(NULL, ",", &save)) {
			while (isspace((unsigned char)*item))
				item++;
			if ((eq = strchr(item, '=')) == NULL) {
				snprintf(err, elen, "CONCORD_JWT_PUBLIC_KEYS "
				    "entries are kid=path");
				goto out;
			}
			*eq = '\0';
			if (auth_key_add_pem(ks, item, eq + 1, err, elen) == -1)
				goto out;
		}
	}
	ks->nstatic = ks->nkeys;
	if (cfg->jwt_jwks_file != NULL &&
	    auth_jwks_file(ks, cfg->jwt_jwks_file, err, elen) == -1)
		goto out;
	/* A JWKS URL is fetched by the API itself (api/jwks.c). */
	if (ks->nkeys == 0 && cfg->jwt_jwks_url == NULL) {
		snprintf(err, elen, "no JWT key configured: set "
		    "CONCORD_JWT_HS256_SECRET, CONCORD_JWT_PUBLIC_KEYS or a JWKS");
		goto out;
	}
	rc = 0;
out:
	free(list);
	if (rc == -1)
		auth_keyset_cleanup(ks);
	return (rc);
}

void
auth_keyset_cleanup(struct auth_keyset *ks)
{
	int	i;

	for (i = 0; i < ks->nkeys; i++) {
		if (ks->keys[i].key != NULL) {
			explicit_bzero(ks->keys[i].key, ks->keys[i].len);
			free(ks->keys[i].key);
		}
	}
	free(ks->issuer);
	free(ks->audience);
	memset(ks, 0, sizeof(*ks));
}

/*
 * A NumericDate claim (integer or real) as seconds, saturated at about
 * +-146 billion years so that adding the leeway cannot overflow and a
 * huge real converts without undefined behaviour. v must be a number.
 */
static json_int_t
auth_claim_time(json_t *v)
{
	const json_int_t	bound = (json_int_t)1 << 62;
	double			d;

	if (json_is_integer(v)) {
		if (json_integer_value(v) > bound)
			return (bound);
		if (json_integer_value(v) < -bound)
			return (-bound);
		return (json_integer_value(v));
	}
	d = json_real_value(v);
	if (d >= (double)bound)
		return (bound);
	if (d <= -(double)bound)
		return (-bound);
	return ((json_int_t)d);
}

/* Check the registered and Concord claims. Returns 0 or -1 with err. */
static int
auth_claims_check(const struct auth_keyset *ks, json_t *c, time_t now,
    struct auth_identity *id, char *err, size_t elen)
{
	json_t		*v, *r;
	size_t		 i;
	uint32_t	 bit;
	json_int_t	 exp, nbf;
	int		 aud_ok;

	v = json_object_get(c, "exp");
	if (!json_is_integer(v) && !json_is_real(v)) {
		snprintf(err, elen, "token has no exp claim");
		return (-1);
	}
	exp = auth_claim_time(v);
	if ((json_int_t)now > exp + ks->leeway) {
		snprintf(err, elen, "token has expired");
		return (-1);
	}
	v = json_object_get(c, "nbf");
	if (v != NULL) {
		if (!json_is_number(v)) {
			snprintf(err, elen, "nbf claim is not a number");
			return (-1);
		}
		nbf = auth_claim_time(v);
		if ((json_int_t)now + ks->leeway < nbf) {
			snprintf(err, elen, "token is not valid yet");
			return (-1);
		}
	}
	v = json_object_get(c, "iss");
	if (!json_is_string(v) || strcmp(json_string_value(v),
	    ks->issuer) != 0) {
		snprintf(err, elen, "token issuer is not accepted");
		return (-1);
	}
	v = json_object_get(c, "aud");
	aud_ok = 0;
	if (json_is_string(v))
		aud_ok = strcmp(json_string_value(v), ks->audience) == 0;
	else if (json_is_array(v)) {
		json_array_foreach(v, i, r) {
			if (json_is_string(r) &&
			    strcmp(json_string_value(r), ks->audience) == 0)
				aud_ok = 1;
		}
	}
	if (!aud_ok) {
		snprintf(err, elen, "token audience is not accepted");
		return (-1);
	}
	v = json_object_get(c, "sub");
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) >= sizeof(id->sub)) {
		snprintf(err, elen, "token has no usable sub claim");
		return (-1);
	}
	snprintf(id->sub, sizeof(id->sub), "%s", json_string_value(v));

	v = json_object_get(c, "roles");
	if (!json_is_array(v) || json_array_size(v) == 0) {
		snprintf(err, elen, "token has no roles claim");
		return (-1);
	}
	id->roles = 0;
	json_array_foreach(v, i, r) {
		if (!json_is_string(r) ||
		    (bit = auth_role_bit(json_string_value(r))) == 0) {
			snprintf(err, elen, "token names an unknown role");
			return (-1);
		}
		id->roles |= bit;
	}
	v = json_object_get(c, "org");
	if (v == NULL || json_is_null(v)) {
		if (id->roles != ROLE_ADMIN) {
			snprintf(err, elen, "token has no org claim");
			return (-1);
		}
		id->org[0] = '\0';
	} else {
		if (!json_is_string(v) || !auth_is_uuid(json_string_value(v))) {
			snprintf(err, elen, "org claim is not an id");
			return (-1);
		}
		snprintf(id->org, sizeof(id->org), "%s", json_string_value(v));
	}
	id->exp = (long)exp;
	return (0);
}

int
auth_token_verify(const struct auth_keyset *ks, const char *token,
    time_t now, struct auth_identity *id, char *err, size_t elen)
{
	const char		*dot;
	unsigned char		 hdr[1024];
	size_t			 hlen, tlen;
	json_t			*h = NULL, *claims = NULL, *v;
	const char		*alg, *kid;
	const struct auth_key	*key = NULL;
	jwt_t			*jwt = NULL;
	char			*grants = NULL;
	int			 i, rc = -1;

	memset(id, 0, sizeof(*id));
	if (token == NULL || (tlen = strlen(token)) == 0 ||
	    tlen > AUTH_TOKEN_MAX) {
		snprintf(err, elen, "token is missing or too long");
		goto out;
	}
	if ((dot = strchr(token, '.')) == NULL || strchr(dot + 1, '.') == NULL) {
		snprintf(err, elen, "token is not a compact JWS");
		goto out;
	}
	if (auth_b64url_decode(token, (size_t)(dot - token), hdr,
	    sizeof(hdr) - 1, &hlen) == -1) {
		snprintf(err, elen, "token header is not base64url");
		goto out;
	}
	hdr[hlen] = '\0';
	if ((h = json_loadb((const char *)hdr, hlen, JSON_REJECT_DUPLICATES,
	    NULL)) == NULL || !json_is_object(h)) {
		snprintf(err, elen, "token header is not a JSON object");
		goto out;
	}
	v = json_object_get(h, "alg");
	if (!json_is_string(v)) {
		snprintf(err, elen, "token header has no alg");
		goto out;
	}
	alg = json_string_value(v);
	if (strcasecmp(alg, "none") == 0) {
		snprintf(err, elen, "unsigned tokens are not accepted");
		goto out;
	}
	if (json_object_get(h, "crit") != NULL) {
		snprintf(err, elen, "token header crit is not supported");
		goto out;
	}
	v = json_object_get(h, "kid");
	if (v != NULL && !json_is_string(v)) {
		snprintf(err, elen, "token header kid is not a string");
		goto out;
	}
	kid = json_is_string(v) ? json_string_value(v) : NULL;
	for (i = 0; i < ks->nkeys; i++) {
		if (kid == NULL && ks->nkeys == 1)
			key = &ks->keys[i];
		else if (kid != NULL && strcmp(kid, ks->keys[i].kid) == 0)
			key = &ks->keys[i];
	}
	if (key == NULL) {
		snprintf(err, elen, kid == NULL ? "token has no kid" :
		    AUTH_ERR_UNKNOWN_KID);
		goto out;
	}
	if (strcmp(alg, auth_alg_name(key->alg)) != 0) {
		snprintf(err, elen, "token alg does not match its key");
		goto out;
	}
	if (jwt_decode(&jwt, token, key->key, (int)key->len) != 0 ||
	    jwt == NULL) {
		snprintf(err, elen, "token signature is not valid");
		goto out;
	}
	if (jwt_get_alg(jwt) != auth_alg_jwt(key->alg)) {
		snprintf(err, elen, "token alg does not match its key");
		goto out;
	}
	if ((grants = jwt_get_grants_json(jwt, NULL)) == NULL ||
	    (claims = json_loads(grants, 0, NULL)) == NULL ||
	    !json_is_object(claims)) {
		snprintf(err, elen, "token claims are not a JSON object");
		goto out;
	}
	if (auth_claims_check(ks, claims, now, id, err, elen) == -1)
		goto out;
	rc = 0;
out:
	if (rc == -1)
		memset(id, 0, sizeof(*id));
	json_decref(h);
	json_decref(claims);
	free(grants);
	if (jwt != NULL)
		jwt_free(jwt);
	return (rc);
}

/*
 * The base64url member name of the JWK o into out. Returns 0, or -1
 * when it is missing, not base64url, empty or longer than osize.
 */
static int
auth_jwk_b64(json_t *o, const char *name, unsigned char *out, size_t osize,
    size_t *olen)
{
	json_t	*v;

	v = json_object_get(o, name);
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    auth_b64url_decode(json_string_value(v), json_string_length(v),
	    out, osize, olen) == -1 || *olen == 0)
		return (-1);
	return (0);
}

/*
 * The public key of one JWK and its one algorithm. Returns the key, or
 * NULL with *why "skip" (a type we do not verify with) or another
 * reason (a key of our types that cannot be read).
 */
static EVP_PKEY *
auth_jwk_pkey(json_t *jwk, enum auth_alg *alg, const char **why)
{
	OSSL_PARAM_BLD	*bld = NULL;
	OSSL_PARAM	*params = NULL;
	EVP_PKEY_CTX	*ctx = NULL;
	EVP_PKEY	*pkey = NULL;
	BIGNUM		*n = NULL, *e = NULL;
	unsigned char	 a[1024], b[1024], pt[65];
	size_t		 alen, blen;
	const char	*kty, *jalg, *use;
	int		 rsa;

	kty = json_string_value(json_object_get(jwk, "kty"));
	jalg = json_string_value(json_object_get(jwk, "alg"));
	use = json_string_value(json_object_get(jwk, "use"));
	*why = "skip";
	if (kty == NULL || (use != NULL && strcmp(use, "sig") != 0))
		goto out;
	if (strcmp(kty, "RSA") == 0 && (jalg == NULL ||
	    strcmp(jalg, "RS256") == 0))
		rsa = 1;
	else if (strcmp(kty, "EC") == 0 && (jalg == NULL ||
	    strcmp(jalg, "ES256") == 0))
		rsa = 0;
	else
		goto out;
	*why = "a key cannot be read";
	if ((bld = OSSL_PARAM_BLD_new()) == NULL)
		goto out;
	if (rsa) {
		if (auth_jwk_b64(jwk, "n", a, sizeof(a), &alen) == -1 ||
		    auth_jwk_b64(jwk, "e", b, sizeof(b), &blen) == -1 ||
		    alen < 256 || (n = BN_bin2bn(a, (int)alen, NULL)) == NULL ||
		    (e = BN_bin2bn(b, (int)blen, NULL)) == NULL ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
			goto out;
		*alg = AUTH_ALG_RS256;
	} else {
		if (!json_is_string(json_object_get(jwk, "crv")) ||
		    strcmp(json_string_value(json_object_get(jwk, "crv")),
		    "P-256") != 0) {
			*why = "skip";
			goto out;
		}
		if (auth_jwk_b64(jwk, "x", a, sizeof(a), &alen) == -1 ||
		    auth_jwk_b64(jwk, "y", b, sizeof(b), &blen) == -1 ||
		    alen != 32 || blen != 32)
			goto out;
		pt[0] = 0x04;
		memcpy(pt + 1, a, 32);
		memcpy(pt + 33, b, 32);
		if (!OSSL_PARAM_BLD_push_utf8_string(bld,
		    OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
		    !OSSL_PARAM_BLD_push_octet_string(bld,
		    OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt)))
			goto out;
		*alg = AUTH_ALG_ES256;
	}
	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, rsa ? "RSA" : "EC",
	    NULL)) == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pkey = NULL;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return (pkey);
}

/* Store pkey as PEM text in k (what libjwt verifies with). 0 or -1. */
static int
auth_pkey_pem(EVP_PKEY *pkey, struct auth_key *k)
{
	BIO	*bio;
	char	*data;
	long	 len;
	int	 rc = -1;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return (-1);
	if (PEM_write_bio_PUBKEY(bio, pkey) != 1 ||
	    (len = BIO_get_mem_data(bio, &data)) <= 0)
		goto out;
	if ((k->key = malloc((size_t)len + 1)) == NULL)
		goto out;
	memcpy(k->key, data, (size_t)len);
	k->key[len] = '\0';
	k->len = (size_t)len;
	rc = 0;
out:
	BIO_free(bio);
	return (rc);
}

int
auth_jwks_apply(struct auth_keyset *ks, const char *json, size_t len,
    int *skipped, char *err, size_t elen)
{
	struct auth_key	 fresh[AUTH_MAX_KEYS];
	json_t		*doc = NULL, *keys, *jwk;
	EVP_PKEY	*pkey;
	enum auth_alg	 alg = AUTH_ALG_RS256;
	const char	*kid, *why;
	size_t		 i;
	int		 n = 0, j, dup, rc = -1;

	*skipped = 0;
	memset(fresh, 0, sizeof(fresh));
	if ((doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL)) ==
	    NULL || !json_is_array(keys = json_object_get(doc, "keys"))) {
		snprintf(err, elen, "the JWKS is not a JSON object with keys");
		goto out;
	}
	json_array_foreach(keys, i, jwk) {
		kid = json_string_value(json_object_get(jwk, "kid"));
		if (kid == NULL || *kid == '\0' ||
		    strlen(kid) >= sizeof(fresh[0].kid)) {
			(*skipped)++;
			continue;
		}
		for (dup = 0, j = 0; j < ks->nstatic + n; j++) {
			if (strcmp(j < ks->nstatic ? ks->keys[j].kid :
			    fresh[j - ks->nstatic].kid, kid) == 0)
				dup = 1;
		}
		if (dup) {
			(*skipped)++;
			continue;
		}
		if ((pkey = auth_jwk_pkey(jwk, &alg, &why)) == NULL) {
			if (strcmp(why, "skip") == 0) {
				(*skipped)++;
				continue;
			}
			snprintf(err, elen, "JWKS kid %s: %s", kid, why);
			goto out;
		}
		if (ks->nstatic + n >= AUTH_MAX_KEYS) {
			EVP_PKEY_free(pkey);
			snprintf(err, elen, "the JWKS has too many keys");
			goto out;
		}
		j = auth_pkey_pem(pkey, &fresh[n]);
		EVP_PKEY_free(pkey);
		if (j == -1) {
			snprintf(err, elen, "out of memory");
			goto out;
		}
		snprintf(fresh[n].kid, sizeof(fresh[n].kid), "%s", kid);
		fresh[n].alg = alg;
		n++;
	}
	if (n == 0 && json_array_size(keys) > 0) {
		snprintf(err, elen, "the JWKS holds no RS256 or ES256 key");
		goto out;
	}
	/* Swap: the old JWKS keys go, the new ones take their places. */
	for (j = ks->nstatic; j < ks->nkeys; j++) {
		free(ks->keys[j].key);
		memset(&ks->keys[j], 0, sizeof(ks->keys[j]));
	}
	memcpy(&ks->keys[ks->nstatic], fresh, (size_t)n * sizeof(fresh[0]));
	ks->nkeys = ks->nstatic + n;
	n = 0;
	rc = ks->nkeys - ks->nstatic;
out:
	for (j = 0; j < n; j++)
		free(fresh[j].key);
	json_decref(doc);
	return (rc);
}

/* Load the JWKS file at start. Returns 0, or -1 with err. */
static int
auth_jwks_file(struct auth_keyset *ks, const char *path, char *err,
    size_t elen)
{
	FILE	*fp;
	char	*buf;
	size_t	 n;
	int	 skipped, rc = -1;

	if ((buf = malloc(1 << 20)) == NULL) {
		snprintf(err, elen, "out of memory");
		return (-1);
	}
	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, elen, "CONCORD_JWT_JWKS_FILE cannot be opened");
		goto out;
	}
	n = fread(buf, 1, (1 << 20) - 1, fp);
	fclose(fp);
	if (auth_jwks_apply(ks, buf, n, &skipped, err, elen) == -1)
		goto out;
	rc = 0;
out:
	free(buf);
	return (rc);
}
