/*
 * authcache: a small per-worker memory of verified bearer tokens.
 * Verifying a token (base64 and two JSON parses in libjwt, the HMAC or
 * signature, the claims parsed again and checked) was the largest
 * piece of the API's own CPU on a small read after the socket work;
 * clients send one token for its whole lifetime.
 *
 * An entry is found by the SHA-256 of the exact token bytes, compared
 * in constant time (a byte-wise compare of token text would tell a
 * timing observer how much of a remembered token a guess matches). It
 * holds what verification proved, never a failure. It is used only
 * while the token would still verify by time (exp plus leeway) and for
 * at most AUTHCACHE_TTL seconds, so a shorter clock than the token's
 * bounds how long any remembered verification is trusted. The key set
 * is loaded once, before the workers start; authcache_clear() is for
 * whoever changes it (a token verified by a dropped key must not stay).
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "authcache.h"

#define AUTHCACHE_SIZE	64	/* tokens per worker */
#define AUTHCACHE_TTL	300	/* seconds a verification is trusted */

struct authcache_entry {
	unsigned char		digest[SHA256_DIGEST_LENGTH];
	struct auth_identity	id;
	time_t			until;	/* used while now <= until */
	unsigned long long	used;	/* last use; 0: empty */
};

static struct authcache_entry	ac_entries[AUTHCACHE_SIZE];
static unsigned long long	ac_clock;

int
authcache_verify(const struct auth_keyset *ks, const char *token, time_t now,
    struct auth_identity *id, char *err, size_t elen)
{
	unsigned char		 d[SHA256_DIGEST_LENGTH];
	struct authcache_entry	*e, *hit = NULL, *lru = &ac_entries[0];
	size_t			 len;
	time_t			 until;
	int			 i;

	/* Kore bounds a header's length; auth_token_verify() the token's. */
	if (token == NULL || (len = strlen(token)) == 0)
		return (auth_token_verify(ks, token, now, id, err, elen));
	SHA256((const unsigned char *)token, len, d);
	for (i = 0; i < AUTHCACHE_SIZE; i++) {
		e = &ac_entries[i];
		if (e->used != 0 && CRYPTO_memcmp(e->digest, d, sizeof(d)) == 0)
			hit = e;
		if (e->used < lru->used)
			lru = e;
	}
	if (hit != NULL) {
		if (now <= hit->until) {
			hit->used = ++ac_clock;
			*id = hit->id;
			return (0);
		}
		memset(hit, 0, sizeof(*hit));
		lru = hit;
	}
	if (auth_token_verify(ks, token, now, id, err, elen) == -1)
		return (-1);
	until = (time_t)id->exp + ks->leeway;
	if (until > now + AUTHCACHE_TTL)
		until = now + AUTHCACHE_TTL;
	memcpy(lru->digest, d, sizeof(d));
	lru->id = *id;
	lru->until = until;
	lru->used = ++ac_clock;
	return (0);
}

void
authcache_clear(void)
{
	memset(ac_entries, 0, sizeof(ac_entries));
}
