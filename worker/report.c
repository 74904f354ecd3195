/*
 * report: the report.build job. The raw table is computed on a
 * connection of the report's own (so a long statement never holds the
 * job connection's snapshot, and progress commits as it goes) under a
 * statement timeout (CONCORD_REPORT_TIMEOUT_S); a report that runs into
 * it is failed with a reason, not retried. Small cells are suppressed
 * here with common/suppress.c (CONCORD_REPORT_SUPPRESS_MAX) within a
 * CPU budget (CONCORD_REPORT_SUPPRESS_SECONDS; a table that runs out is
 * failed with a reason, not retried), so raw counts are never stored; the published table is written on the same
 * connection in one statement (worker.report_finish), together with the
 * report.ready notification, so a build that outlives the job's claim
 * (CONCORD_JOB_CLAIM_SECONDS ends the job connection's idle
 * transaction) still ends done or failed, once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/config.h"
#include "../common/db.h"
#include "../common/log.h"
#include "../common/suppress.h"
#include "jobs.h"

#define REPORT_TYPE_COUNT	0
#define REPORT_TYPE_DERIVED	1	/* ratio, hours: hidden with deps */
#define REPORT_TYPE_PLAIN	2	/* not about people: never hidden */

static struct concord_config	 report_cfg;
static int			 report_cfg_loaded;
static PGconn			*report_pg;	/* the reports' own link */

static int	 report_connect(char *, size_t);
static int	 report_exec(const char *, const char *, const char *,
		    PGresult **, char *, size_t);
static json_t	*report_publish(json_t *, json_t *, long, long *);
static const char *report_key(char *, size_t, const char *, const char *,
		    const char *);
static int	 report_index_add(json_t *, const char *, size_t);
static long	 report_ms(const struct timespec *, const struct timespec *);

/*
 * The reports' connection, with the statement timeout set. Returns 0,
 * or -1 with a reason in err (the job is then retried).
 */
static int
report_connect(char *err, size_t elen)
{
	PGresult	*r;
	char		 sql[96];

	if (!report_cfg_loaded) {
		if (concord_config_load(&report_cfg, err, elen) == -1)
			return (-1);
		report_cfg_loaded = 1;
	}
	if (report_pg != NULL && PQstatus(report_pg) == CONNECTION_OK)
		return (0);
	if (report_pg != NULL)
		PQfinish(report_pg);
	if ((report_pg = db_connect(report_cfg.worker_database_url, err,
	    elen)) == NULL)
		return (-1);
	snprintf(sql, sizeof(sql), "SET statement_timeout = '%ds'",
	    report_cfg.report_timeout_s);
	if ((r = db_exec(report_pg, sql, 0, NULL, err, elen)) == NULL) {
		PQfinish(report_pg);
		report_pg = NULL;
		return (-1);
	}
	PQclear(r);
	return (0);
}

/*
 * Run sql with up to two text parameters on the reports' connection.
 * Returns 0 with *res (caller clears), or -1 with the SQLSTATE in err
 * (the server's text may quote values, so it is not kept).
 */
static int
report_exec(const char *sql, const char *a, const char *b, PGresult **res,
    char *err, size_t elen)
{
	const char	*p[2] = { a, b };
	const char	*state;
	ExecStatusType	 st;

	*res = PQexecParams(report_pg, sql, b != NULL ? 2 : (a != NULL ? 1 : 0),
	    NULL, p, NULL, NULL, 0);
	st = *res != NULL ? PQresultStatus(*res) : PGRES_FATAL_ERROR;
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return (0);
	state = *res != NULL ? PQresultErrorField(*res, PG_DIAG_SQLSTATE) :
	    NULL;
	snprintf(err, elen, "%s", state != NULL ? state : "08000");
	PQclear(*res);
	*res = NULL;
	return (-1);
}

/* "section\x1fcategory\x1fgroup", the map key of a row. */
static const char *
report_key(char *buf, size_t len, const char *s, const char *c,
    const char *g)
{
	snprintf(buf, len, "%s\x1f%s\x1f%s", s != NULL ? s : "",
	    c != NULL ? c : "", g != NULL ? g : "\x1e");
	return (buf);
}

/* Append row i to the list under key in index; 0, or -1 on no memory. */
static int
report_index_add(json_t *index, const char *key, size_t i)
{
	json_t	*list;

	if ((list = json_object_get(index, key)) == NULL) {
		if ((list = json_array()) == NULL ||
		    json_object_set_new(index, key, list) == -1)
			return (-1);
	}
	return (json_array_append_new(list, json_integer((json_int_t)i)));
}

/*
 * Publish a raw table (sql/code/reports.sql states its shape): state
 * the sums that hold between its cells, suppress with the threshold,
 * hide derived values whose inputs are hidden. Returns the result
 * document (caller decrefs) with the count of hidden cells in *hidden,
 * or NULL when raw is malformed or memory runs out.
 */
static json_t *
report_publish(json_t *raw, json_t *params, long threshold, long *hidden)
{
	struct suppress_table	 t;
	json_t			*cols, *facts, *sections, *f, *col, *rows;
	json_t			*idx = NULL, *out = NULL, *cells, *cell, *v;
	json_t			*deps, *ocols, *d, *sum, *s;
	json_t			*bycat = NULL, *bygrp = NULL;
	const char		*total_sec = NULL, *type, *key;
	char			 kb[768];
	long			*vals = NULL;
	size_t			*parts = NULL, *ctype = NULL, nrows, ncols;
	size_t			*sumcols = NULL;
	size_t			 i, j, k, n, np, r, sec;
	int			 ok = 0, init = 0, grouped = 0, part;

	cols = json_object_get(raw, "columns");
	facts = json_object_get(raw, "facts");
	sections = json_object_get(raw, "sections");
	if (!json_is_array(cols) || !json_is_array(facts) ||
	    !json_is_array(sections) || json_array_size(cols) == 0)
		return (NULL);
	nrows = json_array_size(facts);
	ncols = json_array_size(cols);
	vals = calloc(nrows * ncols + 1, sizeof(long));
	parts = calloc(nrows + ncols + 1, sizeof(size_t));
	ctype = calloc(ncols + 1, sizeof(size_t));
	sumcols = calloc(ncols + 1, sizeof(size_t));
	idx = json_object();
	if (vals == NULL || parts == NULL || ctype == NULL || sumcols == NULL ||
	    idx == NULL)
		goto out;
	json_array_foreach(cols, j, col) {
		type = json_string_value(json_object_get(col, "type"));
		ctype[j] = type != NULL && strcmp(type, "count") == 0 ?
		    (json_is_false(json_object_get(col, "sensitive")) ?
		    REPORT_TYPE_PLAIN : REPORT_TYPE_COUNT) :
		    (json_object_get(col, "deps") != NULL ?
		    REPORT_TYPE_DERIVED : REPORT_TYPE_PLAIN);
	}
	json_array_foreach(facts, i, f) {
		v = json_object_get(f, "v");
		if (!json_is_array(v) || json_array_size(v) != ncols)
			goto out;
		if (json_is_string(json_object_get(f, "g")))
			grouped = 1;
		for (j = 0; j < ncols; j++) {
			if (ctype[j] == REPORT_TYPE_COUNT)
				vals[i * ncols + j] = (long)json_number_value(
				    json_array_get(v, j));
		}
		json_object_set_new(idx, report_key(kb, sizeof(kb),
		    json_string_value(json_object_get(f, "s")),
		    json_string_value(json_object_get(f, "c")),
		    json_string_value(json_object_get(f, "g"))),
		    json_integer((json_int_t)i));
	}
	if (suppress_table_init(&t, vals, nrows * ncols) == -1)
		goto out;
	init = 1;

	/* A count column that is the sum of others, in every row. */
	json_array_foreach(cols, j, col) {
		if (ctype[j] != REPORT_TYPE_COUNT ||
		    !json_is_array(sum = json_object_get(col, "sum_of")))
			continue;
		/* The summed columns, once (not per row). */
		np = 0;
		json_array_foreach(sum, k, d) {
			for (n = 0; n < ncols; n++) {
				if (json_equal(json_object_get(
				    json_array_get(cols, n), "key"), d))
					if (np < ncols)
						sumcols[np++] = n;
			}
		}
		if (np == 0)
			continue;
		for (r = 0; r < nrows; r++) {
			for (k = 0; k < np; k++)
				parts[k] = r * ncols + sumcols[k];
			if (suppress_table_sum(&t, r * ncols + j, parts,
			    np) == -1)
				goto out;
		}
	}
	json_array_foreach(sections, sec, s) {
		if (json_is_true(json_object_get(s, "total")))
			total_sec = json_string_value(json_object_get(s, "key"));
	}
	/*
	 * Index the rows once (this was a scan of every row per total row,
	 * quadratic in the row count): the group rows of each
	 * section/category, and the rows of each section/group.
	 */
	if ((bycat = json_object()) == NULL ||
	    (bygrp = json_object()) == NULL)
		goto out;
	json_array_foreach(facts, i, f) {
		const char *fs = json_string_value(json_object_get(f, "s"));
		const char *fc = json_string_value(json_object_get(f, "c"));
		const char *fg = json_string_value(json_object_get(f, "g"));

		if (fg != NULL && report_index_add(bycat, report_key(kb,
		    sizeof(kb), fs, fc, NULL), i) == -1)
			goto out;
		if (report_index_add(bygrp, report_key(kb, sizeof(kb), fs,
		    NULL, fg), i) == -1)
			goto out;
	}
	/*
	 * Groups add up to the all-groups row; a partition section's
	 * categories add up to the total section's row, per group.
	 */
	json_array_foreach(facts, i, f) {
		const char *fs = json_string_value(json_object_get(f, "s"));
		const char *fc = json_string_value(json_object_get(f, "c"));
		const char *fg = json_string_value(json_object_get(f, "g"));
		json_t *list;

		for (j = 0; j < ncols; j++) {
			if (ctype[j] != REPORT_TYPE_COUNT)
				continue;
			/* Row i (all groups) = sum of its group rows. */
			if (fg == NULL && grouped && json_is_true(
			    json_object_get(raw, "group_partition"))) {
				list = json_object_get(bycat, report_key(kb,
				    sizeof(kb), fs, fc, NULL));
				np = 0;
				json_array_foreach(list, k, d)
					parts[np++] = (size_t)json_integer_value(
					    d) * ncols + j;
				if (np > 0 && suppress_table_sum(&t,
				    i * ncols + j, parts, np) == -1)
					goto out;
			}
			/* Total row = sum of each partition section's rows. */
			if (total_sec == NULL || fs == NULL ||
			    strcmp(fs, total_sec) != 0)
				continue;
			json_array_foreach(sections, sec, s) {
				key = json_string_value(json_object_get(s,
				    "key"));
				if (key == NULL || !json_is_true(
				    json_object_get(s, "partition")))
					continue;
				list = json_object_get(bygrp, report_key(kb,
				    sizeof(kb), key, NULL, fg));
				np = 0;
				json_array_foreach(list, k, d)
					parts[np++] = (size_t)json_integer_value(
					    d) * ncols + j;
				if (np > 0 && suppress_table_sum(&t,
				    i * ncols + j, parts, np) == -1)
					goto out;
			}
		}
	}
	suppress_table_budget(&t, (double)report_cfg.report_suppress_seconds);
	if ((*hidden = suppress_table_apply(&t, threshold)) < 0)
		goto out;

	rows = json_array();
	json_array_foreach(facts, i, f) {
		v = json_object_get(f, "v");
		cells = json_array();
		for (j = 0; j < ncols; j++) {
			col = json_array_get(cols, j);
			part = 0;
			if (ctype[j] == REPORT_TYPE_COUNT)
				part = t.st_flag[i * ncols + j] !=
				    SUPPRESS_SHOWN;
			else if (ctype[j] == REPORT_TYPE_DERIVED) {
				deps = json_object_get(col, "deps");
				json_array_foreach(deps, k, d) {
					for (n = 0; n < ncols; n++) {
						if (!json_equal(json_object_get(
						    json_array_get(cols, n),
						    "key"), d) ||
						    ctype[n] != REPORT_TYPE_COUNT)
							continue;
						if (t.st_flag[i * ncols + n] !=
						    SUPPRESS_SHOWN)
							part = 1;
						/* A median of a few is theirs. */
						if (k == 0 && vals[i * ncols +
						    n] <= threshold && vals[i *
						    ncols + n] > 0)
							part = 1;
					}
				}
			}
			cell = json_pack("{s:O, s:b}", "value", part ?
			    json_null() : json_array_get(v, j), "suppressed",
			    part);
			json_array_append_new(cells, cell);
		}
		json_array_append_new(rows, json_pack(
		    "{s:O, s:O, s:O, s:O, s:O, s:O, s:o}",
		    "section", json_object_get(f, "s"),
		    "section_label", json_null(),
		    "category", json_object_get(f, "c"),
		    "label", json_object_get(f, "l") != NULL ?
		    json_object_get(f, "l") : json_null(),
		    "group", json_object_get(f, "g") != NULL ?
		    json_object_get(f, "g") : json_null(),
		    "group_label", json_object_get(f, "gl") != NULL ?
		    json_object_get(f, "gl") : json_null(),
		    "cells", cells));
		/* The section's label, from the section list. */
		json_array_foreach(sections, sec, s) {
			if (json_equal(json_object_get(s, "key"),
			    json_object_get(f, "s")))
				json_object_set(json_array_get(rows, i),
				    "section_label", json_object_get(s,
				    "label"));
		}
	}
	ocols = json_array();
	json_array_foreach(cols, j, col) {
		json_array_append_new(ocols, json_pack("{s:O, s:O, s:O}",
		    "key", json_object_get(col, "key"),
		    "label", json_object_get(col, "label"),
		    "type", json_object_get(col, "type")));
	}
	out = json_pack("{s:O, s:O, s:{s:O, s:O, s:O}, s:O, s:O, s:I, s:I, "
	    "s:o, s:o}",
	    "kind", json_object_get(params, "kind"),
	    "title", json_object_get(raw, "title"),
	    "period", "from", json_object_get(params, "from"),
	    "to", json_object_get(params, "to"),
	    "label", json_object_get(params, "label"),
	    "group_by", json_object_get(params, "group_by"),
	    "filters", json_object_get(params, "filters"),
	    "threshold", (json_int_t)threshold,
	    "hidden_cells", (json_int_t)*hidden,
	    "columns", ocols, "rows", rows);
	ok = out != NULL;
out:
	if (init)
		suppress_table_cleanup(&t);
	free(vals);
	free(parts);
	free(ctype);
	free(sumcols);
	json_decref(idx);
	json_decref(bycat);
	json_decref(bygrp);
	if (!ok) {
		json_decref(out);
		out = NULL;
	}
	return (out);
}

/* Milliseconds from a to b. */
static long
report_ms(const struct timespec *a, const struct timespec *b)
{
	return ((long)(b->tv_sec - a->tv_sec) * 1000 +
	    (b->tv_nsec - a->tv_nsec) / 1000000);
}

int
report_build_run(PGconn *pg, json_t *payload, json_t **result, char *err,
    size_t elen)
{
	PGresult	*r = NULL;
	json_t		*params = NULL, *raw = NULL, *pub = NULL;
	const char	*id;
	char		*text = NULL, state[16], reason[256];
	long		 hidden = 0;
	int		 rc = -1;
	struct timespec	 t0, t1, tq, ts;

	(void)pg;	/* everything goes over the report's own connection */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((id = json_string_value(json_object_get(payload,
	    "report_id"))) == NULL) {
		snprintf(err, elen, "payload has no report_id");
		goto out;
	}
	if (report_connect(err, elen) == -1)
		goto out;
	if (report_exec("SELECT worker.report_begin($1)::text", id, NULL, &r,
	    state, sizeof(state)) == -1) {
		snprintf(err, elen, "report_begin failed (%s)", state);
		goto out;
	}
	if (PQgetisnull(r, 0, 0)) {
		*result = json_pack("{s:s}", "skipped", "not awaiting a build");
		rc = 0;
		goto out;
	}
	params = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
	PQclear(r);
	r = NULL;
	if (params == NULL) {
		snprintf(err, elen, "report_begin returned bad JSON");
		goto out;
	}
	if (report_exec("SELECT worker.report_progress($1, 10)", id, NULL, &r,
	    state, sizeof(state)) == 0) {
		PQclear(r);
		r = NULL;
	}
	text = json_dumps(params, JSON_COMPACT);
	if (report_exec("SELECT worker.report_data($1::jsonb)::text", text,
	    NULL, &r, state, sizeof(state)) == -1) {
		if (strncmp(state, "08", 2) == 0 ||
		    PQstatus(report_pg) != CONNECTION_OK) {
			snprintf(err, elen, "report connection lost");
			goto out;
		}
		if (strcmp(state, "57014") == 0)
			snprintf(reason, sizeof(reason), "The report took "
			    "longer than %d s and was stopped; narrow the "
			    "period or the filters.",
			    report_cfg.report_timeout_s);
		else
			snprintf(reason, sizeof(reason), "The report could "
			    "not be built (SQLSTATE %s).", state);
		/*
		 * On the report's own connection (autocommit): a build that
		 * outlived CONCORD_JOB_CLAIM_SECONDS has lost the job's
		 * connection (its idle transaction was ended), and the
		 * report must still end failed, not stay running.
		 */
		if (report_exec("SELECT worker.report_fail($1, $2)", id,
		    reason, &r, state, sizeof(state)) == -1) {
			snprintf(err, elen, "report_fail failed (%s)", state);
			goto out;
		}
		*result = json_pack("{s:s, s:s}", "failed", state, "reason",
		    reason);
		rc = 0;
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &tq);
	raw = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
	PQclear(r);
	r = NULL;
	if (report_exec("SELECT worker.report_progress($1, 80)", id, NULL, &r,
	    state, sizeof(state)) == 0) {
		PQclear(r);
		r = NULL;
	}
	if (raw != NULL && (pub = report_publish(raw, params,
	    report_cfg.report_suppress_max, &hidden)) == NULL &&
	    hidden == SUPPRESS_OVER_BUDGET) {
		/* Not retried: the same table would run out again. */
		snprintf(reason, sizeof(reason), "Suppressing small counts "
		    "took longer than %d s of CPU and was stopped; narrow "
		    "the period, the filters or the grouping.",
		    report_cfg.report_suppress_seconds);
		if (report_exec("SELECT worker.report_fail($1, $2)", id,
		    reason, &r, state, sizeof(state)) == -1) {
			snprintf(err, elen, "report_fail failed (%s)", state);
			goto out;
		}
		*result = json_pack("{s:s, s:s}", "failed", "suppression",
		    "reason", reason);
		rc = 0;
		goto out;
	}
	if (raw == NULL || pub == NULL) {
		snprintf(err, elen, "the raw table is malformed");
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	free(text);
	text = json_dumps(pub, JSON_COMPACT);
	/*
	 * Stored on the report's connection too (one statement: the table
	 * and the report.ready notification together; a re-run finds the
	 * report done and skips), so a long build that lost the job's
	 * connection is not built again.
	 */
	if (report_exec("SELECT worker.report_finish($1, $2::jsonb)", id,
	    text, &r, state, sizeof(state)) == -1) {
		snprintf(err, elen, "report_finish failed (%s)", state);
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* Where the time went: the query, the suppression, the rest. */
	*result = json_pack("{s:I, s:I, s:I, s:I, s:I}", "rows",
	    (json_int_t)json_array_size(json_object_get(pub, "rows")),
	    "hidden_cells", (json_int_t)hidden, "build_ms",
	    (json_int_t)report_ms(&t0, &t1), "query_ms",
	    (json_int_t)report_ms(&t0, &tq), "publish_ms",
	    (json_int_t)report_ms(&tq, &ts));
	rc = 0;
out:
	if (r != NULL)
		PQclear(r);
	free(text);
	json_decref(params);
	json_decref(raw);
	json_decref(pub);
	return (rc);
}
