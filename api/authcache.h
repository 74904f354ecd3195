/*
 * authcache: the bearer tokens this Kore worker verified lately, so a
 * client that sends the same token on every request pays for its
 * signature and claims checks once.
 */
#ifndef CONCORD_AUTHCACHE_H
#define CONCORD_AUTHCACHE_H

#include <stddef.h>
#include <time.h>

#include "../common/auth.h"

/*
 * auth_token_verify() with a memory. A token seen before (the same
 * bytes, hence the same kid, claims and signature) gives the identity
 * its verification gave, while now is within its exp plus the key
 * set's leeway and at most AUTHCACHE_TTL seconds after that
 * verification; anything else is verified afresh, and only a token
 * that verifies is remembered (the least recently used of
 * AUTHCACHE_SIZE entries makes room). Returns 0, or -1 with err.
 */
int	authcache_verify(const struct auth_keyset *, const char *, time_t,
	    struct auth_identity *, char *, size_t);

/* Forget every token: whoever changes the key set calls it first. */
void	authcache_clear(void);

#endif
