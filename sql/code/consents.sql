-- consents.sql: the victim's consents and what they open. POST/GET
-- /v1/cases/{id}/consents, POST .../consents/{cid}/revoke
-- (api.case_consent_*), and the rule every case response applies:
-- casework.case_categories (the categories a caller sees, read at call
-- time so expiry and revocation act on the next request) and
-- casework.case_redacted (the ones withheld).

/*
 * Field level: the categories the caller sees on a case it can see.
 * Consents are read at call time (no cache): expiry and revocation take
 * effect on the next request.
 */
CREATE FUNCTION casework.case_categories(p_ctx jsonb, p_case uuid, p_lead uuid,
    p_org uuid) RETURNS text[]
LANGUAGE plpgsql STABLE AS $$
BEGIN
	IF p_org IS NOT NULL AND p_org = p_lead THEN
		RETURN ARRAY['case_details', 'contact', 'identity', 'location',
		    'needs'];
	END IF;
	RETURN ARRAY(SELECT DISTINCT x FROM (
	    SELECT unnest(ARRAY['case_details', 'needs']) x
	        WHERE lib.is_coord(p_ctx)
	    UNION ALL
	    SELECT unnest(c.categories) FROM consents c
	        WHERE p_org IS NOT NULL AND c.case_id = p_case
	        AND c.revoked_at IS NULL AND c.granted_at <= now()
	        AND c.expires_at > now()
	        AND (c.shared_with_org = p_org OR c.shared_with_kind =
	        (SELECT kind FROM organizations WHERE id = p_org))) s
	    ORDER BY 1);
END $$;

CREATE FUNCTION casework.case_redacted(p_cats text[]) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	RETURN coalesce((SELECT jsonb_agg(x ORDER BY x) FROM unnest(
	    ARRAY['case_details', 'contact', 'identity', 'location', 'needs'])
	    x WHERE NOT (x = ANY (p_cats))), '[]'::jsonb);
END $$;

----------------------------------------------------------------------
-- Consents
----------------------------------------------------------------------
CREATE FUNCTION casework.consent_doc(k consents) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', k.id, 'case_id', k.case_id,
	    'categories', to_jsonb(k.categories), 'shared_with_org_id',
	    k.shared_with_org, 'shared_with_kind', k.shared_with_kind,
	    'purpose', k.purpose, 'informed', k.informed, 'written',
	    k.written, 'form_ref', k.form_ref, 'granted_at', k.granted_at,
	    'expires_at', k.expires_at, 'revoked_at', k.revoked_at,
	    'recorded_by', k.recorded_by, 'recorded_by_org_id',
	    k.recorded_by_org, 'state', CASE
	    WHEN k.revoked_at IS NOT NULL THEN 'revoked'
	    WHEN k.expires_at <= now() THEN 'expired'
	    WHEN k.granted_at > now() THEN 'pending'
	    ELSE 'active' END)
$$;

-- POST /v1/cases/{id}/consents (the lead organization records them)
CREATE FUNCTION api.case_consent_create(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	c	cases;
	k	consents;
	e	jsonb;
	v_from	timestamptz;
BEGIN
	c := casework.case_fetch(p_ctx, lib.path_id(p_args), v_org);
	PERFORM casework.case_require_lead(c, v_org, 'record consents');
	e := lib.check_keys(p_body, '', ARRAY['categories',
	    'shared_with_org_id', 'shared_with_kind', 'purpose', 'informed',
	    'written', 'form_ref', 'granted_at', 'expires_at'], ARRAY['id',
	    'case_id', 'revoked_at', 'recorded_by', 'recorded_by_org_id',
	    'state', 'created_at']);
	IF jsonb_typeof(p_body->'categories') IS DISTINCT FROM 'array' OR
	    jsonb_array_length(p_body->'categories') = 0 OR EXISTS (SELECT 1
	    FROM jsonb_array_elements(p_body->'categories') x WHERE NOT
	    lib.is_enum(x, ARRAY['identity', 'contact', 'location',
	    'case_details', 'needs'])) THEN
		e := e || lib.err('categories', 'must be a non-empty array of '
		    'identity, contact, location, case_details, needs');
	END IF;
	IF lib.absent(p_body->'shared_with_org_id') =
	    lib.absent(p_body->'shared_with_kind') THEN
		e := e || lib.err('shared_with_org_id', 'give exactly one of '
		    'shared_with_org_id and shared_with_kind');
	ELSIF NOT lib.absent(p_body->'shared_with_org_id') AND (NOT
	    lib.is_uuid(p_body->'shared_with_org_id') OR NOT EXISTS (SELECT 1
	    FROM organizations WHERE id = (p_body->>'shared_with_org_id')
	    ::uuid)) THEN
		e := e || lib.err('shared_with_org_id', 'must name an '
		    'existing organization');
	ELSIF NOT lib.absent(p_body->'shared_with_kind') AND NOT lib.is_enum(
	    p_body->'shared_with_kind', ARRAY['law_enforcement',
	    'prosecution', 'victim_services', 'ngo', 'health', 'legal_aid',
	    'government', 'faith_based', 'other']) THEN
		e := e || lib.err('shared_with_kind', 'must be an '
		    'organization kind');
	END IF;
	IF NOT lib.is_str(p_body->'purpose', 1, 500) THEN
		e := e || lib.err('purpose', 'must be a string of 1 to 500 '
		    'characters');
	END IF;
	IF p_body->'informed' IS DISTINCT FROM 'true'::jsonb THEN
		e := e || lib.err('informed', 'must be true: consent is '
		    'recorded only when informed');
	END IF;
	IF jsonb_typeof(p_body->'written') IS DISTINCT FROM 'boolean' THEN
		e := e || lib.err('written', 'must be a boolean');
	END IF;
	IF p_body->'written' = 'true'::jsonb AND NOT lib.is_str(
	    p_body->'form_ref', 1, 200) THEN
		e := e || lib.err('form_ref', 'is required for written consent '
		    '(the signed form''s reference, 1 to 200 characters)');
	ELSIF NOT lib.absent(p_body->'form_ref') AND NOT lib.is_str(
	    p_body->'form_ref', 1, 200) THEN
		e := e || lib.err('form_ref', 'must be a string of 1 to 200 '
		    'characters');
	END IF;
	IF NOT lib.absent(p_body->'granted_at') AND NOT lib.is_ts(
	    p_body->'granted_at') THEN
		e := e || lib.err('granted_at', 'must be an RFC 3339 date-time');
	END IF;
	v_from := coalesce(lib.try_ts(p_body->>'granted_at'), now());
	IF NOT lib.is_ts(p_body->'expires_at') THEN
		e := e || lib.err('expires_at', 'is required: an RFC 3339 '
		    'date-time');
	ELSIF lib.try_ts(p_body->>'expires_at') <= greatest(now(), v_from) THEN
		e := e || lib.err('expires_at', 'must be in the future and '
		    'after granted_at');
	END IF;
	PERFORM lib.fail_if(e);
	INSERT INTO consents (case_id, categories, shared_with_org,
	    shared_with_kind, purpose, informed, written, form_ref,
	    granted_at, expires_at, recorded_by, recorded_by_org)
	VALUES (c.id, ARRAY(SELECT DISTINCT jsonb_array_elements_text(
	    p_body->'categories') ORDER BY 1),
	    (p_body->>'shared_with_org_id')::uuid, p_body->>'shared_with_kind',
	    p_body->>'purpose', true, (p_body->>'written')::boolean,
	    p_body->>'form_ref', v_from, (p_body->>'expires_at')::timestamptz,
	    p_ctx->>'sub', v_org) RETURNING * INTO k;
	PERFORM lib.audit(p_ctx, 'create', 'consent', k.id, k.categories);
	status := 201;
	body := casework.consent_doc(k);
	headers := jsonb_build_object('location', '/v1/cases/' || c.id ||
	    '/consents/' || k.id);
END $$;

-- GET /v1/cases/{id}/consents
CREATE FUNCTION api.case_consent_list(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	c	cases;
BEGIN
	PERFORM lib.query_allow(p_args, '{}');
	c := casework.case_fetch(p_ctx, lib.path_id(p_args), v_org);
	status := 200;
	headers := '{}';
	body := jsonb_build_object('items', coalesce((SELECT jsonb_agg(
	    casework.consent_doc(k) ORDER BY k.created_at, k.id) FROM consents k
	    WHERE k.case_id = c.id), '[]'));
	PERFORM lib.audit(p_ctx, 'read', 'case', c.id, ARRAY['consents']);
END $$;

-- POST /v1/cases/{id}/consents/{cid}/revoke (effective immediately)
CREATE FUNCTION api.case_consent_revoke(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	c	cases;
	k	consents;
BEGIN
	c := casework.case_fetch(p_ctx, lib.path_id(p_args), v_org);
	SELECT * INTO k FROM consents WHERE id = lib.path_id(p_args, 'cid')
	    AND case_id = c.id FOR UPDATE;
	IF k.id IS NULL THEN
		PERFORM lib.fail(404, 'not-found', 'No such consent on this '
		    'case.');
	END IF;
	IF NOT lib.is_coord(p_ctx) THEN
		PERFORM casework.case_require_lead(c, v_org, 'revoke consents');
	END IF;
	IF k.revoked_at IS NOT NULL THEN
		PERFORM lib.fail(409, 'already-revoked', 'This consent was '
		    'revoked already.');
	END IF;
	UPDATE consents SET revoked_at = now(), revoked_by = p_ctx->>'sub'
	    WHERE id = k.id RETURNING * INTO k;
	PERFORM lib.audit(p_ctx, 'revoke', 'consent', k.id, ARRAY['revoked_at']);
	status := 200;
	body := casework.consent_doc(k);
	headers := '{}';
END $$;
