/*
 * suppress: primary and complementary small-cell suppression (see
 * suppress.h for the rule). Derivability is decided per connected part
 * of the system (relations linked through hidden cells), by reducing
 * that part's matrix to row echelon form modulo a prime: a hidden
 * cell is derivable exactly when its column is a pivot whose row has
 * no other non-zero entry.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "suppress.h"

#define SUPPRESS_P		2147483647ULL	/* 2^31 - 1, a prime */
#define SUPPRESS_TRIES		16	/* complements tried per fix */

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

static int	suppress_part_build(const struct suppress_table *, size_t,
		    struct suppress_part *);
static void	suppress_part_free(struct suppress_part *);
static uint64_t	suppress_inv(uint64_t);
static long	suppress_complement(struct suppress_table *, size_t);

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

int
suppress_cell_derivable(const struct suppress_table *t, size_t k)
{
	struct suppress_part		 p;
	const struct suppress_rel	*rel;
	uint64_t			*m = NULL, f, v;
	size_t				*col = NULL, *pivcol = NULL;
	size_t				 nr, nc, i, j, r, c, row, kc = 0;
	int				 rc = -1, piv_of_k = -1;

	if (k >= t->st_ncells || t->st_flag[k] == SUPPRESS_SHOWN)
		return (0);
	if (t->st_ncellrel[k] == 0)
		return (0);
	if (suppress_part_build(t, k, &p) == -1)
		return (-1);
	nr = p.p_nrels;
	nc = p.p_ncells;
	/* Column of each hidden cell of the part (cell index -> column). */
	col = malloc(t->st_ncells * sizeof(size_t));
	m = calloc(nr * nc, sizeof(uint64_t));
	pivcol = malloc((nr + 1) * sizeof(size_t));
	if (col == NULL || m == NULL || pivcol == NULL)
		goto out;
	for (j = 0; j < nc; j++)
		col[p.p_cells[j]] = j;
	kc = col[k];
	for (i = 0; i < nr; i++) {
		rel = &t->st_rel[p.p_rels[i]];
		if (p.p_seen_cell[rel->r_sum])
			m[i * nc + col[rel->r_sum]] = (m[i * nc +
			    col[rel->r_sum]] + 1) % SUPPRESS_P;
		for (j = 0; j < rel->r_nparts; j++) {
			c = rel->r_parts[j];
			if (p.p_seen_cell[c])
				m[i * nc + col[c]] = (m[i * nc + col[c]] +
				    SUPPRESS_P - 1) % SUPPRESS_P;
		}
	}
	/* Reduced row echelon form. */
	row = 0;
	for (j = 0; j < nc && row < nr; j++) {
		for (r = row; r < nr && m[r * nc + j] == 0; r++)
			;
		if (r == nr)
			continue;
		if (r != row) {
			for (c = 0; c < nc; c++) {
				v = m[r * nc + c];
				m[r * nc + c] = m[row * nc + c];
				m[row * nc + c] = v;
			}
		}
		f = suppress_inv(m[row * nc + j]);
		for (c = 0; c < nc; c++)
			m[row * nc + c] = m[row * nc + c] * f % SUPPRESS_P;
		for (r = 0; r < nr; r++) {
			if (r == row || (f = m[r * nc + j]) == 0)
				continue;
			for (c = 0; c < nc; c++) {
				v = f * m[row * nc + c] % SUPPRESS_P;
				m[r * nc + c] = (m[r * nc + c] + SUPPRESS_P - v) %
				    SUPPRESS_P;
			}
		}
		pivcol[row] = j;
		if (j == kc)
			piv_of_k = (int)row;
		row++;
	}
	if (piv_of_k < 0) {
		rc = 0;		/* a free column: the cell can move */
		goto out;
	}
	rc = 1;
	for (c = 0; c < nc; c++) {
		if (c != kc && m[(size_t)piv_of_k * nc + c] != 0) {
			rc = 0;
			break;
		}
	}
out:
	free(m);
	free(col);
	free(pivcol);
	suppress_part_free(&p);
	return (rc);
}

/*
 * Hide one more cell so that hidden cell k is no longer derivable:
 * among the shown cells of the relations around k, inner cells before
 * totals and small counts before large ones, the first that frees k;
 * when none does alone, the first of them (the next round goes on).
 * Returns 1 when a cell was hidden, 0 when none is left to hide, -1 on
 * no memory.
 */
static long
suppress_complement(struct suppress_table *t, size_t k)
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
	/* Insertion sort: margins last, then by value, then by index. */
	for (i = 1; i < ncand; i++) {
		x = cand[i];
		for (j = i; j > 0; j--) {
			c = cand[j - 1];
			if (t->st_margin[c] < t->st_margin[x] ||
			    (t->st_margin[c] == t->st_margin[x] &&
			    (t->st_value[c] < t->st_value[x] ||
			    (t->st_value[c] == t->st_value[x] && c < x))))
				break;
			cand[j] = c;
		}
		cand[j] = x;
	}
	if (ncand == 0) {
		rc = 0;
		goto out;
	}
	for (i = 0; i < ncand && i < SUPPRESS_TRIES; i++) {
		t->st_flag[cand[i]] = SUPPRESS_COMPLEMENT;
		if ((d = suppress_cell_derivable(t, k)) == -1)
			goto out;
		if (d == 0) {
			rc = 1;
			goto out;
		}
		t->st_flag[cand[i]] = SUPPRESS_SHOWN;
	}
	t->st_flag[cand[0]] = SUPPRESS_COMPLEMENT;
	rc = 1;
out:
	free(cand);
	free(in);
	suppress_part_free(&p);
	return (rc);
}

long
suppress_table_apply(struct suppress_table *t, long threshold)
{
	size_t	i;
	long	hidden = 0, r;
	int	changed = 1, d;

	for (i = 0; i < t->st_ncells; i++) {
		t->st_flag[i] = t->st_value[i] >= 1 &&
		    t->st_value[i] <= threshold ? SUPPRESS_PRIMARY :
		    SUPPRESS_SHOWN;
	}
	/*
	 * Hiding a cell never makes another derivable (a larger set of
	 * unknowns only widens the solutions), so a cell once freed stays
	 * free; rescan until a pass adds nothing.
	 */
	while (changed) {
		changed = 0;
		for (i = 0; i < t->st_ncells; i++) {
			if (t->st_flag[i] == SUPPRESS_SHOWN)
				continue;
			while ((d = suppress_cell_derivable(t, i)) == 1) {
				if ((r = suppress_complement(t, i)) == -1)
					return (-1);
				if (r == 0)
					break;	/* a forced zero: nothing left */
				changed = 1;
			}
			if (d == -1)
				return (-1);
		}
	}
	for (i = 0; i < t->st_ncells; i++)
		hidden += t->st_flag[i] != SUPPRESS_SHOWN;
	return (hidden);
}
