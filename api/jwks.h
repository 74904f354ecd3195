/*
 * jwks: JWT keys from a JWK Set that rotate without a restart (jwks.c):
 * CONCORD_JWT_JWKS_FILE re-read on change, or CONCORD_JWT_JWKS_URL
 * fetched by a small process of its own.
 */
#ifndef CONCORD_JWKS_H
#define CONCORD_JWKS_H

/*
 * In the parent, after the key set is loaded and before the workers
 * fork: the URL's first fetch and its fetcher process. Fatal when the
 * fetcher cannot be set up; a failed fetch is logged.
 */
void	jwks_parent_init(void);

/* Per worker: watch the set's file. Can't fail. */
void	jwks_worker_start(void);

/*
 * A token named a kid no key answers to: look at the set again (and ask
 * the fetcher for a fresh one), at most once per
 * CONCORD_JWT_JWKS_REFRESH_SECONDS. Returns 1 when the keys changed
 * (verify the token again), else 0.
 */
int	jwks_unknown_kid(void);

#endif
