-- 0020 reports: aggregate reports for funders and coordinators. A row is
-- one requested report: what was asked (kind, period, grouping, filters),
-- where the worker is (queued -> running with a progress percent -> done
-- | failed with a reason) and, once done, the published table, already
-- suppressed (small cells and their complements hidden by the worker).
-- Raw counts are never stored. The report.build job builds it.

CREATE TABLE reports (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	seq		bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
	kind		text NOT NULL CHECK (kind IN ('clients', 'needs',
			    'referrals', 'criminal_justice', 'partners',
			    'coverage')),
	period_from	date NOT NULL,
	period_to	date NOT NULL,
	period_label	text NOT NULL,
	group_by	text,
	filters		jsonb NOT NULL DEFAULT '{}',
	include_clients	boolean NOT NULL DEFAULT false,
	/* false: a coverage report without client counts, for every role */
	client_data	boolean NOT NULL,
	status		text NOT NULL DEFAULT 'queued' CHECK (status IN
			    ('queued', 'running', 'done', 'failed')),
	progress	integer NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0
			    AND 100),
	reason		text,
	result		jsonb,
	requested_by	text NOT NULL,
	requested_by_org uuid REFERENCES organizations (id),
	created_at	timestamptz NOT NULL DEFAULT now(),
	started_at	timestamptz,
	finished_at	timestamptz,
	CHECK (period_from <= period_to),
	CHECK ((status = 'failed') = (reason IS NOT NULL)),
	CHECK ((status = 'done') = (result IS NOT NULL))
);
/* GET /v1/reports pages newest first; the public list by kind. */
CREATE INDEX reports_public_idx ON reports (seq) WHERE NOT client_data;
