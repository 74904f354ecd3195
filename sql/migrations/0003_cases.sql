-- 0003 cases: the people the task force serves (cases, their personal
-- data encrypted at rest, needs with history, tasks, consents that
-- decide which data categories another organization sees, transfer of
-- the lead role), investigations on the criminal-justice side with
-- consent-gated links to cases, and a hash-chained append-only audit
-- trail written in the same transaction as every read and write.
--
-- Visibility, in two layers:
--   object: a case is visible to the organizations in case_visible_orgs
--           (lead, assigned an open task, receiving a pending transfer;
--           referrals join later) and to coordinators and admins.
--           Anyone else gets 404 on every path under the case.
--   field:  categories identity, contact, location, case_details, needs.
--           The lead organization sees all; coordinators and admins see
--           case_details and needs; everything else needs an active
--           consent naming the caller's organization or its kind.

----------------------------------------------------------------------
-- Small validation helpers (jsonb in, boolean out; NULL means absent).
----------------------------------------------------------------------

CREATE FUNCTION api.absent(p jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT p IS NULL OR p = 'null'::jsonb
$$;

CREATE FUNCTION api.is_str(p jsonb, p_min integer, p_max integer)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(jsonb_typeof(p) = 'string' AND
	    length(p #>> '{}') BETWEEN p_min AND p_max, false)
$$;

CREATE FUNCTION api.is_int(p jsonb, p_min bigint, p_max bigint)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(jsonb_typeof(p) = 'number' AND
	    (p #>> '{}') ~ '^-?[0-9]{1,15}$' AND
	    (p #>> '{}')::bigint BETWEEN p_min AND p_max, false)
$$;

CREATE FUNCTION api.is_enum(p jsonb, p_vals text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(jsonb_typeof(p) = 'string' AND
	    (p #>> '{}') = ANY (p_vals), false)
$$;

CREATE FUNCTION api.is_uuid(p jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(jsonb_typeof(p) = 'string' AND (p #>> '{}') ~*
	    '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
	    false)
$$;

CREATE FUNCTION api.try_date(p_text text) RETURNS date
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	IF p_text IS NULL OR p_text !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN
		RETURN NULL;
	END IF;
	RETURN p_text::date;
EXCEPTION WHEN OTHERS THEN
	RETURN NULL;
END $$;

CREATE FUNCTION api.try_ts(p_text text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
	IF p_text IS NULL OR p_text !~
	    '^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)$'
	    THEN
		RETURN NULL;
	END IF;
	RETURN p_text::timestamptz;
EXCEPTION WHEN OTHERS THEN
	RETURN NULL;
END $$;

CREATE FUNCTION api.is_date(p jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT jsonb_typeof(p) = 'string' AND api.try_date(p #>> '{}') IS NOT NULL
$$;

CREATE FUNCTION api.is_ts(p jsonb) RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT coalesce(jsonb_typeof(p) = 'string' AND
	    api.try_ts(p #>> '{}') IS NOT NULL, false)
$$;

-- An array of 0..p_max strings of 1..p_len characters.
CREATE FUNCTION api.is_str_array(p jsonb, p_max integer, p_len integer)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(jsonb_typeof(p) = 'array' AND
	    jsonb_array_length(p) <= p_max AND NOT EXISTS (
	    SELECT 1 FROM jsonb_array_elements(p) e
	    WHERE NOT api.is_str(e, 1, p_len)), false)
$$;

CREATE FUNCTION api.jtext_array(p jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN jsonb_typeof(p) = 'array' THEN
	    ARRAY(SELECT jsonb_array_elements_text(p)) END
$$;

/*
 * Mass-assignment guard: every key of p_obj must be in p_allowed. A key
 * in p_protected is named "is set by the server"; any other stranger is
 * "unknown field". Returns the errors (empty array when clean).
 */
CREATE FUNCTION api.check_keys(p_obj jsonb, p_prefix text, p_allowed text[],
    p_protected text[] DEFAULT '{}') RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(jsonb_agg(api.err(p_prefix || k, CASE
	    WHEN k = ANY (p_protected) THEN 'is set by the server and may not '
	    'be sent' ELSE 'unknown field' END) ORDER BY k), '[]'::jsonb)
	FROM jsonb_object_keys(CASE WHEN jsonb_typeof(p_obj) = 'object'
	    THEN p_obj ELSE '{}'::jsonb END) k
	WHERE NOT (k = ANY (p_allowed))
$$;

CREATE FUNCTION api.fail_if(p_errs jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	IF jsonb_array_length(p_errs) > 0 THEN
		PERFORM api.fail(422, 'validation-error', 'The body has '
		    'invalid or forbidden fields; see errors.', p_errs);
	END IF;
END $$;

-- The query string may only carry p_allowed keys (400 otherwise).
CREATE FUNCTION api.query_allow(p_args jsonb, p_allowed text[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	v_errs jsonb;
BEGIN
	IF coalesce(p_args->'query', '{}') = '{}'::jsonb THEN
		RETURN;
	END IF;
	SELECT jsonb_agg(api.err(k, 'unknown query parameter') ORDER BY k)
	    INTO v_errs FROM jsonb_object_keys(coalesce(p_args->'query',
	    '{}')) k WHERE NOT (k = ANY (p_allowed));
	IF v_errs IS NOT NULL THEN
		PERFORM api.fail(400, 'bad-query', 'The query string names '
		    'parameters this operation does not take.', v_errs);
	END IF;
END $$;

CREATE FUNCTION api.bad_query(p_name text, p_reason text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM api.fail(400, 'bad-query', 'Query parameter ' || p_name ||
	    ' ' || p_reason || '.', jsonb_build_array(api.err(p_name,
	    p_reason)));
END $$;

-- limit: 1..100, default 50.
CREATE FUNCTION api.page_limit(p_args jsonb) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
	v jsonb := p_args->'query'->'limit';
BEGIN
	IF v IS NULL THEN
		RETURN 50;
	END IF;
	IF jsonb_typeof(v) <> 'string' OR (v #>> '{}') !~ '^[0-9]{1,3}$' OR
	    (v #>> '{}')::integer NOT BETWEEN 1 AND 100 THEN
		PERFORM api.bad_query('limit', 'must be an integer from 1 to 100');
	END IF;
	RETURN (v #>> '{}')::integer;
END $$;

-- cursor: the opaque next_cursor of a previous page (a position number).
CREATE FUNCTION api.page_cursor(p_args jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	v jsonb := p_args->'query'->'cursor';
BEGIN
	IF v IS NULL THEN
		RETURN NULL;
	END IF;
	IF jsonb_typeof(v) <> 'string' OR (v #>> '{}') !~ '^[0-9]{1,18}$' THEN
		PERFORM api.bad_query('cursor', 'is not a cursor this API issued');
	END IF;
	RETURN (v #>> '{}')::bigint;
END $$;

-- A single-valued text query parameter, or NULL.
CREATE FUNCTION api.query_text(p_args jsonb, p_name text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	v jsonb := p_args->'query'->p_name;
BEGIN
	IF v IS NULL THEN
		RETURN NULL;
	END IF;
	IF jsonb_typeof(v) <> 'string' OR length(v #>> '{}') NOT BETWEEN 1
	    AND 200 THEN
		PERFORM api.bad_query(p_name, 'must be given once, 1 to 200 '
		    'characters');
	END IF;
	RETURN v #>> '{}';
END $$;

CREATE FUNCTION api.query_uuid(p_args jsonb, p_name text) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
	v text := api.query_text(p_args, p_name);
BEGIN
	IF v IS NOT NULL AND NOT api.is_uuid(to_jsonb(v)) THEN
		PERFORM api.bad_query(p_name, 'must be a UUID');
	END IF;
	RETURN v::uuid;
END $$;

CREATE FUNCTION api.query_ts(p_args jsonb, p_name text) RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
	v text := api.query_text(p_args, p_name);
BEGIN
	IF v IS NOT NULL AND api.try_ts(v) IS NULL THEN
		PERFORM api.bad_query(p_name, 'must be an RFC 3339 date-time');
	END IF;
	RETURN api.try_ts(v);
END $$;

CREATE FUNCTION api.query_enum(p_args jsonb, p_name text, p_vals text[])
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	v text := api.query_text(p_args, p_name);
BEGIN
	IF v IS NOT NULL AND NOT (v = ANY (p_vals)) THEN
		PERFORM api.bad_query(p_name, 'must be one of ' ||
		    array_to_string(p_vals, ', '));
	END IF;
	RETURN v;
END $$;

-- Optimistic concurrency: If-Match must carry "<version>" (or *).
CREATE FUNCTION api.if_match(p_args jsonb, p_version integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	v text := p_args->>'if_match';
BEGIN
	IF v IS NULL THEN
		PERFORM api.fail(428, 'precondition-required', 'Send If-Match '
		    'with the ETag you last read.');
	END IF;
	IF v <> '*' AND v <> format('"%s"', p_version) AND
	    v <> format('W/"%s"', p_version) THEN
		PERFORM api.fail(412, 'precondition-failed', 'The record '
		    'changed since you read it; read it again.');
	END IF;
END $$;

CREATE FUNCTION api.etag(p_version integer) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT jsonb_build_object('etag', format('"%s"', p_version))
$$;

CREATE FUNCTION api.path_id(p_args jsonb, p_name text DEFAULT 'id')
RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
	SELECT (p_args->'path'->>p_name)::uuid
$$;

-- Hot-path helpers are plpgsql: their plans are cached per session
-- (a non-inlined SQL function is planned again on every call).
CREATE FUNCTION api.ctx_roles(p_ctx jsonb) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	RETURN ARRAY(SELECT jsonb_array_elements_text(coalesce(p_ctx->'roles',
	    '[]')) ORDER BY 1);
END $$;

----------------------------------------------------------------------
-- Audit trail: append-only, hash chained, serialized on a chain head.
----------------------------------------------------------------------

CREATE TABLE audit_log (
	id		bigint PRIMARY KEY,	-- gapless, from the chain head
	at		timestamptz NOT NULL,
	actor_sub	text NOT NULL,
	actor_org	uuid,
	actor_roles	text[] NOT NULL,
	action		text NOT NULL,		-- read, create, update, ...
	object_type	text NOT NULL,		-- case, case_personal, ...
	object_id	uuid,
	fields		text[] NOT NULL DEFAULT '{}',
	request_id	text,
	prev_hash	text NOT NULL,
	hash		text NOT NULL
);
CREATE INDEX audit_log_object_idx ON audit_log (object_type, object_id, id);
CREATE INDEX audit_log_object_id_idx ON audit_log (object_id, id);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_sub, id);
CREATE INDEX audit_log_at_idx ON audit_log (at);

-- One row: the last link. Appends lock it (after advisory lock 7261003),
-- so the chain is a line.
CREATE TABLE audit_chain_head (
	one		boolean PRIMARY KEY DEFAULT true CHECK (one),
	last_id		bigint NOT NULL,
	last_hash	text NOT NULL
);
INSERT INTO audit_chain_head VALUES (true, 0, repeat('0', 64));

/*
 * The hash of one record: sha256 over the previous hash and a canonical
 * JSON array of the record's content (jsonb's text form is canonical,
 * the time is rendered in UTC to the microsecond).
 */
CREATE FUNCTION audit_row_hash(p_prev text, p_id bigint, p_at timestamptz,
    p_sub text, p_org uuid, p_roles text[], p_action text, p_type text,
    p_obj uuid, p_fields text[], p_req text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN encode(public.digest(p_prev || jsonb_build_array(p_id,
	    to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
	    p_sub, p_org, p_roles, p_action, p_type, p_obj, p_fields,
	    p_req)::text, 'sha256'), 'hex');
END $$;

CREATE FUNCTION audit_log_refuse() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit_log is append-only'
	    USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse();
REVOKE ALL ON audit_log, audit_chain_head FROM PUBLIC;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM concord_api, concord_worker;

/*
 * Append one audit record for the caller in p_ctx. Runs in the caller's
 * transaction: a rolled back request leaves no record, a committed one
 * always has its record. Serializes on audit_chain_head.
 */
CREATE FUNCTION api.audit(p_ctx jsonb, p_action text, p_type text,
    p_obj uuid, p_fields text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	v_id	bigint;
	v_prev	text;
	v_at	timestamptz;
	v_roles	text[] := api.ctx_roles(p_ctx);
	v_hash	text;
	v_org	uuid := api.ctx_org(p_ctx);
	v_flds	text[] := coalesce(p_fields, '{}');
BEGIN
	/*
	 * The advisory lock queues appenders in FIFO order; the row lock
	 * alone would wake every waiter at each commit (a thundering herd
	 * under load). Both are held until commit.
	 */
	PERFORM pg_advisory_xact_lock(7261003);
	SELECT last_id + 1, last_hash INTO v_id, v_prev
	    FROM audit_chain_head WHERE one FOR UPDATE;
	v_at := clock_timestamp();
	v_hash := audit_row_hash(v_prev, v_id, v_at, p_ctx->>'sub', v_org,
	    v_roles, p_action, p_type, p_obj, v_flds, p_ctx->>'request_id');
	INSERT INTO audit_log VALUES (v_id, v_at, p_ctx->>'sub', v_org,
	    v_roles, p_action, p_type, p_obj, v_flds, p_ctx->>'request_id',
	    v_prev, v_hash);
	UPDATE audit_chain_head SET last_id = v_id, last_hash = v_hash
	    WHERE one;
END $$;

/*
 * Walk the chain from the first record. ok is false at the first broken
 * link: broken_id names the record and reason says what is wrong (a
 * missing record, a prev_hash that does not match, content that does
 * not match its hash, a head that points past the last record).
 */
CREATE FUNCTION audit_verify(OUT ok boolean, OUT checked bigint,
    OUT broken_id bigint, OUT reason text)
LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
	r	record;
	h	record;
	v_prev	text := repeat('0', 64);
	v_next	bigint := 1;
BEGIN
	ok := true;
	checked := 0;
	SELECT last_id, last_hash INTO h FROM audit_chain_head WHERE one;
	FOR r IN SELECT * FROM audit_log WHERE id <= h.last_id ORDER BY id LOOP
		IF r.id <> v_next THEN
			ok := false;
			broken_id := v_next;
			reason := 'record missing';
			RETURN;
		END IF;
		IF r.prev_hash <> v_prev THEN
			ok := false;
			broken_id := r.id;
			reason := 'prev_hash does not match the previous record';
			RETURN;
		END IF;
		IF r.hash <> audit_row_hash(r.prev_hash, r.id, r.at,
		    r.actor_sub, r.actor_org, r.actor_roles, r.action,
		    r.object_type, r.object_id, r.fields, r.request_id) THEN
			ok := false;
			broken_id := r.id;
			reason := 'content does not match its hash';
			RETURN;
		END IF;
		v_prev := r.hash;
		v_next := v_next + 1;
		checked := checked + 1;
	END LOOP;
	IF h.last_id <> v_next - 1 OR h.last_hash <> v_prev THEN
		ok := false;
		broken_id := v_next;
		reason := 'chain head points past the last record';
	END IF;
END $$;

----------------------------------------------------------------------
-- Personal data encryption (pgcrypto, OpenPGP symmetric, AES-256).
-- The key is a session setting the API sets on its own connections
-- (libpq options -c concord.data_key=...); it is never in SQL text.
----------------------------------------------------------------------

CREATE FUNCTION api.data_key() RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v text := current_setting('concord.data_key', true);
BEGIN
	IF v IS NULL OR length(v) < 32 THEN
		PERFORM api.fail(503, 'unavailable', 'The personal-data key '
		    'is not configured on this connection.');
	END IF;
	RETURN v;
END $$;

-- Encrypt one category's object; NULL or {} stores NULL.
CREATE FUNCTION api.pd_seal(p jsonb) RETURNS bytea
LANGUAGE sql VOLATILE AS $$
	SELECT CASE WHEN p IS NULL OR p = '{}'::jsonb THEN NULL
	    ELSE pgp_sym_encrypt(p::text, api.data_key(),
	    'cipher-algo=aes256, s2k-mode=1') END
$$;

CREATE FUNCTION api.pd_open(p bytea) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN p IS NULL THEN '{}'::jsonb
	    ELSE pgp_sym_decrypt(p, api.data_key())::jsonb END
$$;

----------------------------------------------------------------------
-- Cases and their personal data.
----------------------------------------------------------------------

CREATE SEQUENCE case_number_seq;

CREATE TABLE cases (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	seq		bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
	case_number	text NOT NULL UNIQUE,
	lead_org	uuid NOT NULL REFERENCES organizations (id),
	identified_on	date NOT NULL,
	identified_by_org uuid REFERENCES organizations (id),
	identified_how	text NOT NULL CHECK (identified_how IN ('hotline',
			    'law_enforcement_encounter', 'outreach',
			    'self_referral', 'other')),
	age		integer CHECK (age BETWEEN 0 AND 130),
	age_group	text NOT NULL DEFAULT 'unknown'
			    CHECK (age_group IN ('minor', 'adult', 'unknown')),
	gender		text CHECK (length(gender) BETWEEN 1 AND 100),
	nationality	text CHECK (length(nationality) BETWEEN 1 AND 100),
	languages	text[] NOT NULL DEFAULT '{}',
	trafficking_type text NOT NULL DEFAULT 'unknown'
			    CHECK (trafficking_type IN ('sex', 'labor', 'both',
			    'unknown')),
	jurisdiction	text NOT NULL CHECK (length(jurisdiction) BETWEEN 1
			    AND 100),
	status		text NOT NULL DEFAULT 'open'
			    CHECK (status IN ('open', 'closed')),
	closed_reason	text CHECK (length(closed_reason) BETWEEN 1 AND 500),
	version		integer NOT NULL DEFAULT 1,
	created_by	text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	CHECK ((status = 'closed') = (closed_reason IS NOT NULL))
);
CREATE INDEX cases_lead_idx ON cases (lead_org, seq);
CREATE INDEX cases_updated_idx ON cases (updated_at);

-- Personal data, apart from the rest: one ciphertext per category.
CREATE TABLE case_personal (
	case_id		uuid PRIMARY KEY REFERENCES cases (id),
	identity_enc	bytea,	-- {legal_name, aliases, date_of_birth}
	contact_enc	bytea,	-- {phone, email}
	location_enc	bytea,	-- {address}
	updated_at	timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE case_needs (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	case_id		uuid NOT NULL REFERENCES cases (id),
	code		text NOT NULL REFERENCES need_taxonomy (code),
	status		text NOT NULL CHECK (status IN ('identified',
			    'referred', 'in_progress', 'met',
			    'declined_by_client', 'unmet')),
	version		integer NOT NULL DEFAULT 1,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	UNIQUE (case_id, code)
);

-- Every status a need has had, with who set it and when.
CREATE TABLE case_need_history (
	id		bigserial PRIMARY KEY,
	need_id		uuid NOT NULL REFERENCES case_needs (id),
	case_id		uuid NOT NULL REFERENCES cases (id),
	status		text NOT NULL,
	changed_by_sub	text NOT NULL,
	changed_by_org	uuid,
	changed_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_need_history_need_idx ON case_need_history (need_id, id);

CREATE TABLE investigations (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	seq		bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
	title		text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
	lead_agency	uuid NOT NULL REFERENCES organizations (id),
	jurisdictions	text[] NOT NULL DEFAULT '{}',
	status		text NOT NULL DEFAULT 'open' CHECK (status IN ('open',
			    'charges_filed', 'prosecution', 'closed')),
	outcome		text CHECK (length(outcome) BETWEEN 1 AND 500),
	suspects_identified integer NOT NULL DEFAULT 0
			    CHECK (suspects_identified >= 0),
	needs		jsonb NOT NULL DEFAULT '[]',	-- [{code, status}]
	key_dates	jsonb NOT NULL DEFAULT '[]',	-- [{kind, at, label}]
	version		integer NOT NULL DEFAULT 1,
	created_by	text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	CHECK ((status = 'closed') = (outcome IS NOT NULL))
);

-- Agencies on an investigation: the lead, participants, prosecution.
CREATE TABLE investigation_agencies (
	investigation_id uuid NOT NULL REFERENCES investigations (id),
	org_id		uuid NOT NULL REFERENCES organizations (id),
	role		text NOT NULL CHECK (role IN ('lead', 'participating',
			    'prosecution')),
	PRIMARY KEY (investigation_id, org_id)
);
CREATE INDEX investigation_agencies_org_idx ON investigation_agencies (org_id);

CREATE TABLE investigation_cases (
	investigation_id uuid NOT NULL REFERENCES investigations (id),
	case_id		uuid NOT NULL REFERENCES cases (id),
	consent_id	uuid NOT NULL,	-- the consent that allowed the link
	linked_by	text NOT NULL,
	linked_by_org	uuid,
	linked_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (investigation_id, case_id)
);
CREATE INDEX investigation_cases_case_idx ON investigation_cases (case_id);

-- Tasks hang off a case or an investigation (court dates).
CREATE TABLE tasks (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	case_id		uuid REFERENCES cases (id),
	investigation_id uuid REFERENCES investigations (id),
	title		text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
	kind		text NOT NULL CHECK (kind IN ('court_date', 'follow_up',
			    'document_deadline', 'other')),
	due_at		timestamptz NOT NULL,
	assigned_org	uuid NOT NULL REFERENCES organizations (id),
	status		text NOT NULL DEFAULT 'open' CHECK (status IN ('open',
			    'in_progress', 'done', 'cancelled')),
	version		integer NOT NULL DEFAULT 1,
	created_by	text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	CHECK (num_nonnulls(case_id, investigation_id) = 1)
);
CREATE INDEX tasks_case_idx ON tasks (case_id, assigned_org);
CREATE INDEX tasks_org_idx ON tasks (assigned_org, case_id)
    WHERE status IN ('open', 'in_progress');
CREATE INDEX tasks_due_idx ON tasks (due_at) WHERE status IN ('open',
    'in_progress');
CREATE INDEX tasks_investigation_idx ON tasks (investigation_id);

CREATE TABLE consents (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	case_id		uuid NOT NULL REFERENCES cases (id),
	categories	text[] NOT NULL CHECK (categories <@ ARRAY['identity',
			    'contact', 'location', 'case_details', 'needs']
			    AND cardinality(categories) >= 1),
	shared_with_org	uuid REFERENCES organizations (id),
	shared_with_kind text CHECK (shared_with_kind IN ('law_enforcement',
			    'prosecution', 'victim_services', 'ngo', 'health',
			    'legal_aid', 'government', 'faith_based', 'other')),
	purpose		text NOT NULL CHECK (length(purpose) BETWEEN 1 AND 500),
	informed	boolean NOT NULL CHECK (informed),
	written		boolean NOT NULL,
	form_ref	text CHECK (length(form_ref) BETWEEN 1 AND 200),
	granted_at	timestamptz NOT NULL,
	expires_at	timestamptz NOT NULL,
	revoked_at	timestamptz,
	revoked_by	text,
	recorded_by	text NOT NULL,
	recorded_by_org	uuid,
	created_at	timestamptz NOT NULL DEFAULT now(),
	CHECK (num_nonnulls(shared_with_org, shared_with_kind) = 1),
	CHECK (expires_at > granted_at),
	CHECK (NOT written OR form_ref IS NOT NULL)
);
CREATE INDEX consents_case_idx ON consents (case_id);

CREATE TABLE case_transfers (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	case_id		uuid NOT NULL REFERENCES cases (id),
	from_org	uuid NOT NULL REFERENCES organizations (id),
	to_org		uuid NOT NULL REFERENCES organizations (id),
	reason		text CHECK (length(reason) BETWEEN 1 AND 500),
	status		text NOT NULL DEFAULT 'pending' CHECK (status IN
			    ('pending', 'accepted', 'declined')),
	requested_by	text NOT NULL,
	requested_by_org uuid,
	requested_at	timestamptz NOT NULL DEFAULT now(),
	decided_by	text,
	decided_at	timestamptz
);
CREATE UNIQUE INDEX case_transfers_pending_idx ON case_transfers (case_id)
    WHERE status = 'pending';
CREATE INDEX case_transfers_to_idx ON case_transfers (to_org, case_id)
    WHERE status = 'pending';

/*
 * Who may see a case at the object level, and why. Referrals (a later
 * issue) add a branch here; everything that decides visibility reads
 * this view so the rule lives in one place.
 */
CREATE VIEW case_visible_orgs AS
	SELECT id AS case_id, lead_org AS org_id, 'lead'::text AS relation
	    FROM cases
	UNION ALL
	SELECT case_id, assigned_org, 'task' FROM tasks
	    WHERE case_id IS NOT NULL AND status IN ('open', 'in_progress')
	UNION ALL
	SELECT case_id, to_org, 'transfer_pending' FROM case_transfers
	    WHERE status = 'pending';

CREATE FUNCTION api.is_coord(p_ctx jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT api.has_role(p_ctx, 'coordinator') OR api.has_role(p_ctx, 'admin')
$$;

-- Object level: may the caller know this case exists?
CREATE FUNCTION api.case_visible(p_ctx jsonb, p_case uuid, p_org uuid)
RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN api.is_coord(p_ctx) OR (p_org IS NOT NULL AND EXISTS (
	    SELECT 1 FROM case_visible_orgs v WHERE v.case_id = p_case AND
	    v.org_id = p_org));
END $$;

/*
 * Field level: the categories the caller sees on a case it can see.
 * Consents are read at call time (no cache): expiry and revocation take
 * effect on the next request.
 */
CREATE FUNCTION api.case_categories(p_ctx jsonb, p_case uuid, p_lead uuid,
    p_org uuid) RETURNS text[]
LANGUAGE plpgsql STABLE AS $$
BEGIN
	IF p_org IS NOT NULL AND p_org = p_lead THEN
		RETURN ARRAY['case_details', 'contact', 'identity', 'location',
		    'needs'];
	END IF;
	RETURN ARRAY(SELECT DISTINCT x FROM (
	    SELECT unnest(ARRAY['case_details', 'needs']) x
	        WHERE api.is_coord(p_ctx)
	    UNION ALL
	    SELECT unnest(c.categories) FROM consents c
	        WHERE p_org IS NOT NULL AND c.case_id = p_case
	        AND c.revoked_at IS NULL AND c.granted_at <= now()
	        AND c.expires_at > now()
	        AND (c.shared_with_org = p_org OR c.shared_with_kind =
	        (SELECT kind FROM organizations WHERE id = p_org))) s
	    ORDER BY 1);
END $$;

CREATE FUNCTION api.case_redacted(p_cats text[]) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	RETURN coalesce((SELECT jsonb_agg(x ORDER BY x) FROM unnest(
	    ARRAY['case_details', 'contact', 'identity', 'location', 'needs'])
	    x WHERE NOT (x = ANY (p_cats))), '[]'::jsonb);
END $$;

/*
 * Load a case the caller may see, or raise 404 (absent and invisible
 * look the same). p_lock takes the row for an update.
 */
CREATE FUNCTION api.case_fetch(p_ctx jsonb, p_id uuid, p_org uuid,
    p_lock boolean DEFAULT false) RETURNS cases
LANGUAGE plpgsql AS $$
DECLARE
	c cases;
BEGIN
	IF p_lock THEN
		SELECT * INTO c FROM cases WHERE id = p_id FOR UPDATE;
	ELSE
		SELECT * INTO c FROM cases WHERE id = p_id;
	END IF;
	IF c.id IS NULL OR NOT api.case_visible(p_ctx, p_id, p_org) THEN
		PERFORM api.fail(404, 'not-found', 'No such case.');
	END IF;
	RETURN c;
END $$;

CREATE FUNCTION api.need_doc(n case_needs) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', n.id, 'case_id', n.case_id,
	    'code', n.code, 'status', n.status, 'version', n.version,
	    'created_at', n.created_at, 'updated_at', n.updated_at,
	    'history', coalesce((SELECT jsonb_agg(jsonb_build_object(
	    'status', h.status, 'changed_at', h.changed_at,
	    'changed_by', h.changed_by_sub, 'changed_by_org_id',
	    h.changed_by_org) ORDER BY h.id) FROM case_need_history h
	    WHERE h.need_id = n.id), '[]'::jsonb))
$$;

/*
 * The case document holding only the categories in p_cats (personal
 * categories are decrypted only when included); `redacted` names the
 * categories left out. p_summary leaves personal categories out too
 * (lists carry no personal data) without listing them as redacted.
 */
CREATE FUNCTION api.case_doc(c cases, p_cats text[],
    p_summary boolean DEFAULT false) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	d	jsonb;
	p	case_personal;
BEGIN
	d := jsonb_build_object('id', c.id, 'case_number', c.case_number,
	    'lead_org_id', c.lead_org, 'status', c.status,
	    'closed_reason', c.closed_reason, 'jurisdiction', c.jurisdiction,
	    'identified_on', c.identified_on, 'version', c.version,
	    'created_at', c.created_at, 'updated_at', c.updated_at,
	    'redacted', api.case_redacted(CASE WHEN p_summary THEN p_cats ||
	    ARRAY['identity', 'contact', 'location'] ELSE p_cats END));
	IF 'case_details' = ANY (p_cats) THEN
		d := d || jsonb_build_object('case_details', jsonb_build_object(
		    'identified_by', jsonb_build_object('org_id',
		    c.identified_by_org, 'how', c.identified_how),
		    'demographics', jsonb_build_object('age', c.age,
		    'age_group', c.age_group, 'gender', c.gender,
		    'nationality', c.nationality, 'languages',
		    to_jsonb(c.languages), 'trafficking_type',
		    c.trafficking_type)));
	END IF;
	IF 'needs' = ANY (p_cats) THEN
		d := d || jsonb_build_object('needs', coalesce((SELECT
		    jsonb_agg(jsonb_build_object('id', n.id, 'code', n.code,
		    'status', n.status) ORDER BY n.created_at, n.id)
		    FROM case_needs n WHERE n.case_id = c.id), '[]'::jsonb));
	END IF;
	IF NOT p_summary AND p_cats && ARRAY['identity', 'contact',
	    'location'] THEN
		SELECT * INTO p FROM case_personal WHERE case_id = c.id;
		IF 'identity' = ANY (p_cats) THEN
			d := d || jsonb_build_object('identity',
			    api.pd_open(p.identity_enc));
		END IF;
		IF 'contact' = ANY (p_cats) THEN
			d := d || jsonb_build_object('contact',
			    api.pd_open(p.contact_enc));
		END IF;
		IF 'location' = ANY (p_cats) THEN
			d := d || jsonb_build_object('location',
			    api.pd_open(p.location_enc));
		END IF;
	END IF;
	RETURN d;
END $$;

-- minor / adult / unknown from a date of birth, else an age.
CREATE FUNCTION api.age_group(p_dob date, p_age integer, p_on date)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE
	    WHEN p_dob IS NOT NULL THEN CASE WHEN p_dob > p_on - interval
	        '18 years' THEN 'minor' ELSE 'adult' END
	    WHEN p_age IS NOT NULL THEN CASE WHEN p_age < 18 THEN 'minor'
	        ELSE 'adult' END
	    ELSE 'unknown' END
$$;

/*
 * Validate the writable case fields present in p_body (create when
 * p_create). Returns the errors; names every offending field.
 */
CREATE FUNCTION api.case_validate(p_body jsonb, p_create boolean)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
	e	jsonb := '[]';
	v	jsonb;
BEGIN
	IF p_create THEN
		e := e || api.check_keys(p_body, '', ARRAY['identified_on',
		    'identified_by', 'jurisdiction', 'demographics',
		    'identity', 'contact', 'location'], ARRAY['id',
		    'case_number', 'lead_org_id', 'status', 'closed_reason',
		    'version', 'created_at', 'updated_at', 'created_by',
		    'redacted', 'needs', 'case_details']);
	ELSE
		e := e || api.check_keys(p_body, '', ARRAY['identified_on',
		    'identified_by', 'jurisdiction', 'demographics',
		    'identity', 'contact', 'location', 'status',
		    'closed_reason'], ARRAY['id', 'case_number', 'lead_org_id',
		    'version', 'created_at', 'updated_at', 'created_by',
		    'redacted', 'needs', 'case_details']);
	END IF;
	IF (p_create OR p_body ? 'identified_on') AND
	    NOT api.is_date(p_body->'identified_on') THEN
		e := e || api.err('identified_on', 'must be a date (YYYY-MM-DD)');
	ELSIF p_body ? 'identified_on' AND
	    (p_body->>'identified_on')::date > current_date THEN
		e := e || api.err('identified_on', 'must not be in the future');
	END IF;
	IF (p_create OR p_body ? 'jurisdiction') AND
	    NOT api.is_str(p_body->'jurisdiction', 1, 100) THEN
		e := e || api.err('jurisdiction', 'must be a string of 1 to '
		    '100 characters');
	END IF;
	v := p_body->'identified_by';
	IF p_create OR p_body ? 'identified_by' THEN
		IF jsonb_typeof(v) IS DISTINCT FROM 'object' THEN
			e := e || api.err('identified_by', 'must be an object '
			    'with how and optionally org_id');
		ELSE
			e := e || api.check_keys(v, 'identified_by.',
			    ARRAY['org_id', 'how']);
			IF NOT api.is_enum(v->'how', ARRAY['hotline',
			    'law_enforcement_encounter', 'outreach',
			    'self_referral', 'other']) THEN
				e := e || api.err('identified_by.how', 'must be '
				    'one of hotline, law_enforcement_encounter, '
				    'outreach, self_referral, other');
			END IF;
			IF NOT api.absent(v->'org_id') AND (NOT api.is_uuid(
			    v->'org_id') OR NOT EXISTS (SELECT 1 FROM
			    organizations WHERE id = (v->>'org_id')::uuid)) THEN
				e := e || api.err('identified_by.org_id',
				    'must name an existing organization');
			END IF;
		END IF;
	END IF;
	v := p_body->'demographics';
	IF p_body ? 'demographics' THEN
		IF jsonb_typeof(v) IS DISTINCT FROM 'object' THEN
			e := e || api.err('demographics', 'must be an object');
		ELSE
			e := e || api.check_keys(v, 'demographics.',
			    ARRAY['age', 'gender', 'nationality', 'languages',
			    'trafficking_type'], ARRAY['age_group']);
			IF NOT api.absent(v->'age') AND
			    NOT api.is_int(v->'age', 0, 130) THEN
				e := e || api.err('demographics.age',
				    'must be an integer from 0 to 130');
			END IF;
			IF NOT api.absent(v->'gender') AND
			    NOT api.is_str(v->'gender', 1, 100) THEN
				e := e || api.err('demographics.gender',
				    'must be a string of 1 to 100 characters');
			END IF;
			IF NOT api.absent(v->'nationality') AND
			    NOT api.is_str(v->'nationality', 1, 100) THEN
				e := e || api.err('demographics.nationality',
				    'must be a string of 1 to 100 characters');
			END IF;
			IF NOT api.absent(v->'languages') AND
			    NOT api.is_str_array(v->'languages', 20, 50) THEN
				e := e || api.err('demographics.languages',
				    'must be an array of up to 20 strings');
			END IF;
			IF NOT api.absent(v->'trafficking_type') AND
			    NOT api.is_enum(v->'trafficking_type', ARRAY['sex',
			    'labor', 'both', 'unknown']) THEN
				e := e || api.err('demographics.trafficking_type',
				    'must be one of sex, labor, both, unknown');
			END IF;
		END IF;
	END IF;
	v := p_body->'identity';
	IF p_body ? 'identity' THEN
		IF jsonb_typeof(v) IS DISTINCT FROM 'object' THEN
			e := e || api.err('identity', 'must be an object');
		ELSE
			e := e || api.check_keys(v, 'identity.',
			    ARRAY['legal_name', 'aliases', 'date_of_birth']);
			IF NOT api.absent(v->'legal_name') AND
			    NOT api.is_str(v->'legal_name', 1, 200) THEN
				e := e || api.err('identity.legal_name',
				    'must be a string of 1 to 200 characters');
			END IF;
			IF NOT api.absent(v->'aliases') AND
			    NOT api.is_str_array(v->'aliases', 20, 200) THEN
				e := e || api.err('identity.aliases',
				    'must be an array of up to 20 strings');
			END IF;
			IF NOT api.absent(v->'date_of_birth') AND (NOT
			    api.is_date(v->'date_of_birth') OR
			    (v->>'date_of_birth')::date > current_date) THEN
				e := e || api.err('identity.date_of_birth',
				    'must be a past date (YYYY-MM-DD)');
			END IF;
		END IF;
	END IF;
	v := p_body->'contact';
	IF p_body ? 'contact' THEN
		IF jsonb_typeof(v) IS DISTINCT FROM 'object' THEN
			e := e || api.err('contact', 'must be an object');
		ELSE
			e := e || api.check_keys(v, 'contact.',
			    ARRAY['phone', 'email']);
			IF NOT api.absent(v->'phone') AND
			    NOT api.is_str(v->'phone', 3, 50) THEN
				e := e || api.err('contact.phone',
				    'must be a string of 3 to 50 characters');
			END IF;
			IF NOT api.absent(v->'email') AND (NOT
			    api.is_str(v->'email', 3, 254) OR
			    (v->>'email') !~ '^[^@\s]+@[^@\s]+$') THEN
				e := e || api.err('contact.email',
				    'must be an email address');
			END IF;
		END IF;
	END IF;
	v := p_body->'location';
	IF p_body ? 'location' THEN
		IF jsonb_typeof(v) IS DISTINCT FROM 'object' THEN
			e := e || api.err('location', 'must be an object');
		ELSE
			e := e || api.check_keys(v, 'location.',
			    ARRAY['address']);
			IF NOT api.absent(v->'address') AND
			    NOT api.is_str(v->'address', 1, 500) THEN
				e := e || api.err('location.address',
				    'must be a string of 1 to 500 characters');
			END IF;
		END IF;
	END IF;
	IF p_body ? 'status' AND NOT api.is_enum(p_body->'status',
	    ARRAY['open', 'closed']) THEN
		e := e || api.err('status', 'must be open or closed');
	END IF;
	IF NOT api.absent(p_body->'closed_reason') AND
	    NOT api.is_str(p_body->'closed_reason', 1, 500) THEN
		e := e || api.err('closed_reason', 'must be a string of 1 to '
		    '500 characters');
	END IF;
	RETURN e;
END $$;

-- Merge a category patch into the stored object; null removes a key.
CREATE FUNCTION api.pd_merge(p_old jsonb, p_patch jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT jsonb_strip_nulls(coalesce(p_old, '{}') || p_patch)
$$;

-- The caller's org, required for writes that act as an organization.
CREATE FUNCTION api.require_org_present(p_ctx jsonb) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
	v_org uuid := api.require_org(p_ctx);
BEGIN
	IF v_org IS NULL THEN
		PERFORM api.fail(403, 'organization-required', 'This operation '
		    'acts for an organization; the token names none.');
	END IF;
	RETURN v_org;
END $$;

-- POST /v1/cases
CREATE FUNCTION api.case_create(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := api.require_org_present(p_ctx);
	v_kind	text;
	c	cases;
	v_dem	jsonb := coalesce(p_body->'demographics', '{}');
	v_dob	date;
	v_cats	text[] := '{}';
BEGIN
	SELECT kind INTO v_kind FROM organizations WHERE id = v_org;
	IF v_kind IN ('law_enforcement', 'prosecution') THEN
		PERFORM api.fail(403, 'lead-not-allowed', 'A case is held by '
		    'a service organization, not by law enforcement or '
		    'prosecution.');
	END IF;
	PERFORM api.fail_if(api.case_validate(p_body, true));
	v_dob := (p_body->'identity'->>'date_of_birth')::date;
	INSERT INTO cases (case_number, lead_org, identified_on,
	    identified_by_org, identified_how, age, age_group, gender,
	    nationality, languages, trafficking_type, jurisdiction,
	    created_by)
	VALUES ('CT-' || to_char(now(), 'YYYY') || '-' ||
	    lpad(nextval('case_number_seq')::text, 6, '0'), v_org,
	    (p_body->>'identified_on')::date,
	    coalesce((p_body->'identified_by'->>'org_id')::uuid, v_org),
	    p_body->'identified_by'->>'how', (v_dem->>'age')::integer,
	    api.age_group(v_dob, (v_dem->>'age')::integer,
	    (p_body->>'identified_on')::date), v_dem->>'gender',
	    v_dem->>'nationality', coalesce(api.jtext_array(
	    v_dem->'languages'), '{}'), coalesce(v_dem->>'trafficking_type',
	    'unknown'), p_body->>'jurisdiction', p_ctx->>'sub')
	RETURNING * INTO c;
	INSERT INTO case_personal (case_id, identity_enc, contact_enc,
	    location_enc) VALUES (c.id,
	    api.pd_seal(jsonb_strip_nulls(p_body->'identity')),
	    api.pd_seal(jsonb_strip_nulls(p_body->'contact')),
	    api.pd_seal(jsonb_strip_nulls(p_body->'location')));
	PERFORM api.audit(p_ctx, 'create', 'case', c.id,
	    ARRAY['case_details']);
	SELECT array_agg(k ORDER BY k) INTO v_cats FROM unnest(ARRAY[
	    'identity', 'contact', 'location']) k WHERE p_body ? k;
	IF v_cats IS NOT NULL THEN
		PERFORM api.audit(p_ctx, 'create', 'case_personal', c.id,
		    v_cats);
	END IF;
	status := 201;
	body := api.case_doc(c, api.case_categories(p_ctx, c.id, c.lead_org,
	    v_org));
	headers := api.etag(c.version) || jsonb_build_object('location',
	    '/v1/cases/' || c.id);
END $$;

-- GET /v1/cases/{id}
CREATE FUNCTION api.case_get(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := api.require_org(p_ctx);
	c	cases;
	v_cats	text[];
BEGIN
	PERFORM api.query_allow(p_args, '{}');
	c := api.case_fetch(p_ctx, api.path_id(p_args), v_org);
	v_cats := api.case_categories(p_ctx, c.id, c.lead_org, v_org);
	body := api.case_doc(c, v_cats);
	PERFORM api.audit(p_ctx, 'read', 'case', c.id, v_cats);
	status := 200;
	headers := api.etag(c.version);
END $$;

-- GET /v1/cases: status, need, lead_org_id, updated_since; paginated.
CREATE FUNCTION api.case_list(p_ctx jsonb, p_args jsonb, p_body jsonb,
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

-- PATCH /v1/cases/{id} (lead organization only; If-Match required)
CREATE FUNCTION api.case_update(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := api.require_org(p_ctx);
	c	cases;
	p	case_personal;
	v_id	jsonb;
	v_dem	jsonb;
	v_st	text;
	v_reason text;
	v_pcats	text[] := '{}';
	v_flds	text[];
BEGIN
	c := api.case_fetch(p_ctx, api.path_id(p_args), v_org, true);
	IF v_org IS DISTINCT FROM c.lead_org THEN
		PERFORM api.fail(403, 'not-lead', 'Only the lead organization '
		    'may change a case.');
	END IF;
	PERFORM api.fail_if(api.case_validate(p_body, false));
	PERFORM api.if_match(p_args, c.version);
	SELECT array_agg(k ORDER BY k) INTO v_flds FROM jsonb_object_keys(
	    p_body) k;
	v_st := coalesce(p_body->>'status', c.status);
	v_reason := CASE WHEN v_st = 'open' THEN NULL WHEN p_body ?
	    'closed_reason' THEN p_body->>'closed_reason' ELSE
	    c.closed_reason END;
	IF v_st = 'closed' AND v_reason IS NULL THEN
		PERFORM api.fail(422, 'validation-error', 'A closed case '
		    'needs a reason.', jsonb_build_array(api.err(
		    'closed_reason', 'is required when status is closed')));
	END IF;
	SELECT * INTO p FROM case_personal WHERE case_id = c.id FOR UPDATE;
	v_id := api.pd_open(p.identity_enc);
	IF p_body ? 'identity' THEN
		v_id := api.pd_merge(v_id, p_body->'identity');
		UPDATE case_personal SET identity_enc = api.pd_seal(v_id),
		    updated_at = now() WHERE case_id = c.id;
		v_pcats := v_pcats || 'identity'::text;
	END IF;
	IF p_body ? 'contact' THEN
		UPDATE case_personal SET contact_enc = api.pd_seal(
		    api.pd_merge(api.pd_open(contact_enc), p_body->'contact')),
		    updated_at = now() WHERE case_id = c.id;
		v_pcats := v_pcats || 'contact'::text;
	END IF;
	IF p_body ? 'location' THEN
		UPDATE case_personal SET location_enc = api.pd_seal(
		    api.pd_merge(api.pd_open(location_enc), p_body->'location')),
		    updated_at = now() WHERE case_id = c.id;
		v_pcats := v_pcats || 'location'::text;
	END IF;
	v_dem := api.pd_merge(jsonb_build_object('age', c.age, 'gender',
	    c.gender, 'nationality', c.nationality, 'languages',
	    to_jsonb(c.languages), 'trafficking_type', c.trafficking_type),
	    coalesce(p_body->'demographics', '{}'));
	UPDATE cases SET
	    identified_on = coalesce((p_body->>'identified_on')::date,
	        identified_on),
	    identified_by_org = CASE WHEN p_body ? 'identified_by' THEN
	        coalesce((p_body->'identified_by'->>'org_id')::uuid,
	        identified_by_org) ELSE identified_by_org END,
	    identified_how = coalesce(p_body->'identified_by'->>'how',
	        identified_how),
	    jurisdiction = coalesce(p_body->>'jurisdiction', jurisdiction),
	    age = (v_dem->>'age')::integer,
	    gender = v_dem->>'gender',
	    nationality = v_dem->>'nationality',
	    languages = coalesce(api.jtext_array(v_dem->'languages'), '{}'),
	    trafficking_type = coalesce(v_dem->>'trafficking_type', 'unknown'),
	    age_group = api.age_group((v_id->>'date_of_birth')::date,
	        (v_dem->>'age')::integer, coalesce((p_body->>'identified_on')
	        ::date, identified_on)),
	    status = v_st, closed_reason = v_reason,
	    version = version + 1, updated_at = now()
	WHERE id = c.id RETURNING * INTO c;
	PERFORM api.audit(p_ctx, 'update', 'case', c.id, v_flds);
	IF cardinality(v_pcats) > 0 THEN
		PERFORM api.audit(p_ctx, 'update', 'case_personal', c.id,
		    v_pcats);
	END IF;
	status := 200;
	body := api.case_doc(c, api.case_categories(p_ctx, c.id, c.lead_org,
	    v_org));
	headers := api.etag(c.version);
END $$;

----------------------------------------------------------------------
-- Needs
----------------------------------------------------------------------

-- Only the lead organization records needs and their changes.
CREATE FUNCTION api.case_require_lead(c cases, p_org uuid, p_what text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF p_org IS DISTINCT FROM c.lead_org THEN
		PERFORM api.fail(403, 'not-lead', 'Only the lead organization '
		    'may ' || p_what || '.');
	END IF;
END $$;

CREATE FUNCTION api.need_statuses() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT ARRAY['identified', 'referred', 'in_progress', 'met',
	    'declined_by_client', 'unmet']
$$;

-- POST /v1/cases/{id}/needs
CREATE FUNCTION api.case_need_create(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := api.require_org(p_ctx);
	c	cases;
	n	case_needs;
	e	jsonb;
BEGIN
	c := api.case_fetch(p_ctx, api.path_id(p_args), v_org);
	PERFORM api.case_require_lead(c, v_org, 'record needs');
	e := api.check_keys(p_body, '', ARRAY['code', 'status'], ARRAY['id',
	    'case_id', 'version', 'created_at', 'updated_at', 'history']);
	IF NOT api.is_str(p_body->'code', 1, 100) OR NOT EXISTS (SELECT 1
	    FROM need_taxonomy WHERE code = p_body->>'code' AND
	    grp = 'victim') THEN
		e := e || api.err('code', 'must be a victim need code from '
		    '/v1/taxonomy/needs');
	END IF;
	IF p_body ? 'status' AND NOT api.is_enum(p_body->'status',
	    api.need_statuses()) THEN
		e := e || api.err('status', 'must be one of ' ||
		    array_to_string(api.need_statuses(), ', '));
	END IF;
	PERFORM api.fail_if(e);
	IF EXISTS (SELECT 1 FROM case_needs WHERE case_id = c.id AND
	    code = p_body->>'code') THEN
		PERFORM api.fail(409, 'duplicate-need', 'This case already has '
		    'that need; change its status instead.');
	END IF;
	INSERT INTO case_needs (case_id, code, status)
	    VALUES (c.id, p_body->>'code', coalesce(p_body->>'status',
	    'identified')) RETURNING * INTO n;
	INSERT INTO case_need_history (need_id, case_id, status,
	    changed_by_sub, changed_by_org) VALUES (n.id, c.id, n.status,
	    p_ctx->>'sub', v_org);
	UPDATE cases SET updated_at = now() WHERE id = c.id;
	PERFORM api.audit(p_ctx, 'create', 'need', n.id, ARRAY['code',
	    'status']);
	status := 201;
	body := api.need_doc(n);
	headers := api.etag(n.version) || jsonb_build_object('location',
	    '/v1/cases/' || c.id || '/needs/' || n.id);
END $$;

-- GET /v1/cases/{id}/needs (needs category required to see items)
CREATE FUNCTION api.case_need_list(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := api.require_org(p_ctx);
	c	cases;
	v_st	text;
	v_ok	boolean;
BEGIN
	PERFORM api.query_allow(p_args, ARRAY['status']);
	v_st := api.query_enum(p_args, 'status', api.need_statuses());
	c := api.case_fetch(p_ctx, api.path_id(p_args), v_org);
	v_ok := 'needs' = ANY (api.case_categories(p_ctx, c.id, c.lead_org,
	    v_org));
	status := 200;
	headers := '{}';
	body := jsonb_build_object('items', CASE WHEN v_ok THEN
	    coalesce((SELECT jsonb_agg(api.need_doc(n) ORDER BY n.created_at,
	    n.id) FROM case_needs n WHERE n.case_id = c.id AND
	    (v_st IS NULL OR n.status = v_st)), '[]') ELSE '[]' END,
	    'redacted', CASE WHEN v_ok THEN '[]'::jsonb ELSE '["needs"]' END);
	PERFORM api.audit(p_ctx, 'read', 'case', c.id, CASE WHEN v_ok THEN
	    ARRAY['needs'] ELSE '{}' END);
END $$;

-- PATCH /v1/cases/{id}/needs/{nid}
CREATE FUNCTION api.case_need_update(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := api.require_org(p_ctx);
	c	cases;
	n	case_needs;
	e	jsonb;
BEGIN
	c := api.case_fetch(p_ctx, api.path_id(p_args), v_org);
	SELECT * INTO n FROM case_needs WHERE id = api.path_id(p_args, 'nid')
	    AND case_id = c.id FOR UPDATE;
	IF n.id IS NULL OR NOT ('needs' = ANY (api.case_categories(p_ctx,
	    c.id, c.lead_org, v_org))) THEN
		PERFORM api.fail(404, 'not-found', 'No such need on this case.');
	END IF;
	PERFORM api.case_require_lead(c, v_org, 'change needs');
	e := api.check_keys(p_body, '', ARRAY['status'], ARRAY['id',
	    'case_id', 'code', 'version', 'created_at', 'updated_at',
	    'history']);
	IF NOT api.is_enum(p_body->'status', api.need_statuses()) THEN
		e := e || api.err('status', 'must be one of ' ||
		    array_to_string(api.need_statuses(), ', '));
	END IF;
	PERFORM api.fail_if(e);
	PERFORM api.if_match(p_args, n.version);
	UPDATE case_needs SET status = p_body->>'status', version = version + 1,
	    updated_at = now() WHERE id = n.id RETURNING * INTO n;
	INSERT INTO case_need_history (need_id, case_id, status,
	    changed_by_sub, changed_by_org) VALUES (n.id, c.id, n.status,
	    p_ctx->>'sub', v_org);
	UPDATE cases SET updated_at = now() WHERE id = c.id;
	PERFORM api.audit(p_ctx, 'update', 'need', n.id, ARRAY['status']);
	status := 200;
	body := api.need_doc(n);
	headers := api.etag(n.version);
END $$;

----------------------------------------------------------------------
-- Tasks
----------------------------------------------------------------------

CREATE FUNCTION api.task_doc(t tasks) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT jsonb_build_object('id', t.id, 'case_id', t.case_id,
	    'investigation_id', t.investigation_id, 'title', t.title,
	    'kind', t.kind, 'due_at', t.due_at, 'assigned_org_id',
	    t.assigned_org, 'status', t.status, 'version', t.version,
	    'created_by', t.created_by, 'created_at', t.created_at,
	    'updated_at', t.updated_at)
$$;

CREATE FUNCTION api.task_validate(p_body jsonb, p_create boolean)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
	e jsonb;
BEGIN
	e := api.check_keys(p_body, '', ARRAY['title', 'kind', 'due_at',
	    'assigned_org_id', 'status'], ARRAY['id', 'case_id',
	    'investigation_id', 'version', 'created_by', 'created_at',
	    'updated_at']);
	IF (p_create OR p_body ? 'title') AND
	    NOT api.is_str(p_body->'title', 1, 200) THEN
		e := e || api.err('title', 'must be a string of 1 to 200 '
		    'characters');
	END IF;
	IF (p_create OR p_body ? 'kind') AND NOT api.is_enum(p_body->'kind',
	    ARRAY['court_date', 'follow_up', 'document_deadline', 'other']) THEN
		e := e || api.err('kind', 'must be one of court_date, '
		    'follow_up, document_deadline, other');
	END IF;
	IF (p_create OR p_body ? 'due_at') AND NOT api.is_ts(p_body->'due_at')
	    THEN
		e := e || api.err('due_at', 'must be an RFC 3339 date-time');
	END IF;
	IF p_body ? 'assigned_org_id' AND (NOT api.is_uuid(
	    p_body->'assigned_org_id') OR NOT EXISTS (SELECT 1 FROM
	    organizations WHERE id = (p_body->>'assigned_org_id')::uuid AND
	    organizations.status = 'active')) THEN
		e := e || api.err('assigned_org_id', 'must name an active '
		    'organization');
	END IF;
	IF p_body ? 'status' AND NOT api.is_enum(p_body->'status',
	    ARRAY['open', 'in_progress', 'done', 'cancelled']) THEN
		e := e || api.err('status', 'must be one of open, in_progress, '
		    'done, cancelled');
	END IF;
	RETURN e;
END $$;

-- POST /v1/cases/{id}/tasks (lead organization or coordinator)
CREATE FUNCTION api.case_task_create(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := api.require_org(p_ctx);
	c	cases;
	t	tasks;
BEGIN
	c := api.case_fetch(p_ctx, api.path_id(p_args), v_org);
	IF NOT api.has_role(p_ctx, 'coordinator') THEN
		PERFORM api.case_require_lead(c, v_org, 'add tasks');
	END IF;
	PERFORM api.fail_if(api.task_validate(p_body, true));
	INSERT INTO tasks (case_id, title, kind, due_at, assigned_org, status,
	    created_by) VALUES (c.id, p_body->>'title', p_body->>'kind',
	    (p_body->>'due_at')::timestamptz, coalesce((p_body->>
	    'assigned_org_id')::uuid, c.lead_org), coalesce(
	    p_body->>'status', 'open'), p_ctx->>'sub') RETURNING * INTO t;
	UPDATE cases SET updated_at = now() WHERE id = c.id;
	PERFORM api.audit(p_ctx, 'create', 'task', t.id, ARRAY(SELECT
	    jsonb_object_keys(p_body) ORDER BY 1));
	status := 201;
	body := api.task_doc(t);
	headers := api.etag(t.version) || jsonb_build_object('location',
	    '/v1/cases/' || c.id || '/tasks/' || t.id);
END $$;

-- GET /v1/cases/{id}/tasks
CREATE FUNCTION api.case_task_list(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := api.require_org(p_ctx);
	c	cases;
	v_st	text;
BEGIN
	PERFORM api.query_allow(p_args, ARRAY['status']);
	v_st := api.query_enum(p_args, 'status', ARRAY['open', 'in_progress',
	    'done', 'cancelled']);
	c := api.case_fetch(p_ctx, api.path_id(p_args), v_org);
	status := 200;
	headers := '{}';
	body := jsonb_build_object('items', coalesce((SELECT jsonb_agg(
	    api.task_doc(t) ORDER BY t.due_at, t.id) FROM tasks t
	    WHERE t.case_id = c.id AND (v_st IS NULL OR t.status = v_st)),
	    '[]'));
	PERFORM api.audit(p_ctx, 'read', 'case', c.id, ARRAY['tasks']);
END $$;

-- PATCH /v1/cases/{id}/tasks/{tid}: the assigned org may move status.
CREATE FUNCTION api.case_task_update(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := api.require_org(p_ctx);
	c	cases;
	t	tasks;
	v_bad	text[];
BEGIN
	c := api.case_fetch(p_ctx, api.path_id(p_args), v_org);
	SELECT * INTO t FROM tasks WHERE id = api.path_id(p_args, 'tid') AND
	    case_id = c.id FOR UPDATE;
	IF t.id IS NULL THEN
		PERFORM api.fail(404, 'not-found', 'No such task on this case.');
	END IF;
	IF NOT (api.has_role(p_ctx, 'coordinator') OR v_org = c.lead_org) THEN
		IF v_org IS DISTINCT FROM t.assigned_org THEN
			PERFORM api.fail(403, 'not-lead', 'Only the lead '
			    'organization, a coordinator or the assigned '
			    'organization may change this task.');
		END IF;
		SELECT array_agg(k ORDER BY k) INTO v_bad FROM
		    jsonb_object_keys(p_body) k WHERE k <> 'status';
		IF v_bad IS NOT NULL THEN
			PERFORM api.fail(422, 'validation-error', 'The assigned '
			    'organization may only change status.',
			    (SELECT jsonb_agg(api.err(k, 'only the lead '
			    'organization or a coordinator may set it'))
			    FROM unnest(v_bad) k));
		END IF;
	END IF;
	PERFORM api.fail_if(api.task_validate(p_body, false));
	PERFORM api.if_match(p_args, t.version);
	UPDATE tasks SET title = coalesce(p_body->>'title', title),
	    kind = coalesce(p_body->>'kind', kind),
	    due_at = coalesce((p_body->>'due_at')::timestamptz, due_at),
	    assigned_org = coalesce((p_body->>'assigned_org_id')::uuid,
	    assigned_org), status = coalesce(p_body->>'status', tasks.status),
	    version = version + 1, updated_at = now()
	    WHERE id = t.id RETURNING * INTO t;
	UPDATE cases SET updated_at = now() WHERE id = c.id;
	PERFORM api.audit(p_ctx, 'update', 'task', t.id, ARRAY(SELECT
	    jsonb_object_keys(p_body) ORDER BY 1));
	status := 200;
	body := api.task_doc(t);
	headers := api.etag(t.version);
END $$;

----------------------------------------------------------------------
-- Consents
----------------------------------------------------------------------

CREATE FUNCTION api.consent_doc(k consents) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', k.id, 'case_id', k.case_id,
	    'categories', to_jsonb(k.categories), 'shared_with_org_id',
	    k.shared_with_org, 'shared_with_kind', k.shared_with_kind,
	    'purpose', k.purpose, 'informed', k.informed, 'written',
	    k.written, 'form_ref', k.form_ref, 'granted_at', k.granted_at,
	    'expires_at', k.expires_at, 'revoked_at', k.revoked_at,
	    'recorded_by', k.recorded_by, 'recorded_by_org_id',
	    k.recorded_by_org, 'state', CASE
	    WHEN k.revoked_at IS NOT NULL THEN 'revoked'
	    WHEN k.expires_at <= now() THEN 'expired'
	    WHEN k.granted_at > now() THEN 'pending'
	    ELSE 'active' END)
$$;

-- POST /v1/cases/{id}/consents (the lead organization records them)
CREATE FUNCTION api.case_consent_create(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := api.require_org(p_ctx);
	c	cases;
	k	consents;
	e	jsonb;
	v_from	timestamptz;
BEGIN
	c := api.case_fetch(p_ctx, api.path_id(p_args), v_org);
	PERFORM api.case_require_lead(c, v_org, 'record consents');
	e := api.check_keys(p_body, '', ARRAY['categories',
	    'shared_with_org_id', 'shared_with_kind', 'purpose', 'informed',
	    'written', 'form_ref', 'granted_at', 'expires_at'], ARRAY['id',
	    'case_id', 'revoked_at', 'recorded_by', 'recorded_by_org_id',
	    'state', 'created_at']);
	IF jsonb_typeof(p_body->'categories') IS DISTINCT FROM 'array' OR
	    jsonb_array_length(p_body->'categories') = 0 OR EXISTS (SELECT 1
	    FROM jsonb_array_elements(p_body->'categories') x WHERE NOT
	    api.is_enum(x, ARRAY['identity', 'contact', 'location',
	    'case_details', 'needs'])) THEN
		e := e || api.err('categories', 'must be a non-empty array of '
		    'identity, contact, location, case_details, needs');
	END IF;
	IF api.absent(p_body->'shared_with_org_id') =
	    api.absent(p_body->'shared_with_kind') THEN
		e := e || api.err('shared_with_org_id', 'give exactly one of '
		    'shared_with_org_id and shared_with_kind');
	ELSIF NOT api.absent(p_body->'shared_with_org_id') AND (NOT
	    api.is_uuid(p_body->'shared_with_org_id') OR NOT EXISTS (SELECT 1
	    FROM organizations WHERE id = (p_body->>'shared_with_org_id')
	    ::uuid)) THEN
		e := e || api.err('shared_with_org_id', 'must name an '
		    'existing organization');
	ELSIF NOT api.absent(p_body->'shared_with_kind') AND NOT api.is_enum(
	    p_body->'shared_with_kind', ARRAY['law_enforcement',
	    'prosecution', 'victim_services', 'ngo', 'health', 'legal_aid',
	    'government', 'faith_based', 'other']) THEN
		e := e || api.err('shared_with_kind', 'must be an '
		    'organization kind');
	END IF;
	IF NOT api.is_str(p_body->'purpose', 1, 500) THEN
		e := e || api.err('purpose', 'must be a string of 1 to 500 '
		    'characters');
	END IF;
	IF p_body->'informed' IS DISTINCT FROM 'true'::jsonb THEN
		e := e || api.err('informed', 'must be true: consent is '
		    'recorded only when informed');
	END IF;
	IF jsonb_typeof(p_body->'written') IS DISTINCT FROM 'boolean' THEN
		e := e || api.err('written', 'must be a boolean');
	END IF;
	IF p_body->'written' = 'true'::jsonb AND NOT api.is_str(
	    p_body->'form_ref', 1, 200) THEN
		e := e || api.err('form_ref', 'is required for written consent '
		    '(the signed form''s reference, 1 to 200 characters)');
	ELSIF NOT api.absent(p_body->'form_ref') AND NOT api.is_str(
	    p_body->'form_ref', 1, 200) THEN
		e := e || api.err('form_ref', 'must be a string of 1 to 200 '
		    'characters');
	END IF;
	IF NOT api.absent(p_body->'granted_at') AND NOT api.is_ts(
	    p_body->'granted_at') THEN
		e := e || api.err('granted_at', 'must be an RFC 3339 date-time');
	END IF;
	v_from := coalesce(api.try_ts(p_body->>'granted_at'), now());
	IF NOT api.is_ts(p_body->'expires_at') THEN
		e := e || api.err('expires_at', 'is required: an RFC 3339 '
		    'date-time');
	ELSIF api.try_ts(p_body->>'expires_at') <= greatest(now(), v_from) THEN
		e := e || api.err('expires_at', 'must be in the future and '
		    'after granted_at');
	END IF;
	PERFORM api.fail_if(e);
	INSERT INTO consents (case_id, categories, shared_with_org,
	    shared_with_kind, purpose, informed, written, form_ref,
	    granted_at, expires_at, recorded_by, recorded_by_org)
	VALUES (c.id, ARRAY(SELECT DISTINCT jsonb_array_elements_text(
	    p_body->'categories') ORDER BY 1),
	    (p_body->>'shared_with_org_id')::uuid, p_body->>'shared_with_kind',
	    p_body->>'purpose', true, (p_body->>'written')::boolean,
	    p_body->>'form_ref', v_from, (p_body->>'expires_at')::timestamptz,
	    p_ctx->>'sub', v_org) RETURNING * INTO k;
	PERFORM api.audit(p_ctx, 'create', 'consent', k.id, k.categories);
	status := 201;
	body := api.consent_doc(k);
	headers := jsonb_build_object('location', '/v1/cases/' || c.id ||
	    '/consents/' || k.id);
END $$;

-- GET /v1/cases/{id}/consents
CREATE FUNCTION api.case_consent_list(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := api.require_org(p_ctx);
	c	cases;
BEGIN
	PERFORM api.query_allow(p_args, '{}');
	c := api.case_fetch(p_ctx, api.path_id(p_args), v_org);
	status := 200;
	headers := '{}';
	body := jsonb_build_object('items', coalesce((SELECT jsonb_agg(
	    api.consent_doc(k) ORDER BY k.created_at, k.id) FROM consents k
	    WHERE k.case_id = c.id), '[]'));
	PERFORM api.audit(p_ctx, 'read', 'case', c.id, ARRAY['consents']);
END $$;

-- POST /v1/cases/{id}/consents/{cid}/revoke (effective immediately)
CREATE FUNCTION api.case_consent_revoke(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := api.require_org(p_ctx);
	c	cases;
	k	consents;
BEGIN
	c := api.case_fetch(p_ctx, api.path_id(p_args), v_org);
	SELECT * INTO k FROM consents WHERE id = api.path_id(p_args, 'cid')
	    AND case_id = c.id FOR UPDATE;
	IF k.id IS NULL THEN
		PERFORM api.fail(404, 'not-found', 'No such consent on this '
		    'case.');
	END IF;
	IF NOT api.is_coord(p_ctx) THEN
		PERFORM api.case_require_lead(c, v_org, 'revoke consents');
	END IF;
	IF k.revoked_at IS NOT NULL THEN
		PERFORM api.fail(409, 'already-revoked', 'This consent was '
		    'revoked already.');
	END IF;
	UPDATE consents SET revoked_at = now(), revoked_by = p_ctx->>'sub'
	    WHERE id = k.id RETURNING * INTO k;
	PERFORM api.audit(p_ctx, 'revoke', 'consent', k.id, ARRAY['revoked_at']);
	status := 200;
	body := api.consent_doc(k);
	headers := '{}';
END $$;

----------------------------------------------------------------------
-- Audit API
----------------------------------------------------------------------

-- GET /v1/audit?object_type=&object_id=&actor=&since= (newest first)
CREATE FUNCTION api.audit_list(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_org	uuid := api.require_org(p_ctx);
	v_limit	integer;
	v_before bigint;
	v_type	text;
	v_obj	uuid;
	v_actor	text;
	v_since	timestamptz;
	v_items	jsonb;
	v_last	bigint;
	v_n	integer;
BEGIN
	PERFORM api.query_allow(p_args, ARRAY['object_type', 'object_id',
	    'actor', 'since', 'limit', 'cursor']);
	v_limit := api.page_limit(p_args);
	v_before := api.page_cursor(p_args);
	v_type := api.query_text(p_args, 'object_type');
	v_obj := api.query_uuid(p_args, 'object_id');
	v_actor := api.query_text(p_args, 'actor');
	v_since := api.query_ts(p_args, 'since');
	SELECT coalesce(jsonb_agg(jsonb_build_object('id', a.id::text,
	    'at', a.at, 'actor_sub', a.actor_sub, 'actor_org_id', a.actor_org,
	    'actor_roles', to_jsonb(a.actor_roles), 'action', a.action,
	    'object_type', a.object_type, 'object_id', a.object_id,
	    'fields', to_jsonb(a.fields), 'request_id', a.request_id,
	    'prev_hash', a.prev_hash, 'hash', a.hash) ORDER BY a.id DESC)
	    FILTER (WHERE rn <= v_limit), '[]'), min(a.id) FILTER (WHERE
	    rn <= v_limit), count(*)
	    INTO v_items, v_last, v_n
	    FROM (SELECT x.*, row_number() OVER (ORDER BY x.id DESC) rn
	    FROM audit_log x
	    WHERE (v_before IS NULL OR x.id < v_before)
	    AND (v_type IS NULL OR x.object_type = v_type)
	    AND (v_obj IS NULL OR x.object_id = v_obj)
	    AND (v_actor IS NULL OR x.actor_sub = v_actor)
	    AND (v_since IS NULL OR x.at >= v_since)
	    ORDER BY x.id DESC LIMIT v_limit + 1) a;
	status := 200;
	headers := '{}';
	body := jsonb_build_object('items', v_items, 'next_cursor',
	    CASE WHEN v_n > v_limit THEN v_last::text END);
END $$;

-- GET /v1/audit/verify (admin): the first broken link, if any.
CREATE FUNCTION api.audit_check(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_org	uuid := api.require_org(p_ctx);
	r	record;
BEGIN
	PERFORM api.query_allow(p_args, '{}');
	SELECT * INTO r FROM audit_verify();
	status := 200;
	headers := '{}';
	body := jsonb_build_object('ok', r.ok, 'checked', r.checked,
	    'first_broken', CASE WHEN NOT r.ok THEN jsonb_build_object(
	    'id', r.broken_id::text, 'reason', r.reason) END);
END $$;

----------------------------------------------------------------------
-- Transfer of the lead role: requested by the lead or a coordinator,
-- effective only when the receiving organization accepts.
----------------------------------------------------------------------

CREATE FUNCTION api.transfer_doc(t case_transfers) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT jsonb_build_object('id', t.id, 'case_id', t.case_id,
	    'from_org_id', t.from_org, 'to_org_id', t.to_org, 'reason',
	    t.reason, 'status', t.status, 'requested_by', t.requested_by,
	    'requested_at', t.requested_at, 'decided_by', t.decided_by,
	    'decided_at', t.decided_at)
$$;

-- POST /v1/cases/{id}/transfer
CREATE FUNCTION api.case_transfer_request(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := api.require_org(p_ctx);
	c	cases;
	t	case_transfers;
	e	jsonb;
	v_to	uuid;
BEGIN
	c := api.case_fetch(p_ctx, api.path_id(p_args), v_org, true);
	IF NOT api.has_role(p_ctx, 'coordinator') THEN
		PERFORM api.case_require_lead(c, v_org, 'transfer the case');
	END IF;
	e := api.check_keys(p_body, '', ARRAY['to_org_id', 'reason'],
	    ARRAY['id', 'case_id', 'from_org_id', 'status', 'requested_by',
	    'requested_at', 'decided_by', 'decided_at']);
	IF NOT api.is_uuid(p_body->'to_org_id') THEN
		e := e || api.err('to_org_id', 'must be an organization id');
	ELSE
		v_to := (p_body->>'to_org_id')::uuid;
		IF NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = v_to
		    AND o.status = 'active' AND o.kind NOT IN
		    ('law_enforcement', 'prosecution')) THEN
			e := e || api.err('to_org_id', 'must name an active '
			    'service organization');
		ELSIF v_to = c.lead_org THEN
			e := e || api.err('to_org_id', 'is already the lead '
			    'organization');
		END IF;
	END IF;
	IF NOT api.absent(p_body->'reason') AND NOT api.is_str(
	    p_body->'reason', 1, 500) THEN
		e := e || api.err('reason', 'must be a string of 1 to 500 '
		    'characters');
	END IF;
	PERFORM api.fail_if(e);
	IF EXISTS (SELECT 1 FROM case_transfers WHERE case_id = c.id AND
	    case_transfers.status = 'pending') THEN
		PERFORM api.fail(409, 'transfer-pending', 'A transfer of this '
		    'case is already waiting for an answer.');
	END IF;
	INSERT INTO case_transfers (case_id, from_org, to_org, reason,
	    requested_by, requested_by_org) VALUES (c.id, c.lead_org, v_to,
	    p_body->>'reason', p_ctx->>'sub', v_org) RETURNING * INTO t;
	PERFORM api.audit(p_ctx, 'transfer_request', 'case', c.id,
	    ARRAY['lead_org_id']);
	status := 201;
	body := api.transfer_doc(t);
	headers := '{}';
END $$;

-- POST /v1/cases/{id}/transfer/accept and /decline (receiving org)
CREATE FUNCTION api.case_transfer_answer(p_ctx jsonb, p_args jsonb,
    p_accept boolean, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := api.require_org(p_ctx);
	c	cases;
	t	case_transfers;
BEGIN
	c := api.case_fetch(p_ctx, api.path_id(p_args), v_org, true);
	SELECT * INTO t FROM case_transfers WHERE case_id = c.id AND
	    case_transfers.status = 'pending' FOR UPDATE;
	IF t.id IS NULL THEN
		PERFORM api.fail(409, 'no-pending-transfer', 'No transfer of '
		    'this case is waiting for an answer.');
	END IF;
	IF v_org IS DISTINCT FROM t.to_org THEN
		PERFORM api.fail(403, 'not-recipient', 'Only the receiving '
		    'organization may answer a transfer.');
	END IF;
	UPDATE case_transfers SET status = CASE WHEN p_accept THEN 'accepted'
	    ELSE 'declined' END, decided_by = p_ctx->>'sub',
	    decided_at = now() WHERE id = t.id RETURNING * INTO t;
	IF p_accept THEN
		UPDATE cases SET lead_org = t.to_org, version = version + 1,
		    updated_at = now() WHERE id = c.id;
	END IF;
	PERFORM api.audit(p_ctx, CASE WHEN p_accept THEN 'transfer_accept'
	    ELSE 'transfer_decline' END, 'case', c.id, CASE WHEN p_accept
	    THEN ARRAY['lead_org_id'] ELSE '{}' END);
	status := 200;
	body := api.transfer_doc(t);
	headers := '{}';
END $$;

CREATE FUNCTION api.case_transfer_accept(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE sql AS $$
	SELECT * FROM api.case_transfer_answer(p_ctx, p_args, true)
$$;

CREATE FUNCTION api.case_transfer_decline(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE sql AS $$
	SELECT * FROM api.case_transfer_answer(p_ctx, p_args, false)
$$;

----------------------------------------------------------------------
-- Investigations (criminal-justice side)
----------------------------------------------------------------------

CREATE FUNCTION api.investigation_doc(i investigations) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', i.id, 'title', i.title,
	    'lead_agency_id', i.lead_agency,
	    'participating_agency_ids', coalesce((SELECT jsonb_agg(a.org_id
	    ORDER BY a.org_id) FROM investigation_agencies a WHERE
	    a.investigation_id = i.id AND a.role = 'participating'), '[]'),
	    'prosecution_org_ids', coalesce((SELECT jsonb_agg(a.org_id
	    ORDER BY a.org_id) FROM investigation_agencies a WHERE
	    a.investigation_id = i.id AND a.role = 'prosecution'), '[]'),
	    'jurisdictions', to_jsonb(i.jurisdictions), 'status', i.status,
	    'outcome', i.outcome, 'suspects_identified',
	    i.suspects_identified, 'needs', i.needs, 'key_dates', i.key_dates,
	    'linked_cases', (SELECT count(*) FROM investigation_cases l
	    WHERE l.investigation_id = i.id), 'version', i.version,
	    'created_by', i.created_by, 'created_at', i.created_at,
	    'updated_at', i.updated_at)
$$;

CREATE FUNCTION api.investigation_visible(p_ctx jsonb, p_id uuid,
    p_org uuid) RETURNS boolean LANGUAGE sql STABLE AS $$
	SELECT api.is_coord(p_ctx) OR (p_org IS NOT NULL AND EXISTS (
	    SELECT 1 FROM investigation_agencies a WHERE
	    a.investigation_id = p_id AND a.org_id = p_org))
$$;

CREATE FUNCTION api.investigation_fetch(p_ctx jsonb, p_id uuid, p_org uuid,
    p_lock boolean DEFAULT false) RETURNS investigations
LANGUAGE plpgsql AS $$
DECLARE
	i investigations;
BEGIN
	IF p_lock THEN
		SELECT * INTO i FROM investigations WHERE id = p_id FOR UPDATE;
	ELSE
		SELECT * INTO i FROM investigations WHERE id = p_id;
	END IF;
	IF i.id IS NULL OR NOT api.investigation_visible(p_ctx, p_id, p_org)
	    THEN
		PERFORM api.fail(404, 'not-found', 'No such investigation.');
	END IF;
	RETURN i;
END $$;

-- Every id in p (an array) names an active organization of p_kind.
CREATE FUNCTION api.is_org_array(p jsonb, p_kind text) RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT coalesce(jsonb_typeof(p) = 'array' AND jsonb_array_length(p)
	    <= 50 AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(p) x
	    WHERE NOT api.is_uuid(x) OR NOT EXISTS (SELECT 1 FROM
	    organizations o WHERE o.id = (x #>> '{}')::uuid AND
	    o.kind = p_kind AND o.status = 'active')), false)
$$;

CREATE FUNCTION api.investigation_validate(p_body jsonb, p_create boolean,
    p_coord boolean) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	e	jsonb;
	x	jsonb;
	n	integer := 0;
BEGIN
	e := api.check_keys(p_body, '', ARRAY['title', 'participating_agency_ids',
	    'prosecution_org_ids', 'jurisdictions', 'status', 'outcome',
	    'suspects_identified', 'needs', 'key_dates'] || CASE WHEN p_coord
	    THEN ARRAY['lead_agency_id'] ELSE '{}' END, ARRAY['id',
	    'lead_agency_id', 'version', 'created_by', 'created_at',
	    'updated_at', 'linked_cases']);
	IF (p_create OR p_body ? 'title') AND
	    NOT api.is_str(p_body->'title', 1, 200) THEN
		e := e || api.err('title', 'must be a string of 1 to 200 '
		    'characters');
	END IF;
	IF p_coord AND (p_create OR p_body ? 'lead_agency_id') AND NOT
	    api.is_org_array(jsonb_build_array(p_body->'lead_agency_id'),
	    'law_enforcement') THEN
		e := e || api.err('lead_agency_id', 'must name an active '
		    'law enforcement organization');
	END IF;
	IF p_body ? 'participating_agency_ids' AND NOT api.is_org_array(
	    p_body->'participating_agency_ids', 'law_enforcement') THEN
		e := e || api.err('participating_agency_ids', 'must be an array '
		    'of active law enforcement organization ids');
	END IF;
	IF p_body ? 'prosecution_org_ids' AND NOT api.is_org_array(
	    p_body->'prosecution_org_ids', 'prosecution') THEN
		e := e || api.err('prosecution_org_ids', 'must be an array of '
		    'active prosecution organization ids');
	END IF;
	IF p_body ? 'jurisdictions' AND NOT api.is_str_array(
	    p_body->'jurisdictions', 50, 100) THEN
		e := e || api.err('jurisdictions', 'must be an array of up to 50 '
		    'strings');
	END IF;
	IF p_body ? 'status' AND NOT api.is_enum(p_body->'status',
	    ARRAY['open', 'charges_filed', 'prosecution', 'closed']) THEN
		e := e || api.err('status', 'must be one of open, charges_filed, '
		    'prosecution, closed');
	END IF;
	IF NOT api.absent(p_body->'outcome') AND NOT api.is_str(
	    p_body->'outcome', 1, 500) THEN
		e := e || api.err('outcome', 'must be a string of 1 to 500 '
		    'characters');
	END IF;
	IF p_body ? 'suspects_identified' AND NOT api.is_int(
	    p_body->'suspects_identified', 0, 100000) THEN
		e := e || api.err('suspects_identified', 'must be a count (an '
		    'integer from 0)');
	END IF;
	IF p_body ? 'needs' THEN
		IF jsonb_typeof(p_body->'needs') IS DISTINCT FROM 'array' THEN
			e := e || api.err('needs', 'must be an array of {code, '
			    'status}');
		ELSE
			FOR x IN SELECT * FROM jsonb_array_elements(p_body->'needs')
			    LOOP
				IF jsonb_typeof(x) IS DISTINCT FROM 'object' OR
				    x - 'code' - 'status' <> '{}'::jsonb OR
				    NOT api.is_str(x->'code', 1, 100) OR
				    NOT EXISTS (SELECT 1 FROM need_taxonomy WHERE
				    code = x->>'code' AND grp = 'criminal_justice')
				    OR NOT api.is_enum(x->'status',
				    api.need_statuses()) THEN
					e := e || api.err(format('needs[%s]', n),
					    'must be {code: a criminal-justice need '
					    'code, status: a need status}');
				END IF;
				n := n + 1;
			END LOOP;
			IF (SELECT count(DISTINCT v->>'code') <> count(*) FROM
			    jsonb_array_elements(p_body->'needs') v) THEN
				e := e || api.err('needs', 'lists a code twice');
			END IF;
		END IF;
	END IF;
	n := 0;
	IF p_body ? 'key_dates' THEN
		IF jsonb_typeof(p_body->'key_dates') IS DISTINCT FROM 'array' OR
		    jsonb_array_length(p_body->'key_dates') > 100 THEN
			e := e || api.err('key_dates', 'must be an array of {kind, '
			    'at, label}');
		ELSE
			FOR x IN SELECT * FROM jsonb_array_elements(
			    p_body->'key_dates') LOOP
				IF jsonb_typeof(x) IS DISTINCT FROM 'object' OR
				    x - 'kind' - 'at' - 'label' <> '{}'::jsonb OR
				    NOT api.is_enum(x->'kind', ARRAY['court_date',
				    'arrest', 'charges_filed', 'other']) OR
				    NOT api.is_ts(x->'at') OR (x ? 'label' AND
				    NOT api.is_str(x->'label', 1, 200)) THEN
					e := e || api.err(format('key_dates[%s]', n),
					    'must be {kind: court_date, arrest, '
					    'charges_filed or other, at: date-time, '
					    'label?}');
				END IF;
				n := n + 1;
			END LOOP;
		END IF;
	END IF;
	RETURN e;
END $$;

/*
 * Write the agencies and court-date tasks of an investigation from
 * p_body: a court date gets an open task for the lead agency; a task
 * whose court date left the list is cancelled.
 */
CREATE FUNCTION api.investigation_apply(i investigations, p_body jsonb,
    p_ctx jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	x jsonb;
BEGIN
	INSERT INTO investigation_agencies VALUES (i.id, i.lead_agency, 'lead')
	    ON CONFLICT (investigation_id, org_id) DO UPDATE SET role = 'lead';
	DELETE FROM investigation_agencies WHERE investigation_id = i.id AND
	    role = 'lead' AND org_id <> i.lead_agency;
	IF p_body ? 'participating_agency_ids' THEN
		DELETE FROM investigation_agencies WHERE investigation_id = i.id
		    AND role = 'participating';
		INSERT INTO investigation_agencies SELECT DISTINCT i.id,
		    (v #>> '{}')::uuid, 'participating' FROM
		    jsonb_array_elements(p_body->'participating_agency_ids') v
		    ON CONFLICT DO NOTHING;
	END IF;
	IF p_body ? 'prosecution_org_ids' THEN
		DELETE FROM investigation_agencies WHERE investigation_id = i.id
		    AND role = 'prosecution';
		INSERT INTO investigation_agencies SELECT DISTINCT i.id,
		    (v #>> '{}')::uuid, 'prosecution' FROM
		    jsonb_array_elements(p_body->'prosecution_org_ids') v
		    ON CONFLICT DO NOTHING;
	END IF;
	IF p_body ? 'key_dates' THEN
		UPDATE tasks SET status = 'cancelled', version = version + 1,
		    updated_at = now() WHERE investigation_id = i.id AND
		    kind = 'court_date' AND status IN ('open', 'in_progress') AND
		    due_at NOT IN (SELECT (k->>'at')::timestamptz FROM
		    jsonb_array_elements(i.key_dates) k WHERE k->>'kind' =
		    'court_date');
		FOR x IN SELECT * FROM jsonb_array_elements(i.key_dates) LOOP
			CONTINUE WHEN x->>'kind' <> 'court_date' OR EXISTS (
			    SELECT 1 FROM tasks WHERE investigation_id = i.id AND
			    kind = 'court_date' AND due_at = (x->>'at')::timestamptz
			    AND status IN ('open', 'in_progress'));
			INSERT INTO tasks (investigation_id, title, kind, due_at,
			    assigned_org, created_by) VALUES (i.id, coalesce(
			    x->>'label', 'Court date: ' || i.title), 'court_date',
			    (x->>'at')::timestamptz, i.lead_agency, p_ctx->>'sub');
		END LOOP;
	END IF;
END $$;

-- POST /v1/investigations (an investigator's agency leads; a
-- coordinator names the lead agency)
CREATE FUNCTION api.investigation_create(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := api.require_org(p_ctx);
	v_coord	boolean := api.has_role(p_ctx, 'coordinator');
	v_lead	uuid;
	i	investigations;
BEGIN
	PERFORM api.fail_if(api.investigation_validate(p_body, true, v_coord));
	v_lead := CASE WHEN v_coord THEN (p_body->>'lead_agency_id')::uuid
	    ELSE v_org END;
	IF NOT EXISTS (SELECT 1 FROM organizations WHERE id = v_lead AND
	    kind = 'law_enforcement') THEN
		PERFORM api.fail(403, 'lead-not-allowed', 'An investigation is '
		    'led by a law enforcement agency.');
	END IF;
	IF coalesce(p_body->>'status', 'open') = 'closed' AND
	    api.absent(p_body->'outcome') THEN
		PERFORM api.fail(422, 'validation-error', 'A closed '
		    'investigation needs an outcome.', jsonb_build_array(
		    api.err('outcome', 'is required when status is closed')));
	END IF;
	INSERT INTO investigations (title, lead_agency, jurisdictions, status,
	    outcome, suspects_identified, needs, key_dates, created_by)
	VALUES (p_body->>'title', v_lead, coalesce(api.jtext_array(
	    p_body->'jurisdictions'), '{}'), coalesce(p_body->>'status',
	    'open'), CASE WHEN coalesce(p_body->>'status', 'open') = 'closed'
	    THEN p_body->>'outcome' END, coalesce((p_body->>
	    'suspects_identified')::integer, 0), coalesce(p_body->'needs',
	    '[]'), coalesce(p_body->'key_dates', '[]'), p_ctx->>'sub')
	RETURNING * INTO i;
	PERFORM api.investigation_apply(i, p_body, p_ctx);
	PERFORM api.audit(p_ctx, 'create', 'investigation', i.id, ARRAY(
	    SELECT jsonb_object_keys(p_body) ORDER BY 1));
	status := 201;
	body := api.investigation_doc(i);
	headers := api.etag(i.version) || jsonb_build_object('location',
	    '/v1/investigations/' || i.id);
END $$;

-- GET /v1/investigations/{id}
CREATE FUNCTION api.investigation_get(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := api.require_org(p_ctx);
	i	investigations;
BEGIN
	PERFORM api.query_allow(p_args, '{}');
	i := api.investigation_fetch(p_ctx, api.path_id(p_args), v_org);
	PERFORM api.audit(p_ctx, 'read', 'investigation', i.id, '{}');
	status := 200;
	body := api.investigation_doc(i);
	headers := api.etag(i.version);
END $$;

-- GET /v1/investigations?status=&lead_agency_id=&updated_since=
CREATE FUNCTION api.investigation_list(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := api.require_org(p_ctx);
	v_coord	boolean := api.is_coord(p_ctx);
	v_limit	integer;
	v_after	bigint;
	v_st	text;
	v_lead	uuid;
	v_since	timestamptz;
	v_items	jsonb := '[]';
	v_last	bigint;
	v_n	integer := 0;
	i	investigations;
BEGIN
	PERFORM api.query_allow(p_args, ARRAY['status', 'lead_agency_id',
	    'updated_since', 'limit', 'cursor']);
	v_limit := api.page_limit(p_args);
	v_after := api.page_cursor(p_args);
	v_st := api.query_enum(p_args, 'status', ARRAY['open',
	    'charges_filed', 'prosecution', 'closed']);
	v_lead := api.query_uuid(p_args, 'lead_agency_id');
	v_since := api.query_ts(p_args, 'updated_since');
	FOR i IN SELECT * FROM investigations x
	    WHERE (v_after IS NULL OR x.seq > v_after)
	    AND (v_st IS NULL OR x.status = v_st)
	    AND (v_lead IS NULL OR x.lead_agency = v_lead)
	    AND (v_since IS NULL OR x.updated_at >= v_since)
	    AND (v_coord OR x.id IN (SELECT a.investigation_id FROM
	        investigation_agencies a WHERE a.org_id = v_org))
	    ORDER BY x.seq LIMIT v_limit + 1 LOOP
		v_n := v_n + 1;
		EXIT WHEN v_n > v_limit;
		v_last := i.seq;
		v_items := v_items || api.investigation_doc(i);
		PERFORM api.audit(p_ctx, 'list', 'investigation', i.id, '{}');
	END LOOP;
	status := 200;
	headers := '{}';
	body := jsonb_build_object('items', v_items, 'next_cursor',
	    CASE WHEN v_n > v_limit THEN v_last::text END);
END $$;

-- PATCH /v1/investigations/{id} (an agency on it or a coordinator)
CREATE FUNCTION api.investigation_update(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := api.require_org(p_ctx);
	v_coord	boolean := api.has_role(p_ctx, 'coordinator');
	i	investigations;
	v_st	text;
	v_out	text;
BEGIN
	i := api.investigation_fetch(p_ctx, api.path_id(p_args), v_org, true);
	IF NOT v_coord AND NOT EXISTS (SELECT 1 FROM investigation_agencies
	    WHERE investigation_id = i.id AND org_id = v_org) THEN
		PERFORM api.fail(403, 'not-on-investigation', 'Only agencies on '
		    'the investigation or a coordinator may change it.');
	END IF;
	/*
	 * Who is on it decides who sees it and which consents can link
	 * cases: only the lead agency or a coordinator changes membership.
	 */
	IF NOT v_coord AND v_org IS DISTINCT FROM i.lead_agency AND
	    (p_body ? 'participating_agency_ids' OR p_body ?
	    'prosecution_org_ids' OR p_body ? 'lead_agency_id') THEN
		PERFORM api.fail(403, 'lead-agency-only', 'Only the lead agency '
		    'or a coordinator may change who is on the investigation.',
		    (SELECT jsonb_agg(api.err(k, 'only the lead agency may set '
		    'it')) FROM jsonb_object_keys(p_body) k WHERE k IN
		    ('participating_agency_ids', 'prosecution_org_ids',
		    'lead_agency_id')));
	END IF;
	PERFORM api.fail_if(api.investigation_validate(p_body, false,
	    v_coord));
	PERFORM api.if_match(p_args, i.version);
	v_st := coalesce(p_body->>'status', i.status);
	v_out := CASE WHEN v_st <> 'closed' THEN NULL WHEN p_body ? 'outcome'
	    THEN p_body->>'outcome' ELSE i.outcome END;
	IF v_st = 'closed' AND v_out IS NULL THEN
		PERFORM api.fail(422, 'validation-error', 'A closed '
		    'investigation needs an outcome.', jsonb_build_array(
		    api.err('outcome', 'is required when status is closed')));
	END IF;
	UPDATE investigations SET title = coalesce(p_body->>'title', title),
	    lead_agency = coalesce((p_body->>'lead_agency_id')::uuid,
	    lead_agency), jurisdictions = coalesce(api.jtext_array(
	    p_body->'jurisdictions'), jurisdictions), status = v_st,
	    outcome = v_out, suspects_identified = coalesce((p_body->>
	    'suspects_identified')::integer, suspects_identified),
	    needs = coalesce(p_body->'needs', needs), key_dates = coalesce(
	    p_body->'key_dates', key_dates), version = version + 1,
	    updated_at = now() WHERE id = i.id RETURNING * INTO i;
	PERFORM api.investigation_apply(i, p_body, p_ctx);
	PERFORM api.audit(p_ctx, 'update', 'investigation', i.id, ARRAY(
	    SELECT jsonb_object_keys(p_body) ORDER BY 1));
	status := 200;
	body := api.investigation_doc(i);
	headers := api.etag(i.version);
END $$;

/*
 * The active consent on a case that covers law enforcement for this
 * investigation: shared with the law_enforcement kind or with a law
 * enforcement agency on the investigation. NULL when there is none.
 */
CREATE FUNCTION api.case_le_consent(p_case uuid, p_inv uuid) RETURNS uuid
LANGUAGE sql STABLE AS $$
	SELECT k.id FROM consents k WHERE k.case_id = p_case AND
	    k.revoked_at IS NULL AND k.granted_at <= now() AND
	    k.expires_at > now() AND (k.shared_with_kind = 'law_enforcement'
	    OR k.shared_with_org IN (SELECT a.org_id FROM
	    investigation_agencies a JOIN organizations o ON o.id = a.org_id
	    WHERE a.investigation_id = p_inv AND o.kind = 'law_enforcement'))
	ORDER BY k.expires_at DESC LIMIT 1
$$;

CREATE FUNCTION api.link_doc(l investigation_cases) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('investigation_id', l.investigation_id,
	    'case_id', l.case_id, 'case_number', (SELECT case_number FROM
	    cases WHERE id = l.case_id), 'consent_id', l.consent_id,
	    'consent_active', api.case_le_consent(l.case_id,
	    l.investigation_id) IS NOT NULL, 'linked_by', l.linked_by,
	    'linked_by_org_id', l.linked_by_org, 'linked_at', l.linked_at)
$$;

/*
 * POST /v1/investigations/{id}/cases {case_id}: needs an active consent
 * covering law enforcement on that case (409 consent-required when the
 * caller may see the case; 404 when it may neither see the case nor
 * rely on such a consent, so the id's existence does not leak).
 */
CREATE FUNCTION api.investigation_case_link(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := api.require_org(p_ctx);
	i	investigations;
	v_case	uuid;
	v_k	uuid;
	v_found	boolean;
	l	investigation_cases;
BEGIN
	i := api.investigation_fetch(p_ctx, api.path_id(p_args), v_org);
	IF NOT api.has_role(p_ctx, 'coordinator') AND NOT EXISTS (SELECT 1
	    FROM investigation_agencies WHERE investigation_id = i.id AND
	    org_id = v_org) THEN
		PERFORM api.fail(403, 'not-on-investigation', 'Only agencies on '
		    'the investigation or a coordinator may link cases.');
	END IF;
	PERFORM api.fail_if(api.check_keys(p_body, '', ARRAY['case_id'],
	    ARRAY['investigation_id', 'consent_id', 'linked_by', 'linked_at']));
	IF NOT api.is_uuid(p_body->'case_id') THEN
		PERFORM api.fail(422, 'validation-error', 'case_id is required.',
		    jsonb_build_array(api.err('case_id', 'must be a case id')));
	END IF;
	v_case := (p_body->>'case_id')::uuid;
	PERFORM 1 FROM cases WHERE id = v_case FOR SHARE;
	v_found := FOUND;
	v_k := api.case_le_consent(v_case, i.id);
	IF NOT v_found OR (v_k IS NULL AND NOT api.case_visible(p_ctx, v_case,
	    v_org)) THEN
		PERFORM api.fail(404, 'not-found', 'No such case.');
	END IF;
	IF v_k IS NULL THEN
		PERFORM api.fail(409, 'consent-required', 'Linking a case to an '
		    'investigation needs an active consent on the case that '
		    'covers law enforcement (the law_enforcement kind or an '
		    'agency on the investigation).');
	END IF;
	IF EXISTS (SELECT 1 FROM investigation_cases WHERE investigation_id =
	    i.id AND case_id = v_case) THEN
		PERFORM api.fail(409, 'already-linked', 'This case is linked to '
		    'the investigation already.');
	END IF;
	INSERT INTO investigation_cases (investigation_id, case_id, consent_id,
	    linked_by, linked_by_org) VALUES (i.id, v_case, v_k, p_ctx->>'sub',
	    v_org) RETURNING * INTO l;
	PERFORM api.audit(p_ctx, 'link', 'investigation', i.id, ARRAY[
	    'case_id']);
	PERFORM api.audit(p_ctx, 'link', 'case', v_case, ARRAY[
	    'investigation_id']);
	status := 201;
	body := api.link_doc(l);
	headers := '{}';
END $$;

-- GET /v1/investigations/{id}/cases
CREATE FUNCTION api.investigation_case_list(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := api.require_org(p_ctx);
	i	investigations;
BEGIN
	PERFORM api.query_allow(p_args, '{}');
	i := api.investigation_fetch(p_ctx, api.path_id(p_args), v_org);
	PERFORM api.audit(p_ctx, 'list', 'investigation', i.id, ARRAY[
	    'case_id']);
	status := 200;
	headers := '{}';
	body := jsonb_build_object('items', coalesce((SELECT jsonb_agg(
	    api.link_doc(l) ORDER BY l.linked_at, l.case_id) FROM
	    investigation_cases l WHERE l.investigation_id = i.id), '[]'));
END $$;
