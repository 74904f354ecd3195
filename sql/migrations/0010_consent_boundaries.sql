-- 0010 consent boundaries: the columns behind the rule that an
-- organization sees a personal category only under a current consent
-- recorded for it by the organization holding the case with the victim.
--  * cases.lead_by_transfer: the lead received the case by an accepted
--    transfer, so it sees personal categories only under consents (the
--    lead that collected the data sees all of it);
--  * case_transfers.consent: the consent the proposing lead records for
--    the receiving organization when the transfer is accepted;
--  * consents.referral_id: the referral whose acceptance recorded the
--    consent; cancelling the referral revokes it;
--  * investigation_agencies.status: an agency listed by another is
--    pending until it accepts (or declines);
--  * idempotency_keys.body keeps only the created referral's id: a
--    replay reads the referral again, so no personal data is copied.

ALTER TABLE cases ADD COLUMN lead_by_transfer boolean NOT NULL DEFAULT false;
UPDATE cases c SET lead_by_transfer = true WHERE EXISTS (SELECT 1
    FROM case_transfers t WHERE t.case_id = c.id AND t.status = 'accepted'
    AND t.to_org = c.lead_org);

ALTER TABLE case_transfers ADD COLUMN consent jsonb;

ALTER TABLE consents ADD COLUMN referral_id uuid REFERENCES referrals (id);
CREATE INDEX consents_referral_idx ON consents (referral_id)
    WHERE referral_id IS NOT NULL;

ALTER TABLE investigation_agencies ADD COLUMN status text NOT NULL
    DEFAULT 'active' CHECK (status IN ('pending', 'active', 'declined'));

UPDATE idempotency_keys SET body = jsonb_build_object('id', body->'id')
    WHERE body <> jsonb_build_object('id', body->'id');
COMMENT ON COLUMN idempotency_keys.body IS 'What a replay needs: {"id": '
    'the referral created}. Never the response itself (personal data).';
