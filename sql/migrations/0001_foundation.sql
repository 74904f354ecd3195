-- 0001 foundation: the API's database role, the api schema with its
-- single entry point api.call(), problem helpers, organizations (who a
-- token's org claim names), the need taxonomy mirror and the job table.
-- Applied by `concord-admin migrate` in one transaction.

DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'concord_api') THEN
		CREATE ROLE concord_api LOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'concord_worker') THEN
		CREATE ROLE concord_worker LOGIN;
	END IF;
END $$;

CREATE EXTENSION IF NOT EXISTS pgcrypto;

GRANT SELECT ON public.schema_migrations TO concord_api;

-- Need codes; rows mirror common/taxonomy.c (synced by concord-admin).
CREATE TABLE need_taxonomy (
	code		text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]*$'),
	label		text NOT NULL,
	grp		text NOT NULL CHECK (grp IN ('victim', 'criminal_justice')),
	parent		text REFERENCES need_taxonomy (code),
	seed_label	text NOT NULL
);

CREATE TABLE organizations (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 300),
	kind		text NOT NULL CHECK (kind IN ('law_enforcement',
			    'prosecution', 'victim_services', 'ngo', 'health',
			    'legal_aid', 'government', 'faith_based', 'other')),
	jurisdictions	text[] NOT NULL DEFAULT '{}',
	contact		jsonb NOT NULL DEFAULT '{}',
	task_force_member boolean NOT NULL DEFAULT true,
	status		text NOT NULL DEFAULT 'active'
			    CHECK (status IN ('active', 'inactive')),
	version		integer NOT NULL DEFAULT 1,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX organizations_kind_idx ON organizations (kind, id);
CREATE INDEX organizations_jurisdictions_idx ON organizations
    USING gin (jurisdictions);

-- Work for the worker. PostgreSQL holds the truth; Redis only wakes.
CREATE TABLE jobs (
	id		bigserial PRIMARY KEY,
	kind		text NOT NULL,
	payload		jsonb NOT NULL DEFAULT '{}',
	state		text NOT NULL DEFAULT 'pending'
			    CHECK (state IN ('pending', 'running', 'done',
			    'dead')),
	attempts	integer NOT NULL DEFAULT 0,
	run_after	timestamptz NOT NULL DEFAULT now(),
	claimed_by	text,
	claimed_until	timestamptz,
	signalled_at	timestamptz,
	last_error	text,
	result		jsonb,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jobs_pending_idx ON jobs (run_after, id) WHERE state = 'pending';
CREATE INDEX jobs_running_idx ON jobs (claimed_until) WHERE state = 'running';
CREATE INDEX jobs_dead_idx ON jobs (updated_at) WHERE state = 'dead';
GRANT SELECT, INSERT, UPDATE ON jobs TO concord_worker;
GRANT USAGE ON SEQUENCE jobs_id_seq TO concord_worker;
GRANT SELECT ON need_taxonomy, organizations TO concord_worker;

CREATE SCHEMA api;
REVOKE ALL ON SCHEMA api FROM PUBLIC;

-- Raise a problem: api.call() turns it into status + problem+json.
CREATE FUNCTION api.fail(p_status integer, p_slug text, p_detail text,
    p_errors jsonb DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'CN' || lpad(p_status::text, 3, '0'),
	    MESSAGE = p_slug,
	    DETAIL = jsonb_build_object('detail', p_detail,
	    'errors', p_errors)::text;
END $$;

-- One {field, reason} validation error, for api.fail's p_errors.
CREATE FUNCTION api.err(p_field text, p_reason text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT jsonb_build_object('field', p_field, 'reason', p_reason)
$$;

CREATE FUNCTION api.status_title(p_status integer) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE p_status
	    WHEN 400 THEN 'Bad Request' WHEN 401 THEN 'Unauthorized'
	    WHEN 403 THEN 'Forbidden' WHEN 404 THEN 'Not Found'
	    WHEN 409 THEN 'Conflict' WHEN 412 THEN 'Precondition Failed'
	    WHEN 422 THEN 'Unprocessable Content'
	    WHEN 428 THEN 'Precondition Required'
	    WHEN 503 THEN 'Service Unavailable'
	    ELSE 'Error' END
$$;

CREATE FUNCTION api.problem(p_status integer, p_slug text, p_detail text,
    p_errors jsonb, p_ctx jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT jsonb_strip_nulls(jsonb_build_object(
	    'type', 'urn:concord:problem:' || p_slug,
	    'title', api.status_title(p_status),
	    'status', p_status,
	    'detail', coalesce(p_detail, api.status_title(p_status)),
	    'instance', p_ctx->>'path',
	    'request_id', p_ctx->>'request_id',
	    'errors', p_errors))
$$;

-- Role and identity helpers over the ctx document built by the API.
CREATE FUNCTION api.has_role(p_ctx jsonb, p_role text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(p_ctx->'roles' ? p_role, false)
$$;

CREATE FUNCTION api.ctx_org(p_ctx jsonb) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$
	SELECT (p_ctx->>'org')::uuid
$$;

/*
 * The caller's organization must exist and be active (403 otherwise);
 * a pure admin token without org passes. Returns the org id or NULL.
 */
CREATE FUNCTION api.require_org(p_ctx jsonb) RETURNS uuid
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_org uuid := api.ctx_org(p_ctx);
BEGIN
	IF v_org IS NULL THEN
		RETURN NULL;
	END IF;
	PERFORM 1 FROM organizations WHERE id = v_org AND status = 'active';
	IF NOT FOUND THEN
		PERFORM api.fail(403, 'unknown-organization', 'The token''s '
		    'org claim does not name an active organization.');
	END IF;
	RETURN v_org;
END $$;

/*
 * The one entry point the API role may execute. Runs api.<fn>(ctx,
 * args, body) in a subtransaction: a problem raised by api.fail(), or a
 * constraint the input broke, rolls back everything the call did and
 * comes back as a status with a problem body. Anything else re-raises
 * (the API answers 500 and logs the SQLSTATE).
 */
CREATE FUNCTION api.call(p_fn text, p_ctx jsonb, p_args jsonb, p_body jsonb,
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
	IF p_fn !~ '^[a-z][a-z0-9_]*$' OR to_regprocedure('api.' || p_fn ||
	    '(jsonb,jsonb,jsonb)') IS NULL THEN
		RAISE EXCEPTION 'unknown api function %', p_fn;
	END IF;
	/*
	 * A GET writes nothing but its audit records: those may commit
	 * without waiting for the WAL flush (losing at most the last
	 * fraction of a second of read records if PostgreSQL crashes).
	 */
	IF p_ctx->>'method' IN ('GET', 'HEAD') THEN
		PERFORM set_config('synchronous_commit', 'off', true);
	END IF;
	BEGIN
		EXECUTE format('SELECT * FROM api.%I($1, $2, $3)', p_fn)
		    INTO r USING p_ctx, p_args, p_body;
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
			body := api.problem(status, v_msg, v_djson->>'detail',
			    v_djson->'errors', p_ctx)::text;
		ELSIF v_state = '23505' THEN
			status := 409;
			body := api.problem(409, 'conflict', 'A record with '
			    'the same unique value exists (' ||
			    coalesce(v_cons, 'unique') || ').', NULL,
			    p_ctx)::text;
		ELSIF v_state IN ('23514', '23502', '23503', '22P02',
		    '22007', '22008', '22003', '22001', '22023', '2201G',
		    '22P05', '22004', '22012') OR v_state LIKE '22%' THEN
			status := 422;
			body := api.problem(422, 'validation-error',
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

-- GET /v1/me: who the token says you are.
CREATE FUNCTION api.me(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_org uuid := api.require_org(p_ctx);
BEGIN
	status := 200;
	body := jsonb_build_object('sub', p_ctx->>'sub', 'roles',
	    p_ctx->'roles', 'org', (SELECT jsonb_build_object('id', o.id,
	    'name', o.name, 'kind', o.kind) FROM organizations o
	    WHERE o.id = v_org));
END $$;

-- For routes served from C: 200 when the token's org is active, else 403.
CREATE FUNCTION api.org_status(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql STABLE AS $$
BEGIN
	PERFORM api.require_org(p_ctx);
	status := 200;
	body := '{}';
END $$;

-- GET /v1/admin/debug/sleep?ms=N (only with CONCORD_DEBUG_ROUTES=1).
CREATE FUNCTION api.debug_sleep(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_ms integer;
BEGIN
	IF coalesce(p_args->'query'->>'ms', '0') !~ '^[0-9]{1,4}$' THEN
		PERFORM api.fail(422, 'validation-error', 'ms must be an '
		    'integer of milliseconds up to 5000.',
		    jsonb_build_array(api.err('ms', 'must be 0..5000')));
	END IF;
	v_ms := least(coalesce(p_args->'query'->>'ms', '0')::integer, 5000);
	PERFORM pg_sleep(v_ms / 1000.0);
	status := 200;
	body := jsonb_build_object('slept_ms', v_ms);
END $$;

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA api FROM PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA api REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
GRANT USAGE ON SCHEMA api TO concord_api;
GRANT EXECUTE ON FUNCTION api.call(text, jsonb, jsonb, jsonb) TO concord_api;
