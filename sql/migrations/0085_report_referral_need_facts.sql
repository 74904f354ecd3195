-- 0085 report referral need facts: one row per referral need with what
-- the referrals report reads of it (its referral's date and attributes,
-- its status and outcome, and what its offers came to), kept up to date
-- by triggers on referrals, referral_needs and referral_offers, so the
-- report is one range scan by date instead of joining a year of
-- referrals, needs and (~2.2 M at full scale) offers. Rows are
-- recomputed, not adjusted: a statement that writes needs or offers (or
-- a referral's reported attributes) recomputes the rows of the referrals
-- it touched from the tables, with an upsert, so a later write repairs
-- any row. Writers of a referral's needs and offers hold the referral's
-- row lock (sql/code/referrals.sql, deadlines.sql, worker.sql), so two
-- transactions do not recompute one referral from each other's
-- uncommitted views.

/*
 * A decline reason (free text) as a fixed category; can't fail.
 */
CREATE FUNCTION store.report_decline_category(p text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE
	    WHEN p ~* '(capacity|full|no (space|room|bed)|waitlist)' THEN
		'capacity'
	    WHEN p ~* '(eligib|criteria|age|gender|not serve)' THEN
		'eligibility'
	    WHEN p ~* '(language|interpret|translat)' THEN 'language'
	    WHEN p ~* '(reach|contact|no answer|unavailable)' THEN
		'client_unreachable'
	    ELSE 'other' END
$$;

/*
 * A decline as a fixed category: its code when it has one (declines
 * since codes: outside_area counts as eligibility, client_declined as
 * other), else its free text's words; can't fail. The one definition:
 * report.decline_category (sql/code/reports.sql) calls it. Changing it
 * needs a migration that recomputes the table below.
 */
CREATE FUNCTION store.report_decline_category(p_code text, p_text text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE p_code WHEN 'no_capacity' THEN 'capacity'
	    WHEN 'not_eligible' THEN 'eligibility'
	    WHEN 'outside_area' THEN 'eligibility'
	    WHEN 'language' THEN 'language'
	    WHEN 'cannot_reach_client' THEN 'client_unreachable'
	    WHEN 'client_declined' THEN 'other'
	    WHEN 'other' THEN 'other'
	    ELSE store.report_decline_category(p_text) END
$$;

CREATE TABLE report_referral_need_facts (
	need_id		uuid PRIMARY KEY,	/* referral_needs.id */
	referral_id	uuid NOT NULL,
	created_at	timestamptz NOT NULL,	/* the referral's */
	sender_org	uuid NOT NULL,
	urgency		text NOT NULL,
	jurisdiction	text,
	trafficking_type text NOT NULL,
	age		integer,
	minor		boolean,
	gender		text,
	status		text NOT NULL,		/* the need's */
	outcome		text,
	offers		integer NOT NULL,	/* offers naming the need */
	acc_org		uuid,		/* the accepting organization */
	acc_at		timestamptz,	/* first acceptance */
	dec_capacity	integer NOT NULL,	/* declined, by category */
	dec_eligibility	integer NOT NULL,
	dec_language	integer NOT NULL,
	dec_unreachable	integer NOT NULL,
	dec_other	integer NOT NULL,
	expired		integer NOT NULL
);
CREATE INDEX report_referral_need_facts_ref_idx ON
    report_referral_need_facts (referral_id);
CREATE INDEX report_referral_need_facts_created_idx ON
    report_referral_need_facts (created_at);

/*
 * Recompute the rows of every need of the given referrals (the same
 * per-need aggregate of the offers the referrals report ran per
 * period); rows of needs that are gone are deleted.
 */
CREATE FUNCTION store.report_need_facts_refresh(p_refs uuid[])
RETURNS void LANGUAGE sql AS $$
	DELETE FROM public.report_referral_need_facts f
	    USING unnest(p_refs) t(id) WHERE f.referral_id = t.id AND
	    NOT EXISTS (SELECT 1 FROM public.referral_needs n
		WHERE n.id = f.need_id);
	WITH t AS (SELECT DISTINCT id FROM unnest(p_refs) t(id)),
	o AS (
	    SELECT nid, count(*) AS offers,
		max(organization_id::text) FILTER (WHERE
		    status = 'accepted')::uuid AS acc_org,
		min(responded_at) FILTER (WHERE status = 'accepted')
		    AS acc_at,
		count(*) FILTER (WHERE why = 'capacity') AS dec_capacity,
		count(*) FILTER (WHERE why = 'eligibility')
		    AS dec_eligibility,
		count(*) FILTER (WHERE why = 'language') AS dec_language,
		count(*) FILTER (WHERE why = 'client_unreachable')
		    AS dec_unreachable,
		count(*) FILTER (WHERE why = 'other') AS dec_other,
		count(*) FILTER (WHERE status = 'expired') AS expired
	    FROM (SELECT nid, o.status, o.organization_id, o.responded_at,
		    CASE WHEN o.status = 'declined' THEN
		    store.report_decline_category(o.decline_code,
		    o.decline_reason) END AS why
		FROM t JOIN public.referral_offers o ON o.referral_id = t.id,
		    unnest(o.need_ids) nid) x
	    GROUP BY nid)
	INSERT INTO public.report_referral_need_facts AS f (need_id,
	    referral_id, created_at, sender_org, urgency, jurisdiction,
	    trafficking_type, age, minor, gender, status, outcome, offers,
	    acc_org, acc_at, dec_capacity, dec_eligibility, dec_language,
	    dec_unreachable, dec_other, expired)
	SELECT n.id, r.id, r.created_at, r.sender_org, r.urgency,
	    r.jurisdiction, r.trafficking_type, r.age, r.minor, r.gender,
	    n.status, n.outcome, coalesce(o.offers, 0), o.acc_org, o.acc_at,
	    coalesce(o.dec_capacity, 0), coalesce(o.dec_eligibility, 0),
	    coalesce(o.dec_language, 0), coalesce(o.dec_unreachable, 0),
	    coalesce(o.dec_other, 0), coalesce(o.expired, 0)
	FROM t JOIN public.referrals r ON r.id = t.id
	JOIN public.referral_needs n ON n.referral_id = r.id
	LEFT JOIN o ON o.nid = n.id
	ON CONFLICT (need_id) DO UPDATE SET referral_id = EXCLUDED.referral_id,
	    created_at = EXCLUDED.created_at, sender_org = EXCLUDED.sender_org,
	    urgency = EXCLUDED.urgency, jurisdiction = EXCLUDED.jurisdiction,
	    trafficking_type = EXCLUDED.trafficking_type, age = EXCLUDED.age,
	    minor = EXCLUDED.minor, gender = EXCLUDED.gender,
	    status = EXCLUDED.status, outcome = EXCLUDED.outcome,
	    offers = EXCLUDED.offers, acc_org = EXCLUDED.acc_org,
	    acc_at = EXCLUDED.acc_at, dec_capacity = EXCLUDED.dec_capacity,
	    dec_eligibility = EXCLUDED.dec_eligibility,
	    dec_language = EXCLUDED.dec_language,
	    dec_unreachable = EXCLUDED.dec_unreachable,
	    dec_other = EXCLUDED.dec_other, expired = EXCLUDED.expired
	WHERE (f.*) IS DISTINCT FROM (EXCLUDED.*);
$$;

/*
 * Statement triggers on offers and needs: the referrals touched, from
 * the transition tables (one function per event: each names its own).
 */
CREATE FUNCTION store.report_need_facts_ins() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM store.report_need_facts_refresh(
	    (SELECT array_agg(DISTINCT referral_id) FROM new_rows));
	RETURN NULL;
END $$;

CREATE FUNCTION store.report_need_facts_upd() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM store.report_need_facts_refresh(
	    (SELECT array_agg(DISTINCT referral_id) FROM (SELECT referral_id
		FROM new_rows UNION SELECT referral_id FROM old_rows) u));
	RETURN NULL;
END $$;

CREATE FUNCTION store.report_need_facts_del() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM store.report_need_facts_refresh(
	    (SELECT array_agg(DISTINCT referral_id) FROM old_rows));
	RETURN NULL;
END $$;

/* A referral whose reported attributes change (row trigger: rare). */
CREATE FUNCTION store.report_need_facts_referral() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM store.report_need_facts_refresh(ARRAY[NEW.id]);
	RETURN NULL;
END $$;

CREATE TRIGGER referral_offers_need_facts_ins AFTER INSERT ON referral_offers
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION store.report_need_facts_ins();
CREATE TRIGGER referral_offers_need_facts_upd AFTER UPDATE ON referral_offers
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION store.report_need_facts_upd();
CREATE TRIGGER referral_offers_need_facts_del AFTER DELETE ON referral_offers
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION store.report_need_facts_del();
CREATE TRIGGER referral_needs_need_facts_ins AFTER INSERT ON referral_needs
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION store.report_need_facts_ins();
CREATE TRIGGER referral_needs_need_facts_upd AFTER UPDATE ON referral_needs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION store.report_need_facts_upd();
CREATE TRIGGER referral_needs_need_facts_del AFTER DELETE ON referral_needs
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION store.report_need_facts_del();
CREATE TRIGGER referrals_need_facts AFTER UPDATE OF created_at, sender_org,
    urgency, jurisdiction, trafficking_type, age, minor, gender ON referrals
    FOR EACH ROW EXECUTE FUNCTION store.report_need_facts_referral();

/* Reached through triggers and the report code only (not the API's role). */
REVOKE EXECUTE ON FUNCTION store.report_decline_category(text),
    store.report_decline_category(text, text),
    store.report_need_facts_refresh(uuid[]), store.report_need_facts_ins(),
    store.report_need_facts_upd(), store.report_need_facts_del(),
    store.report_need_facts_referral() FROM PUBLIC;

/* Backfill: every referral with needs, in one pass. */
SELECT store.report_need_facts_refresh(array_agg(DISTINCT referral_id))
FROM referral_needs;
