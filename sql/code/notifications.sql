-- notifications.sql: what the task force is told, per recipient.
-- GET /v1/notifications (api.notification_list), POST
-- /v1/notifications/{id}/read (api.notification_read) and POST
-- /v1/notifications/read-all (api.notification_read_all); lib.notify,
-- the one way every area (referrals, the worker's clocks) records a
-- notification. A notification names its recipient (an organization,
-- optionally one user of it, or every holder of a role such as
-- coordinator), a type, a title chosen from a fixed table by type and
-- the object it links to. Its data carries ids, statuses and times only:
-- never free text or personal data (the link leads to the object, whose
-- own rules decide what the reader sees).

/* The notification types, in the order the contract lists them. */
CREATE FUNCTION lib.notification_types() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT ARRAY['referral.received', 'referral.offered',
	    'referral.reminder', 'referral.accepted', 'referral.declined',
	    'referral.expired', 'referral.unmatched', 'referral.completed',
	    'referral.escalated', 'task.due', 'task.overdue',
	    'consent.expiring', 'transfer.pending', 'report.ready',
	    'court_date.due', 'need_referral.offered',
	    'need_referral.answered', 'agreement.expiring']
$$;

/*
 * The fixed title of a notification of type p_type (p_step: the clock
 * step, for reminders). Titles never quote data. Can't fail.
 */
CREATE FUNCTION lib.notification_title(p_type text, p_step text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE p_type
	    WHEN 'referral.received' THEN 'Referral received'
	    WHEN 'referral.offered' THEN 'New referral offer awaiting your '
		'answer'
	    WHEN 'referral.reminder' THEN 'Referral offer still awaiting your '
		'answer'
	    WHEN 'referral.accepted' THEN 'Referral offer accepted'
	    WHEN 'referral.declined' THEN 'Referral offer declined'
	    WHEN 'referral.expired' THEN 'Referral offer expired unanswered'
	    WHEN 'referral.unmatched' THEN 'Referral need without a provider'
	    WHEN 'referral.completed' THEN 'Referral completed'
	    WHEN 'referral.escalated' THEN 'Referral needs a coordinator'
	    WHEN 'task.due' THEN CASE WHEN p_step ~ '^remind_[0-9]+d$' THEN
		'Task due in ' || substring(p_step FROM '[0-9]+') ||
		CASE WHEN substring(p_step FROM '[0-9]+') = '1' THEN ' day'
		ELSE ' days' END ELSE 'Task due now' END
	    WHEN 'task.overdue' THEN 'Task overdue'
	    WHEN 'consent.expiring' THEN 'Consent expiring soon'
	    WHEN 'transfer.pending' THEN 'Case transfer awaiting an answer'
	    WHEN 'report.ready' THEN 'Report ready'
	    WHEN 'court_date.due' THEN CASE WHEN p_step ~ '^remind_[0-9]+d$'
		THEN 'Court date in ' || substring(p_step FROM '[0-9]+') ||
		CASE WHEN substring(p_step FROM '[0-9]+') = '1' THEN ' day'
		ELSE ' days' END ELSE 'Court date now' END
	    WHEN 'need_referral.offered' THEN 'Criminal-justice need referred '
		'to your organization'
	    WHEN 'need_referral.answered' THEN 'Criminal-justice need '
		'referral answered'
	    WHEN 'agreement.expiring' THEN 'Agreement expiring soon'
	    ELSE 'Notification' END
$$;

/*
 * Record a notification for an organization (p_org, optionally one user
 * p_sub of it) and/or every holder of p_role, and queue it for the
 * organization's webhooks subscribed to its type (lib.webhook_enqueue,
 * webhooks.sql) in the same transaction. p_data must hold ids,
 * statuses and times only. Returns its id; raises on a NULL type or
 * recipient (a programmer error).
 */
CREATE FUNCTION lib.notify(p_org uuid, p_role text, p_type text,
    p_object_type text, p_object_id uuid, p_link text, p_data jsonb,
    p_sub text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	n	notifications;
BEGIN
	INSERT INTO notifications (organization_id, audience_role, user_sub,
	    kind, payload, object_type, object_id, title, link)
	VALUES (p_org, p_role, p_sub, p_type, coalesce(p_data, '{}'),
	    p_object_type, p_object_id, lib.notification_title(p_type,
	    p_data->>'step'), p_link)
	RETURNING * INTO n;
	PERFORM lib.webhook_enqueue(n);
	RETURN n.id;
END $$;

/* A notification about a referral (the link every referral type uses). */
CREATE FUNCTION lib.notify_referral(p_org uuid, p_role text, p_type text,
    p_referral uuid, p_data jsonb) RETURNS bigint
LANGUAGE sql VOLATILE AS $$
	SELECT lib.notify(p_org, p_role, p_type, 'referral', p_referral,
	    '/v1/referrals/' || p_referral, jsonb_build_object('referral_id',
	    p_referral) || coalesce(p_data, '{}'))
$$;

/* Is notification n addressed to the caller (org, sub, roles)? */
CREATE FUNCTION lib.notification_mine(n notifications, p_ctx jsonb,
    p_org uuid) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT (n.organization_id = p_org AND (n.user_sub IS NULL OR
	    n.user_sub = p_ctx->>'sub')) OR (n.audience_role IS NOT NULL AND
	    lib.has_role(p_ctx, n.audience_role))
$$;

CREATE FUNCTION lib.notification_doc(n notifications, p_read_at timestamptz)
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
	SELECT jsonb_build_object('id', n.id, 'type', n.kind, 'title', n.title,
	    'link', n.link, 'object', CASE WHEN n.object_id IS NOT NULL THEN
	    jsonb_build_object('type', n.object_type, 'id', n.object_id) END,
	    'data', n.payload, 'recipient', jsonb_strip_nulls(
	    jsonb_build_object('organization_id', n.organization_id, 'role',
	    n.audience_role, 'user', n.user_sub)),
	    'created_at', n.created_at, 'read', p_read_at IS NOT NULL,
	    'read_at', p_read_at)
$$;

/*
 * GET /v1/notifications: the caller's organization's notifications (and
 * those addressed to a role the caller holds), newest first. Filters:
 * unread=true|false, type (one or more). Any role with an organization.
 */
CREATE FUNCTION api.notification_list(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_org	uuid := lib.require_org_present(p_ctx);
	v_roles	text[] := lib.ctx_roles(p_ctx);
	v_n	integer;
	v_unr	text;
	v_types	text[];
	v_after	bigint;
	v_items	jsonb;
	v_last	bigint;
	v_more	boolean;
BEGIN
	PERFORM lib.query_allow(p_args, ARRAY['limit', 'cursor', 'unread',
	    'type']);
	v_n := lib.page_limit(p_args);
	v_unr := lib.query_enum(p_args, 'unread', ARRAY['true', 'false']);
	v_types := lib.query_list(p_args, 'type');
	IF v_types IS NOT NULL AND NOT v_types <@ lib.notification_types() THEN
		PERFORM lib.bad_query('type', 'must list notification types: ' ||
		    array_to_string(lib.notification_types(), ', '));
	END IF;
	v_after := (lib.cursor_decode(p_args, 'notifications', '{id:int}')->>
	    'id')::bigint;
	WITH page AS (
		SELECT n, r.read_at FROM notifications n
		LEFT JOIN notification_reads r ON r.organization_id = v_org AND
		    r.notification_id = n.id
		WHERE (n.organization_id = v_org OR n.audience_role =
		    ANY (v_roles)) AND lib.notification_mine(n, p_ctx, v_org)
		    AND (v_after IS NULL OR n.id < v_after)
		    AND (v_types IS NULL OR n.kind = ANY (v_types))
		    AND (v_unr IS NULL OR (r.read_at IS NULL) = (v_unr = 'true'))
		ORDER BY n.id DESC LIMIT v_n + 1)
	SELECT coalesce(jsonb_agg(lib.notification_doc(p.n, p.read_at)
	    ORDER BY (p.n).id DESC) FILTER (WHERE k <= v_n), '[]'),
	    min((p.n).id) FILTER (WHERE k <= v_n), count(*) > v_n
	    INTO v_items, v_last, v_more
	FROM (SELECT page.*, row_number() OVER (ORDER BY (page.n).id DESC) k
	    FROM page) p;
	status := 200;
	body := jsonb_build_object('items', v_items, 'next_cursor', CASE WHEN
	    v_more THEN lib.cursor_encode('notifications',
	    jsonb_build_object('id', v_last)) END);
	headers := '{}';
END $$;

/* POST /v1/notifications/{id}/read: 404 unless addressed to the caller. */
CREATE FUNCTION api.notification_read(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org_present(p_ctx);
	n	notifications;
	v_at	timestamptz;
BEGIN
	IF p_body IS NOT NULL AND p_body <> '{}'::jsonb THEN
		PERFORM lib.fail_if(lib.check_keys(p_body, '', '{}'));
	END IF;
	SELECT * INTO n FROM notifications WHERE id =
	    (p_args->'path'->>'id')::bigint;
	IF n.id IS NULL OR NOT lib.notification_mine(n, p_ctx, v_org) THEN
		PERFORM lib.fail(404, 'not-found', 'No such notification.');
	END IF;
	INSERT INTO notification_reads (organization_id, notification_id)
	    VALUES (v_org, n.id) ON CONFLICT DO NOTHING;
	SELECT read_at INTO v_at FROM notification_reads WHERE
	    organization_id = v_org AND notification_id = n.id;
	status := 200;
	body := lib.notification_doc(n, coalesce(v_at, now()));
	headers := '{}';
END $$;

/*
 * POST /v1/notifications/read-all: marks every unread notification of
 * the caller read (only those of one type with ?type=); returns how many.
 */
CREATE FUNCTION api.notification_read_all(p_ctx jsonb, p_args jsonb,
    p_body jsonb, OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org_present(p_ctx);
	v_roles	text[] := lib.ctx_roles(p_ctx);
	v_types	text[];
	v_n	integer;
BEGIN
	PERFORM lib.query_allow(p_args, ARRAY['type']);
	v_types := lib.query_list(p_args, 'type');
	IF v_types IS NOT NULL AND NOT v_types <@ lib.notification_types() THEN
		PERFORM lib.bad_query('type', 'must list notification types: ' ||
		    array_to_string(lib.notification_types(), ', '));
	END IF;
	IF p_body IS NOT NULL AND p_body <> '{}'::jsonb THEN
		PERFORM lib.fail_if(lib.check_keys(p_body, '', '{}'));
	END IF;
	WITH m AS (
		INSERT INTO notification_reads (organization_id,
		    notification_id)
		SELECT v_org, n.id FROM notifications n
		WHERE (n.organization_id = v_org OR n.audience_role =
		    ANY (v_roles)) AND lib.notification_mine(n, p_ctx, v_org)
		    AND (v_types IS NULL OR n.kind = ANY (v_types))
		    AND NOT EXISTS (SELECT 1 FROM notification_reads r WHERE
		    r.organization_id = v_org AND r.notification_id = n.id)
		ON CONFLICT DO NOTHING RETURNING 1)
	SELECT count(*) INTO v_n FROM m;
	status := 200;
	body := jsonb_build_object('marked', v_n);
	headers := '{}';
END $$;
