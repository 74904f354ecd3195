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
