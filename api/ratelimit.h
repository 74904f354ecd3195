/*
 * ratelimit: request limits per token subject, per client address, on
 * referral creation per subject and on failed authentication per
 * address, shared across API replicas through Redis without a Redis
 * round trip on the request path (see ratelimit.c).
 */
#ifndef CONCORD_RATELIMIT_H
#define CONCORD_RATELIMIT_H

#include "api.h"

/* Set up this worker's counter table and push timer. Can't fail. */
void	ratelimit_start(void);

/*
 * Before the token is verified (routes that are not ROUTE_PUBLIC): an
 * address over its failed-authentication limit is refused at once, then
 * the address limit applies. Returns 1 to go on, or 0 when a 429
 * problem was answered.
 */
int	ratelimit_address(struct http_request *, struct api_call *);

/*
 * After the token was verified: the subject's limit and, on a
 * ROUTE_REFERRALS route, its referral limit. Returns 1 or 0 (429 sent).
 */
int	ratelimit_subject(struct http_request *, struct api_call *);

/* Count a failed authentication (a 401) for the client address. */
void	ratelimit_auth_failed(struct api_call *);

/*
 * Add RateLimit-Policy and RateLimit to the response when a limit
 * applied to the request (api_respond() calls it). Can't fail.
 */
void	ratelimit_headers(struct http_request *, struct api_call *);

#endif
