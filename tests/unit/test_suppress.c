/*
 * Unit tests for common/suppress.c. Besides fixed examples, thousands of
 * generated two-way tables with row, column and grand totals are
 * suppressed and then checked by means independent of the library's own
 * modular elimination: that no hidden cell is a bridge of the bipartite
 * graph of hidden cells (rows and columns, totals included, as nodes),
 * which is exactly when no hidden value follows from the published ones
 * by adding and subtracting; that every row and column with a hidden
 * cell has at least two; and, for tables with other relations (sections
 * sharing a total), a floating-point rank test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "../../common/suppress.h"

#define THRESHOLD	10
#define MAXD		8

/* A two-way table of r x c inner cells, with totals, laid out (r+1)x(c+1). */
struct grid {
	int	r, c;
	long	v[(MAXD + 1) * (MAXD + 1)];
};

static size_t
at(const struct grid *g, int i, int j)
{
	return ((size_t)i * (size_t)(g->c + 1) + (size_t)j);
}

static void
grid_totals(struct grid *g)
{
	int	i, j;

	for (i = 0; i <= g->r; i++)
		g->v[at(g, i, g->c)] = 0;
	for (j = 0; j <= g->c; j++)
		g->v[at(g, g->r, j)] = 0;
	for (i = 0; i < g->r; i++) {
		for (j = 0; j < g->c; j++) {
			g->v[at(g, i, g->c)] += g->v[at(g, i, j)];
			g->v[at(g, g->r, j)] += g->v[at(g, i, j)];
			g->v[at(g, g->r, g->c)] += g->v[at(g, i, j)];
		}
	}
}

/* Load g with its row, column and grand total relations. */
static void
grid_table(const struct grid *g, struct suppress_table *t)
{
	size_t	parts[MAXD + 1];
	int	i, j;

	assert_int_equal(suppress_table_init(t, g->v,
	    (size_t)((g->r + 1) * (g->c + 1))), 0);
	for (i = 0; i <= g->r; i++) {
		for (j = 0; j < g->c; j++)
			parts[j] = at(g, i, j);
		assert_int_equal(suppress_table_sum(t, at(g, i, g->c), parts,
		    (size_t)g->c), 0);
	}
	for (j = 0; j <= g->c; j++) {
		for (i = 0; i < g->r; i++)
			parts[i] = at(g, i, j);
		assert_int_equal(suppress_table_sum(t, at(g, g->r, j), parts,
		    (size_t)g->r), 0);
	}
}

/* Nodes 0..r are rows, r+1..r+c+1 columns; edges are hidden cells. */
static int
connected(const struct grid *g, const unsigned char *hid, size_t skip,
    int from, int to)
{
	int	seen[2 * (MAXD + 1)], queue[2 * (MAXD + 1)], h = 0, n = 0;
	int	node, i, j, rows = g->r + 1;

	memset(seen, 0, sizeof(seen));
	queue[n++] = from;
	seen[from] = 1;
	while (h < n) {
		node = queue[h++];
		if (node == to)
			return (1);
		for (i = 0; i <= g->r; i++) {
			for (j = 0; j <= g->c; j++) {
				if (!hid[at(g, i, j)] || at(g, i, j) == skip)
					continue;
				if (node == i && !seen[rows + j]) {
					seen[rows + j] = 1;
					queue[n++] = rows + j;
				} else if (node == rows + j && !seen[i]) {
					seen[i] = 1;
					queue[n++] = i;
				}
			}
		}
	}
	return (0);
}

/*
 * Check a suppressed grid independently: primary cells hidden, zero
 * never hidden as primary, no hidden cell a bridge, every line with a
 * hidden cell holds two.
 */
static void
grid_check(const struct grid *g, const struct suppress_table *t)
{
	unsigned char	hid[(MAXD + 1) * (MAXD + 1)];
	int		i, j, n;

	for (i = 0; i <= g->r; i++) {
		for (j = 0; j <= g->c; j++) {
			size_t	k = at(g, i, j);

			hid[k] = t->st_flag[k] != SUPPRESS_SHOWN;
			if (g->v[k] >= 1 && g->v[k] <= THRESHOLD)
				assert_int_equal(t->st_flag[k],
				    SUPPRESS_PRIMARY);
			if (g->v[k] == 0)
				assert_int_not_equal(t->st_flag[k],
				    SUPPRESS_PRIMARY);
		}
	}
	for (i = 0; i <= g->r; i++) {
		for (j = 0; j <= g->c; j++) {
			if (!hid[at(g, i, j)])
				continue;
			/* On a cycle: its ends stay joined without it. */
			assert_true(connected(g, hid, at(g, i, j), i,
			    g->r + 1 + j));
			assert_int_equal(suppress_cell_derivable(t,
			    at(g, i, j)), 0);
		}
	}
	for (i = 0; i <= g->r; i++) {
		for (n = 0, j = 0; j <= g->c; j++)
			n += hid[at(g, i, j)];
		assert_true(n == 0 || n >= 2);
	}
	for (j = 0; j <= g->c; j++) {
		for (n = 0, i = 0; i <= g->r; i++)
			n += hid[at(g, i, j)];
		assert_true(n == 0 || n >= 2);
	}
}

static void
test_table_without_small_counts_is_unchanged(void **state)
{
	struct suppress_table	t;
	struct grid		g = { 2, 2, { 0 } };

	(void)state;
	g.v[at(&g, 0, 0)] = 40;
	g.v[at(&g, 0, 1)] = 0;
	g.v[at(&g, 1, 0)] = 25;
	g.v[at(&g, 1, 1)] = 11;
	grid_totals(&g);
	grid_table(&g, &t);
	assert_int_equal(suppress_table_apply(&t, THRESHOLD), 0);
	suppress_table_cleanup(&t);
}

static void
test_one_small_cell_gets_complements_in_its_row_and_column(void **state)
{
	struct suppress_table	t;
	struct grid		g = { 3, 3, { 0 } };
	int			i, j;

	(void)state;
	for (i = 0; i < 3; i++)
		for (j = 0; j < 3; j++)
			g.v[at(&g, i, j)] = 50 + i * 3 + j;
	g.v[at(&g, 1, 1)] = 4;
	grid_totals(&g);
	grid_table(&g, &t);
	assert_true(suppress_table_apply(&t, THRESHOLD) >= 4);
	assert_int_equal(t.st_flag[at(&g, 1, 1)], SUPPRESS_PRIMARY);
	grid_check(&g, &t);
	/* Totals are kept when inner cells can protect the small one. */
	for (i = 0; i <= 3; i++)
		assert_int_equal(t.st_flag[at(&g, i, 3)], SUPPRESS_SHOWN);
	suppress_table_cleanup(&t);
}

static void
test_single_column_hides_a_second_row_or_the_total(void **state)
{
	struct suppress_table	t;
	long			v[4] = { 3, 30, 40, 73 };
	size_t			parts[3] = { 0, 1, 2 };

	(void)state;
	assert_int_equal(suppress_table_init(&t, v, 4), 0);
	assert_int_equal(suppress_table_sum(&t, 3, parts, 3), 0);
	assert_int_equal(suppress_table_apply(&t, THRESHOLD), 2);
	assert_int_equal(t.st_flag[0], SUPPRESS_PRIMARY);
	assert_int_equal(t.st_flag[1], SUPPRESS_COMPLEMENT);	/* smaller */
	assert_int_equal(suppress_cell_derivable(&t, 0), 0);
	suppress_table_cleanup(&t);
}

/* Every 2x2 and 2x3 table over values that cover zero, small and large. */
static void
test_exhaustive_small_tables_leave_nothing_derivable(void **state)
{
	static const long	vals[] = { 0, 1, 10, 11, 37 };
	struct suppress_table	t;
	struct grid		g;
	int			dims[2][2] = { { 2, 2 }, { 2, 3 } };
	int			d, n, code, i, cells;

	(void)state;
	for (d = 0; d < 2; d++) {
		cells = dims[d][0] * dims[d][1];
		n = 1;
		for (i = 0; i < cells; i++)
			n *= 5;
		for (code = 0; code < n; code++) {
			int	x = code;

			memset(&g, 0, sizeof(g));
			g.r = dims[d][0];
			g.c = dims[d][1];
			for (i = 0; i < cells; i++) {
				g.v[at(&g, i / g.c, i % g.c)] = vals[x % 5];
				x /= 5;
			}
			grid_totals(&g);
			grid_table(&g, &t);
			assert_true(suppress_table_apply(&t, THRESHOLD) >= 0);
			grid_check(&g, &t);
			suppress_table_cleanup(&t);
		}
	}
}

static long
rnd_count(unsigned int *seed)
{
	int	k = rand_r(seed) % 10;

	if (k < 3)
		return (0);
	if (k < 6)
		return (1 + rand_r(seed) % THRESHOLD);
	return (THRESHOLD + 1 + rand_r(seed) % 200);
}

static void
test_random_tables_leave_nothing_derivable(void **state)
{
	struct suppress_table	t;
	struct grid		g;
	unsigned int		seed = 20260901;
	int			n, i, j;

	(void)state;
	for (n = 0; n < 3000; n++) {
		memset(&g, 0, sizeof(g));
		g.r = 1 + rand_r(&seed) % MAXD;
		g.c = 1 + rand_r(&seed) % MAXD;
		for (i = 0; i < g.r; i++)
			for (j = 0; j < g.c; j++)
				g.v[at(&g, i, j)] = rnd_count(&seed);
		grid_totals(&g);
		grid_table(&g, &t);
		assert_true(suppress_table_apply(&t, THRESHOLD) >= 0);
		grid_check(&g, &t);
		suppress_table_cleanup(&t);
	}
}

/* The relations a test gave the library, kept for the rank check. */
struct rels {
	size_t	n;
	size_t	sum[512];
	size_t	parts[512][16];
	size_t	nparts[512];
};

static void
rel_add(struct suppress_table *t, struct rels *r, size_t sum,
    const size_t *parts, size_t n)
{
	assert_true(r->n < 512 && n <= 16);
	assert_int_equal(suppress_table_sum(t, sum, parts, n), 0);
	r->sum[r->n] = sum;
	memcpy(r->parts[r->n], parts, n * sizeof(size_t));
	r->nparts[r->n++] = n;
}

/* Rank of a rows x cols matrix (destroyed), in doubles. */
static int
rank_of(double *m, int rows, int cols)
{
	int	r = 0, c, i, j, p;
	double	f, tmp;

	for (c = 0; c < cols && r < rows; c++) {
		p = r;
		for (i = r; i < rows; i++)
			if (fabs(m[i * cols + c]) > fabs(m[p * cols + c]))
				p = i;
		if (fabs(m[p * cols + c]) < 1e-9)
			continue;
		for (j = 0; j < cols; j++) {
			tmp = m[r * cols + j];
			m[r * cols + j] = m[p * cols + j];
			m[p * cols + j] = tmp;
		}
		for (i = 0; i < rows; i++) {
			if (i == r)
				continue;
			f = m[i * cols + c] / m[r * cols + c];
			for (j = 0; j < cols; j++)
				m[i * cols + j] -= f * m[r * cols + j];
		}
		r++;
	}
	return (r);
}

/*
 * Independent check for any relations: hidden cell k is derivable
 * exactly when its column is independent of the other hidden columns
 * (then no solution of the homogeneous system moves it), i.e. when
 * dropping it lowers the rank.
 */
static void
rank_check(const struct suppress_table *t, const struct rels *r)
{
	double	*a;
	size_t	 i, j, q, nh = 0, hc[512];
	int	 k, full, without, cols;

	for (i = 0; i < t->st_ncells; i++)
		if (t->st_flag[i] != SUPPRESS_SHOWN)
			hc[nh++] = i;
	assert_true(nh < 512);
	a = calloc(r->n * nh + 1, sizeof(double));
	for (k = -1; k < (int)nh; k++) {
		memset(a, 0, (r->n * nh + 1) * sizeof(double));
		cols = 0;
		for (j = 0; j < nh; j++) {
			if ((int)j == k)
				continue;
			for (i = 0; i < r->n; i++) {
				double v = hc[j] == r->sum[i] ? 1 : 0;

				for (q = 0; q < r->nparts[i]; q++)
					v -= r->parts[i][q] == hc[j];
				a[i * nh + (size_t)cols] = v;
			}
			cols++;
		}
		/* Compact to a rows x cols matrix. */
		{
			double	*m = calloc(r->n * (size_t)cols + 1,
				    sizeof(double));

			for (i = 0; i < r->n; i++)
				for (q = 0; q < (size_t)cols; q++)
					m[i * (size_t)cols + q] = a[i * nh + q];
			without = rank_of(m, (int)r->n, cols);
			free(m);
		}
		if (k == -1) {
			full = without;
			continue;
		}
		assert_int_equal(without, full);	/* k can move */
	}
	free(a);
}

/*
 * Sections partitioning the same population (e.g. clients by type and
 * by age group), each broken down by groups, with group totals shared
 * by every section, category totals over groups and a grand total.
 */
static void
test_random_linked_sections_leave_nothing_derivable(void **state)
{
	struct suppress_table	t;
	struct rels		r;
	unsigned int		seed = 4242;
	long			v[256];
	size_t			parts[16], cell[4][5][5], tot[5];
	int			n, ns, nc[4], ng, s, c, g, i;
	size_t			nv;

	(void)state;
	for (n = 0; n < 400; n++) {
		memset(&r, 0, sizeof(r));
		ns = 1 + rand_r(&seed) % 3;
		ng = 1 + rand_r(&seed) % 4;
		nv = 0;
		/* Group totals (index ng: all groups). */
		for (g = 0; g <= ng; g++)
			tot[g] = nv++;
		v[tot[ng]] = 0;
		for (g = 0; g < ng; g++) {
			v[tot[g]] = rnd_count(&seed) + rand_r(&seed) % 30;
			v[tot[ng]] += v[tot[g]];
		}
		for (s = 0; s < ns; s++) {
			nc[s] = 1 + rand_r(&seed) % 4;
			for (c = 0; c < nc[s]; c++) {
				for (g = 0; g <= ng; g++) {
					cell[s][c][g] = nv;
					v[nv++] = 0;
				}
			}
			/* Split each group's total among the categories. */
			for (g = 0; g < ng; g++) {
				long	left = v[tot[g]];

				for (c = 0; c < nc[s] - 1; c++) {
					long x = left > 0 ? rand_r(&seed) %
					    (left + 1) : 0;

					if (rand_r(&seed) % 3 == 0 && left > 0)
						x = 1 + rand_r(&seed) %
						    (left < 10 ? left : 10);
					v[cell[s][c][g]] = x;
					left -= x;
				}
				v[cell[s][nc[s] - 1][g]] = left;
			}
			for (c = 0; c < nc[s]; c++)
				for (g = 0; g < ng; g++)
					v[cell[s][c][ng]] += v[cell[s][c][g]];
		}
		assert_int_equal(suppress_table_init(&t, v, nv), 0);
		for (s = 0; s < ns; s++) {
			for (g = 0; g <= ng; g++) {
				for (c = 0; c < nc[s]; c++)
					parts[c] = cell[s][c][g];
				rel_add(&t, &r, tot[g], parts, (size_t)nc[s]);
			}
			for (c = 0; c < nc[s]; c++) {
				for (g = 0; g < ng; g++)
					parts[g] = cell[s][c][g];
				rel_add(&t, &r, cell[s][c][ng], parts,
				    (size_t)ng);
			}
		}
		for (g = 0; g < ng; g++)
			parts[g] = tot[g];
		rel_add(&t, &r, tot[ng], parts, (size_t)ng);
		assert_true(suppress_table_apply(&t, THRESHOLD) >= 0);
		for (i = 0; i < (int)nv; i++) {
			if (v[i] >= 1 && v[i] <= THRESHOLD)
				assert_int_equal(t.st_flag[i],
				    SUPPRESS_PRIMARY);
			assert_int_equal(suppress_cell_derivable(&t,
			    (size_t)i), 0);
		}
		rank_check(&t, &r);
		suppress_table_cleanup(&t);
	}
}

static void
test_sections_sharing_a_total_are_protected_together(void **state)
{
	struct suppress_table	t;
	struct rels		r;
	/* 0-2: by type (sum 3); 4-5: by age (sum 6); 3 and 6 the same. */
	long			v[7] = { 4, 30, 26, 60, 52, 8, 60 };
	size_t			a[3] = { 0, 1, 2 }, b[2] = { 4, 5 };
	size_t			same = 6, i;

	(void)state;
	memset(&r, 0, sizeof(r));
	assert_int_equal(suppress_table_init(&t, v, 7), 0);
	rel_add(&t, &r, 3, a, 3);
	rel_add(&t, &r, 6, b, 2);
	rel_add(&t, &r, 3, &same, 1);
	assert_true(suppress_table_apply(&t, THRESHOLD) >= 4);
	for (i = 0; i < 7; i++)
		assert_int_equal(suppress_cell_derivable(&t, i), 0);
	/* Age has two rows: hiding 8 hides 52 (or both totals). */
	assert_int_not_equal(t.st_flag[5], SUPPRESS_SHOWN);
	assert_true(t.st_flag[4] != SUPPRESS_SHOWN ||
	    (t.st_flag[3] != SUPPRESS_SHOWN && t.st_flag[6] != SUPPRESS_SHOWN));
	rank_check(&t, &r);
	suppress_table_cleanup(&t);
}

static void
test_bad_relations_are_refused(void **state)
{
	struct suppress_table	t;
	long			v[2] = { 1, 1 };
	size_t			p[1] = { 5 };

	(void)state;
	assert_int_equal(suppress_table_init(&t, v, 2), 0);
	assert_int_equal(suppress_table_sum(&t, 0, p, 1), -1);
	assert_int_equal(suppress_table_sum(&t, 7, p, 0), -1);
	/* Without relations a small cell is hidden alone. */
	assert_int_equal(suppress_table_apply(&t, THRESHOLD), 2);
	suppress_table_cleanup(&t);
}

/*
 * A table shaped like a report grouped by many groups (counties): an
 * "all" row per group shared by sections of 2, 4 and 6 categories,
 * groups adding up to the all-groups row. Values drawn so that many
 * cells are small. Relations kept in r2 for the independent check.
 */
struct big {
	size_t	 nv, nrel;
	long	*v;
	size_t	*sum;		/* per relation */
	size_t	**parts;
	size_t	*nparts;
};

static void
big_rel(struct big *b, size_t sum, const size_t *parts, size_t n)
{
	b->sum[b->nrel] = sum;
	b->parts[b->nrel] = malloc(n * sizeof(size_t));
	memcpy(b->parts[b->nrel], parts, n * sizeof(size_t));
	b->nparts[b->nrel++] = n;
}

static void
big_make(struct big *b, struct suppress_table *t, int ng, int mean,
    unsigned int seed)
{
	static const int	ncat[3] = { 2, 4, 6 };
	size_t			*tot, cell[3][6][400], parts[400], i;
	long			 left, x;
	int			 g, s, c;

	assert_true(ng < 400);
	memset(b, 0, sizeof(*b));
	b->v = calloc((size_t)(ng + 1) * 13, sizeof(long));
	b->sum = calloc((size_t)(ng + 1) * 3 + 16, sizeof(size_t));
	b->parts = calloc((size_t)(ng + 1) * 3 + 16, sizeof(size_t *));
	b->nparts = calloc((size_t)(ng + 1) * 3 + 16, sizeof(size_t));
	tot = calloc((size_t)ng + 1, sizeof(size_t));
	for (g = 0; g <= ng; g++)
		tot[g] = b->nv++;
	for (s = 0; s < 3; s++)
		for (c = 0; c < ncat[s]; c++)
			for (g = 0; g <= ng; g++)
				cell[s][c][g] = b->nv++;
	for (g = 0; g < ng; g++) {
		b->v[tot[g]] = mean / 4 + rand_r(&seed) % (mean * 3 / 2 + 1);
		b->v[tot[ng]] += b->v[tot[g]];
		for (s = 0; s < 3; s++) {
			left = b->v[tot[g]];
			for (c = 0; c < ncat[s] - 1; c++) {
				x = left > 0 ? rand_r(&seed) % (left / 2 + 1) : 0;
				b->v[cell[s][c][g]] = x;
				left -= x;
			}
			b->v[cell[s][ncat[s] - 1][g]] = left;
			for (c = 0; c < ncat[s]; c++)
				b->v[cell[s][c][ng]] += b->v[cell[s][c][g]];
		}
	}
	assert_int_equal(suppress_table_init(t, b->v, b->nv), 0);
	for (s = 0; s < 3; s++) {
		for (g = 0; g <= ng; g++) {
			for (c = 0; c < ncat[s]; c++)
				parts[c] = cell[s][c][g];
			big_rel(b, tot[g], parts, (size_t)ncat[s]);
		}
		for (c = 0; c < ncat[s]; c++) {
			for (g = 0; g < ng; g++)
				parts[g] = cell[s][c][g];
			big_rel(b, cell[s][c][ng], parts, (size_t)ng);
		}
	}
	for (g = 0; g < ng; g++)
		parts[g] = tot[g];
	big_rel(b, tot[ng], parts, (size_t)ng);
	for (i = 0; i < b->nrel; i++)
		assert_int_equal(suppress_table_sum(t, b->sum[i], b->parts[i],
		    b->nparts[i]), 0);
	free(tot);
}

static void
big_free(struct big *b)
{
	size_t	i;

	for (i = 0; i < b->nrel; i++)
		free(b->parts[i]);
	free(b->parts);
	free(b->sum);
	free(b->nparts);
	free(b->v);
}

/*
 * Independent of the library's modular elimination: the relations on
 * the hidden cells in reduced row echelon form, in doubles; a hidden
 * cell is derivable exactly when some reduced row is its unit vector.
 * Returns how many hidden cells are derivable.
 */
static int
big_derivable(const struct big *b, const struct suppress_table *t)
{
	double	*m, f;
	size_t	*hc, *col, nh = 0, i, j, q, r = 0, p, c;
	int	 bad = 0, n;

	hc = malloc(b->nv * sizeof(size_t));
	col = malloc(b->nv * sizeof(size_t));
	for (i = 0; i < b->nv; i++)
		if (t->st_flag[i] != SUPPRESS_SHOWN) {
			col[i] = nh;
			hc[nh++] = i;
		}
	m = calloc(b->nrel * nh + 1, sizeof(double));
	for (i = 0; i < b->nrel; i++) {
		if (t->st_flag[b->sum[i]] != SUPPRESS_SHOWN)
			m[i * nh + col[b->sum[i]]] += 1;
		for (q = 0; q < b->nparts[i]; q++)
			if (t->st_flag[b->parts[i][q]] != SUPPRESS_SHOWN)
				m[i * nh + col[b->parts[i][q]]] -= 1;
	}
	for (c = 0; c < nh && r < b->nrel; c++) {
		p = r;
		for (i = r; i < b->nrel; i++)
			if (fabs(m[i * nh + c]) > fabs(m[p * nh + c]))
				p = i;
		if (fabs(m[p * nh + c]) < 1e-9)
			continue;
		for (j = 0; j < nh; j++) {
			f = m[r * nh + j];
			m[r * nh + j] = m[p * nh + j];
			m[p * nh + j] = f;
		}
		f = m[r * nh + c];
		for (j = 0; j < nh; j++)
			m[r * nh + j] /= f;
		for (i = 0; i < b->nrel; i++) {
			if (i == r || fabs(f = m[i * nh + c]) < 1e-12)
				continue;
			for (j = 0; j < nh; j++)
				m[i * nh + j] -= f * m[r * nh + j];
		}
		r++;
	}
	for (i = 0; i < r; i++) {
		for (n = 0, j = 0; j < nh; j++)
			n += fabs(m[i * nh + j]) > 1e-9;
		bad += n == 1;
	}
	free(m);
	free(hc);
	free(col);
	return (bad);
}

/*
 * Many groups link thousands of cells into one large part, which the
 * library protects in rounds (untested complements, every cell of the
 * part decided from one elimination): nothing is left derivable.
 */
static void
test_large_grouped_tables_leave_nothing_derivable(void **state)
{
	struct suppress_table	t;
	struct big		b;
	long			hidden;
	size_t			i;
	int			n;

	(void)state;
	for (n = 0; n < 4; n++) {
		big_make(&b, &t, 60 + 40 * n, 20 + 15 * n, 77u + (unsigned)n);
		hidden = suppress_table_apply(&t, THRESHOLD);
		assert_true(hidden > 0);
		/* Large enough for the untested path (relations x cells). */
		assert_true((size_t)hidden * b.nrel > 16384);
		for (i = 0; i < b.nv; i++) {
			if (b.v[i] >= 1 && b.v[i] <= THRESHOLD)
				assert_int_equal(t.st_flag[i],
				    SUPPRESS_PRIMARY);
			if (b.v[i] == 0)
				assert_int_not_equal(t.st_flag[i],
				    SUPPRESS_PRIMARY);
		}
		assert_int_equal(big_derivable(&b, &t), 0);
		/* Every relation with a hidden cell holds two. */
		for (i = 0; i < b.nrel; i++) {
			size_t	q, h = t.st_flag[b.sum[i]] != SUPPRESS_SHOWN;

			for (q = 0; q < b.nparts[i]; q++)
				h += t.st_flag[b.parts[i][q]] != SUPPRESS_SHOWN;
			assert_true(h != 1);
		}
		suppress_table_cleanup(&t);
		big_free(&b);
	}
}

/* A CPU budget stops a long suppression; without one it completes. */
static void
test_budget_stops_suppression(void **state)
{
	struct suppress_table	t;
	struct big		b;

	(void)state;
	big_make(&b, &t, 300, 40, 5);
	suppress_table_budget(&t, 0);
	assert_int_equal(suppress_table_apply(&t, THRESHOLD),
	    SUPPRESS_OVER_BUDGET);
	suppress_table_budget(&t, -1);
	assert_true(suppress_table_apply(&t, THRESHOLD) > 0);
	suppress_table_cleanup(&t);
	big_free(&b);
}

/*
 * A hidden cell the relations force (x0 = x1 + x2 and x0 = x1 leave x2
 * no freedom) while every cell is hidden: nothing is left to hide, and
 * suppression ends instead of going round for ever. (The library reads
 * the structure, not whether the values add up.)
 */
static void
test_forced_cell_with_nothing_left_to_hide_ends(void **state)
{
	struct suppress_table	t;
	long			v[3] = { 8, 5, 3 };
	size_t			a[1] = { 1 }, b[2] = { 1, 2 };

	(void)state;
	assert_int_equal(suppress_table_init(&t, v, 3), 0);
	assert_int_equal(suppress_table_sum(&t, 0, b, 2), 0);
	assert_int_equal(suppress_table_sum(&t, 0, a, 1), 0);
	assert_int_equal(suppress_table_apply(&t, THRESHOLD), 3);
	assert_int_equal(suppress_cell_derivable(&t, 2), 1);
	suppress_table_cleanup(&t);
}

int	test_suppress_group(void);

int
test_suppress_group(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_without_small_counts_is_unchanged),
		cmocka_unit_test(
		    test_one_small_cell_gets_complements_in_its_row_and_column),
		cmocka_unit_test(
		    test_single_column_hides_a_second_row_or_the_total),
		cmocka_unit_test(
		    test_exhaustive_small_tables_leave_nothing_derivable),
		cmocka_unit_test(test_random_tables_leave_nothing_derivable),
		cmocka_unit_test(
		    test_sections_sharing_a_total_are_protected_together),
		cmocka_unit_test(
		    test_random_linked_sections_leave_nothing_derivable),
		cmocka_unit_test(test_bad_relations_are_refused),
		cmocka_unit_test(
		    test_large_grouped_tables_leave_nothing_derivable),
		cmocka_unit_test(test_budget_stops_suppression),
		cmocka_unit_test(
		    test_forced_cell_with_nothing_left_to_hide_ends),
	};

	return (cmocka_run_group_tests_name("suppress", tests, NULL, NULL));
}
