-- 0006 code apart. From here on the functions, views and trigger
-- functions live in sql/code/, one file per area, and `concord-admin
-- migrate` re-creates their schemas (rpc, api, lib, casework, directory,
-- referral, worker) whenever those files change. Migrations keep only
-- what tables depend on: the functions of index expressions and the
-- trigger functions, now in schema "store", which migrate never drops.
-- This migration moves those out of the code schemas, drops the code
-- objects that sat in public, and adds the table that records which
-- code a database runs.

CREATE SCHEMA store;
REVOKE ALL ON SCHEMA store FROM PUBLIC;
COMMENT ON SCHEMA store IS 'Functions that tables depend on (index '
    'expressions, triggers). Owned by migrations; never re-created.';

-- Index expressions: same OIDs, so the GiST indexes stay valid.
ALTER FUNCTION directory.ll_earth(double precision, double precision)
    SET SCHEMA store;
ALTER FUNCTION directory.area_box(double precision, double precision,
    double precision) SET SCHEMA store;
CREATE OR REPLACE FUNCTION store.area_box(p_lat double precision,
    p_lon double precision, p_radius_km double precision) RETURNS public.cube
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
	SELECT public.cube_enlarge(store.ll_earth(p_lat, p_lon),
	    p_radius_km * 1000, 3)
$$;

ALTER FUNCTION public.audit_log_refuse() SET SCHEMA store;

/*
 * The services trigger keeps its derived columns (match arrays, the
 * stored JSON document). What it computes is code
 * (directory.service_derive in sql/code/directory.sql), looked up by
 * name at run time, so re-creating the code never touches the trigger.
 */
CREATE FUNCTION store.services_derive() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RETURN directory.service_derive(NEW);
END $$;
DROP TRIGGER services_derive ON services;
CREATE TRIGGER services_derive BEFORE INSERT OR UPDATE ON services
    FOR EACH ROW EXECUTE FUNCTION store.services_derive();
DROP FUNCTION directory.services_derive();
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA store FROM PUBLIC;

-- Code that lived in public moves to the code schemas.
DROP VIEW case_visible_orgs;
DROP FUNCTION audit_verify();
DROP FUNCTION audit_row_hash(text, bigint, timestamptz, text, uuid, text[],
    text, text, uuid, text[], text);

-- Which code the database runs: SHA-256 over sql/code/*.sql in name order.
CREATE TABLE schema_code (
	one		boolean PRIMARY KEY DEFAULT true CHECK (one),
	checksum	text NOT NULL,
	applied_at	timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON schema_code TO concord_api, concord_worker;
