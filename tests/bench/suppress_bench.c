/*
 * suppress_bench: times common/suppress.c on a synthetic table shaped
 * like the clients report grouped by jurisdiction (G counties and the
 * all-counties group; an "all" row shared by five partition sections of
 * 2, 4, 3, 5 and 18 categories; groups add up to the all-groups row,
 * each section's categories to the group's total), with county sizes
 * and category shares drawn so that many cells are small.
 *
 *   cc -O2 -o /tmp/suppress_bench tests/bench/suppress_bench.c \
 *       common/suppress.c && /tmp/suppress_bench 1000 100
 *
 * Arguments: counties (1000), mean clients per county (100), budget in
 * CPU seconds (none). Prints cells, relations, hidden cells, seconds,
 * and checks that no hidden cell is derivable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../../common/suppress.h"

#define NSEC	5

static const int	ncat[NSEC] = { 2, 4, 3, 5, 18 };

int
main(int argc, char **argv)
{
	struct suppress_table	 t;
	struct timespec		 t0, t1;
	unsigned int		 seed = 7;
	long			*v, left, x;
	size_t			*tot, *cell[NSEC], *parts, nv = 0, nrel = 0;
	size_t			 i, j;
	int			 g, s, c, ng, mean, bad = 0;
	long			 hidden;
	double			 budget = -1, share;

	ng = argc > 1 ? atoi(argv[1]) : 1000;
	mean = argc > 2 ? atoi(argv[2]) : 100;
	if (argc > 3)
		budget = atof(argv[3]);
	tot = calloc((size_t)ng + 1, sizeof(size_t));
	parts = calloc((size_t)ng + 64, sizeof(size_t));
	v = calloc((size_t)(ng + 1) * 64, sizeof(long));
	for (g = 0; g <= ng; g++)
		tot[g] = nv++;
	for (s = 0; s < NSEC; s++) {
		cell[s] = calloc((size_t)(ncat[s] * (ng + 1)), sizeof(size_t));
		for (c = 0; c < ncat[s]; c++)
			for (g = 0; g <= ng; g++)
				cell[s][c * (ng + 1) + g] = nv++;
	}
	for (g = 0; g < ng; g++) {
		v[tot[g]] = mean / 4 + rand_r(&seed) % (mean * 3 / 2 + 1);
		v[tot[ng]] += v[tot[g]];
		for (s = 0; s < NSEC; s++) {
			left = v[tot[g]];
			for (c = 0; c < ncat[s] - 1; c++) {
				/* Skewed shares: the first category the largest. */
				share = c == 0 ? 0.5 : 0.5 / (c + 1);
				x = (long)(left * share *
				    (0.5 + (rand_r(&seed) % 100) / 100.0));
				v[cell[s][c * (ng + 1) + g]] = x;
				left -= x;
			}
			v[cell[s][(ncat[s] - 1) * (ng + 1) + g]] = left;
			for (c = 0; c < ncat[s]; c++)
				v[cell[s][c * (ng + 1) + ng]] +=
				    v[cell[s][c * (ng + 1) + g]];
		}
	}
	if (suppress_table_init(&t, v, nv) == -1)
		return (1);
	suppress_table_budget(&t, budget);
	for (s = 0; s < NSEC; s++) {
		for (g = 0; g <= ng; g++) {
			for (c = 0; c < ncat[s]; c++)
				parts[c] = cell[s][c * (ng + 1) + g];
			if (suppress_table_sum(&t, tot[g], parts,
			    (size_t)ncat[s]) == -1)
				return (1);
			nrel++;
		}
		for (c = 0; c < ncat[s]; c++) {
			for (g = 0; g < ng; g++)
				parts[g] = cell[s][c * (ng + 1) + g];
			if (suppress_table_sum(&t, cell[s][c * (ng + 1) + ng],
			    parts, (size_t)ng) == -1)
				return (1);
			nrel++;
		}
	}
	for (g = 0; g < ng; g++)
		parts[g] = tot[g];
	if (suppress_table_sum(&t, tot[ng], parts, (size_t)ng) == -1)
		return (1);
	nrel++;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	hidden = suppress_table_apply(&t, 10);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("cells %zu relations %zu hidden %ld seconds %.2f\n", nv, nrel,
	    hidden, (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (hidden >= 0) {
		for (i = 0, j = 0; i < nv; i++) {
			if (t.st_flag[i] == SUPPRESS_PRIMARY)
				j++;
			if (t.st_flag[i] != SUPPRESS_SHOWN && (argc < 5 || i % 50 == 0) &&
			    suppress_cell_derivable(&t, i) != 0)
				bad++;
		}
		printf("primary %zu complements %ld derivable %d\n", j,
		    hidden - (long)j, bad);
	}
	suppress_table_cleanup(&t);
	return (bad != 0);
}
