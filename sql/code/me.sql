-- me.sql: who the caller is. GET /v1/me (api.me), and the organization
-- check the routes served from C ask for (api.org_status).

-- GET /v1/me: who the token says you are.
CREATE FUNCTION api.me(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_org uuid := lib.require_org(p_ctx);
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
	PERFORM lib.require_org(p_ctx);
	status := 200;
	body := '{}';
END $$;
