-- 0050 referrals steered by people, as practitioners work:
--  * directed referrals: the sender names services in order
--    (directed_service_ids) and whether automatic matching takes over
--    when all of them decline (directed_fallback);
--  * offers say how they came about (via: matching, directed or a
--    coordinator by hand); an organization may be offered a referral
--    again after its earlier offer ended, so only one OPEN offer per
--    service and referral is unique;
--  * decline reasons and completion outcomes as codes (decline_code,
--    outcome with outcome_note); the old outcomes become their codes;
--  * verbal consent for referrals that carry no personal data
--    (consent_written false, no form reference);
--  * language access: services may offer interpretation, and each
--    ranked candidate records how the client is understood there.

ALTER TABLE referrals
	ADD COLUMN directed_service_ids uuid[] NOT NULL DEFAULT '{}',
	ADD COLUMN directed_fallback boolean NOT NULL DEFAULT true,
	ADD COLUMN consent_written boolean NOT NULL DEFAULT true,
	ALTER COLUMN consent_form_reference DROP NOT NULL,
	ADD CONSTRAINT referrals_written_form_check CHECK (NOT consent_written
	    OR consent_form_reference IS NOT NULL);

ALTER TABLE referral_offers
	ADD COLUMN via text NOT NULL DEFAULT 'matching' CHECK (via IN
	    ('matching', 'directed', 'coordinator')),
	ADD COLUMN decline_code text CHECK (decline_code IN ('no_capacity',
	    'not_eligible', 'cannot_reach_client', 'client_declined',
	    'outside_area', 'language', 'other'));
DROP INDEX referral_offers_once;
/* A service holds at most one open offer of a referral: no duplicates. */
CREATE UNIQUE INDEX referral_offers_open_once ON referral_offers
    (referral_id, service_id) WHERE status = 'offered';
CREATE INDEX referral_offers_referral_idx ON referral_offers (referral_id,
    service_id);

ALTER TABLE referral_needs DROP CONSTRAINT referral_needs_outcome_check;
UPDATE referral_needs SET outcome = CASE outcome WHEN 'need_met' THEN
    'completed' WHEN 'need_not_met' THEN 'not_completed' ELSE outcome END
    WHERE outcome IN ('need_met', 'need_not_met');
ALTER TABLE referral_needs
	ADD CONSTRAINT referral_needs_outcome_check CHECK (outcome IN
	    ('completed', 'partially_completed', 'not_completed',
	    'client_declined', 'unable_to_contact', 'no_longer_needed',
	    'referred_elsewhere', 'other')),
	ADD COLUMN outcome_note text CHECK (length(outcome_note) <= 1000);
/* Waiting needs by kind, for re-matching when capacity frees up. */
CREATE INDEX referral_needs_waiting_idx ON referral_needs (need_code)
    WHERE status = 'unmatched';

ALTER TABLE referral_candidates
	ADD COLUMN language_access text CHECK (language_access IN ('native',
	    'interpreter', 'referral_interpretation', 'none'));

ALTER TABLE services
	ADD COLUMN interpretation boolean NOT NULL DEFAULT false;
