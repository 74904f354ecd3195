-- admin.sql: operator routes. GET /v1/admin/jobs (api.admin_jobs),
-- POST /v1/admin/jobs/{id}/retry (api.admin_job_retry) and the test-only
-- GET /v1/admin/debug/sleep (api.debug_sleep, CONCORD_DEBUG_ROUTES=1).

-- GET /v1/admin/debug/sleep?ms=N (only with CONCORD_DEBUG_ROUTES=1).
CREATE FUNCTION api.debug_sleep(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_ms integer;
BEGIN
	IF coalesce(p_args->'query'->>'ms', '0') !~ '^[0-9]{1,4}$' THEN
		PERFORM lib.fail(422, 'validation-error', 'ms must be an '
		    'integer of milliseconds up to 5000.',
		    jsonb_build_array(lib.err('ms', 'must be 0..5000')));
	END IF;
	v_ms := least(coalesce(p_args->'query'->>'ms', '0')::integer, 5000);
	PERFORM pg_sleep(v_ms / 1000.0);
	status := 200;
	body := jsonb_build_object('slept_ms', v_ms);
END $$;

/* GET /v1/admin/jobs?state=&kind=&limit=: the queue, newest first. */
CREATE FUNCTION api.admin_jobs(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	v_st	text;
	v_kind	text;
	v_lim	integer;
BEGIN
	PERFORM lib.query_allow(p_args, ARRAY['state', 'kind', 'limit']);
	v_st := lib.query_enum(p_args, 'state', ARRAY['pending', 'done',
	    'dead']);
	v_kind := lib.query_text(p_args, 'kind');
	IF v_kind IS NOT NULL AND v_kind !~ '^[a-z][a-z._]{0,63}$' THEN
		PERFORM lib.bad_query('kind', 'must be a job kind such as '
		    'referral.match');
	END IF;
	v_lim := lib.page_limit(p_args);
	status := 200;
	body := jsonb_build_object('items', coalesce((SELECT jsonb_agg(
	    jsonb_build_object('id', j.id, 'kind', j.kind, 'state', j.state,
	    'attempts', j.attempts, 'run_after', j.run_after, 'last_error',
	    j.last_error, 'created_at', j.created_at, 'updated_at',
	    j.updated_at) ORDER BY j.id DESC) FROM (SELECT * FROM jobs WHERE
	    (v_st IS NULL OR state = v_st) AND (v_kind IS NULL OR kind =
	    v_kind) ORDER BY id DESC LIMIT v_lim) j),
	    '[]'));
	headers := '{}';
END $$;

/* POST /v1/admin/jobs/{id}/retry: a dead (or failed) job runs again. */
CREATE FUNCTION api.admin_job_retry(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	j	jobs;
BEGIN
	SELECT * INTO j FROM jobs WHERE id = (p_args->'path'->>'id')::bigint
	    FOR UPDATE;
	IF j.id IS NULL THEN
		PERFORM lib.fail(404, 'not-found', 'No such job.');
	END IF;
	IF j.state NOT IN ('dead', 'pending') THEN
		PERFORM lib.fail(409, 'invalid-transition', 'Only dead or '
		    'pending jobs can be retried; this one is ' || j.state ||
		    '.');
	END IF;
	UPDATE jobs SET state = 'pending', attempts = 0, run_after = now(),
	    last_error = NULL, updated_at = now() WHERE id = j.id
	    RETURNING * INTO j;
	status := 200;
	body := jsonb_build_object('id', j.id, 'kind', j.kind, 'state',
	    j.state, 'attempts', j.attempts, 'run_after', j.run_after,
	    'last_error', j.last_error, 'created_at', j.created_at,
	    'updated_at', j.updated_at);
	headers := jsonb_build_object('x-concord-jobs', jsonb_build_array(j.id));
END $$;
