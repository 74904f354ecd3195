-- 0009 audit sealing. Requests append audit records in parallel: ids
-- come from a sequence, in any commit order, with no lock or single-row
-- counter on the request path. The worker seals committed records
-- shortly after (worker.audit_seal): it fixes their order in
-- audit_seals, extends a hash chain over them, and closes each run with
-- a batch whose head chains to the previous batch's head. The records
-- themselves stay immutable; the old per-record chain columns and the
-- chain head go (every existing record is queued and sealed afresh).

CREATE SEQUENCE audit_log_id_seq OWNED BY audit_log.id;
SELECT setval('audit_log_id_seq', coalesce(max(id), 0) + 1, false)
    FROM audit_log;
ALTER TABLE audit_log ALTER COLUMN id SET DEFAULT nextval('audit_log_id_seq');
ALTER TABLE audit_log DROP COLUMN prev_hash, DROP COLUMN hash;
DROP TABLE audit_chain_head;

-- Committed records waiting for the sealer (a record and its entry
-- commit together, so a late commit with a lower id is sealed later,
-- never skipped).
CREATE TABLE audit_pending (
	id		bigint PRIMARY KEY
);
INSERT INTO audit_pending SELECT id FROM audit_log;

-- One sealing run: seals first_seq..last_seq; head chains the batches.
CREATE TABLE audit_batches (
	batch		bigint PRIMARY KEY CHECK (batch > 0),
	first_seq	bigint NOT NULL,
	last_seq	bigint NOT NULL CHECK (last_seq >= first_seq),
	prev_head	text NOT NULL,
	head		text NOT NULL,
	sealed_at	timestamptz NOT NULL DEFAULT now()
);

-- The sealed order: seq is gapless from 1; chain = sha256(previous
-- chain || the record's leaf hash).
CREATE TABLE audit_seals (
	seq		bigint PRIMARY KEY CHECK (seq > 0),
	audit_id	bigint NOT NULL UNIQUE,
	batch		bigint NOT NULL REFERENCES audit_batches
			    DEFERRABLE INITIALLY DEFERRED,
	chain		text NOT NULL
);
CREATE INDEX audit_seals_batch_idx ON audit_seals (batch, seq);

CREATE FUNCTION store.append_only_refuse() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION '% is append-only', TG_TABLE_NAME
	    USING ERRCODE = 'insufficient_privilege';
END $$;
REVOKE EXECUTE ON FUNCTION store.append_only_refuse() FROM PUBLIC;
CREATE TRIGGER audit_seals_no_update BEFORE UPDATE OR DELETE ON audit_seals
    FOR EACH ROW EXECUTE FUNCTION store.append_only_refuse();
CREATE TRIGGER audit_seals_no_truncate BEFORE TRUNCATE ON audit_seals
    FOR EACH STATEMENT EXECUTE FUNCTION store.append_only_refuse();
CREATE TRIGGER audit_batches_no_update BEFORE UPDATE OR DELETE
    ON audit_batches FOR EACH ROW EXECUTE FUNCTION store.append_only_refuse();
CREATE TRIGGER audit_batches_no_truncate BEFORE TRUNCATE ON audit_batches
    FOR EACH STATEMENT EXECUTE FUNCTION store.append_only_refuse();
REVOKE ALL ON audit_pending, audit_batches, audit_seals FROM PUBLIC;
