-- National-size directory for tests/bench/directory.sh: 20,000
-- organizations and 100,000 services spread over the contiguous US,
-- clustered around 50 metro areas (as real providers are). Deterministic
-- (setseed); idempotent: rows are tagged with the 'bench' jurisdiction
-- and removed first. Load with the admin role:
--   psql "$CONCORD_ADMIN_DATABASE_URL" -f tests/bench/gen_directory.sql
\set ON_ERROR_STOP 1
BEGIN;
SELECT setseed(0.42);

DELETE FROM services WHERE organization_id IN
    (SELECT id FROM organizations WHERE 'bench' = ANY (jurisdictions));
DELETE FROM organizations WHERE 'bench' = ANY (jurisdictions);

CREATE TEMP TABLE bench_metro (n int, lat float8, lon float8) ON COMMIT DROP;
INSERT INTO bench_metro VALUES
 (0,40.71,-74.01),(1,34.05,-118.24),(2,41.88,-87.63),(3,29.76,-95.37),(4,33.45,-112.07),
 (5,39.95,-75.17),(6,29.42,-98.49),(7,32.72,-117.16),(8,32.78,-96.80),(9,37.34,-121.89),
 (10,30.27,-97.74),(11,30.33,-81.66),(12,37.77,-122.42),(13,39.96,-83.00),(14,35.23,-80.84),
 (15,39.77,-86.16),(16,47.61,-122.33),(17,39.74,-104.99),(18,38.91,-77.04),(19,42.36,-71.06),
 (20,31.76,-106.49),(21,36.16,-86.78),(22,42.33,-83.05),(23,35.47,-97.52),(24,45.52,-122.68),
 (25,36.17,-115.14),(26,35.15,-90.05),(27,38.25,-85.76),(28,39.29,-76.61),(29,43.04,-87.91),
 (30,35.08,-106.65),(31,32.22,-110.97),(32,36.74,-119.79),(33,38.58,-121.49),(34,33.75,-84.39),
 (35,39.10,-94.58),(36,41.26,-95.94),(37,35.78,-78.64),(38,25.76,-80.19),(39,44.98,-93.27),
 (40,36.15,-95.99),(41,41.50,-81.69),(42,27.95,-82.46),(43,29.95,-90.07),(44,37.69,-97.34),
 (45,40.76,-111.89),(46,40.44,-79.99),(47,43.05,-76.15),(48,38.63,-90.20),(49,21.31,-157.86);

CREATE TEMP TABLE bench_needs ON COMMIT DROP AS
    SELECT row_number() OVER (ORDER BY code) - 1 AS n, code
    FROM need_taxonomy WHERE grp = 'victim';

INSERT INTO organizations (id, name, kind, jurisdictions, contact, description)
SELECT md5('bench-org-' || g)::uuid,
    'Bench Org ' || lpad(g::text, 5, '0'),
    (ARRAY['victim_services','ngo','health','legal_aid','government',
	'faith_based','other','law_enforcement','prosecution'])[1 + g % 9],
    ARRAY['bench', lpad((1000 + g % 3000)::text, 5, '0')],
    jsonb_build_object('email', 'org' || g || '@bench.example'),
    'Generated for the directory benchmark'
FROM generate_series(1, 20000) g;

INSERT INTO services (id, organization_id, name, description, needs, age_min,
    age_max, genders, trafficking_types, languages, area_jurisdictions,
    site_lat, site_lon, area_lat, area_lon, area_radius_km, address,
    confidential, open_24_7, hours, timezone, capacity_total,
    capacity_available, capacity_unit, accepts_referrals)
SELECT md5('bench-svc-' || g)::uuid,
    md5('bench-org-' || (1 + g % 20000))::uuid,
    'Bench Service ' || lpad(g::text, 6, '0'),
    'Generated',
    ARRAY(SELECT DISTINCT code FROM bench_needs WHERE n IN (
	(g * 7) % 44, (g * 13) % 44, (g * 31) % 44,
	CASE WHEN g % 2 = 0 THEN (g * 17) % 44 ELSE (g * 7) % 44 END)),
    CASE WHEN g % 10 = 0 THEN 12 WHEN g % 3 = 0 THEN 18 END,
    CASE WHEN g % 10 = 0 THEN 17 END,
    CASE WHEN g % 7 = 0 THEN '{female}'::text[] ELSE '{}' END,
    CASE g % 5 WHEN 0 THEN '{sex}'::text[] WHEN 1 THEN '{labor}'
	ELSE '{labor,sex}' END,
    ARRAY['en'] || (ARRAY['es','zh','vi','ko','tl','ru','ar','fr','ht',
	'pt','hy','th','es-MX'])[1 + g % 13:1 + g % 13 + g % 2],
    ARRAY[lpad((1000 + g % 3000)::text, 5, '0')],
    p.lat, p.lon,
    CASE WHEN g % 17 = 0 THEN p.lat + 0.05 END,
    CASE WHEN g % 17 = 0 THEN p.lon + 0.05 END,
    CASE WHEN g % 17 = 0 THEN 30 END,
    jsonb_build_object('line1', g || ' Bench St', 'city', 'Metro ' || (g % 50)),
    g % 17 = 0,
    g % 4 = 0,
    CASE WHEN g % 4 = 0 THEN '[]'::jsonb ELSE
	'[{"day":"mon","opens":"09:00","closes":"17:00"},{"day":"wed","opens":"09:00","closes":"17:00"},{"day":"fri","opens":"09:00","closes":"17:00"}]'::jsonb END,
    'America/Chicago',
    CASE WHEN g % 3 = 0 THEN 20 END,
    CASE WHEN g % 3 = 0 THEN g % 21 END,
    CASE WHEN g % 3 = 0 THEN 'beds' END,
    g % 11 <> 0
FROM generate_series(1, 100000) g,
    LATERAL (SELECT m.lat + (random() - 0.5) * 1.2 * (1 + (g % 3)) AS lat,
	m.lon + (random() - 0.5) * 1.6 * (1 + (g % 3)) AS lon
	FROM bench_metro m WHERE m.n = (g * 37) % 50) p;
COMMIT;
VACUUM (ANALYZE) organizations;
VACUUM (ANALYZE) services;
SELECT count(*) AS bench_services FROM services s JOIN organizations o
    ON o.id = s.organization_id WHERE 'bench' = ANY (o.jurisdictions);
