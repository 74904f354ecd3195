/*
 * query: the query string of a request as a JSON object. Pure (no Kore),
 * so it is unit-tested and fuzzed on its own.
 */
#ifndef CONCORD_QUERY_H
#define CONCORD_QUERY_H

#include <jansson.h>

#include "config.h"

#define QUERY_MAX_PARAMS	64	/* more is a bad query */

/*
 * Parse qs ("a=1&b=x%20y&a=2", NULL or "" for none) into *out: each name
 * maps to its value, or to an array of values when repeated, in order.
 * Names and values are %XX- and '+'-decoded and must be valid UTF-8
 * without NUL. Returns 0 with *out set (caller decrefs), or -1 with *out
 * NULL and *reason a static, caller-safe sentence (never the input).
 */
int	query_parse(const char *, json_t **, const char **) CONCORD_WUR;

/* Decode %XX and '+' in place. Returns 0, or -1 on a bad escape or NUL. */
int	query_urldecode(char *) CONCORD_WUR;

#endif
