-- 0021 report indexes: the report kinds (sql/code/reports.sql) prune by
-- their period. Partners and referrals read the offers made in it, the
-- criminal-justice report the investigations opened in it.
CREATE INDEX referral_offers_created_idx ON referral_offers (created_at);
CREATE INDEX investigations_created_idx ON investigations (created_at);
