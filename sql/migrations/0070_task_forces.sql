-- 0070 task forces: a deployment hosts one or more task forces (a state
-- one, local ones). A task force has member organizations (a discipline,
-- duties, a membership status with its dates, named contacts, and a
-- coordinator flag: coordinator tokens of the lead organization or of a
-- coordinating member are the task force's coordinators), agreements
-- that govern what personal data may flow to a member (MOUs and
-- data-sharing agreements), meetings with agenda and action items, and
-- training records. Referrals belong to a task force: matching offers
-- only to its active members unless the referral is widened to others.
--
-- Existing data keeps working: one default task force holds every
-- current organization as an active (coordinating) member, each with a
-- default data-sharing agreement allowing every category, and it
-- enrols organizations created later the same way (enrol_new_orgs; a
-- coordinator may turn that off). Existing referrals belong to it.

CREATE TABLE task_forces (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 300),
	description	text NOT NULL DEFAULT ''
			    CHECK (length(description) <= 5000),
	jurisdictions	text[] NOT NULL DEFAULT '{}',
	lead_org	uuid REFERENCES organizations (id),
	is_default	boolean NOT NULL DEFAULT false,
	enrol_new_orgs	boolean NOT NULL DEFAULT false,
	status		text NOT NULL DEFAULT 'active'
			    CHECK (status IN ('active', 'closed')),
	version		integer NOT NULL DEFAULT 1,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX task_forces_default_idx ON task_forces (is_default)
    WHERE is_default;
CREATE INDEX task_forces_lead_idx ON task_forces (lead_org);

CREATE TABLE task_force_members (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	task_force_id	uuid NOT NULL REFERENCES task_forces (id),
	org_id		uuid NOT NULL REFERENCES organizations (id),
	discipline	text NOT NULL CHECK (discipline IN ('law_enforcement',
			    'prosecution', 'victim_services', 'health', 'legal',
			    'ngo', 'labor', 'child_welfare', 'other')),
	duties		text NOT NULL DEFAULT '' CHECK (length(duties) <= 5000),
	duty_tags	text[] NOT NULL DEFAULT '{}',
	status		text NOT NULL DEFAULT 'invited' CHECK (status IN
			    ('invited', 'active', 'suspended', 'left')),
	coordinator	boolean NOT NULL DEFAULT false,
	contacts	jsonb NOT NULL DEFAULT '[]',	/* [{name, role, email, phone}] */
	invited_at	timestamptz NOT NULL DEFAULT now(),
	joined_at	timestamptz,
	suspended_at	timestamptz,
	left_at		timestamptz,
	version		integer NOT NULL DEFAULT 1,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	UNIQUE (task_force_id, org_id)
);
CREATE INDEX task_force_members_org_idx ON task_force_members (org_id,
    task_force_id) WHERE status = 'active';

/* Agreements between the task force and a member, or two members. */
CREATE TABLE agreements (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	task_force_id	uuid NOT NULL REFERENCES task_forces (id),
	kind		text NOT NULL CHECK (kind IN ('mou', 'data_sharing')),
	title		text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
	org_a		uuid NOT NULL REFERENCES organizations (id),
	org_b		uuid REFERENCES organizations (id),
	effective_on	date NOT NULL,
	expires_on	date,		/* last day it applies; NULL: open-ended */
	document_ref	text CHECK (length(document_ref) BETWEEN 1 AND 500),
	status		text NOT NULL DEFAULT 'draft' CHECK (status IN
			    ('draft', 'active', 'suspended', 'terminated')),
	categories	text[] NOT NULL DEFAULT '{}' CHECK (categories <@
			    ARRAY['identity', 'contact', 'location',
			    'case_details', 'needs']),
	version		integer NOT NULL DEFAULT 1,
	created_by	text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	CHECK (org_b IS NULL OR org_b <> org_a),
	CHECK (expires_on IS NULL OR expires_on >= effective_on)
);
CREATE INDEX agreements_org_a_idx ON agreements (org_a) WHERE status = 'active';
CREATE INDEX agreements_org_b_idx ON agreements (org_b) WHERE status = 'active';
CREATE INDEX agreements_tf_idx ON agreements (task_force_id, created_at);
CREATE INDEX agreements_expiry_idx ON agreements (expires_on)
    WHERE status = 'active';

CREATE TABLE meetings (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	task_force_id	uuid NOT NULL REFERENCES task_forces (id),
	kind		text NOT NULL CHECK (kind IN ('case_review',
			    'operational', 'training')),
	title		text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
	held_at		timestamptz NOT NULL,
	attendee_orgs	uuid[] NOT NULL DEFAULT '{}',
	agenda		jsonb NOT NULL DEFAULT '[]',	/* [{title, notes, case_id}] */
	version		integer NOT NULL DEFAULT 1,
	created_by	text NOT NULL,
	created_by_org	uuid,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX meetings_tf_idx ON meetings (task_force_id, held_at DESC, id);

/* An action item of a meeting is a task; it may also concern a case. */
ALTER TABLE tasks ADD COLUMN meeting_id uuid REFERENCES meetings (id);
ALTER TABLE tasks DROP CONSTRAINT tasks_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_parent_check CHECK (
    num_nonnulls(case_id, investigation_id) = 1 OR
    (meeting_id IS NOT NULL AND investigation_id IS NULL));
CREATE INDEX tasks_meeting_idx ON tasks (meeting_id) WHERE meeting_id IS NOT NULL;

CREATE TABLE trainings (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	task_force_id	uuid NOT NULL REFERENCES task_forces (id),
	org_id		uuid NOT NULL REFERENCES organizations (id),
	staff_count	integer NOT NULL CHECK (staff_count BETWEEN 1 AND 100000),
	topic		text NOT NULL CHECK (length(topic) BETWEEN 1 AND 300),
	held_on		date NOT NULL,
	hours		numeric(6, 2) NOT NULL CHECK (hours > 0 AND hours <= 1000),
	created_by	text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX trainings_tf_idx ON trainings (task_force_id, held_on DESC, id);

ALTER TABLE referrals
	ADD COLUMN task_force_id uuid REFERENCES task_forces (id),
	ADD COLUMN widened_to uuid[] NOT NULL DEFAULT '{}';

/* The discipline an organization kind starts with. */
CREATE FUNCTION store.kind_discipline(p_kind text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE p_kind WHEN 'law_enforcement' THEN 'law_enforcement'
	    WHEN 'prosecution' THEN 'prosecution'
	    WHEN 'victim_services' THEN 'victim_services'
	    WHEN 'health' THEN 'health' WHEN 'legal_aid' THEN 'legal'
	    WHEN 'ngo' THEN 'ngo' WHEN 'faith_based' THEN 'ngo'
	    ELSE 'other' END
$$;

/*
 * A new organization (task_force_member, the default) joins every
 * active task force that enrols new organizations as an active,
 * coordinating member with a default agreement allowing every category:
 * the behaviour of a deployment from before task forces.
 */
CREATE FUNCTION store.org_enrol() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF NOT NEW.task_force_member THEN
		RETURN NEW;
	END IF;
	INSERT INTO task_force_members (task_force_id, org_id, discipline,
	    status, coordinator, joined_at)
	SELECT t.id, NEW.id, store.kind_discipline(NEW.kind), 'active', true,
	    now() FROM task_forces t
	WHERE t.enrol_new_orgs AND t.status = 'active'
	ON CONFLICT DO NOTHING;
	INSERT INTO agreements (task_force_id, kind, title, org_a,
	    effective_on, status, categories, created_by)
	SELECT t.id, 'data_sharing', 'Default data-sharing agreement', NEW.id,
	    DATE '2000-01-01', 'active', ARRAY['case_details', 'contact',
	    'identity', 'location', 'needs'], 'system'
	FROM task_forces t WHERE t.enrol_new_orgs AND t.status = 'active';
	RETURN NEW;
END $$;

CREATE TRIGGER organizations_enrol AFTER INSERT ON organizations
    FOR EACH ROW EXECUTE FUNCTION store.org_enrol();
REVOKE EXECUTE ON FUNCTION store.kind_discipline(text), store.org_enrol()
    FROM PUBLIC;

-- The default task force and what exists today.
INSERT INTO task_forces (name, description, is_default, enrol_new_orgs)
VALUES ('Task force', 'The deployment''s task force.', true, true);

INSERT INTO task_force_members (task_force_id, org_id, discipline, status,
    coordinator, joined_at)
SELECT t.id, o.id, store.kind_discipline(o.kind), 'active', true, now()
FROM task_forces t, organizations o WHERE t.is_default;

INSERT INTO agreements (task_force_id, kind, title, org_a, effective_on,
    status, categories, created_by)
SELECT t.id, 'data_sharing', 'Default data-sharing agreement', o.id,
    DATE '2000-01-01', 'active', ARRAY['case_details', 'contact', 'identity',
    'location', 'needs'], 'system'
FROM task_forces t, organizations o WHERE t.is_default;

UPDATE referrals SET task_force_id = (SELECT id FROM task_forces
    WHERE is_default);
