-- Login uniqueness across the federation is claimed at a majority of airlines before an account
-- exists; a claim is permanent once its account is created.
CREATE TABLE login_claims (
    login       TEXT PRIMARY KEY,
    user_id     UUID NOT NULL,
    claimed_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Writes other airlines must see, written in the same transaction as the local change and
-- delivered by a worker, one row per peer, until that peer acknowledges.
CREATE TABLE outbox (
    id               BIGSERIAL PRIMARY KEY,
    peer             TEXT NOT NULL,
    kind             TEXT NOT NULL,
    payload          JSONB NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error       TEXT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX outbox_due ON outbox (next_attempt_at);
