/*
 * libFuzzer target: auth_token_verify() on outside input. The first byte
 * picks the shape: a raw token (header, payload and signature as sent),
 * or fuzzed claims (or a fuzzed header) signed with the real HS256 secret,
 * so the claim checks behind the signature are reached too. Verification
 * must never crash, and must never accept a token without a subject and
 * at least one known role.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "../../common/auth.h"
#include "../../common/config.h"

#define FUZZ_SECRET	"fuzz-secret-fuzz-secret-fuzz-secret-0123"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct auth_keyset	ks;
static int			ready;

/* Unpadded base64url of len bytes into out (4/3 len + 4). */
static void
b64url(const uint8_t *in, size_t len, char *out)
{
	size_t	n, i;

	n = (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (i = 0; i < n; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
}

/* header.payload.signature, signed with FUZZ_SECRET. Caller frees. */
static char *
sign(const uint8_t *hdr, size_t hlen, const uint8_t *pay, size_t plen)
{
	unsigned char	 mac[EVP_MAX_MD_SIZE];
	unsigned int	 mlen = 0;
	char		*tok;
	size_t		 at;

	if ((tok = malloc((hlen + plen) * 2 + 200)) == NULL)
		return (NULL);
	b64url(hdr, hlen, tok);
	at = strlen(tok);
	tok[at++] = '.';
	b64url(pay, plen, tok + at);
	at = strlen(tok);
	HMAC(EVP_sha256(), FUZZ_SECRET, (int)strlen(FUZZ_SECRET),
	    (const unsigned char *)tok, at, mac, &mlen);
	tok[at++] = '.';
	b64url(mac, mlen, tok + at);
	return (tok);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char	 hdr[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\","
				    "\"kid\":\"hs256\"}";
	static const char	 pay[] = "{\"sub\":\"s\",\"roles\":[\"admin\"],"
				    "\"iss\":\"concord\",\"aud\":\"concord-api\","
				    "\"exp\":4102444800}";
	struct concord_config	 cfg;
	struct auth_identity	 id;
	char			 err[256], *tok = NULL;

	if (!ready) {
		memset(&cfg, 0, sizeof(cfg));
		cfg.jwt_hs256_secret = FUZZ_SECRET;
		cfg.jwt_hs256_kid = "hs256";
		cfg.jwt_issuer = "concord";
		cfg.jwt_audience = "concord-api";
		cfg.jwt_leeway = 30;
		if (auth_keyset_load(&ks, &cfg, err, sizeof(err)) != 0)
			abort();
		ready = 1;
	}
	if (size == 0)
		return (0);
	switch (data[0] % 3) {
	case 0:
		if ((tok = malloc(size)) != NULL) {
			memcpy(tok, data + 1, size - 1);
			tok[size - 1] = '\0';
		}
		break;
	case 1:
		tok = sign((const uint8_t *)hdr, strlen(hdr), data + 1,
		    size - 1);
		break;
	default:
		tok = sign(data + 1, size - 1, (const uint8_t *)pay,
		    strlen(pay));
		break;
	}
	if (tok == NULL)
		return (0);
	memset(&id, 0, sizeof(id));
	if (auth_token_verify(&ks, tok, time(NULL), &id, err,
	    sizeof(err)) == 0) {
		if (id.sub[0] == '\0' || id.roles == 0)
			abort();
	}
	free(tok);
	return (0);
}
