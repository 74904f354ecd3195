-- reports.sql: aggregate reports (POST/GET /v1/reports). The routes
-- (api.report_create, report_get, report_list) record a request and read
-- it back; the worker's report.build job (worker/report.c) computes the
-- raw table through worker.report_data on a connection of its own with a
-- statement timeout, suppresses small cells in C (common/suppress.c) and
-- stores the published table with worker.report_finish, which also
-- writes the report.ready notification. Helpers (schema report) validate
-- a request, read periods and filters, and hold one query per kind.
--
-- What a report may hold: counts, rates, medians and category labels;
-- never names, ids of cases or people, free text (genders, nationalities
-- and decline reasons are mapped to fixed categories) or exact dates
-- (the period is the only date).

----------------------------------------------------------------------
-- Vocabulary
----------------------------------------------------------------------

CREATE FUNCTION report.kinds() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT ARRAY['clients', 'needs', 'referrals', 'criminal_justice',
	    'partners', 'coverage']
$$;

-- Which group_by values a kind takes (empty: none).
CREATE FUNCTION report.group_bys(p_kind text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE p_kind
	    WHEN 'clients' THEN ARRAY['jurisdiction', 'organization',
		'trafficking_type', 'age_group', 'gender']
	    WHEN 'needs' THEN ARRAY['jurisdiction', 'organization',
		'trafficking_type', 'age_group', 'gender']
	    WHEN 'referrals' THEN ARRAY['organization', 'jurisdiction',
		'trafficking_type', 'age_group', 'gender']
	    WHEN 'criminal_justice' THEN ARRAY['jurisdiction', 'organization']
	    WHEN 'coverage' THEN ARRAY['language', 'age_group', 'gender']
	    ELSE '{}'::text[] END
$$;

-- Which filters a kind takes.
CREATE FUNCTION report.filter_keys(p_kind text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE p_kind
	    WHEN 'referrals' THEN ARRAY['jurisdiction', 'organization',
		'urgency', 'trafficking_type', 'age_group', 'gender']
	    WHEN 'criminal_justice' THEN ARRAY['jurisdiction', 'organization']
	    WHEN 'partners' THEN ARRAY['organization']
	    WHEN 'coverage' THEN ARRAY['jurisdiction', 'organization']
	    ELSE ARRAY['jurisdiction', 'organization', 'trafficking_type',
		'age_group', 'gender'] END
$$;

/* Free-text genders as fixed categories; can't fail. */
CREATE FUNCTION report.gender_group(p text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE
	    WHEN p IS NULL OR lower(p) IN ('unknown', 'not stated', '') THEN
		'unknown'
	    WHEN lower(p) IN ('female', 'f', 'woman', 'girl') THEN 'female'
	    WHEN lower(p) IN ('male', 'm', 'man', 'boy') THEN 'male'
	    WHEN lower(p) IN ('non-binary', 'nonbinary', 'non_binary') THEN
		'non_binary'
	    ELSE 'other' END
$$;

/* Nationalities as ISO-style codes, anything else "other"; can't fail. */
CREATE FUNCTION report.nationality_group(p text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN p IS NULL THEN 'unknown'
	    WHEN p ~ '^[A-Za-z]{2,3}$' THEN upper(p) ELSE 'other' END
$$;

/* A referral's client as adult / minor / unknown. */
CREATE FUNCTION report.age_group(p_age integer, p_minor boolean) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN p_age IS NOT NULL THEN CASE WHEN p_age < 18 THEN
	    'minor' ELSE 'adult' END WHEN p_minor THEN 'minor'
	    WHEN NOT p_minor THEN 'adult' ELSE 'unknown' END
$$;

/*
 * A decline's free-text reason as a fixed category (the text itself
 * never reaches a report): capacity, eligibility, language,
 * client_unreachable or other.
 */
CREATE FUNCTION report.decline_category(p text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	/* One definition (migration 0085): the need facts are built with it. */
	SELECT store.report_decline_category(p)
$$;

/*
 * A decline as a fixed category: its code when it has one (declines
 * since codes: outside_area counts as eligibility, client_declined as
 * other), else its free text's words (report.decline_category).
 */
CREATE FUNCTION report.decline_category(p_code text, p_text text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	/* One definition (migration 0085): the need facts are built with it. */
	SELECT store.report_decline_category(p_code, p_text)
$$;

/* The readable label of a category; can't fail. */
CREATE FUNCTION report.label(p_section text, p_key text) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT CASE
	    WHEN p_key IS NULL THEN NULL
	    WHEN p_section IN ('need', 'need_code') THEN coalesce((SELECT
		label FROM need_taxonomy WHERE code = p_key), p_key)
	    /* By id (its index), not id::text (a scan per label). */
	    WHEN p_section = 'organization' THEN coalesce(CASE WHEN p_key ~
		'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
		THEN (SELECT name FROM organizations WHERE id =
		p_key::uuid) END, 'No organization')
	    WHEN p_key = 'all' THEN 'All'
	    WHEN p_key = 'sex' THEN 'Sex trafficking'
	    WHEN p_key = 'labor' THEN 'Labor trafficking'
	    WHEN p_key = 'both' THEN 'Sex and labor trafficking'
	    WHEN p_key = 'non_binary' THEN 'Non-binary'
	    WHEN p_key = 'client_unreachable' THEN 'Client unreachable'
	    WHEN p_section = 'nationality' AND p_key ~ '^[A-Z]{2,3}$' THEN
		p_key
	    WHEN p_section = 'language' THEN p_key
	    WHEN p_section = 'jurisdiction' THEN p_key
	    ELSE initcap(replace(p_key, '_', ' ')) END
$$;

/* The group a record falls in for group_by p_by (NULL: no grouping). */
CREATE FUNCTION report.group_value(p_by text, p_jur text, p_org uuid,
    p_tt text, p_ag text, p_gender text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE p_by
	    WHEN 'jurisdiction' THEN coalesce(p_jur, 'unknown')
	    WHEN 'organization' THEN coalesce(p_org::text, 'none')
	    WHEN 'trafficking_type' THEN p_tt
	    WHEN 'age_group' THEN p_ag
	    WHEN 'gender' THEN p_gender END
$$;

/* Whether a jurisdiction is one of the codes or lies within one. */
CREATE FUNCTION report.in_jurisdictions(p_jur text, p_codes text[])
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT p_codes IS NULL OR EXISTS (SELECT 1 FROM unnest(p_codes) j
	    WHERE starts_with(p_jur, j))
$$;

----------------------------------------------------------------------
-- Requests: period, filters, validation, the document
----------------------------------------------------------------------

/*
 * A period: "2026" (the year), "2026-H1".."2026-H2" (half years),
 * "2026-Q1".."2026-Q4" (quarters, as grant periods run) or
 * {"from": date, "to": date} (inclusive, at most ten years). Returns
 * {from, to, label}, or NULL when p is none of these.
 */
CREATE FUNCTION report.period(p jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	v_s	text;
	v_y	integer;
	v_from	date;
	v_to	date;
BEGIN
	IF jsonb_typeof(p) = 'string' THEN
		v_s := p #>> '{}';
		IF v_s !~ '^20[0-9]{2}(-(H[12]|Q[1-4]))?$' THEN
			RETURN NULL;
		END IF;
		v_y := substr(v_s, 1, 4)::integer;
		IF length(v_s) = 4 THEN
			v_from := make_date(v_y, 1, 1);
			v_to := make_date(v_y, 12, 31);
		ELSIF substr(v_s, 6, 1) = 'H' THEN
			v_from := make_date(v_y, 1 + 6 * (substr(v_s, 7)::integer
			    - 1), 1);
			v_to := (v_from + interval '6 months')::date - 1;
		ELSE
			v_from := make_date(v_y, 1 + 3 * (substr(v_s, 7)::integer
			    - 1), 1);
			v_to := (v_from + interval '3 months')::date - 1;
		END IF;
		RETURN jsonb_build_object('from', v_from, 'to', v_to, 'label',
		    v_s);
	END IF;
	IF jsonb_typeof(p) <> 'object' OR NOT lib.is_date(p->'from') OR
	    NOT lib.is_date(p->'to') OR (SELECT count(*) FROM
	    jsonb_object_keys(p)) <> 2 THEN
		RETURN NULL;
	END IF;
	v_from := (p->>'from')::date;
	v_to := (p->>'to')::date;
	IF v_from > v_to OR v_to - v_from > 3660 OR
	    extract(year FROM v_from) < 2000 OR
	    extract(year FROM v_to) > 2100 THEN
		RETURN NULL;
	END IF;
	RETURN jsonb_build_object('from', v_from, 'to', v_to, 'label',
	    v_from || '/' || v_to);
END $$;

/* Errors of a report request body (empty array when fine). */
CREATE FUNCTION report.validate(p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	e	jsonb := lib.check_keys(p, '', ARRAY['kind', 'period',
		    'group_by', 'filters', 'include_clients', 'grain']);
	v_kind	text := p->>'kind';
	k	text;
	v	jsonb;
	v_enum	text[];
BEGIN
	IF NOT lib.is_enum(p->'kind', report.kinds()) THEN
		RETURN e || jsonb_build_array(lib.err('kind', 'must be one of ' ||
		    array_to_string(report.kinds(), ', ')));
	END IF;
	IF lib.absent(p->'period') THEN
		e := e || lib.err('period', 'is required');
	ELSIF report.period(p->'period') IS NULL THEN
		e := e || lib.err('period', 'must be a year ("2026"), a half '
		    '("2026-H1"), a quarter ("2026-Q3") or {from, to} dates '
		    '(from <= to, at most ten years, 2000-2100)');
	END IF;
	IF NOT lib.absent(p->'group_by') AND NOT lib.is_enum(p->'group_by',
	    report.group_bys(v_kind)) THEN
		e := e || lib.err('group_by', CASE WHEN report.group_bys(v_kind)
		    = '{}' THEN 'is not taken by this kind' ELSE
		    'must be one of ' || array_to_string(
		    report.group_bys(v_kind), ', ') END);
	END IF;
	IF NOT lib.absent(p->'include_clients') THEN
		IF jsonb_typeof(p->'include_clients') <> 'boolean' THEN
			e := e || lib.err('include_clients', 'must be a boolean');
		ELSIF v_kind <> 'coverage' THEN
			e := e || lib.err('include_clients', 'is taken by '
			    'coverage reports only');
		END IF;
	END IF;
	IF NOT lib.absent(p->'grain') THEN
		IF v_kind <> 'coverage' THEN
			e := e || lib.err('grain', 'is taken by coverage reports '
			    'only');
		ELSIF NOT lib.is_enum(p->'grain', ARRAY['county', 'state']) THEN
			e := e || lib.err('grain', 'must be one of county, state');
		END IF;
	END IF;
	IF lib.absent(p->'filters') THEN
		RETURN e;
	END IF;
	IF jsonb_typeof(p->'filters') <> 'object' THEN
		RETURN e || jsonb_build_array(lib.err('filters',
		    'must be an object'));
	END IF;
	e := e || lib.check_keys(p->'filters', 'filters.',
	    report.filter_keys(v_kind));
	FOR k, v IN SELECT * FROM jsonb_each(p->'filters') LOOP
		CONTINUE WHEN NOT k = ANY (report.filter_keys(v_kind));
		v_enum := CASE k
		    WHEN 'urgency' THEN ARRAY['emergency', 'urgent', 'routine']
		    WHEN 'trafficking_type' THEN ARRAY['sex', 'labor', 'both',
			'unknown']
		    WHEN 'age_group' THEN ARRAY['adult', 'minor', 'unknown']
		    WHEN 'gender' THEN ARRAY['female', 'male', 'non_binary',
			'other', 'unknown'] END;
		IF jsonb_typeof(v) <> 'array' OR jsonb_array_length(v) NOT
		    BETWEEN 1 AND 50 THEN
			e := e || lib.err('filters.' || k, 'must be an array of '
			    '1 to 50 values');
		ELSE
			e := e || lib.check_str_array(p->'filters', k,
			    'filters.' || k, CASE k WHEN 'organization' THEN
			    '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-'
			    '[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' WHEN
			    'jurisdiction' THEN '^[A-Za-z0-9][A-Za-z0-9._-]'
			    '{0,99}$' END, v_enum, 50);
		END IF;
	END LOOP;
	RETURN e;
END $$;

/* Whether the caller may see reports with client data. */
CREATE FUNCTION report.privileged(p_ctx jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT lib.has_role(p_ctx, 'analyst') OR lib.has_role(p_ctx,
	    'coordinator') OR lib.has_role(p_ctx, 'admin')
$$;

/* The document of a report; with its result when p_full and done. */
CREATE FUNCTION report.doc(r reports, p_full boolean) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', r.id, 'kind', r.kind,
	    'status', r.status, 'progress', r.progress, 'reason', r.reason,
	    'period', jsonb_build_object('from', r.period_from, 'to',
	    r.period_to, 'label', r.period_label),
	    'group_by', r.group_by, 'filters', r.filters,
	    'include_clients', r.include_clients, 'grain', r.grain,
	    'created_at', r.created_at, 'started_at', r.started_at,
	    'finished_at', r.finished_at) ||
	    CASE WHEN p_full AND r.status = 'done' THEN
	    jsonb_build_object('result', r.result) ELSE '{}' END
$$;

----------------------------------------------------------------------
-- Routes
----------------------------------------------------------------------

/*
 * POST /v1/reports {kind, period, group_by?, filters?, include_clients?,
 * grain?}
 * (analysts, coordinators, admins; any role for a coverage report
 * without client counts, 403 report-forbidden otherwise). Records the
 * request and its report.build job; 202 with Location. 422 for a bad
 * body. Audits the request (object report).
 */
CREATE FUNCTION api.report_create(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org		uuid := lib.require_org(p_ctx);
	v_per		jsonb;
	v_clients	boolean;
	v_job		bigint;
	r		reports;
BEGIN
	PERFORM lib.fail_if(report.validate(p_body));
	v_clients := p_body->>'kind' <> 'coverage' OR
	    coalesce((p_body->>'include_clients')::boolean, false);
	IF v_clients AND NOT report.privileged(p_ctx) THEN
		PERFORM lib.fail(403, 'report-forbidden', 'Reports with client '
		    'counts are for analysts, coordinators and admins; any role '
		    'may request a coverage report without them.');
	END IF;
	v_per := report.period(p_body->'period');
	INSERT INTO reports (kind, period_from, period_to, period_label,
	    group_by, filters, include_clients, grain, client_data,
	    requested_by, requested_by_org)
	VALUES (p_body->>'kind', (v_per->>'from')::date,
	    (v_per->>'to')::date, v_per->>'label', p_body->>'group_by',
	    coalesce(p_body->'filters', '{}'),
	    coalesce((p_body->>'include_clients')::boolean, false),
	    CASE WHEN p_body->>'kind' = 'coverage' THEN
	    coalesce(p_body->>'grain', 'county') END, v_clients,
	    p_ctx->>'sub', v_org)
	RETURNING * INTO r;
	INSERT INTO jobs (kind, payload) VALUES ('report.build',
	    jsonb_build_object('report_id', r.id)) RETURNING id INTO v_job;
	PERFORM lib.audit(p_ctx, 'create', 'report', r.id, ARRAY['kind']);
	status := 202;
	body := report.doc(r, false);
	headers := jsonb_build_object('location', '/v1/reports/' || r.id,
	    'x-concord-jobs', jsonb_build_array(v_job));
END $$;

/*
 * GET /v1/reports/{id}: the report with its result once done (404 for
 * one with client counts when the caller may not see those). The API
 * renders the same document as CSV or SVG (api/reports.c).
 */
CREATE FUNCTION api.report_get(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	r	reports;
BEGIN
	PERFORM lib.query_allow(p_args, '{}');
	SELECT * INTO r FROM reports WHERE id = lib.path_id(p_args);
	IF r.id IS NULL OR (r.client_data AND NOT report.privileged(p_ctx))
	    THEN
		PERFORM lib.fail(404, 'not-found', 'No such report.');
	END IF;
	status := 200;
	body := report.doc(r, true);
	headers := CASE WHEN r.status IN ('queued', 'running') THEN
	    jsonb_build_object('retry-after', '2') ELSE '{}' END;
	PERFORM v_org;
END $$;

/*
 * GET /v1/reports?kind=&status=&limit=&cursor=: past reports, newest
 * first, without their results (those of other roles: coverage reports
 * without client counts only). 400 bad-query for a bad parameter.
 */
CREATE FUNCTION api.report_list(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	v_priv	boolean := report.privileged(p_ctx);
	v_limit	integer;
	v_after	bigint;
	v_kind	text;
	v_st	text;
	v_items	jsonb;
	v_last	bigint;
	v_more	boolean;
BEGIN
	PERFORM lib.query_allow(p_args, ARRAY['kind', 'status', 'limit',
	    'cursor']);
	v_limit := lib.page_limit(p_args);
	v_after := (lib.cursor_decode(p_args, 'reports', '{seq:int}')->>
	    'seq')::bigint;
	v_kind := lib.query_enum(p_args, 'kind', report.kinds());
	v_st := lib.query_enum(p_args, 'status', ARRAY['queued', 'running',
	    'done', 'failed']);
	SELECT coalesce(jsonb_agg(report.doc(x, false) ORDER BY x.seq DESC),
	    '[]'), min(x.seq) INTO v_items, v_last
	FROM (SELECT * FROM reports x
	    WHERE (v_after IS NULL OR x.seq < v_after)
		AND (v_kind IS NULL OR x.kind = v_kind)
		AND (v_st IS NULL OR x.status = v_st)
		AND (v_priv OR NOT x.client_data)
	    ORDER BY x.seq DESC LIMIT v_limit) x;
	/* Another page when anything older matches. */
	v_more := v_last IS NOT NULL AND EXISTS (SELECT 1 FROM reports x
	    WHERE x.seq < v_last AND (v_kind IS NULL OR x.kind = v_kind)
		AND (v_st IS NULL OR x.status = v_st)
		AND (v_priv OR NOT x.client_data));
	status := 200;
	headers := '{}';
	body := jsonb_build_object('items', v_items, 'next_cursor',
	    CASE WHEN v_more THEN lib.cursor_encode('reports',
	    jsonb_build_object('seq', v_last)) END);
	PERFORM v_org;
END $$;

----------------------------------------------------------------------
-- The raw tables, one function per kind. Each returns
-- {title, columns, sections, group_partition, facts} where a fact is
-- {s: section, c: category, l: label, g: group or null (all groups),
-- gl: group label, v: [value per column]}; the grid is complete (every
-- category x group, zeros included) so the worker can state the sums
-- that hold between cells (sections marked partition add up to the
-- "all" section; groups add up to the null group when group_partition).
-- Columns: {key, label, type: count | ratio | hours | number | flag,
-- sum_of?: [keys] (this count is the sum of those), deps?: [keys]
-- (hidden when one of these is), sensitive?: false (not about people:
-- never suppressed)}. Periods run from 00:00 UTC of "from" to the end
-- of "to".
----------------------------------------------------------------------

/* The group label of a group key; can't fail. */
CREATE FUNCTION report.group_label(p_by text, p_g text) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN p_g IS NULL THEN 'All' ELSE report.label(p_by, p_g)
	    END
$$;

/*
 * Clients served in the period (identified by its end, and open or
 * closed no earlier than its start), new (identified in it) or
 * continuing, by trafficking type, age group, gender and nationality.
 */
CREATE FUNCTION report.clients(p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_from	date := (p->>'from')::date;
	v_to	date := (p->>'to')::date;
	v_by	text := p->>'group_by';
	v_jur	text[] := lib.jtext_array(p->'filters'->'jurisdiction');
	v_org	uuid[] := lib.jtext_array(p->'filters'->'organization')::uuid[];
	v_tt	text[] := lib.jtext_array(p->'filters'->'trafficking_type');
	v_ag	text[] := lib.jtext_array(p->'filters'->'age_group');
	v_gen	text[] := lib.jtext_array(p->'filters'->'gender');
	v_facts	jsonb;
BEGIN
	WITH c AS MATERIALIZED (
	    SELECT report.group_value(v_by, c.jurisdiction, c.lead_org,
		c.trafficking_type, c.age_group,
		report.gender_group(c.gender)) AS g,
		c.identified_on >= v_from AS is_new, c.trafficking_type,
		c.age_group, report.gender_group(c.gender) AS gender,
		report.nationality_group(c.nationality) AS nat
	    FROM cases c
	    WHERE c.kind = 'victim' AND c.identified_on <= v_to AND
		(c.status = 'open' OR c.updated_at >= v_from::timestamptz)
		AND report.in_jurisdictions(c.jurisdiction, v_jur)
		AND (v_org IS NULL OR c.lead_org = ANY (v_org))
		AND (v_tt IS NULL OR c.trafficking_type = ANY (v_tt))
		AND (v_ag IS NULL OR c.age_group = ANY (v_ag))
		AND (v_gen IS NULL OR report.gender_group(c.gender) =
		    ANY (v_gen))),
	n AS (
	    SELECT grouping(g) AS gall, g,
		CASE WHEN grouping(is_new) = 0 THEN 'status'
		    WHEN grouping(trafficking_type) = 0 THEN 'trafficking_type'
		    WHEN grouping(age_group) = 0 THEN 'age_group'
		    WHEN grouping(gender) = 0 THEN 'gender'
		    WHEN grouping(nat) = 0 THEN 'nationality'
		    ELSE 'all' END AS s,
		coalesce(CASE WHEN is_new THEN 'new' WHEN NOT is_new THEN
		    'continuing' END, trafficking_type, age_group, gender,
		    nat, 'all') AS k,
		count(*) AS v
	    FROM c
	    GROUP BY GROUPING SETS ((g, is_new), (g, trafficking_type),
		(g, age_group), (g, gender), (g, nat), (g), (is_new),
		(trafficking_type), (age_group), (gender), (nat), ())),
	cats(s, k, o) AS (
	    SELECT * FROM (VALUES ('all', 'all', 0), ('status', 'new', 1),
		('status', 'continuing', 2), ('trafficking_type', 'sex', 3),
		('trafficking_type', 'labor', 4),
		('trafficking_type', 'both', 5),
		('trafficking_type', 'unknown', 6), ('age_group', 'adult', 7),
		('age_group', 'minor', 8), ('age_group', 'unknown', 9),
		('gender', 'female', 10), ('gender', 'male', 11),
		('gender', 'non_binary', 12), ('gender', 'other', 13),
		('gender', 'unknown', 14)) x
	    UNION ALL
	    SELECT DISTINCT 'nationality', k, 20 FROM n
	    WHERE s = 'nationality'),
	grp(g) AS (
	    SELECT NULL::text
	    UNION
	    SELECT DISTINCT g FROM n WHERE gall = 0 AND v_by IS NOT NULL)
	SELECT jsonb_agg(jsonb_build_object('s', cats.s, 'c', cats.k,
	    'l', report.label(cats.s, cats.k), 'g', grp.g,
	    'gl', report.group_label(v_by, grp.g),
	    'v', jsonb_build_array(coalesce(n.v, 0)))
	    ORDER BY cats.o, cats.k, grp.g NULLS FIRST)
	INTO v_facts
	FROM cats CROSS JOIN grp
	LEFT JOIN n ON n.s = cats.s AND n.k = cats.k AND
	    (n.gall = 1) = (grp.g IS NULL) AND
	    (grp.g IS NULL OR n.g = grp.g);
	RETURN jsonb_build_object('title', 'Clients served',
	    'columns', jsonb_build_array(jsonb_build_object('key', 'clients',
		'label', 'Clients', 'type', 'count')),
	    'sections', jsonb_build_array(
		jsonb_build_object('key', 'all', 'label', 'All clients',
		    'total', true),
		jsonb_build_object('key', 'status', 'label',
		    'New or continuing', 'partition', true),
		jsonb_build_object('key', 'trafficking_type', 'label',
		    'Trafficking type', 'partition', true),
		jsonb_build_object('key', 'age_group', 'label', 'Adult or minor',
		    'partition', true),
		jsonb_build_object('key', 'gender', 'label', 'Gender',
		    'partition', true),
		jsonb_build_object('key', 'nationality', 'label',
		    'Nationality', 'partition', true)),
	    'group_partition', true, 'facts', coalesce(v_facts, '[]'));
END $$;

/*
 * Per need code of the taxonomy: clients served in the period with the
 * need (identified by the period's end), by its status now.
 */
CREATE FUNCTION report.needs(p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_from	date := (p->>'from')::date;
	v_to	date := (p->>'to')::date;
	v_by	text := p->>'group_by';
	v_jur	text[] := lib.jtext_array(p->'filters'->'jurisdiction');
	v_org	uuid[] := lib.jtext_array(p->'filters'->'organization')::uuid[];
	v_tt	text[] := lib.jtext_array(p->'filters'->'trafficking_type');
	v_ag	text[] := lib.jtext_array(p->'filters'->'age_group');
	v_gen	text[] := lib.jtext_array(p->'filters'->'gender');
	v_facts	jsonb;
BEGIN
	WITH c AS MATERIALIZED (
	    SELECT c.id, report.group_value(v_by, c.jurisdiction, c.lead_org,
		c.trafficking_type, c.age_group,
		report.gender_group(c.gender)) AS g
	    FROM cases c
	    WHERE c.kind = 'victim' AND c.identified_on <= v_to AND
		(c.status = 'open' OR c.updated_at >= v_from::timestamptz)
		AND report.in_jurisdictions(c.jurisdiction, v_jur)
		AND (v_org IS NULL OR c.lead_org = ANY (v_org))
		AND (v_tt IS NULL OR c.trafficking_type = ANY (v_tt))
		AND (v_ag IS NULL OR c.age_group = ANY (v_ag))
		AND (v_gen IS NULL OR report.gender_group(c.gender) =
		    ANY (v_gen))),
	n AS (
	    SELECT grouping(c.g) AS gall, c.g, cn.code,
		count(*) AS identified,
		count(*) FILTER (WHERE cn.status = 'identified') AS awaiting,
		count(*) FILTER (WHERE cn.status = 'referred') AS referred,
		count(*) FILTER (WHERE cn.status = 'in_progress') AS in_progress,
		count(*) FILTER (WHERE cn.status = 'met') AS met,
		count(*) FILTER (WHERE cn.status = 'unmet') AS unmet,
		count(*) FILTER (WHERE cn.status = 'declined_by_client')
		    AS declined
	    FROM c JOIN case_needs cn ON cn.case_id = c.id
	    WHERE cn.created_at < (v_to + 1)::timestamptz
	    GROUP BY GROUPING SETS ((c.g, cn.code), (cn.code))),
	grp(g) AS (
	    SELECT NULL::text
	    UNION
	    SELECT DISTINCT g FROM n WHERE gall = 0 AND v_by IS NOT NULL)
	SELECT jsonb_agg(jsonb_build_object('s', 'need', 'c', t.code,
	    'l', t.label, 'g', grp.g, 'gl', report.group_label(v_by, grp.g),
	    'v', jsonb_build_array(coalesce(n.identified, 0),
		coalesce(n.awaiting, 0), coalesce(n.referred, 0),
		coalesce(n.in_progress, 0), coalesce(n.met, 0),
		coalesce(n.unmet, 0), coalesce(n.declined, 0),
		CASE WHEN n.identified > 0 THEN round(n.met::numeric /
		n.identified, 3) END))
	    ORDER BY t.grp DESC, t.code, grp.g NULLS FIRST)
	INTO v_facts
	FROM need_taxonomy t CROSS JOIN grp
	LEFT JOIN n ON n.code = t.code AND (n.gall = 1) = (grp.g IS NULL) AND
	    (grp.g IS NULL OR n.g = grp.g);
	RETURN jsonb_build_object('title', 'Client needs',
	    'columns', jsonb_build_array(
		jsonb_build_object('key', 'identified', 'label',
		    'Clients with the need', 'type', 'count', 'sum_of',
		    jsonb_build_array('awaiting', 'referred', 'in_progress',
		    'met', 'unmet', 'declined')),
		jsonb_build_object('key', 'awaiting', 'label',
		    'Identified, not yet referred', 'type', 'count'),
		jsonb_build_object('key', 'referred', 'label', 'Referred',
		    'type', 'count'),
		jsonb_build_object('key', 'in_progress', 'label',
		    'In progress', 'type', 'count'),
		jsonb_build_object('key', 'met', 'label', 'Met',
		    'type', 'count'),
		jsonb_build_object('key', 'unmet', 'label', 'Unmet',
		    'type', 'count'),
		jsonb_build_object('key', 'declined', 'label',
		    'Declined by the client', 'type', 'count'),
		jsonb_build_object('key', 'met_rate', 'label', 'Met rate',
		    'type', 'ratio', 'deps', jsonb_build_array('met',
		    'identified'))),
	    'sections', jsonb_build_array(jsonb_build_object('key', 'need',
		'label', 'Need', 'partition', false)),
	    'group_partition', true, 'facts', coalesce(v_facts, '[]'));
END $$;

/*
 * Referral needs sent in the period, by urgency: made, offered,
 * accepted (and within 48 hours of the referral), unmatched, completed
 * by outcome, offers declined by reason category and expired; median
 * and 90th percentile hours from referral to acceptance. group_by
 * organization is the organization that accepted the need ("none"
 * while nobody did).
 */
CREATE FUNCTION report.referrals(p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_t0	timestamptz := (p->>'from')::date::timestamptz;
	v_t1	timestamptz := ((p->>'to')::date + 1)::timestamptz;
	v_by	text := p->>'group_by';
	v_jur	text[] := lib.jtext_array(p->'filters'->'jurisdiction');
	v_org	uuid[] := lib.jtext_array(p->'filters'->'organization')::uuid[];
	v_urg	text[] := lib.jtext_array(p->'filters'->'urgency');
	v_tt	text[] := lib.jtext_array(p->'filters'->'trafficking_type');
	v_ag	text[] := lib.jtext_array(p->'filters'->'age_group');
	v_gen	text[] := lib.jtext_array(p->'filters'->'gender');
	v_facts	jsonb;
BEGIN
	/*
	 * One row per referral need of the period with its referral's
	 * attributes and what its offers came to, kept by triggers on
	 * referrals, referral_needs and referral_offers (migration 0085):
	 * a range scan by date (report_referral_need_facts_created_idx),
	 * not a join of referrals, needs and every offer of the period.
	 */
	WITH x AS NOT MATERIALIZED (
	    SELECT f.urgency, f.offers, f.acc_at, f.status, f.outcome,
		f.dec_capacity, f.dec_eligibility, f.dec_language,
		f.dec_unreachable, f.dec_other, f.expired,
		report.group_value(v_by, f.jurisdiction,
		CASE WHEN v_by = 'organization' THEN f.acc_org END,
		f.trafficking_type,
		CASE WHEN v_by = 'age_group' THEN
		    report.age_group(f.age, f.minor) END,
		CASE WHEN v_by = 'gender' THEN
		    report.gender_group(f.gender) END) AS g,
		extract(epoch FROM f.acc_at - f.created_at) / 3600.0 AS hours
	    FROM report_referral_need_facts f
	    WHERE f.created_at >= v_t0 AND f.created_at < v_t1
		AND (v_jur IS NULL OR report.in_jurisdictions(
		    coalesce(f.jurisdiction, ''), v_jur))
		AND (v_org IS NULL OR f.sender_org = ANY (v_org))
		AND (v_urg IS NULL OR f.urgency = ANY (v_urg))
		AND (v_tt IS NULL OR f.trafficking_type = ANY (v_tt))
		AND (v_ag IS NULL OR report.age_group(f.age, f.minor) =
		    ANY (v_ag))
		AND (v_gen IS NULL OR report.gender_group(f.gender) =
		    ANY (v_gen))),
	/*
	 * The counts are sums: one hash aggregate per group and urgency,
	 * then the grouping sets over those few rows.
	 */
	b AS (
	    SELECT g, urgency, count(*) AS made,
		count(*) FILTER (WHERE offers > 0) AS offered,
		count(*) FILTER (WHERE acc_at IS NOT NULL) AS accepted,
		count(*) FILTER (WHERE hours <= 48) AS acc48,
		count(*) FILTER (WHERE status = 'unmatched') AS unmatched,
		/*
		 * Outcome codes: completed is "need met"; every code
		 * but completed and client_declined "need not met".
		 */
		count(*) FILTER (WHERE outcome = 'completed') AS met,
		count(*) FILTER (WHERE outcome NOT IN ('completed',
		    'client_declined')) AS not_met,
		count(*) FILTER (WHERE outcome = 'client_declined') AS cl_dec,
		sum(dec_capacity) AS d1, sum(dec_eligibility) AS d2,
		sum(dec_language) AS d3, sum(dec_unreachable) AS d4,
		sum(dec_other) AS d5, sum(expired) AS ex
	    FROM x GROUP BY g, urgency),
	/*
	 * The percentiles of the accepted needs only: per group (skipped
	 * without group_by, where the group is every need) and overall, one
	 * shared sort per set (both percentiles in one aggregate). The
	 * groups are sorted bytewise (COLLATE "C"; the order of the rows
	 * is set at the end), not by the database's collation.
	 */
	pg AS (
	    SELECT grouping(urgency) AS uall, g COLLATE "C" AS g, urgency,
		percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY hours)
		    AS p
	    FROM x WHERE v_by IS NOT NULL AND hours IS NOT NULL
	    GROUP BY GROUPING SETS ((g COLLATE "C", urgency),
		(g COLLATE "C"))),
	pa AS (
	    SELECT grouping(urgency) AS uall, urgency,
		percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY hours)
		    AS p
	    FROM x WHERE hours IS NOT NULL
	    GROUP BY GROUPING SETS ((urgency), ())),
	n0 AS (
	    SELECT grouping(g) AS gall, grouping(urgency) AS uall, g, urgency,
		/* Zeros, not NULL, for the () set of an empty period. */
		coalesce(sum(made), 0) AS made,
		coalesce(sum(offered), 0) AS offered,
		coalesce(sum(accepted), 0) AS accepted,
		coalesce(sum(acc48), 0) AS acc48,
		coalesce(sum(unmatched), 0) AS unmatched,
		coalesce(sum(met), 0) AS met,
		coalesce(sum(not_met), 0) AS not_met,
		coalesce(sum(cl_dec), 0) AS cl_dec,
		coalesce(sum(d1), 0) AS d1, coalesce(sum(d2), 0) AS d2,
		coalesce(sum(d3), 0) AS d3, coalesce(sum(d4), 0) AS d4,
		coalesce(sum(d5), 0) AS d5, coalesce(sum(ex), 0) AS ex
	    FROM b
	    GROUP BY GROUPING SETS ((g, urgency), (g), (urgency), ())),
	/*
	 * Joined by equality (hash joins): gk is the group, or chr(1) for
	 * all groups; an urgency of all is ''.
	 */
	n AS (
	    SELECT CASE WHEN n0.gall = 1 THEN chr(1) ELSE n0.g END AS gk,
		CASE WHEN n0.uall = 0 THEN 'urgency' ELSE 'all' END AS s,
		coalesce(n0.urgency, 'all') AS k,
		jsonb_build_array(n0.made, n0.offered, n0.accepted, n0.acc48,
		    n0.unmatched, n0.met, n0.not_met, n0.cl_dec, n0.d1, n0.d2,
		    n0.d3, n0.d4, n0.d5, n0.ex,
		    round((coalesce(pg.p, pa.p))[1]::numeric, 1),
		    round((coalesce(pg.p, pa.p))[2]::numeric, 1),
		    CASE WHEN n0.accepted > 0 THEN round(n0.acc48::numeric /
			n0.accepted, 3) END) AS v
	    FROM n0
	    LEFT JOIN pg ON n0.gall = 0 AND pg.g = n0.g COLLATE "C" AND
		pg.uall = n0.uall AND coalesce(pg.urgency, '') =
		coalesce(n0.urgency, '')
	    LEFT JOIN pa ON n0.gall = 1 AND pa.uall = n0.uall AND
		coalesce(pa.urgency, '') = coalesce(n0.urgency, '')),
	cats(s, k, o) AS (
	    VALUES ('all', 'all', 0), ('urgency', 'emergency', 1),
		('urgency', 'urgent', 2), ('urgency', 'routine', 3)),
	/*
	 * Each group's label once (not per row); organizations' names in
	 * one join (report.label's, by id).
	 */
	grp(g, gl) AS (
	    SELECT y.g, CASE WHEN y.g IS NULL THEN 'All'
		WHEN v_by = 'organization' THEN coalesce(o.name,
		    'No organization')
		ELSE report.label(v_by, y.g) END
	    FROM (SELECT NULL::text AS g
		UNION
		SELECT DISTINCT g FROM b WHERE v_by IS NOT NULL) y
	    LEFT JOIN organizations o ON v_by = 'organization' AND
		o.id::text = y.g)
	SELECT jsonb_agg(jsonb_build_object('s', cats.s, 'c', cats.k,
	    'l', report.label(cats.s, cats.k), 'g', grp.g,
	    'gl', grp.gl,
	    'v', coalesce(n.v, '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,null,null,null]'))
	    ORDER BY cats.o, grp.g NULLS FIRST)
	INTO v_facts
	FROM cats CROSS JOIN grp
	LEFT JOIN n ON n.s = cats.s AND n.k = cats.k AND
	    n.gk = coalesce(grp.g, chr(1));
	RETURN jsonb_build_object('title', 'Referrals',
	    'columns', jsonb_build_array(
		jsonb_build_object('key', 'made', 'label', 'Needs referred',
		    'type', 'count'),
		jsonb_build_object('key', 'offered', 'label', 'Offered',
		    'type', 'count'),
		jsonb_build_object('key', 'accepted', 'label', 'Accepted',
		    'type', 'count'),
		jsonb_build_object('key', 'accepted_48h', 'label',
		    'Accepted within 48 h', 'type', 'count'),
		jsonb_build_object('key', 'unmatched', 'label', 'Unmatched',
		    'type', 'count'),
		jsonb_build_object('key', 'completed_need_met', 'label',
		    'Completed: need met', 'type', 'count'),
		jsonb_build_object('key', 'completed_need_not_met', 'label',
		    'Completed: need not met', 'type', 'count'),
		jsonb_build_object('key', 'completed_client_declined', 'label',
		    'Completed: client declined', 'type', 'count'),
		jsonb_build_object('key', 'declined_capacity', 'label',
		    'Offers declined: capacity', 'type', 'count'),
		jsonb_build_object('key', 'declined_eligibility', 'label',
		    'Offers declined: eligibility', 'type', 'count'),
		jsonb_build_object('key', 'declined_language', 'label',
		    'Offers declined: language', 'type', 'count'),
		jsonb_build_object('key', 'declined_client_unreachable',
		    'label', 'Offers declined: client unreachable', 'type',
		    'count'),
		jsonb_build_object('key', 'declined_other', 'label',
		    'Offers declined: other', 'type', 'count'),
		jsonb_build_object('key', 'expired', 'label', 'Offers expired',
		    'type', 'count'),
		jsonb_build_object('key', 'median_hours_to_accept', 'label',
		    'Median hours to acceptance', 'type', 'hours', 'deps',
		    jsonb_build_array('accepted')),
		jsonb_build_object('key', 'p90_hours_to_accept', 'label',
		    '90th percentile hours to acceptance', 'type', 'hours',
		    'deps', jsonb_build_array('accepted')),
		jsonb_build_object('key', 'share_accepted_48h', 'label',
		    'Share accepted within 48 h', 'type', 'ratio', 'deps',
		    jsonb_build_array('accepted_48h', 'accepted'))),
	    'sections', jsonb_build_array(
		jsonb_build_object('key', 'all', 'label', 'All referrals',
		    'total', true),
		jsonb_build_object('key', 'urgency', 'label', 'Urgency',
		    'partition', true)),
	    'group_partition', true, 'facts', coalesce(v_facts, '[]'));
END $$;

/* An investigation's outcome text as a fixed category; can't fail. */
CREATE FUNCTION report.outcome_category(p_status text, p_outcome text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE
	    WHEN p_status <> 'closed' THEN 'not_closed'
	    WHEN p_outcome ~* 'convict' THEN 'conviction'
	    WHEN p_outcome ~* 'plea' THEN 'plea'
	    WHEN p_outcome ~* 'acquit' THEN 'acquittal'
	    WHEN p_outcome ~* '(dismiss|no charges|declin)' THEN 'dismissed'
	    ELSE 'other' END
$$;

/*
 * Investigations opened in the period, by status and by outcome
 * category: how many, how many with linked cases, cases linked (victims'
 * cases; witness records are not counted), and the criminal-justice
 * needs they list (identified, met). group_by
 * jurisdiction is an investigation's first jurisdiction; organization
 * its lead agency.
 */
CREATE FUNCTION report.criminal_justice(p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_t0	timestamptz := (p->>'from')::date::timestamptz;
	v_t1	timestamptz := ((p->>'to')::date + 1)::timestamptz;
	v_by	text := p->>'group_by';
	v_jur	text[] := lib.jtext_array(p->'filters'->'jurisdiction');
	v_org	uuid[] := lib.jtext_array(p->'filters'->'organization')::uuid[];
	v_facts	jsonb;
BEGIN
	WITH i AS MATERIALIZED (
	    SELECT i.status, report.outcome_category(i.status, i.outcome)
		AS oc,
		report.group_value(v_by, i.jurisdictions[1], i.lead_agency,
		NULL, NULL, NULL) AS g,
		(SELECT count(*) FROM investigation_cases ic JOIN cases c ON
		    c.id = ic.case_id WHERE ic.investigation_id = i.id AND
		    c.kind = 'victim') AS linked,
		(SELECT count(*) FROM jsonb_array_elements(i.needs) x) AS nid,
		(SELECT count(*) FROM jsonb_array_elements(i.needs) x WHERE
		    x->>'status' = 'met') AS nmet
	    FROM investigations i
	    WHERE i.created_at >= v_t0 AND i.created_at < v_t1
		AND (v_jur IS NULL OR EXISTS (SELECT 1 FROM
		    unnest(i.jurisdictions) j WHERE report.in_jurisdictions(j,
		    v_jur)))
		AND (v_org IS NULL OR i.lead_agency = ANY (v_org))),
	n AS (
	    SELECT grouping(g) AS gall, g,
		CASE WHEN grouping(status) = 0 THEN 'status'
		    WHEN grouping(oc) = 0 THEN 'outcome' ELSE 'all' END AS s,
		coalesce(status, oc, 'all') AS k,
		jsonb_build_array(count(*), count(*) FILTER (WHERE linked > 0),
		    coalesce(sum(linked), 0), coalesce(sum(nid), 0),
		    coalesce(sum(nmet), 0)) AS v
	    FROM i
	    GROUP BY GROUPING SETS ((g, status), (g, oc), (g), (status), (oc),
		())),
	cats(s, k, o) AS (
	    VALUES ('all', 'all', 0), ('status', 'open', 1),
		('status', 'charges_filed', 2), ('status', 'prosecution', 3),
		('status', 'closed', 4), ('outcome', 'not_closed', 5),
		('outcome', 'conviction', 6), ('outcome', 'plea', 7),
		('outcome', 'acquittal', 8), ('outcome', 'dismissed', 9),
		('outcome', 'other', 10)),
	grp(g) AS (
	    SELECT NULL::text
	    UNION
	    SELECT DISTINCT g FROM n WHERE gall = 0 AND v_by IS NOT NULL)
	SELECT jsonb_agg(jsonb_build_object('s', cats.s, 'c', cats.k,
	    'l', report.label(cats.s, cats.k), 'g', grp.g,
	    'gl', report.group_label(v_by, grp.g),
	    'v', coalesce(n.v, '[0,0,0,0,0]'))
	    ORDER BY cats.o, grp.g NULLS FIRST)
	INTO v_facts
	FROM cats CROSS JOIN grp
	LEFT JOIN n ON n.s = cats.s AND n.k = cats.k AND
	    (n.gall = 1) = (grp.g IS NULL) AND
	    (grp.g IS NULL OR n.g = grp.g);
	RETURN jsonb_build_object('title', 'Criminal justice',
	    'columns', jsonb_build_array(
		jsonb_build_object('key', 'investigations', 'label',
		    'Investigations opened', 'type', 'count'),
		jsonb_build_object('key', 'with_linked_cases', 'label',
		    'With linked cases', 'type', 'count'),
		jsonb_build_object('key', 'linked_cases', 'label',
		    'Cases linked', 'type', 'count'),
		jsonb_build_object('key', 'cj_needs_identified', 'label',
		    'Criminal-justice needs identified', 'type', 'count'),
		jsonb_build_object('key', 'cj_needs_met', 'label',
		    'Criminal-justice needs met', 'type', 'count')),
	    'sections', jsonb_build_array(
		jsonb_build_object('key', 'all', 'label', 'All investigations',
		    'total', true),
		jsonb_build_object('key', 'status', 'label', 'Status',
		    'partition', true),
		jsonb_build_object('key', 'outcome', 'label', 'Outcome',
		    'partition', true)),
	    'group_partition', true, 'facts', coalesce(v_facts, '[]'));
END $$;

/*
 * Per organization (active, or with activity in the period): referrals
 * sent, offers received, accepted, declined, expired, answered, and the
 * median hours from offer to answer.
 */
CREATE FUNCTION report.partners(p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_t0	timestamptz := (p->>'from')::date::timestamptz;
	v_t1	timestamptz := ((p->>'to')::date + 1)::timestamptz;
	v_org	uuid[] := lib.jtext_array(p->'filters'->'organization')::uuid[];
	v_facts	jsonb;
BEGIN
	WITH sent AS (
	    SELECT sender_org AS org, count(*) AS n FROM referrals
	    WHERE created_at >= v_t0 AND created_at < v_t1
		AND (v_org IS NULL OR sender_org = ANY (v_org))
	    GROUP BY sender_org),
	recv AS (
	    SELECT organization_id AS org, count(*) AS n,
		count(*) FILTER (WHERE status = 'accepted') AS acc,
		count(*) FILTER (WHERE status = 'declined') AS dec,
		count(*) FILTER (WHERE status = 'expired') AS exp,
		count(*) FILTER (WHERE status IN ('accepted', 'declined') AND
		    responded_at IS NOT NULL) AS ans,
		round(percentile_cont(0.5) WITHIN GROUP (ORDER BY
		    extract(epoch FROM responded_at - created_at) / 3600.0)
		    FILTER (WHERE status IN ('accepted', 'declined') AND
		    responded_at IS NOT NULL)::numeric, 1) AS med
	    FROM referral_offers
	    WHERE created_at >= v_t0 AND created_at < v_t1
		AND (v_org IS NULL OR organization_id = ANY (v_org))
	    GROUP BY organization_id),
	orgs AS (
	    SELECT o.id, o.name FROM organizations o
	    WHERE (v_org IS NULL OR o.id = ANY (v_org)) AND (o.status =
		'active' OR o.id IN (SELECT org FROM sent UNION SELECT org
		FROM recv)))
	SELECT jsonb_agg(jsonb_build_object('s', 'organization', 'c',
	    o.id::text, 'l', o.name, 'g', NULL, 'gl', NULL,
	    'v', jsonb_build_array(coalesce(s.n, 0), coalesce(r.n, 0),
		coalesce(r.acc, 0), coalesce(r.dec, 0), coalesce(r.exp, 0),
		coalesce(r.ans, 0), r.med))
	    ORDER BY o.name, o.id)
	INTO v_facts
	FROM orgs o LEFT JOIN sent s ON s.org = o.id
	LEFT JOIN recv r ON r.org = o.id;
	RETURN jsonb_build_object('title', 'Partners',
	    'columns', jsonb_build_array(
		jsonb_build_object('key', 'referrals_sent', 'label',
		    'Referrals sent', 'type', 'count'),
		jsonb_build_object('key', 'offers_received', 'label',
		    'Offers received', 'type', 'count'),
		jsonb_build_object('key', 'accepted', 'label', 'Accepted',
		    'type', 'count'),
		jsonb_build_object('key', 'declined', 'label', 'Declined',
		    'type', 'count'),
		jsonb_build_object('key', 'expired', 'label', 'Expired',
		    'type', 'count'),
		jsonb_build_object('key', 'answered', 'label', 'Answered',
		    'type', 'count'),
		jsonb_build_object('key', 'median_response_hours', 'label',
		    'Median hours to answer', 'type', 'hours', 'deps',
		    jsonb_build_array('answered'))),
	    'sections', jsonb_build_array(jsonb_build_object('key',
		'organization', 'label', 'Organization', 'partition', false)),
	    'group_partition', false, 'facts', coalesce(v_facts, '[]'));
END $$;

/*
 * For every need code x jurisdiction (x language, age group or gender
 * with group_by): active services of active organizations accepting
 * referrals that cover the need and serve the jurisdiction (or have no
 * area), their total and available capacity, and a gap flag (1: none).
 * Jurisdictions: the filter's, else those of services, organizations
 * and (with include_clients) the period's clients. With include_clients
 * the clients served in the period with the need (suppressed like every
 * count), and the languages and populations those clients had. With
 * grain state a cell is a state (a code's first two characters): the
 * county cells within it merged, its services those serving any of
 * them (counted once), its clients theirs.
 */
CREATE FUNCTION report.coverage(p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_from	date := (p->>'from')::date;
	v_to	date := (p->>'to')::date;
	v_by	text := p->>'group_by';
	v_cl	boolean := coalesce((p->>'include_clients')::boolean, false);
	v_state	boolean := coalesce(p->>'grain' = 'state', false);
	v_jur	text[] := lib.jtext_array(p->'filters'->'jurisdiction');
	v_org	uuid[] := lib.jtext_array(p->'filters'->'organization')::uuid[];
	v_facts	jsonb;
	v_cols	jsonb;
BEGIN
	/*
	 * Set-based throughout: a service matches a jurisdiction when one of
	 * its areas is a prefix of the code (an equality join on the
	 * code's prefixes), every service x need x cell is found in one
	 * pass, and the clients with a need are counted per cell in one
	 * pass too (no query per cell).
	 */
	WITH cl AS MATERIALIZED (
	    SELECT c.id, c.jurisdiction,
		CASE v_by
		    WHEN 'language' THEN ARRAY(SELECT DISTINCT
			lower(split_part(l, '-', 1)) FROM unnest(c.languages) l)
		    WHEN 'age_group' THEN ARRAY[c.age_group]
		    WHEN 'gender' THEN ARRAY[report.gender_group(c.gender)]
		    ELSE ARRAY[NULL::text] END AS ds
	    FROM cases c
	    WHERE v_cl AND c.kind = 'victim' AND c.identified_on <= v_to AND
		(c.status = 'open' OR
		c.updated_at >= v_from::timestamptz)
		AND report.in_jurisdictions(c.jurisdiction, v_jur)),
	jur(j) AS MATERIALIZED (
	    SELECT unnest(v_jur) WHERE v_jur IS NOT NULL
	    UNION
	    SELECT unnest(s.area_jurisdictions) FROM services s
	    WHERE v_jur IS NULL AND s.deleted_at IS NULL AND
		s.status = 'active'
	    UNION
	    SELECT unnest(o.jurisdictions) FROM organizations o
	    WHERE v_jur IS NULL AND o.status = 'active'
	    UNION
	    SELECT DISTINCT jurisdiction FROM cl WHERE v_jur IS NULL),
	/* A jurisdiction's prefixes (a state's code prefixes its counties). */
	jp AS MATERIALIZED (
	    SELECT j, unnest(referral.jurisdiction_prefixes(j)) AS p FROM jur),
	dim0(j, d) AS MATERIALIZED (
	    SELECT j, NULL::text FROM jur WHERE v_by IS NULL
	    UNION
	    SELECT j, x FROM jur, unnest(CASE v_by
		WHEN 'age_group' THEN ARRAY['adult', 'minor']
		WHEN 'gender' THEN ARRAY['female', 'male', 'non_binary',
		    'other'] END) x WHERE v_by IN ('age_group', 'gender')
	    UNION
	    SELECT jp.j, lower(split_part(l, '-', 1))
	    FROM services s, unnest(s.area_jurisdictions) a
		JOIN jp ON jp.p = a, unnest(s.languages) l
	    WHERE v_by = 'language' AND s.deleted_at IS NULL AND
		s.status = 'active'
	    UNION
	    SELECT cl.jurisdiction, x FROM cl, unnest(cl.ds) x
	    WHERE v_by = 'language' AND cl.jurisdiction IN (SELECT j FROM jur)),
	sv AS MATERIALIZED (
	    SELECT s.* FROM services s JOIN organizations o ON
		o.id = s.organization_id AND o.status = 'active'
	    WHERE s.deleted_at IS NULL AND s.status = 'active' AND
		s.accepts_referrals AND (v_org IS NULL OR
		s.organization_id = ANY (v_org))),
	/* Which services serve which jurisdiction (area or anywhere). */
	m0 AS (
	    SELECT DISTINCT jp.j, sv.id
	    FROM sv, unnest(sv.area_jurisdictions) a JOIN jp ON jp.p = a
	    UNION
	    SELECT jur.j, sv.id FROM jur, sv
	    WHERE sv.area_jurisdictions = '{}' AND sv.area_radius_km IS NULL),
	/*
	 * The cells: jurisdictions, or with grain state their states (a
	 * service serving two counties of a state counts once there).
	 */
	dim AS MATERIALIZED (
	    SELECT j, d FROM dim0 WHERE NOT v_state
	    UNION
	    SELECT left(j, 2), d FROM dim0 WHERE v_state),
	m AS (
	    SELECT j, id FROM m0 WHERE NOT v_state
	    UNION
	    SELECT left(j, 2), id FROM m0 WHERE v_state),
	hit AS (
	    SELECT c.code, dim.j, dim.d, count(*) AS services,
		sum(sv.capacity_total) AS cap_total,
		sum(sv.capacity_available) AS cap_avail
	    FROM m JOIN sv ON sv.id = m.id JOIN dim ON dim.j = m.j,
		LATERAL (SELECT DISTINCT x FROM unnest(sv.need_cover) x) c(code)
	    WHERE dim.d IS NULL OR CASE v_by
		WHEN 'language' THEN sv.lang_match @> ARRAY[dim.d]
		WHEN 'age_group' THEN CASE dim.d WHEN 'minor' THEN
		    coalesce(sv.age_min, 0) < 18 ELSE
		    coalesce(sv.age_max, 200) >= 18 END
		WHEN 'gender' THEN sv.genders = '{}' OR
		    EXISTS (SELECT 1 FROM unnest(sv.genders) x WHERE
		    report.gender_group(x) = dim.d) END
	    GROUP BY c.code, dim.j, dim.d),
	/* Clients with each need per jurisdiction (and group). */
	need AS (
	    SELECT cn.code, CASE WHEN v_state THEN left(cl.jurisdiction, 2)
		ELSE cl.jurisdiction END AS j, x.d, count(*) AS n
	    FROM cl JOIN case_needs cn ON cn.case_id = cl.id,
		unnest(cl.ds) x(d)
	    WHERE cn.created_at < (v_to + 1)::timestamptz AND
		cl.jurisdiction IN (SELECT j FROM jur)
	    GROUP BY 1, 2, 3)
	SELECT jsonb_agg(jsonb_build_object('s', 'need', 'c', t.code,
	    'l', t.label, 'g', dim.j || coalesce(' / ' || dim.d, ''),
	    'gl', dim.j || coalesce(' / ' || dim.d, ''),
	    'v', jsonb_build_array(coalesce(h.services, 0), h.cap_total,
		h.cap_avail, CASE WHEN h.services IS NULL THEN 1 ELSE 0 END)
		|| CASE WHEN v_cl THEN jsonb_build_array(coalesce(n.n, 0))
		ELSE '[]' END)
	    ORDER BY t.grp DESC, t.code, dim.j, dim.d NULLS FIRST)
	INTO v_facts
	FROM need_taxonomy t CROSS JOIN dim
	/* Equalities (hash joins; no group is ''), not IS NOT DISTINCT. */
	LEFT JOIN hit h ON h.code = t.code AND h.j = dim.j AND
	    coalesce(h.d, '') = coalesce(dim.d, '')
	LEFT JOIN need n ON n.code = t.code AND n.j = dim.j AND
	    coalesce(n.d, '') = coalesce(dim.d, '');
	v_cols := jsonb_build_array(
	    jsonb_build_object('key', 'services', 'label',
		'Services accepting referrals', 'type', 'count',
		'sensitive', false),
	    jsonb_build_object('key', 'capacity_total', 'label',
		'Total capacity', 'type', 'number'),
	    jsonb_build_object('key', 'capacity_available', 'label',
		'Available capacity', 'type', 'number'),
	    jsonb_build_object('key', 'gap', 'label', 'Gap (no service)',
		'type', 'flag'));
	IF v_cl THEN
		v_cols := v_cols || jsonb_build_object('key', 'clients',
		    'label', 'Clients with the need', 'type', 'count');
	END IF;
	RETURN jsonb_build_object('title', 'Service coverage',
	    'columns', v_cols,
	    'sections', jsonb_build_array(jsonb_build_object('key', 'need',
		'label', 'Need', 'partition', false)),
	    'group_partition', false, 'facts', coalesce(v_facts, '[]'));
END $$;

----------------------------------------------------------------------
-- Worker entry points (role concord_worker)
----------------------------------------------------------------------

/*
 * Start building: marks a queued (or re-run) report running and returns
 * its parameters {kind, from, to, label, group_by, filters,
 * include_clients, grain}; NULL when it is done or failed already.
 */
CREATE FUNCTION worker.report_begin(p_id uuid) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	r reports;
BEGIN
	UPDATE reports SET status = 'running', progress = 5,
	    started_at = now()
	WHERE id = p_id AND status IN ('queued', 'running')
	RETURNING * INTO r;
	IF r.id IS NULL THEN
		RETURN NULL;
	END IF;
	RETURN jsonb_build_object('kind', r.kind, 'from', r.period_from,
	    'to', r.period_to, 'label', r.period_label, 'group_by', r.group_by,
	    'filters', r.filters, 'include_clients', r.include_clients,
	    'grain', r.grain);
END $$;

/* Record how far the build is (percent); can't fail. */
CREATE FUNCTION worker.report_progress(p_id uuid, p_pct integer)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
	UPDATE reports SET progress = greatest(0, least(99, p_pct))
	WHERE id = p_id AND status = 'running'
$$;

/*
 * The raw table of a report (see above): the statement the timeout
 * bounds. Its aggregates hash a few hundred thousand groups, so they
 * get memory enough not to spill (one report at a time per worker).
 * No JIT: the CTEs' row estimates are far off (millions), so the
 * planner compiled the coverage query with full optimization, ~2 s of
 * its 3.9 s at 100,000 cases, for a run of well under a second.
 */
CREATE FUNCTION worker.report_data(p_params jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
SET work_mem = '256MB' SET jit = off
AS $$
BEGIN
	RETURN CASE p_params->>'kind'
	    WHEN 'clients' THEN report.clients(p_params)
	    WHEN 'needs' THEN report.needs(p_params)
	    WHEN 'referrals' THEN report.referrals(p_params)
	    WHEN 'criminal_justice' THEN report.criminal_justice(p_params)
	    WHEN 'partners' THEN report.partners(p_params)
	    WHEN 'coverage' THEN report.coverage(p_params) END;
END $$;

/*
 * Store the published (suppressed) table: done, with a report.ready
 * notification for the requesting organization (or, without one, for
 * the role that asked). Returns false when the report is not running.
 */
CREATE FUNCTION worker.report_finish(p_id uuid, p_result jsonb)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	r reports;
BEGIN
	UPDATE reports SET status = 'done', progress = 100, result = p_result,
	    finished_at = now()
	WHERE id = p_id AND status IN ('queued', 'running')
	RETURNING * INTO r;
	IF r.id IS NULL THEN
		RETURN false;
	END IF;
	PERFORM lib.notify(r.requested_by_org, CASE WHEN r.requested_by_org
	    IS NULL THEN 'admin' END, 'report.ready', 'report', r.id,
	    '/v1/reports/' || r.id, jsonb_build_object('report_id', r.id,
	    'kind', r.kind, 'period', r.period_label));
	RETURN true;
END $$;

/* Fail a report with a reason (no values quoted in it). */
CREATE FUNCTION worker.report_fail(p_id uuid, p_reason text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
	UPDATE reports SET status = 'failed', reason = left(p_reason, 500),
	    finished_at = now()
	WHERE id = p_id AND status IN ('queued', 'running')
$$;
