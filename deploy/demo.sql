-- Demo task force for `make run`: fixed ids so demo tokens stay valid
-- across runs. Idempotent: loading it twice changes nothing.
INSERT INTO organizations (id, name, kind, jurisdictions, contact, task_force_member) VALUES
 ('10000000-0000-4000-8000-000000000001', 'Metro Police Department Human Trafficking Unit', 'law_enforcement', '{06037}', '{"email":"htu@metro-pd.example","phone":"+1-213-555-0101"}', true),
 ('10000000-0000-4000-8000-000000000002', 'State Bureau of Investigation', 'law_enforcement', '{06037,06059,06065}', '{"email":"sbi@state.example"}', true),
 ('10000000-0000-4000-8000-000000000003', 'County District Attorney', 'prosecution', '{06037}', '{"email":"da@county.example"}', true),
 ('10000000-0000-4000-8000-000000000004', 'Safe Harbor Shelter', 'victim_services', '{06037,06059}', '{"phone":"+1-213-555-0110"}', true),
 ('10000000-0000-4000-8000-000000000005', 'Bridges Survivor Services', 'victim_services', '{06037}', '{"email":"intake@bridges.example"}', true),
 ('10000000-0000-4000-8000-000000000006', 'Coalition Against Slavery and Trafficking', 'ngo', '{06037,06059,06065}', '{"email":"info@cast.example"}', true),
 ('10000000-0000-4000-8000-000000000007', 'Community Health Clinic', 'health', '{06037}', '{"phone":"+1-213-555-0130"}', true),
 ('10000000-0000-4000-8000-000000000008', 'Immigrant Legal Aid Center', 'legal_aid', '{06037,06059}', '{"email":"help@ilac.example"}', true),
 ('10000000-0000-4000-8000-000000000009', 'County Department of Social Services', 'government', '{06037}', '{"email":"dss@county.example"}', true),
 ('10000000-0000-4000-8000-00000000000a', 'Interfaith Refuge Network', 'faith_based', '{06037}', '{"email":"refuge@interfaith.example"}', false),
 ('10000000-0000-4000-8000-00000000000b', 'National Trafficking Hotline (regional)', 'other', '{06037,06059,06065}', '{"phone":"+1-888-555-0199"}', true),
 ('10000000-0000-4000-8000-00000000000c', 'Task Force Coordination Office', 'government', '{06037,06059,06065}', '{"email":"coord@taskforce.example"}', true),
 ('10000000-0000-4000-8000-00000000000d', 'Research and Evaluation Partner', 'other', '{06037}', '{"email":"data@research.example"}', false)
ON CONFLICT (id) DO NOTHING;

-- Partner directory services (sql/code/directory.sql). Every victim need
-- code is covered: a parent code covers its sub-kinds (housing covers
-- housing_emergency/_transitional/_permanent). Safe Harbor's shelter is
-- confidential: its street address and coordinates are shown only to
-- Safe Harbor's members, coordinators and admins.
INSERT INTO services (id, organization_id, name, description, needs,
    age_min, age_max, genders, trafficking_types, languages,
    eligibility_notes, eligibility, area_jurisdictions, area_lat, area_lon,
    area_radius_km, site_lat, site_lon, address, confidential, open_24_7,
    hours, timezone, capacity_total, capacity_available, capacity_unit,
    capacity_updated_at, accepts_referrals, response_time_hours) VALUES
 ('20000000-0000-4000-8000-000000000001', '10000000-0000-4000-8000-000000000004',
  'Safe Harbor Emergency Shelter', 'Confidential emergency shelter for adult survivors of sex and labor trafficking.',
  '{housing,food,clothing,safety_planning,crisis_intervention}', 18, NULL, '{}', '{sex,labor}', '{en,es}',
  'Adults 18+; no referral from law enforcement needed.', '{"no_immigration_status_requirement":true,"lgbtq_affirming":true,"no_law_enforcement_report_required":true}',
  '{06037,06059}', 34.05, -118.25, 60, 34.0689, -118.2121,
  '{"line1":"(confidential) 410 Harbor Way","city":"Los Angeles","region":"CA","postal_code":"90033","country":"US"}',
  true, true, '[]', 'America/Los_Angeles', 14, 3, 'beds', now(), true, 2),
 ('20000000-0000-4000-8000-000000000002', '10000000-0000-4000-8000-000000000004',
  'Safe Harbor Transitional Living', 'Transitional and permanent housing placement with life-skills coaching.',
  '{housing_transitional,housing_permanent,financial_literacy,job_placement,education_ged}', 18, NULL, '{}', '{sex,labor}', '{en,es}',
  'Survivors exiting emergency shelter.', '{"no_immigration_status_requirement":true}',
  '{06037,06059}', NULL, NULL, NULL, 34.0407, -118.2468,
  '{"line1":"220 Spring St","city":"Los Angeles","region":"CA","postal_code":"90012","country":"US"}',
  false, false, '[{"day":"mon","opens":"09:00","closes":"17:00"},{"day":"tue","opens":"09:00","closes":"17:00"},{"day":"wed","opens":"09:00","closes":"17:00"},{"day":"thu","opens":"09:00","closes":"17:00"},{"day":"fri","opens":"09:00","closes":"17:00"}]',
  'America/Los_Angeles', 20, 5, 'units', now(), true, 48),
 ('20000000-0000-4000-8000-000000000003', '10000000-0000-4000-8000-000000000005',
  'Bridges Comprehensive Case Management', 'Case management and advocacy from intake through court.',
  '{case_management,victim_advocacy,crime_victims_rights,criminal_justice_assistance,public_benefits,identification_documents,transportation,family_reunification,repatriation_assistance}',
  NULL, NULL, '{}', '{sex,labor}', '{en,es,tl,zh-Hant}',
  'Any survivor of trafficking in the county.', '{"no_immigration_status_requirement":true,"no_id_required":true}',
  '{06037}', NULL, NULL, NULL, 34.0522, -118.2437,
  '{"line1":"100 Bridges Plaza","city":"Los Angeles","region":"CA","postal_code":"90012","country":"US"}',
  false, false, '[{"day":"mon","opens":"08:30","closes":"18:00"},{"day":"tue","opens":"08:30","closes":"18:00"},{"day":"wed","opens":"08:30","closes":"18:00"},{"day":"thu","opens":"08:30","closes":"18:00"},{"day":"fri","opens":"08:30","closes":"16:00"}]',
  'America/Los_Angeles', 40, 12, 'slots', now(), true, 24),
 ('20000000-0000-4000-8000-000000000004', '10000000-0000-4000-8000-000000000005',
  'Bridges Youth Program', 'Case management, schooling and counselling for minors.',
  '{case_management,child_assistance,education_ged,mental_health_care_long_term}',
  12, 17, '{}', '{sex,labor}', '{en,es}',
  'Minors 12-17; guardian consent handled by the program.', '{"lgbtq_affirming":true,"no_id_required":true}',
  '{06037}', 34.05, -118.24, 40, NULL, NULL, NULL,
  false, false, '[{"day":"mon","opens":"15:00","closes":"19:00"},{"day":"wed","opens":"15:00","closes":"19:00"},{"day":"sat","opens":"10:00","closes":"14:00"}]',
  'America/Los_Angeles', 15, 4, 'slots', now(), true, 24),
 ('20000000-0000-4000-8000-000000000005', '10000000-0000-4000-8000-000000000006',
  'CAST Survivor Support Line and Services', '24/7 crisis line, safety planning, cultural and language support.',
  '{crisis_intervention,cultural_community_support,safety_planning,esl_classes,literacy_assistance,translation_interpretation,sexual_assault_services}',
  NULL, NULL, '{}', '{sex,labor}', '{en,es,ko,vi,th,ru,zh}',
  'Anyone affected by trafficking.', '{"no_immigration_status_requirement":true,"lgbtq_affirming":true,"no_id_required":true,"no_law_enforcement_report_required":true}',
  '{06037,06059,06065}', NULL, NULL, NULL, 34.0614, -118.3090,
  '{"line1":"5042 Wilshire Blvd","city":"Los Angeles","region":"CA","postal_code":"90036","country":"US"}',
  false, true, '[]', 'America/Los_Angeles', NULL, NULL, NULL, NULL, true, 1),
 ('20000000-0000-4000-8000-000000000006', '10000000-0000-4000-8000-000000000007',
  'Community Health Clinic Survivor Care', 'Medical, dental, mental health and substance use care; disability accommodations.',
  '{medical_care,dental_care,mental_health_care,substance_abuse_services,sexual_assault_services,disability_assistance}',
  NULL, NULL, '{}', '{sex,labor}', '{en,es,hy}',
  'Uninsured patients welcome.', '{"no_immigration_status_requirement":true,"no_id_required":true}',
  '{06037}', NULL, NULL, NULL, 34.0736, -118.2400,
  '{"line1":"1200 N State St","city":"Los Angeles","region":"CA","postal_code":"90033","country":"US"}',
  false, false, '[{"day":"mon","opens":"07:00","closes":"19:00"},{"day":"tue","opens":"07:00","closes":"19:00"},{"day":"wed","opens":"07:00","closes":"19:00"},{"day":"thu","opens":"07:00","closes":"19:00"},{"day":"fri","opens":"07:00","closes":"19:00"},{"day":"sat","opens":"09:00","closes":"13:00"}]',
  'America/Los_Angeles', 30, 9, 'appointments', now(), true, 72),
 ('20000000-0000-4000-8000-000000000007', '10000000-0000-4000-8000-000000000008',
  'Immigrant Legal Aid: T-Visa and Civil Representation', 'Immigration (T/U visas), criminal record vacatur and civil claims.',
  '{legal_representation,civil_legal_award,crime_victims_rights,identification_documents}',
  NULL, NULL, '{}', '{sex,labor}', '{en,es,pt,fr,ht}',
  'Free for survivors of trafficking.', '{"no_immigration_status_requirement":true}',
  '{06037,06059}', NULL, NULL, NULL, 34.0480, -118.2560,
  '{"line1":"350 S Grand Ave","line2":"Suite 900","city":"Los Angeles","region":"CA","postal_code":"90071","country":"US"}',
  false, false, '[{"day":"tue","opens":"10:00","closes":"16:00"},{"day":"thu","opens":"10:00","closes":"16:00"}]',
  'America/Los_Angeles', 25, 6, 'cases', now(), true, 120),
 ('20000000-0000-4000-8000-000000000008', '10000000-0000-4000-8000-000000000009',
  'County Benefits and Family Assistance', 'CalFresh, cash aid, child care and transportation vouchers, job programs.',
  '{public_benefits,child_assistance,food,clothing,transportation,job_placement}',
  NULL, NULL, '{}', '{sex,labor}', '{en,es,zh,ko}',
  'County residents; certification letter speeds eligibility.', '{}',
  '{06037}', NULL, NULL, NULL, 34.0561, -118.2365,
  '{"line1":"500 W Temple St","city":"Los Angeles","region":"CA","postal_code":"90012","country":"US"}',
  false, false, '[{"day":"mon","opens":"08:00","closes":"17:00"},{"day":"tue","opens":"08:00","closes":"17:00"},{"day":"wed","opens":"08:00","closes":"17:00"},{"day":"thu","opens":"08:00","closes":"17:00"},{"day":"fri","opens":"08:00","closes":"17:00"}]',
  'America/Los_Angeles', NULL, NULL, NULL, NULL, true, 168),
 ('20000000-0000-4000-8000-000000000009', '10000000-0000-4000-8000-00000000000a',
  'Interfaith Refuge Hospitality', 'Spiritual care, meals, clothing and emergency hospitality in member congregations.',
  '{spiritual_assistance,food,clothing,housing_emergency,cultural_community_support}',
  NULL, NULL, '{female,transgender,non_binary}', '{sex,labor}', '{en,ar,uk,es}',
  'Women, transgender and non-binary survivors.', '{"lgbtq_affirming":true,"no_immigration_status_requirement":true}',
  '{06037}', NULL, NULL, NULL, 34.0195, -118.4912,
  '{"line1":"1 Refuge Ct","city":"Santa Monica","region":"CA","postal_code":"90401","country":"US"}',
  false, false, '[{"day":"fri","opens":"18:00","closes":"08:00"},{"day":"sat","opens":"18:00","closes":"08:00"}]',
  'America/Los_Angeles', 6, 2, 'beds', now(), true, 12),
 ('20000000-0000-4000-8000-00000000000a', '10000000-0000-4000-8000-00000000000b',
  'Regional Trafficking Hotline', 'Around-the-clock hotline with interpreters in 200 languages; warm transfers to local services.',
  '{crisis_intervention,translation_interpretation,safety_planning,victim_advocacy}',
  NULL, NULL, '{}', '{sex,labor}', '{en,es,zh,vi,ko,ru,ar,fr,tl}',
  'Anyone, anywhere in the region.', '{"no_immigration_status_requirement":true,"lgbtq_affirming":true,"no_id_required":true,"no_law_enforcement_report_required":true}',
  '{06037,06059,06065}', 34.05, -118.25, 250, NULL, NULL, NULL,
  false, true, '[]', 'UTC', NULL, NULL, NULL, NULL, true, 0)
ON CONFLICT (id) DO NOTHING;

-- Cases (sql/code/cases.sql): two survivors, their needs, tasks and
-- consents (one active, one expired), and an investigation linked to the
-- second case under its law-enforcement consent. Personal data is sealed
-- with the data key when the connection has it (stack.sh sets PGOPTIONS);
-- without it the cases load without personal data.
INSERT INTO cases (id, case_number, lead_org, identified_on, identified_by_org,
    identified_how, age, age_group, gender, nationality, languages, trafficking_type,
    jurisdiction, created_by) OVERRIDING SYSTEM VALUE VALUES
 ('30000000-0000-4000-8000-000000000001', 'CT-2026-900001', '10000000-0000-4000-8000-000000000004',
  '2026-02-14', '10000000-0000-4000-8000-00000000000b', 'hotline', 16, 'minor', 'female', 'GT',
  '{es,en}', 'sex', '06037', 'demo'),
 ('30000000-0000-4000-8000-000000000002', 'CT-2026-900002', '10000000-0000-4000-8000-000000000005',
  '2026-03-03', '10000000-0000-4000-8000-000000000001', 'law_enforcement_encounter', NULL, 'adult',
  'male', 'PH', '{tl,en}', 'labor', '06037', 'demo')
ON CONFLICT (id) DO NOTHING;

INSERT INTO case_personal (case_id, identity_enc, contact_enc, location_enc)
SELECT v.id, lib.pd_seal(v.identity), lib.pd_seal(v.contact), lib.pd_seal(v.location)
FROM (VALUES
 ('30000000-0000-4000-8000-000000000001'::uuid,
  '{"legal_name":"Demo Person One","aliases":["Luz"],"date_of_birth":"2009-08-01"}'::jsonb,
  '{"phone":"+1-213-555-0901"}'::jsonb, '{"address":"Safe Harbor Shelter (confidential site)"}'::jsonb),
 ('30000000-0000-4000-8000-000000000002'::uuid,
  '{"legal_name":"Demo Person Two","date_of_birth":"1991-04-20"}'::jsonb,
  '{"phone":"+1-213-555-0902","email":"two@example.org"}'::jsonb, NULL::jsonb)) v (id, identity, contact, location)
WHERE length(coalesce(current_setting('concord.data_key', true), '')) >= 32
ON CONFLICT (case_id) DO NOTHING;

INSERT INTO case_needs (id, case_id, code, status) VALUES
 ('31000000-0000-4000-8000-000000000001', '30000000-0000-4000-8000-000000000001', 'housing_emergency', 'met'),
 ('31000000-0000-4000-8000-000000000002', '30000000-0000-4000-8000-000000000001', 'medical_care_emergency', 'in_progress'),
 ('31000000-0000-4000-8000-000000000003', '30000000-0000-4000-8000-000000000001', 'translation_interpretation', 'identified'),
 ('31000000-0000-4000-8000-000000000004', '30000000-0000-4000-8000-000000000002', 'legal_representation_immigration', 'referred'),
 ('31000000-0000-4000-8000-000000000005', '30000000-0000-4000-8000-000000000002', 'job_placement', 'identified')
ON CONFLICT (id) DO NOTHING;

INSERT INTO case_need_history (need_id, case_id, status, changed_by_sub, changed_by_org, changed_at)
SELECT n.id, n.case_id, h.status, 'demo', c.lead_org, now() - h.ago
FROM case_needs n JOIN cases c ON c.id = n.case_id
CROSS JOIN LATERAL (VALUES ('identified', interval '20 days'),
    (CASE WHEN n.status <> 'identified' THEN n.status END, interval '5 days')) h (status, ago)
WHERE n.id::text LIKE '31000000-%' AND h.status IS NOT NULL
AND NOT EXISTS (SELECT 1 FROM case_need_history x WHERE x.need_id = n.id);

INSERT INTO tasks (id, case_id, title, kind, due_at, assigned_org, created_by) VALUES
 ('32000000-0000-4000-8000-000000000001', '30000000-0000-4000-8000-000000000001',
  'Follow-up medical visit', 'follow_up', now() + interval '3 days', '10000000-0000-4000-8000-000000000007', 'demo'),
 ('32000000-0000-4000-8000-000000000002', '30000000-0000-4000-8000-000000000002',
  'T-visa certification packet due', 'document_deadline', now() + interval '14 days', '10000000-0000-4000-8000-000000000008', 'demo')
ON CONFLICT (id) DO NOTHING;
-- Due tomorrow, set five days ago: the worker's first sweep reminds the
-- lead organization ("Task due in 1 day"), which make run shows.
INSERT INTO tasks (id, case_id, title, kind, due_at, assigned_org, created_by, created_at) VALUES
 ('32000000-0000-4000-8000-000000000003', '30000000-0000-4000-8000-000000000001',
  'Review the safety plan', 'follow_up', now() + interval '20 hours', '10000000-0000-4000-8000-000000000004', 'demo',
  now() - interval '5 days')
ON CONFLICT (id) DO NOTHING;

INSERT INTO consents (id, case_id, categories, shared_with_org, shared_with_kind, purpose,
    informed, written, form_ref, granted_at, expires_at, recorded_by, recorded_by_org) VALUES
 ('33000000-0000-4000-8000-000000000001', '30000000-0000-4000-8000-000000000001', '{contact,needs}',
  NULL, 'health', 'Coordinate medical care', true, true, 'SH-ROI-0001', now() - interval '10 days',
  now() + interval '180 days', 'demo', '10000000-0000-4000-8000-000000000004'),
 ('33000000-0000-4000-8000-000000000002', '30000000-0000-4000-8000-000000000001', '{identity}',
  '10000000-0000-4000-8000-000000000001', NULL, 'Victim interview scheduling', true, true, 'SH-ROI-0002',
  now() - interval '60 days', now() - interval '30 days', 'demo', '10000000-0000-4000-8000-000000000004'),
 ('33000000-0000-4000-8000-000000000003', '30000000-0000-4000-8000-000000000002', '{identity,case_details}',
  NULL, 'law_enforcement', 'Labor trafficking investigation and T-visa certification', true, true,
  'BR-ROI-0001', now() - interval '7 days', now() + interval '365 days', 'demo',
  '10000000-0000-4000-8000-000000000005')
ON CONFLICT (id) DO NOTHING;

INSERT INTO investigations (id, title, lead_agency, jurisdictions, status, suspects_identified,
    needs, key_dates, created_by) OVERRIDING SYSTEM VALUE VALUES
 ('34000000-0000-4000-8000-000000000001', 'Operation Greenhouse (farm labor)',
  '10000000-0000-4000-8000-000000000001', '{06037,06059}', 'charges_filed', 3,
  '[{"code":"evidence","status":"in_progress"},{"code":"witness_support","status":"referred"}]',
  '[{"kind":"charges_filed","at":"2026-04-01T17:00:00Z"},{"kind":"court_date","at":"2027-01-12T17:00:00Z","label":"Preliminary hearing"}]',
  'demo')
ON CONFLICT (id) DO NOTHING;

INSERT INTO investigation_agencies (investigation_id, org_id, role) VALUES
 ('34000000-0000-4000-8000-000000000001', '10000000-0000-4000-8000-000000000001', 'lead'),
 ('34000000-0000-4000-8000-000000000001', '10000000-0000-4000-8000-000000000002', 'participating'),
 ('34000000-0000-4000-8000-000000000001', '10000000-0000-4000-8000-000000000003', 'prosecution')
ON CONFLICT DO NOTHING;

INSERT INTO tasks (id, investigation_id, title, kind, due_at, assigned_org, created_by) VALUES
 ('32000000-0000-4000-8000-000000000003', '34000000-0000-4000-8000-000000000001',
  'Preliminary hearing', 'court_date', '2027-01-12T17:00:00Z', '10000000-0000-4000-8000-000000000001', 'demo')
ON CONFLICT (id) DO NOTHING;

INSERT INTO investigation_cases (investigation_id, case_id, consent_id, linked_by, linked_by_org) VALUES
 ('34000000-0000-4000-8000-000000000001', '30000000-0000-4000-8000-000000000002',
  '33000000-0000-4000-8000-000000000003', 'demo', '10000000-0000-4000-8000-000000000001')
ON CONFLICT DO NOTHING;

-- Task forces (sql/code/taskforces.sql). Every organization above joined
-- the deployment's default task force when it was inserted (with a
-- default data-sharing agreement); the county task force below is a
-- local one the coordination office leads, with a few members, their
-- duties and one data-sharing agreement. Referrals its members send
-- with "task_force_id" stay among its active members.
INSERT INTO task_forces (id, name, description, jurisdictions, lead_org) VALUES
 ('50000000-0000-4000-8000-000000000001', 'Metro County Anti-Trafficking Task Force',
  'Law enforcement, prosecution, victim services, health and legal partners of Metro County.',
  '{06037}', '10000000-0000-4000-8000-00000000000c')
ON CONFLICT (id) DO NOTHING;

INSERT INTO task_force_members (id, task_force_id, org_id, discipline, duties, duty_tags,
    status, coordinator, contacts, joined_at) VALUES
 ('51000000-0000-4000-8000-000000000001', '50000000-0000-4000-8000-000000000001',
  '10000000-0000-4000-8000-00000000000c', 'other', 'Convenes the task force and its case reviews.',
  '{coordination}', 'active', true, '[{"name":"Task force coordinator","role":"coordinator","email":"coord@taskforce.example"}]', now()),
 ('51000000-0000-4000-8000-000000000002', '50000000-0000-4000-8000-000000000001',
  '10000000-0000-4000-8000-000000000001', 'law_enforcement', 'Investigations and victim identification.',
  '{investigation,identification}', 'active', false, '[]', now()),
 ('51000000-0000-4000-8000-000000000003', '50000000-0000-4000-8000-000000000001',
  '10000000-0000-4000-8000-000000000003', 'prosecution', 'Charging decisions and witness support.',
  '{prosecution}', 'active', false, '[]', now()),
 ('51000000-0000-4000-8000-000000000004', '50000000-0000-4000-8000-000000000001',
  '10000000-0000-4000-8000-000000000004', 'victim_services', 'Emergency shelter and case management.',
  '{shelter,case_management}', 'active', false, '[{"name":"Shelter intake lead","role":"intake"}]', now()),
 ('51000000-0000-4000-8000-000000000005', '50000000-0000-4000-8000-000000000001',
  '10000000-0000-4000-8000-000000000005', 'victim_services', 'Case management and survivor support.',
  '{case_management}', 'active', false, '[]', now()),
 ('51000000-0000-4000-8000-000000000006', '50000000-0000-4000-8000-000000000001',
  '10000000-0000-4000-8000-000000000007', 'health', 'Medical screening and care.',
  '{medical}', 'active', false, '[]', now()),
 ('51000000-0000-4000-8000-000000000007', '50000000-0000-4000-8000-000000000001',
  '10000000-0000-4000-8000-00000000000b', 'other', 'Hotline intake and referrals.',
  '{hotline}', 'active', false, '[]', now()),
 ('51000000-0000-4000-8000-000000000008', '50000000-0000-4000-8000-000000000001',
  '10000000-0000-4000-8000-000000000008', 'legal', 'Immigration relief and civil legal aid.',
  '{immigration}', 'invited', false, '[]', NULL)
ON CONFLICT DO NOTHING;

INSERT INTO agreements (id, task_force_id, kind, title, org_a, org_b, effective_on,
    expires_on, document_ref, status, categories, created_by) VALUES
 ('52000000-0000-4000-8000-000000000001', '50000000-0000-4000-8000-000000000001',
  'data_sharing', 'Shelter and case management data-sharing agreement',
  '10000000-0000-4000-8000-000000000004', '10000000-0000-4000-8000-000000000005',
  '2026-01-01', '2027-12-31', 'DSA-METRO-2026-01', 'active',
  '{case_details,contact,needs}', 'demo')
ON CONFLICT (id) DO NOTHING;
