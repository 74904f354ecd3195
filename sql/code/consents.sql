-- consents.sql: the victim's consents and what they open. POST/GET
-- /v1/cases/{id}/consents, POST .../consents/{cid}/revoke
-- (api.case_consent_*), and the rule every case response applies: an
-- organization sees a personal category only under a current consent
-- naming it or its kind, recorded by the organization holding the case
-- with the victim. casework.case_holdings says what an organization
-- holds (read at call time, so expiry and revocation act on the next
-- request), casework.case_categories what a caller sees,
-- casework.consent_grantable what an organization may pass on (never
-- more, never longer than it holds; transfers and referrals use it too),
-- casework.consents_end how consents end (and what was passed on from
-- them with them) and casework.case_redacted the categories withheld.
--
-- Derived consents: a consent recorded because a referral was accepted
-- (consents.referral_id) passes on what the referral's sender held, so
-- it can never outlast that hold. Expiry is settled when it is recorded
-- (it expires no later than the sender's own hold,
-- casework.consent_grantable); revocation on revoke: whenever consents
-- end (revoked by the lead or a coordinator, or ended with the referral
-- that recorded them), every derived consent recorded by an
-- organization they named ends too, as a whole, if that organization no
-- longer holds all its categories until its expiry, and so on down a
-- chain of referrals.

/*
 * What an organization holds on a case by its own standing, one row per
 * category with the time its hold ends: the lead that collected the
 * data holds every category for good; a lead that received the case by
 * an accepted transfer holds case_details and needs; everything else
 * (personal categories of a lead by transfer included) comes from
 * current consents naming the organization or its kind, each held until
 * the latest of them expires. Read at call time: expiry and revocation
 * act on the next request. Nothing for a NULL organization.
 */
CREATE FUNCTION casework.case_holdings(p_case uuid, p_org uuid)
RETURNS TABLE (category text, until timestamptz)
LANGUAGE sql STABLE AS $$
	SELECT x, max(u) FROM (
	    SELECT unnest(CASE WHEN c.lead_by_transfer THEN
	        ARRAY['case_details', 'needs'] ELSE ARRAY['case_details',
	        'contact', 'identity', 'location', 'needs'] END) x,
	        'infinity'::timestamptz u
	        FROM cases c WHERE c.id = p_case AND c.lead_org = p_org
	    UNION ALL
	    SELECT unnest(k.categories), k.expires_at FROM consents k
	        WHERE k.case_id = p_case AND k.revoked_at IS NULL
	        AND k.granted_at <= now() AND k.expires_at > now()
	        AND (k.shared_with_org = p_org OR k.shared_with_kind =
	        (SELECT kind FROM organizations WHERE id = p_org))) s
	GROUP BY x
$$;

/*
 * Field level: the categories the caller sees on a case it can see:
 * what its organization holds (casework.case_holdings) where a current
 * agreement allows the category to flow to it (casework.agreement_allows,
 * read at call time like consents), and for admins, coordinators of a
 * task force the case's lead (or a referral's sender) is an active member
 * of (casework.case_coord), and agencies active on an investigation the
 * case is linked to, case_details and needs. p_lead is the case's
 * lead organization (the collecting lead's answer needs no consent).
 */
CREATE FUNCTION casework.case_categories(p_ctx jsonb, p_case uuid, p_lead uuid,
    p_org uuid) RETURNS text[]
LANGUAGE plpgsql STABLE AS $$
BEGIN
	IF p_org IS NOT NULL AND p_org = p_lead AND NOT (SELECT
	    lead_by_transfer FROM cases WHERE id = p_case) THEN
		RETURN ARRAY['case_details', 'contact', 'identity', 'location',
		    'needs'];
	END IF;
	RETURN ARRAY(SELECT DISTINCT x FROM (
	    SELECT h.category x FROM casework.case_holdings(p_case, p_org) h
	    /* ...and a current agreement lets it flow (taskforces.sql). */
	    WHERE casework.agreement_allows(p_org, p_lead, h.category)
	    UNION ALL
	    SELECT unnest(ARRAY['case_details', 'needs'])
	        WHERE casework.case_coord(p_ctx, p_case)
	    UNION ALL
	    /* Agencies on an investigation the case is linked to (cases.sql). */
	    SELECT unnest(ARRAY['case_details', 'needs'])
	        WHERE casework.case_investigation_access(p_case, p_org)) s
	    ORDER BY 1);
END $$;

/*
 * What p_org may pass on of p_cats until p_until: the categories it
 * holds itself, until its own hold of them ends at the latest (an
 * organization never grants more, or for longer, than it has). Returns
 * the categories (empty when none) and the end; can't fail.
 */
CREATE FUNCTION casework.consent_grantable(p_case uuid, p_org uuid,
    p_cats text[], p_until timestamptz, OUT categories text[],
    OUT until timestamptz)
LANGUAGE sql STABLE AS $$
	SELECT coalesce(array_agg(h.category ORDER BY h.category), '{}'),
	    least(p_until, min(h.until))
	FROM casework.case_holdings(p_case, p_org) h
	WHERE h.category = ANY (p_cats)
$$;

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

/*
 * End the consents p_ids of case p_case as the caller in p_ctx (those
 * not revoked already), and with them the derived consents that relied
 * on them (see the head of this file); one audit record (revoke,
 * revoked_at) per consent ended. Can't fail.
 */
CREATE FUNCTION casework.consents_end(p_ctx jsonb, p_case uuid,
    p_ids uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	v_ids	uuid[] := p_ids;
	v_ended	uuid[];
	v_k	uuid;
BEGIN
	/*
	 * One round per link of a chain of referrals: which derived
	 * consents lose their footing depends on what the previous round
	 * ended, so this cannot be one statement. Every round revokes only
	 * consents not revoked yet, so it ends.
	 */
	WHILE cardinality(v_ids) > 0 LOOP
		v_ended := '{}';
		FOR v_k IN UPDATE consents SET revoked_at = now(), revoked_by =
		    p_ctx->>'sub' WHERE id = ANY (v_ids) AND case_id = p_case
		    AND revoked_at IS NULL RETURNING id LOOP
			PERFORM lib.audit(p_ctx, 'revoke', 'consent', v_k,
			    ARRAY['revoked_at']);
			v_ended := v_ended || v_k;
		END LOOP;
		SELECT coalesce(array_agg(d.id), '{}') INTO v_ids
		FROM consents d JOIN organizations o ON o.id = d.recorded_by_org
		CROSS JOIN LATERAL casework.consent_grantable(d.case_id,
		    d.recorded_by_org, d.categories, d.expires_at) g
		WHERE d.case_id = p_case AND d.referral_id IS NOT NULL AND
		    d.revoked_at IS NULL AND d.expires_at > now() AND
		    EXISTS (SELECT 1 FROM consents e WHERE e.id = ANY (v_ended)
		    AND (e.shared_with_org = d.recorded_by_org OR
		    e.shared_with_kind = o.kind)) AND
		    NOT (d.categories <@ g.categories AND g.until >=
		    d.expires_at);
	END LOOP;
END $$;
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

/*
 * Validate the fields of a consent the victim gave (categories, purpose,
 * informed, written, form_ref, granted_at when p_from, expires_at) in
 * p, naming errors p_prefix || field. Returns the errors.
 */
CREATE FUNCTION casework.consent_check(p jsonb, p_prefix text,
    p_from boolean) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	e	jsonb := '[]';
	v_from	timestamptz;
BEGIN
	IF jsonb_typeof(p->'categories') IS DISTINCT FROM 'array' OR
	    jsonb_array_length(p->'categories') = 0 OR EXISTS (SELECT 1
	    FROM jsonb_array_elements(p->'categories') x WHERE NOT
	    lib.is_enum(x, ARRAY['identity', 'contact', 'location',
	    'case_details', 'needs'])) THEN
		e := e || lib.err(p_prefix || 'categories', 'must be a '
		    'non-empty array of identity, contact, location, '
		    'case_details, needs');
	END IF;
	IF NOT lib.is_str(p->'purpose', 1, 500) THEN
		e := e || lib.err(p_prefix || 'purpose', 'must be a string of '
		    '1 to 500 characters');
	END IF;
	IF p->'informed' IS DISTINCT FROM 'true'::jsonb THEN
		e := e || lib.err(p_prefix || 'informed', 'must be true: '
		    'consent is recorded only when informed');
	END IF;
	IF jsonb_typeof(p->'written') IS DISTINCT FROM 'boolean' THEN
		e := e || lib.err(p_prefix || 'written', 'must be a boolean');
	END IF;
	IF p->'written' = 'true'::jsonb AND NOT lib.is_str(p->'form_ref', 1,
	    200) THEN
		e := e || lib.err(p_prefix || 'form_ref', 'is required for '
		    'written consent (the signed form''s reference, 1 to 200 '
		    'characters)');
	ELSIF NOT lib.absent(p->'form_ref') AND NOT lib.is_str(p->'form_ref',
	    1, 200) THEN
		e := e || lib.err(p_prefix || 'form_ref', 'must be a string of '
		    '1 to 200 characters');
	END IF;
	IF p_from AND NOT lib.absent(p->'granted_at') AND NOT lib.is_ts(
	    p->'granted_at') THEN
		e := e || lib.err(p_prefix || 'granted_at', 'must be an RFC '
		    '3339 date-time');
	END IF;
	v_from := CASE WHEN p_from THEN lib.try_ts(p->>'granted_at') END;
	IF NOT lib.is_ts(p->'expires_at') THEN
		e := e || lib.err(p_prefix || 'expires_at', 'is required: an '
		    'RFC 3339 date-time');
	ELSIF lib.try_ts(p->>'expires_at') <= greatest(now(), v_from) THEN
		e := e || lib.err(p_prefix || 'expires_at', 'must be in the '
		    'future and after granted_at');
	END IF;
	RETURN e;
END $$;

/*
 * Errors when p_org may not grant p (checked fields) on the case: a
 * category it does not hold itself, or an expiry after its own hold of
 * those categories ends (casework.consent_grantable).
 */
CREATE FUNCTION casework.consent_grant_check(p_case uuid, p_org uuid,
    p jsonb, p_prefix text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_cats	text[] := lib.text_array(p->'categories', '{}');
	g	record;
	e	jsonb := '[]';
BEGIN
	g := casework.consent_grantable(p_case, p_org, v_cats,
	    (p->>'expires_at')::timestamptz);
	IF NOT v_cats <@ g.categories THEN
		e := e || lib.err(p_prefix || 'categories', 'may name only '
		    'categories your organization holds on this case itself ('
		    || coalesce(nullif(array_to_string(g.categories, ', '), ''),
		    'none') || ')');
	ELSIF g.until < (p->>'expires_at')::timestamptz THEN
		e := e || lib.err(p_prefix || 'expires_at', 'must not be later '
		    'than your organization''s own consent for these '
		    'categories (' || g.until || ')');
	END IF;
	RETURN e;
END $$;

/*
 * Record a checked consent p on case p_case for p_to_org or p_to_kind,
 * as recorded by p_by_sub of p_by_org (the organization holding the
 * case with the victim), optionally because referral p_referral was
 * accepted. Audits as the caller of p_ctx. Returns the consent.
 */
CREATE FUNCTION casework.consent_record(p_ctx jsonb, p_case uuid, p jsonb,
    p_to_org uuid, p_to_kind text, p_by_sub text, p_by_org uuid,
    p_referral uuid DEFAULT NULL) RETURNS consents
LANGUAGE plpgsql AS $$
DECLARE
	k consents;
BEGIN
	INSERT INTO consents (case_id, categories, shared_with_org,
	    shared_with_kind, purpose, informed, written, form_ref,
	    granted_at, expires_at, recorded_by, recorded_by_org, referral_id)
	VALUES (p_case, lib.text_array(p->'categories', '{}'), p_to_org,
	    p_to_kind, p->>'purpose', true, (p->>'written')::boolean,
	    p->>'form_ref', coalesce(lib.try_ts(p->>'granted_at'), now()),
	    (p->>'expires_at')::timestamptz, p_by_sub, p_by_org, p_referral)
	RETURNING * INTO k;
	PERFORM lib.audit(p_ctx, 'create', 'consent', k.id, k.categories);
	RETURN k;
END $$;

/*
 * POST /v1/cases/{id}/consents: the lead organization records a consent
 * the victim gave. 403 not-lead for anyone else; 422 for invalid fields,
 * a consent naming the caller's own organization or kind (nothing an
 * organization does on its own widens its own access), or categories or
 * an expiry beyond what the lead itself holds. Audits the consent.
 */
CREATE FUNCTION api.case_consent_create(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	c	cases;
	k	consents;
	e	jsonb;
BEGIN
	c := casework.case_fetch(p_ctx, lib.path_id(p_args), v_org);
	PERFORM casework.case_require_lead(c, v_org, 'record consents');
	e := lib.check_keys(p_body, '', ARRAY['categories',
	    'shared_with_org_id', 'shared_with_kind', 'purpose', 'informed',
	    'written', 'form_ref', 'granted_at', 'expires_at'], ARRAY['id',
	    'case_id', 'revoked_at', 'recorded_by', 'recorded_by_org_id',
	    'state', 'created_at']);
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
	ELSIF (p_body->>'shared_with_org_id')::uuid = v_org THEN
		e := e || lib.err('shared_with_org_id', 'must not name your '
		    'own organization: a consent is recorded for another one');
	ELSIF NOT lib.absent(p_body->'shared_with_kind') AND NOT lib.is_enum(
	    p_body->'shared_with_kind', ARRAY['law_enforcement',
	    'prosecution', 'victim_services', 'ngo', 'health', 'legal_aid',
	    'government', 'faith_based', 'other']) THEN
		e := e || lib.err('shared_with_kind', 'must be an '
		    'organization kind');
	ELSIF p_body->>'shared_with_kind' = (SELECT kind FROM organizations
	    WHERE id = v_org) THEN
		e := e || lib.err('shared_with_kind', 'must not name your own '
		    'organization''s kind: a consent is recorded for others');
	END IF;
	e := e || casework.consent_check(p_body, '', true);
	IF jsonb_array_length(e) = 0 THEN
		e := casework.consent_grant_check(c.id, v_org, p_body, '');
	END IF;
	PERFORM lib.fail_if(e);
	k := casework.consent_record(p_ctx, c.id, p_body,
	    (p_body->>'shared_with_org_id')::uuid, p_body->>'shared_with_kind',
	    p_ctx->>'sub', v_org);
	status := 201;
	body := casework.consent_doc(k);
	headers := jsonb_build_object('location', '/v1/cases/' || c.id ||
	    '/consents/' || k.id);
END $$;

/*
 * GET /v1/cases/{id}/consents: the lead organization and coordinators
 * see every consent of the case; anyone else who sees the case only the
 * consents naming its organization or its kind. Audited.
 */
CREATE FUNCTION api.case_consent_list(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	c	cases;
	v_all	boolean;
	v_kind	text;
BEGIN
	PERFORM lib.query_allow(p_args, '{}');
	c := casework.case_fetch(p_ctx, lib.path_id(p_args), v_org);
	v_all := casework.case_coord(p_ctx, c.id) OR v_org = c.lead_org;
	SELECT kind INTO v_kind FROM organizations WHERE id = v_org;
	status := 200;
	headers := '{}';
	body := jsonb_build_object('items', coalesce((SELECT jsonb_agg(
	    casework.consent_doc(k) ORDER BY k.created_at, k.id) FROM consents k
	    WHERE k.case_id = c.id AND (v_all OR k.shared_with_org = v_org OR
	    k.shared_with_kind = v_kind)), '[]'));
	PERFORM lib.audit(p_ctx, 'read', 'case', c.id, ARRAY['consents']);
END $$;

/*
 * GET /v1/cases/{id}/consents/{cid}: as the list, the lead organization
 * and coordinators read every consent of the case, anyone else who sees
 * the case only a consent naming its organization or its kind; 404
 * otherwise. Audited.
 */
CREATE FUNCTION api.case_consent_get(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	c	cases;
	k	consents;
BEGIN
	PERFORM lib.query_allow(p_args, '{}');
	c := casework.case_fetch(p_ctx, lib.path_id(p_args), v_org);
	SELECT * INTO k FROM consents WHERE id = lib.path_id(p_args, 'cid')
	    AND case_id = c.id;
	-- IS NOT TRUE: a consent naming a kind has no org (NULL), and NULL
	-- must hide, not pass.
	IF k.id IS NULL OR (casework.case_coord(p_ctx, c.id) OR v_org = c.lead_org OR
	    k.shared_with_org = v_org OR k.shared_with_kind = (SELECT kind
	    FROM organizations WHERE id = v_org)) IS NOT TRUE THEN
		PERFORM lib.fail(404, 'not-found', 'No such consent on this '
		    'case.');
	END IF;
	PERFORM lib.audit(p_ctx, 'read', 'case', c.id, ARRAY['consents']);
	status := 200;
	body := casework.consent_doc(k);
	headers := '{}';
END $$;

/*
 * POST /v1/cases/{id}/consents/{cid}/revoke: the lead organization or a
 * coordinator. Effective on the next request, for the consent and for
 * what referrals passed on from it (casework.consents_end). 404 for a
 * consent not on this case, 409 already-revoked. Audited.
 */
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
	IF NOT casework.case_coord(p_ctx, c.id) THEN
		PERFORM casework.case_require_lead(c, v_org, 'revoke consents');
	END IF;
	IF k.revoked_at IS NOT NULL THEN
		PERFORM lib.fail(409, 'already-revoked', 'This consent was '
		    'revoked already.');
	END IF;
	PERFORM casework.consents_end(p_ctx, c.id, ARRAY[k.id]);
	SELECT * INTO k FROM consents WHERE id = k.id;
	status := 200;
	body := casework.consent_doc(k);
	headers := '{}';
END $$;
