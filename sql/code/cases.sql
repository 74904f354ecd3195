-- cases.sql: case records. POST/GET/PATCH /v1/cases (api.case_create,
-- case_get, case_list, case_update), needs (api.case_need_*), tasks
-- (api.case_task_*) and transfers of the lead role (api.case_transfer_*).
-- Who may see a case is decided in one place: the view
-- casework.case_visible_orgs and casework.case_visible; which categories
-- of it they see is in consents.sql. Personal data sits sealed in
-- case_personal (lib.pd_seal/pd_open). Every read and change is audited.
--
-- Visibility, in two layers:
--   object: a case is visible to the organizations in
--           casework.case_visible_orgs (lead, assigned an open task,
--           receiving a pending transfer, holding an accepted referral
--           offer about it, active on an investigation it is linked to)
--           and to coordinators and admins. Anyone else gets 404 on
--           every path under the case.
-- Kinds: a case is a victim's (the default) or a witness's record (a
-- person who is not a victim, opened on an investigation); both keep
-- the same categories, consents and audit.
--   field:  categories identity, contact, location, case_details, needs
--           (casework.case_categories in consents.sql).

CREATE VIEW casework.case_visible_orgs AS
	SELECT id AS case_id, lead_org AS org_id, 'lead'::text AS relation
	    FROM cases
	UNION ALL
	SELECT case_id, assigned_org, 'task' FROM tasks
	    WHERE case_id IS NOT NULL AND status IN ('open', 'in_progress')
	UNION ALL
	SELECT case_id, to_org, 'transfer_pending' FROM case_transfers
	    WHERE status = 'pending'
	UNION ALL
	SELECT r.case_id, o.organization_id, 'referral'
	    FROM referrals r JOIN referral_offers o ON o.referral_id = r.id
	    WHERE r.case_id IS NOT NULL AND o.status = 'accepted'
	    AND r.status NOT IN ('completed', 'cancelled', 'unmatched')
	UNION ALL
	/*
	 * Agencies active on an investigation the case is linked to, while
	 * the link stands: a witness record opened on the investigation by
	 * the agency that collected it (no consent), or a current consent
	 * naming the linking agency or its kind (investigations.sql).
	 */
	SELECT l.case_id, a.org_id, 'investigation'
	    FROM investigation_cases l JOIN investigation_agencies a
	    ON a.investigation_id = l.investigation_id
	    WHERE a.status = 'active' AND (l.consent_id IS NULL OR EXISTS (
	    SELECT 1 FROM consents k WHERE k.case_id = l.case_id AND
	    k.revoked_at IS NULL AND k.granted_at <= now() AND
	    k.expires_at > now() AND (k.shared_with_org = l.linked_by_org OR
	    k.shared_with_kind = (SELECT o.kind FROM organizations o WHERE
	    o.id = l.linked_by_org))));

/*
 * Does p_org see case p_case as an agency on an investigation it is
 * linked to (casework.case_visible_orgs, relation investigation)? Such
 * an agency sees the non-personal categories (consents.sql).
 */
CREATE FUNCTION casework.case_investigation_access(p_case uuid, p_org uuid)
RETURNS boolean LANGUAGE sql STABLE AS $$
	SELECT p_org IS NOT NULL AND EXISTS (SELECT 1 FROM
	    casework.case_visible_orgs v WHERE v.case_id = p_case AND
	    v.org_id = p_org AND v.relation = 'investigation')
$$;

/*
 * Coordinators act per task force at case level. The organizations whose
 * cases the caller coordinates: the active members of every task force
 * it coordinates (directory.tf_is_coord: a coordinator token of the
 * task force's lead or of a member whose active membership carries the
 * coordinator flag); NULL for an admin (every organization); empty for
 * anyone else. Can't fail.
 */
CREATE FUNCTION casework.coord_orgs(p_ctx jsonb) RETURNS uuid[]
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_org	uuid := lib.ctx_org(p_ctx);
BEGIN
	IF lib.has_role(p_ctx, 'admin') THEN
		RETURN NULL;
	END IF;
	IF NOT lib.has_role(p_ctx, 'coordinator') OR v_org IS NULL THEN
		RETURN '{}';
	END IF;
	RETURN ARRAY(SELECT DISTINCT m.org_id FROM task_force_members m
	    JOIN task_forces t ON t.id = m.task_force_id
	    WHERE m.status = 'active' AND (t.lead_org = v_org OR EXISTS (
	    SELECT 1 FROM task_force_members k WHERE k.task_force_id = t.id
	    AND k.org_id = v_org AND k.coordinator AND k.status = 'active')));
END $$;

/*
 * Does the caller coordinate case p_case: an admin, or a coordinator
 * when the case's lead organization or the sender of a referral about
 * the case is among casework.coord_orgs? p_orgs: that set when the
 * caller has it already (a list), else it is read. Can't fail.
 */
CREATE FUNCTION casework.case_coord(p_ctx jsonb, p_case uuid,
    p_orgs uuid[] DEFAULT '{00000000-0000-0000-0000-000000000000}')
RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_orgs	uuid[] := p_orgs;
BEGIN
	IF p_orgs = '{00000000-0000-0000-0000-000000000000}' THEN
		IF NOT lib.is_coord(p_ctx) THEN
			RETURN false;
		END IF;
		v_orgs := casework.coord_orgs(p_ctx);
	END IF;
	IF v_orgs IS NULL THEN
		RETURN true;
	END IF;
	RETURN cardinality(v_orgs) > 0 AND (EXISTS (SELECT 1 FROM cases c
	    WHERE c.id = p_case AND c.lead_org = ANY (v_orgs)) OR EXISTS (
	    SELECT 1 FROM referrals r WHERE r.case_id = p_case AND
	    r.sender_org = ANY (v_orgs)));
END $$;

-- Object level: may the caller know this case exists?
CREATE FUNCTION casework.case_visible(p_ctx jsonb, p_case uuid, p_org uuid)
RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN casework.case_coord(p_ctx, p_case) OR (p_org IS NOT NULL AND EXISTS (
	    SELECT 1 FROM casework.case_visible_orgs v WHERE v.case_id = p_case AND
	    v.org_id = p_org));
END $$;

/*
 * Load a case the caller may see, or raise 404 (absent and invisible
 * look the same). p_lock takes the row for an update.
 */
CREATE FUNCTION casework.case_fetch(p_ctx jsonb, p_id uuid, p_org uuid,
    p_lock boolean DEFAULT false) RETURNS cases
LANGUAGE plpgsql AS $$
DECLARE
	c cases;
BEGIN
	IF p_lock THEN
		SELECT * INTO c FROM cases WHERE id = p_id FOR UPDATE;
	ELSE
		SELECT * INTO c FROM cases WHERE id = p_id;
	END IF;
	IF c.id IS NULL OR NOT casework.case_visible(p_ctx, p_id, p_org) THEN
		PERFORM lib.fail(404, 'not-found', 'No such case.');
	END IF;
	RETURN c;
END $$;

CREATE FUNCTION casework.need_doc(n case_needs) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', n.id, 'case_id', n.case_id,
	    'code', n.code, 'status', n.status, 'version', n.version,
	    'created_at', n.created_at, 'updated_at', n.updated_at,
	    'history', coalesce((SELECT jsonb_agg(jsonb_build_object(
	    'status', h.status, 'changed_at', h.changed_at,
	    'changed_by', h.changed_by_sub, 'changed_by_org_id',
	    h.changed_by_org) ORDER BY h.id) FROM case_need_history h
	    WHERE h.need_id = n.id), '[]'::jsonb))
$$;

/*
 * The case document holding only the categories in p_cats (personal
 * categories are decrypted only when included); `redacted` names the
 * categories left out. p_summary leaves personal categories out too
 * (lists carry no personal data) without listing them as redacted.
 */
CREATE FUNCTION casework.case_doc(c cases, p_cats text[],
    p_summary boolean DEFAULT false) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	d	jsonb;
	p	case_personal;
BEGIN
	d := jsonb_build_object('id', c.id, 'case_number', c.case_number,
	    'kind', c.kind, 'lead_org_id', c.lead_org, 'status', c.status,
	    'closed_reason', c.closed_reason, 'jurisdiction', c.jurisdiction,
	    'identified_on', c.identified_on, 'version', c.version,
	    'created_at', c.created_at, 'updated_at', c.updated_at,
	    'redacted', casework.case_redacted(CASE WHEN p_summary THEN p_cats ||
	    ARRAY['identity', 'contact', 'location'] ELSE p_cats END));
	IF 'case_details' = ANY (p_cats) THEN
		d := d || jsonb_build_object('case_details', jsonb_build_object(
		    'identified_by', jsonb_build_object('org_id',
		    c.identified_by_org, 'how', c.identified_how),
		    'demographics', jsonb_build_object('age', c.age,
		    'age_group', c.age_group, 'gender', c.gender,
		    'nationality', c.nationality, 'languages',
		    to_jsonb(c.languages), 'trafficking_type',
		    c.trafficking_type)));
	END IF;
	IF 'needs' = ANY (p_cats) THEN
		d := d || jsonb_build_object('needs', coalesce((SELECT
		    jsonb_agg(jsonb_build_object('id', n.id, 'code', n.code,
		    'status', n.status) ORDER BY n.created_at, n.id)
		    FROM case_needs n WHERE n.case_id = c.id), '[]'::jsonb));
	END IF;
	IF NOT p_summary AND p_cats && ARRAY['identity', 'contact',
	    'location'] THEN
		SELECT * INTO p FROM case_personal WHERE case_id = c.id;
		IF 'identity' = ANY (p_cats) THEN
			d := d || jsonb_build_object('identity',
			    lib.pd_open(p.identity_enc));
		END IF;
		IF 'contact' = ANY (p_cats) THEN
			d := d || jsonb_build_object('contact',
			    lib.pd_open(p.contact_enc));
		END IF;
		IF 'location' = ANY (p_cats) THEN
			d := d || jsonb_build_object('location',
			    lib.pd_open(p.location_enc));
		END IF;
	END IF;
	RETURN d;
END $$;

-- minor / adult / unknown from a date of birth, else an age.
CREATE FUNCTION casework.age_group(p_dob date, p_age integer, p_on date)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE
	    WHEN p_dob IS NOT NULL THEN CASE WHEN p_dob > p_on - interval
	        '18 years' THEN 'minor' ELSE 'adult' END
	    WHEN p_age IS NOT NULL THEN CASE WHEN p_age < 18 THEN 'minor'
	        ELSE 'adult' END
	    ELSE 'unknown' END
$$;

/*
 * Validate the writable case fields present in p_body (create when
 * p_create). Returns the errors; names every offending field.
 */
CREATE FUNCTION casework.case_validate(p_body jsonb, p_create boolean)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
	e	jsonb := '[]';
	v	jsonb;
BEGIN
	IF p_create THEN
		e := e || lib.check_keys(p_body, '', ARRAY['identified_on',
		    'identified_by', 'jurisdiction', 'demographics',
		    'identity', 'contact', 'location', 'kind'], ARRAY['id',
		    'case_number', 'lead_org_id', 'status', 'closed_reason',
		    'version', 'created_at', 'updated_at', 'created_by',
		    'redacted', 'needs', 'case_details']);
	ELSE
		e := e || lib.check_keys(p_body, '', ARRAY['identified_on',
		    'identified_by', 'jurisdiction', 'demographics',
		    'identity', 'contact', 'location', 'status',
		    'closed_reason'], ARRAY['id', 'case_number', 'lead_org_id',
		    'version', 'created_at', 'updated_at', 'created_by',
		    'redacted', 'needs', 'case_details', 'kind']);
	END IF;
	IF p_create AND p_body ? 'kind' AND NOT lib.is_enum(p_body->'kind',
	    ARRAY['victim', 'witness']) THEN
		e := e || lib.err('kind', 'must be victim or witness');
	END IF;
	IF (p_create OR p_body ? 'identified_on') AND
	    NOT lib.is_date(p_body->'identified_on') THEN
		e := e || lib.err('identified_on', 'must be a date (YYYY-MM-DD)');
	ELSIF p_body ? 'identified_on' AND
	    (p_body->>'identified_on')::date > current_date THEN
		e := e || lib.err('identified_on', 'must not be in the future');
	END IF;
	IF (p_create OR p_body ? 'jurisdiction') AND
	    NOT lib.is_str(p_body->'jurisdiction', 1, 100) THEN
		e := e || lib.err('jurisdiction', 'must be a string of 1 to '
		    '100 characters');
	END IF;
	v := p_body->'identified_by';
	IF p_create OR p_body ? 'identified_by' THEN
		IF jsonb_typeof(v) IS DISTINCT FROM 'object' THEN
			e := e || lib.err('identified_by', 'must be an object '
			    'with how and optionally org_id');
		ELSE
			e := e || lib.check_keys(v, 'identified_by.',
			    ARRAY['org_id', 'how']);
			IF NOT lib.is_enum(v->'how', ARRAY['hotline',
			    'law_enforcement_encounter', 'outreach',
			    'self_referral', 'other']) THEN
				e := e || lib.err('identified_by.how', 'must be '
				    'one of hotline, law_enforcement_encounter, '
				    'outreach, self_referral, other');
			END IF;
			IF NOT lib.absent(v->'org_id') AND (NOT lib.is_uuid(
			    v->'org_id') OR NOT EXISTS (SELECT 1 FROM
			    organizations WHERE id = (v->>'org_id')::uuid)) THEN
				e := e || lib.err('identified_by.org_id',
				    'must name an existing organization');
			END IF;
		END IF;
	END IF;
	v := p_body->'demographics';
	IF p_body ? 'demographics' THEN
		IF jsonb_typeof(v) IS DISTINCT FROM 'object' THEN
			e := e || lib.err('demographics', 'must be an object');
		ELSE
			e := e || lib.check_keys(v, 'demographics.',
			    ARRAY['age', 'gender', 'nationality', 'languages',
			    'trafficking_type'], ARRAY['age_group']);
			IF NOT lib.absent(v->'age') AND
			    NOT lib.is_int(v->'age', 0, 130) THEN
				e := e || lib.err('demographics.age',
				    'must be an integer from 0 to 130');
			END IF;
			IF NOT lib.absent(v->'gender') AND
			    NOT lib.is_str(v->'gender', 1, 100) THEN
				e := e || lib.err('demographics.gender',
				    'must be a string of 1 to 100 characters');
			END IF;
			IF NOT lib.absent(v->'nationality') AND
			    NOT lib.is_str(v->'nationality', 1, 100) THEN
				e := e || lib.err('demographics.nationality',
				    'must be a string of 1 to 100 characters');
			END IF;
			IF NOT lib.absent(v->'languages') AND
			    NOT lib.is_str_array(v->'languages', 20, 50) THEN
				e := e || lib.err('demographics.languages',
				    'must be an array of up to 20 strings');
			END IF;
			IF NOT lib.absent(v->'trafficking_type') AND
			    NOT lib.is_enum(v->'trafficking_type', ARRAY['sex',
			    'labor', 'both', 'unknown']) THEN
				e := e || lib.err('demographics.trafficking_type',
				    'must be one of sex, labor, both, unknown');
			END IF;
		END IF;
	END IF;
	v := p_body->'identity';
	IF p_body ? 'identity' THEN
		IF jsonb_typeof(v) IS DISTINCT FROM 'object' THEN
			e := e || lib.err('identity', 'must be an object');
		ELSE
			e := e || lib.check_keys(v, 'identity.',
			    ARRAY['legal_name', 'aliases', 'date_of_birth']);
			IF NOT lib.absent(v->'legal_name') AND
			    NOT lib.is_str(v->'legal_name', 1, 200) THEN
				e := e || lib.err('identity.legal_name',
				    'must be a string of 1 to 200 characters');
			END IF;
			IF NOT lib.absent(v->'aliases') AND
			    NOT lib.is_str_array(v->'aliases', 20, 200) THEN
				e := e || lib.err('identity.aliases',
				    'must be an array of up to 20 strings');
			END IF;
			IF NOT lib.absent(v->'date_of_birth') AND (NOT
			    lib.is_date(v->'date_of_birth') OR
			    (v->>'date_of_birth')::date > current_date) THEN
				e := e || lib.err('identity.date_of_birth',
				    'must be a past date (YYYY-MM-DD)');
			END IF;
		END IF;
	END IF;
	v := p_body->'contact';
	IF p_body ? 'contact' THEN
		IF jsonb_typeof(v) IS DISTINCT FROM 'object' THEN
			e := e || lib.err('contact', 'must be an object');
		ELSE
			e := e || lib.check_keys(v, 'contact.',
			    ARRAY['phone', 'email']);
			IF NOT lib.absent(v->'phone') AND
			    NOT lib.is_str(v->'phone', 3, 50) THEN
				e := e || lib.err('contact.phone',
				    'must be a string of 3 to 50 characters');
			END IF;
			IF NOT lib.absent(v->'email') AND (NOT
			    lib.is_str(v->'email', 3, 254) OR
			    (v->>'email') !~ '^[^@\s]+@[^@\s]+$') THEN
				e := e || lib.err('contact.email',
				    'must be an email address');
			END IF;
		END IF;
	END IF;
	v := p_body->'location';
	IF p_body ? 'location' THEN
		IF jsonb_typeof(v) IS DISTINCT FROM 'object' THEN
			e := e || lib.err('location', 'must be an object');
		ELSE
			e := e || lib.check_keys(v, 'location.',
			    ARRAY['address']);
			IF NOT lib.absent(v->'address') AND
			    NOT lib.is_str(v->'address', 1, 500) THEN
				e := e || lib.err('location.address',
				    'must be a string of 1 to 500 characters');
			END IF;
		END IF;
	END IF;
	IF p_body ? 'status' AND NOT lib.is_enum(p_body->'status',
	    ARRAY['open', 'closed']) THEN
		e := e || lib.err('status', 'must be open or closed');
	END IF;
	IF NOT lib.absent(p_body->'closed_reason') AND
	    NOT lib.is_str(p_body->'closed_reason', 1, 500) THEN
		e := e || lib.err('closed_reason', 'must be a string of 1 to '
		    '500 characters');
	END IF;
	RETURN e;
END $$;

-- Merge a category patch into the stored object; null removes a key.
CREATE FUNCTION casework.pd_merge(p_old jsonb, p_patch jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT jsonb_strip_nulls(coalesce(p_old, '{}') || p_patch)
$$;

/*
 * Insert a checked person record of p_kind (victim, witness) led by
 * p_org from p_body, its personal categories sealed; audits the
 * creation (and which personal categories it holds). Returns the case.
 */
CREATE FUNCTION casework.case_insert(p_ctx jsonb, p_body jsonb, p_org uuid,
    p_kind text) RETURNS cases
LANGUAGE plpgsql AS $$
DECLARE
	c	cases;
	v_dem	jsonb := coalesce(p_body->'demographics', '{}');
	v_dob	date;
	v_cats	text[] := '{}';
BEGIN
	v_dob := (p_body->'identity'->>'date_of_birth')::date;
	INSERT INTO cases (case_number, kind, lead_org, identified_on,
	    identified_by_org, identified_how, age, age_group, gender,
	    nationality, languages, trafficking_type, jurisdiction,
	    created_by)
	VALUES ('CT-' || to_char(now(), 'YYYY') || '-' ||
	    lpad(nextval('case_number_seq')::text, 6, '0'), p_kind, p_org,
	    (p_body->>'identified_on')::date,
	    coalesce((p_body->'identified_by'->>'org_id')::uuid, p_org),
	    p_body->'identified_by'->>'how', (v_dem->>'age')::integer,
	    casework.age_group(v_dob, (v_dem->>'age')::integer,
	    (p_body->>'identified_on')::date), v_dem->>'gender',
	    v_dem->>'nationality', coalesce(lib.jtext_array(
	    v_dem->'languages'), '{}'), coalesce(v_dem->>'trafficking_type',
	    'unknown'), p_body->>'jurisdiction', p_ctx->>'sub')
	RETURNING * INTO c;
	INSERT INTO case_personal (case_id, identity_enc, contact_enc,
	    location_enc) VALUES (c.id,
	    lib.pd_seal(jsonb_strip_nulls(p_body->'identity')),
	    lib.pd_seal(jsonb_strip_nulls(p_body->'contact')),
	    lib.pd_seal(jsonb_strip_nulls(p_body->'location')));
	PERFORM lib.audit(p_ctx, 'create', 'case', c.id,
	    ARRAY['case_details']);
	SELECT array_agg(k ORDER BY k) INTO v_cats FROM unnest(ARRAY[
	    'identity', 'contact', 'location']) k WHERE p_body ? k;
	IF v_cats IS NOT NULL THEN
		PERFORM lib.audit(p_ctx, 'create', 'case_personal', c.id,
		    v_cats);
	END IF;
	RETURN c;
END $$;

/*
 * POST /v1/cases: a service organization opens a victim's case, or
 * (kind witness) a witness's record that an agency links to an
 * investigation under a consent; an agency on an investigation opens
 * witness records with POST /v1/investigations/{id}/witnesses.
 */
CREATE FUNCTION api.case_create(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org_present(p_ctx);
	v_kind	text;
	c	cases;
BEGIN
	SELECT kind INTO v_kind FROM organizations WHERE id = v_org;
	IF v_kind IN ('law_enforcement', 'prosecution') THEN
		PERFORM lib.fail(403, 'lead-not-allowed', 'A case is held by '
		    'a service organization, not by law enforcement or '
		    'prosecution.');
	END IF;
	PERFORM lib.fail_if(casework.case_validate(p_body, true));
	c := casework.case_insert(p_ctx, p_body, v_org, coalesce(
	    p_body->>'kind', 'victim'));
	status := 201;
	body := casework.case_doc(c, casework.case_categories(p_ctx, c.id, c.lead_org,
	    v_org));
	headers := lib.etag_header('case', c.id, c.version) ||
	    jsonb_build_object('location',
	    '/v1/cases/' || c.id);
END $$;

-- GET /v1/cases/{id}
CREATE FUNCTION api.case_get(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	c	cases;
	v_cats	text[];
BEGIN
	PERFORM lib.query_allow(p_args, '{}');
	c := casework.case_fetch(p_ctx, lib.path_id(p_args), v_org);
	v_cats := casework.case_categories(p_ctx, c.id, c.lead_org, v_org);
	body := casework.case_doc(c, v_cats);
	PERFORM lib.audit(p_ctx, 'read', 'case', c.id, v_cats);
	status := 200;
	headers := lib.etag_header('case', c.id, c.version);
END $$;

-- GET /v1/cases: status, need, lead_org_id, updated_since; paginated.
CREATE FUNCTION api.case_list(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	v_coord	boolean := lib.is_coord(p_ctx);
	v_corgs	uuid[] := casework.coord_orgs(p_ctx);
	v_limit	integer;
	v_after	bigint;
	v_st	text;
	v_kind	text;
	v_need	text;
	v_lead	uuid;
	v_since	timestamptz;
	v_items	jsonb := '[]';
	v_last	bigint;
	v_n	integer := 0;
	c	cases;
	v_cats	text[];
BEGIN
	/* The changes feed, ordered by change (tasks.sql). */
	IF p_args->'query' ? 'updated_since' THEN
		SELECT * INTO status, body, headers FROM
		    casework.case_changes(p_ctx, p_args);
		RETURN;
	END IF;
	PERFORM lib.query_allow(p_args, ARRAY['status', 'need', 'lead_org_id',
	    'kind', 'updated_since', 'limit', 'cursor']);
	v_limit := lib.page_limit(p_args);
	v_after := (lib.cursor_decode(p_args, 'cases', '{seq:int}')->>'seq')::bigint;
	v_st := lib.query_enum(p_args, 'status', ARRAY['open', 'closed']);
	v_kind := lib.query_enum(p_args, 'kind', ARRAY['victim', 'witness']);
	v_need := lib.query_text(p_args, 'need');
	v_lead := lib.query_uuid(p_args, 'lead_org_id');
	v_since := lib.query_ts(p_args, 'updated_since');
	FOR c IN SELECT * FROM cases x
	    WHERE (v_after IS NULL OR x.seq > v_after)
	    AND (v_st IS NULL OR x.status = v_st)
	    AND (v_kind IS NULL OR x.kind = v_kind)
	    AND (v_lead IS NULL OR x.lead_org = v_lead)
	    AND (v_since IS NULL OR x.updated_at >= v_since)
	    AND ((v_coord AND casework.case_coord(p_ctx, x.id, v_corgs)) OR
	        x.id IN (SELECT v.case_id FROM casework.case_visible_orgs v
	        WHERE v.org_id = v_org))
	    AND (v_need IS NULL OR (EXISTS (SELECT 1 FROM case_needs n
	        WHERE n.case_id = x.id AND n.code = v_need) AND 'needs' = ANY (
	        casework.case_categories(p_ctx, x.id, x.lead_org, v_org))))
	    ORDER BY x.seq LIMIT v_limit + 1 LOOP
		v_n := v_n + 1;
		EXIT WHEN v_n > v_limit;
		v_last := c.seq;
		v_cats := casework.case_categories(p_ctx, c.id, c.lead_org, v_org);
		v_items := v_items || casework.case_doc(c, v_cats, true);
		PERFORM lib.audit(p_ctx, 'list', 'case', c.id, array_remove(
		    array_remove(array_remove(v_cats, 'identity'), 'contact'),
		    'location'));
	END LOOP;
	status := 200;
	-- One row past the page was fetched only to know a next page exists.
	body := jsonb_build_object('items', v_items, 'next_cursor',
	    CASE WHEN v_n > v_limit THEN lib.cursor_encode('cases',
	    jsonb_build_object('seq', v_last)) END);
	headers := '{}';
END $$;

/*
 * PATCH /v1/cases/{id} (lead organization only; If-Match required).
 *
 * age_group is derived data, and must never tell a caller what it may
 * not read. It is recomputed from the date of birth (with the age and
 * identified_on) only for a caller that sees identity, or that sets the
 * date of birth in this very patch (it knows the value then). For any
 * other caller (a lead by transfer without identity consent) the date
 * of birth is left out: age_group follows a demographics.age the patch
 * sets, and otherwise keeps the value it had, so changing identified_on
 * can never turn it into an oracle for the hidden date of birth.
 */
CREATE FUNCTION api.case_update(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	c	cases;
	p	case_personal;
	v_id	jsonb;
	v_dem	jsonb;
	v_st	text;
	v_reason text;
	v_pcats	text[] := '{}';
	v_flds	text[];
	v_dob	boolean;
BEGIN
	c := casework.case_fetch(p_ctx, lib.path_id(p_args), v_org, true);
	IF v_org IS DISTINCT FROM c.lead_org THEN
		PERFORM lib.fail(403, 'not-lead', 'Only the lead organization '
		    'may change a case.');
	END IF;
	/* May age_group follow the date of birth for this caller? */
	v_dob := 'identity' = ANY (casework.case_categories(p_ctx, c.id,
	    c.lead_org, v_org)) OR coalesce(jsonb_typeof(p_body->'identity') =
	    'object' AND p_body->'identity' ? 'date_of_birth', false);
	PERFORM lib.fail_if(casework.case_validate(p_body, false));
	PERFORM lib.if_match(p_args, 'case', c.id, c.version);
	SELECT array_agg(k ORDER BY k) INTO v_flds FROM jsonb_object_keys(
	    p_body) k;
	v_st := coalesce(p_body->>'status', c.status);
	v_reason := CASE WHEN v_st = 'open' THEN NULL WHEN p_body ?
	    'closed_reason' THEN p_body->>'closed_reason' ELSE
	    c.closed_reason END;
	IF v_st = 'closed' AND v_reason IS NULL THEN
		PERFORM lib.fail(422, 'validation-error', 'A closed case '
		    'needs a reason.', jsonb_build_array(lib.err(
		    'closed_reason', 'is required when status is closed')));
	END IF;
	SELECT * INTO p FROM case_personal WHERE case_id = c.id FOR UPDATE;
	v_id := lib.pd_open(p.identity_enc);
	IF p_body ? 'identity' THEN
		v_id := casework.pd_merge(v_id, p_body->'identity');
		UPDATE case_personal SET identity_enc = lib.pd_seal(v_id),
		    updated_at = now() WHERE case_id = c.id;
		v_pcats := v_pcats || 'identity'::text;
	END IF;
	IF p_body ? 'contact' THEN
		UPDATE case_personal SET contact_enc = lib.pd_seal(
		    casework.pd_merge(lib.pd_open(contact_enc), p_body->'contact')),
		    updated_at = now() WHERE case_id = c.id;
		v_pcats := v_pcats || 'contact'::text;
	END IF;
	IF p_body ? 'location' THEN
		UPDATE case_personal SET location_enc = lib.pd_seal(
		    casework.pd_merge(lib.pd_open(location_enc), p_body->'location')),
		    updated_at = now() WHERE case_id = c.id;
		v_pcats := v_pcats || 'location'::text;
	END IF;
	v_dem := casework.pd_merge(jsonb_build_object('age', c.age, 'gender',
	    c.gender, 'nationality', c.nationality, 'languages',
	    to_jsonb(c.languages), 'trafficking_type', c.trafficking_type),
	    coalesce(p_body->'demographics', '{}'));
	UPDATE cases SET
	    identified_on = coalesce((p_body->>'identified_on')::date,
	        identified_on),
	    identified_by_org = CASE WHEN p_body ? 'identified_by' THEN
	        coalesce((p_body->'identified_by'->>'org_id')::uuid,
	        identified_by_org) ELSE identified_by_org END,
	    identified_how = coalesce(p_body->'identified_by'->>'how',
	        identified_how),
	    jurisdiction = coalesce(p_body->>'jurisdiction', jurisdiction),
	    age = (v_dem->>'age')::integer,
	    gender = v_dem->>'gender',
	    nationality = v_dem->>'nationality',
	    languages = coalesce(lib.jtext_array(v_dem->'languages'), '{}'),
	    trafficking_type = coalesce(v_dem->>'trafficking_type', 'unknown'),
	    age_group = CASE WHEN v_dob THEN casework.age_group(
	        (v_id->>'date_of_birth')::date, (v_dem->>'age')::integer,
	        coalesce((p_body->>'identified_on')::date, identified_on))
	        WHEN NOT lib.absent(p_body->'demographics'->'age') THEN
	        casework.age_group(NULL, (v_dem->>'age')::integer, NULL)
	        ELSE age_group END,
	    status = v_st, closed_reason = v_reason,
	    version = version + 1, updated_at = now()
	WHERE id = c.id RETURNING * INTO c;
	PERFORM lib.audit(p_ctx, 'update', 'case', c.id, v_flds);
	IF cardinality(v_pcats) > 0 THEN
		PERFORM lib.audit(p_ctx, 'update', 'case_personal', c.id,
		    v_pcats);
	END IF;
	status := 200;
	body := casework.case_doc(c, casework.case_categories(p_ctx, c.id, c.lead_org,
	    v_org));
	headers := lib.etag_header('case', c.id, c.version);
END $$;

----------------------------------------------------------------------
-- Needs
----------------------------------------------------------------------

-- Only the lead organization records needs and their changes.
CREATE FUNCTION casework.case_require_lead(c cases, p_org uuid, p_what text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF p_org IS DISTINCT FROM c.lead_org THEN
		PERFORM lib.fail(403, 'not-lead', 'Only the lead organization '
		    'may ' || p_what || '.');
	END IF;
END $$;

CREATE FUNCTION casework.need_statuses() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT ARRAY['identified', 'referred', 'in_progress', 'met',
	    'declined_by_client', 'unmet']
$$;

-- POST /v1/cases/{id}/needs
CREATE FUNCTION api.case_need_create(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	c	cases;
	n	case_needs;
	e	jsonb;
BEGIN
	c := casework.case_fetch(p_ctx, lib.path_id(p_args), v_org);
	PERFORM casework.case_require_lead(c, v_org, 'record needs');
	e := lib.check_keys(p_body, '', ARRAY['code', 'status'], ARRAY['id',
	    'case_id', 'version', 'created_at', 'updated_at', 'history']);
	/* A witness record carries criminal-justice needs (witness support). */
	IF NOT lib.is_str(p_body->'code', 1, 100) OR NOT EXISTS (SELECT 1
	    FROM need_taxonomy WHERE code = p_body->>'code' AND
	    (grp = 'victim' OR (c.kind = 'witness' AND
	    grp = 'criminal_justice'))) THEN
		e := e || lib.err('code', CASE WHEN c.kind = 'witness' THEN
		    'must be a victim or criminal-justice need code from '
		    '/v1/taxonomy/needs' ELSE 'must be a victim need code from '
		    '/v1/taxonomy/needs' END);
	END IF;
	IF p_body ? 'status' AND NOT lib.is_enum(p_body->'status',
	    casework.need_statuses()) THEN
		e := e || lib.err('status', 'must be one of ' ||
		    array_to_string(casework.need_statuses(), ', '));
	END IF;
	PERFORM lib.fail_if(e);
	IF EXISTS (SELECT 1 FROM case_needs WHERE case_id = c.id AND
	    code = p_body->>'code') THEN
		PERFORM lib.fail(409, 'duplicate-need', 'This case already has '
		    'that need; change its status instead.');
	END IF;
	INSERT INTO case_needs (case_id, code, status)
	    VALUES (c.id, p_body->>'code', coalesce(p_body->>'status',
	    'identified')) RETURNING * INTO n;
	INSERT INTO case_need_history (need_id, case_id, status,
	    changed_by_sub, changed_by_org) VALUES (n.id, c.id, n.status,
	    p_ctx->>'sub', v_org);
	UPDATE cases SET updated_at = now() WHERE id = c.id;
	PERFORM lib.audit(p_ctx, 'create', 'need', n.id, ARRAY['code',
	    'status']);
	status := 201;
	body := casework.need_doc(n);
	headers := lib.etag_header('need', n.id, n.version) ||
	    jsonb_build_object('location',
	    '/v1/cases/' || c.id || '/needs/' || n.id);
END $$;

-- GET /v1/cases/{id}/needs (needs category required to see items)
CREATE FUNCTION api.case_need_list(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	c	cases;
	v_st	text;
	v_ok	boolean;
BEGIN
	PERFORM lib.query_allow(p_args, ARRAY['status']);
	v_st := lib.query_enum(p_args, 'status', casework.need_statuses());
	c := casework.case_fetch(p_ctx, lib.path_id(p_args), v_org);
	v_ok := 'needs' = ANY (casework.case_categories(p_ctx, c.id, c.lead_org,
	    v_org));
	status := 200;
	headers := '{}';
	body := jsonb_build_object('items', CASE WHEN v_ok THEN
	    coalesce((SELECT jsonb_agg(casework.need_doc(n) ORDER BY n.created_at,
	    n.id) FROM case_needs n WHERE n.case_id = c.id AND
	    (v_st IS NULL OR n.status = v_st)), '[]') ELSE '[]' END,
	    'redacted', CASE WHEN v_ok THEN '[]'::jsonb ELSE '["needs"]' END);
	PERFORM lib.audit(p_ctx, 'read', 'case', c.id, CASE WHEN v_ok THEN
	    ARRAY['needs'] ELSE '{}' END);
END $$;

/*
 * GET /v1/cases/{id}/needs/{nid}: who reads the case's needs category
 * (as in the list); 404 for anyone else and for a need not on the case.
 * ETag; audited as a read of the case's needs.
 */
CREATE FUNCTION api.case_need_get(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	c	cases;
	n	case_needs;
BEGIN
	PERFORM lib.query_allow(p_args, '{}');
	c := casework.case_fetch(p_ctx, lib.path_id(p_args), v_org);
	SELECT * INTO n FROM case_needs WHERE id = lib.path_id(p_args, 'nid')
	    AND case_id = c.id;
	IF n.id IS NULL OR ('needs' = ANY (casework.case_categories(p_ctx,
	    c.id, c.lead_org, v_org))) IS NOT TRUE THEN
		PERFORM lib.fail(404, 'not-found', 'No such need on this case.');
	END IF;
	PERFORM lib.audit(p_ctx, 'read', 'case', c.id, ARRAY['needs']);
	status := 200;
	body := casework.need_doc(n);
	headers := lib.etag_header('need', n.id, n.version);
END $$;

-- PATCH /v1/cases/{id}/needs/{nid}
CREATE FUNCTION api.case_need_update(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	c	cases;
	n	case_needs;
	e	jsonb;
BEGIN
	c := casework.case_fetch(p_ctx, lib.path_id(p_args), v_org);
	SELECT * INTO n FROM case_needs WHERE id = lib.path_id(p_args, 'nid')
	    AND case_id = c.id FOR UPDATE;
	IF n.id IS NULL OR NOT ('needs' = ANY (casework.case_categories(p_ctx,
	    c.id, c.lead_org, v_org))) THEN
		PERFORM lib.fail(404, 'not-found', 'No such need on this case.');
	END IF;
	PERFORM casework.case_require_lead(c, v_org, 'change needs');
	e := lib.check_keys(p_body, '', ARRAY['status'], ARRAY['id',
	    'case_id', 'code', 'version', 'created_at', 'updated_at',
	    'history']);
	IF NOT lib.is_enum(p_body->'status', casework.need_statuses()) THEN
		e := e || lib.err('status', 'must be one of ' ||
		    array_to_string(casework.need_statuses(), ', '));
	END IF;
	PERFORM lib.fail_if(e);
	PERFORM lib.if_match(p_args, 'need', n.id, n.version);
	UPDATE case_needs SET status = p_body->>'status', version = version + 1,
	    updated_at = now() WHERE id = n.id RETURNING * INTO n;
	INSERT INTO case_need_history (need_id, case_id, status,
	    changed_by_sub, changed_by_org) VALUES (n.id, c.id, n.status,
	    p_ctx->>'sub', v_org);
	UPDATE cases SET updated_at = now() WHERE id = c.id;
	PERFORM lib.audit(p_ctx, 'update', 'need', n.id, ARRAY['status']);
	status := 200;
	body := casework.need_doc(n);
	headers := lib.etag_header('need', n.id, n.version);
END $$;

----------------------------------------------------------------------
-- Tasks
----------------------------------------------------------------------
/* A task; overdue: still open or in progress after its due time. */
CREATE FUNCTION casework.task_doc(t tasks) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', t.id, 'case_id', t.case_id,
	    'investigation_id', t.investigation_id, 'title', t.title,
	    'kind', t.kind, 'due_at', t.due_at, 'assigned_org_id',
	    t.assigned_org, 'status', t.status, 'version', t.version,
	    'overdue', t.status IN ('open', 'in_progress') AND
	    t.due_at < now(),
	    'created_by', t.created_by, 'created_at', t.created_at,
	    'updated_at', t.updated_at)
$$;

CREATE FUNCTION casework.task_validate(p_body jsonb, p_create boolean)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
	e jsonb;
BEGIN
	e := lib.check_keys(p_body, '', ARRAY['title', 'kind', 'due_at',
	    'assigned_org_id', 'status'], ARRAY['id', 'case_id',
	    'investigation_id', 'version', 'created_by', 'created_at',
	    'updated_at']);
	IF (p_create OR p_body ? 'title') AND
	    NOT lib.is_str(p_body->'title', 1, 200) THEN
		e := e || lib.err('title', 'must be a string of 1 to 200 '
		    'characters');
	END IF;
	IF (p_create OR p_body ? 'kind') AND NOT lib.is_enum(p_body->'kind',
	    ARRAY['court_date', 'follow_up', 'document_deadline', 'other']) THEN
		e := e || lib.err('kind', 'must be one of court_date, '
		    'follow_up, document_deadline, other');
	END IF;
	IF (p_create OR p_body ? 'due_at') AND NOT lib.is_ts(p_body->'due_at')
	    THEN
		e := e || lib.err('due_at', 'must be an RFC 3339 date-time');
	END IF;
	IF p_body ? 'assigned_org_id' AND (NOT lib.is_uuid(
	    p_body->'assigned_org_id') OR NOT EXISTS (SELECT 1 FROM
	    organizations WHERE id = (p_body->>'assigned_org_id')::uuid AND
	    organizations.status = 'active')) THEN
		e := e || lib.err('assigned_org_id', 'must name an active '
		    'organization');
	END IF;
	IF p_body ? 'status' AND NOT lib.is_enum(p_body->'status',
	    ARRAY['open', 'in_progress', 'done', 'cancelled']) THEN
		e := e || lib.err('status', 'must be one of open, in_progress, '
		    'done, cancelled');
	END IF;
	RETURN e;
END $$;

-- POST /v1/cases/{id}/tasks (lead organization or coordinator)
CREATE FUNCTION api.case_task_create(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	c	cases;
	t	tasks;
BEGIN
	c := casework.case_fetch(p_ctx, lib.path_id(p_args), v_org);
	IF NOT (lib.has_role(p_ctx, 'coordinator') AND
	    casework.case_coord(p_ctx, c.id)) THEN
		PERFORM casework.case_require_lead(c, v_org, 'add tasks');
	END IF;
	PERFORM lib.fail_if(casework.task_validate(p_body, true));
	INSERT INTO tasks (case_id, title, kind, due_at, assigned_org, status,
	    created_by) VALUES (c.id, p_body->>'title', p_body->>'kind',
	    (p_body->>'due_at')::timestamptz, coalesce((p_body->>
	    'assigned_org_id')::uuid, c.lead_org), coalesce(
	    p_body->>'status', 'open'), p_ctx->>'sub') RETURNING * INTO t;
	UPDATE cases SET updated_at = now() WHERE id = c.id;
	PERFORM lib.audit(p_ctx, 'create', 'task', t.id, ARRAY(SELECT
	    jsonb_object_keys(p_body) ORDER BY 1));
	status := 201;
	body := casework.task_doc(t);
	headers := lib.etag_header('task', t.id, t.version) ||
	    jsonb_build_object('location',
	    '/v1/cases/' || c.id || '/tasks/' || t.id);
END $$;

/*
 * GET /v1/cases/{id}/tasks: the lead organization and coordinators see
 * every task of the case; anyone else who sees the case only the tasks
 * assigned to its organization. Audited.
 */
CREATE FUNCTION api.case_task_list(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	c	cases;
	v_st	text;
	v_all	boolean;
BEGIN
	PERFORM lib.query_allow(p_args, ARRAY['status']);
	v_st := lib.query_enum(p_args, 'status', ARRAY['open', 'in_progress',
	    'done', 'cancelled']);
	c := casework.case_fetch(p_ctx, lib.path_id(p_args), v_org);
	v_all := casework.case_coord(p_ctx, c.id) OR v_org = c.lead_org;
	status := 200;
	headers := '{}';
	body := jsonb_build_object('items', coalesce((SELECT jsonb_agg(
	    casework.task_doc(t) ORDER BY t.due_at, t.id) FROM tasks t
	    WHERE t.case_id = c.id AND (v_st IS NULL OR t.status = v_st) AND
	    (v_all OR t.assigned_org = v_org)), '[]'));
	PERFORM lib.audit(p_ctx, 'read', 'case', c.id, ARRAY['tasks']);
END $$;

/*
 * GET /v1/cases/{id}/tasks/{tid}: as the list, the lead organization and
 * coordinators read every task of the case, anyone else who sees the
 * case only a task assigned to its organization; 404 otherwise. ETag;
 * audited as a read of the case's tasks.
 */
CREATE FUNCTION api.case_task_get(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	c	cases;
	t	tasks;
BEGIN
	PERFORM lib.query_allow(p_args, '{}');
	c := casework.case_fetch(p_ctx, lib.path_id(p_args), v_org);
	SELECT * INTO t FROM tasks WHERE id = lib.path_id(p_args, 'tid') AND
	    case_id = c.id;
	IF t.id IS NULL OR (casework.case_coord(p_ctx, c.id) OR v_org = c.lead_org OR
	    t.assigned_org = v_org) IS NOT TRUE THEN
		PERFORM lib.fail(404, 'not-found', 'No such task on this case.');
	END IF;
	PERFORM lib.audit(p_ctx, 'read', 'case', c.id, ARRAY['tasks']);
	status := 200;
	body := casework.task_doc(t);
	headers := lib.etag_header('task', t.id, t.version);
END $$;

/*
 * PATCH /v1/cases/{id}/tasks/{tid}: the lead organization or a
 * coordinator changes anything; the assigned organization moves the
 * status of a task that is still open or in progress (403 not-lead
 * otherwise: only the lead or a coordinator reopens a task that is done
 * or cancelled, since an open task is what lets its assignee see the
 * case, and nothing an organization does on its own may prolong that).
 * If-Match; audited.
 */
CREATE FUNCTION api.case_task_update(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	c	cases;
	t	tasks;
	v_bad	text[];
BEGIN
	c := casework.case_fetch(p_ctx, lib.path_id(p_args), v_org);
	SELECT * INTO t FROM tasks WHERE id = lib.path_id(p_args, 'tid') AND
	    case_id = c.id FOR UPDATE;
	IF t.id IS NULL THEN
		PERFORM lib.fail(404, 'not-found', 'No such task on this case.');
	END IF;
	IF NOT ((lib.has_role(p_ctx, 'coordinator') AND
	    casework.case_coord(p_ctx, c.id)) OR v_org = c.lead_org) THEN
		IF v_org IS DISTINCT FROM t.assigned_org THEN
			PERFORM lib.fail(403, 'not-lead', 'Only the lead '
			    'organization, a coordinator or the assigned '
			    'organization may change this task.');
		END IF;
		IF t.status IN ('done', 'cancelled') THEN
			PERFORM lib.fail(403, 'not-lead', 'Only the lead '
			    'organization or a coordinator may change a task '
			    'that is ' || t.status || '.');
		END IF;
		SELECT array_agg(k ORDER BY k) INTO v_bad FROM
		    jsonb_object_keys(p_body) k WHERE k <> 'status';
		IF v_bad IS NOT NULL THEN
			PERFORM lib.fail(422, 'validation-error', 'The assigned '
			    'organization may only change status.',
			    (SELECT jsonb_agg(lib.err(k, 'only the lead '
			    'organization or a coordinator may set it'))
			    FROM unnest(v_bad) k));
		END IF;
	END IF;
	PERFORM lib.fail_if(casework.task_validate(p_body, false));
	PERFORM lib.if_match(p_args, 'task', t.id, t.version);
	UPDATE tasks SET title = coalesce(p_body->>'title', title),
	    kind = coalesce(p_body->>'kind', kind),
	    due_at = coalesce((p_body->>'due_at')::timestamptz, due_at),
	    assigned_org = coalesce((p_body->>'assigned_org_id')::uuid,
	    assigned_org), status = coalesce(p_body->>'status', tasks.status),
	    version = version + 1, updated_at = now()
	    WHERE id = t.id RETURNING * INTO t;
	UPDATE cases SET updated_at = now() WHERE id = c.id;
	PERFORM lib.audit(p_ctx, 'update', 'task', t.id, ARRAY(SELECT
	    jsonb_object_keys(p_body) ORDER BY 1));
	status := 200;
	body := casework.task_doc(t);
	headers := lib.etag_header('task', t.id, t.version);
END $$;

----------------------------------------------------------------------
-- Transfer of the lead role: proposed by the lead organization, effective
-- only when the receiving organization accepts. A lead by transfer sees
-- personal categories only under consents: the one the transfer carries
-- (recorded by the proposing lead on acceptance) or later ones.
----------------------------------------------------------------------
CREATE FUNCTION casework.transfer_doc(t case_transfers) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT jsonb_build_object('id', t.id, 'case_id', t.case_id,
	    'from_org_id', t.from_org, 'to_org_id', t.to_org, 'reason',
	    t.reason, 'status', t.status, 'requested_by', t.requested_by,
	    'requested_at', t.requested_at, 'decided_by', t.decided_by,
	    'decided_at', t.decided_at, 'consent', t.consent)
$$;

/*
 * POST /v1/cases/{id}/transfer {to_org_id, reason?, consent?}: only the
 * lead organization proposes (403 not-lead for anyone else, coordinators
 * included). `consent` is the victim's consent for the receiving
 * organization (categories, purpose, informed, written, form_ref,
 * expires_at), within what the lead holds itself; it is recorded when
 * the transfer is accepted. 409 transfer-pending, 422 for bad fields.
 */
CREATE FUNCTION api.case_transfer_request(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	c	cases;
	t	case_transfers;
	e	jsonb;
	v_to	uuid;
	v_k	jsonb := p_body->'consent';
BEGIN
	c := casework.case_fetch(p_ctx, lib.path_id(p_args), v_org, true);
	PERFORM casework.case_require_lead(c, v_org, 'transfer the case');
	e := lib.check_keys(p_body, '', ARRAY['to_org_id', 'reason',
	    'consent'], ARRAY['id', 'case_id', 'from_org_id', 'status',
	    'requested_by', 'requested_at', 'decided_by', 'decided_at']);
	IF NOT lib.is_uuid(p_body->'to_org_id') THEN
		e := e || lib.err('to_org_id', 'must be an organization id');
	ELSE
		v_to := (p_body->>'to_org_id')::uuid;
		IF NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = v_to
		    AND o.status = 'active' AND o.kind NOT IN
		    ('law_enforcement', 'prosecution')) THEN
			e := e || lib.err('to_org_id', 'must name an active '
			    'service organization');
		ELSIF v_to = c.lead_org THEN
			e := e || lib.err('to_org_id', 'is already the lead '
			    'organization');
		END IF;
	END IF;
	IF NOT lib.absent(p_body->'reason') AND NOT lib.is_str(
	    p_body->'reason', 1, 500) THEN
		e := e || lib.err('reason', 'must be a string of 1 to 500 '
		    'characters');
	END IF;
	IF lib.absent(v_k) THEN
		v_k := NULL;
	ELSIF jsonb_typeof(v_k) <> 'object' THEN
		e := e || lib.err('consent', 'must be an object');
	ELSE
		e := e || lib.check_keys(v_k, 'consent.', ARRAY['categories',
		    'purpose', 'informed', 'written', 'form_ref',
		    'expires_at']) || casework.consent_check(v_k, 'consent.',
		    false);
		IF jsonb_array_length(e) = 0 THEN
			e := casework.consent_grant_check(c.id, v_org, v_k,
			    'consent.');
		END IF;
	END IF;
	PERFORM lib.fail_if(e);
	IF EXISTS (SELECT 1 FROM case_transfers WHERE case_id = c.id AND
	    case_transfers.status = 'pending') THEN
		PERFORM lib.fail(409, 'transfer-pending', 'A transfer of this '
		    'case is already waiting for an answer.');
	END IF;
	INSERT INTO case_transfers (case_id, from_org, to_org, reason,
	    requested_by, requested_by_org, consent) VALUES (c.id, c.lead_org,
	    v_to, p_body->>'reason', p_ctx->>'sub', v_org, CASE WHEN v_k IS
	    NOT NULL THEN v_k || jsonb_build_object('categories', to_jsonb(
	    lib.text_array(v_k->'categories', '{}')), 'expires_at',
	    (v_k->>'expires_at')::timestamptz) END) RETURNING * INTO t;
	PERFORM lib.audit(p_ctx, 'transfer_request', 'case', c.id,
	    ARRAY['lead_org_id']);
	status := 201;
	body := casework.transfer_doc(t);
	headers := jsonb_build_object('location', '/v1/cases/' || c.id ||
	    '/transfer');
END $$;

/*
 * GET /v1/cases/{id}/transfer: the case's latest transfer (the pending
 * one while there is one), for coordinators, the lead organization and
 * the two organizations of that transfer; 404 for anyone else, and
 * when the case was never transferred. Audited.
 */
CREATE FUNCTION api.case_transfer_get(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	c	cases;
	t	case_transfers;
BEGIN
	PERFORM lib.query_allow(p_args, '{}');
	c := casework.case_fetch(p_ctx, lib.path_id(p_args), v_org);
	SELECT * INTO t FROM case_transfers WHERE case_id = c.id
	    ORDER BY requested_at DESC, id DESC LIMIT 1;
	IF t.id IS NULL OR (casework.case_coord(p_ctx, c.id) OR v_org IN (c.lead_org,
	    t.from_org, t.to_org)) IS NOT TRUE THEN
		PERFORM lib.fail(404, 'not-found', 'No transfer of this case.');
	END IF;
	PERFORM lib.audit(p_ctx, 'read', 'case', c.id, ARRAY['transfer']);
	status := 200;
	body := casework.transfer_doc(t);
	headers := '{}';
END $$;

/*
 * POST /v1/cases/{id}/transfer/accept and /decline (receiving org).
 * Accepting makes the caller's organization the lead by transfer and
 * records the consent the transfer carries, as the proposing lead's,
 * narrowed to what that lead still holds (nothing when it holds none of
 * it any more, or it expired meanwhile).
 */
CREATE FUNCTION casework.case_transfer_answer(p_ctx jsonb, p_args jsonb,
    p_accept boolean, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	c	cases;
	t	case_transfers;
	g	record;
BEGIN
	c := casework.case_fetch(p_ctx, lib.path_id(p_args), v_org, true);
	SELECT * INTO t FROM case_transfers WHERE case_id = c.id AND
	    case_transfers.status = 'pending' FOR UPDATE;
	IF t.id IS NULL THEN
		PERFORM lib.fail(409, 'no-pending-transfer', 'No transfer of '
		    'this case is waiting for an answer.');
	END IF;
	IF v_org IS DISTINCT FROM t.to_org THEN
		PERFORM lib.fail(403, 'not-recipient', 'Only the receiving '
		    'organization may answer a transfer.');
	END IF;
	UPDATE case_transfers SET status = CASE WHEN p_accept THEN 'accepted'
	    ELSE 'declined' END, decided_by = p_ctx->>'sub',
	    decided_at = now() WHERE id = t.id RETURNING * INTO t;
	IF p_accept THEN
		/* What the proposing lead holds, read while it still leads. */
		g := casework.consent_grantable(c.id, t.from_org,
		    lib.text_array(t.consent->'categories', '{}'),
		    (t.consent->>'expires_at')::timestamptz);
		UPDATE cases SET lead_org = t.to_org, lead_by_transfer = true,
		    version = version + 1, updated_at = now() WHERE id = c.id;
		IF cardinality(g.categories) > 0 AND g.until > now() THEN
			PERFORM casework.consent_record(p_ctx, c.id, t.consent ||
			    jsonb_build_object('categories', to_jsonb(
			    g.categories), 'expires_at', g.until), t.to_org,
			    NULL, t.requested_by, t.from_org);
		END IF;
	END IF;
	PERFORM lib.audit(p_ctx, CASE WHEN p_accept THEN 'transfer_accept'
	    ELSE 'transfer_decline' END, 'case', c.id, CASE WHEN p_accept
	    THEN ARRAY['lead_org_id'] ELSE '{}' END);
	status := 200;
	body := casework.transfer_doc(t);
	headers := '{}';
END $$;

CREATE FUNCTION api.case_transfer_accept(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE sql AS $$
	SELECT * FROM casework.case_transfer_answer(p_ctx, p_args, true)
$$;

CREATE FUNCTION api.case_transfer_decline(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE sql AS $$
	SELECT * FROM casework.case_transfer_answer(p_ctx, p_args, false)
$$;

/*
 * Set a case's need for p_code to p_status as the caller in p_ctx:
 * inserts the need when the case lacks it, records history and audits.
 * Criminal-justice codes and unchanged statuses are left alone.
 */
CREATE FUNCTION casework.case_need_mirror(p_ctx jsonb, p_case uuid, p_code text,
    p_status text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	n case_needs;
BEGIN
	IF p_case IS NULL OR p_status IS NULL OR NOT EXISTS (SELECT 1 FROM need_taxonomy WHERE
	    code = p_code AND grp = 'victim') THEN
		RETURN;
	END IF;
	SELECT * INTO n FROM case_needs WHERE case_id = p_case AND
	    code = p_code FOR UPDATE;
	IF n.id IS NULL THEN
		INSERT INTO case_needs (case_id, code, status) VALUES (p_case,
		    p_code, p_status) RETURNING * INTO n;
		PERFORM lib.audit(p_ctx, 'create', 'need', n.id,
		    ARRAY['code', 'status']);
	ELSIF n.status = p_status THEN
		RETURN;
	ELSE
		UPDATE case_needs SET status = p_status, version = version + 1,
		    updated_at = now() WHERE id = n.id RETURNING * INTO n;
		PERFORM lib.audit(p_ctx, 'update', 'need', n.id, ARRAY['status']);
	END IF;
	INSERT INTO case_need_history (need_id, case_id, status,
	    changed_by_sub, changed_by_org) VALUES (n.id, p_case, p_status,
	    p_ctx->>'sub', lib.ctx_org(p_ctx));
	UPDATE cases SET updated_at = now() WHERE id = p_case;
END $$;
