-- Which airline made each login claim: only that airline may release it (an airline can no
-- longer drop another's claim). Claims made before this column existed name no one, and so
-- can be released by no one; their accounts arrive through replication all the same.
ALTER TABLE login_claims ADD COLUMN claimed_by TEXT;
