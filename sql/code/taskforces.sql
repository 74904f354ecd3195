-- taskforces.sql: task forces and what hangs off them. /v1/task-forces
-- and their members (api.task_force_*, api.task_force_member_*),
-- /v1/agreements (api.agreement_*), /v1/meetings (api.meeting_*),
-- /v1/trainings (api.training_*) and the public face /public/v1/...
-- (api.public_task_force*); helpers in schema directory, and the two
-- conditions other areas call: referral.task_force_allows (matching
-- offers only to active members of the referral's task forces) and
-- casework.agreement_allows (a personal category flows to an
-- organization only under a current agreement).
--
-- Who may do what: admins everything, deployment-wide. A task force's
-- coordinators are coordinator tokens of its lead organization or of a
-- member whose active membership carries the coordinator flag
-- (directory.tf_is_coord); they manage its members, agreements,
-- meetings and training records. Any organization with a membership of
-- a task force (any status) reads it, its members, and the meetings it
-- attended; an agreement is read by its coordinators and its parties.
-- Anything else is 404, never 403.

CREATE FUNCTION directory.tf_disciplines() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT '{law_enforcement,prosecution,victim_services,health,legal,'
	    'ngo,labor,child_welfare,other}'::text[]
$$;

CREATE FUNCTION directory.tf_categories() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT '{case_details,contact,identity,location,needs}'::text[]
$$;

/* Is the caller a coordinator of task force t (or an admin)? */
CREATE FUNCTION directory.tf_is_coord(p_ctx jsonb, t task_forces,
    p_org uuid) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
	IF lib.has_role(p_ctx, 'admin') THEN
		RETURN true;
	END IF;
	/* coalesce: a task force without a lead must deny, not be NULL. */
	RETURN coalesce(lib.has_role(p_ctx, 'coordinator') AND p_org IS NOT
	    NULL AND (t.lead_org = p_org OR EXISTS (SELECT 1 FROM
	    task_force_members m WHERE m.task_force_id = t.id AND m.org_id =
	    p_org AND m.coordinator AND m.status = 'active')), false);
END $$;

/* May the caller see task force t: admin, its lead, any membership. */
CREATE FUNCTION directory.tf_visible(p_ctx jsonb, t task_forces,
    p_org uuid) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN coalesce(lib.has_role(p_ctx, 'admin') OR (p_org IS NOT NULL
	    AND (t.lead_org = p_org OR EXISTS (SELECT 1 FROM
	    task_force_members m WHERE m.task_force_id = t.id AND
	    m.org_id = p_org))), false);
END $$;

/* The task force p_id the caller may see (locked when p_lock), or 404. */
CREATE FUNCTION directory.tf_fetch(p_ctx jsonb, p_id uuid, p_org uuid,
    p_lock boolean DEFAULT false) RETURNS task_forces
LANGUAGE plpgsql AS $$
DECLARE
	t task_forces;
BEGIN
	IF p_lock THEN
		SELECT * INTO t FROM task_forces WHERE id = p_id FOR UPDATE;
	ELSE
		SELECT * INTO t FROM task_forces WHERE id = p_id;
	END IF;
	IF t.id IS NULL OR NOT directory.tf_visible(p_ctx, t, p_org) THEN
		PERFORM lib.fail(404, 'not-found', 'No such task force.');
	END IF;
	RETURN t;
END $$;

/* 403 unless the caller coordinates t (the caller can see t). */
CREATE FUNCTION directory.tf_require_coord(p_ctx jsonb, t task_forces,
    p_org uuid, p_what text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
	IF NOT directory.tf_is_coord(p_ctx, t, p_org) THEN
		PERFORM lib.fail(403, 'forbidden', 'Only the task force''s '
		    'coordinators and admins may ' || p_what || '.');
	END IF;
END $$;

CREATE FUNCTION directory.tf_doc(t task_forces) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', t.id, 'name', t.name, 'description',
	    t.description, 'jurisdictions', to_jsonb(t.jurisdictions),
	    'lead_org_id', t.lead_org, 'is_default', t.is_default,
	    'enrol_new_orgs', t.enrol_new_orgs, 'status', t.status,
	    'member_count', (SELECT count(*) FROM task_force_members m WHERE
	    m.task_force_id = t.id AND m.status = 'active'),
	    'version', t.version, 'created_at', t.created_at, 'updated_at',
	    t.updated_at)
$$;

CREATE FUNCTION directory.tf_member_doc(m task_force_members) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', m.id, 'task_force_id', m.task_force_id,
	    'organization', (SELECT directory.org_summary(o) FROM organizations
	    o WHERE o.id = m.org_id), 'organization_id', m.org_id,
	    'discipline', m.discipline, 'duties', m.duties, 'duty_tags',
	    to_jsonb(m.duty_tags), 'status', m.status, 'coordinator',
	    m.coordinator, 'contacts', m.contacts, 'invited_at', m.invited_at,
	    'joined_at', m.joined_at, 'suspended_at', m.suspended_at,
	    'left_at', m.left_at, 'version', m.version, 'created_at',
	    m.created_at, 'updated_at', m.updated_at)
$$;

/*
 * May the caller read the named contacts of t's members (personal data):
 * admins, its coordinators and organizations with an active membership.
 * An organization only invited, suspended or gone reads the members but
 * not their contacts (its own membership's it always reads).
 */
CREATE FUNCTION directory.tf_contacts_visible(p_ctx jsonb, t task_forces,
    p_org uuid) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN directory.tf_is_coord(p_ctx, t, p_org) OR coalesce(EXISTS (
	    SELECT 1 FROM task_force_members m WHERE m.task_force_id = t.id
	    AND m.org_id = p_org AND m.status = 'active'), false);
END $$;

/* A membership as the caller reads it (contacts: see above). */
CREATE FUNCTION directory.tf_member_read(m task_force_members,
    p_contacts boolean, p_org uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN p_contacts OR m.org_id = p_org THEN
	    directory.tf_member_doc(m) ELSE directory.tf_member_doc(m) ||
	    '{"contacts": []}'::jsonb END
$$;

/* Errors of the task force fields present in p (p_create: name required). */
CREATE FUNCTION directory.tf_check(p jsonb, p_create boolean) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	e jsonb := '[]';
BEGIN
	e := e || lib.check_keys(p, '', '{name,description,jurisdictions,'
	    'lead_org_id,enrol_new_orgs,status}', '{id,is_default,'
	    'member_count,version,created_at,updated_at}');
	e := e || lib.check_str(p, 'name', 'name', p_create, 1, 300);
	e := e || lib.check_str(p, 'description', 'description', false, 0,
	    5000);
	e := e || lib.check_str_array(p, 'jurisdictions', 'jurisdictions',
	    directory.jurisdiction_re(), NULL, 500);
	IF NOT lib.absent(p->'lead_org_id') AND (NOT lib.is_uuid(
	    p->'lead_org_id') OR NOT EXISTS (SELECT 1 FROM organizations WHERE
	    id = (p->>'lead_org_id')::uuid AND status = 'active')) THEN
		e := e || lib.err('lead_org_id', 'must name an active '
		    'organization');
	END IF;
	e := e || lib.check_bool(p, 'enrol_new_orgs', 'enrol_new_orgs');
	IF NOT lib.absent(p->'status') AND NOT lib.is_enum(p->'status',
	    '{active,closed}') THEN
		e := e || lib.err('status', 'must be active or closed');
	END IF;
	RETURN e;
END $$;

/* Errors of the contacts array in p (named staff contacts). */
CREATE FUNCTION directory.tf_contacts_check(p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	e	jsonb := '[]';
	c	jsonb;
	i	integer := 0;
BEGIN
	IF lib.absent(p) THEN
		RETURN e;
	END IF;
	IF jsonb_typeof(p) <> 'array' OR jsonb_array_length(p) > 20 THEN
		RETURN jsonb_build_array(lib.err('contacts', 'must be an array '
		    'of at most 20 contacts'));
	END IF;
	FOR c IN SELECT * FROM jsonb_array_elements(p) LOOP
		IF jsonb_typeof(c) <> 'object' THEN
			e := e || lib.err('contacts[' || i || ']', 'must be an '
			    'object');
		ELSE
			e := e || lib.check_keys(c, 'contacts[' || i || '].',
			    '{name,role,email,phone}');
			e := e || lib.check_str(c, 'name', 'contacts[' || i ||
			    '].name', true, 1, 200);
			e := e || lib.check_str(c, 'role', 'contacts[' || i ||
			    '].role', false, 1, 200);
			e := e || lib.check_str(c, 'phone', 'contacts[' || i ||
			    '].phone', false, 3, 40);
			e := e || lib.check_str(c, 'email', 'contacts[' || i ||
			    '].email', false, 3, 254);
			IF jsonb_typeof(c->'email') = 'string' AND
			    (c->>'email') !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' THEN
				e := e || lib.err('contacts[' || i || '].email',
				    'must be an email address');
			END IF;
		END IF;
		i := i + 1;
	END LOOP;
	RETURN e;
END $$;

/* Errors of the membership fields present in p. */
CREATE FUNCTION directory.tf_member_check(p jsonb, p_create boolean)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	e jsonb := '[]';
BEGIN
	e := e || lib.check_keys(p, '', CASE WHEN p_create THEN
	    '{organization_id,discipline,duties,duty_tags,status,coordinator,'
	    'contacts}'::text[] ELSE '{discipline,duties,duty_tags,status,'
	    'coordinator,contacts}'::text[] END, '{id,task_force_id,'
	    'organization,invited_at,joined_at,suspended_at,left_at,version,'
	    'created_at,updated_at,organization_id}');
	IF p_create AND (NOT lib.is_uuid(p->'organization_id') OR NOT EXISTS (
	    SELECT 1 FROM organizations WHERE id = (p->>'organization_id')::
	    uuid)) THEN
		e := e || lib.err('organization_id', 'must name an existing '
		    'organization');
	END IF;
	IF (p_create OR NOT lib.absent(p->'discipline')) AND NOT lib.is_enum(
	    p->'discipline', directory.tf_disciplines()) THEN
		e := e || lib.err('discipline', 'must be one of ' ||
		    array_to_string(directory.tf_disciplines(), ', '));
	END IF;
	e := e || lib.check_str(p, 'duties', 'duties', false, 0, 5000);
	e := e || lib.check_str_array(p, 'duty_tags', 'duty_tags',
	    '^[a-z][a-z0-9_]{0,49}$', NULL, 30);
	IF NOT lib.absent(p->'status') AND NOT lib.is_enum(p->'status',
	    '{invited,active,suspended,left}') THEN
		e := e || lib.err('status', 'must be invited, active, '
		    'suspended or left');
	END IF;
	e := e || lib.check_bool(p, 'coordinator', 'coordinator');
	e := e || directory.tf_contacts_check(p->'contacts');
	RETURN e;
END $$;

----------------------------------------------------------------------
-- Task forces
----------------------------------------------------------------------

/*
 * GET /v1/task-forces: the task forces the caller may see (admins: all),
 * by name. Filter: status.
 */
CREATE FUNCTION api.task_force_list(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	v_st	text;
BEGIN
	PERFORM lib.query_allow(p_args, '{status}');
	v_st := lib.query_enum(p_args, 'status', '{active,closed}');
	status := 200;
	headers := '{}';
	body := jsonb_build_object('items', coalesce((SELECT jsonb_agg(
	    directory.tf_doc(t) ORDER BY t.name, t.id) FROM task_forces t
	    WHERE (v_st IS NULL OR t.status = v_st) AND
	    directory.tf_visible(p_ctx, t, v_org)), '[]'));
END $$;

/*
 * POST /v1/task-forces: admins, or coordinators creating a task force
 * their own organization leads (and joins as a coordinating member).
 * 422 for invalid fields; a coordinator naming another lead is 403.
 */
CREATE FUNCTION api.task_force_create(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	v_lead	uuid;
	t	task_forces;
BEGIN
	PERFORM lib.fail_if(directory.tf_check(p_body, true));
	v_lead := coalesce((p_body->>'lead_org_id')::uuid, CASE WHEN NOT
	    lib.has_role(p_ctx, 'admin') THEN v_org END);
	IF NOT lib.has_role(p_ctx, 'admin') AND v_lead IS DISTINCT FROM
	    v_org THEN
		PERFORM lib.fail(403, 'forbidden', 'A coordinator creates task '
		    'forces its own organization leads.');
	END IF;
	IF NOT lib.has_role(p_ctx, 'admin') AND
	    (p_body->>'enrol_new_orgs')::boolean THEN
		PERFORM lib.fail(403, 'forbidden', 'Only admins make a task '
		    'force enrol every new organization.');
	END IF;
	INSERT INTO task_forces (name, description, jurisdictions, lead_org,
	    enrol_new_orgs, status)
	VALUES (p_body->>'name', coalesce(p_body->>'description', ''),
	    lib.text_array(p_body->'jurisdictions', '{}'), v_lead,
	    coalesce((p_body->>'enrol_new_orgs')::boolean, false),
	    coalesce(p_body->>'status', 'active'))
	RETURNING * INTO t;
	IF v_lead IS NOT NULL THEN
		INSERT INTO task_force_members (task_force_id, org_id,
		    discipline, status, coordinator, joined_at)
		SELECT t.id, o.id, store.kind_discipline(o.kind), 'active',
		    true, now() FROM organizations o WHERE o.id = v_lead;
	END IF;
	PERFORM lib.audit(p_ctx, 'create', 'task_force', t.id, '{}');
	status := 201;
	body := directory.tf_doc(t);
	headers := lib.etag_header('task_force', t.id, t.version) ||
	    jsonb_build_object('location', '/v1/task-forces/' || t.id);
END $$;

/* GET /v1/task-forces/{id}: 404 unless the caller may see it. */
CREATE FUNCTION api.task_force_get(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	t	task_forces;
BEGIN
	PERFORM lib.query_allow(p_args, '{}');
	t := directory.tf_fetch(p_ctx, lib.path_id(p_args), v_org);
	status := 200;
	body := directory.tf_doc(t);
	headers := lib.etag_header('task_force', t.id, t.version);
END $$;

/*
 * PATCH /v1/task-forces/{id} (If-Match): its coordinators and admins;
 * only admins change the lead, enrol_new_orgs (deployment-wide: every
 * new organization joins) and the default task force's status (closing
 * it stops matching and the default agreements everywhere); 403 for a
 * coordinator changing them. 422 for invalid fields.
 */
CREATE FUNCTION api.task_force_patch(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	t	task_forces;
BEGIN
	t := directory.tf_fetch(p_ctx, lib.path_id(p_args), v_org, true);
	PERFORM directory.tf_require_coord(p_ctx, t, v_org, 'change it');
	PERFORM lib.fail_if(directory.tf_check(p_body, false));
	IF p_body ? 'lead_org_id' AND NOT lib.has_role(p_ctx, 'admin') THEN
		PERFORM lib.fail(403, 'forbidden', 'Only admins change a task '
		    'force''s lead organization.');
	END IF;
	IF NOT lib.has_role(p_ctx, 'admin') AND (((p_body->>'enrol_new_orgs')
	    ::boolean IS DISTINCT FROM t.enrol_new_orgs AND
	    NOT lib.absent(p_body->'enrol_new_orgs')) OR (t.is_default AND
	    p_body->>'status' IS DISTINCT FROM t.status AND
	    NOT lib.absent(p_body->'status'))) THEN
		PERFORM lib.fail(403, 'forbidden', 'Only admins change whether '
		    'a task force enrols new organizations, or close the '
		    'default task force.');
	END IF;
	PERFORM lib.if_match(p_args, 'task_force', t.id, t.version);
	UPDATE task_forces SET
	    name = coalesce(p_body->>'name', name),
	    description = coalesce(p_body->>'description', description),
	    jurisdictions = CASE WHEN p_body ? 'jurisdictions' THEN
		lib.text_array(p_body->'jurisdictions', '{}') ELSE
		jurisdictions END,
	    lead_org = CASE WHEN p_body ? 'lead_org_id' THEN
		(p_body->>'lead_org_id')::uuid ELSE lead_org END,
	    enrol_new_orgs = coalesce((p_body->>'enrol_new_orgs')::boolean,
		enrol_new_orgs),
	    status = coalesce(p_body->>'status', status),
	    version = version + 1, updated_at = now()
	WHERE id = t.id RETURNING * INTO t;
	PERFORM lib.audit(p_ctx, 'update', 'task_force', t.id, ARRAY(SELECT
	    jsonb_object_keys(p_body) ORDER BY 1));
	status := 200;
	body := directory.tf_doc(t);
	headers := lib.etag_header('task_force', t.id, t.version);
END $$;

/*
 * DELETE /v1/task-forces/{id}: admins only, and only a task force that
 * nothing refers to but its memberships (409 invalid-transition: close
 * it instead); the default task force stays.
 */
CREATE FUNCTION api.task_force_delete(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	t	task_forces;
BEGIN
	t := directory.tf_fetch(p_ctx, lib.path_id(p_args), v_org, true);
	IF NOT lib.has_role(p_ctx, 'admin') THEN
		PERFORM lib.fail(403, 'forbidden', 'Only admins delete task '
		    'forces; coordinators close them.');
	END IF;
	IF t.is_default OR EXISTS (SELECT 1 FROM referrals r WHERE
	    r.task_force_id = t.id OR t.id = ANY (r.widened_to)) OR EXISTS (
	    SELECT 1 FROM agreements a WHERE a.task_force_id = t.id) OR EXISTS
	    (SELECT 1 FROM meetings m WHERE m.task_force_id = t.id) OR EXISTS
	    (SELECT 1 FROM trainings x WHERE x.task_force_id = t.id) THEN
		PERFORM lib.fail(409, 'invalid-transition', 'This task force '
		    'is the default or has referrals, agreements, meetings or '
		    'training records; close it instead.');
	END IF;
	DELETE FROM task_force_members WHERE task_force_id = t.id;
	DELETE FROM task_forces WHERE id = t.id;
	PERFORM lib.audit(p_ctx, 'delete', 'task_force', t.id, '{}');
	status := 204;
	body := '{}';
	headers := '{}';
END $$;

----------------------------------------------------------------------
-- Memberships
----------------------------------------------------------------------

/* The membership p_mid of task force t, or 404. */
CREATE FUNCTION directory.tf_member_fetch(t task_forces, p_mid uuid,
    p_lock boolean DEFAULT false) RETURNS task_force_members
LANGUAGE plpgsql AS $$
DECLARE
	m task_force_members;
BEGIN
	IF p_lock THEN
		SELECT * INTO m FROM task_force_members WHERE id = p_mid AND
		    task_force_id = t.id FOR UPDATE;
	ELSE
		SELECT * INTO m FROM task_force_members WHERE id = p_mid AND
		    task_force_id = t.id;
	END IF;
	IF m.id IS NULL THEN
		PERFORM lib.fail(404, 'not-found', 'No such membership.');
	END IF;
	RETURN m;
END $$;

/*
 * GET /v1/task-forces/{id}/members: every membership, by organization
 * name. Filters: status, discipline. Members' named contacts are read:
 * audited once for the list.
 */
CREATE FUNCTION api.task_force_member_list(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	t	task_forces;
	v_st	text;
	v_di	text;
	v_see	boolean;
BEGIN
	PERFORM lib.query_allow(p_args, '{status,discipline}');
	v_st := lib.query_enum(p_args, 'status',
	    '{invited,active,suspended,left}');
	v_di := lib.query_enum(p_args, 'discipline', directory.tf_disciplines());
	t := directory.tf_fetch(p_ctx, lib.path_id(p_args), v_org);
	v_see := directory.tf_contacts_visible(p_ctx, t, v_org);
	status := 200;
	headers := '{}';
	body := jsonb_build_object('items', coalesce((SELECT jsonb_agg(
	    directory.tf_member_read(m, v_see, v_org) ORDER BY o.name, m.id) FROM
	    task_force_members m JOIN organizations o ON o.id = m.org_id
	    WHERE m.task_force_id = t.id AND (v_st IS NULL OR m.status = v_st)
	    AND (v_di IS NULL OR m.discipline = v_di)), '[]'));
	PERFORM lib.audit(p_ctx, 'read', 'task_force', t.id, '{members}');
END $$;

/* The dates a membership status change sets. */
CREATE FUNCTION directory.tf_member_status(m task_force_members,
    p_status text) RETURNS task_force_members
LANGUAGE plpgsql STABLE AS $$
BEGIN
	IF p_status IS NULL OR p_status = m.status THEN
		RETURN m;
	END IF;
	m.status := p_status;
	CASE p_status
	WHEN 'active' THEN
		m.joined_at := coalesce(m.joined_at, now());
		m.suspended_at := NULL;
	WHEN 'suspended' THEN
		m.suspended_at := now();
	WHEN 'left' THEN
		m.left_at := now();
	ELSE
		NULL;
	END CASE;
	RETURN m;
END $$;

/*
 * POST /v1/task-forces/{id}/members: its coordinators and admins add an
 * organization (invited by default, or active). 409 already-member when the
 * organization has a membership already (change that one instead).
 */
CREATE FUNCTION api.task_force_member_create(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	t	task_forces;
	m	task_force_members;
BEGIN
	/* Locked: two additions of one organization at once give one
	 * membership and 409 already-member, not a unique violation. */
	t := directory.tf_fetch(p_ctx, lib.path_id(p_args), v_org, true);
	PERFORM directory.tf_require_coord(p_ctx, t, v_org, 'add members');
	PERFORM lib.fail_if(directory.tf_member_check(p_body, true));
	IF NOT lib.absent(p_body->'status') AND p_body->>'status' NOT IN
	    ('invited', 'active') THEN
		PERFORM lib.fail_if(jsonb_build_array(lib.err('status', 'a new '
		    'membership is invited or active')));
	END IF;
	IF EXISTS (SELECT 1 FROM task_force_members x WHERE x.task_force_id =
	    t.id AND x.org_id = (p_body->>'organization_id')::uuid) THEN
		PERFORM lib.fail(409, 'already-member', 'This organization has '
		    'a membership of this task force already; change that one.');
	END IF;
	INSERT INTO task_force_members (task_force_id, org_id, discipline,
	    duties, duty_tags, coordinator, contacts)
	VALUES (t.id, (p_body->>'organization_id')::uuid,
	    p_body->>'discipline', coalesce(p_body->>'duties', ''),
	    lib.text_array(p_body->'duty_tags', '{}'),
	    coalesce((p_body->>'coordinator')::boolean, false),
	    coalesce(nullif(p_body->'contacts', 'null'), '[]'))
	RETURNING * INTO m;
	m := directory.tf_member_status(m, p_body->>'status');
	UPDATE task_force_members SET status = m.status, joined_at =
	    m.joined_at WHERE id = m.id RETURNING * INTO m;
	PERFORM lib.audit(p_ctx, 'create', 'task_force_member', m.id,
	    '{contacts}');
	status := 201;
	body := directory.tf_member_doc(m);
	headers := lib.etag_header('task_force_member', m.id, m.version) ||
	    jsonb_build_object('location', '/v1/task-forces/' || t.id ||
	    '/members/' || m.id);
END $$;

/* GET /v1/task-forces/{id}/members/{mid}. Audited (named contacts). */
CREATE FUNCTION api.task_force_member_get(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	t	task_forces;
	m	task_force_members;
BEGIN
	PERFORM lib.query_allow(p_args, '{}');
	t := directory.tf_fetch(p_ctx, lib.path_id(p_args), v_org);
	m := directory.tf_member_fetch(t, lib.path_id(p_args, 'mid'));
	PERFORM lib.audit(p_ctx, 'read', 'task_force_member', m.id,
	    '{contacts}');
	status := 200;
	body := directory.tf_member_read(m, directory.tf_contacts_visible(
	    p_ctx, t, v_org), v_org);
	headers := lib.etag_header('task_force_member', m.id, m.version);
END $$;

/*
 * PATCH /v1/task-forces/{id}/members/{mid} (If-Match). Coordinators and
 * admins change any field; the member organization itself (any role but
 * hotline and analyst) accepts an invitation (status active), leaves
 * (status left) and keeps its duties and contacts. A membership that
 * left stays left (409 invalid-transition); an organization cannot
 * reactivate a suspended membership itself.
 */
CREATE FUNCTION api.task_force_member_patch(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	t	task_forces;
	m	task_force_members;
	e	jsonb;
BEGIN
	t := directory.tf_fetch(p_ctx, lib.path_id(p_args), v_org);
	m := directory.tf_member_fetch(t, lib.path_id(p_args, 'mid'), true);
	PERFORM lib.fail_if(directory.tf_member_check(p_body, false));
	IF NOT directory.tf_is_coord(p_ctx, t, v_org) THEN
		IF m.org_id IS DISTINCT FROM v_org OR lib.has_role(p_ctx,
		    'hotline') OR lib.has_role(p_ctx, 'analyst') THEN
			PERFORM lib.fail(403, 'forbidden', 'Only the task '
			    'force''s coordinators, admins and the member '
			    'itself may change a membership.');
		END IF;
		SELECT jsonb_agg(lib.err(k, 'only coordinators may change this '
		    'field') ORDER BY k) INTO e FROM jsonb_object_keys(p_body) k
		    WHERE k NOT IN ('status', 'duties', 'contacts');
		IF e IS NULL AND p_body ? 'status' AND NOT ((m.status =
		    'invited' AND p_body->>'status' = 'active') OR
		    p_body->>'status' IN ('left', m.status)) THEN
			e := jsonb_build_array(lib.err('status', 'a member '
			    'accepts an invitation (active) or leaves (left)'));
		END IF;
		IF e IS NOT NULL THEN
			PERFORM lib.fail(403, 'forbidden', 'A member may accept '
			    'or leave and edit its duties and contacts only.',
			    e);
		END IF;
	END IF;
	IF m.status = 'left' AND p_body->>'status' IS DISTINCT FROM 'left'
	    AND p_body ? 'status' THEN
		PERFORM lib.fail(409, 'invalid-transition', 'This organization '
		    'left the task force; a membership that left stays left.');
	END IF;
	PERFORM lib.if_match(p_args, 'task_force_member', m.id, m.version);
	m := directory.tf_member_status(m, p_body->>'status');
	UPDATE task_force_members SET
	    discipline = coalesce(p_body->>'discipline', discipline),
	    duties = coalesce(p_body->>'duties', duties),
	    duty_tags = CASE WHEN p_body ? 'duty_tags' THEN
		lib.text_array(p_body->'duty_tags', '{}') ELSE duty_tags END,
	    coordinator = coalesce((p_body->>'coordinator')::boolean,
		coordinator),
	    contacts = CASE WHEN p_body ? 'contacts' THEN
		coalesce(nullif(p_body->'contacts', 'null'), '[]') ELSE
		contacts END,
	    status = m.status, joined_at = m.joined_at,
	    suspended_at = m.suspended_at, left_at = m.left_at,
	    version = version + 1, updated_at = now()
	WHERE id = m.id RETURNING * INTO m;
	PERFORM lib.audit(p_ctx, 'update', 'task_force_member', m.id,
	    ARRAY(SELECT jsonb_object_keys(p_body) ORDER BY 1));
	status := 200;
	body := directory.tf_member_doc(m);
	headers := lib.etag_header('task_force_member', m.id, m.version);
END $$;

/*
 * DELETE /v1/task-forces/{id}/members/{mid}: coordinators and admins
 * withdraw an invitation never accepted; a membership that was active
 * keeps its history (409 invalid-transition: set status left).
 */
CREATE FUNCTION api.task_force_member_delete(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	t	task_forces;
	m	task_force_members;
BEGIN
	t := directory.tf_fetch(p_ctx, lib.path_id(p_args), v_org);
	m := directory.tf_member_fetch(t, lib.path_id(p_args, 'mid'), true);
	PERFORM directory.tf_require_coord(p_ctx, t, v_org, 'remove members');
	IF m.status <> 'invited' OR m.joined_at IS NOT NULL THEN
		PERFORM lib.fail(409, 'invalid-transition', 'Only an invitation '
		    'never accepted is deleted; set status left instead.');
	END IF;
	DELETE FROM task_force_members WHERE id = m.id;
	PERFORM lib.audit(p_ctx, 'delete', 'task_force_member', m.id, '{}');
	status := 204;
	body := '{}';
	headers := '{}';
END $$;

----------------------------------------------------------------------
-- Matching: the referral's task forces
----------------------------------------------------------------------

/*
 * May a referral of task force p_tf, widened to p_widened, be offered
 * to organization p_org? Only when p_org has an active membership of an
 * active task force among them. A referral without a task force (none
 * could be settled) is not restricted. Can't fail.
 */
CREATE FUNCTION referral.task_force_allows(p_tf uuid, p_widened uuid[],
    p_org uuid) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
	IF p_tf IS NULL THEN
		RETURN true;
	END IF;
	RETURN EXISTS (SELECT 1 FROM task_force_members m JOIN task_forces t
	    ON t.id = m.task_force_id WHERE m.org_id = p_org AND
	    m.status = 'active' AND t.status = 'active' AND
	    (m.task_force_id = p_tf OR m.task_force_id = ANY (p_widened)));
END $$;

/*
 * The task force of a new referral from p_org and its widening, from
 * the body's task_force_id and widen_to_task_force_ids: a named task
 * force must be one the sender's organization is an active member of
 * (or coordinates); without one, the sender's (the default task force
 * when it is a member there, else its oldest active membership). Widened
 * task forces must exist and be active. Returns the errors (empty when
 * fine) and the ids.
 */
CREATE FUNCTION referral.task_force_settle(p_ctx jsonb, p_org uuid,
    p_body jsonb, OUT errors jsonb, OUT task_force_id uuid,
    OUT widened uuid[])
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_variable
DECLARE
	t task_forces;
BEGIN
	errors := '[]';
	widened := '{}';
	IF NOT lib.absent(p_body->'task_force_id') THEN
		IF lib.is_uuid(p_body->'task_force_id') THEN
			SELECT * INTO t FROM task_forces x WHERE x.id =
			    (p_body->>'task_force_id')::uuid AND
			    x.status = 'active';
		END IF;
		IF t.id IS NULL OR NOT (directory.tf_is_coord(p_ctx, t, p_org)
		    OR EXISTS (SELECT 1 FROM task_force_members m WHERE
		    m.task_force_id = t.id AND m.org_id = p_org AND
		    m.status = 'active')) THEN
			errors := errors || lib.err('task_force_id', 'must name '
			    'an active task force your organization is an '
			    'active member of');
		END IF;
		task_force_id := t.id;
	ELSE
		SELECT m.task_force_id INTO task_force_id FROM
		    task_force_members m JOIN task_forces x ON x.id =
		    m.task_force_id WHERE m.org_id = p_org AND
		    m.status = 'active' AND x.status = 'active'
		ORDER BY x.is_default DESC, m.joined_at, m.id LIMIT 1;
	END IF;
	IF NOT lib.absent(p_body->'widen_to_task_force_ids') THEN
		IF jsonb_typeof(p_body->'widen_to_task_force_ids') <> 'array' OR
		    jsonb_array_length(p_body->'widen_to_task_force_ids') > 20
		    OR EXISTS (SELECT 1 FROM jsonb_array_elements(
		    p_body->'widen_to_task_force_ids') x WHERE NOT
		    lib.is_uuid(x) OR NOT EXISTS (SELECT 1 FROM task_forces y
		    WHERE y.id = (x #>> '{}')::uuid AND y.status = 'active'))
		    THEN
			errors := errors || lib.err('widen_to_task_force_ids',
			    'must be an array of at most 20 active task force '
			    'ids');
		ELSE
			widened := ARRAY(SELECT DISTINCT (x #>> '{}')::uuid FROM
			    jsonb_array_elements(
			    p_body->'widen_to_task_force_ids') x);
		END IF;
	END IF;
END $$;

/* The task force fields of a referral's document. */
CREATE FUNCTION referral.task_force_doc(r referrals) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('task_force_id', r.task_force_id,
	    'widened_to_task_force_ids', to_jsonb(r.widened_to))
$$;

----------------------------------------------------------------------
-- Agreements
----------------------------------------------------------------------

/*
 * Does a current agreement allow category p_cat to flow to p_org from
 * the organization p_from holding the case with the victim? Current:
 * active, effective today, not past its last day (so expiry, suspension
 * and termination act on the next request). An agreement between the
 * task force and p_org covers any source that is a member of that task
 * force; one between two members only data between those two. Only
 * inside an active task force whose active members both organizations
 * are: one that left or is suspended gets nothing more under it, and an
 * agreement of one task force opens nothing of another's members. Can't
 * fail.
 */
CREATE FUNCTION casework.agreement_allows(p_org uuid, p_from uuid,
    p_cat text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
	IF p_org IS NULL THEN
		RETURN false;
	END IF;
	/* A lead by transfer holds these by its own standing. */
	IF p_org = p_from AND p_cat IN ('case_details', 'needs') THEN
		RETURN true;
	END IF;
	RETURN EXISTS (SELECT 1 FROM agreements a WHERE a.status = 'active'
	    AND a.effective_on <= current_date AND (a.expires_on IS NULL OR
	    a.expires_on >= current_date) AND p_cat = ANY (a.categories) AND
	    ((a.org_b IS NULL AND a.org_a = p_org) OR
	    (a.org_a = p_org AND a.org_b = p_from) OR
	    (a.org_b = p_org AND a.org_a = p_from)) AND
	    EXISTS (SELECT 1 FROM task_forces t WHERE t.id = a.task_force_id
	    AND t.status = 'active') AND
	    (SELECT count(DISTINCT m.org_id) FROM task_force_members m WHERE
	    m.task_force_id = a.task_force_id AND m.status = 'active' AND
	    m.org_id IN (p_org, p_from)) = CASE WHEN p_org = p_from THEN 1
	    ELSE 2 END);
END $$;

CREATE FUNCTION directory.agreement_doc(a agreements) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', a.id, 'task_force_id', a.task_force_id,
	    'kind', a.kind, 'title', a.title, 'party_org_ids', CASE WHEN
	    a.org_b IS NULL THEN jsonb_build_array(a.org_a) ELSE
	    jsonb_build_array(a.org_a, a.org_b) END, 'effective_on',
	    a.effective_on, 'expires_on', a.expires_on, 'document_ref',
	    a.document_ref, 'status', a.status, 'categories',
	    to_jsonb(a.categories), 'current', a.status = 'active' AND
	    a.effective_on <= current_date AND (a.expires_on IS NULL OR
	    a.expires_on >= current_date), 'version', a.version,
	    'created_at', a.created_at, 'updated_at', a.updated_at)
$$;

/* May the caller read agreement a: its coordinators, admins, parties. */
CREATE FUNCTION directory.agreement_visible(p_ctx jsonb, a agreements,
    p_org uuid) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN coalesce(p_org = a.org_a OR p_org = a.org_b, false) OR
	    directory.tf_is_coord(p_ctx, (SELECT t FROM task_forces t WHERE
	    t.id = a.task_force_id), p_org);
END $$;

CREATE FUNCTION directory.agreement_fetch(p_ctx jsonb, p_id uuid,
    p_org uuid, p_lock boolean DEFAULT false) RETURNS agreements
LANGUAGE plpgsql AS $$
DECLARE
	a agreements;
BEGIN
	IF p_lock THEN
		SELECT * INTO a FROM agreements WHERE id = p_id FOR UPDATE;
	ELSE
		SELECT * INTO a FROM agreements WHERE id = p_id;
	END IF;
	IF a.id IS NULL OR NOT directory.agreement_visible(p_ctx, a, p_org)
	    THEN
		PERFORM lib.fail(404, 'not-found', 'No such agreement.');
	END IF;
	RETURN a;
END $$;

/* Errors of the agreement fields in p (p_create: required ones too). */
CREATE FUNCTION directory.agreement_check(p jsonb, p_create boolean)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	e jsonb := '[]';
BEGIN
	e := e || lib.check_keys(p, '', CASE WHEN p_create THEN
	    '{task_force_id,kind,title,party_org_ids,effective_on,expires_on,'
	    'document_ref,status,categories}'::text[] ELSE '{title,'
	    'effective_on,expires_on,document_ref,status,categories}'::text[]
	    END, '{id,current,version,created_at,updated_at,task_force_id,'
	    'kind,party_org_ids}');
	IF p_create AND NOT lib.is_uuid(p->'task_force_id') THEN
		e := e || lib.err('task_force_id', 'is required: a task force '
		    'id');
	END IF;
	IF p_create AND NOT lib.is_enum(p->'kind', '{mou,data_sharing}') THEN
		e := e || lib.err('kind', 'must be mou or data_sharing');
	END IF;
	e := e || lib.check_str(p, 'title', 'title', p_create, 1, 300);
	IF p_create AND (jsonb_typeof(p->'party_org_ids') IS DISTINCT FROM
	    'array' OR jsonb_array_length(p->'party_org_ids') NOT IN (1, 2) OR
	    EXISTS (SELECT 1 FROM jsonb_array_elements(p->'party_org_ids') x
	    WHERE NOT lib.is_uuid(x)) OR (jsonb_array_length(
	    p->'party_org_ids') = 2 AND p->'party_org_ids'->>0 =
	    p->'party_org_ids'->>1)) THEN
		e := e || lib.err('party_org_ids', 'must list one member (an '
		    'agreement with the task force) or two different members');
	END IF;
	IF (p_create OR p ? 'effective_on') AND NOT lib.is_date(
	    p->'effective_on') THEN
		e := e || lib.err('effective_on', 'must be a date');
	END IF;
	IF NOT lib.absent(p->'expires_on') AND NOT lib.is_date(
	    p->'expires_on') THEN
		e := e || lib.err('expires_on', 'must be a date or null');
	END IF;
	e := e || lib.check_str(p, 'document_ref', 'document_ref', false, 1,
	    500);
	IF NOT lib.absent(p->'status') AND NOT lib.is_enum(p->'status',
	    '{draft,active,suspended,terminated}') THEN
		e := e || lib.err('status', 'must be draft, active, suspended '
		    'or terminated');
	END IF;
	IF (p_create OR p ? 'categories') AND (jsonb_typeof(p->'categories')
	    IS DISTINCT FROM 'array' OR EXISTS (SELECT 1 FROM
	    jsonb_array_elements(p->'categories') x WHERE NOT lib.is_enum(x,
	    directory.tf_categories()))) THEN
		e := e || lib.err('categories', 'must be an array of '
		    'identity, contact, location, case_details, needs');
	END IF;
	RETURN e;
END $$;

/*
 * GET /v1/agreements?task_force_id=&status=&org_id=: the agreements the
 * caller may read (its task forces' when it coordinates them, its own
 * organization's otherwise), newest first.
 */
CREATE FUNCTION api.agreement_list(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	v_tf	uuid;
	v_oid	uuid;
	v_st	text;
BEGIN
	PERFORM lib.query_allow(p_args, '{task_force_id,status,org_id}');
	v_tf := lib.query_uuid(p_args, 'task_force_id');
	v_oid := lib.query_uuid(p_args, 'org_id');
	v_st := lib.query_enum(p_args, 'status',
	    '{draft,active,suspended,terminated}');
	status := 200;
	headers := '{}';
	body := jsonb_build_object('items', coalesce((SELECT jsonb_agg(
	    directory.agreement_doc(a) ORDER BY a.created_at DESC, a.id) FROM
	    agreements a WHERE (v_tf IS NULL OR a.task_force_id = v_tf) AND
	    (v_st IS NULL OR a.status = v_st) AND (v_oid IS NULL OR v_oid IN
	    (a.org_a, a.org_b)) AND directory.agreement_visible(p_ctx, a,
	    v_org)), '[]'));
END $$;

/*
 * POST /v1/agreements: a coordinator of the task force or an admin.
 * Parties must be members of the task force (any status but left).
 */
CREATE FUNCTION api.agreement_create(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	t	task_forces;
	a	agreements;
	e	jsonb;
BEGIN
	PERFORM lib.fail_if(directory.agreement_check(p_body, true));
	SELECT * INTO t FROM task_forces WHERE id =
	    (p_body->>'task_force_id')::uuid;
	IF t.id IS NULL OR NOT directory.tf_is_coord(p_ctx, t, v_org) THEN
		PERFORM lib.fail_if(jsonb_build_array(lib.err('task_force_id',
		    'must name a task force you coordinate')));
	END IF;
	SELECT jsonb_agg(lib.err('party_org_ids', 'names an organization '
	    'that is not a member of the task force')) INTO e FROM
	    jsonb_array_elements_text(p_body->'party_org_ids') x WHERE NOT
	    EXISTS (SELECT 1 FROM task_force_members m WHERE m.task_force_id =
	    t.id AND m.org_id = x::uuid AND m.status <> 'left');
	PERFORM lib.fail_if(coalesce(e, '[]'));
	INSERT INTO agreements (task_force_id, kind, title, org_a, org_b,
	    effective_on, expires_on, document_ref, status, categories,
	    created_by)
	VALUES (t.id, p_body->>'kind', p_body->>'title',
	    (p_body->'party_org_ids'->>0)::uuid,
	    (p_body->'party_org_ids'->>1)::uuid,
	    (p_body->>'effective_on')::date, (p_body->>'expires_on')::date,
	    p_body->>'document_ref', coalesce(p_body->>'status', 'draft'),
	    lib.text_array(p_body->'categories', '{}'), p_ctx->>'sub')
	RETURNING * INTO a;
	PERFORM lib.audit(p_ctx, 'create', 'agreement', a.id, a.categories);
	status := 201;
	body := directory.agreement_doc(a);
	headers := lib.etag_header('agreement', a.id, a.version) ||
	    jsonb_build_object('location', '/v1/agreements/' || a.id);
END $$;

/* GET /v1/agreements/{id}: coordinators, admins and the parties. */
CREATE FUNCTION api.agreement_get(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	a	agreements;
BEGIN
	PERFORM lib.query_allow(p_args, '{}');
	a := directory.agreement_fetch(p_ctx, lib.path_id(p_args), v_org);
	status := 200;
	body := directory.agreement_doc(a);
	headers := lib.etag_header('agreement', a.id, a.version);
END $$;

/*
 * PATCH /v1/agreements/{id} (If-Match): coordinators of its task force
 * and admins. A terminated agreement stays terminated (409
 * invalid-transition). Takes effect on the next request.
 */
CREATE FUNCTION api.agreement_patch(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	a	agreements;
BEGIN
	a := directory.agreement_fetch(p_ctx, lib.path_id(p_args), v_org,
	    true);
	IF NOT directory.tf_is_coord(p_ctx, (SELECT t FROM task_forces t
	    WHERE t.id = a.task_force_id), v_org) THEN
		PERFORM lib.fail(403, 'forbidden', 'Only the task force''s '
		    'coordinators and admins change agreements.');
	END IF;
	PERFORM lib.fail_if(directory.agreement_check(p_body, false));
	IF a.status = 'terminated' THEN
		PERFORM lib.fail(409, 'invalid-transition', 'A terminated '
		    'agreement cannot change.');
	END IF;
	PERFORM lib.if_match(p_args, 'agreement', a.id, a.version);
	UPDATE agreements SET
	    title = coalesce(p_body->>'title', title),
	    effective_on = coalesce((p_body->>'effective_on')::date,
		effective_on),
	    expires_on = CASE WHEN p_body ? 'expires_on' THEN
		(p_body->>'expires_on')::date ELSE expires_on END,
	    document_ref = CASE WHEN p_body ? 'document_ref' THEN
		p_body->>'document_ref' ELSE document_ref END,
	    status = coalesce(p_body->>'status', status),
	    categories = CASE WHEN p_body ? 'categories' THEN
		lib.text_array(p_body->'categories', '{}') ELSE categories END,
	    version = version + 1, updated_at = now()
	WHERE id = a.id RETURNING * INTO a;
	PERFORM lib.audit(p_ctx, 'update', 'agreement', a.id, ARRAY(SELECT
	    jsonb_object_keys(p_body) ORDER BY 1));
	status := 200;
	body := directory.agreement_doc(a);
	headers := lib.etag_header('agreement', a.id, a.version);
END $$;

/*
 * Agreements whose last day is within agreement_notice_days: the task
 * force's coordinators (its lead and its coordinating members) are told
 * once per last day; for a task force without a lead (the default one)
 * every coordinator, as before task forces. Called by the deadline sweep
 * (deadlines.sql).
 */
CREATE FUNCTION worker.clock_agreements(p_now timestamptz, p_cfg jsonb,
    p_by text, p_limit integer) RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
	WITH due AS (
		SELECT a.id, a.task_force_id, a.expires_on,
		    'agreement:' || a.id || ':' || a.expires_on || ':expiring'
		    AS key
		FROM agreements a
		WHERE a.status = 'active' AND a.expires_on IS NOT NULL AND
		    a.expires_on BETWEEN (p_now - make_interval(days =>
		    coalesce((p_cfg->>'agreement_notice_days')::integer, 30)))::
		    date AND (p_now + make_interval(days => coalesce((
		    p_cfg->>'agreement_notice_days')::integer, 30)))::date AND
		    NOT EXISTS (SELECT 1 FROM deadline_fired d WHERE
		    d.clock_key = 'agreement:' || a.id || ':' || a.expires_on ||
		    ':expiring')
		ORDER BY a.expires_on LIMIT p_limit
		FOR UPDATE OF a SKIP LOCKED),
	claimed AS (
		INSERT INTO deadline_fired (clock_key, clock, step, object_id,
		    due_at, fired_by)
		SELECT key, 'agreement', 'expiring', id, expires_on, p_by
		FROM due ON CONFLICT DO NOTHING RETURNING object_id),
	coords AS (
		SELECT DISTINCT d.id, d.task_force_id, d.expires_on, o.org,
		    o.role
		FROM due d JOIN claimed c ON c.object_id = d.id
		JOIN task_forces t ON t.id = d.task_force_id
		CROSS JOIN LATERAL (SELECT t.lead_org AS org, NULL AS role
		    WHERE t.lead_org IS NOT NULL UNION SELECT m.org_id, NULL
		    FROM task_force_members m WHERE t.lead_org IS NOT NULL AND
		    m.task_force_id = t.id AND m.coordinator AND
		    m.status = 'active' UNION SELECT NULL, 'coordinator'
		    WHERE t.lead_org IS NULL) o)
	SELECT count(lib.notify(c.org, c.role, 'agreement.expiring',
	    'agreement', c.id, '/v1/agreements/' || c.id, jsonb_build_object(
	    'agreement_id', c.id, 'task_force_id', c.task_force_id,
	    'expires_on', c.expires_on, 'expired', c.expires_on <
	    p_now::date)))::integer
	FROM coords c
$$;

----------------------------------------------------------------------
-- Meetings and their action items
----------------------------------------------------------------------

/*
 * A meeting as the caller reads it: agenda items carry case ids only
 * (following one applies the case's own visibility), action items are
 * the tasks the meeting created. A case the caller cannot see is not
 * named at all (no case_id on the agenda item, case_id null on the
 * action item), so a meeting never tells an attendee a case exists.
 */
CREATE FUNCTION directory.meeting_doc(m meetings, p_ctx jsonb, p_org uuid)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', m.id, 'task_force_id', m.task_force_id,
	    'kind', m.kind, 'title', m.title, 'held_at', m.held_at,
	    'attendee_org_ids', to_jsonb(m.attendee_orgs), 'agenda',
	    coalesce((SELECT jsonb_agg(CASE WHEN a ? 'case_id' AND NOT
	    (lib.is_uuid(a->'case_id') AND casework.case_visible(p_ctx,
	    (a->>'case_id')::uuid, p_org)) THEN a - 'case_id' ELSE a END
	    ORDER BY n) FROM jsonb_array_elements(m.agenda) WITH ORDINALITY
	    x(a, n)), '[]'),
	    'action_items', coalesce((SELECT jsonb_agg(jsonb_build_object(
	    'task_id', t.id, 'title', t.title, 'due_at', t.due_at,
	    'assigned_org_id', t.assigned_org, 'case_id', CASE WHEN
	    t.case_id IS NOT NULL AND casework.case_visible(p_ctx, t.case_id,
	    p_org) THEN t.case_id END,
	    'status', t.status) ORDER BY t.due_at, t.id) FROM tasks t WHERE
	    t.meeting_id = m.id), '[]'), 'version', m.version, 'created_at',
	    m.created_at, 'updated_at', m.updated_at)
$$;

/* May the caller read meeting m: coordinators, admins, attendees. */
CREATE FUNCTION directory.meeting_visible(p_ctx jsonb, m meetings,
    p_org uuid) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN coalesce(p_org = ANY (m.attendee_orgs), false) OR
	    directory.tf_is_coord(p_ctx, (SELECT t FROM task_forces t WHERE
	    t.id = m.task_force_id), p_org);
END $$;

/* Errors of a meeting body (agenda and action items included). */
CREATE FUNCTION directory.meeting_check(p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	e	jsonb := '[]';
	x	jsonb;
	i	integer := 0;
	f	text;
BEGIN
	e := e || lib.check_keys(p, '', '{task_force_id,kind,title,held_at,'
	    'attendee_org_ids,agenda,action_items}', '{id,version,created_at,'
	    'updated_at}');
	IF NOT lib.is_uuid(p->'task_force_id') THEN
		e := e || lib.err('task_force_id', 'is required: a task force '
		    'id');
	END IF;
	IF NOT lib.is_enum(p->'kind', '{case_review,operational,training}')
	    THEN
		e := e || lib.err('kind', 'must be case_review, operational or '
		    'training');
	END IF;
	e := e || lib.check_str(p, 'title', 'title', true, 1, 300);
	IF NOT lib.is_ts(p->'held_at') THEN
		e := e || lib.err('held_at', 'is required: an RFC 3339 '
		    'date-time');
	END IF;
	IF NOT lib.absent(p->'attendee_org_ids') AND (jsonb_typeof(
	    p->'attendee_org_ids') <> 'array' OR jsonb_array_length(
	    p->'attendee_org_ids') > 200 OR EXISTS (SELECT 1 FROM
	    jsonb_array_elements(p->'attendee_org_ids') y WHERE NOT
	    lib.is_uuid(y) OR NOT EXISTS (SELECT 1 FROM organizations o WHERE
	    o.id = (y #>> '{}')::uuid))) THEN
		e := e || lib.err('attendee_org_ids', 'must be an array of at '
		    'most 200 organization ids');
	END IF;
	IF NOT lib.absent(p->'agenda') AND (jsonb_typeof(p->'agenda') <>
	    'array' OR jsonb_array_length(p->'agenda') > 100) THEN
		e := e || lib.err('agenda', 'must be an array of at most 100 '
		    'items');
	ELSIF NOT lib.absent(p->'agenda') THEN
		FOR x IN SELECT * FROM jsonb_array_elements(p->'agenda') LOOP
			f := 'agenda[' || i || ']';
			IF jsonb_typeof(x) <> 'object' THEN
				e := e || lib.err(f, 'must be an object');
			ELSE
				e := e || lib.check_keys(x, f || '.',
				    '{title,notes,case_id}');
				e := e || lib.check_str(x, 'title', f || '.title',
				    true, 1, 300);
				e := e || lib.check_str(x, 'notes', f || '.notes',
				    false, 0, 2000);
				IF NOT lib.absent(x->'case_id') AND NOT
				    lib.is_uuid(x->'case_id') THEN
					e := e || lib.err(f || '.case_id',
					    'must be a case id');
				END IF;
			END IF;
			i := i + 1;
		END LOOP;
	END IF;
	i := 0;
	IF NOT lib.absent(p->'action_items') AND (jsonb_typeof(
	    p->'action_items') <> 'array' OR jsonb_array_length(
	    p->'action_items') > 100) THEN
		e := e || lib.err('action_items', 'must be an array of at most '
		    '100 items');
	ELSIF NOT lib.absent(p->'action_items') THEN
		FOR x IN SELECT * FROM jsonb_array_elements(p->'action_items')
		    LOOP
			f := 'action_items[' || i || ']';
			IF jsonb_typeof(x) <> 'object' THEN
				e := e || lib.err(f, 'must be an object');
			ELSE
				e := e || lib.check_keys(x, f || '.',
				    '{title,due_at,assigned_org_id,case_id}');
				e := e || lib.check_str(x, 'title', f || '.title',
				    true, 1, 200);
				IF NOT lib.is_ts(x->'due_at') THEN
					e := e || lib.err(f || '.due_at', 'is '
					    'required: an RFC 3339 date-time');
				END IF;
				IF NOT lib.is_uuid(x->'assigned_org_id') THEN
					e := e || lib.err(f || '.assigned_org_id',
					    'is required: an organization id');
				END IF;
				IF NOT lib.absent(x->'case_id') AND NOT
				    lib.is_uuid(x->'case_id') THEN
					e := e || lib.err(f || '.case_id',
					    'must be a case id');
				END IF;
			END IF;
			i := i + 1;
		END LOOP;
	END IF;
	RETURN e;
END $$;

/*
 * POST /v1/meetings: a coordinator of the task force or an admin records
 * a meeting. Agenda items keep only a case id (never case data). Each
 * action item becomes a task (kind follow_up) due at its time, assigned
 * to a member of the task force, on the case it names when the caller
 * can see that case (422 otherwise, the same for a case that does not
 * exist). Audits the meeting and each task.
 */
CREATE FUNCTION api.meeting_create(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	t	task_forces;
	m	meetings;
	x	jsonb;
	e	jsonb := '[]';
	i	integer := 0;
	v_tid	uuid;
BEGIN
	PERFORM lib.fail_if(directory.meeting_check(p_body));
	SELECT * INTO t FROM task_forces WHERE id =
	    (p_body->>'task_force_id')::uuid;
	IF t.id IS NULL OR NOT directory.tf_is_coord(p_ctx, t, v_org) THEN
		PERFORM lib.fail_if(jsonb_build_array(lib.err('task_force_id',
		    'must name a task force you coordinate')));
	END IF;
	FOR x IN SELECT * FROM jsonb_array_elements(coalesce(nullif(
	    p_body->'action_items', 'null'), '[]')) LOOP
		IF NOT EXISTS (SELECT 1 FROM task_force_members k WHERE
		    k.task_force_id = t.id AND k.org_id =
		    (x->>'assigned_org_id')::uuid AND k.status = 'active') THEN
			e := e || lib.err('action_items[' || i ||
			    '].assigned_org_id', 'must name an active member '
			    'of the task force');
		END IF;
		IF NOT lib.absent(x->'case_id') AND (NOT EXISTS (SELECT 1 FROM
		    cases c WHERE c.id = (x->>'case_id')::uuid) OR NOT
		    casework.case_visible(p_ctx, (x->>'case_id')::uuid, v_org))
		    THEN
			e := e || lib.err('action_items[' || i || '].case_id',
			    'must name a case you can see');
		END IF;
		i := i + 1;
	END LOOP;
	PERFORM lib.fail_if(e);
	INSERT INTO meetings (task_force_id, kind, title, held_at,
	    attendee_orgs, agenda, created_by, created_by_org)
	VALUES (t.id, p_body->>'kind', p_body->>'title',
	    (p_body->>'held_at')::timestamptz, ARRAY(SELECT DISTINCT
	    (y #>> '{}')::uuid FROM jsonb_array_elements(coalesce(nullif(
	    p_body->'attendee_org_ids', 'null'), '[]')) y),
	    coalesce((SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
	    'title', y->>'title', 'notes', y->>'notes', 'case_id',
	    y->>'case_id')) ORDER BY n) FROM jsonb_array_elements(coalesce(
	    nullif(p_body->'agenda', 'null'), '[]')) WITH ORDINALITY a(y, n)),
	    '[]'), p_ctx->>'sub', v_org)
	RETURNING * INTO m;
	FOR x IN SELECT * FROM jsonb_array_elements(coalesce(nullif(
	    p_body->'action_items', 'null'), '[]')) LOOP
		INSERT INTO tasks (case_id, meeting_id, title, kind, due_at,
		    assigned_org, created_by)
		VALUES ((x->>'case_id')::uuid, m.id, x->>'title', 'follow_up',
		    (x->>'due_at')::timestamptz, (x->>'assigned_org_id')::uuid,
		    p_ctx->>'sub')
		RETURNING id INTO v_tid;
		PERFORM lib.audit(p_ctx, 'create', 'task', v_tid, '{}');
	END LOOP;
	PERFORM lib.audit(p_ctx, 'create', 'meeting', m.id, '{}');
	status := 201;
	body := directory.meeting_doc(m, p_ctx, v_org);
	headers := lib.etag_header('meeting', m.id, m.version) ||
	    jsonb_build_object('location', '/v1/meetings/' || m.id);
END $$;

/* GET /v1/meetings/{id}: coordinators, admins and attendees; else 404. */
CREATE FUNCTION api.meeting_get(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	m	meetings;
BEGIN
	PERFORM lib.query_allow(p_args, '{}');
	SELECT * INTO m FROM meetings WHERE id = lib.path_id(p_args);
	IF m.id IS NULL OR NOT directory.meeting_visible(p_ctx, m, v_org) THEN
		PERFORM lib.fail(404, 'not-found', 'No such meeting.');
	END IF;
	status := 200;
	body := directory.meeting_doc(m, p_ctx, v_org);
	headers := lib.etag_header('meeting', m.id, m.version);
END $$;

/*
 * GET /v1/meetings?task_force_id=&kind=: the meetings the caller may
 * read, newest first (at most 200).
 */
CREATE FUNCTION api.meeting_list(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	v_tf	uuid;
	v_kind	text;
BEGIN
	PERFORM lib.query_allow(p_args, '{task_force_id,kind}');
	v_tf := lib.query_uuid(p_args, 'task_force_id');
	v_kind := lib.query_enum(p_args, 'kind',
	    '{case_review,operational,training}');
	status := 200;
	headers := '{}';
	body := jsonb_build_object('items', coalesce((SELECT jsonb_agg(
	    directory.meeting_doc(x, p_ctx, v_org) ORDER BY x.held_at DESC,
	    x.id) FROM (
	    SELECT * FROM meetings m WHERE (v_tf IS NULL OR m.task_force_id =
	    v_tf) AND (v_kind IS NULL OR m.kind = v_kind) AND
	    directory.meeting_visible(p_ctx, m, v_org)
	    ORDER BY m.held_at DESC, m.id LIMIT 200) x), '[]'));
END $$;

/*
 * PATCH /v1/meetings/{id} (If-Match): a coordinator of the meeting's
 * task force or an admin changes kind, title, held_at, attendee_org_ids
 * or agenda (each given replaces the old value) with the validation of
 * POST (directory.meeting_check on the meeting as it would become;
 * task_force_id may only repeat the meeting's own), and action_items
 * adds new ones, which become tasks as on create (an active member as
 * assignee, a case the caller can see; 422 otherwise). 404 unless the
 * caller may read the meeting, 403 forbidden for an attendee that does
 * not coordinate; nothing changes on any error. Audited.
 */
CREATE FUNCTION api.meeting_patch(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	m	meetings;
	v_new	jsonb;
	x	jsonb;
	e	jsonb := '[]';
	i	integer := 0;
	v_tid	uuid;
BEGIN
	SELECT * INTO m FROM meetings WHERE id = lib.path_id(p_args)
	    FOR UPDATE;
	IF m.id IS NULL OR NOT directory.meeting_visible(p_ctx, m, v_org) THEN
		PERFORM lib.fail(404, 'not-found', 'No such meeting.');
	END IF;
	IF NOT directory.tf_is_coord(p_ctx, (SELECT t FROM task_forces t
	    WHERE t.id = m.task_force_id), v_org) THEN
		PERFORM lib.fail(403, 'forbidden', 'Only the task force''s '
		    'coordinators and admins change meetings.');
	END IF;
	IF jsonb_typeof(p_body) IS DISTINCT FROM 'object' THEN
		PERFORM lib.fail_if(jsonb_build_array(lib.err('', 'must be '
		    'an object')));
	END IF;
	/* The meeting as it would become, checked as a new one would be. */
	v_new := jsonb_build_object('task_force_id', m.task_force_id, 'kind',
	    m.kind, 'title', m.title, 'held_at', m.held_at,
	    'attendee_org_ids', to_jsonb(m.attendee_orgs), 'agenda',
	    m.agenda) || p_body;
	e := directory.meeting_check(v_new);
	IF p_body ? 'task_force_id' AND p_body->'task_force_id' IS DISTINCT
	    FROM to_jsonb(m.task_force_id) THEN
		e := e || lib.err('task_force_id', 'cannot change: a meeting '
		    'stays in its task force');
	END IF;
	IF jsonb_array_length(e) = 0 THEN
		FOR x IN SELECT * FROM jsonb_array_elements(coalesce(nullif(
		    p_body->'action_items', 'null'), '[]')) LOOP
			IF NOT EXISTS (SELECT 1 FROM task_force_members k WHERE
			    k.task_force_id = m.task_force_id AND k.org_id =
			    (x->>'assigned_org_id')::uuid AND
			    k.status = 'active') THEN
				e := e || lib.err('action_items[' || i ||
				    '].assigned_org_id', 'must name an active '
				    'member of the task force');
			END IF;
			IF NOT lib.absent(x->'case_id') AND (NOT EXISTS (SELECT
			    1 FROM cases c WHERE c.id = (x->>'case_id')::uuid)
			    OR NOT casework.case_visible(p_ctx,
			    (x->>'case_id')::uuid, v_org)) THEN
				e := e || lib.err('action_items[' || i ||
				    '].case_id', 'must name a case you can see');
			END IF;
			i := i + 1;
		END LOOP;
	END IF;
	PERFORM lib.fail_if(e);
	PERFORM lib.if_match(p_args, 'meeting', m.id, m.version);
	UPDATE meetings SET kind = v_new->>'kind', title = v_new->>'title',
	    held_at = (v_new->>'held_at')::timestamptz,
	    attendee_orgs = ARRAY(SELECT DISTINCT (y #>> '{}')::uuid FROM
		jsonb_array_elements(coalesce(nullif(
		v_new->'attendee_org_ids', 'null'), '[]')) y),
	    agenda = coalesce((SELECT jsonb_agg(jsonb_strip_nulls(
		jsonb_build_object('title', y->>'title', 'notes',
		y->>'notes', 'case_id', y->>'case_id')) ORDER BY n) FROM
		jsonb_array_elements(coalesce(nullif(v_new->'agenda', 'null'),
		'[]')) WITH ORDINALITY a(y, n)), '[]'),
	    version = version + 1, updated_at = now()
	WHERE id = m.id RETURNING * INTO m;
	FOR x IN SELECT * FROM jsonb_array_elements(coalesce(nullif(
	    p_body->'action_items', 'null'), '[]')) LOOP
		INSERT INTO tasks (case_id, meeting_id, title, kind, due_at,
		    assigned_org, created_by)
		VALUES ((x->>'case_id')::uuid, m.id, x->>'title', 'follow_up',
		    (x->>'due_at')::timestamptz, (x->>'assigned_org_id')::uuid,
		    p_ctx->>'sub')
		RETURNING id INTO v_tid;
		PERFORM lib.audit(p_ctx, 'create', 'task', v_tid, '{}');
	END LOOP;
	PERFORM lib.audit(p_ctx, 'update', 'meeting', m.id, ARRAY(SELECT
	    jsonb_object_keys(p_body) ORDER BY 1));
	status := 200;
	body := directory.meeting_doc(m, p_ctx, v_org);
	headers := lib.etag_header('meeting', m.id, m.version);
END $$;

----------------------------------------------------------------------
-- Training records
----------------------------------------------------------------------

CREATE FUNCTION directory.training_doc(x trainings) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', x.id, 'task_force_id', x.task_force_id,
	    'organization_id', x.org_id, 'staff_count', x.staff_count, 'topic',
	    x.topic, 'held_on', x.held_on, 'hours', x.hours, 'created_at',
	    x.created_at)
$$;

/*
 * POST /v1/trainings: a coordinator of the task force or an admin
 * records a training of a member organization's staff.
 */
CREATE FUNCTION api.training_create(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	t	task_forces;
	x	trainings;
	e	jsonb := '[]';
BEGIN
	e := lib.check_keys(p_body, '', '{task_force_id,organization_id,'
	    'staff_count,topic,held_on,hours}', '{id,created_at}');
	IF NOT lib.is_uuid(p_body->'task_force_id') THEN
		e := e || lib.err('task_force_id', 'is required: a task force '
		    'id');
	END IF;
	IF NOT lib.is_uuid(p_body->'organization_id') THEN
		e := e || lib.err('organization_id', 'is required: an '
		    'organization id');
	END IF;
	IF NOT lib.is_int(p_body->'staff_count', 1, 100000) THEN
		e := e || lib.err('staff_count', 'must be an integer from 1 to '
		    '100000');
	END IF;
	e := e || lib.check_str(p_body, 'topic', 'topic', true, 1, 300);
	IF NOT lib.is_date(p_body->'held_on') THEN
		e := e || lib.err('held_on', 'is required: a date');
	END IF;
	IF jsonb_typeof(p_body->'hours') IS DISTINCT FROM 'number' OR
	    (p_body->>'hours')::numeric NOT BETWEEN 0.25 AND 1000 THEN
		e := e || lib.err('hours', 'must be a number from 0.25 to 1000');
	END IF;
	PERFORM lib.fail_if(e);
	SELECT * INTO t FROM task_forces WHERE id =
	    (p_body->>'task_force_id')::uuid;
	IF t.id IS NULL OR NOT directory.tf_is_coord(p_ctx, t, v_org) THEN
		PERFORM lib.fail_if(jsonb_build_array(lib.err('task_force_id',
		    'must name a task force you coordinate')));
	END IF;
	IF NOT EXISTS (SELECT 1 FROM task_force_members m WHERE
	    m.task_force_id = t.id AND m.org_id =
	    (p_body->>'organization_id')::uuid) THEN
		PERFORM lib.fail_if(jsonb_build_array(lib.err(
		    'organization_id', 'must name a member of the task force')));
	END IF;
	INSERT INTO trainings (task_force_id, org_id, staff_count, topic,
	    held_on, hours, created_by)
	VALUES (t.id, (p_body->>'organization_id')::uuid,
	    (p_body->>'staff_count')::integer, p_body->>'topic',
	    (p_body->>'held_on')::date, round((p_body->>'hours')::numeric, 2),
	    p_ctx->>'sub')
	RETURNING * INTO x;
	status := 201;
	body := directory.training_doc(x);
	headers := jsonb_build_object('location', '/v1/trainings?task_force_id='
	    || t.id);
END $$;

/*
 * GET /v1/trainings?task_force_id=&organization_id=: training records
 * of the task forces the caller may see, newest first (at most 500).
 */
CREATE FUNCTION api.training_list(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	v_tf	uuid;
	v_oid	uuid;
BEGIN
	PERFORM lib.query_allow(p_args, '{task_force_id,organization_id}');
	v_tf := lib.query_uuid(p_args, 'task_force_id');
	v_oid := lib.query_uuid(p_args, 'organization_id');
	status := 200;
	headers := '{}';
	body := jsonb_build_object('items', coalesce((SELECT jsonb_agg(
	    directory.training_doc(y) ORDER BY y.held_on DESC, y.id) FROM (
	    SELECT x.* FROM trainings x JOIN task_forces t ON t.id =
	    x.task_force_id WHERE (v_tf IS NULL OR x.task_force_id = v_tf) AND
	    (v_oid IS NULL OR x.org_id = v_oid) AND
	    directory.tf_visible(p_ctx, t, v_org)
	    ORDER BY x.held_on DESC, x.id LIMIT 500) y), '[]'));
END $$;

----------------------------------------------------------------------
-- The public face (no token; CONCORD_PUBLIC=1, api/main.c)
----------------------------------------------------------------------

/*
 * The services a task force shows the public: active, not deleted, not
 * confidential, of active organizations with an active membership.
 */
CREATE FUNCTION directory.public_services(p_tf uuid)
RETURNS SETOF services
LANGUAGE sql STABLE AS $$
	SELECT s.* FROM services s JOIN organizations o ON
	    o.id = s.organization_id JOIN task_force_members m ON
	    m.org_id = o.id AND m.task_force_id = p_tf AND m.status = 'active'
	WHERE s.deleted_at IS NULL AND s.status = 'active' AND
	    NOT s.confidential AND o.status = 'active'
$$;

/* An active task force for the public, or 404. */
CREATE FUNCTION directory.public_tf(p_args jsonb) RETURNS task_forces
LANGUAGE plpgsql STABLE AS $$
DECLARE
	t task_forces;
BEGIN
	SELECT * INTO t FROM task_forces WHERE id = lib.path_id(p_args) AND
	    status = 'active';
	IF t.id IS NULL THEN
		PERFORM lib.fail(404, 'not-found', 'No such task force.');
	END IF;
	RETURN t;
END $$;

/*
 * GET /public/v1/task-forces/{id}: the task force's profile, its active
 * members (organization, discipline, duty tags) and their public
 * services with needs and populations served; the lead only while its
 * organization is active (else null). No named contacts, no
 * confidential service, no site of anything confidential, no case or
 * referral data; nothing audited (nothing personal). ETag over the
 * document.
 */
CREATE FUNCTION api.public_task_force(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	t task_forces;
BEGIN
	PERFORM lib.query_allow(p_args, '{}');
	t := directory.public_tf(p_args);
	body := jsonb_build_object('id', t.id, 'name', t.name, 'description',
	    t.description, 'jurisdictions', to_jsonb(t.jurisdictions),
	    'lead_organization', (SELECT directory.org_summary(o) FROM
	    organizations o WHERE o.id = t.lead_org AND o.status = 'active'),
	    'members', coalesce((SELECT jsonb_agg(jsonb_build_object(
	    'organization', jsonb_build_object('id', o.id, 'name', o.name,
	    'kind', o.kind, 'description', o.description, 'jurisdictions',
	    to_jsonb(o.jurisdictions), 'website', o.contact->>'website'),
	    'discipline', m.discipline, 'duty_tags', to_jsonb(m.duty_tags),
	    'services', coalesce((SELECT jsonb_agg(jsonb_build_object('id',
	    s.id, 'name', s.name, 'description', s.description, 'needs',
	    to_jsonb(s.needs), 'populations', jsonb_build_object('age_min',
	    s.age_min, 'age_max', s.age_max, 'genders', to_jsonb(s.genders),
	    'trafficking_types', to_jsonb(s.trafficking_types)), 'languages',
	    to_jsonb(s.languages), 'area_jurisdictions',
	    to_jsonb(s.area_jurisdictions), 'accepts_referrals',
	    s.accepts_referrals) ORDER BY s.name, s.id) FROM
	    directory.public_services(t.id) s WHERE s.organization_id = o.id),
	    '[]')) ORDER BY o.name, o.id) FROM task_force_members m JOIN
	    organizations o ON o.id = m.org_id WHERE m.task_force_id = t.id
	    AND m.status = 'active' AND o.status = 'active'), '[]'));
	status := 200;
	headers := lib.etag_header('public_task_force', t.id,
	    hashtext(body::text));
END $$;

/*
 * A service as HSDS for the public: directory.hsds_service without what
 * the public profile never shows either: its site (service_at_locations:
 * coordinates, address), a circle drawn around a point, and the
 * organization's contact email (it may name a person).
 */
CREATE FUNCTION directory.public_hsds_service(s services, o organizations)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT d - 'service_at_locations' - 'email' || jsonb_build_object(
	    'service_areas', coalesce((SELECT jsonb_agg(a ORDER BY n) FROM
	    jsonb_array_elements(d->'service_areas') WITH ORDINALITY x(a, n)
	    WHERE a->>'extent_type' = 'text'), '[]'))
	FROM directory.hsds_service(s, o) AS f(d)
$$;

/*
 * GET /public/v1/task-forces/{id}/hsds?page=&per_page=: the same
 * services as Open Referral HSDS 3.0 (directory.public_hsds_service:
 * no sites, no contacts), paged like /v1/hsds/services. ETag over the
 * page.
 */
CREATE FUNCTION api.public_task_force_hsds(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	t	task_forces;
	pg	record;
	v_total	bigint;
	v_c	jsonb;
BEGIN
	PERFORM lib.query_allow(p_args, '{page,per_page}');
	pg := directory.hsds_paging(p_args);
	t := directory.public_tf(p_args);
	SELECT count(*) INTO v_total FROM directory.public_services(t.id);
	SELECT coalesce(jsonb_agg(directory.public_hsds_service(x.s, x.o)
	    ORDER BY (x.s).name, (x.s).id), '[]') INTO v_c FROM (
		SELECT s, o FROM directory.public_services(t.id) s JOIN
		    organizations o ON o.id = s.organization_id
		ORDER BY s.name, s.id
		LIMIT pg.per_page OFFSET (pg.page - 1)::bigint * pg.per_page) x;
	status := 200;
	body := directory.hsds_page(v_total, pg.page, pg.per_page, v_c);
	headers := lib.etag_header('public_task_force', t.id,
	    hashtext(body::text));
END $$;
