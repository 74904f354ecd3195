-- 0006 QA fixes (tests/api/test_qa.py).

/*
 * A timestamp from a date or RFC 3339 text, or NULL when PostgreSQL
 * cannot read it (a month 13, an offset +99:99): never raises.
 */
CREATE OR REPLACE FUNCTION api.try_ts_any(p_text text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN p_text::timestamptz;
EXCEPTION WHEN OTHERS THEN
	RETURN NULL;
END $$;

/*
 * The categories a referral's consent may record on its case. Only the
 * lead organization records consents for personal data (identity,
 * contact, location): a referral about an existing case sent by anyone
 * else carries case_details and needs at most. A case born from this
 * referral's inline profile holds only what the sender sent itself.
 */
CREATE OR REPLACE FUNCTION referral.grantable(r referrals) RETURNS text[]
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN c.lead_org = r.sender_org OR c.created_at >=
	    r.created_at THEN r.consent_categories
	    ELSE ARRAY(SELECT x FROM unnest(r.consent_categories) x
	    WHERE x IN ('case_details', 'needs')) END
	FROM cases c WHERE c.id = r.case_id
$$;

/*
 * Every data exception (class 22) comes from a value the client sent
 * (a time zone offset +99:99 was a 500): 422, like the ones listed.
 */
CREATE OR REPLACE FUNCTION api.call(p_fn text, p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body text, OUT headers jsonb)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	r	record;
	v_state	text;
	v_msg	text;
	v_det	text;
	v_cons	text;
	v_djson	jsonb;
BEGIN
	IF p_fn !~ '^[a-z][a-z0-9_]*$' OR to_regprocedure('api.' || p_fn ||
	    '(jsonb,jsonb,jsonb)') IS NULL THEN
		RAISE EXCEPTION 'unknown api function %', p_fn;
	END IF;
	/*
	 * A GET writes nothing but its audit records: those may commit
	 * without waiting for the WAL flush (losing at most the last
	 * fraction of a second of read records if PostgreSQL crashes).
	 */
	IF p_ctx->>'method' IN ('GET', 'HEAD') THEN
		PERFORM set_config('synchronous_commit', 'off', true);
	END IF;
	BEGIN
		EXECUTE format('SELECT * FROM api.%I($1, $2, $3)', p_fn)
		    INTO r USING p_ctx, p_args, p_body;
		status := r.status;
		body := r.body::text;
		headers := r.headers;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE,
		    v_msg = MESSAGE_TEXT, v_det = PG_EXCEPTION_DETAIL,
		    v_cons = CONSTRAINT_NAME;
		IF v_state LIKE 'CN%' THEN
			status := substr(v_state, 3)::integer;
			v_djson := v_det::jsonb;
			body := api.problem(status, v_msg, v_djson->>'detail',
			    v_djson->'errors', p_ctx)::text;
		ELSIF v_state = '23505' THEN
			status := 409;
			body := api.problem(409, 'conflict', 'A record with '
			    'the same unique value exists (' ||
			    coalesce(v_cons, 'unique') || ').', NULL,
			    p_ctx)::text;
		ELSIF v_state IN ('23514', '23502', '23503', '22P02',
		    '22007', '22008', '22003', '22001', '22023', '2201G',
		    '22P05', '22004', '22012') OR v_state LIKE '22%' THEN
			status := 422;
			body := api.problem(422, 'validation-error',
			    'A value is out of range or of the wrong type' ||
			    CASE WHEN v_cons IS NOT NULL THEN ' (' || v_cons ||
			    ')' ELSE '' END || '.', NULL, p_ctx)::text;
		ELSE
			RAISE;
		END IF;
	END;
	IF status >= 400 THEN
		headers := NULL;
	END IF;
END $$;

-- GET /v1/referrals?since= that PostgreSQL cannot read was a 500.
CREATE OR REPLACE FUNCTION api.referral_list(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
	v_org	uuid := api.require_org(p_ctx);
	v_all	boolean := api.has_role(p_ctx, 'coordinator') OR
		    api.has_role(p_ctx, 'admin');
	v_lim	text := referral.q(p_args, 'limit');
	v_st	text := referral.q(p_args, 'status');
	v_since	text := referral.q(p_args, 'since');
	v_cur	text := referral.q(p_args, 'cursor');
	v_ct	timestamptz;
	v_cid	uuid;
	v_n	integer;
	v_items	jsonb := '[]';
	v_last	referrals;
	e	jsonb := '[]';
	k	text;
	r	referrals;
	v_i	integer := 0;
BEGIN
	FOR k IN SELECT jsonb_object_keys(coalesce(p_args->'query', '{}')) LOOP
		IF k <> ALL ('{limit,cursor,status,since}'::text[]) THEN
			e := e || api.err(k, 'is not a filter of this list');
		END IF;
	END LOOP;
	IF v_lim IS NOT NULL AND (v_lim !~ '^[0-9]{1,3}$' OR v_lim::integer
	    NOT BETWEEN 1 AND 100) THEN
		e := e || api.err('limit', 'must be 1..100');
	END IF;
	IF v_st IS NOT NULL AND v_st <> ALL ('{received,matching,offered,'
	    'in_progress,completed,cancelled,unmatched}'::text[]) THEN
		e := e || api.err('status', 'is not a referral status');
	END IF;
	IF v_since IS NOT NULL AND (v_since !~
	    '^\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?)?$'
	    OR api.try_ts_any(v_since) IS NULL) THEN
		e := e || api.err('since', 'must be an RFC 3339 date or time');
	END IF;
	IF v_cur IS NOT NULL THEN
		BEGIN
			v_ct := split_part(convert_from(decode(v_cur, 'base64'),
			    'UTF8'), '|', 1)::timestamptz;
			v_cid := split_part(convert_from(decode(v_cur,
			    'base64'), 'UTF8'), '|', 2)::uuid;
		EXCEPTION WHEN OTHERS THEN
			e := e || api.err('cursor', 'is not a cursor from this '
			    'list');
		END;
	END IF;
	IF jsonb_array_length(e) > 0 THEN
		PERFORM api.fail(422, 'validation-error', 'Bad list filters.',
		    e);
	END IF;
	v_n := coalesce(v_lim::integer, 50);
	FOR r IN SELECT * FROM referrals x
	    WHERE (v_all OR x.sender_org = v_org OR (NOT api.has_role(p_ctx,
		'hotline') AND NOT api.has_role(p_ctx, 'analyst') AND EXISTS (
		SELECT 1 FROM referral_offers o WHERE o.referral_id = x.id AND
		o.organization_id = v_org)))
	    AND (v_st IS NULL OR x.status = v_st)
	    AND (v_since IS NULL OR x.created_at >= v_since::timestamptz)
	    AND (v_ct IS NULL OR (x.created_at, x.id) < (v_ct, v_cid))
	    ORDER BY x.created_at DESC, x.id DESC LIMIT v_n + 1 LOOP
		v_i := v_i + 1;
		EXIT WHEN v_i > v_n;
		v_items := v_items || referral.doc(p_ctx, r);
		v_last := r;
	END LOOP;
	status := 200;
	body := jsonb_build_object('items', v_items, 'next_cursor',
	    CASE WHEN v_i > v_n THEN encode(convert_to(v_last.created_at::text
	    || '|' || v_last.id, 'UTF8'), 'base64') END);
	headers := '{}';
END $$;

-- The admin job routes ignored an inactive organization in the token.
CREATE OR REPLACE FUNCTION api.admin_jobs(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
	v_org	uuid := api.require_org(p_ctx);
	v_st	text := referral.q(p_args, 'state');
	v_kind	text := referral.q(p_args, 'kind');
	v_lim	text := referral.q(p_args, 'limit');
	e	jsonb := '[]';
BEGIN
	IF v_st IS NOT NULL AND v_st <> ALL ('{pending,running,done,dead}'
	    ::text[]) THEN
		e := e || api.err('state', 'must be pending, running, done or '
		    'dead');
	END IF;
	IF v_lim IS NOT NULL AND (v_lim !~ '^[0-9]{1,3}$' OR v_lim::integer
	    NOT BETWEEN 1 AND 100) THEN
		e := e || api.err('limit', 'must be 1..100');
	END IF;
	IF jsonb_array_length(e) > 0 THEN
		PERFORM api.fail(422, 'validation-error', 'Bad filters.', e);
	END IF;
	status := 200;
	body := jsonb_build_object('items', coalesce((SELECT jsonb_agg(
	    jsonb_build_object('id', j.id, 'kind', j.kind, 'state', j.state,
	    'attempts', j.attempts, 'run_after', j.run_after, 'last_error',
	    j.last_error, 'created_at', j.created_at, 'updated_at',
	    j.updated_at) ORDER BY j.id DESC) FROM (SELECT * FROM jobs WHERE
	    (v_st IS NULL OR state = v_st) AND (v_kind IS NULL OR kind =
	    v_kind) ORDER BY id DESC LIMIT coalesce(v_lim::integer, 50)) j),
	    '[]'));
	headers := '{}';
END $$;

CREATE OR REPLACE FUNCTION api.admin_job_retry(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_org	uuid := api.require_org(p_ctx);
	j	jobs;
BEGIN
	SELECT * INTO j FROM jobs WHERE id = (p_args->'path'->>'id')::bigint
	    FOR UPDATE;
	IF j.id IS NULL THEN
		PERFORM api.fail(404, 'not-found', 'No such job.');
	END IF;
	IF j.state NOT IN ('dead', 'pending') THEN
		PERFORM api.fail(409, 'invalid-transition', 'Only dead or '
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

-- Accepting a referral recorded whatever consent its sender wrote, and
-- wrote that consent without an audit record.
CREATE OR REPLACE FUNCTION referral.on_accept(p_ctx jsonb, p_referral uuid,
    p_offer uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	x	record;
	r	referrals;
	f	referral_offers;
	c	cases;
	k	consents;
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
		PERFORM api.audit(p_ctx, 'create', 'case', c.id,
		    ARRAY['case_details']);
	END IF;
	IF r.case_id IS NOT NULL AND r.consent_expires_at > now() AND
	    f.organization_id IS DISTINCT FROM (SELECT lead_org FROM cases
	    WHERE id = r.case_id) THEN
		INSERT INTO consents (case_id, categories, shared_with_org,
		    purpose, informed, written, form_ref, granted_at,
		    expires_at, recorded_by, recorded_by_org)
		VALUES (r.case_id, referral.grantable(r), f.organization_id,
		    coalesce(r.consent_purpose, 'referral'), true, true,
		    r.consent_form_reference, least(r.created_at, now()),
		    r.consent_expires_at, r.sender_sub, r.sender_org)
		    RETURNING * INTO k;
		PERFORM api.audit(p_ctx, 'create', 'consent', k.id,
		    k.categories);
	END IF;
	FOR x IN SELECT n.need_code FROM referral_needs n
	    WHERE n.id = ANY (f.need_ids) ORDER BY n.position LOOP
		PERFORM api.case_need_mirror(p_ctx, r.case_id, x.need_code,
		    'in_progress');
	END LOOP;
END $$;

/*
 * Lock order: the referral, then its offers (cancel and complete take
 * the referral first). Accept and decline took the offer first, so an
 * accept racing a cancel deadlocked (40P01, a 500); the expiry job too.
 */
CREATE OR REPLACE FUNCTION referral.offer_for_caller(p_ctx jsonb,
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
	    api.ctx_org(p_ctx) THEN
		PERFORM api.fail(404, 'not-found', 'No such offer for your '
		    'organization.');
	END IF;
	RETURN f;
END $$;

CREATE OR REPLACE FUNCTION worker.offer_expire(p_offer uuid) RETURNS bigint[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	f	referral_offers;
BEGIN
	PERFORM 1 FROM referrals WHERE id = (SELECT referral_id FROM
	    referral_offers WHERE id = p_offer) FOR UPDATE;
	SELECT * INTO f FROM referral_offers WHERE id = p_offer FOR UPDATE;
	IF f.id IS NULL OR f.status <> 'offered' OR f.expires_at > now() THEN
		RETURN '{}';
	END IF;
	UPDATE referral_offers SET status = 'expired' WHERE id = f.id;
	UPDATE referral_needs SET status = 'pending', updated_at = now()
	    WHERE id = ANY (f.need_ids) AND status = 'offered';
	INSERT INTO notifications (audience_role, kind, payload) VALUES
	    ('coordinator', 'referral.offer_expired', jsonb_build_object(
	    'referral_id', f.referral_id, 'offer_id', f.id));
	RETURN referral.reoffer(f.referral_id, f.need_ids);
END $$;

/*
 * GET /v1/cases?need=: a case whose needs the caller cannot see was
 * skipped after it counted for the page, so next_cursor (its seq) told
 * the caller it has that need. The filter now sees only visible needs.
 */
CREATE OR REPLACE FUNCTION api.case_list(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := api.require_org(p_ctx);
	v_coord	boolean := api.is_coord(p_ctx);
	v_limit	integer;
	v_after	bigint;
	v_st	text;
	v_need	text;
	v_lead	uuid;
	v_since	timestamptz;
	v_items	jsonb := '[]';
	v_last	bigint;
	v_n	integer := 0;
	c	cases;
	v_cats	text[];
BEGIN
	PERFORM api.query_allow(p_args, ARRAY['status', 'need', 'lead_org_id',
	    'updated_since', 'limit', 'cursor']);
	v_limit := api.page_limit(p_args);
	v_after := api.page_cursor(p_args);
	v_st := api.query_enum(p_args, 'status', ARRAY['open', 'closed']);
	v_need := api.query_text(p_args, 'need');
	v_lead := api.query_uuid(p_args, 'lead_org_id');
	v_since := api.query_ts(p_args, 'updated_since');
	FOR c IN SELECT * FROM cases x
	    WHERE (v_after IS NULL OR x.seq > v_after)
	    AND (v_st IS NULL OR x.status = v_st)
	    AND (v_lead IS NULL OR x.lead_org = v_lead)
	    AND (v_since IS NULL OR x.updated_at >= v_since)
	    AND (v_coord OR x.id IN (SELECT v.case_id FROM case_visible_orgs v
	        WHERE v.org_id = v_org))
	    AND (v_need IS NULL OR (EXISTS (SELECT 1 FROM case_needs n
	        WHERE n.case_id = x.id AND n.code = v_need) AND 'needs' = ANY (
	        api.case_categories(p_ctx, x.id, x.lead_org, v_org))))
	    ORDER BY x.seq LIMIT v_limit + 1 LOOP
		v_n := v_n + 1;
		EXIT WHEN v_n > v_limit;
		v_last := c.seq;
		v_cats := api.case_categories(p_ctx, c.id, c.lead_org, v_org);
		v_items := v_items || api.case_doc(c, v_cats, true);
		PERFORM api.audit(p_ctx, 'list', 'case', c.id, array_remove(
		    array_remove(array_remove(v_cats, 'identity'), 'contact'),
		    'location'));
	END LOOP;
	status := 200;
	-- One row past the page was fetched only to know a next page exists.
	body := jsonb_build_object('items', v_items, 'next_cursor',
	    CASE WHEN v_n > v_limit THEN v_last::text END);
	headers := '{}';
END $$;

/*
 * Hotlines and analysts never read cases: a hotline of the lead
 * organization read a case's profile by sending a referral about it.
 * Only the roles that read cases (api/routes.c CASE_READERS) may.
 */
CREATE OR REPLACE FUNCTION referral.case_profile(p_ctx jsonb, p_case uuid)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	v_org	uuid := api.ctx_org(p_ctx);
	c	cases;
BEGIN
	SELECT * INTO c FROM cases WHERE id = p_case;
	IF c.id IS NULL OR NOT coalesce(p_ctx->'roles' ?| ARRAY['admin',
	    'coordinator', 'case_manager', 'provider', 'investigator',
	    'prosecutor'], false) OR
	    NOT api.case_visible(p_ctx, p_case, v_org) OR
	    NOT ('case_details' = ANY (api.case_categories(p_ctx, c.id,
	    c.lead_org, v_org))) THEN
		PERFORM api.fail(422, 'validation-error', 'No visible case has '
		    'this id.', jsonb_build_array(api.err('case_id',
		    'is not a case you can see')));
	END IF;
	PERFORM api.audit(p_ctx, 'read', 'case', c.id, ARRAY['case_details']);
	RETURN jsonb_strip_nulls(jsonb_build_object('age', c.age,
	    'minor', CASE c.age_group WHEN 'minor' THEN true
	    WHEN 'adult' THEN false END, 'gender', c.gender,
	    'languages', to_jsonb(c.languages), 'trafficking_type',
	    c.trafficking_type, 'jurisdiction', c.jurisdiction));
END $$;

/*
 * Re-offers skip services of organizations deactivated since matching
 * (matching itself leaves them out).
 */
CREATE OR REPLACE FUNCTION referral.reoffer(p_referral uuid, p_needs uuid[])
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
		SELECT rc.*, s.response_time_hours INTO c
		FROM referral_candidates rc JOIN services s ON
		    s.id = rc.service_id JOIN organizations o ON
		    o.id = s.organization_id AND o.status = 'active'
		WHERE rc.referral_need_id = n.id AND s.deleted_at IS NULL AND
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
			INSERT INTO notifications (audience_role, kind, payload)
			    VALUES ('coordinator', 'referral.unmatched',
			    jsonb_build_object('referral_id', p_referral,
			    'need', n.need_code));
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
		INSERT INTO notifications (organization_id, kind, payload)
		    VALUES (f.organization_id, 'referral.offered',
		    jsonb_build_object('referral_id', p_referral, 'offer_id',
		    f.id));
	END LOOP;
	PERFORM referral.refresh(p_referral);
	RETURN v_jobs;
END $$;
