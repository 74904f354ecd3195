/*
 * problem: the titles of RFC 9457 problem documents, one per HTTP
 * status, the one source for the API's error funnel and for the
 * database's problems (`concord-admin migrate` mirrors the table into
 * problem_titles, which lib.status_title reads).
 */
#ifndef CONCORD_PROBLEM_H
#define CONCORD_PROBLEM_H

#include <stddef.h>

struct problem_status {
	int		 status;	/* HTTP status, 400..599 */
	const char	*title;		/* its reason phrase (RFC 9110) */
};

/* The whole table; *n receives its length. Can't fail. */
const struct problem_status	*problem_statuses(size_t *);

/* The title for status; "Error" for a status the table lacks. */
const char			*problem_title(int);

#endif
