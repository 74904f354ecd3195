-- audit.sql: the audit trail. lib.audit appends one record per access or
-- change of a case's data, in the caller's transaction (a rolled back
-- request leaves none, a committed one always has its record), without
-- any lock: ids come from a sequence, in any commit order. The worker
-- seals committed records shortly after (worker.audit_seal, one sealer
-- at a time): it fixes their order in audit_seals, extends a hash chain
-- over their contents and closes each run with a batch whose head
-- chains to the previous one. lib.audit_verify checks every seal and
-- every batch head and reports how far sealing has got. Routes: GET
-- /v1/audit (api.audit_list), GET /v1/audit/verify (api.audit_check).
-- Records never hold personal data values, only which categories were
-- touched. Tables and their append-only triggers: sql/migrations/0003
-- and 0009.

/*
 * The leaf hash of one record: sha256 over a canonical JSON array of its
 * content (jsonb's text form is canonical; the time is rendered in UTC
 * to the microsecond). Can't fail.
 */
CREATE FUNCTION lib.audit_leaf(r audit_log) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT encode(public.digest(jsonb_build_array(r.id,
	    to_char(r.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
	    r.actor_sub, r.actor_org, r.actor_roles, r.action, r.object_type,
	    r.object_id, r.fields, r.request_id)::text, 'sha256'), 'hex')
$$;

-- One link of the seal chain: sha256(previous link || leaf).
CREATE FUNCTION lib.audit_link(p_prev text, p_leaf text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT encode(public.digest(p_prev || p_leaf, 'sha256'), 'hex')
$$;

-- A batch head: binds the previous head, the batch's range and its
-- last link, so dropping, reordering or editing a batch shows.
CREATE FUNCTION lib.audit_batch_head(p_prev_head text, p_batch bigint,
    p_first bigint, p_last bigint, p_link text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT encode(public.digest(p_prev_head || ':' || p_batch || ':' ||
	    p_first || ':' || p_last || ':' || p_link, 'sha256'), 'hex')
$$;

/*
 * Append one audit record for the caller in p_ctx, and queue it for the
 * sealer. Takes no lock: parallel requests append in parallel.
 */
CREATE FUNCTION lib.audit(p_ctx jsonb, p_action text, p_type text,
    p_obj uuid, p_fields text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	WITH a AS (
		INSERT INTO audit_log (at, actor_sub, actor_org, actor_roles,
		    action, object_type, object_id, fields, request_id)
		VALUES (clock_timestamp(), p_ctx->>'sub', lib.ctx_org(p_ctx),
		    lib.ctx_roles(p_ctx), p_action, p_type, p_obj,
		    coalesce(p_fields, '{}'), p_ctx->>'request_id')
		RETURNING id)
	INSERT INTO audit_pending SELECT id FROM a;
END $$;

/*
 * Seal up to p_max committed, unsealed records in id order as the next
 * batch. Exactly one sealer at a time (a transaction-scoped advisory
 * lock: a second caller returns busy at once), safe across workers and
 * restarts; a record committed late with a lower id is still waiting in
 * audit_pending and goes into a later batch. Returns {sealed, batch,
 * unsealed, oldest_unsealed_s}.
 */
CREATE FUNCTION worker.audit_seal(p_max integer) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	b		audit_batches;
	r		audit_log;
	v_link		text;
	v_seq		bigint;
	v_ids		bigint[] := '{}';
	v_links		text[] := '{}';
	v_batch		bigint;
	v_n		integer;
BEGIN
	IF NOT pg_try_advisory_xact_lock(7261004) THEN
		RETURN jsonb_build_object('sealed', 0, 'busy', true) ||
		    lib.audit_backlog();
	END IF;
	SELECT * INTO b FROM audit_batches ORDER BY batch DESC LIMIT 1;
	v_seq := coalesce(b.last_seq, 0);
	v_link := coalesce((SELECT chain FROM audit_seals WHERE seq = v_seq),
	    repeat('0', 64));
	FOR r IN SELECT a.* FROM audit_pending p JOIN audit_log a ON
	    a.id = p.id ORDER BY p.id LIMIT greatest(p_max, 1) LOOP
		v_link := lib.audit_link(v_link, lib.audit_leaf(r));
		v_ids := v_ids || r.id;
		v_links := v_links || v_link;
	END LOOP;
	v_n := cardinality(v_ids);
	IF v_n > 0 THEN
		v_batch := coalesce(b.batch, 0) + 1;
		INSERT INTO audit_seals (seq, audit_id, batch, chain)
		    SELECT v_seq + i, v_ids[i], v_batch, v_links[i]
		    FROM generate_subscripts(v_ids, 1) i;
		INSERT INTO audit_batches (batch, first_seq, last_seq,
		    prev_head, head)
		VALUES (v_batch, v_seq + 1, v_seq + v_n, coalesce(b.head,
		    repeat('0', 64)), lib.audit_batch_head(coalesce(b.head,
		    repeat('0', 64)), v_batch, v_seq + 1, v_seq + v_n, v_link));
		DELETE FROM audit_pending WHERE id = ANY (v_ids);
	END IF;
	RETURN jsonb_build_object('sealed', v_n, 'batch', v_batch) ||
	    lib.audit_backlog();
END $$;

-- How far sealing has got: {unsealed, oldest_unsealed_s}.
CREATE FUNCTION lib.audit_backlog() RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('unsealed', count(*),
	    'oldest_unsealed_s', coalesce(round(extract(epoch FROM
	    clock_timestamp() - min(a.at)))::bigint, 0))
	FROM audit_pending p JOIN audit_log a ON a.id = p.id
$$;

/*
 * Check every sealed record and every batch head, in seal order. ok is
 * false at the first problem: broken_id names the record (or the batch
 * for a batch problem) and reason says what is wrong. Also reports how
 * far sealing has got: sealed_up_to (the last seal's position),
 * batches, unsealed records and the age of the oldest, in seconds.
 */
CREATE FUNCTION lib.audit_verify(OUT ok boolean, OUT checked bigint,
    OUT broken_id bigint, OUT reason text, OUT batches bigint,
    OUT sealed_up_to bigint, OUT unsealed bigint,
    OUT oldest_unsealed_s bigint)
LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
	b		audit_batches;
	s		record;
	v_link		text := repeat('0', 64);
	v_head		text := repeat('0', 64);
	v_seq		bigint := 1;
	v_batch		bigint := 1;
	v_orphan	bigint;
	v_back		jsonb := lib.audit_backlog();
BEGIN
	ok := true;
	checked := 0;
	batches := 0;
	unsealed := (v_back->>'unsealed')::bigint;
	oldest_unsealed_s := (v_back->>'oldest_unsealed_s')::bigint;
	FOR b IN SELECT * FROM audit_batches ORDER BY batch LOOP
		IF b.batch <> v_batch THEN
			ok := false;
			broken_id := v_batch;
			reason := 'batch ' || v_batch || ' is missing';
			RETURN;
		END IF;
		IF b.prev_head <> v_head OR b.first_seq <> v_seq THEN
			ok := false;
			broken_id := b.batch;
			reason := 'batch ' || b.batch || ' does not follow the '
			    'batch before it';
			RETURN;
		END IF;
		FOR s IN SELECT x.seq, x.audit_id, x.chain, a AS rec,
		    a.id IS NULL AS gone FROM audit_seals x LEFT JOIN audit_log a
		    ON a.id = x.audit_id WHERE x.batch = b.batch ORDER BY x.seq
		    LOOP
			IF s.seq <> v_seq THEN
				ok := false;
				broken_id := s.audit_id;
				reason := 'seal ' || v_seq || ' is missing';
				RETURN;
			END IF;
			IF s.gone THEN
				ok := false;
				broken_id := s.audit_id;
				reason := 'record missing';
				RETURN;
			END IF;
			v_link := lib.audit_link(v_link, lib.audit_leaf(s.rec));
			IF v_link <> s.chain THEN
				ok := false;
				broken_id := s.audit_id;
				reason := 'content does not match its seal';
				RETURN;
			END IF;
			v_seq := v_seq + 1;
			checked := checked + 1;
		END LOOP;
		IF v_seq - 1 <> b.last_seq OR b.head <> lib.audit_batch_head(
		    b.prev_head, b.batch, b.first_seq, b.last_seq, v_link) THEN
			ok := false;
			broken_id := b.batch;
			reason := 'batch ' || b.batch || ' head does not match '
			    'its seals';
			RETURN;
		END IF;
		v_head := b.head;
		v_batch := v_batch + 1;
		batches := batches + 1;
	END LOOP;
	sealed_up_to := v_seq - 1;
	IF EXISTS (SELECT 1 FROM audit_seals WHERE seq >= v_seq) THEN
		ok := false;
		broken_id := v_seq;
		reason := 'seals after the last batch';
		RETURN;
	END IF;
	SELECT a.id INTO v_orphan FROM audit_log a WHERE NOT EXISTS (SELECT 1
	    FROM audit_seals x WHERE x.audit_id = a.id) AND NOT EXISTS (SELECT
	    1 FROM audit_pending p WHERE p.id = a.id) ORDER BY a.id LIMIT 1;
	IF v_orphan IS NOT NULL THEN
		ok := false;
		broken_id := v_orphan;
		reason := 'record neither sealed nor waiting to be sealed';
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
	v_before := (lib.cursor_decode(p_args, 'audit', '{id:int}')->>'id')::bigint;
	v_type := lib.query_text(p_args, 'object_type');
	v_obj := lib.query_uuid(p_args, 'object_id');
	v_actor := lib.query_text(p_args, 'actor');
	v_since := lib.query_ts(p_args, 'since');
	SELECT coalesce(jsonb_agg(jsonb_build_object('id', a.id::text,
	    'at', a.at, 'actor_sub', a.actor_sub, 'actor_org_id', a.actor_org,
	    'actor_roles', to_jsonb(a.actor_roles), 'action', a.action,
	    'object_type', a.object_type, 'object_id', a.object_id,
	    'fields', to_jsonb(a.fields), 'request_id', a.request_id,
	    'seal', (SELECT jsonb_build_object('seq', s.seq, 'batch', s.batch,
	    'chain', s.chain) FROM audit_seals s WHERE s.audit_id = a.id))
	    ORDER BY a.id DESC)
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

/*
 * GET /v1/audit/verify (admin): every seal and batch head checked; the
 * first problem, if any, and how far sealing has got.
 */
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
	    'id', r.broken_id::text, 'reason', r.reason) END,
	    'batches', r.batches, 'sealed_up_to', r.sealed_up_to,
	    'unsealed', r.unsealed, 'oldest_unsealed_s', r.oldest_unsealed_s);
END $$;
