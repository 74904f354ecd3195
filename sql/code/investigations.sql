-- investigations.sql: the criminal-justice side. POST/GET/PATCH
-- /v1/investigations (api.investigation_*), participating agencies
-- (pending until they accept: POST .../participation/accept, decline),
-- and linking cases (POST/GET /v1/investigations/{id}/cases), which
-- needs a consent naming the linking agency (casework.case_link_consent).

----------------------------------------------------------------------
-- Investigations (criminal-justice side)
----------------------------------------------------------------------
CREATE FUNCTION casework.investigation_doc(i investigations) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', i.id, 'title', i.title,
	    'lead_agency_id', i.lead_agency,
	    'participating_agency_ids', coalesce((SELECT jsonb_agg(a.org_id
	    ORDER BY a.org_id) FROM investigation_agencies a WHERE
	    a.investigation_id = i.id AND a.role = 'participating' AND
	    a.status IN ('pending', 'active')), '[]'),
	    'agencies', coalesce((SELECT jsonb_agg(jsonb_build_object(
	    'org_id', a.org_id, 'role', a.role, 'status', a.status) ORDER BY
	    a.role, a.org_id) FROM investigation_agencies a WHERE
	    a.investigation_id = i.id), '[]'),
	    'prosecution_org_ids', coalesce((SELECT jsonb_agg(a.org_id
	    ORDER BY a.org_id) FROM investigation_agencies a WHERE
	    a.investigation_id = i.id AND a.role = 'prosecution'), '[]'),
	    'jurisdictions', to_jsonb(i.jurisdictions), 'status', i.status,
	    'outcome', i.outcome, 'suspects_identified',
	    i.suspects_identified, 'needs', i.needs, 'key_dates', i.key_dates,
	    'linked_cases', (SELECT count(*) FROM investigation_cases l
	    WHERE l.investigation_id = i.id), 'version', i.version,
	    'created_by', i.created_by, 'created_at', i.created_at,
	    'updated_at', i.updated_at)
$$;

/*
 * Who sees an investigation: coordinators and admins, and the agencies
 * on it that neither declined nor ended their participation (a pending
 * agency reads it to decide).
 */
CREATE FUNCTION casework.investigation_visible(p_ctx jsonb, p_id uuid,
    p_org uuid) RETURNS boolean LANGUAGE sql STABLE AS $$
	SELECT lib.is_coord(p_ctx) OR (p_org IS NOT NULL AND EXISTS (
	    SELECT 1 FROM investigation_agencies a WHERE
	    a.investigation_id = p_id AND a.org_id = p_org AND
	    a.status IN ('pending', 'active')))
$$;

/* Is p_org on the investigation and active (accepted, or the lead)? */
CREATE FUNCTION casework.investigation_active(p_id uuid, p_org uuid)
RETURNS boolean LANGUAGE sql STABLE AS $$
	SELECT EXISTS (SELECT 1 FROM investigation_agencies a WHERE
	    a.investigation_id = p_id AND a.org_id = p_org AND
	    a.status = 'active')
$$;

CREATE FUNCTION casework.investigation_fetch(p_ctx jsonb, p_id uuid, p_org uuid,
    p_lock boolean DEFAULT false) RETURNS investigations
LANGUAGE plpgsql AS $$
DECLARE
	i investigations;
BEGIN
	IF p_lock THEN
		SELECT * INTO i FROM investigations WHERE id = p_id FOR UPDATE;
	ELSE
		SELECT * INTO i FROM investigations WHERE id = p_id;
	END IF;
	IF i.id IS NULL OR NOT casework.investigation_visible(p_ctx, p_id, p_org)
	    THEN
		PERFORM lib.fail(404, 'not-found', 'No such investigation.');
	END IF;
	RETURN i;
END $$;

-- Every id in p (an array) names an active organization of p_kind.
CREATE FUNCTION casework.is_org_array(p jsonb, p_kind text) RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT coalesce(jsonb_typeof(p) = 'array' AND jsonb_array_length(p)
	    <= 50 AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(p) x
	    WHERE NOT lib.is_uuid(x) OR NOT EXISTS (SELECT 1 FROM
	    organizations o WHERE o.id = (x #>> '{}')::uuid AND
	    o.kind = p_kind AND o.status = 'active')), false)
$$;

CREATE FUNCTION casework.investigation_validate(p_body jsonb, p_create boolean,
    p_coord boolean) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	e	jsonb;
	x	jsonb;
	n	integer := 0;
BEGIN
	e := lib.check_keys(p_body, '', ARRAY['title', 'participating_agency_ids',
	    'prosecution_org_ids', 'jurisdictions', 'status', 'outcome',
	    'suspects_identified', 'needs', 'key_dates'] || CASE WHEN p_coord
	    THEN ARRAY['lead_agency_id'] ELSE '{}' END, ARRAY['id',
	    'lead_agency_id', 'version', 'created_by', 'created_at',
	    'updated_at', 'linked_cases']);
	IF (p_create OR p_body ? 'title') AND
	    NOT lib.is_str(p_body->'title', 1, 200) THEN
		e := e || lib.err('title', 'must be a string of 1 to 200 '
		    'characters');
	END IF;
	IF p_coord AND (p_create OR p_body ? 'lead_agency_id') AND NOT
	    casework.is_org_array(jsonb_build_array(p_body->'lead_agency_id'),
	    'law_enforcement') THEN
		e := e || lib.err('lead_agency_id', 'must name an active '
		    'law enforcement organization');
	END IF;
	IF p_body ? 'participating_agency_ids' AND NOT casework.is_org_array(
	    p_body->'participating_agency_ids', 'law_enforcement') THEN
		e := e || lib.err('participating_agency_ids', 'must be an array '
		    'of active law enforcement organization ids');
	END IF;
	IF p_body ? 'prosecution_org_ids' AND NOT casework.is_org_array(
	    p_body->'prosecution_org_ids', 'prosecution') THEN
		e := e || lib.err('prosecution_org_ids', 'must be an array of '
		    'active prosecution organization ids');
	END IF;
	IF p_body ? 'jurisdictions' AND NOT lib.is_str_array(
	    p_body->'jurisdictions', 50, 100) THEN
		e := e || lib.err('jurisdictions', 'must be an array of up to 50 '
		    'strings');
	END IF;
	IF p_body ? 'status' AND NOT lib.is_enum(p_body->'status',
	    ARRAY['open', 'charges_filed', 'prosecution', 'closed']) THEN
		e := e || lib.err('status', 'must be one of open, charges_filed, '
		    'prosecution, closed');
	END IF;
	IF NOT lib.absent(p_body->'outcome') AND NOT lib.is_str(
	    p_body->'outcome', 1, 500) THEN
		e := e || lib.err('outcome', 'must be a string of 1 to 500 '
		    'characters');
	END IF;
	IF p_body ? 'suspects_identified' AND NOT lib.is_int(
	    p_body->'suspects_identified', 0, 100000) THEN
		e := e || lib.err('suspects_identified', 'must be a count (an '
		    'integer from 0)');
	END IF;
	IF p_body ? 'needs' THEN
		IF jsonb_typeof(p_body->'needs') IS DISTINCT FROM 'array' THEN
			e := e || lib.err('needs', 'must be an array of {code, '
			    'status}');
		ELSE
			FOR x IN SELECT * FROM jsonb_array_elements(p_body->'needs')
			    LOOP
				IF jsonb_typeof(x) IS DISTINCT FROM 'object' OR
				    x - 'code' - 'status' <> '{}'::jsonb OR
				    NOT lib.is_str(x->'code', 1, 100) OR
				    NOT EXISTS (SELECT 1 FROM need_taxonomy WHERE
				    code = x->>'code' AND grp = 'criminal_justice')
				    OR NOT lib.is_enum(x->'status',
				    casework.need_statuses()) THEN
					e := e || lib.err(format('needs[%s]', n),
					    'must be {code: a criminal-justice need '
					    'code, status: a need status}');
				END IF;
				n := n + 1;
			END LOOP;
			IF (SELECT count(DISTINCT v->>'code') <> count(*) FROM
			    jsonb_array_elements(p_body->'needs') v) THEN
				e := e || lib.err('needs', 'lists a code twice');
			END IF;
		END IF;
	END IF;
	n := 0;
	IF p_body ? 'key_dates' THEN
		IF jsonb_typeof(p_body->'key_dates') IS DISTINCT FROM 'array' OR
		    jsonb_array_length(p_body->'key_dates') > 100 THEN
			e := e || lib.err('key_dates', 'must be an array of {kind, '
			    'at, label}');
		ELSE
			FOR x IN SELECT * FROM jsonb_array_elements(
			    p_body->'key_dates') LOOP
				IF jsonb_typeof(x) IS DISTINCT FROM 'object' OR
				    x - 'kind' - 'at' - 'label' <> '{}'::jsonb OR
				    NOT lib.is_enum(x->'kind', ARRAY['court_date',
				    'arrest', 'charges_filed', 'other']) OR
				    NOT lib.is_ts(x->'at') OR (x ? 'label' AND
				    NOT lib.is_str(x->'label', 1, 200)) THEN
					e := e || lib.err(format('key_dates[%s]', n),
					    'must be {kind: court_date, arrest, '
					    'charges_filed or other, at: date-time, '
					    'label?}');
				END IF;
				n := n + 1;
			END LOOP;
		END IF;
	END IF;
	RETURN e;
END $$;

/*
 * Write the agencies and court-date tasks of an investigation from
 * p_body: the lead agency is active; a participating agency newly
 * listed (or listed again after declining) is pending until it accepts,
 * one still listed keeps its answer (one that declined or ended its
 * participation is pending again); prosecution offices are active.
 * `needs` sets the tracked needs (casework.investigation_needs_set). A
 * court date gets an open task for the lead agency; a task whose court
 * date left the list is cancelled.
 */
CREATE FUNCTION casework.investigation_apply(i investigations, p_body jsonb,
    p_ctx jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	x jsonb;
BEGIN
	INSERT INTO investigation_agencies (investigation_id, org_id, role,
	    status) VALUES (i.id, i.lead_agency, 'lead', 'active')
	    ON CONFLICT (investigation_id, org_id) DO UPDATE SET role = 'lead',
	    status = 'active';
	DELETE FROM investigation_agencies WHERE investigation_id = i.id AND
	    role = 'lead' AND org_id <> i.lead_agency;
	IF p_body ? 'participating_agency_ids' THEN
		DELETE FROM investigation_agencies WHERE investigation_id = i.id
		    AND role = 'participating' AND org_id NOT IN (SELECT
		    (v #>> '{}')::uuid FROM jsonb_array_elements(
		    p_body->'participating_agency_ids') v);
		INSERT INTO investigation_agencies (investigation_id, org_id,
		    role, status) SELECT DISTINCT i.id, (v #>> '{}')::uuid,
		    'participating', 'pending' FROM
		    jsonb_array_elements(p_body->'participating_agency_ids') v
		    ON CONFLICT (investigation_id, org_id) DO UPDATE SET
		    status = 'pending' WHERE investigation_agencies.role =
		    'participating' AND investigation_agencies.status IN
		    ('declined', 'ended');
	END IF;
	IF p_body ? 'prosecution_org_ids' THEN
		DELETE FROM investigation_agencies WHERE investigation_id = i.id
		    AND role = 'prosecution';
		INSERT INTO investigation_agencies (investigation_id, org_id,
		    role, status) SELECT DISTINCT i.id, (v #>> '{}')::uuid,
		    'prosecution', 'active' FROM
		    jsonb_array_elements(p_body->'prosecution_org_ids') v
		    ON CONFLICT DO NOTHING;
	END IF;
	IF p_body ? 'needs' THEN
		PERFORM casework.investigation_needs_set(i, p_body->'needs',
		    p_ctx);
	END IF;
	IF p_body ? 'key_dates' THEN
		UPDATE tasks SET status = 'cancelled', version = version + 1,
		    updated_at = now() WHERE investigation_id = i.id AND
		    kind = 'court_date' AND status IN ('open', 'in_progress') AND
		    due_at NOT IN (SELECT (k->>'at')::timestamptz FROM
		    jsonb_array_elements(i.key_dates) k WHERE k->>'kind' =
		    'court_date');
		FOR x IN SELECT * FROM jsonb_array_elements(i.key_dates) LOOP
			CONTINUE WHEN x->>'kind' <> 'court_date' OR EXISTS (
			    SELECT 1 FROM tasks WHERE investigation_id = i.id AND
			    kind = 'court_date' AND due_at = (x->>'at')::timestamptz
			    AND status IN ('open', 'in_progress'));
			INSERT INTO tasks (investigation_id, title, kind, due_at,
			    assigned_org, created_by) VALUES (i.id, coalesce(
			    x->>'label', 'Court date: ' || i.title), 'court_date',
			    (x->>'at')::timestamptz, i.lead_agency, p_ctx->>'sub');
		END LOOP;
	END IF;
END $$;

-- POST /v1/investigations (an investigator's agency leads; a
-- coordinator names the lead agency)
CREATE FUNCTION api.investigation_create(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	v_coord	boolean := lib.has_role(p_ctx, 'coordinator');
	v_lead	uuid;
	i	investigations;
BEGIN
	PERFORM lib.fail_if(casework.investigation_validate(p_body, true, v_coord));
	v_lead := CASE WHEN v_coord THEN (p_body->>'lead_agency_id')::uuid
	    ELSE v_org END;
	IF NOT EXISTS (SELECT 1 FROM organizations WHERE id = v_lead AND
	    kind = 'law_enforcement') THEN
		PERFORM lib.fail(403, 'lead-not-allowed', 'An investigation is '
		    'led by a law enforcement agency.');
	END IF;
	IF coalesce(p_body->>'status', 'open') = 'closed' AND
	    lib.absent(p_body->'outcome') THEN
		PERFORM lib.fail(422, 'validation-error', 'A closed '
		    'investigation needs an outcome.', jsonb_build_array(
		    lib.err('outcome', 'is required when status is closed')));
	END IF;
	INSERT INTO investigations (title, lead_agency, jurisdictions, status,
	    outcome, suspects_identified, needs, key_dates, created_by)
	VALUES (p_body->>'title', v_lead, coalesce(lib.jtext_array(
	    p_body->'jurisdictions'), '{}'), coalesce(p_body->>'status',
	    'open'), CASE WHEN coalesce(p_body->>'status', 'open') = 'closed'
	    THEN p_body->>'outcome' END, coalesce((p_body->>
	    'suspects_identified')::integer, 0), coalesce(p_body->'needs',
	    '[]'), coalesce(p_body->'key_dates', '[]'), p_ctx->>'sub')
	RETURNING * INTO i;
	PERFORM casework.investigation_apply(i, p_body, p_ctx);
	PERFORM lib.audit(p_ctx, 'create', 'investigation', i.id, ARRAY(
	    SELECT jsonb_object_keys(p_body) ORDER BY 1));
	status := 201;
	body := casework.investigation_doc(i);
	headers := lib.etag_header('investigation', i.id, i.version) ||
	    jsonb_build_object('location',
	    '/v1/investigations/' || i.id);
END $$;

-- GET /v1/investigations/{id}
CREATE FUNCTION api.investigation_get(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	i	investigations;
BEGIN
	PERFORM lib.query_allow(p_args, '{}');
	i := casework.investigation_fetch(p_ctx, lib.path_id(p_args), v_org);
	PERFORM lib.audit(p_ctx, 'read', 'investigation', i.id, '{}');
	status := 200;
	body := casework.investigation_doc(i);
	headers := lib.etag_header('investigation', i.id, i.version);
END $$;

-- GET /v1/investigations?status=&lead_agency_id=&updated_since=
CREATE FUNCTION api.investigation_list(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	v_coord	boolean := lib.is_coord(p_ctx);
	v_limit	integer;
	v_after	bigint;
	v_st	text;
	v_lead	uuid;
	v_since	timestamptz;
	v_items	jsonb := '[]';
	v_last	bigint;
	v_n	integer := 0;
	i	investigations;
BEGIN
	PERFORM lib.query_allow(p_args, ARRAY['status', 'lead_agency_id',
	    'updated_since', 'limit', 'cursor']);
	v_limit := lib.page_limit(p_args);
	v_after := (lib.cursor_decode(p_args, 'investigations',
	    '{seq:int}')->>'seq')::bigint;
	v_st := lib.query_enum(p_args, 'status', ARRAY['open',
	    'charges_filed', 'prosecution', 'closed']);
	v_lead := lib.query_uuid(p_args, 'lead_agency_id');
	v_since := lib.query_ts(p_args, 'updated_since');
	FOR i IN SELECT * FROM investigations x
	    WHERE (v_after IS NULL OR x.seq > v_after)
	    AND (v_st IS NULL OR x.status = v_st)
	    AND (v_lead IS NULL OR x.lead_agency = v_lead)
	    AND (v_since IS NULL OR x.updated_at >= v_since)
	    AND (v_coord OR x.id IN (SELECT a.investigation_id FROM
	        investigation_agencies a WHERE a.org_id = v_org AND
	        a.status IN ('pending', 'active')))
	    ORDER BY x.seq LIMIT v_limit + 1 LOOP
		v_n := v_n + 1;
		EXIT WHEN v_n > v_limit;
		v_last := i.seq;
		v_items := v_items || casework.investigation_doc(i);
		PERFORM lib.audit(p_ctx, 'list', 'investigation', i.id, '{}');
	END LOOP;
	status := 200;
	headers := '{}';
	body := jsonb_build_object('items', v_items, 'next_cursor',
	    CASE WHEN v_n > v_limit THEN lib.cursor_encode(
	    'investigations', jsonb_build_object('seq', v_last)) END);
END $$;

-- PATCH /v1/investigations/{id} (an active agency on it or a coordinator)
CREATE FUNCTION api.investigation_update(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	v_coord	boolean := lib.has_role(p_ctx, 'coordinator');
	i	investigations;
	v_st	text;
	v_out	text;
BEGIN
	i := casework.investigation_fetch(p_ctx, lib.path_id(p_args), v_org, true);
	IF NOT v_coord AND NOT casework.investigation_active(i.id, v_org) THEN
		PERFORM lib.fail(403, 'not-on-investigation', 'Only agencies on '
		    'the investigation (a listed one once it accepted) or a '
		    'coordinator may change it.');
	END IF;
	/*
	 * Who is on it decides who sees it and which consents can link
	 * cases: only the lead agency or a coordinator changes membership.
	 */
	IF NOT v_coord AND v_org IS DISTINCT FROM i.lead_agency AND
	    (p_body ? 'participating_agency_ids' OR p_body ?
	    'prosecution_org_ids' OR p_body ? 'lead_agency_id') THEN
		PERFORM lib.fail(403, 'lead-agency-only', 'Only the lead agency '
		    'or a coordinator may change who is on the investigation.',
		    (SELECT jsonb_agg(lib.err(k, 'only the lead agency may set '
		    'it')) FROM jsonb_object_keys(p_body) k WHERE k IN
		    ('participating_agency_ids', 'prosecution_org_ids',
		    'lead_agency_id')));
	END IF;
	PERFORM lib.fail_if(casework.investigation_validate(p_body, false,
	    v_coord));
	PERFORM lib.if_match(p_args, 'investigation', i.id, i.version);
	v_st := coalesce(p_body->>'status', i.status);
	v_out := CASE WHEN v_st <> 'closed' THEN NULL WHEN p_body ? 'outcome'
	    THEN p_body->>'outcome' ELSE i.outcome END;
	IF v_st = 'closed' AND v_out IS NULL THEN
		PERFORM lib.fail(422, 'validation-error', 'A closed '
		    'investigation needs an outcome.', jsonb_build_array(
		    lib.err('outcome', 'is required when status is closed')));
	END IF;
	UPDATE investigations SET title = coalesce(p_body->>'title', title),
	    lead_agency = coalesce((p_body->>'lead_agency_id')::uuid,
	    lead_agency), jurisdictions = coalesce(lib.jtext_array(
	    p_body->'jurisdictions'), jurisdictions), status = v_st,
	    outcome = v_out, suspects_identified = coalesce((p_body->>
	    'suspects_identified')::integer, suspects_identified),
	    needs = coalesce(p_body->'needs', needs), key_dates = coalesce(
	    p_body->'key_dates', key_dates), version = version + 1,
	    updated_at = now() WHERE id = i.id RETURNING * INTO i;
	PERFORM casework.investigation_apply(i, p_body, p_ctx);
	PERFORM lib.audit(p_ctx, 'update', 'investigation', i.id, ARRAY(
	    SELECT jsonb_object_keys(p_body) ORDER BY 1));
	status := 200;
	body := casework.investigation_doc(i);
	headers := lib.etag_header('investigation', i.id, i.version);
END $$;

/*
 * The current consent on a case naming p_org or its kind (the latest to
 * expire), or NULL: what lets that organization link the case.
 */
CREATE FUNCTION casework.case_link_consent(p_case uuid, p_org uuid)
RETURNS uuid
LANGUAGE sql STABLE AS $$
	SELECT k.id FROM consents k WHERE k.case_id = p_case AND
	    k.revoked_at IS NULL AND k.granted_at <= now() AND
	    k.expires_at > now() AND (k.shared_with_org = p_org OR
	    k.shared_with_kind = (SELECT kind FROM organizations WHERE
	    id = p_org))
	ORDER BY k.expires_at DESC LIMIT 1
$$;

/*
 * Does any current consent on the case name law enforcement or an
 * agency on the investigation? Then the case's existence is no secret
 * to the agencies on it (409 rather than 404 on a refused link).
 */
CREATE FUNCTION casework.case_known_to_investigation(p_case uuid,
    p_inv uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT EXISTS (SELECT 1 FROM consents k WHERE k.case_id = p_case AND
	    k.revoked_at IS NULL AND k.granted_at <= now() AND
	    k.expires_at > now() AND (k.shared_with_kind = 'law_enforcement'
	    OR k.shared_with_org IN (SELECT a.org_id FROM
	    investigation_agencies a WHERE a.investigation_id = p_inv)))
$$;

CREATE FUNCTION casework.link_doc(l investigation_cases) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('investigation_id', l.investigation_id,
	    'case_id', l.case_id, 'case_number', (SELECT case_number FROM
	    cases WHERE id = l.case_id), 'kind', (SELECT kind FROM cases
	    WHERE id = l.case_id), 'consent_id', l.consent_id,
	    'consent_active', casework.case_link_consent(l.case_id,
	    l.linked_by_org) IS NOT NULL, 'opened_on_investigation',
	    l.consent_id IS NULL, 'linked_by', l.linked_by,
	    'linked_by_org_id', l.linked_by_org, 'linked_at', l.linked_at)
$$;

/*
 * POST /v1/investigations/{id}/cases {case_id}: an active agency on the
 * investigation (or a coordinator) links a case under a current consent
 * naming its own organization or its kind; another agency's consent is
 * not its own. 409 consent-required when the caller may see the case or
 * a consent on it names law enforcement or an agency on the
 * investigation; 404 otherwise, so the id's existence does not leak.
 */
CREATE FUNCTION api.investigation_case_link(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	i	investigations;
	v_case	uuid;
	v_k	uuid;
	v_found	boolean;
	l	investigation_cases;
BEGIN
	/* Locked: two links of one case at once give one link and 409
	 * already-linked, not a unique violation. */
	i := casework.investigation_fetch(p_ctx, lib.path_id(p_args), v_org,
	    true);
	IF NOT lib.has_role(p_ctx, 'coordinator') AND NOT
	    casework.investigation_active(i.id, v_org) THEN
		PERFORM lib.fail(403, 'not-on-investigation', 'Only agencies on '
		    'the investigation (a listed one once it accepted) or a '
		    'coordinator may link cases.');
	END IF;
	PERFORM lib.fail_if(lib.check_keys(p_body, '', ARRAY['case_id'],
	    ARRAY['investigation_id', 'consent_id', 'linked_by', 'linked_at']));
	IF NOT lib.is_uuid(p_body->'case_id') THEN
		PERFORM lib.fail(422, 'validation-error', 'case_id is required.',
		    jsonb_build_array(lib.err('case_id', 'must be a case id')));
	END IF;
	v_case := (p_body->>'case_id')::uuid;
	PERFORM 1 FROM cases WHERE id = v_case FOR SHARE;
	v_found := FOUND;
	v_k := casework.case_link_consent(v_case, v_org);
	IF NOT v_found OR (v_k IS NULL AND NOT casework.case_visible(p_ctx,
	    v_case, v_org) AND NOT casework.case_known_to_investigation(
	    v_case, i.id)) THEN
		PERFORM lib.fail(404, 'not-found', 'No such case.');
	END IF;
	IF v_k IS NULL THEN
		PERFORM lib.fail(409, 'consent-required', 'Linking a case to an '
		    'investigation needs a current consent on the case naming '
		    'your organization or its kind.');
	END IF;
	IF EXISTS (SELECT 1 FROM investigation_cases WHERE investigation_id =
	    i.id AND case_id = v_case) THEN
		PERFORM lib.fail(409, 'already-linked', 'This case is linked to '
		    'the investigation already.');
	END IF;
	INSERT INTO investigation_cases (investigation_id, case_id, consent_id,
	    linked_by, linked_by_org) VALUES (i.id, v_case, v_k, p_ctx->>'sub',
	    v_org) RETURNING * INTO l;
	PERFORM lib.audit(p_ctx, 'link', 'investigation', i.id, ARRAY[
	    'case_id']);
	PERFORM lib.audit(p_ctx, 'link', 'case', v_case, ARRAY[
	    'investigation_id']);
	status := 201;
	body := casework.link_doc(l);
	headers := jsonb_build_object('location', '/v1/investigations/' ||
	    i.id || '/cases/' || v_case);
END $$;

/*
 * POST /v1/investigations/{id}/participation/accept and /decline: a
 * participating agency answers being listed on an investigation. Only a
 * pending agency answers (409 not-pending once it did; 404 for anyone
 * not listed). Returns the investigation; audited.
 */
CREATE FUNCTION casework.investigation_participation_answer(p_ctx jsonb,
    p_args jsonb, p_accept boolean, OUT status integer, OUT body jsonb,
    OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	i	investigations;
	a	investigation_agencies;
BEGIN
	SELECT * INTO i FROM investigations WHERE id = lib.path_id(p_args)
	    FOR UPDATE;
	SELECT * INTO a FROM investigation_agencies WHERE investigation_id =
	    i.id AND org_id = v_org AND role = 'participating' FOR UPDATE;
	IF i.id IS NULL OR a.org_id IS NULL OR a.status IN ('declined',
	    'ended') THEN
		PERFORM lib.fail(404, 'not-found', 'No such investigation '
		    'listing your organization.');
	END IF;
	IF a.status <> 'pending' THEN
		PERFORM lib.fail(409, 'not-pending', 'Your organization has '
		    'answered already.');
	END IF;
	UPDATE investigation_agencies SET status = CASE WHEN p_accept THEN
	    'active' ELSE 'declined' END WHERE investigation_id = i.id AND
	    org_id = v_org;
	PERFORM lib.audit(p_ctx, CASE WHEN p_accept THEN 'participation_accept'
	    ELSE 'participation_decline' END, 'investigation', i.id,
	    ARRAY['agencies']);
	status := 200;
	body := casework.investigation_doc(i);
	headers := lib.etag_header('investigation', i.id, i.version);
END $$;

CREATE FUNCTION api.investigation_participation_accept(p_ctx jsonb,
    p_args jsonb, p_body jsonb, OUT status integer, OUT body jsonb,
    OUT headers jsonb)
LANGUAGE sql AS $$
	SELECT * FROM casework.investigation_participation_answer(p_ctx,
	    p_args, true)
$$;

CREATE FUNCTION api.investigation_participation_decline(p_ctx jsonb,
    p_args jsonb, p_body jsonb, OUT status integer, OUT body jsonb,
    OUT headers jsonb)
LANGUAGE sql AS $$
	SELECT * FROM casework.investigation_participation_answer(p_ctx,
	    p_args, false)
$$;

/*
 * The investigation p_id whose case links the caller reads: coordinators,
 * admins and agencies active on it. A pending agency reads the
 * investigation to decide, not its cases: 404, as for anyone else.
 */
CREATE FUNCTION casework.investigation_links_fetch(p_ctx jsonb, p_id uuid,
    p_org uuid) RETURNS investigations
LANGUAGE plpgsql AS $$
DECLARE
	i investigations;
BEGIN
	i := casework.investigation_fetch(p_ctx, p_id, p_org);
	IF NOT lib.is_coord(p_ctx) AND NOT casework.investigation_active(i.id,
	    p_org) THEN
		PERFORM lib.fail(404, 'not-found', 'No such investigation.');
	END IF;
	RETURN i;
END $$;

-- GET /v1/investigations/{id}/cases (casework.investigation_links_fetch)
CREATE FUNCTION api.investigation_case_list(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	i	investigations;
BEGIN
	PERFORM lib.query_allow(p_args, '{}');
	i := casework.investigation_links_fetch(p_ctx, lib.path_id(p_args),
	    v_org);
	PERFORM lib.audit(p_ctx, 'list', 'investigation', i.id, ARRAY[
	    'case_id']);
	status := 200;
	headers := '{}';
	body := jsonb_build_object('items', coalesce((SELECT jsonb_agg(
	    casework.link_doc(l) ORDER BY l.linked_at, l.case_id) FROM
	    investigation_cases l WHERE l.investigation_id = i.id), '[]'));
END $$;

/*
 * GET /v1/investigations/{id}/cases/{cid}: one link, for whoever reads
 * the investigation's list (casework.investigation_links_fetch); 404 for
 * a case not linked to it. Audited.
 */
CREATE FUNCTION api.investigation_case_get(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	i	investigations;
	l	investigation_cases;
BEGIN
	PERFORM lib.query_allow(p_args, '{}');
	i := casework.investigation_links_fetch(p_ctx, lib.path_id(p_args),
	    v_org);
	SELECT * INTO l FROM investigation_cases WHERE investigation_id = i.id
	    AND case_id = lib.path_id(p_args, 'cid');
	IF l.case_id IS NULL THEN
		PERFORM lib.fail(404, 'not-found', 'No such case linked to this '
		    'investigation.');
	END IF;
	PERFORM lib.audit(p_ctx, 'read', 'investigation', i.id, ARRAY[
	    'case_id']);
	status := 200;
	headers := '{}';
	body := casework.link_doc(l);
END $$;

----------------------------------------------------------------------
-- Criminal-justice needs of an investigation: tracked items with a
-- status and its history (identified -> referred -> in_progress ->
-- met/unmet, as a case's needs), referred to organizations whose
-- services cover them. investigations.needs is rewritten from these
-- rows ([{code, status}]) for the investigation document and reports.
-- A need that concerns one person (witness support) is recorded on
-- that person's record (POST /v1/cases/{id}/needs on a witness record).
----------------------------------------------------------------------

/* Rewrite investigations.needs of p_inv from its tracked needs. */
CREATE FUNCTION casework.investigation_needs_sync(p_inv uuid) RETURNS void
LANGUAGE sql AS $$
	UPDATE investigations SET needs = coalesce((SELECT jsonb_agg(
	    jsonb_build_object('code', n.code, 'status', n.status) ORDER BY
	    n.created_at, n.code) FROM investigation_needs n WHERE
	    n.investigation_id = p_inv), '[]') WHERE id = p_inv
$$;

/*
 * Set need p_need's status (or insert the need p_code of investigation
 * p_inv) as the caller in p_ctx, with its history and an audit record;
 * an unchanged status is left alone. Returns the need.
 */
CREATE FUNCTION casework.investigation_need_put(p_ctx jsonb, p_inv uuid,
    p_code text, p_status text) RETURNS investigation_needs
LANGUAGE plpgsql AS $$
DECLARE
	n investigation_needs;
BEGIN
	SELECT * INTO n FROM investigation_needs WHERE investigation_id = p_inv
	    AND code = p_code FOR UPDATE;
	IF n.id IS NULL THEN
		INSERT INTO investigation_needs (investigation_id, code, status)
		    VALUES (p_inv, p_code, p_status) RETURNING * INTO n;
		PERFORM lib.audit(p_ctx, 'create', 'investigation_need', n.id,
		    ARRAY['code', 'status']);
	ELSIF n.status = p_status THEN
		RETURN n;
	ELSE
		UPDATE investigation_needs SET status = p_status,
		    version = version + 1, updated_at = now() WHERE id = n.id
		    RETURNING * INTO n;
		PERFORM lib.audit(p_ctx, 'update', 'investigation_need', n.id,
		    ARRAY['status']);
	END IF;
	INSERT INTO investigation_need_history (need_id, status,
	    changed_by_sub, changed_by_org) VALUES (n.id, p_status,
	    p_ctx->>'sub', lib.ctx_org(p_ctx));
	RETURN n;
END $$;

/*
 * PATCH/POST /v1/investigations `needs` (checked): the listed needs get
 * their statuses, needs left out are removed, unless one was referred
 * (409 invalid-transition: set its status instead).
 */
CREATE FUNCTION casework.investigation_needs_set(i investigations,
    p_needs jsonb, p_ctx jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	x	jsonb;
	v_id	uuid;
BEGIN
	IF EXISTS (SELECT 1 FROM investigation_needs n WHERE
	    n.investigation_id = i.id AND NOT p_needs @> jsonb_build_array(
	    jsonb_build_object('code', n.code)) AND EXISTS (SELECT 1 FROM
	    investigation_need_referrals r WHERE r.need_id = n.id)) THEN
		PERFORM lib.fail(409, 'invalid-transition', 'A need that was '
		    'referred stays on the investigation; set its status '
		    'instead.', jsonb_build_array(lib.err('needs', 'leaves out '
		    'a referred need')));
	END IF;
	FOR v_id IN DELETE FROM investigation_needs n WHERE
	    n.investigation_id = i.id AND NOT p_needs @> jsonb_build_array(
	    jsonb_build_object('code', n.code)) RETURNING n.id LOOP
		PERFORM lib.audit(p_ctx, 'delete', 'investigation_need', v_id,
		    ARRAY['code', 'status']);
	END LOOP;
	FOR x IN SELECT * FROM jsonb_array_elements(p_needs) LOOP
		PERFORM casework.investigation_need_put(p_ctx, i.id,
		    x->>'code', x->>'status');
	END LOOP;
	PERFORM casework.investigation_needs_sync(i.id);
END $$;

CREATE FUNCTION casework.need_referral_doc(r investigation_need_referrals)
RETURNS jsonb LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', r.id, 'investigation_id',
	    r.investigation_id, 'need_id', r.need_id, 'code', (SELECT code
	    FROM investigation_needs WHERE id = r.need_id),
	    'organization_id', r.organization_id, 'service_id', r.service_id,
	    'status', r.status, 'referred_by', r.referred_by,
	    'referred_by_org_id', r.referred_by_org, 'responded_at',
	    r.responded_at, 'created_at', r.created_at, 'updated_at',
	    r.updated_at)
$$;

CREATE FUNCTION casework.investigation_need_doc(n investigation_needs)
RETURNS jsonb LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', n.id, 'investigation_id',
	    n.investigation_id, 'code', n.code, 'status', n.status,
	    'version', n.version, 'created_at', n.created_at, 'updated_at',
	    n.updated_at, 'history', coalesce((SELECT jsonb_agg(
	    jsonb_build_object('status', h.status, 'changed_at', h.changed_at,
	    'changed_by', h.changed_by_sub, 'changed_by_org_id',
	    h.changed_by_org) ORDER BY h.id) FROM investigation_need_history h
	    WHERE h.need_id = n.id), '[]'), 'referrals', coalesce((SELECT
	    jsonb_agg(casework.need_referral_doc(r) ORDER BY r.created_at,
	    r.id) FROM investigation_need_referrals r WHERE r.need_id = n.id),
	    '[]'))
$$;

/*
 * An investigation the caller may act on (an active agency on it or a
 * coordinator): 404 when it may not see it, 403 not-on-investigation
 * for a pending agency. Locked when p_lock.
 */
CREATE FUNCTION casework.investigation_for_work(p_ctx jsonb, p_id uuid,
    p_org uuid, p_what text, p_lock boolean DEFAULT false)
RETURNS investigations
LANGUAGE plpgsql AS $$
DECLARE
	i investigations;
BEGIN
	i := casework.investigation_fetch(p_ctx, p_id, p_org, p_lock);
	IF NOT lib.has_role(p_ctx, 'coordinator') AND NOT
	    casework.investigation_active(i.id, p_org) THEN
		PERFORM lib.fail(403, 'not-on-investigation', 'Only agencies on '
		    'the investigation (a listed one once it accepted) or a '
		    'coordinator may ' || p_what || '.');
	END IF;
	RETURN i;
END $$;

/* The investigation changed through one of its parts: new version. */
CREATE FUNCTION casework.investigation_touch(p_id uuid) RETURNS void
LANGUAGE sql AS $$
	UPDATE investigations SET version = version + 1, updated_at = now()
	    WHERE id = p_id
$$;

/*
 * GET /v1/investigations/{id}/needs: whoever reads the investigation.
 * Each need with its history and referrals; audited.
 */
CREATE FUNCTION api.investigation_need_list(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	v_st	text;
	i	investigations;
BEGIN
	PERFORM lib.query_allow(p_args, ARRAY['status']);
	v_st := lib.query_enum(p_args, 'status', casework.need_statuses());
	i := casework.investigation_fetch(p_ctx, lib.path_id(p_args), v_org);
	PERFORM lib.audit(p_ctx, 'read', 'investigation', i.id,
	    ARRAY['needs']);
	status := 200;
	headers := '{}';
	body := jsonb_build_object('items', coalesce((SELECT jsonb_agg(
	    casework.investigation_need_doc(n) ORDER BY n.created_at, n.code)
	    FROM investigation_needs n WHERE n.investigation_id = i.id AND
	    (v_st IS NULL OR n.status = v_st)), '[]'));
END $$;

/*
 * POST /v1/investigations/{id}/needs {code, status?}: an active agency
 * on it or a coordinator records a criminal-justice need (status
 * identified unless given). 409 duplicate-need; audited.
 */
CREATE FUNCTION api.investigation_need_create(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	i	investigations;
	n	investigation_needs;
	e	jsonb;
BEGIN
	i := casework.investigation_for_work(p_ctx, lib.path_id(p_args), v_org,
	    'record needs', true);
	e := lib.check_keys(p_body, '', ARRAY['code', 'status'], ARRAY['id',
	    'investigation_id', 'version', 'created_at', 'updated_at',
	    'history', 'referrals']);
	IF NOT lib.is_str(p_body->'code', 1, 100) OR NOT EXISTS (SELECT 1
	    FROM need_taxonomy WHERE code = p_body->>'code' AND
	    grp = 'criminal_justice') THEN
		e := e || lib.err('code', 'must be a criminal-justice need code '
		    'from /v1/taxonomy/needs');
	END IF;
	IF p_body ? 'status' AND NOT lib.is_enum(p_body->'status',
	    casework.need_statuses()) THEN
		e := e || lib.err('status', 'must be one of ' ||
		    array_to_string(casework.need_statuses(), ', '));
	END IF;
	PERFORM lib.fail_if(e);
	IF EXISTS (SELECT 1 FROM investigation_needs WHERE investigation_id =
	    i.id AND code = p_body->>'code') THEN
		PERFORM lib.fail(409, 'duplicate-need', 'This investigation '
		    'already has that need; change its status instead.');
	END IF;
	n := casework.investigation_need_put(p_ctx, i.id, p_body->>'code',
	    coalesce(p_body->>'status', 'identified'));
	PERFORM casework.investigation_needs_sync(i.id);
	PERFORM casework.investigation_touch(i.id);
	status := 201;
	body := casework.investigation_need_doc(n);
	headers := lib.etag_header('investigation_need', n.id, n.version) ||
	    jsonb_build_object('location', '/v1/investigations/' || i.id ||
	    '/needs/' || n.id);
END $$;

/* The need p_nid of investigation p_inv, or 404. */
CREATE FUNCTION casework.investigation_need_fetch(p_inv uuid, p_nid uuid,
    p_lock boolean DEFAULT false) RETURNS investigation_needs
LANGUAGE plpgsql AS $$
DECLARE
	n investigation_needs;
BEGIN
	IF p_lock THEN
		SELECT * INTO n FROM investigation_needs WHERE id = p_nid AND
		    investigation_id = p_inv FOR UPDATE;
	ELSE
		SELECT * INTO n FROM investigation_needs WHERE id = p_nid AND
		    investigation_id = p_inv;
	END IF;
	IF n.id IS NULL THEN
		PERFORM lib.fail(404, 'not-found', 'No such need on this '
		    'investigation.');
	END IF;
	RETURN n;
END $$;

/* GET /v1/investigations/{id}/needs/{nid}: as the list; ETag. */
CREATE FUNCTION api.investigation_need_get(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	i	investigations;
	n	investigation_needs;
BEGIN
	PERFORM lib.query_allow(p_args, '{}');
	i := casework.investigation_fetch(p_ctx, lib.path_id(p_args), v_org);
	n := casework.investigation_need_fetch(i.id, lib.path_id(p_args,
	    'nid'));
	PERFORM lib.audit(p_ctx, 'read', 'investigation', i.id,
	    ARRAY['needs']);
	status := 200;
	body := casework.investigation_need_doc(n);
	headers := lib.etag_header('investigation_need', n.id, n.version);
END $$;

/*
 * PATCH /v1/investigations/{id}/needs/{nid} {status}: an active agency
 * on it or a coordinator; If-Match; the change goes into the history. A
 * need set to met, unmet or declined_by_client withdraws its referrals
 * still offered (their organizations are told, need_referral.answered).
 */
CREATE FUNCTION api.investigation_need_update(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	i	investigations;
	n	investigation_needs;
	e	jsonb;
	v_n	bigint;
BEGIN
	i := casework.investigation_for_work(p_ctx, lib.path_id(p_args), v_org,
	    'change needs', true);
	n := casework.investigation_need_fetch(i.id, lib.path_id(p_args,
	    'nid'), true);
	e := lib.check_keys(p_body, '', ARRAY['status'], ARRAY['id',
	    'investigation_id', 'code', 'version', 'created_at',
	    'updated_at', 'history', 'referrals']);
	IF NOT lib.is_enum(p_body->'status', casework.need_statuses()) THEN
		e := e || lib.err('status', 'must be one of ' ||
		    array_to_string(casework.need_statuses(), ', '));
	END IF;
	PERFORM lib.fail_if(e);
	PERFORM lib.if_match(p_args, 'investigation_need', n.id, n.version);
	n := casework.investigation_need_put(p_ctx, i.id, n.code,
	    p_body->>'status');
	/* A need settled otherwise no longer waits for the offers made. */
	IF n.status IN ('met', 'unmet', 'declined_by_client') THEN
		WITH w AS (
			UPDATE investigation_need_referrals SET status =
			    'withdrawn', updated_at = now() WHERE need_id = n.id
			    AND investigation_need_referrals.status = 'offered'
			    RETURNING id)
		SELECT count(lib.notify(r.organization_id, NULL,
		    'need_referral.answered', 'need_referral', r.id,
		    '/v1/need-referrals/' || r.id, jsonb_build_object(
		    'need_referral_id', r.id, 'investigation_id', i.id, 'code',
		    n.code, 'status', 'withdrawn'))) INTO v_n
		FROM w JOIN investigation_need_referrals r ON r.id = w.id;
	END IF;
	PERFORM casework.investigation_needs_sync(i.id);
	PERFORM casework.investigation_touch(i.id);
	status := 200;
	body := casework.investigation_need_doc(n);
	headers := lib.etag_header('investigation_need', n.id, n.version);
END $$;

/*
 * POST /v1/investigations/{id}/needs/{nid}/referrals {organization_id,
 * service_id?}: an active agency on it (or a coordinator) refers the
 * need to an active organization with an active service that covers
 * the need's code and accepts referrals (that service when named): 422
 * otherwise, 409 invalid-transition while a referral of this need to
 * that organization is open (offered or accepted) or the need is met.
 * The need becomes referred (when identified or unmet); the
 * organization is told (need_referral.offered). Audited.
 */
CREATE FUNCTION api.investigation_need_referral_create(p_ctx jsonb,
    p_args jsonb, p_body jsonb, OUT status integer, OUT body jsonb,
    OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	i	investigations;
	n	investigation_needs;
	r	investigation_need_referrals;
	e	jsonb;
	v_to	uuid;
	v_svc	uuid;
BEGIN
	i := casework.investigation_for_work(p_ctx, lib.path_id(p_args), v_org,
	    'refer its needs', true);
	n := casework.investigation_need_fetch(i.id, lib.path_id(p_args,
	    'nid'), true);
	e := lib.check_keys(p_body, '', ARRAY['organization_id', 'service_id'],
	    ARRAY['id', 'investigation_id', 'need_id', 'code', 'status',
	    'referred_by', 'referred_by_org_id', 'responded_at',
	    'created_at', 'updated_at']);
	IF NOT lib.is_uuid(p_body->'organization_id') OR NOT EXISTS (SELECT 1
	    FROM organizations WHERE id = (p_body->>'organization_id')::uuid
	    AND organizations.status = 'active') THEN
		e := e || lib.err('organization_id', 'must name an active '
		    'organization');
	END IF;
	IF NOT lib.absent(p_body->'service_id') AND NOT lib.is_uuid(
	    p_body->'service_id') THEN
		e := e || lib.err('service_id', 'must be a service id');
	END IF;
	PERFORM lib.fail_if(e);
	v_to := (p_body->>'organization_id')::uuid;
	SELECT s.id INTO v_svc FROM services s WHERE s.organization_id = v_to
	    AND s.deleted_at IS NULL AND s.status = 'active' AND
	    s.accepts_referrals AND n.code = ANY (s.need_cover) AND
	    (lib.absent(p_body->'service_id') OR s.id = (p_body->>'service_id')
	    ::uuid) ORDER BY s.created_at, s.id LIMIT 1;
	IF v_svc IS NULL THEN
		PERFORM lib.fail(422, 'validation-error', 'The organization '
		    'has no active service that covers this need and accepts '
		    'referrals.', jsonb_build_array(lib.err(CASE WHEN
		    lib.absent(p_body->'service_id') THEN 'organization_id'
		    ELSE 'service_id' END, 'must offer a service covering ' ||
		    n.code)));
	END IF;
	IF n.status = 'met' OR EXISTS (SELECT 1 FROM
	    investigation_need_referrals x WHERE x.need_id = n.id AND
	    x.organization_id = v_to AND x.status IN ('offered', 'accepted'))
	    THEN
		PERFORM lib.fail(409, 'invalid-transition', 'This need is met, '
		    'or referred to that organization already.');
	END IF;
	INSERT INTO investigation_need_referrals (need_id, investigation_id,
	    organization_id, service_id, referred_by, referred_by_org)
	VALUES (n.id, i.id, v_to, v_svc, p_ctx->>'sub', coalesce(v_org,
	    i.lead_agency)) RETURNING * INTO r;
	IF n.status IN ('identified', 'unmet') THEN
		n := casework.investigation_need_put(p_ctx, i.id, n.code,
		    'referred');
		PERFORM casework.investigation_needs_sync(i.id);
	END IF;
	PERFORM casework.investigation_touch(i.id);
	PERFORM lib.audit(p_ctx, 'create', 'need_referral', r.id,
	    ARRAY['organization_id', 'service_id']);
	PERFORM lib.notify(v_to, NULL, 'need_referral.offered',
	    'need_referral', r.id, '/v1/need-referrals/' || r.id,
	    jsonb_build_object('need_referral_id', r.id, 'investigation_id',
	    i.id, 'code', n.code, 'status', r.status));
	status := 201;
	body := casework.need_referral_doc(r);
	headers := jsonb_build_object('location', '/v1/need-referrals/' ||
	    r.id);
END $$;

/*
 * Is the caller a party to need referral r: coordinators and admins,
 * the organization it was referred to, and the agencies that see its
 * investigation?
 */
CREATE FUNCTION casework.need_referral_party(p_ctx jsonb,
    r investigation_need_referrals, p_org uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT lib.is_coord(p_ctx) OR r.organization_id = p_org OR
	    casework.investigation_visible(p_ctx, r.investigation_id, p_org)
$$;

/*
 * GET /v1/need-referrals?status=: need referrals to the caller's
 * organization, and those of investigations it is on (all for
 * coordinators and admins), newest first; limit and cursor. Audited.
 */
CREATE FUNCTION api.need_referral_list(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	v_coord	boolean := lib.is_coord(p_ctx);
	v_limit	integer;
	v_cur	jsonb;
	v_st	text;
	v_items	jsonb := '[]';
	v_n	integer := 0;
	v_last	investigation_need_referrals;
	r	investigation_need_referrals;
BEGIN
	PERFORM lib.query_allow(p_args, ARRAY['status', 'limit', 'cursor']);
	v_limit := lib.page_limit(p_args);
	v_cur := lib.cursor_decode(p_args, 'need-referrals', '{at:ts,id:uuid}');
	v_st := lib.query_enum(p_args, 'status', ARRAY['offered', 'accepted',
	    'declined', 'withdrawn']);
	FOR r IN SELECT * FROM investigation_need_referrals x
	    WHERE (v_cur IS NULL OR (x.created_at, x.id) < ((v_cur->>'at')::
	    timestamptz, (v_cur->>'id')::uuid))
	    AND (v_st IS NULL OR x.status = v_st)
	    AND (v_coord OR x.organization_id = v_org OR x.investigation_id IN
	        (SELECT a.investigation_id FROM investigation_agencies a WHERE
	        a.org_id = v_org AND a.status IN ('pending', 'active')))
	    ORDER BY x.created_at DESC, x.id DESC LIMIT v_limit + 1 LOOP
		v_n := v_n + 1;
		EXIT WHEN v_n > v_limit;
		v_last := r;
		v_items := v_items || casework.need_referral_doc(r);
		PERFORM lib.audit(p_ctx, 'list', 'need_referral', r.id, '{}');
	END LOOP;
	status := 200;
	headers := '{}';
	body := jsonb_build_object('items', v_items, 'next_cursor',
	    CASE WHEN v_n > v_limit THEN lib.cursor_encode('need-referrals',
	    jsonb_build_object('at', v_last.created_at, 'id', v_last.id)) END);
END $$;

/* GET /v1/need-referrals/{id}: its parties (404 for anyone else). */
CREATE FUNCTION api.need_referral_get(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	r	investigation_need_referrals;
BEGIN
	PERFORM lib.query_allow(p_args, '{}');
	SELECT * INTO r FROM investigation_need_referrals WHERE id =
	    lib.path_id(p_args);
	IF r.id IS NULL OR NOT casework.need_referral_party(p_ctx, r, v_org)
	    THEN
		PERFORM lib.fail(404, 'not-found', 'No such need referral.');
	END IF;
	PERFORM lib.audit(p_ctx, 'read', 'need_referral', r.id, '{}');
	status := 200;
	body := casework.need_referral_doc(r);
	headers := '{}';
END $$;

/*
 * POST /v1/need-referrals/{id}/accept and /decline: the organization it
 * was referred to answers an offered referral (404 for anyone else, 409
 * invalid-transition once answered). Accepting moves the need to
 * in_progress (from identified or referred); declining the last open
 * referral of a referred need moves it back to identified. The
 * referring agency is told (need_referral.answered). Audited.
 */
CREATE FUNCTION casework.need_referral_answer(p_ctx jsonb, p_args jsonb,
    p_accept boolean, OUT status integer, OUT body jsonb,
    OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	r	investigation_need_referrals;
	n	investigation_needs;
BEGIN
	SELECT * INTO r FROM investigation_need_referrals WHERE id =
	    lib.path_id(p_args);
	IF r.id IS NULL OR r.organization_id IS DISTINCT FROM v_org THEN
		PERFORM lib.fail(404, 'not-found', 'No such need referral to '
		    'your organization.');
	END IF;
	PERFORM 1 FROM investigations WHERE id = r.investigation_id FOR UPDATE;
	SELECT * INTO n FROM investigation_needs WHERE id = r.need_id
	    FOR UPDATE;
	SELECT * INTO r FROM investigation_need_referrals WHERE id = r.id
	    FOR UPDATE;
	IF r.status <> 'offered' THEN
		PERFORM lib.fail(409, 'invalid-transition', 'This referral was '
		    'answered already.');
	END IF;
	UPDATE investigation_need_referrals SET status = CASE WHEN p_accept
	    THEN 'accepted' ELSE 'declined' END, responded_by = p_ctx->>'sub',
	    responded_at = now(), updated_at = now() WHERE id = r.id
	    RETURNING * INTO r;
	IF p_accept AND n.status IN ('identified', 'referred') THEN
		PERFORM casework.investigation_need_put(p_ctx, n.investigation_id,
		    n.code, 'in_progress');
	ELSIF NOT p_accept AND n.status = 'referred' AND NOT EXISTS (SELECT 1
	    FROM investigation_need_referrals x WHERE x.need_id = n.id AND
	    x.status IN ('offered', 'accepted')) THEN
		PERFORM casework.investigation_need_put(p_ctx, n.investigation_id,
		    n.code, 'identified');
	END IF;
	PERFORM casework.investigation_needs_sync(n.investigation_id);
	PERFORM casework.investigation_touch(n.investigation_id);
	PERFORM lib.audit(p_ctx, CASE WHEN p_accept THEN 'accept' ELSE
	    'decline' END, 'need_referral', r.id, ARRAY['status']);
	PERFORM lib.notify(r.referred_by_org, NULL, 'need_referral.answered',
	    'need_referral', r.id, '/v1/need-referrals/' || r.id,
	    jsonb_build_object('need_referral_id', r.id, 'investigation_id',
	    r.investigation_id, 'code', n.code, 'status', r.status));
	status := 200;
	body := casework.need_referral_doc(r);
	headers := '{}';
END $$;

CREATE FUNCTION api.need_referral_accept(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE sql AS $$
	SELECT * FROM casework.need_referral_answer(p_ctx, p_args, true)
$$;

CREATE FUNCTION api.need_referral_decline(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE sql AS $$
	SELECT * FROM casework.need_referral_answer(p_ctx, p_args, false)
$$;

----------------------------------------------------------------------
-- Witnesses who are not victims: person records of kind witness
-- (cases.kind), with the sealed personal categories, consents, audit
-- and visibility of every case. An agency on the investigation opens
-- one and leads it (it collected the data); the record is linked to the
-- investigation without a consent, so the agencies active on it see its
-- non-personal categories, and personal ones only under consents the
-- lead records (casework.case_visible_orgs, case_categories).
----------------------------------------------------------------------

/*
 * POST /v1/investigations/{id}/witnesses: the case fields (identified_on,
 * identified_by, jurisdiction, demographics, identity, contact,
 * location); an active agency on the investigation (403
 * not-on-investigation for a pending one, 404 when it does not see it).
 * Returns the witness record (GET /v1/cases/{id}); audited.
 */
CREATE FUNCTION api.investigation_witness_create(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org_present(p_ctx);
	i	investigations;
	c	cases;
	e	jsonb;
BEGIN
	i := casework.investigation_fetch(p_ctx, lib.path_id(p_args), v_org,
	    true);
	IF NOT casework.investigation_active(i.id, v_org) THEN
		PERFORM lib.fail(403, 'not-on-investigation', 'Only agencies on '
		    'the investigation (a listed one once it accepted) open '
		    'witness records on it.');
	END IF;
	e := casework.case_validate(p_body, true);
	IF p_body ? 'kind' AND p_body->'kind' IS DISTINCT FROM
	    '"witness"'::jsonb THEN
		e := e || lib.err('kind', 'must be witness (or left out)');
	END IF;
	PERFORM lib.fail_if(e);
	c := casework.case_insert(p_ctx, p_body, v_org, 'witness');
	INSERT INTO investigation_cases (investigation_id, case_id, consent_id,
	    linked_by, linked_by_org) VALUES (i.id, c.id, NULL, p_ctx->>'sub',
	    v_org);
	PERFORM lib.audit(p_ctx, 'link', 'investigation', i.id, ARRAY[
	    'case_id']);
	PERFORM lib.audit(p_ctx, 'link', 'case', c.id, ARRAY[
	    'investigation_id']);
	status := 201;
	body := casework.case_doc(c, casework.case_categories(p_ctx, c.id,
	    c.lead_org, v_org));
	headers := lib.etag_header('case', c.id, c.version) ||
	    jsonb_build_object('location', '/v1/cases/' || c.id);
END $$;

----------------------------------------------------------------------
-- Ending participation
----------------------------------------------------------------------

/*
 * POST /v1/investigations/{id}/participation/end: a participating
 * agency or prosecution office that is active on the investigation
 * leaves it; from the next request it sees neither the investigation
 * nor its linked cases. 404 for an organization not on it, 409
 * invalid-transition for the lead agency (a coordinator names another
 * lead first) or a pending one (it declines instead). Audited.
 */
CREATE FUNCTION api.investigation_participation_end(p_ctx jsonb,
    p_args jsonb, p_body jsonb, OUT status integer, OUT body jsonb,
    OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	i	investigations;
	a	investigation_agencies;
BEGIN
	SELECT * INTO i FROM investigations WHERE id = lib.path_id(p_args)
	    FOR UPDATE;
	SELECT * INTO a FROM investigation_agencies WHERE investigation_id =
	    i.id AND org_id = v_org FOR UPDATE;
	IF i.id IS NULL OR a.org_id IS NULL OR a.status IN ('declined',
	    'ended') THEN
		PERFORM lib.fail(404, 'not-found', 'No such investigation '
		    'listing your organization.');
	END IF;
	IF a.role = 'lead' OR a.status <> 'active' THEN
		PERFORM lib.fail(409, 'invalid-transition', CASE WHEN a.role =
		    'lead' THEN 'The lead agency stays on its investigation; '
		    'a coordinator names another lead first.' ELSE 'Your '
		    'organization has not accepted; decline instead.' END);
	END IF;
	UPDATE investigation_agencies SET status = 'ended' WHERE
	    investigation_id = i.id AND org_id = v_org;
	UPDATE investigations SET version = version + 1, updated_at = now()
	    WHERE id = i.id RETURNING * INTO i;
	PERFORM lib.audit(p_ctx, 'participation_end', 'investigation', i.id,
	    ARRAY['agencies']);
	status := 200;
	body := casework.investigation_doc(i);
	headers := '{}';
END $$;

----------------------------------------------------------------------
-- Key dates (court dates, arrests, charges filed) as dated items for
-- every agency that sees the investigation; court dates feed the
-- deadline reminders of the agencies on it (deadlines.sql,
-- worker.clock_court_dates).
----------------------------------------------------------------------

CREATE FUNCTION casework.investigation_dates(i investigations,
    p_from timestamptz, p_to timestamptz, p_kind text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
	    'investigation_id', i.id, 'kind', x->>'kind', 'at',
	    (x->>'at')::timestamptz, 'label', x->>'label', 'past',
	    (x->>'at')::timestamptz < now())) ORDER BY (x->>'at')::timestamptz,
	    x->>'kind'), '[]')
	FROM jsonb_array_elements(i.key_dates) x
	WHERE (p_from IS NULL OR (x->>'at')::timestamptz >= p_from) AND
	    (p_to IS NULL OR (x->>'at')::timestamptz < p_to) AND
	    (p_kind IS NULL OR x->>'kind' = p_kind)
$$;

/*
 * GET /v1/investigations/{id}/dates?from=&to=&kind=: the key dates of
 * an investigation, soonest first, for whoever reads it. Audited.
 */
CREATE FUNCTION api.investigation_date_list(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	i	investigations;
BEGIN
	PERFORM lib.query_allow(p_args, ARRAY['from', 'to', 'kind']);
	i := casework.investigation_fetch(p_ctx, lib.path_id(p_args), v_org);
	PERFORM lib.audit(p_ctx, 'read', 'investigation', i.id,
	    ARRAY['key_dates']);
	status := 200;
	headers := '{}';
	body := jsonb_build_object('items', casework.investigation_dates(i,
	    lib.query_ts(p_args, 'from'), lib.query_ts(p_args, 'to'),
	    lib.query_enum(p_args, 'kind', ARRAY['court_date', 'arrest',
	    'charges_filed', 'other'])));
END $$;

/*
 * GET /v1/investigation-dates?from=&to=&kind=: the key dates of every
 * investigation the caller's organization sees (all for coordinators
 * and admins) from `from` (default: now) until `to` (default: 90 days
 * later; at most 366 days after `from`), soonest first; at most 500.
 * Audited per investigation listed.
 */
CREATE FUNCTION api.investigation_dates_all(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	v_coord	boolean := lib.is_coord(p_ctx);
	v_from	timestamptz;
	v_to	timestamptz;
	v_kind	text;
	v_items	jsonb := '[]';
	v_id	uuid;
BEGIN
	PERFORM lib.query_allow(p_args, ARRAY['from', 'to', 'kind']);
	v_from := coalesce(lib.query_ts(p_args, 'from'), now());
	v_to := coalesce(lib.query_ts(p_args, 'to'), v_from + interval
	    '90 days');
	v_kind := lib.query_enum(p_args, 'kind', ARRAY['court_date',
	    'arrest', 'charges_filed', 'other']);
	IF v_to <= v_from OR v_to > v_from + interval '366 days' THEN
		PERFORM lib.bad_query('to', 'must be after from and at most '
		    '366 days after it');
	END IF;
	SELECT coalesce(jsonb_agg(d ORDER BY (d->>'at')::timestamptz,
	    d->>'investigation_id', d->>'kind'), '[]') INTO v_items FROM (
	    SELECT d FROM investigations i CROSS JOIN LATERAL
	    jsonb_array_elements(casework.investigation_dates(i, v_from, v_to,
	    v_kind)) d
	    WHERE i.key_dates <> '[]' AND (v_coord OR i.id IN (SELECT
	        a.investigation_id FROM investigation_agencies a WHERE
	        a.org_id = v_org AND a.status IN ('pending', 'active')))
	    ORDER BY (d->>'at')::timestamptz LIMIT 500) s;
	FOR v_id IN SELECT DISTINCT (x->>'investigation_id')::uuid FROM
	    jsonb_array_elements(v_items) x LOOP
		PERFORM lib.audit(p_ctx, 'list', 'investigation', v_id,
		    ARRAY['key_dates']);
	END LOOP;
	status := 200;
	headers := '{}';
	body := jsonb_build_object('items', v_items, 'from', v_from, 'to',
	    v_to);
END $$;
