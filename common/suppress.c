/*
 * suppress: primary and complementary small-cell suppression (see
 * suppress.h for the rule). Derivability is decided per connected part
 * of the system (relations linked through hidden cells), all hidden
 * cells of a part from one sparse elimination modulo a prime: the
 * relations are reduced to echelon form (shortest first, so the long
 * "groups add up to the all-groups row" relations take their fill-in
 * last and are never used to reduce others), then two random solutions
 * of the homogeneous system are drawn by back substitution. A hidden
 * cell that moves in either can't be derived; one that stays zero in
 * both is derivable (wrongly so with probability 1/p^2 per cell, which
 * only hides one cell more). Complements: in a small part, the
 * smallest shown cell around a derivable cell that frees it (tested);
 * in a large part, per round one untested complement per derivable
 * cell, from a relation where that cell is the only hidden one (which
 * must take one), preferring cells that are not left alone in another
 * relation, then the whole part is decided again, until nothing is
 * derivable (a clients table by 1,000 counties: 2-3 rounds).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "suppress.h"

#define SUPPRESS_P		2147483647ULL	/* 2^31 - 1, a prime */
#define SUPPRESS_TRIES		16	/* complements tried per fix */
#define SUPPRESS_SMALL		16384	/* part work (rels x cells) tested */
#define SUPPRESS_NONE		SIZE_MAX

struct suppress_rel {
	size_t	 r_sum;		/* the total cell */
	size_t	*r_parts;	/* the cells it sums */
	size_t	 r_nparts;
};

/* A connected part of the system around one hidden cell. */
struct suppress_part {
	size_t	*p_rels;	/* relations */
	size_t	 p_nrels;
	size_t	*p_cells;	/* hidden cells */
	size_t	 p_ncells;
	unsigned char *p_seen_rel;
	unsigned char *p_seen_cell;
};

/* One pivot row of the echelon form, its pivot entry 1. */
struct suppress_row {
	size_t		 w_piv;		/* pivot column */
	size_t		*w_col;		/* columns (local), pivot included */
	uint64_t	*w_val;
	size_t		 w_n;
};

/* Per apply: the CPU clock at the start, for the budget. */
struct suppress_clock {
	double	 c_start;
	double	 c_budget;	/* < 0: none */
	unsigned long c_ticks;
};

static int	suppress_part_build(const struct suppress_table *, size_t,
		    struct suppress_part *);
static void	suppress_part_free(struct suppress_part *);
static uint64_t	suppress_inv(uint64_t);
static uint64_t	suppress_rand(uint64_t *);
static double	suppress_cpu(void);
static int	suppress_over(struct suppress_clock *);
static void	suppress_heap_push(size_t *, size_t *, size_t);
static size_t	suppress_heap_pop(size_t *, size_t *);
static int	suppress_part_solve(const struct suppress_table *,
		    const struct suppress_part *, unsigned char *,
		    struct suppress_clock *);
static int	suppress_derivable(const struct suppress_table *, size_t,
		    struct suppress_clock *, size_t *);
static long	suppress_complement(struct suppress_table *, size_t,
		    struct suppress_clock *, int, size_t *);
static int	suppress_lone(const struct suppress_table *, size_t, size_t);
static long	suppress_complement_near(struct suppress_table *, size_t,
		    size_t *);
static int	suppress_before(const struct suppress_table *, size_t, size_t);
static int	suppress_cmp(const void *, const void *);

int
suppress_table_init(struct suppress_table *t, const long *values, size_t n)
{
	memset(t, 0, sizeof(*t));
	t->st_ncells = n;
	t->st_value = calloc(n + 1, sizeof(long));
	t->st_flag = calloc(n + 1, 1);
	t->st_margin = calloc(n + 1, 1);
	t->st_cellrel = calloc(n + 1, sizeof(size_t *));
	t->st_ncellrel = calloc(n + 1, sizeof(size_t));
	if (t->st_value == NULL || t->st_flag == NULL || t->st_margin == NULL ||
	    t->st_cellrel == NULL || t->st_ncellrel == NULL) {
		suppress_table_cleanup(t);
		return (-1);
	}
	if (n > 0)
		memcpy(t->st_value, values, n * sizeof(long));
	t->st_budget = -1;
	return (0);
}

void
suppress_table_cleanup(struct suppress_table *t)
{
	size_t	i;

	for (i = 0; i < t->st_nrel; i++)
		free(t->st_rel[i].r_parts);
	free(t->st_rel);
	if (t->st_cellrel != NULL) {
		for (i = 0; i < t->st_ncells; i++)
			free(t->st_cellrel[i]);
	}
	free(t->st_cellrel);
	free(t->st_ncellrel);
	free(t->st_value);
	free(t->st_flag);
	free(t->st_margin);
	memset(t, 0, sizeof(*t));
}

/* Note that cell c takes part in relation r (once per relation). */
static int
suppress_link(struct suppress_table *t, size_t c, size_t r)
{
	size_t	*p;

	if (t->st_ncellrel[c] > 0 &&
	    t->st_cellrel[c][t->st_ncellrel[c] - 1] == r)
		return (0);
	p = realloc(t->st_cellrel[c], (t->st_ncellrel[c] + 1) *
	    sizeof(size_t));
	if (p == NULL)
		return (-1);
	p[t->st_ncellrel[c]++] = r;
	t->st_cellrel[c] = p;
	return (0);
}

int
suppress_table_sum(struct suppress_table *t, size_t sum, const size_t *parts,
    size_t nparts)
{
	struct suppress_rel	*rel;
	size_t			 i, r;

	if (sum >= t->st_ncells || nparts == 0)
		return (-1);
	for (i = 0; i < nparts; i++) {
		if (parts[i] >= t->st_ncells)
			return (-1);
	}
	if (t->st_nrel == t->st_relcap) {
		rel = realloc(t->st_rel, (t->st_relcap * 2 + 8) *
		    sizeof(*rel));
		if (rel == NULL)
			return (-1);
		t->st_rel = rel;
		t->st_relcap = t->st_relcap * 2 + 8;
	}
	r = t->st_nrel;
	rel = &t->st_rel[r];
	if ((rel->r_parts = malloc(nparts * sizeof(size_t))) == NULL)
		return (-1);
	memcpy(rel->r_parts, parts, nparts * sizeof(size_t));
	rel->r_nparts = nparts;
	rel->r_sum = sum;
	t->st_nrel++;
	t->st_margin[sum] = 1;
	if (suppress_link(t, sum, r) == -1)
		return (-1);
	for (i = 0; i < nparts; i++) {
		if (suppress_link(t, parts[i], r) == -1)
			return (-1);
	}
	return (0);
}


void
suppress_table_budget(struct suppress_table *t, double seconds)
{
	t->st_budget = seconds;
}

static void
suppress_part_free(struct suppress_part *p)
{
	free(p->p_rels);
	free(p->p_cells);
	free(p->p_seen_rel);
	free(p->p_seen_cell);
	memset(p, 0, sizeof(*p));
}

/*
 * The relations reachable from hidden cell k through hidden cells, and
 * those hidden cells. Returns 0 or -1 (no memory; p freed).
 */
static int
suppress_part_build(const struct suppress_table *t, size_t k,
    struct suppress_part *p)
{
	const struct suppress_rel	*rel;
	size_t				 head = 0, i, j, r, c, x;

	memset(p, 0, sizeof(*p));
	p->p_rels = malloc((t->st_nrel + 1) * sizeof(size_t));
	p->p_cells = malloc((t->st_ncells + 1) * sizeof(size_t));
	p->p_seen_rel = calloc(t->st_nrel + 1, 1);
	p->p_seen_cell = calloc(t->st_ncells + 1, 1);
	if (p->p_rels == NULL || p->p_cells == NULL || p->p_seen_rel == NULL ||
	    p->p_seen_cell == NULL) {
		suppress_part_free(p);
		return (-1);
	}
	p->p_cells[p->p_ncells++] = k;
	p->p_seen_cell[k] = 1;
	while (head < p->p_ncells) {
		c = p->p_cells[head++];
		for (i = 0; i < t->st_ncellrel[c]; i++) {
			r = t->st_cellrel[c][i];
			if (p->p_seen_rel[r])
				continue;
			p->p_seen_rel[r] = 1;
			p->p_rels[p->p_nrels++] = r;
			rel = &t->st_rel[r];
			for (j = 0; j <= rel->r_nparts; j++) {
				x = j < rel->r_nparts ? rel->r_parts[j] :
				    rel->r_sum;
				if (t->st_flag[x] == SUPPRESS_SHOWN ||
				    p->p_seen_cell[x])
					continue;
				p->p_seen_cell[x] = 1;
				p->p_cells[p->p_ncells++] = x;
			}
		}
	}
	return (0);
}

/* Modular inverse by Fermat's little theorem; a must be non-zero. */
static uint64_t
suppress_inv(uint64_t a)
{
	uint64_t	r = 1, e = SUPPRESS_P - 2;

	a %= SUPPRESS_P;
	while (e > 0) {
		if (e & 1)
			r = r * a % SUPPRESS_P;
		a = a * a % SUPPRESS_P;
		e >>= 1;
	}
	return (r);
}

/* A value in 1..p-1 (xorshift64*; deterministic per seed). */
static uint64_t
suppress_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return ((*s * 2685821657736338717ULL >> 33) % (SUPPRESS_P - 1) + 1);
}

/* CPU seconds of the calling thread. */
static double
suppress_cpu(void)
{
	struct timespec	ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == -1)
		return (0);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/* Whether the budget is spent (the clock is read every 64th call). */
static int
suppress_over(struct suppress_clock *k)
{
	if (k == NULL || k->c_budget < 0)
		return (0);
	if (k->c_ticks++ % 64 != 0)
		return (0);
	return (suppress_cpu() - k->c_start >= k->c_budget);
}

/* A binary min-heap of row numbers (each pushed at most once a row). */
static void
suppress_heap_push(size_t *h, size_t *n, size_t v)
{
	size_t	i = (*n)++, up;

	while (i > 0 && h[up = (i - 1) / 2] > v) {
		h[i] = h[up];
		i = up;
	}
	h[i] = v;
}

static size_t
suppress_heap_pop(size_t *h, size_t *n)
{
	size_t	top = h[0], v = h[--(*n)], i = 0, c;

	while ((c = 2 * i + 1) < *n) {
		if (c + 1 < *n && h[c + 1] < h[c])
			c++;
		if (h[c] >= v)
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = v;
	return (top);
}

/*
 * Decide every hidden cell of part p at once: der[j] is set to 1 when
 * p->p_cells[j] is derivable, else 0. Returns 0, -1 on no memory or
 * SUPPRESS_OVER_BUDGET.
 */
static int
suppress_part_solve(const struct suppress_table *t,
    const struct suppress_part *p, unsigned char *der,
    struct suppress_clock *clk)
{
	const struct suppress_rel	*rel;
	struct suppress_row		*rows = NULL, *w;
	uint64_t			*acc = NULL, *x = NULL, *y = NULL;
	uint64_t			 f, v, sx, sy, seed = 0x9e3779b97f4a7c15ULL;
	size_t				*loc = NULL, *order = NULL, *cnt = NULL;
	size_t				*touch = NULL, *pivof = NULL;
	size_t				*heap = NULL, nheap = 0;
	size_t				 nr = p->p_nrels, nc = p->p_ncells;
	size_t				 nrow = 0, ntouch, i, j, q, c, best;
	unsigned char			*mark = NULL;
	int				 rc = -1;

	loc = malloc((t->st_ncells + 1) * sizeof(size_t));
	order = malloc((nr + 1) * sizeof(size_t));
	cnt = calloc(nr + 1, sizeof(size_t));
	rows = calloc(nr + 1, sizeof(*rows));
	acc = calloc(nc + 1, sizeof(uint64_t));
	x = calloc(nc + 1, sizeof(uint64_t));
	y = calloc(nc + 1, sizeof(uint64_t));
	touch = malloc((nc + 1) * sizeof(size_t));
	pivof = malloc((nc + 1) * sizeof(size_t));
	mark = calloc(nc + 1, 1);
	heap = malloc((nc + 1) * sizeof(size_t));
	if (loc == NULL || order == NULL || cnt == NULL || rows == NULL ||
	    acc == NULL || x == NULL || y == NULL || touch == NULL ||
	    pivof == NULL || mark == NULL || heap == NULL)
		goto out;
	for (j = 0; j < nc; j++) {
		loc[p->p_cells[j]] = j;
		pivof[j] = SUPPRESS_NONE;
	}
	/* Shortest relations first (counting hidden cells only). */
	for (i = 0; i < nr; i++) {
		rel = &t->st_rel[p->p_rels[i]];
		cnt[i] = p->p_seen_cell[rel->r_sum];
		for (j = 0; j < rel->r_nparts; j++)
			cnt[i] += p->p_seen_cell[rel->r_parts[j]];
		order[i] = i;
	}
	/* A counting sort by length (stable: ties keep their order). */
	{
		size_t	*bucket, maxc = 0, *pos;

		for (i = 0; i < nr; i++)
			if (cnt[i] > maxc)
				maxc = cnt[i];
		bucket = calloc(maxc + 2, sizeof(size_t));
		pos = malloc((nr + 1) * sizeof(size_t));
		if (bucket == NULL || pos == NULL) {
			free(bucket);
			free(pos);
			goto out;
		}
		for (i = 0; i < nr; i++)
			bucket[cnt[i] + 1]++;
		for (i = 1; i <= maxc + 1; i++)
			bucket[i] += bucket[i - 1];
		for (i = 0; i < nr; i++)
			pos[bucket[cnt[i]]++] = i;
		memcpy(order, pos, nr * sizeof(size_t));
		free(bucket);
		free(pos);
	}
	for (q = 0; q < nr; q++) {
		if (suppress_over(clk)) {
			rc = SUPPRESS_OVER_BUDGET;
			goto out;
		}
		rel = &t->st_rel[p->p_rels[order[q]]];
		ntouch = 0;
		for (j = 0; j <= rel->r_nparts; j++) {
			c = j < rel->r_nparts ? rel->r_parts[j] : rel->r_sum;
			if (!p->p_seen_cell[c])
				continue;
			c = loc[c];
			if (!mark[c]) {
				mark[c] = 1;
				touch[ntouch++] = c;
				if (pivof[c] != SUPPRESS_NONE)
					suppress_heap_push(heap, &nheap,
					    pivof[c]);
			}
			acc[c] = (acc[c] + (j < rel->r_nparts ?
			    SUPPRESS_P - 1 : 1)) % SUPPRESS_P;
		}
		/*
		 * Reduce by the pivot rows in the order they were made (a
		 * heap of the rows whose pivot the row touches): row i is
		 * zero at the pivots of rows before it, so an entry cleared
		 * stays cleared, and what it adds has later pivots only.
		 */
		while (nheap > 0) {
			w = &rows[suppress_heap_pop(heap, &nheap)];
			if ((f = acc[w->w_piv]) == 0)
				continue;
			for (j = 0; j < w->w_n; j++) {
				c = w->w_col[j];
				if (!mark[c]) {
					mark[c] = 1;
					touch[ntouch++] = c;
					if (pivof[c] != SUPPRESS_NONE)
						suppress_heap_push(heap,
						    &nheap, pivof[c]);
				}
				v = f * w->w_val[j] % SUPPRESS_P;
				acc[c] = (acc[c] + SUPPRESS_P - v) % SUPPRESS_P;
			}
		}
		/* Pivot: the non-zero cell in the fewest relations. */
		best = SUPPRESS_NONE;
		for (j = 0; j < ntouch; j++) {
			c = touch[j];
			if (acc[c] != 0 && (best == SUPPRESS_NONE ||
			    t->st_ncellrel[p->p_cells[c]] <
			    t->st_ncellrel[p->p_cells[best]] ||
			    (t->st_ncellrel[p->p_cells[c]] ==
			    t->st_ncellrel[p->p_cells[best]] && c < best)))
				best = c;
		}
		if (best != SUPPRESS_NONE) {
			w = &rows[nrow];
			w->w_piv = best;
			w->w_col = malloc(ntouch * sizeof(size_t));
			w->w_val = malloc(ntouch * sizeof(uint64_t));
			if (w->w_col == NULL || w->w_val == NULL) {
				nrow++;
				goto out;
			}
			f = suppress_inv(acc[best]);
			for (j = 0; j < ntouch; j++) {
				c = touch[j];
				if (acc[c] == 0)
					continue;
				w->w_col[w->w_n] = c;
				w->w_val[w->w_n++] = acc[c] * f % SUPPRESS_P;
			}
			pivof[best] = nrow++;
		}
		for (j = 0; j < ntouch; j++) {
			acc[touch[j]] = 0;
			mark[touch[j]] = 0;
		}
	}
	/*
	 * Two random solutions: free cells random, pivots by back
	 * substitution (row i holds later pivots and free cells only).
	 */
	for (j = 0; j < nc; j++) {
		if (pivof[j] == SUPPRESS_NONE) {
			x[j] = suppress_rand(&seed);
			y[j] = suppress_rand(&seed);
		}
	}
	for (i = nrow; i-- > 0; ) {
		w = &rows[i];
		sx = sy = 0;
		for (j = 0; j < w->w_n; j++) {
			if ((c = w->w_col[j]) == w->w_piv)
				continue;
			sx = (sx + w->w_val[j] * x[c]) % SUPPRESS_P;
			sy = (sy + w->w_val[j] * y[c]) % SUPPRESS_P;
		}
		x[w->w_piv] = (SUPPRESS_P - sx) % SUPPRESS_P;
		y[w->w_piv] = (SUPPRESS_P - sy) % SUPPRESS_P;
	}
	for (j = 0; j < nc; j++)
		der[j] = x[j] == 0 && y[j] == 0;
	rc = 0;
out:
	if (rows != NULL) {
		for (i = 0; i < nrow; i++) {
			free(rows[i].w_col);
			free(rows[i].w_val);
		}
	}
	free(rows);
	free(loc);
	free(order);
	free(cnt);
	free(acc);
	free(x);
	free(y);
	free(touch);
	free(pivof);
	free(mark);
	free(heap);
	return (rc);
}

/*
 * Whether hidden cell k is derivable: 1, 0, -1 (no memory) or
 * SUPPRESS_OVER_BUDGET; *work (if not NULL) gets the size of k's part.
 */
static int
suppress_derivable(const struct suppress_table *t, size_t k,
    struct suppress_clock *clk, size_t *work)
{
	struct suppress_part	 p;
	unsigned char		*der = NULL;
	int			 rc = -1;

	if (work != NULL)
		*work = 0;
	if (k >= t->st_ncells || t->st_flag[k] == SUPPRESS_SHOWN ||
	    t->st_ncellrel[k] == 0)
		return (0);
	if (suppress_part_build(t, k, &p) == -1)
		return (-1);
	if (work != NULL)
		*work = p.p_nrels * p.p_ncells;
	if ((der = malloc(p.p_ncells + 1)) == NULL)
		goto out;
	if ((rc = suppress_part_solve(t, &p, der, clk)) != 0)
		goto out;
	rc = der[0];	/* k is the part's first cell */
out:
	free(der);
	suppress_part_free(&p);
	return (rc);
}

int
suppress_cell_derivable(const struct suppress_table *t, size_t k)
{
	int	rc;

	rc = suppress_derivable(t, k, NULL, NULL);
	return (rc < 0 ? -1 : rc);
}

/*
 * Candidate order: inner cells before totals, then small counts before
 * large ones, then by index. Whether a goes before b.
 */
static int
suppress_before(const struct suppress_table *t, size_t a, size_t b)
{
	if (t->st_margin[a] != t->st_margin[b])
		return (t->st_margin[a] < t->st_margin[b]);
	if (t->st_value[a] != t->st_value[b])
		return (t->st_value[a] < t->st_value[b]);
	return (a < b);
}

/*
 * Hide one more cell so that hidden cell k is no longer derivable:
 * among the shown cells of the relations around k, inner cells before
 * totals and small counts before large ones, the first that frees k;
 * when none does alone, the first of them (the next round goes on).
 * Returns 1 when a cell was hidden, 0 when none is left to hide, -1 on
 * no memory, SUPPRESS_OVER_BUDGET.
 */
static long
suppress_complement(struct suppress_table *t, size_t k,
    struct suppress_clock *clk, int test, size_t *hid)
{
	struct suppress_part		 p;
	const struct suppress_rel	*rel;
	size_t				*cand = NULL, ncand = 0, i, j, c, x;
	unsigned char			*in = NULL;
	long				 rc = -1;
	int				 d;

	if (suppress_part_build(t, k, &p) == -1)
		return (-1);
	cand = malloc((t->st_ncells + 1) * sizeof(size_t));
	in = calloc(t->st_ncells + 1, 1);
	if (cand == NULL || in == NULL)
		goto out;
	for (i = 0; i < p.p_nrels; i++) {
		rel = &t->st_rel[p.p_rels[i]];
		for (j = 0; j <= rel->r_nparts; j++) {
			c = j < rel->r_nparts ? rel->r_parts[j] : rel->r_sum;
			if (t->st_flag[c] != SUPPRESS_SHOWN || in[c])
				continue;
			in[c] = 1;
			cand[ncand++] = c;
		}
	}
	if (test) {
		/* Insertion sort: only small parts are tested. */
		for (i = 1; i < ncand; i++) {
			x = cand[i];
			for (j = i; j > 0 && suppress_before(t, x,
			    cand[j - 1]); j--)
				cand[j] = cand[j - 1];
			cand[j] = x;
		}
	} else {
		/* Only the first counts. */
		for (i = 1; i < ncand; i++) {
			if (suppress_before(t, cand[i], cand[0])) {
				x = cand[0];
				cand[0] = cand[i];
				cand[i] = x;
			}
		}
	}
	if (ncand == 0) {
		rc = 0;
		goto out;
	}
	for (i = 0; test && i < ncand && i < SUPPRESS_TRIES; i++) {
		t->st_flag[cand[i]] = SUPPRESS_COMPLEMENT;
		if ((d = suppress_derivable(t, k, clk, NULL)) < 0) {
			rc = d;
			goto out;
		}
		if (d == 0) {
			if (hid != NULL)
				*hid = cand[i];
			rc = 1;
			goto out;
		}
		t->st_flag[cand[i]] = SUPPRESS_SHOWN;
	}
	t->st_flag[cand[0]] = SUPPRESS_COMPLEMENT;
	if (hid != NULL)
		*hid = cand[0];
	rc = 1;
out:
	free(cand);
	free(in);
	suppress_part_free(&p);
	return (rc);
}

/*
 * Whether hiding shown cell c would leave it alone in a relation that k
 * is not part of (such a complement is derivable itself).
 */
static int
suppress_lone(const struct suppress_table *t, size_t c, size_t k)
{
	const struct suppress_rel	*o;
	size_t				 q, m;
	int				 shares, hid;

	for (q = 0; q < t->st_ncellrel[c]; q++) {
		o = &t->st_rel[t->st_cellrel[c][q]];
		shares = o->r_sum == k;
		hid = t->st_flag[o->r_sum] != SUPPRESS_SHOWN;
		for (m = 0; m < o->r_nparts; m++) {
			shares |= o->r_parts[m] == k;
			hid |= t->st_flag[o->r_parts[m]] != SUPPRESS_SHOWN;
		}
		if (!shares && !hid)
			return (1);
	}
	return (0);
}

/*
 * The untested complement of a large part: the first shown cell of k's
 * own relations in suppress_before() order, preferring cells that
 * would not be alone in another relation; when k's relations have no
 * shown cell, the first around k's whole part. *hid gets the cell.
 * Returns 1 when a cell was hidden, 0 when none is left, -1 on no
 * memory.
 */
static long
suppress_complement_near(struct suppress_table *t, size_t k, size_t *hid)
{
	const struct suppress_rel	*rel;
	size_t				 i, j, c, best = SUPPRESS_NONE;
	size_t				 only = SUPPRESS_NONE, n;
	unsigned char			 lone[2];

	*hid = SUPPRESS_NONE;
	/*
	 * A relation where k is the only hidden cell needs the complement
	 * (any other leaves k its difference): the shortest such, if any.
	 */
	for (i = 0; i < t->st_ncellrel[k]; i++) {
		rel = &t->st_rel[t->st_cellrel[k][i]];
		n = t->st_flag[rel->r_sum] != SUPPRESS_SHOWN;
		for (j = 0; j < rel->r_nparts; j++)
			n += t->st_flag[rel->r_parts[j]] != SUPPRESS_SHOWN;
		if (n == 1 && (only == SUPPRESS_NONE || rel->r_nparts <
		    t->st_rel[only].r_nparts))
			only = t->st_cellrel[k][i];
	}
	for (i = 0; i < t->st_ncellrel[k]; i++) {
		if (only != SUPPRESS_NONE && t->st_cellrel[k][i] != only)
			continue;
		rel = &t->st_rel[t->st_cellrel[k][i]];
		for (j = 0; j <= rel->r_nparts; j++) {
			c = j < rel->r_nparts ? rel->r_parts[j] : rel->r_sum;
			if (t->st_flag[c] != SUPPRESS_SHOWN || c == best)
				continue;
			if (best == SUPPRESS_NONE) {
				best = c;
				continue;
			}
			/* lone[] indexed as cells 0 (c) and 1 (best). */
			lone[0] = (unsigned char)suppress_lone(t, c, k);
			lone[1] = (unsigned char)suppress_lone(t, best, k);
			if (t->st_margin[c] != t->st_margin[best] ?
			    t->st_margin[c] < t->st_margin[best] :
			    lone[0] != lone[1] ? lone[0] < lone[1] :
			    suppress_before(t, c, best))
				best = c;
		}
	}
	if (best == SUPPRESS_NONE)
		return (suppress_complement(t, k, NULL, 0, hid));
	t->st_flag[best] = SUPPRESS_COMPLEMENT;
	*hid = best;
	return (1);
}

static int
suppress_cmp(const void *a, const void *b)
{
	size_t	x = *(const size_t *)a, y = *(const size_t *)b;

	return (x < y ? -1 : x > y);
}

long
suppress_table_apply(struct suppress_table *t, long threshold)
{
	struct suppress_clock	 clk;
	struct suppress_part	 p;
	unsigned char		*done = NULL, *der = NULL, *touched = NULL;
	size_t			*dl = NULL, ndl, i, j, q, q2, k, c, w, kw;
	long			 hidden = -1, r;
	int			 changed = 1, d, busy;

	memset(&p, 0, sizeof(p));
	for (i = 0; i < t->st_ncells; i++) {
		t->st_flag[i] = t->st_value[i] >= 1 &&
		    t->st_value[i] <= threshold ? SUPPRESS_PRIMARY :
		    SUPPRESS_SHOWN;
	}
	clk.c_start = suppress_cpu();
	clk.c_budget = t->st_budget;
	clk.c_ticks = 0;
	done = malloc(t->st_ncells + 1);
	der = malloc(t->st_ncells + 1);
	touched = malloc(t->st_nrel + 1);
	dl = malloc((t->st_ncells + 1) * sizeof(size_t));
	if (done == NULL || der == NULL || touched == NULL || dl == NULL)
		goto out;
	/*
	 * Hiding a cell never makes another derivable (a larger set of
	 * unknowns only widens the solutions), so a cell once freed stays
	 * free; rounds go on until one adds nothing. Each round decides
	 * every part once.
	 */
	while (changed) {
		changed = 0;
		if (clk.c_budget >= 0 &&
		    suppress_cpu() - clk.c_start >= clk.c_budget) {
			hidden = SUPPRESS_OVER_BUDGET;
			goto out;
		}
		memset(done, 0, t->st_ncells + 1);
		memset(touched, 0, t->st_nrel + 1);
		for (i = 0; i < t->st_ncells; i++) {
			if (t->st_flag[i] == SUPPRESS_SHOWN || done[i] ||
			    t->st_ncellrel[i] == 0)
				continue;
			if (suppress_part_build(t, i, &p) == -1)
				goto out;
			for (j = 0; j < p.p_ncells; j++)
				done[p.p_cells[j]] = 1;
			if ((d = suppress_part_solve(t, &p, der, &clk)) != 0) {
				hidden = d;
				goto out;
			}
			ndl = 0;
			for (j = 0; j < p.p_ncells; j++)
				if (der[j])
					dl[ndl++] = p.p_cells[j];
			qsort(dl, ndl, sizeof(size_t), suppress_cmp);
			w = p.p_nrels * p.p_ncells;
			suppress_part_free(&p);
			for (q = 0; q < ndl; q++) {
				k = dl[q];
				if (w <= SUPPRESS_SMALL) {
					/* Tested, cell by cell, as long as small. */
					while ((d = suppress_derivable(t, k, &clk,
					    &kw)) == 1 && kw <= SUPPRESS_SMALL) {
						r = suppress_complement(t, k,
						    &clk, 1, &c);
						if (r == 1)
							done[c] = 1;
						if (r < 0) {
							hidden = r;
							goto out;
						}
						if (r == 0)
							break;	/* a forced zero */
						changed = 1;
					}
					if (d < 0) {
						hidden = d;
						goto out;
					}
					/* Grown large: the next round's way. */
					if (d == 1 && kw > SUPPRESS_SMALL)
						changed = 1;
					continue;
				}
				/* One untested complement per relation a round. */
				for (busy = 0, j = 0; j < t->st_ncellrel[k]; j++)
					busy |= touched[t->st_cellrel[k][j]];
				if (busy) {
					changed = 1;
					continue;
				}
				if ((r = suppress_complement_near(t, k, &c)) < 0)
					goto out;
				if (r == 0)
					continue;
				changed = 1;
				done[c] = 1;
				/* The relations k and its complement share. */
				for (j = 0; j < t->st_ncellrel[k]; j++)
					for (q2 = 0; q2 < t->st_ncellrel[c];
					    q2++)
						if (t->st_cellrel[c][q2] ==
						    t->st_cellrel[k][j])
							touched[t->st_cellrel[
							    k][j]] = 1;
			}
		}
	}
	hidden = 0;
	for (i = 0; i < t->st_ncells; i++)
		hidden += t->st_flag[i] != SUPPRESS_SHOWN;
out:
	suppress_part_free(&p);
	free(done);
	free(der);
	free(touched);
	free(dl);
	return (hidden);
}
