-- webhooks.sql: outbound webhooks. Routes /v1/webhooks (api.webhook_*),
-- the queueing lib.notify does for every notification addressed to an
-- organization (lib.webhook_enqueue), and the worker's side: claiming
-- due deliveries (worker.webhook_claim) and recording each attempt
-- (worker.webhook_record). The target URL's address rule (https, no
-- loopback/private/link-local/... targets) is applied in C by the API
-- (api/webhooks.c) and again by the worker after resolving the name
-- (common/netguard.c); here the URL is only stored. Secrets are
-- sealed with the data key and shown once, on creation and rotation.
-- Payloads carry the notification's ids, types and statuses only.

/* Webhooks an organization may hold (a bounded list, never paged). */
CREATE FUNCTION lib.webhook_max() RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT 20 $$;

/* A new secret in the Standard Webhooks form: whsec_ + base64 (24 bytes). */
CREATE FUNCTION lib.webhook_secret_new() RETURNS text
LANGUAGE sql VOLATILE AS $$
	SELECT 'whsec_' || encode(public.gen_random_bytes(24), 'base64')
$$;

CREATE FUNCTION lib.webhook_doc(w webhooks) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', w.id, 'organization_id',
	    w.organization_id, 'url', w.url, 'events', to_jsonb(w.events),
	    'created_at', w.created_at, 'rotated_at', w.rotated_at,
	    'previous_secret_expires_at', CASE WHEN w.previous_secret_until >
	    now() THEN w.previous_secret_until END)
$$;

/*
 * The caller's organization's webhook named by the path's id, locked
 * when p_lock; 404 for a malformed id, another organization's webhook
 * or none.
 */
CREATE FUNCTION lib.webhook_find(p_ctx jsonb, p_args jsonb, p_lock boolean)
RETURNS webhooks LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org_present(p_ctx);
	w	webhooks;
BEGIN
	IF lib.is_uuid(p_args->'path'->'id') THEN
		IF p_lock THEN
			SELECT * INTO w FROM webhooks WHERE id =
			    lib.path_id(p_args) AND organization_id = v_org
			    FOR UPDATE;
		ELSE
			SELECT * INTO w FROM webhooks WHERE id =
			    lib.path_id(p_args) AND organization_id = v_org;
		END IF;
	END IF;
	IF w.id IS NULL THEN
		PERFORM lib.fail(404, 'not-found', 'No such webhook.');
	END IF;
	RETURN w;
END $$;

/* A body without fields beyond p_allowed (none, or {}, for no body). */
CREATE FUNCTION lib.webhook_no_body(p_body jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	IF p_body IS NOT NULL AND p_body <> '{}'::jsonb THEN
		PERFORM lib.fail_if(lib.check_keys(p_body, '', '{}'));
	END IF;
END $$;

/*
 * POST /v1/webhooks: admins, coordinators, case managers and providers
 * register a target for their own organization: {url, events}. The URL
 * was checked by the API (api/webhooks.c). 201 with the webhook and its
 * secret, shown this once; 409 limit-reached beyond lib.webhook_max().
 * Audited (create, webhook).
 */
CREATE FUNCTION api.webhook_create(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org_present(p_ctx);
	v_errs	jsonb;
	v_sec	text := lib.webhook_secret_new();
	w	webhooks;
BEGIN
	PERFORM lib.query_allow(p_args, '{}');
	v_errs := lib.check_keys(p_body, '', ARRAY['url', 'events'],
	    ARRAY['id', 'secret', 'organization_id', 'created_at',
	    'rotated_at', 'previous_secret_expires_at']) ||
	    lib.check_str(p_body, 'url', 'url', true, 1, 2048) ||
	    lib.check_str_array(p_body, 'events', 'events', NULL,
	    lib.notification_types(), 20);
	IF NOT v_errs @> '[{"field": "events"}]' AND
	    coalesce(jsonb_array_length(p_body->'events'), 0) = 0 THEN
		v_errs := v_errs || lib.err('events', 'must list at least one '
		    'notification type');
	END IF;
	PERFORM lib.fail_if(v_errs);
	PERFORM 1 FROM organizations WHERE id = v_org FOR UPDATE;
	IF (SELECT count(*) FROM webhooks WHERE organization_id = v_org) >=
	    lib.webhook_max() THEN
		PERFORM lib.fail(409, 'limit-reached', 'An organization holds '
		    'at most ' || lib.webhook_max() || ' webhooks; delete one '
		    'first.');
	END IF;
	INSERT INTO webhooks (organization_id, url, events, secret, created_by)
	VALUES (v_org, p_body->>'url', lib.text_array(p_body->'events',
	    NULL), lib.seal(v_sec), p_ctx->>'sub')
	RETURNING * INTO w;
	PERFORM lib.audit(p_ctx, 'create', 'webhook', w.id,
	    ARRAY['url', 'events']);
	status := 201;
	body := lib.webhook_doc(w) || jsonb_build_object('secret', v_sec);
	headers := jsonb_build_object('location', '/v1/webhooks/' || w.id);
END $$;

/* GET /v1/webhooks: the caller's organization's webhooks, newest first. */
CREATE FUNCTION api.webhook_list(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_org	uuid := lib.require_org_present(p_ctx);
BEGIN
	PERFORM lib.query_allow(p_args, '{}');
	status := 200;
	body := jsonb_build_object('items', coalesce((SELECT jsonb_agg(
	    lib.webhook_doc(w) ORDER BY w.created_at DESC, w.id) FROM webhooks
	    w WHERE w.organization_id = v_org), '[]'));
	headers := '{}';
END $$;

/* GET /v1/webhooks/{id}: one of the caller's organization's (404 else). */
CREATE FUNCTION api.webhook_get(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql STABLE AS $$
BEGIN
	PERFORM lib.query_allow(p_args, '{}');
	status := 200;
	body := lib.webhook_doc(lib.webhook_find(p_ctx, p_args, false));
	headers := '{}';
END $$;

/*
 * DELETE /v1/webhooks/{id}: 204; its queued deliveries go with it.
 * Audited (delete, webhook).
 */
CREATE FUNCTION api.webhook_delete(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	w	webhooks := lib.webhook_find(p_ctx, p_args, true);
BEGIN
	PERFORM lib.query_allow(p_args, '{}');
	DELETE FROM webhooks WHERE id = w.id;
	PERFORM lib.audit(p_ctx, 'delete', 'webhook', w.id, NULL);
	status := 204;
	body := NULL;
	headers := '{}';
END $$;

/*
 * POST /v1/webhooks/{id}/rotate: a new secret (in the answer, this
 * once); the current one stays valid for args.rotate_grace_s seconds
 * (CONCORD_WEBHOOK_ROTATE_GRACE_S, set by the API), and deliveries carry
 * both signatures meanwhile. A rotation during the grace period drops
 * the oldest secret. Audited (rotate, webhook).
 */
CREATE FUNCTION api.webhook_rotate(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	w	webhooks := lib.webhook_find(p_ctx, p_args, true);
	v_sec	text := lib.webhook_secret_new();
	v_grace	integer := coalesce((p_args->>'rotate_grace_s')::integer,
	    86400);
BEGIN
	PERFORM lib.query_allow(p_args, '{}');
	PERFORM lib.webhook_no_body(p_body);
	UPDATE webhooks SET previous_secret = CASE WHEN v_grace > 0 THEN
	    secret END, previous_secret_until = CASE WHEN v_grace > 0 THEN
	    now() + make_interval(secs => v_grace) END,
	    secret = lib.seal(v_sec), rotated_at = now()
	WHERE id = w.id RETURNING * INTO w;
	PERFORM lib.audit(p_ctx, 'rotate', 'webhook', w.id, ARRAY['secret']);
	status := 200;
	body := lib.webhook_doc(w) || jsonb_build_object('secret', v_sec);
	headers := '{}';
END $$;

CREATE FUNCTION lib.webhook_delivery_doc(d webhook_deliveries)
RETURNS jsonb LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', d.id, 'webhook_id', d.webhook_id,
	    'event_type', d.event_type, 'notification_id', d.notification_id,
	    'state', d.state, 'attempts', d.attempts,
	    'last_status', d.last_status, 'last_error', d.last_error,
	    'last_latency_ms', d.last_latency_ms,
	    'last_attempt_at', d.last_attempt_at,
	    'next_attempt_at', CASE WHEN d.state = 'pending' THEN
	    greatest(d.next_attempt_at, d.claimed_until) END,
	    'created_at', d.created_at, 'delivered_at', d.delivered_at,
	    'dead_at', d.dead_at, 'history', coalesce((SELECT jsonb_agg(
	    jsonb_build_object('attempt', a.n, 'at', a.at, 'status', a.status,
	    'latency_ms', a.latency_ms, 'error', a.error) ORDER BY a.n)
	    FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]'))
$$;

/*
 * GET /v1/webhooks/{id}/deliveries: newest first, paged (limit,
 * cursor), filtered by state (pending, delivered, dead; one or more).
 */
CREATE FUNCTION api.webhook_delivery_list(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	w	webhooks := lib.webhook_find(p_ctx, p_args, false);
	v_n	integer;
	v_st	text[];
	v_cur	jsonb;
	v_items	jsonb;
	v_last	webhook_deliveries;
	v_more	boolean;
BEGIN
	PERFORM lib.query_allow(p_args, ARRAY['limit', 'cursor', 'state']);
	v_n := lib.page_limit(p_args);
	v_st := lib.query_list(p_args, 'state');
	IF v_st IS NOT NULL AND NOT v_st <@ ARRAY['pending', 'delivered',
	    'dead'] THEN
		PERFORM lib.bad_query('state', 'must list pending, delivered '
		    'or dead');
	END IF;
	v_cur := lib.cursor_decode(p_args, 'webhook_deliveries',
	    '{at:ts,id:uuid}');
	IF v_cur IS NOT NULL AND (lib.try_ts_any(v_cur->>'at') IS NULL OR
	    NOT lib.is_uuid(v_cur->'id')) THEN
		PERFORM lib.bad_query('cursor', 'is not a cursor this list '
		    'issued');
	END IF;
	WITH page AS (
		SELECT d, row_number() OVER (ORDER BY d.created_at DESC,
		    d.id DESC) k
		FROM webhook_deliveries d
		WHERE d.webhook_id = w.id
		    AND (v_st IS NULL OR d.state = ANY (v_st))
		    AND (v_cur IS NULL OR (d.created_at, d.id) <
		    ((v_cur->>'at')::timestamptz, (v_cur->>'id')::uuid))
		ORDER BY d.created_at DESC, d.id DESC LIMIT v_n + 1)
	SELECT coalesce(jsonb_agg(lib.webhook_delivery_doc(p.d) ORDER BY p.k)
	    FILTER (WHERE p.k <= v_n), '[]'), count(*) > v_n
	    INTO v_items, v_more FROM page p;
	IF v_more THEN
		SELECT (p.d).* INTO v_last FROM (SELECT d, row_number() OVER
		    (ORDER BY d.created_at DESC, d.id DESC) k
		    FROM webhook_deliveries d WHERE d.webhook_id = w.id
		    AND (v_st IS NULL OR d.state = ANY (v_st))
		    AND (v_cur IS NULL OR (d.created_at, d.id) <
		    ((v_cur->>'at')::timestamptz, (v_cur->>'id')::uuid))
		    ORDER BY d.created_at DESC, d.id DESC LIMIT v_n) p
		    WHERE p.k = v_n;
	END IF;
	status := 200;
	body := jsonb_build_object('items', v_items, 'next_cursor', CASE WHEN
	    v_more THEN lib.cursor_encode('webhook_deliveries',
	    jsonb_build_object('at', v_last.created_at, 'id', v_last.id))
	    END);
	headers := '{}';
END $$;

/*
 * POST /v1/webhooks/{id}/deliveries/{did}/retry: a delivered or dead
 * delivery (or a pending one between attempts) is due again at once,
 * with a fresh 24 h retry window. 409 in-flight while an attempt runs;
 * 404 for another webhook's delivery.
 */
CREATE FUNCTION api.webhook_delivery_retry(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	w	webhooks := lib.webhook_find(p_ctx, p_args, false);
	d	webhook_deliveries;
BEGIN
	PERFORM lib.query_allow(p_args, '{}');
	PERFORM lib.webhook_no_body(p_body);
	IF lib.is_uuid(p_args->'path'->'did') THEN
		SELECT * INTO d FROM webhook_deliveries WHERE id =
		    lib.path_id(p_args, 'did') AND webhook_id = w.id FOR UPDATE;
	END IF;
	IF d.id IS NULL THEN
		PERFORM lib.fail(404, 'not-found', 'No such delivery.');
	END IF;
	IF d.state = 'pending' AND d.claimed_until > now() THEN
		PERFORM lib.fail(409, 'in-flight', 'An attempt of this '
		    'delivery is under way; try again when it ended.');
	END IF;
	UPDATE webhook_deliveries SET state = 'pending', next_attempt_at =
	    now(), window_start = now(), claimed_until = NULL, dead_at = NULL,
	    delivered_at = NULL
	WHERE id = d.id RETURNING * INTO d;
	status := 200;
	body := lib.webhook_delivery_doc(d);
	headers := '{}';
END $$;

/*
 * Queue notification n for every webhook of its organization subscribed
 * to its type (called by lib.notify, in the notification's own
 * transaction). The payload is the notification's ids, types, statuses
 * and times, never its title or anything personal. Returns how many
 * deliveries it queued; a notification addressed only to a role queues
 * none.
 */
CREATE FUNCTION lib.webhook_enqueue(n notifications) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
	v_n	integer;
BEGIN
	IF n.organization_id IS NULL THEN
		RETURN 0;
	END IF;
	INSERT INTO webhook_deliveries (webhook_id, notification_id,
	    event_type, payload)
	SELECT w.id, n.id, n.kind, jsonb_build_object('type', n.kind,
	    'timestamp', to_char(n.created_at AT TIME ZONE 'UTC',
	    'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), 'data', jsonb_strip_nulls(
	    jsonb_build_object('notification_id', n.id, 'organization_id',
	    n.organization_id, 'object', CASE WHEN n.object_id IS NOT NULL THEN
	    jsonb_build_object('type', n.object_type, 'id', n.object_id) END,
	    'link', n.link)) || n.payload)
	FROM webhooks w
	WHERE w.organization_id = n.organization_id AND n.kind = ANY (w.events);
	GET DIAGNOSTICS v_n = ROW_COUNT;
	RETURN v_n;
END $$;

/*
 * Worker: claim up to p_max due deliveries, at most p_per_target in
 * flight per webhook (counting attempts other workers run), each for
 * p_lease_s seconds (an attempt that outlives its lease, e.g. a killed
 * worker's, is claimed again). Counts the attempt. Returns each with
 * its URL, body and the secrets to sign with (current first, then the
 * previous one during a rotation). Needs the data key on the
 * connection (503 otherwise, from lib.unseal).
 */
CREATE FUNCTION worker.webhook_claim(p_max integer, p_per_target integer,
    p_lease_s integer) RETURNS TABLE (delivery_id uuid, attempt integer,
    url text, body text, secrets text[])
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
	RETURN QUERY
	WITH busy AS (
		SELECT b.webhook_id, count(*) AS n FROM webhook_deliveries b
		WHERE b.state = 'pending' AND b.claimed_until > now()
		GROUP BY b.webhook_id),
	due AS (
		SELECT x.id, x.webhook_id, row_number() OVER (PARTITION BY
		    x.webhook_id ORDER BY x.next_attempt_at, x.id) AS k
		FROM webhook_deliveries x
		WHERE x.state = 'pending' AND x.next_attempt_at <= now() AND
		    (x.claimed_until IS NULL OR x.claimed_until <= now())),
	pick AS (
		SELECT d.id FROM webhook_deliveries d
		JOIN due ON due.id = d.id
		LEFT JOIN busy ON busy.webhook_id = due.webhook_id
		WHERE due.k + coalesce(busy.n, 0) <= p_per_target
		ORDER BY d.next_attempt_at, d.id LIMIT p_max
		FOR UPDATE OF d SKIP LOCKED),
	claimed AS (
		UPDATE webhook_deliveries d SET attempts = d.attempts + 1,
		    claimed_until = now() + make_interval(secs => p_lease_s),
		    last_attempt_at = now()
		FROM pick WHERE d.id = pick.id
		RETURNING d.id, d.attempts, d.webhook_id, d.payload)
	SELECT c.id, c.attempts, w.url, c.payload::text,
	    array_remove(ARRAY[lib.unseal(w.secret), CASE WHEN
	    w.previous_secret_until > now() THEN lib.unseal(w.previous_secret)
	    END], NULL)
	FROM claimed c JOIN webhooks w ON w.id = c.webhook_id;
END $$;

/*
 * Worker: record attempt p_attempt of a delivery: p_status is the HTTP
 * status (0: none, p_error says why). 2xx delivers; anything else is
 * retried after an exponential backoff with jitter (10 s doubling, at
 * most 1 h, times 0.5..1), or dead once its window_start is 24 h old.
 * An outcome for an attempt the delivery no longer runs (retried by
 * hand, lease lost) is ignored. Returns the new state, or NULL.
 */
CREATE FUNCTION worker.webhook_record(p_id uuid, p_attempt integer,
    p_status integer, p_latency_ms integer, p_error text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	d	webhook_deliveries;
	v_ok	boolean := p_status BETWEEN 200 AND 299;
BEGIN
	SELECT * INTO d FROM webhook_deliveries WHERE id = p_id FOR UPDATE;
	IF d.id IS NULL OR d.state <> 'pending' OR d.attempts <> p_attempt THEN
		RETURN NULL;
	END IF;
	INSERT INTO webhook_attempts (delivery_id, n, status, latency_ms, error)
	VALUES (d.id, p_attempt, nullif(p_status, 0), p_latency_ms,
	    left(p_error, 300))
	ON CONFLICT DO NOTHING;
	UPDATE webhook_deliveries SET claimed_until = NULL,
	    last_status = nullif(p_status, 0), last_error = left(p_error, 300),
	    last_latency_ms = p_latency_ms,
	    state = CASE WHEN v_ok THEN 'delivered'
		WHEN now() >= window_start + interval '24 hours' THEN 'dead'
		ELSE 'pending' END,
	    delivered_at = CASE WHEN v_ok THEN now() END,
	    dead_at = CASE WHEN NOT v_ok AND now() >= window_start +
		interval '24 hours' THEN now() END,
	    next_attempt_at = CASE WHEN v_ok THEN next_attempt_at ELSE
		now() + make_interval(secs => least(3600.0, 10.0 * power(2,
		least(p_attempt - 1, 20))) * (0.5 + random() / 2)) END
	WHERE id = d.id RETURNING * INTO d;
	RETURN d.state;
END $$;
