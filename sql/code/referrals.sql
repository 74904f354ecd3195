-- referrals.sql: referrals. POST/GET /v1/referrals (api.referral_create,
-- referral_get, referral_list), offers answered by providers
-- (api.referral_offer_accept, referral_offer_decline), completion and
-- cancellation; intake validation, sealing of notes and contact method,
-- idempotency, re-offers, and what a referral does to its case
-- (referral.case_profile, on_accept, on_complete). Matching itself runs
-- in the worker (worker.sql).

-- ------------------------------------------------------------------
-- Helpers
/*
 * Offer response window by urgency (the deadline settings, deadlines.sql),
 * shortened by the service's committed response time.
 */
CREATE FUNCTION referral.offer_window(p_urgency text, p_hours integer)
RETURNS interval
LANGUAGE sql STABLE AS $$
	SELECT least(lib.deadline_offer_hours(p_urgency),
	    CASE WHEN p_hours IS NULL OR p_hours <= 0 THEN
	    lib.deadline_offer_hours(p_urgency)
	    ELSE make_interval(hours => p_hours) END)
$$;

/*
 * Does the caller coordinate referral r: an admin, or a coordinator of
 * the referral's task force or of one it is widened to
 * (directory.tf_is_coord; coordinators act per task force). A referral
 * without a task force (none could be settled) is every coordinator's.
 * Can't fail.
 */
CREATE FUNCTION referral.coordinates(p_ctx jsonb, r referrals)
RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
	IF lib.has_role(p_ctx, 'admin') THEN
		RETURN true;
	END IF;
	IF NOT lib.has_role(p_ctx, 'coordinator') THEN
		RETURN false;
	END IF;
	RETURN r.task_force_id IS NULL OR EXISTS (SELECT 1 FROM task_forces t
	    WHERE (t.id = r.task_force_id OR t.id = ANY (r.widened_to)) AND
	    directory.tf_is_coord(p_ctx, t, lib.ctx_org(p_ctx)));
END $$;

/*
 * What the caller is to this referral, the strongest relation first:
 * coordinator (referral.coordinates); sender (its organization sent it; a hotline or analyst
 * token only for what its own subject sent: call takers of one line do
 * not read each other's calls); case_lead (the lead organization of
 * the case the referral is about: it may cancel it, and keeps that
 * power when it was offered the referral too); offered; NULL for
 * anyone else. Hotline and analyst tokens are never case_lead or
 * offered.
 */
CREATE FUNCTION referral.relation(p_ctx jsonb, r referrals) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT CASE
	    WHEN referral.coordinates(p_ctx, r) THEN 'coordinator'
	    WHEN r.sender_org = lib.ctx_org(p_ctx) AND (NOT (lib.has_role(
		p_ctx, 'hotline') OR lib.has_role(p_ctx, 'analyst')) OR
		r.sender_sub = p_ctx->>'sub') THEN 'sender'
	    WHEN lib.has_role(p_ctx, 'hotline') OR
		lib.has_role(p_ctx, 'analyst') THEN NULL
	    WHEN r.case_id IS NOT NULL AND EXISTS (SELECT 1 FROM cases c
		WHERE c.id = r.case_id AND c.lead_org = lib.ctx_org(p_ctx))
		THEN 'case_lead'
	    WHEN EXISTS (SELECT 1 FROM referral_offers o WHERE o.referral_id =
		r.id AND o.organization_id = lib.ctx_org(p_ctx)) THEN 'offered'
	    ELSE NULL END
$$;

/*
 * A referral the caller may see, or 404. STABLE, so a read uses one
 * snapshot for the referral and everything referral.doc() adds to it.
 */
CREATE FUNCTION referral.get(p_ctx jsonb, p_id uuid) RETURNS referrals
LANGUAGE plpgsql STABLE AS $$
DECLARE
	r referrals;
BEGIN
	SELECT * INTO r FROM referrals WHERE id = p_id;
	IF r.id IS NULL OR referral.relation(p_ctx, r) IS NULL THEN
		PERFORM lib.fail(404, 'not-found', 'No such referral.');
	END IF;
	RETURN r;
END $$;

/* The same, locked for an update in the caller's transaction. */
CREATE FUNCTION referral.lock(p_ctx jsonb, p_id uuid) RETURNS referrals
LANGUAGE plpgsql AS $$
DECLARE
	r referrals;
BEGIN
	SELECT * INTO r FROM referrals WHERE id = p_id FOR UPDATE;
	IF r.id IS NULL OR referral.relation(p_ctx, r) IS NULL THEN
		PERFORM lib.fail(404, 'not-found', 'No such referral.');
	END IF;
	RETURN r;
END $$;

/*
 * A need as an HL7 FHIR Task status (the Gravity SDOH closed-loop
 * referral Task): pending requested, offered received, accepted
 * accepted, completed by outcome (completed and partially_completed
 * completed; client_declined, no_longer_needed and referred_elsewhere
 * cancelled; the rest failed), unmatched on-hold, cancelled cancelled.
 */
CREATE FUNCTION referral.task_status(p_status text, p_outcome text)
RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE p_status WHEN 'pending' THEN 'requested'
	    WHEN 'offered' THEN 'received' WHEN 'accepted' THEN 'accepted'
	    WHEN 'unmatched' THEN 'on-hold' WHEN 'cancelled' THEN 'cancelled'
	    WHEN 'completed' THEN CASE WHEN p_outcome IN ('completed',
		'partially_completed') THEN 'completed' WHEN p_outcome IN
		('client_declined', 'no_longer_needed', 'referred_elsewhere')
		THEN 'cancelled' ELSE 'failed' END END
$$;

/*
 * The referral as the caller may see it. Sender and coordinators see
 * the profile they sent; an offered organization sees the categories
 * the client's consent covers where a current agreement lets them flow
 * to it (referral.agreed; and always the needs of its own offers),
 * never another organization's decline reasons or the sender's
 * reference; candidates and scores are for sender and coordinators. The
 * case's lead sees the categories it sees on the case, and every offer.
 */
CREATE FUNCTION referral.doc(p_ctx jsonb, r referrals) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_rel		text := referral.relation(p_ctx, r);
	v_org		uuid := lib.ctx_org(p_ctx);
	v_full		boolean := v_rel IN ('coordinator', 'sender');
	v_consent	boolean := r.consent_expires_at > now();
	/*
	 * An offered organization sees the client only while its offer is
	 * open and inside its window, or accepted: after declining, its
	 * window passing (whether or not the worker has expired it yet) or
	 * being withdrawn it keeps its own offer's status and nothing about
	 * the person.
	 */
	v_cats		text[] := CASE WHEN v_full THEN
			    '{identity,contact,location,case_details,needs}'
			    WHEN v_rel = 'case_lead' THEN
			    casework.case_categories(p_ctx, r.case_id, v_org,
			    v_org)
			    WHEN v_consent AND EXISTS (SELECT 1 FROM
			    referral_offers o WHERE o.referral_id = r.id AND
			    o.organization_id = lib.ctx_org(p_ctx) AND
			    (o.status = 'accepted' OR (o.status = 'offered' AND
			    o.expires_at > now())))
			    THEN referral.agreed(r, v_org, r.consent_categories)
			    ELSE '{}' END;
	v_redacted	text[] := '{}';
	v_client	jsonb := '{}';
	v_needs		jsonb;
	v_offers	jsonb;
	v_mine		uuid[];
BEGIN
	SELECT coalesce(array_agg(n), '{}') INTO v_mine FROM referral_offers o,
	    unnest(o.need_ids) n WHERE o.referral_id = r.id AND
	    o.organization_id = v_org;
	IF 'case_details' = ANY (v_cats) THEN
		v_client := v_client || jsonb_build_object('age', r.age,
		    'minor', r.minor, 'gender', r.gender, 'languages',
		    to_jsonb(r.languages), 'trafficking_type',
		    r.trafficking_type, 'notes', lib.unseal(r.notes_enc));
	ELSE
		v_redacted := v_redacted || '{case_details}'::text[];
	END IF;
	IF 'location' = ANY (v_cats) THEN
		v_client := v_client || jsonb_build_object('location',
		    jsonb_strip_nulls(jsonb_build_object('lat', r.lat, 'lon',
		    r.lon, 'jurisdiction', r.jurisdiction)));
	ELSE
		v_redacted := v_redacted || '{location}'::text[];
	END IF;
	IF 'contact' = ANY (v_cats) THEN
		v_client := v_client || jsonb_build_object(
		    'safe_contact_method', lib.unseal(r.contact_enc));
	ELSE
		v_redacted := v_redacted || '{contact}'::text[];
	END IF;
	IF NOT 'needs' = ANY (v_cats) THEN
		v_redacted := v_redacted || '{needs}'::text[];
	END IF;

	SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
	    'id', n.id, 'code', n.need_code, 'status', n.status,
	    'waitlist', n.waitlist,
	    'unmatched_reason', n.unmatched_reason, 'outcome', n.outcome,
	    'outcome_note', n.outcome_note,
	    'task_status', referral.task_status(n.status, n.outcome),
	    'candidates', CASE WHEN v_full THEN (SELECT coalesce(jsonb_agg(
		jsonb_strip_nulls(jsonb_build_object('rank', c.rank,
		'service_id', c.service_id,
		'organization', jsonb_build_object('id', o.id, 'name', o.name),
		'score', round(c.score::numeric, 4), 'components',
		c.components, 'distance_km', round(c.distance_km::numeric, 3),
		'language_access', c.language_access,
		'offered', EXISTS (SELECT 1 FROM referral_offers f WHERE
		f.referral_id = r.id AND f.service_id = c.service_id)))
		ORDER BY c.rank), '[]') FROM referral_candidates c JOIN
		organizations o ON o.id = c.organization_id
		WHERE c.referral_need_id = n.id) END))
	    ORDER BY n.position), '[]') INTO v_needs
	FROM referral_needs n WHERE n.referral_id = r.id AND
	    ('needs' = ANY (v_cats) OR n.id = ANY (v_mine));

	SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
	    'id', f.id, 'service', jsonb_build_object('id', s.id, 'name',
	    s.name), 'organization', jsonb_build_object('id', o.id, 'name',
	    o.name), 'needs', (SELECT jsonb_agg(n.need_code ORDER BY
	    n.position) FROM referral_needs n WHERE n.id = ANY (f.need_ids)),
	    'status', f.status, 'expires_at', f.expires_at,
	    'responded_at', f.responded_at, 'via', f.via,
	    'decline_code', CASE WHEN v_rel = 'coordinator' OR
		f.organization_id = v_org THEN f.decline_code END,
	    'decline_reason', CASE WHEN v_rel = 'coordinator' OR
		f.organization_id = v_org THEN f.decline_reason END,
	    'score', CASE WHEN v_full THEN round(f.score::numeric, 4) END))
	    ORDER BY f.created_at, f.id), '[]') INTO v_offers
	FROM referral_offers f JOIN services s ON s.id = f.service_id
	JOIN organizations o ON o.id = f.organization_id
	WHERE f.referral_id = r.id AND (v_rel <> 'offered' OR
	    f.organization_id = v_org);

	RETURN jsonb_strip_nulls(jsonb_build_object(
	    'id', r.id, 'status', r.status, 'urgency', r.urgency,
	    'reference', CASE WHEN v_full THEN r.reference END,
	    'sender', (SELECT jsonb_build_object('id', o.id, 'name', o.name,
		'kind', o.kind) FROM organizations o WHERE o.id = r.sender_org),
	    'case_id', CASE WHEN v_full OR EXISTS (SELECT 1 FROM
		referral_offers f WHERE f.referral_id = r.id AND
		f.organization_id = v_org AND f.status = 'accepted')
		THEN r.case_id END,
	    'client', v_client, 'needs', v_needs, 'offers', v_offers,
	    'consent', CASE WHEN v_full THEN jsonb_build_object(
		'categories', to_jsonb(r.consent_categories), 'expires_at',
		r.consent_expires_at, 'form_ref', r.consent_form_reference,
		'form_reference', r.consent_form_reference, 'purpose',
		r.consent_purpose, 'informed', true, 'written',
		r.consent_written) END,
	    'directed', CASE WHEN v_full AND cardinality(
		r.directed_service_ids) > 0 THEN jsonb_build_object(
		'service_ids', to_jsonb(r.directed_service_ids),
		'fallback_to_matching', r.directed_fallback) END,
	    'cancel_reason', r.cancel_reason,
	    'created_at', r.created_at, 'updated_at', r.updated_at)) ||
	    jsonb_build_object('redacted', to_jsonb(v_redacted)) ||
	    referral.task_force_doc(r);
END $$;

/*
 * referral.doc with its audit record: one record of p_action on the
 * referral, listing the client categories the document shows (those of
 * case_details, contact, location and needs it does not redact). Every
 * route answering a referral document goes through here, since the
 * client's profile and safe contact method are personal data.
 */
CREATE FUNCTION referral.doc_audited(p_ctx jsonb, r referrals,
    p_action text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	d	jsonb := referral.doc(p_ctx, r);
BEGIN
	PERFORM lib.audit(p_ctx, p_action, 'referral', r.id, ARRAY(SELECT x
	    FROM unnest(ARRAY['case_details', 'contact', 'location', 'needs'])
	    x WHERE NOT d->'redacted' ? x ORDER BY x));
	RETURN d;
END $$;

/*
 * The fields of a POST /v1/referrals body that carry personal data:
 * everything but needs, urgency, a jurisdiction, languages and the age
 * group (minor). A case id stands for a person's record.
 */
CREATE FUNCTION referral.personal_fields(p jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT ARRAY(SELECT f FROM (VALUES ('case_id', p ? 'case_id'),
	    ('notes', p ? 'notes'),
	    ('client.age', p->'client' ? 'age'),
	    ('client.gender', p->'client' ? 'gender'),
	    ('client.trafficking_type', p->'client' ? 'trafficking_type'),
	    ('client.safe_contact_method', p->'client' ?
		'safe_contact_method'),
	    ('client.location.lat', p->'client'->'location' ? 'lat'))
	    x(f, present) WHERE present)
$$;

/* Validate a POST /v1/referrals body; returns the list of errors. */
CREATE FUNCTION referral.check(p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	e	jsonb := '[]';
	k	text;
	c	jsonb := p->'client';
	cs	jsonb := p->'consent';
	n	jsonb;
	v_code	text;
	v_codes	text[] := '{}';
	v_pd	text[];
	i	integer := 0;
BEGIN
	FOR k IN SELECT jsonb_object_keys(p) LOOP
		IF k <> ALL ('{case_id,client,needs,urgency,consent,notes,'
		    'reference,task_force_id,widen_to_task_force_ids,'
		    'directed_service_ids,fallback_to_matching}'::text[]) THEN
			e := e || lib.err(k, 'is not a field of a referral');
		END IF;
	END LOOP;
	IF (p ? 'case_id') = (p ? 'client') THEN
		e := e || lib.err('client', 'send exactly one of case_id or '
		    'client');
	END IF;
	IF p ? 'case_id' AND (jsonb_typeof(p->'case_id') <> 'string' OR
	    p->>'case_id' !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-'
	    '[0-9a-f]{4}-[0-9a-f]{12}$') THEN
		e := e || lib.err('case_id', 'must be a case id');
	END IF;
	IF p ? 'client' THEN
		IF jsonb_typeof(c) <> 'object' THEN
			e := e || lib.err('client', 'must be an object');
			c := '{}';
		END IF;
		FOR k IN SELECT jsonb_object_keys(c) LOOP
			IF k <> ALL ('{age,minor,gender,languages,'
			    'trafficking_type,location,'
			    'safe_contact_method}'::text[]) THEN
				e := e || lib.err('client.' || k,
				    'is not a field of a client profile');
			END IF;
		END LOOP;
		IF c ? 'age' AND (jsonb_typeof(c->'age') <> 'number' OR
		    (c->>'age')::numeric <> trunc((c->>'age')::numeric) OR
		    (c->>'age')::numeric NOT BETWEEN 0 AND 120) THEN
			e := e || lib.err('client.age', 'must be an integer '
			    '0..120');
		END IF;
		IF c ? 'minor' AND jsonb_typeof(c->'minor') <> 'boolean' THEN
			e := e || lib.err('client.minor', 'must be a boolean');
		END IF;
		IF c ? 'age' AND c ? 'minor' AND
		    jsonb_typeof(c->'age') = 'number' AND
		    jsonb_typeof(c->'minor') = 'boolean' AND
		    ((c->>'age')::numeric < 18) <> (c->>'minor')::boolean THEN
			e := e || lib.err('client.minor', 'contradicts age');
		END IF;
		IF c ? 'gender' AND (jsonb_typeof(c->'gender') <> 'string' OR
		    c->>'gender' <> ALL ('{female,male,transgender,'
		    'non_binary,unknown}'::text[])) THEN
			e := e || lib.err('client.gender', 'must be female, '
			    'male, transgender, non_binary or unknown');
		END IF;
		IF c ? 'languages' AND (jsonb_typeof(c->'languages') <> 'array'
		    OR EXISTS (SELECT 1 FROM jsonb_array_elements(
		    c->'languages') l WHERE jsonb_typeof(l) <> 'string' OR
		    l #>> '{}' !~ '^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$')
		    OR jsonb_array_length(c->'languages') > 10) THEN
			e := e || lib.err('client.languages', 'must be up to 10 '
			    'BCP 47 language tags');
		END IF;
		IF c ? 'trafficking_type' AND (jsonb_typeof(
		    c->'trafficking_type') <> 'string' OR c->>'trafficking_type'
		    <> ALL ('{sex,labor,both,unknown}'::text[])) THEN
			e := e || lib.err('client.trafficking_type', 'must be '
			    'sex, labor, both or unknown');
		END IF;
		IF NOT c ? 'location' OR jsonb_typeof(c->'location') <>
		    'object' THEN
			e := e || lib.err('client.location', 'is required: '
			    '{lat, lon} and/or {jurisdiction}');
		ELSE
			FOR k IN SELECT jsonb_object_keys(c->'location') LOOP
				IF k <> ALL ('{lat,lon,jurisdiction}'::text[])
				    THEN
					e := e || lib.err('client.location.' ||
					    k, 'is not a location field');
				END IF;
			END LOOP;
			IF (c->'location' ? 'lat') <> (c->'location' ? 'lon')
			    THEN
				e := e || lib.err('client.location', 'lat and '
				    'lon go together');
			END IF;
			IF c->'location' ? 'lat' AND (jsonb_typeof(
			    c->'location'->'lat') <> 'number' OR
			    (c->'location'->>'lat')::float8 NOT BETWEEN -90
			    AND 90) THEN
				e := e || lib.err('client.location.lat',
				    'must be -90..90');
			END IF;
			IF c->'location' ? 'lon' AND (jsonb_typeof(
			    c->'location'->'lon') <> 'number' OR
			    (c->'location'->>'lon')::float8 NOT BETWEEN -180
			    AND 180) THEN
				e := e || lib.err('client.location.lon',
				    'must be -180..180');
			END IF;
			IF c->'location' ? 'jurisdiction' AND (jsonb_typeof(
			    c->'location'->'jurisdiction') <> 'string' OR
			    c->'location'->>'jurisdiction' !~
			    '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,31}$') THEN
				e := e || lib.err('client.location.'
				    'jurisdiction', 'must be a jurisdiction '
				    'code such as a county FIPS code');
			END IF;
			IF NOT c->'location' ? 'lat' AND NOT c->'location' ?
			    'jurisdiction' THEN
				e := e || lib.err('client.location', 'needs '
				    'lat/lon or a jurisdiction');
			END IF;
		END IF;
		IF c ? 'safe_contact_method' AND (jsonb_typeof(
		    c->'safe_contact_method') <> 'string' OR
		    length(c->>'safe_contact_method') > 500) THEN
			e := e || lib.err('client.safe_contact_method', 'must '
			    'be text of at most 500 characters');
		END IF;
	END IF;
	IF jsonb_typeof(p->'needs') IS DISTINCT FROM 'array' OR
	    jsonb_array_length(p->'needs') NOT BETWEEN 1 AND 16 THEN
		e := e || lib.err('needs', 'must be an array of 1 to 16 needs');
	ELSE
		FOR n IN SELECT * FROM jsonb_array_elements(p->'needs') LOOP
			v_code := CASE jsonb_typeof(n) WHEN 'string' THEN
			    n #>> '{}' WHEN 'object' THEN n->>'code' END;
			IF jsonb_typeof(n) = 'object' AND (EXISTS (SELECT 1
			    FROM jsonb_object_keys(n) x WHERE x NOT IN ('code',
			    'waitlist')) OR (n ? 'waitlist' AND
			    jsonb_typeof(n->'waitlist') <> 'boolean')) THEN
				e := e || lib.err('needs[' || i || ']', 'is '
				    'a code or {code, waitlist}');
			END IF;
			IF v_code IS NULL OR NOT EXISTS (SELECT 1 FROM
			    need_taxonomy t WHERE t.code = v_code AND
			    t.grp = 'victim') THEN
				e := e || lib.err('needs[' || i || ']',
				    'is not a victim need code');
			ELSIF v_code = ANY (v_codes) THEN
				e := e || lib.err('needs[' || i || ']',
				    'is listed twice');
			END IF;
			v_codes := v_codes || v_code;
			i := i + 1;
		END LOOP;
	END IF;
	IF jsonb_typeof(p->'urgency') IS DISTINCT FROM 'string' OR
	    p->>'urgency' <> ALL ('{emergency,urgent,routine}'::text[]) THEN
		e := e || lib.err('urgency', 'must be emergency, urgent or '
		    'routine');
	END IF;
	IF jsonb_typeof(cs) IS DISTINCT FROM 'object' THEN
		e := e || lib.err('consent', 'is required: the client''s '
		    'informed, written consent to be referred');
	ELSE
		FOR k IN SELECT jsonb_object_keys(cs) LOOP
			IF k <> ALL ('{categories,expires_at,form_ref,'
			    'form_reference,purpose,informed,written}'::text[])
			    THEN
				e := e || lib.err('consent.' || k, 'is not a '
				    'consent field');
			END IF;
		END LOOP;
		IF jsonb_typeof(cs->'categories') IS DISTINCT FROM 'array' OR
		    jsonb_array_length(cs->'categories') = 0 OR EXISTS (
		    SELECT 1 FROM jsonb_array_elements(cs->'categories') x
		    WHERE x #>> '{}' <> ALL ('{identity,contact,location,'
		    'case_details,needs}'::text[]) OR jsonb_typeof(x) <>
		    'string') THEN
			e := e || lib.err('consent.categories', 'must list '
			    'identity, contact, location, case_details, needs');
		END IF;
		IF jsonb_typeof(cs->'expires_at') IS DISTINCT FROM 'string' OR
		    cs->>'expires_at' !~ '^\d{4}-\d\d-\d\dT\d\d:\d\d' THEN
			e := e || lib.err('consent.expires_at', 'is required: '
			    'an RFC 3339 time (consent is time-limited)');
		ELSIF (cs->>'expires_at')::timestamptz <= now() THEN
			e := e || lib.err('consent.expires_at', 'must be in '
			    'the future');
		END IF;
		/*
		 * form_ref, as a case's consents name it; form_reference is
		 * its deprecated name, still accepted (not both). Required
		 * with written consent; verbal consent (written false) has
		 * none, or one the sender keeps.
		 */
		IF cs ? 'form_ref' AND cs ? 'form_reference' THEN
			e := e || lib.err('consent.form_reference', 'give '
			    'form_ref only (form_reference is its old name)');
		ELSIF (cs->'written' IS DISTINCT FROM 'false'::jsonb OR
		    cs ? 'form_ref' OR cs ? 'form_reference') AND
		    (jsonb_typeof(coalesce(cs->'form_ref',
		    cs->'form_reference')) IS DISTINCT FROM 'string' OR
		    length(coalesce(cs->>'form_ref', cs->>'form_reference'))
		    NOT BETWEEN 1 AND 200) THEN
			e := e || lib.err(CASE WHEN cs ? 'form_reference' THEN
			    'consent.form_reference' ELSE 'consent.form_ref'
			    END, 'is required: the signed form''s reference');
		END IF;
		IF cs->'informed' IS DISTINCT FROM 'true'::jsonb THEN
			e := e || lib.err('consent.informed', 'must be true');
		END IF;
		IF cs->'written' = 'false'::jsonb THEN
			/*
			 * Verbal consent, recorded by the sender, fits a
			 * referral without personal data: needs, urgency,
			 * area (a jurisdiction), languages and age group.
			 */
			v_pd := referral.personal_fields(p);
			IF cardinality(v_pd) > 0 THEN
				e := e || lib.err('consent.written', 'must be '
				    'true: the referral carries personal data ('
				    || array_to_string(v_pd, ', ') || '); '
				    'verbal consent covers only needs, urgency, '
				    'area, languages and age group');
			END IF;
			IF jsonb_typeof(cs->'categories') = 'array' AND
			    cs->'categories' ?| ARRAY['identity', 'contact']
			    THEN
				e := e || lib.err('consent.categories', 'verbal '
				    'consent shares no identity or contact');
			END IF;
		ELSIF cs->'written' IS DISTINCT FROM 'true'::jsonb THEN
			e := e || lib.err('consent.written', 'must be a '
			    'boolean (true: signed form; false: verbal, only '
			    'without personal data)');
		END IF;
		IF cs ? 'purpose' AND (jsonb_typeof(cs->'purpose') <> 'string'
		    OR length(cs->>'purpose') > 500) THEN
			e := e || lib.err('consent.purpose', 'must be text');
		END IF;
	END IF;
	IF p ? 'notes' AND (jsonb_typeof(p->'notes') <> 'string' OR
	    length(p->>'notes') > 5000) THEN
		e := e || lib.err('notes', 'must be text of at most 5000 '
		    'characters');
	END IF;
	IF p ? 'reference' AND (jsonb_typeof(p->'reference') <> 'string' OR
	    length(p->>'reference') NOT BETWEEN 1 AND 200) THEN
		e := e || lib.err('reference', 'must be text of 1 to 200 '
		    'characters');
	END IF;
	IF p ? 'directed_service_ids' AND (jsonb_typeof(
	    p->'directed_service_ids') <> 'array' OR jsonb_array_length(
	    p->'directed_service_ids') NOT BETWEEN 1 AND 10 OR EXISTS (
	    SELECT 1 FROM jsonb_array_elements(p->'directed_service_ids') x
	    WHERE jsonb_typeof(x) <> 'string' OR x #>> '{}' !~*
	    '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
	    OR (SELECT count(DISTINCT lower(x)) FROM
	    jsonb_array_elements_text(p->'directed_service_ids') x) <>
	    jsonb_array_length(p->'directed_service_ids')) THEN
		e := e || lib.err('directed_service_ids', 'must list 1 to 10 '
		    'distinct service ids, in the order to offer them');
	END IF;
	IF p ? 'fallback_to_matching' AND jsonb_typeof(
	    p->'fallback_to_matching') <> 'boolean' THEN
		e := e || lib.err('fallback_to_matching', 'must be a boolean');
	ELSIF p ? 'fallback_to_matching' AND NOT p ? 'directed_service_ids'
	    THEN
		e := e || lib.err('fallback_to_matching', 'goes with '
		    'directed_service_ids');
	END IF;
	RETURN e;
END $$;

CREATE FUNCTION referral.case_profile(p_ctx jsonb, p_case uuid)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	v_org	uuid := lib.ctx_org(p_ctx);
	c	cases;
BEGIN
	SELECT * INTO c FROM cases WHERE id = p_case;
	IF c.id IS NULL OR NOT coalesce(p_ctx->'roles' ?| ARRAY['admin',
	    'coordinator', 'case_manager', 'provider', 'investigator',
	    'prosecutor'], false) OR
	    NOT casework.case_visible(p_ctx, p_case, v_org) OR
	    NOT ('case_details' = ANY (casework.case_categories(p_ctx, c.id,
	    c.lead_org, v_org))) THEN
		PERFORM lib.fail(422, 'validation-error', 'No visible case has '
		    'this id.', jsonb_build_array(lib.err('case_id',
		    'is not a case you can see')));
	END IF;
	PERFORM lib.audit(p_ctx, 'read', 'case', c.id, ARRAY['case_details']);
	RETURN jsonb_strip_nulls(jsonb_build_object('age', c.age,
	    'minor', CASE c.age_group WHEN 'minor' THEN true
	    WHEN 'adult' THEN false END, 'gender', c.gender,
	    'languages', to_jsonb(c.languages), 'trafficking_type',
	    c.trafficking_type, 'jurisdiction', c.jurisdiction));
END $$;

/*
 * An offer was accepted. A referral with an inline profile becomes a case
 * when a victim-services organization accepts it (that organization
 * leads it; other kinds help without a case of their own until one
 * exists); the client's consent to be referred is recorded on the case
 * for the accepting organization, as far as the sender holds it
 * (referral.grantable) and a current agreement lets it flow to that
 * organization (referral.agreed; nothing when none is left); the case's
 * needs move to in_progress.
 */
CREATE FUNCTION referral.on_accept(p_ctx jsonb, p_referral uuid,
    p_offer uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	x	record;
	r	referrals;
	f	referral_offers;
	c	cases;
	k	consents;
	g	record;
	v_kind	text;
BEGIN
	SELECT * INTO r FROM referrals WHERE id = p_referral FOR UPDATE;
	SELECT * INTO f FROM referral_offers WHERE id = p_offer;
	SELECT kind INTO v_kind FROM organizations WHERE id = f.organization_id;
	IF r.case_id IS NULL AND v_kind = 'victim_services' THEN
		INSERT INTO cases (case_number, lead_org, identified_on,
		    identified_by_org, identified_how, age, age_group, gender,
		    languages, trafficking_type, jurisdiction, created_by)
		VALUES ('CT-' || to_char(now(), 'YYYY') || '-' ||
		    lpad(nextval('case_number_seq')::text, 6, '0'),
		    f.organization_id, r.created_at::date, r.sender_org,
		    CASE WHEN r.sender_hotline THEN 'hotline'
		    WHEN (SELECT kind FROM organizations WHERE id =
		    r.sender_org) = 'law_enforcement' THEN
		    'law_enforcement_encounter' ELSE 'other' END,
		    r.age, CASE WHEN r.minor THEN 'minor' WHEN NOT r.minor THEN
		    'adult' ELSE 'unknown' END,
		    CASE WHEN r.gender <> 'unknown' THEN r.gender END,
		    r.languages, r.trafficking_type,
		    coalesce(r.jurisdiction, 'unknown'), p_ctx->>'sub')
		RETURNING * INTO c;
		INSERT INTO case_personal (case_id) VALUES (c.id);
		UPDATE referrals SET case_id = c.id WHERE id = r.id
		    RETURNING * INTO r;
		PERFORM lib.audit(p_ctx, 'create', 'case', c.id,
		    ARRAY['case_details']);
	END IF;
	IF r.case_id IS NOT NULL AND f.organization_id IS DISTINCT FROM
	    (SELECT lead_org FROM cases WHERE id = r.case_id) THEN
		g := referral.grantable(r);
		g.categories := referral.agreed(r, f.organization_id,
		    g.categories);
		IF cardinality(g.categories) > 0 AND g.until > now() THEN
			k := casework.consent_record(p_ctx, r.case_id,
			    jsonb_build_object('categories', to_jsonb(
			    g.categories), 'purpose', coalesce(r.consent_purpose,
			    'referral'), 'written', r.consent_written,
			    'form_ref', r.consent_form_reference, 'granted_at', least(
			    r.created_at, now()), 'expires_at', g.until),
			    f.organization_id, NULL, r.sender_sub, r.sender_org,
			    r.id);
		END IF;
	END IF;
	FOR x IN SELECT n.need_code FROM referral_needs n
	    WHERE n.id = ANY (f.need_ids) ORDER BY n.position LOOP
		PERFORM casework.case_need_mirror(p_ctx, r.case_id, x.need_code,
		    'in_progress');
	END LOOP;
END $$;

/*
 * A completion outcome's code, or NULL when it is none: the closed-loop
 * outcomes (referral.task_status maps them to FHIR Task statuses); the
 * outcomes from before codes map to theirs (need_met: completed,
 * need_not_met: not_completed).
 */
CREATE FUNCTION referral.outcome_code(p text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN p IN ('completed', 'partially_completed',
	    'not_completed', 'client_declined', 'unable_to_contact',
	    'no_longer_needed', 'referred_elsewhere', 'other') THEN p
	    WHEN p = 'need_met' THEN 'completed'
	    WHEN p = 'need_not_met' THEN 'not_completed' END
$$;

/*
 * A need's outcome on its case: completed met, client_declined
 * declined_by_client, referred_elsewhere back to referred, anything
 * else unmet.
 */
CREATE FUNCTION referral.on_complete(p_ctx jsonb, p_referral uuid,
    p_need text, p_outcome text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM casework.case_need_mirror(p_ctx, (SELECT case_id FROM referrals
	    WHERE id = p_referral), p_need, CASE p_outcome
	    WHEN 'completed' THEN 'met'
	    WHEN 'client_declined' THEN 'declined_by_client'
	    WHEN 'referred_elsewhere' THEN 'referred'
	    ELSE 'unmet' END);
END $$;

-- ------------------------------------------------------------------
-- API

/*
 * POST /v1/referrals. Idempotency-Key is required: the first request
 * with a key stores a hash of the body and the id of the referral it
 * created (never the response: it holds personal data); a retry with
 * the same key and body gets the same status and headers and that
 * referral's document (Idempotent-Replayed: true), the same key with
 * another body 422. A concurrent duplicate waits on the key's row and
 * then replays, so a retry storm creates one referral.
 */
CREATE FUNCTION api.referral_create(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	v_key	text := p_args->>'idempotency_key';
	v_hash	text := md5(p_body::text);
	v_prev	idempotency_keys;
	v_errs	jsonb;
	v_id	uuid;
	v_job	bigint;
	v_c	jsonb := p_body->'client';
	v_cs	jsonb := p_body->'consent';
	r	referrals;
	n	jsonb;
	i	integer := 0;
	v_tf	record;
BEGIN
	IF v_key IS NULL OR length(v_key) NOT BETWEEN 1 AND 200 OR
	    v_key !~ '^[\x21-\x7e]+$' THEN
		PERFORM lib.fail(422, 'idempotency-key-required', 'Send an '
		    'Idempotency-Key header (1-200 visible ASCII characters) '
		    'so retries cannot create duplicates.',
		    jsonb_build_array(lib.err('Idempotency-Key',
		    'is required')));
	END IF;
	INSERT INTO idempotency_keys (org_id, key, request_hash, status, body)
	    VALUES (v_org, v_key, v_hash, 0, '{}')
	    ON CONFLICT DO NOTHING;
	IF NOT FOUND THEN
		SELECT * INTO v_prev FROM idempotency_keys WHERE org_id = v_org
		    AND key = v_key;
		IF v_prev.request_hash <> v_hash THEN
			PERFORM lib.fail(422, 'idempotency-key-reused', 'This '
			    'Idempotency-Key was used with a different body.',
			    jsonb_build_array(lib.err('Idempotency-Key',
			    'was used with a different body')));
		END IF;
		SELECT * INTO r FROM referrals WHERE id =
		    (v_prev.body->>'id')::uuid;
		status := v_prev.status;
		body := referral.doc_audited(p_ctx, r, 'read');
		headers := coalesce(v_prev.headers, '{}') ||
		    '{"idempotent-replayed": "true"}';
		RETURN;
	END IF;

	v_tf := referral.task_force_settle(p_ctx, v_org, p_body);
	v_errs := referral.check(p_body) || v_tf.errors;
	IF jsonb_array_length(v_errs) > 0 THEN
		PERFORM lib.fail(422, 'validation-error', 'The referral is not '
		    'valid.', v_errs);
	END IF;
	IF p_body ? 'case_id' THEN
		/* The client is a case: its reporting profile stands in. */
		v_c := referral.case_profile(p_ctx, (p_body->>'case_id')::uuid);
		v_c := v_c || jsonb_build_object('location', jsonb_build_object(
		    'jurisdiction', v_c->>'jurisdiction'));
	END IF;

	INSERT INTO referrals (sender_org, sender_sub, sender_hotline,
	    reference, age, minor,
	    gender, languages, trafficking_type, lat, lon, jurisdiction,
	    contact_enc, notes_enc, urgency, consent_categories,
	    consent_expires_at, consent_form_reference, consent_purpose,
	    consent_written, directed_service_ids, directed_fallback)
	VALUES (v_org, p_ctx->>'sub', lib.has_role(p_ctx, 'hotline'),
	    p_body->>'reference',
	    (v_c->>'age')::integer,
	    coalesce((v_c->>'minor')::boolean, (v_c->>'age')::integer < 18),
	    v_c->>'gender',
	    coalesce(ARRAY(SELECT jsonb_array_elements_text(v_c->'languages')),
	    '{}'), coalesce(v_c->>'trafficking_type', 'unknown'),
	    (v_c->'location'->>'lat')::float8,
	    (v_c->'location'->>'lon')::float8,
	    v_c->'location'->>'jurisdiction',
	    lib.seal(v_c->>'safe_contact_method'),
	    lib.seal(p_body->>'notes'), p_body->>'urgency',
	    ARRAY(SELECT DISTINCT jsonb_array_elements_text(
	    v_cs->'categories')), (v_cs->>'expires_at')::timestamptz,
	    coalesce(v_cs->>'form_ref', v_cs->>'form_reference'),
	    v_cs->>'purpose', (v_cs->>'written')::boolean,
	    ARRAY(SELECT lower(jsonb_array_elements_text(coalesce(
	    p_body->'directed_service_ids', '[]')))::uuid),
	    coalesce((p_body->>'fallback_to_matching')::boolean, true))
	RETURNING * INTO r;
	IF p_body ? 'case_id' THEN
		UPDATE referrals SET case_id = (p_body->>'case_id')::uuid
		    WHERE id = r.id RETURNING * INTO r;
	END IF;
	UPDATE referrals SET task_force_id = v_tf.task_force_id, widened_to =
	    v_tf.widened WHERE id = r.id RETURNING * INTO r;
	FOR n IN SELECT * FROM jsonb_array_elements(p_body->'needs') LOOP
		INSERT INTO referral_needs (referral_id, position, need_code,
		    waitlist)
		VALUES (r.id, i, CASE jsonb_typeof(n) WHEN 'string' THEN
		    n #>> '{}' ELSE n->>'code' END,
		    coalesce((n->>'waitlist')::boolean, false));
		i := i + 1;
	END LOOP;
	PERFORM lib.notify_referral(v_org, NULL, 'referral.received', r.id,
	    jsonb_build_object('status', 'received'));
	IF cardinality(r.directed_service_ids) > 0 THEN
		/* Directed: the sender's services first, in its order. */
		v_errs := referral.directed_errors(r);
		IF jsonb_array_length(v_errs) > 0 THEN
			PERFORM lib.fail(422, 'service-cannot-serve', 'A '
			    'directed service cannot serve this client.',
			    v_errs);
		END IF;
		PERFORM referral.directed_next(r.id, ARRAY(SELECT id FROM
		    referral_needs WHERE referral_id = r.id));
	END IF;
	IF cardinality(r.directed_service_ids) = 0 OR r.directed_fallback THEN
		/* Matching ranks every need and offers those left pending. */
		INSERT INTO jobs (kind, payload) VALUES ('referral.match',
		    jsonb_build_object('referral_id', r.id)) RETURNING id
		    INTO v_job;
	ELSE
		UPDATE referrals SET status = 'offered', matched_at =
		    clock_timestamp() WHERE id = r.id;
		PERFORM referral.refresh(r.id);
	END IF;
	SELECT * INTO r FROM referrals WHERE id = r.id;

	status := 201;
	body := referral.doc_audited(p_ctx, r, 'create');
	headers := jsonb_build_object('location', '/v1/referrals/' || r.id);
	UPDATE idempotency_keys k SET status = 201, body =
	    jsonb_build_object('id', r.id), headers = jsonb_build_object(
	    'location', '/v1/referrals/' || r.id) WHERE k.org_id = v_org AND
	    k.key = v_key;
	IF v_job IS NOT NULL THEN
		headers := headers || jsonb_build_object('x-concord-jobs',
		    jsonb_build_array(v_job));
	END IF;
END $$;

/* GET /v1/referrals/{id}: audited (referral.doc_audited). */
CREATE FUNCTION api.referral_get(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	r	referrals;
BEGIN
	r := referral.get(p_ctx, (p_args->'path'->>'id')::uuid);
	status := 200;
	body := referral.doc_audited(p_ctx, r, 'read');
	headers := '{}';
END $$;

/*
 * GET /v1/referrals: the referrals the caller has a relation to
 * (referral.relation): what its organization sent (a hotline or
 * analyst token: what its own subject sent), what was offered to its
 * organization, referrals about cases it leads, or everything for
 * coordinators and admins. Filters: status, since (created at or
 * after); newest first. Each item listed is audited.
 */
CREATE FUNCTION api.referral_list(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	v_all	boolean := lib.has_role(p_ctx, 'coordinator') OR
		    lib.has_role(p_ctx, 'admin');
	v_hot	boolean := lib.has_role(p_ctx, 'hotline') OR
		    lib.has_role(p_ctx, 'analyst');
	v_n	integer;
	v_st	text;
	v_since	text;
	v_cur	jsonb;
	v_ct	timestamptz;
	v_cid	uuid;
	v_items	jsonb := '[]';
	v_last	referrals;
	r	referrals;
	v_i	integer := 0;
BEGIN
	/* The changes feed, ordered by change (tasks.sql). */
	IF p_args->'query' ? 'updated_since' THEN
		SELECT * INTO status, body, headers FROM
		    referral.changes(p_ctx, p_args);
		RETURN;
	END IF;
	PERFORM lib.query_allow(p_args, ARRAY['limit', 'cursor', 'status',
	    'since']);
	v_n := lib.page_limit(p_args);
	v_st := lib.query_enum(p_args, 'status', ARRAY['received', 'matching',
	    'offered', 'in_progress', 'completed', 'cancelled', 'unmatched']);
	v_since := lib.query_text(p_args, 'since');
	IF v_since IS NOT NULL AND (v_since !~
	    '^\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?)?$'
	    OR lib.try_ts_any(v_since) IS NULL) THEN
		PERFORM lib.bad_query('since', 'must be an RFC 3339 date or '
		    'time');
	END IF;
	v_cur := lib.cursor_decode(p_args, 'referrals', '{at:ts,id:uuid}');
	v_ct := lib.try_ts(v_cur->>'at');
	v_cid := (v_cur->>'id')::uuid;

	FOR r IN SELECT * FROM referrals x
	    WHERE ((v_all AND referral.coordinates(p_ctx, x)) OR
		(x.sender_org = v_org AND (NOT v_hot OR
		x.sender_sub = p_ctx->>'sub')) OR (NOT v_hot AND (EXISTS (
		SELECT 1 FROM referral_offers o WHERE o.referral_id = x.id AND
		o.organization_id = v_org) OR x.case_id IN (SELECT c.id FROM
		cases c WHERE c.lead_org = v_org))))
	    AND (v_st IS NULL OR x.status = v_st)
	    AND (v_since IS NULL OR x.created_at >= v_since::timestamptz)
	    AND (v_ct IS NULL OR (x.created_at, x.id) < (v_ct, v_cid))
	    ORDER BY x.created_at DESC, x.id DESC LIMIT v_n + 1 LOOP
		v_i := v_i + 1;
		EXIT WHEN v_i > v_n;
		v_items := v_items || referral.doc_audited(p_ctx, r, 'list');
		v_last := r;
	END LOOP;
	status := 200;
	body := jsonb_build_object('items', v_items, 'next_cursor',
	    CASE WHEN v_i > v_n THEN lib.cursor_encode('referrals',
	    jsonb_build_object('at', v_last.created_at, 'id', v_last.id))
	    END);
	headers := '{}';
END $$;

/* Load an offer of this referral addressed to the caller's org (404). */
CREATE FUNCTION referral.offer_for_caller(p_ctx jsonb,
    p_args jsonb) RETURNS referral_offers
LANGUAGE plpgsql AS $$
DECLARE
	f referral_offers;
BEGIN
	PERFORM 1 FROM referrals WHERE id = (p_args->'path'->>'id')::uuid
	    FOR UPDATE;
	SELECT * INTO f FROM referral_offers WHERE id = (p_args->'path'->>
	    'oid')::uuid AND referral_id = (p_args->'path'->>'id')::uuid
	    FOR UPDATE;
	IF f.id IS NULL OR f.organization_id IS DISTINCT FROM
	    lib.ctx_org(p_ctx) THEN
		PERFORM lib.fail(404, 'not-found', 'No such offer for your '
		    'organization.');
	END IF;
	RETURN f;
END $$;

/*
 * A referral ended (completed or cancelled): the consents its
 * acceptance recorded end with it, and what was passed on from them
 * (casework.consents_end; audited).
 */
CREATE FUNCTION referral.consents_end(p_ctx jsonb, r referrals)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	IF r.case_id IS NOT NULL THEN
		PERFORM casework.consents_end(p_ctx, r.case_id, ARRAY(SELECT
		    id FROM consents WHERE referral_id = r.id AND
		    revoked_at IS NULL ORDER BY id));
	END IF;
END $$;

/* Recompute a referral's status from its needs. */
CREATE FUNCTION referral.refresh(p_id uuid) RETURNS void
LANGUAGE sql AS $$
	UPDATE referrals r SET status = CASE
	    WHEN r.status IN ('cancelled', 'received', 'matching') THEN r.status
	    WHEN NOT EXISTS (SELECT 1 FROM referral_needs n WHERE
		n.referral_id = r.id AND n.status <> 'unmatched') THEN
		'unmatched'
	    WHEN NOT EXISTS (SELECT 1 FROM referral_needs n WHERE
		n.referral_id = r.id AND n.status IN ('pending', 'offered',
		'accepted')) AND EXISTS (SELECT 1 FROM referral_needs n WHERE
		n.referral_id = r.id AND n.status = 'completed') THEN
		'completed'
	    WHEN EXISTS (SELECT 1 FROM referral_needs n WHERE n.referral_id =
		r.id AND n.status IN ('accepted', 'completed')) THEN
		'in_progress'
	    ELSE 'offered' END,
	    version = r.version + 1, updated_at = now()
	WHERE r.id = p_id
$$;

/*
 * Offer the given needs of a referral to their next ranked candidates
 * that were not offered yet and can still take them (never the sending
 * organization); needs left without one become unmatched (and
 * coordinators are told). Returns the ids of the expiry jobs created.
 */
CREATE FUNCTION referral.reoffer(p_referral uuid, p_needs uuid[])
RETURNS bigint[]
LANGUAGE plpgsql AS $$
DECLARE
	r	referrals;
	n	referral_needs;
	c	record;
	f	referral_offers;
	v_jobs	bigint[] := '{}';
	v_job	bigint;
BEGIN
	SELECT * INTO r FROM referrals WHERE id = p_referral;
	FOR n IN SELECT * FROM referral_needs WHERE id = ANY (p_needs) AND
	    status IN ('pending', 'offered') ORDER BY position LOOP
		IF cardinality(r.directed_service_ids) > 0 AND n.status =
		    'pending' THEN
			/* Directed: the sender's next service first. */
			IF cardinality(referral.directed_next(p_referral,
			    ARRAY[n.id])) = 0 THEN
				CONTINUE;
			ELSIF NOT r.directed_fallback THEN
				UPDATE referral_needs SET status = 'unmatched',
				    unmatched_reason = 'every directed service '
				    'declined, did not answer in time or cannot '
				    'take it now', updated_at = now()
				    WHERE id = n.id;
				PERFORM lib.notify_referral(NULL, 'coordinator',
				    'referral.unmatched', p_referral,
				    jsonb_build_object('need', n.need_code,
				    'status', 'unmatched'));
				CONTINUE;
			ELSIF r.status IN ('received', 'matching') THEN
				/* Matching has not run yet: it offers it. */
				CONTINUE;
			END IF;
		END IF;
		SELECT rc.*, s.response_time_hours INTO c
		FROM referral_candidates rc JOIN services s ON
		    s.id = rc.service_id JOIN organizations o ON
		    o.id = s.organization_id AND o.status = 'active'
		WHERE rc.referral_need_id = n.id AND s.deleted_at IS NULL AND
		    s.organization_id <> r.sender_org AND
		    /* Still an active member (taskforces.sql). */
		    referral.task_force_allows(r.task_force_id, r.widened_to,
		    s.organization_id) AND
		    s.status = 'active' AND s.accepts_referrals AND (n.waitlist
		    OR s.capacity_total IS NULL OR s.capacity_available > 0)
		    AND NOT EXISTS (SELECT 1 FROM referral_offers o WHERE
		    o.referral_id = p_referral AND o.service_id = rc.service_id)
		ORDER BY rc.rank LIMIT 1;
		IF c.service_id IS NULL THEN
			UPDATE referral_needs SET status = 'unmatched',
			    unmatched_reason = 'every eligible provider '
			    'declined, did not answer in time or is full',
			    updated_at = now() WHERE id = n.id;
			PERFORM lib.notify_referral(NULL, 'coordinator',
			    'referral.unmatched', p_referral, jsonb_build_object(
			    'need', n.need_code, 'status', 'unmatched'));
			CONTINUE;
		END IF;
		INSERT INTO referral_offers (referral_id, service_id,
		    organization_id, need_ids, score, expires_at)
		VALUES (p_referral, c.service_id, c.organization_id,
		    ARRAY[n.id], c.score, now() + referral.offer_window(
		    r.urgency, c.response_time_hours))
		RETURNING * INTO f;
		UPDATE referral_needs SET status = 'offered', updated_at = now()
		    WHERE id = n.id;
		INSERT INTO jobs (kind, payload, run_after) VALUES
		    ('referral.expire', jsonb_build_object('offer_id', f.id),
		    f.expires_at) RETURNING id INTO v_job;
		v_jobs := v_jobs || v_job;
		PERFORM lib.notify_referral(f.organization_id, NULL,
		    'referral.offered', p_referral, jsonb_build_object(
		    'offer_id', f.id, 'status', 'offered', 'expires_at',
		    f.expires_at));
	END LOOP;
	PERFORM referral.refresh(p_referral);
	RETURN v_jobs;
END $$;

/*
 * POST /v1/referrals/{id}/offers/{oid}/accept: only the organization
 * the offer is addressed to. Takes one unit of the service's capacity
 * in the same statement that checks it, so parallel accepts can never
 * drive it below zero (409 when none is left, unless waitlisted).
 */
CREATE FUNCTION api.referral_offer_accept(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	f	referral_offers;
	r	referrals;
	v_wait	boolean;
	v_taken	boolean := false;
BEGIN
	f := referral.offer_for_caller(p_ctx, p_args);
	SELECT * INTO r FROM referrals WHERE id = f.referral_id FOR UPDATE;
	IF r.sender_org = f.organization_id THEN
		PERFORM lib.fail(409, 'own-referral', 'An organization is '
		    'never offered its own referral and cannot accept it.');
	END IF;
	IF p_body IS NOT NULL AND p_body <> '{}' THEN
		PERFORM lib.fail(422, 'validation-error', 'Accept takes no '
		    'fields.', (SELECT jsonb_agg(lib.err(k, 'is not accepted '
		    'here')) FROM jsonb_object_keys(p_body) k));
	END IF;
	IF r.status IN ('cancelled', 'completed') OR f.status <> 'offered' THEN
		PERFORM lib.fail(409, 'invalid-transition', 'This offer is ' ||
		    f.status || ' and the referral ' || r.status ||
		    '; it cannot be accepted.');
	END IF;
	IF f.expires_at <= now() THEN
		PERFORM lib.fail(409, 'offer-expired', 'This offer expired at '
		    || f.expires_at || '.');
	END IF;
	/* Left or suspended since the offer: matching would not offer it
	 * now, so it does not take the client either (taskforces.sql). */
	IF NOT referral.task_force_allows(r.task_force_id, r.widened_to,
	    f.organization_id) THEN
		PERFORM lib.fail(409, 'invalid-transition', 'Your organization '
		    'is no longer an active member of the referral''s task '
		    'force; this offer cannot be accepted (decline it).');
	END IF;
	SELECT bool_or(waitlist) INTO v_wait FROM referral_needs
	    WHERE id = ANY (f.need_ids);
	UPDATE services SET capacity_available = capacity_available - 1,
	    capacity_updated_at = now()
	    WHERE id = f.service_id AND capacity_total IS NOT NULL AND
	    capacity_available > 0;
	v_taken := FOUND;
	IF NOT v_taken AND NOT coalesce(v_wait, false) AND EXISTS (SELECT 1
	    FROM services WHERE id = f.service_id AND capacity_total IS NOT
	    NULL) THEN
		PERFORM lib.fail(409, 'no-capacity', 'The service has no '
		    'capacity left; update its capacity or decline.');
	END IF;
	UPDATE referral_offers SET status = 'accepted', responded_at = now(),
	    responded_by = p_ctx->>'sub', capacity_taken = v_taken
	    WHERE id = f.id;
	UPDATE referral_needs SET status = 'accepted', updated_at = now()
	    WHERE id = ANY (f.need_ids);
	PERFORM referral.refresh(r.id);
	PERFORM referral.on_accept(p_ctx, r.id, f.id);
	PERFORM lib.notify_referral(r.sender_org, NULL, 'referral.accepted',
	    r.id, jsonb_build_object('offer_id', f.id, 'status', 'accepted'));
	SELECT * INTO r FROM referrals WHERE id = r.id;
	status := 200;
	body := referral.doc_audited(p_ctx, r, 'accept');
	headers := '{}';
END $$;

/*
 * A decline reason's code from its free text (declines that send only
 * a reason, as before codes existed): the report categories' words.
 */
CREATE FUNCTION referral.decline_code_of(p text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE
	    WHEN p ~* '(capacity|full|no (space|room|bed)|waitlist)' THEN
		'no_capacity'
	    WHEN p ~* '(out of (the )?area|outside|too far)' THEN
		'outside_area'
	    WHEN p ~* '(eligib|criteria|age|gender|not serve)' THEN
		'not_eligible'
	    WHEN p ~* '(language|interpret|translat)' THEN 'language'
	    WHEN p ~* '(client (declined|refused)|refused)' THEN
		'client_declined'
	    WHEN p ~* '(reach|contact|no answer|unavailable)' THEN
		'cannot_reach_client'
	    ELSE 'other' END
$$;

/*
 * POST /v1/referrals/{id}/offers/{oid}/decline {reason_code, reason}:
 * re-offers. reason_code is one of referral.decline_codes; reason
 * (free text) is required with other and optional otherwise. A body
 * with only reason (as before codes) gets the code its words map to.
 */
CREATE FUNCTION api.referral_offer_decline(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	f	referral_offers;
	r	referrals;
	v_jobs	bigint[];
	e	jsonb := '[]';
BEGIN
	f := referral.offer_for_caller(p_ctx, p_args);
	SELECT * INTO r FROM referrals WHERE id = f.referral_id FOR UPDATE;
	e := coalesce((SELECT jsonb_agg(lib.err(k, 'is not a field of a '
	    'decline')) FROM jsonb_object_keys(p_body) k WHERE k NOT IN
	    ('reason', 'reason_code')), '[]');
	IF p_body ? 'reason_code' AND (jsonb_typeof(p_body->'reason_code') <>
	    'string' OR p_body->>'reason_code' <> ALL (ARRAY['no_capacity',
	    'not_eligible', 'cannot_reach_client', 'client_declined',
	    'outside_area', 'language', 'other'])) THEN
		e := e || lib.err('reason_code', 'must be no_capacity, '
		    'not_eligible, cannot_reach_client, client_declined, '
		    'outside_area, language or other');
	END IF;
	IF (NOT p_body ? 'reason_code' OR p_body->>'reason_code' = 'other' OR
	    p_body ? 'reason') AND (jsonb_typeof(p_body->'reason') IS
	    DISTINCT FROM 'string' OR length(btrim(p_body->>'reason'))
	    NOT BETWEEN 1 AND 1000) THEN
		e := e || lib.err('reason', CASE WHEN p_body->>'reason_code' =
		    'other' THEN 'is required with reason_code other '
		    '(1-1000 characters)' ELSE 'is required (1-1000 '
		    'characters) unless reason_code is given' END);
	END IF;
	IF jsonb_array_length(e) > 0 THEN
		PERFORM lib.fail(422, 'validation-error', 'A decline needs a '
		    'reason.', e);
	END IF;
	IF r.status IN ('cancelled', 'completed') OR f.status <> 'offered' THEN
		PERFORM lib.fail(409, 'invalid-transition', 'This offer is ' ||
		    f.status || '; it cannot be declined.');
	END IF;
	UPDATE referral_offers SET status = 'declined', responded_at = now(),
	    responded_by = p_ctx->>'sub', decline_reason = p_body->>'reason',
	    decline_code = coalesce(p_body->>'reason_code',
	    referral.decline_code_of(p_body->>'reason'))
	    WHERE id = f.id;
	UPDATE referral_needs SET status = 'pending', updated_at = now()
	    WHERE id = ANY (f.need_ids);
	PERFORM lib.notify_referral(r.sender_org, NULL, 'referral.declined',
	    r.id, jsonb_build_object('offer_id', f.id, 'status', 'declined'));
	v_jobs := referral.reoffer(r.id, f.need_ids);
	SELECT * INTO r FROM referrals WHERE id = r.id;
	status := 200;
	body := referral.doc_audited(p_ctx, r, 'decline');
	headers := jsonb_build_object('x-concord-jobs', to_jsonb(v_jobs));
END $$;

/*
 * POST /v1/referrals/{id}/complete {outcomes: [{need, outcome}]}: by an
 * organization that accepted those needs, or a coordinator. Needs not
 * listed stay as they are; the referral completes when nothing is open,
 * and then the consents its acceptance recorded end, as on cancel
 * (referral.consents_end): the accepting organizations' relation ended.
 */
CREATE FUNCTION api.referral_complete(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	v_coord	boolean;
	r	referrals;
	n	referral_needs;
	f	referral_offers;
	x	jsonb;
	e	jsonb := '[]';
	i	integer := 0;
	v_jobs	bigint[] := '{}';
BEGIN
	r := referral.lock(p_ctx, (p_args->'path'->>'id')::uuid);
	v_coord := referral.coordinates(p_ctx, r);
	IF NOT v_coord AND NOT EXISTS (SELECT 1 FROM referral_offers WHERE
	    referral_id = r.id AND organization_id = v_org AND
	    status = 'accepted') THEN
		PERFORM lib.fail(404, 'not-found', 'No such referral.');
	END IF;
	e := coalesce((SELECT jsonb_agg(lib.err(k, 'is not a field of a '
	    'completion')) FROM jsonb_object_keys(p_body) k WHERE
	    k <> 'outcomes'), '[]');
	IF jsonb_typeof(p_body->'outcomes') IS DISTINCT FROM 'array' OR
	    jsonb_array_length(p_body->'outcomes') = 0 THEN
		e := e || lib.err('outcomes', 'must list {need, outcome}');
	ELSE
		FOR x IN SELECT * FROM jsonb_array_elements(
		    p_body->'outcomes') LOOP
			IF jsonb_typeof(x) <> 'object' OR
			    jsonb_typeof(x->'outcome') IS DISTINCT FROM
			    'string' OR referral.outcome_code(x->>'outcome')
			    IS NULL THEN
				e := e || lib.err('outcomes[' || i ||
				    '].outcome', 'must be completed, '
				    'partially_completed, not_completed, '
				    'client_declined, unable_to_contact, '
				    'no_longer_needed, referred_elsewhere or '
				    'other');
			ELSIF EXISTS (SELECT 1 FROM jsonb_object_keys(x) k
			    WHERE k NOT IN ('need', 'outcome', 'note')) THEN
				e := e || lib.err('outcomes[' || i || ']',
				    'is {need, outcome, note}');
			ELSIF (x->>'outcome' = 'other' OR x ? 'note') AND
			    (jsonb_typeof(x->'note') IS DISTINCT FROM 'string'
			    OR length(btrim(x->>'note')) NOT BETWEEN 1 AND
			    1000) THEN
				e := e || lib.err('outcomes[' || i || '].note',
				    'is required with outcome other (1-1000 '
				    'characters)');
			END IF;
			IF jsonb_typeof(x) = 'object' AND NOT EXISTS (
			    SELECT 1 FROM referral_needs WHERE referral_id =
			    r.id AND need_code = x->>'need') THEN
				e := e || lib.err('outcomes[' || i || '].need',
				    'is not a need of this referral');
			END IF;
			i := i + 1;
		END LOOP;
	END IF;
	IF jsonb_array_length(e) > 0 THEN
		PERFORM lib.fail(422, 'validation-error', 'Bad completion.', e);
	END IF;
	IF r.status <> 'in_progress' THEN
		PERFORM lib.fail(409, 'invalid-transition', 'Only a referral in '
		    'progress can be completed; this one is ' || r.status ||
		    '.');
	END IF;
	FOR x IN SELECT * FROM jsonb_array_elements(p_body->'outcomes') LOOP
		SELECT * INTO n FROM referral_needs WHERE referral_id = r.id AND
		    need_code = x->>'need' FOR UPDATE;
		IF n.status <> 'accepted' OR (NOT v_coord AND NOT EXISTS (
		    SELECT 1 FROM referral_offers WHERE referral_id = r.id AND
		    organization_id = v_org AND status = 'accepted' AND
		    n.id = ANY (need_ids))) THEN
			PERFORM lib.fail(409, 'invalid-transition', 'Need ' ||
			    n.need_code || ' is ' || n.status || ' and not '
			    'accepted by your organization.');
		END IF;
		UPDATE referral_needs SET status = 'completed', outcome =
		    referral.outcome_code(x->>'outcome'), outcome_note =
		    x->>'note', updated_at = now() WHERE id = n.id;
		PERFORM referral.on_complete(p_ctx, r.id, n.need_code,
		    referral.outcome_code(x->>'outcome'));
	END LOOP;
	/*
	 * An accepted offer whose needs are all completed gives back the
	 * unit of capacity it took, and needs waiting for that service's
	 * kinds are matched again.
	 */
	FOR f IN UPDATE referral_offers o SET capacity_taken = false
	    WHERE o.referral_id = r.id AND o.status = 'accepted' AND
	    o.capacity_taken AND NOT EXISTS (SELECT 1 FROM referral_needs m
	    WHERE m.id = ANY (o.need_ids) AND m.status <> 'completed')
	    RETURNING o.* LOOP
		UPDATE services SET capacity_available = least(capacity_total,
		    capacity_available + 1), capacity_updated_at = now()
		    WHERE id = f.service_id AND capacity_total IS NOT NULL;
		v_jobs := v_jobs || referral.capacity_freed(f.service_id);
	END LOOP;
	PERFORM referral.refresh(r.id);
	SELECT * INTO r FROM referrals WHERE id = r.id;
	IF r.status = 'completed' THEN
		PERFORM lib.notify_referral(r.sender_org, NULL,
		    'referral.completed', r.id, jsonb_build_object('status',
		    'completed'));
		PERFORM referral.consents_end(p_ctx, r);
	END IF;
	status := 200;
	body := referral.doc_audited(p_ctx, r, 'complete');
	headers := jsonb_build_object('x-concord-jobs', to_jsonb(v_jobs));
END $$;

/*
 * POST /v1/referrals/{id}/cancel {reason}: the sender, a coordinator,
 * or the lead organization of the case the referral is about. Open
 * offers are withdrawn, capacity taken by accepted ones is given back,
 * and the consents its acceptance recorded are revoked: the accepting
 * organizations lose the case on their next request. 404 for anyone
 * else, 409 invalid-transition when already cancelled or completed.
 */
CREATE FUNCTION api.referral_cancel(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	r	referrals;
	e	jsonb := '[]';
	v_jobs	bigint[];
BEGIN
	r := referral.lock(p_ctx, (p_args->'path'->>'id')::uuid);
	IF referral.relation(p_ctx, r) NOT IN ('sender', 'coordinator',
	    'case_lead') THEN
		PERFORM lib.fail(404, 'not-found', 'No such referral.');
	END IF;
	e := coalesce((SELECT jsonb_agg(lib.err(k, 'is not a field of a '
	    'cancellation')) FROM jsonb_object_keys(p_body) k WHERE
	    k <> 'reason'), '[]');
	IF jsonb_typeof(p_body->'reason') IS DISTINCT FROM 'string' OR
	    length(btrim(p_body->>'reason')) NOT BETWEEN 1 AND 1000 THEN
		e := e || lib.err('reason', 'is required (1-1000 characters)');
	END IF;
	IF jsonb_array_length(e) > 0 THEN
		PERFORM lib.fail(422, 'validation-error', 'A cancellation '
		    'needs a reason.', e);
	END IF;
	IF r.status IN ('cancelled', 'completed') THEN
		PERFORM lib.fail(409, 'invalid-transition', 'This referral is '
		    || r.status || ' already.');
	END IF;
	UPDATE services s SET capacity_available = least(s.capacity_total,
	    s.capacity_available + 1), capacity_updated_at = now()
	    FROM referral_offers f WHERE f.referral_id = r.id AND
	    f.status = 'accepted' AND f.capacity_taken AND s.id = f.service_id;
	SELECT coalesce(array_agg(referral.capacity_freed(f.service_id)), '{}')
	    INTO v_jobs FROM referral_offers f WHERE f.referral_id = r.id AND
	    f.status = 'accepted' AND f.capacity_taken;
	UPDATE referral_offers SET status = 'withdrawn' WHERE referral_id =
	    r.id AND status IN ('offered', 'accepted');
	UPDATE referral_needs SET status = 'cancelled', updated_at = now()
	    WHERE referral_id = r.id AND status IN ('pending', 'offered',
	    'accepted');
	UPDATE referrals SET status = 'cancelled', cancel_reason =
	    p_body->>'reason', version = version + 1, updated_at = now()
	    WHERE id = r.id RETURNING * INTO r;
	PERFORM referral.consents_end(p_ctx, r);
	status := 200;
	body := referral.doc_audited(p_ctx, r, 'cancel');
	headers := jsonb_build_object('x-concord-jobs', to_jsonb(v_jobs));
END $$;

/* The task force's majority languages (primary subtags). */
CREATE FUNCTION referral.majority_languages() RETURNS text[]
LANGUAGE sql STABLE AS $$
	SELECT coalesce(nullif(string_to_array(current_setting(
	    'concord.majority_languages', true), ','), '{}'), '{en}')
$$;

/* A jurisdiction code and its prefixes: "06037" is inside "06". */
CREATE FUNCTION referral.jurisdiction_prefixes(p_j text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(array_agg(left(p_j, n)), '{}')
	FROM generate_series(2, length(p_j)) n
$$;

/*
 * Of p_cats, the categories a current agreement lets flow from the
 * referral's sender to p_org (casework.agreement_allows, read at call
 * time: a suspension or expiry hides them on the next request, as for
 * cases). Empty for a NULL organization. Can't fail.
 */
CREATE FUNCTION referral.agreed(r referrals, p_org uuid, p_cats text[])
RETURNS text[]
LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN ARRAY(SELECT x FROM unnest(p_cats) x WHERE
	    casework.agreement_allows(p_org, r.sender_org, x) ORDER BY x);
END $$;

/*
 * The consent a referral records on its case for an accepting
 * organization: the referral's categories and expiry, narrowed to what
 * the sender holds on the case itself (casework.consent_grantable: never
 * more categories, never longer). A case born from this referral's
 * inline profile holds only what the sender sent, so its consent stands.
 */
CREATE FUNCTION referral.grantable(r referrals, OUT categories text[],
    OUT until timestamptz)
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN c.created_at >= r.created_at THEN
	    r.consent_categories ELSE g.categories END,
	    CASE WHEN c.created_at >= r.created_at THEN
	    r.consent_expires_at ELSE g.until END
	FROM cases c CROSS JOIN casework.consent_grantable(c.id, r.sender_org,
	    r.consent_categories, r.consent_expires_at) g
	WHERE c.id = r.case_id
$$;

-- ------------------------------------------------------------------
-- Steering: the hard filters for one service (directed referrals and
-- coordinators' offers by hand say why a service cannot serve the
-- client), language access, offers made by people, re-matching.

/* Primary subtags of the client's languages outside the majority ones. */
CREATE FUNCTION referral.foreign_languages(r referrals) RETURNS text[]
LANGUAGE sql STABLE AS $$
	SELECT coalesce(array_agg(DISTINCT l), '{}') FROM (SELECT
	    lower(split_part(x, '-', 1)) AS l FROM unnest(r.languages) x) y
	WHERE l <> ALL (referral.majority_languages())
$$;

/*
 * Does service s interpret between the client and the task force? It
 * speaks one of the client's languages outside the majority ones and
 * one of the majority languages (the language pair). For a client who
 * speaks only majority languages (or gave none), any language the two
 * share.
 */
CREATE FUNCTION referral.language_pair(r referrals, s services)
RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_foreign	text[] := referral.foreign_languages(r);
BEGIN
	IF cardinality(v_foreign) = 0 THEN
		RETURN s.lang_match && directory.lang_keys(r.languages);
	END IF;
	RETURN s.lang_match && v_foreign AND
	    s.lang_match && referral.majority_languages();
END $$;

/*
 * Interpretation at service s for this client: the service says it
 * has interpreters (services.interpretation), or its organization runs
 * an active translation and interpretation service of the client's
 * language pair.
 */
CREATE FUNCTION referral.interpretation_at(r referrals, s services)
RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN s.interpretation OR EXISTS (SELECT 1 FROM services t WHERE
	    t.organization_id = s.organization_id AND t.deleted_at IS NULL AND
	    t.status = 'active' AND t.need_cover @>
	    '{translation_interpretation}' AND referral.language_pair(r, t));
END $$;

/*
 * How the client is understood at service s for need p_need: native
 * (it speaks the client's language; for interpretation needs the
 * language pair), interpreter (its own interpretation), referral_
 * interpretation (the referral asks for interpretation too), none
 * (it speaks none of the client's languages where language does not
 * decide), or NULL: it cannot serve this client. Language decides for
 * interpretation needs and when the client speaks none of the task
 * force's majority languages.
 */
CREATE FUNCTION referral.language_access(r referrals, s services,
    p_need text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
	IF p_need = 'translation_interpretation' THEN
		RETURN CASE WHEN referral.language_pair(r, s) THEN 'native' END;
	END IF;
	IF s.lang_match && directory.lang_keys(r.languages) THEN
		RETURN 'native';
	ELSIF referral.interpretation_at(r, s) THEN
		RETURN 'interpreter';
	ELSIF EXISTS (SELECT 1 FROM referral_needs n WHERE n.referral_id =
	    r.id AND n.need_code = 'translation_interpretation' AND
	    n.status NOT IN ('cancelled', 'unmatched')) THEN
		RETURN 'referral_interpretation';
	ELSIF r.languages = '{}' OR directory.lang_keys(r.languages) &&
	    referral.majority_languages() THEN
		RETURN 'none';
	END IF;
	RETURN NULL;
END $$;

/*
 * Why service s cannot take need p_need of referral r, the first hard
 * filter it fails (the same filters as matching: worker.match_
 * candidates), or NULL when it can. Can't fail.
 */
CREATE FUNCTION referral.service_refusal(r referrals, s services,
    p_need text, p_waitlist boolean) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_label	text := (SELECT label FROM need_taxonomy WHERE code = p_need);
BEGIN
	IF s.id IS NULL OR s.deleted_at IS NOT NULL THEN
		RETURN 'is not a service in the directory';
	ELSIF s.organization_id = r.sender_org THEN
		RETURN 'belongs to the sending organization (an organization '
		    'is never offered its own referral)';
	ELSIF s.status <> 'active' OR NOT s.accepts_referrals OR NOT EXISTS (
	    SELECT 1 FROM organizations o WHERE o.id = s.organization_id AND
	    o.status = 'active') THEN
		RETURN 'does not accept referrals now';
	ELSIF NOT referral.task_force_allows(r.task_force_id, r.widened_to,
	    s.organization_id) THEN
		RETURN 'is not an active member of the referral''s task force '
		    '(or of one it is widened to)';
	ELSIF NOT s.need_cover @> ARRAY[p_need] THEN
		RETURN 'does not offer ' || v_label;
	ELSIF r.age IS NOT NULL AND NOT (coalesce(s.age_min, 0) <= r.age AND
	    coalesce(s.age_max, 200) >= r.age) THEN
		RETURN 'does not serve clients aged ' || r.age;
	ELSIF r.age IS NULL AND r.minor IS NOT NULL AND NOT ((r.minor AND
	    coalesce(s.age_min, 0) < 18) OR (NOT r.minor AND
	    coalesce(s.age_max, 200) >= 18)) THEN
		RETURN 'does not serve ' || CASE WHEN r.minor THEN 'minors'
		    ELSE 'adults' END;
	ELSIF r.gender IS NOT NULL AND r.gender <> 'unknown' AND
	    s.genders <> '{}' AND NOT r.gender = ANY (s.genders) THEN
		RETURN 'does not serve ' || r.gender || ' clients';
	ELSIF r.trafficking_type <> 'unknown' AND NOT s.trafficking_types @>
	    (CASE r.trafficking_type WHEN 'both' THEN '{sex,labor}'::text[]
	    ELSE ARRAY[r.trafficking_type] END) THEN
		RETURN 'does not serve survivors of ' || replace(
		    r.trafficking_type, 'both', 'sex and labor') ||
		    ' trafficking';
	ELSIF NOT ((r.lat IS NOT NULL AND s.area_radius_km IS NOT NULL AND
	    directory.km(r.lat, r.lon, s.area_lat, s.area_lon) <=
	    s.area_radius_km) OR (r.jurisdiction IS NOT NULL AND
	    s.area_jurisdictions && referral.jurisdiction_prefixes(
	    r.jurisdiction)) OR (s.area_jurisdictions = '{}' AND
	    s.area_radius_km IS NULL)) THEN
		RETURN 'does not cover ' || coalesce(CASE WHEN r.lat IS NOT NULL
		    THEN 'the client''s location' END, 'jurisdiction ' ||
		    r.jurisdiction);
	ELSIF NOT p_waitlist AND s.capacity_total IS NOT NULL AND
	    s.capacity_available <= 0 THEN
		RETURN 'has no capacity left (waitlist the need to offer it '
		    'anyway)';
	ELSIF referral.language_access(r, s, p_need) IS NULL THEN
		RETURN CASE WHEN p_need = 'translation_interpretation' THEN
		    'does not interpret between ' || array_to_string(
		    referral.foreign_languages(r), '/') || ' and ' ||
		    array_to_string(referral.majority_languages(), '/')
		    ELSE 'does not speak ' || array_to_string(r.languages, '/')
		    || ' and has no interpretation' END;
	END IF;
	RETURN NULL;
END $$;

/*
 * Offer needs p_needs of referral r to service p_service (via
 * matching, directed or coordinator) with the urgency's window, its
 * expiry job and the offered organization's notification. The caller
 * has checked the service; returns the offer.
 */
CREATE FUNCTION referral.offer_make(r referrals, p_service uuid,
    p_needs uuid[], p_via text, p_score double precision)
RETURNS referral_offers
LANGUAGE plpgsql AS $$
DECLARE
	f	referral_offers;
BEGIN
	INSERT INTO referral_offers (referral_id, service_id,
	    organization_id, need_ids, score, expires_at, via)
	SELECT r.id, s.id, s.organization_id, p_needs, p_score,
	    now() + referral.offer_window(r.urgency, s.response_time_hours),
	    p_via
	FROM services s WHERE s.id = p_service
	RETURNING * INTO f;
	UPDATE referral_needs SET status = 'offered', unmatched_reason = NULL,
	    updated_at = now() WHERE id = ANY (p_needs);
	INSERT INTO jobs (kind, payload, run_after) VALUES ('referral.expire',
	    jsonb_build_object('offer_id', f.id), f.expires_at);
	PERFORM lib.notify_referral(f.organization_id, NULL,
	    'referral.offered', r.id, jsonb_build_object('offer_id', f.id,
	    'status', 'offered', 'expires_at', f.expires_at));
	RETURN f;
END $$;

/*
 * Offer each of the given needs to the first of the referral's directed
 * services (in the sender's order) that can take it now and has not
 * been offered it (nor holds another open offer of the referral); needs
 * sharing a service share one offer. Returns the needs left without a
 * directed service.
 */
CREATE FUNCTION referral.directed_next(p_referral uuid, p_needs uuid[])
RETURNS uuid[]
LANGUAGE plpgsql AS $$
DECLARE
	r	referrals;
	n	referral_needs;
	v_pick	uuid;
	v_plan	jsonb := '[]';
	v_left	uuid[] := '{}';
	g	record;
BEGIN
	SELECT * INTO r FROM referrals WHERE id = p_referral;
	FOR n IN SELECT * FROM referral_needs WHERE id = ANY (p_needs) AND
	    status IN ('pending', 'unmatched') ORDER BY position LOOP
		SELECT d.sid INTO v_pick FROM unnest(r.directed_service_ids)
		    WITH ORDINALITY d(sid, k) JOIN services s ON s.id = d.sid
		WHERE NOT EXISTS (SELECT 1 FROM referral_offers o WHERE
		    o.referral_id = r.id AND o.service_id = d.sid AND
		    (n.id = ANY (o.need_ids) OR o.status = 'offered')) AND
		    referral.service_refusal(r, s, n.need_code, n.waitlist)
		    IS NULL
		ORDER BY d.k LIMIT 1;
		IF v_pick IS NULL THEN
			v_left := v_left || n.id;
		ELSE
			v_plan := v_plan || jsonb_build_object('s', v_pick,
			    'n', n.id);
		END IF;
	END LOOP;
	FOR g IN SELECT (x->>'s')::uuid AS sid, array_agg((x->>'n')::uuid)
	    AS needs FROM jsonb_array_elements(v_plan) x GROUP BY 1 LOOP
		PERFORM referral.offer_make(r, g.sid, g.needs, 'directed',
		    NULL);
	END LOOP;
	RETURN v_left;
END $$;

/*
 * Errors of directed_service_ids for referral r (its needs stored):
 * each named service must be able to take at least one need, and
 * without fallback to matching every need must have a directed service
 * that can take it. Each error names the reason.
 */
CREATE FUNCTION referral.directed_errors(r referrals) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	e	jsonb := '[]';
	s	services;
	n	referral_needs;
	v_sid	uuid;
	v_why	text[];
	v_fits	uuid[] := '{}';
	i	integer := 0;
BEGIN
	FOREACH v_sid IN ARRAY r.directed_service_ids LOOP
		SELECT * INTO s FROM services WHERE id = v_sid;
		v_why := '{}';
		FOR n IN SELECT * FROM referral_needs WHERE referral_id = r.id
		    ORDER BY position LOOP
			IF referral.service_refusal(r, s, n.need_code,
			    n.waitlist) IS NULL THEN
				v_fits := v_fits || n.id;
			ELSE
				v_why := v_why || (n.need_code || ': ' ||
				    referral.service_refusal(r, s, n.need_code,
				    n.waitlist));
			END IF;
		END LOOP;
		IF cardinality(v_why) = (SELECT count(*) FROM referral_needs
		    WHERE referral_id = r.id) THEN
			e := e || lib.err('directed_service_ids[' || i || ']',
			    CASE WHEN s.id IS NULL OR s.deleted_at IS NOT NULL
			    THEN 'is not a service in the directory'
			    ELSE 'cannot serve this client: ' ||
			    array_to_string(v_why, '; ') END);
		END IF;
		i := i + 1;
	END LOOP;
	IF NOT r.directed_fallback AND jsonb_array_length(e) = 0 THEN
		FOR n IN SELECT * FROM referral_needs WHERE referral_id = r.id
		    AND NOT id = ANY (v_fits) ORDER BY position LOOP
			e := e || lib.err('needs[' || n.position || ']',
			    'no directed service can take it; name one that '
			    'can or allow fallback_to_matching');
		END LOOP;
	END IF;
	RETURN e;
END $$;

/*
 * Capacity of service p_service freed up (a capacity update, a
 * cancelled or completed referral): queue the job that matches needs
 * waiting for its kinds again. Returns the job's id.
 */
CREATE FUNCTION referral.capacity_freed(p_service uuid) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	v_job	bigint;
BEGIN
	INSERT INTO jobs (kind, payload) VALUES ('referral.rematch_waiting',
	    jsonb_build_object('service_id', p_service)) RETURNING id
	    INTO v_job;
	RETURN v_job;
END $$;

/*
 * Needs of r named by codes p_codes (all unmatched ones when NULL) that
 * a coordinator may steer: unmatched, pending, or offered with an open
 * offer covering only needs in the list (that offer is withdrawn).
 * Raises 422 for unknown codes and 409 for needs in another state.
 */
CREATE FUNCTION referral.steerable(r referrals, p_codes jsonb,
    p_field text) RETURNS uuid[]
LANGUAGE plpgsql AS $$
DECLARE
	v_ids	uuid[];
	e	jsonb := '[]';
	n	referral_needs;
	i	integer := 0;
	x	jsonb;
BEGIN
	IF p_codes IS NULL OR p_codes = 'null' THEN
		SELECT coalesce(array_agg(id ORDER BY position), '{}') INTO v_ids
		FROM referral_needs WHERE referral_id = r.id AND
		    status = 'unmatched';
	ELSIF jsonb_typeof(p_codes) <> 'array' OR
	    jsonb_array_length(p_codes) = 0 THEN
		PERFORM lib.fail(422, 'validation-error', 'Bad needs.',
		    jsonb_build_array(lib.err(p_field, 'must list need codes '
		    'of this referral')));
	ELSE
		v_ids := '{}';
		FOR x IN SELECT * FROM jsonb_array_elements(p_codes) LOOP
			SELECT * INTO n FROM referral_needs WHERE referral_id =
			    r.id AND need_code = x #>> '{}' AND
			    jsonb_typeof(x) = 'string';
			IF n.id IS NULL THEN
				e := e || lib.err(p_field || '[' || i || ']',
				    'is not a need of this referral');
			ELSE
				v_ids := v_ids || n.id;
			END IF;
			i := i + 1;
		END LOOP;
		IF jsonb_array_length(e) > 0 THEN
			PERFORM lib.fail(422, 'validation-error', 'Bad needs.',
			    e);
		END IF;
	END IF;
	IF cardinality(v_ids) = 0 THEN
		PERFORM lib.fail(409, 'invalid-transition', 'No need of this '
		    'referral is unmatched; name the needs to steer.');
	END IF;
	FOR n IN SELECT * FROM referral_needs WHERE id = ANY (v_ids) LOOP
		IF n.status NOT IN ('pending', 'unmatched', 'offered') THEN
			PERFORM lib.fail(409, 'invalid-transition', 'Need ' ||
			    n.need_code || ' is ' || n.status || '; only '
			    'unmatched, pending or offered needs are steered.');
		END IF;
	END LOOP;
	IF EXISTS (SELECT 1 FROM referral_offers o WHERE o.referral_id = r.id
	    AND o.status = 'offered' AND o.need_ids && v_ids AND
	    NOT o.need_ids <@ v_ids) THEN
		PERFORM lib.fail(409, 'invalid-transition', 'An open offer '
		    'covers these needs and others too; name all its needs.');
	END IF;
	UPDATE referral_offers SET status = 'withdrawn' WHERE referral_id =
	    r.id AND status = 'offered' AND need_ids <@ v_ids;
	RETURN v_ids;
END $$;

/*
 * POST /v1/referrals/{id}/offer {service_id, needs?}: a coordinator
 * offers needs (default: the unmatched ones) by hand to a chosen
 * service, under the same hard filters as matching (422
 * service-cannot-serve naming the reason per need). An open offer of
 * those needs is withdrawn first. Audited like every referral document.
 */
CREATE FUNCTION api.referral_offer(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	r	referrals;
	s	services;
	n	referral_needs;
	v_ids	uuid[];
	e	jsonb := '[]';
	v_why	text;
BEGIN
	r := referral.lock(p_ctx, (p_args->'path'->>'id')::uuid);
	IF referral.relation(p_ctx, r) <> 'coordinator' THEN
		PERFORM lib.fail(404, 'not-found', 'No such referral.');
	END IF;
	e := coalesce((SELECT jsonb_agg(lib.err(k, 'is not a field of an '
	    'offer by hand')) FROM jsonb_object_keys(p_body) k WHERE
	    k NOT IN ('service_id', 'needs')), '[]');
	IF jsonb_typeof(p_body->'service_id') IS DISTINCT FROM 'string' OR
	    p_body->>'service_id' !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-'
	    '[0-9a-f]{4}-[0-9a-f]{12}$' THEN
		e := e || lib.err('service_id', 'must be a service id');
	END IF;
	IF jsonb_array_length(e) > 0 THEN
		PERFORM lib.fail(422, 'validation-error', 'Bad offer.', e);
	END IF;
	IF r.status IN ('cancelled', 'completed') THEN
		PERFORM lib.fail(409, 'invalid-transition', 'This referral is '
		    || r.status || '.');
	END IF;
	SELECT * INTO s FROM services WHERE id = (p_body->>'service_id')::uuid;
	IF EXISTS (SELECT 1 FROM referral_offers o WHERE o.referral_id = r.id
	    AND o.service_id = s.id AND o.status = 'offered') THEN
		PERFORM lib.fail(422, 'service-cannot-serve', 'The service '
		    'holds an open offer of this referral already.',
		    jsonb_build_array(lib.err('service_id', 'holds an open '
		    'offer of this referral already')));
	END IF;
	v_ids := referral.steerable(r, p_body->'needs', 'needs');
	FOR n IN SELECT * FROM referral_needs WHERE id = ANY (v_ids)
	    ORDER BY position LOOP
		v_why := referral.service_refusal(r, s, n.need_code,
		    n.waitlist);
		IF v_why IS NOT NULL THEN
			e := e || lib.err('service_id', n.need_code || ': ' ||
			    v_why);
		END IF;
	END LOOP;
	IF jsonb_array_length(e) > 0 THEN
		PERFORM lib.fail(422, 'service-cannot-serve', 'The service '
		    'cannot serve this client.', e);
	END IF;
	PERFORM referral.offer_make(r, s.id, v_ids, 'coordinator', NULL);
	PERFORM referral.refresh(r.id);
	SELECT * INTO r FROM referrals WHERE id = r.id;
	status := 200;
	body := referral.doc_audited(p_ctx, r, 'offer');
	headers := '{}';
END $$;

/*
 * POST /v1/referrals/{id}/rematch {needs?}: a coordinator runs matching
 * again for needs (default: the unmatched ones); an open offer of them
 * is withdrawn. The worker's referral.match job offers them to the
 * best candidates not offered yet. Audited.
 */
CREATE FUNCTION api.referral_rematch(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	r	referrals;
	v_ids	uuid[];
	v_job	bigint;
	e	jsonb;
BEGIN
	r := referral.lock(p_ctx, (p_args->'path'->>'id')::uuid);
	IF referral.relation(p_ctx, r) <> 'coordinator' THEN
		PERFORM lib.fail(404, 'not-found', 'No such referral.');
	END IF;
	e := coalesce((SELECT jsonb_agg(lib.err(k, 'is not a field of a '
	    're-match')) FROM jsonb_object_keys(coalesce(p_body, '{}')) k
	    WHERE k <> 'needs'), '[]');
	IF jsonb_array_length(e) > 0 THEN
		PERFORM lib.fail(422, 'validation-error', 'Bad re-match.', e);
	END IF;
	IF r.status IN ('cancelled', 'completed') THEN
		PERFORM lib.fail(409, 'invalid-transition', 'This referral is '
		    || r.status || '.');
	END IF;
	v_ids := referral.steerable(r, p_body->'needs', 'needs');
	UPDATE referral_needs SET status = 'pending', unmatched_reason = NULL,
	    updated_at = now() WHERE id = ANY (v_ids);
	INSERT INTO jobs (kind, payload) VALUES ('referral.match',
	    jsonb_build_object('referral_id', r.id, 'need_ids',
	    to_jsonb(v_ids))) RETURNING id INTO v_job;
	PERFORM referral.refresh(r.id);
	SELECT * INTO r FROM referrals WHERE id = r.id;
	status := 200;
	body := referral.doc_audited(p_ctx, r, 'rematch');
	headers := jsonb_build_object('x-concord-jobs', jsonb_build_array(
	    v_job));
END $$;

/*
 * POST /v1/referrals/{id}/widen {task_force_ids}: a coordinator of the
 * referral's task force (directory.tf_is_coord; admins anywhere) widens
 * it to more task forces, after matching too. The ids (1 to 20 active
 * task forces) join widened_to; the referral's unmatched needs become
 * pending and go back to matching (job referral.match), now among the
 * active members of those task forces as well (referral.task_force_allows).
 * Other relations: 404 (a coordinator of other task forces does not see
 * the referral); a coordinator of a task force it is widened to: 403
 * forbidden; 422 for a bad body (no change); 409 for a completed or
 * cancelled referral. Audited as a read of the referral it answers.
 */
CREATE FUNCTION api.referral_widen(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_org	uuid := lib.ctx_org(p_ctx);
	r	referrals;
	t	task_forces;
	v_ids	uuid[];
	v_job	bigint;
	e	jsonb;
BEGIN
	r := referral.lock(p_ctx, (p_args->'path'->>'id')::uuid);
	IF referral.relation(p_ctx, r) <> 'coordinator' THEN
		PERFORM lib.fail(404, 'not-found', 'No such referral.');
	END IF;
	SELECT * INTO t FROM task_forces WHERE id = r.task_force_id;
	IF NOT (lib.has_role(p_ctx, 'admin') OR (t.id IS NOT NULL AND
	    directory.tf_is_coord(p_ctx, t, v_org))) THEN
		PERFORM lib.fail(403, 'forbidden', 'Only a coordinator of the '
		    'referral''s task force widens it.');
	END IF;
	e := lib.check_keys(p_body, '', ARRAY['task_force_ids'], '{}');
	IF jsonb_typeof(p_body->'task_force_ids') IS DISTINCT FROM 'array' OR
	    jsonb_array_length(p_body->'task_force_ids') NOT BETWEEN 1 AND 20
	    OR EXISTS (SELECT 1 FROM jsonb_array_elements(
	    p_body->'task_force_ids') x WHERE NOT lib.is_uuid(x) OR NOT EXISTS
	    (SELECT 1 FROM task_forces y WHERE y.id = (x #>> '{}')::uuid AND
	    y.status = 'active')) THEN
		e := e || lib.err('task_force_ids', 'must be an array of 1 to '
		    '20 active task force ids');
	END IF;
	PERFORM lib.fail_if(e);
	IF r.status IN ('cancelled', 'completed') THEN
		PERFORM lib.fail(409, 'invalid-transition', 'This referral is '
		    || r.status || '.');
	END IF;
	UPDATE referrals SET widened_to = ARRAY(SELECT DISTINCT x FROM
	    unnest(widened_to || ARRAY(SELECT (j #>> '{}')::uuid FROM
	    jsonb_array_elements(p_body->'task_force_ids') j)) x WHERE
	    x IS DISTINCT FROM task_force_id ORDER BY x), updated_at = now()
	    WHERE id = r.id;
	SELECT coalesce(array_agg(id ORDER BY position), '{}') INTO v_ids
	FROM referral_needs WHERE referral_id = r.id AND status = 'unmatched';
	headers := '{}';
	IF cardinality(v_ids) > 0 THEN
		UPDATE referral_needs SET status = 'pending',
		    unmatched_reason = NULL, updated_at = now()
		    WHERE id = ANY (v_ids);
		INSERT INTO jobs (kind, payload) VALUES ('referral.match',
		    jsonb_build_object('referral_id', r.id, 'need_ids',
		    to_jsonb(v_ids))) RETURNING id INTO v_job;
		headers := jsonb_build_object('x-concord-jobs',
		    jsonb_build_array(v_job));
	END IF;
	PERFORM referral.refresh(r.id);
	SELECT * INTO r FROM referrals WHERE id = r.id;
	status := 200;
	body := referral.doc_audited(p_ctx, r, 'widen');
END $$;
