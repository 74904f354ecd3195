-- Report-scale data for tests/bench/reports.sh: at scale 1, 1,000,000
-- cases with ~5,000,000 needs, 2,000,000 referrals with ~3,000,000
-- referral needs and ~4,300,000 offers, 20,000 investigations with
-- ~50,000 linked cases, over 2,000 organizations (4,000 services) in
-- 1,000 county jurisdictions of 50 states, dated from 2024-12-01 over
-- two years. Set-based (generate_series, no loops), deterministic (a
-- hash of the row number, not random()). Personal data is left empty:
-- reports never read it.
--
-- Load as the owner role on a scratch stack (`make run` state you can
-- throw away; it is large: ~6 GB at scale 1):
--   psql "$CONCORD_ADMIN_DATABASE_URL" -v scale=0.1 -f tests/bench/gen_reports.sql
-- scale defaults to 1. Re-running first deletes the rows an earlier run
-- made (tagged created_by / sender_sub 'rbench', organizations 'RB Org
-- ...'), which at scale 1 takes minutes: a fresh state is quicker.
\set ON_ERROR_STOP 1
\if :{?scale}
\else
\set scale 1
\endif
SET synchronous_commit = off;
SET maintenance_work_mem = '256MB';
SET work_mem = '64MB';
\timing on

/* u(row, salt): a uniform number in [0, 1) from a row number. */
CREATE FUNCTION pg_temp.u(bigint, integer) RETURNS float8
LANGUAGE sql IMMUTABLE AS $$
	SELECT (hashint8($1 * 1000003 + $2)::bigint & 2147483647)::float8 /
	    2147483648.0
$$;
/* County g (0..999) as a 5-digit code: 50 states x 20 counties. */
CREATE FUNCTION pg_temp.county(integer) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT lpad((1 + $1 / 20)::text, 2, '0') ||
	    lpad((1 + 2 * ($1 % 20))::text, 3, '0')
$$;

BEGIN;
DELETE FROM referral_offers WHERE referral_id IN (SELECT id FROM referrals
    WHERE sender_sub = 'rbench');
DELETE FROM referral_needs WHERE referral_id IN (SELECT id FROM referrals
    WHERE sender_sub = 'rbench');
DELETE FROM referrals WHERE sender_sub = 'rbench';
DELETE FROM investigation_cases WHERE linked_by = 'rbench';
DELETE FROM investigations WHERE created_by = 'rbench';
DELETE FROM case_needs WHERE case_id IN (SELECT id FROM cases WHERE
    created_by = 'rbench');
DELETE FROM cases WHERE created_by = 'rbench';
/* Matching on the stack (e.g. the demo referral) may have used them. */
DELETE FROM referral_candidates WHERE organization_id IN (SELECT id FROM
    organizations WHERE name LIKE 'RB Org %');
DELETE FROM referral_offers WHERE organization_id IN (SELECT id FROM
    organizations WHERE name LIKE 'RB Org %');
DELETE FROM services WHERE organization_id IN (SELECT id FROM
    organizations WHERE name LIKE 'RB Org %');
DELETE FROM organizations WHERE name LIKE 'RB Org %';

CREATE TEMP TABLE rb_need ON COMMIT DROP AS
    SELECT (row_number() OVER (ORDER BY code) - 1)::integer AS n, code
    FROM need_taxonomy WHERE grp = 'victim';
CREATE TEMP TABLE rb_cj ON COMMIT DROP AS
    SELECT (row_number() OVER (ORDER BY code) - 1)::integer AS n, code
    FROM need_taxonomy WHERE grp = 'criminal_justice';
SELECT count(*) AS nv FROM rb_need \gset
SELECT count(*) AS ncj FROM rb_cj \gset
SELECT greatest(1000, round(1000000 * :scale))::bigint AS ncases,
    greatest(2000, round(2000000 * :scale))::bigint AS nrefs,
    greatest(100, round(20000 * :scale))::bigint AS ninv \gset

/* 2,000 organizations, two per county; one in ten law enforcement. */
INSERT INTO organizations (id, name, kind, jurisdictions, status)
SELECT md5('rb-org-' || g)::uuid, 'RB Org ' || lpad(g::text, 4, '0'),
    CASE WHEN g % 10 = 0 THEN 'law_enforcement' ELSE
	(ARRAY['victim_services', 'ngo', 'health', 'legal_aid', 'government',
	'faith_based', 'prosecution', 'other'])[1 + g % 8] END,
    ARRAY[pg_temp.county(g % 1000)],
    CASE WHEN g % 40 = 7 THEN 'inactive' ELSE 'active' END
FROM generate_series(0, 1999) g;

/* 4,000 services, six needs each, in their organization's county. */
INSERT INTO services (id, organization_id, name, needs, languages,
    area_jurisdictions, capacity_total, capacity_available,
    accepts_referrals)
SELECT md5('rb-svc-' || g)::uuid, md5('rb-org-' || (g % 2000))::uuid,
    'RB Service ' || g,
    ARRAY(SELECT code FROM rb_need WHERE n IN ((g * 7) % :nv,
	(g * 7 + 1) % :nv, (g * 7 + 5) % :nv, (g * 11 + 3) % :nv,
	(g * 13 + 2) % :nv, (g * 3 + 9) % :nv)),
    ARRAY['en'] || (ARRAY['es', 'zh', 'vi', 'ko', 'tl', 'ar', 'fr', 'ht'])
	[1 + g % 8:1 + g % 8 + g % 2],
    ARRAY[pg_temp.county(g % 1000)],
    CASE WHEN g % 3 = 0 THEN 10 + g % 30 END,
    CASE WHEN g % 3 = 0 THEN g % 10 END,
    g % 9 <> 0
FROM generate_series(0, 3999) g;

/*
 * Cases: county skewed towards the first ones (cities), lead
 * organization in the county, identified over two years, 60 % closed
 * (updated when closed), an adult/minor/unknown mix, genders and
 * nationalities as people type them.
 */
INSERT INTO cases (id, case_number, lead_org, identified_on, identified_how,
    age_group, gender, nationality, trafficking_type, jurisdiction, status,
    closed_reason, created_by, created_at, updated_at)
SELECT md5('rb-case-' || g)::uuid, 'RB-' || g,
    md5('rb-org-' || (x.j + 1000 * (g % 2)))::uuid, x.d,
    (ARRAY['hotline', 'law_enforcement_encounter', 'outreach',
	'self_referral', 'other'])[1 + g % 5],
    CASE WHEN pg_temp.u(g, 2) < 0.78 THEN 'adult' WHEN pg_temp.u(g, 2) < 0.95
	THEN 'minor' ELSE 'unknown' END,
    (ARRAY['female', 'female', 'Female', 'F', 'female', 'male', 'male', 'M',
	'Male', 'non-binary', 'woman', 'unknown'])[1 + (g * 7) % 12],
    CASE WHEN g % 23 = 0 THEN NULL WHEN g % 97 = 0 THEN 'Central America'
	ELSE (ARRAY['US', 'MX', 'GT', 'HN', 'SV', 'US', 'CN', 'PH', 'VN', 'IN',
	'US', 'MX', 'NG', 'TH', 'UA', 'RO', 'US', 'KR', 'HT', 'BR'])
	[1 + (g * 13) % 20] END,
    (ARRAY['sex', 'sex', 'labor', 'labor', 'labor', 'both', 'unknown'])
	[1 + (g * 3) % 7],
    pg_temp.county(x.j),
    CASE WHEN x.closed THEN 'closed' ELSE 'open' END,
    CASE WHEN x.closed THEN 'services completed' END, 'rbench',
    x.d::timestamptz + interval '10 hours',
    CASE WHEN x.closed THEN least(now(), x.d::timestamptz + interval '1 day' *
	(1 + floor(pg_temp.u(g, 4) * 300))) ELSE x.d::timestamptz +
	interval '1 day' * floor(pg_temp.u(g, 4) * 30) END
FROM generate_series(1, :ncases) g,
    LATERAL (SELECT floor(1000 * pg_temp.u(g, 1) ^ 2)::integer AS j,
	date '2024-12-01' + floor(pg_temp.u(g, 3) * 730)::integer AS d,
	pg_temp.u(g, 5) < 0.6 AS closed) x;

/* Needs: 1-9 per case (5 on average), distinct codes, a status mix. */
INSERT INTO case_needs (case_id, code, status, created_at, updated_at)
SELECT md5('rb-case-' || g)::uuid, t.code,
    CASE WHEN s.v < 0.15 THEN 'identified' WHEN s.v < 0.30 THEN 'referred'
	WHEN s.v < 0.50 THEN 'in_progress' WHEN s.v < 0.85 THEN 'met'
	WHEN s.v < 0.93 THEN 'unmet' ELSE 'declined_by_client' END,
    d.t + interval '1 day' * k, d.t + interval '1 day' * (k + 20)
FROM generate_series(1, :ncases) g,
    LATERAL (SELECT (date '2024-12-01' + floor(pg_temp.u(g, 3) *
	730)::integer)::timestamptz + interval '11 hours' AS t) d,
    LATERAL generate_series(0, floor(pg_temp.u(g, 6) * 9)::integer) k,
    LATERAL (SELECT pg_temp.u(g * 16 + k, 7) AS v) s,
    LATERAL (SELECT code FROM rb_need WHERE n = (floor(pg_temp.u(g, 8) *
	:nv)::integer + k * 7) % :nv) t;

/*
 * Referrals over two years from organizations skewed to the first
 * ones; urgency 10/30/60 %; 1-2 needs each.
 */
INSERT INTO referrals (id, sender_org, sender_sub, age, minor, gender,
    trafficking_type, jurisdiction, urgency, consent_categories,
    consent_expires_at, consent_form_reference, status, created_at,
    updated_at)
SELECT md5('rb-ref-' || g)::uuid,
    md5('rb-org-' || floor(2000 * pg_temp.u(g, 11) ^ 2)::integer)::uuid,
    'rbench',
    CASE WHEN g % 10 = 0 THEN NULL ELSE 12 + (g * 7) % 50 END,
    CASE WHEN g % 10 = 0 THEN g % 20 = 0 END,
    (ARRAY['female', 'male', 'female', 'F', 'non-binary', NULL, 'Male'])
	[1 + (g * 5) % 7],
    (ARRAY['sex', 'labor', 'labor', 'both', 'unknown'])[1 + (g * 3) % 5],
    pg_temp.county(floor(1000 * pg_temp.u(g, 12) ^ 2)::integer),
    CASE WHEN pg_temp.u(g, 13) < 0.1 THEN 'emergency'
	WHEN pg_temp.u(g, 13) < 0.4 THEN 'urgent' ELSE 'routine' END,
    '{needs}', '2028-01-01', 'RB-CONSENT',
    /* Closed, so the worker's deadline clocks leave them alone (the
       reports read the needs' and offers' states, not this). */
    CASE WHEN g % 6 = 0 THEN 'cancelled' ELSE 'completed' END,
    r.t, r.t + interval '3 days'
FROM generate_series(1, :nrefs) g,
    LATERAL (SELECT timestamptz '2024-12-01 00:00Z' + interval '1 second' *
	floor(pg_temp.u(g, 14) * 730 * 86400) AS t) r;

/*
 * Referral needs: position 0 always, 1 for half. How many offers a need
 * had (0: unmatched, 1-3) and how the last went: accepted (then perhaps
 * completed with an outcome), declined, expired or still open.
 */
CREATE TEMP TABLE rb_rn ON COMMIT DROP AS
SELECT g, p, md5('rb-rn-' || g || '-' || p)::uuid AS id,
    md5('rb-ref-' || g)::uuid AS referral_id,
    (SELECT code FROM rb_need WHERE n = (floor(pg_temp.u(g, 15) * :nv)
	::integer + p * 7) % :nv) AS code,
    CASE WHEN pg_temp.u(g * 2 + p, 16) < 0.1 THEN 0
	WHEN pg_temp.u(g * 2 + p, 16) < 0.6 THEN 1
	WHEN pg_temp.u(g * 2 + p, 16) < 0.85 THEN 2 ELSE 3 END AS noffers,
    pg_temp.u(g * 2 + p, 17) AS last,
    timestamptz '2024-12-01 00:00Z' + interval '1 second' *
	floor(pg_temp.u(g, 14) * 730 * 86400) AS t
FROM generate_series(1, :nrefs) g, generate_series(0, 1) p
WHERE p = 0 OR g % 2 = 0;

INSERT INTO referral_needs (id, referral_id, position, need_code, status,
    unmatched_reason, outcome)
SELECT id, referral_id, p, code,
    CASE WHEN noffers = 0 THEN 'unmatched' WHEN last < 0.35 THEN 'accepted'
	WHEN last < 0.65 THEN 'completed' WHEN last < 0.8 THEN 'offered'
	WHEN last < 0.9 THEN 'unmatched' ELSE 'cancelled' END,
    CASE WHEN noffers = 0 OR last BETWEEN 0.8 AND 0.9 THEN 'no_candidates'
	END,
    CASE WHEN noffers > 0 AND last >= 0.35 AND last < 0.65 THEN
	(ARRAY['completed', 'completed', 'not_completed', 'client_declined'])
	[1 + (g % 4)] END
FROM rb_rn;

/*
 * Offers: one per round, each to another service; earlier rounds
 * declined (free-text reasons) or expired, the last as the need went
 * (none left open: the clocks would expire them).
 * Answers come 10 minutes to ~6 days after the offer.
 */
INSERT INTO referral_offers (referral_id, service_id, organization_id,
    need_ids, status, decline_reason, expires_at, responded_at, created_at)
SELECT rn.referral_id, md5('rb-svc-' || x.s)::uuid,
    md5('rb-org-' || (x.s % 2000))::uuid, ARRAY[rn.id], x.st,
    CASE WHEN x.st = 'declined' THEN (ARRAY['Shelter is full',
	'Client does not meet our criteria', 'No Spanish interpreter',
	'Could not reach the client', 'Other commitments', 'Waitlist only'])
	[1 + (rn.g + k) % 6] END,
    rn.t + interval '1 day' * (2 * k + 2),
    CASE WHEN x.st IN ('accepted', 'declined') THEN rn.t +
	interval '1 day' * 2 * k + interval '1 minute' * (10 +
	floor(exp(pg_temp.u(rn.g * 8 + rn.p * 4 + k, 18) * 9))) END,
    rn.t + interval '1 day' * 2 * k
FROM rb_rn rn, generate_series(0, rn.noffers - 1) k,
    LATERAL (SELECT (floor(pg_temp.u(rn.g, 19) * 4000)::integer +
	rn.p * 3 + k) % 4000 AS s,
	CASE WHEN k < rn.noffers - 1 THEN CASE WHEN pg_temp.u(rn.g * 8 + k,
	    20) < 0.7 THEN 'declined' ELSE 'expired' END
	    WHEN rn.last < 0.65 THEN 'accepted'
	    WHEN rn.last < 0.8 THEN 'expired'
	    WHEN rn.last < 0.9 THEN CASE WHEN k % 2 = 0 THEN 'declined' ELSE
		'expired' END
	    ELSE 'withdrawn' END AS st) x;

/* Investigations: led by law enforcement, 0-5 linked cases each. */
INSERT INTO investigations (id, title, lead_agency, jurisdictions, status,
    outcome, needs, created_by, created_at, updated_at)
SELECT md5('rb-inv-' || g)::uuid, 'RB operation ' || g,
    md5('rb-org-' || (10 * ((g * 7) % 200)))::uuid,
    ARRAY[pg_temp.county(floor(1000 * pg_temp.u(g, 21) ^ 2)::integer)],
    x.st,
    CASE WHEN x.st = 'closed' THEN (ARRAY['Conviction on two counts',
	'Plea agreement', 'Acquitted', 'Dismissed', 'Transferred to federal'])
	[1 + g % 5] END,
    (SELECT coalesce(jsonb_agg(jsonb_build_object('code', c.code,
	'status', CASE WHEN (g + c.n) % 3 = 0 THEN 'met' ELSE 'identified'
	END)), '[]') FROM rb_cj c WHERE c.n IN (g % :ncj, (g * 3 + 1) % :ncj)),
    'rbench', x.t, x.t
FROM generate_series(1, :ninv) g,
    LATERAL (SELECT timestamptz '2024-12-01 00:00Z' + interval '1 second' *
	floor(pg_temp.u(g, 22) * 730 * 86400) AS t,
	(ARRAY['open', 'open', 'charges_filed', 'prosecution', 'closed',
	'closed'])[1 + g % 6] AS st) x;

INSERT INTO investigation_cases (investigation_id, case_id, consent_id,
    linked_by, linked_at)
SELECT md5('rb-inv-' || g)::uuid, md5('rb-case-' || (1 + (g * 7919 + k *
    104729) % :ncases))::uuid, md5('rb-consent-' || g)::uuid, 'rbench',
    now()
FROM generate_series(1, :ninv) g,
    generate_series(0, floor(pg_temp.u(g, 23) * 6)::integer - 1) k;
COMMIT;

VACUUM (ANALYZE) organizations, services, cases, case_needs, referrals,
    referral_needs, referral_offers, investigations, investigation_cases;
SELECT (SELECT count(*) FROM cases) AS cases,
    (SELECT count(*) FROM case_needs) AS needs,
    (SELECT count(*) FROM referrals) AS referrals,
    (SELECT count(*) FROM referral_needs) AS referral_needs,
    (SELECT count(*) FROM referral_offers) AS offers,
    (SELECT count(*) FROM investigations) AS investigations;
