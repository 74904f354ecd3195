-- 0012 deadlines and notifications. Notifications get a recipient
-- (an organization, optionally one user of it, or every holder of a role
-- such as coordinator), a type, a fixed title, the object they link to
-- and a read state per reading organization. Clocks (offer reminders and
-- expiries, escalations, task and investigation dates, expiring consents,
-- pending transfers) fire each step once: the worker claims a step by
-- inserting its key into deadline_fired in the transaction that makes
-- its effects. The worker's deadline settings (CONCORD_* variables) are
-- kept in deadline_settings so offers made by the API use them too.
-- Indexes serve the changes feeds (?updated_since=) and GET /v1/tasks.

ALTER TABLE notifications
	ADD COLUMN user_sub	text CHECK (length(user_sub) BETWEEN 1 AND 200),
	ADD COLUMN object_type	text,
	ADD COLUMN object_id	uuid,
	ADD COLUMN title	text,
	ADD COLUMN link		text;
UPDATE notifications SET kind = 'referral.expired'
    WHERE kind = 'referral.offer_expired';
UPDATE notifications SET object_type = 'referral',
    object_id = (payload->>'referral_id')::uuid,
    link = '/v1/referrals/' || (payload->>'referral_id'),
    title = CASE kind WHEN 'referral.offered' THEN 'New referral offer'
	WHEN 'referral.accepted' THEN 'Referral accepted'
	WHEN 'referral.unmatched' THEN 'Referral need unmatched'
	ELSE 'Referral offer expired' END
    WHERE payload ? 'referral_id';
UPDATE notifications SET title = kind WHERE title IS NULL;
ALTER TABLE notifications ALTER COLUMN title SET NOT NULL;
ALTER TABLE notifications ADD CHECK (num_nonnulls(organization_id,
    audience_role) >= 1);
CREATE INDEX notifications_org_idx ON notifications (organization_id, id)
    WHERE organization_id IS NOT NULL;
CREATE INDEX notifications_role_idx ON notifications (audience_role, id)
    WHERE audience_role IS NOT NULL;

-- Read state: one row per notification and reading organization (a
-- coordinator notification is read separately by each coordinating
-- organization).
CREATE TABLE notification_reads (
	organization_id	uuid NOT NULL REFERENCES organizations (id),
	notification_id	bigint NOT NULL REFERENCES notifications (id),
	read_at		timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (organization_id, notification_id)
);

-- One row per clock step that fired (or was superseded by a later step
-- of the same clock that came due in the same sweep): the key makes it
-- once, whatever the number of workers or restarts.
CREATE TABLE deadline_fired (
	clock_key	text PRIMARY KEY CHECK (length(clock_key) <= 300),
	clock		text NOT NULL,		/* offer, referral, task, ... */
	step		text NOT NULL,		/* reminder, expire, 7d, ... */
	object_id	uuid NOT NULL,
	due_at		timestamptz NOT NULL,
	fired_at	timestamptz NOT NULL DEFAULT now(),
	superseded	boolean NOT NULL DEFAULT false,
	fired_by	text
);
CREATE INDEX deadline_fired_object_idx ON deadline_fired (object_id);

CREATE TABLE deadline_settings (
	one		boolean PRIMARY KEY DEFAULT true CHECK (one),
	config		jsonb NOT NULL,
	updated_at	timestamptz NOT NULL DEFAULT now()
);

-- The clocks' scans and the changes feeds.
CREATE INDEX referral_offers_open_idx ON referral_offers (expires_at)
    WHERE status = 'offered';
CREATE INDEX referrals_open_idx ON referrals (created_at)
    WHERE status NOT IN ('completed', 'cancelled');
CREATE INDEX referrals_updated_idx ON referrals (updated_at, id);
CREATE INDEX cases_updated_id_idx ON cases (updated_at, id);
CREATE INDEX tasks_updated_idx ON tasks (updated_at, id);
CREATE INDEX tasks_assigned_due_idx ON tasks (assigned_org, due_at, id);
CREATE INDEX consents_expiry_idx ON consents (expires_at)
    WHERE revoked_at IS NULL;
CREATE INDEX case_transfers_pending_at_idx ON case_transfers (requested_at)
    WHERE status = 'pending';
