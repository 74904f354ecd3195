-- lib.sql: the shared library and the call entry point. Creates every
-- code schema: rpc (the entry point, the only function the API's role may
-- execute), api (route functions only: rpc.call dispatches there),
-- lib (this library), casework, directory, referral, report (area helpers) and
-- worker (the worker's entry points). Here: raising problems and turning
-- them into problem+json, the caller's identity and roles, validating
-- JSON values, reading query parameters, paging with cursors, If-Match
-- and ETags, and sealing personal data with the data key.
--
-- Everything in sql/code/ is code: edited in place and re-created by
-- `concord-admin migrate` whenever a file changes (lib.sql first, then
-- the others by name, grants.sql last). Tables, indexes and what they
-- depend on belong to sql/migrations/.

CREATE SCHEMA rpc;
CREATE SCHEMA api;
CREATE SCHEMA lib;
CREATE SCHEMA casework;
CREATE SCHEMA directory;
CREATE SCHEMA referral;
CREATE SCHEMA report;
CREATE SCHEMA worker;

-- Raise a problem: rpc.call() turns it into status + problem+json.
CREATE FUNCTION lib.fail(p_status integer, p_slug text, p_detail text,
    p_errors jsonb DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'CN' || lpad(p_status::text, 3, '0'),
	    MESSAGE = p_slug,
	    DETAIL = jsonb_build_object('detail', p_detail,
	    'errors', p_errors)::text;
END $$;

-- One {field, reason} validation error, for lib.fail's p_errors.
CREATE FUNCTION lib.err(p_field text, p_reason text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT jsonb_build_object('field', p_field, 'reason', p_reason)
$$;

/*
 * The title of a problem status: problem_titles mirrors common/problem.c
 * (the one table, shared with the API's own problems); "Error" for a
 * status it lacks. Can't fail.
 */
CREATE FUNCTION lib.status_title(p_status integer) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT coalesce((SELECT title FROM problem_titles
	    WHERE status = p_status), 'Error')
$$;

CREATE FUNCTION lib.problem(p_status integer, p_slug text, p_detail text,
    p_errors jsonb, p_ctx jsonb) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_strip_nulls(jsonb_build_object(
	    'type', 'urn:concord:problem:' || p_slug,
	    'title', lib.status_title(p_status),
	    'status', p_status,
	    'detail', coalesce(p_detail, lib.status_title(p_status)),
	    'instance', p_ctx->>'path',
	    'request_id', p_ctx->>'request_id',
	    'errors', p_errors))
$$;

-- Role and identity helpers over the ctx document built by the API.
CREATE FUNCTION lib.has_role(p_ctx jsonb, p_role text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(p_ctx->'roles' ? p_role, false)
$$;

CREATE FUNCTION lib.ctx_org(p_ctx jsonb) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$
	SELECT (p_ctx->>'org')::uuid
$$;

/*
 * The caller's organization must exist and be active (403 otherwise);
 * a pure admin token without org passes. Returns the org id or NULL.
 */
CREATE FUNCTION lib.require_org(p_ctx jsonb) RETURNS uuid
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_org uuid := lib.ctx_org(p_ctx);
BEGIN
	IF v_org IS NULL THEN
		RETURN NULL;
	END IF;
	PERFORM 1 FROM organizations WHERE id = v_org AND status = 'active';
	IF NOT FOUND THEN
		PERFORM lib.fail(403, 'unknown-organization', 'The token''s '
		    'org claim does not name an active organization.');
	END IF;
	RETURN v_org;
END $$;

/*
 * The one entry point the API role may execute. Runs api.<fn>(ctx,
 * args, body) in a subtransaction: a problem raised by lib.fail(), or a
 * constraint the input broke, rolls back everything the call did and
 * comes back as a status with a problem body. Anything else re-raises
 * (the API answers 500 and logs the SQLSTATE).
 *
 * Dispatch: the hot routes are called by name below, so each call runs
 * a plan cached for the session; any other route goes through EXECUTE,
 * which parses and plans its statement on every call (about 10 us more
 * on a 2-core machine; tests/bench/README.md). A route missing from the
 * list only runs slower: add one when it becomes hot.
 */
CREATE FUNCTION rpc.call(p_fn text, p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body text, OUT headers jsonb)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	r	record;
	v_state	text;
	v_msg	text;
	v_det	text;
	v_cons	text;
	v_djson	jsonb;
BEGIN
	/*
	 * A GET writes nothing but its audit records: those may commit
	 * without waiting for the WAL flush (losing at most the last
	 * fraction of a second of read records if PostgreSQL crashes).
	 */
	IF p_ctx->>'method' IN ('GET', 'HEAD') THEN
		PERFORM set_config('synchronous_commit', 'off', true);
	END IF;
	BEGIN
		CASE p_fn
		WHEN 'case_get' THEN
			SELECT * INTO r FROM api.case_get(p_ctx, p_args, p_body);
		WHEN 'case_list' THEN
			SELECT * INTO r FROM api.case_list(p_ctx, p_args, p_body);
		WHEN 'case_update' THEN
			SELECT * INTO r FROM api.case_update(p_ctx, p_args,
			    p_body);
		WHEN 'me' THEN
			SELECT * INTO r FROM api.me(p_ctx, p_args, p_body);
		WHEN 'org_status' THEN
			SELECT * INTO r FROM api.org_status(p_ctx, p_args,
			    p_body);
		WHEN 'referral_create' THEN
			SELECT * INTO r FROM api.referral_create(p_ctx, p_args,
			    p_body);
		WHEN 'referral_get' THEN
			SELECT * INTO r FROM api.referral_get(p_ctx, p_args,
			    p_body);
		WHEN 'service_search' THEN
			SELECT * INTO r FROM api.service_search(p_ctx, p_args,
			    p_body);
		ELSE
			IF p_fn !~ '^[a-z][a-z0-9_]*$' OR to_regprocedure('api.' ||
			    p_fn || '(jsonb,jsonb,jsonb)') IS NULL THEN
				RAISE EXCEPTION 'unknown api function %', p_fn;
			END IF;
			EXECUTE format('SELECT * FROM api.%I($1, $2, $3)', p_fn)
			    INTO r USING p_ctx, p_args, p_body;
		END CASE;
		status := r.status;
		body := r.body::text;
		headers := r.headers;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE,
		    v_msg = MESSAGE_TEXT, v_det = PG_EXCEPTION_DETAIL,
		    v_cons = CONSTRAINT_NAME;
		IF v_state LIKE 'CN%' THEN
			status := substr(v_state, 3)::integer;
			v_djson := v_det::jsonb;
			body := lib.problem(status, v_msg, v_djson->>'detail',
			    v_djson->'errors', p_ctx)::text;
		ELSIF v_state = '23505' THEN
			status := 409;
			body := lib.problem(409, 'conflict', 'A record with '
			    'the same unique value exists (' ||
			    coalesce(v_cons, 'unique') || ').', NULL,
			    p_ctx)::text;
		ELSIF v_state IN ('23514', '23502', '23503', '22P02',
		    '22007', '22008', '22003', '22001', '22023', '2201G',
		    '22P05', '22004', '22012') OR v_state LIKE '22%' THEN
			status := 422;
			body := lib.problem(422, 'validation-error',
			    'A value is out of range or of the wrong type' ||
			    CASE WHEN v_cons IS NOT NULL THEN ' (' || v_cons ||
			    ')' ELSE '' END || '.', NULL, p_ctx)::text;
		ELSE
			RAISE;
		END IF;
	END;
	IF status >= 400 THEN
		headers := NULL;
	END IF;
END $$;

----------------------------------------------------------------------
-- Small validation helpers (jsonb in, boolean out; NULL means absent).
----------------------------------------------------------------------
CREATE FUNCTION lib.absent(p jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT p IS NULL OR p = 'null'::jsonb
$$;

CREATE FUNCTION lib.is_str(p jsonb, p_min integer, p_max integer)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(jsonb_typeof(p) = 'string' AND
	    length(p #>> '{}') BETWEEN p_min AND p_max, false)
$$;

CREATE FUNCTION lib.is_int(p jsonb, p_min bigint, p_max bigint)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(jsonb_typeof(p) = 'number' AND
	    (p #>> '{}') ~ '^-?[0-9]{1,15}$' AND
	    (p #>> '{}')::bigint BETWEEN p_min AND p_max, false)
$$;

CREATE FUNCTION lib.is_enum(p jsonb, p_vals text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(jsonb_typeof(p) = 'string' AND
	    (p #>> '{}') = ANY (p_vals), false)
$$;

CREATE FUNCTION lib.is_uuid(p jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(jsonb_typeof(p) = 'string' AND (p #>> '{}') ~*
	    '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
	    false)
$$;

CREATE FUNCTION lib.try_date(p_text text) RETURNS date
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	IF p_text IS NULL OR p_text !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN
		RETURN NULL;
	END IF;
	RETURN p_text::date;
EXCEPTION WHEN OTHERS THEN
	RETURN NULL;
END $$;

CREATE FUNCTION lib.try_ts(p_text text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
	IF p_text IS NULL OR p_text !~
	    '^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)$'
	    THEN
		RETURN NULL;
	END IF;
	RETURN p_text::timestamptz;
EXCEPTION WHEN OTHERS THEN
	RETURN NULL;
END $$;

CREATE FUNCTION lib.is_date(p jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT jsonb_typeof(p) = 'string' AND lib.try_date(p #>> '{}') IS NOT NULL
$$;

CREATE FUNCTION lib.is_ts(p jsonb) RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT coalesce(jsonb_typeof(p) = 'string' AND
	    lib.try_ts(p #>> '{}') IS NOT NULL, false)
$$;

-- An array of 0..p_max strings of 1..p_len characters.
CREATE FUNCTION lib.is_str_array(p jsonb, p_max integer, p_len integer)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(jsonb_typeof(p) = 'array' AND
	    jsonb_array_length(p) <= p_max AND NOT EXISTS (
	    SELECT 1 FROM jsonb_array_elements(p) e
	    WHERE NOT lib.is_str(e, 1, p_len)), false)
$$;

CREATE FUNCTION lib.jtext_array(p jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN jsonb_typeof(p) = 'array' THEN
	    ARRAY(SELECT jsonb_array_elements_text(p)) END
$$;

/*
 * Mass-assignment guard: every key of p_obj must be in p_allowed. A key
 * in p_protected is named "is set by the server"; any other stranger is
 * "unknown field". Returns the errors (empty array when clean).
 */
CREATE FUNCTION lib.check_keys(p_obj jsonb, p_prefix text, p_allowed text[],
    p_protected text[] DEFAULT '{}') RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(jsonb_agg(lib.err(p_prefix || k, CASE
	    WHEN k = ANY (p_protected) THEN 'read-only field'
	    ELSE 'unknown field' END) ORDER BY k), '[]'::jsonb)
	FROM jsonb_object_keys(CASE WHEN jsonb_typeof(p_obj) = 'object'
	    THEN p_obj ELSE '{}'::jsonb END) k
	WHERE NOT (k = ANY (p_allowed))
$$;

/*
 * Field checkers for request bodies: each returns a JSON array of
 * {field, reason} errors for one field (empty when fine), so a validator
 * collects every error of a body before lib.fail_if answers them.
 */
/*
 * RFC 7396 JSON merge patch of target by patch. Recurses once per level
 * of the patch: callers bound its depth first (lib.check_depth), and
 * then it can't fail.
 */
CREATE FUNCTION lib.merge_patch(p_target jsonb, p_patch jsonb)
RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	k	text;
	v	jsonb;
	r	jsonb;
BEGIN
	IF jsonb_typeof(p_patch) IS DISTINCT FROM 'object' THEN
		RETURN p_patch;
	END IF;
	r := CASE WHEN jsonb_typeof(p_target) = 'object' THEN p_target
	    ELSE '{}'::jsonb END;
	FOR k, v IN SELECT * FROM jsonb_each(p_patch) LOOP
		IF v = 'null'::jsonb THEN
			r := r - k;
		ELSE
			r := jsonb_set(r, ARRAY[k],
			    lib.merge_patch(r->k, v));
		END IF;
	END LOOP;
	RETURN r;
END $$;

/*
 * Errors for every field of the object p_doc whose value nests deeper
 * than p_max levels of objects and arrays below it (named p_prefix ||
 * field). Validators call it before anything recursive (such as
 * lib.merge_patch) touches a body, so a deeply nested value is a 422
 * naming its field, never a stack-depth error. Looks no deeper than
 * p_max + 1 levels; can't fail.
 */
CREATE FUNCTION lib.check_depth(p_doc jsonb, p_prefix text, p_max integer)
RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	v_path	jsonpath := ('$.**{' || (p_max + 1) || '}')::jsonpath;
BEGIN
	IF jsonb_typeof(p_doc) IS DISTINCT FROM 'object' THEN
		RETURN '[]';
	END IF;
	RETURN coalesce((SELECT jsonb_agg(lib.err(p_prefix || f.key, format(
	    'must not nest more than %s levels deep', p_max)) ORDER BY f.key)
	    FROM jsonb_each(p_doc) f WHERE jsonb_typeof(f.value) IN
	    ('object', 'array') AND f.value @? v_path), '[]');
END $$;

/* Errors for an optional string field (absent or null is fine). */
CREATE FUNCTION lib.check_str(p_doc jsonb, p_key text, p_field text,
    p_required boolean, p_min integer, p_max integer) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE
	    WHEN p_doc->p_key IS NULL OR p_doc->p_key = 'null' THEN
		CASE WHEN p_required THEN jsonb_build_array(lib.err(p_field,
		    'is required')) ELSE '[]' END
	    WHEN jsonb_typeof(p_doc->p_key) <> 'string' THEN
		jsonb_build_array(lib.err(p_field, 'must be a string'))
	    WHEN length(p_doc->>p_key) < p_min OR
		length(p_doc->>p_key) > p_max THEN
		jsonb_build_array(lib.err(p_field, format('must be %s to %s '
		    'characters', p_min, p_max)))
	    ELSE '[]' END
$$;

/* Errors for an optional boolean field. */
CREATE FUNCTION lib.check_bool(p_doc jsonb, p_key text, p_field text)
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN p_doc->p_key IS NULL OR p_doc->p_key = 'null' OR
	    jsonb_typeof(p_doc->p_key) = 'boolean' THEN '[]'::jsonb
	    ELSE jsonb_build_array(lib.err(p_field, 'must be a boolean')) END
$$;

/* Errors for an optional integer field in [lo, hi]. */
CREATE FUNCTION lib.check_int(p_doc jsonb, p_key text, p_field text,
    p_lo bigint, p_hi bigint) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE
	    WHEN p_doc->p_key IS NULL OR p_doc->p_key = 'null' THEN '[]'::jsonb
	    WHEN jsonb_typeof(p_doc->p_key) <> 'number' OR
		(p_doc->>p_key)::numeric <> trunc((p_doc->>p_key)::numeric) THEN
		jsonb_build_array(lib.err(p_field, 'must be an integer'))
	    WHEN (p_doc->>p_key)::numeric < p_lo OR
		(p_doc->>p_key)::numeric > p_hi THEN
		jsonb_build_array(lib.err(p_field, format('must be between %s '
		    'and %s', p_lo, p_hi)))
	    ELSE '[]' END
$$;

/* Errors for an optional number field in [lo, hi] (lo exclusive if ex). */
CREATE FUNCTION lib.check_num(p_doc jsonb, p_key text, p_field text,
    p_lo numeric, p_hi numeric, p_lo_exclusive boolean) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE
	    WHEN p_doc->p_key IS NULL OR p_doc->p_key = 'null' THEN '[]'::jsonb
	    WHEN jsonb_typeof(p_doc->p_key) <> 'number' THEN
		jsonb_build_array(lib.err(p_field, 'must be a number'))
	    WHEN (p_lo_exclusive AND (p_doc->>p_key)::numeric <= p_lo) OR
		(NOT p_lo_exclusive AND (p_doc->>p_key)::numeric < p_lo) OR
		(p_doc->>p_key)::numeric > p_hi THEN
		jsonb_build_array(lib.err(p_field, format('must be %s %s and '
		    'at most %s', CASE WHEN p_lo_exclusive THEN 'above' ELSE
		    'at least' END, p_lo, p_hi)))
	    ELSE '[]' END
$$;

/*
 * Errors for an optional array of strings: each must match p_re (when
 * given) and, when p_enum is given, be one of it. At most p_max items.
 */
CREATE FUNCTION lib.check_str_array(p_doc jsonb, p_key text,
    p_field text, p_re text, p_enum text[], p_max integer) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	v	jsonb := p_doc->p_key;
	e	jsonb := '[]';
	i	integer;
BEGIN
	IF v IS NULL OR v = 'null' THEN
		RETURN e;
	END IF;
	IF jsonb_typeof(v) <> 'array' THEN
		RETURN jsonb_build_array(lib.err(p_field, 'must be an array of '
		    'strings'));
	END IF;
	IF jsonb_array_length(v) > p_max THEN
		RETURN jsonb_build_array(lib.err(p_field, format('at most %s '
		    'items', p_max)));
	END IF;
	FOR i IN 0 .. jsonb_array_length(v) - 1 LOOP
		IF jsonb_typeof(v->i) <> 'string' THEN
			e := e || lib.err(p_field || '[' || i || ']',
			    'must be a string');
		ELSIF p_re IS NOT NULL AND (v->>i) !~ p_re THEN
			e := e || lib.err(p_field || '[' || i || ']',
			    'is not a valid value');
		ELSIF p_enum IS NOT NULL AND NOT (v->>i) = ANY (p_enum) THEN
			e := e || lib.err(p_field || '[' || i || ']',
			    'must be one of ' || array_to_string(p_enum, ', '));
		END IF;
	END LOOP;
	RETURN e;
END $$;

/* A JSON array of strings as text[] (NULL/absent -> p_default). */
CREATE FUNCTION lib.text_array(p_v jsonb, p_default text[])
RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN p_v IS NULL OR p_v = 'null' THEN p_default
	    ELSE ARRAY(SELECT DISTINCT jsonb_array_elements_text(p_v)
	    ORDER BY 1) END
$$;

CREATE FUNCTION lib.fail_if(p_errs jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	IF jsonb_array_length(p_errs) > 0 THEN
		PERFORM lib.fail(422, 'validation-error', 'The body has '
		    'invalid or forbidden fields; see errors.', p_errs);
	END IF;
END $$;

-- The query string may only carry p_allowed keys (400 otherwise).
CREATE FUNCTION lib.query_allow(p_args jsonb, p_allowed text[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	v_errs jsonb;
BEGIN
	IF coalesce(p_args->'query', '{}') = '{}'::jsonb THEN
		RETURN;
	END IF;
	SELECT jsonb_agg(lib.err(k, 'unknown query parameter') ORDER BY k)
	    INTO v_errs FROM jsonb_object_keys(coalesce(p_args->'query',
	    '{}')) k WHERE NOT (k = ANY (p_allowed));
	IF v_errs IS NOT NULL THEN
		PERFORM lib.fail(400, 'bad-query', 'The query string names '
		    'parameters this operation does not take.', v_errs);
	END IF;
END $$;

/* 400 bad-query naming every bad parameter in p_errs (none: returns). */
CREATE FUNCTION lib.query_fail_if(p_errs jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	IF jsonb_array_length(p_errs) > 0 THEN
		PERFORM lib.fail(400, 'bad-query', 'The query string has '
		    'invalid parameters; see errors.', p_errs);
	END IF;
END $$;

CREATE FUNCTION lib.bad_query(p_name text, p_reason text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM lib.fail(400, 'bad-query', 'Query parameter ' || p_name ||
	    ' ' || p_reason || '.', jsonb_build_array(lib.err(p_name,
	    p_reason)));
END $$;

-- limit: 1..100, default 50.
CREATE FUNCTION lib.page_limit(p_args jsonb) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
	v jsonb := p_args->'query'->'limit';
BEGIN
	IF v IS NULL THEN
		RETURN 50;
	END IF;
	IF jsonb_typeof(v) <> 'string' OR (v #>> '{}') !~ '^[0-9]{1,3}$' OR
	    (v #>> '{}')::integer NOT BETWEEN 1 AND 100 THEN
		PERFORM lib.bad_query('limit', 'must be an integer from 1 to 100');
	END IF;
	RETURN (v #>> '{}')::integer;
END $$;

/*
 * Cursors: one encoding for every list. A cursor is the sort key of the
 * last item of a page plus the list's kind ({"k": kind, ...}), as
 * unpadded base64url: opaque, URL-safe, one line. lib.cursor_encode
 * makes one (can't fail); lib.cursor_decode reads the query parameter
 * "cursor" and returns the key object (NULL when absent), or raises 400
 * bad-query for anything this list did not issue: another kind, a key
 * of p_keys missing, or a key of the wrong type. Each entry of p_keys is
 * a name with its type, "name:type": int (an integer of up to 18
 * digits), num (a number), uuid, ts (an RFC 3339 time) or text (a
 * string); a trailing ? also admits null (a sort key may be missing).
 * So a caller may cast the keys it gets without another check.
 */
CREATE FUNCTION lib.cursor_encode(p_kind text, p_key jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT rtrim(translate(encode(convert_to((jsonb_build_object('k',
	    p_kind) || p_key)::text, 'UTF8'), 'base64'), E'+/\n', '-_'), '=')
$$;

CREATE FUNCTION lib.cursor_decode(p_args jsonb, p_kind text,
    p_keys text[]) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_c	text := lib.query_text(p_args, 'cursor');
	v_s	text;
	v_k	jsonb;
BEGIN
	IF v_c IS NULL THEN
		RETURN NULL;
	END IF;
	BEGIN
		v_s := translate(v_c, '-_', '+/');
		v_s := v_s || repeat('=', (4 - length(v_s) % 4) % 4);
		v_k := convert_from(decode(v_s, 'base64'), 'UTF8')::jsonb;
		IF jsonb_typeof(v_k) <> 'object' OR
		    v_k->>'k' IS DISTINCT FROM p_kind OR EXISTS (SELECT 1
		    FROM unnest(p_keys) s(spec), LATERAL (SELECT
		    split_part(s.spec, ':', 1) AS name, rtrim(split_part(
		    s.spec, ':', 2), '?') AS type, s.spec LIKE '%?' AS
		    nullable) t WHERE NOT (v_k ? t.name AND CASE
		    WHEN v_k->t.name = 'null' THEN t.nullable
		    WHEN t.type = 'int' THEN jsonb_typeof(v_k->t.name) =
			'number' AND (v_k->>t.name) ~ '^-?[0-9]{1,18}$'
		    WHEN t.type = 'num' THEN jsonb_typeof(v_k->t.name) =
			'number'
		    WHEN t.type = 'uuid' THEN lib.is_uuid(v_k->t.name)
		    WHEN t.type = 'ts' THEN lib.try_ts(v_k->>t.name) IS NOT
			NULL AND jsonb_typeof(v_k->t.name) = 'string'
		    WHEN t.type = 'text' THEN jsonb_typeof(v_k->t.name) =
			'string'
		    ELSE false END)) THEN
			v_k := NULL;
		END IF;
	EXCEPTION WHEN OTHERS THEN
		v_k := NULL;
	END;
	IF v_k IS NULL THEN
		PERFORM lib.bad_query('cursor', 'is not a cursor this list '
		    'issued');
	END IF;
	RETURN v_k;
END $$;

-- A single-valued text query parameter, or NULL.
CREATE FUNCTION lib.query_text(p_args jsonb, p_name text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	v jsonb := p_args->'query'->p_name;
BEGIN
	IF v IS NULL THEN
		RETURN NULL;
	END IF;
	IF jsonb_typeof(v) <> 'string' OR length(v #>> '{}') NOT BETWEEN 1
	    AND 200 THEN
		PERFORM lib.bad_query(p_name, 'must be given once, 1 to 200 '
		    'characters');
	END IF;
	RETURN v #>> '{}';
END $$;

/*
 * Every value of a repeatable query parameter: name=a&name=b and
 * name=a,b both give {a,b}; NULL when absent. 400 for an empty value.
 */
CREATE FUNCTION lib.query_list(p_args jsonb, p_name text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	v	jsonb := p_args->'query'->p_name;
	r	text[];
BEGIN
	IF v IS NULL THEN
		RETURN NULL;
	END IF;
	r := ARRAY(SELECT btrim(x) FROM jsonb_array_elements_text(CASE WHEN
	    jsonb_typeof(v) = 'array' THEN v ELSE jsonb_build_array(v) END)
	    a(t), regexp_split_to_table(a.t, ',') x);
	IF EXISTS (SELECT 1 FROM unnest(r) x WHERE x = '' OR
	    length(x) > 200) THEN
		PERFORM lib.bad_query(p_name, 'must list values of 1 to 200 '
		    'characters');
	END IF;
	RETURN r;
END $$;

CREATE FUNCTION lib.query_uuid(p_args jsonb, p_name text) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
	v text := lib.query_text(p_args, p_name);
BEGIN
	IF v IS NOT NULL AND NOT lib.is_uuid(to_jsonb(v)) THEN
		PERFORM lib.bad_query(p_name, 'must be a UUID');
	END IF;
	RETURN v::uuid;
END $$;

CREATE FUNCTION lib.query_ts(p_args jsonb, p_name text) RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
	v text := lib.query_text(p_args, p_name);
BEGIN
	IF v IS NOT NULL AND lib.try_ts(v) IS NULL THEN
		PERFORM lib.bad_query(p_name, 'must be an RFC 3339 date-time');
	END IF;
	RETURN lib.try_ts(v);
END $$;

CREATE FUNCTION lib.query_enum(p_args jsonb, p_name text, p_vals text[])
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	v text := lib.query_text(p_args, p_name);
BEGIN
	IF v IS NOT NULL AND NOT (v = ANY (p_vals)) THEN
		PERFORM lib.bad_query(p_name, 'must be one of ' ||
		    array_to_string(p_vals, ', '));
	END IF;
	RETURN v;
END $$;

/*
 * ETags: lib.etag is the one spelling of a record's entity tag,
 * lib.etag_header the response header carrying it. A tag is strong and
 * opaque: 32 hex digits of SHA-256 over the record's kind, id and
 * version, so two records never share one (a bare version would: every
 * new record is "1") and a client can't build one, only send back what
 * it read. The kinds: organization, service, case, need, task,
 * investigation. lib.if_match is the one optimistic-concurrency check:
 * 428 without If-Match (or a blank one), 412 when it names another tag
 * (a list is compared member by member); * and W/ forms match.
 * If-None-Match on a GET is answered in C (api/dbcall.c) from the ETag
 * header these build.
 */
-- Casts, not ||'s any-type form (only STABLE), keep it IMMUTABLE.
CREATE FUNCTION lib.etag(p_kind text, p_id uuid, p_version integer)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT '"' || encode(substr(sha256((p_kind || ':' || p_id::text ||
	    ':' || p_version::text)::bytea), 1, 16), 'hex') || '"'
$$;

-- plpgsql: jsonb_build_object is only STABLE, so as LANGUAGE sql this
-- was never inlined and was planned again on every call.
CREATE FUNCTION lib.etag_header(p_kind text, p_id uuid, p_version integer)
RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	RETURN jsonb_build_object('etag', lib.etag(p_kind, p_id, p_version));
END $$;

CREATE FUNCTION lib.if_match(p_args jsonb, p_kind text, p_id uuid,
    p_version integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	v	text := btrim(p_args->>'if_match');
	v_tag	text := lib.etag(p_kind, p_id, p_version);
BEGIN
	IF v IS NULL OR v = '' THEN
		PERFORM lib.fail(428, 'precondition-required', 'Send If-Match '
		    'with the ETag you last read.');
	END IF;
	IF v <> '*' AND NOT EXISTS (SELECT 1 FROM regexp_split_to_table(v,
	    ',') x WHERE btrim(x) IN (v_tag, 'W/' || v_tag)) THEN
		PERFORM lib.fail(412, 'precondition-failed', 'The record '
		    'changed since you read it; read it again.');
	END IF;
END $$;

CREATE FUNCTION lib.path_id(p_args jsonb, p_name text DEFAULT 'id')
RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
	SELECT (p_args->'path'->>p_name)::uuid
$$;

-- Hot-path helpers are plpgsql: their plans are cached per session
-- (a non-inlined SQL function is planned again on every call).
CREATE FUNCTION lib.ctx_roles(p_ctx jsonb) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	RETURN ARRAY(SELECT jsonb_array_elements_text(coalesce(p_ctx->'roles',
	    '[]')) ORDER BY 1);
END $$;

----------------------------------------------------------------------
-- Personal data encryption (pgcrypto, OpenPGP symmetric, AES-256).
-- The key is a session setting the API sets on its own connections
-- (libpq options -c concord.data_key=...); it is never in SQL text.
----------------------------------------------------------------------
CREATE FUNCTION lib.data_key() RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v text := current_setting('concord.data_key', true);
BEGIN
	IF v IS NULL OR length(v) < 32 THEN
		PERFORM lib.fail(503, 'unavailable', 'The personal-data key '
		    'is not configured on this connection.');
	END IF;
	RETURN v;
END $$;

/*
 * Sealing personal data: the one pair every area uses. lib.seal encrypts
 * a text with the data key (AES-256; the key is random and long, so no
 * key stretching: iterated S2K costs ~0.5 ms a value), lib.unseal opens
 * it; NULL stays NULL. Without the key both raise 503 (lib.data_key).
 * lib.pd_seal/pd_open do the same for one category object of a case
 * (NULL or {} is stored as NULL, and opens as {}).
 */
CREATE FUNCTION lib.seal(p_text text) RETURNS bytea
LANGUAGE sql VOLATILE AS $$
	SELECT CASE WHEN p_text IS NULL THEN NULL
	    ELSE pgp_sym_encrypt(p_text, lib.data_key(),
	    'cipher-algo=aes256, s2k-mode=1') END
$$;

CREATE FUNCTION lib.unseal(p_data bytea) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN p_data IS NULL THEN NULL
	    ELSE pgp_sym_decrypt(p_data, lib.data_key()) END
$$;

CREATE FUNCTION lib.pd_seal(p jsonb) RETURNS bytea
LANGUAGE sql VOLATILE AS $$
	SELECT CASE WHEN p IS NULL OR p = '{}'::jsonb THEN NULL
	    ELSE lib.seal(p::text) END
$$;

CREATE FUNCTION lib.pd_open(p bytea) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT coalesce(lib.unseal(p)::jsonb, '{}'::jsonb)
$$;

CREATE FUNCTION lib.is_coord(p_ctx jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT lib.has_role(p_ctx, 'coordinator') OR lib.has_role(p_ctx, 'admin')
$$;

-- The caller's org, required for writes that act as an organization.
CREATE FUNCTION lib.require_org_present(p_ctx jsonb) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
	v_org uuid := lib.require_org(p_ctx);
BEGIN
	IF v_org IS NULL THEN
		PERFORM lib.fail(403, 'organization-required', 'This operation '
		    'acts for an organization; the token names none.');
	END IF;
	RETURN v_org;
END $$;

/*
 * A timestamp from a date or RFC 3339 text, or NULL when PostgreSQL
 * cannot read it (a month 13, an offset +99:99): never raises.
 */
CREATE FUNCTION lib.try_ts_any(p_text text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN p_text::timestamptz;
EXCEPTION WHEN OTHERS THEN
	RETURN NULL;
END $$;
