-- tasks.sql: GET /v1/tasks (api.task_list), the caller's organization's
-- tasks across cases and investigations, and the changes feeds
-- (?updated_since=) of referrals, cases and tasks: what changed since a
-- time, oldest change first, paged by a cursor on (updated_at, id).
-- A feed reader polls again with the updated_at of the last item it saw
-- (inclusive, so it may see that item twice); a change committed late
-- by a long transaction carries its start time, so readers poll with a
-- few seconds of overlap.

/*
 * GET /v1/tasks: tasks assigned to the caller's organization, by due time
 * (or by change with updated_since). Filters: status (one or more),
 * due_before, overdue=true|false, updated_since. Case readers with an
 * organization; audits each task listed.
 */
CREATE FUNCTION api.task_list(p_ctx jsonb, p_args jsonb, p_body jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org_present(p_ctx);
	v_n	integer;
	v_st	text[];
	v_due	timestamptz;
	v_od	text;
	v_since	timestamptz;
	v_cur	jsonb;
	v_ct	timestamptz;
	v_cid	uuid;
	v_items	jsonb := '[]';
	v_last	tasks;
	v_i	integer := 0;
	t	tasks;
BEGIN
	PERFORM lib.query_allow(p_args, ARRAY['limit', 'cursor', 'status',
	    'due_before', 'overdue', 'updated_since']);
	v_n := lib.page_limit(p_args);
	v_st := lib.query_list(p_args, 'status');
	IF v_st IS NOT NULL AND NOT v_st <@ ARRAY['open', 'in_progress', 'done',
	    'cancelled'] THEN
		PERFORM lib.bad_query('status', 'must list open, in_progress, '
		    'done, cancelled');
	END IF;
	v_due := lib.query_ts(p_args, 'due_before');
	v_od := lib.query_enum(p_args, 'overdue', ARRAY['true', 'false']);
	v_since := lib.query_ts(p_args, 'updated_since');
	v_cur := lib.cursor_decode(p_args, CASE WHEN v_since IS NULL THEN
	    'tasks' ELSE 'task-changes' END, '{at:ts?,id:uuid}');
	v_ct := lib.try_ts(v_cur->>'at');
	v_cid := CASE WHEN lib.is_uuid(v_cur->'id') THEN (v_cur->>'id')::uuid
	    END;
	IF v_cur IS NOT NULL AND (v_ct IS NULL OR v_cid IS NULL) THEN
		PERFORM lib.bad_query('cursor', 'is not a cursor this list '
		    'issued');
	END IF;
	/* tasks_assigned_due_idx; the feed reads tasks_updated_idx. */
	FOR t IN SELECT * FROM tasks x
	    WHERE x.assigned_org = v_org
	    AND (v_st IS NULL OR x.status = ANY (v_st))
	    AND (v_due IS NULL OR x.due_at < v_due)
	    AND (v_od IS NULL OR (x.status IN ('open', 'in_progress') AND
		x.due_at < now()) = (v_od = 'true'))
	    AND (v_since IS NULL OR x.updated_at >= v_since)
	    AND (v_ct IS NULL OR CASE WHEN v_since IS NULL THEN
		(x.due_at, x.id) > (v_ct, v_cid) ELSE
		(x.updated_at, x.id) > (v_ct, v_cid) END)
	    ORDER BY CASE WHEN v_since IS NULL THEN x.due_at ELSE
		x.updated_at END, x.id
	    LIMIT v_n + 1 LOOP
		v_i := v_i + 1;
		EXIT WHEN v_i > v_n;
		v_items := v_items || casework.task_doc(t);
		v_last := t;
		PERFORM lib.audit(p_ctx, 'list', 'task', t.id, ARRAY['title',
		    'status', 'due_at']);
	END LOOP;
	status := 200;
	body := jsonb_build_object('items', v_items, 'next_cursor',
	    CASE WHEN v_i > v_n THEN lib.cursor_encode(CASE WHEN v_since IS
	    NULL THEN 'tasks' ELSE 'task-changes' END, jsonb_build_object(
	    'at', CASE WHEN v_since IS NULL THEN v_last.due_at ELSE
	    v_last.updated_at END, 'id', v_last.id)) END);
	headers := '{}';
END $$;

/*
 * GET /v1/referrals?updated_since=: the referrals the caller may list
 * (as referral_list decides) that changed at or after updated_since,
 * oldest change first. Other filters: status, limit, cursor.
 */
CREATE FUNCTION referral.changes(p_ctx jsonb, p_args jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	v_all	boolean := lib.is_coord(p_ctx);
	v_n	integer;
	v_st	text;
	v_since	timestamptz;
	v_cur	jsonb;
	v_ct	timestamptz;
	v_cid	uuid;
	v_items	jsonb := '[]';
	v_last	referrals;
	v_i	integer := 0;
	r	referrals;
BEGIN
	PERFORM lib.query_allow(p_args, ARRAY['limit', 'cursor', 'status',
	    'updated_since']);
	v_n := lib.page_limit(p_args);
	v_st := lib.query_enum(p_args, 'status', ARRAY['received', 'matching',
	    'offered', 'in_progress', 'completed', 'cancelled', 'unmatched']);
	v_since := lib.query_ts(p_args, 'updated_since');
	v_cur := lib.cursor_decode(p_args, 'referral-changes', '{at:ts,id:uuid}');
	v_ct := lib.try_ts(v_cur->>'at');
	v_cid := CASE WHEN lib.is_uuid(v_cur->'id') THEN (v_cur->>'id')::uuid
	    END;
	IF v_cur IS NOT NULL AND (v_ct IS NULL OR v_cid IS NULL) THEN
		PERFORM lib.bad_query('cursor', 'is not a cursor this list '
		    'issued');
	END IF;
	/* referrals_updated_idx */
	FOR r IN SELECT * FROM referrals x
	    WHERE x.updated_at >= v_since
	    AND ((v_all AND referral.coordinates(p_ctx, x)) OR
		x.sender_org = v_org OR (NOT lib.has_role(p_ctx,
		'hotline') AND NOT lib.has_role(p_ctx, 'analyst') AND EXISTS (
		SELECT 1 FROM referral_offers o WHERE o.referral_id = x.id AND
		o.organization_id = v_org)))
	    AND (v_st IS NULL OR x.status = v_st)
	    AND (v_ct IS NULL OR (x.updated_at, x.id) > (v_ct, v_cid))
	    ORDER BY x.updated_at, x.id LIMIT v_n + 1 LOOP
		v_i := v_i + 1;
		EXIT WHEN v_i > v_n;
		v_items := v_items || referral.doc(p_ctx, r);
		v_last := r;
	END LOOP;
	status := 200;
	body := jsonb_build_object('items', v_items, 'next_cursor',
	    CASE WHEN v_i > v_n THEN lib.cursor_encode('referral-changes',
	    jsonb_build_object('at', v_last.updated_at, 'id', v_last.id))
	    END);
	headers := '{}';
END $$;

/*
 * GET /v1/cases?updated_since=: the cases the caller may see that
 * changed at or after updated_since, oldest change first, each as
 * case_list shows it (and audited the same way). Other filters: status,
 * lead_org_id, limit, cursor.
 */
CREATE FUNCTION casework.case_changes(p_ctx jsonb, p_args jsonb,
    OUT status integer, OUT body jsonb, OUT headers jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	v_org	uuid := lib.require_org(p_ctx);
	v_coord	boolean := lib.is_coord(p_ctx);
	v_corgs	uuid[] := casework.coord_orgs(p_ctx);
	v_n	integer;
	v_st	text;
	v_lead	uuid;
	v_since	timestamptz;
	v_cur	jsonb;
	v_ct	timestamptz;
	v_cid	uuid;
	v_items	jsonb := '[]';
	v_last	cases;
	v_i	integer := 0;
	v_cats	text[];
	c	cases;
BEGIN
	PERFORM lib.query_allow(p_args, ARRAY['status', 'lead_org_id',
	    'updated_since', 'limit', 'cursor']);
	v_n := lib.page_limit(p_args);
	v_st := lib.query_enum(p_args, 'status', ARRAY['open', 'closed']);
	v_lead := lib.query_uuid(p_args, 'lead_org_id');
	v_since := lib.query_ts(p_args, 'updated_since');
	v_cur := lib.cursor_decode(p_args, 'case-changes', '{at:ts,id:uuid}');
	v_ct := lib.try_ts(v_cur->>'at');
	v_cid := CASE WHEN lib.is_uuid(v_cur->'id') THEN (v_cur->>'id')::uuid
	    END;
	IF v_cur IS NOT NULL AND (v_ct IS NULL OR v_cid IS NULL) THEN
		PERFORM lib.bad_query('cursor', 'is not a cursor this list '
		    'issued');
	END IF;
	/* cases_updated_id_idx */
	FOR c IN SELECT * FROM cases x
	    WHERE x.updated_at >= v_since
	    AND (v_st IS NULL OR x.status = v_st)
	    AND (v_lead IS NULL OR x.lead_org = v_lead)
	    AND ((v_coord AND casework.case_coord(p_ctx, x.id, v_corgs)) OR
		x.id IN (SELECT v.case_id FROM casework.case_visible_orgs v
		WHERE v.org_id = v_org))
	    AND (v_ct IS NULL OR (x.updated_at, x.id) > (v_ct, v_cid))
	    ORDER BY x.updated_at, x.id LIMIT v_n + 1 LOOP
		v_i := v_i + 1;
		EXIT WHEN v_i > v_n;
		v_last := c;
		v_cats := casework.case_categories(p_ctx, c.id, c.lead_org,
		    v_org);
		v_items := v_items || casework.case_doc(c, v_cats, true);
		PERFORM lib.audit(p_ctx, 'list', 'case', c.id, array_remove(
		    array_remove(array_remove(v_cats, 'identity'), 'contact'),
		    'location'));
	END LOOP;
	status := 200;
	body := jsonb_build_object('items', v_items, 'next_cursor',
	    CASE WHEN v_i > v_n THEN lib.cursor_encode('case-changes',
	    jsonb_build_object('at', v_last.updated_at, 'id', v_last.id))
	    END);
	headers := '{}';
END $$;
