DROP TABLE outbox;
DROP TABLE login_claims;
