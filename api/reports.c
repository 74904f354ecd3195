/*
 * reports: GET /v1/reports/{id} with content negotiation. The route's
 * SQL function (api.report_get) answers the report as JSON in the one
 * round trip; for Accept: text/csv or image/svg+xml this file renders
 * the stored (already suppressed) result: CSV per RFC 4180 with a
 * header row, or a plain, accessible SVG bar chart of the table's first
 * column (a <title> per bar, hatched bars for suppressed cells, no
 * external fonts or scripts). The other report routes are plain SQL
 * routes (sql/code/reports.sql).
 */
#include <kore/kore.h>
#include <kore/http.h>

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api.h"

#define REPORT_JSON	0
#define REPORT_CSV	1
#define REPORT_SVG	2
#define REPORT_NONE	-1

#define SVG_WIDTH	900
#define SVG_LABEL_W	320	/* left margin for the row labels */
#define SVG_BAR_H	18
#define SVG_GAP		6
#define SVG_TOP		70
#define SVG_PLOT_W	(SVG_WIDTH - SVG_LABEL_W - 80)

static int	report_accept(struct http_request *);
static int	report_rendered(struct http_request *, struct api_call *, int,
		    const char *, json_t *);
static void	report_csv_field(struct kore_buf *, const char *);
static void	report_xml(struct kore_buf *, const char *);
static void	report_number(char *, size_t, json_t *);
static const char *report_row_label(json_t *, char *, size_t);
static void	report_csv(struct kore_buf *, json_t *);
static void	report_svg(struct kore_buf *, json_t *);

/*
 * The representation Accept asks for: the supported media type with the
 * highest q (the first of equals); JSON without Accept or for any
 * wildcard; REPORT_NONE when nothing listed is supported.
 */
static int
report_accept(struct http_request *req)
{
	const char	*h;
	char		 buf[512], *entry, *next, *semi, *q;
	double		 qv, best_q = -1;
	int		 best = REPORT_NONE, t;

	if (!http_request_header(req, "accept", &h))
		return (REPORT_JSON);
	snprintf(buf, sizeof(buf), "%s", h);
	for (entry = buf; entry != NULL; entry = next) {
		if ((next = strchr(entry, ',')) != NULL)
			*next++ = '\0';
		while (*entry == ' ' || *entry == '\t')
			entry++;
		qv = 1;
		if ((semi = strchr(entry, ';')) != NULL) {
			*semi++ = '\0';
			if ((q = strstr(semi, "q=")) != NULL)
				qv = atof(q + 2);
		}
		entry[strcspn(entry, " \t")] = '\0';
		if (strcasecmp(entry, "application/json") == 0 ||
		    strcasecmp(entry, "*/*") == 0 ||
		    strcasecmp(entry, "application/*") == 0)
			t = REPORT_JSON;
		else if (strcasecmp(entry, "text/csv") == 0 ||
		    strcasecmp(entry, "text/*") == 0)
			t = REPORT_CSV;
		else if (strcasecmp(entry, "image/svg+xml") == 0 ||
		    strcasecmp(entry, "image/*") == 0)
			t = REPORT_SVG;
		else
			continue;
		if (qv > 0 && qv > best_q) {
			best_q = qv;
			best = t;
		}
	}
	return (best);
}

/* One CSV field, quoted when needed (RFC 4180); formula-safe. */
static void
report_csv_field(struct kore_buf *b, const char *s)
{
	const char	*p;

	if (s == NULL)
		return;
	if (strpbrk(s, ",\"\r\n") == NULL && strchr("=+-@", s[0]) == NULL) {
		kore_buf_append(b, s, strlen(s));
		return;
	}
	kore_buf_append(b, "\"", 1);
	/* A leading formula character is neutralised for spreadsheets. */
	if (s[0] != '\0' && strchr("=+-@", s[0]) != NULL &&
	    strspn(s, "-0123456789.") != strlen(s))
		kore_buf_append(b, "'", 1);
	for (p = s; *p != '\0'; p++) {
		if (*p == '"')
			kore_buf_append(b, "\"\"", 2);
		else
			kore_buf_append(b, p, 1);
	}
	kore_buf_append(b, "\"", 1);
}

/* Text escaped for XML content and attributes. */
static void
report_xml(struct kore_buf *b, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		switch (*s) {
		case '&':
			kore_buf_append(b, "&amp;", 5);
			break;
		case '<':
			kore_buf_append(b, "&lt;", 4);
			break;
		case '>':
			kore_buf_append(b, "&gt;", 4);
			break;
		case '"':
			kore_buf_append(b, "&quot;", 6);
			break;
		default:
			if ((unsigned char)*s >= 0x20 || *s == '\t')
				kore_buf_append(b, s, 1);
			break;
		}
	}
}

/* A JSON number as text ("" for null). */
static void
report_number(char *buf, size_t len, json_t *v)
{
	if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, len, "%g", json_real_value(v));
	else
		buf[0] = '\0';
}

/* "Section: Category (Group)" for a chart row. */
static const char *
report_row_label(json_t *row, char *buf, size_t len)
{
	const char	*sec, *lab, *grp;

	sec = json_string_value(json_object_get(row, "section_label"));
	lab = json_string_value(json_object_get(row, "label"));
	grp = json_string_value(json_object_get(row, "group_label"));
	snprintf(buf, len, "%s%s%s%s%s%s", sec != NULL ? sec : "",
	    sec != NULL ? ": " : "", lab != NULL ? lab : "",
	    json_is_string(json_object_get(row, "group")) ? " (" : "",
	    json_is_string(json_object_get(row, "group")) && grp != NULL ?
	    grp : "", json_is_string(json_object_get(row, "group")) ? ")" :
	    "");
	return (buf);
}

static void
report_csv(struct kore_buf *b, json_t *res)
{
	json_t		*cols, *rows, *row, *col, *cell;
	size_t		 i, j;
	char		 num[64], marker[32];

	snprintf(marker, sizeof(marker), "<%lld", (long long)
	    json_integer_value(json_object_get(res, "threshold")) + 1);
	cols = json_object_get(res, "columns");
	rows = json_object_get(res, "rows");
	kore_buf_appendf(b, "Section,Category,Group");
	json_array_foreach(cols, j, col) {
		kore_buf_append(b, ",", 1);
		report_csv_field(b, json_string_value(json_object_get(col,
		    "label")));
	}
	kore_buf_append(b, "\r\n", 2);
	json_array_foreach(rows, i, row) {
		report_csv_field(b, json_string_value(json_object_get(row,
		    "section_label")));
		kore_buf_append(b, ",", 1);
		report_csv_field(b, json_string_value(json_object_get(row,
		    "label")));
		kore_buf_append(b, ",", 1);
		if (json_is_string(json_object_get(row, "group")))
			report_csv_field(b, json_string_value(json_object_get(
			    row, "group_label")));
		json_array_foreach(json_object_get(row, "cells"), j, cell) {
			kore_buf_append(b, ",", 1);
			if (json_is_true(json_object_get(cell, "suppressed"))) {
				report_csv_field(b, marker);
				continue;
			}
			report_number(num, sizeof(num), json_object_get(cell,
			    "value"));
			report_csv_field(b, num);
		}
		kore_buf_append(b, "\r\n", 2);
	}
}

static void
report_svg(struct kore_buf *b, json_t *res)
{
	json_t		*rows, *row, *cell, *col;
	const char	*title, *plabel, *clabel;
	char		 label[512], num[64], full[640];
	size_t		 i, n;
	double		 max = 0, v, w;
	int		 height, y, tick;

	rows = json_object_get(res, "rows");
	col = json_array_get(json_object_get(res, "columns"), 0);
	clabel = json_string_value(json_object_get(col, "label"));
	title = json_string_value(json_object_get(res, "title"));
	plabel = json_string_value(json_object_get(json_object_get(res,
	    "period"), "label"));
	n = json_array_size(rows);
	json_array_foreach(rows, i, row) {
		cell = json_array_get(json_object_get(row, "cells"), 0);
		v = json_number_value(json_object_get(cell, "value"));
		if (v > max)
			max = v;
	}
	if (max <= 0)
		max = 1;
	height = SVG_TOP + (int)n * (SVG_BAR_H + SVG_GAP) + 60;

	kore_buf_appendf(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
	    "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
	    "aria-labelledby=\"chart-title chart-desc\" "
	    "font-family=\"sans-serif\" font-size=\"12\">\n",
	    SVG_WIDTH, height, SVG_WIDTH, height);
	kore_buf_appendf(b, "<title id=\"chart-title\">");
	report_xml(b, title);
	kore_buf_appendf(b, ", ");
	report_xml(b, plabel);
	kore_buf_appendf(b, "</title>\n<desc id=\"chart-desc\">Bar chart of ");
	report_xml(b, clabel);
	kore_buf_appendf(b, " per row; hatched bars are suppressed small "
	    "counts (1 to %lld) or cells withheld so they cannot be "
	    "derived.</desc>\n", (long long)json_integer_value(
	    json_object_get(res, "threshold")));
	kore_buf_appendf(b, "<defs><pattern id=\"hatch\" width=\"6\" "
	    "height=\"6\" patternUnits=\"userSpaceOnUse\" "
	    "patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" "
	    "fill=\"#ffffff\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" "
	    "stroke=\"#555555\" stroke-width=\"3\"/></pattern></defs>\n");
	kore_buf_appendf(b, "<rect width=\"100%%\" height=\"100%%\" "
	    "fill=\"#ffffff\"/>\n<text x=\"%d\" y=\"28\" font-size=\"18\" "
	    "font-weight=\"bold\">", 10);
	report_xml(b, title);
	kore_buf_appendf(b, " (");
	report_xml(b, plabel);
	kore_buf_appendf(b, ")</text>\n");
	/* Axes and their labels. */
	kore_buf_appendf(b, "<g class=\"axes\" stroke=\"#000000\">"
	    "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
	    "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/></g>\n",
	    SVG_LABEL_W, SVG_TOP - 10, SVG_LABEL_W, height - 50,
	    SVG_LABEL_W, height - 50, SVG_LABEL_W + SVG_PLOT_W, height - 50);
	for (tick = 0; tick <= 4; tick++) {
		snprintf(num, sizeof(num), "%g", floor(max * tick / 4 + 0.5));
		kore_buf_appendf(b, "<text x=\"%d\" y=\"%d\" "
		    "text-anchor=\"middle\">%s</text>\n", SVG_LABEL_W +
		    SVG_PLOT_W * tick / 4, height - 34, num);
	}
	kore_buf_appendf(b, "<text class=\"x-axis-label\" x=\"%d\" y=\"%d\" "
	    "text-anchor=\"middle\">", SVG_LABEL_W + SVG_PLOT_W / 2,
	    height - 12);
	report_xml(b, clabel);
	kore_buf_appendf(b, "</text>\n<text class=\"y-axis-label\" "
	    "x=\"14\" y=\"%d\" transform=\"rotate(-90 14 %d)\" "
	    "text-anchor=\"middle\">Category</text>\n",
	    SVG_TOP + (height - SVG_TOP) / 2, SVG_TOP + (height - SVG_TOP) / 2);

	json_array_foreach(rows, i, row) {
		cell = json_array_get(json_object_get(row, "cells"), 0);
		y = SVG_TOP + (int)i * (SVG_BAR_H + SVG_GAP);
		report_row_label(row, label, sizeof(label));
		kore_buf_appendf(b, "<g class=\"bar\">");
		if (json_is_true(json_object_get(cell, "suppressed"))) {
			snprintf(full, sizeof(full), "%s: suppressed", label);
			kore_buf_appendf(b, "<title>");
			report_xml(b, full);
			kore_buf_appendf(b, "</title><rect class=\"suppressed\" "
			    "x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
			    "fill=\"url(#hatch)\" stroke=\"#555555\"/>",
			    SVG_LABEL_W, y, SVG_PLOT_W / 12, SVG_BAR_H);
		} else {
			v = json_number_value(json_object_get(cell, "value"));
			report_number(num, sizeof(num), json_object_get(cell,
			    "value"));
			snprintf(full, sizeof(full), "%s: %s", label,
			    num[0] != '\0' ? num : "no value");
			w = v / max * SVG_PLOT_W;
			kore_buf_appendf(b, "<title>");
			report_xml(b, full);
			kore_buf_appendf(b, "</title><rect x=\"%d\" y=\"%d\" "
			    "width=\"%.1f\" height=\"%d\" fill=\"#1f5f8b\"/>",
			    SVG_LABEL_W, y, w, SVG_BAR_H);
			kore_buf_appendf(b, "<text x=\"%.1f\" y=\"%d\">%s"
			    "</text>", SVG_LABEL_W + w + 4, y + SVG_BAR_H - 4,
			    num);
		}
		kore_buf_appendf(b, "<text x=\"%d\" y=\"%d\" "
		    "text-anchor=\"end\">", SVG_LABEL_W - 6,
		    y + SVG_BAR_H - 4);
		report_xml(b, label);
		kore_buf_appendf(b, "</text></g>\n");
	}
	kore_buf_appendf(b, "</svg>\n");
}

/*
 * c->done for GET /v1/reports/{id}: JSON as the SQL function wrote it,
 * or the result rendered as CSV or SVG (409 report-not-ready before the
 * report is done). Returns KORE_RESULT_OK.
 */
static int
report_rendered(struct http_request *req, struct api_call *c, int status,
    const char *body, json_t *hdrs)
{
	struct kore_buf	*b;
	json_t		*doc, *res;
	const char	*st, *ra;
	char		 detail[160], disp[96];
	int		 r;

	if (status != 200 || body == NULL)
		return (api_problem_relay(req, status, body));
	ra = json_string_value(json_object_get(hdrs, "retry-after"));
	if (c->scratch == REPORT_JSON) {
		if (ra != NULL)
			http_response_header(req, "retry-after", ra);
		return (api_respond(req, 200, "application/json", body,
		    strlen(body)));
	}
	if ((doc = json_loads(body, 0, NULL)) == NULL)
		return (api_problem(req, 500, "internal", NULL,
		    "The report could not be read.", NULL));
	st = json_string_value(json_object_get(doc, "status"));
	res = json_object_get(doc, "result");
	if (st == NULL || strcmp(st, "done") != 0 || !json_is_object(res)) {
		snprintf(detail, sizeof(detail), "The report is %s; CSV and "
		    "SVG exist once it is done.", st != NULL ? st : "unknown");
		if (ra != NULL)
			http_response_header(req, "retry-after", ra);
		json_decref(doc);
		return (api_problem(req, 409, "report-not-ready", NULL,
		    detail, NULL));
	}
	b = kore_buf_alloc(4096);
	if (c->scratch == REPORT_CSV)
		report_csv(b, res);
	else
		report_svg(b, res);
	snprintf(disp, sizeof(disp), "inline; filename=\"report-%s.%s\"",
	    json_string_value(json_object_get(doc, "id")),
	    c->scratch == REPORT_CSV ? "csv" : "svg");
	http_response_header(req, "content-disposition", disp);
	http_response_header(req, "vary", "accept");
	r = api_respond(req, 200, c->scratch == REPORT_CSV ?
	    "text/csv; charset=utf-8; header=present" : "image/svg+xml",
	    b->data, b->offset);
	kore_buf_free(b);
	json_decref(doc);
	return (r);
}

/* GET /v1/reports/{id}: one round trip, then JSON, CSV or SVG. */
int
api_report_get(struct http_request *req, struct api_call *c)
{
	if (c->sql_state == API_SQL_IDLE && c->done == NULL) {
		if ((c->scratch = report_accept(req)) == REPORT_NONE)
			return (api_problem(req, 406, "not-acceptable", NULL,
			    "This report is served as application/json, "
			    "text/csv or image/svg+xml.", NULL));
		c->done = report_rendered;
	}
	return (api_db_call(req, c, "report_get"));
}
