-- audit.sql: the audit trail. lib.audit appends one hash-chained record
-- per access or change of a case's data (in the caller's transaction, so
-- a rolled back request leaves none); lib.audit_verify walks the chain.
-- Routes: GET /v1/audit (api.audit_list), GET /v1/audit/verify
-- (api.audit_check). Records never hold personal data values, only which
-- categories were touched. The table and its append-only triggers are in
-- sql/migrations/0003_cases.sql.

/*
 * The hash of one record: sha256 over the previous hash and a canonical
 * JSON array of the record's content (jsonb's text form is canonical,
 * the time is rendered in UTC to the microsecond).
 */
CREATE FUNCTION lib.audit_row_hash(p_prev text, p_id bigint, p_at timestamptz,
    p_sub text, p_org uuid, p_roles text[], p_action text, p_type text,
    p_obj uuid, p_fields text[], p_req text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN encode(public.digest(p_prev || jsonb_build_array(p_id,
	    to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
	    p_sub, p_org, p_roles, p_action, p_type, p_obj, p_fields,
	    p_req)::text, 'sha256'), 'hex');
END $$;

/*
 * Append one audit record for the caller in p_ctx. Runs in the caller's
 * transaction: a rolled back request leaves no record, a committed one
 * always has its record. Serializes on audit_chain_head.
 */
CREATE FUNCTION lib.audit(p_ctx jsonb, p_action text, p_type text,
    p_obj uuid, p_fields text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	v_id	bigint;
	v_prev	text;
	v_at	timestamptz;
	v_roles	text[] := lib.ctx_roles(p_ctx);
	v_hash	text;
	v_org	uuid := lib.ctx_org(p_ctx);
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
	v_hash := lib.audit_row_hash(v_prev, v_id, v_at, p_ctx->>'sub', v_org,
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
CREATE FUNCTION lib.audit_verify(OUT ok boolean, OUT checked bigint,
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
		IF r.hash <> lib.audit_row_hash(r.prev_hash, r.id, r.at,
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
-- Audit API
----------------------------------------------------------------------

-- GET /v1/audit?object_type=&object_id=&actor=&since= (newest first)
CREATE FUNCTION api.audit_list(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
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
	PERFORM lib.query_allow(p_args, ARRAY['object_type', 'object_id',
	    'actor', 'since', 'limit', 'cursor']);
	v_limit := lib.page_limit(p_args);
	v_before := (lib.cursor_decode(p_args, 'audit', '{id}')->>'id')::bigint;
	v_type := lib.query_text(p_args, 'object_type');
	v_obj := lib.query_uuid(p_args, 'object_id');
	v_actor := lib.query_text(p_args, 'actor');
	v_since := lib.query_ts(p_args, 'since');
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
	    CASE WHEN v_n > v_limit THEN lib.cursor_encode('audit',
	    jsonb_build_object('id', v_last)) END);
END $$;

-- GET /v1/audit/verify (admin): the first broken link, if any.
CREATE FUNCTION api.audit_check(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	r	record;
BEGIN
	PERFORM lib.query_allow(p_args, '{}');
	SELECT * INTO r FROM lib.audit_verify();
	status := 200;
	headers := '{}';
	body := jsonb_build_object('ok', r.ok, 'checked', r.checked,
	    'first_broken', CASE WHEN NOT r.ok THEN jsonb_build_object(
	    'id', r.broken_id::text, 'reason', r.reason) END);
END $$;
