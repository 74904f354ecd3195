-- 0005 cases meet referrals (replaces the hooks 0004 left for them):
--  * an organization whose offer on an open referral about a case was
--    accepted sees that case (object level) while the referral is open;
--    the fields it sees still follow consents (sql/0003_cases.sql);
--  * a referral by case_id takes its client profile from the case's
--    reporting data, only for callers who see the case's case_details;
--  * accepting and completing a referral's needs moves the case's needs
--    (in_progress, then met / unmet / declined_by_client), with history
--    and audit records naming the provider that did it.
-- It also trims the audit log's indexes (see below).

-- Audit tuning (0003 is applied as landed): every read appends a row,
-- so keep the fewest indexes. Object ids are UUIDs, so the object index
-- serves object_type too; `since` scans back from the newest id.
DROP INDEX audit_log_object_idx;
DROP INDEX audit_log_at_idx;
REVOKE EXECUTE ON FUNCTION audit_row_hash(text, bigint, timestamptz, text,
    uuid, text[], text, text, uuid, text[], text), audit_verify(),
    audit_log_refuse() FROM PUBLIC;

CREATE OR REPLACE VIEW case_visible_orgs AS
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
	    AND r.status NOT IN ('completed', 'cancelled', 'unmatched');

CREATE INDEX referral_offers_accepted_idx ON referral_offers
    (organization_id, referral_id) WHERE status = 'accepted';

/*
 * Set a case's need for p_code to p_status as the caller in p_ctx:
 * inserts the need when the case lacks it, records history and audits.
 * Criminal-justice codes and unchanged statuses are left alone.
 */
CREATE FUNCTION api.case_need_mirror(p_ctx jsonb, p_case uuid, p_code text,
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
		PERFORM api.audit(p_ctx, 'create', 'need', n.id,
		    ARRAY['code', 'status']);
	ELSIF n.status = p_status THEN
		RETURN;
	ELSE
		UPDATE case_needs SET status = p_status, version = version + 1,
		    updated_at = now() WHERE id = n.id RETURNING * INTO n;
		PERFORM api.audit(p_ctx, 'update', 'need', n.id, ARRAY['status']);
	END IF;
	INSERT INTO case_need_history (need_id, case_id, status,
	    changed_by_sub, changed_by_org) VALUES (n.id, p_case, p_status,
	    p_ctx->>'sub', api.ctx_org(p_ctx));
	UPDATE cases SET updated_at = now() WHERE id = p_case;
END $$;

/*
 * The categories a referral's consent may record on its case. Only the
 * lead organization records consents for personal data (identity,
 * contact, location): a referral about an existing case sent by anyone
 * else carries case_details and needs at most. A case born from this
 * referral's inline profile holds only what the sender sent itself.
 */
CREATE FUNCTION referral.grantable(r referrals) RETURNS text[]
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN c.lead_org = r.sender_org OR c.created_at >=
	    r.created_at THEN r.consent_categories
	    ELSE ARRAY(SELECT x FROM unnest(r.consent_categories) x
	    WHERE x IN ('case_details', 'needs')) END
	FROM cases c WHERE c.id = r.case_id
$$;

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
 * An offer was accepted. A referral with an inline profile becomes a case
 * when a victim-services organization accepts it (that organization
 * leads it; other kinds help without a case of their own until one
 * exists); the client's consent to be referred is recorded on the case
 * for the accepting organization; the case's needs move to in_progress.
 */
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

CREATE OR REPLACE FUNCTION referral.on_complete(p_ctx jsonb, p_referral uuid,
    p_need text, p_outcome text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM api.case_need_mirror(p_ctx, (SELECT case_id FROM referrals
	    WHERE id = p_referral), p_need, CASE p_outcome
	    WHEN 'need_met' THEN 'met' WHEN 'need_not_met' THEN 'unmet'
	    WHEN 'client_declined' THEN 'declined_by_client' END);
END $$;
