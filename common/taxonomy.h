/*
 * taxonomy: the task force's need list, the one source of truth for
 * need codes. Codes are stable snake_case and never renamed; the API
 * serves this table and `concord-admin migrate` mirrors it into the
 * need_taxonomy table so foreign keys can refer to it.
 */
#ifndef CONCORD_TAXONOMY_H
#define CONCORD_TAXONOMY_H

#include <stddef.h>

struct taxonomy_need {
	const char	*code;		/* stable snake_case id */
	const char	*label;		/* human label */
	const char	*group;		/* "victim" or "criminal_justice" */
	const char	*parent;	/* parent code for a sub-kind, or NULL */
	const char	*seed;		/* the seed list's bullet it comes from */
};

/* The whole table; *n receives its length. Can't fail. */
const struct taxonomy_need	*taxonomy_needs(size_t *);

/* The entry for code, or NULL when the code is unknown. */
const struct taxonomy_need	*taxonomy_need_find(const char *);

#endif
