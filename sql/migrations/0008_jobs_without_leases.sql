-- 0008 jobs without leases. A job is claimed with FOR UPDATE SKIP LOCKED
-- inside the transaction that applies its effects and records its new
-- state, so a claim never outlives that transaction: no job is ever
-- 'running' between transactions, and the lease columns were never set.
DROP INDEX jobs_running_idx;
UPDATE jobs SET state = 'pending' WHERE state = 'running';
ALTER TABLE jobs DROP COLUMN claimed_by, DROP COLUMN claimed_until;
ALTER TABLE jobs DROP CONSTRAINT jobs_state_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_state_check
    CHECK (state IN ('pending', 'done', 'dead'));
