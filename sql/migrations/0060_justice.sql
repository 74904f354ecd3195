-- 0060 the criminal-justice side as practitioners work it:
--  * investigation_needs: the criminal-justice needs of an investigation
--    as tracked items with a status and its history (investigations.needs
--    stays, rewritten from these rows, for the documents and reports);
--  * investigation_need_referrals: a need referred to an organization
--    whose services cover it, answered by that organization;
--  * cases.kind: a person record is a victim's case or a witness's
--    record (a person who is not a victim), with the same sealed
--    personal categories, consents and audit;
--  * investigation_cases.consent_id may be NULL: a witness record opened
--    on the investigation by the agency that collected it needs no
--    consent to be linked;
--  * investigation_agencies.status 'ended': an agency that ended its
--    participation sees nothing of the investigation any more.

CREATE TABLE investigation_needs (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	investigation_id uuid NOT NULL REFERENCES investigations (id),
	code		text NOT NULL REFERENCES need_taxonomy (code),
	status		text NOT NULL CHECK (status IN ('identified',
			    'referred', 'in_progress', 'met',
			    'declined_by_client', 'unmet')),
	version		integer NOT NULL DEFAULT 1,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	UNIQUE (investigation_id, code)
);

CREATE TABLE investigation_need_history (
	id		bigserial PRIMARY KEY,
	need_id		uuid NOT NULL REFERENCES investigation_needs (id)
			    ON DELETE CASCADE,
	status		text NOT NULL,
	changed_by_sub	text NOT NULL,
	changed_by_org	uuid,
	changed_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX investigation_need_history_need_idx
    ON investigation_need_history (need_id, id);

CREATE TABLE investigation_need_referrals (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	need_id		uuid NOT NULL REFERENCES investigation_needs (id),
	investigation_id uuid NOT NULL REFERENCES investigations (id),
	organization_id	uuid NOT NULL REFERENCES organizations (id),
	service_id	uuid REFERENCES services (id),
	status		text NOT NULL DEFAULT 'offered' CHECK (status IN
			    ('offered', 'accepted', 'declined', 'withdrawn')),
	referred_by	text NOT NULL,
	referred_by_org	uuid NOT NULL REFERENCES organizations (id),
	responded_by	text,
	responded_at	timestamptz,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX investigation_need_referrals_need_idx
    ON investigation_need_referrals (need_id);
CREATE INDEX investigation_need_referrals_org_idx
    ON investigation_need_referrals (organization_id, created_at);
-- One open referral of a need to an organization at a time.
CREATE UNIQUE INDEX investigation_need_referrals_open_idx
    ON investigation_need_referrals (need_id, organization_id)
    WHERE status IN ('offered', 'accepted');

-- The needs recorded so far as {code, status} become tracked items.
INSERT INTO investigation_needs (investigation_id, code, status, created_at,
    updated_at)
SELECT i.id, x->>'code', x->>'status', i.updated_at, i.updated_at
FROM investigations i CROSS JOIN LATERAL jsonb_array_elements(i.needs) x
WHERE EXISTS (SELECT 1 FROM need_taxonomy t WHERE t.code = x->>'code')
ON CONFLICT DO NOTHING;
INSERT INTO investigation_need_history (need_id, status, changed_by_sub,
    changed_at)
SELECT n.id, n.status, i.created_by, n.created_at
FROM investigation_needs n JOIN investigations i ON i.id = n.investigation_id;

ALTER TABLE cases ADD COLUMN kind text NOT NULL DEFAULT 'victim'
    CHECK (kind IN ('victim', 'witness'));

ALTER TABLE investigation_cases ALTER COLUMN consent_id DROP NOT NULL;

ALTER TABLE investigation_agencies DROP CONSTRAINT
    investigation_agencies_status_check;
ALTER TABLE investigation_agencies ADD CONSTRAINT
    investigation_agencies_status_check CHECK (status IN ('pending',
    'active', 'declined', 'ended'));
