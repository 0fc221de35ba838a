ALTER TABLE login_claims DROP COLUMN claimed_by;
