-- worker.sql: the worker's entry points (schema worker, SECURITY DEFINER,
-- executable by concord_worker only): claiming a match job
-- (worker.match_begin), loading the candidates that pass the hard
-- filters (worker.match_candidates, an indexed area prefilter), the
-- reason a need went unmatched, writing the result (worker.match_apply),
-- expiring offers (the referral.expire job; the clocks are in
-- deadlines.sql) and housekeeping.

-- ------------------------------------------------------------------
-- Worker side (role concord_worker)

/*
 * Start matching: the referral and its needs, marked 'matching'.
 * Returns NULL when there is nothing to do (cancelled or already done).
 * A first match (p_needs NULL) assigns the pending needs and only ranks
 * those a directed offer holds (their fallback); a re-match (p_needs:
 * the needs a coordinator or freed capacity sent back) assigns those of
 * them still pending and leaves the others alone ("mode": assign, rank
 * or skip). "interpretation": the need is interpretation itself.
 */
CREATE FUNCTION worker.match_begin(p_id uuid, p_needs uuid[] DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	r referrals;
BEGIN
	SELECT * INTO r FROM referrals WHERE id = p_id FOR UPDATE;
	IF r.id IS NULL OR (p_needs IS NULL AND r.status NOT IN ('received',
	    'matching')) OR r.status IN ('cancelled', 'completed') OR
	    (p_needs IS NOT NULL AND NOT EXISTS (SELECT 1 FROM referral_needs
	    WHERE id = ANY (p_needs) AND referral_id = p_id AND
	    status = 'pending')) THEN
		RETURN NULL;
	END IF;
	IF p_needs IS NULL THEN
		UPDATE referrals SET status = 'matching' WHERE id = p_id;
	END IF;
	RETURN jsonb_build_object('id', r.id, 'urgency', r.urgency,
	    'rematch', p_needs IS NOT NULL, 'interpretation_held', EXISTS (
	    SELECT 1 FROM referral_needs n WHERE n.referral_id = r.id AND
	    n.need_code = 'translation_interpretation' AND n.status IN
	    ('offered', 'accepted', 'completed')),
	    'needs', (SELECT jsonb_agg(jsonb_build_object('id', n.id, 'code',
	    n.need_code, 'waitlist', n.waitlist, 'lang_decisive',
	    n.need_code = 'translation_interpretation' OR (r.languages <> '{}'
	    AND NOT directory.lang_keys(r.languages) &&
	    referral.majority_languages()), 'interpretation',
	    n.need_code = 'translation_interpretation', 'mode',
	    CASE WHEN n.status = 'pending' AND (p_needs IS NULL OR
	    n.id = ANY (p_needs)) THEN 'assign' WHEN p_needs IS NULL AND
	    n.status = 'offered' THEN 'rank' ELSE 'skip' END)
	    ORDER BY n.position)
	    FROM referral_needs n WHERE n.referral_id = r.id));
END $$;

/*
 * Language access of the candidates p_services for referral p_id:
 * pair (it interprets between the client's language and the task
 * force's: referral.language_pair) and interpretation (its own
 * interpreters or its organization's interpretation service:
 * referral.interpretation_at). Kept apart from match_candidates,
 * which stays the one query of the hard filters.
 */
CREATE FUNCTION worker.match_language(p_id uuid, p_services uuid[])
RETURNS TABLE (service_id uuid, pair boolean, interpretation boolean)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
DECLARE
	r	referrals;
BEGIN
	SELECT * INTO r FROM referrals WHERE id = p_id;
	RETURN QUERY SELECT s.id, referral.language_pair(r, s),
	    referral.interpretation_at(r, s)
	FROM services s WHERE s.id = ANY (p_services);
END $$;

/*
 * Services that pass every hard filter for at least one need: active,
 * accepting referrals, of an active member of the referral's task force
 * or one it was widened to (referral.task_force_allows, taskforces.sql),
 * of another organization than the sender's (an
 * organization is never offered its own referral), covering the need, serving the client's age,
 * gender and trafficking type, with the client inside the service area
 * and capacity left (or the need waitlisted). needs_mask bit i = need i.
 * The area test runs first through indexes (a GiST box around the
 * client as wide as the widest service radius, the jurisdiction and its
 * prefixes, services without an area); the 200 nearest at most.
 */
CREATE FUNCTION worker.match_candidates(p_id uuid)
RETURNS TABLE (service_id uuid, organization_id uuid, needs_mask integer,
    distance_km double precision, lang_match boolean, open_now boolean,
    open_24_7 boolean, available integer, total integer,
    accept_rate double precision, median_response_h double precision)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY

	WITH r AS (SELECT * FROM referrals WHERE id = p_id),
	n AS (SELECT position, need_code, waitlist FROM referral_needs
	    WHERE referral_id = p_id),
	area AS MATERIALIZED (
	    SELECT s.id FROM services s, r
	    WHERE r.lat IS NOT NULL AND s.area_radius_km IS NOT NULL AND
		s.deleted_at IS NULL AND
		public.earth_box(store.ll_earth(r.lat, r.lon),
		    (SELECT max(area_radius_km) FROM services WHERE
		    deleted_at IS NULL) * 1000) @>
		store.ll_earth(s.area_lat, s.area_lon) AND
		directory.km(r.lat, r.lon, s.area_lat, s.area_lon) <=
		s.area_radius_km AND
		s.need_cover && (SELECT array_agg(need_code) FROM n)
	    UNION
	    SELECT s.id FROM services s, r
	    WHERE r.jurisdiction IS NOT NULL AND s.area_jurisdictions &&
		referral.jurisdiction_prefixes(r.jurisdiction)
	    UNION
	    SELECT s.id FROM services s WHERE s.area_jurisdictions = '{}' AND
		s.area_radius_km IS NULL AND s.deleted_at IS NULL
	),
	s AS MATERIALIZED (
	    SELECT s.*, (SELECT bit_or(1 << n.position) FROM n WHERE
		s.need_cover @> ARRAY[n.need_code] AND (n.waitlist OR
		s.capacity_total IS NULL OR s.capacity_available > 0))
		AS mask,
		CASE WHEN r.lat IS NOT NULL AND s.geo_lat IS NOT NULL THEN
		directory.km(r.lat, r.lon, s.geo_lat, s.geo_lon) END AS km
	    FROM area JOIN services s ON s.id = area.id CROSS JOIN r
	    WHERE s.deleted_at IS NULL AND s.status = 'active' AND
		s.accepts_referrals AND s.organization_id <> r.sender_org AND
		/* Active members of the referral's task forces only. */
		referral.task_force_allows(r.task_force_id, r.widened_to,
		    s.organization_id) AND
		s.need_cover && (SELECT array_agg(need_code) FROM n) AND
		(r.age IS NULL OR (coalesce(s.age_min, 0) <= r.age AND
		    coalesce(s.age_max, 200) >= r.age)) AND
		(r.age IS NOT NULL OR r.minor IS NULL OR (r.minor AND
		    coalesce(s.age_min, 0) < 18) OR (NOT r.minor AND
		    coalesce(s.age_max, 200) >= 18)) AND
		(r.gender IS NULL OR r.gender = 'unknown' OR s.genders = '{}'
		    OR r.gender = ANY (s.genders)) AND
		(r.trafficking_type = 'unknown' OR s.trafficking_types @>
		    CASE r.trafficking_type WHEN 'both' THEN '{sex,labor}'
		    ELSE ARRAY[r.trafficking_type] END)
	)
	SELECT s.id, s.organization_id, s.mask, s.km,
	    s.lang_match && directory.lang_keys(r.languages),
	    directory.open_at(s.hours, s.timezone, now()), s.open_24_7,
	    s.capacity_available, s.capacity_total,
	    rec.rate::float8, rec.median_h::float8
	FROM s JOIN organizations o ON o.id = s.organization_id AND
	    o.status = 'active' CROSS JOIN r CROSS JOIN LATERAL (
	    SELECT avg(CASE WHEN x.status = 'accepted' THEN 1.0 ELSE 0.0 END)
		AS rate,
		percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM
		x.responded_at - x.created_at) / 3600.0) FILTER (WHERE
		x.status IN ('accepted', 'declined')) AS median_h
	    FROM (SELECT status, responded_at, created_at FROM referral_offers
		WHERE referral_offers.organization_id = s.organization_id AND
		responded_at IS NOT NULL ORDER BY responded_at DESC LIMIT 100)
		x) rec
	WHERE s.mask IS NOT NULL
	ORDER BY s.km NULLS LAST, s.id
	LIMIT 200;
END $$;

/* Why nobody can take this need: the first hard filter that leaves none. */
CREATE FUNCTION worker.match_unmatched_reason(p_id uuid, p_code text)
RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
DECLARE
	r	referrals;
	v_n	integer;
	v_label	text;
	v_who	text;
BEGIN
	SELECT * INTO r FROM referrals WHERE id = p_id;
	SELECT label INTO v_label FROM need_taxonomy WHERE code = p_code;
	v_who := CASE r.trafficking_type WHEN 'sex' THEN 'sex trafficking '
	    'survivors' WHEN 'labor' THEN 'labor trafficking survivors'
	    WHEN 'both' THEN 'survivors of sex and labor trafficking'
	    ELSE 'this client' END;
	SELECT count(*) INTO v_n FROM services s JOIN organizations o ON
	    o.id = s.organization_id WHERE s.need_cover @> ARRAY[p_code] AND
	    s.deleted_at IS NULL AND s.status = 'active' AND o.status =
	    'active' AND s.accepts_referrals AND o.id <> r.sender_org;
	IF v_n = 0 THEN
		RETURN 'no active provider accepting referrals offers ' ||
		    v_label;
	END IF;
	/* The referral's task forces (taskforces.sql). */
	SELECT count(*) INTO v_n FROM services s JOIN organizations o ON
	    o.id = s.organization_id WHERE s.need_cover @> ARRAY[p_code] AND
	    s.deleted_at IS NULL AND s.status = 'active' AND o.status =
	    'active' AND s.accepts_referrals AND o.id <> r.sender_org AND
	    referral.task_force_allows(r.task_force_id, r.widened_to, o.id);
	IF v_n = 0 THEN
		RETURN 'no active member of the referral''s task force offers '
		    || v_label;
	END IF;
	SELECT count(*) INTO v_n FROM services s JOIN organizations o ON
	    o.id = s.organization_id WHERE s.need_cover @> ARRAY[p_code] AND
	    s.deleted_at IS NULL AND s.status = 'active' AND o.status =
	    'active' AND s.accepts_referrals AND o.id <> r.sender_org AND
	    (r.age IS NULL OR (coalesce(s.age_min, 0) <= r.age AND
		coalesce(s.age_max, 200) >= r.age)) AND
	    (r.gender IS NULL OR r.gender = 'unknown' OR s.genders = '{}' OR
		r.gender = ANY (s.genders)) AND
	    (r.trafficking_type = 'unknown' OR s.trafficking_types @>
		CASE r.trafficking_type WHEN 'both' THEN '{sex,labor}'
		ELSE ARRAY[r.trafficking_type] END);
	IF v_n = 0 THEN
		RETURN 'no provider of ' || v_label || ' serves ' || v_who ||
		    CASE WHEN r.age IS NOT NULL THEN ' aged ' || r.age ELSE ''
		    END || CASE WHEN r.gender IS NOT NULL AND r.gender <>
		    'unknown' THEN ' (' || r.gender || ')' ELSE '' END;
	END IF;
	RETURN 'no provider of ' || v_label || ' serving ' || v_who ||
	    ' covers ' || coalesce(CASE WHEN r.lat IS NOT NULL THEN
	    'the client''s location' END, 'jurisdiction ' || r.jurisdiction) ||
	    ' with capacity left' || CASE WHEN r.languages <> '{}' THEN
	    ' in ' || array_to_string(r.languages, '/') ELSE '' END;
END $$;

/*
 * Record the matcher's result and make the first offers, in the
 * worker's job transaction. p_result: {"needs": [{"id", "assigned":
 * service id or null, "ranked": [{"service_id", "organization_id",
 * "score", "components", "distance_km"}]}]}. Needs assigned to the same
 * service share one offer. Returns the expiry job ids.
 */
CREATE FUNCTION worker.match_apply(p_id uuid, p_result jsonb)
RETURNS bigint[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	r	referrals;
	x	jsonb;
	c	jsonb;
	k	integer;
	g	record;
	f	referral_offers;
	v_job	bigint;
	v_jobs	bigint[] := '{}';
	v_again	uuid[];
BEGIN
	SELECT * INTO r FROM referrals WHERE id = p_id FOR UPDATE;
	FOR x IN SELECT * FROM jsonb_array_elements(p_result->'needs') LOOP
		/* A re-match ranks anew. */
		DELETE FROM referral_candidates WHERE referral_need_id =
		    (x->>'id')::uuid;
		k := 0;
		FOR c IN SELECT * FROM jsonb_array_elements(x->'ranked') LOOP
			INSERT INTO referral_candidates (referral_need_id, rank,
			    service_id, organization_id, score, components,
			    distance_km, language_access)
			VALUES ((x->>'id')::uuid, k, (c->>'service_id')::uuid,
			    (c->>'organization_id')::uuid,
			    (c->>'score')::float8, c->'components',
			    (c->>'distance_km')::float8,
			    c->>'language_access');
			k := k + 1;
		END LOOP;
		IF x->>'assigned' IS NULL AND NOT coalesce((x->>'rank_only')::
		    boolean, false) THEN
			UPDATE referral_needs SET status = 'unmatched',
			    unmatched_reason = worker.match_unmatched_reason(
			    p_id, need_code), updated_at = now()
			    WHERE id = (x->>'id')::uuid AND status = 'pending';
			/* Coordinators heard of a need that waits already. */
			IF FOUND AND NOT coalesce((p_result->>'rematch')::
			    boolean, false) THEN
				PERFORM lib.notify_referral(NULL, 'coordinator',
				    'referral.unmatched', p_id,
				    jsonb_build_object('need', need_code,
				    'status', 'unmatched'))
				    FROM referral_needs WHERE id =
				    (x->>'id')::uuid;
			END IF;
		END IF;
	END LOOP;
	/*
	 * A service offered this referral before (it declined, let its
	 * offer expire, or holds one) is not offered again by matching:
	 * those needs go to their next ranked candidate (referral.reoffer).
	 */
	SELECT coalesce(array_agg((a->>'id')::uuid), '{}') INTO v_again
	FROM jsonb_array_elements(p_result->'needs') a
	WHERE a->>'assigned' IS NOT NULL AND EXISTS (SELECT 1 FROM
	    referral_offers o WHERE o.referral_id = p_id AND
	    o.service_id = (a->>'assigned')::uuid);
	FOR g IN SELECT (a->>'assigned')::uuid AS service_id,
	    array_agg((a->>'id')::uuid) AS needs
	    FROM jsonb_array_elements(p_result->'needs') a
	    WHERE a->>'assigned' IS NOT NULL AND NOT (a->>'id')::uuid =
	    ANY (v_again) GROUP BY 1 LOOP
		INSERT INTO referral_offers (referral_id, service_id,
		    organization_id, need_ids, score, expires_at)
		SELECT p_id, s.id, s.organization_id, g.needs,
		    (SELECT max(score) FROM referral_candidates WHERE
		    referral_need_id = ANY (g.needs) AND service_id = s.id),
		    now() + referral.offer_window(r.urgency,
		    s.response_time_hours)
		FROM services s WHERE s.id = g.service_id
		RETURNING * INTO f;
		UPDATE referral_needs SET status = 'offered', updated_at = now()
		    WHERE id = ANY (g.needs);
		INSERT INTO jobs (kind, payload, run_after) VALUES
		    ('referral.expire', jsonb_build_object('offer_id', f.id),
		    f.expires_at) RETURNING id INTO v_job;
		v_jobs := v_jobs || v_job;
		PERFORM lib.notify_referral(f.organization_id, NULL,
		    'referral.offered', p_id, jsonb_build_object('offer_id',
		    f.id, 'status', 'offered', 'expires_at', f.expires_at));
	END LOOP;
	UPDATE referrals SET status = CASE WHEN status IN ('received',
	    'matching') THEN 'offered' ELSE status END, match_runs =
	    match_runs + 1, matched_at = coalesce(matched_at,
	    clock_timestamp()) WHERE id = p_id;
	IF cardinality(v_again) > 0 THEN
		v_jobs := v_jobs || referral.reoffer(p_id, v_again);
	END IF;
	PERFORM referral.refresh(p_id);
	RETURN v_jobs;
END $$;

/*
 * The referral.expire job: an offer's response window ended. The same
 * step as the deadline sweep's (worker.offer_expire_at, key
 * offer:<id>:expire), so whichever comes first expires it, once.
 * Returns {"expired": 0 or 1}.
 */
CREATE FUNCTION worker.offer_expire(p_offer uuid) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
	RETURN jsonb_build_object('expired', worker.offer_expire_at(p_offer,
	    now(), 'job', true));
END $$;

/* Housekeeping: idempotency keys are kept 48 hours (at least 24). */
CREATE FUNCTION worker.housekeeping() RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
	WITH d AS (DELETE FROM idempotency_keys WHERE created_at < now() -
	    interval '48 hours' RETURNING 1)
	SELECT count(*)::integer FROM d
$$;

/*
 * The referral.rematch_waiting job: capacity of service p_service freed
 * up. Needs waiting (unmatched) that it could take now go back to
 * matching, the most urgent and then the oldest first, as many as it
 * has room for (20 at most for a service without tracked capacity); a
 * referral directed without fallback keeps its sender's choice. Each
 * referral gets a referral.match job for its needs. Returns {"needs":
 * n, "jobs": [ids]}.
 */
CREATE FUNCTION worker.rematch_waiting(p_service uuid) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	s	services;
	v_room	integer;
	v_n	integer := 0;
	v_jobs	bigint[] := '{}';
	v_job	bigint;
	g	record;
BEGIN
	SELECT * INTO s FROM services WHERE id = p_service;
	v_room := CASE WHEN s.capacity_total IS NULL THEN 20
	    ELSE s.capacity_available END;
	IF s.id IS NULL OR coalesce(v_room, 0) <= 0 THEN
		RETURN jsonb_build_object('needs', 0, 'jobs', '[]'::jsonb);
	END IF;
	FOR g IN WITH w AS (
		SELECT n.id, n.referral_id, r.urgency, r.created_at
		FROM referral_needs n JOIN referrals r ON r.id = n.referral_id
		WHERE n.status = 'unmatched' AND n.need_code = ANY
		    (s.need_cover) AND r.status NOT IN ('cancelled',
		    'completed') AND (r.directed_service_ids = '{}' OR
		    r.directed_fallback) AND
		    referral.service_refusal(r, s, n.need_code, n.waitlist)
		    IS NULL
		ORDER BY CASE r.urgency WHEN 'emergency' THEN 0 WHEN 'urgent'
		    THEN 1 ELSE 2 END, r.created_at, n.position
		LIMIT v_room FOR UPDATE OF r, n SKIP LOCKED)
	    SELECT w.referral_id, array_agg(w.id) AS needs FROM w
	    GROUP BY w.referral_id LOOP
		UPDATE referral_needs SET status = 'pending', unmatched_reason =
		    NULL, updated_at = now() WHERE id = ANY (g.needs);
		PERFORM referral.refresh(g.referral_id);
		INSERT INTO jobs (kind, payload) VALUES ('referral.match',
		    jsonb_build_object('referral_id', g.referral_id,
		    'need_ids', to_jsonb(g.needs))) RETURNING id INTO v_job;
		v_jobs := v_jobs || v_job;
		v_n := v_n + cardinality(g.needs);
	END LOOP;
	RETURN jsonb_build_object('needs', v_n, 'jobs', to_jsonb(v_jobs));
END $$;
