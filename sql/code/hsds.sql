-- hsds.sql: the directory as Open Referral HSDS 3.0 (HSDA): GET
-- /v1/hsds/ (api.hsds_root), /v1/hsds/services[/{id}] and
-- /v1/hsds/organizations[/{id}]. Confidential sites are left out.

-- ------------------------------------------------------------------
-- Open Referral HSDS 3.0 export (HSDA).
-- ------------------------------------------------------------------

/* A stable UUID derived from a name (for HSDS sub-records). */
CREATE FUNCTION directory.hsds_id(p_name text) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$
	SELECT (substr(md5(p_name), 1, 12) || '4' || substr(md5(p_name), 14,
	    3) || '8' || substr(md5(p_name), 18, 15))::uuid
$$;

CREATE FUNCTION directory.hsds_organization(o organizations) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_strip_nulls(jsonb_build_object(
	    'id', o.id, 'name', o.name,
	    'description', coalesce(nullif(o.description, ''),
		o.name || ' (' || replace(o.kind, '_', ' ') || ')'),
	    'email', CASE WHEN o.contact->>'email' ~ '^[^@\s]+@[^@\s]+$' THEN
		o.contact->>'email' END,
	    'website', o.contact->>'website',
	    'phones', CASE WHEN o.contact ? 'phone' THEN jsonb_build_array(
		jsonb_build_object('id', directory.hsds_id(o.id || ':phone'),
		'organization_id', o.id, 'number', o.contact->>'phone')) END,
	    'attributes', jsonb_build_array(jsonb_build_object(
		'id', directory.hsds_id(o.id || ':kind'),
		'link_id', o.id, 'link_type', 'organization_kind',
		'link_entity', 'organization', 'value', o.kind,
		'taxonomy_term', jsonb_build_object(
		    'id', directory.hsds_id('concord-org-kind:' || o.kind),
		    'code', o.kind, 'name', replace(o.kind, '_', ' '),
		    'description', 'Concord organization kind',
		    'taxonomy', 'Concord organization kinds'))))) ||
	    jsonb_build_object('status', o.status,
	    'task_force_member', o.task_force_member)
$$;

CREATE FUNCTION directory.hsds_taxonomy() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT jsonb_build_object('id',
	    directory.hsds_id('concord-needs-taxonomy'), 'name',
	    'Concord needs', 'description', 'Needs of trafficking victims '
	    'and of the criminal justice process (Concord need taxonomy).',
	    'version', '1')
$$;

/*
 * A service as HSDS 3.0. Needs become attributes whose taxonomy_term
 * belongs to the "Concord needs" taxonomy. A confidential service has
 * no service_at_locations: its service areas alone place it.
 */
CREATE FUNCTION directory.hsds_service(s services, o organizations)
RETURNS jsonb LANGUAGE sql STABLE AS $$
	SELECT jsonb_strip_nulls(jsonb_build_object(
	    'id', s.id, 'organization_id', s.organization_id,
	    'name', s.name, 'description', s.description,
	    'email', CASE WHEN o.contact->>'email' ~ '^[^@\s]+@[^@\s]+$' THEN
		o.contact->>'email' END,
	    'status', s.status,
	    'eligibility_description', nullif(s.eligibility_notes, ''),
	    'minimum_age', s.age_min, 'maximum_age', s.age_max,
	    'wait_time', CASE WHEN s.response_time_hours IS NOT NULL THEN
		'Response within ' || s.response_time_hours || ' hours' END,
	    'last_modified', to_char(s.updated_at AT TIME ZONE 'UTC',
		'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
	    'languages', (SELECT coalesce(jsonb_agg(jsonb_build_object(
		'id', directory.hsds_id(s.id || ':lang:' || l),
		'service_id', s.id, 'code', l) ORDER BY l), '[]')
		FROM unnest(s.languages) l),
	    'service_areas', (SELECT coalesce(jsonb_agg(a ORDER BY
		a->>'name'), '[]') FROM (
		SELECT jsonb_build_object('id', directory.hsds_id(s.id ||
		    ':area:' || j), 'service_id', s.id, 'name', j,
		    'description', 'Jurisdiction ' || j, 'extent_type',
		    'text', 'extent', j) a
		FROM unnest(s.area_jurisdictions) j
		UNION ALL
		SELECT jsonb_build_object('id', directory.hsds_id(s.id ||
		    ':area:circle'), 'service_id', s.id, 'name',
		    'Within ' || s.area_radius_km || ' km',
		    'description', format('Within %s km of %s,%s',
		    s.area_radius_km, s.area_lat, s.area_lon),
		    'extent_type', 'geojson', 'extent', jsonb_build_object(
		    'type', 'Point', 'coordinates', jsonb_build_array(
		    s.area_lon, s.area_lat), 'radius_km',
		    s.area_radius_km)::text)
		WHERE s.area_lat IS NOT NULL) x),
	    'schedules', CASE WHEN s.open_24_7 THEN jsonb_build_array(
		jsonb_build_object('id', directory.hsds_id(s.id ||
		':sched:24/7'), 'service_id', s.id, 'freq', 'WEEKLY',
		'wkst', 'MO', 'byday', 'MO,TU,WE,TH,FR,SA,SU',
		'opens_at', '00:00', 'closes_at', '23:59',
		'description', 'Open 24 hours a day, 7 days a week',
		'notes', 'Time zone ' || s.timezone))
		ELSE (SELECT coalesce(jsonb_agg(jsonb_build_object(
		'id', directory.hsds_id(s.id || ':sched:' || n), 'service_id',
		s.id, 'freq', 'WEEKLY', 'wkst', 'MO',
		'byday', upper(substr(h->>'day', 1, 2)),
		'opens_at', h->>'opens', 'closes_at', h->>'closes',
		'notes', 'Time zone ' || s.timezone) ORDER BY n), '[]')
		FROM jsonb_array_elements(s.hours) WITH ORDINALITY x(h, n)) END,
	    'attributes', (SELECT coalesce(jsonb_agg(jsonb_build_object(
		'id', directory.hsds_id(s.id || ':need:' || t.code),
		'link_id', s.id, 'link_type', 'need',
		'link_entity', 'service',
		'taxonomy_term_id', directory.hsds_id('concord-need:' ||
		    t.code),
		'value', t.code,
		'taxonomy_term', jsonb_strip_nulls(jsonb_build_object(
		    'id', directory.hsds_id('concord-need:' || t.code),
		    'code', t.code, 'name', t.label,
		    'description', t.seed_label,
		    'parent_id', CASE WHEN t.parent IS NOT NULL THEN
			directory.hsds_id('concord-need:' || t.parent) END,
		    'taxonomy', 'Concord needs',
		    'taxonomy_id', directory.hsds_taxonomy()->>'id',
		    'taxonomy_detail', directory.hsds_taxonomy())))
		ORDER BY t.code), '[]')
		FROM need_taxonomy t WHERE t.code = ANY (s.needs)) ||
		/* machine-readable eligibility flags that hold */
		(SELECT coalesce(jsonb_agg(jsonb_build_object(
		'id', directory.hsds_id(s.id || ':elig:' || e.key),
		'link_id', s.id, 'link_type', 'eligibility',
		'link_entity', 'service', 'value', 'true',
		'taxonomy_term_id', directory.hsds_id('concord-elig:' || e.key),
		'taxonomy_term', jsonb_build_object(
		    'id', directory.hsds_id('concord-elig:' || e.key),
		    'code', e.key, 'name', replace(e.key, '_', ' '),
		    'description', 'Concord eligibility flag',
		    'taxonomy', 'Concord eligibility')) ORDER BY e.key), '[]')
		FROM jsonb_each(s.eligibility) e WHERE e.value = 'true'),
	    'service_at_locations', CASE WHEN NOT s.confidential AND
		s.site_lat IS NOT NULL THEN jsonb_build_array(
		jsonb_build_object('id', directory.hsds_id(s.id || ':sal'),
		'service_id', s.id,
		'location_id', directory.hsds_id(s.id || ':loc'),
		'location', jsonb_strip_nulls(jsonb_build_object(
		    'id', directory.hsds_id(s.id || ':loc'),
		    'location_type', 'physical',
		    'organization_id', s.organization_id,
		    'name', s.name, 'latitude', s.site_lat,
		    'longitude', s.site_lon,
		    'addresses', CASE WHEN s.address IS NOT NULL THEN
			jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
			'id', directory.hsds_id(s.id || ':addr'),
			'location_id', directory.hsds_id(s.id || ':loc'),
			'address_1', s.address->>'line1',
			'address_2', s.address->>'line2',
			'city', s.address->>'city',
			'state_province', coalesce(s.address->>'region', ''),
			'region', s.address->>'region',
			'postal_code', coalesce(s.address->>'postal_code', ''),
			'country', coalesce(s.address->>'country', 'US'),
			'address_type', 'physical'))) END))))
		END,
	    'organization', jsonb_build_object('id', o.id, 'name', o.name,
		'description', coalesce(nullif(o.description, ''),
		o.name || ' (' || replace(o.kind, '_', ' ') || ')'))))
$$;

/* page (>= 1, default 1), per_page (1..100, default 50), or 422. */
CREATE FUNCTION directory.hsds_paging(p_args jsonb, OUT page integer,
    OUT per_page integer) LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	v_p	text := lib.query_text(p_args, 'page');
	v_pp	text := lib.query_text(p_args, 'per_page');
	e	jsonb := '[]';
BEGIN
	IF v_p IS NOT NULL AND (v_p !~ '^[0-9]{1,7}$' OR v_p::integer < 1) THEN
		e := e || lib.err('page', 'must be an integer from 1');
	END IF;
	IF v_pp IS NOT NULL AND (v_pp !~ '^[0-9]{1,3}$' OR
	    v_pp::integer NOT BETWEEN 1 AND 100) THEN
		e := e || lib.err('per_page', 'must be an integer from 1 to '
		    '100');
	END IF;
	IF jsonb_array_length(e) > 0 THEN
		PERFORM lib.query_fail_if(e);
	END IF;
	page := coalesce(v_p::integer, 1);
	per_page := coalesce(v_pp::integer, 50);
END $$;

CREATE FUNCTION directory.hsds_page(p_total bigint, p_page integer,
    p_per integer, p_contents jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT jsonb_build_object('total_items', p_total,
	    'total_pages', ceil(p_total::numeric / p_per)::integer,
	    'page_number', p_page, 'size', jsonb_array_length(p_contents),
	    'first_page', p_page = 1,
	    'last_page', p_page >= ceil(p_total::numeric / p_per),
	    'empty', jsonb_array_length(p_contents) = 0,
	    'contents', p_contents)
$$;

/* GET /v1/hsds/ */
CREATE FUNCTION api.hsds_root(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
BEGIN
	status := 200;
	body := jsonb_build_object('version', '3.0', 'profile',
	    'https://openreferral.org', 'openapi_url', '/openapi.yaml');
	headers := '{}';
END $$;

/* GET /v1/hsds/services?page=&per_page=&organization_id= */
CREATE FUNCTION api.hsds_services(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	pg	record := directory.hsds_paging(p_args);
	v_oid	text := lib.query_text(p_args, 'organization_id');
	v_total	bigint;
	v_c	jsonb;
BEGIN
	IF v_oid IS NOT NULL AND v_oid !~*
	    '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
		PERFORM lib.query_fail_if(jsonb_build_array(lib.err('organization_id',
		    'must be an organization id')));
	END IF;
	SELECT count(*) INTO v_total FROM services s WHERE s.deleted_at IS NULL
	    AND (v_oid IS NULL OR s.organization_id = v_oid::uuid);
	SELECT coalesce(jsonb_agg(directory.hsds_service(x.s, x.o)
	    ORDER BY (x.s).name, (x.s).id), '[]') INTO v_c FROM (
		SELECT s, o FROM services s JOIN organizations o
		    ON o.id = s.organization_id
		WHERE s.deleted_at IS NULL AND (v_oid IS NULL OR
		    s.organization_id = v_oid::uuid)
		ORDER BY s.name, s.id
		LIMIT pg.per_page OFFSET (pg.page - 1)::bigint * pg.per_page) x;
	status := 200;
	body := directory.hsds_page(v_total, pg.page, pg.per_page, v_c);
	headers := '{}';
END $$;

/* GET /v1/hsds/services/{id} */
CREATE FUNCTION api.hsds_service(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
BEGIN
	SELECT directory.hsds_service(s, o) INTO body FROM services s
	    JOIN organizations o ON o.id = s.organization_id
	    WHERE s.id = (p_args->'path'->>'id')::uuid AND s.deleted_at IS NULL;
	IF body IS NULL THEN
		PERFORM lib.fail(404, 'not-found', 'No such service.');
	END IF;
	status := 200;
	headers := '{}';
END $$;

/* GET /v1/hsds/organizations?page=&per_page= */
CREATE FUNCTION api.hsds_organizations(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	pg	record := directory.hsds_paging(p_args);
	v_total	bigint;
	v_c	jsonb;
BEGIN
	SELECT count(*) INTO v_total FROM organizations;
	SELECT coalesce(jsonb_agg(directory.hsds_organization(x.o)
	    ORDER BY (x.o).name, (x.o).id), '[]') INTO v_c FROM (
		SELECT o FROM organizations o ORDER BY o.name, o.id
		LIMIT pg.per_page OFFSET (pg.page - 1)::bigint * pg.per_page) x;
	status := 200;
	body := directory.hsds_page(v_total, pg.page, pg.per_page, v_c);
	headers := '{}';
END $$;

/* GET /v1/hsds/organizations/{id}: with its services (HSDS, full). */
CREATE FUNCTION api.hsds_organization(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
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
	body := directory.hsds_organization(o) || jsonb_build_object(
	    'services', (SELECT coalesce(jsonb_agg(directory.hsds_service(s,
	    o) - 'organization' ORDER BY s.name, s.id), '[]') FROM services s
	    WHERE s.organization_id = o.id AND s.deleted_at IS NULL));
	headers := '{}';
END $$;
