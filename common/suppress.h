/*
 * suppress: small-cell suppression for published statistical tables,
 * pure and without I/O so the unit tests pin it down.
 *
 * A table is a list of non-negative counts (cells) and the linear
 * relations that hold between them and that a reader knows: "this
 * cell is the sum of those" (a row total, a column total, a grand
 * total, the same population counted in two sections). Primary
 * suppression hides every count from 1 to the threshold; zero is
 * shown. Complementary suppression then hides more cells until no
 * hidden cell is derivable: the rule is that no hidden cell's value
 * follows from the published cells through the relations, i.e. for
 * the unknowns x_S of the hidden cells and the relations A x = 0, the
 * unit vector of no hidden cell lies in the row space of A restricted
 * to S (so every hidden cell can move while all relations still hold).
 * For a two-way table with row and column totals this is the classic
 * condition that every hidden cell lies on a cycle of hidden cells
 * (rows and columns as the nodes of a bipartite graph, margins
 * included); in particular every row or column holding a hidden cell
 * holds at least two. Decided modulo a large prime, per connected part
 * (see suppress.c); an error can only hide a cell more, never less.
 */
#ifndef CONCORD_SUPPRESS_H
#define CONCORD_SUPPRESS_H

#include <stddef.h>

#include "config.h"

#define SUPPRESS_SHOWN		0
#define SUPPRESS_PRIMARY	1	/* a count from 1 to the threshold */
#define SUPPRESS_COMPLEMENT	2	/* hidden so no other can be derived */

struct suppress_rel;

struct suppress_table {
	size_t			 st_ncells;
	long			*st_value;	/* the counts, >= 0 */
	unsigned char		*st_flag;	/* SUPPRESS_* per cell */
	unsigned char		*st_margin;	/* 1: a total (hidden last) */
	struct suppress_rel	*st_rel;	/* the known relations */
	size_t			 st_nrel;
	size_t			 st_relcap;
	size_t			**st_cellrel;	/* per cell: its relations */
	size_t			*st_ncellrel;
	double			 st_budget;	/* CPU seconds; < 0: none */
};

#define SUPPRESS_OVER_BUDGET	(-2)	/* suppress_table_apply ran out */

/*
 * Set up a table of n cells, all shown, with no relations. Returns 0,
 * or -1 when memory runs out (nothing to clean up then). The values
 * are copied. Release with suppress_table_cleanup().
 */
int	suppress_table_init(struct suppress_table *, const long *, size_t)
	    CONCORD_WUR;

/*
 * Record that cell sum equals the sum of the nparts cells in parts
 * (sum is then treated as a margin: hidden only when nothing else
 * will do). Returns 0, or -1 on a cell index out of range, an empty
 * parts list or no memory.
 */
int	suppress_table_sum(struct suppress_table *, size_t, const size_t *,
	    size_t) CONCORD_WUR;

/*
 * Bound the CPU time (of the calling thread) suppress_table_apply may
 * spend, in seconds; a negative budget (the default) is no bound.
 * Can't fail.
 */
void	suppress_table_budget(struct suppress_table *, double);

/*
 * Suppress: primary (1..threshold), then complementary until no hidden
 * cell is derivable. Returns the number of hidden cells, -1 on no
 * memory or SUPPRESS_OVER_BUDGET when the budget ran out (flags then
 * undefined in both cases).
 */
long	suppress_table_apply(struct suppress_table *, long) CONCORD_WUR;

/*
 * Whether the hidden cell's value follows from the published cells
 * and the relations: 1 yes, 0 no (or the cell is shown), -1 on no
 * memory.
 */
int	suppress_cell_derivable(const struct suppress_table *, size_t)
	    CONCORD_WUR;

/* Release what the table holds; can't fail. */
void	suppress_table_cleanup(struct suppress_table *);

#endif
