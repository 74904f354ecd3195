-- deadlines.sql: the clocks the worker keeps (schema worker, entry
-- points for concord_worker) and the settings they read (lib).
--
-- A clock step fires once: its effects and the insertion of its key
-- into deadline_fired commit together, the rows it acts on are claimed
-- with FOR UPDATE SKIP LOCKED (so workers never wait on each other or on
-- a request), and the key's primary key turns a second claim (another
-- worker, a restart, the referral.expire job racing the sweep) into
-- nothing. worker.deadline_sweep takes the time to judge against as a
-- parameter (tests pass their own), runs each clock in its own
-- subtransaction and reports counts per clock. Steps that came due
-- while no worker ran are all found by the next sweep; when several
-- steps of one clock are due at once only the latest is told and the
-- earlier ones are recorded as superseded (a task already overdue gets
-- "overdue", not also "due in 7 days").
--
-- Clocks and keys:
--   offer:<id>:reminder       share of the offer's window passed
--   offer:<id>:expire         the window ended: expire, re-offer
--   referral:<id>:escalate    N offers expired or candidates ran out
--   referral:<id>:unaccepted  not accepted within the matching measure
--   task:<id>:<due>:<step>    remind_<n>d, due, overdue (due moves: anew)
--   consent:<id>:<exp>:expiring   the lead organization is told
--   transfer:<id>:receiver / transfer:<id>:coordinators
--   court:<investigation>:<org>:<at>:<step>   remind_<n>d, due
--   agreement:<id>:<last day>:expiring  the task force's coordinators
--                                       (worker.clock_agreements,
--                                       taskforces.sql)

/*
 * The deadline settings: the defaults below overlaid with what the
 * worker stored from its CONCORD_* variables (worker.deadline_configure).
 * Can't fail.
 */
CREATE FUNCTION lib.deadline_config() RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object(
	    'offer_hours', jsonb_build_object('emergency', 1, 'urgent', 24,
		'routine', 72),
	    'offer_reminder_pct', 50, 'offer_max_expiries', 3,
	    'referral_escalate_hours', 48, 'task_remind_days', '[7, 1]'::jsonb,
	    'task_overdue_hours', 24, 'consent_notice_days', 14,
	    'transfer_remind_hours', 48, 'transfer_escalate_hours', 96,
	    'agreement_notice_days', 30) ||
	    coalesce((SELECT config FROM deadline_settings), '{}')
$$;

/* An offer's response window for an urgency under the settings. */
CREATE FUNCTION lib.deadline_offer_hours(p_urgency text) RETURNS interval
LANGUAGE sql STABLE AS $$
	SELECT make_interval(hours => coalesce((lib.deadline_config()->
	    'offer_hours'->>p_urgency)::integer, 72))
$$;

/*
 * Store the worker's settings (validated by the worker; keys outside the
 * defaults are dropped). Returns the settings in force.
 */
CREATE FUNCTION worker.deadline_configure(p_cfg jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	v_keep jsonb;
BEGIN
	SELECT coalesce(jsonb_object_agg(k, v), '{}') INTO v_keep
	    FROM jsonb_each(coalesce(p_cfg, '{}')) x(k, v)
	    WHERE lib.deadline_config() ? k;
	INSERT INTO deadline_settings (config) VALUES (v_keep)
	    ON CONFLICT (one) DO UPDATE SET config = EXCLUDED.config,
	    updated_at = now()
	    WHERE deadline_settings.config IS DISTINCT FROM EXCLUDED.config;
	RETURN lib.deadline_config();
END $$;

/*
 * Expire one offer whose window ended by p_now, once (key
 * offer:<id>:expire), and offer its needs to the next candidates. Locks
 * the referral first, as requests do; with p_wait false a referral
 * another transaction holds is skipped (NULL: try again next sweep).
 * Returns 1 when it expired the offer, 0 when there was nothing to do,
 * NULL when the referral was busy.
 */
CREATE FUNCTION worker.offer_expire_at(p_offer uuid, p_now timestamptz,
    p_by text, p_wait boolean) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	f	referral_offers;
	v_ref	uuid;
	v_snd	uuid;
BEGIN
	SELECT referral_id INTO v_ref FROM referral_offers WHERE id = p_offer;
	IF v_ref IS NULL THEN
		RETURN 0;
	END IF;
	IF p_wait THEN
		SELECT sender_org INTO v_snd FROM referrals WHERE id = v_ref
		    FOR UPDATE;
	ELSE
		SELECT sender_org INTO v_snd FROM referrals WHERE id = v_ref
		    FOR UPDATE SKIP LOCKED;
		IF NOT FOUND THEN
			RETURN NULL;
		END IF;
	END IF;
	SELECT * INTO f FROM referral_offers WHERE id = p_offer FOR UPDATE;
	IF f.status <> 'offered' OR f.expires_at > p_now THEN
		RETURN 0;
	END IF;
	INSERT INTO deadline_fired (clock_key, clock, step, object_id, due_at,
	    fired_by) VALUES ('offer:' || f.id || ':expire', 'offer', 'expire',
	    f.id, f.expires_at, p_by) ON CONFLICT DO NOTHING;
	IF NOT FOUND THEN
		RETURN 0;
	END IF;
	/* A reminder not sent yet has nothing left to remind of. */
	INSERT INTO deadline_fired (clock_key, clock, step, object_id, due_at,
	    superseded, fired_by) VALUES ('offer:' || f.id || ':reminder',
	    'offer', 'reminder', f.id, f.expires_at, true, p_by)
	    ON CONFLICT DO NOTHING;
	UPDATE referral_offers SET status = 'expired' WHERE id = f.id;
	UPDATE referral_needs SET status = 'pending', updated_at = now()
	    WHERE id = ANY (f.need_ids) AND status = 'offered';
	PERFORM lib.notify_referral(f.organization_id, NULL, 'referral.expired',
	    f.referral_id, jsonb_build_object('offer_id', f.id, 'status',
	    'expired', 'expired_at', f.expires_at));
	PERFORM lib.notify_referral(v_snd, NULL, 'referral.expired',
	    f.referral_id, jsonb_build_object('offer_id', f.id, 'status',
	    'expired', 'expired_at', f.expires_at));
	PERFORM referral.reoffer(f.referral_id, f.need_ids);
	RETURN 1;
END $$;

/* Offers half (the configured share) through their window: remind. */
CREATE FUNCTION worker.clock_offer_reminders(p_now timestamptz,
    p_cfg jsonb, p_by text, p_limit integer) RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
	WITH due AS (
		SELECT f.id, f.organization_id, f.referral_id, f.expires_at,
		    f.created_at + (f.expires_at - f.created_at) *
		    ((p_cfg->>'offer_reminder_pct')::numeric / 100) AS at
		FROM referral_offers f
		WHERE f.status = 'offered' AND f.expires_at > p_now AND
		    f.created_at + (f.expires_at - f.created_at) *
		    ((p_cfg->>'offer_reminder_pct')::numeric / 100) <= p_now AND
		    NOT EXISTS (SELECT 1 FROM deadline_fired d WHERE
		    d.clock_key = 'offer:' || f.id || ':reminder')
		ORDER BY f.expires_at LIMIT p_limit
		FOR UPDATE OF f SKIP LOCKED),
	claimed AS (
		INSERT INTO deadline_fired (clock_key, clock, step, object_id,
		    due_at, fired_by)
		SELECT 'offer:' || id || ':reminder', 'offer', 'reminder', id,
		    at, p_by FROM due
		ON CONFLICT DO NOTHING RETURNING object_id)
	SELECT count(lib.notify_referral(d.organization_id, NULL,
	    'referral.reminder', d.referral_id, jsonb_build_object('offer_id',
	    d.id, 'status', 'offered', 'expires_at', d.expires_at)))::integer
	FROM due d JOIN claimed c ON c.object_id = d.id
$$;

/*
 * Offers whose window ended. A loop, because each expiry re-offers
 * through referral.reoffer (one referral at a time, under its lock).
 */
CREATE FUNCTION worker.clock_offer_expiries(p_now timestamptz,
    p_cfg jsonb, p_by text, p_limit integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	v_id	uuid;
	v_n	integer := 0;
BEGIN
	FOR v_id IN SELECT f.id FROM referral_offers f WHERE
	    f.status = 'offered' AND f.expires_at <= p_now
	    ORDER BY f.expires_at LIMIT p_limit LOOP
		v_n := v_n + coalesce(worker.offer_expire_at(v_id, p_now, p_by,
		    false), 0);
	END LOOP;
	RETURN v_n;
END $$;

/*
 * Escalations to coordinators, once per referral each: after
 * offer_max_expiries expired offers or when a need ran out of
 * candidates (escalate), and when nothing was accepted within
 * referral_escalate_hours of its creation (unaccepted).
 */
CREATE FUNCTION worker.clock_referral_escalations(p_now timestamptz,
    p_cfg jsonb, p_by text, p_limit integer) RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
	WITH cand AS (
		SELECT r.id, r.created_at, x.expired, x.unmatched,
		    NOT x.accepted AND r.created_at + make_interval(hours =>
		    (p_cfg->>'referral_escalate_hours')::integer) <= p_now
		    AS late
		FROM referrals r CROSS JOIN LATERAL (
		    SELECT (SELECT count(*) FROM referral_offers f WHERE
			f.referral_id = r.id AND f.status = 'expired') AS expired,
			EXISTS (SELECT 1 FROM referral_needs n WHERE
			n.referral_id = r.id AND n.status = 'unmatched')
			AS unmatched,
			EXISTS (SELECT 1 FROM referral_needs n WHERE
			n.referral_id = r.id AND n.status IN ('accepted',
			'completed')) AS accepted) x
		WHERE r.status NOT IN ('completed', 'cancelled') AND
		    r.created_at <= p_now),
	steps AS (
		SELECT c.id, 'escalate' AS step, CASE WHEN c.expired >=
		    (p_cfg->>'offer_max_expiries')::integer THEN 'expiries'
		    ELSE 'no_candidates' END AS reason, c.expired
		FROM cand c WHERE c.expired >= (p_cfg->>'offer_max_expiries')::
		    integer OR c.unmatched
		UNION ALL
		SELECT c.id, 'unaccepted', 'not_accepted_in_time', c.expired
		FROM cand c WHERE c.late),
	due AS (
		SELECT s.* FROM steps s JOIN referrals r ON r.id = s.id
		WHERE NOT EXISTS (SELECT 1 FROM deadline_fired d WHERE
		    d.clock_key = 'referral:' || s.id || ':' || s.step)
		LIMIT p_limit FOR UPDATE OF r SKIP LOCKED),
	claimed AS (
		INSERT INTO deadline_fired (clock_key, clock, step, object_id,
		    due_at, fired_by)
		SELECT 'referral:' || id || ':' || step, 'referral', step, id,
		    p_now, p_by FROM due
		ON CONFLICT DO NOTHING RETURNING object_id, step)
	SELECT count(lib.notify_referral(NULL, 'coordinator',
	    'referral.escalated', d.id, jsonb_build_object('reason', d.reason,
	    'expired_offers', d.expired, 'step', d.step)))::integer
	FROM due d JOIN claimed c ON c.object_id = d.id AND c.step = d.step
$$;

/*
 * Tasks (of cases and investigations) still open: reminders to the
 * assigned organization task_remind_days before the due time (only
 * those that fall after the task was created), at the due time, and
 * task_overdue_hours after it. Keys carry the due time, so a moved
 * task is reminded anew.
 */
CREATE FUNCTION worker.clock_tasks(p_now timestamptz, p_cfg jsonb,
    p_by text, p_limit integer) RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
	WITH cfg AS (
		SELECT ARRAY(SELECT jsonb_array_elements_text(
		    p_cfg->'task_remind_days')::integer) AS days,
		    make_interval(hours => (p_cfg->>'task_overdue_hours')::
		    integer) AS grace),
	steps AS (
		SELECT t.id, t.assigned_org, t.case_id, t.investigation_id,
		    t.due_at, s.step, s.at, s.ord,
		    'task:' || t.id || ':' || extract(epoch FROM t.due_at)::
		    bigint || ':' || s.step AS key
		FROM cfg, tasks t CROSS JOIN LATERAL (
		    SELECT 'remind_' || d || 'd' AS step, t.due_at -
			make_interval(days => d) AS at, -d AS ord
			FROM unnest(cfg.days) d
		    UNION ALL SELECT 'due', t.due_at, 0
		    UNION ALL SELECT 'overdue', t.due_at + cfg.grace, 1) s
		WHERE t.status IN ('open', 'in_progress') AND
		    t.due_at <= p_now + make_interval(days => coalesce((SELECT
		    max(x) FROM unnest(cfg.days) x), 0)) AND
		    s.at <= p_now AND (s.ord >= 0 OR s.at >= t.created_at)),
	latest AS (
		SELECT DISTINCT ON (id) * FROM steps ORDER BY id, ord DESC),
	due AS (
		SELECT l.* FROM latest l JOIN tasks t ON t.id = l.id
		WHERE NOT EXISTS (SELECT 1 FROM deadline_fired d WHERE
		    d.clock_key = l.key)
		ORDER BY l.at LIMIT p_limit FOR UPDATE OF t SKIP LOCKED),
	claimed AS (
		INSERT INTO deadline_fired (clock_key, clock, step, object_id,
		    due_at, fired_by)
		SELECT key, 'task', step, id, at, p_by FROM due
		ON CONFLICT DO NOTHING RETURNING object_id),
	superseded AS (
		INSERT INTO deadline_fired (clock_key, clock, step, object_id,
		    due_at, superseded, fired_by)
		SELECT s.key, 'task', s.step, s.id, s.at, true, p_by
		FROM steps s JOIN due d ON d.id = s.id AND s.ord < d.ord
		JOIN claimed c ON c.object_id = s.id
		ON CONFLICT DO NOTHING RETURNING 1)
	SELECT count(lib.notify(d.assigned_org, NULL, CASE d.step
	    WHEN 'overdue' THEN 'task.overdue' ELSE 'task.due' END, 'task',
	    d.id, CASE WHEN d.case_id IS NOT NULL THEN '/v1/cases/' ||
	    d.case_id || '/tasks' WHEN d.investigation_id IS NOT NULL THEN
	    '/v1/investigations/' || d.investigation_id ELSE '/v1/tasks' END,
	    jsonb_strip_nulls(jsonb_build_object(
	    'task_id', d.id, 'case_id', d.case_id, 'investigation_id',
	    d.investigation_id, 'due_at', d.due_at, 'step', d.step))))::integer
	    + (SELECT 0 * count(*) FROM superseded)::integer
	FROM due d JOIN claimed c ON c.object_id = d.id
$$;

/*
 * Consents that expire within consent_notice_days: the case's lead
 * organization is told once per expiry time (a consent found only after
 * it expired, by a sweep after a long stop, is still told within the
 * same span after its expiry).
 */
CREATE FUNCTION worker.clock_consents(p_now timestamptz, p_cfg jsonb,
    p_by text, p_limit integer) RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
	WITH cfg AS (
		SELECT make_interval(days => (p_cfg->>'consent_notice_days')::
		    integer) AS notice),
	due AS (
		SELECT k.id, k.case_id, k.expires_at, c.lead_org,
		    'consent:' || k.id || ':' || extract(epoch FROM
		    k.expires_at)::bigint || ':expiring' AS key,
		    k.expires_at - cfg.notice AS at
		FROM cfg, consents k JOIN cases c ON c.id = k.case_id
		WHERE k.revoked_at IS NULL AND
		    k.expires_at BETWEEN p_now - cfg.notice AND
		    p_now + cfg.notice AND
		    NOT EXISTS (SELECT 1 FROM deadline_fired d WHERE
		    d.clock_key = 'consent:' || k.id || ':' || extract(epoch
		    FROM k.expires_at)::bigint || ':expiring')
		ORDER BY k.expires_at LIMIT p_limit
		FOR UPDATE OF k SKIP LOCKED),
	claimed AS (
		INSERT INTO deadline_fired (clock_key, clock, step, object_id,
		    due_at, fired_by)
		SELECT key, 'consent', 'expiring', id, at, p_by FROM due
		ON CONFLICT DO NOTHING RETURNING object_id)
	SELECT count(lib.notify(d.lead_org, NULL, 'consent.expiring',
	    'consent', d.id, '/v1/cases/' || d.case_id || '/consents',
	    jsonb_build_object('consent_id', d.id, 'case_id', d.case_id,
	    'expires_at', d.expires_at, 'expired', d.expires_at <= p_now)))::
	    integer
	FROM due d JOIN claimed c ON c.object_id = d.id
$$;

/*
 * Pending transfers unanswered: the receiving organization is reminded
 * after transfer_remind_hours, coordinators are told after
 * transfer_escalate_hours (both when both are due).
 */
CREATE FUNCTION worker.clock_transfers(p_now timestamptz, p_cfg jsonb,
    p_by text, p_limit integer) RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
	WITH steps AS (
		SELECT t.id, t.case_id, t.to_org, s.step, s.at
		FROM case_transfers t CROSS JOIN LATERAL (VALUES
		    ('receiver', t.requested_at + make_interval(hours =>
		    (p_cfg->>'transfer_remind_hours')::integer)),
		    ('coordinators', t.requested_at + make_interval(hours =>
		    (p_cfg->>'transfer_escalate_hours')::integer))) s(step, at)
		WHERE t.status = 'pending' AND s.at <= p_now),
	due AS (
		SELECT s.* FROM steps s JOIN case_transfers t ON t.id = s.id
		WHERE NOT EXISTS (SELECT 1 FROM deadline_fired d WHERE
		    d.clock_key = 'transfer:' || s.id || ':' || s.step)
		ORDER BY s.at LIMIT p_limit FOR UPDATE OF t SKIP LOCKED),
	claimed AS (
		INSERT INTO deadline_fired (clock_key, clock, step, object_id,
		    due_at, fired_by)
		SELECT 'transfer:' || id || ':' || step, 'transfer', step, id,
		    at, p_by FROM due
		ON CONFLICT DO NOTHING RETURNING object_id, step)
	SELECT count(lib.notify(CASE WHEN d.step = 'receiver' THEN d.to_org END,
	    CASE WHEN d.step = 'coordinators' THEN 'coordinator' END,
	    'transfer.pending', 'case', d.case_id, '/v1/cases/' || d.case_id,
	    jsonb_build_object('transfer_id', d.id, 'case_id', d.case_id,
	    'status', 'pending', 'step', d.step)))::integer
	FROM due d JOIN claimed c ON c.object_id = d.id AND c.step = d.step
$$;

/*
 * Court dates of investigations not closed: every agency active on the
 * investigation other than the lead (whose court-date task reminds it,
 * worker.clock_tasks) is told task_remind_days before the date and at
 * it, once per agency, date and step (a moved date is reminded anew; an
 * agency that joins later gets the steps still to come, and the latest
 * one already due). A date more than task_overdue_hours past is left
 * alone. The clock reads investigations, which requests change; a lock
 * held on them longer than lock_timeout fails this clock alone (retried
 * on the next sweep) rather than holding up the worker's jobs.
 */
CREATE FUNCTION worker.clock_court_dates(p_now timestamptz, p_cfg jsonb,
    p_by text, p_limit integer) RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
    SET lock_timeout = '200ms' AS $$
	WITH cfg AS (
		SELECT ARRAY(SELECT jsonb_array_elements_text(
		    p_cfg->'task_remind_days')::integer) AS days,
		    make_interval(hours => (p_cfg->>'task_overdue_hours')::
		    integer) AS grace),
	dates AS (
		SELECT DISTINCT i.id, (x->>'at')::timestamptz AS at
		FROM cfg, investigations i CROSS JOIN LATERAL
		    jsonb_array_elements(i.key_dates) x
		WHERE i.status <> 'closed' AND x->>'kind' = 'court_date' AND
		    (x->>'at')::timestamptz BETWEEN p_now - cfg.grace AND
		    p_now + make_interval(days => coalesce((SELECT max(d) FROM
		    unnest(cfg.days) d), 0))),
	steps AS (
		SELECT d.id, a.org_id, d.at, s.step, s.due, s.ord,
		    'court:' || d.id || ':' || a.org_id || ':' || extract(epoch
		    FROM d.at)::bigint || ':' || s.step AS key
		FROM cfg, dates d JOIN investigation_agencies a ON
		    a.investigation_id = d.id AND a.status = 'active' AND
		    a.role <> 'lead'
		CROSS JOIN LATERAL (
		    SELECT 'remind_' || n || 'd' AS step, d.at -
			make_interval(days => n) AS due, -n AS ord
			FROM unnest(cfg.days) n
		    UNION ALL SELECT 'due', d.at, 0) s
		WHERE s.due <= p_now),
	latest AS (
		SELECT DISTINCT ON (id, org_id, at) * FROM steps
		ORDER BY id, org_id, at, ord DESC),
	due AS (
		SELECT l.* FROM latest l JOIN investigations i ON i.id = l.id
		WHERE NOT EXISTS (SELECT 1 FROM deadline_fired f WHERE
		    f.clock_key = l.key)
		ORDER BY l.due LIMIT p_limit FOR UPDATE OF i SKIP LOCKED),
	claimed AS (
		INSERT INTO deadline_fired (clock_key, clock, step, object_id,
		    due_at, fired_by)
		SELECT key, 'court_date', step, id, due, p_by FROM due
		ON CONFLICT DO NOTHING RETURNING clock_key),
	superseded AS (
		INSERT INTO deadline_fired (clock_key, clock, step, object_id,
		    due_at, superseded, fired_by)
		SELECT s.key, 'court_date', s.step, s.id, s.due, true, p_by
		FROM steps s JOIN due d ON d.id = s.id AND d.org_id = s.org_id
		    AND d.at = s.at AND s.ord < d.ord
		JOIN claimed c ON c.clock_key = d.key
		ON CONFLICT DO NOTHING RETURNING 1)
	SELECT count(lib.notify(d.org_id, NULL, 'court_date.due',
	    'investigation', d.id, '/v1/investigations/' || d.id || '/dates',
	    jsonb_build_object('investigation_id', d.id, 'at', d.at,
	    'step', d.step)))::integer
	    + (SELECT 0 * count(*) FROM superseded)::integer
	FROM due d JOIN claimed c ON c.clock_key = d.key
$$;

/*
 * One sweep of every clock at time p_now (NULL: now()) with settings
 * p_cfg overlaid on the stored ones, at most p_limit steps per clock.
 * Each clock runs in its own subtransaction: one that fails is rolled
 * back alone and named in errors (by SQLSTATE; messages may quote
 * values). Returns {"fired": total, "clocks": {name: n}, "errors": {}};
 * the worker sweeps again at once while a clock filled its limit.
 */
CREATE FUNCTION worker.deadline_sweep(p_now timestamptz, p_cfg jsonb,
    p_by text, p_limit integer DEFAULT 500) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	v_now	timestamptz := coalesce(p_now, now());
	v_cfg	jsonb := lib.deadline_config() || coalesce(p_cfg, '{}');
	v_clock	text;
	v_n	integer;
	v_all	integer := 0;
	v_full	boolean := false;
	v_out	jsonb := '{}';
	v_errs	jsonb := '{}';
	v_state	text;
BEGIN
	FOREACH v_clock IN ARRAY ARRAY['offer_expiries', 'offer_reminders',
	    'referral_escalations', 'tasks', 'consents', 'transfers',
	    'court_dates', 'agreements'] LOOP
		BEGIN
			EXECUTE format('SELECT worker.%I($1, $2, $3, $4)',
			    'clock_' || v_clock) INTO v_n
			    USING v_now, v_cfg, p_by, p_limit;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE;
			v_errs := v_errs || jsonb_build_object(v_clock, v_state);
			v_n := 0;
		END;
		v_out := v_out || jsonb_build_object(v_clock, v_n);
		v_all := v_all + v_n;
		v_full := v_full OR v_n >= p_limit;
	END LOOP;
	RETURN jsonb_build_object('fired', v_all, 'clocks', v_out, 'errors',
	    v_errs, 'more', v_full);
END $$;
