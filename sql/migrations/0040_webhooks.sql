-- 0040 outbound webhooks. An organization registers targets (webhooks)
-- for notification types; lib.notify queues one delivery per subscribed
-- webhook of the notified organization in the notification's own
-- transaction; the worker claims due deliveries, posts them signed
-- (Standard Webhooks) and records each attempt. Secrets are sealed with
-- the data key (lib.seal); during a rotation the previous secret stays
-- valid until previous_secret_until. The API and the worker reach these
-- tables only through SECURITY DEFINER functions.

CREATE TABLE webhooks (
	id			uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	organization_id		uuid NOT NULL REFERENCES organizations (id),
	url			text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
	events			text[] NOT NULL CHECK (cardinality(events) >= 1),
	secret			bytea NOT NULL,		/* sealed */
	previous_secret		bytea,			/* sealed, while rotating */
	previous_secret_until	timestamptz,
	created_by		text,
	created_at		timestamptz NOT NULL DEFAULT now(),
	rotated_at		timestamptz
);
CREATE INDEX webhooks_org_idx ON webhooks (organization_id);

-- One event for one webhook. webhook-id of every attempt is its id.
-- Retried until delivered or, once window_start is 24 h old, dead.
CREATE TABLE webhook_deliveries (
	id			uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	webhook_id		uuid NOT NULL REFERENCES webhooks (id)
				    ON DELETE CASCADE,
	notification_id		bigint REFERENCES notifications (id),
	event_type		text NOT NULL,
	payload			jsonb NOT NULL,		/* ids, types, statuses */
	state			text NOT NULL DEFAULT 'pending'
				    CHECK (state IN ('pending', 'delivered', 'dead')),
	attempts		integer NOT NULL DEFAULT 0,
	next_attempt_at		timestamptz NOT NULL DEFAULT now(),
	claimed_until		timestamptz,	/* an attempt is under way */
	window_start		timestamptz NOT NULL DEFAULT now(),
	last_status		integer,
	last_error		text,
	last_latency_ms		integer,
	last_attempt_at		timestamptz,
	created_at		timestamptz NOT NULL DEFAULT now(),
	delivered_at		timestamptz,
	dead_at			timestamptz
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries
    (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_hook_idx ON webhook_deliveries
    (webhook_id, created_at DESC, id);

-- Every attempt's outcome (status 0: no HTTP answer; error says why).
CREATE TABLE webhook_attempts (
	delivery_id	uuid NOT NULL REFERENCES webhook_deliveries (id)
			    ON DELETE CASCADE,
	n		integer NOT NULL,
	at		timestamptz NOT NULL DEFAULT now(),
	status		integer,
	latency_ms	integer,
	error		text CHECK (length(error) <= 300),
	PRIMARY KEY (delivery_id, n)
);
