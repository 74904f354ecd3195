-- directory.sql: the partner directory. Organizations (POST/GET/PATCH
-- /v1/organizations: api.org_*), services (POST/GET/PATCH/DELETE
-- /v1/services, PUT .../capacity: api.service_*), and the search
-- (GET /v1/services: api.service_search), with their validation,
-- documents and confidential-site redaction (helpers in schema directory).
--
-- Stored output: directory.service_derive computes the derived columns
-- of services (need_cover, lang_match, doc) through the trigger
-- store.services_derive. A change to what it computes (or to
-- directory.service_doc, directory.need_cover, directory.lang_keys)
-- ships with a backfill migration marked "-- concord:after-code" that
-- rewrites the rows (e.g. UPDATE services SET version = version), so
-- stored documents never disagree with the code.

/* Great-circle distance in km (haversine); can't fail. */
CREATE FUNCTION directory.km(a_lat double precision, a_lon double precision,
    b_lat double precision, b_lon double precision) RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
	SELECT 2 * 6371.0088 * asin(least(1, sqrt(
	    sin(radians(b_lat - a_lat) / 2) ^ 2 +
	    cos(radians(a_lat)) * cos(radians(b_lat)) *
	    sin(radians(b_lon - a_lon) / 2) ^ 2)))
$$;

-- ------------------------------------------------------------------
-- Generic helpers.
-- ------------------------------------------------------------------

CREATE FUNCTION directory.jurisdiction_re() RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,31}$' $$;

CREATE FUNCTION directory.language_re() RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT '^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$' $$;

/* Tags and their primary subtags, lower case: what language= matches. */
CREATE FUNCTION directory.lang_keys(p_tags text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(array_agg(DISTINCT k ORDER BY k), '{}')
	FROM unnest(p_tags) t, LATERAL (VALUES (lower(t)),
	    (lower(split_part(t, '-', 1)))) v(k)
$$;

/* Listed codes + sub-kinds of listed parents + parents of sub-kinds. */
/*
 * The derived columns of a services row, whatever writes it (API, demo,
 * bench), called by the trigger store.services_derive: the match arrays,
 * and doc, the full JSON representation without the organization
 * summary, so a search page renders without rebuilding every object
 * (redaction only swaps location for null). Returns the row to store.
 * Its output is stored: see the note at the top of this file.
 */
CREATE FUNCTION directory.service_derive(s services) RETURNS services
LANGUAGE plpgsql STABLE AS $$
BEGIN
	s.need_cover := directory.need_cover(s.needs);
	s.lang_match := directory.lang_keys(s.languages);
	s.doc := jsonb_build_object('id', s.id) ||
	    directory.service_doc(s) || jsonb_build_object(
		'capacity', CASE WHEN s.capacity_total IS NOT NULL THEN
		    jsonb_build_object('total', s.capacity_total, 'available',
		    s.capacity_available, 'unit', s.capacity_unit,
		    'updated_at', s.capacity_updated_at) END,
		'version', s.version, 'created_at', s.created_at,
		'updated_at', s.updated_at);
	RETURN s;
END $$;

CREATE FUNCTION directory.need_cover(p_needs text[]) RETURNS text[]
LANGUAGE sql STABLE AS $$
	SELECT coalesce(array_agg(DISTINCT c ORDER BY c), '{}') FROM (
	    SELECT unnest(p_needs) c
	    UNION SELECT code FROM need_taxonomy WHERE parent = ANY (p_needs)
	    UNION SELECT parent FROM need_taxonomy WHERE code = ANY (p_needs)
		AND parent IS NOT NULL) x
$$;

/* True when the caller may see a service's site and edit it. */
CREATE FUNCTION directory.is_privileged(p_ctx jsonb, p_org uuid)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
	SELECT lib.has_role(p_ctx, 'admin') OR
	    lib.has_role(p_ctx, 'coordinator') OR
	    coalesce(lib.ctx_org(p_ctx) = p_org, false)
$$;

/* Admin, coordinator, or a provider/case manager of the owning org. */
CREATE FUNCTION directory.can_write_service(p_ctx jsonb, p_org uuid)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
	SELECT lib.has_role(p_ctx, 'admin') OR
	    lib.has_role(p_ctx, 'coordinator') OR
	    (coalesce(lib.ctx_org(p_ctx) = p_org, false) AND
	    (lib.has_role(p_ctx, 'provider') OR
	    lib.has_role(p_ctx, 'case_manager')))
$$;

-- ------------------------------------------------------------------
-- Organizations.
-- ------------------------------------------------------------------
CREATE FUNCTION directory.org_kinds() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT '{law_enforcement,prosecution,victim_services,ngo,health,'
	    'legal_aid,government,faith_based,other}'::text[]
$$;

/* Every error of an organization document (full, after merging). */
CREATE FUNCTION directory.org_check(p jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	e	jsonb := '[]';
	c	jsonb := p->'contact';
BEGIN
	e := e || lib.check_keys(p, '', '{name,kind,description,'
	    'jurisdictions,contact,task_force_member,status}',
	    '{id,version,created_at,updated_at}');
	e := e || lib.check_str(p, 'name', 'name', true, 1, 300);
	IF p->'kind' IS NULL OR p->'kind' = 'null' THEN
		e := e || lib.err('kind', 'is required');
	ELSIF jsonb_typeof(p->'kind') <> 'string' OR
	    NOT (p->>'kind') = ANY (directory.org_kinds()) THEN
		e := e || lib.err('kind', 'must be one of ' ||
		    array_to_string(directory.org_kinds(), ', '));
	END IF;
	e := e || lib.check_str(p, 'description', 'description', false,
	    0, 5000);
	e := e || lib.check_str_array(p, 'jurisdictions',
	    'jurisdictions', directory.jurisdiction_re(), NULL, 500);
	IF c IS NOT NULL AND c <> 'null' THEN
		IF jsonb_typeof(c) <> 'object' THEN
			e := e || lib.err('contact', 'must be an object');
		ELSE
			e := e || lib.check_keys(c, 'contact.',
			    '{name,email,phone,website,address}', '{}');
			e := e || lib.check_str(c, 'name',
			    'contact.name', false, 1, 300);
			e := e || lib.check_str(c, 'phone',
			    'contact.phone', false, 3, 40);
			e := e || lib.check_str(c, 'address',
			    'contact.address', false, 1, 500);
			e := e || lib.check_str(c, 'website',
			    'contact.website', false, 8, 500);
			e := e || lib.check_str(c, 'email',
			    'contact.email', false, 3, 254);
			IF jsonb_typeof(c->'email') = 'string' AND
			    (c->>'email') !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' THEN
				e := e || lib.err('contact.email',
				    'must be an email address');
			END IF;
			IF jsonb_typeof(c->'website') = 'string' AND
			    (c->>'website') !~ '^https?://[^\s]+$' THEN
				e := e || lib.err('contact.website',
				    'must be an http(s) URL');
			END IF;
		END IF;
	END IF;
	e := e || lib.check_bool(p, 'task_force_member',
	    'task_force_member');
	IF p->'status' IS NOT NULL AND p->'status' <> 'null' AND
	    (jsonb_typeof(p->'status') <> 'string' OR
	    NOT (p->>'status') = ANY ('{active,inactive}')) THEN
		e := e || lib.err('status', 'must be active or inactive');
	END IF;
	RETURN e;
END $$;

/* The editable fields of an organization, as a document. */
CREATE FUNCTION directory.org_doc(o organizations) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('name', o.name, 'kind', o.kind,
	    'description', o.description, 'jurisdictions',
	    to_jsonb(o.jurisdictions), 'contact', o.contact,
	    'task_force_member', o.task_force_member, 'status', o.status)
$$;

CREATE FUNCTION directory.org_json(o organizations) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', o.id) || directory.org_doc(o) ||
	    jsonb_build_object('version', o.version, 'created_at',
	    o.created_at, 'updated_at', o.updated_at)
$$;

CREATE FUNCTION directory.org_summary(o organizations) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', o.id, 'name', o.name, 'kind', o.kind)
$$;

/* POST /v1/organizations (admin, coordinator). */
CREATE FUNCTION api.org_create(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	e	jsonb;
	o	organizations;
BEGIN
	e := directory.org_check(p_body);
	IF jsonb_array_length(e) > 0 THEN
		PERFORM lib.fail(422, 'validation-error', 'The organization '
		    'is not valid.', e);
	END IF;
	INSERT INTO organizations (name, kind, description, jurisdictions,
	    contact, task_force_member, status)
	VALUES (p_body->>'name', p_body->>'kind',
	    coalesce(p_body->>'description', ''),
	    lib.text_array(p_body->'jurisdictions', '{}'),
	    coalesce(nullif(p_body->'contact', 'null'), '{}'),
	    coalesce((p_body->>'task_force_member')::boolean, true),
	    coalesce(p_body->>'status', 'active'))
	RETURNING * INTO o;
	status := 201;
	body := directory.org_json(o);
	headers := jsonb_build_object('etag',
	    lib.etag('organization', o.id, o.version),
	    'location', '/v1/organizations/' || o.id);
END $$;

/* GET /v1/organizations/{id} (any role). */
CREATE FUNCTION api.org_get(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	o	organizations;
BEGIN
	SELECT * INTO o FROM organizations
	    WHERE id = (p_args->'path'->>'id')::uuid;
	IF NOT FOUND THEN
		PERFORM lib.fail(404, 'not-found', 'No such organization.');
	END IF;
	status := 200;
	body := directory.org_json(o);
	headers := jsonb_build_object('etag',
	    lib.etag('organization', o.id, o.version));
END $$;

/* GET /v1/organizations?kind=&status=&jurisdiction=&limit=&cursor= */
CREATE FUNCTION api.org_list(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	v_lim	integer;
	v_cur	jsonb;
	v_kind	text[] := lib.query_list(p_args, 'kind');
	v_stat	text := lib.query_text(p_args, 'status');
	v_jur	text[] := lib.query_list(p_args, 'jurisdiction');
	e	jsonb := '[]';
	v_items	jsonb;
	v_n	integer;
	v_last	record;
BEGIN
	PERFORM lib.query_allow(p_args, '{kind,status,jurisdiction,'
	    'limit,cursor}');
	v_lim := lib.page_limit(p_args);
	v_cur := lib.cursor_decode(p_args, 'org', '{n:text,i:uuid}');
	IF v_kind IS NOT NULL AND NOT v_kind <@ directory.org_kinds() THEN
		e := e || lib.err('kind', 'must be one of ' ||
		    array_to_string(directory.org_kinds(), ', '));
	END IF;
	IF v_stat IS NOT NULL AND v_stat NOT IN ('active', 'inactive') THEN
		e := e || lib.err('status', 'must be active or inactive');
	END IF;
	IF v_jur IS NOT NULL AND EXISTS (SELECT 1 FROM unnest(v_jur) j
	    WHERE j !~ directory.jurisdiction_re()) THEN
		e := e || lib.err('jurisdiction', 'is not a jurisdiction code');
	END IF;
	IF jsonb_array_length(e) > 0 THEN
		PERFORM lib.query_fail_if(e);
	END IF;
	WITH page AS (
		SELECT o FROM organizations o
		WHERE (v_kind IS NULL OR o.kind = ANY (v_kind))
		  AND (v_stat IS NULL OR o.status = v_stat)
		  AND (v_jur IS NULL OR o.jurisdictions && v_jur)
		  AND (v_cur IS NULL OR (o.name, o.id) >
		      (v_cur->>'n', (v_cur->>'i')::uuid))
		ORDER BY o.name, o.id
		LIMIT v_lim + 1)
	SELECT coalesce(jsonb_agg(directory.org_json(p.o) ORDER BY
	    (p.o).name, (p.o).id), '[]'), count(*) INTO v_items, v_n FROM page p;
	status := 200;
	IF v_n > v_lim THEN
		v_items := v_items - v_lim;
		body := jsonb_build_object('items', v_items, 'next_cursor',
		    lib.cursor_encode('org', jsonb_build_object(
		    'n', v_items->(v_lim - 1)->>'name',
		    'i', v_items->(v_lim - 1)->>'id')));
	ELSE
		body := jsonb_build_object('items', v_items, 'next_cursor',
		    NULL);
	END IF;
	headers := '{}';
END $$;

/*
 * PATCH /v1/organizations/{id}: admin and coordinator change anything;
 * the organization's own members change contact only (403 naming the
 * other fields). JSON merge patch semantics, If-Match required; 422
 * for a field nested more than 4 levels deep (lib.check_depth, before
 * lib.merge_patch recurses into it).
 */
CREATE FUNCTION api.org_patch(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	o	organizations;
	d	jsonb;
	e	jsonb;
	v_staff	boolean := lib.has_role(p_ctx, 'admin') OR
		    lib.has_role(p_ctx, 'coordinator');
BEGIN
	SELECT * INTO o FROM organizations
	    WHERE id = (p_args->'path'->>'id')::uuid FOR UPDATE;
	IF NOT FOUND THEN
		PERFORM lib.fail(404, 'not-found', 'No such organization.');
	END IF;
	IF NOT v_staff THEN
		IF v_org IS DISTINCT FROM o.id THEN
			PERFORM lib.fail(403, 'forbidden', 'Only members of '
			    'this organization, coordinators and admins may '
			    'edit it.');
		END IF;
		SELECT jsonb_agg(lib.err(k, 'only coordinators and admins '
		    'may change this field') ORDER BY k) INTO e
		    FROM jsonb_object_keys(p_body) k WHERE k <> 'contact';
		IF e IS NOT NULL THEN
			PERFORM lib.fail(403, 'forbidden', 'Members may edit '
			    'their organization''s contact details only.', e);
		END IF;
	END IF;
	e := lib.check_keys(p_body, '', '{name,kind,description,'
	    'jurisdictions,contact,task_force_member,status}',
	    '{id,version,created_at,updated_at}') ||
	    lib.check_depth(p_body, '', 4);
	IF jsonb_array_length(e) > 0 THEN
		PERFORM lib.fail(422, 'validation-error', 'The patch names '
		    'fields that cannot be set.', e);
	END IF;
	PERFORM lib.if_match(p_args, 'organization', o.id, o.version);
	d := lib.merge_patch(directory.org_doc(o), p_body);
	e := directory.org_check(d);
	IF jsonb_array_length(e) > 0 THEN
		PERFORM lib.fail(422, 'validation-error', 'The organization '
		    'is not valid.', e);
	END IF;
	UPDATE organizations SET name = d->>'name', kind = d->>'kind',
	    description = coalesce(d->>'description', ''),
	    jurisdictions = lib.text_array(d->'jurisdictions', '{}'),
	    contact = coalesce(d->'contact', '{}'),
	    task_force_member = coalesce((d->>'task_force_member')::boolean,
	    true), status = coalesce(d->>'status', 'active'),
	    version = version + 1, updated_at = now()
	WHERE id = o.id RETURNING * INTO o;
	status := 200;
	body := directory.org_json(o);
	headers := jsonb_build_object('etag',
	    lib.etag('organization', o.id, o.version));
END $$;

-- ------------------------------------------------------------------
-- Services.
-- ------------------------------------------------------------------
CREATE FUNCTION directory.service_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT '{name,description,needs,age_min,age_max,genders,'
	    'trafficking_types,languages,interpretation,eligibility_notes,'
	    'eligibility,service_area,location,confidential,open_24_7,hours,'
	    'timezone,capacity,accepts_referrals,response_time_hours,'
	    'status}'::text[]
$$;

CREATE FUNCTION directory.service_readonly() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT '{id,version,created_at,updated_at,organization_id,'
	    'organization,distance_km}'::text[]
$$;

CREATE FUNCTION directory.eligibility_flags() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT '{no_immigration_status_requirement,lgbtq_affirming,'
	    'no_id_required,no_law_enforcement_report_required,'
	    'accepts_accompanying_children}'::text[]
$$;

/* Errors of {lat, lon} object p at field prefix f (both required). */
CREATE FUNCTION directory.check_point(p jsonb, f text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN p->'lat' IS NULL OR p->'lat' = 'null' THEN
	    jsonb_build_array(lib.err(f || 'lat', 'is required')) ELSE '[]'
	    END || CASE WHEN p->'lon' IS NULL OR p->'lon' = 'null' THEN
	    jsonb_build_array(lib.err(f || 'lon', 'is required')) ELSE '[]'
	    END || lib.check_num(p, 'lat', f || 'lat', -90, 90, false) ||
	    lib.check_num(p, 'lon', f || 'lon', -180, 180, false)
$$;

/* Every error of a service document (full, after merging). */
CREATE FUNCTION directory.service_check(p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	e	jsonb := '[]';
	v	jsonb;
	h	jsonb;
	i	integer;
	f	text;
BEGIN
	e := e || lib.check_keys(p, '', directory.service_fields(),
	    directory.service_readonly());
	e := e || lib.check_str(p, 'name', 'name', true, 1, 300);
	e := e || lib.check_str(p, 'description', 'description', false,
	    0, 5000);
	e := e || lib.check_str(p, 'eligibility_notes',
	    'eligibility_notes', false, 0, 2000);

	/* needs: required, known codes */
	v := p->'needs';
	IF v IS NULL OR v = 'null' THEN
		e := e || lib.err('needs', 'is required');
	ELSIF jsonb_typeof(v) <> 'array' OR jsonb_array_length(v) = 0 THEN
		e := e || lib.err('needs', 'must be a non-empty array of need '
		    'codes');
	ELSIF jsonb_array_length(v) > 60 THEN
		e := e || lib.err('needs', 'at most 60 items');
	ELSE
		FOR i IN 0 .. jsonb_array_length(v) - 1 LOOP
			IF jsonb_typeof(v->i) <> 'string' OR NOT EXISTS (
			    SELECT 1 FROM need_taxonomy WHERE code = v->>i) THEN
				e := e || lib.err('needs[' || i || ']',
				    'unknown need code');
			END IF;
		END LOOP;
	END IF;

	e := e || lib.check_int(p, 'age_min', 'age_min', 0, 120);
	e := e || lib.check_int(p, 'age_max', 'age_max', 0, 120);
	IF jsonb_typeof(p->'age_min') = 'number' AND
	    jsonb_typeof(p->'age_max') = 'number' AND
	    (p->>'age_min')::numeric > (p->>'age_max')::numeric THEN
		e := e || lib.err('age_max', 'must not be below age_min');
	END IF;
	e := e || lib.check_str_array(p, 'genders', 'genders', NULL,
	    '{female,male,transgender,non_binary}', 4);
	e := e || lib.check_str_array(p, 'trafficking_types',
	    'trafficking_types', NULL, '{sex,labor}', 2);
	IF jsonb_typeof(p->'trafficking_types') = 'array' AND
	    jsonb_array_length(p->'trafficking_types') = 0 THEN
		e := e || lib.err('trafficking_types', 'must name sex, labor '
		    'or both');
	END IF;
	e := e || lib.check_str_array(p, 'languages', 'languages',
	    directory.language_re(), NULL, 50);

	v := p->'eligibility';
	IF v IS NOT NULL AND v <> 'null' THEN
		IF jsonb_typeof(v) <> 'object' THEN
			e := e || lib.err('eligibility', 'must be an object');
		ELSE
			e := e || lib.check_keys(v, 'eligibility.',
			    directory.eligibility_flags(), '{}');
			FOR f IN SELECT k FROM jsonb_object_keys(v) k
			    WHERE k = ANY (directory.eligibility_flags()) LOOP
				e := e || lib.check_bool(v, f,
				    'eligibility.' || f);
			END LOOP;
		END IF;
	END IF;

	v := p->'service_area';
	IF v IS NOT NULL AND v <> 'null' THEN
		IF jsonb_typeof(v) <> 'object' THEN
			e := e || lib.err('service_area', 'must be an object');
		ELSE
			e := e || lib.check_keys(v, 'service_area.',
			    '{jurisdictions,center,radius_km}', '{}');
			e := e || lib.check_str_array(v, 'jurisdictions',
			    'service_area.jurisdictions',
			    directory.jurisdiction_re(), NULL, 500);
			IF v->'center' IS NOT NULL AND v->'center' <> 'null' THEN
				IF jsonb_typeof(v->'center') <> 'object' THEN
					e := e || lib.err('service_area.center',
					    'must be an object {lat, lon}');
				ELSE
					e := e || lib.check_keys(
					    v->'center', 'service_area.center.',
					    '{lat,lon}', '{}') ||
					    directory.check_point(v->'center',
					    'service_area.center.');
				END IF;
			END IF;
			e := e || lib.check_num(v, 'radius_km',
			    'service_area.radius_km', 0, 2000, true);
			IF (v->'center' IS NULL OR v->'center' = 'null') <>
			    (v->'radius_km' IS NULL OR v->'radius_km' = 'null')
			    THEN
				e := e || lib.err('service_area.radius_km',
				    'center and radius_km go together');
			END IF;
		END IF;
	END IF;

	v := p->'location';
	IF v IS NOT NULL AND v <> 'null' THEN
		IF jsonb_typeof(v) <> 'object' THEN
			e := e || lib.err('location', 'must be an object');
		ELSE
			e := e || lib.check_keys(v, 'location.',
			    '{lat,lon,address}', '{}') ||
			    directory.check_point(v, 'location.');
			h := v->'address';
			IF h IS NOT NULL AND h <> 'null' THEN
				IF jsonb_typeof(h) <> 'object' THEN
					e := e || lib.err('location.address',
					    'must be an object');
				ELSE
					e := e || lib.check_keys(h,
					    'location.address.', '{line1,line2,'
					    'city,region,postal_code,country}',
					    '{}');
					FOREACH f IN ARRAY '{line1,line2,city,'
					    'region,postal_code,country}'::text[]
					LOOP
						e := e || lib.check_str(h,
						    f, 'location.address.' || f,
						    f IN ('line1', 'city'), 1,
						    200);
					END LOOP;
				END IF;
			END IF;
		END IF;
	END IF;

	e := e || lib.check_bool(p, 'confidential', 'confidential');
	IF p->'confidential' = 'true' AND NOT (
	    jsonb_array_length(coalesce(CASE WHEN jsonb_typeof(
	    p->'service_area'->'jurisdictions') = 'array' THEN
	    p->'service_area'->'jurisdictions' END, '[]')) > 0 OR
	    coalesce(jsonb_typeof(p->'service_area'->'center') = 'object',
	    false)) THEN
		e := e || lib.err('service_area', 'a confidential service '
		    'needs a service area (jurisdictions or center) to be '
		    'listed by');
	END IF;

	e := e || lib.check_bool(p, 'open_24_7', 'open_24_7');
	e := e || lib.check_str(p, 'timezone', 'timezone', false, 1, 64);
	IF jsonb_typeof(p->'timezone') = 'string' AND (p->>'timezone') <> 'UTC'
	    AND NOT EXISTS (SELECT 1 FROM pg_timezone_names
	    WHERE name = p->>'timezone') THEN
		e := e || lib.err('timezone', 'is not a known time zone name');
	END IF;
	v := p->'hours';
	IF v IS NOT NULL AND v <> 'null' THEN
		IF jsonb_typeof(v) <> 'array' THEN
			e := e || lib.err('hours', 'must be an array');
		ELSIF jsonb_array_length(v) > 50 THEN
			e := e || lib.err('hours', 'at most 50 items');
		ELSE
			FOR i IN 0 .. jsonb_array_length(v) - 1 LOOP
				h := v->i;
				f := 'hours[' || i || '].';
				IF jsonb_typeof(h) <> 'object' THEN
					e := e || lib.err('hours[' || i || ']',
					    'must be an object');
					CONTINUE;
				END IF;
				e := e || lib.check_keys(h, f,
				    '{day,opens,closes}', '{}');
				IF NOT coalesce(h->>'day' = ANY ('{mon,tue,wed,'
				    'thu,fri,sat,sun}'::text[]) AND
				    jsonb_typeof(h->'day') = 'string', false) THEN
					e := e || lib.err(f || 'day', 'must be '
					    'mon, tue, wed, thu, fri, sat or sun');
				END IF;
				IF jsonb_typeof(h->'opens') IS DISTINCT FROM
				    'string' OR (h->>'opens') !~
				    '^([01][0-9]|2[0-3]):[0-5][0-9]$' THEN
					e := e || lib.err(f || 'opens',
					    'must be HH:MM');
				END IF;
				IF jsonb_typeof(h->'closes') IS DISTINCT FROM
				    'string' OR (h->>'closes') !~
				    '^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$' THEN
					e := e || lib.err(f || 'closes',
					    'must be HH:MM (24:00 allowed)');
				ELSIF (h->>'opens') = (h->>'closes') THEN
					e := e || lib.err(f || 'closes',
					    'must differ from opens');
				END IF;
			END LOOP;
		END IF;
	END IF;

	v := p->'capacity';
	IF v IS NOT NULL AND v <> 'null' THEN
		IF jsonb_typeof(v) <> 'object' THEN
			e := e || lib.err('capacity', 'must be an object');
		ELSE
			e := e || lib.check_keys(v, 'capacity.',
			    '{total,available,unit}', '{updated_at}');
			IF v->'total' IS NULL OR v->'total' = 'null' THEN
				e := e || lib.err('capacity.total',
				    'is required');
			END IF;
			e := e || lib.check_int(v, 'total',
			    'capacity.total', 0, 1000000);
			e := e || lib.check_int(v, 'available',
			    'capacity.available', 0, 1000000);
			e := e || lib.check_str(v, 'unit',
			    'capacity.unit', false, 1, 40);
			IF jsonb_typeof(v->'total') = 'number' AND
			    jsonb_typeof(v->'available') = 'number' AND
			    (v->>'available')::numeric >
			    (v->>'total')::numeric THEN
				e := e || lib.err('capacity.available',
				    'must not exceed capacity.total');
			END IF;
		END IF;
	END IF;
	e := e || lib.check_bool(p, 'accepts_referrals',
	    'accepts_referrals');
	e := e || lib.check_bool(p, 'interpretation', 'interpretation');
	e := e || lib.check_int(p, 'response_time_hours',
	    'response_time_hours', 0, 720);
	IF p->'status' IS NOT NULL AND p->'status' <> 'null' AND
	    (jsonb_typeof(p->'status') <> 'string' OR
	    NOT (p->>'status') = ANY ('{active,inactive}')) THEN
		e := e || lib.err('status', 'must be active or inactive');
	END IF;
	RETURN e;
END $$;

/* The editable fields of a service, unredacted, as a document. */
CREATE FUNCTION directory.service_doc(s services) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object(
	    'name', s.name, 'description', s.description,
	    'needs', to_jsonb(s.needs),
	    'age_min', s.age_min, 'age_max', s.age_max,
	    'genders', to_jsonb(s.genders),
	    'trafficking_types', to_jsonb(s.trafficking_types),
	    'languages', to_jsonb(s.languages),
	    'interpretation', s.interpretation,
	    'eligibility_notes', s.eligibility_notes,
	    'eligibility', s.eligibility,
	    'service_area', jsonb_build_object(
		'jurisdictions', to_jsonb(s.area_jurisdictions),
		'center', CASE WHEN s.area_lat IS NOT NULL THEN
		    jsonb_build_object('lat', s.area_lat, 'lon', s.area_lon)
		    END,
		'radius_km', s.area_radius_km),
	    'location', CASE WHEN s.site_lat IS NOT NULL OR
		s.address IS NOT NULL THEN jsonb_build_object('lat',
		s.site_lat, 'lon', s.site_lon, 'address', s.address) END,
	    'confidential', s.confidential,
	    'open_24_7', s.open_24_7, 'hours', s.hours,
	    'timezone', s.timezone,
	    'capacity', CASE WHEN s.capacity_total IS NOT NULL THEN
		jsonb_build_object('total', s.capacity_total,
		'available', s.capacity_available, 'unit', s.capacity_unit)
		END,
	    'accepts_referrals', s.accepts_referrals,
	    'response_time_hours', s.response_time_hours,
	    'status', s.status)
$$;

/*
 * A service as the caller may see it: the full record for privileged
 * callers (see is_privileged), else the site of a confidential
 * service (location) is null. Never fails.
 */
CREATE FUNCTION directory.service_json(s services, o organizations,
    p_full boolean) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('organization', jsonb_build_object('id', o.id,
	    'name', o.name, 'kind', o.kind)) || s.doc ||
	    CASE WHEN s.confidential AND NOT p_full THEN
	    '{"location": null}'::jsonb ELSE '{}' END
$$;

/* Write document d (already checked) into service row id. */
CREATE FUNCTION directory.service_store(p_id uuid, d jsonb)
RETURNS services LANGUAGE plpgsql AS $$
DECLARE
	s	services;
	v_needs	text[] := lib.text_array(d->'needs', '{}');
	v_langs	text[] := ARRAY(SELECT DISTINCT x FROM
		    jsonb_array_elements_text(coalesce(nullif(d->'languages',
		    'null'), '[]')) x ORDER BY 1);
BEGIN
	UPDATE services SET
	    name = d->>'name',
	    description = coalesce(d->>'description', ''),
	    needs = v_needs,
	    age_min = (d->>'age_min')::integer,
	    age_max = (d->>'age_max')::integer,
	    genders = lib.text_array(d->'genders', '{}'),
	    trafficking_types = lib.text_array(d->'trafficking_types',
		'{labor,sex}'),
	    languages = v_langs,
	    interpretation = coalesce((d->>'interpretation')::boolean, false),
	    eligibility_notes = coalesce(d->>'eligibility_notes', ''),
	    eligibility = coalesce(nullif(d->'eligibility', 'null'), '{}'),
	    area_jurisdictions = lib.text_array(
		d->'service_area'->'jurisdictions', '{}'),
	    area_lat = (d->'service_area'->'center'->>'lat')::float8,
	    area_lon = (d->'service_area'->'center'->>'lon')::float8,
	    area_radius_km = (d->'service_area'->>'radius_km')::float8,
	    site_lat = (d->'location'->>'lat')::float8,
	    site_lon = (d->'location'->>'lon')::float8,
	    address = nullif(d->'location'->'address', 'null'),
	    confidential = coalesce((d->>'confidential')::boolean, false),
	    open_24_7 = coalesce((d->>'open_24_7')::boolean, false),
	    hours = coalesce(nullif(d->'hours', 'null'), '[]'),
	    timezone = coalesce(d->>'timezone', 'UTC'),
	    capacity_total = (d->'capacity'->>'total')::integer,
	    capacity_available = CASE WHEN d->'capacity'->'total' IS NOT NULL
		AND d->'capacity'->'total' <> 'null' THEN
		coalesce((d->'capacity'->>'available')::integer,
		(d->'capacity'->>'total')::integer) END,
	    capacity_unit = d->'capacity'->>'unit',
	    capacity_updated_at = CASE WHEN (d->'capacity'->>'available') IS
		DISTINCT FROM capacity_available::text OR
		(d->'capacity'->>'total') IS DISTINCT FROM
		capacity_total::text THEN now() ELSE capacity_updated_at END,
	    accepts_referrals = coalesce((d->>'accepts_referrals')::boolean,
		true),
	    response_time_hours = (d->>'response_time_hours')::integer,
	    status = coalesce(d->>'status', 'active'),
	    updated_at = now()
	WHERE id = p_id RETURNING * INTO s;
	RETURN s;
END $$;

/* The live service {id} FOR UPDATE with its organization, or 404. */
CREATE FUNCTION directory.service_lock(p_args jsonb, OUT s services,
    OUT o organizations) LANGUAGE plpgsql AS $$
BEGIN
	SELECT * INTO s FROM services WHERE id = (p_args->'path'->>'id')::uuid
	    AND deleted_at IS NULL FOR UPDATE;
	IF NOT FOUND THEN
		PERFORM lib.fail(404, 'not-found', 'No such service.');
	END IF;
	SELECT * INTO o FROM organizations WHERE id = s.organization_id;
END $$;

CREATE FUNCTION directory.require_write(p_ctx jsonb, p_org uuid)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF NOT directory.can_write_service(p_ctx, p_org) THEN
		PERFORM lib.fail(403, 'forbidden', 'Only the owning '
		    'organization''s providers and case managers, '
		    'coordinators and admins may change its services.');
	END IF;
END $$;

/* POST /v1/organizations/{id}/services */
CREATE FUNCTION api.service_create(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	o	organizations;
	s	services;
	e	jsonb;
BEGIN
	SELECT * INTO o FROM organizations
	    WHERE id = (p_args->'path'->>'id')::uuid;
	IF NOT FOUND THEN
		PERFORM lib.fail(404, 'not-found', 'No such organization.');
	END IF;
	PERFORM directory.require_write(p_ctx, o.id);
	e := directory.service_check(p_body);
	IF jsonb_array_length(e) > 0 THEN
		PERFORM lib.fail(422, 'validation-error', 'The service is not '
		    'valid.', e);
	END IF;
	INSERT INTO services (organization_id, name, needs)
	    VALUES (o.id, p_body->>'name', '{}') RETURNING * INTO s;
	s := directory.service_store(s.id, p_body);
	status := 201;
	body := directory.service_json(s, o, true);
	headers := jsonb_build_object('etag',
	    lib.etag('service', s.id, s.version),
	    'location', '/v1/services/' || s.id);
END $$;

/* GET /v1/services/{id} (any role; redacted unless privileged). */
CREATE FUNCTION api.service_get(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	s	services;
	o	organizations;
BEGIN
	SELECT * INTO s FROM services WHERE id = (p_args->'path'->>'id')::uuid
	    AND deleted_at IS NULL;
	IF NOT FOUND THEN
		PERFORM lib.fail(404, 'not-found', 'No such service.');
	END IF;
	SELECT * INTO o FROM organizations WHERE id = s.organization_id;
	status := 200;
	body := directory.service_json(s, o, directory.is_privileged(p_ctx,
	    o.id));
	headers := jsonb_build_object('etag',
	    lib.etag('service', s.id, s.version));
END $$;

/*
 * PATCH /v1/services/{id}: JSON merge patch, If-Match required; 422 for
 * a field nested more than 8 levels deep (lib.check_depth).
 */
CREATE FUNCTION api.service_patch(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	r	record;
	s	services;
	d	jsonb;
	e	jsonb;
BEGIN
	SELECT * INTO r FROM directory.service_lock(p_args);
	PERFORM directory.require_write(p_ctx, (r.o).id);
	e := lib.check_keys(p_body, '', directory.service_fields(),
	    directory.service_readonly());
	IF jsonb_typeof(p_body->'capacity') = 'object' THEN
		e := e || lib.check_keys(p_body->'capacity', 'capacity.',
		    '{total,available,unit}', '{updated_at}');
	END IF;
	e := e || lib.check_depth(p_body, '', 8);
	IF jsonb_array_length(e) > 0 THEN
		PERFORM lib.fail(422, 'validation-error', 'The patch names '
		    'fields that cannot be set.', e);
	END IF;
	PERFORM lib.if_match(p_args, 'service', (r.s).id,
	    (r.s).version);
	d := lib.merge_patch(directory.service_doc(r.s), p_body);
	e := directory.service_check(d);
	IF jsonb_array_length(e) > 0 THEN
		PERFORM lib.fail(422, 'validation-error', 'The service is not '
		    'valid.', e);
	END IF;
	s := directory.service_store((r.s).id, d);
	UPDATE services SET version = version + 1 WHERE id = s.id
	    RETURNING * INTO s;
	status := 200;
	body := directory.service_json(s, r.o, true);
	headers := jsonb_build_object('etag',
	    lib.etag('service', s.id, s.version));
END $$;

/* DELETE /v1/services/{id}: soft delete; answered 204 by the API. */
CREATE FUNCTION api.service_delete(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	r	record;
BEGIN
	SELECT * INTO r FROM directory.service_lock(p_args);
	PERFORM directory.require_write(p_ctx, (r.o).id);
	IF p_args ? 'if_match' THEN
		PERFORM lib.if_match(p_args, 'service', (r.s).id,
		    (r.s).version);
	END IF;
	UPDATE services SET deleted_at = now(), updated_at = now(),
	    version = version + 1 WHERE id = (r.s).id;
	status := 204;
	body := '{}';
	headers := '{}';
END $$;

/*
 * PUT /v1/services/{id}/capacity {"available": n[, "total": n]}: the
 * cheap, frequent update. Does not bump the record's version (capacity
 * is live state with its own updated_at), so editors' ETags survive.
 */
CREATE FUNCTION api.service_capacity(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	r	record;
	e	jsonb;
	v_total	integer;
BEGIN
	SELECT * INTO r FROM directory.service_lock(p_args);
	PERFORM directory.require_write(p_ctx, (r.o).id);
	e := lib.check_keys(p_body, '', '{available,total}', '{}');
	IF p_body->'available' IS NULL OR p_body->'available' = 'null' THEN
		e := e || lib.err('available', 'is required');
	END IF;
	e := e || lib.check_int(p_body, 'available', 'available', 0,
	    1000000) || lib.check_int(p_body, 'total', 'total', 0,
	    1000000);
	IF jsonb_array_length(e) = 0 THEN
		v_total := coalesce((p_body->>'total')::integer,
		    (r.s).capacity_total);
		IF v_total IS NULL AND NOT p_body ? 'total' THEN
			e := e || lib.err('total', 'the service tracks no '
			    'capacity yet: give total');
		ELSIF (p_body->>'available')::integer > v_total THEN
			e := e || lib.err('available', 'must not exceed total ('
			    || v_total || ')');
		END IF;
	END IF;
	IF jsonb_array_length(e) > 0 THEN
		PERFORM lib.fail(422, 'validation-error', 'The capacity is not '
		    'valid.', e);
	END IF;
	UPDATE services SET capacity_total = v_total,
	    capacity_available = (p_body->>'available')::integer,
	    capacity_updated_at = now()
	WHERE id = (r.s).id;
	status := 200;
	body := (SELECT jsonb_build_object('id', s.id, 'capacity',
	    jsonb_build_object('total', s.capacity_total, 'available',
	    s.capacity_available, 'unit', s.capacity_unit, 'updated_at',
	    s.capacity_updated_at)) FROM services s WHERE s.id = (r.s).id);
	/* Room opened up: needs waiting for this kind are matched again. */
	headers := CASE WHEN (p_body->>'available')::integer >
	    coalesce((r.s).capacity_available, 0) THEN jsonb_build_object(
	    'x-concord-jobs', jsonb_build_array(referral.capacity_freed(
	    (r.s).id))) ELSE '{}' END;
END $$;

/* Is a weekly schedule open at instant p_at in time zone p_tz? */
CREATE FUNCTION directory.open_at(p_hours jsonb, p_tz text,
    p_at timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
	WITH t AS (SELECT (p_at AT TIME ZONE p_tz) AS lt)
	SELECT coalesce(bool_or(
	    /* same-day interval, or the evening part of an overnight one */
	    (h->>'day' = lower(to_char(t.lt, 'dy')) AND
		to_char(t.lt, 'HH24:MI') >= h->>'opens' AND
		(h->>'closes' > h->>'opens' AND to_char(t.lt, 'HH24:MI') <
		h->>'closes' OR h->>'closes' < h->>'opens'))
	    OR
	    /* the morning part of yesterday's overnight interval */
	    (h->>'closes' < h->>'opens' AND h->>'day' =
		lower(to_char(t.lt - interval '1 day', 'dy')) AND
		to_char(t.lt, 'HH24:MI') < h->>'closes')), false)
	FROM t, jsonb_array_elements(p_hours) h
$$;

/*
 * GET /v1/services: directory search. Filters (all optional, ANDed):
 * need (every code must be covered), language (any), age, gender,
 * trafficking_type (sex|labor|both), near=lat,lon + radius_km
 * (default 50), jurisdiction (any), open_now, available_only,
 * organization (any). Only active services of active organizations.
 * Ordered by distance when near is given, else by name, id.
 */
CREATE FUNCTION api.service_search(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	v_lim	integer;
	v_cur	jsonb;
	e	jsonb := '[]';
	v_need	text[] := lib.query_list(p_args, 'need');
	v_lang	text[] := lib.query_list(p_args, 'language');
	v_jur	text[] := lib.query_list(p_args, 'jurisdiction');
	v_orgs	text[] := lib.query_list(p_args, 'organization');
	v_age	text := lib.query_text(p_args, 'age');
	v_gen	text := lib.query_text(p_args, 'gender');
	v_tt	text := lib.query_text(p_args, 'trafficking_type');
	v_near	text := lib.query_text(p_args, 'near');
	v_rad	text := lib.query_text(p_args, 'radius_km');
	v_open	text := lib.query_text(p_args, 'open_now');
	v_avail	text := lib.query_text(p_args, 'available_only');
	v_lat	float8;
	v_lon	float8;
	v_r	float8;
	v_tts	text[];
	v_sql	text;
	v_where	text := '';
	v_items	jsonb;
	v_n	integer;
	v_key	jsonb;
BEGIN
	PERFORM lib.query_allow(p_args, '{need,language,age,gender,'
	    'trafficking_type,near,radius_km,jurisdiction,open_now,'
	    'available_only,organization,limit,cursor}');
	v_lim := lib.page_limit(p_args);
	IF v_need IS NOT NULL AND (cardinality(v_need) = 0 OR EXISTS (
	    SELECT 1 FROM unnest(v_need) c WHERE NOT EXISTS (SELECT 1
	    FROM need_taxonomy t WHERE t.code = c))) THEN
		e := e || lib.err('need', 'unknown need code');
	END IF;
	IF v_lang IS NOT NULL AND (cardinality(v_lang) = 0 OR EXISTS (
	    SELECT 1 FROM unnest(v_lang) l WHERE l !~
	    directory.language_re())) THEN
		e := e || lib.err('language', 'must be BCP 47 language tags');
	END IF;
	IF v_jur IS NOT NULL AND (cardinality(v_jur) = 0 OR EXISTS (
	    SELECT 1 FROM unnest(v_jur) j WHERE j !~
	    directory.jurisdiction_re())) THEN
		e := e || lib.err('jurisdiction', 'is not a jurisdiction code');
	END IF;
	IF v_orgs IS NOT NULL AND (cardinality(v_orgs) = 0 OR EXISTS (
	    SELECT 1 FROM unnest(v_orgs) j WHERE j !~*
	    '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'))
	    THEN
		e := e || lib.err('organization', 'must be organization ids');
	END IF;
	IF v_age IS NOT NULL AND (v_age !~ '^[0-9]{1,3}$' OR
	    v_age::integer > 120) THEN
		e := e || lib.err('age', 'must be an integer from 0 to 120');
	END IF;
	IF v_gen IS NOT NULL AND v_gen NOT IN ('female', 'male', 'transgender',
	    'non_binary') THEN
		e := e || lib.err('gender', 'must be female, male, transgender '
		    'or non_binary');
	END IF;
	IF v_tt IS NOT NULL AND v_tt NOT IN ('sex', 'labor', 'both') THEN
		e := e || lib.err('trafficking_type', 'must be sex, labor or '
		    'both');
	END IF;
	v_tts := CASE v_tt WHEN 'both' THEN '{labor,sex}'::text[]
	    ELSE ARRAY[v_tt] END;
	IF v_open IS NOT NULL AND v_open NOT IN ('true', 'false') THEN
		e := e || lib.err('open_now', 'must be true or false');
	END IF;
	IF v_avail IS NOT NULL AND v_avail NOT IN ('true', 'false') THEN
		e := e || lib.err('available_only', 'must be true or false');
	END IF;
	IF v_near IS NOT NULL THEN
		IF v_near !~ '^\s*-?[0-9]{1,3}(\.[0-9]{1,12})?\s*,\s*-?[0-9]{1,3}(\.[0-9]{1,12})?\s*$'
		    THEN
			e := e || lib.err('near', 'must be lat,lon in decimal '
			    'degrees');
		ELSE
			v_lat := split_part(v_near, ',', 1)::float8;
			v_lon := split_part(v_near, ',', 2)::float8;
			IF v_lat NOT BETWEEN -90 AND 90 THEN
				e := e || lib.err('near', 'latitude must be '
				    '-90..90');
			END IF;
			IF v_lon NOT BETWEEN -180 AND 180 THEN
				e := e || lib.err('near', 'longitude must be '
				    '-180..180');
			END IF;
		END IF;
	END IF;
	IF v_rad IS NOT NULL THEN
		IF v_rad !~ '^-?[0-9]{1,5}(\.[0-9]{1,6})?$' THEN
			e := e || lib.err('radius_km', 'must be a number');
		ELSIF v_rad::float8 <= 0 OR v_rad::float8 > 2000 THEN
			e := e || lib.err('radius_km', 'must be above 0 and at '
			    'most 2000');
		ELSIF v_near IS NULL THEN
			e := e || lib.err('radius_km', 'needs near');
		END IF;
	END IF;
	IF jsonb_array_length(e) > 0 THEN
		PERFORM lib.query_fail_if(e);
	END IF;
	v_r := coalesce(v_rad::float8, 50);
	v_cur := lib.cursor_decode(p_args, CASE WHEN v_near IS NULL THEN
	    'name' ELSE 'dist' END, CASE WHEN v_near IS NULL THEN
	    '{n:text,i:uuid}' ELSE '{d:num?,i:uuid}' END::text[]);

	/* Fixed fragments only; every value travels as a $n parameter. */
	IF v_need IS NOT NULL THEN
		v_where := v_where || ' AND s.need_cover @> $1';
	END IF;
	IF v_lang IS NOT NULL THEN
		v_where := v_where || ' AND s.lang_match && $2';
		v_lang := ARRAY(SELECT lower(l) FROM unnest(v_lang) l);
	END IF;
	IF v_age IS NOT NULL THEN
		v_where := v_where || ' AND coalesce(s.age_min, 0) <= $3 AND '
		    'coalesce(s.age_max, 200) >= $3';
	END IF;
	IF v_gen IS NOT NULL THEN
		v_where := v_where || ' AND (s.genders = ''{}'' OR $4 = '
		    'ANY (s.genders))';
	END IF;
	IF v_tt IS NOT NULL THEN
		v_where := v_where || ' AND s.trafficking_types @> $5';
	END IF;
	IF v_jur IS NOT NULL THEN
		v_where := v_where || ' AND s.area_jurisdictions && $6';
	END IF;
	IF v_orgs IS NOT NULL THEN
		v_where := v_where || ' AND s.organization_id = ANY ($7::uuid[])';
	END IF;
	IF v_avail = 'true' THEN
		v_where := v_where || ' AND s.accepts_referrals AND '
		    '(s.capacity_total IS NULL OR s.capacity_available > 0)';
	END IF;
	IF v_open = 'true' THEN
		v_where := v_where || ' AND (s.open_24_7 OR '
		    'directory.open_at(s.hours, s.timezone, now()))';
	END IF;
	IF v_near IS NOT NULL THEN
		/* Its point is within radius_km, or its area covers near. */
		v_where := v_where || ' AND ((s.geo_lat IS NOT NULL AND '
		    'public.earth_box(store.ll_earth($8, $9), $10 * 1000) '
		    'OPERATOR(public.@>) store.ll_earth(s.geo_lat, '
		    's.geo_lon) AND directory.km($8, $9, s.geo_lat, s.geo_lon) '
		    '<= $10) OR (s.area_radius_km IS NOT NULL AND '
		    'store.area_box(s.area_lat, s.area_lon, '
		    's.area_radius_km) OPERATOR(public.@>) '
		    'store.ll_earth($8, $9) AND directory.km($8, $9, '
		    's.area_lat, s.area_lon) <= s.area_radius_km))';
		IF v_cur IS NOT NULL THEN
			v_where := v_where || ' AND (directory.km($8, $9, '
			    's.geo_lat, s.geo_lon), s.id) > ((($11)->>''d'')'
			    '::float8, (($11)->>''i'')::uuid)';
		END IF;
		v_sql := 'SELECT s.id, s.name, s.doc, s.confidential, '
		    's.organization_id AS oid, o.name AS oname, o.kind AS okind, '
		    'directory.km($8, $9, s.geo_lat, '
		    's.geo_lon) AS dist FROM services s JOIN organizations o '
		    'ON o.id = s.organization_id WHERE s.deleted_at IS NULL '
		    'AND s.status = ''active'' AND o.status = ''active''' ||
		    v_where || ' ORDER BY dist, s.id LIMIT $12';
	ELSE
		IF v_cur IS NOT NULL THEN
			v_where := v_where || ' AND (s.name, s.id) > '
			    '((($11)->>''n''), (($11)->>''i'')::uuid)';
		END IF;
		v_sql := 'SELECT s.id, s.name, s.doc, s.confidential, '
		    's.organization_id AS oid, o.name AS oname, o.kind AS okind, '
		    'NULL::float8 AS dist FROM services s '
		    'JOIN organizations o ON o.id = s.organization_id WHERE '
		    's.deleted_at IS NULL AND s.status = ''active'' AND '
		    'o.status = ''active''' || v_where ||
		    ' ORDER BY s.name, s.id LIMIT $12';
	END IF;
	/*
	 * One statement renders the page: the sorted candidates (limit + 1,
	 * to know whether a next page exists), their JSON in order, and the
	 * sort key of the page's last row for the cursor.
	 */
	v_sql := 'SELECT coalesce(jsonb_agg(jsonb_build_object('
	    '''organization'', jsonb_build_object(''id'', p.oid, ''name'', '
	    'p.oname, ''kind'', p.okind)) || p.doc || CASE WHEN p.confidential '
	    'AND NOT coalesce($13 OR p.oid = $14, false) THEN '
	    '''{"location": null}''::jsonb '
	    'ELSE ''{}'' END || CASE WHEN p.dist IS NULL THEN ''{}''::jsonb '
	    'ELSE jsonb_build_object(''distance_km'', round(p.dist::numeric, '
	    '3)) END ORDER BY p.rn) FILTER (WHERE p.rn < $12), ''[]''), '
	    'count(*)::integer, (array_agg(jsonb_build_object(''n'', p.name, '
	    '''d'', p.dist, ''i'', p.id)) FILTER (WHERE p.rn = $12 - 1))[1] '
	    'FROM (SELECT q.*, row_number() OVER (ORDER BY ' || CASE WHEN
	    v_near IS NULL THEN 'q.name, q.id' ELSE 'q.dist, q.id' END ||
	    ') AS rn FROM (' || v_sql || ') q) p';
	EXECUTE v_sql INTO v_items, v_n, v_key USING v_need, v_lang,
	    v_age::integer, v_gen, v_tts, v_jur, v_orgs, v_lat, v_lon, v_r,
	    v_cur, v_lim + 1, lib.has_role(p_ctx, 'admin') OR
	    lib.has_role(p_ctx, 'coordinator'), v_org;
	status := 200;
	body := jsonb_build_object('items', v_items, 'next_cursor', CASE WHEN
	    v_n > v_lim THEN lib.cursor_encode(CASE WHEN v_near IS NULL THEN
	    'name' ELSE 'dist' END, CASE WHEN v_near IS NULL THEN v_key - 'd'
	    ELSE v_key - 'n' END) END);
	headers := '{}';
END $$;
